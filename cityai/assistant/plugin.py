"""The assistant module's hook implementations."""

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
    from cityai.assistant import pages, routes

    app.include_router(routes.router)
    app.include_router(pages.router)


@hookimpl
def cityai_template_dirs() -> list[str]:
    return [str(HERE / "templates")]


@hookimpl
def cityai_cli(cli: Any) -> None:
    from cityai.assistant.cli import assistant_group

    cli.add_command(assistant_group)


@hookimpl
def cityai_job_kinds() -> list[Any]:
    from cityai.assistant.service import EMBED_JOB

    return [EMBED_JOB]


@hookimpl(trylast=True)  # after the core's demo has made the agencies
def cityai_demo(ctx: Any) -> list[str]:
    from cityai.assistant.demo import load_demo

    return load_demo(ctx)


@hookimpl
def cityai_menu(request: Any, actor: Any) -> list[dict]:
    items = [{"label": ("Trợ lý ảo", "Assistant"), "url": "/assistant", "order": 5}]
    if actor is not None and (getattr(actor, "is_sysadmin", False) or getattr(actor, "roles", None)):
        items.append({"label": ("Thống kê trợ lý", "Assistant analytics"), "url": "/assistant/analytics",
                      "order": 14})
    return items
