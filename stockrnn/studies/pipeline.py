"""Training, start to finish: prepared data -> trained network -> scored against the baselines -> a run."""

from __future__ import annotations

import logging
import platform
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn import __version__
from stockrnn.config.schema import Config
from stockrnn.data.store import PriceStore
from stockrnn.dataset.prepare import TrainingData, fingerprint, prepare_training_data
from stockrnn.errors import Interrupted
from stockrnn.evaluation.scoring import calibrate, predictions_frame, score_on
from stockrnn.runs.folder import Manifest, ensure_writable, new_run_id, save_run

log = logging.getLogger("stockrnn")
FEW_TEST_ORIGINS = 100  # below this, say that the test scores are noise


@dataclass
class TrainOutcome:
    run_id: str
    path: Path
    metrics: dict
    device: str
    best_epoch: int
    epochs_run: int
    seconds_per_epoch: float
    parameters: int


def _versions() -> dict[str, str]:
    import sklearn
    import torch

    return {
        "stockrnn": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
    }


def train(
    config: Config,
    store: PriceStore,
    runs_root: Path,
    on_epoch=None,
    on_batch=None,
    discard_on_interrupt: bool = False,
) -> TrainOutcome | None:
    """Train, score against the baselines and save the run; None on a torchrun rank other than 0.

    Interrupted (Ctrl-C, SIGTERM) after an epoch completed: the best epoch so far is scored and
    saved as a run marked interrupted, then Interrupted is raised again (exit 130/143), unless
    `discard_on_interrupt`."""
    import torch

    from stockrnn.forecasters.distributed import leave, world_from_env
    from stockrnn.forecasters.network import NetworkForecaster
    from stockrnn.forecasters.training import resolve_device

    data = prepare_training_data(config, store)
    ensure_writable(Path(runs_root))  # before the training, not after it
    if len(data.test_ends) < FEW_TEST_ORIGINS:
        log.warning(
            "the test split has only %d forecast origins; its scores are mostly noise "
            "(fetch more history or use `stockrnn backtest`)",
            len(data.test_ends),
        )
    device = resolve_device(config.training.device)
    world = world_from_env(device.type)
    if world.active and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)  # one GPU per rank
        torch.cuda.set_device(device)
    torch.manual_seed(config.training.seed)
    network = NetworkForecaster.from_config(config, len(data.feature_names), data.horizon, data.levels)
    try:
        network.fit(data.fit_data, config.training, device, on_epoch, on_batch, world)
        if not world.is_main:
            return None  # rank 0 evaluates and writes the run
        network.result.processes = world.size
        signum = network.result.interrupted_by
        if signum is not None and discard_on_interrupt:
            raise Interrupted(signum, "nothing saved (--discard-on-interrupt)")
        outcome = _evaluate_and_save(config, runs_root, data, device, network)
        if signum is not None:
            result = network.result
            raise Interrupted(
                signum,
                f"run {outcome.run_id} saved with the best epoch so far ({result.best_epoch} of "
                f"{len(result.history)} run), marked interrupted",
            )
        return outcome
    finally:
        leave(world)


def _headline(metrics: dict, horizon: int) -> dict[str, float]:
    from stockrnn.evaluation.metrics import headline_scope

    """The model's scores at horizon 1 (and H) in the first scope: what `stockrnn runs` lists."""
    scores = metrics[headline_scope(metrics)]["model"]
    keep = ("mae_vs_naive", "direction", "pinball_vs_naive", "crps_vs_naive", "coverage_90")
    headline = {k: v for k, v in scores["h1"].items() if k in keep}
    headline.update({f"{k}_h{horizon}": v for k, v in scores[f"h{horizon}"].items() if k in keep})
    return headline


def _evaluate_and_save(config: Config, runs_root: Path, data: TrainingData, device, network):
    from stockrnn.forecasters.models import parameter_count
    from stockrnn.forecasters.registry import fit_baselines

    forecasters = {network.name: network, **fit_baselines(data.fit_data)}
    offsets = (
        calibrate(data.fit_data, forecasters) if config.model.conformal and not config.model.is_point else {}
    )
    scored = score_on(data.fit_data, forecasters, data.test_ends, offsets)
    result = network.result

    run_id = new_run_id(config.model.label, data.tickers)
    manifest = Manifest(
        run_id=run_id,
        created_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        tickers=data.tickers,
        features=data.feature_names,
        target=config.features.target,
        lookback=data.lookback,
        scalers=dict(data.panel.scalers),
        split=data.split,
        windows={"train": len(data.train_ends), "val": len(data.val_ends), "test": len(data.test_ends)},
        data_fingerprint=fingerprint(data.frames, data.split.test_end),
        versions=_versions(),
        seed=config.training.seed,
        device=str(device),
        training={
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "best_val_loss": result.best_val_loss,
            "seconds_per_epoch": result.seconds_per_epoch,
            "processes": result.processes,
            "parameters": parameter_count(network.model),
            "interrupted": result.interrupted_by is not None,
            # Attention models: mean weight per horizon and input session over the test origins (H, L).
            **(
                {"attention_by_lag": network.attention.mean(axis=0).tolist()}
                if network.attention is not None
                else {}
            ),
            "history": [asdict(epoch) for epoch in result.history],  # for the report's loss curves
        },
        headline=_headline(scored.metrics, data.horizon),
        horizon=data.horizon,
        levels=data.levels,
        conformal=offsets.get(network.name),
    )
    state = {k: v.detach().cpu() for k, v in network.model.state_dict().items()}
    path = save_run(
        Path(runs_root),
        run_id,
        config.model_dump(mode="json"),
        manifest,
        state,
        scored.metrics,
        predictions_frame(data.panel, data.test_ends, scored.forecasts),
    )
    return TrainOutcome(
        path.name,  # the id publish_folder reserved (a suffix if another run took this second)
        path,
        scored.metrics,
        str(device),
        result.best_epoch,
        len(result.history),
        result.seconds_per_epoch,
        parameter_count(network.model),
    )


@dataclass
class BacktestOutcome:
    backtest_id: str
    path: Path
    folds: list
    metrics: dict
    device: str


def backtest(config: Config, store: PriceStore, runs_root: Path, plan, on_fold=None, on_epoch=None):
    """Walk forward over the stored history (see walkforward.py) and save the backtest folder."""
    from stockrnn.data.store import normalize_ticker
    from stockrnn.dataset.prepare import load_feature_frames
    from stockrnn.forecasters.training import resolve_device
    from stockrnn.studies.backtest_folder import forecasts_frame, new_backtest_id, save_backtest
    from stockrnn.studies.walkforward import run_backtest

    tickers = list(dict.fromkeys(normalize_ticker(t) for t in config.data.tickers))
    frames, names = load_feature_frames(
        store, tickers, None, config.features.target, inputs=config.features.inputs
    )
    ensure_writable(Path(runs_root))
    device = resolve_device(config.training.device)
    result = run_backtest(config, frames, names, plan, device, on_fold, on_epoch)
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
        "versions": _versions(),
        "device": str(device),
        "headline": _headline(result.metrics["pooled"], config.features.horizon),
    }
    path = save_backtest(
        Path(runs_root),
        backtest_id,
        config.model_dump(mode="json"),
        manifest,
        result.metrics,
        forecasts_frame(result),
    )
    return BacktestOutcome(path.name, path, result.folds, result.metrics, str(device))


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
    from stockrnn.studies.compare_folder import new_compare_id, save_compare

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
        "versions": _versions(),
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
