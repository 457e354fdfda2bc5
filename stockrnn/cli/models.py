"""Commands over trained runs: train, evaluate, predict and runs."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from stockrnn.cli import render
from stockrnn.cli.app import (
    Architecture,
    ArchitectureOption,
    Cell,
    Device,
    JsonOption,
    LockTimeoutOption,
    Precision,
    RunOption,
    RunsOption,
    StoreOption,
    a_path,
    app,
    config_from_options,
    epoch_reporter,
    handles_errors,
    log,
    print_json,
    say,
    showing,
    state,
    stderr,
)


@app.command()
@handles_errors
def train(
    config_file: Path | None = typer.Option(
        None, "--config", help="TOML config (see configs/); default: packaged defaults."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a key: --set model.hidden_size=32 (repeatable)."
    ),
    tickers: list[str] = typer.Option(
        [], "--ticker", help="Train on this ticker (repeatable); sets data.tickers."
    ),
    model: Cell | None = typer.Option(None, "--model", help="Recurrent cell; sets model.cell."),
    architecture: Architecture | None = ArchitectureOption,
    horizon: int | None = typer.Option(
        None, "--horizon", help="Forecast sessions 1..H ahead; sets features.horizon."
    ),
    quantiles: str | None = typer.Option(
        None, "--quantiles", help="Levels, e.g. 0.05,0.5,0.95, or `point`; sets model.quantiles."
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs; sets training.epochs."),
    device: Device | None = typer.Option(None, "--device", help="auto: CUDA, else MPS, else CPU."),
    precision: Precision | None = typer.Option(
        None, "--precision", help="bf16: autocast the training steps; sets training.precision."
    ),
    compile_steps: bool = typer.Option(
        False, "--compile", help="torch.compile the training steps (long CPU runs); sets training.compile."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed; sets training.seed."),
    discard_on_interrupt: bool = typer.Option(
        False,
        "--discard-on-interrupt",
        help="On Ctrl-C or SIGTERM save nothing (default: save the best epoch so far, marked interrupted).",
    ),
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    json_output: bool = JsonOption,
) -> None:
    """Train a GRU/LSTM forecasting H sessions as quantiles; score it against naive, drift, EWMA, GARCH and ridge."""
    from stockrnn import paths
    from stockrnn.data.store import PriceStore
    from stockrnn.studies.train import train as run_training

    config = config_from_options(
        config_file,
        overrides,
        tickers,
        quantiles,
        compile_steps,
        {
            "model.cell": model,
            "model.architecture": architecture,
            "features.horizon": horizon,
            "training.epochs": epochs,
            "training.device": device,
            "training.precision": precision,
            "training.seed": seed,
        },
    )
    store = PriceStore(paths.store_dir(store_dir))
    if os.environ.get("RANK", "0") != "0":
        state.quiet = True  # under torchrun only rank 0 speaks
    if not state.quiet:  # a cron log should not stay silent for the minutes training takes
        stderr.print(
            f"training {config.model.label} on {', '.join(config.data.tickers)} from {store.root}, "
            f"horizon {config.features.horizon}, up to {config.training.epochs} epochs"
        )
    progress, on_epoch, on_batch = epoch_reporter(json_output)
    with showing(progress):
        outcome = run_training(
            config, store, paths.runs_dir(runs_dir), on_epoch, on_batch, discard_on_interrupt
        )
    if outcome is None:
        return  # a torchrun rank other than 0: rank 0 wrote the run
    log.info("trained run %s", outcome.run_id)
    if json_output:
        print_json(
            {
                "run_id": outcome.run_id,
                "path": str(outcome.path),
                "device": outcome.device,
                "best_epoch": outcome.best_epoch,
                "epochs_run": outcome.epochs_run,
                "seconds_per_epoch": outcome.seconds_per_epoch,
                "parameters": outcome.parameters,
                "metrics": outcome.metrics,
            }
        )
        return
    say(render.metrics_table(outcome.metrics, f"test split, run {outcome.run_id}"))
    say(
        f"run {outcome.run_id} saved to {outcome.path} (best epoch {outcome.best_epoch} of "
        f"{outcome.epochs_run}, {outcome.seconds_per_epoch:.2f}s/epoch on {outcome.device}, {outcome.parameters:,} parameters)"
    )
    from stockrnn.evaluation.verdicts import edge_verdict

    say(edge_verdict(outcome.metrics))


@app.command()
@handles_errors
def evaluate(
    run_name: str = RunOption,
    since_training: bool = typer.Option(
        False,
        "--since-training",
        help="Score on sessions stored after the run's data ended (true out-of-sample).",
    ),
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    json_output: bool = JsonOption,
) -> None:
    """Print a run's test-split scores, or score it on sessions stored since it was trained."""
    from stockrnn import paths
    from stockrnn.data.store import PriceStore
    from stockrnn.runs.folder import load_run
    from stockrnn.studies.evaluate import evaluate_since_training

    run = load_run(paths.runs_dir(runs_dir), run_name)
    if since_training:
        metrics = evaluate_since_training(run, PriceStore(paths.store_dir(store_dir)))
        title = f"sessions after {run.manifest.split.test_end.date()}, run {run.run_id}"
    else:
        metrics = run.metrics
        title = f"test split, run {run.run_id}"
    if json_output:
        print_json({"run_id": run.run_id, "since_training": since_training, "metrics": metrics})
        return
    say(render.metrics_table(metrics, title))
    from stockrnn.evaluation.verdicts import edge_verdict

    say(edge_verdict(metrics))


