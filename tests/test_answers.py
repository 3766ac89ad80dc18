"""What an answer quotes and how it is labelled: follow-up questions, prose-only quotes, three states."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SEED_DOC, write
from qa import answer as answer_module
from qa.answer import ANSWERED, NOT_FOUND, UNCERTAIN, answer_status, answer_to_json, ask
from qa.asked_fact import asked_fact, gives_fact
from qa.followup import contextualize, refers_back
from qa.indexing import update_index
from qa.sentences import is_prose, sentence_spans
from qa.store import Store

DATA = Path(__file__).parent / "data"


def _conversations(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("question", [
    "what is she accused of?", "when was that adopted?", "Why?", "and the second one?", "which court?",
    "Since when?", "how many are still pending?", "How many were released?", "how much is it?", "what about funding of NGOs?", "is this binding?",
    "and the second optional protocol?", "who brought that case", "who should decide that?",
    "what happens if a state doesnt submit one", "And what did the Committee decide?",
    "By which police departments", "who decides then", "quote the sentence", "What was the committee's answer",
    "Does that cover purely mental suffering too, or only physical pain?", "What happens there during the session, do NGOs speak",
    "whats his actual title, acting minister or deputy minister?", "Is Spain on the list?",
    "same in the ICCPR?", "vs prior authorisation?", "compare with Italy's", "is the ICCPR stricter?",
    "thats what percentage?", "ok and in nkunzimana?", "Did Kazakhstan send one, and when did the rapporteur write back",
    "Which articles of the Code of Criminal Procedure guarantee that right", "what did the mother do next?",
    "Thanks. Could you also tell me whether the Committee looked at the compensation he received?",
    "and what does paragraph 12 say?", "different question: what did she say to the court?",
])
def test_questions_that_lean_on_the_previous_turn(question):
    assert refers_back(question)
    assert contextualize(question, ["Who is Dinara Smailova?"]) == f"Who is Dinara Smailova? {question}"


@pytest.mark.parametrize("question", [
    "Is torture ever allowed?", "Is it legal to detain someone without a trial?", "Who funds NGOs?",
    "also whats a list of issues prior to reporting", "how long does it normally take to finish an investigation",
    "what about the Framework Plan for Civil Society up to 2030 - what does it set out?",
    "does Italy say it will support the Special Rapporteur on the right to food",
    "was smailova's lawyer at the hearing where she was declared wanted", "Explain non-refoulement",
    "It is often said torture is absolutely prohibited. where does the Convention against Torture say that?",
    "Is it true that the Covenant bans slavery?", "Right to leave any country, where is that?",
    "Is Mary Lawlor one of the addressees, and what is her mandate?",
    "Can the police detain someone without telling them why?",
    "Is that even legal, shutting down an NGO over late paperwork?",
    "And what is the Public Oversight Act?", "So what rights does a suspect have under article 64 of the Code?",
    "When was the 2020 assemblies act adopted and what did it change?",
    "working group on protection of human rights defenders - who sits on it?",
    "Does Kazakhstan say it cooperates with UN human rights mechanisms?",
    "Does it matter under international law whether an NGO is registered?",
    "In 2020 Italy accepted a definition of antisemitism - which one?",
    "What is A/80/44?", "When is Kazakhstan's next review by the Committee against Torture?",
    "who signed this letter on behalf of kazakhstan", "how much did smailova pay the bostandyk plaintiffs",
    "Does the ICCPR require that restrictions on freedom of expression be provided by law?",
    "When a State Party ignores a request for interim measures, what can CAT do about it?",
    "show me the paragraph about the 2017 press conference", "What does it mean when a State 'accedes' to a treaty?",
    "And how many of the nemolchikz_official posts asked for money?", "does the UDHR protect privacy too?",
    "ok different question: what does the reply say about trade union rights",
    "changing the subject, when did Kazakhstan ratify the Convention against Torture?",
    "does kazakhstan say it is willing to cooperate with UN human rights bodies?",
    "and what does article 3 of the convention against torture say?",
    "How much was the fine imposed on Igor Petrov?", "How much was the bail for Maria Quispe Rojas?",
])
def test_questions_that_stand_alone_are_not_prefixed(question):
    assert not refers_back(question)
    assert contextualize(question, ["What did the reply say about the privacy case?"]) == question


WRITTEN = ["conversations.jsonl", "conversations_dev2.jsonl", "conversations_dev3.jsonl", "conversations_dev4.jsonl",
           "conversations_dev5.jsonl", "conversations_dev6.jsonl"]


@pytest.mark.parametrize("name", WRITTEN)
def test_follow_up_detection_on_the_written_conversations(name):
    rows = _conversations(name)
    right = sum(refers_back(row["turns"][1]) == row["follow_up"] for row in rows)
    assert len(rows) >= 40 and right / len(rows) >= 0.95


def test_follow_up_detection_on_the_held_out_conversations_stays_above_its_measured_floor():
    """Written by someone who never saw the rules (86 of 96, README): a guard against regressions."""
    rows = _conversations("conversations_holdout.jsonl")
    right = sum(refers_back(row["turns"][1]) == row["follow_up"] for row in rows)
    assert len(rows) >= 60 and right / len(rows) >= 0.89


def test_the_follow_up_model_reads_the_conversations_with_minilm(real_embedder):
    """The rules, then the logistic model over MiniLM vectors when it is sure (bench/followup.py)."""
    from qa.followup import needs_previous, reads_model

    assert reads_model(real_embedder)
    written = [row for name in WRITTEN for row in _conversations(name)]
    held = _conversations("conversations_holdout.jsonl")
    right = [sum(needs_previous(r["turns"][1], r["turns"][0], real_embedder) == r["follow_up"] for r in rows)
             for rows in (written, held)]
    assert right[0] / len(written) >= 0.97  # fitted on them: 0.98
    assert right[1] / len(held) >= 0.91  # never fitted on: 89 of 96 (README; 88 in session 13, 86 before)


def test_a_question_in_another_language_is_never_read_with_the_previous_one(real_embedder):
    """The follow-up model reads MiniLM's vector, which says nothing of an Arabic or French question: this Arabic
    question of tests/data/multilingual.jsonl was read after the English one before it."""
    previous = "Is torture banned by the Declaration?"
    for question in ("هل يولد كل إنسان بنفس الكرامة والحقوق التي يتمتع بها غيره؟", "Existe-t-il un droit à la vie ?"):
        assert contextualize(question, [previous], real_embedder) == question


def test_the_follow_up_model_reads_the_session_9_blind_set(real_embedder):
    """Written blind in session 9 and read right 110 of 120 before the model was refitted with it (111 after;
    tests/data/CONVERSATIONS_DEV7.md); no rule was written from it."""
    from qa.followup import needs_previous

    rows = _conversations("conversations_dev7.jsonl")
    right = sum(needs_previous(r["turns"][1], r["turns"][0], real_embedder) == r["follow_up"] for r in rows)
    assert len(rows) == 120 and right / len(rows) >= 0.91


def test_the_follow_up_detector_reads_the_session_17_blind_set(real_embedder):
    """Written blind in session 17 (tests/data/CONVERSATIONS_BLIND17.md), for measuring only: never fitted on, and
    read right 116 of 120 (the session-16 detector: 115). Session 13's blind set is fitted on since."""
    from qa.followup import _model, needs_previous

    rows = _conversations("conversations_blind17.jsonl")
    assert "conversations_blind17.jsonl" not in _model()["trained_on"]
    assert "conversations_blind13.jsonl" in _model()["trained_on"]
    assert len(rows) == 120 and sum(row["follow_up"] for row in rows) == 60
    right = sum(needs_previous(r["turns"][1], r["turns"][0], real_embedder) == r["follow_up"] for r in rows)
    assert right / len(rows) >= 0.95


