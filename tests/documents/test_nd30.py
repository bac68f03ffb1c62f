"""Tests for cityai.documents.nd30: parsing ND30 administrative documents (Nghị định 30/2020/NĐ-CP)."""

from __future__ import annotations

import copy
import re
import unicodedata
from pathlib import Path

import pytest

from cityai.language.normalize import fold, normalize_text
from cityai.documents.nd30 import (
    CONG_VAN_CODE,
    DOC_TYPES,
    LEGAL_DOC_TYPES,
    doc_type_from_symbol,
    doc_type_from_title_line,
    parse,
    parse_date,
    parse_table_rows,
)
from tests.documents.nd30_samples import DOCUMENTS, SAMPLES, render

ND30_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nd30-2020"

KEYS = {
    "national_title", "motto", "issuer", "parent_issuer", "number", "number_year", "symbol", "doc_type",
    "doc_type_code", "place", "issued_date", "title", "legal_bases", "sections", "signer", "recipients",
    "urgency", "secrecy", "annexes", "blanks", "confidence",
}
FIELDS = sorted(KEYS - {"confidence"})


def _header(left: list[str], right: list[str]) -> str:
    return "\n".join(f"{a}   {b}".strip() for a, b in zip(left, right))


# --------------------------------------------------------------------------------------------
# The sample documents: every field, both layouts


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("sample", SAMPLES, ids=[s["name"] for s in SAMPLES])
def test_sample_field(sample: dict, field: str) -> None:
    assert parse(sample["text"])[field] == sample["expected"][field]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["name"] for s in SAMPLES])
def test_sample_keys_and_confidence(sample: dict) -> None:
    r = parse(sample["text"])
    assert set(r) == KEYS
    conf = r["confidence"]
    assert set(conf) == KEYS - {"confidence", "blanks"}
    assert all(0.0 <= v <= 1.0 for v in conf.values())
    exp = sample["expected"]
    for field in ("issuer", "number", "symbol", "doc_type", "place", "issued_date", "title", "signer"):
        if exp[field] is not None:
            assert conf[field] >= 0.6, field
    assert conf["national_title"] == 1.0 and conf["motto"] == 1.0


def test_samples_cover_the_brief() -> None:
    names = {d["name"] for d in DOCUMENTS}
    assert len(DOCUMENTS) >= 6 and len(SAMPLES) == 2 * len(DOCUMENTS)
    exp = {d["name"]: d["expected"] for d in DOCUMENTS}
    assert exp["ke_hoach_ubnd_hcm"]["number_year"] is None and exp["ke_hoach_ubnd_hcm"]["symbol"] == "KH-UBND"
    assert exp["nghi_dinh_30_2020"]["number_year"] == "2020"
    assert exp["cong_van_ubnd_vx"]["doc_type"] == "Công văn"
    assert exp["quyet_dinh_kt_chu_tich"]["signer"]["authority"] == "KT."
    assert exp["thong_bao_tl_khan"]["urgency"] == "Khẩn"
    assert exp["thong_bao_tl_khan"]["signer"]["authority"] == "TL."
    assert exp["du_thao_ke_hoach_blank"]["blanks"]
    assert exp["bao_cao_skhcn_parent"]["parent_issuer"]
    assert "giay_moi_hoa_toc_mat" in names


def test_interleaved_and_sequential_give_the_same_parse() -> None:
    for doc in DOCUMENTS:
        a = parse(render(doc, "interleaved"))
        b = parse(render(doc, "sequential"))
        a.pop("confidence"), b.pop("confidence")
        assert a == b, doc["name"]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=[d["name"] for d in DOCUMENTS])
def test_right_block_first(doc: dict) -> None:
    """OCR can read the right-hand blocks before the left-hand ones."""
    swapped = dict(doc, left=doc["right"], right=doc["left"], footer_left=doc["footer_right"],
                   footer_right=doc["footer_left"])
    r = parse(render(swapped, "sequential"))
    for field in FIELDS:
        assert r[field] == doc["expected"][field], field


@pytest.mark.parametrize("doc", DOCUMENTS, ids=[d["name"] for d in DOCUMENTS])
def test_noisy_spacing_and_decomposed_unicode(doc: dict) -> None:
    noisy = dict(doc, nfd=True, gap="\t  \u00a0  ")
    text = render(noisy, "interleaved").replace("\n", "  \r\n")
    r = parse(text)
    for field in FIELDS:
        assert r[field] == doc["expected"][field], field


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["name"] for s in SAMPLES])
def test_text_already_normalised_with_joins(sample: dict) -> None:
    """Callers may pass normalize_text() output, where broken lines are already joined."""
    r = parse(normalize_text(sample["text"]))
    for field in FIELDS:
        assert r[field] == sample["expected"][field], field


