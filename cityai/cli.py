"""The ``cityai`` command line. Modules add commands through the ``cityai_cli`` hook."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cityai.core.config import Settings
from cityai.core.errors import Problem


def _platform(migrate: bool = True):
    from cityai.core.logs import configure
    from cityai.core.platform import Platform

    settings = Settings()
    configure(settings.log_level, settings.log_json)
    platform = Platform(settings)
    if migrate:
        platform.startup()
    return platform


def _fail(problem: Problem) -> None:
    click.echo(f"Lỗi / Error: {problem.detail[0]} / {problem.detail[1]}", err=True)
    sys.exit(2)


def agency_id(ctx, code: str) -> int:
    """The id of the agency with ``code``, or a usage error naming it (modules' commands use this too)."""
    from cityai.core import identity

    agency = identity.agency_by_code(ctx, code)
    if agency is None:
        raise click.UsageError(f"Không có cơ quan mã '{code}' / no agency with code '{code}' "
                               "(`cityai agency list` shows them).")
    return agency.id


class CityAIGroup(click.Group):
    """Loads the modules' commands lazily, the first time the command list is needed."""

    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            from cityai.core.hooks import make_plugin_manager

            make_plugin_manager().hook.cityai_cli(cli=self)

    def list_commands(self, ctx):
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._load()
        return super().get_command(ctx, name)


@click.group(cls=CityAIGroup)
@click.version_option(package_name="cityai")
def cli() -> None:
    """CityAI - nền tảng AI dùng chung của TP. Hồ Chí Minh (the shared AI platform of Ho Chi Minh City).

    Settings come from CITYAI_* environment variables (CITYAI_HOME, CITYAI_DATABASE_URL, ...).
    """


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Load the demo data (idempotent) and print demo logins.")
@click.option("--workers", default=1, show_default=True, type=int, help="Web worker processes.")
@click.option("--no-worker", is_flag=True, help="Do not run the embedded job worker (run `cityai worker`).")
def serve(host: str, port: int, demo: bool, workers: int, no_worker: bool) -> None:
    """Run the web server (and, by default, a job worker inside it)."""
    import uvicorn

    platform = _platform()
    if demo:
        _load_demo(platform)
    settings = platform.settings
    click.echo(f"CityAI: http://{host}:{port}  (home {settings.home}, database "
               f"{'SQLite' if platform.is_sqlite else 'PostgreSQL'})", err=True)
    if workers > 1:
        platform.close()
        import os

        os.environ["CITYAI_EMBEDDED_WORKER"] = "false" if no_worker else "true"
        uvicorn.run("cityai.web.asgi:app", host=host, port=port, workers=workers, log_config=None,
                    proxy_headers=False, access_log=False)
        return
    from cityai.web.app import create_app

    app = create_app(platform, run_worker=not no_worker and settings.embedded_worker)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, proxy_headers=False)


@cli.command()
@click.option("--threads", default=None, type=int, help="Worker threads (default CITYAI_WORKER_THREADS).")
def worker(threads: int | None) -> None:
    """Run a job worker (huey consumer) on its own."""
    from huey.consumer import Consumer

    platform = _platform()
    consumer = Consumer(platform.huey, workers=threads or platform.settings.worker_threads, worker_type="thread",
                        max_delay=1.0)
    click.echo(f"CityAI worker: queue {platform.settings.effective_queue_url.split('@')[-1]}", err=True)
    consumer.run()


@cli.command()
def migrate() -> None:
    """Apply database migrations (also done at every start)."""
    platform = _platform(migrate=False)
    platform.migrate()
    click.echo("OK: database schema is up to date.")


@cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--name", default="Quản trị hệ thống", show_default=True)
def create_admin(email: str, password: str, name: str) -> None:
    """Create a system administrator (or reset that account's password)."""
    from cityai.core import identity

    platform = _platform()
    try:
        with platform.system_context() as ctx:
            user, created = identity.create_admin(ctx, email, password, name)
    except Problem as p:
        _fail(p)
    click.echo(f"{'Created' if created else 'Updated'} system administrator {user.email} (id {user.id}).")


