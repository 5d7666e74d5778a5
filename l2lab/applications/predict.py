"""Predicting the optimal L2 parameter without a sweep (Sec. 3 and SM C.3 of the paper).

The time to reach peak test accuracy scales as ``t* ~ c / lam`` (Sec. 2), even at large
``lam``. A network trained with a *large* L2 parameter peaks (at a degraded accuracy) after a
short time, so ``c = t* lam`` is cheap to measure; for a training budget of ``T`` steps the
prediction is the smallest ``lam`` whose peak still falls within the budget::

    lam_pred = c / T          constant learning rate (Sec. 3, Figure 1b)
    lam_pred = c / T1         piecewise-constant schedule, first decay at step T1 (paper: T1 = 0.3 T)
    lam_pred = 2 c / T        SM C.3 / Figure S4: small lam's t* lam is ~2x the large-lam c

``c`` is measured at a constant learning rate in either case. With SGD at constant ``eta`` the
paper's invariant is ``c' = t* eta lam`` (the budgets ``t eta lam = 2`` of the sweeps).

* :func:`predict_lambda` -- the formulas above.
* :func:`measure_c` -- the cheap run for any Flax ``apply_fn`` and the user's own data (through
  :class:`l2lab.engine.Engine`); :func:`measure_c_spec` -- the same for the setup of a sweep
  spec, :func:`measure_c_preset` for the paper's architectures (:func:`l2lab.engine.preset`).
  The run stops as soon as the peak is certain
  (:func:`peak_is_certain`), not after a fixed budget.
* :func:`first_decay_step` -- ``T1`` of the engine's ``"paper"`` learning-rate schedule.

With your own Flax model and data (``x`` (N, ...), ``y`` int (N,), ``num_classes``)::

    from l2lab.applications import predict
    apply_fn = lambda p, x: model.apply({"params": p}, x)
    m = predict.measure_c(apply_fn, params, train_ds, test_ds, eta=0.2, lam=0.01,
                          batch_size=128, momentum=0.9)
    lam = predict.predict_lambda(m.c, budget=20_000)                 # constant eta
    lam = predict.predict_lambda(m.c, 20_000, first_decay=6_000)     # decay at 0.3 T

CLI (:mod:`l2lab.applications.predict_cli`):
``python -m l2lab.predict --arch fc --scale tiny --budget 2000 [--schedule paper]``.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks
from l2lab import measure as _measure
from l2lab.engine import models as _models
from l2lab.engine.core import Engine, TrainResult, augmentation, measurement_grid, seed_keys
from l2lab.engine.models import ARCHS
from l2lab.engine.presets import preset, smoke_if_asked
from l2lab.engine.runner import load_data
from l2lab.engine.optimizers import lr_factor
from l2lab.engine.settings import SCHEDULES, EngineSettings
from l2lab.engine.spec import SweepSpec
from l2lab.engine.train import progress_bar
from l2lab.scales import SCALES

__all__ = ["CMeasurement", "predict_lambda", "first_decay_step", "peak_is_certain", "measure_c",
           "measure_c_spec", "measure_c_preset", "PresetSetup", "spec_setup", "preset_setup",
           "DEFAULT_LAM"]

DEFAULT_LAM = 0.01          # Figure 4a: lam = 0.01 for the WRN


# ----------------------------------------------------------------------------- prediction

def predict_lambda(c, budget, first_decay=None) -> float:
    """``lam_pred = c / budget`` (constant learning rate), or ``c / first_decay`` for a
    piecewise-constant schedule whose first decay comes at step ``first_decay`` (Sec. 3).

    c: finite > 0 (``t* lam`` of :func:`measure_c`); budget: steps T > 0; first_decay: None or a
    step count in ``(0, budget]``. Raises ValueError (TypeError for a non-number) naming the bad
    argument. For SM C.3's ``2c/T`` pass ``2 * c``.
    """
    c = _checks.positive_float("c", c)
    budget = _checks.positive_float("budget", budget)
    if first_decay is None:
        return c / budget
    first_decay = _checks.positive_float("first_decay", first_decay)
    if first_decay > budget:
        raise _checks.bad_value("first_decay", f"must be <= `budget` ({budget:g}), got {first_decay:g}")
    return c / first_decay


def first_decay_step(budget: int, schedule: str = "paper") -> int:
    """``T1``: the first update (0-based) at which :func:`l2lab.engine.lr_factor` is below 1 for a
    run of ``budget`` updates, i.e. the number of updates taken at the initial rate (paper:
    ``ceil(0.3 T)``, read off the engine's own float32 rule). ``"constant"`` has no decay: ``T``.
    """
    budget = _checks.positive_int("budget", budget)
    _checks.one_of("schedule", schedule, SCHEDULES)
    if schedule == "constant":
        return budget
    k = math.ceil(0.3 * budget)
    cand = np.arange(max(0, k - 2), k + 3)
    f = np.asarray(lr_factor(jnp.asarray(cand), jnp.int32(budget), schedule))
    return int(min(cand[np.flatnonzero(f < 1.0)[0]], budget))


# ----------------------------------------------------------------------------- stop rule

def peak_is_certain(steps, acc, tol: float = 0.005, *, patience: float = 2.0, min_below: int = 8) -> bool:
    """Whether the test-accuracy peak of a curve so far can be taken as final.

    steps: (M,) finite, non-decreasing; acc: (M,) accuracies (NaN = not within tol); tol: the
    ``steps_to_peak`` tolerance (>= 0). Let ``best = max(acc)`` and ``j`` the LAST measurement
    with ``acc >= best - tol``. Certain iff at least ``min_below`` (>= 1) measurements follow
    ``j`` (all of them below ``best - tol`` by definition) and ``steps[-1] >= patience * steps[j]``
    (``patience >= 1``: accuracy has stayed below for a stretch proportional to the age of the
    peak). False if ``acc`` has no finite entry. A curve whose best point is step 0 (nothing
    learned) is certain after ``min_below`` measurements: :func:`measure_c` then gives t* = 0.
    """
    s = _checks.curve("steps", steps)
    a = _checks.curve("acc", acc)
    _checks.same_length("steps", s, "acc", a)
    if not np.all(np.isfinite(s)) or np.any(np.diff(s) < 0):
        raise _checks.bad_value("steps", "must be finite and non-decreasing")
    _checks.nonneg_float("tol", tol)
    patience = _checks.real("patience", patience, minimum=1.0)
    min_below = _checks.positive_int("min_below", min_below)
    finite = np.isfinite(a)
    if not finite.any():
        return False
    best = np.max(a[finite])
    j = int(np.flatnonzero(finite & (a >= best - tol))[-1])
    return bool((len(a) - 1 - j) >= min_below and s[-1] >= patience * s[j])


# ----------------------------------------------------------------------------- measurement

class CMeasurement(NamedTuple):
    """Result of :func:`measure_c`.

    c: ``t* lam`` (NaN if diverged); c_prime: ``t* eta lam`` (the invariant for SGD at constant
    eta; with momentum the effective rate ``eta / (1 - momentum)`` is NOT folded in); t_star:
    steps to within ``tol`` of the peak (:func:`l2lab.measure.steps_to_peak` of the curve);
    peak_accuracy; eta, lam, momentum, tol: as run; curve: :class:`l2lab.engine.TrainResult` of
    what ran (``(M,)`` arrays, steps 0 .. steps_run); steps_run: SGD updates taken; wall_time:
    seconds (compilation included); certain: the stop rule fired (False: stopped at
    ``max_steps`` or diverged, t* provisional); hit_max_steps; diverged.
    """

    c: float
    c_prime: float
    t_star: float
    peak_accuracy: float
    eta: float
    lam: float
    momentum: float
    tol: float
    curve: TrainResult
    steps_run: int
    wall_time: float
    certain: bool
    hit_max_steps: bool
    diverged: bool


def _check_params(params) -> None:
    leaves = jax.tree.leaves(params)
    if not leaves or not all(hasattr(p, "shape") and hasattr(p, "dtype") for p in leaves):
        raise _checks.bad_type("params", "must be a non-empty pytree of arrays")


def _check_stop_args(eta, lam, tol, max_steps, points_per_octave, patience, min_below, seed, progress):
    _checks.float32_exact("eta", _checks.positive_float("eta", eta))
    _checks.float32_exact("lam", _checks.positive_float("lam", lam))
    _checks.real("tol", tol, minimum=0.0, maximum=1.0, open_maximum=True)
    _checks.int32_steps("max_steps", max_steps)
    _checks.positive_int("points_per_octave", points_per_octave)
    _checks.real("patience", patience, minimum=1.0)
    _checks.positive_int("min_below", min_below)
    _checks.prng_seed("seed", seed)
    _checks.boolean("progress", progress)


def _run_until_peak(engine, state, grid, tol, patience, min_below, bar):
    """Train ``state`` along ``grid`` (int64 (G,), from 0) with jitted ``engine.run`` chunks until
    :func:`peak_is_certain`, divergence or the grid's end. Returns (state, steps (M,), rows (M, 5))."""
    run = jax.jit(engine.run)
    state, m = run(state, jnp.int32(0), engine.data)
    steps, rows = [0], [np.asarray(jax.device_get(m[:5]), np.float64)]   # the scalars; no kernel_norms
    for a, b in zip(grid[:-1], grid[1:]):
        state, m = run(state, jnp.int32(b - a), engine.data)
        steps.append(int(b))
        rows.append(np.asarray(jax.device_get(m[:5]), np.float64))
        acc = np.asarray([r[2] for r in rows])
        bar.update(int(b - a))
        if bool(state.diverged) or not np.isfinite(acc[-1]):
            break
        if np.isfinite(acc).any():
            bar.set_postfix(acc=f"{acc[-1]:.4f}", peak=f"{np.nanmax(acc):.4f}", refresh=False)
        if peak_is_certain(steps, acc, tol, patience=patience, min_below=min_below):
            break
    return state, np.asarray(steps, np.int64), np.stack(rows)


def _result(state, steps, rows, *, eta, lam, momentum, tol, max_steps, patience, min_below, wall):
    """A :class:`CMeasurement` from the run's final state, steps (M,) and rows (M, 5)."""
    diverged = bool(state.diverged) or not np.all(np.isfinite(rows))
    cols = rows.T
    curve = TrainResult(steps, *cols, diverged=diverged,
                               diverged_at=int(state.step) if bool(state.diverged) else -1, wall_time=wall)
    acc = curve.test_accuracy
    certain = not diverged and peak_is_certain(steps, acc, tol, patience=patience, min_below=min_below)
    t_star = float("nan") if diverged else _measure.steps_to_peak(steps, acc, tol)
    return CMeasurement(c=t_star * lam, c_prime=t_star * eta * lam, t_star=t_star,
                        peak_accuracy=float("nan") if diverged else _measure.peak_accuracy(acc),
                        eta=eta, lam=lam, momentum=momentum, tol=tol, curve=curve,
                        steps_run=int(steps[-1]), wall_time=wall, certain=certain,
                        hit_max_steps=not certain and not diverged and int(steps[-1]) >= max_steps,
                        diverged=diverged)


def measure_c(apply_fn: Callable, params: Any, train_ds: Any, test_ds: Any, *, eta: float,
              lam: float = DEFAULT_LAM, batch_size: int, momentum: float = 0.0, loss: str = "xent",
              tol: float = 0.005, max_steps: int = 100_000, points_per_octave: int = 8,
              patience: float = 2.0, min_below: int = 8, eval_batch_size: Optional[int] = None,
              augment: Optional[Callable] = None, seed: int = 0, progress: bool = True) -> CMeasurement:
    """Measure ``c = t* lam`` with one constant-``eta`` run at a large ``lam``, stopped as soon as
    the test-accuracy peak is certain (:func:`peak_is_certain` with ``tol``, ``patience``,
    ``min_below``) or at ``max_steps``. Never raises on divergence (``c = NaN``, ``diverged``).

    apply_fn(params, x) -> logits (B, K), e.g. ``lambda p, x: model.apply({"params": p}, x)``;
    params: initial parameter pytree; train_ds, test_ds: ``x`` (N, ...), ``y`` int (N,),
    ``num_classes`` (:class:`l2lab.data.Dataset`). eta, lam > 0; batch_size, momentum, loss,
    eval_batch_size, augment: as in :class:`l2lab.engine.Engine`. Measurements (train loss/error,
    test accuracy/loss, ||theta||) come on :func:`l2lab.engine.measurement_grid` with
    ``points_per_octave``; seed: minibatch order (the data key of :func:`l2lab.engine.seed_keys`).
    """
    if not callable(apply_fn):
        raise _checks.bad_type("apply_fn", f"must be callable (params, x) -> logits, got {type(apply_fn).__name__}")
    _check_params(params)
    _check_stop_args(eta, lam, tol, max_steps, points_per_octave, patience, min_below, seed, progress)
    eta, lam, tol = float(eta), float(lam), float(tol)
    settings = EngineSettings(batch_size=batch_size, loss=loss, momentum=momentum, schedule="constant",
                              eval_batch_size=eval_batch_size, augment=augment is not None)
    engine = Engine(apply_fn, train_ds, test_ds, settings, augment=augment)
    grid = measurement_grid(int(max_steps), int(points_per_octave))
    t0 = time.perf_counter()
    state = engine.init_state(params, eta, lam, int(max_steps), seed_keys(seed)[1])
    bar = progress_bar(total=None, disable=not progress, unit="step", file=sys.stderr,
                       desc=f"measure c (eta={eta:g} lam={lam:g})")
    try:
        state, steps, rows = _run_until_peak(engine, state, grid, tol, patience, min_below, bar)
    finally:
        bar.close()
    return _result(state, steps, rows, eta=eta, lam=lam, momentum=engine.momentum, tol=tol,
                   max_steps=int(max_steps), patience=patience, min_below=min_below,
                   wall=time.perf_counter() - t0)


# ----------------------------------------------------------------------------- presets

class PresetSetup(NamedTuple):
    """What :func:`measure_c_preset` trains: the sweep preset's ``spec``, its flax ``model``,
    initial ``params`` (those a sweep uses for ``seed``), ``train_ds``/``test_ds`` and the
    default learning rate ``eta`` (the preset's middle one: paper WRN 0.2, as in Figure 1b)."""

    spec: Any
    model: Any
    params: Any
    train_ds: Any
    test_ds: Any
    eta: float


def spec_setup(spec, seed: int = 0) -> PresetSetup:
    """Model, data and initial weights of a :class:`l2lab.engine.SweepSpec` built as
    :func:`l2lab.engine.run_sweep` builds them; ``eta`` is the spec's middle learning rate.
    Raises FileNotFoundError if the dataset (CIFAR-10 at paper scale) is not on disk. A smoke
    run (``L2LAB_SCALE=paper L2LAB_SMOKE=1``) builds :func:`l2lab.engine.presets.smoke_spec` of
    ``spec``, which is the setup's ``spec``."""
    if not isinstance(spec, SweepSpec):
        raise _checks.bad_type("spec", f"must be an l2lab.engine.SweepSpec, got {type(spec).__name__}")
    seed = _checks.nonneg_int("seed", seed)
    spec = smoke_if_asked(spec)
    train_ds, test_ds = load_data(spec)
    model = _models.make_model(spec.arch, num_classes=int(train_ds.num_classes), **spec.model_kwargs)
    params = _models.init(model, seed_keys(seed)[0], (1,) + tuple(np.shape(train_ds.x)[1:]))
    etas = sorted(spec.etas)
    return PresetSetup(spec, model, params, train_ds, test_ds, float(etas[len(etas) // 2]))


def preset_setup(arch: str, scale: str, seed: int = 0) -> PresetSetup:
    """:func:`spec_setup` of ``l2lab.engine.preset(arch, scale)``."""
    _checks.one_of("arch", arch, ARCHS)
    _checks.one_of("scale", scale, SCALES)
    return spec_setup(preset(arch, scale), seed)


def measure_c_spec(spec, *, eta: Optional[float] = None, lam: float = DEFAULT_LAM,
                   momentum: Optional[float] = None, tol: Optional[float] = None,
                   max_steps: Optional[int] = None, seed: int = 0, progress: bool = True,
                   setup: Optional[PresetSetup] = None, **stop) -> CMeasurement:
    """:func:`measure_c` for the setup of a sweep ``spec`` (:class:`l2lab.engine.SweepSpec`): its
    model, data, batch size, loss, augmentation and measurement density, so that c is measured
    as the sweep it replaces trains. None means the spec's value: eta its middle learning rate,
    momentum its momentum, tol its ``t_star_tol`` (comparable with the sweep's recorded t*),
    max_steps its ``max_steps``. ``setup``: a :func:`spec_setup` of ``spec`` already built;
    ``stop``: patience, min_below. A smoke run (``L2LAB_SCALE=paper L2LAB_SMOKE=1``) measures
    on :func:`l2lab.engine.presets.smoke_spec` of ``spec`` (its ``max_steps`` too).
    """
    if not isinstance(spec, SweepSpec):
        raise _checks.bad_type("spec", f"must be an l2lab.engine.SweepSpec, got {type(spec).__name__}")
    spec = smoke_if_asked(spec)
    if setup is None:
        setup = spec_setup(spec, seed)
    elif not isinstance(setup, PresetSetup) or setup.spec != spec:
        raise _checks.bad_type("setup", "must be the spec_setup(spec) result")
    model = setup.model
    return measure_c(lambda p, x: model.apply({"params": p}, x), setup.params, setup.train_ds, setup.test_ds,
                     eta=setup.eta if eta is None else eta, lam=lam, batch_size=spec.batch_size,
                     momentum=spec.momentum if momentum is None else momentum, loss=spec.loss,
                     tol=spec.t_star_tol if tol is None else tol,
                     max_steps=spec.max_steps if max_steps is None else max_steps,
                     points_per_octave=spec.points_per_octave, eval_batch_size=spec.eval_batch_size,
                     augment=augmentation() if spec.augment else None, seed=seed,
                     progress=progress, **stop)


def measure_c_preset(arch: str, scale: str, *, setup: Optional[PresetSetup] = None, **kwargs) -> CMeasurement:
    """:func:`measure_c_spec` for ``l2lab.engine.preset(arch, scale)`` (0.005 tolerance but for FC
    tiny, 0.001). ``setup``: a :func:`preset_setup` already built; ``kwargs``: those of
    :func:`measure_c_spec` (eta, lam, momentum, tol, max_steps, seed, progress, patience,
    min_below)."""
    _checks.one_of("arch", arch, ARCHS)
    _checks.one_of("scale", scale, SCALES)
    if setup is None:
        setup = preset_setup(arch, scale, kwargs.get("seed", 0))
    elif not isinstance(setup, PresetSetup) or setup.spec.arch != arch:
        raise _checks.bad_type("setup", f"must be the preset_setup({arch!r}, {scale!r}) result")
    return measure_c_spec(setup.spec, setup=setup, **kwargs)
