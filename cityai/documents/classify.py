"""Classification of documents: the document type (Điều 7 of Nghị định 30/2020/NĐ-CP) and sector/topic
classifiers that an agency trains from its own labelled documents.

**Document type** (:func:`doc_type`). The rule comes first: the ND30 parse reads the type from the
title line ("QUYẾT ĐỊNH", "KẾ HOẠCH") or from the ký hiệu of the number ("140/KH-UBND"); when it
finds one, that is the answer (``source="rule"``). When it finds nothing - the header was cut off,
a poor scan lost the title line - a learned model reads the body (``source="model"``): TF-IDF of word
1-2 grams and character 2-5 grams of the normalized, lower-cased text, and a multinomial logistic
regression. It is trained on a corpus generated here from templates (``data/doctype_templates.json``:
typical body phrases of each of the 29 types, with agencies, topics, people and dates drawn at
random, header fragments, footers, cut pages and OCR-like noise; title lines and numbers are never
in it). The corpus is deterministic (seeded), so the model is rebuilt identically wherever it is
needed: it is trained at first use (a few seconds on one core), written to
``CITYAI_HOME/models/documents/doctype-<version>.npz`` and kept in memory.

**Sector/topic classifiers** (``classifier.*`` actions). An agency's editors train a named classifier
("linh-vuc") from examples (texts or the agency's documents with a label) and/or from the labelled
sector corpus shipped with the module (``data/sectors.jsonl``). Training runs as a job
(``documents.train_classifier``): two candidates - TF-IDF + logistic regression and TF-IDF + linear
SVM with sigmoid calibration - are compared by stratified k-fold cross-validation (k = min(5, the
smallest class's size)); the better macro-F1 wins; its cross-validated predictions give the report
(per-class precision, recall, F1, support; accuracy; macro-F1; confusion matrix); it is then fitted
on all the data and stored as a new version (``documents/classifiers/<agency>/<name>/v<n>/``).

**Model files** hold only numbers and text: a NumPy ``.npz`` (vocabularies as JSON bytes, IDF weights,
coefficients, calibration), read with ``allow_pickle=False``; nothing is unpickled, and prediction is
a few sparse products re-implemented here (checked against scikit-learn's own output in the tests).
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import logging
import os
import random
import re
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from sqlalchemy import func, select

from cityai.core import authz, jobs
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import T_FORBIDDEN, Problem, invalid, invalid_state, not_found
from cityai.core.jobs import JobKind, JobRun
from cityai.core.models import Agency
from cityai.documents.models import CLASSIFIER_STATUSES, Document, DocumentClassifier, DocumentLabel

log = logging.getLogger("cityai.documents.classify")

DATA = Path(__file__).resolve().parent / "data"
DOCTYPE_TEMPLATES = DATA / "doctype_templates.json"
SECTORS = DATA / "sectors.jsonl"
CORPORA = {"sectors": SECTORS}  # shipped training data an agency may start from

DOCTYPE_MODEL_VERSION = 1  # bump when the features, the learner or the generator change
DOCTYPE_PER_TYPE = 36  # generated training documents per type
DOCTYPE_SEED = 20200305  # the decree's date: any fixed number will do
MAX_CHARS = 12000  # a long document is read by its first 8000 and last 4000 characters
MAX_EXAMPLES = 50000
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CLASSIFIER = ("bộ phân loại", "classifier")
DOCUMENT = ("văn bản", "document")
ALGORITHMS = {
    "logreg": "TF-IDF (từ 1-2, ký tự 2-5) + hồi quy logistic / TF-IDF (word 1-2, char 2-5 grams) + "
              "logistic regression",
    "svm": "TF-IDF (từ 1-2, ký tự 2-5) + SVM tuyến tính hiệu chỉnh sigmoid / TF-IDF (word 1-2, char 2-5 grams) + "
           "linear SVM, sigmoid-calibrated",
}


# ------------------------------------------------------------------ text


def prepare(text: str | None) -> str:
    """The text the models read: normalized (NFC, one tone placement, OCR fixes), lower case, bounded."""
    from cityai.language.normalize import normalize_text

    raw = text or ""
    if len(raw) > 4 * MAX_CHARS:  # normalize only what is read
        raw = raw[: 3 * MAX_CHARS] + "\n" + raw[-MAX_CHARS:]
    t = normalize_text(raw).lower()
    if len(t) > MAX_CHARS:
        t = t[: MAX_CHARS * 2 // 3] + "\n" + t[-MAX_CHARS // 3:]
    return t


# ------------------------------------------------------------------ the generated document-type corpus

_SLOT_RE = re.compile(r"\{([A-Za-z_]+?)(\d?)\}")
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_OCR_SWAPS = [("o", "0"), ("l", "1"), ("i", "l"), ("rn", "m"), ("m", "rn"), ("e", "c"), ("đ", "d"), ("ư", "u"),
              ("ơ", "o"), ("ă", "a"), ("â", "a"), ("ê", "e"), ("ô", "o")]


class _Generator:
    """Documents from the template file: one per call, deterministic for a given ``random.Random``."""

    def __init__(self, spec: dict[str, Any], rng: random.Random) -> None:
        self.spec, self.rng = spec, rng
        self.env: dict[str, str] = {}

    # slots ---------------------------------------------------------
    def _date(self) -> tuple[int, int, int]:
        return self.rng.randint(1, 28), self.rng.randint(1, 12), self.rng.randint(2023, 2026)

    def _special(self, base: str) -> str | None:
        r = self.rng
        if base == "date":
            d, m, y = self._date()
            return r.choice([f"ngày {d:02d} tháng {m:02d} năm {y}", f"ngày {d} tháng {m} năm {y}"])
        if base == "short_date":
            d, m, y = self._date()
            return r.choice([f"{d:02d}/{m:02d}/{y}", f"{d}/{m}/{y}"])
        if base == "year":
            return str(r.randint(2023, 2026))
        if base == "month":
            return str(r.randint(1, 12))
        if base == "num":
            return str(r.choice([r.randint(1, 99), r.randint(100, 999), r.randint(1000, 9999)]))
        if base == "small":
            return str(r.randint(2, 30))
        if base == "days":
            return f"{r.randint(2, 30):02d}"
        if base == "phone":
            return r.choice(["028 3", "028 38", "0908 ", "0913 "]) + "".join(str(r.randint(0, 9)) for _ in range(6))
        if base == "cccd":
            return "079" + "".join(str(r.randint(0, 9)) for _ in range(9))
        if base == "email":
            return r.choice(["vanthu", "vp", "cds", "tonghop"]) + "@" + r.choice(
                ["tphcm.gov.vn", "sokhcn.hochiminhcity.gov.vn", "syt.hochiminhcity.gov.vn",
                 "q1.hochiminhcity.gov.vn"])
        if base == "ref":
            from cityai.documents.nd30 import DOC_TYPES

            name, code = r.choice(DOC_TYPES[:18])
            issuer = r.choice(["UBND", "SYT", "SGDĐT", "STC", "SNV", "SKHCN", "VP", "UBND-VX", "UBND-ĐT"])
            sym = issuer if code in (None, "CV") else f"{code}-{issuer}"
            return f"{name} số {r.randint(1, 9999)}/{sym} {self._special('date')}"
        return None

    def slot(self, name: str, digit: str) -> str:
        base = name.lower()
        key = base + digit
        if key not in self.env:
            value = self._special(base)
            if value is None:
                choices = self.spec["slots"].get(base)
                if not choices:
                    raise KeyError(f"unknown slot {{{name}}}")
                value = self.rng.choice(choices)
            self.env[key] = value
        value = self.env[key]
        if name.isupper() and len(name) > 1:
            return value.upper()
        if name[0].isupper():
            return value[:1].upper() + value[1:]
        return value

    # items ---------------------------------------------------------
    def render(self, item: Any) -> list[str]:
        """An item as a list of paragraphs (strings with line breaks)."""
        r = self.rng
        if isinstance(item, str):
            return [_SLOT_RE.sub(lambda m: self.slot(m.group(1), m.group(2)), item)]
        if isinstance(item, list):
            return self.render(r.choice(item)) if item else []
        if "some" in item:
            pool = item["some"]
            k = r.randint(item.get("min", 1), min(item.get("max", len(pool)), len(pool)))
            picked = sorted(r.sample(range(len(pool)), k))
            return [p for i in picked for p in self.render(pool[i])]
        if "x" in item:
            return self.render(item["x"]) if r.random() < item.get("p", 0.5) else []
        raise ValueError(f"bad template item: {item!r}")

    def document(self, type_name: str) -> str:
        r = self.rng
        self.env = {}
        spec = self.spec["types"][type_name]
        body = [p for part in spec["parts"] for p in self.render(part)]
        for _ in range(r.choice([0, 0, 1, 1, 2, 3])):  # sentences any type may hold
            body.insert(r.randint(0, len(body)), self.render(self.spec["filler"])[0])
        head: list[str] = []
        if r.random() < 0.35:  # what is left of a header whose title line was lost
            head = self.render({"some": self.spec["header"], "min": 1, "max": 2})
        tail: list[str] = []
        if r.random() < spec.get("footer", 0.3):
            tail = self.render({"some": self.spec["footer"], "min": 1, "max": 2})
        lines = "\n".join([*head, *body, *tail]).split("\n")
        lines = self._damage(lines)
        return "\n".join(lines)

    def _damage(self, lines: list[str]) -> list[str]:
        """Cut pages, lost lines and OCR-like letter errors, each on some of the documents."""
        r = self.rng
        n = len(lines)
        if n > 6 and r.random() < 0.3:  # a page missing at the start or the end
            a = r.randint(0, n // 4) if r.random() < 0.6 else 0
            b = n - (r.randint(0, n // 4) if r.random() < 0.6 else 0)
            lines = lines[a:max(b, a + 3)]
        if r.random() < 0.3:
            lines = [ln for ln in lines if r.random() > 0.1]
        if r.random() < 0.3:
            rate = r.choice([0.03, 0.06, 0.1])
            lines = [" ".join(_noisy_word(w, r) if r.random() < rate else w for w in ln.split(" ")) for ln in lines]
        return lines


def _noisy_word(word: str, r: random.Random) -> str:
    if r.random() < 0.5:  # a tone mark lost
        nfd = unicodedata.normalize("NFD", word)
        return unicodedata.normalize("NFC", "".join(c for c in nfd if c not in _TONES))
    a, b = r.choice(_OCR_SWAPS)
    return word.replace(a, b, 1) if a in word else word


def _templates() -> dict[str, Any]:
    return json.loads(DOCTYPE_TEMPLATES.read_text(encoding="utf-8"))


def doctype_corpus(per_type: int = DOCTYPE_PER_TYPE, seed: int = DOCTYPE_SEED) -> list[tuple[str, str]]:
    """The generated training corpus: ``per_type`` bodies (no title line, no number) of each of the 29
    types, as (text, type name) pairs. The same arguments give the same corpus."""
    from cityai.documents.nd30 import DOC_TYPES

    spec = _templates()
    rng = random.Random(seed)
    gen = _Generator(spec, rng)
    out = []
    for name, _code in DOC_TYPES:
        for _ in range(per_type):
            out.append((gen.document(name), name))
    return out


def sector_corpus(name: str = "sectors") -> list[dict[str, str]]:
    """A shipped labelled corpus (``{"text", "label"}`` rows), e.g. the sector corpus ``"sectors"``."""
    rows = []
    with open(CORPORA[name], encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                rows.append({"text": row["text"], "label": row["label"]})
    return rows


# ------------------------------------------------------------------ the model

_WORD = {"analyzer": "word", "ngram_range": (1, 2), "token_pattern": r"(?u)\b\w+\b", "max_features": 150000}
_CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5), "max_features": 200000}


def _vectorizer(kind: str, n_docs: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    params = dict(_WORD if kind == "word" else _CHAR)
    min_df = 1 if kind == "word" or n_docs < 300 else 2
    return TfidfVectorizer(lowercase=False, sublinear_tf=True, min_df=min_df, dtype=np.float32, **params)


def _features(n_docs: int) -> Any:
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([("word", _vectorizer("word", n_docs)), ("char", _vectorizer("char", n_docs))])


def _estimator(algo: str, min_class: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if algo == "logreg":  # SAGA: several times faster than L-BFGS on small agency sets (measured)
        return LogisticRegression(C=20.0, solver="saga", max_iter=500, tol=1e-3, random_state=0)
    if algo == "logreg-lbfgs":  # the document-type model (1,044 documents, 29 classes: L-BFGS is faster there)
        return LogisticRegression(C=20.0, max_iter=300, tol=1e-3)
    if algo == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold

        inner = StratifiedKFold(n_splits=min(3, min_class), shuffle=True, random_state=0)
        return CalibratedClassifierCV(LinearSVC(C=0.5, random_state=0), method="sigmoid", cv=inner, ensemble=False)
    raise ValueError(f"unknown algorithm {algo!r}")


def _pipeline(algo: str, n_docs: int, min_class: int) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", _features(n_docs)), ("clf", _estimator(algo, min_class))])


class TextModel:
    """A fitted classifier as plain arrays: two TF-IDF vocabularies, a linear model and its calibration.

    ``predict_proba`` re-implements the pipeline's transform and the classifier's probabilities with
    NumPy/SciPy, so a stored model needs no pickle and no particular scikit-learn version to be read.
    """

    def __init__(self, *, labels: list[str], algorithm: str, vocab: dict[str, list[str]], idf: dict[str, np.ndarray],
                 params: dict[str, dict[str, Any]], coef: np.ndarray, intercept: np.ndarray,
                 calibration: np.ndarray | None = None, info: dict[str, Any] | None = None) -> None:
        self.labels, self.algorithm = list(labels), algorithm
        self.vocab, self.idf, self.params = vocab, idf, params
        self.coef, self.intercept = np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)
        self.calibration = None if calibration is None else np.asarray(calibration, dtype=np.float64)
        self.info = info or {}
        self._counters: dict[str, Any] = {}

    # building ------------------------------------------------------
    @classmethod
    def from_pipeline(cls, pipe: Any, algorithm: str, info: dict[str, Any] | None = None) -> TextModel:
        union = pipe.named_steps["features"]
        vocab, idf, params = {}, {}, {}
        for name, vec in union.transformer_list:
            terms = [""] * len(vec.vocabulary_)
            for term, i in vec.vocabulary_.items():
                terms[i] = term
            vocab[name], idf[name] = terms, np.asarray(vec.idf_, dtype=np.float32)
            params[name] = {"analyzer": vec.analyzer, "ngram_range": list(vec.ngram_range),
                            "token_pattern": vec.token_pattern if vec.analyzer == "word" else None,
                            "sublinear_tf": bool(vec.sublinear_tf), "norm": vec.norm}
        clf = pipe.named_steps["clf"]
        calibration = None
        if algorithm == "svm":
            cal = clf.calibrated_classifiers_[0]
            base = cal.estimator
            coef, intercept = base.coef_, base.intercept_
            calibration = np.array([[c.a_, c.b_] for c in cal.calibrators], dtype=np.float64)
            labels = [str(x) for x in clf.classes_]
        else:
            coef, intercept, labels = clf.coef_, clf.intercept_, [str(x) for x in clf.classes_]
            algorithm = "logreg"  # the solver does not matter once fitted
        return cls(labels=labels, algorithm=algorithm, vocab=vocab, idf=idf, params=params, coef=coef,
                   intercept=intercept, calibration=calibration, info=info)

    # predicting ----------------------------------------------------
    def _counter(self, name: str) -> Any:
        if name not in self._counters:
            from sklearn.feature_extraction.text import CountVectorizer

            p = self.params[name]
            kw = {"token_pattern": p["token_pattern"]} if p["analyzer"] == "word" else {}
            self._counters[name] = CountVectorizer(
                analyzer=p["analyzer"], ngram_range=tuple(p["ngram_range"]), lowercase=False, dtype=np.float64,
                vocabulary={t: i for i, t in enumerate(self.vocab[name])}, **kw)
        return self._counters[name]

    def transform(self, texts: Sequence[str]) -> Any:
        import scipy.sparse as sp

        blocks = []
        for name in ("word", "char"):
            x = self._counter(name).transform(texts).tocsr()
            if self.params[name]["sublinear_tf"]:
                np.log(x.data, x.data)
                x.data += 1.0
            x = x @ sp.diags(self.idf[name].astype(np.float64))
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            blocks.append(sp.diags(1.0 / norms) @ x)
        return sp.hstack(blocks).tocsr()

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        x = self.transform(texts)
        return np.asarray(x @ self.coef.T) + self.intercept

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        d = self.decision(texts)
        n_classes = len(self.labels)
        if self.algorithm == "svm":
            a, b = self.calibration[:, 0], self.calibration[:, 1]
            p = 1.0 / (1.0 + np.exp(a * d + b))  # sklearn's _SigmoidCalibration: expit(-(a*T + b))
            if n_classes == 2:
                return np.column_stack([1.0 - p[:, 0], p[:, 0]])
            total = p.sum(axis=1, keepdims=True)
            return np.divide(p, total, out=np.full_like(p, 1.0 / n_classes), where=total != 0)
        if n_classes == 2:
            p1 = 1.0 / (1.0 + np.exp(-d[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        d = d - d.max(axis=1, keepdims=True)
        e = np.exp(d)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]

    # storing -------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {"format": "cityai-text-model", "format_version": 1, "labels": self.labels,
                "algorithm": self.algorithm, "params": self.params, "vocab": self.vocab, "info": self.info}
        arrays = {"meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
                  "idf_word": self.idf["word"], "idf_char": self.idf["char"], "coef": self.coef.astype(np.float32),
                  "intercept": self.intercept}
        if self.calibration is not None:
            arrays["calibration"] = self.calibration
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TextModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            if meta.get("format") != "cityai-text-model" or meta.get("format_version") != 1:
                raise ValueError("not a CityAI text model (or of another format version)")
            calibration = z["calibration"] if "calibration" in z.files else None
            return cls(labels=meta["labels"], algorithm=meta["algorithm"], vocab=meta["vocab"],
                       idf={"word": z["idf_word"], "char": z["idf_char"]}, params=meta["params"],
                       coef=z["coef"], intercept=z["intercept"], calibration=calibration, info=meta.get("info"))


def _one_blas_thread() -> Any:
    """BLAS threads only slow these small problems down (measured: the sector corpus's cross-validation
    takes 7.1 s with OpenBLAS's 2 threads, 3.4 s with one); the limit holds while training."""
    import scipy.optimize  # noqa: F401 - load every BLAS copy first: only loaded libraries are limited
    import sklearn.calibration  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def fit_model(texts: Sequence[str], labels: Sequence[str], algorithm: str = "logreg",
              info: dict[str, Any] | None = None) -> TextModel:
    """Fit one candidate on all the (prepared) texts."""
    counts = collections.Counter(labels)
    pipe = _pipeline(algorithm, len(texts), min(counts.values()))
    with _one_blas_thread():
        pipe.fit(list(texts), list(labels))
    return TextModel.from_pipeline(pipe, algorithm, info)


def evaluate(texts: Sequence[str], labels: Sequence[str],
             progress: Callable[[float, str], None] | None = None) -> tuple[str, dict[str, Any]]:
    """Choose the learner by stratified k-fold cross-validation and report its cross-validated predictions.

    Returns (algorithm, metrics). ``labels`` needs at least two classes of at least two examples each.
    """
    with _one_blas_thread():
        return _evaluate(list(texts), np.asarray(labels, dtype=object), progress)


def _evaluate(texts: list[str], y: np.ndarray,
              progress: Callable[[float, str], None] | None) -> tuple[str, dict[str, Any]]:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
    from sklearn.model_selection import StratifiedKFold

    labels = list(y)
    counts = collections.Counter(labels)
    classes = sorted(counts)
    k = min(5, min(counts.values()))
    folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=0).split(texts, y))
    train_min = min(min(collections.Counter(y[tr]).values()) for tr, _ in folds)
    candidates: dict[str, dict[str, Any]] = {}
    predictions: dict[str, np.ndarray] = {}
    plan = ["logreg", "svm"]
    steps = len(plan) * k
    done = 0
    for algo in plan:
        if algo == "svm" and train_min < 2:
            candidates[algo] = {"skipped": "each class needs 2 examples in every training fold for calibration"}
            done += k
            continue
        pred = np.empty(len(texts), dtype=object)
        for tr, te in folds:
            if progress:
                progress(done / steps, f"Kiểm định chéo {algo}: lần {done % k + 1}/{k} / Cross-validating {algo}: "
                                       f"fold {done % k + 1} of {k}")
            pipe = _pipeline(algo, len(texts), train_min)  # the same features as the final fit
            pipe.fit([texts[i] for i in tr], y[tr])
            pred[te] = pipe.predict([texts[i] for i in te])
            done += 1
        predictions[algo] = pred
        candidates[algo] = {"macro_f1": round(float(f1_score(y, pred, labels=classes, average="macro",
                                                             zero_division=0)), 4),
                            "accuracy": round(float(accuracy_score(y, pred)), 4)}
    chosen = max(predictions, key=lambda a: (candidates[a]["macro_f1"], a == "logreg"))
    pred = predictions[chosen]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    matrix = confusion_matrix(y, pred, labels=classes)
    metrics = {
        "labels": classes,
        "per_class": [{"label": c, "precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                       "f1": round(float(f[i]), 4), "support": int(s[i])} for i, c in enumerate(classes)],
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)), 4),
        "weighted_f1": round(float(f1_score(y, pred, labels=classes, average="weighted", zero_division=0)), 4),
        "confusion_matrix": {"labels": classes, "rows": "true label", "columns": "predicted label",
                             "matrix": matrix.astype(int).tolist()},
        "cv": {"scheme": "stratified k-fold cross-validation; every example is predicted by a model that did not "
                         "see it (the learner was chosen on the same folds)",
               "k": k, "shuffle": True, "random_state": 0},
        "selection": {"criterion": "macro_f1", "candidates": candidates, "chosen": chosen,
                      "chosen_description": ALGORITHMS[chosen]},
        "trained_on": len(texts),
    }
    return chosen, metrics


