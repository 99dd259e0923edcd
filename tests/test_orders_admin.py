"""The administrators' orders: access, the list (order, pages, filters, search), one order and
its status form, the CSV export, the ``orders`` commands and the expiry of unpaid orders.

Orders are inserted directly as rows (``tests.support.orders.add_orders``); the checkout
that places them is tested on its own."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.extensions import db
from shop.orders.models import Order, OrderEvent
from tests.support.accounts import new_account
from tests.support.forms import csrf_token_of, form_token
from tests.support.mailbox import outbox
from tests.support.orders import add_order, add_orders, move
from tests.support.pagetext import page_text

# ---------------------------------------------------------------- helpers


@pytest.fixture
def customer_client(app):
    """A signed-in customer's browser (no administrator)."""
    client = app.test_client()
    new_account(client)
    return client


def stored(app, reference: str) -> Order:
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.reference == reference))
        db.session.expunge(order)
        db.session.rollback()
        return order


def listed(html: str) -> list[str]:
    """The references the list shows, in order."""
    return re.findall(r'<a href="/admin/orders/(EG-[0-9A-Z-]+)">', html)


def ago(**delta) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


# ---------------------------------------------------------------- access


def routes(reference: str) -> list[tuple[str, str]]:
    return [
        ("get", "/admin/orders"),
        ("get", "/admin/orders.csv"),
        ("get", f"/admin/orders/{reference}"),
        ("post", f"/admin/orders/{reference}/status"),
    ]


def call(client, method: str, path: str):
    if method == "get":
        return client.get(path)
    return client.post(path, data={"status": "cancelled", "csrf_token": csrf_token_of(client, "/")})


def test_visitors_are_asked_to_sign_in(app, client):
    reference = add_order(app)
    for method, path in routes(reference):
        response = call(client, method, path)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/account/sign-in?next="), path
    assert stored(app, reference).status == "submitted"


def test_customers_are_refused(app, customer_client):
    reference = add_order(app)
    for method, path in routes(reference):
        assert call(customer_client, method, path).status_code == 403, path
    assert stored(app, reference).status == "submitted"


def test_administrators_are_let_in(app, admin):
    reference = add_order(app)
    for method, path in routes(reference):
        response = call(admin, method, path)
        assert response.status_code == (303 if method == "post" else 200), path
    assert stored(app, reference).status == "cancelled"


# ---------------------------------------------------------------- the list


def test_the_list_shows_the_newest_first(app, admin):
    old, new, middle = add_orders(
        app,
        {"created_at": ago(days=3), "name": "Old Buyer"},
        {"created_at": ago(hours=1), "status": "paid", "paid_at": ago(minutes=30)},
        {"created_at": ago(days=1)},
    )
    response = admin.get("/admin/orders")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert listed(html) == [new, middle, old]
    assert "Old Buyer" in html and "Paid" in html and "$9,012.50" in html
    assert '<th scope="col">Reference</th>' in html and "<caption" in html
    assert '<label class="field-label" for="orders-status">' in html
    assert '<label class="field-label" for="orders-q">' in html
    assert 'href="/admin/orders.csv"' in html


def test_the_list_has_pages_of_fifty(app, admin):
    references = add_orders(app, *({"created_at": ago(minutes=minute)} for minute in range(53)))
    first = admin.get("/admin/orders").get_data(as_text=True)
    assert listed(first) == references[:50]
    assert "page 1 of 2" in first and 'href="/admin/orders?page=2"' in first
    second = admin.get("/admin/orders?page=2").get_data(as_text=True)
    assert listed(second) == references[50:]
    assert 'rel="prev" href="/admin/orders?page=1"' in second
    past = admin.get("/admin/orders?page=3")
    assert past.status_code == 200
    assert listed(past.get_data(as_text=True)) == []
    assert "There is no page 3." in past.get_data(as_text=True)
    far = admin.get("/admin/orders?page=99999999999999999999")
    assert far.status_code == 200 and listed(far.get_data(as_text=True)) == []


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "2x", " 2"])
def test_a_malformed_page_is_refused(app, admin, page):
    response = admin.get("/admin/orders", query_string={"page": page})
    assert response.status_code == 400
    assert "The page number must be a whole number" in response.get_data(as_text=True)


def test_the_list_filters_by_status(app, admin):
    paid, submitted = add_orders(
        app, {"status": "paid", "paid_at": ago(hours=1)}, {"status": "submitted"}
    )
    html = admin.get("/admin/orders?status=paid").get_data(as_text=True)
    assert listed(html) == [paid]
    assert '<option value="paid" selected>' in html
    assert 'href="/admin/orders.csv?status=paid"' in html
    everything = admin.get("/admin/orders?status=").get_data(as_text=True)
    assert set(listed(everything)) == {paid, submitted}


