"""What a newcomer tripped on (issue 20): examples in every --help, a mistyped --store named as
missing, did-you-mean for tickers and features, errors that blame the options actually used,
singular epochs, and no direction claimed for a median of no change."""

from __future__ import annotations

import json
import os

import pytest
from synthetic import ar1_returns, prices_from_returns

from stockrnn.cli.commands import EXAMPLES, app

COMMANDS = sorted(command.name or command.callback.__name__ for command in app.registered_commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_two_examples(cli, command):
    shown = cli(command, "--help").stdout.rstrip().splitlines()
    assert [line.strip() for line in shown[-2:]] == EXAMPLES[command]
    assert all(example.startswith("stockrnn ") for example in EXAMPLES[command])
    assert "Examples:" in shown[-4]


def test_a_mistyped_store_is_named_as_missing_and_never_created(cli, tmp_path):
    missing = tmp_path / "stroe"
    for args in (["store"], ["train"], ["fetch"]):
        result = cli(*args, "--store", missing)
        assert result.exit_code == 66, args
        [*_, line] = result.stderr.splitlines()  # train first says what it starts
        assert line.startswith(f"Error: the store folder {missing} does not exist; check --store")
    assert not missing.exists()


def test_a_mistyped_ticker_or_feature_gets_a_suggestion(cli, store):
    store.write("SYN", prices_from_returns(ar1_returns(300, phi=0.2)), origin="test")
    wrong_ticker = cli("train", "--ticker", "SYM", "--store", store.root)
    assert wrong_ticker.exit_code == 66
    assert (
        "ticker SYM is not in the store" in wrong_ticker.stderr and "did you mean SYN?" in wrong_ticker.stderr
    )
    wrong_feature = cli("train", "--set", "features.inputs=['rsi14']", "--store", store.root)
    assert wrong_feature.exit_code == 78
    assert "unknown feature(s) ['rsi14'] (did you mean rsi_14?)" in wrong_feature.stderr


def test_a_bad_option_is_blamed_on_the_options_not_on_set(cli, store):
    result = cli("train", "--horizon", "0", "--store", store.root)
    assert result.exit_code == 78
    assert result.stderr.startswith("Error: defaults with the command's options: features.horizon = 0")
    both = cli("train", "--set", "model.hidden_size=8", "--horizon", "0", "--store", store.root)
    assert both.stderr.startswith(
        "Error: defaults with --set and the command's options: features.horizon = 0"
    )


def test_one_epoch_is_singular_and_no_change_has_no_direction(cli, store, tmp_path):
    store.write("SYN", prices_from_returns(ar1_returns(400, phi=0.2)), origin="test")
    tiny = ["--set", "features.lookback=10", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]
    result = cli(
        "--wide",
        "train",
        "--ticker",
        "SYN",
        "--epochs",
        "1",
        *tiny,
        "--store",
        store.root,
        "--runs",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.stderr
    assert ", up to 1 epoch\n" in result.stderr
    metrics = json.loads(next((tmp_path / "r").glob("*/metrics.json")).read_text())["SYN"]
    assert metrics["naive"]["h1"]["direction"] is None and metrics["ewma"]["h1"]["direction"] is None
    assert 0 <= metrics["model"]["h1"]["direction"] <= 1
    row = next(line for line in result.stdout.splitlines() if "│   ewma" in line)
    assert "n/a" in row


def test_markup_in_a_user_path_prints_as_written_and_breaks_nothing(cli, store, tmp_path):
    """Rich would read `[/x]` as a closing tag (MarkupError, exit 1 after the output was written)
    and drop `[prod]` as a style: user text is printed as written."""
    store.write("SYN", prices_from_returns(ar1_returns(400, phi=0.2)), origin="test")
    odd = tmp_path / "we[/x]ird [prod]"
    tiny = ["--set", "features.lookback=10", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]
    trained = cli(
        "train", "--ticker", "SYN", "--epochs", "1", *tiny, "--store", store.root, "--runs", odd / "runs"
    )
    assert trained.exit_code == 0, trained.stderr
    assert f"saved to {odd / 'runs'}" in trained.stdout
    predicted = cli(
        "predict", "--allow-stale", "--store", store.root, "--runs", odd / "runs", "--out", odd / "out"
    )
    assert predicted.exit_code == 0, predicted.stderr
    assert f"written to {odd / 'out'}" in predicted.stdout
    listing = cli("runs", "--runs", odd / "runs")
    assert listing.exit_code == 0 and f"runs in {odd / 'runs'}" in listing.stdout


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("model.quantiles=[0.001, 0.999]", "quantiles [0.001, 0.999] must lie between 0.005 and 0.995"),
        (
            "model.quantiles=[0.1, 0.100000001]",
            "0.1 and 0.100000001 are closer than 0.001; they would share one column",
        ),
        (
            "training.seed=18446744073709551616",
            "training.seed = 18446744073709551616: Input should be less than or equal to 4294967295",
        ),
        ("data.exchange='XXXX'", "exchange calendar 'XXXX' is unknown; use an ISO MIC"),
    ],
)
def test_bad_values_are_refused_before_any_training_with_78(cli, store, tmp_path, setting, message):
    """Issue 22, item 10: these ended in ZeroDivisionError after training, in a collapsed column, in
    exit 1 after a fold had trained, or not at all."""
    store.write("SYN", prices_from_returns(ar1_returns(400, phi=0.2)), origin="test")
    for command in ("train", "backtest"):
        result = cli(
            command, "--ticker", "SYN", "--set", setting, "--store", store.root, "--runs", tmp_path / "runs"
        )
        assert result.exit_code == 78, (command, result.stderr)
        assert message in result.stderr.splitlines()[-1]
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    "grid",
    ["base = 5\n[candidates]\na = []", "set = 5\n[candidates]\na = []", "set = [1, 2]\n[candidates]\na = []"],
)
def test_a_grid_value_of_the_wrong_type_is_a_config_error(cli, tmp_path, grid):
    path = tmp_path / "grid.toml"
    path.write_text(grid)
    result = cli("compare", "--grid", path, "--store", tmp_path / "store")
    assert result.exit_code == 78, result.stderr
    assert result.stderr.startswith(f"Error: {path}: ")


def test_the_batches_clock_restarts_each_epoch_and_each_candidate_starts_its_own_clocks(monkeypatch):
    """Issue 20, item 8: rich stops a task's clock once it completes, so without a reset the
    batches timer froze after the first epoch; compare's candidates shared one running clock."""
    from types import SimpleNamespace

    from rich.console import Console

    from stockrnn.cli import app

    clock = [0.0]
    terminal = Console(force_terminal=True, file=open(os.devnull, "w"), get_time=lambda: clock[0])  # noqa: SIM115
    monkeypatch.setattr(app, "stdout", terminal)
    monkeypatch.setattr(app.state, "quiet", False)
    progress, on_epoch, on_batch = app.epoch_reporter(json_output=False)
    epochs, batches = progress.tasks
    for epoch in (1, 2):
        for number in (1, 2, 3):
            clock[0] += 1.0
            on_batch(number, 3)
        on_epoch(SimpleNamespace(epoch=epoch, train_loss=0.1, val_loss=0.2, seconds=3.0), 2)
    clock[0] += 1.0
    on_batch(1, 3)  # the first batch of a third epoch: its clock runs again from now
    clock[0] += 5.0
    assert batches.finished_time is None and batches.elapsed == 5.0
    assert epochs.elapsed == 12.0
    app.restart_bars(progress)  # the next candidate
    clock[0] += 2.0
    assert epochs.elapsed == 2.0 and epochs.completed == 0 and epochs.description == "epoch"