def test_no_blank_line_between_blocks() -> None:
    doc = DOCUMENTS[0]
    text = render(doc, "interleaved").replace("\n\n", "\n")
    r = parse(text)
    for field in FIELDS:
        assert r[field] == doc["expected"][field], field


# --------------------------------------------------------------------------------------------
# Header details


def test_interleaved_header_example_from_the_brief() -> None:
    text = "\n".join([
        "UỶ BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "THÀNH PHỐ HỒ CHÍ MINH Độc lập - Tự do - Hạnh phúc",
        "Số: 140/KH-UBND Thành phố Hồ Chí Minh, ngày 05 tháng 01 năm 2020",
        "KẾ HOẠCH",
        "Về việc triển khai công tác văn thư",
    ])
    r = parse(text)
    assert r["issuer"] == "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH"
    assert r["parent_issuer"] is None
    assert (r["number"], r["symbol"], r["number_year"]) == ("140", "KH-UBND", None)
    assert r["place"] == "Thành phố Hồ Chí Minh"
    assert r["issued_date"] == "2020-01-05"
    assert (r["doc_type"], r["doc_type_code"]) == ("Kế hoạch", "KH")
    assert r["title"] == "Về việc triển khai công tác văn thư"
    assert r["national_title"] and r["motto"]


def test_parent_on_one_line_and_issuer_on_the_next() -> None:
    text = _header(["ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH", "SỞ KHOA HỌC VÀ CÔNG NGHỆ", "Số: 7/TTr-SKHCN"],
                   ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                    "Thành phố Hồ Chí Minh, ngày 02 tháng 02 năm 2026"]) + "\nTỜ TRÌNH\nVề việc phê duyệt"
    r = parse(text)
    assert r["parent_issuer"] == "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH"
    assert r["issuer"] == "SỞ KHOA HỌC VÀ CÔNG NGHỆ"
    assert (r["doc_type"], r["doc_type_code"]) == ("Tờ trình", "TTr")


def test_long_issuer_name_wrapped_is_one_name() -> None:
    text = "\n".join(["BỘ NỘI VỤ", "CỤC VĂN THƯ VÀ LƯU TRỮ", "NHÀ NƯỚC", "Số: 05/HD-VTLTNN",
                      "Hà Nội, ngày 10 tháng 02 năm 2026", "HƯỚNG DẪN", "Công tác lập hồ sơ năm 2026"])
    r = parse(text)
    assert (r["parent_issuer"], r["issuer"]) == ("BỘ NỘI VỤ", "CỤC VĂN THƯ VÀ LƯU TRỮ NHÀ NƯỚC")
    assert r["national_title"] is False and r["motto"] is False
    assert r["confidence"]["national_title"] < 1.0


def test_abbreviated_place_and_upper_case_place() -> None:
    r = parse("SỞ Y TẾ\nSố: 3/KH-SYT\nTP. Hồ Chí Minh, ngày 01 tháng 02 năm 2026\nKẾ HOẠCH\nTiêm chủng")
    assert r["place"] == "TP. Hồ Chí Minh"
    r = parse("BỘ TÀI CHÍNH\nSố: 3/BC-BTC\nHÀ NỘI, ngày 01 tháng 02 năm 2026\nBÁO CÁO\nTình hình")
    assert r["place"] == "HÀ NỘI"
    assert r["issuer"] == "BỘ TÀI CHÍNH"


def test_date_line_whose_comma_was_lost() -> None:
    r = parse("ỦY BAN NHÂN DÂN CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
              "Số: 140/KH-UBND Thành phố Hồ Chí Minh ngày 05 tháng 01 năm 2026\nKẾ HOẠCH\nVề việc x")
    assert (r["place"], r["issued_date"]) == ("Thành phố Hồ Chí Minh", "2026-01-05")
    assert r["confidence"]["place"] < 0.9


def test_national_title_found_through_ocr_damage() -> None:
    r = parse("SỞ Y TẾ C0NG HOA XA HOI CHU NGHIA VIET NAM\nSố: 3/KH-SYT\nKẾ HOẠCH\nTiêm chủng")
    assert r["national_title"] is True
    assert r["confidence"]["national_title"] < 1.0
    assert r["issuer"] == "SỞ Y TẾ"


