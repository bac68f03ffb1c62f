"""The catalogue as DCAT / DCAT-AP (RDF): JSON-LD, Turtle and RDF/XML, built with rdflib.

Endpoints (the ckanext-dcat scheme, so DCAT harvesters that know CKAN find them where they look):

* ``GET /catalog.jsonld``, ``/catalog.ttl``, ``/catalog.rdf`` - a ``dcat:Catalog`` of the datasets the
  caller may read (public ones for anonymous callers), one page at a time (``?page=``, ``?per_page=``),
  described as a ``hydra:PagedCollection`` with first/previous/next/last page links;
* ``GET /dataset/{name or id}.jsonld``, ``.ttl``, ``.rdf`` - one dataset and its distributions;
* ``GET /dataset/{name or id}`` - CKAN's dataset page address, a permanent redirect (301) to the
  portal's page ``/data/{name or id}`` (old links and harvesters that follow CKAN's URLs land there).

Datasets are ``<site>/dataset/{id}``, distributions ``<site>/dataset/{id}/resource/{resource id}``,
publishers (agencies) ``<site>/organization/{code}``; a dataset's ``dcat:landingPage`` is its portal
page, ``<site>/data/{name}``. Titles and descriptions carry ``@vi`` and ``@en``
language tags; frequencies, access rights, file types and languages use the EU vocabularies DCAT-AP
asks for. Reading goes through the service actions :func:`dcat_catalog` and :func:`dcat_dataset`,
whose authorization is the catalog's own (``dataset.search`` / ``dataset.show`` rules).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from sqlalchemy import select

from cityai.core import authz
from cityai.core.context import Context
from cityai.core.errors import Problem, not_found
from cityai.data import access, catalog
from cityai.data.models import Dataset, ResourceVersion
from cityai.web.api import ERRORS
from cityai.web.deps import ReadCtxDep

router = APIRouter(tags=["data dcat"])

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"

PER_PAGE = 100  # as ckanext-dcat's ckanext.dcat.datasets_per_page
MAX_PER_PAGE = 1000
CATALOG_TITLE = ("Cổng dữ liệu dùng chung TP. Hồ Chí Minh", "Ho Chi Minh City shared data portal")
CATALOG_DESCRIPTION = ("Danh mục dữ liệu mở và dữ liệu chia sẻ giữa các cơ quan của TP. Hồ Chí Minh.",
                       "Open data and data shared between the agencies of Ho Chi Minh City.")
CITY = ("Ủy ban nhân dân Thành phố Hồ Chí Minh", "Ho Chi Minh City People's Committee")

# our output formats: (rdflib serializer, media type)
OUTPUTS: dict[str, tuple[str, str]] = {
    "jsonld": ("json-ld", "application/ld+json"),
    "ttl": ("turtle", "text/turtle; charset=utf-8"),
    "rdf": ("pretty-xml", "application/rdf+xml"),
}
FREQUENCY = {"realtime": "UPDATE_CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY",
             "quarterly": "QUARTERLY", "annual": "ANNUAL", "irregular": "IRREG"}
ACCESS_RIGHTS = {"public": "PUBLIC", "shared": "RESTRICTED", "private": "NON_PUBLIC"}
FILE_TYPES = {"csv": "CSV", "json": "JSON", "geojson": "GEOJSON", "xlsx": "XLSX", "xls": "XLS", "pdf": "PDF",
              "zip": "ZIP", "xml": "XML", "html": "HTML", "parquet": "PARQUET", "docx": "DOCX", "txt": "TXT",
              "tsv": "TSV"}
MEDIA_TYPES = {"csv": "text/csv", "json": "application/json", "geojson": "application/geo+json",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "xls": "application/vnd.ms-excel", "pdf": "application/pdf", "zip": "application/zip",
               "xml": "application/xml", "html": "text/html", "parquet": "application/vnd.apache.parquet",
               "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "txt": "text/plain", "tsv": "text/tab-separated-values"}
LICENSES = {"cc-by": "https://creativecommons.org/licenses/by/4.0/",
            "cc-by-4.0": "https://creativecommons.org/licenses/by/4.0/",
            "cc-by-sa": "https://creativecommons.org/licenses/by-sa/4.0/",
            "cc-by-sa-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
            "cc-zero": "https://creativecommons.org/publicdomain/zero/1.0/",
            "cc0": "https://creativecommons.org/publicdomain/zero/1.0/",
            "cc-nc": "https://creativecommons.org/licenses/by-nc/4.0/",
            "odc-by": "https://opendatacommons.org/licenses/by/1-0/",
            "odc-odbl": "https://opendatacommons.org/licenses/odbl/1-0/",
            "odc-pddl": "https://opendatacommons.org/licenses/pddl/1-0/"}
CONTEXT = {"dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF), "vcard": str(VCARD), "hydra": str(HYDRA),
           "skos": str(SKOS), "xsd": str(XSD), "rdfs": str(RDFS), "adms": str(ADMS), "spdx": str(SPDX),
           "locn": str(LOCN)}


# ------------------------------------------------------------------ actions


def _auth_dataset(ctx: Context, *, dataset: Any = None, **_: Any) -> bool:
    try:
        ds = catalog.get_dataset(ctx, dataset)
    except Problem:
        return True  # unknown datasets fall through to 404
    return access.can_read(ctx, ds)


@authz.action("dcat.catalog", scope="read", auth=authz.anyone)
def dcat_catalog(ctx: Context, *, base: str, fmt: str = "ttl", page: int = 1, per_page: int = PER_PAGE,
                 q: str | None = None, owner: str | None = None) -> Graph:
    """One page of the catalogue (the datasets the caller may read) as a DCAT graph."""
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    found = catalog.dataset_search.unchecked(ctx, q=q, owner=owner, sort="name_asc", limit=per_page,
                                             offset=(page - 1) * per_page)
    total = found["count"]
    last = max(1, math.ceil(total / per_page))
    if page > last:
        raise not_found(("trang", "page"), page)
    g = new_graph()
    cat = URIRef(f"{base}/catalog")
    g.add((cat, RDF.type, DCAT.Catalog))
    _lang(g, cat, DCTERMS.title, *CATALOG_TITLE)
    _lang(g, cat, DCTERMS.description, *CATALOG_DESCRIPTION)
    publisher = URIRef(f"{base}/organization")
    g.add((cat, DCTERMS.publisher, publisher))
    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, RDF.type, FOAF.Organization))
    _lang(g, publisher, FOAF.name, *CITY)
    g.add((cat, FOAF.homepage, URIRef(f"{base}/")))
    for code in ("VIE", "ENG"):
        g.add((cat, DCTERMS.language, URIRef(f"{EU}language/{code}")))
    g.add((cat, DCTERMS.license, URIRef(LICENSES["cc-by"])))
    g.add((cat, DCAT.themeTaxonomy, URIRef(f"{base}/catalog/themes")))
    datasets = found["results"]
    versions = _versions(ctx, datasets)
    newest: dt.datetime | None = None
    for ds in datasets:
        node = add_dataset(g, ds, base, versions)
        g.add((cat, DCAT.dataset, node))
        if ds.modified_at and (newest is None or ds.modified_at > newest):
            newest = ds.modified_at
    if newest is not None:
        g.add((cat, DCTERMS.modified, _dt(newest)))
    # paging, as ckanext-dcat does it
    def page_url(n: int) -> URIRef:
        params = [f"page={n}"] + ([f"per_page={per_page}"] if per_page != PER_PAGE else [])
        params += [f"{k}={quote(v)}" for k, v in (("q", q), ("owner", owner)) if v]
        return URIRef(f"{base}/catalog.{fmt}?" + "&".join(params))

    coll = page_url(page)
    g.add((coll, RDF.type, HYDRA.PagedCollection))
    g.add((coll, HYDRA.totalItems, Literal(total, datatype=XSD.integer)))
    g.add((coll, HYDRA.itemsPerPage, Literal(per_page, datatype=XSD.integer)))
    g.add((coll, HYDRA.firstPage, page_url(1)))
    g.add((coll, HYDRA.lastPage, page_url(last)))
    if page > 1:
        g.add((coll, HYDRA.previousPage, page_url(page - 1)))
    if page < last:
        g.add((coll, HYDRA.nextPage, page_url(page + 1)))
    return g


@authz.action("dcat.dataset", scope="read", auth=_auth_dataset)
def dcat_dataset(ctx: Context, *, dataset: str, base: str) -> Graph:
    """One dataset and its distributions as a DCAT graph (reading a restricted one is audited)."""
    ds = catalog.get_dataset(ctx, dataset)
    catalog.audit_read(ctx, ds, "dcat.dataset", "dataset", ds.id)
    g = new_graph()
    add_dataset(g, ds, base, _versions(ctx, [ds]))
    return g


# ------------------------------------------------------------------ building the graph


def new_graph() -> Graph:
    g = Graph()
    for prefix, ns in CONTEXT.items():
        g.bind(prefix, Namespace(ns))
    return g


def _lang(g: Graph, node: Any, pred: URIRef, vi: str | None, en: str | None) -> None:
    if vi:
        g.add((node, pred, Literal(vi, lang="vi")))
    if en:
        g.add((node, pred, Literal(en, lang="en")))


def _dt(value: dt.datetime) -> Literal:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return Literal(value.astimezone(dt.timezone.utc).isoformat(timespec="seconds"), datatype=XSD.dateTime)


def _date(value: str) -> Literal:
    """A temporal bound typed by its shape: xsd:gYear, xsd:gYearMonth, xsd:date or xsd:dateTime."""
    v = value.strip()
    if re.fullmatch(r"\d{4}", v):
        return Literal(v, datatype=XSD.gYear)
    if re.fullmatch(r"\d{4}-\d{2}", v):
        return Literal(v, datatype=XSD.gYearMonth)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        return Literal(v, datatype=XSD.date)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", v):
        return Literal(v.replace(" ", "T"), datatype=XSD.dateTime)
    return Literal(v)


def _versions(ctx: Context, datasets: list[Dataset]) -> dict[str, ResourceVersion]:
    ids = [r.current_version_id for d in datasets for r in d.resources if r.current_version_id]
    if not ids:
        return {}
    rows = ctx.db.execute(select(ResourceVersion).where(ResourceVersion.id.in_(ids))).scalars()
    return {v.id: v for v in rows}


def _is_uri(value: str | None) -> bool:
    return bool(value) and re.match(r"^https?://\S+$", value or "") is not None


def landing_page(base: str, name: str) -> str:
    """The dataset's page on the portal (``pages.dataset_page``), as dcat:landingPage gives it."""
    return f"{base}/data/{quote(name, safe='')}"


