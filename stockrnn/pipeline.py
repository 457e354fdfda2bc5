"""The stages in order: stored prices -> features -> panel -> train -> score -> run; run -> forecasts."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn import __version__
from stockrnn.baselines import BASELINES, scaled_target_to_price
from stockrnn.config import Config
from stockrnn.errors import DataError, MissingInputError
from stockrnn.evaluation import naive_scale_per_ticker, score_all
from stockrnn.features import compute_features, feature_names
from stockrnn.runs import Run, load_weights, new_run_id, save_run
from stockrnn.store import PriceStore, normalize_ticker
from stockrnn.windows import AffineScaler, Panel, SplitDates, build_panel, split_dates


@dataclass
class TrainOutcome:
    run_id: str
    path: Path
    metrics: dict
    device: str
    best_epoch: int
    epochs_run: int
    seconds_per_epoch: float


def load_feature_frames(
    store: PriceStore, tickers: list[str], names: list[str] | None, target: str, last_rows: int | None = None
):
    prices = {t: store.read(t, last_rows) for t in tickers}
    names = names or feature_names(list(prices.values()), target)
    return {t: compute_features(p, names) for t, p in prices.items()}, names


def fingerprint(frames: dict[str, pd.DataFrame], until: pd.Timestamp) -> str:
    """sha256 over every (ticker, date, feature) value used, so a run names its exact data."""
    digest = hashlib.sha256()
    for ticker, frame in sorted(frames.items()):
        used = frame[frame["date"] <= until]
        digest.update(ticker.encode())
        digest.update(used["date"].to_numpy(dtype="datetime64[ns]").tobytes())
        digest.update(np.ascontiguousarray(used.drop(columns="date").to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()


def _require(ends: np.ndarray, split: str, lookback: int) -> None:
    if len(ends) == 0:
        raise DataError(
            f"the {split} split has no windows of {lookback} sessions; fetch more history, "
            "shorten features.lookback or move the split dates"
        )


def _forecasts_in_prices(model, panel: Panel, data, ends, train_ends, lookback) -> dict[str, np.ndarray]:
    from stockrnn.training import predict_scaled

    predictions = {"model": scaled_target_to_price(panel, ends, predict_scaled(model, data, ends))}
    for baseline in BASELINES:
        predictions[baseline.name] = (
            baseline().fit(panel, train_ends, lookback).predict_price(panel, ends, lookback)
        )
    return predictions


def _predictions_frame(panel: Panel, ends: np.ndarray, predictions: dict[str, np.ndarray]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "date": panel.dates[ends + 1],
            "ticker": np.asarray(panel.tickers)[panel.ticker_ids[ends]],
            "last_close": panel.price[ends],
            "actual": panel.price[ends + 1],
        }
    )
    for name, values in predictions.items():
        frame[name] = values
    return frame


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


@dataclass
class TrainingData:
    """Everything training and scoring read: the feature frames, the scaled panel and its split."""

    tickers: list[str]
    frames: dict[str, pd.DataFrame]
    feature_names: list[str]
    panel: Panel
    split: SplitDates
    train_ends: np.ndarray  # window-end rows of each split, into the panel
    val_ends: np.ndarray
    test_ends: np.ndarray


def prepare_training_data(config: Config, store: PriceStore) -> TrainingData:
    """Stored prices -> features -> chronological split -> panel scaled on the training split."""
    lookback = config.features.lookback
    tickers = list(dict.fromkeys(normalize_ticker(t) for t in config.data.tickers))
    frames, names = load_feature_frames(store, tickers, None, config.features.target)
    target_dates = np.concatenate([f["date"].to_numpy()[lookback:] for f in frames.values()])
    if len(target_dates) == 0:
        raise DataError(
            f"{', '.join(tickers)}: fewer than {lookback + 2} sessions stored; fetch more history"
        )
    split = split_dates(target_dates, config.split)
    panel = build_panel(
        frames, names, names[0], config.features.scaler, split.train_end, min_train_rows=lookback + 2
    )
    ends = {
        "training": panel.window_ends(lookback, None, split.train_end),
        "validation": panel.window_ends(lookback, split.train_end, split.val_end),
        "test": panel.window_ends(lookback, split.val_end, split.test_end),
    }
    for name, split_ends in ends.items():
        _require(split_ends, name, lookback)
    return TrainingData(tickers, frames, names, panel, split, *ends.values())


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
    from stockrnn.training import PanelTensors

    lookback = config.features.lookback
    panel, test_ends = data.panel, data.test_ends
    tensors = PanelTensors(panel, lookback, device)
    predictions = _forecasts_in_prices(model, panel, tensors, test_ends, data.train_ends, lookback)
    metrics = score_all(panel, test_ends, predictions, naive_scale_per_ticker(panel, data.train_ends))

    run_id = new_run_id(Path(runs_root), config.model.cell, data.tickers)
    manifest = {
        "run_id": run_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "tickers": data.tickers,
        "features": data.feature_names,
        "target": config.features.target,
        "lookback": lookback,
        "scalers": {t: s.to_json() for t, s in panel.scalers.items()},
        "split": data.split.to_json(),
        "windows": {"train": len(data.train_ends), "val": len(data.val_ends), "test": len(test_ends)},
        "data_fingerprint": fingerprint(data.frames, data.split.test_end),
        "versions": _versions(),
        "seed": config.training.seed,
        "device": str(device),
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "best_val_loss": result.best_val_loss,
            "seconds_per_epoch": result.seconds_per_epoch,
            "processes": result.processes,
        },
        "headline": dict(metrics[next(iter(metrics))]["model"]),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    path = save_run(
        Path(runs_root),
        run_id,
        config.model_dump(mode="json"),
        manifest,
        state,
        metrics,
        _predictions_frame(panel, test_ends, predictions),
    )
    return TrainOutcome(
        run_id, path, metrics, str(device), result.best_epoch, len(result.history), result.seconds_per_epoch
    )


def restore(run: Run):
    """The run's config and its model with trained weights, on the CPU, in eval mode."""
    from stockrnn.models import build_model

    config = Config.model_validate(run.config)
    model = build_model(config, n_features=len(run.manifest["features"]))
    load_weights(run, model)
    return config, model.eval()


