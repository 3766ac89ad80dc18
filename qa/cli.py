"""Command line: ``python -m qa index|ask|text|docs|eval|serve`` (installed as ``verbatim``).

Errors a user can cause are printed as one line on stderr with a non-zero exit code:
1 = partial index update (some documents failed) or other error, 2 = bad input
(empty/too long question, unknown document, unsafe name, a file where a folder belongs),
3 = index missing or built with other settings, 4 = another update is running, 5 = model not
installed. Unexpected errors are one line too (``QA_DEBUG=1`` shows their traceback), and a reader
that stops early (``| head``) ends the command quietly with exit code 1. The model libraries print nothing
while loading (no "Loading weights" bar) unless ``-v`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from pathlib import Path

from .errors import DocumentError, IndexMissingError, QAError, SettingsError, UnknownDocumentError
from .settings import load_settings


class NotAFolderError(QAError):
    """``--index`` names a file: bad input, not a missing index (``update_index`` refuses it by itself)."""

    exit_code = 2


def _settings(args):
    settings = load_settings()
    store = getattr(args, "store", None)
    if store is not None:
        from .pgstore import url_password

        if url_password(store):
            raise SettingsError(
                "--store must not hold a password: other users of this machine can read command lines. "
                "Put the URL with its password in QA_STORE, or the password in ~/.pgpass."
            )
    return settings.with_(
        docs=Path(args.docs) if getattr(args, "docs", None) else None,
        index=Path(args.index) if getattr(args, "index", None) else None,
        store=store,
    ).validate()


def _open_store(settings):
    """The index, for the commands that read it."""
    from .stores import open_store

    if not settings.store and settings.index.exists() and not settings.index.is_dir():
        raise NotAFolderError(f"The index path {settings.index} is a file, not a folder.")
    return open_store(settings)


def cmd_index(args) -> int:
    from .stores import update_index
    from .progress import progress_printer
    from .reporting import as_text

    settings = _settings(args)
    if args.watch:
        from .watch import watch

        return watch(settings, rebuild=args.rebuild, as_json=args.json)
    if args.worker and not settings.store:
        raise SettingsError("--worker needs a PostgreSQL store: set QA_STORE or --store.")
    report = update_index(
        settings.docs,
        settings.index,
        settings,
        rebuild=args.rebuild,
        progress=progress_printer(not args.json and sys.stderr.isatty()),
        **({"plan": False} if args.worker else {}),  # a worker claims queued files; it never scans the folder
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(as_text(report))
    return report.exit_code


def cmd_ask(args) -> int:
    from .answer import answer_to_json, ask
    from .conversation import structure
    from .encoders import embedder_for
    from .retrieval import check_question

    settings = _settings(args)
    check_question(args.question, settings.max_question_chars)
    store = _open_store(settings)
    try:
        documents = store.documents()
        if not documents:
            from .stores import index_location

            raise IndexMissingError(f"The index at {index_location(settings)} holds no documents: put some in the documents "
                                    f"folder ({settings.docs}) and run: verbatim index")
        docs = _resolve_docs(store, settings, args.doc) if args.doc else None
        if args.lang is not None:
            docs = store.documents_in_languages(args.lang, within=docs)
        embedder = embedder_for(settings)
        answer = ask(
            store, embedder, args.question, k=args.k, docs=docs, mode=args.mode or settings.mode,
            max_question_chars=settings.max_question_chars,
        )
        headings, openings = ({}, set()) if args.json else structure(store, answer.passages)
        shown = {p.doc for p in answer.passages}
        doc_languages = {d.path: d.lang for d in documents if d.path in shown} if not args.json else {}
    finally:
        store.close()
    if args.json:
        print(json.dumps(answer_to_json(answer), ensure_ascii=False))
        return 0
    sys.stdout.write(format_answer(answer, headings, openings, color=_stdout_is_terminal(), languages=doc_languages))
    return 0


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    except (AttributeError, ValueError):
        return False


WIDTH = 100
_BOLD, _RESET = "\033[1m", "\033[0m"
_OPEN, _CLOSE = "\x02", "\x03"  # one character each while wrapping, replaced by the markers afterwards


def _wrap(text: str, indent: str, color: bool, before: str = "»", after: str = "«") -> str:
    """Whitespace-collapsed, wrapped at ``WIDTH``; marked spans (``_OPEN``…``_CLOSE``) bold on a terminal, else ``»…«``."""
    from .chunking import CJK_WEIGHT, text_size

    text = " ".join(text.split())
    wide = (text_size(text) - len(text)) // (CJK_WEIGHT - 1)  # CJK characters: two columns each in a terminal
    width = WIDTH if wide * 2 < len(text) else WIDTH // 2
    wrapped = textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)
    return wrapped.replace(_OPEN, _BOLD if color else before).replace(_CLOSE, _RESET if color else after)


def format_answer(answer, headings: dict | None = None, openings=(), color: bool = False,
                  languages: dict | None = None) -> str:
    """``ask``'s human output, in the page's terms (``qa.render``): which of the three states the answer is
    in, the quoted answer (answered) or the closest sentence (uncertain), then each passage with its citation,
    its document's language (``languages``: ``{doc: code}``), how closely it matches the question, and its
    text with the answering sentences marked."""
    from .citations import citation
    from .render import (ANSWERED, ANSWERED_UNQUOTED, CLOSEST_SENTENCE, NOT_ANSWERED, STATE_NAMES, UNCERTAIN,
                         UNCERTAIN_NOTE, also_in_notes, answer_state, body_start, card_highlights, location_parts, marked_plain, match_words,
                         ocr_mark, phrases_note, respelled_note, sources_label)
    from .rows import language_name
    from .sentences import cut_before

    headings = headings or {}
    status = answer_state(answer)
    out: list[str] = [note for note in (respelled_note(answer), phrases_note(answer)) if note]
    if status == ANSWERED and not answer.sentences:
        out.append(f"{STATE_NAMES[status]}. {ANSWERED_UNQUOTED}")
    elif status == ANSWERED:
        out.append(f"{STATE_NAMES[status]}. Quoted from the documents:")
        for s in answer.sentences:
            out.append(_wrap(f"“{cut_before(s.text)}{_OPEN}{s.text}{_CLOSE}” [{s.passage_rank}]", "  ", color, "", ""))
    elif status == UNCERTAIN:
        out.append(f"{STATE_NAMES[status]}. {UNCERTAIN_NOTE}")
        if answer.sentences:
            s = answer.sentences[0]
            out.append(_wrap(f"{CLOSEST_SENTENCE}: “{cut_before(s.text)}{s.text}” [{s.passage_rank}]", "  ", color))
    else:
        out.append(f"{STATE_NAMES[status]}. {NOT_ANSWERED}")
    if not answer.passages:
        return "\n".join(out) + "\n"
    heading = sources_label(status) + (" (weak matches)" if status not in (ANSWERED, UNCERTAIN) else "")
    out += ["", heading + ":", ""]
    for p in answer.passages:
        bits = [citation(p)]
        if not p.section and p.chunk_id in openings:  # before the first heading: the citation has no section
            bits.append(location_parts(p, opening=True)[0])
        lang = (languages or {}).get(p.doc, "und")
        if lang != "und":
            bits.append(language_name(lang))
        bits += [note for note in also_in_notes(p) if note]
        if ocr_mark(p):
            bits.append(ocr_mark(p))
        match = match_words(answer.cosines.get(p.chunk_id), status, p.rank)
        if match:
            bits.append(match)
        out.append(f"[{p.rank}] " + " · ".join(bits))
        start = body_start(p, headings.get(p.chunk_id, ()))
        text = marked_plain(p.text[start - p.start :], start, card_highlights(p, status), _OPEN, _CLOSE)
        out.append(_wrap(text, "    ", color))
        out.append("")
    return "\n".join(out)


def cmd_text(args) -> int:
    from .loaders import safe_relative_path

    settings = _settings(args)
    store = _open_store(settings)
    try:
        path = _resolve_docs(store, settings, [safe_relative_path(args.doc)])[0]
        sys.stdout.write(store.document(path).text)
        sys.stdout.write("\n")
    finally:
        store.close()
    return 0


def _resolve_docs(store, settings, names) -> list[str]:
    """``store.resolve_docs``; a name that is a file in the documents folder but not in the index says why."""
    try:
        return store.resolve_docs(names)
    except UnknownDocumentError as exc:
        for name in names:
            reason = _why_not_indexed(store, settings, name)
            if reason:
                raise UnknownDocumentError(f"'{name}' is not in the index: {reason}.") from None
        raise


def _why_not_indexed(store, settings, name: str) -> str | None:
    """Why a file of the documents folder is not in the index, read again here; None when there is no such file."""
    from .loaders import entry_skip_reason, is_document_name, is_folder_read, load_document, safe_relative_path

    name = safe_relative_path(name)
    indexed = store.documents()
    full = Path(settings.docs) / name
    if name in {d.path for d in indexed} or not os.path.lexists(full):
        return None
    *folders, filename = name.split("/")
    if not is_document_name(filename) or not all(map(is_folder_read, folders)):
        return ("it is in the documents folder, but hidden and temporary files, README.md and SOURCE.md, files of "
                "unsupported types and what hidden folders hold are not read as documents")
    try:
        skipped = entry_skip_reason(os.fspath(full), name, os.path.realpath(settings.docs))
    except FileNotFoundError:
        return None
    if skipped:
        return f"it is in the documents folder but skipped: {skipped}"
    try:
        document = load_document(Path(settings.docs), name, settings)
    except DocumentError as exc:
        return f"it is in the documents folder but could not be indexed ({exc.reason})"
    twin = next((d.path for d in indexed if d.content_hash == document.content_hash), None)
    if twin:
        return f"it has the same content as '{twin}', which is indexed once, under that name"
    return "it is in the documents folder but not indexed yet; run `verbatim index`"


def cmd_docs(args) -> int:
    from .reporting import shown
    from .rows import language_label

    settings = _settings(args)
    store = _open_store(settings)
    try:
        documents = store.documents()
    finally:
        store.close()
    rows = [
        {
            "doc": d.path,
            "title": d.title,
            "symbol": d.symbol,
            "kind": d.kind,
            "pages": d.page_count,
            "chunks": d.chunk_count,
            "lang": d.lang,
            "hash": d.content_hash,
            "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(d.indexed_at)),
        }
        for d in documents
    ]
    if args.json:
        print(json.dumps({"documents": rows}, ensure_ascii=False))
        return 0
    if not rows:
        print("The index is empty.")
    for r in rows:
        pages = f"{r['pages']} page{'s' if r['pages'] != 1 else ''}, " if r["pages"] else ""
        passages = f"{r['chunks']} passage{'s' if r['chunks'] != 1 else ''}"
        print(f"{shown(r['doc'])}\n    {shown(r['title'])} — {language_label(r['lang'])}, {pages}{passages}, "
              f"indexed {r['indexed_at']}, sha256 {r['hash'][:12]}…")
    return 0


def cmd_eval(args) -> int:
    from .evaluation import run_cli

    return run_cli(args, _settings(args))


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(args, _settings(args))


def quiet_libraries(verbose: bool = False) -> None:
    """Keep the model libraries' own output (the ``Loading weights … 103/103`` bar, info messages) off stderr
    unless ``-v``: set before they load (environment) and, if one is loaded already, on it directly.
    Warnings and errors still show."""
    if verbose:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if "transformers" in sys.modules:
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            transformers_logging.set_verbosity_error()
        except Exception:  # an unusual transformers: its bar is cosmetic
            pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verbatim", description="Verbatim: cited answers from your documents.")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true",
                        help="also show what the model libraries print while loading (progress bars, notices)")

    p = sub.add_parser("index", parents=[common], help="build or update the index")
    p.add_argument("--docs", help="documents folder (default: $QA_DOCS or seeds/)")
    p.add_argument("--index", help="index folder (default: $QA_INDEX or index/)")
    p.add_argument("--store", help="postgresql://user@host/db: a team's PostgreSQL store instead of the index folder "
                                   "(default: $QA_STORE; the password goes in QA_STORE or ~/.pgpass, never here)")
    p.add_argument("--rebuild", action="store_true", help="re-extract and re-embed everything")
    p.add_argument("--watch", action="store_true", help="keep the index current while running (Ctrl-C stops)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--worker", action="store_true",
                   help="PostgreSQL store only: index files other processes queued, without scanning the folder")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", parents=[common], help="ask a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--doc", action="append", help="restrict to this document (repeatable)")
    p.add_argument("--lang", action="append", metavar="CODES",
                   help="search only documents in these languages, comma-separated: codes, tags or names (fr,es; zh-CN; "
                        "German; français; repeatable)")
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"), help="retrieval mode (default hybrid)")
    p.add_argument("--index", help="index folder (default: $QA_INDEX or index/)")
    p.add_argument("--store", help="postgresql://user@host/db (default: $QA_STORE)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("text", parents=[common], help="print the extracted text of a document (what offsets refer to)")
    p.add_argument("doc")
    p.add_argument("--index", help="index folder (default: $QA_INDEX or index/)")
    p.add_argument("--store", help="postgresql://user@host/db (default: $QA_STORE)")
    p.set_defaults(func=cmd_text)

    p = sub.add_parser("docs", parents=[common], help="list indexed documents")
    p.add_argument("--index", help="index folder (default: $QA_INDEX or index/)")
    p.add_argument("--store", help="postgresql://user@host/db (default: $QA_STORE)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("eval", parents=[common], help="measure retrieval quality (BEIR folder or question file)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--beir", help="BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/)")
    group.add_argument("--qa", help="JSONL of {q, gold[, unanswerable]}")
    p.add_argument("--split", default="test", choices=("test", "train", "dev"))
    p.add_argument("--docs", help="documents folder for --qa (default: $QA_DOCS or seeds/)")
    p.add_argument("--limit", type=int, help="evaluate only the first N queries")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", parents=[common], help="update the index, then start the app (http://localhost:8501)")
    p.add_argument("--docs", help="documents folder (default: $QA_DOCS or seeds/)")
    p.add_argument("--index", help="index folder (default: $QA_INDEX or index/)")
    p.add_argument("--store", help="postgresql://user@host/db: a team's PostgreSQL store instead of the index folder "
                                   "(default: $QA_STORE; the password goes in QA_STORE or ~/.pgpass, never here)")
    p.add_argument("--port", type=int, help="port (default: 8501, or the next free one)")
    p.add_argument("--no-update", action="store_true", help="start the app without updating the index first")
    p.add_argument("streamlit_args", nargs="*", metavar="-- STREAMLIT_ARGS", help="passed to `streamlit run`")
    p.set_defaults(func=cmd_serve)
    return parser


def _fail(message: str) -> None:
    """One line on stderr, however many lines the message has."""
    print("error: " + " ".join(str(message).splitlines()), file=sys.stderr)


def _stdout_to_devnull() -> None:
    """After a closed pipe (``| head``): point stdout at /dev/null, so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "k", None) is not None and not 1 <= args.k <= 100:
        _fail("-k must be between 1 and 100")
        return 2
    quiet_libraries(getattr(args, "verbose", False))
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader that went away (``| head``) shows up here, not at exit
        return code
    except BrokenPipeError:
        _stdout_to_devnull()
        return 1
    except QAError as exc:
        _fail(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        updating = getattr(args, "command", None) == "index"
        print("Interrupted: the index keeps what was committed before (never half an update); run `verbatim index` "
              "again to finish." if updating else "Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("QA_DEBUG"):
            raise
        detail = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror and exc.filename else exc
        _fail(f"{detail} ({type(exc).__name__}; set QA_DEBUG=1 for the traceback)")
        return 1
