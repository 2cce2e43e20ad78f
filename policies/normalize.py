"""Text normalisation against evasion, shared by every text policy.

People who want a refused image spell the refused word differently: `NAKED`, `nаked` with a
Cyrillic `а`, `n4k3d`, `n.a.k.e.d`, `n a k e d`, `naaaked`, `na\u200bked`.  `normalize` folds
all of these to the same tokens, so a lexicon only lists the plain spelling:

* Unicode NFKC (full-width and mathematical letters), case folding, accents stripped;
* confusable look-alikes (Cyrillic/Greek/other scripts) folded to the Latin letter they
  imitate, from the Unicode confusables data that `confusable-homoglyphs` maintains;
* zero-width, format and control characters removed;
* leetspeak decoded inside words that contain letters (`0->o`, `1->i|l`, `3->e`, `@->a`...),
  with every reading of an ambiguous character kept as an alternative form;
* single letters joined when separated by one repeated separator (`n-a-k-e-d`, `n a k e d`);
* repeated letters are *not* removed here: the lexicon compares run-length encodings, so
  `naaaked` matches `naked` while `as` never matches `ass`.

Every token remembers where each of its characters came from in the original text, so a
`Reason` can show the user exactly what they typed (`NormalizedText.original_span`).
The pass is linear in the input and memoises per-character work: typical prompts normalise in
tens of microseconds.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from itertools import product

#: Leetspeak readings; the first reading is the preferred one (used for embeddings).
LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "2": ("z",),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "8": ("b",),
    "9": ("g",),
    "@": ("a",),
    "$": ("s",),
    "!": ("i", "l"),
    "|": ("l", "i"),
    "+": ("t",),
    "€": ("e",),
    "£": ("l",),
    "¡": ("i",),
}
#: Symbols that count as part of a word only between two word characters (`k!ll`, `sh|t`).
_INNER_ONLY = frozenset("!|+")
#: At most this many ambiguous characters are expanded into alternative forms (2**n forms).
_MAX_AMBIGUOUS = 3
#: Runs of at least this many single characters are joined into one word (`n a k e d`).
_MIN_SPELLED_RUN = 3
#: Separator characters allowed between spelled-out letters.
_MAX_SPELLED_GAP = 3
#: Tokens such as `4k`, `1990s`, `12yo`, `3d`: a number with a short unit suffix, not leetspeak.
_NUMBER_WITH_UNIT = re.compile(r"^\d+(?:[a-z]{1,3})?$")
_REGIONAL_A = 0x1F1E6
_REPEATS = re.compile(r"(.)\1+", re.DOTALL)
#: Words of one letter that may run into a spelled-out word (`a n a k e d`).
_ONE_LETTER_WORDS = frozenset("ai")


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a normalised text.

    `plain` is folded (case, accents, confusables) but not leet-decoded (`12yo`, `s3x`);
    `forms` are the spellings the lexicon looks up, preferred reading first; `origins[i]` is
    the index in the original text of `plain[i]`.
    """

    plain: str
    forms: tuple[str, ...]
    origins: tuple[int, ...]

    @property
    def text(self) -> str:
        """The preferred reading of this word."""
        return self.forms[0]

    @property
    def start(self) -> int:
        """Offset of the word's first character in the original text."""
        return self.origins[0]

    @property
    def end(self) -> int:
        """Offset just past the word's last character in the original text."""
        return self.origins[-1] + 1


