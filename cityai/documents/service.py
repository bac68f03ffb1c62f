"""Service actions of the documents module, and the processing job.

Who may do what: a document belongs to the agency it was filed with; members of that agency (and of
the agencies above it) read it, upload to it and correct its fields; the system administrator may do
everything. Every read of a document is audited (documents are internal, not open data).

Processing (job ``documents.process``): the stored file is read page by page (``intake``); pages
with a sound PDF text layer keep it, the others are OCRed by the shared engine pool (``ocr``) a few
pages at a time, so memory stays bounded on long PDFs; the text is normalized and parsed for the
ND30 structure (``nd30``); a searchable PDF is written when any page was OCRed; one transaction then
stores pages, fields and status. A failure marks the document failed with a clear message; other
documents of the same batch are separate jobs and go on.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import datetime as dt
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from sqlalchemy import func, or_, select

from cityai.core import authz, jobs
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import invalid, invalid_state, not_found
from cityai.core.jobs import JobKind, JobRun
from cityai.core.models import Agency
from cityai.core.storage import put_hashed, safe_filename
from cityai.documents.intake import IntakeError
from cityai.documents.models import Document, DocumentCorrection, DocumentPage, new_id

log = logging.getLogger("cityai.documents")
DOCUMENT = ("văn bản", "document")
PREVIEW_WIDTH = 1000
DOCTYPE_MIN_CONFIDENCE = 0.5  # below it the type stays empty (a reviewer picks it) rather than a weak guess
CORRECTABLE = ("doc_type", "doc_type_code", "number", "symbol", "issuer", "parent_issuer", "place", "issued_date",
               "title", "legal_bases", "signer", "recipients", "urgency", "secrecy")


# ------------------------------------------------------------------ authorization


def _doc_or_none(ctx: Context, document_id: Any) -> Document | None:
    if not isinstance(document_id, str) or not document_id or len(document_id) > 36:
        return None
    return ctx.db.get(Document, document_id)


def get_document(ctx: Context, document_id: Any) -> Document:
    doc = _doc_or_none(ctx, document_id)
    if doc is None:
        raise not_found(DOCUMENT, document_id)
    return doc


def _auth_read(ctx: Context, *, document_id: Any = None, **_: Any) -> bool:
    doc = _doc_or_none(ctx, document_id)
    if doc is None:
        return not ctx.actor.is_anonymous  # the action answers 404
    return not ctx.actor.is_anonymous and ctx.has_role(doc.agency_id, "member")


def _auth_upload(ctx: Context, *, agency_id: Any = None, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    if agency_id is None:
        return True  # the action picks the uploader's agency, or refuses when there is no single one
    return isinstance(agency_id, int) and ctx.has_role(agency_id, "member")


def _auth_search(ctx: Context, **_: Any) -> bool:
    return not ctx.actor.is_anonymous


def readable_agencies(ctx: Context) -> list[int] | None:
    """Agencies whose documents the actor reads (None: all, for the system administrator)."""
    if ctx.actor.is_sysadmin:
        return None
    return ctx.descendants(list(ctx.actor.roles))


# ------------------------------------------------------------------ upload


def _default_agency(ctx: Context) -> int:
    roles = list(ctx.actor.roles)
    if len(roles) == 1:
        return roles[0]
    raise invalid(("Hãy chọn cơ quan nhận văn bản (agency_id).", "Choose the agency the document is filed with "
                   "(agency_id)."), field="agency_id")


def _store(ctx: Context, doc: Document, stream: BinaryIO) -> bytes:
    """Stream the file to storage, hashing it; returns its first bytes (to tell its kind)."""
    key = f"documents/{doc.id[:2]}/{doc.id}/original/{doc.filename}"
    doc.size, doc.sha256, head = put_hashed(ctx.platform.storage, key, stream, head_bytes=16)
    doc.original_key = key
    if not doc.size:
        ctx.platform.storage.delete(key)
        raise invalid(("Tệp tải lên rỗng.", "The uploaded file is empty."), field="file")
    return head


def _submit(ctx: Context, doc: Document) -> None:
    job = jobs.submit.unchecked(ctx, kind="documents.process", params={"document_id": doc.id},
                                title=f"Xử lý văn bản / Process document: {doc.filename[:200]}", agency_id=doc.agency_id)
    doc.job_id = job.id


@authz.action("document.upload", scope="write", auth=_auth_upload)
def document_upload(ctx: Context, *, stream: BinaryIO, filename: str, agency_id: int | None = None) -> list[Document]:
    """File a document (PDF, image, DOCX) or a ZIP batch of them; each is processed by a job of its own.

    The file is streamed to storage and hashed on the way. Returns the documents created (one, or one
    per file of the batch).
    """
    from cityai.documents import intake

    agency = agency_id if agency_id is not None else _default_agency(ctx)
    if ctx.db.get(Agency, agency) is None:
        raise not_found(("cơ quan", "agency"), agency)
    name = safe_filename(filename)
    doc = Document(id=new_id(), agency_id=agency, uploaded_by=ctx.actor.user_id, filename=name, status="pending",
                   fields={}, corrected={})
    head = _store(ctx, doc, stream)
    try:
        kind = intake.sniff(head, name)
    except IntakeError as exc:
        ctx.platform.storage.delete(doc.original_key)
        raise exc.to_problem() from None
    if kind != "zip":
        doc.media_type = intake.KINDS[kind]
        ctx.db.add(doc)
        ctx.db.flush()
        _submit(ctx, doc)
        ctx.audit("document.upload", "document", doc.id, filename=name, size=doc.size, sha256=doc.sha256,
                  agency_id=agency, job_id=doc.job_id)
        return [doc]
    return _upload_batch(ctx, doc, agency)


def _upload_batch(ctx: Context, archive: Document, agency: int) -> list[Document]:
    """Each supported file of a ZIP becomes a document; unsupported ones are listed, never fatal."""
    from cityai.documents import intake

    batch_id = archive.id
    tmp = _tmpdir(ctx)
    created: list[Document] = []
    skipped: list[dict[str, str]] = []
    try:
        local = Path(tmp) / "batch.zip"
        with ctx.platform.storage.open(archive.original_key) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        try:
            members = list(_members(local))
        except IntakeError as exc:
            raise exc.to_problem() from None
        for member_name, path in members:
            with open(path, "rb") as fh:
                head = fh.read(16)
                try:
                    kind = intake.sniff(head, member_name)
                except IntakeError as exc:
                    skipped.append({"file": member_name, "error": exc.en})
                    continue
                if kind == "zip":
                    skipped.append({"file": member_name, "error": "nested ZIP files are not opened"})
                    continue
                fh.seek(0)
                doc = Document(id=new_id(), agency_id=agency, uploaded_by=ctx.actor.user_id, batch_id=batch_id,
                               filename=safe_filename(member_name), status="pending", fields={}, corrected={})
                _store(ctx, doc, fh)
                doc.media_type = intake.KINDS[kind]
                ctx.db.add(doc)
                ctx.db.flush()
                _submit(ctx, doc)
                created.append(doc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        ctx.platform.storage.delete(archive.original_key)
    if not created:
        raise invalid(("ZIP không có tệp nào xử lý được.", "The ZIP holds no file that can be processed."),
                      field="file", skipped=skipped)
    ctx.audit("document.upload_batch", "document_batch", batch_id, documents=[d.id for d in created],
              skipped=skipped, agency_id=agency)
    for d in created:
        d.fields = {"batch_skipped": skipped} if skipped else {}
    return created


def _members(zip_path: Path) -> Iterator[tuple[str, Path]]:
    from cityai.documents import intake

    out = zip_path.parent / "members"
    out.mkdir()
    for i, (name, stream) in enumerate(intake.zip_members(zip_path)):
        target = out / f"{i:04d}"
        with open(target, "wb") as fh:
            shutil.copyfileobj(stream, fh, 1 << 20)
        yield name, target


def _tmpdir(ctx_or_platform: Any) -> str:
    platform = getattr(ctx_or_platform, "platform", ctx_or_platform)
    root = platform.settings.home / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(dir=root, prefix="documents-")


# ------------------------------------------------------------------ reads


@authz.action("document.show", scope="read", auth=_auth_read)
def document_show(ctx: Context, *, document_id: str) -> Document:
    """One document with its extracted fields (the read is audited)."""
    doc = get_document(ctx, document_id)
    ctx.audit_now("document.show", "document", doc.id, agency_id=doc.agency_id)
    return doc


@authz.action("document.pages", scope="read", auth=_auth_read)
def document_pages(ctx: Context, *, document_id: str) -> list[DocumentPage]:
    """The pages of a document: text, confidence, words with their boxes, preview image key."""
    doc = get_document(ctx, document_id)
    return list(ctx.db.execute(select(DocumentPage).where(DocumentPage.document_id == doc.id)
                               .order_by(DocumentPage.number)).scalars())


@authz.action("document.file", scope="read", auth=_auth_read)
def document_file(ctx: Context, *, document_id: str, which: str = "pdf", page: int | None = None) -> tuple[str, str, str]:
    """(storage key, media type, download name) of the searchable PDF, the original, or a page preview."""
    doc = get_document(ctx, document_id)
    stem = doc.filename.rsplit(".", 1)[0] or "document"
    if which == "original":
        key, media, name = doc.original_key, doc.media_type or "application/octet-stream", doc.filename
    elif which == "page":
        row = ctx.db.execute(select(DocumentPage).where(DocumentPage.document_id == doc.id,
                                                        DocumentPage.number == page)).scalar_one_or_none()
        if row is None or not row.image_key:
            raise not_found(("trang", "page"), page)
        key, media, name = row.image_key, "image/png", f"{stem}-{page}.png"
    else:
        if doc.status != "ready":
            raise invalid_state(("Văn bản chưa xử lý xong.", "The document has not been processed yet."))
        key = doc.pdf_key or (doc.original_key if doc.media_type == "application/pdf" else None)
        if key is None:
            raise not_found(("bản PDF", "PDF"), document_id)
        media, name = "application/pdf", f"{stem}.pdf"
    if not key or not ctx.platform.storage.exists(key):
        raise not_found(("tệp", "file"), document_id)
    ctx.audit_now("document.download", "document", doc.id, which=which, page=page)
    return key, media, name


@authz.action("document.redacted", scope="read", auth=_auth_read)
def document_redacted(ctx: Context, *, document_id: str, style: str = "label") -> str:
    """The document's text with personal data replaced (``[CCCD]``, ``[SĐT]`` ... or █ with ``style="mask"``)."""
    from cityai.core import pii

    doc = get_document(ctx, document_id)
    if doc.status != "ready":
        raise invalid_state(("Văn bản chưa xử lý xong.", "The document has not been processed yet."))
    if style not in ("label", "mask"):
        raise invalid(("style phải là label hoặc mask.", "style must be label or mask."), field="style")
    hits = [pii.Hit(**h) for h in (doc.fields or {}).get("personal_data") or []]
    ctx.audit_now("document.redacted", "document", doc.id, style=style, hits=len(hits))
    return pii.redact(doc.text or "", hits, style=style)


