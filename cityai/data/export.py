"""Exports of a resource's table (all rows, or a filtered, sorted selection) as CSV, XLSX, JSON or Parquet.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, so a value
such as ``=cmd|' /C calc'!A0`` in open data becomes code on a civil servant's desktop (CSV/formula
injection, OWASP). The exports defuse it:

- CSV: a text value starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
  apostrophe (``'=cmd|...``), the form spreadsheet programs show as text. Values that are only a signed
  number (``-5``, ``+84 28 3829 6052``) are left alone: they are not formulas.
- XLSX: every text value is written as an explicit string cell, which spreadsheet programs never
  evaluate, and is prefixed as in CSV too, so that saving the sheet again as CSV stays safe.
- JSON and Parquet keep the values as they are (no spreadsheet reads them as formulas).

Exports run in DuckDB over the published Parquet file, with the same filters as the datastore, within
a row limit (``CITYAI_EXPORT_MAX_ROWS``) and a time limit (``CITYAI_EXPORT_TIMEOUT_S``). The file is
written to a temporary folder and streamed; the caller deletes it after sending.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cityai.core import authz
from cityai.core.context import Context
from cityai.core.errors import Problem, invalid
from cityai.data import catalog, datastore

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "tsv": ("text/tab-separated-values; charset=utf-8", "tsv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json", "json"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}
XLSX_MAX_ROWS = 1_048_575  # a sheet's rows, less the header
XLSX_MAX_CELL = 32_767  # characters in one cell
# Triggers a spreadsheet formula; a value that is only a signed number is exempt (see the module doc).
DANGEROUS = re.compile(r"^[=+\-@\t\r]")
NUMBER_LIKE = re.compile(r"^[+-]?[0-9][0-9 .,]*$")
SQL_DANGEROUS = r"^[=+\-@\t\r]"
SQL_NUMBER_LIKE = r"^[+-]?[0-9][0-9 .,]*$"


def defuse(value: str) -> str:
    """``value`` made safe to open in a spreadsheet: ``'`` before a formula-like start."""
    if DANGEROUS.match(value) and not NUMBER_LIKE.match(value):
        return "'" + value
    return value


def _defuse_sql(expr: str) -> str:
    return (f"CASE WHEN regexp_matches({expr}, '{SQL_DANGEROUS}') AND NOT regexp_matches({expr}, "
            f"'{SQL_NUMBER_LIKE}') THEN '''' || {expr} ELSE {expr} END")


@dataclass
class Export:
    path: Path
    workdir: Path
    filename: str
    media_type: str
    rows: int
    truncated: bool  # more rows matched than the row limit allowed
    defused: int  # text cells that got the apostrophe (CSV, TSV, XLSX)

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _interrupt_after(con: duckdb.DuckDBPyConnection, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, con.interrupt)
    timer.start()
    return timer


