"""`stockrnn evaluate`: a saved run scored on the sessions stored since its data ended."""

from __future__ import annotations

import numpy as np

from stockrnn.data.store import PriceStore
from stockrnn.dataset.windows import FitData
from stockrnn.errors import MissingInputError
from stockrnn.evaluation.scoring import calibrate, score_on
from stockrnn.runs.folder import RunFolder
from stockrnn.runs.restore import restore, run_panel


def evaluate_since_training(run: RunFolder, store: PriceStore) -> dict:
    """Score the run on origins after its data ended: every target is a session it never saw."""
    from stockrnn.forecasters.network import NetworkForecaster
    from stockrnn.forecasters.registry import fit_baselines

    config, model = restore(run)
    manifest = run.manifest
    lookback, horizon, split = manifest.lookback, manifest.horizon, manifest.split
    floor = config.features.history_floor
    panel = run_panel(run, store, manifest.tickers)
    ends = {
        "train": panel.window_ends(lookback, horizon, None, split.train_end, floor),
        "val": panel.window_ends(lookback, horizon, split.train_end, split.val_end, floor),
        "new": panel.window_ends(lookback, horizon, split.test_end, None, floor),
    }
    new_ends = ends["new"][panel.dates[ends["new"]] >= np.datetime64(split.test_end)]
    if len(new_ends) == 0:
        raise MissingInputError(
            f"no sessions stored after {split.test_end.date()}, where run {run.run_id}'s data ended, with "
            f"all {horizon} session(s) of a forecast's outcome; run `stockrnn fetch` and try again later"
        )
    data = FitData(panel, ends["train"], ends["val"], lookback, horizon, manifest.levels)
    network = NetworkForecaster(model, lookback, horizon, manifest.levels, config.features.min_history)
    forecasters = {NetworkForecaster.name: network}
    forecasters.update(fit_baselines(data))
    offsets = {}
    if manifest.conformal is not None:  # the model keeps its own offsets; baselines are refitted alike
        offsets = calibrate(data, {k: v for k, v in forecasters.items() if k != NetworkForecaster.name})
        offsets[NetworkForecaster.name] = manifest.conformal
    # Online calibration learns from every resolved forecast since validation began: test origins too.
    every_origin = panel.window_ends(lookback, horizon, split.train_end, None, floor)
    history = every_origin[panel.dates[every_origin] < np.datetime64(split.test_end)]
    return score_on(data, forecasters, new_ends, offsets, config.calibration, history).metrics
