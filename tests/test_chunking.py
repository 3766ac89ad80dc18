"""Chunker and Markdown loader properties (hypothesis) and examples from the seed document."""

from __future__ import annotations

from hypothesis import given, settings as hsettings, strategies as st

from qa.chunking import ChunkSettings, chunk_document, paragraph_spans
from qa.loaders import load_document
from qa.loaders.text import load_markdown
from qa.sentences import sentence_spans
from qa.types import Document

from conftest import SEED_DOC, SEEDS

WORDS = ["state", "lawyer", "access", "materials", "court", "Ms.", "art.", "No.", "i.e.", "investigation",
         "the", "of", "rights", "Kazakhstan", "defenders", "(Code", "64", "(9)", "(7))", "untrue", "12,000"]

word = st.sampled_from(WORDS)
sentence = st.builds(
    lambda first, rest, end: " ".join([first.capitalize()] + rest) + end,
    word, st.lists(word, min_size=2, max_size=40), st.sampled_from([".", ".", "?", "!"]),
)
paragraph = st.lists(sentence, min_size=1, max_size=12).map(" ".join)
block = st.one_of(
    paragraph,
    paragraph.map(lambda p: "12. " + p),
    st.builds(lambda t: f"## {t}", st.sampled_from(["On the first point", "Additional information", "Article 14"])),
    st.builds(lambda t: f"**{t}**", st.sampled_from(["On the fourth point of the request", "Access to materials"])),
)
markdown_docs = st.lists(block, min_size=1, max_size=25).map("\n\n".join)
chunk_settings = st.builds(ChunkSettings, st.integers(200, 1500), st.just(100), st.integers(0, 200))


def as_document(markdown: str) -> Document:
    extracted = load_markdown(markdown.encode(), "doc.md")
    return Document("doc.md", extracted.text, "Doc", "h", extracted.headings)


@hsettings(max_examples=150, deadline=None)
@given(markdown_docs, chunk_settings)
def test_chunks_are_exact_ordered_bounded_and_cover_the_text(markdown, cfg):
    doc = as_document(markdown)
    chunks = chunk_document(doc, cfg)
    text = doc.text
    assert chunks, "a document with text has at least one chunk"
    covered = bytearray(len(text))
    for i, chunk in enumerate(chunks):
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.ordinal == i
        assert len(chunk.text) <= cfg.max_chars
        for j in range(chunk.start, chunk.end):
            covered[j] = 1
        if i:
            assert chunk.start > chunks[i - 1].start
            assert chunk.end > chunks[i - 1].end
    uncovered = [c for c, flag in zip(text, covered) if not flag and not c.isspace()]
    assert uncovered == []


@hsettings(max_examples=150, deadline=None)
@given(markdown_docs, chunk_settings)
def test_no_sentence_is_cut_unless_longer_than_a_chunk(markdown, cfg):
    doc = as_document(markdown)
    spans = sentence_spans(doc.text)
    starts = {s for s, _ in spans}
    ends = {e for _, e in spans}
    long_sentences = [(s, e) for s, e in spans if e - s > cfg.max_chars]
    for chunk in chunk_document(doc, cfg):
        inside_long = any(s <= chunk.start < e or s < chunk.end <= e for s, e in long_sentences)
        if not inside_long:
            assert chunk.start in starts, repr(doc.text[chunk.start : chunk.start + 40])
            assert chunk.end in ends, repr(doc.text[chunk.end - 40 : chunk.end])


