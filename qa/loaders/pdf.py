"""PDF loader (pdfminer.six): characters → words → reading order → paragraphs, each piece cited by page.

The steps, each a small function:

1. ``read_pages``: every upright character of every page, with its box, size and boldness, grouped into
   words (a word breaks at a space, a gap, a change of baseline or of size).
2. ``strip_running_lines``: running headers and footers are dropped: lines at the top or bottom of a page
   whose text (digits normalised) repeats on other pages, page counters ("2/11", "iii", "- 4 -"), job
   numbers ("25-03172 (E)"), bar codes. A UN symbol among them becomes the document's symbol.
3. ``reading_order``: a recursive X-Y cut on the words of a page: split at vertical gutters (columns),
   else at horizontal gaps, until no cut is left; each leaf is a block of lines read top to bottom.
4. ``paragraphs``: consecutive lines are joined into paragraphs unless a break is likely (vertical gap,
   first-line indent, a short last line, a list/paragraph number, a change of font, a heading); a
   paragraph continues across columns and pages when the sentence does. Line-end hyphens are undone when
   the halves are not both words. Footnotes (small print at the foot of a page) become paragraphs of their
   own after the paragraph that straddles the page break.
5. ``common.assemble`` builds the text and the page spans.

Pages without a text layer that show an image (scans) are read by OCR (``qa/ocr.py``, ``read_scanned``) into
the same words, so steps 2–5 treat them like any other page; their page spans carry the OCR confidence, and
pages OCR could not read are listed in ``Extracted.unread_pages``. Pages with a text layer are never OCR'd.
OCR gives no font, so a scanned line is bold when its strokes are ``BOLD_STROKE`` times as wide as the
document's usual ones (``ocr_bold``): a bold question in a box is then a heading, as in the text layer.
"""

from __future__ import annotations

import io
import itertools
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LTChar, LTFigure, LTImage
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.utils import decode_text

from ..errors import DocumentError
from ..types import Extracted, PageNote
from .common import Paragraph, assemble, clean_title, squash, symbol_of_line

_CHAR_MAP = {
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200b": "", "\ufeff": "",
    # Symbol/Wingdings bullets that fonts map to the private use area
    "\uf0b7": "•", "\uf0a7": "▪", "\uf0d8": "•", "\uf076": "•", "\uf0fc": "•", "\uf0a8": "•", "\uf0e0": "•",
    "\uf02d": "-", "\u2219": "•", "\uf06c": "•", "\uf0de": "•",
}
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi|[-,]bd\b|\bbd$", re.I)
# A scanned line is bold when its strokes, relative to its type size, are this many times as wide as those of
# the document's median character (``qa.ocr.stroke_width``). On degraded scans of the UN PDFs, bold lines
# measured 1.29–1.99, regular ones (light and black type, condensed or not) at most 1.20, display words at
# 26 pt (fewer than 4 letters: never headings) more.
BOLD_STROKE = 1.25
MIN_STROKE_LINES = 3  # fewer measured lines give no usual stroke width to compare with

# A paragraph number, list item letter, bullet or roman numeral at the start of a line.
MARKER = re.compile(
    r"^(?:\d{1,3}\.(?:\d{1,3}\.?)*|\(?\d{1,3}\)|\(?[a-z]{1,2}\)|\(?[ivxlc]{1,6}\)|[IVXLC]{1,6}\.|[A-Z]\."
    r"|[•▪◦●■□‣⁃∙·○\-–—*»>])(?=\s|$)"
)
_NUMBERED = re.compile(r"^\d{1,3}\.\s+\S")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?(?:[-–—]\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*[-–—])?(?:\s*(?:/|of)\s*\d{1,4})?$", re.I
)
_BOILERPLATE = re.compile(
    r"^(?:(?:GE\.)?\d{2}-\d{5}\s*\([A-Z]\)(?:\s+\d{6})?(?:\s+\*\d+\*)?|\*\d{5,}\*|\d{2}-\d{5})$"
)
_HEADING_WORD = re.compile(
    r"^(?:Article|ARTICLE|Part|PART|Chapter|CHAPTER|Section|SECTION|Annex|ANNEX|Appendix|APPENDIX|Rule|RULE)"
    r"\s+[\dIVXLC]+[A-Z]?(?:\s*$|\s*[.:–—-]\s*\S)"
)
_MASTHEAD = {  # the banner of a UN document's first page: not a heading, not its title
    "united nations", "general assembly", "security council", "economic and social council", "official records",
    "distr.: general", "distr.: limited", "distr.: restricted", "original: english",
}
_ROMAN_HEADING = re.compile(r"^(?:[IVXLC]{1,6}|[A-Z])\.\s+\S")
_LEADER = re.compile(r"(?:\s?\.){4,}|…{2,}|_{4,}")
_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")
_KEEP_HYPHEN_PREFIXES = {  # "non-" at a line end is a real hyphen even when the document has no "non-x" elsewhere
    "non", "self", "anti", "ex", "multi", "cross", "well", "long", "short", "full", "post", "semi", "quasi",
    "counter", "mid", "all", "vice", "half", "one", "two", "three", "first", "second", "third", "capacity",
    "decision", "policy", "follow", "high", "low", "law", "state", "treaty", "human",
}


@dataclass
class Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    baseline: float
    size: float
    bold: bool
    space_before: bool = False


