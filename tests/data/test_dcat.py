"""The DCAT catalogue: parsed back with rdflib, in every format, per caller, page by page (SQLite and PostgreSQL)."""

from __future__ import annotations

import io

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD
from sqlalchemy import select

from cityai.core import jobs
from cityai.core.models import AuditEntry
from cityai.data import catalog
from tests.conftest import login

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
BASE = "http://testserver"
FORMATS = {"ttl": ("turtle", "text/turtle"), "jsonld": ("json-ld", "application/ld+json"),
           "rdf": ("xml", "application/rdf+xml")}


@pytest.fixture
def cat(platform, users) -> dict[str, str]:
    """A public dataset (two resources, one uploaded and ingested), a private one and a shared one."""
    with platform.system_context() as ctx:
        pub = catalog.dataset_create(
            ctx, name="chat-luong-khong-khi", owner_id=users.dept, title="Chất lượng không khí",
            title_en="Air quality", notes="Đo PM2.5 hằng ngày", notes_en="Daily PM2.5", visibility="public",
            tags=["khong-khi", "pm25"], theme="moi-truong", license_id="cc-by", frequency="daily",
            spatial=["26734", "26737"], temporal_start="2025-01-01", temporal_end="2025-12-31",
            contact_name="Phòng Quan trắc", contact_email="quantrac@skhcn.gov.vn")
        link = catalog.resource_create(ctx, dataset=pub.name, name="API quan trắc", url="https://example.org/pm25",
                                       format="api")
        up = catalog.resource_create(ctx, dataset=pub.name, name="Số liệu PM2.5", format="csv")
        version = catalog.resource_upload(ctx, resource_id=up.id, stream=io.BytesIO(b"ma,pm25\n1,35.5\n2,41\n"),
                                          filename="pm25.csv")
        job_id = version.job_id
        priv = catalog.dataset_create(ctx, name="ho-so-noi-bo", owner_id=users.dept, title="Hồ sơ nội bộ",
                                      visibility="private")
        shared = catalog.dataset_create(ctx, name="du-lieu-chia-se", owner_id=users.dept, title="Chia sẻ",
                                        visibility="shared")
        ids = {"public": pub.id, "private": priv.id, "shared": shared.id, "link": link.id, "upload": up.id}
    jobs.execute(platform, job_id)
    return ids


def parse(body: bytes | str, fmt: str) -> Graph:
    return Graph().parse(data=body, format=FORMATS[fmt][0])


