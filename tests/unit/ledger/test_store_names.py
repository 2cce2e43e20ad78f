"""Output file names come from ids: anything that could leave the output dir is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.errors import BadInputError
from provenance.pipeline.store import PARTIAL_SUFFIX, check_filename, partial_path


@pytest.mark.parametrize(
    "name",
    [
        "../escape.png",
        "a/b.png",
        "/abs.png",
        "..",
        ".",
        "",
        ".hidden.png",
        "a\\b.png",
        "x\x00.png",
        "a..b.png",
    ],
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(BadInputError, match="not allowed"):
        check_filename(name)


@pytest.mark.parametrize("name", ["req-1a2b-00.png", "ast_0001.jpg", "x.webp", "o'brien.png"])
def test_plain_names_pass(name: str) -> None:
    assert check_filename(name) == name


def test_partial_file_sits_beside_the_final_one_hidden() -> None:
    assert partial_path(Path("/o/a.png")) == Path(f"/o/.a.png{PARTIAL_SUFFIX}")
