"""Search indexes as a service: an agency's named hybrid (BM25 + e5) indexes, filled and searched by API.

An agency's editor creates an index (``searchindex.create``: a name such as ``hoi-dap``, a title, a
description, who may search it), then fills it (``searchindex.upsert``: documents ``{id, text, metadata}``,
added or replaced by id, an unchanged one skipped) and prunes it (``searchindex.remove``: ids). Callers search
it (``searchindex.search``: a query, ``k``, the mode ``hybrid`` | ``bm25`` | ``dense``, an optional metadata
equality filter ``where``) and get each hit's id, score, the first 500 characters of its text, its metadata
and its rank in the BM25 and the dense lists. Admins of the agency delete an index with its files.

The documents live in :class:`cityai.language.search.HybridIndex` ``idx<id>`` under
``CITYAI_HOME/indexes/`` (named by the row's id: renaming an index or an agency never moves files); the
database row holds the name, the visibility and ``doc_count``. One :class:`HybridIndex` per index is kept
open per process, and a per-index lock serialises its writes and searches (and deletion, which closes it
before removing the directory). The index files are not part of the database transaction: a write reaches
the files first, then ``doc_count`` and the audit entry are committed.

Adding documents embeds their texts with e5 (a few passages per second per core when they are not in the
embedding cache), so :func:`index_upsert` embeds the new and changed texts *before* taking the index's lock,
and runs in a read unit of work: it takes the database's write lock only at the end, for the row's
``doc_count`` and the audit entry (on SQLite a write unit of work would hold the whole database's write
lock while the model runs). Send large corpora in several calls (:data:`MAX_DOCS_PER_CALL` documents,
:data:`MAX_BATCH_CHARS` characters of text each).

Who may do what: editors and admins of the owning agency (or of an agency above it) create, fill and prune;
admins delete. Searching and reading follow ``visibility``: ``agency`` (members of the owning agency or
above), ``authenticated`` (every signed-in user and API token with the read scope), ``public`` (anyone,
anonymous callers included). Listing shows what the caller may search.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import threading
import unicodedata
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from cityai.core import audit as audit_log, authz
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import T_UNAVAILABLE, Problem, conflict, invalid, not_found
from cityai.core.models import Agency
from cityai.language.index_models import INDEX_VISIBILITIES, SearchIndex

INDEX = ("chỉ mục tìm kiếm", "search index")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MODES = ("hybrid", "bm25", "dense")
MAX_DOCS_PER_CALL = 500
MAX_ID_CHARS = 200
MAX_TEXT_CHARS = 100_000
MAX_METADATA_BYTES = 10 * 1024
MAX_BATCH_CHARS = 1_000_000  # the texts of one upsert call, together (embedding them is the slow part)
MAX_QUERY_CHARS = 2_000
MAX_K = 100
MAX_WHERE_KEYS = 20
SNIPPET_CHARS = 500


def _bad(vi: str, en: str, **extra: Any) -> Problem:
    return invalid((vi, en), **extra)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ the open indexes

log = logging.getLogger("cityai.language.index")
_OPEN: dict[str, Any] = {}  # index directory -> HybridIndex
_LOCKS: dict[str, threading.RLock] = {}
_REGISTRY = threading.Lock()


def index_dir(platform: Any, index_id: int) -> Path:
    """The directory of the index ``index_id``'s files: ``CITYAI_HOME/indexes/idx<id>``."""
    return Path(platform.settings.home) / "indexes" / f"idx{index_id}"


def _key(platform: Any, index_id: int) -> str:
    return os.path.abspath(index_dir(platform, index_id))


def _lock(key: str) -> threading.RLock:
    with _REGISTRY:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.RLock()
        return lock


