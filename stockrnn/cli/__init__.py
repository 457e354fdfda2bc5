"""The `stockrnn` command line: parse, call the library, render with rich, map errors to exit codes.

app.py holds what every command shares; each other module registers its commands on that app.
"""

from __future__ import annotations

from stockrnn.cli import comparison, data, evidence, models  # noqa: F401 - importing registers the commands
from stockrnn.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    from stockrnn.entry import main as entry

    entry()
