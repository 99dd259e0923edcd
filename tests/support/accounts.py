"""Accounts through the Flask test client, as their forms are sent: register, sign in and
out, ask for a password reset."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient

from tests.support.forms import csrf_token, csrf_token_of, has_csrf_token

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different long passphrase 7"


def post(client: FlaskClient, path: str, data: dict, token: str | None = None, **options):
    """Send a form to ``path``: with the CSRF token of its page (of the sign-in page for a
    reset link, whose page is not to be spent), or ``token``; none when it is ``""``."""
    data = dict(data)
    if token is None:
        token = csrf_token_of(client, path if "/reset/" not in path else "/account/sign-in")
    if token:
        data["csrf_token"] = token
    return client.post(path, data=data, **options)


def register(
    client: FlaskClient, email_address: str, name: str = "Ada Lovelace", password: str = PASSWORD
):
    """Send the registration form; a 303 leaves the client signed in."""
    return post(
        client,
        "/account/register",
        {"name": name, "email": email_address, "password": password, "confirm": password},
    )


def sign_in(client: FlaskClient, email_address: str, password: str = PASSWORD, **extra):
    return post(client, "/account/sign-in", {"email": email_address, "password": password, **extra})


def sign_out(client: FlaskClient):
    return post(client, "/account/sign-out", {}, token=csrf_token_of(client, "/account"))


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


def unique_email() -> str:
    return f"ada-{uuid.uuid4().hex[:10]}@example.com"


def new_account(client: FlaskClient) -> str:
    """Register an account with an address of its own; the client stays signed in. Returns
    the address."""
    address = unique_email()
    response = register(client, address)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return address


def new_customer(app: Flask) -> str:
    """A customer registered in a browser of their own and signed out again: the address."""
    client = app.test_client()
    address = new_account(client)
    assert sign_out(client).status_code == 303
    return address


def ask_reset(client: FlaskClient, address: str, **headers: str):
    """Ask for a password reset link as the form does, with ``headers`` on both requests
    (a page refused for its headers has no token: the form is then sent without one)."""
    html = client.get("/account/reset", headers=headers).get_data(as_text=True)
    token = csrf_token(html) if has_csrf_token(html) else ""
    data = {"email": address, "csrf_token": token}
    return client.post("/account/reset", data=data, headers=headers)


def reset_link(message: EmailMessage) -> str:
    """The path of the reset link in a reset mail."""
    text = message.get_body(("plain",)).get_content()
    return re.search(r"http://localhost(/account/reset/\S+)", text)[1]
