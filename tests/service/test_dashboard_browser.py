"""The dashboard in a real browser (Debian's headless Chromium through Playwright) against a real
server over a demo store: sign in through the form, figures equal to ``GET /v1/kpis`` and to the
store's own payroll, filters, no console error, no personal data anywhere on the page."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.dashboard import COOKIE, render_report
from tests.cli import cli_json
from tests.service.conftest import SELF, Server, start_server, stop_server, token
from tests.service.test_dashboard import HOSTILE_REASON, kpi_document

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's chromium at /usr/bin/chromium"
        " (`./dev test` installs it when run as root: apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need playwright (pip install -e '.[test]')"
)


@dataclass
class Demo:
    store: str
    national_ids: list[str]
    names: list[str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """A demo-sized store, made by `benefits demo` in a folder of its own."""
    folder = tmp_path_factory.mktemp("dashboard-demo")
    store = f"sqlite:///{folder / 'demo.db'}"
    subprocess.run(
        [sys.executable, "-m", "engine", "demo", "--people", "300", "--store", store],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    national_ids, names = [], []
    for line in (folder / "var" / "demo" / "life-events.jsonl").read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("type") == "person_registered":
            data = event.get("data")
            if isinstance(data, dict):
                national_ids += [v for v in [data.get("national_id")] if isinstance(v, str)]
                names += [v for v in [data.get("name")] if isinstance(v, str) and v.strip()]
    assert len(national_ids) >= 300 and len(names) >= 300
    return Demo(store, sorted(set(national_ids)), sorted(set(names)))


@pytest.fixture(scope="module")
def server(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(demo.store, tmp_path_factory.mktemp("dashboard-serve"), "2026-12-31")
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    page: Any
    problems: list[str]


@pytest.fixture()
def watched(browser: Any) -> Iterator[Watched]:
    """A fresh page (no cookies) whose console errors, page errors and dialogs are collected."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else 0)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    try:
        yield Watched(page, problems)
    finally:
        context.close()


def figures(page: Any) -> dict[str, str]:
    """Every figure on the page by its data-kpi name (each name once)."""
    pairs = page.eval_on_selector_all(
        "[data-kpi]", "nodes => nodes.map(n => [n.dataset.kpi, n.dataset.value])"
    )
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), "a data-kpi name is used twice"
    return dict(pairs)


def wait_for(page: Any, query: str | None = None) -> None:
    """Until the page has drawn the figures of ``query`` (any, when None)."""
    wanted = "" if query is None else f'[data-query="{query}"]'
    page.wait_for_selector(f"body[data-state=ready]{wanted}, body[data-state=error]{wanted}")
    if page.locator("body").get_attribute("data-state") == "error":
        raise AssertionError(
            f"the page could not load the figures: {page.locator('#error').inner_text()}"
            " (GET /v1/kpis must take the session cookie: api.dashboard.KpiCallerDep)"
        )


