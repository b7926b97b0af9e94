"""``zoo serve``: the registry over HTTP (FastAPI), its web pages and its bearer tokens.

- :mod:`zoo.server.tokens`: tokens stored hashed in a JSON file (no web framework needed);
- :mod:`zoo.server.web`: the HTML pages (Jinja2), shared with the static export
  (:mod:`zoo.site`);
- :mod:`zoo.server.app`: the FastAPI application (imported only by ``zoo serve`` and tests).

Nothing here imports FastAPI at import time of :mod:`zoo.server`.
"""
