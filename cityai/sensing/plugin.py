"""The sensing module's hook implementations."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from cityai.core.hooks import hookimpl

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
_LAST_MAINTENANCE: dict[int, float] = {}
MAINTENANCE_EVERY_S = 3600.0


@hookimpl
def cityai_migration_dirs() -> list[str]:
    return [str(HERE / "migrations")]


@hookimpl
def cityai_routes(app: Any, platform: Any) -> None:
    from cityai.sensing import ngsi, pages, routes, rules_routes

    app.include_router(routes.router)
    app.include_router(rules_routes.router)
    app.include_router(ngsi.router)
    app.include_router(pages.router)


@hookimpl
def cityai_template_dirs() -> list[str]:
    return [str(HERE / "templates")]


@hookimpl
def cityai_cli(cli: Any) -> None:
    from cityai.sensing.cli import sensing_group

    cli.add_command(sensing_group)


@hookimpl
def cityai_job_kinds() -> list[Any]:
    from cityai.sensing import rules, subscriptions, traffic

    return [subscriptions.NOTIFY_JOB, rules.NOTIFY_JOB, traffic.TRAIN_JOB]


@hookimpl(trylast=True)  # after the core's demo has made the agencies
def cityai_demo(ctx: Any) -> list[str]:
    from cityai.sensing.demo import load_demo

    return load_demo(ctx)


@hookimpl
def cityai_menu(request: Any, actor: Any) -> list[dict]:
    return [{"label": ("Vận hành đô thị", "City operations"), "url": "/sensing", "order": 6}]


@hookimpl
def cityai_periodic(platform: Any) -> None:
    """Every minute: silence and anomaly rules. Every hour: hourly rollups and retention."""
    from cityai.sensing import maintenance, rules

    rules.evaluate_periodic(platform)
    now = time.monotonic()
    if now - _LAST_MAINTENANCE.get(id(platform), -MAINTENANCE_EVERY_S) >= MAINTENANCE_EVERY_S:
        _LAST_MAINTENANCE[id(platform)] = now
        maintenance.run(platform)


@hookimpl
def cityai_services(platform: Any) -> list[Any]:
    if not platform.settings.sensing_mqtt_url:
        return []
    from cityai.sensing import mqtt

    consumer = mqtt.start_for_platform(platform)
    return [consumer] if consumer is not None else []


@hookimpl
def cityai_readiness(platform: Any) -> list[tuple[str, Any]]:
    if not platform.settings.sensing_mqtt_url:
        return []

    def check() -> None:
        from cityai.sensing import mqtt

        state = mqtt.current_state(platform)
        if state is not None and not state.get("connected"):
            raise RuntimeError(f"not connected to {platform.settings.sensing_mqtt_url}")

    return [("sensing-mqtt", check)]
