"""Import-time aliases that let neural-tangents 0.6.5 load on a current JAX.

neural-tangents 0.6.5 (Dec 2023, its last release) imports names that later JAX
releases moved out of their public modules. This module only *re-adds moved names*
under their old addresses; it changes no behaviour of JAX or of neural-tangents.
Import it before ``neural_tangents`` (``l2lab.kernels`` does so).

What it re-adds (each only when missing, so newer or older JAX is left alone):

* ``jax.core.{Jaxpr, JaxprEqn, Literal, Var, Primitive, ShapedArray, Value,
  AbstractValue}`` from ``jax._src.core``;
* the module ``jax.util`` (removed in jax 0.10) with ``safe_map``/``safe_zip`` from
  ``jax._src.util``;
* ``jax.interpreters.ad.source_info_util`` and ``jax.interpreters.ad.zeros_like_p``
  (from ``jax._src.source_info_util`` and ``jax._src.ad_util``);
* an empty stand-in for ``neural_tangents.experimental``, whose only content is a
  TensorFlow port that would import tensorflow (which we do not install).

Verified features on the pinned JAX (see ``tests/test_kernels.py``): analytic ``stax``
kernels (Dense, Relu, Conv, Flatten, NTK and standard parameterization),
``predict.gradient_descent_mse_ensemble``, and ``empirical_ntk_fn`` with
``JACOBIAN_CONTRACTION`` and ``NTK_VECTOR_PRODUCTS``. Not supported: the
``STRUCTURED_DERIVATIVES`` empirical NTK (it needs a changed private ``ad.linearize``).
"""
from __future__ import annotations

import sys
import types

import jax
import jax._src.core as _core
import jax._src.util as _util
from jax.interpreters import ad as _ad

PATCHED: list[str] = []


def _alias(module, name, value):
    if not hasattr(module, name):
        setattr(module, name, value)
        PATCHED.append(f"{module.__name__}.{name}")


for _name in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive", "ShapedArray",
              "Value", "AbstractValue"):
    if hasattr(_core, _name):
        _alias(jax.core, _name, getattr(_core, _name))

if "jax.util" not in sys.modules:
    try:
        import jax.util  # noqa: F401  (present on jax < 0.10)
    except ImportError:
        _mod = types.ModuleType("jax.util")
        _mod.safe_map = _util.safe_map
        _mod.safe_zip = _util.safe_zip
        sys.modules["jax.util"] = _mod
        jax.util = _mod
        PATCHED.append("jax.util")

import jax._src.source_info_util as _siu  # noqa: E402
import jax._src.ad_util as _ad_util  # noqa: E402

_alias(_ad, "source_info_util", _siu)
if hasattr(_ad_util, "zeros_like_p"):
    _alias(_ad, "zeros_like_p", _ad_util.zeros_like_p)

if "neural_tangents.experimental" not in sys.modules:
    _exp = types.ModuleType("neural_tangents.experimental")
    _exp.__doc__ = "Stand-in: the TensorFlow port is not installed by l2lab."
    sys.modules["neural_tangents.experimental"] = _exp
    PATCHED.append("neural_tangents.experimental (empty stand-in)")
