"""The suite's PostgreSQL is real: a server we can talk SQL to, not a stand-in."""

from __future__ import annotations

import sqlalchemy as sa


def test_postgres_server_answers_sql(postgres_url: str) -> None:
    """The session's PostgreSQL server runs version 15+ and executes queries."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
            total = conn.execute(sa.text("SELECT 20 + 22")).scalar_one()
    finally:
        engine.dispose()

    assert int(version) >= 150000
    assert total == 42
