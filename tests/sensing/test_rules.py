"""Alert rules and alerts (cityai.sensing.rules): thresholds with hysteresis, rate of change, silence, seasonal
anomalies, de-duplication, flapping, acknowledge/resolve permissions, the audit trail, and notifications to a
real webhook (http.server in a thread) and a real SMTP server (tests/core/test_mail.SmtpSink).

Entities, devices and observations are written directly (observations through ``store.insert_values``, as
ingestion does); :func:`rules.on_values` and :func:`rules.evaluate_periodic` are called with an explicit
``now``; notification jobs are run in-process with ``jobs.execute``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from cityai.core import audit, authz, identity, jobs
from cityai.core.context import Actor
from cityai.core.db import utcnow
from cityai.core.errors import Problem
from cityai.core.models import AuditEntry, Job, User
from cityai.sensing import rules, rules_routes, store
from cityai.sensing.models import Alert, Device, Entity, Rule
from tests.conftest import login
from tests.core.test_mail import SmtpSink, closed_port

T0 = utcnow().replace(microsecond=0)
MIN = dt.timedelta(minutes=1)


def ms(t: dt.datetime) -> int:
    return int(round(t.timestamp() * 1000))


# ------------------------------------------------------------------ helpers


@pytest.fixture
def world(platform, users):
    """The users fixture, with the notification job kind registered (until the plugin declares it)."""
    platform.job_kinds.setdefault(rules.NOTIFY_JOB.name, rules.NOTIFY_JOB)
    return users


@pytest.fixture
def api(client, world):
    if not any(getattr(r, "path", "").startswith("/api/v1/sensing/alerts") for r in client.app.routes):
        client.app.include_router(rules_routes.router)  # until cityai/sensing/plugin.py includes it
    return client


def add_entity(platform, agency_id: int, eid: str, etype: str = "WeatherObserved", *, device: bool = False,
               last_seen: dt.datetime | None = None, created: dt.datetime | None = None) -> str:
    created = created or T0 - dt.timedelta(days=30)
    with platform.system_context() as ctx:
        if device:
            ctx.db.add(Device(agency_id=agency_id, device_id=eid.rsplit(":", 1)[-1], type=etype, entity_id=eid,
                              key_hash=hashlib.sha256(eid.encode()).hexdigest(), last_seen_at=last_seen,
                              created_at=created, active=True))
        ctx.db.add(Entity(id=eid, type=etype, agency_id=agency_id, attrs={}, created_at=created, modified_at=created))
    return eid


def feed(platform, values: list[tuple[str, str, int, float]], now: dt.datetime | None = None) -> dict[str, int]:
    """Store values as ingestion does and run the ingestion-time rules on the new ones."""
    store.ensure_partitions(platform, [t for _, _, t, _ in values])
    with platform.system_context() as ctx:
        new = store.insert_values(ctx.db, values)
        return rules.on_values(ctx, new, now=now or utcnow())


def make_rule(platform, agency_id: int, kind: str, params: dict[str, Any], **kw: Any) -> int:
    with platform.system_context() as ctx:
        return rules.rule_create(ctx, agency_id=agency_id, name=kw.pop("name", f"Quy tắc {kind}"), kind=kind,
                                 params=params, **kw).id


def alerts(platform, rule_id: int | None = None) -> list[Alert]:
    with platform.transaction() as db:
        q = select(Alert).order_by(Alert.id)
        if rule_id is not None:
            q = q.where(Alert.rule_id == rule_id)
        rows = list(db.execute(q).scalars())
        db.expunge_all()
        return rows


def audit_actions(platform, object_type: str = "sensing_alert", object_id: Any = None) -> list[tuple[str, str, str]]:
    with platform.transaction() as db:
        q = select(AuditEntry.action, AuditEntry.actor, AuditEntry.outcome).where(AuditEntry.object_type == object_type)
        if object_id is not None:
            q = q.where(AuditEntry.object_id == str(object_id))
        return [tuple(r) for r in db.execute(q.order_by(AuditEntry.seq))]


def notify_jobs(platform) -> list[Job]:
    with platform.transaction() as db:
        rows = list(db.execute(select(Job).where(Job.kind == rules.NOTIFY_JOB.name)
                               .order_by(Job.created_at, Job.id)).scalars())
        db.expunge_all()
        return rows


def actor(platform, email: str | None) -> Actor:
    if email is None:
        return Actor.anonymous()
    with platform.transaction() as db:
        return Actor.for_user(db.execute(select(User).where(User.email == email)).scalar_one(), kind="web")


def chain_ok(platform) -> bool:
    with platform.system_context(write=False) as ctx:
        return audit.verify_chain(ctx.db).ok


class Webhook:
    """A real HTTP server that records POSTs and answers the given statuses in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.calls.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


# ------------------------------------------------------------------ rules: API and validation


