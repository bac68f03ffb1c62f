"""Exports of a resource's table: every format, filters, limits, permissions and formula-injection safety."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from cityai.core import identity, jobs
from cityai.core.models import AuditEntry
from cityai.data import catalog, export
from tests.conftest import login

EVIL = "=cmd|' /C calc'!A0"
CSV = (
    "ma_phuong;ten;ghi_chu;pm25;dien_thoai\n"
    f"26734;Phường Sài Gòn;\"{EVIL}\";35,5;+84 28 3829 6052\n"
    "26737;Phường Tân Định;@SUM(1+1);41;0903123456\n"
    "26740;Phường Bến Thành;-2+3;12;\n"
    "26743;Phường Cầu Ông Lãnh;bình thường;-7;\n"
).encode()


def make(platform, visibility: str, data: bytes = CSV) -> str:
    with platform.system_context() as ctx:
        agency = identity.agency_create(ctx, code=f"a{visibility}", name=f"Sở {visibility}", kind="department")
        catalog.dataset_create(ctx, name=f"ds-{visibility}", owner_id=agency.id, title="Bụi mịn",
                               visibility=visibility)
        res = catalog.resource_create(ctx, dataset=f"ds-{visibility}", name="Đo PM2.5 =x", format="csv")
        version = catalog.resource_upload(ctx, resource_id=res.id, stream=io.BytesIO(data), filename="pm25.csv")
        job_id = version.job_id
    jobs.execute(platform, job_id)
    return res.id


@pytest.fixture
def public(platform):
    return make(platform, "public")


def test_defuse_rules():
    assert export.defuse("=1+1") == "'=1+1"
    assert export.defuse("@SUM(A1)") == "'@SUM(A1)"
    assert export.defuse("+cmd") == "'+cmd"
    assert export.defuse("-2+3") == "'-2+3"
    assert export.defuse("\tx") == "'\tx"
    assert export.defuse("-5") == "-5" and export.defuse("+84 28 3829 6052") == "+84 28 3829 6052"
    assert export.defuse("Phường 1") == "Phường 1" and export.defuse("") == ""


def test_csv_export_defuses_formulas_and_keeps_everything_else(client, public):
    r = client.get(f"/api/v1/data/resources/{public}/export?format=csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and ".csv" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM for Vietnamese UTF-8
    import csv

    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["ma_phuong", "ten", "ghi_chu", "pm25", "dien_thoai"]
    assert rows[1] == ["26734", "Phường Sài Gòn", "'" + EVIL, "35.5", "+84 28 3829 6052"]
    assert rows[2][2] == "'@SUM(1+1)" and rows[3][2] == "'-2+3" and rows[4][2] == "bình thường"
    assert rows[4][3] == "-7.0" or rows[4][3] == "-7"  # a negative number stays a number
    assert r.headers["x-cityai-rows"] == "4" and r.headers["x-cityai-truncated"] == "false"
    assert r.headers["x-cityai-defused-cells"] == "3"


def test_xlsx_export_writes_text_as_strings_never_formulas(client, public):
    r = client.get(f"/api/v1/data/resources/{public}/export", params={"format": "xlsx"})
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == ["ma_phuong", "ten", "ghi_chu", "pm25", "dien_thoai"]
    assert values[1][:4] == [26734, "Phường Sài Gòn", "'" + EVIL, 35.5]
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
    assert ws["C3"].data_type == "s" and ws["C3"].value == "'@SUM(1+1)"


def test_json_and_parquet_keep_values_as_stored(client, public):
    r = client.get(f"/api/v1/data/resources/{public}/export?format=json&sort=pm25%20desc&fields=ten,ghi_chu,pm25")
    assert r.status_code == 200, r.text
    data = json.loads(r.content)
    assert [d["pm25"] for d in data] == [41, 35.5, 12, -7]
    assert data[1]["ghi_chu"] == EVIL and set(data[0]) == {"ten", "ghi_chu", "pm25"}
    r = client.get(f"/api/v1/data/resources/{public}/export?format=parquet")
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows == 4 and table.column("ghi_chu").to_pylist()[0] == EVIL


def test_filters_search_and_the_ckan_dump_url(client, public):
    r = client.get(f"/api/v1/data/resources/{public}/export",
                   params={"format": "json", "filters": json.dumps({"ma_phuong": [26734, 26740]})})
    assert [d["ma_phuong"] for d in json.loads(r.content)] == [26734, 26740]
    r = client.get(f"/api/v1/data/resources/{public}/export",
                   params={"format": "json", "q": "ben thanh", "plain_accents": "true"})
    assert [d["ten"] for d in json.loads(r.content)] == ["Phường Bến Thành"]
    # values are only values: a quote cannot end the literal they are written into
    for evil in ("x' OR 1=1 --", "Phường Sài Gòn'); COPY (SELECT 1) TO '/tmp/pwn.csv"):
        r = client.get(f"/api/v1/data/resources/{public}/export",
                       params={"format": "json", "filters": json.dumps({"ten": evil}), "q": evil})
        assert r.status_code == 200 and json.loads(r.content) == [], r.text
    dump = client.get(f"/datastore/dump/{public}")
    assert dump.status_code == 200 and dump.content.decode("utf-8-sig").splitlines()[1].startswith("26734,")


def test_row_limit_truncates_and_says_so(client, platform, public):
    platform.settings.export_max_rows = 2
    r = client.get(f"/api/v1/data/resources/{public}/export?format=json")
    assert len(json.loads(r.content)) == 2
    assert r.headers["x-cityai-truncated"] == "true" and r.headers["x-cityai-rows"] == "2"


def test_bad_requests_are_problems(client, public):
    for params, status in [({"format": "exe"}, 422), ({"fields": "nope"}, 422), ({"sort": "x; DROP"}, 422),
                           ({"filters": "[1]"}, 422)]:
        r = client.get(f"/api/v1/data/resources/{public}/export", params=params)
        assert r.status_code == status, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/data/resources/00000000-0000-0000-0000-000000000000/export").status_code == 404


def test_private_exports_need_permission_and_are_audited(client, platform, users):
    rid = make(platform, "private")
    assert client.get(f"/api/v1/data/resources/{rid}/export").status_code == 401
    assert client.get(f"/api/v1/data/resources/{rid}/export", headers=login(client, users.outsider)).status_code == 403
    # the steward of the owning agency reads it; the read is in the audit trail
    with platform.system_context() as ctx:
        agency_id = catalog.dataset_show(ctx, dataset="ds-private").owner_id
        identity.membership_set(ctx, agency_id=agency_id, user_id=users.ids[users.member], role="member")
    headers = login(client, users.member)
    r = client.get(f"/api/v1/data/resources/{rid}/export?format=xlsx", headers=headers)
    assert r.status_code == 200, r.text
    with platform.transaction() as db:
        entry = db.execute(select(AuditEntry).where(AuditEntry.action == "datastore.export",
                                                  AuditEntry.outcome == "success")).scalar_one()
    detail = json.loads(entry.detail)
    assert entry.actor == users.member and detail["format"] == "xlsx" and detail["rows"] == 4
    assert not list((platform.settings.home / "tmp").glob("export-*"))  # the temporary file is gone
