"""Who is asking: users from `[serve.users]`, sessions and tokens, roles, as dependencies.

Every protected route declares `Depends(require_user)` or `Depends(require_role(...))`
(fastapi's get-current-user pattern), so a route that forgets it is caught by the test that
walks the route table.  Scripts authenticate with `Authorization: Bearer TOKEN`; browsers
with the signed session cookie that `/audit/login` sets.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from provenance.serve.context import ServeContext, context
from provenance.serve.passwords import check_password, token_digest
from provenance.serve.sessions import SESSION_COOKIE

#: Roles that may read every asset and the dashboard; artists see their own assets only.
READ_ALL_ROLES = frozenset({"lead", "auditor", "admin"})
#: Roles that may start generation jobs (auditors only read).
GENERATE_ROLES = frozenset({"artist", "lead", "admin"})


@dataclass(frozen=True)
class User:
    """An authenticated user."""

    name: str
    role: str

    @property
    def reads_all(self) -> bool:
        """Whether this user may read every asset (not only their own)."""
        return self.role in READ_ALL_ROLES


class LoginRequired(Exception):
    """A page needs a login: pages redirect to the login form, the API answers 401."""


def authenticate(ctx: ServeContext, name: str, password: str) -> User | None:
    """The user whose configured password hash `password` matches, else None."""
    entry = ctx.settings.serve.users.get(name)
    if entry is None or not entry.password:
        return None
    return User(name, entry.role) if check_password(password, entry.password) else None


def _from_token(ctx: ServeContext, header: str) -> User | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    digest = token_digest(token.strip())
    for name, entry in ctx.settings.serve.users.items():
        if entry.token_sha256 and hmac.compare_digest(entry.token_sha256, digest):
            return User(name, entry.role)
    return None


def current_user(request: Request, ctx: Annotated[ServeContext, Depends(context)]) -> User | None:
    """The user of this request (token first, then session cookie), or None."""
    header = request.headers.get("authorization")
    if header:
        return _from_token(ctx, header)
    name = ctx.signer.session_user(request.cookies.get(SESSION_COOKIE))
    entry = ctx.settings.serve.users.get(name) if name else None
    return User(name, entry.role) if name and entry else None


def require_user(request: Request, user: Annotated[User | None, Depends(current_user)]) -> User:
    """A dependency that refuses anonymous requests (401 for the API, login page otherwise)."""
    if user is None:
        if request.url.path.startswith("/api/"):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "log in or send Authorization: Bearer TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )
        raise LoginRequired()
    return user


def require_role(roles: frozenset[str]) -> Callable[..., User]:
    """A dependency that admits only users with one of `roles` (403 for the others)."""

    def check(user: Annotated[User, Depends(require_user)]) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role!r} may not do this")
        return user

    return check
