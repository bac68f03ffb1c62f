"""Identity through the service layer: agencies, users, memberships, tokens, login throttling.

Every test here takes the ``platform`` fixture, which depends on ``backend``: each runs once on
SQLite and once on PostgreSQL (skipped, with the reason, when the server does not answer).
The HTTP API over these functions is tested in tests/web.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, text, update

from cityai.core import audit, identity, security
from cityai.core.context import Actor
from cityai.core.db import Base, utcnow
from cityai.core.errors import Problem
from cityai.core.models import Agency, ApiToken, AuditEntry, LoginAttempt, Membership, User

from ..conftest import PASSWORD

SYSTEM = Actor.system()


def actor_for(platform, email: str, *, kind: str = "web") -> Actor:
    with platform.transaction() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
        return Actor.for_user(user, kind=kind)


def refused(platform, actor: Actor, fn: Callable, /, **kwargs: Any) -> Problem:
    """Call a service function in its own unit of work; return the Problem it must raise."""
    with pytest.raises(Problem) as exc, platform.unit_of_work(actor) as ctx:
        fn(ctx, **kwargs)
    return exc.value


def call(platform, actor: Actor, fn: Callable, /, **kwargs: Any) -> Any:
    with platform.unit_of_work(actor) as ctx:
        return fn(ctx, **kwargs)


def count(platform, model, *where) -> int:
    with platform.transaction() as db:
        return db.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def agency_names(platform) -> list[str]:
    with platform.transaction() as db:
        return sorted(db.execute(select(Agency.name)).scalars())


# =============================================================================== agencies


def test_agency_create_validates_and_refuses_duplicate_codes(platform):
    city = call(platform, SYSTEM, identity.agency_create, code="HCMC", name="  Thành phố Hồ Chí Minh ", kind="city")
    assert city.code == "hcmc" and city.name == "Thành phố Hồ Chí Minh" and city.parent_id is None
    dept = call(platform, SYSTEM, identity.agency_create, code="syt", name="Sở Y tế", kind="department",
                parent_id=city.id, name_en="Department of Health")
    with platform.system_context(write=False) as ctx:
        rows, total = identity.agency_list(ctx, parent_id=city.id)
        assert total == 1 and [a.code for a in rows] == ["syt"]
        assert identity.agency_show(ctx, agency_id=dept.id).name_en == "Department of Health"
        assert identity.agency_to_dict(dept, "en")["kind_label"] == "Department / board"

    # the same code, whatever its case and wherever in the tree: 409 on the code field
    for code, parent in (("syt", city.id), ("SYT", None)):
        p = refused(platform, SYSTEM, identity.agency_create, code=code, name="Sở Y tế (trùng mã)",
                    kind="department", parent_id=parent)
        assert p.status == 409 and p.code == "conflict" and p.extra["field"] == "code"
        assert p.to_dict("en")["type"] == "/problems/conflict"

    bad = [
        (dict(code="sở-y-tế", name="X", kind="department"), 422, "code"),  # not ASCII
        (dict(code="a b", name="X", kind="department"), 422, "code"),
        (dict(code="", name="X", kind="department"), 422, "code"),
        (dict(code="ok1", name="X", kind="province"), 422, "kind"),  # provinces are gone since 2025
        (dict(code="ok2", name="   ", kind="ward"), 422, "name"),
        (dict(code="ok3", name="A" * 301, kind="ward"), 422, "name"),
        (dict(code="ok4", name="Phường\x00Mới", kind="ward"), 422, None),  # control characters
        (dict(code="ok5", name="Phường Mới", kind="ward", parent_id=987654), 404, None),
    ]
    for kwargs, status, field in bad:
        p = refused(platform, SYSTEM, identity.agency_create, **kwargs)
        assert p.status == status, kwargs
        assert p.extra.get("field") == field, kwargs
    assert agency_names(platform) == ["Sở Y tế", "Thành phố Hồ Chí Minh"]
    with platform.transaction() as db:
        creates = db.execute(select(AuditEntry.object_id).where(AuditEntry.action == "agency.create")).scalars().all()
    assert sorted(creates) == sorted([str(city.id), str(dept.id)])


def test_agency_duplicate_names_and_vietnamese_normalisation(platform):
    nfc_name = "Sở Giáo dục và Đào tạo"
    nfd_name = unicodedata.normalize("NFD", nfc_name)
    assert nfd_name != nfc_name and len(nfd_name) > len(nfc_name)

    city = call(platform, SYSTEM, identity.agency_create, code="hcmc", name="Thành phố", kind="city")
    other = call(platform, SYSTEM, identity.agency_create, code="hn", name="Thủ đô", kind="city")
    # given decomposed, stored composed
    a = call(platform, SYSTEM, identity.agency_create, code="sgddt", name=nfd_name, kind="department",
             parent_id=city.id, description=unicodedata.normalize("NFD", "Quản lý giáo dục"))
    assert a.name == nfc_name
    with platform.transaction() as db:
        raw_name, raw_desc = db.execute(text("SELECT name, description FROM agency WHERE code = 'sgddt'")).one()
    assert raw_name == nfc_name and unicodedata.is_normalized("NFC", raw_desc)

    # the same name under the same parent, composed or decomposed: 409 on the name field
    for i, name in enumerate((nfc_name, nfd_name, f"  {nfd_name} ")):
        p = refused(platform, SYSTEM, identity.agency_create, code=f"dup{i}", name=name, kind="department",
                    parent_id=city.id)
        assert p.status == 409 and p.extra["field"] == "name", name
    # top-level agencies have no parent, and still no twins
    p = refused(platform, SYSTEM, identity.agency_create, code="hcmc2", name="Thành phố", kind="city")
    assert p.status == 409 and p.extra["field"] == "name"
    # under another parent the name is free
    b = call(platform, SYSTEM, identity.agency_create, code="hn.sgddt", name=nfd_name, kind="department",
             parent_id=other.id)
    assert b.name == nfc_name
    assert count(platform, Agency, Agency.name == nfc_name) == 2

    # searching with decomposed text finds the composed name
    with platform.system_context(write=False) as ctx:
        rows, total = identity.agency_list(ctx, q=unicodedata.normalize("NFD", "Đào tạo"))
    assert total == 2 and {r.code for r in rows} == {"sgddt", "hn.sgddt"}


def test_sql_like_strings_are_stored_verbatim(platform):
    evil = "'; DROP TABLE agency; --"
    evil2 = 'Robert"); DROP TABLE user_account; --'
    city = call(platform, SYSTEM, identity.agency_create, code="hcmc", name="Thành phố", kind="city")
    a = call(platform, SYSTEM, identity.agency_create, code="evil", name=evil, kind="department",
             parent_id=city.id, name_en="1' OR '1'='1", description=evil2)
    u = call(platform, SYSTEM, identity.user_create, email="evil@test.local", full_name=evil2,
             agency_id=a.id, role="member")
    with platform.transaction() as db:
        stored = db.get(Agency, a.id)
        assert (stored.name, stored.name_en, stored.description) == (evil, "1' OR '1'='1", evil2)
        assert db.get(User, u.id).full_name == evil2
        assert db.execute(select(func.count()).select_from(Agency)).scalar_one() == 2  # the table is intact
        assert db.execute(select(func.count()).select_from(User)).scalar_one() == 1
    with platform.system_context(write=False) as ctx:
        rows, total = identity.agency_list(ctx, q=evil)
        assert total == 1 and rows[0].name == evil
        rows, total = identity.agency_list(ctx, q="' OR '1'='1' --")
        assert total == 0
        users, total = identity.user_list(ctx, q=evil2)
        assert total == 1 and users[0].id == u.id
    # a code cannot carry it at all
    p = refused(platform, SYSTEM, identity.agency_create, code="x';drop", name="X", kind="ward")
    assert p.status == 422
    # the renamed agency keeps the text exactly, too
    call(platform, SYSTEM, identity.agency_update, agency_id=a.id, name=evil + " 2")
    assert agency_names(platform) == sorted(["Thành phố", evil + " 2"])


def test_agency_update_rename_move_and_cycles(platform, users):
    admin = actor_for(platform, users.admin)  # admin of the Sở (dept)
    renamed = call(platform, admin, identity.agency_update, agency_id=users.dept, name="Sở KH&CN",
                   name_en="Department of Science and Technology", description="Mô tả")
    assert (renamed.name, renamed.name_en, renamed.description) == ("Sở KH&CN", "Department of Science and "
                                                                   "Technology", "Mô tả")
    # the admin of the Sở manages its division too
    call(platform, admin, identity.agency_update, agency_id=users.division, name="Phòng CĐS")
    p = refused(platform, admin, identity.agency_update, agency_id=users.division, kind="province")
    assert p.status == 422 and p.extra["field"] == "kind"

    # a sibling's name: 409, under a parent (unique constraint) and at the top level
    p = refused(platform, SYSTEM, identity.agency_update, agency_id=users.other_dept, name="Sở KH&CN")
    assert p.status == 409
    top = call(platform, SYSTEM, identity.agency_create, code="hn", name="Hà Nội", kind="city")
    p = refused(platform, SYSTEM, identity.agency_update, agency_id=top.id, name="Thành phố Hồ Chí Minh")
    assert p.status == 409
    with platform.transaction() as db:
        assert db.get(Agency, users.other_dept).name == "Sở Y tế"
        assert db.get(Agency, top.id).name == "Hà Nội"

    # moving needs the system administrator, even for the admin of the agency above both places
    with platform.system_context() as ctx:
        identity.membership_set(ctx, agency_id=users.city, user_id=users.ids[users.admin], role="admin")
    city_admin = actor_for(platform, users.admin)
    p = refused(platform, city_admin, identity.agency_update, agency_id=users.division, parent_id=users.other_dept)
    assert p.status == 403

    # cycles: under itself, under its own child or grandchild
    for agency_id, new_parent in ((users.dept, users.dept), (users.dept, users.division),
                                  (users.city, users.division)):
        p = refused(platform, SYSTEM, identity.agency_update, agency_id=agency_id, parent_id=new_parent)
        assert p.status == 422, (agency_id, new_parent)
    p = refused(platform, SYSTEM, identity.agency_update, agency_id=users.division, parent_id=987654)
    assert p.status == 404
    p = refused(platform, SYSTEM, identity.agency_update, agency_id=987654, name="Không có")
    assert p.status == 404
    with platform.transaction() as db:
        assert db.get(Agency, users.city).parent_id is None
        assert db.get(Agency, users.dept).parent_id == users.city
        assert db.get(Agency, users.division).parent_id == users.dept

    # the system administrator moves the division to the other Sở, renaming it at the same time to a name
    # that is taken where it was but free where it goes
    call(platform, SYSTEM, identity.agency_create, code="skhcn.kh", name="Phòng Kế hoạch", kind="division",
         parent_id=users.dept)
    moved = call(platform, SYSTEM, identity.agency_update, agency_id=users.division, parent_id=users.other_dept,
                 name="Phòng Kế hoạch")
    assert (moved.parent_id, moved.name) == (users.other_dept, "Phòng Kế hoạch")
    # ... but not to a name taken where it goes
    call(platform, SYSTEM, identity.agency_create, code="skhcn.tc", name="Phòng Tổ chức", kind="division",
         parent_id=users.dept)
    p = refused(platform, SYSTEM, identity.agency_update, agency_id=users.division, parent_id=users.dept,
                name="Phòng Tổ chức")
    assert p.status == 409
    # ... after which the Sở's admin no longer manages it, and the other Sở's tree has it
    assert refused(platform, admin, identity.agency_update, agency_id=users.division, name="X").status == 403
    with platform.transaction() as db:
        entry = db.execute(select(AuditEntry).where(AuditEntry.action == "agency.update",
                                                    AuditEntry.object_id == str(users.division),
                                                    AuditEntry.outcome == "success")
                           .order_by(AuditEntry.seq.desc())).scalars().first()
    assert f'"parent_id":{users.other_dept}' in entry.detail


def test_agency_delete_rules(platform, users):
    admin = actor_for(platform, users.admin)
    assert refused(platform, admin, identity.agency_delete, agency_id=users.division).status == 403
    p = refused(platform, SYSTEM, identity.agency_delete, agency_id=users.dept)  # has a division
    assert p.status == 409 and p.code == "invalid-state"
    call(platform, SYSTEM, identity.agency_delete, agency_id=users.division)
    with platform.transaction() as db:
        assert db.get(Agency, users.division) is None
        assert db.get(Agency, users.dept) is not None
    assert refused(platform, SYSTEM, identity.agency_delete, agency_id=users.division).status == 404
    call(platform, SYSTEM, identity.agency_delete, agency_id=users.dept)  # now a leaf; its members go with it
    assert count(platform, Membership, Membership.agency_id == users.dept) == 0
    assert count(platform, User, User.email == users.admin) == 1  # the people stay
    with platform.transaction() as db:
        deleted = db.execute(select(AuditEntry.object_id).where(AuditEntry.action == "agency.delete",
                                                                AuditEntry.outcome == "success")).scalars().all()
    assert sorted(deleted) == sorted([str(users.division), str(users.dept)])


# =============================================================================== users


def test_user_email_normalised_and_duplicates_refused(platform):
    name = unicodedata.normalize("NFD", "Nguyễn Văn Ân")
    u = call(platform, SYSTEM, identity.user_create, email="  Nguyen.Van.An@SKHCN.HCMC.Gov.VN ", full_name=name,
             password=PASSWORD)
    assert u.email == "nguyen.van.an@skhcn.hcmc.gov.vn"
    assert u.full_name == "Nguyễn Văn Ân" and unicodedata.is_normalized("NFC", u.full_name)
    assert u.is_active and not u.is_sysadmin
    for email in ("nguyen.van.an@skhcn.hcmc.gov.vn", "NGUYEN.VAN.AN@skhcn.hcmc.gov.vn"):
        p = refused(platform, SYSTEM, identity.user_create, email=email, full_name="Khác")
        assert p.status == 409 and p.extra["field"] == "email", email
    # closed government networks use internal domains
    internal = call(platform, SYSTEM, identity.user_create, email="canbo@so.local", full_name="Cán bộ")
    assert internal.email == "canbo@so.local" and internal.password_hash is None
    for email in ("not-an-email", "a@", "@b.vn", "a b@c.vn", ""):
        p = refused(platform, SYSTEM, identity.user_create, email=email, full_name="X")
        assert p.status == 422 and p.extra["field"] == "email", email
    assert refused(platform, SYSTEM, identity.user_create, email="x@y.vn", full_name=" ").extra["field"] == "full_name"
    assert count(platform, User) == 2
    # login accepts the e-mail in any case and spacing
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        assert identity.authenticate(ctx, " NGUYEN.van.an@skhcn.hcmc.gov.vn", PASSWORD).id == u.id


def test_user_update_and_weak_passwords(platform, users):
    for weak in ("", "short", "123456789", "x" * 1025):
        p = refused(platform, SYSTEM, identity.user_create, email="weak@test.local", full_name="Yếu", password=weak)
        assert p.status == 422 and p.extra["field"] == "password", weak
    assert count(platform, User, User.email == "weak@test.local") == 0
    u = call(platform, SYSTEM, identity.user_create, email="weak@test.local", full_name="Yếu", password=PASSWORD)
    me = actor_for(platform, "weak@test.local")
    # changing your own password needs the current one, and the new one must be strong
    p = refused(platform, me, identity.user_update, user_id=u.id, password="Another-Password-1",
                current_password="wrong-password")
    assert p.status == 422 and p.extra["field"] == "current_password"
    p = refused(platform, me, identity.user_update, user_id=u.id, password="short", current_password=PASSWORD)
    assert p.status == 422 and p.extra["field"] == "password"
    with platform.unit_of_work(me) as ctx:
        _t, old_secret = identity.token_create(ctx, name="trước khi đổi mật khẩu")
    call(platform, me, identity.user_update, user_id=u.id, password="Another-Password-1", current_password=PASSWORD)
    with pytest.raises(Problem):  # a password change ends the other tokens
        identity.actor_for_secret(platform, old_secret)
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        assert identity.authenticate(ctx, "weak@test.local", "Another-Password-1").id == u.id
    assert refused(platform, Actor.anonymous(), identity.authenticate, email="weak@test.local",
                   password=PASSWORD).status == 401

    # a profile update
    member_id = users.ids[users.member]
    me = actor_for(platform, users.member)
    u = call(platform, me, identity.user_update, user_id=member_id, full_name=unicodedata.normalize(
        "NFD", "Trần Thị Bích"), locale="en")
    assert u.full_name == "Trần Thị Bích" and u.locale == "en"
    assert refused(platform, me, identity.user_update, user_id=member_id, locale="fr").status == 422
    assert refused(platform, me, identity.user_update, user_id=member_id, full_name="").status == 422
    assert refused(platform, SYSTEM, identity.user_update, user_id=987654, full_name="X").status == 404
    with platform.unit_of_work(me, write=False) as ctx:
        d = identity.user_to_dict(identity.me(ctx))
    assert d["email"] == users.member and d["agencies"] == [
        {"agency_id": users.dept, "code": "skhcn", "name": "Sở Khoa học và Công nghệ", "role": "member"}]
    assert "password_hash" not in d
    with platform.unit_of_work(Actor.anonymous(), write=False) as ctx, pytest.raises(Problem) as exc:
        identity.me(ctx)
    assert exc.value.status == 401


def test_password_hash_is_argon2id(monkeypatch):
    # the production parameters: the library's RFC 9106 defaults (the test settings lower the cost)
    monkeypatch.setattr(security, "_hasher", PasswordHasher())
    h = security.hash_password(PASSWORD)
    assert h.startswith("$argon2id$") and PASSWORD not in h
    assert not security.password_needs_rehash(h)
    assert h != security.hash_password(PASSWORD)  # salted
    assert security.verify_password(h, PASSWORD) and not security.verify_password(h, PASSWORD + "x")
    assert not security.verify_password(None, PASSWORD) and not security.verify_password("garbage", PASSWORD)


def test_stored_password_hash_is_argon2id_and_upgraded_on_login(platform, monkeypatch):
    # made with a weak (cheap) argon2 cost first ...
    u = call(platform, SYSTEM, identity.user_create, email="hash@test.local", full_name="Băm", password=PASSWORD)
    with platform.transaction() as db:
        cheap = db.execute(text("SELECT password_hash FROM user_account WHERE id = :id"), {"id": u.id}).scalar()
    assert cheap.startswith("$argon2id$") and PASSWORD not in cheap
    # ... a login with the platform's real hasher upgrades it
    monkeypatch.setattr(security, "_hasher", PasswordHasher())
    assert security.password_needs_rehash(cheap)
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        identity.login(ctx, "hash@test.local", PASSWORD)
    with platform.transaction() as db:
        upgraded = db.execute(text("SELECT password_hash FROM user_account WHERE id = :id"), {"id": u.id}).scalar()
    assert upgraded.startswith("$argon2id$") and upgraded != cheap
    assert not security.password_needs_rehash(upgraded)
    assert security.verify_password(upgraded, PASSWORD)


def test_deactivation_revokes_tokens(platform, users):
    member_id = users.ids[users.member]
    with platform.unit_of_work(actor_for(platform, users.member)) as ctx:
        _api, api_secret = identity.token_create(ctx, name="script", scopes=["read", "write"])
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        _access, access_secret = identity.login(ctx, users.member, PASSWORD, kind="access")
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        _web, web_secret = identity.login(ctx, users.member, PASSWORD, kind="web")
    for secret in (api_secret, access_secret, web_secret):
        assert identity.actor_for_secret(platform, secret).user_id == member_id

    # nobody but the sysadmin deactivates, and the sysadmin not themselves
    member = actor_for(platform, users.member)
    assert refused(platform, member, identity.user_update, user_id=member_id, is_active=False).status == 403
    assert refused(platform, actor_for(platform, users.admin), identity.user_update, user_id=member_id,
                   is_active=False).status == 403
    root = actor_for(platform, users.sysadmin)
    p = refused(platform, root, identity.user_update, user_id=users.ids[users.sysadmin], is_active=False)
    assert p.status == 422
    assert count(platform, ApiToken, ApiToken.user_id == member_id, ApiToken.revoked_at.is_(None)) == 3

    call(platform, root, identity.user_update, user_id=member_id, is_active=False)
    assert count(platform, ApiToken, ApiToken.user_id == member_id, ApiToken.revoked_at.is_(None)) == 0
    for secret in (api_secret, access_secret, web_secret):
        with pytest.raises(Problem) as exc:
            identity.actor_for_secret(platform, secret)
        assert exc.value.status == 401 and exc.value.code == "invalid-token"
    p = refused(platform, Actor.anonymous(), identity.login, email=users.member, password=PASSWORD)
    assert p.status == 401
    # reactivating does not bring the old tokens back
    call(platform, root, identity.user_update, user_id=member_id, is_active=True)
    with pytest.raises(Problem):
        identity.actor_for_secret(platform, api_secret)
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        identity.login(ctx, users.member, PASSWORD)
    # other users' tokens were untouched
    with platform.unit_of_work(actor_for(platform, users.editor)) as ctx:
        _t, editor_secret = identity.token_create(ctx, name="editor")
    call(platform, root, identity.user_update, user_id=member_id, is_active=False)
    assert identity.actor_for_secret(platform, editor_secret).email == users.editor


# =============================================================================== memberships


def test_memberships(platform, users):
    admin = actor_for(platform, users.admin)  # admin of the Sở
    # the Sở's admin places people in the Sở's division (inheritance downwards)
    newcomer = call(platform, admin, identity.user_create, email="moi@test.local", full_name="Người Mới",
                    agency_id=users.division, role="member")
    assert [(m.agency_id, m.role) for m in newcomer.memberships] == [(users.division, "member")]
    m = call(platform, admin, identity.membership_set, agency_id=users.division, user_id=newcomer.id, role="editor")
    assert m.role == "editor"
    assert count(platform, Membership, Membership.user_id == newcomer.id) == 1
    with platform.unit_of_work(admin, write=False) as ctx:
        listed = identity.membership_list(ctx, agency_id=users.division)
        assert [(x.user_id, x.role) for x in listed] == [(newcomer.id, "editor")]

    # the role counts in the division and below it, never above it
    with platform.unit_of_work(actor_for(platform, "moi@test.local"), write=False) as ctx:
        assert ctx.role_in(users.division) == "editor"
        assert ctx.has_role(users.division, "editor") and not ctx.has_role(users.division, "admin")
        assert ctx.role_in(users.dept) is None and not ctx.has_role(users.dept, "member")

    for kwargs, status in [
        (dict(agency_id=users.division, user_id=newcomer.id, role="owner"), 422),
        (dict(agency_id=users.division, user_id=987654, role="member"), 404),
        (dict(agency_id=users.other_dept, user_id=newcomer.id, role="member"), 403),  # not their agency
        (dict(agency_id=users.dept, user_id=newcomer.id, role="admin"), None),  # allowed, checked below
    ]:
        if status is None:
            call(platform, admin, identity.membership_set, **kwargs)
            continue
        assert refused(platform, admin, identity.membership_set, **kwargs).status == status, kwargs
    assert refused(platform, SYSTEM, identity.membership_set, agency_id=987654, user_id=newcomer.id,
                   role="member").status == 404
    with platform.transaction() as db:
        roles = {m.agency_id: m.role for m in db.get(User, newcomer.id).memberships}
    assert roles == {users.division: "editor", users.dept: "admin"}

    call(platform, admin, identity.membership_remove, agency_id=users.division, user_id=newcomer.id)
    assert refused(platform, admin, identity.membership_remove, agency_id=users.division,
                   user_id=newcomer.id).status == 404
    with platform.unit_of_work(admin, write=False) as ctx:
        assert identity.membership_list(ctx, agency_id=users.division) == []
    with platform.transaction() as db:
        actions = db.execute(select(AuditEntry.action, AuditEntry.object_id)
                             .where(AuditEntry.action.startswith("membership."), AuditEntry.outcome == "success",
                                    AuditEntry.object_id.startswith(f"{newcomer.id}@"))
                             .order_by(AuditEntry.seq)).all()
    key = f"{newcomer.id}@{users.division}"
    assert [tuple(a) for a in actions] == [("membership.set", key), ("membership.set", key),
                                           ("membership.set", f"{newcomer.id}@{users.dept}"),
                                           ("membership.remove", key)]


# =============================================================================== tokens


def _all_stored_text(platform) -> list[str]:
    """Every value in every table, as text."""
    values: list[str] = []
    with platform.transaction() as db:
        for table in Base.metadata.sorted_tables:
            for row in db.execute(select(table)).all():
                values.extend(str(v) for v in row if v is not None)
    return values


def test_token_secret_stored_only_as_sha256(platform, users):
    with platform.unit_of_work(actor_for(platform, users.member)) as ctx:
        token, secret = identity.token_create(ctx, name="máy chủ báo cáo", scopes=["write", "read", "read"])
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        _access, access_secret = identity.login(ctx, users.member, PASSWORD)
    assert secret.startswith("cai_") and access_secret.startswith("cat_") and len(secret) > 40
    assert token.scopes == ["read", "write"] and token.kind == "api"
    with platform.transaction() as db:
        row = db.execute(text("SELECT token_hash, prefix FROM api_token WHERE id = :id"), {"id": token.id}).one()
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.prefix == secret[:10]
    stored = _all_stored_text(platform)
    for s in (secret, access_secret):
        assert not any(s in v for v in stored), "a token secret is stored in clear"
        assert not any(s[10:30] in v for v in stored)
    assert "secret" not in identity.token_to_dict(token)

    actor = identity.actor_for_secret(platform, secret, ip="10.1.2.3")
    assert (actor.user_id, actor.kind, actor.scopes, actor.token_id) == (
        users.ids[users.member], "api", frozenset({"read", "write"}), token.id)
    with platform.transaction() as db:
        used = db.get(ApiToken, token.id)
        assert used.last_used_at is not None and used.last_used_ip == "10.1.2.3"
    with platform.unit_of_work(actor_for(platform, users.member), write=False) as ctx:
        assert [t.id for t in identity.token_list(ctx)] == [token.id]  # API tokens only, not the login one
    # a near miss is not the secret
    for wrong in (secret[:-1], secret + "x", secret.upper(), "", "x" * 201):
        with pytest.raises(Problem) as exc:
            identity.actor_for_secret(platform, wrong)
        assert exc.value.status == 401


def test_expired_and_revoked_tokens_rejected(platform, users):
    me = actor_for(platform, users.member)
    with platform.unit_of_work(me) as ctx:
        expiring, expiring_secret = identity.token_create(ctx, name="sắp hết hạn", expires_in_days=1)
        revoked, revoked_secret = identity.token_create(ctx, name="bị thu hồi")
    for secret in (expiring_secret, revoked_secret):
        assert identity.actor_for_secret(platform, secret).token_id in (expiring.id, revoked.id)
    assert expiring.expires_at - utcnow() <= dt.timedelta(days=1)

    with platform.transaction(write=True) as db:
        db.execute(update(ApiToken).where(ApiToken.id == expiring.id)
                   .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    with pytest.raises(Problem) as exc:
        identity.actor_for_secret(platform, expiring_secret)
    assert exc.value.status == 401 and exc.value.code == "invalid-token"
    assert "invalid_token" in exc.value.headers["WWW-Authenticate"]

    # someone else cannot revoke it; the owner can, and a second revoke changes nothing
    assert refused(platform, actor_for(platform, users.editor), identity.token_revoke,
                   token_id=revoked.id).status == 403
    first = call(platform, me, identity.token_revoke, token_id=revoked.id).revoked_at
    again = call(platform, me, identity.token_revoke, token_id=revoked.id).revoked_at
    assert first is not None and again == first
    with pytest.raises(Problem) as exc:
        identity.actor_for_secret(platform, revoked_secret)
    assert exc.value.status == 401
    assert refused(platform, me, identity.token_revoke, token_id=987654).status == 404

    with platform.unit_of_work(me, write=False) as ctx:
        assert identity.token_list(ctx) == []
        assert {t.id for t in identity.token_list(ctx, include_inactive=True)} == {expiring.id, revoked.id}
        assert not any(identity.token_to_dict(t)["active"] for t in identity.token_list(ctx, include_inactive=True))

    # logging out revokes a web session
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        _web, web_secret = identity.login(ctx, users.member, PASSWORD, kind="web")
    assert identity.actor_for_secret(platform, web_secret).kind == "web"
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        identity.logout(ctx, web_secret)
    with pytest.raises(Problem):
        identity.actor_for_secret(platform, web_secret)


def test_token_creation_rules(platform, users):
    member = actor_for(platform, users.member)
    with platform.unit_of_work(member) as ctx:
        default, _ = identity.token_create(ctx, name="mặc định")
    assert default.scopes == ["read"]
    assert dt.timedelta(days=89) < default.expires_at - utcnow() <= dt.timedelta(days=90)

    for kwargs, field in [
        (dict(name="a", scopes=["read", "superuser"]), "scopes"),
        (dict(name="b", scopes=["*"]), "scopes"),
        (dict(name="c", scopes=["admin"]), "scopes"),  # admin scope: system administrators only
        (dict(name="d", expires_in_days=0), "expires_in_days"),
        (dict(name="e", expires_in_days=367), "expires_in_days"),
        (dict(name="f", expires_in_days=None), "expires_in_days"),  # a token must expire
        (dict(name="  "), "name"),
    ]:
        p = refused(platform, member, identity.token_create, **kwargs)
        assert p.status == 422 and p.extra["field"] == field, kwargs
    p = refused(platform, member, identity.token_create, name="mặc định")
    assert p.status == 409 and p.extra["field"] == "name"
    # the same name is fine for another user
    with platform.unit_of_work(actor_for(platform, users.editor)) as ctx:
        identity.token_create(ctx, name="mặc định")

    # the system administrator may hold an admin-scope token
    with platform.unit_of_work(actor_for(platform, users.sysadmin)) as ctx:
        root_token, root_secret = identity.token_create(ctx, name="quản trị", scopes=["admin", "read", "write"])
    assert root_token.scopes == ["admin", "read", "write"]

    # an API token cannot mint tokens, whatever its scopes, even the sysadmin's
    with platform.unit_of_work(member) as ctx:
        _t, rw_secret = identity.token_create(ctx, name="ghi", scopes=["read", "write"])
    for secret in (rw_secret, root_secret):
        api_actor = identity.actor_for_secret(platform, secret)
        p = refused(platform, api_actor, identity.token_create, name="con", scopes=["read"])
        assert p.status == 403
    # a password login's access token can
    with platform.unit_of_work(Actor.anonymous()) as ctx:
        _a, access_secret = identity.login(ctx, users.member, PASSWORD)
    with platform.unit_of_work(identity.actor_for_secret(platform, access_secret)) as ctx:
        identity.token_create(ctx, name="từ phiên đăng nhập")
    with platform.transaction() as db:
        names = db.execute(select(ApiToken.name).where(ApiToken.user_id == users.ids[users.member],
                                                       ApiToken.kind == "api")).scalars().all()
    assert sorted(names) == sorted(["mặc định", "ghi", "từ phiên đăng nhập"])
    # anonymous: 401
    assert refused(platform, Actor.anonymous(), identity.token_create, name="x").status == 401


# =============================================================================== login


def _fail(platform, email: str, ip: str = "192.0.2.10") -> Problem:
    return _login_problem(platform, email, "Wrong-Password-000", ip)


def _login_problem(platform, email: str, password: str, ip: str) -> Problem:
    with pytest.raises(Problem) as exc, platform.unit_of_work(Actor.anonymous(), ip=ip) as ctx:
        identity.login(ctx, email, password)
    return exc.value


def _login(platform, email: str, password: str = PASSWORD, ip: str = "192.0.2.10") -> str:
    with platform.unit_of_work(Actor.anonymous(), ip=ip) as ctx:
        _token, secret = identity.login(ctx, email, password)
    return secret


def _login_audit(platform, email: str) -> list[tuple[str, str]]:
    with platform.transaction() as db:
        rows = db.execute(select(AuditEntry.outcome, AuditEntry.detail).where(AuditEntry.action == "auth.login")
                          .where(AuditEntry.object_id == email).order_by(AuditEntry.seq)).all()
    return [(o, d) for o, d in rows]


def test_login_throttled_after_max_failures(platform, users):
    limit = platform.settings.login_max_failures
    window = platform.settings.login_window_seconds
    assert limit >= 2
    for i in range(limit):
        p = _fail(platform, users.member)
        assert p.status == 401, i
        # recorded although the request failed and its transaction rolled back
        assert count(platform, LoginAttempt, LoginAttempt.email == users.member) == i + 1
    # now even the right password is refused, with a Retry-After
    p = _login_problem(platform, users.member, PASSWORD, "192.0.2.10")
    assert p.status == 429 and p.code == "too-many-attempts"
    retry = int(p.headers["Retry-After"])
    assert 0 < retry <= window and p.extra["retry_after"] == retry
    # from another address too: the limit is per account
    assert _login_problem(platform, users.member.upper(), PASSWORD, "198.51.100.1").status == 429
    assert count(platform, LoginAttempt, LoginAttempt.email == users.member) == limit
    outcomes = [(o, '"throttled"' in d) for o, d in _login_audit(platform, users.member)]
    assert outcomes == [("denied", False)] * limit + [("denied", True)] * 2
    # other accounts are not affected
    assert _login(platform, users.editor)
    # the failures age out of the window: the account can log in again
    with platform.transaction(write=True) as db:
        db.execute(update(LoginAttempt).values(at=utcnow() - dt.timedelta(seconds=window + 1)))
    assert identity.actor_for_secret(platform, _login(platform, users.member)).email == users.member
    assert count(platform, LoginAttempt, LoginAttempt.email == users.member) == 0
    with platform.system_context(write=False) as ctx:
        assert audit.verify_chain(ctx.db).ok


def test_login_counter_resets_on_success_and_address_limit(platform, users):
    limit = platform.settings.login_max_failures
    for _round in range(2):
        for _ in range(limit - 1):
            assert _fail(platform, users.member).status == 401
        assert count(platform, LoginAttempt, LoginAttempt.email == users.member) == limit - 1
        _login(platform, users.member)  # not throttled: one failure short of the limit
        assert count(platform, LoginAttempt, LoginAttempt.email == users.member) == 0
    # unknown accounts and deactivated ones fail the same way, and count too
    p = _fail(platform, "nobody@test.local")
    assert p.status == 401 and p.detail == ("E-mail hoặc mật khẩu không đúng.", "Wrong e-mail or password.")
    assert count(platform, LoginAttempt, LoginAttempt.email == "nobody@test.local") == 1
    call(platform, SYSTEM, identity.user_update, user_id=users.ids[users.editor], is_active=False)
    p = _login_problem(platform, users.editor, PASSWORD, "192.0.2.10")
    assert p.status == 401 and p.detail[1] == "Wrong e-mail or password."
    assert count(platform, LoginAttempt, LoginAttempt.email == users.editor) == 1
    assert [o for o, _ in _login_audit(platform, users.member)] == ["denied"] * 2 * (limit - 1)
    assert count(platform, AuditEntry, AuditEntry.action == "auth.login", AuditEntry.outcome == "success",
                 AuditEntry.object_id == str(users.ids[users.member])) == 2
    # and per address, across accounts
    platform.settings.login_max_failures_per_ip = 3
    for i in range(3):
        assert _fail(platform, f"guess{i}@test.local", ip="203.0.113.9").status == 401
    p = _login_problem(platform, users.member, PASSWORD, "203.0.113.9")
    assert p.status == 429 and int(p.headers["Retry-After"]) > 0
    assert _login(platform, users.member, ip="203.0.113.10")  # another address is fine


# =============================================================================== review regressions


def test_refusals_raised_inside_actions_are_audited(platform, users):
    """Moving an agency (non-sysadmin) and minting a token with an API token are refusals like any other."""
    admin = actor_for(platform, users.admin)
    p = refused(platform, admin, identity.agency_update, agency_id=users.division, parent_id=users.other_dept)
    assert p.status == 403
    api = Actor(**{**actor_for(platform, users.admin).__dict__, "kind": "api"})
    assert refused(platform, api, identity.token_create, name="from-a-token").status == 403
    with platform.transaction() as db:
        denied = db.execute(select(AuditEntry.action, AuditEntry.object_id, AuditEntry.actor)
                            .where(AuditEntry.outcome == "denied").order_by(AuditEntry.seq)).all()
        assert db.get(Agency, users.division).parent_id == users.dept
    assert [tuple(r) for r in denied] == [("agency.update", str(users.division), users.admin),
                                          ("token.create", None, users.admin)]
