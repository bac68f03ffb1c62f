#!/usr/bin/env python
"""language - the language module's figures beside its peers, in one run (issue 5).

1. **Word segmentation**: word F1 (spans of characters, white space removed) and syllables/s of the
   CityAI CRF segmenter against ``underthesea.word_tokenize`` and ``pyvi.ViTokenizer`` on
   (a) UD Vietnamese-VTB test (gold words, sentences given as syllables), and (b) k-fold
   cross-validation on VLSP 2013 train: each fold trains a CityAI model on the other folds; the peers
   are scored on the same held-out fold. The peers' shipped models were trained on VLSP 2013 data
   (underthesea: VLSP 2013 train) - on (b) they have seen the test folds, so their figure is an upper
   bound. Speed: one process, one thread, the same sentences, model loading excluded.
2. **POS tagging**: accuracy on a held-out 10% of VLSP 2016 (gold words).
3. **NER**: entity F1 (exact span and label, micro over PER/LOC/ORG/MISC) on VLSP 2016 ``dev.txt``; the
   CityAI model is trained on ``train/`` minus the dev sentences (dev is carved out of train), the
   peer ``underthesea.ner`` as shipped (trained on data that includes dev, so again an upper bound).
   Gold words; POS from the CityAI tagger (predicted) and gold POS are both reported.
4. **Classification**: UIT-VSFC train → dev, sentiment and topic: accuracy and macro-F1 of the
   plain TF-IDF + logistic regression peer and of each CityAI candidate, and which one 5-fold CV picks.
5. **Retrieval**: ALQAC 2023 (first 50 training questions over the 2,131 law articles): recall@1/5/10
   and MRR of plain BM25 (bm25s on lower-cased regex tokens) against CityAI BM25 on segmented text,
   dense (multilingual-e5-small) and hybrid.

    python benchmarks/language.py                       # everything (~25-40 min on 2 cores)
    python benchmarks/language.py --only seg,ner --cv-max-folds 1
    python benchmarks/language.py --markdown /tmp/language.md --json /tmp/language.json

Reads ``../shared/data`` (or ``--data``); models are built into a temporary CITYAI_HOME (``--home`` to
keep them, and to reuse its segmenter, its embedding cache ``cache/embeddings.sqlite`` and the UIT-VSFC
embeddings in ``uit-vsfc-embeddings/``: embedding the 2,131 ALQAC articles and the 13,000 UIT-VSFC
sentences cold takes ~10 and ~5 minutes on one core).
"""

from __future__ import annotations

import argparse
import json
import os
import platform as _platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from cityai.language import corpora  # noqa: E402
from cityai.language.evaluate import word_prf  # noqa: E402

SECTIONS = ("seg", "pos", "ner", "cls", "ret")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# ------------------------------------------------------------------ segmenters under test

def _peer_underthesea() -> Callable[[str], list[str]] | None:
    try:
        from underthesea import word_tokenize
        word_tokenize("khởi động")
    except Exception as exc:  # noqa: BLE001
        log(f"underthesea unavailable: {exc}")
        return None
    return lambda s: word_tokenize(s)


def _peer_pyvi() -> Callable[[str], list[str]] | None:
    try:
        from pyvi import ViTokenizer
        ViTokenizer.tokenize("khởi động")
    except Exception as exc:  # noqa: BLE001
        log(f"pyvi unavailable: {exc}")
        return None
    return lambda s: [w.replace("_", " ") for w in ViTokenizer.tokenize(s).split()]


def _ours(base: Path) -> Callable[[str], list[str]]:
    from cityai.language.segment import get_segmenter

    seg = get_segmenter(base)
    return seg.segment


def score_segmenters(gold: list[list[str]], systems: dict[str, Callable[[str], list[str]]]) -> dict[str, Any]:
    texts = [" ".join(s) for s in gold]
    syllables = sum(len(t.split()) for t in texts)
    out = {}
    for name, fn in systems.items():
        pred, secs = timed(lambda: [fn(t) for t in texts])
        out[name] = {**word_prf(gold, pred), "seconds": round(secs, 2), "syllables_per_s": round(syllables / secs)}
        log(f"  {name:12s} F1 {out[name]['f1']:.4f}  {out[name]['syllables_per_s']:,} syll/s")
    return {"sentences": len(gold), "syllables": syllables, "systems": out}


