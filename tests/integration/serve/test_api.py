"""The JSON API: the same answers as the CLI, clear 4xx errors for bad uploads, auth on
everything but verify/screen, artists confined to their own assets, generation as a job."""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from provenance.ledger import Ledger
from provenance.serve.app import create_app, route_table

if TYPE_CHECKING:
    from conftest import ServedStudio

OPEN_ROUTES = {
    ("POST", "/api/verify"),
    ("POST", "/api/screen"),
    ("POST", "/api/screen/image"),
    ("GET", "/"),
    ("POST", "/"),
    ("GET", "/report.css"),
    ("GET", "/audit/login"),
    ("POST", "/audit/login"),
    ("POST", "/audit/logout"),  # only drops a cookie; CSRF-checked
}
DOC_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _upload(client: TestClient, data: bytes, name: str = "x.png") -> Any:
    return client.post("/api/verify", files={"file": (name, data, "image/png")})


def test_verify_answers_what_verify_json_prints(client: TestClient, served: ServedStudio) -> None:
    response = _upload(client, served.signed.read_bytes(), "alice.png")
    assert response.status_code == 200
    got = response.json()
    result = served.cli("verify", "--json", served.signed)
    assert result.exit_code == 0, result.output
    expected = json.loads(result.stdout.splitlines()[0])
    assert got["state"] == "trusted" and got["ok"] is True
    assert got["path"] == "alice.png"  # the upload's name, never a server path
    assert {k: v for k, v in got.items() if k != "path"} == {
        k: v for k, v in expected.items() if k != "path"
    }
    assert got["ledger"]["found"] is True and got["ledger"]["hash_match"] is True


def test_tampered_and_unsigned_uploads(client: TestClient, served: ServedStudio) -> None:
    tampered = _upload(client, served.tampered.read_bytes()).json()
    assert tampered["state"] == "invalid"
    assert tampered["validation"]["failure"], tampered
    unsigned = _upload(client, served.unsigned.read_bytes()).json()
    assert unsigned["state"] == "no_credentials"


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty file"),
        (b"%PDF-1.7 not an image", 415, "not a PNG, JPEG or WebP"),
        (_png_header(100_000, 100_000), 413, "pixel"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, ""),
    ],
    ids=["empty", "not-an-image", "pixel-bomb", "corrupt"],
)
def test_bad_uploads_are_clear_4xx_json(
    client: TestClient, data: bytes, status: int, words: str
) -> None:
    response = _upload(client, data)
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and words in body["error"]
    assert "\n" not in body["error"]


def test_uploads_over_the_byte_cap_get_413(served: ServedStudio) -> None:
    app = create_app(served.settings(max_upload_bytes=1000))
    with TestClient(app) as client:
        big = served.signed.read_bytes()
        response = _upload(client, big + b"\x00" * (200 * 1024))
        assert response.status_code == 413
        assert "upload limit" in response.json()["error"]
        small = _upload(client, b"\x00" * 2000)  # under the body cap, over the file cap
        assert small.status_code == 413
        assert _upload(client, b"").status_code == 400  # the server is still answering


def test_missing_file_field_is_a_422_json(client: TestClient) -> None:
    response = client.post("/api/verify", data={"nothing": "here"})
    assert response.status_code == 422
    assert response.json()["error"].startswith("file")


def test_screen_a_prompt(client: TestClient) -> None:
    allowed = client.post("/api/screen", json={"prompt": "a lighthouse at dusk"})
    assert allowed.status_code == 200 and allowed.json()["refused"] is False
    blocked = client.post("/api/screen", json={"prompt": "a n.a.k.e.d woman on the beach"})
    assert blocked.status_code == 200
    body = blocked.json()
    assert body["refused"] is True and body["action"] == "block"
    assert body["reasons"] and body["reasons"][0]["policy"] == "prompt_safety"
    extra = client.post("/api/screen", json={"prompt": "x", "surprise": 1})
    assert extra.status_code == 422


def test_every_other_route_refuses_the_anonymous(client: TestClient) -> None:
    """Walks the route table, so a route added later without auth fails here."""
    checked = 0
    for method, route_path in route_table(client.app):  # type: ignore[arg-type]
        if (method, route_path) in OPEN_ROUTES or route_path in DOC_ROUTES:
            continue
        path = route_path.replace("{asset_id}", "ast-x").replace("{job_id}", "0" * 32)
        response = client.request(method, path)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.text)
            assert "error" in response.json()
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/audit/login")
        checked += 1
    assert checked >= 8


