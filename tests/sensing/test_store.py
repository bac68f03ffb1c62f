"""The time-series store (``cityai.sensing.store``): reads, aggregation, hourly rollups and retention, and
``maintenance.run`` that ties them together. Runs on SQLite and PostgreSQL: on PostgreSQL the table is
partitioned by month and retention drops whole partitions; on SQLite retention deletes rows. Either way a
temporal aggregation must give the same numbers before and after the raw values age out.

Expected figures are computed here from the values the test wrote, not read back from the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from typing import Any

import pytest
from sqlalchemy import func, select, text

from cityai.core.models import AuditEntry
from cityai.sensing import ingest, maintenance, store
from cityai.sensing.models import Observation, Rejected, Rollup
from tests.sensing.test_ingest import PG_ONLY, SQLITE_ONLY, aq, make_sensors, msg, utc

E = "urn:ngsi-ld:AirQualityObserved:test:e1"
E2 = "urn:ngsi-ld:AirQualityObserved:test:e2"
H = store.HOUR_MS
MIN = 60_000


def put(platform, rows: list[tuple[str, str, int, float]]) -> list[tuple[str, str, int, float]]:
    """Write values in a transaction of their own (``insert_values`` makes the partitions it needs)."""
    with platform.system_context() as ctx:
        return store.insert_values(ctx.db, rows)


def series(start_ms: int, n: int, step_ms: int, fn) -> list[tuple[int, float]]:
    return [(start_ms + i * step_ms, float(fn(i))) for i in range(n)]


def expected_buckets(
    points: list[tuple[int, float]], start: int, end: int, period: int
) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for t, v in points:
        if start <= t < end:
            out.setdefault(start + (t - start) // period * period, []).append(v)
    return out


def agg(platform, attrs, start, end, period, methods, entity=E) -> dict[str, list[dict[str, Any]]]:
    with platform.system_context(write=False) as ctx:
        return store.aggregate(ctx.db, entity, attrs, start, end, period, methods)


def check_aggregate(
    result: list[dict[str, Any]], buckets: dict[int, list[float]], period: int, end: int
) -> None:
    assert [b["start"] for b in result] == sorted(buckets)
    for b in result:
        vals = buckets[b["start"]]
        assert b["end"] == min(b["start"] + period, end)
        assert b["totalCount"] == len(vals)
        assert b["sum"] == pytest.approx(sum(vals))
        assert b["avg"] == pytest.approx(statistics.fmean(vals))
        assert b["min"] == min(vals) and b["max"] == max(vals)
        want_sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        assert b["stddev"] == pytest.approx(want_sd, rel=1e-6, abs=1e-9)


ALL = ["totalCount", "sum", "avg", "min", "max", "stddev"]
T0 = store.to_ms(utc(2025, 3, 1))


# ------------------------------------------------------------------ reads and aggregation


def test_aggregate_buckets_match_the_values(backend, platform):
    # 5 hours of 7-minute values, a wavy pattern, plus one other attribute and entity that must not leak in
    pts = series(T0, 43, 7 * MIN, lambda i: 20 + 10 * math.sin(i / 3) + (i % 4))
    put(
        platform,
        [(E, "pm25", t, v) for t, v in pts]
        + [(E, "pm10", t, 999.0) for t, _ in pts[:5]]
        + [(E2, "pm25", t, -1.0) for t, _ in pts],
    )
    start, end, period = T0, T0 + 5 * H, H
    result = agg(platform, ["pm25"], start, end, period, ALL)
    assert list(result) == ["pm25"]
    check_aggregate(result["pm25"], expected_buckets(pts, start, end, period), period, end)


def test_aggregate_with_an_unaligned_range_and_a_short_period(backend, platform):
    pts = series(T0, 60, 5 * MIN, lambda i: (i * 37) % 11)
    put(platform, [(E, "pm25", t, v) for t, v in pts])
    start, end, period = T0 + 17 * MIN, T0 + 3 * H + 50 * MIN, 25 * MIN
    result = agg(platform, ["pm25"], start, end, period, ALL + ["distinctCount", "sumsq"])
    buckets = expected_buckets(pts, start, end, period)
    check_aggregate(result["pm25"], buckets, period, end)
    for b in result["pm25"]:
        vals = buckets[b["start"]]
        assert b["distinctCount"] == len(set(vals))
        assert b["sumsq"] == pytest.approx(sum(v * v for v in vals))
    # the last bucket (3:37 .. 4:02) is cut at the end of the range
    assert result["pm25"][-1]["start"] == T0 + 3 * H + 37 * MIN and result["pm25"][-1]["end"] == end
    # only the methods asked for are in the buckets
    only = agg(platform, ["pm25"], start, end, period, ["max"])
    assert set(only["pm25"][0]) == {"start", "end", "max"}


@SQLITE_ONLY
def test_aggregate_skips_empty_buckets_and_attributes(platform):
    pts = [(T0 + 10 * MIN, 1.0), (T0 + 3 * H + 5 * MIN, 3.0), (T0 + 3 * H + 6 * MIN, 5.0)]
    put(platform, [(E, "pm25", t, v) for t, v in pts])
    result = agg(platform, ["pm25", "no2"], T0, T0 + 6 * H, H, ["avg", "totalCount"])
    assert list(result) == ["pm25"]
    assert [(b["start"], b["totalCount"], b["avg"]) for b in result["pm25"]] == [
        (T0, 1, 1.0),
        (T0 + 3 * H, 2, 4.0),
    ]


@SQLITE_ONLY
def test_values_range_limit_and_last(platform):
    pts = series(T0, 20, MIN, lambda i: i)
    put(platform, [(E, "pm25", t, v) for t, v in pts] + [(E, "no2", t, v * 2) for t, v in pts[:3]])
    with platform.system_context(write=False) as ctx:
        got = store.values(ctx.db, E, ["pm25"], T0 + 5 * MIN, T0 + 8 * MIN, limit=100)
        assert got == {
            "pm25": [(T0 + 5 * MIN, 5.0), (T0 + 6 * MIN, 6.0), (T0 + 7 * MIN, 7.0)]
        }  # end excluded
        assert store.values(ctx.db, E, ["pm25"], None, None, limit=2) == {
            "pm25": [(T0, 0.0), (T0 + MIN, 1.0)]
        }
        assert store.values(ctx.db, E, ["pm25"], None, None, limit=2, last=True) == {
            "pm25": [(T0 + 18 * MIN, 18.0), (T0 + 19 * MIN, 19.0)]
        }
        assert set(store.values(ctx.db, E, None, None, None, limit=100)) == {"pm25", "no2"}
        assert store.values(ctx.db, E, ["o3"], None, None, limit=100) == {}
        assert store.latest(ctx.db, E, "pm25") == (T0 + 19 * MIN, 19.0)
        assert store.latest(ctx.db, E, "pm25", before_ms=T0 + 4 * MIN) == (T0 + 3 * MIN, 3.0)
        assert store.latest(ctx.db, E, "o3") is None


def test_insert_values_returns_only_the_new_ones(backend, platform):
    assert sorted(put(platform, [(E, "pm25", T0, 1.0), (E, "pm25", T0 + 1, 2.0)])) == [
        (E, "pm25", T0, 1.0),
        (E, "pm25", T0 + 1, 2.0),
    ]
    new = put(platform, [(E, "pm25", T0, 9.0), (E, "pm25", T0 + 2, 3.0), (E, "pm25", T0 + 2, 4.0)])
    assert new == [(E, "pm25", T0 + 2, 3.0)]
    with platform.system_context(write=False) as ctx:
        assert store.values(ctx.db, E, ["pm25"], None, None, limit=10)["pm25"] == [
            (T0, 1.0),
            (T0 + 1, 2.0),
            (T0 + 2, 3.0),
        ]


def test_insert_values_in_chunks(backend, platform):
    rows = [(E, "pm25", T0 + i * 1000, float(i)) for i in range(4500)]  # more than one 2000-row chunk
    assert len(put(platform, rows)) == 4500
    assert len(put(platform, rows)) == 0


# ------------------------------------------------------------------ compaction (rollups) and retention


def rollups(platform, entity=E) -> list[tuple[str, int, int, float, float, float, float]]:
    with platform.transaction() as db:
        return sorted(
            (a, int(b), n, s, lo, hi, sq)
            for a, b, n, s, lo, hi, sq in db.execute(
                select(
                    Rollup.attribute,
                    Rollup.bucket_ms,
                    Rollup.count,
                    Rollup.sum,
                    Rollup.min,
                    Rollup.max,
                    Rollup.sumsq,
                ).where(Rollup.entity_id == entity, Rollup.period_s == 3600)
            )
        )


def raw_count(platform) -> int:
    with platform.transaction() as db:
        return db.execute(select(func.count()).select_from(Observation)).scalar_one()


def raw(platform, entity=E, attr="pm25") -> list[tuple[int, float]]:
    with platform.system_context(write=False) as ctx:
        return store.values(ctx.db, entity, [attr], None, None, limit=100_000).get(attr, [])


def parts(platform) -> list[str]:
    with platform.transaction() as db:
        return store.partitions(db)


def check_rollup(row, attr: str, bucket: int, vals: list[float]) -> None:
    """A rollup row (from ``rollups``) holds exactly these values' figures."""
    a, b, n, s, lo, hi, sq = row
    assert (a, b, n, lo, hi) == (attr, bucket, len(vals), min(vals), max(vals))
    assert s == pytest.approx(sum(vals)) and sq == pytest.approx(sum(v * v for v in vals))


