"""The public Python API: what `import stockrnn` offers, and what every CLI command calls.

Prices come as a long pandas DataFrame (validated like a CSV import, nothing written to disk) or a
Store folder; every result is read back as DataFrames. Errors are StockrnnError subclasses, each
with the exit code the CLI would return (`error.exit_code`); nothing here prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stockrnn import paths
from stockrnn.config.schema import Config
from stockrnn.data.sources.frame import FramePrices
from stockrnn.data.store import PriceStore
from stockrnn.errors import MissingInputError
from stockrnn.outputs.track import Tracked, score_archive
from stockrnn.runs.folder import LATEST, Manifest, RunFolder, load_run

Store = PriceStore  # `stockrnn.Store(path)`: the Parquet price store that `stockrnn fetch` fills
Prices = pd.DataFrame | PriceStore | FramePrices


def read_prices(frame: pd.DataFrame) -> FramePrices:
    """A long frame (ticker, date, close; optional open, high, low, adj_close, volume) validated
    exactly like `stockrnn fetch --from-csv`; DataError names the ticker, row and value."""
    return FramePrices.from_frame(frame)


def _prices(prices: Prices | str | Path | None):
    """What the studies read prices from: a DataFrame is validated, a path opens a store."""
    if isinstance(prices, pd.DataFrame):
        return read_prices(prices)
    if prices is None or isinstance(prices, (str, Path)):
        return PriceStore(paths.store_dir(None if prices is None else Path(prices)))
    return prices


def _runs_root(runs: str | Path | None) -> Path:
    return paths.runs_dir(None if runs is None else Path(runs))


def _scores_frame(scores: dict, **leading) -> pd.DataFrame:
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
        return cls(load_run(_runs_root(runs), str(run)))

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
        return _scores_frame(self.scores)

    def evaluate(self, prices: Prices | str | Path | None = None) -> Evaluation:
        """Score the run on origins after its data ended (every target a session it never saw)."""
        from stockrnn.studies.evaluate import evaluate_since_training

        return Evaluation(evaluate_since_training(self.folder, _prices(prices)))

    @property
    def test_predictions(self) -> pd.DataFrame:
        """One row per test origin and horizon: the actual close and every forecaster's quantiles, in prices."""
        return pd.read_parquet(self.path / "test_predictions.parquet")

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
            _prices(prices),
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
        return _scores_frame(self.scores)


def list_runs(runs: str | Path | None = None) -> pd.DataFrame:
    """The runs that load (newest last) with their headline scores, and the broken ones with why."""
    from stockrnn.runs.folder import order_key, scan_runs

    found, broken = scan_runs(_runs_root(runs))
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
    rows += [{"run_id": name, "path": _runs_root(runs) / name, "broken": why} for name, why in broken]
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

    return read_pointer(_runs_root(runs))


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
) -> Run | None:
    """Train `config` on `prices`, score it against the baselines on the test split and save the run.

    With `challenge="production"`, the new run must beat the production run on its test origins to
    be promoted (`run.manifest.challenge` holds the verdict). None only on a torchrun rank other
    than 0 (rank 0 saves the run)."""
    from stockrnn.studies.train import train as train_and_save

    outcome = train_and_save(
        config,
        _prices(prices),
        _runs_root(runs),
        on_epoch,
        on_batch,
        discard_on_interrupt,
        challenge,
        on_step,
    )
    return None if outcome is None else Run(load_run(outcome.path.parent, outcome.run_id))


@dataclass(frozen=True)
class Backtest:
    """A walk-forward backtest: every fold's forecasts and the scores pooled and per fold."""

    id: str
    path: Path
    manifest: dict

    @classmethod
    def load(cls, backtest: str = LATEST, runs: str | Path | None = None) -> Backtest:
        from stockrnn.studies.backtest import load_backtest

        found = load_backtest(_runs_root(runs), backtest)
        return cls(found.backtest_id, found.path, found.manifest)

    @property
    def scores(self) -> dict:
        """metrics.json: {"pooled": scores, "folds": {"1": scores, ...}, "mcs": ...}."""
        return json.loads((self.path / "metrics.json").read_text())

    @property
    def metrics(self) -> pd.DataFrame:
        """Scores per fold (`fold` 1..K) and pooled over every fold (`fold` "pooled")."""
        scores = self.scores
        frames = [_scores_frame(scores["pooled"], fold="pooled")]
        frames += [_scores_frame(s, fold=k) for k, s in scores.get("folds", {}).items()]
        return pd.concat(frames, ignore_index=True)

    @property
    def forecasts(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "forecasts.parquet")

    @property
    def folds(self) -> pd.DataFrame:
        return pd.DataFrame(self.manifest["folds"])


