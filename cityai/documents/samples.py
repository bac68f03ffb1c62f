"""Realistic sample documents in the Nghị định 30/2020/NĐ-CP format, for tests, the demo and benchmarks.

A :class:`DocSpec` describes an administrative document (agency, number, place and date, type, summary,
body, signature, recipients, optionally an annex table). :func:`render_pdf` lays it out the way Phụ lục I
of ND30 prescribes: A4, margins 20 mm top and bottom, 30 mm left, 15 mm right, a Times-like serif at
13-14 pt, the two-column header (agency top left, Quốc hiệu and Tiêu ngữ top right,
"Số: ..." under the agency, place and date in italics on the right), the type name and summary bold and
centred, the body justified with a 1 cm first-line indent, the signature block on the right and the
"Nơi nhận:" block on the left. :func:`render_images` rasterises those pages with pdfium at a chosen
resolution and applies scanner-like degradations (rotation, blur, noise, JPEG), all deterministic.
:func:`render_docx` writes the same document with python-docx and :func:`multipage_tiff` saves pages as
one multi-page TIFF, the format most document scanners produce.

Everything here runs offline; fonts come from the system or from ``CITYAI_FONTS_DIR``, and only fonts
with Vietnamese glyphs are used. ND30 prescribes Times New Roman; ``font="auto"`` takes it when installed,
else Liberation Serif (its metric twin) from ``fonts-liberation2`` (version 1, ``fonts-liberation``, has
no ơ, ư, ộ... and is refused), else DejaVu Serif Condensed (``fonts-dejavu-core``), the closest in width.
The sample documents are fictitious: names, numbers and dates are made up.

Agency names may hold ``"\n"`` to break the line where the agency itself does ("ỦY BAN NHÂN DÂN\n
THÀNH PHỐ HỒ CHÍ MINH"); header lines shrink (to 10.5 pt at least) rather than wrap.

Body paragraphs take three prefixes: ``"# "`` a centred bold line (e.g. ``"# QUYẾT ĐỊNH:"``), ``"## "``
a bold heading, ``"_ "`` an italic paragraph (căn cứ); and ``**bold**`` inline (e.g. ``"**Điều 1.** ..."``).
"""

from __future__ import annotations

import io
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from PIL import Image, ImageFilter

__all__ = [
    "DocSpec",
    "FontUnavailable",
    "SAMPLE_SPECS",
    "TASK_TABLE_HEADER",
    "cer",
    "degrade",
    "find_font",
    "resolve_font",
    "multipage_tiff",
    "rasterize_pdf",
    "render_docx",
    "render_images",
    "render_pdf",
    "spec_text",
]

MM = 72.0 / 25.4  # points per millimetre

# ND30 Phụ lục I: top/bottom 20-25 mm, left 30-35 mm, right 15-20 mm.
MARGIN_TOP_MM = 20.0
MARGIN_BOTTOM_MM = 20.0
MARGIN_LEFT_MM = 30.0
MARGIN_RIGHT_MM = 15.0


class FontUnavailable(RuntimeError):
    """A font with Vietnamese glyphs is not installed."""


# name -> candidate file names of (regular, bold, italic, bold italic)
_FONT_FILES: dict[str, tuple[tuple[str, ...], ...]] = {
    "TimesNewRoman": (("Times_New_Roman.ttf", "times.ttf"), ("Times_New_Roman_Bold.ttf", "timesbd.ttf"),
                      ("Times_New_Roman_Italic.ttf", "timesi.ttf"),
                      ("Times_New_Roman_Bold_Italic.ttf", "timesbi.ttf")),
    "LiberationSerif": (("LiberationSerif-Regular.ttf",), ("LiberationSerif-Bold.ttf",),
                        ("LiberationSerif-Italic.ttf",), ("LiberationSerif-BoldItalic.ttf",)),
    "LiberationSans": (("LiberationSans-Regular.ttf",), ("LiberationSans-Bold.ttf",),
                       ("LiberationSans-Italic.ttf",), ("LiberationSans-BoldItalic.ttf",)),
    "DejaVuSerifCondensed": (("DejaVuSerifCondensed.ttf",), ("DejaVuSerifCondensed-Bold.ttf",),
                             ("DejaVuSerifCondensed-Italic.ttf",), ("DejaVuSerifCondensed-BoldItalic.ttf",)),
    "DejaVuSerif": (("DejaVuSerif.ttf",), ("DejaVuSerif-Bold.ttf",), ("DejaVuSerif-Italic.ttf",),
                    ("DejaVuSerif-BoldItalic.ttf",)),
    "DejaVuSans": (("DejaVuSans.ttf",), ("DejaVuSans-Bold.ttf",), ("DejaVuSans-Oblique.ttf",),
                   ("DejaVuSans-BoldOblique.ttf",)),
}
_STYLES = ("regular", "bold", "italic", "bolditalic")
_FONT_PACKAGES = {"Liberation": "fonts-liberation2", "DejaVu": "fonts-dejavu-core",
                  "TimesNewRoman": "ttf-mscorefonts-installer"}
# "auto": the first family installed with Vietnamese glyphs. ND30 prescribes Times New Roman; Liberation
# Serif has its metrics but only version 2 (fonts-liberation2) covers Vietnamese; DejaVu Serif (Condensed,
# the closest in width to Times) always does.
AUTO_FONTS = ("TimesNewRoman", "LiberationSerif", "DejaVuSerifCondensed", "DejaVuSerif")
VIETNAMESE_PROBE = "ĂÂĐÊÔƠƯăâđêôơưẠảẤầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"


