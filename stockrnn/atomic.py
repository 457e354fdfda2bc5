"""Crash-safe writes: a file is either the old version or the complete new one, never half."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from stockrnn.errors import OutputError


def fsync_dir(directory: Path) -> None:
    """Persist a rename: the directory entry itself must reach the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success it is fsynced and renamed over `target`.

    The caller holds the lock of `target`'s folder, so temp files of this target left by a writer
    that was killed are ours to delete.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for abandoned in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            abandoned.unlink(missing_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}; check the folder's permissions") from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(target: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)` and move the result into place atomically."""
    with atomic_path(target) as tmp:
        write(tmp)


def publish_folder(
    root: Path, name: str, write: Callable[[Path], None], lock_timeout: float, what: str
) -> Path:
    """Let `write(staging)` fill <root>/.incomplete-<name>, then rename it to <root>/<name>.

    The folder appears complete or not at all; the rename is the only commit point. Under the
    root's lock, staging folders left by a killed writer are deleted first.
    """
    import shutil

    from stockrnn.locking import exclusive

    root = Path(root)
    with exclusive(root / ".lock", lock_timeout, what=what):
        staging, final = root / f".incomplete-{name}", root / name
        try:
            root.mkdir(parents=True, exist_ok=True)
            for abandoned in root.glob(".incomplete-*"):
                shutil.rmtree(abandoned, ignore_errors=True)
            staging.mkdir()
            write(staging)
            for written in sorted(staging.iterdir()):  # sorted: the same order every run
                with open(written, "rb") as fh:
                    os.fsync(fh.fileno())
            fsync_dir(staging)
            os.rename(staging, final)
            fsync_dir(root)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return final
