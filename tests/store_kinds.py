"""Run a test module on both stores: the SQLite index folder and a PostgreSQL store of record.

A module opts in with ``from store_kinds import pytest_generate_tests, settings, store_kind  # noqa: F401``;
its tests then take ``settings`` for either store, and ``@pytest.mark.sqlite_only`` keeps a test about the
index folder's own files on SQLite.
"""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc):
    if "store_kind" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("store_kind", ["sqlite"] if sqlite_only else ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def store_kind(request):
    return request.param


@pytest.fixture
def settings(tmp_path, store_kind, request):
    from qa.settings import load_settings

    base = load_settings({}).with_(docs=tmp_path / "docs", index=tmp_path / "index", second_encoder="")  # fake embedder
    if store_kind == "postgresql":
        return base.with_(store=request.getfixturevalue("pg_url"))
    return base
