"""The fan-out behind --jobs: results in task order, each reported as it finishes, errors as themselves."""

from __future__ import annotations

import time

import pytest

from stockrnn.errors import DataError
from stockrnn.studies.fanout import run_all


def test_each_fit_is_reported_when_it_ends_and_results_keep_the_task_order():
    finished: list[tuple[int, float]] = []
    started = time.monotonic()
    results = run_all(time.sleep, [(4.0,), (0.1,)], 2, lambda i, r: finished.append((i, time.monotonic())))
    assert results == [None, None]
    (first, at_first), (second, at_second) = finished
    assert (first, second) == (1, 0)  # the short task, first: not everything at the end
    assert at_second - at_first > 2.0 and at_first - started < at_second - started


def _fit(message: str | None):
    if message is not None:
        raise DataError(message)
    return "fitted"


def test_a_workers_error_comes_back_as_itself():
    with pytest.raises(DataError, match="^fold 2: too few sessions$"):
        run_all(_fit, [(None,), ("fold 2: too few sessions",), (None,)], 2)


def test_per_ticker_garch_fits_in_two_processes_give_the_parameters_of_one(monkeypatch):
    """Issue 21, item 2: `train --jobs`/`compare --jobs` fit the per-ticker GARCH baselines in
    processes, from TICKERS_PER_JOB tickers per process; the parameters are the ones fitted here
    (each fit on one BLAS thread in both: these near-white-noise series give GARCH a flat likelihood,
    where two threads' summation order moved parameters by up to 100%)."""
    import numpy as np
    import pandas as pd
    from synthetic import ar1_returns, prices_from_returns

    from stockrnn.dataset.features import compute_features
    from stockrnn.dataset.windows import FitData, build_panel
    from stockrnn.forecasters.garch import Garch
    from stockrnn.studies import fanout

    frames = {
        f"T{seed}": compute_features(
            prices_from_returns(ar1_returns(600, phi=0.1, seed=seed)), ["log_return"]
        )
        for seed in range(4)
    }
    panel = build_panel(frames, ["log_return"], "log_return", "standard", pd.Timestamp("2006-12-29"))
    train_ends = panel.window_ends(10, 1, None, pd.Timestamp("2006-12-29"), 10)
    data = FitData(panel, train_ends, train_ends[-5:], 10, 1, (0.1, 0.5, 0.9))
    here = Garch().fit(data)

    assert fanout.ticker_map(1) is None
    fanned: list[int] = []
    recorded = fanout.run_all

    def run_all(function, tasks, jobs, *args, **kwargs):
        fanned.append(jobs)
        return recorded(function, tasks, jobs, *args, **kwargs)

    monkeypatch.setattr(fanout, "run_all", run_all)
    assert Garch().fit(data, fanout.ticker_map(2)).params.keys() == here.params.keys()
    assert fanned == []  # 4 tickers: below 2 x TICKERS_PER_JOB, fitted here
    monkeypatch.setattr(fanout, "TICKERS_PER_JOB", 2)
    spread = Garch().fit(data, fanout.ticker_map(2))
    assert fanned == [2]
    assert list(spread.params) == list(here.params) == ["T0", "T1", "T2", "T3"]
    for ticker in here.params:
        np.testing.assert_array_equal(spread.params[ticker], here.params[ticker])


@pytest.mark.parametrize("jobs", [1, 2])
def test_with_keep_false_each_result_goes_to_on_done_only(jobs):
    """A backtest hands each fit (with its panel) to the fold scoring and keeps none, so the fits
    are not all held until the last one ends."""
    seen: dict[int, object] = {}
    results = run_all(_fit, [(None,), (None,)], jobs, seen.__setitem__, keep=False)
    assert results == [None, None]
    assert seen == {0: "fitted", 1: "fitted"}
