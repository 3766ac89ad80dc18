"""A second encoder's chunk vectors: stored with the index, reused by content hash, searched as one more
signal, recorded in the manifest and checked on open. Fast: two deterministic fake encoders."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

import qa.encoders
from conftest import FakeEmbedder, write
from qa.errors import IndexMismatchError, SettingsError
from qa.indexing import update_index
from qa import fusion
from qa.retrieval import Searcher
from qa.settings import load_settings
from qa.snapshot import PRIMARY
from qa.store import Store


class TrigramEmbedder(FakeEmbedder):
    """Character trigrams hashed into 384 dimensions: similar spellings, not only shared words."""

    name = "fake-trigrams"

    @staticmethod
    def vector(text: str) -> np.ndarray:
        v = np.zeros(384, dtype=np.float32)
        letters = re.sub(r"\W+", " ", text.lower())
        for i in range(len(letters) - 2):
            gram = letters[i : i + 3].encode()
            v[int.from_bytes(hashlib.blake2b(gram, digest_size=4).digest(), "little") % 384] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-9)


@pytest.fixture
def two_encoders(monkeypatch, settings):
    primary, second = FakeEmbedder(), TrigramEmbedder()
    models = {qa.encoders.MINILM: primary, qa.encoders.E5: second}
    monkeypatch.setattr(qa.encoders, "load", lambda name, s: models[name])
    return settings.with_(second_encoder=qa.encoders.E5), primary, second


def _corpus(docs_dir):
    write(docs_dir, "a.md", "# Detention\n\nThe detainee was held without charge for ten days by the police.")
    write(docs_dir, "b.md", "# Funding\n\nForeign grants to associations must be registered with the ministry.")
    write(docs_dir, "c.md", "# Assembly\n\nPeaceful gatherings need a notification three days in advance.")


def test_second_encoder_vectors_are_stored_searched_and_reused(settings, docs_dir, two_encoders):
    settings, primary, second = two_encoders
    _corpus(docs_dir)
    report = update_index(docs_dir, settings.index, settings)
    assert report.added == ["a.md", "b.md", "c.md"]
    assert (settings.index / f"vectors-e5-{report.generation}.faiss").is_file()
    with Store.open(settings.index, settings) as store:
        assert store.manifest["extra_encoders"] == {"e5": {"model": qa.encoders.E5, "dimension": 384}}
        store.verify(strict=True)
        with store.snapshot() as snap:
            result = Searcher(snap, {PRIMARY: primary}).search("detained without charges", k=3)  # e5 loaded by name
            assert set(result.query_vectors) == {PRIMARY, "e5"}
            top = result.hits[0]
            ids, texts = store.lexical_corpus()  # what each passage was encoded as
            expected = second.vector(texts[ids.index(top.chunk_id)]) @ second.encode_query("detained without charges")[0]
            assert dict(top.extra)["e5"] == pytest.approx(float(expected), abs=1e-5)
    encoded = len(second.encoded_texts)
    write(docs_dir, "d.md", "# New\n\nA new document about torture and ill-treatment in prisons.")
    report = update_index(docs_dir, settings.index, settings)
    assert report.added == ["d.md"]
    assert len(second.encoded_texts) - encoded == report.chunks_embedded  # only the new passages


def test_a_change_of_model_still_needs_a_rebuild(settings, docs_dir, two_encoders):
    _corpus(docs_dir)
    update_index(docs_dir, settings.index, settings)
    other = settings.with_(chunk_max_chars=500, second_encoder=qa.encoders.E5)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        update_index(docs_dir, other.index, other)


def test_the_model_settings_are_checked():
    with pytest.raises(SettingsError, match="packaged models"):
        load_settings({"QA_MODEL_NAME": "bert-base-uncased"})
    with pytest.raises(SettingsError, match="packaged models"):
        qa.encoders.second_key(load_settings({}).with_(second_encoder="nope"))
    assert qa.encoders.second_key(load_settings({})) == "e5"  # the default
    for off in ("none", "off", "0"):
        assert qa.encoders.second_key(load_settings({"QA_SECOND_ENCODER": off})) is None


def test_highlights_of_a_passage_the_primary_model_cannot_read_come_from_the_second_encoder(
        settings, docs_dir, two_encoders, monkeypatch):
    from qa import answer as answer_module

    settings, primary, second = two_encoders
    target = "Le tribunal a infligé une amende de deux mille euros à la journaliste pour diffamation."
    write(docs_dir, "reponse.txt", " ".join([
        "Le Gouvernement remercie les rapporteurs spéciaux de leur lettre et transmet les informations suivantes.",
        target,
        "Les réunions pacifiques doivent être notifiées aux autorités locales trois jours à l’avance.",
    ]))
    update_index(docs_dir, settings.index, settings)
    encoders = {PRIMARY: primary, "e5": second}
    question = "amende infligée à la journaliste pour diffamation"
    with Store.open(settings.index, settings) as store:
        answer = answer_module.ask(store, encoders, question, k=1)
        top = answer.passages[0]
        assert top.lang == "fr"
        assert [top.text[s - top.start : e - top.start] for s, e in top.highlights] == [target]
        assert [s.text for s in answer.sentences] == [target]
        monkeypatch.setattr(answer_module, "FOREIGN_SENTENCES_MOST", 0)  # none judged: none highlighted
        answer = answer_module.ask(store, encoders, question + " ?", k=1)
        assert answer.passages[0].highlights == () and answer.sentences == ()


def test_a_question_the_primary_model_cannot_read_is_ranked_and_judged_by_the_second_encoder(
        settings, docs_dir, two_encoders):
    """A French question about English documents: MiniLM's dense and sentence lists judge no candidate (the second
    encoder's z-score stands in for all), and whether the documents answer is judged from that encoder's cosine with
    the across-languages bound. An English question is not."""
    from qa import answer as answer_module
    from qa.language import question_language

    settings, primary, second = two_encoders
    _corpus(docs_dir)
    update_index(docs_dir, settings.index, settings)
    encoders = {PRIMARY: primary, "e5": second}
    french, english = "Le détenu a-t-il été retenu sans inculpation par la police ?", "Was the detainee held without charge?"
    assert (question_language(french), question_language(english)) == ("fr", "en")
    with Store.open(settings.index, settings) as store, store.snapshot() as snap:
        searcher = Searcher(snap, encoders)
        for question, blind in ((french, True), (english, False)):
            signals = searcher.signals(question, searcher.query_vectors(question))
            candidates = {chunk_id for chunk_id, _ in signals.dense}
            assert signals.foreign == (frozenset(candidates) if blind else frozenset()), question
    with Store.open(settings.index, settings) as store:
        answer = answer_module.ask(store, encoders, french, k=3)
    bound = answer_module.FOREIGN_NOT_FOUND_BELOW["across languages"]
    assert answer.passages[0].lang == "en"
    assert (answer.status == answer_module.NOT_FOUND) == (answer.signals["second"] < bound)
    if answer.status != answer_module.NOT_FOUND:  # answered only when the first passage stands out
        first = answer_module.first_answers(answer.signals, "stored+second")
        assert (answer.status == answer_module.ANSWERED) == (first >= answer_module.FIRST_ANSWERS["stored+second"][2])


def test_bm25_leaves_passages_it_read_in_another_language_to_the_second_encoder(settings, docs_dir, two_encoders):
    """BM25 reads an English question in English only: a Spanish passage's score of 0 says nothing about it, and the
    second encoder's z-score stands in (as for MiniLM's lists on passages it cannot read)."""
    from dataclasses import replace as replaced

    settings, primary, second = two_encoders
    _corpus(docs_dir)
    write(docs_dir, "es.md", "# Detención\n\nEl detenido fue retenido sin cargos durante diez días por la policía "
                             "de la ciudad, según la respuesta del Gobierno a los relatores especiales.")
    update_index(docs_dir, settings.index, settings)
    encoders = {PRIMARY: primary, "e5": second}
    question = "Was the detainee held without charge by the police?"
    with Store.open(settings.index, settings) as store, store.snapshot() as snap:
        searcher = Searcher(snap, encoders)
        signals = searcher.signals(question, searcher.query_vectors(question))
        spanish = {c for c, code in snap.chunk_languages([c for c, _ in signals.dense]).items() if code == "es"}
        assert spanish and signals.unread == frozenset(spanish)
        with_stand_in = dict((h.chunk_id, h.score) for h in searcher.fuse(signals))
        without = dict((h.chunk_id, h.score) for h in searcher.fuse(replaced(signals, unread=frozenset())))
        assert all(abs(with_stand_in[c] - without[c]) > 1e-6 for c in spanish)  # BM25's 0 no longer counts
        lexical_weight = fusion.weights_for(signals)[1]
        e5_z = dict(zip([c for c, _ in signals.extra["e5"]], fusion.zscores([v for _, v in signals.extra["e5"]])))
        bm25_z = dict(zip([c for c, _ in signals.lexical], fusion.zscores([v for _, v in signals.lexical])))
        for c in spanish:  # in the BM25 column, the second encoder's z-score instead of its BM25 z-score
            assert abs((with_stand_in[c] - without[c]) - lexical_weight * (e5_z[c] - bm25_z[c])) < 1e-6
        spanish_question = "¿Fue el detenido retenido sin cargos por la policía?"
        assert searcher.signals(spanish_question, searcher.query_vectors(spanish_question)).unread != signals.unread
