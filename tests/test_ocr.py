"""OCR of scanned PDF pages (qa/ocr.py, qa/loaders/pdf.py): scans made here from the shared UN PDFs.

The scans are made at test time (bench/ocr.py: 200 dpi grey, 0.7° skew, blur, noise, JPEG 60) and never
kept. OCR costs 3–10 s a page on the 2-core machine, so the tests read few pages: one scanned UDHR page (read
once per module, in process), one inside a mixed PDF indexed end to end, and small or blank images.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import pytest
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter

from bench.ocr import char_accuracy, image_pdf, page_texts, scanned_copy, word_recall
from qa import ocr
from qa.chunking import chunk_document
from qa.errors import DocumentError
from qa.loaders import formats, load_document
from qa.loaders.formats import extract_in_process
from qa.render import passage_card_html
from qa.types import Passage

REPO = Path(__file__).resolve().parents[1]
UDHR = REPO.parent / "shared" / "corpora" / "un_human_rights_docs" / "udhr" / "udhr_un_eng.pdf"
RUSSIAN = REPO.parent / "shared" / "corpora" / "un_multilingual" / "ru" / "udhr_rus.txt"


def udhr() -> bytes:
    assert UDHR.is_file(), f"missing shared data: {UDHR} (see README, 'Getting the shared data')"
    return UDHR.read_bytes()


def mixed_pdf(text_page: int, scanned_page: int) -> bytes:
    """UDHR page ``text_page`` with its text layer, then page ``scanned_page`` as a degraded scan."""
    writer = PdfWriter()
    writer.add_page(PdfReader(io.BytesIO(udhr())).pages[text_page - 1])
    writer.add_page(PdfReader(io.BytesIO(scanned_copy(udhr(), [scanned_page]))).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def text_image(lines: list[str], width: int = 1500, bold: frozenset[int] = frozenset()) -> Image.Image:
    """Lines typeset in DejaVu Sans (matplotlib's font: Latin, Cyrillic) on a white page, 30 px type; the
    lines whose indexes are in ``bold`` in DejaVu Sans Bold."""
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    regular = ImageFont.truetype(str(fonts / "DejaVuSans.ttf"), 30)
    heavy = ImageFont.truetype(str(fonts / "DejaVuSans-Bold.ttf"), 30)
    image = Image.new("L", (width, 60 * len(lines) + 80), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((60, 40 + 60 * i), line, font=heavy if i in bold else regular, fill=0)
    return image


class Counter:
    """Counts ``ocr.ocr_pdf_page`` calls in this process and in forked extraction children (through a file)."""

    def __init__(self, monkeypatch, folder: Path):
        self.log = folder / "ocr_calls.log"
        self.log.write_text("")
        real = ocr.ocr_pdf_page

        def counted(pdf, number, threads=1):
            with open(self.log, "a") as out:
                out.write(f"{number}\n")
            return real(pdf, number, threads)

        monkeypatch.setattr(ocr, "ocr_pdf_page", counted)

    @property
    def pages(self) -> list[int]:
        return [int(line) for line in self.log.read_text().split()]


@pytest.fixture(scope="module")
def scanned_page_two():
    """UDHR page 2 (Articles 1–5) as read from its degraded scan, with the original page's text."""
    original = page_texts(extract_in_process("pdf", "udhr.pdf", udhr()))[2]
    read = extract_in_process("pdf", "udhr_scan.pdf", scanned_copy(udhr(), [2]))
    return original, read


# --------------------------------------------------------------------------------------------- the text


def test_spaces_between_words_are_recovered_on_a_degraded_scan(scanned_page_two):
    original, read = scanned_page_two
    text = page_texts(read)[1]
    assert word_recall(original, text) >= 0.97, text
    assert char_accuracy(original, text) >= 0.98, text
    assert "No one shall be held in slavery or servitude" in read.text


def test_a_scan_keeps_headings_paragraphs_and_exact_offsets(scanned_page_two):
    _, read = scanned_page_two
    assert [h.title for h in read.headings][:3] == ["Article I", "Article 2", "Article 3"]
    assert all(read.text[h.start : h.end] == h.title for h in read.headings)
    assert [(p.number, p.start, p.end) for p in read.pages] == [(1, 0, len(read.text))]
    assert 0.9 < read.pages[0].ocr <= 1.0
    from qa.types import Document

    document = Document("udhr_scan.pdf", read.text, "UDHR", "x", read.headings, read.pages, kind="pdf")
    chunks = chunk_document(document)
    assert chunks and all(c.text == read.text[c.start : c.end] and c.page == 1 for c in chunks)


def test_a_mixed_pdf_ocrs_only_its_image_page(tmp_path, monkeypatch):
    counter = Counter(monkeypatch, tmp_path)
    extracted = extract_in_process("pdf", "mixed.pdf", mixed_pdf(1, 2))
    assert counter.pages == [2]  # the text page is never OCR'd
    ocr_pages = {p.number: p.ocr for p in extracted.pages}
    assert ocr_pages[1] is None and ocr_pages[2] > 0.9
    page_two = page_texts(extracted)[2]
    assert "Everyone has the right to life" in page_two
    assert "Universal Declaration of Human Rights" in page_texts(extracted)[1]


def test_a_blank_scanned_page_is_reported_and_the_rest_is_indexed(tmp_path, settings, fake_embedder):
    blank = Image.new("L", (1700, 2200), 250)
    words = text_image(["The Government rejects the allegations in the communication.",
                        "The police acted within the law at all times."])
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "reply.pdf").write_bytes(image_pdf([words, blank]))
    document = load_document(docs, "reply.pdf")
    assert "The Government rejects the allegations" in document.text
    assert [(n.page, n.reason) for n in document.unread_pages] == [
        (2, "no text was found on the scanned page (blank, or a picture)")
    ]
    (docs / "blank.pdf").write_bytes(image_pdf([blank]))
    with pytest.raises(DocumentError) as caught:
        load_document(docs, "blank.pdf")
    assert caught.value.reason == (
        "the PDF is scanned and OCR could not read it: page 1: no text was found on the scanned page (blank, or a picture)"
    )

    from qa import reporting
    from qa.indexing import update_index

    report = update_index(docs, settings.index, settings, embedder=fake_embedder)
    assert report.added == ["reply.pdf"] and [f.doc for f in report.failed] == ["blank.pdf"]
    assert [(u.doc, u.page) for u in report.unread_pages] == [("reply.pdf", 2)]
    assert ("warning", "Scanned pages of reply.pdf that could not be read (the rest is indexed): page 2: no text was "
            "found on the scanned page (blank, or a picture)") in reporting.lines(report)


