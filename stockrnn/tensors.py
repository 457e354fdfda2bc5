"""The panel as tensors on a device, and batched inference: what training and predict both need."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stockrnn.targets import training_targets
from stockrnn.windows import Panel


class PanelTensors:
    """The panel on the training device, with batches gathered by window-end index (no window copies)."""

    def __init__(self, panel: Panel, lookback: int, device: torch.device, horizon: int = 1):
        self.lookback = lookback
        self.features = torch.from_numpy(panel.features).to(device)  # (R, F)
        self.windows = self.features.unfold(0, lookback, 1)  # (R-L+1, F, L), a view
        self.targets = torch.from_numpy(training_targets(panel, horizon)).to(device)  # (R, H), NaN: none
        self.device = device

    def inputs(self, ends: torch.Tensor) -> torch.Tensor:
        return self.windows[ends - self.lookback + 1].transpose(1, 2)  # (B, L, F)

    def batch(self, ends: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs(ends), self.targets[ends]  # (B, L, F), (B, H)


@torch.no_grad()
def predict_scaled(
    model: nn.Module, data: PanelTensors, ends: np.ndarray, batch_size: int = 4096
) -> np.ndarray:
    """(N, H, Q) model outputs for the windows ending on `ends`, in eval mode, as float64."""
    model.eval()
    index = torch.from_numpy(np.asarray(ends, dtype=np.int64)).to(data.device)
    out = [model(data.inputs(chunk)).float().cpu() for chunk in index.split(batch_size)]
    return torch.cat(out).numpy().astype("float64")
