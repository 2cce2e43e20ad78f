"""The lexical layer of prompt safety: term sets, context rules, and category rules.

The data lives in `policies/data/lexicon.toml` (see its header for the format); this module
compiles it once into lookup tables and scans a `NormalizedText` in one linear pass:

* a word matches a term when its run-length encoding covers the term's (`naaaked` covers
  `naked`, `as` never covers `ass`), for every leetspeak reading of the word;
* terms can be phrases ("self harm", also matched written together) and prefixes ("porn*");
* a match next to a negation ("no nudity", "gore-free") or near one of its benign context
  words ("chicken breasts") is dropped;
* ages ("12 year old", "12yo", "aged 12") and named people ("Emma Watson", "@handle") are
  recognised by small matchers, because no word list can hold them;
* terms in scripts written without spaces (Chinese, Japanese, Thai) or with particles glued
  to words (Korean) match as substrings of a run of such words (`生成一张校园枪击案的图片`);
* a Latin word that matched nothing is compared with the lexicon's single-word terms by
  edit distance (rapidfuzz, optimal string alignment: `decapitaed`, `swastica`, `nakde`):
  one edit for words of 5-7 letters, two from 8, same first letter, never for a word listed
  in `policies/data/fuzzy_allow.txt` (ordinary words one edit from a term: `nodes`, `books`);
* a category fires when every term set one of its rules names has matched (minor + sexual).
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate, product
from pathlib import Path
from typing import Any

from provenance.errors import ConfigError
from provenance.policies.normalize import NormalizedText, Token, normalize, runs, squeeze

DATA_DIR = Path(__file__).with_name("data")
LEXICON_PATH = DATA_DIR / "lexicon.toml"
NAMES_PATH = DATA_DIR / "given_names.txt"
FUZZY_ALLOW_PATH = DATA_DIR / "fuzzy_allow.txt"
_AGE_TOKEN = re.compile(r"^(\d{1,2})(yo|yr|yrs|y)$")
#: Words that never start a surname ("emma in the garden" names nobody).
_NOT_SURNAMES = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "is", "of", "on", "or"}
    | {"the", "to", "with", "without", "wearing", "who"}
)


@dataclass(frozen=True)
class Term:
    """One lexicon entry, normalised like prompts are."""

    set_name: str
    source: str
    words: tuple[str, ...]
    prefix: bool = False
    unless: frozenset[str] = frozenset()
    context_window: int = 4


@dataclass(frozen=True)
class TermMatch:
    """A term (or age, or name) found at tokens `first`..`last` of a prompt."""

    set_name: str
    term: str
    first: int
    last: int


@dataclass(frozen=True)
class Rule:
    """A category fires when each set in `all_of` matched (within `window` words, if set)."""

    category: str
    all_of: tuple[str, ...]
    window: int | None = None

    @property
    def label(self) -> str:
        """Short name of the rule for reasons, e.g. `minor+sexual`."""
        return "+".join(self.all_of)


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired, with the matches that satisfied it (in prompt order)."""

    rule: Rule
    matches: tuple[TermMatch, ...]

    @property
    def category(self) -> str:
        """The category this hit puts the prompt in."""
        return self.rule.category

    def span(self, text: NormalizedText) -> str:
        """What the user typed for each match, joined with ` + `."""
        return " + ".join(text.original_span(m.first, m.last) for m in self.matches)


@dataclass
class _Index:
    """Lookup tables keyed by squeezed first word (exact) or squeezed word prefix."""

    by_first_word: dict[str, list[Term]] = field(default_factory=lambda: defaultdict(list))
    by_prefix: dict[str, list[Term]] = field(default_factory=lambda: defaultdict(list))
    by_joined: dict[str, list[Term]] = field(default_factory=lambda: defaultdict(list))
    joined_prefixes: set[str] = field(default_factory=set)
    shortest_prefix: int = 99

    def add(self, term: Term) -> None:
        if len(term.words) > 1:
            key = squeeze("".join(term.words))
            self.by_joined[key].append(term)
            self.joined_prefixes.update(key[:n] for n in range(1, len(key) + 1))
        if len(term.words) == 1 and term.prefix:
            key = squeeze(term.words[0])
            self.by_prefix[key].append(term)
            self.shortest_prefix = min(self.shortest_prefix, len(key))
        else:
            self.by_first_word[squeeze(term.words[0])].append(term)


