"""HTML for the page: escaping, highlighted passages, answers, whole documents, the document list, the CSS.

Pure functions of their arguments (no Streamlit), so tests call them directly; ``app.py`` hands the
results to ``st.html``.

Safety rule: every piece of text that comes from a document (passage text, titles, sections,
file names) or from a user (questions, uploaded file names) goes through :func:`esc` before it
is placed in HTML, and through :func:`md_escape` before it is placed in Markdown (``st.error``,
``st.caption``, status labels…). HTML is rendered with ``st.html``, which applies no Markdown
and sanitises with DOMPurify on top of our escaping.
"""

from __future__ import annotations

import html
import re
import time
from collections import Counter

from .answer import ANSWERED, NOT_FOUND, PARTIAL_AT, STRONG_AT, UNCERTAIN
from .citations import citation, page_label, section_label
from .phrases import spans as phrase_spans
from .rows import RTL_LANGUAGES, UNDETERMINED, language_name
from .sentences import cut_before

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


# ------------------------------------------------------------------------------------------ languages


def text_attrs(lang: str | None) -> str:
    """``dir`` and ``lang`` attributes for text in language ``lang``: ``dir="rtl"`` for a right-to-left
    language, ``dir="auto"`` otherwise (the browser follows the text); no ``lang`` when undetermined."""
    code = (lang or UNDETERMINED).strip()
    direction = "rtl" if code in RTL_LANGUAGES else "auto"
    return f' dir="{direction}"' + (f' lang="{esc(code)}"' if code != UNDETERMINED else "")


def _known(*codes) -> str:
    """The first of ``codes`` that is a language (not empty, not "und"), else "und"."""
    return next((c for c in codes if c and c != UNDETERMINED), UNDETERMINED)


def language_choices(documents) -> dict[str, str]:
    """``{code: "French (3 documents)"}`` for the page's language filter, by name; empty when the documents
    are in fewer than two languages (nothing to choose)."""
    counts = Counter(getattr(d, "lang", UNDETERMINED) for d in documents)
    if len([c for c in counts if c != UNDETERMINED]) < 2:
        return {}
    order = sorted(counts, key=lambda c: (c == UNDETERMINED, language_name(c)))
    return {c: f"{language_name(c)} ({counts[c]} document{'s' if counts[c] != 1 else ''})" for c in order}


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


