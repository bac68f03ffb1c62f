"""Part-of-speech tagging of segmented Vietnamese words with a CRF.

``get_tagger().tag(["Ủy ban", "nhân dân", "ban hành", "kế hoạch"])`` -> ``["N", "N", "V", "N"]``.

Features of word *i* (lower-cased NFC words, syllables joined by ``_`` inside a feature):

- the word at -2..+2, word bigrams (-2,-1) (-1,0) (0,1) (1,2), the pair (-1,+1);
- the last syllable of the previous word and the first syllable of the next one;
- the first and last syllable of the word and its number of syllables;
- shape of the word (lower / Title / Title Title / UPPER / digits / number / punctuation / other) at
  -1..+1, and whether its first letter is upper-case at -1 and +1;
- the exact (case-kept) word for short tokens (punctuation marks, abbreviations).

Tagsets: the model built into CITYAI_HOME by :func:`train_pos` is trained on the POS column of VLSP 2016
NER train (VLSP tagset: N, Np written ``NNP`` in that data, Nc, Ny, Nu, Ns, V, A, P, R, E, M, L, C, Cc, CH,
T, X, ...): the NER model is trained with these tags. The packaged fallback
``cityai/language/packaged/pos/`` is trained on UD Vietnamese-VTB train only (CC BY-SA 4.0) and outputs
Universal POS tags (NOUN, VERB, ADJ, ADP, PROPN, PUNCT, ...; the treebank's XPOS column is not
consistent between its train and dev files); ``meta.json`` says which (``tagset``).

Scores (gold words; ``meta.json`` ``scores_same_recipe_90pct`` / ``scores``):

- VLSP 2016 model, same recipe trained without 10% of the documents (27 of 266, ``crc32(name) % 1000 <
  100``, 1,771 sentences, 37,344 words): accuracy 94.09%. The published model is trained on all 266
  documents (16,785 sentences, 367,534 words; 150 iterations, c1 0.1, c2 0.01; 2.4 min on one core;
  9.8 MB). Note the POS column of the VLSP 2016 NER data is itself partly machine-made, so 94% is
  agreement with that annotation. About 137k words/s.
- Packaged UD model (UPOS): UD-VTB dev 85.48%, test 88.44% (1,400 training sentences only; 1.7 MB).
"""

from __future__ import annotations

import json
import threading
import time
import unicodedata
import zlib
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Sequence

from cityai.language import registry
from cityai.language.crf import CrfTagger, safe, train_crf

__all__ = ["PosTagger", "get_tagger", "train_pos", "build_packaged_model", "build_packaged_models",
           "pos_features", "load_pos_sentences"]

NAME = "pos"
MODEL_FILE = "model.crf"

# tags of the VLSP 2016 data seen fewer than 5 times are annotation slips: mapped or dropped to X
_TAG_FIX = {"NPP": "NNP", "NNPY": "NNP", "Vy": "V", "Cb": "C", "I-NP": "X", "B-NP": "X", "O": "X", "": "X"}


def _shape(w: str) -> str:
    if w.isalpha():
        if w.islower():
            return "l"
        if w.isupper():
            return "U" if len(w) > 1 else "T"
        return "T" if w[0].isupper() and w[1:].islower() else "M"
    if " " in w:
        parts = w.split(" ")
        if all(p[:1].isupper() for p in parts if p):
            return "TT"
        if parts[0][:1].isupper():
            return "Tl"
        return "ll" if all(p.isalpha() for p in parts) else "lx"
    if w.isdigit():
        return "D"
    if any(c.isdigit() for c in w):
        return "N"
    if any(c.isalnum() for c in w):
        return "W"
    return "P" if unicodedata.category(w[0])[0] == "P" else "O"


class _Cache:
    __slots__ = ("d",)

    def __init__(self) -> None:
        self.d: dict[str, tuple] = {}

    def get(self, w: str) -> tuple:
        r = self.d.get(w)
        if r is None:
            t = w if w.isascii() else unicodedata.normalize("NFC", safe(w))
            t = " ".join(t.split())
            low = t.lower()
            parts = low.split(" ") if low else [""]
            key = low.replace(" ", "_")
            r = (key, _shape(t) if t else "O", parts[0], parts[-1], str(min(len(parts), 4)),
                 "1" if t[:1].isupper() else "0", t if len(t) <= 3 and not t.isalpha() else "")
            if len(self.d) > 300_000:
                self.d.clear()
            self.d[w] = r
        return r


_CACHE = _Cache()
_PAD = ("<s>", "S", "<s>", "<s>", "0", "0", "")
_PADE = ("</s>", "S", "</s>", "</s>", "0", "0", "")