def test_the_model_reads_a_fragment_the_rules_let_stand(real_embedder):
    from qa.followup import needs_previous

    previous = "What is Smailova accused of in the Ust-Kamenogorsk case?"
    assert not refers_back("evidence?")
    assert needs_previous("evidence?", previous, real_embedder)
    assert not needs_previous("What does article 7 of the ICCPR prohibit?", previous, real_embedder)


def test_how_sure_the_model_must_be_depends_on_what_the_question_names():
    from qa.followup import model_threshold

    for named in ("Who is Clement Voule?", "so what happened in Valenzuela Valdez v. Mexico", "what did CAT/C/KAZ/4 say",
                  "and in 2023 how many were opened?"):
        assert model_threshold(named, 0.8, 0.7) is None
    assert model_threshold("How old was the boy?", 0.8, 0.7) == 0.7  # a definite noun phrase, nothing named
    assert model_threshold("Is primary education free?", 0.8, 0.7) == 0.8


def test_the_model_never_reads_a_question_that_names_something_with_the_previous_one(real_embedder, monkeypatch):
    from qa import followup

    monkeypatch.setattr(followup, "follow_up_probability", lambda question, previous, joined: 0.99)
    previous = "how much did the court order smailova to pay for moral harm"
    assert not followup.needs_previous("Who is Clement Voule?", previous, real_embedder)
    assert followup.needs_previous("Is primary education free?", previous, real_embedder)


