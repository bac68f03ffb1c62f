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

import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityai.assistant import procedures as proc
from cityai.assistant.safety import sanitize_passage, strip_instructions
from cityai.language.normalize import fold, fold_aligned

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
    "steps": ("cac buoc", "trinh tu", "quy trinh", "thuc hien ra sao", "tien hanh", "lam thu tuc", "buoc nao"),
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
mấy lâu đâu biết giúp vui lòng giùm rồi còn nữa cũng về thủ tục hồ sơ như đi để nếu khi sẽ đang đã bị
vậy lúc hiện nay hôm chúng tui hay loại người dân ạh ừ nhỉ chứ mọi việc gia đình cần thiết
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
           "thuong tru", "giam ho", "nhan con nuoi", "ly lich tu phap", "giay chung", "dieu ", "dieu luat",
           "xin phep", "chap thuan", "ho tro", "che do", "bao ho", "hai quan", "luong huu", "chung chi", "cchn",
           "bhxh", "sang ten", "cap lai", "cap doi", "gia han", "khai bao", "thu hoi", "tham dinh", "cong nhan",
           "giay xac nhan", "ho khau", "bien so", "dang kiem", "cong an", "toa an", "thi hanh an", "boi thuong")
# phrasings that ask about the law itself: law articles compete with procedures only for these
LEGAL_CUES = ("luat", "bo luat", "dieu", "quy dinh", "phap luat", "nghi dinh", "thong tu", "xu phat", "bi phat",
              "hanh vi", "trach nhiem", "nghia vu", "quyen", "dung hay sai", "bi cam", "nghiem cam", "co bi",
              "toi danh", "hinh phat", "hop dong")
GATE_ASPECTS = ("fee", "time", "documents", "where", "legal", "conditions")
OLD_DISTRICT = re.compile(r"\b(?:quan|q)\s*(?:1[0-2]|[1-9])\b|\bhuyen (?:binh chanh|cu chi|hoc mon|nha be|can gio)\b"
                          r"|\bquan (?:binh thanh|go vap|phu nhuan|tan binh|tan phu|binh tan)\b|\bthanh pho thu duc\b")

W_COVERAGE = 0.6  # share of the topic's coverage in a candidate's support (the rest: the index's score)
T_ANSWER = 0.42  # least topic coverage of the chosen source to answer
T_CLARIFY = 0.3  # from this coverage up to T_ANSWER, the likeliest procedures are offered to choose from
T_IN_SCOPE = 0.75  # a question with no service word is answered only when a source covers this much of it
MAX_UNKNOWN = 2  # this many topic words that no title knows (e.g. "lái xe" in a KB without it): not_found ...
T_SURE = 0.7  # ... unless the source covers this much of the topic anyway for "about public services, not in the knowledge base" over "declined"


def _folded_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


def _phrase_re(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) + r")\b")


_ASPECT_RES = {k: _phrase_re(v) for k, v in ASPECTS.items()}
_GENERAL_RE = _phrase_re(GENERAL)
_SERVICE_RE = re.compile("|".join(r"\b" + re.escape(p.strip()) + (r"\b" if not p.endswith(" ") else r"\s")
                                  for p in SERVICE))


@functools.lru_cache(maxsize=1)
def _citizen_terms() -> tuple[re.Pattern[str], dict[str, str]]:
    """Citizens' words → the words of procedure names (``data/citizen_terms.json``), matched folded."""
    path = Path(__file__).resolve().parent / "data" / "citizen_terms.json"
    terms = {fold(k): v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if not k.startswith("_")}
    return _phrase_re(tuple(terms)), terms


def expand(text: str) -> str:
    """``text`` with citizens' abbreviations and everyday words replaced by the administrative ones
    ("làm lại GPLX" → "cấp lại giấy phép lái xe"); the rest unchanged."""
    pattern, terms = _citizen_terms()
    folded = fold_aligned(text).lower()
    if len(folded) != len(text):
        return text
    out, pos = [], 0
    for m in pattern.finditer(folded):
        out.append(text[pos:m.start()])
        out.append(terms[m.group(0)])
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


@dataclass
class Question:
    text: str  # as asked, instructions removed
    folded: str
    aspects: list[str]
    topic: list[str]  # folded content words, in order
    general: bool
    removed_instructions: int = 0
    search: str = ""  # the text searched: citizens' words replaced by administrative ones

    @property
    def bigrams(self) -> set[tuple[str, str]]:
        return set(zip(self.topic, self.topic[1:]))


_SELF_INTRO = re.compile(r"(?i)\b(?:tôi|em|mình|tui|cháu)\s+(?:tên\s+)?(?:là|tên)\s+(?:[A-ZĐÀ-Ỹ][\wÀ-ỹ]*\s*){1,5}"
                         r"[,.;]?")