@dataclass(frozen=True)
class NormalizedText:
    """A prompt after normalisation, with the way back to what the user typed."""

    original: str
    tokens: tuple[Token, ...]

    @property
    def text(self) -> str:
        """Preferred readings joined by single spaces."""
        return " ".join(t.text for t in self.tokens)

    def embed_text(self, first: int = 0, last: int | None = None) -> str:
        """What the semantic layer embeds for tokens `first`..`last` (inclusive): folded
        where an evasion was undone, as typed where a word is plainly in one script."""
        end = len(self.tokens) - 1 if last is None else last
        return " ".join(_embed_form(t, self.original) for t in self.tokens[first : end + 1])

    def original_span(self, first: int, last: int) -> str:
        """The original text from token `first` to token `last` (inclusive), as typed."""
        return self.original[self.tokens[first].start : self.tokens[last].end]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) range of `text` to the range of the original it came from."""
        if not self.tokens or end <= start:
            return (0, 0)
        starts = list(self._text_starts())
        first, i = self._locate(starts, start)
        last, j = self._locate(starts, end - 1)
        a = self.tokens[first].origins[min(i, len(self.tokens[first].origins) - 1)]
        b = self.tokens[last].origins[min(j, len(self.tokens[last].origins) - 1)] + 1
        return (a, b)

    def _text_starts(self) -> Iterator[int]:
        pos = 0
        for token in self.tokens:
            yield pos
            pos += len(token.text) + 1

    @staticmethod
    def _locate(starts: list[int], offset: int) -> tuple[int, int]:
        index = max(bisect_right(starts, offset) - 1, 0)
        return index, offset - starts[index]


def normalize(text: str) -> NormalizedText:
    """Fold `text` into evasion-resistant tokens (see the module docstring)."""
    chars, origins = _fold_chars(text)
    pieces = _split_words(chars, origins)
    joined = _join_spelled(pieces, text)
    return NormalizedText(text, tuple(_make_token(*piece) for piece in joined))


@lru_cache(maxsize=1 << 16)
def squeeze(word: str) -> str:
    """`word` with runs of a repeated character reduced to one (`naaaked` -> `naked`)."""
    return _REPEATS.sub(r"\1", word)


@lru_cache(maxsize=1 << 16)
def runs(word: str) -> tuple[tuple[str, int], ...]:
    """Run-length encoding: `naaked` -> (('n',1),('a',2),('k',1),('e',1),('d',1))."""
    out: list[tuple[str, int]] = []
    for ch in word:
        if out and out[-1][0] == ch:
            out[-1] = (ch, out[-1][1] + 1)
        else:
            out.append((ch, 1))
    return tuple(out)


# --- character folding -----------------------------------------------------------------------


def _fold_chars(text: str) -> tuple[list[str], list[int]]:
    """Fold each character; keep, for every output character, its index in `text`."""
    fold = _char_folder()
    chars: list[str] = []
    origins: list[int] = []
    for index, ch in enumerate(text):
        out = fold(ch)
        if not out and chars and _keeps_marks(chars[-1]) and unicodedata.category(ch) == "Mn":
            out = ch  # a vowel sign of an abugida is part of the word, not an evasion
        if len(out) == 1:
            chars.append(out)
            origins.append(index)
        else:
            for piece in out:
                chars.append(piece)
                origins.append(index)
    return chars, origins


@cache
def _char_folder() -> _CharFolder:
    return _CharFolder(_confusable_table())


class _CharFolder:
    """Memoised per-character folding: the Unicode work is paid once per distinct character."""

    def __init__(self, confusables: dict[str, str]) -> None:
        self._confusables = confusables
        self._memo: dict[str, str] = {}

    def __call__(self, ch: str) -> str:
        out = self._memo.get(ch)
        if out is None:
            out = self._memo[ch] = self._fold(ch)
        return out

    def _fold(self, ch: str) -> str:
        category = unicodedata.category(ch)
        if ch.isspace() or category in ("Zs", "Zl", "Zp"):
            return " "
        if category[0] == "C" or category in ("Mn", "Me", "Sk"):
            return ""  # zero-width joiners, soft hyphens, controls, stray combining marks
        code = ord(ch)
        if _REGIONAL_A <= code < _REGIONAL_A + 26:
            return chr(ord("a") + code - _REGIONAL_A)
        out = []
        for piece in unicodedata.normalize("NFKC", ch):
            look_alike = self._confusables.get(piece)
            if look_alike is not None:
                out.append(look_alike)
                continue
            for part in unicodedata.normalize("NFKD", piece.casefold()):
                if unicodedata.category(part) not in ("Mn", "Me", "Cf"):
                    out.append(self._confusables.get(part, part))
        return "".join(out)


@cache
def _confusable_table() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter or digit it imitates (Unicode confusables).

    Letters are preferred over digits (Cyrillic `О` reads as `o`, not `0`); ASCII characters
    are never remapped, so ordinary text is untouched.
    """
    data_file = resources.files("confusable_homoglyphs").joinpath("confusables.json")
    data: dict[str, list[dict[str, str]]] = json.loads(data_file.read_text(encoding="utf-8"))
    table: dict[str, str] = {}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        targets = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii()]
        targets = [t for t in targets if t.isalnum()]
        if targets:
            same_case = char.isupper()
            best = min(targets, key=lambda t: (not t.isalpha(), t.isupper() != same_case, t))
            table[char] = best.lower()
    # The data lists some look-alikes in one case only (Cyrillic `К` but not `к`); fold the
    # other case the same way, so `СвАсТиКа` and `свастика` read alike.
    for char, target in list(table.items()):
        for other in (char.lower(), char.upper()):
            if len(other) == 1 and not other.isascii() and other not in table:
                table[other] = target
    return table


