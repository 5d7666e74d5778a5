"""Finite, wide networks trained by full-batch gradient descent: the experiments that test
the infinite-width theory of section 4 (Theorem 1, Figure 5c, SM B.1).

Gradient descent with step ``eta`` on ``L_tot = L + lam/2 ||theta||^2`` approximates gradient
flow at time ``t = step * eta`` (the paper's convention for Figure 5c). Records are taken on a
grid of steps that is dense in ``log t``, so both early learning (``t ~ 1/gamma``) and late
decay (``t ~ 1/lam``) are resolved.

The empirical loss is ``L = sum_x l(x)`` (``normalize="sum"``, the paper's Eq. (1), whose kernel
is ``Theta``) or ``L = (1/N) sum_x l(x)`` (``normalize="mean"``, equivalent to Eq. (1) with the
kernel ``Theta / N``); :func:`theory_kernel_scale` gives the matching factor.
"""
from __future__ import annotations

import math
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks

__all__ = [
    "Trajectory",
    "gradient_descent",
    "record_steps",
    "theory_kernel_scale",
    "KernelDecayRatios",
    "kernel_decay_ratios",
    "kernel_decay_table",
    "trace_ratio",
    "deep_linear_fixed_point",
    "train_deep_linear",
]

_LOSSES = ("mse", "xent")
_NORMALIZE = ("sum", "mean")


class Trajectory(NamedTuple):
    """What :func:`gradient_descent` records.

    Attributes:
      steps: ``(M,)`` int, gradient-descent steps at which records were taken (starts at 0).
      t: ``(M,)`` float, gradient-flow time ``steps * eta``.
      f: ``(M, N, K)`` network outputs on the training inputs.
      loss: ``(M,)`` empirical loss without the L2 term (normalised as requested).
      param_norm: ``(M,)`` ``||theta||_2``.
      ntk_t: ``(R,)`` times at which the empirical NTK was recorded (may be empty).
      ntk: ``(R, N, N)`` empirical NTK (averaged over outputs) at ``ntk_t`` (float64).
      diverged: True if the loss became non-finite (records after that are NaN).
      wall_time: seconds.
    """

    steps: np.ndarray
    t: np.ndarray
    f: np.ndarray
    loss: np.ndarray
    param_norm: np.ndarray
    ntk_t: np.ndarray
    ntk: np.ndarray
    diverged: bool
    wall_time: float


def record_steps(total_steps: int, num: int = 60) -> np.ndarray:
    """Distinct integer steps ``0 = s_0 < ... < s_{M-1} = total_steps``, dense in log(step).

    Args:
      total_steps: last step (>= 1).
      num: approximate number of records (>= 2).
    Returns:
      ``(M,)`` int64 array, ``M <= num + 1``.
    """
    total_steps = _checks.positive_int("total_steps", total_steps)
    num = _checks.integer("num", num, minimum=2)
    grid = np.unique(np.round(np.geomspace(1, total_steps, num)).astype(np.int64))
    return np.concatenate([[0], grid])


def theory_kernel_scale(normalize: str, num_samples: int) -> float:
    """Factor that turns the NTK ``Theta`` into the kernel of Eq. (1) for this loss normalisation."""
    _checks.one_of("normalize", normalize, _NORMALIZE)
    return 1.0 if normalize == "sum" else 1.0 / _checks.positive_int("num_samples", num_samples)


def _compiled_steps(apply_fn: Callable, x, y, *, lam: float, eta: float, loss: str,
                    scale: float):
    """The jitted ``run(params, n)`` (``n`` gradient-descent steps on ``scale * sum_x l(x) +
    lam/2 ||theta||^2``) and ``measure(params) -> (data loss, f (N, K), ||theta||)`` on the
    training set ``x`` ``(N, ...)``, ``y`` ``(N, K)``."""
    def data_loss(p):
        f = apply_fn(p, x)
        if loss == "mse":
            per = 0.5 * jnp.sum((f - y) ** 2, axis=-1)
        else:
            per = -jnp.sum(y * jax.nn.log_softmax(f, axis=-1), axis=-1)
        return scale * jnp.sum(per), f

    def total_loss(p):
        l, _ = data_loss(p)
        sq = sum(jnp.sum(jnp.square(w)) for w in jax.tree_util.tree_leaves(p))
        return l + 0.5 * lam * sq

    grad_fn = jax.grad(total_loss)

    @jax.jit
    def run(p, n):
        def body(_, q):
            g = grad_fn(q)
            return jax.tree_util.tree_map(lambda a, b: a - eta * b, q, g)
        return jax.lax.fori_loop(0, n, body, p)

    @jax.jit
    def measure(p):
        l, f = data_loss(p)
        sq = sum(jnp.sum(jnp.square(w)) for w in jax.tree_util.tree_leaves(p))
        return l, f, jnp.sqrt(sq)

    return run, measure