def vector_url(platform: Any) -> str | None:
    """The vector store new indexes use (``CITYAI_VECTOR_URL``): None for the file store in the index's
    folder, else a PostgreSQL URL (pgvector); ``database`` means the platform's own database."""
    url = (platform.settings.vector_url or "").strip()
    if not url:
        return None
    if url == "database":
        url = str(platform.database_url)
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    if not url.startswith(("postgresql://", "postgres://")):
        raise Problem(503, "not-ready", T_UNAVAILABLE,
                      ("CITYAI_VECTOR_URL phải để trống, là 'database' (khi CSDL là PostgreSQL) hoặc postgresql://...",
                       "CITYAI_VECTOR_URL must be empty, 'database' (with a PostgreSQL database) or postgresql://..."))
    return url


def _store_unavailable(exc: BaseException) -> Problem:
    return Problem(503, "not-ready", T_UNAVAILABLE,
                   ("Kho vector của chỉ mục không mở được (PostgreSQL có cài pgvector chưa?).",
                    "The index's vector store could not be opened (does the PostgreSQL server have pgvector?)."),
                   reason=f"{type(exc).__name__}: {exc}"[:300])


def _open(platform: Any, index_id: int) -> Any:
    """The process's :class:`HybridIndex` of an index (opened on first use); hold the index's lock.
    A new index takes the vector store of ``CITYAI_VECTOR_URL``; an existing one keeps the store it was
    created with (its folder remembers it)."""
    key = _key(platform, index_id)
    idx = _OPEN.get(key)
    if idx is None:
        from cityai.language.search import HybridIndex

        url = None if (Path(key) / "docs.sqlite").exists() else vector_url(platform)
        try:
            idx = HybridIndex(f"idx{index_id}", base=platform.settings.home, vector_url=url)
        except Exception as exc:  # noqa: BLE001 - a missing extension or an unreachable server
            if url is not None:  # nothing usable was made: the next call tries again
                shutil.rmtree(key, ignore_errors=True)
            raise _store_unavailable(exc) from None
        _OPEN[key] = idx
    return idx


def drop_files(platform: Any, index_id: int) -> None:
    """Close the index ``index_id`` in this process and remove its directory."""
    key = _key(platform, index_id)
    with _lock(key):
        idx = _OPEN.pop(key, None)
        if idx is None and (Path(key) / "docs.sqlite").exists():
            try:  # opened to find (and drop) a pgvector table; a file store goes with the folder
                from cityai.language.search import HybridIndex

                idx = HybridIndex(f"idx{index_id}", base=platform.settings.home)
            except Exception:  # noqa: BLE001
                idx = None
        if idx is not None:
            if not str(idx.vector_url).startswith("file:"):  # a pgvector table lives outside the folder
                try:
                    idx.store.drop()
                except Exception:  # noqa: BLE001 - the folder goes anyway; the table is named in the log
                    log.warning("could not drop the vector table of index %s", index_id, exc_info=True)
            idx.close()
        shutil.rmtree(key, ignore_errors=True)


def close_indexes(home: Path | str | None = None) -> int:
    """Close the open indexes (only those under ``home`` when given); they reopen from their files when next
    used. Returns how many were closed."""
    prefix = None if home is None else os.path.abspath(Path(home) / "indexes") + os.sep
    with _REGISTRY:
        keys = [k for k in _OPEN if prefix is None or k.startswith(prefix)]
    for key in keys:
        with _lock(key):
            idx = _OPEN.pop(key, None)
            if idx is not None:
                idx.close()
    return len(keys)


def _embedding_unavailable(exc: BaseException) -> Problem:
    return Problem(503, "not-ready", T_UNAVAILABLE,
                   ("Mô hình vector ngữ nghĩa (e5) chưa dùng được trên máy chủ này.",
                    "The embedding model (e5) is not available on this server."),
                   reason=f"{type(exc).__name__}: {exc}"[:300])


def _check_embedder(idx: Any) -> None:
    try:
        idx.embedder.model  # loads the shared model once
    except Exception as exc:  # noqa: BLE001 - any failure to load means "not available"
        raise _embedding_unavailable(exc) from None


# ------------------------------------------------------------------ authorization


