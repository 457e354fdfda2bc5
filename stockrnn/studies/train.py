"""Training, start to finish: prepared data -> trained network -> scored against the baselines -> a run."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from stockrnn.config.schema import Config
from stockrnn.data.store import PriceStore
from stockrnn.dataset.prepare import TrainingData, fingerprint, prepare_training_data
from stockrnn.errors import Interrupted
from stockrnn.evaluation.metrics import headline_scores
from stockrnn.evaluation.scoring import calibrate, predictions_frame, score_on
from stockrnn.runs import forecast_cache
from stockrnn.runs.folder import (
    Manifest,
    RunFolder,
    ensure_writable,
    library_versions,
    load_run,
    new_run_id,
    save_run,
)

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


def train(
    config: Config,
    store: PriceStore,
    runs_root: Path,
    on_epoch=None,
    on_batch=None,
    discard_on_interrupt: bool = False,
    challenge: str | None = None,
    on_step=None,
    jobs: int = 1,
) -> TrainOutcome | None:
    """Train, score against the baselines and save the run; None on a torchrun rank other than 0.

    Interrupted (Ctrl-C, SIGTERM) after an epoch completed: the best epoch so far is scored and
    saved as a run marked interrupted, then Interrupted is raised again (exit 130/143), unless
    `discard_on_interrupt`.

    With `challenge` (a run id or alias, usually `production`), the new run is scored against that
    run on its test origins and promoted to production only if it wins (see challenge.py); the
    verdict is recorded in its manifest. With no production run yet, the new run becomes it.

    `jobs` > 1 fits the per-ticker GARCH baselines in that many processes (from 200 tickers)."""
    import torch

    from stockrnn.data.calendar import get_calendar
    from stockrnn.forecasters.distributed import leave, world_from_env
    from stockrnn.forecasters.network import NetworkForecaster
    from stockrnn.forecasters.training import resolve_device

    get_calendar(config.data.exchange)  # an unknown exchange is a config error now, not at predict
    step = on_step or (lambda message: None)  # what the command is doing, for a person waiting
    step(f"reading prices and computing features for {len(config.data.tickers)} ticker(s)")
    data = prepare_training_data(config, store)
    ensure_writable(Path(runs_root))  # before the training, not after it
    incumbent = _incumbent(Path(runs_root), challenge) if challenge else None
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
        step(
            f"training {config.model.label}: {len(data.train_ends):,} training and "
            f"{len(data.val_ends):,} validation windows"
        )
        network.fit(data.fit_data, config.training, device, on_epoch, on_batch, world)
        if not world.is_main:
            return None  # rank 0 evaluates and writes the run
        network.result.processes = world.size
        signum = network.result.interrupted_by
        if signum is not None and discard_on_interrupt:
            raise Interrupted(signum, "nothing saved (--discard-on-interrupt)")
        outcome = _evaluate_and_save(
            config, runs_root, data, device, network, store, incumbent, challenge, step, jobs
        )
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


def _incumbent(runs_root: Path, name: str) -> RunFolder | None:
    """The run to challenge, loaded before training (a broken one stops us now); None: none promoted yet."""
    from stockrnn.runs.production import PRODUCTION, read_pointer

    if name == PRODUCTION and read_pointer(runs_root) is None:
        return None
    return load_run(runs_root, name)


def _verdict(incumbent, store, data: TrainingData, scored, interrupted: bool) -> dict:
    from stockrnn.studies.challenge import challenge

    if incumbent is None:
        return {"production": None, "comparable": False, "promoted": True, "why": "no production run yet"}
    if interrupted:
        return {
            "production": incumbent.run_id,
            "comparable": False,
            "promoted": False,
            "why": "training was interrupted",
        }
    return challenge(incumbent, store, data.panel, data.test_ends, scored.forecasts["model"])


def _evaluate_and_save(
    config: Config,
    runs_root: Path,
    data: TrainingData,
    device,
    network,
    store=None,
    incumbent: RunFolder | None = None,
    challenged: str | None = None,
    step=lambda message: None,
    jobs: int = 1,
):
    from stockrnn.forecasters.models import parameter_count
    from stockrnn.forecasters.registry import fit_baselines
    from stockrnn.studies.fanout import ticker_map

    step("fitting the baselines (naive, drift, EWMA, GARCH per ticker, ridge, DLinear)")
    baselines = fit_baselines(data.fit_data, map_tickers=ticker_map(jobs))
    step(f"calibrating and scoring every forecaster on {len(data.test_ends):,} test origins")
    scored = score_network(config, data, network, baselines)
    result = network.result
    verdict = None
    if challenged:
        step(f"scoring the challenge against {challenged}")
        verdict = _verdict(incumbent, store, data, scored, result.interrupted_by is not None)
    path = save_network_run(config, runs_root, data, device, network, scored, verdict)
    if verdict is not None and verdict["promoted"]:
        from stockrnn.runs.production import promote

        promote(Path(runs_root), path.name, f"train --challenge {challenged}: {verdict['why']}")
        log.info("promoted run %s to production: %s", path.name, verdict["why"])
    elif verdict is not None:
        log.info(
            "run %s not promoted; production stays %s: %s", path.name, verdict["production"], verdict["why"]
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


def score_network(config: Config, data: TrainingData, network, baselines: dict):
    """The trained network and the fitted baselines on the test origins, each calibrated as the
    config says (split offsets from validation, then online), scored against naive."""
    forecasters = {network.name: network, **baselines}
    offsets = (
        calibrate(data.fit_data, forecasters) if config.model.conformal and not config.model.is_point else {}
    )
    return score_on(data.fit_data, forecasters, data.test_ends, offsets, config.calibration)


def save_network_run(
    config: Config,
    runs_root: Path,
    data: TrainingData,
    device,
    network,
    scored,
    verdict: dict | None = None,
    label: str | None = None,
) -> Path:
    """Save a trained and scored network as a run folder (train's, or one of compare's candidates,
    `label` then naming the candidate in the run id instead of the cell)."""
    import re

    from stockrnn.forecasters.models import parameter_count

    result = network.result
    offsets = scored.offsets
    run_id = new_run_id(re.sub(r"[^A-Za-z0-9_.+-]", "_", label or config.model.label)[:40], data.tickers)
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
        versions=library_versions(),
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
        headline=headline_scores(scored.metrics, data.horizon),
        horizon=data.horizon,
        levels=data.levels,
        conformal=offsets.get(network.name),
        calibration=scored.calibration,
        challenge=verdict,
    )
    state = {k: v.detach().cpu() for k, v in network.model.state_dict().items()}
    first_night = None
    if offsets.get(network.name) is not None and network.name in scored.raw:  # calibrated online by predict
        first_night = forecast_cache.first_night(
            data.panel,
            data.test_ends,
            scored.raw[network.name].values,
            data.lookback,
            data.levels,
            config.calibration.window + data.horizon,
        )
    return save_run(
        Path(runs_root),
        run_id,
        config.model_dump(mode="json"),
        manifest,
        state,
        scored.metrics,
        predictions_frame(data.panel, data.test_ends, scored.forecasts),
        first_night=first_night,
    )
