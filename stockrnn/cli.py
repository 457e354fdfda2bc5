"""The `stockrnn` command line: parse, call the library, render with rich, map errors to exit codes.

No numerics here. Heavy libraries (pandas, torch) are imported inside the commands so that
`stockrnn --help` stays fast.
"""

from __future__ import annotations

import functools
import logging
import sys
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from stockrnn import __version__
from stockrnn.errors import EXIT_CODES, ConfigError, MissingInputError, StockrnnError, TemporaryError

app = typer.Typer(
    name="stockrnn",
    help="Train GRU/LSTM forecasters on daily stock prices and write next-session forecasts.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    epilog="Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
)
stdout = Console(highlight=False, soft_wrap=True)
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


def _fetch_table(outcomes) -> Table:
    table = Table(title="fetch")
    for name in ("ticker", "status", "rows added", "first", "last", "note"):
        table.add_column(name, justify="right" if name == "rows added" else "left")
    for o in outcomes:
        style = "" if o.ok else "red"
        table.add_row(
            o.ticker,
            f"[{style}]{o.status}[/]" if style else o.status,
            str(o.rows_added),
            o.first.date().isoformat() if o.first is not None else "",
            o.last.date().isoformat() if o.last is not None else "",
            o.message,
        )
    return table


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
        log.info("fetch %s: %s, %d rows added %s", o.ticker, o.status, o.rows_added, o.message)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        stderr.print(_fetch_table(outcomes))
        names = ", ".join(f"{o.ticker} ({o.status})" for o in failed)
        raise TemporaryError(f"{len(failed)} of {len(outcomes)} tickers not stored: {names}; the others were")
    say(_fetch_table(outcomes))


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
    table = Table(title=f"store {store.root}")
    for name in ("ticker", "rows", "first", "last", "source", "last fetched"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for s in summaries:
        table.add_row(
            s.ticker,
            str(s.rows),
            s.first.date().isoformat(),
            s.last.date().isoformat(),
            s.source,
            s.fetched_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    say(table)


def main() -> None:
    app()
