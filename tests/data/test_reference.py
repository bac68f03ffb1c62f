"""Reference data: the built-in administrative-units list and its lookups, the audited import into the
catalog (from a folder shaped like the shared one, or from the built-in list), idempotency, the
``cityai data import-admin-units`` command, and the data module's idempotent demo datasets.

Every file the tests read is a small fixture written here: nothing needs ../shared.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cityai.core.context import Actor
from cityai.core.errors import Problem
from cityai.core.models import Agency, AuditEntry, User
from cityai.data import catalog, datastore, reference
from cityai.data.models import Dataset, Resource, ResourceVersion

SAI_GON = "26740"


def _ward(code: str, name: str, kind: str, name_en: str) -> dict:
    short = {"Phường": "Ward", "Xã": "Commune", "Đặc khu": "Special zone"}[kind]
    return {"Type": "ward", "Code": code, "Name": name, "NameEn": name_en, "FullName": f"{kind} {name}",
            "FullNameEn": f"{name_en} {short}", "CodeName": name_en.lower().replace(" ", "_"),
            "ProvinceCode": "79", "AdministrativeUnitId": 3, "AdministrativeUnitShortName": kind,
            "AdministrativeUnitFullName": kind, "AdministrativeUnitShortNameEn": short,
            "AdministrativeUnitFullNameEn": short}


def mini_units() -> list[dict]:
    """Two provinces and four HCMC units, in the shape of full_json_generated_data_vn_units_*.json."""
    hanoi = {"Type": "province", "Code": "01", "Name": "Hà Nội", "NameEn": "Hanoi",
             "FullName": "Thành phố Hà Nội", "FullNameEn": "Hanoi City", "CodeName": "ha_noi",
             "AdministrativeUnitId": 1,
             "AdministrativeUnitShortName": "Thành phố", "Wards": [
                 {**_ward("00004", "Ba Đình", "Phường", "Ba Dinh"), "ProvinceCode": "01"}]}
    hcmc = {"Type": "province", "Code": "79", "Name": "Hồ Chí Minh", "NameEn": "Ho Chi Minh",
            "FullName": "Thành phố Hồ Chí Minh", "FullNameEn": "Ho Chi Minh City", "CodeName": "ho_chi_minh",
            "AdministrativeUnitId": 1, "AdministrativeUnitShortName": "Thành phố", "Wards": [
                _ward(SAI_GON, "Sài Gòn", "Phường", "Sai Gon"),
                _ward("26743", "Bến Thành", "Phường", "Ben Thanh"),
                _ward("27676", "Thạnh An", "Xã", "Thanh An"),
                _ward("26732", "Côn Đảo", "Đặc khu", "Con Dao")]}
    return [hanoi, hcmc]


def _square(x: float, y: float) -> dict:
    ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
    return {"type": "MultiPolygon", "coordinates": [[ring]]}


def mini_geojson() -> dict:
    """Two ward polygons, in the shape of hcmc_wards.geojson."""
    feats = []
    for code, name, name_en, x in ((SAI_GON, "Sài Gòn", "Sai Gon", 106.70),
                                   ("26743", "Bến Thành", "Ben Thanh", 106.69)):
        props = {"code": code, "name": name, "nameEn": name_en, "fullName": f"Phường {name}",
                 "fullNameEn": f"{name_en} Ward", "codeName": name_en.lower().replace(" ", "_"),
                 "gisServerId": "x", "areaKm2": 1.5, "source_file": f"{code}.geojson"}
        feats.append({"type": "Feature", "id": code, "bbox": [x, 10.77, x + 0.01, 10.78],
                      "geometry": _square(x, 10.77), "properties": props})
    return {"type": "FeatureCollection", "bbox": [106.69, 10.77, 106.71, 10.78], "features": feats}


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def admin_dir(tmp_path) -> Path:
    folder = tmp_path / "admin-units"
    folder.mkdir()
    write_json(folder / "full_json_generated_data_vn_units_2025-01-01__00_00_00.json", mini_units())
    write_json(folder / "hcmc_wards.geojson", mini_geojson())
    return folder


@pytest.fixture(autouse=True)
def no_shared_data(tmp_path, monkeypatch) -> Path:
    """Point the shared-data lookup at an empty folder, so that no test depends on ../shared."""
    empty = tmp_path / "no-shared"
    empty.mkdir()
    monkeypatch.setenv(reference.SHARED_ENV, str(empty))
    return empty


def actor_for(platform, email: str) -> Actor:
    with platform.transaction() as db:
        user = db.execute(select(User).where(User.email == email)).scalar_one()
        return Actor.for_user(user, kind="web")


def import_units(platform, source: Path | None) -> dict:
    with platform.system_context() as ctx:
        return reference.import_admin_units(ctx, source=str(source) if source else None)


def versions(platform, dataset: str) -> dict[str, int]:
    """Resource name -> number of versions."""
    with platform.transaction() as db:
        ds = db.execute(select(Dataset).where(Dataset.name == dataset)).scalar_one()
        rows = db.execute(select(Resource.name, func.count(ResourceVersion.id)).join(
            ResourceVersion, ResourceVersion.resource_id == Resource.id).where(Resource.dataset_id == ds.id)
            .group_by(Resource.name)).all()
    return dict(rows)


def search(platform, resource_id: str, **kw) -> dict:
    with platform.unit_of_work(Actor.anonymous(), write=False) as ctx:
        return datastore.datastore_search(ctx, resource_id=resource_id, **kw)


# ------------------------------------------------------------------ the built-in list and lookups


def test_builtin_list_has_the_34_provinces_and_168_hcmc_units():
    assert len(reference.provinces()) == 34
    units = reference.wards()
    assert len(units) == 168 and len({u["code"] for u in units}) == 168
    kinds = {k: sum(u["type"] == k for u in units) for k in ("phường", "xã", "đặc khu")}
    assert kinds == {"phường": 113, "xã": 54, "đặc khu": 1}
    assert all(u["province_code"] == "79" and len(u["code"]) == 5 and u["code"].isdigit() for u in units)
    assert reference.province_by_code("79")["slug"] == "ho-chi-minh"
    assert all(p["slug"].isascii() for p in reference.provinces())
    text = reference.BUILTIN_PATH.read_text(encoding="utf-8")
    assert "coordinates" not in text and len(text) < 64_000  # names and codes only, no boundaries


def test_lookups_by_code_and_by_name():
    assert reference.ward_by_code(SAI_GON)["full_name"] == "Phường Sài Gòn"
    assert reference.ward_by_code(26740)["code"] == SAI_GON
    assert reference.ward_by_code("99999") is None and reference.ward_by_code(None) is None
    assert reference.is_ward_code(SAI_GON) and not reference.is_ward_code("00004")
    for name in ("Phường Sài Gòn", "phuong sai gon", "PHƯỜNG SÀI GÒN", "P. Sài Gòn", "P.Sai Gon", "p sai gon",
                 "Sài Gòn", "sai gon", "Phường Sài Gòn, Quận 1", "Phường Sài Gòn (Quận 1 cũ)",
                 "Phuong Sai Gon - Quan 1", unicodedata.normalize("NFD", "Phường Sài Gòn")):
        assert (reference.find_ward(name) or {}).get("code") == SAI_GON, name
    assert reference.find_ward("ĐK Côn Đảo")["type"] == "đặc khu"
    assert reference.find_ward("dac khu con dao")["code"] == "26732"
    # "Xã Thạnh An" and "Xã Thanh An" differ by one mark: exact text decides, folded text is ambiguous
    assert reference.find_ward("Xã Thạnh An")["code"] == "27676"
    assert reference.find_ward("xa thanh an") is None and len(reference.find_wards("xa thanh an")) == 2
    assert reference.find_ward("Phường 1, Quận 3") is None and reference.find_ward("") is None
    assert reference.find_province("TP. Hồ Chí Minh")["code"] == "79"
    assert reference.find_province("thanh hoa")["code"] == reference.find_province("Thanh Hóa")["code"]
    w = reference.ward_by_code(SAI_GON)
    w["name"] = "changed"  # callers get copies
    assert reference.ward_by_code(SAI_GON)["name"] == "Sài Gòn"


def test_units_from_full_json_match_the_builtin_shape():
    units = reference.units_from_full_json(mini_units())
    assert [p["code"] for p in units["provinces"]] == ["01", "79"]
    assert [u["code"] for u in units["hcmc_wards"]] == ["26732", SAI_GON, "26743", "27676"]
    builtin = reference.builtin_units()
    assert set(units["hcmc_wards"][0]) == set(builtin["hcmc_wards"][0])
    assert set(units["provinces"][0]) == set(builtin["provinces"][0])
    assert json.loads(reference.dump_units(units)) == units


# ------------------------------------------------------------------ the import


def test_import_from_a_folder_loads_tables_and_boundaries_once(platform, admin_dir):
    first = import_units(platform, admin_dir)
    assert (first["provinces"], first["wards"], first["boundaries"]) == (2, 4, 2)
    assert first["created"] and len(first["published"]) == 3 and first["unchanged"] == []
    with platform.transaction() as db:
        ds = db.execute(select(Dataset).where(Dataset.name == reference.DATASET_NAME)).scalar_one()
        owner = db.get(Agency, ds.owner_id)
        assert ds.visibility == "public" and owner.code == "hcmc" and ds.title_en.startswith("Administrative")
    # the ward table is queryable through the datastore, by code and by unaccented text
    wards_id = first["resources"][reference.RES_WARDS]
    found = search(platform, wards_id, filters={"code": SAI_GON})
    assert found["total"] == 1 and found["records"][0]["full_name"] == "Phường Sài Gòn"
    assert {f["id"]: f["type"] for f in found["fields"]}["code"] == "text"
    assert search(platform, wards_id, q="phuong sai gon", plain_accents=True)["records"][0]["code"] == SAI_GON
    provinces = search(platform, first["resources"][reference.RES_PROVINCES], filters={"code": "01"})
    assert provinces["records"][0]["slug"] == "ha-noi"
    shapes = search(platform, first["resources"][reference.RES_BOUNDARIES], filters={"code": SAI_GON})
    assert {f["id"]: f["type"] for f in shapes["fields"]}["geometry"] == "geometry"
    assert json.loads(shapes["records"][0]["geometry"])["type"] == "MultiPolygon"

    second = import_units(platform, admin_dir)
    assert not second["created"] and second["published"] == [] and len(second["unchanged"]) == 3
    assert second["resources"] == first["resources"]
    assert set(versions(platform, reference.DATASET_NAME).values()) == {1}
    with platform.transaction() as db:
        assert db.execute(select(func.count()).select_from(Dataset)).scalar_one() == 1
        entries = db.execute(select(AuditEntry).where(AuditEntry.action == "reference.import_admin_units")
                             .order_by(AuditEntry.seq)).scalars().all()
    # The unchanged second import wrote nothing, so it leaves no audit entry either.
    assert len(entries) == 1 and entries[0].outcome == "success" and entries[0].actor == "system"


def test_changed_content_publishes_only_that_table(platform, admin_dir):
    import_units(platform, admin_dir)
    units = mini_units()
    units[1]["Wards"][0]["Name"] = units[1]["Wards"][0]["FullName"] = "Phường Sài Gòn Mới"
    write_json(next(admin_dir.glob("full_json_*.json")), units)
    again = import_units(platform, admin_dir)
    assert again["published"] == [reference.RES_WARDS]
    assert versions(platform, reference.DATASET_NAME) == {reference.RES_PROVINCES: 1, reference.RES_WARDS: 2,
                                                         reference.RES_BOUNDARIES: 1}
    found = search(platform, again["resources"][reference.RES_WARDS], filters={"code": SAI_GON})
    assert found["records"][0]["name"] == "Phường Sài Gòn Mới"


def test_builtin_fallback_without_a_folder(platform, tmp_path):
    summary = import_units(platform, None)
    assert (summary["provinces"], summary["wards"], summary["boundaries"]) == (34, 168, None)
    assert summary["source"] == "builtin"
    assert set(summary["resources"]) == {reference.RES_PROVINCES, reference.RES_WARDS}
    assert search(platform, summary["resources"][reference.RES_WARDS], limit=0)["total"] == 168
    assert any("no boundaries" in line for line in reference.summary_lines(summary))
    # a folder with only the boundaries: the tables (same built-in list) stay, the boundaries are added
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    write_json(shapes / "hcmc_wards.geojson", mini_geojson())
    more = import_units(platform, shapes)
    assert more["published"] == [reference.RES_BOUNDARIES] and more["boundaries"] == 2
    with pytest.raises(Problem) as exc:
        import_units(platform, tmp_path / "missing")
    assert exc.value.status == 422


def test_non_sysadmins_are_refused_and_audited(platform, users, admin_dir):
    for email in (users.admin, users.member):
        with pytest.raises(Problem) as exc:
            with platform.unit_of_work(actor_for(platform, email)) as ctx:
                reference.import_admin_units(ctx, source=str(admin_dir))
        assert exc.value.status == 403
    with pytest.raises(Problem) as exc:
        with platform.unit_of_work(Actor.anonymous()) as ctx:
            reference.import_admin_units(ctx)
    assert exc.value.status == 401
    with platform.transaction() as db:
        denied = db.execute(select(AuditEntry).where(
            AuditEntry.action == "reference.import_admin_units")).scalars().all()
        assert db.execute(select(func.count()).select_from(Dataset)).scalar_one() == 0
    assert [(e.outcome, e.actor) for e in denied] == [("denied", users.admin), ("denied", users.member),
                                                      ("denied", "anonymous")]
    with platform.unit_of_work(actor_for(platform, users.sysadmin)) as ctx:  # a sysadmin user may
        assert reference.import_admin_units(ctx, source=str(admin_dir))["wards"] == 4


def _cli_env(settings) -> dict[str, str]:
    return {"CITYAI_HOME": str(settings.home), "CITYAI_DATABASE_URL": settings.effective_database_url,
            "CITYAI_SECRET_KEY": "test-secret", "CITYAI_QUEUE_URL": settings.effective_queue_url,
            "CITYAI_LOG_JSON": "false"}


def test_cli_imports_from_a_folder_or_the_builtin_list(platform, settings, admin_dir):
    def run(*args: str):
        return CliRunner().invoke(reference.import_admin_units_cmd, list(args), env=_cli_env(settings))

    result = run()
    assert result.exit_code == 0, result.output
    assert "built-in list, without boundaries" in result.output
    assert "34 tỉnh" in result.output and "168 phường" in result.output
    result = run(str(admin_dir))
    assert result.exit_code == 0, result.output
    assert "2 ranh giới" in result.output and "new versions: 3" in result.output  # mini tables replace it
    result = run(str(admin_dir))
    assert result.exit_code == 0 and "new versions: 0; không đổi / unchanged: 3" in result.output
    assert run(str(admin_dir / "nope")).exit_code == 2
    from cityai.data.cli import data_group

    assert "import-admin-units" in data_group.commands


# ------------------------------------------------------------------ the demo


@pytest.fixture
def shared_dir(tmp_path, admin_dir) -> Path:
    """A miniature ../shared/data: the admin units above and one AQI file in IQAir's shape."""
    root = admin_dir.parent
    aqi = root / "aqi-hcmc"
    aqi.mkdir()
    lines = ["timestamp,city,aqi,weather_icon,wind_speed,humidity,temperature,pm25,pm10,o3,no2,so2,co"]
    for h in range(30):
        lines.append(f"2025-02-{5 + h // 24:02d}T{h % 24:02d}:01:11.450460+07:00,Hồ Chí Minh,{60 + h},/x.svg,"
                     f"13.0 km/h,69%,26.{h % 10}°C,{15 + h / 2},N/A,N/A,N/A,N/A,N/A")
    (aqi / "aqi_ho-chi-minh-city_2025_feb.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def demo_state(platform) -> dict[str, tuple[str, str, str]]:
    with platform.transaction() as db:
        rows = db.execute(select(Dataset.name, Dataset.id, Dataset.visibility, Agency.code)
                          .join(Agency, Agency.id == Dataset.owner_id)).all()
    return {name: (ds_id, vis, owner) for name, ds_id, vis, owner in rows}


def test_load_demo_is_idempotent_with_the_intended_visibility(platform):
    with platform.system_context() as ctx:
        lines = reference.load_demo(ctx, shared=None)
    assert not any("@" in line for line in lines)  # the CLI would take those for logins
    state = demo_state(platform)
    assert {n: (v, o) for n, (_i, v, o) in state.items()} == {
        "don-vi-hanh-chinh": ("public", "hcmc"), "chat-luong-khong-khi-tphcm": ("public", "snnmt"),
        "co-so-kham-chua-benh": ("shared", "syt"), "giay-phep-xay-dung": ("private", "sxd")}
    counts = {name: versions(platform, name) for name in state}
    with platform.transaction() as db:
        aqi = db.execute(select(Dataset).where(Dataset.name == "chat-luong-khong-khi-tphcm")).scalar_one()
        assert aqi.license_id == "CC-BY-4.0" and aqi.theme and aqi.frequency and aqi.tags
        assert aqi.contact_name and aqi.contact_email and aqi.spatial == ["79"]
        assert aqi.temporal_start == "2025-03-01" and aqi.extras["source"] == "generated sample"
        health = db.execute(select(Dataset).where(Dataset.name == "co-so-kham-chua-benh")).scalar_one()
        assert health.spatial and all(reference.is_ward_code(c) for c in health.spatial) and health.title_en

    with platform.system_context() as ctx:
        again = reference.load_demo(ctx, shared=None)
    assert demo_state(platform) == state and {n: versions(platform, n) for n in state} == counts
    assert all("1 phiên bản mới" not in line for line in again[1:])
    with platform.unit_of_work(Actor.anonymous(), write=False) as ctx:
        seen = sorted(d.name for d in catalog.dataset_search(ctx, limit=50)["results"])
    assert seen == ["chat-luong-khong-khi-tphcm", "don-vi-hanh-chinh"]


def test_demo_hook_with_shared_files_and_access(platform, shared_dir, no_shared_data, monkeypatch):
    """The whole `cityai demo load` hook chain (core demo + this module), twice, reading the shared files."""
    from cityai.core.hooks import collect

    monkeypatch.setenv(reference.SHARED_ENV, str(shared_dir))
    with platform.system_context() as ctx:
        first = collect(platform.pm.hook.cityai_demo(ctx=ctx))
    with platform.system_context() as ctx:
        second = collect(platform.pm.hook.cityai_demo(ctx=ctx))
    assert any("@" in line for line in first) and not any("@" in line for line in second)
    assert any("30 giờ" in line and "IQAir" in line for line in first)
    assert any("2 ranh giới" in line for line in first)
    state = demo_state(platform)
    assert len(state) == 4 and versions(platform, "don-vi-hanh-chinh") == {
        reference.RES_PROVINCES: 1, reference.RES_WARDS: 1, reference.RES_BOUNDARIES: 1}
    with platform.transaction() as db:
        aqi = db.execute(select(Dataset).where(Dataset.name == "chat-luong-khong-khi-tphcm")).scalar_one()
        hourly = next(r.id for r in aqi.resources if "giờ" in r.name)
        assert aqi.temporal_start == "2025-02-05" and aqi.temporal_end == "2025-02-06"
    rows = search(platform, hourly, sort="timestamp asc", limit=2)
    assert rows["total"] == 30 and rows["records"][0]["aqi"] == 60
    assert rows["records"][0]["wind_speed_kmh"] == 13.0 and rows["records"][0]["humidity_pct"] == 69
    assert {f["id"]: f["type"] for f in rows["fields"]}["pm10"] == "number"
    # shared: the health department's members read it, another department's do not; private stays private
    member = actor_for(platform, "thanhvien.syt@cityai.local")
    with platform.unit_of_work(member, write=False) as ctx:
        assert catalog.dataset_show(ctx, dataset="co-so-kham-chua-benh").visibility == "shared"
        seen = {d.name for d in catalog.dataset_search(ctx, limit=50)["results"]}
    assert "co-so-kham-chua-benh" in seen and "giay-phep-xay-dung" not in seen
    with pytest.raises(Problem) as exc:
        with platform.unit_of_work(actor_for(platform, "bientap.skhcn@cityai.local"), write=False) as ctx:
            catalog.dataset_show(ctx, dataset="giay-phep-xay-dung")
    assert exc.value.status == 403


def test_json_routes(app, client):
    """The lookup routes (the lead wires ``reference.router`` into the app; included here for the test)."""
    if not any(getattr(r, "path", "") == "/api/v1/reference/wards" for r in app.routes):
        app.include_router(reference.router)
    r = client.get("/api/v1/reference/wards", params={"q": "sai gon", "limit": 5})
    assert r.status_code == 200 and r.json()["items"][0]["code"] == SAI_GON
    assert client.get("/api/v1/reference/wards").json()["total"] == 168
    assert client.get(f"/api/v1/reference/wards/{SAI_GON}").json()["name"] == "Sài Gòn"
    missing = client.get("/api/v1/reference/wards/99999")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/reference/provinces").json()["total"] == 34
