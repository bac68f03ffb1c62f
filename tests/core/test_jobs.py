"""Background jobs on the real huey queue (SQLite and Redis), not immediate mode.

Extra job kinds come from a test plugin registered on ``cityai_job_kinds``. The worker is the embedded
consumer (``platform.start_worker()``) or, in one test, the ``cityai worker`` command as a separate
process. Waiting for a job is a bounded poll, never a timed assertion.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from huey import RedisHuey
from sqlalchemy import func, select

from cityai.core import jobs
from cityai.core.audit import GENESIS, canonical, entry_hash
from cityai.core.config import Settings
from cityai.core.context import Actor
from cityai.core.errors import Problem
from cityai.core.hooks import hookimpl
from cityai.core.jobs import FINAL, JobKind, JobRun
from cityai.core.models import AuditEntry, Job, User
from cityai.core.platform import Platform
from tests.conftest import REDIS_URL, login, redis_unavailable

WAIT_S = 30

# Per-test state shared with the job functions, keyed by a token passed in the job's params.
GATES: dict[str, threading.Event] = {}
STARTED: dict[str, threading.Event] = {}
RAN: set[str] = set()


def _progress_job(run: JobRun) -> dict:
    token = run.params["token"]
    run.progress(50, "halfway", force=True)
    if not GATES[token].wait(WAIT_S):
        raise RuntimeError("the test never opened the gate")
    return {"answer": 42, "token": token}


def _flaky_job(run: JobRun) -> dict:
    if run.attempt <= 2:
        raise RuntimeError(f"flaky attempt {run.attempt}")
    return {"attempt": run.attempt}


def _broken_job(run: JobRun) -> dict:
    raise ValueError(f"always broken {run.params['token']}")


def _loop_job(run: JobRun) -> dict:
    token = run.params["token"]
    deadline = time.monotonic() + WAIT_S
    step = 0
    while time.monotonic() < deadline:
        step += 1
        run.progress(min(step, 99), f"step {step}", force=True)  # raises JobCancelled once cancelled
        STARTED[token].set()
        time.sleep(0.02)
    raise RuntimeError("the job was never cancelled")


LOST: list[tuple[str, dict]] = []


def _on_lost(platform, job_id: str, params: dict) -> None:
    LOST.append((job_id, params))


def _marker_job(run: JobRun) -> dict:
    RAN.add(run.params["token"])
    return {"ran": run.params["token"]}


class JobsPlugin:
    @hookimpl
    def cityai_job_kinds(self) -> list[JobKind]:
        return [
            JobKind("test.progress", ("Thử tiến độ", "Progress test"), _progress_job, retries=0, on_lost=_on_lost),
            JobKind("test.flaky", ("Thử lại", "Flaky test"), _flaky_job, retries=2, retry_delay=0),
            JobKind("test.broken", ("Luôn lỗi", "Broken test"), _broken_job, retries=2, retry_delay=0),
            JobKind("test.loop", ("Vòng lặp", "Loop test"), _loop_job, retries=0),
            JobKind("test.marker", ("Đánh dấu", "Marker test"), _marker_job, retries=0),
        ]


# ------------------------------------------------------------------ fixtures and helpers


def _settings(home: Path, queue_url: str) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{home / 'cityai.db'}", secret_key="test-secret",
                    log_json=False, queue_url=queue_url, job_retry_delay=0)


@pytest.fixture
def platform(request, tmp_path, sqlite_template) -> Iterator[Platform]:
    """A platform with the test job kinds; ``indirect`` parametrization picks the queue (sqlite|redis)."""
    queue = getattr(request, "param", "sqlite")
    if queue == "redis" and (reason := redis_unavailable()):
        pytest.skip(reason)
    shutil.copy(sqlite_template, tmp_path / "cityai.db")
    queue_url = REDIS_URL if queue == "redis" else f"sqlite:///{tmp_path / 'queue.db'}"
    p = Platform(_settings(tmp_path, queue_url), plugins=[JobsPlugin()], load_entry_points=False)
    if queue == "redis":
        # The Redis database is shared by every test process running at once (pytest -n): give this
        # platform a queue of its own name in it and empty that queue, instead of flushing the database.
        p.huey = RedisHuey(f"cityai-test-{uuid.uuid4().hex[:12]}", url=REDIS_URL)
        p.run_job_task = jobs.register_task(p)
        p.huey.flush()
    p.startup()
    yield p
    for gate in GATES.values():
        gate.set()
    p.stop_worker()
    if queue == "redis":
        p.huey.flush()
    p.close()


BOTH_QUEUES = pytest.mark.parametrize("platform", ["sqlite", "redis"], indirect=True)


def actor_for(platform: Platform, email: str) -> Actor:
    with platform.transaction() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
        return Actor.for_user(user, kind="web")


@pytest.fixture
def owner(platform) -> Actor:
    """One ordinary user (no password, so no slow password hashing) to own the lifecycle tests' jobs."""
    from cityai.core import identity

    with platform.system_context() as ctx:
        user = identity.user_create(ctx, email="owner@test.local", full_name="Chủ Công Việc")
        user_id = user.id
    with platform.transaction() as db:
        return Actor.for_user(db.get(User, user_id), kind="web")