def _font_dirs() -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get("CITYAI_FONTS_DIR")
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    for base in ("/usr/share/fonts/truetype/liberation2", "/usr/share/fonts/truetype/liberation",
                 "/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/msttcorefonts",
                 "/usr/share/fonts/liberation", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
                 "/usr/local/share/fonts", str(Path.home() / ".fonts")):
        dirs.append(Path(base))
    return dirs


_font_cache: dict[tuple[str, str], Path] = {}


def _covers_vietnamese(path: Path) -> bool:
    from reportlab.pdfbase.ttfonts import TTFontFile

    try:
        cmap = TTFontFile(str(path)).charToGlyph
    except Exception:  # noqa: BLE001 - an unreadable font covers nothing
        return False
    return all(ord(c) in cmap for c in VIETNAMESE_PROBE)


def find_font(name: str = "auto", style: str = "regular") -> Path:
    """The TTF file of font family ``name`` in ``style`` (regular, bold, italic, bolditalic).

    Only a file with Vietnamese glyphs qualifies (fonts-liberation 1.x lacks them: ơ, ư, ộ...).
    ``name="auto"``: Times New Roman, else Liberation Serif, else DejaVu Serif Condensed, else DejaVu Serif.
    Raises :class:`FontUnavailable` naming the Debian package to install.
    """
    if name == "auto":
        return find_font(resolve_font("auto"), style)
    if name not in _FONT_FILES:
        raise ValueError(f"unknown font {name!r}; choose one of {sorted(_FONT_FILES)} or 'auto'")
    if style not in _STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {_STYLES}")
    key = (name, style)
    if key in _font_cache:
        return _font_cache[key]
    filenames = _FONT_FILES[name][_STYLES.index(style)]
    dirs = _font_dirs()
    candidates = [d / fn for d in dirs for fn in filenames]
    for root in ("/usr/share/fonts", "/usr/local/share/fonts"):  # other distributions' layouts
        if Path(root).is_dir():
            for fn in filenames:
                candidates += sorted(Path(root).rglob(fn))
    lacking = []
    for p in candidates:
        if p.is_file():
            if _covers_vietnamese(p):
                _font_cache[key] = p
                return p
            lacking.append(str(p))
    package = next((v for k, v in _FONT_PACKAGES.items() if name.startswith(k)), "a font package")
    why = (f"{', '.join(lacking)} lack(s) Vietnamese glyphs" if lacking
           else f"{filenames[0]} not found in CITYAI_FONTS_DIR or {', '.join(str(d) for d in dirs)}")
    raise FontUnavailable(f"no {name} font with Vietnamese glyphs: {why}; install the Debian package "
                          f"{package} or point CITYAI_FONTS_DIR at a folder holding such a font")


def resolve_font(name: str = "auto") -> str:
    """``name`` itself, or for ``"auto"`` the first of :data:`AUTO_FONTS` installed with Vietnamese glyphs."""
    if name != "auto":
        return name
    errors = []
    for cand in AUTO_FONTS:
        try:
            for style in _STYLES:
                find_font(cand, style)
            return cand
        except FontUnavailable as exc:
            errors.append(str(exc))
    raise FontUnavailable("no font with Vietnamese glyphs found: " + " | ".join(errors))


_register_lock = threading.Lock()
_registered: set[str] = set()


