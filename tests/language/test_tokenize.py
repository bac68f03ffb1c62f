"""Tests for cityai.language.tokenize.syllables: kept-together tokens, offsets, robustness."""

from __future__ import annotations

import random
import unicodedata

import pytest

from cityai.language.tokenize import is_punct, syllables


def toks(text: str) -> list[str]:
    return [t for t, _, _ in syllables(text)]


def check_offsets(text: str) -> list[tuple[str, int, int]]:
    out = syllables(text)
    last = 0
    for tok, s, e in out:
        assert text[s:e] == tok
        assert s >= last and e > s
        assert text[last:s].strip() == "", (text, last, s)  # only whitespace between tokens
        last = e
    # every non-space character belongs to a token
    assert "".join(t for t, _, _ in out) == "".join(ch for ch in text if not ch.isspace())
    return out


def test_empty_and_whitespace() -> None:
    assert syllables("") == []
    assert syllables("   \n\t ") == []


def test_plain_syllables_and_punctuation() -> None:
    assert toks("Ủy ban nhân dân, thành phố.") == ["Ủy", "ban", "nhân", "dân", ",", "thành", "phố", "."]
    assert toks("(Hà Nội)") == ["(", "Hà", "Nội", ")"]


@pytest.mark.parametrize(
    "text, token",
    [
        ("giá tăng 1.234,5 tỷ", "1.234,5"),
        ("tăng 12,5% so với", "12,5%"),
        ("ngày 24/8/2004 tại", "24/8/2004"),
        ("lúc 06:30:00 sáng", "06:30:00"),
        ("Kế hoạch 140/KH-UBND của", "140/KH-UBND"),
        ("theo Nghị định 30/2020/NĐ-CP về", "30/2020/NĐ-CP"),
        ("xem https://hochiminhcity.gov.vn/tin-tuc?id=1, rồi", "https://hochiminhcity.gov.vn/tin-tuc?id=1"),
        ("gửi về abc.def@tphcm.gov.vn.", "abc.def@tphcm.gov.vn"),
        ("trang hochiminhcity.gov.vn.", "hochiminhcity.gov.vn"),
        ("tại TP. Hồ Chí Minh", "TP."),
        ("tại TP.HCM hôm nay", "TP.HCM"),
        ("nhà, cửa, v.v. đều", "v.v."),
        ("học thuyết Mác-Lênin là", "Mác-Lênin"),
        ("đường bê-tông mới", "bê-tông"),
        ("dân tộc H'Mông", "H'Mông"),
        ("cúm H5N1 lan", "H5N1"),
        ("Ông Nguyễn Văn A. sống", "A."),
        ("chờ đợi... mãi", "..."),
        ("Trời ơi!!! Sao", "!!!"),
    ],
)
def test_kept_as_one_token(text: str, token: str) -> None:
    assert token in toks(text)
    check_offsets(text)


def test_sentence_final_dot_is_separate() -> None:
    assert toks("Tôi ở Hà Nội.") == ["Tôi", "ở", "Hà", "Nội", "."]
    assert toks("xong rồi.Tiếp theo") == ["xong", "rồi", ".", "Tiếp", "theo"]


def test_slash_between_words_splits() -> None:
    assert toks("và/hoặc") == ["và", "/", "hoặc"]
    assert toks("Hà Nội,Hải Phòng") == ["Hà", "Nội", ",", "Hải", "Phòng"]


def test_emoji_and_other_scripts() -> None:
    t = toks("Tuyệt 👍🏽 vời 👨‍👩‍👧 🇻🇳 北京市 Москва")
    assert "👍🏽" in t and "👨\u200d👩\u200d👧" in t and "🇻🇳" in t
    assert ["北", "京", "市"] == t[t.index("北"):t.index("北") + 3]
    assert "Москва" in t
    assert toks("Hà Nội北京") == ["Hà", "Nội", "北", "京"]


def test_decomposed_text_keeps_marks_in_syllable() -> None:
    text = unicodedata.normalize("NFD", "Ủy ban nhân dân")
    out = check_offsets(text)
    assert len(out) == 4
    assert unicodedata.normalize("NFC", out[0][0]) == "Ủy"


def test_lone_surrogate_and_controls_do_not_raise() -> None:
    text = "a\ud800b \udfff \x00 \x1b[0m ok"
    out = check_offsets(text)
    assert "\ud800" in [t for t, _, _ in out]


def test_random_unicode_never_raises() -> None:
    rng = random.Random(1234)
    pools = [(0x20, 0x7F), (0xC0, 0x1FF), (0x300, 0x36F), (0x1EA0, 0x1EFF), (0x2000, 0x206F),
             (0xD800, 0xDFFF), (0x4E00, 0x4E40), (0x1F300, 0x1F6FF), (0x0, 0x20), (0xFE00, 0xFE0F)]
    for _ in range(300):
        chars = []
        for _ in range(rng.randint(0, 40)):
            lo, hi = rng.choice(pools)
            chars.append(chr(rng.randint(lo, hi)))
            if rng.random() < 0.2:
                chars.append(rng.choice(" .,/-:%'@"))
        check_offsets("".join(chars))


def test_is_punct() -> None:
    assert is_punct(",") and is_punct("...") and is_punct("“")
    assert not is_punct("TP.") and not is_punct("1,5") and not is_punct("a")
