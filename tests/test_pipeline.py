"""Train -> run -> evaluate -> predict, on synthetic and real prices."""

from __future__ import annotations

import datetime
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic import ar1_returns, prices_from_returns

from stockrnn.config.loading import load_config
from stockrnn.data.store import PriceStore
from stockrnn.forecasters.models import RecurrentForecaster
from stockrnn.forecasters.network import NetworkForecaster
from stockrnn.forecasters.online_calibration import calibrate_online
from stockrnn.forecasters.tensors import PanelTensors, predict_scaled
from stockrnn.outputs.forecast_archive import read_forecasts, write_forecasts
from stockrnn.outputs.predict import forecast_frame
from stockrnn.runs.folder import load_run
from stockrnn.runs.restore import restore, run_panel
from stockrnn.studies.train import train

SMALL = [
    "features.lookback=20",
    "model.hidden_size=16",
    "model.num_layers=1",
    "training.epochs=15",
    "training.batch_size=64",
    "training.learning_rate=0.003",
    "training.device='cpu'",
]
NOW = pd.Timestamp("2026-11-20 22:00", tz="UTC")


def small_config(*extra: str, tickers=("SYN",)):
    quoted = ", ".join(f'"{t}"' for t in tickers)
    return load_config(None, [*SMALL, f"data.tickers=[{quoted}]", *extra])


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_every_cell_maps_windows_to_h_by_q_values_each(cell):
    model = RecurrentForecaster(cell, n_features=4, hidden_size=8, num_layers=2, dropout=0.2)
    assert model(torch.zeros(5, 30, 4)).shape == (5, 1, 1)
    wide = RecurrentForecaster(cell, 4, 8, 2, 0.2, horizon=3, levels=(0.1, 0.5, 0.9))
    assert wide(torch.zeros(5, 30, 4)).shape == (5, 3, 3)
    assert wide.forward_every_step(torch.zeros(5, 7, 4))[0].shape == (5, 7, 3, 3)
    assert model.rnn.batch_first and model.rnn.dropout == 0.2
    assert RecurrentForecaster(cell, 4, 8, num_layers=1, dropout=0.2).rnn.dropout == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sequence", "window"])
def test_gru_clearly_beats_naive_on_ar1_returns(store, tmp_path, mode):
    store.write("SYN", prices_from_returns(ar1_returns(2000, phi=0.5)), origin="test")
    outcome = train(small_config(f"training.mode='{mode}'"), store, tmp_path / "runs")
    # The best possible ratio for AR(1) with phi 0.5 is about sqrt(1 - 0.25) = 0.87.
    assert outcome.metrics["SYN"]["model"]["h1"]["mae_vs_naive"] < 0.92
    assert outcome.metrics["SYN"]["model"]["h1"]["direction"] > 0.6


@pytest.mark.slow
def test_gru_is_not_materially_worse_than_naive_on_a_random_walk(store, tmp_path):
    store.write("SYN", prices_from_returns(ar1_returns(2000, phi=0.0, seed=1)), origin="test")
    outcome = train(small_config(), store, tmp_path / "runs")
    assert outcome.metrics["SYN"]["model"]["h1"]["mae_vs_naive"] < 1.02


@pytest.fixture
def trained(store, tmp_path):
    """A small GRU trained on a two-ticker synthetic panel: (run, store, runs folder)."""
    store.write("SYN", prices_from_returns(ar1_returns(900, phi=0.5)), origin="test")
    store.write("ALT", prices_from_returns(ar1_returns(900, phi=-0.3, seed=3)), origin="test")
    runs = tmp_path / "runs"
    outcome = train(small_config("training.epochs=3", tickers=("SYN", "ALT")), store, runs)
    return load_run(runs, outcome.run_id), store, runs


def test_same_seed_gives_identical_metrics(trained):
    run, store, runs = trained
    again = train(small_config("training.epochs=3", tickers=("SYN", "ALT")), store, runs)
    assert again.metrics == run.metrics
    assert again.run_id != run.run_id
    assert load_run(runs, "latest").run_id == again.run_id


