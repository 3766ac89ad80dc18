"""Query latency, memory and ANN recall at 10k / 100k / 1M passages.

    .venv/bin/python bench/query.py [--sizes 10000,100000,1000000] [--queries 100] [--embedder real|fake]
                                    [--no-sq8] [--no-exact] [--quick]

For each size a real index is built with the store's own code (``Store.apply``: SQLite rows, BM25, FAISS;
the FAISS kind is what ``Settings``/``vectors.choose`` pick for that count) in a temporary folder, and then
*read back in a fresh process* (as the app would), which measures, for one question at a time,
``qa.retrieval.search(store, embedder, q, k=10, mode="hybrid")`` in-process: p50/p95 per stage (encode,
BM25, FAISS, fusion, the SQLite join to passages) and in total.

What is real and what is not (also written into the JSON):

* passage texts: real SciFact chunks (``/work/shared/corpora/beir_scifact/corpus.jsonl``, title + abstract,
  cut by ``qa.chunking``), replicated to the size with light perturbation: every replica of a chunk starts
  with a replica tag word (``v<replica>``), so no two passages are identical and the BM25 vocabulary and
  posting lists grow as with more text; 50 passages make one stored document (titled "Document N",
  which ``chunking.embedding_text`` puts before each passage, as for real documents). BM25 is built by
  the store's own code, tokenisation included (``bm25_build`` in the build times).
* vectors: encoding a million passages takes hours on this CPU, so FAISS holds *synthetic* unit vectors
  from a generator calibrated on real all-MiniLM-L6-v2 embeddings of SciFact (2,500 abstracts, 400
  queries): mean vector norm 0.35 (real 0.36), mean doc-doc cosine 0.13 (real 0.13), query top-1/top-10
  cosine 0.57/0.46 (real 0.58/0.41), 61–68 % of the variance in the top 50 principal directions (real 61 %).
  Uniform random vectors would make every ANN look far worse than on real embeddings (no neighbourhoods).
  Recall@10 of the approximate index is measured against exact search on 200 synthetic queries from the
  same generator; the latency figures use the real questions encoded by the real model.
* sentence vectors: for each passage, one synthetic vector per real sentence of its text (the
  passage's vector plus Gaussian noise), stored as float16 in SQLite as the index stores real ones;
  hybrid search reads those of every candidate (the "fusion" stage: fill-in of missing scores, the
  best sentence per candidate, z-score fusion).
* questions: real SciFact queries.

Memory: bytes per passage for each component (FAISS, BM25, SQLite: embeddings, chunk rows, document text),
from the files and from the reader process's resident memory before/after loading each index. "loaded total"
is the reader's growth after the questions: for indexes of up to 20,000 passages it includes the sentence
vectors that ``Store.sentence_vectors`` keeps in memory (about 7 kB a passage here); larger indexes read them
from SQLite for each question.
Prints a table, writes ``bench/results/query.json`` and ``bench/results/query.png`` (bench/plot.py).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa import lexical, vectors  # noqa: E402
from qa.chunking import ChunkSettings, chunk_document  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.sentences import sentence_spans  # noqa: E402
from qa.snapshot import PRIMARY, Generation  # noqa: E402
from qa.store import DocumentUpsert, Store, build_manifest  # noqa: E402
from qa.types import Chunk, Document  # noqa: E402
from bench.corpus import SCIFACT, pct, scifact_questions  # noqa: E402

RESULTS = REPO / "bench" / "results"
D = 384


# ----------------------------------------------------------------------------- synthetic vectors
def make_space(seed: int = 0, topics: int = 4096) -> dict:
    """Parameters of the vector generator (see the module docstring for its calibration)."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((D, D)))
    spectrum = np.arange(1, D + 1, dtype=np.float64) ** -0.5
    spectrum /= np.sqrt((spectrum**2).sum())
    mean = rng.standard_normal(D)
    mean /= np.linalg.norm(mean)
    centres = (rng.standard_normal((topics, D)) * spectrum) @ basis.T
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    f = np.float32
    return {"basis": basis.astype(f), "spectrum": spectrum.astype(f), "mean": mean.astype(f), "centres": centres.astype(f)}


