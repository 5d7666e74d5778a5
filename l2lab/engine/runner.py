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
   group (``bucket=1``: equal budgets only), at most ``max_group_size`` per group (rounded up
   to a multiple of the device count), shortest first. Each group trains as ONE program: the
   configuration axis is sharded over all devices (``shard_map`` over a 1-D ``Mesh``; the group
   is padded to a multiple of the device count)
   and each device runs :meth:`l2lab.train.Engine.run` on its share, ``vmap``-ed or, for conv
   nets on CPU, ``lax.map``-ed (see ``config_batching`` in :func:`run_sweep`). A configuration stops
   updating at its own budget (masked), so a group costs at most ``bucket`` x its useful work.
   On several devices a fresh plan moves a group into the next one when it fits into that one's
   padding (:func:`fill_groups`); a folder keeps the plan it was started with.
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
                    "platform", "num_devices", "num_processes", "date_utc"}}

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

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from l2lab import _checks, scales
from l2lab.engine import distributed, presets
from l2lab.engine import lock as _lock
from l2lab.engine import models as _models
from l2lab.engine.core import Engine, measurement_grid, seed_keys
from l2lab.engine import folder
from l2lab.engine.loading import load_sweep, planned_configs
from l2lab.engine.records import (MANIFEST_FORMAT, Record, atomic_write_bytes, npz_bytes, parse_record,
                                  provenance, record_dict, write_json)
from l2lab.engine.spec import (SweepSpec, config_id, expand, fill_groups, plan_groups, spec_id_of_json,
                               validate_spec)
from l2lab.engine.train import progress_bar
from l2lab.engine.tree import kernel_paths

__all__ = ["run_sweep", "load_data", "resolve_config_batching", "CONFIG_BATCHINGS", "GroupOutput",
           "GroupRunner", "GroupCheckpoint", "SweepInterrupted", "fill_groups"]

# ----------------------------------------------------------------------------- running

