"""Text classifiers as a service: an agency's named classifiers, trained from its labelled examples.

An agency's editor creates a classifier (``textclassifier.create``: a name such as
``phan-loai-phan-anh``, a description, optionally the labels it may use), then trains it
(``textclassifier.train``) from

- a CSV upload (columns ``text``/``văn bản``/``noi_dung`` and ``label``/``nhãn``, or named ones; the
  encoding is detected: UTF-8/16 with or without BOM, Windows-1258, others by charset-normalizer), or
- a catalog resource (its datastore table, a text column and a label column), read through the data
  module's ``datastore.search`` action with the caller's own context, so the catalog's access rules apply.

The examples are checked at once (clear 422 problems: no label column, a single class, a class with one
example, empty file, unreadable encoding, too many rows) and stored; training runs as a job
(``language.train_classifier``) that cross-validates the candidates (:mod:`cityai.language.classify`),
writes the report and the model file of a **new version** and never touches the published one. The
editor reads the report and publishes a version (``textclassifier.publish``, also to roll back); callers
predict with the published version (``textclassifier.predict``: labels with probabilities).

Who may do what: editors and admins of the owning agency (or of an agency above it) create, train and
publish; admins delete; members read and predict; with ``visibility="authenticated"`` every signed-in user
(and API token with the read scope) may read the classifier and predict.
"""

from __future__ import annotations

import codecs
import collections
import csv
import io
import json
import logging
import re
import threading
import unicodedata
from typing import Any, BinaryIO, Sequence

from sqlalchemy import func, select

from cityai.core import authz, jobs
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import T_TOO_LARGE, T_UNAVAILABLE, Problem, invalid, invalid_state, not_found
from cityai.core.jobs import JobKind, JobRun
from cityai.core.models import Agency
from cityai.language import classify
from cityai.language.models import VERSION_STATUSES, VISIBILITIES, TextClassifier, TextClassifierVersion

log = logging.getLogger("cityai.language.classifiers")

CLASSIFIER = ("bộ phân loại văn bản", "text classifier")
VERSION = ("phiên bản", "version")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_EXAMPLES = 50_000
MAX_LABEL_CHARS = 100
MAX_TEXT_CHARS = 100_000  # one example or one text to classify
MAX_PREDICT_TEXTS = 1000
TEXT_HEADERS = ("text", "van ban", "vanban", "noi dung", "noidung", "content", "cau", "sentence", "y kien",
                "mo ta", "document")
LABEL_HEADERS = ("label", "nhan", "category", "class", "loai", "nhom", "chu de", "topic", "linh vuc",
                 "sentiment", "cam xuc")
DELIMITERS = (",", ";", "\t", "|")


def _bad(vi: str, en: str, **extra: Any) -> Problem:
    return invalid((vi, en), **extra)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ reading examples: CSV


def _fold(name: str) -> str:
    """A header name compared loosely: lower case, no diacritics, đ -> d, separators -> one space."""
    t = unicodedata.normalize("NFD", name.strip().lower().lstrip("\ufeff"))
    t = "".join(c for c in t if unicodedata.category(c) != "Mn").replace("đ", "d")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", t).split())


_VI_MARKERS = set("ăâđêôơưĂÂĐÊÔƠƯ") | {chr(c) for c in range(0x1EA0, 0x1EFA)} | set("\u0300\u0301\u0303\u0309\u0323")


def _vietnamese_score(text: str) -> float:
    letters = sum(1 for c in text if c.isalpha())
    return sum(1 for c in text if c in _VI_MARKERS) / letters if letters else 0.0


def _not_text() -> Problem:
    return _bad("Tệp không phải là văn bản CSV đọc được (có ký tự điều khiển hoặc bảng mã không nhận ra). "
                "Hãy lưu lại dưới dạng CSV UTF-8.",
                "The file is not a readable CSV text (control characters or an unknown encoding). "
                "Save it as CSV UTF-8.", field="file")


