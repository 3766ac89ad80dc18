"""Pytest plugin: a throwaway PostgreSQL cluster per session, a fresh database per test.

Register with ``pytest_plugins = ["pg_fixtures"]``.  Without the PostgreSQL binaries
or psycopg the fixtures skip, or fail when the CI environment variable is set.
"""

from __future__ import annotations

import itertools
import os

import pytest

from pgcluster import Cluster, missing_requirements

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster():
    """One running Cluster for the whole session."""
    if (why := missing_requirements()):
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests cannot run: {why}", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {why}")
    with Cluster.start() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster):
    """URL (as the trusted admin) of a new empty database, dropped after the test."""
    name = f"t_{next(_db_numbers)}"
    url = pg_cluster.create_database(name)
    yield url
    pg_cluster.drop_database(name)
