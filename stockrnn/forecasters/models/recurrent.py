"""`recurrent`: a GRU/LSTM/RNN stack, optionally bidirectional, and a direct H x Q head on its final state."""

from __future__ import annotations

import torch
from torch import nn

from stockrnn.forecasters.models.fused_gru import Workspace, fused_applies, fused_gru_states
from stockrnn.forecasters.models.heads import CELLS, encode, last_hidden, to_quantiles


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
        bidirectional: bool = False,
    ):
        super().__init__()
        self.rnn = CELLS[cell](
            input_size=n_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            # torch applies dropout between stacked layers only; with one layer it would only warn.
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.horizon = horizon
        self.levels = tuple(levels)
        self.bidirectional = bidirectional
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), horizon * len(levels))
        # Train a GRU over windows with the fused steps (fused_gru.py); False: nn.GRU's own, the
        # benchmark's reference. Same maths and parameters either way; dropout masks drawn apart.
        self.fused_steps = cell == "gru"
        self._workspace = Workspace()  # the fused steps' buffers, kept from batch to batch

    @property
    def carries_state(self) -> bool:
        """Whether sequence training can carry the state along a stretch (one direction only)."""
        return not self.bidirectional

    def _quantiles(self, hidden: torch.Tensor) -> torch.Tensor:
        # hidden: (..., D*hidden) -> (..., H, Q)
        raw = self.head(hidden).unflatten(-1, (self.horizon, len(self.levels)))
        return to_quantiles(raw, self.levels)

    def forward(self, windows: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # windows: (B, L, F), left-padded where lengths (B,) is given
        if self.fused_steps and fused_applies(windows, lengths):
            state = fused_gru_states(self.rnn, self._workspace, windows)
        else:
            _, state = encode(self.rnn, windows, lengths)
        # The final state: for one direction the last step's output; for two, the backward
        # direction's state after reading the whole window back to its first session.
        return self._quantiles(last_hidden(state, self.bidirectional))  # (B, H, Q) sessions 1..H ahead

    def warm_up(self, sequences: torch.Tensor):
        """Sequence training's warm-up over (B, W, F), no forecasts: the state to carry on."""
        _, state = self.rnn(sequences)
        return state

    def forward_every_step(self, sequences: torch.Tensor, state=None):
        """A forecast after every step, for sequence training; returns the state to carry on."""
        # sequences: (B, T, F); only a one-directional stack can carry state forward step by step.
        outputs, state = self.rnn(sequences, state)  # (B, T, hidden)
        return self._quantiles(outputs), state  # (B, T, H, Q): step t forecasts t+1 .. t+H
