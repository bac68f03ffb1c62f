"""Structure of an administrative document laid out under Nghị định 30/2020/NĐ-CP (văn thư).

``parse(text)`` takes the plain text of a document, lines in reading order as OCR or a PDF text
layer gives them, and returns its ND30 elements (thể thức): quốc hiệu and tiêu ngữ, the issuing
agency and its parent, số and ký hiệu, địa danh and date, tên loại and trích yếu, căn cứ, the
outline of the content, the signature block, nơi nhận, urgency and secrecy marks, annexes.

The two blocks at the top (agency on the left, quốc hiệu on the right) and the two at the bottom
(nơi nhận on the left, signature on the right) may come one after the other or interleaved line by
line ("ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"): the parser splits such lines on what
it knows of the right-hand block (the quốc hiệu and tiêu ngữ, the "<place>, ngày ..." line, the
authority abbreviations, upper-case positions and the signer's name).

Nothing is invented: a blank number ("Số: /KH-UBND") or date part ("ngày  tháng  năm 2026") stays
``None`` and is named in ``blanks``. Every field has a heuristic ``confidence`` between 0 and 1.

Document types and their abbreviations are those of Điều 7 and Phụ lục III of the decree. The
decree gives none for công văn (its ký hiệu is the agency's abbreviation followed by the drafting
unit's, "UBND-VX") nor for thư công; this module uses ``"CV"`` for công văn and ``None`` for thư
công. Legal normative documents (Nghị định "NĐ", Thông tư "TT", ...) are outside the decree's
scope but are recognised too, because their numbers ("30/2020/NĐ-CP") carry the year.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from cityai.language.normalize import continues_line, fold, fold_aligned, normalize_line, normalize_text

__all__ = [
    "CONG_VAN_CODE",
    "COPY_TYPES",
    "DOC_TYPES",
    "LEGAL_DOC_TYPES",
    "doc_type_from_symbol",
    "doc_type_from_title_line",
    "parse",
    "parse_date",
    "parse_table_rows",
]

CONG_VAN_CODE = "CV"

# Điều 7, in the decree's order; abbreviations from Phụ lục III Mục I.
DOC_TYPES: list[tuple[str, str | None]] = [
    ("Nghị quyết", "NQ"),
    ("Quyết định", "QĐ"),
    ("Chỉ thị", "CT"),
    ("Quy chế", "QC"),
    ("Quy định", "QyĐ"),
    ("Thông cáo", "TC"),
    ("Thông báo", "TB"),
    ("Hướng dẫn", "HD"),
    ("Chương trình", "CTr"),
    ("Kế hoạch", "KH"),
    ("Phương án", "PA"),
    ("Đề án", "ĐA"),
    ("Dự án", "DA"),
    ("Báo cáo", "BC"),
    ("Biên bản", "BB"),
    ("Tờ trình", "TTr"),
    ("Hợp đồng", "HĐ"),
    ("Công văn", CONG_VAN_CODE),  # no abbreviation in the decree
    ("Công điện", "CĐ"),
    ("Bản ghi nhớ", "BGN"),
    ("Bản thỏa thuận", "BTT"),
    ("Giấy ủy quyền", "GUQ"),
    ("Giấy mời", "GM"),
    ("Giấy giới thiệu", "GGT"),
    ("Giấy nghỉ phép", "GNP"),
    ("Phiếu gửi", "PG"),
    ("Phiếu chuyển", "PC"),
    ("Phiếu báo", "PB"),
    ("Thư công", None),  # no abbreviation in the decree
]

# Legal normative documents (Luật Ban hành văn bản quy phạm pháp luật, not this decree).
LEGAL_DOC_TYPES: list[tuple[str, str | None]] = [
    ("Nghị định", "NĐ"),
    ("Thông tư", "TT"),
    ("Thông tư liên tịch", "TTLT"),
    ("Pháp lệnh", "PL"),
    ("Lệnh", "L"),
    ("Luật", None),
    ("Bộ luật", None),
]

# Copies (Phụ lục III Mục I).
COPY_TYPES: list[tuple[str, str]] = [("Bản sao y", "SY"), ("Bản trích sao", "TrS"), ("Bản sao lục", "SL")]

NATIONAL_TITLE = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
AUTHORITIES = ("TM.", "KT.", "Q.", "TL.", "TUQ.")

_URGENCY = [("hoa toc", "Hỏa tốc", "HỎA TỐC"), ("thuong khan", "Thượng khẩn", "THƯỢNG KHẨN"),
            ("khan", "Khẩn", "KHẨN")]
_SECRECY = [("tuyet mat", "Tuyệt mật", "TUYỆT MẬT"), ("toi mat", "Tối mật", "TỐI MẬT"),
            ("mat", "Mật", "MẬT")]

_ALL_TYPES = DOC_TYPES + LEGAL_DOC_TYPES
_TITLE_INDEX = {fold(name): (name, code) for name, code in reversed(_ALL_TYPES)}
_CODE_INDEX: dict[str, tuple[str, str | None]] = {}
for _name, _code in reversed(_ALL_TYPES):
    if _code and _code != CONG_VAN_CODE:
        _CODE_INDEX[_code] = (_name, _code)

# --------------------------------------------------------------------------------------------
# Small predicates

_NAT_RE = re.compile(r"cong\s*hoa\s*xa\s*hoi\s*chu\s*nghia\s*viet\s*nam")
_MOTTO_RE = re.compile(r"doc\s*lap\s*-?\s*tu\s*do\s*-?\s*hanh\s*phuc")
_UNDERLINE_RUN_RE = re.compile(r"_{2,}|-{4,}|={3,}|\*{3,}|~{3,}")
_DECOR_LINE_RE = re.compile(r"^[\s_\-=*~.…·/|]*$")
_SO_RE = re.compile(
    r"^so\s*[:.]?\s*(?P<num>\d{1,6})?(?P<blank>[\s.…_]*)/\s*(?:(?P<year>\d{4})\s*/\s*)?"
    r"(?P<sym>[a-z0-9][a-z0-9]*(?:\s?-\s?[a-z0-9]+)*)"
)
_VV_RE = re.compile(r"^v\s*/\s*v\s*[:.]?\s*")
_DATE_WORDS_RE = re.compile(
    r"(?<![a-z])ngay\s*(?P<d>\d{1,2})?[\s.…_]*thang\s*(?P<m>\d{1,2})?[\s.…_]*nam\s*(?P<y>\d{4})?"
)
_DATE_NUM_RE = re.compile(
    r"(?<![\d/.\-])(?P<d>\d{1,2})(?P<sep>[/.\-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4})(?![\d/])"
)
_AUTH_RE = re.compile(r"^(?P<a>TM|KT|TL|TUQ|Q)(?:\s*(?P<dot>\.)\s*|\s+)(?P<rest>\S.*)$")
_MARKER_RES: list[tuple[str, re.Pattern[str]]] = [
    ("part", re.compile(r"^(Phần|PHẦN)\s+(?P<n>[IVXLC]+|thứ\s+\w+)\b\.?\s*[:.\-]?\s*(?P<h>.*)$")),
    ("chapter", re.compile(r"^(Chương|CHƯƠNG)\s+(?P<n>[IVXLC]+|\d+)\b\.?\s*[:.\-]?\s*(?P<h>.*)$")),
    ("subsection", re.compile(r"^(Tiểu mục|TIỂU MỤC)\s+(?P<n>\d+)\b\.?\s*[:.\-]?\s*(?P<h>.*)$")),
    ("section", re.compile(r"^(Mục|MỤC)\s+(?P<n>\d+)\b\.?\s*[:.\-]?\s*(?P<h>.*)$")),
    ("article", re.compile(r"^(Điều|ĐIỀU)\s+(?P<n>\d+[a-z]?)\s*[.:]\s*(?P<h>.*)$")),
    ("roman", re.compile(r"^(?P<n>[IVXLC]+)\.\s+(?P<h>\S.*)$")),
    ("decimal", re.compile(r"^(?P<n>\d{1,3}(?:\.\d{1,3})+)\.?\s+(?P<h>\S.*)$")),
    ("number", re.compile(r"^(?P<n>\d{1,3})\.\s+(?P<h>\S.*)$")),
    ("letter", re.compile(r"^(?P<n>[a-zđ])\)\s*(?P<h>\S.*)$")),
    ("dash", re.compile(r"^-\s*(?P<h>\S.*)$")),
    ("plus", re.compile(r"^\+\s*(?P<h>\S.*)$")),
]
_RANKS = {"part": 0, "chapter": 1, "section": 2, "subsection": 3, "roman": 4, "article": 5,
          "number": 6, "decimal": 7, "letter": 8, "dash": 9, "plus": 10}
_ANNEX_RE = re.compile(r"^(?P<w>PHỤ LỤC|Phụ lục)(?P<n>\s+(?:[IVXLC]+|\d+)[a-z]?)?\s*(?P<rest>.*)$")

_ORG_HEADS = [tuple(h.split()) for h in (
    "uy ban", "ubnd", "ubmttq", "hoi dong", "hdnd", "bo", "so", "cuc", "tong cuc", "chi cuc", "vu",
    "vien", "ban", "trung tam", "phong", "truong", "benh vien", "cong ty", "tong cong ty", "tap doan",
    "dai hoc", "hoc vien", "van phong", "thanh tra", "kho bac", "cong an", "toa an", "chinh phu",
    "thu tuong", "chu tich", "quoc hoi", "ngan hang", "bao hiem", "dang uy", "kiem toan", "hoi",
    "lien doan", "doan", "mat tran", "quy", "dai", "bo chi huy", "bo tu lenh", "thanh uy", "tinh uy",
    "quan uy", "huyen uy", "vksnd", "tand",
)]
_GEO_HEADS = [tuple(h.split()) for h in (
    "thanh pho", "tp", "tinh", "quan", "huyen", "phuong", "xa", "thi xa", "thi tran", "dac khu",
)]
_PLACE_HEADS = ("TP.", "TP", "Tp.", "TX.", "Tx.")
_BODY_STARTERS = tuple(
    "can cu|thuc hien|theo |xet |kinh gui|nham |de |trong |qua |tren co so|sau khi|tiep theo|"
    "phuc dap|ngay |hom nay|vao hoi|(kem theo|kem theo|quyet dinh:|quyet nghi:".split("|")
)


def _words_fold(s: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(s))


def _starts_with_any(words: list[str], heads: list[tuple[str, ...]]) -> bool:
    return any(tuple(words[:len(h)]) == h for h in heads)


def _is_upper(s: str) -> bool:
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _is_decor(s: str) -> bool:
    return bool(_DECOR_LINE_RE.match(s))


def _is_name(s: str) -> bool:
    """A person's name as ND30 prints it: 2-6 capitalised words, nothing else."""
    words = s.split()
    if not 2 <= len(words) <= 6:
        return False
    for w in words:
        if not w.isalpha():
            return False
        if len(w) == 1:
            if not w.isupper():
                return False
        elif not (w[0].isupper() and w[1:].islower()):
            return False
    return True


