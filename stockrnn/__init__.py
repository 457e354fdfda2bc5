"""stockrnn: recurrent forecasters for daily stock prices, honest against a naive baseline.

    import stockrnn
    config = stockrnn.Config.from_toml(overrides={"features.horizon": 5})
    run = stockrnn.train(config, prices_frame, runs="runs")
    run.predict(prices_frame, allow_stale=True)

The names below are imported on first use (PEP 562), so `import stockrnn` and `stockrnn --help`
load neither torch nor pandas.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "Config": "stockrnn.config.schema",
    "Store": "stockrnn.api",
    "read_prices": "stockrnn.api",
    "train": "stockrnn.api",
    "Run": "stockrnn.api",
    "backtest": "stockrnn.api",
    "Backtest": "stockrnn.api",
    "compare": "stockrnn.api",
    "Comparison": "stockrnn.api",
    "read_forecasts": "stockrnn.api",
    "write_forecasts": "stockrnn.api",
    "list_runs": "stockrnn.api",
    "report": "stockrnn.api",
    "fetch": "stockrnn.api",
    "import_prices": "stockrnn.api",
    "load_sample": "stockrnn.api",
    "Evaluation": "stockrnn.api",
    "promote": "stockrnn.api",
    "production": "stockrnn.api",
    "StockrnnError": "stockrnn.errors",
    "DataError": "stockrnn.errors",
    "MissingInputError": "stockrnn.errors",
    "OutputError": "stockrnn.errors",
    "TemporaryError": "stockrnn.errors",
    "ConfigError": "stockrnn.errors",
    "UsageError": "stockrnn.errors",
    "IntervalAlert": "stockrnn.errors",
    "track": "stockrnn.api",
    "Tracked": "stockrnn.api",
    "Interrupted": "stockrnn.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stockrnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # once: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