def gradient_descent(apply_fn: Callable, params, x, y, *, lam: float, eta: float, t_max: float,
                     loss: str = "mse", normalize: str = "sum", num_records: int = 60,
                     ntk_times=(), ntk_implementation: str = "jacobian_contraction"
                     ) -> Trajectory:
    """Train ``apply_fn`` by full-batch gradient descent on ``L + lam/2 ||theta||^2``.

    Args:
      apply_fn: ``apply_fn(params, x) -> (N, K)``.
      params: initial parameter pytree.
      x: ``(N, ...)`` training inputs.
      y: ``(N,)`` or ``(N, K)`` targets (MSE) or one-hot labels (``loss="xent"``).
      lam: L2 coefficient (>= 0).
      eta: learning rate (> 0); time is ``t = step * eta``.
      t_max: gradient-flow time to train for (> 0); ``ceil(t_max / eta)`` steps.
      loss: ``"mse"`` (``l = 1/2 |f - y|^2``) or ``"xent"`` (softmax cross-entropy).
      normalize: ``"sum"`` or ``"mean"`` over samples (see module docstring).
      num_records: approximate number of records on a log-dense grid.
      ntk_times: times at which to record the empirical NTK (snapped to the nearest step).
      ntk_implementation: passed to :func:`l2lab.theory.kernels.empirical_ntk`.

    Returns:
      :class:`Trajectory`. A run whose loss becomes NaN/inf is marked ``diverged`` (not raised).
    """
    if not callable(apply_fn):
        raise TypeError("apply_fn must be callable")
    lam = _checks.nonneg_float("lam", lam)
    eta = _checks.positive_float("eta", eta)
    t_max = _checks.positive_float("t_max", t_max)
    _checks.one_of("loss", loss, _LOSSES)
    _checks.one_of("normalize", normalize, _NORMALIZE)
    x = jnp.asarray(x)
    y = jnp.asarray(y, dtype=x.dtype)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape (N,) or (N, K) with N = {x.shape[0]}, got {y.shape}")
    ntk_times = np.atleast_1d(np.asarray(ntk_times, dtype=np.float64))
    if np.any(~np.isfinite(ntk_times)) or np.any(ntk_times < 0):
        raise ValueError("ntk_times must be finite and >= 0")

    total = max(1, int(math.ceil(t_max / eta)))
    steps = record_steps(total, num_records)
    ntk_steps = np.unique(np.clip(np.round(ntk_times / eta).astype(np.int64), 0, total))
    all_steps = np.union1d(steps, ntk_steps)
    run, measure = _compiled_steps(apply_fn, x, y, lam=lam, eta=eta, loss=loss,
                                   scale=1.0 if normalize == "sum" else 1.0 / x.shape[0])

    if len(ntk_steps):  # only then: neural-tangents stays optional for plain training
        from l2lab.theory.kernels import empirical_ntk

    start = time.perf_counter()
    rec_f, rec_l, rec_n, rec_k, rec_kt = [], [], [], [], []
    p, cur, diverged = params, 0, False
    for s in all_steps:
        if not diverged and s > cur:
            p = run(p, int(s - cur))
            cur = int(s)
        l, f, nrm = measure(p)
        l = float(l)
        if diverged or not math.isfinite(l):
            diverged = True
            l, f, nrm = math.nan, jnp.full(f.shape, jnp.nan), math.nan
        if s in steps:
            rec_l.append(l)
            rec_f.append(np.asarray(f))
            rec_n.append(float(nrm))
        if s in ntk_steps:
            rec_kt.append(s * eta)
            rec_k.append(np.full((x.shape[0],) * 2, np.nan) if diverged else
                         empirical_ntk(apply_fn, p, x, implementation=ntk_implementation))
    n = x.shape[0]
    return Trajectory(
        steps=steps, t=steps * eta, f=np.stack(rec_f), loss=np.asarray(rec_l),
        param_norm=np.asarray(rec_n), ntk_t=np.asarray(rec_kt, dtype=np.float64),
        ntk=np.stack(rec_k) if rec_k else np.zeros((0, n, n)), diverged=diverged,
        wall_time=time.perf_counter() - start)


class KernelDecayRatios(NamedTuple):
    """Measured kernel decay over predicted, at the times the empirical NTK was recorded.

    Attributes:
      t: ``(R,)`` gradient-flow times of the records.
      trace: ``(R,)`` ``tr Theta_t / tr Theta_0`` divided by ``exp(-2 (k-1) lam t)``.
      entry: ``(R,)`` one entry ``Theta_t[i, j] / Theta_0[i, j]`` divided by the same factor.
    """

    t: np.ndarray
    trace: np.ndarray
    entry: np.ndarray


