"""Blob storage (atomic writes, safe keys, URL dispatch) and settings (home, database URL, secret key)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cityai.core.config import Settings
from cityai.core.db import is_sqlite, make_engine, normalize_url
from cityai.core.jobs import make_huey
from cityai.core.platform import Platform
from cityai.core.storage import FileStore, InvalidKey, open_store

# ------------------------------------------------------------------ FileStore


class FailingStream:
    """A stream that yields one chunk, then fails as a dropped upload or a full disk would."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls == 1:
            return b"NEW CONTENT, PART ONE"
        raise OSError("connection reset while reading the upload")


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and (p.name.startswith(".tmp-") or p.suffix == ".part")]


def test_filestore_roundtrip(tmp_path):
    store = FileStore(tmp_path / "files")
    csv = "mã,tên\n1,Sở Y tế\n".encode()
    assert store.put("reports/2025/q1.csv", csv) == len(csv)
    assert store.exists("reports/2025/q1.csv")
    with store.open("reports/2025/q1.csv") as fh:
        assert fh.read().decode() == "mã,tên\n1,Sở Y tế\n"
    big = os.urandom((1 << 20) * 2 + 17)  # more than one read chunk

    class Stream:
        def __init__(self, data: bytes) -> None:
            self.data, self.pos = data, 0

        def read(self, n: int) -> bytes:
            chunk = self.data[self.pos:self.pos + n]
            self.pos += len(chunk)
            return chunk

    assert store.put("blobs/big.bin", Stream(big)) == len(big)
    assert store.local_path("blobs/big.bin").read_bytes() == big
    assert list(store.list()) == ["blobs/big.bin", "reports/2025/q1.csv"]
    assert list(store.list("reports")) == ["reports/2025/q1.csv"]
    store.delete("blobs/big.bin")
    assert not store.exists("blobs/big.bin")
    store.delete("blobs/big.bin")  # deleting a missing key is not an error
    store.check()
    assert list(store.list()) == ["reports/2025/q1.csv"]


def test_filestore_put_is_atomic(tmp_path):
    root = tmp_path / "files"
    store = FileStore(root)
    store.put("reports/a.txt", b"old content")

    stream = FailingStream()
    with pytest.raises(OSError, match="connection reset"):
        store.put("reports/a.txt", stream)
    assert stream.calls == 2  # it did write part of the new content before failing
    with store.open("reports/a.txt") as fh:
        assert fh.read() == b"old content"
    assert list(store.list()) == ["reports/a.txt"]
    assert temp_files(root) == []

    # A failed first write of a new key leaves no object at all.
    with pytest.raises(OSError):
        store.put("reports/b.txt", FailingStream())
    assert not store.exists("reports/b.txt")
    assert list(store.list()) == ["reports/a.txt"]
    assert temp_files(root) == []


def test_filestore_list_hides_leftover_temp_files(tmp_path):
    root = tmp_path / "files"
    store = FileStore(root)
    store.put("x/data.bin", b"1")
    (root / "x" / ".tmp-crashed.part").write_bytes(b"half")  # e.g. left by a killed process
    assert list(store.list()) == ["x/data.bin"]


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/abs", "/etc/passwd", "", "a//b", "./a", "a/./b",
                                 "a/"])
def test_filestore_refuses_unsafe_keys(tmp_path, key):
    root = tmp_path / "files"
    store = FileStore(root)
    for call in (lambda: store.put(key, b"evil"), lambda: store.open(key), lambda: store.exists(key),
                 lambda: store.delete(key), lambda: store.local_path(key)):
        with pytest.raises(InvalidKey):
            call()
    assert issubclass(InvalidKey, ValueError)
    assert not (tmp_path / "x").exists()
    assert list(store.list()) == []


def test_open_store_by_url(tmp_path):
    store = open_store(f"file://{tmp_path / 'blobs'}")
    assert isinstance(store, FileStore)
    store.put("k", b"v")
    assert (tmp_path / "blobs" / "k").read_bytes() == b"v"
    plain = open_store(str(tmp_path / "plain"))  # a bare path is a local folder
    assert isinstance(plain, FileStore) and plain.root == tmp_path / "plain"


@pytest.mark.parametrize("url", ["s3://bucket/prefix", "gs://bucket", "ftp://host/dir"])
def test_open_store_unknown_scheme(url):
    scheme = url.split("://")[0]
    with pytest.raises(ValueError) as exc:
        open_store(url)
    message = str(exc.value)
    assert f"'{scheme}'" in message and "file" in message


# ------------------------------------------------------------------ Settings


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No CITYAI_* variables from the caller's environment, and the working directory in tmp_path."""
    for name in list(os.environ):
        if name.startswith("CITYAI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_home_defaults_to_var_resolved(clean_env, tmp_path):
    s = Settings()
    assert s.home == (tmp_path / "var").resolve()
    assert s.home.is_absolute()
    assert s.effective_database_url == f"sqlite:///{s.home / 'cityai.db'}"
    assert is_sqlite(s.effective_database_url)
    assert s.effective_storage_url == f"file://{s.home / 'files'}"
    assert s.effective_queue_url == f"sqlite:///{s.home / 'queue.db'}"


def test_home_from_environment_is_expanded_and_resolved(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path / "user"))
    clean_env.setenv("CITYAI_HOME", "~/cityai-data")
    assert Settings().home == (tmp_path / "user" / "cityai-data").resolve()
    clean_env.setenv("CITYAI_HOME", "rel/dir")
    assert Settings().home == (tmp_path / "rel" / "dir").resolve()


