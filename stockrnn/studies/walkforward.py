"""Walk-forward backtest: re-fit through time the way the model would have been used, score every origin.

Fold k owns the forecast origins dated in [cutoff_k, cutoff_k+1), `step` sessions of them. Everything
it forecasts with was fitted on targets dated <= cutoff_k: the scalers and the training windows on
the sessions up to cutoff_k - val_sessions, the validation windows (early stopping, conformal
calibration, the ridge's penalty) on the val_sessions after them. The folds' origins are the last
folds * step sessions of the history that have all H outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockrnn.config.schema import Config
from stockrnn.dataset.windows import Panel
from stockrnn.errors import ConfigError, DataError
from stockrnn.forecasters.quantiles import Forecast


@dataclass(frozen=True)
class BacktestPlan:
    folds: int = 8
    step: int = 63  # origins per fold, in sessions
    val_sessions: int = 252  # validation sessions before each cutoff
    window: str = "expanding"  # or "rolling:N": train on the last N sessions before validation
    refit: int = 1  # re-fit every `refit` folds; the others forecast with the last fit
    warm_start: bool = False  # start each re-fit from the previous fold's weights
    mcs: bool = False  # add the Model Confidence Set over all forecasters

    def __post_init__(self) -> None:
        for name in ("folds", "step", "val_sessions", "refit"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)} must be at least 1")
        if self.rolling_sessions is not None and self.rolling_sessions < 2:
            raise ConfigError(f"--window {self.window}: a rolling window needs at least 2 sessions")

    @property
    def rolling_sessions(self) -> int | None:
        """N of `rolling:N`; None for an expanding window."""
        if self.window == "expanding":
            return None
        kind, _, size = self.window.partition(":")
        if kind != "rolling" or not size.isdigit():
            raise ConfigError(f"--window {self.window!r}: use `expanding` or `rolling:N` (N sessions)")
        return int(size)


@dataclass
class Fold:
    """One fold's dates and what training it did; the backtest manifest lists these."""

    index: int  # 1-based
    train_start: str | None  # training targets dated after this (rolling window only)
    train_end: str  # training targets dated <= train_end
    cutoff: str  # validation targets <= cutoff; the fold's first origin is the cutoff session
    last_origin: str
    origins: int  # forecast origins, all tickers
    refit: bool
    seed: int
    best_epoch: int = 0
    epochs_run: int = 0
    seconds: float = 0.0  # wall time of the fold's fitting and forecasting
    peak_rss_mb: float = 0.0  # the process's peak RSS after the fold (flat when memory does not grow)
    history: list[dict] = field(default_factory=list)  # per epoch: train and validation loss


@dataclass
class BacktestResult:
    folds: list[Fold]
    panel: Panel  # the last fit's panel; prices, dates and tickers are the same in every fold's
    ends: np.ndarray  # (N,) origin rows of all folds, in fold order
    fold_of: np.ndarray  # (N,) 1-based fold of each origin
    forecasts: dict[str, Forecast]  # calibrated, on `ends`
    metrics: dict  # {"pooled": score table, "folds": {k: score table}, "mcs": {h: {name: p}}}
    raw: dict[str, Forecast] | None = None  # before calibration, on `ends`
    naive_scale: np.ndarray | None = None  # MASE's scale per ticker, from the first fold
    fit_seconds: dict[str, float] | None = None  # per forecaster, summed over the folds
    device: str = ""  # where the networks were fitted


def plan_folds(grid: np.ndarray, lookback: int, horizon: int, plan: BacktestPlan) -> list[Fold]:
    """Fold dates on the sorted distinct session dates `grid` of the panel."""
    last_origin = len(grid) - 1 - horizon  # the newest origin with all H outcomes stored
    first_cutoff = last_origin - plan.folds * plan.step + 1
    rolling = plan.rolling_sessions
    train_sessions_needed = (rolling or lookback + 2) + lookback
    if first_cutoff - plan.val_sessions - train_sessions_needed < 0:
        raise DataError(
            f"{len(grid)} sessions are too few for {plan.folds} folds of {plan.step} sessions after "
            f"{plan.val_sessions} validation sessions and {train_sessions_needed} training sessions; "
            "lower --folds, --step or --val-sessions, or fetch more history"
        )
    day = lambda i: str(pd.Timestamp(grid[i]).date())  # noqa: E731
    folds = []
    for k in range(plan.folds):
        cutoff = first_cutoff + k * plan.step
        train_end = cutoff - plan.val_sessions
        folds.append(
            Fold(
                index=k + 1,
                train_start=day(train_end - rolling) if rolling else None,
                train_end=day(train_end),
                cutoff=day(cutoff),
                last_origin=day(cutoff + plan.step - 1),
                origins=0,
                refit=k % plan.refit == 0,
                seed=0,
            )
        )
    return folds


