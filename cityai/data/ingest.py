"""Turn an uploaded file into typed Parquet tables: the lake's one ingest path.

Formats: CSV/TSV (UTF-8 with or without BOM, UTF-16/32, Windows-1258 and the other single-byte code
pages Vietnamese spreadsheets come in), XLSX (every sheet a table), JSON (an array of objects, newline
delimited records, or an object wrapping one such array), GeoJSON (a FeatureCollection: properties as
columns, the geometry as GeoJSON text) and Parquet.

Nothing is held in memory whole: text is transcoded to UTF-8 (NFC) in chunks, spreadsheets are read in
openpyxl's streaming mode, and DuckDB reads the staged file and writes Parquet out of core.

Type inference never breaks a load (CKAN's best-known pain). Every column is read as text first; one
aggregate pass over *all* the rows counts which values parse as integer, number (English ``1,234.5`` or
Vietnamese ``1.234,5``), boolean (true/false, có/không ...), date (ISO or dd/mm/yyyy) or timestamp, and a
column gets a type only when every non-empty value parses; otherwise it stays text. Codes with leading
zeros (``0901234567``, ``00123``) stay text. A steward's override (``schema``) wins; values that do not
fit it become empty, and the count is reported as a warning, never as a failed load.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb

ProgressFn = Callable[[float, str], Any]

TYPES = ("integer", "number", "boolean", "date", "timestamp", "text", "geometry")
FORMATS = ("csv", "tsv", "xlsx", "json", "geojson", "parquet")
NULL_TOKENS = ("", "na", "n/a", "null", "none", "nan", "#n/a")
TRUE_TOKENS = ("true", "t", "yes", "y", "có", "co", "đúng", "dung")
FALSE_TOKENS = ("false", "f", "no", "n", "không", "khong", "sai")
DELIMITERS = (",", ";", "\t", "|")

# XLSX are zip files: refuse archives that expand past these (zip bombs).
MAX_XLSX_EXPANDED = 4 * 1024 * 1024 * 1024
MAX_XLSX_RATIO = 200
MAX_GEOJSON_BYTES = 512 * 1024 * 1024
MAX_COLUMNS = 2000
SAMPLE_BYTES = 1 << 20
CHUNK_CHARS = 1 << 20

# Value shapes (RE2 syntax, matched against the trimmed value).
RE_INT = r"[+-]?\d+"
RE_LEADING_ZERO = r"[+-]?0\d+"
RE_EN_NUM = r"[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?([eE][+-]?\d+)?|[+-]?\.\d+"
RE_VI_NUM = r"[+-]?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?"
# Values only one convention reads: a comma decimal that is not a thousands group, or several dot groups
# (Vietnamese); a dot decimal that is not a thousands group, or several comma groups (English).
# "1.234" and "2,000" read both ways.
RE_VI_ONLY = (r"[+-]?\d+,(\d{1,2}|\d{4,})|[+-]?\d{4,},\d+|[+-]?\d{1,3}(\.\d{3}){2,}(,\d+)?"
              r"|[+-]?\d{1,3}(\.\d{3})+,\d+")
RE_EN_ONLY = (r"[+-]?\d+\.(\d{1,2}|\d{4,})|[+-]?\d{4,}\.\d+|[+-]?\d{1,3}(,\d{3}){2,}(\.\d+)?"
              r"|[+-]?\d{1,3}(,\d{3})+\.\d+|[+-]?\d*\.\d+[eE][+-]?\d+")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")
TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
              "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
              "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M")
RE_DATE_SHAPE = r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
RE_TS_SHAPE = r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"


class IngestError(Exception):
    """A file that cannot be read, with the reason in Vietnamese and English."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(en)
        self.vi, self.en = vi, en


@dataclass
class Column:
    name: str  # the column's name in the table
    type: str  # one of TYPES
    source: str | None = None  # the header as written in the file, when it differs
    format: str | None = None  # how text became the type: "vi" numbers, "dd/mm/yyyy" dates ...
    inferred: str | None = None  # the inferred type, when a steward's override replaced it


@dataclass
class Table:
    name: str
    path: Path
    rows: int
    columns: list[Column]
    profile: dict[str, Any] | None = None  # see cityai.data.profile


@dataclass
class IngestResult:
    tables: list[Table]
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ entry point


