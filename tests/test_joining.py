"""Passages shown together: neighbouring chunks of one section joined, copies of the same words shown once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa.answer import ask
from qa.retrieval import JOIN_MOST, drop_copies, join_neighbours
from qa.stores import open_store
from qa.types import Copy, Passage

from conftest import write
from index_helpers import run_update

DOC = "".join(f"Sentence number {i} of the report says something about topic {i}. " for i in range(40))


def passage(rank, start, end, doc="a.md", section="S", chunk_id=None, text=None, page=None):
    return Passage(rank=rank, score=1.0 / rank, chunk_id=chunk_id or rank, doc=doc, title="T", section=section,
                   start=start, end=end, text=DOC[start:end] if text is None else text, page=page, page_end=page)


def test_overlapping_neighbours_in_the_first_three_become_one_exact_passage():
    joined = join_neighbours([passage(1, 300, 700, page=2), passage(2, 600, 1000, page=3), passage(3, 1500, 1800)], k=5)
    assert [(p.rank, p.start, p.end) for p in joined] == [(1, 300, 1000), (2, 1500, 1800)]
    assert joined[0].text == DOC[300:1000] and joined[0].chunk_id == 1
    assert joined[0].parts == ((1, 300), (2, 600)) and (joined[0].page, joined[0].page_end) == (2, 3)


def test_a_joined_passage_cites_the_numbered_paragraphs_of_both_chunks():
    """The ICCPR's article 9 in two chunks ("1–3", "3–5") was cited "paras. 1–3" when shown as one passage."""
    first, second = passage(1, 300, 700), passage(2, 600, 1000)
    joined = join_neighbours([replace(second, para="3–5"), replace(first, para="1–3")], k=5)
    assert len(joined) == 1 and joined[0].para == "1–5"
    assert join_neighbours([replace(first, para="2"), replace(second, para="2")], k=5)[0].para == "2"
    assert join_neighbours([replace(first, para=None), replace(second, para="4")], k=5)[0].para == "4"


def test_the_better_ranked_chunk_keeps_its_place_when_the_earlier_chunk_ranks_lower():
    joined = join_neighbours([passage(1, 1500, 1800), passage(2, 600, 1000), passage(3, 300, 650)], k=5)
    assert [(p.rank, p.start, p.end, p.chunk_id) for p in joined] == [(1, 1500, 1800, 1), (2, 300, 1000, 2)]


def test_a_small_gap_is_filled_from_the_document_only_when_its_text_is_known():
    apart = [passage(1, 300, 700), passage(2, 702, 1000)]
    assert len(join_neighbours(apart, k=5)) == 2
    joined = join_neighbours(apart, k=5, gap_text=lambda doc, start, end: DOC[start:end])
    assert len(joined) == 1 and joined[0].text == DOC[300:1000]
    assert len(join_neighbours([passage(1, 300, 700), passage(2, 760, 1000)], k=5,
                               gap_text=lambda doc, start, end: DOC[start:end])) == 2  # too far apart


@pytest.mark.parametrize("other", [
    passage(2, 600, 1000, section="Other section"),
    passage(2, 600, 1000, doc="b.md"),
])
def test_no_join_across_sections_or_documents(other):
    assert len(join_neighbours([passage(1, 300, 700), other], k=5)) == 2


def test_only_the_first_three_join_and_at_most_three_chunks_make_one_passage():
    far = [passage(1, 0, 100), passage(2, 2000, 2100), passage(3, 3000, 3100), passage(4, 50, 150)]
    assert len(join_neighbours(far, k=5)) == 4  # the fourth is not joined into the first
    chain = [passage(1, 0, 400), passage(2, 350, 800), passage(3, 750, 1200)]
    assert len(join_neighbours(chain + [passage(4, 1150, 1500)], k=5, within=4)) == 2
    assert JOIN_MOST == 3
    assert len(join_neighbours(chain, k=5)[0].parts) == 3


def test_k_passages_are_kept_after_joining():
    many = [passage(1, 0, 400), passage(2, 350, 800)] + [passage(r, 1000 * r, 1000 * r + 100) for r in range(3, 9)]
    joined = join_neighbours(many, k=5)
    assert [p.rank for p in joined] == [1, 2, 3, 4, 5]


def test_copies_of_the_same_words_in_other_documents_are_shown_once():
    article = ("Article 9\n\n3. Anyone arrested or detained on a criminal charge shall be brought promptly before a judge "
               "or other officer authorized by law to exercise judicial power and shall be entitled to trial within a "
               "reasonable time or to release.")
    copies = [
        passage(1, 0, len(article), doc="iccpr.md", text=article),
        passage(2, 0, 40, doc="other.md", text="Something else entirely about assemblies."),
        passage(3, 10, 10 + len(article), doc="iccpr.pdf", text=article.replace("\n\n", "\n")),  # other spacing
        passage(4, 5, 60, doc="factsheet.pdf", text=article[11:], page=7),  # chunked a little differently
        passage(5, 0, len(article), doc="iccpr.md", text=article),  # the same document: kept
        passage(6, 0, 30, doc="short.md", text="Anyone arrested or detained"),  # too short to call a copy
    ]
    kept = drop_copies(copies)
    assert [p.doc for p in kept] == ["iccpr.md", "other.md", "iccpr.md", "short.md"]
    assert kept[0].also_in == (Copy("iccpr.pdf", 10, 10 + len(article)), Copy("factsheet.pdf", 5, 60, 7, 7))
    # a copy that differs by a spelling ("authorised", "sub-paragraph") is one too; another article is not
    spelled = article.replace("authorized", "authorised").replace("reasonable time", "reasonable-time")
    other = article.replace("Article 9\n\n3. Anyone arrested or detained on a criminal charge",
                            "Article 14\n\n1. Anyone charged with a minor offence under the ordinary law")
    kept = drop_copies([passage(1, 0, len(article), doc="a.md", text=article),
                        passage(2, 0, len(spelled), doc="b.pdf", text=spelled),
                        passage(3, 0, len(other), doc="c.md", text=other)])
    assert [p.doc for p in kept] == ["a.md", "c.md"] and [c.doc for c in kept[0].also_in] == ["b.pdf"]


