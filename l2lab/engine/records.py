"""Sweep records on disk: formats, atomic writes, provenance, loading and truncation.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``).
A record (format :data:`RECORD_FORMAT`, plain JSON, NaN written as ``null``) holds one
configuration's curves and results with the provenance of the run (see :mod:`l2lab.engine.runner`);
:func:`load_sweep` reads a folder's records, :func:`truncate` cuts a record to a shorter budget.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import subprocess
import tempfile
from typing import Any, Dict, NamedTuple

import jax
import numpy as np

from l2lab import _checks
from l2lab import measure as _measure
from l2lab.engine.core import TrainResult, lam_change_steps
from l2lab.engine.folder import TMP_PREFIX, TMP_SUFFIX, content_hash
from l2lab.engine.settings import parse_lam_schedule
from l2lab.engine.train import TrainConfig

__all__ = ["Record", "RECORD_FORMAT", "MANIFEST_FORMAT", "CURVES", "atomic_write_bytes", "nan_to_none",
           "write_json", "npz_bytes", "provenance", "record_dict", "parse_record", "truncate"]

RECORD_FORMAT = "l2lab.sweep.record/1"
MANIFEST_FORMAT = "l2lab.sweep.manifest/1"
CURVES = ("train_loss", "train_error", "test_accuracy", "test_loss", "param_norm")


class Record(NamedTuple):
    """One configuration's results as loaded by :func:`load_sweep`.

    id: str; group: int; config: TrainConfig; arch, dataset: str; model_kwargs: dict;
    result: TrainResult (curves as float64 numpy arrays, NaN restored); t_star: float (steps to
    within 0.5% of the peak test accuracy, NaN if none); peak_accuracy: float;
    provenance: dict; raw: the JSON dict as stored.
    """

    id: str
    group: int
    config: TrainConfig
    arch: str
    dataset: str
    model_kwargs: Dict[str, Any]
    result: TrainResult
    t_star: float
    peak_accuracy: float
    provenance: Dict[str, Any]
    raw: Dict[str, Any]



def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file of the engine's own name pattern
    (``.l2lab-<name>.<random>.tmp``, :func:`l2lab.engine.folder.is_temporary_file`) in the same
    folder, synced, then renamed over ``path``; its mode follows the umask (as ``open`` would)."""
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f"{TMP_PREFIX}{os.path.basename(path)}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def nan_to_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (list, tuple)):
        return [nan_to_none(v) for v in x]
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    return x


def write_json(path: str, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(nan_to_none(obj), indent=1, allow_nan=False).encode())