class Lexicon:
    """Compiled term sets and rules; `hits(text)` is the whole lexical layer."""

    def __init__(
        self,
        terms: Iterable[Term],
        rules: Iterable[Rule],
        negation: Mapping[str, Iterable[str]],
        ages: Mapping[str, Any],
        names: Mapping[str, bool],
        version: str = "",
        fuzzy: Mapping[str, Any] | None = None,
        fuzzy_allow: Iterable[str] = (),
    ) -> None:
        self.version = version
        self.rules = tuple(rules)
        self.terms = tuple(terms)
        self._index = _Index()
        for term in self.terms:
            self._index.add(term)
        self._negators = _keys(negation.get("before", ()))
        self._fillers = _keys(negation.get("fillers", ()))
        self._negators_after = _keys(negation.get("after", ()))
        self._adult_age = int(ages.get("adult", 18))
        self._age_units = _keys(ages.get("units", ()))
        self._age_before = _keys(ages.get("before", ()))
        self._number_words = {_key(k): int(v) for k, v in ages.get("number_words", {}).items()}
        self._names = dict(names)
        self._fuzzy = _FuzzyIndex(self.terms, fuzzy or {}, fuzzy_allow)
        self._substring_terms: dict[str, list[Term]] = defaultdict(list)
        for term in self.terms:
            joined = "".join(term.words)
            if any(_unspaced(ch) for ch in joined):
                self._substring_terms[joined].append(term)

    @classmethod
    def load(cls, path: Path = LEXICON_PATH, names_path: Path = NAMES_PATH) -> Lexicon:
        """Read and compile a lexicon file (a `ConfigError` names the file and the problem)."""
        data = _read_toml(path)
        try:
            terms = list(_compile_sets(data["sets"], int(data.get("context_window", 4))))
            rules = [
                Rule(r["category"], tuple(r["all_of"]), r.get("window"))
                for r in data.get("rules", [])
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: malformed lexicon ({exc!r})") from exc
        known_sets = {t.set_name for t in terms} | {"minor", "real_person"}
        for rule in rules:
            missing = [s for s in rule.all_of if s not in known_sets]
            if missing:
                raise ConfigError(f"{path}: rule for {rule.category} names unknown sets {missing}")
        return cls(
            terms,
            rules,
            data.get("negation", {}),
            data.get("ages", {}),
            _read_names(names_path),
            str(data.get("version", "")),
            data.get("fuzzy", {}),
            _read_words(FUZZY_ALLOW_PATH),
        )

    @property
    def categories(self) -> tuple[str, ...]:
        """Categories some rule can put a prompt in, in rule order."""
        return tuple(dict.fromkeys(r.category for r in self.rules))

    def hits(self, text: NormalizedText) -> list[RuleHit]:
        """The first satisfied rule of each category (categories in rule order)."""
        return self.evaluate(self.scan(text))

    def evaluate(self, matches: Iterable[TermMatch]) -> list[RuleHit]:
        """Apply the rules to matches from `scan` (one hit per category, in rule order)."""
        by_set: dict[str, list[TermMatch]] = defaultdict(list)
        for match in matches:
            by_set[match.set_name].append(match)
        found: dict[str, RuleHit] = {}
        for rule in self.rules:
            if rule.category in found:
                continue
            chosen = _satisfy(rule, by_set)
            if chosen is not None:
                found[rule.category] = RuleHit(rule, chosen)
        return list(found.values())

    def scan(self, text: NormalizedText) -> list[TermMatch]:
        """Every term, age and name found in `text`, minus negated or benign-context ones."""
        tokens = text.tokens
        keys = [frozenset(squeeze(f) for f in t.forms) for t in tokens]
        squeezed = [squeeze(t.text) for t in tokens]
        matches = []
        for i in range(len(tokens)):
            for term, last in self._terms_at(tokens, squeezed, i):
                if not self._neutralised(term, keys, i, last):
                    matches.append(TermMatch(term.set_name, term.source, i, last))
        taken = {i for m in matches for i in range(m.first, m.last + 1)}
        for i in range(len(tokens)):
            if i in taken:
                continue
            for term in self._fuzzy.lookup(squeezed[i]):
                if not self._neutralised(term, keys, i, i):
                    matches.append(
                        TermMatch(term.set_name, f"{term.source}~{tokens[i].text}", i, i)
                    )
        matches.extend(self._substrings(tokens))
        matches.extend(self._ages(tokens, keys))
        taken = {i for m in matches for i in range(m.first, m.last + 1)}
        matches.extend(self._people(text, taken))
        return matches

    # -- term lookup ----------------------------------------------------------------------

    def _substrings(self, tokens: tuple[Token, ...]) -> list[TermMatch]:
        """Terms found inside runs of words in unspaced scripts (CJK, Thai, Hangul)."""
        if not self._substring_terms:
            return []
        out: list[TermMatch] = []
        i = 0
        while i < len(tokens):
            if not any(_unspaced(ch) for ch in tokens[i].text):
                i += 1
                continue
            j = i
            while j + 1 < len(tokens) and any(_unspaced(ch) for ch in tokens[j + 1].text):
                j += 1
            run = "".join(t.text for t in tokens[i : j + 1])
            ends = list(accumulate(len(t.text) for t in tokens[i : j + 1]))
            for key, terms in self._substring_terms.items():
                at = run.find(key)
                if at < 0:
                    continue
                first = i + bisect_right(ends, at)
                last = i + bisect_right(ends, at + len(key) - 1)
                # a benign context word in the same unspaced run (自殺 in 自殺防止) neutralises
                kept = [t for t in terms if not any(u in run for u in t.unless)]
                out.extend(TermMatch(t.set_name, t.source, first, last) for t in kept)
            i = j + 1
        return out

    def _terms_at(
        self, tokens: tuple[Token, ...], squeezed: list[str], i: int
    ) -> Iterable[tuple[Term, int]]:
        seen: set[tuple[str, str]] = set()
        for form in tokens[i].forms:
            key = squeeze(form)
            candidates = list(self._index.by_first_word.get(key, ()))
            for length in range(self._index.shortest_prefix, len(key) + 1):
                candidates.extend(self._index.by_prefix.get(key[:length], ()))
            for term in candidates:
                if (term.set_name, term.source) in seen:
                    continue
                last = _phrase_end(term, tokens, i, form)
                if last is not None:
                    seen.add((term.set_name, term.source))
                    yield term, last
        for term, last in self._regrouped_phrases_at(tokens, squeezed, i):
            if (term.set_name, term.source) not in seen:
                seen.add((term.set_name, term.source))
                yield term, last

    def _regrouped_phrases_at(
        self, tokens: tuple[Token, ...], squeezed: list[str], i: int
    ) -> Iterable[tuple[Term, int]]:
        """Phrases whose words were regrouped (`burndown the synagogue`): same letters, same
        order, other word breaks.  Only multi-word terms are tried, so `pen is` never reads
        as a single lexicon word."""
        joined = tokens[i].text
        key = squeezed[i]
        for last in range(i + 1, len(tokens)):
            if key not in self._index.joined_prefixes:
                return
            joined += tokens[last].text
            piece = squeezed[last]
            key += piece[1:] if piece[:1] == key[-1:] else piece
            for term in self._index.by_joined.get(key, ()):
                if _covers(joined, "".join(term.words), False):
                    yield term, last

    def _neutralised(self, term: Term, keys: list[frozenset[str]], first: int, last: int) -> bool:
        """A negation just before (or `free` just after), or a benign context word near."""
        if first >= 1 and keys[first - 1] & self._negators:
            return True
        if first >= 2 and keys[first - 1] & self._fillers and keys[first - 2] & self._negators:
            return True
        if last + 1 < len(keys) and keys[last + 1] & self._negators_after:
            return True
        if not term.unless:
            return False
        low = max(0, first - term.context_window)
        high = min(len(keys), last + term.context_window + 1)
        return any(keys[k] & term.unless for k in range(low, high) if not first <= k <= last)

    # -- ages and names -------------------------------------------------------------------

    def _ages(self, tokens: tuple[Token, ...], keys: list[frozenset[str]]) -> list[TermMatch]:
        """`12 year old`, `12yo`, `12-year-old`, `aged 12`, `twelve years old`, `12 años`."""
        out = []
        for i, token in enumerate(tokens):
            first = i
            age, last = self._age_at(tokens, keys, i)
            preceded = i > 0 and bool(keys[i - 1] & self._age_before)
            if age is None and preceded and _is_small_number(token.plain):
                age, first = int(token.plain), i - 1
            if age is not None and age < self._adult_age:
                out.append(TermMatch("minor", f"age {age}", first, last))
        return out

    def _age_at(
        self, tokens: tuple[Token, ...], keys: list[frozenset[str]], i: int
    ) -> tuple[int | None, int]:
        plain = tokens[i].plain
        glued = _AGE_TOKEN.match(plain)
        if glued:
            return int(glued[1]), i
        if _is_small_number(plain):
            age: int | None = int(plain)
        else:
            age = self._number_words.get(squeeze(plain))
        if age is None or i + 1 >= len(tokens) or not keys[i + 1] & self._age_units:
            return None, i
        unit = tokens[i + 1].plain
        if unit in ("year", "years"):  # English needs "old": "12 years of experience" is no age
            if i + 2 < len(tokens) and tokens[i + 2].plain == "old":
                return age, i + 2
            return None, i
        return age, i + 1

    def _people(self, text: NormalizedText, taken: set[int]) -> list[TermMatch]:
        """Full names (`Emma Watson`, `taylor swift`) and social handles (`@someone`)."""
        tokens = text.tokens
        out = []
        for i, token in enumerate(tokens):
            if token.plain.startswith("@") and len(token.plain) > 2:
                out.append(TermMatch("real_person", "social handle", i, i))
                continue
            ambiguous = self._name_kind(token)
            if ambiguous is None or i + 1 >= len(tokens) or i + 1 in taken:
                continue
            surname = tokens[i + 1]
            if not surname.text.isalpha() or len(surname.text) < 2:
                continue
            titled = _titled(text, token) and _titled(text, surname)
            if titled or (not ambiguous and surname.text not in _NOT_SURNAMES):
                out.append(TermMatch("real_person", "named person", i, i + 1))
        return out

    def _name_kind(self, token: Token) -> bool | None:
        """None if no reading of the word is a given name, else whether the name is ambiguous."""
        for form in token.forms:
            kind = self._names.get(squeeze(form))
            if kind is not None:
                return kind
        return None


class _FuzzyIndex:
    """Single-word Latin terms by first letter, for edit-distance lookups of unmatched words."""

    def __init__(
        self, terms: Iterable[Term], options: Mapping[str, Any], allow: Iterable[str]
    ) -> None:
        self.min_length = int(options.get("min_length", 5))
        self.long_length = int(options.get("long_length", 8))
        self.enabled = bool(options.get("enabled", True))
        self.allow = frozenset(squeeze(w) for w in allow)
        by_word: dict[str, list[Term]] = defaultdict(list)
        for term in terms:
            if len(term.words) != 1 or term.prefix or " " in term.source:
                continue  # phrases (also written together) are too loose to match fuzzily
            word = squeeze(term.words[0])
            if len(word) >= self.min_length and word.isascii() and word.isalpha():
                by_word[word].append(term)
        self.by_word = dict(by_word)
        groups: dict[str, list[str]] = defaultdict(list)
        for word in self.by_word:
            groups[word[0]].append(word)
        self.groups = dict(groups)
        self._memo: dict[str, tuple[Term, ...]] = {}

    def lookup(self, word: str) -> tuple[Term, ...]:
        """Terms within the allowed edit distance of `word` (a squeezed token)."""
        if not self.enabled or len(word) < self.min_length or word in self.allow:
            return ()
        found = self._memo.get(word)
        if found is None:
            found = self._memo[word] = self._search(word)
        return found

    def _search(self, word: str) -> tuple[Term, ...]:
        if not (word.isascii() and word.isalpha()) or word in self.by_word:
            return ()
        candidates = self.groups.get(word[0])
        if not candidates:
            return ()
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        limit = 2 if len(word) >= self.long_length else 1
        best = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=limit)
        if best is None or len(best[0]) < self.min_length:
            return ()
        return tuple(self.by_word[best[0]])


