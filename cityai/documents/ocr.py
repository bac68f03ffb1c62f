"""OCR of scanned pages with Tesseract (through tesserocr), Vietnamese first.

:func:`preprocess` turns a scan into what Tesseract reads best: grey, upright (orientation 0/90/180/270
from Tesseract's OSD), deskewed (±15°), denoised when the scan is very noisy, rules and table grids
removed (tables are then read cell by cell); it also tells blank pages apart. :class:`OcrPool` keeps a
fixed set of Tesseract engines (loading ``vie`` costs a tenth of a second and some memory, so engines are
reused for every page, never made per page) and hands them to threads through a queue; tesserocr
releases the GIL during recognition, so threads run pages in parallel.
:meth:`OcrPool.recognize_many` streams results in input order with a bounded number of pages in flight,
so a 500-page scan does not sit in memory at once. :func:`get_pool` gives the process's shared pool.

The traineddata folder comes from ``CITYAI_TESSDATA``, else the first of
``/usr/share/tesseract-ocr/*/tessdata``, ``/usr/share/tessdata``, ``/usr/local/share/tessdata`` holding
``vie.traineddata`` (Debian package ``tesseract-ocr-vie``; ``osd.traineddata`` from ``tesseract-ocr-osd``
enables orientation detection). tesserocr's bundled Tesseract does not look there by itself.

Coordinates (word boxes, width, height) refer to the *processed* page: upright and deskewed. The same
geometry can be applied to the original image with :func:`apply_geometry` (the searchable-PDF writer does).
"""

from __future__ import annotations

import atexit
import glob
import html
import logging
import os
import queue
import threading
import time
import unicodedata
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = [
    "OcrError",
    "OcrImageError",
    "OcrPool",
    "OcrUnavailable",
    "PageResult",
    "Word",
    "apply_geometry",
    "get_pool",
    "hocr",
    "load_image",
    "load_pages",
    "ocr_confidence_ok",
    "preprocess",
    "tessdata_dir",
]

log = logging.getLogger(__name__)

TESSDATA_SEARCH = ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata")
MAX_PIXELS = 200_000_000  # a 600 dpi A0 scan is ~ 650 Mpx; 200 Mpx is far beyond any office scan
MAX_SKEW = 15.0
# orient_conf under this is noise: rotation 0 is kept (the samples score 4-20 even at 100 dpi)
OSD_MIN_CONFIDENCE = 1.5


class OcrError(Exception):
    """Base of the OCR errors."""


class OcrUnavailable(OcrError, RuntimeError):
    """Tesseract, tesserocr or the language data is not installed."""


class OcrImageError(OcrError, ValueError):
    """The input is not a readable image (corrupt, truncated, unsupported, too large)."""


# ------------------------------------------------------------------------------------------- tessdata


def _tessdata_candidates() -> list[Path]:
    out: list[Path] = []
    for pattern in TESSDATA_SEARCH:
        out += [Path(p) for p in sorted(glob.glob(pattern), reverse=True)]  # newest Tesseract major first
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        out += [Path(prefix), Path(prefix) / "tessdata"]
    return out


def tessdata_dir(lang: str = "vie") -> Path:
    """The folder holding ``{lang}.traineddata`` (``CITYAI_TESSDATA`` or the usual system places).

    Raises :class:`OcrUnavailable`, naming the Debian package, when it is not found.
    """
    env = os.environ.get("CITYAI_TESSDATA")
    candidates = [Path(env)] if env else _tessdata_candidates()
    for cand in candidates:
        if (cand / f"{lang}.traineddata").is_file():
            return cand
    where = f"CITYAI_TESSDATA={env}" if env else "searched " + ", ".join(TESSDATA_SEARCH)
    package = {"vie": "tesseract-ocr-vie", "eng": "tesseract-ocr-eng", "osd": "tesseract-ocr-osd"}.get(
        lang, f"tesseract-ocr-{lang}")
    raise OcrUnavailable(
        f"Tesseract language data '{lang}.traineddata' not found ({where}); install the Debian package "
        f"{package} (apt-get install {package}) or set CITYAI_TESSDATA to the folder holding it"
    )


def _tesserocr():
    try:
        import tesserocr
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise OcrUnavailable("tesserocr is not installed: pip install 'cityai[documents]'") from exc
    return tesserocr


def _open_engine(path: Path, lang: str, psm: Any):
    """A new Tesseract engine (one per pool slot; tests count the calls)."""
    tesserocr = _tesserocr()
    try:
        api = tesserocr.PyTessBaseAPI(path=str(path) + os.sep, lang=lang, psm=psm)
    except RuntimeError as exc:
        raise OcrUnavailable(f"Tesseract could not load '{lang}' from {path}: {exc}") from exc
    api.SetVariable("debug_file", os.devnull)  # no "Estimating resolution..." chatter on stderr
    return api


# ------------------------------------------------------------------------------------------- images