@pytest.mark.parametrize("stamp, urgency, secrecy", [
    ("KHẨN", "Khẩn", None), ("THƯỢNG KHẨN", "Thượng khẩn", None), ("HỎA TỐC", "Hỏa tốc", None),
    ("HOẢ TỐC", "Hỏa tốc", None), ("MẬT", None, "Mật"), ("TỐI MẬT", None, "Tối mật"),
    ("TUYỆT MẬT", None, "Tuyệt mật"), ("[ THƯỢNG KHẨN ]", "Thượng khẩn", None),
    ("THƯỢNG KHẨN TỐI MẬT", "Thượng khẩn", "Tối mật"),
])
def test_urgency_and_secrecy_marks(stamp: str, urgency: str | None, secrecy: str | None) -> None:
    text = (f"SỞ Y TẾ\nSố: 3/CV-SYT\n{stamp}\nThành phố Hồ Chí Minh, ngày 01 tháng 02 năm 2026\n"
            "CÔNG ĐIỆN\nVề phòng dịch")
    r = parse(text)
    assert (r["urgency"], r["secrecy"]) == (urgency, secrecy)
    assert r["issuer"] == "SỞ Y TẾ"


def test_stamp_sharing_a_line_with_the_date() -> None:
    r = parse("SỞ Y TẾ\nSố: 3/CĐ-SYT\nHỎA TỐC Thành phố Hồ Chí Minh, ngày 01 tháng 02 năm 2026\n"
              "CÔNG ĐIỆN\nVề phòng dịch")
    assert r["urgency"] == "Hỏa tốc"
    assert r["place"] == "Thành phố Hồ Chí Minh"
    assert (r["doc_type"], r["doc_type_code"]) == ("Công điện", "CĐ")


def test_words_that_contain_stamp_words_are_not_stamps() -> None:
    r = parse("SỞ Y TẾ\nSố: 3/KH-SYT\nKẾ HOẠCH\nPhòng chống dịch khẩn cấp\nI. BẢO MẬT THÔNG TIN")
    assert r["urgency"] is None and r["secrecy"] is None


# --------------------------------------------------------------------------------------------
# Blanks: never invent


def test_blank_number_and_date_parts() -> None:
    text = _header(["ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", "Số:      /KH-UBND"],
                   ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                    "Thành phố Hồ Chí Minh, ngày   tháng   năm 2026"]) + "\nKẾ HOẠCH\nDự thảo"
    r = parse(text)
    assert r["number"] is None and r["symbol"] == "KH-UBND"
    assert r["issued_date"] == {"day": None, "month": None, "year": 2026}
    assert r["blanks"] == ["number", "issued_date.day", "issued_date.month"]


def test_template_placeholders_are_blanks() -> None:
    # Phụ lục III, Mẫu 1.4 as printed (dots and ellipses instead of values)
    text = "\n".join([
        "TÊN CQ, TC CHỦ QUẢN", "TÊN CƠ QUAN, TỔ CHỨC", "Số: …/KH-…", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc", "…………, ngày …… tháng …… năm ……", "KẾ HOẠCH", "…….………",
    ])
    r = parse(text)
    assert r["number"] is None and r["place"] is None
    assert r["issued_date"] == {"day": None, "month": None, "year": None}
    assert r["blanks"] == ["number", "place", "issued_date.day", "issued_date.month", "issued_date.year"]
    assert r["doc_type"] == "Kế hoạch"


def test_no_date_line_means_none_not_blank() -> None:
    r = parse("SỞ Y TẾ\nSố: 12/TB-SYT\nTHÔNG BÁO\nLịch tiếp công dân")
    assert r["issued_date"] is None and r["place"] is None
    assert r["blanks"] == []
    assert r["confidence"]["issued_date"] < 0.5


def test_impossible_date_is_not_made_iso() -> None:
    r = parse("SỞ Y TẾ\nSố: 12/TB-SYT\nHà Nội, ngày 31 tháng 02 năm 2026\nTHÔNG BÁO\nLịch")
    assert r["issued_date"] == {"day": 31, "month": 2, "year": 2026}
    assert r["blanks"] == []
    assert r["confidence"]["issued_date"] < 0.5


# --------------------------------------------------------------------------------------------
# Công văn


def test_cong_van_symbol_and_vv() -> None:
    text = "\n".join([
        "SỞ Y TẾ", "Số: 1502/SYT-NVY", "V/v tăng cường phòng, chống sốt xuất huyết",
        "Thành phố Hồ Chí Minh, ngày 12 tháng 3 năm 2026", "Kính gửi: Ủy ban nhân dân các phường, xã.",
        "Sở Y tế đề nghị các đơn vị triển khai các biện pháp phòng, chống dịch./.",
        "Nơi nhận:", "- Như trên;", "- Lưu: VT, NVY.", "GIÁM ĐỐC", "Nguyễn Văn Minh",
    ])
    r = parse(text)
    assert (r["doc_type"], r["doc_type_code"], r["symbol"]) == ("Công văn", CONG_VAN_CODE, "UBND-VX".replace(
        "UBND-VX", "SYT-NVY"))
    assert r["title"] == "tăng cường phòng, chống sốt xuất huyết"
    assert r["signer"] == {"authority": None, "authority_of": None, "position": "GIÁM ĐỐC",
                           "name": "Nguyễn Văn Minh"}
    assert r["recipients"] == ["Như trên", "Lưu: VT, NVY"]


