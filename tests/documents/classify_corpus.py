"""Held-out documents for the document-type model, written apart from its training templates.

The model (``cityai.documents.classify``) is trained on bodies generated from
``cityai/documents/data/doctype_templates.json``. To measure it on something it has not seen, the
bodies below were written separately, with other wording, topics, names and agencies (the slot values
in ``FILL`` are not in the templates). They share with the training data only what every document of
a type shares: its formulas ("QUYẾT ĐỊNH:", "Kính gửi", "Trân trọng kính mời", "Bên A ... Bên B" ...).

- ``HELD_OUT`` (15 types, 46 bodies): the development set. Its errors were used to make the templates
  richer, so after that it is a check, not an estimate.
- ``FINAL`` (14 types, 28 bodies): written after the templates were frozen and never used to change
  them - the honest test set.

Both are still synthetic: written by us, in one administrative register, so their accuracy is an
estimate for clean, well-formed bodies, not for every real archive.

``held_out(seed, variants)`` / ``final_set(seed, variants)`` fill each body's slots ``variants`` times
(deterministic) and return (text, type name) pairs without title line and number. ``full_document``
wraps a body in an ND30 header (agency, number, quốc hiệu, date) and a title line, for the tests where
the rule must win.
"""

from __future__ import annotations

import random
import re

FILL: dict[str, list[str]] = {
    "org": ["Ủy ban nhân dân quận 5", "Ủy ban nhân dân huyện Hóc Môn", "Sở Dân tộc và Tôn giáo",
             "Ban Dân tộc Thành phố", "Trung tâm Phục vụ hành chính công quận 8", "Bệnh viện Hùng Vương",
             "Trường Tiểu học Lê Văn Tám", "Ủy ban nhân dân phường Đa Kao", "Chi cục Thuế khu vực quận 11",
             "Trung tâm Kiểm soát bệnh tật Thành phố"],
    "name": ["Vương Đình Khoa", "Quách Thị Tuyết", "Tạ Minh Nhựt", "Kha Thị Diễm", "Thạch Văn Sang",
             "La Thị Mỹ Duyên", "Triệu Quang Vinh", "Ông Thị Cẩm Tú"],
    "subject": ["thu gom rác thải tại nguồn", "hỗ trợ hộ kinh doanh bị ảnh hưởng bởi thiên tai",
             "số hóa hồ sơ hộ tịch", "kiểm định chất lượng công trình trường học",
             "cấp phép quảng cáo ngoài trời", "tiêm chủng mở rộng", "di dời hộ dân ven kênh",
             "trồng cây xanh đường phố"],
    "place": ["nhà văn hóa khu phố 4", "hội trường Ủy ban nhân dân quận 5", "phòng họp Ban Giám hiệu",
             "số 101 Trần Hưng Đạo, phường Cầu Ông Lãnh", "trụ sở Chi cục Thuế khu vực quận 11"],
    "firm": ["Công ty TNHH Điện lạnh Gia Phát", "Công ty Cổ phần Môi trường Đô thị Sài Gòn",
             "Hợp tác xã Vận tải Quyết Thắng", "Công ty TNHH Thiết kế Đồ họa Mặt Trời"],
    "amount": ["47.800.000 đồng", "315.000.000 đồng", "2.040.000.000 đồng", "8.600.000 đồng"],
    "day": ["03/4/2025", "17/6/2025", "22/9/2025", "09/12/2025", "14/01/2026"],
    "ratio": ["64", "81", "95", "88,5"],
}

