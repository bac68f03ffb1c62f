"""Who may do what with datasets: the data module's role x operation matrix, visibility and grants.

The core's matrix (tests/core/test_authz.py) covers the core's operations; this one covers every
operation the data module declares, and fails when a new one appears without a row here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from cityai.core import authz
from cityai.core.context import Actor
from cityai.core.errors import Problem
from cityai.core.models import AuditEntry, User
from cityai.data import catalog, ckan, datastore, grants  # noqa: F401  (register the operations)
from cityai.data.models import AccessGrant

ROLES = ("anonymous", "outsider", "grantee", "member", "editor", "parent_admin", "sysadmin")


@dataclass
class World:
    owner: int
    other: int
    emails: dict[str, str | None]
    public: str
    shared: str
    private: str
    res: dict[str, str]  # visibility -> resource id
    grant: str


@pytest.fixture
def world(platform) -> World:
    from cityai.core import identity

    with platform.system_context() as ctx:
        city = identity.agency_create(ctx, code="hcmc", name="Thành phố", kind="city")
        owner = identity.agency_create(ctx, code="snnmt", name="Sở Nông nghiệp và Môi trường", kind="department",
                                       parent_id=city.id)
        other = identity.agency_create(ctx, code="syt", name="Sở Y tế", kind="department", parent_id=city.id)
        third = identity.agency_create(ctx, code="sxd", name="Sở Xây dựng", kind="department", parent_id=city.id)
        emails = {"anonymous": None}
        for role, agency, r, sysadmin in [("sysadmin", None, "member", True), ("editor", owner.id, "editor", False),
                                          ("member", owner.id, "member", False),
                                          ("parent_admin", city.id, "admin", False),
                                          ("grantee", other.id, "member", False),
                                          ("outsider", third.id, "editor", False)]:
            emails[role] = f"{role}@data.test"
            identity.user_create(ctx, email=emails[role], full_name=role, agency_id=agency, role=r,
                                 is_sysadmin=sysadmin)
        ids, res = {}, {}
        for vis in ("public", "shared", "private"):
            ds = catalog.dataset_create(ctx, name=f"ds-{vis}", owner_id=owner.id, title=f"Dữ liệu {vis}",
                                        visibility=vis)
            ids[vis] = ds.name
            res[vis] = catalog.resource_create(ctx, dataset=ds.name, name="Bảng", format="csv").id
        g = grants.grant_request(ctx, dataset=ids["shared"], agency_id=other.id, purpose="Phân tích dịch tễ")
        grants.grant_decide(ctx, grant_id=g.id, approve=True, expires_in_days=30)
    return World(owner.id, other.id, emails, ids["public"], ids["shared"], ids["private"], res, g.id)


def actor_for(platform, email: str | None) -> Actor:
    if email is None:
        return Actor.anonymous()
    with platform.transaction() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
        return Actor.for_user(user, kind="web")


ALL = set(ROLES)
SIGNED_IN = ALL - {"anonymous"}
OWNERS = {"member", "editor", "parent_admin", "sysadmin"}
STEWARDS = {"editor", "parent_admin", "sysadmin"}

# (operation, visibility the call targets) -> roles allowed
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("dataset.search", "-"): ALL,
    ("dataset.create", "-"): STEWARDS,
    ("dataset.show", "public"): ALL,
    ("dataset.show", "shared"): OWNERS | {"grantee"},
    ("dataset.show", "private"): OWNERS,
    ("dataset.update", "public"): STEWARDS,
    ("dataset.update", "private"): STEWARDS,
    ("dataset.delete", "shared"): STEWARDS,
    ("resource.create", "private"): STEWARDS,
    ("resource.show", "public"): ALL,
    ("resource.show", "shared"): OWNERS | {"grantee"},
    ("resource.show", "private"): OWNERS,
    ("resource.update", "shared"): STEWARDS,
    ("resource.delete", "public"): STEWARDS,
    ("resource.upload", "shared"): STEWARDS,
    ("resource.versions", "shared"): OWNERS | {"grantee"},
    ("datastore.search", "public"): ALL,
    ("datastore.search", "shared"): OWNERS | {"grantee"},
    ("datastore.search", "private"): OWNERS,
    ("datastore.export", "public"): ALL,
    ("datastore.export", "shared"): OWNERS | {"grantee"},
    ("datastore.export", "private"): OWNERS,
    ("datastore.sql", "-"): ALL,
    ("datastore.write", "shared"): STEWARDS,
    ("datastore.write", "public"): STEWARDS,  # the action checks each table itself (tests/data/test_datastore.py)
    ("grant.request", "shared"): {"grantee", "parent_admin", "sysadmin"},
    ("grant.decide", "shared"): STEWARDS,
    ("grant.revoke", "shared"): STEWARDS,
    ("grant.list", "shared"): STEWARDS,
}


def call_args(name: str, vis: str, w: World) -> dict:
    ds = {"public": w.public, "shared": w.shared, "private": w.private}.get(vis)
    if name == "dataset.search":
        return {}
    if name == "datastore.sql":
        return {"sql": "SELECT 1"}
    if name == "dataset.create":
        return {"owner_id": w.owner, "name": "x"}
    if name.startswith("dataset.") or name == "resource.create":
        return {"dataset": ds}
    if name.startswith(("resource.", "datastore.")):
        return {"resource_id": w.res[vis]}
    if name == "grant.request":
        return {"dataset": ds, "agency_id": w.other}
    if name in ("grant.decide", "grant.revoke"):
        return {"grant_id": w.grant}
    if name == "grant.list":
        return {"dataset": ds}
    raise AssertionError(name)


def data_operations() -> set[str]:
    return {n for n, op in authz.OPERATIONS.items() if n.split(".")[0] in ("dataset", "resource", "datastore",
                                                                            "grant")}


def test_every_data_operation_has_rows():
    assert data_operations() == {name for name, _vis in EXPECTED}


def test_data_role_operation_matrix(platform, world):
    mismatches = {}
    for role in ROLES:
        actor = actor_for(platform, world.emails[role])
        with platform.unit_of_work(actor, write=False) as ctx:
            for (name, vis), allowed in EXPECTED.items():
                got = authz.is_allowed(ctx, name, **call_args(name, vis, world))
                if got != (role in allowed):
                    mismatches[(name, vis, role)] = got
    assert mismatches == {}


def test_search_lists_only_what_the_caller_may_see(platform, world):
    seen = {}
    for role in ROLES:
        with platform.unit_of_work(actor_for(platform, world.emails[role]), write=False) as ctx:
            seen[role] = sorted(d.name for d in catalog.dataset_search(ctx, limit=100)["results"])
    assert seen["anonymous"] == seen["outsider"] == ["ds-public"]
    assert seen["grantee"] == ["ds-public", "ds-shared"]
    assert seen["member"] == seen["editor"] == seen["parent_admin"] == seen["sysadmin"] == \
        ["ds-private", "ds-public", "ds-shared"]


def test_reading_restricted_data_is_audited_and_refusals_too(platform, world):
    with platform.unit_of_work(actor_for(platform, world.emails["grantee"]), write=False) as ctx:
        catalog.dataset_show(ctx, dataset=world.shared)
        catalog.dataset_show(ctx, dataset=world.public)
    with pytest.raises(Problem) as exc, \
            platform.unit_of_work(actor_for(platform, world.emails["outsider"]), write=False) as ctx:
        catalog.dataset_show(ctx, dataset=world.private)
    assert exc.value.status == 403
    with platform.transaction() as db:
        rows = db.execute(select(AuditEntry).where(AuditEntry.action == "dataset.show")).scalars().all()
    assert [(r.actor, r.outcome) for r in rows] == [("grantee@data.test", "success"),
                                                    ("outsider@data.test", "denied")]


def test_grant_lifecycle_expiry_scope_and_revocation(platform, world):
    grantee = actor_for(platform, world.emails["grantee"])
    editor = actor_for(platform, world.emails["editor"])
    # revoked at once: the next read is refused
    with platform.unit_of_work(editor) as ctx:
        grants.grant_revoke(ctx, grant_id=world.grant, reason="Hết nhu cầu")
    with pytest.raises(Problem), platform.unit_of_work(grantee, write=False) as ctx:
        catalog.dataset_show(ctx, dataset=world.shared)
    # a new request, approved for one resource only
    with platform.unit_of_work(grantee) as ctx:
        g = grants.grant_request(ctx, dataset=world.shared, agency_id=world.other, purpose="Lần hai")
    with platform.unit_of_work(editor) as ctx:
        other_res = catalog.resource_create(ctx, dataset=world.shared, name="Bảng khác").id
        grants.grant_decide(ctx, grant_id=g.id, approve=True, resource_ids=[world.res["shared"]],
                            expires_in_days=10)
    with platform.unit_of_work(grantee, write=False) as ctx:
        assert authz.is_allowed(ctx, "resource.show", resource_id=world.res["shared"])
        assert not authz.is_allowed(ctx, "resource.show", resource_id=other_res)
    # expiry is checked on every read
    import datetime as dt

    with platform.transaction(write=True) as db:
        db.get(AccessGrant, g.id).expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    with platform.unit_of_work(grantee, write=False) as ctx:
        assert not authz.is_allowed(ctx, "resource.show", resource_id=world.res["shared"])
    with platform.transaction() as db:
        actions = [e.action for e in db.execute(select(AuditEntry).where(AuditEntry.object_type == "grant")
                                                .order_by(AuditEntry.seq)).scalars()]
    assert actions == ["grant.request", "grant.decide", "grant.revoke", "grant.request", "grant.decide"]


def test_grant_rules(platform, world):
    grantee = actor_for(platform, world.emails["grantee"])
    editor = actor_for(platform, world.emails["editor"])
    with pytest.raises(Problem) as exc, platform.unit_of_work(grantee) as ctx:  # only shared datasets
        grants.grant_request(ctx, dataset=world.private, agency_id=world.other, purpose="x")
    assert exc.value.status == 409
    with pytest.raises(Problem) as exc, platform.unit_of_work(grantee) as ctx:  # already approved
        grants.grant_request(ctx, dataset=world.shared, agency_id=world.other, purpose="x")
    assert exc.value.status == 409
    with pytest.raises(Problem) as exc, platform.unit_of_work(editor) as ctx:  # decided already
        grants.grant_decide(ctx, grant_id=world.grant, approve=False, reason="muộn")
    assert exc.value.status == 409
    with pytest.raises(Problem) as exc, platform.unit_of_work(editor) as ctx:
        grants.grant_decide(ctx, grant_id="nope", approve=True)
    assert exc.value.status == 404


def test_grants_over_http(client, platform, world):
    from tests.conftest import PASSWORD  # noqa: F401
    from cityai.core import identity

    with platform.system_context() as ctx:
        for email in ("grantee@data.test", "editor@data.test"):
            u = ctx.db.execute(select(User).where(User.email == email)).scalar_one()
            identity.user_update(ctx, user_id=u.id, password="Data-Test-Pass-1")

    def headers(email):
        r = client.post("/api/v1/auth/token", data={"username": email, "password": "Data-Test-Pass-1"})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    g, e = headers("grantee@data.test"), headers("editor@data.test")
    assert client.get(f"/api/v1/data/datasets/{world.private}", headers=g).status_code == 403
    assert client.get(f"/api/v1/data/datasets/{world.shared}", headers=g).status_code == 200
    r = client.post(f"/api/v1/data/grants/{world.grant}/revoke", json={"reason": "xong"}, headers=e)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert client.get(f"/api/v1/data/datasets/{world.shared}", headers=g).status_code == 403
    r = client.post(f"/api/v1/data/datasets/{world.shared}/grants",
                    json={"agency_id": world.other, "purpose": "Theo dõi"}, headers=g)
    assert r.status_code == 201, r.text
    listed = client.get(f"/api/v1/data/datasets/{world.shared}/grants", headers=e).json()["items"]
    assert [x["status"] for x in listed] == ["requested", "revoked"]
    r = client.post(f"/api/v1/data/grants/{listed[0]['id']}/decision", json={"approve": False}, headers=e)
    assert r.status_code == 422  # a refusal needs a reason
    r = client.post(f"/api/v1/data/grants/{listed[0]['id']}/decision",
                    json={"approve": False, "reason": "Không đủ căn cứ"}, headers=e)
    assert r.json()["status"] == "refused" and r.json()["reason"] == "Không đủ căn cứ"
    assert client.get(f"/api/v1/data/datasets/{world.shared}/grants", headers=g).status_code == 403


def test_upload_path_traversal_and_empty_file(platform, world):
    editor = actor_for(platform, world.emails["editor"])
    with platform.unit_of_work(editor) as ctx:
        v = catalog.resource_upload(ctx, resource_id=world.res["private"], stream=io.BytesIO(b"a,b\n1,2\n"),
                                    filename="../../etc/passwd", fmt="csv")
        assert v.original_name == "passwd" and "/../" not in v.original_key
        assert ctx.platform.storage.exists(v.original_key)
    with pytest.raises(Problem) as exc, platform.unit_of_work(editor) as ctx:
        catalog.resource_upload(ctx, resource_id=world.res["private"], stream=io.BytesIO(b""), filename="x.csv")
    assert exc.value.status == 422
