"""The HTTP API under /api/v1, end to end through the ASGI app, on SQLite and PostgreSQL.

Covers the contract outside tools rely on (token login, /me, API tokens, audit), and what the API
does with bad input: every failure is an RFC 9457 problem with Vietnamese and English text, never a
500, and the stored data stays as it was.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select, update

from cityai.core.models import Agency, ApiToken, AuditEntry, Job, Membership, User
from tests.conftest import PASSWORD, login

PROBLEM_JSON = "application/problem+json"
PAGE_KEYS = {"items", "total", "limit", "offset", "next"}
COUNTED = {"agency": Agency, "user_account": User, "membership": Membership, "api_token": ApiToken,
           "job": Job}


# ------------------------------------------------------------------ helpers


def counts(platform) -> dict[str, int]:
    """Row counts of the core tables (the audit log is left out: refusals are audited)."""
    with platform.transaction() as db:
        return {name: db.execute(select(func.count()).select_from(model)).scalar_one()
                for name, model in COUNTED.items()}


def assert_problem(r, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status, with both languages."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON), r.headers["content-type"]
    body = r.json()
    for key in ("type", "title", "status", "detail"):
        assert body.get(key), (key, body)
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    if code is not None:
        assert body["type"] == f"/problems/{code}", body
    for lang in ("vi", "en"):
        assert body[lang]["title"] and body[lang]["detail"], body
    assert body["request_id"] == r.headers["x-request-id"]
    return body


def agency_body(**over: Any) -> dict[str, Any]:
    body = {"code": "t.demo", "name": "Phòng Thử nghiệm", "kind": "division", "name_en": "Test division",
            "description": "Đơn vị dùng để kiểm thử."}
    body.update(over)
    return body


# Validation that happens before any query behaves the same on every database: SQLite is enough.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def root(client, users) -> dict[str, str]:
    """Bearer headers of the system administrator."""
    return login(client, users.sysadmin)


# ------------------------------------------------------------------ the contract


def test_password_login_and_me(client, users):
    r = client.post("/api/v1/auth/token", data={"username": users.admin, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith("cat_") and body["expires_in"] > 0

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    data = me.json()
    assert data["email"] == users.admin and data["is_sysadmin"] is False and data["auth"] == "access"
    assert data["agencies"] == [{"agency_id": users.dept, "code": "skhcn", "name": "Sở Khoa học và Công nghệ",
                                 "role": "admin"}]

    # E-mail case does not matter; a wrong password is a 401 problem that says nothing about the account.
    assert client.post("/api/v1/auth/token", data={"username": users.admin.upper(), "password": PASSWORD}
                       ).status_code == 200
    bad = client.post("/api/v1/auth/token", data={"username": users.admin, "password": "wrong-password!"})
    assert_problem(bad, 401)
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody@test.local", "password": "x" * 12})
    assert_problem(unknown, 401)
    assert bad.json()["detail"] == unknown.json()["detail"]


@SQLITE_ONLY
def test_me_needs_authentication(client):
    r = client.get("/api/v1/me")
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_api_token_secret_shown_once_and_works(client, users):
    headers = login(client, users.member)
    r = client.post("/api/v1/tokens", headers=headers,
                    json={"name": "Đồng bộ dữ liệu", "scopes": ["read"], "expires_in_days": 30})
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["token"]
    assert secret.startswith("cai_") and secret.startswith(created["prefix"]) and len(secret) > 30
    assert created["scopes"] == ["read"] and created["active"] is True
    expires = dt.datetime.fromisoformat(created["expires_at"])
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(days=30)

    listed = client.get("/api/v1/tokens", headers=headers)
    assert listed.status_code == 200
    assert set(listed.json()) == PAGE_KEYS
    assert [t["name"] for t in listed.json()["items"]] == ["Đồng bộ dữ liệu"]
    assert secret not in listed.text and "token" not in listed.json()["items"][0]

    for auth in (f"Bearer {secret}", secret):  # standard bearer, and CKAN's bare header
        me = client.get("/api/v1/me", headers={"Authorization": auth})
        assert me.status_code == 200, (auth[:12], me.text)
        assert me.json()["email"] == users.member and me.json()["auth"] == "api"
        assert me.json()["scopes"] == ["read"]

    # A read-only token cannot write, and an API token cannot mint further tokens.
    write = client.post("/api/v1/agencies", headers={"Authorization": secret},
                        json=agency_body(parent_id=users.dept))
    assert_problem(write, 403, "forbidden")
    mint = client.post("/api/v1/tokens", headers={"Authorization": f"Bearer {secret}"},
                       json={"name": "again", "scopes": ["read"], "expires_in_days": 1})
    assert_problem(mint, 403)
    dup = client.post("/api/v1/tokens", headers=headers,
                      json={"name": "Đồng bộ dữ liệu", "scopes": ["read"], "expires_in_days": 1})
    assert_problem(dup, 409, "conflict")


@SQLITE_ONLY
def test_admin_scope_only_for_sysadmin(client, users):
    r = client.post("/api/v1/tokens", headers=login(client, users.admin),
                    json={"name": "quản trị", "scopes": ["admin"], "expires_in_days": 1})
    body = assert_problem(r, 422, "validation-error")
    assert body["field"] == "scopes"


def test_audit_list_for_admin(client, users, root):
    made = client.post("/api/v1/tokens", headers=root, json={"name": "siem", "scopes": ["read"],
                                                            "expires_in_days": 7})
    assert made.status_code == 201
    r = client.get("/api/v1/audit?limit=3", headers=root)
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == PAGE_KEYS and page["limit"] == 3 and len(page["items"]) == 3
    newest = page["items"][0]
    assert newest["action"] == "token.create" and newest["actor"] == users.sysadmin
    assert newest["object_id"] == str(made.json()["id"]) and newest["detail"]["name"] == "siem"
    assert [e["seq"] for e in page["items"]] == sorted((e["seq"] for e in page["items"]), reverse=True)
    assert page["next"] and "cursor=" in page["next"]
    older = client.get(page["next"], headers=root).json()
    assert older["items"][0]["seq"] < page["items"][-1]["seq"]

    filtered = client.get("/api/v1/audit", params={"action": "token.", "limit": 50}, headers=root).json()
    assert filtered["items"] and all(e["action"].startswith("token.") for e in filtered["items"])

    for who in (users.admin, users.member):
        assert_problem(client.get("/api/v1/audit", headers=login(client, who)), 403, "forbidden")
    assert_problem(client.get("/api/v1/audit"), 401)


# ------------------------------------------------------------------ malformed and oversized bodies


@SQLITE_ONLY
def test_malformed_json_is_400_problem(client, platform, users, root):
    before = counts(platform)
    for raw in (b'{"code": "x", "name": ', b"\xff\xfe garbage", b"[1, 2,", b'{"code": "x"}}'):
        r = client.post("/api/v1/agencies", headers={**root, "Content-Type": "application/json"}, content=raw)
        body = assert_problem(r, 400, "malformed-body")
        assert body["en"]["detail"] == "The request body is not valid JSON."
    assert counts(platform) == before


@pytest.fixture
def small_client(settings) -> Iterator[Any]:
    """A client of an app whose request bodies may be at most 2 KiB."""
    from fastapi.testclient import TestClient

    from cityai.core.config import Settings
    from cityai.core.platform import Platform
    from cityai.web.app import create_app

    small = Settings(**{**settings.model_dump(), "max_body_bytes": 2048})
    p = Platform(small, load_entry_points=False)
    try:
        with TestClient(create_app(p, run_worker=False), raise_server_exceptions=False) as c:
            c.platform = p
            yield c
    finally:
        p.close()


@SQLITE_ONLY
def test_body_over_limit_is_413(small_client):
    c = small_client
    from cityai.core import identity

    with c.platform.system_context() as ctx:
        identity.user_create(ctx, email="big@test.local", full_name="Big", password=PASSWORD,
                             is_sysadmin=True)
    headers = login(c, "big@test.local")
    before = counts(c.platform)
    big = agency_body(description="x" * 5000)

    # Declared length over the limit: refused before the body is read.
    r = c.post("/api/v1/agencies", headers=headers, json=big)
    body = assert_problem(r, 413, "payload-too-large")
    assert body["limit"] == 2048 and "2048" in body["en"]["detail"]

    # No Content-Length (chunked transfer): refused once the running total passes the limit.
    def chunks() -> Iterator[bytes]:
        data = __import__("json").dumps(big).encode()
        for i in range(0, len(data), 500):
            yield data[i:i + 500]

    r = c.post("/api/v1/agencies", headers={**headers, "Content-Type": "application/json"}, content=chunks())
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_problem(r, 413, "payload-too-large")

    # Form posts (the login form) have the same limit.
    r = c.post("/api/v1/auth/token", data={"username": "big@test.local", "password": "p" * 4000})
    assert_problem(r, 413, "payload-too-large")
    assert counts(c.platform) == before

    # A chunked body within the limit is read normally.
    def small_chunks() -> Iterator[bytes]:
        yield b'{"code": "t.small", "name": "Ph\xc3\xb2ng nh\xe1\xbb\x8f",'
        yield b' "kind": "division"}'

    ok = c.post("/api/v1/agencies", headers={**headers, "Content-Type": "application/json"},
                content=small_chunks())
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "Phòng nhỏ"


# ------------------------------------------------------------------ tokens that do not work


def test_invalid_expired_and_revoked_tokens_are_401(client, platform, users):
    headers = login(client, users.editor)
    secrets_ = {}
    for name in ("expired", "revoked"):
        r = client.post("/api/v1/tokens", headers=headers, json={"name": name, "scopes": ["read", "write"],
                                                                 "expires_in_days": 5})
        assert r.status_code == 201
        secrets_[name] = r.json()
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
        assert me.status_code == 200

    with platform.transaction(write=True) as db:
        db.execute(update(ApiToken).where(ApiToken.id == secrets_["expired"]["id"])
                   .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)))
    r = client.delete(f"/api/v1/tokens/{secrets_['revoked']['id']}", headers=headers)
    assert r.status_code == 204

    candidates = {
        "garbage": "Bearer not-a-token",
        "unknown": "Bearer cai_" + "A" * 43,
        "too long": "Bearer " + "x" * 5000,
        "expired": f"Bearer {secrets_['expired']['token']}",
        "revoked": f"Bearer {secrets_['revoked']['token']}",
        "revoked, bare": secrets_["revoked"]["token"],
        "other scheme": "Basic dXNlcjpwYXNz",
    }
    before = counts(platform)
    for label, auth in candidates.items():
        for method, path in (("GET", "/api/v1/me"), ("POST", "/api/v1/agencies")):
            r = client.request(method, path, headers={"Authorization": auth},
                               json=agency_body(parent_id=users.dept) if method == "POST" else None)
            assert_problem(r, 401, "invalid-token")
            assert r.headers["www-authenticate"].startswith("Bearer"), label
    assert counts(platform) == before
    listed = {t["name"]: t for t in client.get("/api/v1/tokens?include_inactive=true", headers=headers
                                               ).json()["items"]}
    assert listed["expired"]["active"] is False and listed["revoked"]["revoked_at"]


def test_logout_revokes_the_access_token(client, users):
    headers = login(client, users.member)
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert_problem(client.get("/api/v1/me", headers=headers), 401, "invalid-token")


# ------------------------------------------------------------------ conflicts and Unicode


def test_duplicate_agency_code_or_name_is_409(client, platform, users, root):
    r = client.post("/api/v1/agencies", headers=root, json=agency_body(parent_id=users.dept))
    assert r.status_code == 201, r.text
    before = counts(platform)

    same_code = client.post("/api/v1/agencies", headers=root,
                            json=agency_body(parent_id=users.dept, name="Phòng Khác"))
    assert assert_problem(same_code, 409, "conflict")["field"] == "code"
    upper_code = client.post("/api/v1/agencies", headers=root,
                             json=agency_body(parent_id=users.dept, code="T.DEMO", name="Phòng Khác nữa"))
    assert_problem(upper_code, 409, "conflict")
    same_name = client.post("/api/v1/agencies", headers=root,
                            json=agency_body(parent_id=users.dept, code="t.other"))
    assert assert_problem(same_name, 409, "conflict")["field"] == "name"
    padded = client.post("/api/v1/agencies", headers=root,
                         json=agency_body(parent_id=users.dept, code="t.other", name="  Phòng Thử nghiệm "))
    assert_problem(padded, 409, "conflict")
    assert counts(platform) == before

    # The same name under another parent is a different unit.
    elsewhere = client.post("/api/v1/agencies", headers=root,
                            json=agency_body(parent_id=users.other_dept, code="t.other"))
    assert elsewhere.status_code == 201, elsewhere.text


def test_duplicate_user_email_is_409(client, platform, users, root):
    before = counts(platform)
    r = client.post("/api/v1/users", headers=root, json={"email": users.member.upper(), "full_name": "Trùng"})
    assert assert_problem(r, 409, "conflict")["field"] == "email"
    assert counts(platform) == before


def test_decomposed_vietnamese_equals_composed(client, platform, users, root):
    assert unicodedata.normalize("NFD", "Hòa") != "Hòa"  # the requests below really differ byte for byte
    for n, (first_form, second_form) in enumerate([("NFD", "NFC"), ("NFC", "NFD")]):
        name = f"Phường Tân Hòa {n} - Thủ Đức"
        first = unicodedata.normalize(first_form, name)
        second = unicodedata.normalize(second_form, name)

        r = client.post("/api/v1/agencies", headers=root, json={"code": f"p.tanhoa{n}", "name": first,
                                                                "kind": "ward", "parent_id": users.city})
        assert r.status_code == 201, r.text
        assert r.json()["name"] == unicodedata.normalize("NFC", name)
        with platform.transaction() as db:
            stored = db.execute(select(Agency.name).where(Agency.code == f"p.tanhoa{n}")).scalar_one()
        assert stored == unicodedata.normalize("NFC", name)

        before = counts(platform)
        dup = client.post("/api/v1/agencies", headers=root, json={"code": f"p.other{n}", "name": second,
                                                                  "kind": "ward", "parent_id": users.city})
        assert assert_problem(dup, 409, "conflict")["field"] == "name"
        assert counts(platform) == before

    # Search matches whichever form the query arrives in.
    found = client.get("/api/v1/agencies", params={"q": unicodedata.normalize("NFD", "Tân Hòa 1")}).json()
    assert [a["code"] for a in found["items"]] == ["p.tanhoa1"]

    # People's names too.
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hòa")
    r = client.post("/api/v1/users", headers=root, json={"email": "hoa@test.local", "full_name": nfd})
    assert r.status_code == 201, r.text
    assert r.json()["full_name"] == unicodedata.normalize("NFC", nfd)


# ------------------------------------------------------------------ SQL-like input

SQLISH = [
    "'; DROP TABLE agency; --",
    "Robert'); DROP TABLE user_account;--",
    "1' OR '1'='1",
    '" OR ""="',
    "x'; DELETE FROM membership WHERE '1'='1",
    "%' OR name LIKE '%",
]


def _stored_agency(platform, agency_id: int) -> Agency:
    with platform.transaction() as db:
        a = db.get(Agency, agency_id)
        db.expunge(a)
        return a


def test_sql_like_strings_in_agency_fields(client, platform, users, root):
    before = counts(platform)
    created = 0
    for i, evil in enumerate(SQLISH):
        for field in ("code", "name", "name_en", "kind", "description"):
            body = agency_body(code=f"t.sql{i}.{field}", name=f"Phòng {i} {field}", parent_id=users.dept)
            body[field] = evil
            r = client.post("/api/v1/agencies", headers=root, json=body)
            assert r.status_code in (201, 422), (field, evil, r.status_code, r.text)
            if r.status_code == 422:
                assert_problem(r, 422, "validation-error")
                continue
            created += 1
            stored = _stored_agency(platform, r.json()["id"])
            assert getattr(stored, field) == evil, (field, evil)
            assert r.json()[field] == evil
        # a string is refused where an id is expected
        bad_parent = client.post("/api/v1/agencies", headers=root, json={**agency_body(code=f"t.p{i}"),
                                                                         "parent_id": evil})
        assert_problem(bad_parent, 422, "validation-error")
        # and it is only text in a search
        search = client.get("/api/v1/agencies", params={"q": evil})
        assert search.status_code == 200, search.text
        assert evil in [a["name_en"] for a in search.json()["items"]]  # the row stored above

    after = counts(platform)
    assert created >= len(SQLISH) * 3  # name, name_en and description are stored as they came
    assert after == {**before, "agency": before["agency"] + created}
    assert client.get("/readyz").status_code == 200


def test_sql_like_strings_in_user_fields(client, platform, users, root):
    before = counts(platform)
    created = 0
    for i, evil in enumerate(SQLISH):
        for field in ("email", "full_name", "password", "role", "agency_id", "is_sysadmin"):
            body: dict[str, Any] = {"email": f"sql{i}.{field}@test.local", "full_name": f"Người {i}",
                                    "password": PASSWORD, "agency_id": users.dept, "role": "member"}
            body[field] = evil
            r = client.post("/api/v1/users", headers=root, json=body)
            assert r.status_code in (201, 422), (field, evil, r.status_code, r.text)
            if r.status_code == 422:
                assert_problem(r, 422, "validation-error")
                continue
            created += 1
            assert field in ("full_name", "password")
            with platform.transaction() as db:
                u = db.get(User, r.json()["id"])
                assert u.full_name == body["full_name"] and u.email == body["email"]
            if field == "password":  # the password is the SQL-like string itself, and it works
                ok = client.post("/api/v1/auth/token", data={"username": body["email"], "password": evil})
                assert ok.status_code == 200, ok.text
    # E-mail local parts may legally hold quotes: stored as typed (lower-cased), never interpreted.
    quoted = "o'neil--drop@test.local"
    r = client.post("/api/v1/users", headers=root, json={"email": quoted, "full_name": "O'Neil"})
    assert r.status_code == 201, r.text
    assert r.json()["email"] == quoted and r.json()["full_name"] == "O'Neil"
    created += 1

    after = counts(platform)
    assert created >= len(SQLISH) + 1
    assert after["agency"] == before["agency"] and after["job"] == before["job"]
    assert after["user_account"] == before["user_account"] + created
    assert after["membership"] == before["membership"] + created - 1
    assert after["api_token"] > before["api_token"]  # the password logins above


# ------------------------------------------------------------------ validation


@SQLITE_ONLY
def test_unknown_fields_are_422(client, platform, root):
    before = counts(platform)
    for path, body, extra in [
        ("/api/v1/agencies", agency_body(), "is_active"),
        ("/api/v1/users", {"email": "extra@test.local", "full_name": "Extra"}, "is_superuser"),
        ("/api/v1/tokens", {"name": "extra", "scopes": ["read"], "expires_in_days": 1}, "token_hash"),
    ]:
        r = client.post(path, headers=root, json={**body, extra: True})
        problem = assert_problem(r, 422, "validation-error")
        assert extra in problem["detail"] and extra in problem["en"]["detail"]
        assert any(e["loc"][-1] == extra and e["type"] == "extra_forbidden" for e in problem["errors"])
    assert counts(platform) == before


@SQLITE_ONLY
def test_wrong_types_are_422_naming_the_field(client, platform, root):
    before = counts(platform)
    for path, body, field in [
        ("/api/v1/agencies", agency_body(parent_id="first"), "parent_id"),
        ("/api/v1/agencies", agency_body(name=["Phòng", "Ban"]), "name"),
        ("/api/v1/agencies", agency_body(code=12345), "code"),
        ("/api/v1/users", {"email": "types@test.local", "full_name": "T", "is_sysadmin": "maybe"},
         "is_sysadmin"),
        ("/api/v1/users", {"email": "types@test.local", "full_name": {"first": "T"}}, "full_name"),
        ("/api/v1/tokens", {"name": "t", "scopes": "read", "expires_in_days": 1}, "scopes"),
        ("/api/v1/tokens", {"name": "t", "scopes": ["read"], "expires_in_days": "forever"},
         "expires_in_days"),
        ("/api/v1/tokens", {"name": "t", "scopes": ["read"], "expires_in_days": 100000}, "expires_in_days"),
    ]:
        problem = assert_problem(client.post(path, headers=root, json=body), 422, "validation-error")
        assert field in problem["detail"] and field in problem["en"]["detail"], (field, problem["detail"])
        assert any(field in e["loc"] for e in problem["errors"])
    assert counts(platform) == before


@SQLITE_ONLY
def test_missing_body_and_wrong_content_type(client, platform, root):
    before = counts(platform)
    assert_problem(client.post("/api/v1/agencies", headers=root), 422, "validation-error")
    assert_problem(client.post("/api/v1/agencies", headers=root, json=[agency_body()]), 422)
    assert_problem(client.post("/api/v1/agencies", headers=root, json="text"), 422)
    r = client.post("/api/v1/agencies", headers=root, data={"code": "x", "name": "y", "kind": "ward"})
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM_JSON)
    assert counts(platform) == before


@SQLITE_ONLY
def test_unknown_route_and_wrong_method(client):
    r = client.get("/api/v1/no-such-thing")
    body = assert_problem(r, 404, "not-found")
    assert "/api/v1/no-such-thing" in body["detail"]
    assert_problem(client.get("/definitely/not/here"), 404, "not-found")

    r = client.delete("/api/v1/me")
    body = assert_problem(r, 405, "method-not-allowed")
    assert "DELETE" in body["en"]["detail"]
    assert "GET" in r.headers.get("allow", "")
    assert_problem(client.put("/healthz"), 405, "method-not-allowed")


@SQLITE_ONLY
def test_accept_language_chooses_the_title(client):
    vi = client.get("/api/v1/nothing")
    en = client.get("/api/v1/nothing", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert vi.json()["title"] == "Không tìm thấy"
    assert en.json()["title"] == "Not found" and en.json()["detail"] == en.json()["en"]["detail"]
    assert vi.json()["vi"] == en.json()["vi"] and vi.json()["en"] == en.json()["en"]
    title = client.get("/api/v1/me", headers={"Accept-Language": "en"}).json()["title"]
    assert title == "Authentication required"
    # Vietnamese wins when asked for first; unknown languages fall back to Vietnamese.
    title = client.get("/api/v1/me", headers={"Accept-Language": "vi,en;q=0.5"}).json()["title"]
    assert title == "Chưa xác thực"
    assert client.get("/api/v1/me", headers={"Accept-Language": "fr"}).json()["title"] == "Chưa xác thực"


# ------------------------------------------------------------------ request ids, health, docs


@SQLITE_ONLY
def test_request_id_is_echoed_or_replaced(client):
    sane = "req-2025.07.01_abc"
    r = client.get("/healthz", headers={"X-Request-ID": sane})
    assert r.headers["x-request-id"] == sane

    for hostile in ("<script>alert(1)</script>", "x" * 300, "short", "a b c d e f g h", "id;rm -rf /", ""):
        r = client.get("/api/v1/nope", headers={"X-Request-ID": hostile})
        rid = r.headers["x-request-id"]
        assert rid != hostile and re.fullmatch(r"[0-9a-f]{32}", rid), (hostile, rid)
        assert r.json()["request_id"] == rid

    a, b = client.get("/healthz").headers["x-request-id"], client.get("/healthz").headers["x-request-id"]
    assert a != b


def test_audit_entries_carry_the_request_id(client, users, root):
    rid = "trace-4f0e9c2a77"
    r = client.post("/api/v1/agencies", headers={**root, "X-Request-ID": rid},
                    json=agency_body(parent_id=users.dept))
    assert r.status_code == 201
    entries = client.get("/api/v1/audit", params={"action": "agency.create", "limit": 1}, headers=root).json()
    assert entries["items"][0]["request_id"] == rid


def test_health_and_readiness(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert {"database", "migrations"} <= set(body["checks"])
    assert all(v == "ok" for v in body["checks"].values())


@SQLITE_ONLY
def test_security_headers(client):
    r = client.get("/api/v1/agencies")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in r.headers["content-security-policy"]


@SQLITE_ONLY
def test_openapi_lists_the_api(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/tokens", "/api/v1/tokens/{token_id}",
                 "/api/v1/agencies", "/api/v1/agencies/{agency_id}", "/api/v1/users", "/api/v1/jobs",
                 "/api/v1/audit", "/healthz", "/readyz"):
        assert path in paths, path
    assert "post" in paths["/api/v1/agencies"] and "get" in paths["/api/v1/agencies"]
    assert not [p for p in paths if p.startswith(("/login", "/tokens", "/agencies", "/static"))]
    assert "/api/docs" not in paths


@SQLITE_ONLY
def test_api_docs_are_served_offline(client):
    r = client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "/static/vendor/swagger-ui/swagger-ui.css" in html and "/openapi.json" in html
    assert "http://" not in html and "https://" not in html, "the docs page must not load anything from a CDN"
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        got = client.get(asset)
        assert got.status_code == 200 and len(got.content) > 100, asset


# ------------------------------------------------------------------ pagination


def _follow(client, url: str, headers: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    seen: list[dict[str, Any]] = []
    pages = 0
    total = None
    while url:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == PAGE_KEYS, page.keys()
        assert len(page["items"]) <= page["limit"]
        total = page["total"] if total is None else total
        assert page["total"] == total and page["offset"] == len(seen)
        seen.extend(page["items"])
        url = page["next"]
        pages += 1
        assert pages < 100
    assert len(seen) == total
    return seen, pages


def test_pagination_visits_every_item_once(client, platform, users, root):
    for i in range(9):
        r = client.post("/api/v1/agencies", headers=root,
                        json={"code": f"ward.{i:02d}", "name": f"Phường {i:02d}", "kind": "ward",
                              "parent_id": users.city})
        assert r.status_code == 201
        r = client.post("/api/v1/users", headers=root,
                        json={"email": f"u{i}@test.local", "full_name": f"U {i}", "agency_id": users.dept})
        assert r.status_code == 201

    agencies, pages = _follow(client, "/api/v1/agencies?limit=4", {})
    ids = [a["id"] for a in agencies]
    assert len(ids) == len(set(ids)) == counts(platform)["agency"] == 13 and pages == 4
    assert {a["code"] for a in agencies} >= {f"ward.{i:02d}" for i in range(9)}

    people, pages = _follow(client, "/api/v1/users?limit=5", root)
    ids = [u["id"] for u in people]
    assert len(ids) == len(set(ids)) == counts(platform)["user_account"] == 14 and pages == 3
    last = client.get("/api/v1/users?limit=5&offset=10", headers=root).json()
    assert last["next"] is None and len(last["items"]) == 4

    # A filter keeps the filter in ``next``.
    wards, _ = _follow(client, "/api/v1/agencies?limit=2&kind=ward", {})
    assert len(wards) == 9 and all(a["kind"] == "ward" for a in wards)

    # Page sizes are 1-500.
    assert client.get("/api/v1/agencies?limit=500").json()["limit"] == 500
    for query in ("limit=501", "limit=0", "limit=-1", "offset=-5", "limit=abc"):
        for path in ("/api/v1/agencies", "/api/v1/users"):
            body = assert_problem(client.get(f"{path}?{query}", headers=root), 422, "validation-error")
            assert query.split("=")[0] in body["detail"]

    # An agency admin sees only their agency's people, paged the same way.
    mine, _ = _follow(client, "/api/v1/users?limit=3", login(client, users.admin))
    assert {u["email"] for u in mine} >= {users.admin, users.editor, users.member}
    assert users.outsider not in {u["email"] for u in mine}
    assert users.sysadmin not in {u["email"] for u in mine}


def test_values_the_database_cannot_store_are_4xx(client, platform, users, root, backend):
    """PostgreSQL refuses NUL characters and ids beyond its integer range: bad input, never a 500.

    SQLite stores or finds nothing for the same requests; either way nothing else changes.
    """
    huge = 99_999_999_999
    before = counts(platform)
    probes = [
        ("GET", f"/api/v1/agencies/{huge}", None),
        ("GET", f"/api/v1/agencies/{2 ** 70}", None),
        ("PATCH", f"/api/v1/users/{2 ** 70}", {"full_name": "x"}),
        ("GET", f"/api/v1/agencies?parent_id={huge}", None),
        ("GET", "/api/v1/agencies?kind=%00", None),
        ("GET", f"/api/v1/users/{huge}", None),
        ("GET", "/api/v1/audit?actor=%00&action=%00", None),
        ("GET", "/api/v1/audit?since=%00", None),
        ("GET", "/api/v1/audit?cursor=99999999999999999999", None),
        ("GET", "/api/v1/jobs/%00", None),
        ("DELETE", f"/api/v1/tokens/{huge}", None),
        ("POST", "/api/v1/agencies", {"code": "t.huge", "name": "x", "kind": "ward", "parent_id": huge}),
        ("POST", "/api/v1/users", {"email": "huge@test.local", "full_name": "x", "agency_id": huge}),
        ("PUT", f"/api/v1/agencies/{users.dept}/members/{huge}", {"role": "member"}),
        ("POST", "/api/v1/jobs", {"kind": "audit.verify", "title": "a\x00b"}),
    ]
    for method, url, body in probes:
        r = client.request(method, url, headers=root, json=body)
        assert r.status_code < 500, (method, url, r.status_code, r.text[:300])
        if backend == "postgresql" or r.status_code >= 400:
            assert 400 <= r.status_code, (method, url, r.text[:300])
            assert_problem(r, r.status_code)
    after = counts(platform)
    assert {**after, "job": 0} == {**before, "job": 0}
    if backend == "postgresql":
        assert after == before


# ------------------------------------------------------------------ fuzz

HOSTILE = [
    "Đ" * 20_000,  # very long
    "\x00",  # NUL
    "\x07\x08\x1b[31mred\x7f",  # control characters
    "line\r\nInjected-Header: yes",
    "😀🏙️👨‍👩‍👧\U0010ffff",  # emoji, a ZWJ sequence, the last code point
    "\u202e\u200fطهران\u200e\ufeff\u200b",  # RTL override and marks, BOM, zero-width space
    "<script>alert(1)</script>",
    "%00",
    "../../etc/passwd",
    "' OR 1=1 --",
    "{{ 7*7 }}",
    "   ",
]


def test_hostile_strings_never_cause_500(client, platform, users, root):
    """Every text field of every create endpoint, fed hostile strings: always a reply below 500."""
    seen_statuses: set[int] = set()

    def check(r, where: str) -> None:
        assert r.status_code < 500, (where, r.status_code, r.text[:500])
        seen_statuses.add(r.status_code)
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith(PROBLEM_JSON), where

    creates: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("POST", "/api/v1/agencies",
         {"code": "fz.{n}", "name": "Phòng {n}", "kind": "division", "parent_id": users.dept},
         ["code", "name", "name_en", "kind", "description"]),
        ("POST", "/api/v1/users", {"email": "fz{n}@test.local", "full_name": "Fz {n}", "password": PASSWORD,
                                   "role": "member", "agency_id": users.dept},
         ["email", "full_name", "password", "role"]),
        ("POST", "/api/v1/tokens", {"name": "fz {n}", "scopes": ["read"], "expires_in_days": 1}, ["name"]),
        ("POST", "/api/v1/jobs", {"kind": "audit.verify", "title": "fz {n}"}, ["kind", "title"]),
        ("PATCH", f"/api/v1/agencies/{users.division}", {}, ["name", "name_en", "description", "kind"]),
        ("PUT", f"/api/v1/agencies/{users.dept}/members/{users.ids[users.outsider]}", {"role": "member"},
         ["role"]),
    ]
    n = 0
    for evil in HOSTILE:
        for method, path, template, fields in creates:
            for field in fields:
                n += 1
                body = {k: v.format(n=n) if isinstance(v, str) else v for k, v in template.items()}
                body[field] = evil
                check(client.request(method, path, headers=root, json=body),
                      f"{method} {path} {field}={evil[:20]!r}")
        for param in ("q", "kind"):
            check(client.get("/api/v1/agencies", params={param: evil[:200]}), f"agencies?{param}")
        check(client.get("/api/v1/users", params={"q": evil[:200]}, headers=root), "users?q")
        check(client.get("/api/v1/audit", params={"actor": evil[:320], "action": evil[:100]}, headers=root),
              "audit")
        for username in (evil[:320], users.editor):
            form = {"username": username, "password": evil[:1024]}
            check(client.post("/api/v1/auth/token", data=form), "login")

    assert 200 in seen_statuses or 201 in seen_statuses  # some strings are legitimate text
    assert 422 in seen_statuses
    # Legitimate text was stored as sent; everything stored is still readable; the audit chain is intact.
    names = {a["name"] for a in client.get("/api/v1/agencies?limit=500").json()["items"]}
    assert {"<script>alert(1)</script>", "../../etc/passwd", "' OR 1=1 --", "{{ 7*7 }}"} <= names
    assert client.get("/api/v1/users?limit=500", headers=root).status_code == 200
    verify = client.post("/api/v1/audit/verify", headers=root)
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text
    with platform.transaction() as db:
        assert db.execute(select(func.count()).select_from(AuditEntry)).scalar_one() > 0


# ------------------------------------------------------------------ review regressions


@SQLITE_ONLY
def test_logout_with_the_bare_authorization_header(client, users):
    """The bare ``Authorization: <token>`` form authenticates, so it must log out too."""
    secret = login(client, users.member)["Authorization"].split(" ", 1)[1]
    assert client.get("/api/v1/me", headers={"Authorization": secret}).status_code == 200
    assert client.post("/api/v1/auth/logout", headers={"Authorization": secret}).status_code == 204
    assert_problem(client.get("/api/v1/me", headers={"Authorization": secret}), 401, "invalid-token")


@SQLITE_ONLY
def test_client_address_behind_a_trusted_proxy_is_not_spoofable(client, platform, users, root):
    """The proxy appends the real peer to X-Forwarded-For; what the client wrote to its left is not
    believed (it would dodge the per-address login limit and falsify audit entries)."""
    platform.settings.trusted_proxies = "10.0.0.2, testclient"

    def denied_login_ip(forwarded: str) -> str:
        r = client.post("/api/v1/auth/token", data={"username": users.member, "password": "Wrong-Password-1"},
                        headers={"X-Forwarded-For": forwarded})
        assert r.status_code == 401
        with platform.transaction() as db:
            return db.execute(select(AuditEntry.ip).where(AuditEntry.action == "auth.login")
                              .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()

    assert denied_login_ip("198.51.100.66, 203.0.113.7") == "203.0.113.7"
    assert denied_login_ip("198.51.100.66, 203.0.113.8, 10.0.0.2") == "203.0.113.8"  # two proxies
    assert denied_login_ip("203.0.113.9") == "203.0.113.9"
    platform.settings.trusted_proxies = ""
    assert denied_login_ip("198.51.100.66") == "testclient"  # an untrusted peer's header is ignored


@SQLITE_ONLY
def test_internal_error_response_carries_request_id_and_security_headers(client, users, monkeypatch):
    from cityai.core import identity

    headers = login(client, users.member)
    monkeypatch.setattr(identity, "me", lambda ctx: 1 / 0)
    r = client.get("/api/v1/me", headers={**headers, "X-Request-ID": "trace-500-check"})
    body = assert_problem(r, 500, "internal-error")
    assert body["request_id"] == "trace-500-check"
    assert "ZeroDivisionError" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
