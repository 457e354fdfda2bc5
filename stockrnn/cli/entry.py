"""The console entry point: signal handlers first, before the heavy imports, so that Ctrl-C in the
first half second, or the SIGTERM cron and systemd send on a timeout, ends in one line and a
documented exit code (130, 143) after every `finally` has cleaned up, never in a traceback."""

from __future__ import annotations

import os
import signal
import sys
import tempfile


def _interrupt(signum, _frame) -> None:
    from stockrnn.errors import Interrupted

    if Interrupted.received is None:
        Interrupted.received = signum
    raise Interrupted(signum)


GLOBAL_FLAGS = ("-q", "--quiet", "--debug", "--wide")
GLOBAL_WITH_VALUE = ("--log-file",)


def hoist_global_options(args: list[str]) -> list[str]:
    """`stockrnn fetch -q` as `stockrnn -q fetch`: global options are accepted after the command too.

    Only the global flags and `--log-file FILE` move; nothing after a `--` does.
    """
    before, after, rest = [], [], list(args)
    command_seen = False
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            after += [arg, *rest]
            break
        if not command_seen and not arg.startswith("-"):
            command_seen = True
            after.append(arg)
        elif command_seen and arg in GLOBAL_FLAGS:
            before.append(arg)
        elif command_seen and arg in GLOBAL_WITH_VALUE and rest:
            before += [arg, rest.pop(0)]
        elif command_seen and arg.startswith(tuple(f"{o}=" for o in GLOBAL_WITH_VALUE)):
            before.append(arg)
        elif command_seen:
            after.append(arg)
        else:
            before.append(arg)
            if arg in GLOBAL_WITH_VALUE and rest:
                before.append(rest.pop(0))
    return before + after


def main() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    # matplotlib (charts, and libraries that import it) would write a font cache to ~/.cache;
    # stockrnn writes nothing to the home folder besides its data folders and the log you name.
    os.environ.setdefault(
        "MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), f"stockrnn-matplotlib-{os.getuid()}")
    )
    try:
        from stockrnn.cli.commands import app  # importing registers every command

        app(args=hoist_global_options(sys.argv[1:]))
    except KeyboardInterrupt as exc:  # before a command's own handler was running
        _say_interrupted(getattr(exc, "signum", signal.SIGINT))
    except SystemExit:
        from stockrnn.errors import Interrupted

        if Interrupted.received is not None and not Interrupted.reported:
            _say_interrupted(Interrupted.received)  # typer's silent exit 130 for a signal while parsing
        raise
    finally:
        # The command is done (its code decided, its files written): a signal now, while Python
        # shuts down, must neither print a traceback from an atexit callback nor change the code.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _say_interrupted(signum: int) -> None:
    from stockrnn.errors import Interrupted

    print(f"Error: {Interrupted.describe(signum)}", file=sys.stderr)
    sys.exit(128 + signum)
