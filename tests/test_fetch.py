"""`stockrnn fetch` through yfinance's real parsing, served offline by tests/yahoo_mock.py."""

from __future__ import annotations

import functools
from datetime import date

import pandas as pd
import pytest
import requests
from conftest import store_bytes
from yahoo_mock import RATE_LIMITED, FakeYahoo, bar_timestamp

from stockrnn.data import fetching
from stockrnn.data.sources import yahoo
from stockrnn.data.sources.yahoo import YahooSource
from stockrnn.errors import TemporaryError

AFTER_CLOSE = pd.Timestamp("2013-03-01 17:00", tz="America/New_York")  # GOOG's last sample session


@pytest.fixture
def offline_yahoo(monkeypatch, store):
    """The CLI's YahooSource, wired to a FakeYahoo and a sleep that records instead of waiting."""
    fake = FakeYahoo()
    fake.sleeps = []
    monkeypatch.setattr(
        yahoo,
        "YahooSource",
        functools.partial(YahooSource, session=fake.session(), sleep=fake.sleeps.append),
    )
    return fake


def make_source(fake: FakeYahoo, store) -> YahooSource:
    return YahooSource(store.cache_dir, session=fake.session(), sleep=lambda seconds: None)


def test_new_ticker_is_stored_whole_with_yahoo_provenance(store, sample_prices):
    goog = sample_prices("GOOG")
    fake = FakeYahoo({"GOOG": goog})
    [outcome] = fetching.fetch_tickers(
        store, make_source(fake, store), ["GOOG"], None, None, "XNYS", AFTER_CLOSE
    )
    assert (outcome.status, outcome.rows_added) == ("new", 2148)
    stored = store.read("GOOG")
    for column in ("open", "high", "low", "close", "adj_close"):
        assert stored[column].tolist() == goog[column].tolist()
    assert stored["volume"].tolist() == goog["volume"].tolist()
    assert set(stored["source"]) == {"yahoo"}


def test_incremental_fetch_asks_from_just_before_the_last_session_and_appends(store, sample_prices):
    goog = sample_prices("GOOG")
    store.write("GOOG", goog.iloc[:-5], origin="test")
    before = store.read("GOOG")
    fake = FakeYahoo({"GOOG": goog})

    [outcome] = fetching.fetch_tickers(
        store, make_source(fake, store), ["GOOG"], None, None, "XNYS", AFTER_CLOSE
    )

    assert (outcome.status, outcome.rows_added) == ("updated", 5)
    history_requests = [q for symbol, q in fake.chart_requests if "period1" in q]
    last_stored = before["date"].iloc[-1]
    expected_start = bar_timestamp(last_stored - fetching.OVERLAP) - 9.5 * 3600  # midnight, New York
    assert [int(q["period1"]) for q in history_requests] == [expected_start]
    after = store.read("GOOG")
    assert after["date"].tolist() == goog["date"].tolist()
    assert after.iloc[:-5].drop(columns="fetched_at").equals(before.drop(columns="fetched_at"))


def test_restated_adjusted_close_refetches_the_whole_history(store, sample_prices):
    goog = sample_prices("GOOG")
    store.write("GOOG", goog.iloc[:-5], origin="test")
    restated = goog.assign(adj_close=goog["adj_close"] * 0.98)  # a dividend, as Yahoo re-adjusts
    fake = FakeYahoo({"GOOG": restated})

    [outcome] = fetching.fetch_tickers(
        store, make_source(fake, store), ["GOOG"], None, None, "XNYS", AFTER_CLOSE
    )

    assert (outcome.status, outcome.rows_added) == ("restated", 5)
    assert store.read("GOOG")["adj_close"].tolist() == restated["adj_close"].tolist()
    starts = [int(q["period1"]) for symbol, q in fake.chart_requests if "period1" in q]
    assert len(starts) == 2 and starts[1] < bar_timestamp(goog["date"].iloc[0])


def test_bar_of_a_session_still_trading_is_not_stored(store, sample_prices):
    goog = sample_prices("GOOG")
    store.write("GOOG", goog.iloc[:-1], origin="test")
    fake = FakeYahoo({"GOOG": goog})
    during_session = pd.Timestamp("2013-03-01 14:00", tz="America/New_York")

    [outcome] = fetching.fetch_tickers(
        store, make_source(fake, store), ["GOOG"], None, None, "XNYS", during_session
    )
    assert (outcome.status, outcome.rows_added) == ("up to date", 0)
    assert store.read("GOOG")["date"].iloc[-1] == pd.Timestamp("2013-02-28")

    [outcome] = fetching.fetch_tickers(
        store, make_source(fake, store), ["GOOG"], None, None, "XNYS", AFTER_CLOSE
    )
    assert (outcome.status, outcome.rows_added) == ("updated", 1)


