"""The training loop, written out plainly: shuffled mini-batches of windows, Adam, an MSE/MAE/Huber loss, gradient
clipping, early stopping on validation loss, best weights restored at the end."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from stockrnn.config import TrainingConfig
from stockrnn.errors import ConfigError, DataError
from stockrnn.windows import Panel

LOSSES = {"mse": nn.functional.mse_loss, "mae": nn.functional.l1_loss, "huber": nn.functional.huber_loss}


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

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([h.seconds for h in self.history])) if self.history else 0.0


class PanelTensors:
    """The panel on the training device, with batches gathered by window-end index (no window copies)."""

    def __init__(self, panel: Panel, lookback: int, device: torch.device):
        self.lookback = lookback
        self.features = torch.from_numpy(panel.features).to(device)  # (R, F)
        self.windows = self.features.unfold(0, lookback, 1)  # (R-L+1, F, L), a view
        self.target = self.features[:, panel.target_column]  # (R,)
        self.device = device

    def batch(self, ends: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.windows[ends - self.lookback + 1].transpose(1, 2)  # (B, L, F)
        y = self.target[ends + 1]  # (B,) the next session's target
        return x, y


@torch.no_grad()
def predict_scaled(
    model: nn.Module, data: PanelTensors, ends: np.ndarray, batch_size: int = 4096
) -> np.ndarray:
    model.eval()
    index = torch.from_numpy(ends).to(data.device)
    out = [model(data.batch(chunk)[0]).float().cpu() for chunk in index.split(batch_size)]
    return torch.cat(out).numpy().astype("float64") if out else np.empty(0)


@torch.no_grad()
def _mean_loss(model: nn.Module, data: PanelTensors, ends: torch.Tensor, loss_fn, batch_size: int) -> float:
    model.eval()
    total, count = 0.0, 0
    for chunk in ends.split(batch_size):
        x, y = data.batch(chunk)
        total += loss_fn(model(x), y, reduction="sum").item()
        count += len(chunk)
    return total / max(count, 1)


def train_model(
    model: nn.Module,
    panel: Panel,
    train_ends: np.ndarray,
    val_ends: np.ndarray,
    lookback: int,
    config: TrainingConfig,
    device: torch.device,
    on_epoch: Callable[[EpochReport, int], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train in place; on return the model holds the weights of its best validation epoch."""
    torch.manual_seed(config.seed)
    shuffler = torch.Generator().manual_seed(config.seed)
    model.to(device)
    data = PanelTensors(panel, lookback, device)
    train_index = torch.from_numpy(train_ends).to(device)
    val_index = torch.from_numpy(val_ends).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    result = TrainResult(best_epoch=0, best_val_loss=float("inf"))
    best_state = copy.deepcopy(model.state_dict())
    loss_fn = LOSSES[config.loss]
    n_batches = (len(train_ends) + config.batch_size - 1) // config.batch_size

    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = train_index[torch.randperm(len(train_index), generator=shuffler).to(device)]
        train_total = 0.0
        for batch_number, ends in enumerate(order.split(config.batch_size), start=1):
            x, y = data.batch(ends)
            loss = loss_fn(model(x), y)
            if not torch.isfinite(loss):
                raise DataError(
                    f"training diverged: the loss is {loss.item()} at epoch {epoch}, batch {batch_number}; "
                    "lower training.learning_rate or check the input prices (nothing was saved)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            train_total += loss.item() * len(ends)
            if on_batch:
                on_batch(batch_number, n_batches)
        val_loss = _mean_loss(model, data, val_index, loss_fn, 4096)
        report = EpochReport(epoch, train_total / len(train_ends), val_loss, time.perf_counter() - started)
        result.history.append(report)
        if on_epoch:
            on_epoch(report, config.epochs)
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - result.best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    return result
