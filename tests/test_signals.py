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


def test_sigterm_during_training_exits_143_with_one_line_and_leaves_no_staging(tmp_path, store):
    store.write("SYN", prices_from_returns(ar1_returns(3000, phi=0.3)), origin="test")
    runs = tmp_path / "runs"
    process = _start(
        tmp_path, "train", "--ticker", "SYN", "--epochs", "200", "--set", "training.patience=200",
        "--store", str(store.root), "--runs", str(runs),
    )  # fmt: skip
    starting = process.stderr.readline()
    assert starting.startswith("training gru on SYN"), starting
    first_epoch = process.stderr.readline()  # off a terminal: one line per epoch
    assert first_epoch.startswith("epoch 1/200"), first_epoch
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 143
    assert rest.strip().splitlines()[-1] == "Error: terminated (SIGTERM)"
    assert "Traceback" not in rest
    assert not runs.exists() or [p.name for p in runs.iterdir() if p.name.startswith(".incomplete")] == []


def test_ctrl_c_while_still_importing_exits_130_without_a_traceback(tmp_path):
    process = _start(tmp_path, "runs", "--runs", str(tmp_path / "runs"))
    time.sleep(0.3)  # torch, pandas and typer are still being imported
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the command finished before the signal arrived")
    assert process.returncode == 130
    assert stderr.strip() == "Error: interrupted"