def pos_features(words: Sequence[str]) -> list[list[str]]:
    n = len(words)
    if not n:
        return []
    get = _CACHE.get
    info = [_PAD, _PAD] + [get(w) for w in words] + [_PADE, _PADE]
    out = []
    for j in range(2, n + 2):
        w0 = info[j]
        wm1 = info[j - 1]
        wp1 = info[j + 1]
        f = [
            "bias",
            "w0:" + w0[0],
            "w-1:" + wm1[0],
            "w1:" + wp1[0],
            "w-2:" + info[j - 2][0],
            "w2:" + info[j + 2][0],
            "b-1:" + wm1[0] + "|" + w0[0],
            "b0:" + w0[0] + "|" + wp1[0],
            "o:" + wm1[0] + "|" + wp1[0],
            "b-2:" + info[j - 2][0] + "|" + wm1[0],
            "b1:" + wp1[0] + "|" + info[j + 2][0],
            "l-1:" + wm1[3],
            "f1:" + wp1[2],
            "f:" + w0[2],
            "l:" + w0[3],
            "n:" + w0[4],
            "s0:" + w0[1],
            "s-1:" + wm1[1] + w0[1],
            "s1:" + w0[1] + wp1[1],
            "c:" + wm1[5] + w0[5] + wp1[5],
        ]
        if w0[6]:
            f.append("x:" + w0[6])
        out.append(f)
    return out


