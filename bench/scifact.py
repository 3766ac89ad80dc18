"""BEIR SciFact on the product's own search: BM25, dense, RRF, two-list hybrids and the hybrid recipe.

    .venv/bin/python bench/scifact.py [--split test|train] [--limit N] [--extra e5] [--weights d,l,s[,e]]

The corpus becomes an in-memory snapshot built with the product's loader, chunker, sentence units and
encoder (``bench/memory.py``; vectors cached in /tmp/verbatim_bench_cache), and every mode runs through
``qa.retrieval.Searcher`` on it, so what is measured and tuned here is what ``python -m qa ask`` runs.
Data: /work/shared/corpora/beir_scifact (``--data`` or ``$SCIFACT_DIR``; licence CC BY-NC: never copy
it into the repository). Prints a table and writes bench/results/scifact.json.

Modes (``rank_all``):

* ``bm25``, ``dense``, ``hybrid``: ``Searcher.search(mode=...)`` — the product's three modes;
* ``rrf``: ``qa.fusion.rrf`` of the dense and BM25 top-``depth`` lists as ``Searcher.signals`` first reads
  them (``Snapshot.dense_search``, ``lexical.search``), before the fill-in;
* ``hybrid-2``: ``fusion.combine([dense, lexical], fusion.TWO_LIST_WEIGHTS)`` on those same *unfilled* lists
  (the "two-list z-score hybrid" of the ``qa/fusion.py`` docstring);
* ``hybrid-2 filled``: ``Searcher.fuse`` of the *filled-in* dense and BM25 lists of ``Searcher.signals``
  without the sentence list: what the product runs on an index built with ``QA_SENTENCE_VECTORS=0``;
* ``--extra e5``: multilingual-e5-small (``qa.e5``) as a second encoder (chunk vectors only):
  ``hybrid`` then also fuses its cosine list (weight ``fusion.EXTRA_WEIGHTS``, 1 by default), and the
  rows ``dense e5`` and ``hybrid without e5`` are added;
* ``--weights d,l,s[,e]``: a row ``hybrid d,l,s[,e]``, ``Searcher.fuse(signals, weights)``.

As in ``python -m qa eval --beir``: ``k`` = 200 chunks a question (``--k``), so hybrid fuses the top 200
of each list (``Searcher`` searches ``max(depth, k)`` deep; the app, asking for 5, searches 100), a
document scores as its best chunk (``qa.evaluation.doc_run``, first 100 documents), and acronyms are
expanded. The query loop runs on one thread (``single_threaded``); corpus encoding uses every core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import memory  # noqa: E402
from bench.corpus import SCIFACT  # noqa: E402
from bench.memory import evaluate  # noqa: E402
from qa import fusion  # noqa: E402
from qa.evaluation import BEIR_DEPTH, load_beir  # noqa: E402
from qa.retrieval import Searcher, Signals, expand_acronyms  # noqa: E402
from qa.snapshot import PRIMARY  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("SCIFACT_DIR", SCIFACT))
RESULTS = REPO / "bench" / "results" / "scifact.json"
K = 2 * BEIR_DEPTH  # chunks a question, as qa.evaluation.evaluate_beir asks for
EXTRAS = ("e5",)


# ---------------------------------------------------------------- encoders


def primary_encoder():
    """The product's encoder (all-MiniLM-L6-v2, dtype ``auto``, bulk batches of 32)."""
    from qa.embedding import load_embedder

    return load_embedder("auto", "cpu", 32)


def extra_encoder(key: str):
    """An extra encoder by key; a missing module or model is a clear error, not a traceback."""
    if key != "e5":
        raise SystemExit(f"Unknown extra encoder '{key}': use one of {', '.join(EXTRAS)}.")
    try:
        from qa.e5 import load_e5
    except ImportError as error:
        raise SystemExit(f"--extra e5 needs qa.e5.load_e5, which cannot be imported here ({error}).") from None
    from qa.errors import ModelMissingError

    try:
        return load_e5(1)  # one thread for questions; bench.memory.all_cores raises it for the corpus
    except ModelMissingError as error:
        raise SystemExit(f"--extra e5: {error}") from None


# ---------------------------------------------------------------- modes


def mode_names(extra=(), weights=None) -> list[str]:
    names = ["bm25", "dense", "rrf", "hybrid-2", "hybrid-2 filled", "hybrid"]
    for key in extra:
        names += [f"dense {key}"]
    if extra:
        names += [f"hybrid without {'+'.join(extra)}"]
    if weights:
        names += [weights_name(weights)]
    return names


