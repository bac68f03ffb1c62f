"""NGSI-LD subscriptions: match changed entities, notify webhooks through the job queue.

A subscription names an entity type and/or id (or an id pattern), the attributes it watches (empty: any), an
optional ``q`` filter and the endpoint to notify. When ingestion changes an entity's latest values,
:func:`on_change` queues one notification job per matching subscription (at most one per ``throttling``
seconds); the job POSTs an NGSI-LD Notification ``{"id", "type": "Notification", "subscriptionId",
"notifiedAt", "data": [entity, ...]}`` and records success or failure on the subscription (failures retry).

The ``q`` language is NGSI-LD's simple form: terms ``attr<op>value`` with ``==``, ``!=``, ``>``, ``>=``,
``<``, ``<=`` joined by ``;`` (and) and ``|`` (or; ``;`` binds tighter); values are numbers or quoted strings.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import select

from cityai.core import authz
from cityai.core.db import utcnow
from cityai.sensing.models import Entity, Subscription

_TERM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]{0,99})\s*(==|!=|>=|<=|>|<)\s*(.+?)\s*$")


class QueryError(ValueError):
    pass


_SAFE_PATTERN = re.compile(r"^(?:[A-Za-z0-9:_\-]|\\\.|\.\*|\.)*$")


class IdPattern:
    """An NGSI-LD ``idPattern`` restricted to a subset matched in O(len(pattern) x len(id)) time: literal
    characters (letters, digits, ``:``, ``_``, ``-``, an escaped ``\\.``), ``.`` (any one character) and ``.*``
    (anything). General regular expressions from anonymous callers could take exponential time, and Python's
    ``re`` holds the interpreter while it runs."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens  # a literal character, "?" (any one) or "*" (anything)

    def fullmatch(self, text: str) -> bool:
        # the classic wildcard match: remember the last star and backtrack only to it
        t = p = 0
        star, mark = -1, 0
        toks = self.tokens
        while t < len(text):
            if p < len(toks) and toks[p] != "*" and (toks[p] == "?" or toks[p] == text[t]):
                t += 1
                p += 1
            elif p < len(toks) and toks[p] == "*":
                star, mark = p, t
                p += 1
            elif star >= 0:
                p = star + 1
                mark += 1
                t = mark
            else:
                return False
        while p < len(toks) and toks[p] == "*":
            p += 1
        return p == len(toks)


def compile_id_pattern(pattern: str) -> IdPattern:
    if not isinstance(pattern, str) or not pattern or len(pattern) > 300 or not _SAFE_PATTERN.match(pattern):
        raise QueryError("idPattern may use letters, digits, ':', '_', '-', '\\.' (a dot), '.' (any character) "
                         "and '.*' (anything), at most 300 characters; e.g. urn:ngsi-ld:AirQualityObserved:snnmt:.*")
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith(".*", i):
            if not tokens or tokens[-1] != "*":
                tokens.append("*")
            i += 2
        elif pattern.startswith("\\.", i):
            tokens.append(".")
            i += 2
        elif pattern[i] == ".":
            tokens.append("?")
            i += 1
        else:
            tokens.append(pattern[i])
            i += 1
    return IdPattern(tokens)


def parse_q(q: str | None) -> list[list[tuple[str, str, Any]]]:
    """``a>1;b=="x"|c<=2`` -> [[(a, >, 1), (b, ==, "x")], [(c, <=, 2)]] (OR of ANDs)."""
    if not q:
        return []
    if len(q) > 1000:
        raise QueryError("q is longer than 1000 characters")
    groups = []
    for part in q.split("|"):
        terms = []
        for term in part.split(";"):
            m = _TERM.match(term)
            if not m:
                raise QueryError(f"q term {term.strip()!r} is not attribute<op>value "
                                 "(ops: == != > >= < <=; join with ; for and, | for or)")
            name, op, raw = m.groups()
            if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
                value: Any = raw[1:-1]
            else:
                try:
                    value = float(raw)
                except ValueError:
                    raise QueryError(f"q value {raw!r} is neither a number nor a quoted string") from None
            terms.append((name, op, value))
        groups.append(terms)
    return groups


def _attr_value(entity: Any, name: str) -> Any:
    attrs = entity.attrs or {}
    prop = attrs.get(name)
    if isinstance(prop, dict):
        return prop.get("value", prop.get("object"))
    return prop


