"""stockrnn's benchmark: every figure measured in one run, so the ratios between them mean something.

    python benchmarks/bench.py            # the full table (a few minutes on 2 cores)
    python benchmarks/bench.py --quick    # the same table, smaller, for CI (under a minute)
    python benchmarks/bench.py --device cuda   # the training loops on a GPU
    python benchmarks/bench.py --compile  # adds a torch.compile row (minutes of compiling)
    python benchmarks/bench.py --universe # adds 50 and 500 tickers x 20 years (bench_universe.py)

Each measurement runs in a fresh process of its own, so its peak RSS is its own. Rows:
- training on the GSPC sample (lookback 60, GRU 64 x 2, MSE, Adam, clip 1.0, same epochs) for the
  plain PyTorch loop a tutorial writes (windows built by a Python loop, TensorDataset + DataLoader)
  and for stockrnn in window and sequence mode, at 64 and 256 targets per step;
- time until the validation MSE first reaches the reference's final one ("time to equal quality");
- achieved GFLOP/s of each training loop beside a large fp32 matmul (the practical ceiling);
- `stockrnn predict` as a cold process for 1, 50 and 500 tickers of a synthetic store, with RSS;
- peak RSS of `stockrnn train` for 10, 100 and 500 tickers;
- seconds per epoch of distribution forecasts (7 quantile levels, pinball loss) at horizon 1 and 5
  against the point model, sequence mode;
- every architecture's epoch on the 5-ticker panel at H = 5: s/epoch, counted FLOPs, GFLOP/s and
  the distance to the matmul rate (bench_architectures.py);
- `stockrnn backtest` on GSPC, H = 5, 8 folds of 63 sessions, from scratch, with `--jobs 2` and
  warm-started, against 8 separate `stockrnn train` runs on the same cut-offs (bench_backtest.py);
- the per-ticker GARCH baseline fits for 500 tickers in this process and with `--jobs 2`
  (bench_garch.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
LOOKBACK, HIDDEN, LAYERS = 60, 64, 2


# ---------------------------------------------------------------- workers (one process each)


def _gspc_panel():
    """The GSPC sample through stockrnn's own features, chronological split and train-only scaling."""
    from stockrnn.config.loading import load_config
    from stockrnn.data import fetching
    from stockrnn.data.store import PriceStore
    from stockrnn.dataset import prepare as dataset
    from stockrnn.dataset.windows import build_panel, split_dates

    store = PriceStore(Path(tempfile.mkdtemp()) / "store")
    fetching.import_csv(store, SAMPLE / "GSPC.csv", "GSPC", "sample")
    config = load_config(None, [])
    frames, names = dataset.load_feature_frames(store, ["GSPC"], None, "log_return")
    split = split_dates(frames["GSPC"]["date"].to_numpy()[LOOKBACK:], config.split)
    panel = build_panel(frames, names, names[0], "standard", split.train_end, min_train_rows=LOOKBACK + 2)
    return panel, split


def _gru_flops(n_features: int, grad_steps: float, forward_steps: float) -> float:
    """Multiply-adds of a GRU stack, x2 for FLOPs; backward costs about twice the forward."""
    per_step = sum(2 * 3 * HIDDEN * (i + HIDDEN) for i in [n_features] + [HIDDEN] * (LAYERS - 1))
    return per_step * (3 * grad_steps + forward_steps)


