"""The report's charts as PNG bytes: matplotlib's Agg backend, no display, no browser.

Each function takes plain arrays and returns one PNG; what the arrays mean is report.py's business.
"""

from __future__ import annotations

import io

import numpy as np

WIDTH, HEIGHT, DPI = 8.0, 4.0, 100  # inches at 100 dpi: 800 x 400 pixels


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
    axes.grid(alpha=0.3)
    return figure, axes


def _png(figure) -> bytes:
    from matplotlib import pyplot

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI)
    pyplot.close(figure)
    return buffer.getvalue()


def fan_chart(
    title: str,
    history_dates: np.ndarray,
    history_prices: np.ndarray,
    target_dates: np.ndarray,
    median: np.ndarray,
    bands: list[tuple[str, np.ndarray, np.ndarray]],  # (label, low, high), widest first
    naive: float,
    actual: np.ndarray | None = None,
) -> bytes:
    """Recent prices, then the forecast's median and its central intervals to H sessions: zoomed to
    the last max(3H, 20) closes, so the fan takes a readable share of the width."""
    figure, axes = _figure()
    shown = max(3 * len(target_dates), 20)
    history_dates, history_prices = history_dates[-shown:], history_prices[-shown:]
    axes.plot(history_dates, history_prices, color="black", linewidth=1.2, label="close")
    start_date, start_price = history_dates[-1], history_prices[-1]
    dates = np.concatenate([[start_date], target_dates])
    for (label, low, high), alpha in zip(bands, (0.18, 0.35, 0.5), strict=False):
        axes.fill_between(
            dates,
            np.concatenate([[start_price], low]),
            np.concatenate([[start_price], high]),
            color="tab:blue",
            alpha=alpha,
            linewidth=0,
            label=label,
        )
    axes.plot(dates, np.concatenate([[start_price], median]), color="tab:blue", linewidth=1.5, label="median")
    # Naive on top of the bands, in a colour the blue fan cannot swallow.
    axes.plot(
        dates,
        np.full(len(dates), naive),
        color="tab:orange",
        linestyle="--",
        linewidth=1.6,
        zorder=5,
        label="naive (no change)",
    )
    if actual is not None and np.isfinite(actual).any():
        axes.plot(
            dates,
            np.concatenate([[start_price], actual]),
            color="tab:red",
            marker=".",
            linewidth=1,
            label="actual",
        )
    axes.set_title(title)
    axes.set_ylabel("price")
    _legend_outside(figure, axes)
    figure.autofmt_xdate()
    return _png(figure)


def calibration_chart(title: str, nominal: np.ndarray, observed: dict[str, np.ndarray]) -> bytes:
    """Observed share of outcomes below each quantile against its level, one line per horizon."""
    figure, axes = _figure()
    axes.plot([0, 1], [0, 1], color="tab:gray", linestyle="--", linewidth=1, label="perfect")
    for horizon, shares in observed.items():
        axes.plot(nominal, shares, marker="o", markersize=3, linewidth=1, label=horizon)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("quantile level")
    axes.set_ylabel("share of outcomes below it")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize=8, ncol=2)
    return _png(figure)