def run_backtest(
    config: Config,
    frames: dict[str, pd.DataFrame],
    names: list[str],
    plan: BacktestPlan,
    device,
    on_fold: Callable[[Fold, int], None] | None = None,
    on_epoch=None,
    on_step=None,
    jobs: int = 1,
    ray: str | None = None,
) -> BacktestResult:
    """Fit fold by fold (the fits in `jobs` processes unless warm-started: each chains from the
    last), calibrating online and scoring each fold as its fit arrives, then score every
    forecaster on all folds' origins together."""
    from stockrnn.evaluation.metrics import calibration_table, score_forecasts
    from stockrnn.studies.fold_scoring import FoldScoring

    grid = np.unique(np.concatenate([frame["date"].to_numpy() for frame in frames.values()]))
    folds = plan_folds(grid, config.features.lookback, config.features.horizon, plan)
    for k, fold in enumerate(folds):
        fold.seed = config.training.seed + k
    scoring = FoldScoring(config, folds, on_fold)
    # Each fold is calibrated and scored as soon as its fit and every earlier fold's are in, so with
    # --jobs that work overlaps the fits still running instead of following them all.
    _fit_groups(config, frames, names, folds, plan, device, on_epoch, on_step, jobs, ray, scoring.add)
    ends_per_fold, raw_per_fold, calibrated_per_fold = scoring.ends, scoring.raw, scoring.calibrated
    variants_per_fold, fold_metrics, fit_seconds = scoring.variants, scoring.metrics, scoring.fit_seconds
    panel, first_naive_scale = scoring.panel, scoring.first_naive_scale

    all_ends = np.concatenate(ends_per_fold)
    fold_of = np.concatenate([np.full(len(e), k + 1) for k, e in enumerate(ends_per_fold)])
    raw, calibrated = _concatenate(raw_per_fold), _concatenate(calibrated_per_fold)
    metrics = {
        "pooled": score_forecasts(panel, all_ends, calibrated, raw, first_naive_scale),
        "folds": fold_metrics,
    }
    if variants_per_fold:
        metrics["calibration"] = calibration_table(panel, all_ends, _concatenate(variants_per_fold))
    if plan.mcs:
        metrics["mcs"] = _confidence_sets(panel, all_ends, calibrated, config.training.seed)
    return BacktestResult(
        folds,
        panel,
        all_ends,
        fold_of,
        calibrated,
        metrics,
        raw,
        first_naive_scale,
        fit_seconds,
        scoring.device,
    )


def _fit_groups(config, frames, names, folds, plan, device, on_epoch, on_step, jobs, ray, on_fit) -> None:
    """One FoldFit per re-fit, each with the folds that use it, handed to `on_fit` as it ends; in
    `jobs` processes when the fits are independent (not warm-started), else one after another,
    each from the last one's weights."""
    from stockrnn.studies.fanout import run_all, threads_per_job
    from stockrnn.studies.fold_fits import fit_group, fit_group_in_worker

    groups = [folds[k : k + plan.refit] for k in range(0, len(folds), plan.refit)]
    step = on_step or (lambda message: None)
    if (jobs > 1 or ray) and not plan.warm_start and len(groups) > 1:
        workers = min(jobs, len(groups))
        where = f"Ray tasks ({ray})" if ray else f"{workers} processes"
        step(f"fitting {len(groups)} folds in {where}, {threads_per_job(workers)} torch thread(s) each")
        tasks = [(config, frames, names, group, str(device)) for group in groups]

        def fitted(index: int, fit) -> None:
            step(f"fold {groups[index][0].index}/{len(folds)} fitted ({fit.seconds:.1f}s)")
            on_fit(fit)

        gpus = 1.0 if getattr(device, "type", str(device)) == "cuda" else 0.0
        run_all(fit_group_in_worker, tasks, jobs, fitted, ray, gpus, keep=False)  # scored as they come
        return
    weights = None
    for group in groups:
        step(f"fold {group[0].index}/{len(folds)}: training on sessions up to {group[0].train_end}")
        fit = fit_group(config, frames, names, group, device, weights if plan.warm_start else None, on_epoch)
        weights = fit.weights
        on_fit(fit)


def _concatenate(per_fold: list[dict[str, Forecast]]) -> dict[str, Forecast]:
    return {
        name: Forecast(forecast.levels, np.concatenate([fold[name].values for fold in per_fold]))
        for name, forecast in per_fold[0].items()
    }


def _confidence_sets(panel: Panel, ends: np.ndarray, forecasts: dict[str, Forecast], seed: int) -> dict:
    """Per horizon, each forecaster's MCS p-value on its pinball loss pooled per origin date."""
    from stockrnn.dataset.targets import cumulative_log_returns
    from stockrnn.evaluation.significance import model_confidence_set, per_date
    from stockrnn.forecasters.quantiles import pinball

    actual = cumulative_log_returns(panel, ends, next(iter(forecasts.values())).values.shape[1])  # (N, H)
    dates = panel.dates[ends]
    found = {}
    for h in range(actual.shape[1]):
        losses = {
            name: per_date(pinball(f.values[:, h], actual[:, h], f.levels).mean(-1), dates)
            for name, f in forecasts.items()
        }
        found[f"h{h + 1}"] = model_confidence_set(losses, seed=seed)
    return found
