"""Gradient-flow theory of L2-regularised wide networks (paper section 4, SM B).

Lewkowycz & Gur-Ari (2020), Theorem 1: for a network whose output is k-homogeneous in its
parameters, trained by gradient flow on ``L = sum_S loss + (lam/2) |theta|^2`` in the
infinite-width limit,

    df/dt     = -exp(-2 (k-1) lam t) sum_S Theta_0(x, x') dloss/df(x') - k lam f(x)     (Eq. 1)
    Theta_t   =  exp(-2 (k-1) lam t) Theta_0                                            (Eq. 2)

For the MSE loss (``loss = (f - y)^2 / 2`` summed over the training set) Eq. (1) decouples in the
eigenbasis of ``Theta_0``; every mode obeys the scalar linear ODE

    df/dt = -gamma exp(-a t) (f - y) - k lam f,      a = 2 (k-1) lam,     f(0) = f0,

whose solution is Theorem 2 / Eq. (3).  This module evaluates it exactly and fast
(:func:`mse_mode`), rotates it back to the training set (:func:`train_set_evolution`) and to
test points (:func:`predict_test`), and integrates the cross-entropy case numerically
(:func:`cross_entropy_evolution`).

Numerics of Eq. (3).  Written naively, Eq. (3) contains ``exp(gamma / (2 (k-1) lam))`` which
overflows for ``gamma / lam > ~1400``.  We use instead the decomposition

    f(t) = y G(gamma_t) + (f0 - y G(gamma)) exp(-Phi(t)),
    gamma_t = gamma exp(-a t),
    Phi(t) = int_0^t (gamma_s + k lam) ds = gamma (1 - exp(-a t)) / a + k lam t,

where ``y G(gamma_t)`` is the particular solution that stays bounded (the mode's *moving target*):

    G(gamma) = int_0^{v_max} exp(-v) (1 + a v / gamma)^(-k lam / a) dv,
    v_max = infinity (a > 0) or gamma / |a| (a < 0)

(substitute ``v = V(t) - V(s)`` in Eq. (3)).  Any particular solution would do -- the
difference is a multiple of the homogeneous solution ``exp(-Phi)`` -- but this one is bounded:
``G`` depends on ``z = gamma / lam`` and ``k`` only and lies in ``[0, 1]``.  Closed forms:
``z / (1 + z)`` (k = 1, so ``f -> gamma y / (gamma + lam)``), ``1 - exp(-z/2)`` (k = 0),
``x e^x E_nu(x) = e^x x^nu Gamma(1 - nu, x)`` for k > 1 with ``x = z / (2 (k-1))`` and
``nu = k / (2 (k-1))`` (k = 2: ``nu = 1``, the exponential integral ``E_1``), and
``x e^{-x} sum_n x^n / (n! (n + m + 1))`` for k < 1 with ``x = z / (2 (1-k))`` and
``m = k / (2 (1-k))``.  (With ``c = gamma_t / a`` the k > 1 form reproduces the incomplete-gamma
expression ``J = e^c c^nu [Gamma(1-nu, c) - Gamma(1-nu, c+V)] = G(gamma_t) - exp(-Phi) G(gamma)``
of the integral in Eq. (3).)  No intermediate quantity overflows.

``G`` is computed once per ``k`` to ~1e-15 (series with the poles of integer ``nu`` cancelled
analytically, continued fraction, positive series or Gauss-Laguerre quadrature: see
:func:`_g_exact`) at Chebyshev-Lobatto points of a grid of step 1/16 in ``log z`` covering
``z`` in ``[1e-304, 1e17 max(k, 1)]``, and stored as a continuous piecewise quartic
(relative error < 1e-10); tables are memoised per ``k`` (``functools.lru_cache``, ~0.5 MB
each, 10-50 ms to build).  A mode then costs one ``exp`` and a table lookup per point.  Where
``f`` is a tiny difference of the two terms (``t`` so small that ``J(t) = f - f0 exp(-Phi)``
is below 1e-6 of ``y G``, and ``(gamma + |a| + k lam) t < 1e-3``) a third-order Taylor series
of ``J`` in ``t`` is used instead, so tiny times keep their relative accuracy.

All functions take and return float64 numpy arrays and broadcast like numpy ufuncs.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from scipy import integrate as _integrate
from scipy import special as _special

from l2lab import _checks

__all__ = [
    "kernel_decay",
    "mse_mode",
    "TrainSetEvolution",
    "train_set_evolution",
    "linear_model_limit",
    "predict_test",
    "CrossEntropyEvolution",
    "cross_entropy_evolution",
    "time_of_min",
    "time_of_max",
]

# --------------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------------


def _real_array(name: str, value, *, nonneg: bool = False) -> np.ndarray:
    """``value`` as a float64 array; TypeError / ValueError naming ``name`` if unusable."""
    try:
        arr = np.asarray(value)
    except Exception as err:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be a real number or array of real numbers") from err
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a real number or array of real numbers, got dtype {arr.dtype}"
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (got nan or inf)")
    if nonneg and np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 (got min {arr.min()!r})")
    return arr


def _broadcast_shape(**arrays: np.ndarray) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in arrays.items())
        raise ValueError(f"arguments do not broadcast together: {shapes}") from None


# --------------------------------------------------------------------------------------------
# Eq. (2)
# --------------------------------------------------------------------------------------------


def kernel_decay(t, lam, k) -> np.ndarray:
    """Kernel decay factor ``Theta_t / Theta_0 = exp(-2 (k-1) lam t)`` (Eq. 2 / S11).

    Args:
      t: times ``>= 0`` (any shape).
      lam: L2 coefficient ``>= 0``.
      k: degree of homogeneity ``>= 0`` (k = 1: linear model, no decay; k < 1: the kernel grows).

    Returns:
      float64 array of the broadcast shape of the arguments.
    """
    t = _real_array("t", t, nonneg=True)
    lam = _real_array("lam", lam, nonneg=True)
    k = _real_array("k", k, nonneg=True)
    _broadcast_shape(t=t, lam=lam, k=k)
    with np.errstate(over="ignore"):
        return np.exp(-2.0 * (k - 1.0) * lam * t)


# --------------------------------------------------------------------------------------------
# The bounded particular solution G_k(z), z = gamma / lam
# --------------------------------------------------------------------------------------------

_EULER = 0.5772156649015329
_ZETA_K = np.arange(2, 80)
_ZETA = _special.zeta(_ZETA_K)
_LAGUERRE_U, _LAGUERRE_W = _special.roots_laguerre(64)


def _lngamma_1m_over(delta: float) -> float:
    """``log Gamma(1 - delta) / delta`` for ``|delta| <= 1/2``, accurate also at ``delta -> 0``."""
    return _EULER + float(np.sum(_ZETA * delta ** (_ZETA_K - 1) / _ZETA_K))


def _g_series_kgt1(lx: np.ndarray, nu: float) -> np.ndarray:
    """``x e^x E_nu(x)`` for ``x = exp(lx) < 1`` and ``nu >= 1/2`` by the convergent series.

    ``E_nu(x) = Gamma(1-nu) x^(nu-1) - sum_j (-x)^j / (j! (1-nu+j))``.  With ``nu = n + delta``
    (``n >= 1`` the nearest integer) the ``Gamma`` term and the ``j = n-1`` term have poles at
    ``delta = 0`` that cancel; their sum is evaluated as
    ``(-1)^n x^(n-1) / (n-1)! * expm1(g) / delta`` with
    ``g = log Gamma(1-delta) + delta log x - sum_{i<n} log1p(delta/i)``, stable for all delta.
    """
    x = np.exp(lx)
    n = max(1, int(math.floor(nu + 0.5)))
    delta = nu - n
    total = np.zeros_like(x)  # accumulates x * E_nu(x) (without the pole pair)
    term = x.copy()  # x * (-x)^j / j!
    for j in range(40):
        if j > 0:
            term = term * (-x) / j
        if j != n - 1:
            total -= term / (1.0 - nu + j)
    if n <= 40:  # otherwise the pair is below x^40 / 40! relative: negligible
        if n > 1:
            u = delta / np.arange(1, n)
            safe = np.where(u == 0.0, 1.0, u)
            s = float(np.sum(np.where(u == 0.0, 1.0, np.log1p(u) / safe) / np.arange(1, n)))
        else:
            s = 0.0
        g_over = _lngamma_1m_over(delta) + lx - s  # g / delta
        g = delta * g_over
        lpre = n * lx - math.lgamma(n)  # log(x * x^(n-1) / (n-1)!)
        small = np.abs(g) < 1.0
        gs = np.where(small, g, 0.0)
        ratio = np.where(gs == 0.0, 1.0, np.expm1(gs) / np.where(gs == 0.0, 1.0, gs))
        pair = np.exp(lpre) * g_over * ratio
        if delta != 0.0 and not np.all(small):
            with np.errstate(over="ignore", invalid="ignore"):
                big = (np.exp(lpre + g) - np.exp(lpre)) / delta
            pair = np.where(small, pair, big)
        total += (-1.0) ** n * pair
    return np.exp(x) * total


def _scaled_en_cf(x: np.ndarray, nu: float, *, tol: float = 3e-16, maxiter: int = 10000):
    """``e^x E_nu(x)`` for ``x >= 1`` by the continued fraction (modified Lentz)."""
    b = x + nu
    c = np.full_like(x, 1e300)
    d = 1.0 / b
    h = d.copy()
    active = np.arange(x.size)
    for i in range(1, maxiter):
        an = -i * (nu - 1.0 + i)
        b += 2.0
        d = 1.0 / (an * d + b)
        c = b + an / c
        de = c * d
        h[active] *= de
        keep = np.abs(de - 1.0) > tol
        if not keep.any():
            return h
        active, b, c, d = active[keep], b[keep], c[keep], d[keep]
    raise RuntimeError(f"continued fraction for E_nu did not converge (nu={nu})")


def _g_exact(w: np.ndarray, k: float) -> np.ndarray:
    """``G_k(z)`` at ``z = exp(w)`` to ~1e-15 relative (slow path, builds the tables).

    Args:
      w: float64 array of ``log(gamma / lam)``; ``-inf`` gives 0 and ``+inf`` gives 1.
      k: degree of homogeneity ``>= 0``.
    """
    w = np.asarray(w, dtype=np.float64)
    out = np.where(w == np.inf, 1.0, 0.0)
    fin = np.isfinite(w)
    wf = w[fin]
    with np.errstate(over="ignore", under="ignore"):
        z = np.exp(wf)
    if k == 0.0:
        out[fin] = -np.expm1(-0.5 * z)
        return out
    if k == 1.0:
        out[fin] = z / (1.0 + z)
        return out
    big_a = 2.0 * (k - 1.0)
    if abs(k - 1.0) <= 1e-8:  # first order in A = 2(k-1); error O(A^2) < 1e-15
        out[fin] = z / (z + k) + big_a * k * z / (z + k) ** 3
        return out
    res = np.empty_like(wf)
    lx = wf - math.log(abs(big_a))
    x = np.exp(lx)
    if k > 1.0:
        nu = k / big_a
        small = x < 1.0
        if small.any():
            res[small] = _g_series_kgt1(lx[small], nu)
        if (~small).any():
            res[~small] = x[~small] * _scaled_en_cf(x[~small], nu)
    else:
        m = k / -big_a
        small = x <= 40.0
        if small.any():  # positive series, no cancellation
            xs = x[small]
            term = np.ones_like(xs)
            tot = term / (m + 1.0)
            for n in range(1, 200):
                term = term * xs / n
                tot += term / (n + m + 1.0)
            res[small] = xs * np.exp(-xs) * tot
        if (~small).any():  # Gauss-Laguerre in the variable that makes exp(-u) the weight
            xl = x[~small][:, None]
            q = _LAGUERRE_U[None, :] / (xl + m)
            with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
                psi = np.where(q < 1.0, np.exp(m * (q + np.log1p(-np.minimum(q, 1.0)))), 0.0)
            res[~small] = (psi @ _LAGUERRE_W) * (xl[:, 0] / (xl[:, 0] + m))
    out[fin] = res
    return out


class _GTable(NamedTuple):
    """Piecewise polynomial ``G_k(exp(w))`` on a uniform grid in ``w`` (step a power of 2).

    ``v = w * inv_h`` (exact), clipped to ``[v_lo, v_hi]``; interval ``i = floor(v + shift)``
    (1..n) covers ``w`` in ``[w_lo + (i-1) h, w_lo + i h)`` and ``d = v - (i - shift)`` in
    ``[0, 1)`` (exact: ``shift`` is an integer) is the position inside it; ``coef[j, i]``
    multiplies ``d^j``.  Intervals 0 (``G = 0``, below ``w_lo``) and ``n+1`` (``G = 1``, above
    the grid) are guards.  The pieces interpolate ``G`` at Chebyshev-Lobatto points, so the
    table is continuous across interval ends and differences of nearby values stay accurate.
    """

    inv_h: float
    shift: int
    v_lo: float
    v_hi: float
    coef: np.ndarray


_TABLE_W_LO = -700.0  # z = 1e-304; below, G < 1e-150 is returned as 0
_TABLE_H = 0.0625  # a power of 2: w * inv_h is exact
_TABLE_DEGREE = 4


@functools.lru_cache(maxsize=32)
def _g_table(k: float) -> _GTable:
    """Memoised table for one ``k`` (pure function of ``k``; ~500 kB, ~10-50 ms to build)."""
    w_hi = math.log(max(k, 1.0)) + 40.0  # there 1 - G ~ k / z < 1e-17
    n = int(math.ceil((w_hi - _TABLE_W_LO) / _TABLE_H))
    p = _TABLE_DEGREE
    nodes = 0.5 - 0.5 * np.cos(np.pi * np.arange(p + 1) / p)  # Chebyshev-Lobatto on [0, 1]
    vinv = np.linalg.inv(np.vander(nodes, p + 1, increasing=True))
    w = _TABLE_W_LO + _TABLE_H * (np.arange(n)[:, None] + nodes[None, :])
    coef = np.zeros((p + 1, n + 2))
    coef[:, 1 : n + 1] = (_g_exact(w, k) @ vinv.T).T
    coef[0, n + 1] = 1.0
    coef.setflags(write=False)
    inv_h = 1.0 / _TABLE_H
    shift = 1 - int(round(_TABLE_W_LO * inv_h))
    return _GTable(inv_h, shift, 0.5 - shift, n + 1.5 - shift, coef)


def _g_eval(tab: _GTable, v: np.ndarray, *, clip: bool = True) -> np.ndarray:
    """Evaluate the table at ``v = w * inv_h`` (float64 array, overwritten).

    ``clip=False`` is allowed only if every ``v`` is known to lie in ``[v_lo, v_hi]``.
    """
    if clip:
        np.clip(v, tab.v_lo, tab.v_hi, out=v)
    fl = np.floor(v)
    v -= fl  # position inside the interval, exact
    i = np.add(fl, tab.shift, out=np.empty(v.shape, np.intp), casting="unsafe")
    c = tab.coef
    r = np.take(c[-1], i, mode="clip")
    for row in c[-2::-1]:
        r *= v
        r += np.take(row, i, mode="clip")
    return r


def _g_interp(tab: _GTable, w) -> np.ndarray:
    """Table value ``G_k(exp(w))`` for an array ``w`` (may hold +-inf)."""
    return _g_eval(tab, np.multiply(w, tab.inv_h, dtype=np.float64))


# --------------------------------------------------------------------------------------------
# Eq. (3): one mode
# --------------------------------------------------------------------------------------------

_CHUNK = 32768  # elements per block: keeps the temporaries in cache
_TAYLOR_RATE_T = 1e-3  # Taylor series valid (error < 1e-10) for (gamma + |a| + k lam) t below this
_TAYLOR_J_REL = 1e-6  # ... used where J / G(gamma) is below this (cancellation in the main form)
_EXP_FLOOR = -700.0  # exp(-Phi) below 1e-304 is irrelevant; avoids the slow denormal path
_CE_MAX_DENSE = 3000  # cross_entropy_evolution: largest N C for the dense-Jacobian default


def _lift(x: np.ndarray, ndim: int) -> np.ndarray:
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


def _mse_mode_one_k(t, gamma, lam, k: float, y, f0) -> np.ndarray:
    """mse_mode for a scalar ``k``; array arguments already validated and broadcastable.

    Computes ``f = y G(gamma_t) + (f0 - y G(gamma)) exp(-Phi)`` blockwise along axis 0, with
    the per-time and per-mode factors computed once on their own (small) shapes.
    """
    shape = np.broadcast_shapes(t.shape, gamma.shape, lam.shape, y.shape, f0.shape)
    if not shape:
        return _mse_mode_one_k(t.reshape(1), gamma, lam, k, y, f0).reshape(())
    nd = len(shape)
    t, gamma, lam, y, f0 = (_lift(v, nd) for v in (t, gamma, lam, y, f0))
    out = np.empty(shape)
    if out.size == 0:
        return out
    tab = _g_table(k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        a = 2.0 * (k - 1.0) * lam
        kl = k * lam
        at = a * t
        safe_a = np.where(a == 0.0, 1.0, a)
        big_b = np.where(a == 0.0, t, -np.expm1(-at) / safe_a)  # V = gamma * big_b
        np.minimum(big_b, 1e300, out=big_b)
        kt = kl * t
        neg_gamma = -gamma
        lz = np.where(gamma > 0.0, np.log(gamma) - np.log(lam), -np.inf)
        g0 = _g_interp(tab, lz)
        lzs, ats = lz * tab.inv_h, at * tab.inv_h  # exact (inv_h is a power of 2)
        ats_lo, ats_hi = float(np.min(ats)), float(np.max(ats))
        b_hi, kt_hi = float(np.max(big_b)), float(np.max(kt))
        c0 = f0 - y * g0
        # Taylor region: t below a per-mode threshold (0 where gamma = 0: there f is exact).
        # There J(t) = int_0^t gamma_s exp(Phi(s) - Phi(t)) ds = t (c1 + t (c2 + t c3)) + O(t^4),
        # J(0) = 0 and the derivatives at 0 follow from differentiating
        # J' = gamma_t (1 - J) - k lam J.
        rate = gamma + np.abs(a) + kl
        safe_gamma = np.where(gamma > 0.0, gamma, 1.0)
        thr = np.where(
            gamma > 0.0,
            np.minimum(_TAYLOR_RATE_T / rate, _TAYLOR_J_REL * g0 / safe_gamma),
            0.0,
        )
        r1 = gamma + a + kl
        c1 = gamma
        c2 = -0.5 * gamma * r1
        c3 = gamma * (a * a + 2.0 * a * gamma + (gamma + kl) * r1) / 6.0
        step = max(1, _CHUNK * shape[0] // out.size)
        block = (min(step, shape[0]),) + shape[1:]
        buf_w = np.empty(block)
        buf_e = np.empty(block)

        def part(v, s, e):
            return v if v.shape[0] == 1 else v[s:e]

        for s in range(0, shape[0], step):
            e = min(s + step, shape[0])
            o = out[s:e]
            v = buf_w[: e - s]
            lzp = part(lzs, s, e)
            np.subtract(lzp, part(ats, s, e), out=v)  # log(gamma_t / lam) / h
            clip = not (np.min(lzp) - ats_hi >= tab.v_lo and np.max(lzp) - ats_lo <= tab.v_hi)
            gt = _g_eval(tab, v, clip=clip)
            ex = buf_e[: e - s]
            ngp = part(neg_gamma, s, e)
            np.multiply(ngp, part(big_b, s, e), out=ex)
            ex -= part(kt, s, e)
            if -np.min(ngp) * b_hi + kt_hi > -_EXP_FLOOR:
                np.maximum(ex, _EXP_FLOOR, out=ex)
            np.exp(ex, out=ex)  # exp(-Phi)
            ts, ths = part(t, s, e), part(thr, s, e)
            if np.min(ts) < np.max(ths):  # f = f0 exp(-Phi) + y J, J from the series where t < thr
                gt = np.broadcast_to(gt, o.shape).copy() if gt.shape != o.shape else gt
                gt -= part(g0, s, e) * ex
                jt = part(c3, s, e) * ts
                jt += part(c2, s, e)
                jt *= ts
                jt += part(c1, s, e)
                jt *= ts
                np.copyto(gt, jt, where=ts < ths)
                np.multiply(gt, part(y, s, e), out=o)
                ex *= part(f0, s, e)
            else:  # f = y G(gamma_t) + (f0 - y G(gamma)) exp(-Phi)
                np.multiply(gt, part(y, s, e), out=o)
                ex *= part(c0, s, e)
            o += ex
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
    t = _real_array("t", t, nonneg=True)
    gamma = _real_array("gamma", gamma, nonneg=True)
    lam = _real_array("lam", lam, nonneg=True)
    k = _real_array("k", k, nonneg=True)
    y = _real_array("y", y)
    f0 = _real_array("f0", f0)
    shape = _broadcast_shape(t=t, gamma=gamma, lam=lam, k=k, y=y, f0=f0)
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


# --------------------------------------------------------------------------------------------
# The training set (MSE): eigendecomposition of Theta_0
# --------------------------------------------------------------------------------------------


class TrainSetEvolution(NamedTuple):
    """Training-set trajectory under Eq. (1) with MSE loss.

    Attributes:
      t: ``(T,)`` times.
      f: ``(T, N)`` or ``(T, N, C)`` network outputs on the training set.
      loss: ``(T,)`` ``0.5 * sum_{i,c} (f - y)^2 / N`` (mean over samples of the per-sample
        squared error summed over outputs).  The dynamics use the *sum* over samples (Eq. 1);
        see :func:`train_set_evolution`.
      gammas: ``(N,)`` eigenvalues of ``Theta_0`` in ascending order (negative round-off
        clipped to 0).
      modes: ``(T, N)`` or ``(T, N, C)`` projections ``e_a . f(t)`` on the eigenvectors.
    """

    t: np.ndarray
    f: np.ndarray
    loss: np.ndarray
    gammas: np.ndarray
    modes: np.ndarray


def _check_kernel(name: str, kernel) -> np.ndarray:
    kernel = _real_array(name, kernel)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square (N, N) matrix, got {kernel.shape}")
    scale = float(np.max(np.abs(kernel))) if kernel.size else 0.0
    if np.max(np.abs(kernel - kernel.T)) > 1e-5 * max(scale, 1e-300):  # float32 round-off is ok
        raise ValueError(f"{name} must be symmetric")
    return 0.5 * (kernel + kernel.T)


def _check_psd(name: str, gammas: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues with round-off snapped to 0; ValueError if not PSD.

    Eigenvalues within ``N * eps * max|gamma|`` of zero are round-off of zero modes (LAPACK
    returns them as +-1e-16 relative, with a sign that depends on the BLAS build): they are set
    to exactly 0, so a rank-deficient kernel keeps its null space (e.g. the lam = 0 projection).
    """
    scale = max(float(np.max(np.abs(gammas))), 1e-300)
    tol = 1e-5 * scale  # round-off of float32 kernels
    if gammas[0] < -tol:
        raise ValueError(f"{name} must be positive semi-definite (min eigenvalue {gammas[0]:.3g})")
    zero = gammas.shape[0] * np.finfo(np.float64).eps * scale
    return np.where(gammas <= zero, 0.0, gammas)


