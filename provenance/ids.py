"""Identifiers and output file names.

Output names come from ids, never from prompt text: a prompt is user text of any length and
alphabet, while a request id is checked here to be a plain token, so no request field can
steer a write outside the output directory (no separators, no `..`, no hidden files).
"""

from __future__ import annotations

import re
import secrets

from provenance.errors import BadInputError
from provenance.imageio import EXTENSION_BY_MIME

#: Suffix of a file being written (`.name.partial`), renamed into place once complete; the
#: pipeline writes it and `audit reconcile` reports leftovers.
PARTIAL_SUFFIX = ".partial"

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def validate_request_id(value: str) -> str:
    """Return `value` if it is a safe id (letters, digits, `._-`, ≤128 chars, no `..`)."""
    if not isinstance(value, str) or not _ID_PATTERN.match(value) or ".." in value:
        raise BadInputError(
            f"request id {value!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def new_request_id() -> str:
    """A fresh request id for requests that did not bring one."""
    return f"req-{secrets.token_hex(8)}"


def new_asset_id() -> str:
    """A fresh, unguessable asset id (the ledger's primary key for an output)."""
    return f"ast-{secrets.token_hex(12)}"


def output_filename(request_id: str, index: int, mime: str) -> str:
    """`<request id>-<index>.<ext>`, e.g. `req-1a2b-00.png`."""
    validate_request_id(request_id)
    return f"{request_id}-{index:02d}{EXTENSION_BY_MIME[mime]}"
