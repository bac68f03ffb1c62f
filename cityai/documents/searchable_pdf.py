"""Searchable PDF: each scanned page as an image with the OCR text laid invisibly over it.

The text layer uses text render mode 3 (neither filled nor stroked), so the page looks exactly like the
scan while search, selection and text extraction find the recognised words where they are printed. The
font is DejaVu Sans, embedded as a subset with a ToUnicode map, so Vietnamese text extracts back as the
same Unicode (NFC) it was recognised as.

Word boxes of a :class:`~cityai.documents.ocr.PageResult` refer to the processed page (upright,
deskewed). Pass the original scans: the same rotation and deskew are applied to them (so the PDF shows the
page upright and straight) unless the image is the processed one itself (``recognize(keep_image=True)``
gives it as ``result.image``). An image of another size than the processed page (a thumbnail, a higher
resolution original) is fine: the boxes are scaled.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable

from cityai.documents.ocr import PageResult, Word, apply_geometry

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["make_searchable_pdf", "TEXT_FONT"]

TEXT_FONT = "CityAI-DejaVuSans"
DEFAULT_DPI = 300


_font_lock = threading.Lock()


def _register_font() -> str:
    """DejaVu Sans (Vietnamese glyphs) registered with reportlab once; FontUnavailable if missing."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from cityai.documents.samples import find_font

    with _font_lock:
        if TEXT_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(TEXT_FONT, str(find_font("DejaVuSans", "regular"))))
    return TEXT_FONT


def _page_image(image: "Image.Image", result: PageResult) -> "Image.Image":
    if image.info.get("cityai_processed") or image is result.image:
        return image
    if result.rotation or abs(result.skew) >= 0.1:
        return apply_geometry(image, result.rotation, result.skew)
    return image


def _image_reader(img: "Image.Image", jpeg_quality: int | None):
    from reportlab.lib.utils import ImageReader

    if img.mode == "1" or jpeg_quality is None:
        return ImageReader(img if img.mode in ("1", "L", "RGB") else img.convert("RGB"))
    buf = io.BytesIO()
    rgb = img if img.mode in ("L", "RGB") else img.convert("RGB")
    rgb.save(buf, format="JPEG", quality=int(jpeg_quality))
    buf.seek(0)
    return ImageReader(buf)  # reportlab embeds the JPEG stream as is (DCTDecode)


def _lines(words: list[Word]) -> list[list[Word]]:
    lines: dict[tuple[int, int], list[Word]] = {}
    for w in words:
        lines.setdefault((w.block, w.line), []).append(w)
    return [sorted(ws, key=lambda w: w.bbox[0]) for ws in lines.values()]


def make_searchable_pdf(pages: Iterable[tuple["Image.Image", PageResult]],
                        out_path: str | os.PathLike | IO[bytes], dpi: float | None = None,
                        jpeg_quality: int | None = 85, title: str | None = None) -> Path | None:
    """Write a PDF with one page per ``(image, result)``: the image, and the OCR words invisibly on top.

    ``dpi``: resolution of the images (default: the result's, else the image's ``info['dpi']``, else 300);
    it sets the page size in points. ``jpeg_quality``: images are embedded as JPEG at that quality
    (None: lossless Flate; bilevel images are always lossless). Returns the path when given one.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas as rl_canvas

    font = _register_font()
    target = out_path if hasattr(out_path, "write") else str(out_path)
    c = rl_canvas.Canvas(target, pageCompression=1)
    c.setCreator("CityAI OCR")
    if title:
        c.setTitle(title)
    count = 0
    for image, result in pages:
        img = _page_image(image, result)
        page_dpi = float(dpi or result.dpi or 0) or None
        if not page_dpi:
            info_dpi = img.info.get("dpi") or image.info.get("dpi")
            try:
                page_dpi = float(info_dpi[0] if isinstance(info_dpi, (tuple, list)) else info_dpi)
            except (TypeError, ValueError, IndexError):
                page_dpi = None
        page_dpi = page_dpi if page_dpi and page_dpi >= 10 else DEFAULT_DPI
        # boxes are in the processed page's pixels; the image may have another size
        sx = img.width / result.width if result.width else 1.0
        sy = img.height / result.height if result.height else 1.0
        k = 72.0 / page_dpi
        pw, ph = img.width * k, img.height * k
        c.setPageSize((pw, ph))
        c.drawImage(_image_reader(img, jpeg_quality), 0, 0, width=pw, height=ph)

        for line in _lines(result.words):
            heights = sorted((w.bbox[3] - w.bbox[1]) * sy * k for w in line)
            size = max(1.0, heights[len(heights) // 2])  # median word height ~ the font size in points
            bottom = max(w.bbox[3] for w in line) * sy * k
            baseline = ph - bottom + 0.2 * size  # descenders hang ~0.2 em under the baseline
            text = c.beginText()
            text.setTextRenderMode(3)  # invisible
            text.setFont(font, size)
            for i, w in enumerate(line):
                word = w.text + (" " if i < len(line) - 1 else "")
                x0 = w.bbox[0] * sx * k
                right = w.bbox[2]
                if i < len(line) - 1:  # Tesseract's boxes can overlap the next word (italics): keep order
                    right = min(right, line[i + 1].bbox[0] - 1)
                width = max(right - w.bbox[0], 1) * sx * k
                natural = stringWidth(w.text, font, size)
                text.setTextOrigin(x0, baseline)
                text.setHorizScale(max(1.0, 100.0 * width / natural) if natural else 100.0)
                text.textOut(word)
            c.drawText(text)
        c.showPage()
        count += 1
    if count == 0:
        raise ValueError("no pages to write")
    c.save()
    return None if hasattr(out_path, "write") else Path(out_path)
