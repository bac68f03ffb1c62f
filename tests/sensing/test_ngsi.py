"""The NGSI-LD API under /ngsi-ld/v1, end to end through the ASGI app.

Entities (create, query by type / id / idPattern / attrs / q / geo, update, delete, upsert), visibility of
internal entities and the audit of their reads, the temporal API (raw values in a range, lastN,
temporalValues, aggregatedValues) and subscriptions, whose notifications are checked at a real local HTTP
server after running the queued job in-process (``jobs.execute``).

The users come from the shared ``users`` fixture: the tenant is their department "skhcn" (editor, member),
"syt" is another agency (the outsider). The time-series contract is also run on PostgreSQL; the rest is
validation and plumbing that runs the same on every database (SQLite only).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from cityai.core import jobs
from cityai.core.models import AuditEntry, Job
from cityai.sensing import ingest, store
from tests.conftest import login
from tests.sensing.test_ingest import (
    PG_ONLY,
    SQLITE_ONLY,
    aq,
    iso,
    make_sensors,
    msg,
    observations,
    utc,
)

TENANT = "skhcn"
NGSI = "https://uri.etsi.org/ngsi-ld/errors/"
NOTIFY_KIND = "sensing.notify_subscription"


# ------------------------------------------------------------------ helpers


@pytest.fixture
def editor(client, users) -> dict[str, str]:
    return {**login(client, users.editor), "NGSILD-Tenant": TENANT}


@pytest.fixture
def member(client, users) -> dict[str, str]:
    return login(client, users.member)


@pytest.fixture
def outsider(client, users) -> dict[str, str]:
    return login(client, users.outsider)


def entity(
    short_id: str,
    type_: str = "AirQualityObserved",
    *,
    lon: float | None = None,
    lat: float | None = None,
    **attrs: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": f"urn:ngsi-ld:{type_}:{short_id}", "type": type_}
    for k, v in attrs.items():
        body[k] = v if isinstance(v, dict) else {"type": "Property", "value": v}
    if lon is not None:
        body["location"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
    return body


def assert_ngsi_error(r, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == NGSI + kind, body
    assert body["status"] == status and body.get("detail"), body
    return body


def ids(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()]


def create(client, headers, body, **params) -> None:
    r = client.post("/ngsi-ld/v1/entities", json=body, headers=headers, params=params)
    assert r.status_code == 201, r.text


# ------------------------------------------------------------------ create, read, update, delete


@SQLITE_ONLY
def test_create_and_get_entity(client, platform, editor):
    t = "2025-03-01T11:00:00Z"
    body = entity(
        "q1-ben-thanh",
        lon=106.698,
        lat=10.772,
        pm25={"type": "Property", "value": 42.5, "observedAt": t, "unitCode": "GQ"},
        name="Bến Thành",
    )
    r = client.post("/ngsi-ld/v1/entities", json=body, headers=editor)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:q1-ben-thanh"
    r = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:q1-ben-thanh")
    assert r.status_code == 200, r.text
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in r.headers["link"]
    got = r.json()
    assert got["id"] == body["id"] and got["type"] == "AirQualityObserved"
    assert got["pm25"] == {"type": "Property", "value": 42.5, "observedAt": t, "unitCode": "GQ"}
    assert got["name"] == {"type": "Property", "value": "Bến Thành"}
    assert got["location"] == {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [106.698, 10.772]},
    }
    # key-values and attrs projection
    kv = client.get(
        f"/ngsi-ld/v1/entities/{body['id']}", params={"options": "keyValues", "attrs": "pm25"}
    ).json()
    assert kv == {"id": body["id"], "type": "AirQualityObserved", "pm25": 42.5}
    # a numeric property with observedAt is also a time-series value
    assert observations(platform) == [(body["id"], "pm25", store.to_ms(utc(2025, 3, 1, 11)), 42.5)]
    with platform.transaction() as db:
        assert db.execute(
            select(AuditEntry).where(
                AuditEntry.action == "sensing.entity.create", AuditEntry.object_id == body["id"]
            )
        ).first()
    # units of catalogued types are converted
    body = entity(
        "wx-1",
        "WeatherObserved",
        temperature={
            "type": "Property",
            "value": 86,
            "unitCode": "FAH",
            "observedAt": "2025-03-01T11:00:00Z",
        },
    )
    create(client, editor, body)
    got = client.get(f"/ngsi-ld/v1/entities/{body['id']}").json()
    assert got["temperature"]["value"] == pytest.approx(30.0)
    assert observations(platform, body["id"]) == [
        (body["id"], "temperature", store.to_ms(utc(2025, 3, 1, 11)), pytest.approx(30.0))
    ]
    # creating the same id twice

    body = entity("dup", pm25=1)
    create(client, editor, body)
    r = client.post("/ngsi-ld/v1/entities", json=body, headers=editor)
    assert_ngsi_error(r, 409, "AlreadyExists")


BAD_ENTITIES = [
    ("id not a URN", {"id": "sensor-1", "type": "AirQualityObserved"}),
    ("id missing", {"type": "AirQualityObserved"}),
    ("id with a space", {"id": "urn:ngsi-ld:AirQualityObserved:a b", "type": "AirQualityObserved"}),
    ("type missing", {"id": "urn:ngsi-ld:X:1"}),
    ("type not a name", {"id": "urn:ngsi-ld:X:1", "type": "Air Quality"}),
    ("attribute name", {**entity("a1"), "pm-25": {"type": "Property", "value": 1}}),
    ("property without value", {**entity("a1"), "pm25": {"type": "Property"}}),
    ("relationship without object", {**entity("a1"), "refDevice": {"type": "Relationship"}}),
    (
        "location not a point",
        {
            **entity("a1"),
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [200, 10]}},
        },
    ),
    ("location a string", {**entity("a1"), "location": "Quận 1"}),
    ("bad observedAt", {**entity("a1"), "pm25": {"type": "Property", "value": 1, "observedAt": "hôm qua"}}),
    (
        "naive observedAt",
        {**entity("a1"), "pm25": {"type": "Property", "value": 1, "observedAt": "2025-03-01T11:00:00"}},
    ),
    (
        "out of range",
        {**entity("a1"), "pm25": {"type": "Property", "value": -5, "observedAt": "2025-03-01T11:00:00Z"}},
    ),
    (
        "wrong unit",
        {
            **entity("a1"),
            "pm25": {"type": "Property", "value": 5, "unitCode": "CEL", "observedAt": "2025-03-01T11:00:00Z"},
        },
    ),
    ("not an object", ["urn:ngsi-ld:X:1"]),
]


@SQLITE_ONLY
def test_create_bad_entity_is_400_bad_request_data(client, platform, editor):
    for name, body in BAD_ENTITIES:
        r = client.post("/ngsi-ld/v1/entities", json=body, headers=editor)
        assert r.status_code == 400, (name, r.text)
        assert_ngsi_error(r, 400, "BadRequestData")
        assert r.headers["content-type"].startswith("application/problem+json")
    assert observations(platform) == []
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:a1").status_code == 404


@SQLITE_ONLY
def test_create_needs_an_editor_of_the_tenant_header_optional_for_one_agency(
    client, users, member, outsider, platform
):
    body = entity("auth", pm25=1)
    # anonymous, with and without the tenant header
    assert (
        client.post("/ngsi-ld/v1/entities", json=body, headers={"NGSILD-Tenant": TENANT}).status_code == 401
    )
    # a member (not editor) of the tenant, and a user of another agency writing into it
    assert (
        client.post(
            "/ngsi-ld/v1/entities", json=body, headers={**member, "NGSILD-Tenant": TENANT}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/ngsi-ld/v1/entities", json=body, headers={**outsider, "NGSILD-Tenant": TENANT}
        ).status_code
        == 403
    )
    # an unknown tenant
    r = client.post("/ngsi-ld/v1/entities", json=body, headers={**outsider, "NGSILD-Tenant": "nowhere"})
    assert r.status_code == 404
    assert client.get(f"/ngsi-ld/v1/entities/{body['id']}").status_code == 404
    # without the tenant header, an editor of one agency writes into that agency
    h = login(client, users.editor)
    create(client, h, entity("no-tenant", pm25=1))
    from cityai.sensing.models import Entity

    with platform.transaction() as db:
        assert db.get(Entity, "urn:ngsi-ld:AirQualityObserved:no-tenant").agency_id == users.dept


@SQLITE_ONLY
def test_anonymous_create_without_tenant_is_401(client, users):
    r = client.post("/ngsi-ld/v1/entities", json=entity("anon", pm25=1))
    assert r.status_code == 401, r.text


@SQLITE_ONLY
def test_patch_attrs_and_delete_and_device_entities(client, platform, editor, member, outsider, users):
    body = entity("patch-me", pm25={"type": "Property", "value": 10, "observedAt": "2025-03-01T10:00:00Z"})
    create(client, editor, body)
    url = f"/ngsi-ld/v1/entities/{body['id']}"
    r = client.patch(
        url + "/attrs",
        json={
            "pm25": {"type": "Property", "value": 20, "observedAt": "2025-03-01T11:00:00Z"},
            "status": "ok",
        },
        headers=editor,
    )
    assert r.status_code == 204, r.text
    got = client.get(url).json()
    assert got["pm25"]["value"] == 20 and got["status"] == {"type": "Property", "value": "ok"}
    # a late value goes to the time series but does not replace the newer latest value
    r = client.patch(
        url + "/attrs",
        json={"pm25": {"type": "Property", "value": 5, "observedAt": "2025-03-01T09:00:00Z"}},
        headers=editor,
    )
    assert r.status_code == 204
    assert client.get(url).json()["pm25"]["value"] == 20
    assert [v for *_, v in observations(platform)] == [5.0, 10.0, 20.0]
    # refusals
    assert client.patch(url + "/attrs", json={"pm25": 1}).status_code == 401
    assert client.patch(url + "/attrs", json={"pm25": 1}, headers=outsider).status_code == 403
    assert client.patch(url + "/attrs", json={"pm25": 1}, headers=member).status_code == 403
    assert client.delete(url, headers=member).status_code == 403
    assert_ngsi_error(client.patch(url + "/attrs", json={}, headers=editor), 400, "BadRequestData")
    assert_ngsi_error(
        client.patch(url + "/attrs", json={"bad name": 1}, headers=editor), 400, "BadRequestData"
    )
    assert_ngsi_error(
        client.patch("/ngsi-ld/v1/entities/urn:ngsi-ld:X:none/attrs", json={"a": 1}, headers=editor),
        404,
        "ResourceNotFound",
    )
    assert client.delete(url, headers=outsider).status_code == 403
    assert client.delete(url).status_code == 401
    assert client.delete(url, headers=editor).status_code == 204
    assert_ngsi_error(client.get(url), 404, "ResourceNotFound")
    assert_ngsi_error(client.delete(url, headers=editor), 404, "ResourceNotFound")
    # a device's entity cannot be deleted (deactivate the device instead)
    s = make_sensors(platform, TENANT, agency_id=users.dept)
    r = client.delete(f"/ngsi-ld/v1/entities/{s.aq}", headers=editor)
    assert_ngsi_error(r, 409, "OperationNotSupported")
    assert client.get(f"/ngsi-ld/v1/entities/{s.aq}").status_code == 200


# ------------------------------------------------------------------ queries


@pytest.fixture
def city(client, editor) -> dict[str, str]:
    """Four AirQualityObserved stations and a weather station around District 1 (lon, lat)."""
    t = "2025-03-01T11:00:00Z"

    def p(v: float) -> dict:
        return {"type": "Property", "value": v, "observedAt": t}

    bodies = [
        entity("ben-thanh", lon=106.6981, lat=10.7725, pm25=p(45), temperature=p(33)),  # 0 m
        entity("nha-tho", lon=106.6990, lat=10.7798, pm25=p(25), temperature=p(32)),  # ~820 m
        entity("thu-duc", lon=106.7700, lat=10.8500, pm25=p(60), temperature=p(41)),  # ~11.5 km
        entity("cu-chi", lon=106.4930, lat=11.0000, pm25=p(12), temperature=p(30)),  # far
        entity("no-temp", lon=106.7000, lat=10.7700, pm25=p(35)),
        entity("wx-q1", "WeatherObserved", lon=106.6985, lat=10.7730, temperature=p(31)),
    ]
    for b in bodies:
        create(client, editor, b)
    return {b["id"].rsplit(":", 1)[-1]: b["id"] for b in bodies}


def short(r) -> list[str]:
    return [i.rsplit(":", 1)[-1] for i in ids(r)]


@SQLITE_ONLY
def test_query_by_type_id_pattern_attrs_and_count(client, city):
    q = "/ngsi-ld/v1/entities"
    assert short(client.get(q, params={"type": "AirQualityObserved"})) == [
        "ben-thanh",
        "cu-chi",
        "nha-tho",
        "no-temp",
        "thu-duc",
    ]
    assert short(client.get(q, params={"type": "WeatherObserved"})) == ["wx-q1"]
    assert short(client.get(q, params={"type": "AirQualityObserved,WeatherObserved"})) == [
        "ben-thanh",
        "cu-chi",
        "nha-tho",
        "no-temp",
        "thu-duc",
        "wx-q1",
    ]
    assert short(client.get(q, params={"id": f"{city['cu-chi']},{city['wx-q1']}"})) == ["cu-chi", "wx-q1"]
    assert short(client.get(q, params={"idPattern": r"urn:ngsi-ld:AirQualityObserved:.*h.-.*"})) == [
        "nha-tho",
        "thu-duc",
    ]
    # only a linear-time subset of regular expressions (literal text, '.', '.*'): anything else is a 400,
    # including the catastrophic-backtracking patterns an anonymous caller could send
    for unsafe in (r"urn:ngsi-ld:AirQualityObserved:(nha|thu).*", "(.*)*(.*)*(.*)*Z", "a+", "[a-z]*"):
        assert_ngsi_error(client.get(q, params={"idPattern": unsafe}), 400, "BadRequestData")
    assert short(client.get(q, params={"type": "Nothing"})) == []
    assert_ngsi_error(client.get(q), 400, "BadRequestData")  # no filter at all
    assert_ngsi_error(client.get(q, params={"idPattern": "("}), 400, "BadRequestData")
    # attrs projection and key-values
    r = client.get(
        "/ngsi-ld/v1/entities", params={"type": "AirQualityObserved,WeatherObserved", "attrs": "temperature"}
    )
    assert short(r) == ["ben-thanh", "cu-chi", "nha-tho", "thu-duc", "wx-q1"]  # no-temp has no temperature
    for e in r.json():
        assert set(e) == {"id", "type", "temperature"}
    kv = client.get("/ngsi-ld/v1/entities", params={"id": city["ben-thanh"], "options": "keyValues"}).json()
    assert kv == [
        {
            "id": city["ben-thanh"],
            "type": "AirQualityObserved",
            "pm25": 45,
            "temperature": 33,
            "location": {"type": "Point", "coordinates": [106.6981, 10.7725]},
        }
    ]
    # count, limit, offset
    q = "/ngsi-ld/v1/entities"
    r = client.get(q, params={"type": "AirQualityObserved", "count": "true", "limit": 2, "offset": 1})
    assert short(r) == ["cu-chi", "nha-tho"]
    assert r.headers["NGSILD-Results-Count"] == "5"
    assert "NGSILD-Results-Count" not in client.get(q, params={"type": "AirQualityObserved"}).headers
    r = client.get(q, params={"type": "AirQualityObserved", "count": "true", "limit": 0})
    assert r.json() == [] and r.headers["NGSILD-Results-Count"] == "5"
    assert_ngsi_error(
        client.get(q, params={"type": "AirQualityObserved", "limit": 5000}), 400, "BadRequestData"
    )
    # the types present, and the JSON-LD context served locally
    r = client.get("/ngsi-ld/v1/types")
    assert r.status_code == 200
    assert r.json()["typeList"] == ["AirQualityObserved", "WeatherObserved"]
    r = client.get("/ngsi-ld/v1/jsonldContexts/cityai")
    assert r.status_code == 200 and "@context" in r.json()


@SQLITE_ONLY
def test_query_q(client, city):
    q = "/ngsi-ld/v1/entities"
    t = {"type": "AirQualityObserved"}
    assert short(client.get(q, params={**t, "q": "pm25>30;temperature<40"})) == ["ben-thanh"]
    assert short(client.get(q, params={**t, "q": "pm25>30"})) == ["ben-thanh", "no-temp", "thu-duc"]
    assert short(client.get(q, params={**t, "q": "pm25>=45"})) == ["ben-thanh", "thu-duc"]
    assert short(client.get(q, params={**t, "q": "pm25<20|temperature>40"})) == ["cu-chi", "thu-duc"]
    assert short(client.get(q, params={**t, "q": "pm25==25"})) == ["nha-tho"]
    assert short(client.get(q, params={**t, "q": "pm25!=25;pm25<40"})) == ["cu-chi", "no-temp"]
    # q without a type
    assert short(client.get(q, params={"q": "temperature<=31"})) == ["cu-chi", "wx-q1"]
    for bad in ("pm25", "pm25>>3", "pm25>abc", "x" * 1001):
        assert_ngsi_error(client.get(q, params={**t, "q": bad}), 400, "BadRequestData")


@SQLITE_ONLY
def test_query_geo(client, city):
    q = "/ngsi-ld/v1/entities"
    near = {
        "type": "AirQualityObserved",
        "georel": "near;maxDistance==2000",
        "geometry": "Point",
        "coordinates": "[106.6981,10.7725]",
    }
    assert short(client.get(q, params=near)) == ["ben-thanh", "nha-tho", "no-temp"]
    assert short(client.get(q, params={**near, "georel": "near;maxDistance==500"})) == [
        "ben-thanh",
        "no-temp",
    ]
    assert short(client.get(q, params={**near, "georel": "near;maxDistance==15000"})) == [
        "ben-thanh",
        "nha-tho",
        "no-temp",
        "thu-duc",
    ]
    poly = [[[106.69, 10.76], [106.71, 10.76], [106.71, 10.775], [106.69, 10.775], [106.69, 10.76]]]
    within = {"georel": "within", "geometry": "Polygon", "coordinates": json.dumps(poly)}
    assert short(client.get(q, params={"type": "AirQualityObserved,WeatherObserved", **within})) == [
        "ben-thanh",
        "no-temp",
        "wx-q1",
    ]
    for bad in (
        {**near, "georel": "near"},
        {**near, "geometry": "Polygon"},
        {**near, "coordinates": "[1]"},
        {**near, "coordinates": "not json"},
        {**near, "georel": "near;maxDistance==x"},
        {**near, "georel": "intersects"},
        {**within, "coordinates": "[[[1,2],[3,4]]]"},
    ):
        assert_ngsi_error(client.get(q, params=bad), 400, "BadRequestData")


# ------------------------------------------------------------------ visibility


@SQLITE_ONLY
def test_internal_entities_are_hidden_from_outside_and_reads_are_audited(
    client, platform, users, editor, member, outsider
):
    create(
        client,
        editor,
        entity("secret", pm25={"type": "Property", "value": 7, "observedAt": "2025-03-01T11:00:00Z"}),
        visibility="internal",
    )
    create(client, editor, entity("open", pm25=8))
    eid = "urn:ngsi-ld:AirQualityObserved:secret"
    url = f"/ngsi-ld/v1/entities/{eid}"
    list_q = {"type": "AirQualityObserved"}
    for who in ({}, outsider):
        assert_ngsi_error(client.get(url, headers=who), 404, "ResourceNotFound")
        assert short(client.get("/ngsi-ld/v1/entities", params=list_q, headers=who)) == ["open"]
        assert client.get(f"/ngsi-ld/v1/temporal/entities/{eid}", headers=who).status_code == 404
    r = client.get(url, headers=member)
    assert r.status_code == 200 and r.json()["pm25"]["value"] == 7
    assert short(client.get("/ngsi-ld/v1/entities", params=list_q, headers=member)) == ["open", "secret"]
    sysadmin = login(client, users.sysadmin)
    assert client.get(url, headers=sysadmin).status_code == 200
    with platform.transaction() as db:
        reads = list(
            db.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "sensing.entity.read", AuditEntry.object_id == eid
                )
            ).scalars()
        )
        assert users.ids[users.member] in {a.actor_id for a in reads}
        # reading a public entity is not audited
        assert not db.execute(
            select(AuditEntry).where(
                AuditEntry.action == "sensing.entity.read", AuditEntry.object_id.like("%:open")
            )
        ).first()
    # an invalid visibility is refused
    r = client.post(
        "/ngsi-ld/v1/entities", json=entity("vis"), headers=editor, params={"visibility": "secret"}
    )
    assert r.status_code in (400, 422), r.text


@SQLITE_ONLY
def test_listing_internal_entities_is_audited_too(client, platform, users, editor, member):
    """The entity list returns the internal entities' full data to their agency's members: that read is
    audited just like reading one entity."""
    create(client, editor, entity("secret-2", pm25=7), visibility="internal")
    assert short(
        client.get("/ngsi-ld/v1/entities", params={"type": "AirQualityObserved"}, headers=member)
    ) == ["secret-2"]
    with platform.transaction() as db:
        reads = list(
            db.execute(select(AuditEntry).where(AuditEntry.action == "sensing.entity.read")).scalars()
        )
    assert any(a.actor_id == users.ids[users.member] for a in reads)


# ------------------------------------------------------------------ upsert


@SQLITE_ONLY
def test_upsert_created_updated_and_multi_status(client, platform, editor, outsider):
    url = "/ngsi-ld/v1/entityOperations/upsert"
    a, b = entity("up-a", pm25=1), entity("up-b", pm25=2)
    r = client.post(url, json=[a, b], headers=editor)
    assert r.status_code == 201, r.text
    assert r.json() == [a["id"], b["id"]]
    r = client.post(url, json=[entity("up-a", pm25=11, no2=3), entity("up-b", pm25=12)], headers=editor)
    assert r.status_code == 204, r.text
    got = client.get(f"/ngsi-ld/v1/entities/{a['id']}").json()
    assert got["pm25"]["value"] == 11 and got["no2"]["value"] == 3
    # replace drops attributes not sent
    r = client.post(url, json=[entity("up-a", pm25=21)], headers=editor, params={"options": "replace"})
    assert r.status_code == 204
    assert "no2" not in client.get(f"/ngsi-ld/v1/entities/{a['id']}").json()
    # mixed: the good ones are stored, each bad one has its error
    t = "2025-03-01T11:00:00Z"
    good = entity("up-c", pm25={"type": "Property", "value": 5, "observedAt": t})
    r = client.post(
        url,
        json=[
            good,
            {"id": "nope", "type": "AirQualityObserved"},
            {**entity("up-b", temperature=1), "type": "WeatherObserved"},
            {**entity("up-d"), "pm25": {"type": "Property", "value": -1, "observedAt": t}},
            entity("up-b", pm25=99),
        ],
        headers=editor,
    )
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["success"] == [good["id"], b["id"]]
    errors = {e["entityId"]: e["error"] for e in body["errors"]}
    assert len(body["errors"]) == 3
    assert set(errors) == {"nope", b["id"], "urn:ngsi-ld:AirQualityObserved:up-d"}
    assert all(e["type"] == NGSI + "BadRequestData" and e["status"] == 400 for e in errors.values())
    assert client.get(f"/ngsi-ld/v1/entities/{good['id']}").status_code == 200
    assert client.get(f"/ngsi-ld/v1/entities/{b['id']}").json()["pm25"]["value"] == 99
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:up-d").status_code == 404
    assert [(e.rsplit(":", 1)[-1], v) for e, _, _, v in observations(platform)] == [("up-c", 5.0)]
    # refusals of the whole call
    assert_ngsi_error(client.post(url, json=[], headers=editor), 400, "BadRequestData")
    assert_ngsi_error(client.post(url, json={"id": "x"}, headers=editor), 400, "BadRequestData")
    assert (
        client.post(
            url, json=[entity("up-z", pm25=1)], headers={**outsider, "NGSILD-Tenant": TENANT}
        ).status_code
        == 403
    )


@SQLITE_ONLY
def test_upsert_cannot_overwrite_another_agencys_entity(client, platform, users, editor):
    """An editor of one agency upserting (into their own tenant) an entity that belongs to another agency
    gets a per-entity 403, and the entity is unchanged."""
    root = {**login(client, users.sysadmin), "NGSILD-Tenant": "syt"}
    create(client, root, entity("syt-owned", pm25=1))
    r = client.post(
        "/ngsi-ld/v1/entityOperations/upsert", json=[entity("syt-owned", pm25=500)], headers=editor
    )
    assert r.status_code == 207, r.text
    assert r.json()["errors"][0]["error"]["status"] == 403
    assert (
        client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:syt-owned").json()["pm25"]["value"]
        == 1
    )


# ------------------------------------------------------------------ temporal


T0 = utc(2025, 3, 1, 8, 0)
NOW = utc(2025, 3, 1, 20, 0)


@pytest.fixture
def history(platform, users) -> dict[str, Any]:
    """An air-quality device of skhcn with pm25 every 10 minutes for 6 hours (36 values) and no2 hourly."""
    s = make_sensors(platform, TENANT, agency_id=users.dept)
    pm25 = [(T0 + dt.timedelta(minutes=10 * i), float(20 + (i * 7) % 13)) for i in range(36)]
    batch = []
    for t, v in pm25:
        extra = {"no2": {"value": 30.0 + t.hour, "unitCode": "GQ"}} if t.minute == 0 else {}
        batch.append(msg("aq1", aq(t, pm25=v, **extra), agency=TENANT))
    out = ingest.ingest(platform, batch, now=NOW)
    assert all(o.status == "stored" for o in out)
    return {"entity": s.aq, "pm25": pm25, "sensors": s}


def temporal(client, eid: str, **params: Any):
    return client.get(f"/ngsi-ld/v1/temporal/entities/{eid}", params=params)


def test_temporal_between_returns_exactly_the_values_in_range(backend, client, history):
    eid = history["entity"]
    t1, t2 = T0 + dt.timedelta(minutes=55), T0 + dt.timedelta(hours=2, minutes=30)
    r = temporal(client, eid, attrs="pm25", timerel="between", timeAt=iso(t1), endTimeAt=iso(t2))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == eid and body["type"] == "AirQualityObserved"
    want = [(t, v) for t, v in history["pm25"] if t1 <= t < t2]
    assert len(want) == 9
    assert set(body) == {"id", "type", "pm25"}
    assert isinstance(body["pm25"], list)
    for item, (t, v) in zip(body["pm25"], want, strict=True):
        assert item["type"] == "Property" and item["value"] == v
        assert ingest.parse_time(item["observedAt"]) == t
        assert item.get("unitCode", "GQ") == "GQ"
    # all attributes when attrs is left out; time given with an offset means the same instant
    r = temporal(
        client,
        eid,
        timerel="between",
        timeAt="2025-03-01T16:00:00+07:00",
        endTimeAt="2025-03-01T17:00:00+07:00",
    )
    body = r.json()
    assert [ingest.parse_time(i["observedAt"]) for i in body["no2"]] == [T0 + dt.timedelta(hours=1)]
    assert body["no2"][0]["value"] == 39.0
    assert len(body["pm25"]) == 6


@SQLITE_ONLY
def test_temporal_before_after_last_n_and_temporal_values(client, history):
    eid, pm25 = history["entity"], history["pm25"]
    cut = pm25[10][0]
    before = temporal(client, eid, attrs="pm25", timerel="before", timeAt=iso(cut)).json()["pm25"]
    assert [i["value"] for i in before] == [v for _, v in pm25[:10]]  # strictly before
    after = temporal(client, eid, attrs="pm25", timerel="after", timeAt=iso(cut)).json()["pm25"]
    assert [i["value"] for i in after] == [v for _, v in pm25[11:]]  # strictly after
    last = temporal(client, eid, attrs="pm25", lastN=3).json()["pm25"]
    assert [(ingest.parse_time(i["observedAt"]), i["value"]) for i in last] == pm25[-3:]
    last = temporal(client, eid, attrs="pm25", lastN=4, timerel="before", timeAt=iso(cut)).json()["pm25"]
    assert [i["value"] for i in last] == [v for _, v in pm25[6:10]]
    everything = temporal(client, eid, attrs="pm25").json()["pm25"]
    assert len(everything) == 36
    # options=temporalValues
    eid, pm25 = history["entity"], history["pm25"]
    r = temporal(
        client, eid, attrs="pm25", options="temporalValues", timerel="before", timeAt=iso(pm25[3][0])
    )
    assert r.status_code == 200, r.text
    prop = r.json()["pm25"]
    assert prop["type"] == "Property"
    assert [[v, ingest.parse_time(t)] for v, t in prop["values"]] == [[v, t] for t, v in pm25[:3]]
    # an unknown entity
    assert_ngsi_error(temporal(client, "urn:ngsi-ld:AirQualityObserved:nothing"), 404, "ResourceNotFound")


def test_temporal_aggregated_values(backend, client, history):
    eid, pm25 = history["entity"], history["pm25"]
    t1, t2 = T0, T0 + dt.timedelta(hours=3)
    r = temporal(
        client,
        eid,
        attrs="pm25",
        options="aggregatedValues",
        aggrMethods="avg,max",
        aggrPeriodDuration="PT1H",
        timerel="between",
        timeAt=iso(t1),
        endTimeAt=iso(t2),
    )
    assert r.status_code == 200, r.text
    prop = r.json()["pm25"]
    assert prop["type"] == "Property" and set(prop) == {"type", "avg", "max"}
    assert len(prop["avg"]) == 3 and len(prop["max"]) == 3
    for h in range(3):
        lo, hi = T0 + dt.timedelta(hours=h), T0 + dt.timedelta(hours=h + 1)
        vals = [v for t, v in pm25 if lo <= t < hi]
        avg, a_lo, a_hi = prop["avg"][h]
        assert avg == pytest.approx(statistics.fmean(vals))
        assert (ingest.parse_time(a_lo), ingest.parse_time(a_hi)) == (lo, hi)
        assert prop["max"][h][0] == max(vals)
    # a period of 90 minutes over the same range
    r = temporal(
        client,
        eid,
        attrs="pm25",
        options="aggregatedValues",
        aggrMethods="totalCount",
        aggrPeriodDuration="PT1H30M",
        timerel="between",
        timeAt=iso(t1),
        endTimeAt=iso(t2),
    )
    assert [c for c, *_ in r.json()["pm25"]["totalCount"]] == [9, 9]


TEMPORAL_ERRORS = [
    ({"timerel": "between", "timeAt": "2025-03-01T08:00:00Z"}, 400),
    ({"timerel": "between", "timeAt": "2025-03-01T09:00:00Z", "endTimeAt": "2025-03-01T08:00:00Z"}, 400),
    ({"timerel": "before"}, 400),
    ({"timerel": "during", "timeAt": "2025-03-01T08:00:00Z"}, 400),
    ({"timerel": "before", "timeAt": "yesterday"}, 400),
    ({"timerel": "before", "timeAt": "2025-03-01T08:00:00"}, 400),
    ({"lastN": 0}, 400),
    (
        {
            "options": "aggregatedValues",
            "aggrPeriodDuration": "PT1H",
            "timerel": "between",
            "timeAt": "2025-03-01T08:00:00Z",
            "endTimeAt": "2025-03-01T10:00:00Z",
        },
        400,
    ),  # no aggrMethods
    (
        {
            "options": "aggregatedValues",
            "aggrMethods": "avg",
            "aggrPeriodDuration": "1 hour",
            "timerel": "between",
            "timeAt": "2025-03-01T08:00:00Z",
            "endTimeAt": "2025-03-01T10:00:00Z",
        },
        400,
    ),
    (
        {
            "options": "aggregatedValues",
            "aggrMethods": "avg",
            "aggrPeriodDuration": "PT0S",
            "timerel": "between",
            "timeAt": "2025-03-01T08:00:00Z",
            "endTimeAt": "2025-03-01T10:00:00Z",
        },
        400,
    ),
    (
        {
            "options": "aggregatedValues",
            "aggrMethods": "avg",
            "timerel": "between",
            "timeAt": "2025-03-01T08:00:00Z",
            "endTimeAt": "2025-03-01T10:00:00Z",
        },
        400,
    ),  # no duration
    (
        {
            "options": "aggregatedValues",
            "aggrMethods": "median",
            "aggrPeriodDuration": "PT1H",
            "timerel": "between",
            "timeAt": "2025-03-01T08:00:00Z",
            "endTimeAt": "2025-03-01T10:00:00Z",
        },
        400,
    ),
    ({"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "PT1H"}, 400),  # no range
    (
        {
            "options": "aggregatedValues",
            "aggrMethods": "avg",
            "aggrPeriodDuration": "PT1S",
            "timerel": "between",
            "timeAt": "2000-01-01T00:00:00Z",
            "endTimeAt": "2025-03-01T10:00:00Z",
        },
        400,
    ),  # too many intervals
    # between-no-end, end-before-start, no-timeAt, bad-timerel, bad-timeAt, naive-timeAt, lastN-0, no-methods,
    # bad-duration, zero-duration, no-duration, unknown-method, agg-no-range, too-many-intervals
]


@SQLITE_ONLY
def test_temporal_errors(client, history):
    for params, status in TEMPORAL_ERRORS:
        r = temporal(client, history["entity"], **params)
        assert r.status_code == status, (params, r.text)
        assert_ngsi_error(r, status, "BadRequestData")


@SQLITE_ONLY
def test_temporal_query_over_entities(client, platform, history):
    ingest.ingest(
        platform,
        [msg("tf1", {"type": "TrafficFlowObserved", "observedAt": iso(T0), "intensity": 12}, agency=TENANT)],
        now=NOW,
    )
    r = client.get(
        "/ngsi-ld/v1/temporal/entities",
        params={
            "type": "AirQualityObserved",
            "attrs": "pm25",
            "timerel": "between",
            "timeAt": iso(T0),
            "endTimeAt": iso(T0 + dt.timedelta(minutes=30)),
            "count": "true",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["id"] for e in body] == [history["entity"]]
    assert [i["value"] for i in body[0]["pm25"]] == [v for _, v in history["pm25"][:3]]
    assert r.headers["NGSILD-Results-Count"] == "1"
    r = client.get("/ngsi-ld/v1/temporal/entities", params={"type": "TrafficFlowObserved", "lastN": 1})
    assert [e["intensity"][0]["value"] for e in r.json()] == [12.0]
    assert_ngsi_error(client.get("/ngsi-ld/v1/temporal/entities"), 400, "BadRequestData")
    assert_ngsi_error(
        client.get("/ngsi-ld/v1/temporal/entities", params={"type": "X", "limit": 0}), 400, "BadRequestData"
    )


# ------------------------------------------------------------------ subscriptions


class Receiver:
    """A real HTTP server on 127.0.0.1 that records the notifications POSTed to it."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.received: list[tuple[str, dict, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                receiver.received.append((self.path, dict(self.headers), json.loads(raw or b"null")))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def sub_body(endpoint: str, **over: Any) -> dict[str, Any]:
    body = {
        "type": "Subscription",
        "entities": [{"type": "AirQualityObserved"}],
        "watchedAttributes": ["pm25"],
        "q": "pm25>30",
        "notification": {"endpoint": {"uri": endpoint}, "attributes": ["pm25"]},
    }
    body.update(over)
    return body