_SURNAMES = frozenset(fold(x) for x in (
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đào Đoàn Vương Trịnh "
    "Trương Lâm Phùng Mai Tô Hà Tạ Châu Quách Lương Lưu Thái Cao Văn Kiều Đinh Tăng Lạc Mạc Thân "
    "Triệu Hứa Từ Nghiêm Khúc Kim Tôn Quan Chu Giang La Diệp Lã Âu Cù Đàm Hầu Ông Ninh Bạch Thạch "
    "Doãn Tống Lạ Tiêu Khổng Cái Vi Viên Mã Chế Phó Nông Lò Hoàng Tưởng"
).split())


def _is_strong_name(s: str) -> bool:
    """A name that starts with a common Vietnamese family name ("Nguyễn Văn A")."""
    return _is_name(s) and fold(s.split()[0]) in _SURNAMES


def _is_placeholder(s: str) -> bool:
    t = s.strip().strip("[]|")
    if not t:
        return True
    f = fold(t)
    if t.startswith("(") and t.endswith(")"):
        return True
    return bool(re.search(r"\bda ky\b|\bchu ky\b|\bky ten\b|\bdong dau\b|\bky so\b|^ky boi\b", f))


def _strip_item(s: str) -> str:
    s = s.strip()
    s = re.sub(r"^[-+•]\s*", "", s)
    return s.rstrip(" ;.,").strip()


