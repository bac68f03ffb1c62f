"""Alert rules over the sensor time series, the alerts they raise, and their notifications.

**Rules** belong to an agency and watch the entities of that agency and of the agencies below it — one entity
(``entity_id``), one type (``entity_type``), or all of them — and one attribute. Four kinds:

- ``threshold`` ``{"op": ">"|">="|"<"|"<=", "value": x, "clear_value"?: y}`` — the newest value crosses
  ``value``. With ``clear_value`` (hysteresis) an open alert clears only once the value is back at or below
  ``clear_value`` (``>``, ``>=``) or at or above it (``<``, ``<=``);
- ``rate`` ``{"max_change": x, "per_s": s}`` — the change between consecutive values, scaled to ``per_s``
  seconds (``|v1 - v0| * per_s / (t1 - t0)``), exceeds ``max_change``;
- ``silence`` ``{"silence_s": s >= 60}`` — a device (or the entity the rule names) has not reported for
  ``silence_s`` seconds (its device's ``last_seen_at`` or, with an attribute, that attribute's newest value);
- ``anomaly`` ``{"z": 4, "days": 14, "window_min": 15, "min_points": 10, "min_delta"?: 0}`` — the newest
  value (at most ``window_min`` old) against a seasonal baseline: the values of the same time of day
  (± ``window_min``) on each of the previous ``days`` days; robust z = ``|x - median| / (1.4826 * MAD)``
  above ``z`` (and ``|x - median| > min_delta``) with at least ``min_points`` baseline values.

Threshold and rate rules run inside ingestion (:func:`on_values`, on the newest new value of each entity and
attribute of a batch; a late value older than one already stored changes nothing); silence and anomaly
rules run about once a minute (:func:`evaluate_periodic`).

**Alerts.** One alert per (rule, entity, attribute) that is not resolved: a repeated trigger updates its
``last_at``, ``count`` and ``value`` (de-duplication; not audited — the alert carries them). Lifecycle:
``open`` → ``acknowledged`` (an editor takes it, with a note) → ``resolved`` (by an editor, or on its own
once the condition has cleared on ``clear_after`` consecutive evaluations, default 1). An alert resolved
less than ``flap_window_s`` (default 900) ago that triggers again is *re-opened* (``flaps`` + 1) rather than
duplicated; at ``flap_limit`` flaps (default 3) it is marked ``flapping`` and notifies no more, which its
message says; once it stays resolved past the window, the next trigger opens a new alert that notifies
again. These three keys may be given in any rule's params.

**Notifications.** When an alert opens, re-opens (not flapping) or is resolved, the rule's ``notify``
``{"webhook": "https://...", "emails": [...]}`` is told: one ``sensing.alert_notify`` job per channel
(the webhook gets ``POST`` JSON ``{"event", "alert", "rule"}``, 10 s timeout, non-2xx is a failure; e-mail
goes through :func:`cityai.core.mail.send_mail`); failures are retried by the queue, the last one audited.

Every change of an alert (open, reopen, flapping, acknowledge, resolve, notify) and of a rule is audited,
automatic ones as ``system``. On PostgreSQL concurrent evaluations of one alert key are serialized with
transaction-level advisory locks, taken before any audit entry is written.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import logging
import math
import operator
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

from sqlalchemy import Integer, delete, exists, func, literal, or_, select, text, union_all

from cityai.core import authz, mail
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import invalid, invalid_state, not_found
from cityai.core.models import Agency
from cityai.core.text import nfc
from cityai.sensing.models import Alert, Device, Entity, Observation, Rule

log = logging.getLogger("cityai.sensing.rules")

RULE = ("quy tắc cảnh báo", "alert rule")
ALERT = ("cảnh báo", "alert")
AGENCY = ("cơ quan", "agency")
KINDS = {
    "threshold": ("Ngưỡng", "Threshold"),
    "rate": ("Tốc độ thay đổi", "Rate of change"),
    "silence": ("Mất tín hiệu", "Silence"),
    "anomaly": ("Bất thường theo mùa vụ", "Seasonal anomaly"),
}
SEVERITIES = {"info": ("Thông tin", "Info"), "warning": ("Cảnh báo", "Warning"),
              "critical": ("Nghiêm trọng", "Critical")}
STATUSES = {"open": ("Đang mở", "Open"), "acknowledged": ("Đã tiếp nhận", "Acknowledged"),
            "resolved": ("Đã xử lý", "Resolved")}
ACTIVE = ("open", "acknowledged")
INGEST_KINDS = ("threshold", "rate")
PERIODIC_KINDS = ("silence", "anomaly")
OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                                   "<=": operator.le}
DEFAULT_CLEAR_AFTER = 1
DEFAULT_FLAP_WINDOW_S = 900
DEFAULT_FLAP_LIMIT = 3
ANOMALY_DEFAULTS = {"z": 4.0, "days": 14, "window_min": 15, "min_points": 10}
COMMON_KEYS = ("clear_after", "flap_window_s", "flap_limit")
KIND_KEYS = {
    "threshold": ("op", "value", "clear_value"),
    "rate": ("max_change", "per_s"),
    "silence": ("silence_s",),
    "anomaly": ("z", "days", "window_min", "min_points", "min_delta"),
}
MAX_EMAILS = 20
MAX_NOTE_CHARS = 2000
WEBHOOK_TIMEOUT_S = 10.0
DAY_MS = 86_400_000
MONTH_S = 31 * 86_400
_CHUNK = 500
_ALERT_LOCK = 7_300_440  # pg advisory lock class: one alert key (rule, entity, attribute)
_RULE_LOCK = 7_300_441  # pg advisory lock class: one periodic rule's evaluation


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _to_ms(t: dt.datetime) -> int:
    return int(round(t.timestamp() * 1000))


def _from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000.0, dt.timezone.utc)


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _g(x: float | None) -> str:
    return "?" if x is None else f"{x:.6g}"


def _chunks(items: list[Any], n: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


# ------------------------------------------------------------------ validation


def _num(params: dict[str, Any], key: str, *, required: bool = False, default: Any = None, lo: float | None = None,
         lo_open: bool = False, hi: float | None = None, integer: bool = False) -> Any:
    field = f"params.{key}"
    if key not in params or params[key] is None:
        if required:
            raise invalid((f"Thiếu params.{key}.", f"params.{key} is required."), field=field)
        return default
    v = params[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise invalid((f"params.{key} phải là một số.", f"params.{key} must be a number."), field=field)
    if integer and not (_int(v) or float(v).is_integer()):
        raise invalid((f"params.{key} phải là số nguyên.", f"params.{key} must be an integer."), field=field)
    if lo is not None and (v <= lo if lo_open else v < lo):
        sign = ">" if lo_open else ">="
        raise invalid((f"params.{key} phải {sign} {lo:g}.", f"params.{key} must be {sign} {lo:g}."), field=field)
    if hi is not None and v > hi:
        raise invalid((f"params.{key} phải <= {hi:g}.", f"params.{key} must be <= {hi:g}."), field=field)
    return int(v) if integer else (int(v) if _int(v) else float(v))


def validate_params(kind: str, params: Any) -> dict[str, Any]:
    """The params of a rule of ``kind``, checked strictly (unknown keys refused) and normalized."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise invalid(("params phải là một đối tượng JSON.", "params must be a JSON object."), field="params")
    allowed = KIND_KEYS[kind] + COMMON_KEYS
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise invalid((f"Quy tắc loại {kind} không có tham số {', '.join(unknown)}.",
                       f"A {kind} rule has no parameter {', '.join(unknown)}."), field="params",
                      allowed=list(allowed))
    out: dict[str, Any] = {}
    if kind == "threshold":
        op = params.get("op")
        if op not in OPS:
            raise invalid(("params.op là một trong >, >=, <, <=.", "params.op is one of >, >=, <, <=."),
                          field="params.op", allowed=list(OPS))
        out["op"] = op
        out["value"] = _num(params, "value", required=True)
        clear = _num(params, "clear_value")
        if clear is not None:
            if op in (">", ">=") and clear > out["value"]:
                raise invalid(("Với > và >=, params.clear_value phải <= params.value.",
                               "With > and >=, params.clear_value must be <= params.value."),
                              field="params.clear_value")
            if op in ("<", "<=") and clear < out["value"]:
                raise invalid(("Với < và <=, params.clear_value phải >= params.value.",
                               "With < and <=, params.clear_value must be >= params.value."),
                              field="params.clear_value")
            out["clear_value"] = clear
    elif kind == "rate":
        out["max_change"] = _num(params, "max_change", required=True, lo=0, lo_open=True)
        out["per_s"] = _num(params, "per_s", required=True, lo=0, lo_open=True, hi=MONTH_S)
    elif kind == "silence":
        out["silence_s"] = _num(params, "silence_s", required=True, lo=60, hi=MONTH_S)
    elif kind == "anomaly":
        out["z"] = _num(params, "z", default=ANOMALY_DEFAULTS["z"], lo=0, lo_open=True, hi=1000)
        out["days"] = _num(params, "days", default=ANOMALY_DEFAULTS["days"], lo=1, hi=60, integer=True)
        out["window_min"] = _num(params, "window_min", default=ANOMALY_DEFAULTS["window_min"], lo=0, lo_open=True,
                                 hi=720)
        out["min_points"] = _num(params, "min_points", default=ANOMALY_DEFAULTS["min_points"], lo=3, hi=100_000,
                                 integer=True)
        min_delta = _num(params, "min_delta", lo=0)
        if min_delta is not None:
            out["min_delta"] = min_delta
    for key, lo, hi in (("clear_after", 1, 1000), ("flap_window_s", 0, MONTH_S), ("flap_limit", 1, 1000)):
        v = _num(params, key, lo=lo, hi=hi, integer=True)
        if v is not None:
            out[key] = v
    return out


