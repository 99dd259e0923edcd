"""funnel_steps: the bag and checkout steps each owner reached, kept for the dashboard

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
        "funnel_steps",
        sa.Column("owner_type", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=10), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_type", "owner_id", "step", name=op.f("pk_funnel_steps")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_funnel_steps_step_reached_at", "funnel_steps", ["step", "reached_at"], unique=False
    )
    # The earliest time per owner and step, from each source; one INSERT per step.
    op.execute(
        """
        INSERT INTO funnel_steps (owner_type, owner_id, step, reached_at)
        SELECT owner_type, owner_id, 'bag', min(reached_at) FROM (
            SELECT owner_type, owner_id, added_at AS reached_at FROM bag_lines
            UNION ALL
            SELECT owner_type, owner_id, created_at FROM orders
        ) AS found
        GROUP BY owner_type, owner_id
        """
    )
    op.execute(
        """
        INSERT INTO funnel_steps (owner_type, owner_id, step, reached_at)
        SELECT owner_type, owner_id, 'checkout', min(reached_at) FROM (
            SELECT owner_type, owner_id, updated_at AS reached_at FROM checkout_drafts
            UNION ALL
            SELECT owner_type, owner_id, created_at FROM orders
        ) AS found
        GROUP BY owner_type, owner_id
        """
    )


def downgrade():
    op.drop_index("ix_funnel_steps_step_reached_at", table_name="funnel_steps")
    op.drop_table("funnel_steps")
