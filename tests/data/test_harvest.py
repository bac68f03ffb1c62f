"""Harvesting from another CKAN-compatible portal: a real second CityAI (``cityai serve``) is the remote.

The remote server (one for the module, on SQLite) gets an agency, an editor and datasets through its
own API; each test makes datasets with a tag of its own and harvests with ``fq=tags:<tag>``, so the
tests stay independent. The platform under test runs on SQLite and PostgreSQL (the ``platform``
fixture); jobs are run in-process with ``jobs.execute``. A tiny stdlib HTTP server plays the odd
portals (not CKAN, broken datasets, no package_search).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from cityai.core import authz, jobs
from cityai.core.context import Actor
from cityai.core.db import utcnow
from cityai.core.errors import Problem
from cityai.core.hooks import hookimpl
from cityai.core.models import AuditEntry, Job, User
from cityai.data import catalog, dcat, harvest  # noqa: F401  (register the operations)
from cityai.data.models import Dataset, HarvestRun, HarvestSource
from tests.conftest import login
from tests.serverproc import ADMIN_EMAIL, ADMIN_PASSWORD, Server, free_port

PASSWORD = "Mat-khau-Manh-2025"


# ------------------------------------------------------------------ the remote CityAI


class Remote:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.url = server.url
        self.admin = self._token(ADMIN_EMAIL, ADMIN_PASSWORD)
        uid = uuid.uuid4().hex[:6]
        org = self.api("POST", "/api/v1/agencies", json={"code": f"stnmt{uid}", "name": "Sở TN&MT nguồn",
                                                          "kind": "department"})
        self.org, self.org_id = org["code"], org["id"]
        email = f"editor.{uid}@nguon.local"
        self.api("POST", "/api/v1/users", json={"email": email, "full_name": "Biên tập", "password": PASSWORD,
                                                "agency_id": org["id"], "role": "editor"})
        self.editor = self._token(email, PASSWORD)

    def _token(self, email: str, password: str) -> str:
        r = requests.post(self.url + "/api/v1/auth/token", data={"username": email, "password": password}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        r = requests.request(method, self.url + path, headers={"Authorization": f"Bearer {token or self.admin}"},
                             timeout=30, **kw)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json() if r.content else None

    def ckan(self, action: str, **data: Any) -> Any:
        r = requests.post(f"{self.url}/api/3/action/{action}", json=data,
                          headers={"Authorization": self.editor}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["result"]

    def dataset(self, name: str, tag: str, **fields: Any) -> dict:
        data = {"name": name, "title": f"Tiêu đề {name}", "owner_org": self.org, "private": False,
                "tags": [{"name": tag}]}
        data.update(fields)
        return self.ckan("package_create", **data)


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> Iterator[Remote]:
    env = {"CITYAI_ARGON2_TIME_COST": "1", "CITYAI_ARGON2_MEMORY_KIB": "1024", "CITYAI_LOG_LEVEL": "WARNING"}
    with Server(tmp_path_factory.mktemp("harvest-remote"), env_extra=env) as server:
        yield Remote(server)


def _tag() -> str:
    return f"thu{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ a fake portal for odd answers


class FakePortal:
    """Answers ``/api/3/action/<name>`` from ``routes``: name -> (status, body bytes or JSON-able).

    ``redirects``: name -> a URL the request is sent on to (302, with the request's query string).
    """

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any]] = {}
        self.redirects: dict[str, str] = {}
        self.calls: list[tuple[str, dict]] = []
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                name = parts.path.rsplit("/", 1)[-1]
                portal.calls.append((name, {k: v[0] for k, v in parse_qs(parts.query).items()}))
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if name in portal.redirects:
                    self.send_response(302)
                    query_string = "?" + parts.query if parts.query else ""
                    self.send_header("Location", portal.redirects[name] + query_string)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body = portal.routes.get(name, (404, b"<html>Not here</html>"))
                if callable(body):
                    body = body(query)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake() -> Iterator[FakePortal]:
    portal = FakePortal()
    yield portal
    portal.close()


def ok(result: Any) -> tuple[int, dict]:
    return 200, {"help": "", "success": True, "result": result}


# ------------------------------------------------------------------ helpers


def actor_for(platform, email: str | None) -> Actor:
    if email is None:
        return Actor.anonymous()
    with platform.transaction() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
        return Actor.for_user(user, kind="web")


def make_source(platform, users, url: str, *, name: str = "nguon", **kw: Any) -> str:
    with platform.system_context() as ctx:
        return harvest.harvest_source_create(ctx, name=name, url=url, owner_id=users.dept, **kw).id


def run_now(platform, source_id: str, email: str | None = None) -> dict:
    """Submit a run as ``email`` (the system when None), execute its job here, return the run."""
    actor = actor_for(platform, email) if email else Actor.system()
    with platform.unit_of_work(actor) as ctx:
        run = harvest.harvest_run(ctx, source_id=source_id)
        run_id, job_id = run.id, run.job_id
    jobs.execute(platform, job_id)
    with platform.system_context(write=False) as ctx:
        return harvest.run_to_dict(harvest.harvest_run_show(ctx, run_id=run_id))


def local(platform, name: str) -> Dataset | None:
    with platform.transaction() as db:
        ds = db.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
        if ds is not None:
            ds.resources  # noqa: B018 - load them before the session ends
            db.expunge_all()
        return ds


def job(platform, job_id: str) -> Job:
    with platform.transaction() as db:
        return db.get(Job, job_id)


def audit_actions(platform, **where: Any) -> list[str]:
    with platform.transaction() as db:
        q = select(AuditEntry.action)
        for k, v in where.items():
            q = q.where(getattr(AuditEntry, k) == v)
        return list(db.execute(q.order_by(AuditEntry.seq)).scalars())


# ------------------------------------------------------------------ harvesting a real CityAI


def test_harvest_creates_datasets_resources_and_extras(platform, client, users, remote):
    tag = _tag()
    a = remote.dataset(f"a-{tag}", tag, title="Quan trắc không khí", title_en="Air monitoring",
                       notes="Số liệu\nhằng ngày", license_id="cc-by", frequency="daily", spatial=["26734"],
                       temporal_start="2025-01-01", extras=[{"key": "nguon_goc", "value": "trạm đo"}],
                       resources=[{"name": "CSV", "url": "https://example.org/a.csv", "format": "csv"},
                                  {"name": "API", "url": "https://example.org/api", "format": "api"}])
    remote.dataset(f"b-{tag}", tag)
    remote.dataset(f"c-{tag}", tag, private=True)  # private on the remote: never harvested
    remote.dataset(f"d-{tag}", tag, private=True, visibility="shared")  # shared between agencies there: not public either

    headers = login(client, users.admin)
    r = client.post("/api/v1/data/harvest/sources", headers=headers, json={
        "name": "stnmt", "title": "Cổng STNMT", "url": remote.url + "/api/3/action/", "owner_id": users.dept,
        "filter_fq": f"tags:{tag}"})
    assert r.status_code == 201, r.text
    src = r.json()
    assert src["url"] == remote.url and src["visibility"] == "public" and src["interval_minutes"] is None

    r = client.post("/api/v1/data/harvest/sources/stnmt/check", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["datasets"] == 2 and r.json()["ckan_version"] == "2.10.4"

    r = client.post("/api/v1/data/harvest/sources/stnmt/runs", headers=headers)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status"] == "queued" and queued["job_id"]
    r = client.post("/api/v1/data/harvest/sources/stnmt/runs", headers=headers)
    assert r.status_code == 409 and r.json()["run_id"] == queued["id"]  # one run at a time
    jobs.execute(platform, queued["job_id"])

    r = client.get(f"/api/v1/data/harvest/runs/{queued['id']}", headers=headers)
    run = r.json()
    assert run["status"] == "succeeded", run
    assert (run["created"], run["updated"], run["deleted"], run["errors"]) == (2, 0, 0, 0)
    assert sorted(d["name"] for d in run["details"]) == [f"stnmt-a-{tag}", f"stnmt-b-{tag}"]
    done = job(platform, queued["job_id"])
    assert done.status == "succeeded" and done.result["created"] == 2 and done.progress == 100.0

    ds = local(platform, f"stnmt-a-{tag}")
    assert ds is not None and ds.owner_id == users.dept and ds.visibility == "public"
    assert (ds.title, ds.title_en, ds.notes) == ("Quan trắc không khí", "Air monitoring", "Số liệu\nhằng ngày")
    assert (ds.license_id, ds.frequency, ds.spatial, ds.temporal_start) == ("cc-by", "daily", ["26734"],
                                                                            "2025-01-01")
    assert ds.tags == [tag]
    assert ds.extras["harvest_source_id"] == src["id"] and ds.extras["harvest_remote_id"] == a["id"]
    assert ds.extras["harvest_remote_url"] == f"{remote.url}/dataset/a-{tag}"
    assert ds.extras["harvest_remote_name"] == f"a-{tag}" and ds.extras["nguon_goc"] == "trạm đo"
    assert [(x.name, x.url, x.format) for x in ds.resources] == [("CSV", "https://example.org/a.csv", "csv"),
                                                                  ("API", "https://example.org/api", "api")]
    assert local(platform, f"stnmt-c-{tag}") is None and local(platform, f"stnmt-d-{tag}") is None
    # harvested datasets are ordinary catalog datasets: searchable, in the CKAN API and the DCAT catalogue
    assert client.get(f"/api/3/action/package_show?id=stnmt-a-{tag}").json()["result"]["title"] == \
        "Quan trắc không khí"
    assert f"stnmt-b-{tag}" in client.get("/catalog.ttl").text

    source = client.get("/api/v1/data/harvest/sources/stnmt", headers=headers).json()
    assert source["last_status"] == "succeeded" and source["last_run"]["created"] == 2
    runs = client.get("/api/v1/data/harvest/sources/stnmt/runs", headers=headers).json()
    assert runs["total"] == 1 and runs["items"][0]["id"] == queued["id"]

    admin_id = users.ids[users.admin]
    with platform.transaction() as db:
        entries = db.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        mine = [(e.action, e.actor_id) for e in entries if e.action.startswith(("harvest.", "dataset.create"))]
    assert ("harvest.source_create", admin_id) in mine and ("harvest.run", admin_id) in mine
    assert ("harvest.run_finish", admin_id) in mine
    assert mine.count(("dataset.create", admin_id)) == 2  # the job acts as the user who started it
    assert "harvest.source_check" in [a for a, _ in mine]


def test_reharvest_updates_withdraws_and_restores(platform, users, remote):
    tag = _tag()
    a = remote.dataset(f"a-{tag}", tag, resources=[{"name": "v1", "url": "https://example.org/v1.csv"}])
    b = remote.dataset(f"b-{tag}", tag)
    remote.dataset(f"c-{tag}", tag, private=True)
    sid = make_source(platform, users, remote.url, name="so", filter_fq=f"tags:{tag}", visibility="shared")
    first = run_now(platform, sid, users.editor)
    assert (first["created"], first["errors"]) == (2, 0), first
    assert local(platform, f"so-a-{tag}").visibility == "shared"
    kept_resource = local(platform, f"so-a-{tag}").resources[0].id

    again = run_now(platform, sid)
    assert (again["created"], again["updated"], again["unchanged"], again["deleted"]) == (0, 0, 2, 0), again

    # remote changes: a is edited (title, a second resource), b is made private, c is made public
    remote.ckan("package_patch", id=a["id"], title="Tiêu đề mới",
                resources=[{"id": a["resources"][0]["id"], "name": "v1", "url": "https://example.org/v1.csv"},
                           {"name": "v2", "url": "https://example.org/v2.json", "format": "json"}])
    remote.ckan("package_patch", id=b["id"], private=True)
    remote.ckan("package_patch", id=f"c-{tag}", private=False)
    third = run_now(platform, sid)
    assert (third["created"], third["updated"], third["unchanged"], third["deleted"], third["errors"]) == \
        (1, 1, 0, 1, 0), third
    ds = local(platform, f"so-a-{tag}")
    assert ds.title == "Tiêu đề mới"
    assert [(r.name, r.url, r.format) for r in ds.resources] == [("v1", "https://example.org/v1.csv", None),
                                                                 ("v2", "https://example.org/v2.json", "json")]
    assert ds.resources[0].id == kept_resource  # updated in place, not replaced
    assert local(platform, f"so-b-{tag}").state == "deleted"  # withdrawn
    assert local(platform, f"so-c-{tag}").state == "active"
    assert {d["action"] for d in third["details"]} == {"created", "updated", "deleted"}

    # b is public again on the remote portal: the withdrawn local dataset is restored, not duplicated
    remote.ckan("package_patch", id=b["id"], private=False, title="Trở lại")
    fourth = run_now(platform, sid)
    assert (fourth["created"], fourth["updated"], fourth["unchanged"], fourth["deleted"]) == (0, 1, 2, 0), fourth
    back = local(platform, f"so-b-{tag}")
    assert back.state == "active" and back.title == "Trở lại"
    assert back.extras["harvest_remote_id"] == b["id"]
    actions = audit_actions(platform)
    assert {"dataset.delete", "dataset.update", "resource.create", "harvest.dataset_restore"} <= set(actions)


def test_local_names_never_collide(platform, users, remote):
    tag = _tag()
    remote.dataset(f"x-{tag}", tag, title="Từ xa")
    with platform.system_context() as ctx:  # a local dataset already has the name the harvest would use
        catalog.dataset_create(ctx, name=f"ns-x-{tag}", owner_id=users.dept, title="Của địa phương")
    sid = make_source(platform, users, remote.url, name="ns", filter_fq=f"tags:{tag}")
    run = run_now(platform, sid)
    assert run["created"] == 1, run
    name = run["details"][0]["name"]
    assert name != f"ns-x-{tag}" and name.startswith(f"ns-x-{tag}-")
    assert local(platform, f"ns-x-{tag}").title == "Của địa phương"  # untouched
    assert local(platform, name).title == "Từ xa"
    assert run_now(platform, sid)["unchanged"] == 1  # found again by its remote id


def test_unreachable_portal_is_a_recorded_failure(platform, client, users):
    url = f"http://127.0.0.1:{free_port()}"
    sid = make_source(platform, users, url, name="mat-ket-noi")
    run = run_now(platform, sid, users.admin)
    assert run["status"] == "failed" and "harvest-unreachable" in run["error"], run
    assert run["created"] == 0 and run["deleted"] == 0
    assert job(platform, run["job_id"]).status == "failed"
    assert "harvest-unreachable" in job(platform, run["job_id"]).error
    r = client.post(f"/api/v1/data/harvest/sources/{sid}/check", headers=login(client, users.admin))
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["type"] == "/problems/harvest-unreachable" and url in body["en"]["detail"]
    assert body["vi"]["title"] == "Không kết nối được cổng dữ liệu nguồn"
    with platform.transaction() as db:
        src = db.get(HarvestSource, sid)
        assert src.last_status == "failed"
    assert "harvest.run_finish" in audit_actions(platform, outcome="error")


def test_non_ckan_answers_are_clear_errors(platform, client, users, remote, fake):
    headers = login(client, users.admin)
    # a CityAI URL that is not the portal's root: JSON problem details, not CKAN's envelope
    sid = make_source(platform, users, remote.url + "/api/v1", name="sai-duong-dan")
    r = client.post(f"/api/v1/data/harvest/sources/{sid}/check", headers=headers)
    assert r.status_code == 502 and r.json()["type"] == "/problems/harvest-not-ckan", r.text
    run = run_now(platform, sid)
    assert run["status"] == "failed" and "harvest-not-ckan" in run["error"]

    # an HTML page, and JSON of another shape
    fake.routes["package_search"] = (200, "<html><body>Trang chủ</body></html>".encode())
    sid2 = make_source(platform, users, fake.url, name="trang-html")
    r = client.post(f"/api/v1/data/harvest/sources/{sid2}/check", headers=headers)
    assert r.status_code == 502 and "JSON" in r.json()["en"]["detail"]
    fake.routes["package_search"] = (200, {"items": []})
    r = client.post(f"/api/v1/data/harvest/sources/{sid2}/check", headers=headers)
    assert r.status_code == 502 and "envelope" in r.json()["en"]["detail"]
    fake.routes["package_search"] = ok({"count": "many"})
    assert run_now(platform, sid2)["status"] == "failed"


def test_one_bad_remote_dataset_does_not_stop_the_run(platform, users, fake):
    good = {"id": "g1", "name": "tot", "title": "Tốt", "tags": [{"name": "a"}],
            "resources": [{"name": "r", "url": "https://example.org/r.csv", "format": "CSV"},
                          {"name": "bad link", "url": "javascript:alert(1)"}]}
    bad = {"id": "b1", "name": "hong", "title": "Hỏng", "tags": 5}  # tags that are not a list
    nameless = {"id": "n1", "title": "Không tên"}
    private = {"id": "p1", "name": "rieng", "private": True}
    fake.routes["package_search"] = ok({"count": 4, "results": [good, bad, nameless, private]})
    sid = make_source(platform, users, fake.url, name="gia")
    run = run_now(platform, sid)
    assert run["status"] == "succeeded", run
    assert (run["created"], run["errors"]) == (1, 2)
    errors = {d["remote"]: d["error"] for d in run["details"] if d["action"] == "error"}
    assert set(errors) == {"b1", "n1"} and "TypeError" in errors["b1"]
    ds = local(platform, "gia-tot")
    assert [(r.url, r.format) for r in ds.resources] == [("https://example.org/r.csv", "csv"), (None, None)]
    assert local(platform, "gia-rieng") is None
    search = [c for c in fake.calls if c[0] == "package_search"]
    assert search[0][1]["rows"] == str(harvest.PAGE_ROWS) and search[0][1]["start"] == "0"


def test_portal_without_package_search_uses_package_list(platform, users, fake):
    fake.routes["package_search"] = (400, {"success": False, "error": {
        "__type": "Bad Request", "message": "Bad request - Action name not known: package_search"}})
    fake.routes["package_list"] = ok(["mot", "hai"])
    orgs = {"mot": "so-a", "hai": "so-b"}
    fake.routes["package_show"] = (200, lambda q: {"success": True, "result": {
        "id": f"id-{q['id']}", "name": q["id"], "title": q["id"].title(), "organization": {"name": orgs[q["id"]]}}})
    sid = make_source(platform, users, fake.url, name="cu", filter_organization="so-a")
    run = run_now(platform, sid)
    assert run["status"] == "succeeded" and run["created"] == 1, run  # "hai" belongs to another organization
    assert local(platform, "cu-mot").title == "Mot" and local(platform, "cu-hai") is None
    assert [c[0] for c in fake.calls] == ["package_search", "package_list", "package_show", "package_show"]


# ------------------------------------------------------------------ allowed hosts (SSRF)


def fake_dns(table: dict[str, list[str]]):
    """A resolver for HostAllowList.allows: names in ``table`` resolve to its addresses, others to nothing."""
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        return table.get(host, [])

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


def test_allow_list_names_suffixes_and_ranges():
    allow = harvest.HostAllowList.parse
    no_dns = fake_dns({})
    # empty: anything goes (and nothing is resolved)
    for spec in ("", " , ", None):
        assert allow(spec).allows_any and allow(spec).allows("10.0.0.1", no_dns) and allow(spec).allows("x", no_dns)
    assert no_dns.asked == []

    hosts = allow(" Data.HoChiMinhCity.gov.vn , *.tphcm.gov.vn,*.Example.ORG. ")
    assert not hosts.allows_any
    assert hosts.allows("data.hochiminhcity.gov.vn", no_dns) and hosts.allows("DATA.hochiminhcity.gov.vn.", no_dns)
    assert not hosts.allows("hochiminhcity.gov.vn", no_dns) and not hosts.allows("x.data.hochiminhcity.gov.vn",
                                                                               no_dns)
    assert hosts.allows("opendata.tphcm.gov.vn", no_dns) and hosts.allows("a.b.tphcm.gov.vn", no_dns)
    assert hosts.allows("portal.example.org", no_dns)
    assert not hosts.allows("tphcm.gov.vn", no_dns)  # *.suffix is the subdomains, not the suffix itself
    assert not hosts.allows("eviltphcm.gov.vn", no_dns) and not hosts.allows("tphcm.gov.vn.evil.com", no_dns)
    assert not hosts.allows("127.0.0.1", no_dns) and not hosts.allows("", no_dns) and not hosts.allows(None, no_dns)
    assert no_dns.asked == []  # no ranges listed: names are never resolved

    ranges = allow("10.0.0.0/8, 127.0.0.1, 2001:db8::/32, [::1]")
    assert [str(n) for n in ranges.networks] == ["10.0.0.0/8", "127.0.0.1/32", "2001:db8::/32", "::1/128"]
    assert ranges.allows("10.20.30.40", no_dns) and ranges.allows("127.0.0.1", no_dns)
    assert not ranges.allows("127.0.0.2", no_dns) and not ranges.allows("169.254.169.254", no_dns)
    assert ranges.allows("2001:db8::5", no_dns) and ranges.allows("[::1]", no_dns)
    assert not ranges.allows("2001:db9::1", no_dns)
    assert ranges.allows("::ffff:10.1.2.3", no_dns)  # an IPv4-mapped address is its IPv4 address
    assert not ranges.allows("::ffff:192.168.1.1", no_dns)
    assert no_dns.asked == []  # IP addresses are not resolved
    dns = fake_dns({"portal.noibo": ["10.1.1.1", "10.2.2.2"], "lan.noibo": ["10.1.1.1", "192.168.1.1"],
                    "v6.noibo": ["2001:db8::1", "10.9.9.9"], "localhost": ["127.0.0.1", "::1"]})
    assert ranges.allows("portal.noibo", dns)  # every address in a range
    assert ranges.allows("PORTAL.noibo.", dns) and "portal.noibo" in dns.asked
    assert not ranges.allows("lan.noibo", dns)  # one address outside: refused
    assert ranges.allows("v6.noibo", dns) and ranges.allows("localhost", dns)
    assert not ranges.allows("khong-phan-giai.noibo", dns)  # does not resolve: refused
    assert not allow("127.0.0.1").allows("localhost", dns)  # ::1 is not 127.0.0.1

    both = allow("*.gov.vn, 10.0.0.0/8")
    dns = fake_dns({"portal.noibo": ["10.0.0.7"]})
    assert both.allows("data.tphcm.gov.vn", dns) and dns.asked == []  # a name match needs no lookup
    assert both.allows("portal.noibo", dns) and not both.allows("example.org", dns)

    # invalid entries are ignored (the list only gets narrower), IDN names compare in their xn-- form
    odd = allow("10.0.0.0/33, *.*.vn, http://x/y, *., dữliệu.vn")
    ascii_name = "dữliệu.vn".encode("idna").decode()
    assert ascii_name.startswith("xn--")
    assert odd.networks == () and odd.suffixes == () and odd.names == {ascii_name}
    assert odd.allows("dữliệu.vn", no_dns) and odd.allows(ascii_name.upper(), no_dns)
    assert not odd.allows("10.0.0.1", no_dns)


def test_allow_list_is_read_from_the_settings(platform, monkeypatch):
    assert harvest.allowed_hosts(platform).allows_any  # default: empty
    monkeypatch.setattr(platform.settings, "harvest_allowed_hosts", "*.gov.vn,10.0.0.0/8")
    hosts = harvest.allowed_hosts(platform)
    assert hosts.suffixes == ("gov.vn",) and [str(n) for n in hosts.networks] == ["10.0.0.0/8"]
    from cityai.core.config import Settings

    monkeypatch.setenv("CITYAI_HARVEST_ALLOWED_HOSTS", "data.tphcm.gov.vn, 127.0.0.0/8")
    env = Settings(home=platform.settings.home)
    assert harvest.HostAllowList.parse(env.harvest_allowed_hosts).names == {"data.tphcm.gov.vn"}


def test_source_urls_outside_the_allowed_hosts_are_refused(platform, client, users, monkeypatch):
    monkeypatch.setattr(harvest, "resolve_host", fake_dns({"metadata.google.internal": ["169.254.169.254"],
                                                           "localhost": ["127.0.0.1"]}))
    monkeypatch.setattr(platform.settings, "harvest_allowed_hosts",
                        "*.tphcm.gov.vn, data.hochiminhcity.gov.vn, 127.0.0.0/8")
    admin = login(client, users.admin)
    body = {"name": "ngoai", "url": "http://169.254.169.254/latest/meta-data", "owner_id": users.dept}
    for url in ("http://169.254.169.254/latest/meta-data", "https://tphcm.gov.vn", "http://10.0.0.5:8080",
                "https://data.example.org/api/3/action", "http://[::1]:8000", "http://0x7f.evil.example"):
        r = client.post("/api/v1/data/harvest/sources", json={**body, "url": url}, headers=admin)
        assert r.status_code == 422, (url, r.text)
        problem = r.json()
        assert problem["type"] == "/problems/validation-error" and problem["field"] == "url", problem
        assert "CITYAI_HARVEST_ALLOWED_HOSTS" in problem["en"]["detail"]
        assert "không nằm trong danh sách máy chủ được phép" in problem["vi"]["detail"]
    assert client.get("/api/v1/data/harvest/sources", headers=admin).json()["total"] == 0
    with pytest.raises(Problem) as err, platform.system_context() as ctx:  # the system is held to it too
        harvest.harvest_source_create(ctx, name="he-thong", url="http://metadata.google.internal",
                                      owner_id=users.dept)
    assert err.value.status == 422 and err.value.extra["field"] == "url"

    # allowed: an exact name, a subdomain of *.tphcm.gov.vn, an address in 127.0.0.0/8
    for name, url in (("chinh-xac", "https://DATA.hochiminhcity.gov.vn"),
                      ("ten-mien", "https://opendata.tphcm.gov.vn/api/3"), ("ten-may", "http://localhost:5000"),
                      ("dai-ip", "http://127.0.0.9:5000")):
        r = client.post("/api/v1/data/harvest/sources", json={**body, "name": name, "url": url}, headers=admin)
        assert r.status_code == 201, (url, r.text)
    sid = r.json()["id"]

    # changing the URL is checked the same way; other changes are not re-checked
    r = client.patch(f"/api/v1/data/harvest/sources/{sid}", json={"url": "http://192.168.1.10"}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "url"
    r = client.patch(f"/api/v1/data/harvest/sources/{sid}", json={"url": "https://moi.tphcm.gov.vn"}, headers=admin)
    assert r.status_code == 200 and r.json()["url"] == "https://moi.tphcm.gov.vn"
    monkeypatch.setattr(platform.settings, "harvest_allowed_hosts", "*.other.vn")
    r = client.patch(f"/api/v1/data/harvest/sources/{sid}", json={"title": "Đổi tên"}, headers=admin)
    assert r.status_code == 200 and r.json()["url"] == "https://moi.tphcm.gov.vn"
    with platform.transaction() as db:
        refused = db.execute(select(AuditEntry.action).where(AuditEntry.action == "harvest.source_create",
                                                             AuditEntry.outcome == "success")).scalars().all()
    assert len(refused) == 4  # only the allowed ones were created


def test_redirects_to_a_host_not_allowed_are_refused(platform, client, users, fake, monkeypatch):
    monkeypatch.setattr(platform.settings, "harvest_allowed_hosts", "127.0.0.1")
    sid = make_source(platform, users, fake.url, name="chuyen-huong")
    # a redirect within the allowed hosts is followed as before
    fake.redirects["package_search"] = f"{fake.url}/moi/api/3/action/package_search_v2"
    fake.routes["package_search_v2"] = ok({"count": 1, "results": [{"id": "1", "name": "mot", "title": "Một"}]})
    run = run_now(platform, sid)
    assert run["status"] == "succeeded" and run["created"] == 1, run
    assert [c[0] for c in fake.calls] == ["package_search", "package_search_v2"]
    assert fake.calls[1][1]["rows"] == str(harvest.PAGE_ROWS)

    # a redirect to the cloud metadata address: refused before anything is sent there
    fake.calls.clear()
    fake.redirects["package_search"] = "http://169.254.169.254/latest/meta-data/api/3/action/package_search"
    headers = login(client, users.admin)
    r = client.post(f"/api/v1/data/harvest/sources/{sid}/check", headers=headers)
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["type"] == "/problems/harvest-host-not-allowed", body
    assert body["en"]["title"] == "Harvest host not allowed"
    assert "169.254.169.254" in body["en"]["detail"] and f"redirect from {fake.url}" in body["en"]["detail"]
    assert "169.254.169.254" in body["vi"]["detail"] and "chuyển hướng" in body["vi"]["detail"]
    run = run_now(platform, sid)
    assert run["status"] == "failed" and "harvest-host-not-allowed" in run["error"], run
    assert (run["created"], run["deleted"]) == (0, 0)  # nothing withdrawn
    assert local(platform, "chuyen-huong-mot").state == "active"
    assert job(platform, run["job_id"]).status == "failed"
    assert "harvest-host-not-allowed" in job(platform, run["job_id"]).error
    assert [c[0] for c in fake.calls] == ["package_search", "package_search"]  # only the allowed host was asked
    with platform.transaction() as db:
        check = db.execute(select(AuditEntry).where(AuditEntry.action == "harvest.source_check")).scalar_one()
    assert check.outcome == "error" and "harvest-host-not-allowed" in check.detail

    # a redirect to a name: resolved, and refused when an address is outside the ranges (or none is found)
    dns = fake_dns({"metadata.google.internal": ["169.254.169.254"]})
    monkeypatch.setattr(harvest, "resolve_host", dns)
    for target in ("http://metadata.google.internal/computeMetadata/v1", "http://khong-co.noibo/"):
        fake.redirects["package_search"] = target
        r = client.post(f"/api/v1/data/harvest/sources/{sid}/check", headers=headers)
        assert r.status_code == 502 and r.json()["type"] == "/problems/harvest-host-not-allowed", r.text
    assert dns.asked == ["metadata.google.internal", "khong-co.noibo"]


def test_a_source_whose_host_is_no_longer_allowed_is_not_fetched(platform, client, users, fake, monkeypatch):
    fake.routes["package_search"] = ok({"count": 0, "results": []})
    sid = make_source(platform, users, fake.url, name="cu-cho-phep")  # allowed then: the list was empty
    monkeypatch.setattr(platform.settings, "harvest_allowed_hosts", "*.tphcm.gov.vn")
    run = run_now(platform, sid)
    assert run["status"] == "failed" and "harvest-host-not-allowed" in run["error"], run
    assert "127.0.0.1" in run["error"] and "redirect" not in run["error"]
    assert fake.calls == []  # nothing was sent
    r = client.post(f"/api/v1/data/harvest/sources/{sid}/check", headers=login(client, users.admin))
    assert r.status_code == 502 and r.json()["type"] == "/problems/harvest-host-not-allowed"
    # with the host allowed again (as an address range), it is fetched
    monkeypatch.setattr(platform.settings, "harvest_allowed_hosts", "*.tphcm.gov.vn, 127.0.0.0/8")
    assert run_now(platform, sid)["status"] == "succeeded" and len(fake.calls) == 1


def test_portal_checks_every_request_it_sends(fake):
    """The Portal itself, without a platform: its request hook refuses before connecting."""
    fake.routes["status_show"] = ok({"ckan_version": "2.10.4"})
    dns = fake_dns({"cong.noibo": ["10.0.0.1", "169.254.169.254"]})
    allowed = harvest.HostAllowList.parse("127.0.0.1, 10.0.0.0/8")
    with harvest.Portal(fake.url, allowed=allowed, resolve=dns) as portal:
        assert portal.call("status_show") == {"ckan_version": "2.10.4"}
        fake.redirects["status_show"] = "http://cong.noibo/api/3/action/status_show"
        with pytest.raises(harvest.HarvestError) as err:
            portal.call("status_show")
    assert err.value.code == "harvest-host-not-allowed" and "cong.noibo" in err.value.detail[1]
    assert dns.asked == ["cong.noibo"]
    fake.redirects["status_show"] = f"http://127.0.0.2:{free_port()}/api/3/action/status_show"
    with harvest.Portal(fake.url, allowed=allowed) as portal:
        with pytest.raises(harvest.HarvestError) as err:
            portal.call("status_show")
    assert err.value.code == "harvest-host-not-allowed" and "127.0.0.2" in err.value.detail[1]
    with harvest.Portal(fake.url) as portal:  # no list: every host (the default)
        with pytest.raises(harvest.HarvestError) as err:
            portal.call("status_show")
    assert err.value.code == "harvest-unreachable"  # it really tried (nothing listens there)


# ------------------------------------------------------------------ permissions


ROLES = ("anonymous", "outsider", "member", "editor", "admin", "sysadmin")
SIGNED_IN = set(ROLES) - {"anonymous"}
MEMBERS = {"member", "editor", "admin", "sysadmin"}
EDITORS = {"editor", "admin", "sysadmin"}
ADMINS = {"admin", "sysadmin"}
EXPECTED: dict[str, set[str]] = {
    "harvest.source_create": ADMINS,
    "harvest.source_update": ADMINS,
    "harvest.source_delete": ADMINS,
    "harvest.source_list": SIGNED_IN,
    "harvest.source_show": MEMBERS,
    "harvest.source_check": EDITORS,
    "harvest.run": EDITORS,
    "harvest.run_list": MEMBERS,
    "harvest.run_show": MEMBERS,
}


def test_every_harvest_operation_has_a_row():
    assert {n for n in authz.OPERATIONS if n.startswith("harvest.")} == set(EXPECTED)
    assert {n for n in authz.OPERATIONS if n.startswith("dcat.")} == {"dcat.catalog", "dcat.dataset"}


def test_role_operation_matrix(platform, users):
    sid = make_source(platform, users, "http://127.0.0.1:9", name="ma-tran")
    with platform.transaction(write=True) as db:
        run = HarvestRun(source_id=sid, trigger="manual", status="succeeded", created=0, updated=0, unchanged=0,
                         deleted=0, errors=0, details=[])
        db.add(run)
        db.flush()
        run_id = run.id
    args = {"harvest.source_create": {"owner_id": users.dept}, "harvest.source_list": {},
            "harvest.run_show": {"run_id": run_id}}
    emails = {"anonymous": None, "outsider": users.outsider, "member": users.member, "editor": users.editor,
              "admin": users.admin, "sysadmin": users.sysadmin}
    mismatches = {}
    for role in ROLES:
        with platform.unit_of_work(actor_for(platform, emails[role]), write=False) as ctx:
            for name, allowed in EXPECTED.items():
                got = authz.is_allowed(ctx, name, **args.get(name, {"source_id": sid}))
                if got != (role in allowed):
                    mismatches[(name, role)] = got
    assert mismatches == {}
    # the admin of the city (above the owner agency) administers its sources too; another agency's admin does not
    from cityai.core import identity

    with platform.system_context() as ctx:
        identity.user_create(ctx, email="city@test.local", full_name="City", agency_id=users.city, role="admin")
        identity.user_create(ctx, email="yte@test.local", full_name="Y tế", agency_id=users.other_dept, role="admin")
    with platform.unit_of_work(actor_for(platform, "city@test.local"), write=False) as ctx:
        assert authz.is_allowed(ctx, "harvest.source_delete", source_id=sid)
    with platform.unit_of_work(actor_for(platform, "yte@test.local"), write=False) as ctx:
        assert not authz.is_allowed(ctx, "harvest.source_update", source_id=sid)
        assert not authz.is_allowed(ctx, "harvest.source_create", owner_id=users.dept)
        assert authz.is_allowed(ctx, "harvest.source_create", owner_id=users.other_dept)


def test_http_permissions_listing_and_audit(platform, client, users):
    body = {"name": "quyen", "url": "https://portal.example.org", "owner_id": users.dept}
    assert client.post("/api/v1/data/harvest/sources", json=body).status_code == 401
    r = client.post("/api/v1/data/harvest/sources", json=body, headers=login(client, users.editor))
    assert r.status_code == 403 and r.json()["operation"] == "harvest.source_create"
    admin = login(client, users.admin)
    r = client.post("/api/v1/data/harvest/sources", json=body, headers=admin)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert client.post("/api/v1/data/harvest/sources", json=body, headers=admin).status_code == 409
    for bad in ({"url": "ftp://portal.example.org"}, {"url": "https://user:pw@portal.example.org"},
                {"url": "https://portal.example.org/?q=1"}, {"name": "Có Dấu"}, {"visibility": "secret"},
                {"interval_minutes": 1}, {"filter_organization": "Sở Y tế"}):
        r = client.post("/api/v1/data/harvest/sources", json={**body, "name": "khac", **bad}, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    assert client.post("/api/v1/data/harvest/sources", json={**body, "name": "khac", "extra": 1},
                       headers=admin).status_code == 422

    member = login(client, users.member)
    assert client.get(f"/api/v1/data/harvest/sources/{sid}", headers=member).status_code == 200
    assert client.get("/api/v1/data/harvest/sources", headers=member).json()["total"] == 1
    assert client.get("/api/v1/data/harvest/sources", headers=login(client, users.outsider)).json()["total"] == 0
    assert client.get(f"/api/v1/data/harvest/sources/{sid}", headers=login(client, users.outsider)).status_code == 403
    assert client.post(f"/api/v1/data/harvest/sources/{sid}/runs", headers=member).status_code == 403
    assert client.patch(f"/api/v1/data/harvest/sources/{sid}", json={"active": False},
                        headers=login(client, users.editor)).status_code == 403
    assert client.get("/api/v1/data/harvest/sources/khong-co", headers=member).status_code == 404

    r = client.patch(f"/api/v1/data/harvest/sources/{sid}", headers=admin,
                     json={"interval_minutes": 60, "title": "Cổng thử", "url": "https://other.example.org/api/3"})
    assert r.status_code == 200, r.text
    assert (r.json()["interval_minutes"], r.json()["url"]) == (60, "https://other.example.org")
    assert client.patch(f"/api/v1/data/harvest/sources/{sid}", headers=admin, json={"name": "x"}).status_code == 422
    assert client.patch(f"/api/v1/data/harvest/sources/{sid}", headers=admin,
                        json={"owner_id": users.other_dept}).status_code == 403  # not an admin there

    assert client.delete(f"/api/v1/data/harvest/sources/{sid}", headers=member).status_code == 403
    assert client.delete(f"/api/v1/data/harvest/sources/{sid}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/data/harvest/sources/{sid}", headers=admin).status_code == 404

    with platform.transaction() as db:
        entries = db.execute(select(AuditEntry).where(AuditEntry.action.startswith("harvest."))
                             .order_by(AuditEntry.seq)).scalars().all()
    done = [(e.action, e.outcome) for e in entries]
    assert ("harvest.source_create", "success") in done and ("harvest.source_create", "denied") in done
    assert ("harvest.source_update", "success") in done and ("harvest.source_update", "denied") in done
    assert ("harvest.source_delete", "success") in done and ("harvest.run", "denied") in done
    update = next(e for e in entries if e.action == "harvest.source_update" and e.outcome == "success")
    assert json.loads(update.detail)["fields"] == ["interval_minutes", "title", "url"] and update.object_id == sid


def test_delete_with_withdraw_and_refused_while_running(platform, users, fake):
    fake.routes["package_search"] = ok({"count": 1, "results": [{"id": "1", "name": "mot", "title": "Một"}]})
    sid = make_source(platform, users, fake.url, name="rut")
    assert run_now(platform, sid)["created"] == 1
    with platform.system_context() as ctx:
        run = harvest.harvest_run(ctx, source_id=sid)  # queued, its job not run yet
    with pytest.raises(Problem) as err, platform.system_context() as ctx:
        harvest.harvest_source_delete(ctx, source_id=sid)
    assert err.value.status == 409
    jobs.execute(platform, run.job_id)
    with platform.system_context() as ctx:
        assert harvest.harvest_source_delete(ctx, source_id=sid, withdraw_datasets=True) == 1
    assert local(platform, "rut-mot").state == "deleted"
    with platform.transaction() as db:
        assert db.execute(select(HarvestRun).where(HarvestRun.source_id == sid)).first() is None


# ------------------------------------------------------------------ the schedule


def test_periodic_trigger_submits_only_when_due(platform, users):
    now = utcnow()
    due = make_source(platform, users, "http://127.0.0.1:9", name="den-han", interval_minutes=60)
    later = make_source(platform, users, "http://127.0.0.1:9", name="chua-den", interval_minutes=60)
    inactive = make_source(platform, users, "http://127.0.0.1:9", name="tat", interval_minutes=5, active=False)
    by_hand = make_source(platform, users, "http://127.0.0.1:9", name="thu-cong")
    with platform.transaction(write=True) as db:
        db.get(HarvestSource, later).last_run_at = now - dt.timedelta(minutes=10)
        db.get(HarvestSource, due).last_run_at = now - dt.timedelta(minutes=61)
    assert harvest.due_sources(platform, now) == [due]
    submitted = harvest.periodic(platform, now)
    assert len(submitted) == 1
    with platform.transaction() as db:
        runs = db.execute(select(HarvestRun)).scalars().all()
        assert [(r.source_id, r.trigger, r.job_id) for r in runs] == [(due, "schedule", submitted[0])]
        assert db.get(Job, submitted[0]).owner_id is None  # the system runs scheduled harvests
    assert {inactive, by_hand}.isdisjoint(harvest.due_sources(platform, now))
    # two hours on: "chua-den" is due too; "den-han" is not submitted again while its run is queued
    second = harvest.periodic(platform, now + dt.timedelta(hours=2))
    with platform.transaction() as db:
        assert db.execute(select(HarvestRun.source_id).where(HarvestRun.job_id == second[0])).scalar() == later
    assert len(second) == 1
    jobs.execute(platform, submitted[0])  # fails (nothing listens there), which ends the run
    assert harvest.periodic(platform, utcnow() + dt.timedelta(minutes=30)) == []  # neither is due yet
    again = harvest.periodic(platform, utcnow() + dt.timedelta(minutes=61))
    with platform.transaction() as db:  # "den-han" again; "chua-den" still has its run queued
        assert db.execute(select(HarvestRun.source_id).where(HarvestRun.job_id == again[0])).scalar() == due
    assert len(again) == 1
    assert "harvest.run" in audit_actions(platform, object_id=due)


def test_periodic_hook_is_called_and_isolates_failures(platform):
    calls: list[str] = []

    class Ticks:
        @hookimpl
        def cityai_periodic(self, platform) -> None:
            calls.append("ok")

    class Broken:
        @hookimpl
        def cityai_periodic(self, platform) -> None:
            raise RuntimeError("boom")

    platform.pm.register(Ticks(), name="ticks")
    platform.pm.register(Broken(), name="broken")
    failed = jobs.run_periodic(platform)
    assert calls == ["ok"] and failed == ["broken"]
    assert "cityai.periodic" in {t.__name__ for t in platform.huey._registry._periodic_tasks}


def test_data_plugin_wires_the_schedule(platform, users):
    names = {impl.plugin_name for impl in platform.pm.hook.cityai_periodic.get_hookimpls()}
    if "cityai.data.plugin" not in names:
        pytest.skip("cityai.data.plugin does not implement cityai_periodic yet (see harvest.periodic)")
    sid = make_source(platform, users, "http://127.0.0.1:9", name="hook", interval_minutes=5)
    assert jobs.run_periodic(platform) == []
    with platform.transaction() as db:
        assert db.execute(select(HarvestRun.trigger).where(HarvestRun.source_id == sid)).scalars().all() == [
            "schedule"]


# ------------------------------------------------------------------ command line


def test_cli_harvest_run_prints_the_summary(platform, users, fake, settings, monkeypatch):
    from cityai.data.cli import data_group

    fake.routes["package_search"] = ok({"count": 1, "results": [{"id": "1", "name": "mot", "title": "Một"}]})
    make_source(platform, users, fake.url, name="dong-lenh")
    monkeypatch.setenv("CITYAI_HOME", str(settings.home))
    monkeypatch.setenv("CITYAI_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("CITYAI_QUEUE_URL", settings.effective_queue_url)
    monkeypatch.setenv("CITYAI_SECRET_KEY", "test-secret")
    monkeypatch.setenv("CITYAI_LOG_JSON", "false")
    result = CliRunner().invoke(data_group, ["harvest-run", "dong-lenh"])
    assert result.exit_code == 0, result.output
    assert "created 1" in result.output and "dong-lenh-mot" in result.output
    result = CliRunner().invoke(data_group, ["harvest-sources"])
    assert result.exit_code == 0 and "dong-lenh" in result.output and "succeeded" in result.output
    result = CliRunner().invoke(data_group, ["harvest-run", "khong-co"])
    assert result.exit_code == 2 and "khong-co" in result.output
    with platform.transaction() as db:
        assert db.execute(select(HarvestRun.trigger)).scalars().all() == ["cli"]
    assert local(platform, "dong-lenh-mot").title == "Một"