def _check_psd_fast(name: str, kernel: np.ndarray) -> None:
    """PSD check by a Cholesky factorisation (3x cheaper than eigenvalues) with the same slack."""
    diag = float(np.max(np.abs(np.diag(kernel))))
    try:
        np.linalg.cholesky(kernel + 1e-5 * max(diag, 1e-300) * np.eye(kernel.shape[0]))
    except np.linalg.LinAlgError:
        _check_psd(name, np.linalg.eigvalsh(kernel))


def _eigh_psd(name: str, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gammas, vecs = np.linalg.eigh(kernel)
    return _check_psd(name, gammas), vecs


def _check_targets(n: int, y, f0, *, yname: str = "y", fname: str = "f0"):
    y = _real_array(yname, y)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"{yname} must have shape ({n},) or ({n}, C), got {y.shape}")
    f0 = _real_array(fname, f0)
    try:
        f0 = np.broadcast_to(f0, y.shape)
    except ValueError:
        raise ValueError(
            f"{fname} must broadcast to {yname}'s shape {y.shape}, got {f0.shape}"
        ) from None
    return y, f0


def _check_times(t) -> np.ndarray:
    t = _real_array("t", t, nonneg=True)
    if t.ndim != 1:
        raise ValueError(f"t must be one-dimensional (T,), got shape {t.shape}")
    return t