HELD_OUT: dict[str, list[str]] = {
    "Quyết định": [
        "CHỦ TỊCH ỦY BAN NHÂN DÂN QUẬN 5\nCăn cứ Luật Thi đua, khen thưởng năm 2022;\nXét đề nghị của Hội đồng "
        "Thi đua - Khen thưởng quận tại Tờ trình số 88/TTr-HĐTĐKT,\nQUYẾT ĐỊNH:\nĐiều 1. Tặng Giấy khen cho 12 "
        "tập thể và 35 cá nhân đã có thành tích xuất sắc trong {subject} (danh sách kèm theo).\nĐiều 2. Mỗi "
        "tập thể được thưởng 1.000.000 đồng; mỗi cá nhân được thưởng 500.000 đồng từ quỹ thi đua, khen "
        "thưởng.\nĐiều 3. Chánh Văn phòng, Trưởng Phòng Nội vụ và các tập thể, cá nhân có tên tại Điều 1 chịu "
        "trách nhiệm thi hành Quyết định này.",
        "Căn cứ Nghị định số 112/2020/NĐ-CP về xử lý kỷ luật cán bộ, công chức, viên chức;\nXét Biên bản họp "
        "Hội đồng kỷ luật ngày {day};\nQUYẾT ĐỊNH:\nĐiều 1. Thi hành kỷ luật bằng hình thức khiển trách đối "
        "với bà {name}, viên chức {org}.\nĐiều 2. Thời gian thi hành kỷ luật là 12 tháng kể từ ngày Quyết "
        "định có hiệu lực.\nĐiều 3. Quyết định có hiệu lực kể từ ngày ký. Thủ trưởng đơn vị và bà {name} chịu "
        "trách nhiệm thi hành Quyết định này./.",
        "GIÁM ĐỐC SỞ DÂN TỘC VÀ TÔN GIÁO\nCăn cứ Quyết định số 25/2024/QĐ-UBND quy định chức năng, nhiệm vụ "
        "của Sở Dân tộc và Tôn giáo;\nTheo đề nghị của Chánh Văn phòng Sở,\nQUYẾT ĐỊNH:\nĐiều 1. Cử ông {name} "
        "đi công tác nước ngoài từ ngày {day} trong thời gian 07 ngày.\nĐiều 2. Kinh phí chuyến đi do ngân "
        "sách Sở chi trả theo chế độ hiện hành.\nĐiều 3. Quyết định này có hiệu lực kể từ ngày ký./.",
        "Căn cứ Luật Đất đai;\nXét đề nghị của Trưởng Phòng Tài nguyên và Môi trường huyện,\nQUYẾT ĐỊNH:\nĐiều "
        "1. Thu hồi 520 m2 đất của hộ gia đình ông {name} để thực hiện dự án {subject}.\nĐiều 2. Giao Trung "
        "tâm Phát triển quỹ đất lập phương án bồi thường, hỗ trợ; tổng số tiền dự kiến {amount}.\nĐiều 3. "
        "Quyết định có hiệu lực từ ngày ký; Chánh Văn phòng và các cá nhân có tên tại Điều 1 chịu trách "
        "nhiệm thi hành.",
    ],
    "Công văn": [
        "Kính gửi: Ủy ban nhân dân các phường trên địa bàn quận.\nNgày {day}, {org} nhận được phản ánh của "
        "người dân về tình trạng {subject} chưa bảo đảm. Để kịp thời chấn chỉnh, {org} đề nghị Ủy ban nhân "
        "dân các phường kiểm tra, xử lý dứt điểm và báo cáo kết quả trước ngày {day}.\nĐầu mối liên hệ: bà "
        "{name}, điện thoại 028 3855 1234.\nTrân trọng./.",
        "Kính gửi: {firm}.\nTrả lời văn bản đề ngày {day} của Công ty về việc xin gia hạn thời gian thực hiện "
        "{subject}, {org} có ý kiến như sau: thống nhất gia hạn đến hết ngày {day}; đề nghị Công ty khẩn "
        "trương hoàn thành các hạng mục còn lại.\nQuá thời hạn nêu trên, {org} sẽ xử lý theo quy định.\n{org} "
        "thông tin để Công ty biết, thực hiện./.",
        "Kính gửi: Sở Tài chính.\nĐể kịp thời triển khai {subject}, {org} kính đề nghị Sở Tài chính xem xét, "
        "bổ sung dự toán kinh phí năm 2025 với số tiền {amount}.\n(Đính kèm bảng thuyết minh chi tiết dự "
        "toán.)\nRất mong nhận được sự quan tâm của Quý Sở./.",
        "Kính gửi: Các trường mầm non, tiểu học, trung học cơ sở trên địa bàn.\nNhằm chuẩn bị cho năm học "
        "mới, Phòng Giáo dục và Đào tạo đề nghị các trường rà soát cơ sở vật chất, nhu cầu sửa chữa phòng "
        "học và gửi số liệu về Phòng trước ngày {day} qua hộp thư điện tử của đơn vị.\nĐề nghị Hiệu trưởng "
        "các trường quan tâm thực hiện./.",
    ],
    "Kế hoạch": [
        "Thực hiện chỉ đạo của Ủy ban nhân dân Thành phố, {org} xây dựng kế hoạch {subject} năm 2025 như "
        "sau:\nI. MỤC ĐÍCH, YÊU CẦU\n- Huy động sự tham gia của cả hệ thống chính trị và người dân.\n- Phân "
        "công rõ người, rõ việc, rõ thời gian.\nII. NỘI DUNG\n1. Khảo sát thực trạng tại 14 khu phố (tháng "
        "3/2025).\n2. Tổ chức ra quân đồng loạt vào ngày {day}.\nIII. KINH PHÍ\nDự kiến {amount} từ ngân sách "
        "quận.\nIV. TỔ CHỨC THỰC HIỆN\nPhòng Kinh tế là đơn vị thường trực, tổng hợp kết quả báo cáo Ủy ban "
        "nhân dân quận.",
        "I. MỤC ĐÍCH, YÊU CẦU\n1. Mục đích: nâng tỷ lệ {subject} đạt trên {ratio}% trong năm.\n2. Yêu cầu: bám "
        "sát thực tế, bảo đảm tiến độ.\nII. NHIỆM VỤ CỤ THỂ\nSTT | Nhiệm vụ | Chủ trì | Thời hạn\n1 | Xây dựng "
        "bộ tiêu chí | Văn phòng | Quý I\n2 | Tập huấn cho cán bộ | Phòng Nội vụ | Quý II\nIII. TỔ CHỨC THỰC "
        "HIỆN\nCác đơn vị báo cáo kết quả định kỳ hằng quý về Văn phòng để tổng hợp.",
        "Căn cứ Chương trình công tác năm 2025, {org} ban hành Kế hoạch kiểm tra nội bộ như sau:\nI. MỤC "
        "ĐÍCH\nPhát hiện, chấn chỉnh kịp thời thiếu sót trong {subject}.\nII. NỘI DUNG, ĐỐI TƯỢNG, THỜI GIAN "
        "KIỂM TRA\n- Đối tượng: 05 đơn vị trực thuộc.\n- Thời gian: từ ngày {day}, mỗi đơn vị 02 ngày.\nIII. "
        "PHÂN CÔNG THỰC HIỆN\nÔng {name}, Phó Giám đốc, làm Trưởng đoàn.\nTrên đây là Kế hoạch kiểm tra; đề "
        "nghị các đơn vị chuẩn bị hồ sơ, tài liệu.",
        "I. MỤC ĐÍCH, YÊU CẦU\nTổ chức thành công ngày hội {subject}, tạo sức lan tỏa trong cộng đồng.\nII. "
        "THỜI GIAN, ĐỊA ĐIỂM\nThời gian: ngày {day}; địa điểm: {place}.\nIII. NỘI DUNG HOẠT ĐỘNG\n1. Lễ khai "
        "mạc.\n2. Gian hàng trưng bày, tư vấn.\n3. Trao giải cuộc thi tìm hiểu.\nIV. KINH PHÍ\n{amount}, nguồn "
        "xã hội hóa.\nV. TỔ CHỨC THỰC HIỆN\nGiao Đoàn Thanh niên phối hợp Hội Phụ nữ triển khai kế hoạch này.",
    ],
    "Giấy mời": [
        "{org} trân trọng kính mời ông (bà) {name}\nđến dự buổi gặp mặt nhân dịp kỷ niệm ngày thành lập đơn "
        "vị.\nThời gian: 09 giờ 00, ngày {day}.\nĐịa điểm: {place}.\nRất mong ông (bà) sắp xếp thời gian đến "
        "dự./.",
        "Kính gửi: Đại diện {firm}.\n{org} trân trọng kính mời đại diện lãnh đạo Công ty tham dự buổi đối "
        "thoại về {subject}.\nChủ trì: ông {name}, Phó Chủ tịch.\nThời gian: 14 giờ, ngày {day}.\nĐịa điểm: "
        "{place}.\nĐề nghị Công ty xác nhận danh sách người tham dự trước 01 ngày./.",
        "Trân trọng kính mời Quý phụ huynh\nđến dự họp phụ huynh học sinh đầu năm học.\nThời gian: 7 giờ 30 "
        "sáng Chủ nhật, ngày {day}.\nĐịa điểm: {place}.\nNội dung: thông báo kết quả học tập, kế hoạch năm học "
        "và các khoản thu.\nSự có mặt của Quý phụ huynh là niềm vinh hạnh của nhà trường./.",
        "{org} trân trọng kính mời:\n- Lãnh đạo các phòng, ban chuyên môn;\n- Chủ tịch Ủy ban nhân dân các "
        "phường.\nDự họp triển khai {subject}.\nThời gian: 8 giờ, ngày {day}.\nĐịa điểm: {place}.\nĐề nghị các "
        "đơn vị chuẩn bị báo cáo ngắn gọn để phát biểu tại cuộc họp./.",
    ],
    "Tờ trình": [
        "Kính gửi: Ủy ban nhân dân quận 5.\nCăn cứ nhu cầu thực tế tại địa phương, {org} kính trình Ủy ban "
        "nhân dân quận xem xét phê duyệt kinh phí {subject} năm 2025, cụ thể:\n1. Sự cần thiết: tình trạng "
        "xuống cấp ảnh hưởng đến an toàn của người dân.\n2. Kinh phí đề nghị: {amount}.\n3. Thời gian thực "
        "hiện: quý III năm 2025.\nKính trình Ủy ban nhân dân quận xem xét, quyết định./.",
        "Kính gửi: Giám đốc Sở Dân tộc và Tôn giáo.\nPhòng Tổ chức - Hành chính kính trình Giám đốc xem xét "
        "việc bổ nhiệm lại bà {name} giữ chức vụ Phó Trưởng phòng.\nQuá trình thực hiện: đã lấy phiếu tín "
        "nhiệm của tập thể lãnh đạo, kết quả đạt {ratio}%.\nHồ sơ kèm theo gồm: bản tự kiểm điểm, nhận xét "
        "đánh giá, phiếu lấy ý kiến.\nKính trình Giám đốc xem xét, quyết định./.",
        "Kính gửi: Hội đồng nhân dân huyện Hóc Môn.\nThực hiện quy định về đầu tư công, Ủy ban nhân dân huyện "
        "kính trình Hội đồng nhân dân huyện xem xét, quyết định chủ trương đầu tư dự án {subject}.\nI. SỰ CẦN "
        "THIẾT ĐẦU TƯ\nII. MỤC TIÊU, QUY MÔ\nIII. TỔNG MỨC ĐẦU TƯ DỰ KIẾN: {amount}\nỦy ban nhân dân huyện kính "
        "trình Hội đồng nhân dân huyện xem xét, thông qua./.",
    ],
    "Biên bản": [
        "Vào lúc 9 giờ, ngày {day}, tại {place}, chúng tôi gồm:\n- Ông {name}, đại diện Ủy ban nhân dân "
        "phường;\n- Bà {name}, đại diện Ban điều hành khu phố.\nCùng tiến hành kiểm tra việc {subject}.\nKết "
        "quả kiểm tra: hộ gia đình chưa thực hiện đúng quy định.\nBiên bản lập xong lúc 10 giờ cùng ngày, đã "
        "đọc lại cho các bên cùng nghe, thống nhất ký tên.",
        "Hôm nay, ngày {day}, tại {place}, Ban Giám hiệu nhà trường tổ chức họp xét thi đua học kỳ I.\nThành "
        "phần: 07/07 thành viên; chủ tọa: thầy {name}; thư ký: cô {name}.\nNội dung: các thành viên thảo "
        "luận, biểu quyết danh sách đề nghị khen thưởng.\nKết quả biểu quyết: 07/07 thành viên đồng ý.\nCuộc "
        "họp kết thúc lúc 16 giờ 30 cùng ngày.\nTHƯ KÝ CHỦ TỌA",
        "Hôm nay, ngày {day}, tại công trình {subject}, đại diện các bên gồm:\nBên giao: {org}.\nBên nhận: "
        "{firm}.\nHai bên cùng tiến hành bàn giao mặt bằng thi công; hiện trạng: đã giải phóng mặt bằng, "
        "không còn vật kiến trúc.\nBiên bản được lập thành 04 bản, mỗi bên giữ 02 bản có giá trị như "
        "nhau.\nĐẠI DIỆN BÊN GIAO ĐẠI DIỆN BÊN NHẬN",
        "Hồi 15 giờ ngày {day}, tại {place}, tổ công tác gồm ông {name} và bà {name} đã lập biên bản vi phạm "
        "hành chính đối với {firm} về hành vi vi phạm trong {subject}.\nÝ kiến trình bày của đại diện tổ chức "
        "vi phạm: thừa nhận hành vi vi phạm.\nBiên bản gồm 02 trang, được lập thành 02 bản, giao cho tổ chức "
        "vi phạm 01 bản./.",
    ],
    "Hợp đồng": [
        "Căn cứ Bộ luật Dân sự năm 2015;\nCăn cứ nhu cầu của {org} và khả năng của {firm};\nHôm nay, ngày "
        "{day}, chúng tôi gồm có:\nBÊN A: {org}, đại diện ông {name}, chức vụ Chánh Văn phòng.\nBÊN B: {firm}, "
        "đại diện bà {name}, chức vụ Giám đốc.\nHai bên thỏa thuận ký hợp đồng bảo trì hệ thống điều hòa "
        "không khí với các điều khoản sau:\nĐiều 1. Bên B thực hiện bảo trì định kỳ 03 tháng một lần.\nĐiều 2. "
        "Giá trị: {amount}/năm, thanh toán theo quý.\nĐiều 3. Trách nhiệm của mỗi bên.\nĐiều 4. Hợp đồng có "
        "hiệu lực 12 tháng kể từ ngày ký.\nĐẠI DIỆN BÊN A ĐẠI DIỆN BÊN B",
        "Căn cứ Luật Đấu thầu và kết quả chỉ định thầu;\nBên giao thầu (Bên A): {org}.\nBên nhận thầu (Bên B): "
        "{firm}.\nĐiều 1. Đối tượng hợp đồng: thi công {subject}.\nĐiều 2. Giá hợp đồng: {amount}, loại hợp "
        "đồng trọn gói.\nĐiều 3. Tiến độ: 90 ngày kể từ ngày bàn giao mặt bằng.\nĐiều 4. Tạm ứng, thanh toán: "
        "tạm ứng 20% giá trị hợp đồng.\nĐiều 5. Bảo hành công trình 12 tháng.\nĐiều 6. Phạt vi phạm: 0,1% giá "
        "trị hợp đồng cho mỗi ngày chậm tiến độ.\nHợp đồng lập thành 08 bản, Bên A giữ 05 bản, Bên B giữ 03 "
        "bản.",
        "Hôm nay, ngày {day}, tại {place}, chúng tôi gồm:\nBên thuê (Bên A): {org}.\nBên cho thuê (Bên B): ông "
        "{name}, CCCD số 079185001234.\nHai bên thống nhất ký hợp đồng thuê nhà làm kho lưu trữ với nội dung "
        "sau:\n1. Giá thuê: {amount}/tháng; thời hạn thuê 24 tháng.\n2. Bên A thanh toán tiền thuê vào ngày 05 "
        "hằng tháng bằng chuyển khoản.\n3. Bên B bảo đảm quyền sử dụng ổn định của Bên A trong thời hạn "
        "thuê.\n4. Tranh chấp được giải quyết bằng thương lượng, hòa giải.",
    ],
    "Báo cáo": [
        "Thực hiện yêu cầu của Ủy ban nhân dân quận, {org} báo cáo kết quả {subject} quý I năm 2025 như "
        "sau:\n1. Kết quả: đã thực hiện tại 9/10 khu phố, đạt {ratio}% kế hoạch.\n2. Khó khăn: một bộ phận "
        "người dân chưa đồng thuận; nhân lực mỏng.\n3. Kiến nghị: bổ sung kinh phí tuyên truyền.\nTrên đây là "
        "báo cáo của {org}./.",
        "I. TÌNH HÌNH CHUNG\nTrong tháng, công tác {subject} tiếp tục được quan tâm chỉ đạo.\nII. KẾT QUẢ CỤ "
        "THỂ\n- Tiếp nhận 1.245 hồ sơ, giải quyết đúng hạn 1.230 hồ sơ (đạt 98,8%).\n- Số hồ sơ trễ hạn: 15, "
        "đã xin lỗi người dân.\nIII. NHẬN XÉT, ĐÁNH GIÁ\nCơ bản hoàn thành chỉ tiêu; còn trễ hạn ở lĩnh vực "
        "đất đai.\nIV. PHƯƠNG HƯỚNG THÁNG TỚI\nTăng cường kiểm soát hồ sơ sắp đến hạn.",
        "Theo đề nghị của Sở Dân tộc và Tôn giáo, {org} báo cáo tình hình thực hiện {subject} năm 2025:\nA. "
        "KẾT QUẢ ĐẠT ĐƯỢC\nTổng kinh phí đã giải ngân: {amount}, bằng {ratio}% kế hoạch vốn.\nB. HẠN CHẾ, "
        "NGUYÊN NHÂN\nThủ tục kéo dài; nhà thầu chậm tiến độ.\nC. GIẢI PHÁP THỜI GIAN TỚI\nĐôn đốc nhà thầu, xử "
        "lý nghiêm vi phạm.\n{org} kính báo cáo./.",
        "Ngày {day}, đoàn kiểm tra đã làm việc tại {place}. Qua kiểm tra, đoàn báo cáo kết quả như sau:\n1. "
        "Ưu điểm: hồ sơ, sổ sách được lập đầy đủ.\n2. Tồn tại: chưa cập nhật dữ liệu lên phần mềm; một số "
        "biên nhận thiếu chữ ký.\n3. Kiến nghị xử lý: yêu cầu đơn vị khắc phục trong 15 ngày.\nKính báo cáo "
        "lãnh đạo xem xét, chỉ đạo./.",
    ],
    "Thông báo": [
        "Căn cứ kết quả xét tuyển, {org} thông báo danh sách thí sinh trúng tuyển viên chức năm 2025 (kèm "
        "theo).\nThí sinh trúng tuyển đến {place} để hoàn thiện hồ sơ trước ngày {day}.\nQuá thời hạn trên, "
        "thí sinh không hoàn thiện hồ sơ sẽ bị hủy kết quả trúng tuyển.\n{org} thông báo để thí sinh biết, "
        "thực hiện./.",
        "Ngày {day}, ông {name}, Chủ tịch Ủy ban nhân dân quận chủ trì họp về {subject}. Sau khi nghe các "
        "đơn vị báo cáo, Chủ tịch kết luận:\n1. Biểu dương các phường thực hiện tốt.\n2. Yêu cầu các phường "
        "còn chậm khẩn trương khắc phục.\nVăn phòng thông báo ý kiến kết luận để các đơn vị thực hiện./.",
        "Để phục vụ công tác bảo trì hệ thống điện, {org} thông báo tạm ngưng tiếp nhận hồ sơ trực tiếp "
        "trong ngày {day}.\nNgười dân có thể nộp hồ sơ trực tuyến qua Cổng dịch vụ công quốc gia.\nRất mong "
        "người dân thông cảm./.",
        "{org} thông báo: kể từ ngày {day}, địa điểm tiếp nhận hồ sơ {subject} chuyển về {place}.\nThời gian "
        "làm việc: sáng từ 7 giờ 30 đến 11 giờ 30, chiều từ 13 giờ đến 17 giờ, từ thứ Hai đến thứ Sáu.\nThông "
        "báo này thay thế các thông báo trước đây./.",
    ],
    "Chỉ thị": [
        "Thời gian gần đây, tình trạng vi phạm trong {subject} có chiều hướng gia tăng, gây bức xúc trong "
        "nhân dân. Nguyên nhân chủ yếu là do công tác quản lý chưa chặt chẽ, xử lý chưa nghiêm.\nĐể chấn "
        "chỉnh tình trạng trên, Chủ tịch Ủy ban nhân dân quận yêu cầu:\n1. Chủ tịch Ủy ban nhân dân các "
        "phường chịu trách nhiệm trước Chủ tịch Ủy ban nhân dân quận nếu để xảy ra vi phạm kéo dài.\n2. Phòng "
        "Quản lý đô thị tăng cường kiểm tra, xử lý dứt điểm.\n3. Công an quận phối hợp bảo đảm an ninh trật "
        "tự trong quá trình cưỡng chế.\nChủ tịch Ủy ban nhân dân quận yêu cầu Thủ trưởng các cơ quan, đơn vị "
        "nghiêm túc thực hiện Chỉ thị này.",
        "Năm 2025 là năm có ý nghĩa quan trọng. Để hoàn thành thắng lợi nhiệm vụ, Chủ tịch Ủy ban nhân dân "
        "huyện chỉ thị Thủ trưởng các cơ quan, đơn vị:\n1. Tập trung cao độ cho {subject}; người đứng đầu "
        "trực tiếp chỉ đạo.\n2. Siết chặt kỷ luật, kỷ cương hành chính; không để tồn đọng hồ sơ.\n3. Định kỳ "
        "ngày 20 hằng tháng báo cáo kết quả về Văn phòng.\nĐây là nhiệm vụ trọng tâm, yêu cầu các đơn vị "
        "triển khai thực hiện nghiêm túc.",
    ],
    "Nghị quyết": [
        "HỘI ĐỒNG NHÂN DÂN HUYỆN HÓC MÔN KHÓA XII, KỲ HỌP THỨ MƯỜI\nXét Tờ trình của Ủy ban nhân dân huyện về "
        "kế hoạch đầu tư công năm 2026; báo cáo thẩm tra của Ban Kinh tế - Xã hội và ý kiến của đại "
        "biểu,\nQUYẾT NGHỊ:\nĐiều 1. Thông qua kế hoạch đầu tư công năm 2026 với tổng vốn {amount}.\nĐiều 2. Ủy "
        "ban nhân dân huyện tổ chức thực hiện; Thường trực Hội đồng nhân dân huyện giám sát việc thực "
        "hiện.\nNghị quyết này được Hội đồng nhân dân huyện thông qua ngày {day}.",
        "Căn cứ Điều lệ Hội;\nCăn cứ kết quả biểu quyết tại Đại hội thường niên ngày {day},\nĐại hội thống "
        "nhất QUYẾT NGHỊ:\n1. Thông qua báo cáo hoạt động năm 2025 và phương hướng năm 2026.\n2. Thông qua mức "
        "hội phí 200.000 đồng/năm.\n3. Giao Ban Chấp hành triển khai thực hiện nghị quyết.\nNghị quyết có hiệu "
        "lực kể từ ngày thông qua.",
    ],
    "Giấy giới thiệu": [
        "{org} trân trọng giới thiệu bà {name}, chuyên viên Văn phòng,\nđược cử đến {firm} để liên hệ về việc "
        "thu thập số liệu {subject}.\nĐề nghị Quý đơn vị tạo điều kiện để bà {name} hoàn thành nhiệm vụ.\nGiấy "
        "này có giá trị đến ngày {day}.",
        "Trân trọng giới thiệu ông {name}, cán bộ {org},\nđến làm việc với Ủy ban nhân dân phường Đa Kao.\nVề "
        "việc: xác minh hồ sơ {subject}.\nĐề nghị Quý cơ quan giúp đỡ để ông hoàn thành công việc được "
        "giao.\nGiấy có giá trị 10 ngày.",
    ],
    "Công điện": [
        "CHỦ TỊCH ỦY BAN NHÂN DÂN HUYỆN điện:\n- Chủ tịch Ủy ban nhân dân các xã, thị trấn;\n- Thủ trưởng các "
        "phòng, ban.\nDo ảnh hưởng của đợt triều cường kết hợp mưa lớn, nhiều tuyến đê bao có nguy cơ bị "
        "tràn, vỡ. Để chủ động ứng phó, Chủ tịch Ủy ban nhân dân huyện yêu cầu:\n1. Tổ chức kiểm tra, gia cố "
        "ngay các vị trí xung yếu.\n2. Sẵn sàng lực lượng, vật tư để xử lý sự cố.\n3. Thông tin kịp thời cho "
        "người dân chủ động phòng tránh.\nYêu cầu các đơn vị khẩn trương thực hiện, báo cáo tình hình trước "
        "16 giờ hằng ngày.",
        "ỦY BAN NHÂN DÂN QUẬN điện:\nGiám đốc Trung tâm Y tế quận; Chủ tịch Ủy ban nhân dân các phường.\nSố ca "
        "mắc bệnh tay chân miệng trên địa bàn tăng nhanh trong 2 tuần qua, xuất hiện ổ dịch tại trường mầm "
        "non. Chủ tịch Ủy ban nhân dân quận yêu cầu:\n1. Khẩn trương khoanh vùng, xử lý triệt để ổ dịch.\n2. "
        "Tăng cường giám sát tại trường học.\nĐây là nhiệm vụ cấp bách, yêu cầu các đơn vị thực hiện ngay.",
    ],
    "Giấy ủy quyền": [
        "Bên ủy quyền: ông {name}, Giám đốc {firm}.\nBên được ủy quyền: bà {name}, Phó Giám đốc.\nNội dung ủy "
        "quyền: ký các hợp đồng mua bán có giá trị dưới {amount} và các chứng từ thanh toán liên quan.\nThời "
        "hạn ủy quyền: từ ngày {day} đến ngày 31/12/2025.\nBên được ủy quyền không ủy quyền lại cho người thứ "
        "ba.",
        "Tôi tên là {name}, CCCD số 079090012345, thường trú tại {place}.\nNay ủy quyền cho bà {name}, CCCD "
        "số 079190054321,\nđược thay mặt tôi nộp hồ sơ và nhận kết quả {subject} tại {org}.\nTôi xin chịu "
        "trách nhiệm trước pháp luật về việc ủy quyền này.\nNGƯỜI ĐƯỢC ỦY QUYỀN NGƯỜI ỦY QUYỀN",
    ],
    "Hướng dẫn": [
        "Căn cứ quy định hiện hành, {org} hướng dẫn các đơn vị thực hiện {subject} như sau:\n1. Đối tượng: "
        "các tổ chức, cá nhân có nhu cầu.\n2. Thành phần hồ sơ: đơn đề nghị theo mẫu; bản sao giấy tờ tùy "
        "thân; giấy tờ chứng minh.\n3. Quy trình: nộp hồ sơ - kiểm tra - thẩm định - trả kết quả.\n4. Thời hạn "
        "xử lý: 07 ngày làm việc.\nQuá trình thực hiện có vướng mắc, đề nghị liên hệ bà {name} để được hướng "
        "dẫn.",
        "Nhằm thống nhất cách ghi chép sổ sách, {org} hướng dẫn một số nội dung:\nI. YÊU CẦU CHUNG\nGhi đầy "
        "đủ, rõ ràng, không tẩy xóa.\nII. CÁCH GHI CỤ THỂ\nCột 1: số thứ tự; cột 2: ngày tiếp nhận; cột 3: nội "
        "dung; cột 4: kết quả xử lý.\nIII. CHẾ ĐỘ BÁO CÁO\nĐịnh kỳ ngày 25 hằng tháng gửi báo cáo về {org}.\nĐề "
        "nghị các đơn vị nghiên cứu, thực hiện.",
    ],
}

