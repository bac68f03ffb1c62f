"""Shared CRF plumbing (python-crfsuite) for the segmenter and the POS tagger.

- :func:`train_crf` trains a linear-chain CRF (L-BFGS with L1 + L2 regularisation by default) from
  feature sequences (lists of feature strings per item) and reports progress per iteration.
- :class:`CrfTagger` opens a model file once per thread: ``pycrfsuite.Tagger`` is not thread-safe, so
  each thread gets its own tagger (``threading.local``), all reading the same file.
- :func:`safe` makes a feature string encodable (pycrfsuite fails on lone surrogates).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pycrfsuite

__all__ = ["train_crf", "CrfTagger", "safe", "DEFAULT_PARAMS"]

DEFAULT_PARAMS: dict = {
    "c1": 0.1,
    "c2": 0.01,
    "max_iterations": 150,
    "feature.possible_transitions": True,
    "feature.minfreq": 1,
}


def safe(s: str) -> str:
    """``s`` if it encodes to UTF-8, else with the unencodable characters escaped."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


_ITER = re.compile(r"\*+ Iteration #(\d+) \*+")
_LOSS = re.compile(r"Loss: ([0-9.eE+-]+)")


class _Trainer(pycrfsuite.Trainer):
    def __init__(self, progress: Callable[[int, int, float | None], None] | None, total: int) -> None:
        super().__init__(verbose=False)
        self._progress = progress
        self._total = total
        self._iter = 0
        self._buf = ""
        self.last_loss: float | None = None
        self.iterations = 0

    def message(self, log: str) -> None:  # called by crfsuite with chunks of its log
        self._buf += log
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            m = _ITER.search(line)
            if m:
                self._iter = int(m.group(1))
                self.iterations = self._iter
                continue
            m = _LOSS.search(line)
            if m:
                try:
                    self.last_loss = float(m.group(1))
                except ValueError:
                    pass
                if self._progress is not None:
                    self._progress(self._iter, self._total, self.last_loss)


def train_crf(
    xseqs: Iterable[Sequence[Sequence[str]]],
    yseqs: Iterable[Sequence[str]],
    model_path: Path | str,
    *,
    params: dict | None = None,
    progress: Callable[[int, int, float | None], None] | None = None,
) -> dict:
    """Train a CRF on (feature sequence, label sequence) pairs and write it to ``model_path``.

    Returns a summary: iterations run, final loss, training seconds, number of sequences and items.
    ``progress(iteration, max_iterations, loss)`` is called after every L-BFGS iteration."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    trainer = _Trainer(progress, int(p.get("max_iterations", 0) or 0))
    trainer.select("lbfgs", "crf1d")
    trainer.set_params(p)
    n_seq = n_items = 0
    t0 = time.perf_counter()
    for x, y in zip(xseqs, yseqs):
        if not len(x):
            continue
        trainer.append(x, y)
        n_seq += 1
        n_items += len(x)
    if not n_seq:
        raise ValueError("no training sequences")
    t1 = time.perf_counter()
    trainer.train(str(model_path))
    t2 = time.perf_counter()
    return {
        "sequences": n_seq,
        "items": n_items,
        "iterations": trainer.iterations,
        "loss": trainer.last_loss,
        "append_seconds": round(t1 - t0, 1),
        "train_seconds": round(t2 - t1, 1),
        "params": {k: v for k, v in p.items()},
    }


class CrfTagger:
    """A CRF model file, taggable from any thread (one ``pycrfsuite.Tagger`` per thread)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if not Path(self.path).is_file():
            raise FileNotFoundError(self.path)
        self._local = threading.local()
        self._tagger()  # fail early on a broken file

    def _tagger(self) -> pycrfsuite.Tagger:
        t = getattr(self._local, "tagger", None)
        if t is None:
            t = pycrfsuite.Tagger()
            t.open(self.path)
            self._local.tagger = t
        return t

    def tag(self, xseq: Sequence[Sequence[str]]) -> list[str]:
        if not len(xseq):
            return []
        return list(self._tagger().tag(xseq))

    def labels(self) -> list[str]:
        return list(self._tagger().labels())
