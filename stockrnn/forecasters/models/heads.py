"""What every network ends in: H x Q outputs made into non-crossing quantiles, and the padding helpers."""

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


def to_quantiles(raw: torch.Tensor, levels: tuple[float, ...]) -> torch.Tensor:
    """(..., Q) raw -> (..., Q) quantiles; a point forecast (one level) passes through."""
    return monotone_quantiles(raw, levels.index(0.5)) if len(levels) > 1 else raw


def right_aligned(windows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Left-padded windows -> the same steps moved to the front, as pack_padded_sequence expects."""
    # windows: (B, L, F), the real steps of row b are its last lengths[b]; lengths: (B,) int64
    steps = torch.arange(windows.shape[1], device=windows.device)  # (L,)
    source = (steps[None, :] + (windows.shape[1] - lengths)[:, None]).clamp(
        max=windows.shape[1] - 1
    )  # (B, L)
    return windows.gather(1, source[..., None].expand_as(windows))


def encode(rnn: nn.RNNBase, windows: torch.Tensor, lengths: torch.Tensor | None):
    """Run a batch-first RNN over windows; with lengths, pack them so padding never touches the state.

    Returns (outputs (B, L, D*hidden), final state). With lengths the outputs are left-padded again
    (zeros where there was padding), so step -1 is every row's last real session either way.
    """
    if lengths is None:
        return rnn(windows)
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    packed = pack_padded_sequence(
        right_aligned(windows, lengths), lengths.cpu(), batch_first=True, enforce_sorted=False
    )
    outputs, state = rnn(packed)
    outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=windows.shape[1])  # right-padded
    # Move each row's real outputs back to the end: the inverse shift of right_aligned.
    steps = torch.arange(windows.shape[1], device=windows.device)
    shift = (windows.shape[1] - lengths.to(windows.device))[:, None]
    source = steps[None, :] - shift  # (B, L); negative: padding
    left = outputs.gather(1, source.clamp(min=0)[..., None].expand_as(outputs))
    return left * (source >= 0)[..., None], state


def last_hidden(state, bidirectional: bool) -> torch.Tensor:
    """(B, D*hidden) the top layer's final state; both directions' for a bidirectional encoder."""
    h = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
    return torch.cat([h[-2], h[-1]], dim=-1) if bidirectional else h[-1]
