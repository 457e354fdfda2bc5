"""Every architecture through one common test (like neuralforecast's common model test): shapes, no
quantile crossing, one epoch lowers the loss on a learnable series, save/load round trip, predict;
then what is particular to each: padding that never reaches the state, teacher forcing's two paths,
bidirectional refused where state is carried, attention weights kept."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic import ar1_returns, prices_from_returns

from stockrnn.config.loading import load_config
from stockrnn.dataset.features import compute_features
from stockrnn.dataset.windows import build_panel
from stockrnn.forecasters.models import build_model, parameter_count
from stockrnn.forecasters.network import NetworkForecaster
from stockrnn.forecasters.tensors import PanelTensors
from stockrnn.forecasters.training import _mean_loss, make_loss, sampling_probability, train_model

LEVELS = (0.1, 0.5, 0.9)
LOOKBACK, HORIZON = 12, 3
ARCHITECTURES = {
    "gru": [],
    "bigru": ["model.bidirectional=true"],
    "bilstm": ["model.cell='lstm'", "model.bidirectional=true"],
    "seq2seq": ["model.architecture='seq2seq'", "model.sampling_max=1.0"],
    "attention": ["model.architecture='attention'"],
    "transformer": ["model.architecture='transformer'", "model.d_model=16", "model.heads=2"],
    "transformer-sinusoidal": [
        "model.architecture='transformer'",
        "model.d_model=16",
        "model.heads=2",
        "model.positions='sinusoidal'",
    ],
    "transformer-p4": [
        "model.architecture='transformer'",
        "model.d_model=16",
        "model.heads=2",
        "model.patch_length=4",
    ],
}


def config_for(name: str, *extra: str):
    return load_config(
        None,
        [
            f"features.lookback={LOOKBACK}",
            f"features.horizon={HORIZON}",
            f"model.quantiles={list(LEVELS)}",
            "model.hidden_size=16",
            "model.num_layers=2",
            "model.dropout=0.0",
            "training.learning_rate=0.01",
            "training.batch_size=32",
            "training.device='cpu'",
            *ARCHITECTURES[name],
            *extra,
        ],
    )


def model_for(name: str, n_features: int = 2, *extra: str):
    torch.manual_seed(0)
    return build_model(config_for(name, *extra), n_features, HORIZON, LEVELS)


@pytest.fixture(scope="module")
def learnable_panel():
    """AR(1) returns with phi 0.7: the next sessions' mean is learnable from the window."""
    frames = {}
    for index, ticker in enumerate(("A", "B")):
        prices = prices_from_returns(ar1_returns(700, phi=0.7, seed=index))
        frames[ticker] = compute_features(prices, ["log_return"])
    panel = build_panel(frames, ["log_return"], "log_return", "standard", pd.Timestamp("2006-12-29"))
    train_ends = panel.window_ends(LOOKBACK, HORIZON, None, pd.Timestamp("2006-12-29"))
    val_ends = panel.window_ends(LOOKBACK, HORIZON, pd.Timestamp("2006-12-29"), None)
    return panel, train_ends, val_ends


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_maps_windows_to_non_crossing_h_by_q_quantiles(name):
    model = model_for(name).eval()
    out = model(torch.randn(7, LOOKBACK, 2) * 10)  # large inputs push the raw outputs far apart
    assert out.shape == (7, HORIZON, len(LEVELS))
    assert torch.isfinite(out).all()
    assert (out.diff(dim=-1) >= 0).all()


# The encoder-decoders train in sequence mode by default ("auto"); their window mode is tested too.
TRAININGS = [(name, "training.mode='auto'") for name in ARCHITECTURES] + [
    ("seq2seq", "training.mode='window'"),
    ("attention", "training.mode='window'"),
    ("transformer", "training.mode='window'"),
]