def _get(ctx: Context, index_id: Any) -> SearchIndex | None:
    return ctx.db.get(SearchIndex, index_id) if _int(index_id) else None


def _auth_create(ctx: Context, *, agency_id: Any = None, **_: Any) -> bool:
    return not ctx.actor.is_anonymous and _int(agency_id) and ctx.has_role(agency_id, "editor")




def _auth_use(ctx: Context, *, index_id: Any = None, **_: Any) -> bool:
    """Read and search, by the index's visibility: public, every signed-in user, or the agency's members."""
    s = _get(ctx, index_id)
    if s is None or s.visibility == "public":
        return True  # an unknown id is the action's 404
    if ctx.actor.is_anonymous:
        return False
    return s.visibility == "authenticated" or ctx.has_role(s.agency_id, "member")


_auth_editor = authz.owner_role(SearchIndex, "index_id", "editor", "searchindex")
_auth_admin = authz.owner_role(SearchIndex, "index_id", "admin", "searchindex")


def _index(ctx: Context, index_id: Any) -> SearchIndex:
    s = _get(ctx, index_id)
    if s is None:
        raise not_found(INDEX, index_id)
    return s


# ------------------------------------------------------------------ checking input


def _check_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{field}: mã tài liệu là chuỗi khác rỗng.",
                   f"{field}: a document id is a non-empty string.", field=field)
    if len(value) > MAX_ID_CHARS:
        raise _bad(f"{field}: mã tài liệu tối đa {MAX_ID_CHARS} ký tự.",
                   f"{field}: a document id has at most {MAX_ID_CHARS} characters.", field=field,
                   limit=MAX_ID_CHARS)
    if value != value.strip() or any(unicodedata.category(c) == "Cc" for c in value):
        raise _bad(f"{field}: mã tài liệu không được có khoảng trắng ở đầu/cuối hay ký tự điều khiển.",
                   f"{field}: a document id may not start or end with spaces nor hold control characters.",
                   field=field)
    return value


def _json_bytes(value: Any) -> bytes | None:
    """``value`` as JSON when it survives a round trip unchanged (string keys, no NaN, lists not tuples)."""
    try:
        raw = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError):
        return None
    return raw.encode("utf-8") if json.loads(raw) == value else None


_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_METADATA_DEPTH = 8


def _no_surrogates(value: Any, depth: int = 0) -> Any:
    """Lone surrogates (malformed UTF-16 that JSON can carry) become U+FFFD, in strings, keys and nested
    values; metadata nested deeper than MAX_METADATA_DEPTH is refused (it could not be sent back)."""
    if depth > MAX_METADATA_DEPTH:
        raise _bad(f"metadata lồng quá {MAX_METADATA_DEPTH} cấp.", f"metadata is nested over {MAX_METADATA_DEPTH} levels.",
                   field="metadata", limit=MAX_METADATA_DEPTH)
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_no_surrogates(k, depth + 1): _no_surrogates(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_surrogates(v, depth + 1) for v in value]
    return value


