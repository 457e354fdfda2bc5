"""Files planted where stockrnn reads (issue 22, items 2 and 11): FIFOs, devices and links are
refused at once with 65 naming them, never waited on or followed; a file that is not JSON is one
short line naming it and the position."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from synthetic import ar1_returns, prices_from_returns

TINY = ["--set", "features.lookback=10", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]


@pytest.fixture
def trained(cli, store, tmp_path):
    store.write("SYN", prices_from_returns(ar1_returns(400, phi=0.2)), origin="test")
    runs = tmp_path / "runs"
    result = cli(
        "train", "--ticker", "SYN", "--epochs", "1", *TINY, "--store", store.root, "--runs", runs, "--json"
    )
    assert result.exit_code == 0, result.stderr
    return runs / json.loads(result.stdout)["run_id"], store


def _stockrnn(*args, timeout=60):
    """A real process: a hang would show as a timeout, not a stuck test runner."""
    return subprocess.run(
        [sys.executable, "-m", "stockrnn", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_a_fifo_as_config_json_is_a_broken_run_not_a_hang(trained):
    run, store = trained
    (run / "config.json").unlink()
    os.mkfifo(run / "config.json")
    listing = _stockrnn("runs", "--runs", run.parent, "--json")
    assert listing.returncode == 0, listing.stderr
    [broken] = json.loads(listing.stdout)["broken"]
    assert broken["error"] == f"run {run.name}: {run / 'config.json'} is a FIFO, not a regular file; remove it"
    predicted = _stockrnn(
        "predict", "--run", run.name, "--allow-stale", "--runs", run.parent, "--store", store.root
    )
    assert predicted.returncode == 65
    assert (
        predicted.stderr
        == f"Error: run {run.name}: {run / 'config.json'} is a FIFO, not a regular file; remove it\n"
    )


def test_a_link_to_dev_zero_as_the_weights_is_refused_not_read(trained):
    run, store = trained
    (run / "model.pt").unlink()
    (run / "model.pt").symlink_to("/dev/zero")
    result = _stockrnn(
        "predict", "--run", run.name, "--allow-stale", "--runs", run.parent, "--store", store.root
    )
    assert result.returncode == 65
    assert "model.pt is a symbolic link; stockrnn reads only regular files" in result.stderr


def test_a_manifest_that_is_not_json_is_one_short_line_naming_file_and_position(trained, cli):
    run, _ = trained
    (run / "manifest.json").write_text('{"run_id": ' + "x" * 9000)
    result = cli("evaluate", "--run", run.name, "--runs", run.parent)
    assert result.exit_code == 65
    [line] = result.stderr.splitlines()
    assert (
        line
        == f"Error: run {run.name}: {run / 'manifest.json'}: not valid JSON at line 1 column 12 (Expecting value)"
    )


def test_a_fifo_as_a_backtests_metrics_is_refused_by_report(cli, store, tmp_path):
    store.write("SYN", prices_from_returns(ar1_returns(420, phi=0.2)), origin="test")
    runs = tmp_path / "runs"
    plan = ["--folds", "2", "--step", "20", "--val-sessions", "60", "--epochs", "1", "--horizon", "2"]
    done = cli("backtest", "--ticker", "SYN", *TINY, *plan, "--store", store.root, "--runs", runs, "--json")
    assert done.exit_code == 0, done.stderr
    folder = runs / "backtests" / json.loads(done.stdout)["backtest_id"]
    (folder / "metrics.json").unlink()
    os.mkfifo(folder / "metrics.json")
    result = _stockrnn("report", folder.name, "--runs", runs)
    assert result.returncode == 65
    assert f"{folder / 'metrics.json'} is a FIFO, not a regular file" in result.stderr
