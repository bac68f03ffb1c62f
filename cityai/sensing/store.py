"""The time series: writing, reading and aggregating ``sens_observation``; rollups and retention.

Values are keyed by (entity, attribute, t_ms) with t_ms in Unix milliseconds (UTC). Writes are
``INSERT ... ON CONFLICT DO NOTHING ... RETURNING``: a re-delivered value is a no-op and the caller learns
which values were new (for rules and subscriptions). Late and out-of-order values are just rows.

On PostgreSQL ``sens_observation`` is range-partitioned by month; :func:`ensure_partitions` makes the
partitions a batch needs in a short transaction of its own, under an advisory lock, before the batch's
transaction touches the table (and :func:`insert_values` makes one itself only if retention dropped it in
between); retention folds whole months into the hourly rollups and drops them. On SQLite the table is a WITHOUT ROWID table
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


def _create_partitions(conn: Any, t_values: Iterable[int]) -> None:
    """Create the missing monthly partitions for these times on this connection, in its transaction."""
    months = {_month_start(t) for t in t_values}
    if not months:
        return
    names = {partition_name(m): m for m in months}
    have = set(conn.execute(text("SELECT relname FROM pg_class WHERE relname = ANY(:n)"),
                            {"n": list(names)}).scalars())
    missing = [m for n, m in names.items() if n not in have]
    if not missing:
        return
    # Serialize creators; the check is repeated under the lock (another transaction may have just made it).
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    for m in sorted(missing):
        conn.execute(text(
            f"CREATE TABLE IF NOT EXISTS {partition_name(m)} PARTITION OF sens_observation "
            f"FOR VALUES FROM ({to_ms(m)}) TO ({to_ms(_next_month(m))})"))


def ensure_partitions(platform: Any, t_values: Iterable[int]) -> None:
    """Make the monthly partitions these times fall in, in a short transaction of its own (PostgreSQL only; a
    no-op elsewhere). Call it BEFORE the writing transaction touches ``sens_observation``: the DDL needs an
    ACCESS EXCLUSIVE lock on the table, which a transaction holding any lock on it would block for ever (on
    another connection, undetected). Checked against the catalogue every time (no process cache), so a month
    dropped by retention elsewhere is made again. Waits at most 10 s for the lock, then raises (the batch is
    retried)."""
    if platform.engine.dialect.name != "postgresql":
        return
    times = list(t_values)
    if not times:
        return
    with _partition_lock, platform.engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        _create_partitions(conn, times)


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
    if db.get_bind().dialect.name == "postgresql":
        # Callers make the partitions beforehand (ensure_partitions, before their transaction touches the
        # table). This is the fallback for a month that retention dropped in between: made here, in the
        # caller's transaction (its ACCESS EXCLUSIVE lock is then held to the commit, which is acceptable for
        # that rare case), rather than failing the batch.
        _create_partitions(db, {t for _, _, t in seen})
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
    """Add the hourly rollups of hours whose raw values aged out. Retention folds whole hours into the rollups
    and deletes their raw values in one transaction, so a value is counted in one of them, never both (a late
    value in a folded hour is raw until the next compaction adds it to the rollup)."""
    rows = db.execute(select(Rollup.bucket_ms, Rollup.count, Rollup.sum, Rollup.min, Rollup.max, Rollup.sumsq)
                      .where(Rollup.entity_id == entity_id, Rollup.attribute == attr, Rollup.period_s == 3600,
                             Rollup.bucket_ms >= start_ms, Rollup.bucket_ms < end_ms)).all()
    from_rollups: dict[int, list[float]] = {}
    for b_ms, n, s, lo, hi, sq in rows:
        b = (int(b_ms) - start_ms) // period_ms
        if b != (int(b_ms) + HOUR_MS - 1 - start_ms) // period_ms or int(b_ms) + HOUR_MS > end_ms:
            continue  # a folded hour that straddles two intervals (timeAt not on the hour) cannot be split
        cur = from_rollups.setdefault(b, [0, 0, 0.0, math.inf, -math.inf, 0.0])
        cur[0] += n
        cur[1] += n  # distinct values are not kept in rollups: an upper bound
        cur[2] += s
        cur[3] = min(cur[3], lo)
        cur[4] = max(cur[4], hi)
        cur[5] += sq
    for b, (n, d, sm, lo, hi, sq) in from_rollups.items():
        raw = buckets.get(b)
        if raw is None or not raw[0]:
            buckets[b] = [n, d, sm, lo, hi, sq]
        else:  # hours whose raw values aged out, beside hours still raw: one bucket
            buckets[b] = [raw[0] + n, raw[1] + d, raw[2] + sm, min(raw[3], lo), max(raw[4], hi), raw[5] + sq]


def _hourly(db: Session, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """Hourly figures of the raw values in [start, end) (whole hours), per series."""
    b = Observation.t_ms // HOUR_MS
    rows = db.execute(
        select(Observation.entity_id, Observation.attribute, b.label("b"), func.count(), func.sum(Observation.value),
               func.min(Observation.value), func.max(Observation.value),
               func.sum(Observation.value * Observation.value))
        .where(Observation.t_ms >= start_ms, Observation.t_ms < end_ms)
        .group_by(Observation.entity_id, Observation.attribute, b)).all()
    return [{"entity_id": e, "attribute": a, "period_s": 3600, "bucket_ms": int(bb) * HOUR_MS, "count": n,
             "sum": s, "min": lo, "max": hi, "sumsq": sq} for e, a, bb, n, s, lo, hi, sq in rows]


def _add_to_rollups(db: Session, params: list[dict[str, Any]]) -> None:
    """Add hourly figures to the rollups (an hour already rolled up gets the late values added to it)."""
    if not params:
        return
    stmt = _insert(db, Rollup)
    pg = db.get_bind().dialect.name == "postgresql"
    lo, hi = (func.least, func.greatest) if pg else (func.min, func.max)  # SQLite's two-argument min()/max()
    stmt = stmt.on_conflict_do_update(
        index_elements=[Rollup.entity_id, Rollup.attribute, Rollup.period_s, Rollup.bucket_ms],
        set_={"count": Rollup.count + stmt.excluded.count, "sum": Rollup.sum + stmt.excluded.sum,
              "min": lo(Rollup.min, stmt.excluded.min), "max": hi(Rollup.max, stmt.excluded.max),
              "sumsq": Rollup.sumsq + stmt.excluded.sumsq})
    for i in range(0, len(params), 2000):
        db.execute(stmt, params[i:i + 2000])


def compact(db: Session, start_ms: int, end_ms: int) -> tuple[int, int]:
    """Fold the raw values of the whole hours in [start, end) into the hourly rollups and delete them, in the
    caller's transaction. Returns (hourly buckets written, raw values deleted). Values that arrive later for such an hour are
    added to its rollup by the next compaction (a re-sent copy of a value already folded in cannot be
    recognised any more: the raw key is gone)."""
    start_ms += -start_ms % HOUR_MS  # whole hours only: round the start up, the end down
    end_ms -= end_ms % HOUR_MS
    if end_ms <= start_ms:
        return 0, 0
    params = _hourly(db, start_ms, end_ms)
    _add_to_rollups(db, params)
    deleted = db.execute(delete(Observation).where(Observation.t_ms >= start_ms, Observation.t_ms < end_ms))
    return len(params), deleted.rowcount or 0


def drop_before(platform: Any, db: Session, raw_cutoff_ms: int, rollup_cutoff_ms: int) -> dict[str, int]:
    """Retention, in the caller's transaction: the raw values of whole hours before ``raw_cutoff_ms`` are folded
    into the hourly rollups and deleted (PostgreSQL: whole monthly partitions ending before it, each folded in
    and then dropped); rollups before ``rollup_cutoff_ms`` are deleted."""
    raw_cutoff_ms -= raw_cutoff_ms % HOUR_MS
    dropped = rows = rolled = 0
    if db.get_bind().dialect.name == "postgresql":
        for name in partitions(db):
            try:
                month = dt.datetime(int(name[-6:-2]), int(name[-2:]), 1, tzinfo=dt.timezone.utc)
            except ValueError:
                continue
            end = to_ms(_next_month(month))
            if end <= raw_cutoff_ms:
                # no writer may add to it between the fold and the drop (a late value would be lost)
                db.execute(text(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE"))
                params = _hourly(db, to_ms(month), end)
                _add_to_rollups(db, params)
                rolled += len(params)
                rows += sum(p["count"] for p in params)
                db.execute(text(f"DROP TABLE {name}"))
                dropped += 1
    else:
        oldest = db.execute(select(func.min(Observation.t_ms))).scalar()
        if oldest is not None and oldest < raw_cutoff_ms:
            rolled, rows = compact(db, int(oldest) - int(oldest) % HOUR_MS, raw_cutoff_ms)
    old = db.execute(delete(Rollup).where(Rollup.bucket_ms < rollup_cutoff_ms)).rowcount or 0
    return {"partitions_dropped": dropped, "rows_deleted": rows, "rollups_written": rolled, "rollups_deleted": old}
