"""The paper's architectures (SM A) as Flax linen modules, in standard parameterization.

Every model here is a *pure* function of ``(params, x)``: there is no mutable state, in
particular no batch-norm running statistics (see :class:`BatchNorm`). Use::

    model = FC(widths=(512, 512, 512))
    params = init(model, jax.random.PRNGKey(0), (1, 28, 28, 1))   # a pytree of float32 arrays
    logits = apply(model, params, x)                              # (N, num_classes) float32
    num_params(params)                                            # int

Initialization (SM A, "standard normalization with LeCun initialization"):
``W ~ N(0, sigma_w^2 / N_in)`` (``N_in`` = fan-in; for a convolution ``kh * kw * C_in``) and
``b ~ N(0, sigma_b^2)``. ``sigma_b = 0`` gives zero biases.

Architectures
-------------
* :class:`FC` -- fully connected ReLU network (paper: three hidden layers of width 2048,
  ``sigma_w = sqrt(2)``, ``sigma_b = 0``, trained on 512 MNIST samples).
* :class:`CNN` -- the SM A CNN::

      Conv_SAME(C) -> Act -> Conv_VALID(C) -> Act -> MaxPool
      -> Conv_SAME(C) -> Act -> Conv_VALID(C) -> MaxPool
      -> Flatten -> Dense(dense) -> Dense(num_classes)

  with ``Act = (BatchNorm ->) ReLU`` and (3, 3) filters, exactly as the architecture line of SM A
  reads (note: no Act after the fourth convolution and none between the two Dense layers).
  **Discrepancy in the paper:** the architecture line says ``MaxPool((6,6), 'VALID')`` while the
  legend just below says ``MaxPool((2,2), 'VALID')`` "with a (2,2) window size". The window is the
  ``pool_window`` argument, default ``(2, 2)`` (the legend). The stride is not stated; the paper's
  stax ``MaxPool`` defaults to stride 1, which is our default (``pool_strides=None`` -> (1, 1)).
  Pass ``pool_strides=(2, 2)`` for the common non-overlapping pooling (4x fewer Dense weights).
* :class:`WideResNet` -- WRN-d-k (Zagoruyko & Komodakis 2016) with pre-activation blocks and
  batch norm; ``depth = 6 n + 4``; paper: WRN-28-10, ``sigma_w = 1``, ``sigma_b = 0``.

``conv_gradient`` (CNN, WideResNet): how the convolutions' gradients are computed -- ``"xla"``
(``jax.grad`` of ``lax.conv_general_dilated``), ``"canonical"`` (:mod:`l2lab.engine.conv`: the same
values, written so that XLA:CPU runs them with its fast kernel inside ``fori_loop``, 20-45x
faster there) or ``"auto"`` (default: canonical on the CPU backend, XLA's elsewhere). It changes
speed only, never parameters or results.

Batch norm follows the paper's JAX stax ``BatchNorm``: it normalizes with the statistics of the
*current* batch in training and at test time alike and keeps no running averages.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks
from l2lab.engine import conv as _conv

__all__ = [
    "FC", "CNN", "WideResNet", "BatchNorm", "init", "apply", "num_params", "make_model", "ARCHS", "conv_kwargs",
]

ARCHS = ("fc", "cnn", "cnn_bn", "wrn")      # the architectures of SM A (cnn_bn: CNN with batch norm)

Params = Any


def conv_kwargs(conv_gradient: str) -> dict:
    """``nn.Conv`` kwargs selecting the convolution's gradient implementation (see :mod:`l2lab.engine.conv`)."""
    if _conv.resolve_conv_gradient(conv_gradient) == "canonical":
        return {"conv_general_dilated": _conv.conv_general_dilated}
    return {}


def lecun_normal(sigma_w: float) -> Callable:
    """Initializer ``W ~ N(0, sigma_w^2 / fan_in)`` (untruncated normal; fan_in = prod of all
    but the last kernel axis, i.e. ``kh * kw * C_in`` for a convolution)."""
    return nn.initializers.variance_scaling(float(sigma_w) ** 2, "fan_in", "normal")


def bias_normal(sigma_b: float) -> Callable:
    """Initializer ``b ~ N(0, sigma_b^2)``; zeros when ``sigma_b == 0``."""
    if sigma_b == 0:
        return nn.initializers.zeros
    return nn.initializers.normal(stddev=float(sigma_b))


class BatchNorm(nn.Module):
    """Stateless batch norm (stax semantics): ``y = scale * (x - mean_B) / sqrt(var_B + eps) + bias``.

    The mean and (biased) variance are taken over every axis but the last (the batch and, for
    images, the spatial axes) of the *current* input, in training and evaluation alike; no running
    statistics exist. ``scale`` is initialized to ones and ``bias`` to zeros (stax defaults),
    ``epsilon = 1e-5`` (stax default). Input ``(..., C)`` float32 -> same shape.
    """

    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


