"""The GRU's fused training steps over windows (forecasters/models/fused_gru.py), one direction or
two, against nn.GRU: the same states and gradients, dropout between layers as single-layer nn.GRUs
with those masks would give, a workspace that is never overwritten while a graph still needs it,
and the forecaster taking them only where they apply."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from stockrnn.forecasters.models import recurrent
from stockrnn.forecasters.models.dropout import scaled_keep_mask
from stockrnn.forecasters.models.fused_gru import Workspace, fused_gru_states
from stockrnn.forecasters.models.recurrent import RecurrentForecaster


def states_and_gradients(gru: nn.GRU, run, windows: torch.Tensor) -> list[torch.Tensor]:
    """The final states, then the gradient of every parameter and of the windows, of one loss."""
    gru.zero_grad()
    windows.grad = None
    states = run(windows)
    head = torch.linspace(-1, 1, gru.hidden_size, dtype=windows.dtype)
    loss = (states[-1] @ head).square().sum() + states.sin().sum()
    loss.backward()
    return [states.detach().clone(), *(p.grad.clone() for p in gru.parameters()), windows.grad.clone()]


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_fused_steps_give_nn_grus_states_and_gradients(num_layers, bidirectional):
    torch.manual_seed(0)
    gru = nn.GRU(3, 5, num_layers, batch_first=True, bidirectional=bidirectional).double()
    windows = torch.randn(6, 7, 3, dtype=torch.float64, requires_grad=True)
    expected = states_and_gradients(gru, lambda w: gru(w)[1], windows)
    workspace = Workspace()
    for _ in range(2):  # the second pass reuses the first's buffers
        fused = states_and_gradients(gru, lambda w: fused_gru_states(gru, workspace, w), windows)
        assert len(fused) == len(expected)
        for got, want in zip(fused, expected, strict=True):
            torch.testing.assert_close(got, want)


def layer_by_layer(gru: nn.GRU, windows: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """gru's final states from single-layer nn.GRUs on its weights, masks[l] (T, B, width) applied
    to the input of layer l + 1: what dropout between layers means."""
    finals, inputs = [], windows
    ways = ("", "_reverse") if gru.bidirectional else ("",)
    for layer in range(gru.num_layers):
        one = nn.GRU(inputs.shape[-1], gru.hidden_size, 1, batch_first=True, bidirectional=gru.bidirectional)
        weights = {
            f"{kind}_l0{way}": getattr(gru, f"{kind}_l{layer}{way}")
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            for way in ways
        }
        outputs, final = torch.func.functional_call(one.to(windows.dtype), weights, (inputs,))
        finals.append(final)
        if layer + 1 < gru.num_layers:
            inputs = outputs * masks[layer].transpose(0, 1)  # (B, T, D * hidden)
    return torch.cat(finals)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_fused_dropout_masks_each_layers_input_but_the_first(bidirectional):
    gru = nn.GRU(3, 5, 3, batch_first=True, bidirectional=bidirectional, dropout=0.3).double()
    windows = torch.randn(4, 6, 3, dtype=torch.float64, requires_grad=True)
    width = 10 if bidirectional else 5  # the layer below's output: (T, B, D * hidden)
    ones = [torch.ones(6, 4, width, dtype=torch.float64)] * 2
    without = states_and_gradients(gru, lambda w: layer_by_layer(gru, w, ones), windows)
    torch.testing.assert_close(without[0], gru.eval()(windows)[1])  # the reference: nn.GRU, no dropout
    gru.train()
    torch.manual_seed(7)
    fused = states_and_gradients(gru, lambda w: fused_gru_states(gru, Workspace(), w), windows)
    torch.manual_seed(7)  # the masks the fused steps drew, in their order
    masks = [scaled_keep_mask(0.3, torch.empty(6, 4, width, dtype=torch.float64)) for _ in range(2)]
    assert all(0 < int((mask == 0).sum()) < mask.numel() for mask in masks)
    expected = states_and_gradients(gru, lambda w: layer_by_layer(gru, w, masks), windows)
    for got, want in zip(fused, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert not torch.allclose(fused[0], without[0])  # the masks acted


def test_a_forward_while_a_graph_holds_the_workspace_leaves_that_graphs_tensors_alone():
    torch.manual_seed(0)
    gru = nn.GRU(2, 4, 2, batch_first=True, bidirectional=True).double()
    first, second = (torch.randn(3, 5, 2, dtype=torch.float64, requires_grad=True) for _ in range(2))
    expected = [states_and_gradients(gru, lambda w: gru(w)[1], w) for w in (first, second)]
    workspace = Workspace()
    first.grad = second.grad = None
    first_states = fused_gru_states(gru, workspace, first)
    second_states = fused_gru_states(gru, workspace, second)  # the first graph is alive
    first_states.sum().backward()
    torch.testing.assert_close(first.grad, torch.autograd.grad(gru(first)[1].sum(), first)[0])
    second_states.sum().backward()
    torch.testing.assert_close(second.grad, torch.autograd.grad(gru(second)[1].sum(), second)[0])
    torch.testing.assert_close(first_states, expected[0][0])
    torch.testing.assert_close(second_states, expected[1][0])


def test_a_second_backward_through_one_forward_is_refused():
    gru = nn.GRU(2, 4, 1, batch_first=True, bidirectional=True)
    states = fused_gru_states(gru, Workspace(), torch.randn(3, 5, 2))
    states.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward pass per forward"):
        states.sum().backward()


@pytest.mark.parametrize("bidirectional", [True, False])
def test_without_dropout_a_gru_trains_on_fused_steps_to_the_weights_nn_gru_steps_give(
    monkeypatch, bidirectional
):
    calls = []
    monkeypatch.setattr(recurrent, "fused_gru_states", lambda *a: calls.append(1) or fused_gru_states(*a))
    windows = torch.randn(8, 32, 10, 2)  # 8 batches of 32 windows of 10 sessions, 2 features
    targets = torch.randn(8, 32, 3, 3)  # (B, H, Q) per batch
    trained = {}
    for fused in (True, False):
        torch.manual_seed(0)
        model = RecurrentForecaster(
            "gru", 2, 8, 2, 0.0, horizon=3, levels=(0.1, 0.5, 0.9), bidirectional=bidirectional
        )
        model.fused_steps = fused
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        model.train()
        for batch, target in zip(windows, targets, strict=True):
            optimizer.zero_grad()
            (model(batch) - target).square().mean().backward()
            optimizer.step()
        trained[fused] = model
    assert len(calls) == len(windows)  # every fused step went through the fused function, once
    for fused, plain in zip(trained[True].parameters(), trained[False].parameters(), strict=True):
        torch.testing.assert_close(fused, plain, rtol=1e-4, atol=1e-5)
    model = trained[True]
    model.eval()
    with torch.no_grad():
        model(windows[0])
    assert len(calls) == len(windows)  # evaluation runs nn.GRU
    for bidirectional_lstm in (True, False):
        assert not RecurrentForecaster("lstm", 2, 8, 2, 0.0, bidirectional=bidirectional_lstm).fused_steps


def test_a_copied_or_pickled_bigru_starts_an_empty_workspace():
    model = RecurrentForecaster("gru", 2, 8, 2, 0.0, bidirectional=True)
    model(torch.randn(4, 6, 2)).sum().backward()
    assert model._workspace._buffers  # kept after the backward
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert copied._workspace._buffers == {}
        windows = torch.randn(4, 6, 2)
        torch.testing.assert_close(copied(windows), model(windows))
