"""Import-time aliases that let neural-tangents 0.6.5 load on a current JAX.

neural-tangents 0.6.5 (Dec 2023, its last release) imports names that later JAX
releases moved out of their public modules. This module only *re-adds moved names*
under their old addresses; it changes no behaviour of JAX or of neural-tangents.
Import it before ``neural_tangents`` (``l2lab.theory.kernels`` does so, through
:func:`import_neural_tangents`).

What it re-adds (each only when missing, so newer or older JAX is left alone;
:data:`PATCHED` lists what was added in this process):

* ``jax.core.{Jaxpr, JaxprEqn, Literal, Var, Primitive, ShapedArray, Value,
  AbstractValue}`` from ``jax._src.core`` (moved out of ``jax.core`` since jax 0.6);
* ``jax.util.safe_map``/``safe_zip`` from ``jax._src.util`` (removed in jax 0.7, while the
  module stayed), and the module ``jax.util`` itself where it is gone (jax 0.10);
* ``jax.interpreters.ad.source_info_util`` and ``jax.interpreters.ad.zeros_like_p``
  (from ``jax._src.source_info_util`` and ``jax._src.ad_util``);
* an empty stand-in for ``neural_tangents.experimental``, whose only content is a
  TensorFlow port that would import tensorflow (which we do not install).

Installing neural-tangents
--------------------------
:data:`INSTALL_COMMAND`: ``pip install --no-deps neural-tangents==0.6.5 frozendict==2.5.1``
(``%pip`` in a notebook). ``--no-deps`` because neural-tangents declares tensorflow and
tf2jax as dependencies, which the features below never import; without it pip installs
tensorflow and may replace the installed jax/jaxlib. ``frozendict`` is the one dependency
it does import. Without them, ``import l2lab.theory.kernels`` (old name ``l2lab.kernels``)
raises an ImportError with this command; every other l2lab module imports without neural-tangents.

Verified on jax 0.5.3..0.10.2 (2026-12-01)
------------------------------------------
:data:`VERIFIED_JAX`. neural-tangents 0.6.5 installed with ``--no-deps``, Python 3.11,
CPU, numpy 2.4.6, scipy 1.17.1, on jax/jaxlib 0.5.3, 0.6.2, 0.7.2 and 0.10.2 (the pin of
``requirements.txt``), each in its own venv. What ran on each:

* ``pytest tests/test_kernels.py`` (l2lab's kernels: analytic FC NTK against the arc-cosine
  closed form, analytic vs empirical NTK of wide networks, the empirical-NTK
  implementations against each other and against ``jax.jacrev``, the CNN kernel, ``nt.batch``,
  :func:`l2lab.theory.kernels.max_learning_rate`): all pass on the four;
* a probe script (kept out of the repository; its ``predict`` and empirical-kernel parts are
  ``test_neural_tangents_api_a_reader_would_use`` in ``tests/test_kernels.py``) calling the
  neural-tangents API a reader of the book would reach for: ``stax`` kernels (Dense, Relu,
  Identity, Erf, Gelu, Sigmoid_like, ABRelu, LeakyRelu, Conv, AvgPool, GlobalAvgPool,
  Flatten, LayerNorm, FanOut/parallel/FanInSum, Dropout; jitted ``kernel_fn``), ``nt.batch``
  (analytic and empirical kernels, ``store_on_device`` both ways), ``empirical_ntk_fn``
  (every ``NtkImplementation``), ``empirical_nngp_fn``, ``empirical_kernel_fn``,
  ``empirical_ntk_vp_fn``, ``monte_carlo_kernel_fn``, ``linearize``, ``taylor_expand``,
  ``predict.gradient_descent_mse`` (finite t and t = None), ``gradient_descent_mse_ensemble``
  (with covariances, t = None too), ``gp_inference``, ``gradient_descent`` (cross-entropy,
  with and without momentum), ``max_learning_rate``: 29 of 35 calls work on all four; the
  6 that fail, on all four, are the entries of :data:`BROKEN`.

The aliases differ by release (jax 0.5.3 needs only ``ad.source_info_util``; 0.6.2 adds
the ``jax.core`` names; 0.7.2 ``jax.util.safe_map``/``safe_zip``; 0.10.2 the ``jax.util``
module and ``ad.zeros_like_p``). Before 2026-12-01 this module only created a missing
``jax.util``, so neural-tangents did not import on jax 0.7.2 (``jax.util`` present without
``safe_map``). Outside the range it may still work; if a JAX release moves another name,
importing neural-tangents fails with an ImportError that says so (not the install command).

Next to break: on jax 0.10.2 ``NTK_VECTOR_PRODUCTS`` warns ``DeprecationWarning: size requires
ndarray or scalar arguments, got <class 'jax.ShapeDtypeStruct'> ... In a future JAX release
this will be an error`` (``jnp.size`` in neural-tangents' ``_std_basis``); the default
``JACOBIAN_CONTRACTION`` does not.
"""
from __future__ import annotations

import sys
import types
import warnings

import jax

#: The neural-tangents release this module is written for (its last release).
NT_VERSION = "0.6.5"
#: Oldest and newest JAX release on which the features l2lab uses are verified (see above).
VERIFIED_JAX = ("0.5.3", "0.10.2")
#: What installs neural-tangents for l2lab (same pins as ``requirements*.txt``).
INSTALL_COMMAND = f"pip install --no-deps neural-tangents=={NT_VERSION} frozendict==2.5.1"