def add_dataset(g: Graph, ds: Dataset, base: str, versions: dict[str, ResourceVersion] | None = None) -> URIRef:
    """Add a dcat:Dataset (and its distributions, publisher, contact point ...) to the graph."""
    versions = versions or {}
    node = URIRef(f"{base}/dataset/{ds.id}")
    g.add((node, RDF.type, DCAT.Dataset))
    g.add((node, DCTERMS.identifier, Literal(ds.id)))
    g.add((node, ADMS.identifier, Literal(ds.name)))
    _lang(g, node, DCTERMS.title, ds.title, ds.title_en)
    _lang(g, node, DCTERMS.description, ds.notes, ds.notes_en)
    landing = URIRef(landing_page(base, ds.name))
    g.add((node, DCAT.landingPage, landing))
    g.add((landing, RDF.type, FOAF.Document))
    if ds.created_at:
        g.add((node, DCTERMS.issued, _dt(ds.created_at)))
    if ds.modified_at:
        g.add((node, DCTERMS.modified, _dt(ds.modified_at)))
    g.add((node, DCTERMS.accessRights, URIRef(f"{EU}access-right/{ACCESS_RIGHTS.get(ds.visibility, 'NON_PUBLIC')}")))
    # publisher: the owning agency
    agency = ds.owner
    pub = URIRef(f"{base}/organization/{quote(agency.code)}")
    g.add((node, DCTERMS.publisher, pub))
    g.add((pub, RDF.type, FOAF.Agent))
    g.add((pub, RDF.type, FOAF.Organization))
    _lang(g, pub, FOAF.name, agency.name, agency.name_en)
    g.add((pub, DCTERMS.identifier, Literal(agency.code)))
    for tag in ds.tags or []:
        g.add((node, DCAT.keyword, Literal(tag)))
    if ds.theme:
        theme = URIRef(ds.theme) if _is_uri(ds.theme) else URIRef(f"{base}/catalog/themes/{quote(ds.theme, safe='')}")
        g.add((node, DCAT.theme, theme))
        g.add((theme, RDF.type, SKOS.Concept))
        g.add((theme, SKOS.prefLabel, Literal(ds.theme)))
        g.add((theme, SKOS.inScheme, URIRef(f"{base}/catalog/themes")))
    license_node = _license(g, ds.license_id)
    if license_node is not None:
        g.add((node, DCTERMS.license, license_node))
    if ds.frequency in FREQUENCY:
        freq = URIRef(f"{EU}frequency/{FREQUENCY[ds.frequency]}")
        g.add((node, DCTERMS.accrualPeriodicity, freq))
        g.add((freq, RDF.type, DCTERMS.Frequency))
    for code in ds.spatial or []:
        loc = URIRef(f"{base}/catalog/locations/{quote(code, safe='')}")
        g.add((node, DCTERMS.spatial, loc))
        g.add((loc, RDF.type, DCTERMS.Location))
        g.add((loc, DCTERMS.identifier, Literal(code)))
        g.add((loc, SKOS.notation, Literal(code)))
    if ds.temporal_start or ds.temporal_end:
        period = BNode()
        g.add((node, DCTERMS.temporal, period))
        g.add((period, RDF.type, DCTERMS.PeriodOfTime))
        if ds.temporal_start:
            g.add((period, DCAT.startDate, _date(ds.temporal_start)))
        if ds.temporal_end:
            g.add((period, DCAT.endDate, _date(ds.temporal_end)))
    if ds.contact_name or ds.contact_email:
        contact = BNode()
        g.add((node, DCAT.contactPoint, contact))
        g.add((contact, RDF.type, VCARD.Organization))
        g.add((contact, VCARD.fn, Literal(ds.contact_name or agency.name)))
        if ds.contact_email:
            g.add((contact, VCARD.hasEmail, URIRef(f"mailto:{ds.contact_email}")))
    extras = ds.extras or {}
    if _is_uri(extras.get("harvest_remote_url")):  # harvested: where it came from
        g.add((node, DCTERMS.source, URIRef(extras["harvest_remote_url"])))
    for res in ds.resources:
        g.add((node, DCAT.distribution, _distribution(g, ds, res, base, versions.get(res.current_version_id or ""),
                                                      license_node)))
    return node


