"""The assistant's operations (each one action with its authorization next to it).

Asking (``assistant.ask``) is open to anyone in the public mode; the civil-servant mode (``internal``)
needs a signed-in user and also searches the internal sources of the agencies the user belongs to. A
conversation belongs to the client that started it (a hash of its token, user or address): another
client's conversation id is a 404. Each client may ask ``CITYAI_ASSISTANT_RATE_PER_MINUTE`` questions a
minute (429 with ``Retry-After`` beyond). Questions are logged with personal data redacted
(:func:`cityai.core.pii.redact`), with the answer's status, citations and confidence; the asker may rate an
answer (a later rating replaces the earlier one).

The knowledge base's sources belong to agencies: their editors import procedures and laws, write pages
(FAQ) and take documents they may read into it; every change keeps a version and is audited. Listing and
reading follow visibility (public sources to anyone, internal ones to the owning agency and those above).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import logging
import re
import threading
import time
import unicodedata
import uuid
from typing import Any, Callable, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from cityai.assistant import engine, kb
from cityai.assistant import procedures as proc
from cityai.assistant.models import SOURCE_KINDS, VISIBILITIES, Conversation, Message, Source, SourceVersion
from cityai.core import authz, pii
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import T_THROTTLED, Problem, conflict, invalid, not_found
from cityai.core.models import Agency

log = logging.getLogger("cityai.assistant")
SOURCE = ("nguồn tri thức", "knowledge source")
CONVERSATION = ("cuộc hội thoại", "conversation")
MESSAGE = ("câu trả lời", "answer")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
MAX_IMPORT_PER_CALL = 500
MAX_PAGE_CHARS = 20_000
MAX_DOCUMENT_CHARS = 200_000
MAX_ARTICLE_CHARS = 100_000
MAX_COMMENT_CHARS = 2_000


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ rate limits


class RateLimiter:
    """A sliding one-minute window per client key, in this process (each server process counts its own;
    behind several processes the effective limit is that many times higher)."""

    MAX_CLIENTS = 50_000  # the least recently seen are forgotten beyond this (a flood of addresses)

    def __init__(self) -> None:
        self._hits: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str, per_minute: int, now: float | None = None) -> int:
        """0 when allowed (and counted); else the seconds to wait."""
        if per_minute <= 0:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits.get(key)
            if q is None:
                q = self._hits[key] = collections.deque()
                while len(self._hits) > self.MAX_CLIENTS:
                    self._hits.popitem(last=False)
            else:
                self._hits.move_to_end(key)
            while q and now - q[0] >= 60.0:
                q.popleft()
            if len(q) >= per_minute:
                return max(1, int(60.0 - (now - q[0])) + 1)
            q.append(now)
            return 0


LIMITER = RateLimiter()


def client_key(ctx: Context, fallback: str | None = None) -> str:
    """Whom a conversation and a rate limit belong to: the API token, else the user, else the address."""
    if ctx.actor.token_id is not None:
        raw = f"token:{ctx.actor.token_id}"
    elif ctx.actor.user_id is not None:
        raw = f"user:{ctx.actor.user_id}"
    else:
        raw = f"ip:{fallback or ctx.ip or '-'}"
    return hashlib.sha256(raw.encode()).hexdigest()


# ------------------------------------------------------------------ asking


def _auth_ask(ctx: Context, *, mode: str = "public", **_: Any) -> bool:
    return mode != "internal" or not ctx.actor.is_anonymous


def _clean_question(ctx: Context, question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise invalid(("question là câu hỏi khác rỗng.", "question is a non-empty string."), field="question")
    limit = ctx.platform.settings.assistant_max_question_chars
    if len(question) > limit:
        raise invalid((f"Câu hỏi dài {len(question)} ký tự, tối đa {limit}.",
                       f"The question has {len(question)} characters, at most {limit}."), field="question",
                      limit=limit)
    return proc.clean_text(question).strip() or "?"


def _visible(ctx: Context, src: Source, internal: bool) -> bool:
    if not src.active:
        return False
    if src.visibility == "public":
        return True
    return internal and ctx.has_role(src.agency_id, "member")


def _sources_by_doc_ids(ctx: Context, doc_ids: list[str]) -> dict[str, Source]:
    pairs = [d.split(":", 1) for d in doc_ids if ":" in d]
    out: dict[str, Source] = {}
    by_kind: dict[str, list[str]] = collections.defaultdict(list)
    for kind, key in pairs:
        by_kind[kind].append(key)
    for kind, keys in by_kind.items():
        for i in range(0, len(keys), 500):
            rows = ctx.db.execute(select(Source).where(Source.kind == kind, Source.key.in_(keys[i:i + 500]))).scalars()
            out.update({s.doc_id: s for s in rows})
    return out


def retrieve(ctx: Context, q: engine.Question, *, internal: bool, k: int = 20) -> list[engine.Candidate]:
    """Ranked candidates the caller may see (see :mod:`cityai.assistant.engine`)."""
    idx = kb.index(ctx.platform)
    query = q.search or q.text or q.folded
    where = None if internal else {"visibility": "public"}
    depth = 2 * k if internal else k  # other agencies' internal sources are dropped below
    try:
        hits = idx.search(query, k=depth, mode="hybrid", where=where, with_text=False)
    except Exception:  # noqa: BLE001 - the embedding model unavailable: rank by BM25 alone
        log.warning("hybrid search failed, answering from BM25 alone", exc_info=True)
        hits = idx.search(query, k=depth, mode="bm25", where=where, with_text=False)
    rows = _sources_by_doc_ids(ctx, [h["id"] for h in hits])
    cands = [engine.Candidate(rows[h["id"]], h["score"], n) for n, h in enumerate(hits, 1)
             if h["id"] in rows and _visible(ctx, rows[h["id"]], internal)]
    idf, unseen = kb.title_idf(ctx.platform)
    return engine.rank(q, cands, idf, unseen)


def _source_by_key(ctx: Context, kind: str, key: str) -> Source | None:
    return ctx.db.execute(select(Source).where(Source.kind == kind, Source.key == key)).scalar_one_or_none()


def _ward_in(text: str) -> str | None:
    from cityai.language.gazetteer import find_wards

    found = find_wards(text)
    if not found:
        return None
    name = found[0]["text"].strip()
    return name[:1].upper() + name[1:]


def decide(ctx: Context, question: str, state: dict[str, Any], *, internal: bool,
           locale: str = "vi") -> engine.Answer:
    """The answer to ``question`` in a conversation whose state is ``state`` (returned in ``answer.state``)."""
    q = engine.read_question(question)
    state = dict(state or {})
    if not q.text:
        ans = engine.not_found(q, None, in_scope=False, locale=locale)
        ans.reason = "declined"
        ans.state = state
        return ans

    # a reply to a pending clarification
    pending = state.pop("pending", None)
    if pending:
        options = pending.get("options") or []
        if pending.get("kind") == "ward":
            ward = _ward_in(question)
            src = _source_by_key(ctx, "procedure", pending.get("procedure", ""))
            if ward and src is not None and _visible(ctx, src, internal):
                state["ward"] = ward
                asked = engine.read_question(pending.get("question") or "nộp ở đâu")
                cand = engine.Candidate(src, 1.0, 1, support=float(pending.get("support", 0.6)))
                return _finish(engine.answer_procedure(asked, cand, ward=ward, locale=locale), state, cand)
        elif options:
            sources = {o["source_id"]: _source_by_key(ctx, "procedure", o["source_id"]) for o in options}
            chosen = engine.pick_option(question, options, sources)
            src = sources.get(chosen) if chosen else None
            if src is not None and _visible(ctx, src, internal):
                asked = engine.read_question(pending.get("question") or question)
                cand = engine.Candidate(src, 1.0, 1, support=float(pending.get("support", 0.6)))
                return _answer_candidate(ctx, asked, cand, state, locale=locale, skip_variants=True)

    # a follow-up about the procedure under discussion
    current = state.get("procedure")
    if current and engine.is_follow_up(q):
        src = _source_by_key(ctx, "procedure", current)
        if src is not None and _visible(ctx, src, internal):
            cand = engine.Candidate(src, 1.0, 1, support=float(state.get("support", 0.6)))
            return _answer_candidate(ctx, q, cand, state, locale=locale, skip_variants=True)

    ranked = retrieve(ctx, q, internal=internal)
    best = ranked[0] if ranked else None
    if not q.topic:
        ans = engine.Answer("clarify", "Bạn muốn hỏi về thủ tục hay dịch vụ công nào? Ví dụ: “Đăng ký khai sinh "
                            "cần giấy tờ gì?”, “Lệ phí cấp hộ chiếu bao nhiêu?”.", reason="no_topic")
        if locale == "en":
            ans.text = "Which procedure or public service is your question about?"
        ans.state = state
        return ans
    in_scope = engine.in_service_scope(q)
    # unsure between procedures: offer the likeliest ones rather than answer from a possibly wrong one
    if in_scope and best is not None and best.source.kind == "procedure" and \
            engine.T_CLARIFY <= best.coverage < engine.T_ANSWER and best.unknown < engine.MAX_UNKNOWN:
        options = [c for c in ranked if c.source.kind == "procedure"][:3]
        ans = engine.clarify_options(options, "Tôi chưa chắc bạn hỏi về thủ tục nào. Có phải một trong các thủ tục "
                                     "sau? (Nếu không phải, bạn hãy hỏi lại cụ thể hơn hoặc gọi 1022.)")
        ans.reason = "which_procedure"
        state["pending"] = {"question": pii.redact(question), "options": ans.options, "support": best.coverage}
        ans.state = state
        return ans
    if best is None or best.coverage < engine.T_ANSWER or \
            (best.unknown >= engine.MAX_UNKNOWN and best.coverage < engine.T_SURE) or \
            (not in_scope and best.coverage < engine.T_IN_SCOPE):
        ans = engine.not_found(q, best, in_scope=in_scope, locale=locale)
        ans.state = state
        return ans
    # several different procedures fit a very short question equally well
    if best.source.kind == "procedure" and len(q.topic) <= 2:
        close = [c for c in ranked[:6] if c.source.kind == "procedure" and best.support - c.support <= 0.02]
        names = {proc.base_name(c.source.title) for c in close}
        if len(close) >= 3 and len(names) >= 3:
            ans = engine.clarify_options(close[:4], "Có nhiều thủ tục phù hợp với câu hỏi. Bạn cần thủ tục nào?")
            state["pending"] = {"question": pii.redact(question), "options": ans.options, "support": best.coverage}
            ans.state = state
            return ans
    return _answer_candidate(ctx, q, best, state, locale=locale, ranked=ranked)


def _answer_candidate(ctx: Context, q: engine.Question, cand: engine.Candidate, state: dict[str, Any], *,
                      locale: str, ranked: list[engine.Candidate] | None = None,
                      skip_variants: bool = False) -> engine.Answer:
    src = cand.source
    if src.kind != "procedure":
        return _finish(engine.answer_text_source(q, cand, locale=locale), state, cand)
    if not skip_variants and ranked:
        same = engine.variants(ranked, cand)
        if same:
            chosen = None
            for level_word, level in (("cap xa", "xã"), ("cap tinh", "tỉnh"), ("trung uong", "trung ương"),
                                      ("cap bo", "bộ"), ("cap huyen", "huyện")):
                if level_word in q.folded:
                    hits = [c for c in same if level in fold_title(c)]
                    chosen = hits[0] if len(hits) == 1 else None
            if chosen is None:
                ans = engine.clarify_options(same[:5], "Thủ tục này được thực hiện ở nhiều cấp. Bạn cần thực hiện ở cấp "
                                             "nào?")
                state["pending"] = {"question": pii.redact(q.text), "options": ans.options, "support": cand.coverage}
                ans.state = state
                return ans
            cand = chosen
            src = cand.source
    level = ((src.body or {}).get("level") or "").lower()
    ward = state.get("ward") or _ward_in(q.text)
    if "where" in q.aspects and level.strip() == "cấp xã" and not ward:  # done only at commune level
        moved = engine.OLD_DISTRICT.search(q.folded)
        text = ("Thủ tục này do Ủy ban nhân dân cấp xã giải quyết. Bạn cư trú ở phường, xã hay đặc khu nào của "
                "Thành phố (theo 168 đơn vị hành chính từ ngày 01/7/2025)?")
        if moved:
            text = ("Từ ngày 01/7/2025 Thành phố không còn cấp quận, huyện; hồ sơ nộp ở phường, xã hoặc đặc khu. "
                    "Bạn cho biết tên phường/xã mới nơi bạn cư trú (ví dụ: Phường Bến Thành, Xã Cần Giờ)?")
        ans = engine.Answer("clarify", text, reason="ward", confidence=cand.coverage)
        state["pending"] = {"kind": "ward", "procedure": src.key, "question": pii.redact(q.text),
                            "support": cand.coverage}
        ans.state = state
        return ans
    if ward:
        state["ward"] = ward
    return _finish(engine.answer_procedure(q, cand, ward=ward if "where" in q.aspects or q.general else None,
                                           locale=locale), state, cand)


def fold_title(c: engine.Candidate) -> str:
    return f"{c.source.title} {(c.source.body or {}).get('level') or ''}".lower()


def _finish(ans: engine.Answer, state: dict[str, Any], cand: engine.Candidate) -> engine.Answer:
    if cand.source.kind == "procedure":
        state["procedure"] = cand.source.key
        state["support"] = round(cand.coverage or cand.support, 3)
    ans.state = state
    return ans


def _phrase(ctx: Context, question: str, ans: engine.Answer, locale: str) -> dict[str, Any] | None:
    """Let the configured model phrase an extractive answer; None when none is configured."""
    from cityai.assistant import generate

    settings = ctx.platform.settings
    if not generate.configured(settings) or ans.status != "answered" or not ans.citations:
        return None
    passages = [{"n": n, "source_type": c["source_type"], "source_id": c["source_id"], "title": c["title"],
                 "text": c["snippet"]} for n, c in enumerate(ans.citations, 1)]
    try:  # the question without instruction-like sentences: a number it states counts as support
        out = generate.phrase(settings, engine.read_question(question).text, passages, locale=locale)
    except generate.GenerationError as exc:
        log.info("generated answer rejected: %s", exc.reason)
        return {"used": False, "rejected": exc.reason}
    ans.text = out.text
    return {"used": True, "model": out.model, "cited": out.cited}


@authz.action("assistant.ask", scope="read", auth=_auth_ask)
def ask(ctx: Context, *, question: Any, conversation_id: str | None = None, mode: str = "public",
        channel: str = "api", client: str | None = None) -> dict[str, Any]:
    """Answer a citizen's (or, in ``internal`` mode, a civil servant's) question with citations."""
    t0 = time.perf_counter()
    if mode not in ("public", "internal"):
        raise invalid(("mode là 'public' hoặc 'internal'.", "mode is 'public' or 'internal'."), field="mode")
    text = _clean_question(ctx, question)
    who = client or client_key(ctx)
    wait = LIMITER.check(who, ctx.platform.settings.assistant_rate_per_minute)
    if wait:
        raise Problem(429, "too-many-attempts", T_THROTTLED,
                      (f"Bạn đã hỏi quá nhiều trong một phút. Vui lòng thử lại sau {wait} giây.",
                       f"Too many questions in a minute. Try again in {wait} seconds."),
                      headers={"Retry-After": str(wait)}, retry_after=wait)
    conv = None
    if conversation_id is not None:
        conv = ctx.db.get(Conversation, conversation_id) if isinstance(conversation_id, str) else None
        if conv is None or conv.client != who or conv.mode != mode:
            raise not_found(CONVERSATION, conversation_id)
    internal = mode == "internal"
    ans = decide(ctx, text, dict(conv.state or {}) if conv else {}, internal=internal, locale=ctx.locale)
    generation = _phrase(ctx, text, ans, ctx.locale)
    now = utcnow()
    if conv is None:
        conv = Conversation(id=uuid.uuid4().hex, client=who, user_id=ctx.actor.user_id, mode=mode,
                            channel=channel if channel in ("api", "web", "widget") else "api", state={}, turns=0,
                            created_at=now)
        ctx.db.add(conv)
    conv.state = ans.state
    conv.turns += 1
    conv.updated_at = now
    redacted = pii.redact(text)
    msg = Message(conversation_id=conv.id, question=redacted, topic=_topic(redacted), answer=ans.text,
                  status=ans.status, reason=ans.reason, citations=ans.citations, confidence=float(ans.confidence),
                  generated=bool(generation and generation.get("used")),
                  latency_ms=round((time.perf_counter() - t0) * 1000, 1), created_at=now)
    ctx.db.add(msg)
    ctx.db.flush()
    out = ans.to_dict()
    out["conversation_id"] = conv.id
    out["message_id"] = msg.id
    if generation is not None:
        out["generation"] = generation
    return out


def _topic(redacted: str) -> str:
    q = engine.read_question(redacted)
    return (" ".join(q.topic) or q.folded)[:300]


def _own_conversation(ctx: Context, conversation_id: Any, client: str | None) -> Conversation:
    conv = ctx.db.get(Conversation, conversation_id) if isinstance(conversation_id, str) else None
    if conv is None or conv.client != (client or client_key(ctx)):
        raise not_found(CONVERSATION, conversation_id)
    return conv


@authz.action("assistant.conversation", scope="read", auth=authz.anyone)
def conversation_show(ctx: Context, *, conversation_id: str, client: str | None = None) -> dict[str, Any]:
    """The caller's own conversation: its questions (redacted) and answers."""
    conv = _own_conversation(ctx, conversation_id, client)
    msgs = ctx.db.execute(select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)).scalars()
    return {"conversation_id": conv.id, "mode": conv.mode, "created_at": conv.created_at.isoformat(),
            "messages": [message_to_dict(m) for m in msgs]}


