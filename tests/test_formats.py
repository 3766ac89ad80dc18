"""PDF, Word and HTML loaders: the six real UN PDFs (probe sentences on the right page) and generated files."""

from __future__ import annotations

import io
import os
import re
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.errors import DocumentError
from qa.loaders import formats, load_document
from qa.loaders.formats import Paragraph, assemble, clean_title, extract_in_process
from qa.settings import Settings

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "un_human_rights_docs"
PDF_NAMES = {
    "A_80_44.en.pdf",
    "A_80_67.en.pdf",
    "Association-rights-factsheet-final-v2.pdf",
    "ccpr_ohchr.pdf",
    "FactSheet15Rev1_Civil_and_Political_Rights_Human_Rights_Committee.pdf",
    "udhr_un_eng.pdf",
}
PROBE = re.compile(r'"([^"]+)"\s*→\s*pages?\s+(\d+(?:\s*,\s*\d+)*)')


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def corpus_pdfs() -> dict[str, Path]:
    """The six PDFs of the shared corpus; fails (does not skip) when the corpus is missing."""
    assert CORPUS.is_dir(), f"the shared corpus is missing: {CORPUS}"
    found = {path.name: path for path in CORPUS.glob("*/*.pdf")}
    assert set(found) == PDF_NAMES
    return found


def probes_of(pdf: Path) -> list[tuple[str, list[int]]]:
    """Probe sentences listed in the SOURCE.md beside a PDF, with the pages they are on."""
    source = (pdf.parent / "SOURCE.md").read_text(encoding="utf-8")
    sections = re.split(r"\n(?=## )", source)  # a folder with a Markdown twin has one "## file" section each
    section = next((s for s in sections if s.startswith(f"## {pdf.name}")), source)
    return [(squash(text), [int(n) for n in pages.split(",")]) for text, pages in PROBE.findall(section)]


@pytest.fixture(scope="module")
def extracted():
    return {name: extract_in_process("pdf", name, path.read_bytes()) for name, path in corpus_pdfs().items()}


def page_text(ex, number: int) -> str:
    return " ".join(ex.text[s.start:s.end] for s in ex.pages if s.number == number)


def paragraphs(ex) -> list[str]:
    return ex.text.split("\n\n")


# ----------------------------------------------------------------------------------------- real PDFs


def test_every_source_lists_probes():
    counts = {name: len(probes_of(path)) for name, path in corpus_pdfs().items()}
    assert counts == {
        "A_80_44.en.pdf": 2,
        "A_80_67.en.pdf": 2,
        "Association-rights-factsheet-final-v2.pdf": 2,
        "ccpr_ohchr.pdf": 3,
        "FactSheet15Rev1_Civil_and_Political_Rights_Human_Rights_Committee.pdf": 2,
        "udhr_un_eng.pdf": 3,
    }


@pytest.mark.parametrize("name", sorted(PDF_NAMES))
def test_probe_sentences_are_on_their_pages(extracted, name):
    ex = extracted[name]
    for probe, pages in probes_of(corpus_pdfs()[name]):
        assert probe in squash(ex.text), f"{name}: probe not found: {probe!r}"
        for number in pages:
            assert probe in squash(page_text(ex, number)), f"{name}: {probe!r} is not on page {number}"


@pytest.mark.parametrize("name", sorted(PDF_NAMES))
def test_page_spans_tile_the_text(extracted, name):
    ex = extracted[name]
    assert ex.kind == "pdf" and ex.pages
    assert ex.pages[0].start == 0 and ex.pages[-1].end == len(ex.text)
    for before, after in zip(ex.pages, ex.pages[1:]):
        assert before.end == after.start and before.start < before.end
    assert all(1 <= s.number <= 80 for s in ex.pages)


@pytest.mark.parametrize("name", sorted(PDF_NAMES))
def test_text_is_paragraphs_not_a_layout_dump(extracted, name):
    ex = extracted[name]
    assert "\n\n\n" not in ex.text and "  " not in ex.text
    assert all(p and p == p.strip() and "\n" not in p for p in paragraphs(ex))
    for heading in ex.headings:
        assert ex.text[heading.start:heading.end] == heading.title
        assert heading.start == 0 or ex.text[heading.start - 2:heading.start] == "\n\n"


