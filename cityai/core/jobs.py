"""Background jobs on huey (SQLite queue embedded, Redis in production).

A module declares a :class:`JobKind` (through the ``cityai_job_kinds`` hook): its name, the function
that does the work, who may start it, and how often to retry. ``job.submit`` records a ``job`` row and,
once that row is committed, enqueues one huey task for it; the worker runs the kind's function with a
:class:`JobRun` that reports progress (percent + message), notices cancellation and returns a result.
Retries are huey's (``task.retries``/``retry_delay``); status, progress, result and error live in the
``job`` table, so the API and the UI read them the same on every queue backend.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from sqlalchemy import select

from cityai.core import authz
from cityai.core.context import Actor, Context
from cityai.core.db import utcnow
from cityai.core.errors import Text, invalid, invalid_state, not_found
from cityai.core.models import Job, User
from cityai.core.text import nfc

if TYPE_CHECKING:  # pragma: no cover
    from cityai.core.platform import Platform

log = logging.getLogger("cityai.jobs")

STATUSES = ("queued", "running", "retrying", "succeeded", "failed", "cancelled")
FINAL = {"succeeded", "failed", "cancelled"}
STATUS_LABELS = {
    "queued": ("Đang chờ", "Queued"),
    "running": ("Đang chạy", "Running"),
    "retrying": ("Đang thử lại", "Retrying"),
    "succeeded": ("Hoàn thành", "Succeeded"),
    "failed": ("Thất bại", "Failed"),
    "cancelled": ("Đã hủy", "Cancelled"),
}
JOB = ("công việc", "job")


class JobCancelled(Exception):
    """Raised inside a job when someone cancelled it; the job ends as ``cancelled``."""


@dataclass(frozen=True)
class JobKind:
    name: str
    title: Text
    run: Callable[[JobRun], dict | None]
    auth: Callable[..., bool] = authz.authenticated
    retries: int | None = None  # None: the CITYAI_JOB_RETRIES setting
    retry_delay: int | None = None
    validate: Callable[[dict], None] | None = None
    # Called (platform, job_id, params) when a running job's worker is found dead (no heartbeat):
    # undo or mark what the job left half-done. Errors are logged, never raised.
    on_lost: Callable[[Any, str, dict], None] | None = None


@dataclass
class JobRun:
    """What a job function gets: its parameters, progress reporting and cancellation."""

    platform: Platform
    job_id: str
    kind: str
    params: dict[str, Any]
    owner_id: int | None
    attempt: int
    _last_write: float = field(default=0.0)

    def progress(self, percent: float, message: str | None = None, *, force: bool = False) -> None:
        """Record progress (0-100). Writes at most twice a second; raises JobCancelled if cancelled."""
        now = time.monotonic()
        if not force and percent < 100 and now - self._last_write < 0.5:
            return
        self._last_write = now
        with self.platform.transaction(write=True) as db:
            job = db.get(Job, self.job_id)
            if job is None:
                raise JobCancelled()
            job.progress = max(0.0, min(100.0, float(percent)))
            if message is not None:
                job.message = message[:2000]
            cancelled = job.cancel_requested
        if cancelled:
            raise JobCancelled()

    def check_cancelled(self) -> None:
        with self.platform.transaction() as db:
            requested = db.execute(select(Job.cancel_requested).where(Job.id == self.job_id)).scalar()
        if requested is None or requested:
            raise JobCancelled()

    def actor(self) -> Actor:
        if self.owner_id is None:
            return Actor.system()
        with self.platform.transaction() as db:
            user = db.get(User, self.owner_id)
            if user is None or not user.is_active:
                raise PermissionError("the job's owner no longer exists or is deactivated")
            return Actor.for_user(user, kind="job")

    def unit_of_work(self, write: bool = True):
        """A Context acting as the job's owner, with the owner's permissions."""
        return self.platform.unit_of_work(self.actor(), write=write)


# ------------------------------------------------------------------ queue


def make_huey(url: str, name: str = "cityai") -> Huey:
    if url.startswith("redis://") or url.startswith("rediss://"):
        return RedisHuey(name, url=url)
    if url.startswith("sqlite:///"):
        from pathlib import Path

        path = Path(url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path))
    if url == "memory://":
        from huey import MemoryHuey

        return MemoryHuey(name)
    raise ValueError(f"Unsupported queue URL {url!r}: use sqlite:///PATH or redis://HOST:PORT/DB")


class EmbeddedConsumer(Consumer):
    """A consumer that runs inside the web server's process: it leaves signal handling to uvicorn."""

    def _set_signal_handlers(self) -> None:  # noqa: D401
        pass


