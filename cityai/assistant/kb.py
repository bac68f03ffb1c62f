"""The assistant's knowledge base: sources in the database, ranked by one hybrid search index.

The database is the truth: each source (:class:`~cityai.assistant.models.Source`) holds its structured
content and its versions, and every answer is built from the rows read back at answer time, so a source
retired or changed a moment ago is never quoted from a stale copy. The search index (the language module's
:class:`~cityai.language.search.HybridIndex` ``assistant`` under ``CITYAI_HOME/indexes``: BM25 over
syllables and bigrams + e5 vectors) only ranks; it is brought up to date after each committed change
(:func:`sync`) and can be rebuilt from the database at any time (:func:`reindex`, ``cityai assistant
reindex``) — after a crash between a commit and the index write, nothing is lost.

Embedding is the slow part (2–6 passages a second on one core when a text is not in the embedding
cache): imports add sources to BM25 at once (``embed=False``) and embed them afterwards, in batches with
progress (:func:`embed_missing`: the CLI's progress bar, or the ``assistant.embed`` job). Until then the
dense half of the ranking simply does not see them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import select

from cityai.assistant import procedures as proc
from cityai.assistant.models import Source, SourceVersion
from cityai.core.db import utcnow
from cityai.language.normalize import fold

INDEX_NAME = "assistant"
log = logging.getLogger("cityai.assistant")
_OPEN: dict[str, Any] = {}
_LOCK = threading.Lock()


def index(platform_or_home: Any) -> Any:
    """The process's search index of the knowledge base under the platform's home (opened once)."""
    home = Path(getattr(getattr(platform_or_home, "settings", None), "home", platform_or_home))
    key = os.path.abspath(home)
    with _LOCK:
        idx = _OPEN.get(key)
        if idx is None:
            from cityai.language.search import HybridIndex

            idx = _OPEN[key] = HybridIndex(INDEX_NAME, base=home)
        return idx


_IDF: dict[str, tuple[str, dict[str, float], float]] = {}


def title_idf(platform: Any) -> tuple[dict[str, float], float]:
    """Inverse document frequency of the (folded) words of the active sources' titles, and the weight of a
    word no title has: "cấp", "giấy", "phép" weigh little, "yến" much. Read from the database and kept until
    the index changes (its ``generation``)."""
    import math
    import re

    key = os.path.abspath(Path(platform.settings.home))
    gen = index(platform).generation
    cached = _IDF.get(key)
    if cached is not None and cached[0] == gen:
        return cached[1], cached[2]
    df: dict[str, int] = {}
    n = 0
    with platform.transaction() as db:
        for (title,) in db.execute(select(Source.title).where(Source.active.is_(True))):
            n += 1
            for w in set(re.findall(r"[a-z0-9]+", fold(title))):
                df[w] = df.get(w, 0) + 1
    idf = {w: math.log((n + 1) / (c + 1)) + 1.0 for w, c in df.items()}
    unseen = math.log(n + 1) + 1.0
    _IDF[key] = (gen, idf, unseen)
    return idf, unseen


def close(platform_or_home: Any = None) -> None:
    with _LOCK:
        keys = list(_OPEN) if platform_or_home is None else [os.path.abspath(Path(getattr(
            getattr(platform_or_home, "settings", None), "home", platform_or_home)))]
        for k in keys:
            idx = _OPEN.pop(k, None)
            if idx is not None:
                idx.close()


# ------------------------------------------------------------------ what the index reads


def index_text(kind: str, title: str, body: dict[str, Any]) -> str:
    """The text the index ranks a source by (with the title folded too, for questions typed without
    diacritics)."""
    if kind == "procedure":
        text = proc.index_text(body)
    elif kind == "law":
        text = f"{body.get('law', '')}. Điều {body.get('article', '')}. {body.get('text', '')}"
    elif kind == "page":
        text = f"{body.get('question', '')}. {body.get('question', '')}. {body.get('answer', '')}"
    else:
        text = f"{title}. {body.get('text', '')}"
    return f"{text[:6000]}\n{fold(title)}"


def content_hash(title: str, body: dict[str, Any], visibility: str, active: bool) -> str:
    blob = json.dumps([title, body, visibility, active], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def metadata(src: Source) -> dict[str, Any]:
    return {"kind": src.kind, "key": src.key, "visibility": src.visibility, "agency_id": src.agency_id}


# ------------------------------------------------------------------ writing sources


def put(ctx: Any, *, kind: str, key: str, title: str, body: dict[str, Any], agency_id: int,
        visibility: str = "public", active: bool = True, origin: str | None = None,
        existing: Source | None = None) -> tuple[Source, str]:
    """Create or change one source in the caller's unit of work; returns it and what happened:
    ``created`` | ``updated`` | ``unchanged``. Each change keeps a version row."""
    src = existing if existing is not None else ctx.db.execute(
        select(Source).where(Source.kind == kind, Source.key == key)).scalar_one_or_none()
    digest = content_hash(title, body, visibility, active)
    now = utcnow()
    if src is not None and src.content_hash == digest:
        return src, "unchanged"
    if src is None:
        src = Source(kind=kind, key=key, agency_id=agency_id, title=title, body=body, visibility=visibility,
                     active=active, version=1, content_hash=digest, origin=origin,
                     text=index_text(kind, title, body), created_by=ctx.actor.user_id,
                     updated_by=ctx.actor.user_id, created_at=now, updated_at=now)
        ctx.db.add(src)
        change = "created"
    else:
        change = "updated" if active == src.active else ("restored" if active else "retired")
        src.title, src.body, src.visibility, src.active = title, body, visibility, active
        src.text = index_text(kind, title, body)
        src.version += 1
        src.content_hash = digest
        src.updated_by, src.updated_at = ctx.actor.user_id, now
        if origin:
            src.origin = origin
    ctx.db.flush()
    ctx.db.add(SourceVersion(source_id=src.id, version=src.version,
                             change={"created": "create", "updated": "update", "retired": "retire",
                                     "restored": "restore"}[change],
                             title=title, body=body, visibility=visibility, active=active, content_hash=digest,
                             changed_by=ctx.actor.user_id, changed_at=now))
    return src, change


def sync(platform: Any, sources: Iterable[Source], *, embed: bool = True) -> dict[str, int]:
    """Bring the index up to date with committed sources: active ones added or replaced, retired ones
    removed. Returns ``{"indexed", "removed"}``."""
    idx = index(platform)
    live, gone = [], []
    for s in sources:
        (live if s.active else gone).append(s)
    docs = [{"id": s.doc_id, "text": s.text, "metadata": metadata(s)} for s in live]
    indexed = 0
    if docs:
        try:
            indexed = idx.add(docs, embed=embed)
        except Exception:  # noqa: BLE001 - the embedding model failed: searchable by BM25 now, vectors later
            if not embed:
                raise
            log.warning("embedding failed; sources indexed for BM25 only (`cityai assistant embed` adds vectors)",
                        exc_info=True)
            indexed = idx.add(docs, embed=False)
    removed = idx.remove([s.doc_id for s in gone]) if gone else 0
    return {"indexed": indexed, "removed": removed}


def reindex(platform: Any, *, embed: bool = False, batch: int = 500) -> dict[str, int]:
    """Rebuild the index from the database: every active source added (unchanged ones are skipped by
    their hash), every document of the index without an active source removed."""
    idx = index(platform)
    seen: set[str] = set()
    indexed = 0
    with platform.transaction() as db:
        offset = 0
        while True:
            rows = db.execute(select(Source).where(Source.active.is_(True)).order_by(Source.id)
                              .limit(batch).offset(offset)).scalars().all()
            if not rows:
                break
            seen.update(s.doc_id for s in rows)
            indexed += idx.add([{"id": s.doc_id, "text": s.text, "metadata": metadata(s)} for s in rows],
                               embed=embed)
            offset += batch
    stale = [i for i in idx.ids() if i not in seen]
    removed = idx.remove(stale) if stale else 0
    return {"indexed": indexed, "removed": removed, "total": len(seen)}


def embed_missing(platform: Any, progress: Callable[[int, int], None] | None = None, batch: int = 32) -> int:
    return index(platform).embed_missing(batch=batch, progress=progress)


# ------------------------------------------------------------------ reading files


def law_records(path: Path | str) -> Iterable[dict[str, Any]]:
    """Articles of a legal corpus in the ALQAC form ``[{"id": law, "articles": [{"id", "text"}]}]``:
    ``{"law", "article", "text"}`` each; raises ValueError naming what is wrong."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, list):
        raise ValueError("a legal corpus is a JSON list of laws {id, articles: [{id, text}]}")
    for n, law in enumerate(data):
        if not isinstance(law, dict) or not isinstance(law.get("id"), str) or not isinstance(law.get("articles"), list):
            raise ValueError(f"laws[{n}]: a law is {{id: string, articles: [...]}}")
        for m, art in enumerate(law["articles"]):
            if not isinstance(art, dict) or not isinstance(art.get("text"), str) or art.get("id") in (None, ""):
                raise ValueError(f"laws[{n}].articles[{m}]: an article is {{id, text: string}}")
            yield {"law": proc._nfc(law["id"]), "article": proc._nfc(art["id"]),
                   "text": art["text"].replace("\r\n", "\n").strip()}


def law_key(law: str, article: str) -> str:
    return f"{law}#{article}"


def law_title(law: str, article: str, text: str) -> str:
    head = text.strip().split("\n", 1)[0].strip()
    return f"{law}, Điều {article}" + (f". {head[:200]}" if head and len(head) < 300 else "")
