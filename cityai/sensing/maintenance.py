"""Downsampling and retention of the time series, run hourly by the periodic hook (or `cityai sensing
maintain`). In one transaction: the raw values of whole hours older than ``CITYAI_SENSING_RAW_RETENTION_DAYS``
are rolled up into hourly aggregates (count, sum, min, max, sum of squares) and deleted (on PostgreSQL, whole
monthly partitions, each rolled up and then dropped); rollups older than
``CITYAI_SENSING_ROLLUP_RETENTION_DAYS`` are deleted; and refused-message records older than 30 days.
Folding is additive: a late value that arrives for an hour already folded is added to its rollup by the next run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from cityai.core.db import utcnow
from cityai.sensing import store
from cityai.sensing.models import Rejected

REJECTED_KEEP_DAYS = 30


def run(platform: Any, *, now_ms: int | None = None) -> dict[str, int]:
    s = platform.settings
    now_ms = now_ms or store.to_ms(utcnow())
    with platform.system_context() as ctx:
        out = store.drop_before(platform, ctx.db, now_ms - s.sensing_raw_retention_days * store.DAY_MS,
                                now_ms - s.sensing_rollup_retention_days * store.DAY_MS)
        cutoff = store.from_ms(now_ms - REJECTED_KEEP_DAYS * store.DAY_MS)
        out["rejected_deleted"] = ctx.db.execute(delete(Rejected).where(Rejected.received_at < cutoff)).rowcount or 0
        if any(out.get(k) for k in ("partitions_dropped", "rows_deleted", "rollups_deleted")):
            ctx.audit("sensing.retention", None, None, **out)
    return out
