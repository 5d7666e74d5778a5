"""Image transforms of whole datasets: zero-padding, average pooling, flattening and
per-feature standardisation (numpy; Datasets or ``(N, H, W, C)`` arrays)."""
from __future__ import annotations

import numpy as np

from l2lab import _checks
from l2lab.data.dataset import Dataset

__all__ = ["pad_to", "downsample", "flatten", "standardize"]


def pad_to(ds: Dataset | np.ndarray, size: int = 32) -> Dataset | np.ndarray:
    """Zero-pad images to ``size x size`` (e.g. MNIST 28x28 -> 32x32 for the CNNs).

    Padding is centred (for 28 -> 32: 2 pixels on every side; an odd difference puts the extra
    pixel at the bottom/right). Accepts a Dataset (returns a Dataset) or an ``(N, H, W, C)``
    array (returns a numpy array ``(N, size, size, C)`` of the same dtype).
    """
    size = _checks.positive_int("size", size)
    if isinstance(ds, Dataset):
        _checks.image_dataset("ds", ds)
        return ds._replace(x=pad_to(np.asarray(ds.x), size))
    ds = _checks.image_array("ds", ds)
    _, h, w, _ = ds.shape
    if size < h or size < w:
        raise ValueError(f"`size`={size} is smaller than the images ({h}x{w})")
    top, left = (size - h) // 2, (size - w) // 2
    pads = ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0))
    return np.pad(ds, pads, mode="constant")


def downsample(ds: Dataset | np.ndarray, factor: int = 2) -> Dataset | np.ndarray:
    """Average-pool images by an integer ``factor`` (e.g. 32x32 -> 16x16 for CPU-sized conv nets).

    Accepts a Dataset (returns a Dataset) or an ``(N, H, W, C)`` array with ``H`` and ``W``
    divisible by ``factor`` (returns a float32 array ``(N, H/factor, W/factor, C)``).
    """
    factor = _checks.positive_int("factor", factor)
    if isinstance(ds, Dataset):
        _checks.image_dataset("ds", ds)
        return ds._replace(x=downsample(np.asarray(ds.x), factor))
    ds = _checks.image_array("ds", ds)
    n, h, w, c = ds.shape
    if h % factor or w % factor:
        raise ValueError(f"`factor`={factor} must divide the image size {h}x{w}")
    out = ds.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
    return out.astype(np.float32)


def flatten(x):
    """Reshape ``(N, H, W, C)`` (or any ``(N, ...)``) to ``(N, H*W*C)``, row-major.

    Works on numpy and jax arrays and returns the same kind.
    """
    if isinstance(x, Dataset):
        raise TypeError("`x` must be an array; pass ds.x, not the Dataset")
    if not hasattr(x, "shape") or not hasattr(x, "reshape"):
        raise TypeError(f"`x` must be an array, got {type(x).__name__}")
    if len(x.shape) < 2:
        raise ValueError(f"`x` must have shape (N, ...) with at least 2 dims, got {x.shape}")
    return x.reshape(x.shape[0], -1)


def _feature_arrays(items: tuple) -> list[np.ndarray]:
    """The numpy arrays ``(N_i, ...)`` of ``standardize``'s arguments (``x`` of Datasets),
    checked: numeric, at least 2-D, one feature shape."""
    arrays = []
    for i, item in enumerate(items):
        arg = "train" if i == 0 else f"others[{i - 1}]"
        if isinstance(item, Dataset):
            item = _checks.image_dataset(arg, item).x
        if not isinstance(item, np.ndarray):
            raise TypeError(f"`{arg}` must be a numpy array or Dataset, got {type(item).__name__}")
        if item.ndim < 2 or not np.issubdtype(item.dtype, np.number) or item.dtype == np.bool_:
            raise ValueError(f"`{arg}` must be a numeric (N, ...) array, got {item.dtype} "
                             f"{item.shape}")
        if i > 0 and item.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(f"`{arg}` has feature shape {item.shape[1:]}, `train` has "
                             f"{arrays[0].shape[1:]}")
        arrays.append(item)
    if arrays[0].shape[0] < 1:
        raise ValueError("`train` must hold at least one sample")
    return arrays


def standardize(train, *others) -> tuple:
    """Standardize each feature with the mean and std of ``train``; apply the same to ``others``.

    Arguments are all arrays ``(N_i, ...)`` (same trailing shape) or all Datasets (their ``x`` is
    transformed). Statistics are computed in float64 over axis 0; features whose training std is
    below 1e-8 (e.g. always-black MNIST corners) are only centred.

    Returns:
      A tuple ``(train', *others')`` of float32 arrays (or Datasets), same shapes.
    """
    items = (train, *others)
    datasets = [isinstance(a, Dataset) for a in items]
    if any(datasets) and not all(datasets):
        raise TypeError("`train` and `others` must be all Datasets or all arrays, not a mixture")
    arrays = _feature_arrays(items)
    mean = arrays[0].mean(axis=0, dtype=np.float64)
    std = arrays[0].std(axis=0, dtype=np.float64)
    std = np.where(std < 1e-8, 1.0, std)
    out = [((a - mean) / std).astype(np.float32) for a in arrays]
    if all(datasets):
        return tuple(d._replace(x=a) for d, a in zip(items, out))
    return tuple(out)
