"""The owner's dashboard page (GET /admin/dashboard): who may see it, the period picker and
its refusals, the htmx fragment, the figures of a small data set in the tables, and the
charts' geometry (shop/dashboard/charts.py) and words (shop/dashboard/views.py).

The figures themselves are tested in test_dashboard_stats.py; here they only have to reach
the page."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from shop.calls.zones import studio_zone
from shop.clock import now
from shop.dashboard import charts
from shop.dashboard.stats import week_starts
from shop.dashboard.views import change_text, period_weeks, week_label
from tests.support.accounts import new_account
from tests.support.orders import add_order
from tests.support.pagetext import page_text

URL = "/admin/dashboard"
PERIOD_ERROR = "Choose a period of 4, 12 or 52 weeks."
R2_ONLY = (("R2 migration plan", 1250, 1),)


@pytest.fixture
def customer_client(app):
    """A signed-in customer's browser (no administrator)."""
    client = app.test_client()
    new_account(client)
    return client


def table(html: str, caption: str) -> list[list[str]]:
    """The rows of the table with this caption, each a list of its cells' texts."""
    found = re.search(
        r"<table[^>]*>\s*<caption[^>]*>" + re.escape(caption) + r"</caption>(.*?)</table>",
        html,
        re.S,
    )
    assert found, caption
    rows = re.findall(r"<tr>(.*?)</tr>", found[1], re.S)
    return [
        [page_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in rows
    ]


# ---------------------------------------------------------------- access


def test_visitors_are_asked_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/account/sign-in?next=")


def test_customers_are_refused(customer_client):
    assert customer_client.get(URL).status_code == 403


def test_the_admin_index_links_the_dashboard(admin):
    html = admin.get("/admin").get_data(as_text=True)
    assert f'href="{URL}">Dashboard</a>' in html


@pytest.mark.parametrize("weeks", ["", "4", "12", "52"])
def test_each_period_shows_its_weeks(admin, weeks):
    response = admin.get(URL + (f"?weeks={weeks}" if weeks else ""))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    count = int(weeks or 12)
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert f'value="{count}" checked' in html
    assert len(table(html, "Orders per week, placed and paid")) == count + 2  # head, foot
    assert "Weeks start on Monday, Europe/Berlin." in page_text(html)
    # Every chart: a figure with its caption, the SVG named and described, a table.
    assert html.count("<figure") == html.count("<figcaption") == 4
    assert html.count('role="img" aria-labelledby=') == 4
    assert html.count('<details class="chart-table">') == 4
    assert "style=" not in html and "<style" not in html


@pytest.mark.parametrize("weeks", ["7", "abc", "0", "-12", "12.0", "1" * 40])
def test_another_period_is_refused_with_a_message(admin, weeks):
    response = admin.get(URL, query_string={"weeks": weeks})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    summary = re.search(r'<div class="error-summary"[^>]*role="alert".*?</div>', html, re.S)
    assert summary and PERIOD_ERROR in summary[0]
    assert "<figure" not in html
    assert response.headers["Cache-Control"] == "private, no-store"


def test_htmx_gets_the_figures_and_the_status_only(admin):
    response = admin.get(URL + "?weeks=52", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<h1" not in html and "<form" not in html
    assert html.lstrip().startswith('<div id="dashboard-figures"')  # the swap's target
    assert '<p id="dashboard-status" hx-swap-oob="innerHTML">Showing the last 52 weeks</p>' in html
    assert len(table(html, "Orders per week, placed and paid")) == 54

    refused = admin.get(URL + "?weeks=abc", headers={"HX-Request": "true"})
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert '<div id="dashboard-figures"' in body and PERIOD_ERROR in body
    assert "Showing the last" not in body and "<html" not in body


def test_a_history_restore_gets_the_whole_page(admin):
    response = admin.get(
        URL + "?weeks=4", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert "<html" in html and 'value="4" checked' in html


# ---------------------------------------------------------------- the figures on the page


def test_the_figures_of_a_small_data_set(app, admin):
    with app.app_context():
        starts = week_starts(studio_zone(app.config), now(), 8)  # the period before, then 4
    minute = timedelta(minutes=1)
    this_week, two_weeks_ago = starts[7] + minute, starts[5] + minute
    add_order(app, status="paid", created_at=this_week, paid_at=this_week)
    add_order(app, status="submitted", created_at=two_weeks_ago)
    add_order(app, status="invoiced", created_at=two_weeks_ago)
    add_order(app, status="completed", created_at=starts[1], paid_at=starts[1], lines=R2_ONLY)

    html = admin.get(URL + "?weeks=4").get_data(as_text=True)
    text = page_text(html)
    with app.app_context():
        zone = studio_zone(app.config)
    mondays = [start.astimezone(zone).date() for start in starts[4:8]]
    labels = [f"{day.day} {day:%b %Y}" for day in mondays]
    assert table(html, "Orders per week, placed and paid") == [
        ["Week of", "Placed", "Paid"],
        [labels[0], "0", "0"],
        [labels[1], "2", "0"],
        [labels[2], "0", "0"],
        [labels[3], "1", "1"],
        ["Total", "3", "1"],
    ]
    assert table(html, "Revenue per week (money paid)")[1:] == [
        [labels[0], "$0"],
        [labels[1], "$0"],
        [labels[2], "$0"],
        [labels[3], "$9,012.50"],
        ["Total", "$9,012.50"],
    ]
    # The totals and the change against the 4 weeks before (1 order, $12.50 paid).
    assert "Orders placed 3 +200% against the 4 weeks before (1)" in text
    assert "Orders paid 1 no change against the 4 weeks before (1)" in text
    assert "Revenue (paid) $9,012.50 +72000% against the 4 weeks before ($12.50)" in text
    offers = {row[0]: row[1:] for row in table(html, "Orders, revenue and wishlists per offer")}
    assert offers["Edge architecture review"] == ["3", "$27,000", "0"]
    assert offers["R2 migration plan"] == ["3", "$37.50", "0"]
    # Waiting, each linked where the owner deals with it.
    number = '<span class="dashboard-number">1</span>'
    assert f'<a href="/admin/orders?status=submitted">{number} order to invoice</a>' in html
    assert f'<a href="/admin/orders?status=invoiced">{number} payment to check</a>' in html
    assert "0 calls in the next 7 days" in text
    assert "3 orders without a call" in text
    # The orders chart: one bar per week and series, titled with the week and its value.
    assert f"<title>Week of {week_label(mondays[1])}: 2 orders placed</title>" in html
    assert f"<title>Week of {week_label(mondays[3])}: $9,012.50 paid</title>" in html
    assert (
        "Over the last 4 weeks, 3 orders placed and 1 paid; the most placed in the week of" in html
    )


def test_an_empty_shop_says_there_was_nothing_before(admin):
    text = page_text(admin.get(URL).get_data(as_text=True))
    assert "Orders placed 0 no orders before Orders paid 0 no orders before" in text
    assert "0 orders to invoice" in text


# ---------------------------------------------------------------- words and geometry


@pytest.mark.parametrize(
    ("raw", "weeks"),
    [(None, 12), ("", 12), ("4", 4), (" 52 ", 52), ("012", 12), ("7", None), ("x", None)],
)
def test_period_weeks(raw, weeks):
    assert period_weeks(raw) == weeks


@pytest.mark.parametrize(
    ("now_value", "before", "text"),
    [(5, 4, "+25%"), (3, 4, "\u221225%"), (4, 4, "no change"), (3, 0, "no orders before")],
)
def test_change_text(now_value, before, text):
    assert change_text(now_value, before) == text


def test_week_label():
    assert week_label(date(2026, 3, 2)) == "2 Mar"


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (45_000, [0, 20_000, 40_000, 60_000]),
        (901_250, [0, 250_000, 500_000, 750_000, 1_000_000]),
    ],
)
def test_nice_ticks(maximum, ticks):
    assert charts.nice_ticks(maximum) == ticks


def test_column_chart_geometry():
    chart = charts.column_chart(
        [f"w{i}" for i in range(12)],
        [
            charts.Series("placed", "placed", [0] * 11 + [4]),
            charts.Series("paid", "paid", [2] * 12),
        ],
    )
    assert len(chart.bars) == 24
    tallest = max(chart.bars, key=lambda bar: bar.height)
    assert tallest.series == "placed" and tallest.y == chart.top
    assert tallest.y + tallest.height == chart.baseline
    assert all(chart.left <= bar.x and bar.x + bar.width <= chart.right for bar in chart.bars)
    assert [label.text for label in chart.labels] == ["w0", "w2", "w4", "w6", "w8", "w10"]
    assert [tick.text for tick in chart.ticks] == ["0", "1", "2", "3", "4"]
    assert chart.bars[0].title == "w0: 0 placed"


def test_row_chart_geometry():
    chart = charts.row_chart(
        [("Bag", 10, "10", None), ("Paid", 5, "5 · 50% kept", "a note")], series="funnel"
    )
    first, second = chart.rows
    assert first.bar.width == chart.longest and second.bar.width == chart.longest / 2
    assert first.note is None and second.note.text == "a note"
    assert second.label.y > first.bar.y + first.bar.height
    assert chart.height >= second.note.y
    assert all(row.value.x <= chart.width - 100 for row in chart.rows)