def test_unknown_ticker_is_named_while_good_ones_are_stored(cli, store, sample_prices, offline_yahoo):
    offline_yahoo.histories.update({"GOOG": sample_prices("GOOG"), "KO": sample_prices("KO")})

    result = cli("fetch", "GOOG", "NOSUCH", "KO", "--store", store.root)

    assert result.exit_code == 75
    assert result.stderr.splitlines()[-1] == (
        "Error: 1 of 3 tickers not stored: NOSUCH (not found); the others were"
    )
    assert store.tickers() == ["GOOG", "KO"]
    assert offline_yahoo.sleeps == []  # an unknown symbol is not retried


def test_rate_limit_that_recovers_is_retried_with_backoff(cli, store, sample_prices, offline_yahoo):
    offline_yahoo.histories["GOOG"] = sample_prices("GOOG")
    offline_yahoo.faults["GOOG"] = [RATE_LIMITED, RATE_LIMITED, RATE_LIMITED, RATE_LIMITED]

    result = cli("fetch", "GOOG", "--store", store.root)

    assert result.exit_code == 0, result.stderr
    assert len(store.read("GOOG")) == 2148
    # yfinance retries a 4xx once itself, so four 429s cost us two attempts: waits 1s then 2s.
    assert offline_yahoo.sleeps == [1.0, 2.0]


def test_rate_limit_that_never_recovers_exits_75_and_keeps_the_store(
    cli, store, sample_prices, offline_yahoo
):
    store.write("KO", sample_prices("KO"), origin="test")
    before = store_bytes(store)
    offline_yahoo.histories["GOOG"] = sample_prices("GOOG")
    offline_yahoo.faults["GOOG"] = [RATE_LIMITED] * 100

    result = cli("fetch", "GOOG", "--store", store.root)

    assert result.exit_code == 75
    assert "GOOG (failed)" in result.stderr
    assert offline_yahoo.sleeps == [1.0, 2.0, 4.0, 8.0]  # five attempts, exponential waits
    assert store_bytes(store) == before


def test_network_error_is_retried_then_reported(cli, store, sample_prices, offline_yahoo):
    offline_yahoo.histories["GOOG"] = sample_prices("GOOG")
    offline_yahoo.faults["GOOG"] = [requests.exceptions.ConnectionError("connection refused")] * 100

    result = cli("fetch", "GOOG", "--store", store.root)

    assert result.exit_code == 75
    assert result.stderr.endswith(
        "Error: Yahoo unreachable: no connection; nothing fetched (1 ticker(s)); the next run catches up\n"
    )
    assert len(offline_yahoo.sleeps) == 4
    assert not store.has("GOOG")


def test_fetch_with_no_tickers_updates_every_stored_one(cli, store, sample_prices, offline_yahoo):
    for name in ("GOOG", "KO"):
        store.write(name, sample_prices(name).iloc[:-3], origin="test")
        offline_yahoo.histories[name] = sample_prices(name)

    result = cli("fetch", "--store", store.root)

    assert result.exit_code == 0, result.stderr
    assert {symbol for symbol, _ in offline_yahoo.chart_requests} == {"GOOG", "KO"}
    assert len(store.read("KO")) == 8313


def test_yfinance_caches_live_under_the_store_not_home(
    cli, store, sample_prices, offline_yahoo, isolated_home
):
    offline_yahoo.histories["GOOG"] = sample_prices("GOOG")
    assert cli("fetch", "GOOG", "--store", store.root).exit_code == 0
    assert any(store.cache_dir.iterdir())
    assert [p for p in isolated_home.rglob("*") if "yfinance" in p.name.lower()] == []


def test_explicit_start_and_end_are_passed_to_yahoo(store, sample_prices):
    fake = FakeYahoo({"GOOG": sample_prices("GOOG")})
    fetching.fetch_tickers(
        store, make_source(fake, store), ["GOOG"], date(2010, 1, 4), date(2010, 2, 1), "XNYS", AFTER_CLOSE
    )
    stored = store.read("GOOG")
    assert (stored["date"].iloc[0], stored["date"].iloc[-1]) == (
        pd.Timestamp("2010-01-04"),
        pd.Timestamp("2010-01-29"),
    )


