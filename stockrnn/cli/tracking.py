"""`stockrnn track`: score the forecasts `predict` wrote, now that their outcomes are stored."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from stockrnn.cli import score_tables
from stockrnn.cli.app import (
    JsonOption,
    RunsOption,
    StoreOption,
    a_path,
    app,
    handles_errors,
    log,
    print_json,
    say,
    state,
)


@app.command()
@handles_errors
def track(
    out: Path | None = typer.Option(
        None,
        "--out",
        parser=a_path,
        help="Forecasts folder to score [default: $STOCKRNN_FORECASTS, else ~/.local/share/stockrnn/forecasts].",
    ),
    since: datetime | None = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="Only forecasts made from this session on (origin_date)."
    ),
    run_names: list[str] = typer.Option(
        [], "--run", help="Only this run's forecasts (repeatable; an id, `production` or `latest`)."
    ),
    tickers: list[str] = typer.Option([], "--ticker", help="Only these tickers (repeatable)."),
    scores_file: Path | None = typer.Option(
        None,
        "--scores",
        parser=a_path,
        help="Per-forecast scores, Parquet [default: <runs>/track/scores.parquet].",
    ),
    alert: float | None = typer.Option(
        None,
        "--alert",
        min=0.0,
        max=1.0,
        help="Exit 79 with one line when a coverage test rejects at this level (e.g. 0.01).",
    ),
    store_dir: Path | None = StoreOption,
    runs_dir: Path | None = RunsOption,
    json_output: bool = JsonOption,
) -> None:
    """Score every archived forecast whose target session is stored: coverage (Kupiec, Christoffersen), pinball, CRPS and MAE against naive."""
    from stockrnn import api, paths
    from stockrnn.errors import IntervalAlert
    from stockrnn.io.atomic import write_atomic
    from stockrnn.outputs.track import failed_tests
    from stockrnn.runs.folder import resolve_run_id

    runs_root = paths.runs_dir(runs_dir)
    aliases = ("production", "latest")
    ids = [resolve_run_id(runs_root, name) if name in aliases else name for name in run_names]
    tracked = api.track(
        paths.forecasts_dir(out),
        paths.store_dir(store_dir),
        since=since,
        runs=ids or None,
        tickers=tickers or None,
    )
    target = scores_file if scores_file is not None else runs_root / "track" / "scores.parquet"
    write_atomic(target, lambda tmp: tracked.scores.to_parquet(tmp, index=False), root=target.parent)
    log.info(
        "track: %d forecasts scored, per-forecast scores in %s",
        int(tracked.scores["resolved"].sum()) if len(tracked.scores) else 0,
        target,
    )
    if json_output:
        print_json({"scores": str(target), "summary": tracked.summary.to_dict("records")})
    elif tracked.summary.empty:
        say(f"no forecasts to score under {paths.forecasts_dir(out)}; `stockrnn predict` writes them")
    else:
        for table in score_tables.track_tables(tracked.summary, wide=state.wide):
            say(table)
        say(f"per-forecast scores in {target}")
    if alert is not None:
        failures = failed_tests(tracked.summary, alert)
        if failures:
            worst = failures[0]
            side = "below" if worst["coverage"] < worst["interval"] / 100 else "above"
            more = f"; {len(failures) - 1} more test(s) rejected" if len(failures) > 1 else ""
            raise IntervalAlert(
                f"run {worst['run_id']}, {worst['ticker']} h{worst['horizon']}: the {worst['interval']}% interval "
                f"covered {worst['coverage']:.1%} of {worst['forecasts']:,} outcomes, {side} nominal: "
                f"{worst['test']} p {worst['p']:.3g} (alert level {alert:g}){more}"
            )
