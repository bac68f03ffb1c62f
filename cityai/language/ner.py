"""Vietnamese named-entity recognition: PER, LOC, ORG, MISC (VLSP 2016) + AGENCY, DOC_REF, WARD.

Scores (VLSP 2016 NER dev.txt, 2,000 sentences / 1,444 entities; the CRF trained on train/ MINUS the
dev sentences, 14,777 sentences; conlleval exact-match entity F1). Default recipe (``resegment="union"``:
the gold-segmented sentences + copies re-segmented / re-tagged by our segmenter and POS tagger):

==========================================  =====  =====  =====  =====  =====  =====  =====
Evaluation input                            P      R      F1     PER    LOC    ORG    MISC
==========================================  =====  =====  =====  =====  =====  =====  =====
gold words, gold POS (dev.txt columns)      91.76  89.47  90.60  94.90  90.26  64.31  98.41
gold words, underthesea CRF POS (VLSP 2013) 90.40  88.64  89.51  92.93  89.88  65.90  98.41
raw text (recognize(); character spans) (*) 88.43  86.29  87.35  91.95  88.40  54.89  96.77
raw text, CRF entities only (no merge) (*)  89.53  87.05  88.27  91.96  88.40  64.09  96.77
==========================================  =====  =====  =====  =====  =====  =====  =====

Trained on the gold sentences only (``resegment=False``, the recipe before): gold words + gold POS
90.78 (PER 96.09, LOC 89.15, ORG 64.06, MISC 98.41); + underthesea POS 89.78; heuristic_pos (no tagger)
79.75; raw text (*) 79.15 (PER 84.06, LOC 79.02, ORG 51.28, MISC 96.77), CRF entities only 79.96. The
re-segmented copies alone (``"only"``): raw text (*) 87.24, gold words + gold POS 87.57.

(*) raw text = each dev sentence's words joined by spaces, run through :meth:`Recognizer.recognize` with
the segmenter and the VLSP 2016 POS tagger of ``base`` (that tagger was trained on all of train/, dev
included: optimistic for POS); entities matched by character span + label, AGENCY -> ORG, WARD -> LOC,
DOC_REF dropped (``benchmarks/language.py`` ``score_raw``). Why the gold-only model lost 11 F1 there:
VLSP 2016 splits person names into syllables (``Thomas`` / ``Good``: only 61 of 10.9k PER tokens have
several syllables) while our segmenter makes "Thomas Good" / "Nguyễn Trung Hiếu" one word, which that
CRF had seen almost only as LOC (3.7k multi-syllable LOC tokens): 113 PER entities came out as LOC.
The segmentation itself can reach 98.3 % of the dev entities (1,419 / 1,444 start and end on word
boundaries). The domain-entity merge costs ORG ~9 F1 (AGENCY spans such as "UBND tỉnh Quảng Trị" vs
VLSP's ORG/LOC spans).

Same dev, same gold tokens: ``underthesea`` 9.5.0 ``ner`` CRF (ner_crf_2017_10_12, gold words + POS +
chunks) 66.99 F1; ``underthesea.ner`` on the raw sentence (its own segmentation) 54.13 F1 by character
spans; its ``deep=True`` model needs ``transformers`` (not installed). VnCoreNLP's published 88.55 is on
the official VLSP 2016 TEST set (not available here), so it is a reference point, not a like-for-like
comparison. With the gold-only recipe: word clusters add ~0.6 F1 (90.22 without). L-BFGS c1=0.05 c2=0.01, 150 iterations (also
tried c1=0.1/c2=0.005: 90.58, c1=0.02/c2=0.02: 90.78 with a model twice as large).
The published model is trained on all 16,785 train/ sentences + their 16,785 re-segmented copies
(~3.5 min on one core: 7 s re-segmenting, ~20 s clusters, ~165 s L-BFGS); model folder ~1.8 MB.
ORG is the weak label (few examples, long spans).

How a text is analysed (:meth:`Recognizer.recognize`)
-----------------------------------------------------
1. Sentences (:func:`cityai.language.normalize.split_sentences`), words with offsets
   (``segment.get_segmenter().segment_spans``) and POS tags (``pos.get_tagger().tag``). When those
   modules or their models are missing, a fallback keeps things working: syllables from
   ``tokenize.syllables`` (else a regex), runs of capitalised syllables joined into one word, POS tags
   guessed by :func:`heuristic_pos` (capitalised -> Np, punctuation -> CH, numbers -> M, else N).
2. The CRF labels the words with BIO tags (PER, LOC, ORG, MISC); each entity's offsets are the first
   word's start and the last word's end in the ORIGINAL text.
3. :mod:`cityai.language.gazetteer` finds DOC_REF, AGENCY and WARD by rules.
4. Merge rule: domain entities win - a CRF entity that overlaps any domain entity is dropped (the
   CRF's ORG "UBND" inside AGENCY "UBND phường Bến Thành", its LOC "Bến Thành" inside a WARD).

Without a built model (a fresh install: the VLSP 2016 data may not be redistributed, so no NER model
is packaged) :func:`get_recognizer` returns a Recognizer with ``model == "rules"`` whose
``recognize`` gives the gazetteer entities only; with one, ``model == "crf"``.

Training (:func:`train_ner`, ``cityai language train ner``)
----------------------------------------------------------
Data: ``vlsp2016-ner/train/`` (VLSP 2016 NER, 266 news articles, 16.8k sentences; gold word
segmentation and POS). ``dev.txt`` (2,000 sentences) is a subset of ``train/``: to measure on it,
train with ``exclude_dev=True`` (train/ minus every dev sentence, matched by
:func:`cityai.language.corpora.sentence_key`); the published model is trained on all of train/.
The POS columns of train/ (VLSP 2016 tags NNP, Ns, Cc, Nb, Ne...) are mapped to the dev/VLSP 2013
tagset (Np, Nc, C, FW...) by :func:`canon_pos`, so either tagset works at inference. Chunk tags are
not used (none at inference). By default (``resegment="union"``) every training sentence is used twice:
as segmented in the corpus (gold POS) and re-segmented + re-tagged like raw text (words joined by
spaces -> ``segment_spans`` -> POS tagger; BIO labels projected by character overlap,
:func:`project_labels`), so the model fits both :meth:`Recognizer.tag_words` on gold words and
:meth:`Recognizer.recognize` on raw text.

CRF (python-crfsuite, L-BFGS, L1 + L2) features of word i (a word = its syllables joined by spaces):
lower-cased word; syllable count; first and last syllable; 3-character prefix / suffix; word shape
(per syllable: Title, UPPER, lower, Digit, Number-with-punctuation, Mixed, Punctuation); POS;
whether the first syllable is a common family name (Nguyễn, Trần, ...) and the middle one Văn / Thị;
trigger words in the two previous words (PER: ông, bà, anh, chị...; LOC: tại, ở, tỉnh, huyện,
sông...; ORG: công ty, trường, báo...); whether the word is a province / HCMC ward name; the run of
capitalised words it belongs to (B/I/E/S position, length); window +-2 of words, POS and shapes;
word, POS and shape bigrams, a POS trigram; sentence begin / end.

Evaluation (:func:`evaluate_ner`): conlleval-style exact entity span match, precision / recall / F1
per label and micro-averaged overall.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from cityai.language import crf, gazetteer, registry
from cityai.language.corpora import NerToken, read_vlsp2016, sentence_key, shared_data_dir

__all__ = [
    "Recognizer", "get_recognizer", "train_ner", "evaluate_ner", "entities_from_bio", "sentence_features",
    "canon_pos", "LABELS", "MODEL_FILE",
]

NAME = "ner"
MODEL_FILE = "ner.crfsuite"
FEATURE_VERSION = 1
CRF_LABELS = ("PER", "LOC", "ORG", "MISC")
LABELS = CRF_LABELS + gazetteer.LABELS
DEFAULT_PARAMS = {"c1": 0.05, "c2": 0.01, "max_iterations": 150, "feature.possible_transitions": True}

# ------------------------------------------------------------------ POS tags

_POS_MAP = {
    "NNP": "Np", "NPP": "Np", "NNPY": "Np", "Ni": "Np", "Ns": "Nc", "Ne": "Nc", "Cc": "C", "Cb": "C",
    "Nb": "FW", "Vb": "V", "Ab": "A", "Vy": "V", "B-NP": "X", "I-NP": "X", "O": "X",
    # UD Vietnamese-VTB XPOS (the packaged POS model's tagset)
    "Adj": "A", "Adv": "R", "Pre": "E", "Pro": "P", "Num": "M", "Det": "L", "SC": "C", "CC": "C", "Prt": "T",
    "Aux": "V",
    # Universal POS (UD) in case a tagger speaks it
    "NOUN": "N", "PROPN": "Np", "VERB": "V", "ADJ": "A", "ADV": "R", "ADP": "E", "PRON": "P", "NUM": "M",
    "DET": "L", "CCONJ": "C", "SCONJ": "C", "PUNCT": "CH", "PART": "T", "INTJ": "I", "AUX": "V", "SYM": "CH",
}


def canon_pos(tag: str) -> str:
    """A POS tag in the VLSP 2013 / dev.txt tagset (``NNP`` -> ``Np``, ``Ns`` -> ``Nc``, ``Cc`` -> ``C``)."""
    tag = (tag or "X").strip() or "X"
    if tag in _POS_MAP:
        return _POS_MAP[tag]
    if not any(c.isalnum() for c in tag):  # VTB punctuation tags "." "," "``" ...
        return "CH"
    return tag


# ------------------------------------------------------------------ lexicons

def _keys(words: str) -> frozenset[str]:
    return frozenset(gazetteer.tone_key(w) for w in words.split("|") if w)


_FAMILY = _keys("nguyễn|trần|lê|phạm|hoàng|huỳnh|phan|vũ|võ|đặng|bùi|đỗ|hồ|ngô|dương|lý|đinh|đào|đoàn|lâm|"
                "mai|trương|tô|hà|cao|lưu|tạ|châu|thái|vương|quách|lương|trịnh|triệu|phùng|kiều|la|tăng|"
                "văn|từ|khổng|mạc|đàm|chu|lại|thân|diệp|tôn|cù|lục|hứa|bạch|nghiêm|doãn|giang|ông|âu|"
                "kim|quan|khúc|tống|tiêu|thạch|trình|mã|viên|nông|lò|lò|hầu|phó|đồng|bế|lã")
_MIDDLE = _keys("văn|thị|hữu|đức|minh|quốc|thanh|ngọc|công|xuân|thành|trọng|kim|hoàng")
_PER_TRIGGERS = _keys("ông|bà|anh|chị|em|cô|chú|bác|cậu|dì|mợ|thím|cháu|cụ|bé|cháu|thầy|cô giáo|ngài|"
                      "chồng|vợ|con|mẹ|bố|cha|tên|gã|ả|thằng|nhà văn|nhà thơ|tướng|đại tá|thiếu tá|"
                      "trung tá|thượng tá|đại úy|thiếu úy|trung úy|tổng thống|thủ tướng|chủ tịch|bộ trưởng|"
                      "giám đốc|phó giám đốc|tổng giám đốc|bí thư|ca sĩ|nghệ sĩ|diễn viên|cầu thủ|hlv|"
                      "tiến sĩ|ts|ths|pgs|gs|bs|bác sĩ|luật sư|nhà báo|phóng viên|pv|linh mục|hòa thượng|"
                      "đồng chí|vua|hoàng đế|danh thủ|tay vợt|ngôi sao|nữ sĩ|họa sĩ|nhạc sĩ|nhà thơ")
_LOC_TRIGGERS = _keys("tại|ở|đến|từ|về|qua|sang|tỉnh|huyện|quận|xã|phường|thị xã|thị trấn|thành phố|tp|"
                      "thủ đô|sông|núi|đèo|hồ|biển|đảo|quần đảo|vịnh|đường|phố|ngõ|hẻm|làng|thôn|ấp|bản|"
                      "xóm|miền|vùng|nước|châu|khu|chợ|cầu|bến|cảng|sân bay|ga|đồi|rừng|bãi|đầm|kênh|"
                      "ngã tư|quốc lộ|tỉnh lộ|đại lộ|khu phố|xứ|bang")
_ORG_TRIGGERS = _keys("công ty|tập đoàn|tổng công ty|ngân hàng|trường|đại học|bệnh viện|báo|đài|hãng|"
                      "hội|liên đoàn|câu lạc bộ|clb|đội|ủy ban|bộ|sở|ban|viện|trung tâm|tổ chức|hiệp hội|"
                      "đảng|cơ quan|nhà máy|xí nghiệp|hợp tác xã|htx|tờ|tạp chí|nhà xuất bản|nxb|"
                      "cục|tòa án|tòa|công an|hãng tin|quỹ|học viện|thông tấn xã|doanh nghiệp")


_TRIGGERS = _PER_TRIGGERS | _LOC_TRIGGERS | _ORG_TRIGGERS


@functools.lru_cache(maxsize=1)
def _place_names() -> frozenset[str]:
    """Province and HCMC ward names (tone keys, syllables joined by spaces)."""
    names: set[str] = set()
    try:
        from cityai.data.reference import provinces, wards

        for u in [*provinces(), *wards()]:
            names.add(" ".join(gazetteer.tone_key(s) for s in u["name"].split()))
    except Exception:  # pragma: no cover - the data module ships with the package
        pass
    return frozenset(names)


# ------------------------------------------------------------------ word clusters

CLUSTER_FILE = "clusters.tsv"
CLUSTER_KS = (64, 256, 1024)


def build_clusters(sentences: Iterable[Sequence[str]], *, ks: Sequence[int] = CLUSTER_KS, min_count: int = 3,
                   contexts: int = 2000, dims: int = 100, seed: int = 13) -> dict[str, tuple[int, ...]]:
    """Distributional word clusters from unlabelled sentences (words = syllables joined by spaces):
    each word with >= ``min_count`` occurrences is described by counts of its left and right
    neighbours among the ``contexts`` most frequent words (log-scaled), reduced by truncated SVD to
    ``dims`` dimensions, L2-normalised and clustered by k-means at several granularities ``ks``.
    Returns ``{lower-cased word: (cluster at ks[0], ks[1], ...)}``. Single-threaded."""
    from collections import Counter

    import numpy as np
    from scipy import sparse
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    try:
        from threadpoolctl import threadpool_limits
    except Exception:  # pragma: no cover
        threadpool_limits = None
    sents = [[unicodedata.normalize("NFC", w).lower() for w in s] for s in sentences]
    freq = Counter(w for s in sents for w in s)
    vocab = [w for w, c in freq.most_common() if c >= min_count]
    if len(vocab) < max(ks) * 2:
        raise ValueError(f"too few words ({len(vocab)}) for {max(ks)} clusters")
    vid = {w: i for i, w in enumerate(vocab)}
    cid = {w: i for i, w in enumerate(vocab[:contexts])}
    rows, cols = [], []
    for s in sents:
        padded = ["<s>"] + s + ["</s>"]
        for k in range(1, len(padded) - 1):
            i = vid.get(padded[k])
            if i is None:
                continue
            left, right = cid.get(padded[k - 1]), cid.get(padded[k + 1])
            if left is not None:
                rows.append(i)
                cols.append(left)
            if right is not None:
                rows.append(i)
                cols.append(contexts + right)
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                          shape=(len(vocab), 2 * contexts))
    m.sum_duplicates()
    m.data = np.log1p(m.data)
    m = normalize(m)
    import contextlib

    with (threadpool_limits(limits=1) if threadpool_limits else contextlib.nullcontext()):
        x = normalize(TruncatedSVD(n_components=dims, random_state=seed).fit_transform(m))
        labels = [MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3,
                                  max_iter=100).fit_predict(x) for k in ks]
    return {w: tuple(int(lab[i]) for lab in labels) for i, w in enumerate(vocab)}


def write_clusters(path: Path, clusters: dict[str, tuple[int, ...]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for w, c in clusters.items():
            fh.write(w + "\t" + " ".join(map(str, c)) + "\n")


def read_clusters(path: Path) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            w, _, c = line.rstrip("\n").partition("\t")
            if w:
                out[w] = tuple(c.split())
    return out


# ------------------------------------------------------------------ features

_NUMERIC = re.compile(r"^[0-9][0-9.,/:%\-]*$")


def _syl_class(s: str) -> str:
    if s.isdigit():
        return "D"
    if _NUMERIC.match(s):
        return "N"
    letters = [c for c in s if c.isalpha()]
    if not letters:
        return "P"
    if not s[0].isalpha() and not s[0].isdigit():
        return "M"
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return "U"
    if letters[0].isupper():
        return "T" if all(c.islower() for c in letters[1:]) else "M"
    return "L" if all(c.islower() for c in letters) else "M"


class _Word:
    __slots__ = ("lw", "sh", "p", "n", "fs", "ls", "title", "key")

    def __init__(self, word: str, pos: str) -> None:
        word = unicodedata.normalize("NFC", word)
        syls = word.split(" ") if word else [""]
        self.lw = word.lower().replace(" ", "_")
        classes = [_syl_class(s) for s in syls]
        sh = "".join(classes)
        self.sh = sh if len(sh) <= 4 else sh[:3] + "+"
        self.p = canon_pos(pos)
        self.n = min(len(syls), 5)
        self.fs = syls[0].lower()
        self.ls = syls[-1].lower()
        self.title = all(c in "TU" for c in classes)
        self.key = " ".join(gazetteer.tone_key(s) for s in syls)


def sentence_features(words: Sequence[str], tags: Sequence[str],
                      clusters: dict[str, Sequence[str]] | None = None) -> list[list[str]]:
    """CRF features (lists of strings) of one sentence: words (syllables joined by spaces) + POS tags
    (+ word clusters from :func:`build_clusters`, keyed by the lower-cased word)."""
    W = [_Word(w, t) for w, t in zip(words, tags)]
    C: list[Sequence[str] | None] = [None] * len(W)
    if clusters:
        C = [clusters.get(w.lw.replace("_", " ")) for w in W]
    n = len(W)
    places = _place_names()
    # runs of capitalised words (the sentence's first word starts a run only if the next is capitalised too)
    run_pos = [""] * n
    run_len = [0] * n
    i = 0
    while i < n:
        if W[i].title:
            j = i
            while j < n and W[j].title:
                j += 1
            L = j - i
            for k in range(i, j):
                run_pos[k] = "S" if L == 1 else ("B" if k == i else ("E" if k == j - 1 else "I"))
                run_len[k] = min(L, 4)
            i = j
        else:
            i += 1

    def get(k: int) -> _Word | None:
        return W[k] if 0 <= k < n else None

    feats: list[list[str]] = []
    for i, w in enumerate(W):
        f = [
            "b", "w=" + w.lw, "sh=" + w.sh, "p=" + w.p, "n=%d" % w.n, "x3=" + w.lw[-3:], "b3=" + w.lw[:3],
            "p|sh=" + w.p + "|" + w.sh,
        ]
        if w.n > 1:
            f.append("fs=" + w.fs)
            f.append("ls=" + w.ls)
            syls = w.key.split(" ")
            if syls[0] in _FAMILY:
                f.append("fam")
                if len(syls) > 2 and syls[1] in _MIDDLE:
                    f.append("fam+mid")
        elif w.title and gazetteer.tone_key(w.fs) in _FAMILY:
            f.append("fam1")
        if w.key in places:
            f.append("place")
        if clusters:
            c = C[i]
            if c is None:
                f.append("c=unk")
            else:
                f.extend("c%d=%s" % (k, v) for k, v in enumerate(c))
            for d in (-1, 1):
                if 0 <= i + d < n:
                    o = C[i + d]
                    f.append("%d:c=%s" % (d, o[1] if o is not None and len(o) > 1 else "unk"))
        if run_pos[i]:
            f.append("run=" + run_pos[i] + str(run_len[i]))
        if i == 0:
            f.append("BOS")
        if i == n - 1:
            f.append("EOS")
        for d in (-2, -1, 1, 2):
            o = get(i + d)
            if o is None:
                f.append("%d:pad" % d)
                continue
            f.append("%d:w=%s" % (d, o.lw))
            f.append("%d:p=%s" % (d, o.p))
            f.append("%d:sh=%s" % (d, o.sh))
            if d < 0:
                k = o.key
                if k in _PER_TRIGGERS:
                    f.append("%d:trig=PER" % d)
                if k in _LOC_TRIGGERS:
                    f.append("%d:trig=LOC" % d)
                if k in _ORG_TRIGGERS:
                    f.append("%d:trig=ORG" % d)
        a, b = get(i - 1), get(i + 1)
        f.append("w-1|w=%s|%s" % (a.lw if a else "^", w.lw))
        f.append("w|w+1=%s|%s" % (w.lw, b.lw if b else "$"))
        f.append("p-1|p=%s|%s" % (a.p if a else "^", w.p))
        f.append("p|p+1=%s|%s" % (w.p, b.p if b else "$"))
        f.append("p-1|p|p+1=%s|%s|%s" % (a.p if a else "^", w.p, b.p if b else "$"))
        f.append("sh-1|sh=%s|%s" % (a.sh if a else "^", w.sh))
        f.append("sh|sh+1=%s|%s" % (w.sh, b.sh if b else "$"))
        if a is not None:
            f.append("w-1|sh=%s|%s" % (a.lw, w.sh))
        feats.append([crf.safe(x) for x in f])
    return feats


# ------------------------------------------------------------------ BIO <-> entities


def entities_from_bio(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(label, first, last+1)`` word spans of a BIO sequence, conlleval-style: an ``I-X`` that does
    not continue an X entity starts a new one."""
    out: list[tuple[str, int, int]] = []
    label, start = None, 0
    for i, t in enumerate(list(tags) + ["O"]):
        t = t or "O"
        if t == "O" or t.startswith("B-") or (t.startswith("I-") and t[2:] != label):
            if label is not None:
                out.append((label, start, i))
                label = None
            if t != "O":
                label, start = t[2:] if "-" in t else t, i
    return out


