"""`stockrnn backtest`: folds laid out in time, nothing a fold forecasts with has seen its future,
the folder written whole, bad plans refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from synthetic import ar1_returns, prices_from_returns

from stockrnn.config.loading import load_config
from stockrnn.data.store import PriceStore
from stockrnn.io.atomic import STAGING_MARK
from stockrnn.studies import backtest as backtest_study
from stockrnn.studies.backtest import backtests_dir, load_backtest
from stockrnn.studies.walkforward import BacktestPlan

TINY = [
    "features.lookback=10",
    "model.hidden_size=8",
    "model.num_layers=1",
    "training.epochs=2",
    "features.horizon=3",
    "training.device='cpu'",
    'data.tickers=["SYN", "ALT"]',
]
PLAN = BacktestPlan(folds=3, step=20, val_sessions=60)
CLI_PLAN = ["--folds", "3", "--step", "20", "--val-sessions", "60"]


def _write_prices(store: PriceStore, shift_after: pd.Timestamp | None = None) -> None:
    for name, seed in (("SYN", 1), ("ALT", 2)):
        frame = prices_from_returns(ar1_returns(420, phi=0.4, seed=seed))
        if shift_after is not None:  # a different future: every close after the date doubles
            frame.loc[frame["date"] > shift_after, "close"] *= 2.0
        store.write(name, frame, origin="test")


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    root = tmp_path_factory.mktemp("backtest")
    store = PriceStore(root / "store")
    _write_prices(store)
    outcome = backtest_study.backtest(load_config(None, TINY), store, root / "runs", PLAN)
    return outcome, store, root / "runs"


def test_folds_follow_each_other_and_each_fits_only_on_targets_up_to_its_cutoff(backtest):
    outcome, _, runs = backtest
    saved = load_backtest(runs, outcome.backtest_id)
    folds, forecasts = saved.manifest["folds"], saved.forecasts()
    assert [f["index"] for f in folds] == [1, 2, 3]
    sessions = np.unique(forecasts["origin_date"])
    assert len(sessions) == 3 * 20
    for fold in folds:
        mine = forecasts[forecasts["fold"] == fold["index"]]
        assert mine["origin_date"].min() == pd.Timestamp(fold["cutoff"]).date()  # session dates are dates
        assert mine["origin_date"].max() == pd.Timestamp(fold["last_origin"]).date()
        assert fold["origins"] == 20 * 2 == mine["origin_date"].nunique() * 2
        assert pd.Timestamp(fold["train_end"]) < pd.Timestamp(fold["cutoff"])
        assert fold["refit"] and fold["epochs_run"] == 2 and len(fold["history"]) == 2
    cutoffs = [pd.Timestamp(f["cutoff"]) for f in folds]
    assert all((b - a).days > 20 for a, b in zip(cutoffs, cutoffs[1:], strict=False))
    # The newest origin is the last session with all 3 outcomes stored.
    last_session = forecasts["target_date"].max()
    assert (forecasts[forecasts["origin_date"] == sessions[-1]]["target_date"] <= last_session).all()
    assert forecasts.groupby(["origin_date", "ticker"]).size().eq(3).all()


def test_backtest_folder_holds_config_manifest_forecasts_and_metrics_per_fold(backtest):
    outcome, _, runs = backtest
    folder = backtests_dir(runs) / outcome.backtest_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "forecasts.parquet",
        "manifest.json",
        "metrics.json",
    ]
    columns = list(pd.read_parquet(folder / "forecasts.parquet").columns)
    assert columns[:7] == ["fold", "origin_date", "target_date", "ticker", "horizon", "last_close", "actual"]
    assert {"model", "model_p05", "model_p95", "naive", "garch_p50", "ewma", "linear_ar"} <= set(columns)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {"pooled", "folds", "calibration"} and set(metrics["folds"]) == {"1", "2", "3"}
    assert set(metrics["calibration"]) == {"raw", "split", "rolling", "aci"}
    assert set(metrics["pooled"]) == {"pooled", "SYN", "ALT"}
    model = metrics["pooled"]["pooled"]["model"]
    assert set(model) == {"h1", "h2", "h3"}
    assert 0 <= model["h3"]["dm_pinball_p"] <= 1 and model["h3"]["best_baseline"] != "model"


def test_online_calibration_inside_a_fold_never_sees_an_outcome_after_its_origin(backtest, tmp_path):
    """Leakage, backtest: prices after the 10th origin of the last fold change; every origin up to
    it keeps bitwise the same quantiles (its offsets rest only on outcomes resolved by then), while
    later origins of the fold, calibrated on the changed outcomes, move."""
    outcome, _, runs = backtest
    original = load_backtest(runs, outcome.backtest_id)
    before = original.forecasts()
    last_fold = before[before["fold"] == 3]
    changed_after = sorted(last_fold["origin_date"].unique())[9]  # a date
    store = PriceStore(tmp_path / "store")
    _write_prices(store, shift_after=pd.Timestamp(changed_after))
    changed = backtest_study.backtest(load_config(None, TINY), store, tmp_path / "runs", PLAN)
    after = load_backtest(tmp_path / "runs", changed.backtest_id).forecasts()
    quantiles = [c for c in before.columns if c.startswith("model_p")]
    up_to = before["origin_date"] <= changed_after
    pd.testing.assert_frame_equal(before.loc[up_to, quantiles], after.loc[up_to, quantiles], check_exact=True)
    later = (before["fold"] == 3) & ~up_to
    assert not np.allclose(
        np.log(before.loc[later, "model_p95"] / before.loc[later, "last_close"]),
        np.log(after.loc[later, "model_p95"] / after.loc[later, "last_close"]),
    )


def test_no_fold_forecast_changes_when_prices_after_its_last_origin_change(backtest, tmp_path):
    """Fold 1 forecasts from sessions up to its last origin; a different future must leave every
    forecaster's quantiles for fold 1 unchanged. Fold 2 trains on that future, so it must change."""
    outcome, _, runs = backtest
    original = load_backtest(runs, outcome.backtest_id)
    last_origin = pd.Timestamp(original.manifest["folds"][0]["last_origin"])
    store = PriceStore(tmp_path / "store")
    _write_prices(store, shift_after=last_origin)
    changed = backtest_study.backtest(load_config(None, TINY), store, tmp_path / "runs", PLAN)
    before, after = original.forecasts(), load_backtest(tmp_path / "runs", changed.backtest_id).forecasts()
    forecast_columns = [
        c
        for c in before.columns
        if c not in ("fold", "origin_date", "target_date", "ticker", "horizon", "actual")
    ]
    fold1 = before["fold"] == 1
    pd.testing.assert_frame_equal(before.loc[fold1, forecast_columns], after.loc[fold1, forecast_columns])
    assert not np.allclose(before.loc[fold1, "actual"], after.loc[fold1, "actual"])  # the future did change
    fold2 = before["fold"] == 2
    assert not np.allclose(
        np.log(before.loc[fold2, "model_p95"] / before.loc[fold2, "last_close"]),
        np.log(after.loc[fold2, "model_p95"] / after.loc[fold2, "last_close"]),
    )


