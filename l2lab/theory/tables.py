"""The bounded particular solution ``G_k(z)`` of one MSE mode, ``z = gamma / lam`` (SM B).

Every mode of Eq. (1) with MSE loss, ``df/dt = -gamma exp(-a t) (f - y) - k lam f`` with
``a = 2 (k-1) lam``, has the particular solution ``y G(gamma exp(-a t))`` that stays bounded (the
mode's *moving target*, see :mod:`l2lab.theory.modes`):

    G(gamma) = int_0^{v_max} exp(-v) (1 + a v / gamma)^(-k lam / a) dv,
    v_max = infinity (a > 0) or gamma / |a| (a < 0).

``G`` depends on ``z = gamma / lam`` and ``k`` only and lies in ``[0, 1]``.  Closed forms:
``z / (1 + z)`` (k = 1, so ``f -> gamma y / (gamma + lam)``), ``1 - exp(-z/2)`` (k = 0),
``x e^x E_nu(x) = e^x x^nu Gamma(1 - nu, x)`` for k > 1 with ``x = z / (2 (k-1))`` and
``nu = k / (2 (k-1))`` (k = 2: ``nu = 1``, the exponential integral ``E_1``), and
``x e^{-x} sum_n x^n / (n! (n + m + 1))`` for k < 1 with ``x = z / (2 (1-k))`` and
``m = k / (2 (1-k))``.  (With ``c = gamma_t / a`` the k > 1 form reproduces the incomplete-gamma
expression ``J = e^c c^nu [Gamma(1-nu, c) - Gamma(1-nu, c+V)] = G(gamma_t) - exp(-Phi) G(gamma)``
of the integral in Eq. (3).)  No intermediate quantity overflows.

:func:`g_exact` computes ``G`` to ~1e-15 (series with the poles of integer ``nu`` cancelled
analytically, continued fraction, positive series or Gauss-Laguerre quadrature).  It is slow, so
:func:`g_table` evaluates it once per ``k`` at Chebyshev-Lobatto points of a grid of step 1/16 in
``w = log z`` covering ``z`` in ``[1e-304, 1e17 max(k, 1)]`` and stores a continuous piecewise
quartic (relative error < 1e-10; memoised per ``k`` with ``functools.lru_cache``, ~0.5 MB each,
10-50 ms to build; ``g_table.cache_clear()`` forgets them).  :func:`g_interp` (and the in-place
:func:`g_eval`, for hot loops) then cost a table lookup and a Horner step per point.

Internal numerics of :mod:`l2lab.theory`: the functions trust their arguments (float64 arrays,
``k >= 0``).
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from scipy import special as _special

__all__ = ["g_exact", "GTable", "g_table", "g_eval", "g_interp"]

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


def g_exact(w: np.ndarray, k: float) -> np.ndarray:
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


class GTable(NamedTuple):
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
def g_table(k: float) -> GTable:
    """Memoised table for one ``k`` (pure function of ``k``; ~500 kB, ~10-50 ms to build)."""
    w_hi = math.log(max(k, 1.0)) + 40.0  # there 1 - G ~ k / z < 1e-17
    n = int(math.ceil((w_hi - _TABLE_W_LO) / _TABLE_H))
    p = _TABLE_DEGREE
    nodes = 0.5 - 0.5 * np.cos(np.pi * np.arange(p + 1) / p)  # Chebyshev-Lobatto on [0, 1]
    vinv = np.linalg.inv(np.vander(nodes, p + 1, increasing=True))
    w = _TABLE_W_LO + _TABLE_H * (np.arange(n)[:, None] + nodes[None, :])
    coef = np.zeros((p + 1, n + 2))
    coef[:, 1 : n + 1] = (g_exact(w, k) @ vinv.T).T
    coef[0, n + 1] = 1.0
    coef.setflags(write=False)
    inv_h = 1.0 / _TABLE_H
    shift = 1 - int(round(_TABLE_W_LO * inv_h))
    return GTable(inv_h, shift, 0.5 - shift, n + 1.5 - shift, coef)


def g_eval(tab: GTable, v: np.ndarray, *, clip: bool = True) -> np.ndarray:
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


def g_interp(tab: GTable, w) -> np.ndarray:
    """Table value ``G_k(exp(w))`` for an array ``w`` (may hold +-inf)."""
    return g_eval(tab, np.multiply(w, tab.inv_h, dtype=np.float64))