def evaluate_ner(sentences: Iterable[Sequence[NerToken]],
                 predict: Callable[[Sequence[NerToken]], Sequence[str]]) -> dict[str, Any]:
    """Entity-level precision / recall / F1 (exact span and label match, conlleval-style) per label and
    micro-averaged overall. ``predict(sentence)`` returns one BIO tag per token of a gold sentence
    (list of :class:`~cityai.language.corpora.NerToken`)."""
    gold_n: dict[str, int] = {}
    pred_n: dict[str, int] = {}
    correct: dict[str, int] = {}
    n_sent = n_tok = tok_ok = 0
    for sent in sentences:
        gold_tags = [t.ner for t in sent]
        pred_tags = list(predict(sent))
        if len(pred_tags) != len(gold_tags):
            raise ValueError(f"predict returned {len(pred_tags)} tags for {len(gold_tags)} tokens")
        n_sent += 1
        n_tok += len(gold_tags)
        tok_ok += sum(a == b for a, b in zip(gold_tags, pred_tags))
        g = set(entities_from_bio(gold_tags))
        p = set(entities_from_bio(pred_tags))
        for lab, *_ in g:
            gold_n[lab] = gold_n.get(lab, 0) + 1
        for lab, *_ in p:
            pred_n[lab] = pred_n.get(lab, 0) + 1
        for lab, *_ in g & p:
            correct[lab] = correct.get(lab, 0) + 1

    def prf(c: int, p: int, g: int) -> dict[str, Any]:
        pr = c / p if p else 0.0
        rc = c / g if g else 0.0
        f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        return {"precision": round(pr * 100, 2), "recall": round(rc * 100, 2), "f1": round(f1 * 100, 2),
                "gold": g, "predicted": p, "correct": c}

    labels = sorted(set(gold_n) | set(pred_n))
    per = {lab: prf(correct.get(lab, 0), pred_n.get(lab, 0), gold_n.get(lab, 0)) for lab in labels}
    overall = prf(sum(correct.values()), sum(pred_n.values()), sum(gold_n.values()))
    return {"overall": overall, "labels": per, "sentences": n_sent, "tokens": n_tok,
            "token_accuracy": round(tok_ok / n_tok * 100, 2) if n_tok else 0.0}


