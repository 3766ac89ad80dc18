"""End to end with the real model: seeds/ together with the real UN documents (PDF and Markdown)."""

from __future__ import annotations

import pytest

from qa.answer import ask
from qa.indexing import update_index
from qa.store import Store

from bench.corpus import copy_seeds, copy_un_docs
from conftest import UN_DOCS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def un_index(tmp_path_factory, real_embedder):
    from qa.settings import load_settings

    assert UN_DOCS.is_dir(), f"the shared UN corpus is missing at {UN_DOCS}"
    root = tmp_path_factory.mktemp("un")
    docs = root / "docs"
    copy_seeds(docs / "seeds")
    copy_un_docs(docs / "un")
    settings = load_settings({}).with_(docs=docs, index=root / "index")
    report = update_index(docs, settings.index, settings, embedder=real_embedder)
    assert report.failed == [] and report.documents_total == 10
    store = Store.open(settings.index, settings)
    yield store
    store.close()


def test_defence_question_cites_page_8_of_the_iccpr_pdf(un_index, real_embedder):
    answer = ask(un_index, real_embedder, "What guarantees does someone accused of a crime have to prepare a defence?", k=5)
    hits = [p for p in answer.passages if "adequate time and facilities for the preparation of his defence" in p.text]
    assert hits, [p.doc for p in answer.passages]
    # the PDF's passage is shown, or cited as a copy of a better-ranked one with the same words
    pdf_hits = [p for p in hits if p.doc.endswith("ccpr_ohchr.pdf")]
    pdf_hits += [c for p in hits for c in p.also_in if c.doc.endswith("ccpr_ohchr.pdf")]
    assert pdf_hits and pdf_hits[0].page == 8
    assert answer.status != "not_found"
    document = un_index.document(pdf_hits[0].doc)
    assert "adequate time and facilities for the preparation of his defence" in document.text[pdf_hits[0].start : pdf_hits[0].end]
    for passage in hits:
        assert un_index.document(passage.doc).text[passage.start : passage.end] == passage.text


def test_pdf_citations_carry_symbols_and_page_ranges(un_index):
    documents = {d.path: d for d in un_index.documents()}
    assert documents["un/a_80_67_italy_note_verbale_hrc_pledges/A_80_67.en.pdf"].symbol == "A/80/67"
    assert documents["un/iccpr/ccpr_ohchr.pdf"].page_count == 26
    for chunk in un_index.document_chunks("un/iccpr/ccpr_ohchr.pdf"):
        assert 1 <= chunk.page <= chunk.page_end <= 26
        assert "Mytnik" not in chunk.text


def test_off_topic_question_is_not_answered(un_index, real_embedder):
    answer = ask(un_index, real_embedder, "What is the boiling point of mercury?", k=5)
    assert answer.status == "not_found" and not answer.answerable


def test_an_article_asked_for_by_number_comes_first_and_quotes_narrow_the_passages(un_index, real_embedder):
    from qa.articles import heading_number

    for question, number, treaty in [("What does article 14 of the ICCPR say?", 14, ("un/iccpr/", "un/ohchr_fact_sheet_15")),
                                     ("article 7 ICCPR", 7, ("un/iccpr/", "un/ohchr_fact_sheet_15")),
                                     ("Convention against Torture art. 3", 3, ("un/cat/",))]:
        first = ask(un_index, real_embedder, question, k=5).passages[0]
        assert heading_number(first.section) == number and first.doc.startswith(treaty), (question, first.doc, first.section)
    answer = ask(un_index, real_embedder, 'Who may submit "individual communications"?', k=5)
    assert answer.phrases == ("individual communications",) and answer.passages
    assert all("individual communications" in " ".join(p.text.split()).lower() for p in answer.passages)


def test_an_answered_article_question_is_quoted_from_its_first_passage(un_index, real_embedder):
    """"Answered" stands behind the first passage, so the quote comes from it: articles that merely mention the
    Declaration (article 30: "Nothing in this Declaration…") were quoted under article 5 before."""
    answer = ask(un_index, real_embedder, "What does article 5 of the Universal Declaration say?", k=3)
    first = answer.passages[0]
    assert answer.status == "answered" and "subjected to torture" in first.text, (answer.status, first.section)
    assert answer.sentences and all(s.passage_rank == first.rank for s in answer.sentences)
    assert any("subjected to torture" in s.text for s in answer.sentences)
    for s in answer.sentences:
        assert un_index.document(s.doc).text[s.start : s.end] == s.text
