"""The training loop, written out plainly: shuffled mini-batches, Adam, a pinball loss over quantile
levels and horizons (or MSE/MAE/Huber for a point forecast), gradient clipping, early stopping on
validation loss, best weights restored at the end.

Two ways to cut the training split into batches, both validated on the same windows:
- "window": one target per lookback-long window, as the textbook loop does.
- "sequence": contiguous stretches of one ticker; the first lookback-1 steps only warm up the hidden
  state (no gradient: truncated backpropagation), then every step forecasts its next H sessions. Each
  target still sees at least `lookback` sessions, and a stretch of T targets costs lookback-1+T
  steps instead of T*lookback, so an epoch takes a fraction of the compute.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from stockrnn.config.schema import TrainingConfig
from stockrnn.dataset.windows import Panel
from stockrnn.errors import ConfigError, DataError, Interrupted
from stockrnn.forecasters.distributed import SINGLE, World
from stockrnn.forecasters.tensors import PanelTensors, inference_batch_size

POINT_LOSSES = {
    "mse": nn.functional.mse_loss,
    "mae": nn.functional.l1_loss,
    "huber": nn.functional.huber_loss,
}


def make_loss(name: str, levels: tuple[float, ...]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """loss(forecast (..., H, Q), target (..., H)) -> (..., H), each element averaged over levels.

    Several levels: the pinball (quantile) loss. One level (a point forecast): the named point loss.
    """
    if len(levels) == 1:
        point = POINT_LOSSES[name]
        return lambda forecast, target: point(forecast[..., 0], target, reduction="none")
    tau = torch.tensor(levels)

    def pinball(forecast: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        error = target.unsqueeze(-1) - forecast  # (..., H, Q)
        t = tau.to(forecast.device)
        return torch.maximum(t * error, (t - 1) * error).mean(-1)

    return pinball


def _masked_mean(losses: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean over the kept, finite-target elements; their count."""
    keep = keep & torch.isfinite(target)
    return losses[keep].mean(), int(keep.sum())


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA if present, else Apple's MPS, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device = 'cuda' but no CUDA device is available; use auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("training.device = 'mps' but MPS is not available; use auto or cpu")
    return torch.device(name)


def sampling_probability(epoch: int, epochs: int, sampling_max: float) -> float:
    """Scheduled sampling's chance of feeding the decoder its own forecast: linear from 0 in the first
    epoch to sampling_max in the last (Bengio et al., 2015, with a linear decay of teacher forcing)."""
    return sampling_max * (epoch - 1) / max(epochs - 1, 1)


@dataclass
class EpochReport:
    epoch: int
    train_loss: float
    val_loss: float
    seconds: float


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float
    history: list[EpochReport] = field(default_factory=list)
    processes: int = 1  # torchrun ranks that trained together
    interrupted_by: int | None = None  # the signal that stopped training after a completed epoch

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([h.seconds for h in self.history])) if self.history else 0.0


class WindowBatches:
    """Shuffled batches of window ends; a batch is `batch_size` windows with one target each."""

    def __init__(self, data: PanelTensors, train_ends: np.ndarray, batch_size: int):
        self.data = data
        self.index = torch.from_numpy(train_ends).to(data.device)
        self.batch_size = batch_size

    def epoch(self, shuffler: torch.Generator):
        order = self.index[torch.randperm(len(self.index), generator=shuffler).to(self.data.device)]
        return order.split(self.batch_size)

    def loss(self, model: nn.Module | CompiledSteps, ends: torch.Tensor, loss_fn) -> tuple[torch.Tensor, int]:
        x, lengths, y = self.data.batch(ends)  # (B, L, F), (B,) or None, (B, H)
        # An encoder-decoder is shown the true targets, for teacher forcing; any other model is not.
        teacher = {"targets": y.nan_to_num()} if getattr(model, "teacher_forced", False) else {}
        return _masked_mean(
            loss_fn(model(x, lengths, **teacher).float(), y.nan_to_num()),
            y,
            torch.ones_like(y, dtype=torch.bool),
        )


