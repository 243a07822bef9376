"""One process trains a run at a time: an advisory lock on out/runs/<run>/.lock.

flock is released by the kernel when the holder exits or crashes, so a stale lock never needs
cleaning up; the file records the holder's PID and host for the message a second process shows.
(flock works across hosts on NFSv4 and Lustre mounts, where Linux maps it to POSIX locks.)
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import make_folder

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here; runs are not protected from a double launch
    fcntl = None  # type: ignore[assignment]


class RunLocked(CamsegError):
    """Another process is training this run."""


def _acquire(path: Path):
    """Open and flock `path`; retry if the holder removed it meanwhile (our lock would be on a dead file)."""
    while True:
        f = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RunLocked(
                f"{path.parent.name}: already being trained by {holder} ({path}) — wait for it, or stop it"
            ) from None
        try:
            if os.fstat(f.fileno()).st_ino == os.stat(path).st_ino:
                return f
        except FileNotFoundError:
            pass
        f.close()


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock while the block runs; RunLocked (naming the holder) if another has it.

    The lock file is removed on release (and the run folder too if the run wrote nothing), so a run
    that stops at once leaves nothing behind.
    """
    if fcntl is None:
        yield
        return
    made = not run_dir.exists()
    make_folder(run_dir)  # a folder that cannot be written fails here, as one line
    path = run_dir / ".lock"
    try:
        f = _acquire(path)
    except RunLocked:
        if made:
            run_dir.rmdir()
        raise
    try:
        f.seek(0)
        f.truncate()
        f.write(f"PID {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        yield
    finally:
        path.unlink(missing_ok=True)  # before unlocking: a waiter then finds no file, or a new one
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
        if made and not any(run_dir.iterdir()):
            run_dir.rmdir()
