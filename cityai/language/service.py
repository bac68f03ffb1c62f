"""The language module's stateless analyses as service actions (API, pages, CLI and other modules
call these): normalize, sentences, segment (+ POS), named entities, summarize, digest, embed.

Every action checks its input the same way (:func:`check_text`): a missing or non-string text is a
422; text over ``CITYAI_LANGUAGE_MAX_TEXT_BYTES`` (UTF-8, default 5 MiB) is a 413 that says the limit;
lone surrogates (malformed UTF-16 that JSON can carry as ``"\\ud800"``) become U+FFFD, one code point
for one, so character offsets still refer to the caller's text; empty or white-space text gives an
empty result. Batches (``texts``) hold at most ``CITYAI_LANGUAGE_MAX_BATCH`` texts and the same byte
limit in total.

Who may call: with ``CITYAI_LANGUAGE_PUBLIC=true`` (the default) anyone, signed in or not - nothing is
stored and the size limits apply; with ``false`` an authenticated caller (session or API token). The
authorization is :func:`_auth_analyse`, next to the actions.
"""

from __future__ import annotations

import re
import time
from typing import Any, Sequence

from cityai.core import authz
from cityai.core.config import get_settings
from cityai.core.context import Context
from cityai.core.errors import T_TOO_LARGE, T_UNAVAILABLE, Problem, invalid

_SURROGATE = re.compile("[\ud800-\udfff]")


def _auth_analyse(ctx: Context, *a: Any, **k: Any) -> bool:
    if get_settings().language_public:
        return True
    return authz.authenticated(ctx)


def _too_large(size: int, limit: int, field: str) -> Problem:
    return Problem(413, "payload-too-large", T_TOO_LARGE,
                   (f"Văn bản dài {size:,} byte, vượt giới hạn {limit:,} byte (CITYAI_LANGUAGE_MAX_TEXT_BYTES).",
                    f"The text is {size:,} bytes, over the {limit:,}-byte limit (CITYAI_LANGUAGE_MAX_TEXT_BYTES)."),
                   field=field, limit_bytes=limit, size_bytes=size)


def _no_model(exc: LookupError) -> Problem:
    return Problem(503, "not-ready", T_UNAVAILABLE,
                   (f"Chưa có mô hình cho dịch vụ này: {exc}. Chạy 'cityai language train'.",
                    f"No model for this service: {exc}. Run 'cityai language train'."))


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def check_text(text: Any, field: str = "text", *, budget: int | None = None) -> str:
    """The text to analyse, or a problem that says what is wrong with it (see the module docstring)."""
    if text is None:
        raise invalid((f"Thiếu trường '{field}'.", f"'{field}' is required."), field=field)
    if not isinstance(text, str):
        raise invalid((f"Trường '{field}' phải là chuỗi văn bản.", f"'{field}' must be a string."), field=field)
    limit = get_settings().language_max_text_bytes if budget is None else budget
    if len(text) > limit or _utf8_len(text) > limit:  # len() first: a cheap bound before encoding
        raise _too_large(_utf8_len(text), limit, field)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def check_texts(texts: Any, field: str = "texts") -> list[str]:
    s = get_settings()
    if texts is None:
        raise invalid((f"Thiếu trường '{field}'.", f"'{field}' is required."), field=field)
    if not isinstance(texts, (list, tuple)):
        raise invalid((f"Trường '{field}' phải là danh sách văn bản.", f"'{field}' must be a list of strings."),
                      field=field)
    if len(texts) > s.language_max_batch:
        raise invalid((f"Tối đa {s.language_max_batch} văn bản mỗi lần gọi (có {len(texts)}).",
                       f"At most {s.language_max_batch} texts per call (got {len(texts)})."),
                      field=field, limit=s.language_max_batch)
    out: list[str] = []
    left = s.language_max_text_bytes
    for i, t in enumerate(texts):
        try:
            t = check_text(t, f"{field}[{i}]", budget=left)
        except Problem as p:
            if p.status == 413:
                total = sum(_utf8_len(x) for x in texts if isinstance(x, str))
                raise _too_large(total, s.language_max_text_bytes, field) from None
            raise
        left -= _utf8_len(t)
        out.append(t)
    return out


def _one_or_many(text: Any, texts: Any) -> tuple[list[str], bool]:
    if text is not None and texts is not None:
        raise invalid(("Gửi 'text' hoặc 'texts', không gửi cả hai.", "Send 'text' or 'texts', not both."))
    if texts is not None:
        return check_texts(texts), True
    return [check_text(text)], False


# ------------------------------------------------------------------ normalize, sentences