def register_task(platform: Platform) -> Any:
    huey = platform.huey

    @huey.task(name="cityai.run_job")
    def run_job(job_id: str) -> None:
        execute(platform, job_id)

    @huey.periodic_task(crontab(minute="*/15"), name="cityai.maintenance")
    def maintenance() -> None:
        prune(platform)

    @huey.periodic_task(crontab(minute="*"), name="cityai.periodic")
    def periodic() -> None:
        try:
            recover_lost(platform)
        except Exception:  # noqa: BLE001 - logged; the next minute tries again
            log.exception("recovering lost jobs failed")
        run_periodic(platform)

    return run_job


def run_periodic(platform: Platform) -> list[str]:
    """Call every module's ``cityai_periodic`` hook, each on its own: one failing never stops the others.

    Returns the names of the plugins whose hook failed (they are logged too).
    """
    failed: list[str] = []
    for impl in platform.pm.hook.cityai_periodic.get_hookimpls():
        try:
            impl.function(**({"platform": platform} if "platform" in impl.argnames else {}))
        except Exception:  # noqa: BLE001 - logged; the next minute tries again
            log.exception("periodic hook failed", extra={"plugin": impl.plugin_name})
            failed.append(impl.plugin_name)
    return failed


def prune(platform: Platform) -> dict[str, int]:
    """Housekeeping: forget old failed logins and long-expired login/web session tokens."""
    import datetime as dt

    from sqlalchemy import delete

    from cityai.core.models import ApiToken, LoginAttempt

    now = utcnow()
    window = dt.timedelta(seconds=platform.settings.login_window_seconds)
    with platform.transaction(write=True) as db:
        attempts = db.execute(delete(LoginAttempt).where(LoginAttempt.at < now - 2 * window)).rowcount
        tokens = db.execute(delete(ApiToken).where(ApiToken.kind.in_(("access", "web")),
                                                   ApiToken.expires_at < now - dt.timedelta(days=7))).rowcount
    return {"login_attempts": attempts or 0, "tokens": tokens or 0}


def execute(platform: Platform, job_id: str) -> None:
    with platform.transaction(write=True) as db:
        # Locked, so that a cancel racing this start (PostgreSQL) waits and then sees "running".
        job = db.get(Job, job_id, with_for_update=True)
        if job is None:
            log.warning("job %s vanished before it ran", job_id)
            return
        if job.cancel_requested or job.status in FINAL:
            if job.status not in FINAL:
                job.status, job.finished_at = "cancelled", utcnow()
            return
        kind = platform.job_kinds.get(job.kind)
        if kind is None:
            job.status, job.error, job.finished_at = "failed", f"unknown job kind {job.kind!r}", utcnow()
            return
        job.status, job.attempts = "running", job.attempts + 1
        job.started_at = job.started_at or utcnow()
        job.heartbeat_at = utcnow()
        run = JobRun(platform, job.id, job.kind, dict(job.params or {}), job.owner_id, job.attempts)
        retries_left = job.max_retries - (job.attempts - 1)
    log.info("job started", extra={"job_id": job_id, "kind": run.kind, "attempt": run.attempt})
    heart = _Heartbeat(platform, job_id, platform.settings.job_heartbeat_s)
    try:
        with heart:
            result = kind.run(run)
    except JobCancelled:
        _finish(platform, job_id, "cancelled", message="Đã hủy / Cancelled")
        return
    except Exception as exc:  # noqa: BLE001 - a job's failure is data, recorded for its owner
        error = f"{type(exc).__name__}: {exc}"
        log.warning("job failed", extra={"job_id": job_id, "error": error,
                                         "trace": traceback.format_exc(limit=5)})
        if retries_left > 0:
            _finish(platform, job_id, "retrying", error=error, final=False)
            raise  # huey schedules the retry
        _finish(platform, job_id, "failed", error=error)
        return
    _finish(platform, job_id, "succeeded", result=result or {})