def test_vv_without_symbol_is_still_cong_van() -> None:
    r = parse("CÔNG TY ABC\nV/v: báo giá thiết bị\nHà Nội, ngày 01 tháng 02 năm 2026\nKính gửi: Sở Y tế")
    assert r["doc_type"] == "Công văn" and r["title"] == "báo giá thiết bị"
    assert r["number"] is None and r["symbol"] is None and "number" not in r["blanks"]


# --------------------------------------------------------------------------------------------
# Signature block


_BODY = "KẾ HOẠCH\nNội dung\nI. MỤC TIÊU\nCác đơn vị thực hiện./."


def _doc(footer: list[str]) -> str:
    return "ỦY BAN NHÂN DÂN\nTHÀNH PHỐ HỒ CHÍ MINH\nSố: 1/KH-UBND\n" + _BODY + "\n" + "\n".join(footer)


@pytest.mark.parametrize("footer, signer", [
    (["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "Nguyễn Văn A"],
     {"authority": "TM.", "authority_of": "ỦY BAN NHÂN DÂN", "position": "CHỦ TỊCH", "name": "Nguyễn Văn A"}),
    (["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "(Đã ký)", "Trần Văn B"],
     {"authority": "KT.", "authority_of": "CHỦ TỊCH", "position": "PHÓ CHỦ TỊCH", "name": "Trần Văn B"}),
    (["TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Lê Thị C"],
     {"authority": "KT.", "authority_of": "CHỦ TỊCH", "position": "PHÓ CHỦ TỊCH", "name": "Lê Thị C"}),
    (["TL. CHỦ TỊCH", "CHÁNH VĂN PHÒNG", "Phạm Văn D"],
     {"authority": "TL.", "authority_of": "CHỦ TỊCH", "position": "CHÁNH VĂN PHÒNG", "name": "Phạm Văn D"}),
    (["TUQ. CHỦ TỊCH", "GIÁM ĐỐC SỞ NỘI VỤ", "Hoàng Văn E"],
     {"authority": "TUQ.", "authority_of": "CHỦ TỊCH", "position": "GIÁM ĐỐC SỞ NỘI VỤ",
      "name": "Hoàng Văn E"}),
    (["Q. GIÁM ĐỐC", "[Đã ký]", "Võ Thị F"],
     {"authority": "Q.", "authority_of": "GIÁM ĐỐC", "position": "GIÁM ĐỐC", "name": "Võ Thị F"}),
    (["TM. ỦY BAN NHÂN DÂN", "THÀNH PHỐ", "CHỦ TỊCH", "Đỗ Văn G"],
     {"authority": "TM.", "authority_of": "ỦY BAN NHÂN DÂN THÀNH PHỐ", "position": "CHỦ TỊCH",
      "name": "Đỗ Văn G"}),
    (["CHỦ TỊCH", "Bùi Văn H"],
     {"authority": None, "authority_of": None, "position": "CHỦ TỊCH", "name": "Bùi Văn H"}),
])
def test_signer_forms(footer: list[str], signer: dict) -> None:
    r = parse(_doc(["Nơi nhận:", "- Như trên;", "- Lưu: VT.", *footer]))
    assert r["signer"] == signer
    assert r["recipients"] == ["Như trên", "Lưu: VT"]


def test_signer_before_recipients_without_authority() -> None:
    r = parse(_doc(["GIÁM ĐỐC", "(Đã ký)", "Nguyễn Thị Lan", "Nơi nhận:", "- Sở Tài chính;", "- Lưu: VT."]))
    assert r["signer"] == {"authority": None, "authority_of": None, "position": "GIÁM ĐỐC",
                           "name": "Nguyễn Thị Lan"}
    assert r["recipients"] == ["Sở Tài chính", "Lưu: VT"]


def test_interleaved_footer_with_wrapped_recipients() -> None:
    footer = [
        "Nơi nhận: TM. ỦY BAN NHÂN DÂN",
        "- Các bộ, cơ quan ngang bộ, KT. CHỦ TỊCH",
        "cơ quan thuộc Chính phủ; PHÓ CHỦ TỊCH",
        "- HĐND, UBND các tỉnh, (Đã ký)",
        "thành phố trực thuộc Trung ương;",
        "- Văn phòng Ủy ban nhân dân, Nguyễn Văn Hai",
        "Thành phố;",
        "- Lưu: VT, TH.",
    ]
    r = parse(_doc(footer))
    assert r["signer"] == {"authority": "KT.", "authority_of": "CHỦ TỊCH", "position": "PHÓ CHỦ TỊCH",
                           "name": "Nguyễn Văn Hai"}
    assert r["recipients"] == ["Các bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ",
                               "HĐND, UBND các tỉnh, thành phố trực thuộc Trung ương",
                               "Văn phòng Ủy ban nhân dân, Thành phố", "Lưu: VT, TH"]


def test_recipient_with_capitalised_words_after_comma_is_not_a_name() -> None:
    r = parse(_doc(["Nơi nhận:", "- Sở Tài chính, Sở Xây Dựng;", "- Lưu: VT.", "GIÁM ĐỐC", "Ngô Văn Tám"]))
    assert r["recipients"] == ["Sở Tài chính, Sở Xây Dựng", "Lưu: VT"]
    assert r["signer"]["name"] == "Ngô Văn Tám"


def test_person_named_among_recipients_is_not_the_signer() -> None:
    r = parse(_doc(["Nơi nhận:", "- Bà Trần Thị Bình, Nguyễn Văn Cường và các thành viên;", "- Lưu: VT.",
                    "GIÁM ĐỐC", "Lê Văn Dũng"]))
    assert r["signer"]["name"] == "Lê Văn Dũng"
    assert r["recipients"][0] == "Bà Trần Thị Bình, Nguyễn Văn Cường và các thành viên"


def test_no_signer() -> None:
    r = parse(_doc(["Nơi nhận:", "- Như trên;", "- Lưu: VT."]))
    assert r["signer"] is None
    assert r["confidence"]["signer"] < 0.5


# --------------------------------------------------------------------------------------------
# Căn cứ, sections, annexes


def test_legal_bases_wrapped_and_terminated() -> None:
    text = "\n".join([
        "ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", "Số: 12/QĐ-UBND", "QUYẾT ĐỊNH",
        "Về việc ban hành Quy chế",
        "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH",
        "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025;",
        "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của",
        "Chính phủ về công tác văn thư;",
        "Căn cứ Thông tư số 01/2019/TT-BNV ngày 24 tháng 01 năm 2019 của Bộ Nội vụ quy định",
        "quy trình trao đổi, lưu trữ, xử lý tài liệu điện tử.",
        "Theo đề nghị của Giám đốc Sở Nội vụ.",
        "QUYẾT ĐỊNH:",
        "Điều 1. Ban hành kèm theo Quyết định này Quy chế công tác văn thư.",
        "Điều 2. Quyết định này có hiệu lực kể từ ngày ký.",
        "Căn cứ vào Quy chế, các đơn vị tổ chức thực hiện./.",
    ])
    r = parse(text)
    assert r["legal_bases"] == [
        "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025",
        "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư",
        "Căn cứ Thông tư số 01/2019/TT-BNV ngày 24 tháng 01 năm 2019 của Bộ Nội vụ quy định quy trình trao"
        " đổi, lưu trữ, xử lý tài liệu điện tử",
    ]
    assert [s["marker"] for s in r["sections"]] == ["Điều 1.", "Điều 2."]
    assert r["title"] == "Về việc ban hành Quy chế"


def test_section_levels_are_relative_to_the_markers_present() -> None:
    text = "SỞ Y TẾ\nSố: 1/HD-SYT\nHƯỚNG DẪN\nTiêm chủng\n" + "\n".join([
        "Phần I", "QUY ĐỊNH CHUNG", "Mục 1", "ĐỐI TƯỢNG", "Tiểu mục 1", "TRẺ EM", "Điều 1. Phạm vi",
        "1. Khoản một", "1.1. Ý một", "a) Điểm a", "- Gạch đầu dòng", "+ Dấu cộng",
    ])
    r = parse(text)
    assert [(s["level"], s["marker"], s["heading"]) for s in r["sections"]] == [
        (1, "Phần I", "QUY ĐỊNH CHUNG"), (2, "Mục 1", "ĐỐI TƯỢNG"), (3, "Tiểu mục 1", "TRẺ EM"),
        (4, "Điều 1.", "Phạm vi"), (5, "1.", "Khoản một"), (6, "1.1.", "Ý một"), (7, "a)", "Điểm a"),
        (8, "-", "Gạch đầu dòng"), (9, "+", "Dấu cộng"),
    ]


def test_kinh_gui_list_is_not_a_section() -> None:
    text = "SỞ Y TẾ\nSố: 1/SYT-VP\nV/v họp\nKính gửi:\n- Bệnh viện A;\n- Bệnh viện B.\n1. Nội dung họp."
    r = parse(text)
    assert r["sections"] == [{"level": 1, "marker": "1.", "heading": "Nội dung họp."}]


def test_several_annexes_and_body_references() -> None:
    text = _doc(["Nơi nhận:", "- Lưu: VT.", "CHỦ TỊCH", "Mai Văn Bốn", "", "Phụ lục I",
                 "DANH MỤC NHIỆM VỤ NĂM 2026", "(Kèm theo Kế hoạch số 1/KH-UBND ngày 05 tháng 01 năm 2026)",
                 "1. Nhiệm vụ một", "Phụ lục II", "KINH PHÍ THỰC HIỆN", "PHỤ LỤC III: BẢNG TỔNG HỢP",
                 "Phụ lục I kèm theo được cập nhật hằng quý."])
    r = parse(text)
    assert r["annexes"] == ["Phụ lục I DANH MỤC NHIỆM VỤ NĂM 2026", "Phụ lục II KINH PHÍ THỰC HIỆN",
                            "PHỤ LỤC III: BẢNG TỔNG HỢP"]
    assert r["signer"]["name"] == "Mai Văn Bốn"
    assert [s["marker"] for s in r["sections"]] == ["I."]


# --------------------------------------------------------------------------------------------
# Degenerate input


def test_empty_and_headerless_text() -> None:
    for text in ("", "   \n\n", "Hôm nay trời đẹp.\nChúng tôi đi họp.\n1. Nội dung một"):
        r = parse(text)
        assert set(r) == KEYS
        assert r["issuer"] is None and r["number"] is None and r["doc_type"] is None
        assert r["blanks"] == []
    assert parse("Chúng tôi đi họp.\n1. Nội dung một")["sections"] == [
        {"level": 1, "marker": "1.", "heading": "Nội dung một"}]


def test_parse_does_not_modify_the_shared_samples() -> None:
    before = copy.deepcopy(SAMPLES)
    for s in SAMPLES:
        parse(s["text"])
    assert SAMPLES == before


# --------------------------------------------------------------------------------------------
# Document types


def test_doc_types_are_the_29_of_dieu_7() -> None:
    names = [n for n, _ in DOC_TYPES]
    assert len(DOC_TYPES) == 29 and len(set(names)) == 29
    assert names[0] == "Nghị quyết" and names[-1] == "Thư công"
    codes = dict(DOC_TYPES)
    assert codes["Công văn"] == "CV" and codes["Thư công"] is None
    assert codes["Quy định"] == "QyĐ" and codes["Chương trình"] == "CTr" and codes["Tờ trình"] == "TTr"
    assert codes["Đề án"] == "ĐA" and codes["Dự án"] == "DA"
    assert len({c for c in codes.values() if c}) == 28
    assert dict(LEGAL_DOC_TYPES)["Nghị định"] == "NĐ"


def test_doc_types_match_the_decree() -> None:
    if not ND30_DIR.exists():
        pytest.skip(f"decree text not present at {ND30_DIR}")
    main = (ND30_DIR / "txt" / "nd30-2020_noi-dung.txt").read_text(encoding="utf-8")
    art7 = re.search(r"Văn bản hành chính gồm các loại văn bản sau: (.*?)\.\n", main).group(1)
    listed = [re.sub(r"\s*\(cá biệt\)", "", x).strip() for x in art7.split(",")]
    assert [fold(x) for x in listed] == [fold(n) for n, _ in DOC_TYPES]
    table = (ND30_DIR / "txt" / "phu-luc-III.txt").read_text(encoding="utf-8")
    rows = re.findall(r"^ \| (.+?) \| (\S+)$", table, flags=re.M)
    abbreviations = {fold(re.sub(r"\s*\(cá biệt\)", "", n)): c for n, c in rows}
    for name, code in DOC_TYPES:
        if name in ("Công văn", "Thư công"):
            assert fold(name) not in abbreviations
        else:
            assert abbreviations[fold(name)] == code, name


@pytest.mark.parametrize("symbol, expected", [
    ("KH-UBND", ("Kế hoạch", "KH")), ("NĐ-CP", ("Nghị định", "NĐ")), ("30/2020/NĐ-CP", ("Nghị định", "NĐ")),
    ("UBND-VX", ("Công văn", "CV")), ("SYT-NVY", ("Công văn", "CV")), ("QĐ-TTg", ("Quyết định", "QĐ")),
    ("12/2026/QĐ-UBND", ("Quyết định", "QĐ")), ("QD-UBND", ("Quyết định", "QĐ")),
    ("QyĐ-UBND", ("Quy định", "QyĐ")),
    ("CTr-UBND", ("Chương trình", "CTr")), ("TTr-SNV", ("Tờ trình", "TTr")), ("CT-UBND", ("Chỉ thị", "CT")),
    ("ĐA-UBND", ("Đề án", "ĐA")), ("DA-BQL", ("Dự án", "DA")), ("TT-BNV", ("Thông tư", "TT")),
    ("Số: 140/KH–UBND", ("Kế hoạch", "KH")), ("GUQ-SYT", ("Giấy ủy quyền", "GUQ")),
    ("80/2015/QH13", None), ("", None), ("/", None),
])
def test_doc_type_from_symbol(symbol: str, expected: tuple | None) -> None:
    assert doc_type_from_symbol(symbol) == expected


@pytest.mark.parametrize("line, expected", [
    ("KẾ HOẠCH", ("Kế hoạch", "KH")), ("QUYẾT ĐỊNH", ("Quyết định", "QĐ")),
    ("Quyết định", ("Quyết định", "QĐ")),
    ("  NGHỊ   QUYẾT ", ("Nghị quyết", "NQ")), ("GIẤY UỶ QUYỀN", ("Giấy ủy quyền", "GUQ")),
    ("BẢN THOẢ THUẬN", ("Bản thỏa thuận", "BTT")), ("BÁ0 CÁ0", ("Báo cáo", "BC")),
    ("THƯ CÔNG", ("Thư công", None)), ("NGHỊ ĐỊNH", ("Nghị định", "NĐ")), ("QUYẾT ĐỊNH:", None),
    ("QUYẾT NGHỊ:", None), ("KẾ HOẠCH NĂM 2026", None),
    ("", None),
])
def test_doc_type_from_title_line(line: str, expected: tuple | None) -> None:
    assert doc_type_from_title_line(line) == expected


# --------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize("text, expected", [
    ("ngày 05 tháng 01 năm 2020", "2020-01-05"),
    ("ngày 5 tháng 1 năm 2020", "2020-01-05"),
    ("Hà Nội, ngày 05 tháng 3 năm 2020", "2020-03-05"),
    ("Hà Nội, ngày  tháng  năm 2026", {"day": None, "month": None, "year": 2026}),
    ("ngày …… tháng …… năm ……", {"day": None, "month": None, "year": None}),
    ("ngày 12 tháng ... năm 2026", {"day": 12, "month": None, "year": 2026}),
    ("05/01/2020", "2020-01-05"),
    ("5-1-2020", "2020-01-05"),
    ("05.01.2020", "2020-01-05"),
    ("ngày 09/02/2026", "2026-02-09"),
    ("NGÀY 5 THÁNG 1 NĂM 2020", "2020-01-05"),
    ("ngay 5 thang 1 nam 2020", "2020-01-05"),
    (unicodedata.normalize("NFD", "ngày 05 tháng 01 năm 2020"), "2020-01-05"),
    ("31/02/2020", {"day": 31, "month": 2, "year": 2020}),
    ("Số: 30/2020/NĐ-CP", None),
    ("13/13/2020", None),
    ("không có ngày", None),
    ("", None),
])
def test_parse_date(text: str, expected: object) -> None:
    assert parse_date(text) == expected


