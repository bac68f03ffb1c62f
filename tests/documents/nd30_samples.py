"""Sample administrative documents in the ND30 format (Nghị định 30/2020/NĐ-CP), with the expected parse.

Written for these tests (fictional documents and names; the Nghị định sample follows the decree's
own first and last pages). Each document is given as its blocks - the agency block (top left), the
quốc hiệu block (top right), the body, the nơi nhận block (bottom left) and the signature block
(bottom right) - and rendered twice, as OCR gives a two-column page:

- ``interleaved``: the left and right blocks merged line by line ("ỦY BAN NHÂN DÂN   CỘNG HÒA XÃ HỘI
  CHỦ NGHĨA VIỆT NAM");
- ``sequential``: the left block, then the right block.

OCR-like noise is written into the texts: extra spaces, "0" for "O" in upper-case words, Cyrillic
look-alike letters, the other tone placement ("hoà", "UỶ", "HOẢ"), decomposed Unicode (NFD).

``SAMPLES`` is a list of ``{"name", "text", "expected"}``; ``expected`` has every key of
``cityai.documents.nd30.parse`` except ``confidence``. ``DOCUMENTS`` has the blocks.
"""

from __future__ import annotations

import unicodedata
from itertools import zip_longest
from typing import Any

NAT = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
RULE_LEFT = "_____________"
RULE_RIGHT = "______________________________"


def _sec(level: int, marker: str, heading: str) -> dict[str, Any]:
    return {"level": level, "marker": marker, "heading": heading}


def render(doc: dict[str, Any], layout: str) -> str:
    """The text of ``doc`` as OCR reads it in ``layout`` ("interleaved" or "sequential")."""

    def columns(left: list[str], right: list[str]) -> list[str]:
        if layout == "sequential":
            return [*left, *right]
        gap = doc.get("gap", "     ")
        return [f"{a}{gap}{b}" if a and b else (a or b) for a, b in zip_longest(left, right, fillvalue="")]

    lines = [*doc.get("top", []), *columns(doc["left"], doc["right"]), "", *doc["body"], "",
             *columns(doc["footer_left"], doc["footer_right"]), *doc.get("tail", [])]
    text = "\n".join(lines) + "\n"
    if doc.get("nfd"):
        text = unicodedata.normalize("NFD", text)
    return text


