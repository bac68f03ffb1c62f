"""The MQTT ingest consumer: device messages from a broker into :func:`cityai.sensing.ingest.ingest`.

Devices publish ``{"type", "observedAt", <attribute>: number, ...}`` to ``<prefix>/<agency code>/<device
id>`` (``CITYAI_SENSING_MQTT_TOPIC_PREFIX``, default ``cityai/v1``) at QoS 1. One consumer per deployment
subscribes to ``<prefix>/+/+`` and stores what arrives. The guarantee: **a message the broker has been told
is delivered (PUBACK) is stored**, and nothing is dropped when devices publish faster than the database
writes. How:

- **Persistent session.** MQTT v5, a fixed client id (``CITYAI_SENSING_MQTT_CLIENT_ID``; by default
  ``cityai-ingest-`` + a hash of the database URL, so two deployments on one broker never share a session),
  ``clean_start=False`` and a Session Expiry Interval (a day by default): while the consumer is down or
  restarting, the broker keeps its subscription and queues the messages for it (up to Mosquitto's
  ``max_queued_messages``: see ``deploy/mosquitto/cityai.conf``), and it resends every unacknowledged one when
  the consumer comes back.
- **Acknowledge after storing.** paho's ``manual_ack``: ``on_message`` only puts the message on a queue; a
  writer thread takes batches (up to ``batch_max`` messages, or what arrived within ``batch_wait_s`` of the
  first), stores each batch with one :func:`~cityai.sensing.ingest.ingest` call (one transaction) and only
  then sends the PUBACKs. A process killed at any moment loses nothing: what was not acknowledged is
  delivered again, and storage is idempotent on (entity, attribute, time), so a value delivered twice is
  stored once.
- **Back-pressure, not loss.** The consumer announces a Receive Maximum of 65,535 (MQTT v5): the broker may
  have that many messages in flight to it. With the protocol's default of 20 a slow consumer leaves the rest
  in the broker's per-client queue, which Mosquitto caps at ``max_queued_messages`` (1,000 by default) and
  then silently drops. When the database is unavailable, ``ingest`` raises, the batch is NOT acknowledged
  and is retried with a growing delay (0.5 s to 30 s) until it is stored or the consumer stops; meanwhile
  the broker stops sending once 65,535 messages are unacknowledged and queues the rest.
- **Reconnection.** paho reconnects by itself (1 s to 30 s); the broker resends the unacknowledged messages
  of the session. Packet ids belong to a connection: a batch received before a disconnect is still stored,
  but its PUBACKs are not sent on the new connection (its messages come again and are skipped as
  duplicates), so a stale id can never acknowledge another message.
- **Refusals are acknowledged.** A malformed message, an unknown device, a wrong unit or a clock-skewed
  time is recorded in ``sens_rejected`` with its reason by ``ingest`` and acknowledged: it would be refused
  again on every redelivery. A message whose topic does not name ``<agency>/<device>`` is recorded the same
  way (code ``unknown-device``, with its topic). A message on which ``ingest`` itself fails with a
  programming error (not a database error) is retried three times, then stored alone, and if it still fails
  it is recorded as ``internal-error`` and acknowledged, so one poison message cannot stop the stream.
- **One consumer per deployment.** Two processes with the same client id would take the session from each
  other in turn. :func:`start_for_platform` (the server) and ``cityai sensing ingest`` first take a lock
  (a PostgreSQL advisory lock, or a file lock beside the SQLite database); a second one waits and takes over
  when the first stops.

Run one with ``cityai sensing ingest`` (or ``python -m cityai.sensing.mqtt``), or set
``CITYAI_SENSING_MQTT_URL`` and ``cityai serve`` runs one in a thread. URLs: ``mqtt://[user:password@]host
[:1883]``, ``mqtts://host[:8883]`` (TLS; ``?ca=/path/ca.pem``, ``&cert=...&key=...`` for a client
certificate), ``ws://`` / ``wss://host/path`` (MQTT over WebSockets).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import signal
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger("cityai.sensing.mqtt")  # also when run as python -m cityai.sensing.mqtt

DEFAULT_URL = "mqtt://127.0.0.1:1883"
SESSION_EXPIRY_S = 86_400
RECEIVE_MAXIMUM = 65_535
BATCH_MAX = 1000
BATCH_WAIT_S = 0.05
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
POISON_TRIES = 3
LOCK_RETRY_S = 5.0  # how often a standing-by consumer tries to take the deployment's lock


def default_client_id(settings: Any) -> str:
    """``CITYAI_SENSING_MQTT_CLIENT_ID``, else ``cityai-ingest-<12 hex of the database URL's SHA-256>``."""
    if settings.sensing_mqtt_client_id:
        return settings.sensing_mqtt_client_id
    digest = hashlib.sha256(settings.effective_database_url.encode("utf-8")).hexdigest()[:12]
    return f"cityai-ingest-{digest}"


