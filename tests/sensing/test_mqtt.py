"""The MQTT ingest consumer against a real Mosquitto broker and a real platform.

Basic tests use the broker at 127.0.0.1:1883 (``CITYAI_TEST_MQTT_URL``) with a topic prefix and client ids
of their own. The tests that restart the broker or kill the consumer mid-stream start their own
``mosquitto`` (``/usr/sbin/mosquitto``) on a free port, with ``deploy/mosquitto/cityai.conf``'s settings and
a temporary persistence directory. Each skips, saying why, when its broker is absent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import func, select

from cityai.sensing import mqtt
from cityai.sensing.models import Device, Observation, Rejected

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CONF = ROOT / "deploy" / "mosquitto" / "cityai.conf"
SHARED_URL = os.environ.get("CITYAI_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the consumer is database-agnostic; test_happy_path also runs on PostgreSQL


# ------------------------------------------------------------------ brokers


def _reachable(url: str) -> str | None:
    b = mqtt.BrokerURL.parse(url)
    try:
        socket.create_connection((b.host, b.port), timeout=2).close()
        return None
    except OSError as exc:
        return f"no MQTT broker at {url} ({exc}); start mosquitto or set CITYAI_TEST_MQTT_URL"


def need_shared_broker() -> str:
    reason = _reachable(SHARED_URL)
    if reason:
        pytest.skip(reason)
    return SHARED_URL


def test_conf(port: int, data_dir: Path) -> str:
    """``deploy/mosquitto/cityai.conf``'s settings with a listener on ``port``, persistence in ``data_dir``,
    anonymous access and a log file (what a test or benchmark broker of its own runs)."""
    drop = {"listener", "persistence_location", "log_dest", "pid_file", "user", "allow_anonymous", "password_file",
            "acl_file", "certfile", "keyfile", "cafile", "require_certificate", "use_identity_as_username",
            "include_dir", "protocol", "tls_version"}
    lines = []
    for line in DEPLOY_CONF.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words or words[0].startswith("#") or words[0] in drop:
            continue
        lines.append(line)
    import getpass

    lines += [f"listener {port} 127.0.0.1", "allow_anonymous true", f"persistence_location {data_dir}/",
              f"log_dest file {data_dir}/mosquitto.log", f"user {getpass.getuser()}"]
    return "\n".join(lines) + "\n"


test_conf.__test__ = False  # a helper, not a test


class Broker:
    """A Mosquitto of its own: started, stopped (SIGTERM saves its persistence file) and started again on the
    same port with the same persistence directory."""

    def __init__(self, data_dir: Path) -> None:
        if not os.path.exists(MOSQUITTO):
            pytest.skip(f"{MOSQUITTO} is not installed (Debian package mosquitto)")
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        from tests.serverproc import free_port

        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(test_conf(self.port, self.dir), encoding="utf-8")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()[-2000:]}\n{self.log()}")
            if _reachable(self.url) is None:
                return self
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening:\n" + self.log())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(timeout=15)

    def log(self) -> str:
        try:
            return (self.dir / "mosquitto.log").read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""


@pytest.fixture
def own_broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


# ------------------------------------------------------------------ helpers


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str | Callable[[], str] = "condition") -> Any:
    """Poll ``cond`` until true; ``what`` (a string, or a callable for the state at the time out) explains."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}")
        time.sleep(0.05)


def wait_settled(c: mqtt.IngestConsumer, timeout: float = 60.0, quiet_s: float = 2.0) -> None:
    """Until the consumer has acknowledged all it received and nothing new arrived for ``quiet_s``."""
    last = [-1, time.monotonic()]

    def settled() -> bool:
        if c.received != last[0]:
            last[:] = [c.received, time.monotonic()]
        return (c.acked + c.stale_acks_skipped >= c.received and c._queue.empty()
                and time.monotonic() - last[1] >= quiet_s)

    wait_for(settled, timeout, what=lambda: f"the consumer to settle ({c.stats()})")


