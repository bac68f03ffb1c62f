"""NER: training a tiny CRF into a temporary CITYAI_HOME, recognition with offsets, evaluation, and
publishing safety. No shared data needed: the corpus is written here."""

from __future__ import annotations

import itertools
import json
import unicodedata
from pathlib import Path

import pytest

from cityai.language import crf, ner, registry
from cityai.language.corpora import NerToken, read_vlsp2016, sentence_key

PEOPLE = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Minh Châu", "Phạm Quốc Dũng", "Hoàng Thị Hoa", "Võ Văn Kiệt"]
PLACES = ["Hà Nội", "Đà Nẵng", "Cần Thơ", "Huế", "Hải Phòng", "Nha Trang"]
ORGS = [("Vinamilk", "ORG"), ("Viettel", "ORG"), ("FPT", "ORG")]


def _sentences() -> list[list[tuple[str, str, str]]]:
    """(word, POS, NER) sentences from three templates."""
    out = []
    for k, (per, loc) in enumerate(itertools.product(PEOPLE, PLACES)):
        org = ORGS[k % len(ORGS)][0]
        out.append([("Ông", "Nc", "O"), (per, "NNP", "B-PER"), ("đến", "V", "O"), (loc, "NNP", "B-LOC"),
                    ("hôm qua", "N", "O"), (".", "CH", "O")])
        out.append([("Công ty", "N", "B-ORG"), (org, "NNP", "I-ORG"), ("mở", "V", "O"),
                    ("chi nhánh", "N", "O"), ("tại", "E", "O"), (loc, "NNP", "B-LOC"), (".", "CH", "O")])
        out.append([("Bà", "Nc", "O"), (per, "NNP", "B-PER"), ("làm việc", "V", "O"), ("ở", "E", "O"),
                    (loc, "NNP", "B-LOC"), (".", "CH", "O")])
    return out


