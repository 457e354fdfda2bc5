"""Commands that weigh the evidence: backtest (walk-forward) and report (charts a person looks at)."""

from __future__ import annotations

from pathlib import Path

import typer

from stockrnn.cli import score_tables
from stockrnn.cli.app import (
    Architecture,
    ArchitectureOption,
    Cell,
    JobsOption,
    JsonOption,
    RayOption,
    RunsOption,
    StoreOption,
    a_path,
    app,
    config_from_options,
    handles_errors,
    log,
    print_json,
    progress_bar,
    say,
    showing,
    state,
    stderr,
    stdout,
    step_reporter,
)


def _fold_reporter(json_output: bool):
    """A bar over folds (and the epochs of the current fold) on a terminal; a line per fold otherwise."""
    if state.quiet or json_output:
        return None, None, None

    def line(fold, total):
        return (
            f"fold {fold.index}/{total}: origins {fold.cutoff} .. {fold.last_origin}, "
            + (f"trained {fold.epochs_run} epochs (best {fold.best_epoch}), " if fold.refit else "no refit, ")
            + f"{fold.seconds:.1f}s, peak RSS {fold.peak_rss_mb:.0f} MB"
        )

    if not stdout.is_terminal:

        def on_fold(fold, total):
            stderr.print(line(fold, total))
            log.info(line(fold, total))

        return None, on_fold, None
    progress = progress_bar()
    folds = progress.add_task("folds", total=None)
    epochs = progress.add_task("epochs", total=None)

    def on_fold(fold, total):
        progress.update(folds, completed=fold.index, total=total)
        progress.console.print(line(fold, total))

    def on_epoch(report, total):
        progress.update(
            epochs, completed=report.epoch, total=total, description=f"epoch  val {report.val_loss:.4f}"
        )

    return progress, on_fold, on_epoch


@app.command()
@handles_errors
def backtest(
    config_file: Path | None = typer.Option(
        None, "--config", help="TOML config; default: packaged defaults."
    ),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: --set model.hidden_size=32."),
    tickers: list[str] = typer.Option([], "--ticker", help="Backtest this ticker (repeatable)."),
    model: Cell | None = typer.Option(None, "--model", help="Recurrent cell; sets model.cell."),
    architecture: Architecture | None = ArchitectureOption,
    horizon: int | None = typer.Option(
        None, "--horizon", help="Forecast sessions 1..H; sets features.horizon."
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs per fit; sets training.epochs."),
    folds: int = typer.Option(8, "--folds", help="Folds, newest last."),
    step: int = typer.Option(63, "--step", help="Sessions of forecast origins per fold."),
    val_sessions: int = typer.Option(
        252, "--val-sessions", help="Validation sessions before each fold (early stopping, calibration)."
    ),
    window: str = typer.Option(
        "expanding", "--window", help="expanding, or rolling:N (train on N sessions)."
    ),
    refit: str = typer.Option("every", "--refit", help="Re-fit every fold (`every`) or every N folds."),
    warm_start: bool = typer.Option(
        False, "--warm-start", help="Start each fit from the previous fold's weights."
    ),
    mcs: bool = typer.Option(
        False, "--mcs", help="Add the Model Confidence Set (arch) over all forecasters."
    ),
    jobs: int = JobsOption,
    ray: str | None = RayOption,
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    json_output: bool = JsonOption,
) -> None:
    """Walk forward: re-fit on the past at each fold, forecast its next --step sessions, score them all."""
    from stockrnn import api, paths
    from stockrnn.errors import ConfigError

    if refit != "every" and not refit.isdigit():
        raise ConfigError(f"--refit {refit!r}: use `every` or a number of folds")
    config = config_from_options(
        config_file,
        overrides,
        tickers,
        None,
        False,
        {
            "model.cell": model,
            "model.architecture": architecture,
            "features.horizon": horizon,
            "training.epochs": epochs,
        },
    )
    progress, on_fold, on_epoch = _fold_reporter(json_output)
    with showing(progress):
        done = api.backtest(
            config,
            paths.store_dir(store_dir),
            paths.runs_dir(runs_dir),
            folds=folds,
            step=step,
            val_sessions=val_sessions,
            window=window,
            refit=1 if refit == "every" else int(refit),
            warm_start=warm_start,
            mcs=mcs,
            jobs=jobs,
            ray=ray,
            on_fold=on_fold,
            on_epoch=on_epoch,
            on_step=None if json_output else step_reporter(progress),
        )
    log.info("backtest %s saved", done.id)
    scores, folds_run = done.scores, done.manifest["folds"]
    if json_output:
        print_json(
            {
                "backtest_id": done.id,
                "path": str(done.path),
                "device": done.manifest["device"],
                "folds": [{k: v for k, v in f.items() if k != "history"} for f in folds_run],
                "metrics": scores["pooled"],
                "mcs": scores.get("mcs"),
            }
        )
        return
    say(
        score_tables.metrics_table(
            scores["pooled"], f"all {len(folds_run)} folds, backtest {done.id}", wide=state.wide
        )
    )
    say(score_tables.folds_table(folds_run, scores["folds"], wide=state.wide))
    if "calibration" in scores:
        say(score_tables.calibration_table(scores["calibration"], config.calibration.method, wide=state.wide))
    if "mcs" in scores:
        say(score_tables.mcs_table(scores["mcs"], wide=state.wide))
    say(f"backtest {done.id} saved to {done.path}")
    from stockrnn.evaluation.verdicts import edge_verdict

    say(edge_verdict(scores["pooled"]))


@app.command()
@handles_errors
def report(
    name: str = typer.Argument("latest", help="Run, backtest or comparison id; `latest`: the newest run."),
    latest_backtest: bool = typer.Option(False, "--backtest", help="With `latest`: the newest backtest."),
    latest_compare: bool = typer.Option(False, "--compare", help="With `latest`: the newest comparison."),
    archive: bool = typer.Option(
        False, "--track", help="The forecasts archive instead: coverage through time (see `stockrnn track`)."
    ),
    forecasts_dir: Path | None = typer.Option(
        None, "--forecasts", parser=a_path, help="With --track: the forecasts folder [default: as predict]."
    ),
    store_dir: Path | None = StoreOption,
    out: Path | None = typer.Option(
        None, "--out", parser=a_path, help="HTML file to write [default: <runs>/reports/<id>.html]."
    ),
    png_dir: Path | None = typer.Option(
        None, "--png", parser=a_path, help="Also write each chart as a PNG into this folder."
    ),
    runs_dir: Path | None = RunsOption,
) -> None:
    """Write a self-contained HTML report (charts embedded) of a run, a backtest or a comparison."""
    from stockrnn import api, paths

    kind = "comparison" if latest_compare else "backtest" if latest_backtest else None
    if name != api.LATEST or kind is None:
        kind = None  # a named id says what it is
    kind = "track" if archive else kind
    written = api.report(
        name,
        paths.runs_dir(runs_dir),
        kind=kind,
        out=out,
        png_dir=png_dir,
        forecasts=paths.forecasts_dir(forecasts_dir),
        prices=paths.store_dir(store_dir),
    )
    log.info("report of %s %s written to %s", written.kind, written.name, written.path)
    charts = f"{written.charts} chart" + ("s" if written.charts != 1 else "")
    say(f"report of {written.kind} {written.name}: {charts}, written to {written.path}")
    if png_dir is not None:
        say(f"charts as PNG files in {png_dir}")
