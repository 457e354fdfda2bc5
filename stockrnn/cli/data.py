"""Commands over the price store: fetch and store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from stockrnn.cli import render
from stockrnn.cli.app import (
    DateFormats,
    LockTimeoutOption,
    StoreOption,
    app,
    handles_errors,
    log,
    say,
    state,
    stderr,
)
from stockrnn.errors import ConfigError, MissingInputError, TemporaryError, UsageError


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
    replace: bool = typer.Option(
        False,
        "--replace",
        help="With --from-csv: the file's rows win where they differ from the stored ones.",
    ),
    sample: bool = typer.Option(False, "--sample", help="Load the bundled sample prices (no network)."),
    store_dir: Path | None = StoreOption,
    lock_timeout: float = LockTimeoutOption,
) -> None:
    """Download daily prices with yfinance into the local Parquet store, incrementally."""
    from stockrnn import api, paths

    if interval != "1d":
        raise ConfigError(f"--interval {interval!r} is not supported; the store holds daily sessions (1d)")
    modes = sum([bool(tickers), from_csv is not None, sample])
    if modes > 1:
        raise UsageError("give tickers, --from-csv or --sample, one at a time")
    if (from_csv is None) != (ticker is None):
        raise UsageError("--from-csv FILE and --ticker NAME go together")
    if replace and from_csv is None:
        raise UsageError("--replace goes with --from-csv FILE")
    if start and end and start >= end:
        raise UsageError(f"--start {start.date()} is not before --end {end.date()}")
    if start and start.date() > datetime.now().date():
        raise UsageError(f"--start {start.date()} is in the future; no sessions to fetch yet")
    store = api.Store(paths.store_dir(store_dir))
    if from_csv is not None:
        outcomes = [api.import_prices(from_csv, ticker, store, replace=replace, lock_timeout=lock_timeout)]
    elif sample:
        outcomes = api.load_sample(store, lock_timeout=lock_timeout)
    else:
        outcomes = api.fetch(
            tickers,
            store,
            start=start.date() if start else None,
            end=end.date() if end else None,
            exchange=exchange,
            lock_timeout=lock_timeout,
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
    causes = {o.unreachable for o in outcomes}
    if failed and len(causes) == 1 and "" not in causes:  # offline: one cause, said once
        raise TemporaryError(
            f"Yahoo unreachable: {causes.pop()}; nothing fetched ({len(outcomes)} ticker(s)); "
            "the next run catches up"
        )
    if failed:
        if not state.quiet:  # cron mail under --quiet is the one Error line naming the failed tickers
            stderr.print(render.fetch_table(outcomes))
        names = ", ".join(f"{o.ticker} ({o.status})" for o in failed)
        others = "; the others were" if len(failed) < len(outcomes) else ""
        raise TemporaryError(f"{len(failed)} of {len(outcomes)} tickers not stored: {names}{others}")
    say(render.fetch_table(outcomes))
    say(f"store: {store.root}")


@app.command("store")
@handles_errors
def store_list(store_dir: Path | None = StoreOption) -> None:
    """List the price store: ticker, rows, first and last session, source, last fetched."""
    from stockrnn import paths
    from stockrnn.data.store import PriceStore

    store = PriceStore(paths.store_dir(store_dir))
    store.require_exists()
    summaries = store.summary()
    if not summaries:
        raise MissingInputError(f"the store {store.root} is empty; run `stockrnn fetch` first")
    table = render.store_table(store.root, summaries)
    say(table)