@dataclass
class Line:
    words: list[Word]
    page: int
    column: tuple[float, float] = (0.0, 0.0)
    footnote: bool = False
    ragged_left: bool = False
    floating: bool = False
    right_edge: float = 0.0
    text: str = ""
    x0: float = 0.0
    x1: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    baseline: float = 0.0
    size: float = 0.0
    bold: bool = False

    def __post_init__(self):
        words = sorted(self.words, key=lambda w: w.x0)
        self.words = words
        self.text = join_words(words)
        self.x0 = words[0].x0
        self.x1 = max(w.x1 for w in words)
        self.top = min(w.top for w in words)
        self.bottom = max(w.bottom for w in words)
        main = max(words, key=lambda w: (w.size, len(w.text)))
        self.size = _weighted_size(words)
        self.baseline = main.baseline
        letters = [w for w in words if any(c.isalpha() for c in w.text)]
        self.bold = bool(letters) and sum(len(w.text) for w in letters if w.bold) >= 0.8 * sum(len(w.text) for w in letters)


@dataclass
class Page:
    number: int
    width: float
    height: float
    words: list[Word] = field(default_factory=list)
    has_image: bool = False
    cid_chars: int = 0
    sideways_chars: int = 0


# ------------------------------------------------------------------------------------------- reading


def extract_pdf(rel: str, data: bytes, settings=None, progress=None) -> Extracted:
    """Clean text, headings, page spans, title and symbol of a PDF; ``DocumentError`` for bad files.

    Scanned pages are OCR'd (cached in the index folder of ``settings``); ``progress(done, total)`` is called
    as they are read."""
    check_complete(rel, data)
    document = open_document(rel, data)
    pages = read_pages(rel, document)
    scanned = read_scanned(rel, data, pages, settings, progress)
    labels = page_labels(document, len(pages))
    symbol, running_title, printed = strip_running_lines(pages)
    labels = labels or printed
    lines_by_page = [reading_order(page) for page in pages]
    stats = body_stats(lines_by_page)
    mark_footnotes(lines_by_page, stats)
    paras = paragraphs(lines_by_page, stats)
    title = (
        clean_title(_info_title(document), rel)
        or clean_title(running_title, rel)
        or clean_title(_first_page_title(paras, lines_by_page), rel)
    )
    if symbol is None:
        symbol = _first_page_symbol(lines_by_page)
    extracted = assemble(paras, "pdf", title=title, symbol=symbol, labels=labels)
    unread = tuple(PageNote(p.number, p.reason) for p in scanned.values() if p.status != "ok")
    if not extracted.text.strip():
        if unread:
            raise DocumentError(rel, "the PDF is scanned and OCR could not read it: " + _unread_summary(unread))
        raise DocumentError(rel, "the PDF contains no text")
    confidence = {n: p.confidence for n, p in scanned.items() if p.status == "ok"}
    pages_out = tuple(replace(s, ocr=confidence[s.number]) if s.number in confidence else s for s in extracted.pages)
    return replace(extracted, pages=pages_out, unread_pages=unread)


def _unread_summary(notes) -> str:
    """"page 1: reason; pages 2, 3: reason" (pages with the same reason together)."""
    by_reason: dict[str, list[int]] = {}
    for note in notes:
        by_reason.setdefault(note.reason, []).append(note.page)
    parts = []
    for reason, numbers in by_reason.items():
        label = "page" if len(numbers) == 1 else "pages"
        parts.append(f"{label} {', '.join(map(str, numbers))}: {reason}")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------- scanned pages


def read_scanned(rel: str, data: bytes, pages: list[Page], settings=None, progress=None) -> dict:
    """OCR the pages that have no text layer but show an image; their words go into the pages. Returns the
    ``OcrPage`` of every page read, by number. Cached pages are not read again."""
    targets = [page for page in pages if not page.words and page.has_image and not page.cid_chars]
    if not targets:
        return {}
    import hashlib

    from .. import ocr

    # = loaders.content_hash, which this module cannot import (qa.loaders imports the format modules)
    cache = ocr.OcrCache(ocr.cache_folder(settings), hashlib.sha256(data).hexdigest())
    threads = ocr.threads_for(settings)
    pdf = None
    found = {}
    if progress is not None:
        progress(0, len(targets))
    for done, page in enumerate(targets, start=1):
        result = cache.get(page.number)
        if result is None:
            pdf = pdf or ocr.open_pdf(rel, data)
            result = ocr.ocr_pdf_page(pdf, page.number, threads)
            cache.put(result)
        found[page.number] = result
        if progress is not None:
            progress(done, len(targets))
    if pdf is not None:
        pdf.close()
    scanned = {id(page) for page in targets}
    known = [w.text for page in pages if id(page) not in scanned for w in page.words]  # a mixed PDF's text layer
    read = dict(zip(found, ocr.mend_misread_letters(list(found.values()), known)))
    usual = usual_stroke(read.values())  # of the whole document: a cover page may be all bold
    for page in targets:
        page.words = ocr_words(read[page.number], usual)
    return found


def ocr_words(page, usual: float | None = None) -> list[Word]:
    """The words of an ``OcrPage`` as text-layer words: one size for the page's body lines (line heights
    vary with ascenders and descenders, type sizes do not), the baseline a fifth of a line above its bottom,
    bold by ``ocr_bold`` against ``usual`` (the document's usual stroke width; this page's when None)."""
    from .. import ocr

    if not page.words:
        return []
    if usual is None:
        usual = usual_stroke([page])
    heights = [w.bottom - w.top for w in page.words]
    body = statistics.median(heights)
    words = []
    for word, height in zip(page.words, heights):
        size = 0.8 * ocr.type_height(height, body)
        text = normalise_char(word.text)
        words.append(Word(text, word.x0, word.x1, word.top, word.bottom, word.bottom - 0.2 * height, size,
                          ocr_bold(word, usual), space_before=True))
    return words


def usual_stroke(pages) -> float | None:
    """The stroke width (relative to type size) of the median character of ``OcrPage``s' words; None when
    fewer than ``MIN_STROKE_LINES`` lines were measured (pages read before strokes were, or nearly empty)."""
    measured = [w for page in pages for w in page.words if getattr(w, "stroke", None)]
    if len({(w.top, w.bottom, w.stroke) for w in measured}) < MIN_STROKE_LINES:
        return None
    ordered = sorted(measured, key=lambda w: w.stroke)
    half, seen = sum(len(w.text) for w in ordered) / 2, 0
    for word in ordered:
        seen += len(word.text)
        if seen >= half:
            return word.stroke
    return ordered[-1].stroke


