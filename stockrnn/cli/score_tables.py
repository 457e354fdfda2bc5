"""The tables of scores: every forecaster against naive, calibration, folds, the Model Confidence
Set, comparison leaderboards and the tracked archive. Built like every table (render._build): the
default view fits 80 columns, `wide` shows every column."""

from __future__ import annotations

from rich.table import Table

from stockrnn.cli.render import _build, _cell, _number, _p, _p_value


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
    order = ["raw", "split", "rolling", "aci"]  # metrics.json sorts its keys; show them as they build up
    variants = [v for v in order if v in table] + [v for v in table if v not in order]
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
