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
    ensure_publishable,
    library_versions,
    new_run_id,
    order_key,
    scan_folders,
)
from stockrnn.studies.folder_schema import CompareManifest, Leaderboard, check_folder, check_json, seal

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


FILES = ["leaderboard.json"]  # beside manifest.json, which seals it


def save_compare(runs_root: Path, compare_id: str, manifest: dict, leaderboard: dict) -> Path:
    def write(staging: Path, final_id: str) -> None:
        write_json(staging / "leaderboard.json", leaderboard)
        write_json(staging / "manifest.json", seal({**manifest, "compare_id": final_id}, staging, FILES))

    root = compares_dir(runs_root)
    return publish_folder(root, compare_id, write, 30.0, f"the compares folder {root}", inside=runs_root)


def scan_compares(runs_root: Path) -> tuple[list[Comparison], list[tuple[str, str]]]:
    """The comparisons that load, and (name, why) for each that does not."""
    return scan_folders(compares_dir(runs_root), _read_compare)


def load_compare(runs_root: Path, name: str = LATEST) -> Comparison:
    root = compares_dir(runs_root)
    if name == LATEST:
        loaded = scan_compares(runs_root)[0]  # an older broken folder never blocks a newer one
        if not loaded:
            raise MissingInputError(f"no comparisons in {root}; run `stockrnn compare`")
        return max(loaded, key=lambda c: order_key(c.compare_id, str(c.manifest["created_at"])))
    check_run_name(root, name)
    return _read_compare(root, name)


def _read_compare(root: Path, name: str) -> Comparison:
    """A comparison whose manifest passes its schema and checksum and whose leaderboard matches it."""
    path = root / name
    what = f"comparison {name}"
    if not (path / "manifest.json").is_file():
        raise MissingInputError(f"no comparison {name!r} in {root}; `stockrnn runs` lists them")
    try:
        manifest = read_json(path / "manifest.json")
        check_folder(path, manifest, CompareManifest, FILES)
        leaderboard = read_json(path / "leaderboard.json")
        check_json("leaderboard.json", leaderboard, Leaderboard)
    except (DataError, MissingInputError) as exc:
        raise DataError(f"{what}: {exc}") from None
    return Comparison(name, path, manifest, leaderboard)


@dataclass
class CompareOutcome:
    compare_id: str
    path: Path
    leaderboard: dict
    runs: dict[str, str]  # candidate -> the run it was saved as (empty for a walk-forward compare)


def compare(
    candidates,
    store: PriceStore,
    runs_root: Path,
    by: str = "pinball",
    plan=None,
    on_candidate=None,
    on_epoch=None,
    jobs: int = 1,
    ray: str | None = None,
):
    """Fit every candidate (and the baselines) on the same data, or walk every one forward over the
    same folds; score them together and save the leaderboard. With `jobs` > 1 the candidates (on
    one split) or each candidate's folds (walking forward) are fitted in that many processes."""
    from stockrnn.forecasters.training import resolve_device
    from stockrnn.studies.candidates import leaderboard

    base = candidates[0].config
    device = resolve_device(base.training.device)
    if plan is None:
        board_input, tickers, frames, last, runs = _compare_on_split(
            candidates, store, runs_root, device, on_candidate, on_epoch, jobs, ray
        )
    else:
        board_input, tickers, frames, last = _compare_walking_forward(
            candidates, store, runs_root, device, plan, on_candidate, on_epoch, jobs, ray
        )
        runs = {}  # fits per fold: no single network to keep (train the winner to predict with it)
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
        "runs": runs,
        "data_fingerprint": fingerprint(frames, last),
        "versions": library_versions(),
        "device": str(device),
    }
    path = save_compare(Path(runs_root), compare_id, manifest, board)
    return CompareOutcome(path.name, path, board, runs)


def _compare_on_split(candidates, store, runs_root, device, on_candidate, on_epoch, jobs, ray):
    """Every candidate fitted on one split, scored with the baselines exactly as `train` scores a
    run, and saved as a run (listed, loadable, predictable): the comparison points at them."""
    from stockrnn.evaluation.metrics import naive_scale_per_ticker
    from stockrnn.studies.candidates import Remembered, fit_candidates
    from stockrnn.studies.train import save_network_run, score_network

    base = candidates[0].config
    data = prepare_training_data(base, store)
    ensure_publishable(Path(runs_root), FOLDER)
    forecasters, entrants = fit_candidates(candidates, data, device, on_candidate, on_epoch, jobs, ray)
    names = [c.name for c in candidates]
    # Fitted once, forecast once: each candidate's run scores them again from memory.
    baselines = {name: Remembered(f) for name, f in forecasters.items() if name not in names}
    calibrated, raw, runs = {}, {}, {}
    for index, candidate in enumerate(candidates):
        network = forecasters[candidate.name]
        scored = score_network(candidate.config, data, network, baselines)
        path = save_network_run(
            candidate.config, runs_root, data, device, network, scored, label=candidate.name
        )
        runs[candidate.name] = path.name
        calibrated[candidate.name] = scored.forecasts[network.name]
        raw[candidate.name] = network.predict(data.panel, data.test_ends)
        if index == 0:
            calibrated.update({name: scored.forecasts[name] for name in baselines})
    raw.update({name: baseline.predict(data.panel, data.test_ends) for name, baseline in baselines.items()})
    naive_scale = naive_scale_per_ticker(data.panel, data.train_ends)
    board_input = (data.panel, data.test_ends, calibrated, raw, naive_scale, entrants)
    return board_input, data.tickers, data.frames, data.split.test_end, runs


def _compare_walking_forward(candidates, store, runs_root, device, plan, on_candidate, on_epoch, jobs, ray):
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
    ensure_publishable(Path(runs_root), FOLDER)
    calibrated, raw, entrants, first = {}, {}, {}, None
    for index, candidate in enumerate(candidates, start=1):
        result = run_backtest(candidate.config, frames, names, plan, device, None, on_epoch, None, jobs, ray)
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
