"""Normalise Vietnamese text as it comes from OCR or a PDF text layer.

``normalize_text`` puts text into one form before anything parses or indexes it:

- Unicode NFC, with combining marks reordered so that a tone mark always follows the vowel's own
  mark (``o`` + acute + circumflex is ``ố``, not ``ó`` + a stray circumflex);
- one tone-mark placement. Nghị định 30/2020/NĐ-CP writes the tone of a syllable-final ``oa``,
  ``oe``, ``uy`` on the first vowel (``hòa``, ``hóa``, ``khóa``, ``thỏa``, ``ủy``, ``hủy``: 71
  occurrences in the decree and its appendices against 12 of ``hoà``/``uỷ``/``tuỳ``; 39 to 1 in the
  main text; the national title is defined as "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), so that is the
  placement kept: ``hoà`` → ``hòa``, ``thuỷ`` → ``thủy``, ``UỶ`` → ``ỦY``. With a final consonant
  there is one correct spelling in every convention (``hoàn``, ``khoảng``, ``huỳnh``); a misplaced
  mark there (``hòan``) is moved onto the second vowel;
- OCR confusions that are safe to undo: Cyrillic/Greek letters that look like Latin ones inside
  Latin-script words (or on lines with no real Cyrillic/Greek text), ``Ð``/``Ɖ`` for ``Đ``, the digit
  ``0`` inside a word (``C0NG`` → ``CONG``, ``BÁ0`` → ``BÁO``), the letter ``O`` inside a number
  (``14O`` → ``140``, ``2O2O`` → ``2020``), full-width ASCII, ligatures;
- every dash variant (``‐ ‑ ‒ – — ― −``) becomes an ASCII hyphen, and inside a document number any
  quote-like mark or spaced separator is too (``140 / KH – UBND`` → ``140/KH-UBND``);
- whitespace: no-break and other spaces become a space, zero-width characters and soft hyphens go,
  runs of spaces collapse, lines are trimmed, at most one blank line in a row;
- broken lines are joined: a line that starts with a lower-case letter continues the line before it
  unless that one ends with ``. : ; ! ?``, is a heading (all capitals, ``Chương``/``Mục``/``Phần``
  lines) or a bare list marker, or the line itself is a list item (``a)``, ``đ)``).

Vietnamese syllables are separate words, so nothing is de-hyphenated.

``fold`` gives the accent-insensitive key used for search: lower case, no diacritics, ``đ`` → ``d``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["continues_line", "fold", "fold_aligned", "normalize_line", "normalize_text", "normalize_tones"]

# Combining tone marks: grave, acute, hook above, tilde, dot below.
_TONE_MARKS = "\u0300\u0301\u0309\u0303\u0323"
_TONE_SET = frozenset(_TONE_MARKS)
_LETTER = r"[^\W\d_]"

# Characters that look like Latin letters (Cyrillic and Greek), as OCR engines confuse them.
_LOOKALIKES = {
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "І": "I", "Ј": "J", "Ѕ": "S", "Ԛ": "Q", "Ԝ": "W",
    # Cyrillic small letters
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l",
    # Greek capitals
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Greek small letters
    "ο": "o", "α": "a", "ν": "v", "ι": "i", "υ": "u",
}
# Lookalikes of Đ/đ (Icelandic eth, African D).
_D_LOOKALIKES = {"Ð": "Đ", "Ɖ": "Đ", "ð": "đ", "ɖ": "đ"}

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = "\u00a0\u1680\u202f\u205f\u3000\t\v" + "".join(chr(c) for c in range(0x2000, 0x200B))
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\u2043"
_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
_BULLETS = "•●▪◦·‣∙■□►▸"

_CHAR_MAP: dict[int, str | None] = {}
_CHAR_MAP.update(_ZERO_WIDTH)
_CHAR_MAP.update({ord(c): " " for c in _SPACES})
_CHAR_MAP.update({ord(c): "-" for c in _DASHES})
_CHAR_MAP.update({ord(k): v for k, v in _LIGATURES.items()})
_CHAR_MAP.update({ord(k): v for k, v in _D_LOOKALIKES.items()})
# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space.
_CHAR_MAP.update({cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)})

# Syllable parts, on the lower-cased toneless letters.
# Vietnamese initial consonants (q only as part of "qu", which never takes the oa/oe/uy tone).
_ONSETS = "ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|b|c|d|đ|g|h|k|l|m|n|p|q|r|s|t|v|x"
_FINALS = ("", "c", "ch", "m", "n", "ng", "nh", "p", "t")
_SYLLABLE_RE = re.compile(rf"({_ONSETS})?(oa|oe|uy)([a-zđ]*)")


# --------------------------------------------------------------------------------------------
# Folding


def _fold_char(ch: str) -> str:
    """One character folded to one character (lower case, no diacritics, đ → d)."""
    if ch in "đĐðÐ":
        return "d"
    if ch.isascii():
        return ch.lower()
    base = unicodedata.normalize("NFD", ch)[0]
    if unicodedata.combining(base):
        return ch
    low = base.lower()
    return low if len(low) == 1 else base


def fold(text: str) -> str:
    """Accent-insensitive search key: NFC, lower case, no diacritics, ``đ`` → ``d``."""
    decomposed = unicodedata.normalize("NFD", text)
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        out.append("d" if ch in "đĐðÐ" else ch)
    return unicodedata.normalize("NFC", "".join(out)).lower()


def fold_aligned(text: str) -> str:
    """``fold`` that keeps one output character per input character (for NFC text).

    Indexes into the folded string are indexes into ``text``, so a pattern can be matched without
    diacritics and the original spelling read back from the same span.
    """
    return "".join(_fold_char(c) for c in text)


# --------------------------------------------------------------------------------------------
# Unicode form and tone placement


def _reorder_marks(text: str) -> str:
    """NFD, tone marks moved after the other marks of their letter, then NFC."""
    decomposed = unicodedata.normalize("NFD", text)
    if not any(c in _TONE_SET for c in decomposed):
        return unicodedata.normalize("NFC", decomposed)
    out: list[str] = []
    marks: list[str] = []

    def flush() -> None:
        if marks:
            out.extend(m for m in marks if m not in _TONE_SET)
            out.extend(m for m in marks if m in _TONE_SET)
            marks.clear()

    for ch in decomposed:
        if unicodedata.combining(ch):
            marks.append(ch)
        else:
            flush()
            out.append(ch)
    flush()
    return unicodedata.normalize("NFC", "".join(out))


def _split_tone(ch: str) -> tuple[str, str]:
    d = unicodedata.normalize("NFD", ch)
    tone = "".join(c for c in d if c in _TONE_SET)
    base = unicodedata.normalize("NFC", "".join(c for c in d if c not in _TONE_SET))
    return base, tone


def _fix_syllable(word: str) -> str:
    if len(word) < 2 or len(word) > 8:
        return word
    parts = [_split_tone(c) for c in word]
    if any(len(b) != 1 for b, _ in parts):
        return word
    bare = "".join(b.lower() for b, _ in parts)
    m = _SYLLABLE_RE.fullmatch(bare)
    if not m:
        return word
    onset, _cluster, final = m.groups()
    onset = onset or ""
    if final not in _FINALS:
        return word
    if onset.endswith("q"):  # "quy", "quý": the u belongs to the onset
        return word
    first = len(onset)
    second = first + 1
    tones = [t for _, t in parts]
    if sum(1 for t in tones if t) != 1:
        return word
    target = first if final == "" else second
    source = first if tones[first] else second if tones[second] else None
    if source is None or source == target:
        return word
    chars = list(word)
    tone = tones[source]
    chars[source] = parts[source][0]
    chars[target] = unicodedata.normalize("NFC", parts[target][0] + tone)
    return "".join(chars)


_WORD_RE = re.compile(rf"{_LETTER}+")


def normalize_tones(text: str) -> str:
    """Put the tone of ``oa``/``oe``/``uy`` syllables where the decree puts it (``hòa``, ``ủy``)."""
    return _WORD_RE.sub(lambda m: _fix_syllable(m.group(0)), text)


# --------------------------------------------------------------------------------------------
# OCR confusions


def _is_latin_letter(ch: str) -> bool:
    if not ch.isalpha():
        return False
    base = unicodedata.normalize("NFD", ch)[0]
    return base.isascii() or ch in "đĐ"


def _fix_lookalikes(line: str) -> str:
    if not any(c in _LOOKALIKES for c in line):
        return line
    # Real Cyrillic/Greek text on the line: only touch words that mix in Latin letters.
    foreign = any(
        c.isalpha() and not _is_latin_letter(c) and c not in _LOOKALIKES
        and unicodedata.name(c, "").startswith(("CYRILLIC", "GREEK"))
        for c in line
    )

    def repl(m: re.Match[str]) -> str:
        w = m.group(0)
        if not any(c in _LOOKALIKES for c in w):
            return w
        if foreign and not any(_is_latin_letter(c) for c in w):
            return w
        if any(c.isalpha() and not _is_latin_letter(c) and c not in _LOOKALIKES for c in w):
            return w
        return "".join(_LOOKALIKES.get(c, c) for c in w)

    # Decomposed, so that a tone mark on a Cyrillic letter stays with the Latin letter it becomes.
    fixed = re.sub(r"(?:[^\W\d_][\u0300-\u036f]*)+", repl, unicodedata.normalize("NFD", line))
    return unicodedata.normalize("NFC", fixed)


_ZERO_MID = re.compile(rf"(?<={_LETTER})0(?={_LETTER})")
_ZERO_END = re.compile(rf"(?<={_LETTER}{_LETTER})0(?![\w])")
_ZERO_START = re.compile(rf"(?<![\w])0(?={_LETTER}{_LETTER})")
_O_IN_NUMBER = re.compile(r"(?<![\w])\d[\dOo]*[Oo][\dOo]*(?![\w])")


def _zero_case(prev: str | None, nxt: str | None) -> str:
    ref = nxt if nxt and nxt.isalpha() else prev
    return "o" if ref and ref.islower() else "O"


def _fix_digits(line: str) -> str:
    if "0" in line:
        for _ in range(3):
            new = _ZERO_MID.sub(lambda m: _zero_case(line_at(m, -1), line_at(m, 1)), line)
            new = _ZERO_END.sub(lambda m: _zero_case(line_at(m, -1), None), new)
            new = _ZERO_START.sub(lambda m: _zero_case(None, line_at(m, 1)), new)
            if new == line:
                break
            line = new
    if "O" in line or "o" in line:
        def num(m: re.Match[str]) -> str:
            tok = m.group(0)
            if sum(c.isdigit() for c in tok) < 2:
                return tok
            return tok.replace("O", "0").replace("o", "0")
        line = _O_IN_NUMBER.sub(num, line)
    return line


def line_at(m: re.Match[str], offset: int) -> str | None:
    s = m.string
    i = m.start() + offset if offset < 0 else m.end() - 1 + offset
    return s[i] if 0 <= i < len(s) else None


# A document number: "140/KH-UBND", "30/2020/NĐ-CP", with OCR spacing or odd separators.
_SYM_GROUP = r"[A-ZĐ][A-Za-zĐđ0-9]{0,11}(?![\w])"
_TIGHT_SEP = r"[-'‘’‚‛`´\"“”„~]"
_SPACED_SEP = rf"\s*{_TIGHT_SEP}\s*"
# Anywhere: "140/KH–UBND", "140/KH”UBND", "140 /KH-UBND" (separators without spaces).
_DOC_NUMBER_RE = re.compile(
    rf"(?<![\w/])(\d{{1,6}}) ?/ ?(?:(\d{{4}}) ?/ ?)?({_SYM_GROUP}(?:{_TIGHT_SEP}{_SYM_GROUP})*)"
)
# After "Số:": also spaced separators and a blank number ("Số: 140 / KH - UBND", "Số: …/KH-UBND").
_SO_NUMBER_RE = re.compile(
    rf"(?<![\w])(S[ốôoỐÔO]\s*[:.]?\s*)(\d{{1,6}}|[.…_ ]*)\s*/\s*(?:(\d{{4}})\s*/\s*)?"
    rf"({_SYM_GROUP}(?:{_SPACED_SEP}{_SYM_GROUP})*)"
)


def _clean_symbol(sym: str) -> str:
    return re.sub(_SPACED_SEP, "-", sym)


def _fix_doc_numbers(line: str) -> str:
    if "/" not in line:
        return line

    def so(m: re.Match[str]) -> str:
        head, num, year, sym = m.groups()
        num = num if num.strip(" ") else num.rstrip(" ")
        return f"{head}{num}/{year + '/' if year else ''}{_clean_symbol(sym)}"

    def full(m: re.Match[str]) -> str:
        num, year, sym = m.groups()
        return f"{num}/{year + '/' if year else ''}{_clean_symbol(sym)}"

    return _DOC_NUMBER_RE.sub(full, _SO_NUMBER_RE.sub(so, line))


# --------------------------------------------------------------------------------------------
# Lines


_LIST_ITEM_RE = re.compile(r"^(?:[a-zđ]|[ivx]{1,5})[)\]]\s|^[-+*]\s")
_STRUCT_HEADING_RE = re.compile(r"^(?:Chương|Phần|Mục|Tiểu mục|Phụ lục|PHỤ LỤC)\s+[\dIVXLC]+\.?$")
_BARE_MARKER_RE = re.compile(r"^(?:[IVXLC]+\.|\d+(?:\.\d+)*\.?|[a-zđ]\)|[-+])$")


def _is_upper_line(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _starts_lower(line: str) -> bool:
    return bool(line) and line[0].isalpha() and line[0].islower()


def continues_line(prev: str, nxt: str) -> bool:
    """Whether normalised line ``nxt`` continues ``prev`` (a line broken mid-sentence)."""
    if not prev or not nxt or not _starts_lower(nxt):
        return False
    if prev[-1] in ".:;!?":
        return False
    if _LIST_ITEM_RE.match(nxt):
        return False
    if _is_upper_line(prev) or _STRUCT_HEADING_RE.match(prev) or _BARE_MARKER_RE.match(prev):
        return False
    return True


def normalize_line(line: str) -> str:
    """Normalise one line (no joins): Unicode form, OCR confusions, tones, spaces."""
    line = _reorder_marks(line)
    line = line.translate(_CHAR_MAP)
    line = _fix_lookalikes(line)
    line = _fix_digits(line)
    line = normalize_tones(line)
    line = re.sub(r" {2,}", " ", line).strip()
    if line and line[0] in _BULLETS and (len(line) == 1 or line[1] == " "):
        line = "-" + line[1:]
    line = _fix_doc_numbers(line)
    return line


def normalize_text(text: str, *, join_lines: bool = True) -> str:
    """Normalise OCR / PDF text (see the module docstring); ``join_lines=False`` keeps line breaks."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n").replace("\f", "\n")
    lines = [normalize_line(raw) for raw in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if not line:
            if out and out[-1] == "":
                continue
            out.append("")
            continue
        if join_lines and out and continues_line(out[-1], line):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    while out and out[0] == "":
        out.pop(0)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)