def test_compact_folds_whole_hours_into_rollups_and_adds_late_values(backend, platform):
    pts = series(T0, 36, 10 * MIN, lambda i: i % 7)  # 6 hours, 6 values an hour
    others = [(E, "pm10", T0 + H + 5 * MIN, 7.0), (E2, "pm25", T0 + 2 * H, -3.0)]  # other series, same hours
    put(platform, [(E, "pm25", t, v) for t, v in pts] + others)
    with platform.system_context() as ctx:
        # [T0+1h, T0+4h+10min): the whole hours T0+1h .. T0+3h; the 10 minutes of T0+4h are a partial hour
        # 5 hourly buckets: 3 of E/pm25, 1 of E/pm10, 1 of E2/pm25; 18 + 2 raw values deleted
        assert store.compact(ctx.db, T0 + H, T0 + 4 * H + 10 * MIN) == (5, 20)
    want = expected_buckets(pts, T0 + H, T0 + 4 * H, H)
    got = rollups(platform)
    assert [(a, b) for a, b, *_ in got] == [("pm10", T0 + H)] + [("pm25", b) for b in sorted(want)]
    check_rollup(got[0], "pm10", T0 + H, [7.0])
    for row in got[1:]:
        check_rollup(row, "pm25", row[1], want[row[1]])
    check_rollup(rollups(platform, E2)[0], "pm25", T0 + 2 * H, [-3.0])
    assert len(rollups(platform, E2)) == 1
    # the folded hours' raw values are gone; the hour before and the partial hour after are untouched
    assert raw(platform) == [(t, v) for t, v in pts if t < T0 + H or t >= T0 + 4 * H]
    assert raw(platform, E, "pm10") == [] and raw(platform, E2) == []

    # late values in an hour already folded: raw until the next compaction, and counted by aggregate meanwhile
    late = [(T0 + H + 1, 100.0), (T0 + H + 2, -5.0)]
    assert put(platform, [(E, "pm25", t, v) for t, v in late]) == [(E, "pm25", t, v) for t, v in late]
    hour1 = want[T0 + H] + [v for _, v in late]
    check_aggregate(agg(platform, ["pm25"], T0 + H, T0 + 2 * H, H, ALL)["pm25"], {T0 + H: hour1}, H, T0 + 2 * H)
    assert [r for r in rollups(platform) if r[1] == T0 + H and r[0] == "pm25"][0][2] == 6
    # the next compaction ADDS them to the hour's rollup (count, sum, sumsq; min and max widened)
    with platform.system_context() as ctx:
        assert store.compact(ctx.db, T0 + H, T0 + 2 * H) == (1, 2)
    got = rollups(platform)
    assert len(got) == 4  # the same row, not a second one
    check_rollup([r for r in got if r[:2] == ("pm25", T0 + H)][0], "pm25", T0 + H, hour1)
    for b in (T0 + 2 * H, T0 + 3 * H):  # the other hours are as they were
        check_rollup([r for r in got if r[:2] == ("pm25", b)][0], "pm25", b, want[b])
    check_aggregate(agg(platform, ["pm25"], T0 + H, T0 + 2 * H, H, ALL)["pm25"], {T0 + H: hour1}, H, T0 + 2 * H)

    # no whole hour in the range: nothing happens
    n = raw_count(platform)
    with platform.system_context() as ctx:
        assert store.compact(ctx.db, T0 + 10, T0 + 20) == (0, 0)
        assert store.compact(ctx.db, T0 + 4 * H + 5 * MIN, T0 + 4 * H + 50 * MIN) == (0, 0)
        assert store.compact(ctx.db, T0 + 10 * H, T0 + 12 * H) == (0, 0)  # whole hours, no values
    assert raw_count(platform) == n and len(rollups(platform)) == 4


