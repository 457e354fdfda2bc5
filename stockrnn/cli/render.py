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


def metrics_table(metrics: dict, title: str, wide: bool = False) -> Table:
    """Per scope, every forecaster at horizon 1 and at the run's last horizon H."""
    from stockrnn.evaluation.metrics import metrics_by_horizon, ordered_scopes
    from stockrnn.forecasters.registry import NAMES

    metrics = metrics_by_horizon(metrics)
    # cov = share of outcomes inside the central 80/90% interval after calibration; raw90 = before.
    # p MAE / p pinb: Diebold-Mariano p-value (HLN-corrected) of the difference from naive.
    columns = [
        ("forecaster", "l", True),
        ("h", "r", True),
        ("MAE", "r", False),
        ("MAE/naive", "r", True),
        ("p MAE", "r", True),
        ("dir", "r", False),
        ("pinb/naive", "r", True),
        ("p pinb", "r", True),
        ("CRPS/naive", "r", False),
        ("cov80", "r", False),
        ("cov90", "r", True),
        ("raw90", "r", False),
        ("width90", "r", False),
    ]
    rows: list = []
    for scope in ordered_scopes(metrics):
        by_forecaster = metrics[scope]
        horizons = list(next(iter(by_forecaster.values())))
        rows.append([scope] + [""] * (len(columns) - 1))  # the scope heads its block
        for horizon in dict.fromkeys([horizons[0], horizons[-1]]):
            for name in (n for n in NAMES if n in by_forecaster):
                m = by_forecaster[name][horizon]
                rows.append(
                    [
                        f"  {name}",
                        horizon.removeprefix("h"),
                        _cell(m, "mae"),
                        _cell(m, "mae_vs_naive"),
                        _p_value(m, "dm_mae_p"),
                        "n/a" if m.get("direction") is None else _cell(m, "direction", 3),  # no change
                        _cell(m, "pinball_vs_naive"),
                        _p_value(m, "dm_pinball_p"),
                        _cell(m, "crps_vs_naive"),
                        _cell(m, "coverage_80", 3),
                        _cell(m, "coverage_90", 3),
                        _cell(m, "raw_coverage_90", 3),
                        _cell(m, "width_90"),
                    ]
                )
        rows.append(None)
    return _build(title, columns, rows[:-1], wide)


def calibration_table(table: dict, active: str, wide: bool = False) -> Table:
    """The network's 90% interval (else the widest) raw, with the split offsets and with each online
    method, pooled (or its one ticker), at horizon 1 and H: what calibration bought, side by side."""
    variants = list(table)
    scope = "pooled" if "pooled" in table[variants[0]] else next(iter(table[variants[0]]))
    horizons = list(table[variants[0]][scope])
    shown = list(dict.fromkeys([horizons[0], horizons[-1]]))
    coverages = [k for k in table[variants[0]][scope][shown[0]] if k.startswith("coverage_")]
    level = "coverage_90" if "coverage_90" in coverages else coverages[-1]
    nominal = level.removeprefix("coverage_")
    columns = [("intervals", "l", True)]
    for h in shown:
        columns += [(f"cover {h}", "r", True), (f"width {h}", "r", False), (f"pinball {h}", "r", True)]
    rows = []
    for variant in variants:
        cells = [variant + (" *" if variant == active else "")]
        for h in shown:
            m = table[variant][scope][h]
            cells += [_cell(m, level, 3), _cell(m, f"width_{nominal}"), _cell(m, "pinball", 5)]
        rows.append(cells)
    title = f"calibration of the model's {nominal}% interval ({scope}; * = this run's method)"
    return _build(title, columns, rows, wide)


def track_tables(summary, wide: bool = False) -> list[Table]:
    """One table per run: each ticker and horizon's resolved forecasts, the 90% interval's coverage
    with its tests, and the losses against naive with their DM p-values."""
    columns = [
        ("ticker", "l", True),
        ("h", "r", True),
        ("scored", "r", True),
        ("pending", "r", False),
        ("cov90", "r", True),
        ("Kupiec", "r", True),
        ("Christ.", "r", True),
        ("pinb/naive", "r", True),
        ("p", "r", True),
        ("MAE/naive", "r", False),
        ("p MAE", "r", False),
    ]
    tables = []
    for run_id, found in summary.groupby("run_id", sort=True):
        rows = [
            [
                row["ticker"],
                str(row["horizon"]),
                str(row["forecasts"]),
                str(row["pending"]),
                _cell(row, "coverage_90", 3),
                _p_value(row, "kupiec_p_90"),
                _p_value(row, "christoffersen_cc_p_90"),
                _cell(row, "pinball_vs_naive"),
                _p_value(row, "dm_pinball_p"),
                _cell(row, "mae_vs_naive"),
                _p_value(row, "dm_mae_p"),
            ]
            for row in found.to_dict("records")
        ]
        tables.append(_build(f"forecasts of run {run_id} (p-values of the tests)", columns, rows, wide))
    return tables


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


def broken_runs_table(root: Path, broken: list[tuple[str, str]]) -> Table:
    """Run folders that do not load, with why: listed, never silently skipped."""
    table = Table(title=f"broken runs in {root} (skipped by `latest`)")
    table.add_column("run", no_wrap=True, min_width=max(len(name) for name, _ in broken))
    table.add_column("why")
    for name, reason in broken:
        table.add_row(name, reason.removeprefix(f"run {name}: "))
    return table


def folds_table(folds, fold_metrics: dict, wide: bool = False) -> Table:
    """One row per fold: its origins, its fit, and the model against naive at horizons 1 and H."""
    from stockrnn.evaluation.metrics import headline_scope

    columns = [
        ("fold", "r", True),
        ("origins", "r", False),
        ("from", "l", True),
        ("to", "l", True),
        ("fit", "l", True),
        ("h", "r", True),
        ("MAE/naive", "r", False),
        ("pinb/naive", "r", True),
        ("p pinb", "r", True),
        ("cov90", "r", True),
    ]
    rows = []
    for fold in folds:  # as the backtest manifest lists them
        metrics = fold_metrics[str(fold["index"])]
        model = metrics[headline_scope(metrics)]["model"]
        shown = list(dict.fromkeys([next(iter(model)), list(model)[-1]]))
        for horizon in shown:
            m = model[horizon]
            first = horizon == shown[0]
            fit = f"{fold['epochs_run']} ep" if fold["refit"] else "reused"
            rows.append(
                [
                    str(fold["index"]) if first else "",
                    str(fold["origins"]) if first else "",
                    fold["cutoff"] if first else "",
                    fold["last_origin"] if first else "",
                    fit if first else "",
                    horizon.removeprefix("h"),
                    _cell(m, "mae_vs_naive"),
                    _cell(m, "pinball_vs_naive"),
                    _p_value(m, "dm_pinball_p"),
                    _cell(m, "coverage_90", 3),
                ]
            )
    return _build("folds (model vs naive; first scope)", columns, rows, wide)


def mcs_table(mcs: dict, size: float = 0.05, wide: bool = False) -> Table:
    """Model Confidence Set p-values, a row per forecaster and a column per horizon; * marks the
    forecasters inside the set."""
    horizons = list(mcs)
    names = list(mcs[horizons[0]])
    columns = [("forecaster", "l", True), *((h, "r", True) for h in horizons)]
    rows = [
        [name, *(f"{mcs[h][name]:.3f}{'*' if mcs[h][name] > size else ' '}" for h in horizons)]
        for name in names
    ]
    title = f"Model Confidence Set p-values (pinball loss; * = in the {1 - size:.0%} set)"
    return _build(title, columns, rows, wide)


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


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value) -> str:
    return "-" if value is None else ("<0.001" if value < 0.001 else f"{value:.3f}")


def leaderboard_tables(board: dict, horizons: list[str] | None = None, wide: bool = False) -> list[Table]:
    """One table per horizon, rows sorted by the chosen loss (best first), with DM p-values."""
    columns = [
        ("#", "r", True),
        ("forecaster", "l", True),
        ("MAE/naive", "r", True),
        ("pinb/naive", "r", True),
        ("CRPS/naive", "r", False),
        ("cov90", "r", True),
        ("fit s", "r", False),
        ("s/epoch", "r", False),
        ("params", "r", False),
        ("p naive", "r", True),
        ("p best", "r", True),
    ]
    tables = []
    for horizon, ranked in board["horizons"].items():
        if horizons and horizon not in horizons:
            continue
        rows = [
            [
                str(rank),
                row["forecaster"],
                _number(row["mae_vs_naive"], 4),
                _number(row["pinball_vs_naive"], 4),
                _number(row["crps_vs_naive"], 4),
                _number(row["coverage_90"], 3),
                _number(row["seconds"], 1),
                _number(row["seconds_per_epoch"], 2),
                "-" if row["parameters"] is None else f"{row['parameters']:,}",
                _p(row["p_vs_naive"]),
                _p(row["p_vs_best"]),
            ]
            for rank, row in enumerate(ranked, start=1)
        ]
        title = (
            f"{horizon}: sorted by {board['by']} ({board['scope']}); "
            f"p: Diebold-Mariano (HLN) on {board['loss_tested']} loss"
        )
        tables.append(_build(title, columns, rows, wide))
    return tables
