"""The dashboard (GET /) in a real browser (Debian's chromium through Playwright; see conftest.py), against
`llmgw dev`: requests sent from the page are answered, logged and counted exactly; streamed answers render as
they arrive; the strategy comparison shows different providers; a wrong key is said in words; the page fits a
phone and works from the keyboard. Every page is also checked for console errors and CSP violations.
Screenshots (desktop 1280x900 and phone 390x844, light and dark) go to build/test-reports/screenshots."""
import json
import time
from decimal import Decimal

import httpx
import pytest

from conftest import DESKTOP, PHONE, screenshot

STRATEGIES = ["cost", "latency", "capability", "round-robin"]


def is_chat(resp) -> bool:
    return resp.url.endswith("/v1/chat/completions") and resp.request.method == "POST"


def ledger_totals(dev) -> tuple:
    """(requests, cost) over the page's default range (the last hour), asked of the API directly."""
    since = str(int(time.time() * 1000) - 3600_000)
    r = httpx.get(f"{dev.url}/v1/analytics/summary", params={"from": since}, timeout=10)
    row = r.json()["data"][0]
    return row["requests"], Decimal(row["cost_usd"])


def tiles(page) -> tuple:
    req = page.get_attribute("#tile-requests", "data-value")
    cost = page.get_attribute("#tile-cost", "data-value")
    return (int(req) if req else None), (Decimal(cost) if cost else None)


