"""The lexicon file: context rules, negation, ages, names, and clear errors for bad data."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.errors import ConfigError
from provenance.policies.lexicon import LEXICON_PATH, Lexicon, default_lexicon
from provenance.policies.normalize import normalize


def categories(prompt: str) -> set[str]:
    return {hit.category for hit in default_lexicon().hits(normalize(prompt))}


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("no nudity", set()),
        ("not naked", set()),
        ("without any gore", set()),
        ("gore-free horror", set()),
        ("no problem, naked woman", {"sexual_explicit"}),  # negation only reaches the next word
        ("not a child, a naked adult", {"sexual_explicit"}),
        ("no adults, a naked child", {"sexual_minors", "sexual_explicit"}),
    ],
)
def test_negation(prompt: str, expected: set[str]) -> None:
    assert categories(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "minor"),
    [
        ("a 12 year old", True),
        ("a 12-year-old", True),
        ("a 12yo", True),
        ("aged 12", True),
        ("a fifteen year old", True),
        ("una niña de 9 años", True),
        ("a 25 year old", False),
        ("12 years of experience", False),
        ("the 1990s", False),
    ],
)
def test_ages_are_minor_indicators_under_18(prompt: str, minor: bool) -> None:
    matches = default_lexicon().scan(normalize(prompt))
    assert any(m.set_name == "minor" and m.term.startswith("age ") for m in matches) is minor
    assert ("sexual_minors" in categories(f"{prompt}, nude")) is minor


@pytest.mark.parametrize(
    ("prompt", "real"),
    [
        ("Emma Watson nude", True),
        ("emma watson nude", True),
        ("Grace Kelly nude", True),
        ("grace and poise, nude", False),  # "grace" is also a word: needs capitals
        ("a rose petal, nude", False),
        ("@someone nude", True),
        ("Emma nude", False),  # a first name alone names no one
    ],
)
def test_named_people_make_nudity_ncii(prompt: str, real: bool) -> None:
    assert ("ncii_real_person" in categories(prompt)) is real


def test_violence_needs_verb_and_group_close_together() -> None:
    assert categories("exterminate the immigrants") == {"violence_incitement"}
    assert categories("eradicate immigrants") == {"violence_incitement"}
    far = "eradicate weeds in the garden, then a picnic with " + "friends " * 6 + "immigrants"
    assert categories(far) == set()
    assert categories("exterminate the cockroaches in the kitchen") == set()


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("自殺防止のポスター", set()),  # suicide-prevention poster: context in the same run
        ("自殺する少女", {"self_harm"}),
        ("자살 예방 포스터", set()),
        ("áp phích phòng chống tự tử", set()),
        ("một người tự tử", {"self_harm"}),
        ("poster pencegahan bunuh diri", set()),
        ("a girl who wants to unalive herself", {"self_harm"}),
        ("a headless corpse in the snow", {"gore"}),
    ],
)
def test_context_words_neutralise_in_every_script(prompt: str, expected: set[str]) -> None:
    found = categories(prompt)
    assert expected <= found if expected else found == set()


def test_every_rule_names_known_sets_and_categories_are_complete() -> None:
    lexicon = default_lexicon()
    assert set(lexicon.categories) == {
        "sexual_minors",
        "sexual_explicit",
        "ncii_real_person",
        "gore",
        "hate_symbols",
        "self_harm",
        "violence_incitement",
    }
    assert len(lexicon.terms) > 1000
    assert lexicon.version


def test_malformed_lexicon_files_are_config_errors(tmp_path: Path) -> None:
    broken = tmp_path / "lexicon.toml"
    broken.write_text("[sets\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="malformed TOML"):
        Lexicon.load(broken)
    unknown_set = tmp_path / "rules.toml"
    unknown_set.write_text(
        '[sets.a]\nterms = ["x y"]\n[[rules]]\ncategory = "gore"\nall_of = ["a", "b"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"unknown sets \['b'\]"):
        Lexicon.load(unknown_set)
    empty_term = tmp_path / "empty.toml"
    empty_term.write_text('[sets.a]\nterms = ["..."]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="has no words"):
        Lexicon.load(empty_term)
    with pytest.raises(ConfigError, match="cannot read lexicon"):
        Lexicon.load(tmp_path / "missing.toml")
    assert LEXICON_PATH.is_file()
