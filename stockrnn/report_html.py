"""The report's HTML pieces: tables of scores with their p-values, and the page's style sheet."""

from __future__ import annotations

import html

from stockrnn.evaluation import headline_scope


def _p(value) -> str:
    if value is None or value != value:
        return "-"
    return "&lt;0.001" if value < 0.001 else f"{value:.3f}"


def _number(value, digits: int = 4) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def headline_table(metrics: dict) -> str:
    """The model at every horizon: its ratios to naive with their DM p-values, coverage, best baseline."""
    scope = headline_scope(metrics)
    model = metrics[scope]["model"]
    head = "".join(
        f"<th>{c}</th>"
        for c in (
            "h",
            "MAE/naive",
            "p",
            "pinball/naive",
            "p",
            "CRPS/naive",
            "cov90",
            "best baseline",
            "p vs best",
        )
    )
    rows = []
    for horizon, m in model.items():
        cells = (
            horizon,
            _number(m.get("mae_vs_naive")),
            _p(m.get("dm_mae_p")),
            _number(m.get("pinball_vs_naive")),
            _p(m.get("dm_pinball_p")),
            _number(m.get("crps_vs_naive")),
            _number(m.get("coverage_90"), 3),
            html.escape(str(m.get("best_baseline", "-"))),
            _p(m.get("dm_pinball_p_vs_best")),
        )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><caption>{html.escape(scope)}: the model</caption><tr>{head}</tr>{''.join(rows)}</table>"


def folds_table(folds: list[dict], fold_metrics: dict) -> str:
    head = "".join(
        f"<th>{c}</th>"
        for c in ("fold", "origins", "from", "to", "epochs", "h", "pinball/naive", "p", "cov90")
    )
    rows = []
    for fold in folds:
        metrics = fold_metrics[str(fold["index"])]
        model = metrics[headline_scope(metrics)]["model"]
        for horizon in dict.fromkeys([next(iter(model)), list(model)[-1]]):
            m = model[horizon]
            cells = (
                fold["index"],
                fold["origins"],
                fold["cutoff"],
                fold["last_origin"],
                fold["epochs_run"] if fold["refit"] else "reused",
                horizon,
                _number(m.get("pinball_vs_naive")),
                _p(m.get("dm_pinball_p")),
                _number(m.get("coverage_90"), 3),
            )
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><caption>per fold</caption><tr>{head}</tr>{''.join(rows)}</table>"


STYLE = """
body { font-family: sans-serif; max-width: 860px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
figure { margin: 1.5em 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; }
"""
