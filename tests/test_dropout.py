"""models/dropout.py: dropout with four elements per random draw; the same distribution and
gradient as torch's, each 16-bit piece of a draw with its own threshold."""

from __future__ import annotations

import pytest
import torch

from stockrnn.forecasters.models.dropout import dropout

COUNT = 1_000_000


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_each_of_the_four_pieces_of_a_draw_drops_with_probability_p_and_the_kept_are_scaled(p):
    torch.manual_seed(0)
    out = dropout(torch.ones(COUNT), p, training=True)
    dropped = (out == 0).view(-1, 4).double().mean(0)  # (4,) per piece of the 64-bit draws
    # 5 standard errors of a proportion over COUNT / 4 elements: fails for a piece kept always
    tolerance = 5 * (p * (1 - p) / (COUNT / 4)) ** 0.5
    torch.testing.assert_close(dropped, torch.full((4,), p, dtype=torch.float64), atol=tolerance, rtol=0)
    values = out.unique()
    assert len(values) == 2 and values[0] == 0.0
    assert values[1].item() == pytest.approx(1 / (1 - p), rel=1e-6)


def test_the_same_seed_gives_the_same_mask_and_the_gradient_passes_through_the_kept_only():
    x = torch.randn(7, 13, 5, requires_grad=True)  # 455 elements: not a multiple of 4
    torch.manual_seed(3)
    first = dropout(x, 0.3, training=True)
    torch.manual_seed(3)
    second = dropout(x, 0.3, training=True)
    assert torch.equal(first, second)
    first.sum().backward()
    kept = first != 0
    torch.testing.assert_close(x.grad, kept.float() / 0.7)
    assert 0 < int(kept.sum()) < x.numel()


def test_out_of_training_or_at_zero_it_is_the_identity():
    x = torch.randn(10)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0, training=True) is x
