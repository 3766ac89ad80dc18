"""Verbatim — the chat page: ``streamlit run app.py``.

Widgets only. What to show and how lives in plain modules of ``qa``: ``render`` (HTML and escaping),
``conversation`` (one question and its answer), ``uploads``, ``pending`` (index checks and updates),
``progress``, ``reporting`` (what an update did); ``page`` holds what Streamlit caches per process.
Documents come from ``QA_DOCS`` (default ``seeds/``), the index from ``QA_INDEX`` (default ``index/``).
"""

from __future__ import annotations

import logging
import math

import streamlit as st

from qa import conversation, page, pending, reporting, uploads
from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, QAError
from qa.progress import ProgressReporter
from qa.render import (ANSWERED, BRAND_HTML, PAGE_CSS, UNCERTAIN, answer_html, answer_state, citation_label,
                       document_choices, document_html, documents_html, language_choices, md_escape, not_answered_html,
                       passage_card_html, phrases_html, question_html, read_with_html, respelled_html, sources_label,
                       turn_footer, uncertain_html, welcome_html)
from qa.stores import index_location, store_exists, store_needs_upgrade

log = logging.getLogger("verbatim")

st.set_page_config(page_title="Verbatim", page_icon="❝", layout="centered", initial_sidebar_state="expanded")
st.html(PAGE_CSS)

settings = page.current_settings()
state = st.session_state
for _key, _value in (("turns", []), ("asked", []), ("turn_seq", 0), ("uploader_key", 0), ("upload_outcomes", []),
                     ("last_report", None), ("doc_filter", []), ("lang_filter", []), ("k", min(max(settings.top_k, 1), 10))):
    if _key not in state:
        state[_key] = _value


def show_error(exc: BaseException, where=st) -> None:
    """A readable message, never a traceback (unexpected errors are logged to the console)."""
    if isinstance(exc, QAError):
        where.error(md_escape(str(exc)), icon=":material/error:")
    else:
        log.exception("unexpected error")
        where.error(md_escape(f"Something went wrong ({type(exc).__name__}: {exc}). "
                              "The details are in the console where Verbatim runs."), icon=":material/error:")


def show_report(report) -> None:
    """The lines of ``qa.reporting`` for an index update: captions, warnings and errors."""
    show = {reporting.INFO: st.caption, reporting.WARNING: st.warning, reporting.ERROR: st.error}
    for level, line in reporting.lines(report):
        show[level](md_escape(line))


# ----------------------------------------------------------------------------- model and index

try:
    embedder = page.load_embedder(settings.dtype, settings.device, settings.batch_size)
except Exception as exc:  # ModelMissingError says how to install it
    show_error(exc)
    st.stop()


def run_update(title: str, *, rebuild: bool = False, lock_wait: float = 0.0, where=st):
    """Update the index with a visible status box and progress bar; returns the report or None."""
    with where.status(md_escape(title), expanded=True) as status:
        bar = st.progress(0.0, text="Starting…")
        reporter = ProgressReporter(lambda fraction, text: bar.progress(fraction, text=md_escape(text)))
        try:
            report = pending.update(settings, embedder, reporter, rebuild=rebuild, lock_wait=lock_wait)
        except Exception as exc:
            status.update(label="The index could not be updated", state="error", expanded=True)
            show_error(exc)
            return None
        bar.progress(1.0, text="Done")
        status.update(label=md_escape(reporting.headline(report)), state="complete", expanded=bool(report.failed))
        show_report(report)
    if rebuild:  # the manifest may have changed; other updates are noticed by the open store itself
        page.forget_store(settings)
    return report


