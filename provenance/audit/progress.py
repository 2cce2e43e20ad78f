"""How long audit work reports its progress, without the library knowing about terminals.

Library functions take a `ProgressFactory`: `progress(description, total)` returns a context
manager that yields a `Tracker`.  The CLI passes `provenance.cli._output.progress` (a rich
bar on stderr); library callers get `no_progress`, which shows nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol


class Tracker(Protocol):
    """A progress handle: `advance(n)` after n more items of work."""

    def advance(self, steps: int = 1) -> None: ...


ProgressFactory = Callable[[str, int | None], AbstractContextManager[Tracker]]


class _Silent:
    def advance(self, steps: int = 1) -> None:
        """Progress nobody watches."""


def no_progress(description: str, total: int | None) -> AbstractContextManager[Tracker]:
    """A `ProgressFactory` that shows nothing."""
    return nullcontext(_Silent())
