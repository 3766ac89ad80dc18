"""Turning the second encoder on or off updates an index in place (both stores): every document is read again
and committed at once, the primary model encodes nothing, only the second encoder does."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import qa.encoders
from conftest import FakeEmbedder, write
from qa import reporting
from qa.errors import IndexMismatchError
from qa.stores import open_store, update_index
from store_kinds import pytest_generate_tests, settings, store_kind  # noqa: F401


class OtherEmbedder(FakeEmbedder):
    """A second encoder that differs from the primary fake one (words hashed with another salt)."""

    def vector(self, text: str) -> np.ndarray:
        words = text.lower().split()
        v = np.zeros(self.dimension, dtype=np.float32)
        for word in words:
            v[int(hashlib.sha256(b"other" + word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-12)


@pytest.fixture
def encoders(monkeypatch):
    primary, second = FakeEmbedder(), OtherEmbedder()
    models = {qa.encoders.MINILM: primary, qa.encoders.E5: second}
    monkeypatch.setattr(qa.encoders, "load", lambda name, s: models[name])
    return primary, second


def _primary_vectors(settings) -> dict:
    """``{encoded text: primary vector}`` of every passage in the index."""
    with open_store(settings) as store:
        ids, texts = store.lexical_corpus()
        vector_ids, vectors = store.all_embeddings()
        generation = store.generation
    by_id = dict(zip(vector_ids.tolist(), vectors))
    return {text: by_id[i] for i, text in zip(ids, texts, strict=True)}, generation


def test_turning_the_second_encoder_on_and_off_updates_the_index_in_place(settings, encoders):
    primary, second = encoders
    docs = settings.docs
    write(docs, "a.md", "# Detention\n\nThe detainee was held without charge for ten days by the police.")
    write(docs, "b.md", "# Funding\n\nForeign grants to associations must be registered with the ministry.")
    update_index(docs, settings.index, settings)  # built without a second encoder
    before, generation = _primary_vectors(settings)
    with_second = settings.with_(second_encoder=qa.encoders.E5)
    with pytest.raises(IndexMismatchError, match="second encoder none but the settings ask for 'intfloat/multilingual-e5"):
        open_store(with_second).close()
    primary_before, second_before = len(primary.encoded_texts), len(second.encoded_texts)
    report = update_index(docs, with_second.index, with_second)
    assert report.second_encoder_changed and not report.rebuild and not report.failed
    assert report.chunks_embedded == 0 and report.chunks_reused == len(before)
    assert len(primary.encoded_texts) == primary_before  # nothing encoded again by the primary model
    assert len(second.encoded_texts) - second_before == len(before)
    assert "second encoder" in reporting.headline(report)
    with open_store(with_second) as store:
        assert "e5" in store.manifest["extra_encoders"]
        store.verify(strict=True)
        assert store.all_embeddings("e5")[1].shape == (len(before), 384)
    after, generation_after = _primary_vectors(with_second)
    assert generation_after == generation + 1  # committed at once
    assert after.keys() == before.keys() and all(np.array_equal(after[t], before[t]) for t in before)
    assert update_index(docs, with_second.index, with_second).unchanged == 2  # and it stays up to date
    # Turned off again: its vectors are dropped the same way, nothing is encoded.
    report = update_index(docs, settings.index, settings)
    assert report.second_encoder_changed and len(primary.encoded_texts) == primary_before
    with open_store(settings) as store:
        assert not store.manifest["extra_encoders"]
        store.verify(strict=True)