def make_device(platform, agency_code: str, device_id: str, type_: str = "TrafficFlowObserved") -> str:
    from cityai.core import identity
    from cityai.sensing import service

    with platform.system_context() as ctx:
        agency = identity.agency_by_code(ctx, agency_code) or identity.agency_create(
            ctx, code=agency_code, name=f"Cơ quan {agency_code}", kind="department")
        dev, _key = service.device_register.unchecked(ctx, agency_id=agency.id, device_id=device_id, type=type_)
        return dev.entity_id


def count(platform, entity_id: str | None = None) -> int:
    with platform.transaction() as db:
        stmt = select(func.count()).select_from(Observation)
        if entity_id:
            stmt = stmt.where(Observation.entity_id == entity_id)
        return db.execute(stmt).scalar() or 0


def rejected_codes(platform) -> list[tuple[str, str | None]]:
    with platform.transaction() as db:
        return [(r.code, r.topic) for r in db.execute(select(Rejected).order_by(Rejected.id)).scalars()]


class Publisher:
    """A device-side paho client: MQTT v5, a persistent session, QoS 1; it reconnects by itself and resends
    what the broker has not acknowledged."""

    def __init__(self, url: str) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        b = mqtt.BrokerURL.parse(url)
        self.client = mqtt.make_client(b, f"pub-{uuid.uuid4().hex[:10]}")
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        self.connected = threading.Event()
        self.acked = 0  # PUBACKs from the broker (a message published while disconnected is sent later)
        self.client.on_connect = lambda *a: self.connected.set()

        def on_publish(*a: Any) -> None:
            self.acked += 1

        self.client.on_publish = on_publish
        self.client.connect_async(b.host, b.port, keepalive=10, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.connected.wait(10), f"publisher could not connect to {url}"
        self.infos: list[Any] = []

    def publish(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.infos.append(self.client.publish(topic, data, qos=1))

    def wait_all(self, timeout: float = 60.0) -> None:
        """Until the broker has acknowledged every message (wait_for_publish() raises for a message published
        while disconnected, which paho nevertheless sends after reconnecting)."""
        wait_for(lambda: self.acked >= len(self.infos), timeout,
                 what=f"the broker to acknowledge {len(self.infos)} messages ({self.acked} so far)")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def reading(i: int, n: int, **extra: Any) -> dict:
    """Message i of n: distinct times in the last n seconds (never in the future), intensity = i."""
    t = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=n - i + 5)
    return {"type": "TrafficFlowObserved", "observedAt": t.isoformat().replace("+00:00", "Z"), "intensity": i,
            **extra}


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}/v1"


@pytest.fixture
def consumers():
    """Consumers made by a test; stopped and their broker sessions ended afterwards."""
    made: list[mqtt.IngestConsumer] = []

    def make(platform, url: str, prefix: str, client_id: str | None = None, **kw: Any) -> mqtt.IngestConsumer:
        kw.setdefault("session_expiry_s", 300)
        c = mqtt.IngestConsumer(platform, url=url, topic_prefix=prefix,
                                client_id=client_id or f"test-ingest-{uuid.uuid4().hex[:10]}", **kw)
        made.append(c)
        c.start()
        assert c.wait_subscribed(15), f"consumer did not subscribe: {c.stats()}"
        return c

    yield make
    for c in made:
        c.stop(timeout=5, drain_s=1)
    for cid, url in {(c.client_id, c.url) for c in made}:
        if _reachable(url) is None:
            mqtt.forget_session(url, cid)


# ------------------------------------------------------------------ unit level


def test_broker_url_and_client_id():
    b = mqtt.BrokerURL.parse("mqtts://ingest:p%40ss@broker.example.gov.vn?ca=/etc/ca.pem")
    assert (b.host, b.port, b.tls, b.username, b.password, b.ca) == (
        "broker.example.gov.vn", 8883, True, "ingest", "p@ss", "/etc/ca.pem")
    assert b.redacted() == "mqtts://ingest:***@broker.example.gov.vn:8883"
    assert mqtt.BrokerURL.parse("127.0.0.1").port == 1883
    assert mqtt.BrokerURL.parse("wss://gw.example/mqtt").websockets
    with pytest.raises(ValueError):
        mqtt.BrokerURL.parse("http://x")

    from cityai.core.config import Settings

    a = mqtt.default_client_id(Settings(database_url="postgresql://a@db/cityai"))
    assert a == mqtt.default_client_id(Settings(database_url="postgresql://a@db/cityai"))
    assert a != mqtt.default_client_id(Settings(database_url="postgresql://a@db/other"))
    assert re.fullmatch(r"cityai-ingest-[0-9a-f]{12}", a)
    assert mqtt.default_client_id(Settings(sensing_mqtt_client_id="mine")) == "mine"