def test_compact_is_part_of_the_callers_transaction(backend, platform):
    pts = series(T0, 12, 10 * MIN, lambda i: i)
    put(platform, [(E, "pm25", t, v) for t, v in pts])
    with pytest.raises(RuntimeError):
        with platform.system_context() as ctx:
            assert store.compact(ctx.db, T0, T0 + 2 * H) == (2, 12)
            raise RuntimeError("rolled back")
    assert raw(platform) == pts and rollups(platform) == []


def test_compact_leaves_the_partial_hour_at_the_start_of_its_range_alone(backend, platform):
    """Only the WHOLE hours inside [start, end) are folded: the values of the hour holding an unaligned start
    that lie before the start are outside the range and must stay raw."""
    pts = series(T0, 24, 5 * MIN, lambda i: i)  # two hours
    put(platform, [(E, "pm25", t, v) for t, v in pts])
    with platform.system_context() as ctx:
        assert store.compact(ctx.db, T0 + 30 * MIN, T0 + 2 * H) == (1, 12)  # only T0+1h is whole in the range
    assert raw(platform) == pts[:12]
    assert [b for _, b, *_ in rollups(platform)] == [T0 + H]


def test_a_bucket_spanning_folded_and_raw_hours_counts_all_values(backend, platform):
    pts = series(T0, 18, 10 * MIN, lambda i: 3 + 1.5 * ((i * 7) % 18))  # 3 hours, 18 distinct values
    put(platform, [(E, "pm25", t, v) for t, v in pts])
    with platform.system_context() as ctx:
        assert store.compact(ctx.db, T0 + H, T0 + 2 * H) == (1, 6)  # the middle hour is folded
    assert len(raw(platform)) == 12
    methods = ALL + ["sumsq", "distinctCount"]
    # one 3-hour bucket: two raw hours and one folded
    three = agg(platform, ["pm25"], T0, T0 + 3 * H, 3 * H, methods)["pm25"]
    check_aggregate(three, {T0: [v for _, v in pts]}, 3 * H, T0 + 3 * H)
    assert three[0]["totalCount"] == 18 and three[0]["distinctCount"] == 18
    assert three[0]["sumsq"] == pytest.approx(sum(v * v for _, v in pts))
    # hourly, and 2-hour buckets (raw + folded, then raw alone)
    for period, end in ((H, T0 + 3 * H), (2 * H, T0 + 4 * H)):
        got = agg(platform, ["pm25"], T0, end, period, methods)["pm25"]
        check_aggregate(got, expected_buckets(pts, T0, end, period), period, end)
    # a period that is not a whole number of hours is computed from the raw values only (documented)
    half = agg(platform, ["pm25"], T0, T0 + 3 * H, 30 * MIN, ["totalCount"])["pm25"]
    assert [b["start"] for b in half] == [T0, T0 + 30 * MIN, T0 + 2 * H, T0 + 2 * H + 30 * MIN]



