"""The PostgreSQL store of record (``qa.pgstore``, ``qa.pgindex``): ingest with several indexer processes,
and an app server's load time, memory and question latency against a large store.

    .venv/bin/python bench/pg.py --ingest [--docs 300] [--procs 1,2,4] [--rounds 3] [--fake] [--no-sqlite]
    .venv/bin/python bench/pg.py --latency [--passages 1000000] [--variants product,sq8]
    .venv/bin/python bench/pg.py --latency --passages 100000,300000 --variants product,sq8,flat  # + linear fit to 1M
    .venv/bin/python bench/pg.py --ingest --latency --quick             # smoke test (fake embedder, small)

Each part starts a throwaway cluster (``tests/pgcluster.py``, fsync off) and one database per run.

``--ingest``: the first ``--docs`` SciFact abstracts (``../shared/corpora/beir_scifact``) written as ``<id>.md``
(``# title``, blank line, abstract) into a temporary folder. For each N of ``--procs``, N spawned processes,
each with ``torch.set_num_threads(max(1, cores // N))`` and its own embedder (the real MiniLM model, or the
fake one with ``--fake``), load the model, wait at a common start, then each runs ``qa.stores.update_index``
(``qa.pgindex.update_shared``) on the same folder and database, as N users of ``verbatim index`` would: each
plans (one at a time: the plan lock), claims, embeds, stages and publishes. Wall time runs from the common
start to the last process's end; CPU s is the processes' user+sys. The store is then checked: every document
live exactly once, the chunk count of the 1-process build, no staged rows, every queued file ``done`` once,
``PgStore.verify()`` (FAISS and BM25 against the rows). Unless ``--no-sqlite``, a 1-process build of the same
folder into a local SQLite index runs too, as the baseline. Rounds alternate the order of the runs; the ratio
to 1 process is taken within each round (the 2-core machine is shared and its speed drifts), then the median.

``--latency``: a database filled directly by ``COPY`` with synthetic live rows (generation 1, no sentence
vectors): documents of ``--per-doc`` chunks of ``--words`` words drawn (Zipf-like, fixed seed) from a fixed
vocabulary of pseudo-words, random unit float32 384-d embeddings. For each variant a fresh process is the app
server: ``PgStore.open`` (what ``qa.stores.open_store`` does) and its first ``snapshot()`` (every row read,
FAISS and BM25 built in memory) is the load time, split by wrapping (not changing) ``Reads.embeddings``,
``Reads.lexical_rows``, ``vectors.build``/``update`` and ``LexicalIndex.build``; VmRSS before and after, VmHWM
(the peak); then ``--questions`` questions from the vocabulary through ``qa.retrieval.search`` (hybrid, k=5, the
fake embedder for question vectors) after 5 warm-up ones: p50/p95, and the search's own stage timings ("rest"
is what they leave out, mostly reading the hits' rows). Then one new document of 10 chunks is published
(``PgStore.apply`` on a second store object) and the next snapshot timed: the incremental catch-up
(``store.catch_ups``) against the full load. Variants (the app server's settings; the FAISS kind follows them
and the passage count): ``product`` the defaults (exact up to ``ann_threshold``, IVF above), ``sq8`` with
``vector_codec="sq8"`` (8-bit codes), ``flat`` exact search at any size (``ann_threshold`` out of reach).

Prints tables; writes ``bench/results/pg.json`` (keys ``ingest`` and ``latency``; a part run alone keeps the other).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.corpus import SCIFACT, pct

RESULTS = Path(os.environ.get("VERBATIM_BENCH_RESULTS") or REPO / "bench" / "results") / "pg.json"
CORES = os.cpu_count() or 1
DIM = 384


def memory_mb() -> dict:
    """VmRSS and VmHWM (peak) of this process, MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def settings_for(url: str, root: Path, **changes):
    from qa.settings import load_settings

    return load_settings({}).with_(docs=root / "docs", index=root / "cache", store=url, **changes)


# ============================================================================================ ingest


def write_scifact(docs: Path, limit: int) -> int:
    docs.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if count >= limit:
                break
            doc = json.loads(line)
            (docs / f"{doc['_id']}.md").write_text(f"# {doc['title'].strip()}\n\n{doc['text'].strip()}\n", encoding="utf-8")
            count += 1
    return count


