"""Indexing throughput against raw model encoding, bfloat16 against float32, query encoding, and ``ask``.

    .venv/bin/python bench/ingest.py [--scifact 1000] [--no-un] [--batch-sizes 8,16,32,64,128] [--quick]

The corpus is assembled in a temporary folder (shared data is only read, never copied into the
repository): ``seeds/``, the UN documents of ``/work/shared/corpora/un_human_rights_docs/`` (Markdown and
PDF, loaded by ``qa.loaders``) and the first ``--scifact`` SciFact abstracts (title + abstract as .txt).

Measured, all in this one process with every model loaded before timing:

1. end to end: ``update_index`` (scan, load + extract + chunk, encode, SQLite + BM25 + FAISS writes) with
   the embedder ``Settings`` picks (``dtype=auto``, ``batch_size``), as ``python -m qa index --rebuild`` does
   minus interpreter start and model load; chunks/s and the share of each stage (from its progress calls).
   It runs twice, before and after step 2 (the second time as a full rebuild), and the mean is used,
   so that a change of the machine's load during the run does not favour one side;
2. raw ``SentenceTransformer.encode`` of exactly the texts that step 1 encoded (chunks and, with sentence
   vectors on, their sentences), in bfloat16 and in
   float32 in this process, and float32 batch 32 in a separate process with the default environment
   (the peers' baseline; see ``PeerWorker``). The texts are cut into slices and the encoders take turns
   slice by slice, so that the machine's load (shared, noisy) hits all alike; throughput is total
   texts / total seconds, and the median of the per-slice ratios is given too;
3. bf16-vs-fp32 cosine agreement of those embeddings;
4. batch size: throughput of the chosen dtype on a length-sorted sample, for each ``--batch-sizes``;
5. one-question encoding latency, bfloat16 against float32 (batch 1, real SciFact questions);
6. ``qa.answer.ask`` on the seeds index (bundled documents): the first question (cold sentence cache) and
   the p50/p95 of the rest, in-process.

Prints a table and writes ``bench/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore")

from qa.embedding import Embedder, cpu_has_native_bf16, model_path, resolve_dtype  # noqa: E402
from qa.chunking import sentence_units  # noqa: E402
from qa.indexing import update_index  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.store import Store  # noqa: E402
from bench.corpus import SCIFACT, UN_DOCS, copy_seeds, copy_un_docs, pct, scifact_questions  # noqa: E402

RESULTS = REPO / "bench" / "results" / "ingest.json"


def assemble(docs: Path, scifact: int, un: bool, seeds: bool = True) -> dict:
    sources = {"seeds": 0, "un_markdown": 0, "un_pdf": 0, "scifact": 0}
    if seeds:
        sources["seeds"] = copy_seeds(docs)
    if un and UN_DOCS.is_dir():
        sources.update(copy_un_docs(docs / "un"))
    if scifact:
        folder = docs / "scifact"
        folder.mkdir()
        with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as handle:
            for line in handle:
                if sources["scifact"] >= scifact:
                    break
                doc = json.loads(line)
                (folder / f"{doc['_id']}.txt").write_text(f"{doc['title'].strip()}\n\n{doc['text'].strip()}\n", encoding="utf-8")
                sources["scifact"] += 1
    return sources


def load_model(dtype: str):
    import torch
    from sentence_transformers import SentenceTransformer

    torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    return SentenceTransformer(str(model_path()), device="cpu", local_files_only=True, model_kwargs={"dtype": torch_dtype})


def encode(model, texts, batch_size):
    return np.asarray(model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False), dtype=np.float32)


PEER_WORKER = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu", local_files_only=True)
model.encode(["warm-up sentence"] * 4, batch_size=4)
print(json.dumps({"ready": True, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}), flush=True)
for line in sys.stdin:
    texts = json.loads(line)
    if texts is None:
        break
    started = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
"""


