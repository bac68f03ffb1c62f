#!/usr/bin/env python
"""data_query - requests/s and p50/p99 latency of datastore reads, CityAI beside Datasette on the same data.

The data: the ``data_ingest.py`` CSV (air quality by ward, Vietnamese number and date conventions),
1,000,000 rows by default, generated once into ``--data-dir`` and reused. It is loaded twice, side by side:

* ``cityai``  - CityAI's real upload path on a fresh SQLite ``CITYAI_HOME`` (``resource_upload`` + the
  ingest job: a typed Parquet table in the lake) under a *public* dataset, so reads need no token; then
  ``cityai serve --no-worker`` (uvicorn, one worker process), ``CITYAI_QUERY_TIMEOUT_S=10``;
* ``datasette`` - ``sqlite-utils insert --csv --delimiter ';' --pk id`` (types detected) into an SQLite
  file; sqlite-utils leaves the decimal-comma columns as text, so ``pm25``/``pm10`` are then converted to
  REAL (``transform`` + ``UPDATE``) to hold the same typed values as CityAI's table. No index besides the
  primary key (CityAI's Parquet has none either); ``datasette serve -i`` (immutable), one process,
  ``sql_time_limit_ms`` 10000, ``suggest_facets`` off;
* ``datasette-indexed`` (skip with ``--no-index``) - the same file after
  ``CREATE INDEX ON khong_khi(ma_phuong)``,
  what a Datasette publisher would add for this filter.

Two reads, each first checked to give the same answer on both servers (printed), then loaded with
``wrk`` over loopback (warm-up, then ``--duration`` seconds at ``--connections`` and at 1 connection):

* ``search``: one ward's readings, highest PM2.5 first, second page of 20, with the total count -
  CKAN ``/api/3/action/datastore_search?filters={"ma_phuong": X}&sort=pm25 desc, id asc&limit=20&offset=20``
  vs Datasette ``/db/khong_khi.json?ma_phuong=X&_sort_desc=pm25&_size=20&_next=<token of page 1>``;
* ``aggregate``: readings, mean PM2.5 and max PM10 per ward (GROUP BY over every row) -
  ``/api/3/action/datastore_search_sql?sql=...`` vs Datasette ``/db.json?sql=...&_shape=array``.

    python benchmarks/data_query.py                     # 1,000,000 rows, about 5 minutes
    python benchmarks/data_query.py --rows 200000 --duration 5 --no-index --markdown /tmp/query.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data_common as common  # noqa: E402
from api_core import (LOOPBACK, PythonLoad, Result, ServerProcess, Target, WrkLoad,  # noqa: E402
                      _version, clean_env, http, loadavg, machine_facts, measure, wrk_version)

TABLE = "khong_khi"
WARD = common.WARD_CODES[2]  # Phường Bến Thành
AGG_SQL = ("SELECT ma_phuong, count(*) AS so_lan_do, avg(pm25) AS pm25_tb, max(pm10) AS pm10_max "
           "FROM {table} GROUP BY ma_phuong ORDER BY ma_phuong")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- setup


def build_sqlite(csv_file: Path, db: Path) -> subprocess.Popen:
    """Start ``sqlite-utils insert`` in the background (finished by :func:`finish_sqlite`)."""
    exe = shutil.which("sqlite-utils") or str(Path(sys.executable).parent / "sqlite-utils")
    return subprocess.Popen([exe, "insert", str(db), TABLE, str(csv_file), "--csv", "--delimiter", ";",
                             "--pk", "id"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def finish_sqlite(db: Path) -> None:
    """The decimal-comma columns sqlite-utils kept as text become REAL, as CityAI's table has them."""
    import sqlite_utils

    sqlite_utils.Database(db)[TABLE].transform(types={"pm25": float, "pm10": float})
    con = sqlite3.connect(db)
    with con:
        con.execute(f"UPDATE {TABLE} SET pm25 = CAST(replace(pm25, ',', '.') AS REAL), "
                    "pm10 = CAST(replace(pm10, ',', '.') AS REAL)")
    con.execute("VACUUM")
    con.close()


def start_datasette(name: str, db: Path, workdir: Path) -> Target:
    def cmd(port: int) -> list[str]:
        exe = shutil.which("datasette") or str(Path(sys.executable).parent / "datasette")
        return [exe, "serve", "-i", str(db), "--host", LOOPBACK, "--port", str(port),
                "--setting", "sql_time_limit_ms", "10000", "--setting", "suggest_facets", "off"]

    server = ServerProcess(cmd, clean_env(), workdir / f"{name}.log", "/-/versions.json").start()
    return Target(name, server, {}, [])


def start_cityai(home: Path, workdir: Path) -> Target:
    env = common.cityai_env(home, CITYAI_QUERY_TIMEOUT_S="10")

    def cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "cityai", "serve", "--host", LOOPBACK, "--port", str(port),
                "--workers", "1", "--no-worker"]

    server = ServerProcess(cmd, env, workdir / "cityai.log", "/healthz").start()
    return Target("cityai", server, {}, [])


