"""The C2PA Soft Binding Resolution API over the ledger: token-only, answers from the ledger."""

from __future__ import annotations

import base64
import io

import c2pa
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from provenance.softbinding import fingerprint, watermark


def _auth(served) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.lead_token}"}


def test_routes_refuse_without_a_token(client: TestClient) -> None:
    for path in (
        "/services/supportedAlgorithms",
        "/manifests/x",
        "/matches/byBinding?alg=a&value=b",
    ):
        assert client.get(path, follow_redirects=False).status_code in (401, 403, 303)


def test_a_stripped_copy_resolves_to_its_stored_manifest(client: TestClient, served) -> None:
    algs = client.get("/services/supportedAlgorithms", headers=_auth(served)).json()
    assert {"alg": fingerprint.ALG} in algs["fingerprints"]
    assert {"alg": watermark.ALGORITHMS["rivagan"]} in algs["watermarks"]

    buf = io.BytesIO()
    Image.open(served.signed).convert("RGB").save(buf, "PNG")  # metadata gone
    found = client.post(
        "/matches/byContent", headers=_auth(served), files={"file": ("c.png", buf.getvalue())}
    ).json()["matches"]
    assert len(found) == 1 and found[0]["foundBy"] == "fingerprint"  # 48x40: no watermark
    asset_id = found[0]["manifestId"]

    digest, _ = fingerprint.pdq(np.asarray(Image.open(served.signed).convert("RGB")))
    value = base64.b64encode(digest).decode()
    by_binding = client.get(
        "/matches/byBinding", params={"alg": fingerprint.ALG, "value": value}, headers=_auth(served)
    ).json()["matches"]
    assert {"manifestId": asset_id} in by_binding

    store = client.get(f"/manifests/{asset_id}", headers=_auth(served))
    assert store.status_code == 200 and store.headers["content-type"] == "application/c2pa"
    with c2pa.Reader("application/c2pa", io.BytesIO(store.content)) as reader:
        assert reader.json()
    assert client.get("/manifests/nope", headers=_auth(served)).status_code == 404
