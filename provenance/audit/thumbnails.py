"""Small inline JPEG thumbnails of recorded outputs, made from the files on disk.

A thumbnail is a `data:` URI, so the report stays one self-contained file.  Each file is
read once: its SHA-256 is compared with the record (an output edited since it was recorded
is shown, but flagged) and its pixels are decoded through `provenance.imageio`, whose size
limits protect the report from hostile files.  A missing or unreadable file gets a status
instead of a thumbnail, and the page shows a placeholder.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from provenance.errors import BadInputError
from provenance.imageio import open_image, read_file

THUMBNAIL_EDGE = 96
_JPEG_QUALITY = 70

OK, MODIFIED, MISSING, UNREADABLE = "ok", "modified", "missing", "unreadable"


@dataclass(frozen=True)
class Thumbnail:
    """What the report shows for one asset's file: a status, and pixels when readable."""

    status: str
    data_uri: str | None = None
    detail: str = ""


def make_thumbnail(path: str, recorded_sha256: str, edge: int = THUMBNAIL_EDGE) -> Thumbnail:
    """A JPEG data-URI thumbnail of the file at `path`, checked against `recorded_sha256`."""
    if not os.path.lexists(path):
        return Thumbnail(MISSING, detail="no file at the recorded path")
    try:
        data = read_file(path)
        image = open_image(data, name=path).convert("RGB")
    except BadInputError as exc:
        return Thumbnail(UNREADABLE, detail=exc.diagnostics())
    image.thumbnail((edge, edge))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    if hashlib.sha256(data).hexdigest() != recorded_sha256:
        return Thumbnail(MODIFIED, uri, "file bytes differ from the recorded SHA-256")
    return Thumbnail(OK, uri)


def make_thumbnails(
    files: Sequence[tuple[str, str]],
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Thumbnail]:
    """Thumbnails of `(path, recorded sha256)` pairs, in order, decoded in parallel."""

    def one(item: tuple[str, str]) -> Thumbnail:
        thumbnail = make_thumbnail(*item)
        if progress is not None:
            progress(1)
        return thumbnail

    if not files:
        return []
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 1) + 2)) as pool:
        return list(pool.map(one, files))


def placeholder_path(path: str) -> str:
    """The file name shown under a placeholder (never the directory: it may be long)."""
    return Path(path).name
