"""Loading a sweep folder: the records that belong to its sweep, and nothing else.

:func:`load_sweep` reads ``manifest.json`` and ``records/`` and returns the records that belong
(:func:`l2lab.engine.folder.record_problem`: parsed, planned, of this spec, configuration and
model). It only reads: a read-only folder loads. A record that does not belong is left out with
a one-line note naming it and why (``run_sweep`` moves it into ``quarantine/``).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional

from l2lab.engine import folder
from l2lab.engine.records import RECORD_FORMAT, Record, parse_record
from l2lab.engine.spec import SweepSpec, spec_id_of_json
from l2lab.engine.train import TrainConfig

__all__ = ["load_sweep", "planned_configs"]


def planned_configs(manifest: Dict[str, Any]) -> Dict[str, TrainConfig]:
    """``{id: TrainConfig}`` of every configuration a manifest plans (its ``configs`` with the
    spec's settings)."""
    spec = {**SweepSpec().to_json(), **folder.decode_nonfinite(manifest["spec"])}
    fixed = {k: spec[k] for k in ("batch_size", "momentum", "schedule", "loss", "points_per_octave",
                                  "eval_batch_size", "augment", "lam_schedule", "autol2_every", "optimizer")}
    return {c["id"]: TrainConfig(eta=c["eta"], lam=c["lam"], steps=c["steps"], seed=c["seed"], **fixed)
            for c in manifest["configs"]}


def load_sweep(directory: Any, *, manifest: Optional[Dict[str, Any]] = None,
               quarantine: bool = False) -> List[Record]:
    """The finished records of the sweep folder ``directory`` that belong to its sweep, sorted
    by (group, id). ValueError naming ``directory`` if it holds no sweep (no manifest) or an
    unreadable one. ``manifest``: the folder's manifest already read; ``quarantine``: move the
    records that do not belong into ``quarantine/`` (run_sweep, under the folder's lock) instead
    of leaving them out with a note (the default: reading needs no write access)."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path, got {type(directory).__name__}")
    directory = os.fspath(directory)
    if manifest is None:
        try:
            manifest = folder.read_manifest(directory)
        except ValueError as e:
            raise ValueError(f"directory: {e}") from None
        if manifest is None:
            raise ValueError(f"directory {directory!r} holds no sweep (no {folder.MANIFEST})")
    planned = planned_configs(manifest)
    spec_json = {**SweepSpec().to_json(), **folder.decode_nonfinite(manifest["spec"])}
    sid = spec_id_of_json(spec_json)
    rec_dir = os.path.join(directory, folder.RECORDS)
    out = []
    for name in folder.listdir(rec_dir):
        if name.startswith(".") or not name.endswith(".json"):
            continue
        path = os.path.join(rec_dir, name)
        try:
            with open(path) as f:
                raw = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            why = f"it does not read ({type(e).__name__}: {e})"
        else:
            why = folder.record_problem(raw, name, planned, spec_json, sid, RECORD_FORMAT)
            if why is None:
                out.append(parse_record(raw))
                continue
        if quarantine:
            folder.quarantine(directory, path, why)
        else:
            print(f"load_sweep: left out {folder.RECORDS}/{name}: {why}", file=sys.stderr, flush=True)
    out.sort(key=lambda r: (r.group, r.id))
    return out