def test_run_folder_holds_the_documented_files(trained):
    run, _, _ = trained
    assert sorted(p.name for p in run.path.iterdir()) == sorted(
        [
            "config.json",
            "manifest.json",
            "metrics.json",
            "model.pt",
            "raw_forecasts.npz",
            "test_predictions.parquet",
        ]
    )
    manifest = run.manifest
    assert manifest.features == ["log_return"] and manifest.lookback == 20
    assert set(manifest.scalers) == {"SYN", "ALT"}
    assert len(manifest.data_fingerprint) == 64
    assert set(run.metrics) == {"pooled", "SYN", "ALT"}
    assert set(run.metrics["pooled"]) == {"model", "naive", "drift", "ewma", "garch", "linear_ar", "dlinear"}


def _model_forecast(run, panel, ends, history=None):
    """The restored run's calibrated forecast for origins `ends` of `panel`: with its split offsets,
    or online from the resolved forecasts at `history` on (as training scores its test split)."""
    config, model = restore(run)
    manifest = run.manifest
    network = NetworkForecaster(model, manifest.lookback, manifest.horizon, manifest.levels)
    forecast = network.predict(panel, ends)
    if history is None:
        return manifest.conformal.apply(panel, ends, forecast)
    raw_history = network.predict(panel, history)
    return calibrate_online(
        panel, history, ends, raw_history, forecast, manifest.conformal, config.calibration
    )[0]


def test_checkpoint_round_trip_reproduces_the_test_predictions(trained):
    run, store, _ = trained
    panel = run_panel(run, store, run.manifest.tickers)
    stored = pd.read_parquet(run.path / "test_predictions.parquet")
    split = run.manifest.split
    ends = panel.window_ends(20, 1, pd.Timestamp(split.val_end), None)
    val_ends = panel.window_ends(20, 1, pd.Timestamp(split.train_end), pd.Timestamp(split.val_end))
    prices = _model_forecast(run, panel, ends, val_ends).prices(panel.price[ends])  # (N, 1, Q)
    np.testing.assert_allclose(prices[:, 0, 3], stored["model"].to_numpy(), rtol=1e-9)
    assert set(stored["target_date"].map(type)) == {datetime.date}  # session dates as dates
    np.testing.assert_allclose(prices[:, 0, 0], stored["model_p05"].to_numpy(), rtol=1e-9)
    assert len(stored) == run.manifest.windows["test"]


def test_prices_after_t_change_no_forecast_for_a_date_up_to_t(trained, tmp_path):
    run, store, _ = trained
    _, model = restore(run)
    t = pd.Timestamp(run.manifest.split.val_end)
    before = run_panel(run, store, ["SYN"])
    changed = store.read("SYN")
    later = changed["date"] > t
    changed.loc[later, "close"] *= 1.5
    store.write("SYN", changed, origin="test")
    after = run_panel(run, store, ["SYN"])
    ends = before.window_ends(20, 1, None, t)
    forecast_before = predict_scaled(model, PanelTensors(before, 20, torch.device("cpu")), ends)
    forecast_after = predict_scaled(model, PanelTensors(after, 20, torch.device("cpu")), ends)
    assert np.array_equal(forecast_before, forecast_after)
    late = before.window_ends(20, 1, t, None)
    late_before = predict_scaled(model, PanelTensors(before, 20, torch.device("cpu")), late)
    late_after = predict_scaled(model, PanelTensors(after, 20, torch.device("cpu")), late)
    assert not np.array_equal(late_before, late_after)  # the test can see a change when there is one