def write_corpus(root: Path) -> Path:
    """A folder shaped like ``shared/data/vlsp2016-ner`` (train/*.txt with <s> blocks; dev.txt)."""
    folder = root / "vlsp2016-ner"
    (folder / "train").mkdir(parents=True)
    sents = _sentences()
    lines = ["<title>t</title>", "<editor>e</editor>", "-DOCSTART-"]
    for s in sents:
        lines.append("<s>")
        lines += [f"{w.replace(' ', '_')}\t{p}\tB-NP\t{t}\tO" for w, p, t in s]
        lines.append("</s>")
    (folder / "train" / "1.txt").write_text("\ufeff" + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    dev = sents[:9]  # dev.txt is carved out of train/, as in the real data
    (folder / "dev.txt").write_text(
        "\n\n".join("\n".join(f"{w}\t{'Np' if p == 'NNP' else p}\tB-NP\t{t}" for w, p, t in s)
                    for s in dev) + "\n",
        encoding="utf-8")
    return folder


PARAMS = {"max_iterations": 40}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    folder = write_corpus(root / "data")
    base = root / "home"
    meta = ner.train_ner(root / "data", base=base, exclude_dev=True, params=PARAMS)
    return folder, base, meta


def test_training_publishes_a_model_with_meta(trained):
    folder, base, meta = trained
    out = registry.built_dir("ner", base)
    assert (out / ner.MODEL_FILE).is_file() and (out / "meta.json").is_file()
    on_disk = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert on_disk["name"] == "ner" and on_disk["size_bytes"] == meta["size_bytes"] > 0
    dev = {sentence_key([t.word for t in s]) for s in read_vlsp2016(folder / "dev.txt")}
    train = [sentence_key([t.word for t in s]) for s in read_vlsp2016(folder / "train")]
    kept = [k for k in train if k not in dev]
    assert 0 < len(kept) < len(train) - len(dev)  # every copy of a dev sentence left out
    # gold sentences + their re-segmented copies (the packaged segmenter) unless no segmenter loads
    assert meta["training"]["sequences"] == len(kept) * (2 if meta["resegmented"]["mode"] == "union" else 1)
    assert "dev.txt sentences excluded" in meta["trained_on"]
    assert meta["scores"]["dev_gold_pos"]["gold"] == 9 * 2  # 9 dev sentences, 2 entities each
    assert "clusters" not in meta  # too few words to cluster: skipped, not failed
    assert not [p for p in (base / "models" / "language").iterdir() if p.name.startswith(".")]


def test_tag_words_on_gold_words(trained):
    _, base, _ = trained
    rec = ner.Recognizer(base=base)
    assert rec.model == "crf"
    words = ["Bà", "Lê Minh Châu", "làm việc", "ở", "Huế", "."]
    assert rec.tag_words(words, ["Nc", "Np", "V", "E", "Np", "CH"]) == ["O", "B-PER", "O", "O", "B-LOC", "O"]
    assert rec.tag_words([], []) == []


class _FakeSegmenter:
    """Splits on spaces except inside the known multi-syllable words (so the test does not depend on
    the segmentation model)."""

    WORDS = PEOPLE + PLACES + ["Công ty", "chi nhánh", "làm việc", "hôm qua"]

    def segment_spans(self, text):
        import re

        pat = "|".join(re.escape(w) for w in sorted(self.WORDS, key=len, reverse=True))
        return [(m.group(), m.start(), m.end()) for m in re.finditer(rf"{pat}|\w+|[^\w\s]", text)]


class _FakePos:
    def tag(self, words):
        return ["Np" if w[0].isupper() and w not in ("Ông", "Bà", "Công ty") else
                ("CH" if not w[0].isalnum() else "V") for w in words]


def _with_fakes(rec: ner.Recognizer) -> ner.Recognizer:
    rec._segmenter, rec._pos, rec._loaded = _FakeSegmenter(), _FakePos(), True
    return rec


def test_recognize_offsets_and_merge_with_domain_entities(trained):
    _, base, _ = trained
    rec = _with_fakes(ner.Recognizer(base=base))
    text = "Ông  Trần Thị Bình đến Đà Nẵng hôm qua. Theo kế hoạch 140/KH-UBND, UBND phường Bến Thành họp."
    ents = rec.recognize(text)
    for e in ents:
        assert text[e["start"]:e["end"]] == e["text"]
    assert [(e["label"], e["text"]) for e in ents] == [
        ("PER", "Trần Thị Bình"), ("LOC", "Đà Nẵng"), ("DOC_REF", "140/KH-UBND"),
        ("AGENCY", "UBND phường Bến Thành")]
    assert ents[0]["start"] == text.index("Trần")


def test_statistical_entity_inside_a_domain_entity_is_dropped(trained, monkeypatch):
    _, base, _ = trained
    rec = _with_fakes(ner.Recognizer(base=base))
    text = "Sở Y tế Hà Nội họp."
    fixed = {"Sở": "B-ORG", "Hà Nội": "B-LOC"}
    monkeypatch.setattr(rec, "tag_words", lambda words, tags: [fixed.get(w, "O") for w in words])
    assert [(e["label"], e["text"]) for e in rec.recognize(text)] == [("AGENCY", "Sở Y tế Hà Nội")]


def test_recognize_nfd_emoji_and_real_pipeline_offsets(trained):
    _, base, _ = trained
    rec = ner.get_recognizer(base)
    assert rec.model == "crf" and rec is ner.get_recognizer(base)  # cached
    text = unicodedata.normalize(
        "NFD", "🎉 Ông Nguyễn Văn An đến Hà Nội 東京. Xã Bình Chánh 👍🏽 ban hành 30/2020/NĐ-CP")
    ents = rec.recognize(text)
    for e in ents:
        assert text[e["start"]:e["end"]] == e["text"] and e["label"] in ner.LABELS
    labels = {e["label"] for e in ents}
    assert {"DOC_REF", "WARD"} <= labels
    assert sorted(ents, key=lambda e: e["start"]) == ents
    assert all(a["end"] <= b["start"] for a, b in zip(ents, ents[1:]))  # no overlaps
    assert rec.recognize_many(["", text]) == [[], ents]


def test_without_a_model_rules_only(tmp_path):
    rec = ner.get_recognizer(tmp_path)
    assert rec.model == "rules"
    text = "Ông Nguyễn Văn An gửi Sở Tài chính văn bản 45/UBND-VX."
    assert [(e["label"], e["text"]) for e in rec.recognize(text)] == [
        ("AGENCY", "Sở Tài chính"), ("DOC_REF", "45/UBND-VX")]
    assert rec.recognize("") == [] and rec.recognize("   ") == []


def test_crashed_training_leaves_the_published_model(tmp_path, monkeypatch):
    write_corpus(tmp_path / "data")
    base = tmp_path / "home"
    ner.train_ner(tmp_path / "data", base=base, params=PARAMS)
    out = registry.built_dir("ner", base)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*a, **k):
        raise RuntimeError("killed")

    monkeypatch.setattr(crf, "train_crf", boom)
    with pytest.raises(RuntimeError, match="killed"):
        ner.train_ner(tmp_path / "data", base=base, params=PARAMS)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in (base / "models" / "language").iterdir()] == ["ner"]  # no temporary leftovers
    assert ner.get_recognizer(base).model == "crf"


def _sent(tags: list[str]) -> list[NerToken]:
    return [NerToken(f"w{i}", "N", "O", t) for i, t in enumerate(tags)]


