"""GARCH(1,1) with Student-t innovations (the `arch` package), per ticker, as a baseline.

Fitted on the training split only; the parameters are then held fixed and the variance recursion is
filtered forward through later prices (no refit on validation or test data), which is how the model
would have been used. Quantiles of the h-session sum: mean h*mu, variance the sum of the 1..h-step
variance forecasts, shape a unit-variance Student-t whose degrees of freedom grow as
4 + h(nu - 4), matching the kurtosis of a sum of h independent t's (exact at h = 1).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import numpy as np

from stockrnn.dataset.windows import FitData, Panel
from stockrnn.forecasters.quantiles import Forecast

# arch's optimiser is better conditioned on returns in percent.
PERCENT = 100.0


def _model(returns: np.ndarray):
    from arch import arch_model

    return arch_model(returns * PERCENT, mean="Constant", vol="GARCH", p=1, q=1, dist="t", rescale=False)


def fit_params(returns: np.ndarray) -> np.ndarray:
    """mu, omega, alpha, beta, nu fitted to one ticker's training returns.

    On one BLAS thread wherever it runs (here or in a --jobs worker, which has one thread): on a
    flat likelihood another summation order moved the optimiser's answer by up to 100%."""
    with _blas().limit(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter must not reach a cron mail
        return np.asarray(_model(returns).fit(disp="off").params)


@functools.cache
def _blas():
    """The BLAS libraries loaded once arch is (numpy's, scipy's), found once per process."""
    import arch  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def student_t_quantiles(levels: tuple[float, ...], nu: np.ndarray) -> np.ndarray:
    """(H, Q) quantiles of unit-variance Student-t distributions with `nu` (H,) degrees of freedom."""
    from scipy.stats import t

    nu = np.asarray(nu, dtype="float64")[:, None]
    return t.ppf(np.asarray(levels)[None, :], nu) * np.sqrt((nu - 2) / nu)


@dataclass
class Garch:
    name = "garch"
    params: dict[str, np.ndarray] = field(default_factory=dict)  # ticker -> mu, omega, alpha, beta, nu

    per_ticker = True  # fit_baselines passes it a `map_tickers`: the fits are independent

    def fit(self, data: FitData, map_tickers=None) -> Garch:
        """One fit per ticker, through `map_tickers(fit_params, tasks)` (results in task order)
        when given: studies/fanout.py's runs them in other processes."""
        self.levels, self.horizon = data.levels, data.horizon
        tasks = [(data.training_returns(index),) for index in range(len(data.panel.tickers))]
        fitted = map_tickers(fit_params, tasks) if map_tickers else [fit_params(*task) for task in tasks]
        self.params = dict(zip(data.panel.tickers, fitted, strict=True))
        return self

    def predict(self, panel: Panel, ends: np.ndarray) -> Forecast:
        out = np.empty((len(ends), self.horizon, len(self.levels)))
        for index, ticker in enumerate(panel.tickers):
            wanted = panel.ticker_ids[ends] == index
            if not wanted.any():
                continue
            rows = np.flatnonzero(panel.ticker_ids == index)
            returns = np.diff(np.log(panel.price[rows]))  # return i ends on row rows[i + 1]
            params = self.params[ticker]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fixed = _model(returns).fix(params)
                forecast = fixed.forecast(horizon=self.horizon, start=0, reindex=False, method="analytic")
            origin = ends[wanted] - rows[0] - 1  # index of the return that closes on the origin row
            variance = np.cumsum(forecast.variance.to_numpy()[origin], axis=1)  # (n, H) of the sum
            mu, nu = params[0], params[-1]
            steps = np.arange(1, self.horizon + 1)
            shape_nu = 4 + steps * (nu - 4) if nu > 4 else np.full(self.horizon, nu)
            z = student_t_quantiles(self.levels, shape_nu)  # (H, Q)
            out[wanted] = (steps[:, None] * mu + np.sqrt(variance)[..., None] * z) / PERCENT
        return Forecast(self.levels, out)
