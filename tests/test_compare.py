"""`stockrnn compare`: candidates on equal terms, one leaderboard, saved and reported."""

from __future__ import annotations

import json

import pytest
from synthetic import ar1_returns, prices_from_returns

from stockrnn.errors import ConfigError
from stockrnn.studies import fanout
from stockrnn.studies.candidates import candidates_from_files, candidates_from_grid

SMALL = [
    "data.tickers=['SYN']",
    "features.lookback=15",
    "features.horizon=3",
    "model.hidden_size=8",
    "model.num_layers=1",
    "model.d_model=8",
    "model.heads=2",
    "training.epochs=2",
    "training.device='cpu'",
]


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(
        "set = [" + ", ".join(json.dumps(s) for s in SMALL) + "]\n"
        "[candidates]\n"
        "gru = []\n"
        "seq2seq = [\"model.architecture='seq2seq'\"]\n"
        # sinusoidal positions: a candidate that trains in window mode
        "transformer = [\"model.architecture='transformer'\", \"model.positions='sinusoidal'\"]\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def folders(tmp_path, store):
    store.write("SYN", prices_from_returns(ar1_returns(700, phi=0.4)), origin="test")
    return ["--store", store.root, "--runs", tmp_path / "runs"]


def test_a_grid_names_its_candidates_and_applies_set_to_every_one(grid):
    candidates = candidates_from_grid(grid, ["training.seed=3"])
    assert [c.name for c in candidates] == ["gru", "seq2seq", "transformer"]
    assert [c.config.model.architecture for c in candidates] == ["recurrent", "seq2seq", "transformer"]
    assert {c.config.features.horizon for c in candidates} == {3}
    assert {c.config.training.seed for c in candidates} == {3}


def test_candidates_that_differ_outside_model_and_training_are_refused_by_key(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("[features]\nhorizon = 5\n")
    b.write_text("[features]\nhorizon = 1\n")
    with pytest.raises(ConfigError, match="candidate 'b' differs from 'a' in features.horizon"):
        candidates_from_files([a, b], [])
    b.write_text("[features]\nhorizon = 5\n[model]\nquantiles = [0.1, 0.5, 0.9]\n")
    with pytest.raises(ConfigError, match="in model.quantiles"):
        candidates_from_files([a, b], [])
    naive = tmp_path / "naive.toml"
    naive.write_text("")
    with pytest.raises(ConfigError, match=r"candidate names \['naive'\] are taken"):
        candidates_from_files([naive], [])


def test_compare_ranks_every_candidate_and_baseline_on_the_same_origins(cli, grid, folders, tmp_path):
    result = cli("compare", "--grid", grid, *folders, "--json")
    assert result.exit_code == 0, result.stderr
    board = json.loads(result.stdout)
    assert list(board["horizons"]) == ["h1", "h2", "h3"]
    expected = {"gru", "seq2seq", "transformer", "naive", "drift", "ewma", "garch", "linear_ar", "dlinear"}
    for rows in board["horizons"].values():
        assert {row["forecaster"] for row in rows} == expected
        ratios = [row["pinball_vs_naive"] for row in rows]
        assert ratios == sorted(ratios)  # best first
        assert rows[0]["p_vs_best"] is None and all(r["p_vs_best"] is not None for r in rows[1:])
        by_name = {row["forecaster"]: row for row in rows}
        assert by_name["naive"]["pinball_vs_naive"] == 1.0 and by_name["naive"]["p_vs_naive"] is None
        assert by_name["gru"]["parameters"] > 0 and by_name["garch"]["parameters"] is None
        assert by_name["transformer"]["seconds_per_epoch"] > 0
    # Every forecaster was scored on one set of origins: the metrics share the naive scores exactly.
    assert board["metrics"]["SYN"]["naive"]["h1"]["mae"] > 0
    saved = tmp_path / "runs" / "compares" / board["compare_id"]
    assert json.loads((saved / "leaderboard.json").read_text())["horizons"] == board["horizons"]
    report = cli("report", "--compare", "--runs", tmp_path / "runs", "--out", tmp_path / "c.html")
    assert report.exit_code == 0, report.stderr
    page = (tmp_path / "c.html").read_text()
    assert "sorted by pinball" in page and "transformer" in page and "data:image/png;base64" in page


def test_compare_prints_a_leaderboard_per_horizon_and_a_verdict(cli, grid, folders):
    result = cli(
        "compare", "--grid", grid, *folders, "--set", "features.horizon=1", "--by", "mae", "--jobs", "2"
    )
    assert result.exit_code == 0, result.stderr
    assert "h1: sorted by mae" in result.stdout
    assert "h1: lowest mae" in result.stdout and "significantly better than naive" in result.stdout
    # Before it starts: what it costs, and which candidates are the slow (window-mode) ones.
    assert result.stderr.splitlines()[1] == (
        "3 fit(s): 3 candidate(s) x 1, up to 2 epochs each; transformer trains in window mode, "
        "the slow kind (3-10x a GRU's epoch in sequence mode; README: compare)"
    )
    threads = max(1, fanout.available_cores() // 2)
    assert result.stderr.splitlines()[2] == (
        f"fitting the candidates 2 at a time, {threads} torch thread(s) each; a line as each finishes"
    )


def test_each_candidate_is_saved_as_a_run_that_predicts_and_runs_lists_the_comparison(
    cli, grid, folders, tmp_path
):
    """Issue 20, item 5: a compare keeps its networks: each candidate is a normal run (listed,
    loadable, predictable) scored exactly as `train` scores one, and the compare folder names them."""
    from stockrnn import api

    result = cli("compare", "--grid", grid, *folders, "--json")
    assert result.exit_code == 0, result.stderr
    board = json.loads(result.stdout)
    runs = board["runs"]
    assert list(runs) == ["gru", "seq2seq", "transformer"]
    assert [r.split("-")[2] for r in runs.values()] == ["gru", "seq2seq", "transformer"]
    comparison = api.Comparison.load(board["compare_id"], tmp_path / "runs")
    assert comparison.runs == runs
    for name, run_id in runs.items():
        run = api.Run.load(run_id, tmp_path / "runs")
        # The run's own scores of the candidate are the leaderboard's (one calibration, one scoring).
        row = next(r for r in board["horizons"]["h1"] if r["forecaster"] == name)
        assert run.scores["SYN"]["model"]["h1"]["pinball_vs_naive"] == pytest.approx(
            row["pinball_vs_naive"], rel=1e-9
        )
    predicted = cli("predict", "--run", runs["seq2seq"], "--allow-stale", *folders, "--out", tmp_path / "fc")
    assert predicted.exit_code == 0, predicted.stderr
    listing = json.loads(cli("runs", "--runs", tmp_path / "runs", "--json").stdout)
    assert sorted(r["run_id"] for r in listing["runs"]) == sorted(runs.values())
    [listed] = listing["compares"]
    assert listed["compare_id"] == board["compare_id"] and listed["runs"] == runs
    assert listed["best"] == board["best"]
    table = cli("runs", "--runs", tmp_path / "runs")
    assert f"comparisons in {tmp_path / 'runs' / 'compares'}" in table.stdout
    assert board["compare_id"] in table.stdout


@pytest.mark.slow
def test_compare_over_walk_forward_folds_scores_every_candidate_on_the_folds_origins(cli, grid, folders):
    result = cli("compare", "--grid", grid, *folders, "--backtest", "--folds", "2", "--step", "30", "--json")
    assert result.exit_code == 0, result.stderr
    board = json.loads(result.stdout)
    rows = board["horizons"]["h1"]
    assert {row["forecaster"] for row in rows} >= {"gru", "seq2seq", "transformer", "naive", "garch"}
    assert all(row["seconds"] > 0 for row in rows if row["forecaster"] in ("gru", "seq2seq"))


def test_compare_needs_configs_or_a_grid_not_both(cli, grid, folders, tmp_path):
    result = cli("compare", *folders)
    assert result.exit_code == 2 and "give either --config" in result.stderr
    other = tmp_path / "x.toml"
    other.write_text("")
    result = cli("compare", "--grid", grid, "--config", other, *folders)
    assert result.exit_code == 2


def test_the_families_grid_holds_six_networks_on_the_panel_at_h5():
    from pathlib import Path

    grid = Path(__file__).parents[1] / "configs" / "grids" / "families.toml"
    candidates = candidates_from_grid(grid, [])
    assert [c.config.model.label for c in candidates] == [
        "gru",
        "lstm",
        "bigru",
        "seq2seq-gru",
        "attention-gru",
        "transformer",
    ]
    assert {c.config.features.horizon for c in candidates} == {5}
    assert {tuple(c.config.data.tickers) for c in candidates} == {("AAPL", "JPM", "KO", "WMT", "XOM")}


def test_the_patching_grid_holds_the_transformer_with_and_without_patches_on_the_panel_at_h5():
    from pathlib import Path

    grid = Path(__file__).parents[1] / "configs" / "grids" / "patching.toml"
    candidates = candidates_from_grid(grid, [])
    labels = [c.config.model.label for c in candidates]
    assert labels == ["transformer", "transformer-p8", "transformer-p16"]
    assert {c.config.features.horizon for c in candidates} == {5}


def test_candidates_fitted_in_two_processes_rank_and_score_as_in_one(grid, folders, tmp_path, monkeypatch):
    """Issue 21, item 2: `compare --jobs 2` fits the candidates in two processes; with this process
    on one torch thread as each worker is, every leaderboard value is the one of a single job."""
    import torch

    from stockrnn import api
    from stockrnn.studies import fanout

    monkeypatch.setattr(fanout, "available_cores", lambda: 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        boards = [api.compare(grid, folders[1], tmp_path / f"runs{jobs}", jobs=jobs).board for jobs in (1, 2)]
    finally:
        torch.set_num_threads(threads)
    for h in ("h1", "h3"):
        one, two = boards[0]["horizons"][h], boards[1]["horizons"][h]
        assert [r["forecaster"] for r in one] == [r["forecaster"] for r in two]
        for a, b in zip(one, two, strict=True):
            for key in ("mae_vs_naive", "pinball_vs_naive", "crps_vs_naive", "coverage_90", "parameters"):
                assert a[key] == (None if b[key] is None else pytest.approx(b[key], rel=1e-5)), (
                    h,
                    a["forecaster"],
                    key,
                )