def submit(platform: Platform, actor: Actor, kind: str, **params: Any) -> str:
    with platform.unit_of_work(actor) as ctx:
        return jobs.submit(ctx, kind=kind, params=params).id


def load(platform: Platform, job_id: str) -> Job:
    with platform.transaction() as db:
        return db.get(Job, job_id)


def wait_until(platform: Platform, job_id: str, done: Callable[[Job], bool], timeout: float = WAIT_S) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = load(platform, job_id)
        if done(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not get there within {timeout} s: status={job.status} "
                        f"progress={job.progress} attempts={job.attempts} error={job.error}")
        time.sleep(0.05)


def wait_final(platform: Platform, job_id: str, timeout: float = WAIT_S) -> Job:
    return wait_until(platform, job_id, lambda j: j.status in FINAL, timeout)


def token() -> str:
    return uuid.uuid4().hex


# ------------------------------------------------------------------ lifecycle, on both queues


@BOTH_QUEUES
def test_job_reports_progress_and_stores_result(platform, owner):
    member = owner
    t = token()
    GATES[t] = threading.Event()
    job_id = submit(platform, member, "test.progress", token=t)
    job = load(platform, job_id)
    assert (job.status, job.progress, job.attempts, job.owner_id) == ("queued", 0.0, 0, owner.user_id)

    platform.start_worker()
    job = wait_until(platform, job_id, lambda j: j.progress == 50)
    assert (job.status, job.message) == ("running", "halfway")
    assert job.started_at is not None and job.finished_at is None
    GATES[t].set()

    job = wait_final(platform, job_id)
    assert job.status == "succeeded", job.error
    assert job.progress == 100
    assert job.result == {"answer": 42, "token": t}
    assert job.attempts == 1
    assert job.finished_at is not None and job.finished_at >= job.started_at


@BOTH_QUEUES
def test_job_retried_until_it_succeeds(platform, owner):
    job_id = submit(platform, owner, "test.flaky")
    assert load(platform, job_id).max_retries == 2
    platform.start_worker()
    job = wait_final(platform, job_id)
    assert job.status == "succeeded", job.error
    assert job.attempts == 3
    assert job.result == {"attempt": 3}


@BOTH_QUEUES
def test_job_that_always_fails_ends_failed(platform, owner):
    t = token()
    job_id = submit(platform, owner, "test.broken", token=t)
    platform.start_worker()
    job = wait_final(platform, job_id)
    assert job.status == "failed"
    assert job.error == f"ValueError: always broken {t}"
    assert job.attempts == job.max_retries + 1 == 3
    assert job.result is None
    assert job.finished_at is not None


@BOTH_QUEUES
def test_cancelled_queued_job_never_runs(platform, owner):
    member = owner
    t_cancelled, t_after = token(), token()
    job_id = submit(platform, member, "test.marker", token=t_cancelled)  # no worker yet: it waits
    with platform.unit_of_work(member) as ctx:
        job = jobs.cancel(ctx, job_id=job_id)
        assert job.status == "cancelled"

    # One worker thread takes tasks in order: once a job submitted later has run, the cancelled one
    # has been taken off the queue (and skipped) before it.
    platform.start_worker(threads=1)
    after_id = submit(platform, member, "test.marker", token=t_after)
    assert wait_final(platform, after_id).status == "succeeded"
    assert t_after in RAN
    assert t_cancelled not in RAN
    job = load(platform, job_id)
    assert (job.status, job.attempts, job.started_at) == ("cancelled", 0, None)
    assert job.finished_at is not None