def test_deploy_conf_is_accepted_by_mosquitto(own_broker):
    """The production config's settings (queues, persistence, limits) start a real Mosquitto."""
    text = DEPLOY_CONF.read_text(encoding="utf-8")
    assert re.search(r"^max_queued_messages\s+[1-9]\d{5,}", text, re.M)
    assert re.search(r"^persistence\s+true", text, re.M)
    assert _reachable(own_broker.url) is None


# ------------------------------------------------------------------ the shared broker


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_happy_path_stores_and_acknowledges(backend, platform, prefix, consumers):
    url = need_shared_broker()
    entity = make_device(platform, "sgtvt", "loop-1")
    c = consumers(platform, url, prefix)
    pub = Publisher(url)
    n = 200
    for i in range(n):
        pub.publish(f"{prefix}/sgtvt/loop-1", reading(i, n, averageVehicleSpeed={"value": 20 + i % 40,
                                                                                 "unitCode": "HM"}))
    pub.wait_all()
    wait_for(lambda: count(platform, entity) == 2 * n, what=lambda: f"{2 * n} values ({c.stats()})")
    wait_for(lambda: c.acked == n, what="all acknowledged")
    assert (c.received, c.messages_stored, c.rejected, c.failures) == (n, n, 0, 0)
    with platform.transaction() as db:
        dev = db.execute(select(Device).where(Device.device_id == "loop-1")).scalar_one()
        assert dev.message_count == n and dev.last_seen_at is not None
        speeds = [v for (v,) in db.execute(select(Observation.value).where(
            Observation.attribute == "averageVehicleSpeed").order_by(Observation.t_ms))]
    assert speeds[1] == pytest.approx(21 * 1.609344)  # unitCode HM (mph) converted to km/h
    client_id = c.client_id
    c.stop()
    pub.close()
    # Acknowledged means the broker forgets them: the same session, back, receives nothing again.
    again = consumers(platform, url, prefix, client_id=client_id)
    time.sleep(1.0)
    assert again.received == 0


def test_refusals_are_recorded_and_acknowledged(platform, prefix, consumers):
    url = need_shared_broker()
    make_device(platform, "sgtvt", "loop-1")
    make_device(platform, "stnmt", "air-1", "AirQualityObserved")
    c = consumers(platform, url, prefix)
    pub = Publisher(url)
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    pub.publish(f"{prefix}/sgtvt/loop-1", b"{not json")
    pub.publish(f"{prefix}/sgtvt/no-such-device", reading(1, 5))
    pub.publish(f"{prefix}/sgtvt/loop-1", {"type": "TrafficFlowObserved", "observedAt": reading(2, 5)["observedAt"],
                                           "averageVehicleSpeed": {"value": 10, "unitCode": "XYZ"}})
    pub.publish(f"{prefix}/sgtvt/loop-1", {"type": "TrafficFlowObserved", "observedAt": future, "intensity": 3})
    pub.publish(f"{prefix}//loop-1", reading(4, 5))  # a topic naming no agency
    pub.publish(f"{prefix}/stnmt/air-1", {"type": "AirQualityObserved", "observedAt": reading(5, 5)["observedAt"],
                                          "pm25": 35.5})  # the one good message
    pub.wait_all()
    wait_for(lambda: c.acked == 6, what=lambda: f"6 acknowledgements ({c.stats()})")
    assert (c.rejected, c.messages_stored) == (5, 1)
    codes = rejected_codes(platform)
    assert sorted(code for code, _ in codes) == ["clock-skew", "malformed", "unknown-device", "unknown-device",
                                                 "wrong-unit"]
    assert ("unknown-device", f"{prefix}//loop-1") in codes
    client_id = c.client_id
    c.stop()
    pub.close()
    again = consumers(platform, url, prefix, client_id=client_id)  # refused once, not redelivered forever
    time.sleep(1.0)
    assert again.received == 0 and len(rejected_codes(platform)) == 5


