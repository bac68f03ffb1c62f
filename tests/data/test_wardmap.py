"""The map of a table keyed by ward codes, drawn over the ward boundaries of the reference dataset."""

from __future__ import annotations

import io
import re

import pytest

from cityai.core import identity, jobs
from cityai.data import catalog, reference, wardmap
from tests.data.test_reference import SAI_GON, import_units, mini_geojson, mini_units, write_json  # noqa: F401

BEN_THANH = "26743"


@pytest.fixture
def boundaries(tmp_path, monkeypatch):
    empty = tmp_path / "no-shared"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv(reference.SHARED_ENV, str(empty))
    folder = tmp_path / "admin-units"
    folder.mkdir()
    write_json(folder / "full_json_generated_data_vn_units_2025-01-01__00_00_00.json", mini_units())
    write_json(folder / "hcmc_wards.geojson", mini_geojson())
    return folder


def upload(platform, csv_text: str, name: str = "ds") -> tuple[str, dict]:
    with platform.system_context() as ctx:
        agency = identity.agency_create(ctx, code=f"s-{name}", name=f"Sở {name}", kind="department")
        catalog.dataset_create(ctx, name=name, owner_id=agency.id, title="Chỉ số", visibility="public")
        res = catalog.resource_create(ctx, dataset=name, name="Bảng", format="csv")
        job_id = catalog.resource_upload(ctx, resource_id=res.id, stream=io.BytesIO(csv_text.encode()),
                                         filename="t.csv").job_id
    jobs.execute(platform, job_id)
    with platform.system_context() as ctx:
        _res, version = catalog.resource_show(ctx, resource_id=res.id)
        return res.id, version.tables[0]


# ward code (leading zero dropped by a spreadsheet: 26740 has none, so use both forms), another integer column
KEYED = ("stt,ma_phuong,so_ho,pm25\n"
         f"1,{SAI_GON},120,30\n2,{SAI_GON},80,40\n3,{BEN_THANH},95,12\n4,{BEN_THANH},60,14\n")


def test_page_draws_a_choropleth_by_ward(client, platform, boundaries):
    import_units(platform, boundaries)
    rid, table = upload(platform, KEYED)
    with platform.system_context() as ctx:
        drawn = wardmap.ward_map(ctx, table)
    assert drawn["code_column"] == "ma_phuong" and drawn["value_column"] == "so_ho"
    assert drawn["matched"] == 2 and drawn["units"] == 2
    by_code = {s["code"]: s for s in drawn["shapes"]}
    assert by_code[SAI_GON]["value_text"] == "100" and by_code[BEN_THANH]["value_text"] == "77.50"  # means
    assert by_code[SAI_GON]["fill"] != by_code[BEN_THANH]["fill"]
    assert by_code[SAI_GON]["d"].startswith("M") and by_code[SAI_GON]["d"].endswith("Z")

    page = client.get(f"/data/ds/resources/{rid}")
    assert page.status_code == 200
    svg = re.search(r'<svg[^>]*data-testid="ward-map".*?</svg>', page.text, re.S).group(0)
    assert svg.count("<path") == 2 and "Sài Gòn: 100" in svg


def test_no_map_without_boundaries_or_without_ward_codes(client, platform, boundaries):
    rid, table = upload(platform, KEYED, name="truoc")
    with platform.system_context() as ctx:
        assert wardmap.boundaries_path(ctx) is None
        assert wardmap.ward_map(ctx, table) is None  # the boundaries were never imported
    assert 'data-testid="ward-map"' not in client.get(f"/data/truoc/resources/{rid}").text
    import_units(platform, boundaries)
    rid2, table2 = upload(platform, "stt,gia\n1,26740.5\n2,12\n3,99999\n", name="khong-phuong")
    with platform.system_context() as ctx:
        assert wardmap.ward_map(ctx, table2) is None  # no column is mostly ward codes
        assert wardmap.ward_map(ctx, table) is not None
    assert 'data-testid="ward-map"' not in client.get(f"/data/khong-phuong/resources/{rid2}").text


def test_counts_rows_when_there_is_no_numeric_column(platform, boundaries):
    import_units(platform, boundaries)
    _rid, table = upload(platform, f"phuong,ghi_chu\n{SAI_GON},a\n{SAI_GON},b\n{BEN_THANH},c\n", name="dem")
    with platform.system_context() as ctx:
        drawn = wardmap.ward_map(ctx, table)
    assert drawn["value_column"] is None
    assert {s["code"]: s["value_text"] for s in drawn["shapes"]} == {SAI_GON: "2", BEN_THANH: "1"}
