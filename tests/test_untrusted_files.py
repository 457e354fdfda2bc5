"""Folders stockrnn writes into may hold planted links and damaged runs: writes stay inside the folders
the user named, a run id is a name, and a broken run never becomes a forecast."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import saved_before_checksums
from synthetic import ar1_returns, prices_from_returns

from stockrnn.io.json_files import strict_json

FAST = ["--set", "features.lookback=10", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]


@pytest.fixture
def trained(cli, tmp_path, store):
    store.write("SYN", prices_from_returns(ar1_returns(300, phi=0.3)), origin="test")
    paths = ["--store", store.root, "--runs", tmp_path / "runs"]
    result = cli("train", "--ticker", "SYN", "--epochs", "1", *FAST, *paths, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["run_id"], paths, tmp_path


@pytest.mark.parametrize("planted", [".lock", ".lock.holder"])
def test_a_lock_file_or_holder_record_planted_as_a_link_is_refused_and_its_target_untouched(
    cli, tmp_path, store, planted
):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    store.root.mkdir(parents=True)
    (store.root / planted).symlink_to(victim)
    result = cli("fetch", "--sample", "--store", store.root)
    assert result.exit_code == 73
    assert f"{store.root / planted} is a symbolic link" in result.stderr
    assert victim.read_text() == "precious"


def test_a_ticker_folder_planted_as_a_link_is_not_written_through(cli, tmp_path, store):
    outside = tmp_path / "outside"
    outside.mkdir()
    store.write("SYN", prices_from_returns(ar1_returns(50, phi=0.0)), origin="test")
    ticker_dir = store.ticker_file("GSPC").parent
    ticker_dir.parent.mkdir(parents=True, exist_ok=True)
    ticker_dir.symlink_to(outside, target_is_directory=True)
    result = cli("fetch", "--sample", "--store", store.root)
    assert result.exit_code == 73 and f"{ticker_dir} is a symbolic link" in result.stderr
    assert list(outside.iterdir()) == []


def test_a_forecasts_partition_planted_as_a_link_is_not_written_through(cli, trained):
    run_id, paths, tmp = trained
    outside = tmp / "outside"
    outside.mkdir()
    first = cli("predict", "--allow-stale", *paths, "--out", tmp / "forecasts")
    assert first.exit_code == 0, first.stderr
    [partition] = [p for p in (tmp / "forecasts").iterdir() if p.name.startswith("origin_date=")]
    for file in partition.iterdir():
        file.unlink()
    partition.rmdir()
    partition.symlink_to(outside, target_is_directory=True)
    again = cli("predict", "--allow-stale", *paths, "--out", tmp / "forecasts")
    assert again.exit_code == 73 and "is a symbolic link" in again.stderr
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("name", ["../elsewhere", "/tmp/planted-run", ".incomplete-x", ""])
def test_a_run_id_is_a_name_inside_the_runs_folder(cli, trained, name):
    _, paths, tmp = trained
    result = cli("predict", "--run", name, "--allow-stale", *paths, "--out", tmp / "forecasts")
    assert result.exit_code == 66
    assert "is not a run id" in result.stderr
    assert not (tmp / "forecasts").exists()


def test_a_link_in_the_runs_folder_is_not_a_run_and_a_folder_named_latest_is_harmless(cli, trained):
    run_id, paths, tmp = trained
    runs = tmp / "runs"
    (runs / "linked").symlink_to(runs / run_id, target_is_directory=True)
    (runs / "latest").mkdir()
    listed = cli("runs", "--runs", runs, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)["runs"]] == [run_id]
    linked = cli("predict", "--run", "linked", "--allow-stale", *paths, "--out", tmp / "forecasts")
    assert linked.exit_code == 66 and "is a symbolic link, not a run" in linked.stderr
    latest = cli("predict", "--allow-stale", *paths, "--out", tmp / "forecasts")
    assert latest.exit_code == 0, latest.stderr


@pytest.mark.parametrize("poison", [float("nan"), 1e30])
def test_weights_of_the_right_shape_but_garbage_never_become_a_forecast(cli, trained, poison):
    run_id, paths, tmp = trained
    weights = tmp / "runs" / run_id / "model.pt"
    saved_before_checksums(weights.parent)  # a run from before checksums: the forecast guard remains
    state = torch.load(weights, weights_only=True)
    torch.save({k: torch.full_like(v, poison) for k, v in state.items()}, weights)
    result = cli("predict", "--allow-stale", *paths, "--out", tmp / "forecasts")
    assert result.exit_code == 65
    assert f"run {run_id} gives non-finite forecasts for SYN" in result.stderr
    assert not (tmp / "forecasts").exists()


def test_json_written_is_strict_json_with_null_for_nan_and_infinity(cli, trained):
    run_id, paths, tmp = trained
    assert strict_json({"a": [math.nan, 1.0, {"b": -math.inf}]}) == {"a": [None, 1.0, {"b": None}]}

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    for name in ("metrics.json", "manifest.json", "config.json"):
        json.loads((tmp / "runs" / run_id / name).read_text(), parse_constant=refuse)
    listed = cli("runs", "--runs", tmp / "runs", "--json")
    json.loads(listed.stdout, parse_constant=refuse)


def test_two_runs_saved_under_the_same_id_both_land_under_distinct_ids(trained):
    from stockrnn.runs.folder import load_run, save_run

    run_id, _, tmp = trained
    run = load_run(tmp / "runs", run_id)
    state = torch.load(run.path / "model.pt", weights_only=True)
    import pandas as pd

    predictions = pd.read_parquet(run.path / "test_predictions.parquet")
    again = save_run(tmp / "runs", run_id, run.config, run.manifest, state, run.metrics, predictions)
    assert again.name == f"{run_id}-2"
    assert load_run(tmp / "runs", again.name).manifest.run_id == f"{run_id}-2"


def test_an_unreadable_earlier_forecast_file_is_moved_aside_and_the_night_goes_on(cli, trained):
    run_id, paths, tmp = trained
    out = tmp / "forecasts"
    assert cli("predict", "--allow-stale", *paths, "--out", out).exit_code == 0
    [partition_file] = out.rglob(f"{run_id}.parquet")
    partition_file.write_bytes(b"PAR1 this is not parquet")
    again = cli("predict", "--allow-stale", *paths, "--out", out)
    assert again.exit_code == 0, again.stderr
    [aside] = partition_file.parent.glob(".corrupt-*")
    assert aside.read_bytes() == b"PAR1 this is not parquet"  # kept, not deleted
    assert "was unreadable" in again.stderr and aside.name in again.stderr
    from stockrnn.outputs.forecast_archive import read_forecasts

    assert list(read_forecasts(out)["ticker"]) == ["SYN"]


def _edit_manifest(run_dir, edit) -> None:
    manifest_file = run_dir / "manifest.json"
    manifest_file.write_text(json.dumps(edit(json.loads(manifest_file.read_text()))))


def _set(key, value):
    def edit(manifest):
        manifest[key] = value
        return manifest

    return edit


def _scale(value):
    def edit(manifest):
        manifest["scalers"]["SYN"]["scale"][0] = value
        return manifest

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: None, "manifest.json: Input should be a valid dictionary"),
        (lambda m: [m], "manifest.json: Input should be a valid dictionary"),
        (_set("lookback", 1), "manifest.json: lookback: Input should be greater than or equal to 2"),
        (_set("lookback", 5), "config.json features.lookback is 10 but manifest.json lookback is 5"),
        (_scale(0.0), "manifest.json: scalers.SYN.scale.0: Input should be greater than 0"),
        (_scale(float("nan")), "manifest.json: scalers.SYN.scale.0: Input should be a finite number"),
        (
            _set("created_at", "2099-01-01T00:00:00+00:00"),
            "changed since the run was saved (checksum mismatch)",
        ),
    ],
)
def test_a_damaged_manifest_is_a_broken_run_named_by_file_and_key(cli, trained, edit, message):
    run_id, paths, tmp = trained
    _edit_manifest(tmp / "runs" / run_id, edit)
    result = cli("predict", "--allow-stale", "--run", run_id, *paths, "--out", tmp / "forecasts")
    assert result.exit_code == 65, result.stderr
    assert f"run {run_id}: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content", ["[1, 2]", '"gru"', "null"])
def test_a_config_json_that_is_no_object_is_a_broken_run_named_by_file(cli, trained, content):
    """Read back before validation (keys added since a run was saved get the defaults of then):
    anything but an object must still reach validation, not fail inside that step."""
    run_id, paths, tmp = trained
    (tmp / "runs" / run_id / "config.json").write_text(content)
    result = cli("predict", "--allow-stale", "--run", run_id, *paths, "--out", tmp / "forecasts")
    assert result.exit_code == 65, result.stderr
    assert f"run {run_id}: config.json: Input should be a valid dictionary" in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.stderr


def test_edited_weights_fail_their_checksum(cli, trained):
    run_id, paths, tmp = trained
    weights = tmp / "runs" / run_id / "model.pt"
    state = torch.load(weights, weights_only=True)
    torch.save({k: v * 1.01 for k, v in state.items()}, weights)  # plausible weights, just not these
    result = cli("predict", "--allow-stale", "--run", run_id, *paths, "--out", tmp / "forecasts")
    assert result.exit_code == 65
    assert f"run {run_id}: model.pt changed since the run was saved (checksum mismatch)" in result.stderr


def test_runs_lists_a_broken_run_as_broken_and_latest_skips_it_with_a_warning(cli, trained):
    run_id, paths, tmp = trained
    runs = tmp / "runs"
    newer = runs / "20991231-235959-gru-SYN"  # newer by its id than the good run
    newer.mkdir()
    for name in ("config.json", "model.pt", "metrics.json", "test_predictions.parquet"):
        (newer / name).write_bytes((runs / run_id / name).read_bytes())
    (newer / "manifest.json").write_text("null")

    listed = cli("runs", "--runs", runs, "--json")
    assert listed.exit_code == 0
    report = json.loads(listed.stdout)
    assert [r["run_id"] for r in report["runs"]] == [run_id]
    assert [b["run_id"] for b in report["broken"]] == [newer.name]
    assert "manifest.json: Input should be a valid dictionary" in report["broken"][0]["error"]
    table = cli("runs", "--runs", runs)
    assert "broken folders" in table.stdout and newer.name in table.stdout

    result = cli("predict", "--allow-stale", *paths, "--out", tmp / "forecasts", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["forecasts"][0]["run_id"] == run_id
    assert f"skipping the newer run {newer.name}, which is broken" in result.stderr


def test_latest_follows_the_run_ids_stockrnn_wrote_not_a_created_at_in_the_future(cli, trained):
    """A run saved before checksums whose created_at says 2099 does not stay latest for ever."""
    run_id, paths, tmp = trained
    runs = tmp / "runs"
    older = runs / "20000101-000000-gru-SYN"
    older.mkdir()
    for name in ("config.json", "manifest.json", "model.pt", "metrics.json", "test_predictions.parquet"):
        (older / name).write_bytes((runs / run_id / name).read_bytes())
    saved_before_checksums(older)
    _edit_manifest(older, _set("created_at", "2099-01-01T00:00:00+00:00"))
    result = cli("predict", "--allow-stale", *paths, "--out", tmp / "forecasts", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["forecasts"][0]["run_id"] == run_id


def test_a_store_file_this_user_may_not_read_is_never_called_damaged(cli, store, sample_prices, monkeypatch):
    """Files another account wrote (or a umask of 077): say so, and never advise deleting good data."""
    import errno

    import pyarrow.parquet as pq

    store.write("KO", sample_prices("KO"), origin="test")

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(pq, "ParquetFile", denied)
    result = cli("store", "--store", store.root)
    assert result.exit_code == 66
    assert "permission denied reading it; check its owner and mode" in result.stderr
    assert "delete" not in result.stderr
