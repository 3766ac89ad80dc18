"""Incremental indexing: add, change, delete, rename, duplicates, rebuild, bad and ignored files.

After each update the index is opened as a reader: FAISS and BM25 ids equal the store's chunk ids
(``Store.verify(strict=True)``), text only the new version has is found in every retrieval mode,
and a deleted document is never returned. Uses the fake embedder (instant, exact).
"""

from __future__ import annotations

import json
import os
import random
import shutil

import numpy as np
import pytest

from qa import vectors
from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, UnknownDocumentError
from qa.indexing import EXIT_BAD_INPUT, EXIT_PARTIAL, DocsFolderError
from qa.retrieval import search
from qa.report import Duplicate, Renamed
from qa.pgstore import PgStore
from qa.store import Store, build_manifest
from qa.stores import open_store, store_exists

from conftest import write
from store_kinds import pytest_generate_tests, settings, store_kind  # noqa: F401
from index_helpers import check, leftovers, leftovers_of, make_docs, paragraph, question, run_update, sectioned_doc

MODES = ("dense", "bm25", "hybrid")


def _hits(settings, embedder, question, mode, k=5):
    with open_store(settings) as store:
        return search(store, embedder, question, k=k, mode=mode)


def _assert_found(settings, embedder, question, doc, needle):
    """In every mode, the best passage for ``question`` is from ``doc`` and contains ``needle``."""
    for mode in MODES:
        hits = _hits(settings, embedder, question, mode)
        assert hits, mode
        assert hits[0].doc == doc and needle.lower() in hits[0].text.lower(), (mode, hits[0].doc, hits[0].text[:80])


def _assert_absent(settings, embedder, question, doc=None, needle=None):
    """No mode returns a passage of ``doc`` (a deleted document), or one containing ``needle`` (old text)."""
    for mode in MODES:
        for hit in _hits(settings, embedder, question, mode, k=20):
            if doc:
                assert hit.doc != doc, mode
            if needle:
                assert needle.lower() not in hit.text.lower(), mode


@pytest.fixture
def corpus(settings, docs_dir, fake_embedder):
    """Five three-section documents, indexed."""
    texts = make_docs(docs_dir, 5, seed=1)
    report = run_update(settings, fake_embedder)
    assert report.added == sorted(texts) and report.chunks_embedded == 5 * 3  # 3 sections, the title opening the first
    check(settings)
    return texts


def test_add_a_document(settings, docs_dir, fake_embedder, corpus):
    before = len(fake_embedder.encoded_texts)
    write(docs_dir, "new/arrival.md", "# Arrival\n\nThe zanzibar quokka petition reached the committee in May.")
    report = run_update(settings, fake_embedder)
    assert report.added == ["new/arrival.md"] and not report.changed and not report.removed
    assert report.unchanged == 5 and report.chunks_embedded == 1
    # the new chunk and each of its sentences, nothing else
    assert report.sentences_embedded == 2 and len(fake_embedder.encoded_texts) - before == 1 + 2
    assert report.documents_total == 6 and report.exit_code == 0
    result = check(settings)
    assert result["documents"] == 6 and result["files"] == {"vectors": "ok", "lexical": "ok"}
    _assert_found(settings, fake_embedder, "zanzibar quokka petition", "new/arrival.md", "quokka")
    assert not leftovers_of(settings)


def test_changing_one_paragraph_re_embeds_only_its_chunk(settings, docs_dir, fake_embedder):
    rng = random.Random(7)
    paragraphs = [paragraph(rng, f"marker{j}", words=90) for j in range(6)]
    write(docs_dir, "long.md", sectioned_doc("A long report", paragraphs))
    write(docs_dir, "other.md", "# Other\n\nUnrelated text about prisons and judges.")
    report = run_update(settings, fake_embedder)
    with open_store(settings) as store:
        old_chunks = store.document_chunks("long.md")
    assert len(old_chunks) == 6  # six sections, the title opening the first

    paragraphs[3] = paragraph(random.Random(8), "platypus", words=90) + " A wombat tribunal was convened."
    write(docs_dir, "long.md", sectioned_doc("A long report", paragraphs))
    before = len(fake_embedder.encoded_texts)
    report = run_update(settings, fake_embedder)
    assert report.changed == ["long.md"] and report.unchanged == 1 and not report.added
    assert report.chunks_embedded == 1 and report.chunks_reused == 5
    new_texts = fake_embedder.encoded_texts[before:]
    assert len(new_texts) == 1 + report.sentences_embedded and all(
        "A long report\n" in t for t in new_texts
    )  # the changed chunk, then its sentences (each seen with the title)
    assert "wombat tribunal" in max(new_texts, key=len) and any(t.endswith("A wombat tribunal was convened.") for t in new_texts)
    check(settings)

    with open_store(settings) as store:
        new_chunks = store.document_chunks("long.md")
        assert [c.text for c in new_chunks if c.ordinal != 3] == [c.text for c in old_chunks if c.ordinal != 3]
        # Unchanged chunks keep their stored embeddings (reused by chunk hash, not re-encoded).
        ids, matrix = store.all_embeddings()
        by_id = dict(zip(ids.tolist(), matrix))
        for c in new_chunks:
            assert np.allclose(by_id[c.id], fake_embedder.vector(store_embedding_text(c)), atol=1e-6)
    _assert_found(settings, fake_embedder, "wombat tribunal platypus", "long.md", "wombat tribunal")
    for hit in _hits(settings, fake_embedder, question("marker3"), "bm25"):
        assert "marker3x" not in hit.text.lower()  # the old paragraph is gone from BM25


