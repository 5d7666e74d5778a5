"""The applications' runs committed to ``data/``, read back as the functions of
:mod:`l2lab.applications.tuning` return them (so a chapter compares them as it compares its own).

A folder written by ``tools/accelerator_runs.py`` (``data/sweeps/h200/fc-apps``) holds, per
learning rate, a c measurement (``c-eta<eta>-s0.json``), a constant-lam sweep for the longest
budget (``tune-*``, truncated here to each budget), the runs at ``f c / T`` (``pred-*``), and the
AutoL2 runs (``autol2-*``). Every sweep folder is loaded with :func:`l2lab.engine.load_sweep`
(records bound to their sweep).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from l2lab import _checks
from l2lab.engine import load_sweep, truncate
from l2lab.engine.records import Record

__all__ = ["CommittedC", "load_c", "load_tuning", "load_predicted", "load_autol2"]


class CommittedC(NamedTuple):
    """A committed c measurement: c = t* lam, c_prime = t* eta lam, t_star, peak_accuracy, eta,
    lam, steps_run (the measurement's cost), certain, provenance."""

    c: float
    c_prime: float
    t_star: float
    peak_accuracy: float
    eta: float
    lam: float
    steps_run: int
    certain: bool
    provenance: Dict[str, Any]


def _folder(folder) -> Path:
    path = _checks.path("folder", folder)
    if not path.is_dir():
        raise _checks.bad_value("folder", f"{str(path)!r} is not a folder")
    return path


def load_c(folder, eta: float) -> CommittedC:
    """The c measurement at learning rate ``eta`` in ``folder`` (``c-eta<eta>-s0.json``)."""
    eta = _checks.positive_float("eta", eta)
    path = _folder(folder) / f"c-eta{eta:g}-s0.json"
    if not path.exists():
        raise _checks.bad_value("eta", f"no c measurement at eta {eta:g} in {str(path.parent)!r}")
    j = json.loads(path.read_text())
    return CommittedC(float(j["c"]), float(j["c_prime"]), float(j["t_star"]), float(j["peak_accuracy"]),
                      float(j["eta"]), float(j["lam"]), int(j["steps_run"]), bool(j["certain"]), j["provenance"])


def _sweeps(folder: Path, prefix: str) -> List[List[Record]]:
    return [load_sweep(d) for d in sorted(folder.glob(f"{prefix}-*")) if (d / "manifest.json").exists()]


def load_tuning(folder, eta: float, budgets: Sequence[int], seed: int = 0) -> Dict[int, List[Record]]:
    """``{T: records}``: the constant-lam runs at ``eta`` and ``seed``, each cut at every budget
    ``T`` (:func:`l2lab.engine.truncate`, exact at a constant learning rate), as
    :func:`l2lab.applications.tuning.tuning_sweep` returns them."""
    eta = _checks.positive_float("eta", eta)
    seed = _checks.nonneg_int("seed", seed)
    budgets = sorted(_checks.positive_int("budgets", b) for b in budgets)
    runs = [r for recs in _sweeps(_folder(folder), "tune") for r in recs
            if np.isclose(r.config.eta, eta) and r.config.seed == seed]
    if not runs:
        raise _checks.bad_value("eta", f"no constant-lam runs at eta {eta:g}, seed {seed} in {str(folder)!r}")
    if max(budgets) > min(r.config.steps for r in runs):
        raise _checks.bad_value("budgets", f"the runs are {min(r.config.steps for r in runs)} steps long; "
                                           f"got a budget of {max(budgets)}")
    return {t: [truncate(r, t) for r in sorted(runs, key=lambda r: r.config.lam)] for t in budgets}


def load_predicted(folder, eta: float) -> Dict[Tuple[int, float], Record]:
    """``{(T, f): record}`` of the runs at ``lam = f c / T`` at ``eta`` (``f`` = 1 and 2, the
    smaller lam of each budget's pair being ``c/T``), as
    :func:`l2lab.applications.tuning.predicted_runs` returns them."""
    eta = _checks.positive_float("eta", eta)
    out = {}
    for recs in _sweeps(_folder(folder), "pred"):
        recs = [r for r in recs if np.isclose(r.config.eta, eta)]
        if len(recs) == 2:
            lo, hi = sorted(recs, key=lambda r: r.config.lam)
            out[(lo.config.steps, 1.0)], out[(hi.config.steps, 2.0)] = lo, hi
    if not out:
        raise _checks.bad_value("eta", f"no runs at lam_pred at eta {eta:g} in {str(folder)!r}")
    return dict(sorted(out.items()))


def load_autol2(folder, eta: float, seed: int) -> Tuple[List[Record], List[Record]]:
    """``(constant, autol2)``: the constant-lam runs and the AutoL2 runs at ``eta`` and ``seed``
    (full length, the AutoL2 budget), for :func:`l2lab.applications.tuning.compare_autol2`."""
    eta = _checks.positive_float("eta", eta)
    seed = _checks.nonneg_int("seed", seed)
    folder = _folder(folder)
    pick = lambda recs: [r for r in recs if np.isclose(r.config.eta, eta) and r.config.seed == seed]
    auto = [r for recs in _sweeps(folder, "autol2") for r in pick(recs)]
    const = [r for recs in _sweeps(folder, "tune") for r in pick(recs)]
    if not auto or not const:
        raise _checks.bad_value("seed", f"no AutoL2 and constant-lam runs at eta {eta:g}, seed {seed} in "
                                        f"{str(folder)!r}")
    steps = auto[0].config.steps
    return [truncate(r, steps) for r in sorted(const, key=lambda r: r.config.lam)], auto
