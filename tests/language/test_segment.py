"""Tests for cityai.language.segment (tiny models trained in tmp homes, and the packaged model) and
cityai.language.evaluate."""

from __future__ import annotations

import importlib
import random
import unicodedata
from pathlib import Path

import pytest

from cityai.language import registry
from cityai.language.evaluate import cross_validate_segmenter, pos_accuracy, word_prf
from cityai.language.segment import Segmenter, featurize, get_segmenter, train_segmenter, words_to_labels

segmod = importlib.import_module("cityai.language.segment")  # the package also has a segment() function

MULTI = ["ủy ban", "nhân dân", "thành phố", "kế hoạch", "ban hành", "phát triển", "kinh tế", "xã hội",
         "giao thông", "công trình", "người dân", "đề xuất"]
SINGLE = ["về", "của", "và", "số", "các", "mới", "đã", "cho", "với", "tại"]


def tiny_corpus(n: int = 80, seed: int = 3) -> list[list[str]]:
    rng = random.Random(seed)
    sents = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(4, 9)):
            words.append(rng.choice(MULTI) if rng.random() < 0.6 else rng.choice(SINGLE))
        words[0] = words[0][0].upper() + words[0][1:]
        sents.append(words + ["."])
    return sents


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("home")
    train_segmenter(sentences=tiny_corpus(), base=base, max_iterations=40)
    return base


def round_trip(text: str, spans: list[tuple[str, int, int]]) -> None:
    last = 0
    for word, s, e in spans:
        assert 0 <= last <= s < e <= len(text)
        assert text[last:s].strip() == ""
        surface = text[s:e]
        assert " ".join(surface.split()) == word or surface.replace(" ", "") == word.replace(" ", "")
        assert "  " not in word
        last = e
    assert text[last:].strip() == ""


# ------------------------------------------------------------------------------------------------
# evaluate


def test_word_prf_counts_spans() -> None:
    gold = [["Ủy ban", "nhân dân", "ban hành"]]
    assert word_prf(gold, gold)["f1"] == 1.0
    r = word_prf(gold, [["Ủy ban nhân dân", "ban hành"]])
    assert r["precision"] == 0.5 and round(r["recall"], 4) == round(1 / 3, 4)
    # syllables split differently but same words: still right
    assert word_prf([["TP.HCM", "mới"]], [["TP.HCM", "mới"]])["f1"] == 1.0
    with pytest.raises(ValueError):
        word_prf(gold, [])


def test_pos_accuracy() -> None:
    assert pos_accuracy([["N", "V"]], [["N", "N"]])["accuracy"] == 0.5
    with pytest.raises(ValueError):
        pos_accuracy([["N"]], [["N", "V"]])


def test_words_to_labels_and_features() -> None:
    toks, labels = words_to_labels(["Ủy ban nhân dân", "ban hành"])
    assert toks == ["Ủy", "ban", "nhân", "dân", "ban", "hành"]
    assert labels == ["B", "I", "I", "I", "B", "I"]
    feats = featurize(["Ủy", "ban", "\ud800"], segmod.Lexicon(["ủy ban"]))
    assert len(feats) == 3
    assert "u0:ủy" in feats[0] and "d20" in feats[0] and "d21" in feats[1]
    assert "d20" not in feats[2]
    # tone placement folded: "hoà" and "hòa" give the same unigram feature
    assert featurize(["hoà"])[0][1] == featurize(["hòa"])[0][1]
    assert featurize([]) == []


# ------------------------------------------------------------------------------------------------
# a tiny trained model


def test_tiny_model_segments_unseen_combinations(tiny_home: Path) -> None:
    seg = get_segmenter(tiny_home)
    assert seg.folder == registry.built_dir("segmenter", tiny_home)
    words = seg.segment("Người dân thành phố đề xuất kế hoạch phát triển giao thông mới")
    assert words == ["Người dân", "thành phố", "đề xuất", "kế hoạch", "phát triển", "giao thông", "mới"]
    assert seg.segment("") == []
    assert seg.segment_sentences(["nhân dân", ""]) == [["nhân dân"], []]


def test_spans_round_trip_with_odd_spacing(tiny_home: Path) -> None:
    seg = get_segmenter(tiny_home)
    text = "  Ủy   ban\tnhân dân\n\nban hành kế hoạch số 140/KH-UBND, ngày 24/8/2004 (TP.HCM) 👍 北京  "
    spans = seg.segment_spans(text)
    round_trip(text, spans)
    words = [w for w, _, _ in spans]
    assert "Ủy ban" in words  # the two spaces of the text become one
    assert "140/KH-UBND" in words and "24/8/2004" in words
    # never joined across a line break
    assert all("\n" not in text[s:e] for _, s, e in spans)


def test_decomposed_input_and_no_diacritics(tiny_home: Path) -> None:
    seg = get_segmenter(tiny_home)
    nfd = unicodedata.normalize("NFD", "nhân dân thành phố")
    spans = seg.segment_spans(nfd)
    round_trip(nfd, spans)
    assert [unicodedata.normalize("NFC", w) for w, _, _ in spans] == ["nhân dân", "thành phố"]
    plain = "uy ban nhan dan thanh pho ban hanh ke hoach"
    spans = seg.segment_spans(plain)
    round_trip(plain, spans)
    assert spans


