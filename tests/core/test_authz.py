"""Role x operation matrix: one authorization check per operation, enumerated here.

The expected matrix is written out by hand in :data:`EXPECTED`. Adding an operation to
``authz.OPERATIONS`` without a row here fails :func:`test_every_operation_has_a_row`.

Roles, all relative to "the agency concerned" (the Sở ``skhcn`` of the ``users`` fixture):

* ``anonymous``    - no user at all
* ``member``, ``editor``, ``admin`` - that role in the agency concerned
* ``parent_admin`` - admin of the city, the agency above it (inheritance down the hierarchy)
* ``outsider``     - member of another Sở
* ``sysadmin``     - the system administrator

Operations on a user, a token or a job target a separate plain member of the agency concerned
(``target``), so that "acting on yourself" never hides in the matrix; self-service is tested apart.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from cityai.core import audit, authz, identity, jobs
from cityai.core.context import Actor
from cityai.core.errors import Problem
from cityai.core.models import Agency, ApiToken, AuditEntry, Job, User

ROLES = ("anonymous", "member", "editor", "admin", "parent_admin", "outsider", "sysadmin")

AUTHENTICATED = frozenset(ROLES) - {"anonymous"}
EVERYONE = frozenset(ROLES)
AGENCY_ADMINS = frozenset({"admin", "parent_admin", "sysadmin"})
SYSADMIN = frozenset({"sysadmin"})

# operation -> roles allowed. Written out explicitly: this IS the access policy under test.
EXPECTED: dict[str, frozenset[str]] = {
    # agencies: public reads; admins of the agency (or above it) manage it; only sysadmin deletes
    "agency.list": EVERYONE,
    "agency.show": EVERYONE,
    "agency.create": AGENCY_ADMINS,  # a unit under the agency concerned
    "agency.update": AGENCY_ADMINS,
    "agency.delete": SYSADMIN,
    # users: admins see and create the members of their agencies; only sysadmin edits another user
    "user.list": AGENCY_ADMINS,
    "user.show": AGENCY_ADMINS,
    "user.create": AGENCY_ADMINS,
    "user.update": SYSADMIN,
    # memberships: the agency's admins (or above it)
    "membership.set": AGENCY_ADMINS,
    "membership.remove": AGENCY_ADMINS,
    "membership.list": AGENCY_ADMINS,
    # tokens: every signed-in user has their own; revoking someone else's is the sysadmin's
    "token.create": AUTHENTICATED,
    "token.list": AUTHENTICATED,
    "token.revoke": SYSADMIN,
    # audit trail: the system administrator only
    "audit.list": SYSADMIN,
    "audit.verify": SYSADMIN,
    "audit.export": SYSADMIN,
    # jobs: submitting follows the job kind's own rule (audit.verify: sysadmin); someone else's job
    # is visible to and cancellable by the sysadmin only
    "job.submit": SYSADMIN,
    "job.list": AUTHENTICATED,
    "job.show": SYSADMIN,
    "job.cancel": SYSADMIN,
}


@dataclass
class World:
    city: int
    dept: int
    division: int
    other_dept: int
    target_id: int
    target_token_id: int
    target_job_id: str
    emails: dict[str, str]  # role -> e-mail (not anonymous)


# operation -> keyword arguments of the call, aimed at the agency concerned / the target user
CALLS: dict[str, Callable[[World], dict[str, Any]]] = {
    "agency.list": lambda w: {},
    "agency.show": lambda w: {"agency_id": w.dept},
    "agency.create": lambda w: {"code": f"x{uuid.uuid4().hex[:8]}", "name": "Phòng Mới", "kind": "division",
                                "parent_id": w.dept},
    "agency.update": lambda w: {"agency_id": w.dept, "name": "Sở KH&CN"},
    "agency.delete": lambda w: {"agency_id": w.division},
    "user.list": lambda w: {},
    "user.show": lambda w: {"user_id": w.target_id},
    "user.create": lambda w: {"email": f"new-{uuid.uuid4().hex[:8]}@test.local", "full_name": "Người Mới",
                              "agency_id": w.dept},
    "user.update": lambda w: {"user_id": w.target_id, "full_name": "Đổi Tên"},
    "membership.set": lambda w: {"agency_id": w.dept, "user_id": w.target_id, "role": "editor"},
    "membership.remove": lambda w: {"agency_id": w.dept, "user_id": w.target_id},
    "membership.list": lambda w: {"agency_id": w.dept},
    "token.create": lambda w: {"name": f"tok-{uuid.uuid4().hex[:8]}", "scopes": ["read"]},
    "token.list": lambda w: {},
    "token.revoke": lambda w: {"token_id": w.target_token_id},
    "audit.list": lambda w: {},
    "audit.verify": lambda w: {},
    "audit.export": lambda w: {},
    "job.submit": lambda w: {"kind": "audit.verify", "params": {}},
    "job.list": lambda w: {},
    "job.show": lambda w: {"job_id": w.target_job_id},
    "job.cancel": lambda w: {"job_id": w.target_job_id},
}

# Modules not imported to find operations: entry points that build an app or run a command on import.
NOT_IMPORTED = {"cityai.__main__", "cityai.web.asgi"}


def service_functions() -> dict[str, list[Callable]]:
    """Operation name -> the service functions declaring it, anywhere in the ``cityai`` package.

    Importing every module first means an operation added in a new module is registered (and then
    missing from EXPECTED) even when nothing else imported that module yet.
    """
    import cityai

    for info in pkgutil.walk_packages(cityai.__path__, "cityai."):
        if info.name not in NOT_IMPORTED:
            importlib.import_module(info.name)
    found: dict[str, list[Callable]] = {}
    for module_name, module in list(sys.modules.items()):
        if module_name != "cityai" and not module_name.startswith("cityai."):
            continue
        for value in vars(module).values():
            name = getattr(value, "operation", None)
            if callable(value) and isinstance(name, str) and getattr(value, "__module__", None) == module_name:
                found.setdefault(name, []).append(value)
    return found


def actor_for(platform, email: str | None, *, kind: str = "web", scopes: list[str] | None = None) -> Actor:
    if email is None:
        return Actor.anonymous()
    with platform.transaction() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
        return Actor.for_user(user, kind=kind, scopes=scopes)


def denied_entries(platform, **where: Any) -> list[AuditEntry]:
    with platform.transaction() as db:
        q = select(AuditEntry).where(AuditEntry.outcome == "denied")
        for key, value in where.items():
            q = q.where(getattr(AuditEntry, key) == value)
        return list(db.execute(q.order_by(AuditEntry.seq)).scalars())


@pytest.fixture
def world(platform, users) -> World:
    with platform.system_context() as ctx:
        parent_admin = identity.user_create(ctx, email="cityadmin@test.local", full_name="Quản trị Thành phố",
                                            agency_id=users.city, role="admin")
        target = identity.user_create(ctx, email="target@test.local", full_name="Người Được Xét",
                                      agency_id=users.dept, role="member")
        target_id = target.id
    with platform.unit_of_work(actor_for(platform, "target@test.local")) as ctx:
        token, _secret = identity.token_create(ctx, name="target-token", scopes=["read"])
        token_id = token.id
    job_id = uuid.uuid4().hex
    with platform.transaction(write=True) as db:
        db.add(Job(id=job_id, kind="audit.verify", title="Việc của người khác", owner_id=target_id, params={},
                   status="queued", progress=0.0, max_retries=0))
    emails = {"member": users.member, "editor": users.editor, "admin": users.admin,
              "parent_admin": parent_admin.email, "outsider": users.outsider, "sysadmin": users.sysadmin}
    return World(users.city, users.dept, users.division, users.other_dept, target_id, token_id, job_id, emails)


# ----------------------------------------------------------------------------- the matrix


def core_operations() -> set[str]:
    """The operations declared by the core; each feature module has its own matrix under tests/<module>."""
    return {name for name, fns in service_functions().items() if fns[0].__module__.startswith("cityai.core.")}


def test_every_operation_has_a_row():
    """A new core operation must come with its row in EXPECTED (and a call in CALLS)."""
    declared = core_operations()  # imports every cityai module, so that every operation is registered
    assert declared - set(EXPECTED) == set(), "operations without a row in the expected role matrix"
    assert set(EXPECTED) - declared == set(), "rows for operations that no longer exist"
    assert set(CALLS) == set(EXPECTED)
    for name, roles in EXPECTED.items():
        assert roles <= set(ROLES), name


def test_one_service_function_per_operation():
    """Each operation is one service function carrying its own check (not a check done elsewhere)."""
    found = service_functions()
    assert set(found) == set(authz.OPERATIONS)
    for name, fns in found.items():
        assert len(fns) == 1, f"{name} is exposed by {len(fns)} functions"
        assert callable(fns[0].unchecked)
        assert authz.OPERATIONS[name].doc, f"{name} has no docstring"
        assert authz.OPERATIONS[name].scope in ("read", "write", "admin")


def test_role_operation_matrix(platform, world):
    actual: dict[str, set[str]] = {name: set() for name in EXPECTED}
    for role in ROLES:
        actor = actor_for(platform, world.emails.get(role))
        with platform.unit_of_work(actor, write=False) as ctx:
            for name in EXPECTED:
                if authz.is_allowed(ctx, name, **CALLS[name](world)):
                    actual[name].add(role)
    mismatches = {name: {"expected": sorted(EXPECTED[name]), "actual": sorted(actual[name])}
                  for name in EXPECTED if actual[name] != set(EXPECTED[name])}
    assert mismatches == {}


def test_refusals_raise_and_are_audited(platform, world):
    """Every refused cell of the matrix, called for real: 401/403 problem plus a 'denied' audit entry."""
    functions = {name: fns[0] for name, fns in service_functions().items()}
    before = len(denied_entries(platform))
    refused = 0
    for role in ROLES:
        actor = actor_for(platform, world.emails.get(role))
        for name in EXPECTED:
            if role in EXPECTED[name]:
                continue
            kwargs = CALLS[name](world)
            with pytest.raises(Problem) as exc, platform.unit_of_work(actor) as ctx:
                functions[name](ctx, **kwargs)
            expected_status = 401 if role == "anonymous" else 403
            assert exc.value.status == expected_status, (role, name)
            assert exc.value.code == ("unauthorized" if role == "anonymous" else "forbidden")
            refused += 1
    assert refused > 50  # the matrix is mostly refusals; make sure the loop really ran
    entries = denied_entries(platform)[before:]
    assert len(entries) == refused
    assert {e.action for e in entries} == {n for n in EXPECTED if EXPECTED[n] != EVERYONE}
    # nothing a refused call would have changed is there
    with platform.transaction() as db:
        target = db.get(User, world.target_id)
        assert target.full_name == "Người Được Xét"
        assert [(m.agency_id, m.role) for m in target.memberships] == [(world.dept, "member")]
        assert db.get(ApiToken, world.target_token_id).revoked_at is None
        assert db.get(Job, world.target_job_id).status == "queued"
    with platform.system_context(write=False) as ctx:
        assert audit.verify_chain(ctx.db).ok


def test_inheritance_goes_down_the_hierarchy_not_up(platform, world):
    admin = actor_for(platform, world.emails["admin"])  # admin of the Sở
    parent_admin = actor_for(platform, world.emails["parent_admin"])  # admin of the city
    with platform.unit_of_work(admin, write=False) as ctx:
        # the Sở's own division, one level further down: inherited
        assert authz.is_allowed(ctx, "agency.update", agency_id=world.division)
        assert authz.is_allowed(ctx, "membership.list", agency_id=world.division)
        assert authz.is_allowed(ctx, "agency.create", code="x", name="x", kind="division", parent_id=world.division)
        # the city above the Sở, and a sibling Sở: not
        assert not authz.is_allowed(ctx, "agency.update", agency_id=world.city)
        assert not authz.is_allowed(ctx, "membership.set", agency_id=world.city, user_id=world.target_id,
                                    role="member")
        assert not authz.is_allowed(ctx, "agency.update", agency_id=world.other_dept)
        assert not authz.is_allowed(ctx, "membership.list", agency_id=world.other_dept)
        # top-level agencies are the system administrator's
        assert not authz.is_allowed(ctx, "agency.create", code="x", name="x", kind="city", parent_id=None)
    with platform.unit_of_work(parent_admin, write=False) as ctx:
        for agency_id in (world.city, world.dept, world.division, world.other_dept):
            assert authz.is_allowed(ctx, "agency.update", agency_id=agency_id)
            assert authz.is_allowed(ctx, "membership.set", agency_id=agency_id, user_id=world.target_id,
                                    role="member")
        assert not authz.is_allowed(ctx, "agency.create", code="x", name="x", kind="city", parent_id=None)
        assert not authz.is_allowed(ctx, "agency.delete", agency_id=world.division)


def test_self_service_and_job_kinds(platform, world):
    """What the matrix leaves out: users act on their own account, tokens and jobs; job kinds' rules."""
    target = actor_for(platform, "target@test.local")
    member = actor_for(platform, world.emails["member"])
    with platform.unit_of_work(target, write=False) as ctx:
        assert authz.is_allowed(ctx, "user.show", user_id=world.target_id)
        assert authz.is_allowed(ctx, "user.update", user_id=world.target_id, full_name="Tên Mới")
        assert not authz.is_allowed(ctx, "user.update", user_id=world.target_id, is_active=False)
        assert authz.is_allowed(ctx, "token.revoke", token_id=world.target_token_id)
        assert authz.is_allowed(ctx, "job.show", job_id=world.target_job_id)
        assert authz.is_allowed(ctx, "job.cancel", job_id=world.target_job_id)
    with platform.unit_of_work(member, write=False) as ctx:
        assert not authz.is_allowed(ctx, "user.show", user_id=world.target_id)
        assert not authz.is_allowed(ctx, "token.revoke", token_id=world.target_token_id)
    # an agency admin creates members, never a system administrator
    admin = actor_for(platform, world.emails["admin"])
    with platform.unit_of_work(admin, write=False) as ctx:
        assert authz.is_allowed(ctx, "user.create", email="a@test.local", full_name="A", agency_id=world.dept)
        assert not authz.is_allowed(ctx, "user.create", email="a@test.local", full_name="A", agency_id=world.dept,
                                    is_sysadmin=True)
        assert not authz.is_allowed(ctx, "user.create", email="a@test.local", full_name="A", agency_id=None)

    # job.submit defers to the kind's own rule: a kind open to every signed-in user, and audit.verify
    platform.job_kinds["test.open"] = jobs.JobKind("test.open", ("Thử", "Test"), lambda run: {})
    for role in ROLES:
        with platform.unit_of_work(actor_for(platform, world.emails.get(role)), write=False) as ctx:
            assert authz.is_allowed(ctx, "job.submit", kind="test.open", params={}) == (role != "anonymous"), role
            assert authz.is_allowed(ctx, "job.submit", kind="audit.verify", params={}) == (role == "sysadmin"), role


