"""Features, chronological split, train-only scaling and windows: pure functions, no disk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockrnn.config.schema import SplitConfig
from stockrnn.dataset.features import compute_features, feature_names
from stockrnn.dataset.windows import build_panel, split_dates, target_rows

LOOKBACK = 10


def panel_for(prices: dict[str, pd.DataFrame], train_end, target="log_return", scaler="standard"):
    names = feature_names(list(prices.values()), target)
    frames = {t: compute_features(p, names) for t, p in prices.items()}
    return build_panel(frames, names, names[0], scaler, pd.Timestamp(train_end), min_train_rows=LOOKBACK + 2)


def test_ohlcv_features_only_when_every_ticker_has_them(sample_prices):
    goog, ko = sample_prices("GOOG"), sample_prices("KO")
    assert feature_names([goog], "log_return") == ["log_return", "range", "gap", "volume_change"]
    assert feature_names([goog, ko], "log_return") == ["log_return"]
    assert feature_names([ko], "close") == ["close", "log_return"]


def test_log_return_uses_adjusted_close(sample_prices):
    goog = sample_prices("GOOG").head(3).assign(adj_close=[1.0, 2.0, 4.0])
    features = compute_features(goog, ["log_return"])
    assert features["log_return"].tolist() == pytest.approx([np.log(2), np.log(2)])
    assert features["date"].tolist() == goog["date"].iloc[1:].tolist()


@pytest.mark.parametrize("scaler", ["standard", "minmax", "robust"])
def test_prices_after_the_training_split_leave_every_scaler_parameter_unchanged(sample_prices, scaler):
    goog = sample_prices("GOOG")
    train_end = pd.Timestamp("2010-06-30")
    changed = goog.copy()
    later = changed["date"] > train_end
    for column in ("open", "high", "low", "close", "adj_close"):
        changed.loc[later, column] *= np.linspace(0.5, 3.0, later.sum())
    changed.loc[later, "volume"] = changed.loc[later, "volume"] * 7
    original = panel_for({"GOOG": goog}, train_end, scaler=scaler).scalers["GOOG"]
    after_change = panel_for({"GOOG": changed}, train_end, scaler=scaler).scalers["GOOG"]
    assert original == after_change
    assert panel_for({"GOOG": changed}, "2011-06-30", scaler=scaler).scalers["GOOG"] != original


def test_each_ticker_is_scaled_on_its_own_training_rows(sample_prices):
    panel = panel_for({"KO": sample_prices("KO"), "XOM": sample_prices("XOM")}, "2000-12-29")
    assert panel.scalers["KO"] != panel.scalers["XOM"]
    for index in range(len(panel.tickers)):
        rows = (panel.ticker_ids == index) & (panel.dates <= np.datetime64("2000-12-29"))
        assert panel.features[rows, 0].mean() == pytest.approx(0.0, abs=1e-5)
        assert panel.features[rows, 0].std() == pytest.approx(1.0, abs=1e-3)


def test_fraction_split_is_chronological_and_targets_never_share_a_date(sample_prices):
    panel = panel_for({"GSPC": sample_prices("GSPC")}, "2012-01-03")
    split = split_dates(panel.dates[LOOKBACK:], SplitConfig())
    train = panel.window_ends(LOOKBACK, 1, None, split.train_end)
    val = panel.window_ends(LOOKBACK, 1, split.train_end, split.val_end)
    test = panel.window_ends(LOOKBACK, 1, split.val_end, split.test_end)
    target_dates = [set(panel.dates[target_rows(ends, 1)[:, 0]]) for ends in (train, val, test)]
    assert max(target_dates[0]) < min(target_dates[1]) and max(target_dates[1]) < min(target_dates[2])
    assert len(train) + len(val) + len(test) == len(panel.dates) - LOOKBACK
    assert len(train) / (len(train) + len(val) + len(test)) == pytest.approx(0.70, abs=0.002)
    # an input window may reach back across the boundary; its target may not
    first_val = val[0]
    assert panel.dates[first_val - LOOKBACK + 1] <= np.datetime64(split.train_end)


def test_windows_never_span_two_tickers(sample_prices):
    panel = panel_for({"KO": sample_prices("KO"), "XOM": sample_prices("XOM")}, "2000-12-29")
    ends = panel.window_ends(LOOKBACK, 1, None, None)
    starts = ends - LOOKBACK + 1
    assert (panel.ticker_ids[starts] == panel.ticker_ids[target_rows(ends, 1)[:, 0]]).all()
    assert len(ends) == 2 * (8312 - LOOKBACK)


def test_sliding_windows_are_a_view_not_a_copy(sample_prices):
    panel = panel_for({"GOOG": sample_prices("GOOG")}, "2010-06-30")
    windows = panel.sliding_windows(LOOKBACK)  # (N, L, F)
    assert windows.shape == (len(panel.features) - LOOKBACK + 1, LOOKBACK, len(panel.feature_names))
    assert np.shares_memory(windows, panel.features)
    assert np.array_equal(windows[5], panel.features[5 : 5 + LOOKBACK])


def test_too_little_training_history_is_a_clear_data_error(sample_prices):
    from stockrnn.errors import DataError

    with pytest.raises(
        DataError, match=r"GOOG: 4 sessions up to the training split's end 2004-08-25; need at least 12"
    ):
        panel_for({"GOOG": sample_prices("GOOG")}, "2004-08-25")


def test_target_rows_are_the_h_sessions_after_each_origin():
    assert target_rows(np.array([10, 20]), 3).tolist() == [[11, 12, 13], [21, 22, 23]]


@pytest.mark.parametrize("horizon", [1, 5, 20])
def test_a_window_belongs_to_the_split_of_its_farthest_target(sample_prices, horizon):
    """No target of a training window is dated after train_end; none of a test window before val_end."""
    panel = panel_for({"KO": sample_prices("KO"), "XOM": sample_prices("XOM")}, "2000-12-29")
    train_end, val_end = np.datetime64("2000-12-29"), np.datetime64("2005-12-30")
    train = panel.window_ends(LOOKBACK, horizon, None, pd.Timestamp(train_end))
    val = panel.window_ends(LOOKBACK, horizon, pd.Timestamp(train_end), pd.Timestamp(val_end))
    test = panel.window_ends(LOOKBACK, horizon, pd.Timestamp(val_end), None)
    assert panel.dates[target_rows(train, horizon)].max() <= train_end
    assert panel.dates[target_rows(val, horizon)[:, -1]].min() > train_end
    assert panel.dates[target_rows(test, horizon)[:, -1]].min() > val_end
    # The last training origin of each ticker is exactly H sessions before the boundary's session.
    for index in range(2):
        rows = np.flatnonzero((panel.ticker_ids == index) & (panel.dates <= train_end))
        assert train[panel.ticker_ids[train] == index][-1] == rows[-1] - horizon
    # Every target of every window stays inside the origin's ticker.
    every = panel.window_ends(LOOKBACK, horizon, None, None)
    assert (panel.ticker_ids[target_rows(every, horizon)] == panel.ticker_ids[every][:, None]).all()
    assert len(every) == 2 * (8312 - LOOKBACK - horizon + 1)
