"""Vector stores behind one small interface, chosen by URL (as MLflow picks a tracking store).

``open_store(url, name, dim=None)``:

- ``file:///abs/dir`` (or a plain path): :class:`FileVectorStore`, the embedded default. Index
  ``name`` is the folder ``<dir>/<name>/`` holding ``vectors-<gen>.npy`` (float32, unit rows),
  ``items-<gen>.json`` (ids and metadata, same order) and ``manifest.json`` naming the current
  generation. A save writes the new generation's two files, fsyncs them, then replaces the manifest
  with ``os.replace``: a crash at any point leaves the previous manifest and its files, so the store
  opens as it was before the save. Writers take an ``fcntl`` lock on ``<dir>/<name>/.lock`` and
  reload first, so two processes do not lose each other's writes; readers notice a new manifest on
  their next call. Search is exact cosine top-k (one matrix-vector product), fine to a few hundred
  thousand vectors. Every mutation rewrites the files (O(n)); group many with ``with store.batch():``.
- ``postgresql://user@host/db`` (also ``postgres://``, ``postgresql+psycopg://``):
  :class:`PgVectorStore`, one table ``cityai_vectors_<name>`` per index with a ``vector(dim)`` column
  (pgvector), ``CREATE EXTENSION IF NOT EXISTS vector`` on open, an HNSW index with cosine distance
  (``index="hnsw"``, the default) or none (``index="exact"``: a sequential scan, exact). Uses psycopg 3
  and ``pgvector.psycopg.register_vector``.

More schemes can be added with :func:`register_store`. Scores are cosine similarities (higher is
closer); vectors are L2-normalised on the way in.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence
from urllib.parse import unquote, urlparse

import numpy as np

__all__ = [
    "FileVectorStore",
    "Hit",
    "PgVectorStore",
    "VectorStore",
    "open_store",
    "register_store",
    "pgvector_unavailable",
]

Hit = dict  # {"id": str, "score": float, "metadata": dict}

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name or "") or name in (".", ".."):
        raise ValueError(f"invalid index name {name!r}: letters, digits, '_', '-', '.' (max 63)")
    return name


def _normalize_rows(vectors: Any, dim: int | None) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2:
        raise ValueError("vectors must be a 2-D array (n, dim)")
    if dim is not None and v.shape[0] and v.shape[1] != dim:
        raise ValueError(f"vector dimension {v.shape[1]} does not match the store's {dim}")
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(v / norms, dtype=np.float32)


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: ``true`` is not ``1``, ``1`` equals ``1.0`` (both numbers)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def matches(metadata: dict, where: dict) -> bool:
    """A document's metadata satisfies an equality filter: every key present with the same value
    (``null`` matches only a stored null, not a missing key)."""
    for k, v in where.items():
        got = metadata.get(k, _MISSING)
        if got is _MISSING or not _same(got, v):
            return False
    return True


def _matches(meta: dict, where: dict | None) -> bool:
    return not where or matches(meta, where)


class VectorStore(Protocol):
    """What every store offers. ``upsert`` adds or replaces by id; ``search`` returns at most ``k``
    hits ``{"id", "score", "metadata"}``, best first; ``where`` keeps items whose metadata has those
    key/value pairs."""

    name: str

    @property
    def dim(self) -> int | None: ...
    def upsert(self, ids: Sequence[str], vectors: Any, metadata: Sequence[dict] | None = None) -> None: ...
    def delete(self, ids: Sequence[str]) -> int: ...
    def search(self, vector: Any, k: int = 10, *, where: dict | None = None) -> list[Hit]: ...
    def get(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def ids(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def drop(self) -> None: ...
    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------ file store


class FileVectorStore:
    """NumPy vectors in ``.npy`` plus ids/metadata in JSON, replaced atomically (see module doc)."""

    def __init__(self, root: Path | str, name: str, dim: int | None = None) -> None:
        self.name = _check_name(name)
        self.dir = Path(root) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self._dim = dim
        self._lock = threading.RLock()
        self._batch_depth = 0
        self._dirty = False
        self._stamp: tuple[int, int, int] | None = None
        self._vecs = np.zeros((0, dim or 0), dtype=np.float32)
        self._ids: list[str] = []
        self._meta: list[dict] = []
        self._pos: dict[str, int] = {}
        self._load_if_changed()

    # --- persistence
    @property
    def _manifest(self) -> Path:
        return self.dir / "manifest.json"

    def _manifest_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._manifest)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load_if_changed(self) -> None:
        stamp = self._manifest_stamp()
        if stamp == self._stamp:
            return
        if stamp is None:  # removed (dropped) by someone else
            self._set([], [], np.zeros((0, self._dim or 0), dtype=np.float32))
            self._stamp = None
            return
        for attempt in range(5):  # a writer may replace the generation between our reads
            try:
                stamp = self._manifest_stamp()
                man = json.loads(self._manifest.read_text(encoding="utf-8"))
                vecs = np.load(self.dir / man["vectors"], allow_pickle=False)
                items = json.loads((self.dir / man["items"]).read_text(encoding="utf-8"))
                break
            except FileNotFoundError:
                if attempt == 4:
                    raise
        ids = [it["id"] for it in items]
        meta = [it.get("metadata") or {} for it in items]
        if vecs.shape[0] != len(ids):
            raise RuntimeError(f"vector store {self.dir}: {vecs.shape[0]} vectors for {len(ids)} ids")
        if man.get("dim"):
            self._dim = int(man["dim"])
        self._set(ids, meta, vecs.astype(np.float32, copy=False))
        self._stamp = stamp

    def _set(self, ids: list[str], meta: list[dict], vecs: np.ndarray) -> None:
        self._ids, self._meta, self._vecs = ids, meta, vecs
        self._pos = {i: n for n, i in enumerate(ids)}

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        import fcntl

        with open(self.dir / ".lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _save(self) -> None:
        gen = uuid.uuid4().hex[:12]
        vname, iname = f"vectors-{gen}.npy", f"items-{gen}.json"
        vecs = self._vecs if self._vecs.shape[0] else np.zeros((0, self._dim or 0), dtype=np.float32)
        _write_atomic(self.dir / vname, lambda fh: np.save(fh, vecs, allow_pickle=False))
        items = [{"id": i, "metadata": m} for i, m in zip(self._ids, self._meta)]
        data = json.dumps(items, ensure_ascii=False).encode("utf-8")
        _write_atomic(self.dir / iname, lambda fh: fh.write(data))
        man = json.dumps({"format": 1, "dim": self._dim, "count": len(self._ids), "vectors": vname,
                          "items": iname}).encode("utf-8")
        _write_atomic(self._manifest, lambda fh: fh.write(man))
        _fsync_dir(self.dir)
        self._stamp = self._manifest_stamp()
        # remove superseded generations and leftovers of crashed saves (every writer holds the lock)
        keep = {vname, iname}
        for f in self.dir.iterdir():
            if f.name.startswith(("vectors-", "items-", ".tmp-")) and f.name not in keep:
                with contextlib.suppress(OSError):
                    f.unlink()

    @contextlib.contextmanager
    def _mutating(self) -> Iterator[None]:
        with self._lock:
            if self._batch_depth:
                yield
                self._dirty = True
                return
            with self._file_lock():
                self._load_if_changed()
                snapshot = (self._ids, self._meta, self._vecs, self._dim)
                try:
                    yield
                    self._save()
                except BaseException:
                    self._set(*snapshot[:3])
                    self._dim = snapshot[3]
                    raise

    @contextlib.contextmanager
    def batch(self) -> Iterator["FileVectorStore"]:
        """Group mutations: one save at the end (none if the block raises)."""
        with self._lock:
            if self._batch_depth:
                self._batch_depth += 1
                try:
                    yield self
                finally:
                    self._batch_depth -= 1
                return
            with self._file_lock():
                self._load_if_changed()
                snapshot = (self._ids, self._meta, self._vecs, self._dim)
                self._batch_depth = 1
                self._dirty = False
                try:
                    yield self
                    if self._dirty:
                        self._save()
                except BaseException:
                    self._set(*snapshot[:3])
                    self._dim = snapshot[3]
                    raise
                finally:
                    self._batch_depth = 0
                    self._dirty = False

    # --- API
    @property
    def dim(self) -> int | None:
        return self._dim

    def upsert(self, ids: Sequence[str], vectors: Any, metadata: Sequence[dict] | None = None) -> None:
        ids = [str(i) for i in ids]
        if metadata is not None and len(metadata) != len(ids):
            raise ValueError("metadata must have one entry per id")
        if not ids:
            return
        with self._mutating():
            v = _normalize_rows(vectors, self._dim)
            if v.shape[0] != len(ids):
                raise ValueError(f"{len(ids)} ids for {v.shape[0]} vectors")
            if self._dim is None:
                self._dim = int(v.shape[1])
            if self._vecs.shape[1] != self._dim:  # still empty
                self._vecs = np.zeros((0, self._dim), dtype=np.float32)
            vecs, ids_, meta_ = self._vecs.copy(), list(self._ids), list(self._meta)
            pos = dict(self._pos)
            new_rows, new_ids, new_meta = [], [], []
            for n, i in enumerate(ids):
                md = dict(metadata[n]) if metadata is not None else {}
                if i in pos:
                    vecs[pos[i]] = v[n]
                    meta_[pos[i]] = md
                else:
                    pos[i] = len(ids_) + len(new_ids)
                    new_rows.append(v[n])
                    new_ids.append(i)
                    new_meta.append(md)
            if new_rows:
                vecs = np.vstack([vecs, np.stack(new_rows)])
            self._set(ids_ + new_ids, meta_ + new_meta, vecs)

    add = upsert

    def delete(self, ids: Sequence[str]) -> int:
        gone = {str(i) for i in ids}
        with self._mutating():
            keep = [n for n, i in enumerate(self._ids) if i not in gone]
            removed = len(self._ids) - len(keep)
            if removed:
                self._set([self._ids[n] for n in keep], [self._meta[n] for n in keep],
                          self._vecs[np.asarray(keep, dtype=np.int64)] if keep
                          else np.zeros((0, self._dim or 0), dtype=np.float32))
        return removed

    def search(self, vector: Any, k: int = 10, *, where: dict | None = None) -> list[Hit]:
        with self._lock:
            if not self._batch_depth:
                self._load_if_changed()
            n = len(self._ids)
            if k <= 0 or n == 0:
                return []
            q = _normalize_rows(vector, self._dim)[0]
            scores = self._vecs @ q
            if where:
                mask = np.array([_matches(m, where) for m in self._meta], dtype=bool)
                scores = np.where(mask, scores, -np.inf)
                n = int(mask.sum())
            k = min(k, n)
            if k == 0:
                return []
            top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
            top = top[np.argsort(-scores[top], kind="stable")]
            return [{"id": self._ids[t], "score": float(scores[t]), "metadata": self._meta[t]}
                    for t in top[:k]]

    def get(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            self._load_if_changed()
            return {i: self._vecs[self._pos[i]].copy() for i in ids if i in self._pos}

    def ids(self) -> list[str]:
        with self._lock:
            self._load_if_changed()
            return list(self._ids)

    def __len__(self) -> int:
        with self._lock:
            self._load_if_changed()
            return len(self._ids)

    def drop(self) -> None:
        import shutil

        with self._lock:
            shutil.rmtree(self.dir, ignore_errors=True)
            self._set([], [], np.zeros((0, self._dim or 0), dtype=np.float32))
            self._stamp = None
            self.dir.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        pass


def _write_atomic(path: Path, write: Callable[[Any], Any]) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -------------------------------------------------------------------------------------- pgvector store


def _pg_conninfo(url: str) -> str:
    return re.sub(r"^(postgres(ql)?)(\+\w+)?://", "postgresql://", url)


def pgvector_unavailable(url: str) -> str | None:
    """None when ``url`` answers and offers the ``vector`` extension, else why not (for skips/logs)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover
        return f"psycopg not installed: {exc}"
    try:
        with psycopg.connect(_pg_conninfo(url), connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
                               ).fetchone()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL not reachable at {url}: {type(exc).__name__}: {exc}"[:300]
    if row is None:
        return (f"the PostgreSQL server at {url} does not offer the pgvector extension "
                "(Debian: apt-get install postgresql-<major>-pgvector, from trixie or apt.postgresql.org)")
    return None