# --------------------------------------------------------------------------------------------
# Public helpers


def doc_type_from_title_line(line: str) -> tuple[str, str | None] | None:
    """The (name, code) of a tên loại line such as "KẾ HOẠCH" or "Quyết định"; None otherwise.

    A line ending with ":" ("QUYẾT ĐỊNH:", the enacting words) is not a title.
    """
    if not line:
        return None
    s = normalize_line(line).strip().strip("#*_ ").strip()
    if not s or s.endswith(":"):
        return None
    s = s.rstrip(".")
    key = " ".join(fold(s).split())
    return _TITLE_INDEX.get(key)


def doc_type_from_symbol(symbol: str) -> tuple[str, str | None] | None:
    """The (name, code) for a ký hiệu ("KH-UBND", "NĐ-CP") or a whole number ("30/2020/NĐ-CP").

    The first group of the ký hiệu is the type's abbreviation; when it is none of the decree's, the
    symbol is that of a công văn ("UBND-VX" → ("Công văn", "CV")), unless the number carries a year
    (legal normative documents), in which case the type is unknown.
    """
    if not symbol:
        return None
    s = normalize_line(symbol).strip()
    s = re.sub(r"^(?:S[ốôo]\s*[:.]?\s*)", "", s)
    parts = [p.strip() for p in s.split("/")]
    sym = parts[-1]
    has_year = any(re.fullmatch(r"\d{4}", p) for p in parts[1:-1]) or (
        len(parts) >= 2 and re.fullmatch(r"\d{4}", parts[-2] or "") is not None)
    groups = [g for g in re.split(r"\s*-\s*", sym) if g]
    if not groups or not re.fullmatch(r"[A-Za-zĐđ][A-Za-zĐđ0-9]*", groups[0]):
        return None
    first = groups[0]
    if first in _CODE_INDEX:
        return _CODE_INDEX[first]
    upper = [v for k, v in _CODE_INDEX.items() if k.upper() == first.upper()]
    if len(upper) == 1:
        return upper[0]
    folded = [v for k, v in _CODE_INDEX.items() if fold(k) == fold(first)]
    if len(folded) == 1:
        return folded[0]
    if has_year:
        return None
    return ("Công văn", CONG_VAN_CODE)


def _date_result(d: int | None, m: int | None, y: int | None) -> str | dict[str, int | None]:
    if d is not None and m is not None and y is not None:
        try:
            return _dt.date(y, m, d).isoformat()
        except ValueError:
            pass
    return {"day": d, "month": m, "year": y}


def _find_date(folded: str) -> tuple[int, int, str | dict[str, int | None], str] | None:
    """(start, end, value, form) of the first date in an aligned-folded string."""
    best = None
    m = _DATE_WORDS_RE.search(folded)
    if m:
        d, mo, y = (int(g) if g else None for g in (m.group("d"), m.group("m"), m.group("y")))
        if (d is None or 1 <= d <= 31) and (mo is None or 1 <= mo <= 12):
            best = (m.start(), m.end(), _date_result(d, mo, y), "words")
    for n in _DATE_NUM_RE.finditer(folded):
        d, mo, y = int(n.group("d")), int(n.group("m")), int(n.group("y"))
        if 1 <= d <= 31 and 1 <= mo <= 12:
            start = n.start()
            w = re.search(r"(?<![a-z])ngay\s*$", folded[:start])
            if w:
                start = w.start()  # "ngày 05/01/2020"
            if best is None or start < best[0]:
                best = (start, n.end(), _date_result(d, mo, y), "numeric")
            break
    return best


def parse_date(text: str) -> str | dict[str, int | None] | None:
    """The first date in ``text``: ISO "2020-01-05" when complete, else the parts present.

    Understands "ngày 05 tháng 01 năm 2020", "ngày 5 tháng 1 năm 2020", blanks ("ngày  tháng  năm
    2026", "ngày …… tháng …… năm ……"), "05/01/2020", "5-1-2020" and "05.01.2020" (day first). A
    complete but impossible date ("31/02/2020") comes back as parts, not as ISO. None: no date.
    """
    if not text:
        return None
    found = _find_date(fold_aligned(normalize_line(text)))
    return found[2] if found else None


def _row_key(row: list[str]) -> tuple[str, ...]:
    return tuple(" ".join(fold(normalize_line(c or "")).split()) for c in row)