def ocr_bold(word, usual: float | None) -> bool:
    """Is an OCR'd word (its line) bold? Its line's strokes are ``BOLD_STROKE`` times as wide as usual."""
    stroke = getattr(word, "stroke", None)
    return bool(usual and stroke and stroke >= BOLD_STROKE * usual)


def ocr_paragraphs(page) -> list[Paragraph]:
    """The paragraphs of one image read by OCR (an ``OcrPage``: a scanned page pasted into a Word document),
    laid out as a PDF page's text layer is (columns, lines, paragraphs, headings), without page numbers and
    without dropping running lines (there is one image, nothing repeats)."""
    from .. import ocr

    words = ocr_words(ocr.mend_misread_letters([page])[0])
    if not words:
        return []
    lines_by_page = [reading_order(Page(page.number, page.width, page.height, words))]
    stats = body_stats(lines_by_page)
    mark_footnotes(lines_by_page, stats)
    return [Paragraph([(text, None) for text, _ in para.pieces], para.level, para.size)
            for para in paragraphs(lines_by_page, stats)]


def check_complete(rel: str, data: bytes) -> None:
    """A PDF ends with ``%%EOF``; a file cut short (a partial download) does not."""
    if b"%%EOF" not in data.rstrip(b"\x00\r\n\t \x1a")[-4096:]:
        raise DocumentError(rel, "the PDF is truncated or damaged (it has no end-of-file marker); it may be an incomplete download")


def open_document(rel: str, data: bytes):
    """Parse the PDF structure, trying the empty password of PDFs that are encrypted only against editing."""
    try:
        return PDFDocument(PDFParser(io.BytesIO(data)), password="")
    except PDFPasswordIncorrect:
        raise DocumentError(rel, "the PDF is encrypted (it needs a password to open)") from None
    except PDFEncryptionError as exc:
        raise DocumentError(rel, f"the PDF is encrypted with an unsupported method ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - pdfminer raises many kinds of errors for damaged files
        raise DocumentError(rel, f"the PDF is damaged and cannot be opened ({_brief(exc)})") from None


def _brief(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:160] if text else type(exc).__name__


def read_pages(rel: str, document) -> list[Page]:
    """Words of every page; raises when the PDF has no pages or no text layer at all."""
    manager = PDFResourceManager(caching=True)
    device = PDFPageAggregator(manager, laparams=None)
    interpreter = PDFPageInterpreter(manager, device)
    pages = []
    try:
        for number, pdf_page in enumerate(PDFPage.create_pages(document), start=1):
            interpreter.process_page(pdf_page)
            page = _page_from_layout(number, device.get_result())
            if not page.words and page.sideways_chars and pdf_page.rotate:
                pdf_page.rotate = 0  # /Rotate turned upright text sideways: read the page as it was drawn
                interpreter.process_page(pdf_page)
                page = _page_from_layout(number, device.get_result())
            pages.append(page)
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001
        if not pages:
            raise DocumentError(rel, f"the PDF is damaged and its pages cannot be read ({_brief(exc)})") from None
        raise DocumentError(rel, f"the PDF is damaged: page {len(pages) + 1} cannot be read ({_brief(exc)})") from None
    if not pages:
        raise DocumentError(rel, "the PDF has no pages")
    if not any(page.words for page in pages):
        if any(page.cid_chars for page in pages):
            raise DocumentError(rel, "the PDF's fonts have no Unicode mapping, so its text cannot be extracted")
        if not any(page.has_image for page in pages):
            raise DocumentError(rel, "the PDF contains no text (its pages are blank)")
    return pages


def _page_from_layout(number: int, layout) -> Page:
    x_origin, y_origin, x_end, y_end = layout.bbox
    page = Page(number, x_end - x_origin, y_end - y_origin)
    chars = []
    seen = set()
    stack = list(layout)
    stack.reverse()
    while stack:
        item = stack.pop()
        if isinstance(item, LTChar):
            if not item.upright:
                page.sideways_chars += 1
                continue
            key = (item.get_text(), round(item.x0), round(item.y0))
            if key in seen:  # text drawn twice to fake bold
                continue
            seen.add(key)
            chars.append(item)
        elif isinstance(item, LTImage):
            page.has_image = True
        elif isinstance(item, LTFigure):
            children = list(item)
            page.has_image = page.has_image or not children
            stack.extend(reversed(children))
    page.words, page.cid_chars = chars_to_words(chars, x_origin, y_end)
    return page


def normalise_char(text: str) -> str:
    return "".join(_CHAR_MAP.get(ch, ch) for ch in text)


def chars_to_words(chars, x_origin: float, y_top: float) -> tuple[list[Word], int]:
    """Group characters (in content-stream order) into words; returns the words and the count of unmapped glyphs."""
    words: list[Word] = []
    current: list[tuple] = []
    cid = 0
    spaced = False

    def flush():
        nonlocal spaced
        if current:
            words.append(_make_word(current, spaced))
            current.clear()
            spaced = False

    for ch in chars:
        raw = ch.get_text()
        if raw.startswith("(cid:"):
            cid += 1
            flush()
            continue
        text = normalise_char(raw)
        if not text or text.isspace():
            flush()
            spaced = True
            continue
        size = ch.size or (ch.y1 - ch.y0) or 1.0
        matrix = ch.matrix
        baseline = y_top - matrix[5] if abs(matrix[1]) < 1e-6 and abs(matrix[2]) < 1e-6 else y_top - ch.y0
        item = (text, ch.x0 - x_origin, ch.x1 - x_origin, y_top - ch.y1, y_top - ch.y0, baseline, size, bool(_BOLD_FONT.search(ch.fontname or "")))
        if current:
            prev = current[-1]
            gap = item[1] - prev[2]
            if (
                abs(baseline - prev[5]) > 0.2 * min(size, prev[6])
                or not 0.87 < size / prev[6] < 1.15
                or gap > 0.1 * size
                or gap < -0.5 * size
            ):
                flush()
        current.append(item)
    flush()
    return words, cid


def _make_word(items: list[tuple], space_before: bool) -> Word:
    text = "".join(it[0] for it in items)
    bold = sum(1 for it in items if it[7]) * 2 > len(items)
    return Word(
        text=text,
        x0=min(it[1] for it in items),
        x1=max(it[2] for it in items),
        top=min(it[3] for it in items),
        bottom=max(it[4] for it in items),
        baseline=items[0][5],
        size=max(it[6] for it in items),
        bold=bold,
        space_before=space_before,
    )


def join_words(words: list[Word]) -> str:
    """Words of one line, left to right: a space after a space character or a word-sized gap."""
    parts = []
    prev = None
    for word in words:
        gap = word.x0 - prev.x1 if prev is not None else 0.0
        size = min(word.size, prev.size) if prev is not None else word.size
        if prev is not None and (gap >= 0.15 * size or (word.space_before and gap > -0.1 * size)):
            parts.append(" ")
        parts.append(word.text)
        prev = word
    return "".join(parts)


def _weighted_size(words: list[Word]) -> float:
    counts = Counter()
    for word in words:
        counts[round(word.size * 2) / 2] += len(word.text)
    return counts.most_common(1)[0][0]


def page_labels(document, count: int) -> dict[int, str]:
    """Printed page labels that differ from the physical page number and look like page numbers."""
    try:
        labels = list(itertools.islice(document.get_page_labels(), count))
    except Exception:  # noqa: BLE001 - no /PageLabels, or a broken one
        return {}
    plausible = re.compile(r"^[A-Za-z]{0,3}[-.]?(?:\d{1,4}|[ivxlcdm]{1,7}|[IVXLCDM]{1,7})$")
    if not all(isinstance(label, str) and plausible.match(label) for label in labels):
        return {}  # e.g. "Black:59": printer's plate names, not page numbers
    return {number: label for number, label in enumerate(labels, start=1) if label != str(number)}


def _info_title(document):
    for info in getattr(document, "info", None) or []:
        value = info.get("Title") if isinstance(info, dict) else None
        if hasattr(value, "resolve"):
            value = value.resolve()
        if isinstance(value, bytes):
            return _decode_pdf_string(value)
        if isinstance(value, str):
            return value
    return None


def _decode_pdf_string(raw: bytes) -> str:
    try:
        return decode_text(raw)
    except Exception:  # noqa: BLE001
        return raw.decode("latin-1", "replace")


# ------------------------------------------------------------------------------------------- lines


def group_lines(words: list[Word]) -> list[Line]:
    """Words → lines: same baseline and similar size; smaller raised words (superscripts) join the line they sit in."""
    if not words:
        return []
    rows: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.baseline, w.x0)):
        row = rows[-1] if rows else None
        if row is not None and abs(word.baseline - row[0].baseline) <= 0.25 * min(word.size, row[0].size):
            row.append(word)
        else:
            rows.append([word])
    groups: list[list[Word]] = []
    for row in rows:
        for segment in _split_by_gap(row):
            groups.extend(_split_by_size(segment))
    sized = sorted(groups, key=lambda g: -max(w.size for w in g))
    lines: list[list[Word]] = []
    for group in sized:
        host = _host_line(group, lines)
        if host is None:
            lines.append(list(group))
        else:
            host.extend(group)
    return [Line(words=group, page=0) for group in lines]


