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
  :class:`l2lab.train.Engine`); :func:`measure_c_spec` -- the same for the setup of a sweep
  spec, :func:`measure_c_preset` for the paper's architectures (:func:`l2lab.sweep.preset`). The run stops as soon as the peak is certain
  (:func:`peak_is_certain`), not after a fixed budget.
* :func:`first_decay_step` -- ``T1`` of the engine's ``"paper"`` learning-rate schedule.

With your own Flax model and data (``x`` (N, ...), ``y`` int (N,), ``num_classes``)::

    from l2lab import predict
    apply_fn = lambda p, x: model.apply({"params": p}, x)
    m = predict.measure_c(apply_fn, params, train_ds, test_ds, eta=0.2, lam=0.01,
                          batch_size=128, momentum=0.9)
    lam = predict.predict_lambda(m.c, budget=20_000)                 # constant eta
    lam = predict.predict_lambda(m.c, 20_000, first_decay=6_000)     # decay at 0.3 T

CLI: ``python -m l2lab.predict --arch fc --scale tiny --budget 2000 [--schedule paper]``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks
from l2lab import measure as _measure
from l2lab import train as _train

__all__ = ["CMeasurement", "predict_lambda", "first_decay_step", "peak_is_certain", "measure_c",
           "measure_c_spec", "measure_c_preset", "PresetSetup", "spec_setup", "preset_setup", "main"]

