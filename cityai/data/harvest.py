"""Harvesting from other CKAN-compatible portals: sources, runs, the harvest job and its schedule.

A *harvest source* names a portal (any site answering CKAN's Action API, another CityAI included), the
agency that will own what is harvested, an optional filter (an organization, or ``fq`` terms), the
visibility of the harvested datasets and a schedule. A *run* reads the portal's public datasets
anonymously (``package_search`` page by page, or ``package_list`` + ``package_show`` for portals
without search), then creates or updates one local dataset per remote one and withdraws (deletes)
the local datasets whose remote dataset has gone. Every local change goes through the catalog's
actions (so its authorization and audit apply), each dataset in a transaction of its own: one bad
remote dataset is recorded in the run's summary and never stops the run.

Harvested datasets are named ``<source name>-<remote name>`` (with a short hash when that name is
taken by a local dataset) and carry ``harvest_*`` extras: the source, the remote id, name and URL.
Resources are links to the remote URLs; no data is copied.

Scheduling: :func:`periodic` (wired to the ``cityai_periodic`` hook) submits a ``data.harvest`` job
for each active source whose interval has elapsed and which has no run in progress.

Server-side request forgery: ``CITYAI_HARVEST_ALLOWED_HOSTS`` (see :class:`HostAllowList`) limits the
hosts a source may name; it is checked when a source's URL is set and again on every request the
harvester sends, redirects included.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import json
import logging
import re
import socket
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import click
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityai.core import authz, jobs
from cityai.core.context import Actor, Context
from cityai.core.db import utcnow
from cityai.core.errors import PROBLEM_TYPES, Problem, Text, conflict, forbidden, invalid, invalid_state, not_found
from cityai.core.jobs import JobCancelled, JobKind, JobRun
from cityai.core.models import Agency, Job
from cityai.core.text import nfc, required_text
from cityai.data import access, catalog
from cityai.data.models import FREQUENCIES, VISIBILITIES, Dataset, HarvestRun, HarvestSource
from cityai.web.api import ERRORS as API_ERRORS
from cityai.web.api import PROBLEM
from cityai.web.deps import CtxDep, ReadCtxDep, csrf_protect
from cityai.web.pagination import offset_page

log = logging.getLogger("cityai.harvest")

SOURCE = ("nguồn thu thập", "harvest source")
RUN = ("lượt thu thập", "harvest run")
JOB_KIND = "data.harvest"

SOURCE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
CKAN_NAME_RE = re.compile(r"^[a-z0-9_-]{1,100}$")
DATASET_NAME_RE = re.compile(r"[^a-z0-9_-]+")
API_SUFFIX = re.compile(r"(/api(/\d+)?(/action)?)?/*$")

PAGE_ROWS = 100  # package_search rows per request
MAX_DATASETS = 10_000  # remote datasets read in one run
MAX_RESOURCES = 200  # resources kept per dataset
MAX_RESPONSE_BYTES = 20 * 1024 * 1024  # one answer from the remote portal
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
MAX_DETAILS = 5000  # per-dataset lines kept in a run's summary
MIN_INTERVAL, MAX_INTERVAL = 5, 366 * 24 * 60  # minutes
STALE_UNTRACKED_RUN = dt.timedelta(hours=6)  # a run without a job (CLI) still "running" after this is dead
IN_PROGRESS = ("queued", "running")

T_UNREACHABLE = ("Không kết nối được cổng dữ liệu nguồn", "Harvest source unreachable")
T_NOT_CKAN = ("Nguồn không phải cổng dữ liệu tương thích CKAN", "Not a CKAN-compatible portal")
T_HOST_NOT_ALLOWED = ("Máy chủ nguồn không nằm trong danh sách được phép thu thập",
                      "Harvest host not allowed")
HOST_NOT_ALLOWED = "harvest-host-not-allowed"
TITLES: dict[str, Text] = {"harvest-unreachable": T_UNREACHABLE, "harvest-not-ckan": T_NOT_CKAN,
                           HOST_NOT_ALLOWED: T_HOST_NOT_ALLOWED}
for _code, _title in TITLES.items():
    PROBLEM_TYPES.setdefault(_code, _title)


class HarvestError(Exception):
    """The remote portal could not be read: unreachable, too slow, too big, not CKAN-compatible, or on a host
    (or redirecting to one) that ``CITYAI_HARVEST_ALLOWED_HOSTS`` does not allow."""

    def __init__(self, code: str, detail: Text) -> None:
        super().__init__(f"[{code}] {detail[0]} / {detail[1]}")
        self.code, self.detail = code, detail

    def to_problem(self) -> Problem:
        return Problem(502, self.code, TITLES.get(self.code, T_NOT_CKAN), self.detail)


class RemoteActionError(HarvestError):
    """The portal answered in CKAN's shape, with ``success: false`` (e.g. an unknown action)."""

    def __init__(self, action: str, status: int, type_: str | None, message: str) -> None:
        super().__init__("harvest-not-ckan", (f"Cổng nguồn từ chối '{action}' (HTTP {status}, {type_}): {message}",
                                              f"The portal refused '{action}' (HTTP {status}, {type_}): {message}"))
        self.action, self.status, self.type = action, status, type_


def _unreachable(url: str, why: str) -> HarvestError:
    return HarvestError("harvest-unreachable", (f"Không kết nối được {url}: {why}.", f"Could not reach {url}: {why}."))


def _not_ckan(url: str, why_vi: str, why_en: str) -> HarvestError:
    return HarvestError("harvest-not-ckan", (f"{url} không trả lời như một cổng CKAN: {why_vi}.",
                                             f"{url} did not answer as a CKAN portal: {why_en}."))


def _host_not_allowed(url: str, host: str, redirected: bool) -> HarvestError:
    via_vi = f" (được chuyển hướng tới từ {url})" if redirected else ""
    via_en = f" (reached by a redirect from {url})" if redirected else ""
    return HarvestError(HOST_NOT_ALLOWED, (
        f"Máy chủ '{host}'{via_vi} không nằm trong danh sách máy chủ được phép thu thập "
        f"(CITYAI_HARVEST_ALLOWED_HOSTS).",
        f"The host '{host}'{via_en} is not one of the hosts harvesting may reach "
        f"(CITYAI_HARVEST_ALLOWED_HOSTS)."))


# ------------------------------------------------------------------ which hosts may be harvested (SSRF)


Resolver = Callable[[str], list[str]]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve_host(host: str) -> list[str]:
    """Every address the host name resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


def _canonical_host(host: str) -> str:
    """Lower case, no brackets or trailing dot, IDNA (``xn--``) form for non-ASCII names."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host


def _ip(text: str) -> IPAddress | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return addr


