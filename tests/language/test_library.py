"""The in-process library API other modules call (``cityai.language.words`` ...): it keeps working
after every submodule has been imported (a submodule named like a function would replace it)."""

from __future__ import annotations

import importlib
import pkgutil

import cityai.language as L


def test_public_functions_survive_submodule_imports():
    for m in pkgutil.iter_modules(L.__path__):
        importlib.import_module(f"cityai.language.{m.name}")
    for name in ("words", "pos_tag", "entities", "sentences", "summary", "embeddings"):
        assert callable(getattr(L, name)) and not hasattr(getattr(L, name), "__path__"), name
        assert getattr(L, name).__module__ == "cityai.language", name


def test_library_calls():
    words = L.words("Ủy ban nhân dân Thành phố họp báo.")
    assert words[-1] == "." and any(" " in w for w in words)
    assert len(L.pos_tag(words)) == len(words)
    assert [e["text"] for e in L.entities("Theo Kế hoạch 140/KH-UBND.") if e["label"] == "DOC_REF"] == ["140/KH-UBND"]
    assert L.sentences("Một câu. Hai câu.") == ["Một câu.", "Hai câu."]
    assert L.words("") == [] and L.entities("  ") == [] and L.summary("") == []
    v = L.embeddings(["xin chào"], kind="query")
    assert v.shape == (1, 384)
