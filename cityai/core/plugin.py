"""The core's own features, registered on the same hooks as any module (job kinds, demo, readiness)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text

from cityai.core import audit, authz
from cityai.core.hooks import hookimpl
from cityai.core.jobs import JobKind, JobRun


def _verify_job(run: JobRun) -> dict:
    with run.unit_of_work(write=False) as ctx:
        result = audit.audit_verify(ctx, progress=lambda done, total: run.progress(
            100.0 * done / max(total, 1), f"{done}/{total}"))
    return result.as_dict()


def _export_job(run: JobRun) -> dict:
    key = f"exports/audit/audit-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}.jsonl"
    since = int(run.params.get("since_seq", 0))
    count = 0
    with run.unit_of_work(write=False) as ctx:
        from sqlalchemy import func, select

        from cityai.core.models import AuditEntry

        total = ctx.db.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.seq > since)).scalar_one()
        lines = []
        for line in audit.audit_export(ctx, since_seq=since):
            lines.append(line)
            count += 1
            if count % 1000 == 0:
                run.progress(100.0 * count / max(total, 1), f"{count}/{total}")
    size = run.platform.storage.put(key, "".join(lines).encode("utf-8"))
    return {"file": key, "entries": count, "bytes": size}


def _validate_export(params: dict) -> None:
    from cityai.core.errors import invalid

    since = params.get("since_seq", 0)
    if not isinstance(since, int) or since < 0:
        raise invalid(("since_seq phải là số nguyên không âm.", "since_seq must be a non-negative integer."))


@hookimpl
def cityai_job_kinds() -> list[JobKind]:
    return [
        JobKind("audit.verify", ("Kiểm tra toàn vẹn nhật ký truy vết", "Verify the audit trail"), _verify_job,
                auth=authz.sysadmin, retries=0),
        JobKind("audit.export", ("Xuất nhật ký truy vết (JSON Lines)", "Export the audit trail (JSON Lines)"),
                _export_job, auth=authz.sysadmin, validate=_validate_export),
    ]


@hookimpl
def cityai_readiness(platform: Any) -> list[tuple[str, Any]]:
    from cityai.core.db import current_heads

    def database() -> None:
        with platform.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def migrations() -> None:
        applied, heads = current_heads(platform.engine, platform.migration_dirs())
        if applied != heads:
            raise RuntimeError(f"database at {sorted(applied)}, code at {sorted(heads)}")

    def queue() -> None:
        platform.huey.pending_count()

    return [("database", database), ("migrations", migrations), ("storage", platform.storage.check),
            ("queue", queue)]


@hookimpl
def cityai_demo(ctx: Any) -> list[str]:
    from cityai.core.demo import load_core_demo

    return load_core_demo(ctx)
