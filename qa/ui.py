"""Presentation logic for the Streamlit page (``app.py``): HTML for answers and passages, uploads, index checks.

``app.py`` only lays out widgets; everything that decides *what* is shown lives here as plain
functions that tests can call directly.

Safety rule: every piece of text that comes from a document (passage text, titles, sections,
file names) or from a user (questions, uploaded file names) goes through :func:`esc` before it
is placed in HTML, and through :func:`md_escape` before it is placed in Markdown (``st.error``,
``st.caption``, status labels…). HTML is rendered with ``st.html``, which applies no Markdown
and sanitises with DOMPurify on top of our escaping.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .citations import citation, page_label, section_label
from .errors import DocumentError
from .loaders import SUPPORTED_EXTENSIONS, discover, is_ignored_name, sniff_kind

# ------------------------------------------------------------------------------------------ escaping

_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def esc(text) -> str:
    """HTML-escape text (``<``, ``>``, ``&``, quotes) so that it is shown literally."""
    return html.escape("" if text is None else str(text), quote=True)


def md_escape(text) -> str:
    """Make text literal in Streamlit Markdown: backslash-escape all ASCII punctuation.

    That neutralises emphasis, links, images, headings, lists, tables, raw HTML, ``$`` maths,
    ``:colour[…]`` directives and autolinks (``http\\://``, ``www\\.``), so a document or file
    name containing them is shown as typed.
    """
    text = "" if text is None else str(text)
    return _MD_SPECIAL.sub(r"\\\1", text)


# ------------------------------------------------------------------------------------------ marking


def _clamp_spans(spans, lo: int, hi: int) -> list[tuple[int, int]]:
    out = []
    for s, e in spans or ():
        s, e = max(int(s), lo), min(int(e), hi)
        if e > s:
            out.append((s, e))
    return out


_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def _paragraphs(escaped: str) -> str:
    """Blank lines (paragraph breaks) → a short block gap instead of a full empty line; the text is unchanged."""
    return _BLANK_LINES.sub(lambda m: f'<span class="vb-pb">{m.group(0)}</span>', escaped)


def marked_html(text: str, base: int, highlights=(), region: tuple[int, int] | None = None, region_id: str | None = None) -> str:
    """Escaped HTML of ``text`` (which starts at absolute offset ``base`` of its document).

    ``highlights`` (absolute ``(start, end)`` spans) become ``<mark>``; ``region`` (absolute) is wrapped
    in ``<span class="vb-region">`` (with ``id=region_id`` on its first piece) so a passage can be shown
    inside its surrounding text. Spans outside the text are clipped; overlapping spans are fine.
    """
    end = base + len(text)
    marks = _clamp_spans(highlights, base, end)
    regions = _clamp_spans([region] if region else [], base, end)
    cuts = {base, end}
    for s, e in marks + regions:
        cuts.update((s, e))
    cuts = sorted(cuts)
    out: list[str] = []
    in_region = False
    region_opened = False
    for s, e in zip(cuts, cuts[1:]):
        inside_region = any(rs <= s and e <= re_ for rs, re_ in regions)
        if inside_region and not in_region:
            attr = f' id="{esc(region_id)}"' if region_id and not region_opened else ""
            out.append(f'<span class="vb-region"{attr}>')
            region_opened = True
        elif not inside_region and in_region:
            out.append("</span>")
        in_region = inside_region
        piece = _paragraphs(esc(text[s - base : e - base]))
        if any(ms <= s and e <= me for ms, me in marks):
            out.append(f"<mark>{piece}</mark>")
        else:
            out.append(piece)
    if in_region:
        out.append("</span>")
    return "".join(out)


# ------------------------------------------------------------------------------------------ answers


@dataclass
class Turn:
    """One question and what the app showed for it (kept in the session's history)."""

    id: int
    question: str
    answer: object | None = None  # qa.types.Answer
    error: str | None = None
    contexts: dict = field(default_factory=dict)  # chunk_id -> (start, text) of the passage with its neighbours
    relevance: dict = field(default_factory=dict)  # chunk_id -> cosine similarity to the question
    docs: tuple[str, ...] = ()
    seconds: float = 0.0


def passage_anchor(turn_id: int, rank: int) -> str:
    return f"vb-p-{int(turn_id)}-{int(rank)}"


def merge_chunks(chunks) -> tuple[int, str]:
    """Neighbouring (overlapping) chunks → ``(start, text)`` of the continuous stretch they cover.

    Gaps between chunks (text that belongs to no chunk) are filled with `` … ``; offsets are exact up
    to the first gap (``surrounding`` re-locates the passage when there is one).
    """
    chunks = sorted(chunks, key=lambda c: (c.start, c.end))
    if not chunks:
        return 0, ""
    start = chunks[0].start
    parts = [chunks[0].text]
    cursor = chunks[0].end
    for c in chunks[1:]:
        if c.end <= cursor:
            continue
        if c.start <= cursor:
            parts.append(c.text[cursor - c.start :])
        else:
            parts.append(" … ")
            parts.append(c.text)
        cursor = c.end
    return start, "".join(parts)


def surrounding(store, passage, before: int = 1, after: int = 1) -> tuple[int, str] | None:
    """The passage with its neighbouring chunks, as ``(absolute start, text)``; None if the chunk is gone."""
    chunks = store.neighbours(passage.chunk_id, before, after)
    if not chunks:
        return None
    start, text = merge_chunks(chunks)
    # Only trust offsets when the merged text really contains the passage where we think it is.
    if text[passage.start - start : passage.end - start] != passage.text:
        found = text.find(passage.text)
        if found < 0:
            return None
        start = passage.start - found
    return start, text


def answer_question(store, embedder, question: str, *, k: int, docs=None, history=None, settings=None, turn_id: int = 0) -> Turn:
    """Ask (``qa.answer.ask``) and collect what the page needs to show the answer; QAErrors propagate."""
    from .answer import ask

    started = time.perf_counter()
    mode = getattr(settings, "mode", "hybrid")
    max_chars = getattr(settings, "max_question_chars", 2000)
    answer = ask(store, embedder, question, k=k, docs=list(docs) if docs else None, mode=mode,
                 history=list(history or []) or None, max_question_chars=max_chars)
    turn = Turn(id=turn_id, question=question, answer=answer, docs=tuple(docs or ()))
    for p in answer.passages:
        ctx = surrounding(store, p)
        if ctx is not None:
            turn.contexts[p.chunk_id] = ctx
    if mode != "bm25":
        turn.relevance = dict(answer.cosines)
    turn.seconds = time.perf_counter() - started
    return turn


def relevance_level(cosine: float | None) -> int:
    """0–5 dots for a question–passage cosine.

    With all-MiniLM-L6-v2 a whole passage rarely scores above 0.5 even when it answers the question
    (the answer is one sentence among several); unrelated text scores around 0.
    """
    if cosine is None:
        return 0
    for level, threshold in ((5, 0.45), (4, 0.35), (3, 0.25), (2, 0.15), (1, 0.05)):
        if cosine >= threshold:
            return level
    return 0


_RELEVANCE_WORDS = {5: "very high", 4: "high", 3: "medium", 2: "low", 1: "very low", 0: "none"}


def relevance_html(cosine: float | None) -> str:
    if cosine is None:
        return ""
    level = relevance_level(cosine)
    dots = "".join(f'<i class="{"on" if i < level else "off"}"></i>' for i in range(5))
    title = f"Relevance {_RELEVANCE_WORDS[level]} (cosine similarity {cosine:.2f} to the question)"
    return f'<span class="vb-rel" title="{esc(title)}">relevance <span class="vb-dots">{dots}</span></span>'


def question_html(question: str) -> str:
    return f'<div class="vb-question">{esc(question)}</div>'


def answer_html(answer, turn_id: int) -> str:
    """The short extractive answer: 1–3 sentences quoted verbatim, each with its marker [n]."""
    rows = []
    for s in answer.sentences:
        ref = passage_anchor(turn_id, s.passage_rank)
        rows.append(
            f'<p class="vb-quote">“{esc(s.text)}”&nbsp;<a class="vb-ref" href="#{ref}" '
            f'title="Go to passage {s.passage_rank}">[{s.passage_rank}]</a></p>'
        )
    if not rows:
        return '<div class="vb-answer"><p class="vb-muted">The passages below are the closest matches.</p></div>'
    label = "Answer, quoted from the documents"
    return f'<div class="vb-answer"><div class="vb-label">{label}</div>{"".join(rows)}</div>'


NOT_ANSWERED = "The documents don't seem to answer this."


def not_answered_html(answer, docs_count: int | None = None) -> str:
    scope = ""
    if docs_count:
        scope = f" in the {docs_count} selected document{'s' if docs_count != 1 else ''}"
    return (
        '<div class="vb-answer vb-none">'
        f"<p><strong>{esc(NOT_ANSWERED)}</strong></p>"
        f'<p class="vb-muted">Nothing{esc(scope)} matches the question closely enough to quote as an answer. '
        "Try other words, or check the closest passages below.</p></div>"
    )


def location_parts(passage) -> list[str]:
    """Section, paragraph and page of a passage, as shown on its card (plain text)."""
    parts = []
    section = section_label(passage.section)
    if section:
        parts.append(section)
    if passage.para:
        parts.append(f"paras. {passage.para}" if "–" in passage.para else f"para. {passage.para}")
    pages = page_label(passage.page, passage.page_end, passage.page_label)
    if pages:
        parts.append(pages)
    return parts


def passage_card_html(passage, turn_id: int, relevance: float | None = None, context: tuple[int, str] | None = None) -> str:
    """One cited passage: marker, title, section, page, relevance, text with the answering sentences marked.

    ``context`` (``(start, text)`` from :func:`surrounding`) adds a collapsible "Surrounding text"
    (``<details>``: native, script-free, and usable inside Streamlit expanders).
    """
    anchor = passage_anchor(turn_id, passage.rank)
    meta = " · ".join(f"<span>{esc(x)}</span>" for x in location_parts(passage))
    body = marked_html(passage.text, passage.start, passage.highlights)
    details = ""
    if context is not None:
        c_start, c_text = context
        inner = marked_html(c_text, c_start, passage.highlights, (passage.start, passage.end))
        details = (
            '<details class="vb-context"><summary>Surrounding text</summary>'
            f'<div class="vb-text vb-context-text">{inner}</div></details>'
        )
    return (
        f'<article class="vb-card" id="{anchor}" data-doc="{esc(passage.doc)}" data-rank="{passage.rank}">'
        '<header class="vb-card-head">'
        f'<span class="vb-badge">{passage.rank}</span>'
        f'<span class="vb-title">{esc(passage.title)}</span>'
        f"{relevance_html(relevance)}"
        "</header>"
        f'<div class="vb-meta">{meta or "<span>—</span>"}</div>'
        f'<div class="vb-text">{body}</div>'
        f"{details}"
        "</article>"
    )


def citation_label(passage) -> str:
    """The citation a lawyer can paste into a memo (``qa.citations.citation``)."""
    return citation(passage)


def turn_footer(turn: Turn, documents_total: int | None = None) -> str:
    """A plain-text line under an answer: passages, scope, time (Markdown-escape before display)."""
    answer = turn.answer
    n = len(answer.passages)
    bits = [f"{n} passage{'s' if n != 1 else ''}"]
    if turn.docs:
        bits.append(f"searched {len(turn.docs)} of {documents_total} documents" if documents_total else
                    f"searched {len(turn.docs)} selected documents")
    bits.append(f"{answer.mode} search")
    bits.append(f"{turn.seconds:.1f} s")
    return " · ".join(bits)


# ------------------------------------------------------------------------------------ whole document

DOCUMENT_WINDOW_CHARS = 200_000
DOCUMENT_TARGET_ID = "vb-doc-target"


def locate(text: str, start: int, end: int, expected: str) -> tuple[int, int] | None:
    """Where ``expected`` is in ``text``: at ``start`` if the document is unchanged, else its first occurrence."""
    if text[start:end] == expected:
        return start, end
    found = text.find(expected) if expected else -1
    return (found, found + len(expected)) if found >= 0 else None


def document_html(document, start: int, end: int, highlights=(), expected: str | None = None,
                  window: int = DOCUMENT_WINDOW_CHARS) -> str:
    """The escaped full text of a document with the passage marked and scrolled into view.

    The scroll box starts at the passage (CSS ``scroll-initial-target``; no script) and has a
    "Jump to the passage" link (``#vb-doc-target``) as a fallback. Very long documents are cut to a
    window of ``window`` characters around the passage.
    """
    text = document.text
    where = locate(text, start, end, expected if expected is not None else text[start:end])
    note = ""
    if where is None:
        note = '<p class="vb-note">This document has changed since the answer was given; the passage is no longer in it.</p>'
        lo, hi, marks, region = 0, min(len(text), window), (), None
    else:
        shift = where[0] - start
        marks = tuple((s + shift, e + shift) for s, e in highlights)
        region = where
        lo = max(0, where[0] - window // 2)
        hi = min(len(text), lo + window)
        lo = max(0, hi - window)
    body = marked_html(text[lo:hi], lo, marks, region, DOCUMENT_TARGET_ID)
    if lo > 0:
        body = '<span class="vb-muted">[… earlier text not shown …]</span>\n\n' + body
    if hi < len(text):
        body += '\n\n<span class="vb-muted">[… later text not shown …]</span>'
    pages = f" · {document.page_count} pages" if getattr(document, "page_count", 0) else ""
    jump = f'<a class="vb-jump" href="#{DOCUMENT_TARGET_ID}">Jump to the passage ↓</a>' if where else ""
    return (
        '<div class="vb-docview">'
        f'<div class="vb-doc-head"><div class="vb-doc-title">{esc(document.title)}</div>'
        f'<div class="vb-meta"><span>{esc(document.path)}{esc(pages)}</span>{jump}</div></div>'
        f"{note}"
        f'<div class="vb-doc vb-text">{body}</div>'
        "</div>"
    )


# ------------------------------------------------------------------------------------------ documents


def format_when(timestamp: float) -> str:
    return time.strftime("%-d %b %Y, %H:%M", time.localtime(timestamp))


def document_choices(documents) -> dict[str, str]:
    """``{path: label}`` for the document filter; titles shared by several documents get their file name."""
    titles = [d.title for d in documents]
    labels = {}
    for d in documents:
        label = d.title if titles.count(d.title) == 1 else f"{d.title} ({d.path})"
        labels[d.path] = label
    return labels


def documents_html(documents) -> str:
    """The sidebar list of indexed documents (title, pages, passages, when indexed)."""
    if not documents:
        return '<div class="vb-docs vb-muted">No documents indexed yet.</div>'
    items = []
    for d in documents:
        bits = []
        if d.page_count:
            bits.append(f"{d.page_count} page{'s' if d.page_count != 1 else ''}")
        bits.append(f"{d.chunk_count} passage{'s' if d.chunk_count != 1 else ''}")
        bits.append(f"indexed {format_when(d.indexed_at)}")
        items.append(
            f'<li title="{esc(d.path)}"><div class="vb-doc-name">{esc(d.title)}</div>'
            f'<div class="vb-doc-meta">{esc(" · ".join(bits))}</div></li>'
        )
    return f'<ul class="vb-docs">{"".join(items)}</ul>'


# ------------------------------------------------------------------------------------------ index state


@dataclass
class Pending:
    """Files in the docs folder that the index does not reflect yet."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.new) + len(self.changed) + len(self.removed)

    def __bool__(self) -> bool:
        return self.count > 0

    def describe(self) -> str:
        bits = []
        for label, items in (("new", self.new), ("changed", self.changed), ("removed", self.removed)):
            if items:
                bits.append(f"{len(items)} {label}")
        return ", ".join(bits) + (" file" if self.count == 1 else " files") if bits else "up to date"


# (path, size, mtime_ns) of files the last update in this process could not read or skipped as duplicates:
# they are not "pending" again until they change, so a broken file does not trigger an update on every start.
_SETTLED: set[tuple[str, str, int, int]] = set()


def _stat(path: Path):
    try:
        st = path.stat()
        return st.st_size, st.st_mtime_ns
    except OSError:
        return None


_HASHES: dict[tuple[str, int, int], str] = {}


def _file_hash(path: Path, size: int, mtime_ns: int) -> str | None:
    key = (str(path), size, mtime_ns)
    if key not in _HASHES:
        try:
            _HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return None
        if len(_HASHES) > 10_000:
            _HASHES.clear()
    return _HASHES[key]


def pending_changes(docs_dir: Path, documents) -> Pending:
    """Compare the docs folder with the indexed documents.

    Cheap: size and mtime first; a file whose size matches but whose mtime does not (touched, copied,
    or indexed within the file system's timestamp granularity) is hashed, once per (size, mtime).
    """
    docs_dir = Path(docs_dir)
    pending = Pending()
    if not docs_dir.is_dir():
        return pending
    known = {d.path: d for d in documents}
    present = discover(docs_dir)
    for rel in present:
        stat = _stat(docs_dir / rel)
        if stat is None:
            continue
        if (str(docs_dir), rel, *stat) in _SETTLED:
            continue
        info = known.get(rel)
        if info is None:
            pending.new.append(rel)
        elif info.size != stat[0]:
            pending.changed.append(rel)
        elif info.mtime_ns != stat[1] and _file_hash(docs_dir / rel, *stat) != info.content_hash:
            pending.changed.append(rel)
    pending.removed = sorted(set(known) - set(present))
    return pending


def settle(docs_dir: Path, report) -> None:
    """Remember files that the update could not index (failed, duplicates) so they are not pending forever."""
    docs_dir = Path(docs_dir)
    for item in list(report.failed) + list(report.duplicates):
        stat = _stat(docs_dir / item["doc"])
        if stat is not None:
            _SETTLED.add((str(docs_dir), item["doc"], *stat))


class ProgressReporter:
    """Turns ``progress(stage, done, total)`` from ``update_index`` into one overall bar with a label.

    ``sink(fraction, text)`` is called at most every ``interval`` seconds (and on every stage change),
    so that a folder of thousands of files does not flood the page with updates.
    """

    STAGES = {
        "scan": ("Looking for documents", 0.00, 0.05),
        "load": ("Reading documents", 0.05, 0.30),
        "embed": ("Embedding passages", 0.30, 0.95),
        "write": ("Saving the index", 0.95, 1.00),
    }

    def __init__(self, sink: Callable[[float, str], None], interval: float = 0.1, clock=time.monotonic):
        self.sink = sink
        self.interval = interval
        self.clock = clock
        self._last = -1e9
        self._stage = None
        self.calls = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        label, lo, hi = self.STAGES.get(stage, (stage.capitalize(), 0.0, 1.0))
        now = self.clock()
        final = total == 0 or done >= total
        if stage == self._stage and not final and now - self._last < self.interval:
            return
        self._stage, self._last = stage, now
        fraction = lo + (hi - lo) * (done / total if total else 1.0)
        text = f"{label} {done:,}/{total:,}" if total and stage != "write" else f"{label}…"
        self.calls += 1
        self.sink(min(max(fraction, 0.0), 1.0), text)


def update(settings, embedder, progress=None, *, rebuild: bool = False, lock_wait: float = 0.0):
    """``qa.indexing.update_index`` for the app's docs/index folders; remembers unreadable files (see :func:`settle`)."""
    from .indexing import update_index

    report = update_index(settings.docs, settings.index, settings, rebuild=rebuild, embedder=embedder,
                          progress=progress, lock_wait=lock_wait)
    settle(settings.docs, report)
    return report


def report_headline(report) -> str:
    """One line for the status label: what changed."""
    bits = []
    for label, items in (("added", report.added), ("changed", report.changed), ("removed", report.removed),
                         ("renamed", report.renamed)):
        if items:
            bits.append(f"{len(items)} {label}")
    if report.failed:
        bits.append(f"{len(report.failed)} failed")
    if not bits:
        return "The index is up to date: nothing changed"
    return "Index updated: " + ", ".join(bits)


def report_lines(report) -> list[tuple[str, str]]:
    """``(level, plain text)`` lines describing an ``IndexReport``; level is ``info``, ``warning`` or ``error``."""
    lines = []
    for label, items in (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed)):
        for item in items:
            lines.append(("info", f"{label}: {item}"))
    for item in report.renamed:
        lines.append(("info", f"Renamed: {item['from']} → {item['to']}"))
    for item in report.duplicates:
        lines.append(("warning", f"Not indexed twice: {item['doc']} has the same content as {item['same_as']}"))
    for item in report.failed:
        lines.append(("error", f"Could not index {item['doc']}: {item['error']}"))
    lines.append(("info", f"{report.documents_total} document{'s' if report.documents_total != 1 else ''}, "
                          f"{report.chunks_total} passages in the index ({report.unchanged} unchanged, "
                          f"{report.chunks_embedded} passages embedded, {report.seconds:.1f} s)"))
    return lines


# ------------------------------------------------------------------------------------------ uploads

_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])$", re.I)
_SKIPPED_NAMES = {"readme", "source"}  # discover() skips readme.md / source.md
MAX_NAME_CHARS = 120


class UploadRejected(ValueError):
    """An uploaded file that cannot be saved; ``str()`` is the reason."""


def allowed_types() -> list[str]:
    """Extensions for ``st.file_uploader(type=…)``: what the loaders support, without the dot."""
    return sorted(ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS)


def sanitize_filename(name: str) -> str:
    """A safe file name for an upload: last path component only, no odd characters, a supported extension.

    ``../../etc/passwd.md`` → ``passwd.md``; ``C:\\Users\\x\\Reply <final>.PDF`` → ``Reply _final.pdf``.
    Raises ``UploadRejected`` for unsupported types or names with nothing left.
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]  # drops directories, "..", absolute paths and drive prefixes
    name = re.sub(r"^[A-Za-z]:", "", name)
    cleaned = []
    for ch in name:
        category = unicodedata.category(ch)
        if ch in "\t\n\r" or category[0] == "Z":  # tabs, line breaks, odd spaces → a plain space
            cleaned.append(" ")
        elif category[0] == "C":  # other control and format characters (NUL, bidi overrides…) vanish
            continue
        elif ch.isalnum() or ch in " ._-()," or category[0] == "M":
            cleaned.append(ch)
        else:
            cleaned.append("_")
    name = re.sub(r"\s+", " ", "".join(cleaned)).strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        raise UploadRejected(f"'{name or '(no name)'}' has no file extension; supported: {', '.join(allowed_types())}")
    ext = "." + ext.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise UploadRejected(f"'{ext}' files are not supported; supported: {', '.join(allowed_types())}")
    stem = re.sub(r"_{2,}", "_", stem).strip(" .-_")[:MAX_NAME_CHARS].strip(" .-_") or "document"
    if _WINDOWS_RESERVED.match(stem):
        stem = f"{stem}_"
    if stem.lower() in _SKIPPED_NAMES:
        stem = f"{stem} (document)"
    final = stem + ext
    if is_ignored_name(final):
        final = "document " + final
    return final


@dataclass
class UploadOutcome:
    """What happened to one uploaded file."""

    name: str
    status: str  # "saved", "duplicate" or "rejected"
    saved_as: str | None = None
    same_as: str | None = None
    reason: str | None = None

    def message(self) -> str:
        """A plain-text sentence for the page (Markdown-escape before display)."""
        if self.status == "saved":
            renamed = f" as {self.saved_as}" if self.saved_as != self.name else ""
            return f"Saved {self.name}{renamed}."
        if self.status == "duplicate":
            return f"{self.name} is already there (same content as {self.same_as}); not saved again."
        return f"{self.name} was not saved: {self.reason}"


def _free_name(docs_dir: Path, name: str) -> str:
    if not (docs_dir / name).exists():
        return name
    stem, ext = os.path.splitext(name)
    n = 2
    while (docs_dir / f"{stem} ({n}){ext}").exists():
        n += 1
    return f"{stem} ({n}){ext}"


def _write_new(docs_dir: Path, name: str, data: bytes) -> str:
    """Write ``data`` to a new file (never overwriting): hidden temp file, fsync, then link/rename into place."""
    tmp = docs_dir / f".upload-{uuid.uuid4().hex}.tmp"
    with open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        for _ in range(1000):
            final = _free_name(docs_dir, name)
            target = docs_dir / final
            try:
                os.link(tmp, target)
                return final
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: reserve the name, then rename over it
                try:
                    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    continue
                os.close(fd)
                os.replace(tmp, target)
                return final
        raise UploadRejected("no free file name")
    finally:
        tmp.unlink(missing_ok=True)


def save_uploads(files, docs_dir: Path, indexed=(), max_bytes: int = 50 * 1024 * 1024) -> list[UploadOutcome]:
    """Save uploaded ``(name, data)`` pairs into ``docs_dir``.

    * names are sanitised (:func:`sanitize_filename`); an existing file is never overwritten (``name (2).md``);
    * empty, too large, unsupported or mislabelled files (a PDF named ``.md``) are rejected with a reason;
    * content already indexed (``DocumentInfo.content_hash``), already in the folder, or uploaded twice
      in the same batch is reported as a duplicate and not written again.
    """
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    root = docs_dir.resolve()
    known = {d.content_hash: d.path for d in indexed}
    folder_sizes: dict[int, list[str]] | None = None
    folder_hashes: dict[str, str] = {}
    outcomes = []
    for original, data in files:
        original = str(original or "")
        data = bytes(data)
        try:
            name = sanitize_filename(original)
            if not data:
                raise UploadRejected("the file is empty")
            if len(data) > max_bytes:
                raise UploadRejected(f"the file is too large ({len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB)")
            try:
                sniff_kind(name, data[:2048])
            except DocumentError as exc:
                raise UploadRejected(exc.reason) from None
        except UploadRejected as exc:
            outcomes.append(UploadOutcome(original, "rejected", reason=str(exc)))
            continue
        digest = hashlib.sha256(data).hexdigest()
        same = known.get(digest)
        if same is None:
            if folder_sizes is None:  # only files of the same size can have the same content
                folder_sizes = {}
                for rel in discover(docs_dir):
                    stat = _stat(docs_dir / rel)
                    if stat:
                        folder_sizes.setdefault(stat[0], []).append(rel)
            for rel in folder_sizes.get(len(data), []):
                if rel not in folder_hashes:
                    try:
                        folder_hashes[rel] = hashlib.sha256((docs_dir / rel).read_bytes()).hexdigest()
                    except OSError:
                        folder_hashes[rel] = ""
                if folder_hashes[rel] == digest:
                    same = rel
                    break
        if same is not None:
            outcomes.append(UploadOutcome(original, "duplicate", same_as=same))
            continue
        try:
            saved = _write_new(docs_dir, name, data)
        except (UploadRejected, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            outcomes.append(UploadOutcome(original, "rejected", reason=f"cannot write the file ({reason})"))
            continue
        assert (docs_dir / saved).resolve().parent == root
        known[digest] = saved
        if folder_sizes is not None:
            folder_sizes.setdefault(len(data), []).append(saved)
            folder_hashes[saved] = digest
        outcomes.append(UploadOutcome(original, "saved", saved_as=saved))
    return outcomes


# ------------------------------------------------------------------------------------------ loading


def current_settings():
    """Settings from the environment (``QA_DOCS``, ``QA_INDEX``, ``QA_MODE``…)."""
    from .settings import load_settings

    return load_settings()


def _cache_resource(**kwargs):
    import streamlit as st

    return st.cache_resource(**kwargs)


@_cache_resource(show_spinner="Loading the language model (only on the first start)…")
def load_embedder(dtype: str, device: str, batch_size: int):
    """The embedding model, loaded once per process."""
    from .embedding import load_embedder as _load

    return _load(dtype, device, batch_size)


@_cache_resource(show_spinner=False)
def load_store(index: str, model_name: str, chunking: tuple, _settings=None):
    """The open index, once per process and folder. It notices new generations by itself (per query)."""
    from .store import Store

    return Store.open(Path(index), _settings)


def store_for(settings):
    """The cached store for ``settings.index`` (keyed on the folder and the settings that must match)."""
    return load_store(str(Path(settings.index).resolve()), settings.model_name,
                      tuple(sorted(settings.chunk_settings().items())), _settings=settings)


def forget_store(settings) -> None:
    """Drop the cached store (after a rebuild, or when it could not be opened)."""
    try:
        load_store.clear()
    except Exception:
        pass


# ------------------------------------------------------------------------------------------ style

PAGE_CSS = """
<style>
:root {
  --vb-ink: #1f2328; --vb-muted: #6a6f76; --vb-line: #e4e1da; --vb-card: #ffffff;
  --vb-accent: #35597a; --vb-mark: #fbecb3; --vb-region: #eef3f8;
  --vb-serif: "Source Serif 4", "Source Serif Pro", Charter, "Iowan Old Style", Georgia, Cambria,
              "Liberation Serif", "DejaVu Serif", "Times New Roman", serif;
}
.block-container { max-width: 52rem; padding-top: 2.2rem; }
.vb-hero { margin: 1.5rem 0 1.25rem; }
.vb-hero h1 { font-family: var(--vb-serif); font-weight: 600; font-size: 2.2rem; letter-spacing: .01em;
  margin: 0 0 .35rem; color: var(--vb-ink); padding: 0; }
.vb-hero p { color: var(--vb-muted); margin: 0 0 .4rem; line-height: 1.55; max-width: 40rem; }
.vb-brand { font-family: var(--vb-serif); font-size: 1.55rem; font-weight: 600; color: var(--vb-ink); margin: 0; }
.vb-tagline { color: var(--vb-muted); font-size: .85rem; margin: .1rem 0 .3rem; }
.vb-question { font-size: 1.02rem; line-height: 1.55; white-space: pre-wrap; overflow-wrap: anywhere;
  color: var(--vb-ink); }
.vb-answer { border-left: 3px solid var(--vb-accent); padding: .2rem 0 .2rem 1rem; margin: .15rem 0 .9rem; }
.vb-answer.vb-none { border-left-color: #b8b3a7; }
.vb-answer p { margin: .25rem 0; }
.vb-label, .vb-sources { font-size: .72rem; text-transform: uppercase; letter-spacing: .08em;
  color: var(--vb-muted); margin-bottom: .35rem; font-weight: 600; }
.vb-sources { margin: 1.1rem 0 .45rem; }
.vb-quote { font-family: var(--vb-serif); font-size: 1.08rem; line-height: 1.6; color: var(--vb-ink);
  overflow-wrap: anywhere; }
.vb-ref { font-family: system-ui, sans-serif; font-size: .78rem; font-weight: 600; color: var(--vb-accent);
  text-decoration: none; vertical-align: super; }
.vb-ref:hover { text-decoration: underline; }
.vb-muted { color: var(--vb-muted); }
.vb-card { background: var(--vb-card); border: 1px solid var(--vb-line); border-radius: 10px;
  padding: .85rem 1.05rem .8rem; margin: .1rem 0 .35rem; scroll-margin-top: 4rem; }
.vb-card-head { display: flex; align-items: baseline; gap: .6rem; }
.vb-badge { flex: none; font-size: .75rem; font-weight: 700; color: var(--vb-accent); border: 1px solid #c9d5e1;
  background: #f3f6f9; border-radius: 999px; min-width: 1.45rem; height: 1.45rem; line-height: 1.35rem;
  text-align: center; }
.vb-title { font-weight: 600; color: var(--vb-ink); line-height: 1.35; overflow-wrap: anywhere; flex: 1; }
.vb-rel { flex: none; font-size: .7rem; color: var(--vb-muted); white-space: nowrap; }
.vb-dots i { display: inline-block; width: .42rem; height: .42rem; border-radius: 50%; margin-left: .14rem;
  background: #d8d4cb; }
.vb-dots i.on { background: var(--vb-accent); }
.vb-meta { font-size: .82rem; color: var(--vb-muted); margin: .2rem 0 .55rem 2.05rem; display: flex;
  flex-wrap: wrap; gap: .25rem .5rem; align-items: baseline; }
.vb-text { font-family: var(--vb-serif); font-size: 1.0rem; line-height: 1.65; color: #2b2f35;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.vb-card > .vb-text { margin-left: 2.05rem; }
.vb-pb { display: block; height: .6em; overflow: hidden; }
.vb-text mark, .vb-quote mark { background: var(--vb-mark); color: inherit; padding: .05em .1em; border-radius: 2px; }
.vb-context { margin: .55rem 0 0 2.05rem; }
.vb-context summary { cursor: pointer; font-size: .82rem; color: var(--vb-accent); list-style: none; }
.vb-context summary::-webkit-details-marker { display: none; }
.vb-context summary::before { content: "▸ "; }
.vb-context[open] summary::before { content: "▾ "; }
.vb-context-text { margin-top: .45rem; padding: .6rem .8rem; background: #faf9f6; border-radius: 8px;
  max-height: 24rem; overflow-y: auto; font-size: .95rem; }
.vb-region { background: var(--vb-region); box-shadow: -6px 0 0 var(--vb-region), 6px 0 0 var(--vb-region); }
.vb-docview .vb-doc-head { margin-bottom: .6rem; }
.vb-doc-title { font-family: var(--vb-serif); font-size: 1.25rem; font-weight: 600; color: var(--vb-ink); }
.vb-docview .vb-meta { margin-left: 0; justify-content: space-between; }
.vb-jump { color: var(--vb-accent); text-decoration: none; font-size: .82rem; }
.vb-doc { max-height: 62vh; overflow-y: auto; padding: .8rem 1.1rem; border: 1px solid var(--vb-line);
  border-radius: 8px; background: #fffefb; }
.vb-doc #vb-doc-target { scroll-initial-target: nearest; scroll-margin-top: 5rem; }
.vb-note { color: #8a5a00; font-size: .9rem; }
.vb-docs { list-style: none; padding: 0 !important; margin: .1rem 0 .4rem !important; }
.vb-docs li { margin: 0 !important; }
.vb-docs li { padding: .45rem 0; border-bottom: 1px solid var(--vb-line); }
.vb-docs li:last-child { border-bottom: none; }
.vb-doc-name { font-size: .88rem; font-weight: 600; line-height: 1.35; color: var(--vb-ink); overflow-wrap: anywhere; }
.vb-doc-meta { font-size: .76rem; color: var(--vb-muted); margin-top: .1rem; }
[data-testid="stChatMessage"] { background: transparent; padding-left: 0; padding-right: 0; }
/* citation lines: a quiet copyable box under each card */
[data-testid="stChatMessage"] [data-testid="stCode"] pre, [data-testid="stDialog"] [data-testid="stCode"] pre {
  padding: .45rem .8rem !important; background: #f5f3ee; }
[data-testid="stChatMessage"] [data-testid="stCode"] code, [data-testid="stDialog"] [data-testid="stCode"] code { font-family: "Source Sans", "Source Sans 3", "Source Sans Pro", system-ui, sans-serif !important; font-size: .8rem !important;
  color: #4a4f56; line-height: 1.45; }
[data-testid="stSidebar"] .block-container, [data-testid="stSidebarUserContent"] { padding-top: 1.2rem; }
</style>
"""
