"""Signals as cron and systemd send them: SIGTERM unwinds like Ctrl-C (clean up, one line, exit 143),
and Ctrl-C in the first half second is one line too, never a Python traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from synthetic import ar1_returns, prices_from_returns

pytestmark = pytest.mark.slow


def _start(tmp_path, *args):
    env = {**os.environ, "HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "stockrnn", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _train(tmp_path, store, *extra):
    store.write("SYN", prices_from_returns(ar1_returns(3000, phi=0.3)), origin="test")
    process = _start(
        tmp_path, "train", "--ticker", "SYN", "--epochs", "200", "--set", "training.patience=200",
        "--store", str(store.root), "--runs", str(tmp_path / "runs"), *extra,
    )  # fmt: skip
    starting = process.stderr.readline()
    assert starting.startswith("training gru on SYN"), starting
    assert process.stderr.readline() == "reading prices and computing features for 1 ticker(s)\n"
    assert process.stderr.readline().startswith("training gru: ")  # the windows it trains on
    return process


def _staging(runs):
    return [p.name for p in runs.iterdir() if p.name.startswith(".incomplete")] if runs.exists() else []


def test_sigterm_after_an_epoch_saves_the_best_epoch_as_an_interrupted_run_and_exits_143(tmp_path, store):
    from stockrnn.runs.folder import list_runs

    process = _train(tmp_path, store)
    first_epoch = process.stderr.readline()  # off a terminal: one line per epoch
    assert first_epoch.startswith("epoch 1/200"), first_epoch
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 143
    last = rest.strip().splitlines()[-1]
    assert last.startswith("Error: terminated (SIGTERM); run ") and "marked interrupted" in last, last
    assert "Traceback" not in rest
    [run] = list_runs(tmp_path / "runs")
    assert run.manifest.training["interrupted"] is True and run.manifest.training["best_epoch"] >= 1
    assert f"run {run.run_id} saved with the best epoch so far" in last
    assert _staging(tmp_path / "runs") == []


def test_ctrl_c_with_discard_on_interrupt_saves_nothing_and_exits_130(tmp_path, store):
    process = _train(tmp_path, store, "--discard-on-interrupt")
    assert process.stderr.readline().startswith("epoch 1/200")
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130
    assert rest.strip().splitlines()[-1] == "Error: interrupted; nothing saved (--discard-on-interrupt)"
    runs = tmp_path / "runs"
    assert not runs.exists() or [p for p in runs.iterdir() if not p.name.startswith(".")] == []


def test_sigterm_before_the_first_epoch_ends_saves_nothing_and_exits_143(tmp_path, store):
    process = _train(tmp_path, store)
    process.send_signal(signal.SIGTERM)  # the first epoch has not finished: nothing to keep
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 143
    assert rest.strip().splitlines()[-1] == "Error: terminated (SIGTERM)"
    runs = tmp_path / "runs"
    assert not runs.exists() or [p for p in runs.iterdir() if not p.name.startswith(".")] == []


def test_ctrl_c_while_still_importing_exits_130_without_a_traceback(tmp_path):
    process = _start(tmp_path, "runs", "--runs", str(tmp_path / "runs"))
    time.sleep(0.3)  # torch, pandas and typer are still being imported
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the command finished before the signal arrived")
    assert process.returncode == 130
    assert stderr.strip() == "Error: interrupted"


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_while_the_command_line_is_parsed_still_says_so_with_its_code(
    tmp_path, monkeypatch, capsys, signum, code, line
):
    """typer turns an interrupt outside the command (while parsing) into a silent exit 130; the
    entry point says it and keeps 143 for SIGTERM. The signal is simulated where the global-option
    callback configures logging, which runs before the command's own error handler."""
    import importlib

    from stockrnn.cli import entry
    from stockrnn.errors import Interrupted

    cli_app = importlib.import_module(
        "stockrnn.cli.app"
    )  # the module; stockrnn.cli.app is also the Typer app

    def signal_arrives(*_args):
        entry._interrupt(signum, None)

    monkeypatch.setattr(Interrupted, "received", None)
    monkeypatch.setattr(Interrupted, "reported", False)
    monkeypatch.setattr(cli_app, "_configure_logging", signal_arrives)
    monkeypatch.setattr(sys, "argv", ["stockrnn", "runs", "--runs", str(tmp_path / "runs")])
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exit_:
            entry.main()
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    assert exit_.value.code == code
    assert capsys.readouterr().err == f"Error: {line}\n"


def test_a_signal_while_a_finished_command_shuts_down_is_ignored_without_a_traceback(tmp_path):
    """Issue 22, item 6: SIGTERM arriving as a successful command exits (here from an atexit
    callback, the moment Python shuts down) printed `Exception ignored in atexit callback ...
    Interrupted: 15` or ended as -15. The work is done: exit 0, nothing on stderr."""
    code = (
        "import atexit, os, signal, sys\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))\n"
        f"sys.argv = ['stockrnn', 'runs', '--runs', {str(tmp_path / 'runs')!r}]\n"
        "from stockrnn.cli.entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert "no runs in" in done.stdout
