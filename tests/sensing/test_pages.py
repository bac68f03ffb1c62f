"""The city operations dashboard through the TestClient: the page (anonymous, signed-in staff, English), its
versioned assets, the ward map API with and without boundaries, and the shape of the JSON the page's script
reads. The script itself runs in a real browser in ``test_dashboard_browser.py``.

No test reads ``../shared``: the shared-data lookup points at an empty folder, and the boundaries come from
the tiny GeoJSON in ``fixtures/admin-units`` (two wards in the city, Côn Đảo far out at sea).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from cityai.data import reference
from cityai.sensing import pages
from tests.web.test_pages import HTML, assert_offline, web_login

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "admin-units"
MAP = "/api/v1/sensing/map"


@pytest.fixture(autouse=True)
def no_shared_data(tmp_path, monkeypatch) -> Path:
    """The shared-data lookup points at an empty folder, so that no test depends on ../shared."""
    empty = tmp_path / "no-shared"
    empty.mkdir()
    monkeypatch.setenv(reference.SHARED_ENV, str(empty))
    pages._cached.cache_clear()
    return empty


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", page)


def _texts(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="sens-texts">(.*?)</script>', page, re.S)
    assert m, "the script's texts are missing"
    return json.loads(m.group(1))


# ------------------------------------------------------------------ the page


@SQLITE_ONLY
def test_page_for_anonymous_visitors(client):
    r = client.get("/sensing", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert '<html lang="vi"' in page
    assert "Trung tâm điều hành đô thị" in page and "Bản đồ cảm biến" in page and "Danh sách cảm biến" in page
    assert 'data-testid="map"' in page and 'data-testid="sensor-table"' in page
    assert 'aria-live="polite"' in page
    assert 'data-staff="0"' in page and 'data-csrf=""' in page and 'data-refresh="10"' in page
    assert 'href="/login?next=/sensing"' in page  # alerts are for signed-in staff
    # one external script, versioned by content; no inline script (the CSP allows none) and no handler
    js = pages.asset_version("dashboard.js")
    css = pages.asset_version("dashboard.css")
    scripts = _scripts(page)
    assert f'<script src="/sensing/dashboard.js?v={js}" defer>' in scripts
    assert all(" src=" in s or 'type="application/json"' in s for s in scripts), scripts
    assert f'href="/sensing/dashboard.css?v={css}"' in page
    assert not re.search(r"\son[a-z]+\s*=", page)
    assert_offline(page, "/sensing")
    texts = _texts(page)
    assert texts["status"] == {"ok": "Bình thường", "alert": "Có cảnh báo", "silent": "Mất tín hiệu"}
    assert texts["forecast"] == "Dự báo" and "{method}" in texts["forecast_summary"]
    assert "script-src 'self'" in r.headers["content-security-policy"]


@SQLITE_ONLY
def test_page_for_signed_in_staff_and_in_english(client, users):
    web_login(client, users.editor)
    page = client.get("/sensing", headers=HTML).text
    assert 'data-staff="1"' in page and 'data-signed-in="1"' in page
    assert re.search(r'data-csrf="[^"]{20,}"', page)
    assert 'href="/login?next=/sensing"' not in page
    en = client.get("/sensing?lang=en", headers=HTML).text
    assert '<html lang="en"' in en and "City operations centre" in en and "Sensor map" in en
    assert _texts(en)["status"]["silent"] == "Silent"
    assert re.search(r'<a href="/sensing"[^>]*aria-current="page">City operations</a>', en)  # the menu entry


@SQLITE_ONLY
def test_refresh_interval_is_bounded(client):
    assert 'data-refresh="3"' in client.get("/sensing?refresh=3", headers=HTML).text
    assert client.get("/sensing?refresh=1", headers=HTML).status_code == 422
    assert client.get("/sensing?refresh=301", headers=HTML).status_code == 422


@SQLITE_ONLY
@pytest.mark.parametrize("name,kind", [("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")])
def test_assets_are_versioned_and_cached(client, name, kind):
    version = pages.asset_version(name)
    r = client.get(f"/sensing/{name}?v={version}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
    assert "immutable" in r.headers["cache-control"] and r.headers["etag"] == f'"{version}"'
    assert "max-age=300" in client.get(f"/sensing/{name}").headers["cache-control"]
    assert client.get(f"/sensing/{name}", headers={"If-None-Match": f'"{version}"'}).status_code == 304
    if name.endswith(".js"):
        assert "innerHTML" not in r.text and "eval(" not in r.text  # DOM and text nodes only


# ------------------------------------------------------------------ the ward map


def _import_boundaries(platform, folder: Path) -> None:
    with platform.system_context() as ctx:
        reference.import_admin_units(ctx, source=str(folder))


@SQLITE_ONLY
def test_map_without_boundaries_is_a_plain_frame(client):
    r = client.get(MAP)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["available"] is False and body["source"] is None and body["wards"] == []
    (frame,) = body["frames"]
    assert frame["name"] == "main" and frame["bbox"] == list(pages.CITY_BBOX)
    # the city's centre lands inside the map
    x, y = pages._project(frame, 106.70, 10.77)
    assert 0 < x < body["width"] and 0 < y < body["height"]
    assert client.get(MAP, headers={"If-None-Match": r.headers["etag"]}).status_code == 304


@SQLITE_ONLY
def test_map_from_the_published_boundaries(client, platform):
    _import_boundaries(platform, FIXTURES)
    r = client.get(MAP)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["available"] is True and body["source"] == "published"
    assert [w["code"] for w in body["wards"]] == ["26732", "26740", "26743"]
    by_code = {w["code"]: w for w in body["wards"]}
    assert by_code["26740"]["name"] == "Phường Sài Gòn" and by_code["26740"]["name_en"] == "Sai Gon Ward"
    for w in body["wards"]:
        assert re.fullmatch(r"M[-\d. ]+l[-\d. ]+z", w["d"]), w["d"]
    # the squares' 20 points per ring (collinear ones) are simplified to their 4 corners
    assert all(len(_points(w["d"])) == 4 for w in body["wards"])
    # Côn Đảo lies 2° south: an inset frame of its own, so that the city is not shrunk to a corner
    main, inset = body["frames"]
    assert main["name"] == "main" and inset["name"] == "inset"
    assert main["bbox"] == [106.69, 10.77, 106.71, 10.78]
    x0, y0 = pages._project(main, 106.69, 10.78)
    x1, y1 = pages._project(main, 106.71, 10.77)
    assert (round(x0), round(y0)) == (pages.PAD, pages.PAD) and round(x1) == body["width"] - pages.PAD
    assert round(y1) == round(body["height"] - pages.PAD)
    ix, iy = pages._project(inset, 106.605, 8.685)
    assert inset["box"][0] <= ix <= inset["box"][0] + inset["box"][2]
    assert inset["box"][1] <= iy <= inset["box"][1] + inset["box"][3]
    # a sensor in Sài Gòn ward is drawn inside that ward's outline
    sx, sy = pages._project(main, 106.705, 10.775)
    xs = [p[0] for p in _points(by_code["26740"]["d"])]
    ys = [p[1] for p in _points(by_code["26740"]["d"])]
    assert min(xs) < sx < max(xs) and min(ys) < sy < max(ys)


@SQLITE_ONLY
def test_map_from_the_shared_geojson_when_none_was_imported(client, tmp_path, monkeypatch):
    shared = tmp_path / "shared-data"
    (shared / "admin-units").mkdir(parents=True)
    shutil.copy(FIXTURES / "hcmc_wards.geojson", shared / "admin-units" / "hcmc_wards.geojson")
    monkeypatch.setenv(reference.SHARED_ENV, str(shared))
    body = client.get(MAP).json()
    assert body["available"] is True and body["source"] == "shared" and len(body["wards"]) == 3
    assert {w["name"] for w in body["wards"]} == {"Phường Sài Gòn", "Phường Bến Thành", "Đặc khu Côn Đảo"}


def _points(d: str) -> list[tuple[float, float]]:
    """The absolute points of a path written as ``M x y l dx dy ... z`` (one ring)."""
    head, rel = d[1:-1].split("l")
    nums = [float(n) for n in re.findall(r"-?\d*\.?\d+", head + " " + rel)]
    pts = [(nums[0], nums[1])]
    for i in range(2, len(nums), 2):
        pts.append((pts[-1][0] + nums[i], pts[-1][1] + nums[i + 1]))
    return pts


def test_simplification_keeps_the_shape_and_drops_the_noise():
    # a circle of 2,000 points with sub-tolerance wiggles: far fewer points, still within the tolerance
    import math

    ring = []
    for i in range(2000):
        a = 2 * math.pi * i / 2000
        r = 100 + (0.05 if i % 2 else -0.05)
        ring.append((500 + r * math.cos(a), 500 + r * math.sin(a)))
    ring.append(ring[0])
    out = pages._simplify(ring, 0.5)
    assert out[0] == ring[0] and out[-1] == ring[-1]
    assert 20 < len(out) < 200
    for x, y in ring:  # every original point is near the simplified outline's circle
        assert abs(math.hypot(x - 500, y - 500) - 100) < 0.6
    for x, y in out:
        assert abs(math.hypot(x - 500, y - 500) - 100) < 0.1


def test_compact_path_numbers():
    assert [pages._num(n) for n in (12, -5, 30, 0, -123)] == ["1.2", "-.5", "3", "0", "-12.3"]
    d = pages._path([[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)]])
    assert d == "M0 0l10 0 0 10-10 0z" and _points(d) == [(0, 0), (10, 0), (10, 10), (0, 10)]


# ------------------------------------------------------------------ what the page's script reads


@SQLITE_ONLY
def test_the_json_the_dashboard_script_reads(client, platform, users):
    """The fields dashboard.js uses, from the dashboard, series and forecast endpoints."""
    from cityai.sensing import service
    from cityai.sensing.ingest import Message, ingest

    with platform.system_context() as ctx:
        service.device_register.unchecked(ctx, agency_id=users.dept, device_id="tb-01",
                                          type="TrafficFlowObserved", name="Nút giao Lê Lợi", lat=10.7745,
                                          lon=106.7010)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    msgs = [Message("skhcn", "tb-01", {"type": "TrafficFlowObserved",
                                       "observedAt": (now - dt.timedelta(minutes=5 * k)).isoformat(),
                                       "averageVehicleSpeed": 30 + (k % 7)}, channel="http")
            for k in range(40)]
    assert all(o.status == "stored" for o in ingest(platform, msgs))

    d = client.get("/api/v1/sensing/dashboard").json()
    (s,) = d["sensors"]
    assert {"entity_id", "type", "type_label", "name", "lat", "lon", "status", "main", "last_seen", "latest",
            "device_id", "alerts"} <= set(s)
    assert s["status"] == "ok" and s["main"] == "averageVehicleSpeed" and s["name"] == "Nút giao Lê Lợi"
    speed = s["latest"]["averageVehicleSpeed"]
    assert speed["value"] == 30 and speed["observedAt"]
    assert d["counts"] == {"ok": 1, "alert": 0, "silent": 0} and d["alerts"] is None  # anonymous: no alerts
    attr = d["types"]["TrafficFlowObserved"]["attrs"]["averageVehicleSpeed"]
    assert attr == {"label": "Tốc độ trung bình", "unit": "km/h"} and d["generated_at"]

    series = client.get(f"/api/v1/sensing/entities/{s['entity_id']}/series",
                        params={"attribute": "averageVehicleSpeed", "hours": 24}).json()
    assert len(series["times"]) == len(series["values"]) == 40 and series["values"][-1] == 30

    web_login(client, users.editor)
    staff = client.get("/api/v1/sensing/dashboard").json()
    assert staff["alerts"] == []  # a list for agency staff
