"""Names typed in Latin letters found in passages of other languages and scripts (qa.names)."""

from __future__ import annotations

import pytest

import qa.encoders
from conftest import FakeEmbedder, write
from qa import names
from qa.answer import ask
from qa.indexing import update_index
from qa.snapshot import PRIMARY
from qa.store import Store
from test_second_encoder import TrigramEmbedder


def test_a_name_reads_the_same_in_every_script():
    assert names.skeleton("Khalid al-Omari") == names.skeleton("خالد العمري") == "khldlmr"
    assert names.skeleton("Petrova") == names.skeleton("Петрова") == names.skeleton("Петровой") == "ptrv"
    assert names.skeleton("Wang Ming") == names.skeleton("王明")


@pytest.mark.parametrize("question, expected", [
    ("When was Khalid al-Omari arrested?", ("khldlmr",)),
    ("When was Wang Ming detained?", (names.skeleton("Wang Ming"), names.skeleton("Ming Wang"))),
    ("Was Petrova tortured?", ("ptrv",)),
    ("What did the Court say in March about the NGO?", ()),  # common words and acronyms are no names
    ("Was Omar Li released?", ()),  # too short to tell anything
    ("Что с Петровой?", ()),  # typed in the passage's own script: BM25's to match
])
def test_the_names_of_a_question(question, expected):
    assert names.asked_names(question) == expected


def test_words_the_questions_language_writes_are_no_names_to_search_in_other_scripts():
    question = "What does the Universal Declaration say about Khalid al-Omari?"
    assert names.asked_names(question) == ("nvrsldclrtn", "dclrtnvrsl", "khldlmr")  # two words: either order
    english = {"universal", "declaration"}
    assert names.asked_names(question, held=lambda word: word.lower() in english) == ("khldlmr",)


def test_a_name_matches_whole_words_only():
    omari = names.asked_names("When was Khalid al-Omari arrested?")
    assert names.names_in("ألقي القبض على خالد العمري في 3 آذار", omari)
    assert not names.names_in("ألقي القبض على خالد في 3 آذار", omari)
    assert names.names_in("Гражданка А. Петрова была задержана", names.asked_names("Was Petrova detained?"))
    assert not names.names_in("Гражданка А. Петровская была задержана", names.asked_names("Was Petrova detained?"))


@pytest.fixture
def replies(monkeypatch, settings, docs_dir):
    primary, second = FakeEmbedder(), TrigramEmbedder()
    monkeypatch.setattr(qa.encoders, "load", lambda name, s: {qa.encoders.MINILM: primary, qa.encoders.E5: second}[name])
    settings = settings.with_(second_encoder=qa.encoders.E5)
    write(docs_dir, "reply.md", "# Reply\n\nThe detainee was arrested on 3 March and held without charge by the police. "
                                "He was arrested under the law on public order and released after ten days.")
    write(docs_dir, "otvet.md", "# Ответ\n\nГражданка А. Петрова была задержана 14 февраля 2024 года по подозрению в "
                                "организации массовых беспорядков. Её адвокат был допущен к ней в тот же день.")
    write(docs_dir, "huifu.md", "# 答复\n\n王明先生于2024年1月8日被刑事拘留，并于2024年2月10日被正式逮捕。其家属已得到通知。")
    update_index(docs_dir, settings.index, settings)
    with Store.open(settings.index, settings) as store:
        yield store, {PRIMARY: primary, "e5": second}


@pytest.mark.parametrize("question, doc", [
    ("When was Petrova arrested?", "otvet.md"),
    ("When was Wang Ming arrested?", "huifu.md"),
])
def test_a_reply_in_another_script_that_names_the_person_comes_up(replies, monkeypatch, question, doc):
    store, encoders = replies
    answer = ask(store, encoders, question, k=3)
    assert answer.passages[0].doc == doc and answer.status != "not_found"
    monkeypatch.setattr(names, "asked_names", lambda question, held=None: ())
    assert ask(store, encoders, question, k=3).passages[0].doc == "reply.md"  # the test can fail


@pytest.mark.parametrize("question", ["王明是什么时候被逮捕的？Wang Ming", "Когда арестовали Ortega?", "متى اعتقل Ortega؟"])
def test_a_question_in_another_language_with_a_latin_name(replies, question):
    """A Chinese question's Latin words are analysed as Chinese (no stemmer: it failed with a KeyError)."""
    store, encoders = replies
    assert ask(store, encoders, question, k=3).passages


def test_an_english_only_index_is_ranked_as_before(settings, docs_dir, monkeypatch):
    """Every passage in the question's language: no text is read for names (BM25 matches them)."""
    primary, second = FakeEmbedder(), TrigramEmbedder()
    monkeypatch.setattr(qa.encoders, "load", lambda name, s: {qa.encoders.MINILM: primary, qa.encoders.E5: second}[name])
    settings = settings.with_(second_encoder=qa.encoders.E5)
    write(docs_dir, "reply.md", "# Reply\n\nMs. Petrova was arrested on 3 March and held without charge by the police.")
    update_index(docs_dir, settings.index, settings)
    encoders = {PRIMARY: primary, "e5": second}
    with Store.open(settings.index, settings) as store:
        answer = ask(store, encoders, "When was Petrova arrested?", k=3)
        with store.snapshot() as snap:
            ids = [p.chunk_id for p in answer.passages]
            assert ids and names.chunks_naming(snap, "When was Petrova arrested?", ids, "en") == set()
            assert names.chunks_naming(snap, "When was Petrova arrested?", ids, "fr") == set(ids)  # as if asked in French