def test_burst_far_above_the_sustained_rate_loses_nothing(platform, prefix, consumers):
    """5,000 messages as fast as the broker takes them, to a consumer that stores 100 messages per 50 ms batch
    at most: more than Mosquitto's default max_queued_messages (1000) waits unacknowledged, in flight
    (Receive Maximum 65535), and all of it is stored."""
    url = need_shared_broker()
    entity = make_device(platform, "sgtvt", "loop-1")
    from cityai.sensing.ingest import ingest

    def slow_ingest(p, messages):
        time.sleep(0.05)
        return ingest(p, messages)

    c = consumers(platform, url, prefix, batch_max=100, ingest_fn=slow_ingest)
    pub = Publisher(url)
    n = 5000
    t0 = time.monotonic()
    for i in range(n):
        pub.publish(f"{prefix}/sgtvt/loop-1", reading(i, n))
    pub.wait_all()
    published_s = time.monotonic() - t0
    backlog = n - c.acked
    wait_settled(c, timeout=120)
    assert count(platform, entity) == n, c.stats()
    assert c.acked == n and c.rejected == 0
    # the consumer really was behind: a backlog remained once the broker had taken every message
    assert backlog > 1000, (backlog, published_s)
    pub.close()


def test_database_failure_is_not_acknowledged_and_retried(platform, prefix, consumers):
    url = need_shared_broker()
    from sqlalchemy.exc import OperationalError

    from cityai.sensing.ingest import ingest

    entity = make_device(platform, "sgtvt", "loop-1")
    down = threading.Event()
    down.set()
    calls = {"n": 0}

    def flaky(p, messages):
        calls["n"] += 1
        if down.is_set():
            raise OperationalError("INSERT", {}, Exception("database is unavailable"))
        return ingest(p, messages)

    c = consumers(platform, url, prefix, ingest_fn=flaky)
    pub = Publisher(url)
    n = 20
    for i in range(n):
        pub.publish(f"{prefix}/sgtvt/loop-1", reading(i, n))
    pub.wait_all()
    wait_for(lambda: c.failures >= 2, what="two failed attempts")
    assert c.acked == 0 and count(platform, entity) == 0  # nothing acknowledged while nothing is stored
    down.clear()
    wait_for(lambda: c.acked == n, timeout=30,
             what=lambda: f"all acknowledged once the database is back ({c.stats()})")
    assert count(platform, entity) == n and c.received == n  # the same batch, retried: no redelivery needed
    pub.close()


def test_unacknowledged_batch_is_redelivered_after_restart(platform, prefix, consumers):
    """The database stays down until the consumer stops: nothing was acknowledged, so the broker delivers the
    messages again to the next consumer of the session, which stores them."""
    url = need_shared_broker()
    from sqlalchemy.exc import OperationalError

    entity = make_device(platform, "sgtvt", "loop-1")

    def down(p, messages):
        raise OperationalError("INSERT", {}, Exception("database is unavailable"))

    c = consumers(platform, url, prefix, ingest_fn=down)
    pub = Publisher(url)
    n = 30
    for i in range(n):
        pub.publish(f"{prefix}/sgtvt/loop-1", reading(i, n))
    pub.wait_all()
    wait_for(lambda: c.received == n and c.failures >= 1, what="all received, failing")
    c.stop(timeout=5)
    assert c.acked == 0
    again = consumers(platform, url, prefix, client_id=c.client_id)
    wait_for(lambda: again.acked == n, what=lambda: f"{n} acknowledged after redelivery ({again.stats()})")
    assert count(platform, entity) == n and again.received == n
    pub.close()


