"""Run the real ``cityai`` command line and server as subprocesses, for end-to-end tests.

A plain module (not a fixture file) so that the browser, offline, CLI and hooks tests, and the
offline probe script that runs inside a network namespace, share one implementation:

* :func:`cityai_cmd` - the installed ``cityai`` console script (``python -m cityai`` as a fallback);
* :func:`cityai_env` - a clean environment: no inherited ``CITYAI_*`` variables, a given home;
* :func:`run_cli` - run one command and capture its output;
* :func:`free_port` - a port the kernel just handed out (bind port 0);
* :class:`Server` - ``cityai serve`` on 127.0.0.1, started, waited for (``/healthz``) and stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

SECRET_KEY = "serverproc-test-secret-key-0123456789"
ADMIN_EMAIL = "quantri@cityai.test"
ADMIN_PASSWORD = "Mat-khau-Manh-2025"
START_TIMEOUT = 30.0


def cityai_cmd() -> list[str]:
    script = Path(sys.executable).parent / "cityai"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "cityai"]


def cityai_env(home: Path | str, **extra: str) -> dict[str, str]:
    """The environment for a subprocess: this one without CITYAI_* settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYAI_")}
    env.update({
        "CITYAI_HOME": str(home),
        "CITYAI_SECRET_KEY": SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # the demo's own small knowledge base, not the shared national one (seconds, not a minute)
        "CITYAI_ASSISTANT_DEMO_DATA": "builtin",
    })
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], *, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cityai_cmd() + list(args), env=env, capture_output=True, text=True, timeout=timeout,
                          input=input, stdin=None if input is not None else subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HTTPResult:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10, json_body: Any = None) -> HTTPResult:
    """One HTTP request with the standard library (no redirects followed; errors are results too)."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    if json_body is not None:
        body = json.dumps(json_body).encode()
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if json_body is not None:
        req.add_header("Content-Type", "application/json")
    elif body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return HTTPResult(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return HTTPResult(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


class ServerError(RuntimeError):
    pass


class Server:
    """``cityai serve`` as a subprocess. Use as a context manager, or call start()/stop()."""

    def __init__(self, home: Path, *, env_extra: dict[str, str] | None = None, args: list[str] | None = None,
                 admin: tuple[str, str] | None = (ADMIN_EMAIL, ADMIN_PASSWORD)) -> None:
        self.home = Path(home)
        self.env = cityai_env(self.home, **(env_extra or {}))
        self.args = list(args or [])
        self.admin = admin
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.home / "server.log"
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> Server:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.admin:
            r = run_cli(["create-admin", "--email", self.admin[0], "--password", self.admin[1]], self.env)
            if r.returncode != 0:
                raise ServerError(f"create-admin failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        # Another process may take the free port between our probe and the server's bind: try again.
        for _attempt in range(3):
            self.port = free_port()
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                cityai_cmd() + ["serve", "--host", "127.0.0.1", "--port", str(self.port)] + self.args,
                env=self.env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            if self._wait_healthy():
                return self
            in_use = "address already in use" in self.log().lower()
            self.stop()
            if not in_use:
                break
        raise ServerError(f"cityai serve did not become healthy within {START_TIMEOUT:.0f} s; log:\n"
                          + self.log()[-4000:])

    def _wait_healthy(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if http("GET", self.url + "/healthz", timeout=2).status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------ helpers

    def get(self, path: str, **kw: Any) -> HTTPResult:
        return http("GET", self.url + path, **kw)

    def post(self, path: str, **kw: Any) -> HTTPResult:
        return http("POST", self.url + path, **kw)

    def token(self, email: str, password: str) -> HTTPResult:
        return self.post("/api/v1/auth/token", data={"username": email, "password": password})

    def bearer(self, email: str, password: str) -> dict[str, str]:
        r = self.token(email, password)
        if r.status != 200:
            raise AssertionError(f"login as {email} failed: {r.status} {r.text}")
        return {"Authorization": "Bearer " + r.json()["access_token"]}
