"""The time series: writing, reading and aggregating ``sens_observation``; rollups and retention.

Values are keyed by (entity, attribute, t_ms) with t_ms in Unix milliseconds (UTC). Writes are
``INSERT ... ON CONFLICT DO NOTHING ... RETURNING``: a re-delivered value is a no-op and the caller learns
which values were new (for rules and subscriptions). Late and out-of-order values are just rows.

On PostgreSQL ``sens_observation`` is range-partitioned by month; :func:`ensure_partitions` makes the
partitions a batch needs in a short transaction of its own, under an advisory lock, before the batch's
transaction writes into them; retention drops whole months. On SQLite the table is a WITHOUT ROWID table
clustered on its key, and retention deletes rows.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import Any, Iterable

from sqlalchemy import and_, delete, func, select, text
from sqlalchemy.orm import Session

from cityai.sensing.models import Observation, Rollup

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
AGG_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
_LOCK_KEY = 7_300_431  # advisory lock id for partition DDL
_partition_lock = threading.Lock()


def to_ms(t: dt.datetime) -> int:
    return int(round(t.timestamp() * 1000))


def from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000.0, dt.timezone.utc)


def iso(ms: int) -> str:
    return from_ms(ms).isoformat().replace("+00:00", "Z")


def _month_start(ms: int) -> dt.datetime:
    t = from_ms(ms)
    return dt.datetime(t.year, t.month, 1, tzinfo=dt.timezone.utc)


def _next_month(t: dt.datetime) -> dt.datetime:
    return dt.datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=dt.timezone.utc)


def partition_name(month: dt.datetime) -> str:
    return f"sens_observation_p{month.year:04d}{month.month:02d}"


def ensure_partitions(platform: Any, t_values: Iterable[int]) -> None:
    """Make the monthly partitions these times fall in (PostgreSQL only; a no-op elsewhere)."""
    if platform.engine.dialect.name != "postgresql":
        return
    known: set[str] = platform.__dict__.setdefault("_sensing_partitions", set())
    months = {_month_start(t) for t in t_values}
    missing = [m for m in months if partition_name(m) not in known]
    if not missing:
        return
    with _partition_lock, platform.engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        for m in sorted(missing):
            name = partition_name(m)
            conn.execute(text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF sens_observation "
                f"FOR VALUES FROM ({to_ms(m)}) TO ({to_ms(_next_month(m))})"))
            known.add(name)


def partitions(db: Session) -> list[str]:
    if db.get_bind().dialect.name != "postgresql":
        return []
    rows = db.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'sens_observation' ORDER BY 1")).scalars()
    return list(rows)


def _insert(db: Session, model: Any):
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def insert_values(db: Session, rows: list[tuple[str, str, int, float]]) -> list[tuple[str, str, int, float]]:
    """Insert (entity, attribute, t_ms, value) rows; return those that were new (duplicates are skipped:
    the first value stored for a key stays)."""
    if not rows:
        return []
    # One key may come twice in a batch (a device re-sending); keep the first, as the database would.
    seen: dict[tuple[str, str, int], float] = {}
    for e, a, t, v in rows:
        seen.setdefault((e, a, t), v)
    params = [{"entity_id": e, "attribute": a, "t_ms": t, "value": v} for (e, a, t), v in seen.items()]
    table = Observation.__table__  # Core, not ORM: no per-row ORM bookkeeping on the hot path
    stmt = _insert(db, table).on_conflict_do_nothing().returning(
        table.c.entity_id, table.c.attribute, table.c.t_ms, table.c.value)
    new: list[tuple[str, str, int, float]] = []
    for i in range(0, len(params), 2000):
        result = db.execute(stmt, params[i:i + 2000])
        new.extend((r[0], r[1], r[2], r[3]) for r in result.all())
    return new


def values(db: Session, entity_id: str, attributes: list[str] | None, start_ms: int | None, end_ms: int | None,
           *, limit: int, last: bool = False) -> dict[str, list[tuple[int, float]]]:
    """Values per attribute in [start, end), oldest first (``last``: the newest ``limit`` of each)."""
    out: dict[str, list[tuple[int, float]]] = {}
    attrs = attributes or list(db.execute(select(Observation.attribute).where(
        Observation.entity_id == entity_id).distinct()).scalars())
    for attr in sorted(attrs):
        cond = [Observation.entity_id == entity_id, Observation.attribute == attr]
        if start_ms is not None:
            cond.append(Observation.t_ms >= start_ms)
        if end_ms is not None:
            cond.append(Observation.t_ms < end_ms)
        order = Observation.t_ms.desc() if last else Observation.t_ms
        rows = db.execute(select(Observation.t_ms, Observation.value).where(and_(*cond)).order_by(order)
                          .limit(limit)).all()
        if last:
            rows.reverse()
        if rows:
            out[attr] = [(int(t), float(v)) for t, v in rows]
    return out


def latest(db: Session, entity_id: str, attribute: str, before_ms: int | None = None) -> tuple[int, float] | None:
    cond = [Observation.entity_id == entity_id, Observation.attribute == attribute]
    if before_ms is not None:
        cond.append(Observation.t_ms < before_ms)
    row = db.execute(select(Observation.t_ms, Observation.value).where(*cond)
                     .order_by(Observation.t_ms.desc()).limit(1)).first()
    return (int(row[0]), float(row[1])) if row else None


def aggregate(db: Session, entity_id: str, attributes: list[str], start_ms: int, end_ms: int, period_ms: int,
              methods: list[str]) -> dict[str, list[dict[str, Any]]]:
    """NGSI-LD temporal aggregation: per attribute, one bucket per ``period_ms`` from ``start_ms`` with the
    requested methods. Buckets whose raw values were dropped by retention come from the hourly rollups when
    the period is a whole number of hours."""
    out: dict[str, list[dict[str, Any]]] = {}
    bucket = ((Observation.t_ms - start_ms) // period_ms).label("b")  # floor division on every database
    for attr in attributes:
        rows = db.execute(
            select(bucket, func.count(), func.count(Observation.value.distinct()), func.sum(Observation.value),
                   func.min(Observation.value), func.max(Observation.value),
                   func.sum(Observation.value * Observation.value))
            .where(Observation.entity_id == entity_id, Observation.attribute == attr,
                   Observation.t_ms >= start_ms, Observation.t_ms < end_ms)
            .group_by(bucket).order_by(bucket)).all()
        buckets: dict[int, list[float]] = {int(b): [n, d, s, lo, hi, sq] for b, n, d, s, lo, hi, sq in rows}
        if period_ms % HOUR_MS == 0:
            _add_rollups(db, entity_id, attr, start_ms, end_ms, period_ms, buckets)
        series = []
        for b in sorted(buckets):
            n, d, s, lo, hi, sq = buckets[b]
            if not n:
                continue
            lo_ms = start_ms + b * period_ms
            item: dict[str, Any] = {"start": lo_ms, "end": min(lo_ms + period_ms, end_ms)}
            mean = s / n
            var = max(0.0, sq / n - mean * mean)
            figures = {"totalCount": n, "distinctCount": d, "sum": s, "avg": mean, "min": lo, "max": hi,
                       "stddev": math.sqrt(var * n / (n - 1)) if n > 1 else 0.0, "sumsq": sq}
            for m in methods:
                item[m] = figures[m]
            series.append(item)
        if series:
            out[attr] = series
    return out


def _add_rollups(db: Session, entity_id: str, attr: str, start_ms: int, end_ms: int, period_ms: int,
                 buckets: dict[int, list[float]]) -> None:
    """Fill buckets that have no raw values from the hourly rollups (the raw values aged out)."""
    rows = db.execute(select(Rollup.bucket_ms, Rollup.count, Rollup.sum, Rollup.min, Rollup.max, Rollup.sumsq)
                      .where(Rollup.entity_id == entity_id, Rollup.attribute == attr, Rollup.period_s == 3600,
                             Rollup.bucket_ms >= start_ms, Rollup.bucket_ms < end_ms)).all()
    from_rollups: dict[int, list[float]] = {}
    for b_ms, n, s, lo, hi, sq in rows:
        b = (int(b_ms) - start_ms) // period_ms
        if b in buckets:
            continue
        cur = from_rollups.setdefault(b, [0, 0, 0.0, math.inf, -math.inf, 0.0])
        cur[0] += n
        cur[1] += n  # distinct values are not kept in rollups: an upper bound
        cur[2] += s
        cur[3] = min(cur[3], lo)
        cur[4] = max(cur[4], hi)
        cur[5] += sq
    buckets.update(from_rollups)


def rollup(db: Session, start_ms: int, end_ms: int) -> int:
    """(Re)compute the hourly rollups of every series for whole hours in [start, end). Returns buckets."""
    start_ms -= start_ms % HOUR_MS
    end_ms -= end_ms % HOUR_MS
    if end_ms <= start_ms:
        return 0
    b = Observation.t_ms // HOUR_MS
    rows = db.execute(
        select(Observation.entity_id, Observation.attribute, b.label("b"), func.count(), func.sum(Observation.value),
               func.min(Observation.value), func.max(Observation.value),
               func.sum(Observation.value * Observation.value))
        .where(Observation.t_ms >= start_ms, Observation.t_ms < end_ms)
        .group_by(Observation.entity_id, Observation.attribute, b)).all()
    if not rows:
        return 0
    params = [{"entity_id": e, "attribute": a, "period_s": 3600, "bucket_ms": int(bb) * HOUR_MS, "count": n,
               "sum": s, "min": lo, "max": hi, "sumsq": sq} for e, a, bb, n, s, lo, hi, sq in rows]
    stmt = _insert(db, Rollup)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Rollup.entity_id, Rollup.attribute, Rollup.period_s, Rollup.bucket_ms],
        set_={k: getattr(stmt.excluded, k) for k in ("count", "sum", "min", "max", "sumsq")})
    for i in range(0, len(params), 2000):
        db.execute(stmt, params[i:i + 2000])
    return len(params)


def drop_before(platform: Any, db: Session, raw_cutoff_ms: int, rollup_cutoff_ms: int) -> dict[str, int]:
    """Retention: raw values before ``raw_cutoff_ms`` (PostgreSQL: whole monthly partitions that end before
    it), rollups before ``rollup_cutoff_ms``."""
    dropped = 0
    if db.get_bind().dialect.name == "postgresql":
        known: set[str] = platform.__dict__.setdefault("_sensing_partitions", set())
        for name in partitions(db):
            try:
                month = dt.datetime(int(name[-6:-2]), int(name[-2:]), 1, tzinfo=dt.timezone.utc)
            except ValueError:
                continue
            if to_ms(_next_month(month)) <= raw_cutoff_ms:
                db.execute(text(f"DROP TABLE {name}"))
                known.discard(name)
                dropped += 1
        rows = 0
    else:
        rows = db.execute(delete(Observation).where(Observation.t_ms < raw_cutoff_ms)).rowcount or 0
    old = db.execute(delete(Rollup).where(Rollup.bucket_ms < rollup_cutoff_ms)).rowcount or 0
    return {"partitions_dropped": dropped, "rows_deleted": rows, "rollups_deleted": old}
