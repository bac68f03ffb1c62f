#!/usr/bin/env python
"""ocr - character/word error rates and pages/s per core of Vietnamese OCR, CityAI beside plain Tesseract.

Pages: the ND30 sample documents (``samples.SAMPLE_SPECS``: a Kế hoạch's first page and its annex table,
a Công văn, a Quyết định, a draft Kế hoạch) and two more from ``benchmarks/extraction.py`` (a Giấy mời, a
phường's Báo cáo), rendered with ``samples.render_pdf`` in several fonts with Vietnamese glyphs
(Liberation Serif - Times New Roman's metric twin - and DejaVu Serif by default), rasterised grey with
pdfium at 300, 200 and 150 dpi and damaged the way scans are (``samples.degrade``): ``clean``,
``rotate-2`` (2°), ``blur-1.2`` (Gaussian, 1.2 px), ``noise-20`` (Gaussian, σ20 grey levels),
``jpeg-30`` (JPEG quality 30) and ``scan`` (1.5°, blur 0.8, σ12, JPEG q45 together). The reference of a
page is the text layer of the PDF it was rendered from (pypdfium2 ``get_text_bounded``): exactly the
characters on that page.

Engines, on the same page images:

* ``cityai``      - ``OcrPool(size=1).recognize`` (Tesseract through tesserocr, with CityAI's preprocessing:
  deskew, orientation, denoising, rule and table-grid removal, tables read cell by cell);
* ``pytesseract`` - ``pytesseract.image_to_string(image, lang="vie")``, default settings: the Debian
  ``tesseract`` CLI, one process per page;
* ``ocrmypdf``    - ``ocrmypdf -l vie --output-type pdf --jobs 1`` on a PDF of the page images (img2pdf,
  lossless), its text layer read back with pypdfium2.

Scores (every text NFC, whitespace folded): *CER* - character Levenshtein distance / reference characters;
*WER* - the same over words; *BoW* - an order-free word error, max(reference words missed, extra words
read) / reference words, because the two-column ND30 header (agency | quốc hiệu) and signature block
(nơi nhận | signer) come out in a different order from each engine and from the reference; rates are
pooled over pages (sum of errors / sum of reference lengths). Speed: wall and CPU seconds per page,
single-threaded (``OMP_THREAD_LIMIT=1`` for the Tesseract CLI); pages are spread over ``--workers``
processes, one page at a time each. Then pages/s with two at a time (``OcrPool(size=2)``,
two pytesseract calls at once, ``ocrmypdf --jobs 2``), and time and peak memory on a ``--pages``-page
scanned PDF (200 dpi JPEG pages): CityAI's whole ``documents.process`` job on a temporary SQLite
``CITYAI_HOME`` beside ``ocrmypdf`` on the same file.

    python benchmarks/ocr.py                              # about 17 minutes on an idle 2-core machine
    python benchmarks/ocr.py --quick                      # smoke test, under 2 minutes
    python benchmarks/ocr.py --markdown /tmp/ocr.md --json /tmp/ocr.json
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # single-threaded Tesseract CLI, here and in every child

import _data_common as common  # noqa: E402
import extraction  # noqa: E402

FONTS = ["LiberationSerif", "DejaVuSerif"]
DPIS = [300, 200, 150]
CONDITIONS: dict[str, dict[str, Any]] = {
    "clean": {},
    "rotate-2": {"rotate": 2.0},
    "blur-1.2": {"blur": 1.2},
    "noise-20": {"noise": 20.0},
    "jpeg-30": {"jpeg_quality": 30},
    "scan": dict(extraction.SCAN),
}
ENGINES = ["cityai", "pytesseract", "ocrmypdf"]
# (document index in extraction.all_documents(), page index)
PAGES = [(0, 0), (0, 1), (1, 0), (2, 0), (3, 0)] + [(4 + i, 0) for i in extraction.OCR_EXTRA]
QUICK_PAGES = [(0, 0), (1, 0)]
TABLE_PAGES = {(0, 1)}  # the Kế hoạch's annex: a gridded table (the other pages are running text)
MEMORY_JPEG_QUALITY = 75


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- scoring


def norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def levenshtein(ref: list[int], hyp: list[int]) -> int:
    """Edit distance between two sequences of ints (numpy, one row per reference item)."""
    import numpy as np

    if not ref:
        return len(hyp)
    h = np.asarray(hyp, dtype=np.int64)
    idx = np.arange(len(h) + 1, dtype=np.int64)
    prev = idx.copy()
    for r in ref:
        sub = prev[:-1] + (h != r)
        cur = np.empty_like(prev)
        cur[0] = prev[0] + 1
        cur[1:] = np.minimum(prev[1:] + 1, sub)
        prev = np.minimum.accumulate(cur - idx) + idx
    return int(prev[-1])


def errors(reference: str, hypothesis: str) -> dict[str, int]:
    """Character and word edit distances, the order-free word error, and the reference lengths."""
    ref, hyp = norm(reference), norm(hypothesis)
    rw, hw = ref.split(), hyp.split()
    vocab: dict[str, int] = {}
    rids = [vocab.setdefault(w, len(vocab)) for w in rw]
    hids = [vocab.setdefault(w, len(vocab)) for w in hw]
    matched = sum((collections.Counter(rw) & collections.Counter(hw)).values())
    return {"chars": len(ref), "words": len(rw),
            "char_err": levenshtein([ord(c) for c in ref], [ord(c) for c in hyp]),
            "word_err": levenshtein(rids, hids),
            "bow_err": max(len(rw) - matched, len(hw) - matched)}


# ---------------------------------------------------------------------------------------------- pages

_pdf_cache: dict[tuple[str, int], bytes] = {}


def page_pdf(font: str, doc: int) -> bytes:
    from cityai.documents import samples

    key = (font, doc)
    if key not in _pdf_cache:
        _pdf_cache[key] = samples.render_pdf(extraction.all_documents()[doc], font=font)
    return _pdf_cache[key]


def reference(font: str, doc: int, page: int) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(page_pdf(font, doc))
    try:
        p = pdf[page]
        tp = p.get_textpage()
        text = tp.get_text_bounded() or ""
        tp.close()
        p.close()
    finally:
        pdf.close()
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n"))


def page_image(font: str, doc: int, page: int, dpi: int, condition: str) -> Any:
    """The page as a grey scan at ``dpi`` with the damage of ``condition`` (deterministic)."""
    from cityai.documents import samples

    img = samples.rasterize_pdf(page_pdf(font, doc), dpi=dpi, grayscale=True, pages=[page])[0]
    img = samples.degrade(img, seed=1000 * doc + page, **CONDITIONS[condition])
    out = img.copy()  # a plain image (a JPEG-damaged page would otherwise be re-saved as JPEG by pytesseract)
    out.info["dpi"] = (dpi, dpi)
    return out


def png_bytes(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", dpi=img.info.get("dpi", (300, 300)))
    return buf.getvalue()


def images_pdf(images: list[Any], path: Path, jpeg_quality: int | None = None) -> Path:
    """A PDF of page images (img2pdf: lossless PNG, or the JPEG data as is), sized from their dpi."""
    import img2pdf

    blobs = []
    for img in images:
        if jpeg_quality:
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=jpeg_quality, dpi=img.info.get("dpi", (200, 200)))
            blobs.append(buf.getvalue())
        else:
            blobs.append(png_bytes(img))
    path.write_bytes(img2pdf.convert(blobs))
    return path


def pdf_texts(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        out = []
        for i in range(len(pdf)):
            p = pdf[i]
            tp = p.get_textpage()
            out.append(unicodedata.normalize("NFC", (tp.get_text_bounded() or "").replace("\r\n", "\n")))
            tp.close()
            p.close()
        return out
    finally:
        pdf.close()


def ocrmypdf_exe() -> str:
    return shutil.which("ocrmypdf") or str(Path(sys.executable).parent / "ocrmypdf")


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# ---------------------------------------------------------------------------------------------- worker

_pool = None
_pool_start_s = 0.0


def _cityai_pool():
    global _pool, _pool_start_s
    if _pool is None:
        from cityai.documents import ocr

        t = time.perf_counter()
        _pool = ocr.OcrPool(size=1)
        _pool_start_s = time.perf_counter() - t
    return _pool


def run_group(font: str, dpi: int, condition: str, pages: list[tuple[int, int]], engines: list[str],
              work: str) -> list[dict[str, Any]]:
    """OCR one (font, dpi, condition) group of pages with every engine, one page at a time; score it."""
    refs = [reference(font, d, p) for d, p in pages]
    images = [page_image(font, d, p, dpi, condition) for d, p in pages]
    out: list[dict[str, Any]] = []

    def record(engine: str, k: int, text: str, wall: float, cpu: float, error: str | None = None) -> None:
        d, p = pages[k]
        out.append({"font": font, "dpi": dpi, "condition": condition, "doc": d, "page": p, "engine": engine,
                    "wall_s": wall, "cpu_s": cpu, "error": error, **errors(refs[k], text)})

    if "cityai" in engines:
        pool = _cityai_pool()
        for k, img in enumerate(images):
            t, c = time.perf_counter(), _self_cpu()
            try:
                text, err = pool.recognize(img).text, None
            except Exception as exc:  # noqa: BLE001 - reported, scored as an empty page
                text, err = "", f"{type(exc).__name__}: {exc}"
            record("cityai", k, text, time.perf_counter() - t, _self_cpu() - c, err)
    if "pytesseract" in engines:
        import pytesseract

        for k, img in enumerate(images):
            t, c, cc = time.perf_counter(), _self_cpu(), _children_cpu()
            try:
                text, err = pytesseract.image_to_string(img, lang="vie"), None
            except Exception as exc:  # noqa: BLE001
                text, err = "", f"{type(exc).__name__}: {exc}"
            record("pytesseract", k, text, time.perf_counter() - t,
                   (_self_cpu() - c) + (_children_cpu() - cc), err)
    if "ocrmypdf" in engines:
        tmp = Path(tempfile.mkdtemp(dir=work, prefix="ocrmypdf-"))
        src = images_pdf(images, tmp / "in.pdf")
        dst = tmp / "out.pdf"
        t, cc = time.perf_counter(), _children_cpu()
        proc = subprocess.run([ocrmypdf_exe(), "-l", "vie", "--output-type", "pdf", "--jobs", "1", str(src),
                               str(dst)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall, cpu = time.perf_counter() - t, _children_cpu() - cc
        err = None
        texts = [""] * len(images)
        if proc.returncode != 0:
            tail = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()][-3:]
            err = f"ocrmypdf exited {proc.returncode}: " + " | ".join(tail)
        else:
            got = pdf_texts(dst)
            texts = (got + [""] * len(images))[:len(images)]
        for k in range(len(images)):
            record("ocrmypdf", k, texts[k], wall / len(images), cpu / len(images), err)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def worker_facts() -> dict[str, Any]:
    _cityai_pool()
    return {"pool_start_s": _pool_start_s}


# ---------------------------------------------------------------------------------------------- throughput


def throughput(font_pages: list[tuple[str, int, int]], engines: list[str], work: Path, width: int = 2,
               ) -> list[dict[str, Any]]:
    """Pages/s with ``width`` pages at a time on the clean 200-dpi pages."""
    images = [page_image(f, d, p, 200, "clean") for f, d, p in font_pages]
    refs = [reference(f, d, p) for f, d, p in font_pages]
    rows = []

    def score(texts: list[str]) -> dict[str, int]:
        tot = collections.Counter()
        for r, t in zip(refs, texts):
            tot.update(errors(r, t))
        return dict(tot)

    if "cityai" in engines:
        from cityai.documents import ocr

        pool = ocr.OcrPool(size=width)
        try:
            t, c = time.perf_counter(), _self_cpu()
            texts = []
            err = None
            try:
                texts = [r.text for r in pool.recognize_many(images)]
            except Exception as exc:  # noqa: BLE001 - recognize_many stops at the first failing page
                err = f"{type(exc).__name__}: {exc}"
                texts = _one_by_one(pool, images)
            rows.append({"engine": "cityai", "what": f"OcrPool(size={width}).recognize_many",
                         "pages": len(images),
                         "wall_s": time.perf_counter() - t, "cpu_s": _self_cpu() - c, "error": err,
                         **score(texts)})
        finally:
            pool.close()
    if "pytesseract" in engines:
        import pytesseract

        t, c, cc = time.perf_counter(), _self_cpu(), _children_cpu()
        with ThreadPoolExecutor(max_workers=width) as ex:
            texts = list(ex.map(lambda im: pytesseract.image_to_string(im, lang="vie"), images))
        rows.append({"engine": "pytesseract", "what": f"{width} image_to_string calls at a time",
                     "pages": len(images), "wall_s": time.perf_counter() - t,
                     "cpu_s": (_self_cpu() - c) + (_children_cpu() - cc), "error": None, **score(texts)})
    if "ocrmypdf" in engines:
        src = images_pdf(images, work / "throughput-in.pdf")
        dst = work / "throughput-out.pdf"
        t, cc = time.perf_counter(), _children_cpu()
        proc = subprocess.run([ocrmypdf_exe(), "-l", "vie", "--output-type", "pdf", "--jobs", str(width),
                               str(src), str(dst)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall, cpu = time.perf_counter() - t, _children_cpu() - cc
        err = None if proc.returncode == 0 else f"ocrmypdf exited {proc.returncode}: {proc.stderr[-300:]}"
        texts = pdf_texts(dst) if proc.returncode == 0 else [""] * len(images)
        rows.append({"engine": "ocrmypdf", "what": f"ocrmypdf --jobs {width}", "pages": len(images),
                     "wall_s": wall, "cpu_s": cpu, "error": err, **score(texts)})
    return rows


def _one_by_one(pool: Any, images: list[Any]) -> list[str]:
    out = []
    for img in images:
        try:
            out.append(pool.recognize(img).text)
        except Exception:  # noqa: BLE001
            out.append("")
    return out


# ---------------------------------------------------------------------------------------------- memory


def _tree_rss_kib(pid: int) -> tuple[int, int]:
    """(sum of VmRSS over the process and its descendants, number of processes) in KiB."""
    total, count, stack, seen = 0, 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    count += 1
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                stack.extend(int(k) for k in kids)
        except (OSError, ValueError):
            continue
    return total, count


def run_tree_measured(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 3600,
                      ) -> dict[str, Any]:
    """Run ``cmd``; wall, CPU of it and its descendants, ``ru_maxrss`` (the largest single process) and
    the peak of the whole tree's summed RSS, sampled every 0.05 s (a lower bound: a short peak can fall
    between two samples)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        peak_tree, peak_procs = 0, 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            tree, n = _tree_rss_kib(proc.pid)
            if tree > peak_tree:
                peak_tree, peak_procs = tree, n
            if time.perf_counter() - started > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"rc": proc.returncode, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                "maxrss_mib": usage.ru_maxrss / 1024, "tree_peak_mib": peak_tree / 1024,
                "tree_procs": peak_procs, "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace")}