@cli.group()
def agency() -> None:
    """Cơ quan, đơn vị / agencies."""


@agency.command("list")
def agency_list_cmd() -> None:
    """List the agencies: code, kind, name."""
    from cityai.core import identity

    platform = _platform()
    with platform.system_context(write=False) as ctx:
        rows, _ = identity.agency_list(ctx, limit=100_000)
        for a in rows:
            click.echo(f"{a.code}\t{a.kind}\t{a.name}")


@agency.command("create")
@click.option("--code", required=True, help="Short code, e.g. sxd (lower case letters, digits, '.', '-').")
@click.option("--name", required=True, help="Vietnamese name, e.g. 'Sở Xây dựng'.")
@click.option("--kind", required=True, type=click.Choice(["city", "department", "division", "ward", "commune",
                                                          "special_zone"]))
@click.option("--parent", default=None, help="The parent agency's code.")
@click.option("--name-en", default=None)
def agency_create_cmd(code: str, name: str, kind: str, parent: str | None, name_en: str | None) -> None:
    """Create an agency; prints its id."""
    from cityai.core import identity

    platform = _platform()
    try:
        with platform.system_context() as ctx:
            parent_id = None
            if parent:
                p = identity.agency_by_code(ctx, parent)
                if p is None:
                    raise click.UsageError(f"no agency with code '{parent}'")
                parent_id = p.id
            a = identity.agency_create(ctx, code=code, name=name, kind=kind, parent_id=parent_id, name_en=name_en)
            agency_id = a.id
    except Problem as p:
        _fail(p)
    click.echo(agency_id)


@cli.group()
def audit() -> None:
    """The audit trail (truy vết)."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exit 1 and name the first bad entry if anything was altered or removed."""
    from cityai.core import audit as audit_mod

    platform = _platform()
    with platform.system_context(write=False) as ctx:
        result = audit_mod.verify_chain(ctx.db)
    if result.ok:
        click.echo(f"OK: {result.checked} audit entries, chain intact.")
        return
    click.echo(f"BROKEN: audit entry seq={result.first_bad_seq} id={result.first_bad_id}: {result.reason} "
               f"({result.checked} entries before it are intact).", err=True)
    sys.exit(1)


@audit.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout).")
@click.option("--since-seq", default=0, type=int, help="Only entries after this sequence number.")
def audit_export(output: Path | None, since_seq: int) -> None:
    """Write the audit trail as JSON lines (oldest first) for a SIEM."""
    from cityai.core import audit as audit_mod

    platform = _platform()
    out = open(output, "w", encoding="utf-8") if output else sys.stdout
    count = 0
    try:
        with platform.system_context(write=False) as ctx:
            for entry in audit_mod.iter_entries(ctx.db, since_seq=since_seq):
                out.write(audit_mod.canonical(entry) + "\n")
                count += 1
    finally:
        if output:
            out.close()
    click.echo(f"Exported {count} entries.", err=True)


@cli.group()
def demo() -> None:
    """Demo data."""


@demo.command("load")
def demo_load() -> None:
    """Load the demo agencies, users and module data (idempotent)."""
    _load_demo(_platform())


def _load_demo(platform) -> None:
    from cityai.core.hooks import collect

    with platform.system_context() as ctx:
        lines = collect(platform.pm.hook.cityai_demo(ctx=ctx))
    creds = [line for line in lines if "@" in line]
    for line in lines:
        if "@" not in line:  # what the modules loaded (datasets ...)
            click.echo(line, err=True)
    if creds:
        path = platform.settings.home / "demo-credentials.txt"
        import os

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write("\n".join(creds) + "\n")
        click.echo("\nTài khoản demo / demo logins (also saved to " + str(path) + "):", err=True)
        for line in creds:
            click.echo(line, err=True)
        click.echo("", err=True)
    else:
        click.echo("Demo data already loaded; logins are in " + str(platform.settings.home / "demo-credentials.txt"),
                   err=True)


def main() -> None:
    cli(prog_name="cityai")


if __name__ == "__main__":
    main()