# ----------------------------------------------------------------------------- token scopes


def _token_actor(platform, email: str, scopes: list[str]) -> Actor:
    with platform.unit_of_work(actor_for(platform, email)) as ctx:
        _token, secret = identity.token_create(ctx, name=f"scoped-{'-'.join(scopes)}-{uuid.uuid4().hex[:6]}",
                                               scopes=scopes)
    actor = identity.actor_for_secret(platform, secret)
    assert actor.kind == "api" and actor.scopes == frozenset(scopes)
    return actor


def test_read_only_token_reads_but_never_writes(platform, world):
    admin_ro = _token_actor(platform, world.emails["admin"], ["read"])
    with platform.unit_of_work(admin_ro, write=False) as ctx:
        assert authz.is_allowed(ctx, "membership.list", agency_id=world.dept)
        assert authz.is_allowed(ctx, "user.list")
        assert authz.is_allowed(ctx, "user.show", user_id=world.target_id)
        # the role allows these, the token's scope does not
        assert not authz.is_allowed(ctx, "agency.update", agency_id=world.dept, name="X")
        assert not authz.is_allowed(ctx, "membership.set", agency_id=world.dept, user_id=world.target_id,
                                    role="editor")
    with pytest.raises(Problem) as exc, platform.unit_of_work(admin_ro) as ctx:
        identity.agency_update(ctx, agency_id=world.dept, name="Bị chặn")
    assert exc.value.status == 403
    with platform.transaction() as db:
        assert db.get(Agency, world.dept).name == "Sở Khoa học và Công nghệ"

    # for the system administrator, the token's scopes are the only limit: read ops only
    root_ro = _token_actor(platform, world.emails["sysadmin"], ["read"])
    with platform.unit_of_work(root_ro, write=False) as ctx:
        for name in EXPECTED:
            op = authz.OPERATIONS[name]
            assert authz.is_allowed(ctx, name, **CALLS[name](world)) == (op.scope == "read"), name