def notify_jobs(platform) -> list[Job]:
    with platform.transaction() as db:
        rows = list(db.execute(select(Job).where(Job.kind == NOTIFY_KIND).order_by(Job.created_at)).scalars())
        for j in rows:
            db.expunge(j)
        return rows


@SQLITE_ONLY
def test_subscription_create_list_get_delete(client, users, editor, member, outsider, receiver):
    r = client.post(
        "/ngsi-ld/v1/subscriptions", json=sub_body(receiver.url, subscriptionName="PM2.5 cao"), headers=editor
    )
    assert r.status_code == 201, r.text
    loc = r.headers["location"]
    assert loc.startswith("/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:")
    sid = loc.rsplit("/", 1)[-1]
    got = client.get(loc, headers=member)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["id"] == sid and body["type"] == "Subscription" and body["subscriptionName"] == "PM2.5 cao"
    assert body["entities"] == [{"type": "AirQualityObserved"}] and body["watchedAttributes"] == ["pm25"]
    assert body["q"] == "pm25>30" and body["status"] == "active"
    assert body["notification"]["endpoint"]["uri"] == receiver.url
    assert body["notification"]["attributes"] == ["pm25"] and body["notification"]["timesSent"] == 0
    # listed for the agency's members, not for another agency's, not anonymously
    r = client.get("/ngsi-ld/v1/subscriptions", headers=member)
    assert [s["id"] for s in r.json()] == [sid] and r.headers["NGSILD-Results-Count"] == "1"
    assert client.get("/ngsi-ld/v1/subscriptions", headers=outsider).json() == []
    assert client.get("/ngsi-ld/v1/subscriptions").status_code == 401
    assert client.get(loc, headers=outsider).status_code == 403
    # an explicit id, taken twice
    body2 = sub_body(receiver.url, id="urn:ngsi-ld:Subscription:mine")
    assert client.post("/ngsi-ld/v1/subscriptions", json=body2, headers=editor).status_code == 201
    assert_ngsi_error(
        client.post("/ngsi-ld/v1/subscriptions", json=body2, headers=editor), 409, "AlreadyExists"
    )
    # delete: members cannot, editors can
    assert client.delete(loc, headers=member).status_code == 403
    assert client.delete(loc, headers=editor).status_code == 204
    assert_ngsi_error(client.get(loc, headers=editor), 404, "ResourceNotFound")
    assert_ngsi_error(client.delete(loc, headers=editor), 404, "ResourceNotFound")
    # creating needs an editor of the tenant
    body = sub_body("http://127.0.0.1:9/notify")
    assert (
        client.post("/ngsi-ld/v1/subscriptions", json=body, headers={"NGSILD-Tenant": TENANT}).status_code
        == 401
    )
    assert (
        client.post(
            "/ngsi-ld/v1/subscriptions", json=body, headers={**member, "NGSILD-Tenant": TENANT}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/ngsi-ld/v1/subscriptions", json=body, headers={**outsider, "NGSILD-Tenant": TENANT}
        ).status_code
        == 403
    )


