"""The synthetic CIFAR-10 (genuine python format) and the verified download, served by a real
HTTP server on 127.0.0.1: progress bar, checksum refusal, nothing left half-written, and the
paper scale fetching a missing CIFAR-10 on its own."""
from __future__ import annotations

import functools
import hashlib
import http.server
import pathlib
import pickle
import tarfile
import threading

import numpy as np
import pytest

from l2lab import data
from l2lab.data import downloads, synthetic


def _raw_batch(path: pathlib.Path) -> dict:
    """A batch read with plain pickle (the reference, not l2lab's loader)."""
    with path.open("rb") as f:
        return pickle.load(f, encoding="bytes")


def test_synthetic_cifar10_is_read_back_by_the_real_loader(tmp_path):
    made = data.synthetic_cifar10(tmp_path, n_train=23, n_test=7, seed=3)
    assert made.folder == tmp_path / "cifar-10-batches-py" and made.archive is None
    assert sorted(p.name for p in made.folder.iterdir()) == sorted(
        ["batches.meta", "test_batch", *(f"data_batch_{i}" for i in range(1, 6))])
    raw = [_raw_batch(made.folder / f"data_batch_{i}") for i in range(1, 6)]
    assert [len(b[b"labels"]) for b in raw] == [5, 5, 5, 4, 4]        # 23 split as evenly as it goes
    for b in raw:
        assert b[b"data"].dtype == np.uint8 and b[b"data"].shape[1] == 3072
        assert isinstance(b[b"labels"], list)
    train = data.load_cifar10(tmp_path, "train")
    test = data.load_cifar10(made.folder, "test")
    # pixel (row r, col c, channel k) of image i is byte k*1024 + r*32 + c of its row
    rows = np.concatenate([b[b"data"] for b in raw])
    np.testing.assert_array_equal(np.round(train.x * 255).astype(np.uint8)[:, 2, 5, 1],
                                  rows[:, 1024 + 2 * 32 + 5])
    np.testing.assert_array_equal(train.y, np.concatenate([b[b"labels"] for b in raw]))
    assert train.x.shape == (23, 32, 32, 3) and test.x.shape == (7, 32, 32, 3)
    assert np.bincount(train.y, minlength=10).max() - np.bincount(train.y, minlength=10).min() <= 1
    assert train.num_classes == 10
    meta = _raw_batch(made.folder / "batches.meta")
    assert [n.decode() for n in meta[b"label_names"]] == list(synthetic.CIFAR_LABEL_NAMES)
    assert made.extracted_md5["test_batch"] == hashlib.md5(
        (made.folder / "test_batch").read_bytes()).hexdigest()


def test_synthetic_cifar10_archive_is_laid_out_as_published_and_reproducible(tmp_path):
    a = data.synthetic_cifar10(tmp_path / "a", 10, 5, seed=1, archive=True)
    b = data.synthetic_cifar10(tmp_path / "b", 10, 5, seed=1, archive=True)
    c = data.synthetic_cifar10(tmp_path / "c", 10, 5, seed=2, archive=True)
    assert a.archive.name == "cifar-10-python.tar.gz"
    assert a.archive.read_bytes() == b.archive.read_bytes() and a.archive_md5 == b.archive_md5
    assert c.archive_md5 != a.archive_md5
    with tarfile.open(a.archive, "r:gz") as tar:
        names = tar.getnames()
    assert names[0] == "cifar-10-batches-py" and "cifar-10-batches-py/test_batch" in names
    assert len(names) == 8


def test_synthetic_cifar10_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_train"):
        data.synthetic_cifar10(tmp_path, n_train=4)
    with pytest.raises(ValueError, match="n_test"):
        data.synthetic_cifar10(tmp_path, n_test=0)
    with pytest.raises(TypeError, match="directory"):
        data.synthetic_cifar10(None)
    with pytest.raises(TypeError, match="archive"):
        data.synthetic_cifar10(tmp_path, archive="yes")


