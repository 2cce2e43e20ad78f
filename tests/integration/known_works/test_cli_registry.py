"""`provenant works add|import|list|remove|reindex` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Cli = Callable[..., Result]


def _ids(cli: Cli, url: str) -> list[str]:
    result = cli(["works", "list", "--json"], url)
    assert result.exit_code == 0, result.output
    return [json.loads(line)["id"] for line in result.stdout.splitlines()]


def _jsonl(path: Path, *works: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(w) + "\n" for w in works))
    return path


def _work(wid: str, **extra: object) -> dict[str, object]:
    base = {"id": wid, "title": f"Work {wid}", "kind": "artwork", "license": "all-rights-reserved"}
    return base | extra


def test_add_list_remove(cli: Cli, migrated_url: str, photo_dir: Path) -> None:
    added = cli(
        ["works", "add", str(photo_dir / "astronaut.png"), "--title", "Astronaut Portrait",
         "--creator", "NASA", "--kind", "artwork", "--license", "licensed:AGR-7",
         "--aliases", "Astro, Space Portrait", "--id", "W1", "--json"],
        migrated_url,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    record = json.loads(added.stdout)
    assert record["id"] == "W1" and record["aliases"] == ["Astro", "Space Portrait"]
    assert len(record["images"]) == 1 and len(record["images"][0]) == 64
    text_only = cli(
        ["works", "add", "--title", "Greg Rutkowski", "--kind", "artist_style",
         "--license", "all-rights-reserved", "--id", "S1"],
        migrated_url,
    )  # fmt: skip
    assert text_only.exit_code == 0, text_only.output
    assert 'added S1 "Greg Rutkowski"' in text_only.stdout

    listed = [
        json.loads(line)
        for line in cli(["works", "list", "--json"], migrated_url).stdout.splitlines()
    ]
    assert [(w["id"], w["images"], w["license"]) for w in listed] == [
        ("S1", 0, "all-rights-reserved"),
        ("W1", 1, "licensed:AGR-7"),
    ]
    table = cli(["works", "list"], migrated_url)
    words = table.stdout.split()
    assert {"W1", "S1", "Astronaut", "Portrait", "Greg", "Rutkowski", "NASA"} <= set(words)
    assert "…" not in table.stdout  # nothing cut off, whatever the terminal width

    removed = cli(["works", "remove", "W1"], migrated_url)
    assert (
        removed.exit_code == 0 and 'removed W1 "Astronaut Portrait" (1 image(s))' in removed.stdout
    )
    assert _ids(cli, migrated_url) == ["S1"]
    missing = cli(["works", "remove", "W1"], migrated_url)
    assert missing.exit_code == 1
    assert "no known work with id 'W1'" in missing.stderr


def test_duplicates_are_refused(cli: Cli, migrated_url: str, photo_dir: Path) -> None:
    base = ["--kind", "artwork", "--license", "all-rights-reserved"]
    first = cli(
        ["works", "add", str(photo_dir / "coffee.png"), "--title", "Coffee", "--id", "W1", *base],
        migrated_url,
    )
    assert first.exit_code == 0, first.output
    same_id = cli(["works", "add", "--title", "Other", "--id", "W1", *base], migrated_url)
    assert same_id.exit_code == 1
    assert "work id 'W1' is already registered" in same_id.stderr
    copy = photo_dir.parent / "coffee-copy.png"
    shutil.copyfile(photo_dir / "coffee.png", copy)
    same_image = cli(
        ["works", "add", str(copy), "--title", "Dup", "--id", "W2", *base], migrated_url
    )
    assert same_image.exit_code == 1
    assert "already registered to work 'W1'" in same_image.stderr
    assert _ids(cli, migrated_url) == ["W1"]


def test_import_all_or_nothing_and_skip_bad(
    cli: Cli, migrated_url: str, photo_dir: Path, tmp_path: Path
) -> None:
    images = tmp_path / "refs"
    images.mkdir()
    for name in ("rocket", "camera"):
        shutil.copyfile(photo_dir / f"{name}.png", images / f"{name}.png")
    (images / "notes.png").write_text("not an image")
    path = _jsonl(
        tmp_path / "works.jsonl",
        _work("W1", images=["refs/rocket.png"]),
        _work("W2", kind="painting"),
        _work("W3", images=["refs/notes.png"]),
        _work("W1"),
        _work("W4", kind="character", aliases=["Four"], images=["refs/camera.png"]),
        _work("W5", license="licensed:"),
        _work("W6", kind="artist_style"),
    )
    refused = cli(["works", "import", str(path)], migrated_url)
    assert refused.exit_code == 1
    assert "4 bad line(s), nothing imported" in refused.stderr
    expected = {
        2: "kind: unknown kind 'painting'",
        3: "notes.png: not a PNG, JPEG or WebP image",
        4: "duplicate id 'W1' (first on line 1)",
        6: "license: must be 'all-rights-reserved'",
    }
    warnings = [line for line in refused.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4
    for (line, why), warning in zip(expected.items(), warnings, strict=True):
        assert f"works.jsonl: line {line}: " in warning and why in warning
    assert "Traceback" not in refused.output
    assert _ids(cli, migrated_url) == []

    skipped = cli(["works", "import", str(path), "--skip-bad", "--json"], migrated_url)
    assert skipped.exit_code == 0, skipped.output
    report = json.loads(skipped.stdout)
    assert report["ids"] == ["W1", "W4", "W6"] and report["images"] == 2
    assert [s["line"] for s in report["skipped"]] == [2, 3, 4, 6]
    notes = next(s for s in report["skipped"] if s["line"] == 3)["error"]
    assert "notes.png" in notes and "not a PNG, JPEG or WebP image" in notes
    assert _ids(cli, migrated_url) == ["W1", "W4", "W6"]

    again = cli(["works", "import", str(path), "--skip-bad", "--json"], migrated_url)
    assert json.loads(again.stdout)["imported"] == 0
    errors = {s["line"]: s["error"] for s in json.loads(again.stdout)["skipped"]}
    assert errors[1] == "work id 'W1' is already registered"


def test_csv_import(cli: Cli, migrated_url: str, photo_dir: Path, tmp_path: Path) -> None:
    shutil.copyfile(photo_dir / "china.png", tmp_path / "china.png")
    path = tmp_path / "works.csv"
    path.write_text(
        "id,title,creator,kind,aliases,license,images\n"
        "C1,Mickey Mouse,Disney,character,Steamboat Willie;Mickey,licensed:DIS-1,\n"
        "A1,China Temple,,artwork,,all-rights-reserved,china.png\n"
    )
    result = cli(["works", "import", str(path)], migrated_url)
    assert result.exit_code == 0, result.output
    assert "imported 2 work(s) with 1 image(s)" in result.stdout
    listed = [
        json.loads(x) for x in cli(["works", "list", "--json"], migrated_url).stdout.splitlines()
    ]
    assert listed[1]["aliases"] == ["Steamboat Willie", "Mickey"]


def test_bad_arguments(cli: Cli, migrated_url: str, tmp_path: Path) -> None:
    base = ["works", "add", "--title", "T"]
    kind = cli([*base, "--kind", "painting", "--license", "all-rights-reserved"], migrated_url)
    assert kind.exit_code == 2 and "painting" in kind.stderr
    lic = cli([*base, "--kind", "artwork", "--license", "licenced:X"], migrated_url)
    assert lic.exit_code == 2 and "must be 'all-rights-reserved'" in lic.stderr
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    broken = cli(
        [*base, str(fake), "--kind", "artwork", "--license", "all-rights-reserved"], migrated_url
    )
    assert broken.exit_code == 1
    assert broken.stderr.count("\n") == 1 and "fake.jpg" in broken.stderr
    assert "corrupt or truncated" in broken.stderr
    assert _ids(cli, migrated_url) == []


def test_unmigrated_database_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    result = cli(["works", "list"], f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.exit_code == 1
    assert "not initialised" in result.stderr and "provenant db upgrade" in result.stderr


def test_console_script_round_trip(
    subprocess_env: dict[str, str], photo_dir: Path, tmp_path: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["provenant", *args], env=subprocess_env, cwd=tmp_path, capture_output=True,
            text=True, timeout=120, check=False,
        )  # fmt: skip

    assert run("db", "upgrade").returncode == 0
    added = run("works", "add", str(photo_dir / "flower.png"), "--title", "Flower", "--kind",
                "artwork", "--license", "all-rights-reserved", "--id", "F1")  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = run("works", "list", "--json")
    assert [json.loads(x)["id"] for x in listed.stdout.splitlines()] == ["F1"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "X", "title": "X", "kind": "artwork"}\n')
    refused = run("works", "import", str(bad))
    assert refused.returncode == 1
    assert "line 1: license: missing" in refused.stderr
    assert "Traceback" not in refused.stderr
    reindexed = run("works", "reindex", "--json")
    assert reindexed.returncode == 0, reindexed.stderr
    assert json.loads(reindexed.stdout)["index"]["images"] == 1


def test_add_and_remove_bring_the_index_forward_and_reindex_rebuilds(
    cli: Cli, migrated_url: str, home: Path
) -> None:
    from provenance.policies.known_works.index import KnownWorksIndex

    root = home / "index" / "known_works"
    for wid in ("Z1", "A1"):  # a rebuild orders works by id; bringing forward appends
        added = cli(["works", "add", "--title", f"Work {wid}", "--kind", "artist_style",
                     "--license", "all-rights-reserved", "--id", wid], migrated_url)  # fmt: skip
        assert added.exit_code == 0, added.output
    index = KnownWorksIndex.open(root)
    assert index is not None and [w.id for w in index.works] == ["Z1", "A1"]
    assert cli(["works", "remove", "Z1"], migrated_url).exit_code == 0
    index = KnownWorksIndex.open(root)
    assert index is not None and [(w.id, w.removed) for w in index.works] == [
        ("Z1", True),
        ("A1", False),
    ]
    assert index.stamp.works == 1
    assert cli(["works", "reindex"], migrated_url).exit_code == 0
    index = KnownWorksIndex.open(root)
    assert index is not None and [w.id for w in index.works] == ["A1"]
