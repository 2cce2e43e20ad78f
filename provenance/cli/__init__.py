"""The `provenant` command line: a thin typer edge over the library.

Commands live in `cmd_*.py` modules, each exposing `register(app)`; the app collects them at
start-up, so adding a command is adding a module.  Heavy libraries are imported inside the
command bodies, never at module level, so `--help`, `verify`, `sign` and `audit` start fast.

May import: kernel, credentials, ledger, verify, pipeline, audit, serve, demo, migrations.

Generator and policy plugins are reached through `provenance.plugins`, and a plugin's own
commands come in through the `provenant.commands` entry point, never by importing it.
"""

from __future__ import annotations

from provenance.cli.app import app, main

__all__ = ["app", "main"]