def test_a_scan_in_a_script_the_model_cannot_read_fails_with_that_reason(tmp_path):
    assert RUSSIAN.is_file(), f"missing shared data: {RUSSIAN}"
    cyrillic = [line[:70] for line in RUSSIAN.read_text(encoding="utf-8").splitlines()
                if sum("а" <= c.lower() <= "я" for c in line) > 30][:8]
    with pytest.raises(DocumentError) as caught:
        formats.extract("pdf", "ru.pdf", image_pdf([text_image(cyrillic)]), SimpleNamespace())
    assert "could not be read" in caught.value.reason and "Latin letters, digits and Chinese" in caught.value.reason


# ------------------------------------------------------------------------------- cache, time, progress


def small_scan() -> bytes:
    return image_pdf([text_image(["Article 9", "No one shall be subjected to arbitrary arrest."], width=900)])


def test_the_cache_prevents_a_second_ocr_and_survives_a_damaged_file(tmp_path, monkeypatch):
    index = tmp_path / "index"
    index.mkdir()
    (index / "store.sqlite3").write_bytes(b"")  # cache_folder keeps results only beside an index
    settings = SimpleNamespace(index=index)
    counter = Counter(monkeypatch, tmp_path)
    data = small_scan()
    first = extract_in_process("pdf", "a.pdf", data, settings)
    second = extract_in_process("pdf", "renamed.pdf", data, settings)
    assert counter.pages == [1]
    assert second.text == first.text and "arbitrary arrest" in first.text
    (cached,) = (index / "ocr").iterdir()
    assert cached.name.endswith(f"-{ocr.engine_key()}.json") and json.loads(cached.read_text())["pages"]["1"]
    cached.write_text("{ damaged")
    assert extract_in_process("pdf", "a.pdf", data, settings).text == first.text
    assert counter.pages == [1, 1]
    assert extract_in_process("pdf", "a.pdf", data, SimpleNamespace()).text == first.text  # no index: no cache
    assert counter.pages == [1, 1, 1]


