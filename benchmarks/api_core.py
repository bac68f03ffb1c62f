#!/usr/bin/env python
"""api_core - requests/s and p50/p99 latency of an authenticated GET, beside a bare FastAPI ceiling.

Every target is a real server in a subprocess (uvicorn, one worker process, no access log, log level
warning), loaded over loopback by ``wrk`` (or, when wrk is missing, by a Python asyncio loop):

* ``bare-fastapi``      - ``benchmarks/_bare_app.py``: ``GET /ping`` (the ceiling) and ``GET /ping-sync``;
* ``cityai-sqlite``     - ``cityai serve --no-worker`` on SQLite in a temporary ``CITYAI_HOME``;
* ``cityai-postgresql`` - the same on a scratch PostgreSQL database, dropped at the end (skipped,
  with the reason, when the server does not answer).

CityAI is loaded with ``Authorization: Bearer <token>`` (a token from ``POST /api/v1/auth/token``) on
``GET /api/v1/me`` and on the heavier ``GET /api/v1/agencies?limit=20``. Each measurement is preceded
by a warm-up at the same concurrency. Each row gives req/s, p50/p99 latency, errors (non-2xx and
socket errors) and the server process's CPU time per request (from /proc). The figures are printed as
a table and, with ``--markdown FILE``, written as markdown together with the machine facts.

    python benchmarks/api_core.py                      # defaults: 10 s, 32 connections, + 1 connection
    python benchmarks/api_core.py --duration 5 --targets bare,sqlite --markdown /tmp/api_core.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.metadata
import importlib.util
import json
import math
import os
import platform as pyplatform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
DEFAULT_PG_URL = os.environ.get("CITYAI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_EMAIL = "bench.admin@cityai.local"
START_TIMEOUT = 60.0
ME = "/api/v1/me"
AGENCIES = "/api/v1/agencies?limit=20"

# wrk prints this one line from its done() hook: exact figures, no unit parsing needed.
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\": %.0f, \"duration_us\": %.0f, \"p50_us\": %.0f, \"p99_us\": %.0f, " ..
    "\"mean_us\": %.1f, \"max_us\": %.0f, \"connect\": %.0f, \"read\": %.0f, \"write\": %.0f, " ..
    "\"status\": %.0f, \"timeout\": %.0f}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


# ---------------------------------------------------------------------------------------------- results


@dataclass
class Result:
    target: str
    endpoint: str
    connections: int
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    requests: int | None = None
    cpu_ms: float | None = None  # server process CPU time per request
    note: str = ""


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


# ---------------------------------------------------------------------------------------------- wrk

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float | None:
    m = re.fullmatch(r"\s*([0-9.]+)\s*(us|ms|s|m|h)\s*", text)
    return float(m.group(1)) * _UNITS_MS[m.group(2)] if m else None


def parse_wrk(output: str) -> dict[str, float]:
    """Requests, req/s, p50/p99 (ms) and errors from wrk's output.

    Prefers the ``WRK_JSON`` line written by our Lua ``done()`` hook; falls back to wrk's own text
    (``Requests/sec:``, the ``--latency`` distribution, ``Non-2xx or 3xx responses`` and
    ``Socket errors``) when the hook's line is absent.
    """
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line[len("WRK_JSON "):])
            seconds = data["duration_us"] / 1e6
            errors = sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout"))
            return {"requests": data["requests"], "rps": data["requests"] / seconds if seconds else 0.0,
                    "p50_ms": data["p50_us"] / 1000.0, "p99_ms": data["p99_us"] / 1000.0, "errors": errors}
    out: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s*([0-9.]+)", output)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([0-9.]+\w+)", output)
    if m:
        out["requests"] = float(m.group(1))
    dist = output.split("Latency Distribution", 1)[1] if "Latency Distribution" in output else ""
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s*{pct}(?:\.0+)?%\s+([0-9.]+\s*(?:us|ms|s|m|h))\s*$", dist, re.M)
        if m:
            value = _duration_ms(m.group(1))
            if value is not None:
                out[key] = value
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors:\s*connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        errors += sum(int(x) for x in m.groups())
    out["errors"] = errors
    if "rps" not in out or "p50_ms" not in out or "p99_ms" not in out:
        raise ValueError("could not parse wrk output:\n" + output[-2000:])
    return out


def wrk_version(wrk: str) -> str:
    try:
        proc = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


class WrkLoad:
    name = "wrk"

    def __init__(self, wrk: str, threads: int, workdir: Path) -> None:
        self.wrk = wrk
        self.threads = threads
        self.script = workdir / "report.lua"
        self.script.write_text(WRK_LUA, encoding="utf-8")

    def run(self, url: str, headers: dict[str, str], connections: int, seconds: int) -> dict[str, float]:
        cmd = [self.wrk, "-t", str(max(1, min(self.threads, connections))), "-c", str(connections),
               "-d", f"{seconds}s", "--timeout", "10s", "--latency", "-s", str(self.script)]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(url)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"wrk exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
        return parse_wrk(proc.stdout)


class PythonLoad:
    """The fallback when wrk is missing: ``connections`` asyncio keep-alive connections, stdlib only.

    Each connection sends a prepared HTTP/1.1 GET, reads the response (Content-Length or chunked) and
    sends the next. A plain asyncio client rather than httpx: on the 2-core development machine an
    httpx AsyncClient loop got ~130 req/s out of the bare /ping where wrk and this loop both got
    ~2,600-2,800, so httpx would have measured itself. This loop still runs in Python and shares the
    CPU with the server, so its figures are a floor.
    """

    name = "python asyncio loop (fallback)"
    TIMEOUT = 10.0

    def run(self, url: str, headers: dict[str, str], connections: int, seconds: int) -> dict[str, float]:
        return asyncio.run(asyncio.wait_for(self._run(url, headers, connections, seconds), seconds + 60))

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await reader.readexactly(length)
        return status

    async def _run(self, url: str, headers: dict[str, str], connections: int,
                   seconds: int) -> dict[str, float]:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or LOOPBACK, parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        latencies: list[float] = []
        errors = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def connection() -> None:
            nonlocal errors
            writer = None
            while time.perf_counter() < deadline:
                try:
                    if writer is None:
                        opening = asyncio.open_connection(host, port)
                        reader, writer = await asyncio.wait_for(opening, self.TIMEOUT)
                    t0 = time.perf_counter()
                    writer.write(request)
                    status = await asyncio.wait_for(self._read_response(reader), self.TIMEOUT)
                    latencies.append(time.perf_counter() - t0)
                    if status >= 400:
                        errors += 1
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                    errors += 1
                    if writer is not None:
                        writer.close()
                    writer = None
                    await asyncio.sleep(0.01)
            if writer is not None:
                writer.close()

        await asyncio.gather(*(connection() for _ in range(connections)))
        elapsed = time.perf_counter() - start
        if not latencies:
            raise RuntimeError(f"no request completed ({errors} errors)")
        latencies.sort()
        return {"requests": len(latencies), "rps": len(latencies) / elapsed,
                "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
                "errors": errors}


# ---------------------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def http(method: str, url: str, *, data: dict[str, str] | None = None, json_body: Any = None,
         headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """One request with the standard library, never through a proxy; HTTP errors are results too."""
    body = None
    hdrs = dict(headers or {})
    if data is not None:
        body = urllib.parse.urlencode(data).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        body = json.dumps(json_body).encode()
        hdrs["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, method=method, headers=hdrs)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYAI_")}
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra)
    return env


def cityai_cli(args: list[str], env: dict[str, str], timeout: float = 180) -> None:
    proc = subprocess.run([sys.executable, "-m", "cityai", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"cityai {args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


class ServerProcess:
    """A server subprocess on 127.0.0.1, started on a free port and waited for (``ready_path`` = 200)."""

    def __init__(self, make_cmd: Callable[[int], list[str]], env: dict[str, str], log_path: Path,
                 ready_path: str) -> None:
        self.make_cmd = make_cmd
        self.env = env
        self.log_path = log_path
        self.ready_path = ready_path
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def start(self) -> ServerProcess:
        for _attempt in range(3):  # another process may take the port between the probe and the bind
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(self.make_cmd(self.port), env=self.env, stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_ready():
                return self
            in_use = "address already in use" in self.log_tail().lower()
            self.stop()
            if not in_use:
                break
        raise RuntimeError(f"server did not become ready within {START_TIMEOUT:.0f} s; log:\n"
                           + self.log_tail())

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if http("GET", self.url + self.ready_path, timeout=2)[0] == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process has used so far (Linux /proc), else None."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------- PostgreSQL


def check_loopback_url(url: str) -> str | None:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in LOOPBACK_HOSTS:
        return None
    return f"{host} is not a loopback address (this benchmark stays local)"


class ScratchDatabase:
    """A PostgreSQL database made for this run and dropped (WITH FORCE) afterwards."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"cityai_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.created = False
        self.server_version = ""

    def unavailable(self) -> str | None:
        if reason := check_loopback_url(self.admin_url):
            return reason
        try:
            import psycopg
        except ImportError:
            return "psycopg is not installed (pip install -e '.[postgresql]')"
        try:
            with psycopg.connect(self.admin_url, connect_timeout=3, autocommit=True) as conn:
                self.server_version = str(conn.execute("SHOW server_version").fetchone()[0])
        except Exception as exc:  # noqa: BLE001 - any failure means: skip, saying why
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return f"PostgreSQL at {self.address(self.admin_url)} is unreachable: {first_line}"
        return None

    @staticmethod
    def address(url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.hostname}:{parts.port or 5432}"

    @property
    def url(self) -> str:
        parts = urllib.parse.urlsplit(self.admin_url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + self.name, parts.query, ""))

    def create(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def drop(self) -> None:
        if not self.created:
            return
        import psycopg

        with psycopg.connect(self.admin_url, connect_timeout=5, autocommit=True) as conn:
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            except psycopg.errors.SyntaxError:  # PostgreSQL < 13 has no FORCE; our servers are stopped
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        self.created = False


# ---------------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    server: ServerProcess
    headers: dict[str, str]
    endpoints: list[tuple[str, list[int]]]  # (path, concurrencies)


def start_bare(workdir: Path, concurrencies: list[int], loaded: int) -> Target:
    log = workdir / "bare.log"

    def cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "_bare_app:app", "--host", LOOPBACK,
                "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]

    server = ServerProcess(cmd, clean_env(), log, "/ping").start()
    return Target("bare-fastapi", server, {}, [("/ping", concurrencies), ("/ping-sync", [loaded])])


def start_cityai(name: str, workdir: Path, concurrencies: list[int], loaded: int,
                 database_url: str | None = None) -> Target:
    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    extra = {"CITYAI_HOME": str(home), "CITYAI_LOG_LEVEL": "WARNING"}
    if database_url:
        extra["CITYAI_DATABASE_URL"] = database_url
    env = clean_env(**extra)
    password = "Bench-" + secrets.token_urlsafe(16)
    cityai_cli(["create-admin", "--email", ADMIN_EMAIL, "--password", password], env)
    cityai_cli(["demo", "load"], env)  # the city's agencies (17) and a few users, for /agencies

    def cmd(port: int) -> list[str]:
        return [sys.executable, "-m", "cityai", "serve", "--host", LOOPBACK, "--port", str(port),
                "--workers", "1", "--no-worker"]

    server = ServerProcess(cmd, env, workdir / f"{name}.log", "/healthz").start()
    try:
        headers = _login_and_join(server.url, password)
    except BaseException:
        server.stop()
        raise
    return Target(name, server, headers, [(ME, concurrencies), (AGENCIES, [loaded])])


def _login_and_join(url: str, password: str) -> dict[str, str]:
    """A bearer token for the benchmark user, made an editor of one agency so /me resolves a role."""
    status, body = http("POST", url + "/api/v1/auth/token",
                        data={"username": ADMIN_EMAIL, "password": password})
    if status != 200:
        raise RuntimeError(f"POST /api/v1/auth/token answered {status}: {body[:500]!r}")
    headers = {"Authorization": "Bearer " + json.loads(body)["access_token"]}
    status, body = http("GET", url + "/api/v1/agencies?limit=1", headers=headers)
    items = json.loads(body).get("items", []) if status == 200 else []
    status, me_body = http("GET", url + ME, headers=headers)
    if status != 200:
        raise RuntimeError(f"GET {ME} answered {status}: {me_body[:500]!r}")
    if items:
        user_id = json.loads(me_body)["id"]
        status, body = http("PUT", f"{url}/api/v1/agencies/{items[0]['id']}/members/{user_id}",
                            json_body={"role": "editor"}, headers=headers)
        if status != 200:
            raise RuntimeError(f"adding the benchmark user to an agency answered {status}: {body[:500]!r}")
    return headers


# ---------------------------------------------------------------------------------------------- running


def measure(load: Any, target: Target, path: str, connections: int, duration: int, warmup: int) -> Result:
    result = Result(target.name, path, connections)
    url = target.server.url + path
    try:
        status, body = http("GET", url, headers=target.headers)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        if warmup > 0:
            load.run(url, target.headers, connections, warmup)
        cpu_before = target.server.cpu_seconds()
        figures = load.run(url, target.headers, connections, duration)
        cpu_after = target.server.cpu_seconds()
    except Exception as exc:  # noqa: BLE001 - one failed row must not lose the others
        result.note = f"failed: {exc}"
        return result
    result.rps = figures["rps"]
    result.p50_ms = figures["p50_ms"]
    result.p99_ms = figures["p99_ms"]
    result.errors = int(figures["errors"])
    result.requests = int(figures.get("requests", 0))
    if cpu_before is not None and cpu_after is not None and result.requests:
        result.cpu_ms = (cpu_after - cpu_before) * 1000 / result.requests
    return result


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_facts(load_name: str, wrk_ver: str | None, args: argparse.Namespace) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http_impl = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, nproc {usable}" + (f", {mem} RAM" if mem else ""),
        "os": pyplatform.platform(),
        "python": pyplatform.python_version(),
        "server": (f"uvicorn {_version('uvicorn')} ({loop} loop, {http_impl} parser), 1 worker process; "
                   f"fastapi {_version('fastapi')}, sqlalchemy {_version('sqlalchemy')}, "
                   f"psycopg {_version('psycopg')}"),
        "load": (f"{load_name}" + (f" ({wrk_ver}, {args.threads} thread(s))" if wrk_ver else "")
                 + f", {args.duration} s per row after a {args.warmup} s warm-up, keep-alive, loopback"),
    }