def kpis(server: Server, who: str, **params: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{server.url}/v1/kpis", params=params, headers={"Authorization": f"Bearer {who}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def shown_equals(shown: dict[str, str], k: dict[str, Any]) -> None:
    """The page shows the figures of ``k`` (a /v1/kpis document)."""

    def same(name: str, value: Any) -> None:
        expected = "" if value is None else str(value)
        if isinstance(value, float):
            assert float(shown[name]) == pytest.approx(value), name
        else:
            assert shown[name] == expected, name

    same("range-from", k["from"])
    same("range-to", k["to"])
    same("region", k["region"] or "")
    same("as-of", k["as_of"])
    same("automation-closed-total", k["automation"]["total"]["closed"])
    same("automation-automated-total", k["automation"]["total"]["automated"])
    same("automation-rate-total", k["automation"]["total"]["rate"])
    for row in k["automation"]["by_month"]:
        same(f"automation-closed-{row['month']}", row["closed"])
    for row in k["certification_funnel"]:
        for stage in ("opened", "silent", "liveness", "invited", "blue", "held", "resumed"):
            same(f"funnel-{stage}-{row['month']}", row[stage])
    for colour in ("red", "yellow", "blue"):
        same(f"risk-{colour}", k["risk"]["by_colour"].get(colour, 0))
    for group in ("by_region", "by_prefix4", "by_prefix2"):
        for row in k["risk"][group]:
            same(f"risk-region-{row['region']}-red", row["red"])
    backlog = k["review_backlog"]
    same("backlog-open", backlog["open"])
    same("backlog-oldest-age-days", backlog["oldest_age_days"])
    for kind, count in backlog["by_kind"].items():
        same(f"backlog-{kind}", count)
    same("dead-letters-total", sum(d["count"] for d in k["dead_letters"]))
    for row in k["freshness"]:
        same(f"freshness-lag-{row['source']}", row["lag_days"])
    for row in k["latency"]["by_event_type"]:
        same(f"latency-p95-{row['type']}", row["p95_ms"])
    for row in k["latency"]["reporting_delay_days"]:
        same(f"delay-max-{row['source']}", row["max"])
    months = [row["month"] for row in k["money"]]
    assert (
        sorted(
            n[len("money-pension-count-") :] for n in shown if n.startswith("money-pension-count-")
        )
        == months
    )
    for row in k["money"]:
        month = row["month"]
        for kind in ("pension", "arrears"):
            same(f"money-{kind}-count-{month}", row["instructions"][kind]["count"])
            same(f"money-{kind}-cents-{month}", row["instructions"][kind]["total_cents"])
        for reason, count in row["skipped"].items():
            same(f"skipped-{reason}-{month}", count)
        same(f"held-for-review-{month}", row["held_for_review"])
        same(f"overpayment-opened-cents-{month}", row["overpayment_opened_cents"])


def test_the_dashboard_shows_the_store_s_figures_and_no_personal_data(
    demo: Demo, server: Server, watched: Watched
) -> None:
    page, operator = watched.page, token("ops-1", "operator")
    # Without a session: the sign-in form.
    page.goto(f"{server.url}/dashboard")
    assert page.get_by_label("Staff token (operator, auditor or caseworker)").is_visible()
    page.get_by_label("Staff token (operator, auditor or caseworker)").fill(operator)
    page.get_by_role("button", name="Sign in").click()
    wait_for(page, "")
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    whole_year = kpis(server, operator)
    shown = figures(page)
    shown_equals(shown, whole_year)
    # ... and the store's own payroll says the same of every month.
    held_somewhere = False
    for row in whole_year["money"]:
        payroll = cli_json("payroll", "--month", row["month"], "--store", demo.store)
        assert shown[f"skipped-held-{row['month']}"] == str(payroll["skipped"].get("held", 0))
        pension = payroll["by_kind"].get("pension", {"count": 0, "total_cents": 0})
        assert shown[f"money-pension-count-{row['month']}"] == str(pension["count"])
        assert shown[f"money-pension-cents-{row['month']}"] == str(pension["total_cents"])
        held_somewhere |= payroll["skipped"].get("held", 0) > 0
    assert held_somewhere, "the demo should hold someone's payments in some month"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-top.png"))  # docs/dashboard.png is one

    # A region prefix: fewer figures, the same as the API's for that prefix.
    prefix = busiest_prefix(whole_year)
    page.get_by_label("Region prefix", exact=True).fill(prefix)
    page.get_by_role("button", name="Apply").click()
    query = f"from={whole_year['from']}&to={whole_year['to']}&region={prefix}"
    wait_for(page, query)
    in_region = kpis(
        server, operator, region=prefix, **{"from": whole_year["from"], "to": whole_year["to"]}
    )
    narrowed = figures(page)
    shown_equals(narrowed, in_region)
    assert int(narrowed["automation-closed-total"]) < int(shown["automation-closed-total"])

    # A range of months: three months, the same as the API's.
    page.get_by_label("From", exact=True).fill("2026-03")
    page.get_by_label("To", exact=True).fill("2026-05")
    page.get_by_role("button", name="Apply").click()
    wait_for(page, f"from=2026-03&to=2026-05&region={prefix}")
    spring = kpis(server, operator, region=prefix, **{"from": "2026-03", "to": "2026-05"})
    shown_equals(figures(page), spring)
    assert [row["month"] for row in spring["money"]] == ["2026-03", "2026-04", "2026-05"]

    assert watched.problems == []
    html = page.content()
    leaks = [v for v in demo.national_ids + demo.names if v in html]
    assert leaks == [], f"personal data on the page: {leaks[:5]}"
    served = json.dumps([whole_year, in_region, spring], ensure_ascii=False)
    assert [v for v in demo.national_ids + demo.names if v in served] == []


def busiest_prefix(k: dict[str, Any]) -> str:
    """The 2-digit prefix with the most people at risk (some, not all, of the store)."""
    rows = k["risk"]["by_prefix2"]
    assert len(rows) >= 2, "the demo should spread people over several regions"
    return max(rows, key=lambda r: (r["red"] + r["yellow"] + r["blue"], r["region"]))["region"]


def test_a_citizen_token_cannot_sign_in_through_the_form(server: Server, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{server.url}/dashboard")
    page.get_by_label("Staff token (operator, auditor or caseworker)").fill(token(SELF, "citizen"))
    page.get_by_role("button", name="Sign in").click()
    assert "A citizen token cannot open it" in page.get_by_role("alert").inner_text()
    assert page.context.cookies() == []
    assert page.locator("#figures").count() == 0


def test_the_login_link_opens_the_dashboard(server: Server, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{server.url}/dashboard/login?token={token('ops-2', 'operator')}")
    page.wait_for_url(f"{server.url}/dashboard")
    wait_for(page)
    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(f"{server.url}/dashboard")
    assert page.get_by_role("button", name="Sign in").is_visible()
    assert page.context.cookies() == []
    assert watched.problems == []


def test_the_page_draws_every_figure_group_of_the_documented_shape(
    server: Server, watched: Watched
) -> None:
    """Whatever the store holds, a full year of every group (here served by the browser itself in
    place of /v1/kpis) is drawn as charts and tables, outside text stays text, and the figures
    are fetched again every 30 seconds."""
    page, document = watched.page, kpi_document()
    asked: list[str] = []

    def answer(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(document))

    page.route("**/v1/kpis*", answer)
    page.clock.install()
    page.goto(f"{server.url}/dashboard/login?token={token('ops-3', 'operator')}")
    wait_for(page)
    shown_equals(figures(page), document)
    assert len(asked) == 1
    page.clock.run_for(29_000)
    assert len(asked) == 1
    page.clock.run_for(2_000)
    wait_for(page, "from=2026-01&to=2026-12")
    assert len(asked) == 2 and asked[1].endswith("/v1/kpis?from=2026-01&to=2026-12")
    for group in (
        "automation",
        "latency",
        "reporting-delay",
        "funnel",
        "risk",
        "backlog",
        "dead-letters",
        "freshness",
        "money",
    ):
        section = page.locator(f"section#{group}")
        assert section.locator("h2").count() == 1
        assert section.locator("svg[role=img]").count() >= 1, group
        assert section.locator("table th[scope=col]").count() >= 2, group
    assert page.get_by_text(HOSTILE_REASON).count() >= 1
    assert watched.problems == []


def test_the_report_file_needs_no_network(tmp_path: Path, watched: Watched) -> None:
    page, document = watched.page, kpi_document()
    out = tmp_path / "report.html"
    out.write_text(render_report(document), encoding="utf-8")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.context.set_offline(True)
    page.goto(out.as_uri())
    wait_for(page)
    assert [url for url in asked if url != out.as_uri()] == []
    shown_equals(figures(page), document)
    assert page.locator("#filters").count() == 0
    assert watched.problems == []
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(out, ARTIFACTS / "report.html")
