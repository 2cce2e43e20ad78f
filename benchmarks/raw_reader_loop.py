"""The baseline of `bench_provenance.py cli_*`: a bare c2pa-python Reader loop, its own process.

    python benchmarks/raw_reader_loop.py FOLDER ANCHORS.pem

Reads every file in FOLDER with c2pa's Reader and the same trust settings `provenant verify`
uses by default (anchors given, trust verified, no remote manifests, no OCSP) and parses its
JSON report; exit 0 when every file is `Trusted`.  No Provenant code is imported, so this is
what the SDK alone costs, process start included.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import c2pa

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def main(folder: str, anchors: str) -> int:
    """Verify every image under `folder`; 0 when all are trusted."""
    context = c2pa.Context.from_dict(
        {
            "trust": {"user_anchors": Path(anchors).read_text()},
            "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
        }
    )
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in MIME)
    trusted = 0
    for path in paths:
        with c2pa.Reader(
            MIME[path.suffix.lower()], io.BytesIO(path.read_bytes()), context=context
        ) as r:
            trusted += json.loads(r.json()).get("validation_state") == "Trusted"
    return 0 if trusted == len(paths) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