@authz.action("document.search", scope="read", auth=_auth_search)
def document_search(ctx: Context, *, q: str | None = None, plain_accents: bool = False, doc_type_code: str | None = None,
                    agency_id: int | None = None, issuer: str | None = None, date_from: dt.date | None = None,
                    date_to: dt.date | None = None, status: str | None = None, limit: int = 20,
                    offset: int = 0) -> tuple[list[Document], int]:
    """The archive: full-text search (optionally ignoring diacritics) with filters; only readable documents."""
    from cityai.language.normalize import fold

    stmt = select(Document)
    agencies = readable_agencies(ctx)
    if agencies is not None:
        stmt = stmt.where(Document.agency_id.in_(agencies or [-1]))
    if q:
        words = [w for w in str(q).split() if w][:20]
        for w in words:
            if plain_accents:
                stmt = stmt.where(Document.text_folded.contains(fold(w), autoescape=True))
            else:
                stmt = stmt.where(or_(Document.text.ilike(f"%{_escape(w)}%", escape="\\"),
                                      Document.title.ilike(f"%{_escape(w)}%", escape="\\")))
    if doc_type_code:
        stmt = stmt.where(Document.doc_type_code == doc_type_code)
    if agency_id is not None:
        stmt = stmt.where(Document.agency_id == agency_id)
    if issuer:
        stmt = stmt.where(Document.issuer.ilike(f"%{_escape(issuer)}%", escape="\\"))
    if date_from:
        stmt = stmt.where(Document.issued_date >= date_from)
    if date_to:
        stmt = stmt.where(Document.issued_date <= date_to)
    if status:
        stmt = stmt.where(Document.status == status)
    total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = ctx.db.execute(stmt.order_by(Document.issued_date.desc().nulls_last(), Document.created_at.desc())
                          .limit(limit).offset(offset)).scalars().all()
    return list(rows), total


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ------------------------------------------------------------------ corrections


