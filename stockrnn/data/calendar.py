"""Exchange sessions (exchange-calendars): which sessions have closed, and which comes next."""

from __future__ import annotations

import warnings
from functools import lru_cache, wraps

import pandas as pd

from stockrnn.errors import ConfigError, DataError

# Far enough back for the bundled sample (1990) and most listed histories.
_CALENDAR_START = "1980-01-01"


def _quietly(function):
    """exchange-calendars emits pandas deprecation warnings; a cron run must not print them."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(*args, **kwargs)

    return wrapper


@lru_cache(maxsize=8)
@_quietly
def get_calendar(name: str):
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(name, start=_CALENDAR_START)
    except xcals.errors.InvalidCalendarName:
        raise ConfigError(
            f"exchange calendar {name!r} is unknown; use an ISO MIC such as XNYS, XLON or XTKS"
        ) from None


def _check_in_bounds(calendar, day: pd.Timestamp) -> None:
    if not (calendar.first_session <= day <= calendar.last_session):
        raise DataError(
            f"{day.date()} lies outside the {calendar.name} calendar "
            f"({calendar.first_session.date()} .. {calendar.last_session.date()}), so its sessions are "
            "unknown; use prices inside that range"
        )


@_quietly
def last_closed_session(name: str, now: pd.Timestamp) -> pd.Timestamp:
    """The newest session whose close is at or before `now` (a tz-aware instant)."""
    calendar = get_calendar(name)
    previous_close = calendar.previous_close(now + pd.Timedelta(microseconds=1))
    return calendar.minute_to_session(previous_close, direction="previous").tz_localize(None)


@_quietly
def next_session(name: str, day: pd.Timestamp) -> pd.Timestamp:
    """The first session after `day`: what a forecast made with `day`'s close is for."""
    calendar = get_calendar(name)
    day = pd.Timestamp(day).normalize()
    _check_in_bounds(calendar, day)
    # The first session strictly after `day`, whether or not `day` itself is one.
    return calendar.date_to_session(day + pd.Timedelta(days=1), direction="next")


@_quietly
def sessions_between(name: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """Sessions from `first` to `last`, both included."""
    calendar = get_calendar(name)
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    _check_in_bounds(calendar, first)
    _check_in_bounds(calendar, last)
    return calendar.sessions_in_range(first, last)


@_quietly
def sessions_after(name: str, day: pd.Timestamp, count: int) -> pd.DatetimeIndex:
    """The `count` sessions after `day` (holidays skipped): what forecasts for horizons 1..count are for."""
    calendar = get_calendar(name)
    day = pd.Timestamp(day).normalize()
    _check_in_bounds(calendar, day)
    first = calendar.date_to_session(day + pd.Timedelta(days=1), direction="next")
    following = calendar.sessions_window(first, count)
    if len(following) < count:
        raise DataError(f"the {calendar.name} calendar ends before {count} sessions after {day.date()}")
    return following