def test_forecasts_from_the_newest_window_equal_those_from_the_whole_history(trained):
    """predict reads only the sessions its windows and online calibration need; the forecast (and
    its calibration from the resolved forecasts of the window + H origins before) must not change."""
    run, store, _ = trained
    frame = forecast_frame(run, store, None, NOW, allow_stale=True).set_index("ticker")
    whole = run_panel(run, store, ["SYN", "ALT"])
    blocks = [np.flatnonzero(whole.ticker_ids == i) for i in range(2)]
    newest = np.array([rows[-1] for rows in blocks])
    recent = run.config["calibration"]["window"] + run.manifest.horizon
    history = np.concatenate([rows[-recent - 1 : -1] for rows in blocks])
    prices = _model_forecast(run, whole, newest, history).prices(whole.price[newest])[:, 0]  # (2, Q)
    assert list(frame["calibration_support"]) == [250, 250]
    np.testing.assert_allclose(
        frame.loc[["SYN", "ALT"], "predicted_close"].to_numpy(), prices[:, 3], rtol=1e-12
    )
    np.testing.assert_allclose(frame.loc[["SYN", "ALT"], "close_p95"].to_numpy(), prices[:, 6], rtol=1e-12)


def test_predict_asof_a_past_night_is_bitwise_what_that_night_saw_whatever_came_after(trained, tmp_path):
    """Leakage, predict: every close after an asof is replaced by noise; the forecasts for that asof
    (quantiles and the online offsets under them, from the resolved forecasts before) stay bitwise
    the same as from a store that ends on that night."""
    run, store, _ = trained
    asof = store.read("SYN")["date"].iloc[-40]
    cut, noisy = PriceStore(tmp_path / "cut"), PriceStore(tmp_path / "noisy")
    rng = np.random.default_rng(7)
    for ticker in ("SYN", "ALT"):
        history = store.read(ticker)
        cut.write(ticker, history[history["date"] <= asof], origin="test")
        after = history["date"] > asof
        history.loc[after, "close"] *= np.exp(rng.normal(0, 0.2, after.sum()))
        noisy.write(ticker, history, origin="test")
    that_night = forecast_frame(run, cut, None, NOW, allow_stale=True)
    replayed = forecast_frame(run, noisy, None, NOW, allow_stale=True, asof=asof)
    quantiles = [c for c in that_night.columns if c.startswith(("close_", "return_"))]
    assert (replayed["origin_date"] == asof).all() and (replayed["calibration_support"] == 250).all()
    pd.testing.assert_frame_equal(
        replayed[[*quantiles, "calibration_support"]],
        that_night[[*quantiles, "calibration_support"]],
        check_exact=True,
    )
    tonight = forecast_frame(run, noisy, None, NOW, allow_stale=True)
    assert not np.array_equal(tonight["return_p95"], that_night["return_p95"])  # the noise is seen later


def test_the_forecast_cache_serves_the_next_night_and_never_a_changed_window(trained, tmp_path):
    """Night N-1 leaves its raw forecasts in <out>/.calibration; night N reuses them and equals a
    fresh forecast (to float32 batching); a restated close, a garbage cache or one holding an origin
    twice recomputes."""
    run, store, _ = trained
    out = tmp_path / "out"
    quantiles = lambda frame: frame[[c for c in frame.columns if c.startswith("return_")]].to_numpy()  # noqa: E731
    previous = store.read("SYN")["date"].iloc[-2]
    forecast_frame(run, store, None, NOW, allow_stale=True, asof=previous, cache_root=out)
    cache = out / ".calibration" / f"{run.run_id}.npz"
    assert cache.is_file()
    fresh = forecast_frame(run, store, None, NOW, allow_stale=True)
    served = forecast_frame(run, store, None, NOW, allow_stale=True, cache_root=out)
    np.testing.assert_allclose(quantiles(served), quantiles(fresh), rtol=1e-6, atol=1e-9)

    history = store.read("SYN")
    history.loc[len(history) - 30, "close"] *= 1.5  # a restatement inside the calibration windows
    store.write("SYN", history, origin="test")
    restated = forecast_frame(run, store, None, NOW, allow_stale=True)
    from_cache = forecast_frame(run, store, None, NOW, allow_stale=True, cache_root=out)
    np.testing.assert_allclose(quantiles(from_cache), quantiles(restated), rtol=1e-6, atol=1e-9)
    assert not np.allclose(quantiles(restated), quantiles(fresh))  # the restatement did matter

    cache.write_bytes(b"not a cache")
    rebuilt = forecast_frame(run, store, None, NOW, allow_stale=True, cache_root=out)
    np.testing.assert_allclose(quantiles(rebuilt), quantiles(restated), rtol=1e-6, atol=1e-9)
    assert np.load(cache)["values"].shape[0] == 2 * (250 + 1 + 1)  # rewritten: the window + H, and tonight

    kept = dict(np.load(cache))
    np.savez(cache, **{k: v if k == "levels" else np.concatenate([v, v]) for k, v in kept.items()})
    twice = forecast_frame(run, store, None, NOW, allow_stale=True, cache_root=out)  # each origin twice
    np.testing.assert_allclose(quantiles(twice), quantiles(restated), rtol=1e-6, atol=1e-9)


