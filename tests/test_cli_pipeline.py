"""`stockrnn train | evaluate | predict | runs` from the command line: outputs, errors, exit codes."""

from __future__ import annotations

import json
import pickle

import pytest
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
    assert set(metrics) == {"model", "naive", "drift", "linear_ar"}
    assert metrics["naive"]["mae_vs_naive"] == 1.0
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
    assert result.stderr.splitlines()[0].startswith("epoch 1/2 train_loss=")
    assert "\x1b[" not in result.stdout + result.stderr
    assert "linear_ar" in result.stdout and "MAE / naive" in result.stdout


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
    assert set(json.loads(result.stdout)["metrics"]["SYN"]) == {"model", "naive", "drift", "linear_ar"}


def test_predict_refuses_stale_data_unless_allowed(cli, folders, trained_cli):
    base = ["predict", "--store", folders["store"].root, "--runs", folders["runs"], "--out", folders["out"]]
    stale = cli(*base)
    assert stale.exit_code == 65
    assert "SYN: newest stored session" in stale.stderr and "--allow-stale" in stale.stderr
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


def test_no_runs_exits_66(cli, tmp_path):
    for command in (["predict"], ["evaluate"], ["runs"]):
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
    config = json.loads(config_file.read_text())
    config["model"]["hidden_size"] = 32
    config_file.write_text(json.dumps(config))
    result = cli("predict", "--allow-stale", "--store", folders["store"].root, "--runs", folders["runs"])
    assert result.exit_code == 65
    assert "weights do not fit the model its config describes" in result.stderr
