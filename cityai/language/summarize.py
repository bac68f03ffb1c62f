"""Extractive summaries from e5 sentence embeddings: TextRank or centroid salience, lead bonus, MMR.

:func:`summarize` picks sentences of one text; :func:`digest` picks sentences across several
documents (a morning digest of reports) and says where each came from. Nothing is generated: every
output sentence is a span of the input (``text[start:end]``), returned in reading order.

1. Sentences: :func:`cityai.language.normalize.split_sentences` (abbreviation-aware), else a regex
   splitter. Fragments without a letter or digit are dropped.
2. Embeddings: :mod:`cityai.language.embed` (cached), with the ``"query: "`` prefix on every sentence,
   as the e5 model card prescribes for symmetric similarity.
3. Salience, min-max scaled to [0, 1]:
   - ``method="textrank"`` (default): PageRank (damping 0.85, power iteration) over the sentence
     graph whose edge weights are the cosine similarities above their mean (e5 cosines of unrelated
     sentences are already ~0.75, so raw cosines would make an almost uniform graph);
   - ``method="centroid"``: cosine with the mean sentence vector.
4. Position: ``score = (1 - lead_weight) * salience + lead_weight / sqrt(1 + position)``; the lead of
   a news item or an official letter usually says what it is about (``lead_weight=0.2``).
5. Selection by maximal marginal relevance: repeatedly the sentence maximising
   ``lam * score - (1 - lam) * max redundancy with the chosen ones`` (``lam=0.7``; redundancy is the
   cosine rescaled so that the set's mean similarity is 0 and identity 1), skipping near duplicates
   (cosine >= ``dup_threshold`` = 0.985 to a chosen one; e5 puts two short sentences that differ by
   one word near 0.97) and sentences that would overflow ``max_chars``; stops at ``max_sentences``.
   In a digest a sentence from a document not yet represented gets ``source_bonus`` (0.1), so the
   digest spreads over the documents.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np

__all__ = ["digest", "split_sentences", "summarize"]

EMBED_CHARS = 1000  # a sentence is represented by its first 1,000 characters (bounded cost per sentence)
_FALLBACK_SPLIT = re.compile(r"[^.!?…\n]+(?:[.!?…]+[\"'”’)\]]*|\n+|$)")
_HAS_WORD = re.compile(r"\w", re.UNICODE)


def split_sentences(text: str) -> list[tuple[str, int, int]]:
    """``(sentence, start, end)`` spans of ``text`` (stripped), without blank or punctuation-only ones."""
    if not text or not text.strip():
        return []
    try:
        from cityai.language.normalize import split_sentences as _split

        raw = _split(text)
    except ImportError:
        raw = [(m.group(0), m.start(), m.end()) for m in _FALLBACK_SPLIT.finditer(text)]
    out = []
    for _s, a, b in raw:
        seg = text[a:b]
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg) - len(seg.rstrip())
        a2, b2 = a + lead, b - trail
        if b2 > a2 and _HAS_WORD.search(text[a2:b2]):
            out.append((text[a2:b2], a2, b2))
    return out


def _embed(sentences: Sequence[str], embedder: Any, base: Any) -> np.ndarray:
    if embedder is None:
        from cityai.language.embed import get_embedder

        embedder = get_embedder(base)
    return np.asarray(embedder.embed(list(sentences), "query"), dtype=np.float32)


def _minmax(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def textrank(emb: np.ndarray, damping: float = 0.85, iters: int = 200, tol: float = 1e-9) -> np.ndarray:
    """PageRank scores (summing to 1) over the similarity graph of unit rows ``emb``."""
    n = emb.shape[0]
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    sim = emb @ emb.T
    off = ~np.eye(n, dtype=bool)
    w = np.where(off, np.maximum(sim - sim[off].mean(), 0.0), 0.0).astype(np.float64)
    rows = w.sum(axis=1, keepdims=True)
    # a sentence with no edge jumps uniformly (dangling node)
    p = np.where(rows > 0, w / np.where(rows > 0, rows, 1.0), 1.0 / n)
    r = np.full(n, 1.0 / n)
    for _ in range(iters):
        nr = (1.0 - damping) / n + damping * (p.T @ r)
        if np.abs(nr - r).sum() < tol:
            r = nr
            break
        r = nr
    return r / r.sum()


def _salience(emb: np.ndarray, method: str) -> np.ndarray:
    if method == "textrank":
        return _minmax(textrank(emb))
    if method == "centroid":
        c = emb.mean(axis=0)
        c /= np.linalg.norm(c) or 1.0
        return _minmax(emb @ c)
    raise ValueError("method must be 'textrank' or 'centroid'")


def _lead(positions: Sequence[int]) -> np.ndarray:
    return np.array([1.0 / math.sqrt(1 + p) for p in positions])


def _mmr(emb: np.ndarray, score: np.ndarray, lengths: Sequence[int], max_sentences: int,
         max_chars: int | None, lam: float, dup_threshold: float,
         groups: Sequence[int] | None = None, source_bonus: float = 0.0) -> list[int]:
    n = len(score)
    # redundancy on a rescaled cosine: 0 at the set's mean similarity, 1 for identical sentences
    # (e5 puts unrelated sentences near 0.8, so raw cosines would penalise everything alike)
    sim_all = emb @ emb.T
    mu = float(sim_all[~np.eye(n, dtype=bool)].mean()) if n > 1 else 0.0
    mu = min(mu, 0.99)
    chosen: list[int] = []
    used_chars = 0
    maxsim = np.full(n, -np.inf)
    banned = np.zeros(n, dtype=bool)
    seen_groups: set[int] = set()
    while len(chosen) < max_sentences:
        best, best_val = -1, -np.inf
        for i in range(n):
            if banned[i]:
                continue
            if max_chars is not None and used_chars + lengths[i] + (1 if chosen else 0) > max_chars:
                continue
            red = maxsim[i] if chosen else 0.0
            val = lam * score[i] - (1.0 - lam) * red
            if groups is not None and groups[i] not in seen_groups:
                val += source_bonus
            if val > best_val:
                best, best_val = i, val
        if best < 0:
            break
        chosen.append(best)
        banned[best] = True
        used_chars += lengths[best] + (1 if len(chosen) > 1 else 0)
        if groups is not None:
            seen_groups.add(groups[best])
        sims = sim_all[best]
        maxsim = np.maximum(maxsim, np.clip((sims - mu) / (1.0 - mu), 0.0, 1.0))
        banned |= sims >= dup_threshold
    return chosen


def summarize(text: str, max_sentences: int = 3, *, method: str = "textrank", max_chars: int | None = None,
              lead_weight: float = 0.2, lam: float = 0.7, dup_threshold: float = 0.985,
              embedder: Any = None, base: Any = None) -> list[dict]:
    """Up to ``max_sentences`` sentences of ``text`` (and at most ``max_chars`` characters, counting
    one separator between sentences), in their original order: ``{text, start, end, score, index}``
    where ``index`` is the sentence's position and ``score`` its salience + lead score."""
    if max_sentences <= 0:
        return []
    sents = split_sentences(text)
    if not sents:
        return []
    if len(sents) <= max_sentences and max_chars is None:  # nothing to choose: no embedding needed
        return [{"text": t, "start": a, "end": b, "score": 1.0, "index": i} for i, (t, a, b) in enumerate(sents)]
    emb = _embed([s[:EMBED_CHARS] for s, _, _ in sents], embedder, base)
    score = (1.0 - lead_weight) * _salience(emb, method) + lead_weight * _lead(range(len(sents)))
    picked = _mmr(emb, score, [len(s) for s, _, _ in sents], max_sentences, max_chars, lam, dup_threshold)
    return [{"text": sents[i][0], "start": sents[i][1], "end": sents[i][2],
             "score": round(float(score[i]), 6), "index": i} for i in sorted(picked)]