def ingest(src: Path, out: Path, *, fmt: str | None = None, filename: str = "",
           schema: dict[str, str] | None = None, progress: ProgressFn | None = None) -> IngestResult:
    """Read ``src`` (format from ``fmt``, else the file name, else the content) into Parquet files in ``out``."""
    report = progress or (lambda pct, msg: None)
    src, out = Path(src), Path(out)
    if not src.exists() or src.stat().st_size == 0:
        raise IngestError("Tệp rỗng.", "The file is empty.")
    kind = detect_format(src, fmt, filename)
    stem = table_name(Path(filename or src.name).stem)
    result = IngestResult(tables=[])
    con = _connect(out)
    try:
        if kind in ("csv", "tsv"):
            report(2, "Đang nhận dạng bảng mã / Detecting the encoding")
            staged, result.encoding = transcode(src, out / "_staged.csv", report)
            result.tables.append(_from_csv(con, staged, out, stem, schema, result.warnings, report,
                                           delimiter="\t" if kind == "tsv" else None))
            staged.unlink(missing_ok=True)
        elif kind == "xlsx":
            _from_xlsx(con, src, out, schema, result, report)
        elif kind == "geojson":
            result.encoding = "utf-8"
            result.tables.append(_from_geojson(con, src, out, stem, schema, result.warnings, report))
        elif kind == "json":
            result.encoding = "utf-8"
            result.tables.append(_from_json(con, src, out, stem, schema, result.warnings, report))
        elif kind == "parquet":
            result.tables.append(_from_parquet(con, src, out, stem, schema, result.warnings, report))
    finally:
        con.close()
    report(100, "Xong / Done")
    return result


def detect_format(src: Path, fmt: str | None, filename: str) -> str:
    """The format named by ``fmt`` or the file's extension, checked against the file's first bytes."""
    wanted = (fmt or "").strip().lower().lstrip(".") or Path(filename or src.name).suffix.lower().lstrip(".")
    wanted = {"txt": "csv", "xls": "xlsx", "jsonl": "json", "ndjson": "json", "pq": "parquet"}.get(wanted, wanted)
    with open(src, "rb") as fh:
        head = fh.read(8)
        fh.seek(-4 if src.stat().st_size >= 4 else 0, io.SEEK_END)
        tail = fh.read(4)
    if head.startswith(b"PAR1"):
        if tail != b"PAR1":
            raise IngestError("Tệp Parquet bị cắt cụt hoặc hỏng.", "The Parquet file is truncated or corrupt.")
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise IngestError("Tệp Excel 97-2003 (.xls) chưa được hỗ trợ: hãy lưu lại dưới dạng .xlsx hoặc .csv.",
                          "Excel 97-2003 (.xls) files are not supported: save the sheet as .xlsx or .csv.")
    if wanted in ("parquet", "xlsx"):
        raise IngestError(f"Nội dung tệp không phải định dạng {wanted.upper()} (tệp hỏng hoặc sai phần mở rộng).",
                          f"The file's content is not {wanted.upper()} (corrupt, or the wrong extension).")
    if wanted in ("json", "geojson"):
        return "geojson" if wanted == "geojson" or _looks_like_geojson(src) else "json"
    if wanted in ("csv", "tsv"):
        return wanted
    if not wanted:
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if first in (b"{", b"["):
            return "geojson" if _looks_like_geojson(src) else "json"
        return "csv"
    raise IngestError(f"Định dạng '{wanted}' chưa được hỗ trợ (hỗ trợ: {', '.join(FORMATS)}).",
                      f"The format '{wanted}' is not supported (supported: {', '.join(FORMATS)}).")


def _looks_like_geojson(src: Path) -> bool:
    with open(src, "rb") as fh:
        head = fh.read(4096).decode("utf-8", "ignore")
    return bool(re.search(r'"type"\s*:\s*"FeatureCollection"', head))


def table_name(name: str) -> str:
    text = unicodedata.normalize("NFC", name or "").strip()
    text = re.sub(r"[\x00-\x1f\\/:*?\"<>|]+", "_", text)[:100].strip(" ._")
    return text or "data"


def _connect(out: Path) -> duckdb.DuckDBPyConnection:
    spill = out / "_spill"
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"threads": 2, "memory_limit": "1GB", "temp_directory": str(spill),
                                 "preserve_insertion_order": True})
    return con


# ------------------------------------------------------------------ text: encodings and transcoding

COMMON_ENCODINGS = ["cp1258", "cp1252", "latin_1", "utf_16", "utf_32", "cp1250", "iso8859_15", "gb18030",
                    "big5", "shift_jis", "euc_kr", "cp1251", "koi8_r"]
