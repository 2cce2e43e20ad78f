"""Work specs and import-file parsing: what is accepted, and line-numbered refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.config import Settings
from provenance.errors import BadInputError, ConfigError
from provenance.policies.known_works.importer import LineError, read_specs
from provenance.policies.known_works.policy import KnownWorksOptions, KnownWorksPolicy
from provenance.policies.known_works.specs import WorkSpec, check_license, is_licensed, parse_spec
from provenance.protocols import PolicyContext


@pytest.mark.parametrize("text", ["all-rights-reserved", "licensed:AGR-2024-001", "licensed:x/y#3"])
def test_licences_accepted(text: str) -> None:
    assert check_license(f"  {text} ") == text
    assert is_licensed(text) == text.startswith("licensed:")


@pytest.mark.parametrize("text", ["", "licensed:", "licenced:A1", "public", "licensed: A1", "ARR"])
def test_malformed_licences_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must be 'all-rights-reserved' or"):
        check_license(text)


def test_spec_validation_messages_name_the_field() -> None:
    base = {"id": "W1", "title": "T", "kind": "artwork", "license": "all-rights-reserved"}
    assert parse_spec(base, "x").aliases == ()
    cases = {
        "kind: unknown kind 'painting'": {**base, "kind": "painting"},
        "title: missing": {k: v for k, v in base.items() if k != "title"},
        "colour: unknown field": {**base, "colour": "red"},
        "aliases: must be a list": {**base, "aliases": "A;B"},
        "license: must be 'all-rights-reserved'": {**base, "license": "free"},
        "id: must not contain control": {**base, "id": "W\x001"},
    }
    for message, data in cases.items():
        with pytest.raises(BadInputError, match=f"^where: {message}"):
            parse_spec(data, "where")


def test_names_include_the_artist_only_for_styles() -> None:
    style = WorkSpec(
        id="S",
        title="Impressionism of Monet",
        creator="Claude Monet",
        kind="artist_style",
        license="all-rights-reserved",
    )
    character = WorkSpec(
        id="C",
        title="Mickey Mouse",
        creator="Disney",
        kind="character",
        aliases=("Mickey", " "),
        license="all-rights-reserved",
    )
    assert style.names == ("Impressionism of Monet", "Claude Monet")
    assert character.names == ("Mickey Mouse", "Mickey")
    assert character.embedding_text == "Mickey Mouse (Mickey) by Disney"


def test_jsonl_lines_are_numbered_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "works.jsonl"
    path.write_text(
        '{"id": "W1", "title": "One", "kind": "artwork", "license": "all-rights-reserved"}\n'
        "\n"
        "{not json\n"
        '["a list"]\n'
        '{"id": "W2", "title": "Two", "kind": "sculpture", "license": "all-rights-reserved"}\n'
        '{"id": "W3", "title": "Three", "kind": "character", "license": "licensed:A-1",'
        ' "aliases": ["Tri"], "images": ["img/3.png"]}\n'
    )
    items = list(read_specs(path))
    assert [line for line, _ in items] == [1, 3, 4, 5, 6]
    errors = {line: str(item) for line, item in items if isinstance(item, LineError)}
    assert errors[3].startswith("line 3: malformed JSON")
    assert "expected a JSON object" in errors[4]
    assert "unknown kind 'sculpture'" in errors[5]
    w3 = items[-1][1]
    assert isinstance(w3, WorkSpec)
    assert w3.images == (Path("img/3.png"),)
    assert w3.aliases == ("Tri",)


def test_csv_lists_are_semicolon_separated(tmp_path: Path) -> None:
    path = tmp_path / "works.csv"
    path.write_text(
        "id,title,creator,kind,aliases,license,images\n"
        'S1,Greg Rutkowski,,artist_style,"Rutkowski; G. Rutkowski",licensed:AG-1,\n'
        "C1,Mickey Mouse,Disney,character,,all-rights-reserved,a.png;b.png\n"
        "C2,Broken,,character,,all rights,\n"
        "C3,Short,row\n"
    )
    items = dict(read_specs(path))
    s1, c1 = items[2], items[3]
    assert isinstance(s1, WorkSpec) and s1.aliases == ("Rutkowski", "G. Rutkowski")
    assert isinstance(c1, WorkSpec) and c1.images == (Path("a.png"), Path("b.png"))
    assert "line 4: license: must be" in str(items[4])
    assert str(items[5]) == "line 5: expected 7 columns"


def test_unreadable_import_files(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="file not found"):
        list(read_specs(tmp_path / "absent.jsonl"))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"title": "caf\xe9"}\n')
    with pytest.raises(BadInputError, match="not UTF-8"):
        list(read_specs(latin))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(BadInputError, match="empty CSV"):
        list(read_specs(empty))


def test_policy_options_are_validated(home: Path) -> None:
    context = PolicyContext(settings=Settings.load(home=home, env={}))
    assert KnownWorksPolicy({}, context).options == KnownWorksOptions()
    with pytest.raises(ConfigError, match=r"policies\.known_works: phash_distance: unknown"):
        KnownWorksPolicy({"phash_distance": 3}, context)
    with pytest.raises(ConfigError, match="all_rights_reserved_action"):
        KnownWorksPolicy({"all_rights_reserved_action": "warn"}, context)


def test_jsonl_strings_may_hold_line_separators(tmp_path: Path) -> None:
    path = tmp_path / "works.jsonl"
    path.write_text(
        '{"id": "W1", "title": "One\u2028Two", "kind": "artwork",'
        ' "license": "all-rights-reserved"}\r\n'
        '{"id": "W2", "title": "Three", "kind": "artwork", "license": "all-rights-reserved"}\n',
        encoding="utf-8",
    )
    items = list(read_specs(path))
    assert [(line, getattr(spec, "id", None)) for line, spec in items] == [(1, "W1"), (2, "W2")]
