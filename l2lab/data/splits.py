"""Reproducible, class-balanced training/test splits, as the paper draws them (SM A: 512
balanced MNIST training samples for the FC experiments)."""
from __future__ import annotations

import os

import numpy as np

from l2lab import _checks
from l2lab.data.dataset import Dataset
from l2lab.data.load import load_dataset
from l2lab.data.locations import DATASET_NAMES
from l2lab.data.mnist_subset import mnist5k

__all__ = ["balanced_choice", "train_test_split", "paper_split"]


def _balanced_quotas(rng: np.random.Generator, available: np.ndarray, n: int) -> np.ndarray:
    """Per-class counts ``(K,)`` summing to ``n``, as equal as the ``available (K,)`` counts
    allow."""
    quotas = np.zeros_like(available)
    remaining = n
    while remaining > 0:
        open_classes = np.flatnonzero(quotas < available)
        share = remaining // len(open_classes)
        if share == 0:  # fewer left than open classes: one more each for a random few
            quotas[rng.choice(open_classes, size=remaining, replace=False)] += 1
            break
        add = np.minimum(share, available[open_classes] - quotas[open_classes])
        quotas[open_classes] += add
        remaining -= int(add.sum())
    return quotas


def balanced_choice(rng: np.random.Generator, y: np.ndarray, n: int) -> np.ndarray:
    """Indices ``(n,)`` into the labels ``y (N,)`` of ``n <= N`` samples, class-balanced (as
    equal a count per class as the data allow), without replacement, in random order."""
    classes, counts = np.unique(y, return_counts=True)
    quotas = _balanced_quotas(rng, counts, n)
    chosen = [rng.choice(np.flatnonzero(y == c), size=q, replace=False)
              for c, q in zip(classes, quotas) if q > 0]
    return rng.permutation(np.concatenate(chosen))


def _subset(ds: Dataset, index: np.ndarray, name: str) -> Dataset:
    """The samples ``index`` of ``ds``, renamed ``name``."""
    return Dataset(x=ds.x[index], y=ds.y[index], name=name, num_classes=ds.num_classes)


def train_test_split(ds: Dataset, n_train: int, n_test: int | None = None, *, seed: int = 0,
                     stratified: bool = True) -> tuple[Dataset, Dataset]:
    """Split ``ds`` into disjoint training and held-out sets, reproducibly.

    With ``stratified=True`` the training set has as equal a count per class as the data allow
    (``n_train = 512`` on MNIST-5k: 51 or 52 per digit, as in the paper's FC setup); the test
    set is every remaining sample (``n_test=None``) or a class-balanced ``n_test`` of them.
    Without stratification both are uniform draws without replacement. Samples come in random
    order. A fixed ``seed`` always gives the same split (``numpy.random.default_rng``).

    Returns:
      ``(train, test)`` Datasets named ``"<name>-train"`` and ``"<name>-test"``, with ``x``
      ``(n_train, H, W, C)`` and ``(n_test, H, W, C)`` (``n_test``: the rest if None).
    """
    ds = _checks.image_dataset("ds", ds)
    total = len(ds.y)
    n_train = _checks.positive_int("n_train", n_train)
    if n_test is not None:
        n_test = _checks.positive_int("n_test", n_test)
    seed = _checks.nonneg_int("seed", seed)
    stratified = _checks.boolean("stratified", stratified)
    wanted = n_train + (n_test if n_test is not None else 1)
    if wanted > total:
        raise ValueError(f"`n_train` + `n_test` ({n_train} + {n_test or 'at least 1'}) exceeds the "
                         f"{total} samples of {ds.name!r}")
    rng = np.random.default_rng(seed)
    y = np.asarray(ds.y)
    if stratified:
        train_idx = balanced_choice(rng, y, n_train)
        rest = np.setdiff1d(np.arange(total), train_idx)
        if n_test is None:
            test_idx = rng.permutation(rest)
        else:
            test_idx = rest[balanced_choice(rng, y[rest], n_test)]
    else:
        order = rng.permutation(total)
        train_idx = order[:n_train]
        test_idx = order[n_train:] if n_test is None else order[n_train:n_train + n_test]
    return _subset(ds, train_idx, f"{ds.name}-train"), _subset(ds, test_idx, f"{ds.name}-test")


def paper_split(name: str = "mnist5k", n_train: int = 512, n_test: int | None = None, *,
                seed: int = 0, data_dir: str | os.PathLike | None = None,
                download: bool | None = None) -> tuple[Dataset, Dataset]:
    """Training and test sets as the paper uses them: ``n_train`` balanced training samples.

    For ``"mnist5k"`` the test set is the rest of the 5000 images (or a balanced ``n_test`` of
    them), via :func:`train_test_split`. For ``"mnist"``, ``"fashion_mnist"`` and ``"cifar10"``
    the training samples are drawn from the official training split and the test set is the
    official test split (all of it, or a balanced ``n_test`` of it). ``data_dir`` and
    ``download`` as in :func:`l2lab.data.load_dataset` (missing files are downloaded at
    ``L2LAB_SCALE=paper`` by default).

    Returns:
      ``(train, test)`` Datasets named ``"<name>-train"`` and ``"<name>-test"``, with ``x``
      ``(n_train, H, W, C)`` and ``(n_test, H, W, C)``.
    """
    name = _checks.one_of("name", _checks.string("name", name), DATASET_NAMES)
    n_train = _checks.positive_int("n_train", n_train)
    if n_test is not None:
        n_test = _checks.positive_int("n_test", n_test)
    seed = _checks.nonneg_int("seed", seed)
    if name == "mnist5k":
        return train_test_split(mnist5k(), n_train, n_test, seed=seed)
    train_full = load_dataset(name, data_dir=data_dir, split="train", download=download)
    test_full = load_dataset(name, data_dir=data_dir, split="test", download=download)
    if n_train > len(train_full.y):
        raise ValueError(f"`n_train`={n_train} exceeds the {len(train_full.y)} training samples")
    if n_test is not None and n_test > len(test_full.y):
        raise ValueError(f"`n_test`={n_test} exceeds the {len(test_full.y)} test samples")
    rng = np.random.default_rng(seed)
    train = _subset(train_full, balanced_choice(rng, train_full.y, n_train), f"{name}-train")
    if n_test is None:
        test = test_full._replace(name=f"{name}-test")
    else:
        test = _subset(test_full, balanced_choice(rng, test_full.y, n_test), f"{name}-test")
    return train, test