def test_refit_every_2_folds_reuses_the_fit_and_a_rolling_window_starts_training_later(tmp_path):
    store = PriceStore(tmp_path / "store")
    _write_prices(store)
    plan = BacktestPlan(folds=3, step=20, val_sessions=60, refit=2, window="rolling:150", warm_start=True)
    outcome = backtest_study.backtest(load_config(None, TINY), store, tmp_path / "runs", plan)
    folds = load_backtest(tmp_path / "runs", outcome.backtest_id).manifest["folds"]
    assert [f["refit"] for f in folds] == [True, False, True]
    assert folds[1]["epochs_run"] == 0 and folds[1]["history"] == []
    dates = store.read("SYN")["date"]
    training_sessions = dates[(dates > folds[0]["train_start"]) & (dates <= folds[0]["train_end"])]
    assert len(training_sessions) == 150  # rolling:150 = the 150 sessions up to train_end


def test_cli_backtest_prints_folds_and_the_verdict_and_runs_lists_it(cli, tmp_path):
    store = PriceStore(tmp_path / "store")
    _write_prices(store)
    settings = [arg for item in TINY for arg in ("--set", item)]
    paths = ["--store", store.root, "--runs", tmp_path / "runs"]
    result = cli("backtest", *settings, *CLI_PLAN, "--mcs", *paths)
    assert result.exit_code == 0, result.stderr
    assert "fold 3/3: origins" in result.stderr  # one line per fold off a terminal
    assert "Model Confidence Set" in result.stdout
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith("pooled, pinball loss, Diebold-Mariano (HLN) at 5%:")
    )
    listed = cli("runs", "--runs", tmp_path / "runs")
    assert listed.exit_code == 0 and "-gru-SYN+1-3x20" in listed.stdout
    as_json = cli("backtest", *settings, *CLI_PLAN, *paths, "--json")
    summary = json.loads(as_json.stdout)
    assert [f["index"] for f in summary["folds"]] == [1, 2, 3] and "pooled" in summary["metrics"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--window", "rolling:x"], 78, "--window 'rolling:x'"),
        (["--folds", "0"], 78, "--folds 0 must be at least 1"),
        (["--refit", "sometimes"], 78, "--refit 'sometimes'"),
        (["--folds", "30"], 65, "too few for 30 folds"),
    ],
)
def test_bad_backtest_plans_exit_with_one_line_naming_the_value(cli, tmp_path, args, code, message):
    store = PriceStore(tmp_path / "store")
    _write_prices(store)
    settings = [arg for item in TINY for arg in ("--set", item)]
    result = cli("backtest", *settings, *CLI_PLAN, *args, "--store", store.root, "--runs", tmp_path / "runs")
    assert result.exit_code == code
    *steps, error = result.stderr.strip().splitlines()  # step lines may come first; the error is one
    assert message in error and error.startswith("Error: ")
    assert steps in ([], ["reading prices and computing features for 2 ticker(s)"])
    assert not (tmp_path / "runs" / "backtests").exists()


