"""The declared extension points (pluggy hook specifications) and the plugin manager.

Feature modules and the core's own built-in features register on the same hooks (the Datasette
model), so adding a module never means editing the core. A module is a Python module (or object)
with ``@hookimpl`` functions, listed in ``BUILTIN_PLUGINS`` or published under the ``cityai`` entry
point group by an installed distribution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click
    from fastapi import FastAPI

    from cityai.core.platform import Platform

hookspec = pluggy.HookspecMarker("cityai")
hookimpl = pluggy.HookimplMarker("cityai")

BUILTIN_PLUGINS = (
    "cityai.core.plugin",
    "cityai.web.plugin",
    "cityai.data.plugin",
    "cityai.language.plugin",
    "cityai.documents.plugin",
    "cityai.assistant.plugin",
    "cityai.sensing.plugin",
)


class CityAISpec:
    @hookspec
    def cityai_migration_dirs(self) -> list[str]:
        """Alembic version directories holding this module's migrations (each a branch of its own)."""

    @hookspec
    def cityai_startup(self, platform: Platform) -> None:
        """Called once the platform is built and migrated, before it serves or works."""

    @hookspec
    def cityai_routes(self, app: FastAPI, platform: Platform) -> None:
        """Add API routers (under ``/api/v1/<module>``) and web pages to the app."""

    @hookspec
    def cityai_template_dirs(self) -> list[str]:
        """Folders of Jinja2 templates this module renders."""

    @hookspec
    def cityai_translation_dirs(self) -> list[str]:
        """Folders holding ``<locale>.po`` gettext catalogs for this module's text."""

    @hookspec
    def cityai_menu(self, request: Any, actor: Any) -> list[dict]:
        """Menu entries: ``{"label": (vi, en), "url": str, "order": int}`` visible to ``actor``."""

    @hookspec
    def cityai_cli(self, cli: click.Group) -> None:
        """Add commands or command groups to the ``cityai`` command line."""

    @hookspec
    def cityai_job_kinds(self) -> list[Any]:
        """:class:`cityai.core.jobs.JobKind` objects: background work this module runs."""

    @hookspec
    def cityai_demo(self, ctx: Any) -> list[str]:
        """Load this module's demo data (idempotent); return lines to print."""

    @hookspec
    def cityai_readiness(self, platform: Platform) -> list[tuple[str, Any]]:
        """Readiness checks: ``(name, callable returning None or raising)``."""

    @hookspec
    def cityai_audit_event(self, entry: dict) -> None:
        """Called after an audit entry is committed (stream to a SIEM, count metrics, ...)."""

    @hookspec
    def cityai_services(self, platform: Platform) -> list[Any]:
        """Start this module's long-running background services where the embedded worker runs (an MQTT
        consumer ...); return the started objects, each with a ``stop()`` called at shutdown."""

    @hookspec
    def cityai_periodic(self, platform: Platform) -> None:
        """Called about once a minute by the worker's periodic task: start work that has come due
        (e.g. submit scheduled jobs). Keep it short; a failure is logged and never stops the others."""


def make_plugin_manager(extra: list[Any] | None = None, load_entry_points: bool = True) -> pluggy.PluginManager:
    import importlib

    pm = pluggy.PluginManager("cityai")
    pm.add_hookspecs(CityAISpec)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points:
        pm.load_setuptools_entrypoints("cityai")
    for plugin in extra or []:
        pm.register(plugin)
    return pm


def collect(results: list[list[Any] | None]) -> list[Any]:
    """Flatten the list-of-lists that list-returning hooks give back."""
    return [item for part in results if part for item in part]
