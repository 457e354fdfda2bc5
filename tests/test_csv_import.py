"""`stockrnn fetch --from-csv`: Yahoo-layout and close-only files in; every bad file out, store intact."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE, store_bytes

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
GOOD_ROWS = "2024-01-02,10,11,9,10.5,10.4,1000\n2024-01-03,10.5,12,10,11.5,11.4,2000\n"


def test_yahoo_layout_file_imports_every_column(cli, store):
    result = cli("fetch", "--from-csv", SAMPLE / "GOOG.csv", "--ticker", "goog", "--store", store.root)
    assert result.exit_code == 0, result.stderr
    prices = store.read("GOOG")
    assert len(prices) == 2148
    first = prices.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        100.0,
        104.06,
        95.96,
        100.34,
        22351900,
    )
    assert first["source"] == "csv:GOOG.csv"


def test_close_only_file_imports_with_empty_ohlv(cli, store):
    result = cli("fetch", "--from-csv", SAMPLE / "KO.csv", "--ticker", "KO", "--store", store.root)
    assert result.exit_code == 0, result.stderr
    prices = store.read("KO")
    assert len(prices) == 8313
    assert prices[["open", "high", "low", "adj_close"]].isna().all().all()
    assert prices["volume"].isna().all()
    first_line = (SAMPLE / "KO.csv").read_text().splitlines()[1]
    assert first_line == f"1990-01-02,{prices['close'].iloc[0]}"


def test_importing_again_adds_only_new_dates(cli, store, tmp_path):
    first = tmp_path / "a.csv"
    first.write_text(HEADER + GOOD_ROWS)
    later = tmp_path / "b.csv"
    later.write_text(HEADER + GOOD_ROWS + "2024-01-04,11,12,10,11,11,500\n")
    assert cli("fetch", "--from-csv", first, "--ticker", "X", "--store", store.root).exit_code == 0
    result = cli("fetch", "--from-csv", later, "--ticker", "X", "--store", store.root)
    assert result.exit_code == 0
    assert re.search(r"│ X +│ imported +│ +1 │ 2024-01-02 │ 2024-01-04 │", result.stdout)
    assert len(store.read("X")) == 3


BAD = Path(__file__).parent / "data" / "bad"
# Every file in tests/data/bad and the problem its one-line error must name.
BAD_FILES = {
    "empty.csv": "the file is empty",
    "header_only.csv": "has a header but no rows",
    "missing_close.csv": "missing column(s) Close",
    "wrong_columns.csv": "missing column(s) Date, Close",
    "non_numeric.csv": "line 2: Close 'abc' is not a number",
    "zero_price.csv": "line 4: open 0.0 is not a positive",
    "negative_price.csv": "line 2: close -3.0 is not a positive",
    "nan.csv": "line 2: close is missing",
    "inf.csv": "line 2: high inf is not a positive finite",
    "duplicate_dates.csv": "line 4: date 2024-01-03 appears more than once",
    "unsorted.csv": "line 3: date 2024-01-02 comes after 2024-01-03",
    "bad_date.csv": "line 2: Date '2024-13-45' is not",
    # -05:00 and +01:00 midnights are both 2 January in New York: the second row repeats the session.
    "mixed_time_zones.csv": "line 3: date 2024-01-02 appears more than once",
    "semicolons.csv": "fields are separated by ';', not ','",
    "newest_first.csv": "the rows are newest-first (2024-01-04 first, 2024-01-02 last); sort them oldest-first",
    "not_utf8.csv": "is not UTF-8 text",
    "ragged.csv": "line 2: 3 fields, the header has 7",
    "fractional_volume.csv": "Volume 1.5 is not a whole number",
    "wrong_dtypes.parquet": "column Close has type string; expected a number",
    "negative_price.parquet": "row 2: close -1.0 is not a positive",
    "truncated.parquet": "unreadable Parquet file",
    "random_10mb.bin": "is not UTF-8 text",
    "huge_volume.csv": "line 3: volume 9.223372036854776e+18 is too large to store",
    "huge_price.csv": "line 2: close 1e+308 is above 1e+12, beyond any real price",
    "ancient_date.csv": "line 2: Date '1600-01-03' is outside 1678-2261",
    "far_future_date.csv": "line 2: Date '2300-01-03' is outside 1678-2261",
}


@pytest.fixture(scope="session")
def random_10mb(tmp_path_factory) -> Path:
    """Generated, not committed: ten megabytes of seeded random bytes."""
    path = tmp_path_factory.mktemp("bad") / "random_10mb.bin"
    path.write_bytes(np.random.default_rng(0).bytes(10 * 2**20))
    return path


def test_the_bad_corpus_holds_exactly_the_cases_this_file_checks():
    assert sorted(p.name for p in BAD.iterdir() if p.name != "README.md") == sorted(
        name for name in BAD_FILES if name != "random_10mb.bin"
    )


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_exits_65_with_one_line_and_store_unchanged(cli, store, tmp_path, random_10mb, case):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + GOOD_ROWS)
    assert cli("fetch", "--from-csv", good, "--ticker", "X", "--store", store.root).exit_code == 0
    before = store_bytes(store)
    bad = random_10mb if case == "random_10mb.bin" else BAD / case

    result = cli("fetch", "--from-csv", bad, "--ticker", "X", "--store", store.root)

    assert result.exit_code == 65
    assert result.stderr.startswith(f"Error: {bad}")
    assert BAD_FILES[case] in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert store_bytes(store) == before


def test_parquet_in_yahoo_layout_imports_like_the_same_csv(cli, store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_file = tmp_path / "x.csv"
    csv_file.write_text(HEADER + GOOD_ROWS)
    parquet_file = tmp_path / "y.parquet"
    frame = pd.read_csv(csv_file, parse_dates=["Date"])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet_file)

    assert cli("fetch", "--from-csv", csv_file, "--ticker", "X", "--store", store.root).exit_code == 0
    assert cli("fetch", "--from-csv", parquet_file, "--ticker", "Y", "--store", store.root).exit_code == 0

    columns = ["date", "open", "high", "low", "close", "adj_close", "volume"]
    assert store.read("X")[columns].equals(store.read("Y")[columns])


def test_missing_csv_file_exits_66(cli, store, tmp_path):
    result = cli("fetch", "--from-csv", tmp_path / "nope.csv", "--ticker", "X", "--store", store.root)
    assert result.exit_code == 66
    assert result.stderr == f"Error: CSV file {tmp_path / 'nope.csv'} does not exist\n"


def test_timestamped_dates_with_one_offset_keep_the_session_date(cli, store, tmp_path):
    path = tmp_path / "stamped.csv"
    path.write_text(HEADER + "2024-01-02 00:00:00-05:00,1,1,1,1,1,1\n2024-01-03 00:00:00-05:00,1,1,1,2,2,1\n")
    assert cli("fetch", "--from-csv", path, "--ticker", "X", "--store", store.root).exit_code == 0
    assert [d.date().isoformat() for d in store.read("X")["date"]] == ["2024-01-02", "2024-01-03"]


def _closes(store, ticker):
    prices = store.read(ticker)
    return [d.date().isoformat() for d in prices["date"]], prices["close"].tolist()


def test_yf_download_to_csv_with_its_three_header_lines_imports(cli, store, tmp_path):
    """The file yf.download(..., auto_adjust=False).to_csv() writes: (Price, Ticker) column levels."""
    columns = pd.MultiIndex.from_product(
        [["Adj Close", "Close", "High", "Low", "Open", "Volume"], ["AAPL"]], names=["Price", "Ticker"]
    )
    index = pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="Date")
    frame = pd.DataFrame(
        [[184.5, 185.6, 188.4, 183.9, 187.1, 82488700], [183.1, 184.2, 185.9, 183.4, 184.2, 58414500]],
        index=index,
        columns=columns,
    )
    path = tmp_path / "download.csv"
    frame.to_csv(path)
    assert path.read_text().splitlines()[:3] == [
        "Price,Adj Close,Close,High,Low,Open,Volume",
        "Ticker,AAPL,AAPL,AAPL,AAPL,AAPL,AAPL",
        "Date,,,,,,",
    ]
    result = cli("fetch", "--from-csv", path, "--ticker", "AAPL", "--store", store.root)
    assert result.exit_code == 0, result.stderr
    assert _closes(store, "AAPL") == (["2024-01-02", "2024-01-03"], [185.6, 184.2])
    assert store.read("AAPL")["adj_close"].tolist() == [184.5, 183.1]
    bad = path.read_text().replace("185.6", "abc")
    path.write_text(bad)
    result = cli("fetch", "--from-csv", path, "--ticker", "AAPL", "--store", store.root)
    assert "line 4: Close 'abc' is not a number" in result.stderr  # line numbers count all 3 header lines


def test_ticker_history_to_csv_across_daylight_saving_keeps_each_session_date(cli, store, tmp_path):
    """Ticker.history().to_csv(): local New York timestamps whose offset moves from -05:00 to -04:00
    on 2024-03-10, and Dividends / Stock Splits columns."""
    index = pd.DatetimeIndex(["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"], name="Date")
    index = index.tz_localize("America/New_York")
    frame = pd.DataFrame(
        {
            "Open": [1.0, 2, 3, 4],
            "High": [1.0, 2, 3, 4],
            "Low": [1.0, 2, 3, 4],
            "Close": [1.0, 2, 3, 4],
            "Volume": [10, 20, 30, 40],
            "Dividends": 0.0,
            "Stock Splits": 0.0,
        },
        index=index,
    )
    path = tmp_path / "history.csv"
    frame.to_csv(path)
    text = path.read_text()
    assert "2024-03-08 00:00:00-05:00" in text and "2024-03-11 00:00:00-04:00" in text
    result = cli("fetch", "--from-csv", path, "--ticker", "X", "--store", store.root)
    assert result.exit_code == 0, result.stderr
    assert _closes(store, "X") == (
        ["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"],
        [1.0, 2.0, 3.0, 4.0],
    )


def test_lower_case_headers_a_trailing_blank_line_and_gzip_import(cli, store, tmp_path):
    import gzip

    text = "date,open,high,low,close,adj_close,volume\n" + GOOD_ROWS + "\n\n"
    plain = tmp_path / "lower.csv"
    plain.write_text(text)
    zipped = tmp_path / "lower.csv.gz"
    zipped.write_bytes(gzip.compress(text.encode()))
    for ticker, path in (("A", plain), ("B", zipped)):
        result = cli("fetch", "--from-csv", path, "--ticker", ticker, "--store", store.root)
        assert result.exit_code == 0, result.stderr
        assert _closes(store, ticker) == (["2024-01-02", "2024-01-03"], [10.5, 11.5])


def _import(cli, store, path, *extra):
    return cli("fetch", "--from-csv", path, "--ticker", "X", "--store", store.root, *extra)


def test_an_overlap_that_differs_is_a_conflict_named_by_date_and_replace_lets_the_file_win(
    cli, store, tmp_path
):
    first = tmp_path / "first.csv"
    first.write_text(HEADER + GOOD_ROWS)
    assert _import(cli, store, first).exit_code == 0
    before = store_bytes(store)
    changed = tmp_path / "changed.csv"
    changed.write_text(HEADER + "2024-01-03,10.5,12,10,11.9,11.8,2000\n2024-01-04,11,12,10,11,10.9,100\n")

    refused = _import(cli, store, changed)

    assert refused.exit_code == 65
    assert (
        "1 session(s) differ from the stored X, first 2024-01-03 (close: stored 11.5, file 11.9)"
        in refused.stderr
    )
    assert "pass --replace" in refused.stderr and store_bytes(store) == before
    assert _import(cli, store, changed, "--replace").exit_code == 0
    prices = store.read("X")
    assert prices["close"].tolist() == [10.5, 11.9, 11.0]


def test_an_overlap_that_agrees_adds_only_the_new_sessions(cli, store, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(HEADER + GOOD_ROWS)
    assert _import(cli, store, first).exit_code == 0
    more = tmp_path / "more.csv"
    more.write_text(HEADER + GOOD_ROWS + "2024-01-04,11,12,10,11,10.9,100\n")
    assert _import(cli, store, more).exit_code == 0
    assert store.read("X")["close"].tolist() == [10.5, 11.5, 11.0]


def test_close_only_rows_after_an_ohlcv_history_are_refused_naming_the_columns(cli, store, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(HEADER + GOOD_ROWS)
    assert _import(cli, store, first).exit_code == 0
    before = store_bytes(store)
    close_only = tmp_path / "close_only.csv"
    close_only.write_text("Date,Close\n2024-01-04,11\n")
    result = _import(cli, store, close_only)
    assert result.exit_code == 65
    assert "mixes close-only rows with Open/High/Low/Volume rows" in result.stderr
    assert "the stored X has Open, High, Low, Close and Volume" in result.stderr
    assert store_bytes(store) == before


def test_a_ninety_percent_drop_the_adjusted_close_does_not_explain_is_warned_at_import_and_train(
    cli, store, tmp_path, caplog
):
    from synthetic import ar1_returns, prices_from_returns

    from stockrnn.config.loading import load_config
    from stockrnn.dataset.prepare import prepare_training_data

    prices = prices_from_returns(ar1_returns(300, phi=0.0, seed=2))
    prices.loc[200:, "close"] /= 10  # an unadjusted 10:1 split on the 201st session
    split_day = prices["date"].iloc[200].date()
    path = tmp_path / "split.csv"
    prices[["date", "close"]].rename(columns={"date": "Date", "close": "Close"}).to_csv(path, index=False)
    result = cli("fetch", "--from-csv", path, "--ticker", "SPLIT", "--store", store.root)
    assert result.exit_code == 0, result.stderr
    # The split's 0.1 times that session's own return.
    assert re.search(
        rf"SPLIT: the price moves x0\.09\d+ on {split_day} \(more than 3x in a session\)", result.stderr
    )
    config = load_config(None, ["data.tickers=['SPLIT']", "features.lookback=10"])
    logger = logging.getLogger("stockrnn")  # the CLI above set it not to propagate: listen on it directly
    logger.addHandler(caplog.handler)
    try:
        prepare_training_data(config, store)
    finally:
        logger.removeHandler(caplog.handler)
    assert re.search(rf"SPLIT: the price moves x0\.09\d+ on {split_day}", caplog.text)


def test_a_split_the_adjusted_close_explains_is_not_warned(cli, store, tmp_path):
    lines = ["2024-01-02,100,100,100,100,10,1", "2024-01-03,10,10,10,10,10,1", "2024-01-04,10,10,10,10,10,1"]
    path = tmp_path / "adjusted.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    result = _import(cli, store, path)
    assert result.exit_code == 0 and "moves" not in result.stderr
