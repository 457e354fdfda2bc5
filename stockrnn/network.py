"""The recurrent network behind the forecaster interface: fit trains it, predict gives a Forecast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockrnn.quantiles import Forecast
from stockrnn.targets import denormalize
from stockrnn.windows import FitData, Panel


@dataclass
class NetworkForecaster:
    name = "model"
    model: object  # a RecurrentForecaster; torch is imported only where it is used
    lookback: int
    horizon: int
    levels: tuple[float, ...]
    result: object = None  # the TrainResult of fit

    def fit(
        self, data: FitData, config, device, on_epoch=None, on_batch=None, world=None
    ) -> NetworkForecaster:
        from stockrnn.distributed import SINGLE
        from stockrnn.training import train_model

        self.result = train_model(
            self.model,
            data.panel,
            data.train_ends,
            data.val_ends,
            data.lookback,
            config,
            device,
            data.horizon,
            data.levels,
            on_epoch=on_epoch,
            on_batch=on_batch,
            world=world or SINGLE,
        )
        return self

    def predict(self, panel: Panel, ends: np.ndarray) -> Forecast:
        from stockrnn.tensors import PanelTensors, predict_scaled

        device = next(self.model.parameters()).device
        z = predict_scaled(self.model, PanelTensors(panel, self.lookback, device, self.horizon), ends)
        return Forecast(self.levels, denormalize(panel, ends, z))  # z: (N, H, Q)
