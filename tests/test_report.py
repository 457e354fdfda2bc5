"""`stockrnn report`, checked as a person would see it: one HTML file that parses, holds the charts
it should, each a real PNG of a readable size, and the same charts as files with --png."""

from __future__ import annotations

import base64
import json
import struct
from html.parser import HTMLParser

import pandas as pd
import pytest
from synthetic import ar1_returns, prices_from_returns

from stockrnn.data.store import PriceStore
from stockrnn.outputs.report import TICKER_LIMIT, Source, chosen_tickers

FAST = ["--set", "features.lookback=10", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tables, self.captions = [], 0, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        self.tables += tag == "table"
        self.captions += tag == "figcaption"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a valid PNG has right after its signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def folders(tmp_path):
    store = PriceStore(tmp_path / "store")
    for name, seed in (("SYN", 1), ("ALT", 2)):
        store.write(name, prices_from_returns(ar1_returns(420, phi=0.4, seed=seed)), origin="test")
    return ["--store", store.root, "--runs", tmp_path / "runs"], tmp_path


def _check_report(path, expected_images: int) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert len(page.images) == expected_images and page.captions == expected_images
    for image in page.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)  # embedded: the file opens with no network
        width, height = png_size(base64.b64decode(image["src"][len(prefix) :]))
        assert height == 400 and width in (800, 1000)  # 1000: the legend beside the plot, off the data
    return page


def test_report_of_a_run_embeds_fan_charts_calibration_ratios_and_training_history(cli, folders):
    paths, tmp = folders
    trained = cli(
        "train", "--ticker", "SYN", "--ticker", "ALT", "--horizon", "3", "--epochs", "2", *FAST, *paths
    )
    assert trained.exit_code == 0, trained.stderr
    result = cli("report", "--runs", tmp / "runs", "--png", tmp / "png")
    assert result.exit_code == 0, result.stderr
    report = next((tmp / "runs" / "reports").glob("*.html"))
    assert f"written to {report}" in result.stdout
    page = _check_report(report, 2 + 3)  # a fan per ticker, calibration, loss ratios, training
    assert page.tables == 1  # the headline table with its DM p-values
    pngs = sorted(p.name for p in (tmp / "png").iterdir())
    assert pngs == ["calibration.png", "fan-ALT.png", "fan-SYN.png", "loss-ratio.png", "training.png"]
    sizes = {name: png_size((tmp / "png" / name).read_bytes()) for name in pngs}
    assert sizes["calibration.png"] == (800, 400)
    assert all(sizes[name] == (1000, 400) for name in pngs if name != "calibration.png")  # legends outside


def test_report_of_a_backtest_adds_the_cumulative_differential_and_a_fold_table(cli, folders):
    paths, tmp = folders
    plan = ["--folds", "2", "--step", "20", "--val-sessions", "60", "--epochs", "2", "--horizon", "2"]
    ran = cli("backtest", "--ticker", "SYN", *plan, *FAST, *paths)
    assert ran.exit_code == 0, ran.stderr
    out = tmp / "out" / "bt.html"
    result = cli("report", "--backtest", "--runs", tmp / "runs", "--out", out)
    assert result.exit_code == 0, result.stderr
    page = _check_report(out, 1 + 4)  # fan, calibration, ratios, cumulative differential, training
    assert page.tables == 2
    text = out.read_text()
    assert "<caption>per fold</caption>" in text
    manifest = json.loads(next((tmp / "runs" / "backtests").glob("*/manifest.json")).read_text())
    assert all(f"<td>{fold['cutoff']}</td>" in text for fold in manifest["folds"])


def test_report_of_a_missing_run_exits_66_with_one_line(cli, folders):
    _, tmp = folders
    result = cli("report", "nope", "--runs", tmp / "runs")
    assert result.exit_code == 66 and "no run 'nope'" in result.stderr


def test_beyond_the_ticker_limit_the_report_shows_the_worst_and_the_best_by_pinball_ratio():
    tickers = [f"T{i}" for i in range(TICKER_LIMIT + 4)]
    ratio = {t: 0.8 + 0.05 * i for i, t in enumerate(tickers)}
    metrics = {t: {"model": {"h1": {"pinball_vs_naive": r}}} for t, r in ratio.items()}
    frame = pd.DataFrame({"ticker": tickers})
    source = Source("run", "x", frame, {"pooled": {}, **metrics}, (0.5,), {}, [], {})
    assert chosen_tickers(source) == ["T9", "T8", "T7", "T0", "T1", "T2"]
