"""Downsampling and retention of the time series, run hourly by the periodic hook (or `cityai sensing
maintain`): hourly rollups are (re)computed for the hours since the last run, then raw values older than
``CITYAI_SENSING_RAW_RETENTION_DAYS`` and rollups older than ``CITYAI_SENSING_ROLLUP_RETENTION_DAYS`` are
dropped, and refused-message records older than 30 days."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from cityai.core.db import utcnow
from cityai.sensing import store
from cityai.sensing.models import Rejected

REJECTED_KEEP_DAYS = 30


def run(platform: Any, *, now_ms: int | None = None, rollup_hours: int = 48) -> dict[str, int]:
    s = platform.settings
    now_ms = now_ms or store.to_ms(utcnow())
    out: dict[str, int] = {}
    with platform.system_context() as ctx:
        # Late values may arrive for the recent past: recompute the last `rollup_hours` hours each time, and
        # everything that is about to age out of the raw table.
        raw_cutoff = now_ms - s.sensing_raw_retention_days * store.DAY_MS
        out["rollups"] = store.rollup(ctx.db, now_ms - rollup_hours * store.HOUR_MS, now_ms)
        out["rollups_before_cutoff"] = store.rollup(ctx.db, raw_cutoff - 2 * store.DAY_MS, raw_cutoff + store.DAY_MS)
    with platform.system_context() as ctx:
        out.update(store.drop_before(platform, ctx.db, raw_cutoff,
                                     now_ms - s.sensing_rollup_retention_days * store.DAY_MS))
        cutoff = store.from_ms(now_ms - REJECTED_KEEP_DAYS * store.DAY_MS)
        out["rejected_deleted"] = ctx.db.execute(delete(Rejected).where(Rejected.received_at < cutoff)).rowcount or 0
        if any(out.get(k) for k in ("partitions_dropped", "rows_deleted", "rollups_deleted")):
            ctx.audit("sensing.retention", None, None, **out)
    return out
