"""Syllable tokenizer: the first step of segmentation, POS tagging and NER.

:func:`syllables` splits a text into surface tokens with their character offsets into the input
(``text[start:end] == token``). A Vietnamese word is one or more syllables; the segmenter later joins
syllables into words. One token each (never split):

- numbers with separators ``1.234,5``, ``2,5``; percentages ``12,5%``; dates ``24/8/2004``,
  ``2004-08-24``; times ``06:30``, ``8h30``; phone-like digit groups ``0283-829``;
- URLs (``https://...``, ``www....``, bare domains ``hochiminhcity.gov.vn``) and e-mail addresses;
- document references ``140/KH-UBND``, ``30/2020/NĐ-CP``, ``QĐ-UBND``;
- abbreviations with dots ``TP.``, ``Q.``, ``v.v.``, ``T.Ư``, ``TP.HCM``, initials ``N.``;
- words with inner hyphens / apostrophes ``Mác-Lênin``, ``bê-tông``, ``H'Mông``, ``69K-4107``;
- ``...`` / ``…`` and runs of the same punctuation (``!!!``).

Other punctuation marks are tokens of their own; an emoji (with its modifiers, ZWJ sequences and
flags) is one token; Han / kana characters are one token each (those scripts do not use spaces);
any other character (control characters, lone surrogates, private use) becomes a one-character
symbol token or is skipped when it is whitespace. Decomposed (NFD) text is kept as it is: combining
marks stay inside their syllable. The function never raises on a ``str``.
"""

from __future__ import annotations

import re

__all__ = ["syllables", "is_punct", "ABBREVIATIONS"]

# Abbreviations that keep their final dot (compared case-sensitively, then lower-cased).
ABBREVIATIONS = frozenset(
    """TP Tp tp Q q P p TT tt TX tx H h X x Th ThS Ths TS Ts PGS GS BS CN KS LS NCS Mr Mrs Ms Dr St Jr Co Ltd
    Inc Corp No Ph PV CTV BTV ĐT Đ đ Tr tr TB ng vs etc St Mt Ô Bà Ông ĐH CĐ THPT THCS""".split()
)
_LOWER_ABBREV = frozenset(a.lower() for a in ABBREVIATIONS if len(a) > 1)

# A letter or digit, with combining marks (NFD input) allowed anywhere after the first character.
_MARK = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_HAN = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_ALNUM = rf"(?:(?![{_HAN}])[^\W_])[{_MARK}]*"
_RUN = rf"(?:{_ALNUM})+"

_URL = r"(?:[A-Za-z][A-Za-z0-9+.-]{1,15}://|www\.)[^\s<>\"'“”‘’()\[\]{}]+"
_EMAIL = r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_DOMAIN = (r"(?:[A-Za-z0-9-]+\.)+(?:vn|com|org|net|gov|edu|info|io|int|biz)\b"
           r"(?:/[^\s<>\"'“”‘’()\[\]{}]*)?")
# A run of alphanumerics joined by connectors without spaces. The connectors are checked after the
# match (see _split_connectors) so that "nhà.Tôi" style typos and "và/hoặc" are still split.
_COMPOUND = rf"{_RUN}(?:[-'’./:,]{_RUN})*"
_EMOJI_BASE = ("\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\u2190-\u21FF"
               "\u3297\u3299\u00a9\u00ae\u203c\u2049\u2122\u2139")
_EMOJI_MOD = "\ufe0e\ufe0f\u20e3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F"
_EMOJI = (rf"[\U0001F1E6-\U0001F1FF]{{2}}|[{_EMOJI_BASE}][{_EMOJI_MOD}]*"
          rf"(?:\u200d[{_EMOJI_BASE}][{_EMOJI_MOD}]*)*|[0-9#*]\ufe0f?\u20e3")

_TOKEN = re.compile(
    rf"(?P<url>{_URL})|(?P<email>{_EMAIL})|(?P<emoji>{_EMOJI})|(?P<domain>{_DOMAIN})"
    rf"|(?P<word>{_COMPOUND}%?)|(?P<han>[{_HAN}])"
    r"|(?P<dots>\.{2,}|…+)|(?P<punct>(?P<pc>[^\w\s])(?P=pc)*)|(?P<other>\S)",
    re.UNICODE,
)
_TRAIL = ".,;:!?)]}\"'”’»"
_HAS_DIGIT = re.compile(r"\d")
_PUNCT_RE = re.compile(r"^[^\w]+$")


def is_punct(token: str) -> bool:
    """True for a token made only of punctuation / symbols (no letter, no digit)."""
    return bool(_PUNCT_RE.match(token)) and "_" not in token


