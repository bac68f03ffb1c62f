"""The data module's hook implementations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cityai.core.hooks import hookimpl

HERE = Path(__file__).resolve().parent


@hookimpl
def cityai_migration_dirs() -> list[str]:
    return [str(HERE / "migrations")]


@hookimpl
def cityai_routes(app: Any, platform: Any) -> None:
    from cityai.data import ckan, dcat, harvest, pages, reference, routes

    app.include_router(routes.router)
    app.include_router(routes.dump_router)
    app.include_router(ckan.router)
    app.include_router(dcat.router)
    app.include_router(harvest.router)
    app.include_router(reference.router)
    app.include_router(pages.router)


@hookimpl
def cityai_template_dirs() -> list[str]:
    return [str(HERE / "templates")]


@hookimpl
def cityai_cli(cli: Any) -> None:
    from cityai.data.cli import data_group

    cli.add_command(data_group)


@hookimpl
def cityai_job_kinds() -> list[Any]:
    from cityai.data import harvest
    from cityai.data.lake import INGEST_JOB

    return [INGEST_JOB, *harvest.JOB_KINDS]


@hookimpl
def cityai_demo(ctx: Any) -> list[str]:
    from cityai.data import reference

    return reference.load_demo(ctx)


@hookimpl
def cityai_menu(request: Any, actor: Any) -> list[dict]:
    return [{"label": ("Dữ liệu mở", "Open data"), "url": "/data", "order": 5}]


@hookimpl
def cityai_periodic(platform: Any) -> None:
    from cityai.data import harvest

    harvest.periodic(platform)
