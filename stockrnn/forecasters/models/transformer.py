"""`transformer`: a small causal Transformer encoder over the window and a direct H x Q head.

Features are projected to d_model and given sinusoidal positions (Vaswani et al., 2017), counted back
from the window's last session so a left-padded short window keeps the positions of a full one.
A causal mask lets each step see only earlier sessions; padding is masked as a key. Pre-norm layers
(norm_first) train stably without a warm-up schedule at this size. The head reads the last step,
so the top layer is run for that step alone (the others' top-layer outputs would reach nothing).

With `patch_length` P > 0 a token is a patch of P sessions instead of one (PatchTST, Nie et al.,
ICLR 2023), stride P/2 as in the paper, aligned to end on the window's last session: L/(P/2) tokens
instead of L make attention about (P/2)^2 times cheaper, and each token carries a local shape.
Unlike PatchTST the features of a patch are projected together (not one channel at a time) and the
head still reads the last token, not every token flattened. In a left-padded window a patch is real
only if all its sessions are, so padding never reaches a token.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stockrnn.forecasters.models.heads import to_quantiles


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
        patch_length: int = 0,
    ):
        super().__init__()
        self.patch = max(patch_length, 1)  # sessions per token
        self.stride = max(self.patch // 2, 1)
        tokens = self.token_count(lookback)
        self.project = nn.Linear(n_features * self.patch, d_model)
        self.register_buffer("positions", sinusoidal_positions(tokens, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.horizon = horizon
        self.levels = tuple(levels)
        self.head = nn.Linear(d_model, horizon * len(levels))
        causal = torch.triu(torch.full((tokens, tokens), float("-inf")), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)  # (T, T): -inf above the diagonal

    def token_count(self, sessions: torch.Tensor | int) -> torch.Tensor | int:
        """Tokens made of the last `sessions` sessions: whole patches only (sessions >= patch)."""
        return (sessions - self.patch) // self.stride + 1

    def tokenize(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, L, F) -> (B, T, F * P): patches of P sessions every `stride`, the last ending at L."""
        if self.patch == 1:
            return windows  # one token per session
        start = (windows.shape[1] - self.patch) % self.stride  # the oldest sessions that fit no patch
        return windows[:, start:].unfold(1, self.patch, self.stride).flatten(2)  # (B, T, F, P) -> (B, T, F*P)

    def forward(self, windows: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # windows: (B, L, F), left-padded where lengths (B,) is given
        tokens = self.tokenize(windows)  # (B, T, F * P)
        count = tokens.shape[1]
        x = self.project(tokens) + self.positions[-count:]  # (B, T, d_model)
        causal = self.causal[-count:, -count:]  # (T, T)
        mask = causal if lengths is None else self._padded_causal_mask(causal, self.token_count(lengths))
        *below, top = self.encoder.layers
        for layer in below:
            x = layer(x, src_mask=mask, is_causal=lengths is None)  # (B, T, d_model)
        last = self.norm(self._last_token(top, x, mask[..., -1:, :]))  # (B, d_model)
        raw = self.head(last).unflatten(-1, (self.horizon, len(self.levels)))  # (B, H, Q)
        return to_quantiles(raw, self.levels)

    @staticmethod
    def _last_token(layer: nn.TransformerEncoderLayer, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The top layer for the last token only: the head reads nothing else, and under the causal
        mask no other token's top-layer output reaches it, so the other T-1 rows of attention and
        feed-forward are skipped (the same function as the full layer; the bench's transformer row).
        The layer's own pre-norm (norm_first) steps, with its weights."""
        # x: (B, T, d_model); mask: (1, T) or (B*heads, 1, T), the last query's row
        normed = layer.norm1(x)
        query = normed[:, -1:]  # (B, 1, d_model)
        attended = layer.self_attn(query, normed, normed, attn_mask=mask, need_weights=False)[0]
        y = x[:, -1:] + layer.dropout1(attended)  # (B, 1, d_model)
        y = y + layer._ff_block(layer.norm2(y))
        return y[:, 0]

    def _padded_causal_mask(self, causal: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B*heads, T, T) additive mask: causal, and no real token attends to padding (lengths in tokens).

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
