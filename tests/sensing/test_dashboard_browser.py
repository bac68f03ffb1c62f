"""The city operations dashboard in a real browser (Playwright driving Debian chromium) against the real
server.

The server's home is prepared first, in a subprocess: the ward boundaries of ``fixtures/admin-units`` (two
wards and Côn Đảo), an agency with an editor, three traffic sensors, a threshold rule (speed below 12 km/h is
critical) and a day of 5-minute speeds for two of the sensors, written through the ingestion path; the third
has never reported. An editor opens ``/sensing``: the sensors are on the map over the wards, coloured by
status; selecting one (mouse, then keyboard) shows its latest values, its 24-hour chart and the forecast with
its interval band. New values then arrive through the devices' HTTP batch endpoint and the page follows
without reloading: the latest value changes, one marker turns red (the rule's alert), the silent one turns
green, the alert is listed and acknowledged. While the tab is hidden the page stops asking.

Console errors, failed requests and Content-Security-Policy violations fail the test (as in
``tests/web/test_browser.py``). A screenshot is left at ``/tmp/dashboard.png`` for people to look at.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.serverproc import Server, cityai_env, http
from tests.web.test_browser import _new_page, browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "admin-units"
SCREENSHOT = Path("/tmp/dashboard.png")  # for people to look at; not asserted on
VIEWPORT = {"width": 1440, "height": 1000}
EDITOR = "dieuhanh@sxd.test"
PASSWORD = "Mat-khau-Dieu-hanh-2025"
ENV = {"CITYAI_ARGON2_TIME_COST": "1", "CITYAI_ARGON2_MEMORY_KIB": "1024", "CITYAI_LOG_LEVEL": "WARNING"}
OK, ALERT, SILENT = "rgb(46, 125, 50)", "rgb(198, 40, 40)", "rgb(255, 255, 255)"
FORECAST_TIMEOUT_MS = 90_000  # the first forecast loads statsforecast (seconds on a busy machine)
SETUP = """
import datetime as dt, json, math, sys
from cityai.core.config import Settings
from cityai.core.platform import Platform
from cityai.core import identity
from cityai.data import reference
from cityai.sensing import rules, service
from cityai.sensing.ingest import Message, ingest

platform = Platform(Settings())
platform.startup()
keys = {}
with platform.system_context() as ctx:
    reference.import_admin_units(ctx, source=sys.argv[1])
    agency = identity.agency_create(ctx, code="sxd", name="Sở Xây dựng", name_en="Department of Construction",
                                    kind="department")
    identity.user_create(ctx, email=sys.argv[2], full_name="Trực ban điều hành", password=sys.argv[3],
                         agency_id=agency.id, role="editor")
    for device_id, name, lat, lon in (("tb-01", "Nút giao Lê Lợi - Nguyễn Huệ", 10.775, 106.705),
                                      ("tb-02", "Cầu Ông Lãnh", 10.776, 106.694),
                                      ("tb-03", "Đường Hàm Nghi", 10.772, 106.702)):
        _d, key = service.device_register.unchecked(ctx, agency_id=agency.id, device_id=device_id,
                                                    type="TrafficFlowObserved", name=name, lat=lat, lon=lon)
        keys[device_id] = key
    rules.rule_create.unchecked(ctx, agency_id=agency.id, name="Ùn tắc (dưới 12 km/h)", kind="threshold",
                                entity_type="TrafficFlowObserved", attribute="averageVehicleSpeed",
                                params={"op": "<", "value": 12}, severity="critical")
now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
messages = []
for k in range(1, 289):  # a day of 5-minute speeds, the newest five minutes ago
    t = now - dt.timedelta(minutes=5 * k)
    hour = (t.hour + 7) % 24 + t.minute / 60
    rush = math.exp(-((hour - 8) ** 2) / 2) + math.exp(-((hour - 17.5) ** 2) / 2)
    for device_id, base in (("tb-01", 42.0), ("tb-02", 36.0)):
        speed = base - 18 * rush + 2.5 * math.sin(k * 1.7)
        messages.append(Message("sxd", device_id, {"type": "TrafficFlowObserved", "observedAt": t.isoformat(),
                                                   "averageVehicleSpeed": round(speed, 1)}, channel="http"))
