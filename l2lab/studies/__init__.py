"""The studies wing: the book's part "Related results", one module per chapter's question.

* :mod:`~l2lab.studies.scale_invariance` -- batch norm and L2: kernel scaling, the equilibrium
  angular step, the Li & Arora exponential learning rate (``ScaleInvariantNet``).
* :mod:`~l2lab.studies.tracker`          -- ``track``: one run with every step recorded (norms,
  effective learning rate, angular update) and its late-time summary.
* :mod:`~l2lab.studies.weight_decay`     -- Adam + L2 against AdamW grids, early weight decay.
* :mod:`~l2lab.studies.catapult`         -- MSE: the critical learning rate, accuracy at fit time.
* :mod:`~l2lab.studies.narrow`           -- the narrow FC network of SM D: lam_opt, the regimes of t*.
* :mod:`~l2lab.studies.init_scale`       -- runs over the initialization scale sigma_w (SM F).
* :mod:`~l2lab.studies.collapse`         -- why t* eta lam collapses or not: t* at several
  tolerances, the fit-time floor, the late gain, test-loss t*, the test set's noise.

The modules are the public names (several define a ``spread`` or a ``scale_kernels`` of their
own); each is imported on first use (``from l2lab.studies import catapult``), since some import
JAX and flax. Their figures are in :mod:`l2lab.figures`.
"""
from __future__ import annotations

import importlib

__all__ = ["catapult", "collapse", "init_scale", "narrow", "scale_invariance", "tracker", "weight_decay"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
