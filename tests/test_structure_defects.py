"""One test per defect of the issue "One committed generation per question…": user files next to the
index, readers racing an update, special files in the docs folder, bad settings, damaged rows, migrations."""

from __future__ import annotations

import os
import sqlite3
import threading

import numpy as np
import pytest

from conftest import write
from qa import indexing
from qa.answer import ask
from qa.errors import IndexCorruptError, IndexMismatchError, SettingsError
from qa.indexing import DocsFolderError, update_index
from qa.retrieval import Searcher, to_passages
from qa.settings import load_settings
from qa.schema import SCHEMA_VERSION
from qa.store import Store


def _docs(folder, count=6, tag="x"):
    for i in range(count):
        write(folder, f"doc{i}.md", f"# Doc {i}\n\nThe hearing {tag}{i} concerned detention and the lawyer {i}. "
                                    f"A second sentence about access to materials number {i}.")


def test_the_indexer_never_deletes_files_that_are_not_its_own(settings, docs_dir, fake_embedder):
    _docs(docs_dir)
    index = settings.index
    update_index(docs_dir, index, settings, embedder=fake_embedder)
    (index / "lexical-notes").mkdir()
    (index / "lexical-notes" / "n.txt").write_text("a")
    (index / "vectors-2024-budget.md").write_text("b")
    (index / "draft.tmp").write_text("c")
    (index / "lexical-7").mkdir()  # our name pattern, a generation we never wrote, someone else's file inside
    (index / "lexical-7" / "mine.txt").write_text("d")
    for tag in ("y", "z"):
        _docs(docs_dir, tag=tag)
        update_index(docs_dir, index, settings, embedder=fake_embedder)
    assert (index / "lexical-notes" / "n.txt").read_text() == "a"
    assert (index / "vectors-2024-budget.md").read_text() == "b"
    assert (index / "draft.tmp").read_text() == "c"
    assert (index / "lexical-7" / "mine.txt").read_text() == "d"
    with Store.open(index, settings) as store:
        generation = store.generation
    derived = sorted(p.name for p in index.iterdir() if p.name.startswith(("vectors-", "lexical-")))
    assert derived == sorted([f"lexical-{generation}", "lexical-7", "lexical-notes", f"vectors-{generation}.faiss",
                              "vectors-2024-budget.md"])


@pytest.mark.parametrize("layout", ["same", "index_inside_docs", "docs_inside_index"])
def test_overlapping_docs_and_index_folders_are_refused_and_nothing_is_touched(tmp_path, fake_embedder, layout):
    docs = tmp_path / "u"
    index = {"same": docs, "index_inside_docs": docs / "idx", "docs_inside_index": tmp_path}[layout]
    write(docs, "report.md", "# R\n\nText.")
    write(docs, "vectors-2024-budget.md", "b")
    write(docs, "draft.tmp", "c")
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    settings = load_settings({}).with_(docs=docs, index=index)
    with pytest.raises(DocsFolderError, match="index|documents") as info:
        update_index(docs, index, settings, embedder=fake_embedder)
    assert info.value.exit_code == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


def test_an_index_path_that_is_a_file_is_refused_with_a_message(tmp_path, docs_dir, fake_embedder, settings):
    _docs(docs_dir)
    target = tmp_path / "index-file"
    target.write_text("not a folder")
    with pytest.raises(DocsFolderError, match="is a file"):
        update_index(docs_dir, target, settings, embedder=fake_embedder)
    assert target.read_text() == "not a folder"


def test_a_question_reads_one_generation_even_when_an_update_commits_in_between(settings, docs_dir, fake_embedder):
    _docs(docs_dir, tag="old")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as reader, reader.snapshot() as snap:
        hits = Searcher(snap, fake_embedder).search("hearing detention lawyer", k=5).hits
        # Another process replaces every document (and so every chunk id) and commits.
        for path in docs_dir.iterdir():
            path.unlink()
        _docs(docs_dir, tag="new")
        report = update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
        assert report.generation == snap.number + 1
        passages = to_passages(snap, hits)  # rows of the old generation, still
        assert len(passages) == 5 and all("old" in p.text for p in passages)
        assert set(snap.sentence_vectors([h.chunk_id for h in hits])) == {h.chunk_id for h in hits}
        cosines = snap.cosines([h.chunk_id for h in hits], fake_embedder.encode_query("hearing"))
        assert len(cosines) == 5
    with Store.open(settings.index, settings) as reader:  # a new question sees the new generation
        answer = ask(reader, fake_embedder, "hearing detention lawyer", k=5)
        assert len(answer.passages) == 5 and all("new" in p.text for p in answer.passages)


