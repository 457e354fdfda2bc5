"""Commands over trained runs: train, evaluate, predict and runs."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import typer

from stockrnn.cli import render, score_tables
from stockrnn.cli.app import (
    Architecture,
    ArchitectureOption,
    CalibrationMethod,
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
    step_reporter,
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
    challenge: str | None = typer.Option(
        None,
        "--challenge",
        help="Score the new run against this run (`production`) on its test origins; promote it only if it wins.",
    ),
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    json_output: bool = JsonOption,
    jobs: int = typer.Option(
        1,
        "--jobs",
        min=1,
        max=256,
        help="Fit the per-ticker GARCH baselines in this many processes (from 200 tickers, where it pays; same results).",
    ),
) -> None:
    """Train a GRU/LSTM forecasting H sessions as quantiles; score it against naive, drift, EWMA, GARCH and ridge."""
    from stockrnn import api, paths

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
    store = paths.store_dir(store_dir)
    if os.environ.get("RANK", "0") != "0":
        state.quiet = True  # under torchrun only rank 0 speaks
    if not state.quiet:  # a cron log should not stay silent for the minutes training takes
        stderr.print(
            f"training {config.model.label} on {', '.join(config.data.tickers)} from {store}, "
            f"horizon {config.features.horizon}, up to {config.training.epochs} epoch{'s' if config.training.epochs != 1 else ''}"
        )
    progress, on_epoch, on_batch = epoch_reporter(json_output)
    with showing(progress):
        run = api.train(
            config,
            store,
            paths.runs_dir(runs_dir),
            on_epoch=on_epoch,
            on_batch=on_batch,
            discard_on_interrupt=discard_on_interrupt,
            challenge=challenge,
            on_step=step_reporter(progress),
            jobs=jobs,
        )
    if run is None:
        return  # a torchrun rank other than 0: rank 0 wrote the run
    log.info("trained run %s", run.id)
    trained, scores = run.manifest.training, run.scores
    if json_output:
        print_json(
            {
                "run_id": run.id,
                "path": str(run.path),
                "device": run.manifest.device,
                **{k: trained[k] for k in ("best_epoch", "epochs_run", "seconds_per_epoch", "parameters")},
                "metrics": scores,
                "challenge": run.manifest.challenge,
            }
        )
        return
    say(score_tables.metrics_table(scores, f"test split, run {run.id}", wide=state.wide))
    if run.manifest.calibration:
        say(
            score_tables.calibration_table(
                run.manifest.calibration, config.calibration.method, wide=state.wide
            )
        )
    say(
        f"run {run.id} saved to {run.path} (best epoch {trained['best_epoch']} of {trained['epochs_run']}, "
        f"{trained['seconds_per_epoch']:.2f}s/epoch on {run.manifest.device}, {trained['parameters']:,} parameters)"
    )
    from stockrnn.evaluation.verdicts import edge_verdict

    say(edge_verdict(scores))
    if run.manifest.challenge is not None:
        say(_challenge_line(run.id, run.manifest.challenge))


def _challenge_line(run_id: str, verdict: dict) -> str:
    if verdict["promoted"]:
        return f"production: run {run_id} promoted ({verdict['why']})"
    return f"production stays run {verdict['production']}: {verdict['why']}"


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
    from stockrnn import api, paths

    run = api.Run.load(run_name, paths.runs_dir(runs_dir))
    if since_training:
        metrics = run.evaluate(paths.store_dir(store_dir)).scores
        title = f"sessions after {run.manifest.split.test_end.date()}, run {run.id}"
    else:
        metrics = run.scores
        title = f"test split, run {run.id}"
    if json_output:
        print_json({"run_id": run.id, "since_training": since_training, "metrics": metrics})
        return
    say(score_tables.metrics_table(metrics, title, wide=state.wide))
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
    asof: datetime | None = typer.Option(
        None,
        "--asof",
        formats=["%Y-%m-%d"],
        help="Forecast as that night would have, from sessions up to this date only (backfill a missed night).",
    ),
    calibration: CalibrationMethod | None = typer.Option(
        None, "--calibration", help="Override the run's calibration.method for this forecast."
    ),
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    lock_timeout: float = LockTimeoutOption,
    json_output: bool = JsonOption,
) -> None:
    """Forecast each ticker's next H sessions (median and quantiles) from its newest data; write Parquet."""
    from stockrnn import api, paths

    run = api.Run.load(run_name, paths.runs_dir(runs_dir))
    frame = run.predict(
        paths.store_dir(store_dir),
        tickers or None,
        allow_stale=allow_stale,
        asof=asof,
        calibration=calibration.value if calibration else None,
        cache=paths.forecasts_dir(out),
    )
    written = api.write_forecasts(frame, paths.forecasts_dir(out), lock_timeout)
    log.info("wrote %d forecasts to %s", len(frame), ", ".join(map(str, written)))
    if json_output:
        print_json(
            {"run_id": run.id, "files": [str(p) for p in written], "forecasts": frame.to_dict("records")}
        )
        return
    table = render.forecasts_table(frame, run.id, wide=state.wide)
    say(table)
    say("written to " + ", ".join(str(p) for p in written))