# ------------------------------------------------------------------ the document-type model

_DOCTYPE_LOCK = threading.Lock()
_DOCTYPE: dict[str, TextModel] = {}


def doctype_model_version() -> str:
    """``<DOCTYPE_MODEL_VERSION>-<hash of the templates and training settings>``."""
    h = hashlib.sha256(DOCTYPE_TEMPLATES.read_bytes())
    h.update(json.dumps([DOCTYPE_PER_TYPE, DOCTYPE_SEED, MAX_CHARS, _WORD, _CHAR]).encode())
    return f"{DOCTYPE_MODEL_VERSION}-{h.hexdigest()[:10]}"


def doctype_model_path(home: Path | str) -> Path:
    return Path(home) / "models" / "documents" / f"doctype-{doctype_model_version()}.npz"


def train_doctype_model() -> TextModel:
    """Generate the corpus and fit the document-type model (deterministic)."""
    corpus = doctype_corpus()
    texts = [prepare(t) for t, _ in corpus]
    labels = [name for _, name in corpus]
    return fit_model(texts, labels, "logreg-lbfgs", info={"kind": "doctype", "version": doctype_model_version(),
                                                    "trained_on": len(texts), "per_type": DOCTYPE_PER_TYPE,
                                                    "seed": DOCTYPE_SEED})