@authz.action("document.correct", scope="write", auth=_auth_read)
def document_correct(ctx: Context, *, document_id: str, changes: dict[str, Any]) -> Document:
    """Save a reviewer's corrections of extracted fields; each is kept (old and new) as training data."""
    doc = get_document(ctx, document_id)
    if doc.status != "ready":
        raise invalid_state(("Văn bản chưa xử lý xong.", "The document has not been processed yet."))
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown:
        raise invalid((f"Không sửa được trường: {', '.join(unknown)}.", f"Fields that cannot be corrected: "
                       f"{', '.join(unknown)}."), field="changes", allowed=list(CORRECTABLE))
    fields = dict(doc.fields or {})
    corrected = dict(doc.corrected or {})
    for name, value in changes.items():
        value = _clean_value(name, value)
        old = fields.get(name)
        if old == value:
            continue
        ctx.db.add(DocumentCorrection(document_id=doc.id, field=name, old_value=old, new_value=value,
                                      user_id=ctx.actor.user_id))
        fields[name] = value
        corrected[name] = value
    doc.fields, doc.corrected = fields, corrected
    _index_fields(doc, fields)
    ctx.audit("document.correct", "document", doc.id, fields=sorted(changes))
    return doc


def _clean_value(name: str, value: Any) -> Any:
    if name in ("legal_bases", "recipients"):
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 2000 for v in value) \
                or len(value) > 500:
            raise invalid((f"'{name}' phải là danh sách chuỗi.", f"'{name}' must be a list of strings."), field=name)
        return [" ".join(v.split()) for v in value if v.strip()]
    if name == "signer":
        if value is not None and (not isinstance(value, dict) or set(value) - {"name", "position", "authority",
                                                                                 "authority_of"}):
            raise invalid(("'signer' phải có name, position, authority.", "'signer' takes name, position, authority."),
                          field=name)
        return value
    if name == "issued_date":
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise invalid(("Ngày ban hành phải có dạng YYYY-MM-DD.", "issued_date must be YYYY-MM-DD."),
                          field=name) from None
    if value is not None and (not isinstance(value, str) or len(value) > 5000):
        raise invalid((f"'{name}' phải là chuỗi.", f"'{name}' must be a string."), field=name)
    return " ".join(value.split()) if isinstance(value, str) else None


