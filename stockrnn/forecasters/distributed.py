"""Data-parallel training across processes with torch.distributed, as launched by torchrun.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them (or with WORLD_SIZE=1) everything here
is a no-op and training is the plain single-process loop. Each rank trains on its own share of every
epoch's batches, gradients are averaged across ranks before each optimizer step, so the weights stay
identical everywhere; only rank 0 writes the run and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1

    def shard(self, batches: list) -> list:
        """This rank's share of the epoch's batches; every rank takes the same number of steps."""
        usable = len(batches) - len(batches) % self.size if len(batches) >= self.size else len(batches)
        return batches[self.rank : usable : self.size] if self.active else batches

    def average_gradients(self, model: torch.nn.Module, loss: torch.Tensor) -> torch.Tensor:
        """Average the gradients, and the loss with them, across ranks; return the mean loss.

        The loss travels in the same all-reduce so that a diverged rank is seen by every rank,
        which then all stop together instead of waiting on one another.
        """
        if not self.active:
            return loss
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        flat = torch.cat([loss.reshape(1), *(g.reshape(-1) for g in grads)])  # one all-reduce: (1 + P,)
        dist.all_reduce(flat)
        flat /= self.size
        offset = 1
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        return flat[0]

    def broadcast_weights(self, model: torch.nn.Module) -> None:
        """Start every rank from rank 0's initial weights."""
        if self.active:
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, src=0)


SINGLE = World()


def world_from_env(device_kind: str) -> World:
    """Join the process group torchrun describes: NCCL for CUDA, gloo for the CPU."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return World(
        rank=dist.get_rank(), size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", 0))
    )


def leave(world: World) -> None:
    if world.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