@authz.action("datastore.export", scope="read", auth=catalog._auth_resource_read)
def datastore_export(ctx: Context, *, resource_id: str, format: str = "csv", filters: dict[str, Any] | None = None,
                     q: str | None = None, plain_accents: bool = False, fields: list[str] | None = None,
                     sort: str | None = None, table: str | None = None) -> Export:
    """Write the selected rows of a resource's table to a file in ``format``; the caller streams and cleans it."""
    fmt = str(format or "csv").lower()
    if fmt not in FORMATS:
        raise invalid((f"Định dạng xuất '{format}' không được hỗ trợ.", f"Export format '{format}' is not supported."),
                      field="format", allowed=sorted(FORMATS))
    res, ds, tinfo, path = datastore.resolve_table(ctx, resource_id, table)
    columns = {c["name"]: c["type"] for c in tinfo["columns"]}
    select_cols, where, params, order = datastore.build_query(columns, filters=filters, q=q,
                                                              plain_accents=plain_accents, fields=fields, sort=sort)
    settings = ctx.platform.settings
    max_rows = settings.export_max_rows if fmt != "xlsx" else min(settings.export_max_rows, XLSX_MAX_ROWS)
    spreadsheet = fmt in ("csv", "tsv", "xlsx")
    exprs = []
    for c in select_cols:
        q_c = datastore._quote(c)
        alias = datastore._quote(defuse(c)) if spreadsheet else q_c  # a header can carry a formula too
        exprs.append(f"{_defuse_sql(q_c)} AS {alias}" if spreadsheet and columns[c] in ("text", "geometry")
                     else f"{q_c} AS {alias}")
    src = f"read_parquet({_literal(str(path))})"
    # COPY and views cannot take prepared parameters: the (string) values go in as quoted literals
    where_sql = _inline((" WHERE " + " AND ".join(where)) if where else "", params)
    params = []
    query = (f"SELECT {', '.join(exprs)} FROM {src}{where_sql}"
             + (f" ORDER BY {', '.join(order)}" if order else "") + f" LIMIT {max_rows + 1}")
    tmp_root = settings.home / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=tmp_root, prefix="export-"))
    out = workdir / f"data.{FORMATS[fmt][1]}"
    con = duckdb.connect(config={"threads": 2, "memory_limit": "1GB"})
    timer = _interrupt_after(con, settings.export_timeout_s)
    try:
        con.execute(f"CREATE TEMP VIEW export_rows AS {query}", params)
        matched = con.execute("SELECT count(*) FROM export_rows").fetchone()[0]
        truncated = matched > max_rows
        body = f"SELECT * FROM export_rows LIMIT {max_rows}"
        defused = 0
        text_cols = [c for c in select_cols if columns[c] in ("text", "geometry")]
        if spreadsheet and text_cols:  # how many cells this export changes, told to the caller
            hits = " + ".join(f"CASE WHEN regexp_matches({datastore._quote(c)}, '{SQL_DANGEROUS}') AND NOT "
                              f"regexp_matches({datastore._quote(c)}, '{SQL_NUMBER_LIKE}') THEN 1 ELSE 0 END"
                              for c in text_cols)
            inner = (f"SELECT {', '.join(datastore._quote(c) for c in text_cols)} FROM {src}{where_sql}"
                     + (f" ORDER BY {', '.join(order)}" if order else "") + f" LIMIT {max_rows}")
            defused = int(con.execute(f"SELECT sum({hits}) FROM ({inner})", params).fetchone()[0] or 0)
        target = str(out).replace("'", "''")
        if fmt == "csv":
            con.execute(f"COPY ({body}) TO '{target}' (FORMAT CSV, HEADER true, DELIMITER ',')")
        elif fmt == "tsv":
            con.execute(f"COPY ({body}) TO '{target}' (FORMAT CSV, HEADER true, DELIMITER '\t')")
        elif fmt == "json":
            con.execute(f"COPY ({body}) TO '{target}' (FORMAT JSON, ARRAY true)")
        elif fmt == "parquet":
            con.execute(f"COPY ({body}) TO '{target}' (FORMAT PARQUET, COMPRESSION zstd)")
        else:
            _write_xlsx(con, body, out, [defuse(c) for c in select_cols], sheet=tinfo["name"])
        rows = min(matched, max_rows)
    except duckdb.InterruptException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise Problem(408, "query-timeout", datastore.T_TIMEOUT,
                      (f"Xuất dữ liệu chạy quá {settings.export_timeout_s:g} giây và đã bị dừng; hãy lọc bớt.",
                       f"The export ran past {settings.export_timeout_s:g} s and was stopped; filter it down."),
                      timeout_s=settings.export_timeout_s) from None
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        timer.cancel()
        con.close()
    if fmt in ("csv", "tsv"):
        _prepend_bom(out)  # Excel on Windows reads UTF-8 Vietnamese text correctly only with the BOM
    base = catalog.safe_filename(f"{res.name or res.id}")
    base = base.rsplit(".", 1)[0] if "." in base else base
    catalog.audit_read(ctx, ds, "datastore.export", "resource", res.id, format=fmt, rows=rows, truncated=truncated)
    return Export(out, workdir, f"{base}.{FORMATS[fmt][1]}", FORMATS[fmt][0], rows, truncated, defused)


def _literal(value: str) -> str:
    """A DuckDB string literal (standard SQL quoting: no backslash escapes)."""
    if "\x00" in value:
        raise invalid(("Giá trị không được chứa ký tự NUL.", "Values must not contain NUL characters."),
                      field="filters")
    return "'" + value.replace("'", "''") + "'"


def _inline(sql: str, params: list[Any]) -> str:
    """``sql`` with each ``?`` placeholder replaced by its parameter as a literal (build_query's are strings)."""
    parts = sql.split("?")
    if len(parts) != len(params) + 1:  # a '?' inside an identifier: never produced by build_query
        raise invalid(("Tên cột không được chứa '?'.", "Column names must not contain '?'."), field="fields")
    out = [parts[0]]
    for value, rest in zip(params, parts[1:]):
        out.append(_literal(str(value)) + rest)
    return "".join(out)


def _prepend_bom(path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".bom")
    with open(tmp, "wb") as dst, open(path, "rb") as src:
        dst.write(b"\xef\xbb\xbf")
        shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(path)


def _write_xlsx(con: duckdb.DuckDBPyConnection, body: str, out: Path, names: list[str], *, sheet: str) -> None:
    """Stream rows into a write-only workbook; text is written as explicit string cells (never formulas)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(re.sub(r"[\[\]:*?/\\]", "_", sheet)[:31] or "data")

    def text_cell(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws)
        cell.value = value[:XLSX_MAX_CELL]
        cell.data_type = "s"  # openpyxl makes "=..." a formula ("f"); an explicit string is never evaluated
        return cell

    ws.append([text_cell(n) for n in names])
    cur = con.execute(body)
    while batch := cur.fetchmany(5000):
        for row in batch:
            out_row: list[Any] = []
            for value in row:
                if isinstance(value, str):
                    out_row.append(text_cell(value))
                elif hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
                    out_row.append(value.replace(tzinfo=None))  # Excel has no time zones
                else:
                    out_row.append(value)
            ws.append(out_row)
    wb.save(out)
