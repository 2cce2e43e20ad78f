"""Password and token hashing for `provenant serve` logins (stdlib scrypt, no extra library).

A password is stored as `scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`, so the cost parameters
travel with the hash and can be raised later without breaking old entries.  API tokens are
random 32-byte strings, so their plain SHA-256 is enough to store them (a slow KDF protects
guessable secrets; a random token cannot be guessed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from provenance.errors import ConfigError

#: scrypt cost: 2**14 x 8 x 1 is 16 MiB and ~50 ms a check, the interactive-login setting
#: that RFC 7914 and OWASP recommend.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SCHEME = "scrypt"
_MAX_N = 2**20


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """The storable hash of `password` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p)
    return "$".join((_SCHEME, str(n), str(r), str(p), _b64(salt), _b64(digest)))


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored` (constant-time compare; a malformed hash is a
    configuration error, never a silent match)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ConfigError("[serve.users] password must be a hash from `provenant users hash`")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    except ValueError as exc:
        raise ConfigError(f"[serve.users] malformed password hash ({exc})") from exc
    if not 1 < n <= _MAX_N or r < 1 or p < 1:
        raise ConfigError("[serve.users] password hash has out-of-range scrypt parameters")
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


def new_token() -> tuple[str, str]:
    """A random API token and the SHA-256 hex digest to put in the config."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """SHA-256 hex of an API token (what `[serve.users.NAME] token_sha256` holds)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