TITLES = {"Quyết định": "QUYẾT ĐỊNH", "Công văn": None, "Kế hoạch": "KẾ HOẠCH", "Giấy mời": "GIẤY MỜI",
          "Tờ trình": "TỜ TRÌNH", "Biên bản": "BIÊN BẢN", "Hợp đồng": "HỢP ĐỒNG", "Báo cáo": "BÁO CÁO",
          "Thông báo": "THÔNG BÁO", "Chỉ thị": "CHỈ THỊ", "Nghị quyết": "NGHỊ QUYẾT", "Giấy giới thiệu": "GIẤY GIỚI THIỆU",
          "Công điện": "CÔNG ĐIỆN", "Giấy ủy quyền": "GIẤY ỦY QUYỀN", "Hướng dẫn": "HƯỚNG DẪN"}


def _fill(body: str, rng: random.Random) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: rng.choice(FILL[m.group(1)]), body)


def held_out(seed: int = 1, variants: int = 3) -> list[tuple[str, str]]:
    """(body, type name) pairs: every written body, ``variants`` times with other slot values."""
    rng = random.Random(seed)
    return [(_fill(body, rng), name) for name, bodies in HELD_OUT.items() for body in bodies for _ in range(variants)]


def full_document(body: str, title_line: str | None, symbol: str, number: str = "214") -> str:
    """An ND30 document around ``body``: agency block, number, quốc hiệu, date, title line (None for a
    công văn, whose trích yếu follows the number), the body and a signature."""
    lines = ["ỦY BAN NHÂN DÂN", "QUẬN 5", "_______", f"Số: {number}/{symbol}",
             "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "__________________",
             "Quận 5, ngày 12 tháng 5 năm 2025", ""]
    if title_line:
        lines += [title_line, "Về việc triển khai nhiệm vụ năm 2025", "_______", ""]
    else:
        lines += ["V/v triển khai nhiệm vụ năm 2025", ""]
    lines += body.split("\n") + ["", "Nơi nhận:", "- Như trên;", "- Lưu: VT.", "CHỦ TỊCH", "Vương Đình Khoa"]
    return "\n".join(lines)


