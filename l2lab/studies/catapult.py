"""MSE training and the catapult (SM C.4, Figure S5): the critical learning rate and what the
chapter "MSE and the catapult" reads off its runs.

The engine's MSE loss (:func:`l2lab.train.mse_loss`) is ``L = 1/(2 K N) sum_i ||f(x_i) - y_i||^2``
over N samples and K outputs, plus ``lam/2 ||theta||^2``. Linearised around the initial
parameters its Hessian is ``J^T J / (K N) + lam I`` (``J``: the ``(N K, P)`` Jacobian of the
outputs), whose top eigenvalue is ``lambda_max(Theta) / (K N) + lam`` with ``Theta = J J^T`` the
``(N K, N K)`` neural tangent kernel on the training set. Full-batch gradient descent on the
linearised model is stable iff

    eta < eta_crit = 2 / (lambda_max(Theta) / (K N) + lam).

Above ``eta_crit`` a wide network does not diverge at once: the loss first grows, the kernel
shrinks until ``eta`` is stable again, and training proceeds in a flatter region (the catapult
of Lewkowycz et al. 2020). With the per-output kernel of :func:`l2lab.theory.kernels.ntk` (the full
kernel is ``Theta (x) I_K`` at infinite width) the same bound is
``kernels.max_learning_rate(Theta / K, lam=lam, normalize="mean")``: :func:`ntk_critical_learning_rate`.

* :func:`ntk_critical_learning_rate` -- ``eta_crit`` from a per-output ``(N, N)`` kernel (analytic).
* :func:`ntk_top_eigenvalue` -- ``lambda_max`` of the full empirical NTK of a finite network at
  given parameters, by Lanczos iteration on ``v -> J J^T v`` (no kernel matrix is formed).
* :func:`critical_learning_rate` -- ``eta_crit`` from that eigenvalue.
* :func:`accuracy_at_fit` -- the test accuracy at the first measured step with training accuracy 1.
* :func:`loss_minimum` -- where the training loss is smallest, and how much it rises after.
* :func:`early_loss_peak` -- the largest training loss in the first steps over the initial one
  (above 1: the loss rose before it fell, the catapult's signature).
* :func:`summarize` -- all of it for each record of a sweep; :func:`spread` of a column;
  :func:`by_seed` -- a column as a (seeds, learning rates) array.
* :func:`accuracy_verdict`, :func:`loss_minimum_verdict` -- the chapter's verdicts on SM C.4's
  two claims, each with its criterion in the docstring.
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, NamedTuple, Sequence, Tuple

import numpy as np

from l2lab import _checks
from l2lab import measure as _measure

__all__ = ["ntk_critical_learning_rate", "ntk_top_eigenvalue", "critical_learning_rate",
           "FitPoint", "accuracy_at_fit", "LossMinimum", "loss_minimum", "early_loss_peak",
           "CatapultRow", "summarize", "spread", "AccuracyVerdict", "accuracy_verdict",
           "loss_minimum_verdict", "by_seed"]


# ----------------------------------------------------------------------------- critical eta

def ntk_critical_learning_rate(ntk_train_train, num_classes: int, *, lam: float = 0.0) -> float:
    """``eta_crit = 2 / (lambda_max(Theta) / (K N) + lam)`` for the engine's MSE loss.

    ntk_train_train: ``(N, N)`` symmetric per-output NTK on the training set (as
    :func:`l2lab.theory.kernels.ntk` returns it; the full kernel is ``Theta (x) I_K``).
    num_classes: K >= 1. lam: the L2 coefficient (>= 0).
    Computed by :func:`l2lab.theory.kernels.max_learning_rate` (``Theta / K``, ``normalize="mean"``),
    which takes the eigenvalue with ``numpy.linalg.eigvalsh``. Returns a float (``inf`` for a
    zero kernel and ``lam = 0``).
    """
    k = _checks.positive_int("num_classes", num_classes)
    lam = _checks.nonneg_float("lam", lam)
    try:
        theta = np.asarray(ntk_train_train, dtype=np.float64)
    except (TypeError, ValueError):
        raise _checks.bad_type("ntk_train_train", "must be a (N, N) array of real numbers") from None
    if theta.ndim != 2 or theta.shape[0] != theta.shape[1] or theta.shape[0] == 0:
        raise _checks.bad_value("ntk_train_train", f"must be a square (N, N) matrix, got shape {theta.shape}")
    from l2lab import kernels as _kernels     # neural-tangents: imported only when needed

    return _kernels.max_learning_rate(theta / k, lam=lam, normalize="mean")


def critical_learning_rate(top_eigenvalue: float, n_train: int, num_classes: int, *,
                           lam: float = 0.0) -> float:
    """``2 / (top_eigenvalue / (K N) + lam)``: ``eta_crit`` from the top eigenvalue of the full
    ``(N K, N K)`` NTK (e.g. :func:`ntk_top_eigenvalue`) for the engine's MSE loss.

    top_eigenvalue: >= 0; n_train: N >= 1; num_classes: K >= 1; lam >= 0. ``inf`` if both
    the eigenvalue and ``lam`` are 0.
    """
    top = _checks.nonneg_float("top_eigenvalue", top_eigenvalue)
    n = _checks.positive_int("n_train", n_train)
    k = _checks.positive_int("num_classes", num_classes)
    lam = _checks.nonneg_float("lam", lam)
    curvature = top / (k * n) + lam
    return math.inf if curvature == 0 else 2.0 / curvature


def ntk_top_eigenvalue(apply_fn: Callable, params: Any, x, *, num_iters: int = 40,
                       seed: int = 0) -> float:
    """Largest eigenvalue of the empirical NTK ``Theta = J J^T`` of ``apply_fn`` at ``params``
    on the inputs ``x``, over all N samples and K outputs (the ``(N K, N K)`` kernel, not the
    trace over outputs), by Lanczos iteration with full reorthogonalisation on the map
    ``v -> J (J^T v)`` (one ``jax.vjp`` and one ``jax.jvp`` per iteration; no Jacobian or kernel
    matrix is formed, so it costs about ``2 num_iters`` forward passes over ``x``).

    apply_fn: ``apply_fn(params, x) -> (N, K)`` (or ``(N,)``) outputs; params: a pytree; x: inputs
    ``(N, ...)``. num_iters: Lanczos steps (>= 1; capped at N K; the top eigenvalue of a kernel
    with a clear gap converges in a few tens). seed: start vector. Returns a float.
    Computed in float32 (relative error ~1e-6), JAX's default precision.
    """
    import jax
    import jax.numpy as jnp

    if not callable(apply_fn):
        raise _checks.bad_type("apply_fn", f"must be callable, got {type(apply_fn).__name__}")
    num_iters = _checks.positive_int("num_iters", num_iters)
    seed = _checks.nonneg_int("seed", seed)
    try:
        xs = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise _checks.bad_type("x", "must be an array of real numbers (N, ...)") from None
    if xs.ndim < 1 or xs.shape[0] == 0:
        raise _checks.bad_value("x", f"must have shape (N, ...) with N >= 1, got {xs.shape}")
    if not np.all(np.isfinite(xs)):
        raise _checks.bad_value("x", "contains non-finite values")
    xs = jnp.asarray(xs)
    f = lambda p: apply_fn(p, xs)
    out, vjp = jax.vjp(f, params)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise _checks.bad_value("apply_fn", f"must return floating outputs, got {out.dtype}")

    @jax.jit
    def matvec(v):
        (u,) = vjp(v.reshape(out.shape).astype(out.dtype))
        return jax.jvp(f, (params,), (u,))[1].reshape(-1)

    dim = int(np.prod(out.shape))
    m = min(num_iters, dim)
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(dim)
    q /= np.linalg.norm(q)
    basis, alphas, betas = [q], [], []
    for j in range(m):
        w = np.asarray(matvec(jnp.asarray(basis[-1], out.dtype)), np.float64)
        alphas.append(float(basis[-1] @ w))
        qs = np.asarray(basis)
        w -= qs.T @ (qs @ w)              # full reorthogonalisation (twice is enough)
        w -= qs.T @ (qs @ w)
        beta = float(np.linalg.norm(w))
        if j == m - 1 or beta <= 1e-10 * max(abs(alphas[0]), 1e-30):
            break
        betas.append(beta)
        basis.append(w / beta)
    t = np.diag(alphas) + np.diag(betas[: len(alphas) - 1], 1) + np.diag(betas[: len(alphas) - 1], -1)
    return float(np.linalg.eigvalsh(t)[-1])


# ----------------------------------------------------------------------------- curves

class FitPoint(NamedTuple):
    """``step``: first measured step with training error 0 (NaN if none); ``test_accuracy`` there."""

    step: float
    test_accuracy: float


def accuracy_at_fit(steps, train_error, test_accuracy) -> FitPoint:
    """The test accuracy at the first measured step where the training accuracy is 1.

    steps: (M,) finite non-decreasing step counts; train_error, test_accuracy: (M,) curves of a
    run (NaN after divergence). Returns :class:`FitPoint` (NaN, NaN) if the run never fits.
    """
    s = _checks.curve("steps", steps)
    err = _checks.curve("train_error", train_error)
    acc = _checks.curve("test_accuracy", test_accuracy)
    _checks.same_length("steps", s, "test_accuracy", acc)
    step = _measure.steps_to_fit(s, err)          # checks steps and train_error
    if math.isnan(step):
        return FitPoint(float("nan"), float("nan"))
    i = int(np.flatnonzero(np.isfinite(err) & (err <= 0.0))[0])
    return FitPoint(float(step), float(acc[i]))


class LossMinimum(NamedTuple):
    """``step``, ``value``: where the loss curve is smallest (first such point); ``final``: its
    last finite value; ``rise = final / value`` (1: no rise after the minimum). NaN if the curve
    has no finite entry."""

    step: float
    value: float
    final: float
    rise: float


def loss_minimum(steps, loss) -> LossMinimum:
    """Minimum of a training-loss curve and its rise after it (SM C.4: with L2 the training MSE
    has a minimum and then increases, at ``t ~ 1/(eta lam)`` steps).

    steps: (M,) finite non-decreasing; loss: (M,) (NaN ignored). Returns :class:`LossMinimum`.
    """
    s = _checks.nondecreasing_curve("steps", steps)
    v = _checks.curve("loss", loss)
    _checks.same_length("steps", s, "loss", v)
    ok = np.flatnonzero(np.isfinite(v))
    if ok.size == 0:
        nan = float("nan")
        return LossMinimum(nan, nan, nan, nan)
    i = int(ok[np.argmin(v[ok])])
    value, final = float(v[i]), float(v[ok[-1]])
    return LossMinimum(float(s[i]), value, final, final / value if value > 0 else float("nan"))


def early_loss_peak(steps, loss, until: float) -> float:
    """``max(loss[steps <= until]) / loss[0]``: above 1 when the training loss rose above its
    initial value during the first ``until`` steps (the catapult), 1 when it only fell.

    steps: (M,) finite non-decreasing starting at the initial point; loss: (M,) with a finite
    positive ``loss[0]``; until: >= 0. ``inf`` if the run diverged in that window (a NaN loss
    there), as a diverging loss rises without bound.
    """
    s = _checks.nondecreasing_curve("steps", steps)
    v = _checks.curve("loss", loss)
    _checks.same_length("steps", s, "loss", v)
    until = _checks.nonneg_float("until", until)
    if not (np.isfinite(v[0]) and v[0] > 0):
        raise _checks.bad_value("loss", f"must start with a finite positive value, got {v[0]}")
    window = v[s <= until]
    if not np.all(np.isfinite(window)):
        return float("inf")
    return float(np.max(window) / v[0])


# ----------------------------------------------------------------------------- records

class CatapultRow(NamedTuple):
    """One run of an MSE sweep, as :func:`summarize` reads it (floats; NaN where undefined):
    eta, lam, steps (budget), fit_step and acc_at_fit (:func:`accuracy_at_fit`),
    peak_accuracy (max test accuracy over the run), final_accuracy, loss_min_step, loss_min,
    loss_final, loss_rise (:func:`loss_minimum`), early_peak (:func:`early_loss_peak`),
    diverged (bool)."""

    eta: float
    lam: float
    steps: int
    fit_step: float
    acc_at_fit: float
    peak_accuracy: float
    final_accuracy: float
    loss_min_step: float
    loss_min: float
    loss_final: float
    loss_rise: float
    early_peak: float
    diverged: bool


def summarize(records: Sequence[Any], *, early_steps: float = 20.0) -> List[CatapultRow]:
    """:class:`CatapultRow` of each :class:`l2lab.sweep.Record` (sorted by lam, then eta).

    records: non-empty sequence of sweep records; early_steps: the window of
    :func:`early_loss_peak` (>= 0).
    """
    from l2lab import sweep as _sweep

    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence) or len(records) == 0:
        raise _checks.bad_value("records", "must be a non-empty sequence of l2lab.sweep.Record")
    early_steps = _checks.nonneg_float("early_steps", early_steps)
    rows = []
    for r in records:
        if not isinstance(r, _sweep.Record):
            raise _checks.bad_type("records", f"must hold l2lab.sweep.Record, got {type(r).__name__}")
        res = r.result
        fit = accuracy_at_fit(res.steps, res.train_error, res.test_accuracy)
        mn = loss_minimum(res.steps, res.train_loss)
        acc = res.test_accuracy
        final = float(acc[-1]) if np.isfinite(acc[-1]) else float("nan")
        rows.append(CatapultRow(
            eta=float(r.config.eta), lam=float(r.config.lam), steps=int(r.config.steps),
            fit_step=fit.step, acc_at_fit=fit.test_accuracy, peak_accuracy=float(r.peak_accuracy),
            final_accuracy=final, loss_min_step=mn.step, loss_min=mn.value, loss_final=mn.final,
            loss_rise=mn.rise, early_peak=early_loss_peak(res.steps, res.train_loss, early_steps),
            diverged=bool(res.diverged)))
    return sorted(rows, key=lambda row: (row.lam, row.eta))


def spread(values) -> float:
    """``max - min`` of the finite entries of ``values`` (1-D, non-empty); NaN if fewer than one."""
    v = _checks.curve("values", values)
    v = v[np.isfinite(v)]
    return float(v.max() - v.min()) if v.size else float("nan")


# ----------------------------------------------------------------------------- verdicts

class AccuracyVerdict(NamedTuple):
    """SM C.4's first claim judged by :func:`accuracy_verdict`: ``word`` (one of
    :data:`l2lab.claims.VERDICTS`), ``spread_at_fit`` and ``spread_with_l2`` (max - min over eta
    of the seed-mean accuracies), ``standard_error`` (of one accuracy on the test set), and
    ``reason``, a short phrase with the deciding numbers; ``flattest_seed``: the smallest
    spread at fit of one seed (or of the means, if smaller)."""

    word: str
    spread_at_fit: float
    spread_with_l2: float
    standard_error: float
    reason: str
    flattest_seed: float


def _seed_mean(name: str, values) -> np.ndarray:
    """``(E,)`` mean over seeds of ``(E,)`` or ``(S, E)`` accuracies (NaN ignored)."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise _checks.bad_type(name, "must be an array of accuracies (NaN: no value)") from None
    if v.ndim not in (1, 2) or v.shape[-1] < 2:
        raise _checks.bad_value(name, f"must be (E,) or (S, E) with E >= 2, got shape {v.shape}")
    if not np.all((v[np.isfinite(v)] >= 0) & (v[np.isfinite(v)] <= 1)):
        raise _checks.bad_value(name, "accuracies must lie in [0, 1]")
    v = np.atleast_2d(v)
    ok = np.isfinite(v).any(axis=0)
    out = np.full(v.shape[1], np.nan)
    out[ok] = np.nanmean(v[:, ok], axis=0)
    return out


