"""Rule-based recognizers for the city's domain entities: DOC_REF, AGENCY and WARD.

Every function takes the raw text and returns entities ``{"text", "label", "start", "end"}`` whose
offsets index the ORIGINAL string (``text[start:end] == entity["text"]``), also when the input is
decomposed (NFD), mixes scripts or holds emoji. Nothing here needs a trained model or the shared data.

- **DOC_REF** (document reference), by regular expression: ``number[/year]/TYPE[-ISSUER...]`` -
  ``140/KH-UBND``, ``30/2020/NĐ-CP``, ``15/2023/QĐ-UBND``, ``123/TB-SKHĐT``, ``13/2008/QH12``,
  ``45/UBND-VX`` - and the Party form ``35-CT/TW``. The part after the slash must start with an upper
  case letter (Đ included; ``&`` and digits allowed inside: ``TN&MT``, ``QH12``, ``TTg``) and hold at
  least two letters, so dates (``24/8/2004``), fractions (``1/2``) and ``4G/LTE`` never match. A leading
  ``Số:`` / ``số`` is context, not part of the span: in ``Số: 123/TB-SKHĐT`` the entity is
  ``123/TB-SKHĐT``.
- **AGENCY** (government body), by head nouns and patterns: people's committees and councils
  (``Ủy ban nhân dân`` / ``UBND``, ``Hội đồng nhân dân`` / ``HĐND``), police, courts, procuracies,
  treasury, tax and social-insurance offices, Party committees - each followed by an administrative
  unit (``Thành phố Hồ Chí Minh``, ``TP.HCM``, ``Quận 1``, ``phường Bến Thành``, ``tỉnh Đồng Nai``) -
  and the named bodies ``Sở`` / ``Bộ`` / ``Ban`` / ``Cục`` / ``Chi cục`` / ``Tổng cục`` / ``Phòng`` /
  ``Văn phòng`` / ``Thanh tra`` / ``Trung tâm`` / ``Kho bạc`` / ``Ủy ban`` + a capitalised field name
  (a list of the usual fields - ``Tài nguyên và Môi trường``, ``Kế hoạch và Đầu tư`` ... - else a
  capitalised run; abbreviations ``TN&MT``, ``GD-ĐT``), optionally followed by a unit or a province,
  or by another agency (``Văn phòng UBND Thành phố``, ``Thanh tra Sở Xây dựng``). Named heads must be
  capitalised (``ban đầu``, ``bộ máy`` never match); bare ``UBND``, ``HĐND``, ``Chính phủ``,
  ``Quốc hội`` are agencies on their own.
- **WARD** (one of HCMC's 168 phường / xã / đặc khu, from :func:`cityai.data.reference.wards`): the
  prefix is REQUIRED - ``phường Bến Thành``, ``Phường Sài Gòn``, ``P. Bến Thành``, ``xã Bình Chánh``,
  ``đặc khu Côn Đảo`` - and must agree with the unit's type (``phường Bình Chánh`` is not a ward:
  Bình Chánh is a xã). Many ward names are also names of old districts, provinces or streets
  (``Bình Dương``, ``Vũng Tàu``, ``Sài Gòn``, ``Gò Vấp``), so a bare name is left to the statistical
  model (usually LOC). The longest name wins (``Tân Sơn Nhất`` over ``Tân Sơn``), and a name directly
  followed by another capitalised word that is not an administrative unit (``phường Tân Phú Trung``)
  is rejected.

Matching is tolerant: Vietnamese words compare by letters + tone mark, wherever the tone mark sits
(``Uỷ`` = ``Ủy``, ``Hoà`` = ``Hòa``), NFC and NFD alike; a word typed WITHOUT any diacritics compares
by its folded letters (``Uy ban nhan dan phuong Ben Thanh`` is found), while a word written with
marks must carry the right ones (``số`` is not ``Sở``).

Overlaps between domain entities (``UBND phường Bến Thành`` holds a ward) are resolved by
:func:`resolve`: the longer span wins, then DOC_REF > AGENCY > WARD; the result never overlaps.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Iterable, NamedTuple

__all__ = [
    "LABELS", "recognize", "find_doc_refs", "find_agencies", "find_wards", "resolve", "tone_key",
    "ascii_fold",
]

LABELS = ("DOC_REF", "AGENCY", "WARD")
_PRIORITY = {"DOC_REF": 0, "AGENCY": 1, "WARD": 2}

# ------------------------------------------------------------------ text folding

_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền, sắc, ngã, hỏi, nặng


def tone_key(word: str) -> str:
    """Lower-case letters with their shape marks (â ă ê ô ơ ư đ), then the tone mark: the same key
    whichever vowel carries the tone (``"Uỷ"`` and ``"ủy"`` -> ``"uy\\u0309"``)."""
    d = unicodedata.normalize("NFD", word.lower())
    tones = "".join(sorted(c for c in d if c in _TONES))
    rest = unicodedata.normalize("NFC", "".join(c for c in d if c not in _TONES))
    return rest + tones


def ascii_fold(word: str) -> str:
    """Lower case without any marks, ``đ`` -> ``d``."""
    d = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in d if not unicodedata.combining(c)).replace("đ", "d")


def _has_marks(word: str) -> bool:
    d = unicodedata.normalize("NFD", word)
    return any(unicodedata.combining(c) for c in d) or "đ" in d or "Đ" in d


def _nfc_map(text: str) -> tuple[str, list[int]]:
    """NFC text and, for every index of it (and its end), the index in ``text`` it came from.
    Each base character with its combining marks is normalised on its own, so offsets stay exact."""
    if text.isascii():
        return text, list(range(len(text) + 1))
    out: list[str] = []
    omap: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = unicodedata.normalize("NFC", text[i:j])
        out.append(piece)
        omap.extend([i] * len(piece))
        i = j
    omap.append(n)
    return "".join(out), omap


# ------------------------------------------------------------------ tokens


class _Tok(NamedTuple):
    text: str  # NFC surface
    start: int  # offsets into the NFC string
    end: int
    key: str
    fold: str
    plain: bool  # written without any diacritics
    cap: bool  # starts with an upper-case letter
    upper: bool  # all letters upper case, at least 2 of them (an abbreviation: UBND, TN&MT)
    digit: bool
    word: bool  # letters/digits (not punctuation)


_TOKEN = re.compile(r"[^\W_]+(?:&[^\W_]+)*|\S")


def _tokens(s: str) -> list[_Tok]:
    toks = []
    for m in _TOKEN.finditer(s):
        t = m.group()
        isword = t[0].isalnum()
        letters = [c for c in t if c.isalpha()]
        toks.append(_Tok(
            t, m.start(), m.end(), tone_key(t), ascii_fold(t), not _has_marks(t),
            bool(letters) and t[0].isupper(),
            len(letters) >= 2 and all(c.isupper() for c in letters),
            t.isdigit(), isword,
        ))
    return toks


class _Word(NamedTuple):
    key: str
    fold: str


def _phrase(text: str) -> tuple[_Word, ...]:
    return tuple(_Word(tone_key(w), ascii_fold(w)) for w in text.split())


def _same(tok: _Tok, w: _Word) -> bool:
    return tok.key == w.key or (tok.plain and tok.fold == w.fold)


def _match(toks: list[_Tok], i: int, phrase: tuple[_Word, ...]) -> bool:
    if i + len(phrase) > len(toks):
        return False
    return all(_same(toks[i + k], w) for k, w in enumerate(phrase))


def _longest(toks: list[_Tok], i: int, phrases: Iterable[tuple[_Word, ...]]) -> int:
    """Length (in tokens) of the longest phrase matching at ``i``, 0 if none."""
    best = 0
    for p in phrases:
        if len(p) > best and _match(toks, i, p):
            best = len(p)
    return best


def _adjacent(toks: list[_Tok], i: int) -> bool:
    """Whether token i directly follows token i-1 (no space between)."""
    return i > 0 and toks[i].start == toks[i - 1].end


def _entity(text: str, omap: list[int], s_start: int, s_end: int, label: str) -> dict:
    start, end = omap[s_start], omap[s_end]
    return {"text": text[start:end], "label": label, "start": start, "end": end}


# ------------------------------------------------------------------ DOC_REF

_SEG = r"[A-ZĐ][A-Za-zĐđ&]*[0-9]*"
_DOC = re.compile(
    rf"(?<![\w/.\-])"
    rf"(?:(?P<num>[0-9]{{1,6}}[a-z]?)(?:/(?P<year>(?:19|20)[0-9]{{2}}))?"
    rf"/(?P<kind>{_SEG}(?:[\-/]{_SEG}){{0,4}})"
    rf"|(?P<pnum>[0-9]{{1,6}})-(?P<pkind>{_SEG})/(?P<pissuer>{_SEG}))"
    rf"(?![\w&])"
)


def _doc_spans(s: str) -> list[tuple[int, int]]:
    out = []
    for m in _DOC.finditer(s):
        kind = m.group("kind") or (m.group("pkind") + m.group("pissuer"))
        if sum(c.isalpha() for c in kind) < 2:
            continue
        out.append((m.start(), m.end()))
    return out


def find_doc_refs(text: str) -> list[dict]:
    """Document references (``140/KH-UBND``, ``30/2020/NĐ-CP``, ``35-CT/TW``) in ``text``."""
    if not text:
        return []
    s, omap = _nfc_map(text)
    return [_entity(text, omap, a, b, "DOC_REF") for a, b in _doc_spans(s)]


# ------------------------------------------------------------------ administrative units

_UNIT_WORDS = tuple(_phrase(p) for p in (
    "thành phố", "tỉnh", "quận", "huyện", "thị xã", "thị trấn", "phường", "xã", "đặc khu",
))
_UNIT_ABBREV = tuple(_phrase(p) for p in ("tp", "q", "p", "tx", "tt"))  # need a dot or a name after them
_HCM = tuple(_phrase(p) for p in ("tphcm", "hcm", "hcmc"))


def _name_run(toks: list[_Tok], j: int, limit: int = 5) -> int:
    """End of a run of capitalised words / abbreviations / a number starting at j (j if none)."""
    if j < len(toks) and toks[j].digit:
        return j + 1
    k = j
    while k < len(toks) and k - j < limit and toks[k].word and (toks[k].cap or toks[k].upper):
        k += 1
    return k


def _admin_unit(toks: list[_Tok], j: int, *, bare: bool = True) -> int:
    """End of an administrative unit at j (``Thành phố Hồ Chí Minh``, ``TP.HCM``, ``Quận 1``,
    ``phường Bến Thành``, ``xã``), or 0. ``bare``: a unit word alone (``UBND phường``) counts."""
    if j >= len(toks):
        return 0
    if _longest(toks, j, _HCM):
        return j + 1
    n = _longest(toks, j, _UNIT_WORDS)
    if n:
        k = _name_run(toks, j + n)
        if k > j + n:
            return k
        return j + n if bare else 0
    n = _longest(toks, j, _UNIT_ABBREV)
    if n:
        k = j + n
        if k < len(toks) and toks[k].text == "." and _adjacent(toks, k):
            k += 1
        e = _name_run(toks, k)
        return e if e > k else 0
    return 0


@functools.lru_cache(maxsize=1)
def _province_names() -> tuple[tuple[_Word, ...], ...]:
    try:
        from cityai.data.reference import provinces

        names = [p["name"] for p in provinces()]
    except Exception:  # pragma: no cover - the data module is part of the package
        names = ["Hồ Chí Minh", "Hà Nội"]
    return tuple(_phrase(n) for n in names if n)


# ------------------------------------------------------------------ AGENCY

# Heads followed by an administrative unit: "UBND phường Bến Thành", "Công an Quận 1".
# value: whether the head is an agency on its own (capitalised) without a unit.
_UNIT_HEADS = {
    "ủy ban nhân dân": True, "ubnd": True, "hội đồng nhân dân": True, "hđnd": True,
    "ủy ban mặt trận tổ quốc": True, "ubmttq": True, "công an": False, "tòa án nhân dân": True,
    "tand": True, "viện kiểm sát nhân dân": True, "vksnd": True, "kho bạc nhà nước": True,
    "chi cục thuế": True, "cục thuế": True, "cục hải quan": True, "bảo hiểm xã hội": True, "bhxh": True,
    "thành ủy": True, "quận ủy": True, "huyện ủy": True, "đảng ủy": True, "tỉnh ủy": True,
    "ban chỉ huy quân sự": True, "bộ chỉ huy quân sự": True, "cảnh sát phòng cháy chữa cháy": True,
    "văn phòng đăng ký đất đai": True, "chi nhánh văn phòng đăng ký đất đai": True,
    "trung tâm y tế": False, "trung tâm phục vụ hành chính công": True,
}
_UNIT_HEAD_PHRASES = {_phrase(k): v for k, v in _UNIT_HEADS.items()}
_ABBREV_HEADS = {_phrase(k) for k in ("ubnd", "hđnd", "ubmttq", "tand", "vksnd", "bhxh")}

# Heads followed by a capitalised field name: "Sở Tài nguyên và Môi trường", "Bộ Y tế".
_NAMED_HEADS = tuple(_phrase(p) for p in (
    "sở", "bộ", "ban", "cục", "chi cục", "tổng cục", "phòng", "văn phòng", "thanh tra", "trung tâm",
    "kho bạc", "ủy ban", "vụ", "viện", "học viện", "ban quản lý", "hội đồng",
))
# Agencies on their own (capitalised).
_STANDALONE = tuple(_phrase(p) for p in (
    "chính phủ", "quốc hội", "thủ tướng chính phủ", "văn phòng chính phủ"))

_FIELDS = tuple(_phrase(p) for p in """
tài nguyên và môi trường|tài nguyên - môi trường|tài nguyên|môi trường|nội vụ|tài chính|kế hoạch và đầu tư
|kế hoạch - đầu tư|xây dựng|giao thông vận tải|giao thông - vận tải|giao thông công chính|y tế
|giáo dục và đào tạo|giáo dục - đào tạo|tư pháp|công thương|công an|quốc phòng|ngoại giao|ngoại vụ
|lao động - thương binh và xã hội|lao động, thương binh và xã hội|lao động thương binh và xã hội
|văn hóa, thể thao và du lịch|văn hóa - thể thao và du lịch|văn hóa và thể thao|văn hóa - thể thao
|du lịch|khoa học và công nghệ|khoa học - công nghệ|thông tin và truyền thông|thông tin - truyền thông
|nông nghiệp và phát triển nông thôn|nông nghiệp và môi trường|quy hoạch - kiến trúc|quy hoạch kiến trúc
|dân tộc và tôn giáo|dân tộc|tôn giáo|chính trị|tổ chức|tổ chức thành ủy|tuyên giáo|dân vận|nội chính
|kinh tế|kinh tế - ngân sách|văn hóa - xã hội|pháp chế|quản lý thị trường|quản lý đô thị|thuế
|hải quan|thống kê|thi đua - khen thưởng|an toàn thực phẩm|tiếp công dân|hành chính công|cảnh sát giao thông
|cảnh sát phòng cháy chữa cháy|cảnh sát pccc|phòng cháy chữa cháy|bảo vệ thực vật|thú y|đối ngoại|nhà nước
|chính phủ|quốc hội|trung ương|chỉ đạo|quản lý dự án|quản lý đầu tư xây dựng|tài chính - kế hoạch
|quản lý các khu chế xuất và công nghiệp|an ninh|an ninh điều tra|cảnh sát hình sự|cảnh sát điều tra
""".replace("\n", "").split("|") if p.strip())
# Not field names: "Bộ luật", "Bộ trưởng", "Ban giám khảo" are no agencies.
_NOT_FIELD = {tone_key(w) for w in ("luật", "trưởng", "phó", "giám", "quyền", "chủ", "trưởng ban")}
_CONNECTORS = {tone_key(w) for w in ("và",)} | {",", "-", "–", "&"}


def _field(toks: list[_Tok], j: int) -> int:
    """End of an agency's field name at j (lexicon, abbreviation or capitalised run), or 0."""
    if j >= len(toks) or not toks[j].word or not (toks[j].cap or toks[j].upper):
        return 0
    if toks[j].key in _NOT_FIELD:
        return 0
    n = _longest(toks, j, _FIELDS)
    if n:
        return j + n
    if toks[j].upper:  # TN&MT, GTVT, GD-ĐT
        k = j + 1
        while k + 1 < len(toks) and toks[k].text in ("-", "&") and _adjacent(toks, k) and toks[k + 1].upper \
                and _adjacent(toks, k + 1):
            k += 2
        return k
    # generic: components "Cap [lower]" joined by "và" / "," / "-"
    k = j
    while True:
        if not (k < len(toks) and toks[k].word and toks[k].cap and not toks[k].digit):
            break
        k += 1
        if k < len(toks) and toks[k].word and not toks[k].cap and not toks[k].digit \
                and toks[k].key not in _CONNECTORS:
            k += 1
        if k + 1 < len(toks) and toks[k].key in _CONNECTORS and toks[k + 1].word and toks[k + 1].cap:
            k += 1
            continue
        if not (k < len(toks) and toks[k].word and toks[k].cap):
            break
        if _admin_unit(toks, k) or _longest(toks, k, _NAMED_HEADS):
            break
    return k