SUB_ERRORS = [
    {"notification": {"endpoint": {"uri": "ftp://127.0.0.1/x"}}},
    {"notification": {"endpoint": {"uri": "not a url"}}},
    {"notification": {"endpoint": "http://127.0.0.1/x"}},
    {"notification": {}},
    {"notification": None},
    {"entities": [], "watchedAttributes": []},
    {"entities": [{"type": "A"}, {"type": "B"}]},
    {"entities": [{"idPattern": "("}]},
    {"watchedAttributes": "pm25"},
    {"q": "pm25>>1"},
    {"expiresAt": "tomorrow"},
    {"throttling": -1},
    {"type": "Notification"},
    {"id": "not-a-urn"},
    ["not", "an", "object"],
]


@SQLITE_ONLY
def test_subscription_bad_body_is_400(client, editor):
    for over in SUB_ERRORS:
        body = sub_body("http://127.0.0.1:9/notify", **over) if isinstance(over, dict) else over
        r = client.post("/ngsi-ld/v1/subscriptions", json=body, headers=editor)
        assert r.status_code == 400, (over, r.text)
        assert_ngsi_error(r, 400, "BadRequestData")
    assert client.get("/ngsi-ld/v1/subscriptions", headers=editor).json() == []


def test_matching_ingest_notifies_the_endpoint(backend, client, platform, users, editor, receiver):
    s = make_sensors(platform, TENANT, agency_id=users.dept)
    r = client.post("/ngsi-ld/v1/subscriptions", json=sub_body(receiver.url), headers=editor)
    sid = r.headers["location"].rsplit("/", 1)[-1]
    t = utc(2025, 3, 1, 11)
    out = ingest.ingest(platform, [msg("aq1", aq(t, pm25=55.5, pm10=80), agency=TENANT)], now=NOW)
    assert out[0].status == "stored"
    queued = notify_jobs(platform)
    assert len(queued) == 1 and queued[0].params["subscription_id"] == sid
    assert queued[0].params["entity_ids"] == [s.aq]
    jobs.execute(platform, queued[0].id)
    assert len(receiver.received) == 1
    path, headers, note = receiver.received[0]
    assert path == "/notify" and headers["Content-Type"].startswith("application/json")
    assert note["type"] == "Notification" and note["subscriptionId"] == sid
    assert note["id"].startswith("urn:ngsi-ld:Notification:") and ingest.parse_time(note["notifiedAt"])
    assert [e["id"] for e in note["data"]] == [s.aq]
    data = note["data"][0]
    assert data["type"] == "AirQualityObserved"
    assert data["pm25"]["value"] == 55.5 and ingest.parse_time(data["pm25"]["observedAt"]) == t
    assert "pm10" not in data  # notification.attributes = ["pm25"]
    sub = client.get(f"/ngsi-ld/v1/subscriptions/{sid}", headers=editor).json()
    assert sub["notification"]["timesSent"] == 1 and sub["notification"]["lastSuccess"]
    assert sub["notification"].get("lastFailure") is None
    with platform.transaction() as db:
        assert db.get(Job, queued[0].id).status == "succeeded"


