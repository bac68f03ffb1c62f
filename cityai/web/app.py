"""The FastAPI application factory."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles

import cityai
from cityai.core.config import Settings
from cityai.core.platform import Platform
from cityai.web import problems, templating
from cityai.web.middleware import RequestContextMiddleware

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger("cityai")


def create_app(platform: Platform | None = None, *, settings: Settings | None = None,
               run_worker: bool | None = None, migrate: bool = True) -> FastAPI:
    """Build the app. The platform is migrated and started here, so routes and pages are ready at once."""
    if platform is None:
        platform = Platform(settings or Settings())
    platform.startup(migrate=migrate)
    worker = platform.settings.embedded_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if worker:
            platform.start_worker()
        try:
            yield
        finally:
            platform.stop_worker()

    app = FastAPI(
        title="CityAI API",
        version=cityai.__version__,
        description="Nền tảng AI dùng chung của TP. Hồ Chí Minh - the shared AI platform of Ho Chi Minh City. "
                    "Errors are RFC 9457 problem details; lists are pages of `items` with a `next` link.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.platform = platform
    templating.setup(platform)
    problems.install(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=platform.settings.max_body_bytes,
                       default_locale=platform.settings.default_locale,
                       max_upload_bytes=platform.settings.max_upload_bytes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs():
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="CityAI API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        )

    platform.pm.hook.cityai_routes(app=app, platform=platform)
    return app