def _register_family(name: str) -> dict[str, str]:
    """Register ``name`` with reportlab (once); return the reportlab font names per style."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    name = resolve_font(name)

    names = {"regular": name, "bold": f"{name}-Bold", "italic": f"{name}-Italic",
             "bolditalic": f"{name}-BoldItalic"}
    with _register_lock:
        if name not in _registered:
            for style in _STYLES:
                pdfmetrics.registerFont(TTFont(names[style], str(find_font(name, style))))
            addMapping(name, 0, 0, names["regular"])
            addMapping(name, 1, 0, names["bold"])
            addMapping(name, 0, 1, names["italic"])
            addMapping(name, 1, 1, names["bolditalic"])
            _registered.add(name)
    return names


# --------------------------------------------------------------------------------------------- specs

TASK_TABLE_HEADER = ["STT", "Nội dung", "Đơn vị chủ trì", "Đơn vị phối hợp", "Sản phẩm", "Thời gian"]


@dataclass
class DocSpec:
    """An administrative document as ND30 lays it out. ``table``: the annex, first row the header."""

    parent_issuer: str | None
    issuer: str
    number_line: str
    place_date: str
    doc_type: str | None  # None for a công văn (its summary starts with "V/v")
    title: str
    body: list[str]
    signer_authority: str | None
    signer_position: str
    signer_name: str
    recipients: list[str]
    urgency: str | None = None  # "KHẨN", "THƯỢNG KHẨN", "HỎA TỐC"
    table: list[list[str]] | None = None
    kinh_gui: list[str] = field(default_factory=list)  # công văn, tờ trình: "Kính gửi:"
    table_title: str | None = None
    draft: bool = False

    @property
    def is_cong_van(self) -> bool:
        return not self.doc_type


_INLINE_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _plain(par: str) -> str:
    for prefix in ("## ", "# ", "_ "):
        if par.startswith(prefix):
            par = par[len(prefix):]
            break
    return _INLINE_BOLD.sub(r"\1", par)


def _kinh_gui_lines(spec: DocSpec) -> list[str]:
    if not spec.kinh_gui:
        return []
    if len(spec.kinh_gui) == 1:
        return [f"Kính gửi: {spec.kinh_gui[0]}"]
    return ["Kính gửi:"] + [f"- {k}" for k in spec.kinh_gui]


def _signer_lines(spec: DocSpec) -> list[str]:
    """Authority and position lines ("TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH")."""
    lines: list[str] = []
    for part in (spec.signer_authority, spec.signer_position):
        if part:
            lines += [x.strip() for x in part.split("\n") if x.strip()]
    return lines


def spec_text(spec: DocSpec, parts: Sequence[str] = ("header", "title", "body", "signature",
                                                      "recipients", "table")) -> str:
    """The document's text in reading order (header left column then right), one line per element.

    Meant as the reference for OCR accuracy checks (see :func:`cer`); markup prefixes are removed.
    """
    out: list[str] = []
    if "header" in parts:
        if spec.parent_issuer:
            out.append(spec.parent_issuer)
        out.append(spec.issuer)
        out.append(spec.number_line)
        if spec.is_cong_van:
            out.append(spec.title)
        if spec.urgency:
            out.append(spec.urgency)
        out += ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", spec.place_date]
    if "title" in parts:
        if spec.draft:
            out.append("DỰ THẢO")
        if not spec.is_cong_van:
            out += [spec.doc_type or "", spec.title]
        out += _kinh_gui_lines(spec)
    if "body" in parts:
        out += [_plain(p) for p in spec.body]
    if "signature" in parts:
        out += _signer_lines(spec) + ([spec.signer_name] if spec.signer_name else [])
    if "recipients" in parts:
        out += ["Nơi nhận:"] + list(spec.recipients)
    if "table" in parts and spec.table:
        out += ["Phụ lục"] + ([spec.table_title] if spec.table_title else [])
        out += [" ".join(row) for row in spec.table]
    return "\n".join(unicodedata.normalize("NFC", line) for line in out if line)


# --------------------------------------------------------------------------------------------- PDF


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline(text: str) -> str:
    return _INLINE_BOLD.sub(r"<b>\1</b>", _xml(text))


def _flowables(spec: DocSpec, font: str, size: float):  # noqa: C901 - one linear layout
    from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Flowable, KeepTogether, PageBreak, Paragraph, Spacer, Table, TableStyle
    from reportlab.lib.utils import simpleSplit

    f = _register_family(font)

    class Lines(Flowable):
        """Centred lines; an item can be underlined (full length or a 1/3-1/2 rule) or boxed."""

        def __init__(self, items, width):
            super().__init__()
            # item: (text, style, size, deco) where deco in (None, "full", "part", "box"), or ("space", pts)
            self.items, self.width = items, width
            self._laid: list[tuple] = []
            height = 0.0
            for it in items:
                if it[0] == "\0space":
                    height += it[1]
                    self._laid.append(("space", it[1]))
                    continue
                text, style, sz, deco = it[:4]
                fn = f[style]
                avail = width - (8 if deco == "box" else 0)
                if len(it) > 4 and it[4]:  # fit: shrink (to 10.5 pt at least) so each line fits, then wrap
                    widest = max(text.split("\n"), key=lambda t: stringWidth(t, fn, sz))
                    while sz > 10.5 and stringWidth(widest, fn, sz) > avail:
                        sz -= 0.5
                lines = []
                for part in text.split("\n"):  # keep a line that fits as typed ("Số:      /KH-SNV")
                    fits = stringWidth(part, fn, sz) <= avail
                    lines += [part] if fits else (simpleSplit(part, fn, sz, avail) or [""])
                lead = sz * 1.2
                extra = 6.0 if deco else 0.0
                self._laid.append(("text", lines, fn, sz, deco, lead))
                height += lead * len(lines) + extra
            self.height = height

        def wrap(self, aw, ah):
            return self.width, self.height

        def draw(self):
            c = self.canv
            y = self.height
            for it in self._laid:
                if it[0] == "space":
                    y -= it[1]
                    continue
                _, lines, fn, sz, deco, lead = it
                widths = [stringWidth(line, fn, sz) for line in lines]
                top = y
                for line, w in zip(lines, widths):
                    y -= lead
                    c.setFont(fn, sz)
                    c.drawString((self.width - w) / 2, y + lead * 0.25, line)
                if deco in ("full", "part"):  # the rule sits clear of the descenders, as in print
                    y -= 6
                    w = widths[-1] if deco == "full" else max(widths) * 0.4
                    c.setLineWidth(0.6)
                    c.line((self.width - w) / 2, y + 2, (self.width + w) / 2, y + 2)
                elif deco == "box":
                    y -= 6
                    w = max(widths) + 12
                    c.setLineWidth(0.8)
                    c.rect((self.width - w) / 2, y + 1, w, top - y - 1)

    frame_w = (210 - MARGIN_LEFT_MM - MARGIN_RIGHT_MM) * MM
    left_w, right_w = frame_w * 0.40, frame_w * 0.60
    hsize = min(size, 13.0)  # agency names and Quốc hiệu: 12-13 pt

    left_top = []
    if spec.parent_issuer:
        left_top.append((spec.parent_issuer.upper(), "regular", hsize, None, True))
    left_top.append((spec.issuer.upper(), "bold", hsize, "part", True))
    right_top = [("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", hsize, None, True),
                 ("Độc lập - Tự do - Hạnh phúc", "bold", min(size, 14.0), "full", True)]
    left_bottom = [(spec.number_line, "regular", 13.0, None, True)]
    if spec.is_cong_van:
        left_bottom.append(("\0space", 6.0))
        left_bottom.append((spec.title, "regular", min(size, 13.0) - 1 if size >= 13 else size, None))
    if spec.urgency:
        left_bottom.append(("\0space", 6.0))
        left_bottom.append((spec.urgency.upper(), "bold", 13.0, "box"))
    right_bottom = [(spec.place_date, "italic", min(size, 14.0), None, True)]

    header = Table(
        [[Lines(left_top, left_w), Lines(right_top, right_w)],
         [Lines(left_bottom, left_w), Lines(right_bottom, right_w)]],
        colWidths=[left_w, right_w],
    )
    header.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 1), (-1, 1), 4),
    ]))
    story: list = [header, Spacer(1, 14)]

    if spec.draft:
        story.append(Lines([("DỰ THẢO", "bold", 13.0, "box")], frame_w))
        story.append(Spacer(1, 6))
    if not spec.is_cong_van:
        story.append(Lines([(spec.doc_type.upper(), "bold", size, None), (spec.title, "bold", size, "part")],
                           frame_w))
        story.append(Spacer(1, 10))

    body = ParagraphStyle("body", fontName=f["regular"], fontSize=size, leading=size * 1.2,
                          alignment=TA_JUSTIFY, firstLineIndent=10 * MM, spaceAfter=6)
    italic = ParagraphStyle("italic", parent=body, fontName=f["italic"])
    heading = ParagraphStyle("heading", parent=body, fontName=f["bold"])
    centred = ParagraphStyle("centred", parent=body, fontName=f["bold"], alignment=TA_CENTER,
                             firstLineIndent=0, spaceBefore=6)
    kg = _kinh_gui_lines(spec)
    if kg:
        kg_style = ParagraphStyle("kg", parent=body, alignment=TA_LEFT, firstLineIndent=0, spaceAfter=0,
                                  leftIndent=frame_w * 0.18)
        for line in kg:
            story.append(Paragraph(_xml(line), kg_style))
        story.append(Spacer(1, 10))
    for par in spec.body:
        if par.startswith("# "):
            story.append(Paragraph(_inline(par[2:]), centred))
        elif par.startswith("## "):
            story.append(Paragraph(_inline(par[3:]), heading))
        elif par.startswith("_ "):
            story.append(Paragraph(_inline(par[2:]), italic))
        else:
            story.append(Paragraph(_inline(par), body))

    # Signature (right) and Nơi nhận (left), "Nơi nhận:" level with the authority line.
    nn_title = ParagraphStyle("nn", fontName=f["bolditalic"], fontSize=12, leading=14)
    nn_item = ParagraphStyle("nni", fontName=f["regular"], fontSize=11, leading=13)
    left_cells = [Paragraph("Nơi nhận:", nn_title)] + [Paragraph(_xml(r), nn_item) for r in spec.recipients]
    sig_items = []
    for line in _signer_lines(spec):
        sig_items.append((line.upper(), "bold", size, None))
    sig_items.append(("\0space", 24 * MM))
    if spec.signer_name:
        sig_items.append((spec.signer_name, "bold", size, None))
    sig_w = frame_w * 0.5
    sig = Table([[left_cells, Lines(sig_items, sig_w)]], colWidths=[frame_w - sig_w, sig_w])
    sig.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
    ]))
    story += [Spacer(1, 8), KeepTogether([sig])]

    if spec.table:
        story.append(PageBreak())
        intro = [("Phụ lục", "bold", 14.0, None)]
        if spec.table_title:
            intro.append((spec.table_title.upper(), "bold", size, None))
        ref = spec.number_line.replace("Số:", "").strip()
        date = spec.place_date.split(",", 1)[-1].strip()
        intro.append((f"(Kèm theo {spec.doc_type or 'văn bản'} số {ref} {date})", "italic", 13.0, "part"))
        story += [Lines(intro, frame_w), Spacer(1, 8)]
        cell = ParagraphStyle("cell", fontName=f["regular"], fontSize=12, leading=14)
        head = ParagraphStyle("head", parent=cell, fontName=f["bold"], alignment=TA_CENTER)
        rows = [[Paragraph(_xml(c), head) for c in spec.table[0]]]
        for row in spec.table[1:]:
            rows.append([Paragraph(_xml(c), cell) for c in row])
        ncol = len(spec.table[0])
        if ncol == 6:
            fr = [0.07, 0.31, 0.16, 0.16, 0.16, 0.14]
        else:
            fr = [1.0 / ncol] * ncol
        t = Table(rows, colWidths=[frame_w * x for x in fr], repeatRows=1)
        t.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.6, "black"),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]))
        story.append(t)
    return story


def render_pdf(spec: DocSpec, path: str | os.PathLike | None = None, font: str = "auto",
               size: float = 14.0) -> bytes:
    """Lay ``spec`` out as an ND30 A4 PDF; write it to ``path`` when given; return the PDF bytes.

    ``font``: "auto" (Times New Roman, else Liberation Serif 2 with its metrics, else DejaVu Serif: the
    first installed with Vietnamese glyphs), or one of TimesNewRoman, LiberationSerif, LiberationSans,
    DejaVuSerif, DejaVuSans. ``size``: the body size, 13 or 14 pt.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate

    fam = _register_family(font)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=MARGIN_LEFT_MM * MM, rightMargin=MARGIN_RIGHT_MM * MM,
        topMargin=MARGIN_TOP_MM * MM, bottomMargin=MARGIN_BOTTOM_MM * MM,
        title=f"{spec.doc_type or 'Công văn'} {spec.number_line}", author=spec.issuer,
        creator="cityai samples",
        invariant=1,  # same input, same bytes
    )

    def later_pages(canvas, _doc):  # page numbers from page 2, centred in the top margin
        canvas.saveState()
        canvas.setFont(fam["regular"], 13)
        canvas.drawCentredString((MARGIN_LEFT_MM + (210 - MARGIN_LEFT_MM - MARGIN_RIGHT_MM) / 2) * MM,
                                 A4[1] - 12 * MM, str(canvas.getPageNumber()))
        canvas.restoreState()

    doc.build(_flowables(spec, font, size), onLaterPages=later_pages)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