@SQLITE_ONLY
def test_non_matching_changes_queue_nothing(client, platform, users, editor, receiver):
    make_sensors(platform, TENANT, agency_id=users.dept)
    client.post("/ngsi-ld/v1/subscriptions", json=sub_body(receiver.url), headers=editor)
    t = utc(2025, 3, 1, 11)
    ingest.ingest(
        platform,
        [
            msg(
                "tf1", {"type": "TrafficFlowObserved", "observedAt": iso(t), "intensity": 500}, agency=TENANT
            ),  # type
            msg("aq1", aq(t, pm25=12), agency=TENANT),  # q is false
        ],
        now=NOW,
    )
    ingest.ingest(
        platform, [msg("aq1", aq(t + dt.timedelta(minutes=1), pm10=90), agency=TENANT)], now=NOW
    )  # pm10
    # the entity now has pm25=12 as latest; a late pm25 of 99 changes nothing either
    ingest.ingest(platform, [msg("aq1", aq(t - dt.timedelta(hours=1), pm25=99), agency=TENANT)], now=NOW)
    # a rejected message and a duplicate
    ingest.ingest(
        platform,
        [msg("aq1", aq(t, pm25=-4), agency=TENANT), msg("aq1", aq(t, pm25=12), agency=TENANT)],
        now=NOW,
    )
    assert notify_jobs(platform) == []
    # and then a matching one does
    ingest.ingest(platform, [msg("aq1", aq(t + dt.timedelta(minutes=2), pm25=31), agency=TENANT)], now=NOW)
    assert len(notify_jobs(platform)) == 1


