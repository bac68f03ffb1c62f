#!/usr/bin/env python
"""sensing_ingest - sustained MQTT ingestion (messages/s, zero loss) beside the broker's own raw rate.

In one run, on one Mosquitto (a broker of its own on a free loopback port, started with the settings of
``deploy/mosquitto/cityai.conf`` and a temporary persistence directory; or ``--broker URL``):

* ``mosquitto raw``  - the broker alone: ``mosquitto_sub -q 1 -C N`` (MQTT v5, Receive Maximum 65535)
  receiving while ``--publishers`` ``mosquitto_pub -q 1 -l`` processes send N lines of the same JSON
  payloads: messages/s from the first publish to the subscriber's N-th message (the ceiling: a
  subscriber that stores nothing);
* ``cityai-sqlite`` / ``cityai-postgresql`` - CityAI's consumer (``python -m cityai.sensing.mqtt``, the code
  of ``cityai sensing ingest``, in a subprocess) on a temporary ``CITYAI_HOME`` (SQLite) or a scratch
  PostgreSQL database (dropped at the end; skipped with the reason when the server does not answer),
  ``--devices`` registered devices, N messages published at full speed at QoS 1 by ``--publishers`` paho
  processes. Two rows each:
  - *live*: the publishers and the consumer run together; messages/s from the first publish to the last
    value stored (polled in the database);
  - *backlog*: N messages published while the consumer is stopped (the broker queues them for its
    persistent session), then the consumer started: messages/s from its first stored value to its last
    (the consumer's own sustained rate, without the publishers competing for the CPU).
  Each row checks zero loss: values stored = messages sent (one value per message), nothing rejected.

The consumer's CPU seconds (from /proc, during the row) and peak RSS are given; PostgreSQL's and the
broker's own CPU are not included. Everything runs on loopback, on the same machine: on a small machine
the publishers, the broker and the consumer share the cores.

    python benchmarks/sensing_ingest.py                         # 20,000 messages, 100 devices, 2 publishers
    nice python benchmarks/sensing_ingest.py --messages 50000 --markdown /tmp/sensing_ingest_bench.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform as pyplatform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEPLOY_CONF = ROOT / "deploy" / "mosquitto" / "cityai.conf"
DEFAULT_PG_URL = os.environ.get("CITYAI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PREFIX = "bench/v1"
AGENCY = "sxd"
SECRET = "sensing-bench-secret-key-0123456789"

# A publisher process: paho, MQTT v5, QoS 1, as fast as the broker acknowledges. Prints one JSON line.
PUBLISHER = r"""
import json, sys, threading, time, uuid, datetime as dt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
host, port, prefix, agency, d0, d1, per_device, base = sys.argv[1:9]
port, d0, d1, per_device, base = int(port), int(d0), int(d1), int(per_device), float(base)
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub-" + uuid.uuid4().hex[:8], protocol=mqtt.MQTTv5)
c.max_inflight_messages_set(1000)
c.max_queued_messages_set(0)
n = (d1 - d0) * per_device
acked = [0]
done = threading.Event()
def on_publish(*a):
    acked[0] += 1
    if acked[0] >= n:
        done.set()
c.on_publish = on_publish
c.connect(host, port, keepalive=60)
c.loop_start()
t0 = time.time()
for k in range(per_device):
    t = dt.datetime.fromtimestamp(base + k, dt.timezone.utc).isoformat().replace("+00:00", "Z")
    for d in range(d0, d1):
        c.publish(f"{prefix}/{agency}/bench-{d:04d}", json.dumps(
            {"type": "TrafficFlowObserved", "observedAt": t, "averageVehicleSpeed": 20 + (k * 7 + d) % 60}), qos=1)