def test_a_poison_message_does_not_stop_the_stream(platform, prefix, consumers, monkeypatch):
    url = need_shared_broker()
    from cityai.sensing.ingest import ingest

    entity = make_device(platform, "sgtvt", "loop-1")

    def buggy(p, messages):
        if any(json.loads(m.payload).get("intensity") == 13 for m in messages):
            raise KeyError("a bug that only this message triggers")
        return ingest(p, messages)

    monkeypatch.setattr(mqtt, "RETRY_MIN_S", 0.05)
    c = consumers(platform, url, prefix, ingest_fn=buggy)
    pub = Publisher(url)
    n = 30
    for i in range(n):
        pub.publish(f"{prefix}/sgtvt/loop-1", reading(i, n))
    pub.wait_all()
    wait_for(lambda: c.acked == n, what=lambda: f"all acknowledged ({c.stats()})")
    assert count(platform, entity) == n - 1
    assert [code for code, _ in rejected_codes(platform)] == ["internal-error"]
    pub.close()


def test_one_consumer_per_deployment(platform, prefix, consumers, monkeypatch):
    """Two consumers of one deployment (same database, same client id): one holds the lock and consumes, the
    other stands by and takes over when the first stops."""
    url = need_shared_broker()
    entity = make_device(platform, "sgtvt", "loop-1")
    monkeypatch.setattr(mqtt, "LOCK_RETRY_S", 0.2)
    client_id = f"test-ingest-{uuid.uuid4().hex[:10]}"
    first = consumers(platform, url, prefix, client_id=client_id)
    second = mqtt.IngestConsumer(platform, url=url, topic_prefix=prefix, client_id=client_id,
                                 session_expiry_s=300).start()
    try:
        time.sleep(0.6)
        assert first.lock_held and not second.lock_held and not second.connected
        first.stop()
        wait_for(lambda: second.connected and second.wait_subscribed(0), what="the second consumer to take over")
        pub = Publisher(url)
        pub.publish(f"{prefix}/sgtvt/loop-1", reading(1, 2))
        pub.wait_all()
        wait_for(lambda: count(platform, entity) == 1, what="the value, through the second consumer")
        pub.close()
    finally:
        second.stop(timeout=5)


# ------------------------------------------------------------------ a broker of our own


