"""Prices: from a DataFrame (validated like a CSV import) or a Store folder, and filling the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stockrnn import paths
from stockrnn.data.sources.frame import FramePrices
from stockrnn.data.store import PriceStore
from stockrnn.errors import MissingInputError

Store = PriceStore  # `stockrnn.Store(path)`: the Parquet price store that `stockrnn fetch` fills


Prices = pd.DataFrame | PriceStore | FramePrices


def read_prices(frame: pd.DataFrame) -> FramePrices:
    """A long frame (ticker, date, close; optional open, high, low, adj_close, volume) validated
    exactly like `stockrnn fetch --from-csv`; DataError names the ticker, row and value."""
    return FramePrices.from_frame(frame)


def price_source(prices: Prices | str | Path | None):
    """What the studies read prices from: a DataFrame is validated, a path opens a store."""
    if isinstance(prices, pd.DataFrame):
        return read_prices(prices)
    if prices is None or isinstance(prices, (str, Path)):
        return PriceStore(paths.store_dir(None if prices is None else Path(prices)))
    return prices


def runs_folder(runs: str | Path | None) -> Path:
    return paths.runs_dir(None if runs is None else Path(runs))


def fetch(
    tickers: list[str] | None = None,
    store: str | Path | PriceStore | None = None,
    *,
    start=None,
    end=None,
    exchange: str = "XNYS",
    lock_timeout: float = 30.0,
):
    """Bring each ticker's stored history up to date from Yahoo (None: every stored ticker); one
    FetchOutcome per ticker, failures included (`outcome.ok`)."""
    from stockrnn.data.fetching import fetch_tickers
    from stockrnn.data.sources.yahoo import YahooSource
    from stockrnn.data.store import normalize_ticker

    store = price_source(store)
    if not tickers:  # the cron form updates what is stored: check before the lock creates the folder
        store.require_exists()
        if not store.tickers():
            raise MissingInputError(f"the store {store.root} is empty; name the tickers to fetch")
    with store.lock(lock_timeout):
        names = [normalize_ticker(t) for t in tickers] if tickers else store.tickers()
        source = YahooSource(cache_dir=store.cache_dir)
        return fetch_tickers(store, source, list(dict.fromkeys(names)), start, end, exchange)


def import_prices(
    path: str | Path,
    ticker: str,
    store: str | Path | PriceStore | None = None,
    *,
    replace: bool = False,
    lock_timeout: float = 30.0,
):
    """Import a CSV (or Parquet) file in Yahoo's layout as `ticker`, merged with what is stored."""
    from stockrnn.data.fetching import import_csv
    from stockrnn.data.store import normalize_ticker

    store, path = price_source(store), Path(path)
    with store.lock(lock_timeout):
        return import_csv(store, path, normalize_ticker(ticker), f"csv:{path.name}", replace=replace)


def load_sample(store: str | Path | PriceStore | None = None, *, lock_timeout: float = 30.0):
    """Store the bundled sample prices (no network); GSPC is recorded as Yahoo's ^GSPC for updates."""
    from stockrnn.data.fetching import SAMPLE_SYMBOLS, import_csv
    from stockrnn.data.store import normalize_ticker

    store = price_source(store)
    with store.lock(lock_timeout):
        outcomes = [
            import_csv(store, csv_file, normalize_ticker(csv_file.stem), "sample")
            for csv_file in sorted(paths.sample_dir().glob("*.csv"))
        ]
        for ticker, symbol in SAMPLE_SYMBOLS.items():
            store.record_symbol(ticker, symbol)  # so the cron form `stockrnn fetch` updates them
    return outcomes
