"""`seq2seq`: a recurrent encoder over the window and a recurrent decoder unrolled over the H horizons.

Decoding step h is fed the value of step h-1 (step 1: the window's last observed target) and gives
the Q quantiles of horizon h. In training, scheduled sampling (Bengio et al., 2015) picks per row and
step whether that input is the true previous value (teacher forcing) or the model's own median: the
training loop raises `sampling_probability` from 0 to model.sampling_max over the epochs, so the
decoder learns on the kind of input it gets at inference, where it is always its own forecast.
"""

from __future__ import annotations

import torch
from torch import nn

from stockrnn.forecasters.models.heads import CELLS, encode, to_quantiles


class Seq2SeqForecaster(nn.Module):
    teacher_forced = True  # the training loop passes the true targets to forward

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
        stacked_dropout = dropout if num_layers > 1 else 0.0
        self.encoder = CELLS[cell](
            n_features, hidden_size, num_layers, batch_first=True, dropout=stacked_dropout
        )
        # One input per step: the previous horizon's normalised value.
        self.decoder = CELLS[cell](1, hidden_size, num_layers, batch_first=True, dropout=stacked_dropout)
        self.horizon = horizon
        self.levels = tuple(levels)
        self.median_index = self.levels.index(0.5)
        self.head = nn.Linear(self._output_size(hidden_size), len(levels))
        self.sampling_probability = 0.0  # chance of feeding the own forecast in training; set per epoch

    def _output_size(self, hidden_size: int) -> int:
        return hidden_size

    def _step_output(
        self, decoded: torch.Tensor, encoded: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, hidden) decoder output -> (B, hidden) features for the head; attention overrides this."""
        return decoded

    def forward(
        self,
        windows: torch.Tensor,
        lengths: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # windows: (B, L, F), the target in column 0; targets: (B, H) true normalised values, training only
        encoded, state = encode(self.encoder, windows, lengths)  # (B, L, hidden), final state
        mask = None if lengths is None else self._padding_mask(windows, lengths)  # (B, L) True: padding
        previous = windows[:, -1, :1]  # (B, 1): the last observed session's value
        steps = []
        for h in range(self.horizon):
            decoded, state = self.decoder(previous[:, None, :], state)  # (B, 1, hidden)
            quantiles = to_quantiles(self.head(self._step_output(decoded[:, 0], encoded, mask)), self.levels)
            steps.append(quantiles)  # (B, Q)
            own = quantiles[:, self.median_index : self.median_index + 1].detach()  # (B, 1)
            previous = own if targets is None or not self.training else self._mix(own, targets[:, h : h + 1])
        return torch.stack(steps, dim=1)  # (B, H, Q)

    def _mix(self, own: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """Scheduled sampling: per row, the own forecast with probability p, else the truth."""
        if self.sampling_probability <= 0:
            return truth
        if self.sampling_probability >= 1:
            return own
        use_own = torch.rand(own.shape[0], 1, device=own.device) < self.sampling_probability
        return torch.where(use_own, own, truth)

    @staticmethod
    def _padding_mask(windows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(windows.shape[1], device=windows.device)
        return steps[None, :] < (windows.shape[1] - lengths.to(windows.device))[:, None]
