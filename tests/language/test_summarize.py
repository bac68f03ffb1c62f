"""Extractive summaries and multi-document digests."""

from __future__ import annotations

import sys

import pytest

from cityai.language.embed import Embedder
from cityai.language.summarize import digest, split_sentences, summarize

FLOOD = (
    "Sáng nay, Ủy ban nhân dân Thành phố Hồ Chí Minh đã tổ chức hội nghị về chống ngập. "
    "Triều cường dự báo đạt đỉnh 1,7 m vào ngày 20/10. "
    "Nhiều tuyến đường ở Quận 7 và TP. Thủ Đức có thể bị ngập sâu. "
    "Người dân được khuyến cáo không di chuyển qua các điểm ngập. "
    "Sở Xây dựng đã bố trí máy bơm tại 30 điểm. "
    "Trong khi đó, giá vàng hôm nay tăng nhẹ. "
    "Các trường học vẫn mở cửa bình thường. "
    "Lực lượng chức năng sẽ trực 24/24 giờ tại các điểm ngập."
)


@pytest.fixture
def emb(tmp_path):
    return Embedder(base=tmp_path)


def test_length_control_order_and_offsets(emb):
    for n in (1, 2, 3, 5):
        out = summarize(FLOOD, n, embedder=emb)
        assert len(out) == n
        assert [o["index"] for o in out] == sorted(o["index"] for o in out)
        for o in out:
            assert FLOOD[o["start"]:o["end"]] == o["text"]
            assert 0.0 <= o["score"] <= 1.0
    three = summarize(FLOOD, 3, embedder=emb)
    texts = " ".join(o["text"] for o in three)
    assert "giá vàng" not in texts  # the off-topic sentence is not salient
    assert three[0]["index"] == 0  # the lead sentence is kept
    assert len(summarize(FLOOD, 100, embedder=emb)) == len(split_sentences(FLOOD)) == 8
    assert summarize(FLOOD, 0, embedder=emb) == []


def test_max_chars(emb):
    out = summarize(FLOOD, 5, max_chars=150, embedder=emb)
    assert out and sum(len(o["text"]) for o in out) + len(out) - 1 <= 150
    assert len(out) < 5
    assert summarize(FLOOD, 3, max_chars=10, embedder=emb) == []  # no sentence is that short


def test_centroid_method_and_bad_method(emb):
    out = summarize(FLOOD, 2, method="centroid", embedder=emb)
    assert len(out) == 2 and "giá vàng" not in " ".join(o["text"] for o in out)
    with pytest.raises(ValueError):
        summarize(FLOOD, 2, method="lexrank", embedder=emb)


def test_near_duplicates_are_not_repeated(emb):
    s = "Thành phố lắp đặt thêm 200 camera giao thông tại các ngã tư. "
    text = s + "Mưa lớn kéo dài cả buổi chiều. " + s + "Giá xăng giảm nhẹ từ hôm nay."
    out = summarize(text, 3, lead_weight=0.0, embedder=emb)
    assert sum(o["text"] == s.strip() for o in out) == 1


def test_empty_and_one_sentence(emb):
    assert summarize("", 3, embedder=emb) == []
    assert summarize("  \n ", 3, embedder=emb) == []
    assert summarize("... !!!", 3, embedder=emb) == []
    one = summarize("Chỉ một câu.", 3, embedder=emb)
    assert [o["text"] for o in one] == ["Chỉ một câu."]


def test_fallback_splitter_without_normalize(monkeypatch):
    monkeypatch.setitem(sys.modules, "cityai.language.normalize", None)  # import fails
    spans = split_sentences("Câu một. Câu hai!\nCâu ba")
    assert [s for s, _, _ in spans] == ["Câu một.", "Câu hai!", "Câu ba"]
    assert all("Câu một. Câu hai!\nCâu ba"[a:b] == s for s, a, b in spans)


DOCS = [
    {"id": "d1", "title": "Chống ngập", "text": FLOOD},
    {"id": "d2", "title": "Triều cường", "text": (
        "Đỉnh triều cường tháng 10 có thể gây ngập nhiều tuyến đường ven sông. "
        "Người dân được khuyến cáo không di chuyển qua các điểm ngập. "
        "Chợ Bến Thành vẫn mở cửa đón khách.")},
    {"id": "d3", "title": "Giao thông", "text": (
        "Thành phố lắp đặt thêm 200 camera giao thông tại các ngã tư. "
        "Camera giúp phát hiện xe vượt đèn đỏ và xử phạt nguội.")},
]


def test_digest_sources_order_and_duplicates(emb):
    out = digest(DOCS, 4, embedder=emb)
    assert len(out) == 4
    by_id = {d["id"]: d for d in DOCS}
    for o in out:
        d = by_id[o["source_id"]]
        assert o["source_title"] == d["title"]
        assert d["text"][o["start"]:o["end"]] == o["text"]
    # grouped by document in input order, then reading order
    keys = [([d["id"] for d in DOCS].index(o["source_id"]), o["start"]) for o in out]
    assert keys == sorted(keys)
    # spread over the documents, and the sentence shared by d1 and d2 appears once
    assert len({o["source_id"] for o in out}) >= 2
    shared = "Người dân được khuyến cáo không di chuyển qua các điểm ngập."
    assert sum(o["text"] == shared for o in out) <= 1


def test_digest_length_and_empty(emb):
    out = digest(DOCS, 3, max_chars=160, embedder=emb)
    assert 0 < len(out) <= 3 and sum(len(o["text"]) for o in out) + len(out) - 1 <= 160
    assert digest([], 3, embedder=emb) == []
    assert digest([{"id": "x", "text": ""}], 3, embedder=emb) == []
    one = digest([{"id": "x", "text": "Một câu duy nhất."}], 3, embedder=emb)
    assert one == [{"text": "Một câu duy nhất.", "source_id": "x", "source_title": None, "start": 0,
                    "end": 17, "score": one[0]["score"], "index": 0}]
