"""Neural tangent kernels of the paper's architectures (infinite width, via neural-tangents).

Theorem 1 of the paper says that for a k-homogeneous network trained with L2 coefficient lam,
the kernel on the training set decays as ``Theta_t = exp(-2 (k-1) lam t) Theta_0``; this module
provides ``Theta_0`` (analytic, infinite width), the degree ``k``, and the empirical NTK of a
finite network at given parameters, so that the book can compare the two.

All kernels are returned as float64 numpy arrays (the NTK diagonal is off by ~1e-4 relative in
float32: compare theory and experiment in float64).

Architectures (``stax`` triples ``(init_fn, apply_fn, kernel_fn)``):

* :func:`fc` -- fully connected ReLU network (SM A "FC": 3 hidden layers, ``W_std = sqrt(2)``,
  ``b_std = 0``), NTK or standard parameterization.
* :func:`cnn` -- the convolutional network of SM A without batch norm. neural-tangents has no
  analytic max-pooling kernel, so the analytic kernel uses average pooling (``pool="avg"``);
  use :func:`empirical_ntk` on the Flax model for the exact architecture.

Needs neural-tangents 0.6.5 (``pip install --no-deps neural-tangents==0.6.5 frozendict==2.5.1``;
importing this module without it raises an ImportError with that command), loaded through
:mod:`l2lab._nt_compat`, whose ``BROKEN`` lists the neural-tangents features that do not work
on the pinned stack and what to use instead (e.g. :func:`max_learning_rate` here for
``nt.predict.max_learning_rate``).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from l2lab import _checks, _nt_compat  # _nt_compat must precede neural_tangents

nt = _nt_compat.import_neural_tangents()  # ImportError with the install command if missing
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from neural_tangents import stax  # noqa: E402

__all__ = [
    "Architecture",
    "fc",
    "cnn",
    "homogeneity_degree",
    "ntk",
    "nngp",
    "empirical_ntk",
    "max_learning_rate",
    "relu_ntk_one_hidden_layer",
]

_PARAMETERIZATIONS = ("ntk", "standard")


class Architecture(NamedTuple):
    """A network as a neural-tangents ``stax`` triple plus its homogeneity degree.

    Attributes:
      init_fn: ``init_fn(key, input_shape) -> (output_shape, params)``.
      apply_fn: ``apply_fn(params, x) -> f`` with ``f`` of shape ``(N, num_outputs)``.
      kernel_fn: analytic infinite-width kernel function ``kernel_fn(x1, x2, get)``.
      k: degree of homogeneity, ``f_{a theta} = a**k f_theta`` (``None`` if not homogeneous).
      name: short description.
    """

    init_fn: Callable
    apply_fn: Callable
    kernel_fn: Callable
    k: int | None
    name: str


def fc(depth: int = 3, width: int = 2048, *, W_std: float = math.sqrt(2.0),
       b_std: float | None = None, num_outputs: int = 1, parameterization: str = "ntk",
       activation: str = "relu") -> Architecture:
    """Fully connected network: ``depth`` hidden layers of ``width`` units, then a linear readout.

    Args:
      depth: number of hidden layers (the paper's FC has 3; Figure 5 uses 1, "2-layer").
      width: hidden width of the finite network (``init_fn``/``apply_fn``); the analytic
        ``kernel_fn`` is the infinite-width limit and does not depend on it.
      W_std: weight scale ``sigma_w`` (SM A: sqrt(2) for ReLU).
      b_std: bias scale; ``None`` (default) means no biases, which keeps the network exactly
        homogeneous of degree ``depth + 1`` (the paper's sigma_b = 0 case).
      num_outputs: output dimension.
      parameterization: ``"ntk"`` (the paper's theory, SM B) or ``"standard"`` (SM A experiments).
      activation: ``"relu"`` (homogeneous, degree 1) or ``"linear"`` (deep linear network).

    Returns:
      :class:`Architecture` with ``k = depth + 1`` when ``b_std is None`` (else ``k=None``).
    """
    depth = _checks.nonneg_int("depth", depth)
    width = _checks.positive_int("width", width)
    num_outputs = _checks.positive_int("num_outputs", num_outputs)
    W_std = _checks.nonneg_float("W_std", W_std)
    if b_std is not None:
        b_std = _checks.nonneg_float("b_std", b_std)
    _checks.one_of("parameterization", parameterization, _PARAMETERIZATIONS)
    if activation not in ("relu", "linear"):
        raise ValueError(f"activation must be 'relu' or 'linear', got {activation!r}")
    layers = []
    for _ in range(depth):
        layers.append(stax.Dense(width, W_std=W_std, b_std=b_std,
                                 parameterization=parameterization))
        layers.append(stax.Relu() if activation == "relu" else stax.Identity())
    layers.append(stax.Dense(num_outputs, W_std=W_std, b_std=b_std,
                             parameterization=parameterization))
    init_fn, apply_fn, kernel_fn = stax.serial(*layers)
    k = depth + 1 if b_std is None else None
    name = f"FC depth={depth} width={width} {activation} {parameterization}"
    return Architecture(init_fn, apply_fn, jax.jit(kernel_fn, static_argnames="get"), k, name)


def cnn(channels: int = 300, dense: int = 500, *, num_outputs: int = 10,
        W_std: float = math.sqrt(2.0), pool_window: int = 2,
        parameterization: str = "standard") -> Architecture:
    """The SM A convolutional network (no batch norm) with *average* pooling.

    ``Conv_same(c) -> ReLU -> Conv_valid(c) -> ReLU -> Pool -> Conv_same(c) -> ReLU -> Conv_valid(c)
    -> Pool -> Flatten -> Dense(dense) -> Dense(num_outputs)``, 3x3 filters, no biases.
    neural-tangents has no analytic kernel for max pooling, so the pools are average pools
    (the Flax model in :mod:`l2lab.models` uses max pooling; compare with :func:`empirical_ntk`).
    SM A's text gives the pool window as (6,6) in the architecture line and (2,2) in its legend;
    ``pool_window`` chooses. Degree of homogeneity: 6 (six weight layers, no biases). Note that
    the paper's listing has no activation between the last conv/pool and between the two dense
    layers; we follow it literally.
    """
    channels = _checks.positive_int("channels", channels)
    dense = _checks.positive_int("dense", dense)
    num_outputs = _checks.positive_int("num_outputs", num_outputs)
    pool_window = _checks.positive_int("pool_window", pool_window)
    W_std = _checks.nonneg_float("W_std", W_std)
    _checks.one_of("parameterization", parameterization, _PARAMETERIZATIONS)
    kw = dict(W_std=W_std, b_std=None, parameterization=parameterization)
    pool = stax.AvgPool((pool_window, pool_window), padding="VALID")
    init_fn, apply_fn, kernel_fn = stax.serial(
        stax.Conv(channels, (3, 3), padding="SAME", **kw), stax.Relu(),
        stax.Conv(channels, (3, 3), padding="VALID", **kw), stax.Relu(), pool,
        stax.Conv(channels, (3, 3), padding="SAME", **kw), stax.Relu(),
        stax.Conv(channels, (3, 3), padding="VALID", **kw), pool,
        stax.Flatten(), stax.Dense(dense, **kw), stax.Dense(num_outputs, **kw))
    name = f"CNN channels={channels} dense={dense} avgpool{pool_window} {parameterization}"
    return Architecture(init_fn, apply_fn, jax.jit(kernel_fn, static_argnames="get"), 6, name)


def homogeneity_degree(arch: Architecture) -> int:
    """The degree ``k`` of the architecture (``f_{a theta} = a**k f_theta``).

    Raises:
      ValueError: if the architecture is not positively homogeneous (e.g. it has biases).
    """
    if not isinstance(arch, Architecture):
        raise TypeError(f"arch must be an l2lab.theory.kernels.Architecture, "
                        f"got {type(arch).__name__}")
    if arch.k is None:
        raise ValueError(f"arch {arch.name!r} is not positively homogeneous (biases?)")
    return arch.k


def _as_inputs(name: str, x) -> jnp.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":
        raise _checks.bad_type(name, f"must be an array of real numbers, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise _checks.bad_value(name, f"must have shape (N, ...) with a batch axis and N >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise _checks.bad_value(name, "contains non-finite values")
    return jnp.asarray(x, dtype=jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)


def _kernel(arch: Architecture, x1, x2, get: str, batch_size: int) -> np.ndarray:
    if not isinstance(arch, Architecture):
        raise TypeError(f"arch must be an l2lab.theory.kernels.Architecture, "
                        f"got {type(arch).__name__}")
    batch_size = _checks.positive_int("batch_size", batch_size)
    with _x64():
        a = _as_inputs("x1", x1)
        b = None if x2 is None else _as_inputs("x2", x2)
        a = a.astype(jnp.float64)
        b = None if b is None else b.astype(jnp.float64)
        n1, n2 = a.shape[0], (a.shape[0] if b is None else b.shape[0])
        if n1 * n2 <= batch_size * batch_size:
            out = arch.kernel_fn(a, b, get)
        else:   # nt.batch needs a batch size dividing both sets (else it warns and shrinks it)
            size = max(d for d in range(1, min(batch_size, n1, n2) + 1) if n1 % d == 0 and n2 % d == 0)
            fn = nt.batch(arch.kernel_fn, batch_size=size)
            out = fn(a, b, get)
        return np.asarray(out, dtype=np.float64)


def _x64():
    """Context manager computing in float64 without changing the global JAX setting."""
    if hasattr(jax, "enable_x64"):  # newer JAX; jax.experimental.enable_x64 on jax <= 0.7
        return jax.enable_x64(True)
    from jax.experimental import enable_x64
    return enable_x64(True)


def ntk(arch: Architecture, x1, x2=None, *, batch_size: int = 256) -> np.ndarray:
    """Analytic infinite-width NTK ``Theta_0(x1, x2)``, float64, shape ``(N1, N2)``.

    For multi-output networks this is the per-output kernel (neural-tangents' convention:
    the kernel is proportional to the identity in output space).

    Args:
      arch: an :class:`Architecture` from :func:`fc` or :func:`cnn`.
      x1: inputs ``(N1, ...)`` (flattened vectors for ``fc``; ``(N, H, W, C)`` for ``cnn``).
      x2: inputs ``(N2, ...)`` or ``None`` for ``x2 = x1``.
      batch_size: block size used when the kernel matrix is large.
    """
    return _kernel(arch, x1, x2, "ntk", batch_size)


def nngp(arch: Architecture, x1, x2=None, *, batch_size: int = 256) -> np.ndarray:
    """Analytic infinite-width NNGP kernel (covariance of ``f_0``), float64 ``(N1, N2)``."""
    return _kernel(arch, x1, x2, "nngp", batch_size)


_IMPLEMENTATIONS = {
    "jacobian_contraction": nt.NtkImplementation.JACOBIAN_CONTRACTION,
    "ntk_vector_products": nt.NtkImplementation.NTK_VECTOR_PRODUCTS,
}
#: Implementations neural-tangents has but that fail on the pinned stack (``_nt_compat.BROKEN``).
_BROKEN_IMPLEMENTATIONS = {
    "structured_derivatives": "NtkImplementation.STRUCTURED_DERIVATIVES",
    "auto": "NtkImplementation.AUTO",
}


def _implementation(implementation):
    """``nt.NtkImplementation`` for a name of ``_IMPLEMENTATIONS`` (or the enum, or its int)."""
    if (isinstance(implementation, (int, np.integer)) and not isinstance(implementation, bool)
            and int(implementation) in {m.value for m in nt.NtkImplementation}):
        implementation = nt.NtkImplementation(int(implementation))
    if isinstance(implementation, nt.NtkImplementation):
        implementation = implementation.name
    if not isinstance(implementation, str):
        raise ValueError(f"implementation must be one of {sorted(_IMPLEMENTATIONS)}, got "
                         f"{implementation!r}")
    key = implementation.lower()
    if key in _BROKEN_IMPLEMENTATIONS:
        raise ValueError(
            f"implementation={implementation!r} does not work with neural-tangents "
            f"{_nt_compat.NT_VERSION} on this stack: "
            f"{_nt_compat.BROKEN[_BROKEN_IMPLEMENTATIONS[key]]} Here: implementation="
            f"'jacobian_contraction' (the default) or 'ntk_vector_products'.")
    if key not in _IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {sorted(_IMPLEMENTATIONS)}, got {implementation!r}")
    return _IMPLEMENTATIONS[key]


def empirical_ntk(apply_fn: Callable, params, x1, x2=None, *,
                  implementation: str = "jacobian_contraction",
                  trace_outputs: bool = True) -> np.ndarray:
    """Empirical NTK ``grad f(x1) . grad f(x2)`` of a finite network at ``params``.

    Works for ``stax`` networks (``apply_fn(params, x)``) and Flax modules (pass
    ``model.apply`` and the variables dict).

    Args:
      apply_fn: ``apply_fn(params, x) -> (N, K)`` network function.
      params: parameter pytree.
      x1: ``(N1, ...)`` inputs; x2: ``(N2, ...)`` inputs or ``None`` (``x2 = x1``).
      implementation: ``"jacobian_contraction"`` or ``"ntk_vector_products"`` (or the
        ``nt.NtkImplementation`` members of those names). ``"structured_derivatives"`` and
        ``"auto"`` raise a ValueError: they fail on the pinned stack (``_nt_compat.BROKEN``).
      trace_outputs: if True return the kernel averaged over the K outputs, shape ``(N1, N2)``;
        else the full ``(N1, N2, K, K)`` kernel.

    Returns:
      float64 numpy array.
    """
    if not callable(apply_fn):
        raise TypeError("apply_fn must be callable")
    impl = _implementation(implementation)
    a = _as_inputs("x1", x1)
    b = None if x2 is None else _as_inputs("x2", x2)
    fn = nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,) if trace_outputs else (),
                             vmap_axes=0, implementation=impl)
    return np.asarray(jax.jit(fn)(a, b, params), dtype=np.float64)


def max_learning_rate(ntk_train_train, *, lam: float = 0.0, normalize: str = "sum",
                      momentum: float = 0.0) -> float:
    """Largest stable learning rate of full-batch gradient descent on MSE in the kernel regime.

    For ``L = 1/2 sum_i |f(x_i) - y_i|^2 + lam/2 |theta|^2`` (``normalize="sum"``, the
    convention of :mod:`l2lab.theory.wide`) the linearized network's Hessian in parameter space is
    ``J^T J + lam I``, whose largest eigenvalue is ``lambda_max(Theta) + lam`` (``J J^T = Theta``
    is the train-train NTK), so gradient descent converges iff
    ``eta < 2 (1 + momentum) / (lambda_max(Theta) + lam)``. With ``normalize="mean"``
    (``L = 1/(2N) sum_i ...``) the data term is divided by ``N``: ``2 (1 + momentum) /
    (lambda_max(Theta) / N + lam)``. ``max_learning_rate(k, normalize="mean", momentum=m)``
    equals ``nt.predict.max_learning_rate(k, momentum=m)``, which fails on CPU with
    scipy >= 1.14 (``l2lab._nt_compat.BROKEN``).

    Args:
      ntk_train_train: ``(N, N)`` symmetric NTK on the training set (e.g. :func:`ntk`; for
        several outputs the per-output kernel, as :func:`ntk` returns it).
      lam: L2 coefficient (>= 0).
      normalize: ``"sum"`` or ``"mean"`` over the N samples.
      momentum: heavy-ball momentum in ``[0, 1)``.

    Returns:
      the critical learning rate (float; ``inf`` if the kernel and ``lam`` are both zero).
    """
    k = _checks.symmetric_matrix("ntk_train_train", ntk_train_train, rtol=1e-6)
    lam = _checks.nonneg_float("lam", lam)
    momentum = _checks.real("momentum", momentum, minimum=0.0, maximum=1.0, open_maximum=True)
    _checks.one_of("normalize", normalize, ("sum", "mean"))
    top = float(np.linalg.eigvalsh(k)[-1])
    if normalize == "mean":
        top /= k.shape[0]
    curvature = max(top, 0.0) + lam
    return math.inf if curvature == 0 else 2.0 * (1.0 + momentum) / curvature


def relu_ntk_one_hidden_layer(x1, x2=None, *, W_std: float = math.sqrt(2.0)) -> np.ndarray:
    """Closed-form NTK of ``f(x) = (W_std/sqrt(n)) v . relu((W_std/sqrt(d)) W x)`` as n -> inf.

    The arc-cosine formulas (Cho & Saul 2009; Jacot et al. 2018): with
    ``q_ij = W_std**2 x_i.x_j / d`` and ``theta`` the angle between the inputs,
    ``Theta = W_std**2 [E relu(u) relu(u')] + W_std**2 q_12 [E relu'(u) relu'(u')]``,
    ``E relu relu = sqrt(q_11 q_22) (sin theta + (pi - theta) cos theta) / (2 pi)``,
    ``E relu' relu' = (pi - theta) / (2 pi)``. An independent reference for :func:`fc` with
    ``depth=1`` in NTK parameterization (used by the tests).

    Args:
      x1: ``(N1, d)``; x2: ``(N2, d)`` or ``None``.
    Returns:
      ``(N1, N2)`` float64.
    """
    W_std = _checks.nonneg_float("W_std", W_std)
    a = np.asarray(x1, dtype=np.float64)
    b = a if x2 is None else np.asarray(x2, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"x1, x2 must be (N, d) with equal d, got {a.shape}, {b.shape}")
    d = a.shape[1]
    s2 = W_std ** 2
    q12 = s2 * (a @ b.T) / d
    q11 = s2 * np.sum(a * a, axis=1) / d
    q22 = s2 * np.sum(b * b, axis=1) / d
    norm = np.sqrt(np.outer(q11, q22))
    cos = np.clip(q12 / norm, -1.0, 1.0)
    theta = np.arccos(cos)
    e_relu = norm * (np.sin(theta) + (np.pi - theta) * cos) / (2 * np.pi)
    e_step = (np.pi - theta) / (2 * np.pi)
    return s2 * e_relu + s2 * q12 * e_step
