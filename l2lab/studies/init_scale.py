"""Initialization scale washes out (SM F, Figure S12): one run per ``sigma_w``, one program.

Every kernel of the l2lab models (:mod:`l2lab.models`: FC, CNN, Wide ResNet) is drawn as
``W = sigma_w * sqrt(1 / fan_in) * z`` with ``z ~ N(0, 1)`` from a key that depends only on the
layer's name, and the biases and batch-norm parameters do not depend on ``sigma_w``. So the
initial parameters at any ``sigma_w`` are those at ``sigma_w = 1`` with every kernel multiplied
by ``sigma_w`` (:func:`scale_kernels`; ``tests/test_init_scale.py`` checks it against
:func:`l2lab.models.init` for every architecture). The model's ``sigma_w`` enters nowhere else,
so runs that differ only in ``sigma_w`` share one model and one compiled program:
:func:`run_init_scales` trains them side by side (one :class:`l2lab.train.Engine`, the
configurations looped or vmapped as in :mod:`l2lab.sweep`), each with the same minibatches, and
caches the curves in a folder. Its results equal ``l2lab.sweep.run_sweep`` with
``model_kwargs["sigma_w"]`` set, one sweep per ``sigma_w`` (also tested), at a third of the
compilations.

Quantities (all over the common measurement grid, shape ``(M,)``):

* :func:`curves` -- one curve per ``sigma_w``, ``(S, M)``.
* :func:`spread` -- ``max - min`` over ``sigma_w`` at each step (``"range"``) or ``max / min``
  (``"ratio"``, for norms), ``(M,)``.
* :func:`window` -- the median (or mean, max) of each run's curve over a range of steps, ``(S,)``:
  a late-time value that one noisy measurement does not decide.
* :func:`grid_index` -- the measured step closest (in ``log t``) to a target step.
* :func:`spread_rows` -- the spreads of test accuracy, training loss and kernel norm at the
  measured steps closest to given times ``t eta lam``.
* :func:`washout_verdict` -- the chapter's verdict on SM F's claim (criterion in its docstring).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks
from l2lab import engine as _engine
from l2lab.engine import models as _models
from l2lab.engine import records as _records
from l2lab.engine.presets import smoke_if_asked
from l2lab.engine.tree import last_key

__all__ = ["InitScaleRuns", "CURVES", "scale_kernels", "check_sigmas", "runs_id",
           "run_init_scales", "curves", "spread", "window", "grid_index",
           "spread_rows", "WashoutVerdict", "washout_verdict"]

FORMAT = "l2lab.init_scale/1"
CURVES = ("train_loss", "train_error", "test_accuracy", "test_loss", "param_norm")


class InitScaleRuns(NamedTuple):
    """Runs that differ only in the initialization scale.

    sigmas: float64 ``(S,)``, the ``sigma_w`` of each run (as given). config: the common
    :class:`l2lab.train.TrainConfig`. results: tuple of ``S`` :class:`l2lab.train.TrainResult`
    (curves ``(M,)`` on the same grid ``results[i].steps``). spec: the
    :class:`l2lab.sweep.SweepSpec` (its ``model_kwargs`` without ``sigma_w``). wall_time:
    seconds the training took (compilation included; that of the run that wrote the cache).
    """

    sigmas: np.ndarray
    config: _engine.TrainConfig
    results: Tuple[_engine.TrainResult, ...]
    spec: _engine.SweepSpec
    wall_time: float


def scale_kernels(params: Any, factor: float) -> Any:
    """A copy of the parameter pytree ``params`` with every kernel (leaf whose last key is
    ``"kernel"``: flax Dense/Conv weights) multiplied by ``factor`` (> 0); biases and
    batch-norm scales/offsets unchanged. Leaves keep their shapes and dtypes.

    ``scale_kernels(init(model(sigma_w=1)), s)`` is ``init(model(sigma_w=s))`` (same key) for
    every model of :mod:`l2lab.models`, to float32 rounding.
    """
    factor = _checks.positive_float("factor", factor)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    if not leaves:
        raise _checks.bad_value("params", "has no array leaves")
    out = []
    for path, leaf in leaves:
        if last_key(path) == "kernel":
            a = jnp.asarray(leaf)
            out.append((a * jnp.asarray(factor, a.dtype)).astype(a.dtype))
        else:
            out.append(leaf)
    if not any(last_key(p) == "kernel" for p, _ in leaves):
        raise _checks.bad_value("params", "has no kernel leaves (flax Dense/Conv 'kernel')")
    return jax.tree_util.tree_unflatten(treedef, out)


def check_sigmas(sigmas: Any) -> np.ndarray:
    """``sigmas`` (a sequence of at least two distinct finite numbers > 0) as float64 ``(S,)``;
    TypeError/ValueError naming ``sigmas`` otherwise."""
    if isinstance(sigmas, (str, bytes)) or not hasattr(sigmas, "__len__"):
        raise _checks.bad_type("sigmas", f"must be a sequence of numbers, got {type(sigmas).__name__}")
    vals = [_checks.positive_float("sigmas", s) for s in sigmas]
    if len(vals) < 2:
        raise _checks.bad_value("sigmas", f"needs at least two values, got {len(vals)}")
    if len(set(vals)) != len(vals):
        raise _checks.bad_value("sigmas", f"must be distinct, got {vals}")
    return np.asarray(vals, np.float64)


def _check_spec(spec: Any) -> Tuple[_engine.SweepSpec, _engine.TrainConfig]:
    """``(the spec that runs, its one configuration)``: ``spec`` shrunk for a smoke run
    (:func:`l2lab.engine.presets.smoke_if_asked`, as :func:`l2lab.engine.run_sweep` does), with
    one eta, one lam, one seed and no ``sigma_w``."""
    if not isinstance(spec, _engine.SweepSpec):
        raise _checks.bad_type("spec", f"must be an l2lab.sweep.SweepSpec, got {type(spec).__name__}")
    spec = smoke_if_asked(spec)
    for name in ("etas", "lams", "seeds"):
        if len(getattr(spec, name)) != 1:
            raise _checks.bad_value("spec", f"must have exactly one value in {name}, got "
                                            f"{tuple(getattr(spec, name))}")
    if "sigma_w" in spec.model_kwargs:
        raise _checks.bad_value("spec", "model_kwargs must not set sigma_w (the sigmas argument does)")
    configs, _ = _engine.expand(spec)
    return spec, configs[0]


def runs_id(spec: _engine.SweepSpec, sigmas: Sequence[float]) -> str:
    """Short content hash (12 hex digits) of ``(spec, sigmas)``, for a cache folder name (of the
    spec that runs: a smoke run's, :func:`l2lab.engine.presets.smoke_if_asked`)."""
    spec, _ = _check_spec(spec)
    s = check_sigmas(sigmas)
    text = json.dumps({"spec": _engine.spec_id(spec), "sigmas": s.tolist()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_init_scales(spec: _engine.SweepSpec, sigmas: Sequence[float], out_dir: Any = None, *,
                    train_ds: Any = None, test_ds: Any = None,
                    config_batching: str = "auto") -> InitScaleRuns:
    """Train the single configuration of ``spec`` once per ``sigma_w`` in ``sigmas``.

    spec: an :class:`l2lab.sweep.SweepSpec` with one eta, one lam and one seed, and no
    ``sigma_w`` in ``model_kwargs`` (every other field is used as a sweep uses it; the data are
    the sweep's, ``sweep.run_sweep(spec_with_sigma_w, ...)`` trains the same runs). sigmas: the
    ``sigma_w`` values, ``(S,)``, S >= 2. out_dir: cache folder (``None``: no cache); if it holds
    the results of the same ``(spec, sigmas)`` they are loaded, otherwise they are trained and
    written there (``runs.json``; a folder holding another experiment is a ValueError).
    train_ds, test_ds: datasets to use instead of the spec's (both or neither).
    config_batching: as in :func:`l2lab.sweep.run_sweep` (speed only).

    All runs start from the same draw (the seed's init key) scaled by their ``sigma_w``
    (:func:`scale_kernels`) and see the same minibatches. Returns :class:`InitScaleRuns`. A
    smoke run (``L2LAB_SCALE=paper L2LAB_SMOKE=1``) trains ``smoke_spec(spec)``, as
    :func:`l2lab.engine.run_sweep` does.
    """
    spec, cfg = _check_spec(spec)
    s = check_sigmas(sigmas)
    if (train_ds is None) != (test_ds is None):
        raise ValueError("train_ds and test_ds must be given together")
    platform = jax.devices()[0].platform
    mode = _engine.resolve_config_batching(config_batching, spec.arch, platform)
    path = None
    if out_dir is not None:
        path = os.path.join(os.fspath(_checks.path("out_dir", out_dir)), "runs.json")
        key = {"spec": spec.to_json(), "sigmas": s.tolist(),
               "data": None if train_ds is None else [getattr(train_ds, "name", None),
                                                      getattr(test_ds, "name", None)]}
        if os.path.exists(path):
            with open(path) as f:
                raw = json.load(f)
            if raw.get("format") != FORMAT or raw.get("key") != json.loads(json.dumps(key)):
                raise _checks.bad_value("out_dir", f"{out_dir!r} holds another experiment; use "
                                                   "another out_dir")
            return _from_json(raw, spec)
    if train_ds is None:
        train_ds, test_ds = _engine.load_data(spec)
    runs = _train_all(spec, cfg, s, train_ds, test_ds, mode)
    if path is not None:
        _records.write_json(path, {"format": FORMAT, "key": key, **_to_json(runs)})
    return runs


def _train_all(spec, cfg, s, train_ds, test_ds, mode) -> InitScaleRuns:
    """Train ``len(s)`` copies of ``cfg`` from the scaled initial weights as one program."""
    kwargs = dict(spec.model_kwargs, sigma_w=1.0)
    model = _models.make_model(spec.arch, num_classes=int(train_ds.num_classes), **kwargs)
    engine = _engine.Engine(lambda p, x: model.apply({"params": p}, x), train_ds, test_ds, spec.settings)
    k_init, k_data = _engine.seed_keys(cfg.seed)
    t0 = time.perf_counter()
    p1 = _models.init(model, k_init, (1,) + tuple(np.shape(train_ds.x)[1:]))
    params = jax.tree.map(lambda *a: jnp.stack(a), *[scale_kernels(p1, float(v)) for v in s])
    n = len(s)
    state = jax.vmap(engine.init_state)(
        params, jnp.full((n,), cfg.eta, jnp.float32), jnp.full((n,), cfg.lam, jnp.float32),
        jnp.full((n,), cfg.steps, jnp.int32), jnp.stack([k_data] * n))
    if mode == "vmap":
        per = jax.vmap(engine.run_with_lam, in_axes=(0, None, None))
    else:
        per = lambda st, k, d: jax.lax.map(lambda s1: engine.run_with_lam(s1, k, d), st)
    run = jax.jit(per)
    grid = _engine.measurement_grid(cfg.steps, cfg.points_per_octave)
    rows, lams, kns = [], [], []

    def measure(state, k):
        state, meas, lam = run(state, jnp.int32(k), engine.data)
        meas = jax.device_get(meas)
        rows.append(np.stack([np.asarray(m, np.float64) for m in meas[:5]]))       # (5, S)
        kns.append({p: np.asarray(v, np.float64) for p, v in meas.kernel_norms.items()})
        lams.append(np.asarray(jax.device_get(lam), np.float64))
        return state

    state = measure(state, 0)
    for a, b in zip(grid[:-1], grid[1:]):
        state = measure(state, int(b - a))
    wall = time.perf_counter() - t0
    rows_a = np.stack(rows)                     # (M, 5, S)
    lam_a = np.stack(lams)                      # (M, S)
    div = np.asarray(jax.device_get(state.diverged))
    steps_done = np.asarray(jax.device_get(state.step))
    results = []
    for i in range(n):
        cols = rows_a[:, :, i].T
        diverged = bool(div[i]) or not np.all(np.isfinite(cols))
        results.append(_engine.TrainResult(
            grid.astype(np.int64), *cols, diverged=diverged,
            diverged_at=int(steps_done[i]) if bool(div[i]) else -1, wall_time=wall,
            lam=lam_a[:, i], lam_changes=np.zeros(0, np.int64),
            kernel_norms={p: np.asarray([k[p][i] for k in kns]) for p in sorted(kns[0])}))
    return InitScaleRuns(s, cfg, tuple(results), spec, wall)


def _to_json(runs: InitScaleRuns) -> Dict[str, Any]:
    res = []
    for r in runs.results:
        d = {k: np.asarray(getattr(r, k)).tolist() for k in ("steps",) + CURVES + ("lam",)}
        d["kernel_norms"] = {p: v.tolist() for p, v in r.kernel_norms.items()}
        d.update(diverged=r.diverged, diverged_at=r.diverged_at)
        res.append(d)
    return {"sigmas": runs.sigmas.tolist(), "config": runs.config._asdict(), "results": res,
            "wall_time": runs.wall_time}


def _from_json(raw: Dict[str, Any], spec: _engine.SweepSpec) -> InitScaleRuns:
    nan = lambda v: float("nan") if v is None else float(v)
    arr = lambda xs: np.asarray([nan(v) for v in xs], np.float64)
    results = []
    for d in raw["results"]:
        results.append(_engine.TrainResult(
            np.asarray(d["steps"], np.int64), *[arr(d[k]) for k in CURVES],
            diverged=bool(d["diverged"]), diverged_at=int(d["diverged_at"]),
            wall_time=float(raw["wall_time"]), lam=arr(d["lam"]),
            lam_changes=np.zeros(0, np.int64),
            kernel_norms={p: arr(v) for p, v in sorted(d["kernel_norms"].items())}))
    return InitScaleRuns(np.asarray(raw["sigmas"], np.float64), _engine.TrainConfig(**raw["config"]),
                         tuple(results), spec, float(raw["wall_time"]))


def _check_runs(runs: Any) -> None:
    if not isinstance(runs, InitScaleRuns):
        raise _checks.bad_type("runs", f"must be an InitScaleRuns, got {type(runs).__name__}")


def curves(runs: InitScaleRuns, name: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(steps (M,), values (S, M))``: curve ``name`` (one of :data:`CURVES`, or
    ``"kernel_norm"`` = ``sqrt(sum over kernels ||w||^2)``, the part of ``||theta||`` that
    ``sigma_w`` scales) of every run, row ``i`` for ``runs.sigmas[i]``."""
    _check_runs(runs)
    _checks.one_of("name", name, CURVES + ("kernel_norm",))
    steps = runs.results[0].steps
    if name == "kernel_norm":
        vals = [np.sqrt(sum(np.square(v) for v in r.kernel_norms.values())) for r in runs.results]
    else:
        vals = [getattr(r, name) for r in runs.results]
    return np.asarray(steps), np.stack([np.asarray(v, np.float64) for v in vals])


def spread(runs: InitScaleRuns, name: str, kind: str = "range") -> Tuple[np.ndarray, np.ndarray]:
    """``(steps (M,), spread (M,))`` of curve ``name`` over the ``sigma_w`` runs at each step:
    ``kind="range"``: ``max - min``; ``kind="ratio"``: ``max / min`` (for positive curves such
    as norms; 1 when the runs agree). NaN where any run is NaN (diverged)."""
    _checks.one_of("kind", kind, ("range", "ratio"))
    steps, v = curves(runs, name)
    with np.errstate(invalid="ignore", divide="ignore"):
        hi, lo = np.max(v, axis=0), np.min(v, axis=0)
        return steps, (hi - lo) if kind == "range" else hi / lo


def window(runs: InitScaleRuns, name: str, start: float, stop: Optional[float] = None,
           stat: str = "median") -> np.ndarray:
    """float64 ``(S,)``: for each run, ``stat`` (``"median"``, ``"mean"`` or ``"max"``) of curve
    ``name`` (as in :func:`curves`) over the measured steps ``t`` with ``start <= t <= stop``
    (``stop=None``: to the end). NaN for every run if no measured step lies in the window (a
    run too short for it)."""
    _checks.one_of("stat", stat, ("median", "mean", "max"))
    steps, v = curves(runs, name)
    start = _checks.nonneg_float("start", start)
    stop = float(steps[-1]) if stop is None else _checks.nonneg_float("stop", stop)
    sel = (steps >= start) & (steps <= stop)
    if not np.any(sel):
        return np.full(v.shape[0], np.nan)
    return {"median": np.median, "mean": np.mean, "max": np.max}[stat](v[:, sel], axis=1)


def grid_index(steps: Any, target: float) -> int:
    """Index of the entry of the increasing step grid ``steps`` (``(M,)``, from 0) closest to
    ``target`` (> 0) in ``log(1 + t)``."""
    st = _checks.curve("steps", steps)
    if np.any(np.diff(st) <= 0) or st[0] < 0:
        raise _checks.bad_value("steps", "must be increasing and >= 0")
    target = _checks.positive_float("target", target)
    return int(np.argmin(np.abs(np.log1p(st) - math.log1p(target))))


def spread_rows(runs: InitScaleRuns, t_eta_lam: Sequence[float]) -> List[Dict[str, float]]:
    """One dict per time in ``t_eta_lam`` (each > 0, in units of ``1/(eta lam)`` of
    ``runs.config``), at the measured step closest to ``t / (eta lam)`` (:func:`grid_index`):
    ``{"step", "t_eta_lam"`` (of that step), ``"acc_range"`` (max - min test accuracy over
    sigma_w), ``"loss_ratio"`` (max / min training loss), ``"norm_ratio"`` (max / min kernel
    norm)``}``. Needs ``eta * lam > 0``."""
    _check_runs(runs)
    el = runs.config.eta * runs.config.lam
    if not el > 0:
        raise _checks.bad_value("runs", f"need eta * lam > 0, got {el:g}")
    if isinstance(t_eta_lam, (str, bytes)) or not hasattr(t_eta_lam, "__len__") or not len(t_eta_lam):
        raise _checks.bad_type("t_eta_lam", "must be a non-empty sequence of numbers")
    ts = [_checks.positive_float("t_eta_lam", t) for t in t_eta_lam]
    steps, acc = spread(runs, "test_accuracy")
    _, loss = spread(runs, "train_loss", "ratio")
    _, norm = spread(runs, "kernel_norm", "ratio")
    rows = []
    for t in ts:
        i = grid_index(steps, t / el)
        rows.append({"step": int(steps[i]), "t_eta_lam": float(steps[i] * el),
                     "acc_range": float(acc[i]), "loss_ratio": float(loss[i]),
                     "norm_ratio": float(norm[i])})
    return rows


class WashoutVerdict(NamedTuple):
    """SM F's claim judged by :func:`washout_verdict`: ``word``; ``early``, ``late``: the
    spreads (max - min over sigma_w) of the test accuracy, averaged over seeds; ``norm_ratio``:
    the largest late max/min kernel-norm ratio over seeds; ``standard_error`` of one accuracy;
    ``reason``: the deciding numbers."""

    word: str
    early: float
    late: float
    norm_ratio: float
    standard_error: float
    reason: str


def _per_seed(name: str, value: Any) -> np.ndarray:
    """``value`` as float64 ``(seeds, S)``: non-negative and finite, NaN allowed (no value)."""
    arr = _as_float(name, value)
    _checks.real_array(name, np.where(np.isnan(arr), 0.0, arr), nonneg=True)   # NaN aside
    arr = arr[None] if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise _checks.bad_value(name, f"must be (S,) or (seeds, S) with S >= 2 sigmas, got {arr.shape}")
    return arr


def _as_float(name: str, value: Any) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _checks.bad_type(name, f"must be an array of numbers, got {type(value).__name__}") from None


def washout_verdict(early_accuracy: Any, late_accuracy: Any, late_norm: Any, n_test: int, *,
                    converged: float = 1.5) -> WashoutVerdict:
    """Does the dependence on the initialization scale wash out at late times (SM F, Figure
    S12)?

    early_accuracy, late_accuracy: test accuracies of each ``sigma_w`` run, ``(S,)`` or
    ``(seeds, S)`` (e.g. medians over an early and a late window, :func:`window`); late_norm:
    the kernel norms at late times, same shape (> 0); n_test: test images (>= 1).
    Criterion: spreads are max - min over sigma_w, averaged over seeds; ``se`` is the binomial
    standard error of one accuracy at the mean early accuracy. ``"not at this scale"`` when the
    early spread is at most 2 ``se`` (no early dependence to wash out); ``"contradicted"`` when
    the late spread is not below the early one; ``"reproduced"`` when it is at most half of it
    and the kernel norms have converged (late max/min below ``converged``, 1.5, in every seed);
    ``"partly"`` otherwise; ``"not at this scale"`` with NaN spreads when a value is NaN (a
    window with no measurement).
    """
    early, late = _per_seed("early_accuracy", early_accuracy), _per_seed("late_accuracy", late_accuracy)
    norm = _per_seed("late_norm", late_norm)
    if not (early.shape == late.shape == norm.shape):
        raise _checks.bad_value("late_accuracy", f"early_accuracy, late_accuracy and late_norm must have one "
                                                 f"shape, got {early.shape}, {late.shape}, {norm.shape}")
    if np.any(early > 1) or np.any(late > 1):
        raise _checks.bad_value("early_accuracy", "accuracies must lie in [0, 1]")
    if np.any(norm <= 0):
        raise _checks.bad_value("late_norm", "norms must be > 0")
    n = _checks.positive_int("n_test", n_test)
    converged = _checks.real("converged", converged, minimum=1.0)
    if np.any(np.isnan(early)) or np.any(np.isnan(late)) or np.any(np.isnan(norm)):
        return WashoutVerdict("not at this scale", math.nan, math.nan, math.nan, math.nan,
                              "no measurement in the early or the late window (runs too short)")
    p = float(early.mean())
    se = math.sqrt(p * (1 - p) / n)
    s_early = float(np.ptp(early, axis=1).mean())
    s_late = float(np.ptp(late, axis=1).mean())
    ratio = float(np.max(norm.max(axis=1) / norm.min(axis=1)))
    if s_early <= 2 * se:
        word = "not at this scale"
    elif s_late >= s_early:
        word = "contradicted"
    elif s_late <= s_early / 2 and ratio < converged:
        word = "reproduced"
    else:
        word = "partly"
    reason = (f"accuracy spread over σ_w {s_early:.3f} early, {s_late:.3f} late "
              f"(se {se:.3f}); kernel norms within x{ratio:.2f}")
    return WashoutVerdict(word, s_early, s_late, ratio, se, reason)
