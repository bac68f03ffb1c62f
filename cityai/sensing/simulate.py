"""The sensing demo's devices and their data: real series replayed over MQTT, or written as history.

Sources (from ``../shared/data``, :func:`cityai.data.reference.shared_data_dir`, when present):

- **traffic** — ``los-loop/los_speed.csv``: speeds of 207 loop detectors on the freeways of Los Angeles
  County, every 5 minutes for the week of 1-7 March 2012 (PeMS, as used by T-GCN; the speeds are in miles
  per hour, sent with ``unitCode`` ``HM`` so that ingestion converts them to km/h). **These sensors are in Los
  Angeles**; for the demo the first ``sensors`` of them are placed along five arterial roads of Ho Chi Minh
  City (Võ Văn Kiệt, Cách Mạng Tháng Tám, Điện Biên Phủ, Trường Chinh, Nguyễn Văn Trỗi). Device ids
  ``loop-<PeMS sensor id>``, type ``TrafficFlowObserved``, attribute ``averageVehicleSpeed``.
- **air** — ``aqi-hcmc/*.csv``: Ho Chi Minh City's hourly AQI, PM2.5, temperature, humidity and wind from
  IQAir (February-June 2025): device ``aqi-hcmc``. ``uci-airquality/AirQualityUCI.csv``: the UCI multisensor
  station (an Italian city, 2004-2005; CO in mg/m³ sent as ``GP``, NO₂ in µg/m³, temperature, relative
  humidity in % sent as ``P1``; ``-200`` = missing; the original ``;``/decimal-comma file or the
  comma-separated re-export): device ``uci-aq``, also placed in Ho Chi Minh City for the demo.

Without the shared data (or ``data_dir=None``), the same devices get generated series: traffic speeds
with a daily cycle, weekday rush hours and noise; PM2.5 with morning and evening peaks, temperature and
humidity with a daily cycle. The generated values are a deterministic function of (device, time), so a
replay and a backfill agree.

**Time mapping.** A series is replayed on the current calendar: it is cut into whole weeks and repeated, the
week aligned so that a sample keeps its weekday and local time of day (the series' own local time read as
Ho Chi Minh City time, UTC+7), so the morning rush hour of the data falls on the city's morning. The replay
never stamps a reading in the future: the simulated clock starts ``history_h`` hours back (or at
``start_time``), runs ``speed`` times faster than real time until it catches up with the present, then runs
at real time (every sensor's next 5-minute or hourly reading when it is due).

:func:`simulate` publishes to ``<prefix>/<agency>/<device>`` at QoS 1; :func:`backfill` writes the last
hours directly through :func:`cityai.sensing.ingest.ingest` (no broker); :func:`demo_devices` lists the
devices to register.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import logging
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

log = logging.getLogger(__name__)

HCMC = dt.timezone(dt.timedelta(hours=7))
WEEK_MS = 7 * 86_400_000
STEP_TRAFFIC_MS = 5 * 60_000
STEP_AIR_MS = 60 * 60_000
# Any Monday 00:00 in Ho Chi Minh City: series are repeated in whole weeks from here.
ANCHOR_MS = int(dt.datetime(2024, 1, 1, tzinfo=HCMC).timestamp() * 1000)
SOURCES = ("traffic", "air")

# The first 20 Los-loop sensors (los_speed.csv's header order); the ids are the same with or without the file.
LOS_LOOP_IDS = ("773869", "767541", "767542", "717447", "717446", "717445", "773062", "767620", "737529",
                "717816", "765604", "767471", "716339", "773906", "765273", "716331", "771667", "716337",
                "769953", "769402")

# Arterial roads of Ho Chi Minh City (from, to) where the demo places the Los Angeles loop detectors.
ROADS = (
    ("Võ Văn Kiệt", (10.7585, 106.6355), (10.7672, 106.6990)),
    ("Cách Mạng Tháng Tám", (10.7745, 106.6905), (10.7955, 106.6595)),
    ("Điện Biên Phủ", (10.7880, 106.6860), (10.8012, 106.7155)),
    ("Trường Chinh", (10.7990, 106.6470), (10.8185, 106.6330)),
    ("Nguyễn Văn Trỗi", (10.7905, 106.6850), (10.8060, 106.6700)),
)
AIR_DEVICES = {
    "aqi-hcmc": {"name": "Trạm AQI TP.HCM (IQAir)", "lat": 10.7829, "lon": 106.7004},
    "uci-aq": {"name": "Trạm đa cảm biến khí (chuỗi UCI Air Quality, minh họa)", "lat": 10.8045, "lon": 106.6650},
}


def _ms(t: dt.datetime) -> int:
    return int(round(t.timestamp() * 1000))


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _local_ms(naive: dt.datetime) -> int:
    """A series' own local wall time, read as Ho Chi Minh City time."""
    return _ms(naive.replace(tzinfo=HCMC) if naive.tzinfo is None else naive)