# ------------------------------------------------------------------ training


def _ner_folder(data_dir: Path | str | None) -> Path:
    """``vlsp2016-ner/`` from the shared data folder or the folder itself."""
    root = Path(data_dir) if data_dir is not None else shared_data_dir()
    if root is None:
        raise FileNotFoundError("no training data folder (../shared/data)")
    for cand in (root / "vlsp2016-ner", root):
        if (cand / "train").is_dir():
            return cand
    raise FileNotFoundError(f"no vlsp2016-ner/train under {root}")


def train_ner(data_dir: Path | str | None = None, base: Path | str | None = None, *,
              exclude_dev: bool = False,
              progress: Callable[..., None] | None = None, params: dict | None = None,
              evaluate_dev: bool | None = None, extra_meta: dict | None = None,
              clusters: bool = True, resegment: str | bool | None = "union",
              segmenter: Any = None, tagger: Any = None) -> dict[str, Any]:
    """Train the CRF on ``vlsp2016-ner/train/`` and publish it as the "ner" model (atomically: a crash
    leaves the published model as it was). ``data_dir`` is the shared data folder or ``vlsp2016-ner/``.

    ``exclude_dev``: leave out every ``dev.txt`` sentence (to measure on dev honestly). ``evaluate_dev``
    (default: same as ``exclude_dev``) scores the new model on ``dev.txt`` with its gold POS tags into
    ``meta["scores"]``. ``clusters``: also learn word clusters (:func:`build_clusters`) from the
    training sentences' words plus, when present beside it, the VLSP 2013 word-segmentation corpus
    (``vlsp2013-ws/train``), and use them as features. ``progress(done_fraction, message)`` is called
    during training.

    ``resegment`` (default ``"union"``): besides the gold-segmented sentences (gold POS), also train on
    copies re-segmented and re-tagged the way :meth:`Recognizer.recognize` sees raw text (gold words
    joined by spaces -> the segmenter -> the POS tagger; labels projected by :func:`project_labels`),
    so that the CRF learns e.g. the segmenter's one-word person names (VLSP 2016 splits them into
    syllables). ``"only"``: the re-segmented copies alone; ``False``/``None``: gold sentences only.
    ``segmenter`` / ``tagger`` default to ``segment.get_segmenter(base)`` / ``pos.get_tagger(base)``
    (the ones the Recognizer under ``base`` uses); without a segmenter, gold sentences only.
    Returns the model's meta."""
    folder = _ner_folder(data_dir)
    p = {**DEFAULT_PARAMS, **(params or {})}
    evaluate_dev = exclude_dev if evaluate_dev is None else evaluate_dev
    sents = read_vlsp2016(folder / "train")
    dev_path = folder / "dev.txt"
    dev = read_vlsp2016(dev_path) if dev_path.is_file() and (exclude_dev or evaluate_dev) else []
    n_all = len(sents)
    if exclude_dev:
        keys = {sentence_key([t.word for t in s]) for s in dev}
        sents = [s for s in sents if sentence_key([t.word for t in s]) not in keys]
    if resegment not in (None, False, "union", "only"):
        raise ValueError(f"resegment must be 'union', 'only' or False, not {resegment!r}")
    # (words, POS, BIO) training sequences
    gold_seqs = [([t.word for t in s], [t.pos for t in s], [t.ner if t.ner in _VALID_TAGS else "O" for t in s])
                 for s in sents]
    seqs = gold_seqs
    reseg_info: dict[str, Any] | None = None
    if resegment:
        t_seg = time.perf_counter()
        if progress:
            progress(0.0, "re-segmenting the training sentences")
        if segmenter is None:
            try:
                from cityai.language.segment import get_segmenter

                segmenter = get_segmenter(base)
            except Exception:
                segmenter = None
        if segmenter is not None and tagger is None:
            try:
                from cityai.language.pos import get_tagger

                tagger = get_tagger(base)
            except Exception:
                tagger = None
        packaged = [name for name, m in (("segmenter", segmenter), ("pos", tagger))
                    if m is not None and Path(getattr(m, "folder", "") or "").parent == registry.PACKAGED]
        if packaged:
            # the packaged UD-VTB models are not what a deployment with VLSP data serves (and the packaged
            # POS speaks another tagset): train on the gold sentences only; build them first (train all)
            reseg_info = {"mode": None, "skipped": f"only packaged models for {', '.join(packaged)}: "
                                                  "run 'cityai language train segmenter' and 'pos' first"}
            segmenter = None
        if segmenter is not None:
            reseg = resegment_sentences(sents, segmenter, tagger)
            changed = sum(1 for r, g in zip(reseg, gold_seqs) if r[0] != g[0])
            seqs = reseg if resegment == "only" else gold_seqs + reseg
            reseg_info = {"mode": resegment, "sentences": len(reseg), "segmentation_differs": changed,
                          "pos": "predicted" if tagger is not None else "heuristic_pos",
                          "seconds": round(time.perf_counter() - t_seg, 1)}
    if progress:
        progress(0.0, f"{len(seqs)} sequences")
    total = int(p.get("max_iterations") or 100)

    def report(it: int, _total: int, loss: float | None) -> None:
        if progress:
            msg = f"iteration {it} loss {loss:.1f}" if loss else f"iteration {it}"
            progress(min(it / max(total, 1), 0.99), msg)

    t0 = time.perf_counter()
    cmap: dict[str, tuple] | None = None
    cluster_info: dict[str, Any] | None = None
    if clusters:
        if progress:
            progress(0.0, "word clusters")
        unlabelled = [w for w, _, _ in seqs]
        ws = folder.parent / "vlsp2013-ws" / "train"
        sources = ["VLSP 2016 NER training words"]
        if ws.is_dir():
            from cityai.language.corpora import read_vlsp2013

            unlabelled += read_vlsp2013(ws)
            sources.append("VLSP 2013 WS train")
        try:
            raw = build_clusters(unlabelled)
        except ValueError:  # a tiny corpus: too few words to cluster
            raw = None
        if raw:
            cmap = {w: tuple(str(c) for c in v) for w, v in raw.items()}
            cluster_info = {"words": len(cmap), "ks": list(CLUSTER_KS), "sources": sources,
                            "seconds": round(time.perf_counter() - t0, 1)}
    meta: dict[str, Any] = {
        "trained_on": f"VLSP 2016 NER train/ ({len(sents)} of {n_all} sentences"
                      + (", dev.txt sentences excluded)" if exclude_dev else ")"),
        "labels": list(LABELS), "crf_labels": list(CRF_LABELS), "feature_version": FEATURE_VERSION,
        "tagset": "VLSP 2013 POS (canon_pos)", "version": FEATURE_VERSION,
    }
    if cluster_info:
        meta["clusters"] = cluster_info
    meta["resegmented"] = reseg_info or {"mode": None}
    with registry.publishing(NAME, meta, base) as tmp:
        path = tmp / MODEL_FILE
        if cmap is not None:
            write_clusters(tmp / CLUSTER_FILE, cmap)
        summary = crf.train_crf(
            (sentence_features(w, p, cmap) for w, p, _ in seqs),
            (bio for _, _, bio in seqs),
            path, params=p, progress=report,
        )
        meta["training"] = summary
        meta["size_bytes"] = sum(f.stat().st_size for f in tmp.iterdir())
        if evaluate_dev and dev:
            tagger = crf.CrfTagger(path)
            scores = evaluate_ner(dev, lambda s: tagger.tag(sentence_features([t.word for t in s],
                                                                                [t.pos for t in s], cmap)))
            meta["scores"] = {"dev_gold_pos": scores["overall"] | {"labels": {
                k: v["f1"] for k, v in scores["labels"].items()}}, "dev_in_training": not exclude_dev}
        if not exclude_dev and cmap is not None and not params and resegment == "union" \
                and reseg_info:  # the configuration measured above
            meta.setdefault("scores", {})["reference_heldout"] = REFERENCE_SCORES
        if extra_meta:
            meta.update(extra_meta)
        meta["seconds"] = round(time.perf_counter() - t0, 1)
        # publishing() writes meta.json from the very dict it was given, so the updates above count
    final = registry.built_dir(NAME, base)
    get_recognizer.cache_clear()
    if progress:
        progress(1.0, "done")
    return registry.read_meta(final)


