"""A bidirectional GRU stack's training step on the CPU: both directions at once, backward by hand.

The bigru trains in window mode (its backward direction starts at each origin), so an epoch runs
the stack over every window: 30k windows x 60 sessions on the panel. `nn.GRU` does that with
PyTorch's generic per-step kernels under autograd, about a dozen small ops per step and direction
and a weight-gradient matmul per step. Here, per layer and step, one batched matmul serves both
directions; the weight gradients are one matmul per layer over all steps; every intermediate
lives in a workspace kept from batch to batch (glibc maps every allocation above 32 MiB afresh:
the 63 MB of gate gradients at a batch of 512 took 24 ms to allocate and fill, 1.2 ms reused);
each step's views are made in one `unbind` per buffer, not indexed in the loop; and dropout
between layers takes its masks from models/dropout.py (a quarter of torch's random draws:
bernoulli_ took 40-55 ms a step for the (60, 512, 128) mask, 17-23 ms there). The maths and the
parameters are nn.GRU's (it reads the module's): without dropout a seed trains the network nn.GRU
would, up to float rounding; with it, the masks differ. Evaluation, CUDA, packed (padded)
windows and autocast go through `nn.GRU`.

Layout: direction 0 reads the window forwards, direction 1 backwards, so step s of direction 1 is
session T-1-s. Buffers are (2, T, B, .) direction-major (one matmul per direction over all steps)
or (T, 2, B, .) step-major (one contiguous (2, B, .) slice per step).
"""

from __future__ import annotations

import torch
from torch import nn