NETWORK_FAULTS = {
    "read_timeout": requests.exceptions.ReadTimeout("read timed out"),
    "connect_timeout": requests.exceptions.ConnectTimeout("connect timed out"),
    "connection_refused": requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
    "http_500": (500, "Internal Server Error"),
    "http_502": (502, "<html>Bad Gateway</html>"),
    "http_503": (503, "Service Unavailable"),
    "rate_limited": RATE_LIMITED,
    "truncated_json": (200, '{"chart": {"result": [{"meta": {"currency": "USD", "sym'),
    "malformed_json": (200, '{"chart": {"result": [{"timestamp": "yesterday"}], "error": null}}'),
    "html_instead_of_json": (200, "<html><body>Will be right back</body></html>"),
}


@pytest.mark.parametrize("fault", sorted(NETWORK_FAULTS))
def test_network_fault_on_one_ticker_names_it_stores_the_others_and_exits_75(
    cli, store, sample_prices, offline_yahoo, fault
):
    for name in ("GOOG", "KO"):
        offline_yahoo.histories[name] = sample_prices(name)
    offline_yahoo.faults["GOOG"] = [NETWORK_FAULTS[fault]] * 100

    result = cli("fetch", "GOOG", "KO", "--store", store.root)

    assert result.exit_code == 75
    assert (
        result.stderr.splitlines()[-1] == "Error: 1 of 2 tickers not stored: GOOG (failed); the others were"
    )
    assert "Traceback" not in result.output
    assert store.tickers() == ["KO"]
    assert offline_yahoo.sleeps == [1.0, 2.0, 4.0, 8.0]  # retried with backoff, 15 s of waiting in all


@pytest.mark.parametrize("fault", sorted(NETWORK_FAULTS))
def test_network_fault_that_clears_is_retried_and_the_ticker_stored(
    cli, store, sample_prices, offline_yahoo, fault
):
    offline_yahoo.histories["GOOG"] = sample_prices("GOOG")
    offline_yahoo.faults["GOOG"] = [NETWORK_FAULTS[fault]] * 2

    result = cli("fetch", "GOOG", "--store", store.root)

    assert result.exit_code == 0, result.stderr
    assert len(store.read("GOOG")) == 2148
    assert 1 <= len(offline_yahoo.sleeps) <= 2


def test_empty_reply_for_one_ticker_of_many_names_it_and_stores_the_rest(
    cli, store, sample_prices, offline_yahoo
):
    for name in ("GOOG", "KO", "AAPL"):
        offline_yahoo.histories[name] = sample_prices(name)
    offline_yahoo.histories["KO"] = sample_prices("KO").iloc[:0]

    result = cli("fetch", "GOOG", "KO", "AAPL", "--store", store.root)

    assert result.exit_code == 75
    assert (
        result.stderr.splitlines()[-1] == "Error: 1 of 3 tickers not stored: KO (not found); the others were"
    )
    assert store.tickers() == ["AAPL", "GOOG"]


def test_total_retry_time_is_bounded_even_when_each_wait_is_allowed(store, sample_prices):
    fake = FakeYahoo({"GOOG": sample_prices("GOOG")}, faults={"GOOG": [(503, "down")] * 100})
    waited = []
    source = YahooSource(
        store.cache_dir, session=fake.session(), max_attempts=50, max_total_wait_s=0.0, sleep=waited.append
    )
    with pytest.raises(TemporaryError, match=r"GOOG: .* \(gave up after 1 attempts\)"):
        source.history("GOOG")
    assert waited == []


def test_quiet_fetch_that_fails_prints_only_the_error_line_naming_the_failed_tickers(
    cli, store, sample_prices, offline_yahoo
):
    for name in ("GOOG", "KO"):
        offline_yahoo.histories[name] = sample_prices(name)
    offline_yahoo.faults["GOOG"] = [NETWORK_FAULTS["http_500"]] * 100

    result = cli("--quiet", "fetch", "GOOG", "KO", "--store", store.root)

    assert result.exit_code == 75
    assert result.stderr == "Error: 1 of 2 tickers not stored: GOOG (failed); the others were\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (
            ["--start", "2020-01-10", "--end", "2020-01-01"],
            "--start 2020-01-10 is not before --end 2020-01-01",
        ),
        (["--start", "2999-01-01"], "--start 2999-01-01 is in the future"),
    ],
)
def test_impossible_date_ranges_are_usage_errors_at_once(cli, store, offline_yahoo, dates, message):
    result = cli("fetch", "GOOG", *dates, "--store", store.root)
    assert (
        result.exit_code == 2
        and result.stderr == f"Error: {message}; no sessions to fetch yet\n"
        or (result.exit_code == 2 and message in result.stderr)
    )
    assert offline_yahoo.sleeps == []


