"""The one registry of forecasters: the network first, then every baseline, in display order.

Evaluation, the CLI table, the test-predictions columns and the forecasts all take names from here.
"""

from __future__ import annotations

from stockrnn.baselines import Drift, EWMAVolatility, LinearAR, Naive
from stockrnn.garch import Garch
from stockrnn.network import NetworkForecaster
from stockrnn.windows import FitData

BASELINES = (Naive, Drift, EWMAVolatility, Garch, LinearAR)
NAMES = (NetworkForecaster.name, *(baseline.name for baseline in BASELINES))


def fit_baselines(data: FitData) -> dict:
    """Every baseline fitted on the training split of `data`, by name."""
    return {baseline.name: baseline().fit(data) for baseline in BASELINES}