from stockrnn.forecasters.models.dropout import scaled_keep_mask


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
                mask = scaled_keep_mask(dropout, _buffer(buffers, f"mask{layer}", T, B, width, like=windows))
            # both[0]: the layer's input by session (dropped out), both[1]: the same read backwards
            _both_ways(windows.transpose(0, 1) if hs is None else hs, both, mask)
            gi = _buffer(buffers, f"gi{layer}", 2, T, B, 3 * h, like=windows)
            torch.baddbmm(
                b_ih[:, None], both.view(2, T * B, width), w_ih.transpose(1, 2), out=gi.view(2, T * B, 3 * h)
            )
            hs = _buffer(buffers, f"hs{layer}", 2, T + 1, B, h, like=windows)  # hs[:, s + 1]: after step s
            gh = _buffer(buffers, f"gh{layer}", T, 2, B, 3 * h, like=windows)
            rz = _buffer(buffers, f"rz{layer}", T, 2, B, 2 * h, like=windows)  # reset and update gates
            n = _buffer(buffers, f"n{layer}", T, 2, B, h, like=windows)  # candidate states
            hs[:, 0] = 0
            w_hh_t, bias = w_hh.transpose(1, 2), b_hh[:, None]
            # Per-step (2, B, .) views, each set made in one call: indexing in the loop costs more
            steps = zip(
                gi[..., : 2 * h].unbind(1),
                gi[..., 2 * h :].unbind(1),
                gh.unbind(0),
                gh[..., : 2 * h].unbind(0),
                gh[..., 2 * h :].unbind(0),
                rz.unbind(0),
                rz[..., :h].unbind(0),
                rz[..., h:].unbind(0),
                n.unbind(0),
                hs[:, :-1].unbind(1),
                hs[:, 1:].unbind(1),
                strict=True,
            )
            for gi_rz, gi_n, gh_s, gh_rz, gh_n, rz_s, r, z, n_s, before, after in steps:
                torch.baddbmm(bias, before, w_hh_t, out=gh_s)  # (2, B, 3h)
                torch.add(gi_rz, gh_rz, out=rz_s).sigmoid_()
                torch.addcmul(gi_n, r, gh_n, out=n_s).tanh_()  # n = tanh(gi_n + r * gh_n)
                torch.lerp(n_s, before, z, out=after)  # h' = (1 - z) n + z h
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
            above = (d_below[..., :h].unbind(0), d_below[..., h:].unbind(0)) if d_below is not None else None
            steps = list(
                zip(
                    rz[..., :h].unbind(0),
                    rz[..., h:].unbind(0),
                    n.unbind(0),
                    hs[:, 1:].unbind(1),
                    gh[..., 2 * h :].unbind(0),
                    dg[..., :h].unbind(1),
                    dg[..., h : 2 * h].unbind(1),
                    dg[..., 2 * h : 3 * h].unbind(1),
                    dg[..., 3 * h :].unbind(1),
                    dg[..., : 3 * h].unbind(1),
                    strict=True,
                )
            )
            for s in range(T - 1, -1, -1):
                r, z, cand, after, gh_n, d_r, d_z, d_gh_n, d_gi_n, d_gh = steps[s]
                if above is not None:  # the layer above read this step's output
                    dh[0] += above[0][s]
                    dh[1] += above[1][T - 1 - s]
                dn = dh * (1 - z)  # the gradient reaching the candidate state
                da = torch.mul(dn, torch.addcmul(_ONE, cand, cand, value=-1), out=d_gi_n)  # through tanh
                torch.mul(da, gh_n, out=d_r).mul_(torch.addcmul(r, r, r, value=-1))  # sigmoid' = r - r^2
                torch.mul(dn, after - cand, out=d_z)  # dh (h - n) z (1 - z), as h' - n = z (h - n)
                torch.mul(da, r, out=d_gh_n)
                dh = torch.baddbmm(dh * z, d_gh, w_hh)  # (2, B, h) into step s - 1
            rows = dg.view(2, T * B, 4 * h)
            gate_rows, cand_rows = rows[..., : 2 * h], rows[..., 3 * h :]  # d gi, split around d gh_n
            ones = _buffer(buffers, "ones", 2, 1, T * B, like=hs).fill_(1)
            sums = torch.bmm(ones, rows)[:, 0]  # (2, 4h): as a matmul, 3.6 ms against sum(1)'s 5.8
            d_w_hh = torch.bmm(rows[..., : 3 * h].transpose(1, 2), hs[:, :-1].reshape(2, T * B, h))
            # inputs^T rows, transposed after: twice as fast as rows^T inputs when the input is one feature
            inputs = both.view(2, T * B, width).transpose(1, 2)  # (2, width, T * B)
            d_w_ih_t = torch.cat([torch.bmm(inputs, gate_rows), torch.bmm(inputs, cand_rows)], 2)
            d_w_ih = d_w_ih_t.transpose(1, 2)  # (2, 3h, width)
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


_ONE = torch.tensor(1.0)  # broadcast as addcmul's input: 1 - x * x in one op


def _stacked(flat_weights, layer: int):
    """Layer `layer`'s (w_ih, w_hh, b_ih, b_hh), each both directions stacked on a first dim of 2."""
    forward, backward = flat_weights[8 * layer : 8 * layer + 4], flat_weights[8 * layer + 4 : 8 * layer + 8]
    return tuple(torch.stack(pair) for pair in zip(forward, backward, strict=True))


def _both_ways(below: torch.Tensor, both: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Fill both (2, T, B, width) with a layer's input by session (dropped out by mask) and backwards.

    below: the windows (T, B, F), or the layer below's step-ordered states (2, T + 1, B, h), whose
    output at session t is forward state t + 1 | backward state T - t.
    """
    if below.dim() == 3:
        both[0].copy_(below)
    else:
        h = below.shape[-1]
        both[0, :, :, :h] = below[0, 1:]
        both[0, :, :, h:] = below[1, 1:].flip(0)
    if mask is not None:
        both[0].mul_(mask)
    both[1] = both[0].flip(0)


def _one_way(d_both: torch.Tensor, mask: torch.Tensor | None, d_input: torch.Tensor) -> torch.Tensor:
    """(2, T, B, width) gradients of both readings -> d_input (T, B, width), the layer's input's."""
    torch.add(d_both[0], d_both[1].flip(0), out=d_input)
    return d_input.mul_(mask) if mask is not None else d_input