# Written after the templates were final, and never used to change them: the honest test set.
FINAL: dict[str, list[str]] = {
    "Quyết định": [
        "Căn cứ Luật Tổ chức chính quyền địa phương;\nCăn cứ kết quả kỳ thi nâng ngạch công chức năm "
        "2025;\nTheo đề nghị của Trưởng Phòng Nội vụ,\nQUYẾT ĐỊNH:\nĐiều 1. Bổ nhiệm vào ngạch chuyên viên "
        "chính đối với 06 công chức có tên trong danh sách đính kèm, kể từ ngày {day}.\nĐiều 2. Xếp lương "
        "theo ngạch mới theo quy định hiện hành.\nĐiều 3. Chánh Văn phòng, Trưởng Phòng Nội vụ, Thủ trưởng "
        "các đơn vị và các công chức có tên tại Điều 1 chịu trách nhiệm thi hành Quyết định này./.",
        "Căn cứ Nghị định số 45/2020/NĐ-CP về thực hiện thủ tục hành chính trên môi trường điện tử;\nXét đề "
        "nghị của Giám đốc Trung tâm Phục vụ hành chính công,\nQUYẾT ĐỊNH:\nĐiều 1. Công bố danh mục 27 thủ "
        "tục hành chính được tiếp nhận hồ sơ trực tuyến toàn trình tại {org}.\nĐiều 2. Quyết định này có hiệu "
        "lực kể từ ngày ký và bãi bỏ các văn bản trái với Quyết định này.\nĐiều 3. Các đơn vị có liên quan "
        "chịu trách nhiệm thi hành./.",
    ],
    "Công văn": [
        "Kính gửi: Ban Quản lý chợ Bình Tây.\nQua kiểm tra thực tế ngày {day}, {org} ghi nhận tại khu vực chợ "
        "còn tình trạng lấn chiếm lòng đường, vỉa hè để kinh doanh. Đề nghị Ban Quản lý chợ nhắc nhở tiểu "
        "thương chấp hành quy định và phối hợp với lực lượng chức năng xử lý các trường hợp tái phạm.\nKết "
        "quả thực hiện gửi về {org} trước ngày {day}.\nTrân trọng./.",
        "Kính gửi: Bảo hiểm xã hội quận 5.\n{org} đề nghị Quý cơ quan cung cấp danh sách người lao động chưa "
        "được đóng bảo hiểm xã hội tại các doanh nghiệp trên địa bàn để phục vụ công tác kiểm tra liên "
        "ngành.\nDanh sách đề nghị gửi dưới dạng tệp bảng tính qua hệ thống quản lý văn bản.\nRất mong nhận "
        "được sự phối hợp của Quý cơ quan./.",
    ],
    "Kế hoạch": [
        "Thực hiện chủ trương của Ủy ban nhân dân Thành phố về phát triển văn hóa đọc, {org} ban hành kế "
        "hoạch như sau:\nI. MỤC ĐÍCH, YÊU CẦU\nKhơi dậy phong trào đọc sách trong cán bộ, công chức và người "
        "dân.\nII. NỘI DUNG THỰC HIỆN\n1. Xây dựng tủ sách tại 10 khu phố.\n2. Tổ chức Ngày hội đọc sách vào "
        "tháng 4.\n3. Phát động cuộc thi giới thiệu sách hay.\nIII. KINH PHÍ\n{amount} từ ngân sách và nguồn "
        "vận động.\nIV. TỔ CHỨC THỰC HIỆN\nPhòng Văn hóa và Thông tin chủ trì, định kỳ báo cáo tiến độ về Ủy "
        "ban nhân dân quận.",
        "I. MỤC ĐÍCH\nBảo đảm 100% công chức được bồi dưỡng kỹ năng số trong năm 2026.\nII. ĐỐI TƯỢNG, SỐ "
        "LƯỢNG\n120 công chức, viên chức, chia thành 04 lớp.\nIII. THỜI GIAN VÀ HÌNH THỨC\nTừ tháng 5 đến tháng "
        "8; học trực tuyến kết hợp thực hành.\nIV. TỔ CHỨC THỰC HIỆN\nVăn phòng phối hợp Trung tâm Chuyển đổi "
        "số tổ chức lớp học, tổng hợp kết quả.",
    ],
    "Báo cáo": [
        "Thực hiện văn bản của Sở Nội vụ, {org} báo cáo tình hình thực hiện chế độ làm việc từ xa năm 2025 "
        "như sau:\n1. Số cán bộ đăng ký làm việc từ xa: 35 người; số ngày bình quân: 2 ngày/tháng.\n2. Hiệu "
        "quả: tiết kiệm chi phí đi lại, công việc vẫn bảo đảm tiến độ.\n3. Hạn chế: đường truyền chưa ổn "
        "định, chưa có quy định đánh giá kết quả.\n4. Đề xuất: ban hành quy chế làm việc từ xa.\nTrân trọng "
        "báo cáo./.",
        "I. KẾT QUẢ THU NGÂN SÁCH\nTổng thu 9 tháng ước đạt {amount}, đạt {ratio}% dự toán năm.\nII. CHI NGÂN "
        "SÁCH\nChi thường xuyên bảo đảm theo dự toán; chi đầu tư phát triển giải ngân đạt thấp.\nIII. ĐÁNH "
        "GIÁ\nThu đạt khá; chi đầu tư còn chậm do vướng mặt bằng.\nIV. NHIỆM VỤ QUÝ IV\nTập trung đôn đốc thu "
        "nợ đọng thuế; đẩy nhanh giải ngân.",
    ],
    "Giấy mời": [
        "Kính gửi: Các doanh nghiệp trong Khu công nghiệp Tân Tạo.\nBan Quản lý trân trọng kính mời đại diện "
        "doanh nghiệp tham dự buổi phổ biến quy định mới về phòng cháy, chữa cháy.\nThời gian: 8 giờ 30, thứ "
        "Ba, ngày {day}.\nĐịa điểm: {place}.\nRất hân hạnh được đón tiếp./.",
        "{org} trân trọng kính mời bà {name}, Tổ trưởng tổ dân phố 7,\ntham dự Hội nghị biểu dương gương "
        "người tốt, việc tốt năm 2025.\nThời gian: 15 giờ, ngày {day}.\nĐịa điểm: {place}.\nĐại biểu vui lòng "
        "mặc trang phục lịch sự./.",
    ],
    "Tờ trình": [
        "Kính gửi: Ủy ban nhân dân Thành phố.\nCăn cứ đề nghị của các phường về nhu cầu lắp đặt đèn chiếu "
        "sáng hẻm, {org} kính trình Ủy ban nhân dân Thành phố xem xét, chấp thuận chủ trương đầu tư hệ thống "
        "chiếu sáng cho 86 tuyến hẻm.\nTổng kinh phí dự kiến: {amount}.\nThời gian thực hiện: năm 2026.\nKính "
        "trình Ủy ban nhân dân Thành phố xem xét, chấp thuận./.",
        "Kính gửi: Chủ tịch Ủy ban nhân dân huyện.\nPhòng Nội vụ kính trình Chủ tịch xem xét, quyết định tặng "
        "Giấy khen cho các tập thể, cá nhân có thành tích trong {subject}.\nSố lượng đề nghị: 08 tập thể, 21 "
        "cá nhân.\nHội đồng Thi đua - Khen thưởng đã họp xét và thống nhất 100%.\nKính trình Chủ tịch xem xét, "
        "quyết định./.",
    ],
    "Biên bản": [
        "Hôm nay, lúc 14 giờ ngày {day}, tại {place}, Tổ hòa giải khu phố gồm: ông {name} - Tổ trưởng; bà "
        "{name} - tổ viên.\nĐã tiến hành hòa giải tranh chấp ranh giới đất giữa hai hộ liền kề.\nKết quả: hai "
        "bên tự nguyện thỏa thuận giữ nguyên hiện trạng ranh giới.\nBiên bản kết thúc lúc 15 giờ 30 cùng "
        "ngày, các bên đọc lại, thống nhất và ký tên.",
        "Vào hồi 8 giờ ngày {day}, tại kho lưu trữ {org}, Hội đồng xác định giá trị tài liệu đã họp, thành "
        "phần gồm 05/05 thành viên.\nHội đồng đã xem xét danh mục 312 hồ sơ hết giá trị, thống nhất đề nghị "
        "tiêu hủy.\nBiên bản được lập thành 03 bản và được các thành viên thông qua.\nTHƯ KÝ HỘI ĐỒNG CHỦ TỊCH "
        "HỘI ĐỒNG",
    ],
    "Thông báo": [
        "{org} thông báo lịch cắt nước để sửa chữa đường ống chính như sau:\nThời gian: từ 22 giờ ngày {day} "
        "đến 4 giờ sáng hôm sau.\nKhu vực ảnh hưởng: các phường 1, 2, 3.\nĐề nghị người dân chủ động dự trữ "
        "nước. Xin cáo lỗi vì sự bất tiện này./.",
        "Ngày {day}, Giám đốc Sở đã chủ trì buổi làm việc với các phòng chuyên môn về {subject}. Sau khi "
        "nghe báo cáo, Giám đốc kết luận và chỉ đạo:\n1. Hoàn thiện dự thảo trong tháng này.\n2. Lấy ý kiến "
        "các đơn vị liên quan.\nVăn phòng Sở thông báo để các đơn vị biết, thực hiện./.",
    ],
    "Quy chế": [
        "Chương I\nQUY ĐỊNH CHUNG\nĐiều 1. Phạm vi và đối tượng\nQuy chế này quy định việc quản lý, sử dụng xe "
        "ô tô công tại {org}, áp dụng đối với cán bộ, công chức và lái xe.\nĐiều 2. Nguyên tắc\nXe ô tô chỉ "
        "được sử dụng phục vụ công tác; không sử dụng vào việc riêng.\nChương II\nQUY ĐỊNH CỤ THỂ\nĐiều 3. Thủ "
        "tục đăng ký sử dụng xe\nĐiều 4. Trách nhiệm của lái xe\nChương III\nĐIỀU KHOẢN THI HÀNH\nĐiều 8. Thủ "
        "trưởng đơn vị chịu trách nhiệm tổ chức thực hiện Quy chế này.",
        "(Ban hành kèm theo Quyết định số 41/QĐ-TTKSBT ngày {day})\nĐiều 1. Quy chế này quy định về tổ chức, "
        "hoạt động của Tổ phản ứng nhanh phòng, chống dịch.\nĐiều 2. Tổ làm việc theo nguyên tắc tập trung, "
        "thống nhất.\nĐiều 3. Chế độ họp: họp định kỳ hằng tháng và họp đột xuất khi có dịch.\nĐiều 4. Các "
        "thành viên thực hiện nhiệm vụ theo sự phân công của Tổ trưởng.\nĐiều 5. Việc sửa đổi Quy chế do Giám "
        "đốc quyết định.",
    ],
    "Giấy nghỉ phép": [
        "Xét đơn đề nghị của bà {name}, nhân viên Phòng Hành chính,\nGiám đốc {org} đồng ý cho bà {name} được "
        "nghỉ phép năm 2025 từ ngày {day}, thời gian 05 ngày làm việc.\nNơi nghỉ: tỉnh Bến Tre.\nHết thời gian "
        "nghỉ, đương sự có mặt tại cơ quan để nhận nhiệm vụ.",
        "Cấp cho ông {name}\nChức vụ: nhân viên kỹ thuật\nĐược nghỉ phép năm từ ngày {day} đến hết ngày "
        "28/12/2025.\nNơi nghỉ phép: xã Ninh Hải, tỉnh Ninh Thuận.\nXÁC NHẬN CỦA ĐỊA PHƯƠNG NƠI NGHỈ PHÉP",
    ],
    "Bản ghi nhớ": [
        "Hai bên gồm {org} và Trường Đại học Kinh tế Thành phố Hồ Chí Minh,\nvới mong muốn tăng cường hợp tác "
        "trong đào tạo và nghiên cứu, đã thống nhất ký kết Bản ghi nhớ với các nội dung sau:\n1. Phối hợp tổ "
        "chức thực tập cho sinh viên.\n2. Cùng thực hiện các đề tài nghiên cứu ứng dụng.\n3. Mỗi bên cử một "
        "đầu mối điều phối.\nBản ghi nhớ không làm phát sinh nghĩa vụ tài chính giữa hai bên và có hiệu lực "
        "03 năm.",
        "Trên tinh thần hữu nghị, {org} và Tổ chức Y tế Thế giới thống nhất cùng hợp tác trong lĩnh vực "
        "{subject}.\nCác bên sẽ trao đổi chuyên gia, chia sẻ kinh nghiệm và tài liệu kỹ thuật.\nCác hoạt động "
        "cụ thể sẽ được quy định trong các thỏa thuận riêng.\nBản ghi nhớ được ký thành 02 bản tiếng Việt và "
        "02 bản tiếng Anh có giá trị ngang nhau.",
    ],
    "Phiếu chuyển": [
        "Kính gửi: Ủy ban nhân dân phường Cầu Ông Lãnh.\nNgày {day}, Ban Tiếp công dân quận nhận được đơn "
        "kiến nghị của ông {name} về việc nhà liền kề xây dựng gây lún nứt.\nXét nội dung đơn thuộc thẩm "
        "quyền của Ủy ban nhân dân phường, Ban Tiếp công dân chuyển đơn đến Ủy ban nhân dân phường xem xét, "
        "giải quyết.\nĐề nghị thông báo kết quả cho người có đơn biết.",
        "Kính gửi: Sở Xây dựng.\n{org} nhận được hồ sơ đề nghị cấp giấy phép của {firm}. Do nội dung hồ sơ "
        "thuộc thẩm quyền của Sở Xây dựng, {org} chuyển hồ sơ đến Quý Sở để xử lý theo quy định.\n(Kèm theo "
        "01 bộ hồ sơ gốc.)",
    ],
    "Thư công": [
        "Kính gửi: Các y, bác sĩ và nhân viên y tế Thành phố.\nNhân dịp kỷ niệm Ngày Thầy thuốc Việt Nam, tôi "
        "xin gửi tới toàn thể đội ngũ lời tri ân sâu sắc. Những ngày chống dịch vừa qua, các đồng chí đã "
        "không quản ngày đêm, hy sinh hạnh phúc riêng vì sức khỏe của nhân dân.\nChúc các đồng chí luôn mạnh "
        "khỏe và giữ vững y đức.\nThân ái.",
        "Kính gửi: Ông {name}, Chủ tịch {firm}.\nThay mặt {org}, tôi xin chân thành cảm ơn Quý Công ty đã ủng "
        "hộ 500 suất quà cho các hộ gia đình khó khăn dịp cuối năm.\nTấm lòng của Quý Công ty đã góp phần "
        "mang lại cái Tết ấm áp cho bà con.\nKính chúc Quý Công ty ngày càng phát triển.\nTrân trọng.",
    ],
    "Phương án": [
        "I. TÌNH HÌNH\nMùa mưa năm nay dự báo đến sớm, lượng mưa lớn hơn trung bình nhiều năm; địa bàn có 12 "
        "điểm thường xuyên ngập.\nII. MỤC TIÊU\nChủ động ứng phó, bảo đảm an toàn cho người dân.\nIII. NỘI "
        "DUNG\n1. Bố trí 04 tổ xung kích tại các điểm ngập.\n2. Chuẩn bị 06 máy bơm, bao cát, áo phao.\n3. Khi "
        "có mưa lớn, các tổ có mặt trong vòng 30 phút.\nIV. PHÂN CÔNG\nChỉ huy trưởng Ban Chỉ huy trực tiếp "
        "điều hành.",
        "Để bảo đảm trật tự, an toàn cho lễ hội đường hoa, {org} xây dựng phương án như sau:\nPhương án phân "
        "luồng: cấm xe trên các tuyến trung tâm từ 18 giờ; bố trí bãi giữ xe tạm.\nPhương án y tế: 03 điểm sơ "
        "cấp cứu, 02 xe cứu thương trực.\nPhương án xử lý sự cố: lực lượng cơ động sẵn sàng khi có tình huống "
        "đông người, chen lấn.",
    ],
}


def final_set(seed: int = 2, variants: int = 3) -> list[tuple[str, str]]:
    """The honest test set: FINAL's bodies, ``variants`` fillings each."""
    rng = random.Random(seed)
    return [(_fill(body, rng), name) for name, bodies in FINAL.items() for body in bodies for _ in range(variants)]