def work_reference(batch: int, epochs: int, device: str = "cpu") -> dict:
    """The loop a tutorial writes, on stockrnn's features and scaling (batches moved to the device)."""
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from stockrnn.dataset.windows import target_rows

    panel, split = _gspc_panel()
    train_ends = panel.window_ends(LOOKBACK, 1, None, split.train_end)
    val_ends = panel.window_ends(LOOKBACK, 1, split.train_end, split.val_end)

    def windows(ends):
        x = np.zeros((len(ends), LOOKBACK, panel.features.shape[1]), dtype=np.float32)
        for i, end in enumerate(ends):
            x[i] = panel.features[end - LOOKBACK + 1 : end + 1]
        return torch.from_numpy(x), torch.from_numpy(panel.target[target_rows(ends, 1)[:, 0]].copy())

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(panel.features.shape[1], HIDDEN, LAYERS, batch_first=True, dropout=0.1)
            self.fc = nn.Linear(HIDDEN, 1)

        def forward(self, x):
            out, _ = self.gru(x)
            return self.fc(out[:, -1]).squeeze(-1)

    torch.manual_seed(0)
    started = time.perf_counter()
    train_loader = DataLoader(TensorDataset(*windows(train_ends)), batch_size=batch, shuffle=True)
    val_loader = DataLoader(TensorDataset(*windows(val_ends)), batch_size=1024)
    model, loss_fn = Model().to(device), nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(epochs):
        epoch_started = time.perf_counter()
        model.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val = sum(loss_fn(model(x.to(device)), y.to(device)).item() * len(y) for x, y in val_loader)
            val /= len(val_ends)
        history.append((time.perf_counter() - epoch_started, val, time.perf_counter() - started))
    flops = _gru_flops(panel.features.shape[1], len(train_ends) * LOOKBACK, 0)
    return {"targets": len(train_ends), "history": history, "flops_per_epoch": flops}


