"""The operations dashboard (``GET /dashboard``) for staff: a token pasted once becomes an
HttpOnly session cookie, and the page draws the figures of ``GET /v1/kpis``. The same script and
style also make ``benefits report``'s self-contained HTML file (``render_report``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import Annotated, Any
from urllib.parse import parse_qs

import jwt
from fastapi import APIRouter, Cookie, Depends, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import STAFF, Caller, Unauthorized
from api.service import caller

router = APIRouter(tags=["dashboard"], include_in_schema=False)

COOKIE = "benefits_session"
# A pasted token is a few hundred bytes; anything much larger is not a login.
MAX_LOGIN_BYTES = 16_384
REFRESH_SECONDS = 30
ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css"}
# The page loads nothing but its own script and style, and talks only to this server.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The report is a file: inline script and style, no network at all.
REPORT_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
)
# Served pages link their own style, and an empty icon so that no /favicon.ico is asked for.
STYLESHEET = (
    '<link rel="stylesheet" href="/dashboard/static/dashboard.css">\n'
    '<link rel="icon" href="data:,">'
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def kpi_caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie(alias=COOKIE)] = None,
) -> Caller:
    """Who calls ``GET /v1/kpis``: the bearer token when one is sent, else the dashboard's
    session cookie (an HttpOnly, SameSite=Strict cookie, so only this server's own page sends
    it). Raises ``Unauthorized`` (401) without either. Roles are the route's to check."""
    if authorization:
        return caller(request, authorization)
    if session:
        return request.app.state.service.keys.verify(session)
    raise Unauthorized(
        "send a bearer token (Authorization: Bearer <token>) or sign in at /dashboard"
    )


KpiCallerDep = Annotated[Caller, Depends(kpi_caller)]


def asset(name: str) -> str:
    """One of the dashboard's own files in ``api/static``."""
    return (resources.files("api") / "static" / name).read_text(encoding="utf-8")


@router.get("/dashboard/static/{name}")
async def static_asset(name: str) -> Response:
    if name not in ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(asset(name), media_type=ASSETS[name], headers=headers)


@router.get("/dashboard")
async def dashboard(
    request: Request, session: Annotated[str | None, Cookie(alias=COOKIE)] = None
) -> Response:
    """The page for a signed-in staff member; the sign-in form for anyone else."""
    if not session:
        return _login_page()
    try:
        who = request.app.state.service.keys.verify(session)
    except Unauthorized as exc:
        response = _login_page(f"Your session has ended ({exc}). Sign in again.", 401)
        _forget(response)
        return response
    if who.role not in STAFF:
        response = _login_page(_NOT_STAFF, 403)
        _forget(response)
        return response
    return HTMLResponse(_page(who), headers=PAGE_HEADERS)


@router.post("/dashboard/login")
async def login_form(request: Request) -> Response:
    """The sign-in form's POST: ``token`` as an urlencoded field."""
    token = await _form_token(request)
    if token is None:
        return _login_page("That request is too large to be a token.", 413)
    return _sign_in(request, token, redirect=True)


@router.get("/dashboard/login")
async def login_link(request: Request, token: str | None = None) -> Response:
    """The one-click local link `benefits serve` prints; without a token, the form."""
    if token is None:
        return _login_page()
    # Answer with a page that moves on to /dashboard itself rather than a redirect: a link
    # opened from elsewhere would otherwise arrive without the SameSite=Strict cookie.
    return _sign_in(request, token, redirect=False)


@router.api_route("/dashboard/logout", methods=["GET", "POST"])
async def logout() -> Response:
    response = RedirectResponse("/dashboard", status_code=303)
    _forget(response)
    return response


def render_report(kpis: dict[str, Any]) -> str:
    """One self-contained HTML file of the figures in ``kpis`` (the document of
    ``GET /v1/kpis``): style and script inlined, the figures embedded as JSON, no network."""
    # JSON inside <script>: no "<", ">" or "&" may appear raw, so nothing can close the element.
    data = (
        json.dumps(kpis, ensure_ascii=False, sort_keys=True)
        .replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
    )
    script = asset("dashboard.js").replace("</", "<\\/")
    period = f"{kpis.get('from', '')} to {kpis.get('to', '')}"
    return _document(
        title=f"Benefits engine: operations report, {period}",
        head=(
            f'<meta http-equiv="Content-Security-Policy" content="{REPORT_POLICY}">\n'
            f"<style>\n{asset('dashboard.css')}\n</style>"
        ),
        body_attributes='data-mode="report"',
        header="",
        tail=(
            f'<script type="application/json" id="kpi-data">{data}</script>\n'
            f"<script>\n{script}\n</script>"
        ),
    )


