"""Per-invocation CLI state: global options, and settings loaded only when a command needs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from provenance.config import Settings


@dataclass
class CliState:
    """Options given before the command name (`provenant --home DIR verify ...`)."""

    home: Path | None = None
    config: Path | None = None
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """Settings from the config file and env, read once per invocation."""
        if self._settings is None:
            from provenance.config import Settings

            self._settings = Settings.load(home=self.home, config_file=self.config)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The `CliState` of this invocation (created by the root callback)."""
    found = ctx.find_object(CliState)
    return found if found is not None else CliState()