def message_to_dict(m: Message) -> dict[str, Any]:
    return {"id": m.id, "question": m.question, "answer": m.answer, "status": m.status, "reason": m.reason,
            "citations": m.citations, "confidence": m.confidence, "rating": m.rating, "comment": m.comment,
            "created_at": m.created_at.isoformat()}


@authz.action("assistant.feedback", scope="read", auth=authz.anyone)
def feedback(ctx: Context, *, conversation_id: str, message_id: int, rating: Any, comment: str | None = None,
             client: str | None = None) -> dict[str, Any]:
    """Rate an answer of one's own conversation: 1 (helpful) or -1 (not helpful), with an optional comment."""
    conv = _own_conversation(ctx, conversation_id, client)
    msg = ctx.db.get(Message, message_id) if _int(message_id) else None
    if msg is None or msg.conversation_id != conv.id:
        raise not_found(MESSAGE, message_id)
    if rating not in (1, -1) or isinstance(rating, bool):
        raise invalid(("rating là 1 (hữu ích) hoặc -1 (chưa hữu ích).", "rating is 1 (helpful) or -1 (not helpful)."),
                      field="rating")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS):
        raise invalid((f"Góp ý tối đa {MAX_COMMENT_CHARS} ký tự.", f"A comment has at most {MAX_COMMENT_CHARS} "
                       "characters."), field="comment")
    msg.rating = rating
    msg.comment = pii.redact(proc.clean_text(comment.strip()))[:MAX_COMMENT_CHARS] if comment else None
    msg.rated_at = utcnow()
    return {"message_id": msg.id, "rating": msg.rating}


