"""Flask commands: ``catalog load``, ``sessions purge``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from shop.bag.services import purge_anonymous
from shop.catalog.services import CatalogError, load_catalog
from shop.sessions import purge_expired

catalog_cli = AppGroup("catalog", help="Manage the offers.")
sessions_cli = AppGroup("sessions", help="Manage visitor sessions.")


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
    """Delete expired sessions and the bags and wishlists of anonymous ones."""
    leftovers = purge_anonymous()
    removed = purge_expired()
    click.echo(f"purged {removed} expired session(s) and {leftovers} bag or wishlist row(s)")


def register_cli(app: Flask) -> None:
    """Attach the shop's command groups to the app."""
    app.cli.add_command(catalog_cli)
    app.cli.add_command(sessions_cli)
