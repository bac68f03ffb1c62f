"""The lake: ingest jobs that turn an uploaded file into Parquet tables and publish them atomically.

A version's files are written under a fresh folder of its own; only when every table is stored does
one database transaction mark the version ready and point the resource at it. A crash or a failure
at any point before that leaves the previous version served and the new folder invisible.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select

from cityai.core import authz
from cityai.core.db import utcnow
from cityai.core.jobs import JobKind, JobRun
from cityai.data.models import Dataset, Resource, ResourceVersion


def _local_copy(platform: Any, key: str, workdir: Path) -> Path:
    """A filesystem path for the stored original (the file itself when storage is local)."""
    local = getattr(platform.storage, "local_path", None)
    if local is not None:
        return local(key)
    target = workdir / "original"
    with platform.storage.open(key) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def table_key(version_prefix: str, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "table"
    return f"{version_prefix}/tables/{safe}.parquet"


def ingest_version(run: JobRun) -> dict:
    from cityai.data import ingest

    platform = run.platform
    version_id = run.params["version_id"]
    with platform.transaction(write=True) as db:
        version = db.get(ResourceVersion, version_id)
        if version is None:
            raise LookupError(f"resource version {version_id} does not exist")
        resource = db.get(Resource, version.resource_id)
        version.status = "ingesting"
        overrides = dict(resource.schema_overrides or {})
        key, fmt, filename = version.original_key, version.format, version.original_name
    prefix = key.rsplit("/original/", 1)[0]
    run.progress(1, "Đang đọc tệp / Reading the file", force=True)
    tmp_root = platform.settings.home / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="ingest-") as work:
        try:
            src = _local_copy(platform, key, Path(work))
            tables, result = store_tables(platform, src, prefix, fmt=fmt, filename=filename, schema=overrides,
                                          progress=run.progress)
        except ingest.IngestError as exc:
            _fail(platform, version_id, f"{exc.vi} / {exc.en}")
            raise RuntimeError(exc.en) from None
        except Exception as exc:
            _fail(platform, version_id, f"{type(exc).__name__}: {exc}")
            raise
    with run.unit_of_work() as ctx:  # publish: one transaction flips the resource to the new version
        version = ctx.db.get(ResourceVersion, version_id)
        publish(ctx, version, tables, result)
    return {"version_id": version_id, "tables": [{"name": t["name"], "rows": t["rows"]} for t in tables],
            "warnings": list(result.warnings)}


def store_tables(platform: Any, src: Path, prefix: str, *, fmt: str | None, filename: str | None,
                 schema: dict | None = None, progress: Callable[..., Any] | None = None) -> tuple[list[dict], Any]:
    """Ingest a local file into Parquet tables stored under ``prefix``/tables; (table infos, ingest result).

    Nothing is visible to readers until :func:`publish` points the resource at a version holding them.
    """
    from cityai.data import ingest

    report = progress or (lambda *a, **k: None)
    tmp_root = platform.settings.home / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="ingest-") as work:
        out = Path(work) / "out"
        out.mkdir()
        result = ingest.ingest(src, out, fmt=fmt, filename=filename or "", schema=schema or None,
                               progress=lambda pct, msg: report(min(90.0, pct * 0.9), msg))
        tables = []
        for i, table in enumerate(result.tables):
            tkey = table_key(prefix, table.name)
            with open(table.path, "rb") as fh:
                platform.storage.put(tkey, fh)
            tables.append({"name": table.name, "key": tkey, "rows": table.rows,
                           "columns": [asdict(c) for c in table.columns], "profile": table.profile})
            report(90 + 9 * (i + 1) / len(result.tables), f"{table.name}: {table.rows} rows")
    return tables, result


def publish(ctx: Any, version: ResourceVersion, tables: list[dict], result: Any) -> None:
    """Mark ``version`` ready and make it its resource's current one, in ``ctx``'s transaction."""
    resource = ctx.db.get(Resource, version.resource_id)
    dataset = ctx.db.get(Dataset, resource.dataset_id)
    version.status, version.tables = "ready", tables
    version.encoding, version.warnings = result.encoding, list(result.warnings)
    version.published_at = utcnow()
    previous = resource.current_version_id
    resource.current_version_id = version.id
    if not resource.format and version.format:
        resource.format = version.format
    resource.modified_at = dataset.modified_at = utcnow()
    ctx.audit("resource.publish", "resource", resource.id, dataset=dataset.name, version=version.number,
              previous_version=previous, rows=sum(t["rows"] for t in tables))


def _fail(platform: Any, version_id: str, error: str) -> None:
    with platform.transaction(write=True) as db:
        version = db.get(ResourceVersion, version_id)
        if version is not None:
            version.status, version.error = "failed", error[:4000]


def current_tables(ctx: Any, resource: Resource) -> list[dict]:
    if not resource.current_version_id:
        return []
    version = ctx.db.get(ResourceVersion, resource.current_version_id)
    return list(version.tables or []) if version else []


def latest_versions(ctx: Any, resource_id: str) -> list[ResourceVersion]:
    return list(ctx.db.execute(select(ResourceVersion).where(ResourceVersion.resource_id == resource_id)
                               .order_by(ResourceVersion.number.desc())).scalars())


def ingest_lost(platform: Any, job_id: str, params: dict) -> None:
    """The ingest's worker died: mark its version failed (it was never published; the old one stays served)."""
    version_id = params.get("version_id")
    with platform.transaction(write=True) as db:
        version = db.get(ResourceVersion, version_id) if version_id else None
        if version is not None and version.status in ("pending", "ingesting"):
            version.status = "failed"
            version.error = ("Tiến trình nạp đã dừng giữa chừng; phiên bản trước vẫn được phục vụ. Hãy tải lên lại. / "
                             "The ingest's worker stopped mid-way; the previous version is still served. "
                             "Upload the file again.")