def weights_name(weights) -> str:
    return "hybrid " + ",".join(f"{w:g}" for w in weights)


def encode_question(searcher: Searcher, question: str) -> tuple[dict, dict]:
    """The (acronym-expanded) question under every encoder of the snapshot, as ``Searcher.query_vectors``
    encodes it, and the seconds each encoder took."""
    query = expand_acronyms(question)
    vectors, seconds = {}, {}
    for key, encoder in searcher.encoders.items():
        if searcher.snapshot.has_dense(key):
            t0 = time.perf_counter()
            vectors[key] = encoder.encode_query(query)
            seconds[key] = time.perf_counter() - t0
    return vectors, seconds


def rank_all(searcher: Searcher, question: str, k: int = K, weights=None, vectors: dict | None = None):
    """``({mode: ranked chunks}, {mode: seconds})`` for one question; each mode is computed on its own
    (timed apart), from the same query vectors (``encode_question``'s, or encoded here)."""
    if vectors is None:
        vectors, _ = encode_question(searcher, question)
    query = expand_acronyms(question)
    snap = searcher.snapshot
    depth = max(searcher.depth, k)  # what Searcher.search uses
    extra = [key for key in vectors if key != PRIMARY]
    primary_only = {PRIMARY: vectors[PRIMARY]}

    def top_lists():
        return snap.dense_search(vectors[PRIMARY], depth), snap.lexical.search(query, depth)

    def two_filled():
        signals = searcher.signals(query, primary_only, depth)
        return Signals(signals.dense, signals.lexical, [])

    def without_extra():
        return Searcher.fuse(searcher.signals(query, primary_only, depth))[:k]

    modes = {
        "bm25": lambda: list(searcher.search(question, k, mode="bm25").hits),
        "dense": lambda: list(searcher.search(question, k, mode="dense", query_vectors=vectors).hits),
        "rrf": lambda: fusion.rrf(list(top_lists()))[:k],
        "hybrid-2": lambda: fusion.combine(list(top_lists()), fusion.TWO_LIST_WEIGHTS)[:k],
        "hybrid-2 filled": lambda: Searcher.fuse(two_filled())[:k],
        "hybrid": lambda: list(searcher.search(question, k, mode="hybrid", query_vectors=vectors).hits),
    }
    for key in extra:
        modes[f"dense {key}"] = lambda key=key: snap.dense_search(vectors[key], depth, key=key)[:k]
    if extra:
        modes[f"hybrid without {'+'.join(extra)}"] = without_extra
    if weights:
        modes[weights_name(weights)] = lambda: Searcher.fuse(searcher.signals(query, vectors, depth), weights)[:k]
    ranked, seconds = {}, {}
    for name, compute in modes.items():
        t0 = time.perf_counter()
        ranked[name] = compute()
        seconds[name] = time.perf_counter() - t0
    return ranked, seconds


def _encoders_used(name: str, extra) -> list[str]:
    """The query encodings a mode needs (for its ms per question)."""
    if name == "bm25":
        return []
    if name.startswith("dense "):
        return [name.split(" ", 1)[1]]
    if name == "hybrid" or (name.startswith("hybrid ") and "without" not in name and "filled" not in name):
        return [PRIMARY, *extra]
    return [PRIMARY]


# ---------------------------------------------------------------- benchmark


