"""Indexing cost against the LangChain default pipeline, in one process, on the same SciFact abstracts.

    .venv/bin/python bench/cost.py [--docs 100] [--rounds 3]

The baseline is what a LangChain user gets by default: ``RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200)`` over each document, the same all-MiniLM-L6-v2 model encoding the chunks
(``SentenceTransformer.encode``, which is what LangChain's HuggingFace embeddings call) and a flat FAISS
index. Verbatim is ``update_index`` from an empty index, under several settings (``VARIANTS``): passage
vectors only, with sentence vectors, and either with the second encoder (multilingual-e5-small) on passages. Both
models are loaded before timing; runs alternate round by round and the median of each is reported with
its ratio to the baseline's median. Writes bench/results/cost.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import SCIFACT, save_result  # noqa: E402
from qa.encoders import E5, encoders_for  # noqa: E402
from qa.evaluation import load_beir, write_beir_docs  # noqa: E402
from qa.indexing import update_index  # noqa: E402
from qa.settings import load_settings  # noqa: E402

VARIANTS = {  # the default is "passages+sentences+e5"
    "passages": {"sentence_vectors": False, "second_encoder": ""},
    "passages+sentences": {"second_encoder": ""},
    # the same settings, sentences encoded on their own (``SeparateSentences``)
    "passages+sentences alone": {"second_encoder": ""},
    "passages+sentences+e5": {"second_encoder": E5},
    # the default on a CPU without native bfloat16 (most laptops): e5's passages in float32
    "passages+sentences+e5 float32": {"second_encoder": E5, "dtype": "float32"},
    "passages+e5": {"sentence_vectors": False, "second_encoder": E5},
}


class SeparateSentences:
    """The primary encoder without ``encode_with_sentences``: the indexer then encodes every sentence on its own."""

    def __init__(self, encoder):
        self.inner = encoder
        self.name, self.dimension = encoder.name, encoder.dimension

    def encode(self, texts, batch_size=None, show_progress=False):
        return self.inner.encode(texts, batch_size=batch_size, show_progress=show_progress)

    def encode_query(self, text):
        return self.inner.encode_query(text)


def langchain_default(docs: Path, model) -> int:
    """Split, embed and index like LangChain's defaults; returns the number of chunks."""
    import faiss
    import numpy as np
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = [c for path in sorted(docs.glob("*.md")) for c in splitter.split_text(path.read_text(encoding="utf-8"))]
    vectors = np.asarray(model.encode(chunks, batch_size=32, normalize_embeddings=True), dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return len(chunks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    corpus, _, _ = load_beir(SCIFACT, "test")
    sample = dict(list(corpus.items())[: args.docs])
    root = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    docs = root / "docs"
    write_beir_docs(sample, docs)
    base = load_settings({})
    chosen = {name: VARIANTS[name] for name in args.variants.split(",")}
    encoders = {name: encoders_for(base.with_(**changes)) for name, changes in chosen.items()}
    if "passages+sentences alone" in encoders:
        encoders["passages+sentences alone"]["primary"] = SeparateSentences(encoders["passages+sentences alone"]["primary"])
    minilm = encoders_for(base.with_(second_encoder=""))["primary"]
    for encoder_set in encoders.values():
        for encoder in encoder_set.values():
            encoder.encode(["warm up the model"])
    times: dict[str, list[float]] = {"langchain default": [], **{name: [] for name in chosen}}
    counts = {}
    try:
        for round_ in range(args.rounds):
            t = time.perf_counter()
            counts["langchain default"] = langchain_default(docs, minilm._model)
            times["langchain default"].append(time.perf_counter() - t)
            for name, changes in chosen.items():
                index = root / f"index-{round_}-{len(times[name])}"
                settings = base.with_(**changes)
                t = time.perf_counter()
                report = update_index(docs, index, settings, embedder=encoders[name])
                times[name].append(time.perf_counter() - t)
                counts[name] = report.chunks_total
                shutil.rmtree(index, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    baseline = statistics.median(times["langchain default"])
    result = {
        "documents": len(sample),
        "rounds": args.rounds,
        "rows": [
            {"pipeline": name, "median_s": round(statistics.median(t), 2), "ratio": round(statistics.median(t) / baseline, 2),
             "passages": counts.get(name)}
            for name, t in times.items()
        ],
    }
    print(f"{args.docs} SciFact abstracts, median of {args.rounds} alternating rounds")
    print(f"{'pipeline':28} {'seconds':>8} {'× LangChain':>12} {'passages':>9}")
    for row in result["rows"]:
        print(f"{row['pipeline']:28} {row['median_s']:8.2f} {row['ratio']:12.2f} {row['passages']:9}")
    save_result("cost", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
