"""Accounts in Chromium, as a person uses their forms, and the accounts' own shop: an
administrator and sign-in limits generous enough for many accounts from one address."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from shop import create_app
from shop.accounts.services import make_admin
from shop.extensions import db
from tests.support.database import TEST_SECRET

PASSWORD = "correct horse battery staple 42"  # noqa: S105 (a test account's password)
ADMIN_EMAIL = "admin@example.com"

# The account forms allow 5 registrations a minute from one address (per gunicorn worker);
# these tests create more accounts than that from 127.0.0.1, so their server allows more.
GENEROUS_LIMITS = """
RATELIMIT_SIGN_IN = "1000 per minute"
RATELIMIT_SIGN_IN_EMAIL = "1000 per minute"
RATELIMIT_REGISTER = "1000 per minute"
RATELIMIT_REGISTER_EMAIL = "1000 per minute"
RATELIMIT_RESET = "1000 per minute"
RATELIMIT_RESET_EMAIL = "1000 per minute"
"""


def create_admin(instance: Path, url: str) -> None:
    """An administrator, as `flask users create-admin` makes one."""
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": instance, "DATABASE_URL": url, "SECRET_KEY": TEST_SECRET}
    )
    with app.app_context():
        make_admin(ADMIN_EMAIL, PASSWORD)
        db.session.remove()
        db.engine.dispose()


def fresh_email() -> str:
    """An address no account of the shop has yet."""
    return f"shopper-{uuid.uuid4().hex[:12]}@example.com"


def register(page: Page, name: str, email: str, password: str = PASSWORD) -> None:
    """Create an account through the form; the browser ends up signed in on /account."""
    page.goto("/account/register")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("h1")).to_have_text("Your account")


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form; the browser ends up on /account."""
    page.goto("/account/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Your account")
