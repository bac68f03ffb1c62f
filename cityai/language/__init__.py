"""Vietnamese language services: normalization, sentence splitting, word segmentation and POS tagging,
named entities, text classification, extractive summaries, embeddings and hybrid search.

Other modules call the library functions below in-process (``words``, ``pos_tag``, ``entities``,
``sentences``, ``summary``, ``embeddings``; named apart from the submodules ``segment``, ``summarize``,
``embed``, ``vectors`` so that importing a submodule never hides one); agencies call the same analyses over
``/api/v1/language`` (see :mod:`cityai.language.routes`). Heavy dependencies (CRF, embeddings) load on
first use, so importing this package is cheap.
"""

from __future__ import annotations

from typing import Any


def words(text: str) -> list[str]:
    """Words of ``text`` (syllables of a word joined by one space)."""
    from cityai.language.segment import get_segmenter

    return get_segmenter().segment(text) if text and text.strip() else []


def pos_tag(words: list[str]) -> list[str]:
    from cityai.language.pos import get_tagger

    return get_tagger().tag(words) if words else []


def entities(text: str) -> list[dict[str, Any]]:
    """Named entities ``{text, label, start, end}`` (offsets into ``text``)."""
    from cityai.language.ner import get_recognizer

    return get_recognizer().recognize(text) if text and text.strip() else []


def sentences(text: str) -> list[str]:
    from cityai.language.normalize import split_sentences

    return [s for s, _, _ in split_sentences(text)]


def summary(text: str, max_sentences: int = 3) -> list[str]:
    import cityai.language.summarize as _s

    return [p["text"] for p in _s.summarize(text, max_sentences=max_sentences)] if text and text.strip() else []


def embeddings(texts: list[str], kind: str = "passage") -> Any:
    """L2-normalized embeddings (a NumPy array, one row per text)."""
    import cityai.language.embed as _e

    return _e.embed(texts, kind=kind)