def _split_by_gap(row: list[Word]) -> list[list[Word]]:
    """Pieces of a row far apart (a masthead's left and right, two columns on one baseline)."""
    row = sorted(row, key=lambda w: w.x0)
    parts = [[row[0]]]
    for word in row[1:]:
        previous = parts[-1][-1]
        if word.x0 - previous.x1 > 3 * max(word.size, previous.size):
            parts.append([word])
        else:
            parts[-1].append(word)
    return parts


def _split_by_size(row: list[Word]) -> list[list[Word]]:
    """A big display word (a "Yes" in a circle) that shares a baseline with body text is its own line."""
    row = sorted(row, key=lambda w: w.size)
    parts = [[row[0]]]
    for word in row[1:]:
        if word.size > 1.6 * parts[-1][0].size:
            parts.append([word])
        else:
            parts[-1].append(word)
    return parts


def _host_line(group: list[Word], lines: list[list[Word]]) -> list[Word] | None:
    """The larger-type line that a small group (superscript, footnote mark) sits inside, if any."""
    size = max(w.size for w in group)
    top = min(w.top for w in group)
    bottom = max(w.bottom for w in group)
    centre = (top + bottom) / 2
    x0 = min(w.x0 for w in group)
    x1 = max(w.x1 for w in group)
    if sum(len(w.text) for w in group) > 8:
        return None
    for line in lines:
        line_size = max(w.size for w in line)
        if not 0.45 * line_size <= size <= 0.85 * line_size:
            continue
        line_top = min(w.top for w in line)
        line_bottom = max(w.bottom for w in line)
        if not line_top <= centre <= line_bottom:
            continue
        if x0 <= max(w.x1 for w in line) + line_size and x1 >= min(w.x0 for w in line) - line_size:
            return line
    return None


# ------------------------------------------------------------------------------ headers and footers


def _normalise_running(text: str) -> str:
    return re.sub(r"\d+", "#", squash(text).lower())


