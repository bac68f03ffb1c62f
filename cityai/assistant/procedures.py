"""Administrative procedures (thủ tục hành chính): reading records into one structured form.

Two input shapes are read:

- the national procedure records crawled from the public-service portal (dichvucong.gov.vn; the file
  ``../shared/data/tthc/procedures.jsonl.gz``): Vietnamese field names (``ma_thu_tuc``, ``ten_thu_tuc``,
  ``cach_thuc_thuc_hien`` ...) whose tables were flattened into text without separators — "Hình thức
  nộpThời gianPhí, lệ phíMô tảTrực tiếp15 Ngày làm việcMiễn phí...". :func:`from_portal` cuts them back
  into rows by the shapes the portal uses (a channel name followed by a number or "Không có thông tin";
  a document line ending in its quantity "1 bản chính"; a legal basis ending in its number);
- CityAI's own structured records (the demo set an agency writes, and what :func:`to_record` gives back):
  ``{"code", "name", "level", "field", "audience", "agency", "address", "channels", "documents", "steps",
  "legal", "conditions", "results", "url"}``.

What the portal does not say stays empty — an unknown fee is ``None``, never a guess: the assistant says
"not stated" and points to the agency or the 1022 hotline. The sections' names (:data:`SECTIONS`) are
what citations point at ("procedure 1.000178, section fee").
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from pathlib import Path
from typing import Any, Iterator

SECTIONS = {
    "steps": ("Trình tự thực hiện", "Steps"),
    "documents": ("Thành phần hồ sơ", "Documents to prepare"),
    "fee": ("Phí, lệ phí", "Fees"),
    "time": ("Thời hạn giải quyết", "Processing time"),
    "where": ("Nơi và cách nộp", "Where and how to submit"),
    "legal": ("Căn cứ pháp lý", "Legal basis"),
    "conditions": ("Yêu cầu, điều kiện", "Conditions"),
    "results": ("Kết quả", "Result"),
    "overview": ("Thông tin chung", "Overview"),
}
NO_INFO = "Không có thông tin"
CHANNELS = ("Trực tiếp", "Trực tuyến", "Dịch vụ bưu chính")
MAX_STEP_LINES = 40
MAX_SECTION_CHARS = 6000


class ProcedureError(ValueError):
    """A record that cannot be read (the message names the field)."""


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_LINE_CHARS = 2000
MAX_ITEMS = 200


def clean_text(value: str) -> str:
    """Text as stored and shown: lone surrogates as U+FFFD, no control characters (newlines and tabs kept)."""
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", value))


def _nfc(value: Any) -> str:
    """A string as stored: NFC, lone surrogates as U+FFFD, no control characters, spaces collapsed."""
    text = unicodedata.normalize("NFC", clean_text(str(value or "")))
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()


def _info(value: Any) -> str:
    text = _nfc(value)
    return "" if text.rstrip(".") in (NO_INFO, "Không", "Không có", "không có", "không") else text


# ------------------------------------------------------------------ channels, time, fees

_CHANNEL_HEADER = "Hình thức nộpThời gianPhí, lệ phíMô tả"
_CHANNEL_SPLIT = re.compile(r"(Trực tiếp|Trực tuyến|Dịch vụ bưu chính)(?=\d|Không có thông tin)")
_TIME = re.compile(r"(\d+(?:[.,]\d+)?)\s*(Ngày làm việc|Giờ làm việc|Ngày|Giờ|Tháng|Năm|Phút)?")
_AMOUNT = r"\d{1,3}(?:[.,]\d{3})+|\d+"
_FEE = re.compile(rf"(?:(?:Lệ phí|Phí)\s*:?\s*)?(Miễn phí|Không có thông tin|(?:(?:{_AMOUNT})\s*)?(?:Việt Nam Đồng|VNĐ|Đồng|đồng))")


def _balanced(text: str) -> tuple[str, str]:
    """(the parenthesised note at the start of ``text`` without its brackets, the rest)."""
    if not text.startswith("("):
        return "", text
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return text[1:i].strip(), text[i + 1:]
    return text[1:].strip(), ""


def _amount(text: str) -> int | None:
    m = re.match(rf"({_AMOUNT})", text)
    return int(re.sub(r"[.,]", "", m.group(1))) if m else None


def parse_channels(raw: str) -> list[dict[str, Any]]:
    """The portal's "Cách thức thực hiện" table: ``[{channel, time, fees: [{text, amount, note}],
    description}]``. ``time`` is as written ("15 Ngày làm việc") or "" when not stated; a fee's
    ``amount`` is in đồng when the text gives one (None for "Miễn phí" and for unstated fees)."""
    text = _nfc(raw).replace(_CHANNEL_HEADER, "", 1)
    parts = _CHANNEL_SPLIT.split(text)
    rows: list[dict[str, Any]] = []
    for i in range(1, len(parts), 2):
        channel, rest = parts[i], parts[i + 1]
        time = ""
        if rest.startswith(NO_INFO):
            rest = rest[len(NO_INFO):]
        else:
            m = _TIME.match(rest)
            if m:
                time = f"{m.group(1)} {m.group(2)}" if m.group(2) else m.group(1)
                rest = rest[m.end():]
        fees: list[dict[str, Any]] = []
        while True:
            m = _FEE.match(rest)
            if not m:
                break
            fee_text = m.group(1)
            note, rest = _balanced(rest[m.end():])
            if fee_text == NO_INFO:
                fees.append({"text": "", "amount": None, "note": note})
            else:
                fees.append({"text": fee_text, "amount": None if fee_text == "Miễn phí" else _amount(fee_text),
                             "note": note, "free": fee_text == "Miễn phí"})
        rows.append({"channel": channel, "time": time, "fees": fees,
                     "description": _info(rest)[:MAX_SECTION_CHARS]})
    return rows


# ------------------------------------------------------------------ documents

_LOWER = "a-zàáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ"
_UPPER = "A-ZÀÁẠẢÃÂẦẤẬẨẪĂẰẮẶẲẴÈÉẸẺẼÊỀẾỆỂỄÌÍỊỈĨÒÓỌỎÕÔỒỐỘỔỖƠỜỚỢỞỠÙÚỤỦŨƯỪỨỰỬỮỲÝỴỶỸĐ"

_DOC_HEADER = re.compile(r"Tên giấy tờ\s*Mẫu đơn, tờ khai\s*Số lượng")
_QUANTITY = re.compile(r"(\d+\s*bản chính(?:\s*,\s*\d+\s*bản sao)?|\d+\s*bản sao)")
_FORM_FILE = re.compile(r"([^.;:()\n]{1,40}\.(?:docx?|pdf|xlsx?|rar|zip|odt))$", re.IGNORECASE)


def parse_documents(raw: str) -> list[dict[str, Any]]:
    """The "Thành phần hồ sơ" table: groups ``[{case, items: [{name, form, quantity}]}]`` (``case`` is
    the text before a table, e.g. "Trường hợp ủy quyền", "" for the main list)."""
    text = _nfc(raw)
    if not _info(text):
        return []
    pieces = _DOC_HEADER.split(text)
    groups: list[dict[str, Any]] = []
    case = pieces[0].strip(" -*:") if len(pieces) > 1 else ""
    bodies = pieces[1:] if len(pieces) > 1 else [text]
    for body in bodies:
        items: list[dict[str, Any]] = []
        chunks = _QUANTITY.split(body)
        tail = ""
        for j in range(0, len(chunks) - 1, 2):
            name, quantity = chunks[j].strip(), re.sub(r"\s*,\s*", ", ", chunks[j + 1].strip())
            form = ""
            m = _FORM_FILE.search(name)
            if m:
                start = m.start()
                glued = list(re.finditer(rf"(?<=[0-9{_LOWER}])(?=[{_UPPER}])", m.group(1)))
                if glued:  # "...Mẫu số 01Mau01.docx": the file name starts at the last glued capital
                    start = m.start() + glued[-1].start()
                if start > 0:
                    form, name = name[start:].strip(), name[:start].strip(" ;,")
            if name:
                items.append({"name": name[:1000], "form": form, "quantity": quantity})
        if len(chunks) % 2 == 1:
            tail = chunks[-1].strip(" -*:")
        if items:
            groups.append({"case": case[:500], "items": items})
        elif _info(body):
            groups.append({"case": case[:500], "items": [{"name": body.strip()[:2000], "form": "", "quantity": ""}]})
        case = tail  # text after a table's last row introduces the next table
    return groups


# ------------------------------------------------------------------ legal basis

_LEGAL_HEADER = "Tên văn bản pháp lýMã văn bản"
_LEGAL_SPLIT = re.compile(rf"(?<=[A-ZĐ0-9{_LOWER}])(?=[{_UPPER}][{_LOWER}])")
_CODE_TAIL = re.compile(r"(\d+)(/(?:\d{4}/)?[A-ZĐ][A-ZĐ0-9\-]*)$")


def _split_code(item: str) -> tuple[str, str]:
    """("Luật Khiếu nại 02/2011/QH13", "02/2011/QH13") from the glued "Luật Khiếu nại 02/2011/QH1302/2011/QH13"."""
    m = _CODE_TAIL.search(item)
    if not m:
        return item, ""
    digits, rest = m.group(1), m.group(2)
    head = item[:m.start()]
    for cut in range(len(digits)):  # the number may have swallowed the end of the name's own copy
        code = digits[cut:] + rest
        name = (head + digits[:cut]).strip()
        if name.endswith(code):
            return name, code
    return head.strip() or (digits + rest), digits + rest


def parse_legal(raw: str) -> list[dict[str, str]]:
    """The "Căn cứ pháp lý" table: ``[{name, code}]``."""
    text = _info(raw)
    if not text:
        return []
    text = text.replace(_LEGAL_HEADER, "", 1)
    out = []
    for item in _LEGAL_SPLIT.split(text):
        item = item.strip()
        if item:
            name, code = _split_code(item)
            out.append({"name": name[:500], "code": code[:100]})
    return out


# ------------------------------------------------------------------ steps and results

_STEP_START = re.compile(r"(?=(?:[-+*]\s*)?(?:Bước|B)\s*\d+\s*[:.)-])")


def parse_steps(raw: str) -> list[str]:
    """Steps as lines: one per "Bước N" when the text is written that way, else its non-empty lines."""
    text = _info(raw)
    if not text:
        return []
    lines = [ln.strip() for ln in re.split(r"\n+", text) if ln.strip()]
    return [ln[:1500] for ln in lines[:MAX_STEP_LINES]]


def parse_results(raw: str) -> list[str]:
    text = _nfc(raw)
    text = re.split(r"Từ khóa", text, maxsplit=1)[0]
    items = [re.sub(r"\s+", " ", p).strip(" .;") for p in re.split(r"Mã:\s*\S+?(?=[A-ZĐ][a-zđ]|$)", text)]
    return [i[:500] for i in items if i and i != NO_INFO]


# ------------------------------------------------------------------ records

FIELDS = ("code", "name", "level", "field", "audience", "agency", "address", "channels", "documents", "steps",
          "legal", "conditions", "results", "url", "decision", "kind")


def from_portal(rec: dict[str, Any]) -> dict[str, Any]:
    """A national portal record (``ma_thu_tuc`` ...) in CityAI's structured form."""
    code = _nfc(rec.get("ma_thu_tuc"))
    name = _nfc(rec.get("ten_thu_tuc"))
    if not code or not name:
        raise ProcedureError("ma_thu_tuc and ten_thu_tuc are required")
    if len(code) > 100 or len(name) > 3000:
        raise ProcedureError("ma_thu_tuc has at most 100 characters, ten_thu_tuc 3,000")
    agency = _info(rec.get("co_quan_thuc_hien")) or _info(rec.get("co_quan_co_tham_quyen"))
    return {
        "code": code, "name": name, "level": _info(rec.get("cap_thuc_hien")), "field": _info(rec.get("linh_vuc")),
        "audience": _info(rec.get("doi_tuong_thuc_hien")), "agency": agency,
        "address": _info(rec.get("dia_chi_tiep_nhan")),
        "channels": parse_channels(rec.get("cach_thuc_thuc_hien") or ""),
        "documents": parse_documents(rec.get("thanh_phan_ho_so") or ""),
        "steps": parse_steps(rec.get("trinh_tu_thuc_hien") or ""),
        "legal": parse_legal(rec.get("can_cu_phap_ly") or ""),
        "conditions": _info(rec.get("yeu_cau_dieu_kien"))[:MAX_SECTION_CHARS],
        "results": parse_results(rec.get("ket_qua_xu_ly") or ""),
        "url": _nfc(rec.get("detail_url")), "decision": _info(rec.get("so_quyet_dinh")),
        "kind": _info(rec.get("loai_thu_tuc")),
    }


