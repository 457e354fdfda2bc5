"""torchrun: two CPU processes (gloo, loopback) train one model; rank 0 alone writes the run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import SAMPLE

from stockrnn.runs.folder import list_runs

pytestmark = pytest.mark.slow

TRAIN = [
    "train",
    "--ticker",
    "KO",
    "--epochs",
    "4",
    "--set",
    "model.hidden_size=16",
    "--set",
    "model.num_layers=1",
    "--set",
    "features.lookback=20",
]


def env_for(root) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(root / "home"),
        "STOCKRNN_STORE": str(root / "store"),
        "STOCKRNN_RUNS": str(root / "runs"),
        "OMP_NUM_THREADS": "1",  # two ranks on a small machine: one thread each
    }


def run(argv, root) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env_for(root), capture_output=True, text=True, timeout=600)


def test_two_gloo_ranks_write_one_run_that_scores_like_a_single_process(tmp_path):
    stockrnn = [sys.executable, "-m", "stockrnn"]
    for root in (tmp_path / "single", tmp_path / "ddp"):
        fetched = run(
            [*stockrnn, "--quiet", "fetch", "--from-csv", str(SAMPLE / "KO.csv"), "--ticker", "KO"], root
        )
        assert fetched.returncode == 0, fetched.stderr

    single = run([*stockrnn, *TRAIN], tmp_path / "single")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    ddp = run([*torchrun, "-m", "stockrnn", *TRAIN], tmp_path / "ddp")

    assert single.returncode == 0, single.stderr
    assert ddp.returncode == 0, ddp.stderr
    assert ddp.stdout.count("saved to") == 1  # rank 0 alone prints
    [single_run] = list_runs(tmp_path / "single" / "runs")
    [ddp_run] = list_runs(tmp_path / "ddp" / "runs")  # written once
    assert (single_run.manifest.training["processes"], ddp_run.manifest.training["processes"]) == (1, 2)
    one = single_run.manifest.headline["mae_vs_naive"]
    two = ddp_run.manifest.headline["mae_vs_naive"]
    assert abs(one - two) < 0.01, (one, two)
    # Each rank took half of every epoch's batches: the same number of targets seen per epoch.
    assert ddp_run.manifest.windows == single_run.manifest.windows