def test_folded_hours_are_never_counted_in_a_bucket_they_do_not_fit(backend, platform):
    """After retention an aggregation over an unaligned range cannot be exact any more; but a bucket must not
    report values from outside it (using a rollup only for hours wholly inside one bucket satisfies this)."""
    h8 = store.to_ms(utc(2025, 1, 20, 8))
    pts = series(h8, 12, 10 * MIN, lambda i: i)  # 08:00 .. 09:50, values 0 .. 11
    put(platform, [(E, "pm25", t, v) for t, v in pts])
    with platform.system_context() as ctx:
        store.drop_before(platform, ctx.db, store.to_ms(utc(2025, 3, 1)), 0)
    assert raw(platform) == []
    for start, end in ((h8 + 30 * MIN, h8 + 2 * H + 30 * MIN), (h8, h8 + H + 30 * MIN)):
        truth = expected_buckets(pts, start, end, H)
        for b in agg(platform, ["pm25"], start, end, H, ["totalCount", "min", "max"]).get("pm25", []):
            vals = truth.get(b["start"], [])
            assert vals and b["totalCount"] <= len(vals), (b, vals)
            assert min(vals) <= b["min"] and b["max"] <= max(vals), (b, vals)


def test_retention_drops_raw_values_and_aggregate_falls_back_to_rollups(backend, platform):
    # values in January and in March 2025 (two monthly partitions on PostgreSQL)
    jan = series(store.to_ms(utc(2025, 1, 20, 8)), 18, 10 * MIN, lambda i: 40 + (i * 13) % 9)
    mar = series(store.to_ms(utc(2025, 3, 5, 8)), 18, 10 * MIN, lambda i: 10 + i)
    put(platform, [(E, "pm25", t, v) for t, v in jan + mar])
    pg = backend == "postgresql"
    assert parts(platform) == (["sens_observation_p202501", "sens_observation_p202503"] if pg else [])
    jan_start, jan_end = jan[0][0], jan[0][0] + 3 * H
    methods = ALL + ["sumsq"]
    before = agg(platform, ["pm25"], jan_start, jan_end, H, methods)
    check_aggregate(before["pm25"], expected_buckets(jan, jan_start, jan_end, H), H, jan_end)
    before3 = agg(platform, ["pm25"], jan_start, jan_end, 3 * H, methods)
    check_aggregate(before3["pm25"], {jan_start: [v for _, v in jan]}, 3 * H, jan_end)

    cutoff = store.to_ms(utc(2025, 2, 15))
    with platform.system_context() as ctx:
        out = store.drop_before(platform, ctx.db, cutoff, store.to_ms(utc(2024, 1, 1)))
    # January is folded into 3 hourly rollups and its 18 raw values are gone (PostgreSQL: its partition)
    assert out == {"partitions_dropped": 1 if pg else 0, "rows_deleted": 18, "rollups_written": 3,
                   "rollups_deleted": 0}
    assert parts(platform) == (["sens_observation_p202503"] if pg else [])
    assert raw(platform) == mar
    assert [b for _, b, *_ in rollups(platform)] == [jan_start, jan_start + H, jan_start + 2 * H]  # March: none
    # the January aggregations come from the rollups now, with the same figures, hourly and 3-hourly
    after = agg(platform, ["pm25"], jan_start, jan_end, H, methods)
    _same(after, before)
    check_aggregate(after["pm25"], expected_buckets(jan, jan_start, jan_end, H), H, jan_end)
    after3 = agg(platform, ["pm25"], jan_start, jan_end, 3 * H, methods)
    _same(after3, before3)
    assert after3["pm25"][0]["totalCount"] == 18

    # a value written into the dropped month again makes its partition again (PostgreSQL) and is stored ...
    assert put(platform, [(E, "pm25", jan_start + 1, 1.0)]) == [(E, "pm25", jan_start + 1, 1.0)]
    assert parts(platform) == (["sens_observation_p202501", "sens_observation_p202503"] if pg else [])
    three = agg(platform, ["pm25"], jan_start, jan_end, 3 * H, ["totalCount", "min"])["pm25"]
    assert [(b["totalCount"], b["min"]) for b in three] == [(19, 1.0)]
    # ... and the next retention run adds it to the existing rollup of its hour
    with platform.system_context() as ctx:
        out = store.drop_before(platform, ctx.db, cutoff, store.to_ms(utc(2024, 1, 1)))
    assert out == {"partitions_dropped": 1 if pg else 0, "rows_deleted": 1, "rollups_written": 1,
                   "rollups_deleted": 0}
    assert parts(platform) == (["sens_observation_p202503"] if pg else [])
    first_hour = [v for t, v in jan if t < jan_start + H] + [1.0]
    check_rollup(rollups(platform)[0], "pm25", jan_start, first_hour)
    assert len(rollups(platform)) == 3
    assert raw(platform) == mar

    # rollups age out too
    with platform.system_context() as ctx:
        out = store.drop_before(platform, ctx.db, cutoff, store.to_ms(utc(2025, 2, 1)))
    assert out == {"partitions_dropped": 0, "rows_deleted": 0, "rollups_written": 0, "rollups_deleted": 3}
    assert rollups(platform) == []
    assert agg(platform, ["pm25"], jan_start, jan_end, H, methods) == {}
    assert raw(platform) == mar


