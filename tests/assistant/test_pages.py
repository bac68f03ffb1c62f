"""The assistant's web channels through the TestClient: the chat page, the widget's frame and script, the
analytics page for agency staff and the knowledge-base pages.

The demo knowledge base (10 procedures, 2 FAQ pages) is loaded for the tests that need it; the browser tests
(``test_browser.py``) drive the chat itself.
"""

from __future__ import annotations

import re

import pytest

from cityai.assistant import service
from tests.conftest import PASSWORD
from tests.web.test_pages import HTML, assert_offline, csrf_from, web_login

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
ASK = "/api/v1/assistant/ask"
BIRTH = "Đăng ký khai sinh cần giấy tờ gì?"
NO_ROLE = "citizen@test.local"


@pytest.fixture
def settings(settings):
    settings.assistant_demo_data = "builtin"  # never the big shared dataset
    return settings


@pytest.fixture(autouse=True)
def fresh_rate_limits(monkeypatch):
    # the limiter counts per process; every TestClient request comes from the same address
    monkeypatch.setattr(service, "LIMITER", service.RateLimiter())


@pytest.fixture
def demo(platform, users):
    from cityai.assistant.demo import load_demo
    from cityai.core import identity

    with platform.system_context() as ctx:
        load_demo(ctx)
        identity.user_create(ctx, email=NO_ROLE, full_name="Công dân", password=PASSWORD)
    return users


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", page)


# ------------------------------------------------------------------ the chat page