def parse_table_rows(rows: list[list[str]], *, header: bool = True) -> list[list[str]]:
    """Join a table's rows that continue across pages.

    ``rows[0]`` is the header (pass ``header=False`` for a table without one). A later row equal to
    it (ignoring case, accents and spacing) is the header repeated on a new page and is dropped. A
    row whose first cell (STT) is empty, following a data row, continues that row: its cells are
    appended to the previous row's cells. Rows with no text at all are dropped. The input is not
    modified.
    """
    if not rows:
        return []
    out: list[list[str]] = []
    header_key: tuple[str, ...] | None = None
    start = 0
    if header:
        first = [(c if c is not None else "").strip() for c in rows[0]]
        out.append(first)
        header_key = _row_key(first)
        start = 1
    data_seen = False
    for raw in rows[start:]:
        row = [(c if c is not None else "").strip() for c in raw]
        if not any(row):
            continue
        if header_key is not None and _row_key(row) == header_key:
            continue
        if not row[0] and data_seen and out:
            prev = out[-1]
            for i, cell in enumerate(row):
                if i >= len(prev):
                    prev.append(cell)
                elif cell:
                    prev[i] = f"{prev[i]} {cell}".strip() if prev[i] else cell
            continue
        out.append(row)
        data_seen = True
    return out


# --------------------------------------------------------------------------------------------
# The parser


def _stamps(chunk: str) -> tuple[str | None, str | None, bool] | None:
    """Urgency/secrecy marks when ``chunk`` consists of nothing else: (urgency, secrecy, exact)."""
    c = chunk.strip().strip("[]|() ").strip()
    if not c or not _is_upper(c):
        return None
    f = " ".join(_words_fold(c))
    urgency = secrecy = None
    exact = True
    rest = f
    for key, value, canon in _URGENCY:
        if re.search(rf"(?<![a-z]){key}(?![a-z])", rest):
            urgency = value
            exact = exact and canon in c
            rest = re.sub(rf"(?<![a-z]){key}(?![a-z])", " ", rest, count=1)
            break
    for key, value, canon in _SECRECY:
        if re.search(rf"(?<![a-z]){key}(?![a-z])", rest):
            secrecy = value
            exact = exact and canon in c
            rest = re.sub(rf"(?<![a-z]){key}(?![a-z])", " ", rest, count=1)
            break
    if rest.strip() or (urgency is None and secrecy is None):
        return None
    return urgency, secrecy, exact


def _is_draft_mark(chunk: str) -> bool:
    return bool(re.fullmatch(r"\(?\s*du thao( lan \d+| \d+)?\s*\)?", " ".join(_words_fold(chunk))))