def train_set_evolution(kernel, y, f0, lam, k, t) -> TrainSetEvolution:
    """Evolve the training-set outputs under Eq. (1) with MSE loss, exactly (Theorem 2).

    Dynamics: ``df/dt = -exp(-2 (k-1) lam t) Theta_0 (f - y) - k lam f`` with the given kernel
    as ``Theta_0`` -- the paper's Eq. (1) for ``L = sum_i (f_i - y_i)^2 / 2`` (a *sum* over
    samples).  If you train on the sample *mean* instead, pass ``kernel / N``.  Each output
    column evolves independently with the same kernel.

    Args:
      kernel: ``(N, N)`` symmetric positive semi-definite ``Theta_0`` on the training set.
      y: ``(N,)`` or ``(N, C)`` labels.
      f0: initial outputs, broadcastable to ``y.shape`` (e.g. 0).
      lam: L2 coefficient ``>= 0`` (scalar).
      k: degree of homogeneity ``>= 0`` (scalar; ``k = 1`` is the linear model).
      t: ``(T,)`` times ``>= 0``.

    Returns:
      :class:`TrainSetEvolution` with ``f`` of shape ``(T,) + y.shape`` and
      ``loss = 0.5 * sum((f - y)^2) / N`` per time.
    """
    kernel = _check_kernel("kernel", kernel)
    y, f0 = _check_targets(kernel.shape[0], y, f0)
    lam = _checks.nonneg_float("lam", lam)
    k = _checks.nonneg_float("k", k)
    t = _check_times(t)
    return _train_set_evolution(kernel, y, f0, lam, k, t)[0]