def _heading_spans(headings, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """``(start, end, level)`` of headings (``qa.types.Heading`` or tuples) clipped to ``[lo, hi)``."""
    out = []
    for h in headings or ():
        start, end, level = (h.start, h.end, h.level) if hasattr(h, "start") else (h[0], h[1], h[2])
        start, end = max(int(start), lo), min(int(end), hi)
        if end > start:
            out.append((start, end, int(level)))
    return out


def marked_html(text: str, base: int, highlights=(), region: tuple[int, int] | None = None, region_id: str | None = None,
                headings=(), words=()) -> str:
    """Escaped HTML of ``text`` (which starts at absolute offset ``base`` of its document).

    ``highlights`` (absolute ``(start, end)`` spans) become ``<mark>``; ``region`` (absolute) is wrapped
    in ``<span class="vb-region">`` (with ``id=region_id`` on its first piece) so a passage can be shown
    inside its surrounding text; ``headings`` (``qa.types.Heading``: absolute spans with a level) are
    wrapped in ``<span class="vb-h vb-hN">`` so that they look like headings; ``words`` (absolute spans: the
    question's quoted phrases) become ``<strong class="vb-quoted">``. Spans outside the text are clipped;
    overlapping spans are fine. The text itself is unchanged (tags only).
    """
    end = base + len(text)
    marks = _clamp_spans(highlights, base, end)
    regions = _clamp_spans([region] if region else [], base, end)
    heads = _heading_spans(headings, base, end)
    strong = _clamp_spans(words, base, end)
    cuts = {base, end}
    for s, e in marks + regions + strong:
        cuts.update((s, e))
    for s, e, _ in heads:
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
        if any(ws <= s and e <= we for ws, we in strong):
            piece = f'<strong class="vb-quoted">{piece}</strong>'
        if any(ms <= s and e <= me for ms, me in marks):
            piece = f"<mark>{piece}</mark>"
        level = next((lvl for hs, he, lvl in heads if hs <= s and e <= he), None)
        if level is not None:
            piece = f'<span class="vb-h vb-h{min(max(level, 1), 4)}">{piece}</span>'
        out.append(piece)
    if in_region:
        out.append("</span>")
    return "".join(out)


def body_start(passage, headings=()) -> int:
    """Where a passage's card text starts: after the heading lines it opens with when they are its own
    section (the card shows the section above the text, so it is not shown twice). Absolute offset."""
    parts = {part.strip() for part in passage.section.split(" > ")} if passage.section else set()
    starts = {}
    for h in headings or ():
        starts.setdefault(h.start, h)
    text, base = passage.text, passage.start
    cursor = 0
    while True:
        k = cursor
        while k < len(text) and text[k].isspace():
            k += 1
        heading = starts.get(base + k)
        if heading is None or heading.title.strip() not in parts or heading.end >= passage.end:
            break
        cursor = heading.end - base
    if cursor == 0:
        return base
    while cursor < len(text) and text[cursor].isspace():
        cursor += 1
    return base + cursor if cursor < len(text) else base


def marked_plain(text: str, base: int, highlights=(), before: str = "»", after: str = "«") -> str:
    """``text`` (starting at absolute offset ``base``) with each highlighted span between ``before`` and
    ``after``: the command line's ``<mark>`` (plain markers, or ANSI bold on a terminal)."""
    marks = sorted(_clamp_spans(highlights, base, base + len(text)))
    merged: list[list[int]] = []
    for s, e in marks:  # overlapping spans, or ones apart by white space only, are marked as one
        if merged and (s <= merged[-1][1] or not text[merged[-1][1] - base : s - base].strip()):
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, cursor = [], base
    for s, e in merged:
        out += [text[cursor - base : s - base], before, text[s - base : e - base], after]
        cursor = e
    out.append(text[cursor - base :])
    return "".join(out)


# ------------------------------------------------------------------------------------------ answers


def passage_anchor(turn_id: int, rank: int) -> str:
    return f"vb-p-{int(turn_id)}-{int(rank)}"


# The three states of an answer (``Answer.status``) and how each is told, on the page and on the command line.
STATE_NAMES = {ANSWERED: "Answered", UNCERTAIN: "Uncertain", NOT_FOUND: "Not found"}
ANSWER_LABEL = "Answer, quoted from the documents"
ANSWERED_UNQUOTED = "The first passage below answers; no sentence of it reads as one to quote."
UNCERTAIN_NOTE = "These passages may not answer your question — check them before relying on them."
NOT_ANSWERED = "The documents don't seem to answer this."
CLOSEST_SENTENCE = "Closest sentence"


def answer_state(answer) -> str:
    """``answered``, ``uncertain`` or ``not_found`` (``Answer.status``; an answer without passages is never answered)."""
    return answer.status if answer.passages else NOT_FOUND


# How closely a passage matches the question, in words: the cosine between the question and the passage
# (``Answer.cosines``; bounds ``qa.answer.STRONG_AT`` and ``PARTIAL_AT``; for a passage or question the English
# model cannot read, e5's cosine put on this scale: ``qa.answer.on_primary_scale``). With all-MiniLM-L6-v2 a
# passage that answers the question scores about 0.4–0.7 (the answer is one sentence among several), a related one
# 0.25–0.4, unrelated text around 0.
MATCH_WORDS = {3: "strong match", 2: "partial match", 1: "weak match"}
# No passage reads stronger than the answer as a whole: a closest passage of a "not found" is a weak match. An
# answer is "answered" when its first passage stands out (``qa.answer.FIRST_ANSWERS``): that state vouches for the
# first passage only, so the others read at most as partial matches.
_MATCH_CAP = {ANSWERED: 3, UNCERTAIN: 2, NOT_FOUND: 1}


def match_level(cosine: float | None, status: str | None = None, rank: int = 1) -> int:
    """3 (strong), 2 (partial) or 1 (weak) for a question–passage cosine, at most what the answer's status allows
    for the passage's rank, and at least partial for the passage an *answered* answer vouches for (its first: "weak"
    there contradicted the answer's own state); 0 if unknown. Without a status, the cosine's own level."""
    if cosine is None:
        return 0
    level = 3 if cosine >= STRONG_AT else 2 if cosine >= PARTIAL_AT else 1
    if status is None:
        return level
    if status == ANSWERED and rank == 1:
        level = max(level, 2)
    return min(level, _MATCH_CAP.get(status, 3), 3 if rank == 1 else 2)


def match_words(cosine: float | None, status: str | None = None, rank: int = 1) -> str:
    """``strong match``, ``partial match``, ``weak match`` (or ``""`` when unknown)."""
    return MATCH_WORDS.get(match_level(cosine, status, rank), "")


def relevance_html(cosine: float | None, status: str | None = None, rank: int = 1) -> str:
    """Dots and words for how closely a passage matches the question; the exact figure in the tooltip."""
    if cosine is None:
        return ""
    level = match_level(cosine, status, rank)
    dots = "".join(f'<i class="{"on" if i < level else "off"}"></i>' for i in range(3))
    title = (f"Similarity to the question: {cosine:.2f} "
             f"(strong from {STRONG_AT:.2f}, partial from {PARTIAL_AT:.2f}, weak below)")
    if level < match_level(cosine):
        title += ("; only the first passage of an answer reads as a strong match" if status == ANSWERED
                  else "; shown no stronger than the answer as a whole")
    elif level > match_level(cosine):
        title += "; the passage the answer is quoted from reads at least as a partial match"
    return (f'<span class="vb-rel vb-rel-{level}" title="{esc(title)}"><span class="vb-dots">{dots}</span>'
            f'<span class="vb-rel-word">{esc(MATCH_WORDS[level])}</span></span>')


QUESTION_SHOWN_CHARS = 600


def question_html(question: str, max_chars: int = QUESTION_SHOWN_CHARS) -> str:
    """The user's question as typed; a very long one is cut, with its length said."""
    if len(question) > max_chars:
        question = question[:max_chars] + f" … ({len(question):,} characters)"
    return f'<div class="vb-question" dir="auto">{esc(question)}</div>'


def read_with_html(answer) -> str:
    """When the question was read together with the previous one (a follow-up), says so and with which, so that
    a misread independent question shows why its passages are about the previous topic; else nothing."""
    if not answer.read_with:
        return ""
    return (f'<p class="vb-muted vb-read-with">Read together with your previous question: “{_isolated(answer.read_with)}”. '
            "To ask it on its own, name what it is about.</p>")


def _isolated(text: str) -> str:
    """Typed text inside an English line, escaped and bidi-isolated: an Arabic word or a stray direction mark
    cannot reorder the words around it."""
    return f"<bdi>{esc(text)}</bdi>"


def _plain(text: str) -> str:
    return text


def respelled_note(answer, shown=_plain) -> str:
    """The typing slips read as the documents' words ("Searched for “Kazakhstan” where you typed “Kazahstan”."),
    plain text (``shown``: how each word is written, e.g. ``_isolated`` for the page); empty when none."""
    pairs = "; ".join(f"“{shown(meant)}” where you typed “{shown(typed)}”" for typed, meant in (answer.respelled or {}).items())
    return f"Searched for {pairs}. Put a word in quotes to search it as typed." if pairs else ""


def respelled_html(answer) -> str:
    """``respelled_note`` as an escaped paragraph above the answer; else nothing."""
    note = respelled_note(answer, _isolated)
    return f'<p class="vb-muted vb-respelled">{note}</p>' if note else ""


def phrases_note(answer, shown=_plain) -> str:
    """What was done with the question's quoted phrases (``qa.phrases``), plain text (``shown`` as in
    ``respelled_note``); empty when it quotes none."""
    if answer.phrases:
        return f"Showing only passages that contain {_listed(answer.phrases, shown)}."
    if answer.phrases_missing:
        every = "all of " if len(answer.phrases_missing) > 1 else ""
        return f"No passage contains {every}{_listed(answer.phrases_missing, shown)} as typed; showing the closest passages."
    return ""


def _listed(phrases, shown=_plain) -> str:
    quoted = [f"“{shown(phrase)}”" for phrase in phrases]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def phrases_html(answer) -> str:
    """``phrases_note`` as an escaped paragraph above the answer; else nothing."""
    note = phrases_note(answer, _isolated)
    return f'<p class="vb-muted vb-phrases">{note}</p>' if note else ""


def _ref(turn_id: int, rank: int) -> str:
    return (f'<a class="vb-ref" href="#{passage_anchor(turn_id, rank)}" '
            f'title="Go to passage {rank}">[{rank}]</a>')


def _sentence_lang(answer, sentence, languages=None) -> str:
    passage = next((p for p in answer.passages if p.rank == sentence.passage_rank), None)
    return _known((languages or {}).get(getattr(passage, "chunk_id", None)), getattr(passage, "lang", None))


def _quoted(answer, sentence, languages=None) -> str:
    """A quoted sentence in its own language and direction (isolated, so the quotes and marker stay in place)."""
    return (f"<span{text_attrs(_sentence_lang(answer, sentence, languages))}>“{cut_before(sentence.text)}"
            f"{esc(sentence.text)}”</span>")


def _line_dir(answer, sentence, languages=None) -> str:
    """A right-to-left quote's line runs right to left too (aligned right, its marker at the end)."""
    return ' dir="rtl"' if _sentence_lang(answer, sentence, languages) in RTL_LANGUAGES else ""


def answer_html(answer, turn_id: int, languages: dict | None = None) -> str:
    """The short extractive answer: 1–3 sentences quoted verbatim, each with its marker [n]. ``languages``:
    ``{chunk id: language}`` of the passages (else each passage's own ``lang``)."""
    rows = [f'<p class="vb-quote"{_line_dir(answer, s, languages)}>{_quoted(answer, s, languages)}&nbsp;'
            f'{_ref(turn_id, s.passage_rank)}</p>' for s in answer.sentences]
    if not rows:
        return f'<div class="vb-answer"><p class="vb-muted">{ANSWERED_UNQUOTED}</p></div>'
    return f'<div class="vb-answer"><div class="vb-label">{ANSWER_LABEL}</div>{"".join(rows)}</div>'


def uncertain_html(answer, turn_id: int, languages: dict | None = None) -> str:
    """An answer that may not be one: said plainly, with the closest sentence labelled as such (not quoted as the answer)."""
    closest = ""
    if answer.sentences:
        s = answer.sentences[0]
        closest = (f'<p class="vb-closest"><span class="vb-closest-label">{CLOSEST_SENTENCE}:</span> '
                   f'<span class="vb-closest-quote"{_line_dir(answer, s, languages)}>{_quoted(answer, s, languages)}'
                   f"&nbsp;{_ref(turn_id, s.passage_rank)}</span></p>")
    return (
        '<div class="vb-answer vb-uncertain">'
        f'<p class="vb-state"><strong>{esc(UNCERTAIN_NOTE)}</strong></p>'
        '<p class="vb-muted">They are close to the question, but none of them clearly says the answer.</p>'
        f"{closest}</div>"
    )


def not_answered_html(answer, docs_count: int | None = None) -> str:
    scope = ""
    if docs_count:
        scope = f" in the {docs_count} selected document{'s' if docs_count != 1 else ''}"
    closest = " Try other words, or check the closest passages below: they are weak matches." if answer.passages else \
        " Try other words."
    return (
        '<div class="vb-answer vb-none">'
        f'<p class="vb-state"><strong>{esc(NOT_ANSWERED)}</strong></p>'
        f'<p class="vb-muted">Nothing{esc(scope)} matches the question closely enough to quote as an answer.{esc(closest)}</p></div>'
    )


def sources_label(status: str) -> str:
    """The heading over the passages of an answer."""
    return {ANSWERED: "Sources", UNCERTAIN: "Passages to check"}.get(status, "Closest passages")


OPENING = "Opening"


def card_highlights(passage, status: str = ANSWERED) -> tuple:
    """The sentences marked in a passage: its closest ones, except under "not found" (where a mark would
    read as an answer)."""
    return () if status == NOT_FOUND else tuple(passage.highlights)


def copy_place(copy) -> str:
    """Where a ``Copy`` is: its document, and its pages when it has any."""
    if not copy.page:
        return copy.doc
    return f"{copy.doc} p. {copy.page}" + (f"–{copy.page_end}" if copy.page_end and copy.page_end != copy.page else "")


def also_in_notes(passage) -> tuple[str, str]:
    """Where else a passage is (plain text, "" when nowhere): the same words in other documents ("also in
    a.txt p. 3"), and its translations ("also in French (udhr_fra.txt), Arabic (udhr_arb.txt)")."""
    also_in = getattr(passage, "also_in", ())
    copies = [copy_place(c) for c in also_in if not getattr(c, "lang", None)]
    translated = [f"{language_name(c.lang)} ({copy_place(c)})" for c in also_in if getattr(c, "lang", None)]
    return tuple(f"also in {', '.join(places)}" if places else "" for places in (copies, translated))


def location_parts(passage, opening: bool = False) -> list[str]:
    """Section, paragraph and page of a passage, as shown on its card (plain text). ``opening``: the
    passage comes before the document's first heading (it has no section), shown as "Opening"."""
    parts = []
    section = section_label(passage.section) or (OPENING if opening else "")
    if section:
        parts.append(section)
    if passage.para:
        parts.append(f"paras. {passage.para}" if "–" in passage.para else f"para. {passage.para}")
    pages = page_label(passage.page, passage.page_end, passage.page_label)
    if pages:
        parts.append(pages)
    return parts


OCR_NOTE = "Read by OCR from a scanned page: check the wording against the page before quoting it."


def ocr_mark(passage) -> str:
    """"Scanned page, read by OCR (confidence 97%)" for a passage read by OCR, else ""."""
    if not getattr(passage, "ocr", False):
        return ""
    confidence = getattr(passage, "ocr_confidence", None)
    return "Scanned page, read by OCR" + (f" (confidence {confidence:.0%})" if confidence is not None else "")


def passage_card_html(passage, turn_id: int, relevance: float | None = None, context: tuple[int, str] | None = None,
                      *, status: str = ANSWERED, headings=(), opening: bool = False, lang: str | None = None,
                      doc_lang: str | None = None, phrases=()) -> str:
    """One cited passage: marker, title, how closely it matches, section and page, text with the answering
    sentences marked (none under "not found").

    ``context`` (``(start, text)`` from :func:`surrounding`) adds a collapsible "Surrounding text"
    (``<details>``: native, script-free, and usable inside Streamlit expanders). ``status`` is the answer's
    (a passage never reads as a stronger match than the answer). ``headings`` (``qa.types.Heading`` of the
    document near the passage) are styled as headings, and the section heading the passage opens with is
    not repeated under the section label. ``opening``: the passage comes before the document's first heading.
    ``lang`` (the passage's language; default ``passage.lang``) sets the text's ``lang`` and direction;
    ``doc_lang`` (the document's) is named on the card ("French"). ``phrases``: the question's quoted phrases,
    set in bold where the passage has them.
    """
    anchor = passage_anchor(turn_id, passage.rank)
    lang = _known(lang, getattr(passage, "lang", None), doc_lang)
    named = _known(doc_lang, lang)
    parts = location_parts(passage, opening)
    spans = [f"<span>{esc(x)}</span>" for x in parts]
    if named != UNDETERMINED:
        spans.append(f'<span class="vb-lang" title="Language of the document">{esc(language_name(named))}</span>')
    copies, translated = also_in_notes(passage)
    if copies:
        spans.append(f'<span class="vb-also" title="The same words are in these documents too">{esc(copies)}</span>')
    if translated:
        spans.append(f'<span class="vb-also" title="The same text in other languages, in these documents">'
                     f'{esc(translated)}</span>')
    ocr = ocr_mark(passage)
    if ocr:
        spans.append(f'<span class="vb-ocr" title="{esc(OCR_NOTE)}">{esc(ocr)}</span>')
    meta = f'<div class="vb-meta">{" · ".join(spans)}</div>' if spans else ""
    marks = card_highlights(passage, status)
    start = body_start(passage, headings)
    words = [(passage.start + s, passage.start + e) for phrase in phrases for s, e in phrase_spans(passage.text, phrase)]
    body = marked_html(passage.text[start - passage.start :], start, marks, headings=headings, words=words)
    details = ""
    if context is not None:
        c_start, c_text = context
        inner = marked_html(c_text, c_start, marks, (passage.start, passage.end), headings=headings, words=words)
        details = (
            '<details class="vb-context"><summary>Surrounding text</summary>'
            f'<div class="vb-text vb-context-text"{text_attrs(lang)}>{inner}</div></details>'
        )
    return (
        f'<article class="vb-card" id="{anchor}" data-doc="{esc(passage.doc)}" data-rank="{passage.rank}">'
        '<header class="vb-card-head">'
        f'<span class="vb-badge">{passage.rank}</span>'
        f'<span class="vb-title" dir="auto">{esc(passage.title)}</span>'
        f"{relevance_html(relevance, status, passage.rank)}"
        "</header>"
        f"{meta}"
        f'<div class="vb-text"{text_attrs(lang)}>{body}</div>'
        f"{details}"
        "</article>"
    )


def citation_label(passage) -> str:
    """The citation a lawyer can paste into a memo (``qa.citations.citation``)."""
    return citation(passage)


def turn_footer(turn, documents_total: int | None = None) -> str:
    """A plain-text line under an answer (a ``qa.conversation.Turn``): passages, scope, time (Markdown-escape before display)."""
    answer = turn.answer
    n = len(answer.passages)
    bits = [f"{n} passage{'s' if n != 1 else ''}"]
    if turn.docs:
        bits.append(f"searched {len(turn.docs)} of {documents_total} documents" if documents_total else
                    f"searched {len(turn.docs)} selected documents")
    langs = getattr(turn, "langs", ())
    if langs:
        bits.append("in " + ", ".join(language_name(code) for code in langs))
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
                  window: int = DOCUMENT_WINDOW_CHARS, lang: str | None = None) -> str:
    """The escaped full text of a document with the passage marked and scrolled into view; ``lang`` (the
    document's language) sets its ``lang`` and direction (right to left for Arabic).

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
    body = marked_html(text[lo:hi], lo, marks, region, DOCUMENT_TARGET_ID, headings=getattr(document, "headings", ()))
    if lo > 0:
        body = '<span class="vb-muted">[… earlier text not shown …]</span>\n\n' + body
    if hi < len(text):
        body += '\n\n<span class="vb-muted">[… later text not shown …]</span>'
    pages = f" · {document.page_count} pages" if getattr(document, "page_count", 0) else ""
    lang = _known(lang, getattr(document, "lang", None))
    language = f" · {language_name(lang)}" if lang != UNDETERMINED else ""
    jump = f'<a class="vb-jump" href="#{DOCUMENT_TARGET_ID}">Jump to the passage ↓</a>' if where else ""
    return (
        '<div class="vb-docview">'
        f'<div class="vb-doc-head"><div class="vb-doc-title" dir="auto">{esc(document.title)}</div>'
        f'<div class="vb-meta"><span>{esc(document.path)}{esc(pages)}{esc(language)}</span>{jump}</div></div>'
        f"{note}"
        f'<div class="vb-doc vb-text"{text_attrs(lang)}>{body}</div>'
        "</div>"
    )


# ------------------------------------------------------------------------------------------ documents


def format_when(timestamp: float) -> str:
    return time.strftime("%-d %b %Y, %H:%M", time.localtime(timestamp))


def document_choices(documents) -> dict[str, str]:
    """``{path: label}`` for the document filter; titles shared by several documents get their file name."""
    titles = Counter(d.title for d in documents)
    return {d.path: d.title if titles[d.title] == 1 else f"{d.title} ({d.path})" for d in documents}


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
        lang = getattr(d, "lang", UNDETERMINED)
        if lang != UNDETERMINED:
            bits.append(language_name(lang))
        bits.append(f"indexed {format_when(d.indexed_at)}")
        items.append(
            f'<li title="{esc(d.path)}"><div class="vb-doc-name" dir="auto">{esc(d.title)}</div>'
            f'<div class="vb-doc-meta">{esc(" · ".join(bits))}</div></li>'
        )
    return f'<ul class="vb-docs">{"".join(items)}</ul>'


# ------------------------------------------------------------------------------------------ page furniture

BRAND_HTML = ('<div class="vb-brand">Verbatim</div>'
              '<div class="vb-tagline">Word-for-word answers from your documents</div>')


def welcome_html(documents_count: int) -> str:
    """The greeting shown before the first question."""
    count = f"{documents_count} document{'s' if documents_count != 1 else ''}"
    return (
        '<div class="vb-hero"><h1>Verbatim</h1>'
        f"<p>Ask a question about the {esc(count)} in the index. Every answer is quoted word for word "
        "from the documents, with a citation you can paste into a memo.</p>"
        '<p class="vb-muted">Follow-up questions (“and what about her lawyer?”) are understood in context; '
        "words in quotes (“case materials”) find only the passages that contain them. "
        "Use the sidebar to search only some documents or to add new ones.</p></div>"
    )


# ------------------------------------------------------------------------------------------ style

PAGE_CSS = """
<style>
:root {
  --vb-ink: #1f2328; --vb-muted: #6a6f76; --vb-line: #e4e1da; --vb-card: #ffffff;
  --vb-accent: #35597a; --vb-mark: #fbecb3; --vb-region: #dce8f4;
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
.vb-answer.vb-uncertain { border-left-color: #c08a1e; background: #fdf8ec; padding: .45rem .8rem .45rem 1rem;
  border-radius: 0 8px 8px 0; }
.vb-state { color: var(--vb-ink); }
.vb-closest { color: #3b4046; line-height: 1.55; overflow-wrap: anywhere; }
.vb-closest-quote[dir="rtl"] { display: block; }
.vb-closest-label { font-size: .72rem; text-transform: uppercase; letter-spacing: .08em; color: var(--vb-muted);
  font-weight: 600; margin-right: .3rem; }
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
.vb-rel { flex: none; font-size: .74rem; color: var(--vb-muted); white-space: nowrap; display: inline-flex;
  align-items: center; gap: .35rem; }
.vb-dots i { display: inline-block; width: .42rem; height: .42rem; border-radius: 50%; margin-left: .14rem;
  background: #d8d4cb; }
.vb-rel-3 .vb-dots i.on { background: var(--vb-accent); }
.vb-rel-2 .vb-dots i.on { background: #7f9bb5; }
.vb-rel-1 .vb-dots i.on { background: #a9a59c; }
.vb-rel-3 .vb-rel-word { color: var(--vb-accent); font-weight: 600; }
.vb-ocr { color: #8a5a00; font-weight: 600; }
.vb-meta { font-size: .82rem; color: var(--vb-muted); margin: .2rem 0 .55rem 2.05rem; display: flex;
  flex-wrap: wrap; gap: .25rem .5rem; align-items: baseline; }
.vb-text { font-family: var(--vb-serif); font-size: 1.0rem; line-height: 1.65; color: #2b2f35;
  white-space: pre-wrap; overflow-wrap: anywhere; unicode-bidi: plaintext; text-align: start; }
.vb-lang { font-weight: 600; }
.vb-card > .vb-text { margin-left: 2.05rem; }
.vb-pb { display: block; height: .6em; overflow: hidden; }
.vb-text mark, .vb-quote mark { background: var(--vb-mark); color: inherit; padding: .05em .1em; border-radius: 2px; }
.vb-text strong.vb-quoted { font-weight: 700; text-decoration: underline; text-decoration-color: var(--vb-accent); }
.vb-context { margin: .55rem 0 0 2.05rem; }
.vb-context summary { cursor: pointer; font-size: .82rem; color: var(--vb-accent); list-style: none; }
.vb-context summary::-webkit-details-marker { display: none; }
.vb-context summary::before { content: "▸ "; }
.vb-context[open] summary::before { content: "▾ "; }
.vb-context-text { margin-top: .45rem; padding: .6rem .8rem; background: #faf9f6; border-radius: 8px;
  max-height: 24rem; overflow-y: auto; font-size: .95rem; }
.vb-region { background: var(--vb-region); box-shadow: -6px 0 0 var(--vb-region), 6px 0 0 var(--vb-region);
  -webkit-box-decoration-break: clone; box-decoration-break: clone; }
.vb-h { font-family: system-ui, -apple-system, "Segoe UI", "Source Sans 3", sans-serif; font-weight: 700;
  color: var(--vb-ink); letter-spacing: .005em; }
.vb-h1 { font-size: 1.3em; } .vb-h2 { font-size: 1.18em; } .vb-h3 { font-size: 1.08em; } .vb-h4 { font-size: 1em; }
.vb-docview .vb-doc-head { margin-bottom: .6rem; }
.vb-doc-title { font-family: var(--vb-serif); font-size: 1.25rem; font-weight: 600; color: var(--vb-ink); }
.vb-docview .vb-meta { margin-left: 0; justify-content: space-between; }
.vb-jump { color: var(--vb-accent); text-decoration: none; font-size: .82rem; }
.vb-doc { max-height: 62vh; overflow-y: auto; padding: .8rem 1.1rem; border: 1px solid var(--vb-line);
  border-radius: 8px; background: #fffefb; scroll-padding-top: 4.5rem; }
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
