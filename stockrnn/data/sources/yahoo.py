"""Daily prices from Yahoo Finance through yfinance: the project's only yfinance import."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from stockrnn.data.sources import YAHOO_COLUMNS
from stockrnn.data.store import PRICE_COLUMNS
from stockrnn.errors import DataError, TemporaryError, Unreachable

log = logging.getLogger(__name__)


class TickerNotFound(Exception):
    """Yahoo has no prices for the symbol: unknown, delisted, or nothing in the range."""


class _Transient(Exception):
    """A failure worth retrying (rate limit, network, malformed reply)."""


class _Unreachable(_Transient):
    """No connection at all: refused or no route (worth a retry: the link may come back)."""


class _Unresolvable(Exception):
    """The host name did not resolve: no DNS means no network here; retrying only costs time."""


# How requests, urllib3 and curl_cffi word a name that did not resolve.
NAME_NOT_RESOLVED = (
    "NameResolutionError",
    "Failed to resolve",
    "getaddrinfo",
    "Name or service not known",
    "nodename nor servname",
    "Could not resolve host",
    "Temporary failure in name resolution",
)


def _is_connection_failure(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectionError", "ConnectTimeout", "DNSError"}) and "Read timed out" not in str(
        exc
    )


class _ForwardToOurLogger(logging.Handler):
    """yfinance logs per-ticker errors itself; we report outcomes ourselves, so keep its at debug."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("yfinance: %s", record.getMessage())


def _configure_yfinance(cache_dir: Path) -> None:
    import yfinance as yf
    from yfinance.config import YfConfig

    cache_dir.mkdir(parents=True, exist_ok=True)
    yf.set_tz_cache_location(str(cache_dir))
    YfConfig.debug.hide_exceptions = False  # raise, so a 429 is told apart from an unknown symbol
    YfConfig.network.retries = 0  # retries are ours, bounded in count and total time
    yf_logger = logging.getLogger("yfinance")
    yf_logger.handlers = [_ForwardToOurLogger()]
    yf_logger.propagate = False
    yf_logger.setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.WARNING)


def _classify(exc: BaseException) -> BaseException:
    from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTzMissingError

    if isinstance(exc, (YFPricesMissingError, YFTzMissingError)):
        return TickerNotFound(str(exc))
    response = getattr(exc, "response", None)
    if response is not None and response.status_code == 404:
        # yfinance asks quoteSummary for a timezone when the chart has none; Yahoo answers 404.
        return TickerNotFound(f"Yahoo knows no symbol at {response.url.split('?')[0]}")
    if isinstance(exc, YFRateLimitError):
        return _Transient("rate limited by Yahoo (HTTP 429)")
    if _is_connection_failure(exc):
        if any(text in str(exc) for text in NAME_NOT_RESOLVED):
            return _Unresolvable("host name does not resolve")
        return _Unreachable(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (OSError, ValueError, KeyError, TypeError)):
        # requests' and curl_cffi's network errors are OSErrors; a truncated or malformed
        # reply surfaces as a JSON ValueError or a missing key inside yfinance's parser.
        return _Transient(f"{type(exc).__name__}: {exc}")
    return exc


def _log_retry(ticker: str):
    """Every retry in the log (--log-file keeps it even under --quiet): what failed, when again."""

    def before_sleep(state) -> None:
        log.info(
            "%s: attempt %d failed (%s); retrying in %.0f s",
            ticker,
            state.attempt_number,
            state.outcome.exception(),
            state.next_action.sleep if state.next_action else 0.0,
        )

    return before_sleep


class YahooSource:
    """Downloads daily bars; retries rate limits and network errors with exponential backoff."""

    name = "yahoo"

    def __init__(
        self,
        cache_dir: Path,
        session=None,
        max_attempts: int = 5,
        max_total_wait_s: float = 120.0,
        timeout_s: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        _configure_yfinance(Path(cache_dir))
        self.session = session
        self.max_attempts = max_attempts
        self.max_total_wait_s = max_total_wait_s
        self.timeout_s = timeout_s
        self.sleep = sleep

    def _download_once(self, ticker: str, start: date | None, end: date | None) -> pd.DataFrame:
        import yfinance as yf
        from yfinance.data import YfData

        # yfinance memoizes the reply of its timezone lookup, a bad one included (a 200 carrying an
        # HTML error page): without this every retry would parse the same bad reply again.
        YfData.cache_get.cache_clear()
        try:
            with warnings.catch_warnings():
                # yfinance's own pandas deprecation warnings are not ours to print from cron.
                warnings.simplefilter("ignore")
                bars = yf.Ticker(ticker, session=self.session).history(
                    period="max" if start is None and end is None else None,
                    start=start,
                    end=end,
                    interval="1d",
                    auto_adjust=False,
                    back_adjust=False,
                    actions=False,
                    repair=False,
                    keepna=False,
                    prepost=False,
                    rounding=False,
                    timeout=self.timeout_s,
                )
        except Exception as exc:  # noqa: BLE001 - mapped to our two outcomes just below
            raise _classify(exc) from exc
        if bars is None or bars.empty:
            raise TickerNotFound(f"Yahoo returned no prices for {ticker}")
        return bars

    def history(self, ticker: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
        """Daily bars from `start` (inclusive) to `end` (exclusive), in the store's schema."""
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_total_wait_s),
            wait=wait_exponential(multiplier=1, min=1, max=30),
            sleep=self.sleep,
            reraise=False,
            before_sleep=_log_retry(ticker),
        )
        try:
            bars = retrying(self._download_once, ticker, start, end)
        except _Unresolvable as exc:
            raise Unreachable(f"{ticker}: {exc}", name_not_resolved=True) from None
        except RetryError as exc:
            last = exc.last_attempt.exception()
            message = f"{ticker}: {last} (gave up after {exc.last_attempt.attempt_number} attempts)"
            if isinstance(last, _Unreachable):
                raise Unreachable(message) from None
            raise TemporaryError(message) from None
        return self._to_store_schema(ticker, bars)

    def _to_store_schema(self, ticker: str, bars: pd.DataFrame) -> pd.DataFrame:
        missing = [label for label in ("Close",) if label not in bars.columns]
        if missing:
            raise DataError(f"{ticker}: Yahoo's reply has no {missing[0]} column ({list(bars.columns)})")
        index = pd.DatetimeIndex(bars.index)
        if index.tz is not None:
            index = index.tz_localize(None)  # bars are stamped at midnight, exchange time
        prices = pd.DataFrame({"date": index.normalize().astype("datetime64[ns]")})
        for label, name in YAHOO_COLUMNS.items():
            column = bars[label].to_numpy(dtype="float64") if label in bars.columns else float("nan")
            prices[name] = column
        prices["volume"] = prices["volume"].round().astype("Int64")
        prices["source"] = self.name
        prices["fetched_at"] = pd.Timestamp.now(tz="UTC")
        return prices[PRICE_COLUMNS].reset_index(drop=True)