def _cityai_process_child(pdf: Path) -> None:
    """``documents.process`` on a temporary SQLite home (CITYAI_HOME): upload the PDF, run the job;
    one JSON line with timings, page count and this process's VmHWM."""
    t0 = time.perf_counter()
    from cityai.core import identity, jobs
    from cityai.core.config import Settings
    from cityai.core.platform import Platform
    from cityai.documents import service
    from cityai.documents.models import Document

    platform = Platform(Settings())
    platform.startup()
    with platform.system_context() as ctx:
        agency = identity.agency_create(ctx, code="skhcn", name="Sở Khoa học và Công nghệ", kind="department")
        agency_id = agency.id
    t1 = time.perf_counter()
    with platform.system_context() as ctx, open(pdf, "rb") as fh:
        doc = service.document_upload(ctx, stream=fh, filename=pdf.name, agency_id=agency_id)[0]
        doc_id, job_id = doc.id, doc.job_id
    t2 = time.perf_counter()
    error = None
    try:
        jobs.execute(platform, job_id)
    except Exception as exc:  # noqa: BLE001 - reported in the JSON
        error = f"{type(exc).__name__}: {exc}"
    t3 = time.perf_counter()
    with platform.transaction() as db:
        d = db.get(Document, doc_id)
        status, derr, pages, source = d.status, d.error, d.pages, d.source
        chars = len(d.text or "")
    hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    platform.close()
    from cityai.documents import ocr

    size = int(os.environ.get("CITYAI_OCR_THREADS") or 0) or ocr._cpu_count()  # what get_pool() used
    print(json.dumps({"status": status, "error": derr or error, "pages": pages, "source": source,
                      "chars": chars,
                      "startup_s": t1 - t0, "upload_s": t2 - t1, "job_s": t3 - t2, "vmhwm_mib": hwm / 1024,
                      "pool_size": size}, ensure_ascii=False))


