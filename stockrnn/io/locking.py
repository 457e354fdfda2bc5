"""One writer at a time: a file lock that can say who holds it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from stockrnn.errors import OutputError, TemporaryError, write_failure


def _holder_file(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".holder")


def _describe_holder(lock_file: Path) -> str:
    from stockrnn.errors import DataError, MissingInputError
    from stockrnn.io.safe_read import read_json

    try:  # the safe reader: a FIFO or device planted as the record is not waited on
        holder = read_json(_holder_file(lock_file), limit=4096)
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"
    except (DataError, MissingInputError, TypeError, KeyError):
        return "an unknown process"


def _write_holder(path: Path, text: str) -> None:
    """A new regular file: whatever was there (a FIFO would block the open) is unlinked first, and
    O_EXCL | O_NOFOLLOW refuse a link planted in between."""
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise write_failure(exc, path) from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@contextlib.contextmanager
def exclusive(lock_file: Path, timeout: float, what: str, advice: str = "try again later") -> Iterator[None]:
    """Hold `lock_file` for the block, waiting up to `timeout` seconds for another holder; `advice`
    ends the error line (name --lock-timeout only where the command has it)."""
    lock_file = Path(lock_file)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failure(exc, lock_file.parent) from exc
    for path in (lock_file, _holder_file(lock_file)):
        if path.is_symlink():  # filelock opens with O_TRUNC: a planted link would empty its target
            raise OutputError(
                f"{path} is a symbolic link; stockrnn refuses to write through it: remove the link"
            )
    lock = FileLock(lock_file, timeout=timeout)
    try:
        lock.acquire()
    except Timeout:  # a TimeoutError, so an OSError: first
        raise TemporaryError(
            f"{what} is locked by {_describe_holder(lock_file)}; waited {timeout:g}s, {advice}"
        ) from None
    except OSError as exc:
        raise write_failure(exc, lock_file) from exc
    try:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _write_holder(_holder_file(lock_file), json.dumps(holder))
        yield
    finally:
        with contextlib.suppress(OSError):
            _holder_file(lock_file).unlink()
        lock.release()
