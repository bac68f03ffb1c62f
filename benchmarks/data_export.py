#!/usr/bin/env python
"""data_export - seconds, MB/s, rows/s of downloading a whole table or a selection, CityAI beside Datasette.

The data: the ``data_ingest.py`` CSV (air quality by ward, Vietnamese number and date conventions),
1,000,000 rows by default, generated once into ``--data-dir`` and reused. It is loaded twice, side by
side, exactly as ``data_query.py`` loads it (its build functions are reused):

* ``cityai``    - CityAI's real upload path on a fresh SQLite ``CITYAI_HOME`` (``resource_upload`` + the
  ingest job: a typed Parquet table in the lake) under a *public* dataset, so downloads need no token;
  then ``cityai serve --no-worker`` (uvicorn, one worker process) with ``CITYAI_EXPORT_MAX_ROWS=2000000``
  so that the whole table fits in one export (the default limit is 1,000,000);
* ``datasette`` - the SQLite file ``data_query.py`` builds (``sqlite-utils insert --csv --delimiter ';'
  --pk id``, ``pm25``/``pm10`` converted to REAL), ``datasette serve -i`` (immutable), one process,
  ``allow_csv_stream`` on, ``max_csv_mb`` 0 (no size cap), ``sql_time_limit_ms`` 10000.

The downloads, one at a time over loopback (Python's ``urllib``, the body read in 1 MiB chunks and
discarded, its lines counted):

* the whole table as CSV - CityAI ``GET /api/v1/data/resources/{id}/export?format=csv`` and CKAN's
  ``GET /datastore/dump/{id}`` (the same code path), Datasette's streaming CSV
  ``GET /aq/khong_khi.csv?_stream=on&_size=max``;
* one ward (``ma_phuong`` = 26740, about 1.3% of the rows) as CSV - ``...export?format=csv&filters=
  {"ma_phuong": 26740}`` vs ``/aq/khong_khi.csv?ma_phuong=26740&_stream=on&_size=max``;
* the same ward as XLSX - CityAI only (Datasette has no spreadsheet export without a plugin).

Before the timed runs each download is made once, untimed, and checked: its data rows are counted and
parsed, and the full and filtered files of both servers must hold the same ids (and the same PM2.5
total); the check lines are printed. Then ``--runs`` timed downloads each: the table gives the median
wall time (request to last byte), the median time to the response headers (CityAI writes the whole
file before it sends it; Datasette streams page by page), MB/s, rows/s, the server process's CPU time
and its peak resident memory during the download (``VmHWM`` from ``/proc``, reset before each download
through ``/proc/<pid>/clear_refs``; sampled ``VmRSS`` where the reset is refused).

    python benchmarks/data_export.py                          # 1,000,000 rows, about 6-8 minutes
    python benchmarks/data_export.py --rows 100000 --runs 1 --markdown /tmp/export.md   # smoke test
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data_common as common  # noqa: E402
from api_core import (LOOPBACK, ServerProcess, Target, _version, clean_env, loadavg,  # noqa: E402
                      machine_facts)
from data_query import TABLE, WARD, build_sqlite, finish_sqlite  # noqa: E402

CHUNK = 1 << 20
READ_TIMEOUT = 900.0  # seconds without a byte before a download is abandoned
EXPORT_MAX_ROWS = "2000000"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- servers


def start_cityai(home: Path, workdir: Path) -> Target:
    env = common.cityai_env(home, CITYAI_EXPORT_MAX_ROWS=EXPORT_MAX_ROWS)

    def cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "cityai", "serve", "--host", LOOPBACK, "--port", str(port),
                "--workers", "1", "--no-worker"]

    server = ServerProcess(cmd, env, workdir / "cityai.log", "/healthz").start()
    return Target("cityai", server, {}, [])


def start_datasette(db: Path, workdir: Path) -> Target:
    def cmd(port: int) -> list[str]:
        exe = shutil.which("datasette") or str(Path(sys.executable).parent / "datasette")
        return [exe, "serve", "-i", str(db), "--host", LOOPBACK, "--port", str(port),
                "--setting", "allow_csv_stream", "on", "--setting", "max_csv_mb", "0",
                "--setting", "sql_time_limit_ms", "10000", "--setting", "suggest_facets", "off"]

    server = ServerProcess(cmd, clean_env(), workdir / "datasette.log", "/-/versions.json").start()
    return Target("datasette", server, {}, [])


# ---------------------------------------------------------------------------------------------- memory


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class RssWatch:
    """Peak resident memory of a process during a block: ``VmHWM`` after resetting it through
    ``/proc/<pid>/clear_refs`` (Linux >= 4.0), else the highest ``VmRSS`` sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before_kib: int | None = None
        self.peak_kib: int | None = None
        self.method = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampled = 0

    def __enter__(self) -> RssWatch:
        self.before_kib = _status_kib(self.pid, "VmRSS")
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.method = "VmHWM"
        except OSError:
            self.method = "sampled VmRSS"
            self._sampled = self.before_kib or 0
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            rss = _status_kib(self.pid, "VmRSS")
            if rss is not None:
                self._sampled = max(self._sampled, rss)

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_kib = self._sampled or None
        else:
            self.peak_kib = _status_kib(self.pid, "VmHWM")