def work_stockrnn(mode: str, batch: int, epochs: int, variant: str = "fp32", device: str = "cpu") -> dict:
    """stockrnn's training loop; variant "bf16" autocasts the steps, "compile" sets training.compile
    with a cold inductor cache (its compile time counts, as it would for a user), "quantiles-hH" trains
    the default 7 quantile levels for horizons 1..H with the pinball loss. The others are point
    forecasts with the MSE, as the reference loop trains."""
    if variant == "compile":
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp()
    import torch

    from stockrnn.config.loading import load_config
    from stockrnn.forecasters.models import build_model
    from stockrnn.forecasters.training import train_model

    panel, split = _gspc_panel()
    horizon = int(variant.rpartition("-h")[2]) if variant.startswith("quantiles") else 1
    train_ends = panel.window_ends(LOOKBACK, horizon, None, split.train_end)
    val_ends = panel.window_ends(LOOKBACK, horizon, split.train_end, split.val_end)
    length = 32
    overrides = [
        f"training.mode='{mode}'",
        f"training.batch_size={batch}",
        f"training.sequences_per_batch={max(batch // length, 1)}",  # the same targets per step
        f"training.sequence_length={length}",
        "training.loss='mse'",
        f"training.epochs={epochs}",
        f"training.patience={epochs}",
        f"training.device='{device}'",
        f"training.precision='{'bf16' if variant == 'bf16' else 'fp32'}'",
        f"training.compile={'true' if variant == 'compile' else 'false'}",
        f"features.horizon={horizon}",
    ]
    if not variant.startswith("quantiles"):
        overrides.append("model.quantiles='point'")
    config = load_config(None, overrides)
    torch.manual_seed(0)
    model = build_model(config, len(panel.feature_names), horizon, config.model.levels)
    history, started = [], time.perf_counter()

    def on_epoch(report, _total):
        history.append((report.seconds, report.val_loss, time.perf_counter() - started))

    train_model(
        model,
        panel,
        train_ends,
        val_ends,
        LOOKBACK,
        config.training,
        torch.device(device),
        horizon,
        config.model.levels,
        on_epoch=on_epoch,
    )
    n = len(train_ends)
    if mode == "sequence":
        flops = _gru_flops(len(panel.feature_names), n, -(-n // length) * (LOOKBACK - 1))
    else:
        flops = _gru_flops(len(panel.feature_names), n * LOOKBACK, 0)
    return {"targets": n, "history": history, "flops_per_epoch": flops}


def work_matmul(n: int, device: str = "cpu") -> dict:
    import torch

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    a @ b  # warm-up
    sync()
    best = min(_timed(lambda: (a @ b, sync())) for _ in range(5))
    return {"gflops": 2 * n**3 / best / 1e9}


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def work_architecture(*args) -> dict:
    from bench_architectures import work_architecture as work

    return work(*args)


WORKERS = {
    "reference": work_reference,
    "stockrnn": work_stockrnn,
    "matmul": work_matmul,
    "architecture": work_architecture,
}


# ---------------------------------------------------------------- the parent: processes and the table


def run_process(argv: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one cold process (reaped with wait4 for its rusage:
    the peak is the largest of the process and any children it reaped, such as --jobs workers)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"benchmark step failed: {' '.join(argv[:6])} ...\n{err.read().decode()}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def worker(name: str, *args) -> tuple[dict, float]:
    """Run a worker in its own process; its result and its peak RSS in MiB."""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench; "
        f"r = bench.WORKERS[{name!r}](*{list(args)!r}); "
        "r['rss'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))"
    )
    _, _, out = run_process([sys.executable, "-c", code])
    result = json.loads(out.strip().splitlines()[-1])
    return result, result.pop("rss")


def synthetic_store(root: Path, tickers: int, years: int) -> None:
    """`tickers` random-walk OHLCV histories over the last `years` of real XNYS sessions."""
    import numpy as np
    import pandas as pd

    from stockrnn.data.calendar import get_calendar
    from stockrnn.data.store import PriceStore

    sessions = get_calendar("XNYS").sessions_in_range(f"{2025 - years}-11-01", "2026-11-20")[-252 * years :]
    store = PriceStore(root)
    rng = np.random.default_rng(0)
    for index in range(tickers):
        close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, len(sessions))))
        spread = np.abs(rng.normal(0, 0.01, len(sessions)))
        frame = pd.DataFrame(
            {
                "date": pd.DatetimeIndex(sessions).tz_localize(None).astype("datetime64[ns]"),
                "open": close * (1 + rng.normal(0, 0.005, len(sessions))),
                "high": close * (1 + spread),
                "low": close * (1 - spread),
                "close": close,
                "adj_close": close,
                "volume": pd.array(rng.integers(10**5, 10**7, len(sessions)), dtype="Int64"),
                "source": "synthetic",
                "fetched_at": pd.Timestamp("2026-11-21", tz="UTC"),
            }
        )
        frame["high"] = frame[["open", "high", "close"]].max(axis=1)
        frame["low"] = frame[["open", "low", "close"]].min(axis=1)
        store.write(f"S{index:03d}", frame, origin="benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for CI")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the loops train")
    parser.add_argument(
        "--universe",
        action="store_true",
        help="add the 50- and 500-ticker x 20-year rows (train, backtest --jobs 2, predict): long",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="add a torch.compile row (dynamo's experimental RNN support: minutes of cold compile)",
    )
    options = parser.parse_args()
    quick = options.quick
    epochs = 2 if quick else 8
    batches = [256] if quick else [64, 256]
    # The smallest count must already fill the fixed-size buffers (a 256-stretch batch, the linear
    # baseline's 16,384-window chunk), or their growth would be read as growth per row.
    ticker_counts = [40, 80] if quick else [10, 100, 500]
    predict_counts = [1, 10] if quick else [1, 50, 500]
    years = 3 if quick else 10
    stockrnn = [sys.executable, "-m", "stockrnn", "--quiet"]

    device = options.device
    print(f"stockrnn benchmark ({'quick' if quick else 'full'}), {os.cpu_count()} CPUs, {device}, one run\n")
    matmul, _ = worker("matmul", 1024 if quick else 4096, device)
    print(f"fp32 matmul ceiling: {matmul['gflops']:.1f} GFLOP/s\n")

    header = f"{'loop':<26}{'batch':>6}{'windows/s':>11}{'s/epoch':>9}{'x ref':>7}{'GFLOP/s':>9}"
    header += (
        f"{'val MSE':>10}{'to ref quality':>16}{'x ref':>7}{'startup':>9}{'x ref -st':>10}{'RSS MiB':>9}"
    )
    print(header)
    for batch in batches:
        rows = [("reference (tutorial)", *worker("reference", batch, epochs, device))]
        for mode in ("window", "sequence"):
            rows.append((f"stockrnn {mode}", *worker("stockrnn", mode, batch, epochs, "fp32", device)))
        if batch == batches[-1]:  # measured, not kept: see the footnote
            for variant in ("bf16", "compile") if options.compile else ("bf16",):
                rows.append(
                    (
                        f"stockrnn sequence {variant}",
                        *worker("stockrnn", "sequence", batch, epochs, variant, device),
                    )
                )
        ref = rows[0][1]
        ref_final = ref["history"][-1][1]
        ref_speed = ref["targets"] / _mean_epoch(ref)
        ref_reach = _time_to(ref, ref_final)
        for label, result, rss in rows:
            speed = result["targets"] / _mean_epoch(result)
            reach = _time_to(result, ref_final)
            reach_text = f"{reach:.1f}s" if reach is not None else "not reached"
            ratio = f"{ref_reach / reach:.1f}" if reach else "-"
            trained_ratio = (
                f"{(ref_reach - _startup(ref)) / (reach - _startup(result)):.1f}" if reach else "-"
            )
            print(
                f"{label:<26}{batch:>6}{speed:>11.0f}{_mean_epoch(result):>9.2f}{speed / ref_speed:>7.1f}"
                f"{result['flops_per_epoch'] / _mean_epoch(result) / 1e9:>9.1f}"
                f"{min(h[1] for h in result['history']):>10.5f}{reach_text:>16}{ratio:>7}"
                f"{_startup(result):>8.1f}s{trained_ratio:>10}{rss:>9.0f}"
            )
    point = next(result for label, result, _ in rows if label == "stockrnn sequence")
    print(f"\n{'distribution forecasts':<26}{'batch':>6}{'s/epoch':>9}{'x point':>9}{'RSS MiB':>9}")
    print(f"{'point, H=1 (as above)':<26}{batches[-1]:>6}{_mean_epoch(point):>9.2f}{1:>9.2f}{'':>9}")
    for horizon in (1, 5):
        result, rss = worker("stockrnn", "sequence", batches[-1], epochs, f"quantiles-h{horizon}", device)
        ratio = _mean_epoch(result) / _mean_epoch(point)
        print(
            f"{f'7 quantiles, H={horizon}':<26}{batches[-1]:>6}{_mean_epoch(result):>9.2f}{ratio:>9.2f}{rss:>9.0f}"
        )
    print(
        f"\n(reference's final validation MSE is the quality bar; {epochs} epochs each; s/epoch is the mean "
        "after the first. startup: seconds "
        "before the first step, mostly torch.optim importing torch._dynamo on first use, paid by every "
        "loop; x ref -st: the time-to-quality ratio without it. bf16 and compile rows are measured "
        "to decide whether to keep them: stockrnn trains in fp32 and eager by default)\n"
    )

    if device == "cpu":
        from bench_architectures import architecture_rows

        architecture_rows(worker, matmul["gflops"], SAMPLE, quick)

    from bench_store import store_rows

    store_rows(stockrnn, run_process, synthetic_store, ticker_counts, predict_counts, years, device, LOOKBACK)

    from bench_backtest import backtest_rows

    backtest_rows(stockrnn, run_process, SAMPLE, quick)

    from bench_garch import garch_rows

    garch_rows(quick)

    if options.universe:
        from bench_universe import universe_rows

        universe_rows(stockrnn, run_process, synthetic_store)


def _mean_epoch(result: dict) -> float:
    """Steady-state seconds per epoch: the mean after the first, whose one-off costs (a compile, lazy
    imports, allocator growth) count in the time to quality instead."""
    epochs = result["history"][1:] or result["history"]
    return sum(h[0] for h in epochs) / len(epochs)


def _startup(result: dict) -> float:
    """Seconds from the clock's start to the first training step: total at epoch 1 minus epoch 1."""
    return result["history"][0][2] - result["history"][0][0]


def _time_to(result: dict, target: float) -> float | None:
    return next((h[2] for h in result["history"] if h[1] <= target), None)


if __name__ == "__main__":
    main()
