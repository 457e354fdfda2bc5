"""The universe rows of the benchmark (`bench.py --universe`): a synthetic panel of 50 and 500
tickers x 20 years, and how each step grows from the one to the other. Alone: `python
benchmarks/bench_universe.py` (26 minutes on 2 idle cores).

Per size, each as a cold process: one training epoch, an 8-fold backtest of 63 sessions with
`--jobs 2` (one epoch per fit), and predict; wall seconds and peak RSS (a backtest's is the largest
of the parent and its worker processes: the rusage wait4 returns covers the children a process
reaped). x: the step's wall time at 500 over its time at 50 (10 would be linear in tickers).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def universe_rows(
    stockrnn: list[str], run_process, synthetic_store, counts=(50, 500), years: int = 20
) -> None:
    print(f"\n{f'universe, {years} years':<26}{'tickers':>8}{'wall s':>9}{'x':>7}{'RSS MiB':>9}")
    first: dict[str, float] = {}
    for count in counts:
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            env = {
                **os.environ,
                "STOCKRNN_STORE": str(scratch / "store"),
                "STOCKRNN_RUNS": str(scratch / "runs"),
            }
            env["STOCKRNN_FORECASTS"] = str(scratch / "forecasts")
            synthetic_store(scratch / "store", count, years)
            tickers = sum((["--ticker", f"S{i:03d}"] for i in range(count)), [])
            steps = {
                "train, 1 epoch": ["train", *tickers, "--epochs", "1"],
                "backtest 8x63, --jobs 2": [
                    "backtest",
                    *tickers,
                    "--epochs",
                    "1",
                    "--folds",
                    "8",
                    "--step",
                    "63",
                    "--jobs",
                    "2",
                ],
                "predict": ["predict", *tickers, "--allow-stale"],
            }
            for label, args in steps.items():
                wall, rss, _ = run_process([*stockrnn, *args], env)
                first.setdefault(label, wall)
                print(f"{label:<26}{count:>8}{wall:>9.1f}{wall / first[label]:>7.1f}{rss:>9.0f}")


if __name__ == "__main__":  # these rows alone: python benchmarks/bench_universe.py
    import sys

    import bench

    universe_rows([sys.executable, "-m", "stockrnn", "--quiet"], bench.run_process, bench.synthetic_store)
