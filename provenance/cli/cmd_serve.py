"""`provenant serve`: the verification page, audit dashboard and JSON API on uvicorn.

    provenant serve                        # http://127.0.0.1:8800/
    provenant serve --host 0.0.0.0 --port 9000 --workers 4
    provenant users hash                   # a password hash for [serve.users.NAME]
    provenant users token                  # an API token and the digest to configure

Workers are separate processes (uvicorn's `--workers`); each builds the app from the same
settings, which this command passes on through `PROVENANT_HOME` / `PROVENANT_CONFIG`.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import BadInputError, ConfigError

users_app = typer.Typer(
    name="users",
    help="Logins of `provenant serve` (kept in [serve.users] of provenant.toml).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `serve` and `users` to the app."""
    app.command("serve")(serve)
    app.add_typer(users_app)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8800,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")] = 1,
    json: JsonOption = False,
) -> None:
    """Serve `/` (verify), `/audit` (dashboard, login) and `/api` (OpenAPI at /docs)."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigError(
            "provenant serve needs the serve extra: pip install 'provenant[serve]'"
        ) from exc
    settings = state(ctx).settings
    os.environ["PROVENANT_HOME"] = str(settings.home)
    if settings.config_file is not None:
        os.environ["PROVENANT_CONFIG"] = str(settings.config_file)
    settings.home.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}/"
    if json:
        _output.emit_json({"url": url, "home": str(settings.home), "workers": workers})
    else:
        _output.info(f"serving {settings.home} on {url} ({workers} worker(s)); Ctrl-C stops")
    uvicorn.run(
        "provenance.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@users_app.command("hash")
def hash_cmd(
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Print a scrypt hash of a password, for `password = "..."` under [serve.users.NAME]."""
    from provenance.serve.passwords import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
    if len(password) < 8:
        raise BadInputError("passwords have at least 8 characters")
    hashed = hash_password(password)
    if json:
        _output.emit_json({"password": hashed})
    else:
        typer.echo(hashed)


@users_app.command("token")
def token_cmd(
    json: JsonOption = False,
) -> None:
    """Print a new API token (shown once) and its SHA-256, for `token_sha256 = "..."`."""
    from provenance.serve.passwords import new_token

    token, digest = new_token()
    if json:
        _output.emit_json({"token": token, "token_sha256": digest})
    else:
        typer.echo(f"token (give it to the script; shown once): {token}")
        typer.echo(f'token_sha256 = "{digest}"')
