"""`attention`: the seq2seq decoder attends over every encoder state at each decoding step.

Luong et al. (2015) "general" scoring, score(d, e) = d . W e: the decoder's state of this step
queries the encoder's states with one bilinear map, computed as (d W) . e, a batched matmul per
step; Bahdanau's additive score needs a tanh layer over all L states at every step for no
measured gain in Luong's results.
In sequence training the decoder of every step attends over the lookback-long run of encoder
outputs that ends at that step, the window it would have read in window mode.
The weights of the last forward pass stay on the module (`attention`, (B, H, L)), so predict can
show which past sessions each horizon looked at.
"""

from __future__ import annotations

import torch
from torch import nn

from stockrnn.forecasters.models.seq2seq import Seq2SeqForecaster


class AttentionForecaster(Seq2SeqForecaster):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hidden = self.encoder.hidden_size
        self.score = nn.Linear(hidden, hidden, bias=False)  # W of d . W e
        self.combine = nn.Linear(2 * hidden, hidden)  # [context; decoder state] -> attentional state
        self.attention: torch.Tensor | None = None
        self._weights: list[torch.Tensor] = []

    def forward(self, windows, lengths=None, targets=None):
        self._weights = []
        out = super().forward(windows, lengths, targets)
        self.attention = torch.stack(self._weights, dim=1).detach()  # (B, H, L)
        return out

    def forward_every_step(self, sequences, state=None, targets=None):
        self._weights = []  # sequence training keeps no weights to show
        try:
            return super().forward_every_step(sequences, state, targets)
        finally:
            self._weights = []

    def _attended(self, encoded, window):
        # encoded: (B, W+T, hidden) -> (B*T, window, hidden), row b*T + t: the outputs ending at step t
        return encoded.unfold(1, window, 1).transpose(-1, -2).flatten(0, 1)

    def _step_output(self, decoded, encoded, mask):
        # decoded: (B, hidden); encoded: (B, L, hidden); mask: (B, L) True on padding, or None
        # d . W e = (d W) . e: the query is transformed once per step, not the L encoder states
        # (a (B, L, hidden) x (hidden, hidden) product at every step was most of the decoder's cost).
        query = decoded @ self.score.weight  # (B, hidden)
        scores = torch.bmm(encoded, query[:, :, None])[..., 0]  # (B, L)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, L)
        self._weights.append(weights)
        context = torch.bmm(weights[:, None, :], encoded)[:, 0]  # (B, hidden)
        return torch.tanh(self.combine(torch.cat([context, decoded], dim=-1)))  # (B, hidden)
