"""One question on the page: ask, then gather what the page shows with the answer (surrounding text, relevance,
the document's headings near each passage)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .answer import ask
from .errors import QAError


@dataclass
class Turn:
    """One question and what the app showed for it (kept in the session's history)."""

    id: int
    question: str
    answer: object | None = None  # qa.types.Answer
    error: str | None = None
    contexts: dict = field(default_factory=dict)  # chunk_id -> (start, text) of the passage with its neighbours
    relevance: dict = field(default_factory=dict)  # chunk_id -> cosine similarity to the question
    headings: dict = field(default_factory=dict)  # chunk_id -> the document's headings (qa.types.Heading) near it
    openings: set = field(default_factory=set)  # chunk ids of passages before their document's first heading
    docs: tuple[str, ...] = ()
    seconds: float = 0.0
    languages: dict = field(default_factory=dict)  # chunk_id -> the passage's language (ISO 639 code or "und")
    doc_languages: dict = field(default_factory=dict)  # document path -> the document's language
    langs: tuple[str, ...] = ()  # the language filter the question was asked with


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


def structure(store, passages, contexts: dict | None = None) -> tuple[dict, set]:
    """The document structure the passages are shown with: ``({chunk_id: headings}, {chunk_id, …})``.

    The first maps each passage to its document's headings inside the passage or, when it is given and
    unbroken, its surrounding text (``contexts[chunk_id]``, ``(start, text)`` from :func:`surrounding`), so
    that they can be shown as headings; the second
    holds the passages that come before their document's first heading (shown as its "Opening"). Each
    document is read once; one that changed since the passages were found (or is gone) adds nothing.
    """
    contexts = contexts or {}
    documents: dict = {}
    headings, openings = {}, set()
    for p in passages:
        if p.doc not in documents:
            try:
                documents[p.doc] = store.document(p.doc)
            except QAError:  # removed meanwhile: shown without its structure
                documents[p.doc] = None
        document = documents[p.doc]
        if document is None or not document.headings or document.text[p.start : p.end] != p.text:
            continue
        lo, hi = p.start, p.end
        if p.chunk_id in contexts:
            c_start, c_text = contexts[p.chunk_id]
            if document.text[c_start : c_start + len(c_text)] == c_text:  # no gap: its offsets are exact
                lo, hi = c_start, c_start + len(c_text)
        headings[p.chunk_id] = tuple(h for h in document.headings if h.start < hi and h.end > lo)
        if not p.section and p.start < document.headings[0].start:
            openings.add(p.chunk_id)
    return headings, openings


def answer_question(store, embedder, question: str, *, k: int, docs=None, history=None, settings=None, turn_id: int = 0,
                    langs=None) -> Turn:
    """Ask (``qa.answer.ask``) and collect what the page needs to show the answer; QAErrors propagate.

    ``langs`` (language codes) restricts the search to the documents in those languages (within ``docs``
    when both are given); a language no chosen document is in raises ``UnknownLanguageError``."""
    started = time.perf_counter()
    mode = getattr(settings, "mode", "hybrid")
    max_chars = getattr(settings, "max_question_chars", 2000)
    langs = tuple(langs or ())
    if langs:
        docs = store.documents_in_languages(langs, within=list(docs) if docs else None)
    answer = ask(store, embedder, question, k=k, docs=list(docs) if docs else None, mode=mode,
                 history=list(history or []) or None, max_question_chars=max_chars)
    turn = Turn(id=turn_id, question=question, answer=answer, docs=tuple(docs or ()), langs=langs)
    turn.languages = {p.chunk_id: p.lang for p in answer.passages}  # read with the passages, in one snapshot
    shown = {p.doc for p in answer.passages}
    turn.doc_languages = {d.path: d.lang for d in store.documents() if d.path in shown}
    for p in answer.passages:
        ctx = surrounding(store, p)
        if ctx is not None:
            turn.contexts[p.chunk_id] = ctx
    turn.headings, turn.openings = structure(store, answer.passages, turn.contexts)
    if mode != "bm25":
        turn.relevance = dict(answer.cosines)
    turn.seconds = time.perf_counter() - started
    return turn
