"""Word (.docx) loader (python-docx): paragraphs, list items and table rows in document order.

Paragraph styles "Title" and "Heading N" (or an outline level) make headings; each table row becomes one
paragraph with its cells separated by " | "; the title comes from the core properties. A paragraph that
holds only pictures (a scanned page pasted into the document) is read by OCR (``qa/ocr.py``), its text taking
the picture's place; every picture is read once, cached by its content hash like a scanned PDF page.
"""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.table import Table

from ..errors import DocumentError
from ..types import Extracted
from .common import Paragraph, assemble, clean_title, first_symbol, squash

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def extract_docx(rel: str, data: bytes, settings=None) -> Extracted:
    """Clean text, headings and title of a Word document; ``DocumentError`` for anything else. Pictures that
    are a paragraph of their own are OCR'd (cached in the index folder of ``settings``)."""
    check_package(rel, data)
    document = open_document(rel, data)
    reader = _PictureReader(settings)
    paragraphs = list(_body_paragraphs(document, reader))
    symbol = first_symbol(_header_lines(document)) or first_symbol(squash(p.text) for p in paragraphs[:15])
    title = clean_title(document.core_properties.title, rel)
    extracted = assemble(paragraphs, "docx", title=title, symbol=symbol)
    if not extracted.text.strip():
        raise DocumentError(rel, "the Word document contains no text")
    return extracted


def check_package(rel: str, data: bytes) -> None:
    """The zip must open, hold ``word/document.xml`` and not unpack to an absurd size (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(rel, f"not a Word document: the zip archive is damaged ({exc})") from None
    names = {info.filename for info in infos}
    if "word/document.xml" not in names:
        raise DocumentError(rel, "not a Word document (the zip has no word/document.xml)")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise DocumentError(rel, f"the Word document unpacks to {unpacked / 1e6:.0f} MB; refusing it (a zip bomb?)")


def open_document(rel: str, data: bytes):
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises KeyError, ValueError, lxml errors…
        message = str(exc).strip() or type(exc).__name__
        raise DocumentError(rel, f"not a readable Word document ({message[:160]})") from None


def _body_paragraphs(document, reader):
    """Paragraphs and table rows of the body, in order; a paragraph of pictures only, the text OCR reads."""
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            yield from _table_rows(block)
        else:
            text = _paragraph_text(block)
            if text:
                yield Paragraph([(text, None)], _heading_level(block))
            else:
                for blob in _pictures(block):
                    yield from reader.paragraphs(blob)


def _pictures(paragraph) -> list[bytes]:
    """The bytes of the pictures (inline or floating ``w:drawing``, old ``v:imagedata``) in a paragraph."""
    ids = paragraph._p.xpath(".//a:blip/@r:embed") + paragraph._p.xpath(".//*[local-name()='imagedata']/@*[local-name()='id']")
    blobs = []
    for rid in ids:
        part = paragraph.part.related_parts.get(rid)
        blob = getattr(part, "blob", None)
        if blob:
            blobs.append(blob)
    return blobs


class _PictureReader:
    """OCR of a document's pictures (the engine is loaded only when there is one); a picture OCR finds no text
    in (a photo, a logo, handwriting) adds nothing."""

    def __init__(self, settings=None):
        self.settings = settings
        self._where = None  # (threads, cache folder), the same for every picture of the document

    def paragraphs(self, blob: bytes) -> list[Paragraph]:
        from .. import ocr
        from .pdf import ocr_paragraphs

        if self._where is None:
            self._where = (ocr.threads_for(self.settings), ocr.cache_folder(self.settings))
        page = ocr.ocr_image_bytes(blob, *self._where)
        if page is None or page.status != "ok":
            return []
        return ocr_paragraphs(page)


def _paragraph_text(paragraph) -> str:
    return squash(paragraph.text.replace("\t", " "))


def _heading_level(paragraph) -> int | None:
    """Level from the style ("Title" → 1, "Heading 2" → 2) or from an explicit outline level."""
    try:
        name = paragraph.style.name if paragraph.style is not None else ""
    except (KeyError, ValueError, AttributeError):
        name = ""
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.match(name or "")
    if match:
        return max(1, min(6, int(match.group(1))))
    levels = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if levels and levels[0].isdigit() and int(levels[0]) < 6:
        return int(levels[0]) + 1
    return None


def _table_rows(table):
    """One paragraph per row, cells joined by " | " (merged cells once); nested tables follow their row."""
    for row in table.rows:
        cells = []
        seen = set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = squash(" ".join(_paragraph_text(p) for p in cell.paragraphs))
            if text:
                cells.append(text)
        if cells:
            yield Paragraph([(" | ".join(cells), None)])
        for cell in row.cells:
            for nested in cell.tables:
                yield from _table_rows(nested)


def _header_lines(document):
    """Text lines of the page headers (where UN documents print their symbol)."""
    for section in document.sections:
        try:
            for paragraph in section.header.paragraphs:
                for part in re.split(r"\s{2,}|\t", paragraph.text):
                    if part.strip():
                        yield part.strip()
        except (KeyError, ValueError, AttributeError):
            continue
