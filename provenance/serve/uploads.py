"""Uploads held in memory and checked before anything reads them: bytes, format, pixels.

The byte cap is enforced twice: by `BodyLimit` on the raw request (a 413 before the
multipart parser buffers anything big) and on the file itself.  Pixel limits come from
`provenance.imageio`, read from the header only, so a decompression bomb is refused
without being decoded.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from fastapi import HTTPException, UploadFile, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from provenance.errors import BadInputError
from provenance.imageio import open_image, sniff_mime

#: Room for multipart boundaries and headers on top of the file cap.
MULTIPART_OVERHEAD = 64 * 1024
THUMBNAIL_EDGE = 240
#: 413 Content Too Large (named so on every Starlette version).
TOO_LARGE = 413


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: request bodies over `limit` bytes get a 413 JSON error."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_413(send, self.limit)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except _TooLarge:
            if not started:
                await _send_413(send, self.limit)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"request body over the {limit}-byte upload limit"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded file's bytes, refusing empty files, non-images and oversized ones."""
    data = upload.file.read(limit + 1)
    name = upload.filename or "upload"
    if len(data) > limit:
        raise HTTPException(
            TOO_LARGE,
            f"{name}: over the {limit}-byte upload limit",
        )
    try:
        sniff_mime(data, name)
    except BadInputError as exc:
        code = status.HTTP_400_BAD_REQUEST if not data else status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
        raise HTTPException(code, exc.diagnostics()) from None
    _check_pixels(data, name)
    return data


def _check_pixels(data: bytes, name: str) -> None:
    """413 when the header declares more pixels than we decode (read from the header only,
    by the verifier's own check); an unreadable header is left to the verifier."""
    from provenance.verify.reading import check_declared_size

    try:
        check_declared_size(data, sniff_mime(data, name), Path(name))
    except BadInputError as exc:
        raise HTTPException(TOO_LARGE, exc.diagnostics()) from None


def thumbnail_uri(data: bytes) -> str | None:
    """A small JPEG `data:` URI of an uploaded image (None when it cannot be decoded)."""
    try:
        img = open_image(data).convert("RGB")
    except BadInputError:
        return None
    img.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def error_body(message: str) -> dict[str, Any]:
    """The JSON of every error the server sends: one line, like the CLI's."""
    return {"error": message}
