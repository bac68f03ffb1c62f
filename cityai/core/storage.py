"""Blob storage behind one small interface, chosen by URL (``file://`` built in).

Writes are atomic: data goes to a temporary file in the same folder, is flushed to disk, then
renamed over the target, so a reader sees the old object or the new one, never half of one.
Other schemes are added by registering a factory in :data:`STORES` (e.g. from a module's
``cityai_startup`` hook).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator, Protocol
from urllib.parse import unquote, urlparse


class BlobStore(Protocol):
    def put(self, key: str, data: bytes | BinaryIO) -> int: ...
    def open(self, key: str) -> BinaryIO: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def check(self) -> None: ...


class InvalidKey(ValueError):
    pass


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, default: str = "upload") -> str:
    """A file name with no path parts and no surprising characters ('../../x.csv' -> 'x.csv')."""
    from pathlib import PurePath

    base = PurePath((name or default).replace("\\", "/")).name
    base = SAFE_NAME.sub("_", base).strip("._") or default
    return base[:120]


def put_hashed(store: BlobStore, key: str, stream: BinaryIO, head_bytes: int = 0) -> tuple[int, str, bytes]:
    """Stream ``stream`` into ``store`` at ``key`` (never held in memory), hashing it on the way.

    Returns (size, SHA-256 hex digest, the first ``head_bytes`` bytes, e.g. to tell the file's kind).
    """
    digest = hashlib.sha256()
    head = bytearray()

    class _Hashing:
        def read(self, n: int = -1) -> bytes:
            chunk = stream.read(n)
            digest.update(chunk)
            if len(head) < head_bytes:
                head.extend(chunk[:head_bytes - len(head)])
            return chunk

    size = store.put(key, _Hashing())  # type: ignore[arg-type]
    return size, digest.hexdigest(), bytes(head)


def _clean_key(key: str) -> str:
    p = PurePosixPath(key)
    if not key or p.is_absolute() or any(part in ("..", ".", "") for part in key.split("/")):
        raise InvalidKey(f"invalid storage key {key!r}")
    return str(p)


class FileStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _clean_key(key)

    def put(self, key: str, data: bytes | BinaryIO) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, (bytes, bytearray)):
                    out.write(data)
                    size = len(data)
                else:
                    while chunk := data.read(1 << 20):
                        out.write(chunk)
                        size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.name.startswith(".tmp-"):
                yield p.relative_to(self.root).as_posix()

    def local_path(self, key: str) -> Path:
        """A filesystem path for libraries that need one (DuckDB, OCR engines)."""
        return self._path(key)

    def check(self) -> None:
        probe = f".probe-{os.getpid()}"
        self.put(probe, b"ok")
        self.delete(probe)


def _file_store(url: str) -> FileStore:
    parsed = urlparse(url)
    return FileStore(unquote(parsed.netloc + parsed.path))


STORES: dict[str, Callable[[str], BlobStore]] = {"file": _file_store}


def open_store(url: str) -> BlobStore:
    scheme = urlparse(url).scheme or "file"
    if scheme not in STORES:
        raise ValueError(
            f"Unsupported storage URL scheme {scheme!r}; available: {', '.join(sorted(STORES))}"
        )
    return STORES[scheme](url)