# ------------------------------------------------------------------ text for language services

def clean(text: str) -> str:
    """The language services' input form: :func:`normalize_text` without joining broken lines (NFC,
    one tone-mark placement, lookalikes, dashes, spaces). Offsets of results refer to the text as the
    caller sent it, so the services analyse the caller's text and use this for matching and features."""
    return normalize_text(text, join_lines=False)


# Abbreviations that end with a dot without ending the sentence (compared case-sensitively, without
# the dot). Titles and unit prefixes are followed by a name: "TP. Hồ Chí Minh", "ThS. Nguyễn Văn A".
ABBREVIATIONS = frozenset("""
TP Tp tp Q q P p H X TX Tx TT Tt TS Ts ThS Ths PGS GS BS Bs BSCKI BSCKII KS Ks CN LS NCS ThSKH TSKH
ĐC đc Đ/c đ/c St St. Ô Bà Ng NXB Nxb Tr tr trg TTr Mr Mrs Ms Dr Prof No Nr Co Ltd Inc Corp vs etc
v.v v.v. vv sđd Sđd tp. Đ Kh K
""".split())
# All-capital acronyms (UBND, HĐND, NĐ, CP ...) end a sentence only when the next sentence plainly
# starts (an upper-case word after the space); a following lower-case word or digit keeps it going.
_SENT_END = re.compile(r"(\.{3}|…|[.!?]+)([\"'”’»)\]]*)(?=\s|$)")
_NUMBERED = re.compile(r"^(?:\d{1,3}|[IVXLC]{1,6}|[a-zđ])$")


