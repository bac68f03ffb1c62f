"""Intake: what a file is, and its pages one at a time (text layer, image to OCR, or DOCX text).

Pages are produced lazily, one at a time, so a 500-page PDF is never held in memory whole: a PDF page
with a sound text layer gives its text (and tables through pdfplumber); any other page is rendered to an
image for OCR. Images (PNG, JPEG, TIFF with several frames) give one page per frame; DOCX gives its
paragraphs and tables as one page of text.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from cityai.core.errors import Problem

OCR_DPI = 300
MIN_SCAN_DPI = 100
PREVIEW_DPI = 110
MAX_PIXELS = 120_000_000  # a decompression bomb guard for images (Pillow's own limit is ~179 M)


class IntakeError(Exception):
    """A file that cannot be read: corrupt, encrypted, not a supported kind. Carries (vi, en) text."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(en)
        self.code, self.vi, self.en = code, vi, en

    def to_problem(self) -> Problem:
        return Problem(422, self.code, ("Tệp không đọc được", "Unreadable file"), (self.vi, self.en))


@dataclass
class Page:
    number: int  # 1-based
    kind: str  # "text" (a text layer or DOCX) or "image" (to OCR)
    text: str | None = None
    image: Any = None  # PIL.Image.Image for "image" pages
    tables: list[list[list[str]]] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    preview: Any = None  # a small image of a text page, for the document page


KINDS = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "zip": "application/zip",
}


