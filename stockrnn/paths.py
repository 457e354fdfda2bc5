"""Where stockrnn keeps things: every default location is named here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

STORE_ENV = "STOCKRNN_STORE"
RUNS_ENV = "STOCKRNN_RUNS"
FORECASTS_ENV = "STOCKRNN_FORECASTS"


def data_home() -> Path:
    """The per-user data folder ($XDG_DATA_HOME/stockrnn, else ~/.local/share/stockrnn)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "stockrnn"


def _resolve(explicit: Path | None, env_var: str, default_name: str) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser()
    from_env = os.environ.get(env_var)
    if from_env:
        return Path(from_env).expanduser()
    return data_home() / default_name


def store_dir(explicit: Path | None = None) -> Path:
    """`--store`, else $STOCKRNN_STORE, else <data home>/store."""
    return _resolve(explicit, STORE_ENV, "store")


def runs_dir(explicit: Path | None = None) -> Path:
    """`--runs`, else $STOCKRNN_RUNS, else <data home>/runs."""
    return _resolve(explicit, RUNS_ENV, "runs")


def forecasts_dir(explicit: Path | None = None) -> Path:
    """`--out`, else $STOCKRNN_FORECASTS, else <data home>/forecasts."""
    return _resolve(explicit, FORECASTS_ENV, "forecasts")


def sample_dir() -> Path:
    """The bundled sample prices: inside the installed wheel, else the repository's data/sample."""
    here = Path(__file__).resolve().parent
    packaged = here / "sample"
    if packaged.is_dir():
        return packaged
    return here.parent / "data" / "sample"
