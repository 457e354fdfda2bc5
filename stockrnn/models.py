"""The recurrent forecaster: an RNN cell stack and a linear head on the last hidden state."""

from __future__ import annotations

import torch
from torch import nn

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


class RecurrentForecaster(nn.Module):
    def __init__(self, cell: str, n_features: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.rnn = CELLS[cell](
            input_size=n_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            # torch applies dropout between stacked layers only; with one layer it would only warn.
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        # windows: (B, L, F)
        outputs, _ = self.rnn(windows)  # (B, L, H)
        return self.head(outputs[:, -1]).squeeze(-1)  # (B,) the next step's scaled target

    def forward_every_step(self, sequences: torch.Tensor, state=None):
        """A forecast after every step, for sequence training; returns the state to carry on."""
        # sequences: (B, T, F)
        outputs, state = self.rnn(sequences, state)  # (B, T, H)
        return self.head(outputs).squeeze(-1), state  # (B, T): step t forecasts the target of t+1


def build_model(config, n_features: int) -> RecurrentForecaster:
    m = config.model
    return RecurrentForecaster(m.cell, n_features, m.hidden_size, m.num_layers, m.dropout)
