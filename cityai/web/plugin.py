"""The web shell's own hook implementations: core routes, pages, templates, translations, menu."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cityai.core.hooks import hookimpl

HERE = Path(__file__).resolve().parent


@hookimpl
def cityai_routes(app: Any, platform: Any) -> None:
    from cityai.web import api, pages

    app.include_router(api.health)
    app.include_router(api.router)
    app.include_router(pages.router)


@hookimpl
def cityai_template_dirs() -> list[str]:
    return [str(HERE / "templates")]


@hookimpl
def cityai_translation_dirs() -> list[str]:
    return [str(HERE / "i18n")]


@hookimpl
def cityai_menu(request: Any, actor: Any) -> list[dict]:
    items = [{"label": ("Đơn vị", "Agencies"), "url": "/agencies", "order": 10}]
    if not actor.is_anonymous:
        if actor.is_sysadmin or "admin" in actor.roles.values():
            items.append({"label": ("Người dùng", "Users"), "url": "/users", "order": 20})
        items.append({"label": ("Công việc", "Jobs"), "url": "/jobs", "order": 80})
        items.append({"label": ("Mã truy cập", "My tokens"), "url": "/tokens", "order": 85})
        if actor.is_sysadmin:
            items.append({"label": ("Nhật ký truy vết", "Audit log"), "url": "/audit", "order": 90})
    items.append({"label": ("API", "API"), "url": "/api/docs", "order": 95})
    return items
