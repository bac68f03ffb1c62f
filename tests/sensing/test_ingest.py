"""Ingestion of device messages (``cityai.sensing.ingest.ingest``): what is stored, what is refused and why.

Each test registers its own devices in a fresh database (the ``platform`` fixture). Times are fixed relative
to a ``now`` handed to ``ingest``, so nothing depends on the wall clock. Idempotency, late data and the
rollback of a failed batch run on SQLite and PostgreSQL; the validation (the same Python on every database)
runs on SQLite only.

The helpers at the top (``sensors``, ``msg``, ``observations`` ...) are shared with the other sensing test
files, which import them from here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from cityai.core import identity
from cityai.sensing import ingest, store
from cityai.sensing.ingest import Message
from cityai.sensing.models import Device, Entity, Observation, Rejected

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
PG_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


AGENCY = "stnmt"
UTC = dt.timezone.utc


# ------------------------------------------------------------------ shared helpers


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def iso(t: dt.datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ms(t: dt.datetime) -> int:
    return store.to_ms(t)


def recent() -> dt.datetime:
    """A whole minute a little before the wall clock (so default-`now` ingestion accepts it)."""
    return (dt.datetime.now(UTC) - dt.timedelta(minutes=2)).replace(second=0, microsecond=0)


@dataclass
class Sensors:
    agency_id: int
    agency_code: str
    aq: str  # entity id of the AirQualityObserved device "aq1"
    traffic: str  # TrafficFlowObserved "tf1"
    weather: str  # WeatherObserved "wx1"
    devices: dict[str, int]  # device id -> sens_device.id
    keys: dict[str, str]  # device id -> its key


def register(platform, agency_id: int, device_id: str, type_: str, **kw: Any) -> tuple[Device, str]:
    from cityai.sensing import service

    with platform.system_context() as ctx:
        d, key = service.device_register.unchecked(
            ctx, agency_id=agency_id, device_id=device_id, type=type_, **kw
        )
        ctx.db.flush()
        ctx.db.expunge(d)
    return d, key


def make_sensors(platform, code: str = AGENCY, *, agency_id: int | None = None) -> Sensors:
    if agency_id is None:
        with platform.system_context() as ctx:
            agency_id = identity.agency_create.unchecked(
                ctx, code=code, name="Sở Tài nguyên và Môi trường", kind="department"
            ).id
    devices, keys, eids = {}, {}, {}
    for device_id, type_, lat, lon in [
        ("aq1", "AirQualityObserved", 10.7769, 106.7009),
        ("tf1", "TrafficFlowObserved", 10.7626, 106.6602),
        ("wx1", "WeatherObserved", None, None),
    ]:
        d, key = register(platform, agency_id, device_id, type_, lat=lat, lon=lon)
        devices[device_id], keys[device_id], eids[device_id] = d.id, key, d.entity_id
    return Sensors(agency_id, code, eids["aq1"], eids["tf1"], eids["wx1"], devices, keys)


@pytest.fixture
def sensors(platform) -> Sensors:
    return make_sensors(platform)


def msg(device_id: str, payload: Any, agency: str = AGENCY, **kw: Any) -> Message:
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    return Message(agency, device_id, payload, **kw)


def aq(t: dt.datetime, **values: Any) -> dict[str, Any]:
    return {"type": "AirQualityObserved", "observedAt": iso(t), **values}


def observations(platform, entity_id: str | None = None) -> list[tuple[str, str, int, float]]:
    with platform.transaction() as db:
        stmt = select(Observation.entity_id, Observation.attribute, Observation.t_ms, Observation.value)
        if entity_id:
            stmt = stmt.where(Observation.entity_id == entity_id)
        return sorted((e, a, int(t), float(v)) for e, a, t, v in db.execute(stmt))


def rejected_codes(platform) -> list[tuple[str | None, str]]:
    with platform.transaction() as db:
        return [(r.device_id, r.code) for r in db.execute(select(Rejected).order_by(Rejected.id)).scalars()]


def entity_attrs(platform, entity_id: str) -> dict[str, Any]:
    with platform.transaction() as db:
        return dict(db.get(Entity, entity_id).attrs or {})


def device_row(platform, pk: int) -> dict[str, Any]:
    with platform.transaction() as db:
        d = db.get(Device, pk)
        return {
            "message_count": d.message_count,
            "rejected_count": d.rejected_count,
            "last_seen_at": d.last_seen_at,
            "lat": d.lat,
            "lon": d.lon,
        }


# ------------------------------------------------------------------ the happy path


@SQLITE_ONLY
def test_valid_message_is_stored_with_entity_and_device_updated(platform, sensors):
    now = utc(2025, 3, 1, 12, 0)
    t = utc(2025, 3, 1, 11, 55, 30)
    out = ingest.ingest(
        platform,
        [
            msg(
                "aq1",
                aq(
                    t,
                    pm25=35.5,
                    no2={"value": 41, "unitCode": "GQ"},
                    location={"type": "Point", "coordinates": [106.7, 10.78]},
                ),
                topic="cityai/v1/stnmt/aq1",
            )
        ],
        now=now,
    )
    assert [(o.status, o.stored, o.code) for o in out] == [("stored", 2, None)]
    assert observations(platform) == [(sensors.aq, "no2", ms(t), 41.0), (sensors.aq, "pm25", ms(t), 35.5)]
    attrs = entity_attrs(platform, sensors.aq)
    assert attrs["pm25"] == {
        "type": "Property",
        "value": 35.5,
        "observedAt": store.iso(ms(t)),
        "unitCode": "GQ",
    }
    assert attrs["no2"]["value"] == 41.0 and attrs["no2"]["unitCode"] == "GQ"
    assert store.to_ms(ingest.parse_time(attrs["pm25"]["observedAt"])) == ms(t)
    with platform.transaction() as db:
        e = db.get(Entity, sensors.aq)
        assert (e.lat, e.lon) == (10.78, 106.7)
        assert e.location == {"type": "Point", "coordinates": [106.7, 10.78]}
    d = device_row(platform, sensors.devices["aq1"])
    assert d["message_count"] == 1 and d["rejected_count"] == 0
    assert d["last_seen_at"] == now
    assert (d["lat"], d["lon"]) == (10.78, 106.7)
    assert rejected_codes(platform) == []


@SQLITE_ONLY
def test_string_and_dict_payloads_are_accepted(platform, sensors):
    now = utc(2025, 3, 1, 12, 0)
    t1, t2 = utc(2025, 3, 1, 11, 0), utc(2025, 3, 1, 11, 5)
    out = ingest.ingest(
        platform,
        [
            Message(AGENCY, "aq1", json.dumps(aq(t1, pm25=10))),
            Message(AGENCY, "aq1", aq(t2, pm25=11), channel="http"),
        ],
        now=now,
    )
    assert [o.status for o in out] == ["stored", "stored"]
    assert [v for *_, v in observations(platform)] == [10.0, 11.0]


@SQLITE_ONLY
def test_times_with_offsets_are_stored_in_utc(platform, sensors):
    now = utc(2025, 3, 1, 12, 0)
    out = ingest.ingest(
        platform,
        [msg("aq1", {"type": "AirQualityObserved", "observedAt": "2025-03-01T18:30:00+07:00", "pm25": 20})],
        now=now,
    )
    assert out[0].status == "stored"
    assert observations(platform)[0][2] == ms(utc(2025, 3, 1, 11, 30))


@SQLITE_ONLY
def test_dateObserved_is_accepted_as_the_time(platform, sensors):
    now = utc(2025, 3, 1, 12, 0)
    out = ingest.ingest(
        platform,
        [msg("aq1", {"type": "AirQualityObserved", "dateObserved": iso(utc(2025, 3, 1, 11)), "pm25": 20})],
        now=now,
    )
    assert out[0].status == "stored"
    assert observations(platform)[0][2] == ms(utc(2025, 3, 1, 11))


@SQLITE_ONLY
def test_a_message_without_type_takes_the_devices_type(platform, sensors):
    now = utc(2025, 3, 1, 12, 0)
    out = ingest.ingest(platform, [msg("aq1", {"observedAt": iso(utc(2025, 3, 1, 11)), "pm25": 20})], now=now)
    assert out[0].status == "stored"


# ------------------------------------------------------------------ unit conversion


@SQLITE_ONLY
def test_units_are_converted_to_the_attributes_unit(platform, sensors):
    now = utc(2025, 3, 1, 12, 0)
    t = utc(2025, 3, 1, 11, 0)
    out = ingest.ingest(
        platform,
        [
            msg(
                "aq1",
                aq(
                    t,
                    temperature={"value": 95, "unitCode": "FAH"},
                    relativeHumidity={"value": 65, "unitCode": "P1"},
                    pm10={"value": 0.08, "unitCode": "GP"},
                ),
            ),
            msg(
                "tf1",
                {
                    "type": "TrafficFlowObserved",
                    "observedAt": iso(t),
                    "averageVehicleSpeed": {"value": 10, "unitCode": "MTS"},
                },
            ),
            msg(
                "wx1",
                {
                    "type": "WeatherObserved",
                    "observedAt": iso(t),
                    "temperature": {"value": 300.15, "unitCode": "KEL"},
                },
            ),
        ],
        now=now,
    )
    assert [o.status for o in out] == ["stored"] * 3
    got = {(e.rsplit(":", 1)[-1], a): v for e, a, _, v in observations(platform)}
    assert got[("aq1", "temperature")] == pytest.approx(35.0)
    assert got[("aq1", "relativeHumidity")] == pytest.approx(0.65)
    assert got[("aq1", "pm10")] == pytest.approx(80.0)
    assert got[("tf1", "averageVehicleSpeed")] == pytest.approx(36.0)
    assert got[("wx1", "temperature")] == pytest.approx(27.0)
    attrs = entity_attrs(platform, sensors.aq)
    assert attrs["temperature"]["unitCode"] == "CEL" and attrs["temperature"]["value"] == pytest.approx(35.0)
    assert attrs["relativeHumidity"]["unitCode"] == "C62"
    assert entity_attrs(platform, sensors.traffic)["averageVehicleSpeed"]["unitCode"] == "KMH"


@SQLITE_ONLY
def test_range_is_checked_after_conversion(platform, sensors):
    now = utc(2025, 3, 1, 12, 0)
    t = utc(2025, 3, 1, 11, 0)
    # 200 °F is 93 °C: outside -40..70 °C although 200 is a plausible-looking number of something
    out = ingest.ingest(
        platform,
        [
            msg("aq1", aq(t, temperature={"value": 200, "unitCode": "FAH"})),
            # 60 m/s is 216 km/h: inside the 0..250 km/h range
            msg(
                "tf1",
                {
                    "type": "TrafficFlowObserved",
                    "observedAt": iso(t),
                    "averageVehicleSpeed": {"value": 60, "unitCode": "MTS"},
                },
            ),
        ],
        now=now,
    )
    assert [(o.status, o.code) for o in out] == [("rejected", "out-of-range"), ("stored", None)]


# ------------------------------------------------------------------ refusals


NOW = utc(2025, 3, 1, 12, 0)
T_OK = utc(2025, 3, 1, 11, 0)

REFUSALS: list[tuple[str, Any, str]] = [
    ("malformed bytes", b"\xff\xfe not json", "malformed"),
    ("invalid JSON", b'{"pm25": 1', "malformed"),
    ("JSON array", json.dumps([aq(T_OK, pm25=1)]).encode(), "malformed"),
    ("JSON number", b"42", "malformed"),
    ("JSON string", b'"pm25=1"', "malformed"),
    ("too large", json.dumps(aq(T_OK, pm25=1)).encode() + b" " * (ingest.MAX_PAYLOAD_BYTES + 1), "malformed"),
    ("type mismatch", aq(T_OK, pm25=1) | {"type": "TrafficFlowObserved"}, "type-mismatch"),
    ("no time", {"type": "AirQualityObserved", "pm25": 1}, "bad-time"),
    ("unparseable time", aq(T_OK, pm25=1) | {"observedAt": "yesterday"}, "bad-time"),
    ("numeric time", aq(T_OK, pm25=1) | {"observedAt": 1740826800000}, "bad-time"),
    ("naive time", aq(T_OK, pm25=1) | {"observedAt": "2025-03-01T11:00:00"}, "bad-time"),
    ("future", aq(NOW + dt.timedelta(seconds=301), pm25=1), "clock-skew"),
    ("far future", aq(utc(2030, 1, 1), pm25=1), "clock-skew"),
    ("too old", aq(NOW - dt.timedelta(days=3651), pm25=1), "too-old"),
    ("unknown attribute", aq(T_OK, pm25=1, pm99=3), "unknown-attribute"),
    ("string value", aq(T_OK, pm25="12"), "not-a-number"),
    ("bool value", aq(T_OK, pm25=True), "not-a-number"),
    ("null value", aq(T_OK, pm25=None), "not-a-number"),
    ("dict without value", aq(T_OK, pm25={"unitCode": "GQ"}), "not-a-number"),
    ("NaN", json.dumps(aq(T_OK, pm25=float("nan"))).encode(), "not-a-number"),
    ("Infinity", json.dumps(aq(T_OK, pm25=float("inf"))).encode(), "not-a-number"),
    ("unit not a string", aq(T_OK, pm25={"value": 3, "unitCode": 7}), "not-a-number"),
    ("wrong unit", aq(T_OK, pm25={"value": 3, "unitCode": "CEL"}), "wrong-unit"),
    ("unknown unit", aq(T_OK, temperature={"value": 3, "unitCode": "XYZ"}), "wrong-unit"),
    ("unit on a unitless attribute", aq(T_OK, airQualityIndex={"value": 3, "unitCode": "GQ"}), "wrong-unit"),
    ("negative", aq(T_OK, pm25=-1), "out-of-range"),
    ("too high", aq(T_OK, pm25=2000.5), "out-of-range"),
    ("ratio above one", aq(T_OK, relativeHumidity=65), "out-of-range"),
    ("empty", aq(T_OK), "empty"),
    (
        "only reserved keys",
        aq(T_OK, id="urn:x", location={"type": "Point", "coordinates": [106, 10]}),
        "empty",
    ),
]


@SQLITE_ONLY
def test_each_refusal_is_recorded_and_the_rest_of_the_batch_is_stored(platform, sensors):
    """One batch: a valid message, then each kind of wrong message followed by another valid one. Every wrong
    message is refused whole with its code; every valid one is stored (atomic per message, not per batch)."""
    batch, want = [msg("aq1", aq(utc(2025, 3, 1, 9, 0), pm25=100))], [("stored", None)]
    good_values = [100.0]
    for i, (name, payload, code) in enumerate(REFUSALS):
        batch.append(msg("aq1", payload, topic="cityai/v1/stnmt/aq1"))
        want.append(("rejected", code))
        batch.append(msg("aq1", aq(utc(2025, 3, 1, 9, 1 + i), pm25=float(i))))
        want.append(("stored", None))
        good_values.append(float(i))
    out = ingest.ingest(platform, batch, now=NOW)
    assert [(o.status, o.code) for o in out] == want
    for o, (name, _, _) in zip(out[1::2], REFUSALS):
        assert o.detail, name  # says why
    # a refused message is refused whole: none of its values is stored, not even the valid ones (pm25=1)
    assert sorted(v for *_, v in observations(platform)) == sorted(good_values)
    with platform.transaction() as db:
        rows = list(db.execute(select(Rejected).order_by(Rejected.id)).scalars())
    assert [(r.code, r.device_id, r.agency_id, r.channel, r.topic) for r in rows] == [
        (code, "aq1", sensors.agency_id, "mqtt", "cityai/v1/stnmt/aq1") for _, _, code in REFUSALS
    ]
    assert all(r.payload is not None and len(r.payload) <= 2000 and r.detail for r in rows)
    d = device_row(platform, sensors.devices["aq1"])
    assert (d["message_count"], d["rejected_count"]) == (len(REFUSALS) + 1, len(REFUSALS))
    assert entity_attrs(platform, sensors.aq)["pm25"]["value"] == float(len(REFUSALS) - 1)


@SQLITE_ONLY
def test_skew_within_tolerance_is_accepted(platform, sensors):
    out = ingest.ingest(
        platform,
        [
            msg("aq1", aq(NOW + dt.timedelta(seconds=299), pm25=1)),
            msg("aq1", aq(NOW + dt.timedelta(seconds=300), pm25=2)),
        ],
        now=NOW,
    )
    assert [o.status for o in out] == ["stored", "stored"]


@SQLITE_ONLY
def test_clock_skew_limit_comes_from_the_settings(platform, sensors):
    platform.settings.sensing_max_clock_skew_s = 10
    out = ingest.ingest(
        platform,
        [
            msg("aq1", aq(NOW + dt.timedelta(seconds=9), pm25=1)),
            msg("aq1", aq(NOW + dt.timedelta(seconds=11), pm25=2)),
        ],
        now=NOW,
    )
    assert [(o.status, o.code) for o in out] == [("stored", None), ("rejected", "clock-skew")]


@SQLITE_ONLY
def test_age_limit_comes_from_the_settings(platform, sensors):
    platform.settings.sensing_max_age_days = 2
    out = ingest.ingest(
        platform,
        [
            msg("aq1", aq(NOW - dt.timedelta(days=1, hours=23), pm25=1)),
            msg("aq1", aq(NOW - dt.timedelta(days=2, seconds=1), pm25=2)),
        ],
        now=NOW,
    )
    assert [(o.status, o.code) for o in out] == [("stored", None), ("rejected", "too-old")]


@SQLITE_ONLY
def test_unknown_device_and_unknown_agency(platform, sensors):
    out = ingest.ingest(
        platform,
        [
            msg("ghost", aq(T_OK, pm25=1)),
            msg("aq1", aq(T_OK, pm25=1), agency="nowhere"),
            msg("aq1", aq(T_OK, pm25=2)),
        ],
        now=NOW,
    )
    assert [(o.status, o.code) for o in out] == [
        ("rejected", "unknown-device"),
        ("rejected", "unknown-device"),
        ("stored", None),
    ]
    with platform.transaction() as db:
        rows = [
            (r.device_id, r.agency_id) for r in db.execute(select(Rejected).order_by(Rejected.id)).scalars()
        ]
    # the known agency is recorded (its staff see the refusal), the unknown one cannot be
    assert rows == [("ghost", sensors.agency_id), ("aq1", None)]


@SQLITE_ONLY
def test_a_device_of_another_agency_is_not_found_under_this_agency(platform, sensors):
    with platform.system_context() as ctx:
        other = identity.agency_create.unchecked(ctx, code="syt", name="Sở Y tế", kind="department").id
    register(platform, other, "aq9", "AirQualityObserved")
    out = ingest.ingest(
        platform,
        [msg("aq9", aq(T_OK, pm25=1), agency=AGENCY), msg("aq9", aq(T_OK, pm25=1), agency="syt")],
        now=NOW,
    )
    assert [(o.status, o.code) for o in out] == [("rejected", "unknown-device"), ("stored", None)]


@SQLITE_ONLY
def test_inactive_device_is_refused_until_reactivated(platform, sensors):
    from cityai.sensing import service

    with platform.system_context() as ctx:
        service.device_update.unchecked(ctx, device_pk=sensors.devices["aq1"], active=False)
    out = ingest.ingest(platform, [msg("aq1", aq(T_OK, pm25=1))], now=NOW)
    assert (out[0].status, out[0].code) == ("rejected", "inactive-device")
    assert observations(platform) == []
    assert device_row(platform, sensors.devices["aq1"])["rejected_count"] == 1
    with platform.system_context() as ctx:
        service.device_update.unchecked(ctx, device_pk=sensors.devices["aq1"], active=True)
    out = ingest.ingest(platform, [msg("aq1", aq(T_OK, pm25=1))], now=NOW)
    assert out[0].status == "stored"


@SQLITE_ONLY
def test_whole_batch_of_refusals_stores_nothing_and_records_each(platform, sensors):
    out = ingest.ingest(
        platform, [msg(r[0].replace(" ", "-")[:20], aq(T_OK, pm25=1)) for r in REFUSALS[:5]], now=NOW
    )
    assert {o.code for o in out} == {"unknown-device"}
    assert len(rejected_codes(platform)) == 5
    assert observations(platform) == []


@SQLITE_ONLY
def test_empty_batch_is_a_no_op(platform, sensors):
    assert ingest.ingest(platform, [], now=NOW) == []


@SQLITE_ONLY
def test_a_long_string_payload_is_refused_as_too_large(platform, sensors):
    """The size limit holds whatever form the payload comes in (bytes from MQTT, str, or a parsed dict)."""
    big = json.dumps(aq(T_OK, pm25=1)) + " " * (ingest.MAX_PAYLOAD_BYTES + 10)
    out = ingest.ingest(platform, [Message(AGENCY, "aq1", big)], now=NOW)
    assert (out[0].status, out[0].code) == ("rejected", "malformed")


# ------------------------------------------------------------------ idempotency and late data


def test_the_same_batch_twice_is_stored_once(backend, platform, sensors):
    batch = [msg("aq1", aq(utc(2025, 3, 1, 11, m), pm25=10 + m, pm10=20 + m)) for m in range(0, 30, 5)]
    first = ingest.ingest(platform, batch, now=NOW)
    assert [(o.status, o.stored) for o in first] == [("stored", 2)] * 6
    rows = observations(platform)
    assert len(rows) == 12
    attrs = entity_attrs(platform, sensors.aq)
    second = ingest.ingest(platform, batch, now=NOW + dt.timedelta(minutes=1))
    assert [(o.status, o.stored) for o in second] == [("duplicate", 0)] * 6
    assert observations(platform) == rows
    assert entity_attrs(platform, sensors.aq) == attrs


@SQLITE_ONLY
def test_duplicate_keeps_the_first_value(platform, sensors):
    t = utc(2025, 3, 1, 11, 0)
    ingest.ingest(platform, [msg("aq1", aq(t, pm25=10))], now=NOW)
    out = ingest.ingest(platform, [msg("aq1", aq(t, pm25=99))], now=NOW)
    assert out[0].status == "duplicate"
    assert observations(platform) == [(sensors.aq, "pm25", ms(t), 10.0)]
    assert entity_attrs(platform, sensors.aq)["pm25"]["value"] == 10.0


@SQLITE_ONLY
def test_a_message_partly_new_stores_only_the_new_values(platform, sensors):
    t = utc(2025, 3, 1, 11, 0)
    ingest.ingest(platform, [msg("aq1", aq(t, pm25=10))], now=NOW)
    out = ingest.ingest(platform, [msg("aq1", aq(t, pm25=10, pm10=30))], now=NOW)
    assert (out[0].status, out[0].stored) == ("stored", 1)
    assert len(observations(platform)) == 2


@SQLITE_ONLY
def test_duplicates_inside_one_batch_are_reported_as_duplicates(platform, sensors):
    t = utc(2025, 3, 1, 11, 0)
    m = msg("aq1", aq(t, pm25=10, pm10=20))
    out = ingest.ingest(platform, [m, m, msg("aq1", aq(t + dt.timedelta(minutes=1), pm25=11))], now=NOW)
    assert len(observations(platform)) == 3
    assert [o.status for o in out] == ["stored", "duplicate", "stored"]
    assert [o.stored for o in out] == [2, 0, 1]


@SQLITE_ONLY
def test_conflicting_duplicate_inside_one_batch_does_not_change_the_latest_value(platform, sensors):
    """Two messages for the same instant in one batch: the first value is the one stored, so the entity's
    latest value must be that one too (not the second, discarded one)."""
    t = utc(2025, 3, 1, 11, 0)
    ingest.ingest(platform, [msg("aq1", aq(t, pm25=10)), msg("aq1", aq(t, pm25=99))], now=NOW)
    assert observations(platform) == [(sensors.aq, "pm25", ms(t), 10.0)]
    assert entity_attrs(platform, sensors.aq)["pm25"]["value"] == 10.0


def test_late_value_is_stored_but_does_not_replace_the_latest(backend, platform, sensors):
    new_t, old_t = utc(2025, 3, 1, 11, 30), utc(2025, 3, 1, 10, 0)
    ingest.ingest(platform, [msg("aq1", aq(new_t, pm25=50))], now=NOW)
    out = ingest.ingest(platform, [msg("aq1", aq(old_t, pm25=5, pm10=7))], now=NOW)
    assert out[0].status == "stored"
    assert observations(platform) == [
        (sensors.aq, "pm10", ms(old_t), 7.0),
        (sensors.aq, "pm25", ms(old_t), 5.0),
        (sensors.aq, "pm25", ms(new_t), 50.0),
    ]
    attrs = entity_attrs(platform, sensors.aq)
    assert attrs["pm25"]["value"] == 50.0 and attrs["pm25"]["observedAt"] == store.iso(ms(new_t))
    # an attribute the entity had no value for yet takes the late value
    assert attrs["pm10"]["value"] == 7.0


@SQLITE_ONLY
def test_out_of_order_inside_one_batch_keeps_the_newest_as_latest(platform, sensors):
    ts = [utc(2025, 3, 1, 11, m) for m in (20, 5, 40, 10)]
    ingest.ingest(platform, [msg("aq1", aq(t, pm25=float(t.minute))) for t in ts], now=NOW)
    assert entity_attrs(platform, sensors.aq)["pm25"]["value"] == 40.0
    assert [v for *_, v in observations(platform)] == [5.0, 10.0, 20.0, 40.0]


# ------------------------------------------------------------------ failure: nothing half-written


def test_database_failure_after_insert_rolls_the_whole_batch_back(backend, platform, sensors, monkeypatch):
    from cityai.sensing import rules

    ingest.ingest(platform, [msg("aq1", aq(utc(2025, 3, 1, 9), pm25=1))], now=NOW)
    before_obs = observations(platform)
    before_dev = device_row(platform, sensors.devices["aq1"])
    before_attrs = entity_attrs(platform, sensors.aq)
    seen = {}

    def boom(ctx, new, **kw):
        seen["new"] = list(new)  # the values were inserted in this transaction ...
        raise RuntimeError("database went away")

    monkeypatch.setattr(rules, "on_values", boom)
    batch = [
        msg("aq1", aq(utc(2025, 3, 1, 10), pm25=2)),
        msg("aq1", aq(utc(2025, 3, 1, 10, 5), pm25="x")),
        msg("tf1", {"type": "TrafficFlowObserved", "observedAt": iso(utc(2025, 3, 1, 10)), "intensity": 5}),
    ]
    with pytest.raises(RuntimeError, match="database went away"):
        ingest.ingest(platform, batch, now=NOW)
    assert len(seen["new"]) == 2
    # ... and are gone, with everything else the batch did
    assert observations(platform) == before_obs
    assert device_row(platform, sensors.devices["aq1"]) == before_dev
    assert device_row(platform, sensors.devices["tf1"])["message_count"] == 0
    assert entity_attrs(platform, sensors.aq) == before_attrs
    assert rejected_codes(platform) == []
    # a redelivery after the failure stores everything
    monkeypatch.undo()
    out = ingest.ingest(platform, batch, now=NOW)
    assert [o.status for o in out] == ["stored", "rejected", "stored"]
    assert len(observations(platform)) == 3


@SQLITE_ONLY
def test_failure_of_the_insert_itself_changes_nothing(platform, sensors, monkeypatch):
    real = store.insert_values

    def insert_then_fail(db, rows):
        real(db, rows)
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "insert_values", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest.ingest(platform, [msg("aq1", aq(T_OK, pm25=3)), msg("ghost", aq(T_OK, pm25=3))], now=NOW)
    assert observations(platform) == []
    assert rejected_codes(platform) == []
    assert device_row(platform, sensors.devices["aq1"])["message_count"] == 0


# ------------------------------------------------------------------ parsing helpers


def test_parse_topic():
    assert ingest.parse_topic("cityai/v1", "cityai/v1/stnmt/aq1") == ("stnmt", "aq1")
    assert ingest.parse_topic("cityai/v1/", "cityai/v1/stnmt/aq1") == ("stnmt", "aq1")
    for bad in ("cityai/v1/stnmt", "cityai/v1/stnmt/aq1/x", "cityai/v2/stnmt/aq1", "cityai/v1//aq1", "other"):
        assert ingest.parse_topic("cityai/v1", bad) is None, bad


def test_parse_time():
    assert ingest.parse_time("2025-03-01T11:00:00Z") == utc(2025, 3, 1, 11)
    assert ingest.parse_time("2025-03-01T18:00:00+07:00") == utc(2025, 3, 1, 11)
    assert ingest.parse_time("2025-03-01T11:00:00.250Z") == utc(2025, 3, 1, 11, 0, 0, 250_000)
    for bad in ("2025-03-01T11:00:00", "2025-03-01", "noon", "", None, 12, "2" * 65):
        with pytest.raises(ValueError):
            ingest.parse_time(bad)


def test_number_values():
    assert ingest._number("a", 3) == (3.0, None)
    assert ingest._number("a", {"value": 2.5, "unitCode": "CEL"}) == (2.5, "CEL")
    for bad in ("3", True, None, [1], float("nan"), float("inf"), -math.inf, {"value": "1"}):
        with pytest.raises((TypeError, ValueError)):
            ingest._number("a", bad)


@SQLITE_ONLY
def test_rejected_rows_hold_the_payload_truncated(platform, sensors):
    payload = json.dumps(aq(T_OK, pm25="x" * 5000)).encode()
    ingest.ingest(platform, [msg("aq1", payload)], now=NOW)
    with platform.transaction() as db:
        r = db.execute(select(Rejected)).scalar_one()
        assert r.code == "not-a-number" and len(r.payload) == 2000 and r.payload.startswith('{"type"')
        assert db.execute(select(func.count()).select_from(Observation)).scalar() == 0
