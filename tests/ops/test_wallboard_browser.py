"""The wallboard in a real headless Chromium (Debian's, driven by Playwright) against a real
`acd serve`: it loads, goes live on one event stream, updates when a call is offered, ticks the
longest wait by itself, and a screenshot is kept in test-artifacts/."""

from __future__ import annotations

import os
from typing import Any

import pytest

from acd.config import load_config
from tests.ops.conftest import ROOT

CHROMIUM = os.environ.get("ACD_CHROMIUM", "/usr/bin/chromium")


def browser_or_skip() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright); .ci/run installs it")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium); .ci/run installs it")
    return sync_playwright


def agents_for(config: Any, skill: str, n: int, level: int = 1) -> list[str]:
    ids = [a.id for a in config.agents if a.skills.get(skill, 0) >= level]
    return ids[:n]


def stage_a_busy_morning(acd: Any) -> None:
    """Agents in every state, calls answered, abandoned and waiting: a board worth a screenshot."""
    config = load_config(ROOT / "config")
    n = iter(range(1, 100_000))

    def ev(type_: str, **fields: Any) -> dict[str, Any]:
        return {"id": f"b{next(n)}", "type": type_, **fields}

    def offer(call_id: str, skill: str) -> dict[str, Any]:
        return ev("call.offered", call_id=call_id, caller="+33612345678", skill=skill)

    used: set[str] = set()
    plan = {
        "impot_revenu": (14, 4),
        "prelevement_source": (10, 3),
        "paiement": (6, 2),
        "espace_particulier": (5, 0),
    }
    for skill, (count, level) in plan.items():
        ids = [a for a in agents_for(config, skill, 200, level) if a not in used][:count]
        used.update(ids)
        acd.events(*(ev("agent.state", agent_id=a, state="available") for a in ids))
        results = acd.events(*(offer(f"{skill}-{i}", skill) for i in range(count + 2)))["results"]
        connected = [
            (r["decision"]["call_id"], r["decision"]["agent_id"])
            for r in results
            if r["decision"]["action"] == "connect"
        ]
        acd.events(*(ev("call.answered", call_id=c, agent_id=a) for c, a in connected))
        # A few calls end and their agents go to wrap-up; one agent pauses; one waiting caller hangs up.
        acd.events(*(ev("call.ended", call_id=c, reason="completed") for c, _ in connected[: count // 3]))
        acd.events(ev("call.ended", call_id=f"{skill}-{count + 1}", reason="abandoned"))
        acd.events(ev("agent.state", agent_id=connected[-1][1], state="paused", reason="break"))


def test_the_wallboard_goes_live_and_updates_when_a_call_is_offered(acd_process, artifacts):
    sync_playwright = browser_or_skip()
    acd = acd_process()
    stage_a_busy_morning(acd)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(acd.url + "/wallboard")
            page.wait_for_selector('#connection[data-state="live"]', timeout=10_000)
            card = page.locator('article[data-skill="lsf"]')
            card.wait_for(timeout=5_000)
            assert card.locator('[data-field="waiting"]').inner_text() == "0"
            assert page.locator("article.skill").count() == 5

            # A caller for sign language, nobody logged in with lsf: the board shows it, pushed (the
            # page is not reloaded). The push comes within a second on a quiet machine; the timeout
            # only stops a test that would hang.
            acd.events(
                {
                    "id": "live-1",
                    "type": "call.offered",
                    "call_id": "live-1",
                    "caller": "+33611111111",
                    "skill": "lsf",
                }
            )
            page.wait_for_function(
                """() => document.querySelector('article[data-skill="lsf"] [data-field="waiting"]')
                          .textContent === "1" """,
                timeout=15_000,
            )
            assert card.get_attribute("data-alert") == "true"  # calls waiting, nobody staffed
            first = card.locator('[data-field="oldest"]').inner_text()
            page.wait_for_timeout(2_100)  # the longest wait ticks in the page, with no request
            assert card.locator('[data-field="oldest"]').inner_text() != first

            rate = page.locator('#summary [data-field="answer_rate"]').inner_text()
            assert rate.endswith("%"), rate
            assert page.locator("#overflow").get_attribute("data-active") in ("true", "false")
            page.screenshot(path=str(artifacts / "wallboard.png"))
        finally:
            browser.close()
    assert not errors, errors
    assert all(u.startswith(acd.url) for u in requests), requests  # nothing from outside (no CDN)
    assert sum(u.endswith("/wallboard/events") for u in requests) == 1  # one stream, no polling
    assert (artifacts / "wallboard.png").stat().st_size > 10_000