@cache
def default_lexicon() -> Lexicon:
    """The lexicon shipped with Provenant, compiled once per process."""
    return Lexicon.load()


# --- helpers ----------------------------------------------------------------------------------


def _unspaced(ch: str) -> bool:
    """Characters of scripts whose words the tokenizer cannot split (CJK, kana, Hangul, Thai)."""
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0x0E00 <= code <= 0x0E7F  # Thai
        or 0xF900 <= code <= 0xFAFF
    )


def _key(word: str) -> str:
    tokens = normalize(word).tokens
    return squeeze(tokens[0].text) if tokens else ""


def _keys(words: Iterable[str]) -> frozenset[str]:
    return frozenset(k for k in (_key(w) for w in words) if k)


def _is_small_number(word: str) -> bool:
    return word.isdigit() and len(word) <= 2


def _titled(text: NormalizedText, token: Token) -> bool:
    typed = text.original[token.start : token.end]
    return typed[:1].isupper() and not typed.isupper()


def _covers(word: str, term_word: str, prefix: bool) -> bool:
    """Whether `word` spells `term_word` with any letters repeated (and more after, if prefix)."""
    have, want = runs(word), runs(term_word)
    if len(have) < len(want) or (not prefix and len(have) != len(want)):
        return False
    return all(hc == wc and hn >= wn for (hc, hn), (wc, wn) in zip(have, want, strict=False))


