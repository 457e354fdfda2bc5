"""`transformer`: a small causal Transformer encoder over the window and a direct H x Q head.

Features are projected to d_model and given sinusoidal positions (Vaswani et al., 2017), counted back
from the window's last session so a left-padded short window keeps the positions of a full one.
A causal mask lets each step see only earlier sessions; padding is masked as a key. Pre-norm layers
(norm_first) train stably without a warm-up schedule at this size. The head reads the last step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stockrnn.models.heads import to_quantiles


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """(length, d_model): row i encodes i sessions before the window's end."""
    ago = torch.arange(length - 1, -1, -1, dtype=torch.float32)[:, None]  # (L, 1)
    rates = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10_000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(ago * rates)
    table[:, 1::2] = torch.cos(ago * rates[: d_model // 2])
    return table


class TransformerForecaster(nn.Module):
    def __init__(
        self,
        n_features: int,
        d_model: int,
        heads: int,
        num_layers: int,
        dropout: float,
        lookback: int,
        horizon: int = 1,
        levels: tuple[float, ...] = (0.5,),
    ):
        super().__init__()
        self.project = nn.Linear(n_features, d_model)
        self.register_buffer("positions", sinusoidal_positions(lookback, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.horizon = horizon
        self.levels = tuple(levels)
        self.head = nn.Linear(d_model, horizon * len(levels))
        causal = torch.triu(torch.full((lookback, lookback), float("-inf")), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)  # (L, L): -inf above the diagonal

    def forward(self, windows: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # windows: (B, L, F), left-padded where lengths (B,) is given
        length = windows.shape[1]
        x = self.project(windows) + self.positions[-length:]  # (B, L, d_model)
        causal = self.causal[-length:, -length:]  # (L, L)
        if lengths is None:
            x = self.encoder(x, mask=causal, is_causal=True)
        else:
            x = self.encoder(x, mask=self._padded_causal_mask(causal, lengths))
        last = self.norm(x[:, -1])  # (B, d_model)
        raw = self.head(last).unflatten(-1, (self.horizon, len(self.levels)))  # (B, H, Q)
        return to_quantiles(raw, self.levels)

    def _padded_causal_mask(self, causal: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B*heads, L, L) additive mask: causal, and no real step attends to padding.

        A padding step may attend to itself only: with every key masked its row would be NaN, and
        a NaN value times a zero weight still poisons the real rows. Its output never reaches a real
        step, since no real step attends to it in any layer.
        """
        length = causal.shape[0]
        steps = torch.arange(length, device=causal.device)
        padding = steps[None, :] < (length - lengths.to(causal.device))[:, None]  # (B, L) True: padding
        mask = causal.expand(len(lengths), length, length).masked_fill(padding[:, None, :], float("-inf"))
        mask = mask.masked_fill(torch.eye(length, dtype=torch.bool, device=causal.device), 0.0)
        return mask.repeat_interleave(self.encoder.layers[0].self_attn.num_heads, dim=0)