def test_admin_scope_required_for_audit(platform, world):
    root_rw = _token_actor(platform, world.emails["sysadmin"], ["read", "write"])
    root_all = _token_actor(platform, world.emails["sysadmin"], ["admin", "read", "write"])
    audit_ops = [n for n in EXPECTED if n.startswith("audit.")]
    assert sorted(audit_ops) == ["audit.export", "audit.list", "audit.verify"]
    with platform.unit_of_work(root_rw, write=False) as ctx:
        for name in EXPECTED:
            op = authz.OPERATIONS[name]
            assert authz.is_allowed(ctx, name, **CALLS[name](world)) == (op.scope != "admin"), name
        assert not any(authz.is_allowed(ctx, n) for n in audit_ops)
    with pytest.raises(Problem) as exc, platform.unit_of_work(root_rw, write=False) as ctx:
        audit.audit_list(ctx)
    assert exc.value.status == 403
    with platform.unit_of_work(root_all, write=False) as ctx:
        for name in EXPECTED:
            assert authz.is_allowed(ctx, name, **CALLS[name](world)), name
        entries, _cursor = audit.audit_list(ctx, limit=5)
        assert entries
    # the admin scope is no use to someone who is not the system administrator
    with platform.unit_of_work(actor_for(platform, world.emails["admin"], kind="api", scopes=["admin", "read"]),
                               write=False) as ctx:
        assert not any(authz.is_allowed(ctx, n) for n in audit_ops)