def _joins(left: str, conn: str, right: str) -> bool:
    """Whether connector ``conn`` between alphanumeric runs keeps them in one token."""
    if conn in "-'’":
        return True
    ldig = left[-1].isdigit()
    rdig = right[0].isdigit()
    if conn == ",":  # 1,5 but not "Hà Nội,Hải Phòng"
        return ldig and rdig
    if conn == ":":  # 06:30:00, not "sau:đây"
        return ldig and rdig
    if conn == "/":  # 24/8/2004, 140/KH-UBND, 30/2020/NĐ-CP; not "và/hoặc"
        return ldig or rdig or (left.isupper() and right.isupper())
    # "."
    if ldig and rdig:
        return True
    if ldig or rdig:
        return False
    # TP.HCM, T.Ư, Q.Bình, v.v, N.V.HẢI, Pharm.Co - short or all-caps left part
    last = _CONN.split(left)[-1]
    return last.isupper() or last in ABBREVIATIONS or (len(last) <= 2 and len(right) <= 2)


_CONN = re.compile(r"[-'’./:,]")
_PARTS = re.compile(rf"({_RUN})|([-'’./:,])")


def _split_compound(text: str, start: int, end: int, out: list) -> None:
    """Emit the token text[start:end] (a compound match), split where a connector does not join."""
    piece = text[start:end]
    percent = piece.endswith("%")
    if percent:
        piece = piece[:-1]
    parts = [(m.start(), m.group()) for m in _PARTS.finditer(piece)]
    if len(parts) == 1:
        out.append((start, end))  # the commonest case: one plain run (maybe with %)
        return
    # parts alternate run, connector, run, ...
    cur_s = 0
    for k in range(1, len(parts), 2):
        pos, conn = parts[k]
        left = piece[cur_s:pos]
        right = parts[k + 1][1]
        if not _joins(left, conn, right):
            out.append((start + cur_s, start + pos))
            out.append((start + pos, start + pos + 1))
            cur_s = pos + 1
    tail_end = len(piece) + (1 if percent else 0)
    out.append((start + cur_s, start + tail_end))


def syllables(text: str) -> list[tuple[str, int, int]]:
    """Surface tokens of ``text`` with ``(token, start, end)`` offsets; ``text[start:end] == token``."""
    if not isinstance(text, str) or not text:
        return []
    out: list[tuple[str, int, int]] = []
    append = out.append
    for c in _CHUNK.finditer(text):
        tok = c.group()
        # fast path: a plain syllable (letters only, no Han / kana) between spaces
        if tok.isalpha() and max(tok) < "\u3040":
            append((tok, c.start(), c.end()))
        else:
            _scan(text, c.start(), c.end(), out)
    return out


_CHUNK = re.compile(r"\S+")


def _scan(text: str, start: int, end: int, out: list) -> None:
    """Tokens of the whitespace-free piece ``text[start:end]`` appended to ``out``."""
    spans: list[tuple[int, int]] = []
    n = end
    for m in _TOKEN.finditer(text, start, end):
        kind = m.lastgroup
        s, e = m.span()
        if kind == "word":
            _split_compound(text, s, e, spans)
            # keep the final dot of an abbreviation / initial: "TP.", "v.v.", "N."
            ls, le = spans[-1]
            if le < n and text[le] == "." and le == e and not (le + 1 < n and text[le + 1] == "."):
                last = text[ls:le]
                if _keeps_dot(last, text, le + 1):
                    spans[-1] = (ls, le + 1)
            continue
        if kind in ("url", "domain"):
            while e > s + 1 and text[e - 1] in _TRAIL:
                e -= 1
            spans.append((s, e))
            if e < m.end():  # re-tokenize the trailing punctuation
                for k in range(e, m.end()):
                    spans.append((k, k + 1))
            continue
        spans.append((s, e))
    # drop the dots absorbed by an abbreviation (the regex scan already emitted them separately)
    last_end = start
    for s, e in spans:
        if s < last_end:
            continue
        out.append((text[s:e], s, e))
        last_end = e


def _keeps_dot(token: str, text: str, after: int) -> bool:
    if token in ABBREVIATIONS or token.lower() in _LOWER_ABBREV:
        return True
    if "." in token and not _HAS_DIGIT.search(token):  # v.v -> v.v. ; T.Ư -> T.Ư.? only short parts
        parts = token.split(".")
        return all(0 < len(p) <= 2 for p in parts)
    if len(token) == 1 and token.isupper():  # initial "N." followed by a name / end
        return True
    return False