_NEXT_CHAR = re.compile(r"[ \t]*(.?)", re.S)
_NEXT_TOKEN = re.compile(r"[ \t]*(\S{0,16})")
_WORD_STOP = frozenset('("“«')


def _word_before(text: str, end: int) -> tuple[str, int]:
    """The run of non-space characters (not opening a quote or bracket) that ends at ``end``, and where
    it starts; at most 64 characters back (longer runs are no abbreviation), so every call is O(1)."""
    i, lo = end, max(0, end - 64)
    while i > lo and not text[i - 1].isspace() and text[i - 1] not in _WORD_STOP:
        i -= 1
    return text[i:end], i


def _at_line_start(text: str, i: int) -> bool:
    while i > 0 and text[i - 1] in " \t":
        i -= 1
    return i == 0 or text[i - 1] == "\n"


def _is_boundary(text: str, dot_start: int, punct: str, after: int) -> bool:
    nxt = _NEXT_CHAR.match(text, after).group(1)
    if not nxt or nxt == "\n":
        return True
    if punct in ("!", "?", "…", "...") or len(punct) > 1:
        return not nxt.islower()
    before, where = _word_before(text, dot_start)
    if before in ABBREVIATIONS or before.rstrip(".") in ABBREVIATIONS:
        return False
    if _NUMBERED.match(before) and _at_line_start(text, where):
        return False  # "1. Phạm vi điều chỉnh": a list marker, not a sentence
    if len(before) == 1 and before.isalpha():
        return False  # an initial: "Nguyễn V. A"
    return not (nxt.islower() or nxt.isdigit() and before.isupper())


