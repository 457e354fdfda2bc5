"""Walk-forward backtests and comparisons, their scores read back as DataFrames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stockrnn.api.prices import Prices, price_source, runs_folder
from stockrnn.api.runs import scores_frame
from stockrnn.config.schema import Config
from stockrnn.io.safe_read import read_json, read_parquet
from stockrnn.runs.folder import LATEST


@dataclass(frozen=True)
class Backtest:
    """A walk-forward backtest: every fold's forecasts and the scores pooled and per fold."""

    id: str
    path: Path
    manifest: dict

    @classmethod
    def load(cls, backtest: str = LATEST, runs: str | Path | None = None) -> Backtest:
        from stockrnn.studies.backtest import load_backtest

        found = load_backtest(runs_folder(runs), backtest)
        return cls(found.backtest_id, found.path, found.manifest)

    @property
    def scores(self) -> dict:
        """metrics.json: {"pooled": scores, "folds": {"1": scores, ...}, "mcs": ...}."""
        return read_json(self.path / "metrics.json")

    @property
    def metrics(self) -> pd.DataFrame:
        """Scores per fold (`fold` 1..K) and pooled over every fold (`fold` "pooled")."""
        scores = self.scores
        frames = [scores_frame(scores["pooled"], fold="pooled")]
        frames += [scores_frame(s, fold=k) for k, s in scores.get("folds", {}).items()]
        return pd.concat(frames, ignore_index=True)

    @property
    def forecasts(self) -> pd.DataFrame:
        return read_parquet(self.path / "forecasts.parquet")

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
    jobs: int = 1,
    ray: str | None = None,
    on_fold=None,
    on_epoch=None,
    on_step=None,
) -> Backtest:
    """Re-fit `config` through time (`folds` folds of `step` origins each, the newest last), score every
    origin against the baselines, and save the backtest folder beside the runs. `jobs` > 1 fits the
    folds in that many processes (not with `warm_start`, whose fits chain), or `ray` ("local",
    "auto" or a cluster's address) as Ray tasks; the folder is the same."""
    from stockrnn.studies.backtest import backtest as walk_forward_and_save
    from stockrnn.studies.walkforward import BacktestPlan

    plan = BacktestPlan(folds, step, val_sessions, window, refit, warm_start, mcs)
    outcome = walk_forward_and_save(
        config, price_source(prices), runs_folder(runs), plan, on_fold, on_epoch, on_step, jobs, ray
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

        found = load_compare(runs_folder(runs), comparison)
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

    @property
    def runs(self) -> dict[str, str]:
        """Each candidate's run id (a compare on one split saves every candidate as a run, which
        `Run.load` and `predict` take like any other); empty for a walk-forward comparison."""
        return dict(self.manifest.get("runs") or {})


def compare(
    candidates,
    prices: Prices | str | Path | None = None,
    runs: str | Path | None = None,
    *,
    by: str = "pinball",
    folds: int | None = None,
    step: int = 63,
    jobs: int = 1,
    ray: str | None = None,
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
    outcome = compare_and_save(
        chosen, price_source(prices), runs_folder(runs), by, plan, on_candidate, on_epoch, jobs, ray
    )
    return Comparison.load(outcome.compare_id, outcome.path.parent.parent)