@SQLITE_ONLY
def test_entity_patch_notifies_too(client, platform, editor, receiver):
    create(client, editor, entity("sub-patch", pm25=1))
    client.post("/ngsi-ld/v1/subscriptions", json=sub_body(receiver.url), headers=editor)
    url = "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:sub-patch/attrs"
    assert client.patch(url, json={"pm25": 20}, headers=editor).status_code == 204
    assert notify_jobs(platform) == []
    assert client.patch(url, json={"pm25": 40}, headers=editor).status_code == 204
    queued = notify_jobs(platform)
    assert len(queued) == 1
    jobs.execute(platform, queued[0].id)
    assert receiver.received[0][2]["data"][0]["pm25"]["value"] == 40


@SQLITE_ONLY
def test_subscription_of_another_agency_does_not_see_internal_entities(
    client, platform, users, editor, receiver
):
    root = {**login(client, users.sysadmin), "NGSILD-Tenant": "syt"}
    r = client.post("/ngsi-ld/v1/subscriptions", json=sub_body(receiver.url, q=None), headers=root)
    assert r.status_code == 201, r.text
    create(client, editor, entity("internal-sub", pm25=50), visibility="internal")
    assert notify_jobs(platform) == []
    create(client, editor, entity("public-sub", pm25=50))
    assert len(notify_jobs(platform)) == 1


