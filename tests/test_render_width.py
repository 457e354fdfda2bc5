"""Every table fits the terminal it is given: at 80 and 120 columns the default view shows whole
cells (no ellipsis, no line past the edge), and `--wide` shows every column."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from synthetic import ar1_returns, prices_from_returns

import stockrnn
from stockrnn.cli import render, score_tables
from stockrnn.runs.folder import scan_runs
from stockrnn.studies.backtest import backtests_dir, list_backtests
from stockrnn.studies.compare import compares_dir, scan_compares

TINY = {
    "features.lookback": 10,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "training.epochs": 1,
    "features.horizon": 3,
    "data.tickers": ["SYN", "LONGNAME.X"],
    "calibration.window": 40,
    "calibration.min_resolved": 10,
}


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Every table the CLI prints, from a real run, backtest, comparison, forecasts and track."""
    root = tmp_path_factory.mktemp("render")
    store = stockrnn.Store(root / "store")
    for seed, name in enumerate(("SYN", "LONGNAME.X"), start=1):
        store.write(name, prices_from_returns(ar1_returns(420, phi=0.3, seed=seed)), origin="test")
    config = stockrnn.Config.from_toml(overrides=TINY)
    run = stockrnn.train(config, store, root / "runs")
    walked = stockrnn.backtest(config, store, root / "runs", folds=2, step=20, val_sessions=60, mcs=True)
    compared = stockrnn.compare(
        {"gru": config, "lstm": config.with_overrides({"model.cell": "lstm"})}, store, root / "runs"
    )
    for day in store.read("SYN")["date"].iloc[-12:-2]:
        stockrnn.write_forecasts(run.predict(store, asof=day), root / "out")
    forecasts = run.predict(store, allow_stale=True)
    tracked = stockrnn.track(root / "out", store)
    found, _ = scan_runs(root / "runs")
    scores = walked.scores

    def build(wide: bool) -> dict:
        return {
            "metrics": [score_tables.metrics_table(run.scores, f"test split, run {run.id}", wide=wide)],
            "calibration": [score_tables.calibration_table(run.manifest.calibration, "rolling", wide=wide)],
            "folds": [score_tables.folds_table(walked.manifest["folds"], scores["folds"], wide=wide)],
            "mcs": [score_tables.mcs_table(scores["mcs"], wide=wide)],
            "leaderboard": score_tables.leaderboard_tables(compared.board, wide=wide),
            "forecasts": [render.forecasts_table(forecasts, run.id, wide=wide)],
            "runs": [render.runs_table(root / "runs", found, found[-1].run_id, found[0].run_id, wide=wide)],
            "backtests": [
                render.backtests_table(backtests_dir(root / "runs"), list_backtests(root / "runs"), wide)
            ],
            "compares": [
                render.compares_table(compares_dir(root / "runs"), scan_compares(root / "runs")[0], wide)
            ],
            "broken": [
                render.broken_folders_table(
                    root / "runs",
                    [
                        (
                            "comparison",
                            compares_dir(root / "runs"),
                            compared.id,
                            f"comparison {compared.id}: leaderboard.json changed since it was saved (checksum mismatch); run it again",
                        )
                    ],
                )
            ],
            "track": score_tables.track_tables(tracked.summary, wide=wide),
        }

    return build


def _shown(table, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(table)
    return console.file.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize(
    "name",
    [
        "metrics",
        "calibration",
        "folds",
        "mcs",
        "leaderboard",
        "forecasts",
        "runs",
        "backtests",
        "compares",
        "broken",
        "track",
    ],
)
def test_the_default_view_fits_the_terminal_without_cutting_a_cell(tables, name, width):
    for table in tables(wide=False)[name]:
        text = _shown(table, width)
        assert "…" not in text, text
        assert max(len(line) for line in text.splitlines()) <= width
        for column in table.columns:  # every header whole on one line: nothing folded to fit
            assert column.header in text, (column.header, text)


@pytest.mark.slow
def test_wide_shows_every_column_the_default_leaves_out(tables):
    narrow, wide = tables(wide=False), tables(wide=True)
    for name in narrow:
        for short, full in zip(narrow[name], wide[name], strict=True):
            assert len(full.columns) >= len(short.columns)
    assert {c.header for c in wide["metrics"][0].columns} >= {
        "MAE",
        "dir",
        "CRPS/naive",
        "cov80",
        "raw90",
        "width90",
    }
    assert "created" not in {c.header for c in narrow["runs"][0].columns}
    assert "…" not in _shown(wide["metrics"][0], 200)
