"""Sentence vectors pooled from the chunk's own forward pass (``Embedder.encode_with_sentences``)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.chunking import embedding_text, sentence_units
from qa.indexing import update_index
from qa.store import Store

from conftest import write

pytestmark = pytest.mark.slow

BODY = ("The State party shall ensure that detainees see a lawyer within 24 hours. "
        "Libel was moved from the Criminal Code to the Code of Administrative Offences in 2020. "
        "The foundation collected donations for victims.")


def _spans(title: str, body: str):
    text = embedding_text("", body, title)
    spans, _ = sentence_units(body, title)
    offset = len(text) - len(body)
    return text, [(s + offset, e + offset) for s, e in spans]


def test_chunk_vectors_match_encode_and_each_sentence_vector_is_about_its_sentence(real_embedder):
    text, spans = _spans("A reply", BODY)
    matrix, (sentences,) = real_embedder.encode_with_sentences([text], [spans])
    assert float(matrix[0] @ real_embedder.encode([text])[0]) > 0.9999
    assert sentences.shape == (3, real_embedder.dimension) and not np.isnan(sentences).any()
    assert np.allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=1e-5)
    questions = ["How soon can a detainee see a lawyer?", "Is defamation still a crime?", "What happened to the donations?"]
    for expected, question in enumerate(questions):
        assert int(np.argmax(sentences @ real_embedder.encode_query(question)[0])) == expected, question


def test_a_sentence_past_the_model_window_is_left_to_be_encoded_alone(real_embedder):
    body = "Filler words that say nothing at all, " * 60 + "The last sentence is about a court in Almaty."
    text, spans = _spans("A reply", body)
    _, (sentences,) = real_embedder.encode_with_sentences([text], [spans])
    assert np.isnan(sentences[-1]).all()


def test_the_index_stores_pooled_sentence_vectors_and_encodes_only_the_window_overflow(tmp_path, real_embedder, settings):
    docs = tmp_path / "docs"
    symbols = "CAT/C/KAZ/4 " * 55  # one chunk of under 800 characters, but well over the model's 256 tokens
    write(docs, "reply.md", "# A reply\n\n" + BODY + "\n\n" + symbols + "were cited. The last sentence is about a court in Almaty.\n")
    calls = []
    original = real_embedder.encode

    class Counting:
        name, dimension = real_embedder.name, real_embedder.dimension
        encode_with_sentences = staticmethod(real_embedder.encode_with_sentences)
        encode_query = staticmethod(real_embedder.encode_query)

        @staticmethod
        def encode(texts, batch_size=None, show_progress=False):
            calls.extend(texts)
            return original(texts, batch_size=batch_size)

    report = update_index(docs, settings.index, settings, embedder=Counting())
    assert report.chunks_embedded == report.chunks_total == 2 and report.sentences_embedded >= 5
    # Only the sentences that run past their chunk's window went through a forward pass of their own.
    assert "A reply\nThe last sentence is about a court in Almaty." in calls
    assert len(calls) == 2 and not any("detainees" in t or "\n\n" in t for t in calls)
    with Store.open(settings.index, settings) as store:
        chunk = next(c for c in store.document_chunks("reply.md") if "detainees" in c.text)
        spans, vectors = store.sentence_vectors([chunk.id])[chunk.id]
        text, expected = _spans(chunk.title, chunk.text)
        _, (pooled,) = real_embedder.encode_with_sentences([text], [expected])
        assert np.allclose(vectors.astype(np.float32), pooled, atol=2e-3)  # stored as float16