@hsettings(max_examples=100, deadline=None)
@given(markdown_docs, chunk_settings)
def test_every_heading_starts_a_chunk_or_joins_the_headings_that_open_one(markdown, cfg):
    doc = as_document(markdown)
    chunks = chunk_document(doc, cfg)
    paragraphs = paragraph_spans(doc.text)
    heading_starts = {h.start for h in doc.headings}
    for heading in doc.headings:
        (chunk,) = [c for c in chunks if c.start <= heading.start < c.end]
        before = [s for s, _ in paragraphs if chunk.start <= s < heading.start]
        assert all(s in heading_starts for s in before), "a heading in the middle of a chunk's text"
    for chunk in chunks:
        opening = []  # the headings that open the chunk, in order
        for s, _ in paragraphs:
            if s < chunk.start or s >= chunk.end:
                continue
            if s not in heading_starts:
                break
            opening.append(next(h for h in doc.headings if h.start == s))
        current = opening or [h for h in doc.headings if h.start <= chunk.start]
        if current:
            assert chunk.section.endswith(current[-1].title)
        else:
            assert chunk.section == ""


@hsettings(max_examples=100, deadline=None)
@given(markdown_docs, chunk_settings)
def test_a_chunk_of_headings_alone_is_the_last_or_the_next_sentence_did_not_fit(markdown, cfg):
    doc = as_document(markdown)
    chunks = chunk_document(doc, cfg)
    heading_starts = {h.start for h in doc.headings}
    paragraphs = paragraph_spans(doc.text)
    sentence_ends = {s: e for s, e in sentence_spans(doc.text)}
    for chunk, following in zip(chunks, chunks[1:]):
        inside = [s for s, _ in paragraphs if chunk.start <= s < chunk.end]
        if inside and all(s in heading_starts for s in inside):
            first_end = sentence_ends.get(following.start, following.end)
            assert first_end - chunk.start > cfg.max_chars or following.start in heading_starts, repr(chunk.text)


def test_a_heading_followed_by_a_heading_opens_the_next_chunk():
    doc = as_document("# Covenant\n\n## PART II\n\n### Article 2\n\nEach State Party undertakes to respect the rights.\n")
    chunks = chunk_document(doc)
    assert [c.text for c in chunks] == ["Covenant\n\nPART II\n\nArticle 2\n\nEach State Party undertakes to respect the rights."]
    assert chunks[0].section == "Covenant > PART II > Article 2"


def test_markdown_markup_is_stripped_and_headings_found():
    doc = load_document(SEEDS, SEED_DOC)
    assert doc.title == "Reply of the Government of Kazakhstan to communication AL KAZ 1/2024"
    assert "**" not in doc.text and "\\_" not in doc.text and "####" not in doc.text
    assert "nemolchikz_official" in doc.text
    titles = [h.title for h in doc.headings]
    assert titles == [
        "On the first point of the request",
        "Additional information",
        "On the second point of the request",
        "On the third point of the request",
        "On the fourth point of the request",
        "On the fifth point of the request",
    ]
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.title