def _phrase_end(term: Term, tokens: tuple[Token, ...], i: int, form: str) -> int | None:
    """Index of the last token of `term` if it starts at token `i` (read as `form`)."""
    words = term.words
    if i + len(words) > len(tokens):
        return None
    last_word = len(words) - 1
    if not _covers(form, words[0], term.prefix and last_word == 0):
        return None
    for offset in range(1, len(words)):
        prefix = term.prefix and offset == last_word
        token = tokens[i + offset]
        if not any(_covers(f, words[offset], prefix) for f in token.forms):
            return None
    return i + last_word


def _satisfy(rule: Rule, by_set: Mapping[str, list[TermMatch]]) -> tuple[TermMatch, ...] | None:
    """One match per set of the rule, all within its window; None if impossible."""
    pools = [by_set.get(name, []) for name in rule.all_of]
    if not all(pools):
        return None
    if rule.window is None or len(pools) == 1:
        chosen = [pool[0] for pool in pools]
        return tuple(sorted(chosen, key=lambda m: m.first))
    for combo in product(*pools):
        if max(m.first for m in combo) - min(m.last for m in combo) <= rule.window:
            return tuple(sorted(combo, key=lambda m: m.first))
    return None


def _compile_sets(sets: Mapping[str, Any], default_window: int) -> Iterable[Term]:
    for set_name, spec in sets.items():
        unless = {src: _keys(words) for src, words in spec.get("unless", {}).items()}
        windows = dict(spec.get("context_window", {}))
        for list_name, entries in spec.items():
            if not (list_name == "terms" or list_name.startswith("terms_")):
                continue
            for source in entries:
                yield from _compile_term(
                    set_name,
                    source,
                    unless.get(source, frozenset()),
                    int(windows.get(source, default_window)),
                )


def _compile_term(set_name: str, source: str, unless: frozenset[str], window: int) -> list[Term]:
    """A term, plus its words written together when it is a phrase (`self harm` -> `selfharm`)."""
    prefix = source.endswith("*")
    words = tuple(t.text for t in normalize(source.rstrip("*")).tokens)
    if not words:
        raise ValueError(f"term {source!r} in set {set_name!r} has no words")
    term = Term(set_name, source, words, prefix, unless, window)
    if len(words) == 1:
        return [term]
    return [term, Term(set_name, source, ("".join(words),), prefix, unless, window)]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read lexicon ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from exc


def _read_words(path: Path) -> list[str]:
    """One word a line, `#` comments; a missing file is an empty list (nothing allowed)."""
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read word list ({exc.strerror or exc})") from exc
    return [w.strip().lower() for w in lines if w.strip() and not w.lstrip().startswith("#")]


def _read_names(path: Path) -> dict[str, bool]:
    """Squeezed given names -> whether the name is also an ordinary word (`?` in the file)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read names ({exc.strerror or exc})") from exc
    names = {}
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            names[squeeze(entry.rstrip("?").lower())] = entry.endswith("?")
    return names
