"""An advisory lock on a folder, so that two processes never run the same sweep at once.

``with folder_lock(path):`` holds an exclusive ``flock`` on ``path/.run_sweep.lock`` (created in
the existing folder ``path``); a second process entering the same block waits until the first
leaves it. Where ``fcntl`` does not exist (Windows) the block runs unlocked.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None

LOCK_NAME = ".run_sweep.lock"


class FolderBusy(RuntimeError):
    """The folder's lock is held by another process (``folder_lock(..., wait=False)``)."""


@contextlib.contextmanager
def folder_lock(path: str, on_wait: Optional[Callable[[], None]] = None, *,
                wait: bool = True) -> Iterator[None]:
    """Hold the lock of folder ``path`` for the block; ``on_wait()`` is called once if another
    process holds it (then this one waits for it; ``wait=False``: raise :class:`FolderBusy`
    instead, as the leader of a multi-process sweep does, whose other processes cannot wait)."""
    if not os.path.isdir(path):
        raise ValueError(f"path must be an existing folder, got {path!r}")
    if fcntl is None:
        yield
        return
    fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise FolderBusy(f"another process is running {path!r}") from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)          # releases the lock