def load_data(spec: SweepSpec):
    """``(train, test)`` Datasets of ``spec`` as its sweep trains on them
    (``l2lab.data.paper_split``; conv nets: padded to 32x32, then average-pooled to
    ``spec.image_size``). x float32 (N, H, W, C) or (N, D), y int (N,)."""
    from l2lab import data as _data

    if not isinstance(spec, SweepSpec):
        raise _checks.bad_type("spec", f"must be a l2lab.engine.SweepSpec, got {type(spec).__name__}")
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
              checkpoint_seconds: float = 60.0, config_batching: str = "auto",
              announce: Optional[bool] = None) -> List[Record]:
    """Run (or resume) the sweep ``spec`` into ``out_dir``; return its records (id order).

    At ``L2LAB_SCALE=paper`` with ``L2LAB_SMOKE=1`` (:mod:`l2lab.scales`) the spec is first shrunk
    by :func:`l2lab.engine.presets.smoke_spec` (a chapter that overrides a preset's budget stays a
    smoke run). announce: before training anything, say what is about to run and about how long it
    will take here (:func:`l2lab.engine.estimate.estimate_sweep`, one short timed run); ``None``:
    at ``L2LAB_SCALE=paper``.

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

    Several hosts (after :func:`l2lab.engine.distributed.initialize`, every process calling
    ``run_sweep`` with the same arguments): the groups are sharded over all hosts' devices;
    process 0 alone takes the lock (and refuses a folder another run holds, since the others
    cannot wait), reads and writes ``out_dir`` and shows progress; what is finished, whether a
    checkpoint resumes and when one is written are decided there and sent to every process, and
    every process returns the same records. A fresh folder's groups are sized and filled for the
    device count (:func:`l2lab.engine.plan_groups`).
    """
    out_dir, devices = _check_run_args(spec, out_dir, train_ds, test_ds, devices, checkpoint_seconds,
                                       config_batching)
    if announce is not None and not isinstance(announce, bool):
        raise TypeError(f"announce must be a bool or None, got {type(announce).__name__}")
    paper = scales.current() == "paper"
    spec = presets.smoke_if_asked(spec)
    if train_ds is None:
        train_ds, test_ds = load_data(spec)
    if spec.augment and np.ndim(train_ds.x) != 4:
        raise ValueError(f"augment=True needs image data (N, H, W, C), got x of shape {np.shape(train_ds.x)}")
    configs, dropped = expand(spec)
    groups = plan_groups(configs, spec.bucket, spec.max_group_size, len(devices))
    ids = [config_id(c) for c in configs]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate (seed, eta, lam) in the spec")
    manifest = _manifest(spec, train_ds, test_ds, configs, ids, dropped, groups)
    # nothing is written until the whole plan is known to be valid: the folder, then the model
    existing, finished = distributed.on_leader(lambda: _inspect_folder(out_dir, manifest))
    if existing is not None:      # the same sweep: its plan as written (lists in their order then)
        manifest, planned = existing, planned_configs(existing)
        ids = [c["id"] for c in existing["configs"]]
        configs, groups = [planned[i] for i in ids], [list(g) for g in existing["groups"]]
        if finished:
            return _leader_records(out_dir)   # a finished sweep: read only (a read-only disk is fine)
    if (paper if announce is None else announce) and distributed.is_leader():
        from l2lab.engine import estimate
        estimate.announce(estimate.estimate_sweep(spec, train_ds=train_ds, test_ds=test_ds,
                                                  devices=len(devices)))
    run = GroupRunner(spec, train_ds, test_ds, devices, config_batching)
    try:
        for seed in spec.seeds:               # allocates the model: a width too large fails here
            run.init_params(int(seed))
    except (MemoryError, RuntimeError) as e:  # XlaRuntimeError: RESOURCE_EXHAUSTED
        raise _checks.bad_value("model_kwargs", f"{spec.model_kwargs} does not fit in memory "
                                                f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    with _leader_lock(out_dir, progress), _signals() as stop:
        _run_groups(spec, out_dir, manifest, run, configs, ids, groups, progress, checkpoint_seconds, stop)
    return _leader_records(out_dir)


def _inspect_folder(out_dir: str, manifest: Dict[str, Any]):
    """(leader) ``(the folder's manifest of this sweep or None, whether it is finished)``;
    ValueError naming ``out_dir`` for another sweep's folder or one that cannot be written."""
    existing = _existing_manifest(out_dir, manifest)
    finished = existing is not None and _finished(out_dir, existing)
    if not finished:
        _check_writable(out_dir)
    return existing, finished


def _leader_records(out_dir: str) -> List[Record]:
    """The folder's records, read by the leader, on every process."""
    recs = load_sweep(out_dir) if distributed.is_leader() else None
    if not distributed.is_multiprocess():
        return recs
    raws = distributed.broadcast_json(None if recs is None else [r.raw for r in recs])
    return recs if recs is not None else [parse_record(r) for r in raws]


@contextlib.contextmanager
def _leader_lock(out_dir: str, progress: bool):
    """The folder's lock for the block: one process waits for another run of the folder; the
    leader of several refuses it (ValueError naming ``out_dir`` on every process)."""
    wait = lambda: print(f"run_sweep: another process is running {out_dir}; waiting for it",
                         file=sys.stderr, flush=True)
    if not distributed.is_multiprocess():
        os.makedirs(out_dir, exist_ok=True)
        with _lock.folder_lock(out_dir, on_wait=wait if progress else None):
            yield
        return
    with contextlib.ExitStack() as held:
        def take():
            os.makedirs(out_dir, exist_ok=True)
            try:
                held.enter_context(_lock.folder_lock(out_dir, wait=False))
            except _lock.FolderBusy:
                raise _checks.bad_value("out_dir", f"{out_dir!r} is being run by another process; the "
                                                   "processes of a multi-host sweep cannot wait") from None
        distributed.on_leader(take)
        yield


def _agreed(stop, due: bool = False):
    """``(signal, due)`` agreed by every process: the first signal any process got (or None),
    and whether a checkpoint is due by the leader's clock."""
    flags = distributed.gather_ints([stop() or 0, int(due)])
    return next((int(s) for s in flags[:, 0] if s), None), bool(flags[0, 1])


def _run_groups(spec, out_dir, manifest, run, configs, ids, groups, progress, checkpoint_seconds, stop) -> None:
    """The part of :func:`run_sweep` that runs under the folder's lock: write the manifest if
    there is none yet, tidy the folder (the engine's temporary files, stale checkpoints, records
    that do not belong), then train and record every group without all its records."""
    rec_dir, ck_dir = os.path.join(out_dir, folder.RECORDS), os.path.join(out_dir, folder.CHECKPOINTS)
    sweep_id = spec_id_of_json(folder.decode_nonfinite(manifest["spec"]))
    todo = distributed.on_leader(lambda: _tidy_folder(out_dir, manifest, ids, groups))
    done = len(configs) - sum(len(groups[g]) for g in todo)
    lead = distributed.is_leader()
    bar = progress_bar(total=sum(configs[i].steps for g in todo for i in groups[g]),
                       disable=not (progress and lead), unit="step", unit_scale=True, smoothing=0.05,
                       desc=f"sweep {done}/{len(configs)} configs")
    prov = provenance()
    try:
        for g in todo:
            signum, _ = _agreed(stop)
            if signum is not None:
                raise SweepInterrupted(signum, "between groups")
            cfgs = [configs[i] for i in groups[g]]
            ck = GroupCheckpoint(os.path.join(ck_dir, f"g{g}.npz"), sweep_id, tuple(ids[i] for i in groups[g]),
                                 out_dir)
            out = run.train(cfgs, ck, checkpoint_seconds, bar, stop)
            for k, i in enumerate(groups[g] if lead else ()):
                rec = record_dict(spec, sweep_id, run.engine, g, ids[i], configs[i], k, len(cfgs), out, prov)
                write_json(os.path.join(rec_dir, ids[i] + ".json"), rec)
            if lead and os.path.exists(ck.path):
                os.unlink(ck.path)
            done += len(cfgs)
            bar.set_description(f"sweep {done}/{len(configs)} configs")
    except SweepInterrupted as e:
        bar.close()
        name = signal.Signals(e.signum).name
        if lead:
            print(f"run_sweep: stopped by {name} with {done} of {len(configs)} configurations finished "
                  f"({e.where}); run the same command again to resume", file=sys.stderr, flush=True)
        raise
    bar.close()


def _tidy_folder(out_dir, manifest, ids, groups) -> List[int]:
    """(leader, under the lock) write the manifest if there is none yet, tidy the folder (the
    engine's temporary files, records that do not belong, checkpoints of finished groups) and
    return the groups still to train."""
    if _existing_manifest(out_dir, manifest) is None:
        write_json(os.path.join(out_dir, folder.MANIFEST), dict(manifest, provenance=provenance()))
    ck_dir = os.path.join(out_dir, folder.CHECKPOINTS)
    folder.remove_temporary_files(out_dir)
    have = _belonging_records(out_dir, manifest, quarantine=True)
    todo = [g for g, idx in enumerate(groups) if not all(ids[i] in have for i in idx)]
    for g in set(range(len(groups))) - set(todo):          # a kill between last record and removal
        if os.path.exists(os.path.join(ck_dir, f"g{g}.npz")):
            os.unlink(os.path.join(ck_dir, f"g{g}.npz"))
    return todo


@contextlib.contextmanager
def _signals():
    """SIGINT and SIGTERM set a flag that the sweep reads at its safe points (``stop()`` gives
    the signal number or None); a second one stops at once. Only in the main thread."""
    got: List[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return

    def handler(signum, frame):
        if got:
            raise KeyboardInterrupt
        got.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: got[0] if got else None
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _check_run_args(spec, out_dir, train_ds, test_ds, devices, checkpoint_seconds, config_batching):
    """The argument checks of :func:`run_sweep`; returns ``(out_dir as str, devices list)``."""
    validate_spec(spec)
    resolve_config_batching(config_batching, spec.arch, "cpu")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path, got {type(out_dir).__name__}")
    if (train_ds is None) != (test_ds is None):
        raise ValueError("train_ds and test_ds must be given together")
    _checks.real("checkpoint_seconds", checkpoint_seconds, minimum=0.0, allow_inf=True)
    devices = list(devices) if devices is not None else jax.devices()
    if not devices:
        raise ValueError("devices must not be empty")
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise _checks.bad_value("out_dir", f"{out_dir!r} is not a folder")
    return out_dir, devices


def _check_writable(out_dir: str) -> None:
    """ValueError naming ``out_dir`` when the sweep could not write there (checked before
    anything is written)."""
    probe = out_dir
    while not os.path.exists(probe):
        probe = os.path.dirname(os.path.abspath(probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise _checks.bad_value("out_dir", f"{out_dir!r} cannot be written ({probe!r} is not writable)")


def _manifest(spec, train_ds, test_ds, configs, ids, dropped, groups) -> Dict[str, Any]:
    """The manifest dict of a sweep (without provenance); the spec's non-finite numbers encoded
    (:func:`l2lab.engine.folder.encode_nonfinite`) so that it reads back exactly."""
    group_of = {i: g for g, idx in enumerate(groups) for i in idx}
    return {"format": MANIFEST_FORMAT, "spec": folder.encode_nonfinite(spec.to_json()),
            "data": {"train": getattr(train_ds, "name", None), "test": getattr(test_ds, "name", None),
                     "n_train": int(np.shape(train_ds.y)[0]), "n_test": int(np.shape(test_ds.y)[0])},
            "configs": [{"id": ids[i], "eta": c.eta, "lam": c.lam, "seed": c.seed, "steps": c.steps,
                         "group": group_of[i]} for i, c in enumerate(configs)],
            "dropped": dropped, "groups": groups}


def _existing_manifest(out_dir: str, manifest: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """``out_dir``'s manifest if it is this sweep's (None: no manifest, a fresh folder);
    ValueError naming ``out_dir`` and the fields that differ if it holds another sweep, or an
    unreadable manifest, or records without a manifest."""
    old = folder.read_manifest(out_dir)
    if old is None:
        return None
    defaults = SweepSpec().to_json()
    diff = folder.differences(folder.canonical_manifest(old, defaults), folder.canonical_manifest(manifest, defaults))
    if diff:
        raise _checks.bad_value("out_dir", f"{out_dir!r} holds a different sweep ({'; '.join(diff)}); use "
                                           "another out_dir")
    return old


def _belonging_records(out_dir: str, manifest: Dict[str, Any], *, quarantine: bool) -> set:
    """Ids of the records in ``out_dir`` that belong to the sweep of ``manifest`` (the others are
    moved to the quarantine when ``quarantine``, else skipped with a note)."""
    return {r.id for r in load_sweep(out_dir, manifest=manifest, quarantine=quarantine)}


def _finished(out_dir: str, manifest: Dict[str, Any]) -> bool:
    """Whether every planned configuration has a record that belongs (reads only)."""
    planned = {c["id"] for c in manifest["configs"]}
    try:
        return planned <= _belonging_records(out_dir, manifest, quarantine=False)
    except ValueError:
        return False


class GroupOutput(NamedTuple):
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


class GroupRunner:
    """The compiled programs of a sweep: ``train(cfgs, ck_path, checkpoint_seconds, bar)`` trains
    one group of configurations (sharded over ``devices``), resuming from its checkpoint."""

    def __init__(self, spec, train_ds, test_ds, devices, config_batching):
        self.spec, self.devices = spec, devices
        self.model = _models.make_model(spec.arch, num_classes=int(train_ds.num_classes), **spec.model_kwargs)
        model = self.model
        self.engine = engine = Engine(lambda p, x: model.apply({"params": p}, x), train_ds, test_ds,
                                      spec.settings)
        mesh = Mesh(np.asarray(devices), ("c",))
        self.shard, repl = NamedSharding(mesh, P("c")), NamedSharding(mesh, P())
        self.repl = repl
        self.data = distributed.global_array(engine.data, repl)
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
            self._params[seed] = jax.device_get(_models.init(self.model, seed_keys(seed)[0], self.in_shape))
        return self._params[seed]

    def init_state(self, padded):
        params = jax.tree.map(lambda *a: np.stack(a), *[self.init_params(c.seed) for c in padded])
        args = (params, np.asarray([c.eta for c in padded], np.float32),
                np.asarray([c.lam for c in padded], np.float32), np.asarray([c.steps for c in padded], np.int32),
                np.stack([np.asarray(seed_keys(c.seed)[1]) for c in padded]))
        state = self.init_v(*distributed.global_array(args, self.shard))
        return state, kernel_paths(params)

    def measure(self, state, n, kpaths, rows, lams, kns):
        """``n`` more updates, then one measurement appended to ``rows``, ``lams``, ``kns``."""
        state, meas, lam = self.run_v(state, distributed.global_array(jnp.int32(n), self.repl), self.data)
        meas, lam = distributed.allgather((meas, lam))
        rows.append(np.stack([np.asarray(m) for m in meas[:5]]))   # (5, C)
        kns.append(_kernel_rows(meas, kpaths))                      # (K, C)
        lams.append(np.asarray(lam))                                # (C,)
        return state

    def train(self, cfgs, ck: "GroupCheckpoint", checkpoint_seconds, bar, stop=lambda: None) -> GroupOutput:
        """Train one group (resuming from its checkpoint ``ck`` when it belongs to it);
        ``stop()`` is asked after every measurement: a signal number makes the group save its
        checkpoint and raise :class:`SweepInterrupted`."""
        padded = cfgs + [cfgs[-1]] * ((-len(cfgs)) % len(self.devices))
        grid = measurement_grid(max(c.steps for c in cfgs), self.spec.points_per_octave)
        t0 = time.perf_counter()
        state, kpaths = self.init_state(padded)
        rows, lams, kns, start, wall_before = [], [], [], 0, 0.0
        resumed = ck.load(state, self.shard, padded, len(kpaths))
        if resumed is not None:
            state, rows, lams, kns, start, wall_before = resumed
            bar.update(sum(min(int(grid[start]), c.steps) for c in cfgs))
        if start == 0 and not rows:
            state = self.measure(state, 0, kpaths, rows, lams, kns)
        last_ck = time.perf_counter()
        for j in range(start, len(grid) - 1):
            a, b = int(grid[j]), int(grid[j + 1])
            state = self.measure(state, b - a, kpaths, rows, lams, kns)
            bar.update(sum(min(b, c.steps) - min(a, c.steps) for c in cfgs))
            signum, due = _agreed(stop, time.perf_counter() - last_ck >= checkpoint_seconds)
            if j + 1 < len(grid) - 1 and (due or signum is not None):
                ck.save(state, rows, lams, kns, j + 1, wall_before + time.perf_counter() - t0)
                last_ck = time.perf_counter()
            if signum is not None and j + 1 < len(grid) - 1:
                raise SweepInterrupted(signum, f"group at step {b} of {int(grid[-1])}, checkpointed")
        log, diverged, step = distributed.allgather((state.lam_changes, state.diverged, state.step))
        return GroupOutput(grid, np.stack(rows).astype(np.float64), np.stack(lams).astype(np.float64),
                           np.stack(kns).astype(np.float64), kpaths, np.asarray(diverged), np.asarray(step),
                           None if log is None else np.asarray(log), wall_before + time.perf_counter() - t0)


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by SIGINT or SIGTERM at a safe point (its state saved): running the same
    sweep again resumes it. ``signum``: the signal; ``where``: how far the group got."""

    def __init__(self, signum: int, where: str):
        super().__init__(where)
        self.signum, self.where = signum, where


class GroupCheckpoint(NamedTuple):
    """The checkpoint file of one group, bound to its sweep (``sweep_id``) and its
    configurations (``ids``); ``out_dir`` for the quarantine."""

    path: str
    sweep_id: str
    ids: tuple
    out_dir: str

    def save(self, state, rows, lams, kns, start: int, wall: float) -> None:
        """Write the group's state (every process takes part; the leader writes)."""
        leaves = distributed.allgather(jax.tree.leaves(state))
        if not distributed.is_leader():
            return
        atomic_write_bytes(self.path, npz_bytes(
            sweep=np.asarray(self.sweep_id), configs=np.asarray(self.ids), rows=np.stack(rows),
            lams=np.stack(lams), kns=np.stack(kns), start=np.int64(start), wall=np.float64(wall),
            **{f"s{k}": np.asarray(v) for k, v in enumerate(leaves)}))

    def load(self, state, shard, cfgs, n_kernels):
        """The saved ``(state, rows, lams, kns, start, wall)``, or None: no checkpoint, or one
        that does not belong to this group or does not read (moved to the quarantine). The
        leader reads it; every process gets it."""
        shapes = [np.shape(x) for x in jax.tree.leaves(state)]
        z = distributed.broadcast_arrays(self._read(shapes) if distributed.is_leader() else None)
        return None if z is None else _restore_checkpoint(z, state, shard, cfgs, n_kernels)

    def _read(self, shapes) -> Optional[Dict[str, np.ndarray]]:
        """The checkpoint's arrays if it belongs and its state leaves have ``shapes``."""
        if not os.path.exists(self.path):
            return None
        try:
            with np.load(self.path) as z:
                if "sweep" not in z.files or str(z["sweep"]) != self.sweep_id:
                    why = f"it belongs to sweep {str(z['sweep']) if 'sweep' in z.files else 'unknown'!r}"
                elif tuple(str(i) for i in z["configs"]) != self.ids:
                    why = "it holds other configurations than this group"
                else:
                    arrays = {k: z[k] for k in z.files}
                    for key in ("rows", "start", "wall"):
                        arrays[key]             # KeyError: not a checkpoint of this engine
                    for k, shape in enumerate(shapes):
                        if np.shape(arrays[f"s{k}"]) != shape:
                            raise ValueError(f"leaf {k} has shape {np.shape(arrays[f's{k}'])}, the group's "
                                             f"state {shape}")
                    return arrays
        except Exception as e:      # not an npz, truncated, or another tree: never used
            why = f"it does not read ({type(e).__name__}: {e})"
        folder.quarantine(self.out_dir, self.path, f"checkpoint not used: {why}")
        return None


CONFIG_BATCHINGS = ("auto", "vmap", "map")


def resolve_config_batching(mode: str, arch: str, platform: str) -> str:
    """``"auto"`` -> ``"map"`` for conv nets (cnn, cnn_bn, wrn) on ``platform == "cpu"``, else
    ``"vmap"``; ``"vmap"``/``"map"`` are returned unchanged."""
    if mode not in CONFIG_BATCHINGS:
        raise ValueError(f"config_batching must be one of {CONFIG_BATCHINGS}, got {mode!r}")
    if mode != "auto":
        return mode
    return "map" if platform == "cpu" and arch in ("cnn", "cnn_bn", "wrn") else "vmap"


def _restore_checkpoint(z, state: Any, shard: Any, cfgs: Sequence[Any], n_kernels: int):
    """``(state, rows, lams, kns, start, wall)`` of a group checkpoint's arrays ``z`` (checked
    by :meth:`GroupCheckpoint._read`); ``state`` gives the tree structure. A checkpoint written before
    lam curves were recorded (no ``lams``; only constant-lam groups existed) gets each
    configuration's lam, NaN where its rows are; one written before kernel norms were recorded
    (no ``kns``) gets NaN kernel norms for its rows."""
    leaves, treedef = jax.tree.flatten(state)
    saved = [z[f"s{k}"] for k in range(len(leaves))]
    state = jax.tree.unflatten(treedef, distributed.global_array(saved, shard))
    rows = list(z["rows"])
    if "lams" in z:
        lams = list(z["lams"])
    else:
        lam0 = np.asarray([c.lam for c in cfgs], np.float32)
        lams = [np.where(np.isnan(r[0]), np.float32(np.nan), lam0) for r in rows]
    if "kns" in z:
        kns = list(z["kns"])
    else:
        kns = [np.full((n_kernels, len(cfgs)), np.nan, np.float32) for _ in rows]
    return state, rows, lams, kns, int(z["start"]), float(z["wall"])


def _kernel_rows(meas: Any, kpaths: Sequence[str]) -> np.ndarray:
    """float32 (K, C): a (vmapped, host) measurement's kernel norms in the order of ``kpaths``."""
    c = np.shape(meas.param_norm)[0]
    return np.asarray([np.asarray(meas.kernel_norms[p]) for p in kpaths], np.float32).reshape(len(kpaths), c)

