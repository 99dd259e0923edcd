"""scoping calls: the studio's hours and limits, the calls booked; offers.call_minutes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 22:30:00

The studio starts with weekday hours 09:00–17:00 (in SHOP_STUDIO_TIMEZONE) and the default
limits; the owner changes them at /admin/calls/hours. On PostgreSQL an exclusion constraint
refuses two booked calls whose busy times (start to end plus buffer) overlap.
"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STAMP = sa.DateTime(timezone=True)


def upgrade():
    # A plain ADD COLUMN (no batch copy of the table on SQLite: the search index's view
    # reads offers).
    op.add_column(
        "offers", sa.Column("call_minutes", sa.Integer(), nullable=False, server_default="60")
    )

    hours = op.create_table(
        "call_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_call_hours_weekday_known")),
        sa.CheckConstraint(
            "start_minute >= 0 AND end_minute <= 1440", name=op.f("ck_call_hours_within_day")
        ),
        sa.CheckConstraint(
            "start_minute < end_minute", name=op.f("ck_call_hours_starts_before_end")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_hours")),
    )
    op.create_table(
        "call_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=True),
        sa.Column("end_minute", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(start_minute IS NULL AND end_minute IS NULL) OR "
            "(start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute)",
            name=op.f("ck_call_days_off_or_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_days")),
    )
    with op.batch_alter_table("call_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_days_day"), ["day"], unique=False)

    settings = op.create_table(
        "call_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_minutes", sa.Integer(), nullable=False),
        sa.Column("notice_hours", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("max_per_day", sa.Integer(), nullable=False),
        sa.Column("cutoff_hours", sa.Integer(), nullable=False),
        sa.Column("feed_secret", sa.String(length=64), nullable=False),
        sa.Column("hours_version", sa.String(length=32), server_default="", nullable=False),
        sa.Column("calls_version", sa.String(length=32), server_default="", nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_call_settings_one_row")),
        sa.CheckConstraint(
            "step_minutes BETWEEN 5 AND 240 AND buffer_minutes BETWEEN 0 AND 240 AND "
            "notice_hours BETWEEN 0 AND 2160 AND window_days BETWEEN 1 AND 365 AND "
            "max_per_day BETWEEN 1 AND 48 AND cutoff_hours BETWEEN 0 AND 720",
            name=op.f("ck_call_settings_limits_in_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_settings")),
    )

    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=80), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("starts_at", STAMP, nullable=False),
        sa.Column("ends_at", STAMP, nullable=False),
        sa.Column("blocked_until", STAMP, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("buyer_zone", sa.String(length=64), nullable=False),
        sa.Column("order_status_before", sa.String(length=20), nullable=False),
        sa.Column("reminded_at", STAMP, nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.Column("cancelled_at", STAMP, nullable=True),
        sa.CheckConstraint("status IN ('booked', 'cancelled')", name=op.f("ck_calls_status_known")),
        sa.CheckConstraint(
            "starts_at < ends_at AND ends_at <= blocked_until",
            name=op.f("ck_calls_times_in_order"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_calls_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("uid", name=op.f("uq_calls_uid")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_calls_status_starts_at", ["status", "starts_at"], unique=False)
        batch_op.create_index(
            "ux_calls_booked_order",
            ["order_id"],
            unique=True,
            sqlite_where=sa.text("status = 'booked'"),
            postgresql_where=sa.text("status = 'booked'"),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE calls ADD CONSTRAINT ex_calls_busy_overlap EXCLUDE USING gist "
            "(tstzrange(starts_at, blocked_until) WITH &&) WHERE (status = 'booked')"
        )

    op.bulk_insert(
        hours,
        [
            {"weekday": weekday, "start_minute": 9 * 60, "end_minute": 17 * 60}
            for weekday in range(5)
        ],
    )
    op.bulk_insert(
        settings,
        [
            {
                "id": 1,
                "step_minutes": 30,
                "buffer_minutes": 15,
                "notice_hours": 24,
                "window_days": 30,
                "max_per_day": 4,
                "cutoff_hours": 24,
                "feed_secret": secrets.token_urlsafe(32),
                "hours_version": secrets.token_hex(16),
                "calls_version": secrets.token_hex(16),
                "updated_at": datetime.now(UTC),
            }
        ],
    )


def downgrade():
    op.drop_table("calls")
    op.drop_table("call_settings")
    with op.batch_alter_table("call_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_days_day"))
    op.drop_table("call_days")
    op.drop_table("call_hours")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE offers DROP COLUMN call_minutes")  # SQLite 3.35+, no copy
    else:
        op.drop_column("offers", "call_minutes")
