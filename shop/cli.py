"""Flask commands: ``catalog load``, ``sessions purge``, ``users create-admin``,
``orders export``, ``orders expire``, ``orders notify``, ``settings check``,
``customers erase``."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import AppGroup

from shop import deploy
from shop.accounts.erase import NothingToErase, erase_customer
from shop.accounts.services import AccountError, find_user, make_admin, password_problem
from shop.bag.services import purge_anonymous
from shop.calls.mails import send_reminders
from shop.catalog.services import CatalogError, load_catalog
from shop.checkout.services import purge_anonymous_drafts
from shop.clock import now
from shop.orders.export import OrderFilter, write_csv
from shop.orders.notifications import send_held
from shop.orders.services import expire_pending
from shop.sessions import purge_expired

catalog_cli = AppGroup("catalog", help="Manage the offers.")
sessions_cli = AppGroup("sessions", help="Manage visitor sessions.")
users_cli = AppGroup("users", help="Manage customer accounts.")
orders_cli = AppGroup("orders", help="Export and expire orders.")


@catalog_cli.command("load")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def load_command(file: Path | None) -> None:
    """Upsert the offers of FILE (default: the packaged offers.toml) by slug."""
    try:
        created, updated = load_catalog(file)
    except CatalogError as error:
        raise click.ClickException(f"catalogue refused, nothing changed: {error}") from None
    click.echo(f"catalogue loaded: {created} created, {updated} updated")


@sessions_cli.command("purge")
def purge_command() -> None:
    """Delete expired sessions and the bags, wishlists and checkout drafts they leave."""
    leftovers = purge_anonymous() + purge_anonymous_drafts()
    removed = purge_expired()
    click.echo(f"purged {removed} expired session(s) and {leftovers} bag, wishlist or draft row(s)")


def _valid_email(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _read_password(email: str) -> str:
    """Ask twice on a terminal; read one line from stdin otherwise (scripts, pipes)."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password, email)
    if problem:
        raise click.ClickException(f"password refused: {problem}")
    return password


@users_cli.command("create-admin")
@click.argument("email")
def create_admin_command(email: str) -> None:
    """Make EMAIL an administrator: promote its account, or create one (asking for the
    password on a terminal, or reading it from the first line of stdin)."""
    if not _valid_email(email.strip()):
        raise click.ClickException(f"not an email address: {email!r}")
    password = None if find_user(email) else _read_password(email)
    try:
        user, created = make_admin(email, password)
    except AccountError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{'created' if created else 'promoted'} administrator {user.email}")


@orders_cli.command("export")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only orders placed on this day (UTC) or later, as YYYY-MM-DD.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the CSV to this file instead of the standard output.",
)
def export_orders_command(since: datetime, output: Path | None) -> None:
    """Write the orders placed since --since as CSV, newest first (the admin's export)."""
    expire_pending()  # as the admin pages do: no stale "waiting for payment"
    filters = OrderFilter(since=since.replace(tzinfo=UTC))
    if output is None:
        write_csv(sys.stdout, filters)
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as stream:
            count = write_csv(stream, filters)
    except OSError as error:
        raise click.ClickException(f"could not write {output}: {error.strerror}") from None
    click.echo(f"exported {count} order(s) to {output}")


@orders_cli.command("expire")
def expire_orders_command() -> None:
    """Expire the orders left waiting for payment for more than a day."""
    click.echo(f"expired {expire_pending()} order(s) left waiting for payment")


@orders_cli.command("notify")
def notify_orders_command() -> None:
    """Mail the owner the orders whose notification was held in a burst (run it from cron
    every few minutes; nothing is sent when none was held)."""
    base = current_app.config.get("PUBLIC_URL") or "http://localhost"
    with current_app.test_request_context("/", base_url=base):  # links need an address
        sent = send_held(now())
    click.echo(f"named {sent} held order{'s' if sent != 1 else ''} in a mail to the owner")


calls_cli = AppGroup("calls", help="The scoping calls.")


@calls_cli.command("remind")
def remind_calls_command() -> None:
    """Remind the buyers of calls starting within a day (run it from cron, e.g. every 15
    minutes: each reminder goes once however often it runs)."""
    base = current_app.config.get("PUBLIC_URL") or "http://localhost"
    with current_app.test_request_context("/", base_url=base):  # links need an address
        sent = send_reminders(now())
    click.echo(f"sent {sent} reminder{'s' if sent != 1 else ''} of scoping calls")


settings_cli = AppGroup("settings", help="Check the configuration.")


@settings_cli.command("check")
@click.option("--bind", default=None, help="Where gunicorn listens (default: SHOP_BIND).")
def check_settings_command(bind: str | None) -> None:
    """Say what the shop serves and warn of settings a public deployment lacks."""
    bind = bind or os.environ.get("SHOP_BIND") or "127.0.0.1:8000"
    click.echo(deploy.summary(current_app.config, bind))
    for warning in deploy.warnings(current_app.config, bind):
        click.echo(f"warning: {warning}", err=True)


customers_cli = AppGroup("customers", help="Erase a customer's personal data.")

# What the erase command cannot reach, said after each erasure.
ERASE_LEFT_ALONE = (
    "not touched: mail already sent (the mailboxes, instance/outbox/), Stripe's own records "
    "of card payments, and rate-limit counters (gone within a day)"
)


@customers_cli.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_customer_command(email: str, yes: bool) -> None:
    """Erase the personal data of the customer with EMAIL: delete the account, its sessions,
    bag, wishlist and checkout drafts, and anonymise the orders placed with that address or
    account, keeping what the books need (reference, dates, lines, totals). Asks first
    unless --yes is given."""
    try:
        if not yes:
            preview = erase_customer(email, dry_run=True)
            click.echo(f"{preview.email}: this will {preview.summary(past=False)}.")
            if not click.confirm("Erase it?", default=False):
                click.echo("nothing changed")
                raise click.exceptions.Exit(1)
        result = erase_customer(email)
    except NothingToErase as error:
        raise click.ClickException(
            f"no account, order or checkout draft has the address {error.email}"
        ) from None
    click.echo(f"{result.email}: {result.summary()}")
    click.echo(ERASE_LEFT_ALONE)


def register_cli(app: Flask) -> None:
    """Attach the shop's command groups to the app."""
    app.cli.add_command(catalog_cli)
    app.cli.add_command(sessions_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(orders_cli)
    app.cli.add_command(calls_cli)
    app.cli.add_command(settings_cli)
    app.cli.add_command(customers_cli)