def load_image(source: Any) -> "Image.Image":
    """A fully decoded PIL image from a PIL image, bytes, a file-like object or a path.

    Raises :class:`OcrImageError` for anything that is not a readable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        if isinstance(source, Image.Image):
            img = source
        elif isinstance(source, (bytes, bytearray, memoryview)):
            import io

            img = Image.open(io.BytesIO(bytes(source)))
        elif isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
            img = Image.open(source)
        else:
            raise OcrImageError(f"not an image: {type(source).__name__}")
        if img.width * img.height > MAX_PIXELS:
            raise OcrImageError(f"image too large: {img.width}x{img.height} pixels (limit {MAX_PIXELS})")
        img.load()
        dpi = img.info.get("dpi")
        if img.getexif().get(0x0112, 1) != 1:  # camera photos: honour the EXIF orientation
            img = ImageOps.exif_transpose(img)
            if dpi:
                img.info["dpi"] = dpi
        return img
    except OcrImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise OcrImageError(f"unreadable image: {type(exc).__name__}: {exc}") from exc


def load_pages(source: Any) -> Iterator["Image.Image"]:
    """The pages of a (possibly multi-page) image file, decoded one at a time (for TIFF scans).

    Lazy, so ``pool.recognize_many(load_pages("scan.tif"))`` keeps only the pages in flight in memory.
    """
    from PIL import Image, ImageSequence

    if isinstance(source, Image.Image) and getattr(source, "n_frames", 1) == 1:
        yield load_image(source)
        return
    try:
        if isinstance(source, Image.Image):
            img = source
        elif isinstance(source, (bytes, bytearray, memoryview)):
            import io

            img = Image.open(io.BytesIO(bytes(source)))
        else:
            img = Image.open(source)
    except (OSError, ValueError, SyntaxError) as exc:
        raise OcrImageError(f"unreadable image: {type(exc).__name__}: {exc}") from exc
    try:
        for frame in ImageSequence.Iterator(img):
            dpi = frame.info.get("dpi")
            page = load_image(frame.copy())
            if dpi:
                page.info["dpi"] = dpi
            yield page
    except OcrImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise OcrImageError(f"unreadable page: {type(exc).__name__}: {exc}") from exc


def _dpi_of(img: "Image.Image") -> int | None:
    dpi = img.info.get("dpi")
    try:
        value = int(round(float(dpi[0] if isinstance(dpi, (tuple, list)) else dpi)))
    except (TypeError, ValueError, IndexError):
        return None
    return value if 50 <= value <= 2400 else None


def _to_gray(img: "Image.Image") -> "np.ndarray":
    import numpy as np
    from PIL import Image

    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        return np.clip(arr * (255.0 / (255.0 if hi <= 255 else hi)), 0, 255).astype(np.uint8)
    if img.mode != "L":
        img = img.convert("L")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


# ------------------------------------------------------------------------------------------- analysis


def _analysis_scale(gray: "np.ndarray") -> float:
    """Scale for layout analysis: the long side near 1400 px (about 120 dpi for A4)."""
    return min(1.0, 1400.0 / max(gray.shape))


def _ink_mask(gray: "np.ndarray") -> tuple["np.ndarray", float]:
    """Dark-on-light ink at analysis scale (median-filtered against scan noise) and the scale used."""
    import cv2
    import numpy as np

    scale = _analysis_scale(gray)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    small = cv2.medianBlur(small, 3)
    background = float(np.median(small))
    spread = 1.4826 * float(np.median(np.abs(small.astype(np.float32) - background)))
    otsu, _ = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # ink lies well below the paper, further than the (median-filtered) noise reaches; faded print at
    # 35 levels under clean paper still counts
    thresh = min(float(otsu), background - max(35.0, 6.0 * spread))
    mask = (small < thresh).astype(np.uint8)
    return mask, scale


def _glyph_components(mask: "np.ndarray", scale: float) -> tuple[int, "np.ndarray"]:
    """Count connected components that look like printed marks (not specks, not scanner edge shadows).

    Also returns the mask without the components touching the image edge (dark scanner borders), which
    would otherwise steer the skew estimate.
    """
    import cv2
    import numpy as np

    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return 0, mask
    st = stats[1:]
    x, y, cw, ch, area = st[:, 0], st[:, 1], st[:, 2], st[:, 3], st[:, 4]
    min_h = max(3, int(round(0.012 * h)) // 4)  # ~ 0.9 mm on A4
    touches_edge = (x <= 1) | (y <= 1) | (x + cw >= w - 1) | (y + ch >= h - 1)
    ok = (ch >= min_h) & (area >= 6) & (ch <= h * 0.5) & ~touches_edge
    if touches_edge.any():
        keep = np.concatenate(([False], ~touches_edge))
        mask = keep[labels].astype(np.uint8)
    return int(np.count_nonzero(ok)), mask


def _estimate_skew(mask: "np.ndarray", max_angle: float = MAX_SKEW) -> tuple[float, bool]:
    """Skew of the text lines in degrees, counter-clockwise positive, from projection profiles.

    Scores each angle by the peakiness of the ink projected across lines (rows) and across columns,
    so text that runs sideways (a page turned 90°) gives the same small angle. Also says whether the
    columns won, i.e. the lines probably run vertically (a page turned 90° or 270°).
    """
    import numpy as np

    ys, xs = np.nonzero(mask)
    if len(xs) < 50:
        return 0.0, False
    if len(xs) > 150_000:
        sel = np.random.default_rng(0).choice(len(xs), 150_000, replace=False)
        xs, ys = xs[sel], ys[sel]
    xs = xs.astype(np.float64) - mask.shape[1] / 2.0
    ys = ys.astype(np.float64) - mask.shape[0] / 2.0
    extent = int(np.hypot(*mask.shape)) + 2

    def scores(angle: float) -> tuple[float, float]:
        a = np.deg2rad(angle)
        c, s = np.cos(a), np.sin(a)
        rows = np.bincount((ys * c + xs * s + extent / 2).astype(np.int64), minlength=extent)
        cols = np.bincount((xs * c - ys * s + extent / 2).astype(np.int64), minlength=extent)
        return float(np.dot(rows, rows)), float(np.dot(cols, cols))

    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.5)
    best = float(coarse[int(np.argmax([max(scores(a)) for a in coarse]))])
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.05)
    angle = float(fine[int(np.argmax([max(scores(a)) for a in fine]))])
    rows, cols = scores(angle)
    return angle, cols > rows


def _rotate(gray: "np.ndarray", angle: float) -> "np.ndarray":
    """Turn by ``angle`` degrees counter-clockwise about the centre, same size, white where uncovered."""
    import cv2

    h, w = gray.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    border = 255 if gray.ndim == 2 else (255, 255, 255)
    return cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def _rot90(gray: "np.ndarray", rotation: int) -> "np.ndarray":
    """Undo a counter-clockwise turn of ``rotation`` degrees (multiple of 90)."""
    import numpy as np

    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(gray, -k)) if k else gray


def _remove_rules(gray: "np.ndarray", dpi: int | None) -> tuple["np.ndarray", int, list]:
    """Whiten long thin horizontal and vertical rules (table grids, underlines, form lines); find tables.

    Tesseract's layout analysis reads a gridded table poorly: lines of neighbouring cells, vertically
    centred at different heights, merge into noise. A rule is a run of ink at least ~8 mm long and at
    most ~1 mm thick; glyphs never are. A table is a set of rules with at least 2 horizontal and 2
    vertical ones crossing; its cells are the regions the grid encloses.
    Returns the cleaned page, how many rules were removed, and the tables as rows of cell boxes
    ``[[(x0, y0, x1, y1), ...], ...]``.
    """
    import cv2
    import numpy as np

    h, w = gray.shape
    px_per_mm = (dpi or _guess_dpi(w, h)) / 25.4
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    length = max(25, int(round(8 * px_per_mm)))
    thick = max(2, int(round(1.0 * px_per_mm)))
    horiz = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    vert = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length)))
    # a solid block (a photo, a black bar) survives both openings: keep only thin runs
    horiz &= ~cv2.morphologyEx(horiz, cv2.MORPH_OPEN,
                               cv2.getStructuringElement(cv2.MORPH_RECT, (1, thick + 1)))
    vert &= ~cv2.morphologyEx(vert, cv2.MORPH_OPEN,
                              cv2.getStructuringElement(cv2.MORPH_RECT, (thick + 1, 1)))
    rules = cv2.bitwise_or(horiz, vert)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(rules, connectivity=8)
    if n <= 1:
        return gray, 0, []
    tables = []
    closed = cv2.dilate(rules, np.ones((5, 5), np.uint8))  # bridge small gaps of a scanned grid
    for i in range(1, n):
        x, y, cw, ch, _area = stats[i]
        if cw < 0.2 * w or ch < 8 * px_per_mm:
            continue
        sub_h = horiz[y:y + ch, x:x + cw]
        sub_v = vert[y:y + ch, x:x + cw]
        if (cv2.connectedComponents(sub_h)[0] - 1 < 2) or (cv2.connectedComponents(sub_v)[0] - 1 < 2):
            continue
        tables.append(_grid_cells(closed[y:y + ch, x:x + cw], x, y, px_per_mm))
    tables = [t for t in tables if t]
    rules = cv2.dilate(rules, np.ones((3, 3), np.uint8))  # the anti-aliased fringe too
    out = gray.copy()
    out[rules > 0] = 255
    return out, int(n - 1), tables


Box = tuple[int, int, int, int]


def _grid_cells(grid: "np.ndarray", ox: int, oy: int, px_per_mm: float) -> list[list[Box]]:
    """Cells enclosed by a table grid (a rule mask cropped to the table), grouped into rows."""
    import cv2

    free = (grid == 0).astype("uint8")
    n, _, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4)
    gh, gw = grid.shape
    cells = []
    for i in range(1, n):
        x, y, cw, ch, _area = stats[i]
        if x == 0 or y == 0 or x + cw >= gw or y + ch >= gh:  # outside the grid's frame
            continue
        if cw < 2.5 * px_per_mm or ch < 2.5 * px_per_mm:
            continue
        cells.append((ox + int(x), oy + int(y), ox + int(x + cw), oy + int(y + ch)))
    cells.sort(key=lambda b: (b[1], b[0]))
    rows: list[list[tuple[int, int, int, int]]] = []
    for c in cells:  # a cell starts a new row unless it overlaps the current row's band by half
        if rows:
            top = min(b[1] for b in rows[-1])
            bottom = max(b[3] for b in rows[-1])
            overlap = min(bottom, c[3]) - max(top, c[1])
            if overlap > 0.5 * min(c[3] - c[1], bottom - top):
                rows[-1].append(c)
                continue
        rows.append([c])
    for r in rows:
        r.sort(key=lambda b: b[0])
    return rows if len(rows) >= 1 and sum(len(r) for r in rows) >= 4 else []


def _noise_sigma(gray: "np.ndarray") -> float:
    """Robust estimate of pixel noise (grey levels) from the residual of a 3x3 median filter."""
    import cv2
    import numpy as np

    h, w = gray.shape
    cy, cx = h // 2, w // 2
    crop = gray[max(0, cy - 384):cy + 384, max(0, cx - 384):cx + 384]
    resid = np.abs(crop.astype(np.int16) - cv2.medianBlur(crop, 3).astype(np.int16))
    # On white paper half the noise is clipped at 255, so this reads about 0.3 sigma of Gaussian noise
    # added to a clean page (sigma 25 -> ~7, sigma 40 -> ~12); it is a level to compare, not a sigma.
    return float(1.4826 * np.median(resid))


def _binarize(gray: "np.ndarray", method: str) -> "np.ndarray":
    import cv2

    if method == "none":
        return gray
    if method == "otsu":
        _, out = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        return out
    if method == "adaptive":
        block = max(15, (min(gray.shape) // 40) | 1)
        return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 15)
    raise ValueError(f"unknown binarization {method!r}")


def _detect_orientation(osd_api: Any, gray: "np.ndarray", dpi: int | None) -> tuple[int, float]:
    """(rotation counter-clockwise in degrees, confidence) from Tesseract OSD; (0, 0.0) when unsure."""
    import cv2

    # OSD only needs glyph shapes: ~150 dpi worth of pixels is plenty and much faster
    scale = 1.0
    if dpi and dpi > 200:
        scale = 150.0 / dpi
    elif not dpi and max(gray.shape) > 2400:
        scale = 2400.0 / max(gray.shape)
    img = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    img = _binarize(img, "otsu")
    h, w = img.shape
    osd_api.SetImageBytes(img.tobytes(), w, h, 1, w)
    if dpi:
        osd_api.SetSourceResolution(int(round(dpi * scale)))
    try:
        res = osd_api.DetectOrientationScript()
    except RuntimeError:
        res = None
    finally:
        osd_api.Clear()
    if not res:
        return 0, 0.0
    conf = float(res.get("orient_conf") or 0.0)
    if conf < OSD_MIN_CONFIDENCE:
        return 0, conf
    clockwise = int(res.get("orient_deg") or 0) % 360
    return (360 - clockwise) % 360, conf


# ------------------------------------------------------------------------------------------- preprocess


# Measured on the ND30 samples at 150-200 dpi (clean, blurred, Gaussian noise 25-40, JPEG q25, a 2°
# "scan" mix), bag-of-words error: the grey page handed to Tesseract (which thresholds it with its own
# Otsu) was best or tied in every case; our Otsu was 0.3-0.7 points worse, adaptive Gaussian 1-2 points
# worse, Tesseract's Sauvola mixed, Leptonica's tiled Otsu failed on noisy pages. So the default is "none".
BINARIZATION = "none"
# A 3x3 median filter did not help Tesseract's LSTM on Gaussian noise up to sigma 40 (it cost 0.7 points
# at sigma 25), so it is kept for heavy noise and speckle only (see _noise_sigma for the scale).
DENOISE_SIGMA = 10.0


class _OsdEngines:
    """OSD engines for :func:`preprocess` called outside a pool (made on demand, then reused)."""

    def __init__(self) -> None:
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._all: list[Any] = []

    @contextmanager
    def borrow(self):
        try:
            api = self._free.get_nowait()
        except queue.Empty:
            api = None
            try:
                api = _open_engine(tessdata_dir("osd"), "osd", _tesserocr().PSM.OSD_ONLY)
            except OcrUnavailable as exc:
                log.warning("orientation detection disabled: %s", exc)
            if api is not None:
                with self._lock:
                    self._all.append(api)
        try:
            yield api
        finally:
            if api is not None:
                self._free.put(api)


_osd_engines = _OsdEngines()


def preprocess(image: Any, *, osd_api: Any = None, orientation: bool | str = True,
               rotation: int | None = None, deskew: bool = True, denoise: bool | None = None,
               binarize: str | None = None, remove_rules: bool = True) -> tuple["Image.Image", dict]:
    """Prepare a scanned page for Tesseract; return the processed grey image and what was done.

    Steps: grey; blank-page check; a 3x3 median filter when the page is noisy (``denoise=None``:
    decided from the measured noise); deskew (±15°, projection profiles); orientation 0/90/180/270 from
    Tesseract OSD (rotation 0 when OSD is unsure, e.g. a nearly empty page); long rules (table grids,
    underlines) whitened and gridded tables located; binarisation (``binarize``: ``"none"`` by default,
    i.e. Tesseract's own Otsu, or ``"otsu"``, ``"adaptive"``; see :data:`BINARIZATION`).

    ``orientation``: True runs OSD on every page; ``"auto"`` only when the text lines run vertically
    (a sideways page), leaving 0 vs 180 to the caller (:class:`OcrPool` asks OSD when the recognition
    confidence is low: an upside-down page scores ~45-50 against ~95); False never. ``rotation``
    forces a known rotation instead. OSD costs ~0.4 s a page and holds the GIL in tesserocr.

    ``info``: rotation (degrees counter-clockwise the input was turned; the output is turned back),
    skew (degrees counter-clockwise, likewise undone), blank, width, height (of the output), dpi,
    orientation_conf, orientation_checked (OSD ran), noise, denoised, rules (removed), tables (rows
    of cell boxes in output pixels).
    """
    img = load_image(image)
    dpi = _dpi_of(img)
    gray = _to_gray(img)
    info: dict[str, Any] = {"rotation": 0, "skew": 0.0, "blank": False, "width": gray.shape[1],
                            "height": gray.shape[0], "dpi": dpi, "orientation_conf": 0.0, "noise": 0.0,
                            "denoised": False, "rules": 0, "tables": [],
                            "orientation_checked": False}
    if gray.shape[0] < 16 or gray.shape[1] < 16:
        info["blank"] = True
        return _as_image(gray, dpi), info

    mask, scale = _ink_mask(gray)
    glyphs, mask = _glyph_components(mask, scale)
    if glyphs < 5:
        info["blank"] = True
        return _as_image(gray, dpi), info

    noise = _noise_sigma(gray)
    info["noise"] = round(noise, 2)
    if denoise is None:
        denoise = noise > DENOISE_SIGMA
    if denoise:
        import cv2

        gray = cv2.medianBlur(gray, 3)
        info["denoised"] = True

    sideways = False
    if deskew or orientation == "auto":
        skew, sideways = _estimate_skew(mask)
        if deskew and abs(skew) >= 0.1:
            gray = _rotate(gray, -skew)
            info["skew"] = round(skew, 2)

    ask_osd = orientation is True or orientation == "osd" or (orientation == "auto" and sideways)
    if rotation is not None:
        info["orientation_checked"] = True  # the caller knows
    elif ask_osd:
        if osd_api is not None:
            rotation, conf = _detect_orientation(osd_api, gray, dpi)
        else:
            with _osd_engines.borrow() as api:
                rotation, conf = _detect_orientation(api, gray, dpi) if api is not None else (0, 0.0)
        info["orientation_conf"] = round(conf, 2)
        info["orientation_checked"] = True
    if rotation:
        gray = _rot90(gray, int(rotation) % 360)
        info["rotation"] = int(rotation) % 360

    if remove_rules:
        gray, info["rules"], info["tables"] = _remove_rules(gray, dpi)

    gray = _binarize(gray, binarize or BINARIZATION)
    info["height"], info["width"] = gray.shape
    return _as_image(gray, dpi), info


_preprocess = preprocess  # OcrPool.recognize has a parameter of that name


def _as_image(gray: "np.ndarray", dpi: int | None) -> "Image.Image":
    from PIL import Image

    out = Image.fromarray(gray)
    out.info["cityai_processed"] = True  # the searchable-PDF writer uses it as is
    if dpi:
        out.info["dpi"] = (dpi, dpi)
    return out


def apply_geometry(image: "Image.Image", rotation: int, skew: float) -> "Image.Image":
    """Apply to ``image`` what :func:`preprocess` did to a page: undo ``skew`` then ``rotation``.

    Keeps colour; used to line up the original scan with the word boxes of a :class:`PageResult`.
    """
    import numpy as np
    from PIL import Image

    dpi = image.info.get("dpi")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")  # transparent means paper, as in preprocess
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    arr = np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image)
    if abs(skew) >= 0.1:
        arr = _rotate(np.ascontiguousarray(arr), -skew)
    if rotation:
        k = (rotation // 90) % 4
        arr = np.ascontiguousarray(np.rot90(arr, -k))
    out = Image.fromarray(arr)
    if dpi:
        out.info["dpi"] = dpi
    return out


# ------------------------------------------------------------------------------------------- results


@dataclass
class Word:
    text: str
    conf: float  # 0-100
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the processed page
    line: int  # running line number on the page
    block: int  # running block number on the page


@dataclass
class PageResult:
    text: str
    words: list[Word]
    confidence: float  # mean word confidence, 0-100 (0 for a page without words)
    rotation: int
    skew: float
    blank: bool
    width: int
    height: int
    seconds: float
    dpi: int | None = None
    tables: list[list[list[str]]] = field(default_factory=list)  # gridded tables: rows of cell texts
    # with keep_image=True: the input page turned upright and deskewed (its own colours, not the
    # OCR input), the pixels the word boxes refer to; for previews and the searchable PDF
    image: "Image.Image | None" = field(default=None, repr=False, compare=False)


def ocr_confidence_ok(result: PageResult, min_confidence: float = 70.0, low_word: float = 40.0,
                      max_low_fraction: float = 0.25) -> bool:
    """Whether the OCR text can be used without a person checking it.

    A blank page is fine (nothing to read). Otherwise the mean word confidence must reach
    ``min_confidence`` and at most ``max_low_fraction`` of the words may score below ``low_word``.
    """
    if result.blank:
        return True
    if not result.words:
        return False
    low = sum(1 for w in result.words if w.conf < low_word)
    return result.confidence >= min_confidence and low / len(result.words) <= max_low_fraction


def hocr(result: PageResult, page_number: int = 1) -> str:
    """The page as hOCR (XHTML with ocr_page / ocr_carea / ocr_line / ocrx_word, boxes and x_wconf)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="vi" lang="vi"><head><title></title>',
        '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>',
        '<meta name="ocr-system" content="tesseract (cityai)"/>',
        '<meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_line ocrx_word"/></head><body>',
        f'<div class="ocr_page" id="page_{page_number}" title="bbox 0 0 {result.width} {result.height}; '
        f'ppageno {page_number - 1}">',
    ]

    def box(ws: list[Word]) -> str:
        return (f"bbox {min(w.bbox[0] for w in ws)} {min(w.bbox[1] for w in ws)} "
                f"{max(w.bbox[2] for w in ws)} {max(w.bbox[3] for w in ws)}")

    blocks: dict[int, dict[int, list[Word]]] = {}
    for w in result.words:
        blocks.setdefault(w.block, {}).setdefault(w.line, []).append(w)
    n = 0
    for b, lines in blocks.items():
        all_words = [w for ws in lines.values() for w in ws]
        parts.append(f'<div class="ocr_carea" id="block_{page_number}_{b}" title="{box(all_words)}">')
        for ln, ws in lines.items():
            parts.append(f'<span class="ocr_line" id="line_{page_number}_{ln}" title="{box(ws)}">')
            for w in ws:
                n += 1
                parts.append(f'<span class="ocrx_word" id="word_{page_number}_{n}" title="bbox {w.bbox[0]} '
                             f'{w.bbox[1]} {w.bbox[2]} {w.bbox[3]}; x_wconf {int(round(w.conf))}">'
                             f"{html.escape(w.text)}</span> ")
            parts.append("</span>")
        parts.append("</div>")
    parts.append("</div></body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------- pool


# pages scanned under this resolution are enlarged before recognition (CITYAI_OCR_UPSCALE_BELOW_DPI; 0: never) ...
UPSCALE_BELOW_DPI = int(os.environ.get("CITYAI_OCR_UPSCALE_BELOW_DPI", "200"))
UPSCALE_TARGET_DPI = 300  # ... to about this one (measured: 150 dpi "Nơi nhận" blocks, 11 pt, went from
UPSCALE_MAX = 2.0  # mostly unread to read; benchmarks/extraction.py, docs/benchmarks.md)


def _upscaled(image: "Image.Image", scale: float) -> "Image.Image":
    from PIL import Image

    out = image.convert("L").resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    return out


def _unscaled(result: tuple[str, list[Word], list], scale: float) -> tuple[str, list[Word], list]:
    """Word boxes of a recognition on an enlarged page, back in the page's own pixels."""
    text, words, tables = result
    return text, [Word(w.text, w.conf, tuple(round(v / scale) for v in w.bbox), w.line, w.block)  # type: ignore[arg-type]
                  for w in words], tables


def _utf8(api: Any) -> str:
    """The recognised text; tesserocr raises RuntimeError("No text returned") for a region without text
    (an empty table cell, a page of noise): that is an empty result, not a failure."""
    try:
        return _nfc(api.GetUTF8Text())
    except RuntimeError:
        return ""


def _it_text(r: Any, level: Any) -> str:
    try:
        return r.GetUTF8Text(level) or ""
    except RuntimeError:  # an element without text
        return ""


class _Engine:
    __slots__ = ("index", "api", "osd")

    def __init__(self, index: int, api: Any, osd: Any) -> None:
        self.index, self.api, self.osd = index, api, osd


class OcrPool:
    """A fixed set of Tesseract engines shared by threads; thread-safe.

    ``size``: engines (default ``CITYAI_OCR_THREADS``, else the CPUs available to the process); ``lang``: Tesseract languages
    (``"vie"``; ``"vie+eng"`` also works); ``tessdata``: the traineddata folder (default
    :func:`tessdata_dir`). Each engine comes with an OSD engine for orientation when ``osd.traineddata``
    is installed.

    ``orientation``: ``"auto"`` (default) asks OSD about sideways pages at once and about the others
    only when their mean word confidence falls under ``recheck_confidence`` (an upside-down page
    scores ~45-50, an upright one ~95 on the samples), keeping whichever reading scores better; this
    spares the ~0.4 s OSD costs on the usual upright page (and the GIL, which tesserocr holds during
    OSD). True: OSD on every page; False: never.
    """

    def __init__(self, size: int | None = None, lang: str = "vie", tessdata: str | os.PathLike | None = None,
                 psm: Any = None, orientation: bool | str = "auto", recheck_confidence: float = 75.0) -> None:
        tesserocr = _tesserocr()
        if size is None:
            size = int(os.environ.get("CITYAI_OCR_THREADS") or 0) or _cpu_count()
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.size = size
        self.lang = lang
        path = Path(tessdata) if tessdata else tessdata_dir(lang.split("+")[0])
        for code in lang.split("+"):
            if not (path / f"{code}.traineddata").is_file():
                raise OcrUnavailable(f"Tesseract language data '{code}.traineddata' not found in {path}; "
                                     f"install the Debian package tesseract-ocr-{code}")
        self.tessdata = path
        self.orientation = orientation
        self.recheck_confidence = recheck_confidence
        psm = tesserocr.PSM.AUTO if psm is None else psm
        osd_path = path if (path / "osd.traineddata").is_file() else None
        if orientation and osd_path is None:
            try:
                osd_path = tessdata_dir("osd")
            except OcrUnavailable as exc:
                log.warning("orientation detection disabled: %s", exc)
        self._queue: queue.Queue[_Engine] = queue.Queue()
        self._engines: list[_Engine] = []
        self._closed = False
        self._lock = threading.Lock()
        self.usage: Counter[int] = Counter()  # engine index -> pages recognised
        try:
            for i in range(size):
                api = _open_engine(path, lang, psm)
                osd = None
                if orientation and osd_path:
                    osd = _open_engine(osd_path, "osd", tesserocr.PSM.OSD_ONLY)
                eng = _Engine(i, api, osd)
                self._engines.append(eng)
                self._queue.put(eng)
        except BaseException:
            self._end_all()
            raise

    # -- engines

    @property
    def engine_ids(self) -> list[int]:
        """``id()`` of each Tesseract engine object (they live as long as the pool)."""
        return [id(e.api) for e in self._engines]

    @contextmanager
    def _borrow(self, timeout: float | None = None):
        if self._closed:
            raise OcrError("the OCR pool is closed")
        try:
            eng = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise OcrError(f"no OCR engine free within {timeout} s") from None
        if eng is None:  # closed while waiting: pass the news on to the next waiter
            self._queue.put(None)  # type: ignore[arg-type]
            raise OcrError("the OCR pool is closed")
        try:
            yield eng
        finally:
            self._queue.put(eng)

    # -- recognition

    def recognize(self, image: Any, preprocess: bool = True, keep_image: bool = False,
                  timeout: float | None = None) -> PageResult:
        """OCR one page (a PIL image, bytes, file-like or path).

        Raises :class:`OcrImageError` for input that is not a readable image.
        """
        import numpy as np

        started = time.perf_counter()
        img = load_image(image)  # decode before taking an engine
        with self._borrow(timeout) as eng:
            osd = eng.osd if self.orientation else None
            if preprocess:
                mode = "auto" if self.orientation == "auto" else bool(osd)
                processed, info = _preprocess(img, osd_api=osd, orientation=mode if osd else False)
            else:
                dpi = _dpi_of(img)
                processed = _as_image(_to_gray(img), dpi)
                info = {"rotation": 0, "skew": 0.0, "blank": False, "width": processed.width,
                        "height": processed.height, "dpi": dpi, "orientation_checked": True}
            if info["blank"]:
                text, words, tables = "", [], []
            else:
                text, words, tables = self._run(eng, processed, info.get("dpi"), info.get("tables"))
                conf = _mean_conf(words)
                if not info.get("orientation_checked") and osd is not None and conf < self.recheck_confidence:
                    # low confidence on a page OSD has not seen: maybe upside down; ask OSD, keep the better
                    rotation, _ = _detect_orientation(osd, np.asarray(processed), info.get("dpi"))
                    if rotation:
                        p2, i2 = _preprocess(img, osd_api=osd, rotation=rotation)
                        t2, w2, tb2 = self._run(eng, p2, i2.get("dpi"), i2.get("tables"))
                        if _mean_conf(w2) > conf:
                            processed, info, text, words, tables = p2, i2, t2, w2, tb2
            with self._lock:
                self.usage[eng.index] += 1
        kept = None
        if keep_image:  # for display: the input's colours, rules and all, in the processed geometry
            kept = apply_geometry(img, int(info["rotation"]), float(info["skew"]))
            kept.info["cityai_processed"] = True
            if info.get("dpi"):
                kept.info["dpi"] = (info["dpi"], info["dpi"])
        return PageResult(
            text=text, words=words, confidence=round(_mean_conf(words), 2),
            rotation=int(info["rotation"]), skew=float(info["skew"]), blank=bool(info["blank"]),
            width=int(info["width"]), height=int(info["height"]),
            seconds=round(time.perf_counter() - started, 3), dpi=info.get("dpi"), tables=tables,
            image=kept,
        )

    @staticmethod
    def _run(eng: _Engine, image: "Image.Image", dpi: int | None, tables: list | None = None,
             ) -> tuple[str, list[Word], list[list[list[str]]]]:
        """Recognise a processed page; gridded tables (from :func:`preprocess`) cell by cell."""
        import numpy as np

        tesserocr = _tesserocr()
        PSM = tesserocr.PSM
        api = eng.api
        arr = np.ascontiguousarray(np.asarray(image.convert("L")))
        h, w = arr.shape
        res = int(dpi) if dpi else _guess_dpi(w, h)
        tables = tables or []
        scale = min(UPSCALE_MAX, UPSCALE_TARGET_DPI / res) if res < UPSCALE_BELOW_DPI else 1.0
        if scale > 1.01:  # small print of low-resolution scans: Tesseract reads it better enlarged
            return _unscaled(OcrPool._run(eng, _upscaled(image, scale), round(res * scale),
                                                 [[[tuple(round(v * scale) for v in c) for c in r] for r in t]
                                                  for t in tables]), scale)
        page = arr
        boxes = []
        for t in tables:
            x0 = max(0, min(c[0] for r in t for c in r) - 3)
            y0 = max(0, min(c[1] for r in t for c in r) - 3)
            x1 = max(c[2] for r in t for c in r) + 3
            y1 = max(c[3] for r in t for c in r) + 3
            boxes.append((x0, y0, x1, y1))
            if page is arr:
                page = arr.copy()
            page[y0:y1, x0:x1] = 255  # the page layout is read without the tables
        counter = {"block": -1, "line": -1}
        words: list[Word] = []
        psm = api.GetPageSegMode()
        try:
            api.SetImageBytes(page.tobytes(), w, h, 1, w)
            api.SetSourceResolution(res)
            api.Recognize()
            if not tables:
                text = _utf8(api)
                _collect_words(api, counter, words)
                return text, words, []
            segments = _collect_words(api, counter, words, blocks=True)  # [(top, text)]
            table_texts: list[list[list[str]]] = []
            api.SetImageBytes(arr.tobytes(), w, h, 1, w)
            api.SetSourceResolution(res)
            api.SetPageSegMode(PSM.SINGLE_BLOCK)
            for t in tables:
                rows = []
                for row in t:
                    cells = []
                    for (x0, y0, x1, y1) in row:
                        pad = 2
                        if x1 - x0 <= 2 * pad + 2 or y1 - y0 <= 2 * pad + 2:
                            cells.append("")
                            continue
                        api.SetRectangle(x0 + pad, y0 + pad, x1 - x0 - 2 * pad, y1 - y0 - 2 * pad)
                        api.Recognize()
                        cells.append(" ".join(_utf8(api).split()))
                        _collect_words(api, counter, words, new_block=True)
                    rows.append(cells)
                table_texts.append(rows)
            # tables go into the reading order before the first block that starts below them
            for (box, rows) in sorted(zip(boxes, table_texts), key=lambda x: x[0][1]):
                text_rows = "\n".join("\t".join(r) for r in rows)
                at = next((i for i, (top, _) in enumerate(segments) if top > box[1]), len(segments))
                segments.insert(at, (box[1], text_rows))
            return "\n\n".join(t for _, t in segments if t), words, table_texts
        except RuntimeError as exc:
            raise OcrError(f"Tesseract failed on the page: {exc}") from exc
        finally:
            api.SetPageSegMode(psm)
            api.Clear()

    def recognize_many(self, images: Iterable[Any], progress: Callable[[int, int | None], Any] | None = None,
                       preprocess: bool = True, keep_images: bool = False, max_in_flight: int | None = None,
                       ) -> Iterator[PageResult]:
        """OCR pages in parallel, yielding results in input order.

        At most ``max_in_flight`` (default twice the pool size) pages are decoded or being recognised at
        once, so a long lazy iterable (a 500-page TIFF read frame by frame) stays bounded in memory.
        ``progress(done, total)`` is called after each page is yielded; ``total`` is ``len(images)``
        when known, else None. The first page that fails raises its error.
        """
        total = len(images) if hasattr(images, "__len__") else None  # type: ignore[arg-type]
        limit = max(1, max_in_flight or 2 * self.size)
        done = 0
        pending: deque = deque()
        ex = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="cityai-ocr")
        try:
            for img in images:
                pending.append(ex.submit(self.recognize, img, preprocess, keep_images))
                if len(pending) >= limit:
                    result = pending.popleft().result()
                    done += 1
                    if progress:
                        progress(done, total)
                    yield result
            while pending:
                result = pending.popleft().result()
                done += 1
                if progress:
                    progress(done, total)
                yield result
        finally:
            ex.shutdown(wait=True, cancel_futures=True)

    # -- lifecycle

    def close(self, timeout: float = 60.0) -> None:
        """Wait for the engines to come back (up to ``timeout`` s) and free them."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        back = 0
        while back < len(self._engines):
            try:
                self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                back += 1
            except queue.Empty:
                log.warning("OCR pool closed with %d engine(s) still busy", len(self._engines) - back)
                return
        self._end_all()
        self._queue.put(None)  # type: ignore[arg-type]  # wakes anyone still waiting for an engine

    def _end_all(self) -> None:
        for e in self._engines:
            for api in (e.api, e.osd):
                if api is not None:
                    try:
                        api.End()
                    except Exception:  # noqa: BLE001 - best effort at shutdown
                        pass

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "OcrPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _cpu_count() -> int:
    """CPUs this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _guess_dpi(width: int, height: int) -> int:
    """Resolution of a page without one: A4/Letter sized pages from their width, else 300."""
    short, long_ = sorted((width, height))
    ratio = long_ / short
    if 1.25 < ratio < 1.5:  # A4 1.414, Letter 1.294
        return max(70, min(1200, int(round(short / 8.27))))
    return 300


