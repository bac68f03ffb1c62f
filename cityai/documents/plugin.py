"""The documents module's hook implementations."""

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
    from cityai.documents import classify_routes, pages, routes

    app.include_router(classify_routes.router)  # before routes: /classifiers is not a document id
    app.include_router(routes.router)
    app.include_router(pages.classifier_router)
    app.include_router(pages.router)


@hookimpl
def cityai_template_dirs() -> list[str]:
    return [str(HERE / "templates")]


@hookimpl
def cityai_job_kinds() -> list[Any]:
    from cityai.documents.classify import TRAIN_JOB
    from cityai.documents.service import PROCESS_JOB

    return [PROCESS_JOB, TRAIN_JOB]


@hookimpl
def cityai_menu(request: Any, actor: Any) -> list[dict]:
    if actor is None or getattr(actor, "is_anonymous", True):
        return []
    return [{"label": ("Văn bản", "Documents"), "url": "/documents", "order": 10}]


@hookimpl(trylast=True)  # after the core's demo has made the agencies
def cityai_demo(ctx: Any) -> list[str]:
    from cityai.documents.demo import load_demo

    return load_demo(ctx)