def clean_documents(documents: Any) -> list[dict[str, Any]]:
    """The documents of an upsert, checked: a list of 1-500 ``{id, text, metadata?}``; each fault is a 422
    problem naming the document and the field."""
    if isinstance(documents, list) and len(documents) <= MAX_DOCS_PER_CALL:
        documents = [_no_surrogates(d, -1) if isinstance(d, dict) else d for d in documents]
    if not isinstance(documents, list) or not documents:
        raise _bad("documents là danh sách khác rỗng các tài liệu {id, text, metadata}.",
                   "documents is a non-empty list of documents {id, text, metadata}.", field="documents")
    if len(documents) > MAX_DOCS_PER_CALL:
        raise _bad(f"Tối đa {MAX_DOCS_PER_CALL} tài liệu mỗi lần gửi (đã gửi {len(documents)}); "
                   "hãy chia nhỏ.",
                   f"At most {MAX_DOCS_PER_CALL} documents per call ({len(documents)} sent); "
                   "send them in parts.", field="documents", limit=MAX_DOCS_PER_CALL)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    total = 0
    for n, d in enumerate(documents):
        where = f"documents[{n}]"
        if not isinstance(d, dict):
            raise _bad(f"{where}: mỗi tài liệu là một đối tượng {{id, text, metadata}}.",
                       f"{where}: each document is an object {{id, text, metadata}}.", field=where)
        unknown = sorted(set(d) - {"id", "text", "metadata"})
        if unknown:
            raise _bad(f"{where}: trường lạ {', '.join(unknown)}.",
                       f"{where}: unknown fields {', '.join(unknown)}.", field=where)
        doc_id = _check_id(d.get("id"), f"{where}.id")
        if doc_id in seen:
            raise _bad(f"{where}: mã '{doc_id}' bị lặp trong lần gửi này.",
                       f"{where}: the id '{doc_id}' appears twice in this call.", field=f"{where}.id",
                       id=doc_id)
        seen.add(doc_id)
        text = d.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad(f"{where} ('{doc_id}'): nội dung (text) rỗng.",
                       f"{where} ('{doc_id}'): the text is empty.", field=f"{where}.text", id=doc_id)
        if len(text) > MAX_TEXT_CHARS:
            raise _bad(f"{where} ('{doc_id}'): nội dung dài {len(text)} ký tự, tối đa {MAX_TEXT_CHARS}.",
                       f"{where} ('{doc_id}'): the text has {len(text)} characters, "
                       f"at most {MAX_TEXT_CHARS}.",
                       field=f"{where}.text", id=doc_id, limit=MAX_TEXT_CHARS)
        total += len(text)
        metadata = d.get("metadata")
        metadata = {} if metadata is None else metadata
        raw = _json_bytes(metadata) if isinstance(metadata, dict) else None
        if raw is None:
            raise _bad(f"{where} ('{doc_id}'): metadata là một đối tượng JSON (khóa là chuỗi, không có NaN).",
                       f"{where} ('{doc_id}'): metadata is a JSON object (string keys, no NaN).",
                       field=f"{where}.metadata", id=doc_id)
        if len(raw) > MAX_METADATA_BYTES:
            raise _bad(f"{where} ('{doc_id}'): metadata dài {len(raw)} byte, tối đa {MAX_METADATA_BYTES}.",
                       f"{where} ('{doc_id}'): the metadata takes {len(raw)} bytes, "
                       f"at most {MAX_METADATA_BYTES}.",
                       field=f"{where}.metadata", id=doc_id, limit=MAX_METADATA_BYTES)
        out.append({"id": doc_id, "text": unicodedata.normalize("NFC", text), "metadata": metadata})
    if total > MAX_BATCH_CHARS:
        raise _bad(f"Các nội dung dài tổng cộng {total} ký tự, tối đa {MAX_BATCH_CHARS} mỗi lần gửi; "
                   "hãy chia nhỏ.",
                   f"The texts hold {total} characters together, at most {MAX_BATCH_CHARS} per call; "
                   f"send them in parts.", field="documents", limit=MAX_BATCH_CHARS)
    return out


def _clean_ids(ids: Any) -> list[str]:
    if not isinstance(ids, list) or not ids:
        raise _bad("ids là danh sách khác rỗng các mã tài liệu.", "ids is a non-empty list of document ids.",
                   field="ids")
    if len(ids) > MAX_DOCS_PER_CALL:
        raise _bad(f"Tối đa {MAX_DOCS_PER_CALL} mã mỗi lần gửi.",
                   f"At most {MAX_DOCS_PER_CALL} ids per call.", field="ids", limit=MAX_DOCS_PER_CALL)
    return list(dict.fromkeys(_check_id(i, f"ids[{n}]") for n, i in enumerate(ids)))