def _caps_word(w: str) -> bool:
    letters = [c for c in w if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _split_caps_prefix(s: str) -> tuple[str, str]:
    """Split "SỞ Y TẾ Thành phố Hồ Chí Minh" into the upper-case words and the rest."""
    words = s.split()
    k = 0
    while k < len(words) and words[k] not in _PLACE_HEADS:
        w = words[k]
        if _caps_word(w) or (k > 0 and not any(c.isalpha() for c in w)):
            k += 1
        else:
            break
    return " ".join(words[:k]), " ".join(words[k:])


class _Parser:
    def __init__(self, text: str) -> None:
        # Lines are not joined here: an interleaved footer would glue the signer's name into a
        # recipient ("- UBND các tỉnh, Nguyễn Văn A" + "thành phố ...;"). Joins are made per element.
        self.lines = normalize_text(text, join_lines=False).split("\n") if text else []
        self.n = len(self.lines)
        self.conf: dict[str, float] = {}
        self.blanks: list[str] = []
        self.r: dict[str, Any] = {
            "national_title": False, "motto": False, "issuer": None, "parent_issuer": None,
            "number": None, "number_year": None, "symbol": None, "doc_type": None,
            "doc_type_code": None, "place": None, "issued_date": None, "title": None,
            "legal_bases": [], "sections": [], "signer": None, "recipients": [], "urgency": None,
            "secrecy": None, "annexes": [], "blanks": self.blanks, "confidence": self.conf,
        }
        self.nat_exact = self.motto_exact = False
        self.stamp_exact = {"urgency": False, "secrecy": False}
        self.agency_lines: list[str] = []
        self.so_found = False
        self.date_found = False
        self.sym_type: tuple[str, str | None] | None = None
        self.entities: list[str] = []
        self.nn_seen = False
        self.place_loose = False
        self.title_type: tuple[str, str | None] | None = None
        self.type_line_idx: int | None = None
        self.vv_title: list[str] = []
        self.title_lines = 0
        self.content_start = 0
        self.main_end = self.n
        self.footer_start = self.n

    # -- header -------------------------------------------------------------------------------

    def _take_stamp(self, chunk: str) -> bool:
        st = _stamps(chunk)
        if not st:
            return False
        urgency, secrecy, exact = st
        if urgency and not self.r["urgency"]:
            self.r["urgency"] = urgency
            self.stamp_exact["urgency"] = exact
        if secrecy and not self.r["secrecy"]:
            self.r["secrecy"] = secrecy
            self.stamp_exact["secrecy"] = exact
        return True

    def _take_date(self, rem: str) -> str | None:
        """Find "<place>, ngày ..." in ``rem``; record it and return what is left of the line."""
        found = _find_date(fold_aligned(rem))
        if not found:
            return None
        start, end, value, _form = found
        pre = rem[:start].rstrip()
        if pre and not pre.endswith(","):
            # "<place>, ngày ..." with the comma lost: only a short run of words without digits
            if _form != "words" or re.search(r"\d", pre) or len(pre.split()) > 10:
                return None
            self.place_loose = True
            pre += ","
        self.date_found = True
        left = ""
        if pre:
            pre = pre[:-1].strip()
            caps, place = _split_caps_prefix(pre)
            if not place and caps and not _starts_with_any(_words_fold(caps), _ORG_HEADS):
                place, caps = caps, ""  # an upper-case place name: "HÀ NỘI, ngày ..."
            left = caps
            if place and not re.fullmatch(r"[\s.…_\-]*", place):
                self.r["place"] = place
            else:
                self.blanks.append("place")  # "…………, ngày": the place is left blank
        if isinstance(value, dict):
            for part in ("day", "month", "year"):
                if value[part] is None:
                    self.blanks.append(f"issued_date.{part}")
        self.r["issued_date"] = value
        return (left + " " + rem[end:]).strip()

    def _take_so(self, rem: str) -> str | None:
        f = fold_aligned(rem)
        m = _SO_RE.match(f)
        if not m:
            return None
        self.so_found = True
        num = m.group("num")
        self.r["number"] = rem[m.start("num"):m.end("num")] if num else None
        if not num:
            self.blanks.append("number")
        if m.group("year"):
            self.r["number_year"] = m.group("year")
        sym = rem[m.start("sym"):m.end("sym")]
        self.r["symbol"] = re.sub(r"\s*-\s*", "-", sym)
        return rem[m.end():].strip()

    def _header(self) -> None:
        i = 0
        noise = 0
        vv_open = False
        limit = min(self.n, 40)
        while i < limit:
            raw = self.lines[i]
            line = raw.strip()
            if not line:
                vv_open = False
                i += 1
                continue
            t = doc_type_from_title_line(line)
            if t and _is_upper(line):
                self.title_type = t
                self.type_line_idx = i
                self.content_start = i + 1
                return
            f = fold(line)
            if f.startswith(("kinh gui", "can cu")):
                break
            rem = line
            known = False
            fa = fold_aligned(rem)
            m = _NAT_RE.search(fa)
            if m:
                self.r["national_title"] = True
                self.nat_exact = self.nat_exact or NATIONAL_TITLE in rem
                rem = (rem[:m.start()] + " " + rem[m.end():]).strip()
                known = True
            fa = fold_aligned(rem)
            m = _MOTTO_RE.search(fa)
            if m:
                self.r["motto"] = True
                self.motto_exact = self.motto_exact or MOTTO in rem
                rem = (rem[:m.start()] + " " + rem[m.end():]).strip()
                known = True
            rem = " ".join(_UNDERLINE_RUN_RE.sub(" ", rem).split())
            if _is_decor(rem):
                i += 1
                continue
            if not self.so_found:
                after = self._take_so(rem)
                if after is not None:
                    rem, known, vv_open = after, True, False
            if not self.date_found:
                after = self._take_date(rem)
                if after is not None:
                    rem, known = after, True
            if not rem:
                i += 1
                continue
            fr = fold(rem)
            if _VV_RE.match(fr):
                vv_open = True
                text = rem[_VV_RE.match(fold_aligned(rem)).end():].strip()
                if text:
                    self.vv_title.append(text)
                i += 1
                continue
            if self._take_stamp(rem):
                i += 1
                continue
            if _is_draft_mark(rem):
                i += 1
                continue
            if _is_upper(rem):
                if not self.so_found and not self.vv_title:
                    self.agency_lines.append(rem)
                i += 1
                continue
            if vv_open and self._vv_continues(rem):
                self.vv_title.append(rem)
                i += 1
                continue
            if known:
                i += 1
                continue
            if (self.so_found or self.date_found or self.vv_title or self.agency_lines
                    or self.r["national_title"] or self.r["motto"]):
                break
            noise += 1
            if noise > 3:  # no ND30 header at the top of this text
                self.content_start = 0
                return
            i += 1
        found = (self.so_found or self.date_found or self.vv_title or self.agency_lines
                 or self.r["national_title"] or self.r["motto"] or self.r["urgency"] or self.r["secrecy"])
        self.content_start = i if found else 0

    def _vv_continues(self, s: str) -> bool:
        f = fold(s)
        if f.startswith(_BODY_STARTERS) or s.endswith((":", ".", ";")):
            return False
        return len(s.split()) <= 16 and not _starts_marker(s)

    # -- title and preamble -----------------------------------------------------------------------

    def _title(self) -> None:
        if self.type_line_idx is None:
            if self.vv_title:
                self.r["title"] = " ".join(self.vv_title)
                self.title_lines = len(self.vv_title)
            return
        j = self.type_line_idx + 1
        while j < self.n and not self.lines[j].strip():
            j += 1
        parts: list[str] = []
        while j < self.n:
            s = self.lines[j].strip()
            if not s or _is_decor(s) or _is_upper(s) or _starts_marker(s):
                break
            if fold(s).startswith(_BODY_STARTERS) or (parts and parts[-1].endswith((".", ":", ";"))):
                break
            if parts and (s.endswith(":") or len(s.split()) > 25):
                break
            parts.append(s)
            j += 1
        if parts:
            self.r["title"] = " ".join(parts)
            self.title_lines = len(parts)
            self.content_start = j

    # -- annexes and footer -----------------------------------------------------------------------

    def _annexes(self) -> None:
        i = self.content_start
        while i < self.n:
            s = self.lines[i].strip()
            m = _ANNEX_RE.match(s)
            if m and (_is_upper(s) or not m.group("rest").strip(" .:")):
                self.main_end = min(self.main_end, i)
                title = s
                if not m.group("rest").strip(" .:"):
                    j = i + 1
                    while j < self.n and not self.lines[j].strip():
                        j += 1
                    if j < self.n and _is_upper(self.lines[j]) and not _ANNEX_RE.match(self.lines[j]):
                        title = f"{s} {self.lines[j].strip()}"
                        i = j
                self.r["annexes"].append(title)
            i += 1

    def _find_footer(self) -> None:
        lo, hi = self.content_start, self.main_end
        nn = next((k for k in range(lo, hi) if fold(self.lines[k]).lstrip().startswith("noi nhan")
                   or re.search(r"\bnoi nhan\s*:", fold(self.lines[k]))), None)
        auth = next((k for k in range(lo, hi) if _auth_piece(self.lines[k].strip())), None)
        # An interleaved first recipient line can carry the authority: "- Như trên; KT. CHỦ TỊCH".
        cands = [k for k in (nn, auth) if k is not None]
        slash = None
        end_scan = min(cands) if cands else hi
        for k in range(lo, end_scan):
            if self.lines[k].rstrip().endswith("/."):
                slash = k
        if slash is not None:
            cands.append(slash + 1)
        if cands:
            start = min(cands)
        else:
            start = hi
            for k in range(hi - 1, max(lo, hi - 15) - 1, -1):
                if _is_name(self.lines[k].strip()):
                    j = k - 1
                    while j >= lo and (_is_placeholder(self.lines[j]) or _is_decor(self.lines[j])):
                        j -= 1
                    if j >= lo and _is_upper(self.lines[j]) and not self.lines[j].rstrip().endswith(":"):
                        while j - 1 >= lo and _is_upper(self.lines[j - 1]) and not _starts_marker(
                                self.lines[j - 1]) and not self.lines[j - 1].rstrip().endswith(":"):
                            j -= 1
                        start = j
                    break
        # A signer printed above "Nơi nhận" without an authority line: position + name.
        if auth is None and nn is not None and start == nn:
            k = nn - 1
            while k >= lo and (_is_placeholder(self.lines[k]) or _is_decor(self.lines[k])):
                k -= 1
            if k >= lo and _is_name(self.lines[k].strip()):
                j = k - 1
                while j >= lo and (_is_placeholder(self.lines[j]) or _is_decor(self.lines[j])):
                    j -= 1
                if j >= lo and _is_upper(self.lines[j]) and not _starts_marker(self.lines[j]):
                    start = j
        self.footer_start = max(lo, start)

    def _footer(self) -> None:
        pieces: list[tuple[str, str]] = []  # (kind, text): kind in nn, left, right, other
        for k in range(self.footer_start, self.main_end):
            s = self.lines[k].strip()
            if not s:
                continue
            pieces.extend(_split_footer_line(s))
        recipients: list[str] = []
        signer_pieces: list[str] = []
        in_nn = nn_seen = False
        for kind, text in pieces:
            if kind == "nn":
                in_nn = nn_seen = True
                continue
            if kind == "right":
                signer_pieces.append(text)
                continue
            if in_nn:
                if text[:1] in "-+•":
                    recipients.append(text)
                    continue
                if recipients and not recipients[-1].endswith((";", ".")) and not _signer_like(text):
                    recipients[-1] = f"{recipients[-1]} {text}"  # a recipient wrapped onto two lines
                    continue
                in_nn = False
            signer_pieces.append(text)
        signer = _signer(signer_pieces)
        if signer is None or signer["name"] is None:
            # Text joined across lines before it reached the parser can hide the right-hand column
            # inside a recipient; look there only when the signature block lacks a name.
            lifted: list[tuple[str, str]] = []
            recipients = [_lift_glued_signer(x, lifted) for x in recipients]
            if lifted:
                signer = _signer(signer_pieces + [t for _, t in lifted[::-1]])
        self.r["recipients"] = [r for r in (_strip_item(x) for x in recipients) if r]
        self.nn_seen = nn_seen
        self.r["signer"] = signer

    # -- preamble and sections ------------------------------------------------------------------

    def _body(self) -> None:
        lines = self.lines
        i = self.content_start
        end = min(self.footer_start, self.main_end)
        bases: list[str] = []
        items: list[tuple[str, str, str]] = []  # kind, marker, heading
        in_kinh_gui = False
        sections_started = False
        bases_open = True
        while i < end:
            s = lines[i].strip()
            if not s or _is_decor(s):
                in_kinh_gui = False
                i += 1
                continue
            f = fold(s)
            if f.startswith("kinh gui"):
                in_kinh_gui = True
                i += 1
                continue
            if in_kinh_gui:
                if s[:1] in "-+•":
                    i += 1
                    continue
                in_kinh_gui = False
            if bases_open and not sections_started and f.startswith("can cu"):
                item = s
                j = i + 1
                while not item.rstrip().endswith((";", ".")) and j < end:
                    nxt = lines[j].strip()
                    if not nxt or _is_decor(nxt) or _is_upper(nxt) or _starts_marker(nxt) or fold(
                            nxt).startswith(("can cu", "theo ", "xet ", "quyet dinh", "quyet nghi")):
                        break
                    item = f"{item} {nxt}"
                    j += 1
                bases.append(item.rstrip().rstrip(";.").rstrip())
                i = j
                continue
            if _is_upper(s) and s.endswith(":"):
                bases_open = False  # "QUYẾT ĐỊNH:", "QUYẾT NGHỊ:"
                i += 1
                continue
            marker = _match_marker(s)
            if marker:
                kind, mk, heading = marker
                if kind in ("part", "chapter", "section", "subsection") and not heading:
                    j = i + 1
                    while j < end and not lines[j].strip():
                        j += 1
                    if j < end and _is_upper(lines[j]) and not _match_marker(lines[j].strip()):
                        heading = lines[j].strip()
                        i = j
                while i + 1 < end and heading and continues_line(heading, lines[i + 1].strip()):
                    i += 1
                    heading = f"{heading} {lines[i].strip()}"
                items.append((kind, mk, heading))
                sections_started = True
                bases_open = False
                i += 1
                continue
            if bases and not f.startswith("can cu"):
                bases_open = False
            i += 1
        self.r["legal_bases"] = bases
        ranks = sorted({_RANKS[k] for k, _, _ in items})
        level_of = {rank: n + 1 for n, rank in enumerate(ranks)}
        self.r["sections"] = [{"level": level_of[_RANKS[k]], "marker": mk, "heading": h}
                              for k, mk, h in items]

    # -- standalone marks anywhere before the footer -----------------------------------------------

    def _marks(self) -> None:
        for k in range(0, min(self.footer_start, self.main_end)):
            s = self.lines[k].strip()
            if s and len(s) <= 30:
                self._take_stamp(s)

    # -- assembly ---------------------------------------------------------------------------------

    def _issuer(self) -> None:
        entities: list[list[str]] = []
        for line in self.agency_lines:
            words = _words_fold(line)
            new_org = _starts_with_any(words, _ORG_HEADS) and not _starts_with_any(words, _GEO_HEADS)
            if not entities or new_org:
                entities.append([line])
            else:
                entities[-1].append(line)
        names = [" ".join(e) for e in entities]
        self.entities = names
        if names:
            self.r["issuer"] = names[-1]
            self.r["parent_issuer"] = " ".join(names[:-1]) or None

    def _doc_type(self) -> None:
        sym_type = None
        if self.r["symbol"]:
            year = self.r["number_year"]
            full = f"0/{year}/{self.r['symbol']}" if year else self.r["symbol"]
            sym_type = doc_type_from_symbol(full)
        self.sym_type = sym_type
        chosen = self.title_type or sym_type
        if chosen is None and self.vv_title:
            chosen = ("Công văn", CONG_VAN_CODE)
        if chosen:
            self.r["doc_type"], self.r["doc_type_code"] = chosen

    def _confidence(self) -> None:
        r, c = self.r, self.conf
        c["national_title"] = (1.0 if self.nat_exact else 0.8) if r["national_title"] else 0.7
        c["motto"] = (1.0 if self.motto_exact else 0.8) if r["motto"] else 0.7
        ents = self.entities
        if r["issuer"]:
            known = _starts_with_any(_words_fold(r["issuer"]), _ORG_HEADS)
            c["issuer"] = (0.9 if known else 0.6) - (0.15 if len(ents) > 2 else 0.0)
        else:
            c["issuer"] = 0.3
        if r["parent_issuer"]:
            c["parent_issuer"] = 0.85 if len(ents) == 2 else 0.6
        else:
            c["parent_issuer"] = 0.8 if r["issuer"] else 0.3
        if self.so_found:
            c["number"] = 0.95 if r["number"] else 0.9
            c["number_year"] = 0.95
            c["symbol"] = 0.95 if self.sym_type else 0.7
        else:
            c["number"] = c["number_year"] = c["symbol"] = 0.3
        if r["doc_type"]:
            if self.title_type and self.sym_type:
                c["doc_type"] = 1.0 if self.title_type == self.sym_type else 0.75
            elif self.title_type:
                c["doc_type"] = 0.9
            elif r["doc_type"] == "Công văn":
                c["doc_type"] = 0.85 if self.vv_title else 0.7
            else:
                c["doc_type"] = 0.8
            c["doc_type_code"] = c["doc_type"] * (0.8 if r["doc_type_code"] in (CONG_VAN_CODE, None) else 1.0)
        else:
            c["doc_type"] = c["doc_type_code"] = 0.0
        if r["place"] or "place" in self.blanks:
            c["place"] = 0.7 if self.place_loose else 0.9
        else:
            c["place"] = 0.5 if self.date_found else 0.3
        v = r["issued_date"]
        if isinstance(v, str):
            c["issued_date"] = 0.95
        elif isinstance(v, dict):
            complete = all(v[k] is not None for k in ("day", "month", "year"))
            c["issued_date"] = 0.3 if complete else 0.9
        else:
            c["issued_date"] = 0.3
        if r["title"]:
            c["title"] = 0.9 if self.title_lines <= 1 else 0.75
        else:
            c["title"] = 0.4
        bases = r["legal_bases"]
        c["legal_bases"] = 0.9 if bases else 0.6
        c["sections"] = 0.8 if r["sections"] else 0.5
        sg = r["signer"]
        if sg:
            c["signer"] = 0.9 if sg["name"] and sg["position"] else 0.6
        else:
            c["signer"] = 0.2
        c["recipients"] = 0.9 if r["recipients"] else (0.4 if self.nn_seen else 0.5)
        c["urgency"] = (1.0 if self.stamp_exact["urgency"] else 0.6) if r["urgency"] else 0.8
        c["secrecy"] = (1.0 if self.stamp_exact["secrecy"] else 0.6) if r["secrecy"] else 0.8
        c["annexes"] = 0.85 if r["annexes"] else 0.7
        for k in c:
            c[k] = round(max(0.0, min(1.0, c[k])), 2)

    def run(self) -> dict[str, Any]:
        if not self.lines or self.lines == [""]:
            self._confidence()
            return self.r
        self._header()
        self._title()
        self._annexes()
        self._find_footer()
        self._footer()
        self._body()
        self._marks()
        self._issuer()
        self._doc_type()
        order = ["number", "place", "issued_date.day", "issued_date.month", "issued_date.year"]
        self.blanks[:] = sorted(set(self.blanks), key=lambda b: order.index(b) if b in order else len(order))
        self._confidence()
        return self.r


# --------------------------------------------------------------------------------------------
# Footer helpers


def _auth_piece(s: str) -> re.Match[str] | None:
    m = _AUTH_RE.match(s)
    if not m:
        return None
    if m.group("a") == "Q" and not m.group("dot"):
        return None
    if not _is_upper(m.group("rest")):
        return None
    return m


def _signer_like(s: str) -> bool:
    s = s.strip()
    return bool(_auth_piece(s)) or (_is_upper(s) and not s.endswith((";", ":"))) or _is_name(s) or (
        _is_placeholder(s))


_SIGNATURE_NOTE_RE = re.compile(r"\((?:[^()]*)\)")


def _is_signature_note(s: str) -> bool:
    """"(Đã ký)", "(Ký tên, đóng dấu)", "[Đã ký]": a note standing for the signature."""
    return bool(re.search(r"\bda ky\b|\bchu ky\b|\bky ten\b|\bdong dau\b|\bky so\b", fold(s)))


_GLUED_RE = re.compile(r"(?<=[,;.] )(?P<chunk>[^\W\d_][^\W\d_]*(?: [^\W\d_]+){1,5})")


def _lift_glued_signer(s: str, out: list[tuple[str, str]]) -> str:
    """Take the signer's name out of the middle of a recipient line.

    Text that was already joined across lines ("- UBND các tỉnh, Nguyễn Văn A thành phố ...;") has
    the right-hand column inside a recipient: a name starting with a common family name, after ", "
    (or "; ", ". ") and followed by a lower-case word.
    """
    for m in _GLUED_RE.finditer(s):
        words = m.group("chunk").split()
        # the longest run of capitalised words that is a name and is followed by a lower-case word
        for k in range(len(words), 1, -1):
            chunk = " ".join(words[:k])
            rest = words[k:]
            if _is_strong_name(chunk) and rest and rest[0][:1].islower():
                out.append(("right", chunk))
                start = m.start()
                return " ".join((s[:start] + s[start + len(chunk):]).split())
    return s


def _split_footer_line(s: str) -> list[tuple[str, str]]:
    """Pieces of a footer line: ("nn", _) for "Nơi nhận:", ("left", item), ("right", signer text),
    ("other", a line that is not split)."""
    out: list[tuple[str, str]] = []
    # A signature note inside a recipient line belongs to the right-hand column.
    if s[:1] in "-+•":
        for m in list(_SIGNATURE_NOTE_RE.finditer(s))[::-1]:
            if _is_signature_note(m.group(0)):
                out.append(("right", m.group(0)))
                s = (s[:m.start()] + " " + s[m.end():]).strip()
                s = " ".join(s.split())
    f = fold_aligned(s)
    m = re.search(r"noi\s*nhan\s*:?", f)
    if m and (m.start() == 0 or f[m.start() - 1] == " "):
        before, after = s[:m.start()].strip(), s[m.end():].strip()
        if before:
            out.append(("right", before))
        out.append(("nn", "Nơi nhận:"))
        if after:
            if after[:1] in "-+•":
                out.extend(_split_footer_line(after))
            else:
                out.append(("right", after))
        return out
    if s[:1] in "-+•":
        for p in range(1, len(s) - 1):
            if s[p] in ";.," and s[p + 1] == " ":
                tail = s[p + 2:].strip()
                if not tail or tail.endswith(";"):
                    continue
                if s[p] == ",":
                    ok = bool(_auth_piece(tail)) or _is_strong_name(tail)
                else:
                    ok = _signer_like(tail)
                if ok:
                    return [("left", s[:p + 1]), ("right", tail), *out]
        return [("left", s), *out]
    if not _signer_like(s):
        # a wrapped recipient with the signer's text after it: "cơ quan thuộc Chính phủ; PHÓ CHỦ TỊCH"
        for p in range(1, len(s) - 1):
            if s[p] in ";." and s[p + 1] == " ":
                tail = s[p + 2:].strip()
                if tail and not tail.endswith(";") and _signer_like(tail):
                    return [("other", s[:p + 1]), ("right", tail), *out]
    return [("other", s), *out]


def _signer(pieces: list[str]) -> dict[str, Any] | None:
    ps = [p.strip().strip("[]|").strip() for p in pieces]
    ps = [p for p in ps if p and not _is_placeholder(p) and not _is_decor(p)]
    if not ps:
        return None
    auth_idx = [k for k, p in enumerate(ps) if _auth_piece(p)]
    authority = authority_of = position = name = None
    start = 0
    if auth_idx:
        a = auth_idx[-1]
        m = _auth_piece(ps[a])
        authority = m.group("a") + "."
        authority_of = m.group("rest").strip()
        start = a + 1
    pos_parts: list[str] = []
    k = start
    while k < len(ps):
        p = ps[k]
        if _is_name(p):
            name = p
            break
        if _is_upper(p) and not _auth_piece(p):
            words = _words_fold(p)
            if authority == "TM." and not pos_parts and _starts_with_any(words, _GEO_HEADS):
                authority_of = f"{authority_of} {p}"
            else:
                pos_parts.append(p)
        k += 1
    if not auth_idx and not name:
        return None
    if not auth_idx:
        # position: the upper-case pieces just before the name
        pos_parts = []
        j = ps.index(name) - 1
        while j >= 0 and _is_upper(ps[j]):
            pos_parts.insert(0, ps[j])
            j -= 1
    position = " ".join(pos_parts) or None
    if position is None and authority == "Q.":
        position = authority_of
    if not (authority or position or name):
        return None
    return {"authority": authority, "authority_of": authority_of, "position": position, "name": name}


def _match_marker(s: str) -> tuple[str, str, str] | None:
    for kind, rx in _MARKER_RES:
        m = rx.match(s)
        if not m:
            continue
        h = (m.group("h") or "").strip()
        if kind == "part":
            mk = f"Phần {m.group('n')}"
        elif kind == "chapter":
            mk = f"Chương {m.group('n')}"
        elif kind == "section":
            mk = f"Mục {m.group('n')}"
        elif kind == "subsection":
            mk = f"Tiểu mục {m.group('n')}"
        elif kind == "article":
            mk = f"Điều {m.group('n')}."
        elif kind in ("roman", "number"):
            mk = f"{m.group('n')}."
        elif kind == "decimal":
            mk = f"{m.group('n')}."
        elif kind == "letter":
            mk = f"{m.group('n')})"
        elif kind == "dash":
            mk = "-"
        else:
            mk = "+"
        return kind, mk, h
    return None


def _starts_marker(s: str) -> bool:
    return _match_marker(s.strip()) is not None


def parse(text: str) -> dict[str, Any]:
    """Parse the plain text of an ND30 administrative document; see the module docstring.

    Returns a dict with exactly these keys: national_title, motto, issuer, parent_issuer, number,
    number_year, symbol, doc_type, doc_type_code, place, issued_date, title, legal_bases, sections,
    signer, recipients, urgency, secrecy, annexes, blanks, confidence.
    """
    return _Parser(text or "").run()
