"""The project's error hierarchy: each class carries the exit code the CLI returns for it.

The codes follow BSD sysexits so that cron wrappers and alerting can tell a retryable
failure (75) from one that needs a human (65, 66, 73, 78).
"""

from __future__ import annotations


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


class ConfigError(StockrnnError):
    """Bad configuration: unknown key, wrong type, impossible value."""

    exit_code = 78


EXIT_CODES = {
    0: "success",
    1: "unexpected internal error (traceback with --debug)",
    2: "usage error",
    DataError.exit_code: "bad input data",
    MissingInputError.exit_code: "missing input",
    OutputError.exit_code: "cannot write output",
    TemporaryError.exit_code: "temporary failure, retry later",
    ConfigError.exit_code: "bad configuration",
}