class SequenceBatches:
    """Shuffled batches of contiguous stretches of `length` targets, each after a lookback-1 warm-up."""

    def __init__(self, data: PanelTensors, train_ends: np.ndarray, length: int, sequences_per_batch: int):
        self.data = data
        self.length = length
        self.per_batch = sequences_per_batch
        # Runs of consecutive window ends: one per ticker (the split keeps each ticker's ends contiguous).
        breaks = np.flatnonzero(np.diff(train_ends) != 1) + 1
        self.runs = [(int(run[0]), len(run)) for run in np.split(train_ends, breaks)]
        self.warmup = data.lookback - 1
        self.steps = torch.arange(self.warmup + length, device=data.device)  # (W+T,)

    def epoch(self, shuffler: torch.Generator):
        # A fresh random phase each epoch, so stretch boundaries fall on different sessions.
        offset = int(torch.randint(self.length, (1,), generator=shuffler))
        firsts, sizes = [], []
        for first, n in self.runs:
            cuts = np.unique(np.clip(np.arange(-offset, n + self.length, self.length), 0, n))
            firsts.extend(first + cuts[:-1])
            sizes.extend(np.diff(cuts))
        firsts = torch.tensor(firsts, device=self.data.device)
        sizes = torch.tensor(sizes, device=self.data.device)
        order = torch.randperm(len(firsts), generator=shuffler).to(self.data.device)
        return [(firsts[i], sizes[i]) for i in order.split(self.per_batch)]

    def loss(self, model: nn.Module | CompiledSteps, batch, loss_fn) -> tuple[torch.Tensor, int]:
        firsts, sizes = batch  # (B,), (B,): first window end of each stretch and its target count
        last_row = len(self.data.features) - 1
        rows = (firsts[:, None] - self.warmup + self.steps[None, :]).clamp(max=last_row - 1)  # (B, W+T)
        x = self.data.features[rows]  # (B, W+T, F)
        y = self.data.targets[rows[:, self.warmup :]]  # (B, T, H): each step's targets 1..H ahead
        # An encoder-decoder is shown the true targets, for teacher forcing; any other model is not.
        teacher = {"targets": y.nan_to_num()} if getattr(model, "teacher_forced", False) else {}
        with torch.no_grad():  # warm-up: context for the first target, no gradient through it
            state = model.warm_up(x[:, : self.warmup]) if self.warmup else None
        predicted, _ = model.forward_every_step(x[:, self.warmup :], state, **teacher)  # (B, T, H, Q)
        # Steps past a short stretch's end are masked; so is any target outside the training windows.
        counted = self.steps[None, : self.length] < sizes[:, None]  # (B, T)
        losses = loss_fn(predicted.float(), y.nan_to_num())  # (B, T, H)
        return _masked_mean(losses, y, counted[..., None].expand_as(y))


class CompiledSteps:
    """The model's two forward paths through torch.compile, for training steps only: validation,
    evaluation and predict stay eager, so they add no compiles and the model object is unchanged."""

    def __init__(self, model: nn.Module):
        torch._dynamo.config.allow_rnn = True  # without it dynamo leaves nn.GRU/LSTM to eager
        self._forward = torch.compile(model.forward)
        self.teacher_forced = getattr(model, "teacher_forced", False)
        if hasattr(model, "forward_every_step"):
            self.warm_up = model.warm_up  # under no_grad, once per batch: not worth a compile
            self.forward_every_step = torch.compile(model.forward_every_step)

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return self._forward(*args, **kwargs)