# ---------------------------------------------------------------------------------------------- downloads


@dataclass
class Download:
    status: int
    bytes: int
    rows: int  # data rows: lines less the header (CSV), <row> elements less the header (XLSX)
    seconds: float  # request sent -> last byte read
    headers_s: float  # request sent -> response headers read
    cpu_s: float | None
    rss_mib: float | None
    rss_before_mib: float | None
    headers: dict[str, str]
    bom: bool
    rss_method: str
    body: bytes = b""  # kept only when asked (XLSX, small files)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def download(target: Target, path: str, *, kind: str, keep: bool = False) -> Download:
    """GET ``path`` and read the whole body in 1 MiB chunks, counting lines; the server's CPU time and peak
    RSS are taken around it."""
    server = target.server
    assert server.proc is not None
    request = urllib.request.Request(server.url + path, method="GET")
    kept: list[bytes] = []
    size = newlines = 0
    first = last = b""
    cpu0 = server.cpu_seconds()
    with RssWatch(server.proc.pid) as watch:
        t0 = time.perf_counter()
        try:
            response = _opener().open(request, timeout=READ_TIMEOUT)
        except urllib.error.HTTPError as err:
            body = err.read()
            raise RuntimeError(f"GET {path} answered {err.code}: {body[:500]!r}") from None
        with response:
            t_headers = time.perf_counter()
            status = response.status
            headers = {k.lower(): v for k, v in response.headers.items()}
            while chunk := response.read(CHUNK):
                if not first:
                    first = chunk[:3]
                size += len(chunk)
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
                if keep:
                    kept.append(chunk)
        t_end = time.perf_counter()
    cpu1 = server.cpu_seconds()
    body = b"".join(kept)
    if kind == "xlsx":
        rows = xlsx_rows(body) - 1
    else:
        lines = newlines + (1 if size and last != b"\n" else 0)
        rows = lines - 1
    return Download(status, size, rows, t_end - t0, t_headers - t0,
                    cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None,
                    watch.peak_kib / 1024 if watch.peak_kib else None,
                    watch.before_kib / 1024 if watch.before_kib else None,
                    headers, first == b"\xef\xbb\xbf", watch.method, body if keep else b"")


def xlsx_rows(body: bytes) -> int:
    """``<row`` elements in the workbook's first sheet (header row included)."""
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        sheet = sorted(n for n in zf.namelist() if n.startswith("xl/worksheets/sheet"))[0]
        data = zf.read(sheet)
    return data.count(b"<row ") + data.count(b"<row>")


# ---------------------------------------------------------------------------------------------- checks


@dataclass
class Content:
    """What one (untimed) download held: enough to tell two servers' files apart."""

    rows: int
    ids: set[int]
    pm25_sum: float
    other_wards: int  # rows of another ward than the filter's (filtered downloads)
    header: list[str]
    bom: bool
    sample: list[str]  # the first data row