def test_seed_chunks_carry_nested_sections_and_fit_the_genre():
    doc = load_document(SEEDS, SEED_DOC)
    chunks = chunk_document(doc)
    sections = {c.section for c in chunks}
    assert "On the first point of the request > Additional information" in sections
    target = [c for c in chunks if "denied access to the materials are untrue" in c.text]
    assert target and all(c.section == "On the first point of the request" for c in target)
    assert all(c.page is None for c in chunks)
    lengths = sorted(len(c.text) for c in chunks)
    assert lengths[len(lengths) // 2] <= 1200


def test_sentence_splitter_knows_legal_abbreviations():
    text = (
        "Ms. Smailova's representative received copies (Code of Criminal Procedure, art. 64 (9) (7)). "
        "On 16 May 2022, citizen N.A. applied to the Almaty Police Department. "
        "Signed by H.E. Mr. Roman VASSILENKO, i.e. the Acting Minister. Decree No. 409 was adopted."
    )
    got = [text[s:e] for s, e in sentence_spans(text)]
    assert got == [
        "Ms. Smailova's representative received copies (Code of Criminal Procedure, art. 64 (9) (7)).",
        "On 16 May 2022, citizen N.A. applied to the Almaty Police Department.",
        "Signed by H.E. Mr. Roman VASSILENKO, i.e. the Acting Minister.",
        "Decree No. 409 was adopted.",
    ]


def test_numbered_paragraph_marker_is_not_a_sentence_and_is_recorded():
    md = "## Findings\n\n12. The Committee notes the reply. It regrets the delay.\n\n13. The Committee recommends access."
    doc = as_document(md)
    assert [doc.text[s:e] for s, e in sentence_spans(doc.text)][1] == "12. The Committee notes the reply."
    chunks = chunk_document(doc, ChunkSettings(60, 10, 0))
    assert [c.para for c in chunks if "recommends" in c.text] == ["12–13"]
    assert [c.para for c in chunks if "notes the reply" in c.text] == ["12"]


def test_a_passage_that_opens_with_a_heading_cites_its_first_numbered_paragraph_too():
    """The UDHR's article 14 passage holds paragraphs 1 and 2 after its heading: it was cited "para. 2"."""
    md = "## Article 14\n\n1. Everyone has the right to seek asylum.\n\n2. This right may not be invoked in some cases."
    chunks = chunk_document(as_document(md), ChunkSettings(800, 100, 0))
    assert len(chunks) == 1 and chunks[0].para == "1–2"


def test_a_passage_cut_after_an_overlap_sentence_cites_that_sentences_paragraph():
    """The ICCPR's article 22: a passage opening with para. 2's last sentence, then para. 3, was cited "para. 3"."""
    md = ("## Article 22\n\n1. Everyone shall have the right to freedom of association with others.\n\n"
          "2. No restrictions may be placed on the exercise of this right. This article shall not prevent lawful "
          "restrictions on members of the armed forces.\n\n3. Nothing in this article authorizes legislative measures.")
    chunks = chunk_document(as_document(md), ChunkSettings(200, 20, 120))
    opening = [c for c in chunks if c.text.startswith("This article shall not prevent")]
    assert len(opening) == 1 and opening[0].para == "2–3"


def test_a_number_alone_on_its_line_before_lettered_subparagraphs_is_a_numbered_paragraph():
    """The ICCPR's article 8 writes "3." on a line of its own, then "(a) …": its passages were cited "para. 2"."""
    md = ("## Article 8\n\n1. No one shall be held in slavery.\n2. No one shall be held in servitude.\n3.\n"
          "(a) No one shall be required to perform forced or compulsory labour;\n\n(b) Paragraph 3 (a) shall not "
          "be held to preclude hard labour.")
    doc = as_document(md)
    assert [doc.text[s:e] for s, e in paragraph_spans(doc.text)][2:4] == ["2. No one shall be held in servitude.", "3."]
    chunks = chunk_document(doc, ChunkSettings(800, 100, 0))
    assert len(chunks) == 1 and chunks[0].para == "1–3"
    small = chunk_document(doc, ChunkSettings(120, 20, 0))
    assert [c.para for c in small if c.text.startswith("(b)")] == ["3"]


def test_markdown_title_from_split_heading_and_heading_without_space():
    md = "### Convention \n\n####against torture and other cruel treatment\n\n### Article  1  \n\nText.\n\n#NeMolchi.KZ is a hashtag."
    extracted = load_markdown(md.encode(), "cat.md")
    assert extracted.title == "Convention against torture and other cruel treatment"
    assert [h.title for h in extracted.headings][-1] == "Article 1"
    assert "#NeMolchi.KZ is a hashtag." in extracted.text


def test_chinese_characters_count_three_times_when_sizing_chunks():
    article = "人人有权享有生命、自由和人身安全。任何人不得加以酷刑，或施以残忍的、不人道的或侮辱性的待遇或刑罚。"
    doc = as_document("# 世界人权宣言\n\n" + "\n\n".join(f"第{i}条 " + article for i in range(1, 13)) + "\n")
    chunks = chunk_document(doc, ChunkSettings(800, 200, 0))
    weighted = [sum(3 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in c.text) for c in chunks]
    assert max(weighted) <= 800 and len(chunks) == 3  # counted as characters, one chunk of 560 would hold all
    assert "".join(c.text for c in chunks).count("第") == 12


def test_headings_before_a_sentence_longer_than_a_chunk_take_its_first_words():
    """A treaty's title above a preamble of one long sentence (UDHR, ICCPR): not a passage of its own."""
    preamble = "The States Parties, " + ", ".join(f"considering point number {i} of the charter" for i in range(60)) + "."
    doc = as_document(f"# International Covenant\n\n{preamble}\n\n## Article 1\n\nAll peoples have rights.\n")
    cfg = ChunkSettings(800, 200, 200)
    chunks = chunk_document(doc, cfg)
    assert chunks[0].text.startswith("International Covenant\n\nThe States Parties, considering")
    assert all(len(c.text) <= cfg.max_chars for c in chunks)
    pieces = [c for c in chunks if c.section == "International Covenant"]
    assert "".join(doc.text[c.start:c.end] for c in pieces).replace(" ", "").replace("\n", "") \
        == doc.text[: pieces[-1].end].replace(" ", "").replace("\n", "")
    assert min(len(c.text) for c in pieces) > cfg.max_chars / 3  # cut into about equal pieces, no stray tail


def test_a_chinese_sentence_longer_than_a_chunk_is_cut_by_its_weighted_size_at_its_commas():
    """CJK characters count triple in a passage's size, so a 400-character Chinese sentence is over a chunk:
    it is cut after its commas (not left whole, over the limit), and the heading above it takes its start."""
    from qa.chunking import text_size
    from qa.loaders.text import load_text

    clause = "鉴于对人类家庭所有成员的固有尊严及其平等的和不移的权利的承认"
    preamble = "，".join([clause] * 13) + "。"
    extracted = load_text(f"序言\n\n{preamble}\n\n第一条\n\n人人生而自由。\n".encode(), "udhr.txt")
    doc = Document("udhr.txt", extracted.text, "UDHR", "h", extracted.headings)
    cfg = ChunkSettings(800, 200, 200)
    chunks = chunk_document(doc, cfg)
    assert all(text_size(c.text) <= cfg.max_chars for c in chunks)
    assert chunks[0].text.startswith("序言\n\n鉴于")
    preamble_chunks = [c for c in chunks if c.text != "序言" and "第一条" not in c.text]
    assert all(c.text.endswith(("，", "。")) for c in preamble_chunks)
    assert all(c.text == doc.text[c.start:c.end] for c in chunks)


def test_a_passage_across_a_restart_of_the_printed_numbering_carries_both_labels():
    """Front matter iii–iv, then the body from 1: a passage over pages iv and 1 is not cited as "iv–v"."""
    from qa.chunking import ChunkSettings, chunk_document
    from qa.citations import page_label
    from qa.types import Document, PageSpan

    pages = ["Summary of the report on the work of the committee.", "Contents and a short introduction.",
             "The first chapter begins here and runs on."]
    text = "\n\n".join(pages)
    starts = [text.index(p) for p in pages]
    spans = tuple(PageSpan(s, s + len(p), n, label) for (s, p, n, label) in zip(starts, pages, (5, 6, 7), ("iii", "iv", "1")))
    document = Document("r.pdf", text, "R", "h", pages=spans, kind="pdf")

    def cited(max_chars):
        chunks = chunk_document(document, ChunkSettings(max_chars=max_chars, min_chars=10, overlap_chars=0))
        return [page_label(c.page, c.page_end, c.page_label) for c in chunks]

    assert cited(80) == ["p. iii (PDF p. 5)", "pp. iv–1 (PDF pp. 6–7)"]
    assert cited(100) == ["pp. iii–iv (PDF pp. 5–6)", "p. 1 (PDF p. 7)"]
    assert cited(200) == ["pp. iii–1 (PDF pp. 5–7)"]


def test_a_numbered_item_on_its_own_line_starts_a_sentence():
    """Article 17 (1) of the Convention against Torture has no full stop; its quote ran into "2. The members of"."""
    from qa.sentences import sentence_spans

    text = ("1. The experts shall be elected by the States Parties, consideration being given to persons having legal "
            "experience\n2. The members of the Committee shall be elected by secret ballot.\n(b) Any person may complain.")
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "1. The experts shall be elected by the States Parties, consideration being given to persons having legal "
        "experience", "2. The members of the Committee shall be elected by secret ballot.", "(b) Any person may complain."]
    wrapped = "The membership was raised in 2010 to\n18. The Committee meets twice a year."  # a wrapped line, no list
    assert [wrapped[s:e] for s, e in sentence_spans(wrapped)] == [wrapped]
    lettered = "States shall:\n(a) Report\n(b) Cooperate\n(ii) Alone"
    assert [lettered[s:e] for s, e in sentence_spans(lettered)] == ["States shall:", "(a) Report", "(b) Cooperate\n(ii) Alone"]
    inline = "Under paragraph 2. The Committee decides. See article 3 (b) of the Convention."
    assert [inline[s:e] for s, e in sentence_spans(inline)] == [
        "Under paragraph 2.", "The Committee decides.", "See article 3 (b) of the Convention."]


