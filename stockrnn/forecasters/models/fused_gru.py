"""A GRU stack's training step on the CPU over windows, one or two directions at once, backward by hand.

Window mode runs the stack over every window (30k windows x 60 sessions on the panel), and the
bigru can train no other way (its backward direction starts at each origin). `nn.GRU` does that
with PyTorch's generic per-step kernels under autograd, about a dozen small ops per step and
direction and a weight-gradient matmul per step. Here, per layer and step, one batched matmul
serves both directions; the weight gradients are one matmul per layer over all steps; every
intermediate lives in a workspace kept from batch to batch (glibc maps every allocation above 32
MiB afresh: the 63 MB of gate gradients at a batch of 512 took 24 ms to allocate and fill, 1.2 ms
reused); each step's views are made in one `unbind` per buffer, not indexed in the loop; and
dropout between layers takes its masks from models/dropout.py (a quarter of torch's random draws:
bernoulli_ took 40-55 ms a step for the bigru's (60, 512, 128) mask, 17-23 ms there). The maths and
the parameters are nn.GRU's (it reads the module's): without dropout a seed trains the network
nn.GRU would, up to float rounding; with it, the masks differ. Evaluation, CUDA, packed (padded)
windows, autocast and sequence mode go through `nn.GRU`.

Layout: D directions (1 or 2); direction 0 reads the window forwards, direction 1 backwards, so
step s of direction 1 is session T-1-s. Buffers are (D, T, B, .) direction-major (one matmul per
direction over all steps) or (T, D, B, .) step-major (one contiguous (D, B, .) slice per step).
"""

from __future__ import annotations

import torch
from torch import nn

from stockrnn.forecasters.models.dropout import scaled_keep_mask


def fused_applies(windows: torch.Tensor, lengths) -> bool:
    """Whether a GRU's fused steps can run on this batch (the caller knows the module)."""
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
    holds 451 MiB for the bigru at the panel's batch of 512 (60 sessions, hidden 64, two layers)
    and is freed with the model; copying or pickling a model starts an empty one.
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


def fused_gru_states(gru: nn.GRU, workspace: Workspace, windows: torch.Tensor) -> torch.Tensor:
    """(B, T, F) windows -> the final states (num_layers * D, B, hidden), as `gru(windows)[1]`."""
    dropout = gru.dropout if gru.training and gru.num_layers > 1 else 0.0
    directions = 2 if gru.bidirectional else 1
    return _FusedGRU.apply(workspace, gru.num_layers, directions, dropout, windows, *gru._flat_weights)


def _buffer(buffers: dict, name: str, *shape: int, like: torch.Tensor) -> torch.Tensor:
    key = (name, shape, like.dtype)
    if key not in buffers:
        buffers[key] = like.new_empty(shape)
    return buffers[key]