def test_a_long_lived_reader_during_many_updates_never_mixes_generations(settings, docs_dir, fake_embedder):
    _docs(docs_dir, count=8, tag="g0")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    errors, answers = [], []
    stop = threading.Event()

    def read():
        with Store.open(settings.index, settings) as reader:
            while not stop.is_set():
                try:
                    answer = ask(reader, fake_embedder, "hearing detention lawyer access", k=5)
                    tags = {p.text.split("hearing ")[1].split("0")[0][:2] for p in answer.passages}
                    answers.append((len(answer.passages), len({t[:1] for t in tags})))
                except Exception as exc:  # noqa: BLE001 - any error is the defect
                    errors.append(repr(exc))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for round_ in range(1, 13):
            _docs(docs_dir, count=8, tag=f"g{round_ % 2}{round_}")
            update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert answers and all(count == 5 for count, _ in answers)


def test_a_symlink_loop_and_a_fifo_are_skipped_with_reasons_and_the_rest_is_indexed(settings, docs_dir, fake_embedder):
    _docs(docs_dir, count=2)
    os.symlink("b.md", docs_dir / "a.md")
    os.symlink("a.md", docs_dir / "b.md")
    os.mkfifo(docs_dir / "pipe.txt")
    report = update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    assert report.added == ["doc0.md", "doc1.md"]
    reasons = {s.doc: s.error for s in report.skipped}
    assert set(reasons) == {"a.md", "b.md", "pipe.txt"}
    assert "loop" in reasons["a.md"] and "pipe" in reasons["pipe.txt"].lower()
    assert report.to_json()["skipped"][0].keys() == {"doc", "error"}


