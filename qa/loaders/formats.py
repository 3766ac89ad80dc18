"""Loaders for real documents: PDF, Word (.docx) and HTML.

``extract(kind, rel, data, settings)`` runs the format's extractor in a forked child process so that a
damaged file that makes a parser loop forever is stopped after ``settings.file_timeout_s`` seconds.
The extractors themselves live in ``pdf.py``, ``docx.py`` and ``html.py``; they describe the document as
a list of ``Paragraph`` objects that ``assemble`` turns into an ``Extracted`` (text, headings, pages).
"""

from __future__ import annotations

import multiprocessing
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..errors import DocumentError
from ..types import Extracted, Heading, PageSpan

DEFAULT_TIMEOUT_S = 120.0

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


# ---------------------------------------------------------------------------------------------- dispatch


def _extractor(kind: str, rel: str):
    """The extractor function of a format (importing its parser)."""
    if kind == "pdf":
        from .pdf import extract_pdf

        return extract_pdf
    if kind == "docx":
        from .docx import extract_docx

        return extract_docx
    if kind == "html":
        from .html import extract_html

        return extract_html
    raise DocumentError(rel, f"no extractor for '{kind}' files")


def extract_in_process(kind: str, rel: str, data: bytes, settings=None) -> Extracted:
    """Extract without a child process or time limit (used by the child, benchmarks and tests)."""
    return _extractor(kind, rel)(rel, data)


def extract(kind: str, rel: str, data: bytes, settings=None) -> Extracted:
    """Extract a PDF, Word or HTML file within the per-file time limit; raises ``DocumentError``."""
    _extractor(kind, rel)  # import the parser here, once, so that every forked child starts with it loaded
    timeout = float(getattr(settings, "file_timeout_s", None) or DEFAULT_TIMEOUT_S)
    if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        # No fork (Windows), or inside a daemonic pool worker that may not have children: no time limit.
        return extract_in_process(kind, rel, data, settings)
    return _run_with_time_limit(kind, rel, data, settings, timeout)


def _child(conn, kind: str, rel: str, data: bytes, settings) -> None:
    """Child process body: send back ``("ok", Extracted)``, ``("error", reason)`` or ``("crash", text)``."""
    try:
        result = ("ok", extract_in_process(kind, rel, data, settings))
    except DocumentError as exc:
        result = ("error", exc.reason)
    except MemoryError:
        result = ("error", "the file needs too much memory to extract; it may be damaged")
    except BaseException as exc:  # noqa: BLE001 - any parser failure becomes a reason, never a traceback
        result = ("crash", f"{type(exc).__name__}: {exc}"[:300])
    try:
        conn.send(result)
    finally:
        conn.close()


def _run_with_time_limit(kind: str, rel: str, data: bytes, settings, timeout: float) -> Extracted:
    # fork: the child shares the parent's imports (no re-import of the app or of torch) and ``data``.
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, kind, rel, data, settings), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise DocumentError(rel, f"extraction took longer than {timeout:g} s; the file may be damaged")
        try:
            result = receiver.recv()
        except (EOFError, OSError):
            child.join(5)
            raise DocumentError(
                rel, f"the extractor crashed (exit code {child.exitcode}) while reading the file; it may be damaged"
            ) from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    status, payload = result[0], result[1]
    if status == "ok":
        return payload
    if status == "error":
        raise DocumentError(rel, payload)
    label = {"pdf": "PDF", "docx": "Word document", "html": "HTML file"}[kind]
    raise DocumentError(rel, f"the {label} could not be read ({payload}); it may be damaged")
