"""Assembles the typer app and owns the single place where errors become exit codes."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from provenance.cli import _output
from provenance.cli._state import CliState
from provenance.errors import EXIT_ERROR, ProvenantError

#: Entry-point group: command name -> a `typer.Typer` sub-app contributed by a plugin.
COMMANDS_GROUP = "provenant.commands"


class ProvenantGroup(TyperGroup):
    """Root group: catches `ProvenantError` once for every command (sigstore's habit).

    The message goes to stderr as one line and the exit code comes from the error class;
    with `--debug` or `PROVENANT_DEBUG=1` the original traceback is shown instead.
    """

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ProvenantError as exc:
            if _debug_enabled(ctx):
                raise
            _output.error(exc.diagnostics())
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _output.error("interrupted")
            raise typer.Exit(130) from None


def _debug_enabled(ctx: typer.Context) -> bool:
    state = ctx.find_object(CliState)
    return bool(state and state.debug) or os.environ.get("PROVENANT_DEBUG") == "1"


app = typer.Typer(
    name="provenant",
    cls=ProvenantGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Generate images behind policies; sign every output with C2PA credentials; "
    "record and audit it in a ledger.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from provenance import __version__

        typer.echo(f"provenant {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", envvar="PROVENANT_HOME", help="Data dir (default ./.provenant)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", envvar="PROVENANT_CONFIG", help="Config file to use."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = CliState(home=home, config=config, debug=debug)
    _output.install_log_handler(debug)


def _register_commands() -> None:
    """Import every `provenance.cli.cmd_*` module and let it add its commands.

    The modules are found next to this file rather than through the `provenance.cli`
    package object, which imports this module: the app never depends on its own package.
    """
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"provenance.cli.{info.name}")
            module.register(app)


def _register_plugin_commands() -> None:
    """Add each `provenant.commands` entry point (name -> a `typer.Typer`) as a sub-command.

    Built-in plugins register here exactly like third parties.  A plugin whose command fails
    to load is named in one warning and left out, so it cannot take `verify` down with it.
    """
    from importlib.metadata import entry_points

    taken = {g.name for g in app.registered_groups} | {
        c.name for c in app.registered_commands if c.name
    }
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            sub = ep.load()
        except (ImportError, AttributeError) as exc:
            _output.warn(f"command plugin {ep.name!r} ({ep.value}) failed to import: {exc}")
            continue
        if not isinstance(sub, typer.Typer):
            _output.warn(f"command plugin {ep.name!r} ({ep.value}) is not a typer.Typer")
            continue
        if ep.name in taken:
            _output.warn(f"command plugin {ep.name!r} ({ep.value}) clashes with a built-in")
            continue
        app.add_typer(sub, name=ep.name)
        taken.add(ep.name)


def plugin_command(name: str) -> typer.Typer:
    """The sub-app a plugin contributes as `name` (the demo runs `works import` in-process)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=COMMANDS_GROUP, name=name):
        sub = ep.load()
        if isinstance(sub, typer.Typer):
            return sub
    raise ProvenantError(f"no plugin contributes the command {name!r}")


_register_commands()
_register_plugin_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except ProvenantError as exc:  # raised outside a command (e.g. in the root callback)
        _output.error(exc.diagnostics())
        sys.exit(getattr(exc, "exit_code", EXIT_ERROR))
