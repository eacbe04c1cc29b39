"""Fixtures for patchbay-postgres: our own database on the shared PostgreSQL, a superuser and a reader role.

Each test module gets a fresh database (and a least-privilege login role) created on the session's server and
dropped afterwards, so modules never see each other's data.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchbay_common.testing.components import PostgresInstance

sys.path.insert(0, str(Path(__file__).parent))  # pg_helpers, pg_cluster (--import-mode=importlib)

from pg_helpers import SAMPLE_SQL, TestDb, drop_db, dsn_for, make_db, run_sql  # noqa: F401


@pytest.fixture(scope="module")
def pgdb(postgres_instance: PostgresInstance) -> Iterator[TestDb]:
    """A fresh database with the sample schema, for this test module."""
    db = make_db(postgres_instance)
    try:
        yield db
    finally:
        drop_db(db)