def _indexer(number, processes, url, docs, cache, fake, ready, go, results):
    """One indexer process: pin threads, load the embedder, wait for the start, run ``update_index``."""
    import torch

    threads = max(1, CORES // processes)
    torch.set_num_threads(threads)
    from qa.settings import load_settings
    from qa.stores import update_index

    settings = load_settings({}).with_(docs=Path(docs), index=Path(cache), store=url or None)
    if fake:
        from conftest import FakeEmbedder

        embedder = FakeEmbedder()
    else:
        from qa.embedding import load_embedder

        embedder = load_embedder(settings.dtype, settings.device, settings.batch_size)
        embedder.encode(["warm-up sentence"] * 4)
    ready.put(number)
    go.wait()
    started, cpu = time.monotonic(), time.process_time()
    report = update_index(Path(docs), Path(cache), settings, embedder=embedder, lock_wait=120)
    results.put({"worker": number, "threads": threads, "started": started, "ended": time.monotonic(),
                 "cpu_s": time.process_time() - cpu,
                 "staged_files": len(report.added) + len(report.changed), "chunks_embedded": report.chunks_embedded,
                 "sentences_embedded": report.sentences_embedded, "generation": report.generation})


def receive(queue, procs, count: int) -> list:
    """``count`` results from ``queue``; raises as soon as a process died without sending its result."""
    import queue as queue_module

    got = []
    while len(got) < count:
        try:
            got.append(queue.get(timeout=2))
        except queue_module.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise RuntimeError(f"a child process failed (exit codes {[p.exitcode for p in procs]}); see above")
    return got


def cpu_ticks() -> dict:
    """The machine's busy and steal (time the hypervisor gave the vCPUs to others) seconds so far, /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return {"busy_s": (sum(fields[:8]) - fields[3] - fields[4]) / tick, "steal_s": fields[7] / tick}


def run_indexers(processes: int, url: str, docs: Path, root: Path, fake: bool) -> dict:
    """``processes`` indexers started together; wall seconds from the common start to the last end."""
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_indexer, args=(i, processes, url, str(docs), str(root / f"cache-{i}"), fake,
                                                   ready, go, results)) for i in range(processes)]
    for p in procs:
        p.start()
    receive(ready, procs, len(procs))
    start, ticks = time.monotonic(), cpu_ticks()
    go.set()
    done = receive(results, procs, len(procs))
    machine = {k: v - ticks[k] for k, v in cpu_ticks().items()}
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"an indexer process exited with {p.exitcode}")
    return {"wall_s": max(d["ended"] for d in done) - start, "cpu_s": sum(d["cpu_s"] for d in done),
            "machine_busy_s": machine["busy_s"], "steal_s": machine["steal_s"],
            "load_average": os.getloadavg()[0], "workers": sorted(done, key=lambda d: d["worker"])}


def check_store(url: str, root: Path) -> dict:
    """What the database holds after a run: live documents and paths, chunks, staged rows, the work queue."""
    from qa.pgstore import PgStore, connect

    conn = connect(url)
    try:
        one = lambda sql: conn.execute(sql).fetchone()[0]
        out = {
            "documents": one("SELECT COUNT(*) FROM verbatim.documents"),
            "distinct_paths": one("SELECT COUNT(DISTINCT path) FROM verbatim.documents"),
            "chunks": one("SELECT COUNT(*) FROM verbatim.chunks"),
            "staged_documents": one("SELECT COUNT(*) FROM verbatim.documents_all WHERE generation IS NULL"),
            "staged_chunks": one("SELECT COUNT(*) FROM verbatim.chunks_all WHERE generation IS NULL"),
            "generation": int(one("SELECT value FROM verbatim.meta WHERE key='generation'")),
            "work": dict(conn.execute("SELECT state, COUNT(*) FROM verbatim.work GROUP BY state").fetchall()),
        }
    finally:
        conn.close()
    store = PgStore.open(url, settings_for(url, root))
    try:
        verified = store.verify()
        out["verify"] = {k: verified[k] for k in ("documents", "chunks", "faiss", "lexical")}
    finally:
        store.close()
    return out


def ingest(args) -> dict:
    from pgcluster import Cluster

    root = Path(tempfile.mkdtemp(prefix="verbatim-bench-pg-"))
    try:
        docs = root / "docs"
        files = write_scifact(docs, args.docs)
        runs = (["sqlite"] if not args.no_sqlite else []) + [int(n) for n in args.procs.split(",")]
        measured: dict = {str(run): [] for run in runs}
        checks: dict = {}
        with Cluster.start() as pg:
            for r in range(args.rounds):
                for run in runs if r % 2 == 0 else runs[::-1]:
                    name = f"ingest_{run}_{r}"
                    if run == "sqlite":
                        url, n = "", 1
                    else:
                        url, n = pg.create_database(name), run
                    result = run_indexers(n, url, docs, root / name, args.fake)
                    measured[str(run)].append(result)
                    if url:
                        checks.setdefault(str(run), []).append(check_store(url, root / name))
                        pg.drop_database(name)
                    print(f"  round {r + 1}: {run} → {result['wall_s']:.1f} s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    first_pg = next(str(run) for run in runs if run != "sqlite")
    reference = checks[first_pg][0]["chunks"]
    rows = []
    for run in runs:
        wall = statistics.median(m["wall_s"] for m in measured[str(run)])
        chunks = reference  # every run builds the same chunks (checked below)
        row = {"run": str(run), "processes": 1 if run == "sqlite" else run, "wall_s": wall,
               "wall_s_rounds": [m["wall_s"] for m in measured[str(run)]],
               "cpu_s": statistics.median(m["cpu_s"] for m in measured[str(run)]),
               "load_average_after": [m["load_average"] for m in measured[str(run)]],
               "documents_per_s": files / wall, "passages_per_s": chunks / wall,
               "chunks_embedded": [sum(w["chunks_embedded"] for w in m["workers"]) for m in measured[str(run)]],
               "staged_files_per_worker": [[w["staged_files"] for w in m["workers"]] for m in measured[str(run)]]}
        if run != "sqlite":
            row["checks"] = checks[str(run)]
            row["exactly_once"] = all(
                c["documents"] == files and c["distinct_paths"] == files and c["chunks"] == reference
                and c["staged_documents"] == 0 and c["staged_chunks"] == 0
                and set(c["work"]) <= {"done"} and c["work"].get("done") == files
                and c["verify"]["faiss"] == c["verify"]["lexical"] == reference
                for c in checks[str(run)])
        rows.append(row)
    base = [m["wall_s"] for m in measured[first_pg]]
    for row in rows:  # ratios within a round (runs minutes apart on a noisy machine), then the median
        row["speedup_vs_1_process_rounds"] = [b / w for b, w in zip(base, row["wall_s_rounds"])]
        row["speedup_vs_1_process"] = statistics.median(row["speedup_vs_1_process_rounds"])
        row["steal_s_rounds"] = [m["steal_s"] for m in measured[str(row["run"])]]
        row["machine_busy_s"] = statistics.median(m["machine_busy_s"] for m in measured[str(row["run"])])
    return {"corpus": {"files": files, "source": "SciFact abstracts as .md", "chunks": reference},
            "embedder": "fake" if args.fake else "all-MiniLM-L6-v2 (qa.embedding.load_embedder, settings dtype)",
            "threads_per_process": {str(n): max(1, CORES // n) for n in runs if n != "sqlite"},
            "rounds": args.rounds, "runs": rows}


def print_ingest(r: dict) -> None:
    c = r["corpus"]
    print(f"\nIngest: {c['files']} {c['source']} → {c['chunks']} passages; embedder {r['embedder']}; "
          f"{CORES} cores; median of {r['rounds']} round(s)")
    print(f"{'indexers':<22} {'threads':>7} {'wall s':>7} {'per round':<14} {'docs/s':>7} {'passages/s':>10} "
          f"{'vs 1 proc':>9} {'per round':<15} {'CPU s':>6} {'steal s':<11}  exactly once (docs/paths/chunks/staged/queue/FAISS+BM25)")
    for row in r["runs"]:
        label = "SQLite, 1 process" if row["run"] == "sqlite" else f"PostgreSQL, {row['run']} process" + "es" * (row["run"] != "1")
        threads = CORES if row["run"] == "sqlite" else r["threads_per_process"][row["run"]]
        ok = "-"
        if "checks" in row:
            c = row["checks"][-1]
            work = ",".join(f"{k} {v}" for k, v in sorted(c["work"].items()))
            ok = (f"{'yes' if row['exactly_once'] else 'NO'} ({c['documents']}/{c['distinct_paths']}/{c['chunks']}/"
                  f"{c['staged_documents'] + c['staged_chunks']}/{work}/{c['verify']['faiss']}+{c['verify']['lexical']}; "
                  f"{c['generation']} generations)")
        rounds = "/".join(f"{w:.0f}" for w in row["wall_s_rounds"])
        ratios = "/".join(f"{x:.2f}" for x in row["speedup_vs_1_process_rounds"])
        steal = "/".join(f"{x:.0f}" for x in row["steal_s_rounds"])
        print(f"{label:<22} {threads:>7} {row['wall_s']:>7.1f} {rounds:<14} {row['documents_per_s']:>7.1f} "
              f"{row['passages_per_s']:>10.1f} {row['speedup_vs_1_process']:>8.2f}x {ratios:<15} {row['cpu_s']:>6.1f} "
              f"{steal:<11}  {ok}")
    split = {row["run"]: row["staged_files_per_worker"][-1] for row in r["runs"] if row["run"] != "sqlite"}
    print("files staged per worker (last round): " + "; ".join(f"{k}: {v}" for k, v in split.items())
          + "; chunks embedded per run (all workers): " + "; ".join(f"{row['run']}: {row['chunks_embedded']}" for row in r["runs"]))
    print("wall s, docs/s, passages/s: median over rounds; vs 1 proc: median of the ratios within each round (rounds listed); "
          "CPU s: all indexer processes (user+sys, every thread), median, the database server not counted; "
          "steal s: CPU time the hypervisor gave to other guests during each round's run (both vCPUs)")


# ============================================================================================ latency


def vocabulary(rng, size: int = 20_000) -> list[str]:
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choice(syllables, rng.integers(2, 5)))] = None
    return list(words)


def zipf_p(size: int) -> np.ndarray:
    p = 1.0 / (np.arange(size) + 20.0)
    return p / p.sum()


def fill(url: str, settings, passages: int, per_doc: int, words: int, seed: int) -> dict:
    """Synthetic live rows written by COPY, in one transaction per batch of documents; generation 1."""
    from qa.indexing import _fresh_manifest
    from qa.pgstore import PgStore, connect
    from qa.schema import row_checksum

    started = time.perf_counter()
    PgStore.create(url, _fresh_manifest(settings)).close()
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    p = zipf_p(len(vocab))
    conn = connect(url)
    chunk_id, documents = 0, (passages + per_doc - 1) // per_doc
    text_bytes = 0
    for first in range(0, documents, 10):
        with conn.transaction():
            doc_rows, chunk_rows = [], []
            for d in range(first, min(first + 10, documents)):
                count = min(per_doc, passages - d * per_doc)
                ids = rng.choice(len(vocab), size=(count, words), p=p)
                texts = [" ".join(map(vocab.__getitem__, row)) for row in ids.tolist()]
                title = f"Synthetic report {d + 1}"
                text = "\n\n".join(texts)
                text_bytes += len(text)
                vecs = rng.standard_normal((count, DIM), dtype=np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                doc_rows.append((d + 1, f"synthetic/{d + 1:05d}.md", hashlib.sha256(text.encode()).hexdigest(), title,
                                 None, "markdown", text, "[]", "[]", 0, count, len(text), 0, time.time(), "en", 1, None))
                offset = 0
                for i, t in enumerate(texts):
                    chunk_id += 1
                    blob = vecs[i].tobytes()
                    chunk_rows.append((chunk_id, d + 1, i, offset, offset + len(t), title, None, None, None, None,
                                       hashlib.sha256(t.encode()).hexdigest(), blob, None, None, row_checksum(blob, None, None),
                                       "en", 1))
                    offset += len(t) + 2
            for statement, rows in (
                ("COPY verbatim.documents_all(id, path, content_hash, title, symbol, kind, text, headings, pages, "
                 "page_count, chunk_count, size, mtime_ns, indexed_at, lang, generation, work_id) FROM STDIN", doc_rows),
                ('COPY verbatim.chunks_all(id, doc_id, ordinal, start, "end", section, page, page_end, page_label, para, '
                 "chunk_hash, embedding, sentence_spans, sentence_vectors, checksum, lang, generation) FROM STDIN",
                 chunk_rows),
            ):
                with conn.cursor().copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
    conn.execute("SELECT setval('verbatim.documents_all_id_seq', %s)", (documents,))
    conn.execute("SELECT setval('verbatim.chunks_all_id_seq', %s)", (chunk_id,))
    conn.execute("UPDATE verbatim.meta SET value='1' WHERE key='generation'")
    conn.execute("VACUUM ANALYZE verbatim.documents_all")
    conn.execute("VACUUM ANALYZE verbatim.chunks_all")
    size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    conn.close()
    return {"documents": documents, "passages": chunk_id, "fill_s": time.perf_counter() - started,
            "database_mb": size / 2**20, "text_mb": text_bytes / 2**20}


def questions(seed: int, count: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)  # the same vocabulary as ``fill`` (same seed, same first draws)
    picks = np.random.default_rng(seed + 1).integers(30, 3000, size=(count, 4))
    return [f"What does {vocab[a]} say about {vocab[b]} {vocab[c]} and {vocab[d]}?" for a, b, c, d in picks.tolist()]


def new_document(seed: int, chunks: int = 10):
    """A new document of ``chunks`` chunks, as an upsert (random unit embeddings)."""
    from qa.store import DocumentUpsert
    from qa.types import Chunk, Document

    rng = np.random.default_rng(seed + 7)
    vocab = vocabulary(np.random.default_rng(seed))
    texts = [" ".join(vocab[i] for i in rng.integers(0, 3000, 80)) for _ in range(chunks)]
    text, path, title = "\n\n".join(texts), "synthetic/new.md", "A new synthetic report"
    parts, offset = [], 0
    for i, t in enumerate(texts):
        parts.append(Chunk(path, i, offset, offset + len(t), t, title, chunk_hash=hashlib.sha256(t.encode()).hexdigest()))
        offset += len(t) + 2
    vecs = rng.standard_normal((chunks, DIM), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    document = Document(path, text, title, hashlib.sha256(text.encode()).hexdigest(), kind="markdown")
    return DocumentUpsert(document, tuple(parts), vecs, size=len(text))


class StageTimer:
    """Seconds spent in the functions a load and a catch-up are made of (wrapped, not changed)."""

    def __init__(self):
        from qa import lexical, rows, vectors

        self.seconds: dict[str, float] = {}
        for owner, name, label in ((rows.Reads, "embeddings", "read_embeddings"), (rows.Reads, "lexical_rows", "read_texts"),
                                   (vectors, "build", "faiss_build"), (vectors, "update", "faiss_update"),
                                   (getattr(lexical, "TermCounts", None), "with_texts", "bm25_tokenize"),
                                   (getattr(lexical, "TermCounts", None), "without", "bm25_remove"),
                                   (getattr(lexical, "TermCounts", None), "index", "bm25_matrix")):
            if owner is not None:
                setattr(owner, name, self._wrap(getattr(owner, name), label))
        lexical.LexicalIndex.build = staticmethod(self._wrap(lexical.LexicalIndex.build, "bm25_build"))

    def _wrap(self, function, label):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started

        return timed

    def take(self) -> dict:
        seconds, self.seconds = self.seconds, {}
        return seconds


def _app_server(url: str, changes: dict, seed: int, count: int, results) -> None:
    """A fresh app-server process: load, ask, follow one new generation (see the module docstring)."""
    from conftest import FakeEmbedder

    from qa import vectors
    from qa.pgstore import PgStore
    from qa.retrieval import search

    timer = StageTimer()
    settings = settings_for(url, Path(tempfile.gettempdir()), sentence_vectors=False, **changes)
    embedder, asked = FakeEmbedder(), questions(seed, count + 5)
    out = {"rss_before_mb": memory_mb()["VmRSS"]}
    started = time.perf_counter()
    store = PgStore.open(url, settings)
    with store.snapshot() as snap:
        out["passages"] = len(snap.generation.ids)
        out["faiss"] = vectors.describe(snap.dense_index())
    out["load_s"] = time.perf_counter() - started
    out["load_stages_s"] = timer.take()
    mem = memory_mb()
    out.update(rss_after_mb=mem["VmRSS"], peak_after_load_mb=mem["VmHWM"])
    times, timings = [], []
    for i, q in enumerate(asked):
        t, parts = time.perf_counter(), {}
        search(store, embedder, q, k=5, timings=parts)
        if i >= 5:
            times.append((time.perf_counter() - t) * 1000)
            timings.append(parts)
    out["latency_ms"] = {"p50": pct(times, 0.5), "p95": pct(times, 0.95), "max": max(times), "questions": len(times)}
    out["stage_ms_p50"] = {k: pct([t[k] for t in timings if isinstance(t.get(k), (int, float))], 0.5)
                           for k in sorted({k for t in timings for k in t})}
    # what the search's own timings leave out: mostly reading the hits' rows (``to_passages``) from PostgreSQL
    out["rest_ms_p50"] = pct([total - sum(v for v in t.values() if isinstance(v, (int, float)))
                              for total, t in zip(times, timings)], 0.5)
    writer = PgStore.open(url, settings)
    upsert = new_document(seed)
    t = time.perf_counter()
    writer.apply([upsert], [], [])
    out["publish_s"] = time.perf_counter() - t
    catch_ups, full = store.catch_ups, store.full_loads
    t = time.perf_counter()
    with store.snapshot() as snap:
        out["after_follow_passages"] = len(snap.generation.ids)
        out["after_follow_faiss"] = vectors.describe(snap.dense_index())
    out["follow_s"] = time.perf_counter() - t
    out["follow_stages_s"] = timer.take()
    out["follow_incremental"] = store.catch_ups == catch_ups + 1 and store.full_loads == full
    t = time.perf_counter()
    search(store, embedder, asked[0], k=5)
    out["first_question_after_follow_ms"] = (time.perf_counter() - t) * 1000
    mem = memory_mb()
    out.update(rss_after_follow_mb=mem["VmRSS"], peak_after_follow_mb=mem["VmHWM"])
    writer.apply([], [upsert.document.path], [])  # leave the rows as they were for the next variant
    writer.close()
    store.close()
    results.put(out)


# The app server's settings per variant: the FAISS kind and codec follow them and the passage count (vectors.choose).
VARIANTS = {"product": {}, "sq8": {"vector_codec": "sq8"}, "flat": {"ann_threshold": 10**9}}


def latency(args) -> dict:
    from pgcluster import Cluster

    sizes = [int(s) for s in str(args.passages).split(",")]
    variants = args.variants.split(",")
    runs = []
    ctx = mp.get_context("spawn")
    with Cluster.start() as pg:
        for size in sizes:
            name = f"latency_{size}"
            url = pg.create_database(name)
            settings = settings_for(url, Path(tempfile.gettempdir()), sentence_vectors=False)
            filled = fill(url, settings, size, args.per_doc, args.words, args.seed)
            print(f"  {size:,} passages: filled in {filled['fill_s']:.0f} s ({filled['database_mb']:.0f} MiB database)",
                  flush=True)
            for variant in variants:
                results = ctx.Queue()
                proc = ctx.Process(target=_app_server, args=(url, VARIANTS[variant], args.seed, args.questions, results))
                proc.start()
                out = receive(results, [proc], 1)[0]
                proc.join()
                runs.append({"size": size, "variant": variant, "fill": filled, **out})
                print(f"  {size:,} {variant}: load {out['load_s']:.1f} s, follow {out['follow_s']:.1f} s", flush=True)
            pg.drop_database(name)
    result = {"runs": runs, "per_doc": args.per_doc, "words_per_passage": args.words, "seed": args.seed}
    if max(sizes) < 1_000_000 and len(sizes) >= 2:
        result["extrapolated_1m"] = extrapolate(runs, 1_000_000)
    return result


def extrapolate(runs: list, target: int) -> dict:
    """Least-squares line through (size, figure) for each variant, evaluated at ``target`` passages."""
    out = {}
    for variant in sorted({r["variant"] for r in runs}):
        rows = [r for r in runs if r["variant"] == variant]
        sizes = np.array([r["size"] for r in rows], dtype=float)
        out[variant] = {}
        for key in ("load_s", "follow_s", "rss_after_mb", "peak_after_load_mb", "peak_after_follow_mb"):
            slope, intercept = np.polyfit(sizes, [r[key] for r in rows], 1)
            out[variant][key] = slope * target + intercept
    return out


def print_latency(r: dict) -> None:
    print(f"\nApp server on PostgreSQL: synthetic passages of {r['words_per_passage']} words, {r['per_doc']} per document, "
          "no sentence vectors; questions: hybrid search, k=5, fake query embedder")
    print(f"{'passages':>10} {'variant':<8} {'FAISS':<22} {'load s':>7} {'RSS MiB':>8} {'Δ RSS':>7} {'peak':>7} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'follow s':>9} {'incr.':>6} {'follow/load':>11} {'peak after':>10}")
    for x in r["runs"]:
        f = x["faiss"]
        kind = f"{f['kind']}/{f['codec']}" + (f" {f['nlist']}×{f['nprobe']}" if "nlist" in f else "")
        print(f"{x['size']:>10,} {x['variant']:<8} {kind:<22} {x['load_s']:>7.1f} {x['rss_after_mb']:>8.0f} "
              f"{x['rss_after_mb'] - x['rss_before_mb']:>7.0f} {x['peak_after_load_mb']:>7.0f} "
              f"{x['latency_ms']['p50']:>7.1f} {x['latency_ms']['p95']:>7.1f} {x['follow_s']:>9.2f} "
              f"{'yes' if x['follow_incremental'] else 'no':>6} {x['follow_s'] / x['load_s']:>11.2f} "
              f"{x['peak_after_follow_mb']:>10.0f}")
    for x in r["runs"]:
        after = x["after_follow_faiss"]
        stages = ", ".join(f"{k} {v:.1f}" for k, v in x["stage_ms_p50"].items() if v is not None)
        stages += f", rest (rows, passages) {x['rest_ms_p50']:.1f}"
        load = ", ".join(f"{k} {v:.1f}" for k, v in x["load_stages_s"].items())
        follow = ", ".join(f"{k} {v:.1f}" for k, v in x["follow_stages_s"].items())
        print(f"  {x['size']:,} {x['variant']}: load s: {load}; follow s: {follow}")
        print(f"  {x['size']:,} {x['variant']}: fill {x['fill']['fill_s']:.0f} s, database {x['fill']['database_mb']:.0f} MiB; "
              f"publish {x['publish_s']:.2f} s; after follow {after['kind']}/{after['codec']} ({after['count']:,}); "
              f"first question after follow {x['first_question_after_follow_ms']:.0f} ms; stage p50 ms: {stages}")
    if "extrapolated_1m" in r:
        print("Linear extrapolation to 1,000,000 passages (NOT measured):")
        for variant, e in r["extrapolated_1m"].items():
            print(f"  {variant}: load {e['load_s']:.0f} s, RSS {e['rss_after_mb']:.0f} MiB (peak {e['peak_after_load_mb']:.0f}), "
                  f"follow {e['follow_s']:.0f} s (peak {e['peak_after_follow_mb']:.0f} MiB)")


# ============================================================================================ main


def code_version() -> dict:
    """The commit measured, and the files of qa/ that differ from it (another change may be in progress)."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], check=False, cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "qa_changed": git("status", "--short", "--", "qa").splitlines()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ingest", action="store_true", help="ingest throughput with several indexer processes")
    parser.add_argument("--latency", action="store_true", help="app-server load, memory and latency on a large store")
    parser.add_argument("--docs", type=int, default=300, help="SciFact abstracts to index (default 300)")
    parser.add_argument("--procs", default="1,2,4", help="indexer processes per run (default 1,2,4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all runs, order alternating (default 3)")
    parser.add_argument("--fake", action="store_true", help="the fake embedder instead of the real model")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the 1-process SQLite baseline")
    parser.add_argument("--passages", default="1000000", help="store size(s), comma-separated (default 1000000)")
    parser.add_argument("--per-doc", type=int, default=1000, help="passages per synthetic document (default 1000)")
    parser.add_argument("--words", type=int, default=80, help="words per synthetic passage (default 80)")
    parser.add_argument("--variants", default="product,sq8", help=f"of {','.join(VARIANTS)} (default product,sq8)")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smoke test: fake embedder, 40 docs, 20,000 passages")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    if not (args.ingest or args.latency):
        parser.error("say --ingest, --latency or both")
    if args.quick:
        args.fake, args.docs, args.passages, args.per_doc, args.questions, args.rounds = True, 40, "20000", 500, 10, 1
    output = Path(args.output)
    result = json.loads(output.read_text()) if output.exists() else {}
    result["machine"] = {"cpus": CORES, "python": platform.python_version(), "load_average": os.getloadavg()}
    result["code"] = code_version()
    if args.ingest:
        result["ingest"] = ingest(args)
        print_ingest(result["ingest"])
    if args.latency:
        result["latency"] = latency(args)
        print_latency(result["latency"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwritten to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
