"""The one registry of forecasters: the network first, then every baseline, in display order.

Evaluation, the CLI table, the test-predictions columns and the forecasts all take names from here.
"""

from __future__ import annotations

import time

from stockrnn.dataset.windows import FitData
from stockrnn.forecasters.baselines import DLinear, Drift, EWMAVolatility, LinearAR, Naive
from stockrnn.forecasters.garch import Garch
from stockrnn.forecasters.network import NetworkForecaster

BASELINES = (Naive, Drift, EWMAVolatility, Garch, LinearAR, DLinear)
NAMES = (NetworkForecaster.name, *(baseline.name for baseline in BASELINES))


def fit_baselines(data: FitData, seconds: dict[str, float] | None = None, map_tickers=None) -> dict:
    """Every baseline fitted on the training split of `data`, by name; each fit's wall-clock seconds
    are added to `seconds[name]` when given. `map_tickers(function, tasks)`, when given, runs the
    per-ticker fits (GARCH's) and returns their results in task order."""
    fitted = {}
    for baseline in BASELINES:
        started = time.perf_counter()
        if getattr(baseline, "per_ticker", False):
            fitted[baseline.name] = baseline().fit(data, map_tickers)
        else:
            fitted[baseline.name] = baseline().fit(data)
        if seconds is not None:
            seconds[baseline.name] = seconds.get(baseline.name, 0.0) + time.perf_counter() - started
    return fitted
