"""Typed training configuration: every section, key, default and cross-key rule, in this one place.

The model defaults here are the packaged defaults; configs/default.toml spells out the same values
(a test keeps the two identical), so `stockrnn train` works from any directory. Reading a TOML file
and `--set` overrides into a Config is config_file's job.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    tickers: list[str] = Field(default_factory=lambda: ["GSPC"], min_length=1)
    exchange: str = "XNYS"


FEATURE_CHOICES = (
    "log_return",
    "range",
    "gap",
    "volume_change",
    "realized_vol_5",
    "realized_vol_21",
    "price_to_ma_10",
    "price_to_ma_50",
    "rsi_14",
    "day_of_week",
)


class FeaturesConfig(_Section):
    target: Literal["log_return", "close"] = "log_return"
    scaler: Literal["standard", "minmax", "robust"] = "standard"
    lookback: int = Field(60, ge=2, le=2000)
    horizon: int = Field(1, ge=1, le=250)
    # The model's inputs; unset: the log return, plus range, gap and volume change where every
    # ticker has OHLCV. The target always comes first whether listed or not.
    inputs: list[str] | None = None
    # The fewest sessions a window may hold; shorter than lookback: left-padded (recently listed tickers).
    min_history: int | None = Field(None, ge=2, le=2000)

    @model_validator(mode="after")
    def _known_inputs(self) -> FeaturesConfig:
        if self.inputs is not None:
            unknown = [name for name in self.inputs if name not in FEATURE_CHOICES]
            if unknown:
                import difflib

                close = difflib.get_close_matches(unknown[0], FEATURE_CHOICES, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(
                    f"unknown feature(s) {unknown}{hint}; choose from {', '.join(FEATURE_CHOICES)}"
                )
            if len(set(self.inputs)) != len(self.inputs):
                raise ValueError(f"inputs {self.inputs} repeat a feature")
        if self.min_history is not None and self.min_history > self.lookback:
            raise ValueError(f"min_history ({self.min_history}) must not exceed lookback ({self.lookback})")
        return self

    @property
    def history_floor(self) -> int:
        """The fewest real sessions in a window: min_history, else the full lookback."""
        return self.min_history or self.lookback


class SplitConfig(_Section):
    train: float = Field(0.70, gt=0, lt=1)
    val: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)
    train_end: date | None = None
    val_end: date | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SplitConfig:
        if self.train + self.val + self.test > 1 + 1e-9:
            raise ValueError(
                f"train + val + test = {self.train + self.val + self.test:g} is over 1; the fractions share one history"
            )
        if (self.train_end is None) != (self.val_end is None):
            raise ValueError("train_end and val_end go together")
        if self.train_end is not None and self.train_end >= self.val_end:
            raise ValueError(f"train_end ({self.train_end}) must be before val_end ({self.val_end})")
        return self


DEFAULT_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


MIN_LEVEL = 0.005  # quantile levels lie in [0.005, 0.995]
LEVEL_SPACING = 0.001  # closer levels would share a column name (p10 and p10 for 0.1 and 0.1000001)


class ModelConfig(_Section):
    architecture: Literal["recurrent", "seq2seq", "attention", "transformer"] = "recurrent"
    cell: Literal["gru", "lstm", "rnn"] = "gru"
    bidirectional: bool = False  # recurrent only: read each window both ways (window training only)
    hidden_size: int = Field(64, ge=1, le=4096)
    num_layers: int = Field(2, ge=1, le=8)
    dropout: float = Field(0.1, ge=0, lt=1)
    # Levels of the forecast distribution; [] or "point" for one point forecast (training.loss).
    quantiles: list[float] | Literal["point"] = Field(default_factory=lambda: list(DEFAULT_QUANTILES))
    conformal: bool = True
    sampling_max: float = Field(0.5, ge=0, le=1)  # seq2seq/attention: final chance of feeding own forecasts
    d_model: int = Field(48, ge=2, le=4096)  # transformer width
    heads: int = Field(4, ge=1, le=64)  # transformer attention heads; must divide d_model
    patch_length: int = Field(0, ge=0, le=2000)  # transformer: sessions per token (PatchTST); 0: one
    # transformer: "alibi" distance biases (relative, so the model can train in sequence mode), or
    # "sinusoidal" vectors counted back from the origin (the default of runs saved before alibi's)
    positions: Literal["sinusoidal", "alibi"] = "alibi"

    @property
    def carries_state(self) -> bool:
        """Whether sequence training can carry the model along a stretch: a one-directional
        recurrent encoder, or a Transformer of one token per session whose positions are relative
        (ALiBi). Sinusoidal positions are counted back from each origin, and patches are cut back
        from it, so those read each window anew."""
        if self.architecture == "transformer":
            return self.positions == "alibi" and not self.patch_length
        return not self.bidirectional

    @property
    def label(self) -> str:
        """Short name for run ids and tables: gru, bigru, seq2seq-lstm, attention-gru,
        transformer(-p16)(-sinusoidal)."""
        if self.architecture == "transformer":
            patches = f"-p{self.patch_length}" if self.patch_length else ""
            return f"transformer{patches}" + ("-sinusoidal" if self.positions == "sinusoidal" else "")
        if self.architecture == "recurrent":
            return f"bi{self.cell}" if self.bidirectional else self.cell
        return f"{self.architecture}-{self.cell}"

    @model_validator(mode="after")
    def _levels_inside_zero_one(self) -> ModelConfig:
        if isinstance(self.quantiles, list):
            # A level below 0.5% makes an interval of 99% or more: no test split can check it, and
            # its Winkler score divides by a miss rate that rounds to zero.
            outside = [q for q in self.quantiles if not MIN_LEVEL <= q <= 1 - MIN_LEVEL]
            if outside:
                raise ValueError(
                    f"quantiles {outside} must lie between {MIN_LEVEL} and {1 - MIN_LEVEL} (e.g. 0.05, 0.5, 0.95)"
                )
            ordered = sorted({*self.quantiles, 0.5})
            close = [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if b - a < LEVEL_SPACING]
            if len(set(self.quantiles)) != len(self.quantiles) or close:
                pair = f": {close[0][0]} and {close[0][1]} are closer than {LEVEL_SPACING}" if close else ""
                raise ValueError(
                    f"quantiles {self.quantiles} repeat a level{pair}; they would share one column"
                )
        return self

    @property
    def levels(self) -> tuple[float, ...]:
        """The forecast's quantile levels, ascending; the median (0.5) is always one of them."""
        if self.quantiles == "point":
            return (0.5,)
        return tuple(sorted({*self.quantiles, 0.5}))

    @property
    def is_point(self) -> bool:
        return self.levels == (0.5,)


