"""Rich tables for the command line: what each command shows a person. No numerics here."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text


def fetch_table(outcomes) -> Table:
    columns = [
        (name, "r" if name == "rows added" else "l", True)
        for name in ("ticker", "status", "rows added", "first", "last", "note")
    ]
    rows = [
        [
            o.ticker,
            o.status if o.ok else Text(o.status, style="red"),
            str(o.rows_added),
            o.first.date().isoformat() if o.first is not None else "",
            o.last.date().isoformat() if o.last is not None else "",
            o.message,
        ]
        for o in outcomes
    ]
    return _build("fetch", columns, rows, True)


def store_table(root: Path, summaries) -> Table:
    columns = [
        (name, "r" if name == "rows" else "l", True)
        for name in ("ticker", "rows", "first", "last", "source", "last fetched")
    ]
    rows = [
        [
            s.ticker,
            str(s.rows),
            s.first.date().isoformat(),
            s.last.date().isoformat(),
            s.source,
            instant(s.fetched_at),
        ]
        for s in summaries
    ]
    return _build(f"store {root}", columns, rows, True)


def instant(value) -> str:
    """Every time stockrnn shows, one way: ISO 8601 in UTC with a T, to the second."""
    import pandas as pd  # not at import: `stockrnn --help` must stay fast

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _build(title: str, columns: list[tuple[str, str, bool]], rows: list, wide: bool, **options) -> Table:
    """A table of `columns` (name, "l" or "r", shown by default) and `rows` (a list of cells per
    column, or None for a section break). The default view keeps the columns marked for it, so the
    table fits 80 terminal columns; `wide` keeps every one. Cells fold, never end in an ellipsis."""
    keep = [i for i, (_, _, default) in enumerate(columns) if wide or default]
    table = Table(title=Text(title), **options)  # as Text: user text (paths, ids, names) is never markup
    for i in keep:
        name, justify, _ = columns[i]
        table.add_column(name, justify="left" if justify == "l" else "right", overflow="fold")
    for row in rows:
        if row is None:
            table.add_section()
        else:
            table.add_row(*(Text(row[i]) if isinstance(row[i], str) else row[i] for i in keep))
    return table


def _cell(scores: dict, key: str, digits: int = 4) -> str:
    value = scores.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def _p_value(scores: dict, key: str) -> str:
    value = scores.get(key)
    if value is None or value != value:  # absent (naive itself, old runs) or NaN (too few dates)
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def forecasts_table(frame, run_id: str, wide: bool = False) -> Table:
    # The widest central interval the run has, beside the median.
    lower = next((c for c in frame.columns if c.startswith("close_p")), None)
    upper = next((c for c in reversed(frame.columns) if c.startswith("close_p")), None)
    interval = f"{lower.removeprefix('close_')}..{upper.removeprefix('close_')}" if lower != upper else None
    columns = [
        ("ticker", "l", True),
        ("origin", "l", False),
        ("h", "r", True),
        ("target date", "l", True),
        ("last close", "r", False),
        ("median close", "r", True),
        ("median return", "r", True),
    ]
    if interval:
        columns.append((interval, "r", True))  # the interval of the close
    rows = []
    for row in frame.itertuples():
        cells = [
            row.ticker,
            str(row.origin_date),
            str(row.horizon),
            str(row.target_date),
            f"{row.last_close:.4f}",
            f"{row.predicted_close:.4f}",
            f"{row.predicted_return:+.5f}",
        ]
        if interval:
            cells.append(f"{getattr(row, lower):.2f}..{getattr(row, upper):.2f}")
        rows.append(cells)
    origins = sorted({str(a) for a in frame["origin_date"]})
    title = f"forecasts, run {run_id}, from {', '.join(origins)}"
    return _build(title, columns, rows, wide)


def runs_table(
    root: Path, found, latest: str | None, production: str | None = None, wide: bool = False
) -> Table:
    from stockrnn.config.schema import ModelConfig

    # The id starts with the UTC second it was saved at, so the default view leaves `created` out.
    columns = [
        ("run", "l", True),
        ("created", "l", False),
        ("model", "l", True),
        ("tickers", "l", False),
        ("H", "r", True),
        ("MAE/naive", "r", False),
        ("pinb/naive", "r", True),
        ("cov90", "r", True),
        ("status", "l", True),
    ]
    rows = []
    for run in found:
        headline = run.manifest.headline
        status = [
            word
            for word, applies in (
                ("production", run.run_id == production),
                ("latest", run.run_id == latest),
                ("interrupted", run.manifest.training.get("interrupted", False)),
            )
            if applies
        ]
        rows.append(
            [
                run.run_id,
                instant(run.manifest.created_at),
                ModelConfig.model_validate(run.config["model"]).label,
                ",".join(run.manifest.tickers),
                str(run.manifest.horizon),
                _cell(headline, "mae_vs_naive"),
                _cell(headline, "pinball_vs_naive"),
                _cell(headline, "coverage_90", 3),
                ", ".join(status),
            ]
        )
    table = _build(f"runs in {root}", columns, rows, wide)
    table.columns[0].no_wrap = True  # ids are copied into --run: never wrap or cut them
    table.columns[0].min_width = max(len(r.run_id) for r in found)
    return table


def broken_folders_table(root: Path, broken: list[tuple[str, Path, str, str]]) -> Table:
    """(kind, folder, name, why) of every run, backtest or comparison that does not load: listed,
    never silently skipped."""
    table = Table(title=f"broken folders in {root} (never picked as `latest`)")
    table.add_column(
        "folder", no_wrap=True, min_width=max(len(_relative(root, f, n)) for _, f, n, _ in broken)
    )
    table.add_column("why")
    for kind, folder, name, reason in broken:
        table.add_row(_relative(root, folder, name), reason.removeprefix(f"{kind} {name}: "))
    return table


def _relative(root: Path, folder: Path, name: str) -> str:
    return str((Path(folder) / name).relative_to(root))


def backtests_table(root: Path, found, wide: bool = False) -> Table:
    columns = [
        ("backtest", "l", True),
        ("created", "l", False),
        ("tickers", "l", False),
        ("H", "r", True),
        ("folds", "r", True),
        ("MAE/naive", "r", False),
        ("pinb/naive", "r", True),
        ("cov90", "r", True),
    ]
    rows = []
    for backtest in found:
        manifest = backtest.manifest
        plan = manifest["plan"]
        rows.append(
            [
                backtest.backtest_id,
                instant(manifest["created_at"]),
                ",".join(manifest["tickers"]),
                str(manifest["horizon"]),
                f"{plan['folds']} x {plan['step']}",
                _cell(manifest["headline"], "mae_vs_naive"),
                _cell(manifest["headline"], "pinball_vs_naive"),
                _cell(manifest["headline"], "coverage_90", 3),
            ]
        )
    table = _build(f"backtests in {root}", columns, rows, wide)
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max(len(b.backtest_id) for b in found)
    return table


def compares_table(root: Path, found, wide: bool = False) -> Table:
    """Each comparison: its candidates, plan, and the best forecaster with its ratio to naive at h1."""
    columns = [
        ("compare", "l", True),
        ("created", "l", False),
        ("tickers", "l", False),
        ("cands", "r", True),
        ("plan", "l", False),
        ("best h1", "l", True),
        ("pinb/naive", "r", True),
    ]
    rows = []
    for comparison in found:
        manifest, board = comparison.manifest, comparison.leaderboard
        first = next(iter(board["horizons"].values()))[0]
        plan = manifest.get("plan")
        rows.append(
            [
                comparison.compare_id,
                instant(manifest["created_at"]),
                ",".join(manifest["tickers"]),
                str(len(manifest["candidates"])),
                f"{plan['folds']} x {plan['step']}" if plan else "split",
                first["forecaster"],
                _number(first["pinball_vs_naive"], 4),
            ]
        )
    table = _build(f"comparisons in {root}", columns, rows, wide)
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max(len(c.compare_id) for c in found)
    return table


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value) -> str:
    return "-" if value is None else ("<0.001" if value < 0.001 else f"{value:.3f}")
