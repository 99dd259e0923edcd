"""The mail the shop writes to its outbox (instance/outbox/) when no SMTP server is set."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from flask import Flask

from shop import mail


def outbox(app: Flask) -> list[EmailMessage]:
    """Every message in the app's outbox, oldest first, once the background sends ended."""
    assert mail.wait_for_outgoing()
    folder = Path(app.instance_path) / mail.OUTBOX
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
