"""A bidirectional GRU stack's training step on the CPU: both directions at once, backward by hand.

The bigru trains in window mode (its backward direction starts at each origin), so an epoch runs
the stack over every window: 30k windows x 60 sessions on the panel. `nn.GRU` does that with
PyTorch's generic per-step kernels under autograd, about a dozen small ops per step and direction
and a weight-gradient matmul per step. Here, per layer and step, one batched matmul serves both
directions; the weight gradients are one matmul per layer over all steps; every intermediate
lives in a workspace kept from batch to batch (glibc maps every allocation above 32 MiB afresh:
the 63 MB of gate gradients at a batch of 512 took 24 ms to allocate and fill, 1.2 ms reused);
and tanh is 2 sigmoid(2x) - 1 (torch's CPU tanh took 94 us where sigmoid took 14 on (2, 512, 64)).
The maths and the parameters are nn.GRU's (it reads the module's), and dropout between layers
draws the same masks from the same generator, so a seed trains the same network up to float
rounding. Evaluation, CUDA, packed (padded) windows and autocast go through `nn.GRU`.

Layout: direction 0 reads the window forwards, direction 1 backwards, so step s of direction 1 is
session T-1-s. Buffers are (2, T, B, .) direction-major (one matmul per direction over all steps)
or (T, 2, B, .) step-major (one contiguous (2, B, .) slice per step).
"""

from __future__ import annotations

import torch
from torch import nn


