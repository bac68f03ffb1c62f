"""The datastore: filter, sort, page, search and select fields of a resource's current lake table.

Queries run in DuckDB over the Parquet file of the published version, with every identifier checked
against the table's columns and every value passed as a parameter; a timer interrupts queries that
run past the time limit.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

from cityai.core import authz
from cityai.core.context import Context
from cityai.core.errors import Problem, invalid
from cityai.data import catalog, lake

MAX_LIMIT = 32_000
DEFAULT_TIMEOUT_S = 2.0
T_TIMEOUT = ("Truy vấn quá thời gian", "Query timed out")


def _json_value(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def run_with_timeout(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], timeout_s: float,
                     max_rows: int) -> tuple[list[str], list[tuple]]:
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        cur = con.execute(sql, params)
        names = [d[0] for d in cur.description]
        rows = cur.fetchmany(max_rows)
        return names, rows
    except duckdb.InterruptException:
        raise Problem(408, "query-timeout", T_TIMEOUT,
                      (f"Truy vấn chạy quá {timeout_s:g} giây và đã bị dừng.",
                       f"The query ran past {timeout_s:g} s and was stopped."), timeout_s=timeout_s) from None
    finally:
        timer.cancel()


def resolve_table(ctx: Context, resource_id: str, table: str | None = None) -> tuple[Any, Any, dict, Path]:
    res, ds = catalog.get_resource(ctx, resource_id)
    tables = lake.current_tables(ctx, res)
    if not tables:
        raise Problem(404, "not-found", ("Không tìm thấy", "Not found"),
                      ("Tài nguyên chưa có dữ liệu trong kho (chưa tải lên hoặc đang nạp).",
                       "The resource has no data in the datastore yet (not uploaded, or still ingesting)."))
    chosen = tables[0] if table is None else next((t for t in tables if t["name"] == table), None)
    if chosen is None:
        raise invalid((f"Không có bảng '{table}'.", f"No table '{table}'."), field="table",
                      allowed=[t["name"] for t in tables])
    path = ctx.platform.storage.local_path(chosen["key"])
    return res, ds, chosen, path


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fold(expr: str) -> str:
    """Lower-case, drop Vietnamese tone and vowel marks and map đ to d, for accent-insensitive search."""
    return f"replace(strip_accents(lower({expr})), 'đ', 'd')"


def fold_text(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in text if unicodedata.category(c) != "Mn").replace("đ", "d")


SORT_RE = re.compile(r'^\s*"?([^",]+?)"?\s*(asc|desc)?\s*$', re.IGNORECASE)


def build_query(columns: dict[str, str], *, filters: dict[str, Any] | None = None, q: str | None = None,
                plain_accents: bool = False, fields: list[str] | None = None,
                sort: str | None = None) -> tuple[list[str], list[str], list[Any], list[str]]:
    """Checked pieces of a query over a table with ``columns``: (selected columns, WHERE terms, params, ORDER BY).

    Every identifier is checked against ``columns``; every value becomes a parameter.
    """
    select_cols = fields or list(columns)
    unknown = [f for f in select_cols if f not in columns]
    if unknown:
        raise invalid((f"Không có cột: {', '.join(map(str, unknown))}.", f"Unknown fields: {', '.join(map(str, unknown))}."),
                      field="fields", available=list(columns))
    where, params = [], []
    for col, value in (filters or {}).items():
        if col not in columns:
            raise invalid((f"Không có cột '{col}' để lọc.", f"Unknown filter field '{col}'."), field="filters",
                          available=list(columns))
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > 1000:
            raise invalid(("Bộ lọc phải có từ 1 đến 1000 giá trị.", "A filter needs 1 to 1000 values."),
                          field="filters")
        if any(isinstance(v, (dict, list)) for v in values):
            raise invalid(("Giá trị lọc phải là số, chuỗi hoặc null.", "Filter values must be scalars."),
                          field="filters")
        parts = []
        for v in values:
            if v is None:
                parts.append(f"{_quote(col)} IS NULL")
            else:
                parts.append(f"CAST({_quote(col)} AS VARCHAR) = ?")
                params.append(str(v).lower() if isinstance(v, bool) else str(v))
        where.append("(" + " OR ".join(parts) + ")")
    if q:
        text_cols = [c for c, t in columns.items() if t in ("text", "geometry")] or list(columns)
        haystack = "concat_ws(' ', " + ", ".join(f"CAST({_quote(c)} AS VARCHAR)" for c in text_cols) + ")"
        if plain_accents:
            where.append(f"{_fold(haystack)} LIKE ? ESCAPE '\\'")
            term = fold_text(str(q))
        else:
            where.append(f"{haystack} ILIKE ? ESCAPE '\\'")
            term = str(q)
        params.append("%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    order = []
    if sort:
        for part in str(sort).split(","):
            m = SORT_RE.match(part)
            if not m or m.group(1) not in columns:
                raise invalid((f"Không sắp xếp được theo '{part.strip()}'.", f"Cannot sort by '{part.strip()}'."),
                              field="sort", available=list(columns))
            order.append(f"{_quote(m.group(1))} {(m.group(2) or 'asc').upper()} NULLS LAST")
    return select_cols, where, params, order


@authz.action("datastore.search", scope="read", auth=catalog._auth_resource_read)
def datastore_search(ctx: Context, *, resource_id: str, filters: dict[str, Any] | None = None, q: str | None = None,
                     plain_accents: bool = False, fields: list[str] | None = None, sort: str | None = None,
                     limit: int = 100, offset: int = 0, include_total: bool = True, table: str | None = None,
                     timeout_s: float | None = None) -> dict[str, Any]:
    """Rows of a resource's table: filters (column = value or any of a list), full-text ``q``, sort, page.

    ``plain_accents`` makes ``q`` ignore Vietnamese diacritics ("ben thanh" finds "Bến Thành").
    """
    res, ds, tinfo, path = resolve_table(ctx, resource_id, table)
    columns = {c["name"]: c["type"] for c in tinfo["columns"]}
    if not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise invalid((f"limit phải từ 0 đến {MAX_LIMIT}.", f"limit must be between 0 and {MAX_LIMIT}."),
                      field="limit")
    if not isinstance(offset, int) or offset < 0:
        raise invalid(("offset không được âm.", "offset must not be negative."), field="offset")
    select_cols, where, params, order = build_query(columns, filters=filters, q=q, plain_accents=plain_accents,
                                                    fields=fields, sort=sort)
    where_sql = (" WHERE " + " AND ".join(where)) if where else ""
    timeout = timeout_s or ctx.platform.settings.query_timeout_s
    con = duckdb.connect(config={"threads": 2, "memory_limit": "512MB"})
    try:
        base = f"FROM read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"
        started = time.perf_counter()
        sql = (f"SELECT {', '.join(_quote(c) for c in select_cols)} {base}{where_sql}"
               + (f" ORDER BY {', '.join(order)}" if order else "") + " LIMIT ? OFFSET ?")
        names, rows = run_with_timeout(con, sql, params + [limit, offset], timeout, limit)
        total = None
        if include_total:
            _n, trows = run_with_timeout(con, f"SELECT count(*) {base}{where_sql}", params, timeout, 1)
            total = trows[0][0]
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        con.close()
    catalog.audit_read(ctx, ds, "datastore.search", "resource", res.id, rows=len(rows))
    return {
        "resource_id": res.id,
        "table": tinfo["name"],
        "fields": [{"id": c, "type": columns[c]} for c in select_cols],
        "records": [{n: _json_value(v) for n, v in zip(names, row)} for row in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
        "elapsed_ms": round(elapsed, 2),
    }


def _auth_sql(ctx: Context, **_: Any) -> bool:
    return True  # the action itself checks read permission on every table the query touches


@authz.action("datastore.sql", scope="read", auth=_auth_sql)
def datastore_sql(ctx: Context, *, sql: str, row_limit: int | None = None) -> dict[str, Any]:
    """Run one read-only SELECT over resources' tables (named by resource id), each permission-checked.

    The query is validated (one SELECT, allowed functions only, plain table names) and runs in a
    locked DuckDB that can read only the permitted tables' files, within the time and row limits.
    """
    from cityai.data import access, sql as sqlmod

    try:
        names = sqlmod.referenced_tables(sql)
    except sqlmod.SqlError as exc:
        raise exc.to_problem() from None
    tables: dict[str, Path] = {}
    for name in sorted(names):
        try:
            res, ds = catalog.get_resource(ctx, name)
        except Problem:
            raise Problem(404, "not-found", ("Không tìm thấy", "Not found"),
                          (f"Không có bảng (tài nguyên) '{name}'.", f"No table (resource) '{name}'."),
                          table=name) from None
        if not access.can_read(ctx, ds, res.id):
            from cityai.core import audit

            audit.record_denied(ctx, "datastore.sql", res.id)
            raise authz.forbidden("datastore.sql")
        current = lake.current_tables(ctx, res)
        if not current:
            raise Problem(404, "not-found", ("Không tìm thấy", "Not found"),
                          (f"Tài nguyên '{name}' chưa có dữ liệu.", f"Resource '{name}' has no data yet."),
                          table=name)
        tables[name] = ctx.platform.storage.local_path(current[0]["key"])
        catalog.audit_read(ctx, ds, "datastore.sql", "resource", res.id)
    limit = min(row_limit or ctx.platform.settings.query_max_rows, ctx.platform.settings.query_max_rows)
    try:
        result = sqlmod.run_sql(sql, tables, timeout_s=ctx.platform.settings.query_timeout_s, row_limit=limit)
    except sqlmod.SqlError as exc:
        raise exc.to_problem() from None
    return {"fields": [{"id": c, "type": t} for c, t in zip(result.columns, result.types)],
            "records": [dict(zip(result.columns, row)) for row in result.rows],
            "truncated": result.truncated, "elapsed_ms": round(result.elapsed_ms, 2)}