VI_MARKERS = set("ăâđêôơưĂÂĐÊÔƠƯ") | {chr(c) for c in range(0x1EA0, 0x1EFA)} | {"\u0300", "\u0301", "\u0303",
                                                                                 "\u0309", "\u0323"}


def _vietnamese_score(text: str) -> float:
    letters = sum(1 for c in text if c.isalpha())
    if not letters:
        return 0.0
    nfd = unicodedata.normalize("NFC", text)
    return sum(1 for c in nfd if c in VI_MARKERS) / letters


def detect_encoding(sample: bytes) -> str:
    """The encoding of a text sample: BOM, then strict UTF-8, then the best single-byte or UTF-16 guess."""
    for bom, name in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                      (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if sample.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if sample[1::2].count(0) > len(sample) // 4 and sample[0::2].count(0) < len(sample) // 8:
        return "utf-16-le"
    if sample[0::2].count(0) > len(sample) // 4 and sample[1::2].count(0) < len(sample) // 8:
        return "utf-16-be"
    # Single-byte code pages decode any byte, and detectors rarely choose cp1258 (they guessed hp_roman8 for
    # a Vietnamese sample here). Vietnamese read as cp1258 shows đ, ư, ơ and tone marks; read as anything
    # else it shows stray symbols. Prefer cp1258 whenever it reads as Vietnamese.
    if _vietnamese_score(sample.decode("cp1258", "replace")) > 0.02:
        return "cp1258"
    from charset_normalizer import from_bytes

    best = from_bytes(sample[:SAMPLE_BYTES], cp_isolation=COMMON_ENCODINGS).best()
    return best.encoding if best is not None else "cp1252"


def transcode(src: Path, dest: Path, report: ProgressFn) -> tuple[Path, str]:
    """Copy a text file to UTF-8 in Unicode NFC, chunk by chunk; returns (dest, the source encoding)."""
    size = src.stat().st_size
    with open(src, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    encoding = detect_encoding(sample)
    try:
        _transcode(src, dest, encoding, size, report)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8":
            raise IngestError(f"Không đọc được tệp theo bảng mã {encoding}: {exc.reason} ở byte {exc.start}.",
                              f"The file cannot be read as {encoding}: {exc.reason} at byte {exc.start}.") from None
        # Valid UTF-8 at the start, not further on: decide again over the whole file, as a single-byte page.
        encoding = "cp1258" if _vietnamese_score(sample.decode("cp1258", "replace")) > 0.02 else "cp1252"
        _transcode(src, dest, encoding, size, report)
    return dest, encoding


def _transcode(src: Path, dest: Path, encoding: str, size: int, report: ProgressFn) -> None:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    carry = ""
    done = 0
    with open(src, "rb") as fin, open(dest, "w", encoding="utf-8", newline="") as fout:
        while True:
            raw = fin.read(CHUNK_CHARS)
            final = not raw
            text = carry + decoder.decode(raw, final=final)
            if final:
                carry = ""
            else:  # keep the last line back: a combining mark may follow in the next chunk
                cut = text.rfind("\n") + 1
                text, carry = text[:cut], text[cut:]
            if text:
                if "\x00" in text:
                    raise IngestError("Tệp chứa ký tự NUL: đây không phải tệp văn bản (CSV).",
                                      "The file holds NUL characters: it is not a text (CSV) file.")
                if not unicodedata.is_normalized("NFC", text):
                    text = unicodedata.normalize("NFC", text)
                fout.write(text)
            if final:
                break
            done += len(raw)
            report(2 + 28 * done / max(size, 1), f"Chuyển mã / Transcoding {done >> 20} MiB")


def sniff_dialect(path: Path, delimiter: str | None = None) -> tuple[str, list[str]]:
    """(delimiter, header names) from the first lines of a UTF-8 CSV file; ``delimiter`` forces one."""
    with open(path, encoding="utf-8", newline="") as fh:
        sample = fh.read(64 * 1024)
    sample = sample.lstrip("\ufeff")
    lines = sample.splitlines()
    if len(sample) == 64 * 1024 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    lines = [ln for ln in lines[:50] if ln.strip()]
    if not lines:
        raise IngestError("Tệp không có dòng tiêu đề.", "The file has no header line.")
    best, best_score = ",", (-1, 0)
    for d in (delimiter,) if delimiter else DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=d, quotechar='"')]
        if not counts or (counts[0] < 2 and not delimiter):
            continue
        consistent = sum(1 for c in counts if c == counts[0])
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = d, score
    header = next(csv.reader([lines[0]], delimiter=best, quotechar='"'))
    return best, header


