"""Alembic environment: runs on the connection CityAI hands over (see cityai.core.db.migrate)."""

from alembic import context
from sqlalchemy import create_engine

from cityai.core.db import Base
import cityai.core.models  # noqa: F401  (register the core tables)

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # plain `alembic` command line use
        engine = create_engine(config.attributes.get("cityai_url") or config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
