"""The audit trail (truy vết): append-only, hash-chained, verifiable, exportable.

Each entry's ``hash`` is SHA-256 over its canonical JSON, which includes ``prev_hash`` (the hash of
the entry before) and ``seq`` (1, 2, 3, ... with no gaps). Altering any field breaks that entry's
hash; deleting an entry breaks the sequence and the next entry's ``prev_hash``; cutting off the tail
disagrees with the ``audit_head`` row. Database triggers refuse UPDATE and DELETE on ``audit_log``.

Appends lock ``audit_head`` (``SELECT ... FOR UPDATE`` on PostgreSQL, the write lock on SQLite) so
concurrent writers extend the chain one at a time, and they join the caller's transaction: a change
and its audit entry commit or roll back together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityai.core import authz
from cityai.core.context import Actor, Context
from cityai.core.models import AuditEntry, AuditHead

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq", "at", "actor_id", "actor", "action", "object_type", "object_id",
    "outcome", "ip", "request_id", "detail", "prev_hash",
)


def canonical(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: fields[k] for k in HASHED_FIELDS}).encode("utf-8")).hexdigest()


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append(
    db: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str | None = None,
    object_id: str | None = None,
    outcome: str = "success",
    ip: str | None = None,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    head = db.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    fields = {
        "seq": head.seq + 1,
        "at": _now_iso(),
        "actor_id": actor.user_id,
        "actor": actor.label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "outcome": outcome,
        "ip": ip,
        "request_id": request_id,
        "detail": canonical(detail or {}),
        "prev_hash": head.hash,
    }
    fields["hash"] = entry_hash(fields)
    entry = AuditEntry(**fields)
    db.add(entry)
    head.seq = fields["seq"]
    head.hash = fields["hash"]
    db.flush()
    db.info.setdefault("cityai_audit_new", []).append(to_dict(entry))
    return entry


def record_denied(ctx: Context, operation: str, object_id: str | None) -> None:
    """Note a refused operation; it is written after the caller's transaction rolls back."""
    ctx.pending_audit.append(
        dict(action=operation, object_id=object_id, outcome="denied", detail={"reason": "forbidden"})
    )


def to_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "seq": e.seq,
        "at": e.at,
        "actor_id": e.actor_id,
        "actor": e.actor,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "outcome": e.outcome,
        "ip": e.ip,
        "request_id": e.request_id,
        "detail": json.loads(e.detail) if e.detail else {},
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


# ------------------------------------------------------------------ verification


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def verify_chain(db: Session, progress: Callable[[int, int], None] | None = None,
                 batch: int = 5000) -> VerifyResult:
    """Walk the chain in order; report the first entry that was altered, removed or reordered."""
    total = db.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    while True:
        rows = db.execute(
            select(AuditEntry).where(AuditEntry.seq >= expected_seq).order_by(AuditEntry.seq).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for e in rows:
            fields = {k: getattr(e, k) for k in HASHED_FIELDS}
            if e.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, e.id,
                                    f"entry seq {expected_seq} is missing (next present is seq {e.seq})")
            if e.prev_hash != prev_hash:
                return VerifyResult(False, checked, e.seq, e.id,
                                    "prev_hash does not match the previous entry (an entry before it was "
                                    "removed or altered)")
            if entry_hash(fields) != e.hash:
                return VerifyResult(False, checked, e.seq, e.id, "entry content does not match its hash")
            prev_hash, expected_seq = e.hash, e.seq + 1
            checked += 1
        if progress:
            progress(checked, total)
    head = db.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.seq != expected_seq - 1 or head.hash != prev_hash:
        return VerifyResult(False, checked, expected_seq, None,
                            f"the chain ends at seq {expected_seq - 1} but the head records seq {head.seq}: "
                            "entries at the end were removed or the head was altered")
    return VerifyResult(True, checked)


def iter_entries(db: Session, *, since_seq: int = 0, batch: int = 2000) -> Iterator[dict[str, Any]]:
    last = since_seq
    while True:
        rows = db.execute(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        for e in rows:
            yield to_dict(e)
        last = rows[-1].seq


# ------------------------------------------------------------------ actions


@authz.action("audit.list", scope="admin", auth=authz.sysadmin)
def audit_list(
    ctx: Context,
    *,
    limit: int = 50,
    cursor: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    outcome: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """List audit entries, newest first, filtered; returns (entries, next cursor)."""
    q = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if cursor:
        q = q.where(AuditEntry.seq < cursor)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if action:
        q = q.where(AuditEntry.action.startswith(action, autoescape=True))
    if object_type:
        q = q.where(AuditEntry.object_type == object_type)
    if object_id:
        q = q.where(AuditEntry.object_id == object_id)
    if outcome:
        q = q.where(AuditEntry.outcome == outcome)
    if since:
        q = q.where(AuditEntry.at >= since)
    if until:
        q = q.where(AuditEntry.at < until)
    rows = ctx.db.execute(q.limit(limit + 1)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    filters = dict(cursor=cursor, actor=actor, action=action, object_type=object_type, object_id=object_id,
                   outcome=outcome, since=since, until=until)
    ctx.audit_now("audit.list", "audit_log", None, count=len(rows),
                  filters={k: v for k, v in filters.items() if v is not None})
    return [to_dict(e) for e in rows], (rows[-1].seq if more and rows else None)


@authz.action("audit.verify", scope="admin", auth=authz.sysadmin)
def audit_verify(ctx: Context, progress: Callable[[int, int], None] | None = None) -> VerifyResult:
    """Verify the whole hash chain."""
    result = verify_chain(ctx.db, progress)
    ctx.audit_now("audit.verify", "audit_log", None, outcome="success" if result.ok else "error",
                  checked=result.checked, ok=result.ok, first_bad_seq=result.first_bad_seq)
    return result


@authz.action("audit.export", scope="admin", auth=authz.sysadmin)
def audit_export(ctx: Context, *, since_seq: int = 0) -> Iterator[str]:
    """Export entries as JSON lines (for a SIEM), oldest first."""
    ctx.audit_now("audit.export", "audit_log", None, since_seq=since_seq)
    for entry in iter_entries(ctx.db, since_seq=since_seq):
        yield canonical(entry) + "\n"
