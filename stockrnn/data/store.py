"""The local price store: one Parquet dataset partitioned by ticker, validated, written atomically.

Layout: <store>/prices/ticker=<TICKER>/part-0.parquet (hive partitioning, so pyarrow.dataset,
DuckDB and Polars read the whole store as one table with a `ticker` column).
Inside the library every price frame has exactly the columns of PRICE_COLUMNS, one row per
session, sorted by `date` (tz-naive session dates).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from stockrnn.errors import DataError, MissingInputError
from stockrnn.io.atomic import write_atomic
from stockrnn.io.locking import exclusive
from stockrnn.io.safe_read import no_links_below, read_bytes, read_json

PRICE_FIELDS = ["open", "high", "low", "close", "adj_close"]
PRICE_COLUMNS = ["date", *PRICE_FIELDS, "volume", "source", "fetched_at"]

ARROW_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        *[pa.field(name, pa.float64()) for name in PRICE_FIELDS],
        pa.field("volume", pa.int64()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("fetched_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

_REFETCH = "delete the file and run `stockrnn fetch {ticker}` to rebuild it"


def _schema_difference(schema: pa.Schema) -> str:
    """The first way a stored file's schema differs from the store's, in a user's words."""
    for expected in ARROW_SCHEMA:
        if expected.name not in schema.names:
            return f"column {expected.name} is missing"
        found = schema.field(expected.name).type
        if found != expected.type:
            return f"column {expected.name} has type {found}, expected {expected.type}"
    extra = [name for name in schema.names if name not in ARROW_SCHEMA.names]
    return f"unexpected column(s) {', '.join(extra)}" if extra else "columns are out of order"


_TICKER_PATTERN = re.compile(r"^[\^A-Z0-9][A-Z0-9.\-=^]{0,24}$")
_PART_FILE = "part-0.parquet"
STORE_FILE_LIMIT = 2**30  # fifty years of daily rows is about a megabyte


def normalize_ticker(name: str) -> str:
    """Upper-case a ticker symbol and refuse anything that is not one."""
    ticker = name.strip().upper()
    if not _TICKER_PATTERN.match(ticker):
        shown = name if len(name) <= 40 else name[:40] + f"... ({len(name)} characters)"
        raise DataError(
            f"ticker {shown!r} is not a valid symbol; use letters, digits and . - ^ = (e.g. AAPL, ^GSPC)"
        )
    return ticker


def empty_prices() -> pd.DataFrame:
    return ARROW_SCHEMA.empty_table().to_pandas().pipe(_to_library_dtypes)


def _to_library_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    for name in PRICE_FIELDS:
        frame[name] = frame[name].astype("float64")
    frame["volume"] = frame["volume"].astype("Int64")
    frame["source"] = frame["source"].astype(object)
    frame["fetched_at"] = pd.to_datetime(frame["fetched_at"], utc=True)
    return frame


def _table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A stored table in the library's dtypes, converted in Arrow (10x faster than in pandas)."""
    table = table.set_column(0, "date", table["date"].cast(pa.timestamp("ns")))
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    frame["source"] = frame["source"].astype(object)
    return frame


MAX_PRICE = 1e12  # far above any traded price; exp(return) x price stays finite for any forecast


