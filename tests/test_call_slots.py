"""The free times of the scoping call (shop/calls/slots.py): the studio's wall-clock hours
through both changes of the clocks in Europe/Berlin and America/New_York, buyers in zones
with half-hour offsets, and every reason a time is refused. A fixed clock throughout."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shop.calls.slots import Busy, Refusal, Rules, by_day, day_slots, free_slots, refusal

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
KOLKATA, LORD_HOWE = ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")
HOUR = timedelta(hours=1)
NINE_TO_FIVE = ((9 * 60, 17 * 60),)


def every_day(ranges, zone=BERLIN, **limits) -> Rules:
    return Rules(zone=zone, weekly={weekday: ranges for weekday in range(7)}, **limits)


def walls(starts, zone) -> list[str]:
    return [start.astimezone(zone).strftime("%H:%M") for start in starts]


# ---------------------------------------------------------------- changes of the clocks

# (zone, the day the clocks go forward, the day they go back), 2027. Both skip 02:00–03:00
# in spring; in autumn Berlin lives 02:00–03:00 twice, New York 01:00–02:00.
CHANGES = [
    (BERLIN, date(2027, 3, 28), date(2027, 10, 31)),
    (NEW_YORK, date(2027, 3, 14), date(2027, 11, 7)),
]


@pytest.mark.parametrize(("zone", "spring", "autumn"), CHANGES)
def test_the_studios_hours_stay_its_hours_on_the_days_the_clocks_change(zone, spring, autumn):
    rules = every_day(NINE_TO_FIVE, zone)
    normal = [f"{hour:02d}:{minute:02d}" for hour in range(9, 16) for minute in (0, 30)]
    normal.append("16:00")
    for day in (spring - timedelta(days=1), spring, autumn - timedelta(days=1), autumn):
        starts = day_slots(rules, day, HOUR)
        assert walls(starts, zone) == normal, day
        assert all(start.tzinfo is UTC for start in starts)
    # The same wall time is another instant once the clocks moved.
    before = day_slots(rules, spring - timedelta(days=1), HOUR)[0]
    after = day_slots(rules, spring, HOUR)[0]
    assert after - before == timedelta(hours=23)


@pytest.mark.parametrize(("zone", "spring", "autumn"), CHANGES)
def test_no_slot_in_the_skipped_hour(zone, spring, autumn):
    rules = every_day(((0, 6 * 60),), zone, step=timedelta(minutes=30))
    starts = day_slots(rules, spring, timedelta(minutes=30))
    shown = walls(starts, zone)
    assert "02:00" not in shown and "02:30" not in shown  # 02:00–03:00 does not exist
    assert shown[:4] == ["00:00", "00:30", "01:00", "01:30"] and shown[4] == "03:00"
    for start in starts:  # every slot is a real wall time that reads back the same
        local = start.astimezone(zone)
        assert local.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC) == start


@pytest.mark.parametrize(("zone", "spring", "autumn"), CHANGES)
def test_no_slot_twice_in_the_repeated_hour(zone, spring, autumn):
    repeated = 2 if zone is BERLIN else 1
    rules = every_day(((0, 6 * 60),), zone, step=timedelta(minutes=30))
    starts = day_slots(rules, autumn, timedelta(minutes=30))
    shown = walls(starts, zone)
    assert len(shown) == len(set(shown)) == 12  # 00:00 … 05:30, each once
    assert len(set(starts)) == len(starts) and starts == sorted(starts)
    # The repeated hour is lived twice: its slot is the first occurrence, and the next hour
    # on the wall comes two real hours later.
    one = starts[shown.index(f"{repeated:02d}:00")]
    two = starts[shown.index(f"{repeated + 1:02d}:00")]
    assert two - one == 2 * HOUR
    assert one.astimezone(zone).fold == 0


@pytest.mark.parametrize(("zone", "spring", "autumn"), CHANGES)
def test_a_call_fits_its_range_in_real_time(zone, spring, autumn):
    """A range that ends just after the skipped hour is an hour shorter in real time."""
    rules = every_day(((60, 4 * 60),), zone)  # 01:00–04:00 wall clock
    assert walls(day_slots(rules, autumn - timedelta(days=7), 2 * HOUR), zone) == [
        "01:00",
        "01:30",
        "02:00",
    ]
    # On the spring day 01:00–04:00 lasts two real hours: only 01:00 fits two hours.
    assert walls(day_slots(rules, spring, 2 * HOUR), zone) == ["01:00"]


# ---------------------------------------------------------------- the buyer's zone


def test_a_buyer_in_kolkata_sees_the_same_instants_half_an_hour_off():
    rules = every_day(NINE_TO_FIVE)
    now = datetime(2027, 3, 20, 12, tzinfo=UTC)
    starts = free_slots(rules, HOUR, [], now)
    days = by_day(starts, KOLKATA)
    # Berlin 09:00 is 13:30 in Kolkata in winter (+1 → +5:30) and 12:30 in summer (+2).
    first_winter = next(times for day, times in days if day == date(2027, 3, 22))[0]
    first_summer = next(times for day, times in days if day == date(2027, 3, 29))[0]
    assert first_winter.strftime("%H:%M") == "13:30" and first_summer.strftime("%H:%M") == "12:30"
    assert [time for _, times in days for time in times] == starts  # the same instants


def test_a_buyer_on_lord_howe_sees_slots_on_the_local_days_they_fall_on():
    """Lord Howe moves its clocks by half an hour (+11 in summer, +10:30 in winter; back on
    2027-04-04): Berlin's 16:00 falls on Lord Howe's next day, and its offset changes."""
    rules = every_day(NINE_TO_FIVE)
    now = datetime(2027, 4, 1, 12, tzinfo=UTC)
    starts = free_slots(rules, HOUR, [], now)
    days = dict(by_day(starts, LORD_HOWE))
    before = next(s for s in starts if s.astimezone(BERLIN).date() == date(2027, 4, 3))
    after = next(s for s in starts if s.astimezone(BERLIN).date() == date(2027, 4, 5))
    assert before.astimezone(LORD_HOWE).strftime("%H:%M %z") == "18:00 +1100"  # 09:00 Berlin
    assert after.astimezone(LORD_HOWE).strftime("%H:%M %z") == "17:30 +1030"
    late = next(
        s for s in starts if s.astimezone(BERLIN).strftime("%F %H:%M") == "2027-04-05 16:00"
    )
    assert late.astimezone(LORD_HOWE).date() == date(2027, 4, 6)
    assert late.astimezone(LORD_HOWE) in days[date(2027, 4, 6)]


# ---------------------------------------------------------------- limits and busy times

NOW = datetime(2027, 6, 7, 8, tzinfo=UTC)  # Monday 10:00 in Berlin


def test_notice_and_window_bound_the_free_times():
    rules = every_day(NINE_TO_FIVE, notice=timedelta(hours=24), window=timedelta(days=3))
    starts = free_slots(rules, HOUR, [], NOW)
    assert starts[0] == NOW + timedelta(hours=24)  # Tuesday 10:00, not earlier
    assert starts[-1] <= NOW + timedelta(days=3)
    assert starts[-1].astimezone(BERLIN).strftime("%a %H:%M") == "Thu 10:00"


def test_days_off_and_extra_hours():
    monday = date(2027, 6, 14)
    rules = Rules(
        zone=BERLIN,
        weekly={0: NINE_TO_FIVE, 1: NINE_TO_FIVE},
        days_off=frozenset({date(2027, 6, 15)}),
        extra={date(2027, 6, 19): ((10 * 60, 12 * 60),), monday: ((18 * 60, 20 * 60),)},
        window=timedelta(days=30),
    )
    starts = free_slots(rules, HOUR, [], NOW)
    local_days = {day for day, _ in by_day(starts, BERLIN)}
    assert date(2027, 6, 15) not in local_days  # a Tuesday off
    assert walls(day_slots(rules, date(2027, 6, 19), HOUR), BERLIN) == ["10:00", "10:30", "11:00"]
    assert walls(day_slots(rules, monday, HOUR), BERLIN)[-3:] == ["18:00", "18:30", "19:00"]


def test_a_booked_call_and_its_buffer_keep_the_studio_busy():
    rules = every_day(NINE_TO_FIVE, buffer=timedelta(minutes=15), notice=timedelta(0))
    day = date(2027, 6, 9)
    ten = datetime(2027, 6, 9, 8, tzinfo=UTC)  # 10:00 Berlin
    busy = [Busy(ten, ten + HOUR + timedelta(minutes=15))]
    free = [s for s in free_slots(rules, HOUR, busy, NOW) if s.astimezone(BERLIN).date() == day]
    # The call keeps 10:00–11:15 (with its buffer); a new hour-long call needs its own 15
    # minutes after it too: 09:00 (until 10:15) runs into it, 11:00 into its buffer.
    later = [f"{hour:02d}:{minute:02d}" for hour in range(11, 16) for minute in (0, 30)][1:]
    assert walls(free, BERLIN) == [*later, "16:00"]
    assert refusal(rules, HOUR, busy, NOW, ten + HOUR) == Refusal.TAKEN
    assert refusal(rules, HOUR, busy, NOW, ten - HOUR) == Refusal.TAKEN  # 09:00 + buffer


def test_at_most_n_calls_a_day():
    rules = every_day(NINE_TO_FIVE, max_per_day=2, notice=timedelta(0))
    day_start = datetime(2027, 6, 9, 7, tzinfo=UTC)  # 09:00 Berlin
    busy = [Busy(day_start, day_start + HOUR), Busy(day_start + 3 * HOUR, day_start + 4 * HOUR)]
    starts = free_slots(rules, HOUR, busy, NOW)
    assert not [s for s in starts if s.astimezone(BERLIN).date() == date(2027, 6, 9)]
    assert refusal(rules, HOUR, busy, NOW, day_start + 6 * HOUR) == Refusal.DAY_FULL


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        (NOW - HOUR, Refusal.PAST),
        (NOW + 2 * HOUR, Refusal.NOTICE),
        (NOW + timedelta(days=31), Refusal.BEYOND_WINDOW),
        (datetime(2027, 6, 9, 5, tzinfo=UTC), Refusal.OUTSIDE_HOURS),  # 07:00 Berlin
        (datetime(2027, 6, 9, 15, 30, tzinfo=UTC), Refusal.OUTSIDE_HOURS),  # 17:30 Berlin
        (datetime(2027, 6, 9, 8, 10, tzinfo=UTC), Refusal.OFF_GRID),  # 10:10 Berlin
        (datetime(2027, 6, 9, 14, 30, tzinfo=UTC), Refusal.OUTSIDE_HOURS),  # 16:30: ends 17:30
        (datetime(2027, 6, 9, 8, tzinfo=UTC), None),
    ],
)
def test_every_reason_a_time_is_refused(start, reason):
    rules = every_day(NINE_TO_FIVE)
    assert refusal(rules, HOUR, [], NOW, start) == reason
    assert (start in free_slots(rules, HOUR, [], NOW)) == (reason is None)


@pytest.mark.parametrize(
    "zone",
    [
        "Europe/Berlin",
        "America/New_York",
        "America/Santiago",  # the clocks change at midnight
        "America/Havana",
        "Australia/Lord_Howe",  # by half an hour
        "Pacific/Chatham",
        "Asia/Kolkata",
    ],
)
def test_the_quick_way_for_a_day_gives_the_zones_own_starts(zone):
    """Days with one offset throughout sum minutes onto midnight; every day of two years
    must give the starts that a zone lookup per slot gives."""
    from shop.calls import slots

    rules = every_day(((0, 24 * 60),), ZoneInfo(zone), step=timedelta(minutes=30))
    day = date(2026, 1, 1)
    while day < date(2028, 1, 1):
        quick = day_slots(rules, day, HOUR)
        step = 30
        looked_up = []
        for minute in range(0, 24 * 60 - 60 + 1, step):
            start = slots.to_utc(slots._wall(day, minute), rules.zone)
            end = slots._range_end(day, 24 * 60, rules.zone)
            if (
                start is not None
                and start + HOUR <= end
                and (not looked_up or start > looked_up[-1])
            ):
                looked_up.append(start)
        assert quick == looked_up, (zone, day)
        day += timedelta(days=1)