def _margin_lines(page: Page) -> list[tuple[str, list[Word]]]:
    """Lines in the top three and bottom three rows of a page, within its outer 15%, tagged "top"/"bottom"."""
    lines = group_lines(page.words)
    tops = sorted({round(l.top) for l in lines})
    chosen = []
    for line in lines:
        if round(line.top) in tops[:3] and line.bottom < 0.15 * page.height:
            chosen.append(("top", line.words))
        elif round(line.top) in tops[-3:] and line.top > 0.85 * page.height:
            chosen.append(("bottom", line.words))
    return chosen


def strip_running_lines(pages: list[Page]) -> tuple[str | None, str | None, dict[int, str]]:
    """Remove running headers/footers and page counters from ``pages``.

    Returns a UN symbol found among them, a running title (a worded header repeated on every page is kept where it
    first appears: it is the document's title, dropped from the other pages) and the printed page numbers the
    counters give (``printed_labels``).
    """
    candidates = {page.number: _margin_lines(page) for page in pages}
    seen_on: dict[tuple[str, str], set[int]] = defaultdict(set)
    exact_on: dict[tuple[str, str], set[int]] = defaultdict(set)
    for number, segments in candidates.items():
        for where, segment in segments:
            text = join_words(segment)
            seen_on[(where, _normalise_running(text))].add(number)
            exact_on[(where, squash(text))].add(number)
    needed = 2 if len(pages) > 2 else 1
    symbols = Counter()
    titles = Counter()
    counters: dict[int, str] = {}  # the page counter printed on each page
    for page in pages:
        drop = set()
        for where, segment in candidates[page.number]:
            text = squash(join_words(segment))
            pages_exact = exact_on[(where, text)]
            others_exact = len(pages_exact - {page.number})
            others_normalised = len(seen_on[(where, _normalise_running(text))] - {page.number})
            letters = sum(c.isalpha() for c in text)
            if others_exact >= needed and len(re.findall(r"[^\W\d_]{3,}", text)) >= 2:
                titles[text] += 1
                if page.number == min(pages_exact):
                    continue  # keep the first occurrence of a running title
            running = (
                _PAGE_NUMBER.match(text)
                or _BOILERPLATE.match(text)
                or others_exact >= needed
                or (others_normalised >= needed and any(c.isdigit() for c in text) and letters <= 6)
            )
            if running:
                if _PAGE_NUMBER.match(text) and page.number not in counters:
                    counters[page.number] = re.match(r"(?i:page\s+)?[-–—]?\s*(\d+|[ivxlcdm]+)", text).group(1)
                drop.update(id(w) for w in segment)
                found = symbol_of_line(text)
                if found and others_exact >= needed:
                    symbols[found] += 1
        if drop:
            page.words = [w for w in page.words if id(w) not in drop]
    symbol = symbols.most_common(1)[0][0] if symbols else None
    title = titles.most_common(1)[0][0] if titles else None
    return symbol, title, printed_labels(counters)


def printed_labels(counters: dict[int, str]) -> dict[int, str]:
    """Printed page numbers from the page counters in the margins (``{page: "10"}``, only where they differ from the
    page's number in the file), for a PDF without /PageLabels: a UN report's body starts its count after the
    cover and contents, so its PDF page 16 is printed page 10. Arabic counters count only when at least two pages
    agree on how far the count is from the file's (every page from the first to the last of them is then labelled;
    a counter that disagrees is taken for a misreading); roman ones label their own pages before that."""
    offsets = Counter(int(c) - page for page, c in counters.items() if c.isdigit())
    if not offsets:
        return {}
    offset, agreeing = offsets.most_common(1)[0]
    if agreeing < 2 or offset == 0:
        return {}
    numbered = [page for page, c in counters.items() if c.isdigit() and int(c) - page == offset]
    first, last = min(numbered), max(numbered)
    labels = {page: str(page + offset) for page in range(first, last + 1) if page + offset >= 1}
    labels.update({page: c.lower() for page, c in counters.items() if not c.isdigit() and page < first})
    return labels


def _first_page_title(paras: list[Paragraph], lines_by_page: list[list[Line]]) -> str | None:
    """The heading in the largest type on the first page with text (three words or more, not the UN banner)."""
    first = next((lines[0].page for lines in lines_by_page if lines), None)
    candidates = [
        p for p in paras
        if p.level is not None and p.pieces[0][1] == first and 3 <= len(p.text.split()) <= 30
    ]
    return squash(max(candidates, key=lambda p: p.size).text) if candidates else None


def _first_page_symbol(lines_by_page: list[list[Line]]) -> str | None:
    """A bare UN symbol among the first lines of the first page (a document with no running header)."""
    for lines in lines_by_page[:1]:
        for line in lines[:12]:
            found = symbol_of_line(line.text)
            if found:
                return found
    return None


# ------------------------------------------------------------------------------------- reading order


def reading_order(page: Page) -> list[Line]:
    """Lines of a page in reading order, each tagged with the column it belongs to."""
    if not page.words:
        return []
    body = (min(w.x0 for w in page.words), max(w.x1 for w in page.words))
    leaves: list[tuple[list[Word], tuple[float, float]]] = []
    _xy_cut(page.words, body, leaves, 0)
    ordered: list[Line] = []
    for words, column in leaves:
        for line in _leaf_lines(words):
            line.page = page.number
            line.column = column
            ordered.append(line)
    _mark_ragged_left(ordered)
    _mark_right_edges(ordered)
    return _drop_stacked_letters(ordered)


def _mark_right_edges(lines: list[Line]) -> None:
    """Where full lines end, for lines sharing a left edge (a box inset in the text ends before the column)."""
    by_column: dict[tuple[float, float], list[Line]] = defaultdict(list)
    for line in lines:
        by_column[line.column].append(line)
    for column, column_lines in by_column.items():
        column_lines = sorted(column_lines, key=lambda l: l.x0)
        groups = [[column_lines[0]]]
        for line in column_lines[1:]:
            if line.x0 - groups[-1][-1].x0 <= 1.5:
                groups[-1].append(line)
            else:
                groups.append([line])
        for group in groups:
            ends = sorted(l.x1 for l in group)
            edge = ends[int(0.8 * (len(ends) - 1))] if len(ends) >= 3 else column[1]
            for line in group:
                line.right_edge = edge