def memory_test(n_pages: int, pages: list[tuple[int, int]], font: str, engines: list[str], work: Path,
                ) -> tuple[list[dict[str, Any]], str]:
    """A ``n_pages``-page scanned PDF (200 dpi grey JPEG pages, the sample pages cycled) through CityAI's
    process job and through ocrmypdf; time and peak memory."""
    log(f"- memory: building a {n_pages}-page scanned PDF ...")
    distinct = [page_image(font, d, p, 200, "clean") for d, p in pages]
    cycled = [distinct[i % len(distinct)] for i in range(n_pages)]
    pdf = images_pdf(cycled, work / f"scan-{n_pages}.pdf", jpeg_quality=MEMORY_JPEG_QUALITY)
    size_mb = pdf.stat().st_size / 1e6
    desc = (f"{n_pages} pages, {size_mb:.1f} MB: {len(distinct)} distinct sample pages cycled, {font}, 200 "
            f"dpi grey, JPEG q{MEMORY_JPEG_QUALITY}, embedded as is (img2pdf)")
    rows = []
    if "cityai" in engines:
        log("  cityai: documents.process on a temporary SQLite home ...")
        home = work / "cityai-home"
        m = run_tree_measured([sys.executable, str(Path(__file__).resolve()), "--_cityai-process", str(pdf)],
                              env=common.cityai_env(home))
        info: dict[str, Any] = {}
        try:
            info = json.loads(m["stdout"].strip().splitlines()[-1])
        except (ValueError, IndexError):
            info = {"status": "failed", "error": f"child exited {m['rc']}: {m['stderr'][-1500:]}"}
        rows.append({"engine": "cityai", "what": "documents.process (OcrPool size "
                                                 f"{info.get('pool_size', '?')}, pages rendered at 300 dpi, "
                                                 "searchable PDF and previews written)", **m, **info})
        shutil.rmtree(home, ignore_errors=True)
    if "ocrmypdf" in engines:
        log("  ocrmypdf ...")
        dst = work / f"scan-{n_pages}-ocrmypdf.pdf"
        m = run_tree_measured([ocrmypdf_exe(), "-l", "vie", "--output-type", "pdf", str(pdf), str(dst)])
        info = {"status": "ready" if m["rc"] == 0 else "failed",
                "error": None if m["rc"] == 0 else m["stderr"][-1500:]}
        if m["rc"] == 0:
            texts = pdf_texts(dst)
            info.update(pages=len(texts), chars=sum(len(t) for t in texts))
        rows.append({"engine": "ocrmypdf", "what": "ocrmypdf -l vie --output-type pdf (--jobs default: "
                                                   f"{os.cpu_count()})", **m, **info})
    return rows, desc