def backtest(
    config: Config,
    prices: Prices | str | Path | None = None,
    runs: str | Path | None = None,
    *,
    folds: int = 8,
    step: int = 63,
    val_sessions: int = 252,
    window: str = "expanding",
    refit: int = 1,
    warm_start: bool = False,
    mcs: bool = False,
    on_fold=None,
    on_epoch=None,
    on_step=None,
) -> Backtest:
    """Re-fit `config` through time (`folds` folds of `step` origins each, the newest last), score every
    origin against the baselines, and save the backtest folder beside the runs."""
    from stockrnn.studies.backtest import backtest as walk_forward_and_save
    from stockrnn.studies.walkforward import BacktestPlan

    plan = BacktestPlan(folds, step, val_sessions, window, refit, warm_start, mcs)
    outcome = walk_forward_and_save(
        config, _prices(prices), _runs_root(runs), plan, on_fold, on_epoch, on_step
    )
    return Backtest.load(outcome.backtest_id, outcome.path.parent.parent)


@dataclass(frozen=True)
class Comparison:
    """Several candidates and every baseline on the same origins: one leaderboard per horizon."""

    id: str
    path: Path
    manifest: dict
    board: dict

    @classmethod
    def load(cls, comparison: str = LATEST, runs: str | Path | None = None) -> Comparison:
        from stockrnn.studies.compare import load_compare

        found = load_compare(_runs_root(runs), comparison)
        return cls(found.compare_id, found.path, found.manifest, found.leaderboard)

    @property
    def leaderboard(self) -> pd.DataFrame:
        """One row per horizon and forecaster, best first: losses relative to naive and the p-values."""
        rows = [
            {"horizon": int(h[1:]), "rank": rank, **row}
            for h, ranked in self.board["horizons"].items()
            for rank, row in enumerate(ranked, start=1)
        ]
        return pd.DataFrame(rows)


def compare(
    candidates,
    prices: Prices | str | Path | None = None,
    runs: str | Path | None = None,
    *,
    by: str = "pinball",
    folds: int | None = None,
    step: int = 63,
    on_candidate=None,
    on_epoch=None,
) -> Comparison:
    """Fit every candidate (`{"name": Config}`, or a grid TOML's path) and the baselines on the same
    data, or walk each through the same `folds`; test the differences and save the leaderboard."""
    from stockrnn.studies.candidates import Candidate, candidates_from_grid, checked_candidates
    from stockrnn.studies.compare import compare as compare_and_save
    from stockrnn.studies.walkforward import BacktestPlan

    if isinstance(candidates, (str, Path)):
        chosen = candidates_from_grid(Path(candidates), [])
    else:
        chosen = checked_candidates([Candidate(name, config) for name, config in dict(candidates).items()])
    plan = None if folds is None else BacktestPlan(folds, step)
    outcome = compare_and_save(chosen, _prices(prices), _runs_root(runs), by, plan, on_candidate, on_epoch)
    return Comparison.load(outcome.compare_id, outcome.path.parent.parent)


def read_forecasts(path: str | Path | None = None) -> pd.DataFrame:
    """Every forecast `stockrnn predict` wrote under `path` (else $STOCKRNN_FORECASTS, else the default)."""
    from stockrnn.outputs.forecast_archive import read_forecasts as read_archive

    return read_archive(paths.forecasts_dir(None if path is None else Path(path)))


def fetch(
    tickers: list[str] | None = None,
    store: str | Path | PriceStore | None = None,
    *,
    start=None,
    end=None,
    exchange: str = "XNYS",
    lock_timeout: float = 30.0,
):
    """Bring each ticker's stored history up to date from Yahoo (None: every stored ticker); one
    FetchOutcome per ticker, failures included (`outcome.ok`)."""
    from stockrnn.data.fetching import fetch_tickers
    from stockrnn.data.sources.yahoo import YahooSource
    from stockrnn.data.store import normalize_ticker

    store = _prices(store)
    if not tickers:  # the cron form updates what is stored: check before the lock creates the folder
        store.require_exists()
        if not store.tickers():
            raise MissingInputError(f"the store {store.root} is empty; name the tickers to fetch")
    with store.lock(lock_timeout):
        names = [normalize_ticker(t) for t in tickers] if tickers else store.tickers()
        source = YahooSource(cache_dir=store.cache_dir)
        return fetch_tickers(store, source, list(dict.fromkeys(names)), start, end, exchange)