def test_a_page_over_its_time_budget_stops_with_a_reason(monkeypatch):
    monkeypatch.setattr(ocr, "ocr_pdf_page", lambda pdf, number, threads=1: time.sleep(30))
    settings = SimpleNamespace(file_timeout_s=20.0, ocr_page_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(DocumentError) as caught:
        formats.extract("pdf", "slow.pdf", small_scan(), settings)
    assert time.monotonic() - started < 10
    assert caught.value.reason.startswith("OCR of scanned page 1 of 1 took longer than 1 s")


def test_progress_reaches_the_caller_from_the_extraction_child():
    seen = []
    formats.extract("pdf", "p.pdf", small_scan(), SimpleNamespace(), progress=lambda *a: seen.append(a))
    assert seen == [("ocr", 0, 1), ("ocr", 1, 1)]


def test_page_marks_and_the_card():
    from qa.types import PageSpan

    marks = ocr.page_marks((PageSpan(0, 10, 1), PageSpan(10, 20, 2, None, 0.93), PageSpan(20, 30, 3, None, 0.81)))
    assert marks == {2: 0.93, 3: 0.81}
    assert ocr.passage_mark(marks, 1, 1) == (False, None)
    assert ocr.passage_mark(marks, 1, 3) == (True, 0.81)
    passage = Passage(1, 0.5, 7, "reply.pdf", "Reply", "", 0, 5, "Hello", page=2, ocr=True, ocr_confidence=0.93)
    assert "Scanned page, read by OCR (confidence 93%)" in passage_card_html(passage, 1)
    plain = Passage(1, 0.5, 7, "reply.pdf", "Reply", "", 0, 5, "Hello", page=2)
    assert "read by OCR" not in passage_card_html(plain, 1)


# ------------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_scanned_page_is_indexed_answerable_and_cited_by_page(tmp_path, monkeypatch, real_embedder):
    """A mixed reply (UDHR page 1 typed, page 2 scanned) through ``update_index`` and ``python -m qa ask --json``;
    a ``--rebuild`` of the unchanged file reads the page from the cache."""
    from qa.indexing import update_index
    from qa.settings import load_settings
    from qa.store import Store

    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "reply.pdf").write_bytes(mixed_pdf(1, 2))
    settings = load_settings({}).with_(docs=docs, index=index)
    counter = Counter(monkeypatch, tmp_path)
    report = update_index(docs, index, settings, embedder=real_embedder)
    assert report.failed == [] and report.added == ["reply.pdf"]
    assert counter.pages == [2]

    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "Is anyone allowed to be held in slavery?", "--index", str(index), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    top = answer["passages"][0]
    assert top["doc"] == "reply.pdf" and top["page"] == 2 and "slavery or servitude" in top["text"]
    printed = subprocess.run([sys.executable, "-m", "qa", "text", "reply.pdf", "--index", str(index)], cwd=REPO,
                             capture_output=True, text=True, timeout=120, check=True).stdout
    store = Store.open(index, settings)
    try:
        document = store.document("reply.pdf")
    finally:
        store.close()
    assert printed == document.text + "\n"
    for passage in answer["passages"]:
        assert document.text[passage["start"] : passage["end"]] == passage["text"]
    for sentence in answer["answer"]:
        assert document.text[sentence["start"] : sentence["end"]] == sentence["text"]
    marks = ocr.page_marks(document.pages)
    assert set(marks) == {2} and marks[2] > 0.9  # the OCR confidence is stored with the page map
    assert ocr.passage_mark(marks, top["page"], top["page_end"]) == (True, marks[2])
    assert top["ocr"] is True and top["ocr_confidence"] == round(marks[2], 3)
    assert all(p["ocr"] is (p["page"] == 2 == p["page_end"]) or p["page_end"] == 2 for p in answer["passages"])

    update_index(docs, index, settings, rebuild=True, embedder=real_embedder)
    assert counter.pages == [2]  # the unchanged file's page came from the cache