def test_an_unknown_status_is_refused(app, admin):
    response = admin.get("/admin/orders?status=shipped")
    assert response.status_code == 400
    assert "There is no such order status" in response.get_data(as_text=True)
    assert admin.get("/admin/orders.csv?status=shipped").status_code == 400


def test_the_list_searches_references_and_emails(app, admin):
    first, second, third = add_orders(
        app,
        {"reference": "EG-AAAA-BBBB", "email": "grace@navy.example", "created_at": ago(hours=3)},
        {"reference": "EG-CCCC-DDDD", "email": "ada@engines.example", "created_at": ago(hours=2)},
        {"reference": "EG-EEEE-FFFF", "email": "ADA.B@Other.example", "created_at": ago(hours=1)},
    )

    def search(text: str) -> list[str]:
        response = admin.get("/admin/orders", query_string={"q": text})
        assert response.status_code == 200
        return listed(response.get_data(as_text=True))

    assert search("EG-AAAA-BBBB") == [first]
    assert search("eg-cccc-dddd") == [second]
    assert search("cccc") == [second]
    assert search("  eeee-f ") == [third]
    assert search("ada") == [third, second]
    assert search("ADA@ENGINES") == [second]
    assert search("other.example") == [third]
    assert search("nobody") == []
    html = admin.get("/admin/orders?q=ada&status=submitted").get_data(as_text=True)
    assert listed(html) == [third, second]
    assert 'value="ada"' in html
    assert 'href="/admin/orders.csv?status=submitted&amp;q=ada"' in html
    assert "No order matches these filters" in admin.get("/admin/orders?q=zzz").get_data(
        as_text=True
    )


def test_like_wildcards_are_literal(app, admin):
    underscore, other, percent = add_orders(
        app,
        {"email": "a_b@example.com", "created_at": ago(hours=3)},
        {"email": "axb@example.com", "created_at": ago(hours=2)},
        {"email": "100%real@example.com", "created_at": ago(hours=1)},
    )

    def search(text: str) -> list[str]:
        return listed(admin.get("/admin/orders", query_string={"q": text}).get_data(as_text=True))

    assert search("a_b") == [underscore]
    assert search("_") == [underscore]
    assert search("%") == [percent]
    assert search("0%r") == [percent]
    assert search("a%b") == []
    assert search("\\") == []
    assert set(search("example")) == {underscore, other, percent}


def test_the_search_is_cut_at_100_characters(app, admin):
    reference = add_order(app, email="x" * 60 + "@example.com")
    html = admin.get("/admin/orders", query_string={"q": "x" * 100 + "y"}).get_data(as_text=True)
    assert listed(html) == []  # cut to 100 x: longer than any address here
    assert 'value="' + "x" * 100 + '"' in html
    html = admin.get("/admin/orders", query_string={"q": "x" * 60 + "\x00"}).get_data(as_text=True)
    assert listed(html) == [reference]


# ---------------------------------------------------------------- one order


def test_an_order_shows_its_context(app, admin):
    reference = add_order(
        app,
        status="paid",
        stripe_session_id="cs_test_a1b2c3",
        payment_attempt=1,
        paid_at=ago(minutes=5),
        hosting="other",
        hosting_other="Hetzner <b>bare metal</b>",
    )
    response = admin.get(f"/admin/orders/{reference.lower()}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Order {reference}" in html
    assert "cs_test_a1b2c3" in html
    assert "Paid" in html and "Not paid" not in html
    assert "Edge architecture review" in html and "R2 migration plan" in html
    assert "$9,012.50" in html
    assert "Other: Hetzner &lt;b&gt;bare metal&lt;/b&gt;" in html
    assert "1,200 requests per second" in html
    assert "GDPR, SOC 2" in html and "Workers, R2" in html
    assert "Call after 3 pm" in html
    assert f'action="/admin/orders/{reference}/status"' in html
    # A paid order may only go on to its call, or be cancelled.
    for status in ("call_scheduled", "cancelled"):
        assert f'<option value="{status}"' in html
    for status in ("submitted", "invoiced", "paid", "completed"):
        assert f'<option value="{status}"' not in html


def test_an_unknown_order_is_not_found(app, admin):
    assert admin.get("/admin/orders/EG-0000-0000").status_code == 404
    assert admin.get("/admin/orders/" + "X" * 40).status_code == 404
    token = csrf_token_of(admin, "/admin/orders")
    response = admin.post(
        "/admin/orders/EG-0000-0000/status", data={"status": "invoiced", "csrf_token": token}
    )
    assert response.status_code == 404


# ---------------------------------------------------------------- status changes


def history(app, reference: str) -> list[tuple]:
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.reference == reference))
        rows = [
            (event.actor, event.from_status, event.to_status, event.note, event.mailed_buyer)
            for event in db.session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
            )
        ]
        db.session.rollback()
        return rows