@dataclass
class BrokerURL:
    host: str
    port: int
    tls: bool = False
    websockets: bool = False
    path: str = "/mqtt"
    username: str | None = None
    password: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        u = urllib.parse.urlsplit(url if "://" in url else "mqtt://" + url)
        scheme = u.scheme.lower()
        if scheme not in ("mqtt", "tcp", "mqtts", "ssl", "tls", "ws", "wss"):
            raise ValueError(f"MQTT URL {url!r}: the scheme is mqtt://, mqtts://, ws:// or wss://")
        tls = scheme in ("mqtts", "ssl", "tls", "wss")
        ws = scheme in ("ws", "wss")
        if not u.hostname:
            raise ValueError(f"MQTT URL {url!r} has no host")
        q = dict(urllib.parse.parse_qsl(u.query))
        port = u.port or (443 if scheme == "wss" else 80 if scheme == "ws" else 8883 if tls else 1883)
        return cls(host=u.hostname, port=port, tls=tls, websockets=ws, path=u.path or "/mqtt",
                   username=urllib.parse.unquote(u.username) if u.username else None,
                   password=urllib.parse.unquote(u.password) if u.password else None,
                   ca=q.get("ca"), cert=q.get("cert"), key=q.get("key"))

    def redacted(self) -> str:
        scheme = ("wss" if self.tls else "ws") if self.websockets else ("mqtts" if self.tls else "mqtt")
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def make_client(url: str | BrokerURL, client_id: str, *, manual_ack: bool = False, protocol: str = "v5"):
    """A paho client for the broker URL (credentials, TLS, WebSockets applied), not yet connected."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    b = url if isinstance(url, BrokerURL) else BrokerURL.parse(url)
    proto = mqtt.MQTTv5 if protocol == "v5" else mqtt.MQTTv311
    kw: dict[str, Any] = {"client_id": client_id, "protocol": proto, "manual_ack": manual_ack,
                          "transport": "websockets" if b.websockets else "tcp"}
    if proto == mqtt.MQTTv311:
        kw["clean_session"] = False
    client = mqtt.Client(CallbackAPIVersion.VERSION2, **kw)
    if b.websockets:
        client.ws_set_options(path=b.path)
    if b.username:
        client.username_pw_set(b.username, b.password)
    if b.tls:
        client.tls_set(ca_certs=b.ca, certfile=b.cert, keyfile=b.key)
    return client


def forget_session(url: str, client_id: str, timeout: float = 5.0) -> bool:
    """End a persistent session on the broker (its subscription and queued messages): connect with
    ``clean_start`` and no session expiry, then disconnect. For tests, benchmarks and decommissioning."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    b = BrokerURL.parse(url)
    client = make_client(b, client_id)
    done = threading.Event()
    client.on_connect = lambda *a: done.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    try:
        client.connect(b.host, b.port, keepalive=10, clean_start=True, properties=props)
    except OSError:
        return False
    client.loop_start()
    ok = done.wait(timeout)
    client.disconnect()
    client.loop_stop()
    return ok


