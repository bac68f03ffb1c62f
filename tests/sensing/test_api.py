"""The sensing module's own API under /api/v1/sensing, end to end through the ASGI app, and the
``cityai sensing register-device`` command.

Devices (register with a key shown once, list, show, update, rotate the key), the devices' HTTP batch
endpoint (``X-Device-Key``), refused messages, forecasts, the operations dashboard and chart series.
Users come from the shared ``users`` fixture (department "skhcn": admin, editor, member; "syt": outsider).
Everything here is validation and plumbing that runs the same on every database, so SQLite only, except
the ingest contract which also runs on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from sqlalchemy import select

from cityai.core.models import Agency
from cityai.sensing import ingest
from cityai.sensing.models import Device, Entity
from tests.conftest import login
from tests.sensing.test_ingest import (
    SQLITE_ONLY,
    aq,
    iso,
    make_sensors,
    msg,
    observations,
    recent,
    utc,
)

API = "/api/v1/sensing"
TENANT = "skhcn"


def assert_problem(r, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["en"]["detail"] and body["vi"]["detail"], body
    if code is not None:
        assert body["type"] == f"/problems/{code}", body
    return body


@pytest.fixture
def editor(client, users) -> dict[str, str]:
    return login(client, users.editor)


@pytest.fixture
def member(client, users) -> dict[str, str]:
    return login(client, users.member)


@pytest.fixture
def outsider(client, users) -> dict[str, str]:
    return login(client, users.outsider)


def device_body(users, **over: Any) -> dict[str, Any]:
    body = {
        "agency_id": users.dept,
        "device_id": "aq-ben-thanh",
        "type": "AirQualityObserved",
        "name": "Trạm Bến Thành",
        "lat": 10.7725,
        "lon": 106.6981,
    }
    body.update(over)
    return body


def register(client, headers, users, **over: Any) -> dict[str, Any]:
    r = client.post(f"{API}/devices", json=device_body(users, **over), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def send(client, key: str | None, body: Any):
    return client.post(f"{API}/ingest", json=body, headers={"X-Device-Key": key} if key else {})


# ------------------------------------------------------------------ devices


@SQLITE_ONLY
def test_register_device_returns_its_key_once(client, platform, users, editor, member):
    body = register(client, editor, users)
    d, key = body["device"], body["key"]
    assert key.startswith("cdk_") and len(key) > 30
    assert (
        d["device_id"] == "aq-ben-thanh" and d["type"] == "AirQualityObserved" and d["agency_code"] == TENANT
    )
    assert d["entity_id"] == "urn:ngsi-ld:AirQualityObserved:skhcn:aq-ben-thanh"
    assert (d["lat"], d["lon"], d["active"], d["message_count"]) == (10.7725, 106.6981, True, 0)
    # only the key's hash is kept; no later answer shows the key
    with platform.transaction() as db:
        row = db.get(Device, d["id"])
        assert row.key_hash != key and key not in row.key_hash
        e = db.get(Entity, d["entity_id"])
        assert e.agency_id == users.dept and (e.lat, e.lon) == (10.7725, 106.6981)
        assert e.attrs["name"]["value"] == "Trạm Bến Thành"
    shown = client.get(f"{API}/devices/{d['id']}", headers=member)
    assert shown.status_code == 200 and key not in shown.text
    assert shown.json()["device_id"] == "aq-ben-thanh"
    # its entity is readable through NGSI-LD straight away
    r = client.get(f"/ngsi-ld/v1/entities/{d['entity_id']}")
    assert r.status_code == 200 and r.json()["location"]["value"]["coordinates"] == [106.6981, 10.7725]


@SQLITE_ONLY
def test_register_device_refusals(client, platform, users, editor, member, outsider):
    register(client, editor, users)
    for over in (
        {"device_id": "có dấu"},
        {"device_id": "a/b"},
        {"device_id": ""},
        {"device_id": "x" * 101},
        {"type": "Toaster"},
        {"type": "Entity"},
        {"lat": 91.0},
        {"lon": -181.0},
        {"lat": 10.0, "lon": None},
        {"visibility": "secret"},
        {"extra": 1},
        {"agency_id": "skhcn"},
    ):
        r = client.post(
            f"{API}/devices", json=device_body(users, **{"device_id": "new-1", **over}), headers=editor
        )
        assert r.status_code == 422, (over, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert_problem(client.post(f"{API}/devices", json=device_body(users), headers=editor), 409)
    assert_problem(
        client.post(f"{API}/devices", json=device_body(users, device_id="m1"), headers=member), 403
    )
    assert_problem(
        client.post(f"{API}/devices", json=device_body(users, device_id="o1"), headers=outsider), 403
    )
    assert_problem(client.post(f"{API}/devices", json=device_body(users, device_id="a1")), 401)
    assert_problem(
        client.post(
            f"{API}/devices",
            json=device_body(users, device_id="u1", agency_id=99999),
            headers=login(client, users.sysadmin),
        ),
        404,
    )
    with platform.transaction() as db:
        assert [d.device_id for d in db.execute(select(Device)).scalars()] == ["aq-ben-thanh"]
    # the same device id in another agency is another device
    root = login(client, users.sysadmin)
    r = client.post(f"{API}/devices", json=device_body(users, agency_id=users.other_dept), headers=root)
    assert (
        r.status_code == 201
        and r.json()["device"]["entity_id"] == "urn:ngsi-ld:AirQualityObserved:syt:aq-ben-thanh"
    )


@SQLITE_ONLY
def test_device_list_shows_only_your_agencies(client, users, editor, member, outsider):
    root = login(client, users.sysadmin)
    register(client, editor, users, device_id="a-1")
    register(client, editor, users, device_id="t-1", type="TrafficFlowObserved")
    register(client, root, users, device_id="syt-1", agency_id=users.other_dept)

    def listed(headers, **params) -> list[str]:
        r = client.get(f"{API}/devices", headers=headers, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["items"]) or "limit" in params
        return [d["device_id"] for d in body["items"]]

    assert listed(editor) == ["a-1", "t-1"]
    assert listed(member) == ["a-1", "t-1"]
    assert listed(outsider) == ["syt-1"]
    assert sorted(listed(root)) == ["a-1", "syt-1", "t-1"]
    assert listed(editor, type="TrafficFlowObserved") == ["t-1"]
    assert listed(editor, agency_id=users.other_dept) == []
    r = client.get(f"{API}/devices", headers=editor, params={"limit": 1})
    assert r.json()["total"] == 2 and len(r.json()["items"]) == 1
    assert_problem(client.get(f"{API}/devices"), 401)


@SQLITE_ONLY
def test_show_and_update_device(client, platform, users, editor, member, outsider):
    d = register(client, editor, users)["device"]
    url = f"{API}/devices/{d['id']}"
    assert_problem(client.get(url, headers=outsider), 403)
    assert_problem(client.get(url), 401)
    assert_problem(client.get(f"{API}/devices/99999", headers=editor), 404)
    r = client.patch(
        url, json={"name": "Trạm mới", "lat": 10.8, "lon": 106.65, "visibility": "internal"}, headers=editor
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["name"], got["lat"], got["lon"], got["visibility"]) == ("Trạm mới", 10.8, 106.65, "internal")
    with platform.transaction() as db:
        e = db.get(Entity, d["entity_id"])
        assert (e.lat, e.lon, e.visibility) == (10.8, 106.65, "internal")
        assert e.location == {"type": "Point", "coordinates": [106.65, 10.8]}
        assert e.attrs["name"]["value"] == "Trạm mới"
    # now internal: hidden from the public, visible to members
    assert client.get(f"/ngsi-ld/v1/entities/{d['entity_id']}").status_code == 404
    assert client.get(f"/ngsi-ld/v1/entities/{d['entity_id']}", headers=member).status_code == 200
    assert_problem(client.patch(url, json={"name": "x"}, headers=member), 403)
    assert_problem(client.patch(url, json={"name": "x"}, headers=outsider), 403)
    assert_problem(client.patch(url, json={"name": "x"}), 401)
    for bad in ({"visibility": "secret"}, {"lat": 100, "lon": 1}, {"key": "x"}, {"active": "maybe"}):
        r = client.patch(url, json=bad, headers=editor)
        assert r.status_code == 422, (bad, r.text)
    r = client.patch(url, json={"active": False}, headers=editor)
    assert r.status_code == 200 and r.json()["active"] is False


@SQLITE_ONLY
def test_rotate_key(client, users, editor, member):
    body = register(client, editor, users)
    old, url = body["key"], f"{API}/devices/{body['device']['id']}/rotate-key"
    t = recent()
    assert send(client, old, [aq(t, pm25=10)]).json()["accepted"] == 1
    assert_problem(client.post(url, headers=member), 403)
    assert_problem(client.post(url), 401)
    r = client.post(url, headers=editor)
    assert r.status_code == 200, r.text
    new = r.json()["key"]
    assert new.startswith("cdk_") and new != old
    assert_problem(send(client, old, [aq(t + dt.timedelta(seconds=1), pm25=11)]), 401, "invalid-device-key")
    r = send(client, new, [aq(t + dt.timedelta(seconds=1), pm25=11)])
    assert r.status_code == 200 and r.json()["stored_values"] == 1


# ------------------------------------------------------------------ the HTTP batch endpoint


def test_ingest_batch_reports_each_observation(backend, client, platform, users, editor):
    body = register(client, editor, users)
    key, eid = body["key"], body["device"]["entity_id"]
    t = recent()
    batch = [
        aq(t - dt.timedelta(minutes=10), pm25=10, pm10=20),
        aq(t - dt.timedelta(minutes=5), pm25=12),
        aq(t, pm25="lots"),
        aq(t, pm25=13, temperature={"value": 86, "unitCode": "FAH"}),
    ]
    r = send(client, key, batch)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rejected"] == [{"index": 2, "code": "not-a-number", "detail": out["rejected"][0]["detail"]}]
    assert out["rejected"][0]["detail"]
    assert (out["accepted"], out["stored_values"], out["duplicates"]) == (3, 5, 0)
    got = observations(platform, eid)
    assert len(got) == 5 and {a for _, a, _, _ in got} == {"pm25", "pm10", "temperature"}
    assert [v for _, a, _, v in got if a == "temperature"] == [pytest.approx(30.0)]
    # the whole batch again: all duplicates, nothing stored
    r = send(client, key, batch[:2] + batch[3:])
    assert r.json() == {"accepted": 3, "stored_values": 0, "duplicates": 3, "rejected": []}
    assert len(observations(platform, eid)) == 5
    # {"observations": [...]} and a single object are accepted too
    r = send(client, key, {"observations": [aq(t + dt.timedelta(seconds=1), pm25=1)]})
    assert r.json()["stored_values"] == 1
    r = send(client, key, aq(t + dt.timedelta(seconds=2), pm25=2))
    assert r.json()["stored_values"] == 1
    with platform.transaction() as db:
        d = db.get(Device, body["device"]["id"])
        assert d.rejected_count == 1 and d.last_seen_at is not None


@SQLITE_ONLY
def test_ingest_duplicates_inside_one_batch_are_counted(client, platform, users, editor):
    key = register(client, editor, users)["key"]
    t = recent()
    r = send(client, key, [aq(t, pm25=12), aq(t, pm25=12)])
    assert r.json() == {"accepted": 2, "stored_values": 1, "duplicates": 1, "rejected": []}


@SQLITE_ONLY
def test_ingest_needs_a_valid_key(client, platform, users, editor):
    register(client, editor, users)
    ok = [aq(recent(), pm25=1)]
    assert_problem(send(client, None, ok), 401, "invalid-device-key")
    assert_problem(send(client, "cdk_" + "x" * 43, ok), 401, "invalid-device-key")
    assert_problem(send(client, "not-a-key", ok), 401, "invalid-device-key")
    # a user's bearer token is not a device key
    assert_problem(client.post(f"{API}/ingest", json=ok, headers=editor), 401, "invalid-device-key")
    assert observations(platform) == []


@SQLITE_ONLY
def test_ingest_body_and_batch_size(client, platform, users, editor):
    key = register(client, editor, users)["key"]
    t = recent()
    for bad in ([], "pm25=1", 42, {"observations": "x"}, {"observations": []}):
        r = send(client, key, bad)
        assert r.status_code == 422, (bad, r.text)
    platform.settings.sensing_batch_max = 3
    r = send(client, key, [aq(t - dt.timedelta(seconds=i), pm25=i) for i in range(4)])
    body = assert_problem(r, 413, "batch-too-large")
    assert body["limit"] == 3
    assert observations(platform) == []
    r = send(client, key, [aq(t - dt.timedelta(seconds=i), pm25=i) for i in range(3)])
    assert r.status_code == 200 and r.json()["stored_values"] == 3


@SQLITE_ONLY
def test_ingest_from_a_deactivated_device_is_refused(client, platform, users, editor):
    body = register(client, editor, users)
    client.patch(f"{API}/devices/{body['device']['id']}", json={"active": False}, headers=editor)
    r = send(client, body["key"], [aq(recent(), pm25=1)])
    assert r.status_code == 200
    assert r.json()["accepted"] == 0 and r.json()["rejected"][0]["code"] == "inactive-device"


@SQLITE_ONLY
def test_rejected_list_is_per_agency(client, platform, users, editor, member, outsider):
    body = register(client, editor, users)
    send(client, body["key"], [aq(recent(), pm25=-3), {"observedAt": "x", "pm25": 1}])
    ingest.ingest(
        platform, [msg("ghost", aq(recent(), pm25=1), agency="nowhere")]
    )  # no agency: sysadmin only
    r = client.get(f"{API}/rejected", headers=member)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert r.json()["total"] == 2
    assert [(i["code"], i["device_id"], i["channel"]) for i in items] == [
        ("bad-time", "aq-ben-thanh", "http"),
        ("out-of-range", "aq-ben-thanh", "http"),
    ]
    assert all(i["detail"] and i["payload"] for i in items)
    assert client.get(f"{API}/rejected", headers=outsider).json()["total"] == 0
    assert client.get(f"{API}/rejected", headers=login(client, users.sysadmin)).json()["total"] == 3
    assert_problem(client.get(f"{API}/rejected"), 401)


# ------------------------------------------------------------------ forecast


def sine_history(platform, users, days: int = 3, step_min: int = 5) -> tuple[str, dt.datetime]:
    """`days` of pm25 every `step_min` minutes with a daily sine, ending a little before now."""
    s = make_sensors(platform, TENANT, agency_id=users.dept)
    end = recent()
    end -= dt.timedelta(minutes=end.minute % step_min)  # on the step's grid
    n = days * 24 * 60 // step_min
    batch = []
    for i in range(n):
        t = end - dt.timedelta(minutes=step_min * (n - 1 - i))
        phase = 2 * math.pi * (t.hour * 60 + t.minute) / 1440
        batch.append(
            msg("aq1", aq(t, pm25=round(40 + 15 * math.sin(phase) + (i % 3) * 0.5, 3)), agency=TENANT)
        )
    out = ingest.ingest(platform, batch)
    assert all(o.status == "stored" for o in out)
    return s.aq, end


@SQLITE_ONLY
def test_forecast_contract(client, platform, users):
    eid, end = sine_history(platform, users)
    r = client.post(f"{API}/forecast", json={"entity_id": eid, "attribute": "pm25", "horizon_minutes": 60})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["method"], str) and body["method"]
    points = body["points"]
    assert len(points) == 60 // 5
    times = [ingest.parse_time(p["time"]) for p in points]
    assert times[0] == end + dt.timedelta(minutes=5)
    assert all(b - a == dt.timedelta(minutes=5) for a, b in zip(times, times[1:]))
    for p in points:
        assert set(p) == {"time", "value", "lower", "upper"}
        assert p["lower"] <= p["value"] <= p["upper"]
        assert all(math.isfinite(p[k]) for k in ("value", "lower", "upper"))
    # the daily sine: the forecast follows the next hour's expected level, not a far-off value
    for p, t in zip(points, times):
        phase = 2 * math.pi * (t.hour * 60 + t.minute) / 1440
        assert abs(p["value"] - (40 + 15 * math.sin(phase))) < 10, (t, p)
    # a wider interval for a higher level
    r95 = client.post(
        f"{API}/forecast", json={"entity_id": eid, "attribute": "pm25", "horizon_minutes": 60, "level": 95}
    ).json()
    assert all(
        b["upper"] - b["lower"] >= a["upper"] - a["lower"] - 1e-9 for a, b in zip(points, r95["points"])
    )


@SQLITE_ONLY
def test_forecast_refusals(client, platform, users):
    eid, end = sine_history(platform, users, days=1, step_min=60)  # 24 hourly values
    ingest.ingest(
        platform,
        [msg("tf1", {"type": "TrafficFlowObserved", "observedAt": iso(end), "intensity": 3}, agency=TENANT)],
    )
    f = f"{API}/forecast"
    base = {"entity_id": eid, "attribute": "pm25", "horizon_minutes": 60}
    for over in (
        {"horizon_minutes": 0},
        {"horizon_minutes": -5},
        {"horizon_minutes": 7 * 24 * 60 + 1},
        {"attribute": "no2"},
        {"attribute": "nothing"},
        {"level": 42},
        {"horizon_minutes": "soon"},
        {"entity_id": "urn:ngsi-ld:TrafficFlowObserved:skhcn:tf1", "attribute": "intensity"},
    ):
        r = client.post(f, json={**base, **over})
        assert r.status_code == 422, (over, r.text)
    r = client.post(f, json={**base, "entity_id": "urn:ngsi-ld:AirQualityObserved:none"})
    assert r.status_code == 404, r.text


# ------------------------------------------------------------------ dashboard and series


@SQLITE_ONLY
def test_dashboard_statuses_and_latest_values(client, platform, users, member):
    s = make_sensors(platform, TENANT, agency_id=users.dept)
    now = dt.datetime.now(dt.timezone.utc)
    # aq1 reported just now; tf1 last reported 20 minutes ago; wx1 never
    ingest.ingest(platform, [msg("aq1", aq(now - dt.timedelta(minutes=1), pm25=33), agency=TENANT)], now=now)
    ingest.ingest(
        platform,
        [
            msg(
                "tf1",
                {
                    "type": "TrafficFlowObserved",
                    "observedAt": iso(now - dt.timedelta(minutes=21)),
                    "intensity": 7,
                },
                agency=TENANT,
            )
        ],
        now=now - dt.timedelta(minutes=20),
    )
    r = client.get(f"{API}/dashboard")
    assert r.status_code == 200, r.text
    body = r.json()
    status = {x["entity_id"]: x["status"] for x in body["sensors"]}
    assert status == {s.aq: "ok", s.traffic: "silent", s.weather: "silent"}
    assert body["counts"] == {"ok": 1, "alert": 0, "silent": 2}
    aq_row = next(x for x in body["sensors"] if x["entity_id"] == s.aq)
    assert (
        aq_row["latest"]["pm25"]["value"] == 33 and aq_row["device_id"] == "aq1" and aq_row["main"] == "pm25"
    )
    assert body["alerts"] is None  # not for the public
    assert "AirQualityObserved" in body["types"]
    assert client.get(f"{API}/dashboard", headers=member).json()["alerts"] == []
    only = client.get(f"{API}/dashboard", params={"type": "TrafficFlowObserved"}).json()
    assert [x["entity_id"] for x in only["sensors"]] == [s.traffic]


@SQLITE_ONLY
def test_dashboard_hides_internal_sensors_from_the_public(client, platform, users, member):
    with platform.system_context() as ctx:
        from cityai.sensing import service

        service.device_register.unchecked(
            ctx, agency_id=users.dept, device_id="hidden", type="NoiseLevelObserved", visibility="internal"
        )
    assert client.get(f"{API}/dashboard").json()["sensors"] == []
    assert [x["device_id"] for x in client.get(f"{API}/dashboard", headers=member).json()["sensors"]] == [
        "hidden"
    ]


@SQLITE_ONLY
def test_series(client, platform, users):
    s = make_sensors(platform, TENANT, agency_id=users.dept)
    t0 = utc(2025, 3, 1, 0, 0)
    ingest.ingest(
        platform,
        [msg("aq1", aq(t0 + dt.timedelta(minutes=15 * i), pm25=float(i)), agency=TENANT) for i in range(12)],
        now=utc(2025, 3, 1, 12),
    )  # 00:00 .. 02:45
    r = client.get(f"{API}/entities/{s.aq}/series", params={"attribute": "pm25", "hours": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    # the hour before the newest value (02:45): 01:45 excluded .. 02:45 included
    assert body["values"] == [8.0, 9.0, 10.0, 11.0]
    assert [ingest.parse_time(t) for t in body["times"]] == [
        t0 + dt.timedelta(minutes=15 * i) for i in range(8, 12)
    ]
    assert (
        len(client.get(f"{API}/entities/{s.aq}/series", params={"attribute": "pm25"}).json()["values"]) == 12
    )
    assert client.get(f"{API}/entities/{s.aq}/series", params={"attribute": "no2"}).json() == {
        "entity_id": s.aq,
        "attribute": "no2",
        "times": [],
        "values": [],
    }
    assert (
        client.get(f"{API}/entities/{s.aq}/series", params={"attribute": "pm25", "hours": 0}).status_code
        == 422
    )
    assert (
        client.get(f"{API}/entities/{s.aq}/series", params={"attribute": "pm25", "hours": 721}).status_code
        == 422
    )
    assert client.get(f"{API}/entities/{s.aq}/series").status_code == 422  # attribute is required
    assert (
        client.get(f"{API}/entities/urn:ngsi-ld:X:none/series", params={"attribute": "a"}).status_code == 404
    )


# ------------------------------------------------------------------ command line


@SQLITE_ONLY
def test_cli_register_device(platform, users, settings, monkeypatch):
    from click.testing import CliRunner

    from cityai.sensing.cli import sensing_group

    monkeypatch.setenv("CITYAI_HOME", str(settings.home))
    monkeypatch.setenv("CITYAI_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("CITYAI_QUEUE_URL", settings.effective_queue_url)
    monkeypatch.setenv("CITYAI_SECRET_KEY", "test-secret")
    monkeypatch.setenv("CITYAI_LOG_JSON", "false")
    runner = CliRunner()
    r = runner.invoke(
        sensing_group,
        [
            "register-device",
            "--agency",
            TENANT,
            "--id",
            "cli-1",
            "--type",
            "TrafficFlowObserved",
            "--lat",
            "10.77",
            "--lon",
            "106.70",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["entity_id"] == "urn:ngsi-ld:TrafficFlowObserved:skhcn:cli-1"
    assert out["key"].startswith("cdk_")
    assert out["topic"] == "cityai/v1/skhcn/cli-1"
    with platform.transaction() as db:
        d = db.execute(select(Device).where(Device.device_id == "cli-1")).scalar_one()
        assert d.agency_id == users.dept and (d.lat, d.lon) == (10.77, 106.70)
    # the printed key works
    out2 = ingest.ingest(
        platform,
        [
            msg(
                "cli-1",
                {"type": "TrafficFlowObserved", "observedAt": iso(recent()), "intensity": 4},
                agency=TENANT,
            )
        ],
    )
    assert out2[0].status == "stored"
    from cityai.sensing import service

    with platform.system_context(write=False) as ctx:
        assert service.device_by_key(ctx, out["key"]).device_id == "cli-1"
    # refusals: the same id again, an unknown type, an unknown agency
    r = runner.invoke(
        sensing_group,
        ["register-device", "--agency", TENANT, "--id", "cli-1", "--type", "TrafficFlowObserved"],
    )
    assert r.exit_code == 2 and "cli-1" in r.output
    r = runner.invoke(
        sensing_group, ["register-device", "--agency", TENANT, "--id", "cli-2", "--type", "Toaster"]
    )
    assert r.exit_code == 2 and "Toaster" in r.output
    # an agency that does not exist yet is created (the operator is told), so the device can be registered
    r = runner.invoke(
        sensing_group,
        ["register-device", "--agency", "nowhere", "--id", "cli-3", "--type", "TrafficFlowObserved"],
    )
    assert r.exit_code == 0, r.output
    assert "created agency 'nowhere'" in r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["topic"] == "cityai/v1/nowhere/cli-3"
    with platform.transaction() as db:
        created = db.execute(select(Agency).where(Agency.code == "nowhere")).scalar_one()
        assert created.kind == "department"
        assert db.execute(select(Device.agency_id).where(Device.device_id == "cli-3")).scalar_one() == created.id
    # an agency code that cannot be one is refused with a message, nothing created
    r = runner.invoke(
        sensing_group,
        ["register-device", "--agency", "bad code!", "--id", "cli-4", "--type", "TrafficFlowObserved"],
    )
    assert r.exit_code == 2 and "cli-4" not in r.stdout
    with platform.transaction() as db:
        assert db.execute(select(Device.id).where(Device.device_id == "cli-4")).first() is None


# ------------------------------------------------------------------ defects found in review (now fixed)


@SQLITE_ONLY
def test_register_device_does_not_adopt_another_agencys_entity(client, platform, users, editor):
    # ids urn:ngsi-ld:<Type>:<agency code>:... belong to that agency: another tenant cannot take one
    root = {**login(client, users.sysadmin), "NGSILD-Tenant": "syt"}
    eid = "urn:ngsi-ld:AirQualityObserved:skhcn:aq-1"
    r = client.post("/ngsi-ld/v1/entities", json={"id": eid, "type": "AirQualityObserved"}, headers=root)
    assert r.status_code == 400 and "skhcn" in r.json()["detail"], r.text
    # the agency's own entity (not yet a device's) is adopted by the device registered for it, and made internal
    own = {**login(client, users.sysadmin), "NGSILD-Tenant": "skhcn"}
    r = client.post("/ngsi-ld/v1/entities", json={"id": eid, "type": "AirQualityObserved"}, headers=own)
    assert r.status_code == 201, r.text
    r = client.post(
        f"{API}/devices", json=device_body(users, device_id="aq-1", visibility="internal"), headers=editor
    )
    assert r.status_code == 201, r.text
    with platform.transaction() as db:
        e = db.get(Entity, eid)
        assert (e.agency_id, e.visibility, e.device_pk is not None) == (users.dept, "internal", True)