def open_store():
    """The index, built on first start; None (with a message on the page) if it cannot be opened."""
    # The open store is cached per process: a rerun does not look at the folder again (``Store.exists`` opens
    # a SQLite connection: about 10 ms a rerun under load, for every session).
    try:
        return page.store_for(settings)
    except IndexMissingError:
        pass
    except Exception:
        pass  # not cached: opened again below, where the error is shown
    if not store_exists(settings):
        if not settings.docs.is_dir():
            st.error(md_escape(f"There is no index at {index_location(settings)} and no documents folder at {settings.docs}. "
                                  "Set QA_DOCS to your documents folder."))
            return None
        report = run_update("Building the index for the first time…", lock_wait=600)
        if report is None:
            return None
        state.index_checked = True
    if store_needs_upgrade(settings):  # an older schema: upgraded in place by an update, nothing re-embedded
        page.forget_store(settings)
        if run_update("Upgrading the index…", lock_wait=600) is None:
            return None
        state.index_checked = True
    try:
        return page.store_for(settings)
    except (IndexMismatchError, IndexCorruptError) as exc:
        page.forget_store(settings)
        show_error(exc)
        if st.button("Rebuild the index", type="primary", icon=":material/build:"):
            if run_update("Rebuilding the index…", rebuild=True, lock_wait=60) is not None:
                st.rerun()
        return None
    except Exception as exc:
        show_error(exc)
        return None


store = open_store()
if store is None:
    st.stop()

waiting = None  # what the docs folder has that the index does not, checked once a run
if not state.get("index_checked"):
    # Once per session: bring the index in line with the docs folder, visibly.
    waiting = pending.pending_changes(settings.docs, store.documents())
    if waiting:
        report = run_update(f"Updating the index: {waiting.describe()}…", lock_wait=600)
        if report is not None:
            state.last_report = report
            store = page.store_for(settings)
        waiting = None  # changed by the update: check again below
    state.index_checked = True

documents = store.documents()
choices = document_choices(documents)
languages = language_choices(documents)  # empty unless the documents are in more than one language

question = st.chat_input("Ask a question about the documents…")  # pinned to the bottom of the page

# ----------------------------------------------------------------------------- sidebar

with st.sidebar:
    st.html(BRAND_HTML)
    if st.button("New conversation", icon=":material/add_comment:", width="stretch", disabled=not (state.turns or question)):
        state.turns, state.asked = [], []
        st.rerun()

    with st.expander(f"Documents in the index ({len(documents)})", expanded=len(documents) <= 5, icon=":material/folder_open:"):
        st.html(documents_html(documents))

    state.doc_filter = [path for path in state.doc_filter if path in choices]
    st.multiselect("Search only in", options=list(choices), format_func=lambda path: choices.get(path, path),
                   key="doc_filter", placeholder="All documents",
                   help="Restrict questions to the chosen documents. Leave empty to search all of them.")
    state.lang_filter = [code for code in state.lang_filter if code in languages]
    if languages:
        st.multiselect("Search only in languages", options=list(languages),
                       format_func=lambda code: languages.get(code, code), key="lang_filter",
                       placeholder="All languages",
                       help="Restrict questions to documents in the chosen languages. Leave empty to search all of them.")
    st.slider("Passages to show", min_value=1, max_value=10, key="k")

    st.divider()
    added = st.file_uploader(
        "Add documents", type=uploads.allowed_types(), accept_multiple_files=True, key=f"uploader-{state.uploader_key}",
        max_upload_size=max(1, math.ceil(settings.max_file_bytes / (1024 * 1024))),
        help="PDF, Word, HTML, Markdown or text files. They are saved in the documents folder; "
             "press Update index to make them searchable.",
    )
    if added:
        state.upload_outcomes = uploads.save_uploads([(f.name, f.getvalue()) for f in added], settings.docs,
                                                   documents, settings.max_file_bytes)
        state.uploader_key += 1  # a fresh, empty uploader: each file is saved once
        st.rerun()
    for outcome in state.upload_outcomes:
        icon = {"saved": ":material/check_circle:", "duplicate": ":material/content_copy:"}.get(outcome.status, ":material/block:")
        kind = {"saved": st.success, "duplicate": st.info}.get(outcome.status, st.warning)
        kind(md_escape(outcome.message()), icon=icon)

    if waiting is None:
        waiting = pending.pending_changes(settings.docs, documents)
    if waiting:
        st.caption(md_escape(f"Not yet in the index: {waiting.describe()}."))
    if st.button("Update index", icon=":material/sync:", width="stretch", type="primary" if waiting else "secondary"):
        report = run_update("Updating the index…", where=st.sidebar)
        if report is not None:
            state.last_report = report
            state.upload_outcomes = []
            st.rerun()
    if state.last_report is not None:
        report = state.last_report
        with st.expander(md_escape(reporting.headline(report)), expanded=report.changed_anything or bool(report.failed),
                         icon=":material/error:" if report.failed else ":material/task_alt:"):
            show_report(report)
    st.caption(md_escape(f"Documents: {settings.docs}") + "  \n" + md_escape(f"Index: {index_location(settings)}"))