# Measured with this feature set and DEFAULT_PARAMS, trained on train/ minus dev.txt (14,777 sentences),
# scored on dev.txt (2,000 sentences, 1,444 entities); recorded in the meta of models trained on all of
# train/ (their own dev score would be on training data).
REFERENCE_SCORES = {
    "dev_heldout_gold_pos": {"precision": 91.76, "recall": 89.47, "f1": 90.6,
                             "labels": {"PER": 94.9, "LOC": 90.26, "ORG": 64.31, "MISC": 98.41}},
    "dev_heldout_predicted_pos": {"precision": 90.4, "recall": 88.64, "f1": 89.51,
                                  "pos_tagger": "underthesea 9.5.0 CRF POS (VLSP 2013), gold words"},
    "dev_heldout_raw_text": {"precision": 88.43, "recall": 86.29, "f1": 87.35,
                             "labels": {"PER": 91.95, "LOC": 88.4, "ORG": 54.89, "MISC": 96.77},
                             "note": "recognize() on the words joined by spaces, our segmenter + VLSP 2016 POS "
                                     "tagger (trained on data holding dev); character spans"},
}

_VALID_TAGS = {f"{p}-{lab}" for p in "BI" for lab in CRF_LABELS} | {"O"}



# ------------------------------------------------------------------ re-segmented training copies