class FC(nn.Module):
    """Fully connected ReLU network: ``Flatten -> [Dense(w) -> ReLU] * len(widths) -> Dense(K)``.

    Input ``(N, ...)`` float32 (flattened to ``(N, D)``); output logits ``(N, num_classes)``.
    Paper (SM A): ``widths=(2048, 2048, 2048)``, ``sigma_w=sqrt(2)``, ``sigma_b=0``.
    """

    widths: Sequence[int] = (2048, 2048, 2048)
    num_classes: int = 10
    sigma_w: float = math.sqrt(2.0)
    sigma_b: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.widths, (tuple, list)) or len(self.widths) == 0:
            raise TypeError(f"widths must be a non-empty tuple of ints, got {self.widths!r}")
        for w in self.widths:
            _checks.positive_int("widths", w)
        _checks.positive_int("num_classes", self.num_classes)
        _checks.positive_float("sigma_w", self.sigma_w)
        _checks.nonneg_float("sigma_b", self.sigma_b)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape((x.shape[0], -1))
        kw = dict(kernel_init=lecun_normal(self.sigma_w), bias_init=bias_normal(self.sigma_b))
        for w in self.widths:
            x = nn.relu(nn.Dense(int(w), **kw)(x))
        return nn.Dense(self.num_classes, **kw)(x)


class CNN(nn.Module):
    """The SM A CNN (see the module docstring for the layer list and the MaxPool discrepancy).

    Input ``(N, H, W, C)`` float32 (CIFAR-10: 32x32x3); output logits ``(N, num_classes)``.
    ``pool_window`` defaults to ``(2, 2)``; ``pool_strides=None`` means stride 1 (stax default).
    """

    channels: int = 300
    dense: int = 500
    num_classes: int = 10
    batch_norm: bool = False
    sigma_w: float = math.sqrt(2.0)
    sigma_b: float = 0.0
    pool_window: Tuple[int, int] = (2, 2)
    pool_strides: Optional[Tuple[int, int]] = None
    conv_gradient: str = "auto"

    def __post_init__(self) -> None:
        _checks.positive_int("channels", self.channels)
        _checks.positive_int("dense", self.dense)
        _checks.positive_int("num_classes", self.num_classes)
        _checks.boolean("batch_norm", self.batch_norm)
        _checks.positive_float("sigma_w", self.sigma_w)
        _checks.nonneg_float("sigma_b", self.sigma_b)
        for name in ("pool_window",) + (("pool_strides",) if self.pool_strides is not None else ()):
            v = getattr(self, name)
            if not isinstance(v, (tuple, list)) or len(v) != 2:
                raise TypeError(f"{name} must be a pair of ints, got {v!r}")
            for e in v:
                _checks.positive_int(name, e)
        _conv.resolve_conv_gradient(self.conv_gradient)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"CNN expects x of shape (N, H, W, C), got {x.shape}")
        kw = dict(kernel_init=lecun_normal(self.sigma_w), bias_init=bias_normal(self.sigma_b))
        ckw = dict(kw, **conv_kwargs(self.conv_gradient))
        strides = tuple(self.pool_strides) if self.pool_strides is not None else (1, 1)

        def act(h):
            if self.batch_norm:
                h = BatchNorm()(h)
            return nn.relu(h)

        def pool(h):
            return nn.max_pool(h, tuple(self.pool_window), strides=strides, padding="VALID")

        c = self.channels
        x = act(nn.Conv(c, (3, 3), padding="SAME", **ckw)(x))
        x = act(nn.Conv(c, (3, 3), padding="VALID", **ckw)(x))
        x = pool(x)
        x = act(nn.Conv(c, (3, 3), padding="SAME", **ckw)(x))
        x = nn.Conv(c, (3, 3), padding="VALID", **ckw)(x)
        x = pool(x)
        x = x.reshape((x.shape[0], -1))
        x = nn.Dense(self.dense, **kw)(x)
        return nn.Dense(self.num_classes, **kw)(x)


class _WRNBlock(nn.Module):
    channels: int
    strides: Tuple[int, int]
    sigma_w: float
    sigma_b: float
    conv_gradient: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kw = dict(kernel_init=lecun_normal(self.sigma_w), bias_init=bias_normal(self.sigma_b))
        ckw = dict(kw, **conv_kwargs(self.conv_gradient))
        h = nn.relu(BatchNorm()(x))
        shortcut = x
        if x.shape[-1] != self.channels or self.strides != (1, 1):
            shortcut = nn.Conv(self.channels, (1, 1), self.strides, padding="SAME", **ckw)(h)
        h = nn.Conv(self.channels, (3, 3), self.strides, padding="SAME", **ckw)(h)
        h = nn.relu(BatchNorm()(h))
        h = nn.Conv(self.channels, (3, 3), (1, 1), padding="SAME", **ckw)(h)
        return h + shortcut