@SQLITE_ONLY
def test_failing_or_unreachable_endpoint_records_last_failure(client, platform, users, editor):
    failing = Receiver(status=500)
    try:
        make_sensors(platform, TENANT, agency_id=users.dept)
        r = client.post("/ngsi-ld/v1/subscriptions", json=sub_body(failing.url), headers=editor)
        sid = r.headers["location"].rsplit("/", 1)[-1]
        ingest.ingest(platform, [msg("aq1", aq(utc(2025, 3, 1, 11), pm25=70), agency=TENANT)], now=NOW)
        [job] = notify_jobs(platform)
        with pytest.raises(RuntimeError, match="HTTP 500"):  # retries are left: huey is to retry it
            jobs.execute(platform, job.id)
        assert len(failing.received) == 1
        sub = client.get(f"/ngsi-ld/v1/subscriptions/{sid}", headers=editor).json()
        assert sub["notification"]["lastFailure"] and sub["notification"]["lastFailureReason"] == "HTTP 500"
        assert sub["notification"]["timesSent"] == 0
        with platform.transaction() as db:
            assert db.get(Job, job.id).status == "retrying"
    finally:
        failing.close()
    # an endpoint where nothing listens
    from tests.serverproc import free_port

    url = f"http://127.0.0.1:{free_port()}/nobody"
    r = client.post(
        "/ngsi-ld/v1/subscriptions", json=sub_body(url, id="urn:ngsi-ld:Subscription:nobody"), headers=editor
    )
    assert r.status_code == 201, r.text
    client.delete(f"/ngsi-ld/v1/subscriptions/{sid}", headers=editor)
    sid = "urn:ngsi-ld:Subscription:nobody"
    ingest.ingest(platform, [msg("aq1", aq(utc(2025, 3, 1, 11, 5), pm25=71), agency=TENANT)], now=NOW)
    [job] = [j for j in notify_jobs(platform) if j.params["subscription_id"] == sid]
    with pytest.raises(RuntimeError):
        jobs.execute(platform, job.id)
    sub = client.get(f"/ngsi-ld/v1/subscriptions/{sid}", headers=editor).json()
    assert sub["notification"]["lastFailure"] and "ConnectError" in sub["notification"]["lastFailureReason"]


