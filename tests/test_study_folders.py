"""Backtest, compare and report folders as untrusted input (issue 22, items 1, 7, 8, 9 and 11):
planted links never redirect a write or a clean-up, tampered folders are broken (65, listed, never
`latest`), manifest values never become markup, reads follow no link, a held lock stops the work
before it starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from synthetic import ar1_returns, prices_from_returns

from stockrnn.studies.folder_schema import seal

SMALL = [
    "features.lookback=10",
    "features.horizon=2",
    "model.hidden_size=8",
    "model.num_layers=1",
    "training.epochs=1",
    "training.device='cpu'",
]
SETTINGS = [arg for item in SMALL for arg in ("--set", item)]
PLAN = ["--folds", "2", "--step", "20", "--val-sessions", "60"]
ODD_NAME = "<b>gru</b>"  # a candidate named with markup: text on every page, never a tag


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One store, one backtest and one comparison (its candidate saved as a run), made once."""
    from typer.testing import CliRunner

    from stockrnn.cli.commands import app
    from stockrnn.data.store import PriceStore

    root = tmp_path_factory.mktemp("made")
    store = PriceStore(root / "store")
    store.write("SYN", prices_from_returns(ar1_returns(420, phi=0.2)), origin="test")
    grid = root / "grid.toml"
    grid.write_text(f'[candidates]\n"{ODD_NAME}" = []\n', encoding="utf-8")
    paths = ["--store", str(store.root), "--runs", str(root / "runs")]
    runner = CliRunner()
    ids = {}
    for kind, args in (
        ("backtest", ["backtest", "--ticker", "SYN", *SETTINGS, *PLAN]),
        ("compare", ["compare", "--grid", str(grid), "--set", "data.tickers=['SYN']", *SETTINGS]),
    ):
        result = runner.invoke(app, [*args, *paths, "--json"])
        assert result.exit_code == 0, result.output
        ids[kind] = json.loads(result.stdout)[f"{kind}_id"]
    return root, ids


@pytest.fixture
def folders(made, tmp_path):
    """A private copy of what `made` made: each test may tamper with it."""
    root, ids = made
    shutil.copytree(root / "store", tmp_path / "store", symlinks=True)
    shutil.copytree(root / "runs", tmp_path / "runs", symlinks=True)
    runs = tmp_path / "runs"
    return {
        "runs": runs,
        "store": tmp_path / "store",
        "backtest": runs / "backtests" / ids["backtest"],
        "compare": runs / "compares" / ids["compare"],
        "paths": ["--store", tmp_path / "store", "--runs", runs],
    }


def _reseal(folder, names) -> None:
    """What a tamperer who knows the format does: recompute every checksum after the edit."""
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(seal(manifest, folder, names)))


# Item 1: planted runs/compares, runs/backtests and runs/reports links.


@pytest.mark.parametrize("kind", ["backtest", "compare"])
def test_a_planted_study_folder_link_is_73_and_nothing_outside_is_written_or_removed(
    cli, folders, tmp_path, kind
):
    outside = tmp_path / "outside"
    (outside / ".incomplete-p").mkdir(parents=True)
    (outside / ".incomplete-p" / "f").write_text("data")
    study_root = folders[kind].parent
    shutil.rmtree(study_root)
    study_root.symlink_to(outside, target_is_directory=True)
    args = (
        ["backtest", "--ticker", "SYN", *SETTINGS, *PLAN]
        if kind == "backtest"
        else ["compare", "--grid", tmp_path / "grid.toml", "--set", "data.tickers=['SYN']", *SETTINGS]
    )
    (tmp_path / "grid.toml").write_text("[candidates]\ngru = []\n")
    result = cli(*args, *folders["paths"])
    assert result.exit_code == 73, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {study_root} is a symbolic link; stockrnn writes only real folders and files inside "
        f"{folders['runs']}: remove the link"
    )
    assert sorted(p.name for p in outside.rglob("*")) == [".incomplete-p", "f"]
    assert "epoch 1/" not in result.stderr  # refused before any training
    assert kind == "backtest" or "up to 1 epoch each" in result.stderr