# ----------------------------------------------------------------------------- refusals


def test_refusal_is_403_and_its_audit_entry_survives_the_rollback(platform, world):
    # an allowed call leaves no 'denied' entry
    with platform.unit_of_work(actor_for(platform, world.emails["admin"])) as ctx:
        identity.agency_update(ctx, agency_id=world.dept, description="Mô tả mới")
    assert denied_entries(platform) == []

    member = actor_for(platform, world.emails["member"])
    with platform.transaction() as db:
        tokens_before = db.execute(select(func.count()).select_from(ApiToken)).scalar_one()
    with pytest.raises(Problem) as exc:
        with platform.unit_of_work(member, ip="10.0.0.7", request_id="req-authz-1") as ctx:
            identity.token_create(ctx, name="made-before-the-refusal")  # allowed, then rolled back
            identity.agency_update(ctx, agency_id=world.dept, name="Sở bị đổi tên")
    problem = exc.value
    assert problem.status == 403 and problem.code == "forbidden"
    assert problem.extra["operation"] == "agency.update"
    body = problem.to_dict("en")
    assert body["type"] == "/problems/forbidden" and body["status"] == 403 and "agency.update" in body["detail"]

    with platform.transaction() as db:
        # the work done before the refusal was rolled back, the name is unchanged ...
        assert db.execute(select(func.count()).select_from(ApiToken)).scalar_one() == tokens_before
        assert db.execute(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.action == "token.create", AuditEntry.actor == world.emails["member"])
                          ).scalar_one() == 0
    # ... but the refusal is on record
    [entry] = denied_entries(platform, action="agency.update")
    assert entry.actor == world.emails["member"]
    assert entry.actor_id is not None
    assert entry.object_id == str(world.dept)
    assert entry.ip == "10.0.0.7" and entry.request_id == "req-authz-1"
    assert '"forbidden"' in entry.detail
    with platform.system_context(write=False) as ctx:
        assert audit.verify_chain(ctx.db).ok


