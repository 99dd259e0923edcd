"""orders.owner_notified_at: when the owner's notification of the order went out

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:30:00

A burst of orders is summed up in one mail instead of one mail each; an order whose
notification is held has no time here until a later mail names it. Orders placed before
this revision were each notified already.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_notified_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE orders SET owner_notified_at = created_at")


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("owner_notified_at")
