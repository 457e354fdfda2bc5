"""The public Python API: what `import stockrnn` offers, and what every CLI command calls.

Prices come as a long pandas DataFrame (validated like a CSV import, nothing written to disk) or a
Store folder; every result is read back as DataFrames. Errors are StockrnnError subclasses, each
with the exit code the CLI would return (`error.exit_code`); nothing here prints.
"""

from stockrnn.api.outputs import Report, read_forecasts, report, track, write_forecasts
from stockrnn.api.prices import Prices, Store, fetch, import_prices, load_sample, read_prices
from stockrnn.api.runs import Evaluation, Run, list_runs, production, promote, train
from stockrnn.api.studies import Backtest, Comparison, backtest, compare
from stockrnn.outputs.track import Tracked
from stockrnn.runs.folder import LATEST

__all__ = [
    "Backtest",
    "Comparison",
    "Evaluation",
    "LATEST",
    "Prices",
    "Report",
    "Run",
    "Store",
    "Tracked",
    "backtest",
    "compare",
    "fetch",
    "import_prices",
    "list_runs",
    "load_sample",
    "production",
    "promote",
    "read_forecasts",
    "read_prices",
    "report",
    "track",
    "train",
    "write_forecasts",
]