def import_prices(
    path: str | Path,
    ticker: str,
    store: str | Path | PriceStore | None = None,
    *,
    replace: bool = False,
    lock_timeout: float = 30.0,
):
    """Import a CSV (or Parquet) file in Yahoo's layout as `ticker`, merged with what is stored."""
    from stockrnn.data.fetching import import_csv
    from stockrnn.data.store import normalize_ticker

    store, path = _prices(store), Path(path)
    with store.lock(lock_timeout):
        return import_csv(store, path, normalize_ticker(ticker), f"csv:{path.name}", replace=replace)


def load_sample(store: str | Path | PriceStore | None = None, *, lock_timeout: float = 30.0):
    """Store the bundled sample prices (no network); GSPC is recorded as Yahoo's ^GSPC for updates."""
    from stockrnn.data.fetching import SAMPLE_SYMBOLS, import_csv
    from stockrnn.data.store import normalize_ticker

    store = _prices(store)
    with store.lock(lock_timeout):
        outcomes = [
            import_csv(store, csv_file, normalize_ticker(csv_file.stem), "sample")
            for csv_file in sorted(paths.sample_dir().glob("*.csv"))
        ]
        for ticker, symbol in SAMPLE_SYMBOLS.items():
            store.record_symbol(ticker, symbol)  # so the cron form `stockrnn fetch` updates them
    return outcomes


def write_forecasts(forecasts: pd.DataFrame, out: str | Path | None = None, lock_timeout: float = 30.0):
    """Add `Run.predict`'s rows to the forecasts archive, one file per origin date and run; the paths written."""
    from stockrnn.outputs.forecast_archive import write_forecasts as write_archive

    frame = forecasts.assign(origin_date=pd.to_datetime(forecasts["origin_date"]))
    return write_archive(frame, paths.forecasts_dir(None if out is None else Path(out)), lock_timeout)


@dataclass(frozen=True)
class Report:
    kind: str  # run, backtest or comparison
    name: str
    path: Path
    charts: int


def report(
    name: str = LATEST,
    runs: str | Path | None = None,
    *,
    kind: str | None = None,
    out: str | Path | None = None,
    png_dir: str | Path | None = None,
    forecasts: str | Path | None = None,
    prices: Prices | str | Path | None = None,
) -> Report:
    """Write the self-contained HTML report of a run, a backtest, a comparison, or (`kind="track"`)
    the forecasts archive `forecasts` scored against `prices` (`kind`; by default whichever `name`
    is, a run for `latest`)."""
    from stockrnn.outputs.compare_report import write_compare_report
    from stockrnn.outputs.report import from_backtest, from_run, write_report
    from stockrnn.studies.backtest import backtests_dir, load_backtest
    from stockrnn.studies.compare import compares_dir, load_compare

    root = _runs_root(runs)
    png = None if png_dir is None else Path(png_dir)
    if kind is None:
        named = name != LATEST
        kind = "comparison" if named and (compares_dir(root) / name).is_dir() else "run"
        kind = "backtest" if named and (backtests_dir(root) / name).is_dir() else kind
    if kind == "track":
        from stockrnn.outputs.track import write_track_report

        target = Path(out) if out is not None else root / "reports" / "track.html"
        tracked = track(forecasts, prices)
        return Report(kind, "archive", target, len(write_track_report(tracked, target, png)))
    if kind == "comparison":
        comparison = load_compare(root, name)
        target = Path(out) if out is not None else root / "reports" / f"{comparison.compare_id}.html"
        return Report(kind, comparison.compare_id, target, len(write_compare_report(comparison, target, png)))
    source = (
        from_backtest(load_backtest(root, name)) if kind == "backtest" else from_run(load_run(root, name))
    )
    target = Path(out) if out is not None else root / "reports" / f"{source.name}.html"
    return Report(source.kind, source.name, target, len(write_report(source, target, png)))


def track(
    out: str | Path | None = None,
    prices: Prices | str | Path | None = None,
    *,
    since=None,
    runs: list[str] | None = None,
    tickers: list[str] | None = None,
) -> Tracked:
    """Score every forecast in the archive `out` whose outcome `prices` now hold: a `Tracked` with
    `.scores` (one row per forecast) and `.summary` (per run, ticker and horizon: coverage with
    Kupiec's and Christoffersen's tests, pinball, CRPS and MAE against naive with DM p-values)."""
    archive = read_forecasts(out)
    return score_archive(
        archive, _prices(prices), None if since is None else pd.Timestamp(since), runs, tickers
    )
