"""`canonical.dumps` against RFC 8785 (the `rfc8785` package): equal where the module
docstring says so, different exactly where it says so."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.ledger.canonical import dumps

SAFE = 2**53 - 1
# Keys and strings below U+E000 (any plane-0 text but the private-use/specials block and
# the surrogates, which are not text): there code point order equals UTF-16 order.
TEXT = st.text(st.characters(max_codepoint=0xDFFF, exclude_categories=("Cs",)), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | TEXT
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(DOCUMENTS)
def test_equals_jcs_on_the_documents_it_claims(document: object) -> None:
    assert dumps(document).encode("utf-8") == rfc8785.dumps(document)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)))
def test_fractional_floats_parse_back_equal_in_both(value: float) -> None:
    ours, jcs = dumps(value), rfc8785.dumps(value).decode()
    assert float(ours) == float(jcs) == value  # same number, spelled per its own rules


def test_the_documented_differences() -> None:
    assert dumps({"a": 1.0}) == '{"a":1.0}' and rfc8785.dumps({"a": 1.0}) == b'{"a":1}'
    assert dumps(1e-7) == "1e-07" and rfc8785.dumps(1e-7) == b"1e-7"
    assert dumps(2**60) == str(2**60)
    try:
        rfc8785.dumps(2**60)
    except rfc8785.IntegerDomainError:
        pass
    else:
        raise AssertionError("rfc8785 accepted an integer beyond 2**53")
    keys = {"\U0001f600": 1, "\uffff": 2}  # above U+FFFF vs U+E000..U+FFFF
    assert dumps(keys) == '{"\uffff":2,"\U0001f600":1}'
    assert rfc8785.dumps(keys) == '{"\U0001f600":1,"\uffff":2}'.encode()