@pytest.mark.parametrize(("name", "mode"), TRAININGS)
def test_one_epoch_lowers_the_validation_loss_on_a_learnable_series(name, mode, learnable_panel):
    panel, train_ends, val_ends = learnable_panel
    model = model_for(name, 1)
    config = config_for(name, "training.epochs=1", mode)
    data = PanelTensors(panel, LOOKBACK, torch.device("cpu"), HORIZON)
    loss_fn = make_loss("huber", LEVELS)
    before = _mean_loss(model, data, torch.from_numpy(val_ends), loss_fn)
    result = train_model(
        model,
        panel,
        train_ends,
        val_ends,
        LOOKBACK,
        config.training,
        torch.device("cpu"),
        HORIZON,
        LEVELS,
        sampling_max=config.model.sampling_max,
    )
    assert result.history[0].val_loss < before


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_a_saved_and_loaded_model_predicts_exactly_what_the_trained_one_did(name, learnable_panel):
    panel, _, val_ends = learnable_panel
    config = config_for(name)
    network = NetworkForecaster.from_config(config, 1, HORIZON, LEVELS)
    network.model.eval()
    buffer = io.BytesIO()
    torch.save(network.model.state_dict(), buffer)
    buffer.seek(0)
    reloaded = build_model(config, 1, HORIZON, LEVELS)
    reloaded.load_state_dict(torch.load(buffer, weights_only=True))
    again = NetworkForecaster(reloaded, LOOKBACK, HORIZON, LEVELS)
    first, second = network.predict(panel, val_ends[:50]), again.predict(panel, val_ends[:50])
    assert first.values.shape == (50, HORIZON, len(LEVELS))
    np.testing.assert_array_equal(first.values, second.values)


def test_the_transformer_defaults_stay_within_a_third_of_the_grus_parameter_count():
    """Comparable capacity is part of a fair comparison: defaults within 0.67x-1.5x of the GRU's."""
    gru = build_model(load_config(None, []), 4, 5, LEVELS)
    transformer = build_model(load_config(None, ["model.architecture='transformer'"]), 4, 5, LEVELS)
    assert 0.67 < parameter_count(transformer) / parameter_count(gru) < 1.5


def test_patches_of_p_sessions_every_p_over_2_end_on_the_windows_last_session():
    model = model_for("transformer-p4", 1)
    windows = torch.arange(13.0).reshape(1, 13, 1)  # (B, L, F): session i holds the value i
    tokens = model.tokenize(windows)  # (B, T, F * P)
    # (13 - 4) % 2 = 1 oldest session fits no patch; then patches every 2 sessions up to the last.
    assert tokens[0].tolist() == [[1, 2, 3, 4], [3, 4, 5, 6], [5, 6, 7, 8], [7, 8, 9, 10], [9, 10, 11, 12]]
    assert model.token_count(torch.tensor([13, 12, 5, 4])).tolist() == [5, 5, 1, 1]