DOCUMENTS: list[dict[str, Any]] = [
    {
        "name": "ke_hoach_ubnd_hcm",
        "left": ["UỶ BAN NHÂN DÂN", "THÀNH PHỐ  HỒ CHÍ MINH", RULE_LEFT, "Số: 140/KH-UBND"],
        "right": ["CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", MOTTO, RULE_RIGHT,
                  "Thành phố Hồ Chí Minh, ngày 05 tháng 01 năm 2026"],
        "body": [
            "KẾ HOẠCH",
            "Triển khai chuyển đổi số trong cơ quan hành chính nhà nước",
            "trên địa bàn Thành phố năm 2026",
            "______________",
            "",
            "Thực hiện Quyết định số 749/QĐ-TTg ngày 03 tháng 6 năm 2020 của Thủ tướng Chính phủ phê duyệt",
            "Chương trình Chuyển đổi số quốc gia đến năm 2025, định hướng đến năm 2030, Ủy ban nhân dân",
            "Thành phố ban hành Kế hoạch triển khai như sau:",
            "I. MỤC ĐÍCH, YÊU CẦU",
            "1. Mục đích",
            "a) Nâng cao chất lượng phục vụ người dân, doanh nghiệp.",
            "b) Bảo đảm 100% văn bản đi của các sở, ngành được ký số.",
            "2. Yêu cầu",
            "- Các sở, ban, ngành chủ động triển khai;   báo cáo định kỳ hằng quý.",
            "II. NỘI DUNG THỰC HIỆN",
            "1. Hoàn thiện hạ tầng số",
            "2. Phát triển dữ liệu số",
            "III. TỔ CHỨC THỰC HIỆN",
            "1. Sở Khoa học và Công nghệ chủ trì, phối hợp với các đơn vị theo dõi, đôn đốc thực hiện"
            " Kế hoạch này./.",
        ],
        "footer_left": ["Nơi nhận:", "- Thường trực Thành ủy;", "- Thường trực HĐND Thành phố;",
                        "- TTUB: CT, các PCT;", "- Các sở, ban, ngành Thành phố;",
                        "- UBND các phường, xã, đặc khu;", "- Lưu: VT, KT."],
        "footer_right": ["TM. UỶ BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "", "(Đã ký)", "",
                         "Nguyễn Văn Dũng"],
        "expected": {
            "national_title": True, "motto": True,
            "issuer": "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH", "parent_issuer": None,
            "number": "140", "number_year": None, "symbol": "KH-UBND",
            "doc_type": "Kế hoạch", "doc_type_code": "KH",
            "place": "Thành phố Hồ Chí Minh", "issued_date": "2026-01-05",
            "title": "Triển khai chuyển đổi số trong cơ quan hành chính nhà nước trên địa bàn Thành phố"
                     " năm 2026",
            "legal_bases": [],
            "sections": [
                _sec(1, "I.", "MỤC ĐÍCH, YÊU CẦU"),
                _sec(2, "1.", "Mục đích"),
                _sec(3, "a)", "Nâng cao chất lượng phục vụ người dân, doanh nghiệp."),
                _sec(3, "b)", "Bảo đảm 100% văn bản đi của các sở, ngành được ký số."),
                _sec(2, "2.", "Yêu cầu"),
                _sec(4, "-", "Các sở, ban, ngành chủ động triển khai; báo cáo định kỳ hằng quý."),
                _sec(1, "II.", "NỘI DUNG THỰC HIỆN"),
                _sec(2, "1.", "Hoàn thiện hạ tầng số"),
                _sec(2, "2.", "Phát triển dữ liệu số"),
                _sec(1, "III.", "TỔ CHỨC THỰC HIỆN"),
                _sec(2, "1.", "Sở Khoa học và Công nghệ chủ trì, phối hợp với các đơn vị theo dõi, đôn đốc"
                     " thực hiện Kế hoạch này./."),
            ],
            "signer": {"authority": "KT.", "authority_of": "CHỦ TỊCH", "position": "PHÓ CHỦ TỊCH",
                       "name": "Nguyễn Văn Dũng"},
            "recipients": ["Thường trực Thành ủy", "Thường trực HĐND Thành phố", "TTUB: CT, các PCT",
                           "Các sở, ban, ngành Thành phố", "UBND các phường, xã, đặc khu", "Lưu: VT, KT"],
            "urgency": None, "secrecy": None, "annexes": [], "blanks": [],
        },
    },
    {
        "name": "nghi_dinh_30_2020",
        "left": ["CHÍNH PHỦ", RULE_LEFT, "", "Số: 30/2020/NĐ-CP"],
        "right": [NAT, MOTTO, RULE_RIGHT, "Hà Nội, ngày 05 tháng 3 năm 2020"],
        "body": [
            "NGHỊ ĐỊNH",
            "Về công tác văn thư",
            "__________",
            "",
            "Căn cứ Luật Tổ chức Chính phủ ngày 19 tháng 6 năm 2015;",
            "Theo đề nghị của Bộ trưởng Bộ Nội vụ;",
            "Chính phủ ban hành Nghị định về công tác văn thư.",
            "",
            "Chương I",
            "QUY ĐỊNH CHUNG",
            "Điều 1. Phạm vi điều chỉnh",
            "Nghị định này quy định về công tác văn thư và quản lý nhà nước về công tác văn thư.",
            "Điều 2. Đối tượng áp dụng",
            "1. Nghị định này áp dụng đối với cơ quan, tổ chức nhà nước và doanh",
            "nghiệp nhà nước (sau đây gọi chung là cơ quan, tổ chức).",
            "2. Tổ chức chính trị, tổ chức chính trị - xã hội, tổ chức xã hội, tổ chức xã hội - nghề nghiệp"
            " căn cứ quy định của Nghị định này để áp dụng cho phù hợp.",
            "",
            "Chương II",
            "VĂN BẢN HÀNH CHÍNH",
            "Mục 1",
            "THỂ THỨC VÀ KỸ THUẬT TRÌNH BÀY VĂN BẢN HÀNH CHÍNH",
            "Điều 7. Các loại văn bản hành chính",
            "Văn bản hành chính gồm các loại văn bản sau: Nghị quyết (cá biệt), quyết định (cá biệt),"
            " chỉ thị, quy chế, quy định, thông cáo, thông báo, hướng dẫn, chương trình, kế hoạch.",
            "",
            "Chương VII",
            "ĐIỀU KH0ẢN THI HÀNH",
            "Điều 37. Hiệu lực thi hành",
            "Nghị định này có hiệu lực thi hành kể từ ngày ký.",
            "Điều 38. Trách nhiệm thi hành",
            "1. Bộ trưởng Bộ Nội vụ có trách nhiệm triển khai thực hiện và kiểm tra việc thi hành Nghị định"
            " này.",
            "2. Các Bộ trưởng, Thủ trưởng cơ quan ngang bộ, Thủ trưởng cơ quan thuộc Chính phủ, Chủ tịch Ủy"
            " ban nhân dân tỉnh, thành phố trực thuộc trung ương chịu trách nhiệm thi hành Nghị định này./.",
        ],
        "footer_left": ["Nơi nhận:", "- Ban Bí thư Trung ương Đảng;",
                        "- Thủ tướng, các Phó Thủ tướng Chính phủ;", "- Các bộ, cơ quan ngang bộ,",
                        "cơ quan thuộc Chính phủ;", "- HĐND, UBND các tỉnh,", "thành phố trực thuộc Trung ương;",
                        "- Lưu: VT, HC (2)."],
        "footer_right": ["TM. CHÍNH PHỦ", "THỦ TƯỚNG", "", "(Đã ký)", "", "Nguyễn Xuân Phúc"],
        "expected": {
            "national_title": True, "motto": True, "issuer": "CHÍNH PHỦ", "parent_issuer": None,
            "number": "30", "number_year": "2020", "symbol": "NĐ-CP",
            "doc_type": "Nghị định", "doc_type_code": "NĐ",
            "place": "Hà Nội", "issued_date": "2020-03-05", "title": "Về công tác văn thư",
            "legal_bases": ["Căn cứ Luật Tổ chức Chính phủ ngày 19 tháng 6 năm 2015"],
            "sections": [
                _sec(1, "Chương I", "QUY ĐỊNH CHUNG"),
                _sec(3, "Điều 1.", "Phạm vi điều chỉnh"),
                _sec(3, "Điều 2.", "Đối tượng áp dụng"),
                _sec(4, "1.", "Nghị định này áp dụng đối với cơ quan, tổ chức nhà nước và doanh nghiệp nhà"
                     " nước (sau đây gọi chung là cơ quan, tổ chức)."),
                _sec(4, "2.", "Tổ chức chính trị, tổ chức chính trị - xã hội, tổ chức xã hội, tổ chức xã"
                     " hội - nghề nghiệp căn cứ quy định của Nghị định này để áp dụng cho phù hợp."),
                _sec(1, "Chương II", "VĂN BẢN HÀNH CHÍNH"),
                _sec(2, "Mục 1", "THỂ THỨC VÀ KỸ THUẬT TRÌNH BÀY VĂN BẢN HÀNH CHÍNH"),
                _sec(3, "Điều 7.", "Các loại văn bản hành chính"),
                _sec(1, "Chương VII", "ĐIỀU KHOẢN THI HÀNH"),
                _sec(3, "Điều 37.", "Hiệu lực thi hành"),
                _sec(3, "Điều 38.", "Trách nhiệm thi hành"),
                _sec(4, "1.", "Bộ trưởng Bộ Nội vụ có trách nhiệm triển khai thực hiện và kiểm tra việc thi"
                     " hành Nghị định này."),
                _sec(4, "2.", "Các Bộ trưởng, Thủ trưởng cơ quan ngang bộ, Thủ trưởng cơ quan thuộc Chính"
                     " phủ, Chủ tịch Ủy ban nhân dân tỉnh, thành phố trực thuộc trung ương chịu trách nhiệm"
                     " thi hành Nghị định này./."),
            ],
            "signer": {"authority": "TM.", "authority_of": "CHÍNH PHỦ", "position": "THỦ TƯỚNG",
                       "name": "Nguyễn Xuân Phúc"},
            "recipients": ["Ban Bí thư Trung ương Đảng", "Thủ tướng, các Phó Thủ tướng Chính phủ",
                           "Các bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ",
                           "HĐND, UBND các tỉnh, thành phố trực thuộc Trung ương", "Lưu: VT, HC (2)"],
            "urgency": None, "secrecy": None, "annexes": [], "blanks": [],
        },
    },
    {
        "name": "cong_van_ubnd_vx",
        "nfd": True,
        "left": ["ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", RULE_LEFT, "Số: 1234/UBND-VX",
                 "V/v triển khai tiêm chủng mở rộng", "năm 2026 trên địa bàn Thành phố"],
        "right": [NAT, MOTTO, RULE_RIGHT, "Thành phố Hồ Chí Minh, ngày 12 tháng 3 năm 2026"],
        "body": [
            "Kính gửi:",
            "- Sở Y tế;",
            "- Ủy ban nhân dân các phường, xã, đặc khu.",
            "",
            "Thực hiện Kế hoạch số 140/KH-UBND ngày 05 tháng 01 năm 2026 của Ủy ban nhân dân Thành phố,"
            " Ủy ban nhân dân Thành phố đề nghị:",
            "1. Sở Y tế hướng dẫn các đơn vị tổ chức tiêm chủng bảo đảm an toàn, đúng đối tượng.",
            "2. Ủy ban nhân dân các phường, xã, đặc khu phối hợp thực hiện, báo cáo kết quả về Sở Y tế trước"
            " ngày 30 tháng 4 năm 2026./.",
        ],
        "footer_left": ["Nơi nhận:", "- Như trên;", "- TTUB: CT, PCT/VX;", "- VPUB: CVP, PCVP/VX;",
                        "- Lưu: VT, (VX) H."],
        "footer_right": ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "", "", "Phan Văn Mãi"],
        "expected": {
            "national_title": True, "motto": True,
            "issuer": "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH", "parent_issuer": None,
            "number": "1234", "number_year": None, "symbol": "UBND-VX",
            "doc_type": "Công văn", "doc_type_code": "CV",
            "place": "Thành phố Hồ Chí Minh", "issued_date": "2026-03-12",
            "title": "triển khai tiêm chủng mở rộng năm 2026 trên địa bàn Thành phố",
            "legal_bases": [],
            "sections": [
                _sec(1, "1.", "Sở Y tế hướng dẫn các đơn vị tổ chức tiêm chủng bảo đảm an toàn, đúng đối"
                     " tượng."),
                _sec(1, "2.", "Ủy ban nhân dân các phường, xã, đặc khu phối hợp thực hiện, báo cáo kết quả"
                     " về Sở Y tế trước ngày 30 tháng 4 năm 2026./."),
            ],
            "signer": {"authority": "TM.", "authority_of": "ỦY BAN NHÂN DÂN", "position": "CHỦ TỊCH",
                       "name": "Phan Văn Mãi"},
            "recipients": ["Như trên", "TTUB: CT, PCT/VX", "VPUB: CVP, PCVP/VX", "Lưu: VT, (VX) H"],
            "urgency": None, "secrecy": None, "annexes": [], "blanks": [],
        },
    },
    {
        "name": "quyet_dinh_kt_chu_tich",
        "left": ["ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", RULE_LEFT, "Số: 215 / QĐ - UBND"],
        "right": [NAT, MOTTO, RULE_RIGHT, "Thành phố Hồ Chí Minh,  ngày 20 tháng 01 năm 2026"],
        "body": [
            "QUYẾT ĐỊNH",
            "Về việc thành lập Tổ công tác triển khai Đề án 06",
            "trên địa bàn Thành phố",
            "_____________",
            "",
            "CHỦ TỊCH UỶ BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH",
            "",
            "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025;",
            "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của",
            "Chính phủ về công tác văn thư;",
            "Căn cứ Quyết định số 06/QĐ-TTg ngày 06 tháng 01 năm 2022 của Thủ tướng Chính phủ phê duyệt Đề án"
            " phát triển ứng dụng dữ liệu về dân cư, định danh và xác thực điện tử phục vụ chuyển đổi số quốc"
            " gia giai đoạn 2022 - 2025, tầm nhìn đến năm 2030;",
            "Theo đề nghị của Giám đốc Sở Nội vụ tại Tờ trình số 45/TTr-SNV ngày 15 tháng 01 năm 2026.",
            "",
            "QUYẾT ĐỊNH:",
            "Điều 1. Thành lập Tổ công tác triển khai Đề án 06 trên địa bàn Thành phố, gồm các thành viên"
            " sau:",
            "1. Tổ trưởng: Phó Chủ tịch Ủy ban nhân dân Thành phố.",
            "2. Tổ phó thường trực: Giám đốc Công an Thành phố.",
            "Điều 2. Nhiệm vụ của Tổ công tác",
            "a) Tham mưu Ủy ban nhân dân Thành phố chỉ đạo triển khai Đề án; phối hợp, hoà giải vướng mắc"
            " giữa các đơn vị.",
            "Điều 3. Quyết định này có hiệu lực kể từ ngày ký.",
            "Chánh Văn phòng Ủy ban nhân dân Thành phố, Giám đốc Sở Nội vụ, Giám đốc Công an Thành phố và"
            " các thành viên Tổ công tác chịu trách nhiệm thi hành Quyết định này./.",
        ],
        "footer_left": ["Nơi nhận:", "- Như Điều 3;", "- TTUB: CT, các PCT;", "- Lưu: VT, (NC) T."],
        "footer_right": ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "", "", "Lê Hoà Bình"],
        "expected": {
            "national_title": True, "motto": True,
            "issuer": "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH", "parent_issuer": None,
            "number": "215", "number_year": None, "symbol": "QĐ-UBND",
            "doc_type": "Quyết định", "doc_type_code": "QĐ",
            "place": "Thành phố Hồ Chí Minh", "issued_date": "2026-01-20",
            "title": "Về việc thành lập Tổ công tác triển khai Đề án 06 trên địa bàn Thành phố",
            "legal_bases": [
                "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 02 năm 2025",
                "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn"
                " thư",
                "Căn cứ Quyết định số 06/QĐ-TTg ngày 06 tháng 01 năm 2022 của Thủ tướng Chính phủ phê duyệt"
                " Đề án phát triển ứng dụng dữ liệu về dân cư, định danh và xác thực điện tử phục vụ chuyển"
                " đổi số quốc gia giai đoạn 2022 - 2025, tầm nhìn đến năm 2030",
            ],
            "sections": [
                _sec(1, "Điều 1.", "Thành lập Tổ công tác triển khai Đề án 06 trên địa bàn Thành phố, gồm"
                     " các thành viên sau:"),
                _sec(2, "1.", "Tổ trưởng: Phó Chủ tịch Ủy ban nhân dân Thành phố."),
                _sec(2, "2.", "Tổ phó thường trực: Giám đốc Công an Thành phố."),
                _sec(1, "Điều 2.", "Nhiệm vụ của Tổ công tác"),
                _sec(3, "a)", "Tham mưu Ủy ban nhân dân Thành phố chỉ đạo triển khai Đề án; phối hợp, hòa"
                     " giải vướng mắc giữa các đơn vị."),
                _sec(1, "Điều 3.", "Quyết định này có hiệu lực kể từ ngày ký."),
            ],
            "signer": {"authority": "KT.", "authority_of": "CHỦ TỊCH", "position": "PHÓ CHỦ TỊCH",
                       "name": "Lê Hòa Bình"},
            "recipients": ["Như Điều 3", "TTUB: CT, các PCT", "Lưu: VT, (NC) T"],
            "urgency": None, "secrecy": None, "annexes": [], "blanks": [],
        },
    },
    {
        "name": "thong_bao_tl_khan",
        "left": ["UBND THÀNH PHỐ HỒ CHÍ MINH", "SỞ NỘI VỤ", RULE_LEFT, "Số: 37/TB-SNV", "КHẨN"],
        "right": [NAT, MOTTO, RULE_RIGHT, "Thành phố Hồ Chí Minh, ngày 09/02/2026"],
        "body": [
            "THÔNG ВÁO",
            "Kết luận của Giám đốc Sở Nội vụ tại cuộc họp giao ban tháng 02 năm 2026",
            "______________",
            "",
            "Ngày 06 tháng 02 năm 2026, Giám đốc Sở Nội vụ chủ trì cuộc họp giao ban. Sau khi nghe báo cáo,"
            " Giám đốc Sở kết luận như sau:",
            "1. Các phòng chuyên môn hoàn thành rà soát thủ tục hành chính trước ngày 28 tháng 02 năm 2026.",
            "2. Văn phòng Sở theo dõi, tổng hợp kết quả thực hiện.",
            "Văn phòng Sở thông báo để các đơn vị biết, thực hiện./.",
        ],
        "footer_left": ["Nơi nhận:", "- Giám đốc Sở (để báo cáo);", "- Các Phó Giám đốc Sở;",
                        "- Các phòng, đơn vị thuộc Sở;", "- Lưu: VT, VP."],
        "footer_right": ["TL. GIÁM ĐỐC", "СHÁNH VĂN PHÒNG", "", "(Đã ký)", "", "Trần Thị Thu Hà"],
        "expected": {
            "national_title": True, "motto": True,
            "issuer": "SỞ NỘI VỤ", "parent_issuer": "UBND THÀNH PHỐ HỒ CHÍ MINH",
            "number": "37", "number_year": None, "symbol": "TB-SNV",
            "doc_type": "Thông báo", "doc_type_code": "TB",
            "place": "Thành phố Hồ Chí Minh", "issued_date": "2026-02-09",
            "title": "Kết luận của Giám đốc Sở Nội vụ tại cuộc họp giao ban tháng 02 năm 2026",
            "legal_bases": [],
            "sections": [
                _sec(1, "1.", "Các phòng chuyên môn hoàn thành rà soát thủ tục hành chính trước ngày 28"
                     " tháng 02 năm 2026."),
                _sec(1, "2.", "Văn phòng Sở theo dõi, tổng hợp kết quả thực hiện."),
            ],
            "signer": {"authority": "TL.", "authority_of": "GIÁM ĐỐC", "position": "CHÁNH VĂN PHÒNG",
                       "name": "Trần Thị Thu Hà"},
            "recipients": ["Giám đốc Sở (để báo cáo)", "Các Phó Giám đốc Sở", "Các phòng, đơn vị thuộc Sở",
                           "Lưu: VT, VP"],
            "urgency": "Khẩn", "secrecy": None, "annexes": [], "blanks": [],
        },
    },
    {
        "name": "du_thao_ke_hoach_blank",
        "top": ["DỰ THẢO"],
        "left": ["ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", RULE_LEFT, "Số:         /KH-UBND"],
        "right": [NAT, MOTTO, RULE_RIGHT, "Thành phố Hồ Chí Minh, ngày      tháng      năm 2026"],
        "body": [
            "KẾ HOẠCH",
            "Tổ chức các hoạt động kỷ niệm 51 năm Ngày Giải phóng miền Nam, thống nhất đất nước"
            " (30/4/1975 - 30/4/2026)",
            "",
            "I. MỤC ĐÍCH, YÊU CẦU",
            "1. Tổ chức các hoạt động kỷ niệm trang trọng, thiết thực, tiết kiệm.",
            "2. Phát huy truyền thống cách mạng, lòng yêu nước của các tầng lớp Nhân dân.",
            "II. NỘI DUNG",
            "1. Tổ chức lễ chào cờ, dâng hương tại các di tích lịch sử.",
            "III. KINH PHÍ",
            "Kinh phí thực hiện từ nguồn ngân sách Thành phố năm 2026.",
            "IV. TỔ CHỨC THỰC HIỆN",
            "Sở Văn hoá và Thể thao chủ trì, phối hợp các sở, ngành liên quan triển khai Kế hoạch này./.",
        ],
        "footer_left": ["Nơi nhận:", "- Thường trực Thành ủy;", "- Các sở, ban, ngành;", "- Lưu: VT, VX."],
        "footer_right": ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"],
        "expected": {
            "national_title": True, "motto": True,
            "issuer": "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH", "parent_issuer": None,
            "number": None, "number_year": None, "symbol": "KH-UBND",
            "doc_type": "Kế hoạch", "doc_type_code": "KH",
            "place": "Thành phố Hồ Chí Minh", "issued_date": {"day": None, "month": None, "year": 2026},
            "title": "Tổ chức các hoạt động kỷ niệm 51 năm Ngày Giải phóng miền Nam, thống nhất đất nước"
                     " (30/4/1975 - 30/4/2026)",
            "legal_bases": [],
            "sections": [
                _sec(1, "I.", "MỤC ĐÍCH, YÊU CẦU"),
                _sec(2, "1.", "Tổ chức các hoạt động kỷ niệm trang trọng, thiết thực, tiết kiệm."),
                _sec(2, "2.", "Phát huy truyền thống cách mạng, lòng yêu nước của các tầng lớp Nhân dân."),
                _sec(1, "II.", "NỘI DUNG"),
                _sec(2, "1.", "Tổ chức lễ chào cờ, dâng hương tại các di tích lịch sử."),
                _sec(1, "III.", "KINH PHÍ"),
                _sec(1, "IV.", "TỔ CHỨC THỰC HIỆN"),
            ],
            "signer": {"authority": "TM.", "authority_of": "ỦY BAN NHÂN DÂN", "position": "CHỦ TỊCH",
                       "name": None},
            "recipients": ["Thường trực Thành ủy", "Các sở, ban, ngành", "Lưu: VT, VX"],
            "urgency": None, "secrecy": None, "annexes": [],
            "blanks": ["number", "issued_date.day", "issued_date.month"],
        },
    },
    {
        "name": "bao_cao_skhcn_parent",
        "left": ["ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", "SỞ KH0A HỌC VÀ CÔNG NGHỆ", RULE_LEFT,
                 "Số: 85/BC-SKHCN"],
        "right": [NAT, MOTTO, RULE_RIGHT, "Thành phố Hồ Chí Minh, ngày 5 tháng 1 năm 2026"],
        "body": [
            "BÁ0 CÁ0",
            "Kết quả thực hiện nhiệm vụ khoa học và công nghệ năm 2025",
            "và phương hướng nhiệm vụ năm 2026",
            "_____________",
            "",
            "Phần I",
            "KẾT QUẢ THỰC HIỆN NHIỆM VỤ NĂM 2025",
            "I. CÔNG TÁC CHỈ ĐẠO, ĐIỀU HÀNH",
            "1. Ban hành 12 văn bản chỉ đạo, hướng dẫn triển khai nhiệm vụ.",
            "II. KẾT QUẢ CỤ THỂ",
            "1. Nghiệm thu 45 nhiệm vụ khoa học và công nghệ.",
            "2. Hỗ trợ 120 doanh nghiệp đổi mới công nghệ (chi tiết tại Phụ lục kèm theo).",
            "Phần II",
            "PHƯƠNG HƯỚNG NHIỆM VỤ NĂM 2026",
            "1. Triển khai Nghị quyết số 57-NQ/TW về phát triển khoa học, công nghệ, đổi mới sáng tạo và"
            " chuyển đổi số quốc gia.",
            "2. Phát triển hệ sinh thái khởi nghiệp đổi mới sáng tạo.",
            "Trên đây là báo cáo kết quả thực hiện nhiệm vụ năm 2025 và phương hướng nhiệm vụ năm 2026 của Sở"
            " Khoa học và Công nghệ./.",
        ],
        "footer_left": ["Nơi nhận:", "- Bộ Khoa học và Công nghệ;", "- UBND Thành phố;", "- Lưu: VT, VP."],
        "footer_right": ["GIÁM ĐỐC", "", "(Đã ký)", "", "Phạm Minh Tuấn"],
        "tail": [
            "",
            "PHỤ LỤC",
            "DANH SÁCH DOANH NGHIỆP ĐƯỢC HỖ TRỢ ĐỔI MỚI CÔNG NGHỆ NĂM 2025",
            "(Kèm theo Báo cáo số 85/BC-SKHCN ngày 05 tháng 01 năm 2026 của Sở Khoa học và Công nghệ)",
            "1. Công ty TNHH Cơ khí Chính xác Sài Gòn",
            "2. Công ty Cổ phần Công nghệ Thủ Đức",
        ],
        "expected": {
            "national_title": True, "motto": True,
            "issuer": "SỞ KHOA HỌC VÀ CÔNG NGHỆ", "parent_issuer": "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH",
            "number": "85", "number_year": None, "symbol": "BC-SKHCN",
            "doc_type": "Báo cáo", "doc_type_code": "BC",
            "place": "Thành phố Hồ Chí Minh", "issued_date": "2026-01-05",
            "title": "Kết quả thực hiện nhiệm vụ khoa học và công nghệ năm 2025 và phương hướng nhiệm vụ năm"
                     " 2026",
            "legal_bases": [],
            "sections": [
                _sec(1, "Phần I", "KẾT QUẢ THỰC HIỆN NHIỆM VỤ NĂM 2025"),
                _sec(2, "I.", "CÔNG TÁC CHỈ ĐẠO, ĐIỀU HÀNH"),
                _sec(3, "1.", "Ban hành 12 văn bản chỉ đạo, hướng dẫn triển khai nhiệm vụ."),
                _sec(2, "II.", "KẾT QUẢ CỤ THỂ"),
                _sec(3, "1.", "Nghiệm thu 45 nhiệm vụ khoa học và công nghệ."),
                _sec(3, "2.", "Hỗ trợ 120 doanh nghiệp đổi mới công nghệ (chi tiết tại Phụ lục kèm theo)."),
                _sec(1, "Phần II", "PHƯƠNG HƯỚNG NHIỆM VỤ NĂM 2026"),
                _sec(3, "1.", "Triển khai Nghị quyết số 57-NQ/TW về phát triển khoa học, công nghệ, đổi mới"
                     " sáng tạo và chuyển đổi số quốc gia."),
                _sec(3, "2.", "Phát triển hệ sinh thái khởi nghiệp đổi mới sáng tạo."),
            ],
            "signer": {"authority": None, "authority_of": None, "position": "GIÁM ĐỐC",
                       "name": "Phạm Minh Tuấn"},
            "recipients": ["Bộ Khoa học và Công nghệ", "UBND Thành phố", "Lưu: VT, VP"],
            "urgency": None, "secrecy": None,
            "annexes": ["PHỤ LỤC DANH SÁCH DOANH NGHIỆP ĐƯỢC HỖ TRỢ ĐỔI MỚI CÔNG NGHỆ NĂM 2025"],
            "blanks": [],
        },
    },
    {
        "name": "giay_moi_hoa_toc_mat",
        "left": ["BỘ NỘI VỤ", "CỤC VĂN THƯ VÀ LƯU TRỮ", "NHÀ NƯỚC", RULE_LEFT, "Số: 12/GM-VTLTNN",
                 "HOẢ TỐC", "MẬT"],
        "right": [NAT, MOTTO, RULE_RIGHT, "Hà Nội, ngày 03 tháng 3 năm 2026"],
        "body": [
            "GIẤY MỜI",
            "Hội nghị tập huấn công tác văn thư năm 2026",
            "___________",
            "",
            "Cục Văn thư và Lưu trữ nhà nước trân trọng kính mời:",
            "Đại diện lãnh đạo Văn phòng các bộ, cơ quan ngang bộ.",
            "Tới dự Hội nghị tập huấn công tác văn thư năm 2026.",
            "Thời gian: 08 giờ 00, ngày 10 tháng 3 năm 2026.",
            "Địa điểm: Hội trường tầng 3, số 12 Đào Tấn, Ba Đình, Hà Nội./.",
        ],
        "footer_left": ["Nơi nhận:", "- Như trên;", "- Cục trưởng (để b/c);", "- Lưu: VT, NVĐP."],
        "footer_right": ["KT. CỤC TRƯỞNG", "PHÓ CỤC TRƯỞNG", "", "Đặng Thanh Tùng"],
        "expected": {
            "national_title": True, "motto": True,
            "issuer": "CỤC VĂN THƯ VÀ LƯU TRỮ NHÀ NƯỚC", "parent_issuer": "BỘ NỘI VỤ",
            "number": "12", "number_year": None, "symbol": "GM-VTLTNN",
            "doc_type": "Giấy mời", "doc_type_code": "GM",
            "place": "Hà Nội", "issued_date": "2026-03-03",
            "title": "Hội nghị tập huấn công tác văn thư năm 2026",
            "legal_bases": [], "sections": [],
            "signer": {"authority": "KT.", "authority_of": "CỤC TRƯỞNG", "position": "PHÓ CỤC TRƯỞNG",
                       "name": "Đặng Thanh Tùng"},
            "recipients": ["Như trên", "Cục trưởng (để b/c)", "Lưu: VT, NVĐP"],
            "urgency": "Hỏa tốc", "secrecy": "Mật", "annexes": [], "blanks": [],
        },
    },
]

LAYOUTS = ("interleaved", "sequential")

SAMPLES: list[dict[str, Any]] = [
    {"name": f"{doc['name']}/{layout}", "text": render(doc, layout), "expected": doc["expected"]}
    for doc in DOCUMENTS
    for layout in LAYOUTS
]