def _drop_stacked_letters(lines: list[Line]) -> list[Line]:
    """Three or more consecutive one- or two-character lines are text set vertically (a spine), not prose."""
    keep: list[Line] = []
    run: list[Line] = []
    for line in lines + [None]:
        if line is not None and len(line.text.strip()) <= 2 and not line.floating:
            run.append(line)
            continue
        if len(run) < 3:
            keep.extend(run)
        run = []
        if line is not None:
            keep.append(line)
    return keep


def _mark_ragged_left(lines: list[Line]) -> None:
    """Columns whose lines mostly do not start at the column's left edge are centred or right-aligned."""
    by_column: dict[tuple[float, float], list[Line]] = defaultdict(list)
    for line in lines:
        by_column[line.column].append(line)
    for column_lines in by_column.values():
        left = column_lines and min(l.x0 for l in column_lines)
        flush = sum(1 for l in column_lines if l.x0 - left < 1.5)
        if len(column_lines) >= 3 and flush < 0.5 * len(column_lines):
            for line in column_lines:
                line.ragged_left = True


def _median_size(words: list[Word]) -> float:
    return statistics.median(w.size for w in words)


def _xy_cut(words: list[Word], column: tuple[float, float], out: list, depth: int) -> None:
    if len(words) > 1 and depth < 60:
        size = _median_size(words)
        parts = _split_columns(words, size)
        if len(parts) > 1:
            for part in parts:
                _xy_cut(part, (min(w.x0 for w in part), max(w.x1 for w in part)), out, depth + 1)
            return
        parts = _merge_column_bands(_split_rows(words, size), size)
        if len(parts) > 1:
            for part in parts:
                _xy_cut(part, column, out, depth + 1)
            return
    out.append((words, column))


def _merge_column_bands(bands: list[list[Word]], size: float) -> list[list[Word]]:
    """Rejoin horizontal bands that belong to one set of columns (a row of column headings above the columns)."""
    merged = [bands[0]]
    for band in bands[1:]:
        group = merged[-1]
        if (len(_split_columns(group, size)) > 1 or len(_split_columns(band, size)) > 1) and len(
            _split_columns(group + band, size)
        ) > 1:
            merged[-1] = group + band
        else:
            merged.append(band)
    return merged


def _split_columns(words: list[Word], size: float) -> list[list[Word]]:
    """Split at vertical gutters no word crosses; a gutter that only sets off list markers is not a column."""
    ordered = sorted(words, key=lambda w: w.x0)
    parts = [[ordered[0]]]
    edge = ordered[0]  # the word reaching furthest right so far
    for word in ordered[1:]:
        if word.x0 - edge.x1 >= max(0.6 * max(size, word.size, edge.size), 3.0):
            parts.append([word])
        else:
            parts[-1].append(word)
        if word.x1 > edge.x1:
            edge = word
    merged = [parts[0]]
    for part in parts[1:]:
        if _is_column_gutter(merged[-1], part):
            merged.append(part)
        else:
            merged[-1] = merged[-1] + part
    return merged


def _is_column_gutter(left: list[Word], right: list[Word]) -> bool:
    """Two blocks side by side, not a list marker beside its text nor a wide word gap in a lone line."""
    if all(MARKER.match(w.text) or _is_marker_word(w.text) for w in left):
        return False
    left_rows, right_rows = _row_set(left), _row_set(right)
    if len(left_rows) >= 2 and len(right_rows) >= 2:
        return True
    (few, few_rows), (many, many_rows) = sorted([(left, left_rows), (right, right_rows)], key=lambda side: len(side[1]))
    if any(abs(a - b) <= 1.0 for a in few_rows for b in many_rows):
        gap = min(w.x0 for w in right) - max(w.x1 for w in left)
        return gap >= 2.5 * _median_size(left + right)  # not a justified word space lining up by chance
    centre = (min(w.top for w in few) + max(w.bottom for w in few)) / 2
    # a display word at its own height beside a block of text ("Yes" in a circle), not a line below another
    return len(many_rows) >= 2 and min(w.top for w in many) < centre < max(w.bottom for w in many)


def _is_marker_word(text: str) -> bool:
    return bool(re.fullmatch(r"\(?(?:\d{1,3}|[a-z]{1,2}|[ivxlc]{1,6}|[IVXLC]{1,6}|[A-Z])[.)]?", text))


def _row_set(words: list[Word]) -> set[float]:
    return {round(w.baseline, 1) for w in words}


def _split_rows(words: list[Word], size: float) -> list[list[Word]]:
    """Split at horizontal gaps taller than about half a line."""
    ordered = sorted(words, key=lambda w: w.top)
    parts = [[ordered[0]]]
    bottom = ordered[0].bottom
    gap = 0.45 * size
    for word in ordered[1:]:
        if word.top - bottom >= gap:
            parts.append([word])
        else:
            parts[-1].append(word)
        bottom = max(bottom, word.bottom)
    return parts


def _leaf_lines(words: list[Word]) -> list[Line]:
    """Lines of one block, top to bottom; a display word beside the text (a big "Yes") is marked floating."""
    lines = sorted(group_lines(words), key=lambda l: (l.top, l.x0))
    if len(lines) < 2:
        return lines
    body = statistics.median(l.size for l in lines)
    floats = [l for l in lines if l.size > 1.5 * body and any(_overlap(l, o) > 0 for o in lines if o is not l)]
    if not floats:
        return lines
    rest = [l for l in lines if l not in floats]
    for line in floats:
        line.floating = True
        index = next((i for i, o in enumerate(rest) if _overlap(line, o) >= 0.5 * (o.bottom - o.top)), len(rest))
        rest.insert(index, line)
    return rest


