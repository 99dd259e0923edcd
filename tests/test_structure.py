"""The house's doors open one way (DESIGN.md): which domain may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SHOP = Path(__file__).resolve().parents[1] / "shop"

# A domain never imports these (another domain reacts, or calls it, instead).
FORBIDDEN = {
    "catalog": (
        "shop.bag",
        "shop.checkout",
        "shop.orders",
        "shop.payments",
        "shop.accounts",
        "shop.calls",
    ),
    "orders": ("shop.checkout", "shop.bag", "shop.payments", "shop.calls"),
    "bag": ("shop.checkout", "shop.orders", "shop.payments", "shop.calls"),
    "calls": ("shop.checkout", "shop.bag", "shop.payments"),
}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("domain", sorted(FORBIDDEN))
def test_imports_point_one_way(domain):
    for path in sorted((SHOP / domain).glob("*.py")):
        for name in imports(path):
            assert not name.startswith(FORBIDDEN[domain]), f"{path.name} imports {name}"


def test_services_never_read_the_request():
    for path in sorted(SHOP.glob("*/services.py")):
        source = path.read_text()
        names = imports(path)
        assert "flask_login" not in names, path
        tree = ast.parse(source)
        flask_names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "flask"
            for alias in node.names
        }
        assert not flask_names & {"request", "session", "g"}, (path, flask_names)


def test_services_use_no_view_helpers():
    """Text cleaning lives in shop/text.py, which knows no Flask; shop/web.py is the views'."""
    assert not {name for name in imports(SHOP / "text.py") if name.startswith("flask")}
    for path in sorted(SHOP.glob("*/services.py")):
        assert "shop.web" not in imports(path), path


def test_signing_in_knows_nothing_of_bags_and_drafts():
    """Bag and checkout join a visit's things to the customer's on Flask-Login's
    user_logged_in signal; the accounts views never call them."""
    names = imports(SHOP / "accounts" / "views.py")
    assert not {name for name in names if name.startswith(("shop.bag", "shop.checkout"))}


def test_only_the_clock_reads_the_wall_clock():
    """DESIGN.md: a clock that tests can move (shop/clock.py), never datetime.now() in shop/."""
    for path in sorted(SHOP.rglob("*.py")):
        if path.name != "clock.py":
            assert "datetime.now(" not in path.read_text(), path


def test_services_return_data_not_markup():
    """Markup and statuses belong to the views: no domain's services (nor search's engines
    and query parsing) import markupsafe, and the query parsing imports no database either."""
    for path in [*SHOP.glob("*/services.py"), SHOP / "search" / "engines.py"]:
        assert "markupsafe" not in imports(path), path
    query = imports(SHOP / "search" / "query.py")
    assert not {name for name in query if name.startswith(("flask", "sqlalchemy", "markupsafe"))}


def test_search_has_one_class_per_engine():
    from shop.search import engines

    assert {type(engine).__name__ for engine in engines.ENGINES.values()} == {
        "Fts5Engine",
        "PostgresEngine",
    }


def test_the_dashboard_reads_every_domain_and_none_reads_it():
    """shop/dashboard sits on top: it may read any domain's tables, no domain imports it;
    shop/funnel.py, which bag and checkout write to, knows no domain."""
    for path in sorted(SHOP.rglob("*.py")):
        if path.parent.name == "dashboard" or path == SHOP / "__init__.py":
            continue
        assert not {name for name in imports(path) if name.startswith("shop.dashboard")}, path
    shop_names = {name for name in imports(SHOP / "funnel.py") if name.startswith("shop")}
    assert shop_names <= {"shop.clock", "shop.db", "shop.domain", "shop.extensions"}
