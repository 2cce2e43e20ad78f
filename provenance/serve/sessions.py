"""Signed session cookies, CSRF tokens and the login rate limit.

A session is `base64url(json{user, exp, sid}).base64url(HMAC-SHA256)` under the server's
secret: the server keeps no session table, so every uvicorn worker accepts the cookie.
Forms carry a CSRF token bound to a signed `provenant_csrf` cookie (double submit): a
cross-site page can neither read the cookie nor forge its signature, and the cookies are
`SameSite=Strict` besides.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import threading
import time
from collections import deque
from hashlib import sha256
from pathlib import Path
from typing import Any

SESSION_COOKIE = "provenant_session"
CSRF_COOKIE = "provenant_csrf"
SESSION_SECONDS = 8 * 3600
#: Failed logins allowed per client address within `LOGIN_WINDOW_SECONDS`.
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW_SECONDS = 60.0


def load_secret(path: Path) -> bytes:
    """The server's signing secret, created (32 random bytes, mode 0600) on first use.

    Created with O_EXCL so that workers starting together agree on one secret.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
        time.sleep(0.05)  # another worker is writing it
        return path.read_bytes()
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
        fh.flush()
        os.fsync(fh.fileno())
    return path.read_bytes()


class Signer:
    """HMAC-SHA256 signatures over short strings, under one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, value: str) -> str:
        """`value.signature`."""
        return f"{value}.{self._mac(value)}"

    def unsign(self, signed: str | None) -> str | None:
        """The value of a string this signer signed, or None (tampered, foreign, empty)."""
        if not signed or "." not in signed:
            return None
        value, _, mac = signed.rpartition(".")
        return value if hmac.compare_digest(mac, self._mac(value)) else None

    def _mac(self, value: str) -> str:
        digest = hmac.new(self._secret, value.encode("utf-8"), sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    # -- sessions ------------------------------------------------------------------------------

    def session_cookie(self, user: str, now: float | None = None) -> str:
        """A signed session for `user`, valid for `SESSION_SECONDS`."""
        body = {"user": user, "exp": int((now or time.time()) + SESSION_SECONDS)}
        body["sid"] = secrets.token_urlsafe(12)
        raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return self.sign(base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="))

    def session_user(self, cookie: str | None, now: float | None = None) -> str | None:
        """The user of a valid, unexpired session cookie, else None."""
        value = self.unsign(cookie)
        if value is None:
            return None
        try:
            body: Any = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("user"), str):
            return None
        expires = body.get("exp")
        if not isinstance(expires, int) or expires < (now or time.time()):
            return None
        return body["user"]

    # -- CSRF ----------------------------------------------------------------------------------

    def new_csrf_cookie(self) -> str:
        """A fresh signed CSRF cookie value."""
        return self.sign(secrets.token_urlsafe(16))

    def csrf_ok(self, cookie: str | None, submitted: str | None) -> bool:
        """Whether a form's token is the one its signed cookie carries."""
        if self.unsign(cookie) is None or not submitted:
            return False
        return hmac.compare_digest(cookie or "", submitted)


class LoginLimiter:
    """Failed logins per client address in a sliding window (per process, in memory)."""

    def __init__(
        self, attempts: int = LOGIN_ATTEMPTS, window: float = LOGIN_WINDOW_SECONDS
    ) -> None:
        self._attempts = attempts
        self._window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, client: str, now: float | None = None) -> bool:
        """Whether `client` has used up its failed attempts for now."""
        moment = now or time.monotonic()
        with self._lock:
            recent = self._failures.get(client)
            while recent and recent[0] <= moment - self._window:
                recent.popleft()
            return bool(recent) and len(recent or ()) >= self._attempts

    def failed(self, client: str, now: float | None = None) -> None:
        """Count one failed attempt."""
        with self._lock:
            self._failures.setdefault(client, deque()).append(now or time.monotonic())

    def succeeded(self, client: str) -> None:
        """Forget a client's failures after a good login."""
        with self._lock:
            self._failures.pop(client, None)