def sample_vectors(space: dict, n: int, seed: int, noise: float = 0.9, mean_weight: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, len(space["centres"]), n)
    z = (rng.standard_normal((n, D)).astype(np.float32) * space["spectrum"]) @ space["basis"].T
    x = mean_weight * space["mean"] + space["centres"][topic] + noise * z
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def synthetic_vectors(space: dict, n: int, seed: int = 1, block: int = 100_000) -> np.ndarray:
    out = np.empty((n, D), dtype=np.float32)
    for i in range(0, n, block):
        out[i : i + block] = sample_vectors(space, min(block, n - i), seed * 1_000_003 + i)
    return out


def exact_top(matrix: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Exact top-k ids by inner product, in blocks (ground truth for recall)."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(matrix), 100_000):
        scores = queries @ matrix[start : start + 100_000].T
        kk = min(k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        all_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], 1)
        all_i = np.concatenate([best_i, ids[start + part]], 1)
        order = np.argsort(-all_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(all_s, order, 1), np.take_along_axis(all_i, order, 1)
    return best_i


# ----------------------------------------------------------------------------- texts
def base_chunks(limit: int | None = None) -> list[str]:
    """Real SciFact chunk texts (title + abstract of each document, cut by qa.chunking)."""
    texts = []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            if limit is not None and n >= limit:
                break
            doc = json.loads(line)
            text = f"{doc['title'].strip()}\n\n{doc['text'].strip()}".strip()
            document = Document(path=f"{doc['_id']}.txt", text=text, title=doc["title"], content_hash="")
            texts.extend(c.text for c in chunk_document(document, ChunkSettings()))
    return texts


def upserts_for(texts: list[str], size: int, space: dict, per_doc: int = 50, sentences: bool = True):
    """DocumentUpserts holding ``size`` passages (replicated tagged texts, synthetic vectors), and the vectors.

    With ``sentences``, each passage also gets one synthetic sentence vector per real sentence (the
    passage's vector plus Gaussian noise: cosine about 0.7 to it), stored as the index stores them."""
    matrix = synthetic_vectors(space, size)
    base_spans = [np.array(sentence_spans(t), dtype=np.int32).reshape(-1, 2) for t in texts] if sentences else None
    upserts = []
    for doc_no, start in enumerate(range(0, size, per_doc)):
        parts, chunks, offset = [], [], 0
        sentence_sets = [] if sentences else None
        rng = np.random.default_rng(doc_no)
        for i in range(start, min(size, start + per_doc)):
            tag = f"v{i // len(texts)} "
            body = tag + texts[i % len(texts)]
            if sentences:
                spans = base_spans[i % len(texts)] + len(tag)
                noisy = matrix[i] + rng.standard_normal((len(spans), matrix.shape[1]), dtype=np.float32) * 0.05
                sentence_sets.append((spans, (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float16)))
            chunks.append(
                Chunk(
                    doc=f"d{doc_no:06d}.txt", ordinal=len(chunks), start=offset, end=offset + len(body), text=body,
                    section="", page=None, page_end=None, page_label=None, para=None,
                    chunk_hash=hashlib.sha1(body.encode()).hexdigest() + str(i),
                )
            )
            parts.append(body)
            offset += len(body) + 2
        text = "\n\n".join(parts)
        document = Document(path=f"d{doc_no:06d}.txt", text=text, title=f"Document {doc_no}", content_hash=str(doc_no))
        upserts.append(
            DocumentUpsert(document, tuple(chunks), matrix[start : start + len(chunks)], sentences=None if sentence_sets is None else tuple(sentence_sets))
        )
    return upserts, matrix


# ----------------------------------------------------------------------------- helpers
def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def stage_stats(samples: dict) -> dict:
    return {name: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "mean": statistics.fmean(v)} for name, v in samples.items() if v}


def load_average() -> float:
    return os.getloadavg()[0]


