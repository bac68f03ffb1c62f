"""The server starts and serves with the network disabled.

tests/offline_probe.py runs in a fresh network namespace whose only interface is loopback
(``unshare -rn``): it first shows that the Internet and DNS are unreachable from there, then runs
``cityai create-admin`` and ``cityai serve`` and uses the web UI, API docs (Swagger UI is vendored)
and the API. Nothing the platform needs at run time may come from the network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import ADMIN_EMAIL

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "offline_probe.py"


def _namespace_unavailable() -> str | None:
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    try:
        r = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`unshare -rn true` could not run: {exc}"
    if r.returncode != 0:
        return ("`unshare -rn true` failed on this machine (unprivileged user and network namespaces are "
                f"disabled?): {r.stderr.strip()[:300]}")
    return None


@pytest.fixture(scope="module")
def offline_result(tmp_path_factory) -> dict:
    if reason := _namespace_unavailable():
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("offline-home")
    r = subprocess.run(
        ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
         sys.executable, str(PROBE), "--home", str(home)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert r.returncode == 0, (f"probe exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\n"
                               f"stderr:\n{r.stderr[-3000:]}")
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from the probe\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert "error" not in result, result["error"]
    return result


def test_the_namespace_has_no_network(offline_result):
    assert offline_result["interfaces"] == ["lo"]
    assert offline_result["tcp_public"]["ok"] is False, offline_result["tcp_public"]
    assert offline_result["dns_public"]["ok"] is False, offline_result["dns_public"]


def test_server_is_healthy_and_ready_offline(offline_result):
    pages = offline_result["pages"]
    assert pages["/healthz"]["status"] == 200
    assert pages["/healthz"]["json"] == {"status": "ok"}
    ready = pages["/readyz"]
    assert ready["status"] == 200, ready
    assert ready["json"]["status"] == "ready"
    assert set(ready["json"]["checks"]) >= {"database", "migrations", "storage", "queue"}
    assert all(v == "ok" for v in ready["json"]["checks"].values()), ready["json"]["checks"]


def test_web_ui_and_api_docs_load_without_network(offline_result):
    pages = offline_result["pages"]
    home = pages["/"]
    assert home["status"] == 200 and home["content_type"].startswith("text/html")
    assert home["html_lang"] == "vi"
    assert home["external_refs"] == [], "the home page loads files from elsewhere"

    docs = pages["/api/docs"]
    assert docs["status"] == 200
    assert docs["external_refs"] == [], "the API docs load files from elsewhere (a CDN?)"
    js = docs["assets"].get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert js is not None, f"the docs page does not use the vendored Swagger UI: {sorted(docs['assets'])}"
    assert js["status"] == 200 and js["bytes"] > 100_000 and "javascript" in js["content_type"], js
    assert all(a["status"] == 200 for a in docs["assets"].values()), docs["assets"]
    assert pages["/openapi.json"]["status"] == 200


def test_api_login_and_me_offline(offline_result):
    assert offline_result["login"]["status"] == 200
    me = offline_result["me"]
    assert me["status"] == 200, me
    assert me["json"]["email"] == ADMIN_EMAIL
    assert me["json"]["is_sysadmin"] is True


def test_language_services_answer_offline(offline_result):
    lang = offline_result["language"]
    assert all(v["status"] == 200 for v in lang.values()), lang
    assert "Ủy ban nhân dân" in " ".join(lang["segment"]["json"]["tokens"])
    assert len(lang["segment"]["json"]["tags"]) == len(lang["segment"]["json"]["tokens"])
    assert {e["text"] for e in lang["ner"]["json"]["entities"]} >= {"140/KH-UBND"}
    assert len(lang["summarize"]["json"]["sentences"]) == 1
    assert len(lang["embed"]["json"]["vectors"][0]) == 384


def test_the_assistant_answers_offline(offline_result):
    a = offline_result["assistant"]
    assert (a["agency"], a["import"], a["ask"]) == (201, 200, 200), a
    assert a["json"]["status"] == "answered" and "Giấy chứng sinh" in a["json"]["answer"]
    assert a["json"]["citations"][0]["source_id"] == "DEMO-HT-01"


def test_sensing_ingests_and_forecasts_offline(offline_result):
    s = offline_result["sensing"]
    assert s["device"] == 201, s
    assert s["ingest"]["accepted"] == 72 and s["ingest"]["rejected"] == [], s["ingest"]
    # the last 6 hours, end exclusive: 6 hourly values
    assert len(s["temporal"]["pm25"]) == 6, s["temporal"]
    fc = s["forecast"]
    assert isinstance(fc, dict) and len(fc["points"]) == 3 and fc["method"], fc
    assert all(p["lower"] <= p["value"] <= p["upper"] for p in fc["points"])