# ------------------------------------------------------------------ one consumer per deployment


class ConsumerLock:
    """Held by the one consumer of a deployment: a PostgreSQL session advisory lock keyed by the client id
    (on a connection of its own), or an ``flock`` on a file beside the SQLite database."""

    def __init__(self, platform: Any, client_id: str) -> None:
        self.platform = platform
        self.client_id = client_id
        self._conn = None
        self._fd: int | None = None
        self.key = int.from_bytes(hashlib.sha256(("cityai-mqtt:" + client_id).encode()).digest()[:8], "big",
                                  signed=True)

    def _lock_path(self) -> str:
        url = self.platform.settings.effective_database_url
        path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
        if not path or path == ":memory:":
            path = str(self.platform.settings.home / "cityai.db")
        return f"{path}.mqtt-consumer.lock"

    def try_acquire(self) -> bool:
        if self._conn is not None or self._fd is not None:
            return True
        if self.platform.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            conn = self.platform.engine.connect()
            try:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
                conn.commit()
            except Exception:
                conn.close()
                raise
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        import fcntl

        try:
            fd = os.open(self._lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a read-only directory: run without the lock rather than not at all
            log.warning("cannot create the MQTT consumer's lock file; running without it",
                        extra={"path": self._lock_path(), "error": str(exc)})
            self._fd = -1
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            from sqlalchemy import text

            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                conn.commit()
            except Exception:  # noqa: BLE001 - closing the connection releases it anyway
                pass
            conn.close()
        fd, self._fd = self._fd, None
        if fd is not None and fd >= 0:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


# ------------------------------------------------------------------ the consumer


@dataclass
class _Item:
    mid: int
    qos: int
    topic: str
    payload: bytes
    gen: int


def _transient(exc: BaseException) -> bool:
    """A database (or network) failure, worth retrying as is: as opposed to a bug tied to a message."""
    from sqlalchemy import exc as sa

    if isinstance(exc, (sa.OperationalError, sa.InterfaceError, sa.TimeoutError, sa.DisconnectionError,
                        OSError, MemoryError)):
        return True
    return isinstance(exc, sa.DBAPIError) and bool(getattr(exc, "connection_invalidated", False))


class IngestConsumer:
    """Consume ``<prefix>/+/+`` from the broker into the platform; see the module's docstring.

    ``start()`` returns at once (connecting and reconnecting happen in the background); ``stop()`` stores
    and acknowledges what has arrived (for up to ``drain_s``), then disconnects, keeping the session;
    ``run_forever()`` starts and blocks until SIGTERM/SIGINT or ``stop()``. ``stats()`` gives the counters.
    """

    def __init__(self, platform: Any, *, url: str | None = None, topic_prefix: str | None = None,
                 client_id: str | None = None, session_expiry_s: int = SESSION_EXPIRY_S,
                 batch_max: int = BATCH_MAX, batch_wait_s: float = BATCH_WAIT_S, exclusive: bool = True,
                 keepalive: int = 30, reconnect_max_s: int = 30,
                 ingest_fn: Callable[..., list] | None = None, stats_every_s: float = 60.0) -> None:
        s = platform.settings
        self.platform = platform
        self.url = url or s.sensing_mqtt_url or DEFAULT_URL
        self.broker = BrokerURL.parse(self.url)
        self.prefix = (topic_prefix or s.sensing_mqtt_topic_prefix).rstrip("/")
        self.client_id = client_id or default_client_id(s)
        self.subscription = f"{self.prefix}/+/+"
        self.session_expiry_s = int(session_expiry_s)
        self.batch_max = max(1, int(batch_max))
        self.batch_wait_s = float(batch_wait_s)
        self.keepalive = keepalive
        self.reconnect_max_s = reconnect_max_s
        self.exclusive = exclusive
        self.stats_every_s = stats_every_s
        if ingest_fn is None:
            from cityai.sensing.ingest import ingest as ingest_fn
        self._ingest = ingest_fn
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._ack_lock = threading.Lock()
        self._gen = 0  # +1 at every disconnect: packet ids of an older generation are void
        self._stop = threading.Event()
        self._drain_until = float("inf")
        self._stopped = threading.Event()
        self._subscribed = threading.Event()
        self._client = None
        self._lock: ConsumerLock | None = None
        self._threads: list[threading.Thread] = []
        self._started = False
        # counters (written by one thread each; read anywhere)
        self.received = 0  # messages delivered by the broker (redeliveries included)
        self.stored = 0  # values newly stored
        self.messages_stored = 0  # messages with at least one new value
        self.duplicates = 0  # valid messages whose values were all stored already (redeliveries)
        self.rejected = 0  # messages refused (recorded in sens_rejected)
        self.acked = 0  # PUBACKs sent
        self.stale_acks_skipped = 0  # acknowledgements not sent: the connection they belonged to is gone
        self.batches = 0
        self.failures = 0  # failed ingest attempts (batch not acknowledged, retried)
        self.reconnects = 0  # successful connections after the first
        self.connects = 0
        self.connected = False
        self.session_present: bool | None = None
        self.lock_held = False
        self.last_error: str | None = None
        self.started_at: float | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> IngestConsumer:
        """Connect (in the background) and consume. With ``exclusive``, take the deployment's consumer lock
        first, waiting for it in the background when another process holds it."""
        if self._started:
            return self
        self._started = True
        self.started_at = time.monotonic()
        t = threading.Thread(target=self._run, name="cityai-mqtt-consumer", daemon=True)
        self._threads.append(t)
        t.start()
        return self

    def _run(self) -> None:
        try:
            if self.exclusive:
                self._lock = ConsumerLock(self.platform, self.client_id)
                waited = False
                while not self._stop.is_set():
                    try:
                        if self._lock.try_acquire():
                            break
                    except Exception as exc:  # noqa: BLE001 - database down: try again
                        self.last_error = f"consumer lock: {type(exc).__name__}: {exc}"[:500]
                    if not waited:
                        log.info("another MQTT consumer of this deployment holds the lock; waiting to take over",
                                 extra={"client_id": self.client_id})
                        waited = True
                    self._stop.wait(LOCK_RETRY_S)
                if self._stop.is_set():
                    return
                self.lock_held = True
            self._connect()
            self._writer()
        except Exception as exc:  # noqa: BLE001
            self.last_error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("MQTT consumer stopped on an error")
        finally:
            self._shutdown_client()
            if self._lock is not None:
                self._lock.release()
                self.lock_held = False
            self._stopped.set()

    def _connect(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        client = make_client(self.broker, self.client_id, manual_ack=True)
        client.reconnect_delay_set(min_delay=1, max_delay=self.reconnect_max_s)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_connect_fail = self._on_connect_fail
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._client = client
        # connect_async + loop_start: the first connection, like every later one, is retried in the
        # background until the broker answers.
        client.connect_async(self.broker.host, self.broker.port, keepalive=self.keepalive, clean_start=False,
                             properties=props)
        client.loop_start()
        log.info("MQTT consumer connecting", extra={"broker": self.broker.redacted(), "client_id": self.client_id,
                                                    "subscription": self.subscription})

    def _shutdown_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.disconnect()  # sends the PUBACKs queued before it; the session (and its queue) stays
        except Exception:  # noqa: BLE001
            pass
        client.loop_stop()
        self.connected = False

    def stop(self, timeout: float = 15.0, drain_s: float = 5.0) -> None:
        """Store and acknowledge what has arrived (for at most ``drain_s``), then disconnect. The session
        stays on the broker: what arrives meanwhile waits there for the next start."""
        self._request_stop(drain_s)
        if self._started:
            self._stopped.wait(timeout)
        log.info("MQTT consumer stopped", extra=self.stats())

    def _request_stop(self, drain_s: float = 5.0) -> None:
        if not self._stop.is_set():
            self._drain_until = time.monotonic() + drain_s
            self._stop.set()

    def run_forever(self, install_signals: bool = True) -> None:
        """Start and block until SIGTERM/SIGINT (or ``stop()`` from another thread)."""
        if install_signals and threading.current_thread() is threading.main_thread():
            def handler(signum: int, frame: Any) -> None:
                log.info("MQTT consumer: signal %s, stopping", signum)
                self._request_stop()

            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)
        self.start()
        last = time.monotonic()
        while not self._stop.is_set() and not self._stopped.is_set():
            self._stop.wait(1.0)
            if self.stats_every_s and time.monotonic() - last >= self.stats_every_s:
                last = time.monotonic()
                log.info("MQTT consumer", extra=self.stats())
        self.stop()

    @property
    def running(self) -> bool:
        return self._started and not self._stopped.is_set()

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return self._subscribed.wait(timeout)

    def stats(self) -> dict[str, Any]:
        return {"broker": self.broker.redacted(), "client_id": self.client_id, "subscription": self.subscription,
                "connected": self.connected, "session_present": self.session_present, "lock_held": self.lock_held,
                "received": self.received, "stored": self.stored, "messages_stored": self.messages_stored,
                "duplicates": self.duplicates, "rejected": self.rejected, "acked": self.acked,
                "stale_acks_skipped": self.stale_acks_skipped, "batches": self.batches, "failures": self.failures,
                "connects": self.connects, "reconnects": self.reconnects, "queued": self._queue.qsize(),
                "last_error": self.last_error}

    # ------------------------------------------------------------ paho callbacks (its network thread)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.error("MQTT broker refused the connection", extra={"reason": str(reason),
                                                                   "broker": self.broker.redacted()})
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        self.connects += 1
        if self.connects > 1:
            self.reconnects += 1
        self.connected = True
        self.session_present = bool(flags.session_present)
        if self.connects > 1 and not flags.session_present:
            log.warning("MQTT broker had no session for this consumer: messages published while it was away "
                        "are lost unless the broker keeps sessions (persistence, session expiry)",
                        extra={"client_id": self.client_id})
        # retainHandling=1: a retained message is sent only when the subscription is new, not at every
        # reconnection. Subscribing again to the same filter keeps the session's queue.
        client.subscribe(self.subscription, options=SubscribeOptions(
            qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB))
        log.info("MQTT consumer connected", extra={"broker": self.broker.redacted(), "client_id": self.client_id,
                                                   "session_present": self.session_present})

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: list, properties: Any) -> None:
        bad = [str(rc) for rc in reason_codes if rc.is_failure]
        if bad:
            self.last_error = f"subscription to {self.subscription} refused: {', '.join(bad)}"
            log.error("MQTT subscription refused (check the broker's ACL)",
                      extra={"subscription": self.subscription, "reasons": bad})
        else:
            self._subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._ack_lock:
            self._gen += 1
        was = self.connected
        self.connected = False
        if was and not self._stop.is_set():
            self.last_error = f"disconnected: {reason}"
            log.warning("MQTT consumer disconnected; reconnecting", extra={"reason": str(reason)})

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self.last_error = f"cannot connect to {self.broker.redacted()}"
        log.warning("MQTT broker unreachable; retrying", extra={"broker": self.broker.redacted()})

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.received += 1
        self._queue.put(_Item(msg.mid, msg.qos, msg.topic, msg.payload, self._gen))

    # ------------------------------------------------------------ the writer (its own thread)

    def _next_batch(self) -> list[_Item]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_max:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _writer(self) -> None:
        while True:
            if self._stop.is_set() and (self._queue.empty() or time.monotonic() > self._drain_until):
                return
            batch = self._next_batch()
            if batch and not self._store(batch):
                return  # stopped while the database was failing: nothing acknowledged

    def _messages(self, batch: list[_Item]) -> list[Any]:
        from cityai.sensing.ingest import Message, parse_topic

        out = []
        for it in batch:
            parsed = parse_topic(self.prefix, it.topic)
            if parsed is None:
                # Cannot happen with the <prefix>/+/+ filter except for empty levels ("a//b"): recorded as
                # an unknown device with its topic, and acknowledged.
                log.warning("MQTT message on a topic that names no device", extra={"topic": it.topic[:300]})
                parsed = ("", "")
            out.append(Message(parsed[0], parsed[1], it.payload, channel="mqtt", topic=it.topic[:300]))
        return out

    def _store(self, batch: list[_Item]) -> bool:
        """Store the batch, retrying while the database fails; acknowledge it once stored. False when the
        consumer was stopped before the batch could be stored (then nothing of it is acknowledged)."""
        outcomes = self._ingest_retrying(self._messages(batch))
        if outcomes is None:
            return False
        self.batches += 1
        for o in outcomes:
            if o.status == "stored":
                self.messages_stored += 1
                self.stored += o.stored
            elif o.status == "duplicate":
                self.duplicates += 1
            else:
                self.rejected += 1
        self._ack(batch)
        return True

    def _ingest_retrying(self, messages: list[Any]) -> list[Any] | None:
        """``ingest(messages)``, retried with a growing delay while it fails; None if stopped meanwhile.
        A failure that is not the database's (a bug tied to a message) splits the batch after a few tries;
        a single message that keeps failing so is recorded as ``internal-error``."""
        from cityai.sensing.ingest import Outcome

        delay = RETRY_MIN_S
        tries = 0
        while True:
            try:
                return self._ingest(self.platform, messages)
            except Exception as exc:  # noqa: BLE001
                tries += 1
                self.failures += 1
                self.last_error = f"ingest: {type(exc).__name__}: {exc}"[:500]
                if not _transient(exc) and tries >= POISON_TRIES:
                    if len(messages) > 1:
                        log.warning("ingest keeps failing on a batch; storing its messages one by one",
                                    extra={"error": self.last_error, "messages": len(messages)})
                        out: list[Any] = []
                        for m in messages:
                            one = self._ingest_retrying([m])
                            if one is None:
                                return None
                            out.extend(one)
                        return out
                    m = messages[0]
                    detail = f"ingestion failed: {type(exc).__name__}: {exc}"[:1000]
                    log.error("message could not be ingested; recorded as internal-error",
                              extra={"topic": m.topic, "error": detail}, exc_info=exc)
                    try:
                        self._record_internal_error(m, detail)
                        return [Outcome("rejected", code="internal-error", detail=detail)]
                    except Exception as exc2:  # noqa: BLE001 - the database again: keep retrying
                        self.last_error = f"ingest: {type(exc2).__name__}: {exc2}"[:500]
                log.warning("ingest failed; the batch is not acknowledged and will be retried",
                            extra={"error": self.last_error, "messages": len(messages), "retry_in_s": delay})
                if self._stop.wait(delay):
                    return None
                delay = min(delay * 2, RETRY_MAX_S)

    def _record_internal_error(self, m: Any, detail: str) -> None:
        from cityai.core.db import utcnow
        from cityai.sensing.models import Rejected

        payload = m.payload.decode("utf-8", "replace") if isinstance(m.payload, (bytes, bytearray)) else str(m.payload)
        with self.platform.system_context() as ctx:
            ctx.db.add(Rejected(received_at=utcnow(), agency_id=None, channel=m.channel, topic=m.topic,
                                device_id=(m.device_id or "")[:100], code="internal-error", detail=detail,
                                payload=payload[:2000]))

    def _ack(self, batch: list[_Item]) -> None:
        client = self._client
        if client is None:
            return
        with self._ack_lock:
            # Under the lock: a disconnect (which bumps the generation) cannot slip between the check and
            # the PUBACK, so a packet id of a dead connection is never sent on a new one.
            for it in batch:
                if it.qos == 0:
                    continue
                if it.gen != self._gen:
                    self.stale_acks_skipped += 1
                    continue
                client.ack(it.mid, it.qos)
                self.acked += 1


