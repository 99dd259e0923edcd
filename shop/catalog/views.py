"""Home page, offer list, offer pages, and the site files (health, robots, sitemap)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from shop.catalog import services, shelf
from shop.db import database_ok
from shop.sessions import sessionless
from shop.text import clean_text
from shop.urls import absolute_url

bp = Blueprint("catalog", __name__)


@bp.get("/")
def home() -> str:
    """The storefront: hero, shelf, the offers and the checkout introduction."""
    return render_template(
        "catalog/home.html",
        offers=shelf.current().offers,
        canonical=absolute_url("catalog.home"),
    )


@bp.get("/offers")
def list_offers() -> str:
    """Every offer, or those with one tag (``?tag=R2``); an unknown tag is a 404."""
    tag = None
    offers = shelf.current()
    if "tag" in request.args:
        tag = offers.find_tag(clean_text(request.args["tag"], 40))
        if tag is None:
            abort(404, description="No offer carries that tag.")
    canonical = absolute_url("catalog.list_offers", **({"tag": tag} if tag else {}))
    return render_template(
        "catalog/offers.html",
        offers=offers.with_tag(tag) if tag else offers.offers,
        tag=tag,
        tags=offers.tags,
        canonical=canonical,
    )


@bp.get("/offers/<slug>")
def show_offer(slug: str) -> str:
    """One offer with its price and structured data."""
    offer = shelf.current().by_slug.get(slug)
    if offer is None:
        abort(404, description="There is no offer at this address.")
    canonical = absolute_url("catalog.show_offer", slug=offer.slug)
    product_data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": offer.title,
        "description": offer.description,
        "category": offer.category,
        "sku": offer.slug,
        "image": absolute_url("static", filename=offer.image),
        "url": canonical,
        "offers": {
            "@type": "Offer",
            "price": f"{offer.price_cents // 100}.{offer.price_cents % 100:02d}",
            "priceCurrency": offer.currency,
            "availability": "https://schema.org/InStock",
            "url": canonical,
        },
    }
    return render_template(
        "catalog/offer.html", offer=offer, canonical=canonical, product_data=product_data
    )


@bp.get("/healthz")
@sessionless
def healthz() -> Response:
    """200 when the database answers, 503 otherwise."""
    ok = database_ok()
    response = Response("ok\n" if ok else "database unavailable\n", 200 if ok else 503)
    response.mimetype = "text/plain"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/robots.txt")
def robots() -> Response:
    """Crawl everything public; point at the sitemap."""
    body = "User-agent: *\nAllow: /\nDisallow: /bag\nDisallow: /wishlist\n\n"
    body += f"Sitemap: {absolute_url('catalog.sitemap')}\n"
    return Response(body, mimetype="text/plain")


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """The public pages and every offer."""
    offers = services.list_offers()
    pages = [
        {"loc": absolute_url("catalog.home"), "lastmod": None},
        {"loc": absolute_url("catalog.list_offers"), "lastmod": None},
    ]
    pages += [
        {
            "loc": absolute_url("catalog.show_offer", slug=offer.slug),
            "lastmod": offer.updated_at.date().isoformat() if offer.updated_at else None,
        }
        for offer in offers
    ]
    # The studio's pages, linked from every footer (shop/pages/).
    pages += [
        {"loc": absolute_url(f"pages.{name}"), "lastmod": None}
        for name in ("terms", "refunds", "privacy", "contact")
    ]
    body = render_template("sitemap.xml", pages=pages)
    return Response(body, mimetype="application/xml")
