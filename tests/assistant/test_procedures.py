"""Reading procedure records: the national portal's flattened tables cut back into channels, fees, documents
and legal bases; CityAI's own records checked; unknown sections stay empty (never guessed)."""

from __future__ import annotations

import gzip
import json

import pytest

from cityai.assistant import procedures as proc

# A record in the portal's shape (its tables flattened without separators), written for this test.
PORTAL = {
    "ma_thu_tuc": "9.999001", "ten_thu_tuc": "Cấp giấy phép thử nghiệm (thực hiện tại cấp tỉnh)",
    "cap_thuc_hien": "Cấp tỉnh", "linh_vuc": "Thử nghiệm", "doi_tuong_thuc_hien": "Công dân Việt Nam, Doanh nghiệp",
    "co_quan_thuc_hien": "Sở Thử nghiệm", "co_quan_co_tham_quyen": "", "dia_chi_tiep_nhan": "",
    "cach_thuc_thuc_hien": "Hình thức nộpThời gianPhí, lệ phíMô tảTrực tiếp15 Ngày làm việcLệ phí50,000 Việt Nam "
                           "Đồng(Nộp khi nhận kết quả)Trường hợp hồ sơ đầy đủTrực tuyến10 Ngày làm việcMiễn phí"
                           "Dịch vụ bưu chínhKhông có thông tinKhông có thông tin",
    "thanh_phan_ho_so": "--Tên giấy tờMẫu đơn, tờ khaiSố lượngĐơn đề nghị theo Mẫu số 01Mau01.docx1 bản chính"
                        "Bản sao Giấy chứng nhận đăng ký doanh nghiệp0 bản chính,1 bản sao",
    "can_cu_phap_ly": "Tên văn bản pháp lýMã văn bảnLuật Thử nghiệm 01/2020/QH1401/2020/QH14Nghị định hướng dẫn"
                      "02/2021/NĐ-CP",
    "trinh_tu_thuc_hien": "Bước 1: Nộp hồ sơ.\nBước 2: Sở thẩm định.\n\nBước 3: Trả kết quả.",
    "yeu_cau_dieu_kien": "Không có thông tin",
    "ket_qua_xu_ly": "Giấy phép thử nghiệmMã: KQ.G01.000001Từ khóaKhông có thông tinMô tảKhông có thông tin",
    "detail_url": "https://dichvucong.gov.vn/x", "so_quyet_dinh": "", "loai_thu_tuc": "",
}


def test_portal_tables_are_cut_into_rows():
    rec = proc.to_record(PORTAL)
    assert rec["code"] == "9.999001" and rec["level"] == "Cấp tỉnh" and rec["agency"] == "Sở Thử nghiệm"
    channels = {c["channel"]: c for c in rec["channels"]}
    assert set(channels) == {"Trực tiếp", "Trực tuyến", "Dịch vụ bưu chính"}
    direct = channels["Trực tiếp"]
    assert direct["time"] == "15 Ngày làm việc"
    assert direct["fees"] == [{"text": "50,000 Việt Nam Đồng", "amount": 50000, "note": "Nộp khi nhận kết quả",
                               "free": False}]
    assert direct["description"] == "Trường hợp hồ sơ đầy đủ"
    fees = [f for c in rec["channels"] for f in c["fees"]]
    assert any(f.get("free") for f in channels["Trực tuyến"]["fees"])
    assert channels["Dịch vụ bưu chính"]["time"] == "" and not [f for f in channels["Dịch vụ bưu chính"]["fees"]
                                                              if f["text"]]
    assert all(f["amount"] in (None, 50000) for f in fees)
    docs = rec["documents"][0]["items"]
    assert [d["quantity"] for d in docs] == ["1 bản chính", "0 bản chính, 1 bản sao"]
    assert docs[0]["name"] == "Đơn đề nghị theo Mẫu số 01" and docs[0]["form"] == "Mau01.docx"
    assert {"name": "Luật Thử nghiệm 01/2020/QH14", "code": "01/2020/QH14"} in rec["legal"]
    assert any(x["code"] == "02/2021/NĐ-CP" for x in rec["legal"])
    assert rec["steps"] == ["Bước 1: Nộp hồ sơ.", "Bước 2: Sở thẩm định.", "Bước 3: Trả kết quả."]
    assert rec["conditions"] == "" and rec["results"] == ["Giấy phép thử nghiệm"]