outcomes = ingest(platform, messages)
assert all(o.status == "stored" for o in outcomes), [o.to_dict() for o in outcomes if o.status != "stored"]
platform.close()
print("KEYS=" + json.dumps(keys))
"""
CSP_WATCH = ("window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) {"
             " window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    home = tmp_path_factory.mktemp("sensing-home")
    no_shared = tmp_path_factory.mktemp("no-shared")
    env = {**ENV, "CITYAI_SHARED_DATA": str(no_shared)}
    r = subprocess.run([sys.executable, "-c", SETUP, str(FIXTURES), EDITOR, PASSWORD], check=False,
                       env=cityai_env(home, **env), capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    m = re.search(r"^KEYS=(.*)$", r.stdout, re.M)
    assert r.returncode == 0 and m, r.stdout + r.stderr
    with Server(home, env_extra=env) as server:
        server.keys = json.loads(m.group(1))
        yield server


def _send(server, device_id: str, speed: float) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    r = http("POST", server.url + "/api/v1/sensing/ingest", headers={"X-Device-Key": server.keys[device_id]},
             json_body=[{"type": "TrafficFlowObserved", "observedAt": now, "averageVehicleSpeed": speed}])
    assert r.status == 200 and r.json()["accepted"] == 1, r.text


def _marker(page, device_id: str):
    return page.locator(f"[data-testid=marker][data-entity$=':{device_id}']")


def _fill(page, device_id: str) -> str:
    return page.evaluate("id => getComputedStyle(document.querySelector("
                         "`[data-testid=marker][data-entity$=':${id}'] .sens-pin`)).fill", device_id)


def test_operations_dashboard_follows_live_data(site, browser):  # noqa: F811
    from playwright.sync_api import expect

    errors: list[str] = []
    context, page = _new_page(browser, VIEWPORT, errors)
    context.add_init_script(CSP_WATCH)
    navigations: list[str] = []
    dashboard_calls: list[float] = []
    page.on("framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None)
    page.on("request", lambda r: dashboard_calls.append(time.monotonic())
            if "/api/v1/sensing/dashboard" in r.url else None)
    base = site.url
    try:
        page.goto(base + "/login")
        page.get_by_test_id("login-email").fill(EDITOR)
        page.get_by_test_id("login-password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.wait_for_url(base + "/")
        page.goto(base + "/sensing?refresh=2")
        expect(page.locator("html")).to_have_attribute("lang", "vi")
        expect(page.get_by_role("heading", name="Trung tâm điều hành đô thị")).to_be_visible()

        # the map: the fixture's wards, and the three sensors coloured by status
        the_map = page.get_by_test_id("map")
        expect(the_map).to_have_attribute("data-wards", "3")
        expect(page.get_by_test_id("map-note")).to_be_hidden()
        markers = page.get_by_test_id("marker")
        expect(markers).to_have_count(3)
        expect(page.get_by_test_id("count-ok")).to_have_text("2")
        expect(page.get_by_test_id("count-silent")).to_have_text("1")
        expect(page.get_by_test_id("count-alert")).to_have_text("0")
        assert _fill(page, "tb-01") == OK and _fill(page, "tb-02") == OK and _fill(page, "tb-03") == SILENT
        expect(_marker(page, "tb-03")).to_have_attribute("data-status", "silent")
        expect(page.get_by_test_id("updated")).to_contain_text("Cập nhật lúc")
        expect(page.get_by_test_id("alert-list")).to_contain_text("Không có cảnh báo nào đang mở")

        # the table lists them, problems first (sorted by status)
        rows = page.get_by_test_id("sensor-row")
        expect(rows).to_have_count(3)
        expect(rows.first).to_have_attribute("data-status", "silent")
        page.locator("button.sens-sort[data-key=name]").click()
        expect(page.locator("th[data-key=name]")).to_have_attribute("aria-sort", "ascending")
        expect(rows.first).to_contain_text("Cầu Ông Lãnh")

        # select a sensor on the map: latest values, the 24-hour chart and the forecast with its band
        _marker(page, "tb-01").click()
        expect(page.locator("#sens-panel-title")).to_have_text("Nút giao Lê Lợi - Nguyễn Huệ")
        expect(page).to_have_url(re.compile(r"sensor=urn"))
        main_value = page.get_by_test_id("latest-main")
        expect(main_value).to_contain_text("km/h")
        first_value = main_value.inner_text()
        chart = page.get_by_test_id("chart")
        expect(chart.get_by_test_id("series-line")).to_have_count(1)
        expect(chart).to_have_attribute("data-points", "288")
        expect(chart.get_by_test_id("forecast-band")).to_have_count(1, timeout=FORECAST_TIMEOUT_MS)
        info = page.get_by_test_id("forecast-info")
        expect(info).to_have_attribute("data-state", "done", timeout=FORECAST_TIMEOUT_MS)
        expect(info).to_contain_text("Phương pháp:")
        assert chart.get_attribute("data-forecast") == "12"  # 60 minutes of 5-minute steps
        # another horizon from the selector
        page.get_by_test_id("horizon").select_option("15")
        expect(chart).to_have_attribute("data-forecast", "3", timeout=FORECAST_TIMEOUT_MS)

        # the keyboard: a row's button, then a marker
        page.locator("[data-testid=sensor-row][data-entity$=':tb-02'] [data-testid=sensor-pick]").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#sens-panel-title")).to_have_text("Cầu Ông Lãnh")
        _marker(page, "tb-01").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#sens-panel-title")).to_have_text("Nút giao Lê Lợi - Nguyễn Huệ")
        expect(_marker(page, "tb-01")).to_have_attribute("aria-pressed", "true")
        SCREENSHOT.unlink(missing_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # live data: a jam at tb-01 (the rule's alert), the silent tb-03 reports; the page follows, no reload
        page.evaluate("window.__sameDocument = true")
        loads = len(navigations)
        _send(site, "tb-01", 8.0)
        _send(site, "tb-03", 35.0)
        expect(main_value).to_have_text(re.compile(r"^8 km/h$"), timeout=15_000)
        assert first_value != main_value.inner_text()
        tb01 = _marker(page, "tb-01")
        expect(tb01).to_have_attribute("data-status", "alert")
        expect(_marker(page, "tb-03")).to_have_attribute("data-status", "ok")
        assert _fill(page, "tb-01") == ALERT and _fill(page, "tb-03") == OK
        expect(page.get_by_test_id("count-alert")).to_have_text("1")
        expect(page.get_by_test_id("count-silent")).to_have_text("0")
        expect(page.get_by_test_id("panel-status")).to_have_text("Có cảnh báo")
        expect(page.get_by_test_id("live")).to_contain_text("chuyển sang trạng thái Có cảnh báo")
        expect(tb01).to_have_attribute("aria-pressed", "true")  # the selection survives the refreshes
        assert page.evaluate("window.__sameDocument") is True and len(navigations) == loads

        # the alert: listed for the editor, acknowledged from the page
        alert = page.get_by_test_id("alert")
        expect(alert).to_have_count(1)
        expect(alert).to_contain_text("Nghiêm trọng")
        expect(alert).to_contain_text("Nút giao Lê Lợi - Nguyễn Huệ")
        alert.get_by_test_id("acknowledge").click()
        expect(alert).to_have_attribute("data-status", "acknowledged")
        expect(alert.get_by_test_id("acknowledge")).to_be_hidden()
        expect(page.get_by_test_id("live")).to_contain_text("Đã xác nhận cảnh báo")
        # the chart follows the new value: a new forecast from the jam
        expect(info).to_have_attribute("data-state", "done", timeout=FORECAST_TIMEOUT_MS)
        expect(chart).to_have_attribute("data-last", "8")

        # a hidden tab stops asking; visible again, it refreshes at once
        page.evaluate("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
                      "document.dispatchEvent(new Event('visibilitychange'))")
        expect(page.get_by_test_id("updated")).to_have_text("Tạm dừng khi thẻ bị ẩn")
        page.wait_for_timeout(500)
        hidden_at = time.monotonic()
        page.wait_for_timeout(4_500)
        assert not [t for t in dashboard_calls if t > hidden_at], "the page kept polling while hidden"
        page.evaluate("delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))")
        expect(page.get_by_test_id("updated")).to_contain_text("Cập nhật lúc")

        assert page.evaluate("window.__csp") == []
        assert not errors, errors
    finally:
        context.close()


def test_anonymous_visitors_see_the_map_but_not_the_alerts(site, browser):  # noqa: F811
    from playwright.sync_api import expect

    errors: list[str] = []
    context, page = _new_page(browser, {"width": 390, "height": 844}, errors)
    context.add_init_script(CSP_WATCH)
    try:
        page.goto(site.url + "/sensing?lang=en")
        expect(page.get_by_role("heading", name="City operations centre")).to_be_visible()
        expect(page.get_by_test_id("marker")).to_have_count(3)
        expect(page.get_by_test_id("alerts")).to_contain_text("signed-in agency staff only")
        expect(page.get_by_test_id("acknowledge")).to_have_count(0)
        page.get_by_test_id("type-filter").select_option("AirQualityObserved")
        expect(page.get_by_test_id("marker")).to_have_count(0)
        expect(page.get_by_test_id("sensor-table")).to_contain_text("No sensors yet")
        expect(page).to_have_url(re.compile(r"type=AirQualityObserved"))
        page.get_by_test_id("type-filter").select_option("")
        expect(page.get_by_test_id("marker")).to_have_count(3)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width  # fits a phone screen
        assert page.evaluate("window.__csp") == []
        assert not errors, errors
    finally:
        context.close()
