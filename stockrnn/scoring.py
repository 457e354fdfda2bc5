"""Every forecaster on the same windows, scored in price units: at training time and since training."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockrnn.baselines import BASELINES, scaled_target_to_price
from stockrnn.errors import MissingInputError
from stockrnn.evaluation import naive_scale_per_ticker, score_all
from stockrnn.runs import Run, restore
from stockrnn.store import PriceStore
from stockrnn.windows import Panel


def forecasts_in_prices(model, panel: Panel, data, ends, train_ends, lookback) -> dict[str, np.ndarray]:
    from stockrnn.tensors import predict_scaled

    predictions = {"model": scaled_target_to_price(panel, ends, predict_scaled(model, data, ends))}
    for baseline in BASELINES:
        predictions[baseline.name] = (
            baseline().fit(panel, train_ends, lookback).predict_price(panel, ends, lookback)
        )
    return predictions


def predictions_frame(panel: Panel, ends: np.ndarray, predictions: dict[str, np.ndarray]) -> pd.DataFrame:
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


def evaluate_since_training(run: Run, store: PriceStore) -> dict:
    """Score the run on sessions stored after the data it was trained and tested on."""
    import torch

    from stockrnn.predicting import run_panel
    from stockrnn.tensors import PanelTensors

    _, model = restore(run)
    lookback = run.manifest.lookback
    split = run.manifest.split
    panel = run_panel(run, store, run.manifest.tickers)
    train_ends = panel.window_ends(lookback, None, split.train_end)
    new_ends = panel.window_ends(lookback, split.test_end, None)
    if len(new_ends) == 0:
        raise MissingInputError(
            f"no sessions stored after {split.test_end.date()}, where run {run.run_id}'s data ended; "
            "run `stockrnn fetch` and try again later"
        )
    data = PanelTensors(panel, lookback, torch.device("cpu"))
    predictions = forecasts_in_prices(model, panel, data, new_ends, train_ends, lookback)
    return score_all(panel, new_ends, predictions, naive_scale_per_ticker(panel, train_ends))
