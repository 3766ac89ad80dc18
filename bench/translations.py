"""What pooling the second encoder's cosines over translations costs (``qa.translations``), by index size.

    .venv/bin/python bench/translations.py [--sizes 1000,10000,50000] [--questions 50]

Synthetic 384-d unit vectors: a sixth of the passages in each of the six UN languages, each passage the same
"text" in every language (a shared vector plus noise, so translations have cosines about 0.89 and other passages
far less), documents of 50 passages translated whole. Measured in one process: the table (built once per index generation: every vector read back from the
FAISS index, grouped by language), its memory, and per question the pooling of the best 20 of 200 candidates,
against the baseline of the second encoder's exact top-100 search over the same index (what a question already
pays for that list). A question's 20 best candidates come from four documents (five passages each). The
pooling's maximum is a question that first meets a pair of documents (whether they translate each other is worked
out then, once per index generation, from at most 16 of the passages of one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa import translations, vectors  # noqa: E402
from qa.encoders import limit_blas_threads  # noqa: E402

LANGUAGES = ("en", "fr", "es", "ru", "ar", "zh")
PER_DOCUMENT = 50  # passages a document, in each language


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def synthetic(size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    texts = size // len(LANGUAGES)
    shared = rng.standard_normal((texts, 384)).astype(np.float32)
    matrix = np.concatenate([unit_rows(shared + 0.35 * rng.standard_normal(shared.shape).astype(np.float32))
                             for _ in LANGUAGES])
    languages = [code for code in LANGUAGES for _ in range(texts)]
    documents = [f"{code}-{i // PER_DOCUMENT}" for code in LANGUAGES for i in range(texts)]
    return np.arange(len(matrix), dtype=np.int64), matrix, languages, documents


def measure(size: int, questions: int) -> dict:
    ids, matrix, languages, documents = synthetic(size)
    index = vectors.build(ids, matrix, matrix.shape[1])
    by_id, doc_of = dict(zip(ids.tolist(), languages)), dict(zip(ids.tolist(), documents))
    started = time.perf_counter()
    table = translations.table(index, lambda asked: {i: by_id[i] for i in asked}, lambda asked: {i: doc_of[i] for i in asked})
    table_s = time.perf_counter() - started
    rng = np.random.default_rng(1)
    pooled_ms, search_ms, found = [], [], 0
    for _ in range(questions):
        query = unit_rows(matrix[rng.integers(len(matrix))][None] + 0.8 * rng.standard_normal((1, 384)))[0]
        started = time.perf_counter()
        top = vectors.search(index, query, 100)
        search_ms.append((time.perf_counter() - started) * 1000)
        # a question's candidates gather in a few documents: 5 passages from each of 4, the rest anywhere
        firsts = rng.integers(len(ids) // PER_DOCUMENT, size=4) * PER_DOCUMENT
        near = [int(f + rng.integers(PER_DOCUMENT)) for f in firsts for _ in range(5)]
        spread = rng.choice(ids, 180, replace=False).tolist()
        candidates = [(c, 2.0 - 0.01 * n) for n, c in enumerate(near)] + [(int(c), float(rng.random())) for c in spread]
        started = time.perf_counter()
        found += len(translations.pooled(table, query, candidates))
        pooled_ms.append((time.perf_counter() - started) * 1000)
        assert top
    pooled_p50, search_p50 = statistics.median(pooled_ms), statistics.median(search_ms)
    return {"passages": len(ids), "table_s": round(table_s, 3), "table_mb": round(table.matrix.nbytes / 2**20, 1),
            "pooled_ms_p50": round(pooled_p50, 2), "pooled_ms_max": round(max(pooled_ms), 2),
            "search_ms_p50": round(search_p50, 2),
            "pooled_over_search": round(pooled_p50 / search_p50, 2),
            "pooled_per_question": round(found / questions, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args(argv)
    limit_blas_threads()  # as a process that answers questions does (qa.encoders.load)
    rows = [measure(int(size), args.questions) for size in args.sizes.split(",")]
    print(f"{'passages':>9} {'table s':>8} {'table MB':>9} {'pooling ms':>11} {'max':>7} {'e5 top-100 ms':>14} {'ratio':>6} "
          f"{'pooled':>7}")
    for row in rows:
        print(f"{row['passages']:>9} {row['table_s']:>8} {row['table_mb']:>9} {row['pooled_ms_p50']:>11} {row['pooled_ms_max']:>7} "
              f"{row['search_ms_p50']:>14} {row['pooled_over_search']:>6} {row['pooled_per_question']:>7}")
    out = Path(__file__).resolve().parent / "results" / "translations.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print("saved", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
