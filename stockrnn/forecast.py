"""Forecast rows to Parquet, partitioned by `asof`: <out>/asof=YYYY-MM-DD/<run_id>.parquet.

`asof` lives in the partition path only (hive style), so pyarrow.dataset, pandas, DuckDB and
Polars read a year of nightly output as one table with an `asof` column. Re-running a forecast
for the same asof and run replaces that run's rows for those tickers; nothing is duplicated.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stockrnn.atomic import write_atomic
from stockrnn.locking import exclusive


def partition_file(out_root: Path, asof: pd.Timestamp, run_id: str) -> Path:
    return Path(out_root) / f"asof={pd.Timestamp(asof).date()}" / f"{run_id}.parquet"


def write_forecasts(frame: pd.DataFrame, out_root: Path, lock_timeout: float = 30.0) -> list[Path]:
    written = []
    with exclusive(Path(out_root) / ".lock", lock_timeout, what=f"the forecasts folder {out_root}"):
        for (asof, run_id), rows in frame.groupby(["asof", "run_id"], sort=True):
            path = partition_file(out_root, asof, run_id)
            rows = rows.drop(columns="asof")
            if path.is_file():
                kept = pd.read_parquet(path)
                rows = pd.concat([kept[~kept["ticker"].isin(rows["ticker"])], rows], ignore_index=True)
            rows = rows.sort_values("ticker", ignore_index=True)
            write_atomic(path, lambda tmp, rows=rows: rows.to_parquet(tmp, index=False), root=Path(out_root))
            written.append(path)
    return written


def read_forecasts(out_root: Path) -> pd.DataFrame:
    import pyarrow.dataset as ds

    dataset = ds.dataset(Path(out_root), format="parquet", partitioning="hive", exclude_invalid_files=True)
    return dataset.to_table().to_pandas()
