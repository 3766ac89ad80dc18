"""Plot bench/results/query.json: latency per stage and memory per component against index size.

    .venv/bin/python bench/plot.py [bench/results/query.json]    # writes query.png next to it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def plot_query(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(result["runs"], key=lambda r: r["read"]["passages"])
    sizes = [r["read"]["passages"] for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))

    for stage, style in (("total", "-o"), ("encode", "--s"), ("bm25", "--^"), ("faiss", "--v"), ("passages", ":x")):
        p50 = [r["read"]["latency_ms"][stage]["p50"] for r in runs]
        p95 = [r["read"]["latency_ms"][stage]["p95"] for r in runs]
        line = left.plot(sizes, p50, style, label=f"{stage} p50")[0]
        if stage == "total":
            left.fill_between(sizes, p50, p95, color=line.get_color(), alpha=0.15, label="total p50–p95")
    targets = {10_000: (15, 25), 100_000: (25, 40), 1_000_000: (50, 80)}
    tx = [s for s in sizes if s in targets]
    if tx:
        left.plot(tx, [targets[s][0] for s in tx], "k_", markersize=18, mew=2, label="target p50")
        left.plot(tx, [targets[s][1] for s in tx], "r_", markersize=18, mew=2, label="target p95")
    for size, run in zip(sizes, runs):
        info = run["read"]["vector_index"]
        left.annotate(f"{info['kind']}\nR@10={run['read']['recall_at_10']:.3f}", (size, run["read"]["latency_ms"]["total"]["p50"]),
                      textcoords="offset points", xytext=(4, 8), fontsize=8)
    left.set_xscale("log")
    left.set_xlabel("passages")
    left.set_ylabel("ms per question (hybrid, one at a time)")
    left.set_title("Query latency by stage")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)

    parts = {
        "FAISS (RSS)": [r["read"]["memory_per_passage"]["faiss_rss"] for r in runs],
        "BM25 (RSS)": [r["read"]["memory_per_passage"]["bm25_rss"] for r in runs],
        "SQLite file (disk)": [r["read"]["sqlite"]["file_per_passage"] for r in runs],
        "  of which embeddings": [r["read"]["sqlite"]["embedding_blob_per_passage"] for r in runs],
        "  of which document text": [r["read"]["sqlite"]["document_text_bytes_per_passage"] for r in runs],
    }
    for name, values in parts.items():
        right.plot(sizes, values, "-o" if not name.startswith(" ") else ":.", label=name)
    sq8 = [(s, r["compare"]["ivf_sq8"]["memory_bytes_per_passage"]) for s, r in zip(sizes, runs) if "ivf_sq8" in r["compare"]]
    if sq8:
        right.plot([s for s, _ in sq8], [v for _, v in sq8], "g*", markersize=10, label="FAISS with sq8 (estimate)")
    right.set_xscale("log")
    right.set_xlabel("passages")
    right.set_ylabel("bytes per passage")
    short = lambda n: f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k"  # noqa: E731
    totals = ", ".join(f"{short(s)}: {r['read']['rss_bytes']['loaded_index_total'] / 1e9:.2f} GB" for s, r in zip(sizes, runs))
    right.set_title(f"Memory per passage\nloaded index (reader RSS growth): {totals}", fontsize=9)
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle(f"Verbatim, {result['machine']['cpus']} CPUs, load average ~{result['machine']['load_average_at_end']:.1f}; "
                 "texts: SciFact replicas; vectors: calibrated synthetic", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    source = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results" / "query.json"
    plot_query(json.loads(source.read_text(encoding="utf-8")), source.with_suffix(".png"))
    print(source.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
