"""The language module's hook implementations."""

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
    from cityai.language import classifier_routes, index_routes, pages, routes

    app.include_router(classifier_routes.router)
    app.include_router(classifier_routes.pages_router)  # GET /language/classifiers
    app.include_router(index_routes.router)
    app.include_router(routes.router)
    app.include_router(pages.router)


@hookimpl
def cityai_template_dirs() -> list[str]:
    return [str(HERE / "templates")]


@hookimpl
def cityai_cli(cli: Any) -> None:
    from cityai.language.cli import language_group

    cli.add_command(language_group)


@hookimpl
def cityai_job_kinds() -> list[Any]:
    from cityai.language.classifier_service import TRAIN_JOB

    return [TRAIN_JOB]


@hookimpl
def cityai_menu(request: Any, actor: Any) -> list[dict]:
    return [{"label": ("Tiếng Việt", "Language"), "url": "/language", "order": 12}]
