"""What a backtest or compare folder must hold to be trusted, as runs/schema.py is for a run.

Saving records, in manifest.json, the sha256 of every other file of the folder (`files`) and a
checksum of the manifest itself; loading checks the manifest's types first (a tampered `origins`
or `plan.folds` never reaches a report), then the checksum, then each file against its digest. A
folder that fails is broken: exit 65 naming it, listed as broken by `stockrnn runs`, never `latest`.
Folders saved before checksums (no `files` key) are checked by schema and by the presence of their
files only.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stockrnn.errors import DataError, MissingInputError
from stockrnn.io.json_files import strict_json
from stockrnn.io.safe_read import read_bytes
from stockrnn.runs.schema import CHECKSUM, canonical_json, first_error

FILES = "files"  # {file name: sha256} in the manifest
FILE_LIMIT = 4 * 2**30
Level = Annotated[float, Field(gt=0, lt=1)]
Count = Annotated[int, Field(ge=0)]


class _Plan(BaseModel):
    model_config = ConfigDict(extra="allow")

    folds: int = Field(ge=1)
    step: int = Field(ge=1)
    val_sessions: int = Field(ge=1)
    window: str
    refit: int = Field(ge=1)
    warm_start: bool
    mcs: bool = False


class _Fold(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int = Field(ge=1)
    train_start: date | None = None
    train_end: date
    cutoff: date
    last_origin: date
    origins: Count
    refit: bool
    seed: int
    best_epoch: Count = 0
    epochs_run: Count = 0
    history: list[dict] = Field(default_factory=list)


class _Common(BaseModel):
    model_config = ConfigDict(extra="allow")

    created_at: datetime
    tickers: list[str] = Field(min_length=1)
    horizon: int = Field(ge=1, le=250)
    levels: list[Level] = Field(min_length=1)
    data_fingerprint: str
    versions: dict[str, str]
    device: str
    files: dict[str, str] | None = None


class BacktestManifest(_Common):
    backtest_id: str
    features: list[str] = Field(min_length=1)
    plan: _Plan
    folds: list[_Fold] = Field(min_length=1)
    headline: dict[str, float | None]


class CompareManifest(_Common):
    compare_id: str
    candidates: dict[str, dict] = Field(min_length=1)
    plan: _Plan | None = None
    runs: dict[str, str] = Field(default_factory=dict)  # candidate -> the run it was saved as


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")

    forecaster: str
    kind: str
    mae_vs_naive: float | None
    pinball_vs_naive: float | None
    crps_vs_naive: float | None
    coverage_90: float | None = None
    seconds: float | None = None
    parameters: int | None = None
    p_vs_naive: float | None = None
    p_vs_best: float | None = None


class Leaderboard(BaseModel):
    model_config = ConfigDict(extra="allow")

    by: str
    loss_tested: str
    scope: str
    best: dict[str, str]
    horizons: dict[Annotated[str, Field(pattern=r"^h\d+$")], list[_Row]] = Field(min_length=1)
    metrics: dict


class BacktestMetrics(BaseModel):
    model_config = ConfigDict(extra="allow")

    pooled: dict[str, dict] = Field(min_length=1)
    folds: dict[str, dict] = Field(default_factory=dict)


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seal(manifest: dict, folder: Path, names: list[str]) -> dict:
    """The manifest with the digests of `names` (already written in `folder`) and its own checksum."""
    sealed = {**manifest, FILES: {name: file_digest((folder / name).read_bytes()) for name in names}}
    sealed.pop(CHECKSUM, None)
    sealed[CHECKSUM] = _manifest_checksum(sealed)
    return sealed


def _manifest_checksum(manifest: dict) -> str:
    import json

    as_read = json.loads(json.dumps(strict_json(manifest)))  # what a later load will see
    return hashlib.sha256(canonical_json({k: v for k, v in as_read.items() if k != CHECKSUM})).hexdigest()


def check_folder(folder: Path, manifest, schema: type[BaseModel], required: list[str]) -> None:
    """DataError naming the first problem (the caller names the folder): the manifest's types, its
    checksum, a missing, planted or changed file. `required` are the files every such folder has."""
    try:
        schema.model_validate(manifest)
    except ValidationError as exc:
        raise DataError(
            f"manifest.json: {first_error(exc.errors()[0])}; it is not as stockrnn wrote it"
        ) from None
    recorded = manifest.get(CHECKSUM)
    if recorded is not None and recorded != _manifest_checksum(manifest):
        raise DataError("manifest.json changed since it was saved (checksum mismatch); run it again")
    digests = manifest.get(FILES) or {}
    for name in dict.fromkeys([*required, *digests]):
        try:
            data = read_bytes(folder / name, FILE_LIMIT)
        except MissingInputError:
            raise DataError(f"{name} is missing; the folder is incomplete, run it again") from None
        if name in digests and file_digest(data) != digests[name]:
            raise DataError(f"{name} changed since it was saved (checksum mismatch); run it again")


def check_json(name: str, data, schema: type[BaseModel]) -> None:
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        raise DataError(f"{name}: {first_error(exc.errors()[0])}; it is not as stockrnn wrote it") from None