def accuracy_verdict(at_fit, with_l2, n_test: int, *, resolvable: float = 3.0,
                     flatten: float = 0.5) -> AccuracyVerdict:
    """Does L2 flatten the learning-rate dependence of the test accuracy (SM C.4, Figure S5)?

    at_fit: test accuracy at the first step with training accuracy 1, without L2, one per
    learning rate, ``(E,)`` or ``(S, E)`` for S seeds (averaged over seeds); with_l2: the best
    test accuracy with L2 within ``t = 1/(eta lam)`` steps, same layout (its own seeds);
    n_test: test images (>= 1).

    Criterion: ``se = sqrt(p (1 - p) / n_test)`` at the mean accuracy at fit; spreads are
    max - min over eta, of the seed means (NaN, e.g. a seed that never fitted or diverged at
    that eta, ignored) and of each seed alone. The paper's "strong dependence" must be visible
    first: if the spread of the seed means at fit is at most ``resolvable`` (3) ``se``, the
    verdict is ``"not at this scale"``. Otherwise it is ``"reproduced"`` when the spread with
    L2 is at most ``flatten`` (1/2) of the spread at fit of the seed means *and* of every seed
    with two or more values, ``"partly"`` when it is smaller than the seed means' spread but
    not that much, and ``"contradicted"`` when it is not smaller. Fewer than two learning rates
    with a value (at fit or with L2: no run fitted, say) is ``"not at this scale"`` with NaN
    spreads.
    """
    fit, l2 = _seed_mean("at_fit", at_fit), _seed_mean("with_l2", with_l2)
    if fit.shape != l2.shape:
        raise _checks.bad_value("with_l2", f"needs one value per learning rate of at_fit "
                                           f"({fit.size}), got {l2.size}")
    n = _checks.positive_int("n_test", n_test)
    resolvable = _checks.positive_float("resolvable", resolvable)
    flatten = _checks.real("flatten", flatten, minimum=0.0, maximum=1.0)
    if np.isfinite(fit).sum() < 2 or np.isfinite(l2).sum() < 2:    # nothing to compare over eta
        return AccuracyVerdict("not at this scale", math.nan, math.nan, math.nan,
                               f"fewer than two learning rates have an accuracy at fit "
                               f"({int(np.isfinite(fit).sum())}) and with L2 "
                               f"({int(np.isfinite(l2).sum())})", math.nan)
    p = float(np.nanmean(fit))
    se = math.sqrt(p * (1 - p) / n)
    s_fit, s_l2 = spread(fit), spread(l2)
    rows = np.atleast_2d(np.asarray(at_fit, dtype=np.float64))
    per_seed = [spread(r) for r in rows if np.isfinite(r).sum() >= 2]
    s_min = min(per_seed + [s_fit])
    if s_fit <= resolvable * se:
        word = "not at this scale"
    elif s_l2 <= flatten * s_min:
        word = "reproduced"
    else:
        word = "partly" if s_l2 < s_fit else "contradicted"
    reason = (f"spread over η {s_fit:.3f} at fit (seed mean; {s_min:.3f} in the flattest "
              f"seed), {s_l2:.3f} with L2 (one standard error {se:.3f})")
    return AccuracyVerdict(word, s_fit, s_l2, se, reason, s_min)


