"""Batching for training: sequence stretches cover the training split exactly and stay in one ticker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from test_windows import LOOKBACK, panel_for

from stockrnn.forecasters.models import RecurrentForecaster
from stockrnn.forecasters.tensors import PanelTensors
from stockrnn.forecasters.training import SequenceBatches, WindowBatches, make_loss

TRAIN_END = pd.Timestamp("2000-06-30")


@pytest.fixture
def panel(sample_prices):
    return panel_for({"KO": sample_prices("KO"), "JPM": sample_prices("JPM")}, TRAIN_END)


@pytest.mark.parametrize(("length", "per_batch"), [(32, 8), (7, 3), (1, 1), (5000, 2)])
def test_an_epoch_of_stretches_counts_every_training_target_exactly_once(panel, length, per_batch):
    train_ends = panel.window_ends(LOOKBACK, 1, None, TRAIN_END)
    data = PanelTensors(panel, LOOKBACK, torch.device("cpu"))
    batches = SequenceBatches(data, train_ends, length, per_batch)
    counted_ends = []
    for epoch_seed in range(3):  # each epoch cuts the stretches at a different phase
        shuffler = torch.Generator().manual_seed(epoch_seed)
        counted_ends = []
        for firsts, sizes in batches.epoch(shuffler):
            assert len(firsts) <= per_batch
            for first, size in zip(firsts.tolist(), sizes.tolist(), strict=True):
                assert 1 <= size <= length
                stretch = range(first - LOOKBACK + 1, first + size + 1)  # warm-up .. last target row
                assert len(set(panel.ticker_ids[list(stretch)])) == 1
                counted_ends.extend(range(first, first + size))
        assert sorted(counted_ends) == train_ends.tolist()


def test_sequence_loss_counts_only_the_steps_inside_each_stretch(panel):
    train_ends = panel.window_ends(LOOKBACK, 1, None, TRAIN_END)
    data = PanelTensors(panel, LOOKBACK, torch.device("cpu"))
    model = RecurrentForecaster("gru", len(panel.feature_names), 8, 1, 0.0)
    batches = SequenceBatches(data, train_ends, length=16, sequences_per_batch=4)
    first = int(train_ends[0])
    loss, count = batches.loss(
        model, (torch.tensor([first, first]), torch.tensor([16, 3])), make_loss("mse", (0.5,))
    )
    assert count == 19
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_the_last_step_of_a_stretch_sees_the_same_input_as_its_window(panel):
    """Warm-up plus stretch ends on the same rows as the window of the stretch's first target."""
    train_ends = panel.window_ends(LOOKBACK, 1, None, TRAIN_END)
    data = PanelTensors(panel, LOOKBACK, torch.device("cpu"))
    model = RecurrentForecaster("gru", len(panel.feature_names), 8, 1, 0.0).eval()
    first = torch.tensor([int(train_ends[5])])
    window_x, _, window_y = data.batch(first)
    batches = SequenceBatches(data, train_ends, length=1, sequences_per_batch=1)
    with torch.no_grad():
        mse = make_loss("mse", (0.5,))
        sequence_loss, _ = batches.loss(model, (first, torch.tensor([1])), mse)
        window_loss, _ = WindowBatches(data, train_ends, 1).loss(model, first, mse)
    assert sequence_loss.item() == pytest.approx(window_loss.item(), rel=1e-5)


def test_linear_ar_from_chunked_normal_equations_equals_scikit_learn_ridge(panel):

    from sklearn.linear_model import Ridge

    from stockrnn.dataset.windows import FitData
    from stockrnn.forecasters.baselines import LinearAR

    ends = panel.window_ends(LOOKBACK, 1, None, TRAIN_END)
    data = FitData(panel, ends, ends[:0], LOOKBACK, 1, (0.5,))
    ours = LinearAR(alphas=(1.0,), chunk=1000).fit(data)  # several chunks
    x = panel.sliding_windows(LOOKBACK)[ends - LOOKBACK + 1].reshape(len(ends), -1)
    # At H = 1 the normalised target is the scaled next-session return.
    reference = Ridge(alpha=1.0).fit(x, panel.target[ends + 1])
    assert ours.weights[:, 0] == pytest.approx(reference.coef_, abs=1e-6)  # scikit-learn solves in float32
    assert ours.predict_normalized(panel, ends)[:, 0] == pytest.approx(reference.predict(x), abs=1e-6)
    assert np.isfinite(ours.intercept).all()


def test_linear_ar_chooses_its_penalty_on_validation_and_fits_one_ridge_per_horizon(panel):
    from stockrnn.dataset.windows import FitData
    from stockrnn.forecasters.baselines import LinearAR

    train = panel.window_ends(LOOKBACK, 3, None, TRAIN_END)
    val = panel.window_ends(LOOKBACK, 3, TRAIN_END, pd.Timestamp("2003-06-30"))
    fitted = LinearAR(alphas=(1e-3, 1e5)).fit(FitData(panel, train, val, LOOKBACK, 3, (0.1, 0.5, 0.9)))
    assert fitted.alpha == 1e5  # daily returns: heavy shrinkage wins out of sample
    assert fitted.weights.shape == (LOOKBACK * len(panel.feature_names), 3)
    forecast = fitted.predict(panel, val)
    assert forecast.values.shape == (len(val), 3, 3)
    assert (np.diff(forecast.values, axis=-1) >= 0).all()


