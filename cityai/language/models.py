"""Tables of the language module: an agency's named text classifiers and their trained versions.

A classifier (``lang_classifier``) is a name in an agency ("phan-loai-phan-anh") with a description,
the labels it may use (optional, declared at creation) and the version it serves: ``published_version``
(a version number; null until one is published). Each training makes a new row of
``lang_classifier_version`` (queued -> training -> ready | failed) with its evaluation report and the
storage key of its model file; publishing moves the pointer, and a training that fails marks only its own
version failed, so the published one keeps serving.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityai.core.db import Base, UTCDateTime, utcnow

VERSION_STATUSES = {
    "queued": ("Đang chờ huấn luyện", "Queued"),
    "training": ("Đang huấn luyện", "Training"),
    "ready": ("Sẵn sàng", "Ready"),
    "failed": ("Lỗi", "Failed"),
}
VISIBILITIES = {
    "agency": ("Cơ quan sở hữu (và cấp trên)", "The owning agency (and those above it)"),
    "authenticated": ("Mọi người dùng đã đăng nhập", "Every signed-in user"),
}


class TextClassifier(Base):
    """An agency's named text classifier; ``published_version`` is the version that answers predictions."""

    __tablename__ = "lang_classifier"
    __table_args__ = (UniqueConstraint("agency_id", "name", name="uq_lang_classifier_agency_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)  # a slug: "phan-loai-phan-anh"
    title: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    labels: Mapped[list] = mapped_column(JSON, default=list)  # declared labels (empty: whatever the data has)
    visibility: Mapped[str] = mapped_column(String(16), default="agency")  # who may predict: agency | authenticated
    published_version: Mapped[int | None] = mapped_column(Integer)  # a version number of this classifier
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TextClassifierVersion(Base):
    """One training of a classifier: its data source, status, chosen algorithm, report and model file."""

    __tablename__ = "lang_classifier_version"
    __table_args__ = (UniqueConstraint("classifier_id", "version", name="uq_lang_classifier_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    classifier_id: Mapped[int] = mapped_column(ForeignKey("lang_classifier.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | training | ready | failed
    error: Mapped[str | None] = mapped_column(Text)
    algorithm: Mapped[str | None] = mapped_column(String(32))  # tfidf | embed | tfidf+embed (chosen by CV)
    candidates: Mapped[list] = mapped_column(JSON, default=list)  # the candidates it was asked to compare
    labels: Mapped[list] = mapped_column(JSON, default=list)
    # per-class precision/recall/F1/support, accuracy, macro-F1, confusion matrix, every candidate's CV score
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    source: Mapped[dict] = mapped_column(JSON, default=dict)  # csv (file name, encoding, columns) or dataset
    trained_on: Mapped[int] = mapped_column(Integer, default=0)
    data_key: Mapped[str | None] = mapped_column(String(1000))  # storage key of the training examples (JSON)
    model_key: Mapped[str | None] = mapped_column(String(1000))  # storage key of the model file (.npz)
    job_id: Mapped[str | None] = mapped_column(String(32))
    auto_publish: Mapped[bool] = mapped_column(default=False)
    trained_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