def ds_uri(ds_id: str) -> URIRef:
    return URIRef(f"{BASE}/dataset/{ds_id}")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_catalog_in_every_format(client, cat, users, fmt):
    r = client.get(f"/catalog.{fmt}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(FORMATS[fmt][1])
    g = parse(r.content, fmt)
    catalog_node = URIRef(f"{BASE}/catalog")
    assert (catalog_node, RDF.type, DCAT.Catalog) in g
    assert (catalog_node, DCTERMS.title, Literal("Cổng dữ liệu dùng chung TP. Hồ Chí Minh", lang="vi")) in g
    assert set(g.objects(catalog_node, DCAT.dataset)) == {ds_uri(cat["public"])}  # anonymous: public only

    d = ds_uri(cat["public"])
    assert (d, RDF.type, DCAT.Dataset) in g
    assert set(g.objects(d, DCTERMS.title)) == {Literal("Chất lượng không khí", lang="vi"),
                                                Literal("Air quality", lang="en")}
    assert set(g.objects(d, DCTERMS.description)) == {Literal("Đo PM2.5 hằng ngày", lang="vi"),
                                                      Literal("Daily PM2.5", lang="en")}
    assert set(g.objects(d, DCAT.keyword)) == {Literal("khong-khi"), Literal("pm25")}
    assert (d, DCAT.landingPage, URIRef(f"{BASE}/data/chat-luong-khong-khi")) in g  # the portal's page
    assert list(g.objects(d, DCAT.landingPage)) == [URIRef(f"{BASE}/data/chat-luong-khong-khi")]
    assert (d, DCTERMS.accrualPeriodicity,
            URIRef("http://publications.europa.eu/resource/authority/frequency/DAILY")) in g
    assert (d, DCTERMS.license, URIRef("https://creativecommons.org/licenses/by/4.0/")) in g
    assert {str(x) for x in g.objects(d, DCTERMS.issued)} and {str(x) for x in g.objects(d, DCTERMS.modified)}
    assert next(g.objects(d, DCTERMS.issued)).datatype == XSD.dateTime

    pub = next(g.objects(d, DCTERMS.publisher))
    assert pub == URIRef(f"{BASE}/organization/skhcn")
    assert (pub, RDF.type, FOAF.Organization) in g and (pub, RDF.type, FOAF.Agent) in g
    assert (pub, FOAF.name, Literal("Sở Khoa học và Công nghệ", lang="vi")) in g

    theme = next(g.objects(d, DCAT.theme))
    assert str(theme).endswith("/moi-truong")
    spatial = {str(next(g.objects(loc, DCTERMS.identifier))) for loc in g.objects(d, DCTERMS.spatial)}
    assert spatial == {"26734", "26737"}
    period = next(g.objects(d, DCTERMS.temporal))
    assert (period, RDF.type, DCTERMS.PeriodOfTime) in g
    assert next(g.objects(period, DCAT.startDate)) == Literal("2025-01-01", datatype=XSD.date)
    assert next(g.objects(period, DCAT.endDate)) == Literal("2025-12-31", datatype=XSD.date)
    contact = next(g.objects(d, DCAT.contactPoint))
    assert (contact, VCARD.fn, Literal("Phòng Quan trắc")) in g
    assert (contact, VCARD.hasEmail, URIRef("mailto:quantrac@skhcn.gov.vn")) in g

    dists = {str(x): x for x in g.objects(d, DCAT.distribution)}
    assert len(dists) == 2
    link = URIRef(f"{BASE}/dataset/{cat['public']}/resource/{cat['link']}")
    up = URIRef(f"{BASE}/dataset/{cat['public']}/resource/{cat['upload']}")
    assert set(dists.values()) == {link, up}
    assert (link, RDF.type, DCAT.Distribution) in g
    assert (link, DCAT.accessURL, URIRef("https://example.org/pm25")) in g
    assert not list(g.objects(link, DCAT.downloadURL))  # an API is accessed, not downloaded
    download = URIRef(f"{BASE}/api/v1/data/resources/{cat['upload']}/download")
    assert (up, DCAT.downloadURL, download) in g and (up, DCAT.accessURL, download) in g
    assert (up, DCTERMS.format, URIRef("http://publications.europa.eu/resource/authority/file-type/CSV")) in g
    assert (up, DCAT.mediaType, URIRef("https://www.iana.org/assignments/media-types/text/csv")) in g
    assert int(next(g.objects(up, DCAT.byteSize))) == len(b"ma,pm25\n1,35.5\n2,41\n")
    assert (up, DCTERMS.title, Literal("Số liệu PM2.5")) in g


def test_private_and_shared_datasets_only_for_who_may_read_them(client, cat, users):
    def listed(headers=None) -> set[URIRef]:
        r = client.get("/catalog.ttl", headers=headers or {})
        assert r.status_code == 200, r.text
        return set(parse(r.content, "ttl").objects(URIRef(f"{BASE}/catalog"), DCAT.dataset))

    everything = {ds_uri(cat[k]) for k in ("public", "private", "shared")}
    assert listed() == {ds_uri(cat["public"])}
    assert listed(login(client, users.member)) == everything
    assert listed(login(client, users.sysadmin)) == everything
    assert listed(login(client, users.outsider)) == {ds_uri(cat["public"])}

    g = parse(client.get("/catalog.ttl", headers=login(client, users.member)).content, "ttl")
    rights = next(g.objects(ds_uri(cat["private"]), DCTERMS.accessRights))
    assert str(rights).endswith("/access-right/NON_PUBLIC")
    assert (ds_uri(cat["private"]), DCTERMS.title, Literal("Hồ sơ nội bộ", lang="vi")) in g


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_one_dataset(client, cat, users, platform, fmt):
    r = client.get(f"/dataset/chat-luong-khong-khi.{fmt}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(FORMATS[fmt][1])
    g = parse(r.content, fmt)
    assert (ds_uri(cat["public"]), RDF.type, DCAT.Dataset) in g
    assert len(list(g.subjects(RDF.type, DCAT.Distribution))) == 2
    assert not list(g.subjects(RDF.type, DCAT.Catalog))
    # by id too
    assert client.get(f"/dataset/{cat['public']}.{fmt}").status_code == 200

    r = client.get(f"/dataset/ho-so-noi-bo.{fmt}")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/dataset/ho-so-noi-bo.{fmt}", headers=login(client, users.outsider)).status_code == 403
    r = client.get(f"/dataset/ho-so-noi-bo.{fmt}", headers=login(client, users.member))
    assert r.status_code == 200
    assert (ds_uri(cat["private"]), DCTERMS.title, Literal("Hồ sơ nội bộ", lang="vi")) in parse(r.content, fmt)
    assert client.get(f"/dataset/khong-co.{fmt}").status_code == 404
    with platform.transaction() as db:
        reads = db.execute(select(AuditEntry.outcome).where(AuditEntry.action == "dcat.dataset",
                                                            AuditEntry.object_id == cat["private"])).scalars().all()
        denied = db.execute(select(AuditEntry.id).where(AuditEntry.action == "dcat.dataset",
                                                        AuditEntry.outcome == "denied")).scalars().all()
    assert reads == ["success"]  # the member's read of a private dataset is audited
    assert len(denied) == 2  # the anonymous and the outsider's refusals too


def test_paging(client, platform, users):
    with platform.system_context() as ctx:
        for i in range(5):
            catalog.dataset_create(ctx, name=f"bo-{i}", owner_id=users.dept, title=f"Bộ {i}", visibility="public")
    seen: list[URIRef] = []
    for page, expected in ((1, 2), (2, 2), (3, 1)):
        r = client.get(f"/catalog.ttl?page={page}&per_page=2")
        assert r.status_code == 200, r.text
        g = parse(r.content, "ttl")
        found = sorted(g.objects(URIRef(f"{BASE}/catalog"), DCAT.dataset))
        assert len(found) == expected
        seen += found
        coll = next(g.subjects(RDF.type, HYDRA.PagedCollection))
        assert str(coll) == f"{BASE}/catalog.ttl?page={page}&per_page=2"
        assert int(next(g.objects(coll, HYDRA.totalItems))) == 5
        assert int(next(g.objects(coll, HYDRA.itemsPerPage))) == 2
        assert str(next(g.objects(coll, HYDRA.firstPage))) == f"{BASE}/catalog.ttl?page=1&per_page=2"
        assert str(next(g.objects(coll, HYDRA.lastPage))) == f"{BASE}/catalog.ttl?page=3&per_page=2"
        nxt = list(g.objects(coll, HYDRA.nextPage))
        prev = list(g.objects(coll, HYDRA.previousPage))
        assert [str(x) for x in nxt] == ([f"{BASE}/catalog.ttl?page={page + 1}&per_page=2"] if page < 3 else [])
        assert [str(x) for x in prev] == ([f"{BASE}/catalog.ttl?page={page - 1}&per_page=2"] if page > 1 else [])
    assert len(set(seen)) == 5  # every dataset once, across the pages

    r = client.get("/catalog.jsonld?page=4&per_page=2")
    assert r.status_code == 404 and r.json()["type"] == "/problems/not-found"
    assert client.get("/catalog.ttl?page=0").status_code == 422
    assert client.get("/catalog.ttl?per_page=5000").status_code == 422
    # default page size holds them all; JSON-LD carries the same paging
    g = parse(client.get("/catalog.jsonld").content, "jsonld")
    coll = next(g.subjects(RDF.type, HYDRA.PagedCollection))
    assert int(next(g.objects(coll, HYDRA.totalItems))) == 5 and not list(g.objects(coll, HYDRA.nextPage))


def test_empty_catalog_and_openapi(client):
    r = client.get("/catalog.ttl")
    assert r.status_code == 200
    g = parse(r.content, "ttl")
    assert (URIRef(f"{BASE}/catalog"), RDF.type, DCAT.Catalog) in g
    assert not list(g.subjects(RDF.type, DCAT.Dataset))
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/catalog.jsonld", "/catalog.ttl", "/dataset/{name}.jsonld", "/dataset/{name}.ttl"} <= set(paths)
    assert "/dataset/{name}" not in paths  # the page redirect is not part of the API


def test_landing_page_is_the_portal_page_and_ckan_urls_redirect(client, cat, users):
    g = parse(client.get("/dataset/chat-luong-khong-khi.ttl").content, "ttl")
    landing = next(g.objects(ds_uri(cat["public"]), DCAT.landingPage))
    assert landing == URIRef(f"{BASE}/data/chat-luong-khong-khi")
    assert (landing, RDF.type, FOAF.Document) in g
    page = client.get(str(landing).removeprefix(BASE))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Chất lượng không khí" in page.text

    # CKAN's page address (old links, harvesters): a permanent redirect to the portal page
    r = client.get("/dataset/chat-luong-khong-khi", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/data/chat-luong-khong-khi"
    r = client.get("/dataset/chat-luong-khong-khi")
    assert r.status_code == 200 and r.url.path == "/data/chat-luong-khong-khi"
    assert "Chất lượng không khí" in r.text
    # the dataset's URI (by id) is dereferenceable too
    r = client.get(str(ds_uri(cat["public"])).removeprefix(BASE), follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == f"/data/{cat['public']}"
    assert client.get(f"/data/{cat['public']}").status_code == 200
    # the RDF forms are still served, not redirected
    r = client.get("/dataset/chat-luong-khong-khi.jsonld", follow_redirects=False)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    # the redirect says nothing about a dataset the caller may not read: the page decides
    r = client.get("/dataset/ho-so-noi-bo", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/data/ho-so-noi-bo"
    assert client.get("/dataset/ho-so-noi-bo").status_code == 401
    assert client.get("/dataset/ho-so-noi-bo", headers=login(client, users.member)).status_code == 200
    assert client.get("/dataset/khong-co").status_code == 404
    # odd characters stay inside the one path segment
    r = client.get("/dataset/a%20b%3Fc", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/data/a%20b%3Fc"