def _index_fields(doc: Document, fields: dict[str, Any]) -> None:
    """Copy the searchable fields to their columns."""
    doc.doc_type, doc.doc_type_code = fields.get("doc_type"), fields.get("doc_type_code")
    doc.number, doc.symbol = _cut(fields.get("number"), 32), _cut(fields.get("symbol"), 100)
    doc.issuer, doc.title = _cut(fields.get("issuer"), 500), fields.get("title")
    issued = fields.get("issued_date")
    try:
        doc.issued_date = dt.date.fromisoformat(issued) if isinstance(issued, str) else None
    except ValueError:
        doc.issued_date = None


def _cut(value: Any, n: int) -> str | None:
    return str(value)[:n] if value else None


# ------------------------------------------------------------------ processing


def process(run: JobRun) -> dict:
    from cityai.core import pii
    from cityai.documents import intake, nd30
    from cityai.language import normalize

    platform = run.platform
    doc_id = run.params["document_id"]
    with platform.transaction(write=True) as db:
        doc = db.get(Document, doc_id)
        if doc is None:
            raise LookupError(f"document {doc_id} does not exist")
        doc.status, doc.error = "processing", None
        key, media = doc.original_key, doc.media_type
    kind = next((k for k, v in intake.KINDS.items() if v == media), None)
    tmp = _tmpdir(platform)
    try:
        local = Path(tmp) / ("original." + (kind or "bin"))
        with platform.storage.open(key) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        try:
            total = intake.count_pages(local, kind)
            result = _run_pages(platform, run, doc_id, local, kind, total, Path(tmp))
        except IntakeError as exc:
            _fail(platform, doc_id, f"{exc.vi} / {exc.en}")
            raise RuntimeError(exc.en) from None
        except jobs.JobCancelled:
            _fail(platform, doc_id, "Đã hủy / Cancelled")
            raise
        except Exception as exc:
            _fail(platform, doc_id, f"{type(exc).__name__}: {exc}")
            raise
        raw = "\n".join(p["text"] or "" for p in result["pages"])
        fields = nd30.parse(raw)  # it normalizes line by line itself (joining lines first can mix blocks)
        text = normalize.normalize_text(raw)
        _tidy(fields, _known_names(platform))
        if not fields.get("doc_type") and _looks_vietnamese(raw):  # no title line or symbol read: the model
            # guesses from the body
            from cityai.documents import classify

            guess = classify.doc_type(raw, fields, home=platform.settings.home)
            if guess.get("doc_type") and (guess.get("confidence") or 0) >= DOCTYPE_MIN_CONFIDENCE:
                fields["doc_type"], fields["doc_type_code"] = guess["doc_type"], guess["doc_type_code"]
                fields.setdefault("confidence", {})["doc_type"] = round(float(guess["confidence"]), 3)
                fields["doc_type_source"] = "model"
            fields["doc_type_candidates"] = guess.get("candidates", [])[:3]
        else:
            fields["doc_type_source"] = "rule"
        fields["tables"] = _tables(result["tables"])
        fields["language_ok"] = _looks_vietnamese(text)
        hits = pii.detect(text)
        fields["personal_data"] = [h.to_dict() for h in hits[:2000]]
        fields["personal_data_summary"] = pii.summary(hits)
        pdf_key = None
        if result["ocr_pages"]:
            pdf_key = f"documents/{doc_id[:2]}/{doc_id}/searchable.pdf"
            with open(result["pdf_path"], "rb") as fh:
                platform.storage.put(pdf_key, fh)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    run.progress(99, "Lưu kết quả / Saving", force=True)
    with run.unit_of_work() as ctx:
        doc = ctx.db.get(Document, doc_id)
        for old in ctx.db.execute(select(DocumentPage).where(DocumentPage.document_id == doc_id)).scalars():
            ctx.db.delete(old)
        ctx.db.flush()
        for p in result["pages"]:
            ctx.db.add(DocumentPage(document_id=doc_id, **{k: v for k, v in p.items()}))
        doc.pages = len(result["pages"])
        doc.source = result["source"]
        doc.text = text
        doc.text_folded = normalize.fold(text)
        skipped = (doc.fields or {}).get("batch_skipped")
        doc.fields = {**fields, **({"batch_skipped": skipped} if skipped else {}), **dict(doc.corrected or {})}
        _index_fields(doc, doc.fields)
        confs = [p["confidence"] for p in result["pages"] if p["confidence"] is not None]
        doc.confidence = round(sum(confs) / len(confs), 2) if confs else None
        doc.pdf_key = pdf_key
        doc.status, doc.processed_at = "ready", utcnow()
        ctx.audit("document.process", "document", doc_id, pages=doc.pages, source=doc.source,
                  doc_type=doc.doc_type_code, confidence=doc.confidence)
    return {"document_id": doc_id, "pages": len(result["pages"]), "source": result["source"],
            "doc_type": fields.get("doc_type"), "number": fields.get("number"), "symbol": fields.get("symbol")}


