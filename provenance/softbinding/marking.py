"""Soft-binding an output at signing: watermark the pixels, fingerprint them, declare both.

`mark` runs before the manifest is signed, so c2pa's data hash covers the watermarked
pixels.  It returns the new image bytes (same format), the `c2pa.soft-binding` assertions
(one per algorithm, per the C2PA soft-binding assertion: `alg` and one whole-image block
whose `value` is the base64 of the binding) and the `soft_bindings` ledger row.  The
`c2pa.watermarked` action is added only when a watermark was embedded (c2pa refuses that
action without a soft-binding assertion).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from provenance.config import SoftBindingSettings
from provenance.imageio import encode_image, open_image
from provenance.softbinding import fingerprint, payload, watermark

ASSERTION_LABEL = "c2pa.soft-binding"
WATERMARKED_ACTION = "c2pa.watermarked"
TOO_SMALL = f"image smaller than {watermark.MIN_SIDE} px on a side: fingerprint only, no watermark"


def algorithms() -> list[str]:
    """Every `alg` we may write: listed in c2pa's `soft_binding` settings when signing."""
    return [*watermark.ALGORITHMS.values(), fingerprint.ALG]


@dataclass(frozen=True)
class Marked:
    """The watermarked bytes, what the manifest declares, and the ledger row."""

    data: bytes = field(repr=False)
    assertions: list[dict[str, Any]]
    watermarked: bool
    row: dict[str, Any]
    note: str | None = None


def _block(value: bytes) -> dict[str, Any]:
    return {"scope": {}, "value": base64.b64encode(value).decode("ascii")}


def mark(
    data: bytes,
    mime: str,
    settings: SoftBindingSettings,
    issue_id: Callable[[], int],
    quality: int = 95,
) -> Marked:
    """Watermark (when configured and large enough) and fingerprint one output."""
    image = open_image(data).convert("RGB")
    rgb = np.asarray(image)
    assertions: list[dict[str, Any]] = []
    row: dict[str, Any] = {}
    note = None
    out = data
    if settings.watermark != "none":
        if watermark.fits(image.width, image.height):
            marker = watermark.get_watermarker(settings.watermark)
            wid = issue_id()
            rgb = marker.embed(rgb, payload.encode(wid))
            out = encode_image(Image.fromarray(rgb), mime, quality)
            assertions.append(
                {
                    "label": ASSERTION_LABEL,
                    "data": {
                        "alg": marker.alg,
                        "blocks": [_block(wid.to_bytes(3, "big"))],
                        "pad": [],
                    },
                }
            )
            row.update(watermark_alg=marker.alg, watermark_id=wid)
        else:
            note = TOO_SMALL
    else:
        note = 'watermarking is off ([soft_binding] watermark = "none")'
    if settings.fingerprint:
        digest, _quality = fingerprint.pdq(rgb)
        assertions.append(
            {
                "label": ASSERTION_LABEL,
                "data": {"alg": fingerprint.ALG, "blocks": [_block(digest)], "pad": []},
            }
        )
        row.update(fingerprint_alg=fingerprint.ALG, fingerprint=digest)
    row["note"] = note
    return Marked(out, assertions, "watermark_id" in row, row, note)


def add_to_manifest(manifest: dict[str, Any], marked: Marked) -> dict[str, Any]:
    """`manifest` with the soft-binding assertions and, if watermarked, the action."""
    assertions = [dict(a) for a in manifest.get("assertions", [])]
    if marked.watermarked:
        for assertion in assertions:
            if assertion.get("label") == "c2pa.actions.v2":
                actions = list(assertion["data"]["actions"])
                actions.append(
                    {
                        "action": WATERMARKED_ACTION,
                        "description": "invisible watermark naming the studio's ledger record",
                    }
                )
                assertion["data"] = {**assertion["data"], "actions": actions}
    return {**manifest, "assertions": [*assertions, *marked.assertions]}


def decode_rgb(data: bytes) -> np.ndarray:
    """Pixels of any image bytes as RGB uint8 (for recovery)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
