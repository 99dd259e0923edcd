"""the order's life (statuses invoiced and call_scheduled, a history of events), invoices with
numbers per year, invoice details on orders

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:00:00

The statuses an administrator could set by hand before, "contacted" and "scheduled", become
the order's place in its life: "scheduled" is "call_scheduled"; "contacted" is "paid" for
an order that was paid and "submitted" for one that was not (the contact itself said
nothing about payment).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD = (
    "pending_payment",
    "submitted",
    "paid",
    "contacted",
    "scheduled",
    "completed",
    "cancelled",
    "expired",
)
NEW = (
    "pending_payment",
    "submitted",
    "invoiced",
    "paid",
    "call_scheduled",
    "completed",
    "cancelled",
    "expired",
)


def _known(statuses):
    return "status IN (" + ", ".join(f"'{status}'" for status in statuses) + ")"


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_status_known"), type_="check")
        batch_op.add_column(
            sa.Column("billing_name", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("billing_address", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("vat_id", sa.String(length=20), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("po_number", sa.String(length=40), nullable=False, server_default="")
        )
    op.execute("UPDATE orders SET status = 'call_scheduled' WHERE status = 'scheduled'")
    op.execute(
        "UPDATE orders SET status = CASE WHEN paid_at IS NULL THEN 'submitted' ELSE 'paid' END "
        "WHERE status = 'contacted'"
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_check_constraint("status_known", _known(NEW))

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("mailed_buyer", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_events_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_order_events_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_events_order_id"), ["order_id"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seller_json", sa.Text(), nullable=False),
        sa.Column("buyer_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_invoices_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint("order_id", name=op.f("uq_invoices_order_id")),
        sa.UniqueConstraint("year", "sequence", name=op.f("uq_invoices_year_sequence")),
    )
    op.create_table(
        "invoice_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_invoice_counters")),
    )


def downgrade():
    op.drop_table("invoice_counters")
    op.drop_table("invoices")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_events_order_id"))
    op.drop_table("order_events")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_status_known"), type_="check")
    op.execute("UPDATE orders SET status = 'scheduled' WHERE status = 'call_scheduled'")
    op.execute("UPDATE orders SET status = 'submitted' WHERE status = 'invoiced'")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("po_number")
        batch_op.drop_column("vat_id")
        batch_op.drop_column("billing_address")
        batch_op.drop_column("billing_name")
        batch_op.create_check_constraint("status_known", _known(OLD))