def store_embedding_text(chunk) -> str:
    from qa.chunking import embedding_text

    return embedding_text(chunk.section, chunk.text, chunk.title)


def test_deleting_a_document(settings, docs_dir, fake_embedder, corpus):
    with open_store(settings) as store:
        gone_ids = set(store.chunk_ids_for_docs(["doc002.md"]).tolist())
    (docs_dir / "doc002.md").unlink()
    report = run_update(settings, fake_embedder)
    assert report.removed == ["doc002.md"] and report.chunks_embedded == 0 and report.unchanged == 4
    result = check(settings)
    assert result["documents"] == 4 and result["chunks"] == 12
    with open_store(settings) as store:
        assert not gone_ids & set(vectors.ids_of(store.vector_index()).tolist())
        with pytest.raises(UnknownDocumentError):
            store.document("doc002.md")
    _assert_absent(settings, fake_embedder, question("doc2s1") + " " + question("doc2s0"), "doc002.md")


def test_renaming_or_moving_keeps_embeddings(settings, docs_dir, fake_embedder, corpus):
    with open_store(settings) as store:
        old_ids = store.chunk_ids_for_docs(["doc001.md"]).tolist()
    (docs_dir / "moved").mkdir()
    os.replace(docs_dir / "doc001.md", docs_dir / "moved" / "renamed.md")
    before = len(fake_embedder.encoded_texts)
    report = run_update(settings, fake_embedder)
    assert report.renamed == [Renamed("doc001.md", "moved/renamed.md")]
    assert not report.added and not report.removed and not report.changed
    assert report.chunks_embedded == 0 and len(fake_embedder.encoded_texts) == before
    check(settings)
    with open_store(settings) as store:
        assert store.chunk_ids_for_docs(["moved/renamed.md"]).tolist() == old_ids
        assert "doc001.md" not in [d.path for d in store.documents()]
    _assert_found(settings, fake_embedder, question("doc1s2"), "moved/renamed.md", "doc1s2x")
    # The stored size and mtime follow the new file: the next run does not even read it.
    assert run_update(settings, fake_embedder).unchanged == 5


def test_a_file_renamed_to_another_format_is_read_again(settings, docs_dir, fake_embedder, corpus):
    """notes.txt renamed notes.html kept the text reading ("<p>" as words) while a fresh build reads HTML."""
    (docs_dir / "notes.txt").write_text("<h1>Prison visits</h1>\n\n<p>Monitors visited every prison in 2024.</p>\n",
                                        encoding="utf-8")
    run_update(settings, fake_embedder)
    os.replace(docs_dir / "notes.txt", docs_dir / "notes.html")
    report = run_update(settings, fake_embedder)
    assert not report.renamed and report.added == ["notes.html"] and report.removed == ["notes.txt"]
    with open_store(settings) as store:
        assert "<p>" not in store.document("notes.html").text
    os.replace(docs_dir / "notes.html", docs_dir / "notes.htm")  # the same loader: a rename
    assert [r.new for r in run_update(settings, fake_embedder).renamed] == ["notes.htm"]


def test_copy_then_rename_with_new_mtime(settings, docs_dir, fake_embedder, corpus):
    shutil.copyfile(docs_dir / "doc003.md", docs_dir / "copied.md")  # new mtime
    (docs_dir / "doc003.md").unlink()
    report = run_update(settings, fake_embedder)
    assert report.renamed == [Renamed("doc003.md", "copied.md")] and report.chunks_embedded == 0
    check(settings)