def trace_ratio(traj: Trajectory) -> np.ndarray:
    """``(R,)`` ``tr Theta_t / tr Theta_0`` of ``traj``'s recorded empirical NTK (at
    ``traj.ntk_t``): the measured kernel decay, 1 at the first record."""
    if not isinstance(traj, Trajectory):
        raise TypeError(f"traj must be a wide.Trajectory, got {type(traj).__name__}")
    if traj.ntk.ndim != 3 or traj.ntk.shape[0] == 0:
        raise ValueError("traj holds no empirical NTK (train with ntk_times=...)")
    return np.trace(traj.ntk, axis1=1, axis2=2) / np.trace(traj.ntk[0])


def kernel_decay_ratios(traj: Trajectory, k: float, lam: float,
                        entry: tuple[int, int] = (0, 1)) -> KernelDecayRatios:
    """How well ``traj``'s empirical NTK follows Theorem 1's ``Theta_t = e^{-2(k-1) lam t}
    Theta_0`` (ratio 1: exactly). ``k``: the network's degree of homogeneity; ``lam``: the L2
    coefficient it was trained with; ``entry``: the ``(i, j)`` kernel entry to follow."""
    from l2lab import theory

    trace = trace_ratio(traj)
    k = _checks.nonneg_float("k", k)
    lam = _checks.nonneg_float("lam", lam)
    i, j = (_checks.nonneg_int("entry", v) for v in entry)
    if max(i, j) >= traj.ntk.shape[1]:
        raise ValueError(f"entry {entry} is outside the {traj.ntk.shape[1]}-sample kernel")
    pred = theory.kernel_decay(traj.ntk_t, lam, k)
    return KernelDecayRatios(traj.ntk_t, trace / pred, traj.ntk[:, i, j] / traj.ntk[0, i, j] / pred)


def kernel_decay_table(runs, lam: float) -> str:
    """Text table of :func:`kernel_decay_ratios` for ``runs = {label: (k, Trajectory)}``, one
    column per recorded time (``lam * t`` in the header; all runs must share those times, up to
    the 0.01 the header shows)."""
    if not runs:
        raise ValueError("runs must hold at least one (k, Trajectory)")
    ratios = {label: kernel_decay_ratios(tr, k, lam) for label, (k, tr) in runs.items()}
    times = next(iter(ratios.values())).t
    # times are snapped to each run's own steps: equal up to the table's 0.01 in lam * t
    if any(r.t.shape != times.shape or not np.allclose(lam * r.t, lam * times, rtol=0, atol=0.01)
           for r in ratios.values()):
        raise ValueError("runs must record the NTK at the same times (lam * t within 0.01)")
    row = lambda v: " ".join(f"{x:6.2f}" for x in v)  # noqa: E731
    lines = [f"lam*t      {row(lam * times)}"]
    for label, r in ratios.items():
        lines += [label, f"  trace    {row(r.trace)}", f"  entry    {row(r.entry)}"]
    return "\n".join(lines)


def deep_linear_fixed_point(lam: float, width: int) -> float:
    """SM B.1 fixed point of ``f = n**-1/2 w1 . w0`` (L = 1, one sample x = y = 1, MSE).

    Stationarity of ``1/2 (f - 1)^2 + lam/2 (|w0|^2 + |w1|^2)`` gives ``w0 = c w1`` with
    ``c = (1 - f) / (lam sqrt(n))`` and ``c^2 = 1``, hence ``f = 1 - lam sqrt(n)`` when
    ``lam sqrt(n) < 1`` and the trivial ``f = 0`` otherwise. (The paper's Eq. (S26) prints
    ``lam sqrt(n) = f - 1``; with ``l' = f - y`` the sign is as here, and the tests and the
    book's chapter check it by training.)
    """
    lam = _checks.nonneg_float("lam", lam)
    width = _checks.positive_int("width", width)
    return max(0.0, 1.0 - lam * math.sqrt(width))


def train_deep_linear(key, width: int, lam: float, *, eta: float = 0.05, t_max: float | None = None,
                      num_records: int = 80) -> Trajectory:
    """Train the SM B.1 model ``f = n**-1/2 w1 . w0`` (NTK normalisation, ``w ~ N(0, 1)``) on the
    single sample ``x = y = 1`` by gradient descent; returns the :class:`Trajectory` of ``f``.

    ``t_max`` defaults to ``20 / lam`` (capped at ``2e4``): the approach to the fixed point is
    governed by the L2 time scale.
    """
    lam = _checks.positive_float("lam", lam)
    if t_max is None:
        t_max = min(20.0 / lam, 2e4)
    w = jax.random.normal(key, (2, int(width)))

    def apply_fn(p, x):
        return (jnp.sum(p[0] * p[1]) / jnp.sqrt(p.shape[1]) * x[:, :1])

    x = jnp.ones((1, 1))
    return gradient_descent(apply_fn, w, x, jnp.ones((1,)), lam=lam, eta=eta, t_max=t_max,
                            num_records=num_records)
