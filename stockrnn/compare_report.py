"""The report of a comparison: the leaderboard of every horizon and the loss ratios as a chart."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

from stockrnn import charts
from stockrnn.atomic import write_atomic
from stockrnn.report import Chart
from stockrnn.report_html import STYLE, _number, _p

COLUMNS = (
    "#",
    "forecaster",
    "MAE/naive",
    "pinball/naive",
    "CRPS/naive",
    "cov90",
    "fit s",
    "params",
    "p vs naive",
    "p vs best",
)


def leaderboard_html(board: dict) -> str:
    tables = []
    for horizon, rows in board["horizons"].items():
        head = "".join(f"<th>{c}</th>" for c in COLUMNS)
        body = []
        for rank, row in enumerate(rows, start=1):
            cells = (
                rank,
                html.escape(row["forecaster"]),
                _number(row["mae_vs_naive"]),
                _number(row["pinball_vs_naive"]),
                _number(row["crps_vs_naive"]),
                _number(row["coverage_90"], 3),
                _number(row["seconds"], 1),
                "-" if row["parameters"] is None else f"{row['parameters']:,}",
                _p(row["p_vs_naive"]),
                _p(row["p_vs_best"]),
            )
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        caption = f"{horizon}, sorted by {html.escape(board['by'])} ({html.escape(board['scope'])})"
        tables.append(f"<table><caption>{caption}</caption><tr>{head}</tr>{''.join(body)}</table>")
    return "".join(tables)


def ratio_chart(board: dict) -> Chart:
    horizons = [int(h[1:]) for h in board["horizons"]]
    names = [row["forecaster"] for row in next(iter(board["horizons"].values()))]
    ratios = {
        name: [
            next(r for r in rows if r["forecaster"] == name)["pinball_vs_naive"]
            for rows in board["horizons"].values()
        ]
        for name in names
    }
    png = charts.ratio_chart(
        f"{board['scope']}: pinball loss relative to naive", horizons, ratios, "pinball / naive"
    )
    caption = "Each forecaster's pinball loss over naive's by horizon; below 1 beats naive. Significance is in the tables."
    return Chart("compare-ratios", "loss ratios", caption, png)


def write_compare_report(comparison, out: Path, png_dir: Path | None = None) -> list[Chart]:
    """Write the comparison's HTML page (and its PNG); each file whole or not at all."""
    from stockrnn.render import leaderboard_verdict

    board = comparison.leaderboard
    found = [ratio_chart(board)]
    figures = "".join(
        f'<figure><img alt="{html.escape(c.title)}" src="data:image/png;base64,'
        f'{base64.b64encode(c.png).decode("ascii")}"><figcaption>{html.escape(c.caption)}</figcaption></figure>'
        for c in found
    )
    candidates = ", ".join(html.escape(name) for name in comparison.manifest["candidates"])
    plan = comparison.manifest.get("plan")
    how = f"{plan['folds']} walk-forward folds of {plan['step']} sessions" if plan else "one test split"
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    verdict = "".join(f"<li>{html.escape(line)}</li>" for line in leaderboard_verdict(board).splitlines())
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>stockrnn compare {html.escape(comparison.compare_id)}"
        f"</title><style>{STYLE}</style></head><body><h1>stockrnn compare {html.escape(comparison.compare_id)}</h1>"
        f"<p>Written {made}. Candidates {candidates} and every baseline, fitted on the same data and scored on "
        f"the same origins ({how}); p-values: Diebold-Mariano (HLN) on per-date {html.escape(board['loss_tested'])} loss.</p>"
        f"<ul>{verdict}</ul>{figures}{leaderboard_html(board)}</body></html>"
    )
    write_atomic(out, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    if png_dir is not None:
        for chart in found:
            write_atomic(png_dir / f"{chart.name}.png", lambda tmp, c=chart: tmp.write_bytes(c.png))
    return found
