"""Facility commands: serve a registry over HTTP, manage its tokens, export it as a static site."""

from pathlib import Path
from typing import Annotated

import typer

from zoo.cli._app import CacheOpt, JsonOpt, RegistryOpt, _registry, app, err, handles_errors, out

token_app = typer.Typer(
    help="Bearer tokens that may publish to and yank on `zoo serve` (stored hashed).",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")

TokensOpt = Annotated[
    Path | None,
    typer.Option("--tokens", help="Token file (default: .tokens.json in the registry folder)."),
]


def _token_store(registry: str | None, tokens: Path | None):  # type: ignore[no-untyped-def]
    from zoo.config import registry_source
    from zoo.server.tokens import TokenStore, default_tokens_path

    return TokenStore(tokens or default_tokens_path(registry_source(registry)))


@app.command()
@handles_errors
def serve(
    registry: RegistryOpt = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    tokens: TokensOpt = None,
    max_upload_mb: Annotated[
        float, typer.Option(help="Largest package upload accepted, in MiB.")
    ] = 200,
    cache: CacheOpt = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes (each uses one core at most); more than one needs a "
            "registry folder on this machine.",
        ),
    ] = 1,
) -> None:
    """Serve a registry folder over HTTP: web pages, API, OpenAPI docs at /docs.

    Reading (pages, index.json, packages, search) is public; publishing and yanking need a
    bearer token (zoo token add NAME).
    """
    from zoo.errors import RegistryError, require

    uvicorn = require("uvicorn", "serve")
    require("fastapi", "serve")
    from zoo.server.app import create_app

    reg = _registry(registry, cache)
    token_store = _token_store(reg.source, tokens)
    max_upload_bytes = int(max_upload_mb * 2**20)
    application = create_app(reg, tokens=token_store, max_upload_bytes=max_upload_bytes)
    where = f"serving registry {reg.source} at http://{host}:{port}/"
    if workers == 1:
        err.print(where, markup=False)
        uvicorn.run(application, host=host, port=port, log_level="info")
        return
    if not reg.store.local:  # concurrent publishes are serialised by a lock file in a folder
        raise RegistryError(
            f"--workers {workers} needs a registry folder on this machine, not {reg.source}"
        )
    from zoo.server.workers import serve_workers

    err.print(f"{where} ({workers} worker processes)", markup=False)
    serve_workers(
        workers,
        host,
        port,
        registry=reg.source,
        cache=reg.cache,
        tokens=token_store.path,
        max_upload_bytes=max_upload_bytes,
    )


@token_app.command("add")
@handles_errors
def token_add(
    name: Annotated[str, typer.Argument(help="Who holds it, e.g. alice or ci-publisher.")],
    registry: RegistryOpt = None,
    tokens: TokensOpt = None,
) -> None:
    """Make a token; it is printed once, only its sha256 is stored."""
    token, record = _token_store(registry, tokens).add(name)
    err.print(f"token {record.name!r} made; it is shown only now:", markup=False)
    out.print(token, markup=False)


@token_app.command("list")
@handles_errors
def token_list(
    registry: RegistryOpt = None, tokens: TokensOpt = None, as_json: JsonOpt = False
) -> None:
    """List tokens (names, dates and hash prefixes; never the tokens)."""
    import json

    records = _token_store(registry, tokens).records()
    if as_json:
        rows = [r.model_dump(mode="json") for r in records]
        out.print(json.dumps(rows, indent=2), markup=False)
        return
    for r in records:
        out.print(f"{r.name}  {r.created.isoformat()}  sha256 {r.sha256[:12]}…", markup=False)
    out.print(f"{len(records)} token(s)", markup=False)


@token_app.command("revoke")
@handles_errors
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    registry: RegistryOpt = None,
    tokens: TokensOpt = None,
) -> None:
    """Revoke a token; a running server refuses it from the next request on."""
    _token_store(registry, tokens).revoke(name)
    out.print(f"revoked token {name!r}", markup=False)


@app.command("export-site")
@handles_errors
def export_site(
    output: Annotated[Path, typer.Argument(help="Folder to write (new, or a former export).")],
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Write the registry as a static site: index.json, packages and web pages.

    Any static host or object store can serve the folder; zoo fetch and zoo search work
    against its URL.
    """
    from zoo.site import export_site as export

    done = export(output, registry=_registry(registry, cache))
    out.print(
        f"exported {done.models} model(s), {done.versions} version(s) to {done.root} "
        f"({done.copied} package(s) copied, {done.pages} page(s))",
        markup=False,
    )
