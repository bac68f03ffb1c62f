"""Domain-entity rules (DOC_REF, AGENCY, WARD): spans, offsets into the original text, robustness."""

from __future__ import annotations

import unicodedata

import pytest

from cityai.language import gazetteer
from cityai.language.gazetteer import find_agencies, find_doc_refs, find_wards, recognize, resolve


def spans(text: str, label: str | None = None) -> list[tuple[str, str]]:
    ents = recognize(text)
    for e in ents:  # offsets index the original string, for every entity
        assert text[e["start"]:e["end"]] == e["text"], e
        assert e["label"] in gazetteer.LABELS
    return [(e["label"], e["text"]) for e in ents if label is None or e["label"] == label]


@pytest.mark.parametrize("ref", [
    "140/KH-UBND", "30/2020/NĐ-CP", "15/2023/QĐ-UBND", "123/TB-SKHĐT", "13/2008/QH12", "45/UBND-VX",
    "35-CT/TW", "01/2021/TT-BTC", "12a/QĐ-TTg", "99/BC-SNN&PTNT",
])
def test_doc_refs(ref):
    text = f"Căn cứ văn bản số {ref} ngày 5/3/2024."
    assert spans(text, "DOC_REF") == [("DOC_REF", ref)]


def test_doc_ref_header_prefix_is_not_part_of_the_span():
    text = "Số: 123/TB-SKHĐT\nTP. Hồ Chí Minh"
    (e,) = find_doc_refs(text)
    assert (e["text"], e["start"], e["end"]) == ("123/TB-SKHĐT", 4, 16)


@pytest.mark.parametrize("text", [
    "Ngày 24/8/2004 và 1/2/2020", "tỷ lệ 1/2, 3/4 số hộ", "mạng 4G/LTE", "giá 100.000/kg", "lúc 8h30/ngày",
    "phòng 3/B", "tầng 12/A5", "điểm 9/10",
])
def test_no_doc_ref_in_dates_fractions_and_units(text):
    assert find_doc_refs(text) == []


@pytest.mark.parametrize("text, expected", [
    ("Ủy ban nhân dân Thành phố Hồ Chí Minh ban hành", "Ủy ban nhân dân Thành phố Hồ Chí Minh"),
    ("Theo UBND phường Bến Thành, việc này", "UBND phường Bến Thành"),
    ("Sở Tài nguyên và Môi trường đề nghị", "Sở Tài nguyên và Môi trường"),
    ("ý kiến của Sở TN&MT về", "Sở TN&MT"),
    ("Công an Quận 1 cho biết", "Công an Quận 1"),
    ("HĐND tỉnh Đồng Nai họp", "HĐND tỉnh Đồng Nai"),
    ("Chi cục Thuế Quận 3 thông báo", "Chi cục Thuế Quận 3"),
    ("Kho bạc Nhà nước TP.HCM chi", "Kho bạc Nhà nước TP.HCM"),
    ("Văn phòng UBND Thành phố trình", "Văn phòng UBND Thành phố"),
    ("Thanh tra Sở Xây dựng kiểm tra", "Thanh tra Sở Xây dựng"),
    ("Bộ trưởng Bộ Y tế phát biểu", "Bộ Y tế"),
    ("Phòng Tài nguyên và Môi trường quận Bình Thạnh", "Phòng Tài nguyên và Môi trường quận Bình Thạnh"),
    ("Sở Y tế TP.HCM khuyến cáo", "Sở Y tế TP.HCM"),
    ("Uỷ ban nhân dân xã Bình Chánh", "Uỷ ban nhân dân xã Bình Chánh"),  # tone mark on y
])
def test_agencies(text, expected):
    assert spans(text, "AGENCY") == [("AGENCY", expected)]


@pytest.mark.parametrize("text", [
    "ban đầu bộ máy còn yếu", "Bộ luật Hình sự quy định", "công an đã bắt giữ", "số 5 đường Lê Lợi",
    "Sở dĩ như vậy", "Ban ngày trời nắng",
])
def test_no_agency(text):
    assert find_agencies(text) == []