@authz.action("language.normalize", scope="read", auth=_auth_analyse)
def language_normalize(ctx: Context, *, text: Any) -> dict[str, Any]:
    """Normalize Vietnamese text: NFC, one tone-mark placement, lookalike letters, dashes, spaces."""
    from cityai.language.normalize import clean, split_sentences

    text = check_text(text)
    return {"text": clean(text), "sentences": [{"text": s, "start": a, "end": b} for s, a, b in split_sentences(text)]}


# ------------------------------------------------------------------ segmentation and POS

def _segment_one(text: str, pos: bool) -> dict[str, Any]:
    from cityai.language.segment import get_segmenter

    if not text.strip():
        return {"tokens": [], **({"tags": []} if pos else {})}
    spans = get_segmenter().segment_spans(text)
    out: dict[str, Any] = {"tokens": [w for w, _, _ in spans], "offsets": [[a, b] for _, a, b in spans]}
    if pos:
        from cityai.language.pos import get_tagger

        out["tags"] = get_tagger().tag(out["tokens"]) if spans else []
    return out


@authz.action("language.segment", scope="read", auth=_auth_analyse)
def language_segment(ctx: Context, *, text: Any = None, texts: Any = None, pos: bool = False) -> dict[str, Any]:
    """Split Vietnamese text into words (syllables of a word joined by a space), with POS tags on request."""
    items, many = _one_or_many(text, texts)
    try:
        results = [_segment_one(t, bool(pos)) for t in items]
    except (LookupError, OSError) as exc:  # no model, or one being swapped in by a training right now
        raise _no_model(exc) from None
    meta = {"model": model_info("segmenter"), **({"pos_model": model_info("pos")} if pos else {})}
    return {"results": results, **meta} if many else {**results[0], **meta}


# ------------------------------------------------------------------ named entities

@authz.action("language.ner", scope="read", auth=_auth_analyse)
def language_ner(ctx: Context, *, text: Any = None, texts: Any = None) -> dict[str, Any]:
    """Named entities (PER, LOC, ORG, MISC; AGENCY, DOC_REF, WARD) with character offsets."""
    from cityai.language.ner import get_recognizer

    items, many = _one_or_many(text, texts)
    try:
        rec = get_recognizer()
        results = [{"entities": rec.recognize(t) if t.strip() else []} for t in items]
    except (LookupError, OSError) as exc:  # a model folder being swapped in by a training right now
        raise _no_model(exc) from None
    meta = {"model": model_info("ner")}
    return {"results": results, **meta} if many else {**results[0], **meta}


# ------------------------------------------------------------------ summaries

def _max_sentences(value: Any) -> int:
    if value is None:
        return 3
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise invalid(("'max_sentences' phải là số nguyên từ 1 đến 100.", "'max_sentences' must be an integer 1-100."),
                      field="max_sentences")
    return value


@authz.action("language.summarize", scope="read", auth=_auth_analyse)
def language_summarize(ctx: Context, *, text: Any, max_sentences: Any = None, method: str = "textrank") -> dict[str, Any]:
    """An extractive summary: the text's most central sentences, in their original order."""
    from cityai.language import summarize

    text = check_text(text)
    n = _max_sentences(max_sentences)
    if method not in ("textrank", "centroid"):
        raise invalid(("'method' là 'textrank' hoặc 'centroid'.", "'method' is 'textrank' or 'centroid'."),
                      field="method")
    from cityai.language.normalize import split_sentences

    limit = get_settings().language_max_summary_sentences
    spans = split_sentences(text) if text.strip() else []
    truncated = len(spans) > limit
    if truncated:  # the sentence graph is n x n: a long text is summarized from its first `limit` sentences
        text = text[:spans[limit - 1][2]]
    picked = summarize.summarize(text, max_sentences=n, method=method) if spans else []
    return {"sentences": [p["text"] for p in picked], "details": picked, "method": method,
            "sentences_read": min(len(spans), limit), "sentences_total": len(spans), "truncated": truncated}


