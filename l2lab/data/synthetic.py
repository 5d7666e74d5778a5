"""A small synthetic CIFAR-10 in CIFAR-10's own python format, for tests and smoke runs.

CIFAR-10 itself cannot be had offline (no package ships it). :func:`synthetic_cifar10` writes
``cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta`` exactly as the
genuine archive lays them out (pickled dicts, protocol 2, ``b"data"`` uint8 ``(n, 3072)`` with
the red, green and blue planes of each 32x32 image, ``b"labels"`` a list of ints) and,
optionally, the ``cifar-10-python.tar.gz`` that holds them, so the real loader
(:func:`l2lab.data.load_cifar10`) and the verified download read it as they read the real one.
The images are noise around a colour that depends on the class: learnable, meaningless.
"""
from __future__ import annotations

import gzip
import os
import pathlib
import pickle
import tarfile
from typing import NamedTuple, Optional

import numpy as np

from l2lab import _checks
from l2lab.data.cifar import CIFAR_FOLDER, CIFAR_META_FILE, CIFAR_TEST_FILES, CIFAR_TRAIN_FILES

__all__ = ["CIFAR_ARCHIVE", "CIFAR_LABEL_NAMES", "SyntheticCifar", "synthetic_cifar10"]

CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                     "ship", "truck")


class SyntheticCifar(NamedTuple):
    """What :func:`synthetic_cifar10` wrote: the batches folder, the archive (or None), the
    MD5 of each batch file and of the archive (what a :class:`l2lab.data.downloads.Source` for
    it publishes)."""
    folder: pathlib.Path
    archive: Optional[pathlib.Path]
    extracted_md5: dict
    archive_md5: Optional[str]


def _images(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """uint8 ``(n, 3072)`` rows (R, G, B planes): a colour per class plus noise."""
    colours = np.linspace(30, 225, 10)[:, None] * np.array([1.0, 0.6, 0.3])[None, :]
    base = np.repeat(colours[labels][:, :, None], 1024, axis=2)        # (n, 3, 1024)
    noisy = base + rng.normal(0.0, 25.0, size=base.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8).reshape(len(labels), 3072)


def _balanced_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` labels 0..9, as equal a count per class as ``n`` allows, shuffled."""
    return rng.permutation(np.arange(n) % 10)


def _write_batch(path: pathlib.Path, label: str, images: np.ndarray, labels: np.ndarray) -> None:
    """One pickled batch dict, as the genuine files hold it (bytes keys, list labels)."""
    entry = {b"batch_label": label.encode(), b"labels": [int(v) for v in labels],
             b"data": images, b"filenames": [f"synthetic_{i:05d}.png".encode()
                                             for i in range(len(labels))]}
    path.write_bytes(pickle.dumps(entry, protocol=2))


def synthetic_cifar10(directory: str | os.PathLike, n_train: int = 100, n_test: int = 50, *,
                      seed: int = 0, archive: bool = False) -> SyntheticCifar:
    """Write a synthetic CIFAR-10 of ``n_train`` training and ``n_test`` test images into
    ``directory/cifar-10-batches-py`` (created), in the genuine python format.

    The training images are split over ``data_batch_1`` .. ``data_batch_5`` (as evenly as
    ``n_train`` allows; ``n_train >= 5``), the test images go to ``test_batch``;
    ``batches.meta`` holds the ten genuine label names. Labels are class-balanced. With
    ``archive=True`` the folder is also packed into ``directory/cifar-10-python.tar.gz``, laid
    out as the published archive. The same arguments always write the same bytes.

    Returns:
      :class:`SyntheticCifar`: the folder, the archive (None without ``archive``) and the MD5s.
    """
    directory = _checks.path("directory", directory)
    n_train = _checks.integer("n_train", n_train, minimum=len(CIFAR_TRAIN_FILES))
    n_test = _checks.positive_int("n_test", n_test)
    seed = _checks.nonneg_int("seed", seed)
    archive = _checks.boolean("archive", archive)
    rng = np.random.default_rng(seed)
    folder = directory / CIFAR_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    train_y = _balanced_labels(rng, n_train)
    train_x = _images(rng, train_y)
    parts = np.array_split(np.arange(n_train), len(CIFAR_TRAIN_FILES))
    for i, (name, part) in enumerate(zip(CIFAR_TRAIN_FILES, parts)):
        _write_batch(folder / name, f"training batch {i + 1} of 5", train_x[part], train_y[part])
    test_y = _balanced_labels(rng, n_test)
    _write_batch(folder / CIFAR_TEST_FILES[0], "testing batch 1 of 1", _images(rng, test_y), test_y)
    meta = {b"label_names": [n.encode() for n in CIFAR_LABEL_NAMES],
            b"num_cases_per_batch": int(len(parts[0])), b"num_vis": 3072}
    (folder / CIFAR_META_FILE).write_bytes(pickle.dumps(meta, protocol=2))
    from l2lab.data.downloads import md5_of       # downloads imports cifar, as this module does
    names = (*CIFAR_TRAIN_FILES, *CIFAR_TEST_FILES, CIFAR_META_FILE)
    md5 = {name: md5_of(folder / name) for name in names}
    if not archive:
        return SyntheticCifar(folder, None, md5, None)
    path = directory / CIFAR_ARCHIVE
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in (CIFAR_FOLDER, *(f"{CIFAR_FOLDER}/{n}" for n in names)):
                info = tar.gettarinfo(directory / name, arcname=name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if info.isdir():
                    tar.addfile(info)
                else:
                    with open(directory / name, "rb") as f:
                        tar.addfile(info, f)
    return SyntheticCifar(folder, path, md5, md5_of(path))