@SQLITE_ONLY
def test_throttling_and_expiry(client, platform, users, editor, receiver):
    make_sensors(platform, TENANT, agency_id=users.dept)
    client.post("/ngsi-ld/v1/subscriptions", json=sub_body(receiver.url, throttling=3600), headers=editor)
    client.post(
        "/ngsi-ld/v1/subscriptions",
        json=sub_body(receiver.url, expiresAt="2020-01-01T00:00:00Z"),
        headers=editor,
    )
    for m in range(3):
        ingest.ingest(platform, [msg("aq1", aq(utc(2025, 3, 1, 11, m), pm25=40 + m), agency=TENANT)], now=NOW)
    assert len(notify_jobs(platform)) == 1  # throttled after the first; the expired one never


# ------------------------------------------------------------------ defects found in review (now fixed)


@SQLITE_ONLY
def test_geo_query_with_malformed_coordinates_is_400(client, city):
    q = "/ngsi-ld/v1/entities"
    for params in (
        {"georel": "near;maxDistance==100", "geometry": "Point", "coordinates": '["a", 1]'},
        {"georel": "within", "geometry": "Polygon", "coordinates": "[5]"},
    ):
        assert_ngsi_error(
            client.get(q, params={"type": "AirQualityObserved", **params}), 400, "BadRequestData"
        )


