"""The report of a comparison: the leaderboard of every horizon and the loss ratios as a chart."""

from __future__ import annotations

from pathlib import Path

from stockrnn.outputs import charts
from stockrnn.outputs.html import Section, _number, _p, bullets, table, write_page
from stockrnn.outputs.report import Chart

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


def leaderboard_sections(board: dict) -> list[Section]:
    tables = []
    for horizon, rows in board["horizons"].items():
        body = []
        for rank, row in enumerate(rows, start=1):
            cells = (
                rank,
                row["forecaster"],
                _number(row["mae_vs_naive"]),
                _number(row["pinball_vs_naive"]),
                _number(row["crps_vs_naive"]),
                _number(row["coverage_90"], 3),
                _number(row["seconds"], 1),
                "-" if row["parameters"] is None else f"{row['parameters']:,}",
                _p(row["p_vs_naive"]),
                _p(row["p_vs_best"]),
            )
            body.append(cells)
        tables.append(table(f"{horizon}, sorted by {board['by']} ({board['scope']})", COLUMNS, body))
    return tables


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
    from stockrnn.evaluation.verdicts import leaderboard_verdict

    board = comparison.leaderboard
    found = [ratio_chart(board)]
    candidates = ", ".join(comparison.manifest["candidates"])
    plan = comparison.manifest.get("plan")
    how = f"{plan['folds']} walk-forward folds of {plan['step']} sessions" if plan else "one test split"
    intro = (
        f"Candidates {candidates} and every baseline, fitted on the same data and scored on the same origins "
        f"({how}); p-values: Diebold-Mariano (HLN) on per-date {board['loss_tested']} loss."
    )
    sections = [bullets(leaderboard_verdict(board).splitlines()), *leaderboard_sections(board)]
    runs = comparison.manifest.get("runs") or {}
    if runs:
        sections.append(table("each candidate saved as a run", ("candidate", "run"), runs.items()))
    write_page(out, f"stockrnn compare {comparison.compare_id}", intro, sections, found, png_dir)
    return found