def run_all(args: argparse.Namespace) -> Run:
    run = Run()
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(wanted) - {"bare", "sqlite", "postgresql"}
    if unknown:
        raise SystemExit(f"unknown target(s): {', '.join(sorted(unknown))} (use bare, sqlite, postgresql)")
    concurrencies = [args.connections] + ([1] if args.unloaded and args.connections != 1 else [])
    workdir = Path(tempfile.mkdtemp(prefix="cityai-bench-"))
    wrk = shutil.which("wrk") if args.load_generator in ("auto", "wrk") else None
    if args.load_generator == "wrk" and not wrk:
        raise SystemExit("wrk was asked for but is not on PATH")
    wrk_ver = None
    if wrk:
        load: Any = WrkLoad(wrk, args.threads, workdir)
        wrk_ver = wrk_version(wrk)
    else:
        load = PythonLoad()
        run.notes.append("wrk was not used: the load comes from a Python asyncio loop, which competes with "
                         "the server for the CPU, so every figure below is a floor (install wrk for real "
                         "figures).")
    run.facts = machine_facts(load.name, wrk_ver, args)
    cores = os.cpu_count() or 0
    if cores <= 4:
        run.notes.append(f"The machine has {cores} cores: the load generator, the server (and PostgreSQL) "
                         "share them, so absolute figures are lower than on a dedicated server; compare rows "
                         "with the bare-FastAPI ceiling measured in the same run.")
    start_load = loadavg()
    print(f"api_core: {run.facts['load']}", file=sys.stderr)
    db: ScratchDatabase | None = None
    try:
        for name in wanted:
            target: Target | None = None
            try:
                if name == "bare":
                    print("- starting bare FastAPI ...", file=sys.stderr)
                    target = start_bare(workdir, concurrencies, args.connections)
                elif name == "sqlite":
                    print("- starting CityAI on SQLite ...", file=sys.stderr)
                    target = start_cityai("cityai-sqlite", workdir, concurrencies, args.connections)
                else:
                    db = ScratchDatabase(args.postgres_url)
                    reason = db.unavailable()
                    if reason:
                        run.skipped.append(f"cityai-postgresql skipped: {reason}")
                        print(f"- {run.skipped[-1]}", file=sys.stderr)
                        db = None
                        continue
                    where = db.address(args.postgres_url)
                    run.facts["postgresql"] = f"PostgreSQL {db.server_version} on {where}"
                    print(f"- starting CityAI on PostgreSQL (database {db.name}) ...", file=sys.stderr)
                    db.create()
                    target = start_cityai("cityai-postgresql", workdir, concurrencies, args.connections,
                                          db.url)
                for path, concs in target.endpoints:
                    for conc in concs:
                        print(f"  {target.name} GET {path} c={conc} ...", file=sys.stderr, flush=True)
                        run.results.append(measure(load, target, path, conc, args.duration, args.warmup))
            except Exception as exc:  # noqa: BLE001 - report and go on with the next target
                run.skipped.append(f"{name} failed: {exc}")
                print(f"- {run.skipped[-1]}", file=sys.stderr)
            finally:
                if target is not None:
                    target.server.stop()
    finally:
        if db is not None:
            try:
                db.drop()
            except Exception as exc:  # noqa: BLE001
                print(f"warning: could not drop {db.name}: {exc}", file=sys.stderr)
        run.facts["load avg"] = f"{start_load} before the run, {loadavg()} after (1, 5, 15 min)"
        try:
            busy = float(start_load.split()[0]) > 0.5
        except ValueError:
            busy = False
        if busy:
            run.notes.append(f"Other work was running when this run began (1-min load average "
                             f"{start_load.split()[0]} on {cores} cores): figures are lower and noisier than "
                             "on an idle machine.")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}", file=sys.stderr)
    return run


