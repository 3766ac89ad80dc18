"""Small frozen records passed between the pipeline stages.

Every offset (``start``/``end``) is a character offset into ``Document.text``,
the *extracted* text of a document: what ``python -m qa text DOC`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    """A heading in the extracted text: ``text[start:end]`` is the heading line."""

    start: int
    end: int
    level: int
    title: str


@dataclass(frozen=True)
class PageSpan:
    """Characters ``[start, end)`` of the extracted text lie on 1-based physical page ``number``."""

    start: int
    end: int
    number: int
    label: str | None = None
    # The mean OCR recognition confidence (0–1) of a page read from its image; None for a text-layer page.
    ocr: float | None = None


@dataclass(frozen=True)
class PageNote:
    """A page of a document whose text could not be read (a blank or unreadable scan), with the reason."""

    page: int
    reason: str


@dataclass(frozen=True)
class Extracted:
    """What a loader returns: clean text plus its structure."""

    text: str
    headings: tuple[Heading, ...] = ()
    pages: tuple[PageSpan, ...] = ()
    title: str | None = None
    symbol: str | None = None
    kind: str = "text"
    unread_pages: tuple[PageNote, ...] = ()


@dataclass(frozen=True)
class Document:
    """A loaded document. ``path`` is relative to the docs folder, with ``/`` separators."""

    path: str
    text: str
    title: str
    content_hash: str
    headings: tuple[Heading, ...] = ()
    pages: tuple[PageSpan, ...] = ()
    symbol: str | None = None
    kind: str = "text"
    unread_pages: tuple[PageNote, ...] = ()  # scanned pages OCR could not read (not stored in the index)

    @property
    def page_count(self) -> int:
        return len(self.pages)


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of a document: ``text == document.text[start:end]``."""

    doc: str
    ordinal: int
    start: int
    end: int
    text: str
    section: str
    page: int | None = None
    page_end: int | None = None
    page_label: str | None = None
    para: str | None = None
    chunk_hash: str = ""


@dataclass(frozen=True)
class Copy:
    """Where else a passage's words are, or their translation: a document, offsets into its extracted text, and
    pages."""

    doc: str
    start: int
    end: int
    page: int | None = None
    page_end: int | None = None
    lang: str | None = None  # set when it is a translation (``retrieval.drop_translations``): its language


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its score and citation data."""

    rank: int
    score: float
    chunk_id: int
    doc: str
    title: str
    section: str
    start: int
    end: int
    text: str
    page: int | None = None
    page_end: int | None = None
    page_label: str | None = None
    para: str | None = None
    symbol: str | None = None
    highlights: tuple[tuple[int, int], ...] = ()
    # Read by OCR from a scanned page (``qa.ocr.passage_mark``): the lowest mean confidence of its OCR'd pages.
    ocr: bool = False
    ocr_confidence: float | None = None
    lang: str = "und"  # the chunk's language (``StoredChunk.lang``), "und" when undetermined or not looked up
    # ``(chunk id, chunk start)`` of every chunk a passage joins (``retrieval.join_neighbours``); () for one chunk.
    parts: tuple[tuple[int, int], ...] = ()
    # The same words in other documents (a treaty as PDF and as Markdown): shown once, the copies cited here.
    also_in: tuple["Copy", ...] = ()

    @property
    def members(self) -> tuple[tuple[int, int], ...]:
        """``(chunk id, chunk start)`` of every chunk the passage shows: its own, or those it joins."""
        return self.parts or ((self.chunk_id, self.start),)


@dataclass(frozen=True)
class AnswerSentence:
    """A sentence quoted verbatim from a document as part of the short answer."""

    text: str
    doc: str
    start: int
    end: int
    passage_rank: int


@dataclass(frozen=True)
class Answer:
    """The full result of a question: passages, answer sentences and the answerability call."""

    question: str
    passages: tuple[Passage, ...]
    sentences: tuple[AnswerSentence, ...] = ()
    answerable: bool = True
    confidence: float = 1.0
    mode: str = "hybrid"
    timings: dict = field(default_factory=dict, compare=False, hash=False)
    # "answered"; "uncertain": the passages may not answer it (shown, plainly marked); "not_found".
    status: str = "answered"
    signals: dict = field(default_factory=dict, compare=False, hash=False)
    # Cosine between the (contextualised) question and each passage, by chunk id (the page's relevance meter); for a
    # passage or question the primary model cannot read, the second encoder's, on the primary model's scale.
    cosines: dict = field(default_factory=dict, compare=False, hash=False)
    # The previous question this one was read together with (``qa.followup``), or None when it was read alone.
    read_with: str | None = None
    # {word as typed: word searched} for each typing slip searched as the documents' word ("Kazahstan": "Kazakhstan")
    respelled: dict = field(default_factory=dict, compare=False, hash=False)
    # Quoted phrases (``qa.phrases``): those every passage contains, and those no passage contains
    phrases: tuple[str, ...] = ()
    phrases_missing: tuple[str, ...] = ()