@SQLITE_ONLY
def test_chat_page_for_anonymous_citizens(client):
    r = client.get("/assistant", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert '<html lang="vi"' in page
    assert "Trợ lý ảo dịch vụ công" in page and "Cuộc hội thoại mới" in page
    for sample in ("Đăng ký khai sinh cần giấy tờ gì?", "Lệ phí đăng ký kết hôn bao nhiêu?",
                   "Xin giấy phép xây dựng nhà ở nộp ở đâu?"):
        assert f'data-question="{sample}"' in page
    assert 'aria-live="polite"' in page and '<label for="asst-q"' in page and 'data-channel="web"' in page
    assert 'data-testid="menu"' in page  # the site's layout
    assert "Chế độ cán bộ" not in page  # the civil-servant mode is for signed-in users
    assert 'data-csrf=""' in page
    # no inline script: the chat's code is a file, its words a JSON data block
    for tag in _scripts(page):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert re.search(r'<script src="/assistant/chat\.js\?v=[0-9a-f]{16}" defer>', page)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert_offline(page, "/assistant")

    en = client.get("/assistant?lang=en", headers=HTML).text
    assert '<html lang="en"' in en and "Public-service assistant" in en and "New conversation" in en
    assert "Cuộc hội thoại mới" not in en


@SQLITE_ONLY
def test_signed_in_user_gets_the_civil_servant_mode_and_a_csrf_token(client, demo):
    web_login(client, demo.member)
    page = client.get("/assistant", headers=HTML).text
    assert "Chế độ cán bộ (tra cứu nội bộ)" in page and 'data-testid="internal-mode"' in page
    token = csrf_from(page)
    assert f'data-csrf="{token}"' in page
    # the chat posts with the page's token; a cookie post without it is refused
    assert client.post(ASK, json={"question": BIRTH, "channel": "web"}).status_code == 403
    r = client.post(ASK, json={"question": BIRTH, "channel": "web", "mode": "internal"},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["status"] == "answered", r.text


@SQLITE_ONLY
def test_embed_page_may_be_framed_by_the_configured_sites(client, platform):
    r = client.get("/assistant/embed", headers=HTML)
    assert r.status_code == 200
    page = r.text
    assert "Trợ lý ảo dịch vụ công" in page and 'data-channel="widget"' in page
    assert 'data-testid="menu"' not in page and "Chế độ cán bộ" not in page  # no site menu, no staff mode
    assert 'src="/assistant/chat.js?v=' in page
    for tag in _scripts(page):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors *" in csp and "frame-ancestors 'none'" not in csp
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert "x-frame-options" not in r.headers

    platform.settings.assistant_embed_origins = ("https://dichvucong.hochiminhcity.gov.vn "
                                                 "https://*.tphcm.gov.vn")
    csp = client.get("/assistant/embed", headers=HTML).headers["content-security-policy"]
    assert "frame-ancestors https://dichvucong.hochiminhcity.gov.vn https://*.tphcm.gov.vn;" in csp

    # a setting that tries to add a directive cannot
    platform.settings.assistant_embed_origins = "https://a.gov.vn; script-src 'unsafe-inline'"
    csp = client.get("/assistant/embed", headers=HTML).headers["content-security-policy"]
    assert csp.count("script-src") == 1 and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    platform.settings.assistant_embed_origins = ""
    assert "frame-ancestors 'none'" in client.get("/assistant/embed").headers["content-security-policy"]

    # every other page still refuses to be framed
    for path in ("/assistant", "/assistant/sources", "/login", "/assistant/widget.js"):
        csp = client.get(path, headers=HTML).headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, path


@SQLITE_ONLY
def test_widget_and_chat_scripts_are_javascript_with_cache_headers(client):
    r = client.get("/assistant/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    js = r.text
    assert "document.currentScript" in js and "/assistant/embed" in js and "window.CityAIAssistant" in js
    assert "data-position" in js and "data-title" in js and "Hỏi trợ lý ảo" in js
    assert r.headers["cache-control"] == "public, max-age=300"  # sites reference it without a version
    etag = r.headers["etag"]
    again = client.get("/assistant/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content

    chat = client.get("/assistant/chat.js")
    assert chat.status_code == 200 and chat.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in chat.text and "insertAdjacentHTML" not in chat.text  # answers are text nodes
    version = re.search(r"/assistant/chat\.js\?v=([0-9a-f]+)", client.get("/assistant", headers=HTML).text)[1]
    pinned = client.get(f"/assistant/chat.js?v={version}")
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/assistant/chat.css").headers["content-type"].startswith("text/css")
    assert client.get("/assistant/nothing.js").status_code == 404


# ------------------------------------------------------------------ analytics


@SQLITE_ONLY
def test_analytics_refused_to_anonymous_and_to_users_without_an_agency(client, demo):
    r = client.get("/assistant/analytics", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/assistant/analytics"

    web_login(client, NO_ROLE)
    r = client.get("/assistant/analytics", headers=HTML)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in r.text and "Câu hỏi nhiều nhất" not in r.text
    assert 'href="/assistant/analytics"' not in r.text  # nor in their menu


def test_analytics_shows_the_questions_asked(client, demo):
    # a citizen asks through the API: answered, declined, not found, a clarification; rates one answer
    first = client.post(ASK, json={"question": BIRTH, "channel": "web"}).json()
    assert first["status"] == "answered"
    conv = first["conversation_id"]
    for q in ("Thời tiết hôm nay thế nào?", "Xin giấy phép kinh doanh karaoke cần gì?",
              "cấp bản sao trích lục hộ tịch"):
        assert client.post(ASK, json={"question": q, "conversation_id": conv}).status_code == 200
    assert client.post(ASK, json={"question": BIRTH}).json()["status"] == "answered"
    r = client.post(f"/api/v1/assistant/conversations/{conv}/feedback",
                    json={"message_id": first["message_id"], "rating": 1})
    assert r.status_code == 200, r.text

    web_login(client, demo.member)
    assert 'href="/assistant/analytics"' in client.get("/assistant", headers=HTML).text
    r = client.get("/assistant/analytics", headers=HTML)
    assert r.status_code == 200, r.text[:500]
    page = r.text
    assert "Thống kê trợ lý ảo" in page
    assert re.search(r'data-testid="total">5<', page)
    assert re.search(r'data-testid="status-answered">2<', page)
    assert re.search(r'data-testid="status-not_found">2<', page)
    assert re.search(r'data-testid="status-clarify">1<', page)
    assert re.search(r'data-testid="answered-rate">40%<', page)
    assert re.search(r'data-testid="helpful">1<', page)
    assert re.search(r'data-testid="helpful-rate">100%<', page)
    top = page.split('data-testid="top-questions"')[1].split("</section>")[0]
    assert "dang ky khai sinh" in top and BIRTH in top and "<td>2</td>" in top
    gaps = page.split('data-testid="unanswered"')[1].split("</section>")[0]
    assert "karaoke" in gaps and "Thời tiết" not in gaps  # out of scope is not a gap in the knowledge base
    cited = page.split('data-testid="top-sources"')[1].split("</section>")[0]
    assert "Đăng ký khai sinh" in cited and "DEMO-HT-01" in cited
    chart = page.split('data-testid="chart"')[1].split("</svg>")[0]
    assert chart.count('<rect class="asst-answered"') == 1
    assert chart.count('<rect class="asst-not_found"') == 1
    assert 'aria-current="page">30 ngày' in page
    assert "src=&quot;http://testserver/assistant/widget.js&quot;" in page  # how to embed the widget
    assert_offline(page, "/assistant/analytics")

    week = client.get("/assistant/analytics?days=7&lang=en", headers=HTML).text
    assert "Assistant analytics" in week and 'aria-current="page">7 days' in week
    assert week.split('data-testid="chart"')[1].split("</svg>")[0].count("<g>") == 7
    assert client.get("/assistant/analytics?days=90", headers=HTML).status_code == 200
    assert client.get("/assistant/analytics?days=0", headers=HTML).status_code == 422


def test_day_chart_fills_empty_days_and_stacks_statuses():
    import datetime as dt

    from cityai.assistant.pages import day_chart

    today = dt.date(2025, 7, 10)
    chart = day_chart([{"day": "2025-07-09", "answered": 3, "clarify": 1, "not_found": 0},
                       {"day": "2025-07-10", "answered": 0, "clarify": 0, "not_found": 2}], 7, today=today)
    assert chart["bars"][0]["day"] == "2025-07-04" and len(chart["bars"]) == 7
    assert chart["peak"] == 4
    full = chart["bars"][5]
    assert [s["status"] for s in full["segments"]] == ["answered", "clarify"]
    assert full["segments"][0]["y"] + full["segments"][0]["h"] == pytest.approx(chart["base"])
    assert full["segments"][1]["y"] == pytest.approx(chart["top"])  # the peak reaches the top
    assert chart["bars"][0]["segments"] == [] and chart["bars"][6]["not_found"] == 2


# ------------------------------------------------------------------ the knowledge base


@SQLITE_ONLY
def test_sources_list_and_procedure_detail(client, demo):
    page = client.get("/assistant/sources", headers=HTML).text
    assert "Nguồn tri thức của trợ lý ảo" in page and "12 nguồn" in page
    assert "DEMO-HT-01" in page and "Đăng ký khai sinh" in page and "tong-dai-1022" in page
    assert_offline(page, "/assistant/sources")

    pages_only = client.get("/assistant/sources?kind=page", headers=HTML).text
    assert "2 nguồn" in pages_only and "DEMO-HT-01" not in pages_only and "gio-lam-viec-mot-cua" in pages_only
    found = client.get("/assistant/sources?q=khai%20sinh", headers=HTML).text
    assert "Đăng ký khai sinh" in found and "Đăng ký kết hôn" not in found
    assert "Không tìm thấy nguồn nào" in client.get("/assistant/sources?q=zzzz", headers=HTML).text
    assert client.get("/assistant/sources?kind=bogus", headers=HTML).status_code == 200

    source_id = int(re.search(r'href="/assistant/sources/(\d+)">Đăng ký khai sinh<', page)[1])
    r = client.get(f"/assistant/sources/{source_id}", headers=HTML)
    assert r.status_code == 200
    detail = r.text
    assert "Đăng ký khai sinh" in detail and "DEMO-HT-01" in detail and "Hộ tịch" in detail
    documents = detail.split('data-testid="section-documents"')[1].split("</section>")[0]
    assert "Thành phần hồ sơ" in documents and "Giấy chứng sinh" in documents
    for section in ("steps", "fee", "time", "where", "legal"):
        assert f'data-testid="section-{section}"' in detail, section
    assert "Luật Hộ tịch (60/2014/QH13)" in detail
    versions = detail.split('data-testid="versions"')[1].split("</section>")[0]
    assert "<td>1</td><td>Tạo mới</td>" in versions
    assert_offline(detail, "/assistant/sources/{id}")

    faq = int(re.search(r'href="/assistant/sources/(\d+)">Tổng đài 1022', page)[1])
    text = client.get(f"/assistant/sources/{faq}", headers=HTML).text
    assert "Tổng đài 1022 của Thành phố tiếp nhận phản ánh" in text
    assert client.get("/assistant/sources/999999", headers=HTML).status_code == 404

    en = client.get(f"/assistant/sources/{source_id}?lang=en", headers=HTML).text
    assert "Documents to prepare" in en and "Created" in en


@SQLITE_ONLY
def test_internal_sources_are_hidden_and_content_is_escaped(client, platform, demo):
    from cityai.core import identity

    with platform.system_context() as ctx:
        hcmc = identity.agency_by_code(ctx, "hcmc")
        src, _ = service.page_put.unchecked(ctx, agency_id=hcmc.id, slug="noi-bo",
                                            question="Quy trình nội bộ", answer="Chỉ cán bộ xem.",
                                            visibility="internal")
        xss, _ = service.page_put.unchecked(ctx, agency_id=hcmc.id, slug="xss",
                                            question="<script>alert(1)</script> hỏi gì?", answer="<b>đậm</b>")
        internal_id, xss_id = src.id, xss.id

    listing = client.get("/assistant/sources", headers=HTML).text
    assert "Quy trình nội bộ" not in listing and "13 nguồn" in listing
    assert "<script>alert(1)</script>" not in listing and "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    detail = client.get(f"/assistant/sources/{xss_id}", headers=HTML).text
    assert "<b>đậm</b>" not in detail and "&lt;b&gt;đậm&lt;/b&gt;" in detail
    assert client.get(f"/assistant/sources/{internal_id}", headers=HTML).status_code == 401

    web_login(client, demo.sysadmin)
    assert "Quy trình nội bộ" in client.get("/assistant/sources", headers=HTML).text
    r = client.get(f"/assistant/sources/{internal_id}", headers=HTML)
    assert r.status_code == 200 and "Chỉ cán bộ xem." in r.text and "Nội bộ" in r.text