# ------------------------------------------------------------------ the server's consumer


def start_for_platform(platform: Any) -> IngestConsumer | None:
    """Start the deployment's consumer in a thread when ``CITYAI_SENSING_MQTT_URL`` is set (else None).
    Several server processes may call this: one takes the lock and consumes, the others wait to take over."""
    if not platform.settings.sensing_mqtt_url:
        return None
    existing = platform.__dict__.get("_sensing_mqtt_consumer")
    if existing is not None and existing.running:
        return existing
    consumer = IngestConsumer(platform).start()
    platform.__dict__["_sensing_mqtt_consumer"] = consumer
    return consumer


def current_state(platform: Any) -> dict[str, Any] | None:
    """The counters of this process's consumer (:meth:`IngestConsumer.stats`); None when this process runs
    none, or when it is standing by while another process of the deployment holds the consumer lock."""
    consumer = platform.__dict__.get("_sensing_mqtt_consumer")
    if consumer is None or (consumer.exclusive and not consumer.lock_held and consumer.running):
        return None
    return consumer.stats()


def run_forever(platform: Any, url: str | None = None, **options: Any) -> IngestConsumer:
    """Run a consumer in the foreground until SIGTERM/SIGINT; returns it (stopped) for its counters."""
    consumer = IngestConsumer(platform, url=url, **options)
    platform.__dict__["_sensing_mqtt_consumer"] = consumer
    try:
        consumer.run_forever()
    finally:
        platform.__dict__.pop("_sensing_mqtt_consumer", None)
    return consumer


