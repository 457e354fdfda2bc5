"""`transformer`: a small causal Transformer encoder over the window and a direct H x Q head.

Features are projected to d_model. Positions are ALiBi's by default (Press et al., ICLR 2022): no
position vectors; each head biases its scores by -slope x distance, the slopes a geometric series,
and a key is only seen within the lookback. Distances are relative, so the same weights can read a
long stretch of sessions at once: sequence training runs every layer over a warm-up plus T target
sessions and forecasts after each of the T (about a tenth of window mode's tokens), and step 1 of a
stretch is exactly the window forecast (a test). `positions = "sinusoidal"` gives the tokens
sinusoidal vectors instead (Vaswani et al., 2017), counted back from the window's last session so a
left-padded short window keeps the positions of a full one; every query then has its own
positions, so that model trains in window mode only. It was the default of runs saved before ALiBi
became it, and those load with it.

A causal mask lets each step see only earlier sessions; padding is masked as a key. Pre-norm layers
(norm_first) train stably without a warm-up schedule at this size. The head reads the last step,
so the top layer is run for that step alone (the others' top-layer outputs would reach nothing).

The layers are `nn.TransformerEncoderLayer`s (their parameters and state_dict keys), run by
`_block` below: attention through `scaled_dot_product_attention` (a fused kernel on the CPU as on
GPUs, given the causal mask or ALiBi's biases), and dropout on the residual and feed-forward
paths but not on the attention weights, as PatchTST (attn_dropout = 0). On a CPU torch draws one
random number per dropped element, B x heads x T x T of them per layer for the attention weights,
and dropping them also rules out the fused kernel: the two were 40% of a training step. The other
dropouts are models/dropout.py's, from a quarter of torch's random draws. At inference (no
dropout) the function is nn.TransformerEncoder's, which a test checks.

With `patch_length` P > 0 a token is a patch of P sessions instead of one (PatchTST, Nie et al.,
ICLR 2023), stride P/2 as in the paper, aligned to end on the window's last session: L/(P/2) tokens
instead of L make attention about (P/2)^2 times cheaper, and each token carries a local shape.
Unlike PatchTST the features of a patch are projected together (not one channel at a time) and the
head still reads the last token, not every token flattened. In a left-padded window a patch is real
only if all its sessions are, so padding never reaches a token. ALiBi's distances are then counted
in tokens; patches are cut back from each origin, so a patched model trains in window mode.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from stockrnn.forecasters.models.dropout import dropout
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
        positions: str = "alibi",
    ):
        super().__init__()
        self.patch = max(patch_length, 1)  # sessions per token
        self.stride = max(self.patch // 2, 1)
        tokens = self.token_count(lookback)
        self.lookback = lookback
        self.alibi = positions == "alibi"
        self.project = nn.Linear(n_features * self.patch, d_model)
        table = None if self.alibi else sinusoidal_positions(tokens, d_model)  # ALiBi adds no vectors
        self.register_buffer("positions", table, persistent=False)
        # ALiBi's slopes for a power-of-two head count, 2^(-8h/heads) for head h = 1..heads.
        slopes = 2.0 ** (-8.0 * torch.arange(1, heads + 1, dtype=torch.float32) / heads)
        self.register_buffer("slopes", slopes, persistent=False)  # (heads,)
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
        x = self.project(tokens)  # (B, T, d_model)
        mask = None if lengths is None else self.padded_causal_mask(count, self.token_count(lengths))
        if self.alibi:
            mask = self.distance_bias(count) if mask is None else mask + self.distance_bias(count)
        else:
            x = x + self.positions[-count:]
        *below, top = self.encoder.layers
        for layer in below:
            x = self._block(layer, x, every_token=True, mask=mask)  # (B, T, d_model)
        # The last token sees every earlier one, so without padding its row needs no mask.
        last = self._block(top, x, every_token=False, mask=None if mask is None else mask[..., -1:, :])
        raw = self.head(self.norm(last[:, 0])).unflatten(-1, (self.horizon, len(self.levels)))  # (B, H, Q)
        return to_quantiles(raw, self.levels)

    @property
    def carries_state(self) -> bool:
        """Whether sequence training applies: with ALiBi's relative distances, one token a session."""
        return self.alibi and self.patch == 1

    def warm_up(self, sequences: torch.Tensor) -> torch.Tensor:
        """Sequence training's warm-up (B, W, F): nothing is carried but the sessions themselves,
        which every later step of the stretch attends to."""
        return sequences

    def forward_every_step(self, sequences: torch.Tensor, state: torch.Tensor | None = None):
        """A forecast after every step of (B, T, F), after the warm-up sessions `state` (B, W, F):
        every layer runs over all W+T sessions at once, each attending to the lookback ending at
        it. ALiBi only. Returns (B, T, H, Q) and the last W sessions, for a next stretch."""
        steps = sequences.shape[1]
        x = sequences if state is None else torch.cat([state, sequences], dim=1)  # (B, W+T, F)
        hidden = self.project(x)  # (B, W+T, d_model): no position vectors under ALiBi
        mask = self.distance_bias(x.shape[1], self.lookback)  # (1, heads, W+T, W+T)
        for layer in self.encoder.layers:
            hidden = self._block(layer, hidden, every_token=True, mask=mask)
        outputs = self.norm(hidden[:, -steps:])  # (B, T, d_model)
        raw = self.head(outputs).unflatten(-1, (self.horizon, len(self.levels)))  # (B, T, H, Q)
        return to_quantiles(raw, self.levels), x[:, x.shape[1] - self.lookback + 1 :]

    def distance_bias(self, tokens: int, within: int | None = None) -> torch.Tensor:
        """(1, heads, T, T) additive ALiBi scores: -slope x distance to each earlier token, -inf to
        a later one and, given `within`, to any `within` or more tokens back. Four dimensions: with
        a (heads, T, T) mask scaled_dot_product_attention leaves the fused CPU kernel (4.6x slower)."""
        steps = torch.arange(tokens, device=self.slopes.device)
        back = (steps[:, None] - steps[None, :]).float()  # (T, T): how far each key is behind its query
        bias = -self.slopes[:, None, None] * back  # (heads, T, T)
        hidden = back < 0 if within is None else (back < 0) | (back >= within)
        return bias.masked_fill(hidden, float("-inf"))[None]

    def _block(
        self, layer: nn.TransformerEncoderLayer, x: torch.Tensor, every_token: bool, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """One pre-norm layer with its weights, for every token or for the last one only (the top
        layer: the head reads nothing else, and under the causal mask no other token's top-layer
        output reaches it, so the same function skips T-1 rows of attention and feed-forward)."""
        # x: (B, T, d_model); mask: None (causal, no padding) or (B or 1, 1 or heads, T or 1, T) additive
        normed = layer.norm1(x)
        queries = normed if every_token else normed[:, -1:]  # (B, Tq, d_model)
        attended = _attention(layer.self_attn, queries, normed, mask, causal=every_token and mask is None)
        y = (x if every_token else x[:, -1:]) + dropout(attended, layer.dropout1.p, self.training)
        hidden = dropout(layer.activation(layer.linear1(layer.norm2(y))), layer.dropout.p, self.training)
        return y + dropout(layer.linear2(hidden), layer.dropout2.p, self.training)  # (B, Tq, d_model)

    def padded_causal_mask(self, tokens: int, lengths: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, T) additive mask: causal, and no real token attends to padding (lengths in tokens).

        A padding step may attend to itself only: with every key masked its row would be NaN, and
        a NaN value times a zero weight still poisons the real rows. Its output never reaches a real
        step, since no real step attends to it in any layer.
        """
        causal = self.causal[-tokens:, -tokens:]  # (T, T)
        steps = torch.arange(tokens, device=causal.device)
        padding = steps[None, :] < (tokens - lengths.to(causal.device))[:, None]  # (B, T) True: padding
        mask = causal.expand(len(lengths), tokens, tokens).masked_fill(padding[:, None, :], float("-inf"))
        mask = mask.masked_fill(torch.eye(tokens, dtype=torch.bool, device=causal.device), 0.0)
        return mask[:, None]


def _attention(
    attention: nn.MultiheadAttention,
    queries: torch.Tensor,
    keys: torch.Tensor,
    mask: torch.Tensor | None,
    causal: bool,
) -> torch.Tensor:
    """Multi-head attention with `attention`'s projections through scaled_dot_product_attention,
    keys doubling as values (self-attention); no dropout on the weights."""
    # queries: (B, Tq, d); keys: (B, T, d); mask: broadcastable to (B, heads, Tq, T) or None
    width, heads = queries.shape[-1], attention.num_heads
    weight, bias = attention.in_proj_weight, attention.in_proj_bias  # (3d, d), (3d,): q, k, v stacked
    q = F.linear(queries, weight[:width], bias[:width]).unflatten(-1, (heads, -1)).transpose(1, 2)
    k, v = F.linear(keys, weight[width:], bias[width:]).unflatten(-1, (2, heads, -1)).permute(2, 0, 3, 1, 4)
    # q: (B, heads, Tq, d/heads); k, v: (B, heads, T, d/heads)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)  # (B, heads, Tq, d/heads)
    return attention.out_proj(out.transpose(1, 2).flatten(2))  # (B, Tq, d)
