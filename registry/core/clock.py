"""The registry's notion of "today" and "now".

The scheme lives in Suzhou, so a calendar date is a date in China Standard
Time (UTC+8): a certificate issued at 07:00 in Suzhou is issued "today" there
even though it is still yesterday in UTC. ``SZZZ_TODAY`` (YYYY-MM-DD) pins the
date for tests and reproducible demos. Published files take their time from
``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) or from the
registry itself, never from the wall clock (see :func:`build_time`).
"""

from __future__ import annotations

import datetime
import os

from registry.core.exceptions import ConfigError

CST = datetime.timezone(datetime.timedelta(hours=8), "CST")


def today() -> datetime.date:
    pinned = os.environ.get("SZZZ_TODAY")
    if pinned:
        try:
            return datetime.date.fromisoformat(pinned)
        except ValueError:
            raise ConfigError(f"SZZZ_TODAY={pinned!r} is not a YYYY-MM-DD date") from None
    return datetime.datetime.now(CST).date()


def source_date_epoch() -> datetime.datetime | None:
    """``SOURCE_DATE_EPOCH`` as an aware UTC datetime, or None when unset."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    try:
        return datetime.datetime.fromtimestamp(int(value), datetime.UTC)
    except ValueError:
        raise ConfigError(f"SOURCE_DATE_EPOCH={value!r} is not an integer") from None


def build_time(latest_event_date: str | None = None) -> datetime.datetime:
    """The time stamped into published files.

    ``SOURCE_DATE_EPOCH`` when set; otherwise the end of the day (CST) of the
    registry's latest event, so the same registry always gives the same bytes.
    """
    sde = source_date_epoch()
    if sde is not None:
        return sde
    if latest_event_date is None:
        raise ConfigError("no SOURCE_DATE_EPOCH and no events to date the output by")
    day = datetime.date.fromisoformat(latest_event_date)
    end = datetime.datetime.combine(day, datetime.time(23, 59, 59), CST)
    return end.astimezone(datetime.UTC)


def signing_time() -> datetime.datetime:
    """The time a signature that claims "signed at" carries (the log's cosignature).

    C2SP tlog-cosignature: the timestamp is "the time at which the cosignature
    was generated", and verifiers may reject one from the future. So: the
    wall clock, or ``SOURCE_DATE_EPOCH`` for a reproducible build — which must
    not be after the wall clock (ConfigError), never the end of a day.
    """
    wall = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    sde = source_date_epoch()
    if sde is None:
        return wall
    if sde > wall:
        raise ConfigError(f"SOURCE_DATE_EPOCH={int(sde.timestamp())} ({iso_z(sde)}) is after the wall clock "
                          f"({iso_z(wall)}); a cosignature says when it was made, expected a time not in the future")
    return sde


def noon(day: datetime.date) -> int:
    """Noon CST of ``day`` as Unix time: when verifiers judging by a date (their
    ``today``) judge a checkpoint's age, so a day-based verdict does not depend
    on the hour it is asked."""
    return int(datetime.datetime.combine(day, datetime.time(12), CST).timestamp())


def iso_z(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