def _unit_or_province(toks: list[_Tok], k: int) -> int:
    e = _admin_unit(toks, k, bare=False)
    if e:
        return e
    n = _longest(toks, k, _province_names())
    return k + n if n else k


def _agency_at(toks: list[_Tok], i: int, depth: int = 0) -> int:
    """End (token index) of an agency starting at token i, or 0."""
    if depth > 2 or i >= len(toks) or not toks[i].word:
        return 0
    best = 0
    # heads followed by an administrative unit
    for phrase, alone in _UNIT_HEAD_PHRASES.items():
        if not _match(toks, i, phrase):
            continue
        j = i + len(phrase)
        e = _admin_unit(toks, j)
        if not e and phrase in _ABBREV_HEADS and toks[i].upper:
            e = j
        elif not e and alone and toks[i].cap:
            e = _unit_or_province(toks, j)
        if e:
            best = max(best, e)
    # named heads + field name
    if toks[i].cap:
        for phrase in _NAMED_HEADS:
            if not _match(toks, i, phrase):
                continue
            j = i + len(phrase)
            e = _agency_at(toks, j, depth + 1)  # Văn phòng UBND Thành phố, Thanh tra Sở Xây dựng
            if not e:
                f = _field(toks, j)
                if f:
                    e = _unit_or_province(toks, f)
            if e:
                best = max(best, e)
        n = _longest(toks, i, _STANDALONE)
        if n:
            best = max(best, i + n)
    return best


