"""SIGKILL campaign: kill real `stockrnn` processes at every step of their write paths.

tests/crashpoints.py numbers each file-system change a command makes (open for writing, fsync,
rename, replace, mkdir, unlink) and kills the process with SIGKILL just before or just after one.
For every kill point from the moment the command takes its lock to its exit, on a fresh copy of the
same folders: what readers see (every file whose path has no hidden component) is byte-identical to
before or completely updated, it reads back cleanly, and the next run succeeds and leaves no debris.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import SAMPLE

from stockrnn.data.store import PriceStore
from stockrnn.outputs.forecast_archive import read_forecasts
from stockrnn.runs.folder import FILES, list_runs, load_run
from stockrnn.runs.forecast_cache import RUN_FILE
from stockrnn.runs.restore import restore

pytestmark = pytest.mark.slow

CRASHPOINTS = Path(__file__).with_name("crashpoints.py")
TINY_TRAIN = [
    "train",
    "--ticker",
    "KO",
    "--ticker",
    "JPM",
    "--epochs",
    "1",
    "--set",
    "model.hidden_size=8",
    "--set",
    "model.num_layers=1",
    "--set",
    "features.lookback=10",
    "--set",
    "training.batch_size=512",
]
PREDICT_ALL = ["predict", "--allow-stale"]
KILLED = -signal.SIGKILL


def visible_files(root: Path) -> dict[str, bytes]:
    """What a reader sees: every file with no hidden component in its path (temp files, locks)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def debris(root: Path) -> list[str]:
    """Left-overs of a killed writer that a later successful run must have removed."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.endswith(".tmp") or p.name.startswith(".incomplete-")
    )


@dataclass
class Folders:
    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def forecasts(self) -> Path:
        return self.root / "forecasts"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.root / "home"),
            "STOCKRNN_STORE": str(self.store),
            "STOCKRNN_RUNS": str(self.runs),
            "STOCKRNN_FORECASTS": str(self.forecasts),
            "PYTHONDONTWRITEBYTECODE": "1",  # no .pyc writes: the same events in every run
            "OMP_NUM_THREADS": "1",  # two kills run at once on two cores: no thread oversubscription
            "NO_COLOR": "1",
        }

    def copy_to(self, target: Path) -> Folders:
        shutil.copytree(self.root, target)
        return Folders(target)


def run_stockrnn(folders: Folders, kill_at: int, args: list[str]) -> tuple[int, list[str]]:
    events = folders.root / "events.txt"
    completed = subprocess.run(
        [sys.executable, str(CRASHPOINTS), str(kill_at), str(events), "--", "--quiet", *args],
        env=folders.env(),
        cwd=folders.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if kill_at < 0:
        assert completed.returncode == 0, completed.stderr
        return 0, events.read_text().splitlines()
    return completed.returncode, []


def kill_points(events: list[str]) -> list[int]:
    """Both kill points of every event of the write path (crashpoints.py numbers from the first lock)."""
    assert events[0].startswith("open .lock"), events[:3]
    return list(range(2 * len(events)))


def campaign(pristine: Folders, tmp_path: Path, args: list[str]) -> list[tuple[int, Folders]]:
    """One killed run per kill point, each on its own copy of `pristine` (two at a time)."""
    _, events = run_stockrnn(pristine.copy_to(tmp_path / "count"), -1, args)
    points = kill_points(events)
    copies = [pristine.copy_to(tmp_path / f"kill-{point}") for point in points]
    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = list(
            pool.map(lambda pc: run_stockrnn(pc[1], pc[0], args)[0], zip(points, copies, strict=True))
        )
    assert codes == [KILLED] * len(points), f"each of the {len(points)} kill points must be reached"
    return list(zip(points, copies, strict=True))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Folders:
    """A store holding KO (first 6,000 sessions) and JPM, one trained run, KO's forecast written."""
    folders = Folders(tmp_path_factory.mktemp("pristine"))
    head = folders.root / "inputs" / "KO-head.csv"
    head.parent.mkdir()
    lines = (SAMPLE / "KO.csv").read_text().splitlines(keepends=True)
    head.write_text("".join(lines[:6001]))
    for args in (
        ["fetch", "--from-csv", str(head), "--ticker", "KO"],
        ["fetch", "--from-csv", str(SAMPLE / "JPM.csv"), "--ticker", "JPM"],
        TINY_TRAIN,
        ["predict", "--allow-stale", "--ticker", "KO"],
    ):
        subprocess.run(
            [sys.executable, "-m", "stockrnn", "--quiet", *args], env=folders.env(), check=True, timeout=300
        )
    (folders.root / "events.txt").unlink(missing_ok=True)
    return folders


def rerun(cli, folders: Folders, args: list[str]) -> None:
    paths = {
        "fetch": ["--store", folders.store],
        "train": ["--store", folders.store, "--runs", folders.runs],
        "predict": ["--store", folders.store, "--runs", folders.runs, "--out", folders.forecasts],
    }[args[0]]
    result = cli("--quiet", *args, *paths)
    assert (result.exit_code, result.output) == (0, "")