def test_an_invoice_order_goes_through_its_whole_life(app, admin):
    """submitted → invoiced (the invoice is issued) → paid → call scheduled → completed,
    each step kept in the history with who, when and the note."""
    reference = add_order(app, created_at=ago(days=2), status="submitted")
    before = stored(app, reference)
    response = move(admin, reference, "invoiced", note="Sent with PO", mail_buyer="1")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/orders/{reference}"
    after = stored(app, reference)
    assert after.status == "invoiced" and after.updated_at > before.updated_at
    page = admin.get(f"/admin/orders/{reference}").get_data(as_text=True)
    assert f"Order {reference} is now Invoiced, payment awaited. The buyer is told" in page
    assert re.search(r">\d{4}-0001</a>, issued", page)  # the invoice, numbered
    for status in ("paid", "call_scheduled", "completed"):
        assert move(admin, reference, status).status_code == 303
    assert stored(app, reference).paid_at is not None
    assert history(app, reference) == [
        ("admin", "submitted", "invoiced", "Sent with PO", True),
        ("admin", "invoiced", "paid", "", False),
        ("admin", "paid", "call_scheduled", "", False),
        ("admin", "call_scheduled", "completed", "", False),
    ]
    page = admin.get(f"/admin/orders/{reference}").get_data(as_text=True)
    assert "This order's life is over: it is Completed." in page
    assert "Submitted, invoice follows → Invoiced, payment awaited" in page
    assert "Sent with PO" in page


@pytest.mark.parametrize(
    ("start", "to", "allowed"),
    [
        ("submitted", "paid", "Invoiced, payment awaited, Cancelled"),
        ("submitted", "completed", "Invoiced, payment awaited, Cancelled"),
        ("paid", "submitted", "Call scheduled, Cancelled"),
        ("completed", "paid", "nothing else"),
        ("cancelled", "submitted", "nothing else"),
        ("pending_payment", "paid", "Cancelled"),
    ],
)
def test_a_move_the_orders_life_does_not_allow_is_refused(app, admin, start, to, allowed):
    reference = add_order(app, status=start)
    before = stored(app, reference)
    response = move(admin, reference, to, note="kept as typed")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert f"From here it can become: {allowed}." in page_text(html)
    assert "kept as typed" in html
    after = stored(app, reference)
    assert (after.status, after.updated_at) == (before.status, before.updated_at)
    assert history(app, reference) == []


@pytest.mark.parametrize("status", ["", "bogus", "CONTACTED", "scheduled"])
def test_a_status_outside_the_list_is_refused(app, admin, status):
    reference = add_order(app)
    before = stored(app, reference)
    response = move(admin, reference, status)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose one of the statuses in the list." in html
    assert 'aria-invalid="true"' in html and f"Order {reference}" in html
    after = stored(app, reference)
    assert (after.status, after.updated_at) == (before.status, before.updated_at)


def test_a_second_tab_moving_the_same_order_is_told_it_changed(app, admin):
    reference = add_order(app, status="submitted")
    page = admin.get(f"/admin/orders/{reference}").get_data(as_text=True)
    token = form_token(page)
    first = admin.post(
        f"/admin/orders/{reference}/status", data={"status": "invoiced", "csrf_token": token}
    )
    assert first.status_code == 303
    second = admin.post(
        f"/admin/orders/{reference}/status", data={"status": "cancelled", "csrf_token": token}
    )
    assert second.status_code == 303  # invoiced → cancelled is allowed: it acts on now
    third = admin.post(
        f"/admin/orders/{reference}/status", data={"status": "invoiced", "csrf_token": token}
    )
    assert third.status_code == 409
    assert "cannot become" in page_text(third.get_data(as_text=True))


