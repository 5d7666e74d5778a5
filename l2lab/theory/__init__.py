"""The theory wing: gradient-flow theory of L2-regularised wide networks (paper section 4, SM B).

Lewkowycz & Gur-Ari (2020), Theorem 1: for a network whose output is k-homogeneous in its
parameters, trained by gradient flow on ``L = sum_S loss + (lam/2) |theta|^2`` in the
infinite-width limit,

    df/dt     = -exp(-2 (k-1) lam t) sum_S Theta_0(x, x') dloss/df(x') - k lam f(x)     (Eq. 1)
    Theta_t   =  exp(-2 (k-1) lam t) Theta_0                                            (Eq. 2)

Modules (their public names are re-exported here):

* :mod:`l2lab.theory.modes`         -- Eq. (2) :func:`kernel_decay` and one MSE eigenmode exactly,
  Eq. (3) :func:`mse_mode`.
* :mod:`l2lab.theory.tables`        -- the bounded particular solution ``G_k(gamma / lam)`` of a
  mode: special functions and the per-``k`` interpolation tables behind :func:`mse_mode`.
* :mod:`l2lab.theory.spectrum`      -- eigenvalues of ``Theta_0`` with round-off snapped, PSD check.
* :mod:`l2lab.theory.train_set`     -- the training set and test points with MSE loss:
  :func:`train_set_evolution`, :func:`linear_model_limit`, :func:`predict_test`.
* :mod:`l2lab.theory.cross_entropy` -- softmax cross-entropy, integrated numerically:
  :func:`cross_entropy_evolution`.
* :mod:`l2lab.theory.verdicts`     -- the theory chapters' verdicts on section 4, each with its
  criterion (imported by name: ``from l2lab.theory import verdicts``).
* :func:`time_of_min` / :func:`time_of_max` live in :mod:`l2lab.measure` (NaN-safe); they are
  exported here too, for code written against the old ``l2lab.theory`` module.

Two submodules are imported only on first use (``from l2lab.theory import kernels, wide`` or
``l2lab.theory.kernels``), so ``import l2lab.theory`` stays cheap and works without the optional
neural-tangents:

* :mod:`l2lab.theory.kernels` -- neural tangent kernels of the paper's architectures (needs
  neural-tangents; its ImportError names the install command).
* :mod:`l2lab.theory.wide`    -- finite wide networks trained by gradient descent (jax), the
  experiments that test the theory.

All functions take and return float64 numpy arrays; the old names ``l2lab.kernels`` and
``l2lab.wide`` still import (``l2lab.MOVED``).
"""
from __future__ import annotations

import importlib

from l2lab.measure import time_of_max, time_of_min
from l2lab.theory.cross_entropy import CrossEntropyEvolution, cross_entropy_evolution
from l2lab.theory.modes import kernel_decay, mse_mode
from l2lab.theory.train_set import (TrainSetEvolution, linear_model_limit, predict_test,
                                    train_set_evolution)

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

#: Submodules imported on first attribute access (heavy or optional dependencies).
LAZY_SUBMODULES = ("kernels", "wide")


def __getattr__(name: str):
    if name in LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(LAZY_SUBMODULES))
