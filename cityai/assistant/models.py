"""Tables of the assistant module: its knowledge base, conversations and their messages.

- ``asst_source`` — one knowledge source: a procedure (key = its code), a law article (key =
  ``"<law id>#<article id>"``), an agency's page (FAQ; key = a slug) or a document taken from the documents
  module (key = the document id). Each is owned by an agency, whose editors change it; ``visibility`` says
  who the assistant may quote it to (``public``: anyone; ``internal``: members of the owning agency and the
  agencies above it, in civil-servant mode). ``body`` is the structured content (a procedure's sections,
  a page's question and answer), ``text`` what the search index reads. Every change adds a row to
  ``asst_source_version`` (the version before it is kept), so a wrong edit can be seen and undone.
- ``asst_conversation`` — a conversation: who holds it (a hash of the client's key: token, user or IP),
  its mode (``public`` | ``internal``) and its state (the procedure being discussed, a pending clarifying
  question, the citizen's ward).
- ``asst_message`` — one question and its answer. The question is stored with personal data redacted
  (CCCD, phone numbers, e-mail ...); the answer's status, citations, confidence and the citizen's rating.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityai.core.db import Base, UTCDateTime, utcnow

SOURCE_KINDS = {
    "procedure": ("Thủ tục hành chính", "Administrative procedure"),
    "law": ("Điều luật", "Law article"),
    "page": ("Trang hỏi đáp", "FAQ page"),
    "document": ("Văn bản", "Document"),
}
VISIBILITIES = {
    "public": ("Công khai", "Public"),
    "internal": ("Nội bộ (cán bộ của cơ quan)", "Internal (the agency's staff)"),
}


class Source(Base):
    __tablename__ = "asst_source"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_asst_source_kind_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    key: Mapped[str] = mapped_column(String(400))
    title: Mapped[str] = mapped_column(String(1000))
    body: Mapped[dict] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    content_hash: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(String(500))  # the file or document it came from
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    @property
    def doc_id(self) -> str:
        """The source's id in the search index."""
        return f"{self.kind}:{self.key}"


class SourceVersion(Base):
    __tablename__ = "asst_source_version"
    __table_args__ = (UniqueConstraint("source_id", "version", name="uq_asst_source_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("asst_source.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))  # create | update | retire | restore
    title: Mapped[str] = mapped_column(String(1000))
    body: Mapped[dict] = mapped_column(JSON)
    visibility: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean)
    content_hash: Mapped[str] = mapped_column(String(64))
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(Base):
    __tablename__ = "asst_conversation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the client's key
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    mode: Mapped[str] = mapped_column(String(16), default="public")
    channel: Mapped[str] = mapped_column(String(16), default="api")  # api | web | widget
    state: Mapped[dict] = mapped_column(JSON)
    turns: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "asst_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("asst_conversation.id", ondelete="CASCADE"),
                                                 index=True)
    question: Mapped[str] = mapped_column(Text)  # personal data redacted
    topic: Mapped[str] = mapped_column(String(300), index=True)  # the question folded, for grouping
    answer: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(32))  # why not found: out_of_scope | no_source | ...
    citations: Mapped[list] = mapped_column(JSON)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    generated: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    rating: Mapped[int | None] = mapped_column(Integer)  # 1 helpful, -1 not helpful
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
