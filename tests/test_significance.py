"""The significance tests: Diebold-Mariano with the HLN correction, pooling per date, the MCS,
and the sentence the train command ends with."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from stockrnn.evaluation.significance import diebold_mariano, model_confidence_set, per_date
from stockrnn.evaluation.verdicts import edge_verdict


def _dm_by_hand(loss_a, loss_b, h):
    """DM (1995) with a Bartlett-weighted variance over h-1 lags, times the HLN (1997) factor, t(n-1)."""
    d = loss_a - loss_b
    n, centred = len(d), d - d.mean()
    gamma = [centred[k:] @ centred[: n - k] / n for k in range(h)]
    variance = gamma[0] + 2 * sum((1 - k / h) * gamma[k] for k in range(1, h))
    statistic = d.mean() / np.sqrt(variance / n) * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return statistic, 2 * stats.t.cdf(-abs(statistic), n - 1)


@pytest.mark.parametrize("horizon", [1, 3, 5])
def test_dm_statistic_and_p_value_equal_the_formula_written_out(horizon):
    rng = np.random.default_rng(horizon)
    loss_a, loss_b = rng.normal(size=60) ** 2, 1.3 * rng.normal(size=60) ** 2
    statistic, p = diebold_mariano(loss_a, loss_b, horizon)
    expected_statistic, expected_p = _dm_by_hand(loss_a, loss_b, horizon)
    assert statistic == pytest.approx(expected_statistic, rel=1e-10)
    assert p == pytest.approx(expected_p, rel=1e-10)


@pytest.mark.parametrize("horizon", [1, 2, 5, 10])
def test_dm_gives_statsmodels_numbers_on_overlapping_errors_of_every_length(horizon):
    """statsmodels' diebold_mariano_test is the reference (our own is 150x faster per call)."""
    from statsmodels.tsa.stattools import diebold_mariano_test

    rng = np.random.default_rng(horizon)
    for n in (2 * horizon + 1, 63, 250):
        shocks = rng.normal(size=(2, n + horizon - 1))
        errors = np.lib.stride_tricks.sliding_window_view(shocks, horizon, axis=1).sum(-1)  # (2, n)
        loss_a, loss_b = errors[0] ** 2, 1.2 * errors[1] ** 2
        statistic, p = diebold_mariano(loss_a, loss_b, horizon)
        reference = diebold_mariano_test(
            np.zeros(n),
            loss_a,
            loss_b,
            criterion=lambda _y, f: f,
            lags=horizon - 1,
            harvey_adj=True,
            horizon=horizon,
        )
        assert statistic == pytest.approx(reference.statistic, rel=1e-12)
        assert p == pytest.approx(reference.pvalue, rel=1e-12)


def test_dm_rejects_a_forecaster_with_visibly_smaller_errors_and_sign_says_which():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=500)
    good, bad = np.abs(truth - 0.5 * truth), np.abs(truth - 0 * truth)
    statistic, p = diebold_mariano(good, bad, 1)
    assert statistic < 0 and p < 1e-6
    assert diebold_mariano(bad, good, 1)[0] == pytest.approx(-statistic)


def test_dm_with_h_minus_1_lags_holds_its_size_on_overlapping_5_session_errors():
    """Equal forecasters of a 5-session sum: the loss differential is MA(4). A test ignoring the
    overlap rejects far too often; with h-1 lags the rejection rate stays near the nominal 5%."""
    rng = np.random.default_rng(7)
    rejected_hac, rejected_plain = 0, 0
    trials, h = 400, 5
    for _ in range(trials):
        shocks = rng.normal(size=(2, 254))
        errors = np.lib.stride_tricks.sliding_window_view(shocks, h, axis=1).sum(-1)  # (2, 250) overlapping
        loss_a, loss_b = errors[0] ** 2, errors[1] ** 2
        rejected_hac += diebold_mariano(loss_a, loss_b, h)[1] < 0.05
        rejected_plain += diebold_mariano(loss_a, loss_b, 1)[1] < 0.05
    assert 0.02 <= rejected_hac / trials <= 0.10
    assert rejected_plain / trials > 0.15


