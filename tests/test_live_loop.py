"""The live loop with real files: latest skips interrupted runs, promote and `--run production`,
train --challenge and its verdict, track's scores and its alert code, and a simulated month of
nights (prices imported day by day from a CSV) with weekly challengers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import saved_before_checksums
from synthetic import ar1_returns, prices_from_returns

import stockrnn
from stockrnn.runs.folder import load_run
from stockrnn.studies.challenge import challenge

FAST = ["--set", "features.lookback=10", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]
FAST += ["--set", "calibration.window=60", "--set", "calibration.min_resolved=20", "--device", "cpu"]
TICKERS = ("SYN", "ALT")


def _history(sessions: int) -> dict[str, pd.DataFrame]:
    return {
        name: prices_from_returns(ar1_returns(sessions, phi=0.3, sigma=0.012, seed=seed))
        for seed, name in enumerate(TICKERS, start=1)
    }


def _write_csv(path, history: pd.DataFrame) -> None:
    frame = pd.DataFrame({"Date": history["date"].dt.strftime("%Y-%m-%d"), "Close": history["close"]})
    frame.to_csv(path, index=False, float_format="%.10g")


def _train(cli, store, runs, *extra):
    args = ["train", *[a for t in TICKERS for a in ("--ticker", t)], "--epochs", "2", "--horizon", "2", *FAST]
    result = cli(*args, *extra, "--store", store.root, "--runs", runs, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def panel_store(store):
    for name, history in _history(520).items():
        store.write(name, history, origin="test")
    return store


def test_latest_skips_an_interrupted_run_which_stays_usable_by_its_id(cli, panel_store, tmp_path):
    runs = tmp_path / "runs"
    finished = _train(cli, panel_store, runs)["run_id"]
    cut_short = _train(cli, panel_store, runs)["run_id"]
    manifest_file = runs / cut_short / "manifest.json"
    saved_before_checksums(manifest_file.parent)
    manifest = json.loads(manifest_file.read_text())
    manifest["training"]["interrupted"] = True
    manifest_file.write_text(json.dumps(manifest))

    assert stockrnn.Run.load("latest", runs=runs).id == finished
    assert stockrnn.Run.load(cut_short, runs=runs).id == cut_short
    listing = cli("runs", "--runs", runs)
    row = next(line for line in listing.stdout.splitlines() if cut_short in line)
    assert "interrupted" in row and "latest" not in row
    refused = cli("promote", cut_short, "--runs", runs)
    assert refused.exit_code == 65
    assert f"run {cut_short} was interrupted during training" in refused.stderr


def test_promote_points_production_at_a_run_that_predict_then_uses(cli, panel_store, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    none_yet = cli("predict", "--run", "production", "--runs", runs, "--store", panel_store.root)
    assert none_yet.exit_code == 66
    assert "no production run in" in none_yet.stderr and "stockrnn promote RUN" in none_yet.stderr
    first = _train(cli, panel_store, runs)["run_id"]
    second = _train(cli, panel_store, runs)["run_id"]
    promoted = cli("promote", first, "--reason", "the steadier one", "--runs", runs)
    assert promoted.exit_code == 0, promoted.stderr
    assert promoted.stdout.strip() == f"production is now run {first}"
    pointer = json.loads((runs / "production.json").read_text())
    assert (pointer["run_id"], pointer["reason"], pointer["history"]) == (first, "the steadier one", [])

    predicted = cli(
        "predict",
        "--run",
        "production",
        "--allow-stale",
        "--runs",
        runs,
        "--store",
        panel_store.root,
        "--out",
        out,
    )
    assert predicted.exit_code == 0, predicted.stderr
    assert set(stockrnn.read_forecasts(out)["run_id"]) == {first}
    listing = cli("runs", "--runs", runs, "--json")
    marks = {r["run_id"]: (r["production"], r["latest"]) for r in json.loads(listing.stdout)["runs"]}
    assert marks == {first: (True, False), second: (False, True)}

    cli("promote", second, "--runs", runs)
    pointer = json.loads((runs / "production.json").read_text())
    assert pointer["run_id"] == second and [h["run_id"] for h in pointer["history"]] == [first]


def test_a_challenger_is_promoted_only_when_better_on_average_and_nowhere_significantly_worse(
    panel_store, tmp_path, cli
):
    runs = tmp_path / "runs"
    production = load_run(runs, _train(cli, panel_store, runs)["run_id"])
    run = stockrnn.Run.load(production.run_id, runs=runs)
    panel_run = stockrnn.read_prices(
        pd.concat([panel_store.read(t).assign(ticker=t)[["ticker", "date", "close"]] for t in TICKERS])
    )
    from stockrnn.runs.restore import run_panel

    panel = run_panel(production, panel_run, list(TICKERS))
    test_ends = panel.window_ends(10, 2, pd.Timestamp(production.manifest.split.val_end), None)
    # The production run's own forecasts at those origins, exactly as the challenge computes them.
    from stockrnn.studies.challenge import _production_forecast

    keys = [(panel.tickers[panel.ticker_ids[e]], panel.dates[e]) for e in test_ends]
    found, own = _production_forecast(production, panel_run, list(TICKERS), keys)
    assert found.all()

    same = challenge(production, panel_run, panel, test_ends, own)
    assert same["comparable"] and not same["promoted"]
    assert same["why"].startswith("mean pinball") and "is not below production's" in same["why"]

    from stockrnn.dataset.targets import cumulative_log_returns
    from stockrnn.forecasters.quantiles import Forecast

    actual = cumulative_log_returns(panel, test_ends, 2)[..., None]  # (N, H, 1)
    sharper = Forecast(own.levels, own.values * 0.5 + actual * 0.5)  # halfway to the outcome: better
    better = challenge(production, panel_run, panel, test_ends, sharper)
    assert better["promoted"] and "worse at no horizon" in better["why"]
    assert better["mean_pinball"]["challenger"] < better["mean_pinball"]["production"]

    wild = Forecast(own.levels, own.values * 6.0)  # six times too wide and a wandering median
    worse = challenge(production, panel_run, panel, test_ends, wild)
    assert not worse["promoted"] and worse["why"].startswith("significantly worse at h1, h2")
    assert worse["horizons"]["h1"]["p"] < 0.05

    other = Forecast((0.05, 0.5, 0.95), own.values[..., [0, 3, 6]])
    refused = challenge(production, panel_run, panel, test_ends, other)
    assert not refused["comparable"] and "do not compare" in refused["why"]
    assert run.manifest.challenge is None  # trained without --challenge


def test_track_scores_resolved_forecasts_and_alerts_with_exit_79(cli, store, tmp_path):
    """Forecasts whose 90% interval is far too narrow: coverage collapses, Kupiec rejects, and
    `track --alert` exits 79 naming run, ticker, horizon, interval and p-value; without --alert, 0."""
    history = _history(300)["SYN"]
    store.write("SYN", history, origin="test")
    dates = history["date"]
    closes = history["close"].to_numpy()
    rows = []
    for i in range(200, 290):  # forecasts made on 90 nights, each for the next session
        rows.append(
            {
                "ticker": "SYN",
                "origin_date": dates.iloc[i],
                "target_date": dates.iloc[i + 1].date(),
                "horizon": 1,
                "last_close": closes[i],
                "return_p05": -0.0001,
                "return_p50": 0.0,
                "return_p95": 0.0001,
                "model_name": "gru",
                "run_id": "20260101-000000-gru-SYN",
                "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
            }
        )
    stockrnn.write_forecasts(pd.DataFrame(rows), tmp_path / "out")
    base = ["track", "--out", tmp_path / "out", "--store", store.root, "--runs", tmp_path / "runs"]
    quiet = cli(*base, "--json")
    assert quiet.exit_code == 0, quiet.stderr
    [row] = json.loads(quiet.stdout)["summary"]
    assert (row["run_id"], row["ticker"], row["horizon"], row["forecasts"], row["pending"]) == (
        "20260101-000000-gru-SYN",
        "SYN",
        1,
        90,
        0,
    )
    outside = np.abs(np.log(closes[201:291] / closes[200:290])) > 0.0001
    assert row["coverage_90"] == pytest.approx(1 - outside.mean())
    assert row["kupiec_p_90"] < 1e-6
    scores = pd.read_parquet(tmp_path / "runs" / "track" / "scores.parquet")
    assert len(scores) == 90 and scores["resolved"].all()
    np.testing.assert_allclose(scores["actual_return"], np.log(closes[201:291] / closes[200:290]))

    page = tmp_path / "track.html"
    reported = cli("report", "--track", "--forecasts", tmp_path / "out", "--store", store.root, "--out", page)
    assert reported.exit_code == 0, reported.stderr
    assert reported.stdout.startswith("report of track archive: 1 chart, written to ")
    text = page.read_text()
    assert text.count("<img") == 1 and "h1: 90% interval, coverage over the last 63 outcomes" in text

    alerted = cli("--quiet", *base, "--alert", "0.01")
    assert alerted.exit_code == 79
    assert alerted.stdout == ""
    [line] = alerted.stderr.splitlines()
    assert line.startswith("Error: run 20260101-000000-gru-SYN, SYN h1: the 90% interval covered ")
    assert "below nominal: Kupiec p " in line


@pytest.mark.slow
def test_a_simulated_month_of_nights_keeps_the_archive_the_scores_and_the_promotions(cli, tmp_path):
    """Twenty nights: import the day's close from a CSV, predict with production, track; every
    fifth night a challenger trains. The archive holds every night, track scores exactly the
    resolved forecasts, and the production pointer follows the verdicts."""
    full = _history(600)
    store, runs, out = stockrnn.Store(tmp_path / "store"), tmp_path / "runs", tmp_path / "out"
    csv = {t: tmp_path / f"{t}.csv" for t in TICKERS}
    start = len(full["SYN"]) - 20
    for t in TICKERS:
        _write_csv(csv[t], full[t].iloc[:start])
        assert cli("fetch", "--from-csv", csv[t], "--ticker", t, "--store", store.root).exit_code == 0
    first = _train(cli, store, runs, "--challenge", "production")
    assert first["challenge"]["promoted"] and first["challenge"]["why"] == "no production run yet"
    verdicts = [first["challenge"]]
    for night in range(20):
        day = start + night
        for t in TICKERS:  # the day's close arrives
            _write_csv(csv[t], full[t].iloc[: day + 1])
            imported = cli("--quiet", "fetch", "--from-csv", csv[t], "--ticker", t, "--store", store.root)
            assert imported.exit_code == 0, imported.stderr
        nightly = ["--runs", runs, "--store", store.root, "--out", out]
        predicted = cli("--quiet", "predict", "--run", "production", "--allow-stale", *nightly)
        assert predicted.exit_code == 0, predicted.stderr
        tracked = cli("--quiet", "track", *nightly)
        assert tracked.exit_code == 0, tracked.stderr
        if night % 5 == 4:
            verdicts.append(_train(cli, store, runs, "--challenge", "production")["challenge"])

    archive = stockrnn.read_forecasts(out)
    nights = full["SYN"]["date"].iloc[start : start + 20]
    assert sorted(archive["origin_date"].unique()) == list(nights.dt.date)
    assert len(archive) == 20 * len(TICKERS) * 2  # each night: every ticker, horizons 1 and 2
    scores = pd.read_parquet(runs / "track" / "scores.parquet")
    last = nights.iloc[-1]
    resolved = pd.to_datetime(archive["target_date"]) <= last
    assert int(scores["resolved"].sum()) == int(resolved.sum()) == 20 * 2 * 2 - 2 * (1 + 2)
    pointer = json.loads((runs / "production.json").read_text())
    promoted = [v for v in verdicts if v["promoted"]]
    assert len(pointer["history"]) == len(promoted) - 1
    run_ids = sorted(p.name for p in runs.iterdir() if p.is_dir() and p.name[:8].isdigit())
    assert len(run_ids) == 5 and len(verdicts) == 5
    production = run_ids[0]
    for run_id, verdict in zip(run_ids[1:], verdicts[1:], strict=True):
        assert load_run(runs, run_id).manifest.challenge == verdict
        assert verdict["comparable"] and verdict["production"] == production
        if verdict["promoted"]:
            production = run_id
    assert pointer["run_id"] == production
    promoted_ids = {run_id for run_id, verdict in zip(run_ids, verdicts, strict=True) if verdict["promoted"]}
    assert set(archive["run_id"]) <= promoted_ids  # every night forecast with the production run