class _Heartbeat:
    """A daemon thread that touches ``job.heartbeat_at`` while the job runs in this process.

    If the process dies (killed, out of memory, machine lost), the heartbeat stops and
    :func:`recover_lost` later marks the job failed and lets its kind clean up.
    """

    def __init__(self, platform: Platform, job_id: str, every_s: float) -> None:
        self.platform, self.job_id, self.every_s = platform, job_id, max(0.05, float(every_s))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"job-heartbeat-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with self.platform.transaction(write=True) as db:
                    job = db.get(Job, self.job_id)
                    if job is None or job.status != "running":
                        return
                    job.heartbeat_at = utcnow()
            except Exception:  # noqa: BLE001 - a missed beat is retried; only a long silence counts
                log.warning("job heartbeat failed", extra={"job_id": self.job_id}, exc_info=True)


T_LOST = ("Tiến trình xử lý đã dừng giữa chừng (mất tín hiệu {s:g} giây); công việc được đánh dấu thất bại.",
          "The worker stopped mid-job (no heartbeat for {s:g} s); the job is marked failed.")


def recover_lost(platform: Platform, *, lost_after_s: float | None = None) -> list[str]:
    """Mark running jobs whose worker went silent as failed and call their kind's ``on_lost``.

    Run by the worker's periodic task every minute (any live worker recovers any dead one's jobs).
    Returns the ids of the jobs it marked.
    """
    after = platform.settings.job_lost_after_s if lost_after_s is None else lost_after_s
    cutoff = utcnow() - dt.timedelta(seconds=after)
    lost: list[tuple[str, str, dict]] = []
    with platform.transaction(write=True) as db:
        rows = db.execute(select(Job).where(Job.status == "running").with_for_update()).scalars().all()
        for job in rows:
            beat = job.heartbeat_at or job.started_at or job.created_at
            if beat is None or beat >= cutoff:
                continue
            job.status, job.finished_at = "failed", utcnow()
            job.error = f"{T_LOST[0].format(s=after)} / {T_LOST[1].format(s=after)}"
            lost.append((job.id, job.kind, dict(job.params or {})))
    for job_id, kind_name, params in lost:
        log.warning("job lost: worker stopped", extra={"job_id": job_id, "kind": kind_name})
        kind = platform.job_kinds.get(kind_name)
        if kind is not None and kind.on_lost is not None:
            try:
                kind.on_lost(platform, job_id, params)
            except Exception:  # noqa: BLE001 - the job is already marked; the clean-up is best effort
                log.exception("on_lost failed", extra={"job_id": job_id, "kind": kind_name})
    return [j for j, _k, _p in lost]


def _finish(platform: Platform, job_id: str, status: str, *, result: dict | None = None,
            error: str | None = None, message: str | None = None, final: bool = True) -> None:
    with platform.transaction(write=True) as db:
        job = db.get(Job, job_id)
        if job is None:
            return
        job.status = status
        if result is not None:
            job.result = result
        if error is not None:
            job.error = error[:4000]
        if message is not None:
            job.message = message
        if status == "succeeded":
            job.progress = 100.0
            job.error = None  # an earlier attempt's error; `attempts` still shows it was retried
        if final:
            job.finished_at = utcnow()


# ------------------------------------------------------------------ actions


