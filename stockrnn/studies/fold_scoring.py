"""Walk-forward's second half: each fold's forecasts calibrated online and scored, in fold order.

Calibration is sequential: fold k's offsets come from the outcomes of every origin before it (the
fit's validation origins, then the earlier folds that reused the fit). Fits may arrive in any
order (`--jobs`), so `add` holds a fit until every fold before its own is scored.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

from stockrnn.config.schema import Config
from stockrnn.forecasters.quantiles import Forecast

if TYPE_CHECKING:
    from stockrnn.studies.walkforward import Fold


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


class FoldScoring:
    """Calibrates online and scores fold after fold, in fold order, as their fits arrive (in any
    order: `add` keeps the early ones until the folds before them are in)."""

    def __init__(self, config: Config, folds: list[Fold], on_fold) -> None:
        self.config, self.folds, self.on_fold = config, folds, on_fold
        self.fit_of: dict[int, object] = {}  # fold index -> its FoldFit, until scored
        self.next = 0  # position in folds of the next fold to score
        self.ends, self.raw, self.calibrated, self.variants = [], [], [], []
        self.metrics: dict[str, dict] = {}
        self.fit_seconds: dict[str, float] = {}
        self.first_naive_scale = None
        self.device = ""
        self.panel = None
        # Set by each re-fit, grown by every fold: the origins calibration has seen so far, their
        # raw forecasts, and the MASE scale of the fit's training split.
        self.history = self.raw_history = self.naive_scale = None

    def add(self, fit) -> None:
        self.device = fit.device  # where the fits ran (a worker resolves "auto" for itself)
        for index in fit.ends:
            self.fit_of[index] = fit
        while self.next < len(self.folds) and self.folds[self.next].index in self.fit_of:
            fold = self.folds[self.next]
            self._score(fold, self.fit_of.pop(fold.index))
            self.next += 1

    def _score(self, fold: Fold, fit) -> None:
        from stockrnn.evaluation.metrics import naive_scale_per_ticker, score_forecasts
        from stockrnn.evaluation.scoring import calibrate_each, calibration_variants

        started = time.perf_counter()
        config = self.config
        panel, offsets = fit.panel, fit.offsets
        self.panel = panel
        if fold.refit:
            # Online calibration starts from the fit's validation origins; later folds that reuse
            # the fit add the origins forecast since (their outcomes resolve as the fold goes on).
            self.history, self.raw_history = fit.val_ends, fit.raw_history
            self.naive_scale = naive_scale_per_ticker(panel, fit.train_ends)
            if self.first_naive_scale is None:
                self.first_naive_scale = self.naive_scale
            fold.best_epoch, fold.epochs_run, fold.history = fit.best_epoch, len(fit.history), fit.history
            for name, seconds in fit.fit_seconds.items():
                self.fit_seconds[name] = self.fit_seconds.get(name, 0.0) + seconds
        history, raw_history = self.history, self.raw_history
        ends, raw = fit.ends[fold.index], fit.raw[fold.index]
        calibrated = (
            calibrate_each(panel, history, ends, raw_history, raw, offsets, config.calibration)
            if offsets
            else raw
        )
        if "model" in offsets:
            self.variants.append(
                calibration_variants(
                    panel,
                    history,
                    ends,
                    raw_history["model"],
                    raw["model"],
                    offsets["model"],
                    config.calibration,
                )
            )
        self.history = np.concatenate([history, ends])
        self.raw_history = {
            name: Forecast(f.levels, np.concatenate([f.values, raw[name].values]))
            for name, f in raw_history.items()
        }
        self.metrics[str(fold.index)] = score_forecasts(panel, ends, calibrated, raw, self.naive_scale)
        self.ends.append(ends)
        self.raw.append(raw)
        self.calibrated.append(calibrated)
        fold.origins = len(ends)
        fold.seconds = (fit.seconds if fold.refit else 0.0) + time.perf_counter() - started
        fold.peak_rss_mb = peak_rss_mb()
        if self.on_fold:
            self.on_fold(fold, len(self.folds))
