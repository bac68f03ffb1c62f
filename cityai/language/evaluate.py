"""Scores of the segmenter and the POS tagger.

- :func:`word_prf`: word segmentation precision / recall / F1. A word is compared by its span of
  characters in the sentence with all whitespace removed, so a predicted sentence whose syllables
  were split differently (``"TP.HCM"`` vs ``"TP. HCM"``) is still comparable; a word is right when
  both its start and its end match a gold word (the standard segmentation F1).
- :func:`pos_accuracy`: tag accuracy over aligned words.
- :func:`cross_validate_segmenter`: k-fold word F1 of segmenters trained on sentences (for the
  benchmark).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Sequence

__all__ = ["word_spans", "word_prf", "pos_accuracy", "cross_validate_segmenter"]


def word_spans(words: Sequence[str]) -> set[tuple[int, int]]:
    """Character spans of the words of a sentence, whitespace removed."""
    spans = set()
    pos = 0
    for w in words:
        n = sum(1 for ch in w if not ch.isspace())
        if n:
            spans.add((pos, pos + n))
            pos += n
    return spans


def word_prf(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Micro-averaged word precision / recall / F1 of ``pred`` against ``gold`` (one list of words
    per sentence, same number of sentences)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    n_gold = n_pred = n_ok = 0
    for g, p in zip(gold, pred):
        gs = word_spans(g)
        ps = word_spans(p)
        n_gold += len(gs)
        n_pred += len(ps)
        n_ok += len(gs & ps)
    precision = n_ok / n_pred if n_pred else 0.0
    recall = n_ok / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5),
            "gold_words": n_gold, "predicted_words": n_pred}


def pos_accuracy(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Accuracy of predicted tags (sentences of tags, aligned with the gold ones)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    n = ok = 0
    for g, p in zip(gold, pred):
        if len(g) != len(p):
            raise ValueError("a predicted sentence has a different number of tags")
        n += len(g)
        ok += sum(1 for a, b in zip(g, p) if a == b)
    return {"accuracy": round(ok / n, 5) if n else 0.0, "tokens": n}


def cross_validate_segmenter(
    sentences: Sequence[Sequence[str]],
    folds: int = 5,
    *,
    max_folds: int | None = None,
    seed: int = 7,
    **train_options,
) -> dict:
    """k-fold word F1 of segmenters trained on ``sentences`` (gold words), sentence-level folds.

    ``max_folds`` runs only the first few folds (each trains a model); ``train_options`` go to the
    training (``max_iterations``, ``c1``, ``c2``, ``lexicon_folds``)."""
    from cityai.language.segment import Segmenter, _build, words_to_labels

    idx = list(range(len(sentences)))
    random.Random(seed).shuffle(idx)
    fold_of = {i: k % folds for k, i in enumerate(idx)}
    results = []
    params = {k: train_options[k] for k in ("c1", "c2", "max_iterations") if k in train_options}
    params.setdefault("max_iterations", 100)
    for f in range(folds if max_folds is None else min(folds, max_folds)):
        train = [sentences[i] for i in idx if fold_of[i] != f]
        test = [sentences[i] for i in idx if fold_of[i] == f]
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _build(train, folder, params=params, lexicon_folds=train_options.get("lexicon_folds", 5))
            (folder / "meta.json").write_text("{}", encoding="utf-8")
            seg = Segmenter(folder)
            pred = [seg.segment_tokens(words_to_labels(s)[0]) for s in test]
            results.append(word_prf(test, pred))
    f1s = [r["f1"] for r in results]
    return {"folds": results, "f1_mean": round(sum(f1s) / len(f1s), 5) if f1s else 0.0}