# ---------------------------------------------------------------------------------------------- output

HEADERS = ["target", "endpoint", "conc", "req/s", "vs bare", "p50 ms", "p99 ms", "errors", "cpu ms/req"]


def rows(run: Run) -> list[list[str]]:
    ceiling = {r.connections: r.rps for r in run.results
               if r.target == "bare-fastapi" and r.endpoint == "/ping" and r.rps}
    out = []
    for r in run.results:
        if r.rps is None:
            out.append([r.target, "GET " + r.endpoint, str(r.connections), "-", "-", "-", "-", r.note, "-"])
            continue
        ratio = ceiling.get(r.connections)
        out.append([r.target, "GET " + r.endpoint, str(r.connections), f"{r.rps:,.0f}",
                    f"{100 * r.rps / ratio:.0f}%" if ratio else "-", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
                    str(r.errors), f"{r.cpu_ms:.2f}" if r.cpu_ms is not None else "-"])
    return out


def text_table(run: Run) -> str:
    body = rows(run)
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(HEADERS)]
    right = {2, 3, 4, 5, 6, 7, 8}

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    lines = ["api_core - authenticated GET vs bare FastAPI (same run)", ""]
    lines += [f"{k:>10}: {v}" for k, v in run.facts.items()]
    lines += ["", fmt(HEADERS), "  ".join("-" * w for w in widths)]
    lines += [fmt(row) for row in body]
    lines += [""] + [f"note: {n}" for n in run.notes] + run.skipped
    lines.append("'vs bare' = req/s as a share of bare FastAPI GET /ping at the same concurrency "
                 "(the ceiling); 'cpu ms/req' = the server process's CPU time per request "
                 "(PostgreSQL's own CPU not included).")
    return "\n".join(lines).rstrip() + "\n"


