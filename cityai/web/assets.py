"""A module's own static files (scripts, styles), served with a content-hash version.

Pages link an asset as ``/<module>/<name>?v=<version>``: a request carrying the current version is cached for a
year (immutable), one without it (a script another site includes) for five minutes; both get an ETag and a 304
when unchanged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class ModuleAssets:
    def __init__(self, folder: Path, names: tuple[str, ...]) -> None:
        self.folder = folder
        self.names = names

    def _read(self, name: str) -> tuple[bytes, str]:
        if name not in self.names:
            raise KeyError(name)
        data = (self.folder / name).read_bytes()
        return data, hashlib.sha256(data).hexdigest()[:16]

    def version(self, name: str) -> str:
        """The content hash pages append (``?v=``), so that a changed file is fetched again at once."""
        return self._read(name)[1]

    def response(self, request: Request, name: str) -> Response:
        data, etag = self._read(name)
        versioned = request.query_params.get("v") == etag
        cache = "public, max-age=31536000, immutable" if versioned else "public, max-age=300"
        headers = {"ETag": f'"{etag}"', "Cache-Control": cache}
        if request.headers.get("if-none-match", "").strip() in (f'"{etag}"', f'W/"{etag}"'):
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=MEDIA_TYPES[Path(name).suffix], headers=headers)
