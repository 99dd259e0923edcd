"""A bare Flask app for bench/load.py: one route that answers a small, fixed HTML page.

It is the yardstick for the shop's pages: the same gunicorn settings (gunicorn.conf.py) and
the same Flask and Werkzeug, but no database, no templates, no session and no extensions.
What the shop costs beyond this is the shop's own work. Served by bench/load.py as

    gunicorn -c gunicorn.conf.py bench.bare_app:app
"""

from __future__ import annotations

from flask import Flask

_ITEMS = "\n".join(
    f'      <li><a href="/offers/item-{n}">Item {n}</a>: a short line of text to read.</li>'
    for n in range(1, 21)
)
# About 2 KB, the size of a small page.
PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Bare page</title>
</head>
<body>
  <main>
    <h1>Bare page</h1>
    <p>A fixed page answered by a Flask view without a database or a template.</p>
    <ul>
{_ITEMS}
    </ul>
  </main>
</body>
</html>
"""

app = Flask(__name__)


@app.get("/")
def page() -> str:
    """The fixed page."""
    return PAGE