# ------------------------------------------------------------------------------------ pictures in Word files


def docx_with_scan(image: Image.Image) -> bytes:
    """A Word document: a typed paragraph, a pasted scan (a picture paragraph of its own), a typed paragraph."""
    import docx
    from docx.shared import Inches

    picture = io.BytesIO()
    image.save(picture, "PNG")
    document = docx.Document()
    document.add_paragraph("Typed cover note before the scan.")
    document.add_picture(io.BytesIO(picture.getvalue()), width=Inches(6))
    document.add_paragraph("Typed text after the scan.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_scan_pasted_into_a_word_file_is_read_in_its_place(tmp_path, monkeypatch):
    from qa.loaders.docx import extract_docx

    scan = text_image(["The Committee received the report of Italy", "on the rights of persons in detention."])
    data = docx_with_scan(scan)
    settings = SimpleNamespace(ocr_threads=1)
    monkeypatch.setattr(ocr, "cache_folder", lambda _settings: tmp_path / "ocr")
    extracted = extract_docx("reply.docx", data, settings)
    paragraphs = extracted.text.split("\n\n")
    assert paragraphs == [
        "Typed cover note before the scan.",
        "The Committee received the report of Italy on the rights of persons in detention.",
        "Typed text after the scan.",
    ]
    quote = "report of Italy"
    start = extracted.text.index(quote)
    assert extracted.text[start : start + len(quote)] == quote
    cached = list((tmp_path / "ocr").glob("*.json"))
    assert len(cached) == 1  # the picture, by its own hash

    def no_engine(*args, **kwargs):
        raise AssertionError("a cached picture was read again")

    monkeypatch.setattr(ocr, "read_image", no_engine)
    assert extract_docx("renamed.docx", data, settings).text == extracted.text


def test_pictures_without_text_add_nothing_to_a_word_file():
    from qa.loaders.docx import extract_docx

    blank = Image.new("L", (600, 300), 255)
    tiny = Image.new("L", (12, 12), 0)  # a bullet or an icon: not read
    assert ocr.image_from_bytes(_png(tiny)) is None
    assert ocr.image_from_bytes(b"not an image") is None
    assert extract_docx("blank.docx", docx_with_scan(blank)).text == (
        "Typed cover note before the scan.\n\nTyped text after the scan.")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_the_benchmark_counts_misread_characters_not_typography():
    assert word_recall("26 April–2 May, the State’s reply", "26 April-2 May, the State's reply") == 1.0
    assert char_accuracy("Contents …", "Contents ...") == 1.0
    assert word_recall("the report of letters", "the report ofletters") == 0.5  # a lost space loses two words


def test_light_grey_type_is_stretched_to_black_before_recognition(monkeypatch):
    import numpy as np

    rng = np.random.default_rng(0)
    crop = np.full((30, 200), 245.0) + rng.normal(0, 4, (30, 200))
    crop[10:20, 20:180:6] = 190  # light-grey strokes, as in a sidebar after blur and JPEG
    crop = np.clip(crop, 0, 255).astype(np.uint8)
    stretched = ocr.stretch_contrast(np.stack([crop] * 3, axis=-1))
    assert stretched.shape == (30, 200, 3) and stretched.dtype == np.uint8
    assert stretched[15, 20, 0] == 0  # the ink is black
    assert np.median(stretched) - stretched[15, 20, 0] >= 200 > np.median(crop) - crop[15, 20]  # was 55 levels
    flat = np.full((30, 200), 250, dtype=np.uint8)
    assert ocr.stretch_contrast(flat) is flat  # nothing but paper: left as it is

    seen = []
    real = ocr.stretch_contrast
    monkeypatch.setattr(ocr, "stretch_contrast", lambda c: seen.append(c.shape) or real(c))
    image = np.asarray(text_image(["Light grey words in a box"], width=700), dtype=np.uint8)
    page = ocr.read_image((185 + image * (60 / 255)).astype(np.uint8), 200 / 72)  # grey type on grey paper
    assert seen and all(len(shape) == 3 and shape[0] < 100 for shape in seen)  # every line crop, not the page
    assert " ".join(w.text for w in page.words) == "Light grey words in a box"


def test_roman_numerals_misread_as_l_are_set_right():
    assert ocr.roman_numerals("Part Il - The Human Rights Committee".split())[1] == "II"
    assert ocr.roman_numerals("Parts I and Il.".split())[-1] == "II."
    assert ocr.roman_numerals("Box Ill.3. Where can I".split())[1] == "III.3."
    assert ocr.roman_numerals("(IlI) annex IIl,".split()) == ["(III)", "annex", "III,"]
    assert ocr.roman_numerals("IlI.4 sets out".split())[0] == "III.4"
    # words, not numerals: French and Italian "Il", English "Ill" at a line's or a sentence's start
    assert ocr.roman_numerals("Il a déclaré que".split())[0] == "Il"
    assert ocr.roman_numerals("as follows: Il faut".split())[2] == "Il"
    assert ocr.roman_numerals("Ill health and Ill-treatment".split()) == ["Ill", "health", "and", "Ill-treatment"]
    assert ocr.roman_numerals("Illegal Island".split()) == ["Illegal", "Island"]


def test_the_engine_key_follows_the_reading_rules(monkeypatch):
    key = ocr.engine_key()
    monkeypatch.setattr(ocr, "CONTRAST", (5.0, 95.0))
    assert ocr.engine_key() != key
    monkeypatch.setattr(ocr, "ALGORITHM", ocr.ALGORITHM + 1)
    assert len({key, ocr.engine_key()}) == 2


# ------------------------------------------------------------------------------------------ bold lines

BOXES = [
    "Does the right to freedom of association apply online?",  # bold, like the fact sheet's box questions
    "States have an obligation to respect and fully protect association",
    "rights online as well as offline, and people have the right to",
    "associate in virtual spaces to express their opinions.",
    "Can authorities interfere in the internal affairs of an association?",  # bold
    "Authorities must refrain from interfering in the internal affairs",
    "of associations and respect their right to privacy.",
    "Is this question in regular type a heading?",  # regular: a question, not a heading
    "No: only its weight would make it one, as in a text layer.",
]


def test_the_stroke_width_of_a_bold_line_is_measured_in_the_image():
    import numpy as np

    from bench.ocr import degrade

    image = np.asarray(degrade(text_image(BOXES, width=1300, bold=frozenset({0, 4}))), dtype=np.uint8)
    page = ocr.read_image(image, 200 / 72)
    strokes = {}
    for word in page.words:
        strokes.setdefault(round(word.top), set()).add(word.stroke)
    assert all(len(values) == 1 for values in strokes.values())  # a line's words share its measure
    lines = [next(iter(values)) for _, values in sorted(strokes.items())]
    assert len(lines) == len(BOXES) and all(lines)
    regular = [s for i, s in enumerate(lines) if i not in (0, 4)]
    assert min(lines[0], lines[4]) >= 1.3 * max(regular), lines
    from qa.loaders.pdf import BOLD_STROKE, ocr_words, usual_stroke

    usual = usual_stroke([page])
    assert usual == pytest.approx(sorted(regular)[len(regular) // 2], rel=0.15)
    bold = {w.text for w in ocr_words(page) if w.bold}
    assert bold == set(" ".join([BOXES[0], BOXES[4]]).split())
    assert max(regular) < BOLD_STROKE * usual <= min(lines[0], lines[4])


def test_a_bold_line_of_a_scan_is_a_heading_as_in_a_text_layer():
    from bench.ocr import degrade

    scan = image_pdf([degrade(text_image(BOXES, width=1300, bold=frozenset({0, 4})))])
    read = extract_in_process("pdf", "boxes.pdf", scan)
    assert [h.title for h in read.headings] == [BOXES[0], BOXES[4]]  # the regular question is not one
    assert all(read.text[h.start : h.end] == h.title for h in read.headings)
    assert [(p.number, p.start, p.end) for p in read.pages] == [(1, 0, len(read.text))]
    # the same page all in regular type has no heading: nothing is bold against itself
    plain = extract_in_process("pdf", "plain.pdf", image_pdf([degrade(text_image(BOXES, width=1300))]))
    assert plain.headings == () or list(plain.headings) == []


def test_stroke_widths_travel_through_the_cache_and_older_entries_are_never_bold():
    word = ocr.OcrWord("Does", 10.0, 30.0, 5.0, 15.0, 0.99, 0.1372)
    page = ocr.OcrPage(1, 600.0, 800.0, (word,), 0.99)
    again = ocr.OcrPage.from_json(json.loads(json.dumps(page.to_json())))
    assert again.words[0].stroke == 0.1372 and again == page
    older = ocr.OcrPage.from_json({"number": 1, "width": 600.0, "height": 800.0, "confidence": 0.99, "status": "ok",
                                   "words": [["Does", 10.0, 30.0, 5.0, 15.0, 0.99]]})
    from qa.loaders.pdf import ocr_words, usual_stroke

    assert older.words[0].stroke is None and usual_stroke([older]) is None
    assert not any(w.bold for w in ocr_words(older))
    # fewer than three measured lines: no usual width, so nothing is bold
    two = ocr.OcrPage(1, 600.0, 800.0, (word, replace_stroke(word, 22.0, 0.1)), 0.99)
    assert usual_stroke([two]) is None and not any(w.bold for w in ocr_words(two))


def replace_stroke(word, top: float, stroke: float):
    from dataclasses import replace

    return replace(word, top=top, bottom=top + 10.0, stroke=stroke)


# -------------------------------------------------------------------- letters misread in grey type


def test_letters_misread_in_grey_type_are_mended_from_the_documents_own_words():
    def page(number: int, lines: list[tuple[str, float]]) -> ocr.OcrPage:
        words = tuple(ocr.OcrWord(text, 10.0 * i, 10.0 * i + 8, 20.0 * n, 20.0 * n + 10, confidence)
                      for n, (line, confidence) in enumerate(lines) for i, text in enumerate(line.split()))
        return ocr.OcrPage(number, 600.0, 800.0, words, 0.98)

    body = page(1, [("legal entities and legal persons under the law, legal aid to entities and entities", 0.999),
                    ("a legal person, legal costs, legal acts; some may form a farm, a farm or a farm", 0.999)])
    grey = page(2, [("legol entifies (A/HRC/20/27, poro 51), ossociotion", 0.957),
                    ("some form of Soto", 0.95), ("legol once more", 0.999), ("Humon Rights", 0.96)])
    known = ["para 4", "para 5", "para 6"] + ["association"] * 3 + ["human rights"] * 3
    mended = ocr.mend_misread_letters([body, grey], known=known)
    assert mended[0] is body  # nothing to mend: the same page
    texts = [w.text for w in mended[1].words]
    # "legal" 6×, "legol" 2×; t read as f ("entities" 3×); "para" 3× (in the text layer)
    assert texts[:5] == ["legal", "entities", "(A/HRC/20/27,", "para", "51),"]
    assert texts[5] == "association"  # two of its o's were a's
    assert texts[6:9] == ["some", "form", "of"]  # "same" never occurs; "farm" 3× but "form" occurs too often
    assert texts[9] == "Soto"  # "Sata" is no word of the document
    assert texts[10] == "legol"  # a line read with full confidence is left as it is
    assert texts[13] == "Human"  # case ignored in the counts, kept in the word
    assert [(w.x0, w.x1, w.top) for w in mended[1].words] == [(w.x0, w.x1, w.top) for w in grey.words]


def test_spaces_the_model_drops_before_a_capitalised_word_are_put_back():
    """A newcomer's clean 200-dpi scan was read "released without charge on 16March 2024" and "inOctober": quotes
    not word for word, and "16 March" in quotes found nothing."""
    from qa.ocr import unglued

    assert unglued("released without charge on 16March 2024") == "released without charge on 16 March 2024"
    assert unglued("the Court of Appeal inOctober 2024") == "the Court of Appeal in October 2024"
    assert unglued("Article 19The right") == "Article 19 The right"
    for kept in ("the 3rd report", "A/80/67", "NeMolchi.KZ", "iPhone", "within10 days", "CO2Emissions", "Interpol"):
        assert unglued(kept) == kept