def parse_csv_content(target: Target, path: str, ward: int | None) -> Content:
    server = target.server
    request = urllib.request.Request(server.url + path, method="GET")
    with _opener().open(request, timeout=READ_TIMEOUT) as response:
        raw = io.BufferedReader(response, CHUNK)
        bom = raw.peek(3)[:3] == b"\xef\xbb\xbf"
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        header = next(reader)
        i_id, i_ward, i_pm25 = header.index("id"), header.index("ma_phuong"), header.index("pm25")
        ids: set[int] = set()
        total = 0.0
        other = rows = 0
        sample: list[str] = []
        for row in reader:
            rows += 1
            if not sample:
                sample = row
            ids.add(int(row[i_id]))
            total += float(row[i_pm25]) if row[i_pm25] else 0.0
            if ward is not None and int(row[i_ward]) != ward:
                other += 1
    return Content(rows, ids, total, other, header, bom, sample)


def xlsx_content(body: bytes, ward: int) -> Content:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(body), read_only=True)
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header = [str(h) for h in next(it)]
    i_id, i_ward, i_pm25 = header.index("id"), header.index("ma_phuong"), header.index("pm25")
    ids: set[int] = set()
    total = 0.0
    other = rows = 0
    sample: list[str] = []
    for row in it:
        rows += 1
        if not sample:
            sample = [str(v) for v in row]
        ids.add(int(row[i_id]))
        total += float(row[i_pm25] or 0)
        if int(row[i_ward]) != ward:
            other += 1
    wb.close()
    return Content(rows, ids, total, other, header, False, sample)


# ---------------------------------------------------------------------------------------------- rows


@dataclass
class Item:
    target: str
    export: str  # "full table" / "one ward"
    fmt: str  # csv / xlsx
    request: str  # shown in the table
    path: str
    ward: int | None = None


@dataclass
class Row:
    item: Item
    runs: list[Download] = field(default_factory=list)
    note: str = ""

    def median(self, key: Callable[[Download], float | None]) -> float | None:
        values = [v for v in (key(d) for d in self.runs) if v is not None]
        return statistics.median(values) if values else None


def cityai_items(resource_id: str) -> list[Item]:
    filt = urllib.parse.quote(json.dumps({"ma_phuong": WARD}), safe="")
    base = f"/api/v1/data/resources/{resource_id}/export"
    show_filt = f'filters={{"ma_phuong":{WARD}}}'
    return [
        Item("cityai", "full table", "csv", "export?format=csv", f"{base}?format=csv"),
        Item("cityai", "full table", "csv", "/datastore/dump/{id}", f"/datastore/dump/{resource_id}"),
        Item("cityai", "one ward", "csv", f"export?format=csv&{show_filt}",
             f"{base}?format=csv&filters={filt}", WARD),
        Item("cityai", "one ward", "xlsx", f"export?format=xlsx&{show_filt}",
             f"{base}?format=xlsx&filters={filt}", WARD),
    ]


def datasette_items(dbname: str) -> list[Item]:
    full = f"/{dbname}/{TABLE}.csv?_stream=on&_size=max"
    ward = f"/{dbname}/{TABLE}.csv?ma_phuong={WARD}&_stream=on&_size=max"
    return [Item("datasette", "full table", "csv", f"{TABLE}.csv?_stream=on&_size=max", full),
            Item("datasette", "one ward", "csv", f"{TABLE}.csv?ma_phuong={WARD}&_stream=on&_size=max", ward,
                 WARD)]


def run_item(target: Target, item: Item, runs: int, contents: dict[tuple[str, str, str], Content]) -> Row:
    row = Row(item)
    try:
        what = f"{item.target} {item.export} {item.fmt.upper()} ({item.request})"
        log(f"  {what}: check download ...")
        if item.fmt == "xlsx":
            d = download(target, item.path, kind="xlsx", keep=True)
            content = xlsx_content(d.body, WARD)
        else:
            content = parse_csv_content(target, item.path, item.ward)
        contents[(item.target, item.request, item.export)] = content
        for i in range(runs):
            log(f"  {what}: run {i + 1}/{runs} ...")
            d = download(target, item.path, kind=item.fmt, keep=item.fmt == "xlsx")
            d.body = b""
            if d.status != 200:
                raise RuntimeError(f"answered {d.status}")
            row.runs.append(d)
            log(f"    {d.rows:,} rows, {d.bytes / 1e6:.1f} MB in {d.seconds:.2f} s "
                f"(headers after {d.headers_s:.2f} s)")
    except Exception as exc:  # noqa: BLE001 - one failed row must not lose the others
        row.note = f"failed: {exc}"
        log(f"    {row.note}")
    return row


