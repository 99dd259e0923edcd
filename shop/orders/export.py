"""Which orders an administrator asked for, and those orders as CSV.

Shared by the admin pages (the list and its "Export CSV" download) and the ``orders export``
command, so the three select and write orders the same way.

The CSV has one row per order. Every cell that a spreadsheet would read as a formula
(starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading
apostrophe: the buyer typed most of these values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import Select, or_, select

from shop.extensions import db
from shop.orders.choices import LABELS
from shop.orders.models import Order

COLUMNS = (
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
)
# What a spreadsheet may take for the start of a formula (OWASP's "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 500  # orders loaded per query while writing the CSV
QUERY_LIMIT = 100  # longest search text, as the list's search box


# ---------------------------------------------------------------- which orders


def like_pattern(text: str) -> str:
    """``%text%`` for LIKE with the escape character ``\\``: % and _ in ``text`` are literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class OrderFilter:
    """The orders asked for: a status (a key of STATUSES), a search text matched in the
    reference and the email (partly, any case), orders placed since a moment. Empty values
    select everything."""

    status: str | None = None
    query: str = ""
    since: datetime | None = None

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.status:
            conditions.append(Order.status == self.status)
        if self.query:
            pattern = like_pattern(self.query)
            conditions.append(
                or_(
                    Order.reference.ilike(pattern, escape="\\"),
                    Order.email.ilike(pattern, escape="\\"),
                )
            )
        if self.since is not None:
            conditions.append(Order.created_at >= self.since)
        return conditions

    def select(self) -> Select:
        """The matching orders, newest first."""
        return (
            select(Order)
            .where(*self.conditions())
            .order_by(Order.created_at.desc(), Order.id.desc())
        )

    def select_ids(self) -> Select:
        """The ids of the matching orders, newest first."""
        return (
            select(Order.id)
            .where(*self.conditions())
            .order_by(Order.created_at.desc(), Order.id.desc())
        )


# ---------------------------------------------------------------- values


def utc(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC. SQLite gives back the UTC times it stored without their zone."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str:
    """ISO 8601 in UTC to the second (``2026-11-29T14:03:07Z``), or "" for no moment."""
    moment = utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def decimal_amount(cents: int) -> str:
    """Cents as a plain decimal amount: 450000 → "4500.00"."""
    return f"{Decimal(cents) / 100:.2f}"


def neutralize(value: str) -> str:
    """The cell as a spreadsheet shows it as text, never as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _labels(kind: str, keys: Iterable[str]) -> str:
    names = LABELS[kind]
    return "; ".join(names.get(key, key) for key in keys)


def order_row(order: Order) -> dict[str, str]:
    """The CSV cells of one order, by column, neutralized."""
    lines = "; ".join(
        f"{line.quantity} × {line.title} @ {decimal_amount(line.unit_price_cents)} {line.currency}"
        for line in order.lines
    )
    unit = LABELS["traffic_unit"].get(order.traffic_unit, order.traffic_unit)
    row = {
        "reference": order.reference,
        "created_at": iso(order.created_at),
        "status": order.status,
        "name": order.name,
        "email": order.email,
        "company": order.company,
        "role": order.role,
        "hosting": LABELS["hosting"].get(order.hosting, order.hosting),
        "hosting_other": order.hosting_other,
        "traffic": f"{order.traffic_amount} {unit}",
        "stateful": order.stateful,
        "files": order.files,
        "compliance": _labels("compliance", order.compliance),
        "compliance_notes": order.compliance_notes,
        "cloudflare": _labels("cloudflare", order.cloudflare),
        "notes": order.notes,
        "lines": lines,
        "total": decimal_amount(order.total_cents),
        "currency": order.currency,
        "paid_at": iso(order.paid_at),
    }
    return {column: neutralize(value or "") for column, value in row.items()}


# ---------------------------------------------------------------- CSV


def _orders(filters: OrderFilter) -> Iterator[Order]:
    """The matching orders, newest first, loaded a batch at a time (lines included)."""
    ids = list(db.session.scalars(filters.select_ids()))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        batch = db.session.scalars(select(Order).where(Order.id.in_(chunk)))
        found = {order.id: order for order in batch}
        # The identity map holds them weakly: a written batch can be collected.
        yield from (found[order_id] for order_id in chunk if order_id in found)


def iter_csv(filters: OrderFilter) -> Iterator[str]:
    """The CSV of the matching orders as text: the header row, then one chunk per batch."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for count, order in enumerate(_orders(filters), start=1):
        writer.writerow(order_row(order))
        if count % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(stream: IO[str], filters: OrderFilter) -> int:
    """Write the CSV of the matching orders to ``stream`` (opened with ``newline=""``);
    returns how many orders it holds."""
    writer = csv.DictWriter(stream, fieldnames=COLUMNS)
    writer.writeheader()
    count = 0
    for order in _orders(filters):
        writer.writerow(order_row(order))
        count += 1
    return count