def _autocast(device: torch.device, precision: str) -> torch.autocast:
    """bf16: the step's matmuls run in bfloat16 where the device's autocast casts them; weights,
    optimizer state and the loss stay fp32. Validation and forecasts always run in fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.inference_mode()
def _mean_loss(model: nn.Module, data: PanelTensors, ends: torch.Tensor, loss_fn) -> float:
    model.eval()
    total, count = 0.0, 0
    for chunk in ends.split(inference_batch_size(data.device)):
        x, lengths, y = data.batch(chunk)
        total += loss_fn(model(x, lengths), y.nan_to_num())[torch.isfinite(y)].sum().item()
        count += int(torch.isfinite(y).sum())
    return total / max(count, 1)


def train_model(
    model: nn.Module,
    panel: Panel,
    train_ends: np.ndarray,
    val_ends: np.ndarray,
    lookback: int,
    config: TrainingConfig,
    device: torch.device,
    horizon: int = 1,
    levels: tuple[float, ...] = (0.5,),
    on_epoch: Callable[[EpochReport, int], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    world: World = SINGLE,
    min_history: int | None = None,
    sampling_max: float = 0.0,
) -> TrainResult:
    """Train in place; on return the model holds the weights of its best validation epoch.

    Under torchrun every rank shuffles identically (same seed), takes its share of the batches and
    averages gradients, so all ranks hold the same weights and reach the same early-stopping decision.
    """
    torch.manual_seed(config.seed)
    shuffler = torch.Generator().manual_seed(config.seed)
    model.to(device)
    world.broadcast_weights(model)
    data = PanelTensors(panel, lookback, device, horizon, min_history)
    mode = config.mode
    if mode == "auto":  # a bare TrainingConfig; a whole Config resolves this when it is validated
        mode = "sequence" if getattr(model, "carries_state", False) and not data.padded else "window"
    if mode == "sequence":
        batches = SequenceBatches(data, train_ends, config.sequence_length, config.sequences_per_batch)
    else:
        batches = WindowBatches(data, train_ends, config.batch_size)
    val_index = torch.from_numpy(val_ends).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    result = TrainResult(best_epoch=0, best_val_loss=float("inf"))
    best_state = copy.deepcopy(model.state_dict())
    loss_fn = make_loss(config.loss, levels)
    steps = CompiledSteps(model) if config.compile else model

    try:
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            model.train()
            if hasattr(model, "sampling_probability"):
                model.sampling_probability = sampling_probability(epoch, config.epochs, sampling_max)
            epoch_batches = world.shard(list(batches.epoch(shuffler)))
            train_total, train_count = 0.0, 0
            for batch_number, batch in enumerate(epoch_batches, start=1):
                with _autocast(device, config.precision):
                    loss, count = batches.loss(steps, batch, loss_fn)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                mean_loss = world.average_gradients(model, loss.detach())  # every rank sees the same value
                if not torch.isfinite(mean_loss):
                    raise DataError(
                        f"training diverged: the loss is {mean_loss.item()} at epoch {epoch}, batch {batch_number}; "
                        "lower training.learning_rate or check the input prices (nothing was saved)"
                    )
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                train_total += loss.item() * count
                train_count += count
                if on_batch:
                    on_batch(batch_number, len(epoch_batches))
            val_loss = _mean_loss(model, data, val_index, loss_fn)
            report = EpochReport(epoch, train_total / train_count, val_loss, time.perf_counter() - started)
            result.history.append(report)
            improved = val_loss < result.best_val_loss
            if improved:
                # Copy first, then store all three at once, and only then say the epoch ended: a
                # Ctrl-C seen after "epoch N" must find that epoch kept, never a half-updated best.
                state = copy.deepcopy(model.state_dict())
                best_state, result.best_val_loss, result.best_epoch = state, val_loss, epoch
            if on_epoch:
                on_epoch(report, config.epochs)
            if not improved and epoch - result.best_epoch >= config.patience:
                break
    except Interrupted as exc:
        # Ctrl-C or SIGTERM: keep the best epoch so far, if there is one, and let the caller decide.
        if result.best_epoch == 0:
            raise
        result.interrupted_by = exc.signum
    model.load_state_dict(best_state)
    return result
