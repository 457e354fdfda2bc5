"""Forecast rows to Parquet, partitioned by `asof`: <out>/asof=YYYY-MM-DD/<run_id>.parquet.

`asof` lives in the partition path only (hive style), so pyarrow.dataset, pandas, DuckDB and
Polars read a year of nightly output as one table with an `asof` column. Re-running a forecast
for the same asof and run replaces that run's rows for those tickers; nothing is duplicated.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from stockrnn.io.atomic import write_atomic
from stockrnn.io.locking import exclusive

log = logging.getLogger("stockrnn")


def partition_file(out_root: Path, asof: pd.Timestamp, run_id: str) -> Path:
    return Path(out_root) / f"asof={pd.Timestamp(asof).date()}" / f"{run_id}.parquet"


def _readable_earlier(path: Path, columns: list[str]) -> pd.DataFrame | None:
    """The earlier forecasts of this partition file, if it holds ours. A garbage, truncated or
    foreign file is moved aside (hidden, so readers skip it) and said in the log: one bad night
    must not block the next ones, and nothing is deleted."""
    if not path.is_file():
        return None
    try:
        kept = pd.read_parquet(path)
        if list(kept.columns) != columns:
            raise ValueError(f"columns {list(kept.columns)[:4]}... are not this version's")
        return kept
    except (
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
    with exclusive(Path(out_root) / ".lock", lock_timeout, what=f"the forecasts folder {out_root}"):
        for (asof, run_id), rows in frame.groupby(["asof", "run_id"], sort=True):
            path = partition_file(out_root, asof, run_id)
            rows = rows.drop(columns="asof")
            kept = _readable_earlier(path, list(rows.columns))
            if kept is not None:
                rows = pd.concat([kept[~kept["ticker"].isin(rows["ticker"])], rows], ignore_index=True)
            rows = rows.sort_values("ticker", ignore_index=True)
            write_atomic(path, lambda tmp, rows=rows: rows.to_parquet(tmp, index=False), root=Path(out_root))
            written.append(path)
    return written


def _partitioning():
    import pyarrow as pa
    import pyarrow.dataset as ds

    return ds.partitioning(pa.schema([("asof", pa.date32())]), flavor="hive")


def as_archived(frame: pd.DataFrame) -> pd.DataFrame:
    """Forecast rows exactly as `read_forecasts` gives them back once written: the file's columns
    through Arrow, then `asof` from the partition, last, as the partitioning types it; rows in the
    order the archive keeps them (by asof, then ticker)."""
    import pyarrow as pa

    frame = frame.sort_values(["asof", "ticker"], kind="stable", ignore_index=True)

    table = pa.Table.from_pandas(frame.drop(columns="asof"), preserve_index=False)
    asof = pa.array(pd.to_datetime(frame["asof"]).dt.date, type=_partitioning().schema.field("asof").type)
    return table.append_column("asof", asof).to_pandas()


def read_forecasts(out_root: Path) -> pd.DataFrame:
    """Every forecast under `out_root` as one table; `asof` reads back as a date (not a string or a
    category): the hive partitioning is given its type, as other readers can do too (README)."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(
        Path(out_root), format="parquet", partitioning=_partitioning(), exclude_invalid_files=True
    )
    return dataset.to_table().to_pandas()