def wait_tiles(page, want: tuple, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tiles(page) == want:
            return
        page.wait_for_timeout(200)
    pytest.fail(f"the tiles show {tiles(page)} (requests, cost), want {want}")


def send(page, strategy: str, stream: bool) -> dict:
    """Sends the form with strategy; returns the answer's headers (lower-case names) and status."""
    page.select_option("#strategy", strategy)
    page.set_checked("#stream", stream)
    with page.expect_response(is_chat) as info:
        page.click("#send")
    resp = info.value
    headers = resp.all_headers()
    page.wait_for_function("(id) => document.querySelector('#answer').dataset.requestId === id",
                           arg=headers["x-request-id"])
    return {"status": resp.status, **headers}


def test_each_strategy_is_logged_and_counted_exactly(dev_sim, open_page):
    """Against `llmgw dev --simulate`: one prompt per strategy. Each answer's log row names the provider and
    strategy of its headers, and the tiles move by exactly one request and that answer's x-llmgw-cost-usd."""
    page, _ = open_page(dev_sim.url)
    assert page.inner_text("#title") == ("Route requests across multiple LLM providers and compare cost, latency, "
                                         "and availability strategies")
    page.fill("#prompt", "Name three reasons to route between LLM providers.")
    for strategy in STRATEGIES:
        before = ledger_totals(dev_sim)
        wait_tiles(page, before)  # the page has caught up with the ledger before the request
        got = send(page, strategy, stream=False)
        assert got["status"] == 200, got
        assert got["x-llmgw-strategy"] == strategy
        assert got.get("x-llmgw-simulated") == "true", "a simulated provider answered without saying so"
        cost = Decimal(got["x-llmgw-cost-usd"])
        assert page.get_attribute("#d-cost", "data-value") == got["x-llmgw-cost-usd"]
        assert page.inner_text("#d-provider") == got["x-llmgw-provider"]
        assert page.locator("#answer-badges [data-testid=sim-badge]").count() == 1
        row = page.locator(f"tr[data-testid=log-row][data-request-id='{got['x-request-id']}'][data-final=true]")
        row.wait_for(timeout=20_000)
        assert row.locator("[data-testid=log-provider]").inner_text().split()[0] == got["x-llmgw-provider"]
        assert row.locator("[data-testid=log-strategy]").inner_text() == strategy
        assert row.locator("[data-testid=sim-badge]").count() == 1
        wait_tiles(page, (before[0] + 1, before[1] + cost))
    assert page.is_visible("[data-testid=sim-banner]")
    assert page.locator("tr[data-testid=provider-row] [data-testid=sim-badge]").count() >= 4
    active = int(page.get_attribute("#tile-providers", "data-value"))
    assert active >= 4


def test_streamed_answer_renders_progressively(dev_slow_openai, open_page):
    """A streamed answer appears piece by piece: a provider (tests/fakes/fake_openai.py, "slowstream")
    sends a word every 100 ms through `llmgw dev`, and the answer's text is seen growing at least three
    times before it is complete, with its time to first token well before its total latency."""
    page, _ = open_page(dev_slow_openai.url)
    page.fill("#model", "gpt-4o-mini")
    page.fill("#prompt", "slowstream 12 words")
    page.evaluate("""() => {
        window.__growth = [];
        const target = document.querySelector('#answer-text');
        new MutationObserver(() => window.__growth.push([performance.now(), target.textContent.length]))
          .observe(target, {subtree: true, characterData: true, childList: true});
    }""")
    got = send(page, "cost", stream=True)
    assert got["status"] == 200 and got["content-type"].startswith("text/event-stream")
    growth = page.evaluate("window.__growth")
    lengths = [n for _, n in growth if n > 0]
    assert len(set(lengths)) >= 3, f"the text grew only {len(set(lengths))} times: {growth}"
    assert lengths == sorted(lengths), growth
    times = [t for t, n in growth if n > 0]
    assert times[-1] - times[0] >= 500, f"the pieces arrived together: {growth}"  # 12 words 100 ms apart
    final = page.inner_text("#answer-text")
    assert final.split() == [f"w{i}" for i in range(12)]
    ttft, total = page.inner_text("#d-ttft"), page.inner_text("#d-latency")
    assert ttft.endswith(" ms") and (total.endswith(" ms") or total.endswith(" s"))
    total_ms = float(total.split()[0]) * (1000 if total.endswith(" s") else 1)
    assert float(ttft.split()[0]) < total_ms - 500
    assert page.inner_text("#d-provider") == "openai"


def test_compare_strategies(dev_sim_steady, open_page):
    """Compare strategies sends the prompt four times; with simulated providers at different prices and
    speeds, the strategies do not all pick the same provider (no simulated failures here: a fallback would
    show the next choice, not the strategy's own)."""
    page, _ = open_page(dev_sim_steady.url)
    page.fill("#prompt", "Summarise the trade-off between cost and latency in one sentence.")
    page.click("#compare")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=compare-card]').length === 4", timeout=60_000)
    cards = page.locator("[data-testid=compare-card]")
    seen = {}
    for i in range(4):
        card = cards.nth(i)
        assert card.locator("[data-testid=compare-error]").count() == 0, card.inner_text()
        seen[card.get_attribute("data-strategy")] = card.get_attribute("data-provider")
        assert card.locator("[data-testid=c-cost]").inner_text().startswith("$")
        assert card.locator("[data-testid=c-latency]").inner_text().endswith("ms")
    assert sorted(seen) == sorted(STRATEGIES)
    assert len(set(seen.values())) >= 2, f"every strategy picked the same provider: {seen}"
    send(page, "capability", stream=True)  # an answer beside the comparison, for the screenshots
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(600)  # the charts redraw at the new width
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            screenshot(page, f"dashboard-{name}-{scheme}")


def test_wrong_key_is_said_clearly(dev_keyed, open_page):
    """With a tenant key configured, a wrong key gets a sentence that says the key was refused (the page
    stays whole), a missing one a sentence that asks for it; the right key clears the message."""
    # the browser logs each refused call; the page must still explain it
    page, _ = open_page(dev_keyed.url, allow=[r"status of 401"])
    status = page.locator("[data-testid=status-error]")
    status.wait_for()
    assert "needs a key (401)" in status.inner_text()
    page.fill("#key", "sk-llmgw-this-is-not-the-key")
    page.click("#key-save")
    page.wait_for_function("() => document.querySelector('[data-testid=status-error]').textContent.includes('refused')")
    assert "The key was refused (401)" in status.inner_text()
    assert "Incorrect or missing API key" in status.inner_text()  # the error body's own message
    assert page.inner_text("#key-state") == "key set for this tab"
    assert page.is_visible("#title") and page.is_visible("#send")  # not a blank page
    got = send(page, "cost", stream=False)
    assert got["status"] == 401
    assert "The key was refused (401)" in page.inner_text("[data-testid=answer-error]")
    page.click("#key-clear")
    page.wait_for_function("() => document.querySelector('[data-testid=status-error]').textContent.includes('needs a key')")
    assert page.inner_text("#key-state") == "no key"
    assert page.evaluate("sessionStorage.getItem('llmgw.key')") is None
    page.fill("#key", dev_keyed.key)
    page.click("#key-save")
    page.wait_for_function("() => document.querySelector('[data-testid=status-error]').hidden")
    assert page.evaluate("sessionStorage.getItem('llmgw.key')") == dev_keyed.key
    assert page.input_value("#key") == ""  # not left on screen
    got = send(page, "cost", stream=False)
    assert got["status"] == 200


