"""The app every command hangs on: logging, errors -> exit codes, output, shared options, config shortcuts.

No numerics here. Heavy libraries (pandas, torch) are imported inside the commands so that
`stockrnn --help` stays fast.
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
import traceback
import warnings
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from stockrnn import __version__
from stockrnn.config.schema import CalibrationConfig, ModelConfig, TrainingConfig, choices
from stockrnn.errors import EXIT_CODES, WRITE_ERRNOS, Interrupted, StockrnnError, write_failure

app = typer.Typer(
    name="stockrnn",
    help="Train GRU/LSTM forecasters on daily stock prices and write next-session forecasts.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
)
# Off a terminal rich would wrap tables at 80 columns; logs and pipes read better wider. No markup:
# paths, ids and names are the user's text, and `[/x]` in one must print as written.
stdout = Console(highlight=False, soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
log = logging.getLogger("stockrnn")


class _State:
    debug = False
    quiet = False
    wide = False


state = _State()


def a_path(value: str) -> Path:
    """Parse a path option; an empty one would silently mean the current folder, so it is a usage error."""
    if not str(value).strip():
        raise typer.BadParameter("an empty path would mean the current folder; name a folder or file")
    return Path(value).expanduser()


StoreOption = typer.Option(
    None,
    "--store",
    parser=a_path,
    metavar="FOLDER",
    help="Price store folder [default: $STOCKRNN_STORE, else ~/.local/share/stockrnn/store].",
)
LockTimeoutOption = typer.Option(
    30.0, "--lock-timeout", min=0, help="Seconds to wait for another stockrnn writing the same folder."
)
DateFormats = ["%Y-%m-%d"]


class _LogFile(logging.FileHandler):
    """A log file that cannot be written (full disk) costs one warning line, not a traceback per record."""

    def handleError(self, record) -> None:  # noqa: N802 - logging's name
        if not self.disabled_by_error:
            self.disabled_by_error = True
            error = sys.exc_info()[1]
            print(
                f"Warning: cannot write log file {self.baseFilename}: {error}; logging to it stopped",
                file=sys.stderr,
            )

    disabled_by_error = False

    def emit(self, record) -> None:
        if not self.disabled_by_error:
            super().emit(record)


def _configure_logging(debug: bool, log_file: Path | None, quiet: bool = False) -> None:
    log.handlers.clear()
    log.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    # --quiet (cron): warnings reach only the log file; errors still reach stderr as one line.
    console.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(console)
    if log_file is not None:
        try:
            file_handler = _LogFile(log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            _fail(73, f"cannot open log file {log_file}: {exc.strerror}")
        file_handler.setLevel(logging.DEBUG if debug else logging.INFO)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(file_handler)
    log.propagate = False
    # A library's warning (matplotlib's, say) is one line through the log like ours: on stderr as a
    # warning, and under --quiet only in the log file, never Python's two-line form on cron's mail.
    warnings.showwarning = _log_warning


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    log.warning("%s: %s", category.__name__, " ".join(str(message).split()))


def _fail(code: int, message: str) -> None:
    log.info("exit %d: %s", code, message)  # reaches --log-file; the console gets the line below
    print(f"Error: {' '.join(message.split())}", file=sys.stderr)
    raise typer.Exit(code)


def _debug_traceback() -> None:
    """--debug shows where an error came from; it never changes the exit code."""
    if state.debug:
        traceback.print_exc()


def raise_internal(exc: BaseException) -> None:
    log.debug("internal error", exc_info=True)
    _debug_traceback()
    _fail(1, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")


def handles_errors(command):
    """Turn project errors into one stderr line and their exit code; no traceback unless --debug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except StockrnnError as exc:
            _debug_traceback()
            _fail(exc.exit_code, str(exc))
        except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM through entry.py's handler
            signum = getattr(exc, "signum", signal.SIGINT)
            what = Interrupted.describe(signum)
            detail = getattr(exc, "detail", "")
            Interrupted.reported = True
            _fail(128 + signum, f"{what}; {detail}" if detail else what)
        except OSError as exc:
            if exc.errno not in WRITE_ERRNOS:
                raise_internal(exc)
            _debug_traceback()
            failure = write_failure(exc)
            _fail(failure.exit_code, str(failure))
        except Exception as exc:  # noqa: BLE001 - the last line of defence, by design
            raise_internal(exc)

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
    log_file: Path | None = typer.Option(
        None, "--log-file", parser=a_path, metavar="FILE", help="Append plain log lines to this file."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    wide: bool = typer.Option(
        False, "--wide", help="Tables with every column (the default view fits 80 terminal columns)."
    ),
) -> None:
    state.debug = debug
    state.quiet = quiet
    state.wide = wide
    _configure_logging(debug, log_file, quiet)