def test_dm_is_nan_when_the_losses_are_identical_or_too_few():
    assert np.isnan(diebold_mariano(np.ones(50), np.ones(50), 1)[1])
    assert np.isnan(diebold_mariano(np.arange(4.0), np.zeros(4), 5)[1])


def test_per_date_averages_tickers_sharing_an_origin_date_in_date_order():
    dates = np.array(["2020-01-03", "2020-01-02", "2020-01-03", "2020-01-02"], dtype="datetime64[ns]")
    losses = np.array([1.0, 2.0, 3.0, 6.0])
    np.testing.assert_array_equal(per_date(losses, dates), [4.0, 2.0])


def test_mcs_keeps_the_best_forecasters_and_drops_a_clearly_worse_one():
    rng = np.random.default_rng(3)
    base = np.abs(rng.normal(size=400))
    p = model_confidence_set(
        {"best": base, "twin": base + rng.normal(0, 0.05, 400), "bad": base + 0.5}, seed=1, reps=300
    )
    assert p["bad"] < 0.05
    assert p["best"] > 0.05 and p["twin"] > 0.05


def _metrics(rows):
    """{scope: {forecaster: {h: scores}}} with the model's (p vs naive, ratio, p vs best, ratio)."""
    model = {
        f"h{h}": {
            "dm_pinball_p": p,
            "pinball_vs_naive": ratio,
            "dm_pinball_p_vs_best": p_best,
            "pinball_vs_best": ratio_best,
            "best_baseline": "garch",
        }
        for h, (p, ratio, p_best, ratio_best) in enumerate(rows, start=1)
    }
    return {"GSPC": {"model": model, "naive": {h: {} for h in model}}}


def test_verdict_names_the_horizons_where_the_edge_is_significant_and_where_it_is_not():
    metrics = _metrics(
        [
            (0.001, 0.9, 0.30, 1.01),
            (0.01, 0.92, 0.50, 0.99),
            (0.20, 0.97, 0.01, 1.05),
            (0.04, 1.05, 0.60, 1.0),
        ]
    )
    assert edge_verdict(metrics) == (
        "GSPC, pinball loss, Diebold-Mariano (HLN) at 5%: against naive the model is significantly better "
        "at h1-h2; significantly worse at h4; not significantly different at h3 (p 0.20); against the best "
        "baseline (garch) it is significantly worse at h3; not significantly different at h1-h2, h4 (p 0.30-0.60)."
    )


def test_verdict_of_a_run_without_tests_says_so():
    old = {"GSPC": {"model": {"h1": {"mae": 1.0, "pinball_vs_naive": 0.9}}, "naive": {"h1": {"mae": 1.0}}}}
    assert "no significance tests" in edge_verdict(old)


def test_verdict_of_a_panel_read_back_from_sorted_json_speaks_for_the_pooled_scope():
    single = _metrics([(0.001, 0.9, 0.30, 1.01)])["GSPC"]
    metrics = json.loads(json.dumps({"pooled": single, "AAPL": single}, sort_keys=True))
    assert next(iter(metrics)) == "AAPL"
    assert edge_verdict(metrics).startswith("pooled, pinball loss")


def test_verdict_says_when_the_edge_is_in_the_spread_and_states_coverage_with_kupiec():
    metrics = _metrics([(0.001, 0.9, 0.30, 1.01), (0.01, 0.92, 0.50, 0.99)])
    model = metrics["GSPC"]["model"]
    model["h1"].update(
        {"dm_mae_p": 0.40, "mae_vs_naive": 0.99, "coverage_90": 0.869, "outcomes": 1238, "kupiec_p_90": 0.002}
    )
    model["h2"].update(
        {"dm_mae_p": 0.01, "mae_vs_naive": 0.95, "coverage_90": 0.9031, "outcomes": 1237, "kupiec_p_90": 0.41}
    )
    sentence = edge_verdict(metrics)
    assert sentence.endswith(
        "At h1 the edge over naive is in the spread, not the median (MAE/naive not significantly below 1). "
        "The 90% interval covered 86.9% of 1,238 outcomes at h1, below nominal: Kupiec p 0.002. "
        "The 90% interval covered 90.3% of 1,237 outcomes at h2, consistent with nominal: Kupiec p 0.410."
    )