_NOT_STAFF = (
    "This dashboard is for staff: an operator, auditor or caseworker token. "
    "A citizen token cannot open it."
)


def _sign_in(request: Request, token: str, *, redirect: bool) -> Response:
    token = token.strip()
    if not token:
        return _login_page("Paste a token to sign in.", 400)
    try:
        who = request.app.state.service.keys.verify(token)
    except Unauthorized as exc:
        return _login_page(f"That token was not accepted: {exc}.", 401)
    if who.role not in STAFF:
        return _login_page(_NOT_STAFF, 403)
    if redirect:
        response: Response = RedirectResponse("/dashboard", status_code=303)
    else:
        response = HTMLResponse(
            _document(
                title="Signed in",
                head=('<meta http-equiv="refresh" content="0; url=/dashboard">\n' + STYLESHEET),
                body_attributes='data-mode="signed-in"',
                header="",
                main='<p>Signed in. <a href="/dashboard">Open the dashboard</a>.</p>',
            ),
            headers=PAGE_HEADERS,
        )
    response.set_cookie(
        COOKIE,
        token,
        max_age=_seconds_left(token),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return response


def _seconds_left(token: str) -> int:
    """The verified token's remaining life: the cookie ends with it."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return max(0, int(claims["exp"] - datetime.now(UTC).timestamp()))


def _forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


async def _form_token(request: Request) -> str | None:
    """The ``token`` field of an urlencoded form, or None for a body too large to be one."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BYTES:
            return None
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return (fields.get("token") or [""])[0]


def _login_page(message: str | None = None, status: int = 200) -> HTMLResponse:
    notice = f'<p class="notice" role="alert">{escape(message)}</p>' if message else ""
    main = f"""<section class="login" aria-labelledby="login-title">
<h2 id="login-title">Sign in</h2>
{notice}
<form method="post" action="/dashboard/login" id="login">
<label for="token">Staff token (operator, auditor or caseworker)</label>
<textarea id="token" name="token" rows="4" required autocomplete="off"
 spellcheck="false"></textarea>
<button type="submit">Sign in</button>
</form>
<p class="hint">Mint one with <code>benefits token --sub you --role operator</code>.
It is kept in an HttpOnly cookie until it expires or you sign out.</p>
</section>"""
    return HTMLResponse(
        _document(
            title="Benefits engine: sign in",
            head=STYLESHEET,
            body_attributes='data-mode="login"',
            header="",
            main=main,
        ),
        status_code=status,
        headers=PAGE_HEADERS,
    )


def _page(who: Caller) -> str:
    regions = ", ".join(who.regions) if who.role == "caseworker" else "all regions"
    header = f"""<form id="filters" class="filters" aria-label="Filters">
<label for="filter-region">Region prefix</label>
<input id="filter-region" name="region" inputmode="numeric" pattern="[0-9]{{2}}([0-9]{{2}}){{0,2}}"
 maxlength="6" placeholder="11, 1101 or 110101" title="a 2-, 4- or 6-digit region prefix">
<label for="filter-from">From</label>
<input id="filter-from" name="from" type="month">
<label for="filter-to">To</label>
<input id="filter-to" name="to" type="month">
<button type="submit">Apply</button>
<button type="button" id="filter-reset">Reset</button>
</form>
<p class="who">Signed in as {escape(who.role)} {escape(who.sub)} ({escape(regions)})
<a href="/dashboard/logout">Sign out</a></p>"""
    return _document(
        title="Benefits engine: operations dashboard",
        head=STYLESHEET,
        body_attributes=f'data-mode="live" data-refresh-seconds="{REFRESH_SECONDS}"',
        header=header,
        tail='<script src="/dashboard/static/dashboard.js"></script>',
    )


def _document(
    *, title: str, head: str, body_attributes: str, header: str, main: str = "", tail: str = ""
) -> str:
    main = main or (
        '<p id="status" class="status" role="status" aria-live="polite">Loading the figures…</p>\n'
        '<p id="error" class="notice" role="alert" hidden></p>\n'
        '<div id="figures"></div>'
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
{head}
</head>
<body {body_attributes}>
<header class="top">
<h1>{escape(title)}</h1>
{header}
</header>
<main>
{main}
</main>
{tail}
</body>
</html>
"""
