"""Demo documents: the ND30 samples filed with the Sở Khoa học và Công nghệ, as a PDF with a text layer,
a scanned page (PNG) and a DOCX, so the archive, OCR and the document page have something to show."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cityai.core import identity
from cityai.documents.models import Document

AGENCY = "skhcn"


def load_demo(ctx: Any) -> list[str]:
    from cityai.documents import samples, service

    agency = identity.agency_by_code(ctx, AGENCY)
    if agency is None:
        return []
    try:
        samples.find_font()
    except Exception as exc:  # noqa: BLE001 - a machine without the fonts still starts
        return [f"  Văn bản demo bỏ qua / demo documents skipped: {exc}"]
    specs = samples.SAMPLE_SPECS
    files: list[tuple[str, Any]] = [
        ("ke-hoach-140-KH-UBND.pdf", lambda: samples.render_pdf(specs[0])),
        ("cong-van-2315-SKHCN-CDS-ban-quet.png", lambda: _png(samples.render_images(specs[1], dpi=200, pages=[0],
                                                                                   rotate=1.5, noise=4.0)[0])),
        ("quyet-dinh-1826-QD-UBND.docx", lambda: _docx(samples, specs[2])),
        ("du-thao-ke-hoach-SNV.pdf", lambda: samples.render_pdf(specs[3])),
    ]
    lines = []
    for name, make in files:
        if ctx.db.execute(select(Document.id).where(Document.filename == name, Document.agency_id == agency.id)).first():
            continue
        docs = service.document_upload.unchecked(ctx, stream=io.BytesIO(make()), filename=name, agency_id=agency.id)
        lines.append(f"  Văn bản / document: {name} ({docs[0].id[:8]})")
    return (["Văn bản demo / demo documents:"] + lines) if lines else []


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _docx(samples: Any, spec: Any) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "doc.docx"
        samples.render_docx(spec, path)
        return path.read_bytes()
