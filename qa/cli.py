"""Command line: ``python -m qa index|ask|text|docs|eval``.

Errors a user can cause are printed as one line on stderr with a non-zero exit code:
1 = partial index update (some documents failed) or other error, 2 = bad input
(empty/too long question, unknown document, unsafe name), 3 = index missing or built
with other settings, 4 = another update is running, 5 = model not installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

from .errors import QAError
from .settings import load_settings


def _progress_printer(enabled: bool):
    """A ``progress(stage, done, total)`` callback that draws tqdm bars on stderr."""
    if not enabled:
        return None
    from tqdm import tqdm

    bars: dict = {}
    labels = {"scan": "Scanning files", "load": "Reading documents", "embed": "Embedding chunks", "write": "Saving index"}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            if total == 0:
                return
            bar = bars[stage] = tqdm(total=total, desc=labels.get(stage, stage), unit="", leave=False, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return progress


def _settings(args):
    settings = load_settings()
    return settings.with_(
        docs=Path(args.docs) if getattr(args, "docs", None) else None,
        index=Path(args.index) if getattr(args, "index", None) else None,
    )


def cmd_index(args) -> int:
    from .indexing import update_index

    settings = _settings(args)
    if args.watch:
        from .watch import watch

        return watch(settings, rebuild=args.rebuild, as_json=args.json)
    report = update_index(
        settings.docs,
        settings.index,
        settings,
        rebuild=args.rebuild,
        progress=_progress_printer(not args.json and sys.stderr.isatty()),
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(format_report(report))
    return report.exit_code


def format_report(report) -> str:
    lines = [
        f"Indexed {report.documents_total} documents, {report.chunks_total} chunks in {report.seconds:.1f} s "
        f"({report.chunks_embedded} chunks embedded with {report.sentences_embedded} sentences, {report.chunks_reused} reused)."
    ]
    for label, items in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        if items:
            lines.append(f"  {label}: " + ", ".join(items))
    for item in report.renamed:
        lines.append(f"  renamed: {item['from']} → {item['to']}")
    for item in report.duplicates:
        lines.append(f"  duplicate (not indexed twice): {item['doc']} has the same content as {item['same_as']}")
    if report.unchanged:
        lines.append(f"  unchanged: {report.unchanged}")
    for item in report.failed:
        lines.append(f"  FAILED {item['doc']}: {item['error']}")
    return "\n".join(lines)


def cmd_ask(args) -> int:
    from .answer import answer_to_json, ask
    from .citations import citation
    from .embedding import embedder_for
    from .retrieval import check_question
    from .store import Store

    settings = _settings(args)
    check_question(args.question, settings.max_question_chars)
    store = Store.open(settings.index, settings)
    try:
        docs = store.resolve_docs(args.doc) if args.doc else None
        embedder = embedder_for(settings)
        answer = ask(
            store, embedder, args.question, k=args.k, docs=docs, mode=args.mode or settings.mode,
            max_question_chars=settings.max_question_chars,
        )
    finally:
        store.close()
    if args.json:
        print(json.dumps(answer_to_json(answer), ensure_ascii=False))
        return 0
    if not answer.answerable:
        print("The documents don't seem to answer this. The closest passages:\n")
    elif answer.sentences:
        print("Answer:")
        for sentence in answer.sentences:
            print(textwrap.fill(f"“{sentence.text}” [{sentence.passage_rank}]", width=100, initial_indent="  ", subsequent_indent="  "))
        print()
    for p in answer.passages:
        print(f"[{p.rank}] {citation(p)}  (score {p.score:.3f})")
        print(textwrap.indent(textwrap.fill(" ".join(p.text.split()), width=100), "    "))
        print()
    return 0


def cmd_text(args) -> int:
    from .loaders import safe_relative_path
    from .store import Store

    settings = _settings(args)
    store = Store.open(settings.index, settings)
    try:
        path = store.resolve_docs([safe_relative_path(args.doc)])[0]
        sys.stdout.write(store.document(path).text)
        sys.stdout.write("\n")
    finally:
        store.close()
    return 0


def cmd_docs(args) -> int:
    from .store import Store

    settings = _settings(args)
    store = Store.open(settings.index, settings)
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
        pages = f"{r['pages']} pages, " if r["pages"] else ""
        print(f"{r['doc']}\n    {r['title']} — {pages}{r['chunks']} chunks, indexed {r['indexed_at']}, sha256 {r['hash'][:12]}…")
    return 0


def cmd_eval(args) -> int:
    from .evaluation import run_cli

    return run_cli(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qa", description="Verbatim: cited answers from your documents.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or update the index")
    p.add_argument("--docs", help="documents folder (default: $QA_DOCS or seeds/)")
    p.add_argument("--index", help="index folder (default: $QA_INDEX or index/)")
    p.add_argument("--rebuild", action="store_true", help="re-extract and re-embed everything")
    p.add_argument("--watch", action="store_true", help="keep the index current while running (Ctrl-C stops)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--doc", action="append", help="restrict to this document (repeatable)")
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"), help="retrieval mode (default hybrid)")
    p.add_argument("--index", help="index folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("text", help="print the extracted text of a document (what offsets refer to)")
    p.add_argument("doc")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_text)

    p = sub.add_parser("docs", help="list indexed documents")
    p.add_argument("--index", help="index folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("eval", help="measure retrieval quality (BEIR folder or question file)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--beir", help="BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/)")
    group.add_argument("--qa", help="JSONL of {q, gold[, unanswerable]}")
    p.add_argument("--split", default="test", choices=("test", "train", "dev"))
    p.add_argument("--docs", help="documents folder for --qa (default: $QA_DOCS or seeds/)")
    p.add_argument("--limit", type=int, help="evaluate only the first N queries")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "k", None) is not None and not 1 <= args.k <= 100:
        print("error: -k must be between 1 and 100", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