done.wait(600)
t1 = time.time()
c.disconnect()
c.loop_stop()
print(json.dumps({"start": t0, "end": t1, "sent": n, "acked": acked[0]}))
"""


@dataclass
class Row:
    target: str
    mode: str
    messages: int
    publishers: int
    seconds: float | None = None
    rate: float | None = None
    publish_rate: float | None = None  # publishers' own rate (broker-acknowledged messages/s)
    stored: int | None = None
    rejected: int | None = None
    cpu_ms: float | None = None  # consumer CPU per message
    rss_mb: float | None = None
    note: str = ""

    @property
    def lost(self) -> int | None:
        return None if self.stored is None else self.messages - self.stored


# ---------------------------------------------------------------------------------------------- broker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broker_conf(port: int, data_dir: Path) -> str:
    drop = {"listener", "persistence_location", "log_dest", "pid_file", "user", "allow_anonymous", "password_file",
            "acl_file", "certfile", "keyfile", "cafile", "require_certificate", "use_identity_as_username",
            "include_dir", "protocol", "tls_version"}
    lines = [ln for ln in DEPLOY_CONF.read_text(encoding="utf-8").splitlines()
             if ln.split() and not ln.split()[0].startswith("#") and ln.split()[0] not in drop]
    import getpass

    lines += [f"listener {port} 127.0.0.1", "allow_anonymous true", f"persistence_location {data_dir}/",
              f"log_dest file {data_dir}/mosquitto.log", f"user {getpass.getuser()}"]
    return "\n".join(lines) + "\n"


class Broker:
    def __init__(self, work: Path) -> None:
        self.dir = work / "broker"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        (self.dir / "mosquitto.conf").write_text(broker_conf(self.port, self.dir), encoding="utf-8")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mosquitto did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)


def broker_version() -> str:
    try:
        out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=5).stdout
        return out.splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


# ---------------------------------------------------------------------------------------------- raw rate


def sample_payload(k: int, d: int, base: float) -> str:
    t = dt.datetime.fromtimestamp(base + k, dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": "TrafficFlowObserved", "observedAt": t, "averageVehicleSpeed": 20 + (k * 7 + d) % 60})


def raw_rate(host: str, port: int, n: int, publishers: int, work: Path) -> Row:
    row = Row("mosquitto raw", "pub -> sub", n, publishers)
    if not (shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub")):
        row.note = "mosquitto_pub/mosquitto_sub not installed (Debian package mosquitto-clients)"
        return row
    base = time.time() - n - 60
    files = []
    per = n // publishers
    for p in range(publishers):
        f = work / f"raw-{p}.txt"
        count = per if p < publishers - 1 else n - per * (publishers - 1)
        f.write_text("".join(sample_payload(k, p, base) + "\n" for k in range(count)), encoding="utf-8")
        files.append(f)
    topic = f"bench-raw/{uuid.uuid4().hex[:8]}"
    sub = subprocess.Popen(["mosquitto_sub", "-h", host, "-p", str(port), "-V", "5", "-q", "1", "-t", f"{topic}/#",
                            "-C", str(n), "-D", "connect", "receive-maximum", "65535",
                            "-i", f"bench-rawsub-{uuid.uuid4().hex[:8]}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it subscribe (mosquitto_sub says nothing when it has)
    t0 = time.perf_counter()
    pubs = [subprocess.Popen(["mosquitto_pub", "-h", host, "-p", str(port), "-V", "5", "-q", "1", "-l", "-M", "1000",
                              "-t", f"{topic}/{i}"], stdin=open(f, "rb"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for i, f in enumerate(files)]
    pub_end = []
    for p in pubs:
        p.wait(600)
        pub_end.append(time.perf_counter())
    try:
        sub.wait(120)
    except subprocess.TimeoutExpired:
        sub.kill()
        row.note = "mosquitto_sub did not receive every message within 120 s"
        return row
    t1 = time.perf_counter()
    row.seconds = t1 - t0
    row.rate = n / row.seconds
    row.publish_rate = n / (max(pub_end) - t0)
    row.stored = n if sub.returncode == 0 else None  # -C N: it exits 0 after N messages
    row.note = "received, not stored"
    return row


# ---------------------------------------------------------------------------------------------- cityai


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Target:
    """A CityAI deployment to ingest into: a temporary home and its database, D devices registered."""

    def __init__(self, name: str, work: Path, database_url: str | None, devices: int) -> None:
        from cityai.core import identity
        from cityai.core.config import Settings
        from cityai.core.platform import Platform
        from cityai.sensing import service

        self.name = name
        self.home = work / name
        self.home.mkdir()
        self.database_url = database_url or f"sqlite:///{self.home / 'cityai.db'}"
        settings = Settings(home=self.home, database_url=self.database_url, secret_key=SECRET, log_level="WARNING",
                            queue_url=f"sqlite:///{self.home / 'queue.db'}")
        p = Platform(settings, load_entry_points=False)
        p.migrate()
        with p.system_context() as ctx:
            a = identity.agency_create(ctx, code=AGENCY, name="Sở Xây dựng", kind="department")
            for d in range(devices):
                service.device_register.unchecked(ctx, agency_id=a.id, device_id=f"bench-{d:04d}",
                                                  type="TrafficFlowObserved")
        p.close()
        from sqlalchemy import create_engine

        url = self.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        self.engine = create_engine(url)

    def count(self, table: str = "sens_observation") -> int:
        from sqlalchemy import text

        with self.engine.connect() as c:
            return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYAI_")}
        env.update({"CITYAI_HOME": str(self.home), "CITYAI_DATABASE_URL": self.database_url,
                    "CITYAI_SECRET_KEY": SECRET, "CITYAI_LOG_LEVEL": "INFO", "CITYAI_LOG_JSON": "false",
                    "CITYAI_QUEUE_URL": f"sqlite:///{self.home / 'queue.db'}", "PYTHONUNBUFFERED": "1"})
        return env

    def close(self) -> None:
        self.engine.dispose()


class Consumer:
    def __init__(self, target: Target, host: str, port: int, client_id: str, batch_max: int) -> None:
        self.log_path = target.home / f"consumer-{client_id}.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityai.sensing.mqtt", "--url", f"mqtt://{host}:{port}", "--client-id", client_id,
             "--topic-prefix", PREFIX, "--batch-max", str(batch_max), "--stats-every", "0"],
            env=target.env(), cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "MQTT consumer connected" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("consumer did not connect:\n" + self.log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.05)

    def stop(self) -> tuple[int, float | None]:
        self.proc.send_signal(signal.SIGTERM)
        _pid, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.log.close()
        return self.proc.returncode, usage.ru_maxrss / 1024


def open_session(host: str, port: int, client_id: str) -> None:
    """The consumer's persistent session and subscription, as a deployment's first run leaves them."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from cityai.sensing import mqtt

    client = mqtt.make_client(f"mqtt://{host}:{port}", client_id)
    done = threading.Event()
    client.on_connect = lambda c, *a: c.subscribe(f"{PREFIX}/+/+", qos=1)
    client.on_subscribe = lambda *a: done.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect(host, port, clean_start=False, properties=props)
    client.loop_start()
    if not done.wait(10):
        raise RuntimeError("could not open the consumer's session")
    client.disconnect()
    client.loop_stop()