@BOTH_QUEUES
def test_cancel_running_job(platform, owner):
    member = owner
    t = token()
    STARTED[t] = threading.Event()
    job_id = submit(platform, member, "test.loop", token=t)
    platform.start_worker()
    assert STARTED[t].wait(WAIT_S), "the job did not start"
    assert load(platform, job_id).status == "running"

    with platform.unit_of_work(member) as ctx:
        job = jobs.cancel(ctx, job_id=job_id)
        assert job.status == "running" and job.cancel_requested  # asked to stop at its next report

    job = wait_final(platform, job_id)
    assert job.status == "cancelled"
    assert job.error is None
    assert job.message == "Đã hủy / Cancelled"
    assert 0 < job.progress < 100
    with pytest.raises(Problem) as exc:  # a finished job cannot be cancelled again
        with platform.unit_of_work(member) as ctx:
            jobs.cancel(ctx, job_id=job_id)
    assert exc.value.status == 409


# ------------------------------------------------------------------ the core's job kinds, over HTTP


def _audit_count(platform: Platform) -> int:
    with platform.transaction() as db:
        return db.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def _wait_http(client, headers, job_id: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while True:
        r = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in FINAL:
            return r.json()
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {r.json()['status']} after {WAIT_S} s")
        time.sleep(0.05)


def test_audit_verify_job(client, platform, users):
    root = login(client, users.sysadmin)
    before = _audit_count(platform)
    platform.start_worker()
    r = client.post("/api/v1/jobs", headers=root, json={"kind": "audit.verify"})
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["kind"]) == ("queued", "audit.verify")
    job = _wait_http(client, root, r.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["ok"] is True
    assert job["result"]["first_bad_seq"] is None
    assert job["result"]["checked"] >= before
    assert job["progress"] == 100


def test_audit_export_job_and_download(client, platform, users):
    root = login(client, users.sysadmin)
    before = _audit_count(platform)
    platform.start_worker()
    r = client.post("/api/v1/jobs", headers=root, json={"kind": "audit.export"})
    assert r.status_code == 202, r.text
    job = _wait_http(client, root, r.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    key = job["result"]["file"]
    assert platform.storage.exists(key)
    with platform.storage.open(key) as fh:
        data = fh.read()
    assert job["result"]["bytes"] == len(data)

    lines = data.decode("utf-8").splitlines()
    assert len(lines) == job["result"]["entries"] >= before  # one JSON line per entry
    prev = GENESIS
    for i, line in enumerate(lines, start=1):
        e = json.loads(line)
        assert e["seq"] == i and e["prev_hash"] == prev
        assert entry_hash({**e, "detail": canonical(e["detail"])}) == e["hash"]
        prev = e["hash"]

    r = client.get(f"/api/v1/jobs/{job['id']}/file", headers=root)
    assert r.status_code == 200
    assert r.content == data
    assert "attachment" in r.headers["content-disposition"]
    assert client.get(f"/api/v1/jobs/{job['id']}/file", headers=login(client, users.admin)).status_code == 403

    r = client.post("/api/v1/jobs", headers=root, json={"kind": "audit.export", "params": {"since_seq": -1}})
    assert r.status_code == 422


# ------------------------------------------------------------------ who may do what


def test_only_owner_or_sysadmin_sees_and_cancels(client, platform, users):
    member = login(client, users.member)
    r = client.post("/api/v1/jobs", headers=member, json={"kind": "test.marker",
                                                          "params": {"token": token()}})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["owner_id"] == users.ids[users.member]

    for email in (users.outsider, users.editor, users.admin):  # not the owner, not sysadmin
        other = login(client, email)
        r = client.get(f"/api/v1/jobs/{job_id}", headers=other)
        assert r.status_code == 403, (email, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=other).status_code == 403
        assert client.get(f"/api/v1/jobs/{job_id}/file", headers=other).status_code == 403
        assert job_id not in [j["id"] for j in client.get("/api/v1/jobs", headers=other).json()["items"]]
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401
    assert load(platform, job_id).status == "queued"

    root = login(client, users.sysadmin)
    assert client.get(f"/api/v1/jobs/{job_id}", headers=root).status_code == 200
    listed = client.get("/api/v1/jobs?everyone=true", headers=root).json()["items"]
    assert job_id in [j["id"] for j in listed]
    assert client.get(f"/api/v1/jobs/{job_id}", headers=member).json()["status"] == "queued"
    assert job_id in [j["id"] for j in client.get("/api/v1/jobs", headers=member).json()["items"]]

    r = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=member)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"

    r = client.post("/api/v1/jobs", headers=member, json={"kind": "test.marker",
                                                          "params": {"token": token()}})
    other_id = r.json()["id"]
    r = client.post(f"/api/v1/jobs/{other_id}/cancel", headers=root)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_unknown_kind_is_a_422_problem(client, platform, users):
    member = login(client, users.member)
    r = client.post("/api/v1/jobs", headers=member, json={"kind": "no.such.kind"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == "/problems/validation-error"
    assert body["status"] == 422
    assert {"audit.verify", "audit.export", "test.marker"} <= set(body["available"])
    with platform.transaction() as db:
        assert db.execute(select(func.count()).select_from(Job)).scalar_one() == 0


def test_non_sysadmin_may_not_submit_audit_jobs(client, platform, users):
    for kind in ("audit.verify", "audit.export"):
        for email in (users.admin, users.member):
            r = client.post("/api/v1/jobs", headers=login(client, email), json={"kind": kind})
            assert r.status_code == 403, r.text
            assert r.json()["operation"] == "job.submit"
        with pytest.raises(Problem) as exc:
            submit(platform, actor_for(platform, users.admin), kind)
        assert exc.value.status == 403
    with platform.transaction() as db:
        assert db.execute(select(func.count()).select_from(Job)).scalar_one() == 0


# ------------------------------------------------------------------ `cityai worker` as its own process


def test_cityai_worker_process_runs_jobs(platform, tmp_path):
    settings = platform.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYAI_")}
    env.update(CITYAI_HOME=str(settings.home), CITYAI_DATABASE_URL=settings.effective_database_url,
               CITYAI_QUEUE_URL=settings.effective_queue_url, CITYAI_SECRET_KEY="test-secret",
               CITYAI_LOG_JSON="false", CITYAI_WORKER_THREADS="1")
    exe = Path(sys.executable).with_name("cityai")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "cityai"]
    log_path = tmp_path / "worker.log"
    from cityai.core import identity

    with platform.system_context() as ctx:
        identity.user_create(ctx, email="root@test.local", full_name="Quản Trị", is_sysadmin=True)
    root = actor_for(platform, "root@test.local")
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd + ["worker"], env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                cwd=str(tmp_path))
        try:
            job_id = submit(platform, root, "audit.verify")  # a core kind: the worker process knows it
            deadline = time.monotonic() + 60
            while (job := load(platform, job_id)).status not in FINAL:
                if proc.poll() is not None:
                    pytest.fail(f"the worker exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"job still {job.status}; worker log: {log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            assert job.status == "succeeded", job.error
            assert job.result["ok"] is True and job.result["checked"] > 0
            assert job.attempts == 1
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    assert "CityAI worker" in log_path.read_text()


# ------------------------------------------------------------------ review regressions


def test_job_param_named_ctx_is_not_a_500(client, platform, users):
    """Params reach the kind's auth function as keywords; one called "ctx" used to be a TypeError."""
    r = client.post("/api/v1/jobs", headers=login(client, users.member),
                    json={"kind": "audit.verify", "params": {"ctx": 1}})
    assert r.status_code == 403, r.text
    assert r.json()["operation"] == "job.submit"
    r = client.post("/api/v1/jobs", headers=login(client, users.member),
                    json={"kind": "test.marker", "params": {"ctx": 1, "token": token()}})
    assert r.status_code == 202, r.text


def test_downloading_a_job_file_is_audited(client, platform, users):
    root = login(client, users.sysadmin)
    key = f"exports/audit/test-{token()}.jsonl"
    platform.storage.put(key, b'{"seq":1}\n')
    job_id = uuid.uuid4().hex
    with platform.transaction(write=True) as db:
        db.add(Job(id=job_id, kind="audit.export", title="Xuất", owner_id=users.ids[users.sysadmin], params={},
                   status="succeeded", progress=100.0, result={"file": key}))
    r = client.get(f"/api/v1/jobs/{job_id}/file", headers=root)
    assert r.status_code == 200 and r.content == b'{"seq":1}\n'
    with platform.transaction() as db:
        entries = db.execute(select(AuditEntry).where(AuditEntry.action == "job.file")).scalars().all()
    assert [(e.object_type, e.object_id, e.actor, e.outcome) for e in entries] == [
        ("job", job_id, users.sysadmin, "success")]
    assert json.loads(entries[0].detail) == {"file": key}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_cancel_racing_the_worker_start_is_not_lost(backend, settings):
    """PostgreSQL: a cancel that arrives while the worker is starting the job must not report
    "cancelled" for a job that then runs. (SQLite write transactions are serialized already.)"""
    from sqlalchemy import text

    from tests.conftest import postgres_unavailable

    if reason := postgres_unavailable():
        pytest.skip(reason)
    p = Platform(settings, plugins=[JobsPlugin()], load_entry_points=False)
    p.startup(migrate=False)
    try:
        tok = token()
        with p.system_context() as ctx:
            job_id = jobs.submit(ctx, kind="test.marker", params={"token": tok}).id
        seen: dict[str, Any] = {}

        def cancel() -> None:
            with p.system_context() as ctx:
                seen["status"] = jobs.cancel(ctx, job_id=job_id).status

        class Racing(dict):
            """execute() looks the kind up after reading the job row: the cancel comes in right then."""

            def get(self, key, default=None):
                seen["thread"] = t = threading.Thread(target=cancel)
                t.start()
                for _ in range(500):  # until the cancel has finished or waits on a lock
                    if not t.is_alive():
                        break
                    with p.engine.connect() as c:
                        if c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                          "AND datname = current_database()")).scalar():
                            break
                    time.sleep(0.01)
                return super().get(key, default)

        p.job_kinds = Racing(p.job_kinds)
        jobs.execute(p, job_id)
        seen["thread"].join(WAIT_S)
        job = load(p, job_id)
        assert tok in RAN  # the worker had already taken the job
        assert seen["status"] == "running", "the caller was told the job was cancelled, but it ran"
        assert job.cancel_requested and job.status == "succeeded"
    finally:
        p.close()


# ------------------------------------------------------------------ heartbeat and lost workers


def test_running_job_heartbeat_keeps_it_from_being_recovered(platform, owner):
    platform.settings.job_heartbeat_s = 0.05
    t = token()
    GATES[t] = threading.Event()
    job_id = submit(platform, owner, "test.progress", token=t)
    platform.start_worker()
    first = wait_until(platform, job_id, lambda j: j.status == "running" and j.heartbeat_at is not None)
    later = wait_until(platform, job_id, lambda j: j.heartbeat_at > first.heartbeat_at)
    assert later.status == "running"
    # a live worker's job is not "lost", even with a short threshold
    assert jobs.recover_lost(platform, lost_after_s=5) == []
    GATES[t].set()
    assert wait_final(platform, job_id).status == "succeeded"


def test_job_of_a_dead_worker_is_marked_failed_and_its_kind_cleans_up(platform, owner):
    """A job left 'running' with a stale heartbeat (its process was killed) ends failed; on_lost runs once."""
    import datetime as dt

    t = token()
    job_id = submit(platform, owner, "test.progress", token=t)
    fresh_id = submit(platform, owner, "test.progress", token=token())
    stale = jobs.utcnow() - dt.timedelta(seconds=600)
    with platform.transaction(write=True) as db:  # what a SIGKILLed worker leaves behind
        for jid, beat in ((job_id, stale), (fresh_id, jobs.utcnow())):
            job = db.get(Job, jid)
            job.status, job.attempts, job.started_at, job.heartbeat_at = "running", 1, stale, beat
    LOST.clear()
    assert jobs.recover_lost(platform, lost_after_s=300) == [job_id]
    job = load(platform, job_id)
    assert job.status == "failed" and job.finished_at is not None
    assert "heartbeat" in job.error and "mất tín hiệu" in job.error
    assert LOST == [(job_id, {"token": t})]
    assert load(platform, fresh_id).status == "running"  # its heartbeat is recent
    assert jobs.recover_lost(platform, lost_after_s=300) == []  # idempotent: nothing left to recover
