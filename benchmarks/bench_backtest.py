"""The backtest rows of the benchmark: walk-forward on the GSPC sample from scratch and warm-started,
against the same fits done as separate `stockrnn train` runs on the same cut-offs."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def backtest_rows(stockrnn: list[str], run_process, sample: Path, quick: bool) -> None:
    """Print wall time, folds per minute and peak RSS of each way, and the ratios between them."""
    folds, step = (2, 21) if quick else (8, 63)
    common = ["--horizon", "5", "--ticker", "GSPC"] + (["--epochs", "2"] if quick else [])
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        env = {**os.environ, "STOCKRNN_STORE": str(scratch / "store"), "STOCKRNN_RUNS": str(scratch / "runs")}
        run_process([*stockrnn, "fetch", "--from-csv", str(sample / "GSPC.csv"), "--ticker", "GSPC"], env)
        print(
            f"\n{f'backtest, GSPC, H=5, {folds} x {step}':<34}{'wall s':>8}{'folds/min':>10}{'RSS MiB':>9}"
            f"{'x trains':>9}{'RSS fold 1 -> last':>20}"
        )
        measured, paths = {}, {}
        ways = (("from scratch", []), ("--jobs 2", ["--jobs", "2"]), ("--warm-start", ["--warm-start"]))
        for label, extra in ways:
            argv = [
                *stockrnn,
                "backtest",
                *common,
                "--folds",
                str(folds),
                "--step",
                str(step),
                *extra,
                "--json",
            ]
            wall, rss, out = run_process(argv, env)
            measured[label] = (wall, rss, json.loads(out)["folds"])
            paths[label] = json.loads(out)["path"]
        cutoffs = measured["from scratch"][2]
        trains_wall, trains_rss = 0.0, 0.0
        for fold in cutoffs:  # the same fits as separate runs: same split dates, same seed
            argv = [*stockrnn, "train", *common, "--seed", str(fold["seed"])]
            argv += [
                "--set",
                f"split.train_end={fold['train_end']}",
                "--set",
                f"split.val_end={fold['cutoff']}",
            ]
            wall, rss, _ = run_process(argv, env)
            trains_wall += wall
            trains_rss = max(trains_rss, rss)
        for label, (wall, rss, fold_list) in measured.items():
            growth = f"{fold_list[0]['peak_rss_mb']:.0f} -> {fold_list[-1]['peak_rss_mb']:.0f}"
            print(
                f"{'stockrnn backtest ' + label:<34}{wall:>8.1f}{len(fold_list) / wall * 60:>10.1f}{rss:>9.0f}"
                f"{wall / trains_wall:>9.2f}{growth:>20}"
            )
        print(
            f"{f'{folds} x stockrnn train, same cuts':<34}{trains_wall:>8.1f}{folds / trains_wall * 60:>10.1f}{trains_rss:>9.0f}{1:>9.2f}"
        )
        print(
            "(x trains: wall time over the separate train runs, which also score a longer test split; "
            "RSS fold 1 -> last: the backtest's own peak RSS after its first and its last fold; RSS MiB of "
            "--jobs 2: the largest of the parent and its workers, which wait4's rusage covers)"
        )
        speedup = measured["from scratch"][0] / measured["--jobs 2"][0]
        print(f"speed-up of --jobs 2 over --jobs 1: {speedup:.2f}x; {_largest_difference(paths)}")


def _largest_difference(paths: dict) -> str:
    """How far the --jobs 2 forecasts are from --jobs 1's (thread counts change summation order)."""
    import numpy as np
    import pandas as pd

    one = pd.read_parquet(Path(paths["from scratch"]) / "forecasts.parquet")
    two = pd.read_parquet(Path(paths["--jobs 2"]) / "forecasts.parquet")
    numbers = [c for c in one.columns if one[c].dtype.kind == "f"]
    a, b = one[numbers].to_numpy(), two[numbers].to_numpy()
    relative = np.nanmax(np.abs(a - b) / np.maximum(np.abs(a), 1e-12))
    same = (one.drop(columns=numbers).equals(two.drop(columns=numbers))) and a.shape == b.shape
    return f"forecasts {'in the same rows' if same else 'in DIFFERENT rows'}, largest relative difference {relative:.1e}"