def test_rule_api_validation_and_permissions(api, world, platform):
    editor, member = login(api, world.editor), login(api, world.member)
    base = {"agency_id": world.dept, "name": "Nhiệt độ cao", "kind": "threshold", "attribute": "temperature",
            "entity_type": "WeatherObserved", "params": {"op": ">", "value": 38, "clear_value": 36},
            "severity": "critical", "notify": {"webhook": "https://hooks.example.gov.vn/a", "emails": ["a@so.gov.vn"]}}
    bad = [
        ({"params": {"op": "!=", "value": 1}}, "params.op"),
        ({"params": {"op": ">"}}, "params.value"),
        ({"params": {"op": ">", "value": "38"}}, "params.value"),
        ({"params": {"op": ">", "value": 38, "clear_value": 40}}, "params.clear_value"),
        ({"params": {"op": ">", "value": 38, "window": 5}}, "params"),
        ({"params": {"op": ">", "value": 38, "clear_after": 0}}, "params.clear_after"),
        ({"attribute": None}, "attribute"),
        ({"kind": "rate", "params": {"max_change": 0, "per_s": 60}}, "params.max_change"),
        ({"kind": "rate", "params": {"max_change": 5}}, "params.per_s"),
        ({"kind": "silence", "params": {"silence_s": 30}}, "params.silence_s"),
        ({"kind": "anomaly", "params": {"days": 61}}, "params.days"),
        ({"kind": "anomaly", "params": {"z": 0}}, "params.z"),
        ({"kind": "anomaly", "params": {"min_points": 2.5}}, "params.min_points"),
        ({"notify": {"webhook": "ftp://files.example/x"}}, "notify.webhook"),
        ({"notify": {"webhook": "file:///etc/passwd"}}, "notify.webhook"),
        ({"notify": {"emails": ["khong-phai-dia-chi"]}}, "notify.emails"),
        ({"name": "  "}, "name"),
    ]
    for change, field in bad:
        r = api.post("/api/v1/sensing/rules", headers=editor, json={**base, **change})
        assert r.status_code == 422, (change, r.text)
        body = r.json()
        assert body["type"] == "/problems/validation-error" and body["field"] == field, (change, body)
        assert body["vi"]["detail"] and body["en"]["detail"] and body["vi"]["detail"] != body["en"]["detail"]
    assert api.post("/api/v1/sensing/rules", headers=editor, json={**base, "extra": 1}).status_code == 422

    assert api.post("/api/v1/sensing/rules", json=base).status_code == 401
    assert api.post("/api/v1/sensing/rules", headers=member, json=base).status_code == 403
    assert api.post("/api/v1/sensing/rules", headers=login(api, world.outsider), json=base).status_code == 403
    r = api.post("/api/v1/sensing/rules", headers=editor, json=base)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["params"] == {"op": ">", "value": 38, "clear_value": 36} and rule["severity"] == "critical"
    assert rule["notify"] == {"webhook": "https://hooks.example.gov.vn/a", "emails": ["a@so.gov.vn"]}
    r = api.post("/api/v1/sensing/rules", headers=editor, json={
        "agency_id": world.dept, "name": "Mất tín hiệu", "kind": "silence", "params": {"silence_s": 600}})
    assert r.status_code == 201 and r.json()["attribute"] is None
    r = api.post("/api/v1/sensing/rules", headers=editor, json={
        "agency_id": world.dept, "name": "Bất thường", "kind": "anomaly", "attribute": "pm25", "params": {}})
    assert r.json()["params"] == {"z": 4.0, "days": 14, "window_min": 15, "min_points": 10}  # defaults shown

    # lists: members see their agency's rules, outsiders none
    page = api.get("/api/v1/sensing/rules?limit=2", headers=member).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next"]
    assert api.get("/api/v1/sensing/rules?kind=silence", headers=member).json()["total"] == 1
    assert api.get("/api/v1/sensing/rules", headers=login(api, world.outsider)).json()["total"] == 0
    assert api.get("/api/v1/sensing/rules", headers=login(api, world.sysadmin)).json()["total"] == 3
    assert api.get(f"/api/v1/sensing/rules/{rule['id']}", headers=member).status_code == 200
    assert api.get(f"/api/v1/sensing/rules/{rule['id']}", headers=login(api, world.outsider)).status_code == 403
    assert api.get("/api/v1/sensing/rules/999999", headers=member).status_code == 404

    # update: editors; kind change needs params; null clears an optional field
    url = f"/api/v1/sensing/rules/{rule['id']}"
    assert api.patch(url, headers=member, json={"name": "x"}).status_code == 403
    assert api.patch(url, headers=editor, json={"kind": "rate"}).json()["field"] == "params"
    assert api.patch(url, headers=editor, json={"agency_id": world.other_dept}).status_code == 422
    r = api.patch(url, headers=editor, json={"params": {"op": ">=", "value": 40}, "entity_type": None,
                                             "notify": None})
    assert r.status_code == 200, r.text
    assert r.json()["params"] == {"op": ">=", "value": 40} and r.json()["entity_type"] is None
    assert r.json()["notify"] == {}
    assert api.delete(url, headers=member).status_code == 403
    assert api.delete(url, headers=editor).status_code == 204
    assert api.get(url, headers=editor).status_code == 404
    assert [a for a, _, _ in audit_actions(platform, "sensing_rule", rule["id"])] == [
        "sensing.rule.create", "sensing.rule.update", "sensing.rule.delete"]