def _clean_where(where: Any) -> dict[str, Any] | None:
    if where is None:
        return None
    if not isinstance(where, dict) or len(where) > MAX_WHERE_KEYS:
        raise _bad(f"where là một đối tượng {{khóa: giá trị}} (tối đa {MAX_WHERE_KEYS} khóa) "
                   "so khớp với metadata.",
                   f"where is an object {{key: value}} (at most {MAX_WHERE_KEYS} keys) "
                   "matched against the metadata.", field="where")
    for k, v in where.items():
        if not isinstance(k, str) or not k or len(k) > 200:
            raise _bad("where: mỗi khóa là chuỗi 1-200 ký tự.",
                       "where: each key is a string of 1-200 characters.", field="where")
        if not (v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))):
            raise _bad(f"where.{k}: giá trị so khớp là chuỗi, số, true/false hoặc null.",
                       f"where.{k}: a value to match is a string, a number, true/false or null.",
                       field=f"where.{k}")
    return dict(where)


# ------------------------------------------------------------------ actions: indexes


@authz.action("searchindex.create", scope="write", auth=_auth_create)
def index_create(ctx: Context, *, agency_id: int, name: str, title: str | None = None,
                 description: str | None = None, visibility: str = "agency") -> SearchIndex:
    """Create an agency's named search index (filled with documents afterwards)."""
    if ctx.db.get(Agency, agency_id) is None:
        raise not_found(("cơ quan", "agency"), agency_id)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _bad("Tên chỉ mục chỉ gồm chữ thường không dấu, số và '-' (tối đa 63 ký tự), ví dụ 'hoi-dap'.",
                   "An index name is lower-case ASCII letters, digits and '-' (up to 63), e.g. 'hoi-dap'.",
                   field="name")
    if visibility not in INDEX_VISIBILITIES:
        raise _bad("visibility là 'agency', 'authenticated' hoặc 'public'.",
                   "visibility is 'agency', 'authenticated' or 'public'.", field="visibility",
                   allowed=list(INDEX_VISIBILITIES))
    if title is not None and (not isinstance(title, str) or len(title) > 300):
        raise _bad("Tiêu đề tối đa 300 ký tự.", "A title has at most 300 characters.", field="title")
    if description is not None and (not isinstance(description, str) or len(description) > 10_000):
        raise _bad("Mô tả tối đa 10.000 ký tự.", "A description has at most 10,000 characters.",
                   field="description")
    taken = ctx.db.execute(select(SearchIndex.id).where(SearchIndex.agency_id == agency_id,
                                                        SearchIndex.name == name)).scalar()
    if taken is not None:
        raise conflict((f"Cơ quan đã có chỉ mục '{name}'.", f"The agency already has an index '{name}'."),
                       field="name", id=taken)
    s = SearchIndex(agency_id=agency_id, name=name, title=(title or "").strip() or None,
                    description=(description or "").strip() or None, visibility=visibility, doc_count=0,
                    created_by=ctx.actor.user_id)
    ctx.db.add(s)
    ctx.db.flush()
    drop_files(ctx.platform, s.id)  # files left by a deleted index whose id the database reused (SQLite)
    ctx.audit("searchindex.create", "search_index", s.id, agency_id=agency_id, name=name,
              visibility=visibility)
    return s


@authz.action("searchindex.list", scope="read", auth=authz.anyone)
def index_list(ctx: Context, *, agency_id: int | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[SearchIndex], int]:
    """The indexes the actor may search: public, shared, and those of the actor's agencies (and below)."""
    stmt = select(SearchIndex)
    if not ctx.actor.is_sysadmin:
        allowed = [SearchIndex.visibility == "public"]
        if not ctx.actor.is_anonymous:
            mine = ctx.descendants(list(ctx.actor.roles)) or [-1]
            allowed += [SearchIndex.visibility == "authenticated", SearchIndex.agency_id.in_(mine)]
        stmt = stmt.where(or_(*allowed))
    if agency_id is not None:
        stmt = stmt.where(SearchIndex.agency_id == agency_id)
    total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = ctx.db.execute(stmt.order_by(SearchIndex.agency_id, SearchIndex.name).limit(limit)
                          .offset(offset)).scalars()
    return list(rows), total