# --------------------------------------------------------------------------------------------
# Tables across pages


def test_table_rows_continued_across_pages() -> None:
    rows = [
        ["STT", "Nhiệm vụ", "Đơn vị chủ trì"],
        ["1", "Xây dựng kho dữ liệu", "Sở Khoa học và"],
        ["", "dùng chung", "Công nghệ"],
        ["STT", "Nhiệm vụ", "Đơn vị chủ trì"],      # header repeated on page 2
        ["", "của Thành phố", ""],                   # row 1 continues on page 2
        ["2", "Số hóa hồ sơ", "Sở Nội vụ"],
    ]
    original = copy.deepcopy(rows)
    assert parse_table_rows(rows) == [
        ["STT", "Nhiệm vụ", "Đơn vị chủ trì"],
        ["1", "Xây dựng kho dữ liệu dùng chung của Thành phố", "Sở Khoa học và Công nghệ"],
        ["2", "Số hóa hồ sơ", "Sở Nội vụ"],
    ]
    assert rows == original


def test_repeated_header_matches_despite_spacing_and_case() -> None:
    rows = [["STT", "Nội dung"], ["1", "A"], ["stt ", "NỘI  DUNG"], ["2", "B"]]
    assert parse_table_rows(rows) == [["STT", "Nội dung"], ["1", "A"], ["2", "B"]]