class WideResNet(nn.Module):
    """Wide ResNet WRN-depth-width with pre-activation blocks and (stateless) batch norm.

    ``Conv3x3(16) -> 3 groups of n = (depth - 4) / 6 blocks with 16k, 32k, 64k channels
    (strides 1, 2, 2) -> BN -> ReLU -> global average pool -> Dense(num_classes)``, k = width.
    Each block: ``BN -> ReLU -> Conv3x3(stride) -> BN -> ReLU -> Conv3x3`` plus the identity, or
    a 1x1 strided convolution of the pre-activated input when the shape changes.
    Input ``(N, H, W, C)`` float32; output ``(N, num_classes)``. Paper: depth 28, width 10,
    ``sigma_w = 1``, ``sigma_b = 0``.
    """

    depth: int = 28
    width: int = 10
    num_classes: int = 10
    sigma_w: float = 1.0
    sigma_b: float = 0.0
    conv_gradient: str = "auto"

    def __post_init__(self) -> None:
        _checks.positive_int("depth", self.depth)
        if (self.depth - 4) % 6 != 0 or self.depth < 10:
            raise ValueError(f"depth must be 6n + 4 with n >= 1, got {self.depth}")
        _checks.positive_int("width", self.width)
        _checks.positive_int("num_classes", self.num_classes)
        _checks.positive_float("sigma_w", self.sigma_w)
        _checks.nonneg_float("sigma_b", self.sigma_b)
        _conv.resolve_conv_gradient(self.conv_gradient)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"WideResNet expects x of shape (N, H, W, C), got {x.shape}")
        kw = dict(kernel_init=lecun_normal(self.sigma_w), bias_init=bias_normal(self.sigma_b))
        ckw = dict(kw, **conv_kwargs(self.conv_gradient))
        n = (self.depth - 4) // 6
        x = nn.Conv(16, (3, 3), padding="SAME", **ckw)(x)
        for group, (mult, stride) in enumerate(((1, 1), (2, 2), (4, 2))):
            for i in range(n):
                s = (stride, stride) if i == 0 else (1, 1)
                x = _WRNBlock(16 * self.width * mult, s, self.sigma_w, self.sigma_b, self.conv_gradient)(x)
        x = nn.relu(BatchNorm()(x))
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, **kw)(x)


def init(model: nn.Module, key: jax.Array, input_shape: Sequence[int]) -> Params:
    """Initial parameters of ``model`` for inputs of shape ``input_shape`` (batch axis first).

    Returns the ``"params"`` collection: a nested dict of float32 arrays. Pure: the same key gives
    the same parameters.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a flax.linen.Module, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 2:
        raise ValueError(f"input_shape must be a tuple (N, ...) with N >= 1, got {input_shape!r}")
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in input_shape):
        raise ValueError(f"input_shape must contain positive ints, got {input_shape!r}")
    key = _check_key(key)
    # Batch norm needs > 1 sample for a meaningful variance; 2 dummy samples cost nothing.
    shape = (max(2, int(input_shape[0])),) + tuple(int(d) for d in input_shape[1:])
    variables = jax.jit(model.init)(key, jnp.zeros(shape, jnp.float32))  # one program, not op-by-op
    return jax.tree.map(jnp.asarray, dict(variables["params"]))


def apply(model: nn.Module, params: Params, x: jax.Array) -> jax.Array:
    """Logits ``model(params, x)``: ``x`` float32 ``(N, ...)`` -> ``(N, num_classes)``. Pure."""
    return model.apply({"params": params}, x)


def num_params(params: Params) -> int:
    """Total number of scalar parameters in a parameter pytree (arrays or the
    ``jax.ShapeDtypeStruct`` leaves of ``jax.eval_shape(lambda k: init(model, k, shape), key)``,
    which counts a paper-size model without allocating it)."""
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params has no array leaves")
    return int(sum(int(np.prod(getattr(p, "shape", np.shape(p)))) for p in leaves))


def make_model(arch: str, num_classes: int = 10, **kwargs: Any) -> nn.Module:
    """Build a model by name: ``"fc"``, ``"cnn"``, ``"cnn_bn"`` or ``"wrn"``; kwargs go to the class."""
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a str, got {type(arch).__name__}")
    table = {"fc": FC, "cnn": CNN, "cnn_bn": CNN, "wrn": WideResNet}
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {list(ARCHS)}, got {arch!r}")
    if arch == "cnn_bn":
        kwargs = dict(kwargs, batch_norm=True)
    return table[arch](num_classes=num_classes, **kwargs)


def _check_key(key: Any) -> jax.Array:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.PRNGKey(int(key))
    try:
        arr = jnp.asarray(key)
    except TypeError as e:
        raise TypeError(f"key must be a jax PRNG key, got {type(key).__name__}") from e
    if jnp.issubdtype(arr.dtype, jax.dtypes.prng_key):
        return arr
    if arr.shape != (2,) or arr.dtype != jnp.uint32:
        raise TypeError(f"key must be a jax PRNG key (uint32[2] or typed key), got {arr.dtype}{arr.shape}")
    return arr