def _license(g: Graph, license_id: str | None) -> Any:
    if not license_id:
        return None
    uri = license_id if _is_uri(license_id) else LICENSES.get(license_id.lower())
    node = URIRef(uri) if uri else URIRef(f"urn:cityai:license:{quote(license_id, safe='')}")
    g.add((node, RDF.type, DCTERMS.LicenseDocument))
    g.add((node, DCTERMS.identifier, Literal(license_id)))
    g.add((node, RDFS.label, Literal(license_id)))
    return node


def _distribution(g: Graph, ds: Dataset, res: Any, base: str, version: ResourceVersion | None,
                  license_node: Any) -> URIRef:
    node = URIRef(f"{base}/dataset/{ds.id}/resource/{res.id}")
    g.add((node, RDF.type, DCAT.Distribution))
    g.add((node, DCTERMS.identifier, Literal(res.id)))
    g.add((node, DCTERMS.title, Literal(res.name)))
    if res.description:
        g.add((node, DCTERMS.description, Literal(res.description)))
    fmt = (res.format or (version.format if version else None) or "").lower()
    if res.url_type == "upload":
        url = URIRef(f"{base}/api/v1/data/resources/{res.id}/download")
        g.add((node, DCAT.accessURL, url))
        g.add((node, DCAT.downloadURL, url))
    elif res.url:
        g.add((node, DCAT.accessURL, URIRef(res.url)))
        if fmt not in ("api", "html"):
            g.add((node, DCAT.downloadURL, URIRef(res.url)))
    if fmt:
        if fmt in FILE_TYPES:
            ft = URIRef(f"{EU}file-type/{FILE_TYPES[fmt]}")
            g.add((node, DCTERMS.format, ft))
            g.add((ft, RDF.type, DCTERMS.MediaTypeOrExtent))
        else:
            g.add((node, DCTERMS.format, Literal(fmt.upper())))
        if fmt in MEDIA_TYPES:
            g.add((node, DCAT.mediaType, URIRef(IANA + MEDIA_TYPES[fmt])))
    if version is not None and version.size is not None:
        g.add((node, DCAT.byteSize, Literal(version.size, datatype=XSD.nonNegativeInteger)))
    if version is not None and version.sha256:
        checksum = BNode()
        g.add((node, SPDX.checksum, checksum))
        g.add((checksum, RDF.type, SPDX.Checksum))
        g.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        g.add((checksum, SPDX.checksumValue, Literal(version.sha256, datatype=XSD.hexBinary)))
    if res.created_at:
        g.add((node, DCTERMS.issued, _dt(res.created_at)))
    modified = (version.published_at if version is not None and version.published_at else None) or res.modified_at
    if modified:
        g.add((node, DCTERMS.modified, _dt(modified)))
    if license_node is not None:
        g.add((node, DCTERMS.license, license_node))
    return node