class _FusedGRU(torch.autograd.Function):
    """The whole stack as one autograd node: forward keeps what backward needs in the workspace."""

    @staticmethod
    def forward(ctx, workspace, num_layers, D, dropout, windows, *flat_weights):
        ctx.set_materialize_grads(False)
        buffers = workspace.take()
        B, T, _ = windows.shape
        h = flat_weights[1].shape[-1]
        saved, finals, hs = [], [], None
        for layer in range(num_layers):
            # (D, 3h, width), (D, 3h, h), (D, 3h), (D, 3h)
            w_ih, w_hh, b_ih, b_hh = _stacked(flat_weights, layer, D)
            width = w_ih.shape[-1]
            reads = _buffer(buffers, f"in{layer}", D, T, B, width, like=windows)
            mask = None
            if layer > 0 and dropout > 0:
                mask = scaled_keep_mask(dropout, _buffer(buffers, f"mask{layer}", T, B, width, like=windows))
            # reads[0]: the layer's input by session (dropped out), reads[1] (D = 2): read backwards
            _fill_reads(windows.transpose(0, 1) if hs is None else hs, reads, mask)
            gi = _buffer(buffers, f"gi{layer}", D, T, B, 3 * h, like=windows)
            torch.baddbmm(
                b_ih[:, None], reads.view(D, T * B, width), w_ih.transpose(1, 2), out=gi.view(D, T * B, 3 * h)
            )
            hs = _buffer(buffers, f"hs{layer}", D, T + 1, B, h, like=windows)  # hs[:, s + 1]: after step s
            gh = _buffer(buffers, f"gh{layer}", T, D, B, 3 * h, like=windows)
            rz = _buffer(buffers, f"rz{layer}", T, D, B, 2 * h, like=windows)  # reset and update gates
            n = _buffer(buffers, f"n{layer}", T, D, B, h, like=windows)  # candidate states
            hs[:, 0] = 0
            w_hh_t, bias = w_hh.transpose(1, 2), b_hh[:, None]
            # Per-step (D, B, .) views, each set made in one call: indexing in the loop costs more
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
                torch.baddbmm(bias, before, w_hh_t, out=gh_s)  # (D, B, 3h)
                torch.add(gi_rz, gh_rz, out=rz_s).sigmoid_()
                torch.addcmul(gi_n, r, gh_n, out=n_s).tanh_()  # n = tanh(gi_n + r * gh_n)
                torch.lerp(n_s, before, z, out=after)  # h' = (1 - z) n + z h
            finals += list(hs[:, T])
            saved.append((w_ih, w_hh, reads, mask, hs, gh, rz, n))
        ctx.workspace, ctx.buffers, ctx.layers = workspace, buffers, saved
        ctx.n_weights = len(flat_weights)
        return torch.stack(finals)  # (num_layers * D, B, h)

    @staticmethod
    def backward(ctx, d_finals):
        if ctx.buffers is None:  # the buffers went back to the workspace, perhaps reused since
            raise RuntimeError("the fused GRU steps support one backward pass per forward")
        buffers, ctx.buffers = ctx.buffers, None
        num_layers = len(ctx.layers)
        d_weights: list[torch.Tensor | None] = [None] * ctx.n_weights
        d_below = None  # (T, B, width) gradient of the layer's input, the layer below's outputs
        for layer in range(num_layers - 1, -1, -1):
            w_ih, w_hh, reads, mask, hs, gh, rz, n = ctx.layers[layer]
            D, T, B, width = reads.shape
            h = hs.shape[-1]
            dh = (
                d_finals[D * layer : D * (layer + 1)].clone()
                if d_finals is not None
                else hs.new_zeros(D, B, h)
            )
            dg = _buffer(buffers, "dg", D, T, B, 4 * h, like=hs)  # d r-pre, d z-pre, d gh_n, d gi_n
            # the layer above read step s of direction 0 at session s, of direction 1 at session T-1-s
            above = (
                [d_below[..., d * h : (d + 1) * h].unbind(0) for d in range(D)]
                if d_below is not None
                else None
            )
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
                    if D == 2:
                        dh[1] += above[1][T - 1 - s]
                dn = dh * (1 - z)  # the gradient reaching the candidate state
                da = torch.mul(dn, torch.addcmul(_ONE, cand, cand, value=-1), out=d_gi_n)  # through tanh
                torch.mul(da, gh_n, out=d_r).mul_(torch.addcmul(r, r, r, value=-1))  # sigmoid' = r - r^2
                torch.mul(dn, after - cand, out=d_z)  # dh (h - n) z (1 - z), as h' - n = z (h - n)
                torch.mul(da, r, out=d_gh_n)
                dh = torch.baddbmm(dh * z, d_gh, w_hh)  # (D, B, h) into step s - 1
            rows = dg.view(D, T * B, 4 * h)
            gate_rows, cand_rows = rows[..., : 2 * h], rows[..., 3 * h :]  # d gi, split around d gh_n
            ones = _buffer(buffers, "ones", D, 1, T * B, like=hs).fill_(1)
            sums = torch.bmm(ones, rows)[:, 0]  # (D, 4h): as a matmul, 3.6 ms against sum(1)'s 5.8
            d_w_hh = torch.bmm(rows[..., : 3 * h].transpose(1, 2), hs[:, :-1].reshape(D, T * B, h))
            # inputs^T rows, transposed after: twice as fast as rows^T inputs when the input is one feature
            inputs = reads.view(D, T * B, width).transpose(1, 2)  # (D, width, T * B)
            d_w_ih_t = torch.cat([torch.bmm(inputs, gate_rows), torch.bmm(inputs, cand_rows)], 2)
            d_w_ih = d_w_ih_t.transpose(1, 2)  # (D, 3h, width)
            d_b_ih = torch.cat([sums[:, : 2 * h], sums[:, 3 * h :]], 1)
            d_b_hh = sums[:, : 3 * h]
            for direction in range(D):  # _flat_weights: per layer and direction w_ih, w_hh, b_ih, b_hh
                first = 4 * (D * layer + direction)
                d_weights[first : first + 4] = [
                    grads[direction] for grads in (d_w_ih, d_w_hh, d_b_ih, d_b_hh)
                ]
            if layer == 0 and not ctx.needs_input_grad[4]:
                break
            d_reads = _buffer(buffers, "d_reads", D, T * B, width, like=hs)
            torch.bmm(gate_rows, w_ih[:, : 2 * h], out=d_reads).baddbmm_(cand_rows, w_ih[:, 2 * h :])
            d_below = _input_gradient(
                d_reads.view(D, T, B, width), mask, _buffer(buffers, "d_below", T, B, width, like=hs)
            )
        d_windows = d_below.transpose(0, 1).clone() if ctx.needs_input_grad[4] else None
        ctx.workspace.give_back(buffers)
        return (None, None, None, None, d_windows, *d_weights)


_ONE = torch.tensor(1.0)  # broadcast as addcmul's input: 1 - x * x in one op


def _stacked(flat_weights, layer: int, D: int):
    """Layer `layer`'s (w_ih, w_hh, b_ih, b_hh), each its D directions stacked on a first dim."""
    per_direction = [flat_weights[4 * (D * layer + d) : 4 * (D * layer + d + 1)] for d in range(D)]
    return tuple(torch.stack(weights) for weights in zip(*per_direction, strict=True))


def _fill_reads(below: torch.Tensor, reads: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Fill reads (D, T, B, width) with a layer's input by session (dropped out by mask), and for
    D = 2 the same read backwards.

    below: the windows (T, B, F), or the layer below's step-ordered states (D, T + 1, B, h), whose
    output at session t is forward state t + 1 | backward state T - t.
    """
    if below.dim() == 3:
        reads[0].copy_(below)
    else:
        h = below.shape[-1]
        reads[0, :, :, :h] = below[0, 1:]
        if len(reads) == 2:  # the layer below has as many directions as this one
            reads[0, :, :, h:] = below[1, 1:].flip(0)
    if mask is not None:
        reads[0].mul_(mask)
    if len(reads) == 2:
        reads[1] = reads[0].flip(0)


def _input_gradient(d_reads: torch.Tensor, mask: torch.Tensor | None, d_input: torch.Tensor) -> torch.Tensor:
    """(D, T, B, width) gradients of the reads -> d_input (T, B, width), the layer's input's."""
    if len(d_reads) == 2:
        torch.add(d_reads[0], d_reads[1].flip(0), out=d_input)
    else:
        d_input.copy_(d_reads[0])
    return d_input.mul_(mask) if mask is not None else d_input
