"""`works import`: many works from a JSONL or CSV file, all or nothing unless told otherwise.

One work per line (JSONL: one object; CSV: a header row, then one row per work, `aliases` and
`images` as `;`-separated lists).  Image paths are relative to the file.  Every problem is
reported with its line number: bytes that are not UTF-8, malformed JSON, a missing field,
unknown fields or kinds, a malformed licence, an id used twice in the file or already
registered, an unreadable image or one registered before.  Without `skip_bad` a single bad
line means nothing is imported; with it, the good lines are imported and the bad ones listed.

Checks run cheapest first (parsing, ids), so a typo on line 3 of a big file is reported
before any image on line 900 is decoded; images are then read, hashed and embedded, and the
works are written in one short transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import BadInputError
from provenance.imageio import sniff_mime
from provenance.policies.known_works.prepare import PreparedWork, prepare_work, resolve_image_path
from provenance.policies.known_works.registry import KnownWorksRegistry
from provenance.policies.known_works.specs import WorkSpec, parse_spec

if TYPE_CHECKING:
    from provenance.policies.clip import ClipEncoder
    from provenance.policies.text_embed import TextEncoder

LIST_SEPARATOR = ";"
CSV_LIST_FIELDS = ("aliases", "images")
#: How many line errors the one-line refusal message quotes (all are reported one by one).
QUOTED_ERRORS = 3
ErrorFn = Callable[["LineError"], None]


@dataclass(frozen=True)
class LineError:
    """A line of the import file that cannot be imported, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    """What an import did: the works imported and the lines skipped."""

    path: Path
    imported: list[PreparedWork] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (`works import --json`)."""
        return {
            "file": str(self.path),
            "imported": len(self.imported),
            "images": sum(len(w.images) for w in self.imported),
            "ids": [w.spec.id for w in self.imported],
            "skipped": [{"line": e.line, "error": e.message} for e in self.errors],
        }


def import_works(
    path: Path,
    registry: KnownWorksRegistry,
    encoder: ClipEncoder | None,
    skip_bad: bool = False,
    on_error: ErrorFn | None = None,
    progress: Callable[[int], None] | None = None,
    text_encoder: TextEncoder | None = None,
) -> ImportReport:
    """Validate, prepare and register every work in `path` (see the module docstring).

    With `text_encoder`, names and descriptions are embedded for the semantic prompt layer.
    """
    report = ImportReport(path)
    specs = _checked_specs(path, registry, report, on_error)
    _stop_if_refused(report, skip_bad)
    prepared: list[tuple[int, PreparedWork]] = []
    for line, spec in specs:
        try:
            prepared.append((line, prepare_work(spec, encoder, path.parent, text_encoder)))
        except BadInputError as exc:
            _record(report, LineError(line, exc.diagnostics()), on_error)
        if progress is not None:
            progress(1)
    report.imported.extend(
        work for _, work in _refuse_taken_images(prepared, registry, report, on_error)
    )
    _stop_if_refused(report, skip_bad)
    registry.add(report.imported)
    return report


def count_lines(path: Path) -> int:
    """Non-blank lines in `path` (a progress bar total; a CSV header counts too)."""
    return sum(1 for _, raw in _numbered_lines(_read_text(path)) if raw.strip())


def read_specs(path: Path) -> Iterator[tuple[int, WorkSpec | LineError]]:
    """(line number, spec or the reason the line is bad) for every work in the file."""
    text = _read_text(path)
    rows = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _jsonl_rows(text)
    for line, data in rows:
        if isinstance(data, LineError):
            yield line, data
            continue
        try:
            yield line, parse_spec(data, f"line {line}")
        except BadInputError as exc:
            yield line, LineError(line, exc.diagnostics().removeprefix(f"line {line}: "))


def _checked_specs(
    path: Path, registry: KnownWorksRegistry, report: ImportReport, on_error: ErrorFn | None
) -> list[tuple[int, WorkSpec]]:
    """Valid specs with ids unique in the file, not yet registered, images readable.

    Problems are reported in line order, whichever check found them.
    """
    first_seen: dict[str, int] = {}
    specs: list[tuple[int, WorkSpec]] = []
    errors: list[LineError] = []
    for line, item in read_specs(path):
        if isinstance(item, LineError):
            errors.append(item)
        elif item.id in first_seen:
            message = f"duplicate id {item.id!r} (first on line {first_seen[item.id]})"
            errors.append(LineError(line, message))
        else:
            first_seen[item.id] = line
            specs.append((line, item))
    registered = {w.id for w in registry.list_works_by_ids([s.id for _, s in specs])}
    kept = []
    for line, spec in specs:
        if spec.id in registered:
            problem: str | None = f"work id {spec.id!r} is already registered"
        else:
            problem = _image_file_problem(spec, path.parent)
        if problem:
            errors.append(LineError(line, problem))
        else:
            kept.append((line, spec))
    for error in sorted(errors, key=lambda e: e.line):
        _record(report, error, on_error)
    return kept


def _image_file_problem(spec: WorkSpec, base_dir: Path) -> str | None:
    """Why an image of `spec` cannot be read, judged from its first bytes (cheap)."""
    for image in spec.images:
        path = resolve_image_path(image, base_dir)
        try:
            with path.open("rb") as fh:
                sniff_mime(fh.read(16), path)
        except BadInputError as exc:
            return exc.diagnostics()
        except OSError as exc:
            return f"{path}: cannot read ({exc.strerror or exc})"
    return None


def _refuse_taken_images(
    prepared: list[tuple[int, PreparedWork]],
    registry: KnownWorksRegistry,
    report: ImportReport,
    on_error: ErrorFn | None,
) -> Iterator[tuple[int, PreparedWork]]:
    """Drop works whose images are registered already, or used twice in this file."""
    digests = [img.sha256 for _, work in prepared for img in work.images]
    owners = registry.registered_digests(digests)
    seen: dict[str, int] = {}
    for line, work in prepared:
        problem = None
        for image in work.images:
            if image.sha256 in owners:
                problem = f"image {image.source_name} is already registered to work "
                problem += repr(owners[image.sha256])
            elif image.sha256 in seen and seen[image.sha256] != line:
                problem = f"image {image.source_name} is also on line {seen[image.sha256]}"
            if problem:
                break
            seen.setdefault(image.sha256, line)
        if problem:
            _record(report, LineError(line, problem), on_error)
        else:
            yield line, work


def _record(report: ImportReport, error: LineError, on_error: ErrorFn | None) -> None:
    report.errors.append(error)
    if on_error is not None:
        on_error(error)


def _stop_if_refused(report: ImportReport, skip_bad: bool) -> None:
    if not report.errors or skip_bad:
        return
    errors = sorted(report.errors, key=lambda e: e.line)
    quoted = "; ".join(str(e) for e in errors[:QUOTED_ERRORS])
    more = f"; and {len(errors) - QUOTED_ERRORS} more" if len(errors) > QUOTED_ERRORS else ""
    raise BadInputError(
        f"{report.path}: {len(errors)} bad line(s), nothing imported "
        f"(--skip-bad imports the good ones): {quoted}{more}"
    )


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise BadInputError(f"{path}: file not found") from exc
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BadInputError(
            f"{path}: line {line}: not UTF-8 text ({exc.reason} at byte {column} of the line); "
            "nothing imported"
        ) from exc


def _numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines split on newlines only (JSON strings may hold U+2028, which `splitlines` splits)."""
    for number, raw in enumerate(text.split("\n"), start=1):
        yield number, raw.removesuffix("\r")


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | LineError]]:
    for line, raw in _numbered_lines(text):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield line, LineError(line, f"malformed JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield line, LineError(line, "expected a JSON object with id, title, kind, license")
            continue
        yield line, data


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any] | LineError]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    if not reader.fieldnames:
        raise BadInputError(f"{path}: empty CSV file (expected a header row)")
    try:
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                yield line, LineError(line, f"expected {len(reader.fieldnames)} columns")
                continue
            if not any(v.strip() for v in row.values()):
                continue
            yield line, _csv_work(row)
    except csv.Error as exc:
        yield reader.line_num, LineError(reader.line_num, f"malformed CSV ({exc})")


def _csv_work(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the fields a JSONL line would have (`;`-lists split, blanks dropped)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = key.strip()
        if name in CSV_LIST_FIELDS:
            out[name] = [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]
        elif value.strip() or name in ("id", "title", "kind", "license"):
            out[name] = value
    return out
