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

# The structural headings of legal texts in the UN's six languages, alone on their line: "Article 14",
# "Article premier", "Artículo 3", "Статья 12", "المادة 5", "第十九条", "PART II", "Chapitre III", "Preamble";
# optionally followed by a short title after a dash or colon ("Article 5 – Prohibition of torture").
_NUMBER = r"(?:\d{1,3}[A-Za-z]?|[IVXLC]{1,7}|premier|première|primero|primera|unique|único)"
_WORD_LEVEL = {  # the word (lower case) → heading level
    **dict.fromkeys("part partie parte часть الجزء الباب chapter chapitre capítulo capitulo глава الفصل "
                    "section sección seccion раздел".split(), 2),
    **dict.fromkeys("article artículo articulo статья المادة rule règle regla правило annex annexe anexo "
                    "приложение المرفق".split(), 3),
}
_STRUCTURE_HEADING = re.compile(
    r"(?i:(?P<word>" + "|".join(sorted(_WORD_LEVEL, key=len, reverse=True)) + r"))\s+" + _NUMBER + r"\.?"
    r"(?:\s*[.:–—-]\s*\S.*)?"
    r"|(?P<zh>第[一二三四五六七八九十百零〇两\d]{1,6}(?P<zh_kind>[条條章节節部编編]))(?:\s+\S.*)?"
    r"|(?P<preamble>(?i:preamble|préambule|preámbulo|преамбула)|الديباجة|序言|前言)"
)
STRUCTURE_HEADING_MAX = 90  # characters: a longer line is prose that starts with "Article 5 of …"
# The headings of a government's reply to a communication, alone on their line: "Reply to question 1", "Réponse à la
# question 2", "Respuesta a la pregunta 3", "Ответ на вопрос 4", "الرد على السؤال 5", "对问题6的答复", "Question 7",
# "On the first point of the request" (level 2).
_ORDINAL = r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)"
_REPLY_HEADING = re.compile(
    r"(?i:(?:(?:answer|reply|response)\s+to\s+(?:question|paragraph|point)|question|paragraph"
    r"|réponse\s+(?:à\s+la\s+question|au\s+paragraphe|au\s+point)|question"
    r"|respuesta\s+a\s+la\s+pregunta|pregunta|ответ\s+на\s+вопрос|вопрос)\s+(?:n[°o.]\s*)?\d{1,3}[a-z]?\.?"
    r"|on\s+the\s+" + _ORDINAL + r"\s+(?:point|question)(?:\s+of\s+the\s+(?:request|communication|letter))?)"
    r"|(?:الرد\s+على\s+)?السؤال\s+[\d٠-٩]{1,3}"
    r"|(?:对|關於|关于)?问题\s*[\d一二三四五六七八九十]{1,4}\s*(?:的答复|的回复)?"
)


def structure_heading_level(line: str) -> int | None:
    """The heading level of a line that is only a legal text's structural heading (see ``_STRUCTURE_HEADING``) or a
    reply's ("Reply to question 1": ``_REPLY_HEADING``), or None: parts, chapters, sections and a reply's questions are
    level 2, articles, rules, annexes and preambles level 3."""
    line = line.strip()
    if not line or len(line) > STRUCTURE_HEADING_MAX or line.endswith((",", ";")):
        return None
    if line.endswith(".") and len(line.split()) > 3:  # "Article 5 – States shall take measures." is prose
        return None
    match = _STRUCTURE_HEADING.fullmatch(line)
    if match is None:
        return 2 if _REPLY_HEADING.fullmatch(line.rstrip(":")) else None
    if match.group("word"):
        return _WORD_LEVEL[match.group("word").lower()]
    if match.group("zh"):
        return 3 if match.group("zh_kind") in "条條" else 2
    return 3


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