#: neural-tangents 0.6.5 features that do not work on the pinned stack (jax 0.10.2, scipy
#: 1.17.1; they also fail on the oldest verified JAX): name -> reason and workaround.
#: ``l2lab.theory.kernels.empirical_ntk`` rejects the two implementations with a ValueError.
BROKEN: dict[str, str] = {
    "NtkImplementation.STRUCTURED_DERIVATIVES": (
        "the structured-derivatives empirical NTK (implementation=3 of empirical_ntk_fn, "
        "empirical_kernel_fn, nt.batch of them) calls private jax.interpreters.ad functions "
        "whose signatures changed: TypeError \"linearize() got multiple values for argument "
        "'has_aux'\" (jax 0.10.2; AttributeError 'ad.config' on jax 0.5.3-0.7.2). Use "
        "JACOBIAN_CONTRACTION (the default) or NTK_VECTOR_PRODUCTS."),
    "NtkImplementation.AUTO": (
        "implementation=0 picks the cheapest implementation from "
        "jax.jit(f).lower().compile().cost_analysis()[0], but cost_analysis() now returns a "
        "dict: KeyError: 0 (it would also try STRUCTURED_DERIVATIVES). Pass "
        "JACOBIAN_CONTRACTION or NTK_VECTOR_PRODUCTS explicitly."),
    "nt.predict.max_learning_rate": (
        "on CPU it calls scipy.linalg.eigvalsh(..., eigvals=...), a keyword that scipy 1.14 "
        "removed: TypeError \"eigvalsh() got an unexpected keyword argument 'eigvals'\" "
        "(on GPU/TPU its source takes a jnp.linalg path instead; not verified). Use "
        "l2lab.theory.kernels.max_learning_rate "
        "(normalize='mean' is neural-tangents' 1/(2N) loss convention)."),
    "nt.predict.gradient_descent_mse under jit/vmap": (
        "with a traced kernel (the predictor built inside jax.jit, jax.vmap or jax.grad) it "
        "raises UnexpectedTracerError: its eigendecomposition is computed under "
        "jax.core.eval_context() and cached, so a tracer escapes (neural-tangents' own "
        "testNTKMeanCovPrediction0 fails on it). Build the predictor from a concrete kernel "
        "outside the transformation, or use l2lab.theory.train_set_evolution (Eq. 1 in closed "
        "form, float64)."),
}

PATCHED: list[str] = []


def install_message(err: BaseException | str = "") -> str:
    """The ImportError message for a missing neural-tangents: :data:`INSTALL_COMMAND` and why
    ``--no-deps``."""
    return (
        f"l2lab.theory.kernels needs neural-tangents {NT_VERSION} and frozendict"
        + (f", which are not installed ({err})" if err else "") + ". Install them with\n"
        f"    {INSTALL_COMMAND}\n"
        "(%pip in a notebook). Use --no-deps: neural-tangents declares tensorflow and tf2jax as "
        "dependencies, which the kernels l2lab uses never import; without --no-deps pip "
        "installs tensorflow and may replace your jax/jaxlib.")


def _outside_range(err: BaseException) -> ImportError:
    lo, hi = VERIFIED_JAX
    return ImportError(
        f"neural-tangents {NT_VERSION} does not load on jax {jax.__version__} through "
        f"l2lab._nt_compat (verified on jax {lo}..{hi}): {type(err).__name__}: {err}")


def _alias(module, name, value):
    with warnings.catch_warnings():  # hasattr on a deprecated name warns (jax 0.6)
        warnings.simplefilter("ignore", DeprecationWarning)
        present = hasattr(module, name)
    if not present:
        setattr(module, name, value)
        PATCHED.append(f"{module.__name__}.{name}")


try:
    import jax._src.core as _core
    import jax._src.util as _util
    import jax._src.source_info_util as _siu
    import jax._src.ad_util as _ad_util
    from jax.interpreters import ad as _ad

    for _name in ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive", "ShapedArray",
                  "Value", "AbstractValue"):
        if hasattr(_core, _name):
            _alias(jax.core, _name, getattr(_core, _name))

    try:
        import jax.util as _jax_util  # present (possibly without safe_map) on jax < 0.10
    except ImportError:
        _jax_util = types.ModuleType("jax.util")
        sys.modules["jax.util"] = _jax_util
        jax.util = _jax_util
        PATCHED.append("jax.util")
    _alias(_jax_util, "safe_map", _util.safe_map)
    _alias(_jax_util, "safe_zip", _util.safe_zip)

    _alias(_ad, "source_info_util", _siu)
    if hasattr(_ad_util, "zeros_like_p"):
        _alias(_ad, "zeros_like_p", _ad_util.zeros_like_p)
except (ImportError, AttributeError) as _err:  # a JAX that moved its private modules
    raise _outside_range(_err) from _err

if "neural_tangents.experimental" not in sys.modules:
    _exp = types.ModuleType("neural_tangents.experimental")
    _exp.__doc__ = "Stand-in: the TensorFlow port is not installed by l2lab."
    sys.modules["neural_tangents.experimental"] = _exp
    PATCHED.append("neural_tangents.experimental (empty stand-in)")


def import_neural_tangents():
    """Import and return ``neural_tangents`` (after the aliases above).

    Raises:
      ImportError: neural-tangents or frozendict is not installed (the message gives
        :data:`INSTALL_COMMAND`), or it does not load on this JAX (the message gives
        :data:`VERIFIED_JAX`).
    """
    try:
        import neural_tangents
    except ModuleNotFoundError as err:
        if err.name is not None and err.name.split(".")[0] in ("neural_tangents", "frozendict"):
            raise ImportError(install_message(err), name=err.name) from err
        raise _outside_range(err) from err
    except ImportError as err:
        raise _outside_range(err) from err
    return neural_tangents
