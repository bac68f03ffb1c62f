"""`cityai sensing ...`: register devices, run the MQTT ingest consumer (`ingest`, from mqtt.py), replay demo
series (`simulate`, from simulate.py), train the traffic model, run rollups and retention."""

from __future__ import annotations

import json

import click

from cityai.cli import _fail, _platform
from cityai.cli import agency_id as _agency_id
from cityai.core.errors import Problem


@click.group("sensing", help="Cảm biến đô thị (IoT) / urban sensing.")
def sensing_group() -> None:
    pass


def _agency_id_or_create(ctx, code: str) -> int:
    """The agency's id; a missing one is created (a demo agency with its demo name, else a department named
    by its code, to be renamed with the API), and the operator is told."""
    from cityai.core import identity
    from cityai.core.demo import AGENCIES

    agency = identity.agency_by_code(ctx, code)
    if agency is not None:
        return agency.id
    spec = next((a for a in AGENCIES if a[0] == code.lower()), None)
    parent_id = None
    if spec and spec[4]:
        parent_id = _agency_id_or_create(ctx, spec[4])
    name, name_en, kind = (spec[1], spec[2], spec[3]) if spec else (code, None, "department")
    agency = identity.agency_create(ctx, code=code, name=name, name_en=name_en, kind=kind, parent_id=parent_id)
    click.echo(f"Đã tạo cơ quan / created agency '{agency.code}' ({agency.name}, {agency.kind}); "
               "đổi tên qua API / rename it through the API if needed.", err=True)
    return agency.id


@sensing_group.command("register-device")
@click.option("--agency", required=True, help="The agency's code.")
@click.option("--id", "device_id", required=True, help="The device id (letters, digits, _ . -).")
@click.option("--type", "type_", required=True, help="Smart Data Models type, e.g. TrafficFlowObserved.")
@click.option("--name", default=None)
@click.option("--lat", type=float, default=None)
@click.option("--lon", type=float, default=None)
@click.option("--visibility", type=click.Choice(["public", "internal"]), default="public")
def register_device(agency: str, device_id: str, type_: str, name: str | None, lat: float | None,
                    lon: float | None, visibility: str) -> None:
    """Register a device; prints its entity id, its key (shown once) and its MQTT topic. A missing agency is
    created."""
    from cityai.sensing import service

    platform = _platform()
    try:
        with platform.system_context() as ctx:
            dev, key = service.device_register(ctx, agency_id=_agency_id_or_create(ctx, agency), device_id=device_id,
                                               type=type_, name=name, lat=lat, lon=lon, visibility=visibility)
            entity_id = dev.entity_id
    except Problem as p:
        _fail(p)
    prefix = platform.settings.sensing_mqtt_topic_prefix
    click.echo(json.dumps({"entity_id": entity_id, "key": key, "topic": f"{prefix}/{agency}/{device_id}"},
                          ensure_ascii=False))


@sensing_group.command("devices")
@click.option("--agency", default=None, help="Only this agency's devices.")
def devices(agency: str | None) -> None:
    """List the registered devices."""
    from cityai.sensing import service

    platform = _platform()
    with platform.system_context(write=False) as ctx:
        items, _ = service.device_list(ctx, agency_id=_agency_id(ctx, agency) if agency else None, limit=100_000)
    for d in items:
        click.echo(f"{d['agency_code']}/{d['device_id']}\t{d['type']}\t{d['entity_id']}\t"
                   f"{'active' if d['active'] else 'inactive'}\t{d['message_count']} msgs\t"
                   f"last seen {d['last_seen_at'] or '-'}")


@sensing_group.command("train-traffic")
@click.option("--agency", required=True)
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 60))
@click.option("--adjacency", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV N x N weights in the order of the agency's traffic entity ids (default: from positions).")
def train_traffic(agency: str, days: int, adjacency: str | None) -> None:
    """Train the agency's network traffic model (speed at +15/30/60 min, congestion probability)."""
    import numpy as np

    from cityai.sensing import traffic

    platform = _platform()
    with platform.system_context(write=False) as ctx:
        agency_id = _agency_id(ctx, agency)
    adj = np.loadtxt(adjacency, delimiter=",") if adjacency else None
    try:
        result = traffic.train(platform, agency_id, days=days, adjacency=adj)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result))


@sensing_group.command("maintain")
def maintain() -> None:
    """Hourly rollups and retention now (the worker also runs this every hour)."""
    from cityai.sensing import maintenance

    click.echo(json.dumps(maintenance.run(_platform())))


def _register_extra_commands() -> None:
    from cityai.sensing import mqtt, simulate

    sensing_group.add_command(mqtt.ingest_command, "ingest")
    sensing_group.add_command(simulate.simulate_command, "simulate")


_register_extra_commands()
