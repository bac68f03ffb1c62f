"""The CKAN-compatible Action API, driven by the real ``ckanapi`` client against a live ``cityai serve``.

One server per database backend for the module (SQLite, and PostgreSQL when it answers); an agency with
an editor and a member, and an outsider agency, are set up through the core REST API. Every test makes
its own datasets with unique names and tags, so the tests stay independent of each other's order.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass

import pytest
import requests
from ckanapi import CKANAPIError, NotAuthorized, NotFound, RemoteCKAN, SearchQueryError, ValidationError
from sqlalchemy import text

from tests.conftest import _db_url, _pg_admin, postgres_unavailable
from tests.serverproc import ADMIN_EMAIL, ADMIN_PASSWORD, Server

PASSWORD = "Mat-khau-Manh-2025"
INGEST_WAIT_S = 60.0

CSV = (
    "ma_phuong,ten_phuong,ngay_do,pm25,ghi_chu\n"
    "26734,Phường Bến Thành,01/07/2025,35.5,trung tâm\n"
    "26737,Phường Sài Gòn,01/07/2025,41.0,\n"
    "27007,Phường Tân Định,02/07/2025,28.25,gần chợ\n"
    "26740,Phường Cầu Ông Lãnh,02/07/2025,52.0,đông xe\n"
    "26743,Phường Bàn Cờ,03/07/2025,19.75,\n"
)


@dataclass
class Site:
    server: Server
    url: str
    org: str  # agency code of the owner agency
    org_id: int
    other_org: str
    editor: str  # tokens
    member: str
    outsider: str
    admin: str

    def ckan(self, token: str | None = None) -> RemoteCKAN:
        return RemoteCKAN(self.url, apikey=token)


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _api(site_url: str, method: str, path: str, token: str, **kw) -> dict:
    r = requests.request(method, site_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw)
    assert r.status_code < 300, (r.status_code, r.text)
    return r.json()


def _token(url: str, email: str, password: str) -> str:
    r = requests.post(url + "/api/v1/auth/token", data={"username": email, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, tmp_path_factory):
    env = {"CITYAI_ARGON2_TIME_COST": "1", "CITYAI_ARGON2_MEMORY_KIB": "1024", "CITYAI_LOG_LEVEL": "WARNING"}
    db_name = None
    if request.param == "postgresql":
        if reason := postgres_unavailable():
            pytest.skip(reason)
        db_name = f"cityai_ckan_{uuid.uuid4().hex[:10]}"
        with _pg_admin().connect() as c:
            c.execute(text(f'CREATE DATABASE "{db_name}"'))
        env["CITYAI_DATABASE_URL"] = _db_url(db_name)
    try:
        with Server(tmp_path_factory.mktemp(f"ckan-{request.param}"), env_extra=env) as server:
            admin = _token(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
            uid = _uid()
            org = _api(server.url, "POST", "/api/v1/agencies", admin,
                       json={"code": f"stnmt{uid}", "name": f"Sở Tài nguyên và Môi trường {uid}", "kind": "department"})
            other = _api(server.url, "POST", "/api/v1/agencies", admin,
                         json={"code": f"syt{uid}", "name": f"Sở Y tế {uid}", "kind": "department"})
            tokens = {}
            for role, agency in (("editor", org), ("member", org), ("outsider", other)):
                email = f"{role}.{uid}@so.local"
                _api(server.url, "POST", "/api/v1/users", admin,
                     json={"email": email, "full_name": role.title(), "password": PASSWORD,
                           "agency_id": agency["id"], "role": "member" if role == "outsider" else role})
                tokens[role] = _token(server.url, email, PASSWORD)
            yield Site(server, server.url, org["code"], org["id"], other["code"], tokens["editor"],
                       tokens["member"], tokens["outsider"], admin)
    finally:
        if db_name:
            with _pg_admin().connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))


def _new_dataset(site: Site, **fields) -> dict:
    data = {"name": f"ds-{_uid()}", "title": "Bộ dữ liệu thử", "owner_org": site.org, "private": False}
    data.update(fields)
    return site.ckan(site.editor).action.package_create(**data)


def _wait_active(ckan: RemoteCKAN, resource_id: str, site: Site) -> dict:
    deadline = time.monotonic() + INGEST_WAIT_S
    while time.monotonic() < deadline:
        res = ckan.action.resource_show(id=resource_id)
        if res["datastore_active"]:
            return res
        versions = _api(site.url, "GET", f"/api/v1/data/resources/{resource_id}/versions", site.editor)["items"]
        if versions and versions[0]["status"] == "failed":
            pytest.fail(f"ingest failed: {versions[0]['error']}")
        time.sleep(0.2)
    pytest.fail(f"the ingest of {resource_id} did not finish within {INGEST_WAIT_S:.0f} s")


@pytest.fixture(scope="module")
def uploaded(site):
    """A public dataset with a CSV uploaded through resource_create (multipart), ingested."""
    ckan = site.ckan(site.editor)
    ds = _new_dataset(site, title="Chất lượng không khí", tags=[{"name": "khong-khi"}])
    res = ckan.action.resource_create(package_id=ds["id"], name="Đo PM2.5",
                                      upload=("pm25.csv", io.BytesIO(CSV.encode("utf-8"))))
    assert res["url_type"] == "upload" and res["format"] == "CSV"
    res = _wait_active(ckan, res["id"], site)
    return ds, res


# ------------------------------------------------------------------ site


def test_status_show_site_read_and_unknown_actions(site):
    ckan = site.ckan()
    status = ckan.action.status_show()
    assert status["ckan_version"] == "2.10.4" and status["api_version"] == 3
    assert status["site_url"] == site.url and status["site_title"]
    assert "datastore" in status["extensions"]
    assert ckan.action.site_read() is True
    with pytest.raises(CKANAPIError) as err:
        ckan.action.no_such_action()
    assert "Action name not known" in str(err.value)

    # The raw envelope, at both paths CKAN serves (/api/3/action and /api/action).
    r = requests.get(site.url + "/api/3/action/status_show", timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["success"] is True
    assert body["help"] == site.url + "/api/3/action/help_show?name=status_show"
    r = requests.post(site.url + "/api/3/action/package_show", data=b"{not json",
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400 and r.json()["success"] is False
    assert "JSON" in r.json()["error"]["message"]
    r = requests.get(site.url + "/api/action/nope", timeout=10)
    assert r.status_code == 400 and "Action name not known" in r.json()["error"]["message"]
    assert "facet.field" in ckan.action.help_show(name="package_search")


# ------------------------------------------------------------------ packages


def test_package_create_show_patch_update_delete(site):
    ckan = site.ckan(site.editor)
    name = f"quan-trac-{_uid()}"
    ds = ckan.action.package_create(
        name=name, title="Quan trắc nước", notes="Số liệu quan trắc", owner_org=site.org, private=False,
        tags=[{"name": "nuoc"}, {"name": "moi-truong"}], extras=[{"key": "nguon", "value": "Trạm 1"}],
        license_id="cc-by", resources=[{"name": "Trang nguồn", "url": "https://example.org/nuoc", "format": "HTML"}])
    assert ds["name"] == name and ds["type"] == "dataset" and ds["state"] == "active"
    assert ds["private"] is False and ds["visibility"] == "public"
    assert ds["organization"]["name"] == site.org and ds["owner_org"] == str(site.org_id)
    assert sorted(t["name"] for t in ds["tags"]) == ["moi-truong", "nuoc"] and ds["num_tags"] == 2
    assert ds["extras"] == [{"key": "nguon", "value": "Trạm 1"}]
    assert ds["num_resources"] == 1
    link = ds["resources"][0]
    assert (link["url"], link["format"], link["package_id"], link["position"]) == (
        "https://example.org/nuoc", "HTML", ds["id"], 0)
    assert link["datastore_active"] is False
    assert ds["metadata_created"] and ds["metadata_modified"]

    anonymous = site.ckan()
    assert anonymous.action.package_show(id=name)["id"] == ds["id"]
    assert anonymous.action.package_show(id=ds["id"])["name"] == name
    assert name in anonymous.action.package_list()

    patched = ckan.action.package_patch(id=name, title="Quan trắc nước mặt")
    assert patched["title"] == "Quan trắc nước mặt"
    assert patched["notes"] == "Số liệu quan trắc" and patched["num_tags"] == 2  # untouched
    assert patched["num_resources"] == 1

    # package_update replaces the metadata: what is left out is cleared (the resources stay).
    updated = ckan.action.package_update(id=ds["id"], name=name, title="Nước mặt", tags=[{"name": "song"}])
    assert updated["title"] == "Nước mặt" and [t["name"] for t in updated["tags"]] == ["song"]
    assert updated["notes"] == "" and updated["extras"] == [] and updated["license_id"] == ""
    assert updated["private"] is False and updated["num_resources"] == 1

    # Round trip of package_show through package_update, with the resource list: a new resource is added,
    # the one left out is deleted.
    full = ckan.action.package_show(id=name)
    full["resources"] = [{"name": "API", "url": "https://example.org/api", "format": "API"}]
    full["private"] = True
    again = ckan.action.package_update(**full)
    assert [r["name"] for r in again["resources"]] == ["API"] and again["private"] is True
    with pytest.raises(NotAuthorized):
        anonymous.action.package_show(id=name)

    ckan.action.package_delete(id=name)
    with pytest.raises(NotFound):
        ckan.action.package_show(id=name)
    assert name not in ckan.action.package_list()


def test_package_search_fq_sort_paging_and_facets(site):
    ckan = site.ckan(site.editor)
    tag = f"tag{_uid()}"
    made = [
        _new_dataset(site, name=f"c-{tag}", title="Cây xanh", tags=[{"name": tag}, {"name": "do-thi"}],
                     license_id="cc-by", theme="moi-truong",
                     resources=[{"name": "CSV", "url": "https://example.org/a.csv", "format": "CSV"}]),
        _new_dataset(site, name=f"a-{tag}", title="Bãi đỗ xe", tags=[{"name": tag}], license_id="odc-odbl",
                     theme="giao-thong"),
        _new_dataset(site, name=f"b-{tag}", title="Ánh sáng đô thị", tags=[{"name": tag}, {"name": "do-thi"}],
                     license_id="cc-by", theme="moi-truong"),
        _new_dataset(site, name=f"d-{tag}", title="Hồ sơ nội bộ", tags=[{"name": tag}], private=True),
    ]
    assert made[3]["private"] is True

    found = ckan.action.package_search(fq=f"tags:{tag}", sort="name asc", rows=2,
                                       **{"facet.field": json.dumps(["tags", "license_id", "organization",
                                                                     "res_format", "groups"])})
    # As in CKAN, private datasets need include_private.
    assert found["count"] == 3
    assert [d["name"] for d in found["results"]] == [f"a-{tag}", f"b-{tag}"]
    assert found["facets"]["license_id"] == {"cc-by": 2, "odc-odbl": 1}
    assert found["facets"]["tags"][tag] == 3 and found["facets"]["tags"]["do-thi"] == 2
    assert found["facets"]["organization"] == {site.org: 3}
    assert found["facets"]["res_format"] == {"CSV": 1}
    assert found["facets"]["groups"] == {"moi-truong": 2, "giao-thong": 1}
    items = found["search_facets"]["license_id"]["items"]
    assert items[0] == {"name": "cc-by", "display_name": "cc-by", "count": 2}
    org_item = found["search_facets"]["organization"]["items"][0]
    assert org_item["name"] == site.org and org_item["display_name"].startswith("Sở Tài nguyên")

    page2 = ckan.action.package_search(fq=f"tags:{tag}", sort="name asc", rows=2, start=2)
    assert [d["name"] for d in page2["results"]] == [f"c-{tag}"] and page2["count"] == 3

    both = ckan.action.package_search(fq=f'tags:"{tag}" +tags:do-thi license_id:cc-by', sort="title_string asc")
    assert [d["name"] for d in both["results"]] == [f"b-{tag}", f"c-{tag}"]  # Ánh < Cây
    assert ckan.action.package_search(fq=f"tags:{tag} res_format:CSV")["count"] == 1
    assert ckan.action.package_search(fq=f"tags:{tag} groups:giao-thong")["results"][0]["name"] == f"a-{tag}"
    assert ckan.action.package_search(fq=f"tags:{tag} organization:{site.other_org}")["count"] == 0
    assert ckan.action.package_search(q="Bãi đỗ", fq=f"tags:{tag}")["count"] == 1
    newest = ckan.action.package_search(fq=f"tags:{tag}", sort="metadata_modified desc")
    assert newest["results"][0]["name"] == f"b-{tag}"

    private = ckan.action.package_search(fq=f"tags:{tag} visibility:private", include_private=True)
    assert [d["name"] for d in private["results"]] == [f"d-{tag}"]
    assert ckan.action.package_search(fq=f"tags:{tag}", include_private=True)["count"] == 4
    # Someone outside the agency does not see the private one even when asking for it.
    assert site.ckan(site.outsider).action.package_search(fq=f"tags:{tag}", include_private=True)["count"] == 3

    with pytest.raises(SearchQueryError):
        ckan.action.package_search(fq="author:someone")
    with pytest.raises(SearchQueryError):
        ckan.action.package_search(sort="popularity desc")


def test_authorization_errors(site):
    anonymous = site.ckan()
    with pytest.raises(NotAuthorized):
        anonymous.action.package_create(name=f"x-{_uid()}", title="x", owner_org=site.org)
    private = _new_dataset(site, private=True)
    for who in (anonymous, site.ckan(site.outsider)):
        with pytest.raises(NotAuthorized):
            who.action.package_show(id=private["name"])
    assert site.ckan(site.member).action.package_show(id=private["name"])["id"] == private["id"]
    assert private["name"] not in anonymous.action.package_list()
    assert private["name"] in site.ckan(site.member).action.package_list()
    # A member reads but does not edit; the outsider does neither; the raw error is CKAN's.
    with pytest.raises(NotAuthorized):
        site.ckan(site.member).action.package_patch(id=private["id"], title="đổi")
    with pytest.raises(NotAuthorized):
        site.ckan(site.outsider).action.resource_create(package_id=private["id"], name="r",
                                                         url="https://example.org/r")
    r = requests.post(site.url + "/api/3/action/package_show", json={"id": private["name"]}, timeout=10)
    assert r.status_code == 403
    assert r.json()["success"] is False and r.json()["error"]["__type"] == "Authorization Error"


def test_not_found_and_validation_errors(site):
    ckan = site.ckan(site.editor)
    for call in (lambda: ckan.action.package_show(id="khong-co-bo-nay"),
                 lambda: ckan.action.resource_show(id=str(uuid.uuid4())),
                 lambda: ckan.action.organization_show(id="khong-co-don-vi"),
                 lambda: ckan.action.datastore_search(resource_id=str(uuid.uuid4()))):
        with pytest.raises(NotFound):
            call()
    r = requests.get(site.url + "/api/3/action/package_show", params={"id": "khong-co"}, timeout=10)
    assert r.status_code == 404 and r.json()["error"]["__type"] == "Not Found Error"

    with pytest.raises(ValidationError) as err:
        ckan.action.package_create(name="Tên Có Dấu!", title="x", owner_org=site.org)
    assert "name" in err.value.error_dict
    taken = _new_dataset(site)
    with pytest.raises(ValidationError) as err:
        ckan.action.package_create(name=taken["name"], title="x", owner_org=site.org)
    assert "name" in err.value.error_dict and err.value.error_dict["__type"] == "Validation Error"
    with pytest.raises(ValidationError) as err:
        ckan.action.package_create(name=f"x-{_uid()}", title="x", owner_org="khong-co-don-vi")
    assert "owner_org" in err.value.error_dict
    with pytest.raises(ValidationError) as err:
        ckan.action.package_create(name=f"x-{_uid()}", title="x")
    assert "owner_org" in err.value.error_dict
    r = requests.post(site.url + "/api/3/action/package_create", json={"name": "A B", "owner_org": site.org},
                      headers={"Authorization": site.editor}, timeout=10)
    assert r.status_code == 409 and r.json()["error"]["__type"] == "Validation Error"


def test_organizations_groups_and_tags(site):
    tag = f"nhan{_uid()}"
    ds = _new_dataset(site, tags=[{"name": tag}], groups=[{"name": f"chu-de-{tag}"}])
    assert ds["theme"] == f"chu-de-{tag}" and ds["groups"][0]["name"] == f"chu-de-{tag}"
    ckan = site.ckan()
    names = ckan.action.organization_list()
    assert site.org in names and site.other_org in names and names == sorted(names)
    full = {o["name"]: o for o in ckan.action.organization_list(all_fields=True)}
    assert full[site.org]["package_count"] >= 1 and full[site.org]["is_organization"] is True
    assert full[site.other_org]["package_count"] == 0
    org = ckan.action.organization_show(id=site.org, include_datasets=True)
    assert org["name"] == site.org and org["id"] == str(site.org_id)
    assert ds["name"] in [p["name"] for p in org["packages"]]
    assert ckan.action.organization_show(id=str(site.org_id))["name"] == site.org
    assert tag in ckan.action.tag_list()
    assert ckan.action.tag_list(query=tag) == [tag]
    assert ckan.action.tag_list(query=tag, all_fields=True)[0]["name"] == tag
    assert f"chu-de-{tag}" in ckan.action.group_list()
    groups = {g["name"]: g for g in ckan.action.group_list(all_fields=True)}
    assert groups[f"chu-de-{tag}"]["package_count"] == 1


# ------------------------------------------------------------------ resources and the datastore


def test_resource_upload_download_and_datastore_search(site, uploaded):
    ds, res = uploaded
    ckan = site.ckan()
    assert res["datastore_active"] is True and res["tables"][0]["rows"] == 5
    shown = ckan.action.package_show(id=ds["name"])
    assert shown["resources"][0]["id"] == res["id"] and shown["resources"][0]["datastore_active"] is True
    # The resource's url downloads the original file, byte for byte.
    r = requests.get(res["url"], timeout=10)
    assert r.status_code == 200 and r.content == CSV.encode("utf-8")
    assert 'filename="pm25.csv"' in r.headers["content-disposition"]
    assert ckan.action.package_search(fq=f"res_format:CSV organization:{site.org}")["count"] >= 1

    found = ckan.action.datastore_search(resource_id=res["id"])
    assert found["total"] == 5 and len(found["records"]) == 5
    assert [f["id"] for f in found["fields"]] == ["ma_phuong", "ten_phuong", "ngay_do", "pm25", "ghi_chu"]
    types = {f["id"]: f["type"] for f in found["fields"]}
    assert types["pm25"] == "numeric" and types["ngay_do"] == "date" and types["ten_phuong"] == "text"
    assert found["_links"]["start"].startswith("/api/3/action/datastore_search?")

    one = ckan.action.datastore_search(resource_id=res["id"], filters={"ma_phuong": 26737})
    assert [r["ten_phuong"] for r in one["records"]] == ["Phường Sài Gòn"] and one["total"] == 1
    many = ckan.action.datastore_search(resource_id=res["id"], filters={"ngay_do": ["2025-07-01", "2025-07-03"]})
    assert many["total"] == 3

    page = ckan.action.datastore_search(resource_id=res["id"], sort="pm25 desc", limit=2, offset=1,
                                        fields=["ten_phuong", "pm25"])
    assert [r["pm25"] for r in page["records"]] == [41.0, 35.5] and page["total"] == 5
    assert set(page["records"][0]) == {"ten_phuong", "pm25"}
    assert "offset=3" in page["_links"]["next"]

    assert ckan.action.datastore_search(resource_id=res["id"], q="chợ")["total"] == 1
    assert ckan.action.datastore_search(resource_id=res["id"], q="ben thanh")["total"] == 0
    folded = ckan.action.datastore_search(resource_id=res["id"], q="ben thanh", plain_accents=True)
    assert [r["ma_phuong"] for r in folded["records"]] == [26734]
    lists = ckan.action.datastore_search(resource_id=res["id"], fields="ma_phuong", sort="ma_phuong asc",
                                         records_format="lists", limit=1, include_total=False)
    assert lists["records"] == [[26734]] and "total" not in lists

    with pytest.raises(ValidationError) as err:
        ckan.action.datastore_search(resource_id=res["id"], filters={"khong_co": 1})
    assert "filters" in err.value.error_dict

    # Over GET with query-string parameters, as a browser or curl sends them.
    r = requests.get(site.url + "/api/3/action/datastore_search",
                     params={"resource_id": res["id"], "filters": json.dumps({"ma_phuong": "27007"}), "limit": "1"},
                     timeout=10)
    assert r.status_code == 200 and r.json()["result"]["records"][0]["ten_phuong"] == "Phường Tân Định"


def test_datastore_search_sql(site, uploaded):
    _ds, res = uploaded
    ckan = site.ckan()
    out = ckan.action.datastore_search_sql(
        sql=f'SELECT ngay_do, count(*) AS n, round(avg(pm25), 2) AS tb FROM "{res["id"]}" GROUP BY ngay_do '
            f"ORDER BY ngay_do")
    assert [(r["n"], r["tb"]) for r in out["records"]] == [(2, 38.25), (2, 40.13), (1, 19.75)]
    assert [f["id"] for f in out["fields"]] == ["ngay_do", "n", "tb"]
    # Refused statements: writes and file access are refused as CKAN refuses them (Authorization Error);
    # SQL that does not parse is a Validation Error.
    with pytest.raises(NotAuthorized) as refused:
        ckan.action.datastore_search_sql(sql=f'DELETE FROM "{res["id"]}"')
    assert "sql-read-only" in str(refused.value)
    with pytest.raises(NotAuthorized):
        ckan.action.datastore_search_sql(sql="SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(ValidationError) as err:
        ckan.action.datastore_search_sql(sql=f'SELECT FROM WHERE "{res["id"]}"')
    assert "sql" in err.value.error_dict
    with pytest.raises(NotFound):
        ckan.action.datastore_search_sql(sql=f'SELECT * FROM "{uuid.uuid4()}"')
    assert ckan.action.datastore_search(resource_id=res["id"])["total"] == 5  # nothing was changed

    # A private resource: its agency's member may query it, others may not (even joined to a public one).
    editor = site.ckan(site.editor)
    private = _new_dataset(site, private=True)
    made = editor.action.datastore_create(resource={"package_id": private["id"], "name": "Mật"},
                                          records=[{"k": 1, "v": "bí mật"}])
    join = (f'SELECT count(*) AS n FROM "{res["id"]}" a, "{made["resource_id"]}" b')
    assert site.ckan(site.member).action.datastore_search_sql(sql=join)["records"] == [{"n": 5}]
    for who in (ckan, site.ckan(site.outsider)):
        with pytest.raises(NotAuthorized):
            who.action.datastore_search_sql(sql=join)
        with pytest.raises(NotAuthorized):
            who.action.datastore_search(resource_id=made["resource_id"])


def test_link_resource_create_update_delete(site):
    ckan = site.ckan(site.editor)
    ds = _new_dataset(site)
    res = ckan.action.resource_create(package_id=ds["name"], url="https://example.org/du-lieu.json",
                                      format="json", description="Mô tả")
    assert res["name"] == "du-lieu.json" and res["format"] == "JSON" and res["url_type"] is None
    updated = ckan.action.resource_update(id=res["id"], name="Dữ liệu JSON", url="https://example.org/v2.json")
    assert (updated["name"], updated["url"], updated["description"]) == (
        "Dữ liệu JSON", "https://example.org/v2.json", "Mô tả")
    assert ckan.action.resource_show(id=res["id"])["url"] == "https://example.org/v2.json"
    with pytest.raises(ValidationError) as err:
        ckan.action.resource_create(package_id=ds["id"], name="x", url="javascript:alert(1)")
    assert "url" in err.value.error_dict
    ckan.action.resource_delete(id=res["id"])
    with pytest.raises(NotFound):
        ckan.action.resource_show(id=res["id"])
    assert ckan.action.package_show(id=ds["id"])["num_resources"] == 0


def test_datastore_create_insert_and_upsert(site):
    ckan = site.ckan(site.editor)
    ds = _new_dataset(site)
    made = ckan.action.datastore_create(
        resource={"package_id": ds["id"], "name": "Trạm sạc"},
        fields=[{"id": "ma", "type": "text"}, {"id": "cong_suat", "type": "int"}, {"id": "ngay", "type": "date"}],
        records=[{"ma": "S1", "cong_suat": 50, "ngay": "2025-07-01"},
                 {"ma": "S2", "cong_suat": 120, "ngay": "2025-07-02"}],
        primary_key="ma")
    rid = made["resource_id"]
    assert made["primary_key"] == ["ma"]
    assert {f["id"]: f["type"] for f in made["fields"]} == {"ma": "text", "cong_suat": "int", "ngay": "date"}
    assert ckan.action.resource_show(id=rid)["datastore_active"] is True
    assert ckan.action.package_show(id=ds["id"])["resources"][0]["id"] == rid

    ckan.action.datastore_upsert(resource_id=rid, method="insert", records=[{"ma": "S3", "cong_suat": 22}])
    found = ckan.action.datastore_search(resource_id=rid, sort="ma")
    assert [(r["ma"], r["cong_suat"], r["ngay"]) for r in found["records"]] == [
        ("S1", 50, "2025-07-01"), ("S2", 120, "2025-07-02"), ("S3", 22, None)]

    with pytest.raises(ValidationError) as err:
        ckan.action.datastore_upsert(resource_id=rid, method="insert", records=[{"ma": "S4", "dien_ap": 220}])
    assert "dien_ap" in err.value.error_dict["message"] and "dien_ap" in err.value.error_dict
    with pytest.raises(ValidationError):
        ckan.action.datastore_upsert(resource_id=rid, method="insert", records=[{"ma": "S4", "cong_suat": "nhiều"}])

    # upsert (CKAN's default method): S2 is replaced in place, S9 is appended.
    ckan.action.datastore_upsert(resource_id=rid, records=[{"ma": "S2", "cong_suat": 150, "ngay": "2025-08-01"},
                                                           {"ma": "S9", "cong_suat": 7}])
    found = ckan.action.datastore_search(resource_id=rid)
    assert [(r["ma"], r["cong_suat"]) for r in found["records"]] == [("S1", 50), ("S2", 150), ("S3", 22), ("S9", 7)]
    assert found["records"][1]["ngay"] == "2025-08-01"
    with pytest.raises(ValidationError):
        ckan.action.datastore_upsert(resource_id=rid, method="update", records=[{"ma": "S404", "cong_suat": 1}])
    assert ckan.action.datastore_search(resource_id=rid)["total"] == 4  # the refused update changed nothing

    # A table without a primary key: upsert by a key given in the call.
    other = ckan.action.datastore_create(resource={"package_id": ds["id"], "name": "Không khóa"},
                                         records=[{"id": 1, "ten": "một"}, {"id": 2, "ten": "hai"}])
    with pytest.raises(ValidationError) as err:
        ckan.action.datastore_upsert(resource_id=other["resource_id"], records=[{"id": 2, "ten": "HAI"}])
    assert "primary_key" in err.value.error_dict
    ckan.action.datastore_upsert(resource_id=other["resource_id"], key="id", records=[{"id": 2, "ten": "HAI"}])
    assert [r["ten"] for r in ckan.action.datastore_search(resource_id=other["resource_id"])["records"]] == [
        "một", "HAI"]

    with pytest.raises(NotAuthorized):
        site.ckan(site.member).action.datastore_upsert(resource_id=rid, method="insert", records=[{"ma": "X"}])
    with pytest.raises(NotAuthorized):
        site.ckan().action.datastore_create(resource_id=rid, records=[{"ma": "X"}])
    assert ckan.action.datastore_search(resource_id=rid)["total"] == 4