def validate_prices(frame: pd.DataFrame, origin: str, row_labels: pd.Series | None = None) -> None:
    """Refuse a frame that must not be stored; the message names origin, row and value.

    `row_labels` gives each row's name in the user's terms (a CSV line number); by default
    the session date.
    """
    labels = row_labels if row_labels is not None else frame["date"].dt.strftime("%Y-%m-%d")

    def fail(position: int, problem: str) -> None:
        raise DataError(f"{origin}: {labels.iloc[position]}: {problem}")

    bad_dates = np.flatnonzero(frame["date"].isna().to_numpy())
    if bad_dates.size:
        fail(bad_dates[0], "date is missing or not a date")
    duplicated = np.flatnonzero(frame["date"].duplicated().to_numpy())
    if duplicated.size:
        day = frame["date"].iloc[duplicated[0]].date()
        fail(duplicated[0], f"date {day} appears more than once")
    missing_close = np.flatnonzero(frame["close"].isna().to_numpy())
    if missing_close.size:
        fail(missing_close[0], "close is missing")
    for name in PRICE_FIELDS:
        values = frame[name].to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(values)
        bad = np.flatnonzero(present & ~(np.isfinite(values) & (values > 0)))
        if bad.size:
            fail(bad[0], f"{name} {float(values[bad[0]])!r} is not a positive finite price")
        too_large = np.flatnonzero(present & (values > MAX_PRICE))
        if too_large.size:
            fail(
                too_large[0],
                f"{name} {float(values[too_large[0]])!r} is above {MAX_PRICE:g}, beyond any real price "
                "(forecasts from it would overflow); check the file's units",
            )
    volume = frame["volume"].to_numpy(dtype="float64", na_value=np.nan)
    bad_volume = np.flatnonzero(~np.isnan(volume) & ~(np.isfinite(volume) & (volume >= 0)))
    if bad_volume.size:
        fail(bad_volume[0], f"volume {float(volume[bad_volume[0]])!r} is negative or not finite")
    huge_volume = np.flatnonzero(~np.isnan(volume) & (volume >= 2.0**63))
    if huge_volume.size:
        fail(
            huge_volume[0], f"volume {float(volume[huge_volume[0]])!r} is too large to store (above 2^63 - 1)"
        )


@dataclass(frozen=True)
class TickerSummary:
    ticker: str
    rows: int
    first: pd.Timestamp
    last: pd.Timestamp
    source: str
    fetched_at: pd.Timestamp


