"""Property-based fuzzing of the file importer: any input is stored exactly or refused with DataError."""

from __future__ import annotations

import math
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import store_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockrnn.data import fetching
from stockrnn.data.store import PriceStore
from stockrnn.errors import DataError

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

prices = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
row = st.tuples(prices, prices, prices, prices, prices, st.integers(min_value=0, max_value=10**12))


@st.composite
def valid_files(draw) -> tuple[str, list[tuple[date, tuple]]]:
    """A well-formed Yahoo-layout CSV: ascending unique dates, positive prices, whole volumes."""
    gaps = draw(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=40))
    day = date(1990, 1, 1) + timedelta(days=draw(st.integers(0, 12000)))
    rows = []
    for gap in gaps:
        day += timedelta(days=gap)
        rows.append((day, draw(row)))
    lines = [HEADER] + [
        f"{d.isoformat()},{o!r},{h!r},{lo!r},{c!r},{a!r},{v}" for d, (o, h, lo, c, a, v) in rows
    ]
    return "\n".join(lines) + "\n", rows


def import_or_refuse(store: PriceStore, path) -> None:
    """Import `path`; a refusal must be a DataError with a one-line message and leave the store as it was."""
    before = store_bytes(store)
    try:
        fetching.import_csv(store, path, "FUZZ", "csv:fuzz")
    except DataError as exc:
        assert "\n" not in str(exc)
        assert store_bytes(store) == before


@pytest.fixture
def seeded_store(tmp_path, sample_prices) -> PriceStore:
    store = PriceStore(tmp_path / "store")
    store.write("FUZZ", sample_prices("GOOG").iloc[:50], origin="test")
    return store


@FUZZ
@given(content=st.binary(max_size=2000))
def test_arbitrary_bytes_are_imported_or_refused_with_data_error(seeded_store, tmp_path, content):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    import_or_refuse(seeded_store, path)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("0123456789-.,:eE+ \nTZnaifNA")), max_size=400))
def test_csv_shaped_text_after_a_good_header_is_imported_or_refused(seeded_store, tmp_path, text):
    path = tmp_path / "fuzz.csv"
    path.write_text(HEADER + "\n" + text)
    import_or_refuse(seeded_store, path)


@FUZZ
@given(
    valid=valid_files(),
    position=st.integers(min_value=0),
    garbage=st.sampled_from(["", "x", "-1", "0", "inf", "1e999", ",", '"']),
)
def test_one_corrupted_cell_is_imported_or_refused(seeded_store, tmp_path, valid, position, garbage):
    text, _ = valid
    lines = text.splitlines()
    body = "\n".join(lines[1:])
    cut = position % (len(body) + 1)
    path = tmp_path / "fuzz.csv"
    path.write_text(lines[0] + "\n" + body[:cut] + garbage + body[cut:] + "\n")
    import_or_refuse(seeded_store, path)


@FUZZ
@given(valid=valid_files())
def test_every_valid_file_round_trips_exactly(tmp_path, valid):
    text, rows = valid
    path = tmp_path / "valid.csv"
    path.write_text(text)
    store = PriceStore(Path(tempfile.mkdtemp(dir=tmp_path)))  # one fresh store per example

    fetching.import_csv(store, path, "FUZZ", "csv:valid")

    stored = store.read("FUZZ")
    assert [d.date() for d in stored["date"]] == [d for d, _ in rows]
    expected = pd.DataFrame([values for _, values in rows], columns=["o", "h", "l", "c", "a", "v"])
    for column, name in zip(["open", "high", "low", "close", "adj_close"], "ohlca", strict=True):
        assert stored[column].tolist() == expected[name].tolist()
    assert [int(v) for v in stored["volume"]] == expected["v"].tolist()
    assert all(math.isfinite(v) for v in stored["close"])