def _personal_data_out(text: str) -> str:
    """The question without the asker's identifiers (CCCD, phone numbers ... and "tôi là <Name>"): they say
    nothing about the topic and would dilute it."""
    from cityai.core import pii

    hits = sorted(pii.detect(text), key=lambda h: h.start)
    out, pos = [], 0
    for h in hits:
        if h.start >= pos:
            out.append(text[pos:h.start])
            pos = h.end
    out.append(text[pos:])
    text = "".join(out)
    text = re.sub(r"(?i)\b(?:cccd|cmnd|sđt|sdt|số điện thoại|điện thoại|email)\s*:?\s*(?=[,.;]|$)", " ", text)
    return _SELF_INTRO.sub(" ", text)


def read_question(text: str) -> Question:
    clean, removed = strip_instructions(text)
    clean = clean.strip()
    search = expand(_personal_data_out(clean))
    folded = " ".join(_folded_words(search))
    aspects = [k for k, rx in _ASPECT_RES.items() if rx.search(folded)]
    rest = folded
    for rx in _ASPECT_RES.values():
        rest = rx.sub(" ", rest)
    rest = _GENERAL_RE.sub(" ", rest)
    kept = set(rest.split())
    # the same words with their diacritics, to tell a stop word from a content word that folds alike
    topic = []
    for word in re.findall(r"\w+", unicodedata.normalize("NFC", search).lower()):
        key = fold(word)
        if key not in kept or not (len(key) > 1 or key.isdigit()):
            continue
        stop = word in STOP_VI or (key == word and key in STOP_FOLDED)
        if not stop:
            topic.append(key)
    return Question(clean, folded, aspects, topic, bool(_GENERAL_RE.search(folded)) or not aspects, removed,
                    search)


_LEGAL_RE = _phrase_re(LEGAL_CUES)


def in_service_scope(q: Question) -> bool:
    """Whether the question is about public services at all: a service word, or an administrative aspect
    (fee, time, documents, where, legal basis, conditions)."""
    return bool(_SERVICE_RE.search(q.folded + " ")) or any(a in GATE_ASPECTS for a in q.aspects)


def asks_about_law(q: Question) -> bool:
    return bool(_LEGAL_RE.search(q.folded))


@dataclass
class Candidate:
    source: Any  # a Source row (kind, key, title, body, agency_id ...)
    score: float  # the index's fused score
    rank: int
    coverage: float = 0.0
    support: float = 0.0
    unknown: int = 0  # topic words no title of the knowledge base has, and this source does not cover
    words: set[str] = field(default_factory=set)


def _source_words(src: Any) -> list[str]:
    body = src.body or {}
    if src.kind == "procedure":
        return _folded_words(" ".join([src.title, body.get("field") or "", body.get("agency") or "",
                                       " ".join(body.get("results") or [])]))
    if src.kind == "law":
        return _folded_words(f"{body.get('law', '')} {body.get('text', '')[:3000]}")
    if src.kind == "page":
        return _folded_words(f"{body.get('question', '')} {body.get('answer', '')[:2000]}")
    return _folded_words(f"{src.title} {(body.get('text') or '')[:3000]}")


def coverage(q: Question, src: Any, idf: dict[str, float] | None = None, unseen: float = 1.0) -> float:
    """How much of the question's topic the source's title (for a procedure; its text for other kinds)
    covers: the share of topic words found, averaged with the share of adjacent topic-word pairs, each word
    weighted by its rarity among the knowledge base's titles (``idf``; words no title has weigh ``unseen``)
    — "cấp giấy phép" alone covers little of "cấp giấy phép nuôi chim yến"."""
    if not q.topic:
        return 0.0
    words = _source_words(src)
    vocab = set(words)

    def w(word: str) -> float:
        return idf.get(word, unseen) if idf is not None else 1.0

    total = sum(w(t) for t in q.topic)
    uni = sum(w(t) for t in q.topic if t in vocab) / total
    qb = q.bigrams
    if not qb:
        return uni
    pairs = set(zip(words, words[1:]))
    btotal = sum(w(a) + w(b) for a, b in qb)
    bi = sum(w(a) + w(b) for a, b in qb if (a, b) in pairs) / btotal
    if src.kind in ("law", "document"):  # long texts hold most single words: word pairs must match
        return 0.3 * uni + 0.7 * bi
    return 0.5 * uni + 0.5 * bi


