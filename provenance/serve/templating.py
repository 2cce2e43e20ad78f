"""The one Jinja2 environment of Provenant's HTML: the server's pages and `audit report`.

Autoescaping is on for every template, so ledger text (prompts, requesters, work titles)
reaches a page as text; the few fragments that are already HTML (the SVG charts, which
escape their own labels) are passed as `Markup` by the code that builds them.
"""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from provenance import __version__


@lru_cache(maxsize=1)
def template_environment() -> Environment:
    """Templates from `provenance/serve/templates`, autoescaped, undefined names an error."""
    env = Environment(
        loader=PackageLoader("provenance.serve", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_as_text,
    )
    env.globals["version"] = __version__
    return env


def _as_text(value: Any) -> Any:
    """Every `{{ value }}`: None shows as nothing, text is escaped quotes and all (the
    same entities as `html.escape`), markup built by our own code passes through."""
    if value is None:
        return ""
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value), quote=True))