def test_iccpr_article_14_is_whole_and_on_page_8(extracted):
    ex = extracted["ccpr_ohchr.pdf"]
    sentence = "adequate time and facilities for the preparation of his defence"
    start = ex.text.index(sentence)
    span = next(s for s in ex.pages if s.start <= start < s.end)
    assert span.number == 8
    assert "prepa- ration" not in ex.text and "prepa-ration" not in ex.text
    assert any(ex.text[h.start:h.end] == "Article 14" for h in ex.headings)


def test_iccpr_article_12_heading_typeset_at_a_line_end_opens_its_article(extracted):
    ex = extracted["ccpr_ohchr.pdf"]
    assert "to fulfil a contractual obligation.\n\nArticle 12\n\n1. Everyone lawfully" in ex.text
    assert [h.title for h in ex.headings if h.title in ("Article 11", "Article 12", "Article 13")] == [
        "Article 11", "Article 12", "Article 13"]


def test_heading_word_at_a_line_end_moves_to_its_number_only_after_a_sentence():
    lines = [
        (72, 700, 11, "**Article 11"),
        (72, 670, 11, "No one shall be imprisoned merely on the ground of inability to fulfil a contractual obligation. Article"),
        (72, 656, 11, "12"),
        (72, 626, 11, "1. Everyone lawfully within the territory of a State shall have the right to liberty of movement."),
        (72, 596, 11, "2. The Committee shall act in conformity with the procedure laid down in Article"),
        (72, 582, 11, "12"),
    ]
    ex = extract_in_process("pdf", "glued.pdf", make_pdf([lines]))
    paras = paragraphs(ex)
    assert paras[1].endswith("a contractual obligation.") and paras[2] == "Article 12"
    assert "Article 12" in [h.title for h in ex.headings]
    assert "laid down in Article" in paras[-2] or paras[-1].endswith("laid down in Article 12")  # a reference: stays
    assert [h.title for h in ex.headings].count("Article 12") == 1


def test_un_running_headers_and_footers_are_dropped(extracted):
    italy = extracted["A_80_67.en.pdf"]
    assert italy.symbol == "A/80/67"
    assert "25-03172" not in italy.text and "2503172" not in italy.text
    assert not re.search(r"\b\d{1,2}/11\b", italy.text)
    assert "A/80/67" not in paragraphs(italy)
    cat = extracted["A_80_44.en.pdf"]
    assert cat.symbol == "A/80/44"
    assert "GE.25-09438" not in cat.text and "A/80/44" not in paragraphs(cat)


def test_sentence_crossing_a_page_break_stays_whole(extracted):
    ex = extracted["A_80_67.en.pdf"]
    sentence = "the United Nations conference that led to the adoption of the Rome Statute"
    start = ex.text.index(sentence)
    cut = start + sentence.index("to the adoption")
    assert [s.number for s in ex.pages if s.start <= start < s.end] == [2]
    assert [s.number for s in ex.pages if s.start <= cut < s.end] == [3]


def test_numbered_paragraphs_and_footnotes_stand_alone(extracted):
    ex = extracted["A_80_67.en.pdf"]
    paras = paragraphs(ex)
    numbered = [p for p in paras if re.match(r"^\d{1,2}\. ", p)]
    assert [int(p.split(".")[0]) for p in numbered][:11] == list(range(1, 12))
    assert "* A/80/50." in paras
    cat = extracted["A_80_44.en.pdf"]
    assert "7 See https://www.ohchr.org/EN/HRBodies/CAT/Pages/ReprisalLetters.aspx." in paragraphs(cat)


def test_printed_page_numbers_are_not_text(extracted):
    ex = extracted["FactSheet15Rev1_Civil_and_Political_Rights_Human_Rights_Committee.pdf"]
    for number in range(4, 70):  # physical page 4 prints "1"
        printed = str(number - 3)
        assert printed not in page_text(ex, number).split("\n\n"), f"page {number} keeps its footer {printed}"


