"""Answering a question from the knowledge base: retrieve, decide, compose, cite.

1. **Read the question.** Sentences that try to instruct the assistant are dropped
   (:func:`cityai.assistant.safety.strip_instructions`); what remains is folded (no diacritics, lower case)
   and split into the *aspects* asked about (fee, processing time, documents, steps, where, legal basis,
   conditions, result — by Vietnamese phrasings, with or without diacritics) and the *topic* words (the
   rest, less stop words).
2. **Retrieve.** The knowledge base's hybrid index (BM25 + e5) proposes candidates; each is read back from
   the database (only active sources the caller may see: public ones, and in civil-servant mode the
   internal ones of the caller's agencies) and scored by how much of the topic its title covers (words and
   word pairs), beside the index's own score.
3. **Decide.** Too little support → ``not_found``: politely declined when the question is not about public
   services at all, otherwise "the knowledge base does not say" with the agency to ask and the 1022 hotline
   — never a guessed fee, deadline or requirement. Several variants of one procedure at different levels,
   or a very short question matching several procedures equally → ``clarify`` with numbered options (the
   next turn may answer "2", "cấp xã" or a new question). A "where" question about a commune-level
   procedure without the citizen's ward → ``clarify`` which of the 168 units (a pre-2025 district name is
   answered by saying districts no longer exist). A follow-up without a topic ("còn lệ phí thì sao?")
   continues the conversation's procedure.
4. **Compose.** A procedure answer is structured by the sections asked (all main ones for a general
   question), each line from the record's own text with its citation ``[n]`` (procedure code and section);
   a section the record does not state is said to be unstated. A law answer quotes the article's sentences
   closest to the question (law and article cited); a page or document answer likewise.

The functions here are pure over a :class:`Candidate` list, so they are tested without a server; the
service (:mod:`cityai.assistant.service`) adds the conversation, logging and optional phrasing by a model.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cityai.assistant import procedures as proc
from cityai.assistant.safety import sanitize_passage, strip_instructions
from cityai.language.normalize import fold

HOTLINE = "1022"
MAX_LINES = {"steps": 8, "documents": 10, "legal": 5, "conditions": 6, "results": 4, "fee": 6, "time": 6,
             "where": 6, "overview": 3}
SNIPPET_CHARS = 600

# Folded (no diacritics) phrases; matched on word boundaries.
ASPECTS: dict[str, tuple[str, ...]] = {
    "fee": ("le phi", "phi", "bao nhieu tien", "het bao nhieu", "mat bao nhieu", "ton bao nhieu", "chi phi",
            "tien", "mien phi", "muc thu", "gia bao nhieu"),
    "time": ("thoi gian giai quyet", "thoi han giai quyet", "bao lau", "may ngay", "bao nhieu ngay", "thoi han", "thoi gian", "khi nao co", "bao gio co",
             "mat may", "lau khong", "trong bao lau", "bao nhieu lau", "may hom"),
    "documents": ("giay to", "ho so gom", "thanh phan ho so", "can chuan bi", "chuan bi gi", "chuan bi nhung",
                  "mang theo", "can nhung gi", "can gi", "ho so can", "ho so gi", "nhung giay", "ho so nhu the nao",
                  "ho so ra sao", "bo ho so", "mau don", "to khai"),
    "steps": ("cac buoc", "trinh tu", "quy trinh", "cach lam", "thuc hien ra sao", "tien hanh", "lam thu tuc",
              "buoc nao"),
    "where": ("o dau", "noi nop", "nop tai", "nop o", "co quan nao", "dia chi", "cho nao", "den dau",
              "truc tuyen", "online", "qua mang", "buu dien", "buu chinh", "noi nao", "nop qua", "lam o",
              "don vi nao", "ai giai quyet", "ai cap", "nop cho ai"),
    "legal": ("can cu", "phap ly", "luat nao", "van ban nao", "nghi dinh nao", "theo quy dinh nao",
              "co so phap ly", "quy dinh o dau", "thong tu nao"),
    "conditions": ("dieu kien", "yeu cau gi", "doi tuong nao", "ai duoc", "co duoc khong"),
    "results": ("ket qua", "nhan duoc gi", "nhan lai gi", "duoc cap gi"),
}
GENERAL = ("the nao", "lam sao", "nhu the nao", "huong dan", "ra sao", "nhu nao", "can lam gi", "phai lam gi")
# Function words, with diacritics; a word typed without diacritics is a stop word when its folded form is
# one of theirs and no content word folds to the same (so "ban" — bản/bạn — and "chung" — chứng/chúng — stay).
STOP_VI = frozenset("""
tôi mình em anh chị bạn ông bà có cho hỏi xin muốn cần phải không ko k kg được là gì nào thế sao vậy à ạ
nhé nha ơi thì mà và hoặc với của các những một này đó kia ở tại từ đến trong lên xuống ra vào làm bao nhiêu
mấy lâu đâu biết giúp vui lòng giùm rồi còn nữa cũng về thủ tục hồ sơ giấy tờ như đi để nếu khi sẽ đang đã bị
vậy lúc hiện nay hôm chúng tui cty công ty nhà nước hay loại người dân ạh ừ nhỉ chứ mọi việc gia đình cần thiết
hiện tại muốn biết cho biết thắc mắc hướng dẫn em ơi ad admin shop ạ rằng nên thôi đấy nhỉ
""".split())
# folded forms shared by a function word and a content word of procedure names (bạn/bản, chúng/chứng,
# sao/sao chép, đâu/đầu, lâu/lầu, mấy/máy, đó/độ, từ/tư, ra/rà, vào/vào sổ, người/người nộp ...)
_AMBIGUOUS = frozenset({"ban", "chung", "sao", "dau", "lau", "may", "do", "tu", "ra", "vao", "den", "di", "de", "bi",
                        "nguoi", "dan", "gia", "dinh", "cong", "ty", "nuoc", "moi", "viec", "loai", "hay", "hom",
                        "luc", "tai", "day", "nen", "thoi", "hien", "con", "ve", "cung", "ma", "lam", "da", "se",
                        "dang", "khi", "neu", "thiet", "can"})
STOP_FOLDED = frozenset(fold(w) for w in STOP_VI) - _AMBIGUOUS
SERVICE = ("thu tuc", "ho so", "giay phep", "dang ky", "cap", "giay to", "le phi", "ubnd", "uy ban", "phuong",
           "chung nhan", "chung thuc", "cu tru", "khai sinh", "ket hon", "khai tu", "can cuoc", "cccd",
           "ho chieu", "thue", "bao hiem", "dat dai", "xay dung", "kinh doanh", "doanh nghiep", "nop", "co quan",
           "luat", "nghi dinh", "quy dinh", "phap luat", "xu phat", "khieu nai", "to cao", "xac nhan", "trich luc",
           "cong chung", "gplx", "giay phep lai xe", "so do", "quyen su dung", "dich vu cong", "hanh chinh",
           "mot cua", "chinh quyen", "so ", "ho kinh doanh", "htx", "hop tac xa", "tro cap", "tam tru",
           "thuong tru", "giam ho", "nhan con nuoi", "ly lich tu phap", "giay chung", "dieu ", "dieu luat")
LEVEL_WORDS = {"trung uong": "Cấp bộ", "cap bo": "Cấp bộ", "bo": "Cấp bộ", "cap tinh": "Cấp tỉnh",
               "tinh": "Cấp tỉnh", "thanh pho": "Cấp tỉnh", "so": "Cấp tỉnh", "cap xa": "Cấp xã",
               "xa": "Cấp xã", "phuong": "Cấp xã", "cap huyen": "Cấp huyện", "huyen": "Cấp huyện"}
OLD_DISTRICT = re.compile(r"\b(?:quan|q)\s*(?:1[0-2]|[1-9])\b|\bhuyen (?:binh chanh|cu chi|hoc mon|nha be|can gio)\b"
                          r"|\bquan (?:binh thanh|go vap|phu nhuan|tan binh|tan phu|binh tan)\b|\bthanh pho thu duc\b")

T_ANSWER = 0.42  # least support (see :func:`support`) to answer
T_IN_SCOPE = 0.34  # least topic coverage for "about public services, not in the knowledge base" over "declined"


def _folded_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


def _phrase_re(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) + r")\b")


_ASPECT_RES = {k: _phrase_re(v) for k, v in ASPECTS.items()}
_GENERAL_RE = _phrase_re(GENERAL)
_SERVICE_RE = re.compile("|".join(r"\b" + re.escape(p.strip()) + (r"\b" if not p.endswith(" ") else r"\s")
                                  for p in SERVICE))


@dataclass
class Question:
    text: str  # as asked, instructions removed
    folded: str
    aspects: list[str]
    topic: list[str]  # folded content words, in order
    general: bool
    removed_instructions: int = 0

    @property
    def bigrams(self) -> set[tuple[str, str]]:
        return set(zip(self.topic, self.topic[1:]))


def read_question(text: str) -> Question:
    clean, removed = strip_instructions(text)
    folded = " ".join(_folded_words(clean))
    aspects = [k for k, rx in _ASPECT_RES.items() if rx.search(folded)]
    rest = folded
    for rx in _ASPECT_RES.values():
        rest = rx.sub(" ", rest)
    rest = _GENERAL_RE.sub(" ", rest)
    kept = set(rest.split())
    # the same words with their diacritics, to tell a stop word from a content word that folds alike
    topic = []
    for word in re.findall(r"\w+", unicodedata.normalize("NFC", clean).lower()):
        key = fold(word)
        if key not in kept or not (len(key) > 1 or key.isdigit()):
            continue
        stop = word in STOP_VI if key != word else key in STOP_FOLDED
        if not stop:
            topic.append(key)
    return Question(clean.strip(), folded, aspects, topic, bool(_GENERAL_RE.search(folded)) or not aspects,
                    removed)


def in_service_scope(q: Question) -> bool:
    return bool(_SERVICE_RE.search(q.folded + " "))


@dataclass
class Candidate:
    source: Any  # a Source row (kind, key, title, body, agency_id ...)
    score: float  # the index's fused score
    rank: int
    coverage: float = 0.0
    support: float = 0.0
    words: set[str] = field(default_factory=set)


def _source_words(src: Any) -> list[str]:
    body = src.body or {}
    if src.kind == "procedure":
        return _folded_words(" ".join([src.title, body.get("field") or "", " ".join(body.get("results") or [])]))
    if src.kind == "law":
        return _folded_words(f"{body.get('law', '')} {body.get('text', '')[:3000]}")
    if src.kind == "page":
        return _folded_words(f"{body.get('question', '')} {body.get('answer', '')[:2000]}")
    return _folded_words(f"{src.title} {(body.get('text') or '')[:3000]}")


def coverage(q: Question, src: Any) -> float:
    """How much of the question's topic the source's title (for a procedure; its text for other kinds)
    covers: the share of topic words found, averaged with the share of adjacent topic-word pairs."""
    if not q.topic:
        return 0.0
    words = _source_words(src)
    vocab = set(words)
    uni = sum(1 for w in q.topic if w in vocab) / len(q.topic)
    qb = q.bigrams
    if not qb:
        return uni
    pairs = set(zip(words, words[1:]))
    bi = sum(1 for b in qb if b in pairs) / len(qb)
    return 0.5 * uni + 0.5 * bi


def rank(q: Question, hits: list[Candidate]) -> list[Candidate]:
    """Candidates ordered by support: coverage of the topic, with the index's rank as a tie-breaker and a
    small bonus (the index sees synonyms and the body; coverage sees only the title)."""
    if not hits:
        return []
    top = max(h.score for h in hits) or 1.0
    for h in hits:
        h.coverage = coverage(q, h.source)
        h.support = 0.75 * h.coverage + 0.25 * (h.score / top if top > 0 else 0.0)
        if h.source.kind == "law":  # a long article covers common words by its length alone
            h.support *= 0.85
    return sorted(hits, key=lambda h: (-h.support, h.rank))


# ------------------------------------------------------------------ answers


@dataclass
class Answer:
    status: str  # answered | clarify | not_found
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    confidence: float = 0.0
    reason: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    procedure: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"status": self.status, "answer": self.text, "citations": self.citations,
               "confidence": round(float(self.confidence), 3)}
        if self.reason:
            out["reason"] = self.reason
        if self.options:
            out["options"] = self.options
        if self.procedure is not None:
            out["procedure"] = self.procedure
        return out


def _cite(citations: list[dict[str, Any]], src: Any, snippet: str, section: str | None = None) -> str:
    source_id = src.key
    for n, c in enumerate(citations, 1):
        if c["source_id"] == source_id and c.get("section") == section:
            return f"[{n}]"
    entry = {"source_type": src.kind, "source_id": source_id, "title": src.title,
             "snippet": snippet[:SNIPPET_CHARS]}
    if section:
        entry["section"] = section
    if src.kind == "procedure" and (src.body or {}).get("url"):
        entry["url"] = src.body["url"]
    citations.append(entry)
    return f"[{len(citations)}]"


def _agency_hint(cand: Candidate | None) -> str:
    src = cand.source if cand is not None else None
    return ((src.body or {}).get("agency") if src is not None and src.kind == "procedure" else "") or ""


def not_found(q: Question, best: Candidate | None, *, in_scope: bool, locale: str = "vi") -> Answer:
    if not in_scope:
        text = ("Xin lỗi, tôi chỉ hỗ trợ thông tin về thủ tục hành chính và dịch vụ công của Thành phố Hồ Chí Minh "
                "(hồ sơ, lệ phí, thời hạn, nơi nộp, căn cứ pháp lý). Bạn có thể hỏi, ví dụ: "
                "“Đăng ký khai sinh cần giấy tờ gì?”.")
        if locale == "en":
            text = ("Sorry, I can only help with administrative procedures and public services of Ho Chi Minh "
                    "City (documents, fees, processing times, where to submit, legal basis).")
        return Answer("not_found", text, reason="out_of_scope", confidence=0.0)
    agency = _agency_hint(best) if best is not None and best.coverage >= T_IN_SCOPE else ""
    text = ("Tôi chưa tìm thấy thông tin đủ tin cậy trong cơ sở tri thức để trả lời câu hỏi này, nên không "
            "đưa ra mức phí, thời hạn hay yêu cầu nào để tránh sai sót. ")
    text += (f"Bạn có thể liên hệ {agency} hoặc gọi đường dây nóng {HOTLINE} của Thành phố để được hướng dẫn."
             if agency else f"Bạn vui lòng gọi đường dây nóng {HOTLINE} của Thành phố hoặc liên hệ Bộ phận Một cửa "
             "của phường/xã nơi bạn cư trú để được hướng dẫn.")
    if locale == "en":
        text = ("I could not find reliable information in the knowledge base to answer this, so I will not state "
                "any fee, deadline or requirement. " + (f"Please contact {agency} or " if agency else "Please ")
                + f"call the city hotline {HOTLINE}.")
    return Answer("not_found", text, reason="no_source", confidence=best.support if best else 0.0)


def _section_title(section: str, locale: str) -> str:
    vi, en = proc.SECTIONS[section]
    return en if locale == "en" else vi


def procedure_sections(q: Question) -> list[str]:
    asked = [a for a in q.aspects]
    if q.general and not asked or (q.general and asked == ["steps"]):
        return ["overview", "where", "time", "fee", "documents", "steps", "legal"]
    if not asked:
        return ["overview", "where", "time", "fee", "documents", "steps", "legal"]
    return ["overview"] + asked


def answer_procedure(q: Question, cand: Candidate, *, ward: str | None = None, locale: str = "vi") -> Answer:
    src = cand.source
    rec = src.body or {}
    citations: list[dict[str, Any]] = []
    lines: list[str] = []
    structured: dict[str, Any] = {"code": src.key, "name": src.title, "level": rec.get("level") or "",
                                  "agency": rec.get("agency") or "", "url": rec.get("url") or "", "sections": {}}
    for section in procedure_sections(q):
        body = _clean_lines(proc.section_lines(rec, section))
        shown = body[:MAX_LINES.get(section, 8)]
        if section == "overview":
            mark = _cite(citations, src, " — ".join(body), None)
            level = f", {rec['level']}" if rec.get("level") else ""
            lines.append(f"Thủ tục: {src.title} (mã {src.key}{level}) {mark}")
            continue
        title = _section_title(section, locale)
        structured["sections"][section] = {"title": title, "lines": body}
        if not body:
            who = rec.get("agency") or "cơ quan giải quyết"
            lines.append(f"{title}: hồ sơ thủ tục không ghi thông tin này — vui lòng hỏi {who} "
                         f"hoặc gọi {HOTLINE}.")
            continue
        mark = _cite(citations, src, "\n".join(body), section)
        if len(shown) == 1 and len(shown[0]) < 160:
            lines.append(f"{title}: {shown[0]} {mark}")
        else:
            lines.append(f"{title}: {mark}")
            lines.extend(f"- {ln}" for ln in shown)
            if len(body) > len(shown):
                lines.append(f"- … (còn {len(body) - len(shown)} mục, xem toàn văn thủ tục)")
        if section == "where" and ward:
            if "xã" in (rec.get("level") or "").lower():
                lines.append(f"Với {ward}: thủ tục có thực hiện ở cấp xã, bạn nộp tại Bộ phận Một cửa của "
                             f"Ủy ban nhân dân {ward} (hoặc trực tuyến nếu thủ tục cho phép) {mark}")
    confidence = min(1.0, cand.support)
    return Answer("answered", "\n".join(lines), citations, confidence, procedure=structured)


def _clean_lines(lines: list[str]) -> list[str]:
    """Source text as it may be quoted: sentences that try to instruct the assistant are left out."""
    out = []
    for line in lines:
        clean = sanitize_passage(line).strip()
        if clean:
            out.append(clean)
    return out


_SENT = re.compile(r"(?<=[.;:!?])\s+|\n+")


def best_sentences(q: Question, text: str, n: int = 3) -> list[str]:
    """The ``n`` sentences of ``text`` sharing most topic words with the question, in their order."""
    sents = [s.strip() for s in _SENT.split(sanitize_passage(text)) if s and len(s.strip()) > 3]
    topic = set(q.topic)
    scored = []
    for i, s in enumerate(sents):
        words = set(_folded_words(s))
        scored.append((len(topic & words) / (1 + 0.02 * len(words)), i))
    keep = sorted(i for _, i in sorted(scored, reverse=True)[:n])
    return [sents[i][:700] for i in keep]


def answer_text_source(q: Question, cand: Candidate, *, locale: str = "vi") -> Answer:
    src = cand.source
    body = src.body or {}
    citations: list[dict[str, Any]] = []
    if src.kind == "law":
        text = body.get("text") or ""
        head = text.split("\n", 1)[0].strip()
        picked = best_sentences(q, text, 3)
        mark = _cite(citations, src, "\n".join(picked))
        intro = f"Theo {body.get('law')}, Điều {body.get('article')}" + (f" ({head})" if head and len(head) < 200 else "")
        lines = [f"{intro}: {mark}"] + [f"- {s}" for s in picked if s != head]
    elif src.kind == "page":
        answer = body.get("answer") or ""
        picked = best_sentences(q, answer, 4) if len(answer) > 800 else _clean_lines([answer])
        mark = _cite(citations, src, "\n".join(picked))
        lines = [f"{src.title}: {mark}"] + [f"- {s}" if len(picked) > 1 else s for s in picked]
    else:
        picked = best_sentences(q, body.get("text") or "", 3)
        mark = _cite(citations, src, "\n".join(picked))
        lines = [f"Văn bản “{src.title}”: {mark}"] + [f"- {s}" for s in picked]
    return Answer("answered", "\n".join(lines), citations, min(1.0, cand.support))


def variants(ranked: list[Candidate], best: Candidate, margin: float = 0.08) -> list[Candidate]:
    """Procedures as well supported as the best that are the same procedure at other levels."""
    if best.source.kind != "procedure":
        return []
    base = proc.base_name(best.source.title)
    out = [best]
    for c in ranked[1:8]:
        if (c.source.kind == "procedure" and best.support - c.support <= margin
                and proc.base_name(c.source.title) == base and c.source.key != best.source.key):
            out.append(c)
    return out if len(out) > 1 else []


def option_label(src: Any) -> str:
    level = (src.body or {}).get("level") or ""
    return f"{src.title}" + (f" — {level}" if level and level.lower() not in src.title.lower() else "")


def clarify_options(cands: list[Candidate], prompt: str) -> Answer:
    options = [{"n": n, "source_id": c.source.key, "title": option_label(c.source)} for n, c in enumerate(cands, 1)]
    text = prompt + "\n" + "\n".join(f"{o['n']}. {o['title']}" for o in options)
    return Answer("clarify", text, options=options, confidence=max(c.support for c in cands))


def pick_option(text: str, options: list[dict[str, Any]], sources: dict[str, Any]) -> str | None:
    """The option a reply chooses: its number ("2", "số 2", "cái thứ hai"), or level words ("cấp xã")
    that only one option's level or title has."""
    folded = " ".join(_folded_words(text))
    m = re.fullmatch(r"(?:so |cai |muc |lua chon |chon |phuong an )?(\d{1,2})(?: a| nhe| nha)?", folded)
    if m and 1 <= int(m.group(1)) <= len(options):
        return options[int(m.group(1)) - 1]["source_id"]
    ordinals = {"thu nhat": 1, "dau tien": 1, "thu hai": 2, "thu ba": 3, "thu tu": 4}
    for word, n in ordinals.items():
        if word in folded and n <= len(options):
            return options[n - 1]["source_id"]
    chosen = []
    for o in options:
        src = sources.get(o["source_id"])
        if src is None:
            continue
        hay = fold(f"{src.title} {(src.body or {}).get('level') or ''}")
        if any(re.search(rf"\b{re.escape(w)}\b", folded) and re.search(rf"\b{re.escape(w)}\b", hay)
               for w in ("trung uong", "cap bo", "cap tinh", "cap xa", "cap huyen", "tinh", "xa", "huyen", "bo")):
            chosen.append(o["source_id"])
    return chosen[0] if len(chosen) == 1 else None


def is_follow_up(q: Question) -> bool:
    """A question that names no topic of its own ("còn lệ phí?", "nộp ở đâu?", "thủ tục này mất bao lâu")."""
    return len(q.topic) <= 1 or bool(re.search(r"\b(?:thu tuc nay|cai nay|cai do|no|thu tuc do|ho so nay)\b",
                                               q.folded))
