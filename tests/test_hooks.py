"""Modules plug in without editing the core: one plugin object uses every extension point.

The plugin below is built in the test, registered with ``Platform(settings, plugins=[plugin])``,
and each of its contributions must show up: an API router under /api/v1/example, a menu entry on the
pages, a command on the command line, a job kind the worker runs, a readiness check, and the audit
events, which it receives once (and only once) their transaction has committed.
"""

from __future__ import annotations

from typing import Iterator

import click
import pytest
from click.testing import CliRunner
from fastapi import APIRouter
from sqlalchemy import select

from cityai.core import identity
from cityai.core.context import Actor
from cityai.core.errors import Problem, not_found
from cityai.core.hooks import hookimpl
from cityai.core.jobs import JobKind
from cityai.core.models import AuditEntry
from cityai.core.platform import Platform
from cityai.web.deps import CtxDep
from tests.conftest import login


class ExamplePlugin:
    """A tiny feature module: what a third-party ``cityai`` entry point would provide."""

    def __init__(self) -> None:
        self.audit_events: list[dict] = []
        self.ready = True
        self.started_with: Platform | None = None

    @hookimpl
    def cityai_startup(self, platform: Platform) -> None:
        self.started_with = platform

    @hookimpl
    def cityai_routes(self, app, platform) -> None:
        router = APIRouter(prefix="/api/v1/example", tags=["example"])

        @router.get("/hello")
        def hello(ctx: CtxDep) -> dict:
            user = identity.me(ctx)  # 401 problem for anonymous callers, like any core route
            return {"greeting": "Xin chào", "email": user.email}

        @router.get("/things/{thing_id}")
        def thing(thing_id: int, ctx: CtxDep) -> dict:
            raise not_found(("vật", "thing"), thing_id)

        app.include_router(router)

    @hookimpl
    def cityai_menu(self, request, actor) -> list[dict]:
        return [{"label": ("Mô-đun ví dụ", "Example module"), "url": "/api/v1/example/hello", "order": 50}]

    @hookimpl
    def cityai_cli(self, cli: click.Group) -> None:
        @cli.command("example-hello")
        @click.option("--name", default="bạn")
        def example_hello(name: str) -> None:
            """Say hello (example module)."""
            click.echo(f"Xin chào {name}")

    @hookimpl
    def cityai_job_kinds(self) -> list[JobKind]:
        return [JobKind("example.echo", ("Lặp lại", "Echo"),
                        lambda run: {"echo": run.params.get("text"), "owner_id": run.owner_id})]

    @hookimpl
    def cityai_readiness(self, platform) -> list[tuple]:
        def example_backend() -> None:
            if not self.ready:
                raise RuntimeError("example backend is down")

        return [("example", example_backend)]

    @hookimpl
    def cityai_audit_event(self, entry: dict) -> None:
        self.audit_events.append(entry)

    def actions(self) -> list[str]:
        return [e["action"] for e in self.audit_events]


@pytest.fixture
def plugin() -> ExamplePlugin:
    return ExamplePlugin()


@pytest.fixture
def platform(settings, plugin) -> Iterator[Platform]:
    """Overrides conftest's platform: the same, with the example plugin (so app, client, users use it)."""
    p = Platform(settings, plugins=[plugin], load_entry_points=False)
    p.startup()
    yield p
    p.close()


def test_startup_hook_gets_the_platform(platform, plugin):
    assert plugin.started_with is platform


def test_route_is_served_with_the_core_auth_and_errors(client, users):
    r = client.get("/api/v1/example/hello")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")

    headers = login(client, users.editor)
    r = client.get("/api/v1/example/hello", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"greeting": "Xin chào", "email": users.editor}

    r = client.get("/api/v1/example/things/42", headers=headers)
    assert r.status_code == 404
    assert r.json()["type"] == "/problems/not-found"

    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/example/hello" in paths


def test_menu_entry_is_rendered(client, users):
    r = client.get("/", headers={"Accept-Language": "vi"})
    assert r.status_code == 200
    assert "Mô-đun ví dụ" in r.text
    assert 'href="/api/v1/example/hello"' in r.text
    r = client.get("/?lang=en")
    assert "Example module" in r.text and "Mô-đun ví dụ" not in r.text
    # Ordered among the core's entries: after Agencies (10), before API (95).
    assert r.text.index("Agencies") < r.text.index("Example module") < r.text.index(">API<")


