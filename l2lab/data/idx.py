"""The IDX file format (MNIST, Fashion-MNIST): a reader and the two loaders that use it.

Images: magic ``0x00000803`` then big-endian ``uint32`` dims ``(N, rows, cols)`` then
``N * rows * cols`` unsigned bytes. Labels: magic ``0x00000801``, ``N``, ``N`` bytes. Files may
be gzipped (detected from the content, not the file name).
"""
from __future__ import annotations

import gzip
import os
import pathlib
import struct

import numpy as np

from l2lab import _checks
from l2lab.data.dataset import Dataset
from l2lab.data.locations import FASHION_MNIST_DEBIAN_DIR, SPLITS, missing_files_message

__all__ = ["IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC", "load_idx", "load_mnist",
           "load_fashion_mnist"]

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions (N, rows, cols)
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension (N,)
_PREFIX = {"train": "train", "test": "t10k"}


def _read_maybe_gzip(path: pathlib.Path, arg: str) -> bytes:
    """The bytes of ``path``, gunzipped if they start with the gzip magic."""
    if not path.is_file():
        raise FileNotFoundError(f"`{arg}`: no such file: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file name says
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"`{arg}`: {path} is a corrupt gzip file: {err}") from err
    return raw


def _read_idx_ubyte(path: pathlib.Path, magic: int, arg: str) -> np.ndarray:
    """The ``uint8`` array of shape ``dims`` held by the IDX file ``path`` (checked fully)."""
    raw = _read_maybe_gzip(path, arg)
    if len(raw) < 4:
        raise ValueError(f"`{arg}`: {path} is too short to be an IDX file ({len(raw)} bytes)")
    found = struct.unpack(">I", raw[:4])[0]
    if found != magic:
        raise ValueError(f"`{arg}`: {path} has IDX magic number 0x{found:08x}, expected "
                         f"0x{magic:08x} (unsigned bytes, {magic & 0xFF} dimensions)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"`{arg}`: {path} has a truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != count:
        raise ValueError(f"`{arg}`: {path} declares dims {dims} ({count} bytes of data) but holds "
                         f"{len(raw) - header} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_idx(images_path: str | os.PathLike, labels_path: str | os.PathLike, *,
             name: str = "idx", num_classes: int | None = None) -> Dataset:
    """Load an image/label pair of IDX files (the MNIST format), gzipped or raw.

    Images: magic ``0x00000803`` then big-endian ``uint32`` dims ``(N, rows, cols)`` then
    ``N * rows * cols`` unsigned bytes. Labels: magic ``0x00000801``, ``N``, ``N`` bytes.
    Gzip is detected from the content, not the file name.

    Args:
      images_path, labels_path: paths of the two files.
      name: ``Dataset.name``.
      num_classes: number of classes; default ``max(label) + 1``.

    Returns:
      ``Dataset`` with ``x`` float32 ``(N, rows, cols, 1)`` = bytes / 255 and ``y`` int32 ``(N,)``.

    Raises:
      FileNotFoundError: a file is missing. ValueError: bad magic, truncated or inconsistent files.
    """
    images_path = _checks.path("images_path", images_path)
    labels_path = _checks.path("labels_path", labels_path)
    name = _checks.string("name", name)
    images = _read_idx_ubyte(images_path, IDX_IMAGES_MAGIC, "images_path")
    labels = _read_idx_ubyte(labels_path, IDX_LABELS_MAGIC, "labels_path")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"`labels_path` holds {labels.shape[0]} labels but `images_path` holds "
                         f"{images.shape[0]} images")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    num_classes = _checks.positive_int("num_classes", num_classes)
    if labels.size and int(labels.max()) >= num_classes:
        raise ValueError(f"`labels_path` has label {int(labels.max())} >= "
                         f"num_classes={num_classes}")
    x = (images[..., None] / np.float32(255.0)).astype(np.float32)
    return Dataset(x=x, y=labels.astype(np.int32), name=name, num_classes=num_classes)


def _candidates(directory: pathlib.Path, split: str, kind: str) -> list[pathlib.Path]:
    """The file names under which ``directory`` may hold the ``kind`` file of ``split``."""
    prefix = _PREFIX[split]
    dim = "idx3" if kind == "images" else "idx1"
    stems = [f"{prefix}-{kind}-{dim}-ubyte", f"{prefix}-{kind}.{dim}-ubyte"]
    return [directory / (stem + ext) for stem in stems for ext in (".gz", "")]


def _load_mnist_like(directory: pathlib.Path, split: str, dataset: str) -> Dataset:
    """``split`` of the MNIST-layout ``dataset`` in ``directory``, 10 classes."""
    found = {}
    for kind in ("images", "labels"):
        found[kind] = next((p for p in _candidates(directory, split, kind) if p.is_file()), None)
    if found["images"] is None or found["labels"] is None:
        prefix = _PREFIX[split]
        expected = [f"{prefix}-images-idx3-ubyte[.gz]", f"{prefix}-labels-idx1-ubyte[.gz]"]
        raise FileNotFoundError(missing_files_message(dataset, directory, expected))
    return load_idx(found["images"], found["labels"], name=f"{dataset}-{split}", num_classes=10)


def load_mnist(directory: str | os.PathLike, split: str = "train") -> Dataset:
    """Load MNIST from the four official IDX files in ``directory``.

    Looks for ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]`` (``split=
    "train"``, 60000 images) or ``t10k-...`` (``split="test"``, 10000 images); the variant
    ``train-images.idx3-ubyte`` is accepted too.

    Returns:
      ``Dataset(x float32 (N, 28, 28, 1), y int32 (N,), "mnist-<split>", 10)``.
    """
    directory = _checks.path("directory", directory)
    split = _checks.one_of("split", _checks.string("split", split), SPLITS)
    return _load_mnist_like(directory, split, "mnist")


def load_fashion_mnist(directory: str | os.PathLike = FASHION_MNIST_DEBIAN_DIR,
                       split: str = "train") -> Dataset:
    """Load Fashion-MNIST (same IDX layout and file names as MNIST).

    The default directory is where Debian's ``dataset-fashion-mnist`` installs the gzipped files.

    Returns:
      ``Dataset(x float32 (N, 28, 28, 1), y int32 (N,), "fashion_mnist-<split>", 10)`` with
      ``N = 60000`` (train) or ``10000`` (test).
    """
    directory = _checks.path("directory", directory)
    split = _checks.one_of("split", _checks.string("split", split), SPLITS)
    return _load_mnist_like(directory, split, "fashion_mnist")