def _str_list(value: Any, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProcedureError(f"{field} is a list of strings")
    if len(value) > MAX_ITEMS:
        raise ProcedureError(f"{field} has more than {MAX_ITEMS} items")
    return [_nfc(v)[:MAX_LINE_CHARS] for v in value if _nfc(v)]


def to_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A structured record checked and completed (missing sections empty); raises ProcedureError."""
    if not isinstance(rec, dict):
        raise ProcedureError("a procedure is a JSON object")
    if "ma_thu_tuc" in rec:
        return from_portal(rec)
    code, name = _nfc(rec.get("code")), _nfc(rec.get("name"))
    if not code or not name:
        raise ProcedureError("code and name are required")
    if len(code) > 100 or len(name) > 3000:
        raise ProcedureError("code has at most 100 characters, name 3,000")
    out: dict[str, Any] = {"code": code, "name": name}
    for key in ("level", "field", "audience", "agency", "address", "conditions", "url", "decision", "kind"):
        value = rec.get(key)
        if value is not None and not isinstance(value, str):
            raise ProcedureError(f"{key} is a string")
        out[key] = _info(value)[:MAX_SECTION_CHARS]
    channels = rec.get("channels") or []
    for key in ("channels", "documents", "legal"):
        if isinstance(rec.get(key), list) and len(rec[key]) > MAX_ITEMS:
            raise ProcedureError(f"{key} has more than {MAX_ITEMS} items")
    if not isinstance(channels, list) or not all(isinstance(c, dict) for c in channels):
        raise ProcedureError("channels is a list of objects {channel, time, fees, description}")
    out["channels"] = []
    for c in channels:
        fees = c.get("fees") or []
        if not isinstance(fees, list) or not all(isinstance(f, dict) for f in fees):
            raise ProcedureError("channels[].fees is a list of objects {text, amount, note}")
        clean_fees = []
        for f in fees:
            amount = f.get("amount")
            if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount < 0):
                raise ProcedureError("channels[].fees[].amount is a whole number of đồng or null")
            clean_fees.append({"text": _nfc(f.get("text"))[:500], "amount": amount, "note": _nfc(f.get("note"))[:MAX_LINE_CHARS],
                               "free": bool(f.get("free")) or _nfc(f.get("text")) == "Miễn phí"})
        out["channels"].append({"channel": _nfc(c.get("channel"))[:100], "time": _nfc(c.get("time"))[:500],
                                "fees": clean_fees[:20],
                                "description": _nfc(c.get("description"))[:MAX_SECTION_CHARS]})
    documents = rec.get("documents") or []
    if not isinstance(documents, list):
        raise ProcedureError("documents is a list")
    groups = []
    for g in documents:
        if isinstance(g, str):  # a plain list of document names
            groups.append({"case": "", "items": [{"name": _nfc(g)[:MAX_LINE_CHARS], "form": "", "quantity": ""}]})
        elif isinstance(g, dict) and "items" in g:
            raw_items = g.get("items") or []
            if not isinstance(raw_items, list) or len(raw_items) > MAX_ITEMS:
                raise ProcedureError(f"documents[].items is a list of at most {MAX_ITEMS}")
            items = [{"name": _nfc(i.get("name"))[:MAX_LINE_CHARS], "form": _nfc(i.get("form"))[:200],
                      "quantity": _nfc(i.get("quantity"))[:200]}
                     for i in raw_items if isinstance(i, dict) and _nfc(i.get("name"))]
            groups.append({"case": _nfc(g.get("case"))[:500], "items": items})
        else:
            raise ProcedureError("documents[] is a name or {case, items: [{name, form, quantity}]}")
    if groups and all(not g["case"] for g in groups):  # plain names: one list
        groups = [{"case": "", "items": [i for g in groups for i in g["items"]]}]
    out["documents"] = groups
    out["steps"] = _str_list(rec.get("steps"), "steps")[:MAX_STEP_LINES]
    out["results"] = _str_list(rec.get("results"), "results")
    legal = rec.get("legal") or []
    if not isinstance(legal, list):
        raise ProcedureError("legal is a list")
    out["legal"] = [{"name": _nfc(x)[:1000], "code": ""} if isinstance(x, str)
                    else {"name": _nfc(x.get("name"))[:1000], "code": _nfc(x.get("code"))[:100]}
                    for x in legal if isinstance(x, (str, dict))]
    return out


def read_file(path: Path | str) -> Iterator[dict[str, Any]]:
    """Records from a JSON Lines file (``.jsonl``, ``.jsonl.gz``) or a JSON array (``.json``), as they are
    (checked by :func:`to_record` later, so that one bad record is reported with its line)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        if head == "[":
            yield from json.loads(head + fh.read())
            return
        first = head + fh.readline()
        for line in _lines(first, fh):
            if line.strip():
                yield json.loads(line)


def _lines(first: str, fh: Any) -> Iterator[str]:
    yield first
    yield from fh


# ------------------------------------------------------------------ text views


def base_name(name: str) -> str:
    """The name without its parenthesised qualifiers and level words: variants of one procedure at
    different levels share it."""
    text = re.sub(r"\([^()]*\)", " ", name)
    text = re.sub(r"(?i)\b(?:thực hiện )?tại cấp (?:trung ương|tỉnh|huyện|xã|bộ)\b|\bcấp (?:trung ương|tỉnh|huyện|xã)\b",
                  " ", text)
    return re.sub(r"\s+", " ", text).strip(" ,.;-").lower()


def fee_lines(rec: dict[str, Any]) -> list[str]:
    """One line per channel: "Trực tiếp: Miễn phí (note)"; empty when no channel states a fee."""
    out = []
    for c in rec.get("channels") or []:
        fees = [f for f in c.get("fees") or [] if f.get("text")]
        if not fees:
            continue
        parts = [f["text"] + (f" ({f['note']})" if f.get("note") else "") for f in fees]
        out.append(f"{c['channel']}: {'; '.join(parts)}" if c.get("channel") else "; ".join(parts))
    return list(dict.fromkeys(out))


def time_lines(rec: dict[str, Any]) -> list[str]:
    out = [f"{c['channel']}: {c['time']}" if c.get("channel") else c["time"]
           for c in rec.get("channels") or [] if c.get("time")]
    return list(dict.fromkeys(out))


def document_lines(rec: dict[str, Any]) -> list[str]:
    out = []
    for g in rec.get("documents") or []:
        if g.get("case"):
            out.append(g["case"] + ":")
        for i in g.get("items") or []:
            extra = ", ".join(x for x in (i.get("quantity"), f"mẫu {i['form']}" if i.get("form") else "") if x)
            out.append(f"{i['name']}" + (f" ({extra})" if extra else ""))
    return out


def where_lines(rec: dict[str, Any]) -> list[str]:
    out = []
    if rec.get("agency"):
        out.append(f"Cơ quan thực hiện: {rec['agency']}")
    if rec.get("level"):
        out.append(f"Cấp thực hiện: {rec['level']}")
    if rec.get("address"):
        out.append(f"Địa chỉ tiếp nhận: {rec['address']}")
    channels = list(dict.fromkeys(c["channel"] for c in rec.get("channels") or [] if c.get("channel")))
    if channels:
        out.append(f"Hình thức nộp: {', '.join(channels)}")
    return out


def legal_lines(rec: dict[str, Any]) -> list[str]:
    out = []
    for x in rec.get("legal") or []:
        name, code = x.get("name") or "", x.get("code") or ""
        out.append(name if not code or code in name else f"{name} ({code})")
    return out


def section_lines(rec: dict[str, Any], section: str) -> list[str]:
    """The lines of one section as shown to a citizen (empty when the record does not state it)."""
    if section == "steps":
        return list(rec.get("steps") or [])
    if section == "documents":
        return document_lines(rec)
    if section == "fee":
        return fee_lines(rec)
    if section == "time":
        return time_lines(rec)
    if section == "where":
        return where_lines(rec)
    if section == "legal":
        return legal_lines(rec)
    if section == "conditions":
        return [ln.strip() for ln in (rec.get("conditions") or "").split("\n") if ln.strip()]
    if section == "results":
        return list(rec.get("results") or [])
    if section == "overview":
        return [x for x in (rec["name"], rec.get("field") and f"Lĩnh vực: {rec['field']}",
                            rec.get("audience") and f"Đối tượng: {rec['audience']}") if x]
    raise KeyError(section)


def index_text(rec: dict[str, Any]) -> str:
    """The text the search index reads: the name first (twice: it is what people ask by), the field, the
    agency, the results and the documents' names."""
    docs = [i["name"] for g in rec.get("documents") or [] for i in g.get("items") or []]
    parts = [rec["name"], rec["name"], rec.get("field") or "", rec.get("agency") or "", rec.get("level") or "",
             " ".join(rec.get("results") or []), " ".join(docs)[:1500]]
    return ". ".join(p for p in parts if p)[:4000]