def test_a_planted_reports_link_is_73_and_the_page_is_not_written_through_it(cli, folders, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (folders["runs"] / "reports").symlink_to(outside, target_is_directory=True)
    result = cli("report", folders["backtest"].name, "--runs", folders["runs"])
    assert result.exit_code == 73
    assert f"{folders['runs'] / 'reports'} is a symbolic link" in result.stderr
    assert list(outside.iterdir()) == []


# Item 7: tampered backtest and compare folders are broken: 65, listed, never latest.

TAMPERING = {
    "garbage forecasts": (
        "backtest",
        lambda f: (f / "forecasts.parquet").write_bytes(b"garbage"),
        "forecasts.parquet changed since it was saved (checksum mismatch)",
    ),
    "missing forecasts": (
        "backtest",
        lambda f: (f / "forecasts.parquet").unlink(),
        "forecasts.parquet is missing; the folder is incomplete",
    ),
    "empty forecasts": (
        "backtest",
        lambda f: (f / "forecasts.parquet").write_bytes(b""),
        "forecasts.parquet changed since it was saved",
    ),
    "metrics a list": (
        "backtest",
        lambda f: (f / "metrics.json").write_text("[]"),
        "metrics.json changed since it was saved",
    ),
    "manifest without folds": (
        "backtest",
        lambda f: (f / "manifest.json").write_text(
            json.dumps(
                {k: v for k, v in json.loads((f / "manifest.json").read_text()).items() if k != "folds"}
            )
        ),
        "manifest.json: folds: Field required",
    ),
    "empty horizons": (
        "compare",
        lambda f: (f / "leaderboard.json").write_text(
            json.dumps({**json.loads((f / "leaderboard.json").read_text()), "horizons": {}})
        ),
        "leaderboard.json changed since it was saved",
    ),
    "missing leaderboard": (
        "compare",
        lambda f: (f / "leaderboard.json").unlink(),
        "leaderboard.json is missing",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_a_tampered_folder_is_65_naming_file_and_fault_and_listed_as_broken(cli, folders, case):
    kind, tamper, fault = TAMPERING[case]
    folder = folders[kind]
    tamper(folder)
    what = "backtest" if kind == "backtest" else "comparison"
    result = cli("report", folder.name, "--runs", folders["runs"])
    assert result.exit_code == 65
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {what} {folder.name}: ") and fault in line
    listing = cli("runs", "--runs", folders["runs"], "--json")
    assert listing.exit_code == 0, listing.stderr
    [broken] = json.loads(listing.stdout)["broken"]
    assert (broken["kind"], broken["run_id"]) == (what, folder.name) and fault in broken["error"]


@pytest.mark.parametrize(
    ("kind", "edit", "fault"),
    [
        ("backtest", lambda m: m["folds"][0].update(origins="<script>alert(1)</script>"), "folds.0.origins"),
        ("backtest", lambda m: m["folds"][0].update(last_origin="<script>x</script>"), "folds.0.last_origin"),
        ("compare", lambda m: m.update(plan={"folds": "<script>", "step": 5}), "plan.folds"),
        ("backtest", lambda m: m.update(horizon=[]), "horizon"),
    ],
)
def test_resealed_manifest_values_of_the_wrong_type_never_reach_a_page(
    cli, folders, tmp_path, kind, edit, fault
):
    """Item 8: checksums recomputed by the tamperer still fail the manifest's types."""
    folder = folders[kind]
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _reseal(folder, sorted(manifest["files"]))
    out = tmp_path / "page.html"
    result = cli("report", folder.name, "--runs", folders["runs"], "--out", out)
    assert result.exit_code == 65
    assert f"manifest.json: {fault}" in result.stderr
    assert not out.exists()


def test_an_older_broken_folder_never_blocks_the_newer_and_a_newer_broken_one_is_never_latest(cli, folders):
    good = folders["backtest"]
    older = good.parent / ("20000101-000000" + good.name[15:])
    shutil.copytree(good, older)
    (older / "forecasts.parquet").write_bytes(b"garbage")
    newest = cli("report", "--backtest", "--runs", folders["runs"], "--out", folders["runs"] / "a.html")
    assert newest.exit_code == 0, newest.stderr
    assert good.name in (folders["runs"] / "a.html").read_text()
    older_good = good.parent / ("20000102-000000" + good.name[15:])
    shutil.copytree(good, older_good)
    (good / "metrics.json").write_text("[]")
    fallback = cli("report", "--backtest", "--runs", folders["runs"], "--out", folders["runs"] / "b.html")
    assert fallback.exit_code == 0, fallback.stderr
    assert older_good.name in (folders["runs"] / "b.html").read_text()


# Item 8: every value on a page is text.


def test_a_candidate_named_with_markup_is_text_on_the_page(cli, folders, tmp_path):
    out = tmp_path / "compare.html"
    result = cli("report", folders["compare"].name, "--runs", folders["runs"], "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text()
    assert "&lt;b&gt;gru&lt;/b&gt;" in page and "<b>" not in page


def test_the_page_template_escapes_every_value():
    from stockrnn.outputs.html import bullets, render_page, table, text

    evil = '<script>alert("x")</script>'
    page = render_page(evil, evil, [table(evil, [evil], [[evil, 1]]), bullets([evil]), text(evil)], [])
    assert "<script>" not in page and page.count("&lt;script&gt;") == 8


# Item 9: reads follow no link; writes check before any side effect.


@pytest.mark.parametrize(
    ("kind", "name"),
    [("backtest", "forecasts.parquet"), ("backtest", "config.json"), ("compare", "leaderboard.json")],
)
def test_a_study_file_planted_as_a_link_is_not_followed(cli, folders, tmp_path, kind, name):
    folder = folders[kind]
    copy = tmp_path / name
    shutil.copy(folder / name, copy)  # the very same bytes: only the link is wrong
    (folder / name).unlink()
    (folder / name).symlink_to(copy)
    result = cli("report", folder.name, "--runs", folders["runs"])
    assert result.exit_code == 65
    assert f"{folder / name} is a symbolic link; stockrnn reads only regular files" in result.stderr


def test_a_runs_test_predictions_planted_as_a_link_is_not_followed(cli, folders, tmp_path):
    from stockrnn import api

    [run] = api.Comparison.load("latest", folders["runs"]).runs.values()
    file = folders["runs"] / run / "test_predictions.parquet"
    shutil.copy(file, tmp_path / "copy.parquet")
    file.unlink()
    file.symlink_to(tmp_path / "copy.parquet")
    result = cli("report", run, "--runs", folders["runs"])
    assert result.exit_code == 65
    assert f"{file} is a symbolic link" in result.stderr


def test_a_store_file_planted_as_a_link_is_not_read(cli, folders, tmp_path):
    part = folders["store"] / "prices" / "ticker=SYN" / "part-0.parquet"
    shutil.copy(part, tmp_path / "copy.parquet")
    part.unlink()
    part.symlink_to(tmp_path / "copy.parquet")
    result = cli("train", "--ticker", "SYN", *SETTINGS, *folders["paths"])
    assert result.exit_code == 65
    assert f"{part} is a symbolic link; stockrnn reads only regular files" in result.stderr


def test_a_prices_folder_link_gets_no_ticker_folder_made_in_its_target(cli, folders, tmp_path, sample_prices):
    outside = tmp_path / "outside"
    outside.mkdir()
    prices = folders["store"] / "prices"
    shutil.rmtree(prices)
    prices.symlink_to(outside, target_is_directory=True)
    csv = tmp_path / "newt.csv"
    sample_prices("KO").to_csv(csv, index=False)
    result = cli("fetch", "--from-csv", csv, "--ticker", "NEWT", "--store", folders["store"])
    assert result.exit_code == 73
    assert list(outside.iterdir()) == []


def test_a_partition_link_is_refused_before_anything_in_it_is_moved_aside(cli, folders, tmp_path):
    from stockrnn import api

    [run] = api.Comparison.load("latest", folders["runs"]).runs.values()
    out = tmp_path / "forecasts"
    first = cli("predict", "--run", run, "--allow-stale", *folders["paths"], "--out", out)
    assert first.exit_code == 0, first.stderr
    [partition] = [p for p in out.iterdir() if p.name.startswith("origin_date=")]
    outside = tmp_path / "outside"
    partition.rename(outside)
    (outside / f"{run}.parquet").write_bytes(b"not parquet")  # would be moved aside if read
    partition.symlink_to(outside, target_is_directory=True)
    again = cli("predict", "--run", run, "--allow-stale", *folders["paths"], "--out", out)
    assert again.exit_code == 73 and f"{partition} is a symbolic link" in again.stderr
    assert sorted(p.name for p in outside.iterdir()) == [f"{run}.parquet"]


# Item 11: locks.


def test_a_held_backtests_lock_stops_the_backtest_before_any_fold_trains(cli, folders, monkeypatch):
    from stockrnn.runs import folder

    monkeypatch.setattr(folder, "PUBLISH_LOCK_TIMEOUT", 0.5)
    lock = folders["backtest"].parent / ".lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import filelock, time; held = filelock.FileLock({str(lock)!r}); held.acquire(); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "1"
        result = cli("backtest", "--ticker", "SYN", *SETTINGS, *PLAN, *folders["paths"])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 75
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: the backtests folder {lock.parent} is locked by ")
    assert error.endswith("waited 0.5s, try again later") and "--lock-timeout" not in error
    assert "fold 1" not in result.stderr and "epoch 1/" not in result.stderr


def test_a_fifo_as_the_lock_holder_record_neither_hangs_predict_nor_survives_it(folders, tmp_path):
    from stockrnn import api

    [run] = api.Comparison.load("latest", folders["runs"]).runs.values()
    out = tmp_path / "forecasts"
    out.mkdir()
    os.mkfifo(out / ".lock.holder")
    args = ["predict", "--run", run, "--allow-stale", "--out", out, *folders["paths"]]
    done = subprocess.run(
        [sys.executable, "-m", "stockrnn", *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert not (out / ".lock.holder").exists()  # ours was written in its place, and removed after


@pytest.mark.parametrize(
    ("tamper", "fault"),
    [
        (lambda run: (run / "test_predictions.parquet").unlink(), "test_predictions.parquet is missing"),
        (lambda run: (run / "metrics.json").write_text("[]"), "metrics.json is not a table of scores"),
    ],
)
def test_a_run_missing_a_file_or_with_foreign_metrics_is_65_not_an_internal_error(
    cli, folders, tamper, fault
):
    """Item 7 for run folders: a missing test_predictions.parquet makes the run broken (listed,
    never latest); metrics.json of the wrong shape is named, not a crash in the report."""
    from stockrnn import api

    [run_id] = api.Comparison.load("latest", folders["runs"]).runs.values()
    tamper(folders["runs"] / run_id)
    result = cli("report", run_id, "--runs", folders["runs"], "--out", folders["runs"] / "r.html")
    assert result.exit_code == 65
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: run {run_id}: ") and fault in line
