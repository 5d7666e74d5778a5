"""The sweep results committed under data/sweeps/ are valid records with their provenance.

Every folder there was written by ``python -m l2lab.sweep`` (see data/README.md). A sweep still
in progress holds only its finished configurations; each of those must be complete.
"""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from l2lab import measure, sweep

DATA = Path(__file__).resolve().parents[2] / "data" / "sweeps"


def _committed_manifests():
    """Manifests git tracks (a sweep running in this checkout, not yet committed, is not
    checked); every manifest when this is not a git checkout."""
    found = sorted(DATA.rglob("manifest.json")) if DATA.is_dir() else []
    try:
        out = subprocess.run(["git", "ls-files", "--full-name", "-z", str(DATA)], capture_output=True,
                             cwd=DATA.parent.parent, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return found
    tracked = {DATA.parent.parent / f for f in out.split("\0") if f}
    return [m for m in found if m in tracked]


SWEEPS = sorted(m.parent for m in _committed_manifests())
PROVENANCE = ("l2lab_version", "git_commit", "git_dirty", "jax_version", "device_kind",
              "platform", "num_devices", "date_utc")


def test_data_stays_small():
    root = DATA.parent
    total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()
                and "checkpoints" not in f.parts)
    assert total < 20e6, f"data/ holds {total / 1e6:.1f} MB (limit 20 MB)"


@pytest.mark.parametrize("folder", SWEEPS or [None], ids=lambda p: p.name if p else "none")
def test_committed_records_are_valid(folder):
    if folder is None:
        pytest.skip("no committed sweeps under data/sweeps")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == sweep.MANIFEST_FORMAT
    planned = {c["id"]: c for c in manifest["configs"]}
    records = sweep.load_sweep(folder)
    assert records, f"{folder} has a manifest but no finished record"
    for r in records:
        where = f"{folder.name}/{r.id}"
        assert r.id in planned, f"{where}: not in the manifest"
        assert r.config.steps == planned[r.id]["steps"], where
        assert all(r.provenance.get(k) is not None for k in PROVENANCE), \
            f"{where}: provenance incomplete: {r.provenance}"
        steps = r.result.steps
        assert steps[0] == 0 and steps[-1] <= r.config.steps and np.all(np.diff(steps) > 0), where
        for name in ("train_loss", "train_error", "test_accuracy", "test_loss", "param_norm"):
            assert len(getattr(r.result, name)) == len(steps), f"{where}: {name} length"
        tol = float(r.raw["t_star_tol"])
        if r.result.diverged:
            assert 0 <= r.result.diverged_at <= r.config.steps, where
            continue
        # t* and the peak are what l2lab.measure finds on the stored curve (within the budget)
        want = measure.steps_to_peak(steps, r.result.test_accuracy, tol)
        assert r.t_star == want, f"{where}: t* {r.t_star} but the curve gives {want}"
        assert 0 <= r.t_star <= r.config.steps, f"{where}: t* outside the budget"
        assert math.isclose(r.peak_accuracy, np.nanmax(r.result.test_accuracy)), where
