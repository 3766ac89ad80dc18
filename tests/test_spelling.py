"""Typing slips in questions: searched as the word of the documents they were meant to be, and said so."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from rapidfuzz.distance import OSA

from conftest import write
from qa import render
from qa.answer import answer_to_json, ask
from qa.cli import format_answer
from qa.indexing import update_index
from qa.lexical import LexicalIndex
from qa.spelling import own_slips, respell
from qa.store import Store
from qa.types import Answer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.typos import misspell  # noqa: E402

TEXTS = [
    "The Government of Kazakhstan replied that Ms. Smailova was never prosecuted for her posts.",
    "Freedom of association includes the right to form a trade union.",
    "Cultured cells were grown in the laboratory for the experiment.",
    "The Committee against Torture examines the reports of States parties.",
    # near neighbours of words that are not slips (each rule of qa.spelling is needed for one question below)
    "Whether the act of caring for fish at the session applies to section dons and Mimx is decided.",
    "Bribing an eligible official is a crime.",
    "Leukemogenesis was studied during the state of emergency.",
]


@pytest.fixture(scope="module")
def index():
    return LexicalIndex.build(TEXTS, list(range(1, len(TEXTS) + 1)), ["en"] * len(TEXTS))


def test_a_slip_is_read_as_the_word_of_the_documents_keeping_its_capital(index):
    text, respelled = respell(index, "What did the governmnet of Kazahstan say about Smailva?")
    assert respelled == {"governmnet": "government", "Kazahstan": "Kazakhstan", "Smailva": "Smailova"}
    assert text == "What did the government of Kazakhstan say about Smailova?"
    assert index.search(text, 1)[0][0] == 1
    assert respell(index, "the Comittee against TORTURRE")[1] == {"Comittee": "Committee", "TORTURRE": "TORTURE"}
    # a vowel for a vowel is a misspelling by ear, wherever the keys are
    assert respell(index, "a state of emergancy")[1] == {"emergancy": "emergency"}


@pytest.mark.parametrize("question", [
    "What did the government of Kazakhstan say about Smailova?",  # every word as the documents spell it
    "Which book did Interpol publish about extradition?",  # words of English the documents do not use
    "Wether or not?",  # a word English uses ("whether" is one slip away)
    "Were uncultured cells used?",  # a rare word is not respelled as a commoner one only one slip away
    "Is brining a crime?",  # nor as one not ten times as common ("bribing")
    "What is an elog?",  # a stem of a longer word is no name to respell as ("elig", of "eligible")
    "Was leuekmogenesis studied?",  # nor a rare word's stem ("leukemogenesi")
    "Is it an acy?",  # too short to tell a slip from another word ("act")
    "Does section1 apply?",  # a digit: a symbol, not a slip ("section")
    "Are dLNs decided?",  # a capital inside: a symbol ("dons")
    "What is FIDH?",  # an acronym ("fish")
    "Who are the Mims?",  # a word of English is not respelled as a name of the index ("Mimx")
    "Was the cession decided?",  # a slip keeps the first letter ("session")
    "Is caning applied?",  # a replaced letter is a key next to it ("caring": n and r are not)
    'What did "Kazahstan" say?',  # a word in quotes is searched as typed
])
def test_words_that_are_not_slips_are_searched_as_typed(index, question):
    assert respell(index, question) == (question, {})


def test_a_slip_is_read_in_the_language_of_the_question():
    index = LexicalIndex.build(["Nul ne sera soumis à la torture, ni à des peines ou traitements cruels.",
                                "Toute personne a droit à la liberté de pensée, de conscience et de religion."], [1, 2], ["fr", "fr"])
    assert respell(index, "Ai-je droit à la libreté de concience ?") == (
        "Ai-je droit à la liberté de conscience ?", {"libreté": "liberté", "concience": "conscience"})
    assert respell(index, "La torture est-elle interdite ?")[1] == {}


def test_a_word_of_one_of_the_questions_languages_is_no_slip_in_another():
    """A mixed index reads an English question in French too: "tortured" is not French "torture" misspelt."""
    index = LexicalIndex.build(["Nul ne sera soumis à la torture, ni à des peines ou traitements cruels.",
                                "The detainee was held without charge by the police."], [1, 2], ["fr", "en"])
    assert index.query_analyzers("Was Petrova tortured?") == ["en", "fr"]  # a name leaves the language open
    assert respell(index, "Was Petrova tortured?") == ("Was Petrova tortured?", {})
    assert respell(index, "Was Petrova torturre?")[1] == {"torturre": "torture"}  # no word in either: a slip


def test_an_arabic_slip_is_read_without_its_vowel_marks():
    index = LexicalIndex.build(["لا يجوز إخضاع أحد للتعذيب ولا للمعاملات القاسية أو الحاطة بالكرامة.",
                                "لكل فرد الحق في الحياة والحرية وسلامة شخصه."], [1, 2], ["ar", "ar"])
    assert respell(index, "هل يجوز التَّعذيبب؟") == ("هل يجوز التعذيب؟", {"التعذيبب": "التعذيب"})


def test_a_question_reports_only_the_slips_it_was_typed_with():
    respelled = {"التعذيبب": "التعذيب", "Kazahstan": "Kazakhstan"}
    assert own_slips(respelled, "هل يجوز التَّعذيبب؟") == {"التعذيبب": "التعذيب"}  # typed with a vowel mark
    assert own_slips(respelled, "and in Kazahstan?") == {"Kazahstan": "Kazakhstan"}
    assert own_slips(respelled, "and in Kazahstani law?") == {}


def test_an_empty_index_respells_nothing():
    assert respell(LexicalIndex.build([], [], []), "Kazahstan") == ("Kazahstan", {})


def test_ask_searches_every_list_with_the_respelled_question_and_says_so(docs_dir, settings, fake_embedder):
    write(docs_dir, "reply.md", "# Reply\n\n" + "\n\n".join(TEXTS[:2]) + "\n")
    write(docs_dir, "cat.md", "# Torture\n\n" + "\n\n".join(TEXTS[2:4]) + "\n")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        for mode in ("dense", "bm25", "hybrid"):
            answer = ask(store, fake_embedder, "What did Kazahstan say about Smailva?", mode=mode)
            assert answer.respelled == {"Kazahstan": "Kazakhstan", "Smailva": "Smailova"}, mode
            # cat.md's passages come first in the index; the slips share no word with the reply
            assert "Smailova" in answer.passages[0].text, mode
        assert answer_to_json(answer)["respelled"] == {"Kazahstan": "Kazakhstan", "Smailva": "Smailova"}
        assert ask(store, fake_embedder, "What did Kazakhstan say?").respelled == {}
        # a follow-up reports its own slips, not those of the question it is read with
        follow_up = ask(store, fake_embedder, "Why was she not prosecutd?", history=["What did Kazahstan say about Smailva?"])
        assert follow_up.read_with and follow_up.respelled == {"prosecutd": "prosecuted"}


def test_the_page_and_the_cli_say_what_was_searched_for():
    answer = Answer("What did Kazahstan say?", (), respelled={"Kazahstan": "Kazakhstan", "<b>x": "<i>y"})
    shown = render.respelled_html(answer)
    assert "“<bdi>Kazakhstan</bdi>” where you typed “<bdi>Kazahstan</bdi>”" in shown and "<b>" not in shown
    assert "<bdi>&lt;i&gt;y</bdi>" in shown
    assert render.respelled_html(Answer("What did Kazakhstan say?", ())) == ""
    assert format_answer(answer).startswith("Searched for “Kazakhstan” where you typed “Kazahstan”; ")
    assert not format_answer(Answer("q", ())).startswith("Searched")


def test_the_benchmark_slip_is_one_edit_in_one_word_and_the_same_every_time():
    rows = [json.loads(line) for line in (Path(__file__).parent / "data" / "natural_seeds.jsonl").read_text().splitlines()]
    changed = 0
    for row in rows:
        question, slipped = row["q"], misspell(row["q"])
        assert misspell(question) == slipped
        before, after = question.split(), slipped.split()
        assert len(before) == len(after)
        differ = [(a, b) for a, b in zip(before, after) if a != b]
        assert len(differ) <= 1
        if differ:
            changed += 1
            assert OSA.distance(*differ[0]) == 1
    assert changed >= 0.9 * len(rows)