class PgVectorStore:
    """One table per index: ``id text primary key, embedding vector(dim), metadata jsonb``."""

    def __init__(self, url: str, name: str, dim: int | None = None, *, index: str = "hnsw",
                 table_prefix: str = "cityai_vectors_") -> None:
        import psycopg
        from psycopg import sql

        if index not in ("hnsw", "exact"):
            raise ValueError("index must be 'hnsw' or 'exact'")
        self.name = _check_name(name)
        self.table = table_prefix + re.sub(r"[^a-z0-9_]", "_", name.lower())
        self._sql = sql
        self._ident = sql.Identifier(self.table)
        self.index = index
        self._lock = threading.RLock()
        self._conn = psycopg.connect(_pg_conninfo(url), autocommit=True)
        self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        from pgvector.psycopg import register_vector

        register_vector(self._conn)
        self._dim = self._table_dim()
        if self._dim is None and dim is not None:
            self._create(int(dim))
        elif dim is not None and self._dim != dim:
            raise ValueError(f"table {self.table} holds vectors of dimension {self._dim}, not {dim}")

    def _table_dim(self) -> int | None:
        row = self._conn.execute(
            "SELECT a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname = %s AND a.attname = 'embedding' AND pg_table_is_visible(c.oid)",
            (self.table,)).fetchone()
        return int(row[0]) if row else None

    def _create(self, dim: int) -> None:
        sql = self._sql
        with self._conn.transaction():
            self._conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, embedding vector({}) NOT NULL, "
                "metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb)").format(self._ident, sql.Literal(dim)))
            if self.index == "hnsw":
                self._conn.execute(sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops)").format(
                        sql.Identifier(self.table + "_hnsw"), self._ident))
        self._dim = dim

    @property
    def dim(self) -> int | None:
        return self._dim

    def upsert(self, ids: Sequence[str], vectors: Any, metadata: Sequence[dict] | None = None) -> None:
        from psycopg.types.json import Jsonb

        ids = [str(i) for i in ids]
        if not ids:
            return
        if metadata is not None and len(metadata) != len(ids):
            raise ValueError("metadata must have one entry per id")
        v = _normalize_rows(vectors, self._dim)
        if v.shape[0] != len(ids):
            raise ValueError(f"{len(ids)} ids for {v.shape[0]} vectors")
        with self._lock:
            if self._dim is None:
                self._create(int(v.shape[1]))
            rows = [(i, v[n], Jsonb(dict(metadata[n]) if metadata is not None else {}))
                    for n, i in enumerate(ids)]
            q = self._sql.SQL(
                "INSERT INTO {} (id, embedding, metadata) VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata").format(self._ident)
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.executemany(q, rows)

    add = upsert

    def delete(self, ids: Sequence[str]) -> int:
        ids = [str(i) for i in ids]
        if not ids or self._dim is None:
            return 0
        with self._lock:
            cur = self._conn.execute(self._sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._ident),
                                     (ids,))
            return cur.rowcount

    def search(self, vector: Any, k: int = 10, *, where: dict | None = None) -> list[Hit]:
        if k <= 0 or self._dim is None:
            return []
        from psycopg.types.json import Jsonb

        q = _normalize_rows(vector, self._dim)[0]
        cond = self._sql.SQL("WHERE metadata @> %s") if where else self._sql.SQL("")
        query = self._sql.SQL(
            "SELECT id, 1 - (embedding <=> %s) AS score, metadata FROM {} {} "
            "ORDER BY embedding <=> %s LIMIT %s").format(self._ident, cond)
        params: list[Any] = [q] + ([Jsonb(where)] if where else []) + [q, int(k)]
        with self._lock:
            if self.index == "hnsw":  # let the HNSW scan return up to k rows
                self._conn.execute(self._sql.SQL("SET hnsw.ef_search = {}").format(
                    self._sql.Literal(max(40, min(int(k), 1000)))))
            rows = self._conn.execute(query, params).fetchall()
        return [{"id": r[0], "score": float(r[1]), "metadata": r[2] or {}} for r in rows]

    def get(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if self._dim is None or not ids:
            return {}
        with self._lock:
            rows = self._conn.execute(
                self._sql.SQL("SELECT id, embedding FROM {} WHERE id = ANY(%s)").format(self._ident),
                ([str(i) for i in ids],)).fetchall()
        return {r[0]: np.asarray(r[1], dtype=np.float32) for r in rows}

    def ids(self) -> list[str]:
        if self._dim is None:
            return []
        with self._lock:
            return [r[0] for r in self._conn.execute(
                self._sql.SQL("SELECT id FROM {} ORDER BY id").format(self._ident))]

    def __len__(self) -> int:
        if self._dim is None:
            return 0
        with self._lock:
            return int(self._conn.execute(
                self._sql.SQL("SELECT count(*) FROM {}").format(self._ident)).fetchone()[0])

    def drop(self) -> None:
        with self._lock:
            self._conn.execute(self._sql.SQL("DROP TABLE IF EXISTS {}").format(self._ident))
            self._dim = None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()


# ------------------------------------------------------------------------------------------- registry

StoreFactory = Callable[..., Any]
_REGISTRY: dict[str, StoreFactory] = {}


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Make ``open_store`` send URLs with ``scheme`` to ``factory(url, name, dim, **options)``."""
    _REGISTRY[scheme.lower()] = factory


def _file_factory(url: str, name: str, dim: int | None = None, **_: Any) -> FileVectorStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file URL with a host is not supported: {url}")
        root = unquote(parsed.path)
    else:
        root = url
    return FileVectorStore(Path(root), name, dim)


def _pg_factory(url: str, name: str, dim: int | None = None, **options: Any) -> PgVectorStore:
    return PgVectorStore(url, name, dim, **options)


register_store("file", _file_factory)
register_store("", _file_factory)
for _s in ("postgresql", "postgres", "postgresql+psycopg"):
    register_store(_s, _pg_factory)


def open_store(url: str | Path, name: str, dim: int | None = None, **options: Any) -> VectorStore:
    """Open (creating if needed) index ``name`` in the store at ``url`` (see the module doc)."""
    url = str(url)
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    scheme = m.group(1).lower() if m else ""
    factory = _REGISTRY.get(scheme)
    if factory is None:
        raise ValueError(f"no vector store for URL scheme {scheme!r} (known: "
                         f"{', '.join(sorted(s for s in _REGISTRY if s))})")
    return factory(url, name, dim, **options)