def test_the_buyer_is_told_of_a_change_only_when_asked(app, admin):
    reference = add_order(app, status="submitted", email="grace@example.com")
    move(admin, reference, "invoiced")  # the invoice always goes to the buyer
    [invoiced] = [m for m in outbox(app) if m["To"] == "grace@example.com"]
    assert invoiced["Subject"] == f"Your order {reference}: Invoiced, payment awaited"
    assert f"/orders/{reference}/invoice?key=" in invoiced.get_body(("plain",)).get_content()
    move(admin, reference, "paid")
    move(admin, reference, "call_scheduled")
    assert len([m for m in outbox(app) if m["To"] == "grace@example.com"]) == 1
    move(admin, reference, "completed", mail_buyer="1")
    mails = [m for m in outbox(app) if m["To"] == "grace@example.com"]
    [message] = [m for m in mails if m is not invoiced and m["Subject"] != invoiced["Subject"]]
    assert message["Subject"] == f"Your order {reference}: Completed"
    text = message.get_body(("plain",)).get_content()
    assert "The review is complete" in text
    assert f"/orders/{reference}/invoice?key=" in text
    assert f"/orders/{reference}?key=" in text


def test_notes_are_kept_in_the_history_for_administrators_only(app, admin):
    reference = add_order(app)
    page = admin.get(f"/admin/orders/{reference}").get_data(as_text=True)
    response = admin.post(
        f"/admin/orders/{reference}/notes",
        data={"note": "Asked for a call on Friday\r\nafter 3", "csrf_token": form_token(page)},
    )
    assert response.status_code == 303
    assert history(app, reference) == [
        ("admin", None, None, "Asked for a call on Friday\nafter 3", False)
    ]
    page = admin.get(f"/admin/orders/{reference}").get_data(as_text=True)
    assert "Asked for a call on Friday" in page
    empty = admin.post(
        f"/admin/orders/{reference}/notes", data={"note": "  ", "csrf_token": form_token(page)}
    )
    assert empty.status_code == 400 and "Write the note first." in empty.get_data(as_text=True)
    long = admin.post(
        f"/admin/orders/{reference}/notes",
        data={"note": "x" * 2001, "csrf_token": form_token(page)},
    )
    assert long.status_code == 400 and "x" * 2001 in long.get_data(as_text=True)
    assert len(history(app, reference)) == 1


def test_the_admin_shows_the_customer_not_an_account_number(app, admin):
    customer = new_account(app.test_client())
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == customer))
        user_id, name = user.id, user.name
        db.session.rollback()
    reference = add_order(app, user_id=user_id, email=customer)
    page = admin.get(f"/admin/orders/{reference}").get_data(as_text=True)
    assert f"account {user_id}" not in page
    assert name in page and customer in page
    assert f'href="/admin/orders?q={customer}"' in page


def test_a_status_change_without_csrf_token_is_refused(app, admin):
    reference = add_order(app)
    admin.get(f"/admin/orders/{reference}")
    response = admin.post(f"/admin/orders/{reference}/status", data={"status": "cancelled"})
    assert response.status_code == 400
    response = admin.post(
        f"/admin/orders/{reference}/status", data={"status": "cancelled", "csrf_token": "forged"}
    )
    assert response.status_code == 400
    assert stored(app, reference).status == "submitted"


