"""The sensing module's service layer: devices, NGSI-LD entities, temporal queries, forecasts, dashboard.

Every operation is one function declared with :func:`cityai.core.authz.action`; the NGSI-LD API
(``ngsi.py``), the module's own API (``routes.py``), the pages and the CLI all call these.

Who may do what: an agency's editors register its devices and write its entities and subscriptions; its
members read its internal entities; anyone reads public entities, their time series and forecasts (city
sensor data is open data by default; a device or entity may be made ``internal``). Reading internal data is
audited; every change is audited.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
import threading
import time
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select

from cityai.core import authz, security
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import Problem, conflict, forbidden, invalid, not_found
from cityai.core.models import Agency
from cityai.sensing import schema, store
from cityai.sensing.ingest import Message, Outcome, _location, parse_time
from cityai.sensing.ingest import ingest as _ingest
from cityai.sensing.models import VISIBILITIES, Device, Entity, Rejected, Subscription

DEVICE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
ENTITY_ID = re.compile(r"^urn:ngsi-ld:[A-Za-z0-9_.\-]+:[^\s#?/+]{1,250}$")
TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
ATTR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
DEVICE_KEY_PREFIX = "cdk_"
T_DEVICE = ("thiết bị", "device")
T_ENTITY = ("thực thể", "entity")
T_SUBSCRIPTION = ("đăng ký nhận thông báo", "subscription")


def _v(vi: str, en: str, **extra: Any) -> Problem:
    return invalid((vi, en), **extra)


def _agency(ctx: Context, agency_id: int | None = None, code: str | None = None) -> Agency:
    a = ctx.db.get(Agency, agency_id) if agency_id is not None else (
        ctx.db.execute(select(Agency).where(Agency.code == code)).scalar_one_or_none() if code else None)
    if a is None:
        raise not_found(("cơ quan", "agency"), agency_id if agency_id is not None else code)
    return a


def _visible(ctx: Context, agency_id: int, visibility: str) -> bool:
    return visibility == "public" or ctx.has_role(agency_id, "member")


def _check_visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise _v("visibility là public hoặc internal.", "visibility is public or internal.", field="visibility")
    return value


def _check_point(lat: Any, lon: Any) -> tuple[float | None, float | None]:
    if lat is None and lon is None:
        return None, None
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError):
        raise _v("lat và lon là số.", "lat and lon are numbers.", field="lat") from None
    if not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180):
        raise _v("Toạ độ nằm ngoài phạm vi (lat −90..90, lon −180..180).",
                 "Coordinates out of range (lat -90..90, lon -180..180).", field="lat")
    return lat_f, lon_f


# ------------------------------------------------------------------ devices


def entity_id_for(type_: str, agency_code: str, device_id: str) -> str:
    return f"urn:ngsi-ld:{type_}:{agency_code}:{device_id}"


def device_to_dict(d: Device, agency_code: str | None = None, locale: str = "vi") -> dict[str, Any]:
    return {"id": d.id, "agency_id": d.agency_id, "agency_code": agency_code, "device_id": d.device_id,
            "type": d.type, "type_label": schema.type_label(d.type, locale), "entity_id": d.entity_id,
            "name": d.name, "lat": d.lat, "lon": d.lon, "ward_code": d.ward_code, "visibility": d.visibility,
            "active": d.active, "message_count": d.message_count, "rejected_count": d.rejected_count,
            "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
            "created_at": d.created_at.isoformat() if d.created_at else None}


@authz.action("sensing.device.register", scope="write", auth=authz.agency_role("editor"))
def device_register(ctx: Context, *, agency_id: int, device_id: str, type: str, name: str | None = None,
                    lat: float | None = None, lon: float | None = None, ward_code: str | None = None,
                    visibility: str = "public") -> tuple[Device, str]:
    """Register a device of the agency; returns it and its key (shown once; only its hash is kept)."""
    agency = _agency(ctx, agency_id)
    if not isinstance(device_id, str) or not DEVICE_ID.match(device_id):
        raise _v("Mã thiết bị gồm 1–100 ký tự chữ, số, '_', '.', '-'.",
                 "A device id is 1-100 letters, digits, '_', '.' or '-'.", field="device_id")
    if type not in schema.TYPES:
        raise _v(f"Kiểu '{type}' không được hỗ trợ; các kiểu: {', '.join(schema.TYPES)}.",
                 f"Type '{type}' is not supported; types: {', '.join(schema.TYPES)}.", field="type")
    _check_visibility(visibility)
    lat, lon = _check_point(lat, lon)
    if ctx.db.execute(select(Device.id).where(Device.agency_id == agency.id, Device.device_id == device_id)).first():
        raise conflict((f"Thiết bị '{device_id}' đã được đăng ký cho {agency.code}.",
                        f"Device '{device_id}' is already registered for {agency.code}."))
    key = DEVICE_KEY_PREFIX + secrets.token_urlsafe(32)
    eid = entity_id_for(type, agency.code, device_id)
    dev = Device(agency_id=agency.id, device_id=device_id, type=type, entity_id=eid, name=name, lat=lat, lon=lon,
                 ward_code=ward_code, visibility=visibility, key_hash=security.token_hash(key),
                 created_by=ctx.actor.user_id)
    ctx.db.add(dev)
    ctx.db.flush()
    ent = ctx.db.get(Entity, eid)
    if ent is not None and (ent.agency_id != agency.id or ent.type != type or ent.device_pk is not None):
        raise conflict((f"Thực thể {eid} đã tồn tại (của cơ quan khác hoặc kiểu khác); chọn mã thiết bị khác.",
                        f"Entity {eid} already exists (another agency's or another type); choose another "
                        "device id."))
    if ent is None:
        ent = Entity(id=eid, type=type, agency_id=agency.id, device_pk=dev.id, visibility=visibility, attrs={})
        ctx.db.add(ent)
    ent.device_pk = dev.id
    ent.visibility = visibility
    if name:
        ent.attrs = {**(ent.attrs or {}), "name": {"type": "Property", "value": name}}
    if lat is not None:
        ent.lat, ent.lon = lat, lon
        ent.location = {"type": "Point", "coordinates": [lon, lat]}
    ctx.audit("sensing.device.register", "sensing_device", dev.id, device_id=device_id, type=type,
              agency=agency.code)
    return dev, key


def _device(ctx: Context, device_pk: int) -> Device:
    d = ctx.db.get(Device, device_pk) if isinstance(device_pk, int) else None
    if d is None:
        raise not_found(T_DEVICE, device_pk)
    return d


_device_editor = authz.owner_role(Device, "device_pk", "editor", "sensing_device")
_device_member = authz.owner_role(Device, "device_pk", "member", "sensing_device")


@authz.action("sensing.device.list", scope="read", auth=authz.authenticated)
def device_list(ctx: Context, *, agency_id: int | None = None, type: str | None = None, limit: int = 100,
                offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Devices of the agencies you belong to (all, for system administrators)."""
    stmt = select(Device, Agency.code).join(Agency, Agency.id == Device.agency_id)
    if not ctx.actor.is_sysadmin:
        stmt = stmt.where(Device.agency_id.in_(ctx.descendants(list(ctx.actor.roles)) or [-1]))
    if agency_id is not None:
        stmt = stmt.where(Device.agency_id == agency_id)
    if type:
        stmt = stmt.where(Device.type == type)
    total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar() or 0
    rows = ctx.db.execute(stmt.order_by(Device.agency_id, Device.device_id).limit(limit).offset(offset)).all()
    return [device_to_dict(d, code, ctx.locale) for d, code in rows], total