class Timer:
    """Wraps methods of a store instance to add up their wall and CPU time."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def wrap(self, obj, name: str, label: str):
        original = getattr(obj, name)

        def timed(*args, **kwargs):
            w, c = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.wall[label] = self.wall.get(label, 0.0) + time.perf_counter() - w
                self.cpu[label] = self.cpu.get(label, 0.0) + time.process_time() - c

        setattr(obj, name, timed)


def sqlite_breakdown(db: Path, count: int) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        embeddings = conn.execute("SELECT SUM(length(embedding)) FROM chunks").fetchone()[0] or 0
        chunk_text = conn.execute("SELECT SUM(end - start) FROM chunks").fetchone()[0] or 0
        doc_text = conn.execute("SELECT SUM(length(CAST(text AS BLOB))) FROM documents").fetchone()[0] or 0
        tables = {}
        try:
            for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
                tables[name] = size
        except sqlite3.Error:
            pass
    finally:
        conn.close()
    wal = db.with_name(db.name + "-wal")
    file_bytes = db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    per = lambda v: v / count if count else None  # noqa: E731
    return {
        "file_bytes": file_bytes,
        "file_per_passage": per(file_bytes),
        "embedding_blob_per_passage": per(embeddings),
        "chunk_text_chars_per_passage": per(chunk_text),
        "document_text_bytes_per_passage": per(doc_text),
        "tables_bytes": tables,
    }


def dir_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- build (parent process)
def build(size: int, texts: list[str], space: dict, root: Path, settings, args) -> dict:
    index_dir = root / f"index-{size}"
    shutil.rmtree(index_dir, ignore_errors=True)
    started = time.perf_counter()
    upserts, matrix = upserts_for(texts, size, space, sentences=settings.sentence_vectors)
    prepare_s = time.perf_counter() - started

    tok_started = time.perf_counter()
    for t in texts[:300]:
        lexical.tokenize(t)
    tokenize_ms = (time.perf_counter() - tok_started) / min(300, len(texts)) * 1000

    manifest = build_manifest(settings, D, "float32")
    store = Store.create(index_dir, manifest)
    store.writable = True
    store.vector_policy = vectors.Policy.from_settings(settings)
    timer = Timer()
    for obj, name, label in (
        (store, "_next_dense", "faiss_build"),
        (store, "_build_lexical", "bm25_build"),
        (store.files, "write", "files_write"),
    ):
        timer.wrap(obj, name, label)
    w, c = time.perf_counter(), time.process_time()
    store.apply(upserts, [], [], manifest=manifest, replace_all=True)
    apply_wall, apply_cpu = time.perf_counter() - w, time.process_time() - c
    del upserts
    gc.collect()
    index = store.vector_index()
    info = vectors.describe(index)
    ids = store.chunk_ids()
    store.close()
    rest = apply_wall - sum(timer.wall.values())

    # Ground truth and candidates for recall, against the very index the reader will load.
    queries = sample_vectors(space, args.recall_queries, seed=99)
    truth = exact_top(matrix, ids, queries, 10)
    np.save(index_dir / "bench-queries.npy", queries)
    np.save(index_dir / "bench-truth.npy", truth)

    extra = {}
    if info["kind"] != vectors.EXACT:
        if not args.no_exact:
            extra["exact"] = exact_faiss(matrix, ids, queries, args)
        if info["kind"] == vectors.IVF and info["codec"] == vectors.FLOAT32 and not args.no_sq8:
            extra["ivf_sq8"] = sq8_variant(index_dir, matrix, ids, queries, truth, args)
    del matrix
    gc.collect()
    return {
        "size": size,
        "index_dir": str(index_dir),
        "vector_index": info,
        "build": {
            "prepare_s": prepare_s,
            "apply_wall_s": apply_wall,
            "apply_cpu_s": apply_cpu,
            "stages_wall_s": {**timer.wall, "sqlite_rows_and_rest": rest},
            "stages_cpu_s": timer.cpu,
            "bm25_tokenize_ms_per_passage": tokenize_ms,
        },
        "compare": extra,
    }


def timed_searches(index, queries: np.ndarray, k: int = 100) -> list[float]:
    out = []
    for row in queries:
        t = time.perf_counter()
        vectors.search(index, row, k)
        out.append((time.perf_counter() - t) * 1000)
    return out


def recall_of(index, queries: np.ndarray, truth: np.ndarray) -> float:
    hits = [len({i for i, _ in vectors.search(index, q, 100)[:10]} & set(t.tolist())) / 10 for q, t in zip(queries, truth)]
    return float(np.mean(hits))


def exact_faiss(matrix, ids, queries, args) -> dict:
    index = vectors.build(ids, matrix, D, vectors.EXACT)
    lat = timed_searches(index, queries[: args.latency_queries])
    out = {"faiss_ms": {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95)}, "memory_bytes": vectors.memory_bytes(index)}
    del index
    gc.collect()
    return out


def sq8_variant(index_dir: Path, matrix, ids, queries, truth, args) -> dict:
    """The same IVF lists (trained quantizer and assignments reused) with 8-bit scalar-quantized vectors."""
    import faiss

    started = time.perf_counter()
    source = vectors.load(next(index_dir.glob("vectors-*.faiss")))
    ivf = faiss.extract_index_ivf(source)
    quantizer = faiss.clone_index(ivf.quantizer)
    sq = faiss.IndexIVFScalarQuantizer(quantizer, D, ivf.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    sq.own_fields = True
    quantizer.this.disown()
    rows = np.sort(np.random.default_rng(0).choice(len(matrix), min(len(matrix), 100_000), replace=False))
    sq.train(matrix[rows])  # the quantizer is trained already: only the per-dimension ranges are
    sq.set_direct_map_type(faiss.DirectMap.Hashtable)
    sq.nprobe = ivf.nprobe
    assign = np.empty(len(ids), dtype=np.int64)  # the list of every vector, from the float32 index
    lists = ivf.invlists
    for list_no in range(ivf.nlist):
        size = lists.list_size(list_no)
        if size:
            members = faiss.rev_swig_ptr(lists.get_ids(list_no), size).copy()
            assign[np.searchsorted(ids, members)] = list_no
    sq.add_core(len(ids), faiss.swig_ptr(matrix), faiss.swig_ptr(ids), faiss.swig_ptr(assign))
    build_s = time.perf_counter() - started
    lat = timed_searches(sq, queries[: args.latency_queries])
    out = {
        "recall_at_10": recall_of(sq, queries, truth),
        "faiss_ms": {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95)},
        "memory_bytes": vectors.memory_bytes(sq),
        "memory_bytes_per_passage": vectors.memory_bytes(sq) / len(ids),
        "build_s_reusing_lists": build_s,
        "nprobe": int(sq.nprobe),
    }
    del sq, source
    gc.collect()
    return out


# ----------------------------------------------------------------------------- read (child process)
class FakeEmbedder:
    """Hashed bag of words (instant; for the smoke test only)."""

    dimension = D
    dtype = "fake"

    def encode_query(self, text):
        v = np.zeros(D, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.blake2b(word.encode(), digest_size=4).hexdigest(), 16) % D] += 1
        return (v / max(np.linalg.norm(v), 1e-9)).reshape(1, -1)


def read(index_dir: Path, args) -> dict:
    """Open the index as a fresh reader: resident memory per component, load times, query latency."""
    from qa import retrieval
    from qa.encoders import embedder_for

    settings = load_settings().with_(second_encoder="")  # synthetic vectors of the primary model only
    base = rss_bytes()
    if args.embedder == "real":
        embedder = embedder_for(settings.with_(dtype="auto"))
        embedder.encode_query("warm-up question")
    else:
        embedder = FakeEmbedder()
    after_model = rss_bytes()
    store = Store.open(index_dir, settings)
    after_open = rss_bytes()
    generation, ids = store.generation, store.chunk_ids()
    w = time.perf_counter()
    index = store.files.load_dense(generation, PRIMARY, ids, D)
    faiss_load_s = time.perf_counter() - w
    after_faiss = rss_bytes()
    w = time.perf_counter()
    lexical_index = store.files.load_lexical(generation, ids)
    bm25_load_s = time.perf_counter() - w
    after_bm25 = rss_bytes()
    # Readers search the generation just loaded (its sentence vectors are read per question above the cache size).
    sentences = None
    if store.manifest.get("sentence_vectors") and len(ids) <= store.sentence_cache_passages:
        with store._read() as reads:
            sentences = reads.all_sentence_vectors()
    store._current = Generation(generation, store.manifest, ids, {PRIMARY: index}, lexical_index, sentences)

    questions = scifact_questions()[: args.queries]
    for q in questions[:5]:  # warm-up: first-touch of pages, caches
        retrieval.search(store, embedder, q, k=10, mode="hybrid")
    stages = {"encode": [], "bm25": [], "faiss": [], "fusion": [], "passages": [], "total": [], "total_cpu": []}
    for _ in range(args.repeat):
        for q in questions:
            timings: dict = {}
            t, c = time.perf_counter(), time.process_time()
            passages = retrieval.search(store, embedder, q, k=10, mode="hybrid", timings=timings)
            total = (time.perf_counter() - t) * 1000
            stages["total_cpu"].append((time.process_time() - c) * 1000)  # CPU of the whole process
            assert passages
            stages["encode"].append(timings.get("encode_ms", 0.0))
            stages["bm25"].append(timings.get("bm25_ms", 0.0))
            stages["faiss"].append(timings.get("faiss_ms", 0.0))
            stages["fusion"].append(timings.get("fusion_ms", 0.0))
            stages["passages"].append(total - sum(timings.get(k, 0.0) for k in ("encode_ms", "bm25_ms", "faiss_ms", "fusion_ms")))
            stages["total"].append(total)
    after_queries = rss_bytes()

    queries = np.load(index_dir / "bench-queries.npy")
    truth = np.load(index_dir / "bench-truth.npy")
    recall = recall_of(index, queries, truth)
    count = int(index.ntotal)
    s = lexical_index._bm25.scores
    bm25_arrays = sum(np.asarray(s[k]).nbytes for k in ("data", "indices", "indptr")) + np.asarray(lexical_index._ids).nbytes
    vocab = lexical_index._bm25.vocab_dict
    vocab_bytes = sys.getsizeof(vocab) + sum(sys.getsizeof(t) + 28 for t in vocab)
    generation = store.generation
    result = {
        "passages": count,
        "vector_index": vectors.describe(index),
        "recall_at_10": recall,
        "latency_ms": stage_stats(stages),
        "questions": len(questions) * args.repeat,
        "embedder": getattr(embedder, "dtype", args.embedder),
        "load_s": {"faiss": faiss_load_s, "bm25": bm25_load_s},
        "rss_bytes": {
            "model": after_model - base,
            "store_open": after_open - after_model,
            "faiss": after_faiss - after_open,
            "bm25": after_bm25 - after_faiss,
            "after_queries": after_queries - after_bm25,
            "loaded_index_total": after_queries - after_model,
            "process": after_queries,
        },
        "memory_per_passage": {
            "faiss_estimate": vectors.memory_bytes(index) / count,
            "faiss_file": dir_bytes(store.files.vectors_path(generation)) / count,
            "faiss_rss": (after_faiss - after_open) / count,
            "bm25_arrays": bm25_arrays / count,
            "bm25_vocab": vocab_bytes / count,
            "bm25_files": dir_bytes(store.files.lexical_path(generation)) / count,
            "bm25_rss": (after_bm25 - after_faiss) / count,
        },
        "sqlite": sqlite_breakdown(index_dir / "store.sqlite3", count),
        "load_average": load_average(),
    }
    store.close()
    return result


# ----------------------------------------------------------------------------- main
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated passage counts")
    parser.add_argument("--queries", type=int, default=100, help="real SciFact questions per size (default 100)")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the questions (default 2)")
    parser.add_argument("--recall-queries", type=int, default=200)
    parser.add_argument("--latency-queries", type=int, default=100, help="synthetic queries for FAISS-only latencies")
    parser.add_argument("--embedder", choices=("real", "fake"), default="real")
    parser.add_argument("--no-sq8", action="store_true", help="skip the IVF-SQ8 comparison")
    parser.add_argument("--no-exact", action="store_true", help="skip the exact-search comparison above the threshold")
    parser.add_argument("--ann-threshold", type=int, default=None, help="override Settings.ann_threshold")
    parser.add_argument("--quick", action="store_true", help="smoke test: few questions, fake embedder, no plot")
    parser.add_argument("--output", default=str(RESULTS / "query.json"))
    parser.add_argument("--workdir", default=None, help="where to build the indexes (default: a temporary folder)")
    parser.add_argument("--read", default=None, help=argparse.SUPPRESS)  # internal: run the reader on this index
    args = parser.parse_args(argv)
    if args.quick:
        args.queries, args.repeat, args.recall_queries, args.latency_queries = 10, 1, 50, 20
        args.embedder = "fake"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.read:
        print(json.dumps(read(Path(args.read), args)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    settings = load_settings().with_(second_encoder="")  # synthetic vectors of the primary model only
    if args.ann_threshold is not None:
        settings = settings.with_(ann_threshold=args.ann_threshold)
    texts = base_chunks(limit=300 if args.quick else None)
    space = make_space()
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="verbatim-bench-query-"))
    root.mkdir(parents=True, exist_ok=True)
    runs = []
    try:
        for size in sizes:
            print(f"[{time.strftime('%H:%M:%S')}] building {size:,} passages…", file=sys.stderr, flush=True)
            built = build(size, texts, space, root, settings, args)
            print(f"[{time.strftime('%H:%M:%S')}] reading {size:,} passages…", file=sys.stderr, flush=True)
            child = [sys.executable, str(Path(__file__).resolve()), "--read", built["index_dir"],
                     "--queries", str(args.queries), "--repeat", str(args.repeat), "--embedder", args.embedder]
            done = subprocess.run(child, capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:
                raise RuntimeError(f"reader failed:\n{done.stderr[-3000:]}")
            built["read"] = json.loads(done.stdout.strip().splitlines()[-1])
            shutil.rmtree(built.pop("index_dir"), ignore_errors=True)
            runs.append(built)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "gpu": "none (the device tool said this task was not drawn for a GPU machine)",
            "load_average_at_end": load_average(),
        },
        "settings": {"ann_threshold": settings.ann_threshold, "ann_kind": settings.ann_kind, "vector_codec": settings.vector_codec},
        "data": {
            "texts": f"{len(texts)} real SciFact chunks replicated with a replica tag word per passage",
            "vectors": "synthetic, calibrated on real all-MiniLM-L6-v2 SciFact embeddings (see bench/query.py)",
            "questions": f"real SciFact queries, {args.queries} × {args.repeat} passes",
            "embedder": args.embedder,
        },
        "runs": runs,
        "quick": args.quick,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    if not args.quick:
        try:
            from bench.plot import plot_query

            plot_query(result, output.with_suffix(".png"))
            print(f"plot: {output.with_suffix('.png')}")
        except Exception as exc:  # the numbers matter more than the picture
            print(f"(no plot: {exc})")
    return 0


def print_table(result: dict) -> None:
    print(f"\nQuery latency, one question at a time, hybrid (ms; p50/p95). Machine: {result['machine']['cpus']} CPUs, "
          f"load average {result['machine']['load_average_at_end']:.1f} at the end; GPU: none.")
    head = f"{'passages':>10} {'index':<14} {'encode':>11} {'BM25':>11} {'FAISS':>11} {'fusion':>9} {'rows':>9} {'total':>11} {'recall@10':>9}"
    print(head)
    for run in result["runs"]:
        r = run["read"]
        lat = r["latency_ms"]
        kind = r["vector_index"]
        label = kind["kind"] + (f"/{kind['nlist']}/{kind['nprobe']}" if kind["kind"] == "ivf" else "")
        cell = lambda name, w=11: f"{lat[name]['p50']:.1f}/{lat[name]['p95']:.1f}".rjust(w)  # noqa: E731
        print(f"{r['passages']:>10,} {label:<14} {cell('encode')} {cell('bm25')} {cell('faiss')} {cell('fusion', 9)} "
              f"{cell('passages', 9)} {cell('total')} {r['recall_at_10']:>9.3f}")
        for name, other in run["compare"].items():
            rec = other.get("recall_at_10", 1.0)
            print(f"{'':>10} {'  vs ' + name:<14} {'':>11} {'':>11} {other['faiss_ms']['p50']:.1f}/{other['faiss_ms']['p95']:.1f}".ljust(60)
                  + f"  recall@10 {rec:.3f}, {other['memory_bytes'] / r['passages']:.0f} B/passage")
    print("(total_cpu p50/p95, process CPU ms a question: "
          + ", ".join(f"{run['read']['passages']:,}: {run['read']['latency_ms']['total_cpu']['p50']:.1f}/"
                      f"{run['read']['latency_ms']['total_cpu']['p95']:.1f}" for run in result["runs"]) + ")")
    print("\nMemory, bytes per passage (reader process; RSS = resident growth when loading)")
    print(f"{'passages':>10} {'FAISS est':>10} {'FAISS rss':>10} {'BM25 arr':>9} {'BM25 rss':>9} {'SQLite':>8} {'emb blob':>9} "
          f"{'doc text':>9} {'loaded total MB':>16} {'build s (FAISS/BM25/rest)':>26}")
    for run in result["runs"]:
        r, m, q = run["read"], run["read"]["memory_per_passage"], run["read"]["sqlite"]
        b = run["build"]["stages_wall_s"]
        print(f"{r['passages']:>10,} {m['faiss_estimate']:>10.0f} {m['faiss_rss']:>10.0f} {m['bm25_arrays']:>9.0f} "
              f"{m['bm25_rss']:>9.0f} {q['file_per_passage']:>8.0f} {q['embedding_blob_per_passage']:>9.0f} "
              f"{q['document_text_bytes_per_passage']:>9.0f} {r['rss_bytes']['loaded_index_total'] / 1e6:>16.0f} "
              f"{b.get('faiss_build', 0):>8.1f}/{b.get('bm25_build', 0):.1f}/{b.get('sqlite_rows_and_rest', 0):.1f}".rjust(26))


if __name__ == "__main__":
    sys.exit(main())