_EDGE_NOISE = "_`'\".,;:|-–—…~*^"


# Positions that sign documents, as ND30 writes them: an OCR reading that differs only in its marks
# ("PHO GIAM ĐỌC") is put back to the known form.
POSITIONS = (
    "CHỦ TỊCH", "PHÓ CHỦ TỊCH", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", "TỔNG GIÁM ĐỐC", "PHÓ TỔNG GIÁM ĐỐC",
    "CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG", "TRƯỞNG PHÒNG", "PHÓ TRƯỞNG PHÒNG", "TRƯỞNG BAN", "PHÓ TRƯỞNG BAN",
    "BỘ TRƯỞNG", "THỨ TRƯỞNG", "THỦ TƯỚNG", "PHÓ THỦ TƯỚNG", "CHÁNH THANH TRA", "PHÓ CHÁNH THANH TRA",
    "CỤC TRƯỞNG", "PHÓ CỤC TRƯỞNG", "VỤ TRƯỞNG", "PHÓ VỤ TRƯỞNG", "VIỆN TRƯỞNG", "PHÓ VIỆN TRƯỞNG",
    "HIỆU TRƯỞNG", "PHÓ HIỆU TRƯỞNG", "CHỦ NHIỆM", "PHÓ CHỦ NHIỆM", "BÍ THƯ", "PHÓ BÍ THƯ", "THƯ KÝ",
    "CHỦ TỌA", "KẾ TOÁN TRƯỞNG", "TRƯỞNG ĐOÀN", "GIÁM ĐỐC TRUNG TÂM", "TRƯỞNG CÔNG AN", "CHỈ HUY TRƯỞNG",
)
STANDARD_ISSUERS = ("ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH", "HỘI ĐỒNG NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH",
                    "ỦY BAN NHÂN DÂN", "HỘI ĐỒNG NHÂN DÂN", "CHÍNH PHỦ", "THỦ TƯỚNG CHÍNH PHỦ")


def _key(text: str) -> str:
    from cityai.language.normalize import fold

    return " ".join("".join(ch if ch.isalnum() else " " for ch in fold(text)).split())


def _known_names(platform: Any) -> dict[str, str]:
    """Folded name -> the name as written, for issuers: the agency registry (upper case) and the usual ones."""
    names = {_key(n): n for n in STANDARD_ISSUERS}
    with platform.transaction() as db:
        for (name,) in db.execute(select(Agency.name)):
            names.setdefault(_key(name), name.upper())
    return names


def _tidy(fields: dict[str, Any], issuers: dict[str, str] | None = None) -> None:
    """Strip scan noise at the ends of name-like fields (an underline read as "_", a stray "`"), and put an
    issuer or a position back to its known spelling when the reading differs only in marks and punctuation
    (OCR loses stacked diacritics on bold capitals: "ÙY BAN ... HỒ CHÍ MINH_" -> "ỦY BAN ... HỒ CHÍ MINH")."""
    positions = {_key(p): p for p in POSITIONS}
    for key in ("issuer", "parent_issuer", "place"):
        if isinstance(fields.get(key), str):
            fields[key] = fields[key].strip(_EDGE_NOISE + " ") or None
            if key != "place" and fields[key] and issuers:
                fields[key] = issuers.get(_key(fields[key]), fields[key])
    signer = fields.get("signer")
    if isinstance(signer, dict):
        for key in ("position", "name", "authority_of"):
            if isinstance(signer.get(key), str):
                signer[key] = signer[key].strip(_EDGE_NOISE + " ") or None
        if signer.get("position"):
            signer["position"] = positions.get(_key(signer["position"]), signer["position"])