class _Server:
    """A real HTTP server on 127.0.0.1 (free port, in a thread) serving ``root``."""

    def __init__(self, root: pathlib.Path, handler=None):
        handler = handler or functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _TruncatingHandler(_QuietHandler):
    """Announces the whole file, sends half of it and hangs up."""

    def do_GET(self):
        body = (pathlib.Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.close_connection = True


def _source(url: str, made) -> downloads.Source:
    return downloads.Source(urls=(url,), md5={"cifar-10-python.tar.gz": made.archive_md5},
                            extracted_md5=made.extracted_md5)


def _leftovers(directory: pathlib.Path) -> list:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_from_a_local_server_shows_a_bar_and_loads(tmp_path, capsys):
    made = data.synthetic_cifar10(tmp_path / "served", 40, 10, seed=4, archive=True)
    with _Server(tmp_path / "served") as url:
        folder = data.download_dataset("cifar10", tmp_path / "dl", source=_source(url, made))
    err = capsys.readouterr().err
    assert "cifar10: cifar-10-python.tar.gz" in err and "100%" in err
    size_kib = made.archive.stat().st_size / 1024
    assert f"{size_kib:.0f}" in err or f"{size_kib:.1f}" in err or f"{size_kib:.2f}" in err
    assert folder == tmp_path / "dl" / "cifar-10-batches-py"
    assert _leftovers(tmp_path / "dl") == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    got = data.load_cifar10(folder, "train")
    want = data.load_cifar10(made.folder, "train")
    np.testing.assert_array_equal(got.x, want.x)
    np.testing.assert_array_equal(got.y, want.y)


def test_download_refuses_a_corrupted_archive_and_leaves_nothing(tmp_path):
    made = data.synthetic_cifar10(tmp_path / "served", 40, 10, seed=4, archive=True)
    blob = bytearray(made.archive.read_bytes())
    blob[len(blob) // 2] ^= 0xFF                                  # one flipped byte
    made.archive.write_bytes(bytes(blob))
    with _Server(tmp_path / "served") as url:
        src = downloads.Source(urls=(url,), md5={"cifar-10-python.tar.gz": hashlib.md5(
            b"what the publisher's archive hashes to").hexdigest()}, extracted_md5=made.extracted_md5)
        with pytest.raises(data.ChecksumError, match="cifar-10-python.tar.gz"):
            data.download_dataset("cifar10", tmp_path / "dl", source=src, progress=False)
    assert _leftovers(tmp_path / "dl") == []


def test_download_cut_short_by_the_server_leaves_nothing(tmp_path):
    made = data.synthetic_cifar10(tmp_path / "served", 40, 10, seed=4, archive=True)
    handler = functools.partial(_TruncatingHandler, directory=str(tmp_path / "served"))
    with _Server(tmp_path / "served", handler) as url:
        with pytest.raises(ConnectionError, match="cifar-10-python.tar.gz"):
            data.download_dataset("cifar10", tmp_path / "dl", source=_source(url, made))
    assert _leftovers(tmp_path / "dl") == []


def test_download_with_a_bad_batch_inside_extracts_nothing(tmp_path):
    made = data.synthetic_cifar10(tmp_path / "served", 40, 10, seed=4, archive=True)
    src = _source("unused", made)
    with _Server(tmp_path / "served") as url:
        src = src._replace(urls=(url,), extracted_md5={**made.extracted_md5, "data_batch_3": "0" * 32})
        with pytest.raises(data.ChecksumError, match="data_batch_3"):
            data.download_dataset("cifar10", tmp_path / "dl", source=src, progress=False)
    assert _leftovers(tmp_path / "dl") == ["cifar-10-python.tar.gz"]    # verified archive only
    with pytest.raises(TypeError, match="source"):
        data.download_dataset("cifar10", tmp_path / "dl", source={"urls": ()})


def test_paper_scale_downloads_a_missing_dataset_tiny_scale_does_not(tmp_path, monkeypatch):
    calls = []

    def fake_download(name, directory, **kwargs):         # what the verified download leaves
        calls.append((name, pathlib.Path(directory)))
        return data.synthetic_cifar10(directory, 10, 10, seed=0).folder

    monkeypatch.setattr(downloads, "download_dataset", fake_download)
    monkeypatch.setenv("L2LAB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("L2LAB_SCALE", "tiny")
    with pytest.raises(FileNotFoundError, match="download_dataset"):
        data.load_dataset("cifar10")
    monkeypatch.setenv("L2LAB_SCALE", "paper")
    with pytest.raises(FileNotFoundError):
        data.load_dataset("cifar10", download=False)
    assert calls == []
    train, test = data.paper_split("cifar10", n_train=10, n_test=10)
    assert calls == [("cifar10", tmp_path / "cifar10")]           # once: test found it there
    assert train.x.shape == (10, 32, 32, 3) and test.name == "cifar10-test"
    monkeypatch.setenv("L2LAB_SCALE", "tiny")
    assert data.load_dataset("cifar10", split="test").x.shape == (10, 32, 32, 3)
    with pytest.raises(TypeError, match="download"):
        data.load_dataset("cifar10", download="yes")