# ---------------------------------------------------------------------------------------------- output


def _pct(err: float, n: float) -> str:
    return f"{100 * err / n:.2f}%" if n else "-"


def pooled(records: list[dict[str, Any]]) -> dict[str, float]:
    s: collections.Counter = collections.Counter()
    for r in records:
        for k in ("chars", "words", "char_err", "word_err", "bow_err", "wall_s", "cpu_s"):
            s[k] += r[k]
    s["pages"] = len(records)
    s["failed"] = sum(1 for r in records if r["error"])
    return dict(s)


def group(records: list[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        out[tuple(r[k] for k in keys)].append(r)
    return out


def _cer_bow(s: dict[str, float]) -> str:
    return f"{_pct(s['char_err'], s['chars'])} / {_pct(s['bow_err'], s['words'])}" if s["pages"] else "-"


def tables(records: list[dict[str, Any]], engines: list[str], fonts: list[str], dpis: list[int],
           conditions: list[str]) -> list[tuple[str, list[str], list[list[str]], set[int]]]:
    """(title, headers, rows, right-aligned columns) of every accuracy/speed table."""
    out = []
    rows = []
    sets = [("all pages", lambda r: True),
            ("text pages", lambda r: (r["doc"], r["page"]) not in TABLE_PAGES),
            ("annex table page", lambda r: (r["doc"], r["page"]) in TABLE_PAGES)]
    for label, keep in sets:
        by_e = group([r for r in records if keep(r)], "engine")
        for e in engines:
            s = pooled(by_e.get((e,), []))
            if not s["pages"]:
                continue
            rows.append([label, e, str(s["pages"]), str(s["failed"]), _pct(s["char_err"], s["chars"]),
                         _pct(s["word_err"], s["words"]), _pct(s["bow_err"], s["words"]),
                         f"{s['wall_s'] / s['pages']:.2f}", f"{s['cpu_s'] / s['pages']:.2f}",
                         f"{s['pages'] / s['cpu_s']:.2f}" if s["cpu_s"] else "-",
                         f"{s['pages'] / s['wall_s']:.2f}" if s["wall_s"] else "-"])
    out.append(("Every font, resolution and condition, one page at a time",
                ["pages", "engine", "page images", "failed", "CER", "WER", "BoW", "wall s/page", "CPU s/page",
                 "pages/s/core (CPU)", "pages/s (wall, 1 thread)"], rows, set(range(2, 11))))

    text_dc = group([r for r in records if (r["doc"], r["page"]) not in TABLE_PAGES],
                    "dpi", "condition", "engine")
    table_dc = group([r for r in records if (r["doc"], r["page"]) in TABLE_PAGES],
                     "dpi", "condition", "engine")
    has_table = any((r["doc"], r["page"]) in TABLE_PAGES for r in records)
    rows = []
    for dpi in dpis:
        for c in conditions:
            row = [str(dpi), c]
            for by in (text_dc, table_dc) if has_table else (text_dc,):
                for e in engines:
                    s = pooled(by.get((dpi, c, e), []))
                    row.append((_pct(s["bow_err"], s["words"]) + (" (failed)" if s["failed"] else ""))
                               if s["pages"] else "-")
            rows.append(row)
    headers = ["dpi", "condition"] + [f"BoW text {e}" for e in engines]
    if has_table:
        headers += [f"BoW table {e}" for e in engines]
    out.append(("BoW by resolution and damage (all fonts): the text pages, then the annex table page",
                headers, rows, set(range(2, len(headers)))))

    by_dw = group(records, "dpi", "engine")
    rows = []
    for dpi in dpis:
        row = [str(dpi)]
        for e in engines:
            s = pooled(by_dw.get((dpi, e), []))
            row.append(_pct(s.get("word_err", 0), s.get("words", 0)) if s["pages"] else "-")
        for e in engines:
            s = pooled(by_dw.get((dpi, e), []))
            row.append(f"{s['wall_s'] / s['pages']:.2f} / {s['cpu_s'] / s['pages']:.2f}"
                       if s["pages"] else "-")
        rows.append(row)
    out.append(("By resolution (all fonts and damage): WER; wall / CPU seconds per page, one page at a time",
                ["dpi"] + [f"WER {e}" for e in engines] + [f"s/page {e}" for e in engines], rows,
                set(range(1, 1 + 2 * len(engines)))))

    by_f = group(records, "font", "engine")
    rows = []
    for f in fonts:
        row = [f]
        for e in engines:
            s = pooled(by_f.get((f, e), []))
            row.append(_cer_bow(s))
        rows.append(row)
    out.append(("By font (all resolutions and damage): CER / BoW",
                ["font"] + engines, rows, set(range(1, 1 + len(engines)))))

    by_p = group(records, "doc", "page", "engine")
    pages = sorted({(r["doc"], r["page"]) for r in records})
    docs = extraction.all_documents()
    rows = []
    for d, p in pages:
        spec = docs[d]
        what = f"{spec.doc_type or 'Công văn'} {spec.number_line.replace('Số:', '').strip()} p{p + 1}"
        row = [what]
        for e in engines:
            s = pooled(by_p.get((d, p, e), []))
            row.append(_cer_bow(s))
        rows.append(row)
    out.append(("By page (all fonts, resolutions and damage): CER / BoW", ["page"] + engines, rows,
                set(range(1, 1 + len(engines)))))
    return out


def throughput_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["engine"], r["what"], str(r["pages"]), f"{r['wall_s']:.1f}", f"{r['pages'] / r['wall_s']:.2f}",
             f"{r['cpu_s'] / r['pages']:.2f}", _pct(r.get("bow_err", 0), r.get("words", 0)),
             r["error"] or ""] for r in rows]


