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
* :func:`summarize` -- all of it for each record of a sweep; :func:`spread` of a column.
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, NamedTuple, Sequence

import numpy as np

from l2lab import _checks
from l2lab import measure as _measure

__all__ = ["ntk_critical_learning_rate", "ntk_top_eigenvalue", "critical_learning_rate",
           "FitPoint", "accuracy_at_fit", "LossMinimum", "loss_minimum", "early_loss_peak",
           "CatapultRow", "summarize", "spread"]


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