def _agency_spans(s: str, toks: list[_Tok]) -> list[tuple[int, int]]:
    out = []
    i = 0
    while i < len(toks):
        e = _agency_at(toks, i)
        if e > i:
            out.append((toks[i].start, toks[e - 1].end))
            i = e
        else:
            i += 1
    return out


def find_agencies(text: str) -> list[dict]:
    """Government agencies (``UBND phường Bến Thành``, ``Sở TN&MT``, ``Công an Quận 1``) in ``text``."""
    if not text:
        return []
    s, omap = _nfc_map(text)
    return [_entity(text, omap, a, b, "AGENCY") for a, b in _agency_spans(s, _tokens(s))]


# ------------------------------------------------------------------ WARD

_WARD_PREFIXES = {"phường": "phường", "xã": "xã", "đặc khu": "đặc khu"}


@functools.lru_cache(maxsize=1)
def _ward_index() -> dict[str, tuple[tuple[_Word, ...], ...]]:
    """Ward names (as phrases) by unit type, longest first."""
    from cityai.data.reference import wards

    by_type: dict[str, list[tuple[_Word, ...]]] = {}
    for w in wards():
        name = unicodedata.normalize("NFC", w["name"])
        by_type.setdefault(w["type"], []).append(_phrase(name))
    return {t: tuple(sorted(set(v), key=len, reverse=True)) for t, v in by_type.items()}


