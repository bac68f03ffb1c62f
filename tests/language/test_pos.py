"""Tests for cityai.language.pos: a tiny model trained in a tmp home, the packaged UD model, reloads
and crash safety."""

from __future__ import annotations

import importlib
import random
from pathlib import Path

import pytest

from cityai.language import registry
from cityai.language.pos import PosTagger, get_tagger, pos_features, train_pos

posmod = importlib.import_module("cityai.language.pos")

NOUNS = ["ủy ban", "nhân dân", "thành phố", "kế hoạch", "công trình", "người dân", "giao thông"]
VERBS = ["ban hành", "phát triển", "xây dựng", "đề xuất", "kiểm tra"]
NAMES = ["Hà Nội", "Đà Nẵng", "Cần Thơ"]


def tiny_corpus(n: int = 60, seed: int = 5) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(1, 3)):
            words += [rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS), "tại", rng.choice(NAMES)]
            tags += ["N", "V", "N", "E", "NNP"]
        out.append((words + ["."], tags + ["CH"]))
    return out


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("poshome")
    train_pos(sentences=tiny_corpus(), base=base, max_iterations=40)
    return base


def test_features_shape() -> None:
    feats = pos_features(["Ủy ban", "nhân dân", ",", "\ud800"])
    assert len(feats) == 4
    assert "w0:ủy_ban" in feats[0] and "n:2" in feats[0] and "f:ủy" in feats[0] and "l:ban" in feats[0]
    assert "x:," in feats[2]
    assert pos_features([]) == []


def test_tiny_model_tags(tiny_home: Path) -> None:
    tagger = get_tagger(tiny_home)
    assert tagger.folder == registry.built_dir("pos", tiny_home)
    assert tagger.tagset == "vlsp2016"
    words = ["người dân", "kiểm tra", "công trình", "tại", "Cần Thơ", "."]
    assert tagger.tag(words) == ["N", "V", "N", "E", "NNP", "CH"]
    assert tagger.tag([]) == []
    assert len(tagger.tag(["\ud800", "", "😀"])) == 3
    assert tagger.tag_sentences([["."], []]) == [["CH"], []]


def test_held_out_documents_are_scored(tmp_path: Path) -> None:
    data = tmp_path / "train"
    data.mkdir()

    def doc(sents) -> str:
        lines = ["<title>t</title>", "-DOCSTART-"]
        for words, tags in sents:
            lines.append("<s>")
            lines += [f"{w.replace(' ', '_')}\t{t}\tO\tO\tO" for w, t in zip(words, tags)]
            lines.append("</s>")
        return "\n".join(lines) + "\n"

    corpus = tiny_corpus(40)
    (data / "c.txt").write_text(doc(corpus[:30]), encoding="utf-8")  # crc32("c.txt") % 1000 = 642: trained on
    (data / "a.txt").write_text(doc(corpus[30:]), encoding="utf-8")  # crc32("a.txt") % 1000 = 66: held out
    meta = train_pos(data, base=tmp_path / "home", holdout=0.5, max_iterations=30)
    assert (meta["train_sentences"], meta["heldout_sentences"]) == (30, 10)
    assert meta["scores"]["vlsp2016_heldout"]["accuracy"] > 0.9
    assert "NNP" in meta["labels"]


def test_crash_keeps_published_model_and_reload(tmp_path: Path, monkeypatch) -> None:
    train_pos(sentences=tiny_corpus(20), base=tmp_path, max_iterations=10)
    first = get_tagger(tmp_path)
    assert get_tagger(tmp_path) is first

    def boom(*a, **k):
        raise RuntimeError("trainer crashed")

    monkeypatch.setattr(posmod, "train_crf", boom)
    with pytest.raises(RuntimeError):
        train_pos(sentences=tiny_corpus(20), base=tmp_path, max_iterations=10)
    assert sorted(p.name for p in registry.models_root(tmp_path).iterdir()) == ["pos"]
    assert get_tagger(tmp_path) is first
    monkeypatch.undo()
    train_pos(sentences=tiny_corpus(20, seed=9), base=tmp_path, max_iterations=11)
    second = get_tagger(tmp_path)
    assert second is not first and second.meta["training"]["params"]["max_iterations"] == 11


def test_packaged_model(tmp_path: Path) -> None:
    tagger = get_tagger(tmp_path)
    assert tagger.folder == registry.PACKAGED / "pos"
    assert tagger.meta["tagset"] == "ud-upos"
    assert (tagger.folder / "ATTRIBUTION.txt").is_file()
    tags = tagger.tag(["Ủy ban", "nhân dân", "thành phố", "ban hành", "kế hoạch", "phát triển", "."])
    assert tags[0] == "NOUN" and tags[3] == "VERB" and tags[4] == "NOUN" and tags[-1] == "PUNCT"
    assert isinstance(PosTagger(tagger.folder).tag(["tôi"]), list)
