"""Ingestion: device messages (MQTT or the HTTP batch endpoint) to stored observations.

A message is a registered device's JSON object: ``{"type", "observedAt", <attribute>: number | {"value":
number, "unitCode": "..."}, ...}`` (optionally ``"location"``: a GeoJSON point). :func:`ingest` takes a batch
of messages and, in ONE transaction, stores every valid message's values, updates each device's entity (its
latest values; an older, late value never overwrites a newer one), records every refused message with its
reason in ``sens_rejected``, runs the alert rules over the new values and queues subscription notifications.
It returns one :class:`Outcome` per message. Only after it returns may the caller acknowledge the messages
(MQTT QoS 1 PUBACK): what was acknowledged is stored. A database failure raises, so nothing is acknowledged
and the broker delivers the messages again; values already stored are skipped by the table's key.

A whole message is refused when any part of it is wrong (atomic per message), with a code:
``malformed`` (not a JSON object, too large), ``unknown-device``, ``inactive-device``, ``type-mismatch``,
``bad-time`` (observedAt missing, unparseable or without a time zone), ``clock-skew`` (more than
``CITYAI_SENSING_MAX_CLOCK_SKEW_S`` in the future), ``too-old``, ``unknown-attribute``, ``not-a-number``,
``wrong-unit``, ``out-of-range``, ``empty`` (no values).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_

from cityai.core.db import utcnow
from cityai.core.models import Agency
from cityai.sensing import schema, store
from cityai.sensing.models import Device, Entity, Rejected

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 64 * 1024
RESERVED = {"type", "observedAt", "id", "@context", "location", "dateObserved"}


@dataclass
class Message:
    agency_code: str
    device_id: str
    payload: bytes | str | dict
    channel: str = "mqtt"
    topic: str | None = None


@dataclass
class Outcome:
    status: str  # stored | duplicate | rejected
    stored: int = 0
    code: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class _Parsed:
    msg: Message
    data: dict | None = None
    t_ms: int | None = None
    error: tuple[str, str] | None = None
    values: list[tuple[str, float, str | None]] = field(default_factory=list)  # (attribute, value, unit)


def parse_topic(prefix: str, topic: str) -> tuple[str, str] | None:
    """``<prefix>/<agency code>/<device id>`` -> (agency code, device id)."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def parse_time(value: Any) -> dt.datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("observedAt must be an ISO 8601 date-time string with a time zone")
    try:
        t = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"observedAt {value!r} is not an ISO 8601 date-time") from None
    if t.tzinfo is None:
        raise ValueError(f"observedAt {value!r} has no time zone (add Z or +07:00)")
    try:
        return t.astimezone(dt.timezone.utc)
    except OverflowError:  # year 1 at +07:00 has no UTC time
        raise ValueError(f"observedAt {value!r} is out of range") from None


def _number(name: str, raw: Any) -> tuple[float, str | None]:
    unit = None
    if isinstance(raw, dict):
        unit = raw.get("unitCode")
        if unit is not None and not isinstance(unit, str):
            raise ValueError(f"{name}: unitCode must be a string")
        raw = raw.get("value")
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise TypeError(f"{name}: {raw!r} is not a number")
    try:
        value = float(raw)
    except OverflowError:  # an integer of hundreds of digits
        raise TypeError(f"{name}: the number is too large") from None
    if not math.isfinite(value):
        raise TypeError(f"{name}: {raw!r} is not a finite number")
    return value, unit


def _parse(msg: Message, now_ms: int, skew_ms: int, oldest_ms: int) -> _Parsed:
    p = _Parsed(msg)
    raw = msg.payload
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_PAYLOAD_BYTES:
            p.error = ("malformed", f"payload of {len(raw)} bytes; at most {MAX_PAYLOAD_BYTES}")
            return p
        try:
            raw = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            p.error = ("malformed", f"payload is not JSON: {str(exc)[:120]}")
            return p
    elif isinstance(raw, str):
        if len(raw) > MAX_PAYLOAD_BYTES // 4 and len(raw.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            p.error = ("malformed", f"payload of {len(raw.encode('utf-8'))} bytes; at most {MAX_PAYLOAD_BYTES}")
            return p
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            p.error = ("malformed", f"payload is not JSON: {str(exc)[:120]}")
            return p
    elif isinstance(raw, dict) and len(raw) > 200:
        p.error = ("malformed", f"{len(raw)} keys; at most 200")
        return p
    elif isinstance(raw, dict):
        size = len(json.dumps(raw, ensure_ascii=False, default=str).encode("utf-8"))
        if size > MAX_PAYLOAD_BYTES:
            p.error = ("malformed", f"payload of {size} bytes; at most {MAX_PAYLOAD_BYTES}")
            return p
    if not isinstance(raw, dict):
        p.error = ("malformed", "payload must be a JSON object {\"type\", \"observedAt\", <attribute>: number}")
        return p
    p.data = raw
    try:
        t = parse_time(raw.get("observedAt", raw.get("dateObserved")))
    except ValueError as exc:
        p.error = ("bad-time", str(exc))
        return p
    p.t_ms = store.to_ms(t)
    if p.t_ms > now_ms + skew_ms:
        p.error = ("clock-skew", f"observedAt {store.iso(p.t_ms)} is {(p.t_ms - now_ms) / 1000:.0f} s in the future "
                                 f"(at most {skew_ms // 1000} s allowed); check the device's clock")
        return p
    if p.t_ms < oldest_ms:
        p.error = ("too-old", f"observedAt {store.iso(p.t_ms)} is older than the {store.iso(oldest_ms)} limit")
        return p
    for name, val in raw.items():
        if name in RESERVED:
            continue
        if not isinstance(name, str) or not name or len(name) > 100:
            p.error = ("malformed", "attribute names are 1-100 characters")
            return p
        try:
            value, unit = _number(name, val)
        except (TypeError, ValueError) as exc:
            p.error = ("not-a-number", str(exc))
            return p
        p.values.append((name, value, unit))
    if not p.values:
        p.error = ("empty", "the message has no numeric attribute")
    return p


