"""`stockrnn fetch`: bring each ticker's stored history up to date, one ticker at a time.

A ticker already stored is fetched from a few days before its last session. If Yahoo's
adjusted close on those overlapping days differs from ours, a dividend or split has restated
the history since we stored it, and the whole history is fetched again instead of spliced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from stockrnn.calendar import last_closed_session
from stockrnn.errors import DataError, TemporaryError
from stockrnn.features import price_basis
from stockrnn.sources.csv import read_yahoo_csv
from stockrnn.store import PriceStore

log = logging.getLogger(__name__)

OVERLAP = timedelta(days=10)  # calendar days re-fetched before the last stored session
RESTATEMENT_RTOL = 1e-6  # Yahoo's prices round-trip exactly; anything more is a restatement


class PriceSource(Protocol):
    name: str

    def history(self, ticker: str, start: date | None, end: date | None) -> pd.DataFrame: ...


@dataclass(frozen=True)
class FetchOutcome:
    ticker: str
    status: str  # new | updated | up to date | restated | not found | failed | invalid
    rows_added: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in {"new", "updated", "up to date", "restated", "imported"}


def is_restated(stored: pd.DataFrame, fresh: pd.DataFrame) -> bool:
    """True when the adjusted close of any session in both frames differs."""
    both = (
        stored[["date"]]
        .assign(old=price_basis(stored))
        .merge(fresh[["date"]].assign(new=price_basis(fresh)), on="date")
    )
    return not np.allclose(both["old"], both["new"], rtol=RESTATEMENT_RTOL, atol=0.0)


def _merge(stored: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """Stored rows win on shared dates: raw data is only appended to, never edited."""
    added = fresh[~fresh["date"].isin(stored["date"])]
    return pd.concat([stored, added], ignore_index=True).sort_values("date", ignore_index=True)


def _outcome(ticker: str, status: str, prices: pd.DataFrame, rows_added: int) -> FetchOutcome:
    return FetchOutcome(ticker, status, rows_added, prices["date"].iloc[0], prices["date"].iloc[-1])


def fetch_one(
    store: PriceStore,
    source: PriceSource,
    ticker: str,
    start: date | None,
    end: date | None,
    exchange: str,
    now: pd.Timestamp,
) -> FetchOutcome:
    closed = last_closed_session(exchange, now)

    def closed_only(prices: pd.DataFrame) -> pd.DataFrame:
        # A bar for a session still trading is provisional: its "close" is the last trade.
        return prices[prices["date"] <= closed].reset_index(drop=True)

    stored = store.read(ticker) if store.has(ticker) else None
    if stored is None:
        fresh = closed_only(source.history(ticker, start, end))
        if fresh.empty:
            return FetchOutcome(ticker, "not found", message="no closed sessions in range")
        store.write(ticker, fresh, origin=f"Yahoo {ticker}")
        return _outcome(ticker, "new", fresh, len(fresh))

    last_stored = stored["date"].iloc[-1].date()
    fetch_from = start if start is not None else last_stored - OVERLAP
    fresh = closed_only(source.history(ticker, fetch_from, end))
    if is_restated(stored, fresh):
        log.info("%s: adjusted close changed on stored sessions; refetching its whole history", ticker)
        history = closed_only(source.history(ticker, None, end))
        store.write(ticker, history, origin=f"Yahoo {ticker}")
        return _outcome(ticker, "restated", history, len(history) - len(stored))
    merged = _merge(stored, fresh)
    rows_added = len(merged) - len(stored)
    if rows_added == 0:
        return _outcome(ticker, "up to date", stored, 0)
    store.write(ticker, merged, origin=f"Yahoo {ticker}")
    return _outcome(ticker, "updated", merged, rows_added)


def fetch_tickers(
    store: PriceStore,
    source: PriceSource,
    tickers: list[str],
    start: date | None,
    end: date | None,
    exchange: str,
    now: pd.Timestamp | None = None,
) -> list[FetchOutcome]:
    """Fetch each ticker; one ticker's failure is reported and never stops the others."""
    from stockrnn.sources.yahoo import TickerNotFound

    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    outcomes = []
    for ticker in tickers:
        try:
            outcomes.append(fetch_one(store, source, ticker, start, end, exchange, now))
        except TickerNotFound as exc:
            outcomes.append(FetchOutcome(ticker, "not found", message=str(exc)))
        except TemporaryError as exc:
            outcomes.append(FetchOutcome(ticker, "failed", message=str(exc)))
        except DataError as exc:
            outcomes.append(FetchOutcome(ticker, "invalid", message=str(exc)))
    return outcomes


def import_csv(store: PriceStore, path: Path, ticker: str, source: str) -> FetchOutcome:
    """Import a CSV file as the ticker's history, merged with what is stored."""
    fresh = read_yahoo_csv(path, source=source, fetched_at=pd.Timestamp.now(tz="UTC"))
    if not store.has(ticker):
        store.write(ticker, fresh, origin=str(path))
        return _outcome(ticker, "imported", fresh, len(fresh))
    stored = store.read(ticker)
    merged = _merge(stored, fresh)
    store.write(ticker, merged, origin=str(path))
    return _outcome(ticker, "imported", merged, len(merged) - len(stored))
