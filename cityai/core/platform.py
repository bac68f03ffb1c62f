"""The platform object: settings, database, storage, queue and plugins, built once per process."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from sqlalchemy import event
from sqlalchemy.orm import Session

from cityai.core import audit, hooks, jobs
from cityai.core import db as dbmod
from cityai.core.config import Settings, set_settings
from cityai.core.context import Actor, Context
from cityai.core.storage import open_store

log = logging.getLogger("cityai")


class Platform:
    def __init__(self, settings: Settings, *, plugins: list[Any] | None = None,
                 load_entry_points: bool = True) -> None:
        settings.ensure_home()
        self.settings = settings
        set_settings(settings)  # library code without a platform at hand (model files) reads these
        if settings.argon2_time_cost or settings.argon2_memory_kib:
            from cityai.core.security import configure_hasher

            configure_hasher(settings.argon2_time_cost, settings.argon2_memory_kib)
        self.pm = hooks.make_plugin_manager(plugins, load_entry_points=load_entry_points)
        self.database_url = settings.effective_database_url
        self.is_sqlite = dbmod.is_sqlite(self.database_url)
        self.engine = dbmod.make_engine(self.database_url)
        self._read_sessions = dbmod.make_sessionmaker(self.engine)
        if self.is_sqlite:
            # Write units of work take SQLite's write lock when they begin (BEGIN IMMEDIATE);
            # read-only ones use plain deferred transactions so readers run side by side.
            write_engine = self.engine.execution_options(cityai_immediate=True)
            self._write_sessions = dbmod.make_sessionmaker(write_engine)
        else:
            self._write_sessions = self._read_sessions
        for factory in {self._read_sessions, self._write_sessions}:
            event.listen(factory, "after_commit", self._after_commit)
            event.listen(factory, "after_rollback", self._after_rollback)
        self.storage = open_store(settings.effective_storage_url)
        self.huey = jobs.make_huey(settings.effective_queue_url, settings.queue_name)
        self.run_job_task = jobs.register_task(self)
        self.job_kinds: dict[str, jobs.JobKind] = {}
        for kind in hooks.collect(self.pm.hook.cityai_job_kinds()):
            self.job_kinds[kind.name] = kind
        self._consumer: jobs.EmbeddedConsumer | None = None
        self._started = False
        self._lock = threading.Lock()

    # ----------------------------------------------------------- lifecycle

    def migration_dirs(self) -> list[str]:
        return hooks.collect(self.pm.hook.cityai_migration_dirs())

    def migrate(self) -> None:
        dbmod.migrate(self.engine, self.migration_dirs())

    def startup(self, *, migrate: bool = True) -> None:
        with self._lock:
            if self._started:
                return
            if migrate:
                self.migrate()
            self.pm.hook.cityai_startup(platform=self)
            self._started = True

    def start_worker(self, threads: int | None = None) -> jobs.EmbeddedConsumer:
        if self._consumer is None:
            self._consumer = jobs.EmbeddedConsumer(
                self.huey, workers=threads or self.settings.worker_threads, worker_type="thread",
                periodic=True, check_worker_health=True, max_delay=1.0,
            )
            self._consumer.start()
            log.info("embedded job worker started", extra={"threads": self._consumer.workers})
            self._services = hooks.collect(self.pm.hook.cityai_services(platform=self))
        return self._consumer

    def stop_worker(self) -> None:
        for service in self.__dict__.pop("_services", []):
            try:
                service.stop()
            except Exception:  # noqa: BLE001 - one service failing to stop must not keep the others running
                log.exception("background service did not stop cleanly")
        if self._consumer is not None:
            self._consumer.stop(graceful=True)
            self._consumer = None

    def close(self) -> None:
        self.stop_worker()
        self.engine.dispose()

    # ----------------------------------------------------------- units of work

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Session]:
        factory = self._write_sessions if write else self._read_sessions
        with dbmod.transaction(factory) as session:
            session.info["write"] = write
            yield session

    @contextmanager
    def unit_of_work(self, actor: Actor, *, write: bool = True, ip: str | None = None,
                     request_id: str | None = None, locale: str = "vi") -> Iterator[Context]:
        """A Context whose session commits on success and rolls back on error.

        Audit entries that must outlive a rollback (refusals) are written afterwards in a
        transaction of their own.
        """
        ctx: Context | None = None
        try:
            with self.transaction(write=write) as session:
                ctx = Context(self, session, actor, ip=ip, request_id=request_id, locale=locale)
                yield ctx
        finally:
            if ctx is not None and (ctx.pending_audit or ctx.deferred_writes):
                self._write_deferred(ctx)

    def _write_deferred(self, ctx: Context) -> None:
        pending, ctx.pending_audit = ctx.pending_audit, []
        writes, ctx.deferred_writes = ctx.deferred_writes, []
        try:
            with self.transaction(write=True) as session:
                for fn in writes:
                    fn(session)
                for item in pending:
                    audit.append(session, actor=ctx.actor, ip=ctx.ip, request_id=ctx.request_id, **item)
        except Exception:  # noqa: BLE001 - never mask the original outcome
            log.exception("could not write deferred audit entries", extra={"entries": pending})

    def write_audit(self, ctx: Context, item: dict[str, Any]) -> None:
        with self.transaction(write=True) as session:
            audit.append(session, actor=ctx.actor, ip=ctx.ip, request_id=ctx.request_id, **item)

    def system_context(self, write: bool = True):
        return self.unit_of_work(Actor.system(), write=write)

    def after_commit(self, session: Session, fn: Callable[[], Any]) -> None:
        """Run ``fn`` once ``session``'s transaction has committed (e.g. enqueue a job for a new row)."""
        session.info.setdefault("cityai_after_commit", []).append(fn)

    def _after_commit(self, session: Session) -> None:
        callbacks = session.info.pop("cityai_after_commit", [])
        entries = session.info.pop("cityai_audit_new", [])
        for fn in callbacks:
            fn()
        for entry in entries:
            try:
                self.pm.hook.cityai_audit_event(entry=entry)
            except Exception:  # noqa: BLE001
                log.exception("audit event hook failed")

    def _after_rollback(self, session: Session) -> None:
        if session.in_nested_transaction():
            # A savepoint rolled back (SQLAlchemy fires this for those too): the outer transaction goes on and
            # keeps what it queued. Callbacks queued inside the savepoint run anyway; they must cope with a
            # missing row (jobs do: an unknown job id is skipped).
            return
        session.info.pop("cityai_after_commit", None)
        session.info.pop("cityai_audit_new", None)

    # ----------------------------------------------------------- jobs

    def enqueue(self, job_id: str, retries: int, retry_delay: int) -> None:
        task = self.run_job_task.s(job_id)
        task.id = job_id
        task.retries = retries
        task.retry_delay = retry_delay
        self.huey.enqueue(task)
