"""Readers for the training corpora under ``../shared/data`` (never shipped with the package).

- VLSP 2013 word segmentation (``vlsp2013-ws/train/**/*.seg``): one sentence a line, words separated by
  spaces, the syllables of a word joined by ``_``; XML-like tag lines around the content are skipped.
- Universal Dependencies Vietnamese-VTB (``ud-vi-vtb/*.conllu``): words (syllables joined by spaces)
  with UPOS and XPOS tags.
- VLSP 2016 NER (``vlsp2016-ner/train/*.txt`` and ``dev.txt``): word, POS, chunk, NER (BIO) columns.

Every reader returns sentences as lists of words, a word being its syllables joined by single spaces
(the API's convention: ``"Ủy ban nhân dân"``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Iterator, NamedTuple


def shared_data_dir() -> Path | None:
    """``$CITYAI_SHARED_DATA``, else ``../shared/data`` beside the checkout, else None."""
    env = os.environ.get("CITYAI_SHARED_DATA")
    candidates = [Path(env)] if env else []
    root = Path(__file__).resolve().parents[2]
    candidates += [root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def _word(raw: str) -> str:
    return unicodedata.normalize("NFC", raw.replace("_", " ")).strip()


_TAG_LINE = re.compile(r"^\s*</?[A-Za-z][^>]*>\s*$")


def read_vlsp2013(path: Path | str) -> list[list[str]]:
    """Sentences of a VLSP 2013 ``.seg`` file or of every ``.seg`` file under a folder (sorted)."""
    path = Path(path)
    files = sorted(path.rglob("*.seg")) if path.is_dir() else [path]
    out: list[list[str]] = []
    for f in files:
        for line in f.read_text(encoding="utf-8-sig").splitlines():
            line = line.strip()
            if not line or _TAG_LINE.match(line):
                continue
            line = re.sub(r"</?[A-Za-z][^>]*>", " ", line)  # stray inline tags
            words = [w for w in (_word(t) for t in line.split()) if w]
            if words:
                out.append(words)
    return out


class Token(NamedTuple):
    word: str
    upos: str
    xpos: str


def read_conllu(path: Path | str) -> list[list[Token]]:
    """Sentences of a CoNLL-U file (multi-word token ranges and empty nodes skipped)."""
    sents: list[list[Token]] = []
    cur: list[Token] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if cur:
                sents.append(cur)
                cur = []
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 5 or "-" in cols[0] or "." in cols[0]:
            continue
        cur.append(Token(_word(cols[1]), cols[3], cols[4]))
    if cur:
        sents.append(cur)
    return sents


class NerToken(NamedTuple):
    word: str
    pos: str
    chunk: str
    ner: str


def _ner_row(cols: list[str]) -> NerToken | None:
    cols = [c.strip() for c in cols]
    if not cols or not cols[0]:
        return None
    cols += [""] * (4 - len(cols))
    ner = cols[3] or "O"
    return NerToken(_word(cols[0]), cols[1] or "X", cols[2] or "O", ner)


def read_vlsp2016(path: Path | str) -> list[list[NerToken]]:
    """Sentences of VLSP 2016 NER: a ``train/`` folder (``<s>``...``</s>`` blocks) or ``dev.txt``
    (blank-line separated)."""
    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    sents: list[list[NerToken]] = []
    for f in files:
        cur: list[NerToken] = []
        for line in f.read_text(encoding="utf-8-sig").splitlines():
            s = line.strip()
            if s.startswith("<s>") or not s or s.startswith("</s>") or s.startswith("-DOCSTART-") \
                    or _TAG_LINE.match(s) or s.startswith("<title>") or s.startswith("<editor>"):
                if (s.startswith("</s>") or not s or s.startswith("<s>")) and cur:
                    sents.append(cur)
                    cur = []
                continue
            tok = _ner_row(line.split("\t"))
            if tok is not None:
                cur.append(tok)
        if cur:
            sents.append(cur)
    return sents


def sentence_key(words: list[str]) -> str:
    """A key to find the same sentence in two corpora (dev.txt is carved out of train/)."""
    return " ".join(words)


def iter_alqac(root: Path | str) -> Iterator[dict]:  # pragma: no cover - thin JSON reader
    import json

    for law in json.loads((Path(root) / "law.json").read_text(encoding="utf-8")):
        for art in law["articles"]:
            yield {"law_id": law["id"], "article_id": art["id"], "text": art["text"]}
