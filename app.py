"""Verbatim — the chat page: ``streamlit run app.py``.

Widgets only; what to show and how (HTML, escaping, uploads, index checks) lives in ``qa/ui.py``.
Documents come from ``QA_DOCS`` (default ``seeds/``), the index from ``QA_INDEX`` (default ``index/``).
"""

from __future__ import annotations

import logging
import math

import streamlit as st

from qa import ui
from qa.errors import IndexCorruptError, IndexMismatchError, QAError
from qa.store import Store

log = logging.getLogger("verbatim")

st.set_page_config(page_title="Verbatim", page_icon="❝", layout="centered", initial_sidebar_state="expanded")
st.html(ui.PAGE_CSS)

settings = ui.current_settings()
state = st.session_state
for _key, _value in (("turns", []), ("turn_seq", 0), ("uploader_key", 0), ("upload_outcomes", []),
                     ("last_report", None), ("doc_filter", []), ("k", min(max(settings.top_k, 1), 10))):
    if _key not in state:
        state[_key] = _value


def show_error(exc: BaseException, where=st) -> None:
    """A readable message, never a traceback (unexpected errors are logged to the console)."""
    if isinstance(exc, QAError):
        where.error(ui.md_escape(str(exc)), icon=":material/error:")
    else:
        log.exception("unexpected error")
        where.error(ui.md_escape(f"Something went wrong ({type(exc).__name__}: {exc}). "
                                 "The details are in the console where Verbatim runs."), icon=":material/error:")


# ----------------------------------------------------------------------------- model and index

try:
    embedder = ui.load_embedder(settings.dtype, settings.device, settings.batch_size)
except Exception as exc:  # ModelMissingError says how to install it
    show_error(exc)
    st.stop()


def run_update(title: str, *, rebuild: bool = False, lock_wait: float = 0.0, where=st):
    """Update the index with a visible status box and progress bar; returns the report or None."""
    with where.status(ui.md_escape(title), expanded=True) as status:
        bar = st.progress(0.0, text="Starting…")
        reporter = ui.ProgressReporter(lambda fraction, text: bar.progress(fraction, text=ui.md_escape(text)))
        try:
            report = ui.update(settings, embedder, reporter, rebuild=rebuild, lock_wait=lock_wait)
        except Exception as exc:
            status.update(label="The index could not be updated", state="error", expanded=True)
            show_error(exc)
            return None
        bar.progress(1.0, text="Done")
        status.update(label=ui.md_escape(ui.report_headline(report)), state="complete", expanded=bool(report.failed))
        for level, line in ui.report_lines(report):
            if level == "info":
                st.caption(ui.md_escape(line))
            else:
                (st.warning if level == "warning" else st.error)(ui.md_escape(line))
    if rebuild:  # the manifest may have changed; other updates are noticed by the open store itself
        ui.forget_store(settings)
    return report


def open_store():
    """The index, built on first start; None (with a message on the page) if it cannot be opened."""
    if not Store.exists(settings.index):
        if not settings.docs.is_dir():
            st.error(ui.md_escape(f"There is no index at {settings.index} and no documents folder at {settings.docs}. "
                                  "Set QA_DOCS to your documents folder."))
            return None
        report = run_update("Building the index for the first time…", lock_wait=600)
        if report is None:
            return None
        state.index_checked = True
    try:
        return ui.store_for(settings)
    except (IndexMismatchError, IndexCorruptError) as exc:
        ui.forget_store(settings)
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

if not state.get("index_checked"):
    # Once per session: bring the index in line with the docs folder, visibly.
    pending = ui.pending_changes(settings.docs, store.documents())
    if pending:
        report = run_update(f"Updating the index: {pending.describe()}…", lock_wait=600)
        if report is not None:
            state.last_report = report
            store = ui.store_for(settings)
    state.index_checked = True

documents = store.documents()
choices = ui.document_choices(documents)

question = st.chat_input("Ask a question about the documents…")  # pinned to the bottom of the page

# ----------------------------------------------------------------------------- sidebar