# --------------------------------------------------------------------------------------------- images


def rasterize_pdf(pdf: bytes | str | os.PathLike, dpi: int = 200, grayscale: bool = False,
                  pages: Iterable[int] | None = None) -> list[Image.Image]:
    """Render the pages (default all) of a PDF with pdfium at ``dpi``; each image carries ``info['dpi']``."""
    import pypdfium2 as pdfium

    src = pdf if isinstance(pdf, bytes) else str(pdf)
    doc = pdfium.PdfDocument(src)
    try:
        out = []
        for i in (range(len(doc)) if pages is None else pages):
            page = doc[i]
            bitmap = page.render(scale=dpi / 72.0, grayscale=grayscale)
            img = bitmap.to_pil()
            img = img.convert("L" if grayscale else "RGB")
            img.info["dpi"] = (dpi, dpi)
            out.append(img)
            page.close()
        return out
    finally:
        doc.close()


def degrade(image: Image.Image, rotate: float = 0.0, blur: float = 0.0, noise: float = 0.0,
            jpeg_quality: int | None = None, seed: int = 0) -> Image.Image:
    """Scanner-like damage, deterministic for a given ``seed``.

    ``rotate``: degrees counter-clockwise, the page grows to hold the turned content and the corners are
    white (as on a flatbed scan); ``blur``: Gaussian radius in pixels; ``noise``: standard deviation of
    Gaussian noise in grey levels; ``jpeg_quality``: re-encode as JPEG at that quality.
    """
    import numpy as np

    dpi = image.info.get("dpi")
    img = image
    if rotate:
        fill = 255 if img.mode == "L" else (255, 255, 255)
        img = img.rotate(rotate, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        rng = np.random.default_rng(seed)
        arr = np.asarray(img, dtype=np.float32)
        arr = arr + rng.normal(0.0, noise, size=arr.shape).astype(np.float32)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode=img.mode)
    if jpeg_quality:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(jpeg_quality))
        buf.seek(0)
        img = Image.open(buf)
        img.load()
    if dpi:
        img.info["dpi"] = dpi
    return img


