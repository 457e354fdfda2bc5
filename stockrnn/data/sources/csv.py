"""Import a file in Yahoo's layout: Date, Open, High, Low, Close, Adj Close, Volume (or Date, Close).

The file is CSV text (gzipped or not), or Parquet with the same column names (told apart by magic
bytes). Accepted as the tools write them: `yf.download(...).to_csv()` with its three header lines,
`Ticker.history().to_csv()` with local timestamps whose UTC offset changes at daylight saving and
extra Dividends/Stock Splits columns, headers in any case, trailing blank lines.
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn.data.sources import YAHOO_COLUMNS
from stockrnn.data.store import PRICE_COLUMNS, validate_prices
from stockrnn.errors import DataError, MissingInputError

REQUIRED = ("Date", "Close")
# Yahoo and spreadsheet exports spell a missing value these ways.
MISSING_MARKERS = {"", "null", "NaN", "nan", "NA", "N/A"}


PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
EXCHANGE_ZONE = "America/New_York"  # timestamps become this zone's local date: the XNYS session


def _read_raw(path: Path) -> tuple[pd.DataFrame, str]:
    """The file's cells as text (one parser and one validator for both formats) and its row noun."""
    if not path.is_file():
        raise MissingInputError(f"CSV file {path} does not exist")
    content = path.read_bytes()
    if content[:2] == GZIP_MAGIC:
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: unreadable gzip file ({exc})") from None
    if content[:4] == PARQUET_MAGIC:
        return _read_raw_parquet(path), "row"
    return _read_raw_csv(path, content), "line"


def _read_raw_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: unreadable Parquet file ({exc})") from None
    header = table.schema.names
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} in Parquet columns {header}; "
            "expected Yahoo's names Date,Open,High,Low,Close,Adj Close,Volume (or Date,Close)"
        )
    date_type = table.schema.field("Date").type
    textual = pa.types.is_string(date_type) or pa.types.is_large_string(date_type)
    if not (pa.types.is_date(date_type) or pa.types.is_timestamp(date_type) or textual):
        raise DataError(f"{path}: column Date has type {date_type}; expected a date, timestamp or text")
    for name in YAHOO_COLUMNS:
        if name in header:
            kind = table.schema.field(name).type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                raise DataError(f"{path}: column {name} has type {kind}; expected a number")
    if table.num_rows == 0:
        raise DataError(f"{path}: has columns but no rows")
    # Shortest round-trip text of every value, so the CSV parser below sees exactly these numbers.
    return pd.DataFrame(
        {name: [None if v is None else str(v) for v in table[name].to_pylist()] for name in header}
    )


def _read_raw_csv(path: Path, content: bytes) -> pd.DataFrame:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: byte {exc.start} is not UTF-8 text; export the file as UTF-8 CSV") from None
    if "\x00" in text:
        raise DataError(f"{path}: contains NUL bytes, so it is not a CSV text file")
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header line {','.join(REQUIRED)}")
    rows = list(csv.reader(text.splitlines()))
    while rows and not any(cell.strip() for cell in rows[-1]):  # trailing blank lines: editors add them
        rows.pop()
    if not rows:
        raise DataError(f"{path}: holds only empty fields; expected a header line {','.join(REQUIRED)}")
    first_line = 2
    if _is_yfinance_multi_header(rows):
        # yf.download(...).to_csv(): "Price,<fields>", "Ticker,<symbols>", "Date,,,": fields on line 1.
        rows = [["Date", *rows[0][1:]], *rows[3:]]
        first_line = 4
    header = [canonical_column(name) for name in rows[0]]
    missing = [name for name in REQUIRED if name not in header]
    if missing and len(rows[0]) == 1 and ";" in rows[0][0]:
        raise DataError(
            f"{path}: fields are separated by ';', not ','; export it as comma-separated CSV "
            "(pandas: to_csv(path), spreadsheets: CSV UTF-8 with comma)"
        )
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} in header {header}; "
            "expected Yahoo's layout Date,Open,High,Low,Close,Adj Close,Volume (or Date,Close)"
        )
    if len(set(header)) != len(header):
        raise DataError(f"{path}: header {header} names a column twice")
    body = rows[1:]
    if not body:
        raise DataError(f"{path}: has a header but no rows")
    for number, row in enumerate(body, start=first_line):
        if len(row) != len(header):
            raise DataError(f"{path}: line {number}: {len(row)} fields, the header has {len(header)}")
    frame = pd.DataFrame(body, columns=header, dtype=object)
    frame.attrs["first_line"] = first_line
    return frame


def _is_yfinance_multi_header(rows: list[list[str]]) -> bool:
    return (
        len(rows) >= 3
        and rows[0][:1] == ["Price"]
        and rows[1][:1] == ["Ticker"]
        and rows[2][:1] == ["Date"]
        and not any(cell.strip() for cell in rows[2][1:])
    )


_NAMES = {re.sub(r"[\s_]", "", name.lower()): name for name in ("Date", *YAHOO_COLUMNS)}