def run_benchmark(args) -> dict:
    corpus, queries, qrels = load_beir(args.data, args.split)
    corpus, qrels = memory.select(corpus, qrels, args.limit, args.corpus_limit)
    query_ids = sorted(qrels)
    encoders = {PRIMARY: primary_encoder(), **{key: extra_encoder(key) for key in args.extra}}
    if args.weights and len(args.weights) != 3 + len(args.extra):
        raise SystemExit(f"--weights takes {3 + len(args.extra)} values here (dense, lexical, sentence"
                         + "".join(f", {key}" for key in args.extra) + ").")

    t0 = time.perf_counter()
    snapshot, chunk_doc = memory.build_snapshot(corpus, encoders, cache=args.cache)
    setup_s = time.perf_counter() - t0
    searcher = Searcher(snapshot, encoders)
    for encoder in encoders.values():
        encoder.encode_query("warm up")

    names = mode_names(args.extra, args.weights)
    runs = {name: {} for name in names}
    search_s = {name: 0.0 for name in names}
    encode_s = {key: 0.0 for key in encoders}
    started = time.perf_counter()
    for query_id in query_ids:
        vectors, seconds = encode_question(searcher, queries[query_id])
        for key, value in seconds.items():
            encode_s[key] += value
        ranked, timings = rank_all(searcher, queries[query_id], args.k, args.weights, vectors)
        for name in names:
            runs[name][query_id] = memory.doc_run(ranked[name], chunk_doc)
            search_s[name] += timings[name]
    loop_s = time.perf_counter() - started

    n = max(len(query_ids), 1)
    encode_ms = {key: 1000 * value / n for key, value in encode_s.items()}
    rows = []
    for name in names:
        row = {"system": name, **evaluate(runs[name], qrels), "search_ms": 1000 * search_s[name] / n}
        row["ms_per_query"] = row["search_ms"] + sum(encode_ms[key] for key in _encoders_used(name, args.extra))
        rows.append(row)
    info = dict(snapshot.manifest["bench"])
    return {
        "dataset": "BEIR SciFact",
        "split": args.split,
        "queries": len(query_ids),
        "documents": info["documents"],
        "chunks": info["chunks"],
        "sentences": info["sentences"],
        "encoders": info["encoders"],
        "k": args.k,
        "depth": max(searcher.depth, args.k),
        "weights": {"dense": fusion.DENSE_WEIGHT, "lexical": fusion.LEXICAL_WEIGHT, "sentence": fusion.SENTENCE_WEIGHT,
                    **{key: fusion.EXTRA_WEIGHTS.get(key, 1.0) for key in args.extra}},
        "tried_weights": list(args.weights) if args.weights else None,
        "query_encode_ms": encode_ms,
        "setup_s": round(setup_s, 1),
        "encode_s": info["encode_s"],
        "query_loop_s": round(loop_s, 1),
        "rows": rows,
    }


def single_threaded() -> None:
    """One query at a time runs fastest on one thread: FAISS/BLAS/torch thread hand-offs and, on a
    shared machine, waiting for busy cores cost far more than they save (2 cores: 14 ms vs 100+ ms
    to encode a query, 0.7 ms vs 13–19 ms for a flat FAISS search). Corpus encoding uses all cores
    (``bench.memory.all_cores``)."""
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def print_table(result: dict) -> None:
    encode = ", ".join(f"{key} {ms:.1f} ms" for key, ms in result["query_encode_ms"].items())
    print(
        f"SciFact {result['split']} ({result['queries']} queries, {result['documents']} documents, {result['chunks']} chunks, "
        f"{result['sentences']} sentences; k {result['k']}, depth {result['depth']}); query encoding {encode}"
    )
    print(f"{'system':<22} {'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8} {'search ms':>10} {'ms/query':>9}")
    for row in result["rows"]:
        print(
            f"{row['system']:<22} {row['ndcg@10']:>8.4f} {row['recall@100']:>8.4f} {row['mrr@10']:>8.4f} "
            f"{row['search_ms']:>10.2f} {row['ms_per_query']:>9.2f}"
        )
    print(f"setup {result['setup_s']} s (encoding {result['encode_s']} s), query loop {result['query_loop_s']} s")


def result_key(args) -> str:
    key = args.split + "".join(f"-{e}" for e in args.extra)
    if args.weights:
        key += "-w" + ",".join(f"{w:g}" for w in args.weights)
    if args.k != K:
        key += f"-k{args.k}"
    if args.limit:
        key += f"-limit{args.limit}"
    if args.corpus_limit:
        key += f"-corpus{args.corpus_limit}"
    return key


def parse_weights(text: str) -> tuple[float, ...]:
    try:
        weights = tuple(float(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of numbers such as 0.3,1,1.3") from None
    if len(weights) not in (3, 4):
        raise argparse.ArgumentTypeError("give 3 weights (dense, lexical, sentence) or 4 (and the extra encoder's)")
    return weights


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--limit", type=int, default=0, help="only the first N judged queries (sorted by id)")
    parser.add_argument("--corpus-limit", type=int, default=0,
                        help="a quick check: only the documents judged for the queries and the first N others")
    parser.add_argument("--extra", action="append", default=[], choices=EXTRAS,
                        help="an extra encoder fused into hybrid (e5: multilingual-e5-small via qa.e5)")
    parser.add_argument("--weights", type=parse_weights, help="also fuse with these weights: d,l,s[,e]")
    parser.add_argument("--k", type=int, default=K, help=f"chunks a question (default {K}, as qa eval --beir)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=memory.CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.extra = list(dict.fromkeys(args.extra))
    single_threaded()
    result = run_benchmark(args)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.output.read_text()) if args.output.exists() else {}
    existing[result_key(args)] = result
    args.output.write_text(json.dumps(existing, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
