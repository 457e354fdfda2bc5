"""The reports' HTML: sections (tables of scores with their p-values, lists, paragraphs) rendered
into one page by a Jinja2 template with autoescape on, so every value, from a manifest, a ticker or
a candidate's name, reaches the page as text and never as markup."""

from __future__ import annotations

from dataclasses import dataclass

from stockrnn.evaluation.metrics import headline_scope


@dataclass(frozen=True)
class Section:
    """A piece of a page: a table (caption, head, rows of cells), a bulleted list or paragraphs."""

    kind: str  # "table", "list" or "text"
    caption: str = ""
    head: tuple = ()
    rows: tuple = ()
    lines: tuple = ()


def table(caption: str, head, rows) -> Section:
    return Section("table", caption, tuple(head), tuple(tuple(row) for row in rows))


def bullets(lines) -> Section:
    return Section("list", lines=tuple(lines))


def text(*lines: str) -> Section:
    return Section("text", lines=lines)


def _p(value) -> str:
    if value is None or value != value:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _number(value, digits: int = 4) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def headline_table(metrics: dict) -> Section:
    """The model at every horizon: its ratios to naive with their DM p-values, coverage, best baseline."""
    scope = headline_scope(metrics)
    model = metrics[scope]["model"]
    head = (
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
            str(m.get("best_baseline", "-")),
            _p(m.get("dm_pinball_p_vs_best")),
        )
        rows.append(cells)
    return table(f"{scope}: the model", head, rows)


def folds_table(folds: list[dict], fold_metrics: dict) -> Section:
    head = ("fold", "origins", "from", "to", "epochs", "h", "pinball/naive", "p pinball", "cov90")
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
            rows.append(cells)
    return table("per fold", head, rows)


def render_page(title: str, intro: str, sections: list[Section], charts: list) -> str:
    """The page as text: the template with every value escaped (autoescape), charts as embedded PNGs."""
    import base64
    from datetime import datetime, timezone

    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("stockrnn.outputs", "templates"),
        autoescape=True,  # every {{ value }} is escaped: no manifest value can become markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    figures = [
        {"title": c.title, "caption": c.caption, "png_base64": base64.b64encode(c.png).decode("ascii")}
        for c in charts
    ]
    return environment.get_template("page.html").render(
        title=title,
        intro=intro,
        written=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        sections=sections,
        charts=figures,
    )


def write_page(out, title: str, intro: str, sections: list[Section], charts: list, png_dir=None) -> None:
    """One self-contained HTML page: title, a line of what it is, the sections, then the charts as
    embedded PNGs (and as files in `png_dir`); each file is written whole or not at all."""
    from stockrnn.io.atomic import write_atomic

    page = render_page(title, intro, sections, charts)
    write_atomic(out, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    if png_dir is not None:
        for chart in charts:
            write_atomic(png_dir / f"{chart.name}.png", lambda tmp, c=chart: tmp.write_bytes(c.png))