@app.command()
@handles_errors
def predict(
    run_name: str = RunOption,
    tickers: list[str] = typer.Option(
        [], "--ticker", help="Only these tickers (repeatable); default: the run's."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        parser=a_path,
        help="Forecasts folder [default: $STOCKRNN_FORECASTS, else ~/.local/share/stockrnn/forecasts].",
    ),
    allow_stale: bool = typer.Option(
        False, "--allow-stale", help="Forecast even from data older than the last close."
    ),
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    lock_timeout: float = LockTimeoutOption,
    json_output: bool = JsonOption,
) -> None:
    """Forecast each ticker's next H sessions (median and quantiles) from its newest data; write Parquet."""
    import pandas as pd

    from stockrnn import paths
    from stockrnn.data.store import PriceStore
    from stockrnn.outputs.forecast_archive import write_forecasts
    from stockrnn.outputs.predict import forecast_frame
    from stockrnn.runs.folder import load_run

    run = load_run(paths.runs_dir(runs_dir), run_name)
    store = PriceStore(paths.store_dir(store_dir))
    frame = forecast_frame(run, store, tickers or None, pd.Timestamp.now(tz="UTC"), allow_stale)
    written = write_forecasts(frame, paths.forecasts_dir(out), lock_timeout)
    log.info("wrote %d forecasts to %s", len(frame), ", ".join(map(str, written)))
    if json_output:
        rows = frame.assign(asof=frame["asof"].dt.date, target_date=frame["target_date"].dt.date)
        print_json(
            {"run_id": run.run_id, "files": [str(p) for p in written], "forecasts": rows.to_dict("records")}
        )
        return
    table = render.forecasts_table(frame, run.run_id)
    say(table)
    say("written to " + ", ".join(str(p) for p in written))


@app.command()
@handles_errors
def runs(runs_dir: Path | None = RunsOption, json_output: bool = JsonOption) -> None:
    """List trained runs and backtests with their headline test metrics."""
    from stockrnn import paths
    from stockrnn.runs.folder import LATEST, resolve_run_id, scan_runs
    from stockrnn.studies.backtest import backtests_dir, list_backtests

    root = paths.runs_dir(runs_dir)
    (found, broken), backtests = scan_runs(root), list_backtests(root)
    latest = resolve_run_id(root, LATEST) if found else None
    if json_output:
        print_json(
            {
                "runs": [
                    {
                        "run_id": r.run_id,
                        "path": str(r.path),
                        "latest": r.run_id == latest,
                        **r.manifest.to_json(),
                    }
                    for r in found
                ],
                "backtests": [{"path": str(b.path), **b.manifest} for b in backtests],
                "broken": [{"run_id": n, "path": str(root / n), "error": e} for n, e in broken],
            }
        )
        return
    if broken:
        say(render.broken_runs_table(root, broken))
    if not found and not backtests and not broken:
        say(f"no runs in {root}; train one with `stockrnn train`")
        return
    if found:
        say(render.runs_table(root, found, latest))
    if backtests:
        say(render.backtests_table(backtests_dir(root), backtests))


@app.command("config")
@handles_errors
def show_config() -> None:
    """Print the packaged default config (commented TOML): every key, its default and its meaning."""
    import sys

    from stockrnn.config.loading import default_toml

    sys.stdout.write(default_toml())
