"""Words in quotes (qa.phrases): only passages that contain them, or a plain search that says none does."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write
from qa import answer as answer_module
from qa import render
from qa.answer import answer_to_json, ask
from qa.cli import format_answer
from qa.indexing import update_index
from qa.lexical import LexicalIndex
from qa.phrases import quoted, spans
from qa.store import Store
from qa.types import Answer

PHRASE = "access to case materials"
# The scattered paragraphs share more of the question's words than the exact one: without quotes they rank first.
SCATTERED = [
    "The case was closed. Her access to the building was refused; the materials of the case, the case file and "
    "other materials stayed with the investigator, who gave access to them to the case officer.",
    "Access to materials: in each case the materials of the case are given access to by the court; access is "
    "a right in every case.",
]
EXACT = "Her lawyer asked for access to case materials in March and was given them."


def test_quoted_phrases_are_read_from_double_quotes_of_every_script():
    assert quoted('What about "access to case materials"?') == ("access to case materials",)
    assert quoted("“Human Rights  Committee” and «droit à la vie» and „Recht“ and 「逮捕」") == (
        "Human Rights Committee", "droit à la vie", "Recht", "逮捕")
    assert quoted('"a b" and "A  B" again') == ("a b",)  # each phrase once, case and spaces aside
    assert quoted("the State's reply, 'materials'") == ()  # apostrophes and single quotes are not phrases
    assert quoted('an unclosed "quote') == () and quoted('empty "" or "?!"') == ()


def test_a_phrase_matches_its_words_in_order_whatever_stands_between_them():
    text = "Access to\ncase-materials; ACCESS TO CASE MATERIALS; access to case material; access to the case materials"
    assert [text[s:e] for s, e in spans(text, PHRASE)] == ["Access to\ncase-materials", "ACCESS TO CASE MATERIALS"]
    assert spans("see A/HRC/40/52, para 3", "A/HRC/40/52") == [(4, 15)]
    assert spans("showcase materials", "case materials") == spans("case materials", "case material") == []  # whole words
    assert spans("他被逮捕了", "逮捕") == [(2, 4)]  # no word boundaries inside Chinese


def test_the_lexical_index_finds_chunks_holding_every_term_in_each_language():
    index = LexicalIndex.build(
        ["access to case materials", "case only", "le droit à la vie", "droit de vote"], [10, 20, 30, 40],
        ["en", "en", "fr", "fr"],
    )
    assert index.ids_with_every_term("case materials").tolist() == [10]
    assert index.ids_with_every_term("droit à la vie").tolist() == [30]
    assert index.ids_with_every_term("case").tolist() == [10, 20]
    assert index.ids_with_every_term("zebra case").tolist() == []
    assert index.ids_with_every_term("to the of") is None  # English stopwords: English rows cannot be told
    assert LexicalIndex.build(["x y"], [1], ["fr"]).ids_with_every_term("the case").tolist() == []



def test_a_letter_typed_without_its_accent_matches_it_with_one_and_not_the_other_way():
    reply = "detenida por la Policía Nacional; la abogada, la Sra. Ковалёвой; Nul ne peut être arbitrairement arrêté"
    for typed, found in (("Policia Nacional", "Policía Nacional"), ("POLICIA nacional", "Policía Nacional"),
                         ("Ковалевой", "Ковалёвой"), ("Nul ne peut etre arbitrairement", "Nul ne peut être arbitrairement")):
        assert [reply[s:e] for s, e in spans(reply, typed)] == [found]
    assert spans("etre", "être") == []  # an accent typed is an accent wanted
    assert spans("Ковалевои", "Ковалевой") == []  # "й" is a letter of its own
    assert [("cafe\u0301 noir")[s:e] for s, e in spans("cafe\u0301 noir", "cafe")] == ["cafe\u0301"]  # decomposed


def test_the_lexical_index_finds_accented_terms_for_a_word_typed_without_accents():
    index = LexicalIndex.build(["la Policía Nacional", "la policía local", "Nul ne peut être arbitrairement arrêté",
                                "Ковалёвой адвокат"], [1, 2, 3, 4], ["es", "es", "fr", "ru"])
    assert index.ids_with_every_term("Policia Nacional").tolist() == []  # as typed: the stems differ
    assert index.ids_with_every_term("Policia Nacional", unaccented=True).tolist() == [1]
    assert index.ids_with_every_term("policia", unaccented=True).tolist() == [1, 2]
    assert index.ids_with_every_term("peut etre arbitrairement", unaccented=True).tolist() == [3]
    assert index.ids_with_every_term("Ковалевой", unaccented=True).tolist() == [4]
    assert index.ids_with_every_term("policía", unaccented=True).tolist() == [1, 2]

@pytest.fixture
def phrase_index(docs_dir, settings, fake_embedder):
    write(docs_dir, "notes.md", "# Notes\n\n" + "\n\n".join(SCATTERED) + "\n")
    write(docs_dir, "reply.md", "# Reply\n\n" + EXACT + "\n\nThe court met twice.\n")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        yield store


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_a_quoted_phrase_shows_only_passages_that_contain_it(phrase_index, fake_embedder, mode):
    plain = ask(phrase_index, fake_embedder, f"What about {PHRASE}?", mode=mode)
    assert PHRASE not in plain.passages[0].text and plain.phrases == ()  # the test can fail
    answer = ask(phrase_index, fake_embedder, f'What about "{PHRASE}"?', mode=mode)
    assert answer.phrases == (PHRASE,) and answer.phrases_missing == ()
    assert answer.passages and all(spans(p.text, PHRASE) for p in answer.passages)
    assert answer.passages[0].doc == "reply.md"
    assert answer_to_json(answer)["phrases"] == [PHRASE] and answer_to_json(answer)["phrases_missing"] == []


def test_a_phrase_no_passage_holds_is_searched_as_usual_and_said(phrase_index, fake_embedder):
    answer = ask(phrase_index, fake_embedder, 'What about "case materials of March"?')
    assert answer.phrases == () and answer.phrases_missing == ("case materials of March",)
    assert len(answer.passages) >= 2  # the usual search, not an empty one
    # a document filter applies first: the phrase is only in reply.md
    only_notes = ask(phrase_index, fake_embedder, f'What about "{PHRASE}"?', docs=["notes.md"])
    assert only_notes.phrases_missing == (PHRASE,) and {p.doc for p in only_notes.passages} == {"notes.md"}
    # every phrase must be in one passage; a phrase of stopwords only narrows nothing
    assert ask(phrase_index, fake_embedder, f'"{PHRASE}" and "court met"').phrases == (PHRASE, "court met")
    both = ask(phrase_index, fake_embedder, f'"{PHRASE}" and "case file"')  # each in another document
    assert both.phrases_missing == (PHRASE, "case file")
    assert ask(phrase_index, fake_embedder, 'What about "to the"?').phrases == ()


def test_passages_with_the_quoted_words_are_never_not_found(phrase_index, fake_embedder, monkeypatch):
    monkeypatch.setattr(answer_module, "answer_status", lambda *args: answer_module.NOT_FOUND)
    monkeypatch.setattr(answer_module, "first_answers", lambda *args: 0.0)
    assert ask(phrase_index, fake_embedder, f"What about {PHRASE}?").status == answer_module.NOT_FOUND
    assert ask(phrase_index, fake_embedder, f'What about "{PHRASE}"?').status == answer_module.UNCERTAIN


def test_the_page_and_the_cli_say_what_was_done_with_the_quotes():
    found = Answer("q", (), phrases=(PHRASE, "<b>x"))
    shown = render.phrases_html(found)
    assert "Showing only passages that contain “<bdi>access to case materials</bdi>” and “<bdi>&lt;b&gt;x</bdi>”." in shown
    assert "<b>" not in shown
    # an Arabic phrase is isolated, so that it cannot reorder the English line around it
    assert "“<bdi>تعسفا</bdi>”" in render.phrases_html(Answer("q", (), phrases_missing=("تعسفا",)))
    missing = Answer("q", (), phrases_missing=("zebra crossing",))
    assert render.phrases_note(missing) == "No passage contains “zebra crossing” as typed; showing the closest passages."
    assert render.phrases_note(Answer("q", (), phrases_missing=("a b", "c d"))).startswith("No passage contains all of “a b” and")
    assert render.phrases_html(Answer("q", ())) == ""
    assert format_answer(missing).startswith("No passage contains “zebra crossing”")


def test_cards_set_the_quoted_words_in_bold_escaped(phrase_index, fake_embedder):
    answer = ask(phrase_index, fake_embedder, f'What about "{PHRASE}"?')
    card = render.passage_card_html(answer.passages[0], 1, phrases=answer.phrases)
    assert card.count('<strong class="vb-quoted">') == 1 and f'<strong class="vb-quoted">{PHRASE}</strong>' in card
    assert 'class="vb-quoted"' not in render.passage_card_html(answer.passages[0], 1)
    tricky = answer.passages[0].__class__(**{**answer.passages[0].__dict__, "text": "a <b>x</b> b", "highlights": ()})
    card = render.passage_card_html(tricky, 1, phrases=("b x b",))
    assert 'a &lt;<strong class="vb-quoted">b&gt;x&lt;/b</strong>&gt; b' in card and "<b>" not in card


def test_chunk_texts_are_the_chunks_own_texts(phrase_index):
    with phrase_index.snapshot() as snap:
        ids = snap.generation.ids.tolist()
        assert snap.chunk_texts(ids) == {i: row.text for i, row in snap.chunks(ids).items()}
        assert snap.chunk_texts(np.array([], dtype=np.int64)) == {}


def test_a_follow_up_with_quotes_of_its_own_is_not_held_to_the_previous_ones(phrase_index, fake_embedder, monkeypatch):
    monkeypatch.setattr(answer_module, "contextualize", lambda question, history, *args: f"{history[-1]} {question}")
    answer = ask(phrase_index, fake_embedder, f'and "{PHRASE}"?', history=['What about "case file"?'])
    assert answer.read_with and answer.phrases == (PHRASE,)
    carried = ask(phrase_index, fake_embedder, "and who kept them?", history=['What about "case file"?'])
    assert carried.phrases == ("case file",) and all(spans(p.text, "case file") for p in carried.passages)