MEMBERS = frozenset({"member", "editor", "admin", "parent_admin", "sysadmin"})
EDITORS = MEMBERS - {"member"}
ROLES = ("anonymous", "member", "editor", "admin", "parent_admin", "outsider", "sysadmin")
EXPECTED = {
    "sensing.rule.create": EDITORS,
    "sensing.rule.list": frozenset(ROLES) - {"anonymous"},
    "sensing.rule.show": MEMBERS,
    "sensing.rule.update": EDITORS,
    "sensing.rule.delete": EDITORS,
    "sensing.alert.list": frozenset(ROLES) - {"anonymous"},
    "sensing.alert.show": MEMBERS,
    "sensing.alert.acknowledge": EDITORS,
    "sensing.alert.resolve": EDITORS,
}


@pytest.mark.parametrize("backend", ["sqlite"])  # authorization only: the same on both databases
def test_role_operation_matrix(platform, world):
    assert {n for n in authz.OPERATIONS if n.startswith(("sensing.rule.", "sensing.alert."))} == set(EXPECTED)
    for name in EXPECTED:
        assert authz.OPERATIONS[name].doc, name
    with platform.system_context() as ctx:
        identity.user_create(ctx, email="cityadmin@test.local", full_name="Quan Tri", agency_id=world.city,
                             role="admin")
    eid = add_entity(platform, world.dept, "urn:ngsi-ld:WeatherObserved:skhcn:m1")
    rule_id = make_rule(platform, world.dept, "threshold", {"op": ">", "value": 1}, attribute="t")
    feed(platform, [(eid, "t", ms(T0), 5.0)])
    [alert] = alerts(platform)
    emails = {"member": world.member, "editor": world.editor, "admin": world.admin,
              "parent_admin": "cityadmin@test.local", "outsider": world.outsider, "sysadmin": world.sysadmin}
    calls = {n: {"rule_id": rule_id} for n in EXPECTED if n.startswith("sensing.rule.")}
    calls.update({n: {"alert_id": alert.id} for n in EXPECTED if n.startswith("sensing.alert.")})
    calls["sensing.rule.create"] = {"agency_id": world.dept, "name": "x", "kind": "silence"}
    calls["sensing.rule.list"] = calls["sensing.alert.list"] = {}
    actual: dict[str, set[str]] = {n: set() for n in EXPECTED}
    for role in ROLES:
        with platform.unit_of_work(actor(platform, emails.get(role)), write=False) as ctx:
            for name, kwargs in calls.items():
                if authz.is_allowed(ctx, name, **kwargs):
                    actual[name].add(role)
    assert {k: frozenset(v) for k, v in actual.items()} == EXPECTED


# ------------------------------------------------------------------ threshold, rate: on ingestion


def test_threshold_with_hysteresis_deduplication_late_values_and_scope(platform, world):
    e1 = add_entity(platform, world.division, "urn:ngsi-ld:WeatherObserved:cds:t1")  # below the rule's agency
    e2 = add_entity(platform, world.other_dept, "urn:ngsi-ld:WeatherObserved:syt:t2")  # another Sở: not watched
    e3 = add_entity(platform, world.division, "urn:ngsi-ld:WaterLevel:cds:w1", "WaterLevel")  # another type
    rule_id = make_rule(platform, world.dept, "threshold", {"op": ">", "value": 100, "clear_value": 90},
                        attribute="temperature", entity_type="WeatherObserved")
    t = [ms(T0 - dt.timedelta(minutes=30)) + i * 60_000 for i in range(10)]

    feed(platform, [(e1, "temperature", t[0], 95.0), (e2, "temperature", t[0], 150.0),
                    (e3, "temperature", t[0], 150.0), (e1, "humidity", t[0], 500.0)], T0)
    assert alerts(platform) == []
    # only the batch's newest value of a pair counts: 120 then 80 opens nothing
    feed(platform, [(e1, "temperature", t[1], 120.0), (e1, "temperature", t[2], 80.0)], T0)
    assert alerts(platform) == []

    stats = feed(platform, [(e1, "temperature", t[4], 105.0)], T0 + MIN)
    assert stats["opened"] == 1
    [a] = alerts(platform)
    assert (a.status, a.count, a.value, a.agency_id, a.severity) == ("open", 1, 105.0, world.division, "warning")
    assert "105" in a.message and "> 100" in a.message and e1 in a.message
    assert a.first_at == T0 + MIN

    feed(platform, [(e1, "temperature", t[5], 110.0)], T0 + 2 * MIN)  # repeated: the same alert
    # a late value (older than one already stored) changes nothing, even below the clear value
    assert feed(platform, [(e1, "temperature", t[3], 50.0)], T0 + 3 * MIN)["late"] == 1
    # a re-delivered value is not new (ingestion passes only new ones): nothing either
    assert feed(platform, [(e1, "temperature", t[5], 110.0)], T0 + 3 * MIN) == {}
    [a] = alerts(platform)
    assert (a.status, a.count, a.value, a.last_at) == ("open", 2, 110.0, T0 + 2 * MIN)

    feed(platform, [(e1, "temperature", t[6], 95.0)], T0 + 4 * MIN)  # between 90 and 100: still open
    assert alerts(platform)[0].status == "open"
    feed(platform, [(e1, "temperature", t[7], 89.0)], T0 + 5 * MIN)  # at or below 90: resolved
    [a] = alerts(platform)
    assert (a.status, a.resolved_at, a.resolved_by) == ("resolved", T0 + 5 * MIN, None)
    assert [(x, who) for x, who, _ in audit_actions(platform, object_id=a.id)] == [
        ("sensing.alert.open", "system"), ("sensing.alert.resolve", "system")]
    assert rule_id == a.rule_id and chain_ok(platform)