# ------------------------------------------------------------------ feeds


@dataclass
class Feed:
    """One device's series: :meth:`samples` gives ``(t_ms, fields)`` for simulated times in ``(a, b]``."""

    device: dict[str, Any]
    step_ms: int
    offsets: list[int] = field(default_factory=list)  # within one period, sorted (a table feed)
    values: list[dict[str, Any]] = field(default_factory=list)
    period_ms: int = WEEK_MS
    fn: Callable[[int], dict[str, Any] | None] | None = None  # a generated feed: fields at a time

    def samples(self, a_ms: int, b_ms: int) -> Iterator[tuple[int, dict[str, Any]]]:
        if b_ms <= a_ms:
            return
        if self.fn is not None:
            t = (a_ms // self.step_ms + 1) * self.step_ms
            while t <= b_ms:
                v = self.fn(t)
                if v:
                    yield t, v
                t += self.step_ms
            return
        if not self.offsets:
            return
        first = (a_ms - ANCHOR_MS) // self.period_ms
        last = (b_ms - ANCHOR_MS) // self.period_ms
        for c in range(first, last + 1):
            base = ANCHOR_MS + c * self.period_ms
            lo = bisect.bisect_right(self.offsets, a_ms - base)
            hi = bisect.bisect_right(self.offsets, b_ms - base)
            for i in range(lo, hi):
                yield base + self.offsets[i], self.values[i]

    def payload(self, t_ms: int, fields: dict[str, Any]) -> dict[str, Any]:
        return {"type": self.device["type"], "observedAt": _iso(t_ms), **fields}


def _table_feed(device: dict[str, Any], step_ms: int, rows: list[tuple[int, dict[str, Any]]]) -> Feed:
    """Rows (local-time ms, fields) cut into whole weeks (at least one) from the Monday before the first."""
    rows = sorted(rows, key=lambda r: r[0])
    first, last = rows[0][0], rows[-1][0]
    weeks = max(1, (last - first + step_ms) // WEEK_MS)
    period = weeks * WEEK_MS
    base = ANCHOR_MS + ((first - ANCHOR_MS) // WEEK_MS) * WEEK_MS
    pairs = sorted((((t - base) % period, v) for t, v in rows), key=lambda p: p[0])
    offsets, values = [], []
    for off, v in pairs:
        if offsets and offsets[-1] == off:
            continue  # an overlapping week's duplicate time: the first stays
        offsets.append(off)
        values.append(v)
    return Feed(device, step_ms, offsets, values, period)


# ------------------------------------------------------------------ readers of the shared data


def read_los_loop(path: Path, sensor_ids: Iterable[str]) -> dict[str, list[tuple[int, float]]]:
    """{sensor id: [(local ms, mph), ...]} from los_speed.csv (2,016 five-minute rows from 2012-03-01 00:00)."""
    want = list(sensor_ids)
    start = dt.datetime(2012, 3, 1)
    out: dict[str, list[tuple[int, float]]] = {s: [] for s in want}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        cols = {s: header.index(s) for s in want if s in header}
        for i, row in enumerate(reader):
            t = _local_ms(start + dt.timedelta(minutes=5 * i))
            for s, c in cols.items():
                try:
                    v = float(row[c])
                except (ValueError, IndexError):
                    continue
                if math.isfinite(v) and v > 0:
                    out[s].append((t, v))
    return {s: rows for s, rows in out.items() if rows}


def _num(text: str, suffix: str = "") -> float | None:
    text = (text or "").strip()
    if suffix and text.endswith(suffix):
        text = text[: -len(suffix)].strip()
    try:
        v = float(text.replace(",", "."))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def read_aqi_hcmc(folder: Path) -> list[tuple[int, dict[str, Any]]]:
    """IQAir's hourly rows (timestamp with +07:00; "7.4 km/h", "78%", "27.8°C"; "N/A") as (ms, fields)."""
    rows: dict[int, dict[str, Any]] = {}
    for path in sorted(Path(folder).glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                try:
                    t = dt.datetime.fromisoformat(rec["timestamp"].strip())
                except (KeyError, ValueError):
                    continue
                fields: dict[str, Any] = {}
                if (aqi := _num(rec.get("aqi", ""))) is not None:
                    fields["airQualityIndex"] = aqi
                if (pm := _num(rec.get("pm25", ""))) is not None:
                    fields["pm25"] = pm
                if (temp := _num(rec.get("temperature", ""), "°C")) is not None:
                    fields["temperature"] = temp
                if (rh := _num(rec.get("humidity", ""), "%")) is not None:
                    fields["relativeHumidity"] = {"value": rh, "unitCode": "P1"}
                if (wind := _num(rec.get("wind_speed", ""), "km/h")) is not None:
                    fields["windSpeed"] = wind
                if fields:
                    # readings come a few minutes past the hour: keep them on the hour
                    ms = _local_ms(t.replace(minute=0, second=0, microsecond=0))
                    rows.setdefault(ms, fields)
    return sorted(rows.items())


def read_uci(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """AirQualityUCI.csv, the original (``;``, decimal comma, ``18.00.00``) or the comma re-export
    (``CO_GT``, ``18:00:00``); -200 is missing."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        head = f.readline()
        delim = ";" if head.count(";") > head.count(",") else ","
        f.seek(0)
        reader = csv.reader(f, delimiter=delim)
        header = [h.strip().replace("(", "_").replace(")", "") for h in next(reader)]
        idx = {h: i for i, h in enumerate(header) if h}

        def col(*names: str) -> int | None:
            return next((idx[n] for n in names if n in idx), None)

        c_date, c_time = col("Date"), col("Time")
        c_co, c_no2, c_t, c_rh = col("CO_GT", "CO_GT_"), col("NO2_GT", "NO2_GT_"), col("T"), col("RH")
        out: dict[int, dict[str, Any]] = {}
        for row in reader:
            if c_date is None or c_time is None or len(row) <= max(c_date, c_time):
                continue
            try:
                d, m, y = (int(x) for x in row[c_date].strip().split("/"))
                hh, mm = (int(x) for x in row[c_time].strip().replace(".", ":").split(":")[:2])
                t = dt.datetime(y, m, d, hh, mm)
            except ValueError:
                continue

            def val(c: int | None, row: list[str] = row) -> float | None:
                if c is None or c >= len(row):
                    return None
                v = _num(row[c])
                return None if v is None or v == -200 else v

            fields: dict[str, Any] = {}
            if (co := val(c_co)) is not None and co >= 0:
                fields["co"] = {"value": co, "unitCode": "GP"}
            if (no2 := val(c_no2)) is not None and no2 >= 0:
                fields["no2"] = no2
            if (temp := val(c_t)) is not None:
                fields["temperature"] = temp
            if (rh := val(c_rh)) is not None and 0 <= rh <= 100:
                fields["relativeHumidity"] = {"value": rh, "unitCode": "P1"}
            if fields:
                out.setdefault(_local_ms(t), fields)
    return sorted(out.items())


# ------------------------------------------------------------------ generated series


def _noise(key: str, t_ms: int, sigma: float) -> float:
    return random.Random(f"{key}:{t_ms}").gauss(0.0, sigma)


def _local_hour(t_ms: int) -> tuple[float, int]:
    t = dt.datetime.fromtimestamp(t_ms / 1000, HCMC)
    return t.hour + t.minute / 60, t.weekday()


def _bump(h: float, center: float, width: float) -> float:
    return math.exp(-((h - center) / width) ** 2)


def generated_traffic(device_id: str, index: int) -> Callable[[int], dict[str, Any]]:
    free = 42.0 + (index % 5) * 4  # km/h on an urban arterial road
    depth = 0.45 + (index % 3) * 0.08

    def fn(t_ms: int) -> dict[str, Any]:
        h, wd = _local_hour(t_ms)
        rush = (_bump(h, 7.5, 1.1) + 1.15 * _bump(h, 17.6, 1.3)) * (1.0 if wd < 5 else 0.35)
        night = 0.12 * _bump(h, 3.0, 2.5)
        v = free * (1 - depth * min(rush, 1.2) + night) + _noise(device_id, t_ms, 2.0)
        return {"averageVehicleSpeed": round(max(3.0, v), 1)}

    return fn


def _aqi_from_pm25(pm: float) -> float:
    """US EPA AQI of a PM2.5 concentration (µg/m³), as IQAir reports it."""
    bps = [(0, 9.0, 0, 50), (9.1, 35.4, 51, 100), (35.5, 55.4, 101, 150), (55.5, 125.4, 151, 200),
           (125.5, 225.4, 201, 300), (225.5, 325.4, 301, 500)]
    for lo, hi, a, b in bps:
        if pm <= hi:
            return round(a + (b - a) * (max(pm, lo) - lo) / (hi - lo))
    return 500.0


def generated_air(device_id: str) -> Callable[[int], dict[str, Any]]:
    def fn(t_ms: int) -> dict[str, Any]:
        h, wd = _local_hour(t_ms)
        pm = 18 + 22 * _bump(h, 8.0, 2.0) + 18 * _bump(h, 19.5, 2.5) + (4 if wd < 5 else 0)
        pm = max(2.0, pm + _noise(device_id, t_ms, 4.0))
        temp = 30.0 + 3.5 * math.cos((h - 14.0) / 24 * 2 * math.pi) + _noise(device_id + "t", t_ms, 0.4)
        rh = 72 - 12 * math.cos((h - 14.0) / 24 * 2 * math.pi) + _noise(device_id + "h", t_ms, 2.0)
        fields: dict[str, Any] = {"temperature": round(temp, 1),
                                  "relativeHumidity": {"value": round(min(100, max(20, rh))), "unitCode": "P1"}}
        if device_id == "uci-aq":
            fields["co"] = {"value": round(0.4 + pm / 25, 2), "unitCode": "GP"}
            fields["no2"] = round(30 + pm * 1.6 + _noise(device_id + "n", t_ms, 6.0), 1)
        else:
            fields["pm25"] = round(pm, 1)
            fields["airQualityIndex"] = _aqi_from_pm25(pm)
        return fields

    return fn


# ------------------------------------------------------------------ devices


def _road_positions(n: int) -> list[tuple[str, float, float]]:
    per_road: dict[int, int] = {}
    slots = [i % len(ROADS) for i in range(n)]
    for r in slots:
        per_road[r] = per_road.get(r, 0) + 1
    seen: dict[int, int] = {}
    out = []
    for r in slots:
        k = seen.get(r, 0)
        seen[r] = k + 1
        name, (la0, lo0), (la1, lo1) = ROADS[r]
        f = (k + 0.5) / per_road[r]
        out.append((name, round(la0 + (la1 - la0) * f, 5), round(lo0 + (lo1 - lo0) * f, 5)))
    return out


def _los_ids(data_dir: Path | None, sensors: int) -> list[str]:
    if sensors <= len(LOS_LOOP_IDS):
        return list(LOS_LOOP_IDS[:sensors])
    path = data_dir / "los-loop" / "los_speed.csv" if data_dir else None
    if path and path.is_file():
        with open(path, encoding="utf-8") as f:
            return [h.strip() for h in f.readline().split(",")][:sensors]
    return list(LOS_LOOP_IDS) + [f"gen{i:03d}" for i in range(len(LOS_LOOP_IDS), sensors)]


def demo_devices(data_dir: Path | str | None = None, *, sensors: int = 20,
                 sources: Iterable[str] = SOURCES) -> list[dict[str, Any]]:
    """The demo's devices: ``{"device_id", "type", "name", "lat", "lon", "source"}``, the same ids with or
    without the shared data (``source`` says where their series comes from: a file, or ``generated``)."""
    d = Path(data_dir) if data_dir else None
    sources = set(sources)
    out: list[dict[str, Any]] = []
    if "traffic" in sources:
        have = bool(d and (d / "los-loop" / "los_speed.csv").is_file())
        for sid, (road, lat, lon) in zip(_los_ids(d, sensors), _road_positions(sensors)):
            out.append({"device_id": f"loop-{sid}", "type": "TrafficFlowObserved",
                        "name": f"{road} — cảm biến vòng từ {sid}"
                                + (" (dữ liệu Los-loop, Los Angeles)" if have else ""),
                        "lat": lat, "lon": lon, "source": "los-loop" if have else "generated"})
    if "air" in sources:
        have_aqi = bool(d and (d / "aqi-hcmc").is_dir() and any((d / "aqi-hcmc").glob("*.csv")))
        have_uci = bool(d and (d / "uci-airquality" / "AirQualityUCI.csv").is_file())
        for dev_id, have in (("aqi-hcmc", have_aqi), ("uci-aq", have_uci)):
            meta = AIR_DEVICES[dev_id]
            out.append({"device_id": dev_id, "type": "AirQualityObserved", "name": meta["name"],
                        "lat": meta["lat"], "lon": meta["lon"],
                        "source": ("aqi-hcmc" if dev_id == "aqi-hcmc" else "uci-airquality") if have else "generated"})
    return out


def feeds(data_dir: Path | str | None = None, *, sensors: int = 20, sources: Iterable[str] = SOURCES) -> list[Feed]:
    """One :class:`Feed` per demo device: replayed from the shared data when present, else generated."""
    d = Path(data_dir) if data_dir else None
    devices = demo_devices(d, sensors=sensors, sources=sources)
    traffic = [x for x in devices if x["type"] == "TrafficFlowObserved"]
    out: list[Feed] = []
    loops: dict[str, list[tuple[int, float]]] = {}
    if traffic and traffic[0]["source"] == "los-loop" and d is not None:
        loops = read_los_loop(d / "los-loop" / "los_speed.csv", [x["device_id"][5:] for x in traffic])
    for i, dev in enumerate(traffic):
        rows = loops.get(dev["device_id"][5:])
        if rows:
            out.append(_table_feed(dev, STEP_TRAFFIC_MS, [
                (t, {"averageVehicleSpeed": {"value": v, "unitCode": "HM"}}) for t, v in rows]))
        else:
            dev["source"] = "generated"
            out.append(Feed(dev, STEP_TRAFFIC_MS, fn=generated_traffic(dev["device_id"], i)))
    for dev in devices:
        if dev["type"] != "AirQualityObserved":
            continue
        rows = []
        if dev["source"] == "aqi-hcmc" and d is not None:
            rows = read_aqi_hcmc(d / "aqi-hcmc")
        elif dev["source"] == "uci-airquality" and d is not None:
            rows = read_uci(d / "uci-airquality" / "AirQualityUCI.csv")
        if rows:
            out.append(_table_feed(dev, STEP_AIR_MS, rows))
        else:
            dev["source"] = "generated"
            out.append(Feed(dev, STEP_AIR_MS, fn=generated_air(dev["device_id"])))
    return out


def _registered(platform: Any, device_ids: Iterable[str], agency_code: str | None = None) -> dict[str, str]:
    """{device id: agency code} of the given ids as registered (and active), optionally in one agency."""
    from sqlalchemy import select

    from cityai.core.models import Agency
    from cityai.sensing.models import Device

    ids = list(device_ids)
    with platform.transaction() as db:
        stmt = select(Device.device_id, Agency.code).join(Agency, Agency.id == Device.agency_id).where(
            Device.device_id.in_(ids), Device.active.is_(True))
        if agency_code:
            stmt = stmt.where(Agency.code == agency_code)
        out: dict[str, str] = {}
        for dev_id, code in db.execute(stmt.order_by(Agency.code)).all():
            out.setdefault(dev_id, code)
    return out


def register_devices(platform: Any, agency_code: str, devices: list[dict[str, Any]]) -> int:
    """Register those of ``devices`` the agency does not have yet; returns how many were new."""
    from cityai.core import identity
    from cityai.sensing import service

    have = _registered(platform, [d["device_id"] for d in devices], agency_code)
    new = 0
    with platform.system_context() as ctx:
        agency = identity.agency_by_code(ctx, agency_code)
        if agency is None:
            raise ValueError(f"no agency with code {agency_code!r}")
        for d in devices:
            if d["device_id"] in have:
                continue
            service.device_register.unchecked(ctx, agency_id=agency.id, device_id=d["device_id"], type=d["type"],
                                              name=d.get("name"), lat=d.get("lat"), lon=d.get("lon"))
            new += 1
    return new


# ------------------------------------------------------------------ backfill (no broker)


def backfill(platform: Any, agency_code: str | None = None, *, data_dir: Path | str | None = None,
             hours: float = 48, sensors: int = 20, sources: Iterable[str] = SOURCES,
             end: dt.datetime | None = None, batch: int = 5000) -> dict[str, Any]:
    """Write the last ``hours`` of the demo devices' series through :func:`~cityai.sensing.ingest.ingest`
    (batches of ``batch`` messages, one transaction each). Only devices registered (in ``agency_code`` when
    given) are written; values already stored are skipped."""
    from cityai.sensing.ingest import Message, ingest

    t0 = time.perf_counter()
    end_ms = _ms(end or dt.datetime.now(dt.timezone.utc)) - 1000
    start_ms = end_ms - int(hours * 3_600_000)
    fs = feeds(data_dir, sensors=sensors, sources=sources)
    where = _registered(platform, [f.device["device_id"] for f in fs], agency_code)
    messages: list[Message] = []
    for f in fs:
        code = where.get(f.device["device_id"])
        if code is None:
            continue
        for t, fields in f.samples(start_ms, end_ms):
            messages.append(Message(code, f.device["device_id"], f.payload(t, fields), channel="backfill"))
    messages.sort(key=lambda m: m.payload["observedAt"])
    counts = {"devices": len(where), "messages": len(messages), "stored": 0, "duplicate": 0, "rejected": 0}
    codes: dict[str, int] = {}
    for i in range(0, len(messages), batch):
        for o in ingest(platform, messages[i:i + batch]):
            counts[o.status] = counts.get(o.status, 0) + 1
            if o.code:
                codes[o.code] = codes.get(o.code, 0) + 1
    counts["rejected_codes"] = codes
    counts["seconds"] = round(time.perf_counter() - t0, 2)
    return counts


# ------------------------------------------------------------------ replay over MQTT


class SimClock:
    """Simulated time: from ``start_ms``, ``speed`` times real time, never past the real present."""

    def __init__(self, start_ms: int, speed: float, now: Callable[[], float] = time.time) -> None:
        self.start_ms = start_ms
        self.speed = max(float(speed), 1.0)
        self._now = now
        self.t0 = now()

    def __call__(self) -> int:
        real = self._now()
        return min(int(self.start_ms + (real - self.t0) * 1000 * self.speed), int(real * 1000))

    def live(self) -> bool:
        return self() >= int(self._now() * 1000) - 1


def simulate(broker_url: str, agency_code: str | None = None, *, platform: Any = None,
             sources: Iterable[str] = SOURCES, data_dir: Path | str | None = None, speed: float = 60.0,
             history_h: float = 1.0, start_time: dt.datetime | None = None, rate_limit: float | None = None,
             duration_s: float | None = None, sensors: int = 20, register: bool = False,
             topic_prefix: str | None = None, client_id: str | None = None,
             progress: Callable[[str], None] | None = print, progress_every_s: float = 5.0,
             stop: threading.Event | None = None) -> dict[str, Any]:
    """Replay the demo devices' series to ``<prefix>/<agency>/<device>`` at QoS 1 until ``duration_s`` (real
    seconds), ``stop`` or Ctrl-C; returns the counts. See the module's docstring for the time mapping.

    The agency of each device: where it is registered (with ``platform``), else ``agency_code``;
    ``register=True`` registers the missing ones in ``agency_code`` first. A device with no agency is
    skipped (said through ``progress``)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from cityai.sensing.mqtt import BrokerURL, make_client

    say = progress or (lambda s: None)
    fs = feeds(data_dir, sensors=sensors, sources=sources)
    devices = [f.device for f in fs]
    if platform is not None and register:
        if not agency_code:
            raise ValueError("register=True needs the agency_code to register the devices in")
        n = register_devices(platform, agency_code, devices)
        if n:
            say(f"registered {n} devices in {agency_code}")
    where = _registered(platform, [d["device_id"] for d in devices]) if platform is not None else {}
    agency_of = {d["device_id"]: where.get(d["device_id"]) or agency_code for d in devices}
    missing = [k for k, v in agency_of.items() if not v]
    if missing:
        say(f"skipping {len(missing)} unregistered devices (give --agency and --register): {', '.join(missing[:5])}")
    fs = [f for f in fs if agency_of.get(f.device["device_id"])]
    if not fs:
        raise ValueError("no device to simulate: register the demo devices or give an agency code")
    if topic_prefix is None:
        topic_prefix = platform.settings.sensing_mqtt_topic_prefix if platform is not None else "cityai/v1"
    prefix = topic_prefix.rstrip("/")

    b = BrokerURL.parse(broker_url)
    client = make_client(b, client_id or f"cityai-sim-{uuid.uuid4().hex[:10]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 10)
    connected = threading.Event()
    acked = [0]
    client.on_connect = lambda *a: connected.set()

    def on_publish(*a: Any) -> None:
        acked[0] += 1

    client.on_publish = on_publish
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect_async(b.host, b.port, keepalive=30, clean_start=False, properties=props)
    client.loop_start()
    if not connected.wait(15):
        client.loop_stop()
        raise ConnectionError(f"cannot connect to the MQTT broker {b.redacted()}")

    now_s = time.time()
    start_ms = _ms(start_time) if start_time else int((now_s - history_h * 3600) * 1000)
    start_ms = min(start_ms, int(now_s * 1000))
    clock = SimClock(start_ms, speed)
    stop = stop or threading.Event()
    sources_txt = ", ".join(sorted({f.device["source"] for f in fs}))
    say(f"simulating {len(fs)} devices ({sources_txt}) to {b.redacted()} {prefix}/<agency>/<device>; "
        f"from {_iso(start_ms)} at {clock.speed:g}x until caught up, then live")
    sent = 0
    t_start = time.monotonic()
    last_report = t_start
    cursor = start_ms
    try:
        while not stop.is_set():
            if duration_s is not None and time.monotonic() - t_start >= duration_s:
                break
            upto = clock()
            batch = []
            for f in fs:
                code = agency_of[f.device["device_id"]]
                topic = f"{prefix}/{code}/{f.device['device_id']}"
                batch.extend((t, topic, f.payload(t, fields)) for t, fields in f.samples(cursor, upto))
            batch.sort(key=lambda x: x[0])
            for _t, topic, payload in batch:
                client.publish(topic, _dumps(payload), qos=1)
                sent += 1
                if rate_limit:
                    ahead = sent / rate_limit - (time.monotonic() - t_start)
                    if ahead > 0:
                        time.sleep(ahead)
                if stop.is_set():
                    break
            cursor = upto
            now_m = time.monotonic()
            if now_m - last_report >= progress_every_s:
                last_report = now_m
                say(f"  simulated {_iso(cursor)}{' (live)' if clock.live() else ''}: {sent} sent, "
                    f"{acked[0]} acknowledged, {sent / max(now_m - t_start, 1e-6):.0f} msg/s")
            stop.wait(0.2 if not clock.live() else 1.0)
    except KeyboardInterrupt:
        pass
    finally:
        deadline = time.monotonic() + 15
        while acked[0] < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        client.disconnect()
        client.loop_stop()
    result = {"devices": len(fs), "sent": sent, "acknowledged": acked[0], "simulated_from": _iso(start_ms),
              "simulated_to": _iso(cursor), "caught_up": cursor >= int(time.time() * 1000) - 60_000,
              "seconds": round(time.monotonic() - t_start, 1)}
    say(f"done: {sent} sent, {acked[0]} acknowledged by the broker, simulated {result['simulated_from']} -> "
        f"{result['simulated_to']}")
    return result


def _dumps(payload: dict[str, Any]) -> str:
    import json

    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------ command line


def _command():
    import click

    @click.command("simulate")
    @click.option("--agency", "agency_code", default=None,
                  help="Agency code for devices not registered yet (with --register) or when there is no database.")
    @click.option("--broker", default=None,
                  help="Broker URL (default CITYAI_SENSING_MQTT_URL or mqtt://127.0.0.1:1883).")
    @click.option("--data", "data_dir", type=click.Path(file_okay=False), default=None,
                  help="The shared data folder (default: ../shared/data when present; else generated series).")
    @click.option("--generated", is_flag=True, help="Generated series even when the shared data is present.")
    @click.option("--source", "sources", multiple=True, type=click.Choice(SOURCES),
                  help="traffic and/or air (default both).")
    @click.option("--sensors", default=20, show_default=True, type=click.IntRange(1, 207), help="Traffic sensors.")
    @click.option("--speed", default=60.0, show_default=True, help="Replay speed while catching up with the present.")
    @click.option("--history-hours", default=1.0, show_default=True, help="Start this many hours back.")
    @click.option("--rate-limit", type=float, default=None, help="At most this many messages per second.")
    @click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: Ctrl-C).")
    @click.option("--register", is_flag=True, help="Register the devices missing in --agency first.")
    @click.option("--backfill-hours", type=float, default=0.0,
                  help="First write this many hours of history directly into the database (no broker).")
    def simulate_command(agency_code: str | None, broker: str | None, data_dir: str | None, generated: bool,
                         sources: tuple[str, ...], sensors: int, speed: float, history_hours: float,
                         rate_limit: float | None, duration: float | None, register: bool,
                         backfill_hours: float) -> None:
        """Phát lại chuỗi dữ liệu cảm biến qua MQTT cho bản demo / replay sensor series over MQTT for the demo.

        Los-loop traffic speeds (Los Angeles sensors placed on Ho Chi Minh City roads) and HCMC/UCI air quality
        from ../shared/data, or generated series; observedAt is mapped onto the present, never in the future.
        """
        import signal

        from cityai.cli import _platform

        platform = _platform()
        if generated:
            folder = None
        elif data_dir:
            folder = Path(data_dir)
        else:
            from cityai.data.reference import shared_data_dir

            folder = shared_data_dir()
        srcs = sources or SOURCES
        if register:
            if not agency_code:
                raise click.UsageError("--register needs --agency")
            n = register_devices(platform, agency_code, demo_devices(folder, sensors=sensors, sources=srcs))
            click.echo(f"registered {n} devices in {agency_code}", err=True)
        if backfill_hours > 0:
            r = backfill(platform, agency_code, data_dir=folder, hours=backfill_hours, sensors=sensors, sources=srcs)
            click.echo(f"backfill: {r['messages']} messages of {r['devices']} devices, {r['stored']} stored, "
                       f"{r['duplicate']} already there, {r['rejected']} rejected ({r['seconds']} s)", err=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        url = broker or platform.settings.sensing_mqtt_url or "mqtt://127.0.0.1:1883"
        try:
            simulate(url, agency_code, platform=platform, sources=srcs, data_dir=folder, speed=speed,
                     history_h=history_hours, rate_limit=rate_limit, duration_s=duration, sensors=sensors,
                     progress=lambda s: click.echo(s, err=True), stop=stop)
        except (ValueError, ConnectionError) as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            platform.close()

    return simulate_command


simulate_command = _command()
