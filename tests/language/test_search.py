"""Hybrid search: BM25 tokens, fusion, a persisted index updated incrementally."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from cityai.language.embed import Embedder, get_model
from cityai.language.search import HybridIndex, bm25_tokens, fuse, peer_tokens

# the package may define functions named like its submodules: import the modules by path
search_mod = importlib.import_module("cityai.language.search")
vectors = importlib.import_module("cityai.language.vectors")

DOCS = [
    {"id": "xd", "text": "Thủ tục cấp giấy phép xây dựng nhà ở riêng lẻ tại Ủy ban nhân dân quận.",
     "metadata": {"agency": "xay-dung"}},
    {"id": "lx", "text": "Hồ sơ đổi giấy phép lái xe ô tô quá hạn sử dụng.", "metadata": {"agency": "gtvt"}},
    {"id": "kh", "text": "Đăng ký khai sinh cho trẻ em mới sinh tại phường.",
     "metadata": {"agency": "tu-phap"}},
    {"id": "ngap", "text": "Triều cường gây ngập nặng nhiều tuyến đường ở Thành phố Hồ Chí Minh.",
     "metadata": {"agency": "gtvt"}},
    {"id": "rac", "text": "Quy định phân loại rác thải sinh hoạt tại nguồn từ năm 2025.",
     "metadata": {"agency": "tnmt"}},
    {"id": "thue", "text": "Hướng dẫn nộp thuế thu nhập cá nhân qua mạng.", "metadata": {"agency": "thue"}},
]


class CountingModel:
    def __init__(self) -> None:
        self.texts = 0

    def encode(self, texts, is_query):
        self.texts += len(texts)
        return get_model().encode(texts, is_query)


@pytest.fixture
def counting(tmp_path):
    m = CountingModel()
    return m, Embedder(base=tmp_path, model=m)


def ids(hits):
    return [h["id"] for h in hits]


def test_bm25_tokens_normalise_and_join_words():
    a = bm25_tokens("Hoà bình ỦY BAN!")
    b = bm25_tokens("hòa bình ủy ban")
    assert a == b == ["hòa", "bình", "hòa_bình", "ủy", "bình_ủy", "ban", "ủy_ban"]
    # punctuation is dropped and ends a bigram chain
    assert bm25_tokens("Hoà bình, ủy ban") == ["hòa", "bình", "hòa_bình", "ủy", "ban", "ủy_ban"]
    words = bm25_tokens("Hoà bình, ỦY BAN!", "words+syllables")
    assert all(t.strip() and t not in {",", "!"} for t in words)
    assert "ủy" in words and "ban" in words
    syl = bm25_tokens("giấy phép lái xe", "syllables")
    assert syl == ["giấy", "phép", "lái", "xe"]
    big = bm25_tokens("giấy phép lái xe", "syllables+bigrams")
    assert "giấy_phép" in big and "lái_xe" in big and "giấy" in big
    assert bm25_tokens("... !!") == [] and bm25_tokens("") == []
    assert peer_tokens("Giấy phép, LÁI xe") == ["giấy", "phép", "lái", "xe"]


def test_fuse_rrf_and_weighted():
    bm = [("a", 9.0), ("b", 5.0), ("c", 1.0)]
    de = [("c", 0.9), ("a", 0.8)]
    rrf = fuse(bm, de, how="rrf", rrf_k=60)
    assert [i for i, _ in rrf] == ["a", "c", "b"]
    assert rrf[0][1] == pytest.approx(1 / 61 + 1 / 62)
    w = fuse(bm, de, how="weighted", alpha=0.5)
    assert dict(w)["c"] == pytest.approx(0.5 * 0 + 0.5 * 1.0)
    assert dict(w)["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    with pytest.raises(ValueError):
        fuse(bm, de, how="max")


def test_modes_find_the_right_document(tmp_path, counting):
    _, emb = counting
    idx = HybridIndex("city", base=tmp_path, embedder=emb)
    assert idx.add(DOCS) == len(DOCS)
    for mode in ("bm25", "dense", "hybrid"):
        hits = idx.search("giấy phép lái xe hết hạn", 3, mode)
        assert hits[0]["id"] == "lx", mode
    # a paraphrase with no shared word: only the dense side can find it
    assert ids(idx.search("trường hợp nước dâng làm đường phố bị lụt", 1, "dense")) == ["ngap"]
    h = idx.search("khai sinh", 2)[0]
    assert h["id"] == "kh" and h["text"] == DOCS[2]["text"] and h["metadata"] == {"agency": "tu-phap"}
    assert h["bm25_rank"] == 1 and isinstance(h["dense_rank"], int)
    assert set(h) == {"id", "score", "text", "metadata", "bm25_rank", "dense_rank"}
    assert "text" not in idx.search("khai sinh", 1, with_text=False)[0]
    with pytest.raises(ValueError):
        idx.search("x", 1, "fuzzy")  # type: ignore[arg-type]


def test_empty_query_empty_index_and_large_k(tmp_path, counting):
    _, emb = counting
    idx = HybridIndex("empty", base=tmp_path, embedder=emb)
    for mode in ("bm25", "dense", "hybrid"):
        assert idx.search("giấy phép", 5, mode) == []
    idx.add(DOCS)
    assert idx.search("", 5) == [] and idx.search("   ", 5) == [] and idx.search("giấy phép", 0) == []
    assert len(idx.search("giấy phép", 100, "dense")) == len(DOCS)
    # BM25 returns only documents sharing a token
    assert sorted(ids(idx.search("giấy phép", 100, "bm25"))) == ["lx", "xd"]
    assert len(idx.search("giấy phép", 100, "hybrid")) == len(DOCS)
    assert idx.search("zzzqqq", 5, "bm25") == []


def test_index_persists_and_reloads_without_reembedding(tmp_path, counting):
    m, emb = counting
    idx = HybridIndex("city", base=tmp_path, embedder=emb)
    idx.add(DOCS)
    before = idx.search("phân loại rác", 3)
    idx.close()
    assert (tmp_path / "indexes" / "city" / "docs.sqlite").is_file()
    assert (tmp_path / "indexes" / "city" / "dense" / "manifest.json").is_file()
    m2 = CountingModel()
    again = HybridIndex("city", base=tmp_path, embedder=Embedder(base=tmp_path, model=m2))
    assert len(again) == len(DOCS)
    after = again.search("phân loại rác", 3)
    assert ids(after) == ids(before) and after[0]["id"] == "rac"
    assert [h["score"] for h in after] == pytest.approx([h["score"] for h in before])
    assert m2.texts == 0  # passages come from the vector store, the query from the cache
    # adding the same documents again changes nothing
    assert again.add(DOCS) == 0
    assert m2.texts == 0


def test_incremental_add_update_remove(tmp_path, counting):
    m, emb = counting
    idx = HybridIndex("city", base=tmp_path, embedder=emb)
    idx.add(DOCS[:3])
    assert idx.search("ngập đường triều cường", 3, "bm25") == []
    n0 = m.texts
    idx.add([DOCS[3]])
    assert m.texts == n0 + 1  # only the new document was embedded
    assert ids(idx.search("ngập đường triều cường", 1, "bm25")) == ["ngap"]
    assert idx.search("ngập đường triều cường", 1)[0]["id"] == "ngap"
    # replace a document's text: the old words no longer match it
    idx.add([{"id": "ngap", "text": "Lịch tiêm chủng vắc xin sởi cho trẻ em.",
              "metadata": {"agency": "yte"}}])
    assert "ngap" not in ids(idx.search("triều cường", 5, "bm25"))
    assert idx.search("tiêm chủng vắc xin", 1)[0]["id"] == "ngap"
    assert idx.get("ngap")["metadata"] == {"agency": "yte"}
    # remove
    assert idx.remove(["ngap", "missing"]) == 1
    assert "ngap" not in idx and len(idx) == 3
    for mode in ("bm25", "dense", "hybrid"):
        assert "ngap" not in ids(idx.search("tiêm chủng vắc xin", 10, mode)), mode
    assert len(idx.store) == 3


def test_a_second_handle_sees_changes(tmp_path, counting):
    _, emb = counting
    a = HybridIndex("city", base=tmp_path, embedder=emb)
    b = HybridIndex("city", base=tmp_path, embedder=emb)
    a.add(DOCS[:2])
    assert ids(b.search("khai sinh", 5, "bm25")) == []
    a.add([DOCS[2]])
    assert ids(b.search("khai sinh", 5, "bm25")) == ["kh"]
    a.remove(["kh"])
    assert ids(b.search("khai sinh", 5, "bm25")) == []


def test_metadata_filter(tmp_path, counting):
    _, emb = counting
    idx = HybridIndex("city", base=tmp_path, embedder=emb)
    idx.add(DOCS)
    hits = idx.search("giấy phép đường", 10, where={"agency": "gtvt"})
    assert sorted(ids(hits)) == ["lx", "ngap"]
    assert ids(idx.search("giấy phép xây dựng", 10, "bm25", where={"agency": "gtvt"})) == ["lx"]


def test_crash_while_saving_vectors_keeps_the_index(tmp_path, counting, monkeypatch):
    _, emb = counting
    idx = HybridIndex("city", base=tmp_path, embedder=emb)
    idx.add(DOCS[:3])

    def crash(path, write):
        raise OSError("power cut (simulated)")

    monkeypatch.setattr(vectors, "_write_atomic", crash)
    with pytest.raises(OSError, match="simulated"):
        idx.add(DOCS[3:])
    monkeypatch.undo()
    again = HybridIndex("city", base=tmp_path, embedder=emb)
    assert sorted(again.ids()) == ["kh", "lx", "xd"]
    assert ids(again.search("triều cường", 5, "bm25")) == []
    assert again.search("khai sinh", 1)[0]["id"] == "kh"
    assert again.add(DOCS[3:]) == 3  # the retry goes through
    assert again.search("triều cường ngập", 1)[0]["id"] == "ngap"


def test_tokenizer_change_retokenizes(tmp_path, counting, monkeypatch):
    _, emb = counting
    HybridIndex("city", base=tmp_path, embedder=emb).add(DOCS)
    monkeypatch.setattr(search_mod, "tokenizer_id", lambda mode="": "other/1")
    monkeypatch.setattr(search_mod, "bm25_tokens", lambda text, mode="": ["tok"])
    idx = HybridIndex("city", base=tmp_path, embedder=emb)
    assert len(idx.search("tok", 10, "bm25")) == len(DOCS)


def test_open_index_is_shared(tmp_path):
    a = search_mod.open_index("shared", base=tmp_path)
    assert a is search_mod.open_index("shared", base=tmp_path)
    a.close()


def test_alqac_eval_on_a_tiny_fixture(tmp_path):
    import json

    laws = [{"id": "Luật A", "articles": [{"id": str(i), "text": d["text"]} for i, d in enumerate(DOCS)]}]
    qs = [{"question_id": "q1", "text": "đổi giấy phép lái xe",
           "relevant_articles": [{"law_id": "Luật A", "article_id": "1"}]},
          {"question_id": "q2", "text": "phân loại rác thải",
           "relevant_articles": [{"law_id": "Luật A", "article_id": "4"}]}]
    (tmp_path / "law.json").write_text(json.dumps(laws, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "train_first50.json").write_text(json.dumps(qs, ensure_ascii=False), encoding="utf-8")
    r = search_mod.alqac_eval(tmp_path, base=tmp_path / "home", throughput_sample=2, variants=False)
    assert r["docs"] == len(DOCS) and r["questions"] == 2
    for mode in ("bm25_peer", "bm25", "dense", "hybrid_rrf"):
        assert r["modes"][mode]["recall@5"] == 1.0, mode
        assert 0 < r["modes"][mode]["mrr"] <= 1
    assert r["timings"]["embed_passages_per_s"] > 0
    assert np.isfinite(r["timings"]["bm25_rebuild_s"])


def test_crash_after_the_vectors_leaves_no_orphans(tmp_path, counting, monkeypatch):
    _, emb = counting
    idx = HybridIndex("city", base=tmp_path, embedder=emb)
    idx.add(DOCS[:2])

    def crash(*a, **k):
        raise RuntimeError("killed between the vector save and the docs commit (simulated)")

    monkeypatch.setattr(idx, "_write", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        idx.add(DOCS[2:])
    assert len(idx.store) == len(DOCS)  # the vectors were saved, the documents were not
    assert set(ids(idx.search("khai sinh", 10, "dense"))) == {"xd", "lx"}  # orphans never surface
    again = HybridIndex("city", base=tmp_path, embedder=emb)
    assert sorted(again.store.ids()) == ["lx", "xd"]


def test_metadata_filter_compares_kinds():
    from cityai.language.vectors import matches

    assert matches({"x": 1}, {"x": 1.0}) and not matches({"x": True}, {"x": 1})
    assert not matches({"x": 1}, {"x": True}) and not matches({"x": "1"}, {"x": 1})
    assert matches({"x": None}, {"x": None}) and not matches({}, {"x": None})
    assert matches({"a": "b", "c": 2}, {"a": "b"}) and not matches({"a": "b"}, {"a": "b", "c": 2})


def test_add_without_embedding_then_embed_missing(tmp_path, counting):
    m, emb = counting
    idx = HybridIndex("lazy", base=tmp_path, embedder=emb)
    assert idx.add(DOCS, embed=False) == len(DOCS) and m.texts == 0
    assert ids(idx.search("ngập đường triều cường", 1, "bm25")) == ["ngap"]  # BM25 at once
    assert idx.search("ngập đường triều cường", 3, "dense") == []  # no vectors yet
    assert sorted(idx.missing_vectors()) == sorted(d["id"] for d in DOCS)
    seen = []
    assert idx.embed_missing(batch=4, progress=lambda d, n: seen.append((d, n))) == len(DOCS)
    assert seen == [(4, 6), (6, 6)] and m.texts == len(DOCS) and idx.missing_vectors() == []
    assert idx.search("ngập đường triều cường", 1, "dense")[0]["id"] == "ngap"
    # a changed text added without embedding loses its old vector until embedded again
    idx.add([{"id": "ngap", "text": "Lịch tiêm chủng vắc xin sởi cho trẻ em.", "metadata": {}}], embed=False)
    assert idx.missing_vectors() == ["ngap"]
    assert "ngap" not in ids(idx.search("triều cường ngập", 6, "dense"))
    assert idx.embed_missing() == 1 and idx.search("tiêm chủng vắc xin", 1, "dense")[0]["id"] == "ngap"
