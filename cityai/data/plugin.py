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
    from cityai.data import ckan, routes

    app.include_router(routes.router)
    app.include_router(ckan.router)


@hookimpl
def cityai_job_kinds() -> list[Any]:
    from cityai.data.lake import INGEST_JOB

    return [INGEST_JOB]