def _enum(name: str, section, key: str) -> type[Enum]:
    return Enum(name, {value: value for value in choices(section, key)}, type=str)


Cell = _enum("Cell", ModelConfig, "cell")
Architecture = _enum("Architecture", ModelConfig, "architecture")
ArchitectureOption = typer.Option(
    None, "--architecture", help="recurrent, seq2seq, attention or transformer; sets model.architecture."
)
Device = _enum("Device", TrainingConfig, "device")
Precision = _enum("Precision", TrainingConfig, "precision")
CalibrationMethod = _enum("CalibrationMethod", CalibrationConfig, "method")


RunsOption = typer.Option(
    None,
    "--runs",
    parser=a_path,
    metavar="FOLDER",
    help="Runs folder [default: $STOCKRNN_RUNS, else ~/.local/share/stockrnn/runs].",
)
RunOption = typer.Option("latest", "--run", help="Run id, or `latest`.")
JsonOption = typer.Option(False, "--json", help="Print a machine-readable summary on stdout instead.")
RayOption = typer.Option(
    None,
    "--ray",
    help="Run the fits as Ray tasks: `local` (a private instance), `auto` (the cluster `ray start` "
    "joined here) or a cluster's address; needs stockrnn[ray].",
)
JobsOption = typer.Option(
    1,
    "--jobs",
    min=1,
    max=256,
    help="Independent fits in this many processes, the cores split between them (same results).",
)


def print_json(data) -> None:
    import json

    from stockrnn.io.json_files import strict_json

    print(json.dumps(strict_json(data), indent=2, sort_keys=True, default=str, allow_nan=False))


def progress_bar():
    """The one look of stockrnn's progress bars: description, bar, n/total, elapsed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stdout,
    )


def showing(progress):
    """`with showing(progress):` draws the bar if there is one (a terminal), else does nothing."""
    import contextlib

    return progress if progress is not None else contextlib.nullcontext()


def epoch_reporter(json_output: bool):
    """A rich progress bar on a terminal; plain lines on stderr otherwise (also with --json, whose
    stdout is for the summary); nothing with --quiet."""
    if state.quiet:
        return None, None, None
    if json_output or not stdout.is_terminal:

        def on_epoch(report, total):
            stderr.print(
                f"epoch {report.epoch}/{total} train_loss={report.train_loss:.5f} "
                f"val_loss={report.val_loss:.5f} ({report.seconds:.1f}s)"
            )
            log.info(
                "epoch %d train_loss=%.5f val_loss=%.5f", report.epoch, report.train_loss, report.val_loss
            )

        return None, on_epoch, None
    progress = progress_bar()
    epochs = progress.add_task("epoch", total=None)
    batches = progress.add_task("batches", total=None)

    def on_batch(number, total):
        if number == 1:  # a new epoch: its own count and clock (a finished task's clock stops)
            progress.reset(batches, total=total)
        progress.update(batches, completed=number, total=total)

    def on_epoch(report, total):
        progress.update(
            epochs,
            completed=report.epoch,
            total=total,
            description=f"epoch  train {report.train_loss:.4f}  val {report.val_loss:.4f}",
        )

    return progress, on_epoch, on_batch


def restart_bars(progress) -> None:
    """A new fit (the next compare candidate): every bar starts again from zero, clock included."""
    if progress is not None:
        for task in progress.tasks:
            progress.reset(task.id, description=task.description.split()[0])


def step_reporter(progress):
    """One line per step of a long command (reading prices, training, scoring, saving), so that a
    person or a log never waits on silence: above the bar on a terminal, on stderr otherwise."""
    if state.quiet:
        return lambda message: log.info("%s", message)

    def on_step(message: str) -> None:
        log.info("%s", message)
        (progress.console if progress is not None else stderr).print(message)

    return on_step


def config_from_options(
    config_file: Path | None,
    overrides: list[str],
    tickers: list[str],
    quantiles: str | None,
    compile_steps: bool,
    shortcuts: dict,
):
    """The config file (or the packaged defaults) with --set overrides, then the shortcut options."""
    from stockrnn.config.loading import load_config

    settings = []
    if tickers:
        settings.append("data.tickers=[" + ", ".join(f'"{t}"' for t in tickers) + "]")
    for key, value in shortcuts.items():
        if value is not None:
            settings.append(f'{key}="{value.value}"' if isinstance(value, Enum) else f"{key}={value}")
    if compile_steps:
        settings.append("training.compile=true")
    if quantiles is not None:
        levels = quantiles.strip()
        settings.append(
            'model.quantiles="point"' if levels in ("point", "") else f"model.quantiles=[{levels}]"
        )
    return load_config(config_file, overrides, settings)