def test_a_fee_with_its_amount_and_note():
    rows = proc.parse_channels("Hình thức nộpThời gianPhí, lệ phíMô tảTrực tiếp5 Ngày1,000,000 Việt Nam Đồng"
                               "(Lệ phí cấp mới)Nộp tại Sở")
    assert rows == [{"channel": "Trực tiếp", "time": "5 Ngày",
                     "fees": [{"text": "1,000,000 Việt Nam Đồng", "amount": 1_000_000, "note": "Lệ phí cấp mới",
                               "free": False}],
                     "description": "Nộp tại Sở"}]
    assert proc.fee_lines({"channels": rows}) == ["Trực tiếp: 1,000,000 Việt Nam Đồng (Lệ phí cấp mới)"]


def test_channel_words_inside_descriptions_do_not_start_rows():
    rows = proc.parse_channels("Hình thức nộpThời gianPhí, lệ phíMô tảTrực tiếp3 Ngày làm việcMiễn phíTrực tiếp: "
                               "nộp hồ sơ trực tiếp tại Bộ phận Một cửa")
    assert len(rows) == 1 and "Trực tiếp: nộp hồ sơ" in rows[0]["description"]


def test_unstated_sections_stay_empty():
    rec = proc.to_record({"code": "X-1", "name": "Thủ tục không ghi phí"})
    for section in ("fee", "time", "documents", "steps", "legal", "conditions", "results"):
        assert proc.section_lines(rec, section) == [], section
    assert proc.section_lines(rec, "overview") == ["Thủ tục không ghi phí"]


@pytest.mark.parametrize("bad, field", [
    ({"name": "x"}, "code"), ({"code": "A", "name": "x", "level": 3}, "level"),
    ({"code": "A", "name": "x", "channels": "nope"}, "channels"),
    ({"code": "A", "name": "x", "channels": [{"fees": [{"amount": -5}]}]}, "amount"),
    ({"code": "A", "name": "x", "steps": [1, 2]}, "steps"), ("not an object", "object"),
])
def test_bad_records_are_refused_with_the_field(bad, field):
    with pytest.raises(proc.ProcedureError) as err:
        proc.to_record(bad)
    assert field in str(err.value)


def test_variants_share_a_base_name():
    assert proc.base_name("Cấp bản sao trích lục hộ tịch (thực hiện tại cấp xã)") == \
        proc.base_name("Cấp bản sao trích lục hộ tịch (thực hiện tại cấp tỉnh)")
    assert proc.base_name("Đăng ký khai sinh") != proc.base_name("Đăng ký khai tử")


def test_files_of_each_shape_are_read(tmp_path):
    recs = [{"code": "A", "name": "Một"}, {"code": "B", "name": "Hai"}]
    (tmp_path / "a.json").write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n\n", encoding="utf-8")
    with gzip.open(tmp_path / "c.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(PORTAL, ensure_ascii=False) + "\n")
    assert [r["code"] for r in proc.read_file(tmp_path / "a.json")] == ["A", "B"]
    assert [r["code"] for r in proc.read_file(tmp_path / "b.jsonl")] == ["A", "B"]
    assert [proc.to_record(r)["code"] for r in proc.read_file(tmp_path / "c.jsonl.gz")] == ["9.999001"]


def test_demo_records_are_complete():
    from cityai.assistant.demo import builtin

    data = builtin()
    recs = [proc.to_record(r) for r in data["procedures"]]
    assert len(recs) >= 10 and len({r["code"] for r in recs}) == len(recs)
    for r in recs:
        assert r["steps"] and r["documents"] and r["legal"] and r["level"], r["code"]