# --- words ---------------------------------------------------------------------------------


def _is_word_char(ch: str) -> bool:
    if ch.isalnum() or ch in "@$€£¡":
        return True
    return not ch.isascii() and unicodedata.category(ch) in ("Mn", "Mc")


@lru_cache(maxsize=4096)
def _keeps_marks(ch: str) -> bool:
    """Whether combining marks after `ch` belong to the word (scripts that write vowels as
    marks: Devanagari and other Indic scripts, Thai, Lao, Tibetan, Myanmar, Hebrew points,
    Arabic harakat).  After Latin, Greek or Cyrillic letters they are stripped: stacked
    marks over `naked` are an evasion, not spelling."""
    return 0x0590 <= ord(ch) <= 0x10FF or unicodedata.category(ch) in ("Mn", "Mc")


@lru_cache(maxsize=1 << 14)
def _script(ch: str) -> str:
    """The first word of a letter's Unicode name (`LATIN`, `CYRILLIC`, `CJK`...)."""
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else ""


def _embed_form(token: Token, original: str) -> str:
    """What the semantic layer should read for `token`.

    The folded spelling undoes evasions inside Latin text (`nаkеd` with a Cyrillic `а`,
    `n4k3d`, `n a k e d`), but it would also turn a plain Russian or Greek word into Latin
    look-alike soup and strip the accents a multilingual encoder reads.  A word typed in one
    script, without leetspeak or inserted separators, is therefore embedded as typed (NFKC,
    case-folded, invisible characters removed); anything mixed is embedded folded.
    """
    raw = "".join(
        ch for ch in original[token.start : token.end] if unicodedata.category(ch) != "Cf"
    )
    if not raw or not all(ch.isalpha() or unicodedata.category(ch)[0] == "M" for ch in raw):
        return token.text
    scripts = {_script(ch) for ch in raw if ch.isalpha()}
    if len(scripts) != 1:
        return token.text
    typed = unicodedata.normalize("NFKC", raw).casefold()
    if scripts <= {"LATIN", "GREEK", "CYRILLIC"} and any(
        unicodedata.category(ch) == "Mn" for ch in typed
    ):
        return token.text  # stacked marks over a Latin word: read it folded
    return typed


def _split_words(chars: list[str], origins: list[int]) -> list[tuple[str, list[int]]]:
    """Split the folded characters into words; inner `!`, `|`, `+` stay (`k!ll`)."""
    pieces: list[tuple[str, list[int]]] = []
    word: list[str] = []
    where: list[int] = []
    count = len(chars)
    for i, ch in enumerate(chars):
        inner = ch in _INNER_ONLY and bool(word) and i + 1 < count and _is_word_char(chars[i + 1])
        if _is_word_char(ch) or inner:
            word.append(ch)
            where.append(origins[i])
        elif word:
            pieces.append(("".join(word), where))
            word, where = [], []
    if word:
        pieces.append(("".join(word), where))
    return pieces


