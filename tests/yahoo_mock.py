"""An offline Yahoo Finance: a requests-mock adapter that serves chart-API JSON built from real prices.

yfinance is handed a `requests.Session` with this adapter mounted, so its real request and parsing
code runs; nothing leaves the machine (an unregistered URL raises instead of connecting).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd
import requests
import requests_mock

NEW_YORK = "America/New_York"
CHART_PATH = re.compile(r"/v8/finance/chart/(?P<symbol>[^/?]+)")


def bar_timestamp(day: pd.Timestamp) -> int:
    """Yahoo stamps a daily bar at the session's 09:30 open, exchange time."""
    return int(pd.Timestamp(day).tz_localize(NEW_YORK).replace(hour=9, minute=30).timestamp())


def chart_json(symbol: str, prices: pd.DataFrame) -> dict:
    """The chart API's reply for `prices` (columns date, open, high, low, close, adj_close, volume)."""
    timestamps = [bar_timestamp(d) for d in prices["date"]]
    last_ts = timestamps[-1] if timestamps else 0

    def values(name):
        return [None if pd.isna(v) else float(v) for v in prices[name]]

    period = {"timezone": "EST", "start": last_ts, "end": last_ts + 23400, "gmtoffset": -18000}
    meta = {
        "currency": "USD",
        "symbol": symbol,
        "exchangeName": "NMS",
        "fullExchangeName": "NasdaqGS",
        "instrumentType": "EQUITY",
        "firstTradeDate": timestamps[0] if timestamps else None,
        "regularMarketTime": last_ts,
        "hasPrePostMarketData": True,
        "gmtoffset": -18000,
        "timezone": "EST",
        "exchangeTimezoneName": NEW_YORK,
        "regularMarketPrice": float(prices["close"].iloc[-1]) if len(prices) else None,
        "chartPreviousClose": float(prices["close"].iloc[0]) if len(prices) else None,
        "priceHint": 2,
        "currentTradingPeriod": {"pre": period, "regular": period, "post": period},
        "dataGranularity": "1d",
        "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }
    quote = {
        "open": values("open"),
        "high": values("high"),
        "low": values("low"),
        "close": values("close"),
        "volume": [None if pd.isna(v) else int(v) for v in prices["volume"]],
    }
    result = {
        "meta": meta,
        "timestamp": timestamps,
        "indicators": {"quote": [quote], "adjclose": [{"adjclose": values("adj_close")}]},
    }
    return {"chart": {"result": [result], "error": None}}


NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}

QUOTE_NOT_FOUND = {
    "quoteSummary": {"result": None, "error": {"code": "Not Found", "description": "Quote not found"}}
}


@dataclass
class FakeYahoo:
    """Serves `histories[symbol]`; `faults[symbol]` is a list of failures consumed one per request."""

    histories: dict[str, pd.DataFrame] = field(default_factory=dict)
    faults: dict[str, list] = field(default_factory=dict)
    chart_requests: list[tuple[str, dict]] = field(default_factory=list)

    def session(self) -> requests.Session:
        adapter = requests_mock.Adapter()
        adapter.register_uri(requests_mock.ANY, requests_mock.ANY, text=self._respond)
        session = requests.Session()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def _respond(self, request, context) -> str:
        url = urlsplit(request.url)
        if url.hostname == "fc.yahoo.com":
            return ""
        if url.path.endswith("/v1/test/getcrumb"):
            return "offline-crumb"
        if "/quoteSummary/" in url.path:
            context.status_code = 404  # asked by yfinance only for symbols whose chart failed
            return json.dumps(QUOTE_NOT_FOUND)
        match = CHART_PATH.search(url.path)
        if not match:
            context.status_code = 404
            return "<html>not here</html>"
        symbol = unquote(match["symbol"])  # yfinance URL-encodes ^GSPC as %5EGSPC
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.chart_requests.append((symbol, query))
        pending = self.faults.get(symbol)
        if pending:
            fault = pending.pop(0)
            if isinstance(fault, Exception):
                raise fault
            context.status_code, body = fault
            return body
        if symbol not in self.histories:
            context.status_code = 404
            return json.dumps(NOT_FOUND)
        prices = self.histories[symbol]
        if "period1" in query:
            stamps = pd.Series([bar_timestamp(d) for d in prices["date"]], index=prices.index)
            end = int(query.get("period2", 2**40))
            prices = prices[(stamps >= int(query["period1"])) & (stamps < end)]
        elif query.get("range") == "1d":
            prices = prices.tail(1)
        return json.dumps(chart_json(symbol, prices))


RATE_LIMITED = (429, "Too Many Requests")


def reset_yfinance_process_state() -> None:
    """Forget yfinance's process-wide state (cache handles, crumb, response memo) between tests.

    A real stockrnn run is one process with one store; a test session is many stores in one process.
    """
    from yfinance import cache
    from yfinance.data import YfData

    for manager in (cache._TzCacheManager, cache._CookieCacheManager, cache._ISINCacheManager):
        for attribute in list(vars(manager)):
            if attribute.endswith("_cache") and not callable(getattr(manager, attribute)):
                setattr(manager, attribute, None)
    YfData.cache_get.cache_clear()
    YfData._instances.clear()