@dataclass(frozen=True)
class HostAllowList:
    """``CITYAI_HARVEST_ALLOWED_HOSTS``: the hosts a harvest source may name, and redirects may lead to.

    Comma separated entries, each one of:

    * a host name, matched exactly (case does not matter): ``data.hochiminhcity.gov.vn``;
    * ``*.suffix``: any host *below* the suffix (``*.gov.vn`` allows ``data.tphcm.gov.vn``, not ``gov.vn``
      itself - list it too if it should be allowed);
    * an IP address or CIDR range: ``127.0.0.1``, ``10.0.0.0/8``, ``2001:db8::/32``. An IP address in the
      URL must lie in one of the ranges; a host name that no name entry matches is resolved and allowed
      only when it resolves, and *every* address it resolves to lies in one of the ranges.

    No entries (the default) allows every host.
    """

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @property
    def allows_any(self) -> bool:
        return not (self.names or self.suffixes or self.networks)

    @classmethod
    def parse(cls, spec: str | None) -> HostAllowList:
        return _parse_allow_list(spec or "")

    def allows(self, host: str | None, resolve: Resolver | None = None) -> bool:
        """Whether ``host`` may be reached; ``resolve`` (default :func:`resolve_host`) looks names up."""
        if self.allows_any:
            return True
        host = _canonical_host(host or "")
        if not host:
            return False
        addr = _ip(host)
        if addr is not None:
            return self._in_networks(addr)
        if host in self.names or any(host.endswith("." + suffix) for suffix in self.suffixes):
            return True
        if not self.networks:
            return False
        addresses = [_ip(a) for a in (resolve or resolve_host)(host)]
        return bool(addresses) and all(a is not None and self._in_networks(a) for a in addresses)

    def _in_networks(self, addr: IPAddress) -> bool:
        return any(addr.version == net.version and addr in net for net in self.networks)


@functools.lru_cache(maxsize=16)
def _parse_allow_list(spec: str) -> HostAllowList:
    names: set[str] = set()
    suffixes: list[str] = []
    networks: list[IPNetwork] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry.startswith("*."):
            suffix = _canonical_host(entry[2:])
            if suffix and "*" not in suffix:
                suffixes.append(suffix)
                continue
        else:
            try:
                net = ipaddress.ip_network(entry.strip("[]"), strict=False)
            except ValueError:
                net = None
            if net is not None:
                mapped = getattr(net.network_address, "ipv4_mapped", None)
                if mapped is not None and net.prefixlen >= 96:
                    net = ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}")
                networks.append(net)
                continue
            name = _canonical_host(entry)
            if name and "/" not in name and "*" not in name:
                names.add(name)
                continue
        log.warning("ignoring an invalid CITYAI_HARVEST_ALLOWED_HOSTS entry", extra={"entry": entry})
    return HostAllowList(frozenset(names), tuple(suffixes), tuple(networks))


def allowed_hosts(platform: Any) -> HostAllowList:
    """The platform's allow-list (``settings.harvest_allowed_hosts``)."""
    settings = getattr(platform, "settings", None)
    return HostAllowList.parse(getattr(settings, "harvest_allowed_hosts", "") or "")


def check_url_host(platform: Any, url: str) -> None:
    """Refuse (422, field ``url``) a source URL whose host the allow-list does not allow."""
    host = urlsplit(url).hostname or ""
    if not allowed_hosts(platform).allows(host):
        raise invalid((f"Máy chủ '{host}' không nằm trong danh sách máy chủ được phép thu thập "
                       f"(CITYAI_HARVEST_ALLOWED_HOSTS).",
                       f"The host '{host}' is not one of the hosts harvesting may reach "
                       f"(CITYAI_HARVEST_ALLOWED_HOSTS)."), field="url", host=host)


# ------------------------------------------------------------------ the remote portal


class Portal:
    """A CKAN-compatible Action API read anonymously, with timeouts and a size limit on every answer.

    With an ``allowed`` host list, every request (the first one and each redirect) is checked before it
    is sent; a host the list does not allow fails the call with ``harvest-host-not-allowed``.
    """

    def __init__(self, url: str, *, max_bytes: int = MAX_RESPONSE_BYTES, allowed: HostAllowList | None = None,
                 resolve: Resolver | None = None) -> None:
        import httpx

        import cityai

        self.url = url
        self.api = url + "/api/3/action/"
        self.max_bytes = max_bytes
        self.allowed = allowed or HostAllowList()
        self._resolve = resolve
        self._client = httpx.Client(
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S), follow_redirects=True,
            max_redirects=3, trust_env=False, event_hooks={"request": [self._check_host]},
            headers={"User-Agent": f"CityAI-harvester/{cityai.__version__}", "Accept": "application/json"})

    def _check_host(self, request: Any) -> None:
        """httpx request hook: runs before every request is sent, redirects included."""
        host = request.url.host
        if not self.allowed.allows(host, self._resolve):
            first = _canonical_host(urlsplit(self.url).hostname or "")
            raise _host_not_allowed(self.url, host, redirected=_canonical_host(host) != first)

    def __enter__(self) -> Portal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._client.close()

    def call(self, action: str, **params: Any) -> Any:
        import httpx

        endpoint = self.api + action
        try:
            with self._client.stream("GET", endpoint, params={k: v for k, v in params.items() if v is not None}) as r:
                status = r.status_code
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise _not_ckan(self.url, f"câu trả lời quá lớn ({declared} byte)",
                                    f"the answer is too large ({declared} bytes)")
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _not_ckan(self.url, f"câu trả lời vượt quá {self.max_bytes} byte",
                                        f"the answer exceeds {self.max_bytes} bytes")
        except httpx.TimeoutException:
            raise _unreachable(self.url, "quá thời gian chờ / timed out") from None
        except httpx.UnsupportedProtocol:
            raise _unreachable(self.url, "chuyển hướng tới giao thức không hỗ trợ / redirected to an unsupported "
                                         "protocol") from None
        except httpx.TooManyRedirects:
            raise _unreachable(self.url, "chuyển hướng quá nhiều lần / too many redirects") from None
        except httpx.HTTPError as exc:
            raise _unreachable(self.url, type(exc).__name__) from None
        try:
            data = json.loads(bytes(body))
        except (ValueError, UnicodeDecodeError):
            raise _not_ckan(self.url, f"'{action}' không trả về JSON (HTTP {status})",
                            f"'{action}' did not return JSON (HTTP {status})") from None
        if not isinstance(data, dict) or not isinstance(data.get("success"), bool):
            raise _not_ckan(self.url, f"'{action}' trả về JSON không có dạng của CKAN (HTTP {status})",
                            f"'{action}' returned JSON without CKAN's envelope (HTTP {status})")
        if not data["success"]:
            err = data.get("error") if isinstance(data.get("error"), dict) else {}
            raise RemoteActionError(action, status, str(err.get("__type") or "")[:100] or None,
                                    str(err.get("message") or "")[:300])
        return data.get("result")

    def search(self, *, fq: str | None, rows: int, start: int) -> dict[str, Any]:
        result = self.call("package_search", q="*:*", fq=fq or None, rows=rows, start=start,
                           sort="name asc")
        if (not isinstance(result, dict) or not isinstance(result.get("count"), int)
                or not isinstance(result.get("results"), list)):
            raise _not_ckan(self.url, "kết quả package_search không đúng dạng", "package_search returned an odd result")
        return result


