"""Runs: train one, load it, read its scores and forecasts, promote it to production."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stockrnn.api.prices import Prices, price_source, runs_folder
from stockrnn.config.schema import Config
from stockrnn.io.safe_read import read_parquet
from stockrnn.runs.folder import LATEST, Manifest, RunFolder, load_run


def scores_frame(scores: dict, **leading) -> pd.DataFrame:
    """metrics.json's {scope: {forecaster: {"h<h>": {metric: value}}}} as one row per scope,
    forecaster and horizon, a column per metric."""
    rows = [
        {**leading, "scope": scope, "forecaster": name, "horizon": int(h[1:]), **values}
        for scope, forecasters in scores.items()
        if isinstance(forecasters, dict)
        for name, horizons in forecasters.items()
        if isinstance(horizons, dict)
        for h, values in horizons.items()
        if h.startswith("h") and h[1:].isdigit() and isinstance(values, dict)
    ]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Run:
    """A trained run, as `stockrnn train` (or `stockrnn.train`) saved it: loadable by id anywhere."""

    folder: RunFolder

    @classmethod
    def load(cls, run: str | Path = LATEST, runs: str | Path | None = None) -> Run:
        """By id (or `latest`) in the runs folder (`runs`, else $STOCKRNN_RUNS, else the default),
        or by the path of a run folder."""
        as_path = Path(run)
        if isinstance(run, Path) or (len(as_path.parts) > 1 and as_path.is_dir()):
            return cls(load_run(as_path.parent, as_path.name))
        return cls(load_run(runs_folder(runs), str(run)))

    @property
    def id(self) -> str:
        return self.folder.run_id

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def config(self) -> Config:
        return Config.model_validate(self.folder.config)

    @property
    def manifest(self) -> Manifest:
        return self.folder.manifest

    @property
    def scores(self) -> dict:
        """The test scores as metrics.json nests them: {scope: {forecaster: {"h<h>": {metric: value}}}}."""
        return self.folder.metrics

    @property
    def metrics(self) -> pd.DataFrame:
        """Every forecaster's test scores: scope (pooled, a ticker), forecaster, horizon, a column per metric."""
        return scores_frame(self.scores)

    def evaluate(self, prices: Prices | str | Path | None = None) -> Evaluation:
        """Score the run on origins after its data ended (every target a session it never saw)."""
        from stockrnn.studies.evaluate import evaluate_since_training

        return Evaluation(evaluate_since_training(self.folder, price_source(prices)))

    @property
    def test_predictions(self) -> pd.DataFrame:
        """One row per test origin and horizon: the actual close and every forecaster's quantiles, in prices."""
        return read_parquet(self.path / "test_predictions.parquet")

    def predict(
        self,
        prices: Prices | str | Path | None = None,
        tickers: list[str] | None = None,
        now: pd.Timestamp | str | None = None,
        allow_stale: bool = False,
        asof: pd.Timestamp | str | None = None,
        calibration: str | None = None,
        cache: str | Path | None = None,
    ) -> pd.DataFrame:
        """Forecasts of the next H sessions from each ticker's newest window, in the columns and types
        `read_forecasts` gives for what `stockrnn predict` writes. Stale prices (more than three
        sessions behind `now`) raise DataError unless `allow_stale`. With `asof`, the forecasts that
        night would have made, from the sessions stored up to that date only (to backfill a missed
        night). `calibration` overrides the run's calibration.method (split, rolling or aci). With
        `cache` (a forecasts folder), raw forecasts of earlier nights' windows are reused."""
        from stockrnn.outputs.forecast_archive import as_archived
        from stockrnn.outputs.predict import forecast_frame

        moment = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
        moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment
        until = None if asof is None else pd.Timestamp(asof)
        frame = forecast_frame(
            self.folder,
            price_source(prices),
            tickers,
            moment,
            allow_stale,
            asof=until,
            method=calibration,
            cache_root=None if cache is None else Path(cache),
        )
        return as_archived(frame)

    def __repr__(self) -> str:
        return f"Run({self.id!r})"


@dataclass(frozen=True)
class Evaluation:
    """A run scored on sessions stored since it was trained."""

    scores: dict

    @property
    def metrics(self) -> pd.DataFrame:
        return scores_frame(self.scores)


def list_runs(runs: str | Path | None = None) -> pd.DataFrame:
    """The runs that load (newest last) with their headline scores, and the broken ones with why."""
    from stockrnn.runs.folder import order_key, scan_runs

    found, broken = scan_runs(runs_folder(runs))
    rows = [
        {
            "run_id": r.run_id,
            "path": r.path,
            "created_at": r.manifest.created_at,
            "broken": None,
            "interrupted": bool(r.manifest.training.get("interrupted")),
            **r.manifest.headline,
        }
        for r in sorted(found, key=lambda r: order_key(r.run_id, r.manifest.created_at))
    ]
    rows += [{"run_id": name, "path": runs_folder(runs) / name, "broken": why} for name, why in broken]
    return pd.DataFrame(rows)


def promote(run: str | Path = LATEST, runs: str | Path | None = None, reason: str = "") -> Run:
    """Point the alias `production` at `run` (it must load and have finished training); the run."""
    from stockrnn.errors import DataError
    from stockrnn.runs.production import promote as point_production_at

    chosen = Run.load(run, runs)
    if chosen.manifest.training.get("interrupted", False):
        raise DataError(
            f"run {chosen.id} was interrupted during training; promote a run that finished (retrain it)"
        )
    point_production_at(chosen.path.parent, chosen.id, reason or "promoted by hand")
    return chosen


def production(runs: str | Path | None = None) -> dict | None:
    """The production pointer: run_id, promoted_at, reason and the earlier promotions; None if none."""
    from stockrnn.runs.production import read_pointer

    return read_pointer(runs_folder(runs))


def train(
    config: Config,
    prices: Prices | str | Path | None = None,
    runs: str | Path | None = None,
    *,
    on_epoch=None,
    on_batch=None,
    discard_on_interrupt: bool = False,
    challenge: str | None = None,
    on_step=None,
    jobs: int = 1,
) -> Run | None:
    """Train `config` on `prices`, score it against the baselines on the test split and save the run.
    `jobs` > 1: the per-ticker GARCH baselines in that many processes (from 200 tickers).

    With `challenge="production"`, the new run must beat the production run on its test origins to
    be promoted (`run.manifest.challenge` holds the verdict). None only on a torchrun rank other
    than 0 (rank 0 saves the run)."""
    from stockrnn.studies.train import train as train_and_save

    outcome = train_and_save(
        config,
        price_source(prices),
        runs_folder(runs),
        on_epoch,
        on_batch,
        discard_on_interrupt,
        challenge,
        on_step,
        jobs,
    )
    return None if outcome is None else Run(load_run(outcome.path.parent, outcome.run_id))