def test_the_first_night_reuses_trainings_test_forecasts_and_never_a_changed_window(trained, caplog):
    """Training keeps its raw forecasts at the test origins a first predict's calibration reads
    (raw_forecasts.npz; here every test origin: 900 sessions leave fewer than the window + 1), so that
    predict forecasts only the rest, equal to forecasting everything afresh; a restated close
    recomputes exactly the windows that hold it, and a file whose checksum is not the manifest's is
    not read."""
    run, store, _ = trained
    quantiles = lambda frame: frame[[c for c in frame.columns if c.startswith("return_")]].to_numpy()  # noqa: E731
    seed = run.path / "raw_forecasts.npz"
    assert len(np.load(seed)["days"]) == run.manifest.windows["test"]

    def first_night():
        with caplog.at_level(logging.DEBUG, logger="stockrnn"):
            caplog.clear()
            frame = forecast_frame(run, store, None, NOW, allow_stale=True)
        (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("forecast cache")]
        return frame, int(line.split()[2])  # "forecast cache: <reused> of <n> history windows reused"

    def afresh():
        seed.rename(seed.with_suffix(".away"))
        try:
            return forecast_frame(run, store, None, NOW, allow_stale=True)
        finally:
            seed.with_suffix(".away").rename(seed)

    served, reused = first_night()
    assert reused == run.manifest.windows["test"]
    np.testing.assert_allclose(quantiles(served), quantiles(afresh()), rtol=1e-6, atol=1e-9)

    history = store.read("SYN")
    history.loc[len(history) - 30, "close"] *= 1.5  # changes two log returns: 21 windows of 20 hold one
    store.write("SYN", history, origin="test")
    restated, reused = first_night()
    assert reused == run.manifest.windows["test"] - 21
    np.testing.assert_allclose(quantiles(restated), quantiles(afresh()), rtol=1e-6, atol=1e-9)
    assert not np.allclose(quantiles(restated), quantiles(served))  # the restatement did matter

    kept = dict(np.load(seed))
    np.savez(seed, **{**kept, "values": kept["values"] * 2})  # well-formed, not what training saved
    tampered, reused = first_night()
    assert reused == 0
    assert any("changed since the run was saved" in r.getMessage() for r in caplog.records)
    np.testing.assert_allclose(quantiles(tampered), quantiles(restated), rtol=1e-6, atol=1e-9)


def test_forecast_is_for_the_next_session_and_rewrites_replace_rows(trained, tmp_path):
    run, store, _ = trained
    frame = forecast_frame(run, store, None, NOW, allow_stale=True)
    last = store.read("SYN")["date"].iloc[-1]
    syn = frame.set_index("ticker").loc["SYN"]
    assert syn["origin_date"] == last
    from stockrnn.data.calendar import next_session

    assert syn["target_date"] == next_session("XNYS", last).date()  # a date, as in the store
    assert syn["predicted_close"] == pytest.approx(syn["last_close"] * np.exp(syn["predicted_return"]))
    out = tmp_path / "forecasts"
    write_forecasts(frame, out)
    write_forecasts(frame, out)
    written = read_forecasts(out)
    assert sorted(written["ticker"]) == ["ALT", "SYN"]
    assert set(written["origin_date"]) == {last.date()}  # a date, not a string or a category
    assert set(written["target_date"]) == {next_session("XNYS", last).date()}