def _mean_conf(words: list[Word]) -> float:
    return sum(w.conf for w in words) / len(words) if words else 0.0


def _nfc(text: str | None) -> str:
    return unicodedata.normalize("NFC", text or "").strip()


def _collect_words(api: Any, counter: dict, words: list[Word], blocks: bool = False, new_block: bool = False,
                   ) -> list[tuple[int, str]]:
    """Append the recognised words (text, confidence, box, line, block) to ``words``.

    With ``blocks``, also return each block's (top, text) in Tesseract's reading order.
    ``new_block``: the whole result is one block (a table cell).
    """
    tesserocr = _tesserocr()
    RIL = tesserocr.RIL
    out: list[tuple[int, str]] = []
    ri = api.GetIterator()
    if ri is None:
        return out
    if new_block:
        counter["block"] += 1
    for r in tesserocr.iterate_level(ri, RIL.WORD):
        if r.IsAtBeginningOf(RIL.BLOCK) and not new_block:
            counter["block"] += 1
            if blocks:
                bb = r.BoundingBox(RIL.BLOCK)
                out.append((bb[1] if bb else 0, _nfc(_it_text(r, RIL.BLOCK))))
        if r.IsAtBeginningOf(RIL.TEXTLINE):
            counter["line"] += 1
        word = _it_text(r, RIL.WORD)
        if not word or not word.strip():
            continue
        bbox = r.BoundingBox(RIL.WORD)
        if bbox is None:
            continue
        conf = max(0.0, min(100.0, float(r.Confidence(RIL.WORD))))
        words.append(Word(_nfc(word), round(conf, 2), tuple(int(v) for v in bbox),
                          max(counter["line"], 0), max(counter["block"], 0)))
    return out


_shared_pool: OcrPool | None = None
_shared_lock = threading.Lock()


def get_pool() -> OcrPool:
    """The process's shared pool (made on first use, size ``CITYAI_OCR_THREADS`` or the CPU count)."""
    global _shared_pool
    with _shared_lock:
        if _shared_pool is None or _shared_pool.closed:
            _shared_pool = OcrPool()
        return _shared_pool


@atexit.register
def _close_shared_pool() -> None:  # pragma: no cover - interpreter shutdown
    pool = _shared_pool
    if pool is not None:
        pool.close(timeout=5.0)
