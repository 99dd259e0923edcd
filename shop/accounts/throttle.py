"""Failed sign-ins, counted so that guessing is slow and the rightful owner is not locked out.

Three counts of *failures* (a wrong password or an unknown address), through
``shop.throttle`` (the rate limits' storage):

* per client and address typed (``RATELIMIT_SIGN_IN_EMAIL``): one client guessing one
  account's password;
* per client (``RATELIMIT_SIGN_IN``): one client trying many accounts;
* per address over every client (``RATELIMIT_SIGN_IN_EMAIL_CEILING``, much looser): many
  clients guessing one account. It stops only clients that have themselves failed for that
  address, so a round of wrong guesses from elsewhere never keeps the owner, typing the
  right password on their own device, out.

An attempt is counted before the password is checked (a burst of simultaneous guesses gets
no extra tries) and given back unless the password was wrong.
"""

from __future__ import annotations

from shop import throttle


def _rules(email: str, client: str) -> tuple[list[throttle.Rule], list[throttle.Rule]]:
    pair = [("RATELIMIT_SIGN_IN_EMAIL", f"sign-in/pair/{client}/{email}")]
    per_client = [("RATELIMIT_SIGN_IN", f"sign-in/client/{client}")]
    return pair + per_client, [("RATELIMIT_SIGN_IN_EMAIL_CEILING", f"sign-in/email/{email}")]


def begin(email: str, client: str) -> int | None:
    """Count a sign-in attempt of ``client`` as ``email`` before the password is checked.

    Returns the seconds until the client may try again when a limit is reached (nothing is
    counted then), or None: the attempt counts until :func:`end` says how it went.
    """
    counted, ceiling = _rules(email, client)
    if throttle.used(counted[:1]):  # this client failed for this address before
        seconds = throttle.wait(ceiling)
        if seconds:
            return seconds
    return throttle.take(counted)


def end(email: str, client: str, *, failed: bool) -> None:
    """Say how a counted attempt went: a failure also counts towards the address's ceiling;
    anything else (signed in, or no password checked at all) is not counted after all."""
    counted, ceiling = _rules(email, client)
    if failed:
        throttle.count(ceiling)
    else:
        throttle.give_back(counted)