@authz.action("searchindex.show", scope="read", auth=_auth_use)
def index_show(ctx: Context, *, index_id: int) -> SearchIndex:
    """One search index (its name, visibility and number of documents)."""
    return _index(ctx, index_id)


@authz.action("searchindex.delete", scope="write", auth=_auth_admin)
def index_delete(ctx: Context, *, index_id: int) -> None:
    """Delete a search index and its files (admins of the agency)."""
    s = _index(ctx, index_id)
    agency_id, name, count = s.agency_id, s.name, s.doc_count
    ctx.db.delete(s)
    ctx.db.flush()
    ctx.audit("searchindex.delete", "search_index", index_id, agency_id=agency_id, name=name, doc_count=count)
    platform = ctx.platform
    platform.after_commit(ctx.db, lambda: drop_files(platform, index_id))


# ------------------------------------------------------------------ actions: documents


def _commit_change(ctx: Context, s: SearchIndex, action: str, doc_count: int, changed: bool,
                   **detail: Any) -> None:
    """Record a change of the index's files: the row's ``doc_count`` (and ``updated_at``) and the audit entry.

    In a write unit of work this joins it; in a read one (an upsert, whose embedding must not hold the
    database's write lock) it is a short write transaction of its own. An index deleted meanwhile: its files
    go, and the caller gets a 404."""
    index_id = s.id

    def apply(db: Any) -> bool:
        row = db.get(SearchIndex, index_id)
        if row is None:
            return False
        row.doc_count = doc_count
        if changed:
            row.updated_at = utcnow()
        audit_log.append(db, actor=ctx.actor, action=action, object_type="search_index",
                         object_id=str(index_id), ip=ctx.ip, request_id=ctx.request_id,
                         detail={"agency_id": s.agency_id, "name": s.name, **detail, "doc_count": doc_count})
        db.flush()
        return True

    if ctx.db.info.get("write"):
        ok = apply(ctx.db)
    else:
        with ctx.platform.transaction(write=True) as db:
            ok = apply(db)  # the caller's (read) copy of the row is left alone: it must not be flushed
    if not ok:
        drop_files(ctx.platform, index_id)
        raise not_found(INDEX, index_id)


