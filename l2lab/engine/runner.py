"""eta x lam (x seed) sweeps as one compiled program per budget group, resumable, on any devices.

How a sweep runs
----------------
1. :func:`expand` turns a :class:`SweepSpec` into one :class:`l2lab.train.TrainConfig` per
   ``(seed, eta, lam)`` with its step budget: ``"steps:N"``, ``"epochs:E"``, ``"etalam:c"``
   (``t = ceil(c / (eta lam))`` SGD steps; the paper's ``t eta lam = 2`` for FC, ``0.1`` for WRN)
   or ``"etalam-epochs:c"`` (``c / (eta lam)`` epochs, SM A's unit). Configurations whose budget
   exceeds ``max_steps`` (e.g. ``lam = 0`` with an ``etalam`` budget) are left out and listed in
   the manifest.
2. Configurations are grouped by budget: budgets in the same power-of-``bucket`` bin form one
   group (``bucket=1``: equal budgets only), at most ``max_group_size`` per group, shortest
   first. Each group trains as ONE program: the configuration axis is sharded over all devices
   (``shard_map`` over a 1-D ``Mesh``; the group is padded to a multiple of the device count)
   and each device runs :meth:`l2lab.train.Engine.run` on its share, ``vmap``-ed or, for conv
   nets on CPU, ``lax.map``-ed (see ``config_batching`` in :func:`run_sweep`). A configuration stops
   updating at its own budget (masked), so a group costs at most ``bucket`` x its useful work.
   All configurations with the same seed start from the same weights (SM A).
3. Results go to ``out_dir``::

       manifest.json           the spec, every configuration (id, eta, lam, seed, steps, group),
                               the dropped ones, format version, provenance
       records/<id>.json       one per finished configuration (format below)
       checkpoints/g<k>.npz    in-flight state of group k (deleted when the group finishes)

   Every file is written atomically (temporary file + ``os.replace``). A killed sweep
   (even ``kill -9``) restarted with the same spec skips finished groups, continues a group from
   its last checkpoint, and ends with exactly the records of an uninterrupted run.

Record format (``"format": "l2lab.sweep.record/1"``, plain JSON, NaN written as ``null``)::

    {"id", "group", "config": {TrainConfig fields}, "arch", "model_kwargs", "dataset",
     "curves": {"steps", "train_loss", "train_error", "test_accuracy", "test_loss",
                "param_norm", "lam",                # lists of equal length, steps from 0 to T
                "kernel_norms": {path: list}},      # ||w||_2 of each Dense/Conv kernel, same length
     "lam_changes",                                 # update counts after which lam changed
     "t_star", "t_star_tol", "peak_accuracy", "diverged", "diverged_at",
     "wall_time" (seconds of the whole group), "group_size",
     "provenance": {"l2lab_version", "git_commit", "git_dirty", "jax_version", "device_kind",
                    "platform", "num_devices", "date_utc"}}

``lam`` (the lam of the update that produced each point, :class:`l2lab.train.TrainResult`)
and ``lam_changes`` came with the lam schedules (``SweepSpec.lam_schedule``: ``"constant"``,
``"early:E"``, ``"autol2"``); records written before them load with the constant lam they ran
at and no change. The config dict gains ``lam_schedule`` and ``autol2_every`` likewise, and
``optimizer`` (``SweepSpec.optimizer``: ``"sgd"``, ``"adam"``, ``"adamw"``; older records ran SGD).
``curves["kernel_norms"]`` (``{"Dense_0/kernel": [...], ...}``, :func:`l2lab.train.kernel_norms`)
came later still; records written before it load with ``TrainResult.kernel_norms = None``.

CLI: ``python -m l2lab.sweep --arch fc --scale tiny --out data/sweeps/fc-tiny`` (see ``--help``).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from l2lab import _checks
from l2lab.engine import lock as _lock
from l2lab import measure as _measure
from l2lab import models as _models
from l2lab import train as _train

__all__ = ["SweepSpec", "Record", "SCALES", "CONFIG_BATCHINGS", "resolve_config_batching", "expand",
           "parse_budget", "group_configs", "config_id", "spec_id", "truncate",
           "run_sweep", "load_sweep", "load_data", "preset", "main"]

RECORD_FORMAT = "l2lab.sweep.record/1"
_LATER_FIELDS = {"lam_schedule": "constant", "autol2_every": 5,   # SweepSpec fields added later
                 "optimizer": "sgd"}
MANIFEST_FORMAT = "l2lab.sweep.manifest/1"
_CURVES = ("train_loss", "train_error", "test_accuracy", "test_loss", "param_norm")


class SweepSpec(NamedTuple):
    """Everything that defines a sweep (and hence its results).

    arch: ``"fc" | "cnn" | "cnn_bn" | "wrn"``; model_kwargs: dict for :func:`l2lab.models.make_model`.
    dataset: name for :func:`l2lab.data.paper_split`; n_train, n_test: its sizes (n_test None: all).
    etas, lams, seeds: the grid. budget: ``"steps:N" | "epochs:E" | "etalam:c" | "etalam-epochs:c"``.
    batch_size, momentum, schedule, loss, points_per_octave, eval_batch_size: as in TrainConfig.
    max_steps: budgets above it are dropped. bucket: budget-grouping factor (>= 1).
    max_group_size: most configurations trained together. t_star_tol: absolute accuracy
    tolerance of the recorded t* (the paper's 0.5% = 0.005; recompute any other from the curves).
    augment: SM A's flip/crop/mixup on training minibatches (images only).
    lam_schedule, autol2_every: as in TrainConfig (for ``"autol2"`` the ``lams`` are the
    starting lams; an ``"early:E"`` above a configuration's budget is an error).
    optimizer: ``"sgd"``, ``"adam"`` or ``"adamw"``, as in TrainConfig (one per sweep: its single
    Engine trains every group with it).
    """

    arch: str = "fc"
    model_kwargs: Dict[str, Any] = {}
    dataset: str = "mnist5k"
    n_train: int = 512
    n_test: Optional[int] = None
    etas: Tuple[float, ...] = (0.1,)
    lams: Tuple[float, ...] = (0.01,)
    seeds: Tuple[int, ...] = (0,)
    budget: str = "etalam:2"
    batch_size: int = 512
    momentum: float = 0.0
    schedule: str = "constant"
    loss: str = "xent"
    points_per_octave: int = 8
    eval_batch_size: Optional[int] = None
    max_steps: int = 2 ** 20
    bucket: float = 2.0
    max_group_size: int = 64
    t_star_tol: float = 0.005
    augment: bool = False
    image_size: int = 32
    lam_schedule: str = "constant"
    autol2_every: int = 5
    optimizer: str = "sgd"

    def to_json(self) -> Dict[str, Any]:
        d = self._asdict()
        for k in ("etas", "lams", "seeds"):
            d[k] = list(d[k])
        d["model_kwargs"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d["model_kwargs"].items()}
        return d


class Record(NamedTuple):
    """One configuration's results as loaded by :func:`load_sweep`.

    id: str; group: int; config: TrainConfig; arch, dataset: str; model_kwargs: dict;
    result: TrainResult (curves as float64 numpy arrays, NaN restored); t_star: float (steps to
    within 0.5% of the peak test accuracy, NaN if none); peak_accuracy: float;
    provenance: dict; raw: the JSON dict as stored.
    """

    id: str
    group: int
    config: _train.TrainConfig
    arch: str
    dataset: str
    model_kwargs: Dict[str, Any]
    result: _train.TrainResult
    t_star: float
    peak_accuracy: float
    provenance: Dict[str, Any]
    raw: Dict[str, Any]


# ----------------------------------------------------------------------------- presets

def preset(arch: str, scale: str) -> SweepSpec:
    """Default spec for ``scale`` in ``("tiny", "paper")``.

    tiny (FC): width-256 3-hidden-layer ReLU net on 512 MNIST samples (full batch, the other
    4488 of MNIST-5k as test set), eta in {1, 2} x lam over two decades (3e-4 .. 3e-2), budgets
    ``t eta lam = 2`` up to 4000 steps (which leaves out eta 1, lam 3e-4), t* within 0.1% of the
    peak; about 1.5 minutes on 2 CPU cores.
    paper: the SM A setups (FC width 2048, Fig. 2a grids; WRN-28-10 Fig. 2d grids; CNN Fig. 3).
    """
    _checks.one_of("scale", scale, SCALES)
    _checks.one_of("arch", arch, ARCHS)
    if arch == "fc" and scale == "tiny":
        # Measured on 2 CPU cores: ~2 min. At width 256 the L2-driven gain in test accuracy after
        # the training set is fitted is only ~0.5%, the size of the paper's t* tolerance, so t* is
        # recorded within 0.1% of the peak (the summary also prints the paper's 0.5% version).
        # max_steps: the 6667-step run (eta 1, lam 3e-4) took 46% of the sweep's steps (build time);
        # eta 2 still has lam 3e-4, eta lam spans 6e-4 .. 6e-2.
        return SweepSpec(arch="fc", model_kwargs={"widths": (256, 256, 256)}, dataset="mnist5k",
                         n_train=512, n_test=None, etas=(1.0, 2.0),
                         lams=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2), seeds=(0,),
                         budget="etalam:2", batch_size=512, points_per_octave=16, bucket=2.0,
                         t_star_tol=0.001, max_steps=4000)
    if arch == "fc":
        return SweepSpec(arch="fc", model_kwargs={"widths": (2048, 2048, 2048)}, dataset="mnist5k",
                         n_train=512, etas=(0.0025, 0.01, 0.02, 0.025, 0.03, 0.05, 0.08, 0.15, 0.3, 0.5,
                                            1.0, 1.5, 2.0, 5.0, 10.0, 25.0, 50.0),
                         lams=(1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
                               20.0, 50.0, 100.0),
                         budget="etalam:2", batch_size=512, points_per_octave=8, max_steps=2 ** 20)
    if arch == "wrn":
        if scale == "tiny":
            # CPU-sized: WRN-10-1 on 256 MNIST digits average-pooled to 8x8, full batch, plain
            # SGD; t eta lam = 4 (t* eta lam is 1-3 here). max_steps drops (eta 2, lam 1e-3), a
            # 2000-step run that took 55% of the sweep's steps (the book's build time): five runs,
            # eta lam 6e-3 .. 8e-2, two learning rates at lam 3e-3 and 1e-2.
            return SweepSpec(arch="wrn", model_kwargs={"depth": 10, "width": 1}, dataset="mnist5k",
                             n_train=256, n_test=512, etas=(2.0, 8.0), lams=(1e-3, 3e-3, 1e-2),
                             budget="etalam:4", batch_size=256, points_per_octave=8, image_size=8,
                             max_steps=1000)
        return SweepSpec(arch="wrn", model_kwargs={"depth": 28, "width": 10}, dataset="cifar10",
                         n_train=50000, etas=(0.0125, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
                         lams=(1.5625e-5, 6.25e-5, 1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 0.016),
                         budget="etalam-epochs:0.1", batch_size=1024, eval_batch_size=1000,
                         max_steps=4000 * 49, max_group_size=8)
    bn = arch == "cnn_bn"
    if scale == "tiny":
        # CPU-sized: 8 channels on 256 MNIST digits average-pooled to 16x16, full batch; the
        # loss of SM A is 1/(2K) of the usual cross-entropy, hence the larger eta than the paper's.
        # With BN, eta = 1 and t eta lam = 2 put every t* inside its budget (measured t* eta lam
        # 1.41-1.44); without BN, lam >= 0.01 does not train and eta = 2, t eta lam = 1 is kept.
        if bn:
            return SweepSpec(arch=arch, model_kwargs={"channels": 8, "dense": 32, "pool_strides": (2, 2)},
                             dataset="mnist5k", n_train=256, n_test=512, etas=(1.0,),
                             lams=(0.001, 0.003, 0.01), budget="etalam:2", batch_size=256,
                             points_per_octave=8, image_size=16)
        return SweepSpec(arch=arch, model_kwargs={"channels": 8, "dense": 32, "pool_strides": (2, 2)},
                         dataset="mnist5k", n_train=256, n_test=512, etas=(2.0,),
                         lams=(0.001, 0.003, 0.01, 0.03), budget="etalam:1", batch_size=256,
                         points_per_octave=8, image_size=16)
    return SweepSpec(arch=arch, model_kwargs={"channels": 300, "dense": 500}, dataset="cifar10",
                     n_train=50000, etas=(0.01,), lams=(5e-5, 1e-4, 5e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
                     budget="etalam-epochs:0.01", batch_size=128, eval_batch_size=1000,
                     max_steps=2 ** 24, max_group_size=4 if not bn else 4)


SCALES = ("tiny", "paper")
ARCHS = ("fc", "cnn", "cnn_bn", "wrn")
BUDGET_KINDS = ("steps", "epochs", "etalam", "etalam-epochs")
IMAGE_SIZES = (8, 16, 32)


# ----------------------------------------------------------------------------- configs

def parse_budget(budget: str) -> Tuple[str, float]:
    """``"etalam:2"`` -> ``("etalam", 2.0)``; kinds: steps, epochs, etalam, etalam-epochs."""
    if not isinstance(budget, str) or ":" not in budget:
        raise _checks.bad_value("budget", f"must look like 'etalam:2' or 'steps:1000', got {budget!r}")
    kind, _, val = budget.partition(":")
    if kind not in BUDGET_KINDS:
        raise _checks.bad_value("budget", f"kind must be steps, epochs, etalam or etalam-epochs, got {kind!r}")
    try:
        v = float(val)
    except ValueError:
        raise _checks.bad_value("budget", f"value must be a number, got {val!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise _checks.bad_value("budget", f"value must be finite and > 0, got {v}")
    return kind, v


def spec_id(spec: SweepSpec) -> str:
    """Short content hash of ``spec`` (12 hex digits), e.g. for a cache folder name that changes
    whenever the spec does (:func:`run_sweep` refuses a folder holding a different sweep)."""
    import hashlib

    _validate_spec(spec)
    d = spec.to_json()
    for k, v in _LATER_FIELDS.items():      # at their defaults: the ids of older specs stay
        if d[k] == v:
            del d[k]
    text = json.dumps(_nan_to_none(d), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def config_id(cfg: _train.TrainConfig) -> str:
    """Stable file-name-safe id, e.g. ``"s0-eta0.1-lam0.001"``."""
    return f"s{cfg.seed}-eta{cfg.eta:.6g}-lam{cfg.lam:.6g}"


def _budget_steps(kind: str, v: float, eta: float, lam: float, steps_per_epoch: int) -> float:
    if kind == "steps":
        return math.ceil(v)
    if kind == "epochs":
        return math.ceil(v * steps_per_epoch)
    if eta * lam == 0:
        return math.inf
    if kind == "etalam":
        return math.ceil(v / (eta * lam) - 1e-9)
    return math.ceil(v / (eta * lam) * steps_per_epoch - 1e-9)


def expand(spec: SweepSpec) -> Tuple[List[_train.TrainConfig], List[Dict[str, Any]]]:
    """All configurations of ``spec`` (seed-major, then eta, then lam) and the dropped ones."""
    _validate_spec(spec)
    kind, v = parse_budget(spec.budget)
    spe = max(1, spec.n_train // min(spec.batch_size, spec.n_train))
    keep, dropped = [], []
    for seed in spec.seeds:
        for eta in spec.etas:
            for lam in spec.lams:
                t = _budget_steps(kind, v, float(eta), float(lam), spe)
                if t > spec.max_steps:
                    dropped.append({"seed": int(seed), "eta": float(eta), "lam": float(lam),
                                    "steps": None if math.isinf(t) else int(t),
                                    "reason": f"budget above max_steps={spec.max_steps}"})
                    continue
                cfg = _train.TrainConfig(
                    eta=float(eta), lam=float(lam), steps=int(max(1, t)), batch_size=spec.batch_size,
                    momentum=float(spec.momentum), schedule=spec.schedule, loss=spec.loss, seed=int(seed),
                    points_per_octave=spec.points_per_octave, eval_batch_size=spec.eval_batch_size,
                    augment=bool(spec.augment), lam_schedule=spec.lam_schedule,
                    autol2_every=spec.autol2_every, optimizer=spec.optimizer)
                keep.append(cfg.validate())
    if not keep:
        raise ValueError("the sweep has no configuration within max_steps")
    return keep, dropped


def group_configs(configs: Sequence[_train.TrainConfig], bucket: float = 2.0,
                  max_group_size: int = 64) -> List[List[int]]:
    """Indices of ``configs`` grouped by budget bin ``ceil(log_bucket(steps))`` (``bucket == 1``:
    equal steps), shortest budgets first, each group at most ``max_group_size`` long."""
    bucket = _checks.real("bucket", bucket, minimum=1.0, allow_inf=True)
    max_group_size = _checks.positive_int("max_group_size", max_group_size)

    def key(c):
        if bucket == 1:
            return c.steps
        return math.ceil(math.log(c.steps) / math.log(bucket) - 1e-9)

    bins: Dict[Any, List[int]] = {}
    for i, c in enumerate(configs):
        bins.setdefault(key(c), []).append(i)
    groups = []
    for k in sorted(bins):
        idx = sorted(bins[k], key=lambda i: (configs[i].steps, i))
        groups += [idx[j:j + max_group_size] for j in range(0, len(idx), max_group_size)]
    return groups


# ----------------------------------------------------------------------------- files

def _atomic_write_bytes(path: str, data: bytes) -> None:
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _nan_to_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    return x


def _write_json(path: str, obj: Any) -> None:
    _atomic_write_bytes(path, json.dumps(_nan_to_none(obj), indent=1, allow_nan=False).encode())


def _provenance() -> Dict[str, Any]:
    import l2lab

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
            "num_devices": jax.device_count(),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


# ----------------------------------------------------------------------------- running

def load_data(spec: SweepSpec):
    """``(train, test)`` Datasets of ``spec`` as its sweep trains on them
    (``l2lab.data.paper_split``; conv nets: padded to 32x32, then average-pooled to
    ``spec.image_size``). x float32 (N, H, W, C) or (N, D), y int (N,)."""
    from l2lab import data as _data

    if not isinstance(spec, SweepSpec):
        raise _checks.bad_type("spec", f"must be a l2lab.sweep.SweepSpec, got {type(spec).__name__}")
    tr, te = _data.paper_split(spec.dataset, n_train=spec.n_train, n_test=spec.n_test, seed=0)
    if spec.arch in ("cnn", "cnn_bn", "wrn"):
        if tr.x.shape[1] != 32:
            tr, te = _data.pad_to(tr, 32), _data.pad_to(te, 32)
        if spec.image_size != 32:     # CPU-sized conv nets: average-pool 32x32 down
            f = 32 // spec.image_size
            tr, te = _data.downsample(tr, f), _data.downsample(te, f)
    return tr, te


def run_sweep(spec: SweepSpec, out_dir: str, *, train_ds: Any = None, test_ds: Any = None,
              devices: Optional[Sequence[Any]] = None, progress: bool = True,
              checkpoint_seconds: float = 60.0, config_batching: str = "auto") -> List[Record]:
    """Run (or resume) the sweep ``spec`` into ``out_dir``; return its records (id order).

    train_ds, test_ds: datasets to use instead of ``l2lab.data.paper_split(spec.dataset, ...)``
    (both or neither; they must then be the same on every resume). devices: the devices to shard
    over (default all). checkpoint_seconds: how often an in-flight group saves its state (0:
    after every measurement). config_batching: how one device trains its share of a group --
    ``"vmap"`` (batched: best for dense nets and on accelerators), ``"map"`` (``lax.map``, one
    configuration after another inside the same program: on XLA:CPU a vmapped convolution with
    per-configuration kernels becomes a grouped convolution without a fast kernel, 5x slower than
    looping) or ``"auto"`` (map for conv nets on CPU, vmap otherwise). Speed only: results agree to
    float32 rounding. Two processes given the same ``out_dir`` do not train it twice: the second
    waits (a lock on the folder, ``out_dir/.run_sweep.lock``) and then loads the records.
    """
    out_dir, devices = _check_run_args(spec, out_dir, train_ds, test_ds, devices, checkpoint_seconds,
                                       config_batching)
    if train_ds is None:
        train_ds, test_ds = load_data(spec)
    if spec.augment and np.ndim(train_ds.x) != 4:
        raise ValueError(f"augment=True needs image data (N, H, W, C), got x of shape {np.shape(train_ds.x)}")
    configs, dropped = expand(spec)
    groups = group_configs(configs, spec.bucket, spec.max_group_size)
    ids = [config_id(c) for c in configs]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate (seed, eta, lam) in the spec")
    manifest = _manifest(spec, train_ds, test_ds, configs, ids, dropped, groups)
    _check_manifest(out_dir, manifest)     # a different sweep there: fail before any model
    # then the model and engine: a bad model_kwargs (width 0) fails before the folder is written
    run = _GroupRunner(spec, train_ds, test_ds, devices, config_batching)
    os.makedirs(out_dir, exist_ok=True)
    wait = lambda: print(f"run_sweep: another process is running {out_dir}; waiting for it",
                         file=sys.stderr, flush=True)
    with _lock.folder_lock(out_dir, on_wait=wait if progress else None):
        _run_groups(spec, out_dir, manifest, run, configs, ids, groups, progress, checkpoint_seconds)
    return load_sweep(out_dir)


def _run_groups(spec, out_dir, manifest, run, configs, ids, groups, progress, checkpoint_seconds) -> None:
    """The part of :func:`run_sweep` that runs under the folder's lock: write the manifest if
    there is none yet, then train and record every group without all its records."""
    if not _check_manifest(out_dir, manifest):
        _write_json(os.path.join(out_dir, "manifest.json"), dict(manifest, provenance=_provenance()))
    rec_dir, ck_dir = os.path.join(out_dir, "records"), os.path.join(out_dir, "checkpoints")
    _remove_temporary_files((out_dir, rec_dir, ck_dir))
    todo = [g for g, idx in enumerate(groups)
            if not all(os.path.exists(os.path.join(rec_dir, ids[i] + ".json")) for i in idx)]
    done = len(configs) - sum(len(groups[g]) for g in todo)
    bar = _train._tqdm(total=sum(configs[i].steps for g in todo for i in groups[g]), disable=not progress,
                       unit="step", unit_scale=True, smoothing=0.05, desc=f"sweep {done}/{len(configs)} configs")
    prov = _provenance()
    for g in todo:
        cfgs = [configs[i] for i in groups[g]]
        out = run.train(cfgs, os.path.join(ck_dir, f"g{g}.npz"), checkpoint_seconds, bar)
        for k, i in enumerate(groups[g]):
            rec = _record(spec, run.engine, g, ids[i], configs[i], k, len(cfgs), out, prov)
            _write_json(os.path.join(rec_dir, ids[i] + ".json"), rec)
        if os.path.exists(os.path.join(ck_dir, f"g{g}.npz")):
            os.unlink(os.path.join(ck_dir, f"g{g}.npz"))
        done += len(cfgs)
        bar.set_description(f"sweep {done}/{len(configs)} configs")
    bar.close()


def _check_run_args(spec, out_dir, train_ds, test_ds, devices, checkpoint_seconds, config_batching):
    """The argument checks of :func:`run_sweep`; returns ``(out_dir as str, devices list)``."""
    _validate_spec(spec)
    resolve_config_batching(config_batching, spec.arch, "cpu")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path, got {type(out_dir).__name__}")
    if (train_ds is None) != (test_ds is None):
        raise ValueError("train_ds and test_ds must be given together")
    _checks.real("checkpoint_seconds", checkpoint_seconds, minimum=0.0, allow_inf=True)
    devices = list(devices) if devices is not None else jax.devices()
    if not devices:
        raise ValueError("devices must not be empty")
    return os.fspath(out_dir), devices


def _manifest(spec, train_ds, test_ds, configs, ids, dropped, groups) -> Dict[str, Any]:
    """The manifest dict of a sweep (without provenance)."""
    group_of = {i: g for g, idx in enumerate(groups) for i in idx}
    return {"format": MANIFEST_FORMAT, "spec": spec.to_json(),
            "data": {"train": getattr(train_ds, "name", None), "test": getattr(test_ds, "name", None),
                     "n_train": int(np.shape(train_ds.y)[0]), "n_test": int(np.shape(test_ds.y)[0])},
            "configs": [{"id": ids[i], "eta": c.eta, "lam": c.lam, "seed": c.seed, "steps": c.steps,
                         "group": group_of[i]} for i, c in enumerate(configs)],
            "dropped": dropped, "groups": groups}


def _check_manifest(out_dir: str, manifest: Dict[str, Any]) -> bool:
    """Whether ``out_dir/manifest.json`` exists; if it does, check that it describes the same
    sweep (ValueError naming ``out_dir`` otherwise)."""
    mpath = os.path.join(out_dir, "manifest.json")
    if not os.path.exists(mpath):
        return False
    with open(mpath) as f:
        old = json.load(f)
    # fields added to SweepSpec after a sweep was written count as their defaults
    old = dict(old, spec={**json.loads(json.dumps(SweepSpec().to_json())), **old.get("spec", {})})
    if {k: old.get(k) for k in ("spec", "data", "configs")} != json.loads(json.dumps(
            {k: manifest[k] for k in ("spec", "data", "configs")})):
        raise _checks.bad_value("out_dir", f"{out_dir!r} holds a different sweep (manifest differs); "
                                           "use another out_dir")
    return True


def _remove_temporary_files(dirs: Sequence[str]) -> None:
    """Delete the ``.*.tmp`` files a killed writer left in ``dirs``."""
    for d in dirs:
        if os.path.isdir(d):
            for name in os.listdir(d):
                if name.startswith(".") and name.endswith(".tmp"):
                    os.unlink(os.path.join(d, name))


class _GroupOutput(NamedTuple):
    """What training one group gives: ``grid`` (G,), ``rows`` (M, 5, C), ``lams`` (M, C),
    ``kns`` (M, K, C) with ``kpaths`` (K,), final ``diverged``/``step`` (C,), the AutoL2
    ``log`` (C, 64) or None, ``wall`` seconds."""

    grid: np.ndarray
    rows: np.ndarray
    lams: np.ndarray
    kns: np.ndarray
    kpaths: List[str]
    diverged: np.ndarray
    step: np.ndarray
    log: Optional[np.ndarray]
    wall: float


class _GroupRunner:
    """The compiled programs of a sweep: ``train(cfgs, ck_path, checkpoint_seconds, bar)`` trains
    one group of configurations (sharded over ``devices``), resuming from its checkpoint."""

    def __init__(self, spec, train_ds, test_ds, devices, config_batching):
        self.spec, self.devices = spec, devices
        self.model = _models.make_model(spec.arch, num_classes=int(train_ds.num_classes), **spec.model_kwargs)
        model = self.model
        self.engine = engine = _train.Engine(
            lambda p, x: model.apply({"params": p}, x), train_ds, test_ds, batch_size=spec.batch_size,
            loss=spec.loss, momentum=spec.momentum, schedule=spec.schedule, eval_batch_size=spec.eval_batch_size,
            augment=_train.augmentation() if spec.augment else None, lam_schedule=spec.lam_schedule,
            autol2_every=spec.autol2_every, optimizer=spec.optimizer)
        mesh = Mesh(np.asarray(devices), ("c",))
        self.shard, repl = NamedSharding(mesh, P("c")), NamedSharding(mesh, P())
        self.data = jax.device_put(engine.data, repl)
        if resolve_config_batching(config_batching, spec.arch, devices[0].platform) == "vmap":
            per_device = jax.vmap(engine.run_with_lam, in_axes=(0, None, None))
        else:   # one configuration after another inside the program (lax.map)
            per_device = lambda st, n, d: jax.lax.map(lambda s1: engine.run_with_lam(s1, n, d), st)
        self.run_v = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P("c"), P(), P()),
                                           out_specs=(P("c"), P("c"), P("c")), check_vma=False),
                             in_shardings=(self.shard, repl, repl), out_shardings=(self.shard,) * 3)
        self.init_v = jax.jit(jax.vmap(engine.init_state), out_shardings=self.shard)
        self.in_shape = (1,) + tuple(np.shape(train_ds.x)[1:])
        self._params: Dict[int, Any] = {}

    def init_params(self, seed: int):
        if seed not in self._params:
            self._params[seed] = jax.device_get(_models.init(self.model, _train.seed_keys(seed)[0], self.in_shape))
        return self._params[seed]

    def init_state(self, padded):
        params = jax.tree.map(lambda *a: np.stack(a), *[self.init_params(c.seed) for c in padded])
        state = self.init_v(jax.device_put(params, self.shard),
                            np.asarray([c.eta for c in padded], np.float32),
                            np.asarray([c.lam for c in padded], np.float32),
                            np.asarray([c.steps for c in padded], np.int32),
                            np.stack([np.asarray(_train.seed_keys(c.seed)[1]) for c in padded]))
        return state, _train.kernel_paths(params)

    def measure(self, state, n, kpaths, rows, lams, kns):
        """``n`` more updates, then one measurement appended to ``rows``, ``lams``, ``kns``."""
        state, meas, lam = self.run_v(state, jnp.int32(n), self.data)
        meas = jax.device_get(meas)
        rows.append(np.stack([np.asarray(m) for m in meas[:5]]))   # (5, C)
        kns.append(_kernel_rows(meas, kpaths))                      # (K, C)
        lams.append(np.asarray(jax.device_get(lam)))                # (C,)
        return state

    def train(self, cfgs, ck_path, checkpoint_seconds, bar) -> _GroupOutput:
        padded = cfgs + [cfgs[-1]] * ((-len(cfgs)) % len(self.devices))
        grid = _train.measurement_grid(max(c.steps for c in cfgs), self.spec.points_per_octave)
        t0 = time.perf_counter()
        state, kpaths = self.init_state(padded)
        rows, lams, kns, start, wall_before = [], [], [], 0, 0.0
        if os.path.exists(ck_path):
            state, rows, lams, kns, start, wall_before = _load_checkpoint(ck_path, state, self.shard, padded,
                                                                          len(kpaths))
            bar.update(sum(min(int(grid[start]), c.steps) for c in cfgs))
        if start == 0 and not rows:
            state = self.measure(state, 0, kpaths, rows, lams, kns)
        last_ck = time.perf_counter()
        for j in range(start, len(grid) - 1):
            a, b = int(grid[j]), int(grid[j + 1])
            state = self.measure(state, b - a, kpaths, rows, lams, kns)
            bar.update(sum(min(b, c.steps) - min(a, c.steps) for c in cfgs))
            if j + 1 < len(grid) - 1 and time.perf_counter() - last_ck >= checkpoint_seconds:
                leaves = jax.device_get(jax.tree.leaves(state))
                _atomic_write_bytes(ck_path, _npz_bytes(
                    rows=np.stack(rows), lams=np.stack(lams), kns=np.stack(kns), start=np.int64(j + 1),
                    wall=np.float64(wall_before + time.perf_counter() - t0),
                    **{f"s{k}": np.asarray(l) for k, l in enumerate(leaves)}))
                last_ck = time.perf_counter()
        log = None if state.lam_changes is None else np.asarray(jax.device_get(state.lam_changes))
        return _GroupOutput(grid, np.stack(rows).astype(np.float64), np.stack(lams).astype(np.float64),
                            np.stack(kns).astype(np.float64), kpaths, np.asarray(jax.device_get(state.diverged)),
                            np.asarray(jax.device_get(state.step)), log, wall_before + time.perf_counter() - t0)


def _record(spec, engine, g, cid, c, k, group_size, out: _GroupOutput, prov) -> Dict[str, Any]:
    """The record dict of configuration ``c`` (index ``k`` of its group ``g``)."""
    m = int(np.searchsorted(out.grid, c.steps))      # first grid point >= T_c
    steps = np.concatenate([out.grid[:m], [c.steps]])
    curves = {name: out.rows[: m + 1, q, k].tolist() for q, name in enumerate(_CURVES)}
    curves["kernel_norms"] = {p: out.kns[: m + 1, q, k].tolist() for q, p in enumerate(out.kpaths)}
    acc = out.rows[: m + 1, 2, k]
    diverged = bool(out.diverged[k]) or not np.all(np.isfinite(out.rows[: m + 1, :, k]))
    changes = _train._lam_change_steps(engine.lam_kind, engine.lam_until, int(out.step[k]),
                                       None if out.log is None else out.log[k])
    return {"format": RECORD_FORMAT, "id": cid, "group": g, "config": c._asdict(),
            "arch": spec.arch, "model_kwargs": spec.to_json()["model_kwargs"], "dataset": spec.dataset,
            "curves": dict(steps=steps.tolist(), **curves, lam=out.lams[: m + 1, k].tolist()),
            "lam_changes": changes.tolist(),
            "t_star": _measure.steps_to_peak(steps, acc, spec.t_star_tol),
            "t_star_tol": spec.t_star_tol, "peak_accuracy": _measure.peak_accuracy(acc),
            "diverged": diverged, "diverged_at": int(out.step[k]) if bool(out.diverged[k]) else -1,
            "wall_time": out.wall, "group_size": group_size, "provenance": prov}


CONFIG_BATCHINGS = ("auto", "vmap", "map")


def resolve_config_batching(mode: str, arch: str, platform: str) -> str:
    """``"auto"`` -> ``"map"`` for conv nets (cnn, cnn_bn, wrn) on ``platform == "cpu"``, else
    ``"vmap"``; ``"vmap"``/``"map"`` are returned unchanged."""
    if mode not in CONFIG_BATCHINGS:
        raise ValueError(f"config_batching must be one of {CONFIG_BATCHINGS}, got {mode!r}")
    if mode != "auto":
        return mode
    return "map" if platform == "cpu" and arch in ("cnn", "cnn_bn", "wrn") else "vmap"


def _load_checkpoint(path: str, state: Any, shard: Any, cfgs: Sequence[_train.TrainConfig], n_kernels: int):
    """``(state, rows, lams, kns, start, wall)`` of the group checkpoint at ``path``; ``state``
    gives the tree structure. A checkpoint written before lam curves were recorded (no ``lams``;
    only constant-lam groups existed) gets each configuration's lam, NaN where its rows are; one
    written before kernel norms were recorded (no ``kns``) gets NaN kernel norms for its rows."""
    with np.load(path) as z:
        leaves, treedef = jax.tree.flatten(state)
        state = jax.tree.unflatten(treedef, [jax.device_put(z[f"s{k}"], shard) for k in range(len(leaves))])
        rows = list(z["rows"])
        if "lams" in z.files:
            lams = list(z["lams"])
        else:
            lam0 = np.asarray([c.lam for c in cfgs], np.float32)
            lams = [np.where(np.isnan(r[0]), np.float32(np.nan), lam0) for r in rows]
        if "kns" in z.files:
            kns = list(z["kns"])
        else:
            kns = [np.full((n_kernels, len(cfgs)), np.nan, np.float32) for _ in rows]
        return state, rows, lams, kns, int(z["start"]), float(z["wall"])


def _kernel_rows(meas: Any, kpaths: Sequence[str]) -> np.ndarray:
    """float32 (K, C): a (vmapped, host) measurement's kernel norms in the order of ``kpaths``."""
    c = np.shape(meas.param_norm)[0]
    return np.asarray([np.asarray(meas.kernel_norms[p]) for p in kpaths], np.float32).reshape(len(kpaths), c)


def _npz_bytes(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# ----------------------------------------------------------------------------- loading

def load_sweep(directory: str) -> List[Record]:
    """All finished records under ``directory/records`` (sorted by group, then id)."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path, got {type(directory).__name__}")
    rec_dir = os.path.join(os.fspath(directory), "records")
    if not os.path.isdir(rec_dir):
        raise ValueError(f"directory {directory!r} holds no sweep (no records/ folder)")
    out = []
    for name in sorted(os.listdir(rec_dir)):
        if not name.endswith(".json") or name.startswith("."):
            continue
        with open(os.path.join(rec_dir, name)) as f:
            raw = json.load(f)
        if raw.get("format") != RECORD_FORMAT:
            raise ValueError(f"{name}: unknown record format {raw.get('format')!r}")
        nan = lambda v: float("nan") if v is None else float(v)
        cur = raw["curves"]
        cfg = _train.TrainConfig(**raw["config"])
        arrays = [np.asarray([nan(v) for v in cur[k]], np.float64) for k in _CURVES]
        if "lam" in cur:
            lam = np.asarray([nan(v) for v in cur["lam"]], np.float64)
        else:       # written before lam curves: constant lam, NaN where the run had diverged
            lam = np.where(np.isnan(arrays[0]), np.nan, float(np.float32(cfg.lam)))
        kn = cur.get("kernel_norms")        # None: written before kernel norms were recorded
        if kn is not None:
            kn = {p: np.asarray([nan(v) for v in kn[p]], np.float64) for p in sorted(kn)}
        res = _train.TrainResult(np.asarray(cur["steps"], np.int64), *arrays, diverged=bool(raw["diverged"]),
                                 diverged_at=int(raw["diverged_at"]), wall_time=float(raw["wall_time"]),
                                 lam=lam, lam_changes=np.asarray(raw.get("lam_changes", []), np.int64),
                                 kernel_norms=kn)
        out.append(Record(raw["id"], int(raw["group"]), cfg, raw["arch"],
                          raw["dataset"], raw["model_kwargs"], res, nan(raw["t_star"]),
                          nan(raw["peak_accuracy"]), raw["provenance"], raw))
    out.sort(key=lambda r: (r.group, r.id))
    return out


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
    kind, until = _train.parse_lam_schedule(record.config.lam_schedule)
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
    new = res._replace(**{k: getattr(res, k)[:m] for k in ("steps",) + _CURVES}, **lam_part,
                       diverged=bool(diverged or not np.all(np.isfinite(res.test_accuracy[:m]))),
                       diverged_at=res.diverged_at if diverged else -1)
    tol = float(record.raw.get("t_star_tol", 0.005)) if isinstance(record.raw, dict) else 0.005
    return record._replace(config=record.config._replace(steps=int(steps)), result=new,
                           t_star=_measure.steps_to_peak(new.steps, new.test_accuracy, tol),
                           peak_accuracy=_measure.peak_accuracy(new.test_accuracy))


# ----------------------------------------------------------------------------- validation

def _validate_spec(spec: SweepSpec) -> None:
    """Raise TypeError/ValueError for a bad field of ``spec``. Every error but the first
    (``spec`` is no SweepSpec) comes from :mod:`l2lab._checks` and names the field in its
    ``argument`` attribute (:func:`main` turns it into the command-line option)."""
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec must be a SweepSpec, got {type(spec).__name__}")
    _checks.one_of("arch", spec.arch, ARCHS)
    if not isinstance(spec.model_kwargs, dict):
        raise _checks.bad_type("model_kwargs", f"must be a dict, got {type(spec.model_kwargs).__name__}")
    _checks.string("dataset", spec.dataset, nonempty=True)
    _checks.positive_int("n_train", spec.n_train)
    if spec.n_test is not None:
        _checks.positive_int("n_test", spec.n_test)
    for name in ("etas", "lams", "seeds"):
        v = getattr(spec, name)
        if not isinstance(v, (tuple, list)) or len(v) == 0:
            raise _checks.bad_value(name, f"must be a non-empty tuple, got {v!r}")
    for e in spec.etas:
        _checks.positive_float("etas", e)
    for l in spec.lams:
        _checks.nonneg_float("lams", l)
    for s in spec.seeds:
        _checks.nonneg_int("seeds", s)
    parse_budget(spec.budget)
    _checks.positive_int("max_steps", spec.max_steps)
    _checks.positive_int("max_group_size", spec.max_group_size)
    _checks.real("bucket", spec.bucket, minimum=1.0, allow_inf=True)
    _checks.nonneg_float("t_star_tol", spec.t_star_tol)
    _checks.boolean("augment", spec.augment)
    _checks.one_of("image_size", spec.image_size, IMAGE_SIZES)
    # batch_size, momentum, schedule, loss, points_per_octave, eval_batch_size, autol2_every,
    # optimizer: TrainConfig's rules; lam_schedule's form here, its "early:E" against each budget in expand
    # (and the optimizer against "autol2", which needs no budget)
    kind, _ = _train.parse_lam_schedule(spec.lam_schedule)
    _train.TrainConfig(eta=1.0, lam=0.0, steps=1, batch_size=spec.batch_size, momentum=spec.momentum,
                       schedule=spec.schedule, loss=spec.loss, points_per_octave=spec.points_per_octave,
                       eval_batch_size=spec.eval_batch_size, autol2_every=spec.autol2_every,
                       optimizer=spec.optimizer, lam_schedule="autol2" if kind == "autol2" else "constant").validate()


# ----------------------------------------------------------------------------- CLI

# Every bad option value ends in ``p.error`` ("python -m l2lab.sweep: error: argument --etas: ...",
# exit status 2) before any data is trained on: single values and lists are checked by their
# ``type=`` functions, then the final spec by _validate_spec (its errors name the spec field, which
# _OPTIONS maps back to the option), then what needs the data (sizes, augment) and the budgets.

_OPTIONS = {"model_kwargs": "--width", "out_dir": "--out"}   # spec field -> option, where not --field


def _option(field: Optional[str]) -> Optional[str]:
    """The option that sets the spec field ``field`` (every field has one), else None."""
    if field in _OPTIONS:
        return _OPTIONS[field]
    return "--" + field.replace("_", "-") if field in SweepSpec._fields else None


_cli_type = _checks.cli_type


def _cli_list(what: str, parse, name: str, check):
    """Comma-separated values (blanks skipped), each ``check(name, value)``, none twice (as the
    configuration ids tell them apart: to 6 significant digits), at least one."""

    def parse_all(text: str) -> Tuple[Any, ...]:
        values = tuple(parse(v) for v in text.split(",") if v.strip())
        if not values:
            raise ValueError("empty list")
        return values

    def check_all(values):
        values = tuple(check(name, v) for v in values)
        seen = {}
        for v in values:
            key = f"{v:.6g}"
            if key in seen:
                raise ValueError(f"`{name}` lists {seen[key]!r} and {v!r}, the same configuration")
            seen[key] = v
        return values

    return _cli_type(f"comma-separated {what}", parse_all, check_all)


def _budget_arg(text: str) -> str:
    parse_budget(text)
    return text


def _lam_schedule_arg(text: str) -> str:
    _train.parse_lam_schedule(text)
    return text


def _parser() -> argparse.ArgumentParser:
    from l2lab import data as _data

    pos_int = lambda name: _cli_type("an integer", int, lambda v: _checks.positive_int(name, v))
    number = lambda name, **kw: _cli_type("a number", float, lambda v: _checks.real(name, v, **kw))
    p = argparse.ArgumentParser(prog="python -m l2lab.sweep", description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="fc", choices=list(ARCHS))
    p.add_argument("--scale", default="tiny", choices=list(SCALES))
    p.add_argument("--dataset", choices=list(_data.DATASET_NAMES),
                   help="l2lab.data name (default: the preset's)")
    p.add_argument("--etas", type=_cli_list("numbers", float, "etas", _checks.positive_float),
                   help="comma-separated learning rates (> 0)")
    p.add_argument("--lams", type=_cli_list("numbers", float, "lams", _checks.nonneg_float),
                   help="comma-separated L2 parameters (>= 0)")
    p.add_argument("--seeds", type=_cli_list("integers", int, "seeds", _checks.nonneg_int),
                   help="comma-separated seeds (>= 0)")
    p.add_argument("--budget", type=_cli_type("a budget", str, _budget_arg),
                   help="'etalam:2', 'steps:1000', 'epochs:10' or 'etalam-epochs:0.1'")
    p.add_argument("--width", type=pos_int("width"), help="FC hidden width (3 hidden layers)")
    p.add_argument("--image-size", type=int, choices=list(IMAGE_SIZES),
                   help="conv nets: average-pool the 32x32 images down to this size")
    p.add_argument("--n-train", type=pos_int("n_train"))
    p.add_argument("--n-test", type=pos_int("n_test"))
    p.add_argument("--batch-size", type=pos_int("batch_size"))
    p.add_argument("--momentum", type=number("momentum", minimum=0.0, maximum=1.0, open_maximum=True),
                   help="heavy-ball momentum in [0, 1)")
    p.add_argument("--schedule", choices=list(_train.SCHEDULES))
    p.add_argument("--loss", choices=list(_train.LOSSES))
    p.add_argument("--points-per-octave", type=pos_int("points_per_octave"))
    p.add_argument("--eval-batch-size", type=pos_int("eval_batch_size"),
                   help="evaluate the train/test sets in chunks of this size (default: the preset's)")
    p.add_argument("--max-steps", type=pos_int("max_steps"))
    p.add_argument("--bucket", type=number("bucket", minimum=1.0, allow_inf=True),
                   help="budget grouping factor >= 1 (1: equal budgets only)")
    p.add_argument("--max-group-size", type=pos_int("max_group_size"))
    p.add_argument("--augment", action="store_true", help="flip, crop and mixup (SM A; images only)")
    p.add_argument("--lam-schedule", type=_cli_type("a lam schedule", str, _lam_schedule_arg),
                   help="'constant' (default), 'early:E' (lam for the first E steps, then 0) or "
                        "'autol2' (SM E, starting at each of --lams)")
    p.add_argument("--autol2-every", type=pos_int("autol2_every"),
                   help="AutoL2: measure every this many steps (SM E: 5)")
    p.add_argument("--optimizer", choices=list(_train.OPTIMIZERS),
                   help="'sgd' (default, the paper's), 'adam' (coupled L2) or 'adamw' (decoupled decay)")
    p.add_argument("--t-star-tol", type=number("t_star_tol", minimum=0.0),
                   help="accuracy tolerance of the recorded t* (>= 0; paper: 0.005)")
    p.add_argument("--checkpoint-seconds", type=number("checkpoint_seconds", minimum=0.0, allow_inf=True),
                   default=60.0)
    p.add_argument("--config-batching", default="auto", choices=list(CONFIG_BATCHINGS),
                   help="vmap or lax.map over a device's configurations (auto: map for conv nets on CPU)")
    p.add_argument("--out", help="output directory (default data/sweeps/<arch>-<dataset>-<scale>)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _cli_spec(p: argparse.ArgumentParser, a: argparse.Namespace) -> Tuple[SweepSpec, Any, Any, str]:
    """The checked spec, its datasets and the output directory of the parsed options ``a``
    (``p.error`` naming the option for anything bad)."""
    spec = preset(a.arch, a.scale)
    over = {"dataset": a.dataset, "etas": a.etas, "lams": a.lams, "seeds": a.seeds, "budget": a.budget,
            "n_train": a.n_train, "n_test": a.n_test, "batch_size": a.batch_size, "momentum": a.momentum,
            "schedule": a.schedule, "loss": a.loss, "points_per_octave": a.points_per_octave,
            "eval_batch_size": a.eval_batch_size, "max_steps": a.max_steps, "bucket": a.bucket,
            "max_group_size": a.max_group_size, "t_star_tol": a.t_star_tol, "augment": True if a.augment else None,
            "image_size": a.image_size, "lam_schedule": a.lam_schedule, "autol2_every": a.autol2_every,
            "optimizer": a.optimizer}
    spec = spec._replace(**{k: v for k, v in over.items() if v is not None})
    if a.width is not None:
        if spec.arch != "fc":
            p.error(f"argument --width: applies to --arch fc only, not {spec.arch}")
        spec = spec._replace(model_kwargs=dict(spec.model_kwargs, widths=(a.width,) * 3))
    try:
        _validate_spec(spec)
    except (TypeError, ValueError) as e:
        opt = _option(_checks.argument_of(e))
        p.error(f"argument {opt}: {e}" if opt else str(e))
    out = a.out or os.path.join("data", "sweeps", f"{spec.arch}-{spec.dataset}-{a.scale}")
    if not out or (os.path.exists(out) and not os.path.isdir(out)):
        p.error(f"argument --out: {out!r} is not a directory")
    try:
        train_ds, test_ds = load_data(spec)
    except FileNotFoundError as e:
        p.error(f"argument --dataset: {e}")
    except ValueError as e:      # sizes larger than the dataset: blame the size(s) named, given ones first
        msg = str(e)
        named = [o for o in ("--n-train", "--n-test") if f"`{o[2:].replace('-', '_')}`" in msg]
        given = [o for o in named if getattr(a, o[2:].replace("-", "_")) is not None]
        p.error(f"argument {(given or named or ['--dataset'])[-1]}: {msg}")
    if spec.augment and np.ndim(train_ds.x) != 4:
        p.error(f"argument --augment: needs image data (N, H, W, C), got {spec.dataset} inputs of shape "
                f"{np.shape(train_ds.x)[1:]} for --arch {spec.arch}; use --arch cnn, cnn_bn or wrn")
    try:
        expand(spec)
    except ValueError as e:      # an early:E beyond a budget, or every budget above max_steps
        if _checks.argument_of(e) == "lam_schedule":
            p.error(f"argument --lam-schedule: {e} (budget {spec.budget})")
        p.error(f"argument --max-steps: {e} ({spec.max_steps}; budget {spec.budget})")
    return spec, train_ds, test_ds, out


def main(argv: Optional[Sequence[str]] = None) -> List[Record]:
    """``python -m l2lab.sweep``: run (or resume) a preset sweep with the options' changes, print
    a summary. Bad options exit with status 2 and a one-line argparse error naming the option."""
    p = _parser()
    a = p.parse_args(argv)
    spec, train_ds, test_ds, out = _cli_spec(p, a)
    t0 = time.perf_counter()
    try:
        recs = run_sweep(spec, out, train_ds=train_ds, test_ds=test_ds, progress=not a.no_progress,
                         checkpoint_seconds=a.checkpoint_seconds, config_batching=a.config_batching)
    except ValueError as e:      # out holds a different sweep (checked before any training)
        if _checks.argument_of(e) != "out_dir":
            raise
        p.error(f"argument --out: {e}")
    _summary(recs, time.perf_counter() - t0, out)
    return recs


def _summary(recs: List[Record], wall: float, out: str) -> None:
    print(f"\n{len(recs)} configurations in {out} ({wall:.1f} s this run)")
    print(f"{'eta':>8} {'lam':>8} {'steps':>7} {'t*':>7} {'t*.eta.lam':>10} {'peak acc':>8} {'div':>4}")
    for r in sorted(recs, key=lambda r: (r.config.seed, r.config.lam, r.config.eta)):
        c = r.config
        print(f"{c.eta:8.4g} {c.lam:8.4g} {c.steps:7d} {r.t_star:7.0f} {r.t_star * c.eta * c.lam:10.3g} "
              f"{r.peak_accuracy:8.4f} {'yes' if r.result.diverged else '':>4}")
    ok = [r for r in recs if not r.result.diverged and math.isfinite(r.t_star)]
    if not ok:
        print("no finite t* (every run diverged or never peaked): no c' to fit")
        return
    tols = sorted({float(r.raw.get("t_star_tol", 0.005)) for r in ok} | {0.005, 0.001}, reverse=True)
    for tol in tols:
        ts = [_measure.steps_to_peak(r.result.steps, r.result.test_accuracy, tol) for r in ok]
        try:
            fit = _measure.fit_c(ts, [r.config.lam for r in ok], [r.config.eta for r in ok])
        except ValueError as e:
            print(e)
            continue
        lams = [r.config.lam for r, t in zip(ok, ts) if np.isfinite(t) and r.config.lam > 0]
        print(f"c' = t* eta lam (t* within {tol:g} of peak): median {fit.median:.3g}, geomean {fit.geomean:.3g}, "
              f"range [{fit.min:.3g}, {fit.max:.3g}], spread x{fit.spread:.2f} over {fit.n} runs, "
              f"lam {min(lams):g}..{max(lams):g} ({math.log10(max(lams) / min(lams)):.1f} decades)")


if __name__ == "__main__":
    main()