def test_a_renamed_file_gets_the_title_a_fresh_build_gives(settings, docs_dir, fake_embedder, tmp_path):
    write(docs_dir, "old_name.txt", "The hearing concerned detention. Nothing else.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    os.replace(docs_dir / "old_name.txt", docs_dir / "new_name.txt")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    fresh = settings.with_(index=tmp_path / "fresh")
    update_index(docs_dir, fresh.index, fresh, embedder=fake_embedder)
    with Store.open(settings.index, settings) as a, Store.open(fresh.index, fresh) as b:
        assert [d.title for d in a.documents()] == [d.title for d in b.documents()]
        assert a.all_embeddings()[1].tolist() == b.all_embeddings()[1].tolist()


def test_an_interrupted_first_build_keeps_the_documents_it_finished(settings, docs_dir, fake_embedder, monkeypatch):
    for i in range(12):
        write(docs_dir, f"doc{i:02}.md", f"# Doc {i}\n\nThe hearing number {i} concerned detention.")
    monkeypatch.setattr(indexing, "COMMIT_EVERY_PASSAGES", 4)
    calls = {"n": 0}
    real = fake_embedder.encode

    def dies_on_the_third_batch(texts, batch_size=None, show_progress=False):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if killed
        return real(texts)

    monkeypatch.setattr(fake_embedder, "encode", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        kept = [d.path for d in store.documents()]
        store.verify(strict=True)
    assert 0 < len(kept) < 12
    monkeypatch.setattr(fake_embedder, "encode", real)
    report = update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    assert sorted(report.added) == sorted(set(f"doc{i:02}.md" for i in range(12)) - set(kept))
    assert report.unchanged == len(kept)


def test_damaged_bytes_in_a_sentence_vector_blob_are_found_by_verify(settings, docs_dir, fake_embedder):
    _docs(docs_dir)
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        assert store.verify()["chunks"] > 0
    conn = sqlite3.connect(settings.index / "store.sqlite3")
    chunk_id, blob = conn.execute("SELECT id, sentence_vectors FROM chunks ORDER BY id LIMIT 1").fetchone()
    damaged = bytearray(blob)
    damaged[16:80] = b"\xff" * 64
    conn.execute("UPDATE chunks SET sentence_vectors=? WHERE id=?", (bytes(damaged), chunk_id))
    conn.commit()
    conn.close()
    with Store.open(settings.index, settings) as store, pytest.raises(IndexCorruptError, match="damaged"):
        store.verify()


def test_an_index_of_the_previous_schema_is_upgraded_in_place_without_re_embedding(settings, docs_dir, fake_embedder):
    _docs(docs_dir)
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    conn = sqlite3.connect(settings.index / "store.sqlite3")
    conn.executescript("ALTER TABLE chunks DROP COLUMN checksum; DROP TABLE extra_vectors; PRAGMA user_version = 2;")
    conn.close()
    with pytest.raises(IndexMismatchError, match="in place"):
        Store.open(settings.index, settings)  # a reader runs no DDL: it says how to upgrade
    encoded = len(fake_embedder.encoded_texts)
    report = update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    assert report.chunks_embedded == 0 and len(fake_embedder.encoded_texts) == encoded
    with Store.open(settings.index, settings) as store:
        store.verify(strict=True)
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("env, message", [
    ({"QA_TOP_K": "abc"}, "QA_TOP_K='abc' is not a whole number"),
    ({"QA_MODE": "nonsense"}, "QA_MODE is 'nonsense'"),
    ({"QA_CHUNK_MAX_CHARS": "-5"}, "QA_CHUNK_MAX_CHARS is -5"),
    ({"QA_CHUNK_OVERLAP_CHARS": "900"}, "do not fit together"),
    ({"QA_SENTENCE_VECTORS": "maybe"}, "QA_SENTENCE_VECTORS='maybe'"),
])
def test_bad_settings_are_refused_with_one_line(env, message):
    with pytest.raises(SettingsError, match=message) as info:
        load_settings(env)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_a_memory_snapshot_searches_like_the_index_on_disk(settings, docs_dir, fake_embedder):
    """The benchmarks tune the product's ``Searcher`` over arrays: same hits as over the stored index."""
    _docs(docs_dir, count=8)
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    from qa.snapshot import Snapshot

    with Store.open(settings.index, settings) as store, store.snapshot() as snap:
        ids, matrix = store.all_embeddings()
        _, texts, languages = store.lexical_rows()
        memory = Snapshot.in_memory(ids, matrix, texts, rows=snap.chunks(ids), sentences=snap.sentence_vectors(ids),
                                    languages=languages)
        for question in ("hearing detention", "lawyer access materials 3", "doc 5"):
            on_disk = Searcher(snap, fake_embedder).search(question, k=5).hits
            in_memory = Searcher(memory, fake_embedder).search(question, k=5).hits
            assert [h.chunk_id for h in on_disk] == [h.chunk_id for h in in_memory]
            assert np.allclose([h.score for h in on_disk], [h.score for h in in_memory])


def test_a_reader_whose_generation_is_cleaned_up_while_it_loads_reads_the_next_one(settings, docs_dir, fake_embedder):
    """The files of generation G vanish (a newer commit cleaned them up) between the reader's first read and
    its loading them: the reader starts again on G + 1 instead of rebuilding G from the rows (O(N))."""
    _docs(docs_dir, tag="old")
    first = update_index(docs_dir, settings.index, settings, embedder=fake_embedder).generation
    reader = Store.open(settings.index, settings)
    real_load = reader.files.load_dense
    calls = {"load": 0, "build": 0}

    def load_after_a_newer_commit(number, key, ids, dimension):
        calls["load"] += 1
        if calls["load"] == 1:  # the update commits G + 1 and deletes G's files right now
            _docs(docs_dir, tag="new")
            update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
        return real_load(number, key, ids, dimension)

    real_build = reader._build_dense

    def counting_build(*args, **kwargs):
        calls["build"] += 1
        return real_build(*args, **kwargs)

    reader.files.load_dense = load_after_a_newer_commit
    reader._build_dense = counting_build
    try:
        with reader.snapshot() as snap:
            assert snap.number == first + 1 and calls["build"] == 0
            hits = Searcher(snap, fake_embedder).search("hearing detention lawyer", k=3).hits
            assert all("new" in p.text for p in to_passages(snap, hits))
    finally:
        reader.close()
