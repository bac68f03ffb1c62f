"""The open-data portal in a real browser (Playwright driving Debian chromium) against the real server.

Search -> dataset page -> preview, as a citizen (anonymous); then a steward uploads a new version
through the form and watches the ingest's progress bar finish, and the new rows appear.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.serverproc import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.web.test_browser import DESKTOP, _log_in, _new_page, browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

CSV = ("ma_phuong;ten_phuong;ngay_do;pm25\n26734;Phường Bến Thành;01/07/2025;35,5\n"
       "26737;Phường Sài Gòn;01/07/2025;41\n27007;Phường Tân Định;02/07/2025;19,75\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    env = {"CITYAI_ARGON2_TIME_COST": "1", "CITYAI_ARGON2_MEMORY_KIB": "1024", "CITYAI_LOG_LEVEL": "WARNING"}
    with Server(tmp_path_factory.mktemp("portal-home"), env_extra=env) as server:
        tok = requests.post(server.url + "/api/v1/auth/token", data={"username": ADMIN_EMAIL,
                                                                     "password": ADMIN_PASSWORD}, timeout=30)
        h = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        uid = uuid.uuid4().hex[:6]
        org = requests.post(server.url + "/api/v1/agencies", headers=h, timeout=30,
                            json={"code": f"snnmt{uid}", "name": "Sở Nông nghiệp và Môi trường",
                                  "kind": "department"}).json()
        ds = requests.post(server.url + "/api/v1/data/datasets", headers=h, timeout=30, json={
            "name": f"khong-khi-{uid}", "owner_id": org["id"], "title": "Chất lượng không khí TP.HCM",
            "title_en": "HCMC air quality", "visibility": "public", "tags": ["khong-khi"], "theme": "moi-truong",
            "license_id": "CC-BY-4.0"}).json()
        res = requests.post(server.url + f"/api/v1/data/datasets/{ds['name']}/resources", headers=h, timeout=30,
                            json={"name": "Đo PM2.5"}).json()
        up = requests.post(server.url + f"/api/v1/data/resources/{res['id']}/upload", headers=h, timeout=30,
                           files={"upload": ("pm25.csv", CSV.encode())})
        assert up.status_code == 202, up.text
        deadline = time.monotonic() + 60
        while not requests.get(server.url + f"/api/v1/data/resources/{res['id']}", timeout=30).json().get(
                "datastore_active"):
            assert time.monotonic() < deadline, "the ingest did not finish"
            time.sleep(0.2)
        yield server, ds, res


def test_search_dataset_page_and_preview(site, browser, tmp_path):  # noqa: F811
    server, ds, res = site
    errors: list[str] = []
    context, page = _new_page(browser, DESKTOP, errors)
    try:
        page.goto(server.url + "/data")
        page.get_by_test_id("data-search").locator("input[type=search]").fill("không khí")
        page.get_by_test_id("data-search").locator("input[type=submit]").click()
        page.wait_for_url("**/data?q=*")
        assert "1" in page.get_by_test_id("result-count").inner_text()
        assert "Sở Nông nghiệp và Môi trường" in page.get_by_test_id("facets").inner_text()
        page.get_by_test_id("dataset-card").get_by_role("link", name="Chất lượng không khí TP.HCM").click()
        page.wait_for_url(f"**/data/{ds['name']}")
        assert page.get_by_test_id("dataset-title").inner_text().startswith("Chất lượng không khí TP.HCM")
        preview = page.get_by_test_id("preview")
        assert preview.locator("tbody tr").count() == 3
        assert "Phường Bến Thành" in preview.inner_text() and "35.5" in preview.inner_text()
        assert page.get_by_test_id("total").inner_text() == "3"
        page.get_by_test_id("resources").get_by_role("link", name="Đo PM2.5").click()
        page.wait_for_url(f"**/resources/{res['id']}")
        dictionary = page.get_by_test_id("dictionary").inner_text()
        assert "ngay_do" in dictionary and "date" in dictionary and "dd/mm/yyyy" in dictionary
        assert page.locator("svg.chart rect").count() > 0  # the profile's histograms are drawn
        # Accent-free search inside the table finds "Phường Sài Gòn".
        page.screenshot(path="/tmp/cityai-data-resource.png", full_page=True)  # for people to look at
        page.locator("input[name=q]").fill("sai gon")
        page.keyboard.press("Enter")
        page.wait_for_url("**q=sai+gon*")
        assert page.get_by_test_id("total").inner_text() == "1"
        assert errors == []
    finally:
        context.close()


def test_steward_uploads_a_version_and_sees_the_progress_bar(site, browser, tmp_path):  # noqa: F811
    server, ds, res = site
    errors: list[str] = []
    context, page = _new_page(browser, DESKTOP, errors)
    try:
        _log_in(page, server.url)
        page.goto(server.url + f"/data/{ds['name']}/resources/{res['id']}")
        newer = tmp_path / "pm25-v2.csv"
        newer.write_text(CSV + "27008;Phường Xuân Hòa;02/07/2025;22\n", encoding="utf-8")
        form = page.get_by_test_id("upload-form")
        form.locator("input[type=file]").set_input_files(str(newer))
        form.locator("input[type=submit]").click()
        page.wait_for_url("**job=*")
        bar = page.get_by_test_id("ingest-progress")
        bar.wait_for()
        page.wait_for_selector('[data-testid=ingest-progress][data-status="succeeded"]', timeout=60_000)
        page.goto(server.url + f"/data/{ds['name']}/resources/{res['id']}")
        assert page.get_by_test_id("total").inner_text() == "4"
        assert "Phường Xuân Hòa" in page.get_by_test_id("preview").inner_text()
        versions = page.get_by_test_id("versions").inner_text()
        assert "pm25-v2.csv" in versions and "pm25.csv" in versions
        assert errors == []
    finally:
        context.close()
