"""Prompt name matching: names, aliases, misspellings, style references, and no common words."""

from __future__ import annotations

import pytest

from provenance.policies.known_works.index import IndexedWork
from provenance.policies.known_works.names import NameMatcher
from provenance.policies.known_works.specs import work_names


def _work(wid: str, title: str, kind: str, creator: str = "", aliases: tuple[str, ...] = ()):
    names = work_names(title, creator, kind, aliases)
    return IndexedWork(wid, title, creator, kind, "all-rights-reserved", names)


WORKS = [
    _work("S1", "Greg Rutkowski", "artist_style"),
    _work("C1", "Mickey Mouse", "character", "Disney", ("Steamboat Willie",)),
    _work("C2", "Pikachu", "character", "Nintendo"),
    _work("A1", "The Starry Night", "artwork", "Vincent van Gogh"),
    _work("F1", "Cars", "character", "Pixar"),
    _work("F2", "Sonic", "character", "Sega"),
    _work("S2", "Banksy", "artist_style"),
    _work("S3", "Claude Monet Style", "artist_style", "Claude Monet"),
    _work("C3", "Batman", "character", "DC"),
    _work("F3", "Tangled", "character", "Disney"),
]


@pytest.fixture(scope="module")
def matcher() -> NameMatcher:
    return NameMatcher(WORKS)


def _found(matcher: NameMatcher, prompt: str) -> dict[str, tuple[str, float, str]]:
    hits = matcher.match(prompt, name_score=0.9, style_score=0.85)
    return {WORKS[h.work].id: (h.rule, h.score, h.span) for h in hits}


@pytest.mark.parametrize(
    ("prompt", "work", "span"),
    [
        ("a castle by Greg Rutkowski, trending", "S1", "Greg Rutkowski"),
        ("a castle, greg rutkowsky, 4k", "S1", "greg rutkowsky"),  # misspelt
        ("a castle, GregRutkowski", "S1", "GregRutkowski"),  # run together
        ("gr3g rutk0wski dragon", "S1", "gr3g rutk0wski"),  # leetspeak
        ("Mickey Mouse on a boat", "C1", "Mickey Mouse"),
        ("mickey mouse on a boat", "C1", "mickey mouse"),
        ("a cartoon of steamboat willy", "C1", "steamboat willy"),  # alias, misspelt
        ("pikachu in a forest", "C2", "pikachu"),  # long single word: any case
        ("PIKACHUUU in a forest", "C2", "PIKACHUUU"),  # repeated letters squeezed
        ("the starry night over a harbour", "A1", "the starry night"),
        ("a poster of Cars on a racetrack", "F1", "Cars"),  # everyday word, written as a name
        ("Batman on a rooftop in Gotham", "C3", "Batman"),
        ("street art by banksy", "S2", "banksy"),  # not a word: any case, any place
        ("a lego BATMAN", "C3", "BATMAN"),
        ("a still from Tangled, tower scene", "F3", "Tangled"),
        ("a blue hedgehog like Sonic", "F2", "Sonic"),
        ("Сlаude Моnet water lilies", "S3", "Сlаude Моnet"),  # Cyrillic look-alikes
    ],
)
def test_names_aliases_and_misspellings_match(
    matcher: NameMatcher, prompt: str, work: str, span: str
) -> None:
    found = _found(matcher, prompt)
    assert work in found, found
    rule, score, got_span = found[work]
    assert rule == "name"
    assert got_span == span
    assert 0.9 <= score <= 1.0


@pytest.mark.parametrize(
    ("prompt", "work"),
    [
        ("a castle in the style of rutkowsky", "S1"),  # surname, misspelt: only after a lead
        ("a pond in the style of monett", "S3"),  # misspelt surname after a style lead
        ("water lilies, monet style", "S3"),
        ("haystacks inspired by monet", "S3"),
    ],
)
def test_style_references_lower_the_bar_for_artists(
    matcher: NameMatcher, prompt: str, work: str
) -> None:
    found = _found(matcher, prompt)
    assert found.get(work, ("",))[0] == "style_reference", found


@pytest.mark.parametrize(
    "prompt",
    [
        "two cars parked in the rain",  # common word, not written as the name
        "Cars parked in the rain",  # capital only because it starts the sentence
        "a sonic boom over the desert",
        "tangled headphone cables",  # a long everyday word is still a word
        "Tangled cables on a desk",  # capital only because it starts the sentence
        "a castle by greg the baker",  # shares a first name only
        "the starry sky over a harbour",  # near-miss title
        "a mouse named mickey",  # words of the name, not the name
        "a portrait by ruth kowalski",  # a different person
        "a banksia flower",  # near-miss of a short artist name, no style lead
        "rutkowsky castle",  # misspelt surname without a style lead
    ],
)
def test_near_misses_and_common_words_do_not_match(matcher: NameMatcher, prompt: str) -> None:
    assert _found(matcher, prompt) == {}


def test_each_work_is_reported_once_per_rule(matcher: NameMatcher) -> None:
    hits = matcher.match("Greg Rutkowski and greg rutkowsky, style of Greg Rutkowski", 0.9, 0.85)
    assert [(WORKS[h.work].id, h.rule) for h in hits] == [("S1", "name")]
    assert hits[0].score == 1.0


def test_empty_registry_and_empty_prompt() -> None:
    assert NameMatcher([]).match("anything at all", 0.9, 0.85) == []
    assert NameMatcher(WORKS).match("", 0.9, 0.85) == []


def test_common_word_list_is_lower_case_words_only() -> None:
    from provenance.policies.known_works.names import common_words

    words = common_words()
    assert len(words) > 50_000
    assert {"cars", "frozen", "tangled", "sonic", "brave"} <= words
    assert not {"batman", "shrek", "pikachu", "yoda"} & words
    assert all(w.isalpha() and w.islower() for w in words)
