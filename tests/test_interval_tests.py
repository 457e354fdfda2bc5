"""Kupiec's and Christoffersen's tests against their textbook formulas, and on the failures they exist
to catch: too many misses, and misses that cluster."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from stockrnn.evaluation.interval_tests import christoffersen, kupiec


def test_kupiec_is_the_likelihood_ratio_of_the_miss_rate():
    missed = np.r_[np.ones(20, bool), np.zeros(230, bool)]  # 20 misses in 250 at alpha 0.05
    p_hat = 20 / 250
    statistic = -2 * (20 * np.log(0.05) + 230 * np.log(0.95) - 20 * np.log(p_hat) - 230 * np.log(1 - p_hat))
    assert kupiec(missed, 0.05) == pytest.approx(chi2.sf(statistic, 1), rel=1e-12)
    assert kupiec(missed, 0.05) < 0.05  # 8% misses where 5% were promised
    assert kupiec(np.zeros(250, bool), 0.05) < 1e-4  # never missing is as wrong (intervals too wide)
    assert kupiec(np.r_[np.ones(12, bool), np.zeros(238, bool)], 0.05) > 0.5


def test_christoffersen_catches_clustered_misses_that_kupiec_cannot_see():
    rng = np.random.default_rng(0)
    scattered = rng.random(1000) < 0.1
    clustered = np.zeros(1000, bool)
    for start in range(0, 1000, 100):  # 10 misses in a row every 100 sessions: the same 10% rate
        clustered[start : start + 10] = True
    assert kupiec(clustered, 0.1) == pytest.approx(1.0)
    independence, conditional = christoffersen(clustered, 0.1)
    assert independence < 1e-10 and conditional < 1e-10
    assert christoffersen(scattered, 0.1)[0] > 0.05


def test_too_few_outcomes_give_no_verdict():
    assert np.isnan(kupiec(np.zeros(0, bool), 0.1))
    assert all(np.isnan(christoffersen(np.ones(1, bool), 0.1)))
