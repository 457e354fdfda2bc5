"""Prices handed over as a pandas DataFrame, held in memory and read like a store.

A long frame: one row per ticker and session, columns `ticker`, `date`, `close` and, optionally,
`open`, `high`, `low`, `adj_close`, `volume` (any case; `Adj Close` too). Each ticker's rows go
through the very parser and validator a CSV import does, so a frame is refused for exactly what a
file would be, named by ticker and row. Nothing touches the disk.
"""

from __future__ import annotations

import pandas as pd

from stockrnn.data.sources import YAHOO_COLUMNS
from stockrnn.data.sources.csv import canonical_column, parse_yahoo_rows
from stockrnn.data.store import normalize_ticker
from stockrnn.errors import DataError, MissingInputError

ORIGIN = "prices DataFrame"


def _as_text(column: pd.Series) -> pd.Series:
    """Cells as the text a CSV would hold: missing values empty, numbers and dates as written."""
    return column.astype(object).where(column.notna(), "").astype(str)


class FramePrices:
    """Validated histories per ticker, with the reading side of PriceStore (`read`, `tickers`, `has`)."""

    def __init__(self, histories: dict[str, pd.DataFrame]):
        self.histories = histories
        self.root = ORIGIN  # what messages name where a store would name its folder

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str = "frame") -> FramePrices:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{ORIGIN}: expected a pandas DataFrame, got {type(frame).__name__}")
        if not {"ticker", "date"} <= set(frame.columns) and isinstance(frame.index, pd.MultiIndex):
            frame = frame.reset_index()  # (ticker, date) kept in the index
        names = {column: canonical_column(str(column)) for column in frame.columns}
        names.update({c: "ticker" for c in frame.columns if str(c).strip().lower() == "ticker"})
        known = {"ticker", "Date", *YAHOO_COLUMNS}
        unknown = [str(c) for c, name in names.items() if name not in known]
        if unknown:
            raise DataError(
                f"{ORIGIN}: unknown column(s) {', '.join(unknown)}; expected ticker, date, close and "
                "optionally open, high, low, adj_close, volume"
            )
        frame = frame.rename(columns=names)
        missing = [name for name in ("ticker", "Date", "Close") if name not in frame.columns]
        if missing:
            raise DataError(
                f"{ORIGIN}: missing column(s) {', '.join(m.lower() for m in missing)}; a long frame needs "
                "ticker, date and close"
            )
        if frame.empty:
            raise DataError(f"{ORIGIN}: no rows; give at least one ticker's history")
        fetched_at = pd.Timestamp.now(tz="UTC")
        histories = {}
        for ticker, rows in frame.groupby(frame["ticker"].astype(str), sort=False):
            name = normalize_ticker(ticker)
            raw = rows.drop(columns="ticker").apply(_as_text)
            labels = pd.Series([f"ticker {name}, row {label}" for label in rows.index])
            histories[name] = parse_yahoo_rows(raw.reset_index(drop=True), ORIGIN, labels, source, fetched_at)
        return cls(histories)

    def tickers(self) -> list[str]:
        return sorted(self.histories)

    def has(self, ticker: str) -> bool:
        return ticker in self.histories

    def read(self, ticker: str, last_rows: int | None = None) -> pd.DataFrame:
        if ticker not in self.histories:
            raise MissingInputError(
                f"ticker {ticker} is not in the {ORIGIN}; it holds {', '.join(self.tickers())}"
            )
        history = self.histories[ticker]
        return history.iloc[-last_rows:].reset_index(drop=True) if last_rows else history.copy()
