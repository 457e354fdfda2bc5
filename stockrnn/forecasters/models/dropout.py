"""Dropout for the CPU from a quarter of the random draws torch's own takes.

torch's CPU dropout draws a Bernoulli sample per element (bernoulli_: 8-12 ms for one (512, 60, 48)
activation on the bench machine, 30-45x the 0.26 ms multiply that applies the mask), which made it the
largest cost of a Transformer training step once attention was fused. Here each 64-bit draw
(`random_` on int64: 63 random bits) gives four elements a 16-bit number each, and an element is
kept when its number is at or above the point p of the way up its range. Three of the four numbers
are uniform over int16; the most significant one only over [0, 2^15), its sign bit being the
draw's always-zero top bit, so it has its own threshold. p is rounded to 1/32768 at worst; the
same seed gives the same masks. 3.4 ms for that activation. Off the CPU, torch's own (fused). The
GRU's fused steps (fused_gru.py) draw their masks between layers here too (`scaled_keep_mask`).
"""

from __future__ import annotations

import sys

import torch
from torch.nn import functional as F  # noqa: N812


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Zero each element of x with probability p and scale the rest by 1 / (1 - p), in training."""
    if not training or p <= 0:
        return x
    if x.device.type != "cpu" or p >= 1:
        return F.dropout(x, p, training)
    return x * scaled_keep_mask(p, x.new_empty(x.shape))


def scaled_keep_mask(p: float, out: torch.Tensor) -> torch.Tensor:
    """Fill the CPU tensor out with a dropout mask: 0 with probability p, else 1 / (1 - p)."""
    count = out.numel()
    draws = torch.empty((count + 3) // 4, dtype=torch.int64).random_()  # uniform over [0, 2^63)
    numbers = draws.view(torch.int16).view(-1, 4)  # (count/4, 4): four 16-bit pieces of each draw
    full, top = round(p * 65536) - 32768, round(p * 32768)  # over int16, over [0, 2^15)
    thresholds = [full, full, full, top] if sys.byteorder == "little" else [top, full, full, full]
    keep = torch.ge(numbers, torch.tensor(thresholds, dtype=torch.int16)).view(-1)[:count]
    return torch.mul(keep.view(out.shape), 1.0 / (1.0 - p), out=out)