def doctype_model(home: Path | str | None = None) -> TextModel:
    """The document-type model: from memory, else from ``home``'s model file, else trained now.

    With ``home`` the file is written (atomically) when it is missing, so the next process loads it.
    """
    version = doctype_model_version()
    with _DOCTYPE_LOCK:
        model = _DOCTYPE.get(version)
        path = doctype_model_path(home) if home is not None else None
        if model is None and path is not None and path.is_file():
            try:
                model = TextModel.from_bytes(path.read_bytes())
            except (OSError, ValueError, KeyError) as exc:
                log.warning("document-type model file unreadable; training again", extra={"path": str(path),
                                                                                         "error": str(exc)})
                model = None
        if model is None:
            log.info("training the document-type model", extra={"version": version})
            model = train_doctype_model()
        _DOCTYPE[version] = model
        if path is not None and not path.is_file():
            _write_atomic(path, model.to_bytes())
        return model


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _type_code(name: str) -> str | None:
    from cityai.documents.nd30 import DOC_TYPES, LEGAL_DOC_TYPES

    return next((code for n, code in DOC_TYPES + LEGAL_DOC_TYPES if n == name), None)


def doc_type(text: str | None, fields: dict[str, Any] | None = None, *, home: Path | str | None = None,
             top: int = 5) -> dict[str, Any]:
    """The document's type: the ND30 rule (title line, ký hiệu) when it finds one, else the model.

    ``fields`` is the ND30 parse of the text when the caller already has it (``nd30.parse``); ``home``
    is where the model file lives (``platform.settings.home``). Returns ``{"doc_type", "doc_type_code",
    "source": "rule"|"model"|None, "confidence", "candidates": [{"doc_type", "doc_type_code", "p"}]}``
    (the action ``document.classify_type`` says ``"reviewer"`` when a reviewer corrected the type)
    (candidates are dicts, not (code, p) pairs, because thư công has no code).
    """
    if fields is None and text:
        from cityai.documents import nd30

        fields = nd30.parse(text)
    fields = fields or {}
    name = fields.get("doc_type")
    if name:
        code = fields.get("doc_type_code")
        conf = float((fields.get("confidence") or {}).get("doc_type") or 1.0)
        return {"doc_type": name, "doc_type_code": code, "source": "rule", "confidence": round(conf, 4),
                "candidates": [{"doc_type": name, "doc_type_code": code, "p": round(conf, 4)}]}
    prepared = prepare(text)
    if not prepared.strip():
        return {"doc_type": None, "doc_type_code": None, "source": None, "confidence": 0.0, "candidates": []}
    model = doctype_model(home)
    proba = model.predict_proba([prepared])[0]
    order = np.argsort(-proba)[:max(1, top)]
    candidates = [{"doc_type": model.labels[i], "doc_type_code": _type_code(model.labels[i]),
                   "p": round(float(proba[i]), 4)} for i in order]
    best = candidates[0]
    return {"doc_type": best["doc_type"], "doc_type_code": best["doc_type_code"], "source": "model",
            "confidence": best["p"], "candidates": candidates}


