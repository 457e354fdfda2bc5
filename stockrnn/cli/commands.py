"""The Typer app with every command registered, and the metavars a person reads in --help."""

from __future__ import annotations

import inspect

from stockrnn.cli import comparison, data, evidence, models, tracking  # noqa: F401 - importing registers the commands
from stockrnn.cli.app import app

# What a person reads after an option in --help, where typer would print <list[str]> or <float range>.
METAVARS = {
    "tickers": "TICKER",
    "ticker": "TICKER",
    "start": "YYYY-MM-DD",
    "asof": "YYYY-MM-DD",
    "since": "YYYY-MM-DD",
    "scores_file": "FILE",
    "alert": "LEVEL",
    "run_names": "RUN",
    "end": "YYYY-MM-DD",
    "exchange": "MIC",
    "interval": "1d",
    "from_csv": "FILE",
    "config_file": "FILE",
    "config_files": "FILE",
    "grid": "FILE",
    "out": "PATH",
    "png_dir": "FOLDER",
    "lock_timeout": "SECONDS",
    "overrides": "SECTION.KEY=VALUE",
    "horizon": "H",
    "epochs": "N",
    "folds": "N",
    "jobs": "N",
    "ray": "local|auto|ADDRESS",
    "seed": "N",
    "step": "SESSIONS",
    "val_sessions": "SESSIONS",
    "window": "expanding|rolling:N",
    "refit": "every|N",
    "quantiles": "LEVELS|point",
    "run_name": "RUN",
    "name": "ID",
}


def _readable_metavars() -> None:
    """Give every option and argument a metavar, before typer builds the click commands."""
    import typing

    import typer.models

    for command in app.registered_commands:
        hints = typing.get_type_hints(inspect.unwrap(command.callback))  # once per command
        for name, parameter in inspect.signature(command.callback).parameters.items():
            info, hint = parameter.default, hints.get(name)
            if not isinstance(info, typer.models.ParameterInfo) or info.metavar is not None or hint is bool:
                continue
            choices = _enum_choices(hint)
            info.metavar = "|".join(choices) if choices else METAVARS.get(name, name.upper())


def _enum_choices(hint) -> list[str]:
    """The values of an Enum annotation (also inside `X | None`), else []."""
    import typing
    from enum import Enum

    for candidate in typing.get_args(hint) or (hint,):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return list(candidate.__members__)
    return []


def _no_type_after_arguments() -> None:
    """typer prints `TICKER... <list[str]>` for an argument even when it has a metavar; the metavar
    says it already."""
    from typer.core import TyperArgument

    TyperArgument.display_type_rich = lambda self, ctx: None


# Two examples per command, shown at the end of its --help.
EXAMPLES = {
    "fetch": ["stockrnn fetch AAPL MSFT ^GSPC", "stockrnn fetch --from-csv prices.csv --ticker ACME"],
    "store": ["stockrnn store", "stockrnn store --store /data/prices"],
    "train": [
        "stockrnn train --horizon 5",
        "stockrnn train --config configs/panel.toml --challenge production",
    ],
    "evaluate": ["stockrnn evaluate", "stockrnn evaluate --run production --since-training"],
    "predict": ["stockrnn predict --run production", "stockrnn predict --asof 2026-11-20 --json"],
    "runs": ["stockrnn runs", "stockrnn runs --json"],
    "promote": ["stockrnn promote latest", "stockrnn promote 20261120-223001-gru-GSPC --reason 'won Q3'"],
    "track": ["stockrnn track", "stockrnn --quiet track --alert 0.01"],
    "backtest": [
        "stockrnn backtest --horizon 5",
        "stockrnn backtest --config configs/panel.toml --folds 8 --jobs 2",
    ],
    "compare": [
        "stockrnn compare --config configs/default.toml --config configs/lstm.toml",
        "stockrnn compare --grid configs/grids/families.toml --backtest",
    ],
    "report": ["stockrnn report", "stockrnn report --track --png charts/"],
    "config": ["stockrnn config > my.toml", "stockrnn train --config my.toml"],
}


def _examples() -> None:
    """Each command's --help ends with its examples (click keeps a \\b paragraph unwrapped)."""
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        lines = "\n".join(f"  {example}" for example in EXAMPLES[name])
        command.epilog = f"Examples:\n\n\b\n{lines}"


_readable_metavars()
_no_type_after_arguments()
_examples()

__all__ = ["app", "main"]


def main() -> None:
    from stockrnn.cli.entry import main as entry

    entry()
