"""The verify page and the audit dashboard through FastAPI's TestClient: words for each
credential state, login with CSRF and a rate limit, figures, filters, exports, asset pages."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from provenance.ledger import Ledger

if TYPE_CHECKING:
    from conftest import ServedStudio


def _verify_page(client: TestClient, *files: tuple[str, bytes]) -> str:
    response = client.post("/", files=[("files", (n, d, "image/png")) for n, d in files])
    assert response.status_code == 200, response.text
    return response.text


def test_the_page_offers_a_drop_zone_with_local_assets(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert 'id="dropzone"' in html and 'type="file"' in html and "multiple" in html
    assert "https://" not in html and "http://" not in html  # nothing from a CDN
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/verify.js", "/static/serve.css", "/report.css"):
        assert asset in html and client.get(asset).status_code == 200


def test_each_state_in_words(client: TestClient, served: ServedStudio) -> None:
    html = _verify_page(
        client,
        ("signed.png", served.signed.read_bytes()),
        ("tampered.png", served.tampered.read_bytes()),
        ("plain.png", served.unsigned.read_bytes()),
        ("notes.png", b"just text"),
    )
    assert 'data-file="signed.png" data-state="trusted"' in html
    assert ">Trusted<" in html and "Created with generative AI" in html
    assert "Provenant Content Credentials Signer" in html  # signer
    assert "Provenant Intermediate CA" in html  # issuer
    assert "The studio's ledger record" in html and 'class="ledger-record"' in html
    assert 'data-file="tampered.png" data-state="invalid"' in html
    assert ">Invalid<" in html and 'class="failing-check"' in html
    assert "assertion.dataHash.mismatch" in html
    assert 'data-file="plain.png" data-state="no_credentials"' in html
    assert 'data-file="notes.png" data-state="rejected"' in html
    assert "not a PNG, JPEG or WebP image" in html
    for name in ("signed.png", "plain.png"):  # thumbnails (the tampered one may not decode)
        preview = rf'class="preview" src="data:image/jpeg;base64,[^"]+" alt="{re.escape(name)}"'
        assert re.search(preview, html), name


def test_untrusted_signer_in_words(client: TestClient, served: ServedStudio) -> None:
    from provenance.serve.app import create_app

    distrusting = served.settings().model_copy(
        update={"trust": served.settings().trust.model_copy(update={"anchors": []})}
    )
    with TestClient(create_app(distrusting)) as other:
        html = _verify_page(other, ("signed.png", served.signed.read_bytes()))
    assert 'data-state="valid_untrusted"' in html and "Valid, but untrusted signer" in html


def test_hostile_file_names_are_text(client: TestClient, served: ServedStudio) -> None:
    evil = "<img src=x onerror=alert(1)>.png"
    html = _verify_page(client, (evil, served.signed.read_bytes()))
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.png" in html


def test_login_needs_the_csrf_token(client: TestClient, form_for: Callable[..., dict]) -> None:
    form = form_for(client, "lena")
    forged = client.post("/audit/login", data={**form, "csrf_token": "forged.token"})
    assert forged.status_code == 403 and "CSRF" in forged.json()["error"]
    fresh = TestClient(client.app, follow_redirects=False)  # no CSRF cookie at all
    assert fresh.post("/audit/login", data=form).status_code == 403
    ok = client.post("/audit/login", data=form)
    assert ok.status_code == 303 and ok.headers["location"] == "/audit"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_wrong_passwords_are_rate_limited(
    client: TestClient, form_for: Callable[..., dict]
) -> None:
    codes = [
        client.post("/audit/login", data=form_for(client, "lena", "wrong")).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    assert client.post("/audit/login", data=form_for(client, "lena")).status_code == 429


def test_no_open_redirect_after_login(client: TestClient, form_for: Callable[..., dict]) -> None:
    form = {**form_for(client, "lena"), "next": "https://evil.example/"}
    assert client.post("/audit/login", data=form).headers["location"] == "/audit"


def test_a_forged_session_cookie_is_refused(client: TestClient) -> None:
    client.cookies.set("provenant_session", "eyJ1c2VyIjoibGVuYSIsImV4cCI6OTk5OTk5OTk5OX0.AAAA")
    assert client.get("/audit").status_code == 303


def test_the_dashboard_shows_the_ledger(
    client: TestClient, served: ServedStudio, login: Callable[..., TestClient]
) -> None:
    login(client, "audrey")
    page = client.get("/audit")
    assert page.status_code == 200
    html = page.text
    with Ledger.from_settings(served.settings(), read_only=True) as ledger:
        entries = list(ledger.iter_entries())
    assets = sum(e.kind == "asset" for e in entries)
    assert f'data-metric="assets" data-value="{assets}"' in html
    assert 'data-chain="intact"' in html and f"Chain intact: {len(entries)} entries" in html
    assert 'id="checkpoint"' in html and "<svg" in html
    assert 'name="csrf_token"' in html  # the logout form
    first = next(e for e in entries if e.kind == "asset")
    assert f'href="/audit/assets/{first.id}"' in html
    asset_page = client.get(f"/audit/assets/{first.id}")
    assert asset_page.status_code == 200
    assert 'data-verifies="yes"' in asset_page.text and first.id in asset_page.text


def test_filters_and_exports_agree(
    client: TestClient, served: ServedStudio, login: Callable[..., TestClient]
) -> None:
    login(client, "lena")
    html = client.get("/audit", params={"requester": "bob"}).text
    assert 'data-metric="entries" data-value="1"' in html
    exported = client.get("/audit/export", params={"format": "csv", "requester": "bob"})
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["requester"] for r in rows] == ["bob"]
    lines = client.get("/audit/export", params={"format": "jsonl", "project": "poster"}).text
    records = [json.loads(line) for line in lines.splitlines()]
    assert {r["record"]["requester"] for r in records} >= {"alice", "bob"}
    assert client.get("/audit/export", params={"format": "xml"}).status_code == 400
    bad = client.get("/audit", params={"since": "yesterday-ish"})
    assert bad.status_code == 400 and 'id="filter-error"' in bad.text
    none = client.get("/audit", params={"generator": "no-such", "model": "x"}).text
    assert 'data-metric="entries" data-value="0"' in none


def test_logout_drops_the_session(client: TestClient, login: Callable[..., TestClient]) -> None:
    login(client, "lena")
    page = client.get("/audit").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert client.post("/audit/logout", data={}).status_code == 403
    assert client.post("/audit/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/audit").status_code == 303


def test_no_request_path_reaches_files_outside_the_static_folder(client: TestClient) -> None:
    for path in (
        "/static/../../config.py",
        "/static/%2e%2e/%2e%2e/config.py",
        "/static/..%2f..%2fprovenant.toml",
        "/static//etc/passwd",
    ):
        response = client.get(path)
        assert response.status_code == 404, path


def test_the_last_signed_checkpoint_is_shown(
    client: TestClient, served: ServedStudio, login: Callable[..., TestClient]
) -> None:
    made = served.cli("audit", "checkpoint", "--json")
    assert made.exit_code == 0, made.output
    size = json.loads(made.stdout.splitlines()[-1])["tree_size"]
    login(client, "lena")
    html = client.get("/audit").text
    assert f"Last signed checkpoint: {size:,} entries" in html
