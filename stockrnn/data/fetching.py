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

from stockrnn.data.calendar import last_closed_session
from stockrnn.data.prices import extreme_moves, has_ohlcv, price_basis
from stockrnn.data.sources.csv import read_yahoo_csv
from stockrnn.data.store import PriceStore
from stockrnn.errors import DataError, TemporaryError, Unreachable

log = logging.getLogger(__name__)

OVERLAP = timedelta(days=10)  # calendar days re-fetched before the last stored session
RESTATEMENT_RTOL = 1e-6  # Yahoo's prices round-trip exactly; anything more is a restatement
SAMPLE_SYMBOLS = {"GSPC": "^GSPC"}  # sample files named otherwise than Yahoo names the series
BREAKER_FAILURES = 2  # tickers in a row that cannot connect, before anything worked: stop trying


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
    unreachable: str = ""  # why the source could not be reached at all (then nothing was fetched)

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
    symbol = store.source_symbol(ticker)  # GSPC in the store is ^GSPC at Yahoo
    if stored is None:
        fresh = closed_only(source.history(symbol, start, end))
        if fresh.empty:
            return FetchOutcome(ticker, "not found", message="no closed sessions in range")
        store.write(ticker, fresh, origin=f"Yahoo {ticker}")
        return _outcome(ticker, "new", fresh, len(fresh))

    last_stored = stored["date"].iloc[-1].date()
    fetch_from = start if start is not None else last_stored - OVERLAP
    fresh = closed_only(source.history(symbol, fetch_from, end))
    if is_restated(stored, fresh):
        log.info("%s: adjusted close changed on stored sessions; refetching its whole history", ticker)
        history = closed_only(source.history(symbol, None, end))
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
    """Fetch each ticker; one ticker's failure is reported and never stops the others, except when
    the source is unreachable: once the first tickers could not connect at all (or a host name did
    not resolve) before anything succeeded, the rest are not tried (a circuit breaker), so an
    offline night ends in seconds, not in minutes of retries per ticker."""
    from stockrnn.data.sources.yahoo import TickerNotFound

    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    outcomes: list[FetchOutcome] = []
    unreachable = 0
    for position, ticker in enumerate(tickers):
        try:
            outcomes.append(fetch_one(store, source, ticker, start, end, exchange, now))
        except Unreachable as exc:
            cause = "host name does not resolve" if exc.name_not_resolved else "no connection"
            outcomes.append(FetchOutcome(ticker, "failed", message=str(exc), unreachable=cause))
            unreachable += 1
            nothing_worked = unreachable == len(outcomes)
            if nothing_worked and (exc.name_not_resolved or unreachable >= BREAKER_FAILURES):
                rest = tickers[position + 1 :]
                reason = f"not tried: {source.name} unreachable ({cause})"
                outcomes += [FetchOutcome(t, "not tried", message=reason, unreachable=cause) for t in rest]
                if rest:
                    log.warning(
                        "%s is unreachable; not trying the other %d ticker(s)", source.name, len(rest)
                    )
                break
        except TickerNotFound as exc:
            outcomes.append(FetchOutcome(ticker, "not found", message=str(exc)))
        except TemporaryError as exc:
            outcomes.append(FetchOutcome(ticker, "failed", message=str(exc)))
        except DataError as exc:
            outcomes.append(FetchOutcome(ticker, "invalid", message=str(exc)))
    return outcomes


def import_csv(
    store: PriceStore, path: Path, ticker: str, source: str, replace: bool = False
) -> FetchOutcome:
    """Import a CSV file as the ticker's history, merged with what is stored.

    Overlapping sessions must agree with the stored ones, unless `replace` lets the file's rows win;
    a file must not mix close-only rows into an OHLCV history (or the reverse): features would
    silently change. Extreme moves the adjusted close does not explain are warned about.
    """
    fresh = read_yahoo_csv(path, source=source, fetched_at=pd.Timestamp.now(tz="UTC"))
    if not store.has(ticker):
        _warn_extreme_moves(ticker, fresh, fresh["date"])
        store.write(ticker, fresh, origin=str(path))
        return _outcome(ticker, "imported", fresh, len(fresh))
    stored = store.read(ticker)
    conflict = first_conflict(stored, fresh)
    if conflict is not None and not replace:
        day, column, old, new, count = conflict
        raise DataError(
            f"{path}: {count} session(s) differ from the stored {ticker}, first {day} ({column}: stored "
            f"{old}, file {new}); nothing was changed; pass --replace to let the file's rows win"
        )
    if replace:
        merged = pd.concat([stored[~stored["date"].isin(fresh["date"])], fresh], ignore_index=True)
        merged = merged.sort_values("date", ignore_index=True)
    else:
        merged = _merge(stored, fresh)
    _refuse_mixed_columns(path, ticker, stored, merged)
    _warn_extreme_moves(ticker, merged, fresh["date"])
    store.write(ticker, merged, origin=str(path))
    changed = len(merged) - len(stored) + (conflict[4] if conflict and replace else 0)
    return _outcome(ticker, "imported", merged, changed)


COMPARED = ("close", "adj_close", "open", "high", "low", "volume")


def first_conflict(stored: pd.DataFrame, fresh: pd.DataFrame):
    """(date, column, stored value, file value, sessions that differ) for the earliest shared session
    whose values differ, or None. Missing on both sides agrees; missing on one side differs."""
    both = stored.merge(fresh, on="date", suffixes=("_stored", "_file"))

    def values(column: str, side: str) -> np.ndarray:
        return both[f"{column}_{side}"].to_numpy(dtype="float64", na_value=np.nan)

    unequal = np.column_stack(  # (shared sessions, columns)
        [
            ~(np.isclose(a, b, rtol=1e-9, atol=0.0) | (np.isnan(a) & np.isnan(b)))
            for a, b in ((values(c, "stored"), values(c, "file")) for c in COMPARED)
        ]
    )
    differs = unequal.any(axis=1)
    if not differs.any():
        return None
    row = int(np.argmax(differs))
    column = COMPARED[int(np.argmax(unequal[row]))]
    old, new = both[f"{column}_stored"].iloc[row], both[f"{column}_file"].iloc[row]
    return both["date"].iloc[row].date(), column, old, new, int(differs.sum())


def _refuse_mixed_columns(path: Path, ticker: str, stored: pd.DataFrame, merged: pd.DataFrame) -> None:
    """Close-only rows in an OHLCV history (or OHLCV rows in a close-only one) change the features
    the history gives; refuse the file instead of storing the mix."""
    ohlcv = merged[["open", "high", "low", "volume"]].notna().all(axis=1).to_numpy()
    if ohlcv.all() or not ohlcv.any():
        return
    stored_kind = "Open, High, Low, Close and Volume" if has_ohlcv(stored) else "Date and Close only"
    raise DataError(
        f"{path}: mixes close-only rows with Open/High/Low/Volume rows, and the stored {ticker} has "
        f"{stored_kind}; import a file with the same columns, or --replace with a whole history"
    )


def _warn_extreme_moves(ticker: str, prices: pd.DataFrame, dates: pd.Series) -> None:
    new = set(pd.DatetimeIndex(dates).date)
    for day, ratio in extreme_moves(prices["date"], price_basis(prices)):
        if day in new:
            log.warning(
                "%s: the price moves x%.3g on %s (more than 3x in a session) and the adjusted close does "
                "not explain it; an unadjusted split? Check the source before training",
                ticker,
                ratio,
                day,
            )
