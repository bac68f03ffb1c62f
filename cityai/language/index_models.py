"""Table of the language module's search indexes: an agency's named hybrid (BM25 + e5) search indexes.

A search index (``lang_search_index``) is a name in an agency ("hoi-dap", "thu-tuc") with a title, a
description and who may search it (``visibility``). Its documents are not in the database: they live in
the :class:`cityai.language.search.HybridIndex` ``idx<id>`` under ``CITYAI_HOME/indexes/`` (named by the
row's id, so renaming an index or an agency never moves files and two agencies' names never collide);
``doc_count`` is the number of documents after the last change made through the service.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityai.core.db import Base, UTCDateTime, utcnow

INDEX_VISIBILITIES = {
    "agency": ("Cơ quan sở hữu (và cấp trên)", "The owning agency (and those above it)"),
    "authenticated": ("Mọi người dùng đã đăng nhập", "Every signed-in user"),
    "public": ("Công khai (kể cả người chưa đăng nhập)", "Public (anonymous callers included)"),
}


class SearchIndex(Base):
    """An agency's named search index; its documents are in the on-disk index :attr:`storage_name`."""

    __tablename__ = "lang_search_index"
    __table_args__ = (UniqueConstraint("agency_id", "name", name="uq_lang_search_index_agency_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)  # a slug: "hoi-dap-thu-tuc"
    title: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    # who may search: agency | authenticated | public
    visibility: Mapped[str] = mapped_column(String(16), default="agency")
    doc_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def storage_name(self) -> str:
        """The on-disk :class:`~cityai.language.search.HybridIndex` name."""
        return f"idx{self.id}"