with st.sidebar:
    st.html('<div class="vb-brand">Verbatim</div>'
            '<div class="vb-tagline">Word-for-word answers from your documents</div>')
    if st.button("New conversation", icon=":material/add_comment:", width="stretch", disabled=not (state.turns or question)):
        state.turns = []
        st.rerun()

    with st.expander(f"Documents in the index ({len(documents)})", expanded=len(documents) <= 5, icon=":material/folder_open:"):
        st.html(ui.documents_html(documents))

    state.doc_filter = [path for path in state.doc_filter if path in choices]
    st.multiselect("Search only in", options=list(choices), format_func=lambda path: choices.get(path, path),
                   key="doc_filter", placeholder="All documents",
                   help="Restrict questions to the chosen documents. Leave empty to search all of them.")
    st.slider("Passages to show", min_value=1, max_value=10, key="k")

    st.divider()
    uploads = st.file_uploader(
        "Add documents", type=ui.allowed_types(), accept_multiple_files=True, key=f"uploader-{state.uploader_key}",
        max_upload_size=max(1, math.ceil(settings.max_file_bytes / (1024 * 1024))),
        help="PDF, Word, HTML, Markdown or text files. They are saved in the documents folder; "
             "press Update index to make them searchable.",
    )
    if uploads:
        state.upload_outcomes = ui.save_uploads([(f.name, f.getvalue()) for f in uploads], settings.docs,
                                                documents, settings.max_file_bytes)
        state.uploader_key += 1  # a fresh, empty uploader: each file is saved once
        st.rerun()
    for outcome in state.upload_outcomes:
        icon = {"saved": ":material/check_circle:", "duplicate": ":material/content_copy:"}.get(outcome.status, ":material/block:")
        kind = {"saved": st.success, "duplicate": st.info}.get(outcome.status, st.warning)
        kind(ui.md_escape(outcome.message()), icon=icon)

    pending = ui.pending_changes(settings.docs, documents)
    if pending:
        st.caption(ui.md_escape(f"Not yet in the index: {pending.describe()}."))
    if st.button("Update index", icon=":material/sync:", width="stretch", type="primary" if pending else "secondary"):
        report = run_update("Updating the index…", where=st.sidebar)
        if report is not None:
            state.last_report = report
            state.upload_outcomes = []
            st.rerun()
    if state.last_report is not None:
        report = state.last_report
        with st.expander(ui.md_escape(ui.report_headline(report)), expanded=report.changed_anything or bool(report.failed),
                         icon=":material/error:" if report.failed else ":material/task_alt:"):
            for level, line in ui.report_lines(report):
                if level == "info":
                    st.caption(ui.md_escape(line))
                else:
                    (st.warning if level == "warning" else st.error)(ui.md_escape(line))
    st.caption(ui.md_escape(f"Documents: {settings.docs}") + "  \n" + ui.md_escape(f"Index: {settings.index}"))

# ----------------------------------------------------------------------------- conversation


@st.dialog("Source document", width="large")
def show_document(passage) -> None:
    """The whole document, opened at the passage."""
    try:
        document = store.document(passage.doc)
    except Exception as exc:
        show_error(exc)
        return
    st.html(ui.document_html(document, passage.start, passage.end, passage.highlights, passage.text))
    st.code(ui.citation_label(passage), language=None, wrap_lines=True)


def render_passage(turn, passage) -> None:
    st.html(ui.passage_card_html(passage, turn.id, turn.relevance.get(passage.chunk_id), turn.contexts.get(passage.chunk_id)))
    cite, action = st.columns([6, 1], vertical_alignment="center", gap="small")
    cite.code(ui.citation_label(passage), language=None, wrap_lines=True)
    if action.button("Open", key=f"open-{turn.id}-{passage.rank}", icon=":material/menu_book:",
                     help="Open the whole document at this passage", width="stretch"):
        show_document(passage)


def render_answer(turn) -> None:
    if turn.error:
        st.error(ui.md_escape(turn.error), icon=":material/error:")
        return
    answer = turn.answer
    if answer.answerable and answer.passages:
        st.html(ui.answer_html(answer, turn.id))
        st.html('<div class="vb-sources">Sources</div>')
        for passage in answer.passages:
            render_passage(turn, passage)
    else:
        st.html(ui.not_answered_html(answer, len(turn.docs)))
        if answer.passages:
            with st.expander(f"Closest passages ({len(answer.passages)})", icon=":material/search:"):
                for passage in answer.passages:
                    render_passage(turn, passage)
    st.caption(ui.md_escape(ui.turn_footer(turn, len(documents))))


def render_question(question: str) -> None:
    shown = question if len(question) <= 600 else question[:600] + f" … ({len(question):,} characters)"
    with st.chat_message("user", avatar=":material/person:"):
        st.html(ui.question_html(shown))


if not state.turns and question is None:
    count = f"{len(documents)} document{'s' if len(documents) != 1 else ''}"
    st.html(
        '<div class="vb-hero"><h1>Verbatim</h1>'
        f"<p>Ask a question about the {ui.esc(count)} in the index. Every answer is quoted word for word "
        "from the documents, with a citation you can paste into a memo.</p>"
        '<p class="vb-muted">Follow-up questions (“and what about her lawyer?”) are understood in context. '
        "Use the sidebar to search only some documents or to add new ones.</p></div>"
    )

for turn in state.turns:
    render_question(turn.question)
    with st.chat_message("assistant", avatar=":material/format_quote:"):
        render_answer(turn)

if question is not None:
    render_question(question)
    with st.chat_message("assistant", avatar=":material/format_quote:"):
        state.turn_seq += 1
        history = [t.question for t in state.turns if t.answer is not None]
        try:
            with st.spinner("Searching the documents…"):
                turn = ui.answer_question(store, embedder, question, k=state.k, docs=state.doc_filter,
                                          history=history, settings=settings, turn_id=state.turn_seq)
        except Exception as exc:
            show_error(exc)  # shown once; not kept in the history
        else:
            state.turns.append(turn)
            render_answer(turn)