def ratio_chart(title: str, horizons: list[int], ratios: dict[str, list[float]], ylabel: str) -> bytes:
    """Each forecaster's loss as a ratio to naive's, by horizon; below 1 beats naive."""
    figure, axes = _figure()
    axes.axhline(1.0, color="tab:gray", linestyle="--", linewidth=1)
    for (name, values), style in zip(ratios.items(), _styles(len(ratios)), strict=True):
        axes.plot(horizons, values, linewidth=2 if name == "model" else 1.2, label=name, **style)
    axes.set_xticks(horizons)
    axes.set_xlabel("horizon (sessions)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    _legend_outside(figure, axes)
    return _png(figure)


def cumulative_chart(title: str, dates: np.ndarray, series: dict[str, np.ndarray], boundaries) -> bytes:
    """Cumulative loss differential over time; falling = the model is gaining on naive."""
    figure, axes = _figure()
    axes.axhline(0.0, color="tab:gray", linewidth=1)
    for boundary in boundaries:
        axes.axvline(boundary, color="tab:gray", linestyle=":", linewidth=0.8)
    for label, values in series.items():
        axes.plot(dates, values, linewidth=1.2, label=label)
    axes.set_ylabel("cumulative pinball loss, model - naive\n(log-return units)")
    axes.set_title(title)
    _legend_outside(figure, axes)
    figure.autofmt_xdate()
    return _png(figure)


def training_chart(title: str, histories: dict[str, list[dict]]) -> bytes:
    """Training (dashed) and validation (solid) loss by epoch, one colour per fit."""
    from matplotlib.ticker import MaxNLocator

    figure, axes = _figure()
    for (label, history), style in zip(histories.items(), _styles(len(histories)), strict=True):
        epochs = [h["epoch"] for h in history]
        validation = [h["val_loss"] for h in history]
        color = style["color"]
        axes.plot(
            epochs, validation, color=color, marker=style["marker"], markersize=3, linewidth=1.2, label=label
        )
        axes.plot(epochs, [h["train_loss"] for h in history], color=color, linewidth=1, linestyle="--")
        if validation:
            best = int(np.argmin(validation))  # the epoch whose weights were kept
            axes.scatter(
                [epochs[best]],
                [validation[best]],
                color=color,
                marker="*",
                s=140,
                zorder=5,
                edgecolors="black",
            )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (solid: validation, dashed: training)")
    axes.set_title(title + " (star: best epoch, kept)")
    _legend_outside(figure, axes)
    return _png(figure)


def attention_chart(title: str, weights: list[list[float]]) -> bytes:
    """Mean attention weight on each past session, one line per horizon; session 0 is the origin."""
    figure, axes = _figure()
    for h, (row, color) in enumerate(zip(weights, _colors(len(weights)), strict=True), start=1):
        ago = np.arange(len(row))[::-1]  # the window's last step is 0 sessions before the origin
        axes.plot(ago, row, color=color, linewidth=1.2, label=f"h{h}")
    axes.invert_xaxis()
    axes.set_xlabel("sessions before the forecast origin")
    axes.set_ylabel("mean attention weight")
    axes.set_title(title)
    axes.legend(fontsize=8, ncol=5)
    return _png(figure)


def _styles(count: int) -> list[dict]:
    """A colour, marker and dash for each of `count` lines, no two alike: tab10's colours first,
    then the same colours with other markers and dashes."""
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    markers = ("o", "s", "^", "D", "v", "P", "X", "*")
    dashes = ("-", "--", "-.", ":")
    return [
        {
            "color": palette[i % 10],
            "marker": markers[(i // 10 + i) % len(markers)],
            "linestyle": dashes[i // 10 % len(dashes)],
        }
        for i in range(count)
    ]


def _legend_outside(figure, axes) -> None:
    """The legend right of the plot, never over the data; the figure grows to make room."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    figure.set_size_inches(WIDTH + 2.0, HEIGHT)


def _colors(count: int) -> list:
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in np.linspace(0, 0.9, max(count, 1))][:count]


def coverage_chart(
    title: str,
    series: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],  # (label, dates, rolling coverage, missed)
    nominal: float,
    band: tuple[float, float],
) -> bytes:
    """Rolling coverage through time against the nominal level and its sampling band; each series'
    misses marked as ticks under the lines."""
    figure, axes = _figure()
    axes.axhspan(*band, color="tab:green", alpha=0.12, linewidth=0, label="95% band of a calibrated interval")
    axes.axhline(nominal, color="tab:green", linewidth=1.0, linestyle="--", label=f"nominal {nominal:.0%}")
    colors, markers = _colors(len(series)), ("|", "x", "+", "1", "2", "3")
    floor = min(band[0], min((np.nanmin(c) for _, _, c, _ in series if len(c)), default=band[0])) - 0.04
    for k, (label, dates, coverage, missed) in enumerate(series):
        axes.plot(dates, coverage, color=colors[k], linewidth=1.3, label=label)
        miss_dates = dates[missed]
        axes.scatter(
            miss_dates,
            np.full(len(miss_dates), floor - 0.02 * k),
            color=colors[k],
            marker=markers[k % len(markers)],
            s=18,
            linewidths=1.0,
        )
    axes.set_ylabel("share of outcomes inside the interval")
    axes.set_title(title)
    _legend_outside(figure, axes)
    return _png(figure)
