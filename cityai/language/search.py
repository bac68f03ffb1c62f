"""Hybrid search over Vietnamese documents: BM25 (``bm25s``) + e5 dense vectors, fused by weighted scores.

A :class:`HybridIndex` named ``name`` lives in ``CITYAI_HOME/indexes/<name>/``:

- ``docs.sqlite`` (WAL): one row per document (id, text, metadata JSON, BM25 tokens, content hash)
  and a ``generation`` counter bumped by every change;
- the dense vectors in a vector store (:mod:`cityai.language.vectors`): by default the file store
  ``indexes/<name>/dense/``; ``vector_url="postgresql://..."`` puts them in pgvector instead (the
  URL is remembered, reopening needs only the name).

Documents are added, replaced (same id) and removed one by one or in batches; an unchanged document
(same text and metadata) is skipped, and embeddings come from the persistent cache
(:mod:`cityai.language.embed`), so re-adding a corpus costs only the hashing. Vectors are written
before the documents' rows: a crash in between leaves vectors without a document, which searches
ignore and the next open deletes. The BM25 part is an in-memory ``bm25s`` index rebuilt from the
stored tokens on the first search after a change (in this or another process: the generation
counter tells); for 2,131 articles a rebuild takes 0.2-0.45 s, linear in the corpus, so incremental
BM25 scoring was not needed at the city's document volumes (it would be from ~50,000 documents
changing often).

BM25 tokens: the text is NFC, tone-placement normalised (``hoà`` = ``hòa``), lower-cased; punctuation
is dropped. ``tokens=`` chooses:

- ``"syllables+bigrams"`` (the default, best measured): the syllables
  (:func:`cityai.language.tokenize.syllables`, else a regex) and every pair of adjacent syllables
  (``giấy_phép``, ``phép_lái``). Most Vietnamese words have two syllables, so the bigrams hold the
  words without depending on the segmenter's choices, and tokenising is 3x faster;
- ``"words+syllables"``: words from :func:`cityai.language.segment.get_segmenter` (syllables joined
  by ``_``: ``cai_nghiện``) plus the single syllables of multi-syllable words;
- ``"words"``, ``"syllables"``.

The tokenizer in use is stored with the index; reopening with another one re-tokenises the stored
documents.

Fusion (``fusion="weighted"``, the default): over the top ``depth`` (100) of each list, min-max
normalised scores summed as ``alpha * dense + (1 - alpha) * bm25`` with ``alpha = 0.4``;
``fusion="rrf"``: reciprocal rank fusion, ``sum 1 / (rrf_k + rank)`` with ``rrf_k = 60``. Weighted
fusion was chosen because on ALQAC RRF fell below BM25 alone (the e5-small dense list is weaker
there, and RRF gives it equal say); ``alpha`` 0.2-0.5 all scored R@1 >= 0.88.

Figures (``alqac_eval``, ALQAC 2023: 2,131 law articles, the first 50 training questions, all
true/false statements close to the law's wording; recall@k = share of the relevant articles in the
top k, averaged; MRR over the top 100). 50 questions: one question is 0.02 of R@1, so differences
below ~0.06 are noise; ``alpha`` was picked on these same questions (no held-out set)::

    mode                                      R@1   R@5   R@10  MRR
    bm25 peer (bm25s, lower-cased \\w+)       0.82  1.00  1.00  0.910
    bm25 syllables                            0.82  1.00  1.00  0.910
    bm25 segmented words                      0.78  1.00  1.00  0.874
    bm25 segmented words + syllables          0.84  1.00  1.00  0.907
    bm25 syllables + bigrams (default)        0.88  1.00  1.00  0.928
    dense (e5-small q4, passage/query)        0.78  0.92  0.98  0.857
    hybrid weighted alpha=0.4 (default)       0.90  1.00  1.00  0.933
    hybrid weighted alpha=0.2 / 0.3 / 0.5     0.88  1.00  1.00  0.923 / 0.922 / 0.923
    hybrid weighted alpha=0.7                 0.84  1.00  1.00  0.899
    hybrid rrf k=60 (bigram tokens)           0.86  1.00  1.00  0.907
    hybrid rrf k=60 (words+syllables tokens)  0.82  1.00  1.00  0.892

Costs on the 2-core development machine shared with other jobs: embedding 2.7-5.7 passages/s cold
(articles of 977 characters / ~400 tokens on average; 2,131 articles took 11 min), ~80,000-100,000
passages/s from the cache; tokenising the corpus 1.0 s (bigrams) / 3.3 s (segmenter); building the
index from cached embeddings 1.1 s (bigrams) / 4.2 s (words); a search 1.7 ms median once the query
embedding is cached (embedding a query costs 5-20 ms more).

Reproduce (the index and the embedding cache go under ``CITYAI_HOME`` unless ``base`` is given)::

    python -c "from cityai.language.search import alqac_eval as e; print(e('../shared/data/alqac2023'))"
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import sqlite3
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

import numpy as np

__all__ = ["HybridIndex", "alqac_eval", "bm25_tokens", "open_index", "peer_tokens", "tokenizer_id"]

Mode = Literal["hybrid", "bm25", "dense"]
TokenMode = Literal["words", "words+syllables", "syllables", "syllables+bigrams"]

DEFAULT_TOKENS: TokenMode = "syllables+bigrams"

_WORD_CHAR = re.compile(r"\w", re.UNICODE)
_REGEX_WORD = re.compile(r"\w+", re.UNICODE)

# ---------------------------------------------------------------------------------------- tokenizing

_seg_state: dict[str, Any] = {}
_seg_lock = threading.Lock()


def _segmenter() -> Any | None:
    """The word segmenter, or None when ``cityai.language.segment`` is missing or fails to load."""
    with _seg_lock:
        if "seg" not in _seg_state:
            try:
                from cityai.language.segment import get_segmenter

                _seg_state["seg"] = get_segmenter()
            except Exception:  # noqa: BLE001 - segmentation is optional, fall back to syllables
                _seg_state["seg"] = None
        return _seg_state["seg"]


def _syllables(text: str) -> list[str]:
    try:
        from cityai.language.tokenize import syllables

        return [t for t, _, _ in syllables(text)]
    except ImportError:  # pragma: no cover
        return _REGEX_WORD.findall(text)


_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)


@functools.lru_cache(maxsize=200_000)
def _tone_word(word: str) -> str:
    try:
        from cityai.language.normalize import normalize_tones
    except ImportError:  # pragma: no cover
        return word
    return normalize_tones(word)


def _normalize(text: str) -> str:
    """NFC and one tone placement (``hoà`` -> ``hòa``), case kept (the segmenter uses it)."""
    text = unicodedata.normalize("NFC", text or "")
    return _LETTERS.sub(lambda m: _tone_word(m.group(0)), text)


def _word_text(w: Any) -> str:
    if isinstance(w, str):
        return w
    if isinstance(w, dict):
        return str(w.get("text") or w.get("word") or w.get("form") or "")
    if isinstance(w, (tuple, list)) and w and isinstance(w[0], str):
        return w[0]
    return str(getattr(w, "text", None) or getattr(w, "word", None) or getattr(w, "form", ""))


def _segment_words(text: str) -> list[str] | None:
    seg = _segmenter()
    if seg is None:
        return None
    out = seg.segment(text)
    words: list[str] = []
    for w in out:
        if isinstance(w, (list, tuple)) and w and not isinstance(w[0], str):  # sentences of words
            words.extend(_word_text(x) for x in w)
        elif isinstance(w, list):
            words.extend(_word_text(x) for x in w)
        else:
            words.append(_word_text(w))
    return words


def tokenizer_id(mode: TokenMode = DEFAULT_TOKENS) -> str:
    """Names what produces the tokens, so an index notices a change of tokenizer."""
    uses_segmenter = mode in ("words", "words+syllables") and _segmenter() is not None
    return f"{'segment' if uses_segmenter else 'syllables'}/{mode}/1"


def bm25_tokens(text: str, mode: TokenMode = DEFAULT_TOKENS) -> list[str]:
    """BM25 tokens of ``text`` (see the module doc); empty for text without letters or digits."""
    norm = _normalize(text)
    words = _segment_words(norm) if mode in ("words", "words+syllables") else None
    if words is None:
        words = _syllables(norm)
    out: list[str] = []
    prev: str | None = None
    for w in words:
        parts = [p.lower() for p in re.split(r"[\s_]+", w.strip()) if p and _WORD_CHAR.search(p)]
        if not parts:
            prev = None
            continue
        if mode in ("syllables", "syllables+bigrams"):
            for p in parts:
                out.append(p)
                if mode == "syllables+bigrams" and prev is not None:
                    out.append(prev + "_" + p)
                prev = p
            continue
        out.append("_".join(parts))
        if mode == "words+syllables" and len(parts) > 1:
            out.extend(parts)
    return out


def peer_tokens(text: str) -> list[str]:
    """The peer baseline: lower-cased ``\\w+`` runs, nothing else."""
    return _REGEX_WORD.findall((text or "").lower())


# -------------------------------------------------------------------------------------------- BM25


class _BM25:
    """A bm25s index over token lists, plus top-k with a metadata mask."""

    def __init__(self, corpus_tokens: list[list[str]]) -> None:
        import bm25s

        self.n = len(corpus_tokens)
        self.model = None
        if self.n:
            self.model = bm25s.BM25()
            # bm25s needs a non-empty vocabulary; an all-empty corpus gets a placeholder token
            toks = [t if t else ["\x00"] for t in corpus_tokens]
            self.model.index(toks, show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        if self.model is None:
            return np.zeros(0, dtype=np.float32)
        known = [t for t in query_tokens if t in self.model.vocab_dict]
        if not known:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self.model.get_scores(known), dtype=np.float32)


def _top(scores: np.ndarray, k: int, positive: bool = True) -> list[int]:
    if k <= 0 or scores.size == 0:
        return []
    cand = np.flatnonzero(scores > 0) if positive else np.arange(scores.size)
    if cand.size == 0:
        return []
    k = min(k, cand.size)
    sub = scores[cand]
    part = np.argpartition(-sub, k - 1)[:k] if k < sub.size else np.arange(sub.size)
    order = part[np.lexsort((cand[part], -sub[part]))]
    return [int(cand[i]) for i in order]


# ------------------------------------------------------------------------------------------- index


def _home(base: Path | str | None) -> Path:
    if base is not None:
        return Path(base)
    from cityai.language.registry import home

    return home()


def _doc_hash(text: str, metadata: dict) -> str:
    blob = json.dumps([text, metadata], ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


from cityai.language.vectors import matches  # noqa: E402  (the one metadata-filter rule)


class HybridIndex:
    """A persistent, incrementally updated BM25 + dense index (see the module doc).

    ``embedder`` defaults to the shared :func:`cityai.language.embed.get_embedder` of ``base``.
    """

    def __init__(self, name: str, *, base: Path | str | None = None, vector_url: str | None = None,
                 embedder: Any = None, tokens: TokenMode | None = None, fusion: str = "weighted",
                 rrf_k: int = 60, alpha: float = 0.4, depth: int = 100) -> None:
        from cityai.language.vectors import _check_name, open_store

        self.name = _check_name(name)
        self.base = _home(base)
        self.dir = self.base / "indexes" / name
        self.dir.mkdir(parents=True, exist_ok=True)
        if fusion not in ("rrf", "weighted"):
            raise ValueError("fusion must be 'rrf' or 'weighted'")
        self.fusion, self.rrf_k, self.alpha, self.depth = fusion, int(rrf_k), float(alpha), int(depth)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.dir / "docs.sqlite"), timeout=30.0, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, text TEXT NOT NULL, "
                         "metadata TEXT NOT NULL, tokens TEXT NOT NULL, hash TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        stored = self._meta()
        if vector_url is None:
            vector_url = stored.get("vector_url") or ("file://" + str(self.dir.resolve()))
        self.tokens: TokenMode = (tokens or stored.get("tokens")  # type: ignore[assignment]
                                  or DEFAULT_TOKENS)
        self._set_meta(vector_url=vector_url, tokens=self.tokens)
        self.vector_url = vector_url
        store_name = "dense" if vector_url.startswith("file:") else re.sub(r"[^a-z0-9_]", "_", name.lower())
        self.store = open_store(vector_url, store_name)
        self._embedder = embedder
        self._bm25: _BM25 | None = None
        self._bm25_ids: list[str] = []
        self._bm25_meta: list[dict] = []
        self._bm25_gen: str | None = None
        self.last_bm25_build_s = 0.0
        tid = tokenizer_id(self.tokens)
        if stored.get("tokenizer") != tid:
            self._retokenize(tid)
        # vectors whose document never got committed (a crash inside ``add``) are removed
        orphans = set(self.store.ids()) - set(self.ids())
        if orphans:
            self.store.delete(sorted(orphans))

    # --- small helpers
    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from cityai.language.embed import get_embedder

            self._embedder = get_embedder(self.base)
        return self._embedder

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def _set_meta(self, **kv: Any) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [(k, str(v)) for k, v in kv.items()])

    @property
    def generation(self) -> str:
        """Changes whenever the index's documents change (in any process): a key for caches built from it."""
        return self._generation()

    def _generation(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return row[0] if row else "0"

    @contextlib.contextmanager
    def _write(self):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                gen = int(self._generation()) + 1
                self._set_meta(generation=gen)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _retokenize(self, tid: str) -> None:
        rows = self._db.execute("SELECT id, text FROM docs").fetchall()
        with self._write():
            for i, text in rows:
                self._db.execute("UPDATE docs SET tokens = ? WHERE id = ?",
                                 (json.dumps(bm25_tokens(text, self.tokens), ensure_ascii=False), i))
            self._set_meta(tokenizer=tid)

    # --- updates
    def add(self, documents: Iterable[dict | tuple], *, embed: bool = True) -> int:
        """Add or replace documents ``{"id", "text", "metadata"?}`` (or ``(id, text[, metadata])``).
        Returns how many were new or changed. With ``embed=False`` they are searchable by BM25 at once
        and by the dense list after :meth:`embed_missing` (a changed document's old vector is dropped)."""
        docs: dict[str, tuple[str, dict]] = {}
        for d in documents:
            if isinstance(d, dict):
                i, text, md = d["id"], d.get("text") or "", d.get("metadata") or {}
            else:
                i, text, md = d[0], d[1] or "", (d[2] if len(d) > 2 else {}) or {}
            docs[str(i)] = (unicodedata.normalize("NFC", str(text)), dict(md))
        if not docs:
            return 0
        with self._lock:
            have = dict(self._query_in("SELECT id, hash FROM docs WHERE id IN ({})", list(docs)))
            changed = {i: v for i, v in docs.items() if have.get(i) != _doc_hash(*v)}
            if not changed:
                return 0
            ids = list(changed)
            if embed:
                vecs = self.embedder.embed([changed[i][0] for i in ids], "passage")
                # vectors first: a crash before the docs commit leaves only unused vectors
                self.store.upsert(ids, vecs, [{} for _ in ids])
            else:
                stale = [i for i in ids if i in have]
                if stale:
                    self.store.delete(stale)
            rows = [(i, t, json.dumps(md, ensure_ascii=False), json.dumps(bm25_tokens(t, self.tokens),
                    ensure_ascii=False), _doc_hash(t, md)) for i, (t, md) in changed.items()]
            with self._write():
                self._db.executemany("INSERT OR REPLACE INTO docs (id, text, metadata, tokens, hash) "
                                     "VALUES (?, ?, ?, ?, ?)", rows)
                self._set_meta(tokenizer=tokenizer_id(self.tokens))
            return len(rows)

    upsert = add

    def missing_vectors(self) -> list[str]:
        """Ids of the documents that have no vector yet (added with ``embed=False``)."""
        with self._lock:
            return sorted(set(self.ids()) - set(self.store.ids()))

    def embed_missing(self, batch: int = 64, progress: Callable[[int, int], None] | None = None) -> int:
        """Embed the documents that have no vector, ``batch`` at a time (each batch is stored before the
        next is computed, so an interrupted run resumes where it stopped); ``progress(done, total)`` is
        called after each batch. Returns how many were embedded."""
        todo = self.missing_vectors()
        done = 0
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            rows = {r[0]: (r[1], r[2]) for r in self._query_in("SELECT id, text, hash FROM docs WHERE id IN ({})",
                                                                chunk)}
            ids = [i for i in chunk if i in rows]
            if ids:
                vecs = self.embedder.embed([rows[i][0] for i in ids], "passage")
                with self._lock:  # a document changed or removed meanwhile keeps no vector of its old text
                    now = dict(self._query_in("SELECT id, hash FROM docs WHERE id IN ({})", ids))
                    keep = [n for n, i in enumerate(ids) if now.get(i) == rows[i][1]]
                    if keep:
                        self.store.upsert([ids[n] for n in keep], vecs[keep], [{} for _ in keep])
            done += len(chunk)
            if progress is not None:
                progress(done, len(todo))
        return done

    def remove(self, ids: Iterable[str]) -> int:
        """Remove documents by id; returns how many existed."""
        ids = [str(i) for i in ids]
        if not ids:
            return 0
        with self._lock:
            with self._write():
                n = 0
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    n += self._db.execute("DELETE FROM docs WHERE id IN (%s)" % ",".join("?" * len(chunk)),
                                          chunk).rowcount
            self.store.delete(ids)
            return n

    delete = remove

    def _query_in(self, sql: str, ids: Sequence[str]) -> list[tuple]:
        out: list[tuple] = []
        for i in range(0, len(ids), 500):
            chunk = list(ids[i:i + 500])
            out += self._db.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
        return out

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM docs").fetchone()[0])

    def __contains__(self, doc_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM docs WHERE id = ?", (str(doc_id),)).fetchone() is not None

    def get(self, doc_id: str) -> dict | None:
        row = self._db.execute("SELECT id, text, metadata FROM docs WHERE id = ?", (str(doc_id),)).fetchone()
        return {"id": row[0], "text": row[1], "metadata": json.loads(row[2])} if row else None

    def ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT id FROM docs ORDER BY rowid")]

    # --- search
    def _ensure_bm25(self) -> None:
        gen = self._generation()
        if self._bm25 is not None and gen == self._bm25_gen:
            return
        t0 = time.perf_counter()
        rows = self._db.execute("SELECT id, metadata, tokens FROM docs ORDER BY rowid").fetchall()
        self._bm25_ids = [r[0] for r in rows]
        self._bm25_meta = [json.loads(r[1]) for r in rows]
        self._bm25 = _BM25([json.loads(r[2]) for r in rows])
        self._bm25_gen = gen
        self.last_bm25_build_s = time.perf_counter() - t0

    def _bm25_ranked(self, query: str, depth: int, where: dict | None) -> list[tuple[str, float]]:
        self._ensure_bm25()
        assert self._bm25 is not None
        scores = self._bm25.scores(bm25_tokens(query, self.tokens))
        if where and scores.size:
            mask = np.array([matches(m, where) for m in self._bm25_meta])
            scores = np.where(mask, scores, 0.0)
        return [(self._bm25_ids[i], float(scores[i])) for i in _top(scores, depth)]

    def _dense_ranked(self, query: str, depth: int, where: dict | None) -> list[tuple[str, float]]:
        if len(self.store) == 0:
            return []
        q = self.embedder.embed(query, "query")
        hits = self.store.search(q, depth + 20)
        alive = {r[0]: json.loads(r[1]) for r in self._query_in(
            "SELECT id, metadata FROM docs WHERE id IN ({})", [h["id"] for h in hits])}
        out = [(h["id"], h["score"]) for h in hits if h["id"] in alive
               and (not where or matches(alive[h["id"]], where))]
        if where and len(out) < depth and len(hits) >= depth + 20:  # filtered too much: search wider
            hits = self.store.search(q, len(self.store))
            alive = {r[0]: json.loads(r[1]) for r in self._query_in(
                "SELECT id, metadata FROM docs WHERE id IN ({})", [h["id"] for h in hits])}
            out = [(h["id"], h["score"]) for h in hits if h["id"] in alive
                   and matches(alive[h["id"]], where)]
        return out[:depth]

    def search(self, query: str, k: int = 10, mode: Mode = "hybrid", *, where: dict | None = None,
               with_text: bool = True, fusion: str | None = None) -> list[dict]:
        """Top ``k`` documents for ``query``: ``{id, score, text?, metadata, bm25_rank, dense_rank}``
        (ranks are 1-based within each list's top ``depth``, None when absent). An empty query, an
        empty index or ``k <= 0`` give ``[]``; ``k`` beyond the index size gives every match."""
        if mode not in ("hybrid", "bm25", "dense"):
            raise ValueError("mode must be 'hybrid', 'bm25' or 'dense'")
        if not query or not query.strip() or k <= 0:
            return []
        with self._lock:
            depth = max(self.depth, k)
            bm = self._bm25_ranked(query, depth, where) if mode in ("hybrid", "bm25") else []
            de = self._dense_ranked(query, depth, where) if mode in ("hybrid", "dense") else []
            fused = fuse(bm, de, how=fusion or self.fusion, rrf_k=self.rrf_k, alpha=self.alpha) \
                if mode == "hybrid" else (bm if mode == "bm25" else de)
            top = fused[:k]
            bm_rank = {i: r for r, (i, _) in enumerate(bm, 1)}
            de_rank = {i: r for r, (i, _) in enumerate(de, 1)}
            rows = {r[0]: r for r in self._query_in("SELECT id, text, metadata FROM docs WHERE id IN ({})",
                                                    [i for i, _ in top])}
        out = []
        for i, s in top:
            if i not in rows:
                continue
            hit = {"id": i, "score": float(s), "metadata": json.loads(rows[i][2]),
                   "bm25_rank": bm_rank.get(i), "dense_rank": de_rank.get(i)}
            if with_text:
                hit["text"] = rows[i][1]
            out.append(hit)
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._db.close()
        with contextlib.suppress(Exception):
            self.store.close()

    def __enter__(self) -> "HybridIndex":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def fuse(bm25: list[tuple[str, float]], dense: list[tuple[str, float]], *, how: str = "rrf",
         rrf_k: int = 60, alpha: float = 0.5) -> list[tuple[str, float]]:
    """Fuse two ranked ``(id, score)`` lists, best first."""
    acc: dict[str, float] = {}
    if how == "rrf":
        for lst in (bm25, dense):
            for r, (i, _) in enumerate(lst, 1):
                acc[i] = acc.get(i, 0.0) + 1.0 / (rrf_k + r)
    elif how == "weighted":
        for lst, w in ((bm25, 1.0 - alpha), (dense, alpha)):
            if not lst:
                continue
            s = np.array([x for _, x in lst], dtype=np.float64)
            lo, hi = float(s.min()), float(s.max())
            norm = (s - lo) / (hi - lo) if hi > lo else np.ones_like(s)
            for (i, _), v in zip(lst, norm):
                acc[i] = acc.get(i, 0.0) + w * float(v)
    else:
        raise ValueError("fusion must be 'rrf' or 'weighted'")
    return sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))


