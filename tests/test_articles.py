"""Article numbers (qa.articles): a question naming "article 7" gets the passages under that heading first."""

from __future__ import annotations

import pytest

from conftest import write
from qa import articles
from qa.answer import ask
from qa.articles import chinese_number, chinese_numeral, heading_number, referenced
from qa.indexing import update_index
from qa.store import Store


def test_article_numbers_are_read_from_questions_in_six_languages():
    assert referenced("What does article 14 of the ICCPR say?") == (14,)
    assert referenced("Art. 9 and arts. 20, 21 and 22") == (9, 20, 21, 22)
    assert referenced("article 14(3)(d) and Article 19 (2)") == (14, 19)
    assert referenced("articles 6 or 7, article 6 again") == (6, 7)
    assert referenced("L'article 5 de la Déclaration ; el artículo 12 ; статья 3 ; статьи 19 ; المادة 18") == (5, 12, 3, 19, 18)
    assert referenced("《世界人权宣言》第十四条和第3条") == (14, 3)
    assert referenced("Que dit l'article premier ?") == (1,)
    assert referenced("¿Qué dice el artículo primero?") == referenced("Что говорится в статье первой?") == (1,)
    assert referenced("ماذا تنص المادة الأولى من الإعلان؟") == referenced("Статья первая") == (1,)
    assert referenced("世界人權宣言第二十條規定了什麼？") == (20,)  # traditional characters
    assert referenced("the first article of the newspaper") == ()
    assert referenced("a newspaper article about 2019") == ()
    assert referenced("article 2019 of nothing, article 0") == ()  # four digits: a year; no article 0
    assert referenced("partial 5 and particle 3") == ()


def test_chinese_numerals_both_ways():
    for number in (1, 5, 10, 14, 20, 22, 30, 100, 105, 110, 122):
        assert chinese_number(chinese_numeral(number)) == number
    assert chinese_numeral(14) == "十四" and chinese_numeral(22) == "二十二" and chinese_numeral(105) == "一百零五"
    assert chinese_number("十四") == 14 and chinese_number("12") == 12 and chinese_number("十x") is None


def test_a_passage_is_under_an_article_when_its_last_heading_is_that_article():
    assert heading_number("PART III > Article 14") == 14
    assert heading_number("Article 5 - Prohibition of torture") == 5
    assert heading_number("Artículo 12") == 12 and heading_number("Статья 3") == 3 and heading_number("المادة 18") == 18
    assert heading_number("世界人权宣言 > 第十四条") == 14 and heading_number("第二十條") == 20
    assert heading_number("Article premier") == heading_number("Article 1er") == 1
    assert heading_number("Article 14 > Commentary") is None  # a heading below the article's own
    assert heading_number("Consideration of complaints under article 22") is None
    assert heading_number("") is None and heading_number("Articles") is None


COMMENTARY = ("Article 7 was discussed at length. The committee said article 7 matters, and article 7 is cited in "
              "every report; what article 7 says about torture is what the committee asks about article 7.")
TREATY = "# Covenant\n\n## Article 6\n\nEvery human being has the inherent right to life.\n\n" \
         "## Article 7\n\nNo one shall be subjected to torture or to cruel treatment.\n\n" \
         "## Article 8\n\nNo one shall be held in slavery.\n"


@pytest.fixture
def treaty_index(docs_dir, settings, fake_embedder):
    write(docs_dir, "commentary.md", "# Commentary\n\n" + COMMENTARY + "\n")
    write(docs_dir, "covenant.md", TREATY)
    write(docs_dir, "pacte.md", "# Pacte\n\n## Article 7\n\nNul ne sera soumis à la torture ni à des peines ou "
                                "traitements cruels, inhumains ou dégradants.\n")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        yield store