@pytest.mark.parametrize(("precision", "step_dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_precision_sets_the_dtype_of_training_steps_and_leaves_validation_in_fp32(
    panel, precision, step_dtype
):
    from stockrnn.config.schema import TrainingConfig
    from stockrnn.forecasters.training import train_model

    train_ends = panel.window_ends(LOOKBACK, 1, None, TRAIN_END)
    val_ends = panel.window_ends(LOOKBACK, 1, TRAIN_END, None)[:64]
    model = RecurrentForecaster("gru", len(panel.feature_names), 8, 1, 0.0)
    head_dtypes = {"train": set(), "eval": set()}
    model.head.register_forward_hook(
        lambda module, _inputs, output: head_dtypes["train" if module.training else "eval"].add(output.dtype)
    )
    config = TrainingConfig(epochs=1, sequences_per_batch=64, precision=precision)
    result = train_model(model, panel, train_ends, val_ends, LOOKBACK, config, torch.device("cpu"))
    assert head_dtypes == {"train": {step_dtype}, "eval": {torch.float32}}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert torch.isfinite(torch.tensor(result.best_val_loss))


def test_an_interrupt_seen_after_the_epoch_line_finds_that_epoch_kept_as_the_best(panel):
    """The CI once caught SIGTERM landing between "epoch 1" and the best-epoch bookkeeping, and
    nothing was saved; the callback is now called after the best epoch is recorded."""
    import signal

    from stockrnn.config.schema import TrainingConfig
    from stockrnn.errors import Interrupted
    from stockrnn.forecasters.training import train_model

    train_ends = panel.window_ends(LOOKBACK, 1, None, TRAIN_END)
    val_ends = panel.window_ends(LOOKBACK, 1, TRAIN_END, None)[:64]
    model = RecurrentForecaster("gru", len(panel.feature_names), 8, 1, 0.0)
    weights_at_the_line = []

    def terminate_on_the_epoch_line(_report, _epochs):
        weights_at_the_line.append({k: v.clone() for k, v in model.state_dict().items()})
        raise Interrupted(signal.SIGTERM)

    config = TrainingConfig(epochs=5, sequences_per_batch=64)
    result = train_model(
        model,
        panel,
        train_ends,
        val_ends,
        LOOKBACK,
        config,
        torch.device("cpu"),
        on_epoch=terminate_on_the_epoch_line,
    )
    assert (result.best_epoch, result.interrupted_by, len(result.history)) == (1, signal.SIGTERM, 1)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights_at_the_line[0].items())


def test_compiled_training_steps_match_eager_ones_and_leave_the_model_eager(panel):
    """training.compile runs the steps through torch.compile (GRU included); same maths, same weights."""
    from stockrnn.config.schema import TrainingConfig
    from stockrnn.forecasters.training import train_model

    train_ends = panel.window_ends(LOOKBACK, 1, None, TRAIN_END)[:200]
    val_ends = panel.window_ends(LOOKBACK, 1, TRAIN_END, None)[:64]
    from torch._dynamo.utils import counters

    counters.clear()
    trained = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        model = RecurrentForecaster("gru", len(panel.feature_names), 4, 1, 0.0)
        config = TrainingConfig(epochs=1, sequence_length=8, sequences_per_batch=8, compile=compiled)
        result = train_model(model, panel, train_ends, val_ends, LOOKBACK, config, torch.device("cpu"))
        trained[compiled] = (result.history[0].train_loss, model)
    assert trained[True][0] == pytest.approx(trained[False][0], rel=1e-4)
    for eager, compiled in zip(trained[False][1].parameters(), trained[True][1].parameters(), strict=True):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    assert "forward" not in vars(trained[True][1])  # evaluation and predict stay eager
    assert counters["stats"]["unique_graphs"] >= 1 and not counters["graph_break"]  # the GRU was traced


def test_dlinear_moving_average_is_the_papers_replicate_padded_avg_pool():
    from stockrnn.forecasters.baselines import moving_average

    x = np.random.default_rng(0).normal(size=(4, 60))
    kernel = 25
    xt = torch.from_numpy(x)
    ends = ((kernel - 1) // 2, (kernel - 1) // 2)  # DLinear's series_decomp pads both ends alike
    padded = torch.cat([xt[:, :1].repeat(1, ends[0]), xt, xt[:, -1:].repeat(1, ends[1])], dim=1)
    reference = torch.nn.functional.avg_pool1d(padded[:, None], kernel, stride=1)[:, 0]
    np.testing.assert_allclose(moving_average(x, kernel), reference.numpy(), rtol=1e-12)


def test_dlinear_is_one_ridge_on_the_target_windows_remainder_and_trend(panel):
    from sklearn.linear_model import Ridge

    from stockrnn.dataset.windows import FitData
    from stockrnn.forecasters.baselines import DLinear, moving_average

    ends = panel.window_ends(LOOKBACK, 1, None, TRAIN_END)
    ours = DLinear(alphas=(10.0,), alpha=10.0, kernel=5, chunk=700).fit(
        FitData(panel, ends, ends[:0], LOOKBACK, 1, (0.5,))
    )
    x = panel.sliding_windows(LOOKBACK)[ends - LOOKBACK + 1][:, :, panel.target_column].astype("float64")
    trend = moving_average(x, 5)
    design = np.concatenate([x - trend, trend], axis=1)  # (n, 2L): the target column only
    reference = Ridge(alpha=10.0).fit(design, panel.target[ends + 1])
    assert ours.weights.shape == (2 * LOOKBACK, 1)
    assert ours.predict_normalized(panel, ends)[:, 0] == pytest.approx(reference.predict(design), abs=1e-6)
