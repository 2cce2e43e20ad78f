"""Finding registered works named in a prompt: exact, misspelled, or as a style reference.

Prompt and names pass through the same evasion-resistant normaliser (`policies.normalize`:
case, confusables, leetspeak, spacing), then three rules apply:

* **Multi-word names** ("Greg Rutkowski", "The Starry Night") match fuzzily: every run of
  the prompt's words within one word of a name's length is scored against it with rapidfuzz
  (`fuzz.ratio`; one `process.cdist` call per name length, in C), so "greg rutkowsky" or
  "gregrutkowski" still match.
* **One-word names** ("Pikachu", "Cars") match exactly (after normalisation, repeated letters
  squeezed).  A name that is also an everyday English word ("Cars", "Frozen", "Tangled"; the
  lower-case words of the SCOWL list in `common_words.txt`) matches only when the prompt
  writes it with the registered capitals and not merely because it starts a sentence:
  "Cars" matches "a poster of Cars", not "two cars" or "Cars parked outside".  Other names
  ("Batman", "Shrek") match in any case and anywhere.
* **One-word names misspelt** ("Pikachoo", "Doraemom"): names of at least
  `MIN_FUZZY_SINGLE` letters that are not everyday words match a prompt word of similar
  length scoring at least `single_score` (one edit in six letters), unless that word is an
  everyday word itself.
* **Names in scripts written without spaces** (Chinese, Japanese, Korean: "皮卡丘",
  "ピカチュウ", "피카츄를") match anywhere inside a run of text, since nothing separates words.
* **Style references** ("in the style of X", "by X", "X style") lower the bar for artist
  styles: a misspelled or surname-only artist ("style of rutkowsky") matches there, since
  the phrase itself says an artist is meant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from rapidfuzz import fuzz, process

from provenance.policies.known_works.index import IndexedWork
from provenance.policies.normalize import NormalizedText, normalize, squeeze

#: Phrases (normalised words) after which a name is read as a style reference.
STYLE_LEADS: tuple[tuple[str, ...], ...] = (
    ("style", "of"),
    ("manner", "of"),
    ("inspired", "by"),
    ("painted", "by"),
    ("drawn", "by"),
    ("by",),
    ("after",),
)
#: Words after which the preceding name is read as a style reference ("rutkowski style").
STYLE_TAILS = frozenset({"style", "styled", "inspired", "esque"})
#: Surnames used as style keys only when at least this long (avoids "Lee", "Li", "Ng").
MIN_SURNAME = 5
#: One-word names shorter than this match exactly only (short names have close neighbours).
MIN_FUZZY_SINGLE = 6
_SENTENCE_ENDS = frozenset(".!?\n;:")
#: Han, kana and Hangul: scripts whose words are not separated by spaces.
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
COMMON_WORDS = "common_words.txt"


@dataclass(frozen=True)
class NameHit:
    """A registered name found in a prompt."""

    work: int  # position in the index's works
    name: str  # the registered name that matched
    span: str  # the prompt text, as typed
    score: float  # 0..1
    rule: str  # "name" or "style_reference"


@dataclass(frozen=True)
class _Key:
    work: int
    name: str
    words: int  # words in the registered name (1 for a compacted "gregrutkowski")


class NameMatcher:
    """All registered names, arranged for the three rules above."""

    def __init__(self, works: Sequence[IndexedWork]) -> None:
        self._common = common_words()
        self._single: dict[str, list[_Key]] = {}
        self._multi: dict[int, tuple[list[str], list[_Key]]] = {}  # by word count
        self._style_text: list[str] = []
        self._style: list[_Key] = []
        self._unspaced: list[tuple[str, _Key]] = []
        for position, work in enumerate(works):
            for name in work.names:
                self._add_name(position, name, work.kind == "artist_style")
            if work.kind == "artist_style":
                self._add_surnames(position, work)
        self._max_words = max(self._multi, default=1)

    def _add_name(self, work: int, name: str, is_style: bool) -> None:
        words = _words(name)
        if not words:
            return
        compact = "".join(words)
        if _UNSPACED.search(compact) and len(compact) >= 2:
            self._unspaced.append((compact, _Key(work, name, 1)))
        if len(words) == 1:
            self._single.setdefault(squeeze(words[0]), []).append(_Key(work, name, 1))
        else:
            for text, count in ((" ".join(words), len(words)), ("".join(words), 1)):
                texts, keys = self._multi.setdefault(count, ([], []))
                texts.append(text)
                keys.append(_Key(work, name, count))
        if is_style:
            self._style_text.append(" ".join(words))
            self._style.append(_Key(work, name, len(words)))

    def _add_surnames(self, work: int, entry: IndexedWork) -> None:
        for name in entry.names:
            words = _words(name)
            if len(words) > 1 and len(words[-1]) >= MIN_SURNAME:
                self._style_text.append(words[-1])
                self._style.append(_Key(work, name, 1))

    def match(
        self, prompt: str, name_score: float, style_score: float, single_score: float = 1.0
    ) -> list[NameHit]:
        """Every registered name found in `prompt`, best hit per work and rule first."""
        text = normalize(prompt)
        words = [t.text for t in text.tokens]
        hits = self._single_word_hits(text)
        if single_score < 1.0:
            hits += self._fuzzy_single_hits(text, single_score)
        hits += self._unspaced_hits(text)
        hits += self._fuzzy_hits(text, words, name_score)
        named = {hit.work for hit in hits}
        hits += [h for h in self._style_hits(text, words, style_score) if h.work not in named]
        return _best_per_work(hits)

    def _single_word_hits(self, text: NormalizedText) -> list[NameHit]:
        hits = []
        for i, token in enumerate(text.tokens):
            keys = {id(k): k for form in token.forms for k in self._single.get(squeeze(form), ())}
            span = text.original_span(i, i)
            for key in keys.values():
                if key.name.lower() not in self._common or _written_as_name(text, i, key.name):
                    hits.append(NameHit(key.work, key.name, span, 1.0, "name"))
        return hits

    def _fuzzy_single_hits(self, text: NormalizedText, min_score: float) -> list[NameHit]:
        """Misspelt one-word names (see the module docstring)."""
        names = [n for n in self._single if len(n) >= MIN_FUZZY_SINGLE and n not in self._common]
        if not names:
            return []
        positions = [
            i
            for i, t in enumerate(text.tokens)
            if len(t.text) >= MIN_FUZZY_SINGLE - 1 and squeeze(t.text) not in self._common
        ]
        tokens = [squeeze(text.tokens[i].text) for i in positions]
        windows = [(i, 1) for i in range(len(tokens))]
        hits = []
        for w, k, score in _cdist(tokens, windows, names, min_score):
            if score >= 1.0:
                continue  # exact hits are the exact rule's
            span = text.original_span(positions[w], positions[w])
            for key in self._single[names[k]]:
                hits.append(NameHit(key.work, key.name, span, score, "name"))
        return hits

    def _unspaced_hits(self, text: NormalizedText) -> list[NameHit]:
        """Names in Chinese, Japanese or Korean script found inside runs of the prompt."""
        hits = []
        for i, token in enumerate(text.tokens):
            for compact, key in self._unspaced:
                if any(compact in form for form in token.forms):
                    hits.append(NameHit(key.work, key.name, text.original_span(i, i), 1.0, "name"))
        return hits

    def _fuzzy_hits(
        self, text: NormalizedText, words: list[str], min_score: float
    ) -> list[NameHit]:
        """Names of n words against runs of n-1..n+1 words (one `cdist` per name length)."""
        hits = []
        for count, (texts, keys) in self._multi.items():
            windows = [
                (start, n)
                for n in range(max(1, count - 1), count + 2)
                for start in range(len(words) - n + 1)
            ]
            for w, k, score in _cdist(words, windows, texts, min_score):
                start, n = windows[w]
                span = text.original_span(start, start + n - 1)
                hits.append(NameHit(keys[k].work, keys[k].name, span, score, "name"))
        return hits

    def _style_hits(
        self, text: NormalizedText, words: list[str], min_score: float
    ) -> list[NameHit]:
        windows = _style_windows(words, self._max_words)
        hits = []
        for w, k, score in _cdist(words, windows, self._style_text, min_score):
            start, count = windows[w]
            key = self._style[k]
            if abs(count - key.words) <= 1:
                span = text.original_span(start, start + count - 1)
                hits.append(NameHit(key.work, key.name, span, score, "style_reference"))
        return hits


@cache
def common_words() -> frozenset[str]:
    """Everyday English words (lower case), from the bundled SCOWL list."""
    data = resources.files("provenance.policies.known_works").joinpath(COMMON_WORDS)
    text = data.read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _words(text: str) -> list[str]:
    return [t.text for t in normalize(text).tokens]


def _style_windows(words: list[str], max_words: int) -> list[tuple[int, int]]:
    """Runs of words right after a style lead, or right before a style tail."""
    out: set[tuple[int, int]] = set()
    for i in range(len(words)):
        for lead in STYLE_LEADS:
            if tuple(words[i : i + len(lead)]) == lead:
                begin = i + len(lead)
                out.update((begin, n) for n in range(1, max_words + 2) if begin + n <= len(words))
        if words[i] in STYLE_TAILS:
            out.update((i - n, n) for n in range(1, max_words + 2) if i - n >= 0)
    return sorted(out)


def _cdist(
    words: list[str], windows: list[tuple[int, int]], keys: list[str], min_score: float
) -> list[tuple[int, int, float]]:
    """(window, key, score 0..1) for every pair scoring at least `min_score`."""
    if not windows or not keys:
        return []
    texts = [" ".join(words[s : s + n]) for s, n in windows]
    cutoff = int(np.ceil(min_score * 100))
    scores = process.cdist(
        texts, keys, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.uint8, workers=1
    )
    rows, cols = np.nonzero(scores)
    return [(int(r), int(c), float(scores[r, c]) / 100) for r, c in zip(rows, cols, strict=True)]


def _written_as_name(text: NormalizedText, index: int, name: str) -> bool:
    """Whether the prompt writes this word with the name's own capitals (evidence of a name).

    A capital that only starts a sentence is no evidence, unless the name has capitals
    elsewhere ("WALL-E", "McQueen").
    """
    span = text.original_span(index, index)
    if span != name:
        return False
    title_case_only = name[:1].isupper() and name[1:] == name[1:].lower()
    return not (title_case_only and _starts_sentence(text, index))


def _starts_sentence(text: NormalizedText, index: int) -> bool:
    if index == 0:
        return True
    between = text.original[text.tokens[index - 1].end : text.tokens[index].start]
    return any(ch in _SENTENCE_ENDS for ch in between)


def _best_per_work(hits: list[NameHit]) -> list[NameHit]:
    best: dict[tuple[int, str], NameHit] = {}
    for hit in hits:
        key = (hit.work, hit.rule)
        if key not in best or hit.score > best[key].score:
            best[key] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.work, h.rule))