# ------------------------------------------------------------------ command line


def _command():
    import click

    @click.command("ingest")
    @click.option("--broker", "--url", "url", default=None,
                  help=f"Broker URL (default: CITYAI_SENSING_MQTT_URL, else {DEFAULT_URL}); "
                       "mqtt://user:password@host:1883, mqtts://...")
    @click.option("--client-id", default=None,
                  help="MQTT client id of the persistent session (default: CITYAI_SENSING_MQTT_CLIENT_ID, "
                       "else derived from the database URL).")
    @click.option("--topic-prefix", default=None, help="Topic prefix (default: CITYAI_SENSING_MQTT_TOPIC_PREFIX).")
    @click.option("--batch-max", default=BATCH_MAX, show_default=True, help="Messages stored in one transaction.")
    @click.option("--stats-every", default=60.0, show_default=True, help="Seconds between progress log lines.")
    def ingest_command(url: str | None, client_id: str | None, topic_prefix: str | None, batch_max: int,
                       stats_every: float) -> None:
        """Nhận dữ liệu cảm biến qua MQTT / consume device messages from the MQTT broker into CityAI.

        Runs in the foreground until SIGTERM or Ctrl-C; what it acknowledged is stored.
        """
        from cityai.cli import _platform

        platform = _platform()
        opts = {"client_id": client_id, "topic_prefix": topic_prefix, "batch_max": batch_max,
                "stats_every_s": stats_every}
        probe = IngestConsumer(platform, url=url, **opts)
        click.echo(f"MQTT ingest: {probe.broker.redacted()} {probe.subscription} "
                   f"(client id {probe.client_id}); Ctrl-C to stop", err=True)
        try:
            consumer = run_forever(platform, url, **opts)
        finally:
            platform.close()
        s = consumer.stats()
        click.echo(f"stopped: {s['received']} received, {s['stored']} values stored, {s['rejected']} rejected, "
                   f"{s['duplicates']} duplicates, {s['acked']} acknowledged", err=True)

    return ingest_command


ingest_command = _command()


if __name__ == "__main__":
    ingest_command(prog_name="python -m cityai.sensing.mqtt")