@authz.action("sensing.device.show", scope="read", auth=_device_member)
def device_show(ctx: Context, *, device_pk: int) -> dict[str, Any]:
    """One device of your agencies."""
    d = _device(ctx, device_pk)
    return device_to_dict(d, _agency(ctx, d.agency_id).code, ctx.locale)


@authz.action("sensing.device.update", scope="write", auth=_device_editor)
def device_update(ctx: Context, *, device_pk: int, name: str | None = None, active: bool | None = None,
                  lat: float | None = None, lon: float | None = None, visibility: str | None = None,
                  rotate_key: bool = False) -> tuple[Device, str | None]:
    """Rename, move, (de)activate a device or give it a new key (the old one stops working at once)."""
    d = _device(ctx, device_pk)
    changes: dict[str, Any] = {}
    if name is not None:
        d.name = changes["name"] = name
    if active is not None:
        d.active = changes["active"] = bool(active)
    if lat is not None or lon is not None:
        d.lat, d.lon = _check_point(lat, lon)
        changes["location"] = [d.lat, d.lon]
    if visibility is not None:
        d.visibility = changes["visibility"] = _check_visibility(visibility)
    key = None
    if rotate_key:
        key = DEVICE_KEY_PREFIX + secrets.token_urlsafe(32)
        d.key_hash = security.token_hash(key)
        changes["key"] = "rotated"
    ent = ctx.db.get(Entity, d.entity_id)
    if ent is not None:
        if "visibility" in changes:
            ent.visibility = d.visibility
        if "location" in changes:
            ent.lat, ent.lon = d.lat, d.lon
            ent.location = {"type": "Point", "coordinates": [d.lon, d.lat]} if d.lat is not None else None
        if "name" in changes:
            ent.attrs = {**(ent.attrs or {}), "name": {"type": "Property", "value": d.name}}
    ctx.audit("sensing.device.update", "sensing_device", d.id, **changes)
    return d, key


def device_by_key(ctx: Context, key: str | None) -> Device:
    if not key or not key.startswith(DEVICE_KEY_PREFIX):
        raise Problem(401, "invalid-device-key", ("Khoá thiết bị không hợp lệ", "Invalid device key"),
                      ("Gửi khoá của thiết bị trong tiêu đề X-Device-Key.",
                       "Send the device's key in the X-Device-Key header."))
    d = ctx.db.execute(select(Device).where(Device.key_hash == security.token_hash(key))).scalar_one_or_none()
    if d is None:
        raise Problem(401, "invalid-device-key", ("Khoá thiết bị không hợp lệ", "Invalid device key"),
                      ("Không có thiết bị nào mang khoá này (có thể khoá đã được đổi).",
                       "No device has this key (it may have been rotated)."))
    return d


def ingest_http(platform: Any, *, key: str | None, observations: Any) -> dict[str, Any]:
    """The HTTP batch endpoint: a device (by its key) sends a list of messages; each gets an outcome."""
    with platform.system_context(write=False) as ctx:
        d = device_by_key(ctx, key)
        code = _agency(ctx, d.agency_id).code
        device_id = d.device_id
    if isinstance(observations, dict):
        observations = [observations]
    if not isinstance(observations, list) or not observations:
        raise _v("Gửi một danh sách quan trắc khác rỗng.", "Send a non-empty list of observations.",
                 field="observations")
    limit = platform.settings.sensing_batch_max
    if len(observations) > limit:
        raise Problem(413, "batch-too-large", ("Lô quá lớn", "Batch too large"),
                      (f"{len(observations)} quan trắc; tối đa {limit} mỗi lần gửi.",
                       f"{len(observations)} observations; at most {limit} per call."), limit=limit)
    outcomes = _ingest(platform, [Message(code, device_id, o, channel="http") for o in observations])
    return summarize(outcomes)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    return {"accepted": sum(o.status != "rejected" for o in outcomes),
            "stored_values": sum(o.stored for o in outcomes),
            "duplicates": sum(o.status == "duplicate" for o in outcomes),
            "rejected": [{"index": i, "code": o.code, "detail": o.detail}
                         for i, o in enumerate(outcomes) if o.status == "rejected"]}