def project_labels(words: Sequence[str], ner_tags: Sequence[str],
                   spans: Sequence[tuple[str, int, int]]) -> list[str]:
    """BIO tags of re-segmented words. ``words`` / ``ner_tags`` are a gold sentence; ``spans`` are
    ``(word, start, end)`` offsets of other words of the same text (the gold words joined by single
    spaces, as :meth:`Recognizer.recognize` sees raw text). A word gets the label of the gold entity
    that covers most of its (non-space) characters, if that entity covers at least half of them, else
    "O"; the first word given an entity is ``B-``, the next ones ``I-``."""
    ents: list[tuple[int, int, str]] = []  # character spans of the gold entities
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    for label, i, j in entities_from_bio([t if t in _VALID_TAGS else "O" for t in ner_tags]):
        ents.append((starts[i], starts[j - 1] + len(words[j - 1]), label))
    text = " ".join(words)
    out: list[str] = []
    prev = None
    for _, a, b in spans:
        size = sum(1 for c in text[a:b] if not c.isspace()) or 1
        best, best_n = None, 0
        for k, (ea, eb, _lab) in enumerate(ents):
            lo, hi = max(a, ea), min(b, eb)
            if hi > lo:
                n = sum(1 for c in text[lo:hi] if not c.isspace())
                if n > best_n:
                    best, best_n = k, n
        if best is None or 2 * best_n < size:
            out.append("O")
            prev = None
            continue
        out.append(("I-" if prev == best else "B-") + ents[best][2])
        prev = best
    return out