def test_same_content_under_two_names_is_indexed_once(settings, docs_dir, fake_embedder, corpus):
    shutil.copyfile(docs_dir / "doc000.md", docs_dir / "copy-of-doc000.md")
    report = run_update(settings, fake_embedder)
    assert report.duplicates == [Duplicate("copy-of-doc000.md", "doc000.md")]
    assert not report.added and report.chunks_embedded == 0 and report.documents_total == 5
    check(settings)
    # Reported again on every run while both exist.
    assert run_update(settings, fake_embedder).duplicates == report.duplicates

    # Two new files with the same content: the first (by path) is indexed, the other is a duplicate.
    write(docs_dir, "twin-a.md", "# Twin\n\nA unique okapi paragraph.")
    write(docs_dir, "twin-b.md", "# Twin\n\nA unique okapi paragraph.")
    report = run_update(settings, fake_embedder)
    assert report.added == ["twin-a.md"]
    assert Duplicate("twin-b.md", "twin-a.md") in report.duplicates

    # The original goes: the copy takes over its chunks (a rename), nothing is embedded.
    (docs_dir / "doc000.md").unlink()
    report = run_update(settings, fake_embedder)
    assert report.renamed == [Renamed("doc000.md", "copy-of-doc000.md")] and report.chunks_embedded == 0
    check(settings)


def test_an_indexed_document_that_becomes_a_copy_of_another_leaves_the_index(settings, docs_dir, fake_embedder, corpus):
    shutil.copyfile(docs_dir / "doc000.md", docs_dir / "doc004.md")
    report = run_update(settings, fake_embedder)
    assert report.duplicates == [Duplicate("doc004.md", "doc000.md")]
    assert report.removed == ["doc004.md"]  # its old content is no longer in the folder
    check(settings)
    _assert_absent(settings, fake_embedder, question("doc4s1"), "doc004.md", "doc4s1x")


def test_swapping_two_documents_re_embeds_nothing(settings, docs_dir, fake_embedder, corpus):
    a, b = docs_dir / "doc000.md", docs_dir / "doc001.md"
    text_a, text_b = a.read_text(), b.read_text()
    a.write_text(text_b)
    b.write_text(text_a)
    report = run_update(settings, fake_embedder)
    assert report.changed == ["doc000.md", "doc001.md"] and report.chunks_embedded == 0
    check(settings)
    _assert_found(settings, fake_embedder, question("doc1s0"), "doc000.md", "doc1s0x")


def test_no_change_and_touch_do_not_commit(settings, docs_dir, fake_embedder, corpus):
    report = run_update(settings, fake_embedder)
    generation = report.generation
    assert report.unchanged == 5 and report.chunks_embedded == 0 and not report.changed_anything
    old = docs_dir / "doc000.md"
    stamp = old.stat().st_mtime_ns - 3600 * 10**9
    os.utime(old, ns=(stamp, stamp))  # new mtime, same content
    report = run_update(settings, fake_embedder)
    assert report.unchanged == 5 and report.generation == generation and not report.changed_anything
    with open_store(settings) as store:
        assert store.document_info("doc000.md").mtime_ns == stamp  # recorded: the next scan does not read it


def test_rebuild_re_embeds_everything(settings, docs_dir, fake_embedder, corpus):
    (docs_dir / "doc004.md").unlink()
    run_update(settings, fake_embedder)
    old_generation = check(settings)["generation"]
    before = len(fake_embedder.encoded_texts)
    report = run_update(settings, fake_embedder, rebuild=True)
    assert report.rebuild and report.added == [f"doc00{i}.md" for i in range(4)]
    assert report.chunks_embedded == 12 and report.sentences_embedded > 12
    assert len(fake_embedder.encoded_texts) - before == report.chunks_embedded + report.sentences_embedded
    result = check(settings)
    assert result["generation"] == old_generation + 1 and result["chunks"] == 12
    assert not leftovers_of(settings)
    _assert_found(settings, fake_embedder, question("doc3s2"), "doc003.md", "doc3s2x")


def test_rebuild_installs_new_settings(settings, docs_dir, fake_embedder, corpus, store_kind):
    other = settings.with_(chunk_max_chars=400)
    report = run_update(other, fake_embedder, rebuild=True)
    assert report.documents_total == 5
    with open_store(other) as store:
        assert store.manifest["chunking"]["max_chars"] == 400
        store.verify(strict=True)
    if store_kind == "sqlite":
        assert json.loads((settings.index / "manifest.json").read_text())["chunking"]["max_chars"] == 400
    with pytest.raises(IndexMismatchError, match="other settings"):
        open_store(settings)


