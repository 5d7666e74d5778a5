"""CIFAR-10 in its genuine python format: the pickled batches of ``cifar-10-batches-py``.

Only numpy arrays, dtypes and builtin containers are unpickled (no arbitrary code runs).
"""
from __future__ import annotations

import codecs
import os
import pathlib
import pickle
from typing import Any

import numpy as np

from l2lab import _checks
from l2lab.data.dataset import Dataset
from l2lab.data.locations import SPLITS, missing_files_message

try:  # where numpy keeps what array pickles reference
    from numpy._core import multiarray as _np_multiarray, numeric as _np_numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _np_multiarray, numeric as _np_numeric

__all__ = ["CIFAR_FOLDER", "CIFAR_TRAIN_FILES", "CIFAR_TEST_FILES", "CIFAR_META_FILE",
           "load_cifar10"]

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILES = ("test_batch",)
CIFAR_META_FILE = "batches.meta"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR batches: only numpy arrays, dtypes and builtin containers load."""

    # What Python 2 cPickle (the genuine files) and Python 3 protocols 2-5 write for arrays.
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): lambda: _np_multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): lambda: _np_multiarray._reconstruct,
        ("numpy.core.multiarray", "scalar"): lambda: _np_multiarray.scalar,
        ("numpy._core.multiarray", "scalar"): lambda: _np_multiarray.scalar,
        ("numpy.core.numeric", "_frombuffer"): lambda: _np_numeric._frombuffer,
        ("numpy._core.numeric", "_frombuffer"): lambda: _np_numeric._frombuffer,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: codecs.encode,
    }

    def find_class(self, module: str, name: str):
        resolve = self._ALLOWED.get((module, name))
        if resolve is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return resolve()


def _load_pickle(path: pathlib.Path) -> Any:
    """The object pickled in ``path`` (numpy arrays and builtins only; ValueError otherwise)."""
    with path.open("rb") as handle:
        try:
            return _NumpyOnlyUnpickler(handle, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
            raise ValueError(f"{path} is not a CIFAR-10 python batch: {err}") from err


def _get(entry: dict, key: str, path: pathlib.Path) -> Any:
    """``entry[key]`` under a bytes key (Python 2 pickles) or a str key."""
    for k in (key.encode(), key):
        if k in entry:
            return entry[k]
    raise ValueError(f"{path} has no {key!r} entry (keys: {list(entry)})")


def _batches_dir(directory: pathlib.Path) -> pathlib.Path:
    """``directory/cifar-10-batches-py`` if it exists, else ``directory`` itself."""
    nested = directory / CIFAR_FOLDER
    return nested if nested.is_dir() else directory


def _read_batch(path: pathlib.Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 images (n, 32, 32, 3) channels last, integer labels (n,))`` of one batch."""
    entry = _load_pickle(path)
    if not isinstance(entry, dict):
        raise ValueError(f"{path} must hold a dict, got {type(entry).__name__}")
    data = np.asarray(_get(entry, "data", path))
    labels = np.asarray(_get(entry, "labels", path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: data must be uint8 (n, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: labels must be {data.shape[0]} integers, got "
                         f"{labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{path}: labels must lie in 0..{num_classes - 1}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def load_cifar10(directory: str | os.PathLike, split: str = "train") -> Dataset:
    """Load CIFAR-10 from the genuine ``cifar-10-batches-py`` pickle files.

    ``directory`` is the ``cifar-10-batches-py`` folder or its parent. Each batch is a pickled
    dict with ``b"data"`` (``uint8 (n, 3072)``: per row the 1024 red, then 1024 green, then 1024
    blue values of a row-major 32x32 image) and ``b"labels"`` (a list of ``n`` ints 0-9).
    ``split="train"`` reads ``data_batch_1`` .. ``data_batch_5`` (all required); ``"test"`` reads
    ``test_batch``; ``batches.meta`` (``b"label_names"``) sets ``num_classes`` when present.
    Only numpy arrays and builtin containers are unpickled (no arbitrary code).

    Returns:
      ``Dataset(x float32 (N, 32, 32, 3) channels-last in [0, 1], y int32 (N,),
      "cifar10-<split>", 10)``.
    """
    directory = _batches_dir(_checks.path("directory", directory))
    split = _checks.one_of("split", _checks.string("split", split), SPLITS)
    names = CIFAR_TRAIN_FILES if split == "train" else CIFAR_TEST_FILES
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise FileNotFoundError(missing_files_message(
            "cifar10", directory, [f"{CIFAR_FOLDER}/{n}" for n in missing]))
    num_classes = 10
    meta_path = directory / CIFAR_META_FILE
    if meta_path.is_file():
        meta = _load_pickle(meta_path)
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_path} must hold a dict")
        num_classes = len(_get(meta, "label_names", meta_path))
    xs, ys = zip(*(_read_batch(directory / n, num_classes) for n in names))
    x = (np.concatenate(xs) / np.float32(255.0)).astype(np.float32)
    y = np.concatenate(ys).astype(np.int32)
    return Dataset(x=x, y=y, name=f"cifar10-{split}", num_classes=num_classes)