def canonical_column(name: str) -> str:
    """A header cell as Yahoo spells it when it names one of its columns in another case or with
    an underscore (date, CLOSE, adj_close); anything else as written."""
    return _NAMES.get(re.sub(r"[\s_]", "", name.strip().lower()), name.strip())


FIRST_YEAR, LAST_YEAR = 1678, 2261


def _parse_dates(raw: pd.Series, path: Path | str, labels: pd.Series) -> pd.Series:
    text = raw.fillna("").str.strip()
    # pandas stores nanoseconds: 1677-09-21 .. 2262-04-11. Refuse what lies outside by name, not by crash.
    year = pd.to_numeric(text.str.extract(r"^(\d{4})-")[0], errors="coerce")
    outside = np.flatnonzero(((year < FIRST_YEAR) | (year > LAST_YEAR)).to_numpy())
    if outside.size:
        raise DataError(
            f"{path}: {labels.iloc[outside[0]]}: Date {raw.iloc[outside[0]]!r} is outside "
            f"{FIRST_YEAR}-{LAST_YEAR}, the years the store can hold"
        )
    dates = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        # Timestamps such as yfinance's to_csv output: the session is the date in the exchange's
        # zone. Ticker.history() writes local times whose UTC offset changes at daylight saving.
        stamped = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|Z)?")
        bad = np.flatnonzero((~stamped).to_numpy() & dates.isna().to_numpy())
        if bad.size:
            raise DataError(
                f"{path}: {labels.iloc[bad[0]]}: Date {raw.iloc[bad[0]]!r} is not a YYYY-MM-DD date"
            )
        zoned = text.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$")
        local = text.str.slice(0, 10)  # a naive timestamp: its own date
        if zoned.any():
            instants = pd.to_datetime(text[zoned], utc=True, errors="coerce", format="mixed")
            local[zoned] = instants.dt.tz_convert(EXCHANGE_ZONE).dt.strftime("%Y-%m-%d")
        dates = pd.to_datetime(local, format="%Y-%m-%d", errors="coerce")
        bad = np.flatnonzero(dates.isna().to_numpy())
        if bad.size:
            raise DataError(f"{path}: {labels.iloc[bad[0]]}: Date {raw.iloc[bad[0]]!r} is not a valid date")
    return dates.astype("datetime64[ns]")


def _parse_number(raw: pd.Series, column: str, path: Path | str, labels: pd.Series) -> pd.Series:
    text = raw.fillna("").str.strip()
    missing = text.isin(MISSING_MARKERS)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = np.flatnonzero((numbers.isna() & ~missing).to_numpy())
    if bad.size:
        raise DataError(f"{path}: {labels.iloc[bad[0]]}: {column} {raw.iloc[bad[0]]!r} is not a number")
    return numbers.astype("float64")


def read_yahoo_csv(path: Path, source: str, fetched_at: pd.Timestamp) -> pd.DataFrame:
    """Parse and validate a Yahoo-layout CSV into the store's schema; refuse it whole on any bad row."""
    path = Path(path)
    raw, row_noun = _read_raw(path)
    first = raw.attrs.get("first_line", 2) if row_noun == "line" else 1  # a CSV's header comes first
    labels = pd.Series([f"{row_noun} {n}" for n in range(first, len(raw) + first)])
    return parse_yahoo_rows(raw, str(path), labels, source, fetched_at)


def parse_yahoo_rows(
    raw: pd.DataFrame, origin: str, labels: pd.Series, source: str, fetched_at: pd.Timestamp
) -> pd.DataFrame:
    """Cells as text under Yahoo's column names -> the store's schema, refused whole on any bad row
    (named by `origin` and its label in `labels`): the one parser and validator of every import."""
    path = origin
    prices = pd.DataFrame({"date": _parse_dates(raw["Date"], path, labels)})
    for yahoo_name, name in YAHOO_COLUMNS.items():
        prices[name] = (
            _parse_number(raw[yahoo_name], yahoo_name, path, labels) if yahoo_name in raw else np.nan
        )
    validate_prices(prices, str(path), labels)
    steps = prices["date"].diff().dropna()
    if len(steps) > 1 and (steps < pd.Timedelta(0)).all():  # two rows alone could be one swap
        raise DataError(
            f"{path}: the rows are newest-first ({prices['date'].iloc[0].date()} first, "
            f"{prices['date'].iloc[-1].date()} last); sort them oldest-first"
        )
    not_ascending = np.flatnonzero((prices["date"].diff() <= pd.Timedelta(0)).to_numpy())
    if not_ascending.size:
        at = not_ascending[0]
        raise DataError(
            f"{path}: {labels.iloc[at]}: date {prices['date'].iloc[at].date()} comes after "
            f"{prices['date'].iloc[at - 1].date()}; rows must be in ascending date order"
        )
    volume = prices["volume"]
    if (volume.dropna() % 1 != 0).any():
        at = np.flatnonzero((volume % 1 != 0).to_numpy())[0]
        raise DataError(f"{path}: {labels.iloc[at]}: Volume {float(volume.iloc[at])!r} is not a whole number")
    prices["volume"] = volume.astype("Int64")
    prices["source"] = source
    prices["fetched_at"] = fetched_at
    return prices[PRICE_COLUMNS]
