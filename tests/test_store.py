"""Store: add, remove, reopen, manifest checks, FAISS rebuilt from stored embeddings, ids in agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa import vectors
from qa.errors import IndexMismatchError, IndexMissingError, UnknownDocumentError
from qa.stores import update_index
from qa.retrieval import search
from qa.store import FORMAT_VERSION, Store
from qa.stores import open_store

from conftest import write
from store_kinds import pytest_generate_tests, settings, store_kind  # noqa: F401


def _faiss_files(index_dir):
    return sorted(p.name for p in index_dir.glob("vectors-*.faiss"))


def _agree(store: Store) -> None:
    ids = store.chunk_ids()
    assert np.array_equal(vectors.ids_of(store.vector_index()), ids)
    assert store.vector_index().ntotal == len(ids) == store.chunk_count()
    assert len(store.lexical_index()) == len(ids)


def test_add_remove_reopen(settings, docs_dir, fake_embedder):
    write(docs_dir, "a.md", "# Alpha\n\nThe lawyer was denied access to the case materials.")
    write(docs_dir, "b.txt", "Peaceful assemblies were held in Almaty under the 2020 act.")
    report = update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    assert sorted(report.added) == ["a.md", "b.txt"] and report.chunks_total == 2

    store = open_store(settings)
    _agree(store)
    assert [d.path for d in store.documents()] == ["a.md", "b.txt"]
    assert store.document("a.md").text.startswith("Alpha")
    store.close()

    (docs_dir / "b.txt").unlink()
    report = update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    assert report.removed == ["b.txt"] and report.chunks_total == 1

    store = open_store(settings)
    _agree(store)
    assert [d.path for d in store.documents()] == ["a.md"]
    hits = search(store, fake_embedder, "peaceful assemblies almaty", k=5, mode="hybrid")
    assert all(p.doc != "b.txt" for p in hits)
    with pytest.raises(UnknownDocumentError, match="b.txt"):
        store.document("b.txt")
    store.close()


def test_missing_index_says_how_to_build(settings):
    with pytest.raises(IndexMissingError, match="verbatim index"):
        open_store(settings)


def test_manifest_mismatch_is_refused_with_rebuild_hint(settings, docs_dir, fake_embedder):
    write(docs_dir, "a.md", "Some text about access to materials.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with open_store(settings) as store:
        manifest = store.manifest
    if not settings.store:
        assert json.loads((settings.index / "manifest.json").read_text()) == manifest
    assert manifest["format_version"] == FORMAT_VERSION == 2 and manifest["dimension"] == 384
    assert manifest["sentence_vectors"] is True
    assert manifest["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["chunking"] == settings.chunk_settings()

    other = settings.with_(chunk_max_chars=600)
    with pytest.raises(IndexMismatchError, match=r"--rebuild"):
        open_store(other)
    with pytest.raises(IndexMismatchError, match="chunking"):
        update_index(docs_dir, settings.index, other, embedder=fake_embedder)

    report = update_index(docs_dir, settings.index, other, embedder=fake_embedder, rebuild=True)
    assert report.added == ["a.md"]
    assert open_store(other).manifest["chunking"]["max_chars"] == 600


def test_sentence_vectors_setting_is_checked_and_both_settings_work(settings, docs_dir, fake_embedder):
    write(docs_dir, "a.md", "# Access\n\nThe lawyer saw the case file. The court met on Monday.\n\nTea is served at noon.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with open_store(settings) as store:
        (chunk_id,) = [int(i) for i in store.chunk_ids()]
        spans, matrix = store.sentence_vectors([chunk_id])[chunk_id]
        text = store.chunks([chunk_id])[chunk_id].text
        # spans are the chunk's sentences; vectors are those of title + sentence, stored as float16
        assert [text[s:e] for s, e in spans] == ["Access", "The lawyer saw the case file.", "The court met on Monday.", "Tea is served at noon."]
        expected = fake_embedder.encode([f"Access\n{text[s:e]}" for s, e in spans])
        assert matrix.shape == (4, 384) and np.abs(matrix - expected).max() < 2e-3
        store.verify(strict=True)

    off = settings.with_(sentence_vectors=False)
    with pytest.raises(IndexMismatchError, match="sentence_vectors"):
        open_store(off)
    update_index(docs_dir, settings.index, off, embedder=fake_embedder, rebuild=True)
    with open_store(off) as store:
        assert store.sentence_vectors(store.chunk_ids()) == {}
        store.verify(strict=True)
        assert search(store, fake_embedder, "court Monday", k=1)[0].text.startswith("Access")


@pytest.mark.sqlite_only
def test_faiss_file_rebuilt_from_stored_embeddings_without_reencoding(settings, docs_dir, fake_embedder):
    for i in range(5):
        write(docs_dir, f"doc{i}.md", f"# Doc {i}\n\nParagraph number {i} about topic{i} and rights.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    encoded = len(fake_embedder.encoded_texts)
    files = _faiss_files(settings.index)
    assert len(files) == 1
    (settings.index / files[0]).unlink()

    store = open_store(settings)
    _agree(store)  # rebuilt in memory by a reader
    store.close()
    assert len(fake_embedder.encoded_texts) == encoded

    report = update_index(docs_dir, settings.index, settings, embedder=fake_embedder)  # no change: repairs the file
    assert report.chunks_embedded == 0 and report.unchanged == 5
    assert _faiss_files(settings.index) == files
    assert len(fake_embedder.encoded_texts) == encoded


@pytest.mark.sqlite_only
def test_stale_faiss_file_is_detected_and_replaced(settings, docs_dir, fake_embedder):
    write(docs_dir, "a.md", "First document about detention.")
    write(docs_dir, "b.md", "Second document about assembly.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    store = open_store(settings)
    path = settings.index / _faiss_files(settings.index)[0]
    ids, matrix = store.all_embeddings()
    vectors.save(vectors.build(ids[:1], matrix[:1], 384), path)  # a file that disagrees with the store
    store.close()

    store = open_store(settings)
    _agree(store)
    assert store.verify()["chunks"] == 2


def test_restricting_to_documents(settings, docs_dir, fake_embedder):
    write(docs_dir, "kaz/reply.md", "The lawyer was denied access to materials.")
    write(docs_dir, "other.md", "The lawyer was denied access to materials in another case.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    store = open_store(settings)
    for mode in ("dense", "bm25", "hybrid"):
        hits = search(store, fake_embedder, "lawyer denied access", k=5, docs=["reply.md"], mode=mode)
        assert hits and {p.doc for p in hits} == {"kaz/reply.md"}
    with pytest.raises(UnknownDocumentError, match="'missing.md' is not in the index"):
        search(store, fake_embedder, "lawyer", docs=["missing.md"])
    store.close()
    write(docs_dir, "uzb/reply.md", "The lawyer was given the case file.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    store = open_store(settings)
    # a file name two documents share names neither: the error lists both (it said "not in the index")
    with pytest.raises(UnknownDocumentError, match=r"'reply.md' could be any of 2 indexed documents: kaz/reply.md, "
                                                   r"uzb/reply.md; give its path"):
        store.resolve_docs(["reply.md"])
    assert store.resolve_docs(["uzb/reply.md", "other"]) == ["uzb/reply.md", "other.md"]
    store.close()


def test_exact_ranking_with_fake_embedder(settings, docs_dir, fake_embedder):
    fruit = "---\ntitle: Fruit\n---\n"
    write(docs_dir, "a.md", fruit + "apple banana cherry")
    write(docs_dir, "b.md", fruit + "apple banana")
    write(docs_dir, "c.md", fruit + "zebra")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    store = open_store(settings)
    hits = search(store, fake_embedder, "apple banana cherry", k=3, mode="dense")
    assert [p.doc for p in hits] == ["a.md", "b.md", "c.md"]
    # What is embedded is the document title and the text.
    expected = float(fake_embedder.vector("apple banana cherry") @ fake_embedder.vector("Fruit\napple banana cherry"))
    assert hits[0].score == pytest.approx(expected, abs=1e-5)
    assert hits[2].score == pytest.approx(0.0, abs=1e-5)
    for p in hits:
        assert store.document(p.doc).text[p.start : p.end] == p.text