def resegment_sentences(sentences: Iterable[Sequence[NerToken]], segmenter: Any, tagger: Any = None,
                        ) -> list[tuple[list[str], list[str], list[str]]]:
    """``(words, POS tags, BIO tags)`` of gold sentences re-segmented the way raw text is: the gold
    words joined by spaces -> ``segmenter.segment_spans`` -> ``tagger.tag`` (else :func:`heuristic_pos`),
    labels by :func:`project_labels`."""
    out = []
    for s in sentences:
        words = [t.word for t in s]
        spans = [(w, a, b) for w, a, b in segmenter.segment_spans(" ".join(words)) if w.strip()]
        if not spans:
            continue
        new = [w for w, _, _ in spans]
        tags = list(tagger.tag(new)) if tagger is not None else heuristic_pos(new)
        if len(tags) != len(new):
            tags = heuristic_pos(new)
        out.append((new, tags, project_labels(words, [t.ner for t in s], spans)))
    return out


# ------------------------------------------------------------------ inference

_FALLBACK_TOKEN = re.compile(r"[^\W_]+(?:[.,/:\-][^\W_]+)*|\S", re.UNICODE)


def _fallback_spans(text: str) -> list[tuple[str, int, int]]:
    """Words without the segmenter: syllables (``tokenize.syllables`` or a regex), consecutive
    capitalised syllables joined into one word (as our segmenter does with names)."""
    try:
        from cityai.language.tokenize import syllables

        toks = [(t, a, b) for t, a, b in syllables(text)]
    except Exception:
        toks = [(m.group(), m.start(), m.end()) for m in _FALLBACK_TOKEN.finditer(text)]
    out: list[tuple[str, int, int]] = []
    for t, a, b in toks:
        cap = t[:1].isupper() and t[:1].isalpha()
        prev = out[-1][0] if out else ""
        if out and cap and prev[:1].isupper() and prev.replace(" ", "").isalpha() and t.isalpha() \
                and text[out[-1][2]:a].isspace() and "\n" not in text[out[-1][2]:a] \
                and gazetteer.tone_key(prev) not in _TRIGGERS:
            w, s0, _ = out[-1]
            out[-1] = (w + " " + t, s0, b)
        else:
            out.append((t, a, b))
    return out


