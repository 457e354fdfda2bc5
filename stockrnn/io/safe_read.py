"""Reading a file stockrnn did not necessarily write: never follow a link, never block on a FIFO or
a device, never read without bound. Every reader of a run, backtest or compare folder goes through
here, so a planted `config.json` FIFO or a `/dev/zero` link is one clear error (65), not a hang.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from stockrnn.errors import DataError, MissingInputError

JSON_LIMIT = 64 * 2**20  # a manifest or metrics file is kilobytes; anything this big is not ours
WEIGHTS_LIMIT = 4 * 2**30


def no_links_below(root: Path, path: Path) -> None:
    """65 if a folder between `root` and `path` is a symbolic link: a read must not leave the folder
    it was pointed at (the root itself may be a link; the file is checked by read_bytes)."""
    current = Path(root)
    for part in Path(path).relative_to(root).parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise DataError(
                f"{current} is a symbolic link; stockrnn reads only real folders inside {root}: remove it"
            )


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path` (not a link, FIFO, device or folder), at most `limit`."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise MissingInputError(f"{path} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(
                f"{path} is a symbolic link; stockrnn reads only regular files: remove it"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise MissingInputError(
                f"{path}: permission denied reading it; check its owner and mode"
            ) from None
        raise DataError(f"{path} cannot be read ({exc.strerror})") from None
    try:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            what = (
                "a FIFO"
                if stat.S_ISFIFO(kind)
                else "a device"
                if stat.S_ISCHR(kind) or stat.S_ISBLK(kind)
                else "not a file"
            )
            raise DataError(f"{path} is {what}, not a regular file; remove it")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise DataError(f"{path} is larger than {limit:,} bytes, far beyond what stockrnn writes there")
        return b"".join(chunks)
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)


def read_json(path: Path, limit: int = JSON_LIMIT):
    """The JSON value in `path`; a file that is not JSON is one line naming it and the position."""
    data = read_bytes(path, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text (byte {exc.start}); it is not a file stockrnn wrote"
        ) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        ) from None


PARQUET_LIMIT = 4 * 2**30


def read_parquet(path: Path, limit: int = PARQUET_LIMIT, columns: list[str] | None = None):
    """The Parquet file at `path` as a DataFrame, read like every other file here (no link, no
    FIFO, bounded); a file that is not Parquet is one line naming it."""
    import io

    import pandas as pd
    import pyarrow as pa

    data = read_bytes(path, limit)
    try:
        return pd.read_parquet(io.BytesIO(data), columns=columns)
    except (pa.ArrowException, OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable Parquet file ({first_line})") from None
