"""`stockrnn compare`: several candidates and every baseline on the same data (candidates.py), one
leaderboard, saved in a compare folder beside the runs (staged, renamed into place).

<runs>/compares/<id>/
  manifest.json     when, tickers, horizon, levels, each candidate's resolved config, the backtest
                    plan (if any), data fingerprint, versions
  leaderboard.json  {"by", "scope", "best", "horizons": {"h<h>": [row, ...]}, "metrics": ...}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn.data.store import PriceStore
from stockrnn.dataset.prepare import fingerprint, prepare_training_data
from stockrnn.errors import DataError, MissingInputError
from stockrnn.io.atomic import publish_folder
from stockrnn.io.json_files import write_json
from stockrnn.io.safe_read import read_json
from stockrnn.runs.folder import (
    LATEST,
    check_run_name,
    ensure_writable,
    library_versions,
    new_run_id,
    order_key,
    scan_folders,
)

FOLDER = "compares"


@dataclass
class Comparison:
    compare_id: str
    path: Path
    manifest: dict
    leaderboard: dict


def compares_dir(runs_root: Path) -> Path:
    return Path(runs_root) / FOLDER


def new_compare_id(candidates: int, tickers: list[str]) -> str:
    return new_run_id(f"compare{candidates}", tickers)


def save_compare(runs_root: Path, compare_id: str, manifest: dict, leaderboard: dict) -> Path:
    def write(staging: Path, final_id: str) -> None:
        write_json(staging / "manifest.json", {**manifest, "compare_id": final_id})
        write_json(staging / "leaderboard.json", leaderboard)

    root = compares_dir(runs_root)
    return publish_folder(root, compare_id, write, 30.0, f"the compares folder {root}")


def load_compare(runs_root: Path, name: str = LATEST) -> Comparison:
    root = compares_dir(runs_root)
    if name == LATEST:
        loaded = scan_folders(root, _read_compare)[0]  # an older broken folder never blocks a newer one
        if not loaded:
            raise MissingInputError(f"no comparisons in {root}; run `stockrnn compare`")
        return max(loaded, key=lambda c: order_key(c.compare_id, str(c.manifest["created_at"])))
    check_run_name(root, name)
    return _read_compare(root, name)


def _read_compare(root: Path, name: str) -> Comparison:
    path = root / name
    if not _is_compare(path):
        raise MissingInputError(f"no comparison {name!r} in {root}")
    try:
        manifest = read_json(path / "manifest.json")
        leaderboard = read_json(path / "leaderboard.json")
        manifest["created_at"], leaderboard["horizons"]  # noqa: B018 - files without them are not ours
    except (DataError, MissingInputError) as exc:
        raise DataError(f"comparison {name}: {exc}") from None
    except (KeyError, TypeError):
        raise DataError(f"comparison {name}: its manifest or leaderboard is not one stockrnn wrote") from None
    return Comparison(name, path, manifest, leaderboard)


def _is_compare(entry: Path) -> bool:
    real = entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
    return real and (entry / "manifest.json").is_file()


@dataclass
class CompareOutcome:
    compare_id: str
    path: Path
    leaderboard: dict


def compare(
    candidates,
    store: PriceStore,
    runs_root: Path,
    by: str = "pinball",
    plan=None,
    on_candidate=None,
    on_epoch=None,
):
    """Fit every candidate (and the baselines) on the same data, or walk every one forward over the
    same folds; score them together and save the leaderboard."""
    from stockrnn.forecasters.training import resolve_device
    from stockrnn.studies.candidates import leaderboard

    base = candidates[0].config
    device = resolve_device(base.training.device)
    if plan is None:
        board_input, tickers, frames, last = _compare_on_split(
            candidates, store, runs_root, device, on_candidate, on_epoch
        )
    else:
        board_input, tickers, frames, last = _compare_walking_forward(
            candidates, store, runs_root, device, plan, on_candidate, on_epoch
        )
    board = leaderboard(*board_input, by=by)
    compare_id = new_compare_id(len(candidates), tickers)
    manifest = {
        "compare_id": compare_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "tickers": tickers,
        "horizon": base.features.horizon,
        "levels": list(base.model.levels),
        "candidates": {c.name: c.config.model_dump(mode="json") for c in candidates},
        "plan": asdict(plan) if plan else None,
        "data_fingerprint": fingerprint(frames, last),
        "versions": library_versions(),
        "device": str(device),
    }
    path = save_compare(Path(runs_root), compare_id, manifest, board)
    return CompareOutcome(path.name, path, board)


def _compare_on_split(candidates, store, runs_root, device, on_candidate, on_epoch):
    from stockrnn.evaluation.metrics import naive_scale_per_ticker
    from stockrnn.evaluation.scoring import apply_offsets, calibrate
    from stockrnn.studies.candidates import fit_candidates

    base = candidates[0].config
    data = prepare_training_data(base, store)
    ensure_writable(Path(runs_root))
    forecasters, entrants = fit_candidates(candidates, data, device, on_candidate, on_epoch)
    offsets = (
        calibrate(data.fit_data, forecasters) if base.model.conformal and not base.model.is_point else {}
    )
    raw = {name: f.predict(data.panel, data.test_ends) for name, f in forecasters.items()}
    calibrated = apply_offsets(data.panel, data.test_ends, raw, offsets)
    naive_scale = naive_scale_per_ticker(data.panel, data.train_ends)
    board_input = (data.panel, data.test_ends, calibrated, raw, naive_scale, entrants)
    return board_input, data.tickers, data.frames, data.split.test_end


def _compare_walking_forward(candidates, store, runs_root, device, plan, on_candidate, on_epoch):
    """Each candidate through the same walk-forward folds; baselines from the first candidate's."""
    from stockrnn.data.store import normalize_ticker
    from stockrnn.dataset.prepare import load_feature_frames
    from stockrnn.forecasters.models import build_model, parameter_count
    from stockrnn.studies.candidates import Entrant
    from stockrnn.studies.walkforward import run_backtest

    base = candidates[0].config
    tickers = list(dict.fromkeys(normalize_ticker(t) for t in base.data.tickers))
    frames, names = load_feature_frames(
        store, tickers, None, base.features.target, inputs=base.features.inputs
    )
    ensure_writable(Path(runs_root))
    calibrated, raw, entrants, first = {}, {}, {}, None
    for index, candidate in enumerate(candidates, start=1):
        result = run_backtest(candidate.config, frames, names, plan, device, None, on_epoch)
        if first is None:
            first = result
            for name in result.forecasts:
                if name != "model":
                    calibrated[name], raw[name] = result.forecasts[name], result.raw[name]
                    entrants[name] = Entrant(result.fit_seconds[name], None, None)
        if not np.array_equal(result.ends, first.ends):  # the same folds, dates and tickers: a bug if not
            raise RuntimeError(f"candidate {candidate.name}: its backtest origins differ from the first's")
        calibrated[candidate.name], raw[candidate.name] = result.forecasts["model"], result.raw["model"]
        epochs = [epoch["seconds"] for fold in result.folds for epoch in (fold.history or [])]
        model = build_model(candidate.config, len(names), base.features.horizon, base.model.levels)
        entrants[candidate.name] = Entrant(
            result.fit_seconds["model"],
            float(np.mean(epochs)) if epochs else None,
            parameter_count(model),
        )
        if on_candidate:
            on_candidate(candidate, entrants[candidate.name], index, len(candidates))
    ordered = {c.name: calibrated.pop(c.name) for c in candidates} | calibrated
    ordered_raw = {c.name: raw.pop(c.name) for c in candidates} | raw
    board_input = (first.panel, first.ends, ordered, ordered_raw, first.naive_scale, entrants)
    return board_input, tickers, frames, pd.Timestamp(first.panel.dates.max())
