"""The command line's contract: help everywhere, one-line errors, documented exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stockrnn.cli.commands import app
from stockrnn.io.locking import exclusive

COMMANDS = sorted(command.name or command.callback.__name__ for command in app.registered_commands)


def test_the_command_set_is_what_the_readme_documents():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    headings = [line for line in readme.splitlines() if line.startswith("### `stockrnn ")]
    documented = sorted(set(re.findall(r"`stockrnn (\w+)`", "\n".join(headings))))
    assert documented == COMMANDS
    assert COMMANDS == [
        "backtest",
        "compare",
        "config",
        "evaluate",
        "fetch",
        "predict",
        "promote",
        "report",
        "runs",
        "store",
        "track",
        "train",
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "Usage: stockrnn " + command in result.stdout


def test_top_level_help_lists_exit_codes(cli):
    result = cli("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "65 bad input data; 66 missing input; 73 cannot write output; 75 temporary failure" in text


def test_unknown_option_is_a_usage_error_exit_2(cli):
    assert cli("fetch", "--no-such-option").exit_code == 2


def test_empty_store_listing_exits_66(cli, tmp_path):
    (tmp_path / "empty").mkdir()  # a folder that is not there is named as missing (test_newcomer)
    result = cli("store", "--store", tmp_path / "empty")
    assert result.exit_code == 66
    assert result.stderr == f"Error: the store {tmp_path / 'empty'} is empty; run `stockrnn fetch` first\n"


def test_unsupported_interval_exits_78_naming_it(cli, tmp_path):
    result = cli("fetch", "AAPL", "--interval", "1h", "--store", tmp_path)
    assert result.exit_code == 78
    assert result.stderr == "Error: --interval '1h' is not supported; the store holds daily sessions (1d)\n"


def test_unknown_exchange_exits_78(cli, tmp_path, monkeypatch):
    result = cli("fetch", "AAPL", "--exchange", "XXXX", "--store", tmp_path)
    assert result.exit_code == 78
    assert "exchange calendar 'XXXX' is unknown" in result.stderr


def test_unwritable_store_exits_73(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("fetch", "--sample", "--store", blocker / "store")
    assert result.exit_code == 73
    assert result.stderr == f"Error: cannot write {blocker / 'store'}: Not a directory\n"


def test_store_locked_by_another_writer_exits_75_naming_the_holder(cli, tmp_path):
    store = tmp_path / "store"
    with exclusive(store / ".lock", timeout=1, what="test"):
        result = cli("fetch", "--sample", "--store", store, "--lock-timeout", "0.2")
    assert result.exit_code == 75
    assert f"the store {store} is locked by pid " in result.stderr
    assert "waited 0.2s" in result.stderr


def test_internal_error_is_one_line_exit_1_and_traceback_only_with_debug(cli, tmp_path, monkeypatch):
    from stockrnn.data import store as store_module

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(store_module.PriceStore, "summary", broken)
    result = cli("store", "--store", tmp_path)
    assert result.exit_code == 1
    assert (
        result.stderr == "Error: internal error: RuntimeError: boom (rerun with --debug for the traceback)\n"
    )
    debug = cli("--debug", "store", "--store", tmp_path)
    assert debug.exit_code == 1  # --debug adds the traceback, never changes the code
    assert "Traceback" in debug.stderr and "RuntimeError: boom" in debug.stderr


def test_sample_loads_and_lists_with_the_store_from_the_environment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKRNN_STORE", str(tmp_path / "env-store"))
    assert cli("fetch", "--sample").exit_code == 0
    listing = cli("store")
    assert listing.exit_code == 0
    assert "GSPC" in listing.stdout and "5031" in listing.stdout
    assert (tmp_path / "env-store" / "prices" / "ticker=GSPC" / "part-0.parquet").is_file()


def test_default_store_is_under_the_user_data_home(cli, isolated_home):
    assert cli("fetch", "--sample").exit_code == 0
    assert (isolated_home / "data" / "stockrnn" / "store" / "prices" / "ticker=KO").is_dir()


def test_help_does_not_import_torch_or_pandas():
    code = "import sys; from stockrnn.cli.commands import app; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_second_process_waits_for_the_lock_then_exits_75_naming_the_holder(tmp_path):
    store = tmp_path / "store"
    holder_code = (
        "import sys, time; from pathlib import Path; from stockrnn.io.locking import exclusive\n"
        f"with exclusive(Path({str(store / '.lock')!r}), 5, 'test'):\n"
        "    print('held', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", holder_code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "stockrnn",
                "fetch",
                "--sample",
                "--store",
                str(store),
                "--lock-timeout",
                "0.5",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 75
    assert f"is locked by pid {holder.pid} on " in second.stderr
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    assert not (store / "prices").exists()


def test_quiet_prints_nothing_on_success_and_log_file_gets_plain_lines(cli, tmp_path):
    log_file = tmp_path / "stockrnn.log"
    result = cli("--quiet", "--log-file", log_file, "fetch", "--sample", "--store", tmp_path / "store")
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("", "")
    lines = log_file.read_text().splitlines()
    assert any(line.endswith(" INFO stockrnn: fetch GSPC: imported, 5031 rows added") for line in lines)
    assert "\x1b[" not in log_file.read_text()


def test_debug_shows_the_traceback_but_keeps_the_exit_code(cli, tmp_path):
    result = cli("--debug", "predict", "--run", "nope", "--runs", tmp_path / "runs", "--allow-stale")
    assert result.exit_code == 66
    assert "Traceback" in result.stderr and result.stderr.strip().splitlines()[-1].startswith(
        "Error: no run 'nope'"
    )


@pytest.mark.parametrize("option", ["--store", "--runs"])
def test_an_empty_path_is_a_usage_error_not_the_current_folder(cli, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = ["fetch", "--sample"] if option == "--store" else ["runs"]
    result = cli(*command, option, "")
    assert result.exit_code == 2
    assert "an empty path would mean the current folder" in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "home"] or list(tmp_path.iterdir()) == []


def test_short_help_option_works_everywhere(cli):
    assert cli("-h").exit_code == 0
    assert "Usage: stockrnn train" in cli("train", "-h").stdout


def test_runs_on_an_empty_folder_succeeds_and_says_so(cli, tmp_path):
    result = cli("runs", "--runs", tmp_path / "none")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"no runs in {tmp_path / 'none'}; train one with `stockrnn train`"


@pytest.mark.parametrize(
    ("given", "hoisted"),
    [
        (["fetch", "AAPL", "-q"], ["-q", "fetch", "AAPL"]),
        (["train", "--debug", "--epochs", "3"], ["--debug", "train", "--epochs", "3"]),
        (["store", "--log-file", "x.log", "--store", "s"], ["--log-file", "x.log", "store", "--store", "s"]),
        (["store", "--log-file=x.log"], ["--log-file=x.log", "store"]),
        (["--quiet", "fetch", "--debug"], ["--quiet", "--debug", "fetch"]),
        (["--log-file", "a.log", "runs"], ["--log-file", "a.log", "runs"]),
        (["predict", "--", "-q"], ["predict", "--", "-q"]),  # after --, nothing is an option
    ],
)
def test_global_options_after_the_command_move_in_front_of_it(given, hoisted):
    from stockrnn.cli.entry import hoist_global_options

    assert hoist_global_options(given) == hoisted


def test_quiet_after_the_command_silences_the_console_script(tmp_path):
    command = [sys.executable, "-m", "stockrnn", "fetch", "--sample", "--store", str(tmp_path / "s")]
    loud = subprocess.run(command, capture_output=True, text=True)
    quiet = subprocess.run(
        [*command[:3], "fetch", "--sample", "--store", str(tmp_path / "q"), "-q"],
        capture_output=True,
        text=True,
    )
    assert loud.returncode == quiet.returncode == 0, quiet.stderr
    assert "GSPC" in loud.stdout and quiet.stdout == "" and quiet.stderr == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_metavars_a_person_reads_not_python_types(cli, command):
    result = cli(command, "-h")
    assert result.exit_code == 0
    assert not re.search(r"<(list|str|int|float|path|bool|%Y)[^>]*>", result.stdout), result.stdout


def test_help_names_what_each_option_takes(cli):
    fetch, train = cli("fetch", "-h").stdout, cli("train", "-h").stdout
    assert "[TICKER]..." in fetch and "--lock-timeout SECONDS" in fetch and "--start YYYY-MM-DD" in fetch
    assert "--model gru|lstm|rnn" in train and "--set SECTION.KEY=VALUE" in train


def test_every_time_a_table_shows_is_iso_8601_utc_with_a_t():
    from stockrnn.cli.render import instant

    assert instant("2026-11-23T15:36:11.191575+00:00") == "2026-11-23T15:36:11Z"
    assert instant("2026-11-23T10:36:11-05:00") == "2026-11-23T15:36:11Z"
    import pandas as pd

    assert instant(pd.Timestamp("2026-11-23 15:35", tz="UTC")) == "2026-11-23T15:35:00Z"
