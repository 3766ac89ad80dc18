"""Helpers shared by the PDF, Word and HTML loaders (``pdf.py``, ``docx.py``, ``html.py``).

The extractors describe a document as a list of ``Paragraph`` objects that ``assemble`` turns into an
``Extracted`` (text, headings, pages); ``clean_title``, ``symbol_of_line`` and ``first_symbol`` pick the
title and the UN document symbol. This module imports no format module, so every format module imports
only this one (and ``formats.py``, the dispatcher, imports the format modules lazily).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..types import Extracted, Heading, PageSpan

# A UN document symbol: "A/80/67", "A/HRC/20/27", "CCPR/C/3/Rev.7", "E/CN.4/2005/1", "S/RES/2334 (2016)".
SYMBOL = re.compile(r"(?<![\w/])((?:[A-Z]{1,8}(?:\.\d+)?/)(?:[A-Za-z0-9.\-]+/){0,6}[A-Za-z0-9.\-]*\d[A-Za-z0-9.\-]*)(?![\w/])")
_SYMBOL_LINE = re.compile(r"^\s*" + SYMBOL.pattern + r"(?:\s*\(\d{4}\))?\s*\*?\s*$")
_JUNK_TITLE = re.compile(
    r"^(microsoft (word|powerpoint|excel)\s*-|untitled|document\d*$|slide \d+$|title$|\s*$)"
    r"|\.(docx?|pdf|qxp|qxd|indd|rtf|odt|txt|html?|tmp|dot|ps|eps|p65|pm\d|fm)\s*$",
    re.I,
)
_SPACES = re.compile(r"\s+")


@dataclass
class Paragraph:
    """One paragraph of extracted text, as pieces ``(text, page)`` joined in order; ``level`` marks a heading."""

    pieces: list[tuple[str, int | None]] = field(default_factory=list)
    level: int | None = None
    size: float = 0.0  # type size of a PDF paragraph (to pick a title from the first page)

    @property
    def text(self) -> str:
        return "".join(piece for piece, _ in self.pieces)


def squash(text: str) -> str:
    """Collapse all runs of whitespace to one space and strip the ends."""
    return _SPACES.sub(" ", text).strip()


def clean_title(title, rel: str) -> str | None:
    """A metadata title if it means something: not empty, not "Microsoft Word - x.docx", not a file name."""
    if not isinstance(title, str):
        return None
    title = squash(title.replace("\x00", ""))
    if len(title) < 3 or len(title) > 300 or _JUNK_TITLE.search(title):
        return None
    stem = PurePosixPath(rel).stem
    if title.lower() in (stem.lower(), PurePosixPath(rel).name.lower()):
        return None
    if " " not in title and re.search(r"[_\d]", title):  # "0443671_factsheet_def", "DOC123"
        return None
    return title


def symbol_of_line(line: str) -> str | None:
    """The UN document symbol if ``line`` consists of nothing but a symbol, else None."""
    match = _SYMBOL_LINE.match(line)
    return match.group(1) if match else None


def first_symbol(lines) -> str | None:
    """The first line of ``lines`` that is a bare UN document symbol."""
    for line in lines:
        found = symbol_of_line(line)
        if found:
            return found
    return None


def assemble(
    paragraphs: list[Paragraph],
    kind: str,
    title: str | None = None,
    symbol: str | None = None,
    labels: dict[int, str] | None = None,
) -> Extracted:
    """Join paragraphs with one blank line; record headings and the page spans of every character."""
    labels = labels or {}
    parts: list[str] = []
    headings: list[Heading] = []
    spans: list[list] = []  # [start, end, page]
    pos = 0
    for para in paragraphs:
        pieces = [(piece, page) for piece, page in para.pieces if piece]
        if not squash("".join(p for p, _ in pieces)):
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        start = pos
        for piece, page in pieces:
            parts.append(piece)
            if page is not None:
                if spans and spans[-1][2] == page and spans[-1][1] == pos:
                    spans[-1][1] = pos + len(piece)
                else:
                    spans.append([pos, pos + len(piece), page])
            pos += len(piece)
        if para.level is not None:
            headings.append(Heading(start, pos, para.level, squash(para.text)))
    text = "".join(parts)
    return Extracted(
        text=text,
        headings=tuple(headings),
        pages=_cover(spans, len(text), labels),
        title=title,
        symbol=symbol,
        kind=kind,
    )


def _cover(spans: list[list], length: int, labels: dict[int, str]) -> tuple[PageSpan, ...]:
    """Stretch spans so they tile ``[0, length)``: the blank line between two pages goes to the earlier one."""
    if not spans:
        return ()
    merged: list[list] = []
    for start, end, page in spans:
        if merged and merged[-1][2] == page:
            merged[-1][1] = end
        else:
            merged.append([start, end, page])
    merged[0][0] = 0
    for before, after in zip(merged, merged[1:]):
        before[1] = after[0]
    merged[-1][1] = length
    return tuple(PageSpan(s, e, p, labels.get(p)) for s, e, p in merged)