@SQLITE_ONLY
def test_subscription_field_types_are_validated(client, editor):
    for over in (
        {"entities": [{"type": "AirQualityObserved", "id": {"a": 1}}]},
        {"notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}, "attributes": "pm25"}},
    ):
        r = client.post(
            "/ngsi-ld/v1/subscriptions", json=sub_body("http://127.0.0.1:9/x", **over), headers=editor
        )
        assert_ngsi_error(r, 400, "BadRequestData")


@SQLITE_ONLY
def test_entity_write_refuses_observations_far_in_the_future(client, platform, editor):
    future = entity("future", pm25={"type": "Property", "value": 3, "observedAt": "2099-01-01T00:00:00Z"})
    assert_ngsi_error(client.post("/ngsi-ld/v1/entities", json=future, headers=editor), 400, "BadRequestData")
    assert observations(platform) == []


@PG_ONLY
def test_upsert_into_two_new_monthly_partitions_completes(client, platform, settings, editor):
    from sqlalchemy import text

    from tests.conftest import _pg_admin

    dbname = settings.database_url.rsplit("/", 1)[-1]
    bodies = [
        entity("m1", pm25={"type": "Property", "value": 1, "observedAt": "2024-03-05T00:00:00Z"}),
        entity("m2", pm25={"type": "Property", "value": 2, "observedAt": "2024-04-05T00:00:00Z"}),
    ]
    result: dict[str, Any] = {}

    def call() -> None:
        result["r"] = client.post("/ngsi-ld/v1/entityOperations/upsert", json=bodies, headers=editor)

    th = threading.Thread(target=call, daemon=True)
    th.start()
    admin = _pg_admin()
    deadlocked = False
    try:
        # Bounded poll: finished, or a backend of this test's database waits for a lock held by a
        # transaction that is idle (the request waiting on that very backend): a deadlock PostgreSQL
        # cannot see. Cancel it.
        for _ in range(600):
            th.join(0.05)
            if not th.is_alive():
                break
            with admin.connect() as c:
                waiting = (
                    c.execute(
                        text(
                            "SELECT w.pid FROM pg_stat_activity w JOIN pg_stat_activity b "
                            "ON b.pid = ANY(pg_blocking_pids(w.pid)) WHERE w.datname = :d "
                            "AND b.state = 'idle in transaction'"
                        ),
                        {"d": dbname},
                    )
                    .scalars()
                    .all()
                )
                if waiting:
                    deadlocked = True
                    for pid in waiting:
                        c.execute(text("SELECT pg_cancel_backend(:p)"), {"p": pid})
                    break
    finally:
        th.join(60)
        admin.dispose()
    assert not deadlocked, "the upsert deadlocked on its own partition DDL (cancelled by the test)"
    assert result["r"].status_code == 201, result["r"].text
