"""Shared pieces of the data-module benchmarks (``data_ingest.py``, ``data_query.py``).

* :func:`ensure_csv` - a deterministic air-quality-by-ward CSV (Vietnamese conventions: ``;`` delimiter,
  decimal comma ``35,5``, ``dd/mm/yyyy`` dates, ward names with diacritics), cached between runs;
* :func:`run_measured` - run one command in a child process and return its wall time, CPU time and peak
  resident memory (``ru_maxrss`` of that child alone, from ``os.wait4``);
* the ``cityai-ingest`` child (``python benchmarks/_data_common.py cityai-ingest ...``): CityAI's real
  upload path on an SQLite home - create an agency, a public dataset and a resource, stream the file
  through ``catalog.resource_upload`` into storage, then run the ingest job with ``jobs.execute``;
  prints one JSON line with the phases' timings, the row count and the inferred column types.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CSV_VERSION = 1  # bump when the generator's output changes, so cached files are regenerated
SEED = 20251107
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "cityai-bench-data"
DATASET = "chat-luong-khong-khi-phuong"
AGENCY_CODE = "snnmt"
SECRET = "bench-secret-key-0123456789-0123456789"

# Wards of Ho Chi Minh City (names after the 2025 reorganisation); codes are synthetic 5-digit numbers
# in the city's range (267xx-27xxx), one per ward, so "ma_phuong" infers as an integer.
WARDS = [
    "Sài Gòn", "Tân Định", "Bến Thành", "Cầu Ông Lãnh", "Bàn Cờ", "Xuân Hòa", "Nhiêu Lộc", "Xóm Chiếu",
    "Khánh Hội", "Vĩnh Hội", "Chợ Quán", "An Đông", "Chợ Lớn", "Bình Tây", "Bình Tiên", "Bình Phú",
    "Phú Lâm", "Tân Thuận", "Phú Thuận", "Tân Mỹ", "Tân Hưng", "Chánh Hưng", "Phú Định", "Bình Đông",
    "Diên Hồng", "Vườn Lài", "Hòa Hưng", "Minh Phụng", "Bình Thới", "Hòa Bình", "Phú Thọ", "Đông Hưng Thuận",
    "Trung Mỹ Tây", "Tân Thới Hiệp", "Thới An", "An Phú Đông", "An Lạc", "Tân Tạo", "Bình Tân",
    "Bình Trị Đông", "Bình Hưng Hòa", "Gia Định", "Bình Thạnh", "Bình Lợi Trung", "Thạnh Mỹ Tây",
    "Bình Quới", "Hạnh Thông", "An Nhơn", "Gò Vấp", "An Hội Đông", "Thông Tây Hội", "An Hội Tây",
    "Đức Nhuận", "Cầu Kiệu", "Phú Nhuận", "Tân Sơn Hòa", "Tân Sơn Nhất", "Tân Hòa", "Bảy Hiền", "Tân Bình",
    "Tân Sơn", "Tây Thạnh", "Tân Sơn Nhì", "Phú Thọ Hòa", "Tân Phú", "Phú Thạnh", "Hiệp Bình", "Thủ Đức",
    "Tam Bình", "Linh Xuân", "Tăng Nhơn Phú", "Long Bình", "Long Phước", "Long Trường", "Cát Lái",
    "Bình Trưng", "Phước Long", "An Khánh",
]
WARD_CODES = [26734 + 3 * i for i in range(len(WARDS))]
RATINGS = ["Tốt", "Trung bình", "Kém", "Xấu", "Rất xấu"]
HEADER = ["id", "ma_phuong", "ten_phuong", "ngay", "pm25", "pm10", "aqi", "tram", "danh_gia", "ghi_chu"]
NOTES = ["", "", "", "Thiết bị hiệu chuẩn lại", "Mưa lớn buổi chiều", "Công trình xây dựng gần trạm",
         "Ùn tắc giao thông giờ cao điểm", "Đốt rơm rạ ở khu vực lân cận"]


def csv_path(data_dir: Path, rows: int) -> Path:
    return data_dir / f"khong-khi-{rows}-v{CSV_VERSION}.csv"


def _aqi(pm25: float) -> int:
    """US EPA PM2.5 AQI breakpoints (good enough for a realistic column)."""
    bps = [(0, 12, 0, 50), (12.1, 35.4, 51, 100), (35.5, 55.4, 101, 150), (55.5, 150.4, 151, 200),
           (150.5, 250.4, 201, 300), (250.5, 500, 301, 500)]
    for lo, hi, alo, ahi in bps:
        if pm25 <= hi:
            return round(alo + (ahi - alo) * (max(pm25, lo) - lo) / (hi - lo))
    return 500


def _rating(aqi: int) -> str:
    return RATINGS[0 if aqi <= 50 else 1 if aqi <= 100 else 2 if aqi <= 150 else 3 if aqi <= 200 else 4]


def ensure_csv(data_dir: Path, rows: int, log=print) -> tuple[Path, bool]:
    """The benchmark CSV for ``rows`` rows: (path, generated now?). A cached file is reused when its
    sidecar says it is complete and its size still matches."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = csv_path(data_dir, rows)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        try:
            info = json.loads(meta.read_text())
            if info.get("rows") == rows and info.get("bytes") == path.stat().st_size:
                return path, False
        except (OSError, ValueError):
            pass
    log(f"- generating {rows:,} rows into {path} ...")
    rng = random.Random(SEED)
    started = time.perf_counter()
    tmp = path.with_suffix(".part")
    n_wards = len(WARDS)
    # one typical level per ward, so GROUP BY averages differ between wards
    ward_level = [rng.uniform(18, 45) for _ in range(n_wards)]
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(";".join(HEADER) + "\r\n")
        lines = []
        for i in range(1, rows + 1):
            w = rng.randrange(n_wards)
            day = rng.randrange(365)
            month, dom = _month_day(day)
            pm25 = round(min(480.0, max(2.0, rng.lognormvariate(0, 0.45) * ward_level[w])), 1)
            pm10 = round(pm25 * rng.uniform(1.3, 2.1), 1)
            aqi = _aqi(pm25)
            station = f"Trạm {WARDS[w]} {rng.randrange(1, 4)}"
            note = NOTES[rng.randrange(len(NOTES))]
            if ";" in note or '"' in note:
                note = '"' + note.replace('"', '""') + '"'
            lines.append(f"{i};{WARD_CODES[w]};Phường {WARDS[w]};{dom:02d}/{month:02d}/2025;"
                         f"{str(pm25).replace('.', ',')};{str(pm10).replace('.', ',')};{aqi};{station};"
                         f"{_rating(aqi)};{note}\r\n")
            if len(lines) >= 50_000:
                fh.write("".join(lines))
                lines.clear()
        fh.write("".join(lines))
    tmp.replace(path)
    meta.write_text(json.dumps({"rows": rows, "bytes": path.stat().st_size, "version": CSV_VERSION}))
    log(f"  {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s")
    return path, True


