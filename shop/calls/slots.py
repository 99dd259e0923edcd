"""Which times the studio can take a call: pure functions over its hours, no database.

The studio's hours are wall-clock times in its own zone (an IANA name): "Monday 09:00–17:00
Europe/Berlin" stays 09:00–17:00 on the days the clocks change. Every instant the shop
stores or compares is UTC; ``zoneinfo`` converts. Around a change of the clocks:

* a wall time that does not exist (the hour skipped in spring) is no slot;
* a wall time that exists twice (the hour repeated in autumn) is one slot, its first
  occurrence (``fold=0``), so no time is offered twice;
* a slot fits its range in real time: its start plus the call's length (in UTC) must not pass
  the range's end.

Slots start on a grid of ``step`` minutes from the start of each range. A booked call keeps
the studio busy from its start to its end plus the buffer (``Busy``); a new call fits when
its own start..end+buffer meets no busy time, which is the same test the database makes
(an exclusion constraint on PostgreSQL) so that both agree.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import accumulate
from zoneinfo import ZoneInfo

MINUTES_A_DAY = 24 * 60
Ranges = tuple[tuple[int, int], ...]  # (start, end) in minutes after midnight, end ≤ 1440


@dataclass(frozen=True)
class Rules:
    """What decides the free times: the studio's hours and its limits."""

    zone: ZoneInfo
    weekly: Mapping[int, Ranges]  # weekday (0 is Monday) → its ranges, in wall-clock minutes
    step: timedelta = timedelta(minutes=30)
    buffer: timedelta = timedelta(0)
    notice: timedelta = timedelta(hours=24)
    window: timedelta = timedelta(days=30)
    max_per_day: int = 4
    days_off: frozenset[date] = frozenset()
    extra: Mapping[date, Ranges] = field(default_factory=dict)  # hours added on a date

    def ranges_on(self, day: date) -> Ranges:
        """The day's ranges: its weekday's (none on a day off) and its extra hours."""
        weekly = () if day in self.days_off else self.weekly.get(day.weekday(), ())
        return tuple(sorted((*weekly, *self.extra.get(day, ()))))


@dataclass(frozen=True)
class Busy:
    """A booked call as it keeps the studio busy: from its start to its end plus the buffer
    (UTC)."""

    start: datetime
    until: datetime


class Refusal(StrEnum):
    """Why a time cannot be booked."""

    MALFORMED = "malformed"
    OUTSIDE_HOURS = "outside_hours"
    OFF_GRID = "off_grid"
    PAST = "past"
    NOTICE = "notice"
    BEYOND_WINDOW = "beyond_window"
    DAY_FULL = "day_full"
    TAKEN = "taken"


def _wall(day: date, minute: int) -> datetime:
    return datetime.combine(day, time()) + timedelta(minutes=minute)


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The instant a naive wall-clock time names in ``zone``: its first occurrence when it
    is repeated, None when it does not exist (skipped by a change of the clocks)."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def _range_end(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """A range's end as an instant: the earlier reading when it is ambiguous or skipped."""
    wall = _wall(day, minute)
    return min(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))


def _fixed_offset(day: date, zone: ZoneInfo) -> timedelta | None:
    """The zone's offset from UTC all through ``day``, or None when the clocks change on it
    (the offset at this midnight and at the next, read both ways round an ambiguous time,
    must all agree; a change exactly at midnight counts as a change)."""
    midnight = datetime.combine(day, time())
    offsets = {
        moment.replace(tzinfo=zone, fold=fold).utcoffset()
        for moment in (midnight, midnight + timedelta(days=1))
        for fold in (0, 1)
    }
    return offsets.pop() if len(offsets) == 1 else None