def matches_q(entity: Any, groups: list[list[tuple[str, str, Any]]]) -> bool:
    if not groups:
        return True
    for terms in groups:
        ok = True
        for name, op, want in terms:
            have = _attr_value(entity, name)
            if have is None:
                ok = False
                break
            try:
                if op == "==":
                    ok = have == want
                elif op == "!=":
                    ok = have != want
                elif op == ">":
                    ok = have > want
                elif op == ">=":
                    ok = have >= want
                elif op == "<":
                    ok = have < want
                else:
                    ok = have <= want
            except TypeError:
                ok = False
            if not ok:
                break
        if ok:
            return True
    return False


def matches(sub: Subscription, entity: Any, changed: set[str]) -> bool:
    if sub.entity_id and sub.entity_id != entity.id:
        return False
    if sub.entity_type and sub.entity_type != entity.type:
        return False
    if sub.id_pattern:
        try:
            if not compile_id_pattern(sub.id_pattern).fullmatch(entity.id):
                return False
        except QueryError:
            return False
    if sub.watched and not (set(sub.watched) & changed):
        return False
    try:
        return matches_q(entity, parse_q(sub.q))
    except QueryError:
        return False


def on_change(ctx: Any, changed: dict[str, set[str]]) -> int:
    """Queue notifications for the subscriptions that these entity changes match. Returns jobs queued."""
    now = utcnow()
    subs = list(ctx.db.execute(select(Subscription).where(Subscription.active.is_(True))).scalars())
    if not subs:
        return 0
    entities = {e.id: e for e in ctx.db.execute(select(Entity).where(Entity.id.in_(list(changed)))).scalars()}
    queued = 0
    for sub in subs:
        if sub.expires_at is not None and sub.expires_at <= now:
            continue
        if sub.throttling_s and sub.last_notification is not None and \
                (now - sub.last_notification).total_seconds() < sub.throttling_s:
            continue
        hit = [eid for eid, attrs in changed.items()
               if eid in entities and _may_see(ctx, sub, entities[eid]) and matches(sub, entities[eid], attrs)]
        if not hit:
            continue
        sub.last_notification = now
        _submit(ctx, sub, hit)
        queued += 1
    return queued


def _may_see(ctx: Any, sub: Subscription, entity: Any) -> bool:
    """A subscription sees public entities and the internal ones of its own agency (or agencies under it)."""
    return entity.visibility == "public" or sub.agency_id in ctx.ancestors(entity.agency_id)


def _submit(ctx: Any, sub: Subscription, entity_ids: list[str]) -> None:
    from cityai.core import jobs

    jobs.submit.unchecked(ctx, kind=NOTIFY_JOB.name, params={"subscription_id": sub.id, "entity_ids": entity_ids[:500]},
                          agency_id=sub.agency_id, title=f"NGSI-LD notification {sub.id}")


def notification(sub: Subscription, entities: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}", "type": "Notification", "subscriptionId": sub.id,
            "notifiedAt": utcnow().isoformat().replace("+00:00", "Z"), "data": entities}


def _notify_job(run: Any) -> dict[str, Any]:
    import httpx

    from cityai.sensing.service import entity_to_ngsi

    sub_id = run.params["subscription_id"]
    with run.platform.system_context(write=False) as ctx:
        sub = ctx.db.get(Subscription, sub_id)
        if sub is None or not sub.active:
            return {"skipped": "subscription gone or paused"}
        rows = ctx.db.execute(select(Entity).where(Entity.id.in_(run.params["entity_ids"]))).scalars()
        data = [entity_to_ngsi(e, attrs=sub.notify_attrs or None) for e in rows]
        body = notification(sub, data)
        endpoint = sub.endpoint
    error = None
    try:
        r = httpx.post(endpoint, json=body, timeout=10.0, headers={"Content-Type": "application/json"})
        if r.status_code >= 300:
            error = f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    with run.platform.system_context() as ctx:
        sub = ctx.db.get(Subscription, sub_id)
        if sub is not None:
            now = utcnow()
            if error is None:
                sub.times_sent = (sub.times_sent or 0) + 1
                sub.last_success = now
            else:
                sub.last_failure = now
                sub.last_failure_reason = error
    if error is not None:
        raise RuntimeError(f"notification to {endpoint} failed: {error}")
    return {"notified": len(data)}


def _make_job() -> Any:
    from cityai.core.jobs import JobKind

    return JobKind("sensing.notify_subscription", ("NGSI-LD: gửi thông báo", "NGSI-LD: send a notification"),
                   _notify_job, auth=authz.sysadmin, retries=3, retry_delay=10)


NOTIFY_JOB = _make_job()


def expires(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    from cityai.sensing.ingest import parse_time

    return parse_time(value)