def fused_applies(windows: torch.Tensor, lengths) -> bool:
    """Whether a bidirectional GRU's fused steps can run on this batch (the caller knows the module)."""
    return (
        lengths is None
        and torch.is_grad_enabled()
        and windows.device.type == "cpu"
        and windows.dtype in (torch.float32, torch.float64)
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


class Workspace:
    """Buffers kept from one training step to the next, so their pages are touched only once.

    A forward takes the workspace and its backward gives it back; a forward that finds it taken
    (its graph still alive) works in fresh buffers, so a saved tensor is never overwritten. It
    holds 451 MiB at the panel's batch of 512 (60 sessions, hidden 64, two layers) and is freed
    with the model; copying or pickling a model starts an empty one.
    """

    def __init__(self):
        self._buffers: dict[tuple, torch.Tensor] | None = {}

    def take(self) -> dict[tuple, torch.Tensor]:
        buffers, self._buffers = (self._buffers if self._buffers is not None else {}), None
        return buffers

    def give_back(self, buffers: dict[tuple, torch.Tensor]) -> None:
        self._buffers = buffers

    def __deepcopy__(self, memo):
        return Workspace()

    def __getstate__(self):
        return {"_buffers": {}}


def bidirectional_gru_states(gru: nn.GRU, workspace: Workspace, windows: torch.Tensor) -> torch.Tensor:
    """(B, T, F) windows -> the final states (num_layers * 2, B, hidden), as `gru(windows)[1]`."""
    dropout = gru.dropout if gru.training and gru.num_layers > 1 else 0.0
    return _BidirectionalGRU.apply(workspace, gru.num_layers, dropout, windows, *gru._flat_weights)


def _buffer(buffers: dict, name: str, *shape: int, like: torch.Tensor) -> torch.Tensor:
    key = (name, shape, like.dtype)
    if key not in buffers:
        buffers[key] = like.new_empty(shape)
    return buffers[key]


class _BidirectionalGRU(torch.autograd.Function):
    """The whole stack as one autograd node: forward keeps what backward needs in the workspace."""

    @staticmethod
    def forward(ctx, workspace, num_layers, dropout, windows, *flat_weights):
        ctx.set_materialize_grads(False)
        buffers = workspace.take()
        B, T, _ = windows.shape
        h = flat_weights[1].shape[-1]
        saved, finals, hs = [], [], None
        for layer in range(num_layers):
            w_ih, w_hh, b_ih, b_hh = _stacked(flat_weights, layer)  # (2, 3h, width), (2, 3h, h), (2, 3h) x2
            width = w_ih.shape[-1]
            both = _buffer(buffers, f"in{layer}", 2, T, B, width, like=windows)
            mask = None
            if layer > 0 and dropout > 0:
                mask = _buffer(buffers, f"mask{layer}", T, B, width, like=windows)
                mask.bernoulli_(1 - dropout).div_(1 - dropout)
            # both[0]: the layer's input by session (dropped out), both[1]: the same read backwards
            _both_ways(windows.transpose(0, 1) if hs is None else hs, both, mask)
            gi = _buffer(buffers, f"gi{layer}", 2, T, B, 3 * h, like=windows)
            torch.baddbmm(
                b_ih[:, None], both.view(2, T * B, width), w_ih.transpose(1, 2), out=gi.view(2, T * B, 3 * h)
            )
            gi[..., 2 * h :] *= 2  # tanh(a) = 2 sigmoid(2a) - 1: the candidate's input part doubled once
            hs = _buffer(buffers, f"hs{layer}", 2, T + 1, B, h, like=windows)  # hs[:, s + 1]: after step s
            gh = _buffer(buffers, f"gh{layer}", T, 2, B, 3 * h, like=windows)
            rz = _buffer(buffers, f"rz{layer}", T, 2, B, 2 * h, like=windows)  # reset and update gates
            n = _buffer(buffers, f"n{layer}", T, 2, B, h, like=windows)  # candidate states
            hs[:, 0] = 0
            w_hh_t, bias = w_hh.transpose(1, 2), b_hh[:, None]
            for s in range(T):
                torch.baddbmm(bias, hs[:, s], w_hh_t, out=gh[s])  # (2, B, 3h)
                torch.add(gi[:, s, :, : 2 * h], gh[s, :, :, : 2 * h], out=rz[s]).sigmoid_()
                r, z = rz[s, :, :, :h], rz[s, :, :, h:]
                torch.addcmul(gi[:, s, :, 2 * h :], r, gh[s, :, :, 2 * h :], value=2, out=n[s])
                n[s].sigmoid_().mul_(2).sub_(1)  # n = tanh(gi_n + r * gh_n)
                torch.lerp(n[s], hs[:, s], z, out=hs[:, s + 1])  # h' = (1 - z) n + z h
            finals += [hs[0, T], hs[1, T]]
            saved.append((w_ih, w_hh, both, mask, hs, gh, rz, n))
        ctx.workspace, ctx.buffers, ctx.layers = workspace, buffers, saved
        ctx.n_weights = len(flat_weights)
        return torch.stack(finals)  # (num_layers * 2, B, h)

    @staticmethod
    def backward(ctx, d_finals):
        if ctx.buffers is None:  # the buffers went back to the workspace, perhaps reused since
            raise RuntimeError("the fused bidirectional GRU supports one backward pass per forward")
        buffers, ctx.buffers = ctx.buffers, None
        num_layers = len(ctx.layers)
        d_weights: list[torch.Tensor | None] = [None] * ctx.n_weights
        d_below = None  # (T, B, width) gradient of the layer's input, the layer below's outputs
        for layer in range(num_layers - 1, -1, -1):
            w_ih, w_hh, both, mask, hs, gh, rz, n = ctx.layers[layer]
            _, T, B, width = both.shape
            h = hs.shape[-1]
            dh = (
                d_finals[2 * layer : 2 * layer + 2].clone() if d_finals is not None else hs.new_zeros(2, B, h)
            )
            dg = _buffer(buffers, "dg", 2, T, B, 4 * h, like=hs)  # d r-pre, d z-pre, d gh_n, d gi_n
            for s in range(T - 1, -1, -1):
                if d_below is not None:  # the layer above read this step's output
                    dh[0] += d_below[s, :, :h]
                    dh[1] += d_below[T - 1 - s, :, h:]
                r, z, cand, before = rz[s, :, :, :h], rz[s, :, :, h:], n[s], hs[:, s]
                da = torch.mul(dh * (1 - z), 1 - cand * cand, out=dg[:, s, :, 3 * h :])  # through tanh
                torch.mul(da, gh[s, :, :, 2 * h :], out=dg[:, s, :, :h]).mul_(r * (1 - r))
                torch.mul(dh * (before - cand), z * (1 - z), out=dg[:, s, :, h : 2 * h])
                torch.mul(da, r, out=dg[:, s, :, 2 * h : 3 * h])
                dh = torch.baddbmm(dh * z, dg[:, s, :, : 3 * h], w_hh)  # (2, B, h) into step s - 1
            rows = dg.view(2, T * B, 4 * h)
            gate_rows, cand_rows = rows[..., : 2 * h], rows[..., 3 * h :]  # d gi, split around d gh_n
            sums = rows.sum(1)  # (2, 4h)
            d_w_hh = torch.bmm(rows[..., : 3 * h].transpose(1, 2), hs[:, :-1].reshape(2, T * B, h))
            inputs = both.view(2, T * B, width)
            d_w_ih = torch.cat(
                [torch.bmm(gate_rows.transpose(1, 2), inputs), torch.bmm(cand_rows.transpose(1, 2), inputs)],
                1,
            )
            d_b_ih = torch.cat([sums[:, : 2 * h], sums[:, 3 * h :]], 1)
            d_b_hh = sums[:, : 3 * h]
            for direction in range(2):  # _flat_weights: per layer and direction w_ih, w_hh, b_ih, b_hh
                first = 4 * (2 * layer + direction)
                d_weights[first : first + 4] = [
                    grads[direction] for grads in (d_w_ih, d_w_hh, d_b_ih, d_b_hh)
                ]
            if layer == 0 and not ctx.needs_input_grad[3]:
                break
            d_both = _buffer(buffers, "d_both", 2, T * B, width, like=hs)
            torch.bmm(gate_rows, w_ih[:, : 2 * h], out=d_both).baddbmm_(cand_rows, w_ih[:, 2 * h :])
            d_below = _one_way(
                d_both.view(2, T, B, width), mask, _buffer(buffers, "d_below", T, B, width, like=hs)
            )
        d_windows = d_below.transpose(0, 1).clone() if ctx.needs_input_grad[3] else None
        ctx.workspace.give_back(buffers)
        return (None, None, None, d_windows, *d_weights)


def _stacked(flat_weights, layer: int):
    """Layer `layer`'s (w_ih, w_hh, b_ih, b_hh), each both directions stacked on a first dim of 2."""
    forward, backward = flat_weights[8 * layer : 8 * layer + 4], flat_weights[8 * layer + 4 : 8 * layer + 8]
    return tuple(torch.stack(pair) for pair in zip(forward, backward, strict=True))


def _both_ways(below: torch.Tensor, both: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Fill both (2, T, B, width) with a layer's input by session (dropped out by mask) and backwards.

    below: the windows (T, B, F), or the layer below's step-ordered states (2, T + 1, B, h), whose
    output at session t is forward state t + 1 | backward state T - t.
    """
    T = both.shape[1]
    if below.dim() == 3:
        both[0].copy_(below)
    else:
        h = below.shape[-1]
        both[0, :, :, :h] = below[0, 1:]
        for t in range(T):
            both[0, t, :, h:] = below[1, T - t]
    if mask is not None:
        both[0].mul_(mask)
    for s in range(T):
        both[1, s] = both[0, T - 1 - s]


def _one_way(d_both: torch.Tensor, mask: torch.Tensor | None, d_input: torch.Tensor) -> torch.Tensor:
    """(2, T, B, width) gradients of both readings -> d_input (T, B, width), the layer's input's."""
    T = d_both.shape[1]
    d_input.copy_(d_both[0])
    for s in range(T):
        d_input[s] += d_both[1, T - 1 - s]
    return d_input.mul_(mask) if mask is not None else d_input