class CalibrationConfig(_Section):
    """How intervals are calibrated at each origin (see forecasters/online_calibration.py)."""

    method: Literal["split", "rolling", "aci"] = "rolling"
    window: int = Field(250, ge=10, le=5000)  # resolved forecasts per ticker and horizon
    gamma: float = Field(0.005, gt=0, le=0.5)  # aci: step of the quantile level per resolved outcome
    min_resolved: int = Field(50, ge=1, le=5000)  # fewer: the saved split offsets

    @model_validator(mode="after")
    def _enough_window(self) -> CalibrationConfig:
        if self.min_resolved > self.window:
            raise ValueError(f"min_resolved ({self.min_resolved}) must not exceed window ({self.window})")
        return self


class TrainingConfig(_Section):
    epochs: int = Field(30, ge=1, le=10_000)
    mode: Literal["auto", "window", "sequence"] = "auto"
    batch_size: int = Field(128, ge=1, le=1_000_000)
    sequence_length: int = Field(32, ge=1, le=100_000)
    sequences_per_batch: int = Field(8, ge=1, le=100_000)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    loss: Literal["mse", "mae", "huber"] = "huber"
    patience: int = Field(5, ge=1)
    grad_clip: float = Field(1.0, gt=0)
    seed: int = Field(0, ge=0, le=2**32 - 1)  # what numpy's and torch's generators accept
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False