def test_patch_length_is_refused_outside_the_transformer_and_beyond_the_shortest_window():
    from stockrnn.errors import ConfigError

    with pytest.raises(
        ConfigError, match="patch_length applies to architecture 'transformer', not 'recurrent'"
    ):
        load_config(None, ["model.patch_length=8"])
    transformer = "model.architecture='transformer'"
    with pytest.raises(ConfigError, match=r"patch_length \(12\) must be 0 \(no patches\) or 2 to 10"):
        load_config(None, [transformer, "model.patch_length=12", "features.min_history=10"])
    assert load_config(None, [transformer, "model.patch_length=16"]).model.label == "transformer-p16"


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_a_left_padded_window_gives_exactly_the_output_of_its_unpadded_version(name):
    """Padding never touches the state: random junk in the padding changes nothing."""
    model = model_for(name).eval()
    short = torch.randn(4, 5, 2)  # (B, l, F), l real sessions
    junk = torch.randn(4, LOOKBACK - 5, 2) * 100
    padded = torch.cat([junk, short], dim=1)  # (B, L, F), left-padded
    lengths = torch.full((4,), 5)
    torch.testing.assert_close(model(padded, lengths), model(short), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_mixed_lengths_in_one_batch_each_match_their_own_unpadded_run(name):
    model = model_for(name).eval()
    full = torch.randn(3, LOOKBACK, 2)
    lengths = torch.tensor([LOOKBACK, 4, 9])
    together = model(full, lengths)
    for row, length in enumerate(lengths.tolist()):
        alone = model(full[row : row + 1, LOOKBACK - length :])
        torch.testing.assert_close(together[row : row + 1], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["seq2seq", "attention"])
def test_teacher_forcing_feeds_the_truth_and_free_running_feeds_the_own_median(name):
    model = model_for(name)
    model.train()  # dropout is 0, so train mode is deterministic apart from the sampling draw
    windows = torch.randn(6, LOOKBACK, 2)
    truth, other_truth = torch.randn(6, HORIZON), torch.randn(6, HORIZON)
    model.sampling_probability = 0.0  # 100% teacher forcing
    forced, forced_other = model(windows, targets=truth), model(windows, targets=other_truth)
    # Step 1 is fed the last observed value either way; later steps follow the given truth.
    torch.testing.assert_close(forced[:, 0], forced_other[:, 0])
    assert not torch.allclose(forced[:, 1:], forced_other[:, 1:])
    model.sampling_probability = 1.0  # 0% teacher forcing: the truth is ignored
    free, free_other = model(windows, targets=truth), model(windows, targets=other_truth)
    torch.testing.assert_close(free, free_other)
    torch.testing.assert_close(free, model.eval()(windows))  # the same path inference takes
    assert not torch.allclose(forced[:, 1:], free[:, 1:])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("name", ["seq2seq", "attention"])
def test_sequence_training_decodes_its_first_step_exactly_as_the_window_model_does(name, cell):
    """After a lookback-1 warm-up the carried state has read exactly the first target's window, so
    step 1 of a stretch is the window forward; later steps differ only by the longer history."""
    model = model_for(name, 2, f"model.cell='{cell}'").double().eval()
    stretch = torch.randn(3, LOOKBACK - 1 + 4, 2, dtype=torch.float64)  # warm-up + 4 target steps
    state = model.warm_up(stretch[:, : LOOKBACK - 1])
    every, _ = model.forward_every_step(stretch[:, LOOKBACK - 1 :], state)
    assert every.shape == (3, 4, HORIZON, len(LEVELS))
    torch.testing.assert_close(every[:, 0], model(stretch[:, :LOOKBACK]), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(every[:, 1], model(stretch[:, 1 : LOOKBACK + 1]))


def test_sequence_trained_attention_attends_over_the_lookback_of_outputs_ending_at_each_step():
    model = model_for("attention")
    encoded = torch.arange(2 * 7 * 3, dtype=torch.float32).reshape(2, 7, 3)  # (B, W+T, hidden), W=4
    attended = model._attended(encoded, 5)  # (B*T, window, hidden), T=3
    assert attended.shape == (6, 5, 3)
    for b in range(2):
        for t in range(3):
            torch.testing.assert_close(attended[b * 3 + t], encoded[b, t : t + 5])


@pytest.mark.parametrize("name", ["seq2seq", "attention"])
def test_sequence_training_teacher_forces_every_steps_decoder_with_that_steps_targets(name):
    model = model_for(name).train()
    stretch = torch.randn(2, LOOKBACK - 1 + 3, 2)
    truth = torch.randn(2, 3, HORIZON)
    state = model.warm_up(stretch[:, : LOOKBACK - 1])
    model.sampling_probability = 0.0
    forced, _ = model.forward_every_step(stretch[:, LOOKBACK - 1 :], state, truth)
    changed = truth.clone()
    changed[1, 2, 0] += 1.0  # only the first target of row 1's third step
    forced_changed, _ = model.forward_every_step(stretch[:, LOOKBACK - 1 :], state, changed)
    moved = (forced != forced_changed).flatten(2).any(-1)  # (B, T): which step's forecasts moved
    assert moved.tolist() == [[False, False, False], [False, False, True]]
    torch.testing.assert_close(forced[1, 2, 0], forced_changed[1, 2, 0])  # horizon 1 is fed the last value
    model.sampling_probability = 1.0
    free, _ = model.forward_every_step(stretch[:, LOOKBACK - 1 :], state, truth)
    torch.testing.assert_close(free, model.forward_every_step(stretch[:, LOOKBACK - 1 :], state)[0])


def test_sequence_mode_is_refused_to_sinusoidal_positions_and_patches_and_picked_by_auto_where_state_carries():
    from stockrnn.errors import ConfigError

    transformer = "model.architecture='transformer'"
    sinusoidal, patched = "model.positions='sinusoidal'", "model.patch_length=8"
    sequence = "training.mode='sequence'"
    with pytest.raises(
        ConfigError, match="trains in training.mode 'sequence' only with model.positions 'alibi'"
    ):
        load_config(None, [transformer, sinusoidal, sequence])
    with pytest.raises(ConfigError, match="model.patch_length cannot train in training.mode 'sequence'"):
        load_config(None, [transformer, patched, sequence])
    alibi = load_config(None, [transformer])  # ALiBi is the default
    assert (alibi.model.positions, alibi.training.mode, alibi.model.label) == (
        "alibi",
        "sequence",
        "transformer",
    )
    modes_and_labels = [
        (config.training.mode, config.model.label)
        for config in (
            load_config(None, [transformer, sinusoidal]),
            load_config(None, [transformer, patched]),
            load_config(None, [transformer, patched, sinusoidal]),
        )
    ]
    assert modes_and_labels == [
        ("window", "transformer-sinusoidal"),
        ("window", "transformer-p8"),
        ("window", "transformer-p8-sinusoidal"),
    ]
    assert load_config(None, [sinusoidal]).model.label == "gru"  # positions are the Transformer's only
    for architecture in ("seq2seq", "attention"):
        assert load_config(None, [f"model.architecture='{architecture}'"]).training.mode == "sequence"


def test_an_alibi_transformer_forecasts_a_stretchs_first_step_exactly_as_its_window():
    """Every layer runs over warm-up + T sessions at once; the first target's tokens have seen
    exactly its window, in every layer. Later steps' upper layers reach further back."""
    model = model_for("transformer").double().eval()
    stretch = torch.randn(3, LOOKBACK - 1 + 4, 2, dtype=torch.float64)
    warm = model.warm_up(stretch[:, : LOOKBACK - 1])
    every, carried = model.forward_every_step(stretch[:, LOOKBACK - 1 :], warm)
    assert every.shape == (3, 4, HORIZON, len(LEVELS))
    torch.testing.assert_close(carried, stretch[:, -(LOOKBACK - 1) :])  # the next stretch's warm-up
    torch.testing.assert_close(every[:, 0], model(stretch[:, :LOOKBACK]), rtol=1e-12, atol=1e-12)


def test_alibi_biases_each_head_by_its_slope_times_the_distance_and_hides_later_and_older_keys():
    model = model_for("transformer")
    bias = model.distance_bias(4, within=3)[0]  # (heads, T, T)
    torch.testing.assert_close(model.slopes, torch.tensor([2.0**-4, 2.0**-8]))  # 2 heads
    inf = float("-inf")
    for head, slope in enumerate(model.slopes.tolist()):
        expected = torch.tensor(
            [
                [0, inf, inf, inf],
                [-slope, 0, inf, inf],
                [-2 * slope, -slope, 0, inf],
                [inf, -2 * slope, -slope, 0],
            ]
        )
        torch.testing.assert_close(bias[head], expected)


def test_the_sampling_probability_rises_linearly_from_zero_to_its_maximum():
    assert [sampling_probability(e, 5, 0.8) for e in range(1, 6)] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    assert sampling_probability(1, 1, 0.8) == 0.0


def test_a_bidirectional_encoder_is_refused_where_state_is_carried_and_says_why():
    from stockrnn.errors import ConfigError

    with pytest.raises(ConfigError, match="backward pass over a stretch would read sessions after"):
        load_config(None, ["model.bidirectional=true", "training.mode='sequence'"])
    assert load_config(None, ["model.bidirectional=true"]).training.mode == "window"
    assert load_config(None, []).training.mode == "sequence"


def test_a_bidirectional_forecast_reads_the_backward_state_after_the_whole_window():
    """The head sees the backward direction's state at the window's first step (it has read it all),
    so changing the first session changes the forecast through both directions."""
    model = model_for("bilstm").eval()
    windows = torch.randn(2, LOOKBACK, 2)
    outputs, (h, _) = model.rnn(windows)
    hidden = model.rnn.hidden_size
    torch.testing.assert_close(h[-1], outputs[:, 0, hidden:])  # backward final = output at step 0
    torch.testing.assert_close(h[-2], outputs[:, -1, :hidden])  # forward final = output at step L-1


def test_attention_weights_of_predict_are_kept_per_window_and_horizon(learnable_panel):
    panel, _, val_ends = learnable_panel
    network = NetworkForecaster.from_config(config_for("attention"), 1, HORIZON, LEVELS)
    network.predict(panel, val_ends[:40])
    assert network.attention.shape == (40, HORIZON, LOOKBACK)
    np.testing.assert_allclose(network.attention.sum(axis=-1), 1.0, rtol=1e-5)


def _panel_store_with_a_new_listing(store):
    """OLD: 600 sessions from 2005; NEW: listed 40 sessions before OLD's last, 20 of them in training."""
    old = prices_from_returns(ar1_returns(600, phi=0.3, seed=3))
    new = prices_from_returns(ar1_returns(40, phi=0.3, seed=4), first=str(old["date"].iloc[-40].date()))
    store.write("OLD", old, origin="test")
    store.write("NEW", new, origin="test")
    return old


def _short_history_config(old, *extra):
    return load_config(
        None,
        [
            "data.tickers=['OLD', 'NEW']",
            "features.lookback=50",
            f"split.train_end={old['date'].iloc[-20].date()}",
            f"split.val_end={old['date'].iloc[-10].date()}",
            "model.hidden_size=8",
            "model.num_layers=1",
            "training.epochs=2",
            "training.device='cpu'",
            *extra,
        ],
    )


def test_a_recent_listing_is_refused_without_min_history_and_trained_and_forecast_with_it(store, tmp_path):
    from stockrnn.errors import DataError
    from stockrnn.outputs.predict import forecast_frame
    from stockrnn.runs.folder import load_run
    from stockrnn.studies.train import train

    old = _panel_store_with_a_new_listing(store)
    with pytest.raises(
        DataError, match=r"NEW: 20 sessions up to .* need at least 52 .* set a lower features.min_history"
    ):
        train(_short_history_config(old), store, tmp_path / "runs")
    config = _short_history_config(old, "features.min_history=8")
    assert config.training.mode == "window"  # padded windows cannot be carried step by step
    outcome = train(config, store, tmp_path / "runs")
    run = load_run(tmp_path / "runs", outcome.run_id)
    now = pd.Timestamp(old["date"].iloc[-1]).tz_localize("UTC") + pd.Timedelta(hours=22)
    frame = forecast_frame(run, store, None, now, allow_stale=True)
    assert set(frame["ticker"]) == {"OLD", "NEW"}  # NEW's newest window: 39 sessions, left-padded to 50
    assert np.isfinite(frame.filter(like="close").to_numpy(dtype=float)).all()


def test_short_windows_start_at_min_history_and_never_reach_into_another_ticker(store):
    from stockrnn.dataset.prepare import prepare_training_data

    old = _panel_store_with_a_new_listing(store)
    data = prepare_training_data(_short_history_config(old, "features.min_history=8"), store)
    panel = data.panel
    new_rows = np.flatnonzero(panel.ticker_ids == panel.tickers.index("NEW"))
    new_ends = data.train_ends[panel.ticker_ids[data.train_ends] == panel.tickers.index("NEW")]
    assert new_ends[0] == new_rows[0] + 7  # the first window holds exactly 8 of NEW's sessions
    windows = panel.windows_at(new_ends[:3], 50)  # (3, L, F)
    for i in range(3):  # 42, 41, 40 rows of padding, then NEW's own sessions
        assert (windows[i, : 42 - i] == 0).all() and (windows[i, 42 - i :] != 0).all()
    tensors = PanelTensors(panel, 50, torch.device("cpu"), 1, 8)
    x, lengths, _ = tensors.batch(torch.from_numpy(new_ends[:3]))
    assert lengths.tolist() == [8, 9, 10]
    np.testing.assert_array_equal(x[0].numpy(), windows[0].astype("float32"))


def _train_small(cli, store, tmp_path, *overrides: str, epochs: int = 2) -> tuple[list, dict]:
    """A 3-session run of a small network on a synthetic ticker SYN from the CLI: (the --store and
    --runs options, train's JSON summary)."""
    import json

    store.write("SYN", prices_from_returns(ar1_returns(500, phi=0.4)), origin="test")
    folders = ["--store", store.root, "--runs", tmp_path / "runs"]
    small = [
        "features.lookback=12", "model.hidden_size=8", "model.num_layers=1", "model.d_model=8", "model.heads=2",
        *overrides,
    ]  # fmt: skip
    settings = [part for override in small for part in ("--set", override)]
    trained = cli(
        "train", "--ticker", "SYN", "--horizon", "3", "--epochs", str(epochs), *settings, *folders, "--json"
    )
    assert trained.exit_code == 0, trained.stderr
    return folders, json.loads(trained.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_trains_evaluates_saves_loads_and_predicts_from_the_cli(
    cli, store, tmp_path, name
):
    import json

    folders, trained = _train_small(cli, store, tmp_path, *ARCHITECTURES[name])
    run_id = trained["run_id"]
    assert f"-{name}-" in run_id  # the id names the family: gru, bilstm, seq2seq-gru, ...
    assert trained["parameters"] > 0
    evaluated = cli("evaluate", "--run", run_id, *folders, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    predicted = cli(
        "predict", "--run", run_id, "--allow-stale", *folders, "--out", tmp_path / "out", "--json"
    )
    assert predicted.exit_code == 0, predicted.stderr
    rows = json.loads(predicted.stdout)["forecasts"]
    assert [row["horizon"] for row in rows] == [1, 2, 3]
    assert all(row["close_p05"] <= row["close_p50"] <= row["close_p95"] for row in rows)


def test_a_transformer_run_saved_before_alibi_became_the_default_keeps_its_sinusoidal_positions(
    cli, store, tmp_path
):
    """Its config.json has no model.positions (and its checksum was made without one). Read with
    today's default it would run ALiBi over weights trained with position vectors, and load
    silently (the vectors are no weights): the forecasts show which positions it ran with."""
    import json

    from stockrnn.runs.schema import CHECKSUM, checksum

    transformer = ("model.architecture='transformer'", "model.positions='sinusoidal'")
    folders, trained = _train_small(cli, store, tmp_path, *transformer, epochs=1)
    run = tmp_path / "runs" / trained["run_id"]

    def forecasts() -> list:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"  # a fresh archive: no earlier forecasts
        predicted = cli("predict", "--allow-stale", *folders, "--out", out, "--json")
        assert predicted.exit_code == 0, predicted.stderr
        return [row["close_p50"] for row in json.loads(predicted.stdout)["forecasts"]]

    def reseal(config: dict) -> None:
        """config.json rewritten and the manifest's checksum made over it, as a version would have."""
        manifest = json.loads((run / "manifest.json").read_text())
        manifest[CHECKSUM] = checksum(config, manifest)
        (run / "config.json").write_text(json.dumps(config))
        (run / "manifest.json").write_text(json.dumps(manifest))

    before = forecasts()
    config = json.loads((run / "config.json").read_text())
    del config["model"]["positions"]  # as an earlier version wrote it
    reseal(config)
    assert forecasts() == before
    listed = cli("runs", "--runs", tmp_path / "runs")
    assert listed.exit_code == 0 and "transformer-sinusoidal" in listed.stdout
    config["model"]["positions"] = "alibi"  # what today's default would have made of it
    reseal(config)
    assert forecasts() != before


def test_predict_of_an_attention_run_writes_each_forecasts_weights_over_its_window(cli, store, tmp_path):
    import json

    from stockrnn.outputs.forecast_archive import read_forecasts

    store.write("SYN", prices_from_returns(ar1_returns(500, phi=0.4)), origin="test")
    folders = ["--store", store.root, "--runs", tmp_path / "runs"]
    small = ["--set", "features.lookback=12", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]
    for architecture in ("attention", "recurrent"):
        trained = cli(
            "train",
            "--ticker",
            "SYN",
            "--architecture",
            architecture,
            "--horizon",
            "3",
            "--epochs",
            "1",
            *small,
            *folders,
        )
        assert trained.exit_code == 0, trained.stderr
        out = tmp_path / architecture
        assert cli("predict", "--allow-stale", *folders, "--out", out, "--json").exit_code == 0
        written = read_forecasts(out)
        if architecture == "attention":
            weights = np.stack(written["attention"].to_numpy())  # (H, L) for the one ticker
            assert weights.shape == (3, 12)
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
            again = json.loads(cli("predict", "--allow-stale", *folders, "--out", out, "--json").stdout)
            assert [len(row["attention"]) for row in again["forecasts"]] == [12, 12, 12]  # numbers, not text
        else:
            assert "attention" not in written.columns


@pytest.mark.parametrize("positions", ["alibi", "sinusoidal"])
@pytest.mark.parametrize("patch", [0, 16])
def test_the_transformer_runs_its_top_layer_for_the_last_token_only_and_is_the_same_function(
    patch, positions
):
    """Issue 21, item 1: the head reads the last token, so the top layer skips the other T-1 rows,
    and attention runs through scaled_dot_product_attention; the output is torch's full causal
    encoder's (nn.TransformerEncoder with the same layers), with and without padding; under ALiBi
    with its biases added to the mask, head by head."""
    from stockrnn.forecasters.models.heads import to_quantiles
    from stockrnn.forecasters.models.transformer import TransformerForecaster

    torch.manual_seed(0)
    model = TransformerForecaster(
        8, 32, 4, 2, 0.1, 60, 5, (0.05, 0.5, 0.95), patch_length=patch, positions=positions
    ).eval()
    x = torch.randn(7, 60, 8)
    lengths = torch.tensor([60, 40, 60, 20, 59, 60, 33])
    tokens = model.token_count(60)
    embedded = model.project(model.tokenize(x))  # (B, T, d_model)
    per_head = torch.zeros(1, 4, tokens, tokens)  # sinusoidal: no biases; the vectors are added
    if positions == "alibi":
        per_head = model.distance_bias(tokens)
    else:
        embedded = embedded + model.positions[-tokens:]
    causal = model.causal[-tokens:, -tokens:]
    padded = model.padded_causal_mask(tokens, model.token_count(lengths))  # (B, 1, T, T)
    for given, mask in ((None, causal[None, None]), (lengths, padded)):
        mask = (
            (mask + per_head).expand(7, 4, tokens, tokens).reshape(7 * 4, tokens, tokens)
        )  # nn's (B*heads, T, T)
        # torch's own layers (nn.MultiheadAttention), every token through every layer
        full = model.encoder(embedded, mask=mask)
        expected = to_quantiles(model.head(model.norm(full[:, -1])).unflatten(-1, (5, 3)), model.levels)
        torch.testing.assert_close(model(x, given), expected, rtol=1e-5, atol=1e-6)


def test_the_transformer_drops_residual_and_feed_forward_activations_but_not_attention_weights():
    """Issue 21, item 1: attention runs fused (scaled_dot_product_attention) with no dropout on its
    weights, as PatchTST; with the other dropouts at zero, a training-mode forward is the eval one."""
    from stockrnn.forecasters.models.transformer import TransformerForecaster

    torch.manual_seed(0)
    model = TransformerForecaster(4, 16, 2, 2, 0.5, 20, 3, LEVELS)
    x = torch.randn(9, 20, 4)
    model.train()
    assert not torch.equal(model(x), model(x))  # the residual and feed-forward dropouts act
    for layer in model.encoder.layers:
        assert layer.self_attn.dropout == 0.5  # nn's attention dropout, which _block does not apply
        layer.dropout.p = layer.dropout1.p = layer.dropout2.p = 0.0
    trained = model(x)
    torch.testing.assert_close(trained, model.eval()(x))


def test_attention_scores_are_luongs_general_score_computed_on_the_query_side():
    """Issue 21, item 1: d . W e is computed as (d W) . e, once per step on the (B, hidden) query
    instead of on all L encoder states; the weights are the textbook softmax(d . W e)."""
    torch.manual_seed(0)
    model = model_for("attention", 1).eval()
    encoded, decoded = torch.randn(6, LOOKBACK, 16), torch.randn(6, 16)
    model._weights = []
    model._step_output(decoded, encoded, None)
    textbook = torch.softmax((model.score(encoded) * decoded[:, None, :]).sum(-1), dim=-1)  # (B, L)
    torch.testing.assert_close(model._weights[0], textbook)