THROUGHPUT_HEADERS = ["engine", "how", "pages", "wall s", "pages/s", "CPU s/page", "BoW", "error"]


def memory_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        pages = r.get("pages") or 0
        secs = r.get("job_s") if r["engine"] == "cityai" and r.get("job_s") else r["wall_s"]
        out.append([r["engine"], r["what"], r.get("status") or "?", str(pages), f"{r['wall_s']:.1f}",
                    f"{secs:.1f}", f"{pages / secs:.2f}" if pages and secs else "-", f"{r['cpu_s']:.1f}",
                    f"{r['maxrss_mib']:.0f}", f"{r['tree_peak_mib']:.0f} ({r['tree_procs']})",
                    (r.get("error") or "")[:300].replace("\n", " ")])
    return out


MEMORY_HEADERS = ["engine", "what", "status", "pages", "wall s (process)", "OCR s (job)", "pages/s", "CPU s",
                  "peak RSS MiB (largest process)", "peak RSS MiB (tree, processes)", "error"]


def _fmt(headers: list[str], body: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]

    def f(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    return [f(headers), "  ".join("-" * w for w in widths)] + [f(r) for r in body]


def _md(headers: list[str], body: list[list[str]], right: set[int]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    return out + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    from api_core import _version, loadavg

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: one font, 200 dpi, clean + scan, 2 pages, a 20-page memory test")
    parser.add_argument("--fonts", help=f"comma-separated font families (default {','.join(FONTS)})")
    parser.add_argument("--dpis", help=f"comma-separated resolutions (default {','.join(map(str, DPIS))})")
    parser.add_argument("--conditions", help=f"comma-separated subset of {','.join(CONDITIONS)}")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"subset of {','.join(ENGINES)}")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes OCRing one page at a time each (default: the CPU count, at most 2)")
    parser.add_argument("--pages", type=int,
                        help="pages of the memory-test PDF (default 200; --quick 20; 0 skips)")
    parser.add_argument("--no-throughput", dest="throughput", action="store_false",
                        help="skip the two-at-a-time throughput rows")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables as markdown")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every per-page record as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--from-json", type=Path, metavar="FILE",
                        help="measure nothing: print (and --markdown) the tables of a run saved with --json")
    parser.add_argument("--_cityai-process", dest="cityai_process", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cityai_process:
        _cityai_process_child(args.cityai_process)
        return 0
    if args.from_json:
        d = json.loads(args.from_json.read_text(encoding="utf-8"))
        report(d["facts"], d["records"], d["throughput"], d["memory"], d.get("memory_desc", ""), d["notes"],
               d["engines"], d["fonts"], d["dpis"], d["conditions"], args.markdown)
        return 0

    from cityai.documents import ocr, samples

    fonts = args.fonts.split(",") if args.fonts else (FONTS[:1] if args.quick else FONTS)
    dpis = [int(x) for x in args.dpis.split(",")] if args.dpis else ([200] if args.quick else DPIS)
    conditions = args.conditions.split(",") if args.conditions else (["clean", "scan"] if args.quick
                                                                      else list(CONDITIONS))
    engines = [e for e in args.engines.split(",") if e]
    pages = QUICK_PAGES if args.quick else PAGES
    n_mem = args.pages if args.pages is not None else (20 if args.quick else 200)
    if any(c not in CONDITIONS for c in conditions) or any(e not in ENGINES for e in engines):
        parser.error("unknown condition or engine")
    workers = args.workers or max(1, min(2, ocr._cpu_count()))

    start_load = loadavg()
    facts = extraction.base_facts()
    code_mtime = _code_mtime()
    notes: list[str] = []
    for f in fonts:
        try:
            samples.find_font(f)
        except Exception as exc:  # noqa: BLE001
            raise SystemExit(f"font {f} unavailable: {exc}")
    import tesserocr

    tess_cli = "not found"
    try:
        tess_cli = subprocess.run(["tesseract", "--version"], capture_output=True,
                                  text=True).stdout.split("\n")[0]
    except OSError:
        pass
    facts["engines"] = (f"cityai {_version('cityai')}: tesserocr {_version('tesserocr')} bundling Tesseract "
                        f"{tesserocr.tesseract_version().split()[1]}; pytesseract {_version('pytesseract')} "
                        f"calling the Debian CLI ({tess_cli}); ocrmypdf {_version('ocrmypdf')} (same CLI; "
                        f"pikepdf {_version('pikepdf')}, Ghostscript: "
                        f"{'yes' if shutil.which('gs') else 'not installed, pypdfium2 rasterizer'}); "
                        f"traineddata {ocr.tessdata_dir('vie')}/vie.traineddata for all")
    facts["pages"] = (f"{len(pages)} pages x {len(fonts)} font(s) ({', '.join(fonts)}) x {len(dpis)} "
                      f"resolution(s) ({', '.join(map(str, dpis))} dpi) x {len(conditions)} condition(s) "
                      f"({', '.join(conditions)}) = {len(pages) * len(fonts) * len(dpis) * len(conditions)} "
                      "page images per engine; grey")
    facts["timing"] = (f"{workers} worker process(es), each OCRing one page at a time; "
                       f"OMP_THREAD_LIMIT={os.environ.get('OMP_THREAD_LIMIT')}")
    work = Path(tempfile.mkdtemp(prefix="cityai-bench-ocr-"))
    records: list[dict[str, Any]] = []
    tp_rows: list[dict[str, Any]] = []
    mem_rows: list[dict[str, Any]] = []
    mem_desc = ""
    started = time.perf_counter()
    try:
        groups = [(f, d, c) for f in fonts for d in dpis for c in conditions]
        log(f"- accuracy: {len(groups)} groups of {len(pages)} pages, {len(engines)} engine(s), {workers} "
            "worker(s) ...")
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            pool_starts = []
            if "cityai" in engines:
                pool_starts = [f.result()["pool_start_s"]
                               for f in [ex.submit(worker_facts) for _ in range(workers)]]
            futures = [ex.submit(run_group, f, d, c, pages, engines, str(work)) for f, d, c in groups]
            for i, fut in enumerate(futures, 1):
                records += fut.result()
                if i % max(1, len(groups) // 10) == 0 or i == len(groups):
                    log(f"  {i}/{len(groups)} groups, {time.perf_counter() - started:.0f} s")
        if pool_starts:
            facts["cityai pool"] = (f"OcrPool(size=1) start (loading vie + osd) {max(pool_starts):.2f} s, "
                                    "once per worker, not counted per page")
        if args.throughput:
            log("- throughput: two pages at a time ...")
            fp = [(f, d, p) for f in fonts for d, p in pages]
            tp_rows = throughput(fp, engines, work)
        if n_mem > 0:
            mem_rows, mem_desc = memory_test(n_mem, pages, fonts[0],
                                             [e for e in engines if e != "pytesseract"], work)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    facts["load avg"] = f"{start_load} before the run, {loadavg()} after (1, 5, 15 min)"
    facts["duration"] = f"{time.perf_counter() - started:.0f} s"
    code_after = extraction.base_facts().get("code")
    if code_after != facts.get("code") or _code_mtime() != code_mtime:
        notes.append(f"The code under cityai/ changed during this run ({facts.get('code')} at the start, "
                     f"{code_after} at the end): the figures may mix two versions; run it again.")

    failures = collections.Counter((r["engine"], r["error"]) for r in records if r["error"])
    for (engine, err), n in sorted(failures.items()):
        where = sorted({f"{docs_label(r)} {r['font']} {r['dpi']} dpi {r['condition']}" for r in records
                        if r["engine"] == engine and r["error"] == err})
        notes.append(f"{engine} failed on {n} page image(s), scored as empty pages: `{err}` "
                     f"({'; '.join(where[:6])}{' ...' if len(where) > 6 else ''})")
    notes.append("*CER*/*WER*: Levenshtein distance over characters / words divided by the reference length "
                 "(NFC, whitespace folded), pooled over pages; they count a block read in another order as "
                 "errors. *BoW*: max(reference words not read, words read that are not in the reference) / "
                 "reference words, the same multiset of words in any order scoring 0; it is the fairer "
                 "comparison of recognition quality here, because the reference (the PDF text layer) merges "
                 "the two header columns line by line where Tesseract's layout analysis reads each block "
                 "whole and ocrmypdf's text layer is read back line by line across the page.")
    notes.append("*wall s/page*, *CPU s/page*: one page at a time per worker. CityAI: `recognize` on an "
                 "engine loaded once; pytesseract: the whole `image_to_string` call (PNG written, a "
                 "`tesseract` process started, `vie` loaded, the page read, once per page); ocrmypdf: the "
                 "whole `--jobs 1` run on the group's PDF divided by its pages (process start-up and PDF "
                 "writing included). CPU: `getrusage` of the worker (CityAI) plus its children (the CLI). "
                 "*pages/s/core (CPU)* = pages / CPU seconds.")
    notes.append("ocrmypdf's seconds are its whole run over a group's PDF divided by the group's pages, so "
                 "its text-page and table-page rows show the same average.")
    if mem_rows:
        notes.append("Memory: *largest process* is `ru_maxrss` from `wait4` (the largest single process "
                     "among the command and its descendants); *tree* is the sum of `VmRSS` over the process "
                     "and its descendants sampled every 0.05 s (a lower bound), with the processes counted "
                     "at that sample. CityAI's job renders every PDF page at 300 dpi (`intake.OCR_DPI`) "
                     "whatever the scan's resolution, OCRs it with the shared pool and also writes a preview "
                     "PNG per page and the searchable PDF; ocrmypdf OCRs the embedded images at their own "
                     "200 dpi. *OCR s (job)*: CityAI's `jobs.execute` alone, without the process start-up, "
                     "migrations and upload.")
    notes.append("pytesseract's default settings pass the image without its resolution (it saves a PNG "
                 "without dpi), so Tesseract estimates it; CityAI and ocrmypdf pass the dpi.")
    notes.append(f"tesserocr bundles Tesseract {tesserocr.tesseract_version().split()[1]} while pytesseract "
                 f"and ocrmypdf run the Debian CLI ({tess_cli}); all three read the same vie.traineddata.")
    cores = os.cpu_count() or 0
    try:
        if float(start_load.split()[0]) > 0.5:
            notes.append("Other work was running when this run began (1-min load average "
                         f"{start_load.split()[0]} on {cores} cores): wall times are inflated and noisier; "
                         "CPU seconds are steadier. The accuracy figures do not depend on it.")
    except ValueError:
        pass

    if args.json:
        memory = [{k: v for k, v in r.items() if k not in ("stdout", "stderr")} for r in mem_rows]
        args.json.write_text(json.dumps({"facts": facts, "records": records, "throughput": tp_rows,
                                         "memory": memory, "memory_desc": mem_desc, "notes": notes,
                                         "engines": engines, "fonts": fonts, "dpis": dpis,
                                         "conditions": conditions}, ensure_ascii=False, indent=1),
                             encoding="utf-8")
        log(f"records written to {args.json}")
    report(facts, records, tp_rows, mem_rows, mem_desc, notes, engines, fonts, dpis, conditions,
           args.markdown)
    return 0


def report(facts: dict[str, str], records: list[dict[str, Any]], tp_rows: list[dict[str, Any]],
           mem_rows: list[dict[str, Any]], mem_desc: str, notes: list[str], engines: list[str],
           fonts: list[str],
           dpis: list[int], conditions: list[str], markdown: Path | None) -> None:
    """Print the tables; with ``markdown``, write them there too."""
    lines = ["ocr - Vietnamese OCR accuracy and speed, CityAI vs pytesseract vs ocrmypdf "
             "(same run, same pages)",
             ""] + [f"{k:>12}: {v}" for k, v in facts.items()] + [""]
    all_tables = tables(records, engines, fonts, dpis, conditions)
    for title, headers, body, right in all_tables:
        lines += [f"[{title}]"] + _fmt(headers, body, right) + [""]
    if tp_rows:
        lines += ["[Two pages at a time, clean 200 dpi pages]"]
        lines += _fmt(THROUGHPUT_HEADERS, throughput_rows(tp_rows), {2, 3, 4, 5, 6}) + [""]
    if mem_rows:
        lines += [f"[Memory: {mem_desc}]"]
        lines += _fmt(MEMORY_HEADERS, memory_rows(mem_rows), {3, 4, 5, 6, 7, 8, 9}) + [""]
    lines += [f"note: {n}" for n in notes]
    print("\n".join(lines))

    if markdown:
        md = [f"- **{k}**: {v}" for k, v in facts.items()] + [""]
        for title, headers, body, right in all_tables:
            md += [f"{title}:", ""] + _md(headers, body, right) + [""]
        if tp_rows:
            md += ["Two pages at a time (clean 200 dpi pages, every font):", ""]
            md += _md(THROUGHPUT_HEADERS, throughput_rows(tp_rows), {2, 3, 4, 5, 6}) + [""]
        if mem_rows:
            md += [f"Memory and time on one scanned PDF ({mem_desc}):", ""]
            md += _md(MEMORY_HEADERS, memory_rows(mem_rows), {3, 4, 5, 6, 7, 8, 9}) + [""]
        md += [f"- {n}" for n in notes]
        markdown.write_text("\n".join(md) + "\n", encoding="utf-8")
        log(f"markdown written to {markdown}")


def _code_mtime() -> float:
    return max((p.stat().st_mtime for p in (ROOT / "cityai").rglob("*.py")), default=0.0)


def docs_label(r: dict[str, Any]) -> str:
    spec = extraction.all_documents()[r["doc"]]
    return f"{spec.doc_type or 'Công văn'} {spec.number_line.replace('Số:', '').strip()} p{r['page'] + 1}"


if __name__ == "__main__":
    sys.exit(main())
