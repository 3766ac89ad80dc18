"""The throwaway PostgreSQL cluster helper (tests/pgcluster.py) and its fixtures."""

from __future__ import annotations

import pytest

from pgcluster import Cluster

psycopg = pytest.importorskip("psycopg")


def test_cluster_starts_and_stop_removes_everything(pg_cluster):
    with psycopg.connect(pg_cluster.admin_url) as conn:
        user, port = conn.execute("SELECT current_user, current_setting('port')").fetchone()
    assert (user, int(port)) == ("verbatim_admin", pg_cluster.port)

    with Cluster.start() as other:
        assert other.port != pg_cluster.port
        psycopg.connect(other.admin_url).close()
    assert not other.tmp.exists()
    other.stop()  # idempotent
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(other.admin_url, connect_timeout=2)


_seen: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_pg_url_databases_are_fresh_empty_and_dropped(pg_cluster, pg_url, run):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        dbname = conn.execute("SELECT current_database()").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        conn.execute("CREATE TABLE leftover (x int)")
    assert tables == 0
    assert dbname not in _seen
    assert not existing & set(_seen), "the previous test's database was not dropped"
    _seen.append(dbname)


def test_roles_need_their_password_admin_is_trusted(pg_cluster, pg_url, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    pg_cluster.create_role("reader", "s3cret pass/word")
    dbname = pg_url.rsplit("/", 1)[1]

    with psycopg.connect(pg_cluster.url(dbname, "reader", "s3cret pass/word")) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "reader"
    for password in ("wrong", None):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(pg_cluster.url(dbname, "reader", password))