def normalize_url(url: Any) -> str:
    """The portal's root URL: http(s) only, no credentials, query or fragment; a trailing /api/3/action is cut."""
    text = nfc(url) if isinstance(url, str) else None
    if not text or len(text) > 2000:
        raise invalid(("Cần đường dẫn của cổng dữ liệu (http:// hoặc https://).",
                       "The portal's URL (http:// or https://) is required."), field="url")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid(("Đường dẫn phải bắt đầu bằng http:// hoặc https:// và có tên máy chủ.",
                       "The URL must start with http:// or https:// and name a host."), field="url")
    if parts.username or parts.password:
        raise invalid(("Đường dẫn không được chứa tên đăng nhập hay mật khẩu.",
                       "The URL must not contain a user name or password."), field="url")
    if parts.query or parts.fragment:
        raise invalid(("Đường dẫn không được có tham số truy vấn hay phân đoạn (#).",
                       "The URL must not have a query string or a fragment."), field="url")
    path = API_SUFFIX.sub("", parts.path)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


# ------------------------------------------------------------------ loading and serialising


def get_source(ctx: Context, ref: Any) -> HarvestSource:
    """A source by id or name."""
    if not isinstance(ref, str) or not ref or len(ref) > 40:
        raise not_found(SOURCE, ref)
    src = ctx.db.execute(select(HarvestSource).where(
        (HarvestSource.id == ref) | (HarvestSource.name == ref))).scalar_one_or_none()
    if src is None:
        raise not_found(SOURCE, ref)
    return src


def _source_or_none(ctx: Context, ref: Any) -> HarvestSource | None:
    try:
        return get_source(ctx, ref)
    except Problem:
        return None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def source_to_dict(src: HarvestSource, last_run: HarvestRun | None = None) -> dict[str, Any]:
    return {
        "id": src.id, "name": src.name, "title": src.title, "url": src.url,
        "owner": {"id": src.owner.id, "code": src.owner.code, "name": src.owner.name},
        "filter_organization": src.filter_organization, "filter_fq": src.filter_fq,
        "visibility": src.visibility, "interval_minutes": src.interval_minutes, "active": src.active,
        "last_run_at": _iso(src.last_run_at), "last_status": src.last_status,
        "last_run": run_to_dict(last_run, details=False) if last_run is not None else None,
        "created_at": _iso(src.created_at), "modified_at": _iso(src.modified_at),
    }


def run_to_dict(run: HarvestRun, *, details: bool = True) -> dict[str, Any]:
    out = {
        "id": run.id, "source_id": run.source_id, "job_id": run.job_id, "trigger": run.trigger,
        "status": run.status, "created": run.created, "updated": run.updated, "unchanged": run.unchanged,
        "deleted": run.deleted, "errors": run.errors, "error": run.error,
        "created_at": _iso(run.created_at), "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
    }
    if details:
        out["details"] = list(run.details or [])
    return out


# ------------------------------------------------------------------ auth functions


def _auth_create(ctx: Context, *, owner_id: int | None = None, **_: Any) -> bool:
    return not ctx.actor.is_anonymous and owner_id is not None and ctx.has_role(owner_id, "admin")


def _role_on_source(minimum: str) -> Callable[..., bool]:
    """Holders of ``minimum`` in the source's owner agency (unknown sources fall through to a 404)."""

    def auth(ctx: Context, *, source_id: Any = None, **_: Any) -> bool:
        if ctx.actor.is_anonymous:
            return False
        src = _source_or_none(ctx, source_id)
        return src is None or ctx.has_role(src.owner_id, minimum)

    auth.__name__ = f"harvest_source_{minimum}"
    return auth


