"""A run directory: resolved config, manifest, weights-only checkpoint, metrics, test predictions.

<runs>/<run_id>/
  config.json               the resolved configuration
  manifest.json             features, lookback, scaler parameters, split dates, data fingerprint,
                            library versions, seed, training summary with the loss of every epoch,
                            headline metrics
  model.pt                  state_dict only; loaded with torch.load(weights_only=True)
  metrics.json              every forecaster's scores on the test split
  test_predictions.parquet  date, ticker, actual, model and each baseline, in prices
  raw_forecasts.npz         calibrated runs: the network's raw forecasts at the newest test
                            origins, the first night's forecast cache (optional: forecast_cache.py)

A run is written into a hidden folder and renamed into place, so it appears complete or not at all.
That rename is the only commit point: `latest` means the complete run with the newest `created_at`,
found by listing, so no pointer file can disagree with the folders after a crash.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from stockrnn.dataset.windows import AffineScaler, SplitDates
from stockrnn.errors import DataError, MissingInputError
from stockrnn.forecasters.calibration import ConformalOffsets
from stockrnn.io.atomic import publish_folder
from stockrnn.io.json_files import strict_json, write_json
from stockrnn.io.safe_read import read_json
from stockrnn.runs import forecast_cache

log = logging.getLogger("stockrnn")
LATEST = "latest"
FILES = ("config.json", "manifest.json", "model.pt", "metrics.json", "test_predictions.parquet")


@dataclass
class Manifest:
    """What a run needs to be restored, scored and listed; manifest.json is its JSON form."""

    run_id: str
    created_at: str
    tickers: list[str]
    features: list[str]
    target: str
    lookback: int
    scalers: dict[str, AffineScaler]
    split: SplitDates
    windows: dict[str, int]
    data_fingerprint: str
    versions: dict[str, str]
    seed: int
    device: str
    training: dict
    headline: dict[str, float] = field(default_factory=dict)
    # Runs from before horizons and quantiles lack these three: one session, one point value.
    horizon: int = 1
    levels: tuple[float, ...] = (0.5,)
    conformal: ConformalOffsets | None = None  # the model's interval offsets; None: not calibrated
    # The network's test coverage, width and pinball raw, split-calibrated and online (by method).
    calibration: dict = field(default_factory=dict)
    challenge: dict | None = None  # train --challenge: the verdict against the production run
    weights_sha256: str | None = None  # of model.pt; runs saved before checksums have none
    raw_forecasts_sha256: str | None = None  # of raw_forecasts.npz; none: the run has no such file
    checksum: str | None = None  # of config.json and manifest.json (see run_schema)

    def to_json(self) -> dict:
        data = asdict(self)
        data["scalers"] = {t: s.to_json() for t, s in self.scalers.items()}
        data["split"] = self.split.to_json()
        data["levels"] = list(self.levels)
        data["conformal"] = self.conformal.to_json() if self.conformal else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        fields = dict(data)
        fields["scalers"] = {t: AffineScaler.from_json(s) for t, s in data["scalers"].items()}
        fields["split"] = SplitDates.from_json(data["split"])
        fields["levels"] = tuple(data.get("levels", (0.5,)))
        fields["conformal"] = ConformalOffsets.from_json(data["conformal"]) if data.get("conformal") else None
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})


@dataclass
class RunFolder:
    run_id: str
    path: Path
    config: dict
    manifest: Manifest

    @property
    def metrics(self) -> dict:
        """{scope: {forecaster: {horizon: scores}}}; anything else is a 65 naming the file."""
        try:
            data = read_json(self.path / "metrics.json")
        except (DataError, MissingInputError) as exc:
            raise DataError(f"run {self.run_id}: {exc}; retrain") from None
        if not isinstance(data, dict) or not data or not all(isinstance(v, dict) for v in data.values()):
            raise DataError(f"run {self.run_id}: metrics.json is not a table of scores per scope; retrain")
        return data


def new_run_id(cell: str, tickers: list[str]) -> str:
    """<UTC second>-<cell>-<first ticker>[+<others>]; publish_folder adds -2, -3 ... if it is taken."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    label = tickers[0].replace("^", "") + (f"+{len(tickers) - 1}" if len(tickers) > 1 else "")
    return f"{stamp}-{cell}-{label}"


