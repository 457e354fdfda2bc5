"""Commands that weigh the evidence: backtest (walk-forward) and report (charts a person looks at)."""

from __future__ import annotations

from pathlib import Path

import typer

from stockrnn.cli import render
from stockrnn.cli.app import (
    Architecture,
    ArchitectureOption,
    Cell,
    JsonOption,
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
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    json_output: bool = JsonOption,
) -> None:
    """Walk forward: re-fit on the past at each fold, forecast its next --step sessions, score them all."""
    from stockrnn import paths
    from stockrnn.data.store import PriceStore
    from stockrnn.errors import ConfigError
    from stockrnn.studies.backtest import backtest as run_backtest
    from stockrnn.studies.walkforward import BacktestPlan

    if refit != "every" and not refit.isdigit():
        raise ConfigError(f"--refit {refit!r}: use `every` or a number of folds")
    plan = BacktestPlan(
        folds=folds,
        step=step,
        val_sessions=val_sessions,
        window=window,
        refit=1 if refit == "every" else int(refit),
        warm_start=warm_start,
        mcs=mcs,
    )
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
    store = PriceStore(paths.store_dir(store_dir))
    progress, on_fold, on_epoch = _fold_reporter(json_output)
    runs_root = paths.runs_dir(runs_dir)
    with showing(progress):
        outcome = run_backtest(config, store, runs_root, plan, on_fold, on_epoch)
    log.info("backtest %s saved", outcome.backtest_id)
    if json_output:
        print_json(
            {
                "backtest_id": outcome.backtest_id,
                "path": str(outcome.path),
                "device": outcome.device,
                "folds": [{k: v for k, v in vars(f).items() if k != "history"} for f in outcome.folds],
                "metrics": outcome.metrics["pooled"],
                "mcs": outcome.metrics.get("mcs"),
            }
        )
        return
    say(
        render.metrics_table(
            outcome.metrics["pooled"], f"all {len(outcome.folds)} folds, backtest {outcome.backtest_id}"
        )
    )
    say(render.folds_table(outcome.folds, outcome.metrics["folds"]))
    if "mcs" in outcome.metrics:
        say(render.mcs_table(outcome.metrics["mcs"]))
    say(f"backtest {outcome.backtest_id} saved to {outcome.path}")
    from stockrnn.evaluation.verdicts import edge_verdict

    say(edge_verdict(outcome.metrics["pooled"]))


@app.command()
@handles_errors
def report(
    name: str = typer.Argument("latest", help="Run, backtest or comparison id; `latest`: the newest run."),
    latest_backtest: bool = typer.Option(False, "--backtest", help="With `latest`: the newest backtest."),
    latest_compare: bool = typer.Option(False, "--compare", help="With `latest`: the newest comparison."),
    out: Path | None = typer.Option(
        None, "--out", parser=a_path, help="HTML file to write [default: <runs>/reports/<id>.html]."
    ),
    png_dir: Path | None = typer.Option(
        None, "--png", parser=a_path, help="Also write each chart as a PNG into this folder."
    ),
    runs_dir: Path | None = RunsOption,
) -> None:
    """Write a self-contained HTML report (charts embedded) of a run, a backtest or a comparison."""
    from stockrnn import paths
    from stockrnn.outputs.report import from_backtest, from_run, write_report
    from stockrnn.runs.folder import LATEST, load_run
    from stockrnn.studies.backtest import backtests_dir, load_backtest
    from stockrnn.studies.compare import compares_dir, load_compare

    root = paths.runs_dir(runs_dir)
    if (name == LATEST and latest_compare) or (name != LATEST and (compares_dir(root) / name).is_dir()):
        from stockrnn.outputs.compare_report import write_compare_report

        comparison = load_compare(root, name)
        target = out if out is not None else root / "reports" / f"{comparison.compare_id}.html"
        charts = write_compare_report(comparison, target, png_dir)
        log.info("report of comparison %s written to %s", comparison.compare_id, target)
        say(f"report of comparison {comparison.compare_id}: {len(charts)} chart, written to {target}")
        return
    if (name == LATEST and latest_backtest) or (name != LATEST and (backtests_dir(root) / name).is_dir()):
        source = from_backtest(load_backtest(root, name))
    else:
        source = from_run(load_run(root, name))
    target = out if out is not None else root / "reports" / f"{source.name}.html"
    charts = write_report(source, target, png_dir)
    log.info("report of %s %s written to %s", source.kind, source.name, target)
    say(f"report of {source.kind} {source.name}: {len(charts)} charts, written to {target}")
    if png_dir is not None:
        say(f"charts as PNG files in {png_dir}")
