"""Normalisation folds every evasion class to the plain word and maps back to what was typed."""

from __future__ import annotations

import time

import pytest

from provenance.policies.normalize import normalize, runs, squeeze

EVASIONS = {
    "plain": "naked",
    "upper case": "NAKED",
    "mixed case": "NaKeD",
    "cyrillic homoglyphs": "n\u0430k\u0435d",
    "greek homoglyphs": "\u039d\u0391\u039a\u0395D",
    "fullwidth": "\uff4e\uff41\uff4b\uff45\uff44",
    "mathematical bold": "\U0001d427\U0001d41a\U0001d424\U0001d41e\U0001d41d",
    "accents": "n\u00e0k\u00e9d",
    "combining strike-through": "n\u0336a\u0336k\u0336e\u0336d\u0336",
    "zero-width space": "na\u200bked",
    "zero-width joiners and soft hyphen": "n\u200da\u00adk\u2060ed",
    "leetspeak digits": "n4k3d",
    "leetspeak symbols": "n@ked",
    "dotted": "n.a.k.e.d",
    "spaced": "n a k e d",
    "hyphenated": "n-a-k-e-d",
    "underscored": "n_a_k_e_d",
    "starred": "n*a*k*e*d",
    "spaced dots": "n . a . k . e . d",
    "regional indicators": "\U0001f1f3\U0001f1e6\U0001f1f0\U0001f1ea\U0001f1e9",
}


@pytest.mark.parametrize("typed", EVASIONS.values(), ids=EVASIONS.keys())
def test_each_evasion_class_folds_to_the_plain_word(typed: str) -> None:
    text = normalize(f"the {typed} person")
    assert [t.text for t in text.tokens] == ["the", "naked", "person"]


def test_a_one_letter_word_next_to_spaced_letters_is_read_both_ways() -> None:
    token = normalize("a n a k e d woman").tokens[0]
    assert token.text == "anaked"
    assert "naked" in token.forms
    assert token.start == 0  # the span shows the whole run as typed


@pytest.mark.parametrize("typed", EVASIONS.values(), ids=EVASIONS.keys())
def test_spans_map_back_to_exactly_what_was_typed(typed: str) -> None:
    original = f"portrait, {typed}, studio light"
    text = normalize(original)
    index = [t.text for t in text.tokens].index("naked")
    token = text.tokens[index]
    span = original[token.start : token.end]
    # The span starts and ends on the typed word (trailing combining marks aside).
    assert span[0] == typed[0]
    assert typed.startswith(span)
    start, end = text.to_original(text.text.index("naked"), text.text.index("naked") + 5)
    assert original[start:end] == span


def test_repeated_letters_are_kept_for_run_length_matching() -> None:
    token = normalize("naaaaked").tokens[0]
    assert token.text == "naaaaked"
    assert squeeze(token.text) == "naked"
    assert runs("naaked") == (("n", 1), ("a", 2), ("k", 1), ("e", 1), ("d", 1))


def test_ambiguous_leet_characters_keep_every_reading() -> None:
    assert normalize("k1ll").tokens[0].forms == ("kill", "klll")
    assert normalize("n1pple").tokens[0].forms == ("nipple", "nlpple")


def test_numbers_keep_their_own_spelling_first() -> None:
    tokens = normalize("a 1990s car, 4k, 12yo").tokens
    by_plain = {t.plain: t for t in tokens}
    assert by_plain["1990s"].text == "1990s"
    assert by_plain["4k"].text == "4k"
    assert by_plain["12yo"].text == "12yo"
    assert "to" in normalize("70").tokens[0].forms  # digits still offer a leet reading


def test_spelled_words_keep_one_separator() -> None:
    assert [t.text for t in normalize("a s_w_a_s_t_i_k_a flag").tokens] == [
        "a",
        "swastika",
        "flag",
    ]
    assert [t.text for t in normalize("s.e.x.y t*e*e*n").tokens] == ["sexy", "teen"]
    assert [t.text for t in normalize("a b").tokens] == ["a", "b"]  # two letters stay apart


def test_homoglyph_folding_is_case_consistent() -> None:
    upper = normalize("СВАСТИКА").tokens[0].text
    lower = normalize("свастика").tokens[0].text
    assert upper == lower


def test_ordinary_text_and_empty_input() -> None:
    text = normalize("A lighthouse at dusk, oil painting.")
    assert text.text == "a lighthouse at dusk oil painting"
    assert normalize("").tokens == ()
    assert normalize(" \u200b\t\n ").tokens == ()
    assert normalize("").to_original(0, 3) == (0, 0)


def test_cost_is_linear_in_the_input() -> None:
    """64x the input must cost far less than the 4096x a quadratic pass would.

    Measured in this process's CPU time (not wall time, which a loaded machine stretches at
    random), best of several runs on both sides, against a bound 4x below quadratic."""
    unit = "a watercolor lighthouse at dusk with n4k3d gulls, 4k, detailed. "
    normalize(unit)  # warm the per-character memo

    def best_of(text: str, runs: int) -> float:
        times = []
        for _ in range(runs):
            start = time.process_time()
            normalize(text)
            times.append(time.process_time() - start)
        return min(times)

    small = best_of(unit * 25, 7)
    large = best_of(unit * 1600, 3)  # ~100 KB
    assert len(normalize(unit * 1600).tokens) == 1600 * 10
    assert large < max(small, 1e-3) * 64 * 16  # linear is 64x; quadratic would be 4096x