def sniff(head: bytes, filename: str = "") -> str:
    """The file's kind from its first bytes (the name only breaks the zip/docx tie)."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "docx" if filename.lower().endswith(".docx") else "zip"
    raise IntakeError("unsupported-file",
                      "Định dạng tệp không được hỗ trợ (chỉ nhận PDF, PNG, JPEG, TIFF, DOCX hoặc ZIP).",
                      "Unsupported file type (PDF, PNG, JPEG, TIFF, DOCX or ZIP only).")


def count_pages(path: Path, kind: str) -> int:
    if kind == "pdf":
        pdf = _open_pdf(path)
        try:
            return len(pdf)
        finally:
            pdf.close()
    if kind in ("png", "jpeg", "tiff"):
        with _open_image(path) as im:
            return getattr(im, "n_frames", 1)
    return 1


def pages(path: Path, kind: str, *, dpi: int = OCR_DPI) -> Iterator[Page]:
    if kind == "pdf":
        yield from _pdf_pages(path, dpi)
    elif kind in ("png", "jpeg", "tiff"):
        yield from _image_pages(path)
    elif kind == "docx":
        yield _docx_page(path)
    else:
        raise IntakeError("unsupported-file", "Không xử lý được loại tệp này.", "This kind of file cannot be processed.")


# ------------------------------------------------------------------ PDF


def _open_pdf(path: Path) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        msg = str(exc).lower()
        if "password" in msg:
            raise IntakeError("encrypted-pdf", "PDF được đặt mật khẩu (mã hóa); hãy gửi bản không mã hóa.",
                              "The PDF is password-protected (encrypted); send an unencrypted copy.") from None
        raise IntakeError("corrupt-pdf", f"PDF bị hỏng hoặc không đầy đủ ({exc}).",
                          f"The PDF is corrupt or truncated ({exc}).") from None


def text_layer_is_sound(text: str) -> bool:
    """Whether a page's text layer can be trusted instead of OCR.

    Scans have none; broken font encodings give replacement characters, private-use glyphs or
    control characters; a scanned page with a stamp-sized caption has too little text to be the page.
    """
    stripped = "".join(text.split())
    if len(stripped) < 40:
        return False
    bad = sum(1 for c in stripped if c == "\ufffd" or unicodedata.category(c) in ("Co", "Cc", "Cs"))
    letters = sum(1 for c in stripped if c.isalpha())
    return bad / len(stripped) < 0.02 and letters / len(stripped) > 0.5


def _pdf_pages(path: Path, dpi: int) -> Iterator[Page]:
    pdf = _open_pdf(path)
    plumber = None
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                text = (textpage.get_text_bounded() or "").replace("\r\n", "\n").replace("\r", "\n")
                textpage.close()
                width, height = page.get_size()
                if text_layer_is_sound(text):
                    if plumber is None:
                        plumber = _plumber(path)
                    preview = page.render(scale=PREVIEW_DPI / 72).to_pil()
                    yield Page(i + 1, "text", text=unicodedata.normalize("NFC", text),
                               tables=_plumber_tables(plumber, i), width=int(width), height=int(height),
                               preview=preview)
                    continue
                page_dpi = _scan_dpi(page, width, height) or dpi
                bitmap = page.render(scale=page_dpi / 72)
                image = bitmap.to_pil()
                image.info["dpi"] = (page_dpi, page_dpi)
                yield Page(i + 1, "image", image=image, width=image.width, height=image.height)
            finally:
                page.close()
    finally:
        pdf.close()
        if plumber is not None:
            plumber.close()


def _scan_dpi(page: Any, width: float, height: float) -> int | None:
    """The resolution of a scanned page's own image (one image covering most of the page), capped to
    [MIN_SCAN_DPI, OCR_DPI]: rendering a 200-dpi scan at 300 dpi adds pixels, time and memory but no detail
    (benchmarks/ocr.py: 2.25x the pixels, ~1.5x the OCR time on a 200-page PDF). None: render at OCR_DPI."""
    import pypdfium2.raw as pdfium_c

    try:
        best = None
        for obj in page.get_objects(max_depth=1):
            if obj.type != pdfium_c.FPDF_PAGEOBJ_IMAGE:
                continue
            left, bottom, right, top = obj.get_bounds()
            if (right - left) * (top - bottom) < 0.6 * width * height:
                continue
            px_w, _px_h = obj.get_px_size()
            best = max(best or 0, px_w / ((right - left) / 72))
        if best is None:
            return None
        return int(max(MIN_SCAN_DPI, min(OCR_DPI, round(best))))
    except Exception:  # noqa: BLE001 - an odd page object: fall back to the default resolution
        return None


def _plumber(path: Path) -> Any:
    try:
        import pdfplumber

        return pdfplumber.open(str(path))
    except Exception:  # noqa: BLE001 - tables are a bonus; the text layer still counts
        return None


def _plumber_tables(plumber: Any, index: int) -> list[list[list[str]]]:
    if plumber is None:
        return []
    try:
        page = plumber.pages[index]
        tables = page.extract_tables()
        page.flush_cache()
    except Exception:  # noqa: BLE001
        return []
    return [[[unicodedata.normalize("NFC", " ".join((c or "").split())) for c in row] for row in t] for t in tables]


# ------------------------------------------------------------------ images


def _open_image(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        im = Image.open(path)
        im.load()
        return im
    except Image.DecompressionBombError:
        raise IntakeError("image-too-large", "Ảnh quá lớn (quá nhiều điểm ảnh).",
                          "The image is too large (too many pixels).") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise IntakeError("corrupt-image", f"Ảnh bị hỏng hoặc không đầy đủ ({exc}).",
                          f"The image is corrupt or truncated ({exc}).") from None


def _image_pages(path: Path) -> Iterator[Page]:
    from PIL import ImageOps

    im = _open_image(path)
    try:
        for i in range(getattr(im, "n_frames", 1)):
            try:
                im.seek(i)
                frame = ImageOps.exif_transpose(im.copy())
            except (OSError, ValueError, EOFError) as exc:
                raise IntakeError("corrupt-image", f"Trang {i + 1} của ảnh bị hỏng ({exc}).",
                                  f"Page {i + 1} of the image is corrupt ({exc}).") from None
            frame.info["dpi"] = im.info.get("dpi", (300, 300))
            yield Page(i + 1, "image", image=frame, width=frame.width, height=frame.height)
    finally:
        im.close()


# ------------------------------------------------------------------ DOCX


def _docx_page(path: Path) -> Page:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        d = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise IntakeError("corrupt-docx", f"Tệp DOCX bị hỏng ({exc}).", f"The DOCX file is corrupt ({exc}).") from None
    def text_of(el: Any) -> str:  # runs' text, with line breaks and tabs where Word puts them
        out = []
        for t in el.iter():
            tag = t.tag.rsplit("}", 1)[-1]
            if tag == "t":
                out.append(t.text or "")
            elif tag in ("br", "cr"):
                out.append("\n")
            elif tag == "tab":
                out.append("\t")
        return "".join(out)

    lines: list[str] = []
    # header tables (agency | quốc hiệu) come first in ND30 templates: read the body in document order
    body = d.element.body
    tables = []
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.extend(text_of(child).split("\n"))
        elif tag == "tbl":
            rows = []
            for tr in child.iter():
                if not tr.tag.endswith("}tr"):
                    continue
                cells = []
                for tc in tr:
                    if not tc.tag.endswith("}tc"):
                        continue
                    paras = [text_of(p) for p in tc.iter() if p.tag.endswith("}p")]
                    cells.append("\n".join(paras))
                rows.append(cells)
            if rows and len(rows[0]) >= 3 and len(rows) >= 2:
                tables.append([[" ".join(c.split()) for c in r] for r in rows])
            else:  # a layout table (the two-column header): its cells are text, left column first
                for r in rows:
                    for c in r:
                        lines.extend(c.split("\n"))
    text = unicodedata.normalize("NFC", "\n".join(lines))
    return Page(1, "text", text=text, tables=tables)


# ------------------------------------------------------------------ zip batches


def zip_members(path: Path, *, max_files: int = 500, max_total: int = 2 * 1024 ** 3) -> Iterator[tuple[str, Any]]:
    """(name, open binary stream) for each file of a zip batch, skipping folders and hidden files.

    Refuses zip bombs (declared sizes over ``max_total`` or a ratio over 200x) and too many files.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntakeError("corrupt-zip", f"Tệp ZIP bị hỏng ({exc}).", f"The ZIP file is corrupt ({exc}).") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not Path(i.filename).name.startswith((".", "__MACOSX"))
                 and "__MACOSX/" not in i.filename]
        if len(infos) > max_files:
            raise IntakeError("too-many-files", f"ZIP có {len(infos)} tệp; tối đa {max_files}.",
                              f"The ZIP holds {len(infos)} files; at most {max_files}.")
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos) or 1
        if total > max_total or total / packed > 200:
            raise IntakeError("zip-bomb", "ZIP giải nén ra quá lớn (nghi là bom nén).",
                              "The ZIP expands to too much data (a suspected zip bomb).")
        for info in infos:
            with zf.open(info) as fh:
                yield info.filename, io.BufferedReader(fh)  # type: ignore[arg-type]
