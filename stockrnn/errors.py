"""The project's error hierarchy: each class carries the exit code the CLI returns for it.

The codes follow BSD sysexits so that cron wrappers and alerting can tell a retryable
failure (75) from one that needs a human (65, 66, 73, 78).
"""

from __future__ import annotations

import errno


class StockrnnError(Exception):
    """A failure we can explain in one line; the CLI prints it and exits with `exit_code`."""

    exit_code = 1


class DataError(StockrnnError):
    """Bad input data: unreadable or invalid file, invalid rows, too little history."""

    exit_code = 65


class MissingInputError(StockrnnError):
    """Missing input: no such ticker in the store, no such run, no such file."""

    exit_code = 66


class OutputError(StockrnnError):
    """Output cannot be written."""

    exit_code = 73


class TemporaryError(StockrnnError):
    """Worth retrying later: network, rate limit, a lock held by another run."""

    exit_code = 75


class Unreachable(TemporaryError):
    """The price source could not be connected to at all (no route, refused, name not resolved)."""

    def __init__(self, message: str, name_not_resolved: bool = False):
        super().__init__(message)
        self.name_not_resolved = name_not_resolved


class ConfigError(StockrnnError):
    """Bad configuration: unknown key, wrong type, impossible value."""

    exit_code = 78


class IntervalAlert(StockrnnError):
    """`track --alert`: a tracked interval failed its coverage test (the forecasts did their job;
    the intervals did not). Its own code, so cron can tell it from a failed run."""

    exit_code = 79


class UsageError(StockrnnError):
    """A command line that cannot mean anything: an empty path, a bad option combination."""

    exit_code = 2


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: unwind (finally blocks clean up), then exit 128 + the signal."""

    # The first signal entry.py's handler saw, and whether a command's error handler has said so.
    # typer turns an interrupt that lands outside the command (while parsing) into a silent exit
    # 130, so entry.py says it then, with the right code for SIGTERM too.
    received: int | None = None
    reported: bool = False

    def __init__(self, signum: int, detail: str = ""):
        super().__init__(signum)
        self.signum = signum
        self.detail = detail  # what was kept, e.g. the run saved with the best epoch so far

    @staticmethod
    def describe(signum: int) -> str:
        import signal

        return "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"


# OSErrors that mean "this output cannot be written here", whichever call site meets them.
WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG}


def write_failure(exc: OSError, where=None) -> OutputError:
    """An OSError met while writing, as exit 73 naming the path: the one place this mapping lives."""
    where = where or exc.filename or "the output folder"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"no space left on the device holding {where}; free some space and run again")
    if exc.errno == errno.EROFS:
        return OutputError(f"{where} is on a read-only file system; point stockrnn at a writable folder")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputError(f"permission denied writing {where}; check the folder's owner and mode")
    return OutputError(f"cannot write {where}: {exc.strerror or exc}")


EXIT_CODES = {
    0: "success",
    1: "unexpected internal error (traceback with --debug)",
    2: "usage error (a bad option or an empty path)",
    DataError.exit_code: "bad input data",
    MissingInputError.exit_code: "missing input",
    OutputError.exit_code: "cannot write output",
    TemporaryError.exit_code: "temporary failure, retry later",
    ConfigError.exit_code: "bad configuration",
    IntervalAlert.exit_code: "track --alert: an interval failed its coverage test",
    130: "interrupted (SIGINT)",
    143: "terminated (SIGTERM); temporary files removed",
}
