"""Loading a dataset by name: the offline default MNIST-5k, or MNIST/Fashion-MNIST/CIFAR-10
from their directory."""
from __future__ import annotations

import os
import pathlib
import sys

from l2lab import _checks
from l2lab.data.cifar import load_cifar10
from l2lab.data.dataset import Dataset
from l2lab.data.idx import load_fashion_mnist, load_mnist
from l2lab.data.locations import (DATASET_NAMES, FASHION_MNIST_DEBIAN_DIR, SPLITS,
                                  default_data_dir)
from l2lab.data.mnist_subset import mnist5k

__all__ = ["load_dataset"]


def _download_wanted(download: bool | None) -> bool:
    """``download``, or (None) whether ``L2LAB_SCALE=paper`` (a paper-scale chapter fetches
    the data it needs; the default tiny scale never touches the network)."""
    if download is None:
        from l2lab import scales
        return scales.current() == "paper"
    return _checks.boolean("download", download)


def _load_from(name: str, data_dir: pathlib.Path, split: str) -> Dataset:
    if name == "mnist":
        return load_mnist(data_dir, split)
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir, split)
    return load_cifar10(data_dir, split)


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None,
                 split: str = "train", download: bool | None = None) -> Dataset:
    """Load a dataset by name: ``"mnist5k"``, ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.

    ``"mnist5k"`` (the offline default) ignores ``data_dir`` and ``split``: it has no official
    test split, use :func:`l2lab.data.train_test_split` or :func:`l2lab.data.paper_split`. For
    the others ``data_dir`` defaults to :func:`l2lab.data.default_data_dir` (for
    ``"fashion_mnist"``: the Debian directory when it exists).

    ``download``: when the files are missing, fetch them into ``data_dir`` with
    :func:`l2lab.data.download_dataset` (checked against the published MD5s, with a progress
    bar on stderr) and load them. ``None`` (default): only at ``L2LAB_SCALE=paper``
    (:func:`l2lab.scales.current`), so that a paper-scale chapter on Colab finds its CIFAR-10;
    ``False``: never (FileNotFoundError instead).

    Returns:
      ``Dataset(x float32 (N, H, W, C), y int32 (N,), name, num_classes)``.

    Raises:
      FileNotFoundError: the files are missing (and not downloaded); the message names them, the
        offline default and the :func:`l2lab.data.download_dataset` call that fetches them.
      ConnectionError, ChecksumError: a download was needed and failed (nothing half-written).
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
    wanted = _download_wanted(download)
    try:
        return _load_from(name, data_dir, split)
    except FileNotFoundError:
        if not wanted:
            raise
    from l2lab.data.downloads import download_dataset
    print(f"{name} is not on this machine yet: downloading it (checked against its published "
          f"MD5 checksums).", file=sys.stderr, flush=True)
    download_dataset(name, data_dir)
    return _load_from(name, data_dir, split)
