"""What a public deployment needs, checked against the configuration.

``flask --app app settings check`` (which ``scripts/run`` runs before it serves) prints
which address and host names the shop serves, and a warning for each setting a shop open
to the internet needs and lacks. A laptop with the defaults gets no warnings.
"""

from __future__ import annotations

import ipaddress
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from shop.hosts import allowed_hosts

LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}


def _local_bind(bind: str) -> bool:
    if bind.startswith("unix:"):
        return True
    host = bind.rsplit(":", 1)[0].strip("[]") if ":" in bind else bind
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parts(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _local_owner(config: dict[str, Any]) -> bool:
    owner = config.get("ORDERS_EMAIL") or config.get("MAIL_FROM") or ""
    return parseaddr(owner)[1].endswith("@localhost")


def summary(config: dict[str, Any], bind: str) -> str:
    """One line: where gunicorn listens and which host names are answered."""
    return f"serving the shop on {bind} for the hosts {', '.join(allowed_hosts(config))}"


def warnings(config: dict[str, Any], bind: str) -> list[str]:
    """What is missing for a deployment open to the internet, as sentences to print."""
    public_url = config.get("PUBLIC_URL")
    hosts = allowed_hosts(config)
    public = (
        not _local_bind(bind)
        or bool(public_url)
        or bool(config.get("HTTPS"))
        or any(host not in LOCAL_NAMES for host in hosts)
    )
    found: list[str] = []
    if not _local_bind(bind):
        found.append(
            f"gunicorn listens on {bind}: it must sit behind the README's nginx site, which "
            "buffers slow clients and refuses other hosts; bind it to 127.0.0.1."
        )
    if not public:
        # On a laptop only the one that loses mail silently: the owner's notifications.
        return found + owner_warnings(config)[:1] if _local_owner(config) else found
    if not public_url:
        found.append(
            "SHOP_PUBLIC_URL is unset: links in mail and canonical links follow the request's "
            "host; set it to the shop's public origin, e.g. https://shop.example."
        )
    elif urlsplit(public_url).scheme != "https":
        found.append(f"SHOP_PUBLIC_URL is {public_url}: a public shop is served over https.")
    if not config.get("HTTPS"):
        found.append(
            "SHOP_HTTPS is off: cookies lack Secure and __Host-, and there is no HSTS; "
            "turn it on behind TLS."
        )
    elif not int(config.get("TRUSTED_PROXIES") or 0):
        found.append(
            "SHOP_TRUSTED_PROXIES is 0 with SHOP_HTTPS on: behind the proxy every client looks "
            "like the proxy (rate limits) and the scheme is wrong; set it to 1 behind nginx."
        )
    if str(config.get("RATELIMIT_STORAGE_URI") or "").startswith("memory://"):
        found.append(
            "SHOP_RATELIMIT_STORAGE_URI is memory://: each worker counts apart, so the limits "
            "let several times their numbers through; leave it unset (a file shared by the "
            "workers) or use Redis for several machines."
        )
    return found + owner_warnings(config)


def owner_warnings(config: dict[str, Any]) -> list[str]:
    """Settings the studio's owner must fill in before selling: where the notifications of
    orders go, the studio's details on invoices and legal pages, how mail leaves."""
    found = []
    owner = config.get("ORDERS_EMAIL") or config.get("MAIL_FROM") or ""
    if parseaddr(owner)[1].endswith("@localhost"):
        found.append(
            f"Notifications of orders go to {parseaddr(owner)[1]}: set SHOP_ORDERS_EMAIL to the "
            "owner's address (and SHOP_MAIL_FROM to the shop's)."
        )
    placeholders = [
        f"SHOP_{name}"
        for name in (
            "STUDIO_NAME",
            "STUDIO_ADDRESS",
            "STUDIO_EMAIL",
            "STUDIO_VAT_ID",
            "STUDIO_REGISTER",
            "INVOICE_PAYMENT_DETAILS",
        )
        if any("[" in str(part) for part in _parts(config.get(name, "")))
    ]
    if placeholders:
        found.append(
            f"{', '.join(placeholders)} still hold placeholders in brackets: invoices and the "
            "privacy, terms and contact pages show them."
        )
    if not config.get("SMTP_HOST"):
        found.append("SHOP_SMTP_HOST is unset: mail is written to instance/outbox/, not sent.")
    return found