DEFAULT_LAM = 0.01          # Figure 4a: lam = 0.01 for the WRN
ARCHS = ("fc", "cnn", "cnn_bn", "wrn")
SCALES = ("tiny", "paper")


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
    """``T1``: the first update (0-based) at which :func:`l2lab.train.lr_factor` is below 1 for a
    run of ``budget`` updates, i.e. the number of updates taken at the initial rate (paper:
    ``ceil(0.3 T)``, read off the engine's own float32 rule). ``"constant"`` has no decay: ``T``.
    """
    budget = _checks.positive_int("budget", budget)
    _checks.one_of("schedule", schedule, _train.SCHEDULES)
    if schedule == "constant":
        return budget
    k = math.ceil(0.3 * budget)
    cand = np.arange(max(0, k - 2), k + 3)
    f = np.asarray(_train.lr_factor(jnp.asarray(cand), jnp.int32(budget), schedule))
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
    peak_accuracy; eta, lam, momentum, tol: as run; curve: :class:`l2lab.train.TrainResult` of
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
    curve: _train.TrainResult
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
    _checks.positive_float("eta", eta)
    _checks.positive_float("lam", lam)
    _checks.nonneg_float("tol", tol)
    _checks.positive_int("max_steps", max_steps)
    _checks.positive_int("points_per_octave", points_per_octave)
    _checks.real("patience", patience, minimum=1.0)
    _checks.positive_int("min_below", min_below)
    _checks.nonneg_int("seed", seed)
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
    curve = _train.TrainResult(steps, *cols, diverged=diverged,
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
    eval_batch_size, augment: as in :class:`l2lab.train.Engine`. Measurements (train loss/error,
    test accuracy/loss, ||theta||) come on :func:`l2lab.train.measurement_grid` with
    ``points_per_octave``; seed: minibatch order (the data key of :func:`l2lab.train.seed_keys`).
    """
    if not callable(apply_fn):
        raise _checks.bad_type("apply_fn", f"must be callable (params, x) -> logits, got {type(apply_fn).__name__}")
    _check_params(params)
    _check_stop_args(eta, lam, tol, max_steps, points_per_octave, patience, min_below, seed, progress)
    eta, lam, tol = float(eta), float(lam), float(tol)
    engine = _train.Engine(apply_fn, train_ds, test_ds, batch_size=batch_size, loss=loss, momentum=momentum,
                           schedule="constant", eval_batch_size=eval_batch_size, augment=augment)
    grid = _train.measurement_grid(int(max_steps), int(points_per_octave))
    t0 = time.perf_counter()
    state = engine.init_state(params, eta, lam, int(max_steps), _train.seed_keys(seed)[1])
    bar = _train._tqdm(total=None, disable=not progress, unit="step", file=sys.stderr,
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
    """Model, data and initial weights of a :class:`l2lab.sweep.SweepSpec` built as
    :func:`l2lab.sweep.run_sweep` builds them; ``eta`` is the spec's middle learning rate.
    Raises FileNotFoundError if the dataset (CIFAR-10 at paper scale) is not on disk."""
    from l2lab import models as _models
    from l2lab import sweep as _sweep

    if not isinstance(spec, _sweep.SweepSpec):
        raise _checks.bad_type("spec", f"must be an l2lab.sweep.SweepSpec, got {type(spec).__name__}")
    seed = _checks.nonneg_int("seed", seed)
    train_ds, test_ds = _sweep.load_data(spec)
    model = _models.make_model(spec.arch, num_classes=int(train_ds.num_classes), **spec.model_kwargs)
    params = _models.init(model, _train.seed_keys(seed)[0], (1,) + tuple(np.shape(train_ds.x)[1:]))
    etas = sorted(spec.etas)
    return PresetSetup(spec, model, params, train_ds, test_ds, float(etas[len(etas) // 2]))


def preset_setup(arch: str, scale: str, seed: int = 0) -> PresetSetup:
    """:func:`spec_setup` of ``l2lab.sweep.preset(arch, scale)``."""
    from l2lab import sweep as _sweep

    _checks.one_of("arch", arch, ARCHS)
    _checks.one_of("scale", scale, SCALES)
    return spec_setup(_sweep.preset(arch, scale), seed)


def measure_c_spec(spec, *, eta: Optional[float] = None, lam: float = DEFAULT_LAM,
                   momentum: Optional[float] = None, tol: Optional[float] = None,
                   max_steps: Optional[int] = None, seed: int = 0, progress: bool = True,
                   setup: Optional[PresetSetup] = None, **stop) -> CMeasurement:
    """:func:`measure_c` for the setup of a sweep ``spec`` (:class:`l2lab.sweep.SweepSpec`): its
    model, data, batch size, loss, augmentation and measurement density, so that c is measured
    as the sweep it replaces trains. None means the spec's value: eta its middle learning rate,
    momentum its momentum, tol its ``t_star_tol`` (comparable with the sweep's recorded t*),
    max_steps its ``max_steps``. ``setup``: a :func:`spec_setup` of ``spec`` already built;
    ``stop``: patience, min_below.
    """
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
                     augment=_train.augmentation() if spec.augment else None, seed=seed,
                     progress=progress, **stop)


def measure_c_preset(arch: str, scale: str, *, setup: Optional[PresetSetup] = None, **kwargs) -> CMeasurement:
    """:func:`measure_c_spec` for ``l2lab.sweep.preset(arch, scale)`` (0.005 tolerance but for FC
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


# ----------------------------------------------------------------------------- CLI

def _cli_type(what: str, check: Callable, parse: Callable = float):
    """argparse ``type=``: ``check(parse(text))`` (see :func:`l2lab._checks.cli_type`)."""
    return _checks.cli_type(what, parse, check)


def _parser() -> argparse.ArgumentParser:
    c = _checks
    p = argparse.ArgumentParser(prog="python -m l2lab.predict", description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="fc", choices=list(ARCHS))
    p.add_argument("--scale", default="tiny", choices=list(SCALES))
    p.add_argument("--budget", required=True, type=_cli_type("an integer", lambda v: c.positive_int("budget", v), int),
                   help="training budget T in SGD steps (> 0)")
    p.add_argument("--schedule", default="constant", choices=list(_train.SCHEDULES),
                   help="learning-rate schedule of the budgeted run; paper: lam_pred = c / T1, T1 = 0.3 T")
    p.add_argument("--momentum", type=_cli_type("a number", lambda v: c.real("momentum", v, minimum=0.0, maximum=1.0,
                                                                              open_maximum=True)),
                   help="heavy-ball momentum in [0, 1) (default: the preset's)")
    p.add_argument("--eta", type=_cli_type("a number", lambda v: c.positive_float("eta", v)),
                   help="learning rate of the measurement (> 0; default: the preset's middle one)")
    p.add_argument("--lam", default=DEFAULT_LAM, type=_cli_type("a number", lambda v: c.positive_float("lam", v)),
                   help=f"the large L2 parameter of the measurement (> 0; default {DEFAULT_LAM})")
    p.add_argument("--tol", type=_cli_type("a number", lambda v: c.nonneg_float("tol", v)),
                   help="t* tolerance in accuracy (>= 0; default: the preset's t_star_tol)")
    p.add_argument("--max-steps", type=_cli_type("an integer", lambda v: c.positive_int("max_steps", v), int),
                   help="stop the measurement here if the peak is not yet certain (default: the preset's)")
    p.add_argument("--seed", default=0, type=_cli_type("an integer", lambda v: c.nonneg_int("seed", v), int))
    p.add_argument("--no-progress", action="store_true")
    return p


def _report(r: CMeasurement, a: argparse.Namespace, n_lams: int) -> None:
    """Print c, lam_pred, 2c/T (or c/T1, 2c/T1) and the cost of the measurement, also as a
    fraction of the lam-tuning sweep it replaces (``n_lams`` runs of ``--budget`` steps)."""
    paper = a.schedule == "paper"
    t1 = first_decay_step(a.budget, a.schedule) if paper else None
    name, at = ("T1", f"T1 = {t1}, T = {a.budget}") if paper else ("T", f"T = {a.budget}")
    flag = "" if r.certain else "   [peak NOT certain: stopped at --max-steps]"
    rows = [("measured at", f"eta={r.eta:g} lam={r.lam:g} momentum={r.momentum:g}, constant learning rate"),
            ("t*", f"{r.t_star:.0f} steps (within {r.tol:g} of peak test accuracy {r.peak_accuracy:.4f}){flag}"),
            ("c = t* lam", f"{r.c:.4g}"),
            ("c' = t* eta lam", f"{r.c_prime:.4g}"),
            (f"lam_pred = c/{name}", f"{predict_lambda(r.c, a.budget, t1):.4g}   ({at})"),
            (f"2c/{name} (SM C.3)", f"{predict_lambda(2 * r.c, a.budget, t1):.4g}"),
            ("cost", f"{r.steps_run} steps, {len(r.curve.steps)} measurements, {r.wall_time:.1f} s"),
            ("cost / budget", f"{r.steps_run / a.budget:.3g}"),
            ("cost / sweep", f"{r.steps_run / (n_lams * a.budget):.3g}   (tuning sweep: {n_lams} lams x T steps)")]
    for k, v in rows:
        print(f"{k:<18} {v}")


def main(argv: Optional[Sequence[str]] = None) -> CMeasurement:
    """``python -m l2lab.predict``: measure c for a preset, print lam_pred for ``--budget``.
    Bad options exit with status 2 and a one-line argparse error before any training; a
    diverged measurement prints why and exits with status 1."""
    p = _parser()
    a = p.parse_args(argv)
    try:
        setup = preset_setup(a.arch, a.scale, a.seed)
    except FileNotFoundError as e:
        p.error(f"argument --scale: {' '.join(str(e).split())}")
    r = measure_c_preset(a.arch, a.scale, eta=a.eta, lam=a.lam, momentum=a.momentum, tol=a.tol,
                         max_steps=a.max_steps, seed=a.seed, progress=not a.no_progress, setup=setup)
    if r.diverged or not math.isfinite(r.c) or r.c <= 0:
        why = "diverged" if r.diverged else f"gave t* = {r.t_star}"
        print(f"the measurement at eta={r.eta:g} lam={r.lam:g} {why} after {r.steps_run} steps "
              f"({r.wall_time:.1f} s): no prediction; try a smaller --eta or --lam", file=sys.stderr)
        raise SystemExit(1)
    _report(r, a, len(setup.spec.lams))
    return r


if __name__ == "__main__":
    main()