def validate_webhook(url: Any) -> str:
    if not isinstance(url, str) or not url.strip() or len(url) > 1000 or any(c.isspace() for c in url.strip()):
        raise invalid(("notify.webhook là một URL http(s) (tối đa 1.000 ký tự).",
                       "notify.webhook is an http(s) URL (up to 1,000 characters)."), field="notify.webhook")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(("notify.webhook phải là URL http:// hoặc https:// có tên máy.",
                       "notify.webhook must be an http:// or https:// URL with a host."), field="notify.webhook")
    return url


def validate_notify(notify: Any) -> dict[str, Any]:
    if notify is None:
        return {}
    if not isinstance(notify, dict):
        raise invalid(("notify là đối tượng {\"webhook\", \"emails\"}.",
                       "notify is an object {\"webhook\", \"emails\"}."), field="notify")
    unknown = sorted(set(notify) - {"webhook", "emails"})
    if unknown:
        raise invalid((f"notify không có khóa {', '.join(unknown)}.", f"notify has no key {', '.join(unknown)}."),
                      field="notify", allowed=["webhook", "emails"])
    out: dict[str, Any] = {}
    if notify.get("webhook") not in (None, ""):
        out["webhook"] = validate_webhook(notify["webhook"])
    emails = notify.get("emails")
    if emails not in (None, []):
        if not isinstance(emails, list) or len(emails) > MAX_EMAILS:
            raise invalid((f"notify.emails là danh sách tối đa {MAX_EMAILS} địa chỉ.",
                           f"notify.emails is a list of at most {MAX_EMAILS} addresses."), field="notify.emails")
        bad = [e for e in emails if not isinstance(e, str) or not mail.valid_address(e.strip())]
        if bad:
            raise invalid(("notify.emails có địa chỉ không hợp lệ.", "notify.emails has invalid addresses."),
                          field="notify.emails", invalid_addresses=[str(b)[:100] for b in bad][:5])
        out["emails"] = list(dict.fromkeys(e.strip() for e in emails))
    return out


def _text_field(value: Any, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise invalid((f"Thiếu {field}.", f"{field} is required."), field=field)
        return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise invalid((f"{field} là chuỗi 1-{limit} ký tự.", f"{field} is a string of 1-{limit} characters."),
                      field=field)
    value = nfc(value)
    assert value is not None
    if "\n" in value or "\t" in value:
        raise invalid((f"{field} chỉ gồm một dòng.", f"{field} is a single line."), field=field)
    return value


def _clean_rule(ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    """All of a rule's fields checked together (create, and update merged with the stored rule)."""
    kind = fields.get("kind")
    if kind not in KINDS:
        raise invalid(("kind là threshold, rate, silence hoặc anomaly.",
                       "kind is threshold, rate, silence or anomaly."), field="kind", allowed=list(KINDS))
    severity = fields.get("severity") or "warning"
    if severity not in SEVERITIES:
        raise invalid(("severity là info, warning hoặc critical.", "severity is info, warning or critical."),
                      field="severity", allowed=list(SEVERITIES))
    out: dict[str, Any] = {
        "name": _text_field(fields.get("name"), "name", 300, required=True),
        "kind": kind,
        "severity": severity,
        "attribute": _text_field(fields.get("attribute"), "attribute", 100),
        "entity_type": _text_field(fields.get("entity_type"), "entity_type", 128),
        "entity_id": _text_field(fields.get("entity_id"), "entity_id", 300),
        "params": validate_params(kind, fields.get("params")),
        "notify": validate_notify(fields.get("notify")),
    }
    for key in ("attribute", "entity_type", "entity_id"):
        if out[key] is not None and any(c.isspace() for c in out[key]):
            raise invalid((f"{key} không chứa khoảng trắng.", f"{key} contains no whitespace."), field=key)
    if kind != "silence" and out["attribute"] is None:
        raise invalid((f"Quy tắc loại {kind} cần attribute (thuộc tính được theo dõi).",
                       f"A {kind} rule needs an attribute (the one it watches)."), field="attribute")
    active = fields.get("active", True)
    if not isinstance(active, bool):
        raise invalid(("active là true hoặc false.", "active is true or false."), field="active")
    out["active"] = active
    if out["entity_id"] is not None:
        ent = ctx.db.get(Entity, out["entity_id"])
        if ent is not None:
            if fields["agency_id"] not in ctx.ancestors(ent.agency_id):
                raise invalid(("Thực thể thuộc một cơ quan không trực thuộc cơ quan của quy tắc.",
                               "The entity belongs to an agency that is not under the rule's agency."),
                              field="entity_id")
            if out["entity_type"] is not None and out["entity_type"] != ent.type:
                raise invalid((f"Thực thể có kiểu {ent.type}, không phải {out['entity_type']}.",
                               f"The entity is of type {ent.type}, not {out['entity_type']}."), field="entity_type")
    return out


# ------------------------------------------------------------------ serializers


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id, "agency_id": rule.agency_id, "name": rule.name, "kind": rule.kind,
        "entity_type": rule.entity_type, "entity_id": rule.entity_id, "attribute": rule.attribute,
        "params": rule.params or {}, "severity": rule.severity, "notify": rule.notify or {},
        "active": rule.active, "created_by": rule.created_by, "created_at": _iso(rule.created_at),
        "updated_at": _iso(rule.updated_at),
    }


def alert_to_dict(alert: Alert, rule: Rule | None = None) -> dict[str, Any]:
    out = {
        "id": alert.id, "rule_id": alert.rule_id, "agency_id": alert.agency_id, "entity_id": alert.entity_id,
        "attribute": alert.attribute or None, "status": alert.status, "severity": alert.severity,
        "message": alert.message, "value": alert.value, "first_at": _iso(alert.first_at),
        "last_at": _iso(alert.last_at), "count": alert.count, "flaps": alert.flaps, "flapping": alert.flapping,
        "acknowledged_by": alert.acknowledged_by, "acknowledged_at": _iso(alert.acknowledged_at),
        "resolved_by": alert.resolved_by, "resolved_at": _iso(alert.resolved_at), "note": alert.note,
        "notified_at": _iso(alert.notified_at),
    }
    if rule is not None:
        out["rule"] = {"id": rule.id, "name": rule.name, "kind": rule.kind}
    return out


def rules_by_id(ctx: Context, ids: Iterable[int]) -> dict[int, Rule]:
    ids = sorted(set(ids))
    out: dict[int, Rule] = {}
    for chunk in _chunks(ids):
        out.update({r.id: r for r in ctx.db.execute(select(Rule).where(Rule.id.in_(chunk))).scalars()})
    return out


# ------------------------------------------------------------------ the alert lifecycle


@dataclass
class Outcome:
    """One evaluation of a rule on one (entity, attribute): trigger, clear, hold (neither: the hysteresis band),
    or gone (the rule no longer watches the entity)."""

    rule: Rule
    entity_id: str
    agency_id: int
    attribute: str
    state: str  # trigger | clear | hold | gone (no longer watched)
    value: float | None = None
    message: str = ""

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.rule.id, self.entity_id, self.attribute)