def serialize(g: Graph, fmt: str) -> tuple[bytes, str]:
    """The graph in one of :data:`OUTPUTS`: (body, media type)."""
    serializer, media = OUTPUTS[fmt]
    if serializer == "json-ld":
        data = g.serialize(format="json-ld", context=CONTEXT, auto_compact=True, indent=2)
    else:
        data = g.serialize(format=serializer)
    return (data.encode("utf-8") if isinstance(data, str) else data), media


# ------------------------------------------------------------------ HTTP


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _respond(g: Graph, fmt: str) -> Response:
    body, media = serialize(g, fmt)
    return Response(body, media_type=media, headers={"Vary": "Authorization, Cookie"})


DCAT_RESPONSES = {**ERRORS, 200: {"content": {"application/ld+json": {}, "text/turtle": {},
                                              "application/rdf+xml": {}}, "description": "DCAT catalogue"}}


def _catalog_route(fmt: str) -> Any:
    def endpoint(request: Request, ctx: ReadCtxDep,  # type: ignore[valid-type]
                 page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                 per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
                 q: Annotated[str | None, Query(max_length=200)] = None,
                 owner: Annotated[str | None, Query(max_length=64)] = None) -> Response:
        return _respond(dcat_catalog(ctx, base=_base(request), fmt=fmt, page=page, per_page=per_page, q=q,
                                     owner=owner), fmt)

    endpoint.__name__ = f"dcat_catalog_{fmt}"
    endpoint.__doc__ = (f"The DCAT catalogue ({OUTPUTS[fmt][1].split(';')[0]}) of the datasets you may read, "
                        f"paged (hydra:PagedCollection).")
    return endpoint