def heuristic_pos(words: Sequence[str]) -> list[str]:
    """Stand-in POS tags when no tagger is available: Np for capitalised words (not the sentence's
    first word unless the next one is capitalised too), CH for punctuation, M for numbers, else N."""
    tags = []
    for i, w in enumerate(words):
        c = _syl_class(w.split(" ")[0]) if w else "P"
        if c == "P" or (c == "M" and not any(ch.isalnum() for ch in w)):
            tags.append("CH")
        elif c in ("D", "N"):
            tags.append("M")
        elif c in ("T", "U") and (i > 0 or (len(words) > 1 and words[1][:1].isupper())):
            tags.append("Np")
        else:
            tags.append("N")
    return tags


class Recognizer:
    """Named entities of Vietnamese text, with character offsets into the input.

    ``model`` is ``"crf"`` when a trained NER model is loaded (VLSP 2016 labels + the domain rules) and
    ``"rules"`` when none was built (fresh install: only DOC_REF, AGENCY and WARD from
    :mod:`cityai.language.gazetteer`)."""

    def __init__(self, folder: Path | str | None = None, base: Path | str | None = None) -> None:
        if folder is None:
            folder = registry.model_dir(NAME, base)
        self.folder = Path(folder) if folder is not None else None
        self.base = base
        self.meta: dict[str, Any] = {}
        self._tagger: crf.CrfTagger | None = None
        self.clusters: dict[str, tuple[str, ...]] | None = None
        if self.folder is not None and (self.folder / MODEL_FILE).is_file():
            self.meta = registry.read_meta(self.folder)
            self._tagger = crf.CrfTagger(self.folder / MODEL_FILE)
            if (self.folder / CLUSTER_FILE).is_file():
                self.clusters = read_clusters(self.folder / CLUSTER_FILE)
        self.model = "crf" if self._tagger is not None else "rules"
        self._lock = threading.Lock()
        self._segmenter: Any = None
        self._pos: Any = None
        self._loaded = False

    # -- the pipeline's other models, loaded lazily with fallbacks
    def _load_pipeline(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            try:
                from cityai.language.segment import get_segmenter

                self._segmenter = get_segmenter(self.base)
            except Exception:
                self._segmenter = None
            try:
                from cityai.language.pos import get_tagger

                self._pos = get_tagger(self.base)
            except Exception:
                self._pos = None
            self._loaded = True

    def _words(self, text: str) -> list[tuple[str, int, int]]:
        if self._segmenter is not None:
            try:
                return [(w, a, b) for w, a, b in self._segmenter.segment_spans(text)]
            except Exception:
                pass
        return _fallback_spans(text)

    def _tags(self, words: list[str]) -> list[str]:
        if self._pos is not None:
            try:
                tags = list(self._pos.tag(words))
                if len(tags) == len(words):
                    return tags
            except Exception:
                pass
        return heuristic_pos(words)

    @staticmethod
    def _sentences(text: str) -> list[tuple[int, int]]:
        try:
            from cityai.language.normalize import split_sentences

            spans = [(a, b) for _, a, b in split_sentences(text)]
            if spans:
                return spans
        except Exception:
            pass
        return [(0, len(text))]

    def tag_words(self, words: Sequence[str], tags: Sequence[str]) -> list[str]:
        """BIO tags (PER/LOC/ORG/MISC) of already segmented + POS-tagged words ("O" everywhere
        without a model)."""
        if self._tagger is None or not words:
            return ["O"] * len(words)
        return self._tagger.tag(sentence_features(list(words), list(tags), self.clusters))

    def _crf_entities(self, text: str) -> list[dict]:
        self._load_pipeline()
        out: list[dict] = []
        for s0, s1 in self._sentences(text):
            part = text[s0:s1]
            spans = [(w, a, b) for w, a, b in self._words(part) if w.strip()]
            if not spans:
                continue
            for k in range(0, len(spans), 250):  # bound pathological "sentences"
                chunk = spans[k:k + 250]
                words = [w for w, _, _ in chunk]
                bio = self.tag_words(words, self._tags(words))
                for label, i, j in entities_from_bio(bio):
                    a, b = s0 + chunk[i][1], s0 + chunk[j - 1][2]
                    out.append({"text": text[a:b], "label": label, "start": a, "end": b})
        return out

    def recognize(self, text: str) -> list[dict]:
        """Entities ``{"text", "label", "start", "end"}`` (offsets into ``text``; ``text[start:end] ==
        entity["text"]``), sorted by start, never overlapping. Domain entities (DOC_REF, AGENCY, WARD)
        win: a statistical entity overlapping one of them is dropped."""
        if not isinstance(text, str) or not text.strip():
            return []
        domain = gazetteer.recognize(text)
        if self._tagger is None:
            return domain
        stat = [e for e in self._crf_entities(text)
                if all(e["end"] <= d["start"] or e["start"] >= d["end"] for d in domain)]
        return sorted(domain + stat, key=lambda e: (e["start"], e["end"]))

    def recognize_many(self, texts: Iterable[str]) -> list[list[dict]]:
        """:meth:`recognize` for each text."""
        return [self.recognize(t) for t in texts]


_CACHE: dict[str, Recognizer] = {}
_CACHE_LOCK = threading.Lock()


def get_recognizer(base: Path | str | None = None) -> Recognizer:
    """The Recognizer of the published "ner" model under ``base`` (CITYAI_HOME by default), cached;
    a rules-only one when no model was built. The cache notices a newly published model."""
    folder = registry.model_dir(NAME, base)
    stamp = ""
    if folder is not None and (folder / "meta.json").is_file():
        stamp = f"{folder}:{(folder / 'meta.json').stat().st_mtime_ns}"
    key = f"{base}|{stamp}"
    with _CACHE_LOCK:
        rec = _CACHE.get(key)
        if rec is None:
            for k in [k for k in _CACHE if k.startswith(f"{base}|")]:
                del _CACHE[k]
            rec = Recognizer(folder, base=base)
            _CACHE[key] = rec
        return rec


def _cache_clear() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


get_recognizer.cache_clear = _cache_clear  # type: ignore[attr-defined]