def split_sentences(text: str) -> list[tuple[str, int, int]]:
    """Sentences of ``text`` as ``(sentence, start, end)`` with offsets into ``text``.

    A sentence ends at ``. ! ? … ...`` (and closing quotes/brackets after it) followed by white space
    and a word that does not start in lower case; at a line break that follows such a mark or a blank
    line; a dot after a known abbreviation (``TP.``, ``Q.``, ``P.``, ``ThS.``, ``TS.``, ``PGS.``,
    ``v.v.``), after a single letter (an initial) or after a list number at the start of a line does
    not end one. Numbers (``1.234,5``), dates, URLs and references have no dot followed by a space, so
    they never split. Lines without final punctuation (headings, list items) are sentences of their own.
    """
    if not text:
        return []
    spans: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    cuts: list[int] = []
    for m in _SENT_END.finditer(text):
        if _is_boundary(text, m.start(1), m.group(1), m.end()):
            cuts.append(m.end())
    # line breaks: a blank line always ends; a single line break ends a sentence when the line is a
    # heading/list item (no final punctuation) and the next line starts with an upper-case letter,
    # a digit or a list marker.
    for m in re.finditer(r"\n", text):
        i = m.start()
        if _at_line_start(text, i):  # the line before is blank
            continue
        nxt = _NEXT_CHAR.match(text, i + 1).group(1)
        token = _NEXT_TOKEN.match(text, i + 1).group(1)
        if not nxt or nxt == "\n" or not nxt.islower() or _NUMBERED.match(token.rstrip(".)")):
            cuts.append(i)
    for cut in sorted(set(cuts)) + [n]:
        if cut <= start:
            continue
        spans.append((start, cut))
        start = cut
    out: list[tuple[str, int, int]] = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((text[s:e], s, e))
    return out
