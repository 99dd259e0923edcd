"""The owner's dashboard (GET /admin/dashboard): orders and revenue per week, the funnel from
bag to call, what each offer sells and what waits, for a period of 4, 12 or 52 weeks.

The figures come from ``shop.dashboard.stats``; this view picks the period from ``?weeks=``,
lays the charts out (``shop.dashboard.charts``) and writes what each chart says in words
for its description. The period picker is a plain GET form; with htmx it swaps the figures'
block in place and says so in a status line. Administrators only, and never cached.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, make_response, render_template, request

from shop.accounts.views import admin_required
from shop.dashboard import charts, stats
from shop.extensions import htmx
from shop.web import format_money, render_page

bp = Blueprint("dashboard", __name__)

TEMPLATE = "admin/dashboard.html"
BLOCKS = ["figures", "period_status"]
PERIOD_ERROR = "Choose a period of 4, 12 or 52 weeks."
_WEEKS_RE = re.compile(r"[0-9]{1,3}")


# ---------------------------------------------------------------- words for the figures


def period_weeks(raw: str | None) -> int | None:
    """The period from ``?weeks=``: the default when absent or empty, None when it is not
    one of the periods."""
    if raw is None or raw.strip() == "":
        return stats.DEFAULT_PERIOD
    value = raw.strip()
    if not _WEEKS_RE.fullmatch(value) or int(value) not in stats.PERIODS:
        return None
    return int(value)


def week_label(day: date) -> str:
    """A week's Monday as the charts name it: "2 Mar"."""
    return f"{day.day} {day:%b}"


def day_text(day: date) -> str:
    """A date in full: "2 Mar 2026"."""
    return f"{day.day} {day:%b %Y}"


def percent(share: float) -> str:
    """A share as a whole percent: 0.456 → "46%"."""
    return f"{round(share * 100)}%"


def change_text(now: int, before: int) -> str:
    """The change against the period before: "+25%", "−10%" (a minus sign), "no change",
    or "no orders before" when there is nothing to compare with."""
    share = stats.change(now, before)
    if share is None:
        return "no orders before"
    rounded = round(share * 100)
    if rounded == 0:
        return "no change"
    return f"+{rounded}%" if rounded > 0 else f"\u2212{-rounded}%"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _busiest(labels: list[str], values: list[int]) -> tuple[str, int] | None:
    if not values or max(values) == 0:
        return None
    index = max(range(len(values)), key=lambda i: (values[i], i))
    return labels[index], values[index]


# ---------------------------------------------------------------- the charts


def _charts(figures: stats.Dashboard) -> dict[str, Any]:
    """Every chart's geometry and description, and the words the page shows beside them."""
    labels = [week_label(week.start) for week in figures.weeks]
    money = lambda cents: format_money(cents, figures.currency)  # noqa: E731
    weeks = figures.weeks_in_period
    totals, before = figures.totals, figures.before

    orders = charts.column_chart(
        labels,
        [
            charts.Series("placed", "placed", [week.placed for week in figures.weeks]),
            charts.Series("paid", "paid", [week.paid for week in figures.weeks]),
        ],
        title=lambda label, one, value: f"Week of {label}: {plural(value, 'order')} {one.name}",
    )
    busiest = _busiest(labels, [week.placed for week in figures.weeks])
    orders_desc = (
        f"Over the last {weeks} weeks, {plural(totals.placed, 'order')} placed and "
        f"{totals.paid} paid"
        + (f"; the most placed in the week of {busiest[0]}: {busiest[1]}." if busiest else ".")
    )

    revenue = charts.column_chart(
        labels,
        [charts.Series("revenue", "paid", [week.paid_cents for week in figures.weeks])],
        value_text=money,
        title=lambda label, one, value: f"Week of {label}: {money(value)} paid",
    )
    best = _busiest(labels, [week.paid_cents for week in figures.weeks])
    revenue_desc = f"Over the last {weeks} weeks, {money(totals.paid_cents)} paid" + (
        f"; the most in the week of {best[0]}: {money(best[1])}." if best else "."
    )

    funnel = charts.row_chart(
        [
            (
                step.label,
                step.count,
                f"{step.count}"
                + (f" · {percent(step.kept)} kept" if step.kept is not None else ""),
                None,
            )
            for step in figures.funnel
        ],
        series="funnel",
    )
    funnel_desc = "; ".join(
        f"{step.label.lower()}: {step.count}"
        + (f" ({percent(step.kept)} of the step before)" if step.kept is not None else "")
        for step in figures.funnel
    )
    funnel_desc = funnel_desc[:1].upper() + funnel_desc[1:] + "."

    offers = charts.row_chart(
        [
            (
                offer.title,
                offer.revenue_cents,
                f"{money(offer.revenue_cents)} · {plural(offer.orders, 'order')}",
                f"{offer.wishlisted_not_bought} wishlisted, not bought",
            )
            for offer in figures.offers
        ],
        series="offer",
        value_room=200,  # "$1,250,000 · 120 orders"
    )
    offers_desc = (
        " ".join(
            f"{offer.title}: {plural(offer.orders, 'order')}, {money(offer.revenue_cents)}, "
            f"{offer.wishlisted_not_bought} wishlisted and not bought."
            for offer in figures.offers
        )
        or "No offers yet."
    )

    zone = ZoneInfo(figures.zone)
    first = figures.starts.astimezone(zone).date()
    last = (figures.ends.astimezone(zone) - timedelta(days=1)).date()
    return {
        "labels": labels,
        "orders_chart": orders,
        "orders_desc": orders_desc,
        "revenue_chart": revenue,
        "revenue_desc": revenue_desc,
        "funnel_chart": funnel,
        "funnel_desc": funnel_desc,
        "offers_chart": offers,
        "offers_desc": offers_desc,
        "first_day": day_text(first),
        "last_day": day_text(last),
        "zone_name": figures.zone.replace("_", " "),
        "changes": {
            "placed": change_text(totals.placed, before.placed),
            "paid": change_text(totals.paid, before.paid),
            "revenue": change_text(totals.paid_cents, before.paid_cents),
        },
    }


# ---------------------------------------------------------------- the page


@bp.get("/admin/dashboard")
@admin_required
def show() -> Response:
    """The dashboard for the period of ``?weeks=`` (12 when absent); 400 for another."""
    weeks = period_weeks(request.args.get("weeks"))
    context: dict[str, Any] = {
        "periods": stats.PERIODS,
        "weeks": weeks or stats.DEFAULT_PERIOD,
        "error": None if weeks else PERIOD_ERROR,
        "fragment": False,
        "week_label": week_label,
        "day_text": day_text,
        "percent": percent,
    }
    if weeks:
        figures = stats.dashboard(weeks)
        context.update(figures=figures, **_charts(figures))
    status = 200 if weeks else 400
    if htmx.history_restore_request:
        # htmx asks for the whole page to put back on a history move (nothing of this page
        # is kept in the browser's history cache: hx-history="false").
        response = make_response(render_template(TEMPLATE, **context), status)
        response.vary.add("HX-Request")
    else:
        context["fragment"] = bool(htmx) and not htmx.boosted
        response = render_page(TEMPLATE, BLOCKS, status, **context)
    response.headers["Cache-Control"] = "private, no-store"
    return response