class PosTagger:
    """A trained POS model folder (``model.crf`` + ``meta.json``)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.meta = registry.read_meta(self.folder)
        self.tagset = self.meta.get("tagset", "vlsp2016")
        self._crf = CrfTagger(self.folder / MODEL_FILE)

    def tag(self, words: Sequence[str]) -> list[str]:
        """One tag per word (words: syllables joined by spaces, as the segmenter returns them)."""
        words = [w if isinstance(w, str) else str(w) for w in words]
        if not words:
            return []
        return self._crf.tag(pos_features(words))

    def tag_sentences(self, sentences: Iterable[Sequence[str]]) -> list[list[str]]:
        return [self.tag(s) for s in sentences]


_lock = threading.Lock()
_loaded: dict[str, tuple[tuple, PosTagger]] = {}


def get_tagger(base: Path | str | None = None) -> PosTagger:
    """The POS tagger to use (built into CITYAI_HOME, else the packaged one), reloaded when a new model
    is published."""
    folder = registry.model_dir(NAME, base)
    if folder is None:
        raise LookupError("No POS model: train one (train_pos) or reinstall the package.")
    try:
        st = (folder / "meta.json").stat()
    except OSError:
        folder = registry.model_dir(NAME, base)
        if folder is None:
            raise LookupError("No POS model.") from None
        st = (folder / "meta.json").stat()
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    key = str(folder)
    hit = _loaded.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with _lock:
        hit = _loaded.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        tagger = PosTagger(folder)
        _loaded[key] = (stamp, tagger)
        return tagger


# ---------------------------------------------------------------------------------------------
# training


def _fix(tag: str) -> str:
    return _TAG_FIX.get(tag, tag)


def load_pos_sentences(data_dir: Path | str, *, holdout: float = 0.0) -> tuple[list, list, dict]:
    """(train, held-out, info) of (words, tags) sentences from VLSP 2016 NER train: ``data_dir`` is the
    shared data folder (``vlsp2016-ner/train`` under it) or a folder of VLSP 2016 ``.txt`` files.
    ``holdout`` keeps that share of the documents (by file-name hash) out of training."""
    from cityai.language.corpora import read_vlsp2016

    data_dir = Path(data_dir)
    folder = data_dir / "vlsp2016-ner" / "train"
    if not folder.is_dir():
        folder = data_dir
    files = sorted(folder.glob("*.txt"))
    train, held = [], []
    n_held = 0
    for f in files:
        sents = [([t.word for t in s], [_fix(t.pos) for t in s]) for s in read_vlsp2016(f)]
        sents = [s for s in sents if s[0]]
        if holdout > 0 and zlib.crc32(f.name.encode()) % 1000 < holdout * 1000:
            held.extend(sents)
            n_held += 1
        else:
            train.extend(sents)
    info = {"trained_on": [f"VLSP 2016 NER train, POS column ({len(files) - n_held} documents)"],
            "train_sentences": len(train), "heldout_sentences": len(held), "heldout_documents": n_held}
    return train, held, info


def _build(data: Sequence[tuple[Sequence[str], Sequence[str]]], folder: Path, params: dict,
           progress: Callable | None = None) -> dict:
    data = [(list(w), list(t)) for w, t in data if len(w) and len(w) == len(t)]
    if not data:
        raise ValueError("no training sentences")
    summary = train_crf((pos_features(w) for w, _ in data), (t for _, t in data), folder / MODEL_FILE,
                        params=params, progress=progress)
    summary["tags"] = dict(Counter(t for _, ts in data for t in ts).most_common())
    return summary


def _score(folder: Path, held: Sequence[tuple[Sequence[str], Sequence[str]]]) -> dict:
    from cityai.language.evaluate import pos_accuracy

    tagger = PosTagger(folder)
    return pos_accuracy([t for _, t in held], [tagger.tag(w) for w, _ in held])


def train_pos(
    data_dir: Path | str | None = None,
    base: Path | str | None = None,
    *,
    sentences: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
    progress: Callable[[int, int, float | None], None] | None = None,
    max_iterations: int = 150,
    c1: float = 0.05,
    c2: float = 0.01,
    holdout: float = 0.0,
    tagset: str = "vlsp2016",
    extra_meta: dict | None = None,
) -> dict:
    """Train a POS tagger on VLSP 2016 (``data_dir``) or on ``sentences`` ((words, tags) pairs) and
    publish it as CITYAI_HOME's ``pos`` model; returns its meta. With ``holdout`` the published model
    is trained without the held-out documents and ``meta["scores"]`` has its accuracy on them."""
    held: list = []
    if sentences is None:
        if data_dir is None:
            raise ValueError("data_dir or sentences is required")
        train, held, info = load_pos_sentences(data_dir, holdout=holdout)
    else:
        train = [(list(w), list(t)) for w, t in sentences]
        info = {"trained_on": ["sentences given by the caller"], "train_sentences": len(train)}
    params = {"c1": c1, "c2": c2, "max_iterations": int(max_iterations)}
    meta: dict = {"kind": "crf-pos-tagger", "tagset": tagset, **info, **(extra_meta or {})}
    with registry.publishing(NAME, meta, base) as tmp:
        t0 = time.perf_counter()
        meta["training"] = _build(train, tmp, params, progress)
        meta["training"]["seconds"] = round(time.perf_counter() - t0, 1)
        meta["labels"] = sorted(meta["training"]["tags"])
        scores = {}
        if held:
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            scores["vlsp2016_heldout"] = _score(tmp, held)
        meta["scores"] = scores
        meta["size_bytes"] = (tmp / MODEL_FILE).stat().st_size
    return registry.read_meta(registry.built_dir(NAME, base))


def build_packaged_model(data_dir: Path | str | None = None, *, max_iterations: int = 200,
                         c1: float = 0.05, c2: float = 0.01) -> dict:
    """Rebuild ``cityai/language/packaged/pos/`` from UD Vietnamese-VTB train (CC BY-SA 4.0), UPOS tags
    (the XPOS column is not consistent across the UD-VTB files: dev writes ``ADV``/``PRE``/``PUNCT``
    where train writes ``Adv``/``Pre``/``.``)."""
    from cityai.language.corpora import read_conllu, shared_data_dir

    data_dir = Path(data_dir) if data_dir is not None else shared_data_dir()
    if data_dir is None:
        raise FileNotFoundError("shared data folder not found")
    ud = data_dir / "ud-vi-vtb"

    def load(name: str) -> list:
        return [([t.word for t in s], [t.upos for t in s]) for s in read_conllu(ud / name)]

    train = load("vi_vtb-ud-train.conllu")
    meta: dict = {}
    with registry.publishing(NAME, meta, root=registry.PACKAGED) as tmp:
        training = _build(train, tmp, {"c1": c1, "c2": c2, "max_iterations": max_iterations})
        meta.update({
            "name": NAME,
            "kind": "crf-pos-tagger",
            "tagset": "ud-upos",
            "labels": sorted(training["tags"]),
            "trained_on": ["UD Vietnamese-VTB train (vi_vtb-ud-train.conllu, CC BY-SA 4.0)"],
            "license": "CC BY-SA 4.0 (derived from UD Vietnamese-VTB)",
            "train_sentences": len(train),
            "training": training,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        # an interim meta.json: the scoring below loads the model from the folder
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        meta["scores"] = {"ud_vtb_dev": _score(tmp, load("vi_vtb-ud-dev.conllu"))}
        meta["size_bytes"] = (tmp / MODEL_FILE).stat().st_size
        (tmp / "ATTRIBUTION.txt").write_text(_ATTRIBUTION, encoding="utf-8")
    return meta


_ATTRIBUTION = """\
This part-of-speech model (model.crf: CRF weights; tagset: Universal POS tags, UPOS) is
derived from the Universal Dependencies Vietnamese-VTB treebank, training part
(vi_vtb-ud-train.conllu), https://github.com/UniversalDependencies/UD_Vietnamese-VTB

  Nguyen Phuong Thai, Vu Xuan Luong, Nguyen Thi Minh Huyen, Nguyen Van Hiep, Le Hong Phuong.
  Building a Large Syntactically-Annotated Corpus of Vietnamese. LAW III, 2009.

Licensed under the Creative Commons Attribution-ShareAlike 4.0 International License (CC BY-SA 4.0),
https://creativecommons.org/licenses/by-sa/4.0/ ; this derived model is distributed under the same
license. Rebuild it with: python -c "from cityai.language.pos import build_packaged_model as b; b()"
"""


def build_packaged_models(data_dir: Path | str | None = None) -> dict:
    """Rebuild both packaged models (segmenter and POS) from UD Vietnamese-VTB train."""
    from cityai.language.segment import build_packaged_model as build_segmenter

    return {"segmenter": build_segmenter(data_dir), "pos": build_packaged_model(data_dir)}
