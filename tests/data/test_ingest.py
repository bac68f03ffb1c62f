"""cityai.data.ingest: every format, encoding and number/date convention into typed Parquet."""

from __future__ import annotations

import datetime as dt
import io
import json
import unicodedata
import zipfile
from pathlib import Path

import duckdb
import pytest

from cityai.data import ingest
from cityai.data.ingest import IngestError

TONES = "\u0300\u0301\u0303\u0309\u0323"

VN_CSV = ("Mã phường;Tên phường;Ngày đo;PM2.5;Dân số;Có trạm;Mã bưu chính\n"
          "26734;Phường Bến Thành;05/01/2020;1.234,5;12.345;có;070000\n"
          "26737;Phường Sài Gòn;6/1/2020;12,5;9.001;không;070100\n"
          "27007;Phường Tân Định;;;;;\n")


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Excel writes it: base letters precomposed, tone marks combining."""
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        d = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in d if c not in TONES))
        out += base.encode("cp1258") + "".join(c for c in d if c in TONES).encode("cp1258")
    return bytes(out)


def run(tmp_path: Path, name: str, data: bytes, **kw) -> ingest.IngestResult:
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / f"out-{name}"
    out.mkdir()
    return ingest.ingest(src, out, filename=name, **kw)


def rows(table: ingest.Table) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{table.path}')").fetchall()


def types(table: ingest.Table) -> dict[str, str]:
    return {c.name: c.type for c in table.columns}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-nobom", "cp1258"])
def test_csv_encodings_and_vietnamese_formats(tmp_path, encoding):
    if encoding == "cp1258":
        data = to_cp1258(VN_CSV)
    elif encoding == "utf-16-le-nobom":
        data = VN_CSV.encode("utf-16-le")
    else:
        data = VN_CSV.encode(encoding)
    result = run(tmp_path, "quan-trac.csv", data)
    assert result.encoding.replace("-nobom", "") in (encoding.replace("-nobom", ""), "utf-16-le", "utf-16")
    (t,) = result.tables
    assert t.name == "quan-trac" and t.rows == 3
    assert types(t) == {"Mã phường": "integer", "Tên phường": "text", "Ngày đo": "date", "PM2.5": "number",
                        "Dân số": "number", "Có trạm": "boolean", "Mã bưu chính": "text"}
    got = rows(t)
    assert got[0] == (26734, "Phường Bến Thành", dt.date(2020, 1, 5), 1234.5, 12345.0, True, "070000")
    assert got[1] == (26737, "Phường Sài Gòn", dt.date(2020, 1, 6), 12.5, 9001.0, False, "070100")
    assert got[2] == (27007, "Phường Tân Định", None, None, None, None, None)
    assert all(unicodedata.is_normalized("NFC", r[1]) for r in got)


def test_decomposed_unicode_is_stored_composed(tmp_path):
    text = unicodedata.normalize("NFD", "tên,ghi chú\nHòa Bình,Thủy\n")
    (t,) = run(tmp_path, "nfd.csv", text.encode()).tables
    assert [c.name for c in t.columns] == ["tên", "ghi chú"]
    assert rows(t) == [("Hòa Bình", "Thủy")] and unicodedata.is_normalized("NFC", rows(t)[0][0])


def test_english_numbers_and_iso_dates_and_timestamps(tmp_path):
    data = ("id,amount,big,when,at,flag\n"
            "1,1234.5,\"1,234,567\",2025-07-01,2025-07-01 08:30:00,true\n"
            "2,0.25,\"2,000\",2025-07-02,2025-07-02T09:00,false\n").encode()
    (t,) = run(tmp_path, "en.csv", data).tables
    assert types(t) == {"id": "integer", "amount": "number", "big": "number", "when": "date",
                        "at": "timestamp", "flag": "boolean"}
    assert rows(t)[0] == (1, 1234.5, 1234567.0, dt.date(2025, 7, 1), dt.datetime(2025, 7, 1, 8, 30), True)
    assert rows(t)[1][4] == dt.datetime(2025, 7, 2, 9, 0)


def test_ambiguous_thousands_follow_the_files_convention(tmp_path):
    english = run(tmp_path, "a.csv", b"x,y\n1.234,0.5\n2.500,1.25\n").tables[0]
    assert rows(english) == [(1.234, 0.5), (2.5, 1.25)]
    vietnamese = run(tmp_path, "b.csv", "x;y\n1.234;0,5\n2.500;1,25\n".encode()).tables[0]
    assert rows(vietnamese) == [(1234.0, 0.5), (2500.0, 1.25)]


def test_inference_never_breaks_a_load_and_falls_back_per_column(tmp_path):
    lines = ["so,ngay,ma,ghi_chu"] + [f"{i},01/02/2024,{i:05d},x" for i in range(2000)]
    lines.append("không rõ,chưa có,ABC,y")  # one bad value at the very end of the file
    (t,) = run(tmp_path, "mixed.csv", ("\n".join(lines) + "\n").encode()).tables
    assert types(t) == {"so": "text", "ngay": "text", "ma": "text", "ghi_chu": "text"}
    assert t.rows == 2001 and rows(t)[-1] == ("không rõ", "chưa có", "ABC", "y")
    assert rows(t)[0] == ("0", "01/02/2024", "00000", "x")  # codes keep their leading zeros


def test_null_tokens_and_blank_values(tmp_path):
    (t,) = run(tmp_path, "nulls.csv", b"a,b\n1,N/A\nNULL,2\n,  3 \n").tables
    assert types(t) == {"a": "integer", "b": "integer"} and rows(t) == [(1, None), (None, 2), (None, 3)]


def test_steward_overrides_win_and_report_what_did_not_fit(tmp_path):
    data = b"ma,so\n001,5\n002,x\n003,7\n"
    result = run(tmp_path, "o.csv", data, schema={"ma": "integer", "so": "integer"})
    (t,) = result.tables
    cols = {c.name: c for c in t.columns}
    assert cols["ma"].type == "integer" and cols["ma"].inferred == "text"
    assert rows(t) == [(1, 5), (2, None), (3, 7)]
    assert len(result.warnings) == 1 and "so" in result.warnings[0] and "1 values" in result.warnings[0]
    as_text = run(tmp_path, "o2.csv", b"ma,so\n1,5\n2,6\n", schema={"so": "text"}).tables[0]
    assert types(as_text) == {"ma": "integer", "so": "text"} and rows(as_text) == [(1, "5"), (2, "6")]


def test_headers_cleaned_deduplicated_and_named(tmp_path):
    (t,) = run(tmp_path, "h.csv", "Tên , tên,,\"Địa  chỉ\"\na,b,c,d\n".encode()).tables
    assert [c.name for c in t.columns] == ["Tên", "tên_2", "column_3", "Địa chỉ"]
    assert [c.source for c in t.columns] == ["Tên ", " tên", "", "Địa  chỉ"]


def test_tab_and_pipe_delimiters_and_quoted_newlines(tmp_path):
    (t,) = run(tmp_path, "t.tsv", b"a\tb\n1\t\"x\ny\"\n").tables
    assert rows(t) == [(1, "x\ny")]
    (p,) = run(tmp_path, "p.csv", b"a|b|c\n1|2|3\n4|5|6\n").tables
    assert rows(p) == [(1, 2, 3), (4, 5, 6)]


@pytest.mark.parametrize("body, needle", [
    (b"a,b\n1,2\n3,4,5\n", "line 3"),
    (b"a,b\n1,2\n\"x,3\n", "line 3"),
    (b"a,b\n1,2\n3\n", "line 3"),
    (b"a,b\n1,\x00\x00\x00\n", "NUL"),
])
def test_broken_csv_is_a_clear_error(tmp_path, body, needle):
    with pytest.raises(IngestError) as exc:
        run(tmp_path, "bad.csv", body)
    assert needle in exc.value.en and exc.value.vi


def test_empty_and_unknown_files(tmp_path):
    with pytest.raises(IngestError, match="empty"):
        run(tmp_path, "e.csv", b"")
    with pytest.raises(IngestError, match="not supported"):
        run(tmp_path, "x.docx", b"hello")
    with pytest.raises(IngestError, match=r"\.xls"):
        run(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    with pytest.raises(IngestError, match="not PARQUET"):
        run(tmp_path, "fake.parquet", b"a,b\n1,2\n")


def _xlsx(sheets: dict[str, list[list]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, data in sheets.items():
        ws = wb.create_sheet(title)
        for row in data:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_every_sheet_is_a_table(tmp_path):
    data = _xlsx({
        "Chất lượng không khí": [["Trạm", "Ngày", "PM2.5", "Vượt ngưỡng"],
                                 ["Quận 1", dt.datetime(2025, 7, 1), 35.5, True],
                                 ["Thủ Đức", dt.datetime(2025, 7, 2), 41, False],
                                 [None, None, None, None]],
        "Trống": [],
        "Mã": [["ma", "ten"], ["001", "Một"], ["010", "Mười"]],
    })
    result = run(tmp_path, "book.xlsx", data)
    assert [t.name for t in result.tables] == ["Chất lượng không khí", "Mã"]
    air, codes = result.tables
    assert types(air) == {"Trạm": "text", "Ngày": "date", "PM2.5": "number", "Vượt ngưỡng": "boolean"}
    assert rows(air) == [("Quận 1", dt.date(2025, 7, 1), 35.5, True), ("Thủ Đức", dt.date(2025, 7, 2), 41.0, False)]
    assert rows(codes) == [("001", "Một"), ("010", "Mười")]
    assert any("Trống" in w for w in result.warnings)


def test_xlsx_corrupt_truncated_and_zip_bomb(tmp_path):
    good = _xlsx({"A": [["a"], [1]]})
    with pytest.raises(IngestError, match="corrupt or truncated"):
        run(tmp_path, "cut.xlsx", good[: len(good) // 2])
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (40 * 1024 * 1024))
    with pytest.raises(IngestError, match="zip bomb"):
        run(tmp_path, "bomb.xlsx", bomb.getvalue())
    with pytest.raises(IngestError, match="cannot be opened"):
        not_a_book = io.BytesIO()
        with zipfile.ZipFile(not_a_book, "w") as zf:
            zf.writestr("hello.txt", "hi")
        run(tmp_path, "zip.xlsx", not_a_book.getvalue())


def test_json_shapes(tmp_path):
    records = [{"ma": 1, "ten": "Bến Thành", "chi_tiet": {"dien_tich": 0.93}}, {"ma": 2, "ten": "Sài Gòn",
                                                                             "them": True}]
    for name, body in [("arr.json", json.dumps(records)),
                       ("nd.jsonl", "\n".join(json.dumps(r) for r in records) + "\n"),
                       ("wrapped.json", json.dumps({"total": 2, "data": records}))]:
        (t,) = run(tmp_path, name, body.encode()).tables
        assert [c.name for c in t.columns] == ["ma", "ten", "chi_tiet", "them"], name
        assert types(t)["ma"] == "integer" and types(t)["them"] == "boolean"
        got = rows(t)
        assert got[0][:2] == (1, "Bến Thành") and json.loads(got[0][2]) == {"dien_tich": 0.93}
        assert got[1][3] is True and got[0][3] is None
    with pytest.raises(IngestError, match="Invalid JSON at line 1"):
        run(tmp_path, "bad.json", b'[{"a": 1}, {"a": ')
    with pytest.raises(IngestError, match="not a JSON object"):
        run(tmp_path, "scalars.json", b"[1, 2, 3]")


def test_geojson_properties_and_geometry(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ma": "26734", "ten": "Phường Bến Thành", "dan_so": 20000},
         "geometry": {"type": "Point", "coordinates": [106.698, 10.772]}},
        {"type": "Feature", "properties": {"ma": "26737", "ten": "Phường Sài Gòn", "dan_so": 18000},
         "geometry": {"type": "Polygon", "coordinates": [[[106.7, 10.78], [106.71, 10.78], [106.7, 10.79],
                                                          [106.7, 10.78]]]}}]}
    (t,) = run(tmp_path, "phuong.geojson", json.dumps(fc, ensure_ascii=False).encode()).tables
    assert types(t) == {"ma": "integer", "ten": "text", "dan_so": "integer", "geometry": "geometry"}
    got = rows(t)
    assert json.loads(got[0][3]) == {"type": "Point", "coordinates": [106.698, 10.772]}
    # Detected from the content too, whatever the extension.
    assert types(run(tmp_path, "p.json", json.dumps(fc).encode()).tables[0])["geometry"] == "geometry"
    with pytest.raises(IngestError, match="not a Feature"):
        run(tmp_path, "x.geojson", b'{"type": "FeatureCollection", "features": [1]}')


def test_parquet_keeps_types_and_infers_text(tmp_path):
    src = tmp_path / "in.parquet"
    duckdb.sql(f"""COPY (SELECT 1::INTEGER AS i, 2.5::DOUBLE AS d, DATE '2025-01-02' AS day, true AS b,
                  '1.234,5' AS vn, 'x' AS s, [1, 2] AS l) TO '{src}' (FORMAT parquet)""")
    (t,) = run(tmp_path, "copy.parquet", src.read_bytes()).tables
    assert types(t) == {"i": "integer", "d": "number", "day": "date", "b": "boolean", "vn": "number", "s": "text",
                        "l": "text"}
    assert rows(t) == [(1, 2.5, dt.date(2025, 1, 2), True, 1234.5, "x", "[1,2]")]
    data = src.read_bytes()
    with pytest.raises(IngestError, match="truncated or corrupt"):
        run(tmp_path, "cut.parquet", data[:-10])


def test_progress_is_reported_to_the_end(tmp_path):
    seen: list[tuple[float, str]] = []
    run(tmp_path, "p.csv", ("a,b\n" + "1,2\n" * 5000).encode(), progress=lambda pct, msg: seen.append((pct, msg)))
    pcts = [p for p, _m in seen]
    assert pcts == sorted(pcts) and pcts[-1] == 100 and len(seen) >= 3


def test_large_file_is_transcoded_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "CHUNK_CHARS", 1024)  # many chunks, combining marks across chunk edges
    line = unicodedata.normalize("NFD", "Phường Thủ Đức,1.234,5\n")
    body = "ten,so1,so2\n" + line * 3000
    (t,) = run(tmp_path, "big.csv", to_cp1258(unicodedata.normalize("NFC", body))).tables
    assert t.rows == 3000 and set(rows(t)) == {("Phường Thủ Đức", 1.234, 5)}


def test_profile_counts_nulls_distinct_ranges_and_histograms(tmp_path):
    body = "ma;pm25;ngay;ten;co\n" + "".join(
        f"{i};{i % 50},5;{i % 28 + 1:02d}/07/2025;{'Bến Thành' if i % 3 else 'Sài Gòn'};{'có' if i % 2 else 'không'}\n"
        for i in range(1, 201)) + "201;;;;\n"
    (t,) = run(tmp_path, "p.csv", body.encode()).tables
    prof = t.profile
    assert prof["rows"] == 201
    ma, pm, ngay, ten, co = (prof["columns"][k] for k in ("ma", "pm25", "ngay", "ten", "co"))
    assert (ma["min"], ma["max"], ma["nulls"]) == (1, 201, 0)
    assert abs(ma["distinct"] - 201) <= 10  # HyperLogLog: approximate by design
    assert pm["nulls"] == 1 and pm["min"] == 0.5 and pm["max"] == 49.5 and len(pm["histogram"]) == 10
    assert sum(b["count"] for b in pm["histogram"]) == 200
    assert ngay["min"] == "2025-07-01" and ngay["max"] == "2025-07-28" and ngay["histogram"][0]["unit"] == "day"
    assert sum(b["count"] for b in ngay["histogram"]) == 200
    assert ten["top"][0] == {"value": "Bến Thành", "count": 134} and ten["nulls"] == 1
    assert (co["true"], co["false"], co["nulls"]) == (100, 100, 1)