def clean_names(header: Iterable[Any]) -> tuple[list[str], list[str | None]]:
    """Unique, non-empty column names (NFC, trimmed); and the original header where it changed."""
    names: list[str] = []
    sources: list[str | None] = []
    seen: set[str] = set()
    for i, raw in enumerate(header):
        original = "" if raw is None else str(raw)
        name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", original)).strip()[:300] or f"column_{i + 1}"
        base, n = name, 2
        while name.lower() in seen:
            name = f"{base}_{n}"
            n += 1
        seen.add(name.lower())
        names.append(name)
        sources.append(original if original != name else None)
    if len(names) > MAX_COLUMNS:
        raise IngestError(f"Bảng có {len(names)} cột, vượt giới hạn {MAX_COLUMNS}.",
                          f"The table has {len(names)} columns, over the limit of {MAX_COLUMNS}.")
    return names, sources


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _s(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _csv_relation(path: Path, delimiter: str, names: list[str]) -> str:
    columns = "{" + ", ".join(f"{_s(n)}: 'VARCHAR'" for n in names) + "}"
    return (f"read_csv({_s(str(path))}, header=true, auto_detect=false, delim={_s(delimiter)}, quote='\"', "
            f"escape='\"', columns={columns}, strict_mode=true, null_padding=false, all_varchar=true, "
            f"max_line_size=16777216)")


def _from_csv(con: duckdb.DuckDBPyConnection, path: Path, out: Path, name: str, schema: dict | None,
              warnings: list[str], report: ProgressFn, delimiter: str | None = None,
              sources: list[str | None] | None = None, label: str = "") -> Table:
    delimiter, header = sniff_dialect(path, delimiter)
    names, header_sources = clean_names(header)
    relation = _csv_relation(path, delimiter, names)
    report(32, f"Đang suy luận kiểu cột / Inferring column types{label}")
    return _write_typed(con, relation, names, sources or header_sources, out, name, schema, warnings, report)


# ------------------------------------------------------------------ type inference and the typed write


def _clean_expr(col: str) -> str:
    tokens = ", ".join(_s(t) for t in NULL_TOKENS)
    return f"CASE WHEN lower(trim({col})) IN ({tokens}) THEN NULL ELSE trim({col}) END"


def _date_expr(v: str, formats: Iterable[str], target: str) -> str:
    parts = ", ".join(f"try_strptime({v}, {_s(f)})" for f in formats)
    return f"CAST(coalesce({parts}) AS {target})"


def _cast_expr(v: str, typ: str, fmt: str | None) -> str:
    """A DuckDB expression turning the cleaned text ``v`` into ``typ`` (NULL where it does not parse)."""
    if typ == "integer":
        return f"TRY_CAST(replace({v}, '+', '') AS BIGINT)"
    if typ == "number":
        if fmt == "vi":
            return f"TRY_CAST(replace(replace({v}, '.', ''), ',', '.') AS DOUBLE)"
        return f"TRY_CAST(replace({v}, ',', '') AS DOUBLE)"
    if typ == "boolean":
        t = ", ".join(_s(x) for x in TRUE_TOKENS)
        f = ", ".join(_s(x) for x in FALSE_TOKENS)
        return (f"CASE WHEN lower({v}) IN ({t}) OR {v} = '1' THEN true WHEN lower({v}) IN ({f}) OR {v} = '0' "
                f"THEN false END")
    if typ == "date":
        return _date_expr(v, DATE_FORMATS, "DATE")
    if typ == "timestamp":
        iso = f"TRY_CAST({v} AS TIMESTAMP)"
        return f"coalesce({iso}, {_date_expr(v, TS_FORMATS + DATE_FORMATS, 'TIMESTAMP')})"
    return v


def _stats_sql(relation: str, names: list[str]) -> str:
    aggs = ["count(*)"]
    for n in names:
        c = _clean_expr(_q(n))
        aggs.append(f"count({c})")
        m = lambda rx: f"count(*) FILTER (WHERE regexp_full_match({c}, {_s(rx)}))"  # noqa: E731
        aggs += [m(RE_INT), m(RE_LEADING_ZERO), m(RE_EN_NUM), m(RE_VI_NUM), m(RE_VI_ONLY), m(RE_EN_ONLY),
                 f"count(*) FILTER (WHERE lower({c}) IN ({', '.join(_s(t) for t in TRUE_TOKENS + FALSE_TOKENS)}))",
                 f"count(*) FILTER (WHERE {_cast_expr(c, 'date', None)} IS NOT NULL "
                 f"AND regexp_full_match({c}, {_s(RE_DATE_SHAPE)}))",
                 f"count(*) FILTER (WHERE {_cast_expr(c, 'timestamp', None)} IS NOT NULL "
                 f"AND regexp_full_match({c}, {_s(RE_TS_SHAPE + '|' + RE_DATE_SHAPE)}))",
                 f"count(*) FILTER (WHERE regexp_full_match({c}, {_s(RE_DATE_SHAPE)}) AND "
                 f"regexp_full_match({c}, '\\d{{1,2}}[-/.].*'))",
                 f"max(length({c}))"]
    return f"SELECT {', '.join(aggs)} FROM {relation}"


STATS_PER_COLUMN = 12


def infer_types(values: list[Any], prefer_vi: bool = False) -> tuple[str, str | None]:
    """(type, format) of one column from its counts (see :func:`_stats_sql`)."""
    (nonnull, n_int, n_zero, n_en, n_vi, n_vi_only, n_en_only, n_bool, n_date, n_ts, n_dmy, max_len) = values
    if not nonnull:
        return "text", None
    if n_bool == nonnull and n_int < nonnull:
        return "boolean", None
    if n_int == nonnull:
        if n_zero == 0 and (max_len or 0) <= 18:
            return "integer", None
        return "text", None  # codes with leading zeros, or too long for a 64-bit integer
    if n_zero == 0:
        if n_en == nonnull and not n_vi_only and (n_en_only or n_vi < nonnull or not prefer_vi):
            return "number", "en"  # English, or ambiguous ("1.234" reads both ways) in an English file
        if n_vi == nonnull and not n_en_only:
            return "number", "vi"
    if n_date == nonnull:
        return "date", "dd/mm/yyyy" if n_dmy else "yyyy-mm-dd"
    if n_ts == nonnull:
        return "timestamp", "dd/mm/yyyy hh:mm" if n_dmy else None
    return "text", None


def _write_typed(con: duckdb.DuckDBPyConnection, relation: str, names: list[str], sources: list[str | None],
                 out: Path, name: str, schema: dict | None, warnings: list[str], report: ProgressFn,
                 label: str = "") -> Table:
    try:
        stats = con.execute(_stats_sql(relation, names)).fetchone()
    except duckdb.Error as exc:
        raise _read_error(exc) from None
    total = stats[0]
    overrides = {unicodedata.normalize("NFC", k): v for k, v in (schema or {}).items()}
    columns: list[Column] = []
    selects: list[str] = []
    checks: list[tuple[str, str]] = []
    per_column = [list(stats[1 + i * STATS_PER_COLUMN: 1 + (i + 1) * STATS_PER_COLUMN]) for i in range(len(names))]
    # A file whose numbers use the Vietnamese convention somewhere (a comma decimal, 1.234.567) reads its
    # ambiguous columns ("12.345") the same way; otherwise they read as English decimals.
    prefers_vi = any(c[5] and not c[6] for c in per_column) and not any(c[6] and not c[5] for c in per_column)
    for i, n in enumerate(names):
        chunk = per_column[i]
        typ, fmt = infer_types(chunk, prefer_vi=prefers_vi)
        col = Column(name=n, type=typ, source=sources[i] if i < len(sources) else None, format=fmt)
        want = overrides.get(n)
        if want and want != typ:
            if want not in TYPES:
                raise IngestError(f"Kiểu '{want}' của cột '{n}' không hợp lệ.", f"Invalid type '{want}' for '{n}'.")
            col.inferred, col.type = typ, want
            if want == "number" and fmt is None:
                col.format = "vi" if chunk[4] == chunk[0] and chunk[5] == 0 else "en"
            checks.append((n, want, chunk[0]))  # chunk[0]: the column's non-empty values
        cleaned = _clean_expr(_q(n))
        expr = _cast_expr(cleaned, col.type, col.format) if col.type not in ("text", "geometry") else cleaned
        selects.append(f"{expr} AS {_q(n)}")
        columns.append(col)
    target = out / f"{len(list(out.glob('*.parquet'))):03d}.parquet"
    report(60, f"Đang ghi Parquet / Writing Parquet{label}")
    try:
        con.execute(f"COPY (SELECT {', '.join(selects)} FROM {relation}) TO {_s(str(target))} "
                    f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
        if checks:  # overrides: how many values did not fit and became empty
            kept = con.execute(f"SELECT {', '.join(f'count({_q(n)})' for n, _t, _k in checks)} "
                               f"FROM read_parquet({_s(str(target))})").fetchone()
            for (n, t, a), b in zip(checks, kept):
                if a != b:
                    warnings.append(f"{name}.{n}: {a - b} giá trị không đọc được theo kiểu {t}, để trống / "
                                    f"{a - b} values do not read as {t} and were left empty")
    except duckdb.Error as exc:
        target.unlink(missing_ok=True)
        raise _read_error(exc) from None
    from cityai.data import profile

    report(85, f"Đang lập hồ sơ chất lượng / Profiling the columns{label}")
    try:
        prof = profile.compute(con, f"read_parquet({_s(str(target))})",
                               [{"name": c.name, "type": c.type} for c in columns])
    except duckdb.Error as exc:  # a profile is a convenience: its failure must not fail the load
        prof = None
        warnings.append(f"{name}: không lập được hồ sơ / no profile ({str(exc).splitlines()[0][:200]})")
    return Table(name=name, path=target, rows=int(total), columns=columns, profile=prof)


def _read_error(exc: Exception) -> IngestError:
    msg = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", msg)
    first = msg.split("\n", 1)[0]
    if line:
        detail = re.search(r"Original Line: (.*)\n+(.*?)\n", msg)
        what = detail.group(2).strip() if detail else first
        vi_what = {"Value with unterminated quote found.": "dấu ngoặc kép chưa đóng"}.get(what, what)
        if "Expected Number of Columns" in what:
            m = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", what)
            vi_what = f"cần {m.group(1)} cột nhưng có {m.group(2)}" if m else what
        return IngestError(f"Lỗi ở dòng {line.group(1)}: {vi_what}.", f"Error on line {line.group(1)}: {what}")
    return IngestError(f"Không đọc được dữ liệu: {first[:300]}", f"The data cannot be read: {first[:300]}")


# ------------------------------------------------------------------ XLSX


def check_zip(src: Path) -> None:
    """Refuse archives that are not zip files or that expand suspiciously (zip bombs)."""
    try:
        with zipfile.ZipFile(src) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"Tệp XLSX bị hỏng hoặc bị cắt cụt ({exc}).",
                          f"The XLSX file is corrupt or truncated ({exc}).") from None
    expanded = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if expanded > MAX_XLSX_EXPANDED or expanded / packed > MAX_XLSX_RATIO:
        raise IngestError(f"Tệp XLSX giải nén ra {expanded:,} byte (gấp {expanded // packed} lần): từ chối vì "
                          "nghi là bom nén.", f"The XLSX expands to {expanded:,} bytes ({expanded // packed}x its "
                          "size): refused as a likely zip bomb.")


def _cell_text(v: Any) -> str | None:
    import datetime as dt

    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return unicodedata.normalize("NFC", str(v))


def _from_xlsx(con: duckdb.DuckDBPyConnection, src: Path, out: Path, schema: dict | None,
               result: IngestResult, report: ProgressFn) -> None:
    import openpyxl

    check_zip(src)
    try:
        wb = openpyxl.load_workbook(src, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for broken workbooks
        raise IngestError(f"Không mở được tệp XLSX: {exc}", f"The XLSX file cannot be opened: {exc}") from None
    result.encoding = "utf-8"
    try:
        sheets = wb.worksheets
        used: set[str] = set()
        for k, ws in enumerate(sheets):
            rows = ws.iter_rows(values_only=True)
            header = _first_nonempty(rows)
            if header is None:
                result.warnings.append(f"Trang tính '{ws.title}' trống, bỏ qua / sheet '{ws.title}' is empty, skipped")
                continue
            while header and header[-1] is None:
                header = header[:-1]
            names, sources = clean_names(header)
            staged = out / f"_sheet{k}.csv"
            with open(staged, "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(names)
                for n, row in enumerate(rows):
                    cells = [_cell_text(v) for v in row[: len(names)]]
                    if not any(c not in (None, "") for c in cells):
                        continue
                    cells += [None] * (len(names) - len(cells))
                    w.writerow(["" if c is None else c for c in cells])
                    if n % 50_000 == 0:
                        report(5 + 25 * (k + 0.5) / len(sheets), f"{ws.title}: {n:,}")
            name = table_name(ws.title)
            while name.lower() in used:
                name += "_"
            used.add(name.lower())
            report(30 + 60 * k / len(sheets), f"Trang tính / Sheet {ws.title}")
            result.tables.append(_write_typed(con, _csv_relation(staged, ",", names), names, sources, out, name,
                                              schema, result.warnings, lambda *a: None, label=f" ({ws.title})"))
            staged.unlink(missing_ok=True)
    finally:
        wb.close()
    if not result.tables:
        raise IngestError("Tệp XLSX không có trang tính nào có dữ liệu.", "The XLSX file has no sheet with data.")


def _first_nonempty(rows: Iterator[tuple]) -> tuple | None:
    for row in rows:
        if any(v not in (None, "") for v in row):
            return tuple(row)
    return None


# ------------------------------------------------------------------ JSON and GeoJSON


def _records_to_csv(records: Iterable[dict], staged: Path) -> tuple[list[str], int]:
    """Write dict records as CSV (nested values as JSON text); the union of keys in first-seen order."""
    keys: dict[str, None] = {}
    tmp = staged.with_suffix(".jsonl")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            if not isinstance(r, dict):
                raise IngestError(f"Phần tử thứ {n + 1} không phải là đối tượng JSON.",
                                  f"Item {n + 1} is not a JSON object.")
            for k in r:
                keys.setdefault(str(k))
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    names, _sources = clean_names(keys)
    with open(tmp, encoding="utf-8") as fin, open(staged, "w", encoding="utf-8", newline="") as fout:
        w = csv.writer(fout)
        w.writerow(names)
        for line in fin:
            r = json.loads(line)
            w.writerow([_json_cell(r.get(k)) for k in keys])
    tmp.unlink()
    return names, n


def _json_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return unicodedata.normalize("NFC", str(v))


def _iter_json_records(src: Path) -> Iterator[dict]:
    """Records of a JSON file: NDJSON line by line, else a top-level array or an object wrapping one."""
    with open(src, "rb") as fh:
        head = fh.read(4096)
    encoding = detect_encoding(head) if head else "utf-8"
    with open(src, encoding=encoding) as fh:
        first = fh.read(1)
        while first and first.isspace():
            first = fh.read(1)
        fh.seek(0)
        if first == "{":
            lines = fh.readline(), fh.readline()
            fh.seek(0)
            try:
                ndjson = all(json.loads(x) is not None for x in lines if x.strip()) and lines[1].strip() != ""
            except json.JSONDecodeError:
                ndjson = False
            if ndjson:
                for i, line in enumerate(fh):
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise IngestError(f"Dòng {i + 1} không phải JSON hợp lệ: {exc.msg}.",
                                              f"Line {i + 1} is not valid JSON: {exc.msg}.") from None
                return
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as exc:
            raise IngestError(f"JSON không hợp lệ ở dòng {exc.lineno}, cột {exc.colno}: {exc.msg}.",
                              f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    if isinstance(doc, dict):
        lists = [v for k, v in doc.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            doc = lists[0]
        elif "records" in doc and isinstance(doc["records"], list):
            doc = doc["records"]
        else:
            doc = [doc]
    if not isinstance(doc, list):
        raise IngestError("JSON phải là một mảng các đối tượng.", "The JSON must be an array of objects.")
    yield from doc


def _from_json(con: duckdb.DuckDBPyConnection, src: Path, out: Path, name: str, schema: dict | None,
               warnings: list[str], report: ProgressFn) -> Table:
    if src.stat().st_size > MAX_GEOJSON_BYTES and not _is_ndjson(src):
        raise IngestError("Tệp JSON dạng mảng quá lớn: hãy dùng JSON theo dòng (NDJSON) hoặc CSV.",
                          "A JSON array this large cannot be streamed: use newline-delimited JSON or CSV.")
    staged = out / "_json.csv"
    report(5, "Đang đọc JSON / Reading JSON")
    names, count = _records_to_csv(_iter_json_records(src), staged)
    if not names:
        raise IngestError("JSON không có bản ghi nào.", "The JSON holds no records.")
    report(30, f"{count:,} bản ghi / records")
    table = _write_typed(con, _csv_relation(staged, ",", names), names, [], out, name, schema, warnings, report)
    staged.unlink(missing_ok=True)
    return table


def _is_ndjson(src: Path) -> bool:
    with open(src, "rb") as fh:
        return fh.read(64).lstrip()[:1] == b"{" and b"\n{" in fh.read(1 << 20)


def _from_geojson(con: duckdb.DuckDBPyConnection, src: Path, out: Path, name: str, schema: dict | None,
                  warnings: list[str], report: ProgressFn) -> Table:
    if src.stat().st_size > MAX_GEOJSON_BYTES:
        raise IngestError(f"Tệp GeoJSON vượt {MAX_GEOJSON_BYTES >> 20} MiB.",
                          f"The GeoJSON file is over {MAX_GEOJSON_BYTES >> 20} MiB.")
    try:
        with open(src, encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestError(f"GeoJSON không hợp lệ: {exc}.", f"Invalid GeoJSON: {exc}.") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise IngestError("GeoJSON phải là một FeatureCollection có 'features'.",
                          "The GeoJSON must be a FeatureCollection with 'features'.")

    def records() -> Iterator[dict]:
        for i, f in enumerate(features):
            if not isinstance(f, dict) or f.get("type") != "Feature":
                raise IngestError(f"Phần tử {i + 1} của 'features' không phải Feature.",
                                  f"Item {i + 1} of 'features' is not a Feature.")
            props = dict(f.get("properties") or {})
            props.pop("geometry", None)
            props["geometry"] = f.get("geometry")
            yield props

    staged = out / "_geojson.csv"
    names, _count = _records_to_csv(records(), staged)
    table = _write_typed(con, _csv_relation(staged, ",", names), names, [], out, name,
                         {**(schema or {}), "geometry": "geometry"}, warnings, report)
    for c in table.columns:
        if c.name == "geometry":
            c.inferred = None
    staged.unlink(missing_ok=True)
    return table


# ------------------------------------------------------------------ Parquet

PARQUET_TYPES = (("BIGINT", "integer"), ("INTEGER", "integer"), ("SMALLINT", "integer"), ("TINYINT", "integer"),
                 ("UBIGINT", "integer"), ("UINTEGER", "integer"), ("USMALLINT", "integer"), ("UTINYINT", "integer"),
                 ("HUGEINT", "number"), ("DOUBLE", "number"), ("FLOAT", "number"), ("DECIMAL", "number"),
                 ("BOOLEAN", "boolean"), ("DATE", "date"), ("TIMESTAMP", "timestamp"), ("VARCHAR", "text"))


def _from_parquet(con: duckdb.DuckDBPyConnection, src: Path, out: Path, name: str, schema: dict | None,
                  warnings: list[str], report: ProgressFn) -> Table:
    rel = f"read_parquet({_s(str(src))})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"Tệp Parquet hỏng: {str(exc).splitlines()[0][:300]}",
                          f"The Parquet file is corrupt: {str(exc).splitlines()[0][:300]}") from None
    names, sources = clean_names([d[0] for d in described])
    overrides = schema or {}
    kept_types: dict[str, str] = {}
    selects = []
    text_cols = []
    for (orig, dtype, *_), n in zip(described, names):
        nested = "[" in dtype or dtype.upper().startswith(("STRUCT", "MAP", "UNION"))
        typ = None if nested else next((ours for duck, ours in PARQUET_TYPES if dtype.upper().startswith(duck)),
                                       None)
        if typ is None:  # nested, binary, intervals ...: JSON text
            selects.append(f"CAST(to_json({_q(orig)}) AS VARCHAR) AS {_q(n)}")
            text_cols.append(n)
        elif typ == "text" or overrides.get(n):
            selects.append(f"CAST({_q(orig)} AS VARCHAR) AS {_q(n)}")
            text_cols.append(n)
        else:
            sql_type = "TIMESTAMP" if typ == "timestamp" else dtype if typ != "number" else "DOUBLE"
            selects.append(f"CAST({_q(orig)} AS {sql_type}) AS {_q(n)}")
            kept_types[n] = typ
    report(20, "Đang đọc Parquet / Reading Parquet")
    staged = out / "_parquet.parquet"
    try:
        con.execute(f"COPY (SELECT {', '.join(selects)} FROM {rel}) TO {_s(str(staged))} (FORMAT parquet)")
    except duckdb.Error as exc:
        raise _read_error(exc) from None
    # Typed columns keep their Parquet type; text columns are inferred like any other file's.
    srel = f"read_parquet({_s(str(staged))})"
    cols = [f"CAST({_q(n)} AS VARCHAR) AS {_q(n)}" if n in kept_types else _q(n) for n in names]
    view = f"(SELECT {', '.join(cols)} FROM {srel})"
    pinned = {n: t for n, t in kept_types.items()}
    table = _write_typed(con, view, names, sources, out, name, {**pinned, **overrides}, warnings, report)
    for c in table.columns:
        if c.name in pinned and c.name not in overrides:
            c.inferred, c.format = None, None
    staged.unlink(missing_ok=True)
    return table
