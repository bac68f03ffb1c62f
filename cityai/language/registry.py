"""Models as files: where the language module's trained models live and how they are published.

A model named ``name`` ("segmenter", "pos", "ner", ...) is a folder
``CITYAI_HOME/models/language/<name>/`` holding its files and a ``meta.json`` (what it was trained on,
when, its scores). :func:`publishing` builds a new model in a temporary sibling folder and swaps it in
with renames only after the block finished: a training run that crashes or is killed leaves the
published model as it was. When no model was built, :func:`model_dir` falls back to the copy shipped
in the package (``cityai/language/packaged/<name>/``) for the models that may be redistributed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

PACKAGED = Path(__file__).resolve().parent / "packaged"


def home() -> Path:
    from cityai.core.config import get_settings

    return Path(get_settings().home)


def models_root(base: Path | str | None = None) -> Path:
    return Path(base if base is not None else home()) / "models" / "language"


def built_dir(name: str, base: Path | str | None = None) -> Path:
    return models_root(base) / name


def model_dir(name: str, base: Path | str | None = None) -> Path | None:
    """The folder of the model to use: the one built into CITYAI_HOME, else the packaged one, else None."""
    built = built_dir(name, base)
    if (built / "meta.json").is_file():
        return built
    packaged = PACKAGED / name
    if (packaged / "meta.json").is_file():
        return packaged
    return None


def read_meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "meta.json").read_text(encoding="utf-8"))


@contextlib.contextmanager
def publishing(name: str, meta: dict[str, Any], base: Path | str | None = None, *,
               root: Path | str | None = None) -> Iterator[Path]:
    """Yield an empty folder to write the model's files into; on a clean exit write ``meta.json`` (from
    ``meta`` as it is then: the block may add scores to it) and make it the published model atomically
    (the previous one is removed afterwards). On an exception the folder is deleted and the published
    model stays. ``root`` publishes elsewhere than CITYAI_HOME (the packaged models: :data:`PACKAGED`)."""
    root = Path(root) if root is not None else models_root(base)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    os.chmod(tmp, 0o755)  # model files hold no secrets; a packaged model must be readable by all
    try:
        yield tmp
        meta = {**meta, "name": name, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        for f in tmp.iterdir():  # data on disk before the swap
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        final = root / name
        old = None
        if final.exists():
            old = root / f".{name}-old-{os.getpid()}-{time.monotonic_ns()}"
            os.rename(final, old)
        os.rename(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