def test_default_database_is_created_under_home(clean_env, tmp_path):
    clean_env.setenv("CITYAI_SECRET_KEY", "k")
    p = Platform(Settings(), load_entry_points=False)
    try:
        p.migrate()
    finally:
        p.close()
    assert (tmp_path / "var" / "cityai.db").is_file()


def test_secret_key_generated_once_with_mode_0600(clean_env, tmp_path):
    home = tmp_path / "home"
    key = Settings(home=home).effective_secret_key
    path = home / "secret_key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert len(key) >= 40
    # Reused, by later settings objects and other processes alike.
    assert Settings(home=home).effective_secret_key == key
    assert sorted(p.name for p in home.iterdir()) == ["secret_key"]  # no temporary file left

    code = "from cityai.core.config import Settings; print(Settings().effective_secret_key)"
    env = {**os.environ, "CITYAI_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == key, out.stderr


def test_secret_key_race_between_processes(clean_env, tmp_path):
    home = tmp_path / "race"
    code = "from cityai.core.config import Settings; print(Settings().effective_secret_key)"
    env = {**os.environ, "CITYAI_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(keys) == 1 and "" not in keys
    assert (home / "secret_key").read_text().strip() in keys


def test_configured_secret_key_is_used_and_not_written(clean_env, tmp_path):
    clean_env.setenv("CITYAI_SECRET_KEY", "configured-secret")
    clean_env.setenv("CITYAI_HOME", str(tmp_path / "h"))
    s = Settings()
    assert s.effective_secret_key == "configured-secret"
    assert not (tmp_path / "h" / "secret_key").exists()


@pytest.mark.parametrize("url", ["postgresql://cityai:pw@db.local:5432/cityai",
                                 "postgres://cityai@db.local/cityai"])
def test_postgresql_urls_use_psycopg(clean_env, tmp_path, url):
    normalized = normalize_url(url)
    assert normalized.startswith("postgresql+psycopg://")
    assert normalized.split("://", 1)[1] == url.split("://", 1)[1]
    assert not is_sqlite(url)
    engine = make_engine(url)  # builds the engine without connecting
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    finally:
        engine.dispose()
    p = Platform(Settings(home=tmp_path, database_url=url, secret_key="k"), load_entry_points=False)
    try:
        assert not p.is_sqlite
        assert p.engine.dialect.driver == "psycopg"
    finally:
        p.close()
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "mssql+pyodbc://u@h/db", "oracle://u@h/db"])
def test_unsupported_database_scheme(clean_env, tmp_path, url):
    with pytest.raises(ValueError) as exc:
        make_engine(url)
    message = str(exc.value)
    assert "Unsupported database URL" in message
    assert "sqlite" in message and "postgresql" in message
    with pytest.raises(ValueError, match="Unsupported database URL"):
        Platform(Settings(home=tmp_path, database_url=url, secret_key="k"), load_entry_points=False)


def test_unsupported_queue_scheme(tmp_path):
    with pytest.raises(ValueError, match="Unsupported queue URL"):
        make_huey("amqp://rabbit/")
    assert type(make_huey(f"sqlite:///{tmp_path / 'q.db'}")).__name__ == "SqliteHuey"


# ------------------------------------------------------------------ migrations (review regression)

REBUILD_MIGRATION = '''"""widen user_account.full_name (a table rebuild on SQLite)

Revision ID: {rev}
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = None
branch_labels = ("{rev}_branch",)
depends_on = "0001_core"


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.alter_column("full_name", type_=sa.String(250), existing_type=sa.String(200),
                              existing_nullable=False)


def downgrade() -> None:
    pass
'''


def test_migration_rebuilding_a_table_keeps_the_rows_that_refer_to_it(platform, users, tmp_path):
    """On SQLite a batch migration copies the table, DROPs it and renames the copy; with foreign keys
    on, that DROP cascaded into memberships (and tokens), deleting them all."""
    import uuid

    from sqlalchemy import func, select

    from cityai.core import db as dbmod, identity
    from cityai.core.context import Actor
    from cityai.core.models import ApiToken, Membership, User

    with platform.system_context() as ctx:
        identity.login(ctx, users.member, "Test-Password-123")
    versions = tmp_path / "rebuild_versions"
    versions.mkdir()
    rev = "rebuild_" + uuid.uuid4().hex[:12]
    (versions / f"{rev}.py").write_text(REBUILD_MIGRATION.format(rev=rev))

    def counts() -> tuple[int, int, int]:
        with platform.transaction() as db:
            return tuple(db.execute(select(func.count()).select_from(m)).scalar_one()
                         for m in (User, Membership, ApiToken))

    before = counts()
    assert before[1] >= 4 and before[2] == 1
    dbmod.migrate(platform.engine, platform.migration_dirs() + [str(versions)])
    assert counts() == before
    with platform.engine.connect() as conn:
        applied = set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
        assert rev in applied
        if platform.is_sqlite:  # and the pooled connection got its foreign keys back
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with platform.unit_of_work(Actor.system()) as ctx:  # still enforced: a membership needs its user
        ctx.db.add(Membership(user_id=10_000, agency_id=users.dept, role="member"))
        with pytest.raises(Exception, match="(?i)foreign key"):
            ctx.db.flush()
        ctx.db.rollback()