def check_lines(contents: dict[tuple[str, str, str], Content], rows: int) -> list[str]:
    """Every download against the expectation (all ids for the full table) and the filtered ones against
    each other."""
    lines = []
    full = {k: c for k, c in contents.items() if k[2] == "full table"}
    ward = {k: c for k, c in contents.items() if k[2] == "one ward"}
    expected_ids = set(range(1, rows + 1))
    problems = []
    for (t, req, _), c in full.items():
        if c.rows != rows or c.ids != expected_ids:
            problems.append(f"{t} {req}: {c.rows:,} rows, {len(c.ids):,} distinct ids (expected 1..{rows:,})")
    sums = {round(c.pm25_sum, 1) for c in full.values()}
    if len(sums) > 1:
        problems.append(f"full-table PM2.5 totals differ: {sorted(sums)}")
    lines.append(f"check full table: {len(full)} downloads, each {rows:,} data rows with ids 1..{rows:,}, "
                 f"PM2.5 total {next(iter(sums)) if len(sums) == 1 else '?'}: "
                 + ("same on both servers" if not problems else "DIFFER - " + "; ".join(problems)))
    problems = []
    ward_ids = None
    for (t, req, _), c in ward.items():
        if c.other_wards:
            problems.append(f"{t} {req}: {c.other_wards} rows of another ward")
        if ward_ids is None:
            ward_ids = c.ids
        elif c.ids != ward_ids:
            problems.append(f"{t} {req}: {len(c.ids):,} ids, not the same as the first download's "
                            f"{len(ward_ids):,}")
    sums = {round(c.pm25_sum, 1) for c in ward.values()}
    if len(sums) > 1:
        problems.append(f"PM2.5 totals differ: {sorted(sums)}")
    n = len(ward_ids or ())
    total = f", PM2.5 total {next(iter(sums))}" if len(sums) == 1 else ""
    lines.append(f"check one ward (ma_phuong = {WARD}): {len(ward)} downloads (CSV and XLSX), each {n:,} "
                 "rows of that ward only, the same ids" + total
                 + (": same on both servers" if not problems else ": DIFFER - " + "; ".join(problems)))
    samples = {}
    for (t, req, what), c in contents.items():
        if what == "full table" and t not in samples:
            samples[t] = c
    for t, c in samples.items():
        lines.append(f"{t} CSV: {'starts with a UTF-8 BOM' if c.bom else 'no BOM'}; header "
                     f"{','.join(c.header)}; first row {','.join(c.sample)}")
    return lines


# ---------------------------------------------------------------------------------------------- output

HEADERS = ["target", "export", "format", "request", "rows", "MB", "s", "headers s", "MB/s", "rows/s",
           "server CPU s", "peak RSS MiB"]


