"""The synthetic-store rows of the benchmark: `stockrnn train` (one epoch) as the store grows in
tickers, with the memory each extra row of data costs, and `stockrnn predict` as a cold process on
a run's first night, without the run's raw_forecasts.npz (cold), on later nights (nightly) and with
split calibration.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def store_rows(
    stockrnn, run_process, synthetic_store, ticker_counts, predict_counts, years, device, lookback
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        env = {**os.environ, "STOCKRNN_STORE": str(scratch / "store"), "STOCKRNN_RUNS": str(scratch / "runs")}
        env["STOCKRNN_FORECASTS"] = str(scratch / "forecasts")
        started = time.perf_counter()
        synthetic_store(scratch / "store", max(ticker_counts), years)
        print(
            f"synthetic store: {max(ticker_counts)} tickers x {years} years ({time.perf_counter() - started:.0f}s)"
        )
        print(f"\n{'train, 1 epoch':<22}{'tickers':>8}{'rows':>10}{'wall s':>9}{'RSS MiB':>9}{'KiB/row':>9}")
        base = None
        for count in ticker_counts:
            names = [f"S{i:03d}" for i in range(count)]
            argv = [*stockrnn, "train", *sum((["--ticker", n] for n in names), []), "--epochs", "1"]
            argv += ["--set", "training.sequences_per_batch=256", "--device", device]
            wall, rss, _ = run_process(argv, env)
            rows = count * (252 * years - 1)
            base = base or (rss, rows)
            growth = (rss - base[0]) * 1024 / (rows - base[1]) if rows > base[1] else float("nan")
            print(f"{'stockrnn train':<22}{count:>8}{rows:>10}{wall:>9.1f}{rss:>9.0f}{growth:>9.2f}")
        print(
            "(KiB/row: extra RSS per extra row of data vs the smallest; a window copy would be "
            f"{lookback * 4 * 4 / 1024:.2f} KiB/row)"
        )

        # Online calibration (the default) also forecasts the newest window + H origins of each
        # ticker. On a run's first night most come from training (the run's raw_forecasts.npz: its
        # test forecasts); cold: without that file, as runs saved before it or restated histories;
        # nightly: after the previous session's predict, from the forecast cache. split keeps the
        # run's saved offsets: tonight's windows only.
        from stockrnn.data.store import PriceStore
        from stockrnn.runs.folder import load_run

        previous = str(PriceStore(scratch / "store").read("S000")["date"].iloc[-2].date())
        seed = load_run(scratch / "runs", "latest").path / "raw_forecasts.npz"
        header = f"{'predict, cold process':<22}{'tickers':>8}{'split s':>8}{'first s':>8}{'x split':>8}"
        print(f"\n{header}{'cold s':>8}{'x split':>8}{'nightly s':>10}{'x split':>8}{'RSS MiB':>8}")
        for count in predict_counts:
            argv = [
                *stockrnn,
                "predict",
                "--allow-stale",
                *sum((["--ticker", f"S{i:03d}"] for i in range(count)), []),
            ]
            out = lambda name, c=count: ["--out", str(scratch / f"forecasts-{name}-{c}")]  # noqa: E731
            split, _, _ = run_process([*argv, "--calibration", "split", *out("split")], env)
            first, _, _ = run_process([*argv, *out("first")], env)
            seed.rename(seed.with_suffix(".aside"))
            cold, _, _ = run_process([*argv, *out("cold")], env)
            seed.with_suffix(".aside").rename(seed)
            run_process([*argv, "--asof", previous, *out("nightly")], env)  # the night before
            nightly, rss, _ = run_process([*argv, *out("nightly")], env)
            print(
                f"{'stockrnn predict':<22}{count:>8}{split:>8.2f}{first:>8.2f}{first / split:>8.2f}"
                f"{cold:>8.2f}{cold / split:>8.2f}{nightly:>10.2f}{nightly / split:>8.2f}{rss:>8.0f}"
            )
        wall, rss, _ = run_process([sys.executable, "-m", "stockrnn", "--help"], env)
        print(f"{'stockrnn --help':<22}{'':>8}{wall:>9.2f}{rss:>9.0f}")