def _train_set_evolution(kernel, y, f0, lam: float, k: float, t):
    """train_set_evolution on checked arguments; also returns the eigenvectors ``(N, N)``."""
    n = kernel.shape[0]
    gammas, vecs = _eigh_psd("kernel", kernel)
    y_m = vecs.T @ y
    f0_m = vecs.T @ f0
    extra = (None,) * (y.ndim - 1)
    modes = mse_mode(
        t[(slice(None), None) + extra], gammas[(slice(None),) + extra], lam, k, y_m, f0_m
    )
    f = modes @ vecs.T if y.ndim == 1 else np.matmul(vecs, modes)  # BLAS, (T, N[, C])
    resid = (modes - y_m) ** 2
    loss = 0.5 * resid.reshape(len(t), -1).sum(axis=1) / n if len(t) else np.zeros(0)
    return TrainSetEvolution(t=t, f=f, loss=loss, gammas=gammas, modes=modes), vecs


def linear_model_limit(kernel, y, lam) -> np.ndarray:
    """Late-time training outputs of the linear model (k = 1): ``Theta (Theta + lam I)^-1 y``.

    This is the ``t -> infinity`` limit of :func:`train_set_evolution` with ``k = 1`` and
    ``lam > 0`` for any ``f0`` (kernel ridge regression on the training set).  At ``lam = 0``
    it is the projection of ``y`` on the range of ``Theta`` (the ``lam -> 0`` limit).

    Args:
      kernel: ``(N, N)`` symmetric PSD matrix.
      y: ``(N,)`` or ``(N, C)`` labels.
      lam: ``>= 0`` scalar.

    Returns:
      float64 array of ``y``'s shape.
    """
    kernel = _check_kernel("kernel", kernel)
    y, _ = _check_targets(kernel.shape[0], y, 0.0)
    lam = _checks.nonneg_float("lam", lam)
    gammas, vecs = _eigh_psd("kernel", kernel)
    tot = gammas + lam
    ratio = np.where(tot > 0.0, gammas / np.where(tot > 0.0, tot, 1.0), 0.0)
    ratio = ratio.reshape((-1,) + (1,) * (y.ndim - 1))
    return vecs @ (ratio * (vecs.T @ y))


