"""OCR with Tesseract: engine pool, preprocessing (orientation, skew, blank pages), errors, searchable PDF.

Skips, saying why, when the Vietnamese traineddata or fonts with Vietnamese glyphs are not installed.
Pages are rendered from the ND30 samples at 200 dpi or less to keep the suite quick.
"""

from __future__ import annotations

import io
import threading
import unicodedata

import pytest

from cityai.documents import ocr
from cityai.documents import samples as S

try:
    TESSDATA = ocr.tessdata_dir("vie")
    ocr._tesserocr()
except ocr.OcrUnavailable as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"Tesseract Vietnamese data unavailable: {exc}", allow_module_level=True)
try:
    S.resolve_font("auto")
    S.find_font("DejaVuSans")
except S.FontUnavailable as exc:  # pragma: no cover
    pytest.skip(f"no font with Vietnamese glyphs installed: {exc}", allow_module_level=True)

HAS_OSD = (TESSDATA / "osd.traineddata").is_file()
needs_osd = pytest.mark.skipif(not HAS_OSD, reason="osd.traineddata (tesseract-ocr-osd) not installed")

QUOC_HIEU = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"


def fold(text: str) -> str:
    """NFC, one space, and the two placements of the tone mark in "hoà"/"hòa" made one."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    return text.replace("HOÀ", "HÒA").replace("hoà", "hòa")


@pytest.fixture(scope="module")
def pool():
    with ocr.OcrPool(size=2) as p:
        yield p


@pytest.fixture(scope="module")
def page():
    """First page of the sample Kế hoạch (Số: 140/KH-UBND) scanned at 200 dpi."""
    return S.render_images(S.SAMPLE_SPECS[0], dpi=200, pages=[0])[0]


@pytest.fixture(scope="module")
def upright(pool, page):
    return pool.recognize(page)


def _line_image(text: str, width: int = 900, height: int = 110):
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (width, height), 255)
    font = ImageFont.truetype(str(S.find_font("DejaVuSerif")), 40)
    ImageDraw.Draw(img).text((30, 30), text, font=font, fill=0)
    img.info["dpi"] = (200, 200)
    return img


# ----------------------------------------------------------------------------------------- setup


def test_tessdata_dir_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv("CITYAI_TESSDATA", str(tmp_path))
    with pytest.raises(ocr.OcrUnavailable, match="tesseract-ocr-vie") as err:
        ocr.tessdata_dir()
    assert str(tmp_path) in str(err.value)
    with pytest.raises(ocr.OcrUnavailable, match="tesseract-ocr-vie"):
        ocr.OcrPool(size=1)
    monkeypatch.setenv("CITYAI_TESSDATA", str(TESSDATA))
    assert ocr.tessdata_dir() == TESSDATA
    monkeypatch.delenv("CITYAI_TESSDATA")
    assert (ocr.tessdata_dir() / "vie.traineddata").is_file()


def test_pool_reuses_engines(monkeypatch):
    made: list[str] = []
    real = ocr._open_engine

    def counting(path, lang, psm):
        made.append(lang)
        return real(path, lang, psm)

    monkeypatch.setattr(ocr, "_open_engine", counting)
    imgs = [_line_image(f"Trang {i}") for i in range(8)]
    with ocr.OcrPool(size=2) as p:
        ids = list(p.engine_ids)
        results = list(p.recognize_many(imgs, preprocess=False))
        results.append(p.recognize(imgs[0]))
        assert made.count("vie") == 2  # one per slot, never one per page
        assert len(set(ids)) == 2 and p.engine_ids == ids
        assert set(p.usage) <= {0, 1} and sum(p.usage.values()) == 9
    assert [r.text for r in results[:8]] == [f"Trang {i}" for i in range(8)]
    with pytest.raises(ocr.OcrError, match="closed"):
        p.recognize(imgs[0])


def test_get_pool_is_shared(monkeypatch):
    monkeypatch.setenv("CITYAI_OCR_THREADS", "1")
    monkeypatch.setattr(ocr, "_shared_pool", None)
    got: list[ocr.OcrPool] = []
    threads = [threading.Thread(target=lambda: got.append(ocr.get_pool())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = got[0]
    try:
        assert all(p is first for p in got) and first.size == 1
        first.close()
        second = ocr.get_pool()
        assert second is not first and not second.closed
        second.close()
    finally:
        first.close()


# ----------------------------------------------------------------------------------------- recognition


def test_recognize_upright_page(upright):
    r = upright
    text = fold(r.text)
    assert QUOC_HIEU in text
    assert "Số: 140/KH-UBND" in text
    assert "Độc lập - Tự do - Hạnh phúc" in text
    assert (r.rotation, r.blank) == (0, False) and abs(r.skew) < 0.5
    assert (r.width, r.height, r.dpi) == (1654, 2339, 200)
    assert r.words and all(0.0 <= w.conf <= 100.0 for w in r.words)
    for w in r.words:
        assert 0 <= w.bbox[0] < w.bbox[2] <= r.width and 0 <= w.bbox[1] < w.bbox[3] <= r.height
    assert r.confidence == pytest.approx(sum(w.conf for w in r.words) / len(r.words), abs=0.01)
    assert r.confidence > 85 and ocr.ocr_confidence_ok(r)
    assert [w.line for w in r.words] == sorted(w.line for w in r.words)
    # accuracy on the body, whose reading order is unambiguous: a character error rate under 2 %
    body = S.spec_text(S.SAMPLE_SPECS[0], parts=("body",))
    start = text.index("Thực hiện Chương trình")
    end = text.index("./.", start) + 3
    assert S.cer(body, text[start:end]) < 0.02
    so = next(w for w in r.words if w.text == "140/KH-UBND")
    assert so.bbox[2] < r.width / 2 and so.conf > 80  # the number sits in the left column


def test_hocr(upright):
    out = ocr.hocr(upright)
    assert out.count('class="ocrx_word"') == len(upright.words)
    assert "x_wconf" in out and "CỘNG" in out and 'class="ocr_line"' in out


@needs_osd
def test_rotated_and_skewed_pages_are_straightened(pool, page):
    pages = [S.degrade(page, rotate=90), S.degrade(page, rotate=180), S.degrade(page, rotate=3)]
    results = list(pool.recognize_many(pages))
    assert [r.rotation for r in results] == [90, 180, 0]
    assert abs(results[2].skew - 3.0) <= 1.0
    for r in results:
        text = fold(r.text)
        assert QUOC_HIEU in text and "140/KH-UBND" in text, r.rotation
        assert r.height > r.width  # upright A4 again
        assert r.confidence > 80


@needs_osd
def test_preprocess_orientation_and_skew(page):
    small = page.resize((page.width // 2, page.height // 2))  # 100 dpi is enough for the geometry
    small.info["dpi"] = (100, 100)
    out, info = ocr.preprocess(S.degrade(small, rotate=270))
    assert info["rotation"] == 270 and out.height > out.width
    for angle in (-3.0, 7.5):
        _, info = ocr.preprocess(S.degrade(small, rotate=angle), orientation=False)
        assert abs(info["skew"] - angle) <= 1.0, info
        assert info["rotation"] == 0 and not info["blank"]
    assert {"rotation", "skew", "blank", "width", "height"} <= set(info)


def test_preprocess_options(page):
    import numpy as np

    small = page.resize((page.width // 2, page.height // 2))
    out, info = ocr.preprocess(small, orientation=False, binarize="otsu")
    assert set(np.unique(np.asarray(out))) <= {0, 255} and out.mode == "L"
    noisy = S.degrade(small, noise=60, seed=1)
    _, info = ocr.preprocess(noisy, orientation=False)
    assert info["denoised"] and info["noise"] > ocr.DENOISE_SIGMA
    _, info = ocr.preprocess(small, orientation=False)
    assert not info["denoised"]
    with pytest.raises(ValueError):
        ocr.preprocess(small, orientation=False, binarize="magic")


def test_blank_pages(pool):
    from PIL import Image

    white = Image.new("RGB", (1654, 2339), "white")
    white.info["dpi"] = (200, 200)
    for img in (white, S.degrade(white, noise=12, jpeg_quality=60, seed=2), Image.new("L", (8, 8), 255)):
        r = pool.recognize(img)
        assert r.blank and r.text == "" and r.words == [] and r.confidence == 0.0
        assert ocr.ocr_confidence_ok(r)
    _, info = ocr.preprocess(white)
    assert info["blank"] is True and info["rotation"] == 0
    # faded print (65 levels under the paper) is not a blank page
    faded = _line_image("Văn bản in mờ trên giấy trắng")
    faded = faded.point(lambda v: 190 if v < 128 else 255)
    page = Image.new("L", (1654, 2339), 255)
    page.paste(faded, (300, 400))
    assert ocr.preprocess(page, orientation=False)[1]["blank"] is False


def test_table_page_is_read_cell_by_cell(pool):
    img = S.render_images(S.SAMPLE_SPECS[0], dpi=150, pages=[1])[0]
    r = pool.recognize(img)
    assert r.tables and r.tables[0][0][:2] == ["STT", "Nội dung"]
    rows = {row[0]: row for row in r.tables[0][1:]}
    assert rows["6"][2] == "Sở Nội vụ"
    assert "Xây dựng kiến trúc tổng thể nền tảng trí tuệ nhân tạo dùng chung" in rows["1"][1]
    assert "1\tXây dựng kiến trúc" in r.text


def test_recognize_many_order_progress_and_bounded(pool):
    pulled = 0
    seen: list[tuple[int, int | None]] = []

    def images():
        nonlocal pulled
        for i in range(6):
            pulled += 1
            yield _line_image(f"Số {i + 1} ngày {10 + i}")

    it = pool.recognize_many(images(), progress=lambda d, t: seen.append((d, t)), max_in_flight=2)
    texts = []
    for n, r in enumerate(it, 1):
        assert pulled <= n + 2  # never more than max_in_flight pages ahead of the consumer
        texts.append(r.text)
    assert texts == [f"Số {i + 1} ngày {10 + i}" for i in range(6)]
    assert seen == [(i, None) for i in range(1, 7)]
    seen.clear()
    same = [_line_image("Hồ Chí Minh")] * 3
    out = list(pool.recognize_many(same, progress=lambda d, t: seen.append((d, t))))
    assert [fold(r.text) for r in out] == ["Hồ Chí Minh"] * 3 and seen == [(1, 3), (2, 3), (3, 3)]


def test_multipage_tiff_streamed(pool, tmp_path):
    path = S.multipage_tiff([_line_image(f"Trang {i}") for i in (1, 2, 3)], tmp_path / "scan.tif")
    pages = ocr.load_pages(path)
    assert not isinstance(pages, list)  # lazy: frames are decoded as the pool asks for them
    results = list(pool.recognize_many(pages, preprocess=False))
    assert [r.text for r in results] == ["Trang 1", "Trang 2", "Trang 3"]
    assert all(r.dpi == 200 for r in results)


def test_corrupt_images_raise_clear_errors(pool, tmp_path, page):
    from PIL import Image

    buf = io.BytesIO()
    page.resize((400, 560)).save(buf, format="PNG")
    png = buf.getvalue()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    lazily_opened = Image.open(tmp_path / "cut.png")  # PIL reads the header only; pixels fail later
    for bad in (b"not an image at all", png[: len(png) // 2], tmp_path / "cut.png", lazily_opened,
                tmp_path / "missing.png", 42):
        with pytest.raises(ocr.OcrImageError):
            pool.recognize(bad)
    assert issubclass(ocr.OcrImageError, ValueError) and issubclass(ocr.OcrImageError, ocr.OcrError)
    with pytest.raises(ocr.OcrImageError):
        list(pool.recognize_many([_line_image("Trang 1"), b"\x89PNG\r\n\x1a\n broken"]))
    # sources other than PIL images work: bytes and paths
    assert pool.recognize(png, preprocess=False).words


# ----------------------------------------------------------------------------------------- searchable PDF


@needs_osd
def test_searchable_pdf_round_trip(pool, page, upright, tmp_path):
    import pdfplumber
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    from cityai.documents.searchable_pdf import make_searchable_pdf

    turned = S.degrade(page, rotate=90)
    r90 = pool.recognize(turned, keep_image=True)
    assert r90.image.size == (r90.width, r90.height) and r90.image.mode == "RGB"  # upright, in colour
    out = make_searchable_pdf([(page, upright), (r90.image, r90)], tmp_path / "scan.pdf", title="Kế hoạch 140")
    assert out == tmp_path / "scan.pdf"
    with pdfplumber.open(out) as pdf:
        assert len(pdf.pages) == 2
        for p, r in zip(pdf.pages, (upright, r90)):
            assert abs(p.width - 595.3) < 2 and abs(p.height - 841.9) < 2  # A4 at 200 dpi, shown upright
            extracted = fold(p.extract_text())
            assert QUOC_HIEU in extracted and "Số: 140/KH-UBND" in extracted
            got = extracted.split()
            found = sum(1 for w in r.words if w.text in got)
            assert found / len(r.words) > 0.97
    doc = pdfium.PdfDocument(str(out))
    try:
        pg = doc[0]
        modes = {pdfium_c.FPDFTextObj_GetTextRenderMode(o.raw)
                 for o in pg.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT])}
        assert modes == {pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE}
        text = fold(pg.get_textpage().get_text_range())
        assert "Thành phố Hồ Chí Minh" in text
    finally:
        doc.close()
    with pytest.raises(ValueError):
        make_searchable_pdf([], tmp_path / "empty.pdf")


def test_searchable_pdf_lines_up_images():
    import numpy as np
    from PIL import Image

    from cityai.documents.searchable_pdf import _page_image

    original = Image.new("RGB", (300, 400), "white")
    turned = ocr.PageResult(text="", words=[], confidence=0.0, rotation=90, skew=2.0, blank=False,
                            width=400, height=300, seconds=0.0)
    assert _page_image(original, turned).size == (400, 300)  # the scan is turned like the OCR input
    processed = ocr._as_image(np.full((300, 400), 255, "uint8"), 200)
    assert _page_image(processed, turned) is processed  # already the processed page
    plain = ocr.PageResult(text="", words=[], confidence=0.0, rotation=0, skew=0.0, blank=False,
                           width=300, height=400, seconds=0.0)
    assert _page_image(original, plain) is original


def test_a_region_without_text_is_an_empty_result_not_a_failure():
    """tesserocr raises RuntimeError("No text returned") for an empty region (an empty table cell): the
    page must still be read (the extraction benchmark once lost a whole document to it)."""
    from cityai.documents import ocr

    class Empty:
        def GetUTF8Text(self, *a):
            raise RuntimeError("No text returned")

    assert ocr._utf8(Empty()) == "" and ocr._it_text(Empty(), 0) == ""


def test_low_resolution_pages_are_read_enlarged_with_boxes_in_the_page_pixels():
    from cityai.documents import ocr, samples

    page = samples.render_images(samples.SAMPLE_SPECS[1], dpi=150, pages=[0])[0]
    page.info["dpi"] = (150, 150)
    with ocr.OcrPool(size=1) as pool:
        result = pool.recognize(page)
    assert result.width == page.width and result.height == page.height  # not the enlarged size
    assert result.words and all(0 <= w.bbox[0] < w.bbox[2] <= page.width + 2 and 0 <= w.bbox[1] < w.bbox[3]
                                <= page.height + 2 for w in result.words)
    assert "UBND Thành phố (để báo cáo)" in result.text and "Lưu: VT" in result.text  # 11 pt "Nơi nhận" items