_WARD_PREFIX_PHRASES = tuple((_phrase(p), t) for p, t in _WARD_PREFIXES.items())


def _ward_at(toks: list[_Tok], i: int) -> int:
    kind, j = None, 0
    for phrase, t in _WARD_PREFIX_PHRASES:
        if _match(toks, i, phrase):
            kind, j = t, i + len(phrase)
            break
    else:
        # "P. Bến Thành" / "P.Bến Thành": capital P followed by a dot
        if toks[i].text == "P" and i + 1 < len(toks) and toks[i + 1].text == "." and _adjacent(toks, i + 1):
            kind, j = "phường", i + 2
    if kind is None:
        return 0
    for name in _ward_index().get(kind, ()):
        if not _match(toks, j, name):
            continue
        e = j + len(name)
        # "phường Tân Phú Trung" is not "phường Tân Phú": reject a name that goes on capitalised
        if e < len(toks) and toks[e].word and (toks[e].cap or toks[e].digit) and not _adjacent(toks, e) \
                and not _admin_unit(toks, e) and not _longest(toks, e, _HCM):
            return 0
        return e
    return 0


def _ward_spans(s: str, toks: list[_Tok]) -> list[tuple[int, int]]:
    out = []
    i = 0
    while i < len(toks):
        e = _ward_at(toks, i) if toks[i].word else 0
        if e > i:
            out.append((toks[i].start, toks[e - 1].end))
            i = e
        else:
            i += 1
    return out