@app.command()
@handles_errors
def runs(runs_dir: Path | None = RunsOption, json_output: bool = JsonOption) -> None:
    """List trained runs, backtests and comparisons with their headlines, and any broken folder."""
    from stockrnn import paths
    from stockrnn.runs.folder import LATEST, resolve_run_id, scan_runs
    from stockrnn.runs.production import read_pointer
    from stockrnn.studies.backtest import backtests_dir, scan_backtests
    from stockrnn.studies.compare import compares_dir, scan_compares

    root = paths.runs_dir(runs_dir)
    (found, broken), (backtests, broken_backtests) = scan_runs(root), scan_backtests(root)
    compares, broken_compares = scan_compares(root)
    finished = [r for r in found if not r.manifest.training.get("interrupted", False)]
    latest = resolve_run_id(root, LATEST) if finished else None
    pointer = read_pointer(root)
    production = pointer["run_id"] if pointer else None
    every_broken = [
        *(("run", root, name, why) for name, why in broken),
        *(("backtest", backtests_dir(root), name, why) for name, why in broken_backtests),
        *(("comparison", compares_dir(root), name, why) for name, why in broken_compares),
    ]
    if json_output:
        print_json(
            {
                "runs": [
                    {
                        "run_id": r.run_id,
                        "path": str(r.path),
                        "latest": r.run_id == latest,
                        "production": r.run_id == production,
                        **r.manifest.to_json(),
                    }
                    for r in found
                ],
                "backtests": [{"path": str(b.path), **b.manifest} for b in backtests],
                "compares": [
                    {"path": str(c.path), "best": c.leaderboard["best"], **c.manifest} for c in compares
                ],
                "broken": [
                    {"kind": kind, "run_id": n, "path": str(folder / n), "error": e}
                    for kind, folder, n, e in every_broken
                ],
            }
        )
        return
    if every_broken:
        say(render.broken_folders_table(root, every_broken))
    if not found and not backtests and not compares and not every_broken:
        say(f"no runs in {root}; train one with `stockrnn train`")
        return
    if found:
        say(render.runs_table(root, found, latest, production, wide=state.wide))
    if backtests:
        say(render.backtests_table(backtests_dir(root), backtests, wide=state.wide))
    if compares:
        say(render.compares_table(compares_dir(root), compares, wide=state.wide))


@app.command()
@handles_errors
def promote(
    run_name: str = typer.Argument(
        ..., metavar="RUN", help="The run to put in production (an id, or `latest`)."
    ),
    reason: str = typer.Option("", "--reason", help="Why, recorded with the pointer."),
    runs_dir: Path | None = RunsOption,
) -> None:
    """Point the alias `production` at a run: cron's `predict --run production` then uses it."""
    from stockrnn import api, paths

    chosen = api.promote(run_name, paths.runs_dir(runs_dir), reason)
    log.info("promoted run %s to production (%s)", chosen.id, reason or "by hand")
    say(f"production is now run {chosen.id}")


@app.command("config")
@handles_errors
def show_config() -> None:
    """Print the packaged default config (commented TOML): every key, its default and its meaning."""
    import sys

    from stockrnn.config.loading import default_toml

    sys.stdout.write(default_toml())