def _same(a: dict, b: dict) -> bool:
    assert set(a) == set(b)
    for attr in b:
        assert len(a[attr]) == len(b[attr])
        for x, y in zip(a[attr], b[attr]):
            assert set(x) == set(y)
            for k in y:
                assert x[k] == pytest.approx(y[k]), (k, x, y)
    return True


def test_a_cutoff_inside_an_hour_keeps_that_whole_hour(backend, platform):
    """The raw cutoff is floored to a whole hour: nothing of the hour holding it is dropped, so its aggregation
    is the whole hour (on PostgreSQL the partition holding the cutoff is kept whole anyway)."""
    pts = series(T0, 24, 5 * MIN, lambda i: i)  # two hours, 12 values each
    put(platform, [(E, "pm25", t, v) for t, v in pts])
    with platform.system_context() as ctx:
        out = store.drop_before(platform, ctx.db, T0 + H + 30 * MIN, 0)
    if backend == "sqlite":  # the first hour is folded, the second (holding the cutoff) kept raw whole
        assert (out["rows_deleted"], out["rollups_written"]) == (12, 1)
        assert raw(platform) == pts[12:]
        check_rollup(rollups(platform)[0], "pm25", T0, [v for _, v in pts[:12]])
    else:  # March holds the cutoff: its partition is kept whole
        assert out == {"partitions_dropped": 0, "rows_deleted": 0, "rollups_written": 0, "rollups_deleted": 0}
        assert raw(platform) == pts and rollups(platform) == []
    got = agg(platform, ["pm25"], T0, T0 + 2 * H, H, ALL)
    check_aggregate(got["pm25"], expected_buckets(pts, T0, T0 + 2 * H, H), H, T0 + 2 * H)
    # one millisecond before the next hour still floors to the hour holding it: nothing more goes
    with platform.system_context() as ctx:
        out = store.drop_before(platform, ctx.db, T0 + 2 * H - 1, 0)
    assert out["rows_deleted"] == 0
    assert raw(platform) == (pts[12:] if backend == "sqlite" else pts)