def _overlap(a: Line, b: Line) -> float:
    return min(a.bottom, b.bottom) - max(a.top, b.top)


# ------------------------------------------------------------------------------------------ statistics


@dataclass
class Stats:
    body_size: float
    pitch: dict[float, float]
    vocabulary: set[str]
    hyphenated: set[str]

    def pitch_for(self, size: float) -> float:
        return self.pitch.get(round(size * 2) / 2, 1.2 * size)


def body_stats(lines_by_page: list[list[Line]]) -> Stats:
    """The body font size, the usual line pitch per size, and the words of the document (for hyphenation)."""
    sizes = Counter()
    pitches: dict[float, Counter] = defaultdict(Counter)
    vocabulary: set[str] = set()
    hyphenated: set[str] = set()
    for lines in lines_by_page:
        for before, after in zip(lines, lines[1:]):
            delta = after.baseline - before.baseline
            if abs(after.size - before.size) < 0.5 and 0 < delta < 3 * before.size:
                pitches[round(before.size * 2) / 2][round(delta * 2) / 2] += 1
        for line in lines:
            sizes[round(line.size * 2) / 2] += len(line.text)
            tokens = re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", line.text)
            for token in tokens[1:-1] if len(tokens) > 2 else tokens:
                lowered = token.lower()
                if "-" in lowered:
                    hyphenated.add(lowered)
                    vocabulary.update(lowered.split("-"))
                else:
                    vocabulary.add(lowered)
    body = sizes.most_common(1)[0][0] if sizes else 10.0
    pitch = {size: counter.most_common(1)[0][0] for size, counter in pitches.items()}
    return Stats(body, pitch, vocabulary, hyphenated)


def mark_footnotes(lines_by_page: list[list[Line]], stats: Stats) -> None:
    """Small print below the last body-size line of a page is a footnote."""
    for lines in lines_by_page:
        body_lines = [l for l in lines if l.size >= 0.92 * stats.body_size]
        if not body_lines:
            continue
        last_body = max(l.bottom for l in body_lines)
        for line in lines:
            if line.top >= last_body - 0.5 and line.size <= 0.9 * stats.body_size:
                line.footnote = True


# ------------------------------------------------------------------------------------------ paragraphs


def paragraphs(lines_by_page: list[list[Line]], stats: Stats) -> list[Paragraph]:
    """Join lines into paragraphs; footnotes of a page follow the paragraph that runs over its foot."""
    out: list[Paragraph] = []
    current: list[Line] = []
    pending_notes: list[Line] = []

    def close():
        if current:
            out.append(_paragraph(current, stats))
            current.clear()

    def flush_notes():
        if pending_notes:
            for note in _footnote_groups(pending_notes):
                out.append(_paragraph(note, stats))
            pending_notes.clear()

    for lines in lines_by_page:
        body = _unglue_headings([l for l in lines if not l.footnote])
        for line in body:
            if line.floating:  # a display word beside a paragraph goes before it (after a heading)
                if current and len(current) == 1 and _is_heading_line(current[0], stats):
                    close()
                out.append(_paragraph([line], stats))
                continue
            if current and not _continues(current[-1], line, current, stats):
                close()
                flush_notes()
            current.append(line)
        if pending_notes:  # the previous page's notes wait for the paragraph that crossed the page break
            close()
            flush_notes()
        pending_notes.extend(l for l in lines if l.footnote)
    close()
    flush_notes()
    return out


def _unglue_headings(lines: list[Line]) -> list[Line]:
    """A heading word typeset at the end of a paragraph's last line, its number alone on the next line (the
    ICCPR's PDF: "…a contractual obligation. Article" / "12"): the word moves down to open the heading line."""
    out = list(lines)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if (len(a.words) >= 2 and len(b.words) == 1 and re.fullmatch(r"[\dIVXLC]+[A-Z]?", b.words[0].text)
                and _HEADING_WORD.match(f"{a.words[-1].text} {b.words[0].text}") and _SENTENCE_END.search(a.words[-2].text)
                and a.page == b.page and b.top > a.top):
            word, number = a.words[-1], b.words[0]
            width, gap = word.x1 - word.x0, 0.25 * number.size
            moved = replace(word, x0=number.x0 - gap - width, x1=number.x0 - gap, top=number.top, bottom=number.bottom,
                            baseline=number.baseline, space_before=False)
            out[i] = replace(a, words=a.words[:-1])
            out[i + 1] = replace(b, words=[moved, replace(number, space_before=True)])
    return out


def _footnote_groups(lines: list[Line]) -> list[list[Line]]:
    groups: list[list[Line]] = []
    for line in lines:
        starts_note = bool(re.match(r"^(?:\d{1,3}|\*{1,3}|[a-z†‡§])(?:\s|$)", line.text)) or (
            line.words[0].size < 0.85 * line.size and line.words[0].text[:1].isdigit()
        )
        if not groups or starts_note or line.page != groups[-1][-1].page:
            groups.append([line])
        else:
            groups[-1].append(line)
    return groups


def _is_heading_line(line: Line, stats: Stats) -> bool:
    return _heading_kind(line.text, line.size, line.bold, stats) is not None