def test_killed_csv_import_leaves_the_store_old_or_new_and_the_next_import_succeeds(
    cli, pristine, tmp_path, sample_prices
):
    args = ["fetch", "--from-csv", str(SAMPLE / "KO.csv"), "--ticker", "KO"]
    before = visible_files(pristine.store)
    columns = ["date", "close"]
    full_ko = sample_prices("KO")[columns]
    jpm = PriceStore(pristine.store).read("JPM")[columns]
    outcomes = {"old": 0, "new": 0}

    for _, folders in campaign(pristine, tmp_path, args):
        store = PriceStore(folders.store)
        after = visible_files(folders.store)
        assert store.read("JPM")[columns].equals(jpm)
        if after == before:
            assert len(store.read("KO")) == 6000
            outcomes["old"] += 1
        else:
            assert after.keys() == before.keys()
            assert store.read("KO")[columns].equals(full_ko)
            outcomes["new"] += 1
        rerun(cli, folders, args)
        assert store.read("KO")[columns].equals(full_ko)
        assert debris(folders.store) == []

    assert outcomes["old"] > 0 and outcomes["new"] > 0


def test_killed_training_leaves_no_run_or_a_complete_one_and_the_next_succeeds(cli, pristine, tmp_path):
    before = visible_files(pristine.runs)
    [first_run] = list_runs(pristine.runs)
    outcomes = {"old": 0, "new": 0}

    for _, folders in campaign(pristine, tmp_path, TINY_TRAIN):
        after = visible_files(folders.runs)
        if after == before:
            outcomes["old"] += 1
            assert load_run(folders.runs).run_id == first_run.run_id
        else:
            new_files = sorted(name for name in after if name not in before)
            assert {name: after[name] for name in before} == before
            new_run = load_run(folders.runs)  # `latest` is the new, complete run
            assert new_run.run_id != first_run.run_id
            # every file or none: the required ones and the first night's raw forecasts (calibrated)
            assert new_files == sorted(f"{new_run.run_id}/{name}" for name in (*FILES, RUN_FILE))
            restore(new_run)  # its weights load into the model its config describes
            outcomes["new"] += 1
        runs_before_rerun = len(list_runs(folders.runs))
        rerun(cli, folders, TINY_TRAIN)
        assert len(list_runs(folders.runs)) == runs_before_rerun + 1
        assert debris(folders.runs) == []

    assert outcomes["old"] > 0 and outcomes["new"] > 0


def forecast_rows(content: bytes) -> pd.DataFrame:
    """A forecast file's rows without `created_at`, which differs between otherwise equal runs."""
    return pd.read_parquet(io.BytesIO(content)).drop(columns="created_at")


def test_killed_predict_leaves_each_forecast_file_old_or_new_and_the_next_succeeds(cli, pristine, tmp_path):
    """KO (store ends 2013) and JPM (2022) forecast into two origin_date partitions. Each partition file is
    replaced atomically on its own, so a kill between the two leaves one new and one old."""
    before = visible_files(pristine.forecasts)
    outcomes = {"old": 0, "new": 0}
    complete = None

    for _, folders in campaign(pristine, tmp_path, PREDICT_ALL):
        if complete is None:
            complete = visible_files(tmp_path / "count" / "forecasts")
            assert len(complete) == 2 and before.keys() < complete.keys()
        after = visible_files(folders.forecasts)
        assert after.keys() <= complete.keys()
        for name, content in after.items():
            if before.get(name) == content:
                outcomes["old"] += 1
            else:
                assert forecast_rows(content).equals(forecast_rows(complete[name])), name
                outcomes["new"] += 1
        read_forecasts(folders.forecasts)  # the whole folder reads back as one table
        rerun(cli, folders, PREDICT_ALL)
        assert sorted(read_forecasts(folders.forecasts)["ticker"]) == ["JPM", "KO"]
        assert debris(folders.forecasts) == []

    assert outcomes["old"] > 0 and outcomes["new"] > 0


def test_the_campaign_kills_at_least_fifty_times(pristine, tmp_path):
    """The issue asks for 50 kills or more spread over the write paths; count them from the events."""
    counts = {}
    for name, args in {
        "fetch": ["fetch", "--from-csv", str(SAMPLE / "KO.csv"), "--ticker", "KO"],
        "train": TINY_TRAIN,
        "predict": PREDICT_ALL,
    }.items():
        _, events = run_stockrnn(pristine.copy_to(tmp_path / name), -1, args)
        counts[name] = len(kill_points(events))
    assert sum(counts.values()) >= 50, counts
    assert min(counts.values()) >= 10, counts


def test_reading_forecasts_ignores_a_killed_writers_temp_file(pristine, tmp_path):
    folders = pristine.copy_to(tmp_path / "tmpfile")
    [partition] = [p for p in folders.forecasts.iterdir() if p.name.startswith("origin_date=")]
    (partition / ".junk.parquet.abc.tmp").write_bytes(b"PAR1 half a file")
    assert sorted(read_forecasts(folders.forecasts)["ticker"]) == ["KO"]
