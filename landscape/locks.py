"""One writer at a time: an exclusive OS file lock per run directory and per result folder.

The lock is ``fcntl.flock`` on a ``.lock`` file inside the folder. The operating
system releases it when its process ends in any way (SIGKILL included), so a lock
is never stale; the file itself stays and is harmless. The holder writes its PID,
host and command line into the file, so a second process can say who holds it.
A second writer either fails at once with :class:`LockedError` (the default) or,
with ``wait=True``, waits for the holder to finish.

The lock file and its folder are opened without following a symbolic link
(:func:`landscape.io.open_private`): a ``.lock`` planted as a link to another file
is refused with one line naming it, never written through.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from landscape.errors import LandscapeError
from landscape.io import open_private

__all__ = ["LockedError", "held_by", "hold"]

LOCK_NAME = ".lock"


class LockedError(LandscapeError):
    """Another process is writing the same run directory or result folder."""


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it (read through our descriptor, not the name)."""
    try:
        text = os.pread(fd, 1000, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"


@contextlib.contextmanager
def hold(folder: str | Path, *, wait: bool = False, what: str = "") -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block.

    Args:
        wait: wait for another holder to finish instead of failing.
        what: how the folder is named in the error (e.g. "run directory").

    Raises:
        LockedError: another process holds the lock and ``wait`` is false.
    """
    import fcntl  # POSIX only; imported here so the module imports everywhere

    folder = Path(folder)
    path = folder / LOCK_NAME
    fd = open_private(path, os.O_RDWR)  # creates the folder; refuses links
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise LockedError(
                    f"{what or 'folder'} {folder} is being written by {_holder(fd)}; wait for it "
                    "to finish (or pass --wait), or write elsewhere (--out)"
                ) from None
            print(f"waiting for {_holder(fd)} to finish writing {folder} ...", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        argv = " ".join(sys.argv)[:300]
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(
            fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}: {argv}\n".encode()
        )
        yield path
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def held_by(folder: str | Path) -> str | None:
    """Who holds ``folder``'s lock now (the line the holder wrote), or ``None`` if no one does.

    Looks without waiting and writes nothing: a shared lock is taken and dropped at once
    (``landscape runs`` uses it to tell a run being written from an interrupted one).
    """
    import fcntl

    path = Path(folder) / LOCK_NAME
    try:
        # read-only, but a planted link or FIFO is still not followed or waited on
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # no lock file (never written by a runner), or a link: not held
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
