"""The HTML report page: every ledger string escaped, nothing fetched, badge states, thumbnails."""

from __future__ import annotations

import base64
import hashlib
import html
import io
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from provenance.audit.query import AuditFilter
from provenance.audit.render import chain_badge, render_html
from provenance.audit.report import DayCount, ReportData, gather, summary
from provenance.audit.thumbnails import (
    MISSING,
    MODIFIED,
    OK,
    UNREADABLE,
    Thumbnail,
    make_thumbnail,
    make_thumbnails,
)
from provenance.ledger import AttributionRecord, BadEntry, ChainReport, DecisionRecord, Ledger
from tests.integration.ledger.samples import sample_asset, sample_refusal

EVIL = "<script>alert('pwned')</script>\"'&<img src=x onerror=alert(1)>"
TEMPLATE = "$css ${version} $$"
ALLOWED_TAGS = {
    "html", "head", "meta", "link", "title", "style", "body", "header", "main", "section",
    "footer", "h1", "h2", "h3", "p", "code", "div", "span", "dl", "dt", "dd", "table", "thead",
    "tbody", "tr", "th", "td", "ul", "li", "br", "img", "svg", "line", "text", "rect",
}  # fmt: skip


class _Tags(HTMLParser):
    """Every start tag and its attributes, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _hostile_ledger(ledger: Ledger) -> Ledger:
    decision = DecisionRecord(
        stage="prompt", policy="known_works", rule="name", action="allow", score=1.0,
        detail=EVIL, work_id="W<1>", work_title=EVIL,
    )  # fmt: skip
    credit = AttributionRecord(
        work_id="W<1>", title=EVIL, creator=EVIL, license=EVIL, similarity=0.9, method="name"
    )
    ledger.append_asset(
        sample_asset(
            1, prompt=EVIL + TEMPLATE, requester=EVIL, project=EVIL, generator="gen<b>",
            model_name=EVIL, decisions=(decision,), attributions=(credit,),
        )
    )  # fmt: skip
    ledger.append_refusal(sample_refusal(1, prompt=EVIL, requester=EVIL, generator="gen<b>"))
    return ledger


def _page(ledger: Ledger, thumbnails: list[Thumbnail] | None = None) -> tuple[ReportData, str]:
    data = gather(ledger, AuditFilter(), now=datetime(2026, 1, 1, tzinfo=UTC))
    shown = thumbnails if thumbnails is not None else [Thumbnail(MISSING)] * len(data.assets)
    return data, render_html(data, shown)


def test_every_ledger_string_is_escaped(ledger: Ledger) -> None:
    data, page = _page(_hostile_ledger(ledger))
    assert EVIL not in page and "<script" not in page
    assert html.escape(EVIL, quote=True) in page
    assert html.escape(TEMPLATE) in page  # user text is not a template
    parser = _Tags()
    parser.feed(page)
    tags = {tag for tag, _ in parser.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert not any(tag == "img" for tag, _ in parser.tags)  # placeholders only: files missing
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    assert summary(data)["totals"] == {"entries": 2, "asset": 1, "refusal": 1}


def test_nothing_is_fetched(ledger: Ledger) -> None:
    _, page = _page(_hostile_ledger(ledger))
    parser = _Tags()
    parser.feed(page)
    csp = [a for t, a in parser.tags if t == "meta" and a.get("http-equiv")]
    assert csp[0]["content"] == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    for tag, attrs in parser.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith("data:"), (tag, name, value)


def test_thumbnails_are_data_uris_and_placeholders(ledger: Ledger) -> None:
    ledger.append_asset(sample_asset(1))
    ledger.append_asset(sample_asset(2))
    uri = "data:image/jpeg;base64,/9j/AAAA"
    _, page = _page(ledger, [Thumbnail(OK, uri), Thumbnail(MODIFIED, uri, "bytes differ")])
    parser = _Tags()
    parser.feed(page)
    images = [a for t, a in parser.tags if t == "img"]
    assert [i["src"] for i in images] == [uri, uri]
    assert 'data-file="modified"' in page and "file modified" in page
    _, missing = _page(ledger, [Thumbnail(MISSING), Thumbnail(UNREADABLE, None, "<bad>")])
    assert "<img" not in missing and 'class="thumb placeholder">missing<' in missing


def test_chain_badges() -> None:
    intact = chain_badge(ChainReport(True, 3, 3, "ab" * 32))
    assert 'data-chain="intact"' in intact and "Chain intact: 3 entries" in intact
    bad = BadEntry(2, "asset", "ast-<1>", "hash mismatch", f"stored {EVIL}")
    broken = chain_badge(ChainReport(False, 1, 3, "ab" * 32, bad))
    assert 'data-chain="broken"' in broken and 'data-bad-seq="2"' in broken
    assert "Chain broken at seq 2 (asset ast-&lt;1&gt;): hash mismatch" in broken
    assert EVIL not in broken and html.escape(EVIL) in broken


def test_unknown_verdicts_from_edited_rows_still_render(ledger: Ledger) -> None:
    data = gather(ledger, AuditFilter())
    data.days = [
        DayCount("2025-01-02", "refusal", "gan", "quarantine<x>", 2),
        DayCount("2025-01-02", "asset", "gan", "allow", 1),
    ]
    page = render_html(data, [])
    assert 'data-verdict="quarantine&lt;x&gt;"' in page
    assert "quarantine&lt;x&gt; <span" in page  # in the chart legend, with its count


def _png(path: Path, size: tuple[int, int] = (200, 100)) -> str:
    Image.new("RGB", size, (200, 30, 30)).save(path, format="PNG")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _decoded(thumbnail: Thumbnail) -> Image.Image:
    assert thumbnail.data_uri is not None
    header, payload = thumbnail.data_uri.split(",", 1)
    assert header == "data:image/jpeg;base64"
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def test_thumbnail_states(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    digest = _png(good)
    ok = make_thumbnail(str(good), digest)
    assert ok.status == OK and _decoded(ok).size == (96, 48)
    edited = make_thumbnail(str(good), "0" * 64)
    assert edited.status == MODIFIED and _decoded(edited).format == "JPEG"
    assert make_thumbnail(str(tmp_path / "gone.png"), digest) == Thumbnail(
        MISSING, detail="no file at the recorded path"
    )
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    broken = make_thumbnail(str(junk), digest)
    assert broken.status == UNREADABLE and broken.data_uri is None and broken.detail


def test_thumbnails_keep_their_order(tmp_path: Path) -> None:
    files = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        files.append((str(path), _png(path, (10 + i, 10))))
    files.insert(2, (str(tmp_path / "missing.png"), "0" * 64))
    ticks: list[int] = []
    made = make_thumbnails(files, workers=3, progress=ticks.append)
    assert [t.status for t in made] == [OK, OK, MISSING, OK, OK, OK, OK]
    widths = [_decoded(t).size[0] for t in made if t.status == OK]
    assert widths == [10, 11, 12, 13, 14, 15] and sum(ticks) == len(files)


@pytest.mark.parametrize("prompt", [None, "x" * 400])
def test_prompts_hidden_or_long_are_shown_as_such(ledger: Ledger, prompt: str | None) -> None:
    ledger.append_asset(sample_asset(1, prompt=prompt, prompt_hash="h" * 64))
    _, page = _page(ledger)
    if prompt is None:
        assert "(not kept: salted hash only)" in page
    else:
        assert "x" * 300 + "…" in page and "x" * 301 not in page
