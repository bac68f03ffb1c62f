"""Tables of the sensing module: devices, NGSI-LD entities, the time series, subscriptions, rules, alerts.

- ``sens_device`` — the device registry: a device (``device_id``, unique within its agency) of a Smart Data
  Models type, with a per-device key (only its SHA-256 is stored) for the HTTP batch endpoint. Its readings
  land on one NGSI-LD entity, ``urn:ngsi-ld:<type>:<agency code>:<device id>``.
- ``sens_entity`` — the context: one NGSI-LD entity (id, type, the tenant agency, its latest attribute
  values in normalized NGSI-LD form, its location as GeoJSON plus ``lat``/``lon`` for geo-queries).
- ``sens_observation`` — the time series: one numeric value per (entity, attribute, time). Time is Unix
  milliseconds (UTC), so bucketing is integer arithmetic on every database; the primary key makes ingestion
  idempotent (a re-delivered message is a no-op). On PostgreSQL the table is range-partitioned by month of
  ``t_ms`` (partitions made on demand, retention drops whole partitions); on SQLite it is a plain table.
- ``sens_rollup`` — downsampled hourly aggregates (count, sum, min, max, sum of squares) kept after the raw
  values age out.
- ``sens_rejected`` — messages that were refused (unknown device, malformed, wrong unit, clock skew ...),
  with the reason, so nothing disappears silently.
- ``sens_subscription`` — NGSI-LD subscriptions: which entities and attributes, the webhook to notify.
- ``sens_rule`` / ``sens_alert`` — alert rules (threshold, rate of change, silence, anomaly against a
  seasonal baseline) and the alerts they raise (open → acknowledged → resolved).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cityai.core.db import Base, UTCDateTime, utcnow

VISIBILITIES = {
    "public": ("Công khai", "Public"),
    "internal": ("Nội bộ (cán bộ của cơ quan)", "Internal (the agency's staff)"),
}


class Device(Base):
    __tablename__ = "sens_device"
    __table_args__ = (UniqueConstraint("agency_id", "device_id", name="uq_sens_device_agency_device"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    device_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    ward_code: Mapped[str | None] = mapped_column(String(8))
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    message_count: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Entity(Base):
    __tablename__ = "sens_entity"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    type: Mapped[str] = mapped_column(String(128), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    device_pk: Mapped[int | None] = mapped_column(ForeignKey("sens_device.id", ondelete="SET NULL"))
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    attrs: Mapped[dict] = mapped_column(JSON, default=dict)
    location: Mapped[dict | None] = mapped_column(JSON)
    lat: Mapped[float | None] = mapped_column(Float, index=True)
    lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Observation(Base):
    __tablename__ = "sens_observation"
    __table_args__ = {"sqlite_with_rowid": False}

    entity_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    attribute: Mapped[str] = mapped_column(String(100), primary_key=True)
    t_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class Rollup(Base):
    __tablename__ = "sens_rollup"

    entity_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    attribute: Mapped[str] = mapped_column(String(100), primary_key=True)
    period_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    sum: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    sumsq: Mapped[float] = mapped_column(Float)


class Rejected(Base):
    __tablename__ = "sens_rejected"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # mqtt | http
    topic: Mapped[str | None] = mapped_column(String(300))
    device_id: Mapped[str | None] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)


class Subscription(Base):
    __tablename__ = "sens_subscription"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(300))
    entity_type: Mapped[str | None] = mapped_column(String(128))
    entity_id: Mapped[str | None] = mapped_column(String(300))
    id_pattern: Mapped[str | None] = mapped_column(String(300))
    watched: Mapped[list] = mapped_column(JSON, default=list)  # attribute names; empty = any
    q: Mapped[str | None] = mapped_column(String(1000))
    notify_attrs: Mapped[list] = mapped_column(JSON, default=list)
    endpoint: Mapped[str] = mapped_column(String(1000))
    throttling_s: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    times_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_notification: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_failure: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_failure_reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rule(Base):
    __tablename__ = "sens_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))  # threshold | rate | silence | anomaly
    entity_type: Mapped[str | None] = mapped_column(String(128))
    entity_id: Mapped[str | None] = mapped_column(String(300))
    attribute: Mapped[str | None] = mapped_column(String(100))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    severity: Mapped[str] = mapped_column(String(16), default="warning")  # info | warning | critical
    notify: Mapped[dict] = mapped_column(JSON, default=dict)  # {"webhook": url, "emails": [...]}
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    __tablename__ = "sens_alert"
    __table_args__ = (Index("ix_sens_alert_key", "rule_id", "entity_id", "attribute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("sens_rule.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    entity_id: Mapped[str] = mapped_column(String(300))
    attribute: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | acknowledged | resolved
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=1)
    flaps: Mapped[int] = mapped_column(Integer, default=0)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    clear_streak: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
