"""Chunker and Markdown loader properties (hypothesis) and examples from the seed document."""

from __future__ import annotations

from hypothesis import given, settings as hsettings, strategies as st

from qa.chunking import ChunkSettings, chunk_document
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
def test_every_heading_starts_a_chunk_and_names_its_section(markdown, cfg):
    doc = as_document(markdown)
    chunks = chunk_document(doc, cfg)
    chunk_starts = {c.start: c for c in chunks}
    for heading in doc.headings:
        assert heading.start in chunk_starts
        assert chunk_starts[heading.start].section.endswith(heading.title)
    for chunk in chunks:
        current = [h for h in doc.headings if h.start <= chunk.start]
        if current:
            assert chunk.section.endswith(current[-1].title)
        else:
            assert chunk.section == ""


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


def test_markdown_title_from_split_heading_and_heading_without_space():
    md = "### Convention \n\n####against torture and other cruel treatment\n\n### Article  1  \n\nText.\n\n#NeMolchi.KZ is a hashtag."
    extracted = load_markdown(md.encode(), "cat.md")
    assert extracted.title == "Convention against torture and other cruel treatment"
    assert [h.title for h in extracted.headings][-1] == "Article 1"
    assert "#NeMolchi.KZ is a hashtag." in extracted.text