def test_cli_hook_adds_a_command(platform):
    group = click.Group("cityai")
    platform.pm.hook.cityai_cli(cli=group)
    assert "example-hello" in group.commands
    result = CliRunner().invoke(group, ["example-hello", "--name", "Sở Y tế"])
    assert result.exit_code == 0, result.output
    assert result.output == "Xin chào Sở Y tế\n"


def test_cli_hook_reaches_the_real_command_line(platform, monkeypatch):
    """The ``cityai`` group loads module commands through the hook the first time it lists them."""
    from cityai import cli as cli_mod
    from cityai.core import hooks

    monkeypatch.setattr(hooks, "make_plugin_manager", lambda *a, **k: platform.pm)
    group = cli_mod.CityAIGroup("cityai", commands=dict(cli_mod.cli.commands))
    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0, result.output
    assert "example-hello" in result.output and "create-admin" in result.output
    result = CliRunner().invoke(group, ["example-hello"])
    assert result.exit_code == 0 and result.output == "Xin chào bạn\n"


def test_job_kind_is_submitted_queued_and_run(platform, client, users):
    assert "example.echo" in platform.job_kinds
    assert {"audit.verify", "audit.export"} <= set(platform.job_kinds)  # the core's own stay
    headers = login(client, users.member)
    r = client.post("/api/v1/jobs", json={"kind": "example.echo", "params": {"text": "xin chào"}},
                    headers=headers)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["status"] == "queued" and r.json()["title"] == "Lặp lại"

    task = platform.huey.dequeue()  # enqueued once the job row committed
    assert task is not None and task.id == job_id
    platform.huey.execute(task)

    r = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "succeeded", body
    assert body["result"] == {"echo": "xin chào", "owner_id": users.ids[users.member]}


def test_readiness_includes_the_module_check(client, plugin):
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["example"] == "ok"
    assert r.json()["checks"]["database"] == "ok"

    plugin.ready = False
    r = client.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert "example backend is down" in checks["example"]
    assert checks["database"] == "ok"


def test_audit_event_hook_sees_committed_entries_only(platform, plugin):
    with platform.system_context() as ctx:
        ctx.audit("example.committed", "thing", 1, note="ok")
        assert plugin.actions() == []  # not before the commit
    assert plugin.actions() == ["example.committed"]
    event = plugin.audit_events[0]
    assert event["actor"] == "system" and event["outcome"] == "success"
    assert event["object_type"] == "thing" and event["object_id"] == "1"
    assert event["detail"] == {"note": "ok"}
    with platform.transaction() as db:
        stored = db.execute(select(AuditEntry).where(AuditEntry.seq == event["seq"])).scalar_one()
        assert stored.hash == event["hash"]

    with pytest.raises(RuntimeError):
        with platform.system_context() as ctx:
            ctx.audit("example.rolled_back", "thing", 2)
            raise RuntimeError("the change fails")
    assert "example.rolled_back" not in plugin.actions()

    with platform.system_context() as ctx:  # a later commit does not resurrect the rolled-back entry
        ctx.audit("example.after", "thing", 3)
    assert plugin.actions() == ["example.committed", "example.after"]
    with platform.transaction() as db:
        stored = db.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars().all()
    assert "example.rolled_back" not in stored


def test_audit_event_hook_sees_refusals_and_api_changes(platform, plugin, client, users):
    plugin.audit_events.clear()
    # A refused operation rolls back, but its "denied" entry is committed on its own, and announced.
    with pytest.raises(Problem):
        with platform.unit_of_work(Actor.anonymous()) as ctx:
            identity.token_create(ctx, name="x")
    assert [(e["action"], e["outcome"]) for e in plugin.audit_events] == [("token.create", "denied")]

    plugin.audit_events.clear()
    headers = login(client, users.admin)
    r = client.post("/api/v1/tokens", json={"name": "hooks-test"}, headers=headers)
    assert r.status_code == 201, r.text
    created = [e for e in plugin.audit_events if e["action"] == "token.create"]
    assert len(created) == 1
    assert created[0]["actor"] == users.admin and created[0]["object_id"] == str(r.json()["id"])
    assert r.json()["token"] not in str(created[0])
