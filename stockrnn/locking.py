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

from stockrnn.errors import OutputError, TemporaryError


def _holder_file(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".holder")


def _describe_holder(lock_file: Path) -> str:
    try:
        holder = json.loads(_holder_file(lock_file).read_text())
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"
    except (OSError, ValueError, KeyError):
        return "an unknown process"


@contextlib.contextmanager
def exclusive(lock_file: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold `lock_file` for the block, waiting up to `timeout` seconds for another holder."""
    lock_file = Path(lock_file)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {lock_file.parent}: {exc.strerror}") from exc
    lock = FileLock(lock_file, timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise TemporaryError(
            f"{what} is locked by {_describe_holder(lock_file)}; "
            f"waited {timeout:g}s, try again later or raise --lock-timeout"
        ) from None
    try:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _holder_file(lock_file).write_text(json.dumps(holder))
        yield
    finally:
        with contextlib.suppress(OSError):
            _holder_file(lock_file).unlink()
        lock.release()
