"""Online calibration: each origin's offsets come only from forecasts resolved by then (h sessions of
delay), per ticker; rolling takes the conformal quantile of the last window; ACI moves its level
after misses; too few resolved forecasts keep the split offsets."""

from __future__ import annotations

import numpy as np
import pytest

from stockrnn.config.schema import CalibrationConfig
from stockrnn.forecasters.online_calibration import online_offsets

LEVELS = (0.05, 0.5, 0.95)  # one central interval, 90%
SPLIT = np.array([[0.25], [0.5], [0.75]])  # (H, K) the saved offsets


def _offsets(scores, settings, rows=None, tickers=None, wanted=None):
    count, horizon = scores.shape[:2]
    rows = np.arange(count) if rows is None else rows
    tickers = np.zeros(count, dtype=int) if tickers is None else tickers
    wanted = np.ones(count, dtype=bool) if wanted is None else wanted
    return online_offsets(rows, tickers, scores, wanted, LEVELS, SPLIT[:horizon], settings)


def _scores(count=400, horizon=3, seed=0):
    return np.random.default_rng(seed).normal(size=(count, horizon, 1))


def test_an_origin_uses_only_forecasts_whose_outcome_it_has_seen():
    settings = CalibrationConfig(method="aci", window=100, min_resolved=10, gamma=0.05)
    scores = _scores()
    offsets, support = _offsets(scores, settings)
    t = 250
    perturbed = scores.copy()
    for h in range(1, 4):  # every score of origin s resolves at s + h: those after t are unseen at t
        perturbed[t - h + 1 :, h - 1] = 99.0
    again, support_again = _offsets(perturbed, settings)
    assert np.array_equal(again[: t + 1], offsets[: t + 1])  # bitwise, for every origin up to t
    assert np.array_equal(support_again, support)
    assert not np.array_equal(again[t + 1 :], offsets[t + 1 :])  # later origins did learn from them
    assert list(support[t]) == [100, 100, 100]
    assert list(support[12]) == [12, 11, 10]  # origins 0..12-h resolved by 12; fewer than 10: split


def test_rolling_takes_the_conformal_quantile_of_the_last_window_of_resolved_scores():
    settings = CalibrationConfig(method="rolling", window=60, min_resolved=20)
    scores = _scores()
    offsets, _ = _offsets(scores, settings)
    t, h = 300, 2
    past = scores[t - h - 59 : t - h + 1, h - 1, 0]  # origins s <= t - h, the newest 60
    rank = int(np.ceil((60 + 1) * 0.9))  # the ceil((n+1)(1-alpha))-th smallest
    assert offsets[t, h - 1, 0] == np.sort(past)[rank - 1]


def test_too_few_resolved_forecasts_keep_the_split_offsets_and_say_so_with_zero_support():
    settings = CalibrationConfig(method="rolling", window=100, min_resolved=30)
    offsets, support = _offsets(_scores(count=40), settings)
    assert np.array_equal(offsets[:30, :, 0], np.tile(SPLIT[:, 0], (30, 1)))
    assert (support[:30] == 0).all()
    assert support[39, 0] == 39 - 1 + 1 - 0 and support[39, 2] == 37  # origins 0..36 resolved at h3


def test_split_method_is_the_saved_offsets_everywhere():
    offsets, support = _offsets(_scores(), CalibrationConfig(method="split"))
    assert np.array_equal(offsets[..., 0], np.tile(SPLIT[:, 0], (400, 1)))
    assert (support == 0).all()


def test_aci_widens_faster_than_the_window_after_volatility_jumps():
    """Scores jump from N(0, 1) to N(0, 3) at origin 300: 40 sessions later rolling's window still
    holds mostly calm scores, while ACI's misses have pushed its level up."""
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(400, 1, 1))
    scores[300:] *= 3.0
    rolling, _ = _offsets(scores, CalibrationConfig(method="rolling", window=250, min_resolved=50))
    aci, _ = _offsets(scores, CalibrationConfig(method="aci", window=250, min_resolved=50, gamma=0.02))
    assert np.array_equal(aci[:50], rolling[:50])  # both on the split offsets until 50 are resolved
    assert aci[340, 0, 0] > rolling[340, 0, 0]
    misses_after = lambda o: np.mean(scores[300:, 0, 0] > o[300:, 0, 0])  # noqa: E731
    assert misses_after(aci) < misses_after(rolling)


def test_tickers_are_calibrated_from_their_own_forecasts_only():
    settings = CalibrationConfig(method="rolling", window=50, min_resolved=10)
    scores = np.concatenate([_scores(100, seed=1), _scores(100, seed=2)])
    rows = np.r_[np.arange(100), np.arange(100) + 1000]  # two tickers' blocks of the panel
    tickers = np.r_[np.zeros(100, int), np.ones(100, int)]
    offsets, _ = _offsets(scores, settings, rows, tickers)
    noisy = scores.copy()
    noisy[100:] += 50.0  # the second ticker's forecasts get much worse
    again, _ = _offsets(noisy, settings, rows, tickers)
    assert np.array_equal(again[:100], offsets[:100])
    assert (again[150:] > offsets[150:]).all()


@pytest.mark.parametrize("method", ["rolling", "aci"])
def test_unwanted_history_origins_get_no_offsets(method):
    wanted = np.zeros(400, dtype=bool)
    wanted[350:] = True
    offsets, support = _offsets(_scores(), CalibrationConfig(method=method), wanted=wanted)
    assert np.isnan(offsets[:350]).all() and (support[:350] == 0).all()
    assert np.isfinite(offsets[350:]).all() and (support[350:] > 0).all()


def test_rolling_equals_the_quantile_of_each_origins_own_window_with_gaps_and_several_tickers():
    """Rolling's offsets are computed for all origins with as many resolved scores at once; each
    must still be the conformal quantile of that origin's own last `window` usable scores of its
    ticker, resolved h sessions back, bitwise (unresolved NaN scores skipped, too few: split)."""
    rng = np.random.default_rng(3)
    settings = CalibrationConfig(method="rolling", window=40, min_resolved=15)
    rows = np.r_[np.arange(120), np.arange(90) + 500]  # two tickers' blocks of the panel
    tickers = np.r_[np.zeros(120, int), np.ones(90, int)]
    shuffled = rng.permutation(len(rows))  # origins need not come in time order
    rows, tickers = rows[shuffled], tickers[shuffled]
    scores = rng.normal(size=(len(rows), 3, 1))
    scores[rng.random(size=scores.shape) < 0.1] = np.nan  # outcomes not stored
    wanted = rng.random(len(rows)) < 0.7
    offsets, support = _offsets(scores, settings, rows, tickers, wanted)
    for t in np.flatnonzero(wanted):
        for h in (1, 2, 3):
            earlier = (tickers == tickers[t]) & (rows <= rows[t] - h)
            earlier &= np.isfinite(scores[:, h - 1, 0])
            past = scores[earlier, h - 1, 0][np.argsort(rows[earlier])][-40:]
            if len(past) < 15:
                assert (offsets[t, h - 1, 0], support[t, h - 1]) == (SPLIT[h - 1, 0], 0)
                continue
            rank = int(np.ceil((len(past) + 1) * 0.9))
            expected = np.sort(past)[min(rank, len(past)) - 1]
            assert (offsets[t, h - 1, 0], support[t, h - 1]) == (expected, len(past))