def test_printed_page_numbers_label_the_pages_of_a_pdf_without_page_labels(extracted):
    """A/80/44 and Fact Sheet 15 have no /PageLabels: citations gave the page in the file ("p. 16" for the report's
    printed page 10); the page counters in their margins give the printed numbers."""
    from qa.citations import page_label

    labels = {s.number: s.label for s in extracted["A_80_44.en.pdf"].pages}
    assert (labels[5], labels[6], labels[7], labels[16], labels[21]) == ("iii", "iv", "1", "10", "15")
    sheet = {s.number: s.label for s in extracted["FactSheet15Rev1_Civil_and_Political_Rights_Human_Rights_Committee.pdf"].pages}
    assert (sheet[4], sheet[30]) == ("1", "27")
    assert page_label(16, 16, "10") == "p. 10 (PDF p. 16)" and page_label(16, 17, "10") == "pp. 10–11 (PDF pp. 16–17)"
    assert page_label(5, 6, "iii") == "pp. iii–iv (PDF pp. 5–6)" and page_label(3, 3, None) == "p. 3"
    assert page_label(8, 10, "VIII") == "pp. VIII–X (PDF pp. 8–10)" and page_label(2, 3, "A-1") == "pp. A-1 ff. (PDF pp. 2–3)"
    assert page_label(5, 6, "5") == "pp. 5–6" and page_label(4, 5, None) == "pp. 4–5"
    assert page_label(6, 7, "iv–1") == "pp. iv–1 (PDF pp. 6–7)"


def test_page_counters_label_pages_only_when_two_agree():
    from qa.loaders.pdf import printed_labels

    assert printed_labels({3: "1", 4: "2", 5: "3"}) == {3: "1", 4: "2", 5: "3"}
    assert printed_labels({1: "i", 3: "1", 5: "3", 4: "7"}) == {1: "i", 3: "1", 4: "2", 5: "3"}
    assert printed_labels({3: "1"}) == {} and printed_labels({1: "1", 2: "2"}) == {}


def test_landscape_columns_read_in_order(extracted):
    ex = extracted["Association-rights-factsheet-final-v2.pdf"]
    text = squash(ex.text)
    assert ex.title == "The Right to Freedom of Association"
    assert squash(
        "It doesn’t matter who you are. Article 22 of the International Covenant on Civil and Political Rights (ICCPR) "
        "recognizes that the right to freedom of association should be enjoyed by everyone"
    ) in text
    question = text.index("does my association need to be registered?")
    assert text.index("no the right to freedom of association equally protects", question) > question
    assert "Does my association need to be registered?" in [h.title for h in ex.headings]


def test_titles_skip_junk_metadata_and_the_un_banner(extracted):
    fact_sheet = extracted["FactSheet15Rev1_Civil_and_Political_Rights_Human_Rights_Committee.pdf"]
    # its /Title is "0443671_factsheet_def.qxp": the largest first-page heading of three words or more wins
    assert fact_sheet.title == "Civil and Political Rights: The Human Rights Committee"
    # its /PageLabels are printer plates ("Black:59"), not used: the labels are its page counters
    assert all(s.label is None or s.label.isdigit() or s.label in ("iii", "iv") for s in fact_sheet.pages)
    assert "Black" not in " ".join(s.label or "" for s in fact_sheet.pages)
    assert extracted["A_80_44.en.pdf"].title == "Report of the Committee against Torture"
    assert extracted["A_80_67.en.pdf"].title.startswith("Note verbale dated 24 February 2025 from the Permanent Mission")
    assert extracted["udhr_un_eng.pdf"].title == "Universal Declaration of Human Rights"
    assert "United Nations" not in [h.title for h in extracted["A_80_67.en.pdf"].headings]


# ----------------------------------------------------------------------------------- generated PDFs