def decode_csv(data: bytes) -> tuple[str, str]:
    """(text in NFC, the encoding found): BOM, strict UTF-8, UTF-16 without BOM, Windows-1258 when it reads
    as Vietnamese, else charset-normalizer's best guess among common code pages."""
    encoding = None
    for bom, name in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                      (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            encoding = name
            break
    sample = data[:256 * 1024]
    if encoding is None:
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            pass
    if encoding is None and len(sample) >= 4:
        if sample[1::2].count(0) > len(sample) // 4 and sample[0::2].count(0) < len(sample) // 8:
            encoding = "utf-16-le"
        elif sample[0::2].count(0) > len(sample) // 4 and sample[1::2].count(0) < len(sample) // 8:
            encoding = "utf-16-be"
    if encoding is None and b"\x00" not in sample:
        if _vietnamese_score(sample.decode("cp1258", "replace")) > 0.02:
            encoding = "cp1258"
        else:
            from charset_normalizer import from_bytes

            best = from_bytes(sample, cp_isolation=["cp1258", "cp1252", "latin_1", "cp1250", "iso8859_15"]).best()
            encoding = best.encoding if best is not None else None
    if encoding is None:
        raise _not_text()
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise _bad(f"Không đọc được tệp theo bảng mã {encoding}. Hãy lưu lại dưới dạng CSV UTF-8.",
                   f"The file cannot be read as {encoding}. Save it as CSV UTF-8.", field="file",
                   encoding=encoding) from None
    text = text.lstrip("\ufeff")
    controls = sum(1 for c in text[:200_000] if unicodedata.category(c) == "Cc" and c not in "\t\n\r")
    if "\x00" in text or controls > max(2, len(text[:200_000]) // 1000):
        raise _not_text()
    return unicodedata.normalize("NFC", text), encoding


def _sniff(lines: list[str]) -> str:
    best, best_score = ",", (-1, 0)
    for d in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=d)]
        if not counts or counts[0] < 2:
            continue
        score = (sum(1 for c in counts if c == counts[0]), counts[0])
        if score > best_score:
            best, best_score = d, score
    return best


def _pick_column(columns: list[str], wanted: str | None, aliases: Sequence[str], what: tuple[str, str],
                 field: str) -> int:
    folded = [_fold(c) for c in columns]
    if wanted:
        for i, c in enumerate(columns):
            if c.strip() == wanted.strip():
                return i
        if _fold(wanted) in folded:
            return folded.index(_fold(wanted))
        raise _bad(f"Không có cột '{wanted}'. Các cột: {', '.join(columns)}.",
                   f"No column '{wanted}'. The columns are: {', '.join(columns)}.", field=field, columns=columns)
    for alias in aliases:
        if alias in folded:
            return folded.index(alias)
    raise _bad(f"Không tìm thấy cột {what[0]}: đặt tên cột là {' / '.join(a for a in ALIAS_NAMES[field][0])} "
               f"hoặc chọn cột ({field}). Các cột: {', '.join(columns) or '(không có)'}.",
               f"No {what[1]} column: name it {' / '.join(ALIAS_NAMES[field][1])} or choose the column ({field}). "
               f"The columns are: {', '.join(columns) or '(none)'}.", field=field, columns=columns)


ALIAS_NAMES = {"text_column": (("text", "văn bản", "noi_dung"), ("text", "văn bản", "noi_dung")),
               "label_column": (("label", "nhãn"), ("label", "nhãn"))}


