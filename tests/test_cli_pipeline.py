"""`stockrnn train | evaluate | predict | runs` from the command line: outputs, errors, exit codes."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import saved_before_checksums
from synthetic import ar1_returns, prices_from_returns

FAST = ["--set", "features.lookback=10", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]


@pytest.fixture
def folders(tmp_path, store):
    store.write("SYN", prices_from_returns(ar1_returns(400, phi=0.5)), origin="test")
    return {"store": store, "runs": tmp_path / "runs", "out": tmp_path / "forecasts"}


@pytest.fixture
def trained_cli(cli, folders):
    args = ["train", "--ticker", "SYN", "--epochs", "2", "--device", "cpu", *FAST]
    result = cli(*args, "--store", folders["store"].root, "--runs", folders["runs"], "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_train_json_reports_model_and_baselines(trained_cli):
    metrics = trained_cli["metrics"]["SYN"]
    assert set(metrics) == {"model", "naive", "drift", "ewma", "garch", "linear_ar", "dlinear"}
    assert metrics["naive"]["h1"]["mae_vs_naive"] == 1.0 and metrics["naive"]["h1"]["pinball_vs_naive"] == 1.0
    assert trained_cli["epochs_run"] == 2


def test_train_precision_flag_is_recorded_in_the_run_config(cli, folders):
    args = ["train", "--ticker", "SYN", "--epochs", "1", "--precision", "bf16", *FAST]
    result = cli(*args, "--store", folders["store"].root, "--runs", folders["runs"], "--json")
    assert result.exit_code == 0, result.stderr
    config = json.loads((folders["runs"] / json.loads(result.stdout)["run_id"] / "config.json").read_text())
    assert config["training"]["precision"] == "bf16"


def test_train_with_an_unknown_precision_exits_2_naming_the_choices(cli, folders):
    result = cli("train", "--ticker", "SYN", "--precision", "fp16", "--store", folders["store"].root)
    assert result.exit_code == 2
    assert "'fp16' is not one of 'fp32', 'bf16'" in result.stderr


def test_train_without_terminal_prints_plain_epoch_lines_and_the_table(cli, folders):
    result = cli(
        "train",
        "--ticker",
        "SYN",
        "--epochs",
        "2",
        *FAST,
        "--store",
        folders["store"].root,
        "--runs",
        folders["runs"],
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("training gru on SYN from ")  # cron logs say what starts
    assert lines[1] == "reading prices and computing features for 1 ticker(s)"  # each step says so
    # 300 sessions leave 58 test origins: too few to mean much, and the run says so.
    assert lines[2] == (
        "WARNING stockrnn: the test split has only 58 forecast origins; its scores are mostly noise "
        "(fetch more history or use `stockrnn backtest`)"
    )
    assert lines[3].startswith("training gru: ") and lines[3].endswith(" validation windows")
    assert lines[4].startswith("epoch 1/2 train_loss=")
    assert lines[6:] == [
        "fitting the baselines (naive, drift, EWMA, GARCH per ticker, ridge, DLinear)",
        "calibrating and scoring every forecaster on 58 test origins",
    ]
    assert "\x1b[" not in result.stdout + result.stderr
    assert "linear_ar" in result.stdout and "MAE/naive" in result.stdout and "cov90" in result.stdout


def test_quiet_train_prints_nothing(cli, folders):
    result = cli(
        "--quiet",
        "train",
        "--ticker",
        "SYN",
        "--epochs",
        "1",
        *FAST,
        "--store",
        folders["store"].root,
        "--runs",
        folders["runs"],
    )
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("", "")


def test_evaluate_and_runs_show_the_latest_run(cli, folders, trained_cli):
    result = cli("evaluate", "--runs", folders["runs"], "--json")
    assert json.loads(result.stdout)["metrics"] == trained_cli["metrics"]
    listing = cli("runs", "--runs", folders["runs"])
    assert trained_cli["run_id"] in listing.stdout and "latest" in listing.stdout


def test_evaluate_since_training_with_no_new_sessions_exits_66(cli, folders, trained_cli):
    result = cli("evaluate", "--since-training", "--store", folders["store"].root, "--runs", folders["runs"])
    assert result.exit_code == 66
    assert "no sessions stored after" in result.stderr


def test_evaluate_since_training_scores_new_sessions(cli, folders, trained_cli):
    store = folders["store"]
    longer = prices_from_returns(ar1_returns(460, phi=0.5))  # same seed: the first 401 rows are identical
    store.write("SYN", longer, origin="test")
    result = cli("evaluate", "--since-training", "--store", store.root, "--runs", folders["runs"], "--json")
    assert result.exit_code == 0, result.stderr
    assert set(json.loads(result.stdout)["metrics"]["SYN"]) == {
        "model",
        "naive",
        "drift",
        "ewma",
        "garch",
        "linear_ar",
        "dlinear",
    }


def test_predict_refuses_stale_data_unless_allowed(cli, folders, trained_cli):
    base = ["predict", "--store", folders["store"].root, "--runs", folders["runs"], "--out", folders["out"]]
    stale = cli(*base)
    assert stale.exit_code == 65
    assert "for 1 ticker(s): SYN (" in stale.stderr and "--allow-stale" in stale.stderr
    assert not folders["out"].exists()
    allowed = cli(*base, "--allow-stale", "--json")
    assert allowed.exit_code == 0, allowed.stderr
    [row] = json.loads(allowed.stdout)["forecasts"]
    assert row["ticker"] == "SYN" and row["horizon"] == 1 and row["run_id"] == trained_cli["run_id"]


def test_predict_refuses_a_window_with_a_missing_session(cli, folders, trained_cli):
    store = folders["store"]
    prices = store.read("SYN")
    store.write("SYN", prices.drop(index=len(prices) - 4), origin="test")
    result = cli(
        "predict", "--allow-stale", "--store", store.root, "--runs", folders["runs"], "--out", folders["out"]
    )
    assert result.exit_code == 65
    assert "missing session(s)" in result.stderr


def test_predict_names_a_window_date_that_is_not_a_session_instead_of_counting_it_missing(
    cli, folders, trained_cli
):
    store = folders["store"]
    prices = store.read("SYN")
    saturday = prices["date"].iloc[-3] + pd.offsets.Week(weekday=5)  # the Saturday after
    moved = prices.copy()
    moved.loc[len(prices) - 2, "date"] = saturday  # a weekday row now dated on a weekend
    store.write("SYN", moved, origin="test")
    result = cli(
        "predict", "--allow-stale", "--store", store.root, "--runs", folders["runs"], "--out", folders["out"]
    )
    assert result.exit_code == 65
    assert (
        f"SYN: {saturday.date()} in the newest window is not a session of XNYS (1 such date(s))"
        in result.stderr
    )
    assert "missing" not in result.stderr


def test_predict_on_dates_outside_the_exchange_calendar_exits_65_naming_the_date(cli, folders, trained_cli):
    store = folders["store"]
    prices = store.read("SYN")
    store.write("SYN", prices.assign(date=prices["date"] - pd.DateOffset(years=40)), origin="test")
    result = cli(
        "predict", "--allow-stale", "--store", store.root, "--runs", folders["runs"], "--out", folders["out"]
    )
    assert result.exit_code == 65, result.stderr
    assert "lies outside the XNYS calendar (1980-01-02 .." in result.stderr
    assert "Traceback" not in result.output and result.stderr.count("\n") == 1


def test_predict_for_a_ticker_the_run_does_not_know_exits_66(cli, folders, trained_cli):
    result = cli(
        "predict",
        "--ticker",
        "KO",
        "--allow-stale",
        "--store",
        folders["store"].root,
        "--runs",
        folders["runs"],
    )
    assert result.exit_code == 66
    assert "was not trained on KO" in result.stderr


def test_no_runs_exits_66_for_commands_that_need_one(cli, tmp_path):
    for command in (["predict"], ["evaluate"]):
        result = cli(*command, "--runs", tmp_path / "none")
        assert result.exit_code == 66, command
        assert "train one with `stockrnn train`" in result.stderr


def test_train_on_a_ticker_not_in_the_store_exits_66(cli, folders):
    result = cli("train", "--ticker", "MSFT", "--store", folders["store"].root, "--runs", folders["runs"])
    assert result.exit_code == 66
    assert "ticker MSFT is not in the store" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "features.lookback=0"], "features.lookback = 0"),
        (["--set", "model.dropout=1.5"], "model.dropout = 1.5"),
        (["--set", "split.test=0.5"], "is over 1"),
        (["--set", "training.nope=1"], "unknown key 'training.nope'"),
    ],
)
def test_bad_configuration_exits_78_naming_the_key(cli, folders, args, message):
    result = cli("train", *args, "--store", folders["store"].root, "--runs", folders["runs"])
    assert result.exit_code == 78
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_truncated_weights_exit_65(cli, folders, trained_cli):
    weights = folders["runs"] / trained_cli["run_id"] / "model.pt"
    saved_before_checksums(weights.parent)  # else the checksum catches it first (tested elsewhere)
    weights.write_bytes(weights.read_bytes()[:100])
    result = cli("predict", "--allow-stale", "--store", folders["store"].root, "--runs", folders["runs"])
    assert result.exit_code == 65
    assert "model.pt is not a loadable weights-only checkpoint" in result.stderr


class _Planted:
    def __reduce__(self):
        import os

        return (os.system, ("touch PLANTED_CODE_RAN",))


def test_pickled_code_in_weights_is_refused_and_never_runs(cli, folders, trained_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weights = folders["runs"] / trained_cli["run_id"] / "model.pt"
    weights.write_bytes(pickle.dumps({"rnn.weight": _Planted()}))
    result = cli("predict", "--allow-stale", "--store", folders["store"].root, "--runs", folders["runs"])
    assert result.exit_code == 65
    assert not (tmp_path / "PLANTED_CODE_RAN").exists()


def test_weights_of_another_shape_exit_65(cli, folders, trained_cli):
    config_file = folders["runs"] / trained_cli["run_id"] / "config.json"
    saved_before_checksums(config_file.parent)
    config = json.loads(config_file.read_text())
    config["model"]["hidden_size"] = 32
    config_file.write_text(json.dumps(config))
    result = cli("predict", "--allow-stale", "--store", folders["store"].root, "--runs", folders["runs"])
    assert result.exit_code == 65
    assert "weights do not fit the model its config describes" in result.stderr


FORECAST_COLUMNS = [
    "ticker",
    "target_date",
    "horizon",
    "last_close",
    "predicted_close",
    "predicted_return",
    "close_p05",
    "close_p50",
    "close_p95",
    "return_p05",
    "return_p50",
    "return_p95",
    "model_name",
    "run_id",
    "created_at",
    "calibration_support",
    "origin_date",
]


def test_predict_writes_one_row_per_horizon_with_the_documented_schema(cli, folders):
    args = ["train", "--ticker", "SYN", "--epochs", "1", "--horizon", "3", "--quantiles", "0.05,0.95", *FAST]
    trained = cli(*args, "--store", folders["store"].root, "--runs", folders["runs"], "--json")
    assert trained.exit_code == 0, trained.stderr
    result = cli(
        "predict",
        "--allow-stale",
        "--store",
        folders["store"].root,
        "--runs",
        folders["runs"],
        "--out",
        folders["out"],
    )
    assert result.exit_code == 0, result.stderr
    from stockrnn.data.calendar import sessions_after
    from stockrnn.outputs.forecast_archive import read_forecasts

    written = read_forecasts(folders["out"])
    assert list(written.columns) == FORECAST_COLUMNS
    assert written["horizon"].tolist() == [1, 2, 3]
    last = folders["store"].read("SYN")["date"].iloc[-1]
    assert list(written["target_date"]) == list(sessions_after("XNYS", last, 3).date)  # dates, as stored
    assert (written["close_p05"] <= written["close_p50"]).all() and (
        written["close_p50"] <= written["close_p95"]
    ).all()
    assert written["close_p50"].tolist() == written["predicted_close"].tolist()
    np.testing.assert_allclose(written["close_p95"], written["last_close"] * np.exp(written["return_p95"]))


def test_a_run_from_before_horizons_still_loads_and_predicts(cli, folders):
    """Old runs: manifest without horizon/levels/conformal, config without the new keys, one output."""
    args = ["train", "--ticker", "SYN", "--epochs", "1", "--quantiles", "point", *FAST]
    trained = json.loads(
        cli(*args, "--store", folders["store"].root, "--runs", folders["runs"], "--json").stdout
    )
    run_dir = folders["runs"] / trained["run_id"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key in ("horizon", "levels", "conformal", "checksum", "weights_sha256"):
        del manifest[key]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    config = json.loads((run_dir / "config.json").read_text())
    del config["features"]["horizon"], config["model"]["quantiles"], config["model"]["conformal"]
    (run_dir / "config.json").write_text(json.dumps(config))
    old_metrics = {"SYN": {name: m["h1"] for name, m in trained["metrics"]["SYN"].items()}}
    (run_dir / "metrics.json").write_text(json.dumps(old_metrics))
    base = ["--store", folders["store"].root, "--runs", folders["runs"]]
    result = cli("predict", "--allow-stale", *base, "--out", folders["out"], "--json")
    assert result.exit_code == 0, result.stderr
    [row] = json.loads(result.stdout)["forecasts"]
    assert row["horizon"] == 1 and row["close_p50"] == row["predicted_close"]
    assert cli("evaluate", *base).exit_code == 0
    assert cli("runs", "--runs", folders["runs"]).exit_code == 0


def test_point_quantiles_train_one_value_with_the_point_loss(cli, folders):
    args = ["train", "--ticker", "SYN", "--epochs", "1", "--quantiles", "point", *FAST]
    result = cli(*args, "--store", folders["store"].root, "--runs", folders["runs"], "--json")
    assert result.exit_code == 0, result.stderr
    run_dir = folders["runs"] / json.loads(result.stdout)["run_id"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["levels"] == [0.5] and manifest["conformal"] is None
    assert "coverage_90" not in json.loads(result.stdout)["metrics"]["SYN"]["model"]["h1"]
    assert not (run_dir / "raw_forecasts.npz").exists()  # no intervals: no online calibration to seed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--horizon", "0"], "features.horizon = 0"),
        (["--horizon", "251"], "features.horizon = 251"),
        (["--quantiles", "0.05,1.2"], "quantiles [1.2] must lie between 0.005 and 0.995"),
        (["--quantiles", "0.1,0.1"], "repeat a level"),
    ],
)
def test_bad_horizon_or_quantiles_exit_78_naming_the_value(cli, folders, args, message):
    result = cli(
        "train", "--ticker", "SYN", *args, "--store", folders["store"].root, "--runs", folders["runs"]
    )
    assert result.exit_code == 78
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_the_horizon_skips_exchange_holidays():
    import pandas as pd

    from stockrnn.data.calendar import sessions_after

    # 2024-12-24 is a session; 25 Dec and 1 Jan are holidays; the 28th and 29th a weekend.
    days = sessions_after("XNYS", pd.Timestamp("2024-12-24"), 4)
    assert [d.date().isoformat() for d in days] == ["2024-12-26", "2024-12-27", "2024-12-30", "2024-12-31"]
