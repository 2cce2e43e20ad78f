"""Output conventions shared by all commands: human text on stdout, errors on stderr,
`--json` as one JSON object per line, progress bars on stderr for long work."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

#: The `--json` flag of every command: machine output on stdout, one JSON object per line.
JsonOption = Annotated[
    bool, typer.Option("--json", help="Machine output: one JSON object per line on stdout.")
]

stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def error(message: str) -> None:
    """One line on stderr: `error: <message>`."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


def warn(message: str) -> None:
    """One line on stderr: `warning: <message>`."""
    stderr.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def info(message: str) -> None:
    """Human-oriented text on stdout (markup allowed)."""
    stdout.print(message)


class _StderrHandler(logging.Handler):
    """Library log records (warnings and worse) as `warning: ...` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            error(message)
        else:
            warn(message)


def install_log_handler(debug: bool = False) -> None:
    """Route the library's logging to stderr in the CLI's format (once per process)."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        root.addHandler(_StderrHandler())
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def emit_json(obj: Any) -> None:
    """One JSON document on one line of stdout (machine output)."""
    sys.stdout.write(json.dumps(obj, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_json_lines(objs: Iterable[Any]) -> None:
    """One JSON object per line, in order."""
    for obj in objs:
        emit_json(obj)


class Tracker:
    """Handle on one progress bar: `advance()` after each item of work (a no-op when the
    bar is hidden)."""

    def __init__(self, bar: Progress | None = None, task: TaskID | None = None) -> None:
        self._bar = bar
        self._task = task

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        """Mark `steps` items done (and optionally say what is being worked on)."""
        if self._bar is None or self._task is None:
            return
        if description is None:
            self._bar.advance(self._task, steps)
        else:
            self._bar.update(self._task, advance=steps, description=description)


@contextmanager
def progress(description: str, total: int | None, enabled: bool = True) -> Iterator[Tracker]:
    """A rich progress bar on stderr; hidden when stderr is no terminal or `enabled` is False.

    A hidden bar is not built at all (rich's progress module is imported only for a
    visible one: short commands such as `verify FILE` start faster).
    """
    if not enabled or not stderr.is_terminal:
        yield Tracker()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )
    with bar:
        yield Tracker(bar, bar.add_task(description, total=total))