_MONTHS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def _month_day(day: int) -> tuple[int, int]:
    for m, n in enumerate(_MONTHS, start=1):
        if day < n:
            return m, day + 1
        day -= n
    return 12, 31


# ---------------------------------------------------------------------------------------------- children


@dataclass
class Measured:
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the child (and its own children, none here)
    maxrss_mib: float  # the child's peak resident set size
    stdout: str
    stderr: str


def run_measured(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> Measured:
    """Run ``cmd`` and measure it alone: wall time, CPU time and ``ru_maxrss`` from ``os.wait4``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return Measured(proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                        out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def cityai_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYAI_")}
    env.update({"CITYAI_HOME": str(home), "CITYAI_SECRET_KEY": SECRET, "CITYAI_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra)
    return env


def sqlite_column_types(db: Path, table: str) -> dict[str, str]:
    con = sqlite3.connect(db)
    try:
        return {r[1]: (r[2] or "").lower() or "untyped" for r in con.execute(f'PRAGMA table_info("{table}")')}
    finally:
        con.close()


def sqlite_count(db: Path, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    finally:
        con.close()


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _cityai_ingest_child(csv_file: Path) -> None:
    """The real upload path on the SQLite home named by CITYAI_HOME; one JSON line on stdout."""
    t0 = time.perf_counter()
    from cityai.core import identity, jobs
    from cityai.core.config import Settings
    from cityai.core.platform import Platform
    from cityai.data import catalog
    from cityai.data.models import ResourceVersion

    platform = Platform(Settings())
    platform.startup()
    with platform.system_context() as ctx:
        agency = identity.agency_create(ctx, code=AGENCY_CODE, name="Sở Nông nghiệp và Môi trường",
                                        kind="department")
        catalog.dataset_create(ctx, name=DATASET, owner_id=agency.id,
                               title="Chất lượng không khí theo phường",
                               visibility="public")
        resource_id = catalog.resource_create(ctx, dataset=DATASET, name="Quan trắc PM2.5 2025",
                                              format="csv").id
    t_setup = time.perf_counter()
    with platform.system_context() as ctx, open(csv_file, "rb") as fh:
        version = catalog.resource_upload(ctx, resource_id=resource_id, stream=fh, filename=csv_file.name)
        version_id, job_id = version.id, version.job_id
    t_upload = time.perf_counter()
    jobs.execute(platform, job_id)
    t_job = time.perf_counter()
    with platform.transaction() as db:
        v = db.get(ResourceVersion, version_id)
        status, error, tables = v.status, v.error, list(v.tables or [])
    platform.close()
    parquet = sum((platform.storage.local_path(t["key"]).stat().st_size for t in tables), 0)
    print(json.dumps({
        "resource_id": resource_id, "status": status, "error": error,
        "rows": tables[0]["rows"] if tables else 0,
        "types": {c["name"]: c["type"] + (f" ({c['format']})" if c.get("format") else "")
                  for c in (tables[0]["columns"] if tables else [])},
        "startup_s": t_setup - t0, "upload_s": t_upload - t_setup, "job_s": t_job - t_upload,
        "parquet_bytes": parquet,
    }, ensure_ascii=False))


def _ingest_only_child(csv_file: Path, out_dir: Path) -> None:
    """``ingest.ingest`` alone, no platform: one JSON line on stdout."""
    from cityai.data import ingest

    t0 = time.perf_counter()
    result = ingest.ingest(csv_file, out_dir, filename=csv_file.name)
    t1 = time.perf_counter()
    table = result.tables[0]
    print(json.dumps({"rows": table.rows, "ingest_s": t1 - t0, "parquet_bytes": table.path.stat().st_size,
                      "types": {c.name: c.type + (f" ({c.format})" if c.format else "")
                                for c in table.columns}},
                     ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "cityai-ingest":
        _cityai_ingest_child(Path(sys.argv[2]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "ingest-only":
        _ingest_only_child(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit("usage: _data_common.py cityai-ingest CSV | ingest-only CSV OUT_DIR")


def text_table(title: str, facts: dict[str, str], headers: list[str], body: list[list[str]],
               right: set[int], extra: list[str]) -> str:
    """A fixed-width results table for the terminal: title, machine facts, rows, then ``extra`` lines."""
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [title, ""] + [f"{k:>10}: {v}" for k, v in facts.items()]
    lines += ["", fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(row) for row in body] + [""]
    return "\n".join(lines + extra).rstrip() + "\n"
