"""users.email re-normalised: trimmed, NFKC, case-folded, as the accounts now store it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00

Addresses were stored trimmed and lower-cased only, so a fullwidth or otherwise look-alike
spelling of an address could hold an account of its own. This brings every existing row to
the new form. Two accounts whose addresses become one are both left as they are, and so is
an address that would not be a valid one once normalised: each is named in a warning, for
the owner to merge or fix by hand. Nothing here fails for them.
"""

import logging
import unicodedata
from collections import defaultdict

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

MAX_EMAIL = 254
users = sa.table("users", sa.column("id", sa.Integer()), sa.column("email", sa.String(254)))


def normalize(value):
    """The rules of this revision, copied rather than imported so that the migration stays
    what it was when the application's function changes: trimmed, NFKC, case-folded, and
    NFKC once more (folding can leave a sequence that NFKC composes)."""
    value = value.strip()
    if value.isascii():
        return value.lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def valid(address):
    """Whether ``address`` is a valid one, by the check the shop's forms use."""
    if len(address) > MAX_EMAIL:
        return False
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def upgrade():
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.email).order_by(users.c.id)).all()
    taken = {email: user_id for user_id, email in rows}
    groups = defaultdict(list)
    for user_id, email in rows:
        groups[normalize(email)].append((user_id, email))

    changes = []
    for address, members in groups.items():
        ids = [user_id for user_id, _ in members]
        holder = taken.get(address)
        if len(members) > 1 or holder not in (None, *ids):
            ids = sorted({*ids, holder} - {None})
            log.warning(
                "users %s share one email address once it is normalised: left unchanged; "
                "merge these accounts by hand",
                ", ".join(map(str, ids)),
            )
            continue
        [(user_id, email)] = members
        if email == address:
            continue
        if not valid(address):
            log.warning(
                "user %s: the email address is not a valid one once normalised: left "
                "unchanged; correct it by hand",
                user_id,
            )
            continue
        changes.append({"user_id": user_id, "address": address})

    if changes:
        connection.execute(
            users.update()
            .where(users.c.id == sa.bindparam("user_id"))
            .values(email=sa.bindparam("address")),
            changes,
        )
    log.info("re-normalised the email address of %d user(s)", len(changes))


def downgrade():
    # Nothing to undo: the old form (trimmed, lower case) of each address is not kept, and
    # the normalised one works with the previous revision's schema as it is.
    pass
