"""Run `stockrnn` and SIGKILL it at one chosen step of its write path.

    python tests/crashpoints.py KILL_AT EVENTS_FILE -- stockrnn-args...

Every call that changes the file system (opening a file for writing, fsync, rename, replace, mkdir,
rmdir, unlink) from the first lock file on is a numbered event: the command's write path. Writes
before it (libraries' caches, e.g. matplotlib's font list, which arch imports) are not numbered, so
they cannot shift the numbering between runs. Event n has two kill points: 2n, just before the
call, and 2n + 1, just after it. At KILL_AT the process sends itself SIGKILL, so no handler, `finally` or
atexit runs, exactly as when the machine loses power or the OOM killer strikes. KILL_AT = -1
kills nothing and writes the list of events to EVENTS_FILE (one per line) when the command ends.
"""

from __future__ import annotations

import atexit
import builtins
import io
import os
import signal
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _is_write_mode(mode: str) -> bool:
    return any(flag in mode for flag in "wax+")


def main() -> None:
    kill_at, events_file = int(sys.argv[1]), sys.argv[2]
    assert sys.argv[3] == "--", "usage: crashpoints.py KILL_AT EVENTS_FILE -- ARGS..."
    events: list[str] = []
    unwatched_open = builtins.open

    def step(label: str, call, *args, **kwargs):
        if not events and not label.startswith("open .lock"):
            return call(*args, **kwargs)  # before the write path: not numbered
        point = 2 * len(events)
        events.append(label)
        if point == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            return call(*args, **kwargs)
        finally:  # "after" also when the call raised (filelock expects some of its opens to fail)
            if point + 1 == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    def watch(module, name: str, is_write=lambda *args, **kwargs: True) -> None:
        original = getattr(module, name)

        def watched(*args, **kwargs):
            if not is_write(*args, **kwargs):
                return original(*args, **kwargs)
            target = os.path.basename(str(args[0])) if args else ""
            return step(f"{name} {target}", original, *args, **kwargs)

        setattr(module, name, watched)

    for name in ("fsync", "replace", "rename", "mkdir", "rmdir", "unlink"):
        watch(os, name)
    watch(os, "open", lambda path, flags, *a, **k: bool(flags & WRITE_FLAGS))
    opens_for_writing = lambda file, mode="r", *a, **k: _is_write_mode(mode)  # noqa: E731
    watch(builtins, "open", opens_for_writing)
    io.open = builtins.open  # pathlib opens through io.open

    if kill_at < 0:
        atexit.register(lambda: unwatched_open(events_file, "w").write("\n".join(events) + "\n"))  # noqa: SIM115

    from stockrnn.cli.commands import main as stockrnn_main

    sys.argv = ["stockrnn", *sys.argv[4:]]
    stockrnn_main()


if __name__ == "__main__":
    main()
