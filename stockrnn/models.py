"""The recurrent forecaster: an RNN cell stack and a direct H x Q head on the last hidden state."""

from __future__ import annotations

import torch
from torch import nn

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


def monotone_quantiles(raw: torch.Tensor, median_index: int) -> torch.Tensor:
    """(..., Q) raw outputs -> non-decreasing quantiles: the median is free, every other level is its
    neighbour towards the median plus (or minus) a softplus step, so no two levels ever cross."""
    median = raw[..., median_index : median_index + 1]
    above = median + torch.cumsum(nn.functional.softplus(raw[..., median_index + 1 :]), dim=-1)
    below_steps = nn.functional.softplus(raw[..., :median_index]).flip(-1)
    below = (median - torch.cumsum(below_steps, dim=-1)).flip(-1)
    return torch.cat([below, median, above], dim=-1)


class RecurrentForecaster(nn.Module):
    def __init__(
        self,
        cell: str,
        n_features: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        horizon: int = 1,
        levels: tuple[float, ...] = (0.5,),
    ):
        super().__init__()
        self.rnn = CELLS[cell](
            input_size=n_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            # torch applies dropout between stacked layers only; with one layer it would only warn.
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.horizon = horizon
        self.n_levels = len(levels)
        self.median_index = levels.index(0.5)
        self.head = nn.Linear(hidden_size, horizon * self.n_levels)

    def _quantiles(self, hidden: torch.Tensor) -> torch.Tensor:
        # hidden: (..., hidden) -> (..., H, Q)
        raw = self.head(hidden).unflatten(-1, (self.horizon, self.n_levels))
        return monotone_quantiles(raw, self.median_index) if self.n_levels > 1 else raw

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        # windows: (B, L, F)
        outputs, _ = self.rnn(windows)  # (B, L, hidden)
        return self._quantiles(outputs[:, -1])  # (B, H, Q) normalised targets of sessions 1..H ahead

    def forward_every_step(self, sequences: torch.Tensor, state=None):
        """A forecast after every step, for sequence training; returns the state to carry on."""
        # sequences: (B, T, F)
        outputs, state = self.rnn(sequences, state)  # (B, T, hidden)
        return self._quantiles(outputs), state  # (B, T, H, Q): step t forecasts t+1 .. t+H


def build_model(config, n_features: int, horizon: int, levels: tuple[float, ...]) -> RecurrentForecaster:
    """The network a config describes; horizon and levels come from the run (old runs: 1 and (0.5,))."""
    m = config.model
    return RecurrentForecaster(m.cell, n_features, m.hidden_size, m.num_layers, m.dropout, horizon, levels)