def test_broker_restart_mid_stream(platform, prefix, consumers, own_broker):
    """The broker is stopped and started again while devices publish and the consumer holds unacknowledged
    batches: the publisher and the consumer reconnect, every value is stored exactly once."""
    from cityai.sensing.ingest import ingest

    entity = make_device(platform, "sgtvt", "loop-1")

    def slow_ingest(p, messages):
        time.sleep(0.03)  # keep batches in hand when the broker goes away
        return ingest(p, messages)

    c = consumers(platform, own_broker.url, prefix, batch_max=50, ingest_fn=slow_ingest)
    pub = Publisher(own_broker.url)
    n = 2000
    restarted = threading.Event()

    def restart_when_half_stored() -> None:
        wait_for(lambda: count(platform, entity) >= n // 4, timeout=60, what="a quarter stored")
        own_broker.stop()
        time.sleep(0.5)
        own_broker.start()
        restarted.set()

    t = threading.Thread(target=restart_when_half_stored, daemon=True)
    t.start()
    for i in range(n):
        pub.publish(f"{prefix}/sgtvt/loop-1", reading(i, n))
        if i % 50 == 0:
            time.sleep(0.02)
    t.join(90)
    assert restarted.is_set()
    pub.wait_all(timeout=60)
    wait_for(lambda: count(platform, entity) == n, timeout=90, what=lambda: f"{n} values ({c.stats()})")
    with platform.transaction() as db:
        values = sorted(v for (v,) in db.execute(select(Observation.value).where(Observation.entity_id == entity)))
    assert values == [float(i) for i in range(n)]
    assert c.reconnects >= 1 and c.session_present
    wait_for(lambda: c._queue.empty() and c.acked >= n - c.stale_acks_skipped, what="acknowledgements")
    pub.close()


def test_stale_packet_ids_are_not_acknowledged_after_reconnect(platform, prefix, consumers, own_broker):
    """A batch received before a disconnect and stored after it: its PUBACKs are not sent on the new
    connection (those packet ids belong to the old one); the broker resends the messages, which are stored
    once, and everything ends acknowledged."""
    from cityai.sensing.ingest import ingest

    entity = make_device(platform, "sgtvt", "loop-1")
    gate = threading.Event()
    holding = threading.Event()

    def gated(p, messages):
        holding.set()
        gate.wait(30)
        return ingest(p, messages)

    c = consumers(platform, own_broker.url, prefix, ingest_fn=gated)
    pub = Publisher(own_broker.url)
    n = 10
    for i in range(n):
        pub.publish(f"{prefix}/sgtvt/loop-1", reading(i, n))
    pub.wait_all()
    assert holding.wait(10)
    wait_for(lambda: c.received == n, what="all received")
    own_broker.stop()
    own_broker.start()
    wait_for(lambda: c.reconnects >= 1 and c.connected, what="the consumer to reconnect")
    gate.set()
    wait_for(lambda: c.received >= 2 * n and c.acked == n,
             what=lambda: f"redelivery and acknowledgement ({c.stats()})")
    assert c.stale_acks_skipped >= 1
    assert count(platform, entity) == n and c.duplicates >= 1
    client_id = c.client_id
    c.stop()
    again = consumers(platform, own_broker.url, prefix, client_id=client_id)
    time.sleep(1.0)
    assert again.received == 0  # all acknowledged in the end
    pub.close()


def open_session(url: str, client_id: str, prefix: str) -> None:
    """Make the consumer's persistent session and subscription on the broker, so that it queues what devices
    publish before the consumer process is up."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    b = mqtt.BrokerURL.parse(url)
    client = mqtt.make_client(b, client_id)
    done = threading.Event()
    client.on_connect = lambda c, *a: c.subscribe(f"{prefix}/+/+", qos=1)
    client.on_subscribe = lambda *a: done.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 300
    client.connect(b.host, b.port, clean_start=False, properties=props)
    client.loop_start()
    assert done.wait(10)
    client.disconnect()
    client.loop_stop()


def _consumer_process(home: Path, database_url: str, url: str, prefix: str, client_id: str) -> subprocess.Popen:
    from tests.serverproc import cityai_env

    env = cityai_env(home, CITYAI_DATABASE_URL=database_url, CITYAI_LOG_JSON="false",
                     CITYAI_QUEUE_URL=f"sqlite:///{home / 'queue.db'}")
    log = open(home / f"consumer-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "cityai.sensing.mqtt", "--url", url, "--client-id", client_id,
                             "--topic-prefix", prefix, "--batch-max", "200"], env=env, cwd=str(ROOT),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def test_platform_killed_mid_stream_loses_nothing(platform, settings, prefix, own_broker, tmp_path):
    """The consumer process is SIGKILLed while devices publish, then started again: every value is stored
    (what it had acknowledged was stored; what it had not, the broker kept and resent)."""
    entity = make_device(platform, "sgtvt", "loop-1")
    client_id = f"test-ingest-{uuid.uuid4().hex[:10]}"
    home = tmp_path / "consumer-home"
    home.mkdir()
    open_session(own_broker.url, client_id, prefix)  # as a deployment's first run leaves it
    proc = _consumer_process(home, settings.effective_database_url, own_broker.url, prefix, client_id)
    try:
        pub = Publisher(own_broker.url)
        n = 3000
        killed = threading.Event()

        def kill_mid_stream() -> None:
            nonlocal proc
            wait_for(lambda: count(platform, entity) >= 500, timeout=60, what="500 values stored")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            killed.set()
            time.sleep(0.5)
            proc = _consumer_process(home, settings.effective_database_url, own_broker.url, prefix, client_id)

        t = threading.Thread(target=kill_mid_stream, daemon=True)
        t.start()
        for i in range(n):
            pub.publish(f"{prefix}/sgtvt/loop-1", reading(i, n))
            if i % 100 == 0:
                time.sleep(0.05)
        pub.wait_all()
        t.join(70)
        assert killed.is_set()
        wait_for(lambda: count(platform, entity) == n, timeout=90,
                 what=f"{n} values; consumer log: " + "".join(p.read_text()[-1500:] for p in home.glob("*.log")))
        with platform.transaction() as db:
            values = sorted(v for (v,) in db.execute(select(Observation.value).where(
                Observation.entity_id == entity)))
        assert values == [float(i) for i in range(n)]
        pub.close()
        # SIGTERM: a clean stop (exit status 0) that acknowledges what it stored.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        mqtt.forget_session(own_broker.url, client_id)