def test_weird_input_never_raises(tiny_home: Path) -> None:
    seg = get_segmenter(tiny_home)
    rng = random.Random(7)
    for _ in range(100):
        text = "".join(chr(rng.choice([rng.randint(0x20, 0x2FF), rng.randint(0xD800, 0xDFFF),
                                       rng.randint(0x1F300, 0x1F64F), 0x20, 0x0A]))
                       for _ in range(rng.randint(0, 30)))
        round_trip(text, seg.segment_spans(text))


def test_long_text(tiny_home: Path) -> None:
    seg = get_segmenter(tiny_home)
    sentence = "Ủy ban nhân dân thành phố ban hành kế hoạch phát triển kinh tế xã hội. "
    text = sentence * (100_000 // len(sentence) + 1)
    assert len(text) > 100_000
    spans = seg.segment_spans(text)
    round_trip(text, spans)
    assert len(spans) == text.count(".") * 9  # 8 two-syllable words + "." each time


def test_new_model_is_picked_up_and_crash_keeps_old(tmp_path: Path, monkeypatch) -> None:
    train_segmenter(sentences=tiny_corpus(40, seed=1), base=tmp_path, max_iterations=20)
    first = get_segmenter(tmp_path)
    assert get_segmenter(tmp_path) is first  # cached
    built_at = first.meta["built_at"]
    meta = train_segmenter(sentences=tiny_corpus(40, seed=2), base=tmp_path, max_iterations=21)
    second = get_segmenter(tmp_path)
    assert second is not first
    assert second.meta["training"]["params"]["max_iterations"] == 21
    assert meta["training"]["params"]["max_iterations"] == 21

    def boom(*a, **k):
        raise RuntimeError("trainer crashed")

    monkeypatch.setattr(segmod, "train_crf", boom)
    with pytest.raises(RuntimeError):
        train_segmenter(sentences=tiny_corpus(40, seed=3), base=tmp_path, max_iterations=5)
    root = registry.models_root(tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ["segmenter"]  # no temp folder left
    after = get_segmenter(tmp_path)
    assert after is second and after.segment("nhân dân")
    assert built_at is not None


def test_train_from_folder_of_seg_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = ["<pBody>"] + [" ".join(w.replace(" ", "_") for w in s) for s in tiny_corpus(30)] + ["</pBody>"]
    (data / "a.seg").write_text("\n".join(lines), encoding="utf-8")  # crc32 % 1000 = 981: trained on
    (data / "d.seg").write_text("\n".join(lines[:10]), encoding="utf-8")  # 397 < 500: held out
    meta = train_segmenter(data, base=tmp_path / "home", max_iterations=10, holdout=0.5)
    assert (meta["train_sentences"], meta["heldout_sentences"], meta["heldout_documents"]) == (30, 9, 1)
    assert meta["scores"]["vlsp2013_heldout"]["sentences"] == 9
    assert meta["training"]["lexicon_words"] > 0
    assert (registry.built_dir("segmenter", tmp_path / "home") / "lexicon.txt").is_file()


def test_train_without_data_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        train_segmenter(sentences=[], base=tmp_path)
    assert not registry.built_dir("segmenter", tmp_path).exists()


def test_cross_validate_small() -> None:
    r = cross_validate_segmenter(tiny_corpus(40), folds=4, max_folds=1, max_iterations=15)
    assert len(r["folds"]) == 1
    assert 0.5 < r["f1_mean"] <= 1.0


# ------------------------------------------------------------------------------------------------
# the packaged model (UD Vietnamese-VTB)


def test_packaged_model_is_used_without_a_built_one(tmp_path: Path) -> None:
    seg = get_segmenter(tmp_path)
    assert seg.folder == registry.PACKAGED / "segmenter"
    assert "UD" in " ".join(seg.meta["trained_on"])
    assert (seg.folder / "ATTRIBUTION.txt").is_file()
    words = seg.segment("Ủy ban nhân dân Thành phố Hồ Chí Minh ban hành kế hoạch")
    assert "Ủy ban nhân dân" in words or ("Ủy ban" in words and "nhân dân" in words)
    assert "kế hoạch" in words and "ban hành" in words
    assert "Hồ Chí Minh" in words or "Thành phố Hồ Chí Minh" in words


def test_packaged_model_real_text(tmp_path: Path) -> None:
    seg = get_segmenter(tmp_path)
    text = ("Sở Giao thông vận tải đề xuất xây dựng cầu mới, dự kiến hoàn thành vào năm 2026 "
            "với tổng vốn 1.234,5 tỷ đồng (tăng 12,5%).")
    spans = seg.segment_spans(text)
    round_trip(text, spans)
    words = [w for w, _, _ in spans]
    assert "xây dựng" in words and "hoàn thành" in words and "1.234,5" in words and "12,5%" in words
    assert "Giao thông" in words and "(" in words
    assert seg.segment("😀") == ["😀"]
    assert isinstance(Segmenter(seg.folder).segment("người dân"), list)


def test_threads_share_a_segmenter(tiny_home: Path) -> None:
    import threading

    seg = get_segmenter(tiny_home)
    texts = [" ".join(s) for s in tiny_corpus(30, seed=11)]
    expected = [seg.segment(t) for t in texts]
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            results[k] = [get_segmenter(tiny_home).segment(t) for t in texts * 5][: len(texts)]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(results[k] == expected for k in range(4))