# ------------------------------------------------------------------ sector / topic classifiers: storage

_MODEL_CACHE: collections.OrderedDict[str, TextModel] = collections.OrderedDict()
_MODEL_CACHE_LOCK = threading.Lock()
_MODEL_CACHE_SIZE = 8


def load_classifier_model(platform: Any, key: str) -> TextModel:
    """A stored classifier's model (kept in a small in-memory cache; keys are never reused)."""
    with _MODEL_CACHE_LOCK:
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key]
    with platform.storage.open(key) as fh:
        model = TextModel.from_bytes(fh.read())
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE[key] = model
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return model


def _prefix(agency_id: int, name: str, version: int) -> str:
    return f"documents/classifiers/{agency_id}/{name}/v{version}"


# ------------------------------------------------------------------ authorization


def _get_classifier(ctx: Context, classifier_id: Any) -> DocumentClassifier | None:
    if isinstance(classifier_id, bool) or not isinstance(classifier_id, int):
        return None
    return ctx.db.get(DocumentClassifier, classifier_id)


def _auth_train(ctx: Context, *, agency_id: Any = None, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    return isinstance(agency_id, int) and not isinstance(agency_id, bool) and ctx.has_role(agency_id, "editor")


def _auth_member(ctx: Context, *, classifier_id: Any = None, agency_id: Any = None, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    if classifier_id is not None:
        c = _get_classifier(ctx, classifier_id)
        return c is None or ctx.has_role(c.agency_id, "member")  # an unknown id is the action's 404
    if agency_id is not None:
        return isinstance(agency_id, int) and ctx.has_role(agency_id, "member")
    return True


def _auth_label(ctx: Context, *, document_id: Any = None, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    doc = ctx.db.get(Document, document_id) if isinstance(document_id, str) and 0 < len(document_id) <= 36 else None
    return doc is None or ctx.has_role(doc.agency_id, "member")


def _forbidden_document(document_id: str, operation: str) -> Problem:
    return Problem(403, "forbidden", T_FORBIDDEN,
                   (f"Văn bản '{document_id}' thuộc cơ quan khác; không dùng được ở đây.",
                    f"Document '{document_id}' belongs to another agency; it cannot be used here."),
                   operation=operation, document_id=document_id)


def _readable_document(ctx: Context, document_id: Any, operation: str) -> Document:
    """A processed document the actor may read (404 unknown, 403 not theirs, 409 not processed yet)."""
    doc = ctx.db.get(Document, document_id) if isinstance(document_id, str) and 0 < len(document_id) <= 36 else None
    if doc is None:
        raise not_found(DOCUMENT, document_id)
    if not ctx.has_role(doc.agency_id, "member"):
        raise _forbidden_document(doc.id, operation)
    if doc.status != "ready" or not (doc.text or "").strip():
        raise invalid_state((f"Văn bản '{doc.id}' chưa xử lý xong hoặc không có chữ.",
                             f"Document '{doc.id}' has not been processed yet or has no text."))
    return doc


# ------------------------------------------------------------------ actions: document type


@authz.action("document.classify_type", scope="read", auth=authz.authenticated)
def document_classify_type(ctx: Context, *, text: str | None = None,
                           document_id: str | None = None) -> dict[str, Any]:
    """The type (Điều 7, ND30) of a text or of a document: the rule when the title line or ký hiệu is
    there, else the learned model."""
    if (text is None) == (document_id is None):
        raise invalid(("Gửi text hoặc document_id (một trong hai).", "Send text or document_id (one of them)."),
                      field="text")
    if document_id is not None:
        doc = _readable_document(ctx, document_id, "document.classify_type")
        ctx.audit_now("document.classify_type", "document", doc.id, agency_id=doc.agency_id)
        result = doc_type(doc.text, doc.fields or None, home=ctx.platform.settings.home)
        if "doc_type" in (doc.corrected or {}) and result["source"] == "rule":
            result["source"] = "reviewer"  # a reviewer's correction of the field (document.correct)
        return {**result, "document_id": doc.id}
    if not isinstance(text, str) or not text.strip():
        raise invalid(("Văn bản rỗng.", "The text is empty."), field="text")
    return doc_type(text, home=ctx.platform.settings.home)


# ------------------------------------------------------------------ actions: training


def _bad(vi: str, en: str, **extra: Any) -> Problem:
    return invalid((vi, en), **extra)


def _collect_examples(ctx: Context, agency_id: int, name: str, examples: Any, use_documents: bool,
                      corpus: str | None) -> list[tuple[str, str, str]]:
    """(text, label, source) of every training example, checked."""
    out: list[tuple[str, str, str]] = []
    subtree = set(ctx.descendants([agency_id]))
    if corpus is not None:
        if corpus not in CORPORA:
            raise _bad(f"Không có bộ dữ liệu '{corpus}'.", f"No shipped corpus '{corpus}'.", field="corpus",
                       available=sorted(CORPORA))
        out.extend((r["text"], r["label"], f"corpus:{corpus}") for r in sector_corpus(corpus))
    if examples is not None:
        if not isinstance(examples, list):
            raise _bad("examples phải là một danh sách.", "examples must be a list.", field="examples")
        if len(examples) > MAX_EXAMPLES:
            raise _bad(f"Tối đa {MAX_EXAMPLES} ví dụ.", f"At most {MAX_EXAMPLES} examples.", field="examples")
        for i, ex in enumerate(examples):
            if not isinstance(ex, dict) or set(ex) - {"text", "document_id", "label"}:
                raise _bad(f"Ví dụ {i}: chỉ có các khóa text, document_id, label.",
                           f"Example {i}: only the keys text, document_id and label.", field=f"examples[{i}]")
            label = ex.get("label")
            if not isinstance(label, str) or not label.strip() or len(label.strip()) > 100:
                raise _bad(f"Ví dụ {i}: thiếu nhãn (label, tối đa 100 ký tự).",
                           f"Example {i}: a label (up to 100 characters) is required.", field=f"examples[{i}].label")
            has_text, has_doc = ex.get("text") is not None, ex.get("document_id") is not None
            if has_text == has_doc:
                raise _bad(f"Ví dụ {i}: gửi text hoặc document_id (một trong hai).",
                           f"Example {i}: send text or document_id (one of them).", field=f"examples[{i}]")
            if has_text:
                text = ex["text"]
                if not isinstance(text, str) or not text.strip():
                    raise _bad(f"Ví dụ {i}: văn bản rỗng.", f"Example {i}: the text is empty.",
                               field=f"examples[{i}].text")
                out.append((text, " ".join(label.split()), "text"))
            else:
                doc = _readable_document(ctx, ex["document_id"], "classifier.train")
                if doc.agency_id not in subtree:
                    raise _forbidden_document(doc.id, "classifier.train")
                out.append((doc.text or "", " ".join(label.split()), f"document:{doc.id}"))
    if use_documents:
        rows = ctx.db.execute(
            select(Document.id, Document.text, DocumentLabel.label)
            .join(DocumentLabel, DocumentLabel.document_id == Document.id)
            .where(DocumentLabel.classifier == name, Document.agency_id.in_(subtree or {-1}),
                   Document.status == "ready")
            .order_by(Document.id)).all()
        out.extend((text, label, f"document:{doc_id}") for doc_id, text, label in rows if (text or "").strip())
    if not out:
        raise _bad("Không có ví dụ huấn luyện nào (examples, use_documents hoặc corpus).",
                   "No training examples (give examples, use_documents or corpus).", field="examples")
    counts = collections.Counter(label for _, label, _ in out)
    if len(counts) < 2:
        raise _bad("Cần ít nhất 2 nhãn khác nhau.", "At least 2 different labels are needed.", field="examples",
                   labels=dict(counts))
    small = sorted(label for label, n in counts.items() if n < 2)
    if small:
        raise _bad(f"Mỗi nhãn cần ít nhất 2 ví dụ; thiếu: {', '.join(small)}.",
                   f"Every label needs at least 2 examples; too few for: {', '.join(small)}.", field="examples",
                   classes=small, labels=dict(counts))
    return out


@authz.action("classifier.train", scope="write", auth=_auth_train)
def classifier_train(ctx: Context, *, agency_id: int, name: str, examples: list[dict[str, Any]] | None = None,
                     use_documents: bool = False, corpus: str | None = None) -> DocumentClassifier:
    """Train a new version of an agency's classifier (a job): from examples ({text|document_id, label}),
    the agency's labelled documents (``use_documents``) and/or a shipped corpus (``corpus="sectors"``)."""
    if ctx.db.get(Agency, agency_id) is None:
        raise not_found(("cơ quan", "agency"), agency_id)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _bad("Tên bộ phân loại chỉ gồm chữ thường không dấu, số và '-' (tối đa 63 ký tự), ví dụ 'linh-vuc'.",
                   "A classifier name is lower-case ASCII letters, digits and '-' (up to 63), e.g. 'linh-vuc'.",
                   field="name")
    data = _collect_examples(ctx, agency_id, name, examples, bool(use_documents), corpus)
    ctx.db.get(Agency, agency_id, with_for_update=True)  # serialize version numbers (PostgreSQL)
    last = ctx.db.execute(select(func.max(DocumentClassifier.version)).where(
        DocumentClassifier.agency_id == agency_id, DocumentClassifier.name == name)).scalar()
    version = (last or 0) + 1
    prefix = _prefix(agency_id, name, version)
    payload = json.dumps({"examples": [{"text": t, "label": lab, "source": src} for t, lab, src in data]},
                         ensure_ascii=False).encode("utf-8")
    ctx.platform.storage.put(f"{prefix}/training.json", payload)
    counts = collections.Counter(lab for _, lab, _ in data)
    c = DocumentClassifier(agency_id=agency_id, name=name, version=version, status="training",
                           labels=sorted(counts), metrics={}, data_key=f"{prefix}/training.json",
                           trained_on=len(data), created_by=ctx.actor.user_id,
                           sources={"corpus": corpus, "examples": len(examples or []),
                                    "documents": sum(1 for _, _, s in data if s.startswith("document:"))})
    ctx.db.add(c)
    ctx.db.flush()
    job = jobs.submit.unchecked(ctx, kind=TRAIN_JOB.name, params={"classifier_id": c.id}, agency_id=agency_id,
                                title=f"Huấn luyện bộ phân loại / Train classifier: {name} v{version}")
    c.job_id = job.id
    ctx.audit("classifier.train", "document_classifier", c.id, agency_id=agency_id, name=name, version=version,
              examples=len(data), labels=dict(counts), job_id=job.id)
    return c


def _train(run: JobRun) -> dict[str, Any]:
    platform = run.platform
    cid = run.params["classifier_id"]
    with platform.transaction() as db:
        c = db.get(DocumentClassifier, cid)
        if c is None:
            raise LookupError(f"classifier {cid} does not exist")
        agency_id, name, version, data_key = c.agency_id, c.name, c.version, c.data_key
    try:
        run.progress(1, "Đọc dữ liệu / Reading the examples", force=True)
        with platform.storage.open(data_key) as fh:
            rows = json.load(fh)["examples"]
        texts = [prepare(r["text"]) for r in rows]
        labels = [r["label"] for r in rows]
        algo, metrics = evaluate(texts, labels, progress=lambda f, msg: run.progress(3 + 85 * f, msg))
        run.progress(90, "Huấn luyện trên toàn bộ dữ liệu / Fitting on all the examples", force=True)
        model = fit_model(texts, labels, algo, info={"kind": "classifier", "classifier_id": cid, "name": name,
                                                     "version": version, "agency_id": agency_id})
        key = f"{_prefix(agency_id, name, version)}/model.npz"
        platform.storage.put(key, model.to_bytes())
    except jobs.JobCancelled:
        _fail(platform, cid, "Đã hủy / Cancelled")
        raise
    except Exception as exc:
        _fail(platform, cid, f"{type(exc).__name__}: {exc}")
        raise
    with run.unit_of_work() as ctx:
        c = ctx.db.get(DocumentClassifier, cid)
        c.status, c.error, c.algorithm, c.metrics, c.model_key = "ready", None, algo, metrics, key
        c.finished_at = utcnow()
        ctx.audit("classifier.trained", "document_classifier", cid, agency_id=agency_id, name=name, version=version,
                  algorithm=algo, accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"])
    return {"classifier_id": cid, "name": name, "version": version, "algorithm": algo,
            "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def _fail(platform: Any, classifier_id: int, error: str) -> None:
    with platform.transaction(write=True) as db:
        c = db.get(DocumentClassifier, classifier_id)
        if c is not None:
            c.status, c.error, c.finished_at = "failed", error[:4000], utcnow()


def _train_lost(platform: Any, job_id: str, params: dict) -> None:
    _fail(platform, params.get("classifier_id", -1),
          "Tiến trình huấn luyện đã dừng giữa chừng; hãy huấn luyện lại. / The worker stopped mid-way; train again.")


TRAIN_JOB = JobKind("documents.train_classifier", ("Huấn luyện bộ phân loại văn bản", "Train a document classifier"),
                    _train, auth=authz.sysadmin, retries=0, on_lost=_train_lost)


# ------------------------------------------------------------------ actions: reading and predicting


@authz.action("classifier.list", scope="read", auth=authz.authenticated)
def classifier_list(ctx: Context, *, agency_id: int | None = None, name: str | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[DocumentClassifier], int]:
    """The classifiers (every version) of the agencies the actor belongs to, newest version first."""
    stmt = select(DocumentClassifier)
    if not ctx.actor.is_sysadmin:
        stmt = stmt.where(DocumentClassifier.agency_id.in_(ctx.descendants(list(ctx.actor.roles)) or [-1]))
    if agency_id is not None:
        stmt = stmt.where(DocumentClassifier.agency_id == agency_id)
    if name:
        stmt = stmt.where(DocumentClassifier.name == name)
    total = ctx.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = ctx.db.execute(stmt.order_by(DocumentClassifier.agency_id, DocumentClassifier.name,
                                        DocumentClassifier.version.desc()).limit(limit).offset(offset)).scalars()
    return list(rows), total


@authz.action("classifier.show", scope="read", auth=_auth_member)
def classifier_show(ctx: Context, *, classifier_id: int) -> DocumentClassifier:
    """One classifier version with its evaluation report."""
    c = _get_classifier(ctx, classifier_id)
    if c is None:
        raise not_found(CLASSIFIER, classifier_id)
    return c


def find_classifier(ctx: Context, *, classifier_id: int | None = None, agency_id: int | None = None,
                    name: str | None = None) -> DocumentClassifier:
    """By id, or the latest ready version of ``name`` in ``agency_id``."""
    if classifier_id is not None:
        c = _get_classifier(ctx, classifier_id)
        if c is None:
            raise not_found(CLASSIFIER, classifier_id)
        return c
    if agency_id is None or not name:
        raise _bad("Gửi classifier_id, hoặc agency_id và name.", "Send classifier_id, or agency_id and name.",
                   field="classifier_id")
    c = ctx.db.execute(select(DocumentClassifier).where(
        DocumentClassifier.agency_id == agency_id, DocumentClassifier.name == name,
        DocumentClassifier.status == "ready").order_by(DocumentClassifier.version.desc()).limit(1)).scalar()
    if c is None:
        raise not_found(CLASSIFIER, name)
    return c


@authz.action("classifier.predict", scope="read", auth=_auth_member)
def classifier_predict(ctx: Context, *, classifier_id: int | None = None, agency_id: int | None = None,
                       name: str | None = None, text: str | None = None,
                       document_id: str | None = None) -> dict[str, Any]:
    """The label of a text or a document by a classifier (its id, or the latest ready version of a name)."""
    c = find_classifier(ctx, classifier_id=classifier_id, agency_id=agency_id, name=name)
    if c.status != "ready" or not c.model_key:
        raise invalid_state((f"Bộ phân loại chưa sẵn sàng ({c.status}).",
                             f"The classifier is not ready ({c.status})."))
    if (text is None) == (document_id is None):
        raise _bad("Gửi text hoặc document_id (một trong hai).", "Send text or document_id (one of them).",
                   field="text")
    if document_id is not None:
        doc = _readable_document(ctx, document_id, "classifier.predict")
        ctx.audit_now("classifier.predict", "document", doc.id, classifier_id=c.id, agency_id=doc.agency_id)
        text = doc.text
    elif not isinstance(text, str) or not text.strip():
        raise _bad("Văn bản rỗng.", "The text is empty.", field="text")
    model = load_classifier_model(ctx.platform, c.model_key)
    proba = model.predict_proba([prepare(text)])[0]
    best = int(np.argmax(proba))
    return {"classifier_id": c.id, "name": c.name, "version": c.version, "label": model.labels[best],
            "confidence": float(proba[best]),
            "probabilities": {lab: float(p) for lab, p in zip(model.labels, proba)},
            **({"document_id": document_id} if document_id is not None else {})}


@authz.action("classifier.label", scope="write", auth=_auth_label)
def classifier_label(ctx: Context, *, document_id: str, name: str, label: str | None) -> DocumentLabel | None:
    """Label a document for a classifier name (``label=None`` removes it); ``use_documents`` trains on these."""
    doc = ctx.db.get(Document, document_id) if isinstance(document_id, str) and 0 < len(document_id) <= 36 else None
    if doc is None:
        raise not_found(DOCUMENT, document_id)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _bad("Tên bộ phân loại không hợp lệ.", "Invalid classifier name.", field="name")
    row = ctx.db.execute(select(DocumentLabel).where(DocumentLabel.document_id == doc.id,
                                                     DocumentLabel.classifier == name)).scalar()
    if label is None:
        if row is not None:
            ctx.db.delete(row)
        ctx.audit("classifier.label", "document", doc.id, classifier=name, label=None)
        return None
    if not isinstance(label, str) or not label.strip() or len(label.strip()) > 100:
        raise _bad("Nhãn phải có 1-100 ký tự.", "A label has 1-100 characters.", field="label")
    label = " ".join(label.split())
    if row is None:
        row = DocumentLabel(document_id=doc.id, classifier=name, label=label, labelled_by=ctx.actor.user_id)
        ctx.db.add(row)
    else:
        row.label, row.labelled_by, row.created_at = label, ctx.actor.user_id, utcnow()
    ctx.db.flush()
    ctx.audit("classifier.label", "document", doc.id, classifier=name, label=label)
    return row


# ------------------------------------------------------------------ output


def to_dict(c: DocumentClassifier, locale: str = "vi", *, report: bool = True) -> dict[str, Any]:
    i = 1 if locale == "en" else 0
    out = {
        "id": c.id, "agency_id": c.agency_id, "name": c.name, "version": c.version, "status": c.status,
        "status_label": CLASSIFIER_STATUSES.get(c.status, (c.status, c.status))[i], "error": c.error,
        "algorithm": c.algorithm, "labels": c.labels or [], "trained_on": c.trained_on, "sources": c.sources or {},
        "job_id": c.job_id, "model_key": c.model_key, "created_by": c.created_by,
        "created_at": c.created_at.isoformat() if c.created_at else None,
        "finished_at": c.finished_at.isoformat() if c.finished_at else None,
    }
    metrics = c.metrics or {}
    if report:
        out["metrics"] = metrics
    else:
        out["accuracy"], out["macro_f1"] = metrics.get("accuracy"), metrics.get("macro_f1")
    return out


def label_to_dict(row: DocumentLabel) -> dict[str, Any]:
    return {"document_id": row.document_id, "name": row.classifier, "label": row.label,
            "labelled_by": row.labelled_by, "created_at": row.created_at.isoformat() if row.created_at else None}


__all__ = [
    "TRAIN_JOB", "TextModel", "classifier_label", "classifier_list", "classifier_predict", "classifier_show",
    "classifier_train", "doc_type", "doctype_corpus", "doctype_model", "doctype_model_path", "document_classify_type",
    "evaluate", "fit_model", "prepare", "sector_corpus",
]
