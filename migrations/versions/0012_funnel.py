"""funnel: when each owner first put something in the bag and first started the checkout

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:00:00

Filled from what the shop holds now: owners with bag lines reached the bag (when their first
line was added), owners with a checkout draft the checkout (its first field's time), and
owners of orders both (when the order was placed).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "funnel",
        sa.Column("owner_type", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("bag_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checkout_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("owner_type", "owner_id", name=op.f("pk_funnel")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_funnel_bag_at_checkout_at", "funnel", ["bag_at", "checkout_at"], unique=False
    )
    # The earliest time per owner of each step, from each source, in one INSERT.
    op.execute(
        """
        INSERT INTO funnel (owner_type, owner_id, bag_at, checkout_at)
        SELECT owner_type, owner_id, min(bag_at), min(checkout_at) FROM (
            SELECT owner_type, owner_id, added_at AS bag_at, NULL AS checkout_at
            FROM bag_lines
            UNION ALL
            SELECT owner_type, owner_id, NULL, updated_at FROM checkout_drafts
            UNION ALL
            SELECT owner_type, owner_id, created_at, created_at FROM orders
        ) AS found
        WHERE owner_id <> ''
        GROUP BY owner_type, owner_id
        """
    )


def downgrade():
    op.drop_index("ix_funnel_bag_at_checkout_at", table_name="funnel")
    op.drop_table("funnel")