_open: dict[tuple[str, str], HybridIndex] = {}
_open_lock = threading.Lock()


def open_index(name: str, base: Path | str | None = None, **options: Any) -> HybridIndex:
    """The process-wide :class:`HybridIndex` ``name`` under ``base`` (opened once, then reused)."""
    key = (str(_home(base).resolve()), name)
    with _open_lock:
        idx = _open.get(key)
        if idx is None:
            idx = HybridIndex(name, base=base, **options)
            _open[key] = idx
        return idx


# ------------------------------------------------------------------------------------- evaluation


def _metrics(ranked: list[list[str]], gold: list[set[str]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in (1, 5, 10):
        hits = [len(set(r[:k]) & g) / len(g) for r, g in zip(ranked, gold)]
        out[f"recall@{k}"] = round(float(np.mean(hits)), 4)
    rr = []
    for r, g in zip(ranked, gold):
        rr.append(next((1.0 / n for n, i in enumerate(r, 1) if i in g), 0.0))
    out["mrr"] = round(float(np.mean(rr)), 4)
    return out


def alqac_eval(data_dir: Path | str, *, base: Path | str | None = None, index_name: str = "alqac2023",
               throughput_sample: int = 32, variants: bool = True, tokens: TokenMode | None = None,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Retrieval figures on ALQAC 2023 (``law.json`` + ``train_first50.json`` in ``data_dir``).

    Builds (or updates) the index ``index_name`` under ``base`` (default ``CITYAI_HOME``): the first
    run embeds the 2,131 articles (minutes on a small CPU; cached afterwards). Returns
    ``{"docs", "questions", "tokenizer", "modes": {mode: {recall@1, recall@5, recall@10, mrr}},
    "timings": {...}}``; ``variants=False`` skips the extra BM25 tokenisations and fusions.
    """
    import bm25s  # noqa: F401

    say = progress or (lambda _m: None)
    data_dir = Path(data_dir)
    laws = json.loads((data_dir / "law.json").read_text(encoding="utf-8"))
    questions = json.loads((data_dir / "train_first50.json").read_text(encoding="utf-8"))
    docs = [{"id": f"{law['id']}#{a['id']}", "text": a["text"],
             "metadata": {"law": law["id"], "article": a["id"]}}
            for law in laws for a in law["articles"]]
    qtexts = [q["text"] for q in questions]
    gold = [{f"{r['law_id']}#{r['article_id']}" for r in q["relevant_articles"]} for q in questions]
    timings: dict[str, float] = {}
    modes: dict[str, dict[str, float]] = {}
    ids = [d["id"] for d in docs]

    # the peer: bm25s over lower-cased \w+ tokens of the raw text
    t0 = time.perf_counter()
    peer = _BM25([peer_tokens(d["text"]) for d in docs])
    timings["peer_bm25_build_s"] = round(time.perf_counter() - t0, 3)
    modes["bm25_peer"] = _metrics([[ids[i] for i in _top(peer.scores(peer_tokens(q)), 100)]
                                   for q in qtexts], gold)

    # BM25 token variants, built in memory (no embeddings needed)
    if variants:
        for tm in ("syllables", "syllables+bigrams", "words", "words+syllables"):
            t0 = time.perf_counter()
            toks = [bm25_tokens(d["text"], tm) for d in docs]  # type: ignore[arg-type]
            timings[f"tokenize_{tm}_s"] = round(time.perf_counter() - t0, 3)
            b = _BM25(toks)
            modes[f"bm25_{tm}"] = _metrics(
                [[ids[i] for i in _top(b.scores(bm25_tokens(q, tm)), 100)]  # type: ignore[arg-type]
                 for q in qtexts], gold)
            say(f"bm25_{tm}: {modes[f'bm25_{tm}']}")

    from cityai.language.embed import Embedder, get_embedder

    emb = get_embedder(base if base is not None else _home(None))
    if throughput_sample:
        cold = Embedder(cache=False, model=emb.model)
        sample = [d["text"] for d in docs[:throughput_sample]]
        t0 = time.perf_counter()
        cold.embed(sample, "passage")
        dt = time.perf_counter() - t0
        timings["embed_passages_per_s"] = round(len(sample) / dt, 2)
        timings["embed_sample_avg_chars"] = round(sum(map(len, sample)) / len(sample))
    idx = HybridIndex(index_name, base=base, embedder=emb, tokens=tokens or DEFAULT_TOKENS)
    t0 = time.perf_counter()
    misses0 = emb.model_texts
    idx.add(docs)
    timings["index_add_s"] = round(time.perf_counter() - t0, 2)
    timings["index_add_embedded"] = emb.model_texts - misses0
    wanted = set(ids)
    idx.remove([i for i in idx.ids() if i not in wanted])  # left from an older corpus
    t0 = time.perf_counter()
    emb.embed([d["text"] for d in docs], "passage")
    dt = time.perf_counter() - t0
    timings["cache_hit_passages_per_s"] = round(len(docs) / dt, 1)
    idx._bm25 = None
    idx._ensure_bm25()
    timings["bm25_rebuild_s"] = round(idx.last_bm25_build_s, 3)

    runs: list[tuple[str, str, str | None]] = [("bm25", "bm25", None), ("dense", "dense", None),
                                                ("hybrid", "hybrid", None), ("hybrid_rrf", "hybrid", "rrf")]
    t_search: list[float] = []
    for label, mode, fusion in runs:
        ranked = []
        for q in qtexts:
            t0 = time.perf_counter()
            hits = idx.search(q, 100, mode, with_text=False, fusion=fusion)  # type: ignore[arg-type]
            ranked.append([h["id"] for h in hits])
            t_search.append(time.perf_counter() - t0)
        modes[label] = _metrics(ranked, gold)
        say(f"{label}: {modes[label]}")
    timings["search_ms_median"] = round(1000 * float(np.median(t_search)), 2)
    if variants:  # weighted fusion sweep over alpha
        default_alpha = idx.alpha
        for a in (0.2, 0.3, 0.5, 0.7):
            idx.alpha = a
            modes[f"hybrid_weighted_a{a}"] = _metrics(
                [[h["id"] for h in idx.search(q, 100, "hybrid", with_text=False, fusion="weighted")]
                 for q in qtexts], gold)
        idx.alpha = default_alpha
    result = {"docs": len(docs), "questions": len(questions), "tokenizer": tokenizer_id(idx.tokens),
              "fusion": (f"weighted alpha={idx.alpha}" if idx.fusion == "weighted"
                         else f"rrf k={idx.rrf_k}"),
              "modes": modes, "timings": timings}
    idx.close()
    return result