def read_csv(data: bytes, *, text_column: str | None = None,
             label_column: str | None = None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The (text, label) examples of a CSV file and what was read (encoding, delimiter, columns, rows,
    rows skipped because their text or label is blank). Raises 422 problems that say what to fix."""
    if len(data) > MAX_CSV_BYTES:
        raise _too_large(len(data))
    if not data.strip():
        raise _bad("Tệp CSV rỗng.", "The CSV file is empty.", field="file")
    text, encoding = decode_csv(data)
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        raise _bad("Tệp CSV rỗng.", "The CSV file is empty.", field="file")
    delimiter = _sniff(lines)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise _bad("Tệp CSV không có dòng tiêu đề.", "The CSV file has no header line.", field="file") from None
    columns = [h.strip() for h in header]
    ti = _pick_column(columns, text_column, TEXT_HEADERS, ("văn bản", "text"), "text_column")
    li = _pick_column(columns, label_column, LABEL_HEADERS, ("nhãn", "label"), "label_column")
    if ti == li:
        raise _bad("Cột văn bản và cột nhãn phải khác nhau.", "The text and label columns must differ.",
                   field="label_column")
    out: list[tuple[str, str]] = []
    skipped = 0
    try:
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            t = row[ti].strip() if ti < len(row) else ""
            lab = " ".join(row[li].split()) if li < len(row) else ""
            if not t or not lab:
                skipped += 1
                continue
            if len(lab) > MAX_LABEL_CHARS:
                raise _bad(f"Dòng {number}: nhãn dài quá {MAX_LABEL_CHARS} ký tự.",
                           f"Line {number}: the label is longer than {MAX_LABEL_CHARS} characters.",
                           field="file", line=number)
            if len(t) > MAX_TEXT_CHARS:
                raise _bad(f"Dòng {number}: văn bản dài quá {MAX_TEXT_CHARS} ký tự.",
                           f"Line {number}: the text is longer than {MAX_TEXT_CHARS} characters.",
                           field="file", line=number)
            out.append((t, lab))
            if len(out) > MAX_EXAMPLES:
                raise _too_many()
    except csv.Error as exc:
        raise _bad(f"Tệp CSV hỏng ở dòng {reader.line_num}: {exc}.",
                   f"The CSV file is malformed at line {reader.line_num}: {exc}.", field="file") from None
    if not out:
        raise _bad("Tệp CSV không có dòng dữ liệu nào có cả văn bản và nhãn.",
                   "The CSV file has no row with both a text and a label.", field="file", skipped=skipped)
    return out, {"type": "csv", "encoding": encoding, "delimiter": delimiter, "columns": columns,
                 "text_column": columns[ti], "label_column": columns[li], "rows": len(out), "skipped": skipped}


def _too_large(size: int) -> Problem:
    return Problem(413, "payload-too-large", T_TOO_LARGE,
                   (f"Tệp CSV tối đa {MAX_CSV_BYTES // (1024 * 1024)} MB.",
                    f"A CSV file may hold at most {MAX_CSV_BYTES // (1024 * 1024)} MB."), limit=MAX_CSV_BYTES)


def _too_many() -> Problem:
    return _bad(f"Tối đa {MAX_EXAMPLES} ví dụ huấn luyện.", f"At most {MAX_EXAMPLES} training examples.",
                field="file", limit=MAX_EXAMPLES)


def read_stream(stream: BinaryIO) -> bytes:
    """An upload's bytes, refused past :data:`MAX_CSV_BYTES` without reading further."""
    buf = bytearray()
    while chunk := stream.read(1 << 20):
        buf += chunk
        if len(buf) > MAX_CSV_BYTES:
            raise _too_large(len(buf))
    return bytes(buf)


# ------------------------------------------------------------------ reading examples: a catalog resource


def read_dataset(ctx: Context, *, resource_id: str, text_column: str | None, label_column: str | None,
                 table: str | None = None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(text, label) examples from a resource's datastore table, read with the caller's permissions."""
    from cityai.data.datastore import MAX_LIMIT, datastore_search

    if not isinstance(resource_id, str) or not resource_id.strip():
        raise _bad("Thiếu resource_id.", "resource_id is required.", field="resource_id")
    head = datastore_search(ctx, resource_id=resource_id, table=table, limit=0)  # checks read access
    columns = [f["id"] for f in head["fields"]]
    ti = _pick_column(columns, text_column, TEXT_HEADERS, ("văn bản", "text"), "text_column")
    li = _pick_column(columns, label_column, LABEL_HEADERS, ("nhãn", "label"), "label_column")
    if ti == li:
        raise _bad("Cột văn bản và cột nhãn phải khác nhau.", "The text and label columns must differ.",
                   field="label_column")
    total = int(head["total"] or 0)
    if total > MAX_EXAMPLES:
        raise _bad(f"Bảng có {total} dòng; tối đa {MAX_EXAMPLES} ví dụ huấn luyện.",
                   f"The table has {total} rows; at most {MAX_EXAMPLES} training examples.", field="resource_id",
                   limit=MAX_EXAMPLES)
    tc, lc = columns[ti], columns[li]
    out: list[tuple[str, str]] = []
    skipped, offset = 0, 0
    while offset < total:
        page = datastore_search(ctx, resource_id=resource_id, table=head["table"], fields=[tc, lc],
                                limit=MAX_LIMIT, offset=offset, include_total=False)
        records = page["records"]
        if not records:
            break
        for rec in records:
            t, lab = rec.get(tc), rec.get(lc)
            t = "" if t is None else str(t).strip()
            lab = "" if lab is None else " ".join(str(lab).split())
            if not t or not lab:
                skipped += 1
                continue
            if len(lab) > MAX_LABEL_CHARS:
                raise _bad(f"Dòng {offset + len(out) + skipped + 1}: nhãn dài quá {MAX_LABEL_CHARS} ký tự.",
                           f"Row {offset + len(out) + skipped + 1}: the label is longer than {MAX_LABEL_CHARS} "
                           f"characters.", field="label_column")
            out.append((t[:MAX_TEXT_CHARS], lab))
        offset += len(records)
    if not out:
        raise _bad("Bảng không có dòng nào có cả văn bản và nhãn.",
                   "The table has no row with both a text and a label.", field="resource_id", skipped=skipped)
    return out, {"type": "dataset", "resource_id": head["resource_id"], "table": head["table"], "text_column": tc,
                 "label_column": lc, "rows": len(out), "skipped": skipped}


# ------------------------------------------------------------------ authorization


def _get(ctx: Context, classifier_id: Any) -> TextClassifier | None:
    return ctx.db.get(TextClassifier, classifier_id) if _int(classifier_id) else None


def _auth_create(ctx: Context, *, agency_id: Any = None, **_: Any) -> bool:
    return not ctx.actor.is_anonymous and _int(agency_id) and ctx.has_role(agency_id, "editor")




def _auth_use(ctx: Context, *, classifier_id: Any = None, **_: Any) -> bool:
    """Read and predict: members of the owning agency; every signed-in user when it is shared."""
    if ctx.actor.is_anonymous:
        return False
    c = _get(ctx, classifier_id)
    return c is None or c.visibility == "authenticated" or ctx.has_role(c.agency_id, "member")


_auth_editor = authz.owner_role(TextClassifier, "classifier_id", "editor", "textclassifier")
_auth_admin = authz.owner_role(TextClassifier, "classifier_id", "admin", "textclassifier")


def _classifier(ctx: Context, classifier_id: Any) -> TextClassifier:
    c = _get(ctx, classifier_id)
    if c is None:
        raise not_found(CLASSIFIER, classifier_id)
    return c


def _version(ctx: Context, c: TextClassifier, version: Any) -> TextClassifierVersion:
    v = None
    if _int(version):
        v = ctx.db.execute(select(TextClassifierVersion).where(TextClassifierVersion.classifier_id == c.id,
                                                               TextClassifierVersion.version == version)).scalar()
    if v is None:
        raise not_found(VERSION, f"{c.name} v{version}")
    return v


# ------------------------------------------------------------------ actions: classifiers


def _clean_labels(labels: Any) -> list[str]:
    if labels is None:
        return []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise _bad("labels phải là danh sách chuỗi.", "labels must be a list of strings.", field="labels")
    out = list(dict.fromkeys(" ".join(x.split()) for x in labels))
    if any(any("\ud800" <= ch <= "\udfff" for ch in x) for x in out):
        raise _bad("Nhãn chứa ký tự Unicode hỏng (surrogate đơn lẻ).", "A label holds malformed Unicode (a lone "
                   "surrogate).", field="labels")
    if any(not x or len(x) > MAX_LABEL_CHARS for x in out):
        raise _bad(f"Mỗi nhãn có 1-{MAX_LABEL_CHARS} ký tự.", f"A label has 1-{MAX_LABEL_CHARS} characters.",
                   field="labels")
    if len(out) == 1 or len(out) > classify.MAX_CLASSES:
        raise _bad(f"Khai báo từ 2 đến {classify.MAX_CLASSES} nhãn (hoặc không khai báo).",
                   f"Declare 2 to {classify.MAX_CLASSES} labels (or none).", field="labels")
    return out


@authz.action("textclassifier.create", scope="write", auth=_auth_create)
def classifier_create(ctx: Context, *, agency_id: int, name: str, title: str | None = None,
                      description: str | None = None, labels: list[str] | None = None,
                      visibility: str = "agency") -> TextClassifier:
    """Create an agency's named text classifier (trained and published afterwards)."""
    if ctx.db.get(Agency, agency_id) is None:
        raise not_found(("cơ quan", "agency"), agency_id)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _bad("Tên bộ phân loại chỉ gồm chữ thường không dấu, số và '-' (tối đa 63 ký tự), "
                   "ví dụ 'phan-loai-phan-anh'.",
                   "A classifier name is lower-case ASCII letters, digits and '-' (up to 63), "
                   "e.g. 'phan-loai-phan-anh'.", field="name")
    if visibility not in VISIBILITIES:
        raise _bad("visibility là 'agency' hoặc 'authenticated'.", "visibility is 'agency' or 'authenticated'.",
                   field="visibility", allowed=list(VISIBILITIES))
    if title is not None and (not isinstance(title, str) or len(title) > 300):
        raise _bad("Tiêu đề tối đa 300 ký tự.", "A title has at most 300 characters.", field="title")
    if description is not None and (not isinstance(description, str) or len(description) > 10_000):
        raise _bad("Mô tả tối đa 10.000 ký tự.", "A description has at most 10,000 characters.", field="description")
    clean = _clean_labels(labels)
    taken = ctx.db.execute(select(TextClassifier.id).where(TextClassifier.agency_id == agency_id,
                                                           TextClassifier.name == name)).scalar()
    if taken is not None:
        from cityai.core.errors import conflict

        raise conflict((f"Cơ quan đã có bộ phân loại '{name}'.", f"The agency already has a classifier '{name}'."),
                       field="name", id=taken)
    c = TextClassifier(agency_id=agency_id, name=name, title=(title or "").strip() or None,
                       description=(description or "").strip() or None, labels=clean, visibility=visibility,
                       created_by=ctx.actor.user_id)
    ctx.db.add(c)
    ctx.db.flush()
    ctx.audit("textclassifier.create", "text_classifier", c.id, agency_id=agency_id, name=name, labels=clean,
              visibility=visibility)
    return c


@authz.action("textclassifier.list", scope="read", auth=authz.authenticated)
def classifier_list(ctx: Context, *, agency_id: int | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[TextClassifier], int]:
    """The classifiers of the agencies the actor belongs to (and below), and the shared ones."""
    stmt = select(TextClassifier)
    if not ctx.actor.is_sysadmin:
        mine = ctx.descendants(list(ctx.actor.roles)) or [-1]
        stmt = stmt.where(TextClassifier.agency_id.in_(mine) | (TextClassifier.visibility == "authenticated"))
    if agency_id is not None:
        stmt = stmt.where(TextClassifier.agency_id == agency_id)
    total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = ctx.db.execute(stmt.order_by(TextClassifier.agency_id, TextClassifier.name).limit(limit)
                          .offset(offset)).scalars()
    return list(rows), total


@authz.action("textclassifier.show", scope="read", auth=_auth_use)
def classifier_show(ctx: Context, *, classifier_id: int) -> TextClassifier:
    """One classifier (its published version's report comes with :func:`to_dict`)."""
    return _classifier(ctx, classifier_id)


@authz.action("textclassifier.versions", scope="read", auth=_auth_use)
def classifier_versions(ctx: Context, *, classifier_id: int) -> list[TextClassifierVersion]:
    """Every version of a classifier, newest first."""
    c = _classifier(ctx, classifier_id)
    return list(ctx.db.execute(select(TextClassifierVersion).where(TextClassifierVersion.classifier_id == c.id)
                               .order_by(TextClassifierVersion.version.desc())).scalars())


@authz.action("textclassifier.version", scope="read", auth=_auth_use)
def classifier_version(ctx: Context, *, classifier_id: int, version: int) -> TextClassifierVersion:
    """One version with its evaluation report."""
    return _version(ctx, _classifier(ctx, classifier_id), version)


@authz.action("textclassifier.delete", scope="write", auth=_auth_admin)
def classifier_delete(ctx: Context, *, classifier_id: int) -> None:
    """Delete a classifier, its versions and their files (not while a version is training)."""
    c = _classifier(ctx, classifier_id)
    busy = ctx.db.execute(select(TextClassifierVersion.version).where(
        TextClassifierVersion.classifier_id == c.id,
        TextClassifierVersion.status.in_(("queued", "training")))).scalars().first()
    if busy is not None:
        raise invalid_state((f"Phiên bản {busy} đang huấn luyện; hãy chờ hoặc hủy công việc trước.",
                             f"Version {busy} is training; wait for it or cancel its job first."))
    prefix = _root(c.agency_id, c.id)
    for v in ctx.db.execute(select(TextClassifierVersion).where(
            TextClassifierVersion.classifier_id == c.id)).scalars():
        ctx.db.delete(v)
    ctx.db.flush()
    ctx.db.delete(c)
    ctx.db.flush()
    ctx.audit("textclassifier.delete", "text_classifier", classifier_id, agency_id=c.agency_id, name=c.name)
    storage = ctx.platform.storage

    def remove_files() -> None:
        for key in list(storage.list(prefix)):
            storage.delete(key)

    ctx.platform.after_commit(ctx.db, remove_files)


# ------------------------------------------------------------------ actions: training and publishing


def _root(agency_id: int, classifier_id: int) -> str:
    return f"language/classifiers/{agency_id}/{classifier_id}"


@authz.action("textclassifier.train", scope="write", auth=_auth_editor)
def classifier_train(ctx: Context, *, classifier_id: int, csv_data: bytes | None = None,
                     filename: str | None = None, resource_id: str | None = None, table: str | None = None,
                     text_column: str | None = None, label_column: str | None = None,
                     candidates: list[str] | None = None, auto_publish: bool = False) -> TextClassifierVersion:
    """Train a new version (a job) from a CSV file's bytes (``csv_data``) or a catalog resource's table
    (``resource_id``); the published version keeps serving until another is published."""
    c = _classifier(ctx, classifier_id)
    if (csv_data is None) == (resource_id is None):
        raise _bad("Gửi tệp CSV hoặc resource_id (một trong hai).", "Send a CSV file or a resource_id (one of them).",
                   field="file")
    wanted = list(classify.CANDIDATES) if candidates is None else candidates
    if (not isinstance(wanted, list) or not wanted
            or any(not isinstance(x, str) or x not in classify.CANDIDATES for x in wanted)):
        raise _bad(f"candidates là các giá trị trong: {', '.join(classify.CANDIDATES)}.",
                   f"candidates are values among: {', '.join(classify.CANDIDATES)}.", field="candidates",
                   allowed=list(classify.CANDIDATES))
    wanted = list(dict.fromkeys(wanted))
    if csv_data is not None:
        examples, source = read_csv(csv_data, text_column=text_column, label_column=label_column)
        source["filename"] = (filename or "upload.csv")[:255]
    else:
        examples, source = read_dataset(ctx, resource_id=resource_id, text_column=text_column,
                                        label_column=label_column, table=table)
    labels = [lab for _, lab in examples]
    try:
        counts = classify.check_examples(labels)
    except classify.TrainingDataError as exc:
        raise _bad(exc.vi, exc.en, field="label_column", **{k: v for k, v in exc.extra.items() if v is not None})
    if c.labels:
        unknown = sorted(set(counts) - set(c.labels))
        missing = sorted(set(c.labels) - set(counts))
        if unknown or missing:
            raise _bad(f"Nhãn không khớp với nhãn đã khai báo ({', '.join(c.labels)}): "
                       + "; ".join(filter(None, [f"lạ: {', '.join(unknown)}" if unknown else "",
                                                 f"thiếu: {', '.join(missing)}" if missing else ""])) + ".",
                       f"The labels differ from the declared ones ({', '.join(c.labels)}): "
                       + "; ".join(filter(None, [f"unknown: {', '.join(unknown)}" if unknown else "",
                                                 f"missing: {', '.join(missing)}" if missing else ""])) + ".",
                       field="label_column", unknown=unknown, missing=missing)
    ctx.db.get(TextClassifier, c.id, with_for_update=True)  # serialize version numbers (PostgreSQL)
    last = ctx.db.execute(select(func.max(TextClassifierVersion.version)).where(
        TextClassifierVersion.classifier_id == c.id)).scalar()
    number = (last or 0) + 1
    prefix = f"{_root(c.agency_id, c.id)}/v{number}"
    payload = json.dumps({"examples": [{"text": t, "label": lab} for t, lab in examples]},
                         ensure_ascii=False).encode("utf-8")
    ctx.platform.storage.put(f"{prefix}/training.json", payload)
    v = TextClassifierVersion(classifier_id=c.id, version=number, status="queued", candidates=wanted,
                              labels=sorted(counts), report={}, source=source, trained_on=len(examples),
                              data_key=f"{prefix}/training.json", auto_publish=bool(auto_publish),
                              trained_by=ctx.actor.user_id)
    ctx.db.add(v)
    ctx.db.flush()
    job = jobs.submit.unchecked(ctx, kind=TRAIN_JOB.name, params={"version_id": v.id}, agency_id=c.agency_id,
                                title=f"Huấn luyện / Train: {c.name} v{number}")
    v.job_id = job.id
    ctx.audit("textclassifier.train", "text_classifier", c.id, agency_id=c.agency_id, name=c.name, version=number,
              examples=len(examples), labels=counts if len(counts) <= 50 else len(counts), source=source["type"],
              resource_id=source.get("resource_id"), candidates=wanted, job_id=job.id)
    return v


def _publish(ctx: Context, c: TextClassifier, v: TextClassifierVersion) -> int | None:
    previous = c.published_version
    c.published_version, c.published_at, c.published_by = v.version, utcnow(), ctx.actor.user_id
    return previous


@authz.action("textclassifier.publish", scope="write", auth=_auth_editor)
def classifier_publish(ctx: Context, *, classifier_id: int, version: int) -> TextClassifier:
    """Make a ready version the one that answers predictions (an older one too: a rollback)."""
    c = _classifier(ctx, classifier_id)
    v = _version(ctx, c, version)
    if v.status != "ready":
        raise invalid_state((f"Chỉ công bố được phiên bản đã huấn luyện xong (v{v.version}: "
                             f"{VERSION_STATUSES[v.status][0]}).",
                             f"Only a trained version can be published (v{v.version} is {v.status})."))
    previous = _publish(ctx, c, v)
    ctx.db.flush()
    ctx.audit("textclassifier.publish", "text_classifier", c.id, agency_id=c.agency_id, name=c.name,
              version=v.version, previous=previous)
    return c


def _train(run: JobRun) -> dict[str, Any]:
    platform = run.platform
    vid = run.params["version_id"]
    with platform.transaction(write=True) as db:
        v = db.get(TextClassifierVersion, vid)
        if v is None:
            raise LookupError(f"text classifier version {vid} does not exist")
        c = db.get(TextClassifier, v.classifier_id)
        v.status, v.started_at, v.error = "training", utcnow(), None
        cid, agency_id, name, number = c.id, c.agency_id, c.name, v.version
        data_key, candidates = v.data_key, list(v.candidates or classify.CANDIDATES)
    try:
        run.progress(1, "Đọc dữ liệu / Reading the examples", force=True)
        with platform.storage.open(data_key) as fh:
            rows = json.load(fh)["examples"]
        model, rep = classify.train(
            [r["text"] for r in rows], [r["label"] for r in rows], candidates,
            progress=lambda f, msg: run.progress(2 + 93 * f, msg), home=platform.settings.home,
            info={"classifier_id": cid, "name": name, "version": number, "agency_id": agency_id})
        key = f"{_root(agency_id, cid)}/v{number}/model.npz"
        platform.storage.put(key, model.to_bytes())
        with run.unit_of_work() as ctx:
            v = ctx.db.get(TextClassifierVersion, vid)
            if v is None:  # the classifier was deleted meanwhile
                return {"version_id": vid, "deleted": True}
            c = ctx.db.get(TextClassifier, v.classifier_id)
            v.status, v.error, v.algorithm, v.report, v.model_key = "ready", None, model.candidate, rep, key
            v.labels, v.finished_at = model.labels, utcnow()
            published = None
            if v.auto_publish:
                _publish(ctx, c, v)
                published = v.version
            ctx.audit("textclassifier.trained", "text_classifier", cid, agency_id=agency_id, name=name,
                      version=number, algorithm=model.candidate, accuracy=rep["accuracy"], macro_f1=rep["macro_f1"],
                      published=published)
    except jobs.JobCancelled:
        _fail(platform, vid, "Đã hủy / Cancelled")
        raise
    except classify.TrainingDataError as exc:
        _fail(platform, vid, f"{exc.vi} / {exc.en}")
        raise
    except Exception as exc:
        _fail(platform, vid, f"{type(exc).__name__}: {exc}")
        raise
    return {"classifier_id": cid, "name": name, "version": number, "algorithm": model.candidate,
            "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"]}


def _fail(platform: Any, version_id: int, error: str) -> None:
    """Mark one version failed; the classifier's published version is not touched."""
    with platform.transaction(write=True) as db:
        v = db.get(TextClassifierVersion, version_id)
        if v is not None and v.status != "ready":
            v.status, v.error, v.finished_at = "failed", error[:4000], utcnow()


def _train_lost(platform: Any, job_id: str, params: dict) -> None:
    _fail(platform, params.get("version_id", -1),
          "Tiến trình huấn luyện đã dừng giữa chừng; hãy huấn luyện lại. / The worker stopped mid-way; train again.")


TRAIN_JOB = JobKind("language.train_classifier", ("Huấn luyện bộ phân loại văn bản", "Train a text classifier"),
                    _train, auth=authz.sysadmin, retries=0, on_lost=_train_lost)


# ------------------------------------------------------------------ action: predicting

_MODELS: collections.OrderedDict[str, classify.TextClassifierModel] = collections.OrderedDict()
_MODELS_LOCK = threading.Lock()
_MODELS_SIZE = 8


def load_model(platform: Any, key: str) -> classify.TextClassifierModel:
    """A version's model (a small in-memory cache; a version's key is never reused)."""
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    with platform.storage.open(key) as fh:
        model = classify.TextClassifierModel.from_bytes(fh.read())
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_SIZE:
            _MODELS.popitem(last=False)
    return model


@authz.action("textclassifier.predict", scope="read", auth=_auth_use)
def classifier_predict(ctx: Context, *, classifier_id: int, texts: list[str],
                       version: int | None = None) -> dict[str, Any]:
    """Labels and per-label probabilities of texts, by the published version (or a given ready one)."""
    c = _classifier(ctx, classifier_id)
    if version is None:
        if c.published_version is None:
            raise invalid_state(("Bộ phân loại chưa có phiên bản nào được công bố.",
                                 "The classifier has no published version yet."))
        version = c.published_version
    v = _version(ctx, c, version)
    if v.status != "ready" or not v.model_key:
        raise invalid_state((f"Phiên bản v{v.version} chưa sẵn sàng ({VERSION_STATUSES[v.status][0]}).",
                             f"Version v{v.version} is not ready ({v.status})."))
    if not isinstance(texts, list) or not 1 <= len(texts) <= MAX_PREDICT_TEXTS:
        raise _bad(f"texts là danh sách 1-{MAX_PREDICT_TEXTS} văn bản.",
                   f"texts is a list of 1 to {MAX_PREDICT_TEXTS} texts.", field="texts")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise _bad(f"Văn bản số {i} rỗng.", f"Text {i} is empty.", field=f"texts[{i}]")
        if len(t) > MAX_TEXT_CHARS:
            raise _bad(f"Văn bản số {i} dài quá {MAX_TEXT_CHARS} ký tự.",
                       f"Text {i} is longer than {MAX_TEXT_CHARS} characters.", field=f"texts[{i}]")
    model = load_model(ctx.platform, v.model_key)
    try:
        proba = model.predict_proba(texts, home=ctx.platform.settings.home)
    except classify.EmbeddingUnavailable as exc:
        raise Problem(503, "not-ready", T_UNAVAILABLE,
                      ("Mô hình vector ngữ nghĩa (e5) chưa dùng được trên máy chủ này.",
                       "The embedding model (e5) is not available on this server."), reason=str(exc)[:300]) from None
    predictions = []
    for row in proba:
        best = int(row.argmax())
        predictions.append({"label": model.labels[best], "confidence": round(float(row[best]), 6),
                            "probabilities": {lab: round(float(p), 6) for lab, p in zip(model.labels, row)}})
    return {"classifier_id": c.id, "name": c.name, "version": v.version, "algorithm": model.candidate,
            "labels": model.labels, "predictions": predictions}


# ------------------------------------------------------------------ output


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def version_to_dict(v: TextClassifierVersion, locale: str = "vi", *, report: bool = True,
                    published: int | None = None) -> dict[str, Any]:
    i = 1 if locale == "en" else 0
    rep = v.report or {}
    out = {
        "id": v.id, "classifier_id": v.classifier_id, "version": v.version, "status": v.status,
        "status_label": VERSION_STATUSES.get(v.status, (v.status, v.status))[i], "error": v.error,
        "algorithm": v.algorithm, "candidates": v.candidates or [], "labels": v.labels or [],
        "trained_on": v.trained_on, "source": v.source or {}, "job_id": v.job_id, "trained_by": v.trained_by,
        "published": published is not None and published == v.version, "auto_publish": bool(v.auto_publish),
        "created_at": _iso(v.created_at), "started_at": _iso(v.started_at), "finished_at": _iso(v.finished_at),
        "accuracy": rep.get("accuracy"), "macro_f1": rep.get("macro_f1"),
    }
    if report:
        out["report"] = rep
    return out


def to_dict(c: TextClassifier, locale: str = "vi", *, ctx: Context | None = None,
            versions: list[TextClassifierVersion] | None = None) -> dict[str, Any]:
    """A classifier; with ``versions`` their summaries and the published version's full report."""
    i = 1 if locale == "en" else 0
    out: dict[str, Any] = {
        "id": c.id, "agency_id": c.agency_id, "name": c.name, "title": c.title, "description": c.description,
        "labels": c.labels or [], "visibility": c.visibility,
        "visibility_label": VISIBILITIES.get(c.visibility, (c.visibility, c.visibility))[i],
        "published_version": c.published_version, "published_at": _iso(c.published_at),
        "published_by": c.published_by, "created_by": c.created_by, "created_at": _iso(c.created_at),
    }
    if versions is not None:
        out["versions"] = [version_to_dict(v, locale, report=False, published=c.published_version) for v in versions]
        pub = next((v for v in versions if v.version == c.published_version), None)
        out["published"] = None if pub is None else version_to_dict(pub, locale, published=c.published_version)
    return out


__all__ = [
    "MAX_CSV_BYTES", "MAX_EXAMPLES", "TRAIN_JOB", "classifier_create", "classifier_delete", "classifier_list",
    "classifier_predict", "classifier_publish", "classifier_show", "classifier_train", "classifier_version",
    "classifier_versions", "decode_csv", "load_model", "read_csv", "read_dataset", "to_dict", "version_to_dict",
]


# ------------------------------------------------------------------ playground


def playground_classifiers(ctx: Context) -> list[dict[str, Any]]:
    """Published classifiers the actor may call, for the playground's picker (none for anonymous users)."""
    if ctx.actor.is_anonymous:
        return []
    rows, _ = classifier_list(ctx, limit=200)
    return [{"id": c.id, "label": f"{c.title or c.name} (v{c.published_version})"}
            for c in rows if c.published_version is not None]


def playground_predict(ctx: Context, classifier_id: int, text: str) -> dict[str, Any]:
    """One text through a classifier: the label and the probabilities, highest first."""
    out = classifier_predict(ctx, classifier_id=classifier_id, texts=[text[:MAX_TEXT_CHARS]])
    p = out["predictions"][0]
    return {"label": p["label"], "name": out["name"], "version": out["version"],
            "probabilities": sorted(p["probabilities"].items(), key=lambda kv: -kv[1])}
