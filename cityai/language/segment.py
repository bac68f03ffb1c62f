"""Vietnamese word segmentation: a CRF labels each syllable B (begins a word) or I (continues one).

Pipeline: :func:`cityai.language.tokenize.syllables` splits the text into syllables with offsets, the
CRF labels them, consecutive ``B I I ...`` syllables form a word (``"Ủy ban nhân dân"``: syllables
joined by one space; syllables written without a space between them, e.g. ``"TP.HCM"``, stay joined).

Features of syllable *i* (all on lower-cased NFC syllables, tone placement ``oà``/``òa``, ``uỷ``/``ủy``
folded to one form):

- unigrams at -2..+2, bigrams (-2,-1) (-1,0) (0,1) (1,2), trigrams (-2..0) (-1..1) (0..2);
- shapes (lower / Title / UPPER / digits / number / alnum / punctuation / other) at -1..+1 and their
  pairs and triple;
- lexicon: for every multi-syllable word (2-4 syllables) of the lexicon covering *i*, its length and
  *i*'s position in it (``d20``, ``d21``, ``d31``...). The lexicon is the set of multi-syllable words of
  the training data; while training, each sentence sees the lexicon of the *other* folds only
  (jackknife, 5 folds) so the CRF learns how far an unseen-in-training lexicon hit can be trusted
  instead of memorising that every lexicon hit is a word.

Featurisation caches the per-syllable pieces (lower form, shape) and builds every n-gram string once
per sentence; the CRF runs in C (crfsuite).

A punctuation mark or symbol never joins a word; a word never spans a line break; long runs are
tagged in chunks cut after sentence punctuation.

Models (``meta.json`` has the figures of each build):

- built into ``CITYAI_HOME/models/language/segmenter/`` by :func:`train_segmenter` from VLSP 2013 WS
  train (75,389 sentences) + UD-VTB train (1,400): 2.22 M syllables, 150 L-BFGS iterations, c1 0.1,
  c2 0.01; 6.5 min on one core (59 s featurising, 324 s L-BFGS), 8.4 MB (model 8.0 MB, lexicon
  26,632 words). VLSP data may not be redistributed, so this model is never packaged.
- packaged ``cityai/language/packaged/segmenter/`` trained on UD Vietnamese-VTB train only
  (CC BY-SA 4.0; 0.8 MB), rebuilt by :func:`build_packaged_model` / :func:`build_packaged_models`.

Scores (word F1; "gold syllables" = the corpus's own syllables fed in, "raw" = the text re-tokenized by
:mod:`cityai.language.tokenize`; the VLSP 2013 *test* set is held out and was not available):

- same recipe trained without 10% of the VLSP documents (*): VLSP 2013 held-out **98.57**
  (raw text 98.56), UD-VTB dev 96.81, UD-VTB test 97.55;
- published model (all of VLSP 2013 train + UD train): UD-VTB dev 96.85, test 97.49;
- packaged model (UD-VTB train only): UD-VTB dev 88.30, test 90.72;
- peers on raw text: underthesea 9.5 ``word_tokenize`` VLSP held-out 98.45 (**), UD dev 95.38, UD test
  95.71; pyvi 0.1.1 ``ViTokenizer`` 94.92, 95.86, 97.43.

(*) 285 of 2,675 documents, ``crc32(path) % 1000 < 100``: 7,758 sentences, 176,805 words;
P 98.44 / R 98.71. (**) underthesea was trained on the whole VLSP 2013 train, these documents included.
RDRsegmenter reports 97.90 on the VLSP 2013 test set, not comparable with a held-out part of train.
Ablations (30% of the VLSP documents): the jackknifed lexicon gives 97.72 vs 96.31 with a lexicon that
includes each sentence's own words; c1 0.05 / 0.1 / 0.3 and 5 vs 10 lexicon folds change F1 by < 0.02.

UD-VTB follows its own conventions: 10% of its multi-syllable dev words never occur as one word in VLSP
2013 (some only by tone placement, ``ủy ban``/``uỷ ban``, which the features fold; others are ``con
gái``, ``phó chủ tịch``, numbers with units such as ``10 triệu``, names), and frequent VLSP words are
split there (``cho biết``, ``người dân``); hence the lower UD figures.

Speed (UD-VTB dev as raw text, 1,123 sentences, 31,927 syllables, one process, best of 2, same run):
cityai 156k syllables/s (tokenizer 1.3 M/s, features 0.3 M/s, CRF 0.3 M/s), underthesea 50k, pyvi 159k.
"""