def test_evaluate_ner_conlleval_style():
    gold = [_sent(["B-PER", "I-PER", "O", "B-LOC"]), _sent(["B-ORG", "I-ORG", "O"])]
    preds = {0: ["B-PER", "I-PER", "O", "B-ORG"], 1: ["B-ORG", "O", "O"]}
    it = iter(range(2))
    r = ner.evaluate_ner(gold, lambda s: preds[next(it)])
    assert r["overall"]["correct"] == 1 and r["overall"]["gold"] == 3 and r["overall"]["predicted"] == 3
    assert r["overall"]["f1"] == pytest.approx(33.33, abs=0.01)
    assert r["labels"]["PER"]["f1"] == 100.0 and r["labels"]["LOC"]["recall"] == 0.0
    assert r["labels"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                  "gold": 1, "predicted": 2, "correct": 0}
    perfect = ner.evaluate_ner(gold, lambda s: [t.ner for t in s])
    assert perfect["overall"]["f1"] == 100.0 and perfect["token_accuracy"] == 100.0
    with pytest.raises(ValueError):
        ner.evaluate_ner(gold, lambda s: ["O"])


def test_entities_from_bio():
    assert ner.entities_from_bio(["O", "I-PER", "I-PER", "B-PER", "I-LOC", "O"]) == [
        ("PER", 1, 3), ("PER", 3, 4), ("LOC", 4, 5)]
    assert ner.entities_from_bio([]) == []


def test_canon_pos():
    assert [ner.canon_pos(t) for t in ["NNP", "Ns", "Cc", "Np", "Adj", ",", "", "PROPN"]] == [
        "Np", "Nc", "C", "Np", "A", "CH", "X", "Np"]


def test_fallback_spans_keep_offsets():
    text = "Ông  Nguyễn Văn An, đến\nHà Nội!"
    spans = ner._fallback_spans(text)
    assert ("Nguyễn Văn An", text.index("Nguyễn"), text.index(",")) in spans
    for w, a, b in spans:
        assert " ".join(text[a:b].split()) == w


class _ListSegmenter:
    """Returns fixed words (found left to right in the text), to mimic a segmenter whose word units
    differ from the corpus': words straddling entity boundaries, split and merged names."""

    def __init__(self, words):
        self.words = words

    def segment_spans(self, text):
        out, pos = [], 0
        for w in self.words:
            a = text.index(w, pos)
            out.append((w, a, a + len(w)))
            pos = a + len(w)
        return out


def test_labels_projected_onto_resegmented_words():
    words = ["Ông", "Nguyễn Văn An", "đến", "Hà Nội", "Hải Phòng", "."]
    bio = ["O", "B-PER", "O", "B-LOC", "B-LOC", "O"]
    seg = _ListSegmenter(["Ông Nguyễn", "Văn", "An đến", "Hà", "Nội Hải", "Phòng", "."])
    sent = [NerToken(w, "N", "O", t) for w, t in zip(words, bio)]
    [(new, tags, labels)] = ner.resegment_sentences([sent], seg, _FakePos())
    assert new == ["Ông Nguyễn", "Văn", "An đến", "Hà", "Nội Hải", "Phòng", "."]
    assert tags == _FakePos().tag(new)
    # "Ông Nguyễn": 6 of 9 letters in the PER -> B-PER; "An đến": 2 of 5 -> O; "Nội Hải": half in each
    # LOC -> the first one (continues it); "Phòng" starts the second LOC.
    assert labels == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-LOC", "O"]
    # the same words as the corpus: the gold tags come back unchanged
    same = ner.project_labels(words, bio, _ListSegmenter(words).segment_spans(" ".join(words)))
    assert same == bio


def test_training_on_resegmented_copies(tmp_path):
    write_corpus(tmp_path / "data")
    seg = _FakeSegmenter()
    n = len(_sentences())
    meta = ner.train_ner(tmp_path / "data", base=tmp_path / "a", params=PARAMS, segmenter=seg, tagger=_FakePos())
    assert meta["resegmented"]["mode"] == "union" and meta["training"]["sequences"] == 2 * n
    meta = ner.train_ner(tmp_path / "data", base=tmp_path / "b", params=PARAMS, resegment="only",
                         segmenter=seg, tagger=_FakePos())
    assert meta["training"]["sequences"] == n and meta["resegmented"]["segmentation_differs"] == 0
    rec = ner.Recognizer(base=tmp_path / "b")
    assert rec.tag_words(["Bà", "Lê Minh Châu", "làm việc", "ở", "Huế", "."],
                         _FakePos().tag(["Bà", "Lê Minh Châu", "làm việc", "ở", "Huế", "."]))[1] == "B-PER"
    meta = ner.train_ner(tmp_path / "data", base=tmp_path / "c", params=PARAMS, resegment=False)
    assert meta["training"]["sequences"] == n and meta["resegmented"] == {"mode": None}
    with pytest.raises(ValueError):
        ner.train_ner(tmp_path / "data", base=tmp_path / "d", resegment="both")


def test_no_resegmented_copies_with_only_the_packaged_models(tmp_path):
    """The packaged UD-VTB segmenter/POS (another tagset) are not what a deployment with VLSP data serves:
    training then uses the gold sentences only and says why."""
    write_corpus(tmp_path / "data")
    meta = ner.train_ner(tmp_path / "data", base=tmp_path / "home", params=PARAMS, clusters=False)
    assert meta["resegmented"]["mode"] is None and "packaged" in meta["resegmented"]["skipped"]
