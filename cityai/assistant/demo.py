"""Demo knowledge base: a small set of procedures and FAQ pages written for the demo (always), and, when
``../shared/data`` is beside the checkout and ``CITYAI_ASSISTANT_DEMO_DATA`` is ``auto`` (the default), the
national procedure records and the ALQAC legal corpus too. Everything is searchable by BM25 at once. The
demo's own sources get their semantic vectors from the ``assistant.embed`` job in the background; the
shared set's (about an hour of one core, once) are left to ``cityai assistant embed``, which the demo
prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cityai.core import identity

OWNER = "hcmc"
BUILTIN = Path(__file__).resolve().parent / "data" / "demo_procedures.json"


def builtin() -> dict[str, Any]:
    with open(BUILTIN, encoding="utf-8") as fh:
        return json.load(fh)


def load_demo(ctx: Any) -> list[str]:
    from cityai.assistant import kb, procedures, service

    agency = identity.agency_by_code(ctx, OWNER)
    if agency is None:
        return []
    data = builtin()
    lines = []
    r = service.import_records(ctx, agency_id=agency.id, kind="procedure", records=data["procedures"],
                               origin="demo_procedures.json")
    for page in data["pages"]:
        service.page_put.unchecked(ctx, agency_id=agency.id, embed=False, **page)
    changed = r["created"] + r["updated"]
    big = 0  # sources of the shared national set imported now
    if r["created"]:
        lines.append(f"  Trợ lý ảo: {r['created']} thủ tục minh họa, {len(data['pages'])} trang hỏi đáp / "
                     "assistant: demo procedures and FAQ pages loaded")
    if ctx.platform.settings.assistant_demo_data == "auto":
        from cityai.language.corpora import shared_data_dir

        shared = shared_data_dir()
        tthc = shared / "tthc" / "procedures.jsonl.gz" if shared else None
        law = shared / "alqac2023" / "law.json" if shared else None
        if tthc is not None and tthc.is_file():
            r = service.import_records(ctx, agency_id=agency.id, kind="procedure",
                                       records=procedures.read_file(tthc), origin=tthc.name)
            big += r["created"] + r["updated"]
            if r["created"] or r["updated"]:
                lines.append(f"  Trợ lý ảo: {r['created'] + r['updated']} thủ tục từ {tthc} (BM25; "
                             "`cityai assistant embed` thêm vector / adds vectors)")
        if law is not None and law.is_file():
            r = service.import_records(ctx, agency_id=agency.id, kind="law", records=kb.law_records(law),
                                       origin=law.name)
            if r["created"] or r["updated"]:
                lines.append(f"  Trợ lý ảo: {r['created'] + r['updated']} điều luật từ {law}")
            big += r["created"] + r["updated"]
    if changed and not big:  # searchable by BM25 now; the worker adds the vectors in the background
        service._embed_submit(ctx, agency.id)
    elif big:  # an hour of one core: left to the operator
        lines.append("  Trợ lý ảo: chạy `cityai assistant embed` để thêm vector ngữ nghĩa / run it to add semantic "
                     "vectors to the shared set (~1 hour on one core, once; BM25 answers meanwhile)")
    return lines