from __future__ import annotations

import json
import random
import threading
import time
import unicodedata
import zlib
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Sequence

from cityai.language import registry
from cityai.language.crf import CrfTagger, safe, train_crf
from cityai.language.tokenize import syllables

__all__ = [
    "Segmenter",
    "get_segmenter",
    "train_segmenter",
    "build_packaged_model",
    "build_packaged_models",
    "featurize",
    "words_to_labels",
    "load_training_sentences",
]

NAME = "segmenter"
MODEL_FILE = "model.crf"
LEXICON_FILE = "lexicon.txt"

# ---------------------------------------------------------------------------------------------
# per-syllable pieces

_TONE_FOLD = {}
# old ("hoà", "thuỷ") and new ("hòa", "thủy") tone placement on open oa / oe / uy syllables
for _first, _second, _toned_first, _toned_second in (
    ("o", "a", "òóỏõọ", "àáảãạ"),
    ("o", "e", "òóỏõọ", "èéẻẽẹ"),
    ("u", "y", "ùúủũụ", "ỳýỷỹỵ"),
):
    for _k in range(5):
        _TONE_FOLD[_first + _toned_second[_k]] = _toned_first[_k] + _second


def _fold_tone(low: str) -> str:
    if len(low) >= 2 and low[-2:] in _TONE_FOLD and not (
            len(low) >= 3 and low[-3] in "qg" and low[-2] == "u"):  # qu-, gu- are consonants
        return low[:-2] + _TONE_FOLD[low[-2:]]
    return low


def _shape(tok: str) -> str:
    if tok.isalpha():
        if tok.islower():
            return "l"
        if tok.isupper():
            return "U" if len(tok) > 1 else "T"
        if tok[0].isupper() and tok[1:].islower():
            return "T"
        return "M"
    if tok.isdigit():
        return "D"
    if tok.isalnum():
        return "A"
    has_alnum = False
    has_digit = False
    for ch in tok:
        if ch.isdigit():
            has_digit = True
            has_alnum = True
            break
        if ch.isalnum():
            has_alnum = True
    if has_digit:
        return "N"
    if has_alnum:
        return "W"  # abbreviation / compound with connectors: TP., Mác-Lênin, v.v.
    cat = unicodedata.category(tok[0])
    if cat[0] == "P":
        return "P"
    return "O"


class _Pieces:
    """Cache of (lower form, shape) per surface syllable."""

    __slots__ = ("_cache",)
    MAX = 300_000

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, str]] = {}

    def get(self, tok: str) -> tuple[str, str]:
        r = self._cache.get(tok)
        if r is None:
            t = tok if tok.isascii() else unicodedata.normalize("NFC", safe(tok))
            low = _fold_tone(t.lower())
            r = (low.replace(" ", "_"), _shape(t))
            if len(self._cache) >= self.MAX:
                self._cache.clear()
            self._cache[tok] = r
        return r


_PIECES = _Pieces()


class Lexicon:
    """Multi-syllable words (lower-cased, syllables joined by one space) and 3-syllable prefixes of the
    4-syllable ones."""

    __slots__ = ("words", "pre3")

    def __init__(self, words: Iterable[str] = ()) -> None:
        ws = set()
        pre3 = set()
        for w in words:
            parts = [_PIECES.get(p)[0] for p in w.split(" ") if p]
            if 2 <= len(parts) <= 4:
                ws.add(" ".join(parts))
                if len(parts) == 4:
                    pre3.add(" ".join(parts[:3]))
        self.words = frozenset(ws)
        self.pre3 = frozenset(pre3)

    def __len__(self) -> int:
        return len(self.words)


_EMPTY_LEX = Lexicon()
_PAD = ("<s>", "S")
_PADE = ("</s>", "S")


