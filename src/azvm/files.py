"""Files readable by their owner only: directories made 0700, files written 0600 from their first byte.

Standard library only, so that any module (the CLI's light paths included) may use it without pulling
in cryptography or the server.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["make_private", "private_dir", "write_private"]


def private_dir(path: Path) -> None:
    """Create `path` (and its parents) readable by its owner only (0700) if it does not exist; an
    existing one is left as its owner set it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def make_private(path: Path) -> None:
    """Take the group's and others' permissions off `path`, if it exists and has any (an older azvm
    wrote it with the umask's permissions, or it was restored from a backup)."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except FileNotFoundError:
        pass


def write_private(path: Path, data: bytes, *, keep_existing: bool = False) -> None:
    """Write `path` 0600 from its first byte (never readable by others, not even briefly) and put it
    in place at once, through a temporary file of this process's own (two processes writing the same
    file never share one).

    `keep_existing`: a file already at `path` (another process's, made meanwhile) wins and is kept;
    otherwise this one replaces it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a stale one (a crash, a reused pid) would keep its own permissions
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if keep_existing:
            try:
                os.link(tmp, path)  # never replaces a file that another process made meanwhile
            except FileExistsError:
                pass
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
