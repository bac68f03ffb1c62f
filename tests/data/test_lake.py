"""The lake: uploads become versions, published atomically; failures and crashes leave the old one served."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import select

from cityai.core import jobs
from cityai.core.context import Actor
from cityai.core.models import AuditEntry, Job
from cityai.data import catalog, datastore
from cityai.data.models import Resource, ResourceVersion

SYSTEM = Actor.system()


@pytest.fixture
def resource(platform):
    from cityai.core import identity

    with platform.system_context() as ctx:
        agency = identity.agency_create(ctx, code="snnmt", name="Sở Nông nghiệp và Môi trường", kind="department")
        catalog.dataset_create(ctx, name="khong-khi", owner_id=agency.id, title="Không khí", visibility="public")
        return catalog.resource_create(ctx, dataset="khong-khi", name="Đo PM2.5", format="csv").id


def upload(platform, resource_id: str, data: bytes, filename: str = "pm25.csv", run: bool = True) -> ResourceVersion:
    with platform.system_context() as ctx:
        v = catalog.resource_upload(ctx, resource_id=resource_id, stream=io.BytesIO(data), filename=filename)
        version_id, job_id = v.id, v.job_id
    if run:
        jobs.execute(platform, job_id)
    with platform.transaction() as db:
        return db.get(ResourceVersion, version_id)


def search(platform, resource_id: str, **kw) -> dict:
    with platform.unit_of_work(Actor.anonymous(), write=False) as ctx:
        return datastore.datastore_search(ctx, resource_id=resource_id, **kw)


def current(platform, resource_id: str) -> ResourceVersion | None:
    with platform.transaction() as db:
        res = db.get(Resource, resource_id)
        return db.get(ResourceVersion, res.current_version_id) if res.current_version_id else None


def test_upload_ingests_and_publishes_a_version(platform, resource):
    v1 = upload(platform, resource, "ma;pm25;ngay\n26734;35,5;01/07/2025\n26737;41;02/07/2025\n".encode())
    assert v1.status == "ready" and v1.number == 1 and v1.encoding == "utf-8"
    assert v1.tables[0]["rows"] == 2 and [c["type"] for c in v1.tables[0]["columns"]] == ["integer", "number", "date"]
    assert current(platform, resource).id == v1.id
    found = search(platform, resource, sort="pm25 desc")
    assert [r["pm25"] for r in found["records"]] == [41.0, 35.5] and found["total"] == 2
    with platform.transaction() as db:
        job = db.get(Job, v1.job_id)
        actions = list(db.execute(select(AuditEntry.action).where(AuditEntry.object_id == resource)).scalars())
    assert job.status == "succeeded" and job.progress == 100.0 and job.result["tables"][0]["rows"] == 2
    assert actions[-2:] == ["resource.upload", "resource.publish"]


def test_a_failed_ingest_leaves_the_previous_version_served(platform, resource):
    v1 = upload(platform, resource, b"a,b\n1,2\n3,4\n")
    v2 = upload(platform, resource, b"a,b\n1,2\n3,4,5\n")
    assert v2.status == "failed" and "line 3" in v2.error and "dòng 3" in v2.error
    assert current(platform, resource).id == v1.id
    assert search(platform, resource)["total"] == 2
    with platform.transaction() as db:
        assert db.get(Job, v2.job_id).status == "failed"
    v3 = upload(platform, resource, b"a,b\n5,6\n")
    assert v3.number == 3 and current(platform, resource).id == v3.id and search(platform, resource)["total"] == 1


def test_unpublished_version_is_invisible_until_its_job_runs(platform, resource):
    upload(platform, resource, b"a\n1\n")
    pending = upload(platform, resource, b"a\n1\n2\n3\n", run=False)
    assert pending.status == "pending" and search(platform, resource)["total"] == 1
    jobs.execute(platform, pending.job_id)
    assert search(platform, resource)["total"] == 3


def test_steward_schema_edit_applies_to_the_next_ingest(platform, resource):
    upload(platform, resource, b"ma,so\n001,5\n002,6\n")
    assert search(platform, resource)["records"][0]["ma"] == "001"
    with platform.system_context() as ctx:
        catalog.resource_update(ctx, resource_id=resource, schema_overrides={"ma": "integer"})
    v = upload(platform, resource, b"ma,so\n001,5\n002,6\n")
    cols = {c["name"]: c for c in v.tables[0]["columns"]}
    assert cols["ma"]["type"] == "integer" and cols["ma"]["inferred"] == "text"
    assert search(platform, resource)["records"][0]["ma"] == 1


KILL_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from cityai.core import jobs
    from cityai.core.config import Settings
    from cityai.core.platform import Platform

    home, db, queue, job_id = sys.argv[1:5]
    p = Platform(Settings(home=Path(home), database_url=db, secret_key="test-secret", queue_url=queue,
                          log_json=False), load_entry_points=False)
    p.startup(migrate=False)
    jobs.execute(p, job_id)
""")


def test_killing_the_worker_mid_ingest_leaves_the_previous_version(platform, resource, settings):
    v1 = upload(platform, resource, b"so\n1\n2\n")
    big = "so,ten,ngay\n" + "".join(f"{i},Phường {i % 168},0{i % 9 + 1}/07/2025\n" for i in range(1_500_000))
    v2 = upload(platform, resource, big.encode(), run=False)
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(settings.home), settings.database_url,
                             settings.queue_url, v2.job_id], env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with platform.transaction() as db:
                status = db.get(ResourceVersion, v2.id).status
            if status == "ingesting" or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert status == "ingesting", "the worker never started the ingest"
        time.sleep(0.3)  # inside the transcode / DuckDB pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    with platform.transaction() as db:
        assert db.get(ResourceVersion, v2.id).status == "ingesting"  # never published
    assert current(platform, resource).id == v1.id
    assert search(platform, resource)["total"] == 2
    # a live worker's periodic sweep finds the dead job (its heartbeat stopped) and marks the version failed
    assert jobs.recover_lost(platform, lost_after_s=0) == [v2.job_id]
    with platform.transaction() as db:
        lost = db.get(ResourceVersion, v2.id)
        assert lost.status == "failed" and "previous version is still served" in lost.error
        assert db.get(Job, v2.job_id).status == "failed"
    assert current(platform, resource).id == v1.id
    v3 = upload(platform, resource, b"so\n7\n8\n9\n")  # the next upload works as usual
    assert v3.status == "ready" and current(platform, resource).id == v3.id


def test_upload_over_the_size_limit_is_refused_while_streaming(platform, resource, request):
    """A multipart upload past CITYAI_MAX_UPLOAD_BYTES is answered 413 as it streams; no version is made."""
    from tests.conftest import login

    platform.settings.max_upload_bytes = 2 * 1024 * 1024
    client = request.getfixturevalue("client")  # the app is built with the small limit
    request.getfixturevalue("users")
    headers = login(client, "root@test.local")
    v1 = upload(platform, resource, b"so\n1\n2\n")
    boundary = "cityaiboundary"
    sent = {"bytes": 0}

    def body():  # 8 MiB of rows, produced on the fly: the client never holds the file either
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"big.csv\"\r\n"
               "Content-Type: text/csv\r\n\r\nso\n").encode()
        chunk = b"123456\n" * 16384
        for _ in range(75):
            sent["bytes"] += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post(f"/api/v1/data/resources/{resource}/upload", headers={
        **headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}, content=body())
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    with platform.transaction() as db:
        numbers = [v.number for v in db.execute(select(ResourceVersion).where(
            ResourceVersion.resource_id == resource)).scalars()]
    assert numbers == [1] and current(platform, resource).id == v1.id