class Config(_Section):
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)

    @classmethod
    def from_toml(cls, path=None, overrides=None) -> Config:
        """A TOML file (None: the packaged defaults), then overrides: `{"features.horizon": 5}` or
        `["features.horizon=5"]`. Raises ConfigError naming the bad key or value."""
        from stockrnn.config.loading import config_from_toml

        return config_from_toml(path, overrides)

    @classmethod
    def from_dict(cls, data, overrides=None) -> Config:
        """Nested sections as a dict (`{"model": {"cell": "lstm"}}`); missing keys take the defaults."""
        from stockrnn.config.loading import config_from_dict

        return config_from_dict(data, overrides)

    def with_overrides(self, overrides) -> Config:
        """A copy with `{"section.key": value}` (or `["section.key=value"]`) applied, validated again."""
        from stockrnn.config.loading import config_from_dict

        return config_from_dict(self.model_dump(mode="json"), overrides, "config")

    @model_validator(mode="after")
    def _architecture_fits_training(self) -> Config:
        """Refuse combinations that cannot train as asked; resolve training.mode = "auto"."""
        m, mode = self.model, self.training.mode
        if m.bidirectional and m.architecture != "recurrent":
            raise ValueError(
                f"model.bidirectional applies to architecture 'recurrent', not {m.architecture!r}"
            )
        if m.architecture == "transformer" and m.d_model % m.heads:
            raise ValueError(f"model.d_model ({m.d_model}) must be a multiple of model.heads ({m.heads})")
        if m.patch_length:
            if m.architecture != "transformer":
                raise ValueError(
                    f"model.patch_length applies to architecture 'transformer', not {m.architecture!r}"
                )
            floor = self.features.history_floor
            if not 2 <= m.patch_length <= floor:
                raise ValueError(
                    f"model.patch_length ({m.patch_length}) must be 0 (no patches) or 2 to {floor}, "
                    "the fewest sessions a window holds (features.min_history, else lookback)"
                )
        padded = self.features.history_floor < self.features.lookback
        if mode == "sequence":
            if m.bidirectional:
                raise ValueError(
                    "model.bidirectional cannot train in training.mode 'sequence': that mode carries the "
                    "state forward session by session, and a backward pass over a stretch would read "
                    "sessions after each forecast's origin; use training.mode 'window' (or 'auto')"
                )
            if m.architecture == "transformer" and m.patch_length:
                raise ValueError(
                    "model.patch_length cannot train in training.mode 'sequence': patches are cut "
                    "back from each origin, so each window is read anew; use training.mode 'window' "
                    "(or 'auto')"
                )
            if m.architecture == "transformer" and m.positions != "alibi":
                raise ValueError(
                    "architecture 'transformer' trains in training.mode 'sequence' only with "
                    "model.positions 'alibi' (its sinusoidal positions are counted back from each "
                    "origin); set model.positions = 'alibi' or use training.mode 'window' (or 'auto')"
                )
            if padded:
                raise ValueError(
                    "features.min_history below lookback needs padded windows, which training.mode "
                    "'sequence' does not make; use training.mode 'window' (or 'auto')"
                )
        if mode == "auto":
            # Sequence mode where the model can carry its state along a stretch, else windows.
            training = self.training.model_copy(
                update={"mode": "sequence" if m.carries_state and not padded else "window"}
            )
            object.__setattr__(self, "training", training)  # frozen: set once, during validation
        return self


def choices(section: type[BaseModel], key: str) -> tuple[str, ...]:
    """The values a Literal-typed config key accepts, for the CLI's enums (one list, kept here)."""
    from typing import get_args

    return get_args(section.model_fields[key].annotation)