def test_the_article_asked_for_comes_first(treaty_index, fake_embedder, monkeypatch):
    question = "What does article 7 say?"
    with treaty_index.snapshot() as snap:
        found = articles.chunks_of(snap, (7,))
        assert sorted(snap.chunks(found)[i].section for i in found) == ["Covenant > Article 7", "Pacte > Article 7"]
        assert articles.chunks_of(snap, (7,), allowed=[]) == set()
        # in the question's language when the index has the article in it; else in every language
        assert [snap.chunks([i])[i].doc for i in articles.chunks_of(snap, (7,), language="fr")] == ["pacte.md"]
        assert [snap.chunks([i])[i].doc for i in articles.chunks_of(snap, (7,), language="en")] == ["covenant.md"]
        assert articles.chunks_of(snap, (7,), language="de") == found
    monkeypatch.setattr(articles, "referenced", lambda question: ())
    assert ask(treaty_index, fake_embedder, question).passages[0].doc == "commentary.md"  # the test can fail
    monkeypatch.undo()
    answer = ask(treaty_index, fake_embedder, question)
    assert answer.passages[0].section == "Covenant > Article 7"
    assert answer.passages[0].score > answer.passages[1].score  # raised above the commentary by the bonus
    assert "commentary.md" in {p.doc for p in answer.passages}  # raised, not filtered
    assert ask(treaty_index, fake_embedder, "What does article 9 say?").passages[0].doc == "commentary.md"
    # too far below for the bonus: still put first, but with its own score, so it does not read as standing out
    monkeypatch.setattr(articles, "BONUS", 0.0)
    moved = ask(treaty_index, fake_embedder, question)
    assert moved.passages[0].section == "Covenant > Article 7" and moved.passages[0].score < moved.passages[1].score


def test_a_follow_up_naming_its_own_article_is_not_asked_for_the_previous_one(treaty_index, fake_embedder, monkeypatch):
    from qa import answer as answer_module

    monkeypatch.setattr(answer_module, "contextualize", lambda question, history, *args: f"{history[-1]} {question}")
    answer = ask(treaty_index, fake_embedder, "and article 8?", history=["What does article 6 say?"])
    assert answer.read_with and answer.passages[0].section == "Covenant > Article 8"
    carried = ask(treaty_index, fake_embedder, "and what about torture?", history=["What does article 6 say?"])
    assert carried.read_with and carried.passages[0].section == "Covenant > Article 6"  # none of its own: the previous one's


def test_the_article_asked_for_is_never_not_found(treaty_index, fake_embedder, monkeypatch):
    from qa import answer as answer_module

    monkeypatch.setattr(answer_module, "answer_status", lambda *args: answer_module.NOT_FOUND)
    monkeypatch.setattr(answer_module, "first_answers", lambda *args: 0.0)
    assert ask(treaty_index, fake_embedder, "What does article 7 say?").status == answer_module.UNCERTAIN
    assert ask(treaty_index, fake_embedder, "What does article 9 say?").status == answer_module.NOT_FOUND  # none


def test_without_a_heading_the_passages_citing_the_article_come_first(docs_dir, settings, fake_embedder, monkeypatch):
    write(docs_dir, "reply.md", "# Reply\n\nThe right to see the materials is guaranteed by law (Code of Criminal "
                                "Procedure, arts. 64, 294 and 296).\n\n## Other\n\nWhat does the law say? The law says "
                                "what the code says about the law and what the article says.\n")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store:
        question = "What does article 294 of the code say?"
        monkeypatch.setattr(articles, "referenced", lambda question: ())
        assert ask(store, fake_embedder, question).passages[0].section == "Reply > Other"  # the test can fail
        monkeypatch.undo()
        assert "arts. 64, 294 and 296" in ask(store, fake_embedder, question).passages[0].text
        assert ask(store, fake_embedder, "What does article 29 of the code say?").passages[0].section == "Reply > Other"


def test_a_one_digit_article_is_found_cited_in_any_language(docs_dir, settings, fake_embedder):
    write(docs_dir, "reply.md", "# Reply\n\nThe procedure is set by law (Code, art. 5).\n\n## Other\n\nThe court sat.\n")
    write(docs_dir, "otvet.md", "# Ответ\n\nПорядок установлен законом (статья 5 Кодекса) и применяется всегда.\n")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    with Store.open(settings.index, settings) as store, store.snapshot() as snap:
        found = articles.chunks_of(snap, (5,))
        assert sorted(snap.chunks(found)[i].doc for i in found) == ["otvet.md", "reply.md"]
        assert articles.chunks_of(snap, (6,)) == set()


def test_an_uncertain_answer_to_an_article_asked_for_quotes_that_article(treaty_index, fake_embedder, monkeypatch):
    """"Que dit l'article premier ?" put article 1 first and quoted article 30 as the closest sentence."""
    from qa import answer as answer_module

    monkeypatch.setattr(answer_module, "answer_status", lambda *args: answer_module.UNCERTAIN)
    monkeypatch.setattr(answer_module, "first_answers", lambda *args: 0.0)
    answer = ask(treaty_index, fake_embedder, "What does article 7 say?")
    assert answer.status == answer_module.UNCERTAIN and answer.passages[0].section == "Covenant > Article 7"
    assert answer.sentences and {s.passage_rank for s in answer.sentences} == {1}
