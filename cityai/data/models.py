"""Tables of the data module: datasets, resources, resource versions (the lake), access grants."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityai.core.db import Base, UTCDateTime, utcnow
from cityai.core.models import Agency

VISIBILITIES = {
    "public": ("Công khai (dữ liệu mở)", "Public (open data)"),
    "shared": ("Chia sẻ giữa các cơ quan", "Shared between agencies"),
    "private": ("Nội bộ đơn vị", "Private to the agency"),
}
FREQUENCIES = ("realtime", "daily", "weekly", "monthly", "quarterly", "annual", "irregular")


def new_id() -> str:
    return str(uuid.uuid4())


class Dataset(Base):
    __tablename__ = "data_dataset"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    title_en: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    notes_en: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    visibility: Mapped[str] = mapped_column(String(16), index=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    theme: Mapped[str | None] = mapped_column(String(100), index=True)
    license_id: Mapped[str | None] = mapped_column(String(100))
    frequency: Mapped[str | None] = mapped_column(String(32))
    spatial: Mapped[list] = mapped_column(JSON, default=list)  # ward/commune codes
    temporal_start: Mapped[str | None] = mapped_column(String(32))
    temporal_end: Mapped[str | None] = mapped_column(String(32))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    extras: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[Agency] = relationship(lazy="joined")
    resources: Mapped[list[Resource]] = relationship(
        back_populates="dataset", order_by="Resource.position", lazy="selectin",
        primaryjoin="and_(Resource.dataset_id == Dataset.id, Resource.state == 'active')", viewonly=True,
    )


class Resource(Base):
    __tablename__ = "data_resource"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("data_dataset.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(String(2000))  # a link, for resources that are not uploads
    url_type: Mapped[str | None] = mapped_column(String(16))  # "upload" for files kept in the lake
    current_version_id: Mapped[str | None] = mapped_column(String(36))
    schema_overrides: Mapped[dict] = mapped_column(JSON, default=dict)  # column -> type, set by the steward
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="resources", foreign_keys=[dataset_id])


class ResourceVersion(Base):
    """One upload of a resource, ingested into the lake. Readers see only the resource's current one."""

    __tablename__ = "data_resource_version"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    resource_id: Mapped[str] = mapped_column(ForeignKey("data_resource.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | ingesting | ready | failed
    original_key: Mapped[str | None] = mapped_column(String(1000))
    original_name: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str | None] = mapped_column(String(16))
    tables: Mapped[list] = mapped_column(JSON, default=list)  # [{name, key, rows, columns: [...]}]
    encoding: Mapped[str | None] = mapped_column(String(32))
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("resource_id", "number", name="uq_data_resource_version_number"),)


class AccessGrant(Base):
    """An agency's request for a shared dataset, and the owner's decision."""

    __tablename__ = "data_grant"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("data_dataset.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # requested | approved | refused | revoked
    resource_ids: Mapped[list | None] = mapped_column(JSON)  # None: every resource
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    agency: Mapped[Agency] = relationship(lazy="joined")

    __table_args__ = (Index("ix_data_grant_lookup", "dataset_id", "agency_id", "status"),)


# ------------------------------------------------------------------ harvesting (cityai.data.harvest)

from sqlalchemy import Boolean  # noqa: E402  (kept with the tables that use it)


class HarvestSource(Base):
    """Another CKAN-compatible portal whose public datasets are copied (as metadata and links) into ours."""

    __tablename__ = "data_harvest_source"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(40), unique=True)  # prefix of the harvested datasets' names
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(2000))  # the portal's root (its API is url + /api/3/action)
    owner_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    filter_organization: Mapped[str | None] = mapped_column(String(100))
    filter_fq: Mapped[str | None] = mapped_column(String(1000))
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    interval_minutes: Mapped[int | None] = mapped_column(Integer)  # None: run by hand only
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[Agency] = relationship(lazy="joined")


class HarvestRun(Base):
    """One harvest of a source: when, how it ended, and what happened to each remote dataset."""

    __tablename__ = "data_harvest_run"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(ForeignKey("data_harvest_source.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule | cli
    status: Mapped[str] = mapped_column(String(16))  # queued | running | succeeded | failed | cancelled
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[list] = mapped_column(JSON, default=list)  # [{remote, name, action, error?}]
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_data_harvest_run_source_created", "source_id", "created_at"),)
