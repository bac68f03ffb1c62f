"""The language playground in a real browser (Playwright driving Debian chromium) against the real
server: a civil servant pastes a text and sees the entities highlighted, the summary and the words."""

from __future__ import annotations

import pytest

from tests.serverproc import Server
from tests.web.test_browser import DESKTOP, _log_in, _new_page, browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

TEXT = ("Ngày 15/3/2025, Ủy ban nhân dân Thành phố Hồ Chí Minh ban hành Kế hoạch số 140/KH-UBND về chuyển đổi số. "
        "Sở Khoa học và Công nghệ phối hợp triển khai thí điểm trợ lý ảo tại phường Bến Thành. "
        "Kinh phí lấy từ ngân sách thành phố.")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    env = {"CITYAI_ARGON2_TIME_COST": "1", "CITYAI_ARGON2_MEMORY_KIB": "1024", "CITYAI_LOG_LEVEL": "WARNING"}
    with Server(tmp_path_factory.mktemp("language-home"), env_extra=env) as server:
        yield server


def test_playground_highlights_entities_and_summarizes(site, browser):  # noqa: F811
    errors: list[str] = []
    context, page = _new_page(browser, DESKTOP, errors)
    try:
        _log_in(page, site.url)
        page.goto(site.url + "/language")
        form = page.get_by_test_id("playground")
        form.get_by_test_id("text").fill(TEXT)
        form.locator("input[name=max_sentences]").fill("1")
        form.locator("input[type=submit]").click()
        page.get_by_test_id("entities").wait_for(timeout=60_000)
        marks = page.get_by_test_id("entities").locator("mark")
        found = {(marks.nth(i).get_attribute("title"), marks.nth(i).inner_text().split("\n")[0])
                 for i in range(marks.count())}
        assert ("DOC_REF", "140/KH-UBND") in {(label, text.replace(label, "").strip()) for label, text in found}, found
        assert any(label == "WARD" for label, _ in found), found
        assert page.get_by_test_id("summary").locator("li").count() == 1
        assert page.get_by_test_id("tokens").locator("span").count() > 20
        page.screenshot(path="/tmp/cityai-language-playground.png", full_page=True)  # for people to look at
        assert not [e for e in errors if "favicon" not in e], errors
    finally:
        context.close()
