#!/usr/bin/env python
"""extraction - field-level precision and recall of the ND30 structure (issue: Documents, item 4).

A set of administrative documents is built from :class:`cityai.documents.samples.DocSpec` (the four
``SAMPLE_SPECS`` plus the ``DOCUMENTS`` below: Kế hoạch, Quyết định (with and without a year in the number),
Công văn, Thông báo, Báo cáo, Tờ trình, Giấy mời, Chỉ thị, Nghị quyết, Hướng dẫn, Chương trình; agencies
with and without a parent; drafts with blank numbers and dates; urgency and secrecy marks; signers with
TM./KT./TL./Q./TUQ. or no authority; recipients). Each document's expected fields are derived from its
DocSpec (:func:`truth`), never from a parse. Every document then goes through three paths, all with the
real pipeline functions that ``cityai.documents.service.process`` uses:

* ``text-layer``  - the PDF from ``samples.render_pdf`` read by ``intake.pages`` (its text layer);
* ``scan-200``    - the pages rasterised at 200 dpi, grey, clean, saved as one multi-page TIFF (a scanner's
  file), read by ``intake.pages`` and OCRed by ``OcrPool.recognize`` (preprocessing on);
* ``scan-150``    - the same at 150 dpi with the combined ``scan`` damage of ``benchmarks/ocr.py``
  (rotated 1.5°, blur 0.8 px, noise σ12, JPEG q45).

The page texts are joined as ``process`` joins them, parsed with ``nd30.parse`` and tidied with
``service._tidy``. Per field: *precision* - of the non-null values predicted, the share exactly right
after NFC and whitespace folding; *recall* - of the non-null true values, the share predicted exactly
right; *exact docs* - documents whose value is right, a correct null (a draft's blank number) included.
``legal_bases`` and ``recipients`` are scored item by item (a multiset match), ``signer`` as its
authority, position and name.

    python benchmarks/extraction.py                    # 26 documents, three paths, under a minute on 2 cores
    python benchmarks/extraction.py --quick            # 6 documents, under a minute
    python benchmarks/extraction.py --markdown /tmp/extraction.md --show-errors
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from cityai.documents.samples import SAMPLE_SPECS, DocSpec  # noqa: E402

# The combined "scan" damage, shared with benchmarks/ocr.py.
SCAN = {"rotate": 1.5, "blur": 0.8, "noise": 12.0, "jpeg_quality": 45}
FONT = "LiberationSerif"  # Times New Roman's metric twin, the face ND30 prescribes

_HCM = "Thành phố Hồ Chí Minh"
_UBND_TP = "Ủy ban nhân dân\nThành phố Hồ Chí Minh"


def _ubnd(name: str) -> str:
    return f"ỦY BAN NHÂN DÂN\n{name.upper()}"


# --------------------------------------------------------------------------------------------- documents
# Fictitious documents (names, numbers and dates are made up), each meant to fit on one page.

DOCUMENTS: list[DocSpec] = [
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Nội vụ", number_line="Số: 215/QĐ-SNV",
        place_date=f"{_HCM}, ngày 03 tháng 3 năm 2025", doc_type="Quyết định",
        title="Về việc thành lập Tổ công tác triển khai ứng dụng trí tuệ nhân tạo tại Sở Nội vụ",
        body=[
            "# GIÁM ĐỐC SỞ NỘI VỤ",
            "_ Căn cứ Luật Cán bộ, công chức ngày 24 tháng 6 năm 2025;",
            "_ Căn cứ Quyết định số 1826/QĐ-UBND ngày 12 tháng 6 năm 2025 của Ủy ban nhân dân Thành phố;",
            "_ Theo đề nghị của Chánh Văn phòng Sở.",
            "# QUYẾT ĐỊNH:",
            "**Điều 1.** Thành lập Tổ công tác triển khai ứng dụng trí tuệ nhân tạo tại Sở Nội vụ gồm 07 "
            "thành viên, do Phó Giám đốc Sở làm Tổ trưởng.",
            "**Điều 2.** Tổ công tác có nhiệm vụ rà soát quy trình, đề xuất nhiệm vụ ưu tiên và báo cáo kết "
            "quả hằng tháng.",
            "**Điều 3.** Quyết định này có hiệu lực kể từ ngày ký. Chánh Văn phòng Sở và các thành viên Tổ "
            "công tác chịu trách nhiệm thi hành Quyết định này./.",
        ],
        signer_authority=None, signer_position="GIÁM ĐỐC", signer_name="Phạm Thị Hồng",
        recipients=["- Như Điều 3;", "- UBND Thành phố (để báo cáo);", "- Lưu: VT, VP."],
    ),
    DocSpec(
        parent_issuer=None, issuer=_ubnd("Thành phố Hồ Chí Minh"), number_line="Số: 28/2025/QĐ-UBND",
        place_date=f"{_HCM}, ngày 21 tháng 7 năm 2025", doc_type="Quyết định",
        title="Ban hành Quy định về quản lý, khai thác dữ liệu dùng chung của Thành phố",
        body=[
            "# ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH",
            "_ Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025;",
            "_ Căn cứ Luật Dữ liệu ngày 30 tháng 11 năm 2024;",
            "_ Căn cứ Nghị định số 47/2024/NĐ-CP ngày 09 tháng 5 năm 2024 của Chính phủ;",
            "_ Theo đề nghị của Giám đốc Sở Khoa học và Công nghệ.",
            "# QUYẾT ĐỊNH:",
            "**Điều 1.** Ban hành kèm theo Quyết định này Quy định về quản lý, khai thác dữ liệu dùng chung.",
            "**Điều 2.** Quyết định này có hiệu lực từ ngày 01 tháng 8 năm 2025.",
            "**Điều 3.** Chánh Văn phòng Ủy ban nhân dân Thành phố, Thủ trưởng các sở, ban, ngành chịu trách "
            "nhiệm thi hành Quyết định này./.",
        ],
        signer_authority="TM. ỦY BAN NHÂN DÂN", signer_position="CHỦ TỊCH", signer_name="Lê Hoàng Minh",
        recipients=["- Như Điều 3;", "- Bộ Tư pháp;", "- Thường trực Thành ủy;", "- Lưu: VT, KT."],
    ),
    DocSpec(
        parent_issuer=None, issuer=_ubnd("Thành phố Hồ Chí Minh"), number_line="Số: 3456/UBND-KT",
        place_date=f"{_HCM}, ngày 09 tháng 9 năm 2025", doc_type=None,
        title="V/v báo cáo tình hình sử dụng nền tảng trí tuệ nhân tạo dùng chung",
        kinh_gui=["Các sở, ban, ngành Thành phố;", "Ủy ban nhân dân các phường, xã, đặc khu."],
        body=[
            "Ủy ban nhân dân Thành phố đề nghị các cơ quan, đơn vị báo cáo tình hình sử dụng nền tảng trí "
            "tuệ nhân tạo dùng chung trong quý III năm 2025, gồm số văn bản đã số hóa, số người dùng và các "
            "khó khăn, vướng mắc.",
            "Báo cáo gửi về Sở Khoa học và Công nghệ trước ngày 25 tháng 9 năm 2025 để tổng hợp./.",
        ],
        signer_authority="TUQ. CHỦ TỊCH", signer_position="CHÁNH VĂN PHÒNG", signer_name="Võ Thanh Tùng",
        recipients=["- Như trên;", "- TTUB: CT, các PCT;", "- Sở Khoa học và Công nghệ;", "- Lưu: VT, KT."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Y tế", number_line="Số: 1789/SYT-NVY",
        place_date=f"{_HCM}, ngày 14 tháng 10 năm 2025", doc_type=None,
        title="V/v triển khai số hóa hồ sơ bệnh án tại các bệnh viện",
        kinh_gui=["Giám đốc các bệnh viện trực thuộc Sở Y tế."], urgency="HỎA TỐC",
        body=[
            "Thực hiện chỉ đạo của Ủy ban nhân dân Thành phố, Sở Y tế đề nghị Giám đốc các bệnh viện khẩn "
            "trương rà soát, số hóa hồ sơ bệnh án giấy đang lưu trữ, ưu tiên hồ sơ từ năm 2020 đến nay.",
            "Dữ liệu cá nhân của người bệnh phải được bảo vệ theo quy định; kết quả gửi về Phòng Nghiệp vụ Y "
            "trước ngày 20 tháng 10 năm 2025./.",
        ],
        signer_authority="KT. GIÁM ĐỐC", signer_position="PHÓ GIÁM ĐỐC", signer_name="Nguyễn Thị Thu Hà",
        recipients=["- Như trên;", "- Giám đốc Sở (để báo cáo);", "- Lưu: VT, NVY."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Tài chính", number_line="Số: 902/STC-NS",
        place_date=f"{_HCM}, ngày 5 tháng 6 năm 2025", doc_type=None,
        title="V/v hướng dẫn lập dự toán kinh phí chuyển đổi số năm 2026",
        kinh_gui=["Các sở, ban, ngành Thành phố."],
        body=[
            "Căn cứ Luật Ngân sách nhà nước, Sở Tài chính hướng dẫn các đơn vị lập dự toán kinh phí chuyển "
            "đổi số năm 2026, bao gồm chi thuê dịch vụ công nghệ thông tin, chi đào tạo và chi bảo đảm an "
            "toàn thông tin.",
            "Dự toán gửi về Sở Tài chính trước ngày 15 tháng 7 năm 2025 kèm thuyết minh chi tiết./.",
        ],
        signer_authority="TL. GIÁM ĐỐC", signer_position="TRƯỞNG PHÒNG NGÂN SÁCH",
        signer_name="Đặng Văn Khoa",
        recipients=["- Như trên;", "- Kho bạc Nhà nước khu vực II;", "- Lưu: VT, NS."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Văn phòng", number_line="Số: 512/TB-VP",
        place_date=f"{_HCM}, ngày 18 tháng 4 năm 2025", doc_type="Thông báo",
        title="Kết luận của Phó Chủ tịch Ủy ban nhân dân Thành phố tại cuộc họp về nền tảng số dùng chung",
        body=[
            "Ngày 15 tháng 4 năm 2025, Phó Chủ tịch Ủy ban nhân dân Thành phố chủ trì cuộc họp nghe Sở Khoa "
            "học và Công nghệ báo cáo tiến độ triển khai nền tảng số dùng chung. Sau khi nghe báo cáo và ý "
            "kiến của các đơn vị, Phó Chủ tịch kết luận như sau:",
            "1. Ghi nhận kết quả bước đầu; yêu cầu hoàn thành kết nối với hệ thống quản lý văn bản trong "
            "tháng 5 năm 2025.",
            "2. Giao Sở Tài chính cân đối, bố trí kinh phí theo đề xuất của Sở Khoa học và Công nghệ.",
            "Văn phòng Ủy ban nhân dân Thành phố thông báo để các đơn vị biết, thực hiện./.",
        ],
        signer_authority="KT. CHÁNH VĂN PHÒNG", signer_position="PHÓ CHÁNH VĂN PHÒNG",
        signer_name="Trương Minh Đức",
        recipients=["- Sở Khoa học và Công nghệ;", "- Sở Tài chính;", "- TTUB: PCT;", "- Lưu: VT, KT."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Giáo dục và Đào tạo", number_line="Số: 77/TB-SGDĐT",
        place_date=f"{_HCM}, ngày 22 tháng 8 năm 2025", doc_type="Thông báo",
        title="Lịch tập huấn sử dụng trợ lý ảo cho cán bộ quản lý trường học",
        body=[
            "Sở Giáo dục và Đào tạo thông báo lịch tập huấn sử dụng trợ lý ảo hỗ trợ công tác quản lý cho "
            "hiệu trưởng, phó hiệu trưởng các trường trung học phổ thông như sau:",
            "1. Thời gian: từ 08 giờ 00 ngày 04 tháng 9 năm 2025 đến 11 giờ 30 ngày 05 tháng 9 năm 2025.",
            "2. Địa điểm: Hội trường Sở Giáo dục và Đào tạo, số 66-68 Lê Thánh Tôn, phường Sài Gòn.",
            "Đề nghị các trường cử đúng thành phần tham dự./.",
        ],
        signer_authority=None, signer_position="GIÁM ĐỐC", signer_name="Hồ Tấn Phát",
        recipients=["- Các trường THPT;", "- Ban Giám đốc Sở;", "- Lưu: VT, TCCB."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Khoa học và Công nghệ", number_line="Số: 345/BC-SKHCN",
        place_date=f"{_HCM}, ngày 30 tháng 6 năm 2025", doc_type="Báo cáo",
        title="Kết quả triển khai nền tảng trí tuệ nhân tạo dùng chung 6 tháng đầu năm 2025",
        body=[
            "## I. KẾT QUẢ ĐẠT ĐƯỢC",
            "1. Đã số hóa 48.500 văn bản đến của 32 cơ quan, đơn vị; độ chính xác nhận dạng ký tự đạt trên "
            "98% đối với bản quét đạt chuẩn.",
            "2. Hoàn thành kết nối với hệ thống quản lý văn bản và điều hành của Thành phố.",
            "## II. KHÓ KHĂN, VƯỚNG MẮC",
            "Nhiều bản quét có độ phân giải thấp, bị nghiêng hoặc mờ, làm giảm độ chính xác nhận dạng.",
            "## III. NHIỆM VỤ 6 THÁNG CUỐI NĂM",
            "Mở rộng cho các phường, xã, đặc khu; ban hành hướng dẫn chuẩn quét văn bản./.",
        ],
        signer_authority="KT. GIÁM ĐỐC", signer_position="PHÓ GIÁM ĐỐC", signer_name="Trần Thị Bích",
        recipients=["- UBND Thành phố;", "- Sở Nội vụ;", "- Lưu: VT, CĐS."],
    ),
    DocSpec(
        parent_issuer=None, issuer=_ubnd("Phường Bến Thành"), number_line="Số: 58/BC-UBND",
        place_date="Bến Thành, ngày 10 tháng 11 năm 2025", doc_type="Báo cáo",
        title="Tình hình tiếp nhận, giải quyết thủ tục hành chính trực tuyến tháng 10 năm 2025",
        body=[
            "Trong tháng 10 năm 2025, Ủy ban nhân dân phường tiếp nhận 1.254 hồ sơ thủ tục hành chính, trong "
            "đó 1.031 hồ sơ nộp trực tuyến, đạt tỷ lệ 82,2%.",
            "Số hồ sơ giải quyết đúng hạn là 1.240, trễ hạn 14 do phải xác minh thông tin.",
            "Ủy ban nhân dân phường báo cáo Ủy ban nhân dân Thành phố./.",
        ],
        signer_authority="TM. ỦY BAN NHÂN DÂN", signer_position="CHỦ TỊCH", signer_name="Lý Văn Sơn",
        recipients=["- UBND Thành phố;", "- Sở Nội vụ;", "- Lưu: VT, VP."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Nội vụ", number_line="Số: 120/TTr-SNV",
        place_date=f"{_HCM}, ngày 02 tháng 10 năm 2025", doc_type="Tờ trình",
        title="Về việc phê duyệt Đề án vị trí việc làm ứng dụng trí tuệ nhân tạo",
        kinh_gui=["Ủy ban nhân dân Thành phố."],
        body=[
            "Thực hiện Kế hoạch số 140/KH-UBND ngày 15 tháng 01 năm 2025 của Ủy ban nhân dân Thành phố, Sở "
            "Nội vụ đã xây dựng Đề án vị trí việc làm ứng dụng trí tuệ nhân tạo trong các cơ quan hành "
            "chính.",
            "Sở Nội vụ kính trình Ủy ban nhân dân Thành phố xem xét, phê duyệt Đề án (hồ sơ kèm theo)./.",
        ],
        signer_authority=None, signer_position="GIÁM ĐỐC", signer_name="Phạm Thị Hồng",
        recipients=["- Như trên;", "- Lưu: VT, TCBM."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Tài chính", number_line="Số: 66/TTr-STC",
        place_date=f"{_HCM}, ngày 17 tháng 3 năm 2025", doc_type="Tờ trình",
        title="Về việc bổ sung dự toán kinh phí thuê dịch vụ lưu trữ dữ liệu",
        kinh_gui=["Ủy ban nhân dân Thành phố;", "Thường trực Hội đồng nhân dân Thành phố."],
        body=[
            "Căn cứ đề xuất của Sở Khoa học và Công nghệ, Sở Tài chính kính trình bổ sung dự toán năm 2025 "
            "số tiền 12.500.000.000 đồng để thuê dịch vụ lưu trữ dữ liệu cho nền tảng dùng chung.",
            "Kính trình Ủy ban nhân dân Thành phố xem xét, quyết định./.",
        ],
        signer_authority="KT. GIÁM ĐỐC", signer_position="PHÓ GIÁM ĐỐC", signer_name="Đỗ Quang Huy",
        recipients=["- Như trên;", "- Sở Khoa học và Công nghệ;", "- Lưu: VT, HCSN."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Khoa học và Công nghệ", number_line="Số: 41/GM-SKHCN",
        place_date=f"{_HCM}, ngày 25 tháng 8 năm 2025", doc_type="Giấy mời",
        title="Dự hội thảo đánh giá chất lượng nhận dạng văn bản tiếng Việt",
        kinh_gui=["Đại diện lãnh đạo các sở, ban, ngành Thành phố."], urgency="KHẨN",
        body=[
            "Sở Khoa học và Công nghệ trân trọng kính mời đại diện lãnh đạo đơn vị dự hội thảo đánh giá chất "
            "lượng nhận dạng văn bản tiếng Việt trên nền tảng dùng chung.",
            "Thời gian: 14 giờ 00, thứ Năm, ngày 28 tháng 8 năm 2025.",
            "Địa điểm: Phòng họp số 2, 244 Điện Biên Phủ, phường Xuân Hòa.",
            "Rất mong đại biểu đến dự đúng giờ./.",
        ],
        signer_authority="TL. GIÁM ĐỐC", signer_position="CHÁNH VĂN PHÒNG", signer_name="Huỳnh Ngọc Lan",
        recipients=["- Như trên;", "- Lưu: VT, VP."],
    ),
    DocSpec(
        parent_issuer=None, issuer=_ubnd("Thành phố Hồ Chí Minh"), number_line="Số: 233/GM-UBND",
        place_date=f"{_HCM}, ngày 11 tháng 12 năm 2025", doc_type="Giấy mời",
        title="Họp sơ kết năm 2025 triển khai nền tảng trí tuệ nhân tạo dùng chung",
        kinh_gui=["Giám đốc các sở, ban, ngành;", "Chủ tịch Ủy ban nhân dân các phường, xã, đặc khu."],
        body=[
            "Ủy ban nhân dân Thành phố tổ chức họp sơ kết năm 2025 việc triển khai nền tảng trí tuệ nhân tạo "
            "dùng chung. Chủ trì: Phó Chủ tịch Ủy ban nhân dân Thành phố.",
            "Thời gian: 08 giờ 30, ngày 18 tháng 12 năm 2025. Địa điểm: Hội trường A, 86 Lê Thánh Tôn.",
        ],
        signer_authority="TL. CHỦ TỊCH", signer_position="CHÁNH VĂN PHÒNG", signer_name="Võ Thanh Tùng",
        recipients=["- Như trên;", "- TTUB: PCT;", "- Lưu: VT, KT."],
    ),
    DocSpec(
        parent_issuer="Sở Khoa học và Công nghệ", issuer="Trung tâm Chuyển đổi số",
        number_line="Số: 19/KH-TTCĐS", place_date=f"{_HCM}, ngày 06 tháng 02 năm 2025", doc_type="Kế hoạch",
        title="Vận hành thử nghiệm dịch vụ nhận dạng văn bản năm 2025",
        body=[
            "## I. MỤC TIÊU",
            "Vận hành thử nghiệm dịch vụ nhận dạng văn bản cho 10 cơ quan, đơn vị trong quý I năm 2025, bảo "
            "đảm thời gian xử lý dưới 5 giây mỗi trang.",
            "## II. NỘI DUNG",
            "1. Cài đặt, cấu hình hệ thống tại trung tâm dữ liệu của Thành phố.",
            "2. Thu thập ý kiến người dùng và hiệu chỉnh trước khi vận hành chính thức./.",
        ],
        signer_authority="Q. GIÁM ĐỐC", signer_position="", signer_name="Mai Xuân Trường",
        recipients=["- Sở Khoa học và Công nghệ;", "- Các phòng thuộc Trung tâm;", "- Lưu: VT."],
    ),
    DocSpec(
        parent_issuer=None, issuer=_ubnd("Thành phố Hồ Chí Minh"), number_line="Số: 07/CT-UBND",
        place_date=f"{_HCM}, ngày 04 tháng 4 năm 2025", doc_type="Chỉ thị",
        title="Về tăng cường bảo đảm an toàn thông tin khi sử dụng trí tuệ nhân tạo",
        body=[
            "Để bảo đảm an toàn thông tin và bảo vệ dữ liệu cá nhân khi ứng dụng trí tuệ nhân tạo trong cơ "
            "quan nhà nước, Chủ tịch Ủy ban nhân dân Thành phố chỉ thị:",
            "1. Thủ trưởng các cơ quan, đơn vị không đưa tài liệu mật lên các dịch vụ trí tuệ nhân tạo công "
            "cộng.",
            "2. Công an Thành phố chủ trì kiểm tra, giám sát việc thực hiện Chỉ thị này./.",
        ],
        signer_authority=None, signer_position="CHỦ TỊCH", signer_name="Lê Hoàng Minh",
        recipients=["- Thường trực Thành ủy;", "- Các sở, ban, ngành;", "- Lưu: VT, KT."],
    ),
    DocSpec(
        parent_issuer=None, issuer="Hội đồng nhân dân\nThành phố Hồ Chí Minh",
        number_line="Số: 12/2025/NQ-HĐND",
        place_date=f"{_HCM}, ngày 10 tháng 7 năm 2025", doc_type="Nghị quyết",
        title="Quy định mức chi hỗ trợ chuyển đổi số cho các phường, xã, đặc khu",
        body=[
            "# HỘI ĐỒNG NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH",
            "_ Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025;",
            "_ Căn cứ Luật Ngân sách nhà nước ngày 25 tháng 6 năm 2015;",
            "_ Xét Tờ trình số 66/TTr-STC ngày 17 tháng 3 năm 2025 của Sở Tài chính.",
            "# QUYẾT NGHỊ:",
            "**Điều 1.** Quy định mức chi hỗ trợ chuyển đổi số tối đa 500.000.000 đồng mỗi phường, xã, đặc "
            "khu.",
            "**Điều 2.** Nghị quyết này có hiệu lực từ ngày 20 tháng 7 năm 2025./.",
        ],
        signer_authority=None, signer_position="CHỦ TỊCH", signer_name="Nguyễn Thị Lệ",
        recipients=["- Ủy ban Thường vụ Quốc hội;", "- Chính phủ;", "- Lưu: VT."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Nội vụ", number_line="Số: 05/HD-SNV",
        place_date=f"{_HCM}, ngày 16 tháng 5 năm 2025", doc_type="Hướng dẫn",
        title="Lập hồ sơ điện tử và nộp lưu hồ sơ vào Lưu trữ lịch sử Thành phố",
        body=[
            "## 1. Phạm vi áp dụng",
            "Hướng dẫn này áp dụng đối với các cơ quan, tổ chức thuộc nguồn nộp lưu hồ sơ vào Lưu trữ lịch "
            "sử Thành phố.",
            "## 2. Yêu cầu đối với hồ sơ điện tử",
            "Văn bản số hóa phải ở định dạng PDF/A, độ phân giải tối thiểu 200 dpi, kèm siêu dữ liệu theo "
            "quy định./.",
        ],
        signer_authority="KT. GIÁM ĐỐC", signer_position="PHÓ GIÁM ĐỐC", signer_name="Tô Văn Lợi",
        recipients=["- Các sở, ban, ngành;", "- UBND các phường, xã, đặc khu;", "- Lưu: VT, VTLT."],
    ),
    DocSpec(
        parent_issuer=None, issuer="Bộ Nội vụ", number_line="Số: 4321/BNV-CCVC",
        place_date="Hà Nội, ngày 27 tháng 5 năm 2025", doc_type=None,
        title="V/v cung cấp thông tin về đội ngũ công chức chuyên trách công nghệ",
        kinh_gui=["Ủy ban nhân dân Thành phố Hồ Chí Minh."], urgency="MẬT",
        body=[
            "Để có cơ sở xây dựng chính sách thu hút nhân lực công nghệ, Bộ Nội vụ đề nghị Ủy ban nhân dân "
            "Thành phố cung cấp số lượng, trình độ của công chức chuyên trách công nghệ thông tin.",
            "Văn bản trả lời gửi về Vụ Công chức - Viên chức trước ngày 15 tháng 6 năm 2025./.",
        ],
        signer_authority="TL. BỘ TRƯỞNG", signer_position="VỤ TRƯỞNG\nVỤ CÔNG CHỨC - VIÊN CHỨC",
        signer_name="Ngô Thị Mai",
        recipients=["- Như trên;", "- Bộ trưởng (để báo cáo);", "- Lưu: VT, CCVC."],
    ),
    DocSpec(
        parent_issuer=None, issuer=_ubnd("Thành phố Hồ Chí Minh"), number_line="Số:      /QĐ-UBND",
        place_date=f"{_HCM}, ngày      tháng      năm 2025", doc_type="Quyết định", draft=True,
        title="Về việc công bố danh mục dữ liệu mở của Thành phố năm 2025",
        body=[
            "# CHỦ TỊCH ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH",
            "_ Căn cứ Luật Dữ liệu ngày 30 tháng 11 năm 2024;",
            "_ Theo đề nghị của Giám đốc Sở Khoa học và Công nghệ.",
            "# QUYẾT ĐỊNH:",
            "**Điều 1.** Công bố kèm theo Quyết định này danh mục dữ liệu mở của Thành phố năm 2025.",
            "**Điều 2.** Quyết định này có hiệu lực kể từ ngày ký./.",
        ],
        signer_authority="KT. CHỦ TỊCH", signer_position="PHÓ CHỦ TỊCH", signer_name="",
        recipients=["- Như Điều 2;", "- Lưu: VT, KT."],
    ),
    DocSpec(
        parent_issuer="Bộ Công an", issuer="Công an\nThành phố Hồ Chí Minh", number_line="Số: 1502/CATP-PA05",
        place_date=f"{_HCM}, ngày 08 tháng 8 năm 2025", doc_type=None,
        title="V/v cảnh báo giả mạo văn bản hành chính bằng công cụ trí tuệ nhân tạo",
        kinh_gui=["Các sở, ban, ngành Thành phố."], urgency="THƯỢNG KHẨN",
        body=[
            "Thời gian gần đây xuất hiện tình trạng sử dụng công cụ trí tuệ nhân tạo để giả mạo văn bản, chữ "
            "ký của lãnh đạo cơ quan nhà nước nhằm lừa đảo.",
            "Công an Thành phố đề nghị các đơn vị kiểm tra số, ký hiệu văn bản đến trên hệ thống quản lý văn "
            "bản trước khi xử lý và thông báo ngay khi phát hiện dấu hiệu giả mạo./.",
        ],
        signer_authority="KT. GIÁM ĐỐC", signer_position="PHÓ GIÁM ĐỐC", signer_name="Lâm Quốc Bảo",
        recipients=["- Như trên;", "- Giám đốc CATP (để báo cáo);", "- Lưu: VT, PA05."],
    ),
    DocSpec(
        parent_issuer=_UBND_TP, issuer="Sở Văn hóa và Thể thao", number_line="Số: 88/CTr-SVHTT",
        place_date="TP. Hồ Chí Minh, ngày 19 tháng 01 năm 2025", doc_type="Chương trình",
        title="Số hóa di sản văn hóa của Thành phố giai đoạn 2025 - 2030",
        body=[
            "## I. MỤC TIÊU",
            "Số hóa 100% hiện vật, tài liệu của các bảo tàng do Thành phố quản lý; xây dựng cơ sở dữ liệu di "
            "sản văn hóa dùng chung.",
            "## II. NHIỆM VỤ",
            "1. Chuẩn hóa quy trình số hóa, bảo quản dữ liệu số.",
            "2. Ứng dụng trí tuệ nhân tạo trong thuyết minh tự động tại các bảo tàng./.",
        ],
        signer_authority=None, signer_position="GIÁM ĐỐC", signer_name="Châu Minh Khang",
        recipients=["- UBND Thành phố;", "- Các bảo tàng trực thuộc;", "- Lưu: VT, DSVH."],
    ),
    DocSpec(
        parent_issuer=None, issuer=_ubnd("Phường Bến Thành"), number_line="Số: 112/TB-UBND",
        place_date="Bến Thành, ngày 3 tháng 11 năm 2025", doc_type="Thông báo",
        title="Tạm ngừng tiếp nhận hồ sơ trực tiếp để nâng cấp hệ thống",
        body=[
            "Để nâng cấp hệ thống thông tin giải quyết thủ tục hành chính, Ủy ban nhân dân phường Bến Thành "
            "tạm ngừng tiếp nhận hồ sơ trực tiếp từ 17 giờ 00 ngày 07 tháng 11 năm 2025 đến 07 giờ 30 ngày "
            "10 tháng 11 năm 2025.",
            "Trong thời gian này, người dân nộp hồ sơ trực tuyến trên Cổng dịch vụ công quốc gia./.",
        ],
        signer_authority="KT. CHỦ TỊCH", signer_position="PHÓ CHỦ TỊCH", signer_name="Dương Thị Kim",
        recipients=["- UBND Thành phố;", "- Các khu phố;", "- Lưu: VT."],
    ),
]

# the degraded documents of benchmarks/ocr.py beside the SAMPLE_SPECS: a Giấy mời and a Báo cáo
OCR_EXTRA = [11, 8]


def all_documents() -> list[DocSpec]:
    return list(SAMPLE_SPECS) + list(DOCUMENTS)


QUICK_DOCS = [0, 1, 2, 3, 4 + 11, 4 + 17]  # the samples, a Giấy mời, a Công văn with a secrecy mark


# --------------------------------------------------------------------------------------------- truth

_URGENCY = {"hỏa tốc": "Hỏa tốc", "thượng khẩn": "Thượng khẩn", "khẩn": "Khẩn"}
_SECRECY = {"tuyệt mật": "Tuyệt mật", "tối mật": "Tối mật", "mật": "Mật"}
_AUTH_RE = re.compile(r"^(TM|KT|TL|TUQ|Q)\.\s*(.*)$")
_DATE_RE = re.compile(r"ngày\s*(\d{1,2})?\s*tháng\s*(\d{1,2})?\s*năm\s*(\d{4})?")
_NUMBER_RE = re.compile(r"^Số:\s*(\d+)?\s*/\s*(?:(\d{4})\s*/\s*)?(\S+)\s*$")
SCALAR_FIELDS = ["doc_type", "doc_type_code", "number", "number_year", "symbol", "issuer", "parent_issuer",
                 "place", "issued_date", "title", "signer.authority", "signer.position", "signer.name",
                 "urgency", "secrecy"]
LIST_FIELDS = ["legal_bases", "recipients"]
FIELDS = SCALAR_FIELDS[:10] + LIST_FIELDS[:1] + SCALAR_FIELDS[10:13] + LIST_FIELDS[1:] + SCALAR_FIELDS[13:]


def _one_line(s: str | None) -> str | None:
    if s is None:
        return None
    s = " ".join(unicodedata.normalize("NFC", s).split())
    return s or None


def _strip_item(s: str) -> str:
    s = re.sub(r"^[-+•]\s*", "", s.strip())
    return s.rstrip(" ;.,").strip()


def truth(spec: DocSpec) -> dict[str, Any]:
    """The fields an ND30 parse of ``spec`` should give, derived from the DocSpec alone."""
    from cityai.documents.nd30 import DOC_TYPES

    codes = dict(DOC_TYPES)
    doc_type = spec.doc_type or "Công văn"
    m = _NUMBER_RE.match(" ".join(spec.number_line.split()).replace("/ ", "/"))
    if not m:
        raise ValueError(f"number line not understood: {spec.number_line!r}")
    place, _, date_part = spec.place_date.partition(", ngày")
    d = _DATE_RE.search("ngày" + date_part)
    day, month, year = (int(g) if g else None for g in d.groups())
    if day and month and year:
        issued: Any = f"{year:04d}-{month:02d}-{day:02d}"
    else:
        issued = {"day": day, "month": month, "year": year}
    title = spec.title
    if spec.is_cong_van:
        title = re.sub(r"^V/v\s*", "", title)
    lines = [x.strip().upper() for part in (spec.signer_authority, spec.signer_position) if part
             for x in part.split("\n") if x.strip()]
    auth_idx = [i for i, x in enumerate(lines) if _AUTH_RE.match(x)]
    authority = position = None
    if auth_idx:
        a = auth_idx[-1]
        am = _AUTH_RE.match(lines[a])
        authority = am.group(1) + "."
        position = " ".join(lines[a + 1:]) or (am.group(2) if authority == "Q." else None)
    else:
        position = " ".join(lines) or None
    stamp = (spec.urgency or "").lower()
    urgency = next((v for k, v in _URGENCY.items() if k in stamp), None)
    for k in _URGENCY:
        stamp = stamp.replace(k, " ")
    secrecy = next((v for k, v in _SECRECY.items() if k in stamp), None)
    bases = []
    for par in spec.body:
        if par.startswith("_ Căn cứ"):
            bases.append(par[2:].rstrip().rstrip(";.").rstrip())
    return {
        "doc_type": doc_type, "doc_type_code": codes[doc_type],
        "number": m.group(1), "number_year": m.group(2), "symbol": m.group(3),
        "issuer": _one_line(spec.issuer.upper()),
        "parent_issuer": _one_line(spec.parent_issuer.upper()) if spec.parent_issuer else None,
        "place": _one_line(place), "issued_date": issued, "title": _one_line(title),
        "legal_bases": [_one_line(b) for b in bases],
        "signer.authority": authority, "signer.position": _one_line(position),
        "signer.name": _one_line(spec.signer_name),
        "recipients": [_one_line(_strip_item(r)) for r in spec.recipients],
        "urgency": urgency, "secrecy": secrecy,
    }


def predicted(fields: dict[str, Any]) -> dict[str, Any]:
    """The scored values of a parse (``nd30.parse`` + ``service._tidy``), normalised like the truth."""
    signer = fields.get("signer") or {}
    out: dict[str, Any] = {}
    for f in FIELDS:
        if f.startswith("signer."):
            v = signer.get(f.split(".", 1)[1])
        else:
            v = fields.get(f)
        if f in LIST_FIELDS:
            out[f] = [x for x in (_one_line(i) for i in (v or []) if isinstance(i, str)) if x]
        elif isinstance(v, dict):
            out[f] = dict(v)
        elif isinstance(v, str):
            out[f] = _one_line(v)
        else:
            out[f] = v
    return out


# --------------------------------------------------------------------------------------------- scoring


@dataclass
class Tally:
    true: int = 0  # non-null true values (list items)
    pred: int = 0  # non-null predicted values (list items)
    correct: int = 0  # predicted and exactly right
    docs: int = 0
    exact_docs: int = 0  # the document's value is exactly right (a correct null included)

    @property
    def precision(self) -> float | None:
        return self.correct / self.pred if self.pred else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.true if self.true else None


def score(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Tally]:
    """Per field tallies over (truth, predicted) pairs; lists are matched item by item as multisets."""
    tallies = {f: Tally() for f in FIELDS}
    for t, p in results:
        for f in FIELDS:
            tv, pv, tl = t[f], p[f], tallies[f]
            tl.docs += 1
            if f in LIST_FIELDS:
                tc, pc = collections.Counter(tv), collections.Counter(pv)
                tl.true += sum(tc.values())
                tl.pred += sum(pc.values())
                tl.correct += sum((tc & pc).values())
                tl.exact_docs += int(tc == pc)
            else:
                tl.true += tv is not None
                tl.pred += pv is not None
                tl.correct += int(pv is not None and pv == tv)
                tl.exact_docs += int(pv == tv)
    return tallies


def micro(tallies: dict[str, Tally]) -> Tally:
    out = Tally()
    for t in tallies.values():
        out.true += t.true
        out.pred += t.pred
        out.correct += t.correct
        out.docs += t.docs
        out.exact_docs += t.exact_docs
    return out


# --------------------------------------------------------------------------------------------- paths

PATHS = ["text-layer", "scan-200", "scan-150"]


def _page_texts(path: Path, kind: str, pool: Any) -> tuple[list[str], int]:
    """The page texts ``service._run_pages`` would get for the file: text layer, else OCR; and the
    number of pages OCRed."""
    from cityai.documents import intake

    texts: list[str] = []
    ocred = 0
    for page in intake.pages(path, kind):
        if page.kind == "image":
            texts.append(pool.recognize(page.image, True, False).text)
            ocred += 1
        else:
            texts.append(page.text or "")
    return texts, ocred


def parse_like_process(texts: list[str]) -> dict[str, Any]:
    """What ``service.process`` stores as the ND30 fields for these page texts."""
    from cityai.documents import nd30, service

    fields = nd30.parse("\n".join(t or "" for t in texts))
    service._tidy(fields)
    return fields


def build_file(spec: DocSpec, path_name: str, index: int, work: Path, font: str) -> tuple[Path, str]:
    from cityai.documents import samples

    if path_name == "text-layer":
        out = work / f"doc{index:02d}.pdf"
        samples.render_pdf(spec, out, font=font)
        return out, "pdf"
    if path_name == "scan-200":
        images = samples.render_images(spec, dpi=200, font=font, grayscale=True)
    elif path_name == "scan-150":
        images = samples.render_images(spec, dpi=150, font=font, grayscale=True, seed=index * 10, **SCAN)
    else:
        raise ValueError(path_name)
    out = work / f"doc{index:02d}-{path_name}.tif"
    samples.multipage_tiff(images, out)
    return out, "tiff"


def run_path(path_name: str, docs: list[tuple[int, DocSpec]], work: Path, font: str, threads: int,
             log=print) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Each document through one path; documents are spread over ``threads`` threads, each using the
    shared pool (as concurrent jobs of a worker do). Returns per-document records and timings."""
    from concurrent.futures import ThreadPoolExecutor

    from cityai.documents import ocr

    pool = ocr.get_pool() if path_name != "text-layer" else None
    t0 = time.perf_counter()
    files = [build_file(spec, path_name, i, work, font) for i, spec in docs]
    t_build = time.perf_counter() - t0

    def one(item):
        (i, spec), (file, kind) = item
        started = time.perf_counter()
        error = None
        try:
            texts, ocred = _page_texts(file, kind, pool)
            fields = parse_like_process(texts)
        except Exception as exc:  # noqa: BLE001 - process() marks such a document failed: no fields at all
            from cityai.documents import intake

            error = f"{type(exc).__name__}: {exc}"
            texts, ocred, fields = [""] * intake.count_pages(file, kind), 0, {}
        return {"index": i, "pages": len(texts), "ocr_pages": ocred, "seconds": time.perf_counter() - started,
                "truth": truth(spec), "pred": predicted(fields), "error": error}

    t1 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, threads)) as ex:
        records = list(ex.map(one, zip(docs, files)))
    t_run = time.perf_counter() - t1
    return records, {"build_s": t_build, "run_s": t_run}