# ------------------------------------------------------------------ analytics


def _auth_staff(ctx: Context, **_: Any) -> bool:
    return ctx.actor.is_sysadmin or bool(ctx.actor.roles)


@authz.action("assistant.analytics", scope="read", auth=_auth_staff)
def analytics(ctx: Context, *, days: int = 30, limit: int = 20) -> dict[str, Any]:
    """For agency staff: questions by status and day, top questions, unanswered ones (gaps in the
    knowledge base), ratings and the most cited sources, over the last ``days`` days."""
    if not _int(days) or not 1 <= days <= 366:
        raise invalid(("days từ 1 đến 366.", "days is 1 to 366."), field="days")
    limit = max(1, min(int(limit), 100))
    since = utcnow() - dt.timedelta(days=days)
    scope = [Message.created_at >= since]
    if not ctx.actor.is_sysadmin:  # civil servants' internal-mode questions stay within the platform's admins
        scope.append(Message.conversation_id.in_(select(Conversation.id).where(Conversation.mode == "public")))
    base = select(Message).where(*scope)
    by_status = dict(ctx.db.execute(select(Message.status, func.count()).where(*scope)
                                    .group_by(Message.status)).all())
    total = sum(by_status.values())

    def top(stmt: Any) -> list[dict[str, Any]]:
        rows = ctx.db.execute(stmt.group_by(Message.topic).order_by(func.count().desc()).limit(limit)).all()
        out = []
        for topic, n, example in rows:
            out.append({"topic": topic, "count": n, "example": example})
        return out

    q_top = select(Message.topic, func.count(), func.max(Message.question)).where(*scope)
    q_gap = q_top.where(Message.status == "not_found", or_(Message.reason.is_(None), Message.reason == "no_source"))
    ratings = dict(ctx.db.execute(select(Message.rating, func.count()).where(*scope, Message.rating.is_not(None))
                                  .group_by(Message.rating)).all())
    days_rows = ctx.db.execute(select(Message.created_at, Message.status).where(*scope)).all()
    per_day: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.Counter())
    for created, status in days_rows:
        per_day[created.date().isoformat()][status] += 1
    cited: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for (cits,) in ctx.db.execute(select(Message.citations).where(*scope, Message.status == "answered")).all():
        for c in {(c.get("source_type"), c.get("source_id"), c.get("title")) for c in cits or []}:
            cited[c] += 1
    latency = [r[0] for r in ctx.db.execute(select(Message.latency_ms).where(*scope)).all()]
    latency.sort()
    disliked = ctx.db.execute(base.where(Message.rating == -1).order_by(Message.id.desc()).limit(limit)).scalars()
    up, down = ratings.get(1, 0), ratings.get(-1, 0)
    return {
        "days": days, "total": total,
        "by_status": {s: by_status.get(s, 0) for s in ("answered", "clarify", "not_found")},
        "answered_rate": round(by_status.get("answered", 0) / total, 3) if total else None,
        "per_day": [{"day": d, **{s: c.get(s, 0) for s in ("answered", "clarify", "not_found")}}
                    for d, c in sorted(per_day.items())],
        "top_questions": top(q_top), "unanswered": top(q_gap),
        "ratings": {"helpful": up, "not_helpful": down, "rated": up + down,
                    "helpful_rate": round(up / (up + down), 3) if up + down else None},
        "not_helpful": [message_to_dict(m) for m in disliked],
        "top_sources": [{"source_type": k[0], "source_id": k[1], "title": k[2], "count": n}
                        for k, n in cited.most_common(limit)],
        "latency_ms": {"p50": latency[len(latency) // 2] if latency else None,
                       "p95": latency[min(len(latency) - 1, int(len(latency) * 0.95))] if latency else None},
    }


# ------------------------------------------------------------------ the knowledge base


def _auth_edit_agency(ctx: Context, *, agency_id: Any = None, **_: Any) -> bool:
    return not ctx.actor.is_anonymous and _int(agency_id) and ctx.has_role(agency_id, "editor")


_auth_source_editor = authz.owner_role(Source, "source_id", "editor", "assistant_source")


def _agency(ctx: Context, agency_id: int) -> Agency:
    a = ctx.db.get(Agency, agency_id)
    if a is None:
        raise not_found(("cơ quan", "agency"), agency_id)
    return a


def _after_commit_sync(ctx: Context, sources: list[Source], embed: bool) -> None:
    platform = ctx.platform

    def run() -> None:
        try:
            kb.sync(platform, sources, embed=embed)
        except Exception:  # noqa: BLE001 - the database holds the change; `cityai assistant reindex` repairs
            log.exception("could not update the assistant's search index; run `cityai assistant reindex`")

    platform.after_commit(ctx.db, run)


def import_records(ctx: Context, *, agency_id: int, kind: str, records: Iterable[dict[str, Any]],
                   origin: str | None = None, visibility: str = "public", embed: bool = False,
                   progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Procedures or law articles into the knowledge base (create, update, unchanged), each checked; a bad
    record is reported with its position and skipped, never half-written. A source owned by another agency
    is not overwritten (reported as a conflict)."""
    counts = collections.Counter()
    errors: list[dict[str, Any]] = []
    changed: list[Source] = []
    for n, raw in enumerate(records):
        try:
            if kind == "procedure":
                rec = proc.to_record(raw)
                key, title, body = rec["code"], rec["name"], rec
            else:
                if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) and raw.get(k).strip() for k in
                                                        ("law", "article", "text")):
                    raise ValueError("an article is {law, article, text} (non-empty strings)")
                law, article = proc._nfc(raw["law"])[:300], proc._nfc(raw["article"])[:50]
                text = proc.clean_text(raw["text"])
                if len(text) > MAX_ARTICLE_CHARS:
                    raise ValueError(f"the article's text has more than {MAX_ARTICLE_CHARS} characters")
                text = unicodedata.normalize("NFC", text).strip()
                key = kb.law_key(law, article)
                title, body = kb.law_title(law, article, text), {"law": law, "article": article, "text": text}
            if len(key) > 400:
                raise ValueError("the key has more than 400 characters")
        except (ValueError, TypeError) as exc:
            errors.append({"n": n, "error": str(exc)[:300]})
            counts["invalid"] += 1
            continue
        existing = _source_by_key(ctx, kind, key)
        if existing is not None and existing.agency_id != agency_id:
            errors.append({"n": n, "key": key, "error": "owned by another agency"})
            counts["conflict"] += 1
            continue
        try:
            with ctx.db.begin_nested():  # another import of the same key at the same moment: this one loses
                src, change = kb.put(ctx, kind=kind, key=key, title=title[:1000], body=body, agency_id=agency_id,
                                     visibility=visibility, origin=origin, existing=existing)
        except IntegrityError:
            errors.append({"n": n, "key": key, "error": "changed by another import at the same time; retry"})
            counts["conflict"] += 1
            continue
        counts[change] += 1
        if change != "unchanged":
            changed.append(src)
        if progress is not None:
            progress(n + 1)
    if changed:
        _after_commit_sync(ctx, changed, embed)
    result = {"created": counts["created"], "updated": counts["updated"], "unchanged": counts["unchanged"],
              "invalid": counts["invalid"], "conflict": counts["conflict"], "errors": errors[:100]}
    if changed:  # an import that changed nothing is not an event of the audit trail
        ctx.audit(f"assistant.import_{kind}", "agency", agency_id, origin=origin,
                  **{k: v for k, v in result.items() if k != "errors"})
    return result


@authz.action("assistant.import", scope="write", auth=_auth_edit_agency)
def import_sources(ctx: Context, *, agency_id: int, kind: str, records: list[dict[str, Any]],
                   origin: str | None = None, visibility: str = "public") -> dict[str, Any]:
    """Import procedures (portal or CityAI records) or law articles ``{law, article, text}`` of an agency
    (at most 500 a call; the CLI reads whole files)."""
    _agency(ctx, agency_id)
    if kind not in ("procedure", "law"):
        raise invalid(("kind là 'procedure' hoặc 'law'.", "kind is 'procedure' or 'law'."), field="kind")
    if visibility not in VISIBILITIES:
        raise invalid(("visibility là 'public' hoặc 'internal'.", "visibility is 'public' or 'internal'."),
                      field="visibility")
    if not isinstance(records, list) or not records:
        raise invalid(("records là danh sách khác rỗng.", "records is a non-empty list."), field="records")
    if len(records) > MAX_IMPORT_PER_CALL:
        raise invalid((f"Tối đa {MAX_IMPORT_PER_CALL} bản ghi mỗi lần gửi.",
                       f"At most {MAX_IMPORT_PER_CALL} records per call."), field="records", limit=MAX_IMPORT_PER_CALL)
    result = import_records(ctx, agency_id=agency_id, kind=kind, records=records, origin=origin,
                            visibility=visibility)
    if result["created"] or result["updated"]:
        _embed_submit(ctx, agency_id)  # BM25 sees them at once, the dense half once the job has run
    return result


def _check_page(question: Any, answer: Any) -> tuple[str, str]:
    if not isinstance(question, str) or not question.strip() or len(question) > 1000:
        raise invalid(("question là câu hỏi 1-1.000 ký tự.", "question is 1-1,000 characters."), field="question")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_PAGE_CHARS:
        raise invalid((f"answer là nội dung 1-{MAX_PAGE_CHARS} ký tự.", f"answer is 1-{MAX_PAGE_CHARS} characters."),
                      field="answer")
    return proc._nfc(question), proc.clean_text(answer).strip()


@authz.action("assistant.page_put", scope="write", auth=_auth_edit_agency)
def page_put(ctx: Context, *, agency_id: int, slug: str, question: str, answer: str,
             visibility: str = "public", embed: bool = True) -> tuple[Source, str]:
    """Write (or change) an agency's FAQ page: a question and its answer, quoted and cited by the assistant."""
    _agency(ctx, agency_id)
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise invalid(("slug gồm chữ thường không dấu, số và '-' (tối đa 100).",
                       "slug is lower-case ASCII letters, digits and '-' (up to 100)."), field="slug")
    if visibility not in VISIBILITIES:
        raise invalid(("visibility là 'public' hoặc 'internal'.", "visibility is 'public' or 'internal'."),
                      field="visibility")
    question, answer = _check_page(question, answer)
    existing = _source_by_key(ctx, "page", slug)
    if existing is not None and existing.agency_id != agency_id:
        raise conflict(("Trang này thuộc cơ quan khác.", "This page belongs to another agency."), field="slug")
    src, change = kb.put(ctx, kind="page", key=slug, title=question[:1000],
                         body={"question": question, "answer": answer}, agency_id=agency_id, visibility=visibility,
                         existing=existing)
    if change != "unchanged":
        _after_commit_sync(ctx, [src], embed)
        ctx.audit(f"assistant.page_{change}", "assistant_source", src.id, agency_id=agency_id, slug=slug,
                  version=src.version)
    return src, change


@authz.action("assistant.document_add", scope="write", auth=_auth_edit_agency)
def document_add(ctx: Context, *, agency_id: int, document_id: str, visibility: str = "internal") -> Source:
    """Take a processed document the caller may read (documents module) into the knowledge base, internal to
    the agency by default (civil-servant mode); its text is read with the caller's permissions."""
    from cityai.documents.service import document_show

    _agency(ctx, agency_id)
    if visibility not in VISIBILITIES:
        raise invalid(("visibility là 'public' hoặc 'internal'.", "visibility is 'public' or 'internal'."),
                      field="visibility")
    doc = document_show(ctx, document_id=document_id)
    text = (doc.text or "").strip()
    if doc.status != "ready" or not text:
        raise invalid(("Văn bản chưa xử lý xong hoặc không có chữ.", "The document is not processed or has no text."),
                      field="document_id")
    title = (doc.title or doc.filename or str(doc.id))[:1000]
    existing = _source_by_key(ctx, "document", str(doc.id))
    if existing is not None and existing.agency_id != agency_id:
        raise conflict(("Văn bản đã được cơ quan khác đưa vào.", "Another agency has added this document."),
                       field="document_id")
    text = pii.redact(text[:MAX_DOCUMENT_CHARS])  # quoted to others: no CCCD, phone numbers ...
    src, change = kb.put(ctx, kind="document", key=str(doc.id), title=title,
                         body={"text": text, "document_id": str(doc.id)}, agency_id=agency_id,
                         visibility=visibility, origin=f"document:{doc.id}", existing=existing)
    if change != "unchanged":
        _after_commit_sync(ctx, [src], True)
        ctx.audit(f"assistant.document_{change}", "assistant_source", src.id, agency_id=agency_id,
                  document_id=str(doc.id))
    return src


def _auth_read_source(ctx: Context, *, source_id: Any = None, **_: Any) -> bool:
    src = ctx.db.get(Source, source_id) if _int(source_id) else None
    if src is None or (src.visibility == "public" and src.active):
        return True
    return not ctx.actor.is_anonymous and ctx.has_role(src.agency_id, "member")


def _get_source(ctx: Context, source_id: Any) -> Source:
    src = ctx.db.get(Source, source_id) if _int(source_id) else None
    if src is None:
        raise not_found(SOURCE, source_id)
    return src


@authz.action("assistant.source_show", scope="read", auth=_auth_read_source)
def source_show(ctx: Context, *, source_id: int) -> Source:
    """One knowledge source with its content."""
    src = _get_source(ctx, source_id)
    if src.visibility != "public":
        ctx.audit_now("assistant.source_show", "assistant_source", src.id, agency_id=src.agency_id)
    return src


@authz.action("assistant.source_versions", scope="read", auth=_auth_read_source)
def source_versions(ctx: Context, *, source_id: int) -> list[SourceVersion]:
    """A source's versions, newest first (who changed what, when)."""
    src = _get_source(ctx, source_id)
    stmt = select(SourceVersion).where(SourceVersion.source_id == src.id)
    if not (ctx.actor.is_sysadmin or (not ctx.actor.is_anonymous and ctx.has_role(src.agency_id, "member"))):
        # outsiders see only what was public: an earlier internal text stays internal
        stmt = stmt.where(SourceVersion.visibility == "public", SourceVersion.active.is_(True))
    return list(ctx.db.execute(stmt.order_by(SourceVersion.version.desc())).scalars())


@authz.action("assistant.source_list", scope="read", auth=authz.anyone)
def source_list(ctx: Context, *, kind: str | None = None, agency_id: int | None = None, q: str | None = None,
                limit: int = 50, offset: int = 0) -> tuple[list[Source], int]:
    """Sources the caller may read: active public ones, and all of the caller's agencies."""
    stmt = select(Source)
    if not ctx.actor.is_sysadmin:
        allowed = [(Source.visibility == "public") & Source.active.is_(True)]
        if not ctx.actor.is_anonymous:
            mine = ctx.descendants(list(ctx.actor.roles)) or [-1]
            allowed.append(Source.agency_id.in_(mine))
        stmt = stmt.where(or_(*allowed))
    if kind:
        if kind not in SOURCE_KINDS:
            raise invalid(("kind không hợp lệ.", "unknown kind."), field="kind", allowed=list(SOURCE_KINDS))
        stmt = stmt.where(Source.kind == kind)
    if agency_id is not None:
        stmt = stmt.where(Source.agency_id == agency_id)
    if q:
        like = "%" + str(q)[:200].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Source.title.ilike(like, escape="\\"), Source.key.ilike(like, escape="\\")))
    total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = ctx.db.execute(stmt.order_by(Source.kind, Source.key).limit(limit).offset(offset)).scalars().all()
    return list(rows), total