def render_images(spec: DocSpec, dpi: int = 200, rotate: float = 0.0, blur: float = 0.0, noise: float = 0.0,
                  jpeg_quality: int | None = None, seed: int = 0, font: str = "auto",
                  size: float = 14.0, grayscale: bool = False, pages: Iterable[int] | None = None,
                  ) -> list[Image.Image]:
    """The pages of ``spec`` as scanned images at ``dpi``, with the degradations of :func:`degrade`.

    Page ``i`` uses noise seed ``seed + i``, so the same arguments always give the same pixels.
    ``pages``: indexes of the pages to return (default all).
    """
    pdf = render_pdf(spec, None, font=font, size=size)
    if pages is None:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(pdf)
        pages = range(len(doc))
        doc.close()
    wanted = list(pages)
    imgs = rasterize_pdf(pdf, dpi=dpi, grayscale=grayscale, pages=wanted)
    return [degrade(img, rotate=rotate, blur=blur, noise=noise, jpeg_quality=jpeg_quality, seed=seed + i)
            for i, img in zip(wanted, imgs)]


def multipage_tiff(images: Sequence[Image.Image], path: str | os.PathLike, compression: str = "tiff_deflate",
                   ) -> Path:
    """Save ``images`` as one multi-page TIFF (deflate; Group 4 for bilevel pages), keeping their dpi."""
    if not images:
        raise ValueError("no images to save")
    path = Path(path)
    first, rest = images[0], list(images[1:])
    dpi = first.info.get("dpi", (200, 200))
    comp = "group4" if all(i.mode == "1" for i in images) else compression
    first.save(path, format="TIFF", save_all=True, append_images=rest, compression=comp, dpi=dpi)
    return path


# --------------------------------------------------------------------------------------------- DOCX


