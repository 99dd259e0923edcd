"""``flask --app app customers erase EMAIL``: a customer's personal data deleted or
anonymised in one transaction, what the books need kept, everyone else untouched."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from shop import mail
from shop.accounts.models import User
from shop.bag.models import BagLine, WishlistItem
from shop.checkout.models import DraftField
from shop.extensions import db
from shop.funnel import FunnelOwner
from shop.orders.models import Order, OrderLine
from shop.sessions import SessionRecord
from tests.support.accounts import register, sign_in, signed_in
from tests.support.catalogue import DENIM, HAT, KIT
from tests.support.checkout import checkout_page, place, send_field
from tests.support.shopper import Shopper

GRACE = "grace@example.com"
ADA = "ada@example.com"
LEFT_ALONE = (
    "not touched: mail already sent (the mailboxes, instance/outbox/), Stripe's own records "
    "of card payments, and rate-limit counters (gone within a day)"
)
# The context other buyers typed (Grace's is tests.support.checkout.GOOD's).
OTHER_CONTEXT = {
    "company": "Engines",
    "role": "Analyst",
    "stateful": "Looms",
    "files": "Punch cards",
    "compliance_notes": "None",
    "notes": "Weekday mornings",
    "billing_name": "Engines Ltd",
    "billing_address": "2 Mill Lane",
    "vat_id": "",
    "po_number": "",
}
FREE_TEXT = (
    "company",
    "role",
    "hosting_other",
    "stateful",
    "files",
    "compliance_notes",
    "notes",
    "billing_name",
    "billing_address",
    "vat_id",
    "po_number",
)


def order_now(client, **changes) -> str:
    """Fill the bag and place an order; its reference."""
    shopper = Shopper(client)
    shopper.add(HAT, quantity="2")
    shopper.add(KIT)
    _, hidden = checkout_page(client)
    response = place(client, hidden, **changes)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return re.search(r"/orders/(EG-[^?]+)\?", response.headers["Location"])[1]


def rows(app, model, *where) -> list[dict]:
    """Every column of the matching rows, as dicts, in primary-key order."""
    with app.app_context():
        table = model.__table__
        query = select(table).where(*where).order_by(*table.primary_key.columns)
        found = [dict(row._mapping) for row in db.session.execute(query)]
        db.session.rollback()
        return found


def everything(app) -> dict[str, list[dict]]:
    """Every row of every table of the shop."""
    with app.app_context():
        tables = list(db.metadata.sorted_tables)
    return {table.name: rows(app, _Model(table)) for table in tables}


class _Model:
    def __init__(self, table):
        self.__table__ = table


def user_id_of(app, address: str) -> int | None:
    found = rows(app, User, User.email == address)
    return found[0]["id"] if found else None


def owned(app, model, user_id: int) -> list[dict]:
    return rows(app, model, model.owner_type == "user", model.owner_id == str(user_id))


@pytest.fixture
def shop(app):
    """Grace: an account signed in on two devices, two orders placed signed in and one as a
    visitor, a bag line, a wishlist item and a checkout draft, and a visit that typed her
    address into the checkout without ordering. Ada: an account with the same, untouched."""
    assert mail.wait_for_outgoing()
    grace = app.test_client()
    assert register(grace, GRACE, name="Grace Hopper").status_code == 303
    signed = [order_now(grace, email=GRACE), order_now(grace, email="Grace@Example.com")]
    Shopper(grace).add(KIT)
    Shopper(grace).wish(DENIM, saved=True)
    assert send_field(grace, "company", "Compilers Ltd").status_code < 300
    second_device = app.test_client()
    assert sign_in(second_device, GRACE).status_code == 303

    visitor = app.test_client()  # not signed in, another spelling of her address
    anonymous = order_now(visitor, email=" GRACE@example.COM ", name="G. Hopper")
    typed = app.test_client()
    Shopper(typed).add(HAT)
    assert send_field(typed, "name", "Grace H.").status_code < 300
    assert send_field(typed, "email", "Grace@Example.com").status_code < 300

    ada = app.test_client()
    assert register(ada, ADA, name="Ada Lovelace").status_code == 303
    order_now(ada, email=ADA, name="Ada Lovelace", **OTHER_CONTEXT)
    Shopper(ada).add(DENIM)
    Shopper(ada).wish(HAT, saved=True)
    assert send_field(ada, "notes", "Analytical").status_code < 300
    stranger = app.test_client()
    order_now(stranger, email="someone@example.org", name="Someone", **OTHER_CONTEXT)
    assert mail.wait_for_outgoing()
    return {
        "grace": grace,
        "second_device": second_device,
        "references": [*signed, anonymous],
        "user_id": user_id_of(app, GRACE),
        "ada": ada,
    }


def test_erase_deletes_the_account_and_anonymises_the_orders(app, runner, shop):
    user_id = shop["user_id"]
    references = shop["references"]
    before = everything(app)
    # What there is to erase, as the fixture built it.
    assert len(rows(app, SessionRecord, SessionRecord.user_id == user_id)) == 2
    assert len(owned(app, BagLine, user_id)) == 1
    assert len(owned(app, WishlistItem, user_id)) == 1
    assert len(owned(app, DraftField, user_id)) == 1
    (funnel,) = owned(app, FunnelOwner, user_id)
    assert funnel["bag_at"] and funnel["checkout_at"]
    grace_orders = rows(app, Order, Order.reference.in_(references))
    assert [order["user_id"] for order in grace_orders] == [user_id, user_id, None]
    lines_before = rows(app, OrderLine, OrderLine.order_id.in_([o["id"] for o in grace_orders]))

    result = runner.invoke(args=["customers", "erase", "Grace@Example.com", "--yes"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{GRACE}: deleted 2 sessions, 1 bag line, 1 wishlist item, 2 checkout drafts, "
        f"the account {user_id}; anonymised 3 orders ({', '.join(references)})",
        LEFT_ALONE,
    ]
    # The account and everything it owned are gone; both devices are signed out.
    assert rows(app, User, User.id == user_id) == []
    assert rows(app, SessionRecord, SessionRecord.user_id == user_id) == []
    for model in (BagLine, WishlistItem, DraftField, FunnelOwner):
        assert owned(app, model, user_id) == []
    assert not signed_in(shop["grace"]) and not signed_in(shop["second_device"])
    # The visit's draft typed with her address is gone too.
    assert rows(app, DraftField, DraftField.value.in_(["Grace H.", "Grace@Example.com"])) == []

    # The orders keep what the books need, and nothing that names her.
    after = {o["reference"]: o for o in rows(app, Order, Order.reference.in_(references))}
    for old in grace_orders:
        new = after[old["reference"]]
        assert new["name"] == "erased"
        assert new["email"] == f"erased-{old['reference'].lower()}@invalid"
        assert all(new[field] == "" for field in FREE_TEXT)
        assert new["user_id"] is None and new["owner_id"] == ""
        for kept in (
            "id",
            "reference",
            "status",
            "total_cents",
            "currency",
            "created_at",
            "paid_at",
            "hosting",
            "traffic_amount",
            "traffic_unit",
            "compliance_json",
            "cloudflare_json",
            "checkout_token",
        ):
            assert new[kept] == old[kept], kept
        assert new["updated_at"] >= old["updated_at"]
    assert len({order["email"] for order in after.values()}) == 3
    assert rows(app, OrderLine, OrderLine.order_id.in_([o["id"] for o in grace_orders])) == (
        lines_before
    )
    assert sum(o["total_cents"] for o in everything(app)["orders"]) == sum(
        o["total_cents"] for o in before["orders"]
    )
    # Nothing of hers is left anywhere in the database.
    dump = repr(everything(app)).lower()
    for trace in ("grace", "hopper", "compilers", "carts and", "call after 3pm"):
        i = dump.find(trace)
        assert trace not in dump, dump[max(0, i - 400) : i + 60]


def test_other_customers_are_untouched(app, runner, shop):
    ada_id = user_id_of(app, ADA)
    before = everything(app)

    result = runner.invoke(args=["customers", "erase", GRACE, "--yes"])

    assert result.exit_code == 0, result.output
    after = everything(app)
    assert rows(app, User, User.id == ada_id)[0] == next(
        user for user in before["users"] if user["id"] == ada_id
    )
    grace_ids = {o["id"] for o in before["orders"] if o["reference"] in shop["references"]}
    others = [o for o in before["orders"] if o["id"] not in grace_ids]
    assert len(others) == 2
    assert [o for o in after["orders"] if o["id"] not in grace_ids] == others
    assert after["order_lines"] == before["order_lines"]
    for name in ("bag_lines", "wishlist_items", "checkout_drafts"):
        assert [row for row in after[name] if row["owner_id"] == str(ada_id)] == [
            row for row in before[name] if row["owner_id"] == str(ada_id)
        ]
    ada_sessions = [row for row in before["sessions"] if row["user_id"] == ada_id]
    assert ada_sessions and [r for r in after["sessions"] if r["user_id"] == ada_id] == (
        ada_sessions
    )
    assert signed_in(shop["ada"])
    assert after["offers"] == before["offers"]


def test_confirmation_is_asked_and_a_refusal_changes_nothing(app, runner, shop):
    user_id = shop["user_id"]
    before = everything(app)

    result = runner.invoke(args=["customers", "erase", GRACE], input="n\n")

    assert result.exit_code == 1
    assert (
        f"{GRACE}: this will delete 2 sessions, 1 bag line, 1 wishlist item, 2 checkout drafts, "
        f"the account {user_id}; anonymise 3 orders ({', '.join(shop['references'])})."
    ) in result.output
    assert "Erase it? [y/N]" in result.output
    assert result.output.rstrip().endswith("nothing changed")
    assert everything(app) == before
    assert signed_in(shop["grace"])


def test_no_answer_changes_nothing(app, runner, shop):
    before = everything(app)
    result = runner.invoke(args=["customers", "erase", GRACE], input="")
    assert result.exit_code != 0
    assert f"{GRACE}: this will delete 2 sessions" in result.output
    assert "Aborted" in result.output
    assert everything(app) == before


def test_a_confirmation_erases(app, runner, shop):
    result = runner.invoke(args=["customers", "erase", GRACE], input="y\n")
    assert result.exit_code == 0, result.output
    assert f"{GRACE}: deleted 2 sessions" in result.output
    assert user_id_of(app, GRACE) is None


def test_an_unknown_address_says_so_and_changes_nothing(app, runner, shop):
    before = everything(app)
    result = runner.invoke(args=["customers", "erase", "Nobody@Example.com", "--yes"])
    assert result.exit_code != 0
    assert "no account, order or checkout draft has the address nobody@example.com" in (
        result.output
    )
    assert everything(app) == before


def test_erasing_twice_finds_nothing_the_second_time(app, runner, shop):
    assert runner.invoke(args=["customers", "erase", GRACE, "--yes"]).exit_code == 0
    again = runner.invoke(args=["customers", "erase", GRACE, "--yes"])
    assert again.exit_code != 0
    assert "no account, order or checkout draft has the address" in again.output


def test_a_buyer_without_an_account(app, runner):
    visitor = app.test_client()
    reference = order_now(visitor, email="visitor@example.net", name="Vera Visitor")
    other = order_now(app.test_client(), email="other@example.net", name="Otto Other")
    assert mail.wait_for_outgoing()

    result = runner.invoke(args=["customers", "erase", "visitor@example.net", "--yes"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"visitor@example.net: anonymised 1 order ({reference})"
    )
    [order] = rows(app, Order, Order.reference == reference)
    assert order["name"] == "erased" and order["owner_id"] == ""
    assert order["email"] == f"erased-{reference.lower()}@invalid"
    [kept] = rows(app, Order, Order.reference == other)
    assert kept["name"] == "Otto Other" and kept["email"] == "other@example.net"
    # The visit that placed it no longer sees it as its own; the link in the mail still
    # opens it, and shows nothing personal.
    page = visitor.get(f"/orders/{reference}")
    assert page.status_code in (403, 404)


def test_issued_invoices_are_kept_as_issued_and_notes_emptied(app, runner):
    from shop.orders import services
    from shop.orders.models import Invoice, OrderEvent

    reference = order_now(app.test_client(), email="vera@example.net", name="Vera Visitor")
    with app.app_context(), app.test_request_context("/"):
        order = services.get_order(reference)
        services.change_status(order, "invoiced", user_id=None, note="Vera asked for PDF")
        services.add_note(order, "Vera's phone: 555-0100", user_id=None)
        db.session.remove()
    [invoice] = rows(app, Invoice)
    result = runner.invoke(args=["customers", "erase", "vera@example.net", "--yes"])
    assert result.exit_code == 0, result.output
    assert (
        f"anonymised 1 order ({reference}), 2 notes on those orders; "
        f"kept 1 invoice as issued ({invoice['number']}), which tax law requires unchanged"
    ) in result.output
    assert rows(app, Invoice) == [invoice]
    assert {event["note"] for event in rows(app, OrderEvent)} == {""}
