"""Document intake in a real browser (Playwright driving Debian chromium) against the real server.

A civil servant uploads a scanned công văn through the archive page, watches the progress bar, and
sees the extracted fields beside the page image; a correction saved from the page sticks.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from cityai.documents import samples
from tests.documents.test_api import _ocr_missing
from tests.serverproc import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.web.test_browser import DESKTOP, _log_in, _new_page, browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(_ocr_missing()), reason=_ocr_missing() or "")]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    env = {"CITYAI_ARGON2_TIME_COST": "1", "CITYAI_ARGON2_MEMORY_KIB": "1024", "CITYAI_LOG_LEVEL": "WARNING"}
    with Server(tmp_path_factory.mktemp("documents-home"), env_extra=env) as server:
        tok = requests.post(server.url + "/api/v1/auth/token", data={"username": ADMIN_EMAIL,
                                                                     "password": ADMIN_PASSWORD}, timeout=30)
        h = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        org = requests.post(server.url + "/api/v1/agencies", headers=h, timeout=30,
                            json={"code": f"skhcn{uuid.uuid4().hex[:6]}", "name": "Sở Khoa học và Công nghệ",
                                  "kind": "department"}).json()
        yield server, org


def test_upload_a_scan_and_see_its_fields(site, browser, tmp_path):  # noqa: F811
    server, org = site
    scan = tmp_path / "cong-van-quet.png"
    samples.render_images(samples.SAMPLE_SPECS[1], dpi=200, pages=[0], rotate=1.0, noise=3.0)[0].save(scan)
    errors: list[str] = []
    context, page = _new_page(browser, DESKTOP, errors)
    try:
        _log_in(page, server.url)
        page.goto(server.url + "/documents")
        form = page.get_by_test_id("upload-document")
        form.locator("input[type=file]").set_input_files(str(scan))
        chooser = form.locator("select[name=agency_id]")  # shown when the user may file with several agencies
        if chooser.count():
            chooser.select_option(str(org["id"]))
        form.locator("input[type=submit]").click()
        page.wait_for_url("**/documents/*")
        # the progress bar polls until the OCR job ends, then the page reloads with the fields
        page.get_by_test_id("fields").wait_for(timeout=120_000)
        fields = page.get_by_test_id("fields")
        assert fields.locator("input[data-field=number]").input_value() == "2315"
        assert fields.locator("input[data-field=symbol]").input_value() == "SKHCN-CĐS"
        assert fields.locator("input[data-field=doc_type]").input_value() == "Công văn"
        assert fields.locator("input[data-field=issued_date]").input_value() == "2025-05-08"
        assert "Trần Thị Bích" in fields.locator("input[data-field=signer]").input_value()
        assert page.get_by_test_id("page-image").evaluate("img => img.naturalWidth") > 0
        assert page.get_by_test_id("doc-title").inner_text() == "Công văn 2315/SKHCN-CĐS"
        page.screenshot(path="/tmp/cityai-document-page.png", full_page=True)  # for people to look at
        # a reviewer corrects the subject; the correction is saved and shown
        fields.locator("input[data-field=title]").fill("Đề nghị cung cấp dữ liệu văn bản")
        fields.locator("input[type=submit]").click()
        page.wait_for_url("**saved=1")
        assert page.get_by_test_id("fields").locator("input[data-field=title]").input_value() == \
            "Đề nghị cung cấp dữ liệu văn bản"
        assert not [e for e in errors if "favicon" not in e], errors
    finally:
        context.close()
    doc_id = page.url.split("/documents/")[1].split("?")[0]
    tok = requests.post(server.url + "/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                        timeout=30).json()["access_token"]
    d = requests.get(f"{server.url}/api/v1/documents/{doc_id}", headers={"Authorization": f"Bearer {tok}"},
                     timeout=30).json()
    assert d["corrected"] == ["title"] and d["source"] == "ocr"
