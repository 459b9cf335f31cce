"""The dashboard's sign-in, session cookie and page, through a real server (no browser), the
``kpi_caller`` dependency, and ``render_report``'s self-contained file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from api.dashboard import COOKIE, KpiCallerDep, render_report
from api.service import install_error_handlers
from engine.errors import StoreNotFound, UserError
from engine.report import report
from tests.service.conftest import (
    KEYS,
    SECRET,
    SELF,
    TODAY,
    Server,
    build_store,
    start_server,
    stop_server,
    token,
)

MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]
HOSTILE_REASON = '<script>alert("x")</script> unknown event type'


def kpi_document() -> dict[str, Any]:
    """A year of figures shaped as docs/kpis.md documents ``GET /v1/kpis``."""
    regions = {"110101": (3, 1, 4), "110102": (1, 0, 2), "310101": (0, 2, 1), "440103": (2, 0, 0)}

    def rolled(width: int) -> list[dict[str, Any]]:
        sums: dict[str, list[int]] = {}
        for code, counts in regions.items():
            total = sums.setdefault(code[:width], [0, 0, 0])
            for i, n in enumerate(counts):
                total[i] += n
        return [
            {"region": code, "red": r, "yellow": y, "blue": b}
            for code, (r, y, b) in sorted(sums.items())
        ]

    automation = [
        {"month": m, "closed": 100 + i, "automated": 90 + i, "rate": (90 + i) / (100 + i)}
        for i, m in enumerate(MONTHS)
    ]
    return {
        "from": "2026-01",
        "to": "2026-12",
        "region": None,
        "as_of": "2026-12-31",
        "automation": {
            "by_month": automation,
            "total": {
                "closed": sum(r["closed"] for r in automation),
                "automated": sum(r["automated"] for r in automation),
                "rate": sum(r["automated"] for r in automation)
                / sum(r["closed"] for r in automation),
            },
        },
        "latency": {
            "by_event_type": [
                {
                    "type": t,
                    "count": 10 * (i + 1),
                    "p50_ms": 2.0 + i,
                    "p95_ms": 9.0 + i,
                    "p99_ms": 15.5 + i,
                }
                for i, t in enumerate(["death_registered", "life_evidence", "payment_due"])
            ],
            "reporting_delay_days": [
                {"source": s, "count": 5 + i, "p50": i, "p95": 3 + i, "p99": 5 + i, "max": 9 + i}
                for i, s in enumerate(["civil_affairs", "health", "transit"])
            ],
        },
        "certification_funnel": [
            {
                "month": m,
                "opened": 30,
                "silent": 22,
                "liveness": 4,
                "invited": 8,
                "blue": 3,
                "held": 2,
                "resumed": i % 2,
            }
            for i, m in enumerate(MONTHS)
        ],
        "risk": {
            "by_colour": {"red": 6, "yellow": 3, "blue": 7},
            "by_region": rolled(6),
            "by_prefix4": rolled(4),
            "by_prefix2": rolled(2),
        },
        "review_backlog": {
            "open": 5,
            "oldest_age_days": 41,
            "by_kind": {"proxy_request": 1, "payment_review": 3, "evidence_after_death": 1},
            "by_region": [{"region": "110101", "count": 4}, {"region": "440103", "count": 1}],
        },
        "dead_letters": [
            {
                "day": "2026-11-24",
                "source": "file:events.jsonl",
                "reason": HOSTILE_REASON,
                "count": 4,
            },
            {
                "day": "2026-11-24",
                "source": "file:events.jsonl",
                "reason": "invalid JSON",
                "count": 1,
            },
            {
                "day": "2026-12-02",
                "source": "kafka:life-events",
                "reason": "invalid JSON",
                "count": 2,
            },
        ],
        "freshness": [
            {
                "source": "civil_affairs",
                "last_received_on": "2026-12-30",
                "last_occurred_on": "2026-12-28",
                "lag_days": 2,
            },
            {
                "source": "health",
                "last_received_on": "2026-12-31",
                "last_occurred_on": "2026-12-31",
                "lag_days": 0,
            },
        ],
        "money": [
            {
                "month": m,
                "instructions": {
                    "pension": {"count": 200 + i, "total_cents": (200 + i) * 312_345},
                    "arrears": {"count": i % 3, "total_cents": (i % 3) * 150_000},
                },
                "skipped": {"held": i % 4, "no_account": 1, "suspended": 2, "review": i % 2},
                "held_for_review": i % 2,
                "overpayment_opened_cents": 312_345 if i == 5 else 0,
                "overpayment_corrected_cents": 0,
            }
            for i, m in enumerate(MONTHS)
        ],
    }


def documented_example() -> dict[str, Any]:
    """The example document in docs/kpis.md, as written there."""
    text = (Path(__file__).parents[2] / "docs" / "kpis.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", text, re.S)
    assert block, "docs/kpis.md has no JSON example"
    return json.loads(block[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("dashboard")
    running = start_server(build_store(folder), folder)
    try:
        yield running
    finally:
        stop_server(running)


def sign_in(server: Server, who: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.post("/dashboard/login", data={"token": who})


def test_the_dashboard_without_a_session_shows_the_sign_in_form(server: Server) -> None:
    page = httpx.get(f"{server.url}/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/dashboard/login"' in page.text
    assert '<label for="token">' in page.text and 'name="token"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert httpx.get(f"{server.url}/dashboard/login").text == page.text


@pytest.mark.parametrize(
    ("role", "regions"), [("operator", ()), ("auditor", ()), ("caseworker", ("11",))]
)
def test_a_staff_token_signs_in_with_an_httponly_strict_cookie(
    server: Server, role: str, regions: tuple[str, ...]
) -> None:
    who = token(f"staff-{role}", role, regions)
    answer = sign_in(server, who)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={who};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=strict"} <= attributes
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("max-age="))
    assert 3500 <= max_age <= 3600  # the cookie ends with the token
    page = httpx.get(f"{server.url}/dashboard", cookies={COOKIE: who})
    assert page.status_code == 200
    assert '<script src="/dashboard/static/dashboard.js"></script>' in page.text
    assert '<label for="filter-region">' in page.text and 'type="month"' in page.text
    assert f"Signed in as {role} staff-{role}" in page.text
    assert 'data-refresh-seconds="30"' in page.text


def test_a_citizen_token_cannot_sign_in(server: Server) -> None:
    citizen = token(SELF, "citizen")
    for answer in (
        sign_in(server, citizen),
        httpx.get(f"{server.url}/dashboard/login", params={"token": citizen}),
    ):
        assert answer.status_code == 403
        assert "A citizen token cannot open it" in answer.text
        assert "set-cookie" not in answer.headers
    # A citizen's token set by hand is no session either.
    page = httpx.get(f"{server.url}/dashboard", cookies={COOKIE: citizen})
    assert page.status_code == 403 and 'action="/dashboard/login"' in page.text


def test_bad_expired_and_empty_tokens_are_refused_with_a_reason(server: Server) -> None:
    claims = {"sub": "ops", "role": "operator", "exp": datetime.now(UTC) - timedelta(minutes=1)}
    expired = jwt.encode(claims, SECRET, algorithm="HS256")
    for who, status, words in (
        ("not-a-token", 401, "not accepted"),
        (expired, 401, "expired"),
        (token("ops", "operator").replace(".", "x", 1), 401, "not accepted"),
        ("   ", 400, "Paste a token"),
    ):
        answer = sign_in(server, who)
        assert answer.status_code == status, who
        assert words in answer.text
        assert "set-cookie" not in answer.headers
    assert sign_in(server, "x" * 20_000).status_code == 413
    page = httpx.get(f"{server.url}/dashboard", cookies={COOKIE: expired})
    assert page.status_code == 401 and "session has ended" in page.text
    assert f'{COOKIE}=""' in page.headers["set-cookie"]


def test_the_login_link_signs_in_and_moves_on_to_the_dashboard(server: Server) -> None:
    who = token("ops", "operator")
    answer = httpx.get(f"{server.url}/dashboard/login", params={"token": who})
    assert answer.status_code == 200
    assert '<meta http-equiv="refresh" content="0; url=/dashboard">' in answer.text
    assert answer.headers["set-cookie"].startswith(f"{COOKIE}={who};")
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"


def test_signing_out_clears_the_cookie(server: Server) -> None:
    for method in ("GET", "POST"):
        answer = httpx.request(
            method, f"{server.url}/dashboard/logout", cookies={COOKIE: token("ops", "operator")}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
        assert answer.headers["set-cookie"].startswith(f'{COOKIE}=""')
        assert "max-age=0" in answer.headers["set-cookie"].lower()


def test_the_page_s_own_script_and_style_are_served_and_nothing_else(server: Server) -> None:
    script = httpx.get(f"{server.url}/dashboard/static/dashboard.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    style = httpx.get(f"{server.url}/dashboard/static/dashboard.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    for name in ("../auth.py", "..%2Fauth.py", "dashboard.py", "secret"):
        assert httpx.get(f"{server.url}/dashboard/static/{name}").status_code == 404
    assert "/dashboard" not in json.dumps(httpx.get(f"{server.url}/openapi.json").json())


def kpi_probe() -> FastAPI:
    """A route that takes its caller from ``kpi_caller``, as ``GET /v1/kpis`` does."""
    app = FastAPI()
    app.state.service = SimpleNamespace(keys=KEYS)
    install_error_handlers(app)

    @app.get("/probe")
    async def probe(who: KpiCallerDep) -> dict[str, Any]:
        return {"sub": who.sub, "role": who.role}

    return app


async def test_kpi_caller_takes_the_bearer_token_or_else_the_session_cookie() -> None:
    transport = httpx.ASGITransport(app=kpi_probe())
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        operator, auditor = token("ops", "operator"), token("aud", "auditor")
        by_header = await client.get("/probe", headers={"Authorization": f"Bearer {operator}"})
        assert by_header.json() == {"sub": "ops", "role": "operator"}
        client.cookies.set(COOKIE, auditor)
        assert (await client.get("/probe")).json() == {"sub": "aud", "role": "auditor"}
        # The header wins over the cookie, and a bad header is not rescued by a good cookie.
        header_wins = await client.get("/probe", headers={"Authorization": f"Bearer {operator}"})
        assert header_wins.json()["sub"] == "ops"
        bad_header = await client.get("/probe", headers={"Authorization": "Bearer junk"})
        assert bad_header.status_code == 401
        client.cookies.set(COOKIE, "junk")
        assert (await client.get("/probe")).status_code == 401
        client.cookies.clear()
        nothing = await client.get("/probe")
        assert nothing.status_code == 401 and "sign in at /dashboard" in nothing.text
        assert nothing.headers["www-authenticate"] == "Bearer"


def embedded(html: str) -> dict[str, Any]:
    block = re.search(r'<script type="application/json" id="kpi-data">(.*?)</script>', html, re.S)
    assert block
    return json.loads(block[1])


def test_the_report_is_one_self_contained_file() -> None:
    kpis = kpi_document()
    html = render_report(kpis)
    assert embedded(html) == kpis
    # Nothing is fetched: no external script, style, image or font, and a policy that forbids it.
    assert not re.search(r"<(link|img|iframe)\b|\s(src|href)=|@import|url\(", html)
    assert "default-src 'none'" in html
    assert html.count("<script") == 2 and html.count("</script>") == 2
    # The hostile reason is data, escaped inside the JSON, never markup.
    assert "<script>alert" not in html
    assert 'data-mode="report"' in html


def test_the_documented_example_makes_a_report() -> None:
    example = documented_example()
    assert embedded(render_report(example)) == example


def test_benefits_report_writes_the_store_s_figures_to_one_file(tmp_path: Path) -> None:
    store = build_store(tmp_path)
    out = tmp_path / "report.html"
    report(store, "2026-01", "2026-06", out, None)
    figures = embedded(out.read_text(encoding="utf-8"))
    assert (figures["from"], figures["to"], figures["as_of"]) == ("2026-01", "2026-06", TODAY)
    assert [row["month"] for row in figures["money"]] == MONTHS[:6]
    report(store, "2026-03", "2026-03", out, "31")
    assert embedded(out.read_text(encoding="utf-8"))["region"] == "31"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.parametrize(
    ("first", "last", "region", "words"),
    [
        ("2026-1", "2026-06", None, "--from must be a month written YYYY-MM"),
        ("2026-01", "2026-13", None, "--to must be a month"),
        ("2026-07", "2026-06", None, "comes after --to"),
        ("2026-01", "2026-06", "123", "--region takes a 2-, 4- or 6-digit"),
    ],
)
def test_benefits_report_refuses_what_it_cannot_do(
    tmp_path: Path, first: str, last: str, region: str | None, words: str
) -> None:
    with pytest.raises(UserError, match=words):
        report(f"sqlite:///{tmp_path / 'none.db'}", first, last, tmp_path / "r.html", region)


def test_benefits_report_needs_an_existing_store_and_a_file_to_write(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound):
        report(f"sqlite:///{tmp_path / 'none.db'}", "2026-01", "2026-02", tmp_path / "r.html", None)
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(UserError, match="is a directory"):
        report(build_store(tmp_path), "2026-01", "2026-02", tmp_path, None)