def day_slots(rules: Rules, day: date, length: timedelta) -> list[datetime]:
    """Every start (UTC) on the studio's local ``day`` that fits a call of ``length`` in the
    day's hours, on the grid; busy times and limits aside."""
    step = int(rules.step.total_seconds() // 60)
    span = int(length.total_seconds() // 60)
    starts: list[datetime] = []
    offset = _fixed_offset(day, rules.zone)
    if offset is not None:
        # Most days: one offset all day, so each start is midnight's instant plus minutes
        # (a sum instead of a zone lookup per slot; the same starts as below).
        base = (datetime.combine(day, time()) - offset).replace(tzinfo=UTC)
        for first, last in rules.ranges_on(day):
            start, stop = base + timedelta(minutes=first), base + timedelta(minutes=last - span)
            if starts and start <= starts[-1]:  # overlapping ranges: no start twice
                start += (starts[-1] - start) // rules.step * rules.step + rules.step
            while start <= stop:
                starts.append(start)
                start += rules.step
        return starts
    for first, last in rules.ranges_on(day):
        end = _range_end(day, last, rules.zone)
        for minute in range(first, last - span + 1, step):
            start = to_utc(_wall(day, minute), rules.zone)
            if start is not None and start + length <= end and (not starts or start > starts[-1]):
                starts.append(start)
    return starts


class BusyTimes:
    """Booked calls, sorted, for fast overlap tests (bisect, not a scan per slot)."""

    def __init__(self, busy: Iterable[Busy], zone: ZoneInfo) -> None:
        ordered = sorted(busy, key=lambda item: item.start)
        self.starts = [item.start for item in ordered]
        # The latest end of the busy times so far: stored calls never overlap, but one booked
        # under a longer buffer may reach past the next one's start.
        self.reach = list(accumulate((item.until for item in ordered), max))
        self.per_day: dict[date, int] = {}
        for item in ordered:
            local_day = item.start.astimezone(zone).date()
            self.per_day[local_day] = self.per_day.get(local_day, 0) + 1

    def meets(self, start: datetime, until: datetime) -> bool:
        """Whether start..until meets a busy time."""
        index = bisect_left(self.starts, until) - 1  # the last busy time starting before
        return index >= 0 and self.reach[index] > start


def free_slots(
    rules: Rules, length: timedelta, busy: Sequence[Busy] | BusyTimes, now: datetime
) -> list[datetime]:
    """The starts (UTC, in order) a call of ``length`` can be booked at: in the hours, on
    the grid, after the notice, within the window, on a day with room, meeting no busy time.
    ``busy`` may come sorted already (a ``BusyTimes`` in the rules' zone)."""
    earliest, latest = now + rules.notice, now + rules.window
    times = busy if isinstance(busy, BusyTimes) else BusyTimes(busy, rules.zone)
    day = earliest.astimezone(rules.zone).date()
    last_day = latest.astimezone(rules.zone).date()
    reach = length + rules.buffer
    meets = times.meets
    free: list[datetime] = []
    while day <= last_day:
        if times.per_day.get(day, 0) < rules.max_per_day:
            free.extend(
                start
                for start in day_slots(rules, day, length)
                if earliest <= start <= latest and not meets(start, start + reach)
            )
        day += timedelta(days=1)
    return free


def refusal(
    rules: Rules, length: timedelta, busy: Sequence[Busy], now: datetime, start: datetime
) -> Refusal | None:
    """Why a call of ``length`` cannot start at ``start`` (UTC), or None when it can."""
    if start < now:
        return Refusal.PAST
    if start < now + rules.notice:
        return Refusal.NOTICE
    if start > now + rules.window:
        return Refusal.BEYOND_WINDOW
    day = start.astimezone(rules.zone).date()
    if start not in day_slots(rules, day, length):
        step = rules.step
        for first, last in rules.ranges_on(day):
            begins = to_utc(_wall(day, first), rules.zone)
            if begins is not None and begins <= start < _range_end(day, last, rules.zone):
                on_grid = (start - begins) % step == timedelta(0)
                return Refusal.OUTSIDE_HOURS if on_grid else Refusal.OFF_GRID
        return Refusal.OUTSIDE_HOURS
    times = BusyTimes(busy, rules.zone)
    if times.meets(start, start + length + rules.buffer):
        return Refusal.TAKEN
    if times.per_day.get(day, 0) >= rules.max_per_day:
        return Refusal.DAY_FULL
    return None


def by_day(starts: Iterable[datetime], zone: ZoneInfo) -> list[tuple[date, list[datetime]]]:
    """The starts as local times in ``zone``, grouped by their local day, in order."""
    days: dict[date, list[datetime]] = {}
    for start in starts:
        local = start.astimezone(zone)
        days.setdefault(local.date(), []).append(local)
    return list(days.items())