def table_rows(results: list[Row]) -> list[list[str]]:
    out = []
    for r in results:
        it = r.item
        if not r.runs:
            out.append([it.target, it.export, it.fmt.upper(), it.request, "-", "-", "-", "-", "-", "-", "-",
                        r.note or "-"])
            continue
        rows = {d.rows for d in r.runs}
        sizes = {d.bytes for d in r.runs}
        secs = r.median(lambda d: d.seconds)
        hdr = r.median(lambda d: d.headers_s)
        cpu = r.median(lambda d: d.cpu_s)
        peaks = [d.rss_mib for d in r.runs if d.rss_mib]
        befores = [d.rss_before_mib for d in r.runs if d.rss_before_mib]
        n_rows = r.runs[0].rows
        n_bytes = statistics.median(d.bytes for d in r.runs)
        rss = "-"
        if peaks:
            rss = f"{max(peaks):,.0f}" + (f" (+{max(peaks) - min(befores):,.0f})" if befores else "")
        out.append([it.target, it.export, it.fmt.upper(), it.request,
                    f"{n_rows:,}" + ("" if len(rows) == 1 else " (varies)"),
                    f"{n_bytes / 1e6:.1f}" + ("" if len(sizes) == 1 or it.fmt == "xlsx" else " (varies)"),
                    f"{secs:.2f}", f"{hdr:.2f}", f"{n_bytes / 1e6 / secs:.1f}", f"{n_rows / secs:,.0f}",
                    f"{cpu:.1f}" if cpu is not None else "-", rss])
    return out


def rss_how(results: list[Row]) -> str:
    methods = {d.rss_method for r in results for d in r.runs}
    if methods == {"VmHWM"}:
        return ("`VmHWM` from `/proc/<pid>/status`, reset before each download through "
                "`/proc/<pid>/clear_refs`")
    return "the highest `VmRSS` sampled every 20 ms (where the `VmHWM` reset was refused)"


def text_table(facts: dict[str, str], results: list[Row], notes: list[str]) -> str:
    return common.text_table(
        "data_export - table exports, CityAI vs Datasette (same run, same data)",
        facts, HEADERS, table_rows(results), {4, 5, 6, 7, 8, 9, 10, 11},
        [f"note: {n}" for n in notes])


