"""Honesty checks of the distribution forecasts, on synthetic series with a known answer.

Each trains a small network for seconds: the claims are about the method (calibration, volatility
tracking, no leakage), so the series are long enough for the claim and the networks small.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic import ar1_returns, garch_returns, prices_from_returns

from stockrnn.config.loading import load_config
from stockrnn.dataset.prepare import prepare_training_data
from stockrnn.dataset.targets import cumulative_log_returns
from stockrnn.evaluation.scoring import calibrate
from stockrnn.forecasters.calibration import fit_conformal, return_scale_per_ticker
from stockrnn.forecasters.models import RecurrentForecaster
from stockrnn.forecasters.network import NetworkForecaster
from stockrnn.forecasters.quantiles import Forecast, central_intervals, pinball
from stockrnn.forecasters.registry import BASELINES, fit_baselines
from stockrnn.runs.folder import load_run
from stockrnn.runs.restore import restore
from stockrnn.studies.train import train

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
SMALL = [
    "features.lookback=30",
    "model.hidden_size=16",
    "model.num_layers=1",
    "training.learning_rate=0.003",
    "training.device='cpu'",
]


def config(*extra: str, tickers=("SYN",)):
    quoted = ", ".join(f'"{t}"' for t in tickers)
    return load_config(None, [*SMALL, f"data.tickers=[{quoted}]", *extra])


def run_fit_data(run, panel):
    from stockrnn.dataset.windows import FitData

    m = run.manifest
    train = panel.window_ends(m.lookback, m.horizon, None, m.split.train_end)
    val = panel.window_ends(m.lookback, m.horizon, m.split.train_end, m.split.val_end)
    return FitData(panel, train, val, m.lookback, m.horizon, m.levels)


def _test_forecast(run, store):
    """The run's calibrated model forecast on its test origins, their actual returns, and the origins."""
    from stockrnn.runs.restore import run_panel

    _, model = restore(run)
    m = run.manifest
    panel = run_panel(run, store, m.tickers)
    ends = panel.window_ends(m.lookback, m.horizon, m.split.val_end, m.split.test_end)
    forecast = NetworkForecaster(model, m.lookback, m.horizon, m.levels).predict(panel, ends)
    forecast = m.conformal.apply(panel, ends, forecast)
    return forecast, cumulative_log_returns(panel, ends, m.horizon), ends, panel


@pytest.mark.slow
def test_on_garch_data_the_network_intervals_hold_in_calm_and_wild_days_and_beat_naive(store, tmp_path):
    returns, sigma = garch_returns(5000, seed=4)
    store.write("SYN", prices_from_returns(returns), origin="test")
    outcome = train(config("training.epochs=25"), store, tmp_path / "runs")
    run = load_run(tmp_path / "runs", outcome.run_id)
    forecast, actual, ends, panel = _test_forecast(run, store)
    # Panel row r holds price r+1 (the first price has no return); the target of origin r is the
    # return from price r+1 to r+2, which is returns[r+1].
    true_sigma = sigma[ends + 1]
    low, high = forecast.values[:, 0, 0], forecast.values[:, 0, -1]
    inside = (actual[:, 0] >= low) & (actual[:, 0] <= high)
    calm = true_sigma <= np.quantile(true_sigma, 1 / 3)
    wild = true_sigma >= np.quantile(true_sigma, 2 / 3)
    assert 0.85 <= inside[calm].mean() <= 0.95
    assert 0.85 <= inside[wild].mean() <= 0.95
    # An unconditional interval cannot do that: naive's covers calm days too often, wild ones too rarely.
    naive = fit_baselines(run_fit_data(run, panel))["naive"].predict(panel, ends).values[:, 0]
    naive_inside = (actual[:, 0] >= naive[:, 0]) & (actual[:, 0] <= naive[:, -1])
    assert naive_inside[calm].mean() > 0.97 and naive_inside[wild].mean() < 0.85
    assert outcome.metrics["SYN"]["model"]["h1"]["pinball_vs_naive"] < 0.99


@pytest.mark.slow
def test_on_ar1_data_the_median_forecast_of_each_later_session_decays_towards_zero(store, tmp_path):
    store.write("SYN", prices_from_returns(ar1_returns(4000, phi=0.5, seed=2)), origin="test")
    outcome = train(config("training.epochs=15", "features.horizon=4"), store, tmp_path / "runs")
    run = load_run(tmp_path / "runs", outcome.run_id)
    forecast, _, ends, panel = _test_forecast(run, store)
    last_return = np.log(panel.price[ends] / panel.price[ends - 1])
    # The forecast of session h alone is the step between cumulative medians; for AR(1) it is phi^h r.
    step = np.diff(np.concatenate([np.zeros((len(ends), 1)), forecast.median], axis=1), axis=1)  # (N, 4)
    slopes = [np.polyfit(last_return, step[:, h], 1)[0] for h in range(4)]
    assert 0.35 < slopes[0] < 0.65
    assert slopes[0] > slopes[1] > slopes[2] and abs(slopes[3]) < 0.15