@pytest.mark.parametrize("text, expected", [
    ("Người dân phường Bến Thành phản ánh", "phường Bến Thành"),
    ("tại xã Bình Chánh hôm qua", "xã Bình Chánh"),
    ("Đặc khu Côn Đảo đón khách", "Đặc khu Côn Đảo"),
    ("trụ sở P. Sài Gòn mới", "P. Sài Gòn"),
    ("khu vực phường Tân Sơn Nhất", "phường Tân Sơn Nhất"),  # longest name, not "Tân Sơn"
    ("xã Long Hòa và", "xã Long Hòa"),  # the list writes "Long Hoà"
])
def test_wards(text, expected):
    assert spans(text, "WARD") == [("WARD", expected)]


@pytest.mark.parametrize("text", [
    "phường Bình Chánh",  # Bình Chánh is a xã: the type must agree
    "phường Tân Phú Trung",  # a longer, unknown name
    "phường 5, quận 3",  # numbered wards are gone
    "Bình Dương và Vũng Tàu",  # no prefix: not a WARD
])
def test_no_ward(text):
    assert find_wards(text) == []


def test_text_without_diacritics():
    text = "Uy ban nhan dan phuong Ben Thanh va So Tai nguyen va Moi truong; dan xa Binh Chanh"
    assert spans(text) == [("AGENCY", "Uy ban nhan dan phuong Ben Thanh"),
                           ("AGENCY", "So Tai nguyen va Moi truong"), ("WARD", "xa Binh Chanh")]


def test_marks_must_agree_when_present():
    # "số" (number) is not "Sở" (department); "xá" is not "xã"
    assert find_agencies("Số Tài chính") == []
    assert find_wards("xá Bình Chánh") == []


def test_nfd_input_offsets_into_the_original():
    nfc = "Kế hoạch 140/KH-UBND của Ủy ban nhân dân phường Bến Thành, Sở Y tế và xã Bình Chánh."
    text = unicodedata.normalize("NFD", nfc)
    assert len(text) > len(nfc)
    got = spans(text)
    assert [(lab, unicodedata.normalize("NFC", t)) for lab, t in got] == [
        ("DOC_REF", "140/KH-UBND"), ("AGENCY", "Ủy ban nhân dân phường Bến Thành"), ("AGENCY", "Sở Y tế"),
        ("WARD", "xã Bình Chánh")]


def test_emoji_and_mixed_scripts():
    text = "🎉👍🏽 Ủy ban nhân dân phường Bến Thành 東京 и Москва 👨‍👩‍👧 văn bản 30/2020/NĐ-CP 🇻🇳 xã Bình Chánh"
    assert spans(text) == [("AGENCY", "Ủy ban nhân dân phường Bến Thành"), ("DOC_REF", "30/2020/NĐ-CP"),
                           ("WARD", "xã Bình Chánh")]


@pytest.mark.parametrize("text", ["", "   ", "\n", "😀", "東京"])
def test_empty_and_entity_free_text(text):
    assert recognize(text) == []


def test_overlaps_resolved_longest_first():
    text = "UBND phường Bến Thành"
    assert find_wards(text)[0]["text"] == "phường Bến Thành"  # found on its own ...
    assert spans(text) == [("AGENCY", "UBND phường Bến Thành")]  # ... but inside the agency
    ents = resolve([{"text": "a", "label": "WARD", "start": 0, "end": 5},
                    {"text": "b", "label": "AGENCY", "start": 0, "end": 5},
                    {"text": "c", "label": "DOC_REF", "start": 3, "end": 9}])
    assert [e["label"] for e in ents] == ["DOC_REF"]


def test_tone_key_ignores_tone_placement():
    assert gazetteer.tone_key("Uỷ") == gazetteer.tone_key("ủy")
    assert gazetteer.tone_key("hoà") == gazetteer.tone_key("hòa")
    assert gazetteer.tone_key("số") != gazetteer.tone_key("sở")
