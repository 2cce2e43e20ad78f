"""Safe image input/output: sniff formats from bytes, check sizes before decoding.

Every path that reads a user's image (verify, sign, screen, works add, init/style images)
goes through here, so hostile files meet one set of limits: a deliberate Pillow pixel cap,
a check of the declared dimensions before any pixel is decoded, and Pillow's own errors
turned into one-line `BadInputError`s naming the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageFile

from provenance.errors import BadInputError

#: Largest image we decode: 8192 x 8192.  Generated images are far smaller; anything bigger
#: is treated as hostile (decompression bombs) rather than risk gigabytes of RAM.
MAX_PIXELS = 8192 * 8192
MAX_SIDE = 16384
#: Largest file we read into memory for signing or verification.
MAX_FILE_BYTES = 256 * 1024 * 1024

Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False

#: Formats Provenant signs and verifies, by magic bytes.
MIME_BY_FORMAT = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSION_BY_MIME = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_PIL_FORMAT = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
#: File name endings of the formats above, as people write them.
IMAGE_SUFFIXES = frozenset({*EXTENSION_BY_MIME.values(), ".jpeg", ".jpe"})


def sniff_mime(data: bytes, path: Path | str | None = None) -> str:
    """The MIME type of an image from its first bytes; the file name is never trusted."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    where = f"{path}: " if path is not None else ""
    if not data:
        raise BadInputError(f"{where}empty file")
    raise BadInputError(f"{where}not a PNG, JPEG or WebP image")


def looks_like_image(path: Path) -> bool:
    """Whether a file found while walking a directory should be treated as an image.

    By its ending, or (for files named otherwise) by its magic bytes, so a signed output that
    someone renamed is still checked; unreadable files are not images here: the caller that
    opens them reports why.
    """
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            sniff_mime(fh.read(16))
    except (OSError, BadInputError):
        return False
    return True


def read_file(path: Path | str, limit: int = MAX_FILE_BYTES) -> bytes:
    """Read a whole file with a size cap; unreadable paths become `BadInputError`."""
    p = Path(path)
    try:
        if p.is_dir():
            raise BadInputError(f"{p}: is a directory")
        size = p.stat().st_size
        if size > limit:
            raise BadInputError(f"{p}: file is {size} bytes, over the {limit}-byte limit")
        return p.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{p}: cannot read ({exc.strerror or exc})") from exc


def check_dimensions(width: int, height: int, where: str) -> None:
    """Refuse absurd dimensions before decoding (a 100000x100000 PNG header, say)."""
    if width <= 0 or height <= 0:
        raise BadInputError(f"{where}: invalid dimensions {width}x{height}")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise BadInputError(
            f"{where}: image is {width}x{height}, over the {MAX_PIXELS}-pixel decoding limit"
        )


def open_image(source: Path | str | bytes, name: str | None = None) -> Image.Image:
    """Decode an image fully, with size checks first; returns a loaded PIL image."""
    if isinstance(source, bytes):
        data, where = source, name or "<bytes>"
    else:
        data, where = read_file(source), name or str(source)
    sniff_mime(data, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            check_dimensions(img.width, img.height, where)
            img.load()
    except BadInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadInputError(f"{where}: decompression bomb refused ({exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        # Pillow reports corrupt data through all of these.
        detail = " ".join(str(exc).split()) or exc.__class__.__name__
        raise BadInputError(f"{where}: corrupt or truncated image ({detail})") from exc
    except MemoryError as exc:
        raise BadInputError(f"{where}: image too large to decode") from exc
    return img


def encode_image(img: Image.Image, mime: str, quality: int = 95) -> bytes:
    """Encode pixels as PNG, JPEG or WebP bytes (RGB; metadata-free)."""
    fmt = _PIL_FORMAT.get(mime)
    if fmt is None:
        raise BadInputError(f"cannot encode {mime}; choose one of {', '.join(_PIL_FORMAT)}")
    buf = io.BytesIO()
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    kwargs: dict[str, object] = {}
    if fmt == "JPEG":
        kwargs = {"quality": quality}
    elif fmt == "WEBP":
        kwargs = {"quality": quality, "method": 4}
    elif fmt == "PNG":
        kwargs = {"compress_level": 3}
    rgb.save(buf, format=fmt, **kwargs)
    return buf.getvalue()