@pytest.mark.slow
def test_on_a_random_walk_conformal_coverage_is_within_3_points_of_nominal(store, tmp_path):
    names = ("RW1", "RW2", "RW3")
    for seed, name in enumerate(names):
        store.write(name, prices_from_returns(ar1_returns(3000, phi=0.0, seed=10 + seed)), origin="test")
    outcome = train(config("training.epochs=5", tickers=names), store, tmp_path / "runs")
    pooled = outcome.metrics["pooled"]["model"]["h1"]
    for coverage in (50, 80, 90):
        assert abs(pooled[f"coverage_{coverage}"] - coverage / 100) <= 0.03, (coverage, pooled)


def test_no_quantile_ever_crosses_from_random_weights():
    torch.manual_seed(0)
    model = RecurrentForecaster("gru", 3, 8, 2, 0.0, horizon=5, levels=LEVELS)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 5.0)  # wild weights: large positive and negative raw outputs
        out = model(torch.randn(64, 20, 3) * 10)  # (B, H, Q)
        steps, _ = model.forward_every_step(torch.randn(8, 30, 3) * 10)
    assert out.shape == (64, 5, 7)
    assert (out.diff(dim=-1) >= 0).all() and (steps.diff(dim=-1) >= 0).all()


@pytest.fixture
def panel_data(store, sample_prices):
    store.write("KO", sample_prices("KO"), origin="test")
    store.write("XOM", sample_prices("XOM"), origin="test")
    return config("features.horizon=5", tickers=("KO", "XOM"))


def test_no_baseline_or_calibrated_forecast_crosses_its_quantiles(store, panel_data):
    data = prepare_training_data(panel_data, store)
    fitted = fit_baselines(data.fit_data)
    offsets = calibrate(data.fit_data, fitted)
    for name, forecaster in fitted.items():
        forecast = forecaster.predict(data.panel, data.test_ends)
        assert forecast.values.shape == (len(data.test_ends), 5, 7), name
        assert (np.diff(forecast.values, axis=-1) >= 0).all(), name
        calibrated = offsets[name].apply(data.panel, data.test_ends, forecast)
        assert (np.diff(calibrated.values, axis=-1) >= 0).all(), name
        assert np.array_equal(calibrated.median, forecast.median), name  # calibration never moves it


def _fitted_state(config, store):
    """Everything fitted from a prepared panel: scalers, every baseline's parameters, conformal offsets."""
    from stockrnn.forecasters.baselines import DLinear, LinearAR

    data = prepare_training_data(config, store)
    fitted = fit_baselines(data.fit_data)
    # The ridges' penalty is chosen on validation (allowed to move, like the early-stopping epoch);
    # what it fits on training at a given penalty must not.
    fitted["linear_ar"] = LinearAR(alphas=(1e3,)).fit(data.fit_data)
    fitted["dlinear"] = DLinear(alphas=(1e3,)).fit(data.fit_data)
    state = {"scalers": data.panel.scalers, "train": data.train_ends.copy()}
    for name, forecaster in fitted.items():
        state[name] = {
            k: (v.copy() if isinstance(v, np.ndarray) else v)
            for k, v in vars(forecaster).items()
            if k not in ("chunk",)
        }
    state["conformal"] = {n: o.offsets for n, o in calibrate(data.fit_data, fitted).items()}
    return state, data


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def test_leakage_at_h5_prices_after_train_end_change_nothing_fitted_on_training(store, panel_data):
    before, data = _fitted_state(panel_data, store)
    train_end, val_end = data.split.train_end, data.split.val_end
    for name in ("KO", "XOM"):
        prices = store.read(name)
        later = prices["date"] > train_end
        prices.loc[later, "close"] *= np.linspace(0.5, 3.0, later.sum())  # wilder and trending
        store.write(name, prices, origin="test")
    after, _ = _fitted_state(panel_data, store)
    for key in ("scalers", "train", *(b.name for b in BASELINES)):
        assert _equal(before[key], after[key]), key
    # Conformal offsets come from validation, which these prices reach: they may move.
    assert not _equal(before["conformal"], after["conformal"])  # and the test can see that
    # The last training origin's 5th target is inside training; the next origin's would not be.
    last = data.train_ends[-1]
    assert data.panel.dates[last + 5] <= np.datetime64(train_end) < data.panel.dates[last + 6]
    assert val_end > data.panel.dates[last + 6]


