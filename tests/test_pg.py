"""The PostgreSQL store of record: app servers that follow generations, several indexers, kills, roles, secrets.

Each test gets a fresh database on a throwaway cluster (``pg_fixtures``). The suites of
tests/test_incremental.py also run against PostgreSQL (their ``store_kind`` parameter).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qa import vectors
from qa.errors import QAError, SettingsError, StoreConnectionError
from qa.pgindex import queue_state
from qa.pgstore import PgStore, connect, redact
from qa.retrieval import search
from qa.stores import open_store

from conftest import copy_seeds, write
from index_helpers import check, leftovers_of, make_docs, question, run_update

HERE = Path(__file__).resolve().parent
WORKER = HERE / "pg_worker.py"


@pytest.fixture
def pg_settings(settings, pg_url):
    return settings.with_(store=pg_url)


def _documents(url: str) -> list[tuple[str, int]]:
    """(path, live copies) of every live document, and the staged rows left, straight from the tables."""
    conn = connect(url)
    try:
        return conn.execute("SELECT path, COUNT(*) FROM documents GROUP BY path ORDER BY path").fetchall()
    finally:
        conn.close()


def test_an_app_server_follows_new_generations_without_reloading(pg_settings, docs_dir, fake_embedder):
    make_docs(docs_dir, 4, seed=5)
    run_update(pg_settings, fake_embedder)
    with open_store(pg_settings) as app:
        assert search(app, fake_embedder, question("doc1s1"), k=1)[0].doc == "doc001.md"
        assert (app.full_loads, app.catch_ups) == (1, 0)
        write(docs_dir, "late.md", "# Late\n\nA petition about zanzibar quokkas and their wardens.\n")
        (docs_dir / "doc002.md").unlink()
        report = run_update(pg_settings, fake_embedder)
        assert report.added == ["late.md"] and report.removed == ["doc002.md"] and report.chunks_embedded == 1
        hits = search(app, fake_embedder, "zanzibar quokkas wardens", k=20)
        assert hits[0].doc == "late.md" and all(h.doc != "doc002.md" for h in hits)
        # two generations (the removal, then the addition) applied in one catch-up, not reloaded
        assert (app.full_loads, app.catch_ups, app.generation) == (1, 1, 3)
        verified = app.verify()
        fresh = PgStore.open(pg_settings.store, pg_settings)
        try:
            assert fresh.verify()["chunks"] == verified["chunks"] == 4 * 3 - 3 + 1
            ids = fresh.chunk_ids()
            np.testing.assert_array_equal(vectors.ids_of(app.vector_index()), ids)
            np.testing.assert_array_equal(vectors.reconstruct(app.vector_index(), ids),
                                          vectors.reconstruct(fresh.vector_index(), ids))
            assert sorted(app.lexical_index().ids.tolist()) == ids.tolist()
        finally:
            fresh.close()


def test_a_reader_during_updates_sees_whole_generations(pg_settings, docs_dir, fake_embedder):
    make_docs(docs_dir, 6, seed=6)
    run_update(pg_settings, fake_embedder)
    seen, problems, stop = set(), [], threading.Event()

    def read():
        with open_store(pg_settings) as app:
            while not stop.is_set():
                try:
                    with app.snapshot() as snap:
                        rows = snap.records.chunk_ids()
                        if not np.array_equal(rows, snap.generation.ids) or len(snap.lexical) != len(rows):
                            problems.append(snap.number)
                        docs = {c.doc for c in snap.chunks(rows.tolist()).values()}
                        if len(docs) * 3 != len(rows):  # every document whole: 3 passages each
                            problems.append(("partial", snap.number, len(rows)))
                        seen.add(snap.number)
                except QAError as exc:  # pragma: no cover - reported below
                    problems.append(repr(exc))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(6):
            make_docs(docs_dir, 2, seed=100 + round_, prefix=f"r{round_}")
            if round_ % 2:
                (docs_dir / f"r{round_ - 1}000.md").unlink()
            run_update(pg_settings, fake_embedder)
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(30)
    assert not problems
    assert len(seen) >= 3


def _start_indexer(url, docs, cache, *extra):
    proc = subprocess.Popen([sys.executable, str(WORKER), "index", url, str(docs), str(cache), *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def test_two_indexers_and_two_app_servers_on_one_database(pg_settings, docs_dir, fake_embedder, tmp_path):
    make_docs(docs_dir, 2, seed=7)
    run_update(pg_settings, fake_embedder)  # generation 1
    texts = make_docs(docs_dir, 24, seed=8, prefix="batch")
    servers = [subprocess.Popen([sys.executable, str(WORKER), "serve", pg_settings.store, "2", question("batch17s1")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for server in servers:
        assert server.stdout.readline().strip() == "ready", server.stderr.read()
    indexers = [_start_indexer(pg_settings.store, docs_dir, tmp_path / f"cache{i}", "--slow", "0.05") for i in range(2)]
    for proc in indexers:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = [json.loads(proc.communicate(timeout=120)[0].strip().splitlines()[-1]) for proc in indexers]
    assert sorted(p for r in reports for p in r["added"]) == sorted(texts)  # each file indexed by exactly one
    assert all(r["added"] for r in reports), "both indexers took a share of the queue"
    answers = [json.loads(server.communicate(timeout=120)[0].strip().splitlines()[-1]) for server in servers]
    for answer in answers:
        assert answer["generation"] >= 2 and answer["full_loads"] == 1
    assert all(copies == 1 for _, copies in _documents(pg_settings.store))
    assert len(_documents(pg_settings.store)) == 26 and check(pg_settings)["chunks"] == 26 * 3
    assert not leftovers_of(pg_settings)


def test_killed_indexers_lose_only_their_unfinished_files(pg_settings, docs_dir, fake_embedder, tmp_path):
    """SIGKILL an indexer at a random moment, ten times; a later update finishes the work, nothing twice."""
    rng = random.Random(11)
    expected, interrupted = set(), 0
    for trial in range(10):
        expected |= set(make_docs(docs_dir, 6, seed=200 + trial, prefix=f"k{trial}-"))
        proc = _start_indexer(pg_settings.store, docs_dir, tmp_path / "cache", "--slow", "0.15")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        # Killed during its first or second batch, at a random moment of that batch's 0.15 s (a fixed delay
        # after "go" let a fast machine finish first). A worker with fewer batches has printed its report.
        for _ in range(rng.randint(1, 2)):
            if proc.stdout.readline().strip() != "batch":
                break
        time.sleep(rng.uniform(0.0, 0.12))
        proc.send_signal(signal.SIGKILL)
        interrupted += proc.wait(30) == -signal.SIGKILL
        proc.stdout.close()
        proc.stderr.close()
        documents = _documents(pg_settings.store)
        assert all(copies == 1 for _, copies in documents)
        assert {path for path, _ in documents} <= expected
        if trial % 3 == 2:  # sometimes the next killed indexer takes over the queue; sometimes a clean run does
            run_update(pg_settings, fake_embedder)
            assert {path for path, _ in _documents(pg_settings.store)} == expected
    assert interrupted >= 8  # killed while working, not after it had finished
    run_update(pg_settings, fake_embedder)
    documents = _documents(pg_settings.store)
    assert {path for path, _ in documents} == expected and all(copies == 1 for _, copies in documents)
    assert check(pg_settings)["chunks"] == 3 * len(expected)
    assert not leftovers_of(pg_settings)
    state = queue_state(open_store(pg_settings))
    assert set(state) <= {"done", "superseded"}


def test_an_app_server_needs_only_a_read_only_role(pg_settings, docs_dir, fake_embedder, pg_cluster, pg_url):
    make_docs(docs_dir, 3, seed=9)
    run_update(pg_settings, fake_embedder)
    dbname = pg_url.rsplit("/", 1)[1]
    pg_cluster.create_role("verbatim_app", "app pass/1")
    grants = ["GRANT CONNECT ON DATABASE {db} TO verbatim_app", "GRANT USAGE ON SCHEMA verbatim TO verbatim_app",
              "GRANT SELECT ON ALL TABLES IN SCHEMA verbatim TO verbatim_app"]
    for grant in grants:
        pg_cluster.execute(grant.format(db=dbname), dbname=dbname)
    reader_url = pg_cluster.url(dbname, user="verbatim_app", password="app pass/1")
    reader = pg_settings.with_(store=reader_url)
    with open_store(reader) as app:
        assert search(app, fake_embedder, question("doc2s1"), k=1)[0].doc == "doc002.md"
        quoted = search(app, fake_embedder, question("doc2s1") + ' "doc1s2x"', k=3)  # words in quotes (qa.phrases)
        assert [(p.doc, "doc1s2x" in p.text) for p in quoted] == [("doc001.md", True)]
        with pytest.raises(Exception) as denied:
            app.apply([], ["doc002.md"], [])
        assert "permission denied" in str(denied.value)
    assert len(_documents(pg_settings.store)) == 3


def test_passwords_never_appear_in_messages(pg_cluster, pg_url, settings, monkeypatch, capsys):
    dbname = pg_url.rsplit("/", 1)[1]
    pg_cluster.create_role("verbatim_secret", "s3cret-Pa55")
    wrong = pg_cluster.url(dbname, user="verbatim_secret", password="wr0ng-Pa55")
    with pytest.raises(StoreConnectionError) as failed:
        open_store(settings.with_(store=wrong))
    message = str(failed.value)
    assert "wr0ng-Pa55" not in message and "verbatim_secret@" in message and "authentication failed" in message
    assert redact(wrong) == f"postgresql://verbatim_secret@{pg_cluster.host}:{pg_cluster.port}/{dbname}"
    # On the command line a password would be visible to every user of the machine: refused.
    from qa.cli import main

    code = main(["docs", "--store", wrong])
    err = capsys.readouterr().err
    assert code == SettingsError.exit_code and "QA_STORE" in err and "wr0ng-Pa55" not in err
    # From the environment it is used, and still never shown.
    monkeypatch.setenv("QA_STORE", wrong)
    code = main(["docs"])
    err = capsys.readouterr().err
    assert code == StoreConnectionError.exit_code and "authentication failed" in err and "wr0ng-Pa55" not in err


@pytest.mark.slow
def test_cli_end_to_end_with_the_real_model(pg_url, tmp_path, monkeypatch, capsys):
    """A newcomer's flow on a team store: QA_STORE set, index the bundled reply, list it, ask with citations."""
    from qa.cli import main

    monkeypatch.setenv("QA_STORE", pg_url)
    seeds = tmp_path / "seeds"
    copy_seeds(seeds)
    assert main(["index", "--docs", str(seeds), "--index", str(tmp_path / "cache"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] and report["generation"] == 1
    assert main(["docs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["documents"]
    assert [d["doc"] for d in listed] == report["added"]
    assert main(["ask", "what did the state say about access to case materials?", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    passages = answer["passages"]
    assert passages
    with open_store(load_settings_with(pg_url)) as store:
        for passage in passages:
            text = store.document(passage["doc"]).text
            assert text[passage["start"]:passage["end"]] == passage["text"]
    assert main(["index", "--docs", str(seeds), "--index", str(tmp_path / "cache"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["unchanged"] == len(report["added"]) and again["chunks_embedded"] == 0


def load_settings_with(url):
    from qa.settings import load_settings

    return load_settings({}).with_(store=url)


def test_store_setting_is_checked():
    from qa.settings import load_settings

    with pytest.raises(SettingsError, match="QA_STORE"):
        load_settings({"QA_STORE": "mysql://x"})
    assert load_settings({"QA_STORE": "postgresql://u@h/db"}).store == "postgresql://u@h/db"


@pytest.mark.slow
def test_the_page_answers_from_a_postgresql_store(pg_url, tmp_path, real_embedder, monkeypatch):
    """The Streamlit page on a team store (QA_STORE): cited passages, and the store shown without its password."""
    from qa.stores import update_index
    from qa.settings import load_settings
    from test_app import QUESTION, ask, cards, markdown_texts, plain, start

    docs = tmp_path / "docs"
    copy_seeds(docs)
    settings = load_settings({}).with_(docs=docs, index=tmp_path / "cache", store=pg_url)
    assert not update_index(docs, settings.index, settings, embedder=real_embedder).failed
    monkeypatch.setenv("QA_DOCS", str(docs))
    monkeypatch.setenv("QA_INDEX", str(tmp_path / "cache"))
    monkeypatch.setenv("QA_STORE", pg_url)
    at = ask(start(), QUESTION)
    assert any("denied access to the materials are untrue" in card for card in cards(at))
    assert any(redact(pg_url) in plain(text) for text in markdown_texts(at))


def test_an_app_server_keeps_few_connections_however_many_threads_ask(pg_settings, docs_dir, fake_embedder):
    """The page runs each session's script in a thread of its own: connections are borrowed, not per thread."""
    from qa.pgstore import IDLE_READERS

    make_docs(docs_dir, 3, seed=12)
    run_update(pg_settings, fake_embedder)
    dbname = pg_settings.store.rsplit("/", 1)[1]
    with open_store(pg_settings) as app:
        found, barrier = [], threading.Barrier(12)

        def one():
            barrier.wait()
            found.append(search(app, fake_embedder, question("doc1s2"), k=1)[0].doc)

        for _ in range(3):  # 36 threads, 12 at a time
            threads = [threading.Thread(target=one) for _ in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        assert found == ["doc001.md"] * 36
        conn = connect(pg_settings.store)
        try:
            open_connections = conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'verbatim'", (dbname,)
            ).fetchone()[0]
        finally:
            conn.close()
        assert open_connections <= IDLE_READERS + 2  # idle readers, the store's own, this check


def test_a_large_store_is_served_from_an_inverted_file_and_followed_in_place(pg_settings, docs_dir, fake_embedder):
    """Above ``ann_threshold`` passages an app server builds an IVF index (as the folder's updater would),
    and applies later generations to it in place."""
    settings = pg_settings.with_(ann_threshold=100)
    make_docs(docs_dir, 270, seed=13, sections=10)  # 2,700 passages: enough to train 64 lists
    run_update(settings, fake_embedder)
    with open_store(settings) as app:
        assert vectors.index_kind(app.vector_index()) == "ivf"
        write(docs_dir, "late.md", "# Late\n\nA petition about zanzibar quokkas and their wardens.\n")
        run_update(settings, fake_embedder)
        assert search(app, fake_embedder, "zanzibar quokkas wardens", k=1)[0].doc == "late.md"
        assert (app.full_loads, app.catch_ups) == (1, 1) and vectors.index_kind(app.vector_index()) == "ivf"
        assert app.verify()["chunks"] == 270 * 10 + 1


def test_a_file_published_while_another_indexer_scanned_is_not_queued_again(pg_settings, docs_dir, fake_embedder,
                                                                             monkeypatch):
    from qa.pgindex import plan_update
    from qa.report import IndexReport

    make_docs(docs_dir, 3, seed=14)
    run_update(pg_settings, fake_embedder)
    store = PgStore.open(pg_settings.store, pg_settings)
    try:
        monkeypatch.setattr(store, "documents", lambda: [])  # what a scan that read before the publish saw
        assert plan_update(store, docs_dir, pg_settings, IndexReport()) == 0
        assert queue_state(store) == {"done": 3}
    finally:
        store.close()


def test_dropped_connections_are_replaced_and_a_server_gone_is_a_clear_error(pg_settings, docs_dir, fake_embedder,
                                                                             pg_cluster):
    make_docs(docs_dir, 2, seed=15)
    run_update(pg_settings, fake_embedder)
    with open_store(pg_settings) as app:
        assert search(app, fake_embedder, question("doc1s1"), k=1)[0].doc == "doc001.md"
        admin = connect(pg_settings.store)
        try:  # what a server restart does to the app server's idle connections
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND pid <> pg_backend_pid() AND application_name = 'verbatim'")
        finally:
            admin.close()
        # the idle connections were dropped: the question takes a fresh one and is answered
        assert search(app, fake_embedder, question("doc1s1"), k=1)[0].doc == "doc001.md"
    gone = pg_settings.with_(store=pg_cluster.url("no_such_database"))
    with pytest.raises(StoreConnectionError, match="Cannot connect") as failed:
        open_store(gone)
    assert "no_such_database" in str(failed.value)


def test_tls_when_the_url_asks_for_it(pg_settings, docs_dir, fake_embedder, pg_cluster, tmp_path):
    make_docs(docs_dir, 2, seed=16)
    run_update(pg_settings, fake_embedder)
    verified = f"{pg_settings.store}?sslmode=verify-full&sslrootcert={pg_cluster.ca_file}"
    with open_store(pg_settings.with_(store=verified)) as app:
        assert search(app, fake_embedder, question("doc1s1"), k=1)[0].doc == "doc001.md"
        with app._read() as reads:
            assert reads.conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
    other = tmp_path / "other.crt"  # a certificate authority that did not sign the server's certificate
    subprocess.run(["openssl", "req", "-new", "-x509", "-days", "1", "-nodes", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "other.key"), "-out", str(other)], check=True, capture_output=True)
    with pytest.raises(StoreConnectionError, match="Cannot connect"):
        open_store(pg_settings.with_(store=f"{pg_settings.store}?sslmode=verify-full&sslrootcert={other}"))


class _CommitsAnotherStageMidway:
    """The publish connection, with another indexer's claim committed right after publish lists the staged files."""

    def __init__(self, raw, commit_other):
        self._raw, self._commit_other = raw, commit_other

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def execute(self, sql, *args, **kwargs):
        result = self._raw.execute(sql, *args, **kwargs)
        if "d.work_id = w.id" in sql and self._commit_other is not None:
            self._commit_other()
            self._commit_other = None
        return result


def test_a_file_staged_while_another_indexer_publishes_is_published_later(pg_settings, docs_dir, fake_embedder):
    """Two indexers, one queue: a claim committed during the other's publish stays staged for the next publish
    (it was once put back to 'todo' with its rows staged, and lost when both indexers had emptied the queue)."""
    import contextlib

    from qa.chunking import ChunkSettings
    from qa.pgindex import _stage, plan_update, publish
    from qa.report import IndexReport
    from qa.retrieval import as_encoders

    make_docs(docs_dir, 1, seed=16)
    run_update(pg_settings, fake_embedder)
    make_docs(docs_dir, 2, seed=17, prefix="late")
    store = PgStore.open(pg_settings.store, pg_settings)
    claims = [connect(pg_settings.store) for _ in range(2)]
    try:
        store.writable = True
        assert plan_update(store, docs_dir, pg_settings, IndexReport()) == 2
        counter, report = {"done": 0, "total": 2}, IndexReport()

        def stage_one(conn) -> str:
            rows = conn.execute("SELECT id, paths, digest, size, mtime_ns FROM verbatim.work WHERE state='todo' "
                                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED").fetchall()
            _stage(store, conn, docs_dir, pg_settings, ChunkSettings.from_settings(pg_settings), rows, report,
                   as_encoders(fake_embedder), None, "test", counter)
            return json.loads(rows[0][1])[0]

        with claims[0].transaction():
            first = stage_one(claims[0])
        other = contextlib.ExitStack()
        other.enter_context(claims[1].transaction())
        second = stage_one(claims[1])  # staged, not yet committed
        raw = store._conn.raw
        store._conn.raw = _CommitsAnotherStageMidway(raw, other.close)
        try:
            assert publish(store) is not None
        finally:
            store._conn.raw = raw
        assert sorted(report.added) == ["late000.md", "late001.md"]
        assert {first, second} == {"late000.md", "late001.md"}
        assert [path for path, _ in _documents(pg_settings.store)] == ["doc000.md", first]
        assert queue_state(store) == {"done": 2, "staged": 1}  # the second claim waits for the next publish
        assert publish(store) is not None
        assert [path for path, _ in _documents(pg_settings.store)] == ["doc000.md", "late000.md", "late001.md"]
        assert queue_state(store) == {"done": 3} and not leftovers_of(pg_settings)
    finally:
        for conn in claims:
            conn.close()
        store.close()