def test_an_interrupted_backtest_leaves_no_folder_and_the_next_one_clears_stale_staging(tmp_path):
    store = PriceStore(tmp_path / "store")
    _write_prices(store)
    config = load_config(None, TINY)

    def interrupt(fold, total):
        if fold.index == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backtest_study.backtest(config, store, tmp_path / "runs", PLAN, on_fold=interrupt)
    assert not backtests_dir(tmp_path / "runs").exists()
    stale = backtests_dir(tmp_path / "runs") / ".incomplete-20200101-000000-gru-SYN+1-3x20"
    stale.mkdir(parents=True)
    (stale / STAGING_MARK).touch()  # what a killed stockrnn leaves: its staging, marked as such
    (stale / "forecasts.parquet").write_bytes(b"half")
    users = backtests_dir(tmp_path / "runs") / ".incomplete-mine"  # named alike, not ours: kept
    users.mkdir()
    (users / "notes.txt").write_text("keep")
    outcome = backtest_study.backtest(config, store, tmp_path / "runs", PLAN)
    assert sorted(p.name for p in backtests_dir(tmp_path / "runs").iterdir()) == [
        ".incomplete-mine",
        ".lock",
        outcome.backtest_id,
    ]
    assert (users / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize("refit", [1, 2])
def test_folds_fitted_in_two_processes_give_the_forecasts_and_folds_of_one(
    backtest, tmp_path, refit, monkeypatch
):
    """Issue 21, item 2: `--jobs 2` fans the fits out to two processes of one torch thread each;
    with this process on one thread too, forecasts, scores and fold records are those of one job."""
    import torch

    from stockrnn.studies import fanout

    monkeypatch.setattr(fanout, "available_cores", lambda: 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plan = BacktestPlan(folds=3, step=20, val_sessions=60, refit=refit)
        _, store, _ = backtest
        config = load_config(None, TINY)
        lines = {1: [], 2: []}
        one = backtest_study.backtest(config, store, tmp_path / "one", plan, on_step=lines[1].append)
        two = backtest_study.backtest(config, store, tmp_path / "two", plan, on_step=lines[2].append, jobs=2)
    finally:
        torch.set_num_threads(threads)
    fits = -(-3 // refit)
    assert lines[2][1] == f"fitting {fits} folds in 2 processes, 1 torch thread(s) each"
    assert sorted(line.split(" fitted")[0] for line in lines[2][2:]) == [
        f"fold {1 + k * refit}/3" for k in range(fits)
    ]
    first, second = load_backtest(tmp_path / "one"), load_backtest(tmp_path / "two")
    pd.testing.assert_frame_equal(first.forecasts(), second.forecasts(), rtol=1e-5)
    keep = ("index", "cutoff", "last_origin", "origins", "refit", "seed", "best_epoch", "epochs_run")
    assert [{k: f[k] for k in keep} for f in first.manifest["folds"]] == [
        {k: f[k] for k in keep} for f in second.manifest["folds"]
    ]
    losses = lambda b: [e["val_loss"] for f in b.manifest["folds"] for e in f["history"]]  # noqa: E731
    np.testing.assert_allclose(losses(first), losses(second), rtol=1e-5)
    assert one.metrics["pooled"]["SYN"]["model"]["h1"]["pinball"] == pytest.approx(
        two.metrics["pooled"]["SYN"]["model"]["h1"]["pinball"], rel=1e-5
    )
    assert first.manifest["device"] == second.manifest["device"] == "cpu"  # "auto", resolved by the workers


def test_fits_arriving_last_first_are_scored_in_fold_order_with_the_same_results(
    backtest, tmp_path, monkeypatch
):
    """With --jobs each fold is calibrated and scored as soon as its fit and the earlier folds' are
    in; fits that finish in reverse order wait, so folds, forecasts and scores are those of one job."""
    from stockrnn.studies import fanout

    def last_first(function, tasks, jobs, on_done=None, ray=None, gpus=0.0, keep=True):
        results = [function(*task) for task in tasks]  # here, on this process's threads
        for index in reversed(range(len(tasks))):
            on_done(index, results[index])
        return results

    monkeypatch.setattr(fanout, "run_all", last_first)
    outcome, store, runs = backtest
    scored = []
    reversed_run = backtest_study.backtest(
        load_config(None, TINY),
        store,
        tmp_path,
        PLAN,
        on_fold=lambda fold, total: scored.append(fold.index),
        jobs=2,
    )
    assert scored == [1, 2, 3]
    pd.testing.assert_frame_equal(
        load_backtest(runs, outcome.backtest_id).forecasts(),
        load_backtest(tmp_path, reversed_run.backtest_id).forecasts(),
        check_exact=True,
    )
    assert reversed_run.metrics == outcome.metrics


@pytest.mark.slow
def test_folds_fitted_as_ray_tasks_on_a_local_instance_give_the_forecasts_of_one_process(
    backtest, tmp_path, monkeypatch
):
    """Issue 21, item 3: the same fits as Ray tasks (each asking for its CPUs) on a private local
    instance; the driver writes the folder, whose forecasts are those of one process."""
    ray = pytest.importorskip("ray", reason="the ray wheel is not installed (pip install 'stockrnn[ray]')")
    import torch
    from threadpoolctl import threadpool_limits

    from stockrnn.studies import fanout

    monkeypatch.setattr(fanout, "available_cores", lambda: 2)
    _, store, _ = backtest
    config = load_config(None, TINY)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lines: list[str] = []
        with threadpool_limits(1):  # BLAS too, as in each task (GARCH's optimiser uses it)
            backtest_study.backtest(config, store, tmp_path / "one", PLAN)
        backtest_study.backtest(
            config, store, tmp_path / "ray", PLAN, on_step=lines.append, jobs=2, ray="local"
        )
    finally:
        torch.set_num_threads(threads)
    assert not ray.is_initialized()  # the instance it started, it stopped
    assert lines[1] == "fitting 3 folds in Ray tasks (local), 1 torch thread(s) each"
    pd.testing.assert_frame_equal(
        load_backtest(tmp_path / "one").forecasts(), load_backtest(tmp_path / "ray").forecasts(), rtol=1e-5
    )


def test_ray_without_the_extra_is_a_config_error_naming_it(backtest, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    _, store, _ = backtest
    from stockrnn.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--ray auto: Ray is not installed; pip install 'stockrnn\[ray\]'"):
        backtest_study.backtest(load_config(None, TINY), store, tmp_path / "r", PLAN, jobs=2, ray="auto")


def test_python_dash_m_stockrnn_with_jobs_runs_the_command_once(backtest, tmp_path):
    """`python -m stockrnn` with spawned workers: each worker must only fit, never run the CLI
    (multiprocessing skips re-running a package's __main__, and __main__.py is guarded too)."""
    import subprocess
    import sys

    _, store, _ = backtest
    settings = [arg for item in TINY for arg in ("--set", item)]
    args = [
        "backtest",
        *settings,
        *CLI_PLAN,
        "--jobs",
        "2",
        "--store",
        store.root,
        "--runs",
        tmp_path,
        "--json",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "stockrnn", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "backtests").iterdir())) == 2  # the backtest and the folder's .lock
    assert json.loads(done.stdout)["backtest_id"]


def test_a_backtest_fanned_out_to_processes_never_imports_torch_in_its_own(backtest, tmp_path):
    """The workers fit (and resolve training.device = "auto" for themselves); the parent only
    scores and writes, so it skips torch's second of import before the first fit can start."""
    import subprocess
    import sys

    _, store, _ = backtest
    settings = [arg for item in TINY for arg in ("--set", item)]
    args = ["backtest", *settings, *CLI_PLAN, "--jobs", "2", "--store", store.root, "--runs", tmp_path]
    code = (
        "import sys\n"
        "from stockrnn.cli.entry import main\n"
        "sys.argv = ['stockrnn', *sys.argv[1:]]\n"
        "try:\n    main()\nfinally:\n    print('torch imported:', 'torch' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "torch imported: False"
