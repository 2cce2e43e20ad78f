"""`/audit`: the audit dashboard, behind a login.

The figures are `audit report`'s (`provenance.audit.report.gather`: SQL aggregates over
every matching entry, a full chain check), the filters are `AuditFilter`'s and the exports
are `audit export`'s writers, so the dashboard, the report and the CLI never disagree.
Filters travel as query parameters (GET: bookmarkable, nothing to forge); the only forms
that change anything (log in, log out) carry a CSRF token.
"""

from __future__ import annotations

import io
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from provenance.audit import AuditFilter, parse_since, parse_until
from provenance.errors import BadInputError
from provenance.serve.auth import READ_ALL_ROLES, User, authenticate, require_role
from provenance.serve.context import ServeContext, context
from provenance.serve.sessions import CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS

router = APIRouter(prefix="/audit", include_in_schema=False)
Ctx = Annotated[ServeContext, Depends(context)]
Reader = Annotated[User, Depends(require_role(READ_ALL_ROLES))]
FILTER_FIELDS = ("since", "until", "generator", "model", "verdict", "requester", "project", "kind")
#: Rows listed one by one on the dashboard (the figures cover every matching entry).
DASHBOARD_ROWS = 50
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


# -- login ------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, ctx: Ctx, next: str = "/audit") -> Response:
    """The login form, with a fresh CSRF cookie and token."""
    return _login_page(request, ctx, _safe_next(next), None, status.HTTP_200_OK)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/audit",
) -> Response:
    """Check the password (rate-limited per client), then set the signed session cookie."""
    _check_csrf(request, ctx, csrf_token)
    client = request.client.host if request.client else "unknown"
    target = _safe_next(next)
    if ctx.limiter.blocked(client):
        return _login_page(request, ctx, target, "Too many failed logins; wait a minute.", 429)
    user = authenticate(ctx, username, password)
    if user is None:
        ctx.limiter.failed(client)
        return _login_page(request, ctx, target, "Wrong user name or password.", 401)
    ctx.limiter.succeeded(client)
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        ctx.signer.session_cookie(user.name),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    """Drop the session cookie."""
    _check_csrf(request, ctx, csrf_token)
    response = RedirectResponse("/audit/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _login_page(
    request: Request, ctx: Ctx, target: str, message: str | None, code: int
) -> Response:
    token = ctx.signer.new_csrf_cookie()
    response = ctx.templates.TemplateResponse(
        request,
        "login.html",
        {"csrf_token": token, "next": target, "message": message},
        status_code=code,
    )
    _set_csrf(request, response, token)
    return response


def _set_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def _check_csrf(request: Request, ctx: ServeContext, submitted: str) -> None:
    if not ctx.signer.csrf_ok(request.cookies.get(CSRF_COOKIE), submitted):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


def _safe_next(target: str) -> str:
    """Only paths of this dashboard (never another site: no open redirect)."""
    ok = target.startswith("/audit") and "//" not in target and "\\" not in target
    return target if ok else "/audit"


# -- dashboard --------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, ctx: Ctx, user: Reader) -> Response:
    """Figures, charts, refusals and the newest entries of the filtered view."""
    from provenance.audit.report import gather
    from provenance.serve.dashboard import dashboard_view

    query = _filter_query(request)
    try:
        audit = _audit_filter(query)
    except BadInputError as exc:
        return _page(
            request, ctx, user, "audit.html", {"error": exc.diagnostics(), "query": query}, 400
        )
    ledger = ctx.ledger()
    data = gather(ledger, audit, row_limit=DASHBOARD_ROWS)
    view = dashboard_view(data)
    view.update(
        query=query,
        export_query=urlencode({k: v for k, v in query.items() if v}),
        checkpoint=last_checkpoint(ctx),
        error=None,
    )
    return _page(request, ctx, user, "audit.html", view, 200)


@router.get("/assets/{asset_id}", response_class=HTMLResponse)
def asset_page(request: Request, ctx: Ctx, user: Reader, asset_id: str) -> Response:
    """One asset: the whole record, its decisions, chain position and lineage."""
    from provenance.audit.show import EntryDetail, row_verifies
    from provenance.serve.lineage import lineage

    ledger = ctx.ledger()
    entry = ledger.get_asset(asset_id)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {asset_id}")
    detail = EntryDetail(entry, row_verifies(ledger, entry), ["asset_id"])
    view = {
        "entry": entry,
        "detail": detail.as_dict(ledger.head()[0], None),
        "lineage": lineage(ledger, entry, lambda _e: True),
    }
    return _page(request, ctx, user, "audit_asset.html", view, 200)


@router.get("/export")
def export(request: Request, ctx: Ctx, user: Reader, format: str = "csv") -> Response:
    """The filtered view as CSV or JSON Lines (`audit export`'s writers)."""
    from provenance.audit import iter_entries, write_entries

    if format not in EXPORT_TYPES:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "format must be csv or jsonl")
    audit = _audit_filter(_filter_query(request))
    out = io.StringIO()
    with ctx.ledger().read_snapshot("exporting for the dashboard") as conn:
        write_entries(iter_entries(conn, audit), format, out)
    name = f"provenant-audit.{format}"
    return Response(
        out.getvalue(),
        media_type=EXPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _page(
    request: Request, ctx: ServeContext, user: User, name: str, view: dict[str, Any], code: int
) -> Response:
    token = request.cookies.get(CSRF_COOKIE)
    fresh = ctx.signer.unsign(token) is None
    token = ctx.signer.new_csrf_cookie() if fresh or token is None else token
    response = ctx.templates.TemplateResponse(
        request, name, {**view, "user": user, "csrf_token": token}, status_code=code
    )
    if fresh:
        _set_csrf(request, response, token)
    return response


def _filter_query(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip()[:200] for k in FILTER_FIELDS}


def _audit_filter(query: dict[str, str]) -> AuditFilter:
    """An `AuditFilter` from the form's fields (empty means any); bad dates are 400s."""
    values: dict[str, Any] = {k: v or None for k, v in query.items()}
    since, until = values.pop("since"), values.pop("until")
    return AuditFilter(
        since=parse_since(since) if since else None,
        until=parse_until(until) if until else None,
        **values,
    )


def last_checkpoint(ctx: ServeContext) -> dict[str, Any] | None:
    """The newest signed checkpoint stored in the ledger (None when none was made)."""
    from provenance.ledger import models

    table = models.checkpoints
    with ctx.ledger().read_snapshot("reading the last checkpoint") as conn:
        row = conn.execute(
            sa.select(table.c.origin, table.c.tree_size, table.c.root_hash, table.c.created_at)
            .order_by(table.c.tree_size.desc())
            .limit(1)
        ).first()
    return dict(row._mapping) if row is not None else None
