"""The networks, one module per architecture, all mapping windows (B, L, F) to quantiles (B, H, Q).

`build_model` is the one place a config's `model.architecture` becomes a module.
"""

from __future__ import annotations

from torch import nn

from stockrnn.forecasters.models.heads import CELLS, monotone_quantiles
from stockrnn.forecasters.models.recurrent import RecurrentForecaster

__all__ = ["CELLS", "RecurrentForecaster", "build_model", "monotone_quantiles", "parameter_count"]


def build_model(config, n_features: int, horizon: int, levels: tuple[float, ...]) -> nn.Module:
    """The network a config describes; horizon and levels come from the run (old runs: 1 and (0.5,))."""
    m = config.model
    recurrent = (m.cell, n_features, m.hidden_size, m.num_layers, m.dropout, horizon, levels)
    if m.architecture == "recurrent":
        return RecurrentForecaster(*recurrent, bidirectional=m.bidirectional)
    if m.architecture == "seq2seq":
        from stockrnn.forecasters.models.seq2seq import Seq2SeqForecaster

        return Seq2SeqForecaster(*recurrent)
    if m.architecture == "attention":
        from stockrnn.forecasters.models.attention import AttentionForecaster

        return AttentionForecaster(*recurrent)
    if m.architecture == "transformer":
        from stockrnn.forecasters.models.transformer import TransformerForecaster

        lookback = config.features.lookback
        return TransformerForecaster(
            n_features,
            m.d_model,
            m.heads,
            m.num_layers,
            m.dropout,
            lookback,
            horizon,
            levels,
            m.patch_length,
            m.positions,
        )
    raise ValueError(f"unknown architecture {m.architecture!r}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