def _location(raw: Any) -> tuple[float, float] | None:
    """(lat, lon) of a GeoJSON point, or of NGSI-LD's {"type": "GeoProperty", "value": point}."""
    if isinstance(raw, dict) and raw.get("type") == "GeoProperty":
        raw = raw.get("value")
    if isinstance(raw, dict) and raw.get("type") == "Point":
        c = raw.get("coordinates")
        if (isinstance(c, list) and len(c) >= 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        for x in c[:2])
                and -180 <= c[0] <= 180 and -90 <= c[1] <= 90):
            return float(c[1]), float(c[0])
    return None


def property_value(value: float, t_ms: int, unit: str | None) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": "Property", "value": value, "observedAt": store.iso(t_ms)}
    if unit:
        prop["unitCode"] = unit
    return prop


def oldest_allowed_ms(settings: Any, now_ms: int) -> int:
    """Older values are refused: past the maximum age (a device clock reset to 1970), or past the rollup
    retention (they would be folded and deleted at the next maintenance)."""
    days = min(settings.sensing_max_age_days, settings.sensing_rollup_retention_days)
    return now_ms - days * store.DAY_MS


def ingest(platform: Any, messages: list[Message], *, now: dt.datetime | None = None) -> list[Outcome]:
    """Store a batch of device messages in one transaction; see the module's docstring."""
    if not messages:
        return []
    settings = platform.settings
    now = now or utcnow()
    now_ms = store.to_ms(now)
    skew_ms = settings.sensing_max_clock_skew_s * 1000
    oldest_ms = oldest_allowed_ms(settings, now_ms)
    parsed = [_parse(m, now_ms, skew_ms, oldest_ms) for m in messages]
    # before the batch's transaction touches sens_observation (see store.ensure_partitions)
    store.ensure_partitions(platform, {p.t_ms for p in parsed if p.error is None and p.t_ms is not None})
    with platform.system_context() as ctx:
        return _ingest(ctx, parsed, now)


