"""`cityai assistant ...`: load the knowledge base from files, keep its index up to date, ask from a shell.

Each import is one transaction (a file with a bad record imports its good ones and lists the bad; a crash
leaves the knowledge base as it was), after which the sources are searchable by BM25 at once and embedded
for the dense half with a progress bar (``--no-embed`` leaves that to ``cityai assistant embed``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from cityai.cli import _fail, _platform
from cityai.cli import agency_id as _agency_id
from cityai.core.errors import Problem


@click.group("assistant", help="Trợ lý ảo dịch vụ công / the public-service assistant.")
def assistant_group() -> None:
    pass


def _embed(platform) -> None:
    from cityai.assistant import kb

    todo = len(kb.index(platform).missing_vectors())
    if not todo:
        return
    click.echo(f"Tạo vector ngữ nghĩa cho {todo} nguồn / embedding {todo} sources "
               "(interrupt with Ctrl-C and resume with `cityai assistant embed`) ...", err=True)
    t0 = time.monotonic()
    with click.progressbar(length=todo, label="embedding", file=sys.stderr) as bar:
        last = [0]

        def progress(done: int, total: int) -> None:
            bar.update(done - last[0])
            last[0] = done

        kb.embed_missing(platform, progress)
    click.echo(f"  done in {time.monotonic() - t0:.0f} s", err=True)


def _import(kind: str, path: str, agency: str, visibility: str, embed: bool) -> None:
    from cityai.assistant import kb, procedures, service

    try:
        records = list(procedures.read_file(path)) if kind == "procedure" else list(kb.law_records(path))
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"Không đọc được / cannot read {path}: {exc}") from None
    platform = _platform()
    t0 = time.monotonic()
    try:
        with platform.system_context() as ctx:
            with click.progressbar(length=len(records), label=f"importing {kind}s", file=sys.stderr) as bar:
                last = [0]

                def progress(n: int) -> None:
                    bar.update(n - last[0])
                    last[0] = n

                result = service.import_records(ctx, agency_id=_agency_id(ctx, agency), kind=kind, records=records,
                                                origin=str(Path(path).name), visibility=visibility,
                                                progress=progress)
    except Problem as p:
        _fail(p)
    click.echo(f"{len(records)} records in {time.monotonic() - t0:.1f} s: created {result['created']}, updated "
               f"{result['updated']}, unchanged {result['unchanged']}, invalid {result['invalid']}, owned by another "
               f"agency {result['conflict']}")
    for e in result["errors"][:20]:
        click.echo(f"  record {e['n']}: {e.get('key', '')} {e['error']}", err=True)
    if embed:
        _embed(platform)


@assistant_group.command("import-procedures")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--agency", default="hcmc", show_default=True, help="code of the agency that owns them")
@click.option("--visibility", type=click.Choice(["public", "internal"]), default="public", show_default=True)
@click.option("--embed/--no-embed", default=True, show_default=True, help="embed now (slow) or later")
def import_procedures(path: str, agency: str, visibility: str, embed: bool) -> None:
    """Load administrative procedures: the national portal's JSON Lines (.jsonl / .jsonl.gz, e.g.
    ../shared/data/tthc/procedures.jsonl.gz) or CityAI records (JSON list or lines)."""
    _import("procedure", path, agency, visibility, embed)


@assistant_group.command("import-laws")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--agency", default="hcmc", show_default=True, help="code of the agency that owns them")
@click.option("--embed/--no-embed", default=True, show_default=True, help="embed now (slow) or later")
def import_laws(path: str, agency: str, embed: bool) -> None:
    """Load a legal corpus in the ALQAC form [{"id": law, "articles": [{"id", "text"}]}]."""
    _import("law", path, agency, "public", embed)


@assistant_group.command("embed")
def embed() -> None:
    """Embed the knowledge base's sources that have no vector yet (resumable)."""
    _embed(_platform())


@assistant_group.command("reindex")
@click.option("--embed/--no-embed", default=True, show_default=True)
def reindex(embed: bool) -> None:
    """Rebuild the search index from the database (after a crash, or a restore of the database)."""
    from cityai.assistant import kb

    platform = _platform()
    result = kb.reindex(platform)
    click.echo(f"indexed {result['indexed']} changed of {result['total']} sources, removed {result['removed']}")
    if embed:
        _embed(platform)


@assistant_group.command("ask")
@click.argument("question")
@click.option("--conversation", default=None, help="continue a conversation (its id)")
@click.option("--json", "as_json", is_flag=True, help="print the whole answer as JSON")
def ask(question: str, conversation: str | None, as_json: bool) -> None:
    """Ask the assistant from the shell (the same action as the API)."""
    from cityai.assistant import service

    platform = _platform()
    try:
        with platform.system_context() as ctx:
            out = service.ask(ctx, question=question, conversation_id=conversation, client="cli")
    except Problem as p:
        _fail(p)
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"[{out['status']}, confidence {out['confidence']}] (conversation {out['conversation_id']})")
    click.echo(out["answer"])
    for n, c in enumerate(out["citations"], 1):
        click.echo(f"  [{n}] {c['source_type']} {c['source_id']} {c.get('section') or ''} — {c['title'][:100]}")