@PG_ONLY
def test_partitions_are_dropped_when_they_end_at_or_before_the_cutoff(platform):
    feb = series(store.to_ms(utc(2025, 2, 28, 23)), 6, 10 * MIN, lambda i: i)  # the last hour of February
    mar = series(store.to_ms(utc(2025, 3, 1)), 6, 10 * MIN, lambda i: 10 + i)  # the first hour of March
    put(platform, [(E, "pm25", t, v) for t, v in feb + mar])
    mar_ms = store.to_ms(utc(2025, 3, 1))
    with platform.system_context() as ctx:  # 23:59:59.999 floors to 23:00: February does not end before it
        out = store.drop_before(platform, ctx.db, mar_ms - 1, 0)
    assert out["partitions_dropped"] == 0
    assert parts(platform) == ["sens_observation_p202502", "sens_observation_p202503"]
    with platform.system_context() as ctx:  # 00:30 floors to 00:00: February ends at the cutoff, March holds it
        out = store.drop_before(platform, ctx.db, mar_ms + 30 * MIN, 0)
    assert out == {"partitions_dropped": 1, "rows_deleted": 6, "rollups_written": 1, "rollups_deleted": 0}
    assert parts(platform) == ["sens_observation_p202503"]
    assert raw(platform) == mar
    check_rollup(rollups(platform)[0], "pm25", feb[0][0], [v for _, v in feb])


def test_ingest_makes_the_monthly_partitions_it_needs(backend, platform):
    make_sensors(platform)
    out = ingest.ingest(
        platform,
        [
            msg("aq1", aq(utc(2025, 1, 31, 23, 59), pm25=1)),
            msg("aq1", aq(utc(2025, 3, 1, 0, 0), pm25=2)),
            msg("aq1", aq(utc(2025, 5, 9), pm25=1)),
        ],  # clock skew: refused, no partition
        now=utc(2025, 3, 10),
    )
    assert [o.status for o in out] == ["stored", "stored", "rejected"]
    if backend == "postgresql":
        assert parts(platform) == ["sens_observation_p202501", "sens_observation_p202503"]
        with platform.transaction() as db:  # each value sits in its month's partition
            assert db.execute(text("SELECT count(*) FROM sens_observation_p202503")).scalar_one() == 1
    else:
        assert parts(platform) == []
    assert raw_count(platform) == 2


def test_insert_values_makes_partitions_in_the_callers_transaction(backend, platform):
    t = store.to_ms(utc(2024, 7, 4, 12))
    with pytest.raises(RuntimeError):
        with platform.system_context() as ctx:
            assert store.insert_values(ctx.db, [(E, "pm25", t, 1.0)]) == [(E, "pm25", t, 1.0)]
            if backend == "postgresql":
                assert store.partitions(ctx.db) == ["sens_observation_p202407"]
            raise RuntimeError("rolled back")
    assert parts(platform) == [] and raw_count(platform) == 0  # the partition went with the transaction
    assert put(platform, [(E, "pm25", t, 1.0)]) == [(E, "pm25", t, 1.0)]
    assert parts(platform) == (["sens_observation_p202407"] if backend == "postgresql" else [])


def test_ensure_partitions_is_idempotent_and_survives_a_second_platform(backend, platform, settings):
    """Partitions are checked against the catalogue on every write (no per-process cache): a partition made by
    one process is seen by another, and a month dropped by one process's retention is made again by the
    other's next write."""
    from cityai.core.platform import Platform

    pg = backend == "postgresql"
    t = store.to_ms(utc(2024, 12, 10))
    times = [t, t + 1, store.to_ms(utc(2025, 2, 1))]  # December, and the first millisecond of February
    store.ensure_partitions(platform, times)
    store.ensure_partitions(platform, times)  # again: nothing new, no error
    want = ["sens_observation_p202412", "sens_observation_p202502"] if pg else []
    assert parts(platform) == want
    put(platform, [(E, "pm25", t, 1.0)])
    other = Platform(settings, load_entry_points=False)
    other.startup(migrate=False)
    try:
        store.ensure_partitions(other, times)  # made by the first platform: fine
        assert parts(other) == want
        assert put(other, [(E, "pm25", t + 1, 2.0)]) == [(E, "pm25", t + 1, 2.0)]
        with other.system_context() as ctx:
            out = store.drop_before(other, ctx.db, store.to_ms(utc(2025, 2, 1)), 0)
        assert out["rows_deleted"] == 2 and out["partitions_dropped"] == (1 if pg else 0)
        assert raw_count(platform) == 0
        assert parts(platform) == (["sens_observation_p202502"] if pg else [])
        # the first platform's next write into the dropped month makes its partition again
        assert put(platform, [(E, "pm25", t + 2, 3.0)]) == [(E, "pm25", t + 2, 3.0)]
        assert parts(other) == want
        store.ensure_partitions(other, times)  # and the other platform sees it made: nothing to do, no error
        assert raw(other) == [(t + 2, 3.0)]
    finally:
        other.close()