def test_leakage_at_h5_prices_after_val_end_change_no_weight_or_offset(store, panel_data, tmp_path):
    cfg = load_config(
        None,
        [*SMALL, 'data.tickers=["KO", "XOM"]', "features.horizon=5", "training.epochs=2"],
    )
    first = train(cfg, store, tmp_path / "runs")
    run = load_run(tmp_path / "runs", first.run_id)
    val_end = run.manifest.split.val_end
    for name in ("KO", "XOM"):
        prices = store.read(name)
        later = prices["date"] > val_end
        prices.loc[later, "close"] *= 2.0
        store.write(name, prices, origin="test")
    second = train(cfg, store, tmp_path / "runs")
    again = load_run(tmp_path / "runs", second.run_id)
    assert again.manifest.scalers == run.manifest.scalers
    assert np.array_equal(again.manifest.conformal.offsets, run.manifest.conformal.offsets)
    weights = torch.load(run.path / "model.pt", weights_only=True)
    weights_again = torch.load(again.path / "model.pt", weights_only=True)
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)


def test_conformal_offsets_give_nominal_coverage_on_exchangeable_scores():
    """CQR on a deliberately too-narrow forecast: after the offset, validation coverage is nominal."""
    rng = np.random.default_rng(0)
    from stockrnn.dataset.windows import Panel

    n = 4000
    panel = Panel(
        ["A"],
        ["log_return"],
        0,
        np.zeros((n, 1), np.float32),
        np.ones(n),
        np.zeros(n),
        np.zeros(n, np.int32),
        {},
    )
    actual = rng.standard_normal((n, 1))
    narrow = np.tile(np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), (n, 1, 1))  # a (N, 1, 5) forecast, too narrow
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    ends = np.arange(n)
    half = n // 2
    offsets = fit_conformal(panel, ends[:half], Forecast(levels, narrow[:half]), actual[:half], {"A": 1.0})
    adjusted = offsets.apply(panel, ends[half:], Forecast(levels, narrow[half:]))
    for low, high, coverage in central_intervals(levels):
        inside = (actual[half:, 0] >= adjusted.values[:, 0, low]) & (
            actual[half:, 0] <= adjusted.values[:, 0, high]
        )
        assert abs(inside.mean() - coverage / 100) < 0.03
    assert offsets.offsets[0, 0] == pytest.approx(1.645 - 1.0, abs=0.1)  # 90%: from +-1 to +-1.645


def test_pinball_loss_is_the_textbook_one():
    values = np.array([[0.0, 1.0, 2.0]])
    loss = pinball(values, np.array([1.5]), (0.1, 0.5, 0.9))
    np.testing.assert_allclose(loss, [[0.1 * 1.5, 0.5 * 0.5, 0.1 * 0.5]])


def test_return_scale_is_the_training_std_of_one_session_returns(store, panel_data):
    data = prepare_training_data(panel_data, store)
    scale = return_scale_per_ticker(data.fit_data)
    prices = store.read("KO")
    price = prices["close"].to_numpy()
    dates = prices["date"].to_numpy()
    last_train_target = data.panel.dates[data.train_ends[data.panel.ticker_ids[data.train_ends] == 0][-1] + 5]
    returns = np.diff(np.log(price[dates <= last_train_target]))
    assert scale["KO"] == pytest.approx(np.std(returns[1:]), rel=1e-9)
    assert pd.Timestamp(last_train_target) <= data.split.train_end


def test_mase_tells_the_story_mae_over_naive_tells_when_the_price_grew_tenfold():
    """A random walk with constant relative volatility whose price grows 10x after training: naive's
    MASE on test is about 1 (same relative volatility), not about 10 (the price level)."""
    from synthetic import prices_from_returns

    from stockrnn.dataset.features import compute_features
    from stockrnn.dataset.windows import FitData, build_panel
    from stockrnn.evaluation.metrics import naive_scale_per_ticker, score_forecasts
    from stockrnn.forecasters.baselines import Naive

    rng = np.random.default_rng(5)
    returns = rng.normal(0, 0.01, 1500) + np.r_[np.zeros(1000), np.full(500, np.log(10) / 500)]
    frame = compute_features(prices_from_returns(returns), ["log_return"])
    train_end = pd.Timestamp(frame["date"].iloc[999])
    panel = build_panel({"SYN": frame}, ["log_return"], "log_return", "standard", train_end)
    train = panel.window_ends(10, 1, None, train_end)
    test = panel.window_ends(10, 1, train_end, None)
    naive = Naive().fit(FitData(panel, train, train[:0], 10, 1, (0.5,)))
    forecasts = {"naive": naive.predict(panel, test)}
    scores = score_forecasts(panel, test, forecasts, forecasts, naive_scale_per_ticker(panel, train))
    assert panel.price[test[-1]] / panel.price[train[-1]] > 8  # the level did grow about tenfold
    assert scores["SYN"]["naive"]["h1"]["mase"] == pytest.approx(1.0, abs=0.15)
