"""The optional features of features.inputs: each uses its row and earlier rows only, with the
values its textbook definition gives; a config chooses them; predict reads their warm-up too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockrnn.config.loading import load_config
from stockrnn.config.schema import FEATURE_CHOICES
from stockrnn.dataset.features import chosen_names, compute_features, warmup_rows
from stockrnn.errors import DataError

NEW_FEATURES = (
    "realized_vol_5",
    "realized_vol_21",
    "price_to_ma_10",
    "price_to_ma_50",
    "rsi_14",
    "day_of_week",
)


@pytest.mark.parametrize("name", NEW_FEATURES)
def test_a_feature_uses_no_later_row(sample_prices, name):
    """Cut the history at several sessions: every row of the cut history equals the full one's."""
    prices = sample_prices("GOOG").head(400)
    full = compute_features(prices, ["log_return", name]).set_index("date")
    for cut in (80, 151, 399):
        part = compute_features(prices.head(cut), ["log_return", name]).set_index("date")
        assert len(part) == cut - 1 - warmup_rows(["log_return", name])
        pd.testing.assert_series_equal(part[name], full.loc[part.index, name])


@pytest.mark.parametrize("name", NEW_FEATURES)
def test_a_feature_is_unchanged_when_every_later_price_changes(sample_prices, name):
    prices = sample_prices("GOOG").head(300)
    changed = prices.copy()
    later = changed.index >= 200
    for column in ("open", "high", "low", "close", "adj_close"):
        changed.loc[later, column] *= np.linspace(0.5, 3.0, later.sum())
    before = compute_features(prices, [name])
    after = compute_features(changed, [name])
    row = before.index[before["date"] == prices["date"].iloc[199]][0]  # the last unchanged session
    np.testing.assert_array_equal(before[name].to_numpy()[: row + 1], after[name].to_numpy()[: row + 1])
    if name != "day_of_week":  # the test can see a change: later rows do move
        assert not np.array_equal(before[name].to_numpy()[row + 2 :], after[name].to_numpy()[row + 2 :])


def test_the_features_have_their_textbook_values(sample_prices):
    prices = sample_prices("GOOG").head(120)
    names = ["log_return", "realized_vol_5", "price_to_ma_10", "day_of_week"]
    frame = compute_features(prices, names)
    price = prices["adj_close"].to_numpy(float)
    row = 60  # frame row r is price row r + 1 + warm-up
    at = row + 1 + warmup_rows(names)
    returns = np.diff(np.log(price[: at + 1]))
    assert frame["realized_vol_5"][row] == pytest.approx(np.sqrt(np.mean(returns[-5:] ** 2)))
    assert frame["price_to_ma_10"][row] == pytest.approx(np.log(price[at] / price[at - 9 : at + 1].mean()))
    assert frame["day_of_week"][row] == prices["date"].iloc[at].day_of_week
    assert frame["date"][row] == prices["date"].iloc[at]


def test_rsi_is_one_after_only_gains_and_zero_after_only_losses(sample_prices):
    prices = sample_prices("GOOG").head(40).copy()
    rising = prices.assign(adj_close=np.linspace(100, 140, 40))
    falling = prices.assign(adj_close=np.linspace(140, 100, 40))
    assert compute_features(rising, ["rsi_14"])["rsi_14"].to_numpy() == pytest.approx(1.0)
    assert compute_features(falling, ["rsi_14"])["rsi_14"].to_numpy() == pytest.approx(0.0)


def test_inputs_choose_the_features_with_the_target_first(sample_prices):
    goog, ko = sample_prices("GOOG"), sample_prices("KO")
    assert chosen_names([goog], "log_return", ["rsi_14", "log_return", "range"]) == [
        "log_return",
        "rsi_14",
        "range",
    ]
    assert chosen_names([ko], "close", ["rsi_14"]) == ["close", "log_return", "rsi_14"]
    assert chosen_names([goog, ko], "log_return", None) == ["log_return"]  # the defaults, unchanged
    with pytest.raises(DataError, match=r"\['range'\] need open, high, low and volume"):
        chosen_names([goog, ko], "log_return", ["range"])


def test_every_feature_the_config_accepts_can_be_computed(sample_prices):
    frame = compute_features(sample_prices("GOOG").head(200), list(FEATURE_CHOICES))
    assert np.isfinite(frame[list(FEATURE_CHOICES)].to_numpy()).all()
    with pytest.raises(Exception, match="unknown feature"):
        load_config(None, ["features.inputs=['rsi_99']"])


def test_training_and_predict_with_chosen_inputs_read_the_warm_up(store, tmp_path, sample_prices):
    from stockrnn.outputs.predict import forecast_frame
    from stockrnn.runs.folder import load_run
    from stockrnn.studies.train import train

    store.write("GSPC", sample_prices("GSPC").tail(900), origin="test")
    config = load_config(
        None,
        [
            "features.inputs=['log_return', 'price_to_ma_50', 'rsi_14']",
            "features.lookback=20",
            "model.hidden_size=8",
            "model.num_layers=1",
            "training.epochs=1",
            "training.device='cpu'",
        ],
    )
    outcome = train(config, store, tmp_path / "runs")
    run = load_run(tmp_path / "runs", outcome.run_id)
    assert run.manifest.features == ["log_return", "price_to_ma_50", "rsi_14"]
    now = pd.Timestamp(store.read("GSPC")["date"].iloc[-1]) + pd.Timedelta(hours=22)
    frame = forecast_frame(run, store, None, now.tz_localize("UTC"), allow_stale=True)
    assert np.isfinite(frame.filter(like="close").to_numpy(dtype=float)).all()