def run_panel(run: Run, store: PriceStore, tickers: list[str], last_rows: int | None = None) -> Panel:
    """The tickers' features scaled with the run's own scalers; the newest `last_rows` sessions if given."""
    manifest = run.manifest
    frames, names = load_feature_frames(store, tickers, manifest["features"], manifest["target"], last_rows)
    scalers = {t: AffineScaler.from_json(manifest["scalers"][t]) for t in tickers}
    return build_panel(frames, names, names[0], "", None, scalers=scalers)


def _run_tickers(run: Run, requested: list[str] | None) -> list[str]:
    known = run.manifest["tickers"]
    if not requested:
        return list(known)
    chosen = [normalize_ticker(t) for t in requested]
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise MissingInputError(
            f"run {run.run_id} was not trained on {', '.join(unknown)}; it knows {', '.join(known)}"
        )
    return chosen


def evaluate_since_training(run: Run, store: PriceStore) -> dict:
    """Score the run on sessions stored after the data it was trained and tested on."""
    import torch

    from stockrnn.training import PanelTensors

    config, model = restore(run)
    lookback = run.manifest["lookback"]
    split = SplitDates.from_json(run.manifest["split"])
    panel = run_panel(run, store, run.manifest["tickers"])
    train_ends = panel.window_ends(lookback, None, split.train_end)
    new_ends = panel.window_ends(lookback, split.test_end, None)
    if len(new_ends) == 0:
        raise MissingInputError(
            f"no sessions stored after {split.test_end.date()}, where run {run.run_id}'s data ended; "
            "run `stockrnn fetch` and try again later"
        )
    data = PanelTensors(panel, lookback, torch.device("cpu"))
    predictions = _forecasts_in_prices(model, panel, data, new_ends, train_ends, lookback)
    return score_all(panel, new_ends, predictions, naive_scale_per_ticker(panel, train_ends))


def forecast_frame(
    run: Run,
    store: PriceStore,
    requested: list[str] | None,
    now: pd.Timestamp,
    allow_stale: bool,
    stale_sessions: int = 3,
) -> pd.DataFrame:
    """Next-session forecasts from each ticker's newest window; refuses stale or gappy data."""
    import torch

    from stockrnn.calendar import last_closed_session, next_session, sessions_between
    from stockrnn.training import PanelTensors

    config, model = restore(run)
    exchange = config.data.exchange
    lookback = run.manifest["lookback"]
    tickers = _run_tickers(run, requested)
    panel = run_panel(run, store, tickers, last_rows=lookback + 1)  # +1: the first row's return needs its eve
    closed = last_closed_session(exchange, now)
    ends = []
    for index, ticker in enumerate(tickers):
        rows = np.flatnonzero(panel.ticker_ids == index)
        if len(rows) < lookback:
            raise DataError(
                f"{ticker}: {len(rows) + 1} sessions stored, fewer than the run's lookback of {lookback} + 1; "
                f"fetch more history"
            )
        end = rows[-1]
        asof = pd.Timestamp(panel.dates[end])
        if not allow_stale:
            behind = len(sessions_between(exchange, asof, closed)) - 1 if asof < closed else 0
            if behind > stale_sessions:
                raise DataError(
                    f"{ticker}: newest stored session {asof.date()} is {behind} sessions behind the last closed "
                    f"session {closed.date()}; run `stockrnn fetch` or pass --allow-stale"
                )
        window_dates = panel.dates[end - lookback + 1 : end + 1]
        expected = sessions_between(exchange, window_dates[0], window_dates[-1])
        if len(expected) != lookback:
            missing = sorted(set(expected.date) - set(pd.DatetimeIndex(window_dates).date))
            raise DataError(
                f"{ticker}: the newest {lookback}-session window has {len(expected) - lookback} missing "
                f"session(s) (first {missing[0] if missing else '?'}); refetch the ticker"
            )
        ends.append(end)
    ends = np.asarray(ends, dtype=np.int64)
    # One batched forward pass over every ticker's newest window. The target row r+1 does not exist
    # yet, so gather inputs directly rather than through PanelTensors.batch.
    data = PanelTensors(panel, lookback, torch.device("cpu"))
    with torch.no_grad():
        scaled = model(data.windows[torch.from_numpy(ends) - lookback + 1].transpose(1, 2)).numpy()
    predicted_close = scaled_target_to_price(panel, ends, scaled.astype("float64"))
    last_close = panel.price[ends]
    asofs = pd.DatetimeIndex(panel.dates[ends])
    created = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame(
        {
            "ticker": tickers,
            "asof": asofs,
            "target_date": [next_session(exchange, d) for d in asofs],
            "horizon": 1,
            "last_close": last_close,
            "predicted_close": predicted_close,
            "predicted_return": np.log(predicted_close / last_close),
            "model": config.model.cell,
            "run_id": run.run_id,
            "created_at": created,
        }
    )