def featurize(toks: Sequence[str], lexicon: Lexicon = _EMPTY_LEX) -> list[list[str]]:
    """Feature strings of every syllable of one sequence."""
    n = len(toks)
    if n == 0:
        return []
    get = _PIECES.get
    info = [_PAD, _PAD] + [get(t) for t in toks] + [_PADE, _PADE, _PADE]
    L = [x[0] for x in info]
    S = [x[1] for x in info]
    m = n + 5
    B = [L[k] + " " + L[k + 1] for k in range(m - 1)]
    T = [B[k] + " " + L[k + 2] for k in range(m - 2)]
    words = lexicon.words
    pre3 = lexicon.pre3
    # lexicon hits: hits[j] = list of feature names for padded position j
    hits: list[list[str] | None] = [None] * m
    if words:
        for k in range(2, n + 1):  # bigram starting at k (k, k+1 both real)
            if B[k] in words:
                for off in range(2):
                    h = hits[k + off]
                    if h is None:
                        hits[k + off] = h = []
                    h.append("d2%d" % off)
        for k in range(2, n):
            t = T[k]
            if t in words:
                for off in range(3):
                    h = hits[k + off]
                    if h is None:
                        hits[k + off] = h = []
                    h.append("d3%d" % off)
            if t in pre3 and k + 3 < n + 2 and (t + " " + L[k + 3]) in words:
                for off in range(4):
                    h = hits[k + off]
                    if h is None:
                        hits[k + off] = h = []
                    h.append("d4%d" % off)
    out = []
    append = out.append
    for j in range(2, n + 2):
        s0 = S[j]
        s1 = S[j - 1] + s0
        s2 = s0 + S[j + 1]
        f = [
            "bias",
            "u0:" + L[j],
            "u-1:" + L[j - 1],
            "u1:" + L[j + 1],
            "u-2:" + L[j - 2],
            "u2:" + L[j + 2],
            "b-2:" + B[j - 2],
            "b-1:" + B[j - 1],
            "b0:" + B[j],
            "b1:" + B[j + 1],
            "t-2:" + T[j - 2],
            "t-1:" + T[j - 1],
            "t0:" + T[j],
            "s0:" + s0,
            "s-1:" + s1,
            "s1:" + s2,
            "s:" + s1 + S[j + 1],
        ]
        h = hits[j]
        if h is not None:
            f.extend(h)
            f.append("dn:" + str(len(h)))
        append(f)
    return out