def _continues(a: Line, b: Line, para: list[Line], stats: Stats) -> bool:
    """Does line ``b`` continue the paragraph whose last line is ``a``?"""
    if MARKER.match(b.text) or _LEADER.search(a.text) or (_HEADING_WORD.match(b.text) and len(b.text.split()) <= 8):
        return False
    if abs(a.size - b.size) > 0.15 * max(a.size, b.size) or a.bold != b.bold:
        return False
    if len(para) == 1 and _is_heading_line(a, stats) and not _is_heading_line(b, stats):
        return False
    same_flow = a.page == b.page and b.top > a.top and b.x0 < a.x1 and a.x0 < b.x1
    if not same_flow:
        return _sentence_runs_on(a, b)
    if b.baseline - a.baseline > 1.45 * stats.pitch_for(a.size):
        return False
    left = a.column[0]
    right = max(b.right_edge, a.x1, b.x1)
    width = max(right - left, 1.0)
    indent = 0.8 * a.size
    hanging = MARKER.match(para[0].text) and len(para[0].words) > 1 and abs(b.x0 - para[0].words[1].x0) < 2
    if a.ragged_left or (_is_heading_line(a, stats) and _is_heading_line(b, stats)):
        return True  # centred or right-aligned text: only gaps, markers and fonts separate paragraphs
    if b.x0 >= a.x0 + indent and b.x0 >= left + indent and not hanging:
        return False  # first-line indent of a new paragraph
    if a.text.endswith(("-", "\u00ad")) and b.text[:1].islower():
        return True  # a hyphenated word never ends a paragraph
    room = right - a.x1
    next_word = b.words[0].x1 - b.words[0].x0
    if room > 0.4 * width or room > next_word + 0.6 * a.size:
        return False  # the line stops short though the next word would have fitted: the paragraph ended
    return True


def _sentence_runs_on(a: Line, b: Line) -> bool:
    """Across a column or page break: join when the sentence obviously continues."""
    if abs(a.size - b.size) > 0.1 * a.size or a.footnote != b.footnote:
        return False
    first = b.text[:1]
    if first.islower():
        return True
    return a.text.endswith((",", "-", "–", "—")) and not _SENTENCE_END.search(a.text)


def _paragraph(lines: list[Line], stats: Stats) -> Paragraph:
    pieces: list[tuple[str, int]] = []
    for index, line in enumerate(lines):
        text = squash(_LEADER.sub(" … ", line.text))
        if index == 0:
            pieces.append((text, line.page))
            continue
        previous = pieces[-1][0]
        glue, previous, text = _glue(previous, text, stats)
        pieces[-1] = (previous, pieces[-1][1])
        pieces.append((glue + text, line.page))
    text = squash("".join(piece for piece, _ in pieces))
    level = _heading_kind(text, lines[0].size, all(l.bold for l in lines), stats) if len(text) <= 200 else None
    if lines[0].footnote or (lines[0].page == 1 and text.lower() in _MASTHEAD):
        level = None
    return Paragraph(pieces, level, lines[0].size)


def _glue(previous: str, text: str, stats: Stats) -> tuple[str, str, str]:
    """How line ``text`` attaches to the end of ``previous``: a space, nothing (a split word), or a kept hyphen."""
    if previous.endswith("\u00ad"):
        return "", previous[:-1], text
    if re.search(r"[A-Za-z]{2,}-$", previous) and text[:1].isalpha():
        stem = re.search(r"([^\W\d_]+)-$", previous).group(1)
        head = re.match(r"[^\W\d_]+", text)
        tail = head.group(0) if head else ""
        if _keep_hyphen(stem, tail, stats):
            return "", previous, text
        return "", previous[:-1], text
    if re.search(r"(?:^|[\s(])[A-Z]{1,6}(?:/[A-Za-z0-9.]+)*/$", previous) and text[:1].isalnum():
        return "", previous, text  # a UN symbol broken after a slash: "A/" + "HRC/20/27"
    if re.search(r"(?:https?://|www\.)\S*[/=?&#_]$", previous) and re.match(r"[\w/=?&#%.-]+(?:\s|$)", text):
        return "", previous, text  # a web address broken at the end of a line
    return " ", previous, text


def _keep_hyphen(stem: str, tail: str, stats: Stats) -> bool:
    """Is "stem-" at a line end a real hyphen ("non-governmental") rather than hyphenation ("prepa-ration")?"""
    low_stem, low_tail = stem.lower(), tail.lower()
    if not tail or tail[:1].isupper():
        return True
    if f"{low_stem}-{low_tail}" in stats.hyphenated:
        return True
    if low_stem + low_tail in stats.vocabulary:
        return False
    if low_stem in _KEEP_HYPHEN_PREFIXES:
        return True
    return len(low_stem) > 2 and len(low_tail) > 2 and low_stem in stats.vocabulary and low_tail in stats.vocabulary


def _heading_kind(text: str, size: float, bold: bool, stats: Stats) -> int | None:
    """Heading level of a paragraph, or None: larger type, bold, ALL CAPS, "Article 14", "I. Introduction"."""
    text = squash(text)
    if not text or len(text) > 200 or _LEADER.search(text) or " … " in f"{text} " or _NUMBERED.match(text):
        return None
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 4 or re.fullmatch(r"[IVXLC]+\.?|[A-Z]\.?", text):
        return None
    ends_like_sentence = text.endswith((".", ",", ";")) and not re.search(r"\b[IVXLC]+\.$|\bNo\.$", text)
    words = len(text.split())
    if size >= 1.3 * stats.body_size and words <= 25:
        return 1
    if size >= 1.12 * stats.body_size and words <= 25 and not ends_like_sentence:
        return 2
    if (_HEADING_WORD.match(text) and words <= 12) or text.lower() in ("preamble", "annex", "annexes", "contents"):
        return 3
    if text.isupper() and words <= 15 and len(letters) >= 4 and not ends_like_sentence:
        return 2
    if bold and words <= 30 and not ends_like_sentence and size >= 0.95 * stats.body_size:
        return 3 if not _ROMAN_HEADING.match(text) else 2
    if _ROMAN_HEADING.match(text) and words <= 15 and not ends_like_sentence and text[:1] in "IVXLC":
        return 2
    return None
