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