def markdown(run: Run) -> str:
    md_headers = ["target", "endpoint", "concurrency", "req/s", "% of bare /ping", "p50 ms", "p99 ms",
                  "errors", "server CPU ms/req"]
    lines = [f"- **{k}**: {v}" for k, v in run.facts.items()]
    lines += ["", "| " + " | ".join(md_headers) + " |",
              "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]) + "|"]
    for row in rows(run):
        cells = [c.replace("|", "\\|") for c in row]
        cells[1] = f"`{cells[1]}`"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {n}" for n in run.notes + run.skipped]
    lines.append("- *% of bare /ping*: req/s as a share of the bare FastAPI `GET /ping` at the same "
                 "concurrency (the ceiling). *server CPU ms/req*: the server process's CPU time per request "
                 "during the row (PostgreSQL's own CPU not included).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="warm-up seconds before each measurement (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--no-unloaded", dest="unloaded", action="store_false",
                        help="skip the 1-connection (unloaded latency) rows")
    parser.add_argument("--threads", type=int, default=1,
                        help="wrk threads (default 1: the machine is small)")
    parser.add_argument("--targets", default="bare,sqlite,postgresql",
                        help="comma list of bare, sqlite, postgresql (default all)")
    parser.add_argument("--postgres-url", default=DEFAULT_PG_URL,
                        help="a loopback PostgreSQL URL to create the scratch database from "
                             "(default $CITYAI_BENCH_POSTGRES_URL or "
                             "postgresql://postgres@127.0.0.1:5432/postgres)")
    parser.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto",
                        help="auto (default): wrk when installed, else a Python asyncio loop")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as markdown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs)")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.threads < 1:
        parser.error("--duration, --connections and --threads must be >= 1, --warmup >= 0")
    run = run_all(args)
    print(text_table(run))
    if args.markdown:
        args.markdown.write_text(markdown(run), encoding="utf-8")
        print(f"markdown written to {args.markdown}", file=sys.stderr)
    return 0 if run.results and all(r.rps is not None for r in run.results) else 1


if __name__ == "__main__":
    sys.exit(main())
