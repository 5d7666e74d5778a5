"""SM A's data augmentation ("flip, crop and mixup", used for the Wide ResNet), pure JAX.

Every function takes an explicit PRNG key and a batch ``(B, H, W, C)`` and can be jitted.
This is the only module of :mod:`l2lab.data` that imports jax (``l2lab.data`` loads it on
first use of one of its names).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks

__all__ = ["random_flip", "random_crop", "mixup", "augment"]


def random_flip(key, x):
    """Mirror each image left-right with probability 1/2.

    Args:
      key: a jax PRNG key. x: float array ``(B, H, W, C)``.

    Returns:
      Array ``(B, H, W, C)``: image ``b`` is ``x[b]`` or ``x[b, :, ::-1]``. The same key flips the
      same images, so applying it twice with one key gives ``x`` back.
    """
    _checks.prng_key("key", key)
    x = _checks.image_batch("x", x)
    flip = jax.random.bernoulli(key, 0.5, (x.shape[0],))
    return jnp.where(flip[:, None, None, None], x[:, :, ::-1, :], x)


def random_crop(key, x, padding: int = 4, *, mode: str = "constant"):
    """Pad every image by ``padding`` pixels and crop a random ``H x W`` window back.

    Args:
      key: a jax PRNG key. x: float array ``(B, H, W, C)``.
      padding: pixels added on each side (static Python int; 0 returns ``x``).
      mode: ``"constant"`` (zeros) or ``"reflect"`` (needs ``padding < H, W``).

    Returns:
      Array ``(B, H, W, C)``: image ``b`` is the window of the padded image at an independent
      offset ``(i, j)``, ``0 <= i, j <= 2 * padding``; offset ``(padding, padding)`` is ``x[b]``.
    """
    _checks.prng_key("key", key)
    x = _checks.image_batch("x", x)
    padding = _checks.nonneg_int("padding", padding)
    _checks.one_of("mode", mode, ("constant", "reflect"))
    batch, height, width, channels = x.shape
    if mode == "reflect" and padding >= min(height, width):
        raise ValueError(f"`padding`={padding} must be < the image size for mode='reflect'")
    if padding == 0:
        return x
    padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode=mode)
    offsets = jax.random.randint(key, (batch, 2), 0, 2 * padding + 1)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, channels))

    return jax.vmap(crop)(padded, offsets)


def _check_mixup_targets(y_onehot, alpha, batch: int) -> None:
    """Raise unless ``y_onehot`` is float ``(batch, K)`` and ``alpha`` a positive number (a
    traced ``alpha`` under jit cannot be checked and passes)."""
    if not hasattr(y_onehot, "shape") or len(y_onehot.shape) != 2:
        raise ValueError("`y_onehot` must have shape (B, K), got "
                         f"{getattr(y_onehot, 'shape', None)}")
    if y_onehot.shape[0] != batch:
        raise ValueError(f"`y_onehot` has {y_onehot.shape[0]} rows but `x` has {batch}")
    if not jnp.issubdtype(y_onehot.dtype, jnp.floating):
        raise TypeError(f"`y_onehot` must be floating-point, got dtype {y_onehot.dtype}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number, jax.Array)):
        raise TypeError(f"`alpha` must be a positive float, got {type(alpha).__name__}")
    try:
        concrete_alpha = float(alpha)
    except (jax.errors.ConcretizationTypeError, TypeError):
        concrete_alpha = None  # traced under jit: cannot be checked here
    if concrete_alpha is not None and not concrete_alpha > 0:
        raise ValueError(f"`alpha` must be > 0, got {alpha}")


def mixup(key, x, y_onehot, alpha: float = 1.0):
    """Mixup (Zhang et al. 2018): convex combinations of pairs of examples and their labels.

    Each example ``b`` is mixed with example ``perm[b]`` of a random permutation of the batch,
    with its own weight ``lam_b ~ Beta(alpha, alpha)``:
    ``x'_b = lam_b x_b + (1 - lam_b) x_perm[b]`` and the same for ``y_onehot``.

    Args:
      key: a jax PRNG key. x: float ``(B, H, W, C)``. y_onehot: float ``(B, K)``.
      alpha: Beta parameter, > 0.

    Returns:
      ``(x_mixed (B, H, W, C), y_mixed (B, K))`` in the input dtypes.
    """
    _checks.prng_key("key", key)
    x = _checks.image_batch("x", x)
    _check_mixup_targets(y_onehot, alpha, x.shape[0])
    y_onehot = jnp.asarray(y_onehot)
    key_lam, key_perm = jax.random.split(key)
    batch = x.shape[0]
    lam = jax.random.beta(key_lam, alpha, alpha, (batch,))
    perm = jax.random.permutation(key_perm, batch)
    lam_x = lam.astype(x.dtype)[:, None, None, None]
    lam_y = lam.astype(y_onehot.dtype)[:, None]
    x_mixed = lam_x * x + (1 - lam_x) * x[perm]
    y_mixed = lam_y * y_onehot + (1 - lam_y) * y_onehot[perm]
    return x_mixed, y_mixed


def augment(key, x, y_onehot, *, flip: bool = True, crop: bool = True,
            mixup_alpha: float | None = None):
    """SM A's data augmentation: random flip, then random crop (zero padding 4), then mixup.

    Args:
      key: a jax PRNG key (split into one key per step). x: float ``(B, H, W, C)``.
      y_onehot: float ``(B, K)``; changed only by mixup.
      flip, crop: enable those steps. mixup_alpha: Beta parameter of mixup, ``None`` = no mixup.

    Returns:
      ``(x_augmented (B, H, W, C), y (B, K))``.
    """
    _checks.prng_key("key", key)
    x = _checks.image_batch("x", x)
    flip = _checks.boolean("flip", flip)
    crop = _checks.boolean("crop", crop)
    key_flip, key_crop, key_mix = jax.random.split(key, 3)
    if flip:
        x = random_flip(key_flip, x)
    if crop:
        x = random_crop(key_crop, x)
    if mixup_alpha is not None:
        return mixup(key_mix, x, y_onehot, mixup_alpha)
    if (not hasattr(y_onehot, "shape") or len(y_onehot.shape) != 2
            or y_onehot.shape[0] != x.shape[0]):
        raise ValueError(f"`y_onehot` must have shape ({x.shape[0]}, K), got "
                         f"{getattr(y_onehot, 'shape', None)}")
    return x, jnp.asarray(y_onehot)
