"""One MSE eigenmode of Eq. (1), exactly: the paper's Eqs. (2) and (3) (Theorem 2, SM B).

For the MSE loss (``loss = (f - y)^2 / 2`` summed over the training set) Eq. (1) decouples in the
eigenbasis of ``Theta_0``; every mode obeys the scalar linear ODE

    df/dt = -gamma exp(-a t) (f - y) - k lam f,      a = 2 (k-1) lam,     f(0) = f0,

where ``exp(-a t) = Theta_t / Theta_0`` is the kernel decay of Eq. (2) (:func:`kernel_decay`).
Its solution is Eq. (3), evaluated by :func:`mse_mode`.

Numerics of Eq. (3).  Written naively, Eq. (3) contains ``exp(gamma / (2 (k-1) lam))`` which
overflows for ``gamma / lam > ~1400``.  We use instead the decomposition

    f(t) = y G(gamma_t) + (f0 - y G(gamma)) exp(-Phi(t)),
    gamma_t = gamma exp(-a t),
    Phi(t) = int_0^t (gamma_s + k lam) ds = gamma (1 - exp(-a t)) / a + k lam t,

where ``y G(gamma_t)`` is the particular solution that stays bounded, ``G`` in ``[0, 1]`` a
function of ``gamma / lam`` and ``k`` only, tabulated once per ``k`` (:mod:`l2lab.theory.tables`).
Any particular solution would do -- the difference is a multiple of the homogeneous solution
``exp(-Phi)`` -- but this one never overflows.  A mode then costs one ``exp`` and a table lookup
per point.  Where ``f`` is a tiny difference of the two terms (``t`` so small that
``J(t) = f - f0 exp(-Phi)`` is below 1e-6 of ``y G``, and ``(gamma + |a| + k lam) t < 1e-3``) a
third-order Taylor series of ``J`` in ``t`` is used instead, so tiny times keep their relative
accuracy.

Both functions take and return float64 numpy arrays and broadcast like numpy ufuncs.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from l2lab import _checks
from l2lab.theory.tables import GTable, g_eval, g_interp, g_table

__all__ = ["kernel_decay", "mse_mode", "spectrum_loss_minimum"]

_CHUNK = 32768  # elements per block: keeps the temporaries in cache
_TAYLOR_RATE_T = 1e-3  # Taylor series valid (error < 1e-10) for (gamma + |a| + k lam) t below this
_TAYLOR_J_REL = 1e-6  # ... used where J / G(gamma) is below this (cancellation in the main form)
_EXP_FLOOR = -700.0  # exp(-Phi) below 1e-304 is irrelevant; avoids the slow denormal path


def kernel_decay(t, lam, k) -> np.ndarray:
    """Kernel decay factor ``Theta_t / Theta_0 = exp(-2 (k-1) lam t)`` (Eq. 2 / S11).

    Args:
      t: times ``>= 0`` (any shape).
      lam: L2 coefficient ``>= 0``.
      k: degree of homogeneity ``>= 0`` (k = 1: linear model, no decay; k < 1: the kernel grows).

    Returns:
      float64 array of the broadcast shape of the arguments.
    """
    t = _checks.real_array("t", t, nonneg=True)
    lam = _checks.real_array("lam", lam, nonneg=True)
    k = _checks.real_array("k", k, nonneg=True)
    _checks.broadcast_shape(t=t, lam=lam, k=k)
    with np.errstate(over="ignore"):
        return np.exp(-2.0 * (k - 1.0) * lam * t)


def _lift(x: np.ndarray, ndim: int) -> np.ndarray:
    """``x`` reshaped to ``ndim`` dimensions by leading 1s (numpy broadcasting's alignment)."""
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


def _factors(tab: GTable, t, gamma, lam, k: float, y, f0) -> SimpleNamespace:
    """The per-time and per-mode factors of one ``k``, each on its own (small) shape.

    Arguments are float64 arrays of equal ``ndim`` that broadcast together. Returns ``t``, ``y``,
    ``f0``, ``lzs = log(gamma / lam) / h`` and ``ats = a t / h`` (table units), ``big_b``
    (``V = gamma big_b``), ``kt = k lam t``, ``neg_gamma``, ``g0 = G(gamma)``,
    ``c0 = f0 - y g0``, the Taylor threshold ``thr`` and coefficients ``c1, c2, c3`` of ``J``,
    and the scalar bounds ``ats_lo, ats_hi, b_hi, kt_hi`` used to skip clipping.
    """
    a = 2.0 * (k - 1.0) * lam
    kl = k * lam
    at = a * t
    safe_a = np.where(a == 0.0, 1.0, a)
    big_b = np.where(a == 0.0, t, -np.expm1(-at) / safe_a)  # V = gamma * big_b
    np.minimum(big_b, 1e300, out=big_b)
    kt = kl * t
    lz = np.where(gamma > 0.0, np.log(gamma) - np.log(lam), -np.inf)
    g0 = g_interp(tab, lz)
    lzs, ats = lz * tab.inv_h, at * tab.inv_h  # exact (inv_h is a power of 2)
    # Taylor region: t below a per-mode threshold (0 where gamma = 0: there f is exact).
    # There J(t) = int_0^t gamma_s exp(Phi(s) - Phi(t)) ds = t (c1 + t (c2 + t c3)) + O(t^4),
    # J(0) = 0 and the derivatives at 0 follow from differentiating
    # J' = gamma_t (1 - J) - k lam J.
    rate = gamma + np.abs(a) + kl
    safe_gamma = np.where(gamma > 0.0, gamma, 1.0)
    thr = np.where(gamma > 0.0,
                   np.minimum(_TAYLOR_RATE_T / rate, _TAYLOR_J_REL * g0 / safe_gamma), 0.0)
    r1 = gamma + a + kl
    return SimpleNamespace(
        t=t, y=y, f0=f0, lzs=lzs, ats=ats, big_b=big_b, kt=kt, neg_gamma=-gamma, g0=g0,
        c0=f0 - y * g0, thr=thr, c1=gamma, c2=-0.5 * gamma * r1,
        c3=gamma * (a * a + 2.0 * a * gamma + (gamma + kl) * r1) / 6.0,
        ats_lo=float(np.min(ats)), ats_hi=float(np.max(ats)),
        b_hi=float(np.max(big_b)), kt_hi=float(np.max(kt)))


def _block(o: np.ndarray, tab: GTable, fac: SimpleNamespace, s: int, e: int,
           buf_w: np.ndarray, buf_e: np.ndarray) -> None:
    """Rows ``s:e`` (axis 0) of the mode into ``o`` (``out[s:e]``), with scratch buffers of at
    least ``e - s`` rows: ``f = y G(gamma_t) + (f0 - y G(gamma)) exp(-Phi)``, or
    ``f0 exp(-Phi) + y J`` with ``J`` from the Taylor series where ``t`` is below threshold."""
    def part(name):
        v = getattr(fac, name)
        return v if v.shape[0] == 1 else v[s:e]

    v = buf_w[: e - s]
    lzp = part("lzs")
    np.subtract(lzp, part("ats"), out=v)  # log(gamma_t / lam) / h
    clip = not (np.min(lzp) - fac.ats_hi >= tab.v_lo and np.max(lzp) - fac.ats_lo <= tab.v_hi)
    gt = g_eval(tab, v, clip=clip)
    ex = buf_e[: e - s]
    ngp = part("neg_gamma")
    np.multiply(ngp, part("big_b"), out=ex)
    ex -= part("kt")
    if -np.min(ngp) * fac.b_hi + fac.kt_hi > -_EXP_FLOOR:
        np.maximum(ex, _EXP_FLOOR, out=ex)
    np.exp(ex, out=ex)  # exp(-Phi)
    ts, ths = part("t"), part("thr")
    if np.min(ts) < np.max(ths):  # f = f0 exp(-Phi) + y J, J from the series where t < thr
        gt = np.broadcast_to(gt, o.shape).copy() if gt.shape != o.shape else gt
        gt -= part("g0") * ex
        jt = part("c3") * ts
        jt += part("c2")
        jt *= ts
        jt += part("c1")
        jt *= ts
        np.copyto(gt, jt, where=ts < ths)
        np.multiply(gt, part("y"), out=o)
        ex *= part("f0")
    else:  # f = y G(gamma_t) + (f0 - y G(gamma)) exp(-Phi)
        np.multiply(gt, part("y"), out=o)
        ex *= part("c0")
    o += ex


def _mse_mode_one_k(t, gamma, lam, k: float, y, f0) -> np.ndarray:
    """mse_mode for a scalar ``k``; array arguments already validated and broadcastable.

    Computes the mode blockwise along axis 0 (:func:`_block`), with the per-time and per-mode
    factors computed once on their own (small) shapes (:func:`_factors`). Returns a float64
    array of the broadcast shape.
    """
    shape = np.broadcast_shapes(t.shape, gamma.shape, lam.shape, y.shape, f0.shape)
    if not shape:
        return _mse_mode_one_k(t.reshape(1), gamma, lam, k, y, f0).reshape(())
    nd = len(shape)
    t, gamma, lam, y, f0 = (_lift(v, nd) for v in (t, gamma, lam, y, f0))
    out = np.empty(shape)
    if out.size == 0:
        return out
    tab = g_table(k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        fac = _factors(tab, t, gamma, lam, k, y, f0)
        step = max(1, _CHUNK * shape[0] // out.size)
        block = (min(step, shape[0]),) + shape[1:]
        buf_w, buf_e = np.empty(block), np.empty(block)
        for s in range(0, shape[0], step):
            e = min(s + step, shape[0])
            _block(out[s:e], tab, fac, s, e, buf_w, buf_e)
    return out


def mse_mode(t, gamma, lam, k, y, f0=0.0) -> np.ndarray:
    """Exact solution of one MSE eigenmode of Eq. (1) (the paper's Eq. 3).

    Solves ``df/dt = -gamma exp(-2 (k-1) lam t) (f - y) - k lam f`` with ``f(0) = f0``, where
    ``gamma`` is an eigenvalue of ``Theta_0`` and ``y``, ``f0`` the projections of the labels and
    of the initial function on its eigenvector.

    Special cases (all handled by the same code): ``lam = 0``: ``y + (f0 - y) exp(-gamma t)``;
    ``k = 1`` (linear model): ``f -> gamma y / (gamma + lam)``; ``k > 1``: ``f -> 0`` at late
    times (Theorem 2); ``k < 1``: the kernel grows and ``f -> y``; ``gamma = 0``:
    ``f0 exp(-k lam t)``.

    Accuracy (measured against adaptive quadrature of Eq. 3 and tight ODE solves, for real
    ``k`` in [0, 10], ``gamma / lam`` in [1e-3, 1e8], ``t lam`` in [0, 1e3]): absolute error
    below ~1e-10 ``(|y| + |f0|)`` and relative error below ~1e-8, also where ``f`` is tiny (the
    late decay, ``t -> 0``).

    Args:
      t: times ``>= 0``.
      gamma: kernel eigenvalues ``>= 0``.
      lam: L2 coefficients ``>= 0``.
      k: degrees of homogeneity ``>= 0`` (need not be integers; each distinct value builds a
        table once, ~10-30 ms, memoised).
      y: label projections (finite).
      f0: initial function projections (finite), default 0.
      All arguments are real array-likes that broadcast together, e.g. ``t`` shape ``(T,)``
      against ``gamma`` shape ``(M, 1)``.

    Returns:
      float64 array ``f(t)`` with the broadcast shape of the arguments.

    Cost: ~10 ns per point for outer-product shapes such as ``t[None, :]`` against
    ``gamma[:, None]`` (about 15 ``np.exp`` of the same size; see ``python -m l2lab.bench
    theory``); arguments that are already full-size arrays cost several times more.
    """
    t = _checks.real_array("t", t, nonneg=True)
    gamma = _checks.real_array("gamma", gamma, nonneg=True)
    lam = _checks.real_array("lam", lam, nonneg=True)
    k = _checks.real_array("k", k, nonneg=True)
    y = _checks.real_array("y", y)
    f0 = _checks.real_array("f0", f0)
    shape = _checks.broadcast_shape(t=t, gamma=gamma, lam=lam, k=k, y=y, f0=f0)
    kvals = np.unique(k)
    if kvals.size <= 1:
        kv = float(kvals[0]) if kvals.size else 1.0
        res = _mse_mode_one_k(t, gamma, lam, kv, y, f0)
        return res if res.shape == shape else np.broadcast_to(res, shape).copy()
    out = np.empty(shape)
    kb = np.broadcast_to(k, shape)
    args = [np.broadcast_to(v, shape) for v in (t, gamma, lam, y, f0)]
    for kv in kvals:
        sel = kb == kv
        tt, gg, ll, yy, ff = (v[sel] for v in args)
        out[sel] = _mse_mode_one_k(tt, gg, ll, float(kv), yy, ff)
    return out


def spectrum_loss_minimum(t, gammas, lam: float, k: float, y: float = 1.0,
                          f0: float = 0.0) -> tuple[float, float]:
    """The minimum of the training loss of modes with eigenvalues ``gammas`` under Eq. (3).

    The loss is the mean over modes of ``(f_a(t) - y)^2`` (every label mode ``y``, every initial
    mode ``f0``). Returns ``(t_min, loss_min)``: the time on the grid ``t`` at which it is
    smallest (the first, on a tie) and its value there.
    """
    t = _checks.curve("t", t)
    gammas = _checks.curve("gammas", gammas)
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise _checks.bad_value("t", "must be finite and >= 0")
    if np.any(~(gammas > 0)):
        raise _checks.bad_value("gammas", "must be > 0")
    f = mse_mode(t[None, :], gammas[:, None], lam, k, y, f0)
    loss = np.mean((f - y) ** 2, axis=0)
    i = int(np.argmin(loss))
    return float(t[i]), float(loss[i])
