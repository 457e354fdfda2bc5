"""The network (any architecture) behind the forecaster interface: fit trains it, predict gives a Forecast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockrnn.dataset.targets import denormalize
from stockrnn.dataset.windows import FitData, Panel
from stockrnn.forecasters.quantiles import Forecast


@dataclass
class NetworkForecaster:
    name = "model"
    model: object  # a RecurrentForecaster; torch is imported only where it is used
    lookback: int
    horizon: int
    levels: tuple[float, ...]
    min_history: int | None = None  # windows may hold this few real sessions (left-padded)
    sampling_max: float = 0.0  # seq2seq/attention: scheduled sampling's final probability
    result: object = None  # the TrainResult of fit
    attention: np.ndarray | None = None  # (N, H, L) of the last predict, for attention models

    @classmethod
    def from_config(
        cls, config, n_features: int, horizon: int, levels: tuple[float, ...]
    ) -> NetworkForecaster:
        """An untrained network of the config's architecture, with the options its training needs."""
        from stockrnn.forecasters.models import build_model

        return cls(
            build_model(config, n_features, horizon, levels),
            config.features.lookback,
            horizon,
            levels,
            min_history=config.features.min_history,
            sampling_max=config.model.sampling_max,
        )

    def fit(
        self, data: FitData, config, device, on_epoch=None, on_batch=None, world=None
    ) -> NetworkForecaster:
        from stockrnn.forecasters.distributed import SINGLE
        from stockrnn.forecasters.training import train_model

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
            min_history=self.min_history,
            sampling_max=self.sampling_max,
        )
        return self

    def predict(self, panel: Panel, ends: np.ndarray) -> Forecast:
        from stockrnn.forecasters.tensors import PanelTensors, predict_scaled

        device = next(self.model.parameters()).device
        tensors = PanelTensors(panel, self.lookback, device, self.horizon, self.min_history)
        z = predict_scaled(self.model, tensors, ends)
        weights = getattr(self.model, "attention", None)
        self.attention = None if weights is None else weights.numpy()
        return Forecast(self.levels, denormalize(panel, ends, z))  # z: (N, H, Q)