def publish(host: str, port: int, n: int, devices: int, publishers: int, base: float) -> list[subprocess.Popen]:
    per_device = n // devices
    split = [devices * i // publishers for i in range(publishers + 1)]
    return [subprocess.Popen([sys.executable, "-c", PUBLISHER, host, str(port), PREFIX, AGENCY, str(split[i]),
                              str(split[i + 1]), str(per_device), str(base)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for i in range(publishers)]


def wait_publishers(pubs: list[subprocess.Popen]) -> list[dict]:
    out = []
    for p in pubs:
        stdout, stderr = p.communicate(timeout=900)
        if p.returncode != 0:
            raise RuntimeError(f"publisher failed: {stderr[-2000:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def wait_count(target: Target, n: int, timeout: float, stalled_s: float = 30.0) -> tuple[int, float]:
    """Poll until n values are stored (or no progress for ``stalled_s``); (count, perf_counter at the end)."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while True:
        c = target.count()
        now = time.monotonic()
        if c != last:
            last, last_change = c, now
        if c >= n or now > deadline or now - last_change > stalled_s:
            return c, time.perf_counter()
        time.sleep(0.05)


def cityai_rows(name: str, work: Path, database_url: str | None, host: str, port: int, n: int, devices: int,
                publishers: int, batch_max: int) -> list[Row]:
    target = Target(name, work, database_url, devices)
    rows = []
    try:
        n = (n // devices) * devices
        # live: publishers and consumer together
        row = Row(name, "live", n, publishers)
        client_id = f"bench-ingest-{uuid.uuid4().hex[:8]}"
        open_session(host, port, client_id)
        consumer = Consumer(target, host, port, client_id, batch_max)
        cpu0 = cpu_seconds(consumer.proc.pid)
        base = time.time() - 2 * (n // devices) - 120
        pubs = publish(host, port, n, devices, publishers, base)
        results = wait_publishers(pubs)
        t_first = min(r["start"] for r in results)
        stored, _ = wait_count(target, n, timeout=900)
        t_end = time.time()
        cpu1 = cpu_seconds(consumer.proc.pid)
        row.seconds = t_end - t_first
        row.rate = n / row.seconds if stored == n else None
        row.publish_rate = n / (max(r["end"] for r in results) - t_first)
        row.stored, row.rejected = stored, target.count("sens_rejected")
        if cpu0 is not None and cpu1 is not None:
            row.cpu_ms = (cpu1 - cpu0) * 1000 / n
        rc, row.rss_mb = consumer.stop()
        if rc != 0:
            row.note = f"consumer exited {rc}"
        rows.append(row)

        # backlog: published while the consumer is down, then drained
        row = Row(name, "backlog", n, publishers)
        before = target.count()
        base = time.time() - (n // devices) - 60  # other times than the live row's: new values
        results = wait_publishers(publish(host, port, n, devices, publishers, base))
        pub_s = max(r["end"] for r in results) - min(r["start"] for r in results)
        row.publish_rate = n / pub_s
        consumer = Consumer(target, host, port, client_id, batch_max)
        while target.count() == before and consumer.proc.poll() is None:
            time.sleep(0.01)
        t_first, first = time.perf_counter(), target.count()
        cpu0 = cpu_seconds(consumer.proc.pid)
        stored, t_end = wait_count(target, before + n, timeout=900)
        cpu1 = cpu_seconds(consumer.proc.pid)
        row.seconds = t_end - t_first
        row.stored = stored - before
        row.rate = (stored - first) / row.seconds if row.stored == n else None
        row.rejected = target.count("sens_rejected")
        if cpu0 is not None and cpu1 is not None and stored > first:
            row.cpu_ms = (cpu1 - cpu0) * 1000 / (stored - first)
        rc, row.rss_mb = consumer.stop()
        if rc != 0:
            row.note = f"consumer exited {rc}"
        rows.append(row)
        from cityai.sensing import mqtt

        mqtt.forget_session(f"mqtt://{host}:{port}", client_id)
    finally:
        target.close()
    return rows


# ---------------------------------------------------------------------------------------------- postgres


def pg_scratch(admin_url: str) -> tuple[str | None, str, object | None]:
    """(database URL, reason if unavailable, admin engine)."""
    try:
        from sqlalchemy import create_engine, text

        host = admin_url.split("@", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        if host not in {"127.0.0.1", "localhost", "::1", ""}:
            return None, f"--postgres-url must be on loopback, not {host}", None
        admin = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        name = f"cityai_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        return admin_url.rsplit("/", 1)[0] + "/" + name, "", admin
    except Exception as exc:  # noqa: BLE001
        return None, f"PostgreSQL not reachable at {admin_url}: {type(exc).__name__}: {str(exc)[:200]}", None


def pg_drop(admin, url: str) -> None:
    from sqlalchemy import text

    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


# ---------------------------------------------------------------------------------------------- report


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine_facts(args: argparse.Namespace, broker_desc: str) -> dict[str, str]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.lower().startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    load = ""
    try:
        load = ", load average at start " + Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, nproc {usable}{load}",
        "os": pyplatform.platform(),
        "python": pyplatform.python_version(),
        "broker": broker_desc,
        "client": f"paho-mqtt {_version('paho-mqtt')}, sqlalchemy {_version('sqlalchemy')}, "
                  f"psycopg {_version('psycopg')}",
        "load": (f"{args.messages:,} messages (one value each) over {args.devices} devices, {args.publishers} "
                 f"publisher process(es) at QoS 1; consumer batches of at most {args.batch_max} messages"),
    }


HEADERS = ["target", "mode", "messages", "seconds", "msg/s", "publish msg/s", "stored", "lost", "rejected",
           "consumer CPU ms/msg", "peak RSS MB", "note"]


def cells(r: Row) -> list[str]:
    def f(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    return [r.target, r.mode, f"{r.messages:,}", f(r.seconds, ".2f"), f(r.rate, ",.0f"), f(r.publish_rate, ",.0f"),
            "-" if r.stored is None else f"{r.stored:,}", "-" if r.lost is None else f"{r.lost:,}",
            "-" if r.rejected is None else str(r.rejected), f(r.cpu_ms, ".2f"), f(r.rss_mb, ".0f"), r.note]


NOTES = [
    "*msg/s*: raw - from the first publish to the subscriber's last message; live - from the first publish to "
    "the last value stored (polled every 50 ms); backlog - from the consumer's first stored value to its last, "
    "the messages having been queued by the broker while it was stopped.",
    "*publish msg/s*: the publishers' own rate (messages acknowledged by the broker per second).",
    "*lost* = messages sent - values stored (each message carries one value); the consumer acknowledges a "
    "message only after its batch is committed.",
    "*consumer CPU ms/msg*: the consumer process's CPU time during the measured window (from /proc) per "
    "message; the broker's, the publishers' and PostgreSQL's are not included. *peak RSS*: the consumer's "
    "(from wait4).",
]


def text_table(facts: dict[str, str], rows: list[Row], skipped: list[str]) -> str:
    body = [cells(r) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(HEADERS)]
    right = set(range(2, 11))

    def fmt(c: list[str]) -> str:
        return "  ".join(x.rjust(w) if i in right else x.ljust(w) for i, (x, w) in enumerate(zip(c, widths)))

    lines = ["sensing_ingest - MQTT ingestion into CityAI beside the broker's raw rate (same run)", ""]
    lines += [f"{k:>8}: {v}" for k, v in facts.items()]
    lines += ["", fmt(HEADERS), "  ".join("-" * w for w in widths)] + [fmt(b) for b in body] + [""]
    lines += [f"skipped: {s}" for s in skipped] + [n.replace("*", "") for n in NOTES]
    return "\n".join(lines) + "\n"


def markdown(facts: dict[str, str], rows: list[Row], skipped: list[str]) -> str:
    lines = [f"- **{k}**: {v}" for k, v in facts.items()]
    lines += ["", "| " + " | ".join(HEADERS) + " |", "|" + "|".join(["---", "---"] + ["---:"] * 9 + ["---"]) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |" for r in rows]
    lines += [""] + [f"- skipped: {s}" for s in skipped] + [f"- {n}" for n in NOTES]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="messages per row (default 20,000)")
    parser.add_argument("--devices", type=int, default=100, help="registered devices (default 100)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (default 2)")
    parser.add_argument("--batch-max", type=int, default=1000, help="the consumer's batch size (default 1000)")
    parser.add_argument("--targets", default="raw,sqlite,postgresql",
                        help="comma list of raw, sqlite, postgresql (default all)")
    parser.add_argument("--broker", default="own",
                        help="'own' (default): a mosquitto of its own with deploy/mosquitto/cityai.conf's "
                             "settings; or mqtt://host:port of a running broker")
    parser.add_argument("--postgres-url", default=DEFAULT_PG_URL,
                        help="a loopback PostgreSQL URL to create the scratch database from")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as markdown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if set(targets) - {"raw", "sqlite", "postgresql"}:
        parser.error("--targets: raw, sqlite, postgresql")
    if args.messages < args.devices or args.devices < 1 or args.publishers < 1:
        parser.error("--messages >= --devices >= 1, --publishers >= 1")

    work = Path(tempfile.mkdtemp(prefix="cityai-sensing-bench-"))
    broker = None
    rows: list[Row] = []
    skipped: list[str] = []
    try:
        if args.broker == "own":
            if not os.path.exists(MOSQUITTO):
                raise SystemExit(f"{MOSQUITTO} is not installed; give --broker mqtt://host:port")
            broker = Broker(work)
            host, port = "127.0.0.1", broker.port
            desc = f"{broker_version()}, own process with deploy/mosquitto/cityai.conf's settings, loopback"
        else:
            from cityai.sensing.mqtt import BrokerURL

            b = BrokerURL.parse(args.broker)
            host, port = b.host, b.port
            desc = f"{broker_version()} at {b.redacted()} (its own configuration)"
        facts = machine_facts(args, desc)
        if "raw" in targets:
            print("raw broker rate ...", file=sys.stderr, flush=True)
            rows.append(raw_rate(host, port, args.messages, args.publishers, work))
        if "sqlite" in targets:
            print("cityai on SQLite ...", file=sys.stderr, flush=True)
            rows += cityai_rows("cityai-sqlite", work, None, host, port, args.messages, args.devices,
                                args.publishers, args.batch_max)
        if "postgresql" in targets:
            url, reason, admin = pg_scratch(args.postgres_url)
            if url is None:
                skipped.append(f"cityai-postgresql: {reason}")
            else:
                print("cityai on PostgreSQL ...", file=sys.stderr, flush=True)
                try:
                    rows += cityai_rows("cityai-postgresql", work, url, host, port, args.messages, args.devices,
                                        args.publishers, args.batch_max)
                finally:
                    pg_drop(admin, url)
    finally:
        if broker is not None:
            broker.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(text_table(facts, rows, skipped))
    if args.markdown:
        args.markdown.write_text(markdown(facts, rows, skipped), encoding="utf-8")
        print(f"markdown written to {args.markdown}", file=sys.stderr)
    ok = all(r.lost == 0 and not r.rejected for r in rows if r.target != "mosquitto raw")
    return 0 if rows and ok else 1


if __name__ == "__main__":
    sys.exit(main())
