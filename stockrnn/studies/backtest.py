"""`stockrnn backtest`: walk forward over the stored history (walkforward.py) and save a backtest
folder beside the runs, written like a run (staged, renamed into place).

<runs>/backtests/<id>/
  config.json        the resolved configuration
  manifest.json      the plan, every fold's dates, seed and training, data fingerprint, versions
  forecasts.parquet  fold, origin_date, ticker, horizon, target_date, last_close, actual, and each
                     forecaster's median and quantiles, in prices
  metrics.json       {"pooled": ..., "folds": {"1": ...}, "mcs": ...}: per horizon, per ticker and pooled
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn.config.schema import Config
from stockrnn.data.store import PriceStore
from stockrnn.dataset.prepare import fingerprint
from stockrnn.errors import DataError, MissingInputError
from stockrnn.evaluation.metrics import headline_scores
from stockrnn.io.atomic import publish_folder
from stockrnn.io.json_files import write_json
from stockrnn.io.safe_read import read_json, read_parquet
from stockrnn.runs.folder import (
    LATEST,
    check_run_name,
    ensure_publishable,
    library_versions,
    new_run_id,
    order_key,
    scan_folders,
)
from stockrnn.studies.folder_schema import BacktestManifest, BacktestMetrics, check_folder, check_json, seal

FOLDER = "backtests"


@dataclass
class Backtest:
    backtest_id: str
    path: Path
    config: dict
    manifest: dict
    metrics: dict  # metrics.json, read and checked once when the folder is loaded

    def forecasts(self) -> pd.DataFrame:
        return read_parquet(self.path / "forecasts.parquet")


def backtests_dir(runs_root: Path) -> Path:
    return Path(runs_root) / FOLDER


def new_backtest_id(cell: str, tickers: list[str], folds: int, step: int) -> str:
    return f"{new_run_id(cell, tickers)}-{folds}x{step}"


def forecasts_frame(result) -> pd.DataFrame:
    """The backtest's forecasts in the layout of a run's test predictions, with the fold in front."""
    from stockrnn.evaluation.scoring import predictions_frame

    frame = predictions_frame(result.panel, result.ends, result.forecasts)
    frame.insert(0, "fold", np.repeat(result.fold_of, len(frame) // len(result.ends)))
    return frame


FILES = ["config.json", "metrics.json", "forecasts.parquet"]  # beside manifest.json, which seals them


def save_backtest(
    runs_root: Path, backtest_id: str, config: dict, manifest: dict, metrics: dict, forecasts: pd.DataFrame
) -> Path:
    def write(staging: Path, final_id: str) -> None:
        write_json(staging / "config.json", config)
        write_json(staging / "metrics.json", metrics)
        forecasts.to_parquet(staging / "forecasts.parquet", index=False)
        write_json(staging / "manifest.json", seal({**manifest, "backtest_id": final_id}, staging, FILES))

    root = backtests_dir(runs_root)
    return publish_folder(root, backtest_id, write, 30.0, f"the backtests folder {root}", inside=runs_root)


def scan_backtests(runs_root: Path) -> tuple[list[Backtest], list[tuple[str, str]]]:
    """The backtests that load, and (name, why) for each that does not."""
    return scan_folders(backtests_dir(runs_root), _read_backtest)


def list_backtests(runs_root: Path) -> list[Backtest]:
    """The backtests that load (a broken one never blocks a newer good one)."""
    return scan_backtests(runs_root)[0]


def load_backtest(runs_root: Path, name: str = LATEST) -> Backtest:
    root = backtests_dir(runs_root)
    if name == LATEST:
        found = list_backtests(runs_root)
        if not found:
            raise MissingInputError(f"no backtests in {root}; run `stockrnn backtest`")
        return max(found, key=lambda b: order_key(b.backtest_id, str(b.manifest["created_at"])))
    check_run_name(root, name)
    return _read_backtest(root, name)


def _read_backtest(root: Path, name: str) -> Backtest:
    """A backtest whose manifest passes its schema and checksum and whose files match it."""
    from stockrnn.config.loading import as_saved
    from stockrnn.runs.schema import check_config

    path = root / name
    what = f"backtest {name}"
    if not (path / "manifest.json").is_file():
        raise MissingInputError(f"no backtest {name!r} in {root}; `stockrnn runs` lists them")
    try:
        manifest = read_json(path / "manifest.json")
        check_folder(path, manifest, BacktestManifest, FILES)
        config = as_saved(read_json(path / "config.json"))  # later keys: the defaults of then
        metrics = read_json(path / "metrics.json")
        check_json("metrics.json", metrics, BacktestMetrics)
    except (DataError, MissingInputError) as exc:
        raise DataError(f"{what}: {exc}") from None
    check_config(what, config)
    return Backtest(name, path, config, manifest, metrics)


@dataclass
class BacktestOutcome:
    backtest_id: str
    path: Path
    folds: list
    metrics: dict
    device: str


def backtest(
    config: Config,
    store: PriceStore,
    runs_root: Path,
    plan,
    on_fold=None,
    on_epoch=None,
    on_step=None,
    jobs: int = 1,
    ray: str | None = None,
):
    """Walk forward over the stored history (see walkforward.py) and save the backtest folder; the
    folds' fits in `jobs` processes (the same folder as with one)."""
    from stockrnn.data.calendar import get_calendar
    from stockrnn.data.store import normalize_ticker
    from stockrnn.dataset.prepare import load_feature_frames
    from stockrnn.studies.walkforward import run_backtest

    get_calendar(config.data.exchange)  # an unknown exchange is a config error now, not after the folds
    tickers = list(dict.fromkeys(normalize_ticker(t) for t in config.data.tickers))
    if on_step:
        on_step(f"reading prices and computing features for {len(tickers)} ticker(s)")
    frames, names = load_feature_frames(
        store, tickers, None, config.features.target, inputs=config.features.inputs
    )
    ensure_publishable(Path(runs_root), FOLDER)
    # Fits fanned out to local processes resolve the device there: this process then never imports
    # torch (a second of start-up before the first fit). Ray's tasks need it here, to ask for GPUs.
    device = config.training.device
    if jobs <= 1 or ray is not None or plan.warm_start:
        from stockrnn.forecasters.training import resolve_device

        device = resolve_device(device)
    result = run_backtest(config, frames, names, plan, device, on_fold, on_epoch, on_step, jobs, ray)
    backtest_id = new_backtest_id(config.model.label, tickers, plan.folds, plan.step)
    last_target = pd.Timestamp(result.panel.dates.max())
    manifest = {
        "backtest_id": backtest_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "tickers": tickers,
        "features": names,
        "horizon": config.features.horizon,
        "levels": list(config.model.levels),
        "plan": asdict(plan),
        "folds": [asdict(fold) for fold in result.folds],
        "data_fingerprint": fingerprint(frames, last_target),
        "versions": library_versions(),
        "device": result.device,
        "headline": headline_scores(result.metrics["pooled"], config.features.horizon),
    }
    path = save_backtest(
        Path(runs_root),
        backtest_id,
        config.model_dump(mode="json"),
        manifest,
        result.metrics,
        forecasts_frame(result),
    )
    return BacktestOutcome(path.name, path, result.folds, result.metrics, result.device)
