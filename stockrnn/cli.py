"""The `stockrnn` command line: parse, call the library, render with rich, map errors to exit codes.

No numerics here. Heavy libraries (pandas, torch) are imported inside the commands so that
`stockrnn --help` stays fast.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from datetime import datetime
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from stockrnn import __version__, render
from stockrnn.config import ModelConfig, TrainingConfig, choices
from stockrnn.errors import EXIT_CODES, ConfigError, MissingInputError, StockrnnError, TemporaryError

app = typer.Typer(
    name="stockrnn",
    help="Train GRU/LSTM forecasters on daily stock prices and write next-session forecasts.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    epilog="Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
)
# Off a terminal rich would wrap tables at 80 columns; logs and pipes read better wider.
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("stockrnn")


class _State:
    debug = False
    quiet = False


state = _State()

StoreOption = typer.Option(
    None, "--store", help="Price store folder [default: $STOCKRNN_STORE, else ~/.local/share/stockrnn/store]."
)
LockTimeoutOption = typer.Option(
    30.0, "--lock-timeout", min=0, help="Seconds to wait for another stockrnn writing the same folder."
)
DateFormats = ["%Y-%m-%d"]


def _configure_logging(debug: bool, log_file: Path | None) -> None:
    log.handlers.clear()
    log.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if debug else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(console)
    if log_file is not None:
        try:
            file_handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            _fail(73, f"cannot open log file {log_file}: {exc.strerror}")
        file_handler.setLevel(logging.DEBUG if debug else logging.INFO)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(file_handler)
    log.propagate = False


def _fail(code: int, message: str) -> None:
    log.info("exit %d: %s", code, message)  # reaches --log-file; the console gets the line below
    print(f"Error: {' '.join(message.split())}", file=sys.stderr)
    raise typer.Exit(code)


def handles_errors(command):
    """Turn project errors into one stderr line and their exit code; no traceback unless --debug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except StockrnnError as exc:
            if state.debug:
                raise
            _fail(exc.exit_code, str(exc))
        except KeyboardInterrupt:
            _fail(130, "interrupted")
        except Exception as exc:  # noqa: BLE001 - the last line of defence, by design
            log.debug("internal error", exc_info=True)
            if state.debug:
                raise
            _fail(1, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")

    return wrapper


def say(renderable) -> None:
    """Print a human-facing result unless --quiet."""
    if not state.quiet:
        stdout.print(renderable)


def _version(value: bool) -> None:
    if value:
        print(f"stockrnn {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Log everything and show tracebacks."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success (for cron)."),
    log_file: Path | None = typer.Option(None, "--log-file", help="Append plain log lines to this file."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    state.debug = debug
    state.quiet = quiet
    _configure_logging(debug, log_file)


@app.command()
@handles_errors
def fetch(
    tickers: list[str] | None = typer.Argument(
        None, help="Symbols to fetch (e.g. AAPL MSFT ^GSPC). None: update every stored ticker."
    ),
    start: datetime | None = typer.Option(None, formats=DateFormats, help="First session to fetch."),
    end: datetime | None = typer.Option(None, formats=DateFormats, help="Fetch sessions before this date."),
    interval: str = typer.Option("1d", help="Bar interval; the store holds daily sessions, so only 1d."),
    exchange: str = typer.Option("XNYS", help="Exchange calendar that says which sessions have closed."),
    from_csv: Path | None = typer.Option(None, "--from-csv", help="Import this Yahoo-layout CSV instead."),
    ticker: str | None = typer.Option(None, "--ticker", help="The ticker a --from-csv file holds."),
    sample: bool = typer.Option(False, "--sample", help="Load the bundled sample prices (no network)."),
    store_dir: Path | None = StoreOption,
    lock_timeout: float = LockTimeoutOption,
) -> None:
    """Download daily prices with yfinance into the local Parquet store, incrementally."""
    from stockrnn import fetching, paths
    from stockrnn.store import PriceStore, normalize_ticker

    if interval != "1d":
        raise ConfigError(f"--interval {interval!r} is not supported; the store holds daily sessions (1d)")
    modes = sum([bool(tickers), from_csv is not None, sample])
    if modes > 1:
        raise ConfigError("give tickers, --from-csv or --sample, one at a time")
    if (from_csv is None) != (ticker is None):
        raise ConfigError("--from-csv FILE and --ticker NAME go together")
    store = PriceStore(paths.store_dir(store_dir))
    with store.lock(lock_timeout):
        if from_csv is not None:
            outcomes = [
                fetching.import_csv(store, from_csv, normalize_ticker(ticker), f"csv:{from_csv.name}")
            ]
        elif sample:
            outcomes = [
                fetching.import_csv(store, csv_file, normalize_ticker(csv_file.stem), "sample")
                for csv_file in sorted(paths.sample_dir().glob("*.csv"))
            ]
        else:
            from stockrnn.sources.yahoo import YahooSource

            names = [normalize_ticker(t) for t in tickers] if tickers else store.tickers()
            if not names:
                raise MissingInputError(f"the store {store.root} is empty; name the tickers to fetch")
            source = YahooSource(cache_dir=store.cache_dir)
            outcomes = fetching.fetch_tickers(
                store,
                source,
                list(dict.fromkeys(names)),
                start.date() if start else None,
                end.date() if end else None,
                exchange,
            )
    for o in outcomes:
        log.info(
            "fetch %s: %s, %d rows added%s",
            o.ticker,
            o.status,
            o.rows_added,
            f" ({o.message})" if o.message else "",
        )
    failed = [o for o in outcomes if not o.ok]
    if failed:
        stderr.print(render.fetch_table(outcomes))
        names = ", ".join(f"{o.ticker} ({o.status})" for o in failed)
        others = "; the others were" if len(failed) < len(outcomes) else ""
        raise TemporaryError(f"{len(failed)} of {len(outcomes)} tickers not stored: {names}{others}")
    say(render.fetch_table(outcomes))


@app.command("store")
@handles_errors
def store_list(store_dir: Path | None = StoreOption) -> None:
    """List the price store: ticker, rows, first and last session, source, last fetched."""
    from stockrnn import paths
    from stockrnn.store import PriceStore

    store = PriceStore(paths.store_dir(store_dir))
    summaries = store.summary()
    if not summaries:
        raise MissingInputError(f"the store {store.root} is empty; run `stockrnn fetch` first")
    table = render.store_table(store.root, summaries)
    say(table)


def _enum(name: str, section, key: str) -> type[Enum]:
    return Enum(name, {value: value for value in choices(section, key)}, type=str)


Cell = _enum("Cell", ModelConfig, "cell")
Device = _enum("Device", TrainingConfig, "device")
Precision = _enum("Precision", TrainingConfig, "precision")


RunsOption = typer.Option(
    None, "--runs", help="Runs folder [default: $STOCKRNN_RUNS, else ~/.local/share/stockrnn/runs]."
)
RunOption = typer.Option("latest", "--run", help="Run id, or `latest`.")
JsonOption = typer.Option(False, "--json", help="Print a machine-readable summary on stdout instead.")


def _print_json(data) -> None:
    import json

    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _epoch_reporter(json_output: bool):
    """A rich progress bar on a terminal; plain lines otherwise; nothing with --quiet or --json."""
    if state.quiet or json_output:
        return None, None, None
    if not stdout.is_terminal:

        def on_epoch(report, total):
            stderr.print(
                f"epoch {report.epoch}/{total} train_loss={report.train_loss:.5f} "
                f"val_loss={report.val_loss:.5f} ({report.seconds:.1f}s)"
            )
            log.info(
                "epoch %d train_loss=%.5f val_loss=%.5f", report.epoch, report.train_loss, report.val_loss
            )

        return None, on_epoch, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stdout,
    )
    epochs = progress.add_task("epoch", total=None)
    batches = progress.add_task("batches", total=None)

    def on_batch(number, total):
        progress.update(batches, completed=number, total=total)

    def on_epoch(report, total):
        progress.update(
            epochs,
            completed=report.epoch,
            total=total,
            description=f"epoch  train {report.train_loss:.4f}  val {report.val_loss:.4f}",
        )

    return progress, on_epoch, on_batch


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
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    json_output: bool = JsonOption,
) -> None:
    """Train a GRU/LSTM forecasting H sessions as quantiles; score it against naive, drift, EWMA, GARCH and ridge."""
    from stockrnn import paths, pipeline
    from stockrnn.config import load_config
    from stockrnn.store import PriceStore

    shortcuts = list(overrides)
    if tickers:
        shortcuts.append("data.tickers=[" + ", ".join(f'"{t}"' for t in tickers) + "]")
    for key, value in (
        ("model.cell", model),
        ("features.horizon", horizon),
        ("training.epochs", epochs),
        ("training.device", device),
        ("training.precision", precision),
        ("training.seed", seed),
    ):
        if value is not None:
            shortcuts.append(f'{key}="{value.value}"' if isinstance(value, Enum) else f"{key}={value}")
    if compile_steps:
        shortcuts.append("training.compile=true")
    if quantiles is not None:
        levels = quantiles.strip()
        shortcuts.append(
            'model.quantiles="point"' if levels in ("point", "") else f"model.quantiles=[{levels}]"
        )
    config = load_config(config_file, shortcuts)
    store = PriceStore(paths.store_dir(store_dir))
    if os.environ.get("RANK", "0") != "0":
        state.quiet = True  # under torchrun only rank 0 speaks
    progress, on_epoch, on_batch = _epoch_reporter(json_output)
    if progress is not None:
        with progress:
            outcome = pipeline.train(config, store, paths.runs_dir(runs_dir), on_epoch, on_batch)
    else:
        outcome = pipeline.train(config, store, paths.runs_dir(runs_dir), on_epoch, on_batch)
    if outcome is None:
        return  # a torchrun rank other than 0: rank 0 wrote the run
    log.info("trained run %s", outcome.run_id)
    if json_output:
        _print_json(
            {
                "run_id": outcome.run_id,
                "path": str(outcome.path),
                "device": outcome.device,
                "best_epoch": outcome.best_epoch,
                "epochs_run": outcome.epochs_run,
                "seconds_per_epoch": outcome.seconds_per_epoch,
                "metrics": outcome.metrics,
            }
        )
        return
    say(render.metrics_table(outcome.metrics, f"test split, run {outcome.run_id}"))
    say(
        f"run {outcome.run_id} saved to {outcome.path} (best epoch {outcome.best_epoch} of "
        f"{outcome.epochs_run}, {outcome.seconds_per_epoch:.2f}s/epoch on {outcome.device})"
    )


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
    from stockrnn.runs import load_run
    from stockrnn.scoring import evaluate_since_training
    from stockrnn.store import PriceStore

    run = load_run(paths.runs_dir(runs_dir), run_name)
    if since_training:
        metrics = evaluate_since_training(run, PriceStore(paths.store_dir(store_dir)))
        title = f"sessions after {run.manifest.split.test_end.date()}, run {run.run_id}"
    else:
        metrics = run.metrics
        title = f"test split, run {run.run_id}"
    if json_output:
        _print_json({"run_id": run.run_id, "since_training": since_training, "metrics": metrics})
        return
    say(render.metrics_table(metrics, title))


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
    from stockrnn.forecast import write_forecasts
    from stockrnn.predicting import forecast_frame
    from stockrnn.runs import load_run
    from stockrnn.store import PriceStore

    run = load_run(paths.runs_dir(runs_dir), run_name)
    store = PriceStore(paths.store_dir(store_dir))
    frame = forecast_frame(run, store, tickers or None, pd.Timestamp.now(tz="UTC"), allow_stale)
    written = write_forecasts(frame, paths.forecasts_dir(out), lock_timeout)
    log.info("wrote %d forecasts to %s", len(frame), ", ".join(map(str, written)))
    if json_output:
        rows = frame.assign(asof=frame["asof"].dt.date, target_date=frame["target_date"].dt.date)
        _print_json(
            {"run_id": run.run_id, "files": [str(p) for p in written], "forecasts": rows.to_dict("records")}
        )
        return
    table = render.forecasts_table(frame, run.run_id)
    say(table)
    say("written to " + ", ".join(str(p) for p in written))


@app.command()
@handles_errors
def runs(runs_dir: Path | None = RunsOption) -> None:
    """List trained runs with their headline test metrics."""
    from stockrnn import paths
    from stockrnn.runs import LATEST, list_runs, resolve_run_id

    root = paths.runs_dir(runs_dir)
    found = list_runs(root)
    if not found:
        raise MissingInputError(f"no runs in {root}; train one with `stockrnn train`")
    latest = resolve_run_id(root, LATEST)
    table = render.runs_table(root, found, latest)
    say(table)


def main() -> None:
    app()
