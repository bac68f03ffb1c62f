"""Who is acting (:class:`Actor`) and the unit of work they act in (:class:`Context`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityai.core.models import Agency

if TYPE_CHECKING:  # pragma: no cover
    from cityai.core.platform import Platform

ROLE_RANK = {"member": 1, "editor": 2, "admin": 3}
ALL_SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    email: str | None = None
    is_sysadmin: bool = False
    roles: dict[int, str] = field(default_factory=dict)  # agency id -> role held directly
    scopes: frozenset[str] = frozenset({"*"})
    token_id: int | None = None
    kind: str = "anonymous"  # anonymous | web | access | api | system

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.kind != "system"

    @property
    def label(self) -> str:
        if self.kind == "system":
            return "system"
        return self.email or "anonymous"

    def has_scope(self, scope: str) -> bool:
        """Scopes nest: ``admin`` includes ``write``, which includes ``read``."""
        if "*" in self.scopes:
            return True
        return any(s in self.scopes for s in ALL_SCOPES[ALL_SCOPES.index(scope):])

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(scopes=frozenset({"read"}))

    @classmethod
    def system(cls) -> Actor:
        return cls(is_sysadmin=True, kind="system")

    @classmethod
    def for_user(cls, user: Any, *, kind: str, scopes: list[str] | None = None, token_id: int | None = None) -> Actor:
        return cls(
            user_id=user.id,
            email=user.email,
            is_sysadmin=bool(user.is_sysadmin),
            roles={m.agency_id: m.role for m in user.memberships},
            scopes=frozenset(scopes or ["*"]),
            token_id=token_id,
            kind=kind,
        )


@dataclass
class Context:
    platform: Platform
    db: Session
    actor: Actor
    ip: str | None = None
    request_id: str | None = None
    locale: str = "vi"
    pending_audit: list[dict[str, Any]] = field(default_factory=list)
    deferred_writes: list[Any] = field(default_factory=list)  # callables(session), run after close
    _ancestors: dict[int, list[int]] = field(default_factory=dict)

    def ancestors(self, agency_id: int) -> list[int]:
        """The agency and every agency above it, nearest first."""
        if agency_id not in self._ancestors:
            chain: list[int] = []
            current: int | None = agency_id
            while current is not None and current not in chain:
                chain.append(current)
                current = self.db.execute(select(Agency.parent_id).where(Agency.id == current)).scalar()
            self._ancestors[agency_id] = chain
        return self._ancestors[agency_id]

    def descendants(self, agency_ids: list[int]) -> list[int]:
        """The agencies given and every agency below them (one recursive query)."""
        if not agency_ids:
            return []
        tree = select(Agency.id).where(Agency.id.in_(agency_ids)).cte("tree", recursive=True)
        tree = tree.union(select(Agency.id).where(Agency.parent_id == tree.c.id))
        return list(self.db.execute(select(tree.c.id)).scalars())

    def role_in(self, agency_id: int | None) -> str | None:
        """The strongest role the actor holds in the agency, directly or through a parent agency."""
        if agency_id is None or not self.actor.roles:
            return None
        best: str | None = None
        for aid in self.ancestors(agency_id):
            role = self.actor.roles.get(aid)
            if role and (best is None or ROLE_RANK[role] > ROLE_RANK[best]):
                best = role
        return best

    def has_role(self, agency_id: int | None, minimum: str) -> bool:
        if self.actor.is_sysadmin:
            return True
        role = self.role_in(agency_id)
        return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]

    def is_admin_anywhere(self) -> bool:
        return self.actor.is_sysadmin or "admin" in self.actor.roles.values()

    def audit(self, action: str, object_type: str | None = None, object_id: Any = None, *,
              outcome: str = "success", as_actor: Actor | None = None, **detail: Any) -> None:
        """Append an audit entry in this unit of work: it commits or rolls back with the change.

        ``as_actor`` names someone other than the caller (a login is recorded as the user who logged in).
        """
        from cityai.core import audit

        audit.append(
            self.db,
            actor=as_actor or self.actor,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            outcome=outcome,
            ip=self.ip,
            request_id=self.request_id,
            detail=detail,
        )

    def audit_now(self, action: str, object_type: str | None = None, object_id: Any = None, *,
                  outcome: str = "success", **detail: Any) -> None:
        """Audit a read: committed on its own at once, whatever becomes of this unit of work.

        When this unit of work already holds the database's write lock (an SQLite write session) or
        the audit head's row lock (a PostgreSQL write session that has appended an entry), the entry
        joins it instead, so the two never wait on each other.
        """
        if self.db.info.get("write") and (self.platform.is_sqlite or self.db.info.get("cityai_audit_new")):
            self.audit(action, object_type, object_id, outcome=outcome, **detail)
            return
        self.platform.write_audit(self, dict(action=action, object_type=object_type,
                                             object_id=None if object_id is None else str(object_id),
                                             outcome=outcome, detail=detail))