def bench_segmentation(data: Path, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from cityai.language import registry
    from cityai.language.segment import train_segmenter

    res: dict[str, Any] = {}
    if registry.model_dir("segmenter", home) is None or registry.model_dir("segmenter", home).parent == registry.PACKAGED:
        log("training the segmenter (VLSP 2013 train + UD-VTB train) ...")
        meta, secs = timed(lambda: train_segmenter(data, base=home))
        res["train_seconds"] = round(secs, 1)
        res["model"] = {k: meta.get(k) for k in ("trained_on", "size_bytes", "scores")}
    peers = {"underthesea": _peer_underthesea(), "pyvi": _peer_pyvi()}
    peers = {k: v for k, v in peers.items() if v}
    systems = {"cityai": _ours(home), **peers}
    log("UD-VTB test ...")
    ud = [[t.word for t in s] for s in corpora.read_conllu(data / "ud-vi-vtb" / "vi_vtb-ud-test.conllu")]
    res["ud_test"] = score_segmenters(ud, systems)

    log(f"VLSP 2013 train, {args.cv_folds}-fold CV (first {args.cv_max_folds} folds) ...")
    sents = corpora.read_vlsp2013(data / "vlsp2013-ws" / "train")
    idx = list(range(len(sents)))
    random.Random(7).shuffle(idx)
    folds = []
    for f in range(min(args.cv_folds, args.cv_max_folds)):
        test_ids = set(idx[f::args.cv_folds])
        train = [sents[i] for i in idx if i not in test_ids]
        test = [sents[i] for i in sorted(test_ids)]
        if args.cv_test_limit:
            test = test[:args.cv_test_limit]
        with tempfile.TemporaryDirectory() as tmp:
            log(f" fold {f + 1}: training on {len(train):,} sentences ...")
            _, secs = timed(lambda: train_segmenter(sentences=train, base=tmp, include_ud=False))
            fold = score_segmenters(test, {"cityai": _ours(Path(tmp)), **peers})
            fold["train_seconds"] = round(secs, 1)
            folds.append(fold)
    res["vlsp_cv"] = {"folds_total": args.cv_folds, "folds_run": len(folds), "folds": folds}
    if folds:
        names = folds[0]["systems"].keys()
        res["vlsp_cv"]["mean"] = {n: round(sum(fd["systems"][n]["f1"] for fd in folds) / len(folds), 5) for n in names}
    return res


# ------------------------------------------------------------------ POS and NER

def bench_pos(data: Path, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from cityai.language.evaluate import pos_accuracy
    from cityai.language.pos import PosTagger, load_pos_sentences, train_pos

    train, held, desc = load_pos_sentences(data, holdout=0.1)
    with tempfile.TemporaryDirectory() as tmp:
        log(f"POS: training on {len(train):,} sentences, {len(held):,} held out ...")
        _, secs = timed(lambda: train_pos(data, base=tmp, holdout=0.1))
        from cityai.language.pos import get_tagger

        tagger: PosTagger = get_tagger(tmp)
        gold = [list(tags) for _, tags in held]
        pred, psecs = timed(lambda: [tagger.tag(list(words)) for words, _ in held])
    out = {**pos_accuracy(gold, pred), "train_seconds": round(secs, 1), "tokens_per_s": round(sum(map(len, gold)) / psecs)}
    log(f"  POS accuracy {out['accuracy']:.4f}")
    return out


def score_raw(dev: list, predict: Callable[[str], list[tuple[int, int, str]]]) -> dict[str, Any]:
    """Entity F1 by character span and label on raw text: each gold sentence's words joined by spaces."""
    gold_n = pred_n = ok = 0
    per: dict[str, list[int]] = {}
    for s in dev:
        text, spans, pos, cur = "", [], 0, None
        for i, t in enumerate(s):
            if i:
                text += " "
            start = len(text)
            text += t.word
            tag = t.ner
            if tag.startswith("B-") or (tag.startswith("I-") and (cur is None or cur[2] != tag[2:])):
                cur = [start, len(text), tag[2:]]
                spans.append(cur)
            elif tag.startswith("I-") and cur is not None:
                cur[1] = len(text)
            else:
                cur = None
        gold = {tuple(x) for x in spans}
        pred = set(predict(text))
        gold_n += len(gold)
        pred_n += len(pred)
        ok += len(gold & pred)
        for lab in ("PER", "LOC", "ORG", "MISC"):
            c = per.setdefault(lab, [0, 0, 0])
            c[0] += sum(1 for g in gold if g[2] == lab)
            c[1] += sum(1 for p in pred if p[2] == lab)
            c[2] += sum(1 for g in gold & pred if g[2] == lab)

    def prf(g: int, p: int, c: int) -> dict[str, float]:
        pr = c / p if p else 0.0
        rc = c / g if g else 0.0
        return {"precision": round(100 * pr, 2), "recall": round(100 * rc, 2),
                "f1": round(100 * 2 * pr * rc / (pr + rc), 2) if pr + rc else 0.0}

    return {"overall": {**prf(gold_n, pred_n, ok), "gold": gold_n, "predicted": pred_n, "correct": ok},
            "labels": {lab: prf(*c) for lab, c in per.items()}}


def bench_ner(data: Path, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from cityai.language import ner as nermod
    from cityai.language.pos import get_tagger

    dev = corpora.read_vlsp2016(data / "vlsp2016-ner" / "dev.txt")
    res: dict[str, Any] = {"sentences": len(dev)}
    with tempfile.TemporaryDirectory() as tmp:
        log("NER: training on train/ minus dev ...")
        from cityai.language.segment import get_segmenter

        # re-segmented training copies come from the segmenter and POS tagger the raw-text pipeline uses
        _, secs = timed(lambda: nermod.train_ner(data, base=tmp, exclude_dev=True, segmenter=get_segmenter(home),
                                                 tagger=get_tagger(home)))
        res["train_seconds"] = round(secs, 1)
        rec = nermod.get_recognizer(tmp)
        gold_pos = nermod.evaluate_ner(dev, lambda s: rec.tag_words([t.word for t in s], [t.pos for t in s]))
        # Predicted POS must not come from a tagger trained on these sentences: CityAI's POS model is
        # trained on VLSP 2016 train (which holds dev), so the predicted tags are underthesea's CRF POS
        # tagger's (trained on VLSP 2013 POS data) on the gold words.
        try:
            from underthesea.pipeline.pos_tag.model_crf import CRFPOSTagPredictor

            pt = CRFPOSTagPredictor.Instance()
            tag = lambda words: [p for _, p in pt.predict(words)]  # noqa: E731
            res["predicted_pos_source"] = "underthesea CRF POS tagger (VLSP 2013) on gold words"
        except Exception as exc:  # noqa: BLE001
            tagger = get_tagger(home)
            tag = tagger.tag
            res["predicted_pos_source"] = f"CityAI POS tagger (trained on data holding dev: optimistic); {exc}"
        pred_pos = nermod.evaluate_ner(dev, lambda s: rec.tag_words([t.word for t in s], tag([t.word for t in s])))
        # The whole pipeline on raw text (the sentence's words joined by spaces): CityAI's segmenter, POS
        # tagger and NER; entities compared by character span and label. Domain entities are scored as
        # what they are in VLSP terms (AGENCY -> ORG, WARD -> LOC; DOC_REF has no VLSP label: dropped).
        from cityai.language import registry

        raw_rec = nermod.Recognizer(registry.built_dir("ner", tmp), base=home)
        res["cityai_raw_text"] = score_raw(dev, lambda text: [
            (e["start"], e["end"], {"AGENCY": "ORG", "WARD": "LOC"}.get(e["label"], e["label"]))
            for e in raw_rec.recognize(text) if e["label"] != "DOC_REF"])
        res["raw_text_note"] = ("CityAI segmenter (VLSP 2013 + UD) and POS tagger (VLSP 2016 train, which holds dev: "
                                "optimistic for POS) from --home; NER trained on train minus dev")
    res["cityai_gold_pos"] = gold_pos
    res["cityai_predicted_pos"] = pred_pos
    log(f"  cityai F1 gold POS {gold_pos['overall']['f1']:.4f}, predicted POS {pred_pos['overall']['f1']:.4f}")
    try:
        from underthesea import ner as uts_ner

        def peer(s):
            text = " ".join(t.word for t in s)
            out = uts_ner(text)
            tags = [o[-1] for o in out]
            words = [o[0] for o in out]
            if [w.replace("_", " ") for w in words] != [t.word for t in s]:  # re-tokenized: align by syllables
                syl_tags: list[str] = []
                for w, tg in zip(words, tags):
                    n = len(w.replace("_", " ").split())
                    syl_tags += [tg] + [tg.replace("B-", "I-") if tg != "O" else "O"] * (n - 1)
                tags = []
                k = 0
                for t in s:
                    n = len(t.word.split())
                    tags.append(syl_tags[k] if k < len(syl_tags) else "O")
                    k += n
            return tags

        res["underthesea"] = nermod.evaluate_ner(dev, peer)
        log(f"  underthesea F1 {res['underthesea']['overall']['f1']:.4f}")

        def peer_raw(text: str) -> list[tuple[int, int, str]]:
            out, pos, spans = uts_ner(text), 0, []
            cur: list | None = None
            for o in out:
                w = o[0].replace("_", " ")
                start = text.find(w, pos)
                if start < 0:
                    cur = None
                    continue
                end = pos = start + len(w)
                tag = o[-1]
                if tag.startswith("B-") or (tag.startswith("I-") and (cur is None or cur[2] != tag[2:])):
                    cur = [start, end, tag[2:]]
                    spans.append(cur)
                elif tag.startswith("I-") and cur is not None:
                    cur[1] = end
                else:
                    cur = None
            return [tuple(x) for x in spans]

        res["underthesea_raw_text"] = score_raw(dev, peer_raw)
    except Exception as exc:  # noqa: BLE001
        res["underthesea_error"] = f"{type(exc).__name__}: {exc}"[:300]
        log(f"  underthesea.ner failed: {res['underthesea_error']}")
    return res


# ------------------------------------------------------------------ classification and retrieval

def bench_cls(data: Path, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from cityai.language.classify import uit_vsfc_eval

    log("UIT-VSFC ...")
    return uit_vsfc_eval(data / "uit-vsfc", log_fn=log, cache_dir=home / "uit-vsfc-embeddings")


def bench_ret(data: Path, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from cityai.language.search import alqac_eval

    log("ALQAC 2023 ...")
    return alqac_eval(data / "alqac2023", base=home, progress=log)


# ------------------------------------------------------------------ report

def markdown(r: dict[str, Any]) -> str:
    md = [f"Run: {r['when']}, {r['machine']}.", ""]
    seg = r.get("seg")
    if seg:
        md += ["| Segmentation | system | precision | recall | F1 | syllables/s |", "|---|---|---|---|---|---|"]
        for name, s in seg["ud_test"]["systems"].items():
            md.append(f"| UD-VTB test ({seg['ud_test']['sentences']} sentences) | {name} | {s['precision']:.4f} | "
                      f"{s['recall']:.4f} | **{s['f1']:.4f}** | {s['syllables_per_s']:,} |")
        for i, fold in enumerate(seg["vlsp_cv"]["folds"]):
            for name, s in fold["systems"].items():
                md.append(f"| VLSP 2013 train, fold {i + 1}/{seg['vlsp_cv']['folds_total']} ({fold['sentences']:,} "
                          f"sentences) | {name} | {s['precision']:.4f} | {s['recall']:.4f} | **{s['f1']:.4f}** | "
                          f"{s['syllables_per_s']:,} |")
        for name, f1 in seg["vlsp_cv"].get("mean", {}).items():
            md.append(f"| VLSP 2013 train, {len(seg['vlsp_cv']['folds'])}-fold mean | {name} | | | **{f1:.4f}** | |")
        md.append("")
    if r.get("pos"):
        p = r["pos"]
        md += [f"POS tagging (VLSP 2016, 10% held out, {p['tokens']:,} words): accuracy **{p['accuracy']:.4f}**, "
               f"{p['tokens_per_s']:,} words/s; training {p['train_seconds']} s.", ""]
    ner = r.get("ner")
    if ner:
        md += ["| NER, VLSP 2016 dev | PER F1 | LOC F1 | ORG F1 | MISC F1 | precision | recall | F1 |",
               "|---|---|---|---|---|---|---|---|"]
        for key, label in (("cityai_gold_pos", "CityAI CRF, gold words and POS"),
                           ("cityai_predicted_pos", "CityAI CRF, gold words, predicted POS"),
                           ("underthesea", "underthesea.ner, aligned to gold words"),
                           ("cityai_raw_text", "CityAI, raw text (own segmentation, POS, NER)"),
                           ("underthesea_raw_text", "underthesea.ner, raw text")):
            if key in ner:
                e = ner[key]
                per = [e.get("labels", {}).get(k, {}).get("f1", 0) for k in ("PER", "LOC", "ORG", "MISC")]
                md.append(f"| {label} | " + " | ".join(f"{x:.2f}" for x in per) +
                          f" | {e['overall']['precision']:.2f} | {e['overall']['recall']:.2f} | **{e['overall']['f1']:.2f}** |")
        if "underthesea_error" in ner:
            md.append(f"| underthesea.ner | failed: {ner['underthesea_error']} | | | | | | |")
        md.append("")
    cls = r.get("cls")
    if cls:
        md += [f"| UIT-VSFC dev ({cls['data']['dev']:,} sentences; trained on {cls['data']['train']:,}) | system | "
               "accuracy | macro-F1 | fit s | 5-fold CV macro-F1 on train |", "|---|---|---|---|---|---|"]
        names = {"peer": "peer: TfidfVectorizer(1-2) + LogisticRegression", "tfidf": "CityAI TF-IDF word+char + LR",
                 "embed": "CityAI e5 + LR", "tfidf+embed": "CityAI TF-IDF + e5 + LR"}
        for task in ("sentiment", "topic"):
            t = cls.get(task)
            if not t:
                continue
            for key, label in names.items():
                if key not in t:
                    continue
                cv = t.get("cv", {}).get("candidates", {}).get(key, {}).get("macro_f1")
                pick = " (picked by CV)" if t.get("picked") == key else ""
                md.append(f"| {task} | {label}{pick} | {t[key]['accuracy']:.4f} | **{t[key]['macro_f1']:.4f}** | "
                          f"{t[key]['train_seconds']} | {'' if cv is None else f'{cv:.4f}'} |")
        emb = cls.get("embedding_seconds", {})
        md += ["", f"e5 embeddings of the sentences: {emb.get('per_text_ms')} ms each (computed once, cached).", ""]
    ret = r.get("ret")
    if ret:
        md += ["| ALQAC 2023 (50 questions) | recall@1 | recall@5 | recall@10 | MRR |", "|---|---|---|---|---|"]
        labels = {"bm25_peer": "peer: plain BM25 (bm25s, lower-cased \\w+ tokens)",
                  "bm25": "CityAI BM25 (syllables + adjacent pairs)", "bm25_words": "CityAI BM25 on segmented words",
                  "dense": "CityAI dense (e5-small)", "hybrid": "**CityAI hybrid (weighted, alpha 0.4)**",
                  "hybrid_rrf": "CityAI hybrid (reciprocal rank fusion)"}
        for mode, label in labels.items():
            m = ret["modes"].get(mode)
            if m:
                md.append(f"| {label} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | {m['mrr']:.3f} |")
        t = ret.get("timings", {})
        md += ["", f"Search {t.get('search_ms_median')} ms (median, query embedding cached); BM25 rebuild after a "
               f"change {t.get('bm25_rebuild_s')} s; embedding {t.get('embed_passages_per_s')} passages/s cold, "
               f"{t.get('cache_hit_passages_per_s'):,.0f}/s from the cache.", ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--home", type=Path, default=None, help="CITYAI_HOME for the built models (default: temporary)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    ap.add_argument("--cv-folds", type=int, default=5)
    ap.add_argument("--cv-max-folds", type=int, default=1, help="folds actually run (each trains a model)")
    ap.add_argument("--cv-test-limit", type=int, default=0, help="score at most this many sentences per fold")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    data = args.data or corpora.shared_data_dir()
    if data is None:
        print("no ../shared/data: pass --data", file=sys.stderr)
        return 2
    home = args.home or Path(tempfile.mkdtemp(prefix="cityai-lang-bench-"))
    os.environ["CITYAI_HOME"] = str(home)
    from cityai.core.config import Settings, set_settings

    set_settings(Settings(home=home))
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "machine": f"{os.cpu_count()} CPUs, Python {_platform.python_version()}"}
    runners = {"seg": bench_segmentation, "pos": bench_pos, "ner": bench_ner, "cls": bench_cls, "ret": bench_ret}
    for name in args.only.split(","):
        name = name.strip()
        if name:
            report[name], secs = timed(lambda: runners[name](data, home, args))
            log(f"{name} done in {secs:.0f} s")
    text = markdown(report)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