# ----------------------------------------------------------------------------- conversation


def doc_language(path: str) -> str:
    """The indexed language of a document ("und" if it is no longer listed)."""
    return next((d.lang for d in documents if d.path == path), "und")


@st.dialog("Source document", width="large")
def show_document(passage) -> None:
    """The whole document, opened at the passage."""
    try:
        document = store.document(passage.doc)
    except Exception as exc:
        show_error(exc)
        return
    lang = getattr(document, "lang", None) or doc_language(passage.doc)
    st.html(document_html(document, passage.start, passage.end, passage.highlights, passage.text, lang=lang))
    st.code(citation_label(passage), language=None, wrap_lines=True)


def render_passage(turn, passage, status: str) -> None:
    st.html(passage_card_html(passage, turn.id, turn.relevance.get(passage.chunk_id), turn.contexts.get(passage.chunk_id),
                              status=status, headings=turn.headings.get(passage.chunk_id, ()),
                              opening=passage.chunk_id in turn.openings,
                              lang=getattr(turn, "languages", {}).get(passage.chunk_id),
                              doc_lang=getattr(turn, "doc_languages", {}).get(passage.doc), phrases=turn.answer.phrases))
    cite, action = st.columns([6, 1], vertical_alignment="center", gap="small")
    cite.code(citation_label(passage), language=None, wrap_lines=True)
    if action.button("Open", key=f"open-{turn.id}-{passage.rank}", icon=":material/menu_book:",
                     help="Open the whole document at this passage", width="stretch"):
        show_document(passage)


def render_answer(turn) -> None:
    """One of three states: answered (quoted answer, then its sources), uncertain (the passages, plainly
    marked as perhaps not answering), not found (said so, the closest passages collapsed below)."""
    if turn.error:
        st.error(md_escape(turn.error), icon=":material/error:")
        return
    answer = turn.answer
    status = answer_state(answer)
    if answer.read_with:
        st.html(read_with_html(answer))
    if answer.respelled:
        st.html(respelled_html(answer))
    if answer.phrases or answer.phrases_missing:
        st.html(phrases_html(answer))
    if status in (ANSWERED, UNCERTAIN):
        langs = getattr(turn, "languages", {})
        st.html(answer_html(answer, turn.id, langs) if status == ANSWERED else uncertain_html(answer, turn.id, langs))
        st.html(f'<div class="vb-sources">{sources_label(status)}</div>')
        for passage in answer.passages:
            render_passage(turn, passage, status)
    else:
        st.html(not_answered_html(answer, len(turn.docs)))
        if answer.passages:
            with st.expander(f"{sources_label(status)} ({len(answer.passages)}), weak matches", icon=":material/search:"):
                for passage in answer.passages:
                    render_passage(turn, passage, status)
    st.caption(md_escape(turn_footer(turn, len(documents))))


def render_question(question: str) -> None:
    with st.chat_message("user", avatar=":material/person:"):
        st.html(question_html(question))


if question is not None:
    # Kept until answered: a question sent while the previous one is still being answered interrupts that run,
    # and the next run answers both, in order.
    state.asked.append(question)

if not state.turns and not state.asked:
    st.html(welcome_html(len(documents)))

for turn in state.turns:
    render_question(turn.question)
    with st.chat_message("assistant", avatar=":material/format_quote:"):
        render_answer(turn)

while state.asked:
    asked = state.asked[0]
    render_question(asked)
    with st.chat_message("assistant", avatar=":material/format_quote:"):
        history = [t.question for t in state.turns if t.answer is not None]
        try:
            with st.spinner("Searching the documents…"):
                turn = conversation.answer_question(store, embedder, asked, k=state.k, docs=state.doc_filter,
                                          history=history, settings=settings, turn_id=state.turn_seq + 1,
                                          langs=state.lang_filter)
        except Exception as exc:
            state.asked.pop(0)
            show_error(exc)  # shown once; not kept in the history
        else:
            state.turn_seq += 1
            state.turns.append(turn)
            state.asked.pop(0)
            render_answer(turn)