def library_versions() -> dict[str, str]:
    """What the run was made with, for its manifest: read from the installed packages' metadata,
    so a process that never imported torch (a --jobs backtest's parent) need not import it here."""
    import platform
    from importlib.metadata import version

    from stockrnn import __version__

    return {
        "stockrnn": __version__,
        "python": platform.python_version(),
        **{name: version(name) for name in ("torch", "numpy", "pandas", "scikit-learn")},
    }


def save_run(
    runs_root: Path,
    run_id: str,
    config: dict,
    manifest: Manifest,
    state_dict: dict,
    metrics: dict,
    test_predictions: pd.DataFrame,
    lock_timeout: float = 30.0,
    first_night=None,
) -> Path:
    """Write the run's folder; `first_night`, given, writes its raw_forecasts.npz."""
    import torch

    from stockrnn.runs.schema import CHECKSUM, checksum, file_digest

    def write(staging: Path, final_id: str) -> None:
        # The files first: the manifest records their digests.
        torch.save(state_dict, staging / "model.pt")
        digest = file_digest((staging / "model.pt").read_bytes())
        seed_digest = None
        if first_night is not None:
            first_night(staging / forecast_cache.RUN_FILE)
            seed_digest = file_digest((staging / forecast_cache.RUN_FILE).read_bytes())
        final = replace(
            manifest, run_id=final_id, weights_sha256=digest, raw_forecasts_sha256=seed_digest
        ).to_json()
        as_read = json.loads(json.dumps(strict_json(final)))  # what a later load will see
        final[CHECKSUM] = checksum(json.loads(json.dumps(strict_json(config))), as_read)
        write_json(staging / "config.json", config)
        write_json(staging / "manifest.json", final)
        write_json(staging / "metrics.json", metrics)
        test_predictions.to_parquet(staging / "test_predictions.parquet", index=False)

    return publish_folder(Path(runs_root), run_id, write, lock_timeout, f"the runs folder {runs_root}")


def ensure_writable(folder: Path) -> None:
    """Exit 73 now if runs cannot be saved in `folder`, rather than after the whole training."""
    import tempfile

    from stockrnn.errors import write_failure

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise write_failure(exc, folder) from exc


PUBLISH_LOCK_TIMEOUT = 30.0  # seconds a backtest or compare waits for another saving into its folder


def ensure_publishable(runs_root: Path, folder: str) -> Path:
    """Before the work, not after it: <runs>/<folder> (backtests, compares) must be a real folder
    (a planted link is a 73 naming it) whose lock another writer does not hold (a 75 now, rather than
    after every fold has trained). Returns the folder."""
    from stockrnn.io.atomic import refuse_symlinks
    from stockrnn.io.locking import exclusive

    ensure_writable(Path(runs_root))
    root = Path(runs_root) / folder
    refuse_symlinks(Path(runs_root), root)
    if root.is_dir():  # no folder yet: no lock to wait for, and nothing is created before the work
        with exclusive(root / ".lock", PUBLISH_LOCK_TIMEOUT, what=f"the {folder} folder {root}"):
            pass
    return root


def check_run_name(runs_root: Path, name: str) -> None:
    """A run id is a name inside the runs folder: not a path, not hidden, not a symbolic link."""
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name:
        raise MissingInputError(
            f"{name[:80]!r} is not a run id; give an id that `stockrnn runs` lists (runs live in {runs_root})"
        )
    if (Path(runs_root) / name).is_symlink():
        raise MissingInputError(f"{Path(runs_root) / name} is a symbolic link, not a run; remove it")


