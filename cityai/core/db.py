"""Database engine, sessions and migrations: SQLAlchemy 2 on SQLite (embedded) or PostgreSQL.

The same models and queries run on both. SQLite is tuned for a server (WAL, busy timeout, foreign
keys) and every transaction starts with ``BEGIN IMMEDIATE`` so that read-then-write sequences such as
appending to the audit hash chain are serialized instead of failing with "database is locked".
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which has no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def normalize_url(url: str) -> str:
    """Map the URL schemes people write to the SQLAlchemy drivers CityAI ships with."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalize_url(url)
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised everywhere
            # Let SQLAlchemy emit BEGIN itself (see _begin_immediate below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # Write units of work (and migrations) take the write lock at BEGIN, so a
            # read-then-write inside them can never fail half way with "database is locked".
            immediate = conn.get_execution_options().get("cityai_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if backend == "postgresql":
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    raise ValueError(
        f"Unsupported database URL scheme {u.drivername!r}: use sqlite:///PATH or postgresql://..."
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --------------------------------------------------------------------------- migrations

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str, version_locations: list[str] | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(MIGRATIONS_DIR / "versions"), *(version_locations or [])]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["cityai_url"] = normalize_url(url)
    return cfg


def migrate(engine: Engine, version_locations: list[str] | None = None) -> None:
    """Bring the schema to the newest revision of every module (``alembic upgrade heads``).

    Concurrent starts (server and worker) are serialized with an advisory lock on PostgreSQL and
    by SQLite's own write lock.
    """
    from alembic import command

    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)), version_locations)
    with engine.connect().execution_options(cityai_immediate=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(724011)"))
            conn.commit()
        elif conn.dialect.name == "sqlite":
            # Batch migrations rebuild a table (copy, DROP, rename); with foreign keys on, the DROP
            # would cascade into the tables that refer to it (memberships, tokens, ...). The pragma
            # only works outside a transaction, so it is set on the driver's connection before BEGIN.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(724011)"))
                conn.commit()
            elif conn.dialect.name == "sqlite":
                if conn.in_transaction():
                    conn.rollback()
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # before it is pooled


def current_heads(engine: Engine, version_locations: list[str] | None = None) -> tuple[set[str], set[str]]:
    """(head revisions in the code that the database has, head revisions in the code).

    A module's branch depends on the core's, so the database records only the module's head; the
    core's counts as applied when it is an ancestor of an applied revision.
    """
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = alembic_config(str(engine.url), version_locations)
    script = ScriptDirectory.from_config(cfg)
    with engine.connect() as conn:
        applied = tuple(MigrationContext.configure(conn).get_current_heads())
    heads = set(script.get_heads())
    reached = {r.revision for r in script.iterate_revisions(applied, "base")} if applied else set()
    return heads & reached, heads
