"""Shared fixtures: an isolated environment per test, no network, the real sample prices."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from stockrnn.data.sources.csv import read_yahoo_csv  # noqa: E402
from stockrnn.data.store import PriceStore  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """A test that tries to reach a real host fails instead of hanging or leaking traffic."""

    connect = socket.socket.connect

    def refuse(self, address, *args, **kwargs):
        if self is not None and self.family == socket.AF_UNIX:  # a local pipe (multiprocessing), not a host
            return connect(self, address, *args, **kwargs)
        raise AssertionError(f"test tried to open a network connection to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every default location points into the test's own folder, never the user's."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    for name in ("STOCKRNN_STORE", "STOCKRNN_RUNS", "STOCKRNN_FORECASTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture(autouse=True)
def fresh_yfinance():
    from yahoo_mock import reset_yfinance_process_state

    reset_yfinance_process_state()
    yield
    reset_yfinance_process_state()


@pytest.fixture
def sample_prices():
    """Real daily prices from the bundled sample, in the store's schema."""

    def load(name: str) -> pd.DataFrame:
        return read_yahoo_csv(SAMPLE / f"{name}.csv", "sample", pd.Timestamp("2026-01-01", tz="UTC"))

    return load


@pytest.fixture
def store(tmp_path) -> PriceStore:
    return PriceStore(tmp_path / "store")


class Cli:
    """Runs `stockrnn ...` in-process and keeps stdout and stderr apart."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str):
        from stockrnn.cli.commands import app

        return self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


def store_bytes(store: PriceStore) -> dict[str, bytes]:
    """Every file under the store's prices/ folder, for byte-exact before/after comparisons."""
    if not store.prices_dir.exists():
        return {}
    return {
        str(p.relative_to(store.root)): p.read_bytes()
        for p in sorted(store.prices_dir.rglob("*"))
        if p.is_file()
    }


def saved_before_checksums(run_dir) -> None:
    """Make a run look like one saved before runs carried checksums (which would catch any edit
    first), so that a test can reach the checks behind them."""
    import json

    manifest_file = run_dir / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest.pop("checksum", None)
    manifest.pop("weights_sha256", None)
    manifest_file.write_text(json.dumps(manifest))
