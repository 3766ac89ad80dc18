"""An index whose documents were read by an older version of the loaders is read again by the next update
(both stores): the new extraction replaces the old, stored vectors are reused for every passage whose text did
not change, and the index answers from its old reading until then."""

from __future__ import annotations

import pytest

import qa.loaders.text
import qa.manifest
from conftest import FakeEmbedder, write
from qa import reporting
from qa.stores import open_store, update_index
from store_kinds import pytest_generate_tests, settings, store_kind  # noqa: F401

REPLY = """**PERMANENT MISSION**

Geneva, 3 May 2024

#### On the first point

The detainee was held without charge for ten days by the police in Almaty.

#### On the second point

Foreign grants to associations must be registered with the ministry of justice.
"""
PLAIN = "Freedom of assembly is guaranteed by the Constitution and by the Law on Peaceful Assemblies."


def _texts(settings) -> list[str]:
    with open_store(settings) as store:
        return sorted(store.lexical_corpus()[1])


@pytest.fixture
def old_reading(monkeypatch):
    """Loaders as an older version had them: a .txt written in Markdown read as plain text, extraction 1."""
    monkeypatch.setattr(qa.manifest, "EXTRACTION_VERSION", 1)
    monkeypatch.setattr(qa.loaders.text, "looks_like_markdown", lambda text: False)
    return monkeypatch


def test_documents_read_by_older_loaders_are_read_again_with_vectors_reused(settings, old_reading):
    write(settings.docs, "reply.txt", REPLY)
    write(settings.docs, "plain.txt", PLAIN)
    embedder = FakeEmbedder()
    update_index(settings.docs, settings.index, settings, embedder=embedder)
    assert any("**PERMANENT MISSION**" in text for text in _texts(settings))
    with open_store(settings) as store:
        assert store.manifest["extraction"] == 1
        generation = store.generation
    old_reading.undo()  # this version's loaders

    with open_store(settings) as store:  # still opens and answers from its old reading
        assert store.generation == generation
    encoded_before = len(embedder.encoded_texts)
    report = update_index(settings.docs, settings.index, settings, embedder=embedder)
    assert report.reread == "extraction" and not report.rebuild and not report.failed
    assert sorted(report.changed) == ["plain.txt", "reply.txt"]
    assert "document reading" in reporting.headline(report)
    texts = _texts(settings)
    assert not any("**" in text or "####" in text for text in texts)  # read as Markdown now
    assert any(PLAIN in text for text in texts)
    # Only the passages whose text changed were encoded; the plain document's vector was reused.
    assert report.chunks_reused >= 1 and report.chunks_embedded == len(texts) - report.chunks_reused
    assert PLAIN not in " ".join(embedder.encoded_texts[encoded_before:])
    with open_store(settings) as store:
        assert store.manifest["extraction"] == qa.manifest.EXTRACTION_VERSION
        assert store.generation == generation + 1  # committed at once
    again = update_index(settings.docs, settings.index, settings, embedder=embedder)
    assert again.reread is None and again.unchanged == 2 and not again.changed


def test_an_index_without_an_extraction_version_is_read_again(settings):
    """Indexes built before the manifest had the key count as extraction 1; other settings still need --rebuild."""
    built = qa.manifest.build_manifest(settings, 384, "float32")
    assert qa.manifest.reread_needed(built, qa.manifest.expected_manifest(settings)) is None
    older = {key: value for key, value in built.items() if key != "extraction"}
    assert qa.manifest.reread_needed(older, qa.manifest.expected_manifest(settings)) == "extraction"
    other_chunks = settings.with_(chunk_max_chars=400)
    assert qa.manifest.reread_needed(older, qa.manifest.expected_manifest(other_chunks)) is None
