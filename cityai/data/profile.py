"""Per-column quality profile of a lake table: rows, nulls, distinct values, min/max, histograms.

Computed once, at ingest, over the Parquet file just written (two DuckDB passes: aggregates, then the
histograms), and kept with the version so that pages and the API show it without touching the data.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import duckdb

BINS = 10
TOP = 10


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, float) and v != v:  # NaN
        return None
    return v


def compute(con: duckdb.DuckDBPyConnection, relation: str, columns: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"rows", "columns": {name: {...}}}`` for ``relation`` (a DuckDB table expression)."""
    aggs = ["count(*)"]
    for c in columns:
        n, t = _q(c["name"]), c["type"]
        aggs.append(f"count({n})")
        aggs.append(f"approx_count_distinct({n})")
        if t in ("integer", "number", "date", "timestamp"):
            aggs += [f"min({n})", f"max({n})"]
        elif t == "boolean":
            aggs += [f"count(*) FILTER (WHERE {n})", f"count(*) FILTER (WHERE NOT {n})"]
        else:
            aggs += [f"min(length({n}))", f"max(length({n}))"]
        aggs.append(f"avg({n})" if t in ("integer", "number") else "NULL")
    row = con.execute(f"SELECT {', '.join(aggs)} FROM {relation}").fetchone()
    total = int(row[0])
    out: dict[str, Any] = {"rows": total, "columns": {}}
    i = 1
    for c in columns:
        nonnull, distinct, a, b, mean = row[i:i + 5]
        i += 5
        p: dict[str, Any] = {"type": c["type"], "nulls": total - int(nonnull), "distinct": int(distinct or 0)}
        if c["type"] in ("integer", "number", "date", "timestamp"):
            p["min"], p["max"] = _json(a), _json(b)
            if mean is not None:
                p["mean"] = round(float(mean), 6)
        elif c["type"] == "boolean":
            p["true"], p["false"] = int(a), int(b)
        else:
            p["min_length"], p["max_length"] = a, b
        out["columns"][c["name"]] = p
    for c in columns:
        p = out["columns"][c["name"]]
        if total == p["nulls"]:
            continue
        if c["type"] in ("integer", "number") and p["min"] != p["max"]:
            p["histogram"] = _numeric_histogram(con, relation, c["name"], float(p["min"]), float(p["max"]))
        elif c["type"] in ("date", "timestamp") and p["min"] != p["max"]:
            p["histogram"] = _time_histogram(con, relation, c["name"])
        elif c["type"] != "geometry":
            p["top"] = _top_values(con, relation, c["name"])
    return out


def _numeric_histogram(con: duckdb.DuckDBPyConnection, relation: str, name: str, lo: float,
                       hi: float) -> list[dict[str, Any]]:
    width = (hi - lo) / BINS
    n = _q(name)
    rows = con.execute(f"SELECT least(CAST(floor((CAST({n} AS DOUBLE) - ?) / ?) AS INTEGER), {BINS - 1}) AS b, "
                       f"count(*) FROM {relation} WHERE {n} IS NOT NULL GROUP BY b ORDER BY b", [lo, width]).fetchall()
    counts = dict(rows)
    return [{"from": round(lo + k * width, 6), "to": round(lo + (k + 1) * width, 6), "count": int(counts.get(k, 0))}
            for k in range(BINS)]


def _time_histogram(con: duckdb.DuckDBPyConnection, relation: str, name: str) -> list[dict[str, Any]]:
    n = _q(name)
    span = con.execute(f"SELECT date_diff('day', min({n}), max({n})) FROM {relation}").fetchone()[0] or 0
    unit = "hour" if span <= 2 else "day" if span <= 92 else "month" if span <= 366 * 5 else "year"
    rows = con.execute(f"SELECT date_trunc('{unit}', {n}) AS b, count(*) FROM {relation} WHERE {n} IS NOT NULL "
                       f"GROUP BY b ORDER BY b LIMIT 400").fetchall()
    return [{"from": _json(b), "unit": unit, "count": int(k)} for b, k in rows]


def _top_values(con: duckdb.DuckDBPyConnection, relation: str, name: str) -> list[dict[str, Any]]:
    n = _q(name)
    rows = con.execute(f"SELECT CAST({n} AS VARCHAR) AS v, count(*) AS k FROM {relation} WHERE {n} IS NOT NULL "
                       f"GROUP BY v ORDER BY k DESC, v LIMIT {TOP}").fetchall()
    return [{"value": v if len(v) <= 200 else v[:200] + "…", "count": int(k)} for v, k in rows]