# ------------------------------------------------------------------ maintenance.run


NOW = utc(2025, 6, 1, 12, 0)
NOW_MS = store.to_ms(NOW)


def audits(platform) -> list[AuditEntry]:
    with platform.transaction() as db:
        rows = list(db.execute(select(AuditEntry).where(AuditEntry.action == "sensing.retention")).scalars())
        db.expunge_all()
        return rows


def test_maintenance_folds_aged_out_hours_and_applies_retention(backend, platform):
    s = platform.settings
    assert (s.sensing_raw_retention_days, s.sensing_rollup_retention_days) == (90, 1825)
    pg = backend == "postgresql"
    raw_cutoff = NOW_MS - 90 * store.DAY_MS  # 2025-03-03 12:00
    recent = series(NOW_MS - 5 * H, 30, 10 * MIN, lambda i: i)  # the last 5 hours
    aging = series(raw_cutoff - store.DAY_MS, 12, 10 * MIN, lambda i: 50 + i)  # March 2nd: a day before the cutoff
    old = series(store.to_ms(utc(2025, 2, 10, 8)), 12, 10 * MIN, lambda i: 70 - i)  # February: a whole month before
    ancient_rollup = NOW_MS - 1900 * store.DAY_MS
    put(platform, [(E, "pm25", t, v) for t, v in recent + aging + old])
    with platform.system_context() as ctx:
        ctx.db.add(Rollup(entity_id=E, attribute="pm25", period_s=3600, bucket_ms=ancient_rollup, count=1,
                          sum=1.0, min=1.0, max=1.0, sumsq=1.0))
        for days, detail in ((31, "old"), (29, "new")):
            ctx.db.add(Rejected(received_at=NOW - dt.timedelta(days=days), channel="mqtt", device_id="x",
                                code="malformed", detail=detail))
    windows = [(t0 - t0 % H, t0 - t0 % H + 3 * H) for t0 in (old[0][0], aging[0][0])]
    before = [agg(platform, ["pm25"], a, b, H, ALL) for a, b in windows]
    assert all(before)

    out = maintenance.run(platform, now_ms=NOW_MS)
    # SQLite: every whole hour before the cutoff is folded; PostgreSQL: February's partition only (March holds
    # the cutoff and is kept whole)
    folded = old + aging if backend == "sqlite" else old
    assert out == {"partitions_dropped": 1 if pg else 0, "rows_deleted": len(folded),
                   "rollups_written": len(folded) // 6, "rollups_deleted": 1, "rejected_deleted": 1}
    # rollups exist only for the hours folded away (none for the recent hours), the ancient one is gone
    assert [b for _, b, *_ in rollups(platform)] == sorted({t - t % H for t, _ in folded})
    assert all(r[2] == 6 for r in rollups(platform))
    assert raw(platform) == sorted(p for p in recent + aging + old if p not in folded)
    assert parts(platform) == (["sens_observation_p202503", "sens_observation_p202506"] if pg else [])
    # the aggregations are the same as before
    for (a, b), want in zip(windows, before):
        _same(agg(platform, ["pm25"], a, b, H, ALL), want)
    with platform.system_context(write=False) as ctx:
        assert [r.detail for r in ctx.db.execute(select(Rejected)).scalars()] == ["new"]
    assert len(audits(platform)) == 1
    detail = json.loads(audits(platform)[0].detail)
    assert {k: detail.get(k) for k in out} == out  # the audit entry carries the figures

    # a second run right after changes nothing more, and audits nothing
    again = maintenance.run(platform, now_ms=NOW_MS)
    assert again == {"partitions_dropped": 0, "rows_deleted": 0, "rollups_written": 0, "rollups_deleted": 0,
                     "rejected_deleted": 0}
    assert len(audits(platform)) == 1
    assert len(rollups(platform)) == len(folded) // 6


def test_maintenance_runs_in_one_transaction(backend, platform, monkeypatch):
    pts = series(store.to_ms(utc(2025, 1, 10)), 6, 10 * MIN, lambda i: i)
    put(platform, [(E, "pm25", t, v) for t, v in pts])
    with platform.system_context() as ctx:
        ctx.db.add(Rejected(received_at=NOW - dt.timedelta(days=40), channel="mqtt", device_id="x",
                            code="malformed", detail="old"))
    partitions_before = parts(platform)

    def boom(*a, **kw):
        raise RuntimeError("failed after the retention")

    monkeypatch.setattr(maintenance, "delete", boom)  # the refused-message cleanup, after drop_before
    with pytest.raises(RuntimeError):
        maintenance.run(platform, now_ms=NOW_MS)
    assert raw(platform) == pts and rollups(platform) == [] and parts(platform) == partitions_before
    assert audits(platform) == []
    monkeypatch.undo()
    out = maintenance.run(platform, now_ms=NOW_MS)
    assert (out["rows_deleted"], out["rejected_deleted"]) == (6, 1)


def test_maintenance_keeps_rollups_of_backfilled_values_it_drops(backend, platform):
    """Values up to CITYAI_SENSING_MAX_AGE_DAYS (3650) old are accepted, while raw values are kept for 90 days:
    a backfill of 120-day-old readings is stored, and the next maintenance run must not drop it without
    folding it into the rollups first (that would lose the data silently)."""
    assert platform.settings.sensing_max_age_days == 3650
    sensors = make_sensors(platform)
    t = NOW - dt.timedelta(days=120)
    out = ingest.ingest(
        platform,
        [msg("aq1", aq(t + dt.timedelta(minutes=m), pm25=float(m))) for m in range(0, 60, 10)],
        now=NOW,
    )
    assert [o.status for o in out] == ["stored"] * 6  # accepted: inside the 3650-day limit
    res = maintenance.run(platform, now_ms=NOW_MS)
    assert res["rows_deleted"] == 6
    assert raw(platform, sensors.aq) == []
    start = store.to_ms(t)
    got = agg(platform, ["pm25"], start, start + H, H, ["totalCount", "avg"], entity=sensors.aq)
    assert got == {"pm25": [{"start": start, "end": start + H, "totalCount": 6, "avg": 25.0}]}


def test_a_late_value_into_a_dropped_month_is_added_to_its_rollup(backend, platform):
    """A month already folded and dropped (PostgreSQL: its partition) receives a late value: the write makes
    the partition again, the value counts in the aggregation at once, and the next maintenance run adds it to
    the existing rollup of its hour."""
    pg = backend == "postgresql"
    sensors = make_sensors(platform)
    hour = utc(2025, 1, 20, 8)
    out = ingest.ingest(
        platform, [msg("aq1", aq(hour + dt.timedelta(minutes=m), pm25=float(m))) for m in range(0, 60, 10)],
        now=NOW)
    assert [o.status for o in out] == ["stored"] * 6
    first = maintenance.run(platform, now_ms=NOW_MS)
    assert (first["partitions_dropped"], first["rows_deleted"], first["rollups_written"]) == (int(pg), 6, 1)
    assert parts(platform) == []
    vals = [float(m) for m in range(0, 60, 10)]
    check_rollup(rollups(platform, sensors.aq)[0], "pm25", store.to_ms(hour), vals)

    late = hour + dt.timedelta(minutes=30, seconds=30)
    out = ingest.ingest(platform, [msg("aq1", aq(late, pm25=100.0))], now=NOW)
    assert [o.status for o in out] == ["stored"]
    assert parts(platform) == (["sens_observation_p202501"] if pg else [])
    h = store.to_ms(hour)
    got = agg(platform, ["pm25"], h, h + H, H, ["totalCount", "max"], entity=sensors.aq)
    assert got == {"pm25": [{"start": h, "end": h + H, "totalCount": 7, "max": 100.0}]}

    second = maintenance.run(platform, now_ms=NOW_MS)
    assert (second["partitions_dropped"], second["rows_deleted"], second["rollups_written"]) == (int(pg), 1, 1)
    assert parts(platform) == [] and raw(platform, sensors.aq) == []
    assert len(rollups(platform, sensors.aq)) == 1
    check_rollup(rollups(platform, sensors.aq)[0], "pm25", h, vals + [100.0])  # count 6 -> 7
    assert agg(platform, ["pm25"], h, h + H, H, ["totalCount", "max"], entity=sensors.aq) == got


def test_time_helpers():
    t = utc(2025, 3, 1, 11, 0, 0, 250_000)
    assert store.to_ms(t) == 1740826800250
    assert store.from_ms(1740826800250) == t
    assert store.iso(1740826800000) == "2025-03-01T11:00:00Z"
    assert store.partition_name(utc(2025, 3, 1)) == "sens_observation_p202503"