def test_a_batch_of_many_pairs_with_late_values(platform, world):
    ents = [f"urn:ngsi-ld:WeatherObserved:skhcn:b{i:03d}" for i in range(210)]  # two chunks of probes
    with platform.system_context() as ctx:
        ctx.db.add_all([Entity(id=e, type="WeatherObserved", agency_id=world.dept, attrs={}) for e in ents])
    make_rule(platform, world.dept, "threshold", {"op": ">", "value": 100}, attribute="t")
    base = ms(T0 - dt.timedelta(hours=1))
    assert feed(platform, [(e, "t", base + 10_000, 50.0) for e in ents], T0)["evaluated"] == 210
    # e0 gets a value older than the one stored (late: even above the threshold it opens nothing), e1 and e2
    # cross the threshold, the others stay normal
    batch = [(ents[0], "t", base, 500.0), (ents[1], "t", base + 20_000, 150.0), (ents[2], "t", base + 20_000, 150.0)]
    batch += [(e, "t", base + 20_000, 60.0) for e in ents[3:]]
    stats = feed(platform, batch, T0)
    assert (stats["late"], stats["opened"], stats["evaluated"]) == (1, 2, 209)
    assert sorted(a.entity_id for a in alerts(platform)) == sorted(ents[1:3])


def test_a_failing_rule_never_fails_ingestion(platform, world, monkeypatch):
    eid = add_entity(platform, world.dept, "urn:ngsi-ld:WeatherObserved:skhcn:x1")
    make_rule(platform, world.dept, "threshold", {"op": ">", "value": 1}, attribute="t",
              notify={"webhook": "http://127.0.0.1:9/x"})
    real = rules._notify

    def broken(*a: Any, **k: Any) -> None:  # fails after the alert, its audit entry and its job were made
        real(*a, **k)
        raise RuntimeError("a bug in the rules")

    monkeypatch.setattr(rules, "_notify", broken)
    store.ensure_partitions(platform, [ms(T0)])
    ran: list[str] = []
    with platform.system_context() as ctx:
        platform.after_commit(ctx.db, lambda: ran.append("ingestion's own"))
        new = store.insert_values(ctx.db, [(eid, "t", ms(T0), 7.0)])
        assert rules.on_values(ctx, new) == {"errors": 1}
        assert not ctx.db.info.get("cityai_audit_new")
    assert ran == ["ingestion's own"]  # the failed evaluation left nothing to run after the commit
    with platform.transaction() as db:  # the value is stored, nothing of the evaluation is
        assert store.latest(db, eid, "t") == (ms(T0), 7.0)
    assert alerts(platform) == [] and notify_jobs(platform) == []
    assert audit_actions(platform) == [] and chain_ok(platform)
    monkeypatch.setattr(rules, "_notify", real)
    assert feed(platform, [(eid, "t", ms(T0) + 1000, 8.0)])["opened"] == 1


def test_rate_of_change_and_named_entity(platform, world):
    e1 = add_entity(platform, world.dept, "urn:ngsi-ld:WaterLevel:skhcn:r1", "WaterLevel")
    e2 = add_entity(platform, world.dept, "urn:ngsi-ld:WaterLevel:skhcn:r2", "WaterLevel")
    rule_id = make_rule(platform, world.city, "rate", {"max_change": 10, "per_s": 60}, attribute="level",
                        entity_id=e1)  # a city rule on one entity of a Sở below it
    base = ms(T0 - dt.timedelta(hours=1))
    feed(platform, [(e1, "level", base, 100.0)], T0)  # a first value: nothing to compare with
    feed(platform, [(e1, "level", base + 60_000, 105.0), (e2, "level", base + 60_000, 900.0)], T0)  # 5/min
    assert alerts(platform) == []
    feed(platform, [(e2, "level", base, 0.0)], T0)
    feed(platform, [(e1, "level", base + 90_000, 120.0), (e2, "level", base + 90_000, 0.0)], T0)  # 15 in 30 s
    [a] = alerts(platform)
    assert (a.entity_id, a.rule_id, a.agency_id, a.value) == (e1, rule_id, world.dept, 30.0)  # 30 per 60 s
    assert "105 → 120" in a.message
    feed(platform, [(e1, "level", base + 210_000, 122.0)], T0 + MIN)  # 2 in 120 s: 1 per 60 s
    assert alerts(platform)[0].status == "resolved"