def test_two_passages_joined_across_a_restart_of_the_numbering_keep_both_labels():
    from qa.citations import page_label
    from qa.retrieval import _joined
    from qa.types import Passage

    front = Passage(1, 0.5, 1, "r.pdf", "R", "", 0, 10, "x" * 10, page=6, page_end=6, page_label="iv")
    body = Passage(2, 0.4, 2, "r.pdf", "R", "", 10, 20, "y" * 10, page=7, page_end=8, page_label="1")
    joined = _joined(front, body)
    assert page_label(joined.page, joined.page_end, joined.page_label) == "pp. iv–2 (PDF pp. 6–8)"  # was "iv–vi"
    later = Passage(2, 0.4, 2, "r.pdf", "R", "", 10, 20, "y" * 10, page=16, page_end=17, page_label="10")
    same = _joined(Passage(1, 0.5, 1, "r.pdf", "R", "", 0, 10, "x" * 10, page=16, page_end=16, page_label="10"), later)
    assert page_label(same.page, same.page_end, same.page_label) == "pp. 10–11 (PDF pp. 16–17)"
    assert page_label(3, 4, "²") == "pp. ² ff. (PDF pp. 3–4)"  # a label that reads as a digit but is no number


def test_a_citation_does_not_repeat_the_title_as_its_section():
    """A scanned reply whose first heading gave the document its title was cited "Reply …, ‘Reply …’, p. 1"."""
    from qa.citations import citation
    from qa.types import Passage

    title = "Reply of the Republic of Norland to communication AL NOR 2/2024"
    first = Passage(1, 1.0, 1, "reply.pdf", title, title, 0, 10, "x" * 10, page=1)
    later = Passage(2, 1.0, 2, "reply.pdf", title, f"{title} > On the second point", 10, 20, "x" * 10, page=2)
    assert citation(first) == f"{title}, p. 1"
    assert "‘On the second point’" in citation(later) and citation(later).endswith("p. 2")


def test_the_command_line_marks_a_passage_read_by_ocr():
    """Only `ask --json` said a passage came from a scanned page; the text output showed a bad OCR quote unmarked."""
    from qa.cli import format_answer
    from qa.types import Answer, Passage

    text = "Mr. Lundqvist was released without charge on 16 March 2024."
    scanned = Passage(1, 1.0, 1, "scan.pdf", "Reply", "", 0, len(text), text, page=1, ocr=True, ocr_confidence=0.97)
    typed = Passage(2, 0.5, 2, "reply.md", "Reply", "", 0, len(text), text)
    lines = format_answer(Answer("When was he released?", (scanned, typed))).splitlines()
    assert any(line.startswith("[1] ") and "Scanned page, read by OCR (confidence 97%)" in line for line in lines)
    assert any(line.startswith("[2] ") and "OCR" not in line for line in lines)
