"""Personal data in Vietnamese documents: detection and redaction.

What is found, and how each is checked beyond its shape (so that a 12-digit budget figure is not
taken for an identity number):

- ``cccd`` — căn cước công dân, 12 digits: the first three are a province code of the 63 pre-2025
  provinces (Thông tư 07/2016/TT-BCA, Điều 7), the fourth gives century and sex (0/1: 1900s male/female,
  2/3: 2000s, ...), the fifth and sixth the birth year's last two digits, which must not lie in the
  future for the century given.
- ``cmnd`` — the old 9-digit chứng minh nhân dân, only next to its name ("CMND", "chứng minh"), since
  nine digits alone are too common.
- ``tax_code`` — mã số thuế: 10 digits whose tenth is the check digit (weights 31, 29, 23, 19, 17, 13,
  7, 5, 3; 10 − sum mod 11), optionally with a 3-digit branch suffix (``0301234567-001``), or next to
  "MST"/"mã số thuế".
- ``phone`` — mobile (03x, 05x, 07x, 08x, 09x) and landline (02xx) numbers, with or without +84, spaces
  or dots.
- ``email``; ``plate`` — licence plates (``51F-123.45``, ``59X1-123.45``, ``29A 12345``) with a real
  province code (11–99);
- ``dob`` — a date next to "sinh ngày", "ngày sinh", "năm sinh", "sinh năm";
- ``address`` — the value after "Địa chỉ", "Thường trú", "Nơi thường trú", "Nơi ở hiện tại", "Chỗ ở",
  "Quê quán" (to the end of the line), and house number + street ("số 12 đường Lê Lợi").

Each hit has its kind, the text, the span (character offsets) and a score. :func:`redact` replaces the
spans with a label (``[CCCD]``) or a mask of the same length.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass

KINDS = {
    "cccd": ("Số căn cước công dân", "Citizen ID number (CCCD)"),
    "cmnd": ("Số chứng minh nhân dân", "Old ID card number (CMND)"),
    "tax_code": ("Mã số thuế", "Tax code"),
    "phone": ("Số điện thoại", "Phone number"),
    "email": ("Thư điện tử", "E-mail"),
    "plate": ("Biển số xe", "Licence plate"),
    "dob": ("Ngày sinh", "Date of birth"),
    "address": ("Địa chỉ", "Address"),
}
LABELS = {"cccd": "[CCCD]", "cmnd": "[CMND]", "tax_code": "[MST]", "phone": "[SĐT]", "email": "[EMAIL]",
          "plate": "[BIỂN SỐ]", "dob": "[NGÀY SINH]", "address": "[ĐỊA CHỈ]"}

# Thông tư 07/2016/TT-BCA: the province codes that open a CCCD number (the 63 provinces before 2025).
CCCD_PROVINCES = frozenset(f"{n:03d}" for n in (
    1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36, 37, 38, 40, 42, 44,
    45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74, 75, 77, 79, 80, 82, 83, 84, 86, 87, 89,
    91, 92, 93, 94, 95, 96))
TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


@dataclass(frozen=True)
class Hit:
    kind: str
    text: str
    start: int
    end: int
    score: float
    detail: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def cccd_info(digits: str, today: dt.date | None = None) -> dict | None:
    """Province code, sex and birth year of a CCCD number, or None when it cannot be one."""
    if not re.fullmatch(r"\d{12}", digits) or digits[:3] not in CCCD_PROVINCES:
        return None
    century_sex = int(digits[3])
    century = 1900 + 100 * (century_sex // 2)
    year = century + int(digits[4:6])
    this_year = (today or dt.date.today()).year
    if year > this_year or year < 1900:
        return None
    return {"province_code": digits[:3], "sex": "nữ" if century_sex % 2 else "nam", "birth_year": year}


def tax_code_valid(code: str) -> bool:
    """The check digit of a 10-digit mã số thuế (the first ten digits of a 13-digit branch code)."""
    digits = re.sub(r"\D", "", code)[:10]
    if len(digits) != 10:
        return False
    check = 10 - sum(int(d) * w for d, w in zip(digits, TAX_WEIGHTS)) % 11
    return check < 10 and check == int(digits[9])


_D = r"(?<![\d.,/])"  # not inside a longer number
_E = r"(?![\d/]|[.,]\d)"
RE_12 = re.compile(_D + r"(\d{12})" + _E)
RE_CMND = re.compile(r"(?i)(?:CMND|CMTND|chứng\s+minh(?:\s+nhân\s+dân|\s+thư)?)\D{0,25}?" + _D + r"(\d{9}|\d{12})" + _E)
RE_TAX = re.compile(_D + r"(\d{10})(?:-(\d{3}))?" + _E)
RE_TAX_CONTEXT = re.compile(r"(?i)(?:MST|mã\s+số\s+thuế)\s*:?\s*(\d{10}(?:-\d{3})?|\d{12})" + _E)
RE_PHONE = re.compile(r"(?<![\d+])((?:\+?84|0)[\s.]?(?:[35789]\d(?:[\s.]?\d){7}|2\d(?:[\s.]?\d){8}))(?![\d])")
RE_EMAIL = re.compile(r"(?i)(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
RE_PLATE = re.compile(r"(?<![\w-])([1-9]\d)[\s-]?([A-Z]{1,2}\d?|[A-Z]\d)[\s-]?(\d{3}\.\d{2}|\d{4,5})(?!\w|\.\d)")
RE_DOB = re.compile(r"(?i)(?:sinh\s+ngày|ngày[,\s]+tháng[,\s]+năm\s+sinh|ngày\s+sinh|năm\s+sinh|sinh\s+năm)\s*:?\s*"
                    r"((?:\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*\d{4})|(?:\d{1,2}\s+tháng\s+\d{1,2}\s+năm\s+\d{4})|\d{4})")
RE_ADDRESS = re.compile(r"(?im)(?:địa\s+chỉ(?:\s+thường\s+trú|\s+liên\s+hệ)?|nơi\s+thường\s+trú|thường\s+trú|"
                        r"nơi\s+ở\s+hiện\s+(?:nay|tại)|chỗ\s+ở\s+hiện\s+(?:nay|tại)|quê\s+quán|trú\s+tại)\s*:\s*([^\n;]{6,200})")
RE_STREET = re.compile(r"\b(?:[Ss]ố\s+)?\d{1,4}[A-Z]?(?:/\d{1,4}[A-Z]?){0,3}\s+(?:[Đđ]ường|[Đđ]\.|[Pp]hố|[Hh]ẻm|[Nn]gõ)"
                       r"((?:\s+\w+){1,5})")
PHONE_CONTEXT = re.compile(r"(?i)(điện\s*thoại|đt|sđt|dđ|di\s*động|liên\s*hệ|hotline|phone|tel|fax|zalo)\W{0,6}"
                           r"(?:\S+\W{0,3}){0,2}$")


NEW_ITEM = re.compile(r"^\s*(?:[-+•*]|\d{1,3}[.)]|[a-zđ][.)]|[^\n:]{1,30}:)")


def _flatten(text: str) -> str:
    """Line breaks inside a paragraph become spaces (same length, so offsets stay valid): a phone number or an
    address that wraps onto the next line is found whole. A break before a new item (a dash, "1.", "Điện
    thoại:") stays."""
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i < len(lines) - 1:
            nxt = lines[i + 1]
            out.append("\n" if not line.strip() or not nxt.strip() or NEW_ITEM.match(nxt) else " ")
    return "".join(out)


def detect(text: str, *, today: dt.date | None = None) -> list[Hit]:
    """Every personal-data hit in ``text``, in order, overlaps resolved (the longer, surer hit wins)."""
    original, text = text, _flatten(text)
    hits: list[Hit] = []
    for m in RE_CMND.finditer(text):
        kind = "cccd" if len(m.group(1)) == 12 and cccd_info(m.group(1), today) else "cmnd"
        hits.append(Hit(kind, m.group(1), m.start(1), m.end(1), 0.95, "next to 'CMND'"))
    for m in RE_12.finditer(text):
        info = cccd_info(m.group(1), today)
        if info:
            hits.append(Hit("cccd", m.group(1), m.start(1), m.end(1), 0.9,
                            f"province {info['province_code']}, {info['sex']}, born {info['birth_year']}"))
    for m in RE_TAX_CONTEXT.finditer(text):
        hits.append(Hit("tax_code", m.group(1), m.start(1), m.end(1), 0.95, "next to 'MST'"))
    for m in RE_TAX.finditer(text):
        if tax_code_valid(m.group(1)):
            hits.append(Hit("tax_code", m.group(0), m.start(), m.end(), 0.8 if m.group(2) else 0.7, "check digit"))
    for m in RE_PHONE.finditer(text):
        # HCMC's tax codes start with 03 like Viettel's mobiles: words before the number decide
        near = PHONE_CONTEXT.search(text[max(0, m.start(1) - 30):m.start(1)])
        hits.append(Hit("phone", m.group(1), m.start(1), m.end(1), 0.95 if near else 0.65))
    for m in RE_EMAIL.finditer(text):
        hits.append(Hit("email", m.group(0), m.start(), m.end(), 0.99))
    for m in RE_PLATE.finditer(text):
        hits.append(Hit("plate", m.group(0), m.start(), m.end(), 0.8))
    for m in RE_DOB.finditer(text):
        hits.append(Hit("dob", m.group(1), m.start(1), m.end(1), 0.9))
    for m in RE_ADDRESS.finditer(text):
        value = m.group(1).rstrip(" .,/")  # "./." closes a document
        start = m.start(1) + len(value) - len(value.lstrip())
        hits.append(Hit("address", value.strip(), start, m.start(1) + len(value), 0.85))
    for m in RE_STREET.finditer(text):
        # the street name: the capitalised words after "đường" ("Nguyễn Huệ", not "trước ngày")
        end, words = m.start(1), 0
        for w in re.finditer(r"\s+(\w+)", m.group(1)):
            if not (w.group(1)[0].isupper() or w.group(1)[0].isdigit()):
                break
            end, words = m.start(1) + w.end(), words + 1
        if words:
            hits.append(Hit("address", text[m.start():end], m.start(), end, 0.6))
    # report the text as it stands in the document (with its line breaks), at the same offsets
    return [Hit(h.kind, original[h.start:h.end], h.start, h.end, h.score, h.detail) for h in _resolve(hits)]


def _resolve(hits: list[Hit]) -> list[Hit]:
    chosen: list[Hit] = []
    for h in sorted(hits, key=lambda h: (-(h.end - h.start) * h.score, h.start)):
        if all(h.end <= c.start or h.start >= c.end for c in chosen):
            chosen.append(h)
    return sorted(chosen, key=lambda h: h.start)


def redact(text: str, hits: list[Hit] | None = None, *, style: str = "label") -> str:
    """``text`` with every hit replaced by its label (``[CCCD]``) or, with ``style="mask"``, by █ of equal length."""
    hits = detect(text) if hits is None else hits
    out, pos = [], 0
    for h in sorted(hits, key=lambda h: h.start):
        if h.start < pos:
            continue
        out.append(text[pos:h.start])
        out.append(LABELS[h.kind] if style == "label" else "█" * (h.end - h.start))
        pos = h.end
    out.append(text[pos:])
    return "".join(out)


def summary(hits: list[Hit]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for h in hits:
        counts[h.kind] = counts.get(h.kind, 0) + 1
    return counts