def markdown(facts: dict[str, str], results: list[Row], notes: list[str]) -> str:
    md_headers = ["target", "export", "format", "request", "rows", "MB", "seconds", "headers after s", "MB/s",
                  "rows/s", "server CPU s", "server peak RSS MiB (+ over idle)"]
    lines = [f"- **{k}**: {v}" for k, v in facts.items()]
    lines += ["", "| " + " | ".join(md_headers) + " |",
              "|" + "|".join(["---"] * 4 + ["---:"] * 8) + "|"]
    for row in table_rows(results):
        cells = [c.replace("|", "\\|") for c in row]
        cells[3] = f"`{cells[3]}`"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the data (default 1,000,000)")
    parser.add_argument("--data-dir", type=Path, default=common.DEFAULT_DATA_DIR,
                        help="where the generated CSV is kept and reused "
                             f"(default {common.DEFAULT_DATA_DIR})")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed downloads per row, after one untimed check download (default 3)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as markdown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rows < 100:
        parser.error("--runs must be >= 1, --rows >= 100")

    start_load = loadavg()
    csv_file, generated = common.ensure_csv(args.data_dir, args.rows, log)
    workdir = Path(tempfile.mkdtemp(prefix="cityai-bench-export-"))
    facts = machine_facts("-", None, argparse.Namespace(threads=1, duration=0, warmup=0))
    del facts["load"]
    facts["data"] = (f"{args.rows:,} rows ({csv_file.stat().st_size / 1e6:.0f} MB CSV"
                     + (", generated in this run" if generated else ", reused")
                     + f"); one ward = ma_phuong {WARD}")
    facts["server"] = (f"cityai {_version('cityai')} on uvicorn {_version('uvicorn')}, 1 worker process "
                       f"(duckdb {_version('duckdb')}, openpyxl {_version('openpyxl')}, SQLite home, "
                       f"CITYAI_EXPORT_MAX_ROWS={EXPORT_MAX_ROWS}); datasette {_version('datasette')} "
                       f"(SQLite {sqlite3.sqlite_version}, file built by sqlite-utils "
                       f"{_version('sqlite-utils')}, "
                       "immutable, allow_csv_stream on, max_csv_mb 0)")
    facts["client"] = (f"Python urllib over loopback, one download at a time, body read in 1 MiB chunks and "
                       f"discarded; one untimed check download per row, then {args.runs} timed "
                       f"(median shown)")
    results: list[Row] = []
    contents: dict[tuple[str, str, str], Content] = {}
    home = workdir / "cityai-home"
    db = workdir / "aq.db"
    target: Target | None = None
    try:
        # Both loads run side by side (they are not what is measured here), as in data_query.py.
        log("- loading the data: CityAI upload + ingest job, and sqlite-utils insert, in parallel ...")
        started = time.perf_counter()
        peer = build_sqlite(csv_file, db)
        child = common.run_measured([sys.executable, str(HERE / "_data_common.py"), "cityai-ingest",
                                     str(csv_file)], env=common.cityai_env(home))
        peer_out = peer.communicate()[0].decode("utf-8", "replace")
        if child.returncode != 0:
            raise SystemExit(f"CityAI ingest failed ({child.returncode}):\n{child.stderr[-3000:]}")
        info = json.loads(child.stdout.strip().splitlines()[-1])
        if info["status"] != "ready":
            raise SystemExit(f"CityAI ingest ended {info['status']}: {info['error']}")
        if peer.returncode != 0:
            raise SystemExit(f"sqlite-utils insert failed ({peer.returncode}):\n{peer_out[-3000:]}")
        finish_sqlite(db)
        log(f"  loaded in {time.perf_counter() - started:.1f} s")

        log("- CityAI ...")
        target = start_cityai(home, workdir)
        for item in cityai_items(info["resource_id"]):
            results.append(run_item(target, item, args.runs, contents))
        target.server.stop()
        target = None

        log("- Datasette ...")
        target = start_datasette(db, workdir)
        for item in datasette_items(db.stem):
            results.append(run_item(target, item, args.runs, contents))
        target.server.stop()
        target = None
    finally:
        if target is not None:
            target.server.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    facts["load avg"] = f"{start_load} before the run, {loadavg()} after (1, 5, 15 min)"

    checks = check_lines(contents, args.rows)
    for line in checks:
        print(line, flush=True)
    notes = list(checks)
    defused = sorted({d for r in results if r.item.target == "cityai" and r.runs
                      if (d := r.runs[0].headers.get("x-cityai-defused-cells"))})
    notes.append("The files are not byte-identical: CityAI's CSV starts with a UTF-8 BOM (for Excel on "
                 "Windows) and defuses formula-like text cells (a leading `'` before `=`, `+`, `-`, `@`, tab "
                 "or CR; it tests every text cell and reports the count in `X-CityAI-Defused-Cells`, "
                 f"{'/'.join(defused) or '?'} in this data); Datasette's CSV has neither. CityAI writes the "
                 "typed date (`2025-04-06`), Datasette the text it was given (`06/04/2025`); line ends are "
                 "`\\n` (CityAI) vs `\\r\\n` (Datasette).")
    notes.append("XLSX: CityAI only; Datasette has no spreadsheet export without a plugin.")
    notes.append("*seconds*: median wall time from the request to the last byte; *headers after s*: median "
                 "time to the response headers - CityAI builds the whole file in a temporary folder (DuckDB "
                 "`COPY`, or openpyxl for XLSX) before sending it, Datasette streams from its first page "
                 "(1,000 rows per SQL query, keyset-paged). *rows*: data rows counted in the bytes received "
                 "(lines less the header; `<row>` elements for XLSX). *server CPU s*: the server process's "
                 "CPU time during the download (DuckDB's threads included), median. *server peak RSS*: the "
                 "highest of the runs' peaks, in brackets how far above the process's RSS just before the "
                 "download; " + rss_how(results) + ".")
    cores = os.cpu_count() or 0
    if cores <= 4:
        notes.append(f"The machine has {cores} cores: the client, the server and DuckDB's threads share "
                     "them.")
    try:
        if float(start_load.split()[0]) > 0.5:
            notes.append("Other work was running when this run began (1-min load average "
                         f"{start_load.split()[0]} "
                         f"on {cores} cores): figures are lower and noisier than on an idle machine.")
    except ValueError:
        pass
    print(text_table(facts, results, notes))
    if args.markdown:
        args.markdown.write_text(markdown(facts, results, notes), encoding="utf-8")
        log(f"markdown written to {args.markdown}")
    ok = all(r.runs for r in results) and not any("DIFFER" in c for c in checks)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
