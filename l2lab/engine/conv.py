"""2-D convolution whose gradient is written in XLA:CPU's fast ("canonical") form.

Why: on XLA:CPU a convolution runs through the fast Eigen kernel only when it has the canonical
layout ``NHWC x HWIO -> NHWC``. The convolutions that ``jax.grad`` emits for a convolution's
input and kernel gradients have other dimension labels (``b01f_01oi->b01f`` and
``f01b_i01o->01bf``). In straight-line code XLA rewrites them into the canonical form (with explicit
transposes), but inside a ``while`` loop body (``lax.fori_loop``/``lax.scan``, which the training
engine uses between measurements) it does not, and they fall back to a naive loop nest
(jax-ml/jax#12868). Measured on a 2-core CPU: one fwd+bwd step of a 16-channel 3x3 conv on a
(256, 16, 16, 16) batch costs 12 ms unrolled and 450 ms inside ``fori_loop``; with this VJP, 10 ms.

:func:`conv_general_dilated` has ``lax.conv_general_dilated``'s signature (so that
``flax.linen.Conv(conv_general_dilated=...)`` takes it). For NHWC/HWIO convolutions without
dilation or groups it computes the same values and the same gradients (bit-identical in our
tests) with a ``custom_vjp`` whose two backward convolutions are canonical:

* input gradient: the stride-dilated cotangent convolved (stride 1) with the spatially flipped
  kernel whose in/out axes are swapped;
* kernel gradient: the input with batch and channel axes swapped (``(C, H, W, N)``) convolved with
  the cotangent as a kernel (``(H', W', N, O)``) dilated by the stride, then transposed back.

Any other case is passed to ``lax.conv_general_dilated`` unchanged. On GPU/TPU the library's
models keep XLA's own gradient (cuDNN has dedicated backward kernels); see ``conv_gradient`` in
:mod:`l2lab.models`.
"""
from __future__ import annotations

import functools
from typing import Sequence, Tuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["conv_general_dilated", "conv2d_canonical_vjp", "CONV_GRADIENTS", "resolve_conv_gradient"]

_DN = ("NHWC", "HWIO", "NHWC")
CONV_GRADIENTS = ("auto", "xla", "canonical")


def resolve_conv_gradient(mode: str) -> str:
    """``"auto"`` -> ``"canonical"`` on the CPU backend, ``"xla"`` elsewhere; others unchanged."""
    if mode not in CONV_GRADIENTS:
        raise ValueError(f"conv_gradient must be one of {CONV_GRADIENTS}, got {mode!r}")
    if mode == "auto":
        return "canonical" if jax.default_backend() == "cpu" else "xla"
    return mode


def _dilated(n: int, d: int) -> int:
    return 0 if n == 0 else 1 + d * (n - 1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d_canonical_vjp(x: jax.Array, w: jax.Array, strides: Tuple[int, int],
                         padding: Tuple[Tuple[int, int], Tuple[int, int]]) -> jax.Array:
    """``lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=NHWC/HWIO/NHWC)``.

    x: (N, H, W, C); w: (kh, kw, C, O); strides: (sh, sw); padding: ((lo, hi), (lo, hi)).
    Returns (N, H', W', O). Gradients as described in the module docstring.
    """
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_DN)


def _fwd(x, w, strides, padding):
    return conv2d_canonical_vjp(x, w, strides, padding), (x, w)


def _bwd(strides, padding, res, g):
    x, w = res
    in_sp, k_sp, out_sp = x.shape[1:3], w.shape[:2], g.shape[1:3]
    pad_x, pad_w = [], []
    for n, k, o, s, (lo, _hi) in zip(in_sp, k_sp, out_sp, strides, padding):
        before = k - lo - 1
        pad_x.append((before, n + k - 1 - _dilated(o, s) - before))
        pad_w.append((lo, _dilated(o, s) - n + k - lo - 1))
    w_t = jnp.swapaxes(jnp.flip(w, (0, 1)), 2, 3)                        # (kh, kw, O, C)
    dx = lax.conv_general_dilated(g, w_t, (1, 1), pad_x, lhs_dilation=strides, dimension_numbers=_DN)
    x_t = jnp.transpose(x, (3, 1, 2, 0))                                  # (C, H, W, N)
    g_t = jnp.transpose(g, (1, 2, 0, 3))                                  # (H', W', N, O)
    dw = lax.conv_general_dilated(x_t, g_t, (1, 1), pad_w, rhs_dilation=strides, dimension_numbers=_DN)
    return dx.astype(x.dtype), jnp.transpose(dw, (1, 2, 0, 3)).astype(w.dtype)   # (kh, kw, C, O)


conv2d_canonical_vjp.defvjp(_fwd, _bwd)


def _is_nhwc(dimension_numbers) -> bool:
    if dimension_numbers is None:
        return False                       # lax default is NCHW/OIHW
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return tuple(dimension_numbers) == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    return tuple(dimension_numbers) == _DN


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding,
                         lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
                         feature_group_count: int = 1, batch_group_count: int = 1, precision=None,
                         preferred_element_type=None) -> jax.Array:
    """Drop-in for ``lax.conv_general_dilated`` with a CPU-fast gradient for plain 2-D NHWC convs."""
    plain = (jnp.ndim(lhs) == 4 and _is_nhwc(dimension_numbers) and feature_group_count == 1
             and batch_group_count == 1 and precision is None and preferred_element_type is None
             and all(d == 1 for d in (lhs_dilation or (1, 1))) and all(d == 1 for d in (rhs_dilation or (1, 1))))
    if not plain:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                        dimension_numbers, feature_group_count, batch_group_count,
                                        precision, preferred_element_type)
    strides = tuple(int(s) for s in window_strides)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], strides, padding)
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    return conv2d_canonical_vjp(lhs, rhs, strides, pads)