def test_bad_documents_are_reported_and_the_rest_indexed(settings, docs_dir, fake_embedder, monkeypatch):
    write(docs_dir, "good.md", "# Good\n\nA readable document about the narwhal hearing.")
    (docs_dir / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 100)
    (docs_dir / "empty.md").write_bytes(b"")
    (docs_dir / "fake.pdf").write_bytes(b"this is not a pdf at all")
    write(docs_dir, "crashes.md", "# Crash\n\nThe loader will raise on this one.")
    import qa.indexing

    real = qa.indexing.load_document

    def flaky(root, rel, settings=None, data=None, progress=None):
        if rel == "crashes.md":
            raise RuntimeError("parser exploded")
        return real(root, rel, settings, data=data)

    monkeypatch.setattr(qa.indexing, "load_document", flaky)
    report = run_update(settings, fake_embedder)
    assert report.added == ["good.md"] and report.exit_code == EXIT_PARTIAL
    failed = {f.doc: f.error for f in report.failed}
    assert set(failed) == {"binary.txt", "empty.md", "fake.pdf", "crashes.md"}
    assert "binary" in failed["binary.txt"] and "empty" in failed["empty.md"] and "PDF" in failed["fake.pdf"]
    assert "RuntimeError: parser exploded" in failed["crashes.md"]
    check(settings)
    _assert_found(settings, fake_embedder, "narwhal hearing", "good.md", "narwhal")