def test_table_without_header_and_ragged_rows() -> None:
    rows = [["1", "A"], ["", "tiếp", "ghi chú"], ["", "", ""], ["2", "B"]]
    assert parse_table_rows(rows, header=False) == [["1", "A tiếp", "ghi chú"], ["2", "B"]]


def test_first_row_is_the_header_by_default() -> None:
    rows = [["(1)", "(2)"], ["1", "A"], ["", "tiếp"], ["(1)", "(2)"], ["2", "B"]]
    assert parse_table_rows(rows) == [["(1)", "(2)"], ["1", "A tiếp"], ["2", "B"]]


def test_continuation_right_after_the_header_is_kept() -> None:
    rows = [["STT", "Nội dung"], ["", "Nhóm I"], ["1", "A"]]
    assert parse_table_rows(rows) == [["STT", "Nội dung"], ["", "Nhóm I"], ["1", "A"]]


def test_table_empty() -> None:
    assert parse_table_rows([]) == []


# --------------------------------------------------------------------------------------------
# The decree itself (read from ../shared/data when present)


def _docx_tables_to_lines(text: str) -> str:
    """The corpus renders .docx tables as "[BẢNG]" rows of " | " cells with " / " line breaks; lay
    each cell out as its lines, left cell first (the sequential layout)."""
    out: list[str] = []
    in_table = False
    for line in text.split("\n"):
        if line.strip() == "[BẢNG]":
            in_table = True
        elif line.strip() == "[/BẢNG]":
            in_table = False
        elif in_table:
            for cell in line.split(" | "):
                out.extend(x.strip() for x in cell.split(" / "))
        else:
            out.append(line)
    return "\n".join(out)


