"""Hostile and odd input found in review: each case used to be a 500, a leak, a hang or lost data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from cityai.core.models import AuditEntry
from cityai.sensing import ingest
from cityai.sensing.models import Observation, Rejected
from tests.conftest import login
from tests.sensing.test_ingest import SQLITE_ONLY, aq, make_sensors, msg
from tests.sensing.test_ngsi import TENANT, assert_ngsi_error, entity

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _pm25(value: float, t: dt.datetime) -> dict:
    return {"type": "Property", "value": value, "observedAt": _iso(t)}


@SQLITE_ONLY
def test_a_deleted_entity_takes_its_history_with_it(client, platform, users):
    editor = {**login(client, users.editor), "NGSILD-Tenant": TENANT}
    body = entity("secret-well", "WaterQualityObserved", pH=_pm25(6.5, NOW - dt.timedelta(minutes=5)))
    r = client.post("/ngsi-ld/v1/entities", json=body, headers=editor, params={"visibility": "internal"})
    assert r.status_code == 201, r.text
    eid = body["id"]
    assert client.delete(f"/ngsi-ld/v1/entities/{eid}", headers=editor).status_code == 204
    with platform.transaction() as db:
        assert db.execute(select(func.count()).select_from(Observation)
                          .where(Observation.entity_id == eid)).scalar() == 0
    # someone re-creating the id (public this time) starts with an empty history
    other = {**login(client, users.sysadmin), "NGSILD-Tenant": "syt"}
    r = client.post("/ngsi-ld/v1/entities", json={"id": eid, "type": "WaterQualityObserved"}, headers=other)
    assert r.status_code == 201, r.text
    r = client.get(f"/ngsi-ld/v1/temporal/entities/{eid}")
    assert r.status_code == 200 and "pH" not in r.json(), r.text


@SQLITE_ONLY
def test_unicode_ids_get_a_valid_location_header(client, users):
    editor = {**login(client, users.editor), "NGSILD-Tenant": TENANT}
    r = client.post("/ngsi-ld/v1/entities", json={"id": "urn:ngsi-ld:Thing:Bến-Thành", "type": "Thing"},
                    headers=editor)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:B%E1%BA%BFn-Th%C3%A0nh"
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:Bến-Thành").status_code == 200


@SQLITE_ONLY
def test_a_unit_code_that_is_not_a_string_is_400_and_the_upsert_reports_it(client, users):
    editor = {**login(client, users.editor), "NGSILD-Tenant": TENANT}
    bad = entity("aq-x", pm25={**_pm25(5, NOW), "unitCode": ["GQ"]})
    assert_ngsi_error(client.post("/ngsi-ld/v1/entities", json=bad, headers=editor), 400, "BadRequestData")
    good = entity("aq-y", pm25=_pm25(5, NOW))
    r = client.post("/ngsi-ld/v1/entityOperations/upsert", json=[good, bad], headers=editor)
    assert r.status_code == 207, r.text
    assert r.json()["success"] == [good["id"]] and r.json()["errors"][0]["entityId"] == bad["id"]


@SQLITE_ONLY
def test_numbers_and_times_out_of_range_are_refused_per_message(platform):
    sensors = make_sensors(platform)
    out = ingest.ingest(platform, [
        msg("aq1", {"type": "AirQualityObserved", "observedAt": "0001-01-01T00:00:00+07:00", "pm25": 1}),
        msg("aq1", {"type": "AirQualityObserved", "observedAt": _iso(NOW), "pm25": 10 ** 400}),
        msg("aq1", aq(NOW, pm25=3)),
    ])
    assert [(o.status, o.code) for o in out] == [("rejected", "bad-time"), ("rejected", "not-a-number"),
                                                 ("stored", None)]
    with platform.transaction() as db:
        assert sorted(db.execute(select(Rejected.code)).scalars()) == ["bad-time", "not-a-number"]
    assert sensors.aq


@SQLITE_ONLY
def test_one_temporal_request_returns_at_most_the_configured_number_of_values(client, platform, users):
    platform.settings.sensing_query_max_points = 10
    editor = {**login(client, users.editor), "NGSILD-Tenant": TENANT}
    body = entity("many")
    client.post("/ngsi-ld/v1/entities", json=body, headers=editor)
    for i in range(8):  # 8 times x 2 attributes = 16 values
        t = NOW - dt.timedelta(minutes=i)
        r = client.patch(f"/ngsi-ld/v1/entities/{body['id']}/attrs", headers=editor,
                         json={"pm25": _pm25(i, t), "pm10": _pm25(i, t)})
        assert r.status_code == 204, r.text
    r = client.get(f"/ngsi-ld/v1/temporal/entities/{body['id']}")
    got = r.json()
    assert sum(len(got.get(a, [])) for a in ("pm10", "pm25")) == 10 and got["_truncated"] is True


@SQLITE_ONLY
def test_geo_and_time_parameters_that_make_no_sense_are_400(client, users):
    q = "/ngsi-ld/v1/entities"
    for dist in ("nan", "1e400", "-5"):
        r = client.get(q, params={"georel": f"near;maxDistance=={dist}", "geometry": "Point",
                                  "coordinates": "[106.7,10.77]"})
        assert_ngsi_error(r, 400, "BadRequestData")
    editor = {**login(client, users.editor), "NGSILD-Tenant": TENANT}
    body = entity("t1", pm25=_pm25(1, NOW))
    client.post(q, json=body, headers=editor)
    r = client.get(f"/ngsi-ld/v1/temporal/entities/{body['id']}", params={"timeAt": _iso(NOW)})
    assert_ngsi_error(r, 400, "BadRequestData")


@SQLITE_ONLY
def test_reading_refused_messages_is_audited(client, platform, users):
    make_sensors(platform)
    ingest.ingest(platform, [msg("aq1", b"{not json")])
    r = client.get("/api/v1/sensing/rejected", headers=login(client, users.sysadmin))
    assert r.status_code == 200 and r.json()["total"] == 1
    with platform.transaction() as db:
        assert db.execute(select(AuditEntry.id).where(AuditEntry.action == "sensing.rejected.read")).first()
