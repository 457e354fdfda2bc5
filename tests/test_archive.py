"""The forecasts archive joins the store as it is: session dates are dates everywhere, column names
need no quoting in SQL, one meaning per name; archives written before 0.2 still read."""

from __future__ import annotations

import datetime
import re

import pandas as pd
from synthetic import ar1_returns, prices_from_returns

import stockrnn
from stockrnn.outputs.forecast_archive import read_forecasts

# Words DuckDB (and standard SQL) reserve: a column named so must be quoted in every query.
RESERVED = {
    "asof",
    "order",
    "group",
    "select",
    "from",
    "where",
    "limit",
    "join",
    "on",
    "table",
    "end",
    "user",
}


def _old_layout_file(root, origin: str, target: str, created: str, close: float) -> None:
    """What stockrnn wrote before 0.2: an asof= partition, `model` the name, target_date a timestamp."""
    folder = root / f"asof={origin}"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "ticker": ["SYN"],
            "target_date": pd.to_datetime([target]).astype("datetime64[ns]"),
            "horizon": [1],
            "last_close": [100.0],
            "predicted_close": [close],
            "predicted_return": [0.0],
            "close_p50": [close],
            "return_p50": [0.0],
            "model": ["gru"],
            "run_id": ["20240101-000000-gru-SYN"],
            "created_at": [pd.Timestamp(created, tz="UTC")],
        }
    ).to_parquet(folder / "20240101-000000-gru-SYN.parquet", index=False)


def test_an_archive_written_the_old_way_reads_with_todays_names_and_types(tmp_path):
    _old_layout_file(tmp_path, "2024-01-02", "2024-01-03", "2024-01-02 22:30", 101.0)
    [row] = read_forecasts(tmp_path).to_dict("records")
    assert row["origin_date"] == datetime.date(2024, 1, 2) and row["target_date"] == datetime.date(2024, 1, 3)
    assert row["model_name"] == "gru" and "asof" not in row and "model" not in row


def test_the_same_forecast_in_both_layouts_is_read_once_the_newer_winning(tmp_path):
    _old_layout_file(tmp_path, "2024-01-02", "2024-01-03", "2024-01-02 22:30", 101.0)
    newer = read_forecasts(tmp_path).assign(
        created_at=pd.Timestamp("2024-01-03 22:30", tz="UTC"), close_p50=102.0
    )
    stockrnn.write_forecasts(newer, tmp_path)
    both = read_forecasts(tmp_path)
    assert len(both) == 1 and both["close_p50"].iloc[0] == 102.0


def test_forecasts_join_the_store_in_plain_pandas_and_their_names_need_no_quoting(tmp_path, store):
    store.write("SYN", prices_from_returns(ar1_returns(400, phi=0.3)), origin="test")
    config = stockrnn.Config.from_toml(
        overrides={
            "data.tickers": ["SYN"],
            "features.lookback": 10,
            "model.hidden_size": 8,
            "training.epochs": 1,
            "features.horizon": 2,
            "calibration.window": 40,
            "calibration.min_resolved": 10,
        }
    )
    run = stockrnn.train(config, store, tmp_path / "runs")
    day = store.read("SYN")["date"].iloc[-5]
    stockrnn.write_forecasts(run.predict(store, asof=day), tmp_path / "out")
    forecasts = pd.read_parquet(tmp_path / "out")  # pandas alone, no stockrnn reader
    prices = pd.read_parquet(store.root / "prices")
    joined = forecasts.merge(prices, left_on=["ticker", "target_date"], right_on=["ticker", "date"])
    assert len(joined) == 2 and (joined["date"] > day.date()).all()
    tests = pd.read_parquet(run.path / "test_predictions.parquet")
    assert len(tests.merge(prices, left_on=["ticker", "target_date"], right_on=["ticker", "date"])) == len(
        tests
    )
    for columns in (forecasts.columns, tests.columns, prices.columns):
        for name in columns:
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name not in RESERVED, name
    assert "model" not in forecasts and "model_name" in forecasts  # `model` is a median in test predictions