# Started by resource.upload (which checks the steward's rights); direct submission: sysadmin only.
INGEST_JOB = JobKind("data.ingest", ("Nạp dữ liệu vào kho", "Ingest data into the lake"), ingest_version,
                     auth=authz.sysadmin, retries=0, on_lost=ingest_lost)


# ------------------------------------------------------------------ synchronous ingest (small payloads)
# Used by the CKAN datastore_create / datastore_upsert actions: the records of one request become a new
# version, ingested and published inside the caller's unit of work (it commits or rolls back with it).


def ingest_now(ctx: Any, resource: Resource, src: Path, *, filename: str, fmt: str | None,
               schema: dict | None = None) -> ResourceVersion:
    """Store a local file as ``resource``'s next version, ingest it and publish it, all in ``ctx``.

    The caller checks permissions. On an ingest error nothing is published (the caller's transaction
    rolls back; the stored files stay unreferenced) and :class:`cityai.data.ingest.IngestError` is raised.
    """
    import hashlib

    from sqlalchemy import func

    dataset = ctx.db.get(Dataset, resource.dataset_id)
    number = (ctx.db.execute(select(func.max(ResourceVersion.number)).where(
        ResourceVersion.resource_id == resource.id)).scalar() or 0) + 1
    version = ResourceVersion(resource_id=resource.id, number=number, status="ingesting", format=fmt,
                              created_by=ctx.actor.user_id, original_name=filename)
    ctx.db.add(version)
    ctx.db.flush()
    prefix = f"lake/{dataset.id}/{resource.id}/v{number}-{version.id[:8]}"
    key = f"{prefix}/original/{filename}"
    digest = hashlib.sha256()
    with open(src, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
        fh.seek(0)
        version.size = ctx.platform.storage.put(key, fh)
    version.sha256, version.original_key = digest.hexdigest(), key
    tables, result = store_tables(ctx.platform, src, prefix, fmt=fmt, filename=filename, schema=schema)
    publish(ctx, version, tables, result)
    resource.url_type = "upload"
    ctx.db.flush()
    return version
