"""orders.traffic_amount holds up to 13 digits: a 64-bit integer

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 02:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("traffic_amount", existing_type=sa.Integer(), type_=sa.BigInteger())


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("traffic_amount", existing_type=sa.BigInteger(), type_=sa.Integer())