class PeerWorker:
    """Plain float32 sentence-transformers, batch 32, in a separate process with the default environment.

    That is how peer tools run. Verbatim's own processes make OpenMP threads sleep while they wait
    (``OMP_WAIT_POLICY=PASSIVE``, set when ``qa.embedding`` is imported), which also changes a float32
    baseline measured inside them. The worker encodes the same slices, alternating with the others.
    """

    def __init__(self):
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        self.process = subprocess.Popen([sys.executable, "-c", PEER_WORKER, str(model_path())], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        self.info = json.loads(self.process.stdout.readline())

    def encode_seconds(self, texts: list[str]) -> float:
        self.process.stdin.write(json.dumps(texts) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["seconds"]

    def close(self) -> None:
        try:
            self.process.stdin.write("null\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except Exception:
            self.process.kill()


def cpu_flags() -> list[str]:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("flags"):
                return sorted(f for f in line.split() if f.startswith(("amx", "avx512_bf16", "avx512_fp16", "avx512_vnni")))
    except OSError:
        pass
    return []


class StageClock:
    """Turns ``progress(stage, done, total)`` calls into seconds per stage."""

    def __init__(self):
        self.first: dict[str, float] = {}

    def __call__(self, stage, done, total):
        self.first.setdefault(stage, time.perf_counter())

    def seconds(self, started: float, ended: float) -> dict:
        order = [s for s in ("scan", "load", "embed", "write") if s in self.first]
        out, previous = {}, started
        for i, stage in enumerate(order):
            end = self.first[order[i + 1]] if i + 1 < len(order) else ended
            out[stage] = end - previous
            previous = end
        return out


def interleaved(models: dict, texts: list[str], batch_sizes: dict, slices: int, peer: PeerWorker | None = None) -> dict:
    """Encode ``texts`` with every model (and the peer worker), slice by slice, rotating the order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # as qa.indexing does
    bounds = np.linspace(0, len(texts), slices + 1).astype(int)
    names = list(models) + (["peer"] if peer else [])
    seconds = {name: [] for name in names}
    vectors = {name: np.zeros((len(texts), 384), dtype=np.float32) for name in models}
    for s in range(slices):
        rows = [order[i] for i in range(bounds[s], bounds[s + 1])]
        if not rows:
            continue
        part = [texts[i] for i in rows]
        for name in names[s % len(names):] + names[: s % len(names)]:
            if name == "peer":
                seconds[name].append(peer.encode_seconds(part))
                continue
            started = time.perf_counter()
            vectors[name][rows] = encode(models[name], part, batch_sizes[name])
            seconds[name].append(time.perf_counter() - started)
    return {"seconds": seconds, "vectors": vectors}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scifact", type=int, default=1000, help="SciFact abstracts to add (default 1000)")
    parser.add_argument("--no-un", action="store_true", help="leave out the UN documents")
    parser.add_argument("--batch-sizes", default="8,16,32,64,128")
    parser.add_argument("--sweep-texts", type=int, default=256, help="texts in the batch-size sweep")
    parser.add_argument("--slices", type=int, default=8, help="alternating slices for the raw encodes")
    parser.add_argument("--questions", type=int, default=40, help="questions for the query-encoding latency")
    parser.add_argument("--ask-questions", type=int, default=None, help="seeds questions for ask() (default all)")
    parser.add_argument("--no-peer-baseline", action="store_true",
                        help="skip the float32 encode in a fresh process with the default OpenMP environment")
    parser.add_argument("--quick", action="store_true", help="smoke test: a few SciFact docs, tiny sweeps")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.quick:
        args.no_un, args.batch_sizes, args.sweep_texts, args.slices, args.questions = True, "16", 16, 2, 3
        args.ask_questions = 3
    root = Path(tempfile.mkdtemp(prefix="verbatim-bench-ingest-"))
    try:
        result = run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    print(f"\nwritten to {output}")
    return 0


def run(root: Path, args) -> dict:
    docs, index = root / "docs", root / "index"
    docs.mkdir()
    sources = assemble(docs, args.scifact, not args.no_un, seeds=not args.quick)
    settings = load_settings().with_(docs=docs, index=index)
    chosen = resolve_dtype(settings.dtype, settings.device)
    load_avg = [os.getloadavg()[0]]

    started = time.perf_counter()
    embedder = Embedder(settings.dtype, settings.device, settings.batch_size)
    model_load_s = time.perf_counter() - started
    embedder.encode(["warm-up sentence"] * 4)
    embedder.encode_query("warm-up question")
    # The indexing embedder's own model stands for its dtype (no second copy loaded).
    models = {dtype: embedder._model if dtype == chosen else load_model(dtype) for dtype in ("bfloat16", "float32")}
    for model in models.values():
        encode(model, ["warm-up sentence"] * 4, 4)

    # 1. End to end (run again after the raw encodes, as a full --rebuild, to average out load drift).
    def end_to_end(rebuild: bool):
        clock = StageClock()
        w, c = time.perf_counter(), time.process_time()
        done = update_index(docs, index, settings, embedder=embedder, progress=clock, rebuild=rebuild)
        seconds, cpu = time.perf_counter() - w, time.process_time() - c
        return done, seconds, cpu, clock.seconds(w, w + seconds)

    report, e2e_s, e2e_cpu, stages = end_to_end(rebuild=False)
    e2e_runs = [e2e_s]
    with Store.open(index, settings) as store:
        ids, chunk_texts = store.lexical_corpus()  # what was embedded: each chunk's embedding text …
        rows = store.chunks(ids)
        manifest = store.manifest
    texts, seen = [], set()
    for chunk_id, text in zip(ids, chunk_texts):
        if text in seen:  # the same chunk text is embedded once
            continue
        seen.add(text)
        texts.append(text)
        if settings.sentence_vectors:  # … and, with sentence vectors on, each of its sentences with the title
            texts += sentence_units(rows[chunk_id].text, rows[chunk_id].title)[1]
    encoded = report.chunks_embedded + report.sentences_embedded
    assert len(texts) == encoded, (len(texts), encoded)
    load_avg.append(os.getloadavg()[0])

    # 2–3. Raw encodes on the same texts, alternating slices; cosine agreement.
    peer = None if args.no_peer_baseline else PeerWorker()
    encoders = dict(models)
    batch_sizes = {"bfloat16": settings.batch_size, "float32": 32}
    if batch_sizes[chosen] != settings.batch_size:  # else the entry of that dtype is already what update_index ran
        encoders["chosen"] = embedder._model  # exactly what update_index ran: Settings' dtype and batch size
        batch_sizes["chosen"] = settings.batch_size
    try:
        raw = interleaved(encoders, texts, batch_sizes, args.slices, peer)
    finally:
        if peer is not None:
            peer.close()
    raw["vectors"].pop("chosen", None)
    throughput = {name: len(texts) / sum(s) for name, s in raw["seconds"].items() if s}
    throughput.setdefault("chosen", throughput[chosen])
    if not args.quick:
        again, seconds, cpu, stages_again = end_to_end(rebuild=True)
        assert again.chunks_embedded == report.chunks_embedded
        e2e_runs.append(seconds)
        e2e_cpu += cpu
        stages = {k: (stages[k] + stages_again.get(k, 0.0)) / 2 for k in stages}
    e2e_s = statistics.fmean(e2e_runs)
    e2e_cpu /= len(e2e_runs)
    per_slice = [f / b for b, f in zip(raw["seconds"]["bfloat16"], raw["seconds"]["float32"])]
    unit = {k: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12) for k, v in raw["vectors"].items()}
    cosines = np.sum(unit["bfloat16"] * unit["float32"], axis=1)  # bf16 output is normalised in bf16 only
    load_avg.append(os.getloadavg()[0])

    # 4. Batch size sweep on the chosen dtype (length-sorted sample from the middle of the length range).
    ordered = sorted(texts, key=len)
    middle = max(0, len(ordered) // 2 - args.sweep_texts // 2)
    sample = ordered[middle : middle + args.sweep_texts]
    sweep_model = embedder._model
    sweep = {}
    sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    for rep in range(2):
        for bs in sizes if rep == 0 else sizes[::-1]:
            t = time.perf_counter()
            encode(sweep_model, sample, bs)
            sweep.setdefault(bs, []).append(len(sample) / (time.perf_counter() - t))
    sweep = {bs: statistics.median(v) for bs, v in sweep.items()}

    # 5. One question at a time.
    questions = scifact_questions(args.questions)
    query_ms = {"bfloat16": [], "float32": [], "embedder.encode_query": []}
    for i, q in enumerate(questions):
        for name in (list(query_ms) if i % 2 == 0 else list(query_ms)[::-1]):
            t = time.perf_counter()
            if name == "embedder.encode_query":
                embedder.encode_query(q)
            else:
                encode(models[name], [q], 1)
            query_ms[name].append((time.perf_counter() - t) * 1000)
    load_avg.append(os.getloadavg()[0])

    # 6. ask() on the bundled documents.
    ask_result = bench_ask(root, settings, embedder, args.ask_questions, reuse_index=args.quick)
    load_avg.append(os.getloadavg()[0])

    chosen_raw = throughput["chosen"]
    e2e_rate = encoded / e2e_s  # texts (chunks and sentences) per second, comparable with the raw encodes
    return {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "cpu_flags": cpu_flags(),
            "native_bf16_for_auto": cpu_has_native_bf16(),
            "gpu": "none (the device tool said this task was not drawn for a GPU machine)",
            "load_average": load_avg,
        },
        "settings": {"dtype": settings.dtype, "resolved_dtype": chosen, "batch_size": settings.batch_size},
        "corpus": {**sources, "documents": report.documents_total, "chunks": report.chunks_total,
                   "chunks_embedded": report.chunks_embedded, "sentences_embedded": report.sentences_embedded,
                   "sentence_vectors": settings.sentence_vectors, "failed": report.failed,
                   "mean_chars_per_text": float(np.mean([len(t) for t in texts]))},
        "model_load_s": model_load_s,
        "end_to_end": {
            "seconds": e2e_s,
            "cpu_seconds": e2e_cpu,
            "texts_per_s": e2e_rate,
            "chunks_per_s": report.chunks_embedded / e2e_s,
            "stages_s": stages,
            "stage_share": {k: v / e2e_s for k, v in stages.items()},
            "runs_s": e2e_runs,
            "manifest_vector_index": manifest.get("vector_index"),
        },
        "raw_encode": {
            "texts_per_s": throughput,
            "batch_size": batch_sizes,
            "slices": len(per_slice),
            "bf16_over_fp32_total": throughput["bfloat16"] / throughput["float32"],
            "bf16_over_fp32_median_slice": statistics.median(per_slice) if per_slice else None,
        },
        "ratios": {
            "end_to_end_over_raw_chosen_dtype": e2e_rate / chosen_raw,
            "end_to_end_over_raw_bf16": e2e_rate / throughput["bfloat16"],
            "end_to_end_over_raw_fp32_batch32": e2e_rate / throughput["float32"],
        },
        "peer_baseline_fp32_default_env": (
            {"texts_per_s": throughput["peer"], "omp_wait_policy": peer.info.get("omp_wait_policy"), "batch_size": 32,
             "bf16_over_peer_median_slice": statistics.median(
                 [p / b for b, p in zip(raw["seconds"]["bfloat16"], raw["seconds"]["peer"])])}
            if peer is not None else None),
        "end_to_end_over_peer_baseline": e2e_rate / throughput["peer"] if peer is not None else None,
        "cosine_bf16_vs_fp32": {"min": float(cosines.min()), "p1": float(np.percentile(cosines, 1)),
                                "mean": float(cosines.mean())},
        "batch_size_sweep_texts_per_s": {"dtype": chosen, "texts": len(sample), "by_batch_size": sweep},
        "query_encode_ms": {name: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "first": v[0] if v else None}
                            for name, v in query_ms.items()},
        "ask": ask_result,
        "quick": args.quick,
    }


def bench_ask(root: Path, settings, embedder, limit: int | None = None, reuse_index: bool = False) -> dict:
    """``qa.answer.ask`` on an index of the bundled seeds/ documents, in-process (``reuse_index``: on the
    index already built, for the smoke test)."""
    from qa import answer as answer_module

    seeds_settings = settings
    if not reuse_index:
        docs, index = root / "seeds-docs", root / "seeds-index"
        shutil.copytree(REPO / "seeds", docs)
        seeds_settings = settings.with_(docs=docs, index=index)
        update_index(docs, index, seeds_settings, embedder=embedder)
    index = seeds_settings.index
    questions = [json.loads(line)["q"] for line in open(REPO / "tests" / "data" / "seeds_questions.jsonl", encoding="utf-8")]
    questions = questions[:limit] if limit else questions
    answer_module._SENTENCE_CACHE.clear()
    times, sentences = [], []
    with Store.open(index, seeds_settings) as store:
        for q in questions:
            t = time.perf_counter()
            answer = answer_module.ask(store, embedder, q, k=seeds_settings.top_k)
            times.append((time.perf_counter() - t) * 1000)
            sentences.append(answer.timings.get("sentences_ms"))
    rest = times[1:] or times
    return {
        "questions": len(times),
        "first_ms": times[0],
        "p50_ms": pct(rest, 0.5),
        "p95_ms": pct(rest, 0.95),
        "max_ms": max(times),
        "first_sentences_ms": sentences[0],
        "under_1s": all(t < 1000 for t in times),
    }


def print_table(r: dict) -> None:
    c, e, raw, ratios = r["corpus"], r["end_to_end"], r["raw_encode"], r["ratios"]
    print(f"Corpus: {c['documents']} documents, {c['chunks']} chunks, {c['sentences_embedded']} sentences "
          f"({c['mean_chars_per_text']:.0f} chars per text on average; "
          f"seeds {c['seeds']}, UN Markdown {c['un_markdown']}, UN PDF {c['un_pdf']}, SciFact {c['scifact']}); "
          f"{len(c['failed'])} failed")
    print(f"Machine: {r['machine']['cpus']} CPUs, flags {' '.join(r['machine']['cpu_flags']) or '-'}; GPU: none; "
          f"load average {', '.join(f'{x:.1f}' for x in r['machine']['load_average'])}")
    print(f"Settings: dtype {r['settings']['dtype']} → {r['settings']['resolved_dtype']}, batch size {r['settings']['batch_size']}\n")
    print(f"{'what (texts: chunks and their sentences)':<46} {'texts/s':>9} {'ratio':>8}")
    print(f"{'update_index end to end (' + r['settings']['resolved_dtype'] + ')':<46} {e['texts_per_s']:>9.1f}"
          f"   ({e['chunks_per_s']:.1f} chunks/s with their sentences)")
    for name in ("chosen", "bfloat16", "float32"):
        if name == "chosen" and "chosen" not in raw["batch_size"]:
            continue
        dtype = r["settings"]["resolved_dtype"] if name == "chosen" else name
        label = f"raw model.encode {dtype}, batch {raw['batch_size'][name]}" + (" (as indexed)" if name == "chosen" else "")
        print(f"{label:<46} {raw['texts_per_s'][name]:>9.1f}")
    print(f"{'end to end / raw encode of the chosen dtype':<46} {'':>9} {ratios['end_to_end_over_raw_chosen_dtype']:>8.2f}")
    print(f"{'end to end / raw bf16':<46} {'':>9} {ratios['end_to_end_over_raw_bf16']:>8.2f}")
    print(f"{'end to end / raw fp32 batch 32 (peers)':<46} {'':>9} {ratios['end_to_end_over_raw_fp32_batch32']:>8.2f}")
    print(f"{'raw bf16 / raw fp32 (total; median of slices)':<46} {'':>9} {raw['bf16_over_fp32_total']:>8.2f}"
          f"  ({raw['bf16_over_fp32_median_slice']:.2f})")
    peer = r.get("peer_baseline_fp32_default_env")
    if peer:
        print(f"{'peers: fp32 batch 32, own process, default env':<46} {peer['texts_per_s']:>9.1f}")
        print(f"{'end to end / peers':<46} {'':>9} {r['end_to_end_over_peer_baseline']:>8.2f}")
    stages = ", ".join(f"{k} {v:.1f} s ({e['stage_share'][k]:.0%})" for k, v in e["stages_s"].items())
    runs = " and ".join(f"{x:.1f}" for x in e["runs_s"])
    print(f"\nEnd-to-end stages: {stages}; total {e['seconds']:.1f} s (mean of {runs} s: before and after the raw encodes)")
    cos = r["cosine_bf16_vs_fp32"]
    print(f"bf16 vs fp32 cosine: min {cos['min']:.4f}, 1st percentile {cos['p1']:.4f}, mean {cos['mean']:.4f}")
    sweep = r["batch_size_sweep_texts_per_s"]
    print(f"Batch size ({sweep['dtype']}, {sweep['texts']} texts): "
          + ", ".join(f"{bs}: {v:.1f}/s" for bs, v in sweep["by_batch_size"].items()))
    q = r["query_encode_ms"]
    print("One question, encode ms p50/p95 (first): "
          + "; ".join(f"{name} {v['p50']:.1f}/{v['p95']:.1f} ({v['first']:.0f})" for name, v in q.items()))
    a = r["ask"]
    print(f"ask() on seeds/: first question {a['first_ms']:.0f} ms (sentences {a['first_sentences_ms']:.0f} ms), "
          f"then p50 {a['p50_ms']:.0f} / p95 {a['p95_ms']:.0f} ms over {a['questions']} questions; all under 1 s: {a['under_1s']}")


if __name__ == "__main__":
    sys.exit(main())
