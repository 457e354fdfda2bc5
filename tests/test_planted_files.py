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
    assert (
        broken["error"] == f"run {run.name}: {run / 'config.json'} is a FIFO, not a regular file; remove it"
    )
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


def test_resealed_extreme_weights_give_no_forecast(trained):
    """Weights of 1e30 with the checksums recomputed pass the integrity check; the forecasts they
    make are still refused (65, naming run and ticker) and nothing is written."""
    import hashlib

    import torch

    from stockrnn.runs.schema import CHECKSUM, checksum

    run, store = trained
    state = torch.load(run / "model.pt", weights_only=True)
    torch.save({k: torch.full_like(v, 1e30) for k, v in state.items()}, run / "model.pt")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["weights_sha256"] = hashlib.sha256((run / "model.pt").read_bytes()).hexdigest()
    manifest[CHECKSUM] = checksum(json.loads((run / "config.json").read_text()), manifest)
    (run / "manifest.json").write_text(json.dumps(manifest))
    out = run.parent.parent / "out"
    result = _stockrnn(
        "predict",
        "--run",
        run.name,
        "--allow-stale",
        "--runs",
        run.parent,
        "--store",
        store.root,
        "--out",
        out,
    )
    assert result.returncode == 65
    assert f"run {run.name} gives " in result.stderr and "forecasts for SYN" in result.stderr
    assert not out.exists()


def test_a_store_value_changed_behind_the_tools_back_is_refused_on_read(trained):
    import pyarrow.parquet as pq

    run, store = trained
    path = store.ticker_file("SYN")
    table = pq.read_table(path)
    closes = table.column("close").to_pylist()
    closes[-1] = 1e300
    pq.write_table(table.set_column(table.schema.get_field_index("close"), "close", [closes]), path)
    result = _stockrnn(
        "predict", "--run", run.name, "--allow-stale", "--runs", run.parent, "--store", store.root
    )
    assert result.returncode == 65
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {path}: ") and "close 1e+300 is above 1e+12" in line
    assert "changed outside stockrnn?" in line


def test_a_folder_named_latest_is_a_folder_not_the_alias_again(cli, trained, tmp_path):
    """Issue 22, item 4: `backtests/latest` and `compares/latest` folders recursed without end."""
    run, store = trained
    runs = run.parent
    for kind in ("backtests", "compares"):
        (runs / kind / "latest").mkdir(parents=True)
        (runs / kind / "latest" / "manifest.json").write_text("{}")
    (runs / "latest").mkdir()
    (runs / "latest" / "manifest.json").write_text("{}")
    listing = cli("runs", "--runs", runs)
    assert listing.exit_code == 0, listing.stderr
    assert cli("report", "--backtest", "--runs", runs).exit_code == 66  # none that loads: no backtests
    assert cli("report", "--compare", "--runs", runs).exit_code == 66
    assert cli("report", "--runs", runs, "--out", tmp_path / "r.html").exit_code == 0  # the real run