def find_wards(text: str) -> list[dict]:
    """HCMC wards with their prefix (``phường Bến Thành``, ``xã Bình Chánh``, ``đặc khu Côn Đảo``)."""
    if not text:
        return []
    s, omap = _nfc_map(text)
    return [_entity(text, omap, a, b, "WARD") for a, b in _ward_spans(s, _tokens(s))]


# ------------------------------------------------------------------ all together


def resolve(entities: Iterable[dict]) -> list[dict]:
    """Non-overlapping entities: longer span first, then DOC_REF > AGENCY > WARD > others, then
    earlier; sorted by start."""
    chosen: list[dict] = []
    ranked = sorted(entities,
                    key=lambda e: (-(e["end"] - e["start"]), _PRIORITY.get(e["label"], 9), e["start"]))
    for e in ranked:
        if all(e["end"] <= c["start"] or e["start"] >= c["end"] for c in chosen):
            chosen.append(e)
    return sorted(chosen, key=lambda e: e["start"])


def recognize(text: str) -> list[dict]:
    """All domain entities (DOC_REF, AGENCY, WARD) in ``text``, non-overlapping, by start offset."""
    if not text or not isinstance(text, str):
        return []
    s, omap = _nfc_map(text)
    toks = _tokens(s)
    spans = [(a, b, "DOC_REF") for a, b in _doc_spans(s)]
    spans += [(a, b, "AGENCY") for a, b in _agency_spans(s, toks)]
    spans += [(a, b, "WARD") for a, b in _ward_spans(s, toks)]
    return resolve(_entity(text, omap, a, b, label) for a, b, label in spans)
