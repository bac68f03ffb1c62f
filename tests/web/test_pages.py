"""Server-rendered pages through the TestClient: language, login cookie, CSRF, tokens, audit, roles.

Pages must render for every role without a server error, and must work offline: no page refers to
anything outside the platform itself.
"""

from __future__ import annotations

import html as htmllib
import re
import pytest
from sqlalchemy import func, select

from cityai.core.models import Agency, ApiToken, Job, Membership, User
from tests.conftest import PASSWORD

HTML = {"Accept": "text/html,application/xhtml+xml"}
SESSION = "cityai_session"
EXTERNAL = re.compile(r"""\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def web_login(client, email: str, password: str = PASSWORD, next_: str = "/") -> str:
    """Log in through the form, as a browser does; the client keeps the cookie. Returns the session secret."""
    client.cookies.clear()
    r = client.post("/login", data={"email": email, "password": password, "next": next_}, headers=HTML,
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    secret = r.cookies.get(SESSION)
    assert secret
    return secret


def csrf_from(page: str) -> str:
    tokens = set(re.findall(r'name="csrf_token" value="([^"]*)"', page))
    assert len(tokens) == 1 and "" not in tokens, tokens
    return tokens.pop()


def counts(platform) -> dict[str, int]:
    with platform.transaction() as db:
        return {m.__tablename__: db.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (Agency, User, Membership, ApiToken, Job)}


def test_offline_check_recognises_external_urls():
    for bad in ('<script src="https://cdn.example/x.js">', "<link href='http://cdn.example/a.css'>",
                '<img src="//cdn.example/x.png">', '<form action="https://evil.example/">'):
        assert EXTERNAL.search(bad), bad
    for good in ('<a href="/agencies">', '<link rel="icon" href="data:,">', '<a href="?lang=en">',
                 '<td data-testid="x">https://example.org in text</td>'):
        assert not EXTERNAL.search(good), good


def assert_offline(page: str, where: str) -> None:
    found = EXTERNAL.findall(page)
    assert not found, (where, found)


# ------------------------------------------------------------------ language


@SQLITE_ONLY
def test_login_page_language(client):
    r = client.get("/login", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="vi"' in r.text and "Đăng nhập" in r.text and "Mật khẩu" in r.text
    assert "Log in" not in r.text
    assert "cityai_lang" not in r.headers.get("set-cookie", "")

    r = client.get("/login?lang=en", headers=HTML)
    assert '<html lang="en"' in r.text and "Log in" in r.text and "Password" in r.text
    assert "Đăng nhập" not in r.text
    cookie = r.headers["set-cookie"]
    assert "cityai_lang=en" in cookie and "Path=/" in cookie and "samesite=lax" in cookie.lower()
    assert client.cookies.get("cityai_lang") == "en"

    # The choice sticks without the query parameter, and wins over the browser's language.
    again = client.get("/login", headers={**HTML, "Accept-Language": "vi"})
    assert '<html lang="en"' in again.text and "Log in" in again.text
    assert "set-cookie" not in again.headers  # already set: not sent again
    assert "Log in" in client.get("/agencies", headers=HTML).text

    back = client.get("/login?lang=vi", headers=HTML)
    assert "Đăng nhập" in back.text and client.cookies.get("cityai_lang") == "vi"

    # Pages are Vietnamese unless the user picks English: the browser's language does not switch them.
    client.cookies.clear()
    assert "Đăng nhập" in client.get("/login", headers={**HTML, "Accept-Language": "en-GB,en;q=0.8"}).text
    assert "Đăng nhập" in client.get("/login?lang=xx", headers=HTML).text  # unknown language: Vietnamese
    assert client.cookies.get("cityai_lang") is None


@SQLITE_ONLY
def test_error_pages_are_html_for_browsers(client):
    r = client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Không tìm thấy" in r.text and 'href="/problems/not-found"' in r.text
    r = client.get("/no/such/page?lang=en", headers=HTML)
    assert "Not found" in r.text
    # Programs (no text/html in Accept) get problem details on the same URL.
    r = client.get("/no/such/page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


# ------------------------------------------------------------------ login and session


def test_login_form_sets_a_safe_session_cookie(client, users):
    r = client.post("/login", data={"email": users.member, "password": PASSWORD, "next": "/tokens"},
                    headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/tokens"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION}=caw_")
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
    assert "httponly" in attrs and attrs["samesite"].lower() == "samesite=lax" and attrs["path"] == "Path=/"
    assert "secure" not in attrs  # plain http base URL in tests; https deployments get Secure

    page = client.get("/tokens", headers=HTML)
    assert page.status_code == 200 and users.member in page.text and "Đăng xuất" in page.text

    # The session cookie is a web session, not an API credential for other hosts' scripts: it still
    # identifies the user on the API, but unsafe API calls by cookie need the CSRF token.
    assert client.get("/api/v1/me").json()["auth"] == "web"


@SQLITE_ONLY
def test_login_failure_and_open_redirects(client, users):
    r = client.post("/login", data={"email": users.member, "password": "wrong-password-1"}, headers=HTML,
                    follow_redirects=False)
    assert r.status_code == 401 and SESSION not in r.headers.get("set-cookie", "")
    assert "E-mail hoặc mật khẩu không đúng." in r.text
    assert f'value="{users.member}"' in r.text  # the e-mail is kept in the form

    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        r = client.post("/login", data={"email": users.member, "password": PASSWORD, "next": target},
                        headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/", target
    page = client.get("/login?next=//evil.example", headers=HTML).text
    assert 'name="next" value="/"' in page


@SQLITE_ONLY
def test_anonymous_private_pages_redirect_to_login(client, users):
    for path in ("/tokens", "/jobs", "/users", "/audit"):
        r = client.get(path, headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}", path


def test_logout_revokes_the_session(client, users):
    secret = web_login(client, users.editor)
    page = client.get("/tokens", headers=HTML)
    assert users.editor in page.text
    r = client.post("/logout", data={"csrf_token": csrf_from(page.text)}, headers=HTML,
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert f'{SESSION}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert not client.cookies.get(SESSION)

    # Replaying the old cookie: the session is revoked server-side, not just forgotten by the browser.
    client.cookies.set(SESSION, secret)
    r = client.get("/tokens", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    home = client.get("/", headers=HTML)
    assert home.status_code == 200 and users.editor not in home.text


# ------------------------------------------------------------------ CSRF


def test_csrf_is_required_for_cookie_posts(client, platform, users):
    web_login(client, users.admin)
    page = client.get(f"/agencies/{users.dept}", headers=HTML)
    assert page.status_code == 200
    token = csrf_from(page.text)
    form = {"code": "skhcn.csrf", "name": "Phòng Kiểm thử CSRF", "kind": "division"}
    before = counts(platform)

    for label, data, headers in [
        ("missing", form, {}),
        ("empty", {**form, "csrf_token": ""}, {}),
        ("wrong", {**form, "csrf_token": "0" * 64}, {}),
        ("another session's", {**form, "csrf_token": token[:-1] + ("0" if token[-1] != "0" else "1")}, {}),
        ("wrong header", form, {"X-CSRF-Token": "nope"}),
    ]:
        r = client.post(f"/agencies/{users.dept}/children", data=data, headers=headers,
                        follow_redirects=False)
        assert r.status_code == 403, (label, r.status_code, r.text[:200])
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "/problems/csrf-failed", label
    # A browser gets the same refusal as a page.
    r = client.post(f"/agencies/{users.dept}/children", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "Phiên biểu mẫu không hợp lệ" in r.text
    # JSON API calls authenticated only by the cookie need it too.
    r = client.post("/api/v1/agencies", json={**form, "parent_id": users.dept})
    assert r.status_code == 403 and r.json()["type"] == "/problems/csrf-failed"
    assert counts(platform) == before

    r = client.post(f"/agencies/{users.dept}/children", data={**form, "csrf_token": token}, headers=HTML,
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/agencies/{users.dept}"
    assert counts(platform)["agency"] == before["agency"] + 1
    assert "Phòng Kiểm thử CSRF" in client.get(f"/agencies/{users.dept}", headers=HTML).text

    # htmx sends the token as a header (base.html puts it in hx-headers).
    r = client.post(f"/agencies/{users.dept}/children", headers={"X-CSRF-Token": token},
                    data={"code": "skhcn.htmx", "name": "Phòng htmx", "kind": "division"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert f'"X-CSRF-Token": "{token}"' in htmllib.unescape(page.text)


@SQLITE_ONLY
def test_csrf_token_is_bound_to_the_session(client, users):
    web_login(client, users.sysadmin)
    first = csrf_from(client.get("/tokens", headers=HTML).text)
    web_login(client, users.sysadmin)
    second = csrf_from(client.get("/tokens", headers=HTML).text)
    assert first != second
    r = client.post("/tokens", data={"name": "old form", "csrf_token": first}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/tokens", data={"name": "new form", "csrf_token": second}, headers=HTML)
    assert r.status_code == 201


# ------------------------------------------------------------------ tokens and audit pages


def test_token_page_shows_the_secret_once(client, users):
    web_login(client, users.sysadmin)
    page = client.get("/tokens", headers=HTML)
    r = client.post("/tokens", headers=HTML, data={
        "name": "Kết nối CKAN", "scopes": ["read", "write"], "expires_in_days": "30",
        "csrf_token": csrf_from(page.text)})
    assert r.status_code == 201, r.text[:500]
    match = re.search(r'data-testid="token-secret">([^<]+)<', r.text)
    assert match, r.text
    secret = match.group(1)
    assert secret.startswith("cai_") and len(secret) > 30

    listing = client.get("/tokens", headers=HTML).text
    assert secret not in listing and "token-secret" not in listing
    assert "Kết nối CKAN" in listing and f"<code>{secret[:10]}…</code>" in listing
    assert "read, write" in listing

    # The secret works against the API, with the scopes chosen on the form.
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["scopes"] == ["read", "write"]

    # Bad form input is refused with a page, not a crash, and creates nothing.
    token = csrf_from(listing)
    for bad in ({"name": "", "expires_in_days": "30"}, {"name": "x", "expires_in_days": "0"},
                {"name": "y", "expires_in_days": "many"}, {"name": "z", "scopes": ["root"]},
                {"name": "Kết nối CKAN"}):
        r = client.post("/tokens", headers=HTML, data={**bad, "csrf_token": token})
        assert 400 <= r.status_code < 500, (bad, r.status_code)
    listed = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {secret}"}).json()
    assert [t["name"] for t in listed["items"]] == ["Kết nối CKAN"]


@SQLITE_ONLY
def test_revoking_a_token_on_the_page(client, users):
    web_login(client, users.member)
    page = client.get("/tokens", headers=HTML).text
    r = client.post("/tokens", headers=HTML, data={"name": "tạm thời", "csrf_token": csrf_from(page)})
    secret = re.search(r'data-testid="token-secret">([^<]+)<', r.text).group(1)
    listing = client.get("/tokens", headers=HTML).text
    action = re.search(r'action="(/tokens/\d+/revoke)"', listing).group(1)
    r = client.post(action, data={"csrf_token": csrf_from(listing)}, follow_redirects=False)
    assert r.status_code == 303
    assert "đã thu hồi" in client.get("/tokens", headers=HTML).text
    assert client.get("/api/v1/me", headers={"Authorization": secret}).status_code == 401


def test_audit_page_for_sysadmin_only(client, users):
    web_login(client, users.sysadmin)
    page = client.get("/tokens", headers=HTML).text
    assert client.post("/tokens", headers=HTML, data={"name": "kiểm toán", "csrf_token": csrf_from(page)}
                       ).status_code == 201
    audit = client.get("/audit", headers=HTML)
    assert audit.status_code == 200 and "Nhật ký truy vết" in audit.text
    assert "<code>token.create</code>" in audit.text and "kiểm toán" in audit.text
    filtered = client.get("/audit?action=token.", headers=HTML).text
    assert "<code>token.create</code>" in filtered and "<code>agency.create</code>" not in filtered

    for who in (users.member, users.admin):
        web_login(client, who)
        r = client.get("/audit", headers=HTML, follow_redirects=False)
        redirected = r.status_code in (302, 303) and "/login" in r.headers["location"]
        assert r.status_code == 403 or redirected, who
        assert "token.create" not in r.text
        menu = client.get("/", headers=HTML).text
        assert 'href="/audit"' not in menu


@SQLITE_ONLY
def test_user_content_is_escaped(client, users):
    web_login(client, users.sysadmin)
    page = client.get(f"/agencies/{users.city}", headers=HTML).text
    r = client.post(f"/agencies/{users.city}/children", follow_redirects=False, data={
        "code": "xss", "name": '<script>alert("x")</script>', "kind": "ward",
        "name_en": '"><img src=x onerror=alert(1)>', "csrf_token": csrf_from(page)})
    assert r.status_code == 303
    for path in ("/agencies", f"/agencies/{users.city}", "/audit"):
        text = client.get(path, headers=HTML).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;" in text or "\\u003cscript\\u003e" in text, path


# ------------------------------------------------------------------ every page, every role


def test_pages_render_for_every_role_and_work_offline(client, platform, users):
    # Something on every page: a job, a token, sub-units.
    web_login(client, users.sysadmin)
    page = client.get("/audit", headers=HTML).text
    r = client.post("/audit/jobs", data={"kind": "audit.verify", "csrf_token": csrf_from(page)},
                    follow_redirects=False)
    assert r.status_code == 303
    client.post("/tokens", data={"name": "trang", "csrf_token": csrf_from(page)}, headers=HTML)

    paths = ["/", "/login", "/agencies", "/agencies?q=S%E1%BB%9F", f"/agencies/{users.dept}",
             f"/agencies/{users.division}", "/agencies/999999", "/users", "/users?q=test&offset=2", "/tokens",
             "/jobs", "/audit", "/audit?outcome=denied&cursor=3", "/problems/not-found",
             "/problems/csrf-failed", "/problems/no-such-problem", "/static/css/app.css"]
    seen: dict[tuple[str, str], int] = {}
    for role in ("anonymous", users.member, users.admin, users.sysadmin):
        client.cookies.clear()
        if role != "anonymous":
            web_login(client, role)
        for lang in ("vi", "en"):
            client.cookies.set("cityai_lang", lang)
            for path in paths:
                r = client.get(path, headers=HTML, follow_redirects=False)
                seen[(role, path)] = r.status_code
                assert r.status_code < 500, (role, lang, path, r.status_code, r.text[:300])
                if r.headers.get("content-type", "").startswith("text/html"):
                    assert_offline(r.text, f"{role} {path}")
                    assert f'<html lang="{lang}"' in r.text, (role, path)
        if role != "anonymous":  # htmx polls /jobs for the table alone
            partial = client.get("/jobs", headers={**HTML, "HX-Request": "true"})
            assert partial.status_code == 200 and "<html" not in partial.text and "<table>" in partial.text

    assert seen[("anonymous", "/agencies")] == 200 and seen[("anonymous", "/tokens")] == 303
    assert seen[(users.member, "/tokens")] == 200 and seen[(users.member, "/users")] == 403
    assert seen[(users.admin, "/users")] == 200 and seen[(users.admin, "/audit")] == 403
    assert all(seen[(users.sysadmin, p)] == 200 for p in ("/users", "/tokens", "/jobs", "/audit", "/"))
    assert seen[(users.sysadmin, "/agencies/999999")] == 404
    assert seen[("anonymous", "/problems/no-such-problem")] == 404


@SQLITE_ONLY
def test_security_headers_on_pages(client):
    r = client.get("/login", headers=HTML)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"] in r.text  # shown in the footer for support requests


def _links(text: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"?#]+)', text)


@SQLITE_ONLY
def test_static_assets_the_pages_use_exist(client):
    page = client.get("/login", headers=HTML).text
    assets = _links(page)
    assert any(a.endswith("htmx.min.js") for a in assets) and any(a.endswith("pico.min.css") for a in assets)
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 50, asset
        if asset.endswith((".css", ".js")):
            assert not re.search(r"(?:url\(|import\s+)['\"]?https?://", r.text), asset


# ------------------------------------------------------------------ review regressions


def test_add_member_form_does_not_reveal_which_emails_have_accounts(client, platform, users):
    """The form looked the e-mail up before checking the caller's rights: 404 for unknown e-mails and
    401/403 for registered ones told anyone who has an account."""
    before = counts(platform)["membership"]
    for email in (users.outsider, "nobody-here@test.local"):  # anonymous: no cookie, so no CSRF token
        r = client.post(f"/agencies/{users.dept}/members", data={"email": email, "role": "admin"}, headers=HTML)
        assert r.status_code == 401, (email, r.status_code)
    web_login(client, users.member)  # a member, not an admin, of the agency
    page = client.get(f"/agencies/{users.dept}", headers=HTML).text
    token = csrf_from(page)
    for email in (users.outsider, "nobody-here@test.local"):
        r = client.post(f"/agencies/{users.dept}/members", headers=HTML,
                        data={"email": email, "role": "admin", "csrf_token": token})
        assert r.status_code == 403, (email, r.status_code)
    assert counts(platform)["membership"] == before
    web_login(client, users.admin)  # the agency's admin still adds members, and learns of unknown e-mails
    token = csrf_from(client.get(f"/agencies/{users.dept}", headers=HTML).text)
    r = client.post(f"/agencies/{users.dept}/members", headers=HTML, follow_redirects=False,
                    data={"email": users.outsider, "role": "member", "csrf_token": token})
    assert r.status_code == 303
    r = client.post(f"/agencies/{users.dept}/members", headers=HTML,
                    data={"email": "nobody-here@test.local", "role": "member", "csrf_token": token})
    assert r.status_code == 404
    with platform.transaction() as db:
        assert db.get(Membership, (users.ids[users.outsider], users.dept)).role == "member"