def test_anonymous_refusal_is_401(platform, world):
    with pytest.raises(Problem) as exc, platform.unit_of_work(Actor.anonymous()) as ctx:
        identity.agency_create(ctx, code="anon", name="Ẩn danh", kind="city")
    assert exc.value.status == 401 and exc.value.code == "unauthorized"
    assert exc.value.headers.get("WWW-Authenticate") == "Bearer"
    with pytest.raises(Problem) as exc, platform.unit_of_work(Actor.anonymous(), write=False) as ctx:
        identity.user_show(ctx, user_id=world.target_id)
    assert exc.value.status == 401
    entries = denied_entries(platform, actor="anonymous")
    assert [(e.action, e.actor_id, e.object_id) for e in entries] == [
        ("agency.create", None, None), ("user.show", None, str(world.target_id))]
    with platform.transaction() as db:
        assert db.execute(select(Agency).where(Agency.code == "anon")).first() is None


# ----------------------------------------------------------------------------- the system actor


def test_system_actor_is_allowed_everything(platform, world):
    with platform.system_context(write=False) as ctx:
        assert ctx.actor.kind == "system" and not ctx.actor.is_anonymous
        for name in EXPECTED:
            assert authz.is_allowed(ctx, name, **CALLS[name](world)), name
            # whatever the arguments: even ones that would refuse anyone else
            assert authz.is_allowed(ctx, name, agency_id=None, user_id=None, parent_id=None), name
    # and for real: an operation only the sysadmin may call
    with platform.system_context() as ctx:
        identity.agency_delete(ctx, agency_id=world.division)
    assert denied_entries(platform) == []
