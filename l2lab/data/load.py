"""Loading a dataset by name: the offline default MNIST-5k, or MNIST/Fashion-MNIST/CIFAR-10
from their directory."""
from __future__ import annotations

import os
import pathlib

from l2lab import _checks
from l2lab.data.cifar import load_cifar10
from l2lab.data.dataset import Dataset
from l2lab.data.idx import load_fashion_mnist, load_mnist
from l2lab.data.locations import (DATASET_NAMES, FASHION_MNIST_DEBIAN_DIR, SPLITS,
                                  default_data_dir)
from l2lab.data.mnist_subset import mnist5k

__all__ = ["load_dataset"]


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None,
                 split: str = "train") -> Dataset:
    """Load a dataset by name: ``"mnist5k"``, ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.

    ``"mnist5k"`` (the offline default) ignores ``data_dir`` and ``split``: it has no official
    test split, use :func:`l2lab.data.train_test_split` or :func:`l2lab.data.paper_split`. For
    the others ``data_dir`` defaults to :func:`l2lab.data.default_data_dir` (for
    ``"fashion_mnist"``: the Debian directory when it exists).

    Returns:
      ``Dataset(x float32 (N, H, W, C), y int32 (N,), name, num_classes)``.

    Raises:
      FileNotFoundError: the files are missing; the message names them, the offline default and
        the :func:`l2lab.data.download_dataset` call that fetches them.
    """
    name = _checks.one_of("name", _checks.string("name", name), DATASET_NAMES)
    split = _checks.one_of("split", _checks.string("split", split), SPLITS)
    if data_dir is not None:
        data_dir = _checks.path("data_dir", data_dir)
    if name == "mnist5k":
        return mnist5k()
    if data_dir is None:
        data_dir = default_data_dir(name)
        if name == "fashion_mnist" and pathlib.Path(FASHION_MNIST_DEBIAN_DIR).is_dir():
            data_dir = pathlib.Path(FASHION_MNIST_DEBIAN_DIR)
    if name == "mnist":
        return load_mnist(data_dir, split)
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir, split)
    return load_cifar10(data_dir, split)