@authz.action("searchindex.upsert", scope="write", auth=_auth_editor)
def index_upsert(ctx: Context, *, index_id: int, documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Add or replace documents ``{id, text, metadata}`` by id (an unchanged one is skipped)."""
    s = _index(ctx, index_id)
    docs = clean_documents(documents)
    key = _key(ctx.platform, s.id)
    with _lock(key):
        idx = _open(ctx.platform, s.id)
        pending = [d["text"] for d in docs if idx.get(d["id"]) != d]
        if pending:
            _check_embedder(idx)
        embedder = idx.embedder
    if pending:  # embedded outside the lock (searches go on meanwhile); add() then finds them in the cache
        embedder.embed(pending, "passage")
    with _lock(key):
        idx = _open(ctx.platform, s.id)
        added = updated = unchanged = 0
        for d in docs:
            stored = idx.get(d["id"])
            if stored is None:
                added += 1
            elif stored == d:
                unchanged += 1
            else:
                updated += 1
        if added or updated:
            _check_embedder(idx)
            idx.add(docs)
        count = len(idx)
    _commit_change(ctx, s, "searchindex.upsert", count, bool(added or updated), added=added, updated=updated,
                   unchanged=unchanged)
    return {"index_id": s.id, "name": s.name, "added": added, "updated": updated, "unchanged": unchanged,
            "doc_count": count}


@authz.action("searchindex.remove", scope="write", auth=_auth_editor)
def index_remove(ctx: Context, *, index_id: int, ids: list[str]) -> dict[str, Any]:
    """Remove documents from a search index by id (ids it does not hold are reported, not refused)."""
    s = _index(ctx, index_id)
    wanted = _clean_ids(ids)
    with _lock(_key(ctx.platform, s.id)):
        idx = _open(ctx.platform, s.id)
        present = [i for i in wanted if i in idx]
        removed = idx.remove(present) if present else 0
        count = len(idx)
    missing = [i for i in wanted if i not in set(present)]
    _commit_change(ctx, s, "searchindex.remove", count, removed > 0, removed=removed, missing=len(missing))
    return {"index_id": s.id, "name": s.name, "removed": removed, "missing": missing, "doc_count": count}


@authz.action("searchindex.search", scope="read", auth=_auth_use)
def index_search(ctx: Context, *, index_id: int, query: str, k: int = 10, mode: str = "hybrid",
                 where: dict[str, Any] | None = None) -> dict[str, Any]:
    """Search an index: the top ``k`` documents with score, snippet, metadata and their BM25/dense ranks."""
    s = _index(ctx, index_id)
    if not isinstance(query, str) or not query.strip():
        raise _bad("Câu truy vấn (query) rỗng.", "The query is empty.", field="query")
    query = _SURROGATE.sub("\ufffd", query)
    if len(query) > MAX_QUERY_CHARS:
        raise _bad(f"Câu truy vấn dài {len(query)} ký tự, tối đa {MAX_QUERY_CHARS}.",
                   f"The query has {len(query)} characters, at most {MAX_QUERY_CHARS}.", field="query",
                   limit=MAX_QUERY_CHARS)
    if not _int(k) or not 1 <= k <= MAX_K:
        raise _bad(f"k là số nguyên từ 1 đến {MAX_K}.", f"k is an integer from 1 to {MAX_K}.", field="k")
    if mode not in MODES:
        raise _bad("mode là 'hybrid', 'bm25' hoặc 'dense'.", "mode is 'hybrid', 'bm25' or 'dense'.",
                   field="mode", allowed=list(MODES))
    flt = _clean_where(where)
    with _lock(_key(ctx.platform, s.id)):
        idx = _open(ctx.platform, s.id)
        if mode != "bm25" and len(idx):
            _check_embedder(idx)
        hits = idx.search(query, k, mode, where=flt, with_text=True)  # type: ignore[arg-type]
    results = []
    for h in hits:
        text = h.get("text") or ""
        results.append({"id": h["id"], "score": round(float(h["score"]), 6), "snippet": text[:SNIPPET_CHARS],
                        "truncated": len(text) > SNIPPET_CHARS, "metadata": h["metadata"],
                        "bm25_rank": h["bm25_rank"], "dense_rank": h["dense_rank"]})
    if s.visibility != "public":  # a read of restricted content: who searched what, and what came back
        ctx.audit_now("searchindex.search", "search_index", s.id, query=query[:200], mode=mode,
                      results=[r["id"] for r in results][:20])
    return {"index_id": s.id, "name": s.name, "query": query, "mode": mode, "k": k, "where": flt,
            "results": results, "total": len(results)}


# ------------------------------------------------------------------ output


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def to_dict(s: SearchIndex, locale: str = "vi") -> dict[str, Any]:
    i = 1 if locale == "en" else 0
    return {
        "id": s.id, "agency_id": s.agency_id, "name": s.name, "title": s.title, "description": s.description,
        "visibility": s.visibility,
        "visibility_label": INDEX_VISIBILITIES.get(s.visibility, (s.visibility, s.visibility))[i],
        "doc_count": s.doc_count, "created_by": s.created_by, "created_at": _iso(s.created_at),
        "updated_at": _iso(s.updated_at),
    }


__all__ = [
    "MAX_BATCH_CHARS", "MAX_DOCS_PER_CALL", "MAX_K", "MAX_METADATA_BYTES", "MAX_QUERY_CHARS",
    "MAX_TEXT_CHARS", "clean_documents", "close_indexes", "drop_files", "index_create", "index_delete",
    "index_dir", "index_list", "index_remove", "index_search", "index_show", "index_upsert", "to_dict",
]
