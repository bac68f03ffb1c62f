"""`cityai language ...`: build the language models from the training corpora, show which are in use,
and analyse text from the command line (each analysis calls the service action)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from cityai.language import corpora

MODELS = ("segmenter", "pos", "ner")


@click.group("language", help="Xử lý tiếng Việt: huấn luyện và dùng mô hình / Vietnamese language models and services.")
def language_group() -> None:
    pass


def _data_dir(value: str | None) -> Path:
    path = Path(value) if value else corpora.shared_data_dir()
    if path is None or not path.is_dir():
        raise click.UsageError("Không thấy thư mục dữ liệu (../shared/data); dùng --data / no training data folder "
                               "found (../shared/data); pass --data or set CITYAI_SHARED_DATA.")
    return path


def _progress(name: str):
    """A progress printer for both callback shapes: ``(iteration, total, loss)`` (segmenter, POS) and
    ``(done_fraction, message)`` (NER)."""
    last = [0.0]

    def report(*args: object) -> None:
        now = time.monotonic()
        if now - last[0] < 5:
            return
        last[0] = now
        if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], int):
            loss = args[2] if len(args) > 2 else None
            tail = f" loss {loss:,.1f}" if isinstance(loss, (int, float)) else ""
            click.echo(f"  [{name}] iteration {args[0]}/{args[1]}{tail}", err=True)
        else:
            done = float(args[0]) if args else 0.0
            click.echo(f"  [{name}] {done * 100:5.1f}% {args[1] if len(args) > 1 else ''}", err=True)

    return report


@language_group.command("train")
@click.argument("what", type=click.Choice(["all", *MODELS]), default="all")
@click.option("--data", "data", default=None, help="folder holding vlsp2013-ws/, ud-vi-vtb/, vlsp2016-ner/")
def train(what: str, data: str | None) -> None:
    """Train the segmenter, POS tagger and/or NER model into CITYAI_HOME/models/language/.

    A model is published only when its training finished: a failed or interrupted run leaves the
    model in use as it was."""
    from cityai.core.config import Settings, set_settings

    folder = _data_dir(data)
    settings = Settings()  # from the environment (CITYAI_HOME), as every command reads it
    set_settings(settings)
    base = settings.home
    todo = list(MODELS) if what == "all" else [what]
    for name in todo:
        click.echo(f"Huấn luyện / training {name} from {folder} into {base}/models/language/{name}", err=True)
        t0 = time.perf_counter()
        if name == "segmenter":
            from cityai.language.segment import train_segmenter

            meta = train_segmenter(folder, base=base, progress=_progress(name))
        elif name == "pos":
            from cityai.language.pos import train_pos

            meta = train_pos(folder, base=base, progress=_progress(name))
        else:
            from cityai.language.ner import train_ner

            meta = train_ner(folder, base=base, progress=_progress(name))
        click.echo(json.dumps({"model": name, "seconds": round(time.perf_counter() - t0, 1),
                               **{k: v for k, v in meta.items() if k in ("trained_on", "scores", "size_bytes")}},
                              ensure_ascii=False))


@language_group.command("models")
def models() -> None:
    """Which model serves each analysis (built, packaged or rules)."""
    from cityai.core.config import Settings, set_settings
    from cityai.language.service import model_info

    set_settings(Settings())
    for name in MODELS:
        click.echo(json.dumps(model_info(name), ensure_ascii=False))


@language_group.command("analyse")
@click.argument("what", type=click.Choice(["segment", "pos", "ner", "summarize", "normalize"]))
@click.option("--max-sentences", default=3, show_default=True)
def analyse(what: str, max_sentences: int) -> None:
    """Analyse the text on standard input; prints JSON."""
    from cityai.core.context import Actor, Context
    from cityai.core.errors import Problem
    from cityai.language import service

    text = sys.stdin.read()
    ctx = Context(platform=None, db=None, actor=Actor.system())  # type: ignore[arg-type]  # stateless: no database
    try:
        if what in ("segment", "pos"):
            out = service.language_segment(ctx, text=text, pos=what == "pos")
        elif what == "ner":
            out = service.language_ner(ctx, text=text)
        elif what == "summarize":
            out = service.language_summarize(ctx, text=text, max_sentences=max_sentences)
        else:
            out = service.language_normalize(ctx, text=text)
    except Problem as p:
        click.echo(f"Lỗi / Error: {p.detail[0]} / {p.detail[1]}", err=True)
        sys.exit(2)
    click.echo(json.dumps(out, ensure_ascii=False, indent=1))