# ---------------------------------------------------------------------------------------------- queries


def get_json(url: str) -> Any:
    status, body = http("GET", url, timeout=60)
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}: {body[:500]!r}")
    return json.loads(body)


def cityai_paths(resource_id: str) -> dict[str, str]:
    search = urllib.parse.urlencode({"resource_id": resource_id, "filters": json.dumps({"ma_phuong": WARD}),
                                     "sort": "pm25 desc, id asc", "limit": 20, "offset": 20})
    sql = urllib.parse.urlencode({"sql": AGG_SQL.format(table=f'"{resource_id}"')})
    return {"search": f"/api/3/action/datastore_search?{search}",
            "aggregate": f"/api/3/action/datastore_search_sql?{sql}"}


def datasette_paths(base: str, dbname: str) -> dict[str, str]:
    first = f"/{dbname}/{TABLE}.json?" + urllib.parse.urlencode({"ma_phuong": WARD, "_sort_desc": "pm25",
                                                                 "_size": 20, "_shape": "objects"})
    token = get_json(base + first)["next"]
    sql = urllib.parse.urlencode({"sql": AGG_SQL.format(table=TABLE), "_shape": "array"})
    return {"search": first + "&" + urllib.parse.urlencode({"_next": token}),
            "aggregate": f"/{dbname}.json?{sql}"}


def answers_cityai(base: str, paths: dict[str, str]) -> dict[str, Any]:
    search = get_json(base + paths["search"])["result"]
    agg = get_json(base + paths["aggregate"])["result"]["records"]
    return {"ids": [r["id"] for r in search["records"]], "pm25": [r["pm25"] for r in search["records"]],
            "total": search["total"], "agg": agg}


def answers_datasette(base: str, paths: dict[str, str]) -> dict[str, Any]:
    search = get_json(base + paths["search"])
    agg = get_json(base + paths["aggregate"])
    return {"ids": [r["id"] for r in search["rows"]], "pm25": [r["pm25"] for r in search["rows"]],
            "total": search["filtered_table_rows_count"], "agg": agg}


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Differences between two servers' answers (empty when they agree)."""
    problems = []
    if a["ids"] != b["ids"] or a["pm25"] != b["pm25"]:
        problems.append(f"search rows differ: {a['ids'][:5]}... vs {b['ids'][:5]}...")
    if a["total"] != b["total"]:
        problems.append(f"search totals differ: {a['total']} vs {b['total']}")
    if len(a["agg"]) != len(b["agg"]):
        problems.append(f"aggregate row counts differ: {len(a['agg'])} vs {len(b['agg'])}")
    for x, y in zip(a["agg"], b["agg"]):
        keys = ("ma_phuong", "so_lan_do", "pm10_max")
        if [x[k] for k in keys] != [y[k] for k in keys] \
                or abs(x["pm25_tb"] - y["pm25_tb"]) > 1e-9 * max(1.0, abs(x["pm25_tb"])):
            problems.append(f"aggregate rows differ: {x} vs {y}")
            break
    return problems


# ---------------------------------------------------------------------------------------------- output

HEADERS = ["target", "read", "conc", "req/s", "p50 ms", "p99 ms", "errors", "cpu ms/req"]


def table_rows(results: list[Result]) -> list[list[str]]:
    out = []
    for r in results:
        if r.rps is None or not r.requests:
            note = r.note or f"no request completed within wrk's timeout ({r.errors or 0} errors)"
            out.append([r.target, r.endpoint, str(r.connections), "-", "-", "-", note, "-"])
            continue
        out.append([r.target, r.endpoint, str(r.connections), f"{r.rps:,.1f}", f"{r.p50_ms:.1f}",
                    f"{r.p99_ms:.1f}", str(r.errors), f"{r.cpu_ms:.1f}" if r.cpu_ms is not None else "-"])
    return out


def text_table(facts: dict[str, str], results: list[Result], notes: list[str]) -> str:
    return common.text_table(
        "data_query - datastore reads, CityAI vs Datasette (same run, same data)",
        facts, HEADERS, table_rows(results), {2, 3, 4, 5, 6, 7},
        [f"note: {n}" for n in notes])


def markdown(facts: dict[str, str], results: list[Result], notes: list[str]) -> str:
    md_headers = ["target", "read", "concurrency", "req/s", "p50 ms", "p99 ms", "errors", "server CPU ms/req"]
    lines = [f"- **{k}**: {v}" for k, v in facts.items()]
    lines += ["", "| " + " | ".join(md_headers) + " |",
              "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:"]) + "|"]
    for row in table_rows(results):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    lines.append("")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- main


