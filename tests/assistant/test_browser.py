"""The assistant in a real browser (Playwright driving Debian chromium) against the real server, with the
demo knowledge base (``CITYAI_ASSISTANT_DEMO_DATA=builtin``: the 10 demo procedures and 2 FAQ pages).

- A citizen, not signed in, asks on ``/assistant``: sees the documents for a birth registration with a
  citation to procedure DEMO-HT-01 and rates the answer; answers a clarifying question by clicking an option;
  is politely declined a question about the weather; reloads the page and continues the same conversation;
  an error from the API is shown in an alert.
- An agency's own site (another origin) adds the one ``<script src=".../assistant/widget.js">`` tag: its
  button opens the chat in a frame, which answers.
- A signed-in staff member sees those questions counted on ``/assistant/analytics``.

Browser console errors and failed requests fail the test (as in ``tests/web/test_browser.py``).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.serverproc import ADMIN_EMAIL, Server, cityai_env
from tests.web.test_browser import DESKTOP, PHONE, _log_in, _new_page, browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

ENV = {"CITYAI_ARGON2_TIME_COST": "1", "CITYAI_ARGON2_MEMORY_KIB": "1024", "CITYAI_LOG_LEVEL": "WARNING",
       "CITYAI_ASSISTANT_DEMO_DATA": "builtin"}
# The agencies (the demo's owner "hcmc") and the assistant's demo only: `cityai serve --demo` would load
# every module's demo data (datasets, OCR'd documents), which takes half a minute.
LOAD_DEMO = """
from cityai.core.config import Settings
from cityai.core.platform import Platform
from cityai.core.demo import load_core_demo
from cityai.assistant.demo import load_demo
from cityai.assistant import kb
platform = Platform(Settings())
platform.startup()
with platform.system_context() as ctx:
    load_core_demo(ctx)
    print("\\n".join(load_demo(ctx)))