def words_to_labels(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """Syllables and their B/I labels of a gold sentence (words of syllables joined by spaces)."""
    toks: list[str] = []
    labels: list[str] = []
    for w in words:
        parts = [p for p in w.split(" ") if p]
        for i, p in enumerate(parts):
            toks.append(p)
            labels.append("B" if i == 0 else "I")
    return toks, labels


# ---------------------------------------------------------------------------------------------
# the model


_SENT_END = frozenset({".", "!", "?", ";", "…", "...", ":"})
_MAX_CHUNK = 400


class Segmenter:
    """A trained segmenter (a model folder: ``model.crf``, ``lexicon.txt``, ``meta.json``)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.meta = registry.read_meta(self.folder)
        self._crf = CrfTagger(self.folder / MODEL_FILE)
        lex_path = self.folder / LEXICON_FILE
        words = lex_path.read_text(encoding="utf-8").splitlines() if lex_path.is_file() else []
        self.lexicon = Lexicon(words)

    # -- syllables in, labels out ---------------------------------------------------------------
    def label(self, toks: Sequence[str]) -> list[str]:
        """B/I label of each syllable of one sequence (pre-tokenized input)."""
        if not toks:
            return []
        labels = self._crf.tag(featurize(toks, self.lexicon))
        labels[0] = "B"
        # a punctuation mark / symbol never joins a word (rare "I" there is noise in the training data)
        get = _PIECES.get
        for i in range(1, len(labels)):
            if labels[i] == "I" and (get(toks[i])[1] in "PO" or get(toks[i - 1])[1] in "PO"):
                labels[i] = "B"
        return labels

    def segment_tokens(self, toks: Sequence[str]) -> list[str]:
        """Words of a pre-tokenized sequence of syllables (joined by one space)."""
        out: list[str] = []
        for t, lab in zip(toks, self.label(toks)):
            if lab == "I" and out:
                out[-1] += " " + t
            else:
                out.append(t)
        return out

    # -- text in --------------------------------------------------------------------------------
    def segment_spans(self, text: str) -> list[tuple[str, int, int]]:
        """Words of ``text`` with their character offsets: ``(word, start, end)``; ``text[start:end]``
        is the word's surface (its syllables separated by the text's own whitespace)."""
        if not isinstance(text, str) or not text:
            return []
        toks = syllables(text)
        if not toks:
            return []
        out: list[tuple[str, int, int]] = []
        for chunk in _chunks(text, toks):
            labels = self.label([t[0] for t in chunk])
            cur_w = cur_s = cur_e = None
            for (tok, s, e), lab in zip(chunk, labels):
                if lab == "I" and cur_w is not None:
                    cur_w = cur_w + (" " if s > cur_e else "") + tok
                    cur_e = e
                else:
                    if cur_w is not None:
                        out.append((cur_w, cur_s, cur_e))
                    cur_w, cur_s, cur_e = tok, s, e
            if cur_w is not None:
                out.append((cur_w, cur_s, cur_e))
        return out

    def segment(self, text: str) -> list[str]:
        """Words of ``text`` (syllables joined by one space)."""
        return [w for w, _, _ in self.segment_spans(text)]

    def segment_sentences(self, texts: Iterable[str]) -> list[list[str]]:
        return [self.segment(t) for t in texts]


def _chunks(text: str, toks: list[tuple[str, int, int]]) -> Iterable[list[tuple[str, int, int]]]:
    """Split a token list at line breaks and, in long runs, after sentence punctuation."""
    cur: list[tuple[str, int, int]] = []
    prev_end = None
    for t in toks:
        if cur and (("\n" in text[prev_end:t[1]]) if t[1] > prev_end else False):
            yield cur
            cur = []
        cur.append(t)
        prev_end = t[2]
        if len(cur) >= _MAX_CHUNK or (len(cur) >= 150 and t[0] in _SENT_END):
            yield cur
            cur = []
    if cur:
        yield cur


_lock = threading.Lock()
_loaded: dict[str, tuple[tuple, Segmenter]] = {}


def _stamp(folder: Path) -> tuple:
    st = (folder / "meta.json").stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def get_segmenter(base: Path | str | None = None) -> Segmenter:
    """The segmenter to use (built into CITYAI_HOME, else the packaged one), loaded once per model
    folder and reloaded when a new model was published there."""
    folder = registry.model_dir(NAME, base)
    if folder is None:
        raise LookupError("No word segmentation model: train one (train_segmenter) or reinstall the package.")
    key = str(folder)
    try:
        stamp = _stamp(folder)
    except OSError:  # replaced under our feet: look again
        folder = registry.model_dir(NAME, base)
        if folder is None:
            raise LookupError("No word segmentation model.") from None
        key, stamp = str(folder), _stamp(folder)
    hit = _loaded.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with _lock:
        hit = _loaded.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        seg = Segmenter(folder)
        _loaded[key] = (stamp, seg)
        return seg


# ---------------------------------------------------------------------------------------------
# training


def _doc_fold(name: str, k: int) -> int:
    return zlib.crc32(name.encode("utf-8")) % k


def load_training_sentences(
    data_dir: Path | str, *, include_ud: bool = True, holdout: float = 0.0
) -> tuple[list[list[str]], list[list[str]], dict]:
    """(train sentences, held-out sentences, description) from ``data_dir``.

    ``data_dir`` is the shared data folder (``vlsp2013-ws/train`` and ``ud-vi-vtb/`` under it), or a
    folder of VLSP-style ``.seg`` files and/or ``.conllu`` files. ``holdout`` (0..1) keeps that share
    of the VLSP documents (by a hash of the file name) out of training."""
    from cityai.language.corpora import read_conllu, read_vlsp2013

    data_dir = Path(data_dir)
    vlsp = data_dir / "vlsp2013-ws" / "train"
    seg_root = vlsp if vlsp.is_dir() else data_dir
    seg_files = sorted(seg_root.rglob("*.seg")) if seg_root.is_dir() else []
    train: list[list[str]] = []
    held: list[list[str]] = []
    n_docs_held = 0
    buckets = 1000
    for f in seg_files:
        sents = read_vlsp2013(f)
        rel = str(f.relative_to(seg_root))
        if holdout > 0 and _doc_fold(rel, buckets) < holdout * buckets:
            held.extend(sents)
            n_docs_held += 1
        else:
            train.extend(sents)
    sources = []
    if seg_files:
        sources.append(f"VLSP 2013 WS train ({len(seg_files) - n_docs_held} documents)")
    ud_files: list[Path] = []
    if include_ud:
        ud = data_dir / "ud-vi-vtb" / "vi_vtb-ud-train.conllu"
        if ud.is_file():
            ud_files = [ud]
        elif data_dir.is_dir():
            ud_files = sorted(p for p in data_dir.glob("*.conllu")
                              if "test" not in p.name and "dev" not in p.name)
    for f in ud_files:
        for s in read_conllu(f):
            train.append([t.word for t in s])
        sources.append(f"UD Vietnamese-VTB {f.name}")
    info = {"trained_on": sources, "train_sentences": len(train), "heldout_sentences": len(held),
            "heldout_documents": n_docs_held}
    return train, held, info


def _build(
    sentences: Sequence[Sequence[str]],
    folder: Path,
    *,
    params: dict,
    lexicon_folds: int = 5,
    progress: Callable | None = None,
    seed: int = 13,
) -> dict:
    """Train on gold sentences and write ``model.crf`` + ``lexicon.txt`` into ``folder``."""
    data = []
    for s in sentences:
        toks, labels = words_to_labels(s)
        if toks:
            data.append((s, toks, labels))
    if not data:
        raise ValueError("no training sentences")
    # lexicon per fold (jackknife): sentence i is featurised with the words of the other folds
    rng = random.Random(seed)
    k = max(1, int(lexicon_folds))
    fold_of = [rng.randrange(k) for _ in data]
    total: Counter = Counter()
    per_fold = [Counter() for _ in range(k)]
    for (s, _, _), fo in zip(data, fold_of):
        for w in s:
            if " " in w:
                lw = w.lower()
                total[lw] += 1
                per_fold[fo][lw] += 1
    if k == 1:
        lex_of_fold = [Lexicon(total)]
    else:
        lex_of_fold = [Lexicon(w for w, c in total.items() if c - per_fold[f].get(w, 0) > 0)
                       for f in range(k)]
    t0 = time.perf_counter()

    def xs():
        for (_, toks, _), fo in zip(data, fold_of):
            yield featurize(toks, lex_of_fold[fo])

    def ys():
        for _, _, labels in data:
            yield labels

    summary = train_crf(xs(), ys(), folder / MODEL_FILE, params=params, progress=progress)
    words = sorted(total)
    (folder / LEXICON_FILE).write_text("\n".join(words) + "\n", encoding="utf-8")
    summary["lexicon_words"] = len(words)
    summary["lexicon_folds"] = k
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return summary


def train_segmenter(
    data_dir: Path | str | None = None,
    base: Path | str | None = None,
    *,
    sentences: Sequence[Sequence[str]] | None = None,
    progress: Callable[[int, int, float | None], None] | None = None,
    max_iterations: int = 150,
    c1: float = 0.1,
    c2: float = 0.01,
    lexicon_folds: int = 5,
    include_ud: bool = True,
    holdout: float = 0.0,
    evaluate_ud: bool = True,
    extra_meta: dict | None = None,
) -> dict:
    """Train a segmenter on ``data_dir`` (see :func:`load_training_sentences`) or on ``sentences``
    (gold words) and publish it as CITYAI_HOME's ``segmenter`` model; returns its meta.

    A crash leaves the published model in place (:func:`cityai.language.registry.publishing`)."""
    from cityai.language.evaluate import word_prf

    held: list[list[str]] = []
    if sentences is None:
        if data_dir is None:
            raise ValueError("data_dir or sentences is required")
        train, held, info = load_training_sentences(data_dir, include_ud=include_ud, holdout=holdout)
    else:
        train = [list(s) for s in sentences]
        info = {"trained_on": ["sentences given by the caller"], "train_sentences": len(train)}
    params = {"c1": c1, "c2": c2, "max_iterations": int(max_iterations)}
    meta: dict = {"kind": "crf-word-segmenter", "labels": ["B", "I"], **info, **(extra_meta or {})}
    with registry.publishing(NAME, meta, base) as tmp:
        meta["training"] = _build(train, tmp, params=params, lexicon_folds=lexicon_folds, progress=progress)
        scores: dict = {}
        if held or (evaluate_ud and data_dir is not None):
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            seg = Segmenter(tmp)
            if held:
                scores["vlsp2013_heldout"] = {
                    **word_prf(held, [seg.segment_tokens(words_to_labels(s)[0]) for s in held]),
                    "sentences": len(held),
                }
            if evaluate_ud and data_dir is not None:
                ud_dev = Path(data_dir) / "ud-vi-vtb" / "vi_vtb-ud-dev.conllu"
                if ud_dev.is_file():
                    from cityai.language.corpora import read_conllu

                    gold = [[t.word for t in s] for s in read_conllu(ud_dev)]
                    scores["ud_vtb_dev"] = {
                        **word_prf(gold, [seg.segment_tokens(words_to_labels(s)[0]) for s in gold]),
                        "sentences": len(gold),
                    }
            del seg
        meta["scores"] = scores
        meta["size_bytes"] = sum(f.stat().st_size for f in tmp.iterdir() if f.name != "meta.json")
    return registry.read_meta(registry.built_dir(NAME, base))


def build_packaged_model(data_dir: Path | str | None = None, *, max_iterations: int = 200,
                         c1: float = 0.1, c2: float = 0.01) -> dict:
    """Rebuild ``cityai/language/packaged/segmenter/`` from UD Vietnamese-VTB train (CC BY-SA 4.0) only."""
    from cityai.language.corpora import read_conllu, shared_data_dir
    from cityai.language.evaluate import word_prf

    data_dir = Path(data_dir) if data_dir is not None else shared_data_dir()
    if data_dir is None:
        raise FileNotFoundError("shared data folder not found")
    ud = data_dir / "ud-vi-vtb"
    train = [[t.word for t in s] for s in read_conllu(ud / "vi_vtb-ud-train.conllu")]
    meta: dict = {}
    with registry.publishing(NAME, meta, root=registry.PACKAGED) as tmp:
        training = _build(train, tmp, params={"c1": c1, "c2": c2, "max_iterations": max_iterations})
        meta.update({
            "name": NAME,
            "kind": "crf-word-segmenter",
            "labels": ["B", "I"],
            "trained_on": ["UD Vietnamese-VTB train (vi_vtb-ud-train.conllu, CC BY-SA 4.0)"],
            "license": "CC BY-SA 4.0 (derived from UD Vietnamese-VTB)",
            "train_sentences": len(train),
            "training": training,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        # an interim meta.json: the scoring below loads the model from the folder
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        seg = Segmenter(tmp)
        gold = [[t.word for t in s] for s in read_conllu(ud / "vi_vtb-ud-dev.conllu")]
        pred = [seg.segment_tokens(words_to_labels(s)[0]) for s in gold]
        meta["scores"] = {"ud_vtb_dev": word_prf(gold, pred)}
        meta["size_bytes"] = sum(f.stat().st_size for f in tmp.iterdir() if f.name != "meta.json")
        (tmp / "ATTRIBUTION.txt").write_text(_ATTRIBUTION, encoding="utf-8")
    return meta


_ATTRIBUTION = """\
This word segmentation model (model.crf: CRF weights; lexicon.txt: the multi-syllable words of the
training data) is derived from the Universal Dependencies Vietnamese-VTB treebank, training part
(vi_vtb-ud-train.conllu), https://github.com/UniversalDependencies/UD_Vietnamese-VTB

  Nguyen Phuong Thai, Vu Xuan Luong, Nguyen Thi Minh Huyen, Nguyen Van Hiep, Le Hong Phuong.
  Building a Large Syntactically-Annotated Corpus of Vietnamese. LAW III, 2009.

Licensed under the Creative Commons Attribution-ShareAlike 4.0 International License (CC BY-SA 4.0),
https://creativecommons.org/licenses/by-sa/4.0/ ; this derived model is distributed under the same
license. Rebuild it with: python -c "from cityai.language.segment import build_packaged_model as b; b()"
"""


def build_packaged_models(data_dir: Path | str | None = None) -> dict:
    """Rebuild both packaged models (segmenter and POS tagger) from UD Vietnamese-VTB train:
    ``python -c "from cityai.language.segment import build_packaged_models as b; b()"``."""
    from cityai.language.pos import build_packaged_models as build_both

    return build_both(data_dir)