def provenance() -> Dict[str, Any]:
    import l2lab

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
        except Exception:  # no git: provenance stays partial
            return ""

    dev = jax.devices()[0]
    # a copy without .git (an accelerator's working tree) names its commit in L2LAB_GIT_COMMIT
    commit = git("rev-parse", "HEAD") or os.environ.get("L2LAB_GIT_COMMIT") or None
    return {"l2lab_version": l2lab.__version__, "git_commit": commit,
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "jax_version": jax.__version__, "device_kind": dev.device_kind, "platform": dev.platform,
            "num_devices": jax.device_count(), "num_processes": jax.process_count(),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def npz_bytes(**arrays) -> bytes:
    """The bytes of ``np.savez(**arrays)`` (for :func:`atomic_write_bytes`)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def record_dict(spec, sweep_id, engine, g, cid, c, k, group_size, out, prov) -> Dict[str, Any]:
    """The record dict of configuration ``c`` (index ``k`` of its group ``g``; ``out``: the
    group's :class:`l2lab.engine.runner.GroupOutput`), bound to its sweep (``sweep``: the spec id
    ``sweep_id``) and its configuration (``config_hash``, :func:`l2lab.engine.folder.content_hash`)."""
    m = int(np.searchsorted(out.grid, c.steps))      # first grid point >= T_c
    steps = np.concatenate([out.grid[:m], [c.steps]])
    curves = {name: out.rows[: m + 1, q, k].tolist() for q, name in enumerate(CURVES)}
    curves["kernel_norms"] = {p: out.kns[: m + 1, q, k].tolist() for q, p in enumerate(out.kpaths)}
    acc = out.rows[: m + 1, 2, k]
    diverged = bool(out.diverged[k]) or not np.all(np.isfinite(out.rows[: m + 1, :, k]))
    changes = lam_change_steps(engine.lam_kind, engine.lam_until, int(out.step[k]),
                                       None if out.log is None else out.log[k])
    return {"format": RECORD_FORMAT, "id": cid, "sweep": sweep_id, "config_hash": content_hash(c._asdict()),
            "group": g, "config": c._asdict(),
            "arch": spec.arch, "model_kwargs": spec.to_json()["model_kwargs"], "dataset": spec.dataset,
            "curves": dict(steps=steps.tolist(), **curves, lam=out.lams[: m + 1, k].tolist()),
            "lam_changes": changes.tolist(),
            "t_star": _measure.steps_to_peak(steps, acc, spec.t_star_tol),
            "t_star_tol": spec.t_star_tol, "peak_accuracy": _measure.peak_accuracy(acc),
            "diverged": diverged, "diverged_at": int(out.step[k]) if bool(out.diverged[k]) else -1,
            "wall_time": out.wall, "group_size": group_size, "provenance": prov}


def parse_record(raw: Dict[str, Any]) -> Record:
    """The :class:`Record` of a record's JSON dict (NaN restored; fields added to the format
    later at their old meaning: a constant lam, no kernel norms)."""
    nan = lambda v: float("nan") if v is None else float(v)
    cur = raw["curves"]
    cfg = TrainConfig(**raw["config"])
    arrays = [np.asarray([nan(v) for v in cur[k]], np.float64) for k in CURVES]
    if "lam" in cur:
        lam = np.asarray([nan(v) for v in cur["lam"]], np.float64)
    else:       # written before lam curves: constant lam, NaN where the run had diverged
        lam = np.where(np.isnan(arrays[0]), np.nan, float(np.float32(cfg.lam)))
    kn = cur.get("kernel_norms")        # None: written before kernel norms were recorded
    if kn is not None:
        kn = {p: np.asarray([nan(v) for v in kn[p]], np.float64) for p in sorted(kn)}
    res = TrainResult(np.asarray(cur["steps"], np.int64), *arrays, diverged=bool(raw["diverged"]),
                      diverged_at=int(raw["diverged_at"]), wall_time=float(raw["wall_time"]),
                      lam=lam, lam_changes=np.asarray(raw.get("lam_changes", []), np.int64),
                      kernel_norms=kn)
    return Record(raw["id"], int(raw["group"]), cfg, raw["arch"], raw["dataset"], raw["model_kwargs"], res,
                  nan(raw["t_star"]), nan(raw["peak_accuracy"]), raw["provenance"], raw)


def truncate(record: Record, steps: int) -> Record:
    """``record`` as if its budget had been ``steps`` (a fixed-budget run, for free).

    With a constant learning rate a run is prefix-stable: its first ``steps`` updates do not
    depend on its budget, and the measurement grid is prefix-stable too. So the fixed-budget
    comparison of Figure 2b/2c can be read off the longer runs: the curves are cut after the last
    measurement at or before ``steps`` and ``t_star``/``peak_accuracy`` are recomputed (same
    tolerance). A ``"paper"`` learning-rate schedule depends on the budget: run that sweep instead.
    The lam schedules are prefix-stable too (``"early:E"`` down to ``steps = E``): the lam curve
    is cut and ``lam_changes`` keeps the changes before ``steps``; the kernel norms are cut too.
    """
    if not isinstance(record, Record):
        raise TypeError(f"record must be a sweep Record, got {type(record).__name__}")
    steps = _checks.positive_int("steps", steps)
    if record.config.schedule != "constant":
        raise ValueError(f"cannot truncate a run with schedule {record.config.schedule!r}: its learning rate "
                         "depends on the budget; run the fixed-budget sweep instead")
    if steps > record.config.steps:
        raise ValueError(f"steps must be <= the record's budget {record.config.steps}, got {steps}")
    kind, until = parse_lam_schedule(record.config.lam_schedule)
    if kind == "early" and steps < until:
        raise ValueError(f"cannot truncate a run with lam_schedule {record.config.lam_schedule!r} to "
                         f"steps={steps} < E: that budget has no such schedule")
    res = record.result
    m = int(np.searchsorted(res.steps, steps, side="right"))
    diverged = 0 <= res.diverged_at < steps
    lam_part = {}
    if res.lam is not None:
        lam_part["lam"] = res.lam[:m]
    if res.lam_changes is not None:
        lam_part["lam_changes"] = res.lam_changes[res.lam_changes < steps]
    if res.kernel_norms is not None:
        lam_part["kernel_norms"] = {p: v[:m] for p, v in res.kernel_norms.items()}
    new = res._replace(**{k: getattr(res, k)[:m] for k in ("steps",) + CURVES}, **lam_part,
                       diverged=bool(diverged or not np.all(np.isfinite(res.test_accuracy[:m]))),
                       diverged_at=res.diverged_at if diverged else -1)
    tol = float(record.raw.get("t_star_tol", 0.005)) if isinstance(record.raw, dict) else 0.005
    return record._replace(config=record.config._replace(steps=int(steps)), result=new,
                           t_star=_measure.steps_to_peak(new.steps, new.test_accuracy, tol),
                           peak_accuracy=_measure.peak_accuracy(new.test_accuracy))