@authz.action("language.digest", scope="read", auth=_auth_analyse)
def language_digest(ctx: Context, *, documents: Any, max_sentences: Any = None) -> dict[str, Any]:
    """A digest of several documents: the sentences that cover them best, each with its source."""
    from cityai.language import summarize

    if not isinstance(documents, list) or not documents:
        raise invalid(("'documents' là danh sách văn bản {id, title, text}.",
                       "'documents' is a non-empty list of {id, title, text}."), field="documents")
    texts = check_texts([d.get("text") if isinstance(d, dict) else None for d in documents], "documents")
    docs = [{"id": str(d.get("id") if d.get("id") is not None else i + 1), "title": str(d.get("title") or ""), "text": t}
            for i, (d, t) in enumerate(zip(documents, texts))]
    n = _max_sentences(max_sentences)
    from cityai.language.normalize import split_sentences

    limit = get_settings().language_max_summary_sentences
    total = sum(len(split_sentences(d["text"])) for d in docs)
    if total > limit:
        raise invalid((f"Các văn bản có {total:,} câu; bản tổng hợp đọc tối đa {limit:,} câu "
                       "(CITYAI_LANGUAGE_MAX_SUMMARY_SENTENCES). Hãy gửi ít văn bản hơn hoặc tóm tắt từng văn bản.",
                       f"The documents hold {total:,} sentences; a digest reads at most {limit:,} "
                       "(CITYAI_LANGUAGE_MAX_SUMMARY_SENTENCES). Send fewer documents or summarize each one."),
                      field="documents", limit=limit, sentences=total)
    return {"sentences": summarize.digest(docs, max_sentences=n)}


# ------------------------------------------------------------------ embeddings

@authz.action("language.embed", scope="read", auth=_auth_analyse)
def language_embed(ctx: Context, *, texts: Any, kind: Any = "passage") -> dict[str, Any]:
    """Sentence embeddings (multilingual-e5-small, offline) with the model's query/passage prefixes."""
    from cityai.language import embed

    if kind not in ("query", "passage"):
        raise invalid(("'kind' là 'query' hoặc 'passage'.", "'kind' is 'query' or 'passage'."), field="kind")
    items = check_texts(texts)
    most = get_settings().language_max_embed_texts
    if len(items) > most:
        raise invalid((f"Tối đa {most} văn bản mỗi lần nhúng (có {len(items)}; CITYAI_LANGUAGE_MAX_EMBED_TEXTS).",
                       f"At most {most} texts per embedding call (got {len(items)}; CITYAI_LANGUAGE_MAX_EMBED_TEXTS)."),
                      field="texts", limit=most)
    chars, cap = sum(len(t) for t in items), get_settings().language_max_embed_chars
    if chars > cap:
        raise invalid((f"Các văn bản dài {chars:,} ký tự; mỗi lần nhúng tối đa {cap:,} (CITYAI_LANGUAGE_MAX_EMBED_CHARS).",
                       f"The texts hold {chars:,} characters; one embedding call takes at most {cap:,} "
                       "(CITYAI_LANGUAGE_MAX_EMBED_CHARS)."), field="texts", limit=cap)
    if any(not t.strip() for t in items):
        raise invalid(("Không thể nhúng văn bản rỗng.", "Empty texts cannot be embedded."), field="texts")
    t0 = time.perf_counter()
    vectors = embed.embed(items, kind=kind) if items else []
    return {"vectors": [[round(float(x), 6) for x in v] for v in vectors], "model": embed.MODEL_ID,
            "dimensions": int(len(vectors[0])) if len(vectors) else embed.DIM,
            "seconds": round(time.perf_counter() - t0, 4)}


# ------------------------------------------------------------------ models

def model_info(name: str) -> dict[str, Any]:
    """Which model serves ``name``: built into CITYAI_HOME, shipped with the package, or none (rules)."""
    from cityai.language import registry

    folder = registry.model_dir(name)
    if folder is None:
        return {"name": name, "source": "rules"}
    meta = registry.read_meta(folder)
    source = "packaged" if folder.parent == registry.PACKAGED else "built"
    keep = ("trained_on", "built_at", "scores", "tagset", "version")
    return {"name": name, "source": source, **{k: meta[k] for k in keep if k in meta}}


@authz.action("language.models", scope="read", auth=_auth_analyse)
def language_models(ctx: Context) -> dict[str, Any]:
    """The models behind each language service, where they came from and their scores."""
    return {"models": [model_info(n) for n in ("segmenter", "pos", "ner")]}


def analyse_all(ctx: Context, text: str, *, max_sentences: int = 3) -> dict[str, Any]:
    """Everything the playground shows for one text (each part called through its action)."""
    out: dict[str, Any] = {"normalize": language_normalize(ctx, text=text)}
    out["segment"] = language_segment(ctx, text=text, pos=True)
    out["ner"] = language_ner(ctx, text=text)
    out["summary"] = language_summarize(ctx, text=text, max_sentences=max_sentences)
    return out


__all__: Sequence[str] = ("check_text", "check_texts", "language_digest", "language_embed", "language_ner",
                          "language_normalize", "language_segment", "language_summarize", "model_info")