def test_a_joined_passage_is_highlighted_and_quoted_inside_its_exact_text(settings, docs_dir, fake_embedder):
    cue = "The zanzibar quokka petition was heard by the district court in the spring of that year."
    answer = "The judges ruled that the wardens acted lawfully, and the appeal was rejected."
    filler = " ".join(f"Background paragraph {i} talks about unrelated administrative matters." for i in range(9))
    write(docs_dir, "case.md", f"# Case\n\n{filler}\n\n{cue} {filler}\n\n{answer} More words follow here.\n")
    run_update(settings, fake_embedder)
    with open_store(settings) as store:
        result = ask(store, fake_embedder, "zanzibar quokka petition court wardens judges ruled appeal")
        text = store.document("case.md").text
    for p in result.passages:
        assert text[p.start:p.end] == p.text
        for s, e in p.highlights:
            assert p.start <= s < e <= p.end
    assert result.sentences
    for quote in result.sentences:
        assert text[quote.start:quote.end] == quote.text
    top = result.passages[0]
    assert len(top.parts) >= 2 and "zanzibar" in top.text and "wardens acted lawfully" in top.text


def test_a_card_cites_the_copies_escaped():
    from qa.render import passage_card_html

    shown = passage(1, 0, 80, doc="iccpr.md")
    shown = Passage(**{**shown.__dict__, "also_in": (Copy("<img src=x onerror=alert(1)>.pdf", 5, 85, 8, 9),)})
    html = passage_card_html(shown, turn_id=1)
    assert "also in &lt;img src=x onerror=alert(1)&gt;.pdf p. 8–9" in html and "<img" not in html


def test_a_version_that_changes_a_number_is_no_copy_of_the_old_one():
    """A newcomer uploaded a revised note ("72 hours" for "48 hours"): it was shown as the old one's copy, and the
    old number was hidden behind "also in"."""
    note = ("Note for the file. Ms. Bekova said that she was held at the police station for {hours} hours without "
            "being told why, that she asked twice for a lawyer and that her family was not informed of where she was "
            "until the next evening, when an officer called her brother.")
    old, new = note.format(hours=48), note.format(hours=72)
    kept = drop_copies([passage(1, 0, len(new), doc="witness_note (2).txt", text=new),
                        passage(2, 0, len(old), doc="witness_note.txt", text=old)])
    assert [p.doc for p in kept] == ["witness_note (2).txt", "witness_note.txt"] and not kept[0].also_in
    # a sentence with a number that only the lower-ranked version has makes it another version too (one whose words
    # all stand inside the better passage stays its copy: nothing of it is hidden)
    longer = old + " She was fined 100 euros."
    assert len(drop_copies([passage(1, 0, len(old), doc="a.txt", text=old),
                            passage(2, 0, len(longer), doc="b.txt", text=longer)])) == 2
    # page furniture and a footnote mark in a PDF's copy do not make it another text
    furnished = old.replace("without being", "without 7/11 being").replace("brother.", "brother.3")
    kept = drop_copies([passage(1, 0, len(furnished), doc="note.pdf", text=furnished),
                        passage(2, 0, len(old), doc="note.md", text=old)])
    assert [p.doc for p in kept] == ["note.pdf"] and [c.doc for c in kept[0].also_in] == ["note.md"]


def test_the_title_line_of_a_plain_text_note_is_never_quoted_as_the_answer(settings, docs_dir, fake_embedder):
    """A newcomer's "Was Ms. Bekova allowed to see a lawyer?" quoted the note's first line, its title, as the answer."""
    title = "Note for the file: interview with Ms. Aigerim Bekova"
    write(docs_dir, "witness_note.txt", f"{title}\n\nMs. Bekova said that she was held at the police station for 48 "
                                        "hours. She asked twice for a lawyer and was refused both times.\n")
    run_update(settings, fake_embedder)
    with open_store(settings) as store:
        result = ask(store, fake_embedder, "note for the file interview with Ms Aigerim Bekova lawyer")
        text = store.document("witness_note.txt").text
    assert result.passages and result.passages[0].title == title and text.startswith(title)
    assert result.sentences and all(title not in s.text for s in result.sentences)
    assert all(not text[a:b].startswith("Note for the file") for p in result.passages for a, b in p.highlights)
