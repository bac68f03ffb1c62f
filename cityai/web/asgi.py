"""ASGI entry point for multi-process servers: ``uvicorn cityai.web.asgi:app`` (settings from the environment)."""

from cityai.core.config import Settings
from cityai.core.logs import configure
from cityai.web.app import create_app

_settings = Settings()
configure(_settings.log_level, _settings.log_json)
app = create_app(settings=_settings)