def predict_test(
    kernel_test_train, kernel_train_train, y, f0_train, f0_test, lam, k, t, *, rcond=1e-12
) -> np.ndarray:
    """Outputs at test points under Eq. (1) with MSE loss (the functional form, Eqs. S13-S14).

    Test points obey ``df_x/dt = -exp(-a t) Theta(x, S) (f_S - y) - k lam f_x``.  Using the
    training-mode equation this integrates exactly to

        f_x(t) = exp(-k lam t) f0_x + Theta(x, S) Theta_SS^+ (f_S(t) - exp(-k lam t) f0_S),

    with the training outputs ``f_S(t)`` of :func:`train_set_evolution`; eigenvalues below
    ``rcond * max`` are treated as zero (for a PSD joint kernel their projection vanishes).

    Args:
      kernel_test_train: ``(M, N)`` ``Theta_0(test, train)``.
      kernel_train_train: ``(N, N)`` symmetric PSD ``Theta_0(train, train)``.
      y: ``(N,)`` or ``(N, C)`` training labels.
      f0_train: initial training outputs, broadcastable to ``y.shape``.
      f0_test: initial test outputs, broadcastable to ``(M,) + y.shape[1:]``.
      lam, k: scalars ``>= 0``.
      t: ``(T,)`` times ``>= 0``.
      rcond: relative eigenvalue cutoff for the pseudo-inverse.

    Returns:
      ``(T, M)`` or ``(T, M, C)`` float64 test outputs.
    """
    ktt = _check_kernel("kernel_train_train", kernel_train_train)
    n = ktt.shape[0]
    kxs = _real_array("kernel_test_train", kernel_test_train)
    if kxs.ndim != 2 or kxs.shape[1] != n:
        raise ValueError(f"kernel_test_train must have shape (M, {n}), got {kxs.shape}")
    y, f0_train = _check_targets(n, y, f0_train, fname="f0_train")
    f0_test = _real_array("f0_test", f0_test)
    try:
        f0_test = np.broadcast_to(f0_test, (kxs.shape[0],) + y.shape[1:])
    except ValueError:
        raise ValueError(
            f"f0_test must broadcast to {(kxs.shape[0],) + y.shape[1:]}, got {f0_test.shape}"
        ) from None
    lam = _checks.nonneg_float("lam", lam)
    k = _checks.nonneg_float("k", k)
    t = _check_times(t)
    rcond = _checks.nonneg_float("rcond", rcond)
    ev, vecs = _train_set_evolution(ktt, y, f0_train, lam, k, t)
    g = ev.gammas
    keep = g > rcond * max(float(g.max()), 1e-300)
    proj = (kxs @ vecs[:, keep]) / g[keep]  # (M, r)
    decay = np.exp(-k * lam * t).reshape((-1,) + (1,) * y.ndim)  # (T, 1[, 1])
    f0_m = (vecs.T @ f0_train)[keep]
    dm = ev.modes[:, keep] - decay * f0_m  # (T, r[, C])
    return decay * f0_test + (dm @ proj.T if y.ndim == 1 else np.matmul(proj, dm))


