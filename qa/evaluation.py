"""Evaluation: retrieval quality on a BEIR folder, or on a file of questions about a docs folder.

Both index the documents with the product's own pipeline (loaders, chunking, embedding,
store) into a temporary index. BEIR documents are scored by their best chunk. Metrics
come from ``ir_measures`` (nDCG@10, R@100, RR@10 — trec_eval conventions).
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .answer import ask
from .indexing import update_index
from .retrieval import MODES, search
from .store import Store

BEIR_DEPTH = 100


def load_beir(folder: Path, split: str) -> tuple[dict, dict, dict]:
    """``(corpus, queries, qrels)`` of a BEIR folder; queries limited to those judged in the split."""
    folder = Path(folder)
    corpus = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            corpus[str(row["_id"])] = (row.get("title") or "", row.get("text") or "")
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2])
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if str(row["_id"]) in qrels:
                queries[str(row["_id"])] = row["text"]
    return corpus, queries, qrels


def write_beir_docs(corpus: dict, target: Path) -> None:
    """One Markdown file per BEIR document: the title as heading, then the text."""
    target.mkdir(parents=True, exist_ok=True)
    for doc_id, (title, text) in corpus.items():
        body = f"# {title.strip()}\n\n{text.strip()}\n" if title.strip() else f"{text.strip()}\n"
        (target / f"{doc_id}.md").write_text(body, encoding="utf-8")


def doc_run(passages, depth: int = BEIR_DEPTH) -> dict[str, float]:
    """Collapse ranked chunks to documents scored by their best chunk (first occurrence wins)."""
    run: dict[str, float] = {}
    n = len(passages)
    for i, p in enumerate(passages):
        doc_id = p.doc.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if doc_id not in run:
            run[doc_id] = float(n - i)  # rank-based score: robust to ties and mixed score scales
        if len(run) == depth:
            break
    return run


def beir_metrics(qrels: dict, runs: dict) -> dict:
    import ir_measures
    from ir_measures import R, RR, nDCG

    result = ir_measures.calc_aggregate([nDCG @ 10, R @ 100, RR @ 10], qrels, runs)
    return {"ndcg@10": result[nDCG @ 10], "recall@100": result[R @ 100], "mrr@10": result[RR @ 10]}


def evaluate_beir(folder: Path, split: str, settings, embedder=None, limit: int | None = None, modes=MODES, log=None) -> dict:
    """Index a BEIR corpus in a temporary folder and score every retrieval mode."""
    from .encoders import embedder_for

    corpus, queries, qrels = load_beir(folder, split)
    if limit:
        queries = dict(list(queries.items())[:limit])
        qrels = {q: qrels[q] for q in queries}
    embedder = embedder or embedder_for(settings)
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        docs, index = Path(tmp) / "docs", Path(tmp) / "index"
        write_beir_docs(corpus, docs)
        started = time.perf_counter()
        report = update_index(docs, index, settings, embedder=embedder)
        indexing_seconds = time.perf_counter() - started
        store = Store.open(index, settings)
        results = {
            "split": split,
            "queries": len(queries),
            "documents": len(corpus),
            "chunks": report.chunks_total,
            "index_seconds": round(indexing_seconds, 1),
            "modes": {},
        }
        try:
            for mode in modes:
                runs, times = {}, []
                for query_id, text in queries.items():
                    t0 = time.perf_counter()
                    passages = search(store, embedder, text, k=2 * BEIR_DEPTH, mode=mode)
                    times.append((time.perf_counter() - t0) * 1000)
                    runs[query_id] = doc_run(passages)
                metrics = beir_metrics(qrels, runs)
                metrics["ms_per_query_p50"] = statistics.median(times)
                results["modes"][mode] = {k: round(v, 4) for k, v in metrics.items()}
                if log:
                    log(f"{mode}: {results['modes'][mode]}")
        finally:
            store.close()
    return results


def load_questions(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _contains(passage_text: str, gold: list[str]) -> bool:
    flat = " ".join(passage_text.split())
    return any(" ".join(g.split()) in flat for g in gold)


def answers(passage, row: dict) -> bool:
    """Whether a passage answers a question of a set: it contains a gold string, and, when the question
    gives the PDF page of its gold text, a passage of that document is on that page."""
    if not _contains(passage.text, row["gold"]):
        return False
    page = row.get("page")
    if page is None or passage.doc != row.get("doc") or passage.page is None:
        return True
    return passage.page <= page <= (passage.page_end or passage.page)


def is_unanswerable(row: dict) -> bool:
    return bool(row.get("unanswerable")) or row.get("kind") in ("off_topic", "near_topic")


def evaluate_questions(
    questions: list[dict], store, embedder, k: int = 5, mode: str = "hybrid", signals: list | None = None
) -> dict:
    """hit@1, hit@3, MRR over answerable questions; how often each kind of question gets each answer state.

    ``signals``, if given, receives ``(row, answer)`` for each question (what ``bench/quality.py``
    calibrates "not found" on)."""
    hits1 = hits3 = 0
    reciprocal, misses, lengths, times = [], [], [], []
    states: dict[str, dict[str, int]] = {}
    correct_calls = answerable_total = 0
    for row in questions:
        t0 = time.perf_counter()
        answer = ask(store, embedder, row["q"], k=k, mode=mode)
        times.append((time.perf_counter() - t0) * 1000)
        unanswerable = is_unanswerable(row)
        kind = row.get("kind") or ("off_topic" if unanswerable else "answerable")
        states.setdefault(kind, {"answered": 0, "uncertain": 0, "not_found": 0})[answer.status] += 1
        if signals is not None:
            signals.append((row, answer))
        correct_calls += int(answer.answerable != unanswerable)
        if unanswerable:
            if answer.status != "not_found":
                misses.append({"q": row["q"], "problem": f"{kind} question {answer.status}", "confidence": answer.confidence})
            continue
        answerable_total += 1
        lengths.extend(len(p.text) for p in answer.passages[:1])
        rank = next((p.rank for p in answer.passages if answers(p, row)), None)
        hits1 += int(rank == 1)
        hits3 += int(rank is not None and rank <= 3)
        reciprocal.append(1.0 / rank if rank else 0.0)
        if rank != 1:
            misses.append({"q": row["q"], "rank": rank, "confidence": answer.confidence})
        if answer.status == "not_found":
            misses.append({"q": row["q"], "problem": "said not found", "confidence": answer.confidence})
    n = max(answerable_total, 1)
    unanswerable_total = sum(sum(v.values()) for kind, v in states.items() if kind != "answerable")
    answerable_states = states.get("answerable", {})
    return {
        "questions": len(questions),
        "answerable": answerable_total,
        "hit@1": round(hits1 / n, 4),
        "hit@3": round(hits3 / n, 4),
        "mrr": round(sum(reciprocal) / n, 4),
        "not_found_accuracy": round(correct_calls / max(len(questions), 1), 4),
        "answerable_not_found": round(answerable_states.get("not_found", 0) / n, 4),
        "unanswerable_answered": round(
            sum(v["answered"] for kind, v in states.items() if kind != "answerable") / max(unanswerable_total, 1), 4
        ),
        "states": states,
        "median_top_passage_chars": statistics.median(lengths) if lengths else 0,
        "ms_per_question_p50": round(statistics.median(times), 1) if times else 0,
        "misses": misses,
    }


def run_cli(args, settings) -> int:
    """``python -m qa eval``."""
    from .encoders import embedder_for

    log = (lambda msg: print(msg, file=sys.stderr)) if not args.json else None
    if args.beir:
        result = evaluate_beir(Path(args.beir), args.split, settings, limit=args.limit, log=log)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"BEIR {Path(args.beir).name} ({result['split']}): {result['queries']} queries, "
                  f"{result['documents']} documents, {result['chunks']} passages, indexed in {result['index_seconds']} s")
            print(f"{'mode':8} {'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8} {'ms/query':>9}")
            for mode, m in result["modes"].items():
                print(f"{mode:8} {m['ndcg@10']:8.4f} {m['recall@100']:8.4f} {m['mrr@10']:8.4f} {m['ms_per_query_p50']:9.1f}")
        return 0
    questions = load_questions(Path(args.qa))
    if args.limit:
        questions = questions[: args.limit]
    embedder = embedder_for(settings)
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        update_index(settings.docs, Path(tmp), settings, embedder=embedder)
        store = Store.open(Path(tmp), settings)
        try:
            result = {mode: evaluate_questions(questions, store, embedder, mode=mode) for mode in MODES}
        finally:
            store.close()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{'mode':8} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {'answerable said not found':>26} "
              f"{'unanswerable shown as answered':>31} {'median chars':>13}")
        for mode, m in result.items():
            print(f"{mode:8} {m['hit@1']:6.3f} {m['hit@3']:6.3f} {m['mrr']:6.3f} {m['answerable_not_found']:26.3f} "
                  f"{m['unanswerable_answered']:31.3f} {m['median_top_passage_chars']:13.0f}")
        for miss in result["hybrid"]["misses"]:
            print("  hybrid miss:", json.dumps(miss), file=sys.stderr)
    return 0