def test_lineage_follows_recorded_parents(
    client: TestClient, served: ServedStudio, login: Callable[..., TestClient]
) -> None:
    with Ledger.from_settings(served.settings(), read_only=True) as ledger:
        (child,) = ledger.find_by_sha256(_sha256(served.edited))
        (parent,) = ledger.find_by_sha256(_sha256(served.signed))
    login(client, "alice")
    tree = client.get(f"/api/assets/{child.id}/lineage").json()
    assert tree["asset_id"] == child.id
    (ingredient,) = tree["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["validation_state"] == "Trusted"
    assert ingredient["asset"]["asset_id"] == parent.id
    assert ingredient["asset"]["ingredients"] == []


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _asset_ids(served: ServedStudio) -> dict[str, str]:
    with Ledger.from_settings(served.settings(), read_only=True) as ledger:
        return {
            e.record.requester: e.id
            for e in ledger.iter_entries()
            if e.kind == "asset" and e.record.requester in ("alice", "bob")
        }


def test_artists_read_only_their_own_assets(
    client: TestClient, served: ServedStudio, login: Callable[..., TestClient]
) -> None:
    ids = _asset_ids(served)
    login(client, "alice")
    own = client.get(f"/api/assets/{ids['alice']}")
    assert own.status_code == 200
    body = own.json()
    assert body["record"]["requester"] == "alice" and "path" not in body["record"]
    assert body["chain"]["row_verifies"] is True
    assert client.get(f"/api/assets/{ids['bob']}").status_code == 404
    assert client.get(f"/api/assets/{ids['bob']}/lineage").status_code == 404
    assert client.get(f"/api/assets/{ids['bob']}/file").status_code == 404
    assert client.get("/audit").status_code == 403  # the dashboard is for leads and auditors


def test_a_token_reads_everything_for_a_lead(client: TestClient, served: ServedStudio) -> None:
    ids = _asset_ids(served)
    headers = {"Authorization": f"Bearer {served.lead_token}"}
    for asset_id in ids.values():
        assert client.get(f"/api/assets/{asset_id}", headers=headers).status_code == 200
    lineage = client.get(f"/api/assets/{ids['bob']}/lineage", headers=headers).json()
    assert lineage["asset_id"] == ids["bob"] and lineage["ingredients"] == []
    wrong = client.get(f"/api/assets/{ids['bob']}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_generate_runs_as_a_job_and_records_the_logged_in_user(
    client: TestClient, served: ServedStudio, login: Callable[..., TestClient]
) -> None:
    login(client, "alice")
    queued = client.post(
        "/api/generate",
        json={"id": "web-1", "prompt": "a lighthouse", "generator": "gan", "seed": 7,
              "n": 2, "requester": "mallory"},
    )  # fmt: skip
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert job["request_id"] == "web-1" and job["status_url"] == f"/api/jobs/{job['job_id']}"
    status = _wait(client, job["status_url"])
    assert status["status"] == "done", status
    images = status["outcome"]["images"]
    assert len(images) == 2 and all("path" not in image for image in images)
    for image in images:
        record = client.get(f"/api/assets/{image['asset_id']}").json()["record"]
        assert record["requester"] == "alice"  # not what the body claimed
        download = client.get(image["download_url"])
        assert download.status_code == 200 and download.headers["content-type"] == "image/png"
        verified = _upload(client, download.content).json()
        assert (
            verified["state"] == "trusted" and verified["ledger"]["asset_id"] == image["asset_id"]
        )
    assert client.get(status["outcome"]["images"][0]["download_url"]).content[:4] == b"\x89PNG"
    chain = served.cli("audit", "verify-chain", "--json")
    assert chain.exit_code == 0, chain.output


def test_generate_refuses_files_named_in_the_request(
    client: TestClient, served: ServedStudio, login: Callable[..., TestClient]
) -> None:
    login(client, "alice")
    for field, value in (("init", "/etc/passwd"), ("style", "../x.png"), ("model", "/tmp/m")):
        response = client.post(
            "/api/generate", json={"prompt": "x", "generator": "gan", field: value}
        )
        assert response.status_code == 400, (field, response.text)
    unknown = client.post("/api/generate", json={"prompt": "x", "colour": "red"})
    assert unknown.status_code == 422


def test_auditors_may_not_generate(client: TestClient, login: Callable[..., TestClient]) -> None:
    login(client, "audrey")
    response = client.post("/api/generate", json={"prompt": "x", "generator": "gan"})
    assert response.status_code == 403


def test_jobs_are_their_owners(
    client: TestClient, served: ServedStudio, login: Callable[..., TestClient]
) -> None:
    login(client, "bob")
    job = client.post("/api/generate", json={"prompt": "a boat", "generator": "gan", "seed": 1})
    url = job.json()["status_url"]
    _wait(client, url)
    other = TestClient(client.app, follow_redirects=False)
    login(other, "alice")
    assert other.get(url).status_code == 404
    assert client.get("/api/jobs/../../etc/passwd").status_code == 404


def _wait(client: TestClient, url: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(url).json()
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {url} did not finish in {timeout}s")


def test_openapi_documents_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/verify", "/api/screen", "/api/generate", "/api/jobs/{job_id}",
                 "/api/assets/{asset_id}", "/api/assets/{asset_id}/lineage"):  # fmt: skip
        assert path in paths
    body = paths["/api/verify"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body
    generate = paths["/api/generate"]["post"]["requestBody"]["content"]["application/json"]
    assert generate["schema"]["$ref"].endswith("/RequestSpec")


def test_screen_an_uploaded_image(client: TestClient, served: ServedStudio) -> None:
    files = {"file": ("plain.png", served.unsigned.read_bytes(), "image/png")}
    response = client.post("/api/screen/image", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["input"] == "image" and body["source"] == "plain.png"
    assert body["action"] in ("allow", "warn") and body["refused"] is False
    empty = client.post("/api/screen/image", files={"file": ("e.png", b"", "image/png")})
    assert empty.status_code == 400