kb.close()
platform.close()
"""
BIRTH = "Đăng ký khai sinh cần giấy tờ gì?"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    home = tmp_path_factory.mktemp("assistant-home")
    r = subprocess.run([sys.executable, "-c", LOAD_DEMO], check=False, env=cityai_env(home, **ENV),
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "thủ tục minh họa" in r.stdout, r.stdout + r.stderr
    with Server(home, env_extra=ENV) as server:
        yield server


@contextlib.contextmanager
def agency_site(pages: dict[str, str]):
    """An agency's own website: another origin (``localhost``, not the server's ``127.0.0.1``) on another
    port. (A made-up public host name would not do: Chrome keeps public pages from loading scripts from
    loopback addresses.)"""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the http.server API
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            data = (body or "not found").encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _agency_page(head: str = "") -> str:
    return ('<!doctype html><html lang="vi"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            f"<title>Phường Bến Thành</title>{head}</head><body><h1>Phường Bến Thành</h1>"
            "<p>Cổng thông tin điện tử.</p></body></html>")


def _ask(page, question: str, timeout: float = 15_000):
    """Type a question and press Enter; the new answer once it is there."""
    answers = page.get_by_test_id("answer")
    before = answers.count()
    page.get_by_test_id("question").fill(question)
    page.get_by_test_id("question").press("Enter")
    answers.nth(before).wait_for(timeout=timeout)
    return answers.nth(before)


def _conversation_id(page) -> str | None:
    raw = page.evaluate("() => sessionStorage.getItem('cityai.assistant.web')")
    return json.loads(raw)["id"] if raw else None


def test_citizen_chat_widget_and_staff_analytics(site, browser):  # noqa: F811
    """One test, so that the server and its demo knowledge base are set up once even when the suite runs in
    several processes (pytest -n): the scenarios below each use their own browser context."""
    _citizen_chat(site, browser)
    _widget_on_an_agency_site(site, browser)
    _staff_analytics(site, browser)


def _citizen_chat(site, browser) -> None:  # noqa: F811
    from playwright.sync_api import expect

    errors: list[str] = []
    context, page = _new_page(browser, DESKTOP, errors)
    base = site.url
    try:
        page.goto(base + "/assistant")
        expect(page.locator("html")).to_have_attribute("lang", "vi")
        expect(page.get_by_role("heading", name="Trợ lý ảo dịch vụ công", level=1)).to_be_visible()
        expect(page.get_by_test_id("messages")).to_have_attribute("aria-live", "polite")
        expect(page.get_by_test_id("internal-mode")).to_have_count(0)  # anonymous: public mode only

        # 1. the documents for a birth registration, as a list, with citations to DEMO-HT-01
        answer = _ask(page, BIRTH, timeout=60_000)  # the server loads its embedding model first
        expect(answer).to_have_attribute("data-status", "answered")
        expect(answer.get_by_test_id("answer-text").locator("li", has_text="Giấy chứng sinh")).to_be_visible()
        cited = answer.locator("[data-testid=citation][data-source-id='DEMO-HT-01']")
        expect(cited.first).to_be_visible()
        expect(cited.first).to_contain_text("Thủ tục")
        # a marker [n] leads to its citation and opens the quoted passage
        marker = answer.locator("a.asst-cite").last
        n = marker.get_attribute("data-cite")
        marker.click()
        target = answer.locator("[data-testid=citation]").nth(int(n) - 1)
        expect(target).to_be_focused()
        expect(target.locator("details")).to_have_attribute("open", "")
        # rating
        answer.get_by_test_id("feedback-up").click()
        expect(answer.get_by_test_id("feedback-thanks")).to_have_text("Cảm ơn bạn đã góp ý")
        conversation = _conversation_id(page)
        assert conversation

        # 2. a clarifying question: the second option is clicked
        clarify = _ask(page, "cấp bản sao trích lục hộ tịch")
        expect(clarify).to_have_attribute("data-status", "clarify")
        options = clarify.get_by_test_id("option")
        expect(options).to_have_count(2)
        second = options.nth(1).inner_text()
        assert second.startswith("2. ") and "Cấp bản sao trích lục hộ tịch" in second, second
        options.nth(1).click()
        chosen = page.get_by_test_id("answer").nth(2)
        expect(chosen).to_have_attribute("data-status", "answered")
        expect(chosen.get_by_test_id("answer-text")).to_contain_text("Cấp bản sao trích lục hộ tịch")
        expect(page.get_by_test_id("question-bubble").nth(2)).to_have_text(re.compile(re.escape(second)))
        expect(options.first).to_be_disabled()  # an answered clarification cannot be answered again

        # 3. out of scope: a polite decline, marked as such
        decline = _ask(page, "Thời tiết hôm nay thế nào?")
        expect(decline).to_have_attribute("data-status", "not_found")
        expect(decline.get_by_test_id("status-badge")).to_have_text("Ngoài phạm vi hỗ trợ")
        expect(decline.get_by_test_id("answer-text")).to_contain_text("Xin lỗi, tôi chỉ hỗ trợ")

        # what the user typed is shown as text, never as markup
        echo = "<img src=x onerror=alert(1)> khai sinh <b>ở đâu</b>"
        _ask(page, echo)
        expect(page.get_by_test_id("question-bubble").last).to_contain_text(echo)
        expect(page.get_by_test_id("messages").locator("img")).to_have_count(0)

        # 4. a reload continues the same conversation
        assert _conversation_id(page) == conversation
        page.reload()
        expect(page.get_by_test_id("answer")).to_have_count(5)
        expect(page.get_by_test_id("answer").first).to_contain_text("Giấy chứng sinh")
        expect(page.get_by_test_id("answer").first.get_by_test_id("feedback-thanks")).to_be_visible()
        page.get_by_role("button", name="Lệ phí đăng ký kết hôn bao nhiêu?").click()  # a sample question
        expect(page.get_by_test_id("answer")).to_have_count(6)
        expect(page.get_by_test_id("answer").last).to_contain_text("Đăng ký kết hôn")
        assert _conversation_id(page) == conversation
        page.screenshot(path="/tmp/cityai-assistant-chat.png", full_page=True)  # for people to look at
        page.set_viewport_size(PHONE)  # the conversation fits a phone
        width, screen = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= screen + 1, f"/assistant is {width}px wide on a {screen}px phone"
        page.screenshot(path="/tmp/cityai-assistant-phone.png")
        page.set_viewport_size(DESKTOP)

        # 5. an error from the API (here a rate limit) is shown with its detail; the question stays typed
        detail = "Bạn đã hỏi quá nhiều trong một phút. Vui lòng thử lại sau 42 giây."
        page.route("**/api/v1/assistant/ask", lambda route: route.fulfill(
            status=429, headers={"Retry-After": "42"}, content_type="application/problem+json",
            body=json.dumps({"type": "/problems/too-many-attempts", "title": "Quá nhiều yêu cầu",
                             "status": 429, "detail": detail})))
        page.get_by_test_id("question").fill("Đăng ký kết hôn cần giấy tờ gì?")
        page.get_by_test_id("send").click()
        expect(page.get_by_test_id("error")).to_have_text(detail)
        expect(page.get_by_test_id("question")).to_have_value("Đăng ký kết hôn cần giấy tờ gì?")
        expect(page.get_by_test_id("answer")).to_have_count(6)
        page.unroute("**/api/v1/assistant/ask")
        expected = [e for e in errors if "429" in e]  # the refused request itself
        errors[:] = [e for e in errors if "429" not in e]
        assert expected, "the 429 was not seen"

        # 6. a new conversation
        page.get_by_test_id("new-conversation").click()
        expect(page.get_by_test_id("answer")).to_have_count(0)
        assert _conversation_id(page) is None
        assert errors == [], errors
    finally:
        context.close()


def _staff_analytics(site, browser) -> None:  # noqa: F811
    """Staff (signed in) see the questions of the other scenarios counted."""
    from playwright.sync_api import expect

    errors: list[str] = []
    context, page = _new_page(browser, DESKTOP, errors)
    base = site.url
    try:
        _log_in(page, base)
        page.goto(base + "/assistant")
        # signed in: the civil-servant mode; the question goes with the session's CSRF token
        page.get_by_test_id("internal-mode").check()
        expect(page.get_by_test_id("note")).to_contain_text("chế độ cán bộ")
        with page.expect_request(re.compile(r"/api/v1/assistant/ask$")) as sent:
            answer = _ask(page, BIRTH)
        assert sent.value.post_data_json["mode"] == "internal"
        assert sent.value.headers.get("x-csrf-token")
        expect(answer).to_have_attribute("data-status", "answered")
        page.goto(base + "/assistant/analytics")
        expect(page.get_by_role("heading", name="Thống kê trợ lý ảo", level=1)).to_be_visible()
        assert int(page.get_by_test_id("total").inner_text()) == 8  # 6 + 1 on the page, 1 in the widget
        assert int(page.get_by_test_id("status-answered").inner_text()) >= 4
        assert int(page.get_by_test_id("status-clarify").inner_text()) >= 1
        assert int(page.get_by_test_id("status-not_found").inner_text()) >= 1
        assert int(page.get_by_test_id("helpful").inner_text()) >= 1
        expect(page.get_by_test_id("top-questions")).to_contain_text(BIRTH)
        expect(page.get_by_test_id("top-sources")).to_contain_text("Đăng ký khai sinh")
        expect(page.get_by_test_id("chart").locator("rect.asst-answered")).to_have_count(1)
        page.get_by_test_id("days").get_by_role("button", name="7 ngày").click()
        page.wait_for_url(re.compile(r"days=7"))
        expect(page.get_by_test_id("chart").locator("g")).to_have_count(7)
        assert ADMIN_EMAIL in page.get_by_test_id("menu").inner_text()
        page.screenshot(path="/tmp/cityai-assistant-analytics.png", full_page=True)
        assert errors == [], errors
    finally:
        context.close()


def _widget_on_an_agency_site(site, browser) -> None:  # noqa: F811
    errors: list[str] = []
    context, page = _new_page(browser, DESKTOP, errors)
    tag = (f'<script src="{site.url}/assistant/widget.js" data-title="Hỏi trợ lý ảo Phường Bến Thành" '
           'data-position="left" defer></script>')
    with agency_site({"/": _agency_page(tag), "/blank": _agency_page()}) as agency:
        try:
            _widget_scenario(page, site, agency, errors)
        finally:
            context.close()


def _widget_scenario(page, site, agency: str, errors: list[str]) -> None:
    from playwright.sync_api import expect

    page.goto(agency + "/blank")
    plain_globals = set(page.evaluate("() => Object.keys(window)"))
    page.goto(agency + "/")
    button = page.get_by_test_id("cityai-widget-button")
    expect(button).to_have_text(re.compile("Hỏi trợ lý ảo Phường Bến Thành"))
    added = set(page.evaluate("() => Object.keys(window)")) - plain_globals
    assert added == {"CityAIAssistant"}, added
    box = button.bounding_box()
    assert box and box["x"] < 100, box  # data-position="left"
    expect(page.get_by_test_id("cityai-widget-frame")).to_have_count(0)  # loaded on first opening only

    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    frame_el = page.get_by_test_id("cityai-widget-frame")
    expect(frame_el).to_be_visible()
    assert frame_el.get_attribute("src") == site.url + "/assistant/embed"
    frame = page.frame_locator("[data-testid=cityai-widget-frame]")
    expect(frame.locator("#asst-title")).to_have_text("Trợ lý ảo dịch vụ công")
    expect(frame.get_by_test_id("menu")).to_have_count(0)
    frame.get_by_test_id("question").fill("Lệ phí đăng ký kết hôn bao nhiêu?")
    frame.get_by_test_id("question").press("Enter")
    answer = frame.get_by_test_id("answer").first
    expect(answer).to_have_attribute("data-status", "answered", timeout=30_000)
    expect(answer).to_contain_text("Đăng ký kết hôn")
    expect(answer.locator("[data-testid=citation][data-source-id='DEMO-HT-02']").first).to_be_visible()
    page.screenshot(path="/tmp/cityai-assistant-widget.png")

    page.get_by_test_id("cityai-widget-close").click()
    expect(page.get_by_test_id("cityai-widget-panel")).to_be_hidden()
    expect(button).to_be_focused()
    page.evaluate("() => window.CityAIAssistant.open()")
    expect(frame.get_by_test_id("answer")).to_have_count(1)  # the same frame, the conversation kept
    assert errors == [], errors