def _looks_vietnamese(text: str) -> bool:
    """Whether the text has Vietnamese letters (a document in another language gets a warning)."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 20:
        return False
    marked = sum(1 for c in letters if c in "ăâđêôơưĂÂĐÊÔƠƯ" or (ord(c) > 0x7F and c.lower() != c.upper()))
    return marked / len(letters) > 0.05


def _tables(raw: list[list[list[str]]]) -> list[dict[str, Any]]:
    """Tables that continue across pages (same header, or a page starting with a headless continuation) are
    joined; continuation rows (empty STT) are merged into the row above."""
    from cityai.documents import nd30

    out: list[dict[str, Any]] = []
    for table in raw:
        rows = [r for r in table if any((c or "").strip() for c in r)]
        if not rows:
            continue
        if out and (rows[0] == out[-1]["columns"] or len(rows[0]) == len(out[-1]["columns"])
                    and not _is_header(rows[0])):
            body = rows[1:] if rows[0] == out[-1]["columns"] else rows
            out[-1]["rows"] = nd30.parse_table_rows([out[-1]["columns"], *out[-1]["rows"], *body])[1:]
            continue
        merged = nd30.parse_table_rows(rows)
        out.append({"columns": merged[0], "rows": merged[1:]})
    return out


def _is_header(row: list[str]) -> bool:
    first = (row[0] or "").strip().lower()
    return first in ("stt", "tt", "số tt", "số thứ tự")


def _run_pages(platform: Any, run: JobRun, doc_id: str, path: Path, kind: str, total: int, work: Path) -> dict:
    """Every page through text layer or OCR, in order, with a bounded number of pages in flight."""
    from cityai.documents import intake, ocr

    pages: list[dict[str, Any]] = []
    tables: list[list[list[str]]] = []
    ocr_pages: list[int] = []
    pool = ocr.get_pool() if kind != "docx" else None
    width = max(1, getattr(pool, "size", None) or os.cpu_count() or 1)
    pdf_writer = None
    pending: collections.deque = collections.deque()
    executor = cf.ThreadPoolExecutor(max_workers=width, thread_name_prefix="ocr") if pool else None

    def finish(page: Any, future: cf.Future | None) -> None:
        nonlocal pdf_writer
        image = page.image
        if future is not None:
            res = future.result()
            image, res.image = (res.image if res.image is not None else image), None
            page.image = None  # free the rendered page as soon as it is written
            ocr_pages.append(page.number)
            if pdf_writer is None:
                pdf_writer = _PdfWriter(work / "ocr-pages.pdf")
            pdf_writer.add_page(image, res)
            tables.extend(res.tables or [])  # gridded tables, read cell by cell
            row = {"number": page.number, "source": "ocr", "text": res.text, "confidence": res.confidence,
                   "words": [[w.text, round(w.conf, 1), *w.bbox] for w in res.words], "width": res.width,
                   "height": res.height, "rotation": res.rotation, "skew": res.skew, "blank": res.blank}
        else:
            row = {"number": page.number, "source": "docx" if kind == "docx" else "text-layer", "text": page.text,
                   "confidence": None, "words": [], "width": page.width, "height": page.height, "rotation": 0.0,
                   "skew": 0.0, "blank": not (page.text or "").strip()}
            tables.extend(page.tables)
        row["image_key"] = _store_preview(platform, doc_id, page.number, image if image is not None
                                          else getattr(page, "preview", None))
        pages.append(row)
        run.progress(2 + 95 * len(pages) / max(total, 1),
                     f"Trang {len(pages)}/{total} / Page {len(pages)} of {total}")

    try:
        for page in intake.pages(path, kind):
            if page.kind == "image":
                # keep_image: the word boxes are in the pixels of the turned, deskewed page
                pending.append((page, executor.submit(pool.recognize, page.image, True, True)))
            else:
                pending.append((page, None))
            while len(pending) > width * 2 or (pending and (pending[0][1] is None or pending[0][1].done())):
                finish(*pending.popleft())
        while pending:
            finish(*pending.popleft())
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    pdf_path = None
    if pdf_writer is not None:
        pdf_writer.close()
        pdf_path = _assemble_pdf(path if kind == "pdf" else None, work / "ocr-pages.pdf", [p["number"] for p in pages],
                                 set(ocr_pages), work / "searchable.pdf")
    sources = {p["source"] for p in pages}
    source = sources.pop() if len(sources) == 1 else "mixed"
    return {"pages": pages, "tables": tables, "ocr_pages": ocr_pages, "pdf_path": pdf_path, "source": source}


class _PdfWriter:
    """Pages pushed one at a time into :func:`searchable_pdf.make_searchable_pdf` (which pulls from an
    iterable) through a small queue on a thread of its own: at most two page images wait in memory."""

    _END = object()

    def __init__(self, path: Path) -> None:
        import queue
        import threading

        from cityai.documents import searchable_pdf

        self._q: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None

        def pages() -> Iterator[Any]:
            while (item := self._q.get()) is not self._END:
                yield item

        def run() -> None:
            try:
                searchable_pdf.make_searchable_pdf(pages(), path, jpeg_quality=80)
            except BaseException as exc:  # noqa: BLE001 - reported by close()
                self._error = exc
                while self._q.get() is not self._END:  # drain, so add_page never blocks forever
                    pass

        self._thread = threading.Thread(target=run, name="searchable-pdf", daemon=True)
        self._thread.start()

    def add_page(self, image: Any, result: Any) -> None:
        if self._error is None:
            self._q.put((image, result))

    def close(self) -> None:
        self._q.put(self._END)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _assemble_pdf(original: Path | None, ocr_pdf: Path, numbers: list[int], ocred: set[int], out: Path) -> Path:
    """The searchable PDF: OCRed pages from ``ocr_pdf``, the others as they are in the original PDF."""
    if original is None or ocred == set(numbers):
        shutil.move(str(ocr_pdf), out)
        return out
    import pypdfium2 as pdfium

    src, ocr_doc, dst = pdfium.PdfDocument(str(original)), pdfium.PdfDocument(str(ocr_pdf)), pdfium.PdfDocument.new()
    try:
        k = 0
        for n in numbers:
            if n in ocred:
                dst.import_pages(ocr_doc, [k])
                k += 1
            else:
                dst.import_pages(src, [n - 1])
        dst.save(str(out))
    finally:
        for d in (dst, ocr_doc, src):
            d.close()
    return out


def _store_preview(platform: Any, doc_id: str, number: int, image: Any) -> str | None:
    if image is None:
        return None
    import io

    im = image.convert("L") if image.mode not in ("L", "RGB") else image
    if im.width > PREVIEW_WIDTH:
        im = im.resize((PREVIEW_WIDTH, max(1, round(im.height * PREVIEW_WIDTH / im.width))))
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    buf.seek(0)
    key = f"documents/{doc_id[:2]}/{doc_id}/pages/{number:04d}.png"
    platform.storage.put(key, buf)
    return key


def _fail(platform: Any, doc_id: str, error: str) -> None:
    with platform.transaction(write=True) as db:
        doc = db.get(Document, doc_id)
        if doc is not None:
            doc.status, doc.error = "failed", error[:4000]


def process_lost(platform: Any, job_id: str, params: dict) -> None:
    _fail(platform, params.get("document_id", ""), "Tiến trình xử lý đã dừng giữa chừng; hãy xử lý lại. / "
                                                   "The worker stopped mid-way; process the document again.")


PROCESS_JOB = JobKind("documents.process", ("Xử lý văn bản", "Process a document"), process, auth=authz.sysadmin,
                      retries=0, on_lost=process_lost)


# ------------------------------------------------------------------ output


def to_dict(doc: Document, locale: str = "vi") -> dict[str, Any]:
    """The document as the API returns it (the contract of issue 4)."""
    f = dict(doc.fields or {})
    return {
        "id": doc.id, "status": doc.status, "status_label": _label(doc.status, locale), "error": doc.error,
        "job_id": doc.job_id, "agency_id": doc.agency_id, "batch_id": doc.batch_id, "filename": doc.filename,
        "media_type": doc.media_type, "size": doc.size, "sha256": doc.sha256, "pages": doc.pages,
        "source": doc.source, "confidence": doc.confidence,
        "doc_type": f.get("doc_type"), "doc_type_code": f.get("doc_type_code"), "number": f.get("number"),
        "number_year": f.get("number_year"), "symbol": f.get("symbol"), "issuer": f.get("issuer"),
        "parent_issuer": f.get("parent_issuer"), "place": f.get("place"), "issued_date": f.get("issued_date"),
        "title": f.get("title"), "legal_bases": f.get("legal_bases") or [], "signer": f.get("signer"),
        "recipients": f.get("recipients") or [], "urgency": f.get("urgency"), "secrecy": f.get("secrecy"),
        "national_title": f.get("national_title"), "motto": f.get("motto"), "sections": f.get("sections") or [],
        "annexes": f.get("annexes") or [], "blanks": f.get("blanks") or [], "tables": f.get("tables") or [],
        "field_confidence": f.get("confidence") or {}, "corrected": sorted((doc.corrected or {}).keys()),
        "doc_type_source": f.get("doc_type_source"), "doc_type_candidates": f.get("doc_type_candidates") or [],
        "language_ok": f.get("language_ok"), "batch_skipped": f.get("batch_skipped") or [],
        "personal_data": f.get("personal_data") or [], "personal_data_summary": f.get("personal_data_summary") or {},
        "text": doc.text, "created_at": doc.created_at.isoformat() if doc.created_at else None,
        "processed_at": doc.processed_at.isoformat() if doc.processed_at else None,
    }


def _label(status: str, locale: str) -> str:
    from cityai.documents.models import STATUSES

    return STATUSES.get(status, (status, status))[1 if locale == "en" else 0]


def page_to_dict(p: DocumentPage, document_id: str) -> dict[str, Any]:
    return {"number": p.number, "source": p.source, "text": p.text, "confidence": p.confidence,
            "width": p.width, "height": p.height, "rotation": p.rotation, "skew": p.skew, "blank": p.blank,
            "words": p.words, "image_url": f"/api/v1/documents/{document_id}/pages/{p.number}/image"
            if p.image_key else None}



# ------------------------------------------------------------------ redacted PDF

REDACT_DPI = 150


@authz.action("document.redacted_pdf", scope="read", auth=_auth_read)
def document_redacted_pdf(ctx: Context, *, document_id: str, kinds: list[str] | None = None) -> Path:
    """A PDF of the document's pages as images with black boxes over the personal data found (no text
    layer: nothing redacted can be copied back out). Returns a temporary file the caller deletes.

    The boxes come from searching each finding's words in the searchable PDF's text layer (the OCR text
    over scans, the original text layer otherwise), page by page.
    """
    from cityai.core import pii

    doc = get_document(ctx, document_id)
    if doc.status != "ready":
        raise invalid_state(("Văn bản chưa xử lý xong.", "The document has not been processed yet."))
    key = doc.pdf_key or (doc.original_key if doc.media_type == "application/pdf" else None)
    if key is None:
        raise invalid_state(("Văn bản này (DOCX) không có bản PDF; hãy tải bản văn bản đã che.",
                             "This document (DOCX) has no PDF; download the redacted text instead."))
    wanted = set(kinds or pii.KINDS)
    unknown = wanted - set(pii.KINDS)
    if unknown:
        raise invalid((f"Loại không hợp lệ: {', '.join(sorted(unknown))}.", f"Unknown kinds: {', '.join(sorted(unknown))}."),
                      field="kinds", allowed=sorted(pii.KINDS))
    hits = [h for h in (doc.fields or {}).get("personal_data") or [] if h["kind"] in wanted]
    tmp = Path(_tmpdir(ctx))
    src = tmp / "source.pdf"
    with ctx.platform.storage.open(key) as fh, open(src, "wb") as dst:
        shutil.copyfileobj(fh, dst, 1 << 20)
    out = tmp / "redacted.pdf"
    boxes = _redact_pdf(src, out, [h["text"] for h in hits])
    ctx.audit_now("document.redacted_pdf", "document", doc.id, kinds=sorted(wanted), findings=len(hits), boxes=boxes)
    return out


def _redact_pdf(src: Path, out: Path, needles: list[str]) -> int:
    """Render each page, black out every occurrence of each needle, write an image-only PDF.

    A needle is matched with whitespace ignored on both sides, so a phone number or an address that wraps
    onto the next line is still found whole (and a short word of it is never blacked out elsewhere).
    """
    import pypdfium2 as pdfium
    from PIL import ImageDraw
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas as rl_canvas

    wanted = sorted({"".join(n.split()) for n in needles if len("".join(n.split())) >= 3}, key=len, reverse=True)
    pdf = pdfium.PdfDocument(str(src))
    c = rl_canvas.Canvas(str(out), pageCompression=1)
    scale = REDACT_DPI / 72
    total = 0
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            width, height = page.get_size()
            image = page.render(scale=scale).to_pil().convert("RGB")
            draw = ImageDraw.Draw(image)
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            keep = [(ch, k) for k, ch in enumerate(text) if not ch.isspace()]
            compact = "".join(ch for ch, _k in keep)
            for needle in wanted:
                at = compact.find(needle)
                while at >= 0:
                    first, last = keep[at][1], keep[at + len(needle) - 1][1]
                    for r in range(textpage.count_rects(first, last - first + 1)):
                        left, bottom, right, top = textpage.get_rect(r)
                        draw.rectangle([left * scale - 1, (height - top) * scale - 1, right * scale + 1,
                                        (height - bottom) * scale + 1], fill="black")
                        total += 1
                    at = compact.find(needle, at + len(needle))
            textpage.close()
            page.close()
            c.setPageSize((width, height))
            c.drawImage(ImageReader(image), 0, 0, width=width, height=height)
            c.showPage()
        c.save()
    finally:
        pdf.close()
    return total