def to_dict(job: Job, locale: str = "vi") -> dict[str, Any]:
    i = 1 if locale == "en" else 0
    return {
        "id": job.id,
        "kind": job.kind,
        "title": job.title,
        "status": job.status,
        "status_label": STATUS_LABELS[job.status][i],
        "progress": round(job.progress or 0.0, 1),
        "message": job.message,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "max_retries": job.max_retries,
        "owner_id": job.owner_id,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _own_or_sysadmin(ctx: Context, *, job_id: str, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    if ctx.actor.is_sysadmin:
        return True
    owner = ctx.db.execute(select(Job.owner_id).where(Job.id == job_id)).scalar()
    return owner is None or owner == ctx.actor.user_id  # unknown ids fall through to 404


def _may_submit(ctx: Context, *, kind: str, **kw: Any) -> bool:
    spec = ctx.platform.job_kinds.get(kind)
    if spec is None:
        return not ctx.actor.is_anonymous  # reported as an invalid kind by the action itself
    params = kw.get("params") or {}
    # The job's params reach the auth function as keywords; a param named "ctx" must not collide.
    return bool(spec.auth(ctx, **{k: v for k, v in params.items() if k != "ctx"}))


@authz.action("job.submit", scope="write", auth=_may_submit)
def submit(ctx: Context, *, kind: str, params: dict[str, Any] | None = None, title: str | None = None,
           agency_id: int | None = None) -> Job:
    """Start a background job of a registered kind."""
    spec = ctx.platform.job_kinds.get(kind)
    if spec is None:
        raise invalid((f"Không có loại công việc '{kind}'.", f"No job kind '{kind}'."),
                      available=sorted(ctx.platform.job_kinds))
    params = params or {}
    if spec.validate:
        spec.validate(params)
    settings = ctx.platform.settings
    job = Job(
        id=uuid.uuid4().hex,
        kind=kind,
        title=(nfc(title) or spec.title[1 if ctx.locale == "en" else 0])[:300],
        owner_id=ctx.actor.user_id,
        agency_id=agency_id,
        params=params,
        status="queued",
        progress=0.0,
        max_retries=settings.job_retries if spec.retries is None else spec.retries,
    )
    ctx.db.add(job)
    ctx.db.flush()
    ctx.audit("job.submit", "job", job.id, kind=kind)
    delay = settings.job_retry_delay if spec.retry_delay is None else spec.retry_delay
    ctx.platform.after_commit(ctx.db, lambda: ctx.platform.enqueue(job.id, job.max_retries, delay))
    return job


@authz.action("job.list", scope="read", auth=authz.authenticated)
def list_jobs(ctx: Context, *, limit: int = 50, offset: int = 0, status: str | None = None,
              everyone: bool = False) -> tuple[list[Job], int]:
    """List jobs: your own, or everyone's for a system administrator."""
    from sqlalchemy import func

    q = select(Job)
    if not (everyone and ctx.actor.is_sysadmin):
        q = q.where(Job.owner_id == ctx.actor.user_id)
    if status:
        q = q.where(Job.status == status)
    total = ctx.db.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = ctx.db.execute(q.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)).scalars().all()
    return list(rows), total


@authz.action("job.show", scope="read", auth=_own_or_sysadmin)
def show(ctx: Context, *, job_id: str) -> Job:
    """One job with its status, progress, result or error."""
    job = ctx.db.get(Job, job_id)
    if job is None:
        raise not_found(JOB, job_id)
    return job


@authz.action("job.cancel", scope="write", auth=_own_or_sysadmin)
def cancel(ctx: Context, *, job_id: str) -> Job:
    """Cancel a queued job, or ask a running one to stop at its next progress report."""
    job = ctx.db.get(Job, job_id, with_for_update=True)  # see execute(): a worker may be starting it
    if job is None:
        raise not_found(JOB, job_id)
    if job.status in FINAL:
        raise invalid_state((f"Công việc đã kết thúc ({STATUS_LABELS[job.status][0]}).",
                             f"The job has already ended ({job.status})."))
    job.cancel_requested = True
    if job.status == "queued":
        job.status, job.finished_at = "cancelled", utcnow()
        ctx.platform.after_commit(ctx.db, lambda: ctx.platform.huey.revoke_by_id(job_id))
    ctx.audit("job.cancel", "job", job_id)
    return job
