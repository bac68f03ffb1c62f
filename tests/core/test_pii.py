"""Personal data detection and redaction: each kind, its checks, and the false positives it must avoid."""

from __future__ import annotations

import datetime as dt

import pytest

from cityai.core import pii

TODAY = dt.date(2026, 11, 29)


def kinds(text: str) -> list[tuple[str, str]]:
    return [(h.kind, h.text) for h in pii.detect(text, today=TODAY)]


def _tax(first9: str) -> str:
    check = 10 - sum(int(d) * w for d, w in zip(first9, pii.TAX_WEIGHTS)) % 11
    assert check < 10, "pick another prefix"
    return first9 + str(check)


def test_cccd_structure():
    assert pii.cccd_info("079203001234", TODAY) == {"province_code": "079", "sex": "nam", "birth_year": 2003}
    assert pii.cccd_info("001190012345", TODAY)["sex"] == "nữ" and pii.cccd_info("001190012345", TODAY)["birth_year"] == 1990
    assert pii.cccd_info("003190012345", TODAY) is None  # 003 is no province code
    assert pii.cccd_info("079299001234", TODAY) is None  # born 2099: in the future
    assert pii.cccd_info("07920300123", TODAY) is None


def test_finds_cccd_in_text_but_not_other_12_digit_numbers():
    text = "Ông Nguyễn Văn A, CCCD số 079203001234 cấp ngày 01/01/2022. Tổng kinh phí 125000000000 đồng."
    assert kinds(text) == [("cccd", "079203001234")]


def test_cmnd_needs_its_name():
    assert kinds("Số CMND: 023456789 do Công an TP.HCM cấp") == [("cmnd", "023456789")]
    assert kinds("Giấy chứng minh nhân dân số 271234567") == [("cmnd", "271234567")]
    assert kinds("Mã hồ sơ 023456789 đã tiếp nhận") == []


def test_tax_codes_by_check_digit_or_label():
    hcmc = _tax("030123456")  # HCMC's codes start with 03, like Viettel's mobile numbers
    assert kinds(f"Doanh nghiệp có mã {hcmc} hoạt động") == [("tax_code", hcmc)]
    assert kinds(f"Điện thoại: {hcmc}") == [("phone", hcmc)]  # the words before it decide
    good = _tax("010012345")
    bad = good[:9] + str((int(good[9]) + 1) % 10)
    assert kinds(f"Doanh nghiệp có mã {good} hoạt động") == [("tax_code", good)]
    assert kinds(f"Doanh nghiệp có mã {bad} hoạt động") == []
    assert kinds(f"Chi nhánh {good}-001") == [("tax_code", f"{good}-001")]
    assert kinds(f"MST: {bad}") == [("tax_code", bad)]  # labelled: taken even with a wrong check digit
    assert pii.tax_code_valid(good) and not pii.tax_code_valid(bad)


@pytest.mark.parametrize("phone", ["0903 123 456", "0903.123.456", "+84 903 123 456", "84903123456", "0283 8296 052",
                                   "028.3829.6052", "0398765432"])
def test_phone_numbers(phone):
    assert kinds(f"Liên hệ: {phone}.") == [("phone", phone)]


def test_not_phones():
    assert kinds("Năm 2025 có 0123456789 lượt") == []  # 01x is no mobile prefix any more
    assert kinds("Quyết định số 1234/QĐ-UBND ngày 05/01/2020") == []


def test_email_plate_dob_address():
    text = ("Họ tên: Trần Thị B, sinh ngày 12/03/1985, e-mail: tran.b@gmail.com\n"
            "Địa chỉ thường trú: 45/7 Lê Lợi, phường Sài Gòn, TP. Hồ Chí Minh\n"
            "Phương tiện: ô tô biển số 51F-123.45; xe máy 59X1-234.56.\n"
            "Gửi về số 12 đường Nguyễn Huệ trước ngày 30/12/2025.")
    found = kinds(text)
    assert ("dob", "12/03/1985") in found
    assert ("email", "tran.b@gmail.com") in found
    assert ("address", "45/7 Lê Lợi, phường Sài Gòn, TP. Hồ Chí Minh") in found
    assert ("plate", "51F-123.45") in found and ("plate", "59X1-234.56") in found
    assert ("address", "số 12 đường Nguyễn Huệ") in found
    assert not any(k == "dob" and t == "30/12/2025" for k, t in found)  # a deadline is not a birth date


def test_document_references_are_not_personal_data():
    text = ("Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ; "
            "Kế hoạch số 140/KH-UBND; Quyết định 1234/QĐ-UBND; kinh phí 2.500.000.000 đồng; điện thoại 1022.")
    assert kinds(text) == []


def test_redact_labels_and_masks():
    text = "CCCD 079203001234, ĐT 0903123456."
    assert pii.redact(text) == "CCCD [CCCD], ĐT [SĐT]."
    masked = pii.redact(text, style="mask")
    assert len(masked) == len(text) and "079203001234" not in masked and "█" * 12 in masked
    assert pii.summary(pii.detect(text, today=TODAY)) == {"cccd": 1, "phone": 1}