# --------------------------------------------------------------------------------------------
# Cross-entropy: numerical integration of Eq. (1)
# --------------------------------------------------------------------------------------------


class CrossEntropyEvolution(NamedTuple):
    """Trajectory of Eq. (1) with softmax cross-entropy.

    Attributes:
      t: ``(T,)`` times (as given).
      f: ``(T, N, C)`` training logits.
      loss: ``(T,)`` training cross-entropy, mean over samples.
      accuracy: ``(T,)`` fraction of training samples with ``argmax f == argmax y``.
      f_test, test_loss, test_accuracy: the same on the test points (``None`` if not given;
        losses/accuracies need ``y_test``).
    """

    t: np.ndarray
    f: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    f_test: np.ndarray | None = None
    test_loss: np.ndarray | None = None
    test_accuracy: np.ndarray | None = None


def _softmax(f: np.ndarray) -> np.ndarray:
    e = np.exp(f - f.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _xent(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean over samples (axis -2) of ``-sum_c y log softmax(f)``; f: (..., N, C)."""
    logz = _special.logsumexp(f, axis=-1, keepdims=True)
    return -np.mean(np.sum(y * (f - logz), axis=-1), axis=-1)


def _accuracy(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mean(np.argmax(f, axis=-1) == np.argmax(y, axis=-1), axis=-1)


def _check_onehot(name: str, y, n_rows: int | None = None) -> np.ndarray:
    y = _real_array(name, y)
    if y.ndim != 2 or y.shape[1] < 2 or (n_rows is not None and y.shape[0] != n_rows):
        want = f"({n_rows}, C)" if n_rows is not None else "(N, C)"
        raise ValueError(f"{name} must have shape {want} with C >= 2, got {y.shape}")
    if np.any(y < 0) or np.max(np.abs(y.sum(axis=1) - 1.0)) > 1e-8:
        raise ValueError(f"{name} rows must be probability vectors (one-hot labels)")
    return y


def _ce_system(kernel: np.ndarray, y: np.ndarray, f0: np.ndarray, a: float, kl: float):
    """Right-hand side and Jacobian of the cross-entropy flow in the variable ``w``.

    ``w(t) = int_0^t exp(-k lam (t-s)) exp(-a s) (softmax(f(s)) - y) ds`` (flattened ``(N C,)``)
    obeys ``w' = exp(-a t) (softmax(f) - y) - k lam w`` with ``f = exp(-k lam t) f0 - Theta w``;
    then ``f`` and the test outputs ``exp(-k lam t) f0_test - Theta(test, train) w`` solve
    Eq. (1) exactly, so the test points never enter the ODE.
    """
    n, c = y.shape
    nc = n * c

    def logits(s, wv):
        return math.exp(-kl * s) * f0 - kernel @ wv.reshape(n, c)

    def rhs(s, wv):
        g = _softmax(logits(s, wv)) - y
        return (math.exp(-a * s) * g).ravel() - kl * wv

    def jac(s, wv):
        p = _softmax(logits(s, wv))
        sj = np.einsum("ic,cd->icd", p, np.eye(c)) - p[:, :, None] * p[:, None, :]  # (N, C, C)
        full = (-math.exp(-a * s) * np.einsum("icd,ij->icjd", sj, kernel)).reshape(nc, nc)
        full[np.diag_indices_from(full)] -= kl
        return full

    return rhs, jac


def cross_entropy_evolution(
    kernel,
    y_onehot,
    f0,
    lam,
    k,
    t,
    *,
    kernel_test_train=None,
    f0_test=None,
    y_test=None,
    rtol=1e-8,
    atol=1e-10,
    method="auto",
) -> CrossEntropyEvolution:
    """Integrate Eq. (1) with softmax cross-entropy (no closed form).

    Solves, with ``a = 2 (k-1) lam``,

        df/dt      = -exp(-a t) Theta (softmax(f) - y) - k lam f              (train, (N, C))
        df_test/dt = -exp(-a t) Theta(test, train) (softmax(f) - y) - k lam f_test

    i.e. Eq. (1) for ``L = sum_i CE(f_i, y_i)`` (a sum over samples: pass ``kernel / N`` for the
    mean), with ``scipy.integrate.solve_ivp`` (``t_eval``).  The ODE is solved for the ``(N, C)``
    auxiliary ``w(t) = int_0^t exp(-k lam (t-s)) exp(-a s) (softmax(f(s)) - y) ds``, from which
    ``f = exp(-k lam t) f0 - Theta w`` and ``f_test = exp(-k lam t) f0_test - Theta(test, train) w``
    follow exactly: test points cost one matrix product, not ODE work.

    The problem is stiff when ``gamma_max t >> 1``; implicit methods get the analytic dense
    Jacobian, ``(N C)^2`` entries.  ``method="auto"`` uses LSODA up to ``N C = 3000`` (N = 200,
    C = 10: ~0.1-1 s) and DOP853 above (fine for a mean-loss kernel ``Theta / N`` whose
    eigenvalues are O(1); for larger ``gamma_max t`` expect many steps).

    Args:
      kernel: ``(N, N)`` symmetric PSD ``Theta_0`` on the training set.
      y_onehot: ``(N, C)`` one-hot (or probability) labels.
      f0: initial logits, broadcastable to ``(N, C)``.
      lam, k: scalars ``>= 0``.
      t: ``(T,)`` times ``>= 0`` (any order).
      kernel_test_train: optional ``(M, N)`` ``Theta_0(test, train)``.
      f0_test: initial test logits, broadcastable to ``(M, C)`` (default 0).
      y_test: optional ``(M, C)`` one-hot test labels (for test loss/accuracy).
      rtol, atol: solver tolerances (> 0).
      method: "auto" or a ``solve_ivp`` method; "LSODA", "BDF" and "Radau" use the analytic
        Jacobian.

    Returns:
      :class:`CrossEntropyEvolution`.
    """
    kernel = _check_kernel("kernel", kernel)
    n = kernel.shape[0]
    y = _check_onehot("y_onehot", y_onehot, n)
    c = y.shape[1]
    f0 = _real_array("f0", f0)
    try:
        f0 = np.broadcast_to(f0, y.shape)
    except ValueError:
        raise ValueError(f"f0 must broadcast to {y.shape}, got {f0.shape}") from None
    lam = _checks.nonneg_float("lam", lam)
    k = _checks.nonneg_float("k", k)
    t = _check_times(t)
    rtol = _checks.finite("rtol", rtol)
    atol = _checks.finite("atol", atol)
    if rtol <= 0 or atol <= 0:
        raise ValueError(f"rtol and atol must be > 0, got rtol={rtol}, atol={atol}")
    methods = ("auto", "LSODA", "BDF", "Radau", "DOP853", "RK45", "RK23")
    if method not in methods:
        raise ValueError(f"method must be one of {methods}, got {method!r}")
    _check_psd_fast("kernel", kernel)
    kxs = None
    if kernel_test_train is not None:
        kxs = _real_array("kernel_test_train", kernel_test_train)
        if kxs.ndim != 2 or kxs.shape[1] != n:
            raise ValueError(f"kernel_test_train must have shape (M, {n}), got {kxs.shape}")
        m = kxs.shape[0]
        f0t = _real_array("f0_test", 0.0 if f0_test is None else f0_test)
        try:
            f0t = np.broadcast_to(f0t, (m, c))
        except ValueError:
            raise ValueError(f"f0_test must broadcast to {(m, c)}, got {f0t.shape}") from None
        if y_test is not None:
            y_test = _check_onehot("y_test", y_test, m)
    elif f0_test is not None or y_test is not None:
        raise ValueError("f0_test and y_test need kernel_test_train")

    a = 2.0 * (k - 1.0) * lam
    kl = k * lam
    nc = n * c
    if method == "auto":
        method = "LSODA" if nc <= _CE_MAX_DENSE else "DOP853"

    rhs, jac = _ce_system(kernel, y, f0, a, kl)
    t_sorted, inverse = np.unique(t, return_inverse=True)
    if t.size and t_sorted[-1] > 0.0:
        implicit = method in ("LSODA", "BDF", "Radau")
        sol = _integrate.solve_ivp(
            rhs, (0.0, float(t_sorted[-1])), np.zeros(nc), method=method, t_eval=t_sorted,
            rtol=rtol, atol=atol, **({"jac": jac} if implicit else {}),
        )
        if not sol.success:
            raise RuntimeError(f"ODE solver failed: {sol.message}")
        w = sol.y.T.reshape(len(t_sorted), n, c)[inverse]
    else:
        w = np.zeros((len(t), n, c))
    decay = np.exp(-kl * t)[:, None, None]
    f = decay * f0 - np.matmul(kernel, w)  # (T, N, C)
    res = CrossEntropyEvolution(t=t, f=f, loss=_xent(f, y), accuracy=_accuracy(f, y))
    if kxs is not None:
        ftest = decay * f0t - np.matmul(kxs, w)
        res = res._replace(f_test=ftest)
        if y_test is not None:
            res = res._replace(
                test_loss=_xent(ftest, y_test), test_accuracy=_accuracy(ftest, y_test)
            )
    return res


# --------------------------------------------------------------------------------------------
# Reading curves
# --------------------------------------------------------------------------------------------


def _check_curve(t, values) -> tuple[np.ndarray, np.ndarray]:
    t = _check_times(t)
    values = np.asarray(values)
    if values.dtype.kind not in "iuf":
        raise TypeError(f"values must be real, got dtype {values.dtype}")
    values = values.astype(np.float64, copy=False)
    if values.ndim == 0 or values.shape[0] != t.shape[0] or t.shape[0] == 0:
        raise ValueError(
            f"values must have shape (T, ...) with T = len(t) = {t.shape[0]} >= 1, "
            f"got {values.shape}"
        )
    if np.any(np.isnan(values)):
        raise ValueError("values must not contain nan")
    return t, values


def time_of_min(t, values) -> np.ndarray:
    """Time of the (first) minimum of ``values`` along axis 0 (grid resolution).

    Args:
      t: ``(T,)`` times.
      values: ``(T, ...)`` curves, e.g. a loss.

    Returns:
      ``t[argmin(values, axis=0)]``, shape ``values.shape[1:]``.
    """
    t, values = _check_curve(t, values)
    return t[np.argmin(values, axis=0)]


def time_of_max(t, values) -> np.ndarray:
    """Time of the (first) maximum of ``values`` along axis 0, e.g. the accuracy peak."""
    t, values = _check_curve(t, values)
    return t[np.argmax(values, axis=0)]
