"""Shared fixtures: a platform on SQLite or PostgreSQL, the app, a client, users with roles.

Tests that take the ``backend`` parameter run once per database. PostgreSQL tests use the server at
``CITYAI_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) and skip,
saying why, when it does not answer. Each test gets a fresh database: a copy of a migrated template.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text

from cityai.core.config import Settings
from cityai.core.platform import Platform

PG_URL = os.environ.get("CITYAI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CITYAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "Test-Password-123"

_pg_status: str | None = None


def postgres_unavailable() -> str | None:
    """None when the test PostgreSQL server answers, else the reason to skip."""
    global _pg_status
    if _pg_status is None:
        try:
            import psycopg  # noqa: F401

            eng = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"),
                                connect_args={"connect_timeout": 3})
            with eng.connect() as c:
                c.execute(text("SELECT 1"))
            eng.dispose()
            _pg_status = ""
        except Exception as exc:  # noqa: BLE001
            _pg_status = f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {exc}"[:300]
    return _pg_status or None


def redis_unavailable() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}: {exc}"[:300]


def _pg_admin():
    return create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")


def _db_url(name: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite database file, copied for each test."""
    home = tmp_path_factory.mktemp("sqlite-template")
    p = Platform(Settings(home=home, secret_key="test-secret"), load_entry_points=False)
    p.migrate()
    p.close()
    return home / "cityai.db"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    name = f"cityai_tpl_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    p = Platform(Settings(home=Path("/tmp") / name, secret_key="test-secret", database_url=_db_url(name)),
                 load_entry_points=False)
    p.migrate()
    p.close()
    yield name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    shutil.rmtree(Path("/tmp") / name, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    if request.param == "postgresql" and (reason := postgres_unavailable()):
        pytest.skip(reason)
    return request.param


@pytest.fixture
def database_url(backend, tmp_path, request) -> Iterator[str]:
    if backend == "sqlite":
        target = tmp_path / "cityai.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"cityai_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _db_url(name)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(home=tmp_path, database_url=database_url, secret_key="test-secret", log_json=False,
                    queue_url=f"sqlite:///{tmp_path / 'queue.db'}", job_retry_delay=0,
                    argon2_time_cost=1, argon2_memory_kib=1024)


@pytest.fixture
def platform(settings) -> Iterator[Platform]:
    p = Platform(settings, load_entry_points=False)
    p.startup(migrate=False)  # the database is a copy of a migrated template
    yield p
    p.close()


@pytest.fixture
def app(platform):
    from cityai.web.app import create_app

    return create_app(platform, run_worker=False)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class Users:
    """Demo-like agencies and one user per role, for role-based tests."""

    city: int
    dept: int  # a Sở under the city
    division: int  # a phòng under the Sở
    other_dept: int
    sysadmin: str
    admin: str  # admin of dept
    editor: str  # editor of dept
    member: str  # member of dept
    outsider: str  # member of other_dept
    ids: dict[str, int]


@pytest.fixture
def users(platform) -> Users:
    from cityai.core import identity

    with platform.system_context() as ctx:
        city = identity.agency_create(ctx, code="hcmc", name="Thành phố Hồ Chí Minh", kind="city")
        dept = identity.agency_create(ctx, code="skhcn", name="Sở Khoa học và Công nghệ", kind="department",
                                      parent_id=city.id)
        div = identity.agency_create(ctx, code="skhcn.cds", name="Phòng Chuyển đổi số", kind="division",
                                     parent_id=dept.id)
        other = identity.agency_create(ctx, code="syt", name="Sở Y tế", kind="department", parent_id=city.id)
        ids = {}
        for email, agency, role, sysadmin in [
            ("root@test.local", None, "member", True),
            ("admin@test.local", dept.id, "admin", False),
            ("editor@test.local", dept.id, "editor", False),
            ("member@test.local", dept.id, "member", False),
            ("outsider@test.local", other.id, "member", False),
        ]:
            u = identity.user_create(ctx, email=email, full_name=email.split("@")[0].title(), password=PASSWORD,
                                     agency_id=agency, role=role, is_sysadmin=sysadmin)
            ids[email] = u.id
    return Users(city.id, dept.id, div.id, other.id, "root@test.local", "admin@test.local", "editor@test.local",
                 "member@test.local", "outsider@test.local", ids)


def login(client, email: str, password: str = PASSWORD) -> dict[str, str]:
    """Authorization headers for a user, through the public token endpoint."""
    r = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
