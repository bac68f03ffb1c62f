"""The ``cityai`` command line contract, run as the installed command in subprocesses.

serve, worker, migrate, create-admin, audit and demo exist; migrate creates the database and can run
again; create-admin creates or resets the administrator and refuses weak passwords with a message,
not a stack trace; demo load creates the real HCMC agencies and one user per role once, printing the
logins once and keeping them in a 0600 file; serve --demo serves those logins; audit export writes
JSON lines; settings come from CITYAI_* variables, CITYAI_DATABASE_URL included (PostgreSQL).
"""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import uuid
from pathlib import Path

import pytest

from tests.conftest import _db_url, _pg_admin, postgres_unavailable
from tests.serverproc import ADMIN_EMAIL, ADMIN_PASSWORD, SECRET_KEY, Server, cityai_env, run_cli

CRED_LINE = re.compile(r"^\s+(\S+@\S+)\s+(\S+)\s+\((.+)\)\s*$")
DEMO_AGENCIES = {
    "Sở Khoa học và Công nghệ", "Sở Y tế", "Sở Giáo dục và Đào tạo", "Sở Xây dựng", "Công an Thành phố",
    "Phường Sài Gòn", "Phường Bến Thành",
}


def _ok(r) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def _no_traceback(r) -> None:
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "cityai.db")


def _counts(home: Path) -> dict[str, int]:
    with _db(home) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("agency", "user_account", "membership", "audit_log")}


def _create_admin_in_process(home: Path, email: str, password: str) -> None:
    """Setup through the service layer the command calls (no second interpreter start-up)."""
    from cityai.core import identity
    from cityai.core.config import Settings
    from cityai.core.platform import Platform

    platform = Platform(Settings(home=home, secret_key=SECRET_KEY, database_url=None, queue_url=None,
                                 storage_url=None), load_entry_points=False)
    try:
        platform.startup()
        with platform.system_context() as ctx:
            identity.create_admin(ctx, email, password)
    finally:
        platform.close()


def _credentials(text: str) -> list[tuple[str, str, str]]:
    return [m.groups() for line in text.splitlines() if (m := CRED_LINE.match(line))]