# ---------------------------------------------------------------- CSV


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_csv_holds_every_matching_order(app, admin):
    placed = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    paid = add_order(
        app,
        reference="EG-PAID-0001",
        status="paid",
        created_at=placed,
        paid_at=placed + timedelta(minutes=10),
        hosting="other",
        hosting_other="Hetzner",
        traffic_unit="per_month",
        traffic_amount=3000000,
        stateful='Carts,\n"quoted" and more',
    )
    add_orders(app, *({"created_at": ago(minutes=minute)} for minute in range(55)))
    response = admin.get("/admin/orders.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="orders-')
    rows = read_csv(response.get_data(as_text=True))
    assert len(rows) == 56  # every page
    assert list(rows[0]) == [
        "reference",
        "created_at",
        "status",
        "name",
        "email",
        "company",
        "role",
        "hosting",
        "hosting_other",
        "traffic",
        "stateful",
        "files",
        "compliance",
        "compliance_notes",
        "cloudflare",
        "notes",
        "lines",
        "total",
        "currency",
        "paid_at",
    ]
    row = rows[-1]  # the oldest
    assert row["reference"] == paid
    assert row["created_at"] == "2026-03-04T05:06:07Z"
    assert row["paid_at"] == "2026-03-04T05:16:07Z"
    assert row["status"] == "paid"
    assert row["hosting"] == "Other" and row["hosting_other"] == "Hetzner"
    assert row["traffic"] == "3000000 requests per month"
    assert row["stateful"] == 'Carts,\n"quoted" and more'
    assert row["compliance"] == "GDPR; SOC 2"
    assert row["cloudflare"] == "Workers; R2"
    assert row["lines"] == (
        "2 × Edge architecture review @ 4500.00 USD; 1 × R2 migration plan @ 12.50 USD"
    )
    assert row["total"] == "9012.50" and row["currency"] == "USD"
    assert rows[0]["paid_at"] == ""

    only_paid = read_csv(admin.get("/admin/orders.csv?status=paid").get_data(as_text=True))
    assert [row["reference"] for row in only_paid] == [paid]
    searched = read_csv(admin.get("/admin/orders.csv?q=paid-0001").get_data(as_text=True))
    assert [row["reference"] for row in searched] == [paid]


def test_the_csv_neutralizes_formulas(app, admin):
    add_order(
        app,
        name='=HYPERLINK("http://evil.example","x")',
        company="+SUM(A1:A2)",
        role="-1+2",
        notes="@cmd",
        stateful="\tTabbed",
        files="\rReturn",
        compliance_notes="safe = text",
    )
    row = read_csv(admin.get("/admin/orders.csv").get_data(as_text=True))[0]
    assert row["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["company"] == "'+SUM(A1:A2)"
    assert row["role"] == "'-1+2"
    assert row["notes"] == "'@cmd"
    assert row["stateful"] == "'\tTabbed"
    assert row["files"] == "'\rReturn"
    assert row["compliance_notes"] == "safe = text"


# ---------------------------------------------------------------- commands


def test_the_export_command_writes_orders_since_a_day(app, runner, tmp_path):
    old, recent, newest = add_orders(
        app,
        {"created_at": datetime(2026, 1, 9, 23, 59, 59, tzinfo=UTC)},
        {"created_at": datetime(2026, 1, 10, 0, 0, 0, tzinfo=UTC)},
        {"created_at": datetime(2026, 2, 1, 12, 0, 0, tzinfo=UTC), "company": "=1+1"},
    )
    result = runner.invoke(args=["orders", "export", "--since", "2026-01-10"])
    assert result.exit_code == 0, result.output
    rows = read_csv(result.stdout)
    assert [row["reference"] for row in rows] == [newest, recent]
    assert rows[0]["company"] == "'=1+1"

    target = tmp_path / "orders.csv"
    result = runner.invoke(
        args=["orders", "export", "--since", "2026-01-01", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert "exported 3 order(s)" in result.output
    rows = read_csv(target.read_text(encoding="utf-8"))
    assert [row["reference"] for row in rows] == [newest, recent, old]


@pytest.mark.parametrize("since", ["2026-13-01", "yesterday", "10/01/2026", ""])
def test_the_export_command_refuses_a_malformed_date(app, runner, since):
    result = runner.invoke(args=["orders", "export", "--since", since])
    assert result.exit_code != 0
    assert "Invalid value for '--since'" in result.output
    assert "reference" not in result.stdout


def test_the_export_command_needs_since(app, runner):
    result = runner.invoke(args=["orders", "export"])
    assert result.exit_code != 0 and "--since" in result.output


# ---------------------------------------------------------------- expiry


def test_orders_waiting_for_payment_expire_after_a_day(app, runner):
    stale, fresh, paid = add_orders(
        app,
        {"status": "pending_payment", "created_at": ago(hours=25)},
        {"status": "pending_payment", "created_at": ago(hours=23)},
        {"status": "paid", "created_at": ago(hours=30), "paid_at": ago(hours=29)},
    )
    result = runner.invoke(args=["orders", "expire"])
    assert result.exit_code == 0, result.output
    assert "expired 1 order(s)" in result.output
    assert stored(app, stale).status == "expired"
    assert stored(app, fresh).status == "pending_payment"
    assert stored(app, paid).status == "paid"
    assert "expired 0 order(s)" in runner.invoke(args=["orders", "expire"]).output


def test_the_list_expires_stale_orders_first(app, admin):
    stale, fresh = add_orders(
        app,
        {"status": "pending_payment", "created_at": ago(hours=25)},
        {"status": "pending_payment", "created_at": ago(hours=23)},
    )
    html = admin.get("/admin/orders?status=expired").get_data(as_text=True)
    assert listed(html) == [stale]
    assert "Expired unpaid" in html
    assert listed(admin.get("/admin/orders?status=pending_payment").get_data(as_text=True)) == [
        fresh
    ]
    assert stored(app, fresh).status == "pending_payment"