def _auth_run_show(ctx: Context, *, run_id: Any = None, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    run = ctx.db.get(HarvestRun, run_id) if isinstance(run_id, str) and len(run_id) <= 36 else None
    src = ctx.db.get(HarvestSource, run.source_id) if run is not None else None
    return src is None or ctx.has_role(src.owner_id, "member")


_source_admin = _role_on_source("admin")
_source_editor = _role_on_source("editor")
_source_member = _role_on_source("member")


# ------------------------------------------------------------------ validation


def _optional(value: Any, field: str, max_len: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid((f"'{field}' phải là chuỗi.", f"'{field}' must be a string."), field=field)
    value = nfc(value) or None
    if value is not None and len(value) > max_len:
        raise invalid((f"'{field}' dài quá {max_len} ký tự.", f"'{field}' exceeds {max_len} characters."), field=field)
    return value


def _validate(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "title" in data:
        out["title"] = required_text(data["title"], "title", 300)
    if "url" in data:
        out["url"] = normalize_url(data["url"])
        check_url_host(ctx.platform, out["url"])
    if "owner_id" in data:
        owner = data["owner_id"]
        if not isinstance(owner, int) or isinstance(owner, bool) or ctx.db.get(Agency, owner) is None:
            raise not_found(("đơn vị", "agency"), owner)
        out["owner_id"] = owner
    if "filter_organization" in data:
        org = _optional(data["filter_organization"], "filter_organization", 100)
        if org is not None and not CKAN_NAME_RE.match(org):
            raise invalid(("Tên tổ chức CKAN chỉ gồm chữ thường không dấu, số, '-' hoặc '_'.",
                           "A CKAN organization name uses lower-case ASCII letters, digits, '-' or '_'."),
                          field="filter_organization")
        out["filter_organization"] = org
    if "filter_fq" in data:
        out["filter_fq"] = _optional(data["filter_fq"], "filter_fq", 1000)
    if "visibility" in data:
        vis = data["visibility"] or "public"
        if vis not in VISIBILITIES:
            raise invalid((f"Phạm vi '{vis}' không hợp lệ.", f"Unknown visibility '{vis}'."), field="visibility",
                          allowed=list(VISIBILITIES))
        out["visibility"] = vis
    if "interval_minutes" in data:
        n = data["interval_minutes"]
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not MIN_INTERVAL <= n <= MAX_INTERVAL):
            raise invalid((f"Chu kỳ thu thập phải từ {MIN_INTERVAL} đến {MAX_INTERVAL} phút (hoặc để trống).",
                           f"The interval must be {MIN_INTERVAL}-{MAX_INTERVAL} minutes (or null: by hand only)."),
                          field="interval_minutes")
        out["interval_minutes"] = n
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise invalid(("'active' phải là true hoặc false.", "'active' must be true or false."), field="active")
        out["active"] = data["active"]
    return out


def _fq(src: HarvestSource) -> str | None:
    parts = [f"organization:{src.filter_organization}"] if src.filter_organization else []
    if src.filter_fq:
        parts.append(src.filter_fq)
    return " ".join(parts) or None


# ------------------------------------------------------------------ actions: sources


@authz.action("harvest.source_create", scope="write", auth=_auth_create)
def harvest_source_create(ctx: Context, *, name: str, url: str, owner_id: int | None = None, title: str | None = None,
                          filter_organization: str | None = None, filter_fq: str | None = None,
                          visibility: str = "public", interval_minutes: int | None = None,
                          active: bool = True) -> HarvestSource:
    """Register a CKAN-compatible portal to harvest into an agency (its admins, or the system administrator)."""
    name = (nfc(name) if isinstance(name, str) else "") or ""
    name = name.lower()
    if not SOURCE_NAME_RE.match(name):
        raise invalid(("Tên nguồn gồm 2-40 chữ thường không dấu, số hoặc '-'.",
                       "A source name uses 2-40 lower-case ASCII letters, digits or '-'."), field="name")
    if ctx.db.execute(select(HarvestSource.id).where(HarvestSource.name == name)).first():
        raise conflict((f"Tên nguồn '{name}' đã được dùng.", f"The source name '{name}' is already in use."),
                       field="name")
    values = _validate(ctx, {"title": title or name, "url": url, "owner_id": owner_id,
                             "filter_organization": filter_organization, "filter_fq": filter_fq,
                             "visibility": visibility, "interval_minutes": interval_minutes, "active": active})
    src = HarvestSource(name=name, created_by=ctx.actor.user_id, **values)
    ctx.db.add(src)
    ctx.db.flush()
    ctx.audit("harvest.source_create", "harvest_source", src.id, name=name, url=src.url, owner_id=src.owner_id,
              visibility=src.visibility, interval_minutes=src.interval_minutes)
    return src


@authz.action("harvest.source_update", scope="write", auth=_source_admin)
def harvest_source_update(ctx: Context, *, source_id: str, **fields: Any) -> HarvestSource:
    """Change a source's settings (only the fields given; its name, which prefixes its datasets, stays)."""
    src = get_source(ctx, source_id)
    unknown = set(fields) - {"title", "url", "owner_id", "filter_organization", "filter_fq", "visibility",
                             "interval_minutes", "active"}
    if unknown:
        raise invalid((f"Trường không hỗ trợ: {', '.join(sorted(unknown))}.",
                       f"Unsupported fields: {', '.join(sorted(unknown))}."), fields=sorted(unknown))
    values = _validate(ctx, fields)
    new_owner = values.get("owner_id")
    if new_owner is not None and new_owner != src.owner_id and not ctx.has_role(new_owner, "admin"):
        raise forbidden("harvest.source_update")
    changed = sorted(k for k, v in values.items() if getattr(src, k) != v)
    for k in changed:
        setattr(src, k, values[k])
    src.modified_at = utcnow()
    ctx.db.flush()
    ctx.audit("harvest.source_update", "harvest_source", src.id, name=src.name, fields=changed)
    return src


@authz.action("harvest.source_delete", scope="write", auth=_source_admin)
def harvest_source_delete(ctx: Context, *, source_id: str, withdraw_datasets: bool = False) -> int:
    """Delete a source and its run history; with ``withdraw_datasets`` its harvested datasets are deleted too.

    Returns how many datasets were withdrawn.
    """
    src = get_source(ctx, source_id)
    if _run_in_progress(ctx, src.id) is not None:
        raise invalid_state(("Nguồn đang được thu thập; hãy đợi lượt thu thập kết thúc.",
                             "A harvest of this source is in progress; wait for it to end."))
    withdrawn = 0
    if withdraw_datasets:
        for ds in harvested_datasets(ctx.db, src):
            if ds.state == "active":
                catalog.dataset_delete(ctx, dataset=ds.id)
                withdrawn += 1
    name, sid = src.name, src.id
    ctx.db.delete(src)
    ctx.db.flush()
    ctx.audit("harvest.source_delete", "harvest_source", sid, name=name, withdrawn=withdrawn)
    return withdrawn


@authz.action("harvest.source_list", scope="read", auth=authz.authenticated)
def harvest_source_list(ctx: Context, *, limit: int = 50, offset: int = 0) -> tuple[list[HarvestSource], int]:
    """The harvest sources of the caller's agencies (and the agencies below them); all for a system administrator."""
    q = select(HarvestSource)
    if not ctx.actor.is_sysadmin:
        q = q.where(HarvestSource.owner_id.in_(ctx.descendants(list(ctx.actor.roles))))
    total = ctx.db.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = ctx.db.execute(q.order_by(HarvestSource.name).limit(limit).offset(offset)).scalars().all()
    return list(rows), total


@authz.action("harvest.source_show", scope="read", auth=_source_member)
def harvest_source_show(ctx: Context, *, source_id: str) -> tuple[HarvestSource, HarvestRun | None]:
    """One source with its latest run (the owner agency's members)."""
    src = get_source(ctx, source_id)
    last = ctx.db.execute(select(HarvestRun).where(HarvestRun.source_id == src.id)
                          .order_by(HarvestRun.created_at.desc()).limit(1)).scalar_one_or_none()
    return src, last


@authz.action("harvest.source_check", scope="read", auth=_source_editor)
def harvest_source_check(ctx: Context, *, source_id: str) -> dict[str, Any]:
    """Ask the remote portal now whether it answers as CKAN, and how many datasets the filter selects."""
    src = get_source(ctx, source_id)
    try:
        with Portal(src.url, allowed=allowed_hosts(ctx.platform)) as portal:
            found = portal.search(fq=_fq(src), rows=0, start=0)
            try:
                status = portal.call("status_show")
            except HarvestError:
                status = None
    except HarvestError as exc:
        ctx.audit_now("harvest.source_check", "harvest_source", src.id, outcome="error", error=exc.code)
        raise exc.to_problem() from None
    ctx.audit_now("harvest.source_check", "harvest_source", src.id, datasets=found["count"])
    version = status.get("ckan_version") if isinstance(status, dict) else None
    return {"ok": True, "url": src.url, "datasets": found["count"],
            "ckan_version": str(version)[:50] if version else None}


# ------------------------------------------------------------------ actions: runs


def _run_in_progress(ctx: Context, source_id: str) -> HarvestRun | None:
    """The source's unfinished run, if one is really still going (its job has not ended)."""
    runs = ctx.db.execute(select(HarvestRun).where(HarvestRun.source_id == source_id,
                                                   HarvestRun.status.in_(IN_PROGRESS))).scalars().all()
    for run in runs:
        if run.job_id:
            status = ctx.db.execute(select(Job.status).where(Job.id == run.job_id)).scalar()
            if status is not None and status not in jobs.FINAL:
                return run
        elif run.created_at and utcnow() - run.created_at < STALE_UNTRACKED_RUN:
            return run
    return None


def _close_stale_runs(ctx: Context, source_id: str) -> None:
    for run in ctx.db.execute(select(HarvestRun).where(HarvestRun.source_id == source_id,
                                                       HarvestRun.status.in_(IN_PROGRESS))).scalars():
        run.status, run.finished_at = "failed", utcnow()
        run.error = run.error or "Lượt thu thập bị dừng giữa chừng / The run stopped without finishing"


@authz.action("harvest.run", scope="write", auth=_source_editor)
def harvest_run(ctx: Context, *, source_id: str, trigger: str = "manual", background: bool = True) -> HarvestRun:
    """Harvest a source now (the owner agency's editors and admins): a ``data.harvest`` job does the work.

    ``background=False`` records the run without a job; the caller then runs :func:`perform` itself (the CLI).
    """
    src = get_source(ctx, source_id)
    if not ctx.platform.is_sqlite:  # SQLite write transactions are serialized already
        ctx.db.execute(select(HarvestSource.id).where(HarvestSource.id == src.id).with_for_update())
    running = _run_in_progress(ctx, src.id)
    if running is not None:
        raise conflict(("Nguồn đang được thu thập.", "A harvest of this source is already in progress."),
                       run_id=running.id, job_id=running.job_id)
    _close_stale_runs(ctx, src.id)
    run = HarvestRun(source_id=src.id, trigger=trigger[:16], status="queued", created_by=ctx.actor.user_id,
                     created=0, updated=0, unchanged=0, deleted=0, errors=0, details=[])
    ctx.db.add(run)
    ctx.db.flush()
    if background:
        job = jobs.submit.unchecked(ctx, kind=JOB_KIND, params={"source_id": src.id},
                                    title=f"Thu thập dữ liệu / Harvest: {src.title[:200]}", agency_id=src.owner_id)
        run.job_id = job.id
    src.last_run_at = run.created_at or utcnow()
    src.last_status = "queued"
    ctx.db.flush()
    ctx.audit("harvest.run", "harvest_source", src.id, name=src.name, run_id=run.id, job_id=run.job_id,
              trigger=run.trigger)
    return run


@authz.action("harvest.run_list", scope="read", auth=_source_member)
def harvest_run_list(ctx: Context, *, source_id: str, limit: int = 20, offset: int = 0) -> tuple[list[HarvestRun], int]:
    """A source's runs, newest first."""
    src = get_source(ctx, source_id)
    q = select(HarvestRun).where(HarvestRun.source_id == src.id)
    total = ctx.db.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = ctx.db.execute(q.order_by(HarvestRun.created_at.desc(), HarvestRun.id).limit(limit).offset(offset))
    return list(rows.scalars().all()), total


@authz.action("harvest.run_show", scope="read", auth=_auth_run_show)
def harvest_run_show(ctx: Context, *, run_id: str) -> HarvestRun:
    """One run with its per-dataset summary."""
    run = ctx.db.get(HarvestRun, run_id) if isinstance(run_id, str) and len(run_id) <= 36 else None
    if run is None:
        raise not_found(RUN, run_id)
    return run


# ------------------------------------------------------------------ mapping remote packages


def harvested_datasets(db: Session, src: HarvestSource) -> list[Dataset]:
    """The local datasets this source made (deleted ones included), found by name prefix and extras."""
    rows = db.execute(select(Dataset).where(Dataset.name.startswith(src.name + "-", autoescape=True)))
    return [d for d in rows.scalars() if (d.extras or {}).get("harvest_source_id") == src.id]


def _clean(value: Any, max_len: int) -> str | None:
    """Remote text made acceptable: a string, NFC, no control characters but newlines and tabs, cut to length."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    text = unicodedata.normalize("NFC", text).strip()
    return text[:max_len] or None


def _format(value: Any) -> str | None:
    fmt = (_clean(value, 64) or "").lower().lstrip(".")
    if fmt.startswith(("text/", "application/")):  # a media type given as the format
        fmt = fmt.split("/", 1)[1].split(";")[0].replace("vnd.ms-excel", "xls")
    return fmt if re.fullmatch(r"[a-z0-9+.-]{1,32}", fmt) else None


def _local_name(src: HarvestSource, remote_name: str, remote_id: str, taken: Callable[[str], bool]) -> str:
    base = DATASET_NAME_RE.sub("-", remote_name.lower()).strip("-_") or "dataset"
    name = f"{src.name}-{base}"
    if len(name) <= 100 and not taken(name):
        return name
    digest = hashlib.sha1(remote_id.encode()).hexdigest()[:8]
    return f"{src.name}-{base[:100 - len(src.name) - 10]}-{digest}"


def map_package(src: HarvestSource, pkg: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Catalog fields and resource links for a remote CKAN package dict."""
    name = str(pkg.get("name") or "")
    tags: list[str] = []
    for t in pkg.get("tags") or []:
        tag = _clean(t.get("name") if isinstance(t, dict) else t, 100)
        if tag and tag not in tags and len(tags) < 100:
            tags.append(tag)
    theme = _clean(pkg.get("theme"), 100)
    if not theme:
        groups = [g for g in (pkg.get("groups") or []) if isinstance(g, dict) and g.get("name")]
        theme = _clean(groups[0]["name"], 100) if groups else None
    spatial = pkg.get("spatial")
    spatial = [s for s in (_clean(x, 20) for x in spatial) if s][:500] if isinstance(spatial, list) else []
    org = pkg.get("organization") if isinstance(pkg.get("organization"), dict) else {}
    extras: dict[str, str | None] = {}
    raw = pkg.get("extras") or []
    pairs = raw.items() if isinstance(raw, dict) else [(e.get("key"), e.get("value")) for e in raw
                                                        if isinstance(e, dict)]
    for key, value in pairs:
        key = _clean(key, 100)
        if key and not key.startswith("harvest_") and len(extras) < 80:
            extras[key] = _clean(value, 10_000)
    extras.update({
        "harvest_source_id": src.id,
        "harvest_source_name": src.name,
        "harvest_remote_id": str(pkg.get("id") or name)[:100],
        "harvest_remote_name": name[:100],
        "harvest_remote_url": f"{src.url}/dataset/{name}",
        "harvest_remote_api": f"{src.url}/api/3/action/package_show?id={pkg.get('id') or name}",
        "harvest_remote_modified": _clean(pkg.get("metadata_modified"), 40),
        "harvest_remote_organization": _clean(org.get("name"), 100),
    })
    frequency = pkg.get("frequency") if pkg.get("frequency") in FREQUENCIES else None
    fields: dict[str, Any] = {
        "title": _clean(pkg.get("title"), 500) or name,
        "title_en": _clean(pkg.get("title_en"), 500),
        "notes": _clean(pkg.get("notes"), 100_000),
        "notes_en": _clean(pkg.get("notes_en"), 100_000),
        "tags": tags,
        "theme": theme,
        "license_id": _clean(pkg.get("license_id"), 100),
        "frequency": frequency,
        "spatial": spatial,
        "temporal_start": _clean(pkg.get("temporal_start"), 32),
        "temporal_end": _clean(pkg.get("temporal_end"), 32),
        "contact_name": _clean(pkg.get("maintainer") or pkg.get("author") or pkg.get("contact_name"), 200),
        "contact_email": _clean(pkg.get("maintainer_email") or pkg.get("author_email") or pkg.get("contact_email"),
                                320),
        "visibility": src.visibility,
        "extras": extras,
    }
    resources: list[dict[str, Any]] = []
    for r in (pkg.get("resources") or [])[:MAX_RESOURCES]:
        if not isinstance(r, dict):
            continue
        url = _clean(r.get("url"), 2000)
        if url and not re.match(r"^(https?|ftp)://", url):
            url = None  # a relative or odd link is not kept
        resources.append({"name": _clean(r.get("name"), 500) or (url or "").rsplit("/", 1)[-1][:500] or "Tài nguyên",
                          "url": url, "description": _clean(r.get("description"), 100_000),
                          "format": _format(r.get("format"))})
    fingerprint = hashlib.sha256(json.dumps([fields, resources, src.owner_id], sort_keys=True,
                                            ensure_ascii=False).encode()).hexdigest()
    fields["extras"]["harvest_fingerprint"] = fingerprint
    return fields, resources


def _sync_resources(ctx: Context, ds: Dataset, wanted: list[dict[str, Any]]) -> None:
    """Make the dataset's resources the remote ones, position by position (ids stay where they can)."""
    ctx.db.expire(ds, ["resources"])
    local = list(ds.resources)
    for i, want in enumerate(wanted):
        if i < len(local):
            r = local[i]
            have = {"name": r.name, "url": r.url or None, "description": r.description or None,
                    "format": r.format or None}
            if have != want:
                catalog.resource_update(ctx, resource_id=r.id, **{k: (v if v is not None else "")
                                                                  for k, v in want.items()})
        else:
            catalog.resource_create(ctx, dataset=ds.id, **want)
    for r in local[len(wanted):]:
        catalog.resource_delete(ctx, resource_id=r.id)


# ------------------------------------------------------------------ the harvest itself


Report = Callable[[float, str], None]


def _list_remote(portal: Portal, src: HarvestSource, report: Report) -> tuple[list[dict], list[dict], bool]:
    """(packages, failures, complete): every public remote dataset the filter selects.

    ``failures`` are datasets listed but not readable (``{"remote", "error"}``); ``complete`` is false
    when the list was cut at :data:`MAX_DATASETS`, in which case nothing may be withdrawn.
    """
    packages: list[dict] = []
    fq = _fq(src)
    try:
        first = portal.search(fq=fq, rows=PAGE_ROWS, start=0)
    except RemoteActionError as exc:
        if exc.status == 400 or (exc.type or "").lower().startswith("bad request"):
            return _list_remote_without_search(portal, src, report)
        raise
    total = first["count"]
    page = first["results"]
    start = 0
    while True:
        packages.extend(p for p in page if isinstance(p, dict))
        start += len(page)
        report(min(10.0, 10.0 * start / max(total, 1)), f"Đọc danh sách / Listing {start}/{total}")
        if not page or start >= total or len(packages) >= MAX_DATASETS:
            break
        page = portal.search(fq=fq, rows=PAGE_ROWS, start=start)["results"]
    complete = start >= total and len(packages) <= MAX_DATASETS
    return packages[:MAX_DATASETS], [], complete


def _list_remote_without_search(portal: Portal, src: HarvestSource, report: Report) -> tuple[list, list, bool]:
    names = portal.call("package_list")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _not_ckan(portal.url, "kết quả package_list không đúng dạng", "package_list returned an odd result")
    complete = len(names) <= MAX_DATASETS
    packages, failures = [], []
    for i, name in enumerate(names[:MAX_DATASETS]):
        try:
            pkg = portal.call("package_show", id=name)
            if not isinstance(pkg, dict):
                raise _not_ckan(portal.url, "kết quả package_show không đúng dạng", "package_show returned an odd result")
        except RemoteActionError as exc:
            failures.append({"remote": name, "error": str(exc)[:500]})
            continue
        org = pkg.get("organization") if isinstance(pkg.get("organization"), dict) else {}
        if src.filter_organization and org.get("name") != src.filter_organization:
            continue
        packages.append(pkg)
        report(10.0 * (i + 1) / max(len(names), 1), f"Đọc / Reading {i + 1}/{len(names)}")
    return packages, failures, complete


def _set_run(platform: Any, run_id: str, **values: Any) -> None:
    with platform.transaction(write=True) as db:
        run = db.get(HarvestRun, run_id)
        if run is None:
            return
        for k, v in values.items():
            setattr(run, k, v)
        src = db.get(HarvestSource, run.source_id)
        if src is not None and "status" in values:
            src.last_status = values["status"]


def perform(platform: Any, run_id: str, actor: Actor, report: Report | None = None) -> dict[str, Any]:
    """Do one harvest run as ``actor`` and record its outcome; returns the run as a dict.

    A remote portal that cannot be listed fails the run (nothing is withdrawn); a remote dataset that
    cannot be stored is counted in ``errors`` with its reason, and the others go on.
    """
    report = report or (lambda pct, msg: None)
    with platform.transaction() as db:
        run = db.get(HarvestRun, run_id)
        if run is None:
            raise LookupError(f"harvest run {run_id} does not exist")
        src = db.get(HarvestSource, run.source_id)
        if src is None:
            raise LookupError(f"the source of harvest run {run_id} no longer exists")
        db.expunge(src)
    _set_run(platform, run_id, status="running", started_at=utcnow())
    counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0, "errors": 0}
    details: list[dict[str, Any]] = []

    def note(action: str, remote: str | None, name: str | None = None, error: str | None = None) -> None:
        if action in counts:
            counts[action] += 1
        elif action == "error":
            counts["errors"] += 1
        if len(details) < MAX_DETAILS:
            entry = {"action": action, "remote": remote, "name": name}
            if error:
                entry["error"] = error[:1000]
            details.append(entry)

    try:
        report(0.0, f"Kết nối / Connecting to {src.url}")
        with Portal(src.url, allowed=allowed_hosts(platform)) as portal:
            packages, failures, complete = _list_remote(portal, src, report)
        for f in failures:
            note("error", f["remote"], error=f["error"])
        seen_ids = {str(p.get("id")) for p in packages if p.get("id")} | {f["remote"] for f in failures}
        seen_names = {str(p.get("name")) for p in packages if p.get("name")} | {f["remote"] for f in failures}
        unique: dict[str, dict] = {}
        for pkg in packages:  # a portal may list a dataset twice (e.g. while it changes): keep the last
            unique[str(pkg.get("id") or pkg.get("name") or "?")[:100]] = pkg
        packages = list(unique.values())
        with platform.transaction() as db:
            mine: dict[str, tuple] = {}
            by_name: dict[str, str] = {}
            for ds in harvested_datasets(db, src):
                ex = ds.extras or {}
                mine[ex.get("harvest_remote_id")] = (ds.id, ds.name, ds.state, ex.get("harvest_remote_name"),
                                                     ex.get("harvest_fingerprint"))
                if ex.get("harvest_remote_name"):
                    by_name[ex["harvest_remote_name"]] = ex.get("harvest_remote_id")
        total = len(packages)
        for i, pkg in enumerate(packages):
            remote = str(pkg.get("id") or pkg.get("name") or "?")[:100]
            known = mine.get(remote)
            old_id = by_name.get(str(pkg.get("name")))
            if known is None and old_id in mine and old_id not in seen_ids:
                known = mine[old_id]  # the remote dataset was re-created under the same name: same local one
            if pkg.get("private") is True or pkg.get("state", "active") != "active":
                continue  # only public, active datasets are harvested
            if not isinstance(pkg.get("name"), str) or not pkg["name"]:
                note("error", remote, error="the remote dataset has no name")
                continue
            try:
                action, name = _apply(platform, actor, src, pkg, known)
                note(action, remote, name)
            except Problem as exc:
                note("error", remote, error=f"{exc.detail[0]} / {exc.detail[1]}")
            except Exception as exc:  # noqa: BLE001 - one bad dataset must not stop the run
                log.exception("harvesting one dataset failed", extra={"source": src.name, "remote": remote})
                note("error", remote, error=f"{type(exc).__name__}: {exc}")
            report(10.0 + 85.0 * (i + 1) / max(total, 1), f"Bộ dữ liệu / Datasets {i + 1}/{total}")
        if complete:
            for remote_id, (local_id, name, state, remote_name, _fp) in mine.items():
                if state != "active" or remote_id in seen_ids or remote_name in seen_names:
                    continue
                try:
                    with platform.unit_of_work(actor) as ctx:
                        catalog.dataset_delete(ctx, dataset=local_id)
                    note("deleted", remote_id, name)
                except Problem as exc:
                    note("error", remote_id, name, error=f"{exc.detail[0]} / {exc.detail[1]}")
        else:
            note("skipped", None, error=f"more than {MAX_DATASETS} remote datasets: nothing was withdrawn")
        status, error = "succeeded", None
    except HarvestError as exc:
        status, error = "failed", str(exc)
    except JobCancelled:
        _set_run(platform, run_id, status="cancelled", finished_at=utcnow(), details=details, **counts)
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the run, then re-raised for the job
        _set_run(platform, run_id, status="failed", finished_at=utcnow(), details=details,
                 error=f"{type(exc).__name__}: {exc}"[:4000], **counts)
        raise
    _set_run(platform, run_id, status=status, finished_at=utcnow(), details=details, error=error, **counts)
    with platform.unit_of_work(actor) as ctx:
        ctx.audit("harvest.run_finish", "harvest_source", src.id, outcome="success" if status == "succeeded"
                  else "error", name=src.name, run_id=run_id, error=error, **counts)
        out = run_to_dict(ctx.db.get(HarvestRun, run_id))
    report(100.0, f"{status}: +{counts['created']} ~{counts['updated']} -{counts['deleted']} !{counts['errors']}")
    return out


def _apply(platform: Any, actor: Actor, src: HarvestSource, pkg: dict[str, Any],
           known: tuple | None) -> tuple[str, str]:
    """Create, update or leave one local dataset for a remote package, in a transaction of its own."""
    fields, resources = map_package(src, pkg)
    with platform.unit_of_work(actor) as ctx:
        ds = ctx.db.get(Dataset, known[0]) if known else None
        if ds is None:
            def taken(name: str) -> bool:
                return ctx.db.execute(select(Dataset.id).where(Dataset.name == name)).first() is not None

            name = _local_name(src, pkg["name"], str(pkg.get("id") or pkg["name"]), taken)
            ds = catalog.dataset_create(ctx, name=name, owner_id=src.owner_id, **fields)
            for r in resources:
                catalog.resource_create(ctx, dataset=ds.id, **r)
            return "created", ds.name
        if ds.state == "active" and (ds.extras or {}).get("harvest_fingerprint") == \
                fields["extras"]["harvest_fingerprint"] and ds.owner_id == src.owner_id:
            return "unchanged", ds.name
        if ds.state != "active":  # withdrawn earlier (or deleted here), back on the remote portal
            if not access.can_edit(ctx, ds):
                raise forbidden("dataset.update")
            ds.state = "active"
            ctx.db.flush()
            ctx.audit("harvest.dataset_restore", "dataset", ds.id, name=ds.name, source=src.name)
        catalog.dataset_update(ctx, dataset=ds.id, owner_id=src.owner_id, **fields)
        _sync_resources(ctx, ds, resources)
        return "updated", ds.name


# ------------------------------------------------------------------ the job and the schedule


def _auth_job(ctx: Context, *, source_id: Any = None, **_: Any) -> bool:
    return _source_editor(ctx, source_id=source_id)


def _validate_job(params: dict) -> None:
    if not isinstance(params.get("source_id"), str) or set(params) - {"source_id"}:
        raise invalid(("Tham số của công việc thu thập: {\"source_id\": ...}.",
                       "A harvest job takes {\"source_id\": ...}."), field="params")


def _harvest_job(run: JobRun) -> dict:
    platform = run.platform
    with platform.transaction(write=True) as db:
        hr = db.execute(select(HarvestRun).where(HarvestRun.job_id == run.job_id)).scalar_one_or_none()
        if hr is None:  # submitted through the generic jobs API rather than harvest.run
            src = db.execute(select(HarvestSource).where((HarvestSource.id == run.params["source_id"])
                                                         | (HarvestSource.name == run.params["source_id"]))
                             ).scalar_one_or_none()
            if src is None:
                raise LookupError(f"no harvest source {run.params['source_id']!r}")
            hr = HarvestRun(source_id=src.id, job_id=run.job_id, trigger="job", status="queued",
                            created_by=run.owner_id, created=0, updated=0, unchanged=0, deleted=0, errors=0,
                            details=[])
            db.add(hr)
            db.flush()
        run_id = hr.id
    result = perform(platform, run_id, run.actor(), run.progress)
    if result["status"] == "failed":
        raise RuntimeError(result["error"] or "harvest failed")
    return {k: result[k] for k in ("id", "source_id", "status", "created", "updated", "unchanged", "deleted",
                                   "errors")}


JOB_KINDS: list[JobKind] = [
    JobKind(JOB_KIND, ("Thu thập dữ liệu từ cổng CKAN", "Harvest a CKAN-compatible portal"), _harvest_job,
            auth=_auth_job, retries=0, validate=_validate_job),
]


def due_sources(platform: Any, now: dt.datetime | None = None) -> list[str]:
    """Ids of the active, scheduled sources whose interval has elapsed since their last run."""
    now = now or utcnow()
    with platform.transaction() as db:
        rows = db.execute(select(HarvestSource).where(HarvestSource.active.is_(True),
                                                      HarvestSource.interval_minutes.is_not(None))).scalars().all()
        return [s.id for s in rows
                if s.last_run_at is None or now - s.last_run_at >= dt.timedelta(minutes=s.interval_minutes)]


def periodic(platform: Any, now: dt.datetime | None = None) -> list[str]:
    """Submit a harvest job for every due source with no run in progress; returns the job ids.

    This is the data module's ``cityai_periodic`` hook implementation (called about once a minute).
    """
    submitted: list[str] = []
    for source_id in due_sources(platform, now):
        try:
            with platform.system_context() as ctx:
                src = ctx.db.get(HarvestSource, source_id)
                if src is None or _run_in_progress(ctx, source_id) is not None:
                    continue
                run = harvest_run(ctx, source_id=source_id, trigger="schedule")
                submitted.append(run.job_id)
        except Problem as exc:  # e.g. a run started by hand in between
            log.info("scheduled harvest not started", extra={"source_id": source_id, "reason": exc.detail[1]})
        except Exception:  # noqa: BLE001
            log.exception("scheduled harvest could not be submitted", extra={"source_id": source_id})
    return submitted


# ------------------------------------------------------------------ HTTP API


router = APIRouter(prefix="/api/v1/data/harvest", tags=["data harvest"])
ERRORS: dict[int | str, dict[str, Any]] = {**API_ERRORS, 502: PROBLEM}


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=40, examples=["opendata-hcm"])
    title: str | None = Field(default=None, max_length=300, examples=["Cổng dữ liệu mở TP.HCM"])
    url: str = Field(max_length=2000, examples=["https://data.hochiminhcity.gov.vn"])
    owner_id: int
    filter_organization: str | None = Field(default=None, max_length=100)
    filter_fq: str | None = Field(default=None, max_length=1000, examples=["tags:giao-thong"])
    visibility: str = Field(default="public", max_length=16)
    interval_minutes: int | None = Field(default=None, ge=MIN_INTERVAL, le=MAX_INTERVAL)
    active: bool = True


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=300)
    url: str | None = Field(default=None, max_length=2000)
    owner_id: int | None = None
    filter_organization: str | None = Field(default=None, max_length=100)
    filter_fq: str | None = Field(default=None, max_length=1000)
    visibility: str | None = Field(default=None, max_length=16)
    interval_minutes: int | None = Field(default=None, ge=MIN_INTERVAL, le=MAX_INTERVAL)
    active: bool | None = None


Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("/sources", responses=ERRORS)
def list_sources(request: Request, ctx: CtxDep, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    """Harvest sources of your agencies."""
    rows, total = harvest_source_list(ctx, limit=limit, offset=offset)
    return offset_page(request, [source_to_dict(s) for s in rows], total, limit, offset)


@router.post("/sources", status_code=201, responses=ERRORS)
def create_source(body: SourceIn, ctx: CtxDep) -> dict[str, Any]:
    """Register a CKAN-compatible portal to harvest (the owner agency's admins)."""
    return source_to_dict(harvest_source_create(ctx, **body.model_dump()))


@router.get("/sources/{source}", responses=ERRORS)
def show_source(source: str, ctx: CtxDep) -> dict[str, Any]:
    src, last = harvest_source_show(ctx, source_id=source)
    return source_to_dict(src, last)


@router.patch("/sources/{source}", responses=ERRORS)
def patch_source(source: str, body: SourcePatch, ctx: CtxDep) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    for key in ("title", "url", "owner_id", "visibility", "active"):
        if key in fields and fields[key] is None:
            raise invalid((f"'{key}' không được để trống.", f"'{key}' must not be null."), field=key)
    return source_to_dict(harvest_source_update(ctx, source_id=source, **fields))


@router.delete("/sources/{source}", status_code=204, responses=ERRORS)
def delete_source(source: str, ctx: CtxDep, withdraw_datasets: bool = False) -> Response:
    """Delete a source (``?withdraw_datasets=true`` deletes its harvested datasets too)."""
    harvest_source_delete(ctx, source_id=source, withdraw_datasets=withdraw_datasets)
    return Response(status_code=204)


@router.post("/sources/{source}/check", responses=ERRORS)
def check_source(source: str, ctx: ReadCtxDep, _csrf: Annotated[None, Depends(csrf_protect)]) -> dict[str, Any]:
    """Probe the remote portal now: 200 with its dataset count, or 502 (unreachable / not CKAN)."""
    return harvest_source_check(ctx, source_id=source)


@router.post("/sources/{source}/runs", status_code=202, responses=ERRORS)
def run_source(source: str, ctx: CtxDep) -> dict[str, Any]:
    """Harvest now: returns the run (queued) and its job id (poll /api/v1/jobs/{job_id} or the run)."""
    return run_to_dict(harvest_run(ctx, source_id=source, trigger="manual"))


@router.get("/sources/{source}/runs", responses=ERRORS)
def list_runs(request: Request, source: str, ctx: CtxDep, limit: Limit = 20, offset: Offset = 0) -> dict[str, Any]:
    rows, total = harvest_run_list(ctx, source_id=source, limit=limit, offset=offset)
    return offset_page(request, [run_to_dict(r, details=False) for r in rows], total, limit, offset)


@router.get("/runs/{run_id}", responses=ERRORS)
def show_run(run_id: str, ctx: CtxDep) -> dict[str, Any]:
    return run_to_dict(harvest_run_show(ctx, run_id=run_id))


# ------------------------------------------------------------------ CLI (added to `cityai data`)


def _summary_lines(run: dict[str, Any]) -> Iterator[str]:
    yield (f"Trạng thái / Status: {run['status']}  tạo mới / created {run['created']}, cập nhật / updated "
           f"{run['updated']}, không đổi / unchanged {run['unchanged']}, rút / deleted {run['deleted']}, "
           f"lỗi / errors {run['errors']}")
    if run.get("error"):
        yield f"Lỗi / Error: {run['error']}"
    for d in run.get("details") or []:
        if d["action"] != "unchanged":
            yield f"  {d['action']:<9} {d.get('name') or '-'}  ({d.get('remote') or '-'})" + (
                f"  {d['error']}" if d.get("error") else "")


@click.command("harvest-run")
@click.argument("source")
def harvest_run_cmd(source: str) -> None:
    """Thu thập một nguồn ngay / Harvest a source now (by name or id) and print the summary."""
    import sys

    from cityai.cli import _fail, _platform

    platform = _platform()
    try:
        with platform.system_context() as ctx:
            run = harvest_run(ctx, source_id=source, trigger="cli", background=False)
            run_id = run.id
        result = perform(platform, run_id, Actor.system(),
                         lambda pct, msg: None)
    except Problem as exc:
        _fail(exc)
        return
    finally:
        platform.close()
    for line in _summary_lines(result):
        click.echo(line)
    if result["status"] != "succeeded":
        sys.exit(1)


@click.command("harvest-sources")
def harvest_sources_cmd() -> None:
    """Liệt kê các nguồn thu thập / List the harvest sources."""
    from cityai.cli import _platform

    platform = _platform()
    try:
        with platform.system_context(write=False) as ctx:
            rows, _total = harvest_source_list(ctx, limit=500)
            for s in rows:
                every = f"{s.interval_minutes} min" if s.interval_minutes else "by hand"
                click.echo(f"{s.name:<24} {s.url}  [{s.owner.code}, {s.visibility}, {every}, "
                           f"{'active' if s.active else 'inactive'}]  last: {s.last_status or '-'}")
    finally:
        platform.close()


CLI_COMMANDS: list[Any] = [harvest_run_cmd, harvest_sources_cmd]