def test_cli_exit_code_is_1_when_documents_fail(settings, docs_dir, fake_embedder, monkeypatch, capsys):
    import qa.encoders
    from qa.cli import main

    monkeypatch.setattr(qa.encoders, "embedder_for", lambda s: fake_embedder)
    write(docs_dir, "good.md", "# Good\n\nReadable.")
    (docs_dir / "binary.txt").write_bytes(b"\x00" * 50)
    code = main(["index", "--docs", str(docs_dir), "--index", str(settings.index), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1 and summary["added"] == ["good.md"] and summary["failed"][0]["doc"] == "binary.txt"
    (docs_dir / "binary.txt").unlink()
    assert main(["index", "--docs", str(docs_dir), "--index", str(settings.index), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == []
    assert main(["index", "--docs", str(docs_dir / "nope"), "--index", str(settings.index)]) == EXIT_BAD_INPUT


def test_a_document_that_turns_corrupt_keeps_its_previous_version(settings, docs_dir, fake_embedder):
    write(docs_dir, "report.md", "# Report\n\nThe axolotl inquiry concluded in June.")
    write(docs_dir, "other.md", "# Other\n\nSomething else.")
    run_update(settings, fake_embedder)
    (docs_dir / "report.md").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 4)  # not text any more
    report = run_update(settings, fake_embedder)
    assert report.exit_code == EXIT_PARTIAL and not report.changed and not report.removed
    assert report.failed[0].doc == "report.md"
    assert "previously indexed version is kept" in report.failed[0].error
    check(settings)
    _assert_found(settings, fake_embedder, "axolotl inquiry", "report.md", "axolotl")
    write(docs_dir, "report.md", "# Report\n\nThe capybara inquiry concluded in July.")
    report = run_update(settings, fake_embedder)
    assert report.changed == ["report.md"] and not report.failed
    _assert_found(settings, fake_embedder, "capybara inquiry", "report.md", "capybara")
    _assert_absent(settings, fake_embedder, "axolotl inquiry", needle="axolotl")


def test_ignored_file_names(settings, docs_dir, fake_embedder):
    write(docs_dir, "real.md", "# Real\n\nIndexed.")
    for name in (".hidden.md", "notes.md.swp", ".notes.md.swx", "~$draft.docx", "draft.tmp", "#autosave.md#",
                 "backup.md~", "partial.pdf.part", ".git/config.md", "Thumbs.db"):
        path = docs_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x00 junk that would fail to load")
    report = run_update(settings, fake_embedder)
    assert report.added == ["real.md"] and not report.failed and report.exit_code == 0


def test_progress_callback(settings, docs_dir, fake_embedder):
    make_docs(docs_dir, 4, seed=3)
    calls = []
    report = run_update(settings, fake_embedder, progress=lambda stage, done, total: calls.append((stage, done, total)))
    texts = report.chunks_embedded + report.sentences_embedded  # chunks and their sentences
    stages = [c[0] for c in calls]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == ["scan", "load", "embed", "write"]
    for stage in ("scan", "load", "embed", "write"):
        mine = [(d, t) for s, d, t in calls if s == stage]
        dones = [d for d, _ in mine]
        assert dones == sorted(dones) and all(0 <= d <= t for d, t in mine)
        assert mine[-1][0] == mine[-1][1] and len({t for _, t in mine}) == 1
    assert report.chunks_embedded == 12 and texts > 24
    assert ("scan", 4, 4) in calls and ("load", 4, 4) in calls and ("embed", texts, texts) in calls
    calls.clear()
    run_update(settings, fake_embedder, progress=lambda *c: calls.append(c))  # nothing to do
    assert {c[0] for c in calls} == {"scan"}


def test_first_build_of_an_empty_folder_and_unfinished_first_build(settings, docs_dir, fake_embedder):
    manifest = build_manifest(settings, 384, "float32")
    if settings.store:
        PgStore.create(settings.store, manifest).close()
    else:
        Store.create(settings.index, manifest).close()  # what a first build that died leaves
    assert not store_exists(settings)  # so the app builds it again
    with pytest.raises(IndexMissingError, match="not been built yet"):
        open_store(settings)
    report = run_update(settings, fake_embedder)
    assert report.generation == 1 and report.documents_total == 0
    assert store_exists(settings) and check(settings)["chunks"] == 0


@pytest.mark.sqlite_only
def test_a_store_file_without_a_manifest_is_started_afresh(settings, docs_dir, fake_embedder):
    import sqlite3

    from qa.store import _SCHEMA_V1 as _SCHEMA

    settings.index.mkdir()
    sqlite3.connect(settings.index / "store.sqlite3").executescript(_SCHEMA)  # died inside ``Store.create``
    assert not Store.exists(settings.index)
    write(docs_dir, "a.md", "# A\n\nText.")
    assert run_update(settings, fake_embedder).added == ["a.md"]
    check(settings)


def test_missing_docs_folder_is_bad_input(settings, fake_embedder):
    with pytest.raises(DocsFolderError) as info:
        run_update(settings.with_(docs=settings.docs / "missing"), fake_embedder)
    assert info.value.exit_code == EXIT_BAD_INPUT


@pytest.mark.sqlite_only
def test_unreadable_store_is_set_aside_by_rebuild(settings, docs_dir, fake_embedder, corpus):
    db = settings.index / "store.sqlite3"
    for extra in ("store.sqlite3-wal", "store.sqlite3-shm"):
        (settings.index / extra).unlink(missing_ok=True)
    db.write_bytes(b"garbage, not a database" * 100)
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        Store.open(settings.index, settings)
    with pytest.raises(IndexCorruptError):
        run_update(settings, fake_embedder)
    report = run_update(settings, fake_embedder, rebuild=True)
    assert len(report.added) == 5
    check(settings)
    assert list(settings.index.glob("store.sqlite3.corrupt-*"))


@pytest.mark.sqlite_only
def test_derived_files_missing_or_damaged_are_rebuilt_without_re_encoding(settings, docs_dir, fake_embedder, corpus):
    generation = check(settings)["generation"]
    (settings.index / f"vectors-{generation}.faiss").write_bytes(b"truncated")
    shutil.rmtree(settings.index / f"lexical-{generation}")
    result = check(settings, strict=False)
    assert result["files"] == {"vectors": "stale", "lexical": "missing"}  # a reader still answers
    _assert_found(settings, fake_embedder, question("doc2s2"), "doc002.md", "doc2s2x")
    before = len(fake_embedder.encoded_texts)
    report = run_update(settings, fake_embedder)  # no change: repairs the files
    assert report.generation == generation and len(fake_embedder.encoded_texts) == before
    check(settings)


def test_small_files_are_committed_before_a_large_one(settings, docs_dir, fake_embedder, monkeypatch):
    """A large file (first by name) is embedded last, so that the folder's small documents are searchable first."""
    from qa import indexing, pgindex

    make_docs(docs_dir, 1, seed=41, sections=30, prefix="a-large")
    small = make_docs(docs_dir, 4, seed=42, sections=1, prefix="z-small")
    monkeypatch.setattr(indexing, "COMMIT_EVERY_PASSAGES", 2)
    batches = []
    real = indexing._embed_batch

    def recording(store, manifest, loaded, *args, **kwargs):
        batches.append([candidate.path for candidate, _, _ in loaded])
        return real(store, manifest, loaded, *args, **kwargs)

    monkeypatch.setattr(indexing, "_embed_batch", recording)
    monkeypatch.setattr(pgindex, "_embed_batch", recording)  # a PostgreSQL store's queue, in the same order
    report = run_update(settings, fake_embedder)
    assert report.added == ["a-large000.md", *sorted(small)]
    assert batches[-1] == ["a-large000.md"] and sorted(p for b in batches[:-1] for p in b) == sorted(small)