def _join_spelled(
    pieces: list[tuple[str, list[int]]], original: str
) -> list[tuple[str, list[int], bool]]:
    """Join runs of single characters (`n a k e d`, `n.a.k.e.d`) into one word.

    A run keeps one separator throughout, and a letter between a space and a punctuation
    separator belongs to the punctuated run: `s.e.x.y t*e*e*n` and `a s_w_a_s_t_i_k_a` are
    two words each.
    """
    out: list[tuple[str, list[int], bool]] = []
    i = 0
    while i < len(pieces):
        j = _spelled_run_end(pieces, original, i)
        if j - i + 1 >= _MIN_SPELLED_RUN:
            word = "".join(p[0] for p in pieces[i : j + 1])
            where = [o for p in pieces[i : j + 1] for o in p[1]]
            spaced = _gap(original, where[0], where[1]).isspace()
            out.append((word, where, spaced))
            i = j + 1
        else:
            out.append((*pieces[i], False))
            i += 1
    return out


def _spelled_run_end(pieces: list[tuple[str, list[int]]], original: str, i: int) -> int:
    """Index of the last piece of the spelled run starting at piece `i` (`i` if none)."""

    def gap_after(k: int) -> str | None:
        if k + 1 >= len(pieces) or len(pieces[k][0]) != 1 or len(pieces[k + 1][0]) != 1:
            return None
        return _gap(original, pieces[k][1][-1], pieces[k + 1][1][0])

    separator = gap_after(i)
    if separator is None or len(separator) > _MAX_SPELLED_GAP:
        return i
    j = i
    while gap_after(j) == separator:
        following = gap_after(j + 1)
        if following not in (None, separator) and separator.isspace() and following.strip():
            break  # the next letter opens a word spelled with punctuation
        j += 1
    return j


def _gap(original: str, left: int, right: int) -> str:
    """The separator typed between two characters, ignoring invisible ones."""
    between = original[left + 1 : right]
    return "".join(ch for ch in between if unicodedata.category(ch) != "Cf")


def _make_token(plain: str, origins: list[int], spaced: bool = False) -> Token:
    forms = _leet_forms(plain)
    if spaced:
        forms = (*forms, *_without_articles(forms))
    return Token(plain=plain, forms=forms, origins=tuple(origins))


def _without_articles(forms: tuple[str, ...]) -> tuple[str, ...]:
    """`a n a k e d` joins to `anaked`: also read it without a one-letter word at either end."""
    out = []
    for form in forms:
        if form[0] in _ONE_LETTER_WORDS and len(form) > _MIN_SPELLED_RUN:
            out.append(form[1:])
        if form[-1] in _ONE_LETTER_WORDS and len(form) > _MIN_SPELLED_RUN:
            out.append(form[:-1])
            if form[0] in _ONE_LETTER_WORDS and len(form) > _MIN_SPELLED_RUN + 1:
                out.append(form[1:-1])
    return tuple(f for f in dict.fromkeys(out) if f not in forms)


def _leet_forms(plain: str) -> tuple[str, ...]:
    """Readings of a word with leetspeak decoded; the word itself when it is not leetspeak.

    Numbers (`1990s`, `4k`, `70`) keep their own spelling as the preferred reading; their
    decoded readings (`70` -> `to`) are alternatives only the lexicon looks at.
    """
    if not any(ch in LEET for ch in plain):
        return (plain,)
    options = [LEET.get(ch, (ch,)) for ch in plain]
    ambiguous = sum(1 for o in options if len(o) > 1)
    if ambiguous > _MAX_AMBIGUOUS:
        options = [o[:1] for o in options]
    decoded = tuple(r for r in dict.fromkeys("".join(p) for p in product(*options)) if r != plain)
    if _NUMBER_WITH_UNIT.match(plain) or not any(ch.isalpha() for ch in plain):
        return (plain, *decoded)
    return decoded