@authz.action("assistant.source_retire", scope="write", auth=_auth_source_editor)
def source_set_active(ctx: Context, *, source_id: int, active: bool) -> Source:
    """Retire a source (the assistant stops quoting it at once) or bring it back; a version is kept."""
    src = _get_source(ctx, source_id)
    if not isinstance(active, bool):
        raise invalid(("active là true hoặc false.", "active is true or false."), field="active")
    src, change = kb.put(ctx, kind=src.kind, key=src.key, title=src.title, body=src.body, agency_id=src.agency_id,
                         visibility=src.visibility, active=active, existing=src)
    if change != "unchanged":
        _after_commit_sync(ctx, [src], True)
        ctx.audit(f"assistant.source_{change}", "assistant_source", src.id, agency_id=src.agency_id,
                  version=src.version)
    return src


def source_to_dict(src: Source, *, full: bool = True) -> dict[str, Any]:
    out = {"id": src.id, "kind": src.kind, "key": src.key, "title": src.title, "agency_id": src.agency_id,
           "visibility": src.visibility, "active": src.active, "version": src.version,
           "updated_at": src.updated_at.isoformat(), "origin": src.origin}
    if full:
        out["body"] = src.body
    return out


def version_to_dict(v: SourceVersion) -> dict[str, Any]:
    return {"version": v.version, "change": v.change, "title": v.title, "visibility": v.visibility,
            "active": v.active, "changed_by": v.changed_by, "changed_at": v.changed_at.isoformat(), "body": v.body}


# ------------------------------------------------------------------ the embedding job


def _embed_job(run: Any) -> dict[str, Any]:
    """Embed the sources without vectors, reporting progress; resumable (done batches are kept)."""
    def progress(done: int, total: int) -> None:
        run.progress(100.0 * done / max(total, 1), f"{done}/{total}")
        run.check_cancelled()

    return {"embedded": kb.embed_missing(run.platform, progress)}


def _embed_submit(ctx: Context, agency_id: int) -> None:
    from cityai.core import jobs
    from cityai.core.models import Job

    waiting = ctx.db.execute(select(Job.id).where(Job.kind == EMBED_JOB.name, Job.status == "queued")).first()
    if waiting is not None:  # a queued run will embed these too
        return

    jobs.submit.unchecked(ctx, kind=EMBED_JOB.name, params={}, agency_id=agency_id,
                          title="Trợ lý ảo: tạo vector ngữ nghĩa / Assistant: embed sources")


def _make_embed_job() -> Any:
    from cityai.core.jobs import JobKind

    return JobKind("assistant.embed", ("Trợ lý ảo: tạo vector ngữ nghĩa", "Assistant: embed sources"), _embed_job,
                   auth=authz.sysadmin, retries=1)


EMBED_JOB = _make_embed_job()
