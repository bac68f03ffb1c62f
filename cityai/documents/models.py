"""Tables of the documents module: documents, their pages, and the reviewers' corrections."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, BigInteger, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityai.core.db import Base, UTCDateTime, utcnow

STATUSES = {
    "pending": ("Đang chờ xử lý", "Waiting"),
    "processing": ("Đang xử lý", "Processing"),
    "ready": ("Đã xử lý", "Processed"),
    "failed": ("Lỗi", "Failed"),
}


def new_id() -> str:
    return str(uuid.uuid4())


class Document(Base):
    __tablename__ = "doc_document"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    original_key: Mapped[str | None] = mapped_column(String(1000))
    pdf_key: Mapped[str | None] = mapped_column(String(1000))  # searchable PDF (OCR text over the page images)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(32))
    pages: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(String(16))  # text-layer | ocr | mixed | docx
    text: Mapped[str | None] = mapped_column(Text)
    text_folded: Mapped[str | None] = mapped_column(Text)  # lower case, no diacritics: accent-free search
    fields: Mapped[dict] = mapped_column(JSON, default=dict)  # the whole structured result (ND30 parse, tables)
    corrected: Mapped[dict] = mapped_column(JSON, default=dict)  # field -> the reviewer's value
    doc_type: Mapped[str | None] = mapped_column(String(100), index=True)
    doc_type_code: Mapped[str | None] = mapped_column(String(16), index=True)
    number: Mapped[str | None] = mapped_column(String(32))
    symbol: Mapped[str | None] = mapped_column(String(100), index=True)
    issuer: Mapped[str | None] = mapped_column(String(500), index=True)
    issued_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    title: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DocumentPage(Base):
    __tablename__ = "doc_page"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_doc_page_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("doc_document.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # text-layer | ocr | docx
    text: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    words: Mapped[list] = mapped_column(JSON, default=list)  # [[text, conf, x0, y0, x1, y1], ...] in image pixels
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    rotation: Mapped[float | None] = mapped_column(Float)
    skew: Mapped[float | None] = mapped_column(Float)
    blank: Mapped[bool] = mapped_column(default=False)
    image_key: Mapped[str | None] = mapped_column(String(1000))  # a preview PNG for the document page


class DocumentCorrection(Base):
    """A reviewer's correction of an extracted field: kept as training data."""

    __tablename__ = "doc_correction"
    __table_args__ = (Index("ix_doc_correction_doc", "document_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("doc_document.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(100))
    old_value: Mapped[dict | list | str | None] = mapped_column(JSON)
    new_value: Mapped[dict | list | str | None] = mapped_column(JSON)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


CLASSIFIER_STATUSES = {
    "training": ("Đang huấn luyện", "Training"),
    "ready": ("Sẵn sàng", "Ready"),
    "failed": ("Lỗi", "Failed"),
}


class DocumentClassifier(Base):
    """One trained version of an agency's named document classifier (sector, topic ...) and its report."""

    __tablename__ = "doc_classifier"
    __table_args__ = (UniqueConstraint("agency_id", "name", "version", name="uq_doc_classifier_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)  # "linh-vuc"
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="training")  # training | ready | failed
    error: Mapped[str | None] = mapped_column(Text)
    algorithm: Mapped[str | None] = mapped_column(String(32))  # logreg | svm (chosen by cross-validation)
    labels: Mapped[list] = mapped_column(JSON, default=list)
    # per-class precision/recall/F1/support, accuracy, macro-F1, confusion matrix, the cross-validation scheme
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    sources: Mapped[dict] = mapped_column(JSON, default=dict)  # where the examples came from (counts)
    model_key: Mapped[str | None] = mapped_column(String(1000))  # storage key of the model file
    data_key: Mapped[str | None] = mapped_column(String(1000))  # storage key of the training examples
    job_id: Mapped[str | None] = mapped_column(String(32))
    trained_on: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DocumentLabel(Base):
    """A reviewer's label of a document for a classifier name: training data (``use_documents``)."""

    __tablename__ = "doc_label"
    __table_args__ = (UniqueConstraint("document_id", "classifier", name="uq_doc_label_document_classifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("doc_document.id", ondelete="CASCADE"), index=True)
    classifier: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(100))
    labelled_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