def _dataset_route(fmt: str) -> Any:
    def endpoint(request: Request, name: str, ctx: ReadCtxDep) -> Response:  # type: ignore[valid-type]
        return _respond(dcat_dataset(ctx, dataset=name, base=_base(request)), fmt)

    endpoint.__name__ = f"dcat_dataset_{fmt}"
    endpoint.__doc__ = f"One dataset as DCAT ({OUTPUTS[fmt][1].split(';')[0]})."
    return endpoint


for _fmt in OUTPUTS:
    router.add_api_route(f"/catalog.{_fmt}", _catalog_route(_fmt), methods=["GET"], response_class=Response,
                         responses=DCAT_RESPONSES, operation_id=f"dcat_catalog_{_fmt}")
    router.add_api_route(f"/dataset/{{name}}.{_fmt}", _dataset_route(_fmt), methods=["GET"], response_class=Response,
                         responses=DCAT_RESPONSES, operation_id=f"dcat_dataset_{_fmt}")


@router.get("/dataset/{name}", include_in_schema=False)
def dataset_page_redirect(name: str) -> RedirectResponse:
    """CKAN's dataset page address (``/dataset/{name}``), moved permanently to the portal's ``/data/{name}``.

    Added after the ``.jsonld``/``.ttl``/``.rdf`` routes, so those are matched first.
    """
    return RedirectResponse(f"/data/{quote(name, safe='')}", status_code=301)
