"""Forecast rows to Parquet, partitioned by the session they were made from:
<out>/origin_date=YYYY-MM-DD/<run_id>.parquet.

`origin_date` lives in the partition path only (hive style), so pyarrow.dataset, pandas, DuckDB and
Polars read a year of nightly output as one table with an `origin_date` column. Session dates are
dates (Parquet date32) here as in the store, the test predictions and the backtests, so the tables
join without conversions; no column name needs quoting in SQL. Re-running a forecast for the same
origin date and run replaces that run's rows for those tickers; nothing is duplicated.

Archives written before 0.2 (partition `asof=`, columns `model` and a timestamp `target_date`)
still read: `read_forecasts` maps them to today's names and types.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from stockrnn.errors import DataError
from stockrnn.io.atomic import refuse_symlinks, write_atomic
from stockrnn.io.locking import exclusive
from stockrnn.io.safe_read import read_parquet

log = logging.getLogger("stockrnn")


PARTITION = "origin_date"
# Names before 0.2: `asof` is a reserved word in DuckDB, and `model` also named a median column.
OLD_NAMES = {"asof": "origin_date", "model": "model_name"}


def partition_file(out_root: Path, origin_date, run_id: str) -> Path:
    return Path(out_root) / f"{PARTITION}={pd.Timestamp(origin_date).date()}" / f"{run_id}.parquet"


def _readable_earlier(path: Path, columns: list[str]) -> pd.DataFrame | None:
    """The earlier forecasts of this partition file, if it holds ours. A garbage, truncated or
    foreign file is moved aside (hidden, so readers skip it) and said in the log: one bad night
    must not block the next ones, and nothing is deleted."""
    if not path.is_file():
        return None
    try:
        kept = read_parquet(path)
        if list(kept.columns) != columns:
            raise ValueError(f"columns {list(kept.columns)[:4]}... are not this version's")
        return kept
    except (
        DataError,
        OSError,
        ValueError,
        KeyError,
        ImportError,
        RuntimeError,
    ) as exc:  # pyarrow's errors are ValueErrors
        stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S")
        aside = path.with_name(f".corrupt-{stamp}-{path.name}")
        os.replace(path, aside)
        log.warning(
            "%s was unreadable (%s); moved aside to %s", path, str(exc).splitlines()[0][:120], aside.name
        )
        return None


def write_forecasts(frame: pd.DataFrame, out_root: Path, lock_timeout: float = 30.0) -> list[Path]:
    written = []
    what = f"the forecasts folder {out_root}"
    with exclusive(Path(out_root) / ".lock", lock_timeout, what, "try again later or raise --lock-timeout"):
        for (origin_date, run_id), rows in frame.groupby([PARTITION, "run_id"], sort=True):
            path = partition_file(out_root, origin_date, run_id)
            refuse_symlinks(Path(out_root), path)  # before reading or moving aside what is there
            rows = rows.drop(columns=PARTITION)
            kept = _readable_earlier(path, list(rows.columns))
            if kept is not None:
                rows = pd.concat([kept[~kept["ticker"].isin(rows["ticker"])], rows], ignore_index=True)
            rows = rows.sort_values("ticker", ignore_index=True)
            write_atomic(path, lambda tmp, rows=rows: rows.to_parquet(tmp, index=False), root=Path(out_root))
            written.append(path)
    return written


def _partitioning(key: str = PARTITION):
    import pyarrow as pa
    import pyarrow.dataset as ds

    return ds.partitioning(pa.schema([(key, pa.date32())]), flavor="hive")


def as_archived(frame: pd.DataFrame) -> pd.DataFrame:
    """Forecast rows exactly as `read_forecasts` gives them back once written: the file's columns
    through Arrow, then `origin_date` from the partition, last, as a date; rows in the order the
    archive keeps them (by origin date, then ticker)."""
    import pyarrow as pa

    frame = frame.sort_values([PARTITION, "ticker"], kind="stable", ignore_index=True)
    table = pa.Table.from_pandas(frame.drop(columns=PARTITION), preserve_index=False)
    day = pa.array(pd.to_datetime(frame[PARTITION]).dt.date, type=pa.date32())
    return table.append_column(PARTITION, day).to_pandas()


def _read_layout(root: Path, key: str) -> pd.DataFrame | None:
    """The files under `<key>=YYYY-MM-DD/` folders (never hidden temp or moved-aside files)."""
    import pyarrow.dataset as ds

    files = sorted(
        str(f)
        for folder in root.glob(f"{key}=*")
        if folder.is_dir() and not folder.is_symlink()
        for f in folder.glob("*.parquet")
        if not f.name.startswith(".") and f.is_file() and not f.is_symlink()
    )
    if not files:
        return None
    dataset = ds.dataset(
        files, format="parquet", partitioning=_partitioning(key), partition_base_dir=str(root)
    )
    frame = dataset.to_table().to_pandas().rename(columns=OLD_NAMES)
    frame["target_date"] = pd.to_datetime(frame["target_date"]).dt.date  # a timestamp before 0.2
    return frame


def read_forecasts(out_root: Path) -> pd.DataFrame:
    """Every forecast under `out_root` as one table, `origin_date` and `target_date` as dates.
    Files of the layout before 0.2 are read too, with their names and types mapped; where both
    layouts hold the same forecast, the newer row wins."""
    root = Path(out_root)
    parts = [found for key in (PARTITION, "asof") if (found := _read_layout(root, key)) is not None]
    if not parts:
        return pd.DataFrame(columns=["ticker", "target_date", "horizon", "run_id", PARTITION])
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat(parts, ignore_index=True).sort_values("created_at", kind="stable")
    frame = frame.drop_duplicates([PARTITION, "run_id", "ticker", "horizon"], keep="last")
    return frame.sort_values([PARTITION, "run_id", "ticker", "horizon"], ignore_index=True)
