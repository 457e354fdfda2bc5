"""The console entry point: signal handlers first, before the heavy imports, so that Ctrl-C in the
first half second, or the SIGTERM cron and systemd send on a timeout, ends in one line and a
documented exit code (130, 143) after every `finally` has cleaned up, never in a traceback."""

from __future__ import annotations

import signal
import sys


def _interrupt(signum, _frame) -> None:
    from stockrnn.errors import Interrupted

    raise Interrupted(signum)


def main() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        from stockrnn.cli import data, evidence, models  # noqa: F401 - importing registers the commands
        from stockrnn.cli.app import app

        app()
    except KeyboardInterrupt as exc:  # before a command's own handler was running
        signum = getattr(exc, "signum", signal.SIGINT)
        print(
            "Error: " + ("terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"),
            file=sys.stderr,
        )
        sys.exit(128 + signum)