def tab_to(page, element_id: str, limit: int = 80) -> None:
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    pytest.fail(f"#{element_id} was not reached with Tab")


def no_horizontal_scroll(page) -> None:
    width, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width <= client, f"the page scrolls sideways: {width} > {client}"


def test_phone_width_and_keyboard(dev_echo, open_page):
    """At 390x844 nothing scrolls sideways, before and after answers and a comparison; the form works from
    the keyboard alone: Tab to the prompt, type, Tab to Send, Enter; and again with Space."""
    page, _ = open_page(dev_echo.url, viewport=PHONE)
    no_horizontal_scroll(page)
    page.keyboard.press("Tab")  # the skip link first
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")  # skips to the prompt
    assert page.evaluate("document.activeElement.id") == "prompt"
    page.keyboard.press("Control+A")
    page.keyboard.type("typed from the keyboard")
    tab_to(page, "send")
    with page.expect_response(is_chat) as info:
        page.keyboard.press("Enter")
    assert info.value.status == 200
    page.wait_for_function("() => document.querySelector('#answer-text').textContent === 'typed from the keyboard'")
    first = page.get_attribute("#answer", "data-request-id")
    tab_to(page, "send")
    with page.expect_response(is_chat) as info:
        page.keyboard.press("Space")
    second = info.value.all_headers()["x-request-id"]
    assert second != first
    page.wait_for_function("(id) => document.querySelector('#answer').dataset.requestId === id", arg=second)
    tab_to(page, "compare")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=compare-card]').length === 4")
    page.locator("tr[data-testid=log-row]").first.wait_for()
    no_horizontal_scroll(page)
    # a focused control is visibly marked (the outline app.css gives :focus-visible)
    tab_to(page, "send")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_theme_toggle_and_range(dev_echo, open_page):
    """The theme button cycles auto, light, dark (kept across a reload); the time range picker refetches
    the overview with that range."""
    page, _ = open_page(dev_echo.url, color_scheme="light")
    bg = lambda: page.evaluate("getComputedStyle(document.body).backgroundColor")  # noqa: E731
    light = bg()
    page.click("#theme")
    assert page.inner_text("#theme") == "Theme: light" and bg() == light
    page.click("#theme")
    assert page.inner_text("#theme") == "Theme: dark" and bg() != light
    page.reload()
    page.wait_for_function("() => document.querySelector('#updated').textContent !== ''")
    assert page.inner_text("#theme") == "Theme: dark" and bg() != light
    with page.expect_request(lambda r: "/v1/analytics/summary" in r.url and "group_by=day" in r.url):
        page.select_option("#range", "30d")
    with page.expect_request(lambda r: "/v1/analytics/summary" in r.url and "group_by=minute" in r.url):
        page.select_option("#range", "15m")


def test_served_files_are_what_the_page_loads(dev_echo, open_page):
    """The page loads only from its own origin, every file compressed, and nothing it asks for is missing."""
    page, _ = open_page(dev_echo.url)
    entries = page.evaluate("performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus])")
    for name, status in entries:
        assert name.startswith(dev_echo.url), f"fetched from elsewhere: {name}"
        assert status in (200, 304) or "/v1/providers" in name, (name, status)
    nav = json.loads(page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])"))
    assert nav["encodedBodySize"] < nav["decodedBodySize"], "index.html was not sent compressed"
