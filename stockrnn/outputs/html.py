"""The report's HTML pieces: tables of scores with their p-values, and the page's style sheet."""

from __future__ import annotations

import html

from stockrnn.evaluation.metrics import headline_scope


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
            "p MAE",
            "pinball/naive",
            "p pinball",
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
        for c in ("fold", "origins", "from", "to", "epochs", "h", "pinball/naive", "p pinball", "cov90")
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


def write_page(out, title: str, intro: str, body: str, charts: list, png_dir=None) -> None:
    """One self-contained HTML page: title, a line of what it is, body, then the charts as embedded
    PNGs (and as files in `png_dir`); each file is written whole or not at all."""
    import base64
    from datetime import datetime, timezone

    from stockrnn.io.atomic import write_atomic

    figures = "".join(
        f'<figure><img alt="{html.escape(c.title)}" src="data:image/png;base64,'
        f'{base64.b64encode(c.png).decode("ascii")}"><figcaption>{html.escape(c.caption)}</figcaption></figure>'
        for c in charts
    )
    made = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>Written {made}. {intro}</p>"
        f"{body}{figures}</body></html>"
    )
    write_atomic(out, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    if png_dir is not None:
        for chart in charts:
            write_atomic(png_dir / f"{chart.name}.png", lambda tmp, c=chart: tmp.write_bytes(c.png))
