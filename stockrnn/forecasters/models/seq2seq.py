"""`seq2seq`: a recurrent encoder over the window and a recurrent decoder unrolled over the H horizons.

Decoding step h is fed the value of step h-1 (step 1: the window's last observed target) and gives
the Q quantiles of horizon h. In training, scheduled sampling (Bengio et al., 2015) picks per row and
step whether that input is the true previous value (teacher forcing) or the model's own median: the
training loop raises `sampling_probability` from 0 to model.sampling_max over the epochs, so the
decoder learns on the kind of input it gets at inference, where it is always its own forecast.

Sequence training (`forward_every_step`) runs the encoder along a stretch with its state carried,
as the recurrent stack does, and unrolls the decoder from the encoder's state at every step: one
encoder step per session instead of a lookback-long window per target.
"""

from __future__ import annotations

import torch
from torch import nn

from stockrnn.forecasters.models.heads import CELLS, encode, to_quantiles


class Seq2SeqForecaster(nn.Module):
    teacher_forced = True  # the training loop passes the true targets to forward
    carries_state = True  # a one-directional encoder: sequence training can carry its state

    def __init__(
        self,
        cell: str,
        n_features: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        horizon: int = 1,
        levels: tuple[float, ...] = (0.5,),
    ):
        super().__init__()
        stacked_dropout = dropout if num_layers > 1 else 0.0
        self.encoder = CELLS[cell](
            n_features, hidden_size, num_layers, batch_first=True, dropout=stacked_dropout
        )
        # One input per step: the previous horizon's normalised value.
        self.decoder = CELLS[cell](1, hidden_size, num_layers, batch_first=True, dropout=stacked_dropout)
        self.horizon = horizon
        self.levels = tuple(levels)
        self.median_index = self.levels.index(0.5)
        self.head = nn.Linear(self._output_size(hidden_size), len(levels))
        self.sampling_probability = 0.0  # chance of feeding the own forecast in training; set per epoch

    def _output_size(self, hidden_size: int) -> int:
        return hidden_size

    def _step_output(
        self, decoded: torch.Tensor, encoded: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, hidden) decoder output -> (B, hidden) features for the head; attention overrides this."""
        return decoded

    def forward(
        self,
        windows: torch.Tensor,
        lengths: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # windows: (B, L, F), the target in column 0; targets: (B, H) true normalised values, training only
        encoded, state = encode(self.encoder, windows, lengths)  # (B, L, hidden), final state
        mask = None if lengths is None else self._padding_mask(windows, lengths)  # (B, L) True: padding
        return self._decode(state, windows[:, -1, :1], encoded, mask, targets)

    def warm_up(self, sequences: torch.Tensor):
        """Sequence training's warm-up over (B, W, F), no forecasts: the state to carry into its
        first target step, (encoder state, the W encoder outputs)."""
        encoded, state = self.encoder(sequences)
        return state, encoded

    def forward_every_step(self, sequences: torch.Tensor, state=None, targets: torch.Tensor | None = None):
        """A forecast after every step of (B, T, F), each decoded from the encoder's state (every
        layer's) at that step; targets (B, T, H) for teacher forcing. Returns (B, T, H, Q) and the
        state to carry on."""
        batch, steps, _ = sequences.shape
        encoder_state, memory = state if state is not None else (None, None)
        outputs, starts = [], []
        for t in range(steps):  # step by step: the decoder starts from every layer's state, not the top's
            output, encoder_state = self.encoder(sequences[:, t : t + 1], encoder_state)  # (B, 1, hidden)
            outputs.append(output)
            starts.append(encoder_state)
        encoded = torch.cat(outputs, dim=1)  # (B, T, hidden)
        if memory is not None:
            encoded = torch.cat([memory, encoded], dim=1)  # (B, W+T, hidden)
        window = encoded.shape[1] - steps + 1  # the lookback a window-mode step would have seen
        forecasts = self._decode(
            _every_step(starts),  # (layers, B*T, hidden), row b*T + t
            sequences[..., :1].reshape(batch * steps, 1),  # each step's own last observed value
            self._attended(encoded, window),
            None,
            None if targets is None else targets.flatten(0, 1),  # (B*T, H)
        )
        recent = encoded[:, encoded.shape[1] - window + 1 :]  # (B, W, hidden): what the next step attends to
        return forecasts.unflatten(0, (batch, steps)), (encoder_state, recent)

    def _attended(self, encoded: torch.Tensor, window: int) -> torch.Tensor | None:
        """What the decoder of each step may attend over; nothing here (attention overrides this)."""
        return None

    def _decode(self, state, previous: torch.Tensor, encoded, mask, targets) -> torch.Tensor:
        """The H decoding steps from the encoder's final `state`, step 1 fed `previous` (B, 1)."""
        steps = []
        for h in range(self.horizon):
            decoded, state = self.decoder(previous[:, None, :], state)  # (B, 1, hidden)
            quantiles = to_quantiles(self.head(self._step_output(decoded[:, 0], encoded, mask)), self.levels)
            steps.append(quantiles)  # (B, Q)
            own = quantiles[:, self.median_index : self.median_index + 1].detach()  # (B, 1)
            previous = own if targets is None or not self.training else self._mix(own, targets[:, h : h + 1])
        return torch.stack(steps, dim=1)  # (B, H, Q)

    def _mix(self, own: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """Scheduled sampling: per row, the own forecast with probability p, else the truth."""
        if self.sampling_probability <= 0:
            return truth
        if self.sampling_probability >= 1:
            return own
        use_own = torch.rand(own.shape[0], 1, device=own.device) < self.sampling_probability
        return torch.where(use_own, own, truth)

    @staticmethod
    def _padding_mask(windows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(windows.shape[1], device=windows.device)
        return steps[None, :] < (windows.shape[1] - lengths.to(windows.device))[:, None]


def _every_step(states: list):
    """T states of (layers, B, hidden) (an LSTM's: (h, c) pairs) -> one of (layers, B*T, hidden)."""
    if isinstance(states[0], tuple):
        return tuple(_every_step([state[i] for state in states]) for i in range(len(states[0])))
    return torch.stack(states, dim=2).flatten(1, 2)