# --------------------------------------------------------------------------------------------- output


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def field_rows(tallies: dict[str, Tally]) -> list[list[str]]:
    rows = []
    for f in FIELDS:
        t = tallies[f]
        rows.append([f + (" (items)" if f in LIST_FIELDS else ""), str(t.true), str(t.pred), str(t.correct),
                     _pct(t.precision), _pct(t.recall), f"{t.exact_docs}/{t.docs}"])
    m = micro(tallies)
    rows.append(["all fields (micro)", str(m.true), str(m.pred), str(m.correct), _pct(m.precision),
                 _pct(m.recall), f"{m.exact_docs}/{m.docs}"])
    return rows


HEADERS = ["field", "true", "predicted", "correct", "precision", "recall", "exact docs"]


def summary_rows(by_path: dict[str, dict[str, Tally]]) -> list[list[str]]:
    rows = []
    for f in FIELDS + ["all fields (micro)"]:
        row = [f]
        for p in by_path:
            t = micro(by_path[p]) if f.startswith("all ") else by_path[p][f]
            row.append(f"{_pct(t.precision)} / {_pct(t.recall)}")
        rows.append(row)
    return rows


def _fmt_table(headers: list[str], body: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]

    def fmt(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    return [fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body]


def _md_table(headers: list[str], body: list[list[str]], right: set[int]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    return out


def errors_of(records: list[dict[str, Any]], limit: int = 40) -> list[str]:
    out = []
    for r in records:
        t, p = r["truth"], r["pred"]
        for f in FIELDS:
            if f in LIST_FIELDS:
                missing = list((collections.Counter(t[f]) - collections.Counter(p[f])).elements())
                extra = list((collections.Counter(p[f]) - collections.Counter(t[f])).elements())
                if missing or extra:
                    out.append(f"doc {r['index']:2d} {f}: missing {missing} extra {extra}")
            elif t[f] != p[f]:
                out.append(f"doc {r['index']:2d} {f}: expected {json.dumps(t[f], ensure_ascii=False)} got "
                           f"{json.dumps(p[f], ensure_ascii=False)}")
    return out[:limit] + ([f"... {len(out) - limit} more"] if len(out) > limit else [])


def base_facts() -> dict[str, str]:
    """date, cpu, os, python (as the other benchmarks print them), and the code measured (git commit)."""
    import subprocess

    from api_core import machine_facts

    facts = machine_facts("-", None, argparse.Namespace(threads=1, duration=0, warmup=0))
    out = {k: facts[k] for k in ("date", "cpu", "os", "python")}
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "cityai"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if head:
            out["code"] = f"commit {head}" + (" with uncommitted changes under cityai/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    from api_core import _version, loadavg

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="6 documents (smoke test, under a minute)")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {PATHS}")
    parser.add_argument("--font", default=FONT,
                        help=f"font family of the rendered documents (default {FONT})")
    parser.add_argument("--threads", type=int, default=0,
                        help="documents processed at once, sharing the OCR pool (default: the CPU count)")
    parser.add_argument("--show-errors", action="store_true", help="print every wrong field")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables as markdown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (rendered files)")
    args = parser.parse_args(argv)
    paths = [p for p in args.paths.split(",") if p]
    if not paths or any(p not in PATHS for p in paths):
        parser.error(f"--paths: choose from {PATHS}")

    from cityai.documents import ocr, samples

    start_load = loadavg()
    facts = base_facts()
    try:
        font = samples.resolve_font(args.font)
        samples.find_font(font)
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(f"font {args.font} unavailable: {exc}")
    docs_all = all_documents()
    chosen = QUICK_DOCS if args.quick else list(range(len(docs_all)))
    docs = [(i, docs_all[i]) for i in chosen]
    threads = args.threads or ocr._cpu_count()
    import tesserocr

    facts["documents"] = (f"{len(docs)} ({len(SAMPLE_SPECS)} samples.SAMPLE_SPECS + "
                          f"{len(docs) - sum(1 for i, _ in docs if i < len(SAMPLE_SPECS))} from "
                          f"extraction.DOCUMENTS), font {font} 14 pt")
    facts["engine"] = (f"cityai {_version('cityai')}: tesserocr {_version('tesserocr')} "
                       f"({tesserocr.tesseract_version().split()[1]}, vie), OcrPool size {ocr._cpu_count()}, "
                       f"{threads} document(s) at once; pypdfium2 {_version('pypdfium2')}")
    facts["scan-150"] = ("150 dpi grey, rotated {rotate}°, Gaussian blur {blur} px, noise σ{noise:g}, JPEG "
                         "q{jpeg_quality}").format(**SCAN)
    work = Path(tempfile.mkdtemp(prefix="cityai-bench-extraction-"))
    by_path: dict[str, dict[str, Tally]] = {}
    records_by_path: dict[str, list[dict[str, Any]]] = {}
    timing: dict[str, dict[str, float]] = {}
    try:
        for p in paths:
            print(f"- {p}: {len(docs)} documents ...", file=sys.stderr, flush=True)
            records, t = run_path(p, docs, work, font, threads)
            pages = sum(r["pages"] for r in records)
            t["pages"] = pages
            t["ocr_pages"] = sum(r["ocr_pages"] for r in records)
            t["failed"] = sum(1 for r in records if r["error"])
            timing[p] = t
            records_by_path[p] = records
            by_path[p] = score([(r["truth"], r["pred"]) for r in records])
            print(f"  {pages} pages ({t['ocr_pages']} OCRed) in {t['run_s']:.1f} s (+ {t['build_s']:.1f} s "
                  "rendering)", file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    facts["load avg"] = f"{start_load} before the run, {loadavg()} after (1, 5, 15 min)"
    notes = [
        "*precision*: of the non-null values predicted, the share exactly right (after NFC and whitespace "
        "folding); *recall*: of the non-null true values, the share predicted exactly right; *exact docs*: "
        "documents whose value is exactly right, a correct null included (a draft's blank number, no urgency "
        "mark). Lists (`legal_bases`, `recipients`) are scored item by item as multisets.",
        "The truth is derived from each DocSpec (the text as printed: agency names in capitals, the công văn "
        "summary without its 'V/v', the last TM./KT./TL./Q./TUQ. authority and the position under it), never "
        "from a parse.",
    ]
    try:
        cores = os.cpu_count() or 0
        if float(start_load.split()[0]) > 0.5:
            notes.append("Other work was running when this run began (1-min load average "
                         f"{start_load.split()[0]} on {cores} cores): the seconds are inflated; the accuracy "
                         "figures do not depend on it.")
    except ValueError:
        pass
    for p in paths:
        for r in records_by_path[p]:
            if r["error"]:
                notes.append(f"`{p}`: document {r['index']} failed, as `process` would mark it failed (all "
                             f"its fields count as not predicted): {r['error']}")
    timing_rows = [[p, str(timing[p]["pages"]), str(timing[p]["ocr_pages"]), str(timing[p]["failed"]),
                    f"{timing[p]['run_s']:.1f}"] for p in paths]

    text_lines = ["extraction - ND30 field precision / recall (same documents, three paths)", ""]
    text_lines += [f"{k:>10}: {v}" for k, v in facts.items()] + [""]
    for p in paths:
        text_lines += [f"[{p}]"] + _fmt_table(HEADERS, field_rows(by_path[p]), {1, 2, 3, 4, 5, 6}) + [""]
    text_lines += ["[precision / recall by path]"]
    text_lines += _fmt_table(["field", *paths], summary_rows(by_path), set(range(1, len(paths) + 1))) + [""]
    text_lines += _fmt_table(["path", "pages", "OCRed", "failed docs", "seconds"], timing_rows,
                             {1, 2, 3, 4}) + [""]
    text_lines += [f"note: {n}" for n in notes]
    if args.show_errors:
        for p in paths:
            text_lines += ["", f"[errors, {p}]"] + (errors_of(records_by_path[p], 200) or ["none"])
    print("\n".join(text_lines))

    if args.markdown:
        md = [f"- **{k}**: {v}" for k, v in facts.items()] + [""]
        md += ["Precision / recall per field (one column per path):", ""]
        md += _md_table(["field", *paths], summary_rows(by_path), set(range(1, len(paths) + 1))) + [""]
        for p in paths:
            md += [f"`{p}`:", ""] + _md_table(HEADERS, field_rows(by_path[p]), {1, 2, 3, 4, 5, 6}) + [""]
        md += _md_table(["path", "pages", "pages OCRed", "documents failed", "seconds (all documents)"],
                        timing_rows, {1, 2, 3, 4})
        md += [""] + [f"- {n}" for n in notes]
        for p in paths:
            errs = errors_of(records_by_path[p], 30)
            if errs:
                md += ["", f"Wrong fields, `{p}`:", "", "```"] + errs + ["```"]
        args.markdown.write_text("\n".join(md) + "\n", encoding="utf-8")
        print(f"markdown written to {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
