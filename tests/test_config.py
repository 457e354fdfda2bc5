"""Configuration: every file in configs/ validates; bad keys and values are refused naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stockrnn.config.loading import load_config, tomllib
from stockrnn.config.schema import Config
from stockrnn.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


def test_the_three_documented_configs_exist():
    assert [p.name for p in CONFIGS] == ["default.toml", "lstm.toml", "panel.toml"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_file_validates_and_says_how_to_run_it(path):
    load_config(path)
    assert f"--config configs/{path.name}" in path.read_text().splitlines()[1]


def test_packaged_defaults_equal_configs_default_toml():
    assert load_config(CONFIGS[0]) == Config() == load_config(None)


def test_lstm_config_differs_from_default_only_in_the_cell():
    lstm = load_config(CONFIGS[1])
    assert lstm.model.cell == "lstm"
    assert lstm.model_copy(update={"model": Config().model}) == Config()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("features.lookback=0", "features.lookback = 0: Input should be greater than or equal to 2"),
        ("model.dropout=1.5", "model.dropout = 1.5: Input should be less than 1"),
        ("model.hidden_size='big'", "model.hidden_size = 'big': Input should be a valid integer"),
        ("model.cell='transformer'", "model.cell = 'transformer': Input should be 'gru', 'lstm' or 'rnn'"),
        ("model.colour=3", "unknown key 'model.colour'"),
        ("split.train=0.9", "split: train + val + test = 1.2 is over 1"),
    ],
)
def test_impossible_values_are_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert str(error.value).startswith(f"defaults with --set: {message}")


def test_overrides_parse_toml_values():
    config = load_config(
        None, ['data.tickers=["AAPL", "KO"]', "training.learning_rate=3e-4", "model.cell=lstm"]
    )
    assert (config.data.tickers, config.training.learning_rate, config.model.cell) == (
        ["AAPL", "KO"],
        3e-4,
        "lstm",
    )


def test_malformed_override_is_refused():
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        load_config(None, ["lookback=3"])


def test_missing_config_file_is_missing_input_66_as_the_readme_says(tmp_path):
    from stockrnn.errors import MissingInputError

    with pytest.raises(MissingInputError, match="config file .*nope.toml does not exist") as raised:
        load_config(tmp_path / "nope.toml")
    assert raised.value.exit_code == 66


@pytest.mark.parametrize(
    ("assignment", "suggestion"),
    [
        ("model.hiden_size=3", "model.hidden_size"),
        ("modl.cell='gru'", "model"),
        ("training.epoch=3", "training.epochs"),
    ],
)
def test_a_mistyped_key_names_the_nearest_real_one(assignment, suggestion):
    with pytest.raises(
        ConfigError, match=rf"\(did you mean {re.escape(suggestion)}\?\); `stockrnn config` prints every key"
    ):
        load_config(None, [assignment])


def test_a_key_far_from_every_real_one_gets_no_suggestion():
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["model.zzzzqqq=1"])
    assert "did you mean" not in str(caught.value)


def test_stockrnn_config_prints_the_packaged_defaults_as_commented_toml(cli):
    result = cli("config")
    assert result.exit_code == 0
    assert "# " in result.stdout  # the comments that explain each key come along
    assert Config.model_validate(tomllib.loads(result.stdout)) == Config()
