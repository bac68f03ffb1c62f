"""`cityai data ...`: the data module's commands (each calls a service action)."""

from __future__ import annotations

import click

from cityai.data import harvest, reference


@click.group("data", help="Dữ liệu: danh mục, kho dữ liệu, dữ liệu tham chiếu / Data: catalog, lake, reference data.")
def data_group() -> None:
    pass


for _cmd in (*reference.CLI_COMMANDS, *harvest.CLI_COMMANDS):
    data_group.add_command(_cmd)