def test_from_csv_without_ticker_is_a_usage_error(cli, store, tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("Date,Close\n2020-01-02,1.0\n")
    result = cli("fetch", "--from-csv", csv, "--store", store.root)
    assert result.exit_code == 2 and "--from-csv FILE and --ticker NAME go together" in result.stderr


def test_an_unreachable_yahoo_trips_the_breaker_after_two_tickers_and_exits_75(
    cli, store, sample_prices, offline_yahoo
):
    names = ["GOOG", "KO", "AAPL", "JPM", "XOM"]
    for name in names:
        offline_yahoo.histories[name] = sample_prices(name)
        offline_yahoo.faults[name] = [
            requests.exceptions.ConnectionError("[Errno 101] Network is unreachable")
        ] * 100

    result = cli("fetch", *names, "--store", store.root)

    assert result.exit_code == 75
    assert {symbol for symbol, _ in offline_yahoo.chart_requests} == {"GOOG", "KO"}  # the rest never tried
    assert len(offline_yahoo.sleeps) == 8  # two tickers' retries, not five
    assert "yahoo is unreachable; not trying the other 3 ticker(s)" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: Yahoo unreachable: no connection; nothing fetched (5 ticker(s)); the next run catches up"
    )


def test_a_name_that_does_not_resolve_trips_the_breaker_at_once(
    cli, store, sample_prices, offline_yahoo, tmp_path
):
    for name in ("GOOG", "KO"):
        offline_yahoo.histories[name] = sample_prices(name)
        offline_yahoo.faults[name] = [
            requests.exceptions.ConnectionError(
                "NameResolutionError: Failed to resolve 'query2.finance.yahoo.com'"
            )
        ] * 100
    result = cli("--quiet", "--log-file", tmp_path / "log", "fetch", "GOOG", "KO", "--store", store.root)
    assert result.exit_code == 75
    assert {symbol for symbol, _ in offline_yahoo.chart_requests} == {"GOOG"}
    assert offline_yahoo.sleeps == []  # no DNS: no retries, the run ends at once
    assert result.stderr == (  # what cron mails: the cause, once
        "Error: Yahoo unreachable: host name does not resolve; nothing fetched (2 ticker(s)); "
        "the next run catches up\n"
    )
    log = (tmp_path / "log").read_text()
    assert log.count("fetch GOOG: failed") == 1 and log.count("fetch KO: not tried") == 1
    assert "retrying" not in log


def test_the_breaker_stays_closed_once_a_ticker_was_fetched(cli, store, sample_prices, offline_yahoo):
    for name in ("GOOG", "KO", "AAPL"):
        offline_yahoo.histories[name] = sample_prices(name)
    for name in ("KO", "AAPL"):
        offline_yahoo.faults[name] = [requests.exceptions.ConnectionError("connection refused")] * 100
    result = cli("fetch", "GOOG", "KO", "AAPL", "--store", store.root)
    assert result.exit_code == 75
    assert {symbol for symbol, _ in offline_yahoo.chart_requests} == {"GOOG", "KO", "AAPL"}  # all tried
    assert store.tickers() == ["GOOG"]


def test_every_retry_is_logged_to_the_log_file(cli, store, sample_prices, offline_yahoo, tmp_path):
    offline_yahoo.histories["GOOG"] = sample_prices("GOOG")
    offline_yahoo.faults["GOOG"] = [requests.exceptions.ReadTimeout("read timed out")] * 2
    log_file = tmp_path / "fetch.log"
    result = cli("--quiet", "--log-file", log_file, "fetch", "GOOG", "--store", store.root)
    assert result.exit_code == 0, result.stderr
    text = log_file.read_text()
    assert "GOOG: attempt 1 failed (ReadTimeout: read timed out); retrying in 1 s" in text
    assert "GOOG: attempt 2 failed" in text


def test_the_sample_remembers_that_yahoo_calls_gspc_caret_gspc(cli, store, sample_prices, offline_yahoo):
    """The cron form `stockrnn fetch` after `fetch --sample` must ask Yahoo for ^GSPC, not GSPC."""
    from urllib.parse import unquote

    assert cli("fetch", "--sample", "--store", store.root).exit_code == 0
    for name in store.tickers():
        offline_yahoo.histories["^GSPC" if name == "GSPC" else name] = sample_prices(name)

    result = cli("fetch", "--store", store.root)

    assert result.exit_code == 0, result.stderr
    asked = {unquote(symbol) for symbol, _ in offline_yahoo.chart_requests}
    assert "^GSPC" in asked and "GSPC" not in asked
    assert store.source_symbol("GSPC") == "^GSPC" and store.source_symbol("KO") == "KO"
    assert "GSPC" in store.tickers() and "^GSPC" not in store.tickers()  # stored under its own name
