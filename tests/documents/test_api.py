"""The documents API end to end: upload, the processing job, the contract's fields, the searchable PDF,
batches, bad files, permissions, corrections and search. Documents are rendered from the ND30 samples."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy import select

from cityai.core import jobs
from cityai.core.models import AuditEntry
from cityai.documents import ocr, samples
from cityai.documents.models import DocumentCorrection
from tests.conftest import login

KE_HOACH, CONG_VAN, QUYET_DINH, DU_THAO = samples.SAMPLE_SPECS[:4]


def _ocr_missing() -> str | None:
    try:
        ocr.tessdata_dir("vie")
        samples.find_font()
    except Exception as exc:  # noqa: BLE001
        return f"OCR or fonts unavailable: {exc}"
    return None


pytestmark = pytest.mark.skipif(bool(_ocr_missing()), reason=_ocr_missing() or "")


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def upload(client, headers, data: bytes, filename: str, run: bool = True, platform=None) -> dict:
    r = client.post("/api/v1/documents", headers=headers, files={"file": (filename, data)})
    assert r.status_code == 202, r.text
    body = r.json()
    if run:
        for d in body["documents"]:
            jobs.execute(platform, d["job_id"])
    return body


def show(client, headers, doc_id: str) -> dict:
    r = client.get(f"/api/v1/documents/{doc_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def member(client, users):
    return login(client, users.member)


def test_text_layer_pdf_gives_the_contract_fields_and_the_joined_table(client, platform, member):
    doc_id = upload(client, member, samples.render_pdf(KE_HOACH), "ke-hoach-140.pdf", platform=platform)["id"]
    d = show(client, member, doc_id)
    assert d["status"] == "ready", d["error"]
    assert d["source"] == "text-layer" and d["pages"] >= 2
    assert (d["doc_type"], d["doc_type_code"], d["number"], d["symbol"]) == ("Kế hoạch", "KH", "140", "KH-UBND")
    assert d["issuer"] == "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH"
    assert d["place"] == "Thành phố Hồ Chí Minh" and d["issued_date"] == "2025-01-15"
    assert d["title"].startswith("Triển khai nền tảng trí tuệ nhân tạo dùng chung")
    assert d["signer"]["name"] == "Nguyễn Văn An" and d["signer"]["position"] == "PHÓ CHỦ TỊCH"
    assert "Thường trực Thành ủy" in d["recipients"]
    table = next(t for t in d["tables"] if t["columns"][:2] == ["STT", "Nội dung"])
    assert [r[0] for r in table["rows"]] == [str(i) for i in range(1, 17)]  # 16 tasks, across the page break
    assert table["rows"][15][-1] == "Tháng 12/2025"
    assert "Công bố danh mục dữ liệu mở" in table["rows"][14][1]
    pdf = client.get(f"/api/v1/documents/{doc_id}/pdf", headers=member)  # a text-layer PDF comes back as it is
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def test_scanned_page_is_ocred_with_confidence_and_a_searchable_pdf(client, platform, member):
    page = samples.render_images(CONG_VAN, dpi=200, pages=[0], noise=4.0, seed=3)[0]
    doc_id = upload(client, member, png_bytes(page), "cong-van-scan.png", platform=platform)["id"]
    d = show(client, member, doc_id)
    assert d["status"] == "ready", d["error"]
    assert d["source"] == "ocr" and d["pages"] == 1 and d["confidence"] > 70
    assert (d["number"], d["symbol"], d["doc_type"]) == ("2315", "SKHCN-CĐS", "Công văn")
    assert d["urgency"] == "Khẩn" and d["issued_date"] == "2025-05-08"
    assert d["title"].startswith("đề nghị cung cấp dữ liệu văn bản")
    pages = client.get(f"/api/v1/documents/{doc_id}/pages", headers=member).json()["items"]
    words = pages[0]["words"]
    assert words and all(0 <= w[1] <= 100 for w in words) and pages[0]["image_url"]
    assert client.get(pages[0]["image_url"], headers=member).content.startswith(b"\x89PNG")
    pdf = client.get(f"/api/v1/documents/{doc_id}/pdf", headers=member)
    assert pdf.status_code == 200
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf.content)
    text = doc[0].get_textpage().get_text_bounded()
    assert "Khoa học" in text and "2315" in text  # the invisible OCR text layer


def test_docx_and_a_draft_with_blanks(client, platform, member, tmp_path):
    samples.render_docx(QUYET_DINH, tmp_path / "qd.docx")
    draft_pdf = samples.render_pdf(DU_THAO)
    qd = upload(client, member, (tmp_path / "qd.docx").read_bytes(), "qd.docx", platform=platform)["id"]
    draft = upload(client, member, draft_pdf, "du-thao.pdf", platform=platform)["id"]
    d = show(client, member, qd)
    assert d["status"] == "ready" and d["source"] == "docx"
    assert (d["doc_type"], d["number"], d["symbol"]) == ("Quyết định", "1826", "QĐ-UBND")
    assert d["issuer"] == "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH"  # two lines of one paragraph (w:br)
    assert len(d["legal_bases"]) == 3 and d["legal_bases"][2].startswith("Căn cứ Nghị định số 30/2020/NĐ-CP")
    assert d["signer"]["authority"] == "TM." and d["signer"]["name"] == "Lê Hoàng Minh"
    dr = show(client, member, draft)
    assert dr["number"] is None and dr["symbol"] == "KH-SNV"  # reported blank, never invented
    assert "number" in dr["blanks"]
    assert isinstance(dr["issued_date"], dict) and dr["issued_date"]["year"] == 2025 and dr["issued_date"]["day"] is None


def test_zip_batch_one_bad_file_does_not_fail_the_rest(client, platform, member):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("1-ke-hoach.pdf", samples.render_pdf(DU_THAO))
        zf.writestr("2-hong.pdf", b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF")  # corrupt
        zf.writestr("3-ghi-chu.txt", "không phải văn bản")
        zf.writestr("__MACOSX/._1-ke-hoach.pdf", b"junk")
    body = upload(client, member, buf.getvalue(), "lo-van-ban.zip", platform=platform)
    assert len(body["documents"]) == 2 and body["batch_id"]
    by_name = {d["filename"]: show(client, member, d["id"]) for d in body["documents"]}
    assert by_name["1-ke-hoach.pdf"]["status"] == "ready"
    bad = by_name["2-hong.pdf"]
    assert bad["status"] == "failed" and "corrupt" in bad["error"] and "hỏng" in bad["error"]
    assert by_name["1-ke-hoach.pdf"]["batch_skipped"][0]["file"] == "3-ghi-chu.txt"


def test_bad_uploads_are_clear_problems(client, platform, member):
    r = client.post("/api/v1/documents", headers=member, files={"file": ("a.exe", b"MZ\x90\x00" * 10)})
    assert r.status_code == 422 and r.json()["type"].endswith("unsupported-file")
    r = client.post("/api/v1/documents", headers=member, files={"file": ("empty.pdf", b"")})
    assert r.status_code == 422
    r = client.post("/api/v1/documents", files={"file": ("a.pdf", b"%PDF-1.4")})
    assert r.status_code == 401
    truncated = samples.render_pdf(DU_THAO)[:1500]
    doc = upload(client, member, truncated, "cut.pdf", platform=platform)
    d = show(client, member, doc["id"])
    assert d["status"] == "failed" and d["error"]
    broken_png = png_bytes(samples.render_images(DU_THAO, dpi=72, pages=[0])[0])[:400]
    doc = upload(client, member, broken_png, "cut.png", platform=platform)
    d = show(client, member, doc["id"])
    assert d["status"] == "failed" and "image" in d["error"]


def test_encrypted_pdf_fails_with_a_clear_message(client, platform, member, tmp_path):
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    path = tmp_path / "secret.pdf"
    c = canvas.Canvas(str(path), encrypt=pdfencrypt.StandardEncryption("mat-khau", canPrint=0))
    c.drawString(100, 700, "Tai lieu mat")
    c.save()
    doc = upload(client, member, path.read_bytes(), "secret.pdf", platform=platform)
    d = show(client, member, doc["id"])
    assert d["status"] == "failed" and "encrypted" in d["error"] and "mật khẩu" in d["error"]


def test_only_the_agency_reads_its_documents_and_reads_are_audited(client, platform, users, member):
    doc_id = upload(client, member, samples.render_pdf(DU_THAO), "d.pdf", platform=platform)["id"]
    outsider = login(client, users.outsider)
    assert client.get(f"/api/v1/documents/{doc_id}", headers=outsider).status_code == 403
    assert client.get(f"/api/v1/documents/{doc_id}").status_code == 401
    assert client.get("/api/v1/documents", headers=outsider).json()["total"] == 0
    assert client.get(f"/api/v1/documents/{doc_id}", headers=login(client, users.admin)).status_code == 200
    with platform.transaction() as db:
        reads = db.execute(select(AuditEntry).where(AuditEntry.action == "document.show")).scalars().all()
    assert {(r.actor, r.outcome) for r in reads} >= {(users.outsider, "denied"), (users.admin, "success")}


def test_corrections_are_saved_kept_as_training_data_and_searchable(client, platform, member, users):
    doc_id = upload(client, member, samples.render_pdf(DU_THAO), "d.pdf", platform=platform)["id"]
    r = client.patch(f"/api/v1/documents/{doc_id}", headers=member,
                     json={"changes": {"number": "77", "issued_date": "2025-09-02", "title": "Đào tạo AI"}})
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["number"], d["issued_date"], d["title"]) == ("77", "2025-09-02", "Đào tạo AI")
    assert sorted(d["corrected"]) == ["issued_date", "number", "title"]
    with platform.transaction() as db:
        rows = db.execute(select(DocumentCorrection).where(DocumentCorrection.document_id == doc_id)).scalars().all()
    assert ("number", None, "77") in [(c.field, c.old_value, c.new_value) for c in rows]
    old_date = next(c.old_value for c in rows if c.field == "issued_date")
    assert old_date["year"] == 2025 and old_date["day"] is None  # the blank draft date, kept as it was
    bad = client.patch(f"/api/v1/documents/{doc_id}", headers=member, json={"changes": {"text": "x"}})
    assert bad.status_code == 422
    bad = client.patch(f"/api/v1/documents/{doc_id}", headers=member, json={"changes": {"issued_date": "2/9"}})
    assert bad.status_code == 422
    found = client.get("/api/v1/documents", headers=member,
                       params={"date_from": "2025-09-01", "date_to": "2025-09-30"}).json()
    assert [x["id"] for x in found["items"]] == [doc_id]


def test_search_ignores_accents_and_filters_by_type(client, platform, member):
    kh = upload(client, member, samples.render_pdf(DU_THAO), "kh.pdf", platform=platform)["id"]
    upload(client, member, samples.render_pdf(samples.SAMPLE_SPECS[1]), "cv.pdf", platform=platform)
    plain = client.get("/api/v1/documents", headers=member, params={"q": "dao tao ky nang", "plain_accents": "true"})
    assert [x["id"] for x in plain.json()["items"]] == [kh]
    exact = client.get("/api/v1/documents", headers=member, params={"q": "dao tao ky nang"})
    assert exact.json()["total"] == 0
    typed = client.get("/api/v1/documents", headers=member, params={"doc_type_code": "KH"}).json()
    assert [x["id"] for x in typed["items"]] == [kh]
    assert "text" not in typed["items"][0]


def test_personal_data_is_detected_shown_and_redacted(client, platform, member):
    import dataclasses

    spec = dataclasses.replace(DU_THAO, body=[
        "Giao ông Nguyễn Văn Hùng, số CCCD 079203001234, điện thoại 0903 123 456, thư điện tử "
        "hung.nv@tphcm.gov.vn, làm đầu mối; địa chỉ liên hệ: 12 Lê Thánh Tôn, phường Sài Gòn./."])
    doc_id = upload(client, member, samples.render_pdf(spec), "pii.pdf", platform=platform)["id"]
    d = show(client, member, doc_id)
    found = {(h["kind"], " ".join(h["text"].split())) for h in d["personal_data"]}  # a line may wrap inside
    assert {("cccd", "079203001234"), ("phone", "0903 123 456"), ("email", "hung.nv@tphcm.gov.vn")} <= found
    assert d["personal_data_summary"]["cccd"] == 1
    r = client.get(f"/api/v1/documents/{doc_id}/redacted", headers=member)
    assert r.status_code == 200 and "[CCCD]" in r.text and "079203001234" not in r.text
    assert "0903 123" not in r.text and "hung.nv@tphcm.gov.vn" not in r.text
    masked = client.get(f"/api/v1/documents/{doc_id}/redacted?style=mask", headers=member).text
    assert "█" * 12 in masked
    page = client.get(f"/documents/{doc_id}", headers=member)
    assert page.status_code == 200 and "079203001234" in page.text  # reviewers see what was found
    # the redacted PDF: images only, black boxes where the findings were
    import pypdfium2 as pdfium

    r = client.get(f"/api/v1/documents/{doc_id}/redacted.pdf", headers=member)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    red = pdfium.PdfDocument(r.content)
    assert red[0].get_textpage().get_text_bounded().strip() == ""  # nothing to copy back out
    original = pdfium.PdfDocument(client.get(f"/api/v1/documents/{doc_id}/pdf", headers=member).content)
    dark = lambda im: int((__import__("numpy").asarray(im.convert("L")) < 40).sum())  # noqa: E731
    assert dark(red[0].render(scale=1).to_pil()) > dark(original[0].render(scale=1).to_pil()) + 500
    with platform.transaction() as db:
        entry = db.execute(select(AuditEntry).where(AuditEntry.action == "document.redacted_pdf")).scalar_one()
    assert json.loads(entry.detail)["boxes"] >= 3
    assert client.get(f"/api/v1/documents/{doc_id}/redacted.pdf?kinds=nope", headers=member).status_code == 422


def test_mixed_pdf_blank_and_rotated_scans_and_the_assembled_searchable_pdf(client, platform, member):
    """A PDF whose pages are a text layer, a blank scan and a scan upside down: each gets a clear result,
    and the searchable PDF keeps the text page as it was and lays OCR text over the scans."""
    import pypdfium2 as pdfium
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    text_pdf = pdfium.PdfDocument(samples.render_pdf(DU_THAO))
    scan = samples.render_images(CONG_VAN, dpi=150, pages=[0])[0].rotate(180)
    blank = Image.new("L", scan.size, 250)
    scans = io.BytesIO()
    c = canvas.Canvas(scans)
    for im in (blank, scan):
        w, h = im.width * 72 / 150, im.height * 72 / 150
        c.setPageSize((w, h))
        c.drawImage(ImageReader(im), 0, 0, width=w, height=h)
        c.showPage()
    c.save()
    out = pdfium.PdfDocument.new()
    out.import_pages(text_pdf, [0])
    out.import_pages(pdfium.PdfDocument(scans.getvalue()))
    buf = io.BytesIO()
    out.save(buf)
    doc_id = upload(client, member, buf.getvalue(), "mixed.pdf", platform=platform)["id"]
    d = show(client, member, doc_id)
    assert d["status"] == "ready", d["error"]
    assert d["pages"] == 3 and d["source"] == "mixed"
    pages = client.get(f"/api/v1/documents/{doc_id}/pages", headers=member).json()["items"]
    assert [p["source"] for p in pages] == ["text-layer", "ocr", "ocr"]
    assert pages[1]["blank"] and not pages[1]["text"].strip()
    assert pages[2]["rotation"] == 180 and "Khoa học" in pages[2]["text"]
    pdf = pdfium.PdfDocument(client.get(f"/api/v1/documents/{doc_id}/pdf", headers=member).content)
    assert len(pdf) == 3
    assert "Đào tạo kỹ năng" in " ".join(pdf[0].get_textpage().get_text_bounded().split())  # the original page
    assert "2315" in pdf[2].get_textpage().get_text_bounded()  # the OCR text layer, upright


def test_a_document_in_another_language_is_flagged(client, platform, member, tmp_path):
    from reportlab.pdfgen import canvas

    path = tmp_path / "en.pdf"
    c = canvas.Canvas(str(path))
    y = 800
    for line in ["MEMORANDUM OF UNDERSTANDING", "between the City of Example and the University of Nowhere",
                 "The parties agree to cooperate on research in artificial intelligence and data sharing.",
                 "This memorandum takes effect on the date of signature by both parties."]:
        c.drawString(60, y, line)
        y -= 20
    c.save()
    d = show(client, member, upload(client, member, path.read_bytes(), "en.pdf", platform=platform)["id"])
    assert d["status"] == "ready" and d["language_ok"] is False
    assert d["number"] is None and d["doc_type"] is None  # nothing invented


def test_ocr_readings_of_known_names_are_put_back():
    from cityai.documents import service

    fields = {"issuer": "SỞ KHOA HOC VÀ CÔNG NGHÊ.", "parent_issuer": "ÙY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH_",
              "place": "Thành phố Hồ Chí Minh", "signer": {"position": "`... PHO GIAM ĐỌC", "name": "Trần Thị Bích"}}
    service._tidy(fields, {service._key("Sở Khoa học và Công nghệ"): "SỞ KHOA HỌC VÀ CÔNG NGHỆ",
                           **{service._key(n): n for n in service.STANDARD_ISSUERS}})
    assert fields["issuer"] == "SỞ KHOA HỌC VÀ CÔNG NGHỆ"
    assert fields["parent_issuer"] == "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH"
    assert fields["signer"]["position"] == "PHÓ GIÁM ĐỐC"
    odd = {"issuer": "BAN QUẢN LÝ KHU CÔNG NGHỆ CAO", "signer": {"position": "TRƯỞNG BAN CHỈ ĐẠO"}}
    service._tidy(odd, {})
    assert odd["issuer"] == "BAN QUẢN LÝ KHU CÔNG NGHỆ CAO" and odd["signer"]["position"] == "TRƯỞNG BAN CHỈ ĐẠO"


def test_the_type_of_a_document_without_its_header_comes_from_the_model(client, platform, member, tmp_path):
    """Only the body of a Quyết định (a scan cut below the title): the rule finds no type, the model does."""
    import dataclasses

    spec = dataclasses.replace(QUYET_DINH, doc_type="", title="", number_line="", place_date="",
                               issuer="", parent_issuer=None)
    from reportlab.pdfgen import canvas

    body = samples.spec_text(spec, parts=("body",))
    path = tmp_path / "body.pdf"
    c = canvas.Canvas(str(path))
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("BodyFont", str(samples.find_font("DejaVuSans"))))
    c.setFont("BodyFont", 10)
    y = 800
    for line in body.splitlines():
        for k in range(0, len(line), 95):
            c.drawString(40, y, line[k:k + 95])
            y -= 14
    c.save()
    d = show(client, member, upload(client, member, path.read_bytes(), "body.pdf", platform=platform)["id"])
    assert d["status"] == "ready", d["error"]
    assert (d["doc_type"], d["doc_type_code"], d["doc_type_source"]) == ("Quyết định", "QĐ", "model")
    assert d["doc_type_candidates"][0]["doc_type"] == "Quyết định" and d["field_confidence"]["doc_type"] >= 0.5


def test_a_scanned_pdf_page_is_rendered_at_its_own_resolution(tmp_path):
    """A 200-dpi scan embedded in a PDF is OCRed at 200 dpi, not blown up to 300 (time and memory)."""
    import pypdfium2 as pdfium
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    from cityai.documents import intake

    im = samples.render_images(DU_THAO, dpi=200, pages=[0])[0]
    c = canvas.Canvas(str(tmp_path / "s.pdf"))
    w, h = im.width * 72 / 200, im.height * 72 / 200
    c.setPageSize((w, h))
    c.drawImage(ImageReader(im), 0, 0, width=w, height=h)
    c.showPage()
    c.save()
    page = next(intake.pages(tmp_path / "s.pdf", "pdf"))
    assert page.kind == "image" and page.image.info["dpi"] == (200, 200)
    assert abs(page.image.width - im.width) <= 2
    text_page = pdfium.PdfDocument(samples.render_pdf(DU_THAO))[0]
    assert intake._scan_dpi(text_page, *text_page.get_size()) is None  # no page-sized image: the default