def rank(q: Question, hits: list[Candidate], idf: dict[str, float] | None = None,
         unseen: float = 1.0) -> list[Candidate]:
    """Candidates ordered by ``support``: the topic's coverage by the source, with the index's relative score
    (which sees synonyms, meaning and the body; coverage sees the title) — for ordering. Whether to answer
    is decided on the chosen candidate's coverage alone (:data:`T_ANSWER`), an absolute measure. Law articles
    rank below procedures unless the question asks about the law itself."""
    if not hits:
        return []
    top = max(h.score for h in hits) or 1.0
    legal = asks_about_law(q)
    for h in hits:
        h.coverage = coverage(q, h.source, idf, unseen)
        if idf is not None:
            vocab = set(_source_words(h.source))
            h.unknown = sum(1 for w in set(q.topic) if w not in idf and w not in vocab and not w.isdigit())
        h.support = W_COVERAGE * h.coverage + (1 - W_COVERAGE) * (h.score / top if top > 0 else 0.0)
        if h.source.kind == "law" and not legal:
            h.support *= 0.6
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


def _confidence(cand: Candidate) -> float:
    """The topic's coverage by the source answered from (an absolute 0-1 measure)."""
    return max(0.0, min(1.0, cand.coverage or cand.support))


def _title(src: Any) -> str:
    """A source's title as it may be shown: an instruction-like title is reduced to the source's key."""
    return sanitize_passage(src.title).strip() or src.key


def _cite(citations: list[dict[str, Any]], src: Any, snippet: str, section: str | None = None) -> str:
    source_id = src.key
    for n, c in enumerate(citations, 1):
        if c["source_id"] == source_id and c.get("section") == section:
            return f"[{n}]"
    entry = {"source_type": src.kind, "source_id": source_id, "title": _title(src),
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
    agency = _agency_hint(best) if best is not None and best.coverage >= 0.3 else ""
    text = ("Tôi chưa tìm thấy thông tin đủ tin cậy trong cơ sở tri thức để trả lời câu hỏi này, nên không "
            "đưa ra mức phí, thời hạn hay yêu cầu nào để tránh sai sót. ")
    text += (f"Bạn có thể liên hệ {agency} hoặc gọi đường dây nóng {HOTLINE} của Thành phố để được hướng dẫn."
             if agency else f"Bạn vui lòng gọi đường dây nóng {HOTLINE} của Thành phố hoặc liên hệ Bộ phận Một cửa "
             "của phường/xã nơi bạn cư trú để được hướng dẫn.")
    if locale == "en":
        text = ("I could not find reliable information in the knowledge base to answer this, so I will not state "
                "any fee, deadline or requirement. " + (f"Please contact {agency} or " if agency else "Please ")
                + f"call the city hotline {HOTLINE}.")
    return Answer("not_found", text, reason="no_source", confidence=best.coverage if best else 0.0)


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
    structured: dict[str, Any] = {"code": src.key, "name": _title(src), "level": rec.get("level") or "",
                                  "agency": rec.get("agency") or "", "url": rec.get("url") or "", "sections": {}}
    for section in procedure_sections(q):
        body = _clean_lines(proc.section_lines(rec, section))
        shown = body[:MAX_LINES.get(section, 8)]
        if section == "overview":
            mark = _cite(citations, src, " — ".join(body), None)
            level = f", {rec['level']}" if rec.get("level") else ""
            lines.append(f"Thủ tục: {_title(src)} (mã {src.key}{level}) {mark}")
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
    return Answer("answered", "\n".join(lines), citations, _confidence(cand), procedure=structured)


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
        head = sanitize_passage(text.split("\n", 1)[0]).strip()
        picked = best_sentences(q, text, 3)
        mark = _cite(citations, src, "\n".join(picked))
        intro = f"Theo {body.get('law')}, Điều {body.get('article')}" + (f" ({head})" if head and len(head) < 200 else "")
        lines = [f"{intro}: {mark}"] + [f"- {s}" for s in picked if s != head]
    elif src.kind == "page":
        answer = body.get("answer") or ""
        picked = best_sentences(q, answer, 4) if len(answer) > 800 else _clean_lines([answer])
        mark = _cite(citations, src, "\n".join(picked))
        lines = [f"{_title(src)}: {mark}"] + [f"- {s}" if len(picked) > 1 else s for s in picked]
    else:
        picked = best_sentences(q, body.get("text") or "", 3)
        mark = _cite(citations, src, "\n".join(picked))
        lines = [f"Văn bản “{_title(src)}”: {mark}"] + [f"- {s}" for s in picked]
    return Answer("answered", "\n".join(lines), citations, _confidence(cand))


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
    return _title(src) + (f" — {level}" if level and level.lower() not in src.title.lower() else "")


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


_THIS = re.compile(r"(?i)\b(?:thủ tục này|thủ tục đó|cái này|cái đó|hồ sơ này|nó)\b")


def is_follow_up(q: Question) -> bool:
    """A question about the procedure under discussion: an aspect and at most one topic word of its own
    ("còn lệ phí?", "nộp ở đâu?"), or a pointer to it with few words ("thủ tục này mất bao lâu")."""
    if len(q.topic) <= 1 and q.aspects:
        return True
    return len(q.topic) <= 2 and bool(_THIS.search(q.text))