def _p(rule: Rule, key: str, default: Any) -> Any:
    v = (rule.params or {}).get(key)
    return default if v is None else v


def _flap_note(rule: Rule) -> str:
    window = _p(rule, "flap_window_s", DEFAULT_FLAP_WINDOW_S)
    return (f" — Dao động (bật/tắt liên tục): tạm ngừng thông báo cho đến khi ổn định quá {window} giây"
            f" / Flapping: notifications paused until it stays resolved for {window} s")


def _key_hash(key: tuple[int, str, str]) -> int:
    digest = hashlib.blake2b(f"{key[0]}\x00{key[1]}\x00{key[2]}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_keys(ctx: Context, keys: Iterable[tuple[int, str, str]]) -> None:
    """Serialize the writers of these alert keys (PostgreSQL; SQLite writers are serialized already).

    Locks are taken in one order (sorted) so that two batches never wait on each other in a cycle."""
    if ctx.platform.is_sqlite:
        return
    for h in sorted({_key_hash(k) for k in keys}):
        ctx.db.execute(text("SELECT pg_advisory_xact_lock(:c, :o)"), {"c": _ALERT_LOCK, "o": h})


def _try_lock_rule(ctx: Context, rule_id: int) -> bool:
    if ctx.platform.is_sqlite:
        return True
    return bool(ctx.db.execute(text("SELECT pg_try_advisory_xact_lock(:c, :o)"),
                               {"c": _RULE_LOCK, "o": rule_id}).scalar())


def _load_alerts(ctx: Context, keys: set[tuple[int, str, str]], since: dt.datetime, *,
                 refresh: bool = False) -> dict[tuple[int, str, str], Alert]:
    """Per key: its unresolved alert, else the one resolved most recently at or after ``since``."""
    by_rule: dict[int, set[str]] = collections.defaultdict(set)
    for rule_id, entity_id, _attr in keys:
        by_rule[rule_id].add(entity_id)
    found: dict[tuple[int, str, str], Alert] = {}
    for rule_id, entity_ids in by_rule.items():
        for chunk in _chunks(sorted(entity_ids)):
            q = select(Alert).where(Alert.rule_id == rule_id, Alert.entity_id.in_(chunk),
                                    or_(Alert.status != "resolved", Alert.resolved_at >= since))
            if refresh:
                q = q.execution_options(populate_existing=True)
            for a in ctx.db.execute(q).scalars():
                key = (a.rule_id, a.entity_id, a.attribute or "")
                if key not in keys:
                    continue
                cur = found.get(key)
                if cur is None or _rank(a) > _rank(cur):
                    found[key] = a
    return found


def _rank(a: Alert) -> tuple:
    active = a.status != "resolved"
    when = a.resolved_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return (active, -a.id if active else 0, when, a.id)  # the oldest unresolved; else the latest resolved


def _settle(ctx: Context, outcomes: list[Outcome], now: dt.datetime, stats: collections.Counter) -> None:
    """Apply evaluations to the alerts: open, update, re-open, auto-resolve."""
    if not outcomes:
        return
    keys = {o.key for o in outcomes}
    window = max(_p(o.rule, "flap_window_s", DEFAULT_FLAP_WINDOW_S) for o in outcomes)
    since = now - dt.timedelta(seconds=window)
    alerts = _load_alerts(ctx, keys, since)
    if not ctx.platform.is_sqlite:
        need = {o.key for o in outcomes
                if o.state == "trigger" or (o.key in alerts and alerts[o.key].status != "resolved")}
        if need:
            _lock_keys(ctx, need)
            fresh = _load_alerts(ctx, need, since, refresh=True)
            for k in need:
                if k in fresh:
                    alerts[k] = fresh[k]
                else:
                    alerts.pop(k, None)
    for o in outcomes:
        alerts[o.key] = _apply(ctx, o, alerts.get(o.key), now, stats)


def _apply(ctx: Context, o: Outcome, alert: Alert | None, now: dt.datetime,
           stats: collections.Counter) -> Alert | None:
    rule = o.rule
    active = alert is not None and alert.status != "resolved"
    if o.state == "hold":
        if active and alert.clear_streak:
            alert.clear_streak = 0
        return alert
    if o.state == "gone":  # the rule no longer watches this entity
        if active:
            _resolve(ctx, rule, alert, now, user_id=None, note=None, reason="not-watched")
            stats["resolved"] += 1
        return alert
    if o.state == "clear":
        if not active:
            return alert
        alert.clear_streak = (alert.clear_streak or 0) + 1
        if alert.clear_streak >= _p(rule, "clear_after", DEFAULT_CLEAR_AFTER):
            _resolve(ctx, rule, alert, now, user_id=None, note=None, reason="cleared", detail=o.message)
            stats["resolved"] += 1
        return alert

    # trigger
    if active:
        alert.count = (alert.count or 0) + 1
        alert.last_at, alert.value, alert.clear_streak, alert.severity = now, o.value, 0, rule.severity
        alert.message = o.message + (_flap_note(rule) if alert.flapping else "")
        stats["repeated"] += 1
        return alert
    window = _p(rule, "flap_window_s", DEFAULT_FLAP_WINDOW_S)
    if (alert is not None and window > 0 and alert.resolved_at is not None
            and alert.resolved_at >= now - dt.timedelta(seconds=window)):
        alert.status = "open"
        alert.flaps = (alert.flaps or 0) + 1
        alert.count = (alert.count or 0) + 1
        alert.last_at, alert.value, alert.clear_streak, alert.severity = now, o.value, 0, rule.severity
        alert.resolved_at = alert.resolved_by = alert.acknowledged_at = alert.acknowledged_by = None
        became = not alert.flapping and alert.flaps >= _p(rule, "flap_limit", DEFAULT_FLAP_LIMIT)
        if became:
            alert.flapping = True
        alert.message = o.message + (_flap_note(rule) if alert.flapping else "")
        ctx.audit("sensing.alert.reopen", "sensing_alert", alert.id, rule_id=rule.id, entity_id=o.entity_id,
                  attribute=o.attribute or None, value=o.value, flaps=alert.flaps, flapping=alert.flapping)
        stats["reopened"] += 1
        if became:
            ctx.audit("sensing.alert.flapping", "sensing_alert", alert.id, rule_id=rule.id, flaps=alert.flaps,
                      flap_window_s=window)
            stats["flapping"] += 1
        _notify(ctx, rule, alert, "reopen")
        return alert
    alert = Alert(rule_id=rule.id, agency_id=o.agency_id, entity_id=o.entity_id, attribute=o.attribute,
                  status="open", severity=rule.severity, message=o.message, value=o.value, first_at=now,
                  last_at=now, count=1, flaps=0, flapping=False, clear_streak=0)
    ctx.db.add(alert)
    ctx.db.flush()
    ctx.audit("sensing.alert.open", "sensing_alert", alert.id, rule_id=rule.id, entity_id=o.entity_id,
              attribute=o.attribute or None, severity=rule.severity, value=o.value)
    stats["opened"] += 1
    _notify(ctx, rule, alert, "open")
    return alert


def _resolve(ctx: Context, rule: Rule | None, alert: Alert, now: dt.datetime, *, user_id: int | None,
             note: str | None, reason: str, detail: str | None = None) -> None:
    alert.status = "resolved"
    alert.resolved_at, alert.resolved_by, alert.clear_streak = now, user_id, 0
    if note is not None:
        alert.note = note
    ctx.audit("sensing.alert.resolve", "sensing_alert", alert.id, rule_id=alert.rule_id, entity_id=alert.entity_id,
              attribute=alert.attribute or None, reason=reason, automatic=user_id is None and reason != "manual",
              **({"detail": detail[:500]} if detail else {}), **({"note": note[:500]} if note else {}))
    if rule is not None:
        _notify(ctx, rule, alert, "resolve")


# ------------------------------------------------------------------ threshold and rate: on ingestion


def _applies(ctx: Context, rule: Rule, entity_id: str, entity_type: str, agency_id: int) -> bool:
    if rule.entity_id is not None and rule.entity_id != entity_id:
        return False
    if rule.entity_type is not None and rule.entity_type != entity_type:
        return False
    return rule.agency_id in ctx.ancestors(agency_id)


def _threshold(rule: Rule, entity_id: str, agency_id: int, attr: str, t_ms: int, v: float) -> Outcome:
    p = rule.params
    op, limit = p["op"], p["value"]
    when = _iso(_from_ms(t_ms))
    if OPS[op](v, limit):
        msg = (f"{rule.name}: {attr} = {_g(v)} {op} {_g(limit)} (ngưỡng / threshold) — {entity_id}, {when}")
        return Outcome(rule, entity_id, agency_id, attr, "trigger", v, msg)
    clear = p.get("clear_value")
    if clear is None:
        cleared = True
    else:
        cleared = v <= clear if op in (">", ">=") else v >= clear
    return Outcome(rule, entity_id, agency_id, attr, "clear" if cleared else "hold", v,
                   f"{attr} = {_g(v)} ({when})")


def _previous(ctx: Context, entity_id: str, attr: str, t_ms: int) -> tuple[int, float] | None:
    row = ctx.db.execute(select(Observation.t_ms, Observation.value).where(
        Observation.entity_id == entity_id, Observation.attribute == attr, Observation.t_ms < t_ms)
        .order_by(Observation.t_ms.desc()).limit(1)).first()
    return (int(row[0]), float(row[1])) if row else None


def _rate(rule: Rule, entity_id: str, agency_id: int, attr: str, t_ms: int, v: float,
          prev: tuple[int, float] | None) -> Outcome | None:
    if prev is None:
        return None  # a first value has nothing to change from
    t0, v0 = prev
    dt_s = (t_ms - t0) / 1000.0
    if dt_s <= 0:
        return None
    per_s, max_change = rule.params["per_s"], rule.params["max_change"]
    rate = abs(v - v0) * per_s / dt_s
    when = _iso(_from_ms(t_ms))
    if rate > max_change:
        msg = (f"{rule.name}: {attr} {_g(v0)} → {_g(v)} trong {dt_s:g} giây ({_g(rate)} mỗi {per_s:g} giây > "
               f"{_g(max_change)}) / changed by {_g(v - v0)} in {dt_s:g} s ({_g(rate)} per {per_s:g} s > "
               f"{_g(max_change)}) — {entity_id}, {when}")
        return Outcome(rule, entity_id, agency_id, attr, "trigger", rate, msg)
    return Outcome(rule, entity_id, agency_id, attr, "clear", rate, f"{attr}: {_g(rate)} / {per_s:g} s ({when})")


def on_values(ctx: Context, values: list[tuple[str, str, int, float]], *,
              now: dt.datetime | None = None) -> dict[str, int]:
    """Evaluate the threshold and rate-of-change rules on a batch of new values (entity, attribute, t_ms, value).

    Called by ingestion inside its write transaction, after the values were inserted. Per (entity, attribute)
    only the batch's newest value counts, and only when no newer value is stored already (a late value changes
    no state). Returns counts (opened, repeated, reopened, flapping, resolved, late, evaluated).

    It never makes ingestion fail: it works in a savepoint, and an error (a bug, a rule deleted at that very
    moment) is logged and rolls back only the alert changes — the values stay stored.
    """
    if not values:
        return {}
    try:
        with _savepoint(ctx):
            return _on_values(ctx, values, now or utcnow())
    except Exception:  # noqa: BLE001 - the batch's values must be stored whatever happens to its alerts
        log.exception("alert rules failed on an ingested batch; its values are stored, its alerts skipped")
        return {"errors": 1}


@contextlib.contextmanager
def _savepoint(ctx: Context) -> Iterator[None]:
    """A savepoint whose rollback also forgets the after-commit work (job enqueues) and the audit events queued
    inside it, and keeps those queued before it (the platform's after_rollback listener drops them all, since
    SQLAlchemy fires after_rollback for a savepoint too)."""
    info = ctx.db.info
    saved = {key: list(info.get(key, ())) for key in ("cityai_after_commit", "cityai_audit_new")}
    try:
        with ctx.db.begin_nested():
            yield
    except BaseException:
        for key, items in saved.items():
            if items:
                info[key] = items
            else:
                info.pop(key, None)
        raise


def _on_values(ctx: Context, values: list[tuple[str, str, int, float]], now: dt.datetime) -> dict[str, int]:
    stats: collections.Counter = collections.Counter()
    rules = list(ctx.db.execute(select(Rule).where(Rule.active.is_(True), Rule.kind.in_(INGEST_KINDS))
                                .order_by(Rule.id)).scalars())
    by_attr: dict[str, list[Rule]] = collections.defaultdict(list)
    for r in rules:
        if r.attribute:
            by_attr[r.attribute].append(r)
    if not by_attr:
        return {}
    latest: dict[tuple[str, str], tuple[int, float]] = {}
    for e, a, t, v in values:
        if a not in by_attr or v is None or not math.isfinite(v):
            continue
        cur = latest.get((e, a))
        if cur is None or t > cur[0]:
            latest[(e, a)] = (int(t), float(v))
    if not latest:
        return {}
    entity_ids = sorted({e for e, _ in latest})
    entities: dict[str, tuple[str, int]] = {}
    for chunk in _chunks(entity_ids):
        entities.update({i: (t, ag) for i, t, ag in ctx.db.execute(
            select(Entity.id, Entity.type, Entity.agency_id).where(Entity.id.in_(chunk)))})

    # The pairs some rule watches, then the late ones among them: a newer value of the pair is stored already
    # (it was evaluated when it came). One query per 200 pairs, each pair one index probe (EXISTS).
    watched: dict[tuple[str, str], list[Rule]] = {}
    for (e, a) in sorted(latest):
        ent = entities.get(e)
        applicable = [r for r in by_attr[a] if ent is not None and _applies(ctx, r, e, ent[0], ent[1])]
        if applicable:
            watched[(e, a)] = applicable
    newer: set[tuple[str, str]] = set()
    for chunk in _chunks(list(watched), 200):
        probes = [select(literal(i, Integer)).where(exists().where(
            Observation.entity_id == e, Observation.attribute == a, Observation.t_ms > latest[(e, a)][0]))
            for i, (e, a) in enumerate(chunk)]
        newer.update(chunk[i] for i in ctx.db.execute(union_all(*probes)).scalars())

    outcomes: list[Outcome] = []
    for (e, a), applicable in watched.items():
        if (e, a) in newer:
            stats["late"] += 1
            continue
        (t, v), agency_id = latest[(e, a)], entities[e][1]
        prev: tuple[int, float] | None | bool = False  # False: not looked up yet
        for rule in applicable:
            stats["evaluated"] += 1
            if rule.kind == "threshold":
                outcomes.append(_threshold(rule, e, agency_id, a, t, v))
                continue
            if prev is False:
                prev = _previous(ctx, e, a, t)
            o = _rate(rule, e, agency_id, a, t, v, prev)  # type: ignore[arg-type]
            if o is not None:
                outcomes.append(o)
    _settle(ctx, outcomes, now, stats)
    return dict(stats)


# ------------------------------------------------------------------ silence and anomaly: periodic


def _scope(ctx: Context, rule: Rule) -> list[Any]:
    """(id, type, agency_id, created_at) of the entities a rule watches."""
    q = select(Entity.id, Entity.type, Entity.agency_id, Entity.created_at).where(
        Entity.agency_id.in_(ctx.descendants([rule.agency_id])))
    if rule.entity_id is not None:
        q = q.where(Entity.id == rule.entity_id)
    if rule.entity_type is not None:
        q = q.where(Entity.type == rule.entity_type)
    return list(ctx.db.execute(q.order_by(Entity.id)).all())


def _unwatched(ctx: Context, rule: Rule, watched: set[str]) -> list[Outcome]:
    """The rule's unresolved alerts on entities it no longer watches (deleted, device deactivated, moved)."""
    rows = ctx.db.execute(select(Alert.entity_id, Alert.agency_id, Alert.attribute).where(
        Alert.rule_id == rule.id, Alert.status.in_(ACTIVE))).all()
    return [Outcome(rule, e, ag, attr or "", "gone", None, "") for e, ag, attr in rows if e not in watched]


def _silence(ctx: Context, rule: Rule, now: dt.datetime, stats: collections.Counter) -> None:
    silence_s = rule.params["silence_s"]
    cutoff = now - dt.timedelta(seconds=silence_s)
    cutoff_ms = _to_ms(cutoff)
    attr = rule.attribute or ""
    ents = _scope(ctx, rule)
    ids = [e.id for e in ents]
    devices: dict[str, tuple[dt.datetime | None, dt.datetime | None]] = {}
    for chunk in _chunks(ids):
        for eid, seen, created in ctx.db.execute(select(Device.entity_id, Device.last_seen_at, Device.created_at)
                                                 .where(Device.entity_id.in_(chunk), Device.active.is_(True))):
            devices[eid] = (seen, created)
    watched = [e for e in ents if e.id in devices or e.id == rule.entity_id]
    recent: dict[str, int] = {}
    for chunk in _chunks([e.id for e in watched]):
        q = select(Observation.entity_id, func.max(Observation.t_ms)).where(
            Observation.entity_id.in_(chunk), Observation.t_ms >= cutoff_ms)
        if attr:
            q = q.where(Observation.attribute == attr)
        recent.update({e: int(t) for e, t in ctx.db.execute(q.group_by(Observation.entity_id))})
    outcomes: list[Outcome] = []
    for e in watched:
        seen_at, created = devices.get(e.id, (None, None))
        times = [t for t in ((None if attr else seen_at), _from_ms(recent[e.id]) if e.id in recent else None)
                 if t is not None]
        last = max(times) if times else None
        if last is not None and last >= cutoff:
            outcomes.append(Outcome(rule, e.id, e.agency_id, attr, "clear", None,
                                    f"báo cáo lại lúc / reported again at {_iso(last)}"))
            continue
        known = seen_at if not attr else None
        since = known or created or e.created_at
        if since is not None and since > cutoff:
            continue  # registered less than silence_s ago, never reported: too early to say
        what = f"{attr} " if attr else ""
        ago = (now - known).total_seconds() if known else None
        last_txt = _iso(known) if known else "không rõ / unknown"
        msg = (f"{rule.name}: {e.id} không gửi {what}dữ liệu quá {silence_s:g} giây / has sent no {what}data for "
               f"over {silence_s:g} s (lần cuối / last seen: {last_txt})")
        outcomes.append(Outcome(rule, e.id, e.agency_id, attr, "trigger", ago, msg))
    _settle(ctx, outcomes + _unwatched(ctx, rule, {e.id for e in watched}), now, stats)


def robust_z(x: float, baseline: list[float]) -> tuple[float, float, float]:
    """(score, median, scale): |x - median| / (1.4826 MAD); a flat baseline (MAD 0) falls back to the mean
    absolute deviation, and a constant one scores any other value as infinitely far."""
    med = statistics.median(baseline)
    deviations = [abs(b - med) for b in baseline]
    scale = 1.4826 * statistics.median(deviations)
    if scale == 0:
        scale = 1.2533 * statistics.fmean(deviations)
    dev = abs(x - med)
    if scale == 0:
        return (math.inf if dev > 0 else 0.0), med, 0.0
    return dev / scale, med, scale


def _anomaly(ctx: Context, rule: Rule, now: dt.datetime, stats: collections.Counter) -> None:
    p = rule.params
    attr = rule.attribute or ""
    z, days, min_points = float(p["z"]), int(p["days"]), int(p["min_points"])
    window_ms = int(float(p["window_min"]) * 60_000)
    min_delta = float(p.get("min_delta") or 0.0)
    now_ms = _to_ms(now)
    ents = _scope(ctx, rule)
    agencies = {e.id: e.agency_id for e in ents}
    newest: dict[str, tuple[int, float]] = {}
    for chunk in _chunks(list(agencies)):
        for eid, t, v in ctx.db.execute(select(Observation.entity_id, Observation.t_ms, Observation.value).where(
                Observation.entity_id.in_(chunk), Observation.attribute == attr,
                Observation.t_ms >= now_ms - window_ms)):
            if eid not in newest or t > newest[eid][0]:
                newest[eid] = (int(t), float(v))
    outcomes: list[Outcome] = []
    for eid, (t, x) in sorted(newest.items()):
        ranges = [Observation.t_ms.between(t - d * DAY_MS - window_ms, t - d * DAY_MS + window_ms)
                  for d in range(1, days + 1)]
        baseline = [float(v) for v in ctx.db.execute(select(Observation.value).where(
            Observation.entity_id == eid, Observation.attribute == attr, or_(*ranges))).scalars()]
        if len(baseline) < min_points:
            stats["insufficient_baseline"] += 1
            continue
        stats["evaluated"] += 1
        score, med, _scale = robust_z(x, baseline)
        when = _iso(_from_ms(t))
        if score > z and abs(x - med) > min_delta:
            shown = "∞" if math.isinf(score) else f"{score:.1f}"
            msg = (f"{rule.name}: {attr} = {_g(x)} bất thường so với cùng khung giờ {days} ngày trước (trung vị "
                   f"{_g(med)}, z = {shown} > {z:g}) / anomalous against the same time of day over the previous "
                   f"{days} days (median {_g(med)}, robust z = {shown} > {z:g}) — {eid}, {when}")
            outcomes.append(Outcome(rule, eid, agencies[eid], attr, "trigger", x, msg))
        else:
            outcomes.append(Outcome(rule, eid, agencies[eid], attr, "clear", x, f"{attr} = {_g(x)} ({when})"))
    _settle(ctx, outcomes + _unwatched(ctx, rule, set(agencies)), now, stats)


def evaluate_periodic(platform: Any, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Evaluate the active silence and anomaly rules (about once a minute, from ``cityai_periodic``).

    Each rule runs in a transaction of its own (one failing is logged and counted, the others go on); on
    PostgreSQL a rule another worker is evaluating at the same moment is skipped. Returns counts.
    """
    now = now or utcnow()
    stats: collections.Counter = collections.Counter()
    with platform.transaction() as db:
        rule_ids = list(db.execute(select(Rule.id).where(Rule.active.is_(True), Rule.kind.in_(PERIODIC_KINDS))
                                   .order_by(Rule.id)).scalars())
    for rule_id in rule_ids:
        try:
            with platform.system_context() as ctx:
                rule = ctx.db.get(Rule, rule_id)
                if rule is None or not rule.active or rule.kind not in PERIODIC_KINDS:
                    continue
                if not _try_lock_rule(ctx, rule_id):
                    stats["busy"] += 1
                    continue
                (_silence if rule.kind == "silence" else _anomaly)(ctx, rule, now, stats)
                stats["rules"] += 1
        except Exception:  # noqa: BLE001 - one broken rule must not stop the others; the next minute retries
            log.exception("alert rule evaluation failed", extra={"rule_id": rule_id})
            stats["errors"] += 1
    return dict(stats)


# ------------------------------------------------------------------ notifications


def _notify(ctx: Context, rule: Rule, alert: Alert, event: str) -> None:
    """Queue the rule's webhook and e-mail notifications of an alert event (none while it is flapping)."""
    if alert.flapping:
        return
    notify = rule.notify or {}
    webhook, emails = notify.get("webhook"), notify.get("emails") or []
    if not webhook and not emails:
        return
    if NOTIFY_JOB.name not in ctx.platform.job_kinds:
        log.warning("alert notification not sent: job kind %s is not registered (cityai_job_kinds)",
                    NOTIFY_JOB.name, extra={"alert_id": alert.id})
        return
    from cityai.core import jobs

    ctx.db.flush()
    payload = {"event": event, "alert": alert_to_dict(alert), "rule": {
        "id": rule.id, "name": rule.name, "kind": rule.kind, "agency_id": rule.agency_id}}
    title = f"Thông báo cảnh báo #{alert.id} ({event}) / Alert notification"
    if webhook:
        jobs.submit.unchecked(ctx, kind=NOTIFY_JOB.name, agency_id=alert.agency_id, title=title, params={
            "channel": "webhook", "alert_id": alert.id, "event": event, "url": webhook, "payload": payload})
    if emails:
        subject, body = mail_text(ctx.platform.settings, rule, alert, event)
        jobs.submit.unchecked(ctx, kind=NOTIFY_JOB.name, agency_id=alert.agency_id, title=title, params={
            "channel": "email", "alert_id": alert.id, "event": event, "to": list(emails), "subject": subject,
            "body": body})


def mail_text(settings: Any, rule: Rule, alert: Alert, event: str) -> tuple[str, str]:
    sev = SEVERITIES.get(alert.severity, (alert.severity, alert.severity))
    head = {"open": ("Cảnh báo mới", "New alert"), "reopen": ("Cảnh báo mở lại", "Alert re-opened"),
            "resolve": ("Đã xử lý", "Resolved")}.get(event, (event, event))
    subject = f"[CityAI] {head[0]} / {head[1]} ({sev[0]} / {sev[1]}): {rule.name} — {alert.entity_id}"
    subject = " ".join(subject.split())[:250]
    url = f"{str(getattr(settings, 'base_url', '')).rstrip('/')}/api/v1/sensing/alerts/{alert.id}"
    lines = [
        f"{head[0]} / {head[1]}",
        "",
        alert.message,
        "",
        f"Quy tắc / Rule: {rule.name} (#{rule.id}, {rule.kind})",
        f"Thực thể / Entity: {alert.entity_id}",
        f"Thuộc tính / Attribute: {alert.attribute or '-'}",
        f"Giá trị / Value: {_g(alert.value)}",
        f"Trạng thái / Status: {alert.status}",
        f"Mức độ / Severity: {sev[0]} / {sev[1]}",
        f"Lần đầu / First: {_iso(alert.first_at)}   Lần cuối / Last: {_iso(alert.last_at)}   "
        f"Số lần / Count: {alert.count}",
    ]
    if alert.resolved_at is not None:
        lines.append(f"Đã xử lý lúc / Resolved at: {_iso(alert.resolved_at)}")
    if alert.note:
        lines.append(f"Ghi chú / Note: {alert.note}")
    lines += ["", url]
    return subject, "\n".join(lines) + "\n"


def post_webhook(url: str, payload: dict[str, Any], *, timeout: float = WEBHOOK_TIMEOUT_S) -> int:
    """POST ``payload`` as JSON; the HTTP status, or RuntimeError for a non-2xx answer or no answer."""
    import httpx

    validate_webhook(url)
    headers = {"Content-Type": "application/json", "User-Agent": "CityAI-sensing-alerts/1",
               "X-CityAI-Event": str(payload.get("event", ""))}
    try:
        r = httpx.post(url, json=payload, timeout=timeout, headers=headers, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"webhook {url} unreachable: {type(exc).__name__}: {exc}"[:500]) from None
    if not 200 <= r.status_code < 300:
        raise RuntimeError(f"webhook {url} answered HTTP {r.status_code}")
    return r.status_code


def _last_attempt(run: Any) -> bool:
    from cityai.core.models import Job

    with run.platform.transaction() as db:
        max_retries = db.execute(select(Job.max_retries).where(Job.id == run.job_id)).scalar()
    return max_retries is None or run.attempt > max_retries


def _record(run: Any, alert_id: Any, channel: str, event: str, *, ok: bool, **detail: Any) -> None:
    with run.platform.system_context() as ctx:
        alert = ctx.db.get(Alert, alert_id) if _int(alert_id) else None
        if alert is not None and ok:
            alert.notified_at = utcnow()
        ctx.audit("sensing.alert.notify", "sensing_alert", alert_id, outcome="success" if ok else "failure",
                  channel=channel, event=event, job_id=run.job_id, attempt=run.attempt, **detail)


def _notify_job(run: Any) -> dict[str, Any]:
    p = run.params
    channel, alert_id, event = p.get("channel"), p.get("alert_id"), p.get("event", "")
    settings = run.platform.settings
    if channel == "email" and not mail.mail_enabled(settings):
        _record(run, alert_id, "email", event, ok=False, error="CITYAI_SMTP_URL is not set: e-mail is disabled")
        return {"sent": False, "channel": "email", "reason": "CITYAI_SMTP_URL is not set"}
    if channel not in ("webhook", "email"):
        return {"sent": False, "reason": f"unknown channel {channel!r}"}
    try:
        if channel == "webhook":
            status = post_webhook(p["url"], p["payload"])
            detail: dict[str, Any] = {"url": p["url"], "status": status}
        else:
            mail.send_mail(settings, p["to"], p["subject"], p["body"])
            detail = {"recipients": len(p["to"])}
    except Exception as exc:
        if _last_attempt(run):
            where = {"url": p.get("url")} if channel == "webhook" else {"recipients": len(p.get("to") or [])}
            _record(run, alert_id, channel, event, ok=False, error=f"{type(exc).__name__}: {exc}"[:500], **where)
        raise
    _record(run, alert_id, channel, event, ok=True, **detail)
    return {"sent": True, "channel": channel, **detail}


def _make_notify_job() -> Any:
    from cityai.core.jobs import JobKind

    return JobKind("sensing.alert_notify", ("Cảm biến: gửi thông báo cảnh báo", "Sensing: send an alert notification"),
                   _notify_job, auth=authz.sysadmin, retries=3, retry_delay=30)


NOTIFY_JOB = _make_notify_job()


# ------------------------------------------------------------------ actions: rules

_auth_rule_member = authz.owner_role(Rule, "rule_id", "member", "sensing_rule")
_auth_rule_editor = authz.owner_role(Rule, "rule_id", "editor", "sensing_rule")
_auth_alert_member = authz.owner_role(Alert, "alert_id", "member", "sensing_alert")
_auth_alert_editor = authz.owner_role(Alert, "alert_id", "editor", "sensing_alert")
RULE_FIELDS = ("name", "kind", "params", "attribute", "entity_type", "entity_id", "severity", "notify", "active")
_DEFINITION = ("kind", "params", "attribute", "entity_type", "entity_id")


def _get_rule(ctx: Context, rule_id: Any) -> Rule:
    rule = ctx.db.get(Rule, rule_id) if _int(rule_id) else None
    if rule is None:
        raise not_found(RULE, rule_id)
    return rule


@authz.action("sensing.rule.create", scope="write", auth=authz.agency_role("editor"))
def rule_create(ctx: Context, *, agency_id: int, name: str, kind: str, params: dict[str, Any] | None = None,
                attribute: str | None = None, entity_type: str | None = None, entity_id: str | None = None,
                severity: str = "warning", notify: dict[str, Any] | None = None, active: bool = True) -> Rule:
    """Create an alert rule of an agency (threshold, rate, silence or anomaly) over its entities."""
    if not _int(agency_id) or ctx.db.get(Agency, agency_id) is None:
        raise not_found(AGENCY, agency_id)
    clean = _clean_rule(ctx, {"agency_id": agency_id, "name": name, "kind": kind, "params": params,
                              "attribute": attribute, "entity_type": entity_type, "entity_id": entity_id,
                              "severity": severity, "notify": notify, "active": active})
    now = utcnow()
    rule = Rule(agency_id=agency_id, created_by=ctx.actor.user_id, created_at=now, updated_at=now, **clean)
    ctx.db.add(rule)
    ctx.db.flush()
    ctx.audit("sensing.rule.create", "sensing_rule", rule.id, agency_id=agency_id, name=rule.name, kind=kind,
              attribute=rule.attribute, entity_type=rule.entity_type, entity_id=rule.entity_id, params=rule.params,
              severity=rule.severity, notify=rule.notify, active=rule.active)
    return rule


@authz.action("sensing.rule.list", scope="read", auth=authz.authenticated)
def rule_list(ctx: Context, *, agency_id: int | None = None, kind: str | None = None, active: bool | None = None,
              limit: int = 50, offset: int = 0) -> tuple[list[Rule], int]:
    """Alert rules of the agencies you belong to (and those below them); a system administrator sees all."""
    q = select(Rule)
    if not ctx.actor.is_sysadmin:
        q = q.where(Rule.agency_id.in_(ctx.descendants(list(ctx.actor.roles)) or [-1]))
    if agency_id is not None:
        q = q.where(Rule.agency_id == agency_id)
    if kind is not None:
        if kind not in KINDS:
            raise invalid(("kind không hợp lệ.", "unknown kind."), field="kind", allowed=list(KINDS))
        q = q.where(Rule.kind == kind)
    if active is not None:
        q = q.where(Rule.active.is_(bool(active)))
    total = ctx.db.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = ctx.db.execute(q.order_by(Rule.agency_id, Rule.name, Rule.id).limit(limit).offset(offset)).scalars()
    return list(rows), total


@authz.action("sensing.rule.show", scope="read", auth=_auth_rule_member)
def rule_show(ctx: Context, *, rule_id: int) -> Rule:
    """One alert rule."""
    return _get_rule(ctx, rule_id)


@authz.action("sensing.rule.update", scope="write", auth=_auth_rule_editor)
def rule_update(ctx: Context, *, rule_id: int, **changes: Any) -> Rule:
    """Change an alert rule. Changing what it watches (kind, params, attribute, entity) or deactivating it
    resolves its unresolved alerts; the new definition opens them again if its condition holds."""
    unknown = sorted(set(changes) - set(RULE_FIELDS))
    if unknown:
        raise invalid((f"Không thể đổi {', '.join(unknown)}.", f"Cannot change {', '.join(unknown)}."),
                      field=unknown[0], allowed=list(RULE_FIELDS))
    rule = _get_rule(ctx, rule_id)
    current = {k: getattr(rule, k) for k in RULE_FIELDS}
    merged = {**current, **changes, "agency_id": rule.agency_id}
    if "kind" in changes and changes["kind"] != rule.kind and "params" not in changes:
        raise invalid(("Khi đổi kind, hãy gửi params của loại mới.", "When changing kind, send the new kind's params."),
                      field="params")
    clean = _clean_rule(ctx, merged)
    changed = {k: v for k, v in clean.items() if v != current[k]}
    if not changed:
        return rule
    for k, v in changed.items():
        setattr(rule, k, v)
    rule.updated_at = now = utcnow()
    reason = "rule-deactivated" if changed.get("active") is False else (
        "rule-changed" if any(k in changed for k in _DEFINITION) else None)
    rows: list[Alert] = []
    if reason:  # locks before the first audit entry (see _lock_keys)
        rows = list(ctx.db.execute(select(Alert).where(Alert.rule_id == rule.id, Alert.status.in_(ACTIVE))).scalars())
        _lock_keys(ctx, [(a.rule_id, a.entity_id, a.attribute or "") for a in rows])
    ctx.audit("sensing.rule.update", "sensing_rule", rule.id, agency_id=rule.agency_id, changes=changed)
    for a in rows:
        ctx.db.refresh(a)
        if a.status in ACTIVE:
            _resolve(ctx, rule, a, now, user_id=ctx.actor.user_id, note=None, reason=reason or "")
    return rule


@authz.action("sensing.rule.delete", scope="write", auth=_auth_rule_editor)
def rule_delete(ctx: Context, *, rule_id: int) -> None:
    """Delete an alert rule and its alerts (the audit trail keeps their history)."""
    rule = _get_rule(ctx, rule_id)
    n = ctx.db.execute(select(func.count()).select_from(Alert).where(Alert.rule_id == rule.id)).scalar_one()
    unresolved = ctx.db.execute(select(func.count()).select_from(Alert).where(
        Alert.rule_id == rule.id, Alert.status.in_(ACTIVE))).scalar_one()
    ctx.db.execute(delete(Alert).where(Alert.rule_id == rule.id))
    ctx.audit("sensing.rule.delete", "sensing_rule", rule.id, agency_id=rule.agency_id, name=rule.name,
              kind=rule.kind, alerts_deleted=n, unresolved_deleted=unresolved)
    ctx.db.delete(rule)


# ------------------------------------------------------------------ actions: alerts


def _get_alert(ctx: Context, alert_id: Any, *, lock: bool = False) -> Alert:
    alert = ctx.db.get(Alert, alert_id) if _int(alert_id) else None
    if alert is None:
        raise not_found(ALERT, alert_id)
    if lock:
        _lock_keys(ctx, [(alert.rule_id, alert.entity_id, alert.attribute or "")])
        ctx.db.refresh(alert, with_for_update=not ctx.platform.is_sqlite)
    return alert


def _clean_note(note: Any) -> str | None:
    if note is None or (isinstance(note, str) and not note.strip()):
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise invalid((f"note là văn bản tối đa {MAX_NOTE_CHARS} ký tự.",
                       f"note is text of at most {MAX_NOTE_CHARS} characters."), field="note")
    return nfc(note)


@authz.action("sensing.alert.list", scope="read", auth=authz.authenticated)
def alert_list(ctx: Context, *, status: str | None = None, agency_id: int | None = None, entity_id: str | None = None,
               rule_id: int | None = None, severity: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[Alert], int]:
    """Alerts of the agencies you belong to and those below them, newest activity first; ``status`` may be
    ``open``, ``acknowledged``, ``resolved`` or ``active`` (open or acknowledged)."""
    q = select(Alert)
    if not ctx.actor.is_sysadmin:
        q = q.where(Alert.agency_id.in_(ctx.descendants(list(ctx.actor.roles)) or [-1]))
    if status is not None:
        if status == "active":
            q = q.where(Alert.status.in_(ACTIVE))
        elif status in STATUSES:
            q = q.where(Alert.status == status)
        else:
            raise invalid(("status là open, acknowledged, resolved hoặc active.",
                           "status is open, acknowledged, resolved or active."), field="status",
                          allowed=[*STATUSES, "active"])
    if severity is not None:
        if severity not in SEVERITIES:
            raise invalid(("severity là info, warning hoặc critical.", "severity is info, warning or critical."),
                          field="severity", allowed=list(SEVERITIES))
        q = q.where(Alert.severity == severity)
    if agency_id is not None:
        q = q.where(Alert.agency_id == agency_id)
    if entity_id is not None:
        q = q.where(Alert.entity_id == entity_id)
    if rule_id is not None:
        q = q.where(Alert.rule_id == rule_id)
    total = ctx.db.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = ctx.db.execute(q.order_by(Alert.last_at.desc(), Alert.id.desc()).limit(limit).offset(offset)).scalars()
    return list(rows), total


@authz.action("sensing.alert.show", scope="read", auth=_auth_alert_member)
def alert_show(ctx: Context, *, alert_id: int) -> Alert:
    """One alert with its history counters (count, flaps) and who acknowledged or resolved it."""
    return _get_alert(ctx, alert_id)


@authz.action("sensing.alert.acknowledge", scope="write", auth=_auth_alert_editor)
def alert_acknowledge(ctx: Context, *, alert_id: int, note: str | None = None) -> Alert:
    """Acknowledge an open alert (someone is on it), with an optional note."""
    note = _clean_note(note)
    alert = _get_alert(ctx, alert_id, lock=True)
    if alert.status != "open":
        raise invalid_state((f"Cảnh báo đang ở trạng thái {STATUSES[alert.status][0]}, không thể tiếp nhận.",
                             f"The alert is {alert.status}; only an open alert can be acknowledged."))
    alert.status = "acknowledged"
    alert.acknowledged_by, alert.acknowledged_at = ctx.actor.user_id, utcnow()
    if note is not None:
        alert.note = note
    ctx.audit("sensing.alert.acknowledge", "sensing_alert", alert.id, rule_id=alert.rule_id,
              entity_id=alert.entity_id, **({"note": note[:500]} if note else {}))
    return alert


@authz.action("sensing.alert.resolve", scope="write", auth=_auth_alert_editor)
def alert_resolve(ctx: Context, *, alert_id: int, note: str | None = None) -> Alert:
    """Resolve an alert by hand (open or acknowledged), with an optional note; its rule's contacts are told."""
    note = _clean_note(note)
    alert = _get_alert(ctx, alert_id, lock=True)
    if alert.status == "resolved":
        raise invalid_state(("Cảnh báo đã được xử lý.", "The alert is already resolved."))
    _resolve(ctx, ctx.db.get(Rule, alert.rule_id), alert, utcnow(), user_id=ctx.actor.user_id, note=note,
             reason="manual")
    return alert