def run_reads(load: Any, target: Target, paths: dict[str, str], concurrencies: list[int],
              args: argparse.Namespace) -> list[Result]:
    out = []
    for read in ("search", "aggregate"):
        for conc in concurrencies:
            log(f"  {target.name} {read} c={conc} ...")
            r = measure(load, target, paths[read], conc, args.duration, args.warmup)
            r.endpoint = read
            out.append(r)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the data (default 1,000,000)")
    parser.add_argument("--data-dir", type=Path, default=common.DEFAULT_DATA_DIR,
                        help="where the generated CSV is kept and reused "
                             f"(default {common.DEFAULT_DATA_DIR})")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--no-unloaded", dest="unloaded", action="store_false",
                        help="skip the 1-connection rows")
    parser.add_argument("--no-index", dest="index", action="store_false",
                        help="skip the datasette-indexed target")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto",
                        help="auto (default): wrk when installed, else a Python asyncio loop")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as markdown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.threads < 1 or args.rows < 100:
        parser.error("--duration, --connections, --threads must be >= 1, --warmup >= 0, --rows >= 100")
    concurrencies = [args.connections] + ([1] if args.unloaded and args.connections != 1 else [])

    start_load = loadavg()
    csv_file, generated = common.ensure_csv(args.data_dir, args.rows, log)
    workdir = Path(tempfile.mkdtemp(prefix="cityai-bench-query-"))
    wrk = shutil.which("wrk") if args.load_generator in ("auto", "wrk") else None
    if args.load_generator == "wrk" and not wrk:
        raise SystemExit("wrk was asked for but is not on PATH")
    notes: list[str] = []
    if wrk:
        load: Any = WrkLoad(wrk, args.threads, workdir)
        wrk_ver = wrk_version(wrk)
    else:
        load, wrk_ver = PythonLoad(), None
        notes.append("wrk was not used: the load comes from a Python asyncio loop that competes with the "
                     "server for the CPU, so every figure is a floor.")
    facts = machine_facts(load.name, wrk_ver, args)
    facts["data"] = (f"{args.rows:,} rows ({csv_file.stat().st_size / 1e6:.0f} MB CSV"
                     + (", generated in this run" if generated else ", reused")
                     + f"); filter ma_phuong = {WARD}")
    facts["server"] = (f"cityai {_version('cityai')} on uvicorn {_version('uvicorn')}, 1 worker process "
                       f"(duckdb {_version('duckdb')}, SQLite home); datasette {_version('datasette')} "
                       f"(SQLite {sqlite3.sqlite_version}, file built by sqlite-utils "
                       f"{_version('sqlite-utils')})")
    results: list[Result] = []
    home = workdir / "cityai-home"
    db = workdir / "aq.db"
    target: Target | None = None
    try:
        # Both loads run side by side (they are not what is measured here).
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
        cityai_p = cityai_paths(info["resource_id"])

        log("- CityAI ...")
        target = start_cityai(home, workdir)
        truth = answers_cityai(target.server.url, cityai_p)
        results += run_reads(load, target, cityai_p, concurrencies, args)
        target.server.stop()
        target = None

        names = ["datasette"] + (["datasette-indexed"] if args.index else [])
        for name in names:
            if name == "datasette-indexed":
                con = sqlite3.connect(db)
                con.execute(f"CREATE INDEX idx_{TABLE}_ma_phuong ON {TABLE}(ma_phuong)")
                con.execute("ANALYZE")
                con.close()
            log(f"- {name} ...")
            target = start_datasette(name, db, workdir)
            ds_p = datasette_paths(target.server.url, db.stem)
            problems = compare(truth, answers_datasette(target.server.url, ds_p))
            check = (f"check {name} vs cityai: search page 2 ids {truth['ids'][:3]}... "
                     f"total {truth['total']:,}, "
                     f"aggregate {len(truth['agg'])} wards: " + ("same answers" if not problems
                                                                 else "DIFFER - " + "; ".join(problems)))
            print(check, flush=True)
            notes.append(check)
            results += run_reads(load, target, ds_p, concurrencies, args)
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
    cores = os.cpu_count() or 0
    if cores <= 4:
        notes.append(f"The machine has {cores} cores: wrk and the server share them.")
    try:
        if float(start_load.split()[0]) > 0.5:
            notes.append("Other work was running when this run began (1-min load average "
                         f"{start_load.split()[0]} "
                         f"on {cores} cores): figures are lower and noisier than on an idle machine.")
    except ValueError:
        pass
    notes.append("*search*: filter one ward + sort by pm25 desc (ties by id) + page 2 of 20 + the total "
                 "count; *aggregate*: count, avg(pm25), max(pm10) per ward over all rows. "
                 "*server CPU ms/req*: "
                 "the server process's CPU time per request during the row (DuckDB's threads included).")
    print(text_table(facts, results, notes))
    if args.markdown:
        args.markdown.write_text(markdown(facts, results, notes), encoding="utf-8")
        log(f"markdown written to {args.markdown}")
    return 0 if results and all(r.rps for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
