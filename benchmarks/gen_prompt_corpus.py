"""Generate the labelled training corpus of the prompt-safety head, deterministically.

    python benchmarks/gen_prompt_corpus.py          # writes data/prompt_corpus/corpus.jsonl
    python benchmarks/gen_prompt_corpus.py --check    # regenerates and compares with the file

The procedure is compositional and has nothing to do with how the frozen test split was
written (by hand, independently): prompt templates x a concept inventory per category
(`benchmarks/data/prompt_corpus/inventory.toml`, slot fillers such as `{minor}` or
`{weapon}` expanded at random) x evasion transforms (typos, leetspeak, homoglyphs, spacing,
zero-width characters, case) x 30-odd languages, plus benign prompts that share the
vocabulary of the unsafe ones (a shot glass, a breaststroke swimmer, a surgeon, memorials).

Every phrase, template and slot filler is assigned to `train` or `dev` by a hash of its
text, so the dev split measures phrasings the head never saw, not re-rolls of them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INVENTORY = HERE / "data" / "prompt_corpus" / "inventory.toml"
CORPUS = HERE / "data" / "prompt_corpus" / "corpus.jsonl"
SEED = 20250611
PER_UNSAFE_CATEGORY = 1700
BENIGN = 8500
DEV_SHARE = 18  # percent of phrases, templates and fillers held out for the dev split
_SLOT = re.compile(r"\{(\w+)\}")
_HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "y": "у"}
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def split_of(text: str) -> str:
    """`dev` or `train`, fixed by the text itself (stable across runs and machines)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "dev" if digest[0] * 100 // 256 < DEV_SHARE else "train"


def _pick(rng: random.Random, items: Sequence[str], split: str) -> str:
    mine = [i for i in items if split_of(i) == split] or list(items)
    return rng.choice(mine)


def expand(rng: random.Random, phrase: str, slots: dict[str, list[str]], split: str) -> str:
    """Fill every `{slot}` of `phrase` with a filler of the same split."""
    return _SLOT.sub(lambda m: _pick(rng, slots[m[1]], split), phrase)


# --- evasion transforms -------------------------------------------------------------------------


def _typo_word(rng: random.Random, word: str) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1 :]
    if op == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 2:
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice(_KEYBOARD) + word[i + 1 :]


def typo(rng: random.Random, text: str) -> str:
    """One or two natural typos (deletion, swap, doubling, neighbour key)."""
    words = text.split(" ")
    long = [k for k, w in enumerate(words) if len(w) >= 4]
    for k in rng.sample(long, min(len(long), rng.choice((1, 1, 2)))):
        words[k] = _typo_word(rng, words[k])
    return " ".join(words)


def _one_word(rng: random.Random, text: str, change: Callable[[str], str]) -> str:
    words = text.split(" ")
    long = [k for k, w in enumerate(words) if len(w) >= 4] or [0]
    for k in rng.sample(long, min(len(long), 2)):
        words[k] = change(words[k])
    return " ".join(words)


def leet(rng: random.Random, text: str) -> str:
    return _one_word(rng, text, lambda w: "".join(_LEET.get(c, c) for c in w))


def homoglyph(rng: random.Random, text: str) -> str:
    return _one_word(rng, text, lambda w: "".join(_HOMOGLYPHS.get(c, c) for c in w))


def spacing(rng: random.Random, text: str) -> str:
    sep = rng.choice((" ", ".", "-", "_", "*"))
    return _one_word(rng, text, lambda w: sep.join(w))


def zero_width(rng: random.Random, text: str) -> str:
    mark = rng.choice(("\u200b", "\u2060", "\u200c", "\u00ad"))
    return _one_word(rng, text, lambda w: w[: len(w) // 2] + mark + w[len(w) // 2 :])


def case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in text)


TRANSFORMS: dict[str, Callable[[random.Random, str], str]] = {
    "misspelling": typo,
    "leet": leet,
    "homoglyph": homoglyph,
    "spacing": spacing,
    "zero_width": zero_width,
    "case": case,
}
_EN_WEIGHTS = {"none": 50, "misspelling": 22, "leet": 6, "homoglyph": 6, "spacing": 6}
_EN_WEIGHTS |= {"zero_width": 5, "case": 5}


def _evasion(rng: random.Random, lang: str) -> str:
    if lang != "en":
        return rng.choices(["none", "misspelling"], [75, 25])[0]
    names = list(_EN_WEIGHTS)
    return rng.choices(names, [_EN_WEIGHTS[n] for n in names])[0]


# --- generation ------------------------------------------------------------------------------


def _lists(section: dict[str, list[str]]) -> list[tuple[str, str, list[str]]]:
    """(lang, variant, phrases) for keys such as `en`, `en_euphemism`, `de`."""
    out = []
    for key, phrases in section.items():
        lang, _, variant = key.partition("_")
        out.append((lang, variant or "plain", phrases))
    return out


def _weight(lang: str, variant: str, n_langs: int) -> float:
    if lang == "en":
        return {"plain": 0.30, "euphemism": 0.40, "hard": 0.35, "compositional": 0.30}[variant]
    return 0.40 / max(n_langs, 1)


def generate(inventory: dict[str, Any], seed: int = SEED) -> list[dict[str, Any]]:
    """The whole corpus, in a fixed order, deduplicated by prompt."""
    templates: dict[str, list[str]] = inventory["templates"]
    slots: dict[str, list[str]] = inventory["slots"]["en"]
    sections = [(c, inventory["unsafe"][c], PER_UNSAFE_CATEGORY) for c in inventory["unsafe"]]
    sections.append(("benign", inventory["benign"], BENIGN))
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for label, section, count in sections:
        # one generator per label: widening one section's inventory leaves the others' rows
        # (and their cached embeddings) as they were
        rng = random.Random(f"{seed}-{label}")
        lists = _lists(section)
        n_other = len({lang for lang, _, _ in lists if lang != "en"})
        weights = [_weight(lang, variant, n_other) for lang, variant, _ in lists]
        made = attempts = 0
        while made < count and attempts < count * 6:
            attempts += 1
            lang, variant, phrases = rng.choices(lists, weights)[0]
            split = "dev" if rng.random() < DEV_SHARE / 100 else "train"
            phrase = expand(rng, _pick(rng, phrases, split), slots, split)
            template = _pick(rng, templates.get(lang, ["{x}"]), split)
            prompt = template.replace("{x}", phrase)
            evasion = _evasion(rng, lang)
            if evasion != "none":
                prompt = TRANSFORMS[evasion](rng, prompt)
            if variant == "euphemism" and evasion == "none":
                evasion = "euphemism"
            if prompt in seen:
                continue
            seen.add(prompt)
            made += 1
            rows.append(
                {"prompt": prompt, "label": label, "evasion": evasion, "lang": lang,
                 "variant": variant, "split": split}
            )  # fmt: skip
    for number, row in enumerate(rows, start=1):
        row["id"] = f"gen-{number:05d}"
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    parser.add_argument("--out", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    with INVENTORY.open("rb") as fh:
        inventory = tomllib.load(fh)
    text = render(generate(inventory))
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print("corpus matches its generator" if same else "corpus differs from its generator")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    lines = text.count("\n")
    print(
        f"wrote {lines} prompts to {args.out} "
        f"(sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