def _ingest(ctx: Any, parsed: list[_Parsed], now: dt.datetime) -> list[Outcome]:
    db = ctx.db
    keys = {(p.msg.agency_code, p.msg.device_id) for p in parsed}
    devices: dict[tuple[str, str], Device] = {}
    agencies: dict[str, int] = {}
    key_list = list(keys)
    for i in range(0, len(key_list), 500):
        # locked (PostgreSQL), in id order: concurrent batches for one device wait instead of overwriting each
        # other's counters (SQLite serializes writers anyway)
        rows = db.execute(select(Agency.code, Device).join(Device, Device.agency_id == Agency.id)
                          .where(tuple_(Agency.code, Device.device_id).in_(key_list[i:i + 500]))
                          .order_by(Device.id).with_for_update(of=Device)).all()
        devices.update({(code, d.device_id): d for code, d in rows})
    codes = {c for c, _ in keys}
    agencies.update({c: i for c, i in db.execute(select(Agency.code, Agency.id).where(Agency.code.in_(codes)))})
    entities = {e.id: e for e in db.execute(select(Entity).where(
        Entity.id.in_([d.entity_id for d in devices.values()])).order_by(Entity.id).with_for_update()).scalars()} \
        if devices else {}

    outcomes: list[Outcome] = []
    rows: list[tuple[str, str, int, float]] = []
    accepted: list[tuple[int, _Parsed, Device, list[tuple[str, float, str | None]]]] = []
    rejected: list[tuple[_Parsed, Device | None, str, str]] = []
    for i, p in enumerate(parsed):
        device = devices.get((p.msg.agency_code, p.msg.device_id))
        error = p.error
        if device is None:
            error = error or ("unknown-device", f"no device {p.msg.device_id!r} is registered for agency "
                                                f"{p.msg.agency_code!r}; register it first "
                                                "(cityai sensing register-device)")
        elif not device.active:
            error = ("inactive-device", f"device {p.msg.device_id!r} is deactivated")
        elif error is None and p.data is not None and p.data.get("type", device.type) != device.type:
            error = ("type-mismatch", f"type {p.data.get('type')!r} but device {device.device_id!r} is registered "
                                      f"as {device.type!r}")
        normalized: list[tuple[str, float, str | None]] = []
        if error is None and device is not None:
            spec = schema.TYPES.get(device.type, {}).get("attrs", {})
            for name, value, unit in p.values:
                if spec and name not in spec:
                    error = ("unknown-attribute", f"{device.type} has no attribute {name!r}; known: "
                                                  f"{', '.join(sorted(spec))}")
                    break
                try:
                    v = schema.normalize(device.type, name, value, unit)
                except schema.UnitError as exc:
                    error = (exc.code, str(exc))
                    break
                normalized.append((name, v, spec[name].unit if name in spec else unit))
        if error is not None:
            rejected.append((p, device, *error))
            outcomes.append(Outcome("rejected", code=error[0], detail=error[1]))
            continue
        assert device is not None and p.t_ms is not None
        rows.extend((device.entity_id, name, p.t_ms, v) for name, v, _ in normalized)
        accepted.append((i, p, device, normalized))
        outcomes.append(Outcome("stored"))

    new = store.insert_values(db, rows)
    unclaimed = {(e, a, t) for e, a, t, _ in new}  # a stored value belongs to the first message that carried it
    stored_by: dict[int, list[tuple[str, float, str | None]]] = {}
    for i, p, device, normalized in accepted:
        mine = []
        for name, v, unit in normalized:
            key = (device.entity_id, name, p.t_ms)
            if key in unclaimed:
                unclaimed.discard(key)
                mine.append((name, v, unit))
        stored_by[i] = mine
        outcomes[i].stored = len(mine)
        if not mine:
            outcomes[i].status = "duplicate"

    # Entities: the latest value of each attribute; devices: counters and last seen.
    changed: dict[str, set[str]] = {}
    pending: dict[str, dict[str, Any]] = {}  # entity id -> its attributes being updated
    for i, p, device, normalized in accepted:
        ent = entities.get(device.entity_id)
        if ent is None:
            continue
        attrs = pending.setdefault(ent.id, dict(ent.attrs or {}))
        for name, v, unit in stored_by[i]:  # a duplicate never changes the latest value
            cur = attrs.get(name)
            cur_t = cur.get("observedAt") if isinstance(cur, dict) else None
            if cur_t is None or store.to_ms(parse_time(cur_t)) <= p.t_ms:
                attrs[name] = property_value(v, p.t_ms, unit)
                changed.setdefault(ent.id, set()).add(name)
        loc = _location(p.data.get("location")) if p.data else None
        if loc is not None:
            ent.lat, ent.lon = loc
            ent.location = {"type": "Point", "coordinates": [loc[1], loc[0]]}
            device.lat, device.lon = loc
    for eid in changed:
        entities[eid].attrs = pending[eid]
        entities[eid].modified_at = now
    counts: dict[int, list[int]] = {}
    for i, _, device, _ in accepted:
        # a redelivered message (all its values already stored) is not counted again
        counts.setdefault(device.id, [0, 0])[0] += outcomes[i].status == "stored"
    for _, device, _, _ in rejected:
        if device is not None:
            counts.setdefault(device.id, [0, 0])[1] += 1
    by_id = {d.id: d for d in devices.values()}
    for dev_id, (ok, bad) in counts.items():
        d = by_id[dev_id]
        d.message_count = (d.message_count or 0) + ok
        d.rejected_count = (d.rejected_count or 0) + bad
        if ok:
            d.last_seen_at = now
    for p, device, code, detail in rejected:
        payload = p.msg.payload
        if isinstance(payload, (bytes, bytearray)):
            payload = payload[:2000].decode("utf-8", "replace")
        elif isinstance(payload, dict):
            payload = json.dumps(payload, ensure_ascii=False)[:2000]
        db.add(Rejected(received_at=now, agency_id=device.agency_id if device else agencies.get(p.msg.agency_code),
                        channel=p.msg.channel, topic=p.msg.topic, device_id=p.msg.device_id[:100], code=code,
                        detail=detail[:1000], payload=str(payload)[:2000]))
    if new:
        _after_new_values(ctx, new, changed, now)
    return outcomes


def _after_new_values(ctx: Any, new: list[tuple[str, str, int, float]], changed: dict[str, set[str]],
                      now: dt.datetime) -> None:
    """Alert rules over the new values; subscription notifications for the entities whose latest changed."""
    from cityai.sensing import rules, subscriptions

    rules.on_values(ctx, new, now=now)
    if changed:
        subscriptions.on_change(ctx, changed)