def test_a_bridging_definite_noun_phrase_is_read_with_the_previous_question(real_embedder):
    """The model's probability for these is 0.75–0.79: under the 0.8 a question needs when it has no definite noun
    phrase, over the 0.7 it needs when it has one and names nothing."""
    from qa.followup import needs_previous

    assert needs_previous("who chairs the working group?",
                          "Which UN mandate holders signed the joint communication AL KAZ 1/2024?", real_embedder)
    assert needs_previous("how long had the complainant been in pretrial detention?",
                          "What did the Committee against Torture decide in Aishan v. Morocco?", real_embedder)


def test_without_minilm_the_rules_decide(fake_embedder):
    from qa.followup import needs_previous, reads_model

    assert not reads_model(fake_embedder)
    assert needs_previous("what is she accused of?", "Who is Smailova?", fake_embedder)
    assert not needs_previous("Is torture ever allowed?", "Who is Smailova?", fake_embedder)


def test_an_independent_short_question_is_answered_on_its_own(settings, docs_dir, fake_embedder):
    write(docs_dir, "a.md", "# Torture\n\nTorture is prohibited in all circumstances without exception.")
    write(docs_dir, "b.md", "# Smailova\n\nMs. Smailova was accused of fraud and of spreading false information.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        alone = ask(store, fake_embedder, "Is torture ever allowed?", k=1)
        after = ask(store, fake_embedder, "Is torture ever allowed?", k=1, history=["What was Smailova accused of?"])
        follow = ask(store, fake_embedder, "what was she accused of?", k=1, history=["Who is Smailova?"])
    assert alone.passages[0].doc == after.passages[0].doc == "a.md"
    assert [p.chunk_id for p in alone.passages] == [p.chunk_id for p in after.passages]
    assert follow.passages[0].doc == "b.md"
    # the answer says which previous question it was read with (the page shows it), and only then
    assert alone.read_with is None and after.read_with is None and follow.read_with == "Who is Smailova?"
    assert answer_to_json(follow)["read_with"] == "Who is Smailova?" and answer_to_json(after)["read_with"] is None


@pytest.mark.parametrize("text", [
    "Ms. Mary LAWLOR\nSpecial Rapporteur on the situation of human rights defenders",
    "MISSION PERMANENTE\nDE LA RÉPUBLIQUE DU KAZAKHSTAN",
    "№ 30-44/127", "Geneva, May 27, 2024", "Your Excellences,",
    "Introduction .......................... 4", "Ref: AL KAZ 1/2024, dated 18 March 2024",
    "Acting Minister\nRoman VASSILENKO",
    "D. Oral report of the Chair to the General Assembly", "IV. Follow-up on concluding observations",
    "Universal Declaration of Human Rights - Chinese, Mandarin (Simplified)\n© 1996 – 2009 The Office of the High "
    "Commissioner for Human Rights\nThis plain text version prepared by the “UDHR in Unicode”\nproject, "
    "http://www.unicode.org/udhr.",  # quoted as the closest sentence to an off-topic question (session 19)
    "4 Available at https://www.ohchr.org/en/treaty-bodies/cat.",  # a footnote quoted as an answer (session 20)
])
def test_letterheads_addresses_signatures_and_contents_lines_are_not_prose(text):
    assert not is_prose(text)


@pytest.mark.parametrize("text", [
    "The Public Oversight Act was adopted on 2 October 2023, along with amendments.",
    "No one shall be held in slavery or servitude.",
    "Between 11 May 2024 and 2 May 2025, follow-up reports were received from Slovakia (CAT/C/SVK/FCO/4), "
    "Mongolia (CAT/C/MNG/FCO/2), Kenya (CAT/C/KEN/FCO/3) and Norway (CAT/C/NOR/FCO/8).",
    "Everyone has the right to freedom of thought, conscience and religion;",
    "12. The Committee notes the reply.",
    "The Government released Mr. Petrov on 1 July 2024.",  # short, full of names and a date (session 19)
    "王明先生于2024年3月1日被释放。",  # a Chinese date counted by characters' weight, not as a line of numbers
    "The full text of the decision is available on the Committee's website at https://www.ohchr.org/en/cat.",
])
def test_sentences_are_prose(text):
    assert is_prose(text)


def test_an_answered_answer_quotes_its_first_passage_or_nothing_and_marks_every_quote():
    """Session 19: when the first passage had no sentence to quote, "answered" quoted the best sentences of the
    other passages (about another person); and a card marked at most two of the three sentences quoted from it."""
    from qa.answer import first_passage_quote, highlight_quotes
    from qa.types import AnswerSentence, Passage

    text = "One sentence here. Two sentence here. Three sentence here."
    first = Passage(chunk_id=1, doc="note.md", title="Note", section="", text="Mr. Petrov, 1 July 2024", start=0,
                    end=23, score=1.0, rank=1)
    other = Passage(chunk_id=2, doc="reply.md", title="Reply", section="", text=text, start=100, end=100 + len(text),
                    score=0.5, rank=2, highlights=((100, 118), (119, 137)))
    quoted = [AnswerSentence(text[i:j], "reply.md", 100 + i, 100 + j, 2) for i, j in ((0, 18), (19, 37), (38, 58))]
    assert first_passage_quote(first, quoted) == []
    assert first_passage_quote(other, quoted) == quoted
    marked = highlight_quotes([first, other], quoted)
    assert marked[0] == first
    assert marked[1].highlights == ((100, 118), (119, 137), (138, 158))
    assert all(other.text[s - other.start : e - other.start] == q.text for (s, e), q in zip(marked[1].highlights, quoted))


def test_an_answer_never_quotes_the_address_block(settings, docs_dir, fake_embedder):
    write(docs_dir, "letter.md", "# Letter\n\nMs. Mary LAWLOR\nSpecial Rapporteur on the situation of human rights "
                                 "defenders\n\nThe Special Rapporteur on the situation of human rights defenders asked "
                                 "about the case, and the Government replied in May.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        result = ask(store, fake_embedder, "Special Rapporteur on the situation of human rights defenders", k=3)
    assert result.sentences and all(is_prose(s.text) for s in result.sentences)
    assert all("LAWLOR" not in s.text for s in result.sentences)
    for passage in result.passages:
        for start, end in passage.highlights:
            assert "LAWLOR" not in passage.text[start - passage.start : end - passage.start]


@pytest.mark.parametrize("kind", sorted(answer_module.CONFIDENCE))
def test_the_three_states_follow_the_calibrated_bounds(kind):
    not_found_below, answered_at = answer_module.CONFIDENCE[kind][3:]
    assert 0 < not_found_below <= answered_at < 1
    assert answer_status(answered_at, kind) == ANSWERED
    assert answer_status(not_found_below - 1e-6, kind) == NOT_FOUND
    assert answer_status((not_found_below + answered_at) / 2, kind) == UNCERTAIN
    # a passage the second encoder finds close is shown as one that may not answer, never "not found"
    bound = answer_module.SECOND_NOT_FOUND_BELOW
    assert answer_status(not_found_below - 1e-6, kind, bound) == UNCERTAIN
    assert answer_status(not_found_below - 1e-6, kind, bound - 0.01) == NOT_FOUND
    assert answer_status(answered_at, kind, bound - 0.01) == ANSWERED


@pytest.mark.parametrize("kind", sorted(answer_module.FIRST_ANSWERS))
def test_answered_is_decided_by_how_far_the_first_passage_leads(kind):
    not_found_below, answered_at = answer_module.CONFIDENCE[kind][3:]
    bound = answer_module.FIRST_ANSWERS[kind][2]
    middle = (not_found_below + answered_at) / 2
    assert answer_status(middle, kind, first=bound) == ANSWERED
    assert answer_status(answered_at, kind, first=bound - 0.01) == UNCERTAIN  # the cosines alone no longer answer
    assert answer_status(not_found_below - 1e-6, kind, first=0.99) == NOT_FOUND  # "not found" comes first
    weak, clear = {"lead": 0.1, "top": 1.0}, {"lead": 2.0, "top": 3.0}
    assert answer_module.first_answers(weak, kind) < bound <= answer_module.first_answers(clear, kind)
    assert answer_module.first_answers({"lead": 0.1, "top": 2.5}, kind) > answer_module.first_answers(weak, kind)
    assert answer_module.first_answers({"top": 2.5}, kind) is None  # no fused scores: not hybrid search
    assert answer_module.first_answers(clear, "bare") is None


def test_a_passage_that_stands_out_is_answered_and_two_alike_are_not(settings, docs_dir, fake_embedder):
    topics = ["budget of the ministry of culture", "rainfall in the northern provinces", "railway timetable changes",
              "registration of fishing boats", "school meals for pupils", "licensing of taxi drivers"]
    for i, topic in enumerate(topics):
        write(docs_dir, f"t{i}.md", f"# Note {i}\n\nThe report describes the {topic} in some detail for the year.")
    write(docs_dir, "a.md", "# Detention\n\nThe police may detain a suspect for seventy two hours before a judge "
                            "reviews the arrest.")
    write(docs_dir, "b.md", "# Custody\n\nThe police can hold a person for seventy two hours until a judge reviews "
                            "the detention.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        clear = ask(store, fake_embedder, "What does the report say about licensing of taxi drivers?", k=3)
        alike = ask(store, fake_embedder, "For how many hours may the police detain a suspect before a judge?", k=3)
        dense = ask(store, fake_embedder, "What does the report say about licensing of taxi drivers?", k=3, mode="dense")
    assert clear.passages[0].doc == "t5.md" and clear.status == ANSWERED
    assert {alike.passages[0].doc, alike.passages[1].doc} == {"a.md", "b.md"} and alike.status == UNCERTAIN
    assert alike.signals["lead"] < clear.signals["lead"]
    assert "lead" not in dense.signals and "top" not in dense.signals


@pytest.mark.slow
def test_the_seed_reply_is_answered_and_an_off_topic_question_is_not(seeds_index, real_embedder):
    with Store.open(seeds_index.index, seeds_index) as store:
        answered = ask(store, real_embedder, "Why was Smailova put on the wanted list?")
        off = ask(store, real_embedder, "What is the boiling point of mercury?")
    assert answered.status in (ANSWERED, UNCERTAIN) and answered.passages[0].doc == SEED_DOC
    assert all(is_prose(s.text) for s in answered.sentences)
    assert off.status == NOT_FOUND and not off.answerable
    assert answer_to_json(off)["status"] == NOT_FOUND
    for passage in answered.passages:
        spans = sentence_spans(passage.text)
        assert all(any(passage.start + s <= a and b <= passage.start + e for s, e in spans) for a, b in passage.highlights)


@pytest.mark.parametrize("question, kind", [
    ("When did the Bostandyk court rule against her?", "date"),
    ("so when was the law adopted", "date"),
    ("During which years was the blogger an MP?", "date"),
    ("On what date did the Permanent Mission send the reply?", "date"),
    ("What fine was Ms. Smailova ordered to pay?", "amount"),
    ("how much compensation did the court award", "amount"),
    ("How many members does the Human Rights Committee have?", "count"),
    ("At what age can a child be sentenced?", "count"),
    ("What happens when a State does not report?", None),
    ("When a person is detained, what rights does he have?", None),
    ("What was the amount of the fine?", "amount"),
    ("What is the date of the decision?", "date"),
    ("Who is Dina Tansari?", None),
    ("Quelle est l'amende infligée à Petrov ?", "amount"), ("¿Qué multa se impuso al periodista Petrov?", "amount"),
    ("Quel montant de caution a été fixé ?", "amount"), ("Какой штраф назначен?", "amount"),
    ("¿Cuándo fue detenida la Sra. Quispe Rojas?", "date"), ("Когда его освободили?", "date"),
    ("Quelle est la date de la décision ?", "date"), ("Combien de jours a-t-il été détenu ?", "count"),
    ("¿Cuántos días estuvo detenido?", "count"), ("Сколько предупреждений получила организация?", "count"),
    ("Quelle est la sanction prévue ?", None), ("¿Quién firmó la nota?", None),
])
def test_what_kind_of_fact_a_question_asks_for(question, kind):
    assert asked_fact(question) == kind


@pytest.mark.parametrize("sentence, kind, gives", [
    ("The Court, in a decision dated 9 February 2022, found that the information was untrue.", "date", True),
    ("On May 27, 2024 the note was sent.", "date", True),
    ("But the court did not find Ms. Smailova guilty.", "date", False),
    ("She was ordered to pay a total amount of 560,000 tenge to the plaintiffs.", "amount", True),
    ("The fine was 50 monthly calculation indices.", "amount", True),
    ("The Court, in a decision dated 9 February 2022, found that the information was untrue.", "amount", False),
    ("The Committee shall consist of eighteen members.", "count", True),
    ("It has 18 members.", "count", True),
    ("The Covenant entered into force on 23 March 1976.", "count", False),
    ("The Human Rights Committee is established under article 28 of the Covenant.", "count", False),
    ("See A/80/44, paragraph 12 (b).", "count", False),
    ("Resolution 24/5 was adopted by 40 votes.", "count", True),
    ("Under article 17 (1) and articles 2 and 16 the Committee acts.", "count", False),
    ("He was fined 2000 euros.", "amount", True),
    ("About 2000 people were detained in 2022.", "count", True),
    ("In 2019 the law was adopted.", "count", False),
    ("No one shall be held in slavery; once registered, the third report is due.", "count", False),
    ("Ему был назначен штраф в размере 120 000 рублей.", "amount", True),
    ("El juez ordenó su libertad bajo fianza por 15.000 pesos.", "amount", True),
    ("Г-н Петров был задержан 9 марта 2024 года.", "amount", False),
    ("Г-н Петров был задержан 9 марта 2024 года.", "date", True),
    ("fue detenida el 3 de febrero de 2024", "count", False),
    ("王明于2024年1月8日被刑事拘留。", "date", True),
    ("他在羁押期间接受了三次健康检查。", "count", True),
    ("после трёх предупреждений Министерства юстиции", "count", True),
    ("Il a été remis en liberté après 36 heures.", "count", True),
])
def test_whether_a_sentence_gives_the_fact(sentence, kind, gives):
    assert gives_fact(sentence, kind) is gives


@pytest.mark.slow
def test_the_sentence_with_the_asked_amount_is_quoted_and_highlighted(seeds_index, real_embedder):
    """The tester's "What fine…?" quoted "the court did not find Ms. Smailova guilty" and a court date, not the fine."""
    with Store.open(seeds_index.index, seeds_index) as store:
        answer = ask(store, real_embedder, "What fine was Ms. Smailova ordered to pay?")
    fine = "ordered to pay a total amount of 560,000 tenge"
    assert fine in answer.sentences[0].text, [s.text for s in answer.sentences]  # the closest sentence shown
    holding = [p for p in answer.passages if fine in p.text]
    assert holding, [p.text[:80] for p in answer.passages]
    holding = holding[0]
    assert any(fine in holding.text[a - holding.start : b - holding.start] for a, b in holding.highlights)


def test_the_asked_fact_is_favoured_in_passages_the_english_model_cannot_read_too():
    """A researcher's "What penalty did Petrov receive?" quoted his arrest and release from a Russian reply, not the
    sentence with the fine: the sentences e5 scores (closer together) get their own, smaller favour."""
    from qa.answer import ASKED_FACT_BONUS, FOREIGN_ASKED_FACT_BONUS, favour_the_asked_fact
    from qa.types import Passage

    text = "Г-н Петров был задержан сотрудниками полиции. Ему был назначен штраф в размере 120 000 рублей."
    passage = Passage(1, 1.0, 7, "otvet.md", "Ответ", "", 100, 100 + len(text), text, lang="ru")
    cut = text.index("Ему")
    flat = [(0, 100, 100 + cut - 1), (0, 100 + cut, 100 + len(text))]
    scores = np.array([0.86, 0.83], dtype=np.float32)
    favoured = favour_the_asked_fact("What penalty did Petrov receive?", [passage], flat, scores, frozenset({0, 1}))
    assert favoured.tolist() == pytest.approx([0.86, 0.83 + FOREIGN_ASKED_FACT_BONUS])
    assert favoured[1] > favoured[0] and 0 < FOREIGN_ASKED_FACT_BONUS < ASKED_FACT_BONUS
    # read by the English model, the same sentences get the English favour
    english = favour_the_asked_fact("What penalty did Petrov receive?", [passage], flat, scores)
    assert english.tolist() == pytest.approx([0.86, 0.83 + ASKED_FACT_BONUS])
    # a question that asks for no fact changes nothing
    assert favour_the_asked_fact("Who arrested Petrov?", [passage], flat, scores).tolist() == pytest.approx(scores.tolist())