def test_the_decree_parses() -> None:
    path = ND30_DIR / "txt" / "nd30-2020_noi-dung.txt"
    if not path.exists():
        pytest.skip(f"decree text not present at {path}")
    r = parse(_docx_tables_to_lines(path.read_text(encoding="utf-8")))
    assert r["national_title"] and r["motto"]
    assert (r["issuer"], r["parent_issuer"]) == ("CHÍNH PHỦ", None)
    assert (r["number"], r["number_year"], r["symbol"]) == ("30", "2020", "NĐ-CP")
    assert (r["doc_type"], r["doc_type_code"]) == ("Nghị định", "NĐ")
    assert (r["place"], r["issued_date"]) == ("Hà Nội", "2020-03-05")
    assert r["title"] == "Về công tác văn thư"
    assert r["legal_bases"] == ["Căn cứ Luật Tổ chức Chính phủ ngày 19 tháng 6 năm 2015"]
    assert r["signer"] == {"authority": "TM.", "authority_of": "CHÍNH PHỦ", "position": "THỦ TƯỚNG",
                           "name": "Nguyễn Xuân Phúc"}
    assert len(r["recipients"]) == 21
    assert r["recipients"][0] == "Ban Bí thư Trung ương Đảng" and r["recipients"][-1] == "Lưu: VT, HC (2)"
    assert "Các bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ" in r["recipients"]
    chapters = [s for s in r["sections"] if s["marker"].startswith("Chương")]
    articles = [s for s in r["sections"] if s["marker"].startswith("Điều")]
    assert len(chapters) == 7 and chapters[0]["heading"] == "QUY ĐỊNH CHUNG"
    assert [a["marker"] for a in articles] == [f"Điều {n}." for n in range(1, 39)]
    assert articles[6]["heading"] == "Các loại văn bản hành chính"
    assert r["blanks"] == [] and r["urgency"] is None and r["annexes"] == []


def test_the_decree_templates_do_not_break_the_parser() -> None:
    """Phụ lục III's mock-ups: placeholders everywhere, footnote digits glued to them."""
    path = ND30_DIR / "txt" / "phu-luc-III.txt"
    if not path.exists():
        pytest.skip(f"decree text not present at {path}")
    text = _docx_tables_to_lines(path.read_text(encoding="utf-8"))
    typed = 0
    for part in re.split(r"\nMẫu \d\.\d+ - ", text)[1:]:
        r = parse(part)
        assert set(r) == KEYS
        template_name = fold(part.split("\n", 1)[0])
        if r["doc_type"]:
            typed += 1
            assert template_name.startswith(fold(r["doc_type"]))
            assert r["number"] is None and "number" in r["blanks"]
    assert typed >= 8