def loss_minimum_verdict(rows: Sequence[CatapultRow], *, min_rise: float = 1.001,
                         order: Tuple[float, float] = (0.1, 3.0)) -> str:
    """Does the training MSE with L2 have a minimum after which it rises, at ``t ~ 1/(eta lam)``
    (SM C.4, Figure S5)?

    rows: :func:`summarize` rows of runs with ``lam > 0`` (non-empty). A run *shows* the
    minimum when it did not diverge, its smallest training loss comes before its last step
    (``loss_min_step < steps``), the loss ends at least ``min_rise`` (0.1%) above it, and the
    minimum lies at ``eta lam t`` within ``order`` (an order of magnitude around 1).
    Criterion: ``"reproduced"`` when every run shows it, ``"partly"`` when some do,
    ``"not at this scale"`` when none does.
    """
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) or not rows:
        raise _checks.bad_value("rows", "must be a non-empty sequence of CatapultRow")
    min_rise = _checks.real("min_rise", min_rise, minimum=1.0)
    lo, hi = (_checks.positive_float("order", v) for v in order)
    shows = []
    for i, r in enumerate(rows):
        if not isinstance(r, CatapultRow):
            raise _checks.bad_type("rows", f"item {i} is a {type(r).__name__}, not a CatapultRow")
        if not r.lam > 0:
            raise _checks.bad_value("rows", f"item {i} has lam = {r.lam:g}; the claim is about lam > 0")
        t = r.eta * r.lam * r.loss_min_step
        shows.append(bool(not r.diverged and r.loss_min_step < r.steps
                          and r.loss_rise >= min_rise and lo <= t <= hi))
    return "reproduced" if all(shows) else "partly" if any(shows) else "not at this scale"


def by_seed(records: Sequence[Any], field: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(seeds (S,), etas (E,), values (S, E))``: the :class:`CatapultRow` column ``field`` of
    every run of a one-lam sweep, one row per seed (NaN where a seed lacks a learning rate).

    records: non-empty sweep records, all with the same lam; field: a numeric field of
    :class:`CatapultRow` (e.g. ``"acc_at_fit"``, ``"peak_accuracy"``).
    """
    _checks.one_of("field", field, [f for f in CatapultRow._fields if f != "diverged"])
    rows = summarize(records)                     # checks the records
    if len({r.lam for r in rows}) != 1:
        raise _checks.bad_value("records", "must all have the same lam")
    seeds = np.array(sorted({int(r.config.seed) for r in records}))
    etas = np.array(sorted({r.eta for r in rows}))
    out = np.full((seeds.size, etas.size), np.nan)
    for rec in records:
        row = summarize([rec])[0]
        out[np.searchsorted(seeds, int(rec.config.seed)),
            np.searchsorted(etas, row.eta)] = getattr(row, field)
    return seeds, etas, out