@authz.action("sensing.rejected.list", scope="read", auth=authz.authenticated)
def rejected_list(ctx: Context, *, agency_id: int | None = None, limit: int = 100,
                  offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Refused messages of your agencies' devices (and, for system administrators, of unknown devices)."""
    stmt = select(Rejected)
    if not ctx.actor.is_sysadmin:
        stmt = stmt.where(Rejected.agency_id.in_(ctx.descendants(list(ctx.actor.roles)) or [-1]))
    if agency_id is not None:
        stmt = stmt.where(Rejected.agency_id == agency_id)
    total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar() or 0
    rows = list(ctx.db.execute(stmt.order_by(Rejected.id.desc()).limit(limit).offset(offset)).scalars())
    if rows:  # raw payloads of the agencies' devices, internal ones included
        ctx.audit_now("sensing.rejected.read", "sensing_rejected", None, count=len(rows), agency_id=agency_id)
    return [{"id": r.id, "received_at": r.received_at.isoformat(), "agency_id": r.agency_id, "channel": r.channel,
             "topic": r.topic, "device_id": r.device_id, "code": r.code, "detail": r.detail, "payload": r.payload}
            for r in rows], total


# ------------------------------------------------------------------ entities (NGSI-LD)


def entity_to_ngsi(e: Entity, attrs: list[str] | None = None, *, simplified: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"id": e.id, "type": e.type}
    for name, prop in sorted((e.attrs or {}).items()):
        if attrs and name not in attrs:
            continue
        body[name] = prop.get("value", prop.get("object")) if simplified and isinstance(prop, dict) else prop
    if e.location and (not attrs or "location" in attrs):
        body["location"] = e.location if simplified else {"type": "GeoProperty", "value": e.location}
    return body


def _ngsi_error(status: int, kind: str, title: str, detail: str) -> Problem:
    """NGSI-LD error types (https://uri.etsi.org/ngsi-ld/errors/...) as problem details."""
    ngsi_type = f"https://uri.etsi.org/ngsi-ld/errors/{kind}"
    p = Problem(status, kind, (title, title), (detail, detail), type=ngsi_type)
    p.ngsi_type = ngsi_type  # type: ignore[attr-defined]
    return p


def bad_request(detail: str) -> Problem:
    return _ngsi_error(400, "BadRequestData", "Bad request data", detail)


def _parse_entity(body: Any, limits: tuple[int, int] | None = None
                  ) -> tuple[str, str, dict[str, Any], dict | None, list[tuple[str, int, float]]]:
    """Validate an NGSI-LD entity in normalized (or key-values) form; returns id, type, attributes,
    location, and the (attribute, t_ms, value) observations it carries (numeric properties with observedAt)."""
    if not isinstance(body, dict):
        raise bad_request("the entity must be a JSON object")
    eid, etype = body.get("id"), body.get("type")
    if not isinstance(eid, str) or not ENTITY_ID.match(eid):
        raise bad_request("id must be a URN like urn:ngsi-ld:<Type>:<name>")
    if not isinstance(etype, str) or not TYPE_NAME.match(etype):
        raise bad_request("type must be a name such as AirQualityObserved")
    attrs: dict[str, Any] = {}
    location = None
    obs: list[tuple[str, int, float]] = []
    for name, raw in body.items():
        if name in ("id", "type", "@context"):
            continue
        if name == "location":
            point = _location(raw)
            if point is None:
                raise bad_request("location must be a GeoJSON Point [lon, lat] (GeoProperty)")
            location = {"type": "Point", "coordinates": [point[1], point[0]]}
            continue
        if not ATTR_NAME.match(name):
            raise bad_request(f"attribute name {name!r} is not valid")
        prop = raw if isinstance(raw, dict) and raw.get("type") in ("Property", "Relationship") else \
            {"type": "Property", "value": raw}
        if prop["type"] == "Property" and "value" not in prop:
            raise bad_request(f"attribute {name!r} has no value")
        if prop["type"] == "Relationship" and not isinstance(prop.get("object"), str):
            raise bad_request(f"relationship {name!r} needs an object (an entity id)")
        value = prop.get("value")
        if prop.get("unitCode") is not None and not isinstance(prop["unitCode"], str):
            raise bad_request(f"{name}: unitCode must be a string (a UN/CEFACT code such as KMH)")
        if prop.get("observedAt") is not None:
            try:
                t = parse_time(prop["observedAt"])
            except ValueError as exc:
                raise bad_request(f"{name}: {exc}") from None
            t_ms = store.to_ms(t)
            if limits is not None and not limits[0] <= t_ms <= limits[1]:
                raise bad_request(f"{name}: observedAt {store.iso(t_ms)} is outside the accepted window "
                                  f"{store.iso(limits[0])} .. {store.iso(limits[1])} (clock skew or too old)")
            prop = {**prop, "observedAt": store.iso(t_ms)}
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(float(value)):
                    raise bad_request(f"{name}: value is not a finite number")
                try:
                    v = schema.normalize(etype, name, float(value), prop.get("unitCode"))
                except schema.UnitError as exc:
                    raise bad_request(str(exc)) from None
                prop["value"] = v
                obs.append((name, store.to_ms(t), v))
        attrs[name] = prop
    return eid, etype, attrs, location, obs


def _tenant_agency(ctx: Context, tenant: str | None, agency_id: int | None) -> int:
    """The agency an NGSI-LD write belongs to: the NGSILD-Tenant header (an agency code), else the one agency
    where the caller is an editor."""
    if ctx.actor.is_anonymous:
        from cityai.core.errors import unauthorized

        raise unauthorized()
    if tenant:
        return _agency(ctx, code=tenant).id
    if agency_id is not None:
        return agency_id
    editable = [a for a, r in ctx.actor.roles.items() if r in ("editor", "admin")]
    if len(editable) == 1:
        return editable[0]
    raise bad_request("name the agency with the NGSILD-Tenant header (its code)")


def _write_entity(ctx: Context, agency_id: int, body: Any, *, replace: bool, visibility: str | None) -> bool:
    """Create or merge one entity; True when it was created. Observations it carries are stored."""
    from cityai.sensing.ingest import oldest_allowed_ms

    settings = ctx.platform.settings
    now_ms = store.to_ms(utcnow())
    limits = (oldest_allowed_ms(settings, now_ms), now_ms + settings.sensing_max_clock_skew_s * 1000)
    eid, etype, attrs, location, obs = _parse_entity(body, limits)
    ent = ctx.db.get(Entity, eid)
    created = ent is None
    if ent is None:
        _check_namespace(ctx, eid, agency_id)
        ent = Entity(id=eid, type=etype, agency_id=agency_id, visibility=visibility or "public", attrs={})
        ctx.db.add(ent)
    else:
        if ent.type != etype:
            raise bad_request(f"entity {eid} exists with type {ent.type}")
        if not ctx.has_role(ent.agency_id, "editor"):
            raise forbidden("sensing.entity.write")
        if visibility:
            ent.visibility = visibility
    merged = {} if replace else dict(ent.attrs or {})
    for name, prop in attrs.items():
        old = merged.get(name)
        if isinstance(old, dict) and old.get("observedAt") and prop.get("observedAt") and \
                store.to_ms(parse_time(old["observedAt"])) > store.to_ms(parse_time(prop["observedAt"])):
            continue  # a late value goes to the time series only
        merged[name] = prop
    ent.attrs = merged
    if location is not None:
        ent.location = location
        ent.lon, ent.lat = location["coordinates"]
    ent.modified_at = utcnow()
    if obs:
        new = store.insert_values(ctx.db, [(eid, a, t, v) for a, t, v in obs])
        if new:
            from cityai.sensing import rules

            rules.on_values(ctx, new)
    from cityai.sensing import subscriptions

    ctx.db.flush()
    subscriptions.on_change(ctx, {eid: set(attrs)})
    return created


def _check_namespace(ctx: Context, eid: str, agency_id: int) -> None:
    """``urn:ngsi-ld:<Type>:<agency code>:...`` belongs to that agency (its devices' entities live there)."""
    parts = eid.split(":")
    if len(parts) >= 5:
        owner = ctx.db.execute(select(Agency.id).where(Agency.code == parts[3].lower())).scalar()
        if owner is not None and owner != agency_id:
            raise bad_request(f"ids urn:ngsi-ld:<Type>:{parts[3]}:... belong to agency {parts[3]}; "
                              "write with its NGSILD-Tenant or choose another id")


def _prepare_partitions(ctx: Context, bodies: list[Any]) -> None:
    """Make the monthly partitions the bodies' observations need before this request writes any of them
    (store.ensure_partitions explains why it must come first)."""
    times = set()
    for body in bodies:
        if not isinstance(body, dict):
            continue
        for prop in body.values():
            if isinstance(prop, dict) and isinstance(prop.get("observedAt"), str):
                try:
                    times.add(store.to_ms(parse_time(prop["observedAt"])))
                except ValueError:
                    pass
    now_ms = store.to_ms(utcnow())
    from cityai.sensing.ingest import oldest_allowed_ms

    lo, hi = oldest_allowed_ms(ctx.platform.settings, now_ms), now_ms + 86_400_000
    store.ensure_partitions(ctx.platform, {t for t in times if lo <= t <= hi})


@authz.action("sensing.entity.create", scope="write", auth=authz.agency_role("editor"))
def entity_create(ctx: Context, *, agency_id: int, body: Any, visibility: str | None = None) -> str:
    """Create an NGSI-LD entity (409 AlreadyExists when its id is taken)."""
    if isinstance(body, dict) and isinstance(body.get("id"), str) and ctx.db.get(Entity, body["id"]) is not None:
        raise _ngsi_error(409, "AlreadyExists", "Already exists", f"entity {body['id']} already exists")
    if visibility is not None:
        _check_visibility(visibility)
    _prepare_partitions(ctx, [body])
    _write_entity(ctx, agency_id, body, replace=False, visibility=visibility)
    ctx.audit("sensing.entity.create", "sensing_entity", body["id"], type=body.get("type"))
    return body["id"]


@authz.action("sensing.entity.upsert", scope="write", auth=authz.agency_role("editor"))
def entity_upsert(ctx: Context, *, agency_id: int, entities: Any, replace: bool = False) -> dict[str, Any]:
    """entityOperations/upsert: create or update each entity; errors are per entity (207)."""
    if not isinstance(entities, list) or not entities:
        raise bad_request("send a non-empty JSON array of entities")
    if len(entities) > ctx.platform.settings.sensing_batch_max:
        raise bad_request(f"at most {ctx.platform.settings.sensing_batch_max} entities per call")
    created, updated, errors = [], [], []
    _prepare_partitions(ctx, entities)
    for body in entities:
        eid = body.get("id") if isinstance(body, dict) else None
        try:
            with ctx.db.begin_nested():
                (created if _write_entity(ctx, agency_id, body, replace=replace, visibility=None) else updated).append(eid)
        except Problem as p:
            errors.append({"entityId": eid, "error": {"type": getattr(p, "ngsi_type", p.code), "title": p.title[1],
                                                       "detail": p.detail[1], "status": p.status}})
    ctx.audit("sensing.entity.upsert", "sensing_entity", None, created=len(created), updated=len(updated),
              errors=len(errors))
    return {"created": created, "updated": updated, "errors": errors}


def _entity(ctx: Context, entity_id: str) -> Entity:
    e = ctx.db.get(Entity, entity_id) if isinstance(entity_id, str) else None
    if e is None or not _visible(ctx, e.agency_id, e.visibility):
        raise _ngsi_error(404, "ResourceNotFound", "Not found", f"no entity {entity_id}")
    if e.visibility != "public":
        ctx.audit_now("sensing.entity.read", "sensing_entity", e.id)
    return e


@authz.action("sensing.entity.show", scope="read", auth=authz.anyone)
def entity_show(ctx: Context, *, entity_id: str) -> Entity:
    """One entity you may read (public ones, and your agencies' internal ones)."""
    return _entity(ctx, entity_id)


def _entity_editor(ctx: Context, *, entity_id: str, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    e = ctx.db.get(Entity, entity_id)
    return e is None or ctx.has_role(e.agency_id, "editor")


@authz.action("sensing.entity.update", scope="write", auth=_entity_editor)
def entity_update_attrs(ctx: Context, *, entity_id: str, attrs: Any) -> None:
    """Append or update attributes of an entity (PATCH/POST .../attrs)."""
    e = _entity(ctx, entity_id)
    if not isinstance(attrs, dict) or not attrs:
        raise bad_request("send a JSON object of attributes")
    _prepare_partitions(ctx, [attrs])
    _write_entity(ctx, e.agency_id, {**attrs, "id": e.id, "type": e.type}, replace=False, visibility=None)
    ctx.audit("sensing.entity.update", "sensing_entity", e.id, attributes=sorted(attrs))


@authz.action("sensing.entity.delete", scope="write", auth=_entity_editor)
def entity_delete(ctx: Context, *, entity_id: str) -> None:
    """Delete an entity (its time series stays until retention; a device's entity is deactivated instead)."""
    e = _entity(ctx, entity_id)
    if e.device_pk is not None:
        raise _ngsi_error(409, "OperationNotSupported", "Operation not supported",
                          "this entity belongs to a registered device: deactivate the device instead")
    from sqlalchemy import delete as sql_delete

    from cityai.sensing.models import Alert, Observation, Rollup

    # its history goes with it: an entity created later with the same id must not inherit it
    values = ctx.db.execute(sql_delete(Observation).where(Observation.entity_id == entity_id)).rowcount or 0
    ctx.db.execute(sql_delete(Rollup).where(Rollup.entity_id == entity_id))
    ctx.db.execute(sql_delete(Alert).where(Alert.entity_id == entity_id))
    ctx.db.delete(e)
    ctx.audit("sensing.entity.delete", "sensing_entity", entity_id, values_deleted=values)


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def _point_in_polygon(lat: float, lon: float, ring: list) -> bool:
    inside = False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i][0], ring[i][1]
        x2, y2 = ring[(i + 1) % n][0], ring[(i + 1) % n][1]
        if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / ((y2 - y1) or 1e-300) + x1:
            inside = not inside
    return inside


def parse_geo(georel: str | None, geometry: str | None, coordinates: Any) -> tuple | None:
    """NGSI-LD geo-query: ``georel=near;maxDistance==2000`` with a Point, or ``georel=within`` a Polygon."""
    if not georel:
        return None
    import json

    try:
        coords = json.loads(coordinates) if isinstance(coordinates, str) else coordinates
    except ValueError:
        raise bad_request("coordinates must be a JSON array") from None
    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    rel, *mods = georel.split(";")
    if rel == "near":
        if geometry != "Point" or not isinstance(coords, list) or len(coords) != 2 or not all(map(number, coords)):
            raise bad_request("georel=near needs geometry=Point and coordinates=[lon,lat]")
        dist = None
        for m in mods:
            k, _, v = m.partition("==")
            if k == "maxDistance":
                try:
                    dist = float(v)
                except ValueError:
                    raise bad_request("maxDistance must be a number of metres") from None
        if dist is None or not math.isfinite(dist) or not 0 < dist <= 50_000_000:
            raise bad_request("georel=near needs ;maxDistance==<metres> (a positive number)")
        return ("near", float(coords[1]), float(coords[0]), dist)
    if rel == "within":
        ring = coords[0] if isinstance(coords, list) and coords and isinstance(coords[0], list) else None
        if geometry != "Polygon" or ring is None or len(ring) < 4 or not all(
                isinstance(p, list) and len(p) >= 2 and number(p[0]) and number(p[1]) for p in ring):
            raise bad_request("georel=within needs geometry=Polygon and coordinates=[[[lon,lat],...]]")
        return ("within", coords[0])
    raise bad_request(f"georel {rel!r} is not supported (near, within)")


@authz.action("sensing.entity.query", scope="read", auth=authz.anyone)
def entity_query(ctx: Context, *, type: str | None = None, ids: list[str] | None = None, id_pattern: str | None = None,
                 attrs: list[str] | None = None, q: str | None = None, geo: tuple | None = None,
                 agency_id: int | None = None, limit: int = 20, offset: int = 0,
                 audit: bool = True) -> tuple[list[Entity], int]:
    """Entities you may read, by type, ids, attribute filter ``q`` and geo-query; (page, total).

    Type, ids, agency, visibility and the geo bounding box are SQL; without further filters the page and the
    count are SQL too. ``q``, ``idPattern``, ``attrs`` and the exact geo test run in Python over at most
    ``MAX_SCAN`` candidate rows (a query that would scan more is refused: narrow it by type or area)."""
    from cityai.sensing.subscriptions import QueryError, compile_id_pattern, matches_q, parse_q

    try:
        groups = parse_q(q)
        pattern = compile_id_pattern(id_pattern) if id_pattern else None
    except QueryError as exc:
        raise bad_request(str(exc)) from None
    stmt = select(Entity)
    if type:
        stmt = stmt.where(Entity.type.in_(type.split(",")[:100]))
    if ids:
        stmt = stmt.where(Entity.id.in_(ids[:1000]))
    if agency_id is not None:
        stmt = stmt.where(Entity.agency_id == agency_id)
    visible = ctx.descendants(list(ctx.actor.roles)) if ctx.actor.roles else []
    if not ctx.actor.is_sysadmin:
        stmt = stmt.where(or_(Entity.visibility == "public", Entity.agency_id.in_(visible or [-1])))
    if geo and geo[0] == "near":
        _, lat, lon, dist = geo
        dlat = dist / 111_000.0
        dlon = dist / (111_000.0 * max(0.01, math.cos(math.radians(lat))))
        stmt = stmt.where(Entity.lat.between(lat - dlat, lat + dlat), Entity.lon.between(lon - dlon, lon + dlon))
    elif geo and geo[0] == "within":
        lons, lats = [p[0] for p in geo[1]], [p[1] for p in geo[1]]
        stmt = stmt.where(Entity.lat.between(min(lats), max(lats)), Entity.lon.between(min(lons), max(lons)))
    python_filters = bool(pattern or attrs or groups or geo)
    if not python_filters:
        total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar() or 0
        page = list(ctx.db.execute(stmt.order_by(Entity.id).limit(limit).offset(offset)).scalars())
    else:
        rows = list(ctx.db.execute(stmt.order_by(Entity.id).limit(MAX_SCAN + 1)).scalars())
        if len(rows) > MAX_SCAN:
            raise bad_request(f"this filter would scan more than {MAX_SCAN} entities; narrow it by type, id or area")
        out = []
        for e in rows:
            if pattern and not pattern.fullmatch(e.id):
                continue
            if attrs and not set(attrs) & set(e.attrs or {}) and "location" not in attrs:
                continue
            if groups and not matches_q(e, groups):
                continue
            if geo:
                if e.lat is None:
                    continue
                if geo[0] == "near" and _haversine_m(geo[1], geo[2], e.lat, e.lon) > geo[3]:
                    continue
                if geo[0] == "within" and not _point_in_polygon(e.lat, e.lon, geo[1]):
                    continue
            out.append(e)
        page, total = out[offset:offset + limit], len(out)
    internal = [e.id for e in page if e.visibility != "public"]
    if internal and audit:
        ctx.audit_now("sensing.entity.read", "sensing_entity", None, entities=internal[:200], count=len(internal))
    return page, total


MAX_SCAN = 50_000


@authz.action("sensing.entity.types", scope="read", auth=authz.anyone)
def entity_types(ctx: Context) -> list[str]:
    """The entity types present among the entities you may read."""
    stmt = select(Entity.type).distinct()
    if not ctx.actor.is_sysadmin:
        visible = ctx.descendants(list(ctx.actor.roles)) if ctx.actor.roles else []
        stmt = stmt.where(or_(Entity.visibility == "public", Entity.agency_id.in_(visible or [-1])))
    return sorted(ctx.db.execute(stmt).scalars())


# ------------------------------------------------------------------ temporal


def _temporal_range(timerel: str | None, time_at: str | None, end_time_at: str | None) -> tuple[int | None, int | None]:
    if not timerel:
        if time_at or end_time_at:
            raise bad_request("timeAt and endTimeAt need timerel (before, after or between)")
        return None, None
    try:
        t1 = store.to_ms(parse_time(time_at)) if time_at else None
        t2 = store.to_ms(parse_time(end_time_at)) if end_time_at else None
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    if t1 is None:
        raise bad_request("timerel needs timeAt")
    if timerel == "before":
        return None, t1
    if timerel == "after":
        return t1 + 1, None
    if timerel == "between":
        if t2 is None:
            raise bad_request("timerel=between needs endTimeAt")
        if t2 <= t1:
            raise bad_request("endTimeAt must be after timeAt")
        return t1, t2
    raise bad_request("timerel is before, after or between")


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_duration_ms(text: str) -> int:
    m = _DURATION.match(text or "")
    if not m or not any(m.groups()):
        raise bad_request("aggrPeriodDuration is an ISO 8601 duration such as PT1H, PT15M or P1D")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    ms = ((d * 24 + h) * 60 + mi) * 60_000 + s * 1000
    if ms < 1000:
        raise bad_request("aggrPeriodDuration is at least one second")
    return ms


@authz.action("sensing.temporal.show", scope="read", auth=authz.anyone)
def temporal_entity(ctx: Context, *, entity_id: str, attrs: list[str] | None = None, timerel: str | None = None,
                    time_at: str | None = None, end_time_at: str | None = None, last_n: int | None = None,
                    aggr_methods: list[str] | None = None, aggr_period: str | None = None,
                    temporal_values: bool = False, budget: list[int] | None = None) -> dict[str, Any]:
    """An entity's attribute history (NGSI-LD temporal representation), or its aggregation over intervals.
    ``budget`` ([values left]) is shared by the entities of one request; by default one request returns at most
    CITYAI_SENSING_QUERY_MAX_POINTS values in all."""
    e = _entity(ctx, entity_id)
    start, end = _temporal_range(timerel, time_at, end_time_at)
    if budget is None:
        budget = [ctx.platform.settings.sensing_query_max_points]
    cap = budget[0]
    body: dict[str, Any] = {"id": e.id, "type": e.type}
    units = {k: v.get("unitCode") for k, v in (e.attrs or {}).items() if isinstance(v, dict)}
    if aggr_methods:
        bad = [m for m in aggr_methods if m not in store.AGG_METHODS]
        if bad:
            raise bad_request(f"aggrMethods {bad} unknown; use {', '.join(store.AGG_METHODS)}")
        period = parse_duration_ms(aggr_period or "")
        if start is None or end is None:
            raise bad_request("aggregation needs timerel=between with timeAt and endTimeAt")
        if (end - start) // period > cap:
            raise bad_request(f"{(end - start) // period} intervals asked; at most {cap}")
        names = attrs or _attribute_names(ctx, e.id)
        if (end - start) // period * max(1, len(names)) > cap:
            raise bad_request(f"{(end - start) // period} intervals x {len(names)} attributes asked; at most {cap} "
                              "in one request")
        budget[0] -= (end - start) // period * max(1, len(names))
        agg = store.aggregate(ctx.db, e.id, names, start, end, period, aggr_methods)
        for name, buckets in agg.items():
            prop: dict[str, Any] = {"type": "Property"}
            for m in aggr_methods:
                prop[m] = [[b[m], store.iso(b["start"]), store.iso(b["end"])] for b in buckets]
            body[name] = prop
        return body
    truncated = False
    series = {}
    for name in sorted(attrs or _attribute_names(ctx, e.id)):
        if budget[0] <= 0:
            truncated = True
            break
        limit = min(budget[0], last_n) if last_n else budget[0]
        got = store.values(ctx.db, e.id, [name], start, end, limit=limit + (0 if last_n else 1),
                           last=bool(last_n)).get(name, [])
        if not last_n and len(got) > limit:
            got = got[:limit]
            truncated = True
        budget[0] -= len(got)
        if got:
            series[name] = got
    for name, points in series.items():
        if temporal_values:
            body[name] = {"type": "Property", "values": [[v, store.iso(t)] for t, v in points]}
        else:
            body[name] = [dict({"type": "Property", "value": v, "observedAt": store.iso(t)},
                               **({"unitCode": units[name]} if units.get(name) else {})) for t, v in points]
    if truncated:
        body["_truncated"] = True
    return body


def _attribute_names(ctx: Context, entity_id: str) -> list[str]:
    from cityai.sensing.models import Observation

    return list(ctx.db.execute(select(Observation.attribute).where(Observation.entity_id == entity_id)
                               .distinct()).scalars())


# ------------------------------------------------------------------ subscriptions


def subscription_to_dict(s: Subscription) -> dict[str, Any]:
    entities = []
    if s.entity_type or s.entity_id or s.id_pattern:
        ent: dict[str, Any] = {"type": s.entity_type} if s.entity_type else {}
        if s.entity_id:
            ent["id"] = s.entity_id
        if s.id_pattern:
            ent["idPattern"] = s.id_pattern
        entities.append(ent)
    status = "active" if s.active else "paused"
    if s.expires_at is not None and s.expires_at <= utcnow():
        status = "expired"
    body: dict[str, Any] = {
        "id": s.id, "type": "Subscription", "entities": entities, "watchedAttributes": s.watched or None,
        "q": s.q, "throttling": s.throttling_s or None, "isActive": s.active, "status": status,
        "expiresAt": s.expires_at.isoformat() if s.expires_at else None,
        "notification": {"attributes": s.notify_attrs or None, "format": "normalized",
                         "endpoint": {"uri": s.endpoint, "accept": "application/json"},
                         "timesSent": s.times_sent,
                         "lastNotification": s.last_notification.isoformat() if s.last_notification else None,
                         "lastSuccess": s.last_success.isoformat() if s.last_success else None,
                         "lastFailure": s.last_failure.isoformat() if s.last_failure else None,
                         "lastFailureReason": s.last_failure_reason}}
    if s.name:
        body["subscriptionName"] = s.name
    return {k: v for k, v in body.items() if v is not None}


@authz.action("sensing.subscription.create", scope="write", auth=authz.agency_role("editor"))
def subscription_create(ctx: Context, *, agency_id: int, body: Any) -> Subscription:
    """Create an NGSI-LD subscription notifying a webhook (http or https) when matching entities change."""
    from cityai.sensing.subscriptions import QueryError, expires, parse_q

    if not isinstance(body, dict) or body.get("type", "Subscription") != "Subscription":
        raise bad_request("send a Subscription object")
    entities = body.get("entities") or []
    if not isinstance(entities, list) or len(entities) > 1:
        raise bad_request("entities is a list of at most one {type, id?, idPattern?}")
    ent = entities[0] if entities else {}
    if not isinstance(ent, dict):
        raise bad_request("entities[0] must be an object")
    for key in ("type", "id", "idPattern"):
        if ent.get(key) is not None and (not isinstance(ent[key], str) or len(ent[key]) > 300):
            raise bad_request(f"entities[0].{key} must be a string of at most 300 characters")
    watched = body.get("watchedAttributes") or []
    if not isinstance(watched, list) or not all(isinstance(a, str) for a in watched):
        raise bad_request("watchedAttributes is a list of attribute names")
    if not ent and not watched:
        raise bad_request("name entities or watchedAttributes")
    notification = body.get("notification")
    uri = notification.get("endpoint", {}).get("uri") if isinstance(notification, dict) and \
        isinstance(notification.get("endpoint"), dict) else None
    if not isinstance(uri, str) or not re.match(r"^https?://[^\s]+$", uri) or len(uri) > 1000:
        raise bad_request("notification.endpoint.uri must be an http(s) URL")
    for key in ("q", "subscriptionName"):
        if body.get(key) is not None and (not isinstance(body[key], str) or len(body[key]) > 1000):
            raise bad_request(f"{key} must be a string of at most 1000 characters")
    try:
        parse_q(body.get("q"))
        exp = expires(body.get("expiresAt"))
    except (QueryError, ValueError) as exc:
        raise bad_request(str(exc)) from None
    if ent.get("idPattern"):
        try:
            re.compile(ent["idPattern"])
        except (re.error, TypeError):
            raise bad_request("idPattern is not a valid regular expression") from None
    attributes = notification.get("attributes") or []
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
        raise bad_request("notification.attributes is a list of attribute names")
    if not isinstance(body.get("isActive", True), bool):
        raise bad_request("isActive is true or false")
    throttling = body.get("throttling") or 0
    if isinstance(throttling, bool) or not isinstance(throttling, (int, float)) or throttling < 0:
        raise bad_request("throttling is a number of seconds >= 0")
    sid = body.get("id") or f"urn:ngsi-ld:Subscription:{secrets.token_hex(8)}"
    if not isinstance(sid, str) or not sid.startswith("urn:") or len(sid) > 300:
        raise bad_request("id must be a URN")
    if ctx.db.get(Subscription, sid) is not None:
        raise _ngsi_error(409, "AlreadyExists", "Already exists", f"subscription {sid} already exists")
    sub = Subscription(id=sid, agency_id=agency_id, name=body.get("subscriptionName"), entity_type=ent.get("type"),
                       entity_id=ent.get("id"), id_pattern=ent.get("idPattern"), watched=watched, q=body.get("q"),
                       notify_attrs=attributes, endpoint=uri,
                       throttling_s=int(throttling), active=body.get("isActive", True) is not False,
                       expires_at=exp, created_by=ctx.actor.user_id)
    ctx.db.add(sub)
    ctx.audit("sensing.subscription.create", "sensing_subscription", sid, endpoint=uri)
    return sub


@authz.action("sensing.subscription.list", scope="read", auth=authz.authenticated)
def subscription_list(ctx: Context, *, limit: int = 100, offset: int = 0) -> tuple[list[Subscription], int]:
    """The subscriptions of your agencies (all, for system administrators)."""
    stmt = select(Subscription)
    if not ctx.actor.is_sysadmin:
        stmt = stmt.where(Subscription.agency_id.in_(ctx.descendants(list(ctx.actor.roles)) or [-1]))
    total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar() or 0
    return list(ctx.db.execute(stmt.order_by(Subscription.created_at).limit(limit).offset(offset)).scalars()), total


def _sub_role(minimum: str):
    def auth(ctx: Context, *, subscription_id: str, **_: Any) -> bool:
        if ctx.actor.is_anonymous:
            return False
        s = ctx.db.get(Subscription, subscription_id)
        return s is None or ctx.has_role(s.agency_id, minimum)
    return auth


def _subscription(ctx: Context, subscription_id: str) -> Subscription:
    s = ctx.db.get(Subscription, subscription_id)
    if s is None:
        raise _ngsi_error(404, "ResourceNotFound", "Not found", f"no subscription {subscription_id}")
    return s


@authz.action("sensing.subscription.show", scope="read", auth=_sub_role("member"))
def subscription_show(ctx: Context, *, subscription_id: str) -> Subscription:
    """One subscription of your agencies."""
    return _subscription(ctx, subscription_id)


@authz.action("sensing.subscription.delete", scope="write", auth=_sub_role("editor"))
def subscription_delete(ctx: Context, *, subscription_id: str) -> None:
    """Delete a subscription (its agency's editors)."""
    s = _subscription(ctx, subscription_id)
    ctx.db.delete(s)
    ctx.audit("sensing.subscription.delete", "sensing_subscription", subscription_id)


# ------------------------------------------------------------------ forecasts


_FORECASTS: dict[tuple, tuple[float, dict[str, Any]]] = {}
_FORECAST_LOCK = threading.Lock()
FORECAST_TTL_S = 60.0
MAX_HORIZON_MIN = 7 * 24 * 60


@authz.action("sensing.forecast", scope="read", auth=authz.anyone)
def forecast(ctx: Context, *, entity_id: str, attribute: str, horizon_minutes: int, level: int = 80) -> dict[str, Any]:
    """Forecast an entity's attribute with intervals; the method is chosen by backtest on its own history.
    For traffic speeds with a trained network model, also the probability of congestion."""
    from cityai.sensing import forecast as fc

    e = _entity(ctx, entity_id)
    if not isinstance(horizon_minutes, int) or isinstance(horizon_minutes, bool) or \
            not 1 <= horizon_minutes <= MAX_HORIZON_MIN:
        raise _v(f"horizon_minutes từ 1 đến {MAX_HORIZON_MIN}.", f"horizon_minutes is 1 to {MAX_HORIZON_MIN}.",
                 field="horizon_minutes")
    if level not in (50, 80, 90, 95, 99):
        raise _v("level là 50, 80, 90, 95 hoặc 99.", "level is 50, 80, 90, 95 or 99.", field="level")
    last = store.latest(ctx.db, e.id, attribute) if isinstance(attribute, str) else None
    if last is None:
        raise _v(f"Thực thể chưa có dữ liệu '{attribute}'.", f"The entity has no '{attribute}' values.",
                 field="attribute")
    key = (e.id, attribute, horizon_minutes, level, last[0])
    now = time.monotonic()
    with _FORECAST_LOCK:
        hit = _FORECASTS.get(key)
        if hit and now - hit[0] < FORECAST_TTL_S:
            return hit[1]
    history = store.values(ctx.db, e.id, [attribute], last[0] - 14 * store.DAY_MS, None, limit=20_000, last=True)
    points = history.get(attribute, [])
    try:
        times = [store.from_ms(t) for t, _ in points]
        step = None
        if len(points) > 1:  # a long horizon on fine data: coarsen the step so it stays within the model's reach
            inferred = fc.infer_step(np.array([t / 1000.0 for t, _ in points]))
            step = max(int(inferred), math.ceil(horizon_minutes * 60 / fc.MAX_HORIZON_STEPS))
        result = fc.forecast_series(times, [v for _, v in points], horizon_minutes * 60, level=level,
                                    step_seconds=step)
    except ValueError as exc:
        raise _v(f"Không dự báo được: {exc}", f"Cannot forecast: {exc}", field="attribute") from None
    out: dict[str, Any] = {
        "entity_id": e.id, "attribute": attribute, "method": result.method, "level": result.level,
        "step_seconds": result.step_seconds, "backtest_mae": result.backtest,
        "points": [{"time": p["time"].isoformat().replace("+00:00", "Z"), "value": p["value"], "lower": p["lower"],
                    "upper": p["upper"]} for p in result.points],
    }
    congestion = _congestion(ctx, e, attribute, last[0])
    if congestion is not None:
        out["congestion"] = congestion
    with _FORECAST_LOCK:
        if len(_FORECASTS) > 2000:
            _FORECASTS.clear()
        _FORECASTS[key] = (now, out)
    return out


def _congestion(ctx: Context, e: Entity, attribute: str, last_ms: int) -> dict[str, Any] | None:
    """P(speed < threshold) at 15/30/60 minutes from the agency's traffic model, when one was trained."""
    if e.type != "TrafficFlowObserved" or attribute != "averageVehicleSpeed":
        return None
    from cityai.sensing import traffic

    return traffic.congestion_for(ctx, e, last_ms)


# ------------------------------------------------------------------ dashboard


_DASHBOARD_AUDITED: dict[Any, float] = {}


def _dashboard_audit_due(ctx: Context) -> bool:
    key = (ctx.actor.user_id, ctx.actor.token_id)
    now = time.monotonic()
    with _FORECAST_LOCK:
        if now - _DASHBOARD_AUDITED.get(key, -1e9) < 3600:
            return False
        if len(_DASHBOARD_AUDITED) > 10_000:
            _DASHBOARD_AUDITED.clear()
        _DASHBOARD_AUDITED[key] = now
        return True


def _status(d_last_seen: dt.datetime | None, now: dt.datetime, alerts: int) -> str:
    if alerts:
        return "alert"
    if d_last_seen is None or (now - d_last_seen).total_seconds() > 900:
        return "silent"
    return "ok"


@authz.action("sensing.dashboard", scope="read", auth=authz.anyone)
def dashboard(ctx: Context, *, type: str | None = None) -> dict[str, Any]:
    """The operations dashboard's data: sensors with status and latest values, open alerts (for agency staff),
    counts per type and status."""
    from cityai.sensing.models import Alert

    now = utcnow()
    entities, _ = entity_query.unchecked(ctx, type=type, limit=5000, audit=False)
    internal = [e.id for e in entities if e.visibility != "public"]
    if internal and _dashboard_audit_due(ctx):  # once an hour per viewer, not at every 10-second refresh
        ctx.audit_now("sensing.entity.read", "sensing_entity", None, view="dashboard", entities=internal[:200],
                      count=len(internal))
    devices = {d.id: d for d in ctx.db.execute(select(Device).where(
        Device.id.in_([e.device_pk for e in entities if e.device_pk] or [-1]))).scalars()}
    staff = ctx.actor.is_sysadmin or bool(ctx.actor.roles)
    visible_agencies = None if ctx.actor.is_sysadmin else set(ctx.descendants(list(ctx.actor.roles)))
    # Every visitor sees that a sensor is in alert (its colour); the alerts themselves are for agency staff.
    open_by_entity: dict[str, int] = {}
    shown = {e.id for e in entities}
    for eid, n in ctx.db.execute(select(Alert.entity_id, func.count()).where(Alert.status != "resolved")
                                 .group_by(Alert.entity_id)).all():
        if eid in shown:
            open_by_entity[eid] = int(n)
    alert_rows = []
    if staff:
        stmt = select(Alert).where(Alert.status != "resolved")
        if visible_agencies is not None:
            stmt = stmt.where(Alert.agency_id.in_(visible_agencies or [-1]))
        alert_rows = list(ctx.db.execute(stmt.order_by(Alert.last_at.desc()).limit(200)).scalars())
    sensors = []
    counts: dict[str, int] = {"ok": 0, "alert": 0, "silent": 0}
    for e in entities:
        d = devices.get(e.device_pk) if e.device_pk else None
        last_seen = d.last_seen_at if d else e.modified_at
        status = _status(last_seen, now, open_by_entity.get(e.id, 0))
        counts[status] += 1
        spec = schema.TYPES.get(e.type, {})
        latest = {k: {"value": v.get("value"), "observedAt": v.get("observedAt"), "unitCode": v.get("unitCode")}
                  for k, v in (e.attrs or {}).items() if isinstance(v, dict) and isinstance(v.get("value"), (int, float))
                  and not isinstance(v.get("value"), bool)}
        name = (e.attrs or {}).get("name", {})
        sensors.append({"entity_id": e.id, "type": e.type, "type_label": schema.type_label(e.type, ctx.locale),
                        "name": name.get("value") if isinstance(name, dict) else None,
                        "lat": e.lat, "lon": e.lon, "status": status, "main": spec.get("main"),
                        "last_seen": last_seen.isoformat() if last_seen else None, "latest": latest,
                        "device_id": d.device_id if d else None, "alerts": open_by_entity.get(e.id, 0)})
    from cityai.sensing.rules import alert_to_dict, rules_by_id

    rules = rules_by_id(ctx, [a.rule_id for a in alert_rows])
    return {"generated_at": now.isoformat(), "sensors": sensors, "counts": counts,
            "alerts": [alert_to_dict(a, rules.get(a.rule_id)) for a in alert_rows] if staff else None,
            "types": {t: {"label": schema.type_label(t, ctx.locale), "main": v["main"],
                          "attrs": {k: {"label": a.label[0 if ctx.locale == "vi" else 1], "unit": a.symbol}
                                    for k, a in v["attrs"].items()}} for t, v in schema.TYPES.items()}}
