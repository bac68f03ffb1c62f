"""Sample ND30 documents: layout of the PDF, degraded scans, DOCX, multi-page TIFF, CER."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pytest

from cityai.documents import samples as S

try:
    FONT = S.resolve_font("auto")
    S.find_font("DejaVuSans")
except S.FontUnavailable as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no font with Vietnamese glyphs installed: {exc}", allow_module_level=True)

MM = 72 / 25.4


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@pytest.fixture(scope="module")
def plan_pdf() -> bytes:
    return S.render_pdf(S.SAMPLE_SPECS[0])


def test_sample_specs_are_varied():
    specs = S.SAMPLE_SPECS
    assert len(specs) >= 4
    types = {(s.doc_type or "").lower() for s in specs}
    assert {"kế hoạch", "quyết định", ""} <= types
    assert any(s.is_cong_van and s.title.startswith("V/v") for s in specs)
    assert any(any(p.startswith("_ Căn cứ") for p in s.body) for s in specs if s.doc_type == "Quyết định")
    draft = [s for s in specs if s.draft]
    assert draft and draft[0].number_line.replace(" ", "") == "Số:/KH-SNV"
    assert any(s.table for s in specs) and any(s.urgency for s in specs)


def test_pdf_layout_follows_nd30(plan_pdf):
    import pdfplumber

    with pdfplumber.open(io.BytesIO(plan_pdf)) as pdf:
        assert len(pdf.pages) >= 3  # body, then the annex table running over two pages
        p1 = pdf.pages[0]
        assert (round(p1.width), round(p1.height)) == (595, 842)  # A4
        text = nfc(p1.extract_text())
        for needle in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "Số: 140/KH-UBND",
                       "KẾ HOẠCH", "Nơi nhận:", "Nguyễn Văn An", "ngày 15 tháng 01 năm 2025"):
            assert needle in text, needle
        words = p1.extract_words(extra_attrs=["fontname", "size"])

        def first(word: str) -> dict:
            return next(w for w in words if nfc(w["text"]) == word)

        mid = p1.width / 2
        assert first("CỘNG")["x0"] > mid - 40  # Quốc hiệu top right
        assert first("Số:")["x1"] < mid  # number under the agency, top left
        assert "Bold" in first("CỘNG")["fontname"]
        assert "Italic" in first("Thành")["fontname"]  # the first "Thành" is the place name, in italics
        assert abs(first("Số:")["top"] - first("ngày")["top"]) < 4  # place and date on the number's line
        noi_nhan = first("Nơi")
        assert "BoldItalic" in noi_nhan["fontname"] and round(noi_nhan["size"]) == 12
        assert round(first("Thường")["size"]) == 11
        body = first("Thực")
        assert round(body["size"]) == 14
        # margins: left 30 mm, right 15 mm, top 20 mm (with a little tolerance for glyph bearings)
        assert min(w["x0"] for w in words) >= 30 * MM - 1
        assert max(w["x1"] for w in words) <= p1.width - 15 * MM + 1
        assert min(w["top"] for w in words) >= 20 * MM - 1
        # the annex table repeats its header on its second page, which carries a page number on top
        for page in pdf.pages[1:3]:
            t = nfc(page.extract_text())
            assert "STT" in t and "Đơn vị chủ" in t
        p3 = pdf.pages[2]
        top_words = [w for w in p3.extract_words() if w["top"] < 20 * MM]
        assert [w["text"] for w in top_words] == ["3"]


@pytest.mark.parametrize("index", range(len(S.SAMPLE_SPECS)))
def test_every_sample_renders(tmp_path, index):
    import pdfplumber

    spec = S.SAMPLE_SPECS[index]
    path = tmp_path / "doc.pdf"
    data = S.render_pdf(spec, path)
    assert path.read_bytes() == data and data.startswith(b"%PDF")
    assert S.render_pdf(spec) == data  # deterministic
    with pdfplumber.open(path) as pdf:
        text = nfc(pdf.pages[0].extract_text())
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert " ".join(spec.number_line.split()) in " ".join(text.split())
    assert spec.signer_position.split("\n")[-1] in text


def test_render_images_deterministic_and_degraded():
    import numpy as np

    spec = S.SAMPLE_SPECS[1]
    clean = S.render_images(spec, dpi=72)
    assert len(clean) == 1
    img = clean[0]
    assert abs(img.width - 595) <= 1 and abs(img.height - 842) <= 1 and img.info["dpi"] == (72, 72)  # A4
    a = S.render_images(spec, dpi=72, noise=20, jpeg_quality=40, seed=3)[0]
    b = S.render_images(spec, dpi=72, noise=20, jpeg_quality=40, seed=3)[0]
    c = S.render_images(spec, dpi=72, noise=20, jpeg_quality=40, seed=4)[0]
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    rot = S.degrade(img, rotate=5)
    assert rot.width > img.width and rot.height > img.height
    assert rot.getpixel((0, 0)) == (255, 255, 255)  # white where the turned page leaves the scan bed
    blurred = np.asarray(S.degrade(img, blur=2).convert("L"), dtype=float)
    sharp = np.asarray(img.convert("L"), dtype=float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(sharp, axis=1)).mean()
    gray = S.render_images(spec, dpi=50, grayscale=True)[0]
    assert gray.mode == "L"


def test_render_docx(tmp_path):
    import docx

    spec = S.SAMPLE_SPECS[0]
    path = S.render_docx(spec, tmp_path / "plan.docx")
    d = docx.Document(str(path))
    text = nfc("\n".join(p.text for p in d.paragraphs))
    assert "KẾ HOẠCH" in text and spec.title in text
    cells = nfc(" ".join(c.text for t in d.tables for row in t.rows for c in row.cells))
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in cells and "Số: 140/KH-UBND" in cells
    assert "Nơi nhận:" in cells and "Đơn vị phối hợp" in cells
    sec = d.sections[0]
    assert round(sec.left_margin.mm) == 30 and round(sec.right_margin.mm) == 15
    assert round(sec.page_width.mm) == 210 and round(sec.page_height.mm) == 297
    annex = d.tables[-1]
    assert len(annex.rows) == len(spec.table)


def test_multipage_tiff(tmp_path):
    from PIL import Image

    imgs = S.render_images(S.SAMPLE_SPECS[0], dpi=40)
    path = S.multipage_tiff(imgs, tmp_path / "scan.tif")
    with Image.open(path) as tif:
        assert tif.n_frames == len(imgs) == 3
        assert round(tif.info["dpi"][0]) == 40
        tif.seek(2)
        assert tif.size == imgs[2].size
    bw = [i.convert("1") for i in imgs[:2]]
    with Image.open(S.multipage_tiff(bw, tmp_path / "bw.tif")) as tif:
        assert tif.n_frames == 2 and tif.info.get("compression") == "group4"
    with pytest.raises(ValueError):
        S.multipage_tiff([], tmp_path / "none.tif")


def test_spec_text_and_cer():
    spec = S.SAMPLE_SPECS[2]
    ref = S.spec_text(spec)
    assert "Căn cứ Nghị định số 30/2020/NĐ-CP" in ref and "**" not in ref and "\n_ " not in ref
    assert S.cer("abc", "abc") == 0.0
    assert S.cer("abcd", "abed") == 0.25
    assert S.cer("abc", "") == 1.0
    assert S.cer(unicodedata.normalize("NFD", "Hồ Chí Minh"), "Hồ  Chí\nMinh") == 0.0  # NFC, spaces folded
    assert S.cer("kitten", "sitting") == pytest.approx(3 / 6)


def test_fonts():
    path = S.find_font("DejaVuSans", "bold")
    assert path.name == "DejaVuSans-Bold.ttf" and S._covers_vietnamese(path)
    with pytest.raises(ValueError):
        S.find_font("Comic Sans")
    with pytest.raises(ValueError):
        S.find_font("DejaVuSans", "oblique")
    # fonts-liberation 1.x has no Vietnamese glyphs (ơ, ư, ộ...): it must be refused, naming the package
    old = Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf")
    new = Path("/usr/share/fonts/truetype/liberation2")
    if old.is_file() and not S._covers_vietnamese(old) and not new.is_dir():
        with pytest.raises(S.FontUnavailable, match="fonts-liberation2"):
            S.find_font("LiberationSerif")


def test_fonts_dir_env(monkeypatch, tmp_path):
    import shutil

    src = S.find_font("DejaVuSans")
    shutil.copy(src, tmp_path / src.name)
    monkeypatch.setattr(S, "_font_cache", {})
    monkeypatch.setenv("CITYAI_FONTS_DIR", str(tmp_path))
    assert S.find_font("DejaVuSans") == tmp_path / src.name