# ------------------------------------------------------------------ flapping, clear_after, de-duplication


def test_flapping_suppresses_notifications_until_it_stays_resolved(platform, world, webhook):
    eid = add_entity(platform, world.dept, "urn:ngsi-ld:WeatherObserved:skhcn:f1")
    rule_id = make_rule(platform, world.dept, "threshold", {"op": ">", "value": 100, "flap_limit": 2,
                                                            "flap_window_s": 600},
                        attribute="t", notify={"webhook": webhook.url})
    start = ms(T0 - dt.timedelta(hours=1))
    now = T0
    for i, v in enumerate([105, 90, 105, 90, 105, 90, 105, 90]):
        now = T0 + i * dt.timedelta(seconds=30)
        feed(platform, [(eid, "t", start + i * 1000, float(v))], now)
    [a] = alerts(platform)  # one alert, re-opened rather than duplicated
    assert (a.status, a.flaps, a.flapping, a.count) == ("resolved", 3, True, 4)
    assert "Flapping" in a.message and "Dao động" in a.message
    events = [j.params["event"] for j in notify_jobs(platform)]
    assert events == ["open", "resolve", "reopen", "resolve"]  # then flapping: silent
    actions = [x for x, _, _ in audit_actions(platform, object_id=a.id)]
    assert actions.count("sensing.alert.reopen") == 3 and actions.count("sensing.alert.flapping") == 1
    assert actions.count("sensing.alert.resolve") == 4

    # resolved for longer than the window: a new alert, notified again
    later = now + dt.timedelta(seconds=601)
    feed(platform, [(eid, "t", start + 100_000, 130.0)], later)
    old, new = alerts(platform, rule_id)
    assert old.id == a.id and (new.status, new.flaps, new.flapping) == ("open", 0, False)
    assert [j.params["event"] for j in notify_jobs(platform)][-1] == "open"

    # the webhook job delivers the alert as JSON
    job = notify_jobs(platform)[-1]
    jobs.execute(platform, job.id)
    [call] = webhook.calls
    assert call["json"]["event"] == "open" and call["json"]["alert"]["id"] == new.id
    assert call["json"]["rule"] == {"id": rule_id, "name": "Quy tắc threshold", "kind": "threshold",
                                    "agency_id": world.dept}
    assert call["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize("backend", ["sqlite"])  # lifecycle logic; its SQL runs on both in the tests above
def test_clear_after_consecutive_evaluations(platform, world):
    eid = add_entity(platform, world.dept, "urn:ngsi-ld:WeatherObserved:skhcn:c1")
    make_rule(platform, world.dept, "threshold", {"op": "<", "value": 0, "clear_after": 2}, attribute="t")
    start = ms(T0 - dt.timedelta(hours=1))
    for i, v in enumerate([-5, 3, -2, 4]):
        feed(platform, [(eid, "t", start + i * 1000, float(v))], T0)
    [a] = alerts(platform)
    assert (a.status, a.clear_streak, a.count) == ("open", 1, 2)  # the second trigger reset the streak
    feed(platform, [(eid, "t", start + 10_000, 5.0)], T0)
    assert alerts(platform)[0].status == "resolved"


# ------------------------------------------------------------------ silence and anomaly: periodic


def test_silence_opens_and_resolves(platform, world):
    quiet = add_entity(platform, world.dept, "urn:ngsi-ld:AirQualityObserved:skhcn:s1", "AirQualityObserved",
                       device=True, last_seen=T0 - dt.timedelta(minutes=20))
    fresh = add_entity(platform, world.dept, "urn:ngsi-ld:AirQualityObserved:skhcn:s2", "AirQualityObserved",
                       device=True, last_seen=T0 - MIN)
    new = add_entity(platform, world.dept, "urn:ngsi-ld:AirQualityObserved:skhcn:s3", "AirQualityObserved",
                     device=True, created=T0 - MIN)  # registered a minute ago, never reported: too early
    never = add_entity(platform, world.dept, "urn:ngsi-ld:AirQualityObserved:skhcn:s4", "AirQualityObserved",
                       device=True, created=T0 - dt.timedelta(days=2))
    add_entity(platform, world.dept, "urn:ngsi-ld:AirQualityObserved:skhcn:x", "AirQualityObserved")  # no device
    rule_id = make_rule(platform, world.dept, "silence", {"silence_s": 600}, entity_type="AirQualityObserved")
    # an attribute-level silence rule on the one entity that reports: pm25 stopped, no2 goes on
    pm_rule = make_rule(platform, world.dept, "silence", {"silence_s": 600}, attribute="pm25", entity_id=fresh)
    feed(platform, [(fresh, "no2", ms(T0 - MIN), 20.0), (fresh, "pm25", ms(T0 - dt.timedelta(minutes=30)), 9.0)])

    stats = evaluate_periodic(platform, T0)
    assert stats["rules"] == 2 and stats["opened"] == 3 and not stats.get("errors")
    found = {(a.rule_id, a.entity_id): a for a in alerts(platform)}
    assert set(found) == {(rule_id, quiet), (rule_id, never), (pm_rule, fresh)}
    q = found[(rule_id, quiet)]
    assert q.attribute == "" and q.value == 1200.0 and "600" in q.message
    assert found[(pm_rule, fresh)].attribute == "pm25"
    assert new not in {e for _, e in found}

    evaluate_periodic(platform, T0 + MIN)  # still silent: de-duplicated
    assert {a.count for a in alerts(platform)} == {2}

    with platform.system_context() as ctx:  # the quiet device reports again; the other is deactivated
        ctx.db.execute(Device.__table__.update().where(Device.entity_id == quiet).values(last_seen_at=T0 + MIN))
        ctx.db.execute(Device.__table__.update().where(Device.entity_id == never).values(active=False))
    feed(platform, [(fresh, "pm25", ms(T0 + MIN), 10.0)])
    stats = evaluate_periodic(platform, T0 + 2 * MIN)
    assert stats["resolved"] == 3
    assert {a.status for a in alerts(platform)} == {"resolved"}
    with platform.transaction() as db:
        entry = db.execute(select(AuditEntry).where(AuditEntry.action == "sensing.alert.resolve",
                                                    AuditEntry.object_id == str(found[(rule_id, never)].id))).scalar_one()
        assert json.loads(entry.detail)["reason"] == "not-watched"


def evaluate_periodic(platform, now):
    return rules.evaluate_periodic(platform, now=now)


def daily(t_ms: int) -> float:
    """A daily cycle (20 ± 10, coolest at 00:00 UTC) with a little deterministic noise."""
    phase = (t_ms % 86_400_000) / 86_400_000
    noise = ((t_ms // 600_000) * 7919 % 13 - 6) * 0.05
    return 20.0 - 10.0 * math.cos(2 * math.pi * phase) + noise


def test_anomaly_against_a_seasonal_baseline(platform, world):
    eid = add_entity(platform, world.dept, "urn:ngsi-ld:WeatherObserved:skhcn:a1")
    thin = add_entity(platform, world.dept, "urn:ngsi-ld:WeatherObserved:skhcn:a2")
    rule_id = make_rule(platform, world.dept, "anomaly", {"z": 4, "days": 14, "window_min": 15, "min_points": 20},
                        attribute="t", entity_type="WeatherObserved")
    # 14 days of values every 10 minutes, ending at midnight UTC (the daily low, 10)
    midnight = T0.replace(hour=0, minute=0, second=0) + dt.timedelta(days=1)
    end = ms(midnight)
    history = [(eid, "t", t, daily(t)) for t in range(end - 14 * 86_400_000, end, 600_000)]
    history += [(thin, "t", end - 86_400_000, 10.0)]
    store.ensure_partitions(platform, [t for _, _, t, _ in history])
    with platform.system_context() as ctx:
        store.insert_values(ctx.db, history)

    # a normal value at the daily low: nothing
    feed(platform, [(eid, "t", end, daily(end)), (thin, "t", end, 10.0)], midnight)
    stats = evaluate_periodic(platform, midnight + MIN)
    assert stats["insufficient_baseline"] == 1 and not stats.get("opened"), stats
    assert alerts(platform) == []
    # 20 is the series' average but far above the usual value at this time of day: anomalous
    feed(platform, [(eid, "t", end + 600_000, 20.0)], midnight + 10 * MIN)
    stats = evaluate_periodic(platform, midnight + 11 * MIN)
    [a] = alerts(platform, rule_id)
    assert (a.entity_id, a.status, a.value) == (eid, "open", 20.0)
    median = re.search(r"\(median ([0-9.]+), robust z = ([0-9.]+) > 4\)", a.message)
    assert median and float(median.group(1)) == pytest.approx(10.0, abs=0.3) and float(median.group(2)) > 10
    # back to normal: resolved
    feed(platform, [(eid, "t", end + 1_200_000, daily(end + 1_200_000))], midnight + 20 * MIN)
    evaluate_periodic(platform, midnight + 21 * MIN)
    assert alerts(platform, rule_id)[0].status == "resolved"


def test_robust_z():
    z, med, scale = rules.robust_z(30.0, [10.0, 11.0, 9.0, 10.0, 12.0, 8.0])
    assert med == 10.0 and scale == pytest.approx(1.4826 * 1.0) and z == pytest.approx(20 / 1.4826)
    assert rules.robust_z(10.0, [10.0] * 10)[0] == 0.0
    assert math.isinf(rules.robust_z(10.5, [10.0] * 10)[0])  # a constant baseline: any change stands out
    assert rules.robust_z(12.0, [10.0] * 8 + [11.0, 13.0])[2] > 0  # MAD 0: mean absolute deviation instead


# ------------------------------------------------------------------ acknowledge, resolve, audit


def test_acknowledge_and_resolve_permissions_and_audit(api, platform, world):
    eid = add_entity(platform, world.division, "urn:ngsi-ld:WeatherObserved:cds:k1")
    rule_id = make_rule(platform, world.dept, "threshold", {"op": ">", "value": 1}, attribute="t",
                        severity="critical")
    feed(platform, [(eid, "t", ms(T0 - MIN), 5.0)])
    [a] = alerts(platform)
    url = f"/api/v1/sensing/alerts/{a.id}"
    editor, member, outsider = login(api, world.editor), login(api, world.member), login(api, world.outsider)

    assert api.get(url).status_code == 401
    assert api.get(url, headers=outsider).status_code == 403
    r = api.get(url, headers=member)
    assert r.status_code == 200 and r.json()["rule"] == {"id": rule_id, "name": "Quy tắc threshold",
                                                         "kind": "threshold"}
    assert r.json()["severity"] == "critical" and r.json()["attribute"] == "t"
    page = api.get("/api/v1/sensing/alerts?status=active", headers=member).json()
    assert [x["id"] for x in page["items"]] == [a.id] and page["total"] == 1
    assert api.get("/api/v1/sensing/alerts", headers=outsider).json()["total"] == 0
    assert api.get(f"/api/v1/sensing/alerts?entity_id={eid}&agency_id={world.division}",
                   headers=member).json()["total"] == 1
    assert api.get("/api/v1/sensing/alerts?status=resolved", headers=member).json()["total"] == 0
    assert api.get("/api/v1/sensing/alerts?status=closed", headers=member).status_code == 422

    assert api.post(url + "/acknowledge").status_code == 401
    assert api.post(url + "/acknowledge", headers=outsider).status_code == 403
    assert api.post(url + "/acknowledge", headers=member).status_code == 403
    assert api.post(url + "/acknowledge", headers=editor, json={"note": "x", "who": 1}).status_code == 422
    r = api.post(url + "/acknowledge", headers=editor, json={"note": "Đội kỹ thuật đang kiểm tra"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == world.ids[world.editor]
    assert body["note"] == "Đội kỹ thuật đang kiểm tra" and body["acknowledged_at"]
    assert api.post(url + "/acknowledge", headers=editor).status_code == 409

    # still triggering while acknowledged: counted, stays acknowledged
    feed(platform, [(eid, "t", ms(T0), 6.0)])
    assert (alerts(platform)[0].status, alerts(platform)[0].count) == ("acknowledged", 2)

    assert api.post(url + "/resolve", headers=member).status_code == 403
    r = api.post(url + "/resolve", headers=login(api, world.admin), json={"note": "Đã thay cảm biến"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["resolved_by"] == world.ids[world.admin] and r.json()["note"] == "Đã thay cảm biến"
    assert api.post(url + "/resolve", headers=editor).status_code == 409
    assert api.post(url + "/acknowledge", headers=editor).status_code == 409
    assert api.get("/api/v1/sensing/alerts/999999", headers=editor).status_code == 404

    trail = audit_actions(platform, object_id=a.id)
    assert [x for x in trail if x[2] == "success"] == [
        ("sensing.alert.open", "system", "success"),
        ("sensing.alert.acknowledge", world.editor, "success"),
        ("sensing.alert.resolve", world.admin, "success")]
    with platform.transaction() as db:
        denied = db.execute(select(AuditEntry.action, AuditEntry.actor).where(
            AuditEntry.outcome == "denied", AuditEntry.object_id == str(a.id)).order_by(AuditEntry.seq)).all()
    assert ("sensing.alert.show", world.outsider) in denied and ("sensing.alert.acknowledge", world.member) in denied
    assert chain_ok(platform)


def test_deactivating_or_changing_a_rule_resolves_its_alerts(platform, world):
    eid = add_entity(platform, world.dept, "urn:ngsi-ld:WeatherObserved:skhcn:d1")
    rule_id = make_rule(platform, world.dept, "threshold", {"op": ">", "value": 1}, attribute="t")
    feed(platform, [(eid, "t", ms(T0 - MIN), 5.0)])
    with platform.unit_of_work(actor(platform, world.editor)) as ctx:
        rules.rule_update(ctx, rule_id=rule_id, name="Đổi tên")  # not what it watches: the alert stays
    assert alerts(platform)[0].status == "open"
    with platform.unit_of_work(actor(platform, world.editor)) as ctx:
        rules.rule_update(ctx, rule_id=rule_id, active=False)
    [a] = alerts(platform)
    assert a.status == "resolved" and a.resolved_by == world.ids[world.editor]
    assert feed(platform, [(eid, "t", ms(T0), 9.0)]) == {}  # an inactive rule is not evaluated
    with pytest.raises(Problem) as exc, platform.unit_of_work(actor(platform, world.member)) as ctx:
        rules.rule_delete(ctx, rule_id=rule_id)
    assert exc.value.status == 403
    with platform.unit_of_work(actor(platform, world.editor)) as ctx:
        rules.rule_delete(ctx, rule_id=rule_id)
    assert alerts(platform) == []
    with platform.transaction() as db:
        assert db.get(Rule, rule_id) is None


# ------------------------------------------------------------------ notifications


def test_failing_webhook_is_retried_then_recorded(platform, world):
    hook = Webhook(statuses=[500])
    try:
        eid = add_entity(platform, world.dept, "urn:ngsi-ld:WeatherObserved:skhcn:w1")
        make_rule(platform, world.dept, "threshold", {"op": ">", "value": 1}, attribute="t",
                  notify={"webhook": hook.url})
        feed(platform, [(eid, "t", ms(T0 - MIN), 5.0)])
        [job] = notify_jobs(platform)
        assert job.params["channel"] == "webhook" and job.max_retries == 3
        with pytest.raises(RuntimeError, match="HTTP 500"):
            jobs.execute(platform, job.id)  # the queue retries it
        with platform.transaction() as db:
            assert db.get(Job, job.id).status == "retrying"
        jobs.execute(platform, job.id)
        with platform.transaction() as db:
            done = db.get(Job, job.id)
            assert (done.status, done.attempts, done.result["status"]) == ("succeeded", 2, 200)
        assert len(hook.calls) == 2 and hook.calls[1]["json"]["event"] == "open"
        assert hook.calls[1]["headers"]["X-CityAI-Event"] == "open"
        [a] = alerts(platform)
        assert a.notified_at is not None
        assert ("sensing.alert.notify", "system", "success") in audit_actions(platform, object_id=a.id)
    finally:
        hook.close()

    # a webhook that never answers: each attempt fails, the last one is audited as a failure
    with platform.system_context() as ctx:
        rule = ctx.db.execute(select(Rule)).scalar_one()
        rule.notify = {"webhook": f"http://127.0.0.1:{closed_port()}/gone"}
    with platform.unit_of_work(actor(platform, world.editor)) as ctx:
        rules.alert_resolve(ctx, alert_id=a.id, note="thử")
    job = notify_jobs(platform)[-1]
    assert job.params["event"] == "resolve"
    for _ in range(job.max_retries):
        with pytest.raises(RuntimeError, match="unreachable"):
            jobs.execute(platform, job.id)
    jobs.execute(platform, job.id)  # the last attempt: failed, not raised
    with platform.transaction() as db:
        assert db.get(Job, job.id).status == "failed" and "unreachable" in db.get(Job, job.id).error
    assert ("sensing.alert.notify", "system", "failure") in audit_actions(platform, object_id=a.id)


def test_email_notification_through_smtp(platform, world, monkeypatch):
    eid = add_entity(platform, world.dept, "urn:ngsi-ld:WaterLevel:skhcn:e1", "WaterLevel")
    make_rule(platform, world.dept, "threshold", {"op": ">=", "value": 1.5}, attribute="level",
              name="Ngập Nhiêu Lộc", severity="critical", notify={"emails": ["truc.ban@so.gov.vn", "b@so.gov.vn"]})
    feed(platform, [(eid, "level", ms(T0 - MIN), 1.62)])
    [job] = notify_jobs(platform)
    assert job.params["channel"] == "email"

    # e-mail disabled (no CITYAI_SMTP_URL): the job says so, the audit trail records the failure
    monkeypatch.setattr(platform.settings, "smtp_url", "")
    jobs.execute(platform, job.id)
    with platform.transaction() as db:
        assert db.get(Job, job.id).result["sent"] is False
    [a] = alerts(platform)
    assert ("sensing.alert.notify", "system", "failure") in audit_actions(platform, object_id=a.id)

    with SmtpSink(user="cityai", password="mk") as sink:
        monkeypatch.setattr(platform.settings, "smtp_url", sink.url("cityai", "mk"))
        monkeypatch.setattr(platform.settings, "mail_from", "canhbao@cityai.gov.vn")
        with platform.unit_of_work(actor(platform, world.editor)) as ctx:
            rules.alert_resolve(ctx, alert_id=a.id, note="Nước đã rút")
        job = notify_jobs(platform)[-1]
        jobs.execute(platform, job.id)
    [got] = sink.messages
    assert got.rcpt == ["truc.ban@so.gov.vn", "b@so.gov.vn"] and got.mail_from == "canhbao@cityai.gov.vn"
    msg = got.message
    assert "Ngập Nhiêu Lộc" in msg["Subject"] and "Đã xử lý / Resolved" in msg["Subject"]
    body = msg.get_content()
    assert eid in body and "Nước đã rút" in body and f"/api/v1/sensing/alerts/{a.id}" in body
    assert alerts(platform)[0].notified_at is not None
