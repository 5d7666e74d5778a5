"""Eq. (1) with softmax cross-entropy, integrated numerically (paper section 4.2, Figure 3).

There is no closed form: :func:`cross_entropy_evolution` solves the flow in function space on the
training set (and carries it to test points) with ``scipy.integrate.solve_ivp``, through the
auxiliary variable of :func:`ce_system` whose ODE never involves the test points.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import integrate as _integrate
from scipy import special as _special

from l2lab import _checks
from l2lab.theory.spectrum import check_psd

__all__ = ["CrossEntropyEvolution", "cross_entropy_evolution", "ce_system", "MAX_DENSE_NC",
           "METHODS"]

#: ``method="auto"``: the largest ``N C`` solved by LSODA with the dense Jacobian (DOP853 above).
MAX_DENSE_NC = 3000
#: The ``method`` values :func:`cross_entropy_evolution` accepts.
METHODS = ("auto", "LSODA", "BDF", "Radau", "DOP853", "RK45", "RK23")
_IMPLICIT = ("LSODA", "BDF", "Radau")


class CrossEntropyEvolution(NamedTuple):
    """Trajectory of Eq. (1) with softmax cross-entropy.

    Attributes:
      t: ``(T,)`` times (as given).
      f: ``(T, N, C)`` training logits.
      loss: ``(T,)`` training cross-entropy, mean over samples.
      accuracy: ``(T,)`` fraction of training samples with ``argmax f == argmax y``; NaN where
        the logits have decayed to round-off (below ``ROUNDOFF`` of their largest value, or
        below what the solver resolves, ``atol`` times the kernel's largest absolute row sum:
        at large ``t lam`` with ``k > 1`` the predictions vanish and argmax reads noise).
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


ROUNDOFF = 1e-12   # logits below this fraction of their largest value are float64 round-off


def _accuracy(f: np.ndarray, y: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """``(T,)`` accuracy of logits ``f`` ``(T, N, C)``; NaN at the times where every logit is
    below :data:`ROUNDOFF` times the largest logit of the trajectory or below ``floor`` (the
    solver's resolution of the logits): there the network has decayed to round-off and
    ``argmax`` reads noise, not a prediction."""
    acc = np.mean(np.argmax(f, axis=-1) == np.argmax(y, axis=-1), axis=-1).astype(np.float64)
    size = np.max(np.abs(f), axis=(-2, -1))
    acc[size <= max(ROUNDOFF * np.max(size), floor)] = np.nan
    return acc


def _resolution(kernel: np.ndarray, atol: float) -> float:
    """The smallest logit the solver resolves: ``w`` is controlled to ``atol`` (absolute) and
    the logits are ``-kernel @ w``, so their error is up to ``atol`` times the largest absolute
    row sum of ``kernel``."""
    return float(atol * np.max(np.sum(np.abs(kernel), axis=-1)))



def ce_system(kernel: np.ndarray, y: np.ndarray, f0: np.ndarray, a: float, kl: float):
    """Right-hand side ``rhs(s, w) -> (N C,)`` and Jacobian ``jac(s, w) -> (N C, N C)`` of the
    cross-entropy flow in the variable ``w`` (for ``solve_ivp``).

    ``kernel`` ``(N, N)``, ``y`` and ``f0`` ``(N, C)``, ``a = 2 (k-1) lam``, ``kl = k lam``.

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
    Jacobian, ``(N C)^2`` entries.  ``method="auto"`` uses LSODA up to ``N C = MAX_DENSE_NC``
    (3000) (N = 200, C = 10: ~0.1-1 s) and DOP853 above (fine for a mean-loss kernel ``Theta / N`` whose
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
    kernel = _checks.symmetric_matrix("kernel", kernel)
    n = kernel.shape[0]
    y = _checks.probability_rows("y_onehot", y_onehot, n)
    f0 = _checks.broadcastable("f0", _checks.real_array("f0", f0), y.shape)
    lam = _checks.nonneg_float("lam", lam)
    k = _checks.nonneg_float("k", k)
    t = _checks.times("t", t)
    rtol = _checks.positive_float("rtol", rtol)
    atol = _checks.positive_float("atol", atol)
    method = _checks.one_of("method", method, METHODS)
    check_psd("kernel", kernel)
    kxs, f0t, y_test = _test_points(kernel_test_train, f0_test, y_test, y.shape)

    kl = k * lam
    if method == "auto":
        method = "LSODA" if y.size <= MAX_DENSE_NC else "DOP853"
    rhs, jac = ce_system(kernel, y, f0, 2.0 * (k - 1.0) * lam, kl)
    w = _solve(rhs, jac if method in _IMPLICIT else None, t, y.shape, method, rtol, atol)
    decay = np.exp(-kl * t)[:, None, None]
    f = decay * f0 - np.matmul(kernel, w)  # (T, N, C)
    res = CrossEntropyEvolution(t=t, f=f, loss=_xent(f, y),
                                accuracy=_accuracy(f, y, _resolution(kernel, atol)))
    if kxs is not None:
        ftest = decay * f0t - np.matmul(kxs, w)
        res = res._replace(f_test=ftest)
        if y_test is not None:
            res = res._replace(
                test_loss=_xent(ftest, y_test),
                test_accuracy=_accuracy(ftest, y_test, _resolution(kxs, atol))
            )
    return res


def _test_points(kernel_test_train, f0_test, y_test, shape: tuple[int, int]):
    """Checked ``(kxs (M, N), f0_test (M, C), y_test (M, C) or None)``, or three ``None`` without
    test points; ``shape = (N, C)`` of the training labels."""
    n, c = shape
    if kernel_test_train is None:
        if f0_test is not None or y_test is not None:
            raise _checks.bad_value("kernel_test_train", "is needed for f0_test and y_test")
        return None, None, None
    kxs = _checks.matrix("kernel_test_train", kernel_test_train, columns=n)
    m = kxs.shape[0]
    f0t = _checks.real_array("f0_test", 0.0 if f0_test is None else f0_test)
    f0t = _checks.broadcastable("f0_test", f0t, (m, c))
    if y_test is not None:
        y_test = _checks.probability_rows("y_test", y_test, m)
    return kxs, f0t, y_test


def _solve(rhs, jac, t: np.ndarray, shape: tuple[int, int], method: str, rtol: float,
           atol: float) -> np.ndarray:
    """``w`` at the times ``t`` ``(T,)`` (any order, repeats allowed): ``(T, N, C)`` for
    ``shape = (N, C)``; ``jac`` None for explicit methods."""
    n, c = shape
    t_sorted, inverse = np.unique(t, return_inverse=True)
    if not (t.size and t_sorted[-1] > 0.0):
        return np.zeros((len(t), n, c))
    sol = _integrate.solve_ivp(
        rhs, (0.0, float(t_sorted[-1])), np.zeros(n * c), method=method, t_eval=t_sorted,
        rtol=rtol, atol=atol, **({"jac": jac} if jac is not None else {}),
    )
    if not sol.success:
        raise RuntimeError(f"ODE solver failed: {sol.message}")
    return sol.y.T.reshape(len(t_sorted), n, c)[inverse]
