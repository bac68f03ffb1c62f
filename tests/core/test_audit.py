"""The audit trail: every write audited, atomic with its change, append-only, tamper-evident.

Runs on SQLite and PostgreSQL (the ``backend`` fixture). Tampering is done the way an attacker with
database access would do it (switch the append-only triggers off, then edit rows) and detected by the
real ``cityai audit verify`` command run as a separate process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from cityai.core import audit, identity, jobs
from cityai.core.audit import GENESIS, HASHED_FIELDS, canonical, entry_hash
from cityai.core.context import Actor
from cityai.core.errors import Problem
from cityai.core.models import Agency, AuditEntry, AuditHead, User
from tests.conftest import PASSWORD, login

# ------------------------------------------------------------------ helpers


def actor_for(platform, email: str, kind: str = "web") -> Actor:
    with platform.transaction() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
        return Actor.for_user(user, kind=kind)


def raw_rows(platform) -> list[dict[str, Any]]:
    """Every audit_log row as stored (detail as its canonical JSON text), oldest first."""
    with platform.engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq)).mappings().all()
        return [dict(r) for r in rows]


def head(platform) -> tuple[int, str]:
    with platform.transaction() as db:
        h = db.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
        return h.seq, h.hash


def assert_chain_intact(rows: list[dict[str, Any]], platform) -> None:
    """seq 1..N with no gap or duplicate, each prev_hash the previous hash, each hash recomputable."""
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    prev = GENESIS
    for r in rows:
        assert r["prev_hash"] == prev, f"seq {r['seq']}: prev_hash does not link"
        assert entry_hash(r) == r["hash"], f"seq {r['seq']}: hash does not match content"
        prev = r["hash"]
    assert head(platform) == ((rows[-1]["seq"], rows[-1]["hash"]) if rows else (0, GENESIS))
    with platform.transaction() as db:
        assert audit.verify_chain(db).ok


def parse_at(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)


def cli_env(platform) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYAI_")}
    home = Path(platform.settings.home)
    env.update(
        CITYAI_HOME=str(home),
        CITYAI_DATABASE_URL=platform.settings.effective_database_url,
        CITYAI_SECRET_KEY="test-secret",
        CITYAI_QUEUE_URL=f"sqlite:///{home / 'cli-queue.db'}",
        CITYAI_LOG_JSON="false",
        CITYAI_LOG_LEVEL="WARNING",
    )
    return env


def cityai_cli(platform, *args: str) -> subprocess.CompletedProcess:
    """Run the installed ``cityai`` command (the console script next to this interpreter)."""
    exe = Path(sys.executable).with_name("cityai")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "cityai"]
    return subprocess.run(cmd + list(args), env=cli_env(platform), capture_output=True, text=True,
                          timeout=120, cwd=str(platform.settings.home))


def assert_verify_names(platform, seq: int) -> None:
    proc = cityai_cli(platform, "audit", "verify")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "BROKEN" in out
    assert re.search(rf"\bseq={seq}\b", out), f"expected seq={seq} in: {out}"


def verify_in_process(platform) -> int | None:
    """The first bad seq according to the library (the CLI is run where each case needs it)."""
    with platform.transaction() as db:
        result = audit.verify_chain(db)
    return None if result.ok else result.first_bad_seq


def disable_append_only(platform) -> None:
    """What an attacker with database access does first."""
    with platform.engine.begin() as conn:
        if platform.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))


def tamper(platform, sql: str, **params: Any) -> None:
    with platform.engine.begin() as conn:
        conn.execute(text(sql), params)


@pytest.fixture
def chain(platform) -> int:
    """A dozen audit entries from ordinary writes (cheaper than the ``users`` fixture); returns the count."""
    with platform.system_context() as ctx:
        city = identity.agency_create(ctx, code="hcmc", name="Thành phố Hồ Chí Minh", kind="city")
    for i in range(11):
        with platform.system_context() as ctx:
            identity.agency_create(ctx, code=f"so-{i}", name=f"Sở số {i}", kind="department",
                                   parent_id=city.id)
    return 12


# ------------------------------------------------------------------ every write is audited


def test_service_writes_are_audited_and_chained(backend, platform, users):
    root = actor_for(platform, users.sysadmin)
    start_seq, _ = head(platform)
    ip, rid = "10.20.30.40", f"req-{uuid.uuid4().hex[:12]}"
    before = dt.datetime.now(dt.timezone.utc)

    def uow(actor: Actor = root):
        return platform.unit_of_work(actor, ip=ip, request_id=rid)

    expected: list[tuple[str, str, str]] = []
    with uow() as ctx:
        a = identity.agency_create(ctx, code="t.audit", name="Phòng Thử nghiệm", kind="division",
                                   parent_id=users.dept)
    expected.append(("agency.create", "agency", str(a.id)))
    with uow() as ctx:
        identity.agency_update(ctx, agency_id=a.id, name="Phòng Thử nghiệm số 2")
    expected.append(("agency.update", "agency", str(a.id)))
    with uow() as ctx:
        u = identity.user_create(ctx, email="nguoimoi@test.local", full_name="Người Mới", password=PASSWORD,
                                 agency_id=a.id, role="editor")
    expected += [("user.create", "user", str(u.id)), ("membership.set", "membership", f"{u.id}@{a.id}")]
    with uow() as ctx:
        identity.membership_set(ctx, agency_id=users.dept, user_id=u.id, role="member")
    expected.append(("membership.set", "membership", f"{u.id}@{users.dept}"))
    with uow() as ctx:
        identity.user_update(ctx, user_id=u.id, full_name="Người Mới Hai")
    expected.append(("user.update", "user", str(u.id)))
    with uow() as ctx:
        identity.membership_remove(ctx, agency_id=users.dept, user_id=u.id)
    expected.append(("membership.remove", "membership", f"{u.id}@{users.dept}"))
    with uow() as ctx:
        token, _secret = identity.token_create(ctx, name="siem", scopes=["read"])
    expected.append(("token.create", "token", str(token.id)))
    with uow() as ctx:
        identity.token_revoke(ctx, token_id=token.id)
    expected.append(("token.revoke", "token", str(token.id)))
    with uow() as ctx:
        job = jobs.submit(ctx, kind="audit.verify")
    expected.append(("job.submit", "job", job.id))
    with uow() as ctx:
        jobs.cancel(ctx, job_id=job.id)
    expected.append(("job.cancel", "job", job.id))
    with uow() as ctx:
        identity.membership_remove(ctx, agency_id=a.id, user_id=u.id)
    expected.append(("membership.remove", "membership", f"{u.id}@{a.id}"))
    with uow() as ctx:
        identity.agency_delete(ctx, agency_id=a.id)
    expected.append(("agency.delete", "agency", str(a.id)))
    after = dt.datetime.now(dt.timezone.utc)

    rows = raw_rows(platform)
    new = [r for r in rows if r["seq"] > start_seq]
    assert [(r["action"], r["object_type"], r["object_id"]) for r in new] == expected
    for r in new:
        assert r["actor"] == users.sysadmin  # who
        assert r["actor_id"] == users.ids[users.sysadmin]
        assert r["outcome"] == "success"
        assert r["ip"] == ip
        assert r["request_id"] == rid
        slack = dt.timedelta(seconds=1)
        assert before - slack <= parse_at(r["at"]) <= after + slack  # when
        assert isinstance(json.loads(r["detail"]), dict)
    assert json.loads(new[0]["detail"])["code"] == "t.audit"
    assert_chain_intact(rows, platform)


def test_refused_write_is_audited_as_denied(backend, platform, users):
    member = actor_for(platform, users.member)
    start_seq, _ = head(platform)
    with pytest.raises(Problem) as exc:
        with platform.unit_of_work(member, ip="10.0.0.9") as ctx:
            identity.agency_create(ctx, code="rogue", name="Đơn vị lạ", kind="department")
    assert exc.value.status == 403
    rows = raw_rows(platform)
    new = [r for r in rows if r["seq"] > start_seq]
    assert [(r["action"], r["outcome"], r["actor"], r["ip"]) for r in new] == [
        ("agency.create", "denied", users.member, "10.0.0.9")]
    with platform.transaction() as db:
        assert db.execute(select(Agency).where(Agency.code == "rogue")).first() is None
    assert_chain_intact(rows, platform)


def test_change_and_audit_entry_roll_back_together(backend, platform, chain):
    root = Actor.system()
    with platform.transaction() as db:
        city_id = db.execute(select(Agency.id).where(Agency.code == "hcmc")).scalar_one()
    rows_before = raw_rows(platform)
    head_before = head(platform)

    with pytest.raises(RuntimeError, match="boom"):
        with platform.unit_of_work(root) as ctx:
            identity.agency_create(ctx, code="t.rollback", name="Sẽ bị hủy", kind="division",
                                   parent_id=city_id)
            ctx.audit("test.extra", "thing", 1, note="also rolled back")
            # Inside the unit of work both entries exist ...
            inside = ctx.db.execute(select(AuditEntry.action).where(AuditEntry.seq > head_before[0])
                                    .order_by(AuditEntry.seq)).scalars().all()
            assert inside == ["agency.create", "test.extra"]
            raise RuntimeError("boom")

    # ... and after the error neither the change nor its entries persist.
    with platform.transaction() as db:
        assert db.execute(select(Agency).where(Agency.code == "t.rollback")).first() is None
    assert raw_rows(platform) == rows_before
    assert head(platform) == head_before

    # The rolled-back sequence numbers are not burned: the next commit continues the chain.
    with platform.unit_of_work(root) as ctx:
        a = identity.agency_create(ctx, code="t.commit", name="Được lưu", kind="division", parent_id=city_id)
        ctx.audit("test.extra", "agency", a.id, note="committed")
    rows = raw_rows(platform)
    assert [(r["seq"], r["action"]) for r in rows[len(rows_before):]] == [
        (head_before[0] + 1, "agency.create"), (head_before[0] + 2, "test.extra")]
    assert rows[len(rows_before)]["prev_hash"] == head_before[1]
    with platform.transaction() as db:
        assert db.execute(select(Agency).where(Agency.code == "t.commit")).scalar_one()
    assert_chain_intact(rows, platform)


# ------------------------------------------------------------------ append-only at the database


def test_database_refuses_update_and_delete(backend, platform, chain):
    rows = raw_rows(platform)
    assert len(rows) == chain
    statements = [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
        "UPDATE audit_log SET detail = '{}'",
        "DELETE FROM audit_log WHERE seq = 2",
        f"DELETE FROM audit_log WHERE seq = {chain}",
        "DELETE FROM audit_log",
    ]
    if backend == "postgresql":
        statements.append("TRUNCATE audit_log")
    for sql in statements:
        with pytest.raises(DBAPIError) as exc:
            tamper(platform, sql)
        assert "append-only" in str(exc.value), sql
    assert raw_rows(platform) == rows
    assert verify_in_process(platform) is None


# ------------------------------------------------------------------ tampering is detected by the CLI


def test_cli_verify_detects_tampering(backend, platform, chain):
    rows = raw_rows(platform)
    n = len(rows)
    assert n == chain
    proc = cityai_cli(platform, "audit", "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"OK: {n} audit entries" in proc.stdout

    disable_append_only(platform)
    by_seq = {r["seq"]: r for r in rows}

    # (a) alter an entry's detail: that entry no longer matches its hash.
    tamper(platform, "UPDATE audit_log SET detail = :d WHERE seq = 3", d='{"code":"forged"}')
    assert_verify_names(platform, 3)
    tamper(platform, "UPDATE audit_log SET detail = :d WHERE seq = 3", d=by_seq[3]["detail"])
    # (a) alter the actor of a later entry (the restored seq 3 must now pass, or it would be named).
    tamper(platform, "UPDATE audit_log SET actor = 'mallory@evil.local' WHERE seq = 5")
    assert verify_in_process(platform) == 5
    tamper(platform, "UPDATE audit_log SET actor = :a WHERE seq = 5", a=by_seq[5]["actor"])
    # (a') alter an entry and recompute its own hash: the next entry's prev_hash gives it away.
    forged = dict(by_seq[6], actor="mallory@evil.local")
    tamper(platform, "UPDATE audit_log SET actor = :a, hash = :h WHERE seq = 6", a=forged["actor"],
           h=entry_hash(forged))
    assert verify_in_process(platform) == 7
    tamper(platform, "UPDATE audit_log SET actor = :a, hash = :h WHERE seq = 6", a=by_seq[6]["actor"],
           h=by_seq[6]["hash"])
    assert verify_in_process(platform) is None
    # (b) delete an entry in the middle: its sequence number is missing.
    tamper(platform, "DELETE FROM audit_log WHERE seq = 8")
    assert_verify_names(platform, 8)
    with platform.engine.begin() as conn:
        conn.execute(AuditEntry.__table__.insert().values(**by_seq[8]))
    # (c) cut off the newest entries: the head still records the old end of the chain.
    tamper(platform, "DELETE FROM audit_log WHERE seq >= :s", s=n - 1)
    assert_verify_names(platform, n - 1)


def test_cli_export_produces_verifiable_json_lines(backend, platform, chain, tmp_path):
    out = tmp_path / "audit-export.jsonl"
    proc = cityai_cli(platform, "audit", "export", "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = raw_rows(platform)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows) == chain
    assert f"Exported {len(rows)} entries" in proc.stderr
    prev = GENESIS
    for line, row in zip(lines, rows):
        e = json.loads(line)
        assert set(HASHED_FIELDS) | {"hash", "id"} <= set(e)
        assert isinstance(e["detail"], dict)
        # Re-verify from the export alone: the hash covers the canonical JSON of detail.
        assert entry_hash({**e, "detail": canonical(e["detail"])}) == e["hash"]
        assert e["prev_hash"] == prev
        assert (e["seq"], e["hash"]) == (row["seq"], row["hash"])
        prev = e["hash"]


# ------------------------------------------------------------------ concurrency


def test_concurrent_appends_keep_the_chain(backend, platform, chain):
    root = Actor.system()
    start = len(raw_rows(platform))
    threads, per_thread = 4, 25
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with platform.unit_of_work(root) as ctx:
                    ctx.audit("test.concurrent", "thread", t, i=i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(120)
    assert not any(th.is_alive() for th in pool), "writer threads did not finish"
    assert not errors, errors

    rows = raw_rows(platform)
    assert len(rows) == start + threads * per_thread
    assert_chain_intact(rows, platform)
    written = sorted((int(r["object_id"]), json.loads(r["detail"])["i"]) for r in rows
                     if r["action"] == "test.concurrent")
    assert written == [(t, i) for t in range(threads) for i in range(per_thread)]


# ------------------------------------------------------------------ HTTP


def test_http_audit_list_pages_and_filters(backend, client, platform, users):
    root = login(client, users.sysadmin)
    admin = login(client, users.admin)
    member = login(client, users.member)
    r = client.post("/api/v1/agencies", headers=member,
                    json={"code": "rogue", "name": "Lạ", "kind": "department"})
    assert r.status_code == 403
    rows = raw_rows(platform)
    seqs_desc = [r["seq"] for r in reversed(rows)]

    r = client.get("/api/v1/audit?limit=4", headers=root)
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == {"items", "total", "limit", "offset", "next"}
    assert page["limit"] == 4
    assert [e["seq"] for e in page["items"]] == seqs_desc[:4]
    assert page["items"][0]["hash"] == rows[-1]["hash"]
    assert page["next"]

    seen = [e["seq"] for e in page["items"]]
    url, pages = page["next"], 1
    while url:
        r = client.get(url, headers=root)
        assert r.status_code == 200, r.text
        body = r.json()
        assert 0 < len(body["items"]) <= 4
        seen += [e["seq"] for e in body["items"]]
        url, pages = body["next"], pages + 1
        assert pages < 100
    assert seen == seqs_desc  # newest first, every entry once, no overlap
    assert pages == -(-len(rows) // 4)

    r = client.get("/api/v1/audit", params={"action": "agency.", "limit": 500}, headers=root)
    items = r.json()["items"]
    assert items and all(e["action"].startswith("agency.") for e in items)
    assert {e["seq"] for e in items} == {x["seq"] for x in rows if x["action"].startswith("agency.")}
    r = client.get("/api/v1/audit", params={"action": "%", "limit": 500}, headers=root)
    assert r.json()["items"] == []  # a prefix, not a LIKE pattern

    r = client.get("/api/v1/audit", params={"actor": users.admin, "limit": 500}, headers=root)
    items = r.json()["items"]
    assert items and all(e["actor"] == users.admin for e in items)
    assert any(e["action"] == "auth.login" for e in items)

    r = client.get("/api/v1/audit", params={"outcome": "denied"}, headers=root)
    items = r.json()["items"]
    assert items and all(e["outcome"] == "denied" for e in items)
    assert any(e["action"] == "agency.create" and e["actor"] == users.member for e in items)

    r = client.get("/api/v1/audit", headers=root,
                   params={"outcome": "success", "action": "auth.login", "actor": users.member})
    assert [(e["action"], e["actor"]) for e in r.json()["items"]] == [("auth.login", users.member)]

    # Agency admins and anonymous callers may not read the audit trail; the refusal is itself audited.
    r = client.get("/api/v1/audit", headers=admin)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/audit").status_code == 401
    last = raw_rows(platform)[-2:]
    assert ("audit.list", "denied", users.admin) in [(x["action"], x["outcome"], x["actor"]) for x in last]


def test_http_reading_a_user_is_audited(backend, client, platform, users):
    admin = login(client, users.admin)
    member_id = users.ids[users.member]
    start_seq, _ = head(platform)

    r = client.get(f"/api/v1/users/{member_id}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == users.member
    new = [x for x in raw_rows(platform) if x["seq"] > start_seq]
    assert [(x["action"], x["object_type"], x["object_id"], x["actor"], x["outcome"]) for x in new] == [
        ("user.show", "user", str(member_id), users.admin, "success")]
    assert new[0]["ip"] == "testclient"
    assert new[0]["request_id"] == r.headers["x-request-id"]

    # A user outside the admin's agency is refused, and the refusal is recorded.
    r = client.get(f"/api/v1/users/{users.ids[users.outsider]}", headers=admin)
    assert r.status_code == 403
    last = raw_rows(platform)[-1]
    assert (last["action"], last["outcome"], last["actor"]) == ("user.show", "denied", users.admin)
    assert_chain_intact(raw_rows(platform), platform)


# ------------------------------------------------------------------ review regressions


def test_read_audit_after_a_write_in_the_same_unit_of_work(backend, platform, chain):
    """audit_now after ctx.audit in one write unit of work: on PostgreSQL the unit of work holds the
    audit head's row lock, so a separate transaction would wait on it for ever."""
    start = len(raw_rows(platform))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with platform.unit_of_work(Actor.system()) as ctx:
                ctx.audit("test.write", "thing", 1)
                ctx.audit_now("test.read", "thing", 1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "audit_now waited on its own unit of work's lock"
    assert not errors, errors
    rows = raw_rows(platform)
    assert [r["action"] for r in rows[start:]] == ["test.write", "test.read"]
    assert_chain_intact(rows, platform)


def test_http_reading_the_audit_trail_is_audited(backend, client, platform, users):
    root = login(client, users.sysadmin)
    start_seq, _ = head(platform)
    r = client.get("/api/v1/audit", params={"action": "auth.", "limit": 3}, headers=root)
    assert r.status_code == 200, r.text
    new = [x for x in raw_rows(platform) if x["seq"] > start_seq]
    assert [(x["action"], x["object_type"], x["actor"], x["outcome"]) for x in new] == [
        ("audit.list", "audit_log", users.sysadmin, "success")]
    detail = json.loads(new[0]["detail"])
    assert detail == {"count": len(r.json()["items"]), "filters": {"action": "auth."}}
    assert new[0]["request_id"] == r.headers["x-request-id"]