def resolve_run_id(runs_root: Path, name: str) -> str:
    """A run id as given, or what an alias names: `latest` is the newest run that loads and finished
    training (an interrupted run stays usable by its id), `production` the promoted run."""
    from stockrnn.runs.production import PRODUCTION, production_run_id

    if name == PRODUCTION:
        return production_run_id(runs_root)
    if name != LATEST:
        check_run_name(runs_root, name)
        return name
    runs, broken = scan_runs(runs_root)
    finished = [run for run in runs if not run.manifest.training.get("interrupted", False)]
    if not finished:
        hint = f" ({len(broken)} broken: `stockrnn runs` says why)" if broken else ""
        hint += f" ({len(runs)} interrupted: name one by its id)" if runs else ""
        which = "finished runs" if runs else "runs"
        raise MissingInputError(f"no {which} in {runs_root}{hint}; train one with `stockrnn train`")
    newest = max(finished, key=lambda run: order_key(run.run_id, run.manifest.created_at))
    for name, reason in broken:
        if order_key(name) > order_key(newest.run_id):
            log.warning(
                "skipping the newer run %s, which is broken: %s; latest is %s", name, reason, newest.run_id
            )
    for run in runs:
        if run not in finished and order_key(run.run_id) > order_key(newest.run_id):
            log.warning(
                "skipping the newer run %s, which was interrupted; latest is %s", run.run_id, newest.run_id
            )
    return newest.run_id


def load_run(runs_root: Path, name: str = LATEST) -> RunFolder:
    return _load(runs_root, resolve_run_id(runs_root, name))


def _load(runs_root: Path, run_id: str) -> RunFolder:
    """A run whose files pass their schemas, agree with each other and match their checksum."""
    from stockrnn.config.loading import as_saved
    from stockrnn.runs.schema import check_agreement, check_checksum, check_config, check_manifest

    path = Path(runs_root) / run_id
    if not (path / "manifest.json").is_file():
        raise MissingInputError(f"no run {run_id!r} in {runs_root}; `stockrnn runs` lists them")
    try:  # no link followed, no FIFO waited on, no file read without bound
        config = read_json(path / "config.json")
        raw = read_json(path / "manifest.json")
    except (DataError, MissingInputError) as exc:
        raise DataError(f"run {run_id}: {exc}") from None
    check_manifest(run_id, raw)
    saved = as_saved(config)  # keys added since the run was saved take the defaults of then
    check_agreement(run_id, check_config(f"run {run_id}", saved), raw)
    check_checksum(run_id, config, raw)  # over config.json as written
    for name in FILES:  # a folder missing one is broken now, not at whichever command needs it
        if not os.path.lexists(path / name):
            raise DataError(f"run {run_id}: {name} is missing; the folder is incomplete, retrain")
    return RunFolder(run_id, path, saved, Manifest.from_json(raw))


def scan_folders(root: Path, read) -> tuple[list, list[tuple[str, str]]]:
    """What `read(root, name)` makes of every real, visible folder under `root` holding a manifest
    (by name: a folder called "latest" is a folder, never the alias again), and (name, reason) for
    each that does not load. Runs, backtests and compares are all listed this way."""
    root = Path(root)
    if not root.is_dir():
        return [], []
    found, broken = [], []
    for entry in sorted(root.iterdir()):
        real_folder = entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
        if real_folder and (entry / "manifest.json").is_file():
            try:
                found.append(read(root, entry.name))
            except (DataError, MissingInputError) as exc:
                broken.append((entry.name, str(exc)))
    return found, broken


def scan_runs(runs_root: Path) -> tuple[list[RunFolder], list[tuple[str, str]]]:
    """The runs that load, and (folder name, reason) for every run folder that does not."""
    return scan_folders(runs_root, _load)


def list_runs(runs_root: Path) -> list[RunFolder]:
    return scan_runs(runs_root)[0]


def order_key(run_id: str, created_at: str = "") -> tuple[str, str, str]:
    """Runs are ordered by the UTC second stockrnn wrote into their id when it saved them (then by
    created_at, then id): a manifest's created_at can say anything, even a date years ahead."""
    stamp = run_id[:15] if re.fullmatch(r"\d{8}-\d{6}", run_id[:15]) else ""
    return stamp, created_at, run_id
