"""Loaders for real documents: PDF, Word (.docx) and HTML — the dispatcher.

``extract(kind, rel, data, settings)`` runs the format's extractor in a forked child process so that a
damaged file that makes a parser loop forever is stopped after ``settings.file_timeout_s`` seconds.
A scanned PDF's OCR reports each page it reads through the same pipe (``progress("ocr", done, total)``),
and every page read gives the child ``settings.ocr_page_timeout_s`` more seconds: the limit scales with
the pages to read, and a page that hangs stops the child after one page's budget.
The extractors themselves live in ``pdf.py``, ``docx.py`` and ``html.py``; the helpers they share
(``Paragraph``, ``assemble``, ``clean_title``, …) live in ``common.py`` and are re-exported here.
"""

from __future__ import annotations

import multiprocessing
import time

from ..errors import DocumentError
from ..types import Extracted
from .common import (  # noqa: F401 - re-exported: callers import these from ``qa.loaders.formats``
    SYMBOL,
    Paragraph,
    _cover,
    assemble,
    clean_title,
    first_symbol,
    squash,
    symbol_of_line,
)

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_PAGE_TIMEOUT_S = 60.0  # per scanned page read by OCR (7–11 CPU-seconds a page on one core)


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


def extract_in_process(kind: str, rel: str, data: bytes, settings=None, progress=None) -> Extracted:
    """Extract without a child process or time limit (used by the child, benchmarks and tests).
    ``progress(stage, done, total)`` hears of each scanned page OCR reads."""
    if kind == "pdf":
        pages = None if progress is None else (lambda done, total: progress("ocr", done, total))
        return _extractor(kind, rel)(rel, data, settings=settings, progress=pages)
    if kind == "docx":  # pictures of text are read by OCR, cached in the index folder
        return _extractor(kind, rel)(rel, data, settings=settings)
    return _extractor(kind, rel)(rel, data)


def extract(kind: str, rel: str, data: bytes, settings=None, progress=None) -> Extracted:
    """Extract a PDF, Word or HTML file within the per-file time limit; raises ``DocumentError``."""
    _extractor(kind, rel)  # import the parser here, once, so that every forked child starts with it loaded
    timeout = float(getattr(settings, "file_timeout_s", None) or DEFAULT_TIMEOUT_S)
    if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        # No fork (Windows), or inside a daemonic pool worker that may not have children: no time limit.
        return extract_in_process(kind, rel, data, settings, progress)
    return _run_with_time_limit(kind, rel, data, settings, timeout, progress)


def page_timeout(settings) -> float:
    return float(getattr(settings, "ocr_page_timeout_s", None) or DEFAULT_PAGE_TIMEOUT_S)


def _child(conn, kind: str, rel: str, data: bytes, settings) -> None:
    """Child process body: send ``("progress", stage, done, total)`` as scanned pages are read, then
    ``("ok", Extracted)``, ``("error", reason)`` or ``("crash", text)``."""
    def progress(stage: str, done: int, total: int) -> None:
        conn.send(("progress", stage, done, total))

    try:
        result = ("ok", extract_in_process(kind, rel, data, settings, progress))
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


def _run_with_time_limit(kind: str, rel: str, data: bytes, settings, timeout: float, progress=None) -> Extracted:
    # fork: the child shares the parent's imports (no re-import of the app or of torch) and ``data``.
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, kind, rel, data, settings), daemon=True)
    child.start()
    sender.close()
    try:
        result = _receive(receiver, child, rel, timeout, page_timeout(settings), progress)
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


def _receive(receiver, child, rel: str, timeout: float, per_page: float, progress) -> tuple:
    """The child's result, passing its progress on; the deadline moves ``per_page`` seconds past each page read."""
    deadline = time.monotonic() + timeout
    pages_done, pages_total = 0, 0
    while True:
        if not receiver.poll(max(0.0, deadline - time.monotonic())):
            if pages_total and pages_done < pages_total:
                raise DocumentError(
                    rel, f"OCR of scanned page {pages_done + 1} of {pages_total} took longer than {per_page:g} s; "
                    "the page may be damaged or unusually large"
                )
            raise DocumentError(rel, f"extraction took longer than {timeout:g} s; the file may be damaged")
        try:
            message = receiver.recv()
        except (EOFError, OSError):
            child.join(5)
            raise DocumentError(
                rel, f"the extractor crashed (exit code {child.exitcode}) while reading the file; it may be damaged"
            ) from None
        if message[0] != "progress":
            return message
        _, stage, pages_done, pages_total = message
        deadline = time.monotonic() + per_page if pages_done < pages_total else time.monotonic() + timeout
        if progress is not None:
            progress(stage, pages_done, pages_total)