class PriceStore:
    """A folder of per-ticker Parquet files; `lock()` guards writers against each other."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.prices_dir = self.root / "prices"

    def ticker_file(self, ticker: str) -> Path:
        return self.prices_dir / f"ticker={quote(ticker, safe='')}" / _PART_FILE

    @property
    def cache_dir(self) -> Path:
        """Where third-party caches (yfinance's) live, so nothing is written to the user's home."""
        return self.root / ".cache"

    @contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        what = f"the store {self.root}"
        with exclusive(self.root / ".lock", timeout, what, "try again later or raise --lock-timeout"):
            yield

    def require_exists(self) -> None:
        """A store folder that is not there is a mistyped --store (or $STOCKRNN_STORE), not an empty store."""
        if not self.root.exists():
            raise MissingInputError(
                f"the store folder {self.root} does not exist; check --store (or $STOCKRNN_STORE), "
                "or create it with `stockrnn fetch TICKER --store ...`"
            )

    def tickers(self) -> list[str]:
        if not self.prices_dir.is_dir():
            return []
        found = [
            unquote(entry.name.split("=", 1)[1])
            for entry in self.prices_dir.iterdir()
            if entry.name.startswith("ticker=") and (entry / _PART_FILE).is_file()
        ]
        return sorted(found)

    def has(self, ticker: str) -> bool:
        return self.ticker_file(ticker).is_file()

    @property
    def symbols_file(self) -> Path:
        return self.root / "symbols.json"

    def source_symbol(self, ticker: str) -> str:
        """The symbol to ask the price source for: the ticker itself unless an alias was recorded
        (the sample stores the S&P 500 as GSPC; Yahoo calls it ^GSPC)."""
        return self._aliases().get(ticker, ticker)

    def record_symbol(self, ticker: str, symbol: str) -> None:
        aliases = {**self._aliases(), ticker: symbol}
        text = json.dumps(aliases, indent=2, sort_keys=True) + "\n"
        write_atomic(self.symbols_file, lambda tmp: tmp.write_text(text, encoding="utf-8"), root=self.root)

    def _aliases(self) -> dict[str, str]:
        if not os.path.lexists(self.symbols_file):
            return {}
        try:
            aliases = read_json(self.symbols_file, limit=2**20)
        except (DataError, MissingInputError) as exc:
            raise DataError(f"{exc}; delete it to ask the source by ticker") from None
        if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
            raise DataError(
                f'{self.symbols_file}: expected {{"TICKER": "SYMBOL"}}; delete it to ask by ticker'
            )
        return aliases

    def read(self, ticker: str, last_rows: int | None = None) -> pd.DataFrame:
        """The ticker's stored history in date order; only its newest `last_rows` sessions if given."""
        table = self._read_table(ticker)
        if last_rows is not None:  # slice before converting: predict needs a window, not ten years
            table = table.slice(max(table.num_rows - last_rows, 0))
        frame = _table_to_frame(table)
        try:  # a file changed behind the tool's back (a close of 1e300) is held to the writer's bounds
            validate_prices(frame, str(self.ticker_file(ticker)))
        except DataError as exc:
            raise DataError(f"{exc}; changed outside stockrnn? {_REFETCH.format(ticker=ticker)}") from None
        return frame

    def _read_table(self, ticker: str, columns: list[str] | None = None) -> pa.Table:
        """The stored table (or some of its columns), its schema checked against the store's."""
        path = self.ticker_file(ticker)
        if not path.is_file():
            self.require_exists()
            known = self.tickers()
            close = difflib.get_close_matches(ticker, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            raise MissingInputError(
                f"ticker {ticker} is not in the store {self.root}; {hint}run `stockrnn fetch {ticker}` first"
                f" (`stockrnn store` lists the {len(known)} stored)"
            )
        try:
            no_links_below(self.root, path)  # no link, FIFO or device read, nothing read without bound
            data = read_bytes(path, STORE_FILE_LIMIT)
        except DataError as exc:
            raise DataError(f"{exc}; {_REFETCH.format(ticker=ticker)}") from None
        try:
            file = pq.ParquetFile(pa.BufferReader(data))  # one file: skips the dataset layer (1.8x faster)
            if not file.schema_arrow.equals(ARROW_SCHEMA, check_metadata=False):
                raise DataError(
                    f"{path}: {_schema_difference(file.schema_arrow)}; {_REFETCH.format(ticker=ticker)}"
                )
            return file.read(columns=columns)
        except PermissionError:
            # Another account's file, or a mode this user may not read: the data may be fine.
            raise MissingInputError(
                f"{path}: permission denied reading it; check its owner and mode (run stockrnn as the "
                "account that fetched it), the data itself may be fine"
            ) from None
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"{path}: unreadable Parquet file ({exc}); {_REFETCH.format(ticker=ticker)}"
            ) from None

    def write(self, ticker: str, prices: pd.DataFrame, origin: str) -> None:
        """Replace the ticker's whole history with `prices`, after validating every row."""
        prices = prices.sort_values("date", kind="stable").reset_index(drop=True)
        validate_prices(prices, origin)
        prices = prices.assign(date=prices["date"].dt.date)
        table = pa.Table.from_pandas(prices[PRICE_COLUMNS], schema=ARROW_SCHEMA, preserve_index=False)
        write_atomic(self.ticker_file(ticker), lambda tmp: pq.write_table(table, tmp), root=self.root)

    def summary(self) -> list[TickerSummary]:
        """Rows, date range and newest fetch per ticker, reading 3 of the 9 columns of each file."""
        rows = []
        for ticker in self.tickers():
            table = self._read_table(ticker, ["date", "source", "fetched_at"])
            if table.num_rows == 0:  # a zero-row file: list it, do not crash the listing
                continue
            newest = pa.compute.index(table["fetched_at"], pa.compute.max(table["fetched_at"])).as_py()
            rows.append(
                TickerSummary(
                    ticker=ticker,
                    rows=table.num_rows,
                    first=pd.Timestamp(table["date"][0].as_py()),
                    last=pd.Timestamp(table["date"][-1].as_py()),
                    source=str(table["source"][newest].as_py()),
                    fetched_at=pd.Timestamp(table["fetched_at"][newest].as_py()),
                )
            )
        return rows