def digest(documents: Sequence[dict], max_sentences: int = 5, *, method: str = "centroid",
           max_chars: int | None = None, lead_weight: float = 0.2, lam: float = 0.7,
           dup_threshold: float = 0.985, source_bonus: float = 0.1, embedder: Any = None,
           base: Any = None) -> list[dict]:
    """A multi-document extract of ``documents`` (``{id, title?, text}``): ``{text, source_id,
    source_title, start, end, score, index}`` with offsets into that document's ``text``, grouped by
    document in input order, then in reading order. Salience is computed over all sentences together
    (``centroid``: the mean of the documents' centroids, each document weighing the same), so
    sentences on what several documents share rank first; near-duplicates across documents are
    kept once."""
    if max_sentences <= 0:
        return []
    rows: list[tuple[int, int, str, int, int]] = []  # (doc, position, text, start, end)
    for d_i, doc in enumerate(documents):
        for p, (s, a, b) in enumerate(split_sentences(doc.get("text") or "")):
            rows.append((d_i, p, s, a, b))
    if not rows:
        return []
    emb = _embed([r[2][:EMBED_CHARS] for r in rows], embedder, base)
    groups = np.array([r[0] for r in rows])
    if method == "centroid":
        cents = []
        for g in sorted(set(groups.tolist())):
            c = emb[groups == g].mean(axis=0)
            cents.append(c / (np.linalg.norm(c) or 1.0))
        c = np.mean(cents, axis=0)
        c /= np.linalg.norm(c) or 1.0
        sal = _minmax(emb @ c)
    else:
        sal = _salience(emb, method)
    score = (1.0 - lead_weight) * sal + lead_weight * _lead([r[1] for r in rows])
    picked = _mmr(emb, score, [len(r[2]) for r in rows], max_sentences, max_chars, lam, dup_threshold,
                  groups=groups.tolist(), source_bonus=source_bonus)
    out = []
    for i in sorted(picked, key=lambda i: (rows[i][0], rows[i][1])):
        d_i, p, s, a, b = rows[i]
        doc = documents[d_i]
        out.append({"text": s, "source_id": doc.get("id"), "source_title": doc.get("title"),
                    "start": a, "end": b, "score": round(float(score[i]), 6), "index": p})
    return out
