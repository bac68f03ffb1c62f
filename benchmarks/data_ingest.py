#!/usr/bin/env python
"""data_ingest - rows/s, wall and CPU time, peak memory of loading a 1,000,000-row CSV, beside sqlite-utils.

The file (generated once, then reused from ``--data-dir``): air-quality readings by ward of Ho Chi Minh
City in the Vietnamese conventions a city spreadsheet export uses - ``;`` delimiter, decimal comma
(``35,5``), ``dd/mm/yyyy`` dates, ward names with diacritics; ten columns (integer id, ward code, ward
name, date, PM2.5, PM10, AQI, station, rating, a mostly empty note), about 115 MB for 1,000,000 rows.

Every target runs in a child process of its own, one after the other, and is measured alone (wall
time, user + system CPU time, and ``ru_maxrss``, the child's peak resident memory, from ``os.wait4``):

* ``cityai``        - CityAI's real upload path on a fresh SQLite ``CITYAI_HOME``: ``catalog.resource_upload``
  (stream to storage, SHA-256) then the ingest job run by ``jobs.execute`` (transcode, type inference
  over every row, typed Parquet, publish). Wall time = upload + job; the process's start-up (imports,
  migrations, creating the agency/dataset/resource) is reported apart and left out of rows/s;
* ``ingest-only``   - ``cityai.data.ingest.ingest`` alone (no platform, no upload copy);
* ``sqlite-utils``  - ``sqlite-utils insert DB TABLE FILE --csv --delimiter ';'`` (types detected:
  the default of sqlite-utils 4);
* ``sqlite-utils-text`` - the same with ``--no-detect-types`` (every column TEXT).

    python benchmarks/data_ingest.py                         # 1,000,000 rows, about 4 minutes
    python benchmarks/data_ingest.py --rows 200000 --targets cityai,sqlite-utils --markdown /tmp/ingest.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data_common as common  # noqa: E402
from api_core import _version, loadavg, machine_facts  # noqa: E402

TARGETS = ("cityai", "ingest-only", "sqlite-utils", "sqlite-utils-text")


@dataclass
class Row:
    target: str
    what: str
    rows: int | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    rss_mib: float | None = None
    out_bytes: int | None = None
    types: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def rps(self) -> float | None:
        return self.rows / self.wall_s if self.rows and self.wall_s else None


def _types_summary(types: dict[str, str]) -> str:
    """``int 3, number 2, date 1, text 4`` from a column -> type map."""
    canon = {"integer": "int", "number": "number", "real": "number", "float": "number", "date": "date",
             "text": "text", "timestamp": "timestamp", "boolean": "bool"}
    counts: dict[str, int] = {}
    for t in types.values():
        key = canon.get(t.split(" ")[0], t)
        counts[key] = counts.get(key, 0) + 1
    order = ["int", "number", "date", "timestamp", "bool", "text"]
    return ", ".join(f"{k} {counts[k]}" for k in sorted(counts, key=lambda k: (order.index(k) if k in order
                                                                               else 99, k)))


def run_target(name: str, csv_file: Path, workdir: Path, rows: int) -> Row:
    py = sys.executable
    child = str(HERE / "_data_common.py")
    if name == "cityai":
        row = Row(name, "resource_upload + ingest job (SQLite home)")
        home = workdir / "cityai-home"
        m = common.run_measured([py, child, "cityai-ingest", str(csv_file)], env=common.cityai_env(home))
        if m.returncode != 0:
            row.note = f"failed ({m.returncode}): {m.stderr.strip()[-300:]}"
            return row
        info = json.loads(m.stdout.strip().splitlines()[-1])
        if info["status"] != "ready":
            row.note = f"version {info['status']}: {info['error']}"
            return row
        row.rows, row.wall_s = info["rows"], info["upload_s"] + info["job_s"]
        row.cpu_s, row.rss_mib = m.cpu_s, m.maxrss_mib
        row.out_bytes, row.types = info["parquet_bytes"], info["types"]
        row.note = (f"upload {info['upload_s']:.1f} s + job {info['job_s']:.1f} s; process start-up "
                    f"{info['startup_s']:.1f} s not counted")
        shutil.rmtree(home, ignore_errors=True)
        return row
    if name == "ingest-only":
        row = Row(name, "cityai.data.ingest.ingest()")
        out = workdir / "ingest-only"
        m = common.run_measured([py, child, "ingest-only", str(csv_file), str(out)])
        if m.returncode != 0:
            row.note = f"failed ({m.returncode}): {m.stderr.strip()[-300:]}"
            return row
        info = json.loads(m.stdout.strip().splitlines()[-1])
        row.rows, row.wall_s, row.cpu_s, row.rss_mib = info["rows"], info["ingest_s"], m.cpu_s, m.maxrss_mib
        row.out_bytes, row.types = info["parquet_bytes"], info["types"]
        row.note = f"process start-up and imports {m.wall_s - info['ingest_s']:.1f} s not counted"
        shutil.rmtree(out, ignore_errors=True)
        return row
    detect = name == "sqlite-utils"
    row = Row(name, "sqlite-utils insert --csv" + ("" if detect else " --no-detect-types"))
    db = workdir / f"{name}.db"
    exe = shutil.which("sqlite-utils") or str(Path(py).parent / "sqlite-utils")
    cmd = [exe, "insert", str(db), "khong_khi", str(csv_file), "--csv", "--delimiter", ";"]
    if not detect:
        cmd.append("--no-detect-types")
    m = common.run_measured(cmd)
    if m.returncode != 0:
        row.note = f"failed ({m.returncode}): {(m.stderr or m.stdout).strip()[-300:]}"
        return row
    row.rows, row.wall_s, row.cpu_s, row.rss_mib = common.sqlite_count(db, "khong_khi"), m.wall_s, m.cpu_s, \
        m.maxrss_mib
    row.out_bytes = db.stat().st_size
    row.types = common.sqlite_column_types(db, "khong_khi")
    row.note = "whole process (start-up included)"
    db.unlink(missing_ok=True)
    return row


# ---------------------------------------------------------------------------------------------- output

HEADERS = ["target", "what", "rows", "wall s", "rows/s", "CPU s", "peak RSS MiB", "output MB", "column types"]


def table_rows(results: list[Row]) -> list[list[str]]:
    out = []
    for r in results:
        if r.wall_s is None:
            out.append([r.target, r.what, "-", "-", "-", "-", "-", "-", r.note])
            continue
        out.append([r.target, r.what, f"{r.rows:,}", f"{r.wall_s:.1f}", f"{r.rps:,.0f}", f"{r.cpu_s:.1f}",
                    f"{r.rss_mib:,.0f}", f"{r.out_bytes / 1e6:.1f}", _types_summary(r.types)])
    return out


def detail_lines(results: list[Row]) -> list[str]:
    lines = []
    for r in results:
        if r.wall_s is None:
            lines.append(f"{r.target}: {r.note}")
            continue
        typed = ", ".join(f"{k} {v}" for k, v in r.types.items())
        lines.append(f"{r.target}: {r.note}. Columns: {typed}.")
    return lines


def text_table(facts: dict[str, str], results: list[Row], notes: list[str]) -> str:
    return common.text_table(
        "data_ingest - CSV to typed tables, CityAI vs sqlite-utils (same run, same file)",
        facts, HEADERS, table_rows(results), {2, 3, 4, 5, 6, 7},
        [f"- {d}" for d in detail_lines(results)] + [f"note: {n}" for n in notes])


def markdown(facts: dict[str, str], results: list[Row], notes: list[str]) -> str:
    lines = [f"- **{k}**: {v}" for k, v in facts.items()]
    lines += ["", "| " + " | ".join(HEADERS) + " |",
              "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---"]) + "|"]
    for row in table_rows(results):
        cells = [c.replace("|", "\\|") for c in row]
        cells[1] = f"`{cells[1]}`"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- *{d.split(':', 1)[0]}*:{d.split(':', 1)[1]}" for d in detail_lines(results)]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the CSV (default 1,000,000)")
    parser.add_argument("--data-dir", type=Path, default=common.DEFAULT_DATA_DIR,
                        help="where the generated CSV is kept and reused "
                             f"(default {common.DEFAULT_DATA_DIR})")
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma list of {', '.join(TARGETS)} (default all)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as markdown")
    args = parser.parse_args(argv)
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    if unknown := set(wanted) - set(TARGETS):
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    if args.rows < 1:
        parser.error("--rows must be >= 1")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    start_load = loadavg()
    csv_file, generated = common.ensure_csv(args.data_dir, args.rows, log)
    ns = argparse.Namespace(threads=1, duration=0, warmup=0)
    facts = machine_facts("-", None, ns)
    del facts["load"]
    facts["file"] = (f"{args.rows:,} rows, {csv_file.stat().st_size / 1e6:.0f} MB, UTF-8, ';' delimiter, "
                     "decimal comma, dd/mm/yyyy dates"
                     + (" (generated in this run)" if generated else " (reused)"))
    facts["tools"] = (f"cityai {_version('cityai')} (duckdb {_version('duckdb')}, "
                      f"pyarrow {_version('pyarrow')}); "
                      f"sqlite-utils {_version('sqlite-utils')} (SQLite "
                      f"{__import__('sqlite3').sqlite_version})")
    del facts["server"]
    workdir = Path(tempfile.mkdtemp(prefix="cityai-bench-ingest-"))
    results: list[Row] = []
    try:
        for name in wanted:
            log(f"- {name} ...")
            started = time.perf_counter()
            results.append(run_target(name, csv_file, workdir, args.rows))
            log(f"  done in {time.perf_counter() - started:.1f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    facts["load avg"] = f"{start_load} before the run, {loadavg()} after (1, 5, 15 min)"
    notes = ["Each target runs alone in its own child process, one after the other; *peak RSS* is that "
             "process's `ru_maxrss` (DuckDB's memory included), *CPU s* its user + system time (above wall "
             "time when more than one core works)."]
    cores = os.cpu_count() or 0
    try:
        if float(start_load.split()[0]) > 0.5:
            notes.append("Other work was running when this run began (1-min load average "
                         f"{start_load.split()[0]} "
                         f"on {cores} cores): wall times are longer and noisier than on an idle machine.")
    except ValueError:
        pass
    print(text_table(facts, results, notes))
    if args.markdown:
        args.markdown.write_text(markdown(facts, results, notes), encoding="utf-8")
        log(f"markdown written to {args.markdown}")
    return 0 if results and all(r.wall_s is not None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
