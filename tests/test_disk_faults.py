"""Full and read-only disks: exit 73 naming the folder, nothing half-written, no traceback; files
honour the umask; a log file that cannot be written costs one warning line."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest
from synthetic import ar1_returns, prices_from_returns

FAST = ["--set", "features.lookback=10", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]


@pytest.fixture
def paths(tmp_path, store):
    store.write("SYN", prices_from_returns(ar1_returns(300, phi=0.3)), origin="test")
    return ["--store", store.root, "--runs", tmp_path / "runs"]


def _train(cli, paths, *extra):
    return cli("train", "--ticker", "SYN", "--epochs", "2", *FAST, *paths, *extra)


def test_a_read_only_runs_folder_is_found_before_training_and_exits_73_naming_it(
    cli, paths, tmp_path, monkeypatch
):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "runs"))

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    result = _train(cli, paths)
    assert result.exit_code == 73
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"Error: {tmp_path / 'runs'} is on a read-only file system; point stockrnn at a writable folder"
    )
    assert "epoch 1/" not in result.stderr  # refused before any training


def test_a_full_disk_while_saving_a_run_exits_73_and_leaves_no_staging_folder(
    cli, paths, tmp_path, monkeypatch
):
    import pandas as pd

    def disk_full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    result = _train(cli, paths)
    assert result.exit_code == 73
    assert "Error: no space left on the device holding" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [".lock"]


def test_torch_save_failing_on_a_full_disk_exits_73_and_leaves_no_staging_folder(
    cli, paths, tmp_path, monkeypatch
):
    import torch

    def iostream_error(*args, **kwargs):
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", iostream_error)
    result = _train(cli, paths)
    assert result.exit_code == 73 and "is the disk full?" in result.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [".lock"]


def test_a_full_disk_under_the_store_exits_73_and_keeps_the_stored_file(cli, paths, store, monkeypatch):
    import pyarrow.parquet as pq

    before = store.ticker_file("SYN").read_bytes()

    def disk_full(table, where, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", disk_full)
    csv = store.root.parent / "syn.csv"
    csv.write_text("Date,Close\n2030-01-02,1.0\n")
    result = cli("fetch", "--from-csv", csv, "--ticker", "SYN", "--store", store.root)
    assert result.exit_code == 73 and "no space left on the device holding" in result.stderr
    assert store.ticker_file("SYN").read_bytes() == before
    assert [p.name for p in store.ticker_file("SYN").parent.iterdir()] == [store.ticker_file("SYN").name]


def test_files_written_honour_the_umask(cli, paths, store, tmp_path):
    old = os.umask(0o022)
    try:
        result = _train(cli, paths)
        assert result.exit_code == 0, result.stderr
        forecast = cli("predict", "--allow-stale", *paths, "--out", tmp_path / "forecasts")
        assert forecast.exit_code == 0, forecast.stderr
    finally:
        os.umask(old)
    written = [*tmp_path.joinpath("forecasts").rglob("*.parquet"), store.ticker_file("SYN")]
    assert written and all((p.stat().st_mode & 0o777) == 0o644 for p in written)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_log_file_on_a_full_disk_costs_one_warning_line_and_the_run_succeeds(cli, paths):
    result = cli("--log-file", "/dev/full", "train", "--ticker", "SYN", "--epochs", "2", *FAST, *paths)
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: cannot write log file /dev/full")
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr
