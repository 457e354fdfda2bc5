"""Rich tables for the command line: what each command shows a person. No numerics here."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table


def fetch_table(outcomes) -> Table:
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


def store_table(root: Path, summaries) -> Table:
    table = Table(title=f"store {root}")
    for name in ("ticker", "rows", "first", "last", "source", "last fetched"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for s in summaries:
        table.add_row(
            s.ticker,
            str(s.rows),
            s.first.date().isoformat(),
            s.last.date().isoformat(),
            s.source,
            instant(s.fetched_at),
        )
    return table


def instant(value) -> str:
    """Every time stockrnn shows, one way: ISO 8601 in UTC with a T, to the second."""
    import pandas as pd  # not at import: `stockrnn --help` must stay fast

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(scores: dict, key: str, digits: int = 4) -> str:
    value = scores.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def _p_value(scores: dict, key: str) -> str:
    value = scores.get(key)
    if value is None or value != value:  # absent (naive itself, old runs) or NaN (too few dates)
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def metrics_table(metrics: dict, title: str) -> Table:
    """Per scope, every forecaster at horizon 1 and at the run's last horizon H."""
    from stockrnn.evaluation.metrics import metrics_by_horizon, ordered_scopes
    from stockrnn.forecasters.registry import NAMES

    metrics = metrics_by_horizon(metrics)
    table = Table(title=title)
    # cov = share of outcomes inside the central 80/90% interval after calibration; raw90 = before.
    # p MAE / p pinb: Diebold-Mariano p-value (HLN-corrected) of the difference from naive.
    columns = ("scope", "forecaster", "h", "MAE", "MAE/naive", "p MAE", "dir", "pinball/naive", "p pinb")
    columns += ("CRPS/naive", "cov80", "cov90", "raw90", "width90")
    for name in columns:
        table.add_column(name, justify="left" if name in ("scope", "forecaster") else "right")
    for scope in ordered_scopes(metrics):
        by_forecaster = metrics[scope]
        horizons = list(next(iter(by_forecaster.values())))
        shown = list(dict.fromkeys([horizons[0], horizons[-1]]))
        for horizon in shown:
            for name in (n for n in NAMES if n in by_forecaster):
                m = by_forecaster[name][horizon]
                table.add_row(
                    scope if name == NAMES[0] and horizon == shown[0] else "",
                    name,
                    horizon.removeprefix("h"),
                    _cell(m, "mae"),
                    _cell(m, "mae_vs_naive"),
                    _p_value(m, "dm_mae_p"),
                    "n/a"
                    if m.get("direction") is None
                    else _cell(m, "direction", 3),  # no change: no direction
                    _cell(m, "pinball_vs_naive"),
                    _p_value(m, "dm_pinball_p"),
                    _cell(m, "crps_vs_naive"),
                    _cell(m, "coverage_80", 3),
                    _cell(m, "coverage_90", 3),
                    _cell(m, "raw_coverage_90", 3),
                    _cell(m, "width_90"),
                )
            table.add_section()
    return table


def calibration_table(table: dict, active: str) -> Table:
    """The network's 90% interval (else the widest) raw, with the split offsets and with each online
    method, pooled (or its one ticker), at horizon 1 and H: what calibration bought, side by side."""
    variants = list(table)
    scope = "pooled" if "pooled" in table[variants[0]] else next(iter(table[variants[0]]))
    horizons = list(table[variants[0]][scope])
    shown = list(dict.fromkeys([horizons[0], horizons[-1]]))
    coverages = [k for k in table[variants[0]][scope][shown[0]] if k.startswith("coverage_")]
    level = "coverage_90" if "coverage_90" in coverages else coverages[-1]
    nominal = level.removeprefix("coverage_")
    out = Table(title=f"calibration of the model's {nominal}% interval ({scope}; * = this run's method)")
    out.add_column("intervals", justify="left")
    for h in shown:
        for name in (f"cover {h}", f"width {h}", f"pinball {h}"):
            out.add_column(name, justify="right")
    for variant in variants:
        cells = [variant + (" *" if variant == active else "")]
        for h in shown:
            m = table[variant][scope][h]
            cells += [_cell(m, level, 3), _cell(m, f"width_{nominal}"), _cell(m, "pinball", 5)]
        out.add_row(*cells)
    return out


def track_tables(summary) -> list[Table]:
    """One table per run: each ticker and horizon's resolved forecasts, the 90% interval's coverage
    with its tests, and the losses against naive with their DM p-values."""
    tables = []
    for run_id, rows in summary.groupby("run_id", sort=True):
        table = Table(title=f"forecasts of run {run_id} (tests: p-values; pending: outcome not stored yet)")
        for name in (
            "ticker",
            "h",
            "scored",
            "pending",
            "cov90",
            "Kupiec",
            "Christ.",
            "pinb/naive",
            "p",
            "MAE/naive",
            "p MAE",
        ):
            table.add_column(name, justify="left" if name == "ticker" else "right")
        for row in rows.to_dict("records"):
            table.add_row(
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
            )
        tables.append(table)
    return tables


def forecasts_table(frame, run_id: str) -> Table:
    table = Table(title=f"forecasts, run {run_id}")
    # The widest central interval the run has, beside the median.
    lower = next((c for c in frame.columns if c.startswith("close_p")), None)
    upper = next((c for c in reversed(frame.columns) if c.startswith("close_p")), None)
    interval = f"{lower.removeprefix('close_')} .. {upper.removeprefix('close_')}" if lower != upper else None
    for name in ("ticker", "asof", "h", "target date", "last close", "median close", "median return"):
        table.add_column(name, justify="left" if name in ("ticker", "asof", "target date") else "right")
    if interval:
        table.add_column(f"close {interval}", justify="right")
    for row in frame.itertuples():
        cells = [
            row.ticker,
            str(row.asof),
            str(row.horizon),
            str(row.target_date.date()),
            f"{row.last_close:.4f}",
            f"{row.predicted_close:.4f}",
            f"{row.predicted_return:+.5f}",
        ]
        if interval:
            cells.append(f"{getattr(row, lower):.2f} .. {getattr(row, upper):.2f}")
        table.add_row(*cells)
    return table


def runs_table(root: Path, found, latest: str | None, production: str | None = None) -> Table:
    table = Table(title=f"runs in {root}")
    from stockrnn.config.schema import ModelConfig

    for name in ("run", "created", "model", "tickers", "H", "MAE/naive", "pinball/naive", "cov90", "status"):
        # Ids are copied into --run: never wrap or cut them.
        table.add_column(
            name,
            no_wrap=name == "run",
            min_width=max(len(r.run_id) for r in found) if name == "run" else None,
        )
    for run in found:
        headline = run.manifest.headline
        table.add_row(
            run.run_id,
            instant(run.manifest.created_at),
            ModelConfig.model_validate(run.config["model"]).label,
            ",".join(run.manifest.tickers),
            str(run.manifest.horizon),
            _cell(headline, "mae_vs_naive"),
            _cell(headline, "pinball_vs_naive"),
            _cell(headline, "coverage_90", 3),
            ", ".join(
                word
                for word, applies in (
                    ("production", run.run_id == production),
                    ("latest", run.run_id == latest),
                    ("interrupted", run.manifest.training.get("interrupted", False)),
                )
                if applies
            ),
        )
    return table


def broken_runs_table(root: Path, broken: list[tuple[str, str]]) -> Table:
    """Run folders that do not load, with why: listed, never silently skipped."""
    table = Table(title=f"broken runs in {root} (skipped by `latest`)")
    table.add_column("run", no_wrap=True, min_width=max(len(name) for name, _ in broken))
    table.add_column("why")
    for name, reason in broken:
        table.add_row(name, reason.removeprefix(f"run {name}: "))
    return table


def folds_table(folds, fold_metrics: dict) -> Table:
    """One row per fold: its origins, its fit, and the model against naive at horizons 1 and H."""
    from stockrnn.evaluation.metrics import headline_scope

    table = Table(title="folds (model vs naive; first scope)")
    columns = ("fold", "origins", "from", "to", "fit", "h", "MAE/naive", "pinball/naive", "p pinb", "cov90")
    for name in columns:
        table.add_column(name, justify="left" if name in ("from", "to", "fit") else "right")
    for fold in folds:  # as the backtest manifest lists them
        metrics = fold_metrics[str(fold["index"])]
        model = metrics[headline_scope(metrics)]["model"]
        shown = list(dict.fromkeys([next(iter(model)), list(model)[-1]]))
        for horizon in shown:
            m = model[horizon]
            first = horizon == shown[0]
            fit = f"{fold['epochs_run']} ep" if fold["refit"] else "reused"
            table.add_row(
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
            )
    return table


def mcs_table(mcs: dict, size: float = 0.05) -> Table:
    """Model Confidence Set p-values per horizon; * marks the forecasters inside the set."""
    names = list(next(iter(mcs.values())))
    table = Table(title=f"Model Confidence Set p-values (pinball loss; * = in the {1 - size:.0%} set)")
    table.add_column("h", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for horizon, pvalues in mcs.items():
        cells = [f"{pvalues[n]:.3f}{'*' if pvalues[n] > size else ' '}" for n in names]
        table.add_row(horizon.removeprefix("h"), *cells)
    return table


def backtests_table(root: Path, found) -> Table:
    table = Table(title=f"backtests in {root}")
    for name in ("backtest", "created", "tickers", "H", "folds", "MAE/naive", "pinball/naive", "cov90"):
        wide = max(len(b.backtest_id) for b in found) if name == "backtest" else None
        table.add_column(name, no_wrap=name == "backtest", min_width=wide)
    for backtest in found:
        manifest = backtest.manifest
        plan = manifest["plan"]
        table.add_row(
            backtest.backtest_id,
            instant(manifest["created_at"]),
            ",".join(manifest["tickers"]),
            str(manifest["horizon"]),
            f"{plan['folds']} x {plan['step']}",
            _cell(manifest["headline"], "mae_vs_naive"),
            _cell(manifest["headline"], "pinball_vs_naive"),
            _cell(manifest["headline"], "coverage_90", 3),
        )
    return table


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value) -> str:
    return "-" if value is None else ("<0.001" if value < 0.001 else f"{value:.3f}")


def leaderboard_tables(board: dict, horizons: list[str] | None = None) -> list[Table]:
    """One table per horizon, rows sorted by the chosen loss (best first), with DM p-values."""
    tables = []
    for horizon, rows in board["horizons"].items():
        if horizons and horizon not in horizons:
            continue
        table = Table(
            title=f"{horizon}: sorted by {board['by']} ({board['scope']}); "
            f"p: Diebold-Mariano (HLN) on {board['loss_tested']} loss"
        )
        columns = ("#", "forecaster", "MAE/naive", "pinball/naive", "CRPS/naive", "cov90", "fit s", "s/epoch")
        for name in (*columns, "params", "p vs naive", "p vs best"):
            table.add_column(name, justify="left" if name == "forecaster" else "right")
        for rank, row in enumerate(rows, start=1):
            table.add_row(
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
            )
        tables.append(table)
    return tables
