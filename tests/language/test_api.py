"""The language API's contract (``/api/v1/language``) and its answers to bad input: empty text, text
over the size limit, malformed Unicode, mixed scripts and emoji, text without diacritics, batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cityai.core.config import get_settings

TEXT = ("Ngày 15/3/2025, Ủy ban nhân dân Thành phố Hồ Chí Minh ban hành Kế hoạch số 140/KH-UBND về chuyển đổi số. "
        "Sở Khoa học và Công nghệ chủ trì triển khai tại phường Bến Thành. "
        "Kinh phí lấy từ ngân sách thành phố theo Nghị định 30/2020/NĐ-CP.")


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the analyses store nothing: one database backend is enough


def post(client, path: str, body, **kw):
    return client.post(f"/api/v1/language/{path}", json=body, **kw)


def test_segment_contract_words_are_syllables_joined_by_spaces(client):
    r = post(client, "segment", {"text": TEXT})
    assert r.status_code == 200, r.text
    tokens = r.json()["tokens"]
    assert any(" " in t for t in tokens), tokens  # multi-syllable words exist
    assert "".join(tokens).replace(" ", "") == TEXT.replace(" ", "")  # nothing lost or invented
    assert "140/KH-UBND" in tokens and "15/3/2025" in tokens
    assert "tags" not in r.json()


def test_segment_with_pos_gives_parallel_tags(client):
    r = post(client, "segment", {"text": TEXT, "pos": True})
    body = r.json()
    assert r.status_code == 200 and len(body["tags"]) == len(body["tokens"]) > 10
    assert all(isinstance(t, str) and t for t in body["tags"])


def test_segment_batch(client):
    r = post(client, "segment", {"texts": ["Xin chào thành phố.", "", "Hà Nội"]})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert len(res) == 3 and res[1]["tokens"] == [] and res[0]["tokens"][-1] == "."


def test_ner_contract_offsets_point_into_the_text(client):
    r = post(client, "ner", {"text": TEXT})
    assert r.status_code == 200, r.text
    ents = r.json()["entities"]
    assert ents, "no entities"
    for e in ents:
        assert set(e) >= {"text", "label", "start", "end"}
        assert TEXT[e["start"]:e["end"]] == e["text"]
    labels = {(e["text"], e["label"]) for e in ents}
    assert ("140/KH-UBND", "DOC_REF") in labels and ("30/2020/NĐ-CP", "DOC_REF") in labels
    assert any(lab == "WARD" and "Bến Thành" in t for t, lab in labels), labels


def test_ner_batch_and_empty(client):
    r = post(client, "ner", {"texts": ["Theo Quyết định 15/2023/QĐ-UBND.", "   "]})
    assert r.status_code == 200
    res = r.json()["results"]
    assert [e["text"] for e in res[0]["entities"] if e["label"] == "DOC_REF"] == ["15/2023/QĐ-UBND"]
    assert res[1]["entities"] == []


def test_summarize_contract_respects_max_sentences_and_order(client):
    sentences = ["Thành phố triển khai kế hoạch chống ngập nước trong mùa mưa năm nay.",
                 "Sở Xây dựng nạo vét 120 km kênh rạch và cống thoát nước.",
                 "Người dân được khuyến cáo không xả rác xuống cống.",
                 "Trạm bơm mới ở phường Bình Thạnh giảm ngập cho ba tuyến đường.",
                 "Kinh phí chống ngập năm nay là 2.000 tỷ đồng.",
                 "Đội ứng cứu trực 24 giờ khi có mưa lớn và triều cường.",
                 "Bản đồ điểm ngập được cập nhật trên ứng dụng của thành phố.",
                 "Các quận ven sông được ưu tiên nâng cấp bờ kè."]
    text = " ".join(sentences)
    r = post(client, "summarize", {"text": text, "max_sentences": 2})
    assert r.status_code == 200, r.text
    out = r.json()["sentences"]
    assert len(out) == 2 and all(s in sentences for s in out)
    assert sentences.index(out[0]) < sentences.index(out[1])
    assert post(client, "summarize", {"text": text, "max_sentences": 0}).status_code == 422
    assert post(client, "summarize", {"text": "", "max_sentences": 2}).json()["sentences"] == []


def test_digest_names_each_sentence_source(client):
    docs = [{"id": "a", "title": "Giao thông", "text": "Kẹt xe kéo dài trên đường Cộng Hòa. Thành phố mở thêm làn xe buýt."},
            {"id": "b", "title": "Môi trường", "text": "Chỉ số AQI vượt ngưỡng 150 ở quận 1. Người dân nên đeo khẩu trang."}]
    r = post(client, "digest", {"documents": docs, "max_sentences": 3})
    assert r.status_code == 200, r.text
    out = r.json()["sentences"]
    assert 1 <= len(out) <= 3 and {s["source_id"] for s in out} <= {"a", "b"}
    for s in out:
        src = next(d for d in docs if d["id"] == s["source_id"])
        assert s["text"] in src["text"]


def test_embed_contract_query_and_passage(client):
    r = post(client, "embed", {"texts": ["thủ tục cấp giấy phép xây dựng", "giấy phép lái xe"], "kind": "query"})
    assert r.status_code == 200, r.text
    v = np.array(r.json()["vectors"])
    assert v.shape == (2, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    p = np.array(post(client, "embed", {"texts": ["thủ tục cấp giấy phép xây dựng"], "kind": "passage"}).json()["vectors"])
    assert not np.allclose(v[0], p[0], atol=1e-4)  # the prefix matters
    assert post(client, "embed", {"texts": ["a"], "kind": "document"}).status_code == 422
    assert post(client, "embed", {"texts": [" "], "kind": "query"}).status_code == 422


def test_missing_and_conflicting_fields_are_422_problems(client):
    for path, body in [("segment", {}), ("ner", {}), ("segment", {"text": "a", "texts": ["b"]}),
                       ("segment", {"text": 5}), ("ner", {"texts": "not a list"}), ("summarize", {"txt": "x"})]:
        r = post(client, path, body)
        assert r.status_code == 422, (path, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_text_over_the_limit_is_413_and_says_the_limit(client):
    limit = get_settings().language_max_text_bytes
    r = post(client, "segment", {"text": "a" * (limit + 1)})
    assert r.status_code == 413, r.text[:300]
    body = r.json()
    assert body["limit_bytes"] == limit and "CITYAI_LANGUAGE_MAX_TEXT_BYTES" in body["en"]["detail"]
    # a batch is limited in total
    r = post(client, "ner", {"texts": ["b" * (limit // 2 + 10)] * 2})
    assert r.status_code == 413


def test_lone_surrogates_and_invalid_utf8(client):
    raw = '{"text": "Hà Nội \\ud800 và TP. Hồ Chí Minh"}'
    r = client.post("/api/v1/language/segment", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert "\ufffd" in r.json()["tokens"] and "Hồ Chí Minh" in " ".join(r.json()["tokens"])
    r = client.post("/api/v1/language/ner", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    bad = b'{"text": "H\xff\xfe n\xe1"}'
    r = client.post("/api/v1/language/segment", content=bad, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("application/problem+json")


def test_mixed_scripts_emoji_and_no_diacritics(client):
    text = "Hà Nội 😀 東京 Москва café — uy ban nhan dan thanh pho Ho Chi Minh 👍🏽"
    for path in ("segment", "ner", "summarize", "normalize"):
        r = post(client, path, {"text": text})
        assert r.status_code == 200, (path, r.text)
    tokens = post(client, "segment", {"text": text}).json()["tokens"]
    assert "😀" in tokens and "Москва" in tokens
    for e in post(client, "ner", {"text": text}).json()["entities"]:
        assert text[e["start"]:e["end"]] == e["text"]


def test_normalize_tones_and_sentences(client):
    r = post(client, "normalize", {"text": "Uỷ ban hoà giải TP. Hồ Chí Minh họp. Q. 1 báo cáo."})
    body = r.json()
    assert body["text"].startswith("Ủy ban hòa giải")
    assert [s["text"] for s in body["sentences"]] == ["Uỷ ban hoà giải TP. Hồ Chí Minh họp.", "Q. 1 báo cáo."]


def test_models_lists_each_service(client):
    r = client.get("/api/v1/language/models")
    assert r.status_code == 200
    names = {m["name"]: m for m in r.json()["models"]}
    assert set(names) == {"segmenter", "pos", "ner"}
    assert names["segmenter"]["source"] in ("built", "packaged")


def test_public_switch_requires_sign_in(client, platform, monkeypatch):
    monkeypatch.setattr(get_settings(), "language_public", False)
    r = post(client, "segment", {"text": "Xin chào"})
    assert r.status_code in (401, 403), r.text


def test_playground_shows_entities_and_summary(client):
    page = client.get("/language")
    assert page.status_code == 200 and 'data-testid="playground"' in page.text
    import re

    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    data = {"text": TEXT, "max_sentences": "1", "csrf_token": token.group(1) if token else ""}
    r = client.post("/language", data=data)
    assert r.status_code == 200, r.text[:500]
    assert 'class="ent ent-DOC_REF"' in r.text and "140/KH-UBND" in r.text
    summary = r.text.split('data-testid="summary"')[1].split("</article>")[0]
    assert summary.count("<li>") == 1


def test_cli_analyse_reads_stdin(tmp_path):
    from click.testing import CliRunner

    from cityai.cli import cli

    res = CliRunner().invoke(cli, ["language", "analyse", "ner"], input="Theo Kế hoạch 140/KH-UBND.")
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert any(e["text"] == "140/KH-UBND" for e in body["entities"])


def test_long_texts_are_summarized_from_their_first_sentences(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "language_max_summary_sentences", 5)
    sentences = [f"Phường số {i} báo cáo tình hình ngập nước và giao thông trong tuần." for i in range(1, 12)]
    r = post(client, "summarize", {"text": " ".join(sentences), "max_sentences": 3})
    body = r.json()
    assert r.status_code == 200 and body["truncated"] is True
    assert (body["sentences_read"], body["sentences_total"]) == (5, 11)
    assert all(sentences.index(s) < 5 for s in body["sentences"])
    docs = [{"id": str(i), "text": " ".join(sentences[:4])} for i in range(2)]
    r = post(client, "digest", {"documents": docs})
    assert r.status_code == 422 and r.json()["limit"] == 5 and r.json()["sentences"] == 8


def test_embedding_calls_are_bounded(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "language_max_embed_texts", 3)
    r = post(client, "embed", {"texts": ["một", "hai", "ba", "bốn"], "kind": "passage"})
    assert r.status_code == 422 and r.json()["limit"] == 3
    monkeypatch.setattr(get_settings(), "language_max_embed_chars", 10)
    r = post(client, "embed", {"texts": ["một hai ba", "bốn"], "kind": "passage"})
    assert r.status_code == 422 and r.json()["limit"] == 10


def test_digest_without_ids_numbers_the_documents(client):
    r = post(client, "digest", {"documents": [{"text": "Kẹt xe trên đường Cộng Hòa. Mưa lớn gây ngập."}]})
    assert r.status_code == 200 and {s["source_id"] for s in r.json()["sentences"]} == {"1"}


def test_a_model_folder_vanishing_mid_swap_is_a_503_not_a_500(client, monkeypatch):
    import cityai.language.ner as ner_mod

    def gone(*a, **k):
        raise FileNotFoundError("model.crf")

    monkeypatch.setattr(ner_mod, "get_recognizer", gone)
    r = post(client, "ner", {"text": "Hà Nội"})
    assert r.status_code == 503 and "cityai language train" in r.json()["en"]["detail"]
