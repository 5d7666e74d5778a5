"""l2lab: the training dynamics of deep networks with L2 regularization, in JAX.

Companion library of the l2lab book (Lewkowycz & Gur-Ari, NeurIPS 2020). Its wings mirror the
book's parts; each re-exports its public names (``__all__``) and is imported on first use, so
``import l2lab`` stays cheap:

* ``l2lab.theory``       -- Eqs. (1)-(3): kernel decay, the modes, cross-entropy, numerical
  tables; ``theory.kernels`` (neural-tangents) and ``theory.wide`` (finite wide networks).
* ``l2lab.data``         -- the dataset type, MNIST-5k, IDX/CIFAR-10 loaders, verified downloads,
  splits, transforms.
* ``l2lab.engine``       -- models, optimizers and lam schedules, AutoL2, the training engine,
  sweep specs and presets, records, the sweep runner and its CLI.
* ``l2lab.applications`` -- lam_pred = c/T (``predict``, with its CLI) and ``tuning``.
* ``l2lab.studies``      -- the related results (normalization, weight decay, catapult, ...).
* ``l2lab.figures``      -- every figure, the plot helpers and widgets.
* ``l2lab.measure``      -- t*, peaks and fits: NaN-safe functions of curves.
* ``l2lab.scales``       -- the book's scale switch (``L2LAB_SCALE``).

Modules that moved keep their old names (:data:`MOVED`): ``import l2lab.sweep``,
``from l2lab import kernels`` and ``python -m l2lab.sweep`` work as before.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

WINGS = ("theory", "data", "engine", "applications", "studies", "figures", "measure", "scales")

#: Old module name -> the module that holds its names now (old names keep importing).
MOVED = {
    "kernels": "l2lab.theory.kernels",
    "wide": "l2lab.theory.wide",
    "models": "l2lab.engine.models",
    "autol2": "l2lab.engine.autol2",
    "train": "l2lab._moved.train",
    "sweep": "l2lab._moved.sweep",
    "predict": "l2lab._moved.predict",
    "tuning": "l2lab.applications.tuning",
    "catapult": "l2lab.studies.catapult",
    "narrow": "l2lab.studies.narrow",
    "init_scale": "l2lab.studies.init_scale",
    "scale_invariance": "l2lab.studies.scale_invariance",
    "weight_decay": "l2lab._moved.weight_decay",
    "plots": "l2lab.figures.plots",
    "widgets": "l2lab.figures.widgets",
    "application_figures": "l2lab.figures.applications",
    "related_figures": "l2lab.figures.related",
    "scale_invariance_figures": "l2lab.figures.scale_invariance",
}

__all__ = ["WINGS", "MOVED", "__version__"]


class _Alias(importlib.abc.Loader):
    """Loads ``l2lab.<old>`` as the module it moved to (the same module object), and gives
    ``python -m l2lab.<old>`` the code of that module."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self._spec      # the import system set it to the alias's spec

    def get_code(self, fullname):
        spec = importlib.util.find_spec(self.target)
        return spec.loader.get_code(self.target)

    def is_package(self, fullname) -> bool:
        return False


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.partition(".")
        if prefix != __name__ or name not in MOVED:
            return None
        target = importlib.util.find_spec(MOVED[name])    # its file: python -m sets sys.argv[0] to it
        return importlib.util.spec_from_loader(fullname, _Alias(MOVED[name]), origin=target.origin)


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedFinder())


def __getattr__(name: str):
    if name in WINGS or name in MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(WINGS) | set(MOVED))
