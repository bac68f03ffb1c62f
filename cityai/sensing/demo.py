"""The sensing demo: traffic, air-quality and water devices of two departments, two days of history written
through the ingestion path (Los-loop speeds and HCMC/UCI air quality replayed when ../shared/data is present,
generated series otherwise), two alert rules, and the traffic network model trained on that history. Live
data then comes from `cityai sensing simulate` over MQTT."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from cityai.core import identity
from cityai.sensing.models import Device, Rule

log = logging.getLogger(__name__)
TRAFFIC_AGENCY = "sxd"  # Sở Xây dựng (transport since the 2025 reorganization)
ENV_AGENCY = "snnmt"  # Sở Nông nghiệp và Môi trường


def load_demo(ctx: Any) -> list[str]:
    from cityai.sensing import service, simulate

    agencies = {code: identity.agency_by_code(ctx, code) for code in (TRAFFIC_AGENCY, ENV_AGENCY)}
    if any(a is None for a in agencies.values()):
        return []
    have = set(ctx.db.execute(select(Device.device_id)).scalars())
    data_dir = None
    if ctx.platform.settings.sensing_demo_data == "auto":
        from cityai.data.reference import shared_data_dir

        data_dir = shared_data_dir()
    new = 0
    for d in simulate.demo_devices(data_dir):
        agency = agencies[TRAFFIC_AGENCY if d["type"] == "TrafficFlowObserved" else ENV_AGENCY]
        if d["device_id"] in have:
            continue
        service.device_register.unchecked(ctx, agency_id=agency.id, device_id=d["device_id"], type=d["type"],
                                          name=d.get("name"), lat=d.get("lat"), lon=d.get("lon"))
        new += 1
    if not new:
        return []
    _rules(ctx, agencies)
    lines = [f"  Cảm biến: {new} thiết bị minh họa / sensing: {new} demo devices "
             f"(`cityai sensing simulate` phát dữ liệu trực tiếp qua MQTT / streams live data over MQTT)"]
    # History is written after this unit of work commits (the devices must exist for ingestion).
    ctx.platform.after_commit(ctx.db, lambda: _history(ctx.platform, agencies[TRAFFIC_AGENCY].id, data_dir))
    return lines


def _rules(ctx: Any, agencies: dict[str, Any]) -> None:
    from cityai.sensing import rules

    if ctx.db.execute(select(Rule.id)).first():
        return
    rules.rule_create.unchecked(ctx, agency_id=agencies[ENV_AGENCY].id, name="PM2.5 vượt QCVN 05:2023 (50 µg/m³)",
                                kind="threshold", entity_type="AirQualityObserved", attribute="pm25",
                                params={"op": ">", "value": 50, "clear_value": 45}, severity="warning")
    rules.rule_create.unchecked(ctx, agency_id=agencies[TRAFFIC_AGENCY].id, name="Cảm biến giao thông mất tín hiệu",
                                kind="silence", entity_type="TrafficFlowObserved", attribute=None,
                                params={"silence_s": 1800}, severity="warning")


def _history(platform: Any, traffic_agency_id: int, data_dir: Any) -> None:
    from cityai.sensing import simulate, traffic

    try:
        simulate.backfill(platform, data_dir=data_dir, hours=48)
        traffic.train(platform, traffic_agency_id, days=2)
    except Exception:  # noqa: BLE001 - the demo's history is a convenience; the platform works without it
        log.exception("sensing demo history could not be written")
