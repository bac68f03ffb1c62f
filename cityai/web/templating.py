"""Jinja2 templates shared by the core and every module (template folders come from the hooks)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from cityai.core.hooks import collect
from cityai.web import i18n

_env: Environment | None = None


def build_env(template_dirs: list[str]) -> Environment:
    env = Environment(loader=ChoiceLoader([FileSystemLoader(d) for d in template_dirs]),
                      autoescape=select_autoescape(["html", "xml"]), extensions=["jinja2.ext.i18n"],
                      trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]
    env.globals["pick"] = i18n.pick
    # |tojson shows audit details and job results to people: keep Vietnamese readable, not \uXXXX
    # (it still escapes <, >, & and ' for HTML).
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    env.globals["locale_names"] = i18n.LOCALE_NAMES
    return env


def setup(platform: Any) -> Environment:
    global _env
    _env = build_env(collect(platform.pm.hook.cityai_template_dirs()))
    i18n.load_catalogs(collect(platform.pm.hook.cityai_translation_dirs()))
    return _env


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    from cityai.web.deps import csrf_for, get_actor
    from cityai.core.hooks import collect as _collect

    assert _env is not None, "templating.setup() was not called"
    try:
        actor = get_actor(request)
    except Exception:  # noqa: BLE001 - an invalid token still gets its error page
        from cityai.core.context import Actor

        actor = Actor.anonymous()
    platform = request.app.state.platform
    menu = sorted(_collect(platform.pm.hook.cityai_menu(request=request, actor=actor)), key=lambda m: m["order"])
    ctx = {
        "request": request,
        "actor": actor,
        "locale": i18n.get_locale(),
        "csrf_token": csrf_for(request),
        "menu": menu,
        "path": request.url.path,
        "request_id": getattr(request.state, "request_id", ""),
    }
    ctx.update(context or {})
    html = _env.get_template(name).render(ctx)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if getattr(request.state, "clear_session", False):
        from cityai.web.deps import SESSION_COOKIE

        response.delete_cookie(SESSION_COOKIE, path="/")
    return response
