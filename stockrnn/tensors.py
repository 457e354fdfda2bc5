"""The panel as tensors on a device, and batched inference: what training and predict both need."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stockrnn.windows import Panel


class PanelTensors:
    """The panel on the training device, with batches gathered by window-end index (no window copies)."""

    def __init__(self, panel: Panel, lookback: int, device: torch.device):
        self.lookback = lookback
        self.features = torch.from_numpy(panel.features).to(device)  # (R, F)
        self.windows = self.features.unfold(0, lookback, 1)  # (R-L+1, F, L), a view
        self.target = self.features[:, panel.target_column]  # (R,)
        self.device = device

    def inputs(self, ends: torch.Tensor) -> torch.Tensor:
        return self.windows[ends - self.lookback + 1].transpose(1, 2)  # (B, L, F)

    def batch(self, ends: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.target[ends + 1]  # (B,) the next session's target
        return self.inputs(ends), y


@torch.no_grad()
def predict_scaled(
    model: nn.Module, data: PanelTensors, ends: np.ndarray, batch_size: int = 4096
) -> np.ndarray:
    """The model's outputs for the windows ending on `ends`, in eval mode, on the CPU as float64."""
    model.eval()
    index = torch.from_numpy(ends).to(data.device)
    out = [model(data.inputs(chunk)).float().cpu() for chunk in index.split(batch_size)]
    return torch.cat(out).numpy().astype("float64") if out else np.empty(0)
