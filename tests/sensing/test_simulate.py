"""The demo's simulator: readers of the shared series, the time mapping, backfill through ingestion, replay
over a real MQTT broker into a real platform."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cityai.data.reference import shared_data_dir
from cityai.sensing import mqtt, simulate
from cityai.sensing.models import Device, Observation, Rejected
from tests.sensing.test_mqtt import need_shared_broker, wait_for

ROOT = Path(__file__).resolve().parents[2]
SHARED = shared_data_dir()
HAVE_SHARED = bool(SHARED and (SHARED / "los-loop" / "los_speed.csv").is_file())


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _agency(platform, code: str = "sxd") -> int:
    from cityai.core import identity

    with platform.system_context() as ctx:
        return identity.agency_create(ctx, code=code, name=f"Cơ quan {code}", kind="department").id


def _obs(platform) -> tuple[int, int | None, int | None]:
    with platform.transaction() as db:
        n, lo, hi = db.execute(select(func.count(), func.min(Observation.t_ms), func.max(Observation.t_ms))).one()
        return n, lo, hi


def _rejections(platform) -> list[str]:
    with platform.transaction() as db:
        return list(db.execute(select(Rejected.code)).scalars())


# ------------------------------------------------------------------ devices and readers


def test_demo_devices_have_the_same_ids_with_or_without_the_data():
    generated = simulate.demo_devices(None)
    assert len(generated) == 22
    assert {d["type"] for d in generated} == {"TrafficFlowObserved", "AirQualityObserved"}
    assert generated[0]["device_id"] == "loop-773869" and {"aqi-hcmc", "uci-aq"} <= {d["device_id"] for d in generated}
    for d in generated:  # placed in Ho Chi Minh City
        assert 10.70 <= d["lat"] <= 10.90 and 106.60 <= d["lon"] <= 106.80, d
        assert d["source"] == "generated"
    assert len({(d["lat"], d["lon"]) for d in generated}) == len(generated)
    if HAVE_SHARED:
        real = simulate.demo_devices(SHARED)
        assert [d["device_id"] for d in real] == [d["device_id"] for d in generated]
        assert {d["source"] for d in real} == {"los-loop", "aqi-hcmc", "uci-airquality"}
        assert "Los Angeles" in real[0]["name"]
    assert [d["device_id"] for d in simulate.demo_devices(None, sensors=3, sources=["traffic"])] == [
        "loop-773869", "loop-767541", "loop-767542"]


def test_readers_of_the_three_formats(tmp_path):
    (tmp_path / "los-loop").mkdir()
    (tmp_path / "los-loop" / "los_speed.csv").write_text("773869,767541\n64.375,67.625\n62.5,68\n", encoding="utf-8")
    loops = simulate.read_los_loop(tmp_path / "los-loop" / "los_speed.csv", ["773869", "767541", "999"])
    assert list(loops) == ["773869", "767541"]
    t0 = int(dt.datetime(2012, 3, 1, tzinfo=simulate.HCMC).timestamp() * 1000)
    assert loops["773869"] == [(t0, 64.375), (t0 + 300_000, 62.5)]

    (tmp_path / "aqi").mkdir()
    (tmp_path / "aqi" / "a.csv").write_text(
        "timestamp,city,aqi,weather_icon,wind_speed,humidity,temperature,pm25,pm10,o3,no2,so2,co\n"
        "2025-04-01T00:01:14.372437+07:00,Hồ Chí Minh,99,/x.svg,7.4 km/h,78%,27.8°C,34.8,N/A,N/A,N/A,N/A,N/A\n"
        "2025-04-01T01:11:22+07:00,Hồ Chí Minh,N/A,/x.svg,N/A,79%,27.2°C,N/A,N/A,N/A,N/A,N/A,N/A\n",
        encoding="utf-8")
    aqi = simulate.read_aqi_hcmc(tmp_path / "aqi")
    assert aqi[0] == (int(dt.datetime(2025, 4, 1, tzinfo=simulate.HCMC).timestamp() * 1000),
                      {"airQualityIndex": 99.0, "pm25": 34.8, "temperature": 27.8,
                       "relativeHumidity": {"value": 78.0, "unitCode": "P1"}, "windSpeed": 7.4})
    assert aqi[1][1] == {"temperature": 27.2, "relativeHumidity": {"value": 79.0, "unitCode": "P1"}}

    original = tmp_path / "uci-original.csv"  # UCI's own file: ';', decimal comma, -200 = missing
    original.write_text("Date;Time;CO(GT);PT08.S1(CO);NMHC(GT);C6H6(GT);PT08.S2(NMHC);NOx(GT);PT08.S3(NOx);"
                        "NO2(GT);PT08.S4(NO2);PT08.S5(O3);T;RH;AH;;\n"
                        "10/03/2004;18.00.00;2,6;1360;150;11,9;1046;166;1056;113;1692;1268;13,6;48,9;0,7578;;\n"
                        "10/03/2004;19.00.00;-200;1292;112;9,4;955;103;1174;-200;1559;972;13,3;47,7;0,7255;;\n",
                        encoding="utf-8")
    reexport = tmp_path / "uci-reexport.csv"
    reexport.write_text("Date,Time,CO_GT,PT08_S1_CO,NMHC_GT,C6H6_GT,PT08_S2_NMHC,NOx_GT,PT08_S3_NOx,NO2_GT,"
                        "PT08_S4_NO2,PT08_S5_O3,T,RH,AH\n"
                        "10/03/2004,18:00:00,2.6,1360,150,11.9,1046,166,1056,113,1692,1268,13.6,48.9,0.7578\n"
                        "10/03/2004,19:00:00,-200,1292,112,9.4,955,103,1174,-200,1559,972,13.3,47.7,0.7255\n",
                        encoding="utf-8")
    for path in (original, reexport):
        rows = simulate.read_uci(path)
        assert rows[0][1] == {"co": {"value": 2.6, "unitCode": "GP"}, "no2": 113.0, "temperature": 13.6,
                              "relativeHumidity": {"value": 48.9, "unitCode": "P1"}}, path
        assert rows[1][1] == {"temperature": 13.3, "relativeHumidity": {"value": 47.7, "unitCode": "P1"}}


@pytest.mark.skipif(not HAVE_SHARED, reason="../shared/data (los-loop, aqi-hcmc, uci-airquality) is absent")
def test_the_shared_series_are_read_whole():
    loops = simulate.read_los_loop(SHARED / "los-loop" / "los_speed.csv", simulate.LOS_LOOP_IDS)
    assert len(loops) == 20 and all(len(v) == 2016 for v in loops.values())
    assert max(v for rows in loops.values() for _, v in rows) <= 90  # miles per hour
    aqi = simulate.read_aqi_hcmc(SHARED / "aqi-hcmc")
    assert len(aqi) > 3000 and all("pm25" in f for _, f in aqi[:100])
    uci = simulate.read_uci(SHARED / "uci-airquality" / "AirQualityUCI.csv")
    assert len(uci) > 9000 and not any(
        isinstance(v, (int, float)) and v == -200 for _, f in uci for v in f.values())


# ------------------------------------------------------------------ time mapping


def test_a_replayed_week_keeps_weekday_and_time_of_day():
    dev = {"device_id": "x", "type": "TrafficFlowObserved"}
    thursday_8 = int(dt.datetime(2012, 3, 1, 8, 0, tzinfo=simulate.HCMC).timestamp() * 1000)
    rows = [(thursday_8 + i * simulate.STEP_TRAFFIC_MS, {"averageVehicleSpeed": float(i)}) for i in range(2016)]
    feed = simulate._table_feed(dev, simulate.STEP_TRAFFIC_MS, rows)
    assert feed.period_ms == simulate.WEEK_MS
    a = int(dt.datetime(2026, 3, 2, 0, 0, tzinfo=simulate.HCMC).timestamp() * 1000)  # a Monday
    got = list(feed.samples(a, a + simulate.WEEK_MS))
    assert len(got) == 2016  # each sample of the week once
    first_of_data = next(t for t, f in got if f["averageVehicleSpeed"] == 0.0)
    local = dt.datetime.fromtimestamp(first_of_data / 1000, simulate.HCMC)
    assert (local.weekday(), local.hour, local.minute) == (3, 8, 0)  # Thursday 08:00, as in the data
    assert list(feed.samples(a, a)) == [] and all(a < t <= a + simulate.WEEK_MS for t, _ in got)


def test_generated_traffic_has_rush_hours_and_is_deterministic():
    fn = simulate.generated_traffic("loop-1", 0)
    day = dt.datetime(2026, 3, 4, tzinfo=simulate.HCMC)  # a Wednesday

    def speed(h: float) -> float:
        return fn(int((day + dt.timedelta(hours=h)).timestamp() * 1000))["averageVehicleSpeed"]

    assert speed(7.5) < speed(3.0) - 10 and speed(17.5) < speed(12.0)
    assert speed(7.5) == speed(7.5)
    air = simulate.generated_air("aqi-hcmc")(int(day.timestamp() * 1000))
    assert set(air) == {"pm25", "airQualityIndex", "temperature", "relativeHumidity"}


def test_the_simulated_clock_never_runs_into_the_future():
    now = [1_000_000.0]
    clock = simulate.SimClock(int((now[0] - 3600) * 1000), speed=60, now=lambda: now[0])
    assert clock() == int((now[0] - 3600) * 1000) and not clock.live()
    now[0] += 30  # 30 s at 60x: 30 simulated minutes
    assert clock() == int((now[0] - 30 - 3600 + 1800) * 1000)
    now[0] += 300  # would be 5 h ahead: held at the present
    assert clock() == int(now[0] * 1000) and clock.live()


# ------------------------------------------------------------------ backfill and replay into a platform


def test_backfill_writes_recent_history_through_ingestion(platform):
    _agency(platform, "sxd")
    _agency(platform, "snnmt")
    devices = simulate.demo_devices(None, sensors=4)
    simulate.register_devices(platform, "sxd", [d for d in devices if d["type"] == "TrafficFlowObserved"])
    simulate.register_devices(platform, "snnmt", [d for d in devices if d["type"] != "TrafficFlowObserved"])
    before = time.time() * 1000
    r = simulate.backfill(platform, data_dir=None, hours=6, sensors=4)
    assert r["devices"] == 6 and r["rejected"] == 0
    assert r["messages"] == 4 * 72 + 2 * 6 == r["stored"]
    n, lo, hi = _obs(platform)
    assert n == 4 * 72 + 6 * 4 + 6 * 4  # a speed every 5 min; 4 attributes an hour at each air station
    assert before - 6 * 3_600_000 - 1000 <= lo and hi <= time.time() * 1000
    again = simulate.backfill(platform, data_dir=None, hours=6, sensors=4)
    assert again["stored"] <= 2 and again["duplicate"] >= r["messages"] - 2  # idempotent
    with platform.transaction() as db:
        dev = db.execute(select(Device).where(Device.device_id == "loop-773869")).scalar_one()
        assert dev.message_count >= 72


@pytest.mark.skipif(not HAVE_SHARED, reason="../shared/data (los-loop, aqi-hcmc, uci-airquality) is absent")
def test_backfill_of_the_shared_series_two_days(platform):
    _agency(platform, "sxd")
    simulate.register_devices(platform, "sxd", simulate.demo_devices(SHARED))
    t0 = time.perf_counter()
    r = simulate.backfill(platform, data_dir=SHARED, hours=48)
    took = time.perf_counter() - t0
    assert r["devices"] == 22 and r["rejected"] == 0, r
    assert r["stored"] >= 20 * 575 + 2 * 40
    with platform.transaction() as db:
        top = db.execute(select(func.max(Observation.value)).where(
            Observation.attribute == "averageVehicleSpeed")).scalar()
    assert 80 < top < 120  # Los-loop's miles per hour stored as km/h
    print(f"backfill of 22 devices x 48 h: {r['messages']} messages in {took:.1f} s")


def test_simulate_over_mqtt_into_the_platform(platform):
    url = need_shared_broker()
    _agency(platform, "sxd")
    prefix = f"test-{uuid.uuid4().hex[:10]}/v1"
    consumer = mqtt.IngestConsumer(platform, url=url, topic_prefix=prefix, session_expiry_s=60,
                                   client_id=f"test-ingest-{uuid.uuid4().hex[:10]}").start()
    try:
        assert consumer.wait_subscribed(15)
        lines: list[str] = []
        r = simulate.simulate(url, "sxd", platform=platform, register=True, data_dir=SHARED if HAVE_SHARED else None,
                              sensors=3, speed=3600, history_h=1, duration_s=3, topic_prefix=prefix,
                              progress=lines.append, progress_every_s=0.5)
        assert r["devices"] == 5 and r["sent"] >= 3 * 11 and r["acknowledged"] == r["sent"]
        assert r["caught_up"]  # an hour at 3600x: a second, then live
        wait_for(lambda: consumer.acked >= r["sent"], what=lambda: f"all stored ({consumer.stats()})")
        assert consumer.messages_stored == r["sent"] and consumer.rejected == 0
        assert _rejections(platform) == []  # in particular no clock-skew: nothing stamped in the future
        n, lo, hi = _obs(platform)
        assert hi <= time.time() * 1000 and lo >= time.time() * 1000 - 3_600_000 - 60_000
        assert lines[0] == "registered 5 devices in sxd" and lines[1].startswith("simulating 5 devices")
        assert lines[-1].startswith("done:")
    finally:
        consumer.stop(timeout=5)
        mqtt.forget_session(url, consumer.client_id)


def test_simulate_command(platform, settings):
    """The click command, as `cityai sensing simulate` runs it: register, backfill, replay."""
    url = need_shared_broker()
    _agency(platform, "sxd")
    from tests.serverproc import cityai_env

    env = cityai_env(settings.home, CITYAI_DATABASE_URL=settings.effective_database_url,
                     CITYAI_QUEUE_URL=settings.effective_queue_url, CITYAI_LOG_LEVEL="WARNING",
                     CITYAI_SENSING_MQTT_TOPIC_PREFIX=f"test-{uuid.uuid4().hex[:10]}/v1")
    r = subprocess.run([sys.executable, "-c", "from cityai.sensing.simulate import simulate_command as c; c()",
                        "--agency", "sxd", "--register", "--generated", "--sensors", "2", "--source", "traffic",
                        "--backfill-hours", "1", "--history-hours", "0.5", "--speed", "600", "--duration", "1",
                        "--broker", url], env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "registered 2 devices in sxd" in r.stderr and "backfill: 24 messages" in r.stderr
    assert "done:" in r.stderr
    n, _, _ = _obs(platform)
    assert n >= 24
