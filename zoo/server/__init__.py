"""``zoo serve``: the registry over HTTP (FastAPI), its web pages and its bearer tokens.

- :mod:`zoo.server.app`: ``create_app``, which builds the state and joins the routers
  (imported only by ``zoo serve`` and tests);
- :mod:`zoo.server.files`, :mod:`zoo.server.api`, :mod:`zoo.server.pages`: the routers of
  the registry as files, the JSON API, and the web pages;
- :mod:`zoo.server.state`, :mod:`zoo.server.cache`, :mod:`zoo.server.download`: what the
  routers share on ``app.state``, the index cache, package downloads and their cache;
- :mod:`zoo.server.tokens`: tokens stored hashed in a JSON file (no web framework needed);
- :mod:`zoo.server.web`: the HTML pages (Jinja2), shared with the static export
  (:mod:`zoo.site`);
- :mod:`zoo.server.workers`: ``zoo serve --workers N``.

Nothing here imports FastAPI at import time of :mod:`zoo.server`.
"""
