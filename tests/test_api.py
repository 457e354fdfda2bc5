"""The public Python API: the README's example as it stands, DataFrames in and out, runs shared with
the CLI both ways, prices validated like a CSV, and project errors instead of exits."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import ar1_returns, prices_from_returns

import stockrnn

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-python-example"
TINY = {
    "features.lookback": 10,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "training.epochs": 2,
    "features.horizon": 3,
    "data.tickers": ["SYN", "ALT"],
}


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    after = text[text.index(MARKER) :]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def long_frame(names=("SYN", "ALT"), n: int = 420) -> pd.DataFrame:
    """Two synthetic tickers as the long frame a notebook user has: ticker, date, close."""
    frames = []
    for seed, name in enumerate(names, start=1):
        history = prices_from_returns(ar1_returns(n, phi=0.4, seed=seed))
        frames.append(history[["date", "close"]].assign(ticker=name))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.slow
def test_the_readme_example_trains_from_a_dataframe_and_its_run_serves_the_cli_predict(
    tmp_path, monkeypatch, cli
):
    shutil.copytree(ROOT / "data" / "sample", tmp_path / "data" / "sample")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)  # noqa: S102 - the documented example
    run, forecasts = namespace["run"], namespace["forecasts"]

    assert (tmp_path / "runs" / run.id / "model.pt").is_file()
    assert set(run.metrics["forecaster"]) >= {"model", "naive", "ewma", "garch"}
    assert sorted(run.metrics["horizon"].unique()) == [1, 2, 3, 4, 5]
    assert len(run.test_predictions) == run.manifest.windows["test"] * 5
    assert sorted(forecasts["ticker"].unique()) == ["KO", "XOM"] and len(forecasts) == 10

    # The same run from the CLI, on a store holding the same prices: the same forecasts, same types.
    for ticker in ("KO", "XOM"):
        imported = cli(
            "fetch", "--from-csv", f"data/sample/{ticker}.csv", "--ticker", ticker, "--store", "store"
        )
        assert imported.exit_code == 0, imported.stderr
    predicted = cli(
        "predict", "--run", run.id, "--runs", "runs", "--store", "store", "--out", "out", "--allow-stale"
    )
    assert predicted.exit_code == 0, predicted.stderr
    written = stockrnn.read_forecasts("out")
    assert list(written.columns) == list(forecasts.columns)
    assert written.dtypes.to_dict() == forecasts.dtypes.to_dict()
    pd.testing.assert_frame_equal(written.drop(columns="created_at"), forecasts.drop(columns="created_at"))


@pytest.mark.slow
def test_a_run_trained_by_the_cli_loads_and_predicts_in_python_like_the_cli(tmp_path, cli, store):
    for name, seed in (("SYN", 1), ("ALT", 2)):
        store.write(name, prices_from_returns(ar1_returns(420, phi=0.4, seed=seed)), origin="test")
    sets = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value!r}".replace("'", '"'))]
    trained = cli("train", *sets, "--store", store.root, "--runs", tmp_path / "runs", "--json")
    assert trained.exit_code == 0, trained.stderr
    run = stockrnn.Run.load("latest", runs=tmp_path / "runs")
    assert stockrnn.Run.load(run.path).id == run.id  # by the folder's path too
    assert run.config.model.hidden_size == 8

    in_python = run.predict(store, allow_stale=True)
    done = cli(
        "predict",
        "--runs",
        tmp_path / "runs",
        "--store",
        store.root,
        "--out",
        tmp_path / "out",
        "--allow-stale",
    )
    assert done.exit_code == 0, done.stderr
    from_cli = stockrnn.read_forecasts(tmp_path / "out")
    pd.testing.assert_frame_equal(from_cli.drop(columns="created_at"), in_python.drop(columns="created_at"))


def test_train_backtest_and_compare_take_a_dataframe_and_give_dataframes(tmp_path):
    prices = long_frame()
    config = stockrnn.Config.from_toml(overrides=TINY)
    run = stockrnn.train(config, prices, runs=tmp_path / "runs")
    pooled = run.metrics.query("scope == 'pooled' and forecaster == 'model'")
    assert list(pooled["horizon"]) == [1, 2, 3]
    assert np.isfinite(pooled["pinball_vs_naive"]).all()
    assert run.metrics.shape[0] == len(run.metrics.drop_duplicates(["scope", "forecaster", "horizon"]))

    walked = stockrnn.backtest(config, prices, tmp_path / "runs", folds=2, step=20, val_sessions=60)
    assert set(walked.metrics["fold"]) == {"pooled", "1", "2"}
    assert list(walked.folds["index"]) == [1, 2]
    assert sorted(walked.forecasts["fold"].unique()) == [1, 2]
    assert stockrnn.Backtest.load(runs=tmp_path / "runs").id == walked.id

    lstm = config.with_overrides({"model.cell": "lstm"})
    compared = stockrnn.compare({"gru": config, "lstm": lstm}, prices, tmp_path / "runs")
    board = compared.leaderboard
    assert sorted(board["horizon"].unique()) == [1, 2, 3]
    assert {"gru", "lstm", "naive"} <= set(board["forecaster"])
    assert (board.groupby("horizon")["rank"].min() == 1).all()


def test_a_dataframe_is_refused_for_what_a_csv_would_be_naming_ticker_and_row(tmp_path):
    prices = long_frame()
    prices.loc[5, "close"] = -1.0  # row label 5 belongs to SYN
    with pytest.raises(stockrnn.DataError) as refused:
        stockrnn.read_prices(prices)
    assert str(refused.value) == (
        "prices DataFrame: ticker SYN, row 5: close -1.0 is not a positive finite price"
    )
    csv = tmp_path / "bad.csv"
    csv.write_text("Date,Close\n2020-01-02,10\n2020-01-03,-1.0\n")
    with pytest.raises(stockrnn.DataError) as from_file:
        stockrnn.import_prices(csv, "BAD", tmp_path / "store")
    assert str(from_file.value).endswith("close -1.0 is not a positive finite price")
    assert not (tmp_path / "store" / "prices").exists() or not any((tmp_path / "store" / "prices").iterdir())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f.drop(columns="close"),
            "prices DataFrame: missing column(s) close; a long frame needs ticker, date and close",
        ),
        (
            lambda f: f.assign(dividend=0.0),
            "prices DataFrame: unknown column(s) dividend; expected ticker, date, close and optionally open, high, low, adj_close, volume",
        ),
        (lambda f: f.iloc[::-1], "prices DataFrame: the rows are newest-first"),
        (lambda f: f.iloc[:0], "prices DataFrame: no rows; give at least one ticker's history"),
    ],
)
def test_a_malformed_frame_gets_one_line_naming_what_is_wrong(change, message):
    with pytest.raises(stockrnn.DataError) as refused:
        stockrnn.read_prices(change(long_frame()))
    assert str(refused.value).startswith(message)


def test_frame_prices_accept_any_header_case_and_timestamps_as_session_dates():
    frame = long_frame(("SYN",), n=30).rename(columns={"close": "Close", "date": "Date"})
    frame["Date"] = frame["Date"].dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    prices = stockrnn.read_prices(frame)
    history = prices.read("SYN")
    assert list(history["date"]) == list(long_frame(("SYN",), n=30)["date"])
    assert prices.tickers() == ["SYN"]
    with pytest.raises(
        stockrnn.MissingInputError, match="ticker KO is not in the prices DataFrame; it holds SYN"
    ):
        prices.read("KO")


def test_errors_reach_python_callers_as_project_exceptions_with_their_exit_codes(tmp_path):
    with pytest.raises(stockrnn.MissingInputError) as missing:
        stockrnn.Run.load("20990101-000000-gru-X", runs=tmp_path / "runs")
    assert missing.value.exit_code == 66
    with pytest.raises(stockrnn.ConfigError) as bad:
        stockrnn.Config.from_dict({"model": {"cel": "lstm"}})
    assert str(bad.value).startswith("config dict: unknown key 'model.cel' (did you mean model.cell?)")
    assert bad.value.exit_code == 78
    with pytest.raises(stockrnn.ConfigError, match=r"features.horizon = 0"):
        stockrnn.Config.from_toml(overrides={"features.horizon": 0})


def test_config_overrides_as_a_dict_or_as_strings_are_the_same_config():
    as_dict = stockrnn.Config.from_toml(overrides={"features.horizon": 5, "model.cell": "lstm"})
    as_text = stockrnn.Config.from_toml(overrides=["features.horizon=5", "model.cell='lstm'"])
    assert as_dict == as_text
    assert as_dict.with_overrides({"features.horizon": 2}).features.horizon == 2
    assert stockrnn.Config.from_dict(as_dict.model_dump(mode="json")) == as_dict


def test_import_stockrnn_loads_neither_torch_nor_pandas_and_every_export_resolves():
    code = (
        "import sys, stockrnn; light = 'torch' not in sys.modules and 'pandas' not in sys.modules; "
        "missing = [n for n in stockrnn.__all__ if getattr(stockrnn, n, None) is None]; print(light, missing)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True []"