def test_help_lists_the_commands(tmp_path):
    r = run_cli(["--help"], cityai_env(tmp_path))
    _ok(r)
    commands = r.stdout.split("Commands:", 1)[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert listed >= {"serve", "worker", "migrate", "create-admin", "audit", "demo"}, listed
    assert not (tmp_path / "cityai.db").exists()  # --help touches nothing


def test_migrate_creates_the_database_and_is_idempotent(tmp_path):
    home = tmp_path / "new-home"  # does not exist yet
    env = cityai_env(home)
    r = run_cli(["migrate"], env)
    _ok(r)
    assert "up to date" in r.stdout
    assert (home / "cityai.db").is_file()
    with _db(home) as c:
        tables = {row[0] for row in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = sorted(row[0] for row in c.execute("SELECT version_num FROM alembic_version"))
    assert {"agency", "user_account", "membership", "api_token", "audit_log", "audit_head", "job"} <= tables
    assert versions

    r = run_cli(["migrate"], env)
    _ok(r)
    with _db(home) as c:
        assert {row[0] for row in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == tables
        assert sorted(row[0] for row in c.execute("SELECT version_num FROM alembic_version")) == versions
    assert _counts(home) == {"agency": 0, "user_account": 0, "membership": 0, "audit_log": 0}


def test_create_admin_resets_the_password_of_a_running_instance(tmp_path):
    new_password = "Mat-khau-Moi-2026"
    with Server(tmp_path / "home") as server:  # runs create-admin first
        assert server.token(ADMIN_EMAIL, ADMIN_PASSWORD).status == 200
        r = run_cli(["create-admin", "--email", ADMIN_EMAIL.upper(), "--password", new_password], server.env)
        _ok(r)
        assert r.stdout.startswith("Updated system administrator " + ADMIN_EMAIL), r.stdout
        assert server.token(ADMIN_EMAIL, ADMIN_PASSWORD).status == 401  # the old password stops working
        headers = server.bearer(ADMIN_EMAIL, new_password)
        me = server.get("/api/v1/me", headers=headers)
        assert me.status == 200 and me.json()["is_sysadmin"] is True
    with _db(server.home) as c:
        # A reset, not a second account.
        assert c.execute("SELECT count(*) FROM user_account").fetchone()[0] == 1
        actions = [row[0] for row in c.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions[0] == "user.create" and "user.update" in actions


def test_create_admin_refuses_bad_input_with_a_message(tmp_path):
    env = cityai_env(tmp_path)
    r = run_cli(["create-admin", "--email", "a@so.local", "--password", "short"], env)
    assert r.returncode != 0
    _no_traceback(r)
    assert "at least 10 characters" in r.stderr and "ít nhất 10 ký tự" in r.stderr, r.stderr
    assert not r.stdout.startswith(("Created", "Updated"))

    r = run_cli(["create-admin", "--email", "not-an-email", "--password", ADMIN_PASSWORD], env)
    assert r.returncode != 0
    _no_traceback(r)
    assert "e-mail" in r.stderr.lower(), r.stderr

    assert _counts(tmp_path)["user_account"] == 0

    # A weak password does not replace a good one either.
    _create_admin_in_process(tmp_path, "a@so.local", ADMIN_PASSWORD)
    with _db(tmp_path) as c:
        before = c.execute("SELECT password_hash FROM user_account").fetchone()[0]
    r = run_cli(["create-admin", "--email", "a@so.local", "--password", "123"], env)
    assert r.returncode != 0
    _no_traceback(r)
    assert "at least 10 characters" in r.stderr
    with _db(tmp_path) as c:
        assert c.execute("SELECT password_hash FROM user_account").fetchone()[0] == before


def test_demo_load_creates_hcmc_agencies_and_users_once(tmp_path):
    env = cityai_env(tmp_path)
    r = run_cli(["demo", "load"], env)
    _ok(r)
    printed = _credentials(r.stderr + r.stdout)
    emails = {email for email, _pw, _label in printed}
    assert len(printed) == len(emails) >= 5, r.stderr
    labels = " ".join(label for _e, _p, label in printed)
    assert "system administrator" in labels
    for role in ("admin", "editor", "member"):
        assert f"{role} of" in labels, labels

    path = tmp_path / "demo-credentials.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = path.read_text(encoding="utf-8")
    assert _credentials(saved) == printed

    with _db(tmp_path) as c:
        names = {row[0] for row in c.execute("SELECT name FROM agency")}
        kinds = {row[0] for row in c.execute("SELECT kind FROM agency")}
        roles = {row[0] for row in c.execute("SELECT role FROM membership")}
        sysadmins = c.execute("SELECT count(*) FROM user_account WHERE is_sysadmin").fetchone()[0]
        db_emails = {row[0] for row in c.execute("SELECT email FROM user_account")}
        skhcn_parent = c.execute("SELECT p.name FROM agency a JOIN agency p ON p.id = a.parent_id "
                                 "WHERE a.name = 'Sở Khoa học và Công nghệ'").fetchone()
    assert DEMO_AGENCIES <= names, DEMO_AGENCIES - names
    assert {"city", "department", "ward"} <= kinds
    assert skhcn_parent and "Thành phố Hồ Chí Minh" in skhcn_parent[0]
    assert roles == {"admin", "editor", "member"}
    assert sysadmins == 1
    assert emails == db_emails

    counts = _counts(tmp_path)
    r = run_cli(["demo", "load"], env)
    _ok(r)
    assert _credentials(r.stderr + r.stdout) == []  # the logins are printed once
    assert "already loaded" in r.stderr
    assert _counts(tmp_path) == counts  # nothing new, not even audit entries
    assert path.read_text(encoding="utf-8") == saved


def test_serve_demo_prints_logins_that_work(tmp_path):
    with Server(tmp_path / "home", admin=None, args=["--demo"]) as server:
        printed = _credentials(server.log())
        assert len(printed) >= 5, server.log()[-3000:]
        assert stat.S_IMODE((server.home / "demo-credentials.txt").stat().st_mode) == 0o600
        for email, password, label in printed:
            me = server.get("/api/v1/me", headers=server.bearer(email, password))
            assert me.status == 200 and me.json()["email"] == email
            if label == "system administrator":
                assert me.json()["is_sysadmin"] is True
            else:
                role, _of, code = label.split(" ", 2)
                held = [a["role"] for a in me.json()["agencies"] if a["code"] == code]
                assert held == [role], (label, me.json())
        assert server.token(printed[0][0], printed[0][1] + "x").status == 401
    # SIGTERM stops it gracefully: the app and its embedded worker shut down.
    assert server.proc is None
    assert "Application shutdown complete" in server.log()


def test_audit_export_writes_json_lines(tmp_path):
    env = cityai_env(tmp_path)
    _create_admin_in_process(tmp_path, ADMIN_EMAIL, ADMIN_PASSWORD)
    _create_admin_in_process(tmp_path, ADMIN_EMAIL, ADMIN_PASSWORD + "!")
    out = tmp_path / "export" / "audit.jsonl"
    out.parent.mkdir()
    r = run_cli(["audit", "export", "-o", str(out)], env)
    _ok(r)
    lines = out.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert len(entries) == 2 and f"Exported {len(entries)} entries" in r.stderr
    assert [e["action"] for e in entries] == ["user.create", "user.update"]
    assert entries[0]["detail"]["email"] == ADMIN_EMAIL
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert all(set(e) >= {"seq", "at", "actor", "action", "outcome", "hash", "prev_hash"} for e in entries)


@pytest.mark.postgres
def test_database_url_from_env_selects_postgresql(tmp_path):
    if reason := postgres_unavailable():
        pytest.skip(reason)
    from sqlalchemy import create_engine, text

    name = f"cityai_cli_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = _db_url(name)
        env = cityai_env(tmp_path, CITYAI_DATABASE_URL=url)
        _ok(run_cli(["migrate"], env))
        # create-admin starts by migrating again: idempotent on PostgreSQL too.
        r = run_cli(["create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD], env)
        _ok(r)
        assert r.stdout.startswith("Created")
        assert not (tmp_path / "cityai.db").exists()  # the SQLite default was not used
        eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with eng.connect() as c:
                row = c.execute(text("SELECT email, is_sysadmin FROM user_account")).one()
                assert tuple(row) == (ADMIN_EMAIL, True)
                assert c.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() >= 1
                assert c.execute(text("SELECT action FROM audit_log")).scalars().all() == ["user.create"]
        finally:
            eng.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_agency_create_and_list(tmp_path):
    env = cityai_env(tmp_path)
    r = run_cli(["agency", "create", "--code", "sxd", "--name", "Sở Xây dựng", "--kind", "department"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().isdigit()
    r = run_cli(["agency", "create", "--code", "sxd.gt", "--name", "Phòng Giao thông", "--kind", "division",
                 "--parent", "sxd"], env)
    assert r.returncode == 0, r.stderr
    # the same code again: a message, not a traceback
    r = run_cli(["agency", "create", "--code", "sxd", "--name", "Khác", "--kind", "department"], env)
    assert r.returncode != 0 and "sxd" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(["agency", "list"], env)
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert "sxd\tdepartment\tSở Xây dựng" in lines and "sxd.gt\tdivision\tPhòng Giao thông" in lines