def render_docx(spec: DocSpec, path: str | os.PathLike, font: str = "Times New Roman", size: float = 14.0,
                ) -> Path:
    """Write ``spec`` as a DOCX with the ND30 layout (same elements as :func:`render_pdf`)."""
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.top_margin, sec.bottom_margin = Mm(MARGIN_TOP_MM), Mm(MARGIN_BOTTOM_MM)
    sec.left_margin, sec.right_margin = Mm(MARGIN_LEFT_MM), Mm(MARGIN_RIGHT_MM)
    normal = doc.styles["Normal"]
    normal.font.name = font
    normal.font.size = Pt(size)
    rpr = normal.element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(rfonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        rfonts.set(qn(attr), font)
    pf = normal.paragraph_format
    pf.space_before, pf.space_after, pf.line_spacing = Pt(0), Pt(0), 1.0

    def para(container, text="", bold=False, italic=False, underline=False, sz=None,
             align=WD_ALIGN_PARAGRAPH.CENTER, indent=None, after=0):
        p = container.add_paragraph()
        p.alignment = align
        p.paragraph_format.space_after = Pt(after)
        if indent is not None:
            p.paragraph_format.first_line_indent = indent
        if text:
            for i, chunk in enumerate(re.split(r"\*\*(.+?)\*\*", text)):
                if not chunk:
                    continue
                r = p.add_run(chunk)
                r.bold = bold or (i % 2 == 1)
                r.italic = italic
                r.underline = underline
                if sz:
                    r.font.size = Pt(sz)
        return p

    def cell_clear(cell):
        for p in list(cell.paragraphs):
            p._element.getparent().remove(p._element)

    hsize = min(size, 13.0)
    t = doc.add_table(rows=2, cols=2)
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False
    widths = (Mm(70), Mm(95))
    for row in t.rows:
        for c, w in zip(row.cells, widths):
            c.width = w
            cell_clear(c)
    c = t.cell(0, 0)
    if spec.parent_issuer:
        para(c, spec.parent_issuer.upper(), sz=hsize)
    para(c, spec.issuer.upper(), bold=True, sz=hsize)
    para(c, "_" * 12, sz=hsize)
    c = t.cell(0, 1)
    para(c, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, sz=12)
    para(c, "Độc lập - Tự do - Hạnh phúc", bold=True, underline=True, sz=min(size, 14.0))
    c = t.cell(1, 0)
    para(c, spec.number_line, sz=13)
    if spec.is_cong_van:
        para(c, spec.title, sz=12)
    if spec.urgency:
        para(c, spec.urgency.upper(), bold=True, sz=13)
    c = t.cell(1, 1)
    para(c, spec.place_date, italic=True, sz=min(size, 14.0))

    para(doc, "")
    if spec.draft:
        para(doc, "DỰ THẢO", bold=True, sz=13)
    if not spec.is_cong_van:
        para(doc, spec.doc_type.upper(), bold=True, sz=size)
        para(doc, spec.title, bold=True, sz=size)
        para(doc, "_" * 14, sz=size, after=6)
    for line in _kinh_gui_lines(spec):
        para(doc, line, sz=size, align=WD_ALIGN_PARAGRAPH.LEFT, indent=Mm(30))
    for par in spec.body:
        if par.startswith("# "):
            para(doc, par[2:], bold=True, sz=size, after=6)
        elif par.startswith("## "):
            para(doc, par[3:], bold=True, sz=size, align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent=Mm(10), after=6)
        elif par.startswith("_ "):
            para(doc, par[2:], italic=True, sz=size, align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent=Mm(10), after=6)
        else:
            para(doc, par, sz=size, align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent=Mm(10), after=6)

    sig = doc.add_table(rows=1, cols=2)
    sig.autofit = False
    for c_, w in zip(sig.rows[0].cells, (Mm(80), Mm(85))):
        c_.width = w
        cell_clear(c_)
    left, right = sig.cell(0, 0), sig.cell(0, 1)
    para(left, "Nơi nhận:", bold=True, italic=True, sz=12, align=WD_ALIGN_PARAGRAPH.LEFT)
    for r in spec.recipients:
        para(left, r, sz=11, align=WD_ALIGN_PARAGRAPH.LEFT)
    for line in _signer_lines(spec):
        para(right, line.upper(), bold=True, sz=size)
    for _ in range(4):
        para(right, "", sz=size)
    if spec.signer_name:
        para(right, spec.signer_name, bold=True, sz=size)

    if spec.table:
        doc.add_page_break()
        para(doc, "Phụ lục", bold=True, sz=14)
        if spec.table_title:
            para(doc, spec.table_title.upper(), bold=True, sz=size, after=6)
        tbl = doc.add_table(rows=0, cols=len(spec.table[0]))
        tbl.style = "Table Grid"
        for i, row in enumerate(spec.table):
            cells = tbl.add_row().cells
            for cell, value in zip(cells, row):
                cell_clear(cell)
                para(cell, value, bold=(i == 0), sz=12,
                     align=WD_ALIGN_PARAGRAPH.CENTER if i == 0 else WD_ALIGN_PARAGRAPH.LEFT)
        # repeat the header row on every page
        trpr = tbl.rows[0]._tr.get_or_add_trPr()
        trpr.append(trpr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"}))

    path = Path(path)
    doc.save(str(path))
    return path


# --------------------------------------------------------------------------------------------- metrics


def _normalize_for_cer(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: Levenshtein distance / reference length, after NFC and whitespace folding."""
    import numpy as np

    ref, hyp = _normalize_for_cer(reference), _normalize_for_cer(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    h = np.frombuffer(hyp.encode("utf-32-le"), dtype=np.uint32)
    idx = np.arange(len(h) + 1, dtype=np.int64)
    prev = idx.copy()
    for ch in ref:  # one row per reference char, the insertion recurrence vectorised with a running min
        sub = prev[:-1] + (h != ord(ch))
        cur = np.empty_like(prev)
        cur[0] = prev[0] + 1
        cur[1:] = np.minimum(prev[1:] + 1, sub)
        cur = np.minimum.accumulate(cur - idx) + idx
        prev = cur
    return float(prev[-1]) / len(ref)


# --------------------------------------------------------------------------------------------- samples

_HCM = "Thành phố Hồ Chí Minh"
_UBND_TP = "ỦY BAN NHÂN DÂN\nTHÀNH PHỐ HỒ CHÍ MINH"

_TASKS = [
    ("Xây dựng kiến trúc tổng thể nền tảng trí tuệ nhân tạo dùng chung", "Sở Khoa học và Công nghệ",
     "Sở Nội vụ, Sở Tài chính", "Kiến trúc được phê duyệt", "Quý I/2025"),
    ("Chuẩn hóa dữ liệu văn bản hành chính phục vụ huấn luyện mô hình", "Văn phòng Ủy ban nhân dân Thành phố",
     "Các sở, ban, ngành", "Bộ dữ liệu chuẩn hóa", "Quý II/2025"),
    ("Triển khai nhận dạng ký tự quang học cho văn bản đến", "Trung tâm Chuyển đổi số Thành phố",
     "Sở Khoa học và Công nghệ", "Hệ thống vận hành chính thức", "Quý II/2025"),
    ("Bảo đảm an toàn thông tin và bảo vệ dữ liệu cá nhân", "Công an Thành phố",
     "Sở Khoa học và Công nghệ", "Phương án bảo đảm an toàn", "Quý II/2025"),
    ("Tích hợp với hệ thống quản lý văn bản và điều hành", "Văn phòng Ủy ban nhân dân Thành phố",
     "Trung tâm Chuyển đổi số Thành phố", "Kết nối liên thông", "Quý III/2025"),
    ("Đào tạo, bồi dưỡng kỹ năng số cho cán bộ, công chức", "Sở Nội vụ",
     "Trường Cán bộ Thành phố", "Ít nhất 2.000 lượt người", "Quý III/2025"),
    ("Xây dựng bộ chỉ số đánh giá chất lượng dịch vụ", "Sở Khoa học và Công nghệ",
     "Viện Nghiên cứu phát triển", "Bộ chỉ số được ban hành", "Quý III/2025"),
    ("Thí điểm trợ lý ảo hỗ trợ giải quyết thủ tục hành chính", "Sở Nội vụ",
     "Ủy ban nhân dân các phường, xã", "Báo cáo kết quả thí điểm", "Quý IV/2025"),
    ("Số hóa hồ sơ lưu trữ lịch sử của Thành phố", "Trung tâm Lưu trữ lịch sử",
     "Sở Nội vụ", "Cơ sở dữ liệu hồ sơ số", "Quý IV/2025"),
    ("Bố trí kinh phí thực hiện Kế hoạch", "Sở Tài chính",
     "Các đơn vị chủ trì", "Dự toán được giao", "Quý I/2025"),
    ("Kiểm tra, đánh giá tình hình thực hiện", "Sở Khoa học và Công nghệ",
     "Văn phòng Ủy ban nhân dân Thành phố", "Báo cáo sơ kết", "Quý IV/2025"),
    ("Tuyên truyền về lợi ích của dịch vụ công trực tuyến", "Sở Văn hóa và Thể thao",
     "Báo, đài Thành phố", "Chuyên mục, tin bài", "Thường xuyên"),
    ("Hướng dẫn sử dụng nền tảng cho các phường, xã", "Trung tâm Chuyển đổi số Thành phố",
     "Ủy ban nhân dân các phường, xã", "Tài liệu hướng dẫn", "Quý III/2025"),
    ("Đánh giá rủi ro của các mô hình trước khi đưa vào sử dụng", "Sở Khoa học và Công nghệ",
     "Công an Thành phố", "Báo cáo đánh giá rủi ro", "Quý III/2025"),
    ("Công bố danh mục dữ liệu mở của Thành phố", "Sở Khoa học và Công nghệ",
     "Các sở, ban, ngành", "Danh mục dữ liệu mở", "Quý IV/2025"),
    ("Tổng kết, đề xuất nhiệm vụ năm tiếp theo", "Sở Khoa học và Công nghệ",
     "Các đơn vị liên quan", "Báo cáo tổng kết", "Tháng 12/2025"),
]

SAMPLE_SPECS: list[DocSpec] = [
    DocSpec(
        parent_issuer=None,
        issuer=_UBND_TP,
        number_line="Số: 140/KH-UBND",
        place_date=f"{_HCM}, ngày 15 tháng 01 năm 2025",
        doc_type="Kế hoạch",
        title="Triển khai nền tảng trí tuệ nhân tạo dùng chung của Thành phố năm 2025",
        body=[
            "Thực hiện Chương trình chuyển đổi số của Thành phố, Ủy ban nhân dân Thành phố ban hành Kế hoạch "
            "triển khai nền tảng trí tuệ nhân tạo dùng chung năm 2025 như sau:",
            "## I. MỤC ĐÍCH, YÊU CẦU",
            "1. Hình thành nền tảng dùng chung phục vụ các cơ quan, đơn vị trong xử lý văn bản, phân tích dữ "
            "liệu và hỗ trợ người dân, doanh nghiệp; tránh đầu tư trùng lặp, lãng phí.",
            "2. Bảo đảm an toàn thông tin, bảo vệ dữ liệu cá nhân và bí mật nhà nước theo quy định của pháp "
            "luật; dữ liệu được lưu trữ và xử lý tại hạ tầng của Thành phố.",
            "## II. NHIỆM VỤ TRỌNG TÂM",
            "1. Số hóa và nhận dạng văn bản đến, văn bản đi theo đúng thể thức quy định tại Nghị định số "
            "30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư.",
            "2. Các nhiệm vụ cụ thể, đơn vị chủ trì, đơn vị phối hợp và thời gian hoàn thành được nêu tại "
            "Phụ lục kèm theo Kế hoạch này.",
            "## III. TỔ CHỨC THỰC HIỆN",
            "Giao Sở Khoa học và Công nghệ chủ trì, theo dõi, đôn đốc và định kỳ hằng quý báo cáo Ủy ban "
            "nhân dân Thành phố kết quả thực hiện Kế hoạch này./.",
        ],
        signer_authority="TM. ỦY BAN NHÂN DÂN",
        signer_position="KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH",
        signer_name="Nguyễn Văn An",
        recipients=["- Thường trực Thành ủy;", "- Thường trực HĐND Thành phố;", "- TTUB: CT, các PCT;",
                    "- Các sở, ban, ngành Thành phố;", "- Lưu: VT, KT."],
        table=[TASK_TABLE_HEADER] + [[str(i + 1), *t] for i, t in enumerate(_TASKS)],
        table_title="Danh mục nhiệm vụ triển khai năm 2025",
    ),
    DocSpec(
        parent_issuer="Ủy ban nhân dân\nThành phố Hồ Chí Minh",
        issuer="Sở Khoa học và Công nghệ",
        number_line="Số: 2315/SKHCN-CĐS",
        place_date=f"{_HCM}, ngày 08 tháng 5 năm 2025",
        doc_type=None,
        title="V/v đề nghị cung cấp dữ liệu văn bản phục vụ huấn luyện mô hình",
        kinh_gui=["Các sở, ban, ngành Thành phố;", "Ủy ban nhân dân các phường, xã, đặc khu."],
        urgency="KHẨN",
        body=[
            "Thực hiện Kế hoạch số 140/KH-UBND ngày 15 tháng 01 năm 2025 của Ủy ban nhân dân Thành phố, "
            "Sở Khoa học và Công nghệ đề nghị các cơ quan, đơn vị cung cấp mẫu văn bản hành chính đã ban "
            "hành để phục vụ đánh giá chất lượng nhận dạng ký tự tiếng Việt.",
            "Văn bản cung cấp là bản quét có độ phân giải tối thiểu 200 dpi, không chứa thông tin thuộc danh "
            "mục bí mật nhà nước; dữ liệu cá nhân phải được che trước khi gửi.",
            "Văn bản gửi về Sở Khoa học và Công nghệ trước ngày 30 tháng 5 năm 2025. Trân trọng./.",
        ],
        signer_authority="KT. GIÁM ĐỐC",
        signer_position="PHÓ GIÁM ĐỐC",
        signer_name="Trần Thị Bích",
        recipients=["- Như trên;", "- UBND Thành phố (để báo cáo);", "- Giám đốc Sở (để báo cáo);",
                    "- Lưu: VT, CĐS."],
    ),
    DocSpec(
        parent_issuer=None,
        issuer=_UBND_TP,
        number_line="Số: 1826/QĐ-UBND",
        place_date=f"{_HCM}, ngày 12 tháng 6 năm 2025",
        doc_type="Quyết định",
        title="Về việc ban hành Quy chế quản lý, vận hành và sử dụng nền tảng trí tuệ nhân tạo dùng chung "
              "của Thành phố",
        body=[
            "# ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH",
            "_ Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025;",
            "_ Căn cứ Luật Giao dịch điện tử ngày 22 tháng 6 năm 2023;",
            "_ Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư;",
            "_ Theo đề nghị của Giám đốc Sở Khoa học và Công nghệ.",
            "# QUYẾT ĐỊNH:",
            "**Điều 1.** Ban hành kèm theo Quyết định này Quy chế quản lý, vận hành và sử dụng nền tảng trí "
            "tuệ nhân tạo dùng chung của Thành phố.",
            "**Điều 2.** Quyết định này có hiệu lực kể từ ngày ký.",
            "**Điều 3.** Chánh Văn phòng Ủy ban nhân dân Thành phố, Giám đốc Sở Khoa học và Công nghệ, Thủ "
            "trưởng các sở, ban, ngành và Chủ tịch Ủy ban nhân dân các phường, xã chịu trách nhiệm thi hành "
            "Quyết định này./.",
        ],
        signer_authority="TM. ỦY BAN NHÂN DÂN",
        signer_position="CHỦ TỊCH",
        signer_name="Lê Hoàng Minh",
        recipients=["- Như Điều 3;", "- Văn phòng Chính phủ;", "- TTUB: CT, các PCT;", "- Lưu: VT, KT."],
    ),
    DocSpec(
        parent_issuer="Ủy ban nhân dân\nThành phố Hồ Chí Minh",
        issuer="Sở Nội vụ",
        number_line="Số:      /KH-SNV",
        place_date=f"{_HCM}, ngày      tháng      năm 2025",
        doc_type="Kế hoạch",
        title="Đào tạo kỹ năng sử dụng trí tuệ nhân tạo cho cán bộ, công chức năm 2025",
        draft=True,
        body=[
            "## I. MỤC ĐÍCH",
            "Nâng cao kỹ năng khai thác, sử dụng các công cụ trí tuệ nhân tạo an toàn, có trách nhiệm trong "
            "thực thi công vụ; bảo đảm mỗi cơ quan, đơn vị có ít nhất một công chức nắm vững nghiệp vụ.",
            "## II. NỘI DUNG",
            "1. Tổ chức 20 lớp bồi dưỡng, mỗi lớp 40 học viên, tại Trường Cán bộ Thành phố.",
            "2. Biên soạn tài liệu hướng dẫn, bộ câu hỏi thường gặp và video bài giảng đăng tải trên Cổng "
            "thông tin điện tử của Sở.",
            "## III. KINH PHÍ",
            "Kinh phí thực hiện từ nguồn ngân sách Thành phố giao cho Sở Nội vụ năm 2025./.",
        ],
        signer_authority=None,
        signer_position="GIÁM ĐỐC",
        signer_name="",
        recipients=["- UBND Thành phố (để báo cáo);", "- Các phòng, đơn vị thuộc Sở;", "- Lưu: VT, CCVC."],
    ),
]
