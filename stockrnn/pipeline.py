"""Training, start to finish: prepared data -> trained network -> scored against the baselines -> a run."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn import __version__
from stockrnn.config import Config
from stockrnn.dataset import TrainingData, fingerprint, prepare_training_data
from stockrnn.evaluation import naive_scale_per_ticker, score_all
from stockrnn.runs import Manifest, new_run_id, save_run
from stockrnn.scoring import forecasts_in_prices, predictions_frame
from stockrnn.store import PriceStore


@dataclass
class TrainOutcome:
    run_id: str
    path: Path
    metrics: dict
    device: str
    best_epoch: int
    epochs_run: int
    seconds_per_epoch: float


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
    from stockrnn.models import build_model
    from stockrnn.training import resolve_device, train_model

    data = prepare_training_data(config, store)
    device = resolve_device(config.training.device)
    world = world_from_env(device.type)
    if world.active and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)  # one GPU per rank
        torch.cuda.set_device(device)
    torch.manual_seed(config.training.seed)
    model = build_model(config, n_features=len(data.feature_names))
    try:
        result = train_model(
            model,
            data.panel,
            data.train_ends,
            data.val_ends,
            config.features.lookback,
            config.training,
            device,
            on_epoch=on_epoch,
            on_batch=on_batch,
            world=world,
        )
        if not world.is_main:
            return None  # rank 0 evaluates and writes the run
        result.processes = world.size
        return _evaluate_and_save(config, runs_root, data, device, model, result)
    finally:
        leave(world)


def _evaluate_and_save(config: Config, runs_root: Path, data: TrainingData, device, model, result):
    from stockrnn.tensors import PanelTensors

    lookback = config.features.lookback
    panel, test_ends = data.panel, data.test_ends
    tensors = PanelTensors(panel, lookback, device)
    predictions = forecasts_in_prices(model, panel, tensors, test_ends, data.train_ends, lookback)
    metrics = score_all(panel, test_ends, predictions, naive_scale_per_ticker(panel, data.train_ends))

    run_id = new_run_id(Path(runs_root), config.model.cell, data.tickers)
    manifest = Manifest(
        run_id=run_id,
        created_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        tickers=data.tickers,
        features=data.feature_names,
        target=config.features.target,
        lookback=lookback,
        scalers=dict(panel.scalers),
        split=data.split,
        windows={"train": len(data.train_ends), "val": len(data.val_ends), "test": len(test_ends)},
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
        },
        headline=dict(metrics[next(iter(metrics))]["model"]),
    )
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    path = save_run(
        Path(runs_root),
        run_id,
        config.model_dump(mode="json"),
        manifest,
        state,
        metrics,
        predictions_frame(panel, test_ends, predictions),
    )
    return TrainOutcome(
        run_id, path, metrics, str(device), result.best_epoch, len(result.history), result.seconds_per_epoch
    )
