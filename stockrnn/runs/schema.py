"""What a run folder must hold to be trusted: manifest.json's schema, and the checksums written at
save time that tie config.json, manifest.json and model.pt together.

A run folder is input like any other file: it may be edited, truncated or planted. A run whose
files fail the schema, disagree with each other or with their checksums is broken: it is named
as such (exit 65), listed as broken by `stockrnn runs`, and skipped by `latest`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stockrnn.errors import DataError
from stockrnn.io.json_files import strict_json

Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(allow_inf_nan=False, gt=0)]
CHECKSUM = "checksum"  # sha256 of config.json and manifest.json (this key left out), in the manifest


class _Scaler(BaseModel):
    kind: str
    center: list[Finite]
    scale: list[Positive]


class _Split(BaseModel):
    train_end: date
    val_end: date
    test_end: date


class ManifestSchema(BaseModel):
    """manifest.json as a run must have it; keys added by later versions are allowed."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    created_at: datetime
    tickers: list[str] = Field(min_length=1)
    features: list[str] = Field(min_length=1)
    target: Literal["log_return", "close"]
    lookback: int = Field(ge=2, le=2000)
    scalers: dict[str, _Scaler]
    split: _Split
    windows: dict[str, int]
    data_fingerprint: str
    versions: dict[str, str]
    seed: int
    device: str
    training: dict
    headline: dict = Field(default_factory=dict)
    horizon: int = Field(1, ge=1, le=250)
    levels: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default_factory=lambda: [0.5])
    conformal: dict | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ManifestSchema:
        missing = [t for t in self.tickers if t not in self.scalers]
        if missing:
            raise ValueError(f"scalers: no scaler for {missing}")
        for ticker, scaler in self.scalers.items():
            if not len(scaler.center) == len(scaler.scale) == len(self.features):
                raise ValueError(
                    f"scalers.{ticker}: {len(scaler.scale)} columns for {len(self.features)} features"
                )
        if 0.5 not in self.levels or self.levels != sorted(self.levels):
            raise ValueError(f"levels {self.levels}: must be ascending and hold 0.5")
        return self


def first_error(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{key}: {message}" if key else message


def check_manifest(run_id: str, data) -> None:
    """Exit 65 naming manifest.json and the first bad key."""
    try:
        ManifestSchema.model_validate(data)
    except ValidationError as exc:
        raise DataError(f"run {run_id}: manifest.json: {first_error(exc.errors()[0])}; retrain") from None


def check_config(what: str, data):
    """The folder's config ("run <id>", "backtest <id>"), validated like a user's; exit 65 naming
    config.json and the key."""
    from stockrnn.config.schema import Config

    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise DataError(f"{what}: config.json: {first_error(exc.errors()[0])}; retrain") from None


def check_agreement(run_id: str, config, manifest: dict) -> None:
    """What config.json and manifest.json both say must agree: the model is built from the one and
    fed by the other (lookback is in no weight's shape, so nothing else would catch a mismatch)."""
    pairs = (
        ("features.lookback", config.features.lookback, "lookback"),
        ("features.horizon", config.features.horizon, "horizon"),
        ("model.quantiles", list(config.model.levels), "levels"),
    )
    for config_key, configured, manifest_key in pairs:
        if manifest_key not in manifest:  # a run saved before that key existed: nothing to compare
            continue
        recorded = manifest[manifest_key]
        if configured != recorded:
            raise DataError(
                f"run {run_id}: config.json {config_key} is {configured} but manifest.json {manifest_key} "
                f"is {recorded}; the files disagree, retrain"
            )


def canonical_json(data) -> bytes:
    return json.dumps(strict_json(data), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def checksum(config: dict, manifest: dict) -> str:
    """sha256 over config.json and manifest.json as JSON (the checksum key itself left out)."""
    digest = hashlib.sha256(canonical_json(config))
    digest.update(canonical_json({k: v for k, v in manifest.items() if k != CHECKSUM}))
    return digest.hexdigest()


def check_checksum(run_id: str, config: dict, manifest: dict) -> None:
    """Runs saved before checksums have none and pass; any other must match."""
    recorded = manifest.get(CHECKSUM)
    if recorded is not None and recorded != checksum(config, manifest):
        raise DataError(
            f"run {run_id}: config.json or manifest.json changed since the run was saved (checksum "
            "mismatch); retrain, or restore the files"
        )


def file_digest(data: bytes) -> str:
    """sha256 of a run file's bytes, as its manifest records it (model.pt, raw_forecasts.npz)."""
    return hashlib.sha256(data).hexdigest()