def make_pdf(pages: list[list[tuple[float, float, float, str]]], info: dict | None = None, labels: bool = False) -> bytes:
    """A minimal PDF: each page is a list of ``(x, y, size, text)`` lines in Helvetica; ``**text`` is bold."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    bold = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    image = add(b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length 1 >>\nstream\n\x80\nendstream")
    pages_id = len(objects) + 1 + 2 * len(pages)
    kids = []
    for lines in pages:
        ops = []
        for x, y, size, text in lines:
            if text == "<image>":
                ops.append(f"q 200 0 0 200 {x} {y} cm /Im1 Do Q")
                continue
            name = "F2" if text.startswith("**") else "F1"
            escaped = text.lstrip("*").replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"BT /{name} {size} Tf {x} {y} Td ({escaped}) Tj ET")
        stream = "\n".join(ops).encode("cp1252")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> /XObject << /Im1 %d 0 R >> >> >>"
            % (pages_id, content, font, bold, image)
        ))
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))) == pages_id
    page_labels = b" /PageLabels << /Nums [0 << /S /r >> 2 << /S /D >>] >>" if labels else b""
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R%s >>" % (pages_id, page_labels))
    info_id = None
    if info:
        entries = b" ".join(b"/%s (%s)" % (k.encode(), v.encode("latin-1")) for k, v in info.items())
        info_id = add(b"<< " + entries + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info_id:
        trailer += b" /Info %d 0 R" % info_id
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def report_pages() -> list[list[tuple[float, float, float, str]]]:
    """Three pages with a running header, a page counter, a heading, numbered paragraphs and a hyphenated word."""
    body = [
        [
            (72, 700, 16, "**Annual report on testing"),
            (72, 660, 11, "1. The first paragraph starts here and runs on to a second"),
            (72, 646, 11, "line that ends the first paragraph after the prepa-"),
            (72, 632, 11, "ration of the work."),
            (72, 604, 11, "2. The second paragraph is numbered and is not joined to the"),
            (72, 590, 11, "first one even though it follows it directly on the same page."),
            (72, 80, 11, "The last sentence of this page carries on across the page"),
        ],
        [
            (72, 700, 11, "break and finishes on the second page of the report."),
            (72, 660, 11, "**II. Findings"),
            (72, 630, 11, "3. Observers reported that the non-"),
            (72, 616, 11, "governmental organizations were present at every meeting."),
        ],
        [
            (72, 700, 11, "4. The third page closes the report with one short paragraph."),
            (72, 672, 11, "5. The annex is online at https://example.org/reports/2024/annual?lang="),
            (72, 658, 11, "en&part=2 for everyone."),
        ],
    ]
    pages = []
    for number, lines in enumerate(body, start=1):
        pages.append([(72, 760, 9, "XY/2024/7"), (300, 760, 9, "24-12345")] + lines + [(290, 40, 9, f"{number}/3")])
    return pages


def test_generated_pdf_paragraphs_headings_pages_and_headers():
    ex = extract_in_process("pdf", "report.pdf", make_pdf(report_pages(), info={"Title": "Testing Report"}))
    assert ex.title == "Testing Report"
    assert ex.symbol == "XY/2024/7"
    assert "24-12345" not in ex.text and "XY/2024/7" not in ex.text and "/3" not in ex.text
    paras = paragraphs(ex)
    assert paras[0] == "Annual report on testing"
    assert paras[1].startswith("1. The first paragraph") and paras[1].endswith("after the preparation of the work.")
    assert paras[2].startswith("2. The second paragraph")
    crossing = "The last sentence of this page carries on across the page break and finishes on the second page of the report."
    assert crossing in paras
    assert "3. Observers reported that the non-governmental organizations were present at every meeting." in paras
    assert paras[-1] == "5. The annex is online at https://example.org/reports/2024/annual?lang=en&part=2 for everyone."
    assert [(h.title, h.level) for h in ex.headings][:1] == [("Annual report on testing", 1)]
    assert "II. Findings" in [h.title for h in ex.headings]
    start = ex.text.index(crossing)
    assert [s.number for s in ex.pages if s.start <= start < s.end] == [1]
    assert [s.number for s in ex.pages if s.start <= ex.text.index("finishes") < s.end] == [2]
    assert [s.number for s in ex.pages] == [1, 2, 3]


def test_page_labels_only_when_they_differ():
    pages = [[(72, 700, 11, f"Text of page {n} of the document.")] for n in range(1, 5)]
    ex = extract_in_process("pdf", "labels.pdf", make_pdf(pages, labels=True))
    assert [(s.number, s.label) for s in ex.pages] == [(1, "i"), (2, "ii"), (3, "1"), (4, "2")]


def test_two_columns_are_read_one_after_the_other():
    left = [(50, 700 - 14 * i, 10, f"Left column sentence part {i} goes on") for i in range(8)]
    right = [(320, 700 - 14 * i, 10, f"Right column sentence part {i} goes on") for i in range(8)]
    ex = extract_in_process("pdf", "columns.pdf", make_pdf([left + right]))
    text = ex.text
    assert text.index("Left column sentence part 7") < text.index("Right column sentence part 0")
    assert "part 0 goes on Left column" in text  # lines of a column join into one paragraph


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: make_pdf([[(72, 500, 10, "<image>")]]), "the PDF is scanned and OCR could not read it: page 1: no text was found"),
        (lambda: make_pdf([[]]), "contains no text"),
        (lambda: make_pdf([]), "has no pages"),
        (lambda: make_pdf(report_pages())[: len(make_pdf(report_pages())) // 2], "truncated"),
        (lambda: b"%PDF-1.4\n" + os.urandom(3000) + b"\n%%EOF\n", "damaged"),
    ],
    ids=["image-only", "blank-page", "no-pages", "truncated", "garbage"],
)
def test_bad_pdfs_give_one_clear_reason(make, reason):
    with pytest.raises(DocumentError) as caught:
        formats.extract("pdf", "bad.pdf", make(), Settings())
    assert reason in caught.value.reason
    assert "Traceback" not in str(caught.value)


def test_real_pdf_cut_in_half_is_refused():
    data = corpus_pdfs()["A_80_67.en.pdf"].read_bytes()
    with pytest.raises(DocumentError, match="truncated"):
        formats.extract("pdf", "half.pdf", data[: len(data) // 2], Settings())


def _encrypt(data: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_pdf_needs_a_password():
    data = _encrypt(make_pdf(report_pages()), "secret")
    with pytest.raises(DocumentError, match="the PDF is encrypted"):
        formats.extract("pdf", "locked.pdf", data, Settings())


def test_pdf_encrypted_with_an_empty_password_is_read():
    ex = formats.extract("pdf", "open.pdf", _encrypt(make_pdf(report_pages()), ""), Settings())
    assert "4. The third page closes the report with one short paragraph." in ex.text


def test_extraction_time_limit(monkeypatch):
    def slow(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(formats, "extract_in_process", slow)
    started = time.monotonic()
    with pytest.raises(DocumentError, match=r"extraction took longer than 0\.5 s; the file may be damaged"):
        formats.extract("pdf", "slow.pdf", make_pdf(report_pages()), Settings().with_(file_timeout_s=0.5))
    assert time.monotonic() - started < 5


def test_crashing_extractor_is_reported(monkeypatch):
    monkeypatch.setattr(formats, "extract_in_process", lambda *a, **k: os._exit(3))
    with pytest.raises(DocumentError, match="crashed"):
        formats.extract("pdf", "crash.pdf", make_pdf(report_pages()), Settings())


def test_load_document_runs_pdfs_through_the_time_limited_child(tmp_path):
    (tmp_path / "report.pdf").write_bytes(make_pdf(report_pages(), info={"Title": "Microsoft Word - report.docx"}))
    doc = load_document(tmp_path, "report.pdf", Settings())
    assert doc.kind == "pdf" and doc.page_count == 3
    assert doc.title == "Annual report on testing"  # junk metadata title → first heading
    assert doc.symbol == "XY/2024/7"


# ------------------------------------------------------------------------------------------- Word


def make_docx(title: str | None = "Pledges of Ruritania") -> bytes:
    import docx

    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    document.sections[0].header.paragraphs[0].text = "A/80/99"
    document.add_heading("Voluntary pledges", 0)
    document.add_heading("Introduction", 1)
    document.add_paragraph("Ruritania has always been engaged in the work of the Council.")
    document.add_paragraph("Support the Special Rapporteur", style="List Bullet")
    document.add_heading("Cooperation", 2)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Treaty", "Ratified"
    table.cell(1, 0).text, table.cell(1, 1).text = "ICCPR", "1978"
    document.add_paragraph("Ruritania issued a standing invitation.\tIt keeps it.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_headings_paragraphs_tables_and_title():
    ex = formats.extract("docx", "pledges.docx", make_docx(), Settings())
    assert ex.kind == "docx" and ex.title == "Pledges of Ruritania" and ex.symbol == "A/80/99"
    assert [(h.title, h.level) for h in ex.headings] == [("Voluntary pledges", 1), ("Introduction", 1), ("Cooperation", 2)]
    for heading in ex.headings:
        assert ex.text[heading.start:heading.end] == heading.title
    assert paragraphs(ex) == [
        "Voluntary pledges",
        "Introduction",
        "Ruritania has always been engaged in the work of the Council.",
        "Support the Special Rapporteur",
        "Cooperation",
        "Treaty | Ratified",
        "ICCPR | 1978",
        "Ruritania issued a standing invitation. It keeps it.",
    ]
    assert ex.pages == ()


def test_docx_junk_title_is_ignored(tmp_path):
    (tmp_path / "pledges.docx").write_bytes(make_docx("Microsoft Word - pledges.docx"))
    doc = load_document(tmp_path, "pledges.docx", Settings())
    assert doc.title == "Voluntary pledges"


def test_zip_that_is_not_a_word_document(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photos/cat.txt", "meow")
    (tmp_path / "fake.docx").write_bytes(buffer.getvalue())
    with pytest.raises(DocumentError) as caught:
        load_document(tmp_path, "fake.docx", Settings())
    assert caught.value.reason == "not a Word document (the zip has no word/document.xml)"


def test_damaged_docx_zip(tmp_path):
    data = make_docx()
    (tmp_path / "cut.docx").write_bytes(data[: len(data) // 2])
    with pytest.raises(DocumentError, match="not a Word document: the zip archive is damaged"):
        load_document(tmp_path, "cut.docx", Settings())


# ------------------------------------------------------------------------------------------- HTML

PAGE = """<!DOCTYPE html><html><head><meta charset="windows-1252"><title>Caf\xe9 rights</title>
<style>p { color: red }</style><script>var secret = "do not index";</script></head>
<body><nav><a href="/">Home</a> menu</nav><header>Site banner</header>
<aside>Related links</aside><form><label>Search</label></form><noscript>enable js</noscript>
<h1>Freedom of association</h1>
<p>Everyone has the right to <b>freedom</b> of association<br>with others.</p>
<h2>Examples</h2><ul><li>Trade unions</li><li>Clubs</li></ul>
<pre>&lt;script&gt;alert(1)&lt;/script&gt;</pre>
<table><tr><th>Body</th><th>Year</th></tr><tr><td>HRC</td><td>2006</td></tr></table>
<footer>Copyright footer</footer></body></html>"""


def test_html_visible_text_headings_and_charset():
    ex = formats.extract("html", "page.html", PAGE.encode("cp1252"), Settings())
    assert ex.kind == "html" and ex.title == "Café rights"
    assert paragraphs(ex) == [
        "Freedom of association",
        "Everyone has the right to freedom of association with others.",
        "Examples",
        "Trade unions",
        "Clubs",
        "<script>alert(1)</script>",
        "Body | Year",
        "HRC | 2006",
    ]
    assert [(h.title, h.level) for h in ex.headings] == [("Freedom of association", 1), ("Examples", 2)]
    for dropped in ("do not index", "menu", "Site banner", "Related links", "Search", "enable js", "footer", "color"):
        assert dropped not in ex.text


def test_html_without_charset_is_guessed(tmp_path):
    html = "<html><body><h1>Résumé</h1><p>Les défenseurs des droits de l’homme à Genève.</p></body></html>"
    (tmp_path / "fr.html").write_bytes(html.encode("utf-8"))
    doc = load_document(tmp_path, "fr.html", Settings())
    assert doc.title == "Résumé" and "défenseurs" in doc.text


def test_html_with_nothing_visible(tmp_path):
    (tmp_path / "empty.html").write_bytes(b"<html><head><script>x()</script></head><body><nav>menu</nav></body></html>")
    with pytest.raises(DocumentError, match="no visible text"):
        load_document(tmp_path, "empty.html", Settings())


# ---------------------------------------------------------------------------- text files and limits


def test_binary_junk_with_txt_extension(tmp_path):
    (tmp_path / "junk.txt").write_bytes(bytes(range(256)) * 20)
    with pytest.raises(DocumentError, match="binary content"):
        load_document(tmp_path, "junk.txt", Settings())


def test_latin1_text_file(tmp_path):
    text = "Résumé des déclarations\n\nLe Comité a noté la coopération de l'État partie à Genève.\n"
    (tmp_path / "latin1.txt").write_bytes(text.encode("latin-1"))
    doc = load_document(tmp_path, "latin1.txt", Settings())
    assert "Résumé des déclarations" in doc.text and "l'État partie à Genève" in doc.text


@pytest.mark.parametrize("text, encoding", [
    ("Café crème … saisonniers", "cp1252"),  # charset_normalizer alone: "Café crčme"
    ("Señor Muñoz vive en Ginebra.", "latin-1"),  # "Seńor Muńoz"
    ("Nous sommes à Genève pour la réunion.", "cp1252"),  # "ŕ Genčve"
    ("Le Comité a examiné le rapport de l'État partie à sa séance du 12 mai, et a adopté ses observations finales.",
     "cp1252"),
    ("Права человека и основные свободы.", "cp1251"),
    ("Права человека и основные свободы.", "koi8_r"),  # charset_normalizer alone: Shift JIS
    ("حقوق الإنسان والحريات الأساسية", "cp1256"),
    ("Zażółć gęślą jaźń, powiedział.", "cp1250"),
    ("人人生而自由，在尊严和权利上一律平等。", "gb18030"),
])
def test_short_texts_in_legacy_encodings_are_read_right(text, encoding):
    from qa.loaders.text import decode_text

    assert decode_text(text.encode(encoding), "note.txt") == text


def test_a_utf8_file_with_a_stray_legacy_byte_is_read_as_utf8():
    """One Windows-1252 apostrophe in a UTF-8 file had the whole file read as Mac Roman ("d√©tention")."""
    from qa.loaders.text import decode_text

    utf8 = "The State party’s report — on “détention” — was read.\n\n" * 3
    assert decode_text(utf8.encode() + b"The minister\x92s reply was late.\x81", "note.txt") == \
        utf8 + "The minister’s reply was late.\x81"  # 0x81: no Windows-1252 character, Latin-1's
    french = "Le Comité a examiné à Genève la réponse.\n" * 3
    assert decode_text(french.encode() + "Le délégué a répondu.".encode("latin-1"), "note.txt") == \
        french + "Le délégué a répondu."
    assert decode_text("Le délégué a répondu à Genève.".encode("cp1252"), "note.txt") == "Le délégué a répondu à Genève."


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_file(tmp_path, encoding):
    text = "Freedom of association — résumé\n\nSecond paragraph with “quotes”.\n"
    (tmp_path / "wide.txt").write_bytes(text.encode(encoding))
    doc = load_document(tmp_path, "wide.txt", Settings())
    assert doc.text == "Freedom of association — résumé\n\nSecond paragraph with “quotes”."


def test_file_over_the_size_limit(tmp_path):
    (tmp_path / "big.pdf").write_bytes(make_pdf(report_pages()))
    with pytest.raises(DocumentError, match="too large"):
        load_document(tmp_path, "big.pdf", Settings().with_(max_file_bytes=1000))


def test_page_turned_by_rotate_is_still_read():
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(make_pdf(report_pages())))
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.pages[1].rotate(90)
    out = io.BytesIO()
    writer.write(out)
    ex = extract_in_process("pdf", "rotated.pdf", out.getvalue())
    assert "3. Observers reported that the non-governmental organizations were present at every meeting." in ex.text
    assert [s.number for s in ex.pages] == [1, 2, 3]


def test_deeply_nested_html_is_read(tmp_path):
    html = "<html><body>" + "<div>" * 3000 + "<p>Deep text.</p>" + "</div>" * 3000 + "</body></html>"
    (tmp_path / "deep.html").write_bytes(html.encode())
    assert load_document(tmp_path, "deep.html", Settings()).text == "Deep text."


# ------------------------------------------------------------------------------------ shared pieces

pieces = st.lists(st.tuples(st.text(alphabet="ab .", min_size=1, max_size=6), st.integers(1, 4)), min_size=1, max_size=4)


@given(st.lists(pieces, max_size=6))
def test_assemble_cites_every_character_on_its_page(paragraph_pieces):
    ex = assemble([Paragraph(list(p)) for p in paragraph_pieces], "pdf")
    expected: list[int] = []  # page of each character, separators excluded (-1)
    for parts in paragraph_pieces:
        if not "".join(text for text, _ in parts).strip():
            continue
        if expected:
            expected += [-1, -1]
        for text, page in parts:
            expected += [page] * len(text)
    assert len(ex.text) == len(expected)
    cited = [next(s.number for s in ex.pages if s.start <= i < s.end) for i in range(len(ex.text))]
    assert all(e in (-1, c) for e, c in zip(expected, cited))
    assert all(a.end == b.start and a.number != b.number for a, b in zip(ex.pages, ex.pages[1:]))


@pytest.mark.parametrize(
    "raw, title",
    [
        ("Microsoft Word - A_80_67.docx", None),
        ("0443671_factsheet_def.qxp", None),
        ("report", None),
        ("  ", None),
        ("Untitled", None),
        ("Report of the Committee against Torture", "Report of the Committee against Torture"),
    ],
)
def test_clean_title(raw, title):
    assert clean_title(raw, "docs/report.pdf") == title


@pytest.mark.parametrize(
    "data, expected",
    [
        ("Plain ASCII text, no BOM.".encode("utf-16-le"), "Plain ASCII text, no BOM."),
        ("Plain ASCII text, no BOM.".encode("utf-16-be"), "Plain ASCII text, no BOM."),
        (b"\x00\xff" * 200, None),
        (b"abc\x00def", None),
    ],
)
def test_nul_bytes_are_utf16_text_or_refused_as_binary(data, expected):
    from qa.loaders.text import decode_text

    if expected is None:
        with pytest.raises(DocumentError, match="binary content"):
            decode_text(data, "x.md")
    else:
        assert decode_text(data, "x.txt") == expected


def test_a_text_file_written_in_markdown_is_read_as_markdown(tmp_path):
    """The reply in ../shared/seeds/ is Markdown in a .txt file: its bold letterhead, "####" headings and "\\_"
    escapes were shown raw on the cards, and its sections were not headings."""
    from conftest import SHARED

    source = SHARED / "seeds" / "000_f14bf965b01011eb.txt"
    assert source.is_file(), f"the shared seed is missing: {source}"
    doc = load_document(source.parent, source.name, Settings())
    assert "**" not in doc.text and "####" not in doc.text and "\\_" not in doc.text
    assert "MISSION PERMANENTE" in doc.text and "On the first point of the request" in [h.title for h in doc.headings]
    assert doc.title == "000 f14bf965b01011eb"  # its first heading follows the letter: a section, not the title
    plain = "Article 9\n\nNo one shall be subjected to arbitrary arrest.\n\n#NeMolchi.KZ is a hashtag, and 2 * 3 = 6.\n"
    (tmp_path / "plain.txt").write_text(plain, encoding="utf-8")
    kept = load_document(tmp_path, "plain.txt", Settings())
    assert "#NeMolchi.KZ is a hashtag, and 2 * 3 = 6." in kept.text and [h.title for h in kept.headings] == ["Article 9"]
    (tmp_path / "notes.txt").write_text("# Notes\n\nSome **bold** words and a [link](http://x.org).\n", encoding="utf-8")
    notes = load_document(tmp_path, "notes.txt", Settings())
    assert notes.text == "Notes\n\nSome bold words and a link." and notes.title == "Notes"
