"""Crash-safe writes: a file is either the old version or the complete new one, never half."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from stockrnn.errors import OutputError, write_failure

STAGING_MARK = ".stockrnn-staging"  # in a folder being published; a folder holding it is ours to clean


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def refuse_symlinks(root: Path, path: Path) -> None:
    """Exit 73 if `path`, or any folder between `root` and it, is a symbolic link: stockrnn writes
    only real files and folders inside the folders it was given (a planted link would redirect a
    write, or a cleanup, anywhere the user can write). The root itself may be a link."""
    root, path = Path(root), Path(path)
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise OutputError(
                f"{current} is a symbolic link; stockrnn writes only real folders and files inside {root}: "
                "remove the link"
            )


def fsync_dir(directory: Path) -> None:
    """Persist a rename: the directory entry itself must reach the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path, root: Path | None = None) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success it is fsynced and renamed over `target`.

    The caller holds the lock of `target`'s folder, so temp files of this target left by a writer
    that was killed are ours to delete. With `root`, no folder between it and the target may be a
    symbolic link. The file gets the mode the umask gives (mkstemp alone would make it 0600).
    """
    target = Path(target)
    if root is not None:  # before mkdir: a planted link must not even get an empty folder made in its target
        refuse_symlinks(root, target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for abandoned in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            abandoned.unlink(missing_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
    except OSError as exc:
        raise write_failure(exc, target) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise write_failure(exc, target) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(target: Path, write: Callable[[Path], None], root: Path | None = None) -> None:
    """Call `write(tmp_path)` and move the result into place atomically."""
    with atomic_path(target, root) as tmp:
        write(tmp)


def publish_folder(
    root: Path,
    name: str,
    write: Callable[[Path], None],
    lock_timeout: float,
    what: str,
    inside: Path | None = None,
) -> Path:
    """Let `write(staging)` fill <root>/.incomplete-<name>, then rename it to <root>/<name>.

    The folder appears complete or not at all; the rename is the only commit point. Under the
    root's lock, staging folders left by a killed writer are deleted first. With `inside` (the runs
    folder, for its backtests/ and compares/), no folder between it and `root` may be a link: the
    lock, the staging and that clean-up then only ever touch the real folder.
    """

    from stockrnn.io.locking import exclusive

    root = Path(root)
    if inside is not None:
        refuse_symlinks(inside, root)
    with exclusive(root / ".lock", lock_timeout, what=what):
        try:
            root.mkdir(parents=True, exist_ok=True)
            for abandoned in root.glob(".incomplete-*"):
                _remove_abandoned(abandoned)
            taken, suffix, base = True, 1, name
            while taken:
                taken = os.path.lexists(root / name)
                if taken:
                    suffix += 1
                    name = f"{base}-{suffix}"
            staging, final = root / f".incomplete-{name}", root / name
            staging.mkdir()
            (staging / STAGING_MARK).touch()
            write(staging, name)
            for written in sorted(staging.iterdir()):  # sorted: the same order every run
                with open(written, "rb") as fh:
                    os.fsync(fh.fileno())
            fsync_dir(staging)
            os.rename(staging, final)
            # The mark goes only after the rename: a staging folder killed at any point before it
            # still says it is ours. (Killed just after, the complete folder keeps a hidden mark.)
            (final / STAGING_MARK).unlink()
            fsync_dir(final)
            fsync_dir(root)
        except OSError as exc:
            _remove(root, name)
            raise write_failure(exc, root / name) from exc
        except RuntimeError as exc:  # torch.save reports a failed write as "basic_ios::clear: iostream error"
            _remove(root, name)
            raise OutputError(f"cannot write {root / name}: {exc}; is the disk full?") from exc
        except BaseException:
            _remove(root, name)
            raise
    return final


def _remove_abandoned(entry: Path) -> None:
    """A staging folder a killed stockrnn left: removed only if it is a real folder that stockrnn
    marked as its staging (or an empty one, killed before the mark); anything else named like one
    (a planted link, a user's folder) is left alone."""
    import shutil

    if entry.is_symlink() or not entry.is_dir():
        return
    mark = entry / STAGING_MARK
    if mark.is_file() and not mark.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
        return
    with contextlib.suppress(OSError):
        entry.rmdir()  # only if empty


def _remove(root: Path, name: str) -> None:
    import shutil

    shutil.rmtree(root / f".incomplete-{name}", ignore_errors=True)
