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
from stockrnn.config import Config
from stockrnn.dataset import TrainingData, fingerprint, prepare_training_data
from stockrnn.runs import Manifest, ensure_writable, new_run_id, save_run
from stockrnn.scoring import calibrate, predictions_frame, score_on
from stockrnn.store import PriceStore

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
    config: Config, store: PriceStore, runs_root: Path, on_epoch=None, on_batch=None
) -> TrainOutcome | None:
    """Train, score against the baselines and save the run; None on a torchrun rank other than 0."""
    import torch

    from stockrnn.distributed import leave, world_from_env
    from stockrnn.network import NetworkForecaster
    from stockrnn.training import resolve_device

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
        return _evaluate_and_save(config, runs_root, data, device, network)
    finally:
        leave(world)


def _headline(metrics: dict, horizon: int) -> dict[str, float]:
    from stockrnn.evaluation import headline_scope

    """The model's scores at horizon 1 (and H) in the first scope: what `stockrnn runs` lists."""
    scores = metrics[headline_scope(metrics)]["model"]
    keep = ("mae_vs_naive", "direction", "pinball_vs_naive", "crps_vs_naive", "coverage_90")
    headline = {k: v for k, v in scores["h1"].items() if k in keep}
    headline.update({f"{k}_h{horizon}": v for k, v in scores[f"h{horizon}"].items() if k in keep})
    return headline


def _evaluate_and_save(config: Config, runs_root: Path, data: TrainingData, device, network):
    from stockrnn.forecasters import fit_baselines
    from stockrnn.models import parameter_count

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
    from stockrnn.backtests import forecasts_frame, new_backtest_id, save_backtest
    from stockrnn.dataset import load_feature_frames
    from stockrnn.store import normalize_ticker
    from stockrnn.training import resolve_device
    from stockrnn.walkforward import run_backtest

    tickers = list(dict.fromkeys(normalize_ticker(t) for t in config.data.tickers))
    frames, names = load_feature_frames(store, tickers, None, config.features.target)
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
