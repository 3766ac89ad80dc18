"""The benchmarks run (tiny sizes), write their JSON with the expected keys and sane values.

Not timed tests: they only prove that ``bench/query.py`` and ``bench/ingest.py`` work end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "corpora" / "beir_scifact" / "corpus.jsonl"

pytestmark = pytest.mark.skipif(not SCIFACT.exists(), reason="the shared SciFact corpus is not there")


def run(script: str, *args: str) -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_query_bench_quick(tmp_path):
    output = tmp_path / "query.json"
    run("query.py", "--quick", "--sizes", "1500,4000", "--ann-threshold", "2000", "--output", str(output))
    result = json.loads(output.read_text())
    assert result["quick"] and result["machine"]["gpu"].startswith("none")
    small, large = (run_["read"] for run_ in result["runs"])
    assert small["passages"] == 1500 and small["vector_index"]["kind"] == "flat"
    assert large["passages"] == 4000 and large["vector_index"]["kind"] == "ivf"
    for read in (small, large):
        assert 0.0 <= read["recall_at_10"] <= 1.0
        for stage in ("encode", "bm25", "faiss", "fusion", "passages", "total"):
            lat = read["latency_ms"][stage]
            assert 0 <= lat["p50"] <= lat["p95"]
        memory = read["memory_per_passage"]
        assert 1000 < memory["faiss_estimate"] < 3000 and memory["bm25_arrays"] > 0
        assert read["sqlite"]["embedding_blob_per_passage"] == 1536
    assert small["recall_at_10"] == 1.0  # exact search
    compare = result["runs"][1]["compare"]
    assert compare["exact"]["faiss_ms"]["p50"] >= 0
    assert 0.0 <= compare["ivf_sq8"]["recall_at_10"] <= 1.0
    assert compare["ivf_sq8"]["memory_bytes_per_passage"] < 0.5 * large["memory_per_passage"]["faiss_estimate"]
    assert result["runs"][1]["build"]["stages_wall_s"]["faiss_build"] >= 0


@pytest.mark.slow
def test_ingest_bench_quick(tmp_path):
    output = tmp_path / "ingest.json"
    run("ingest.py", "--quick", "--scifact", "6", "--output", str(output))
    result = json.loads(output.read_text())
    assert result["quick"] and result["corpus"]["scifact"] == 6 and not result["corpus"]["failed"]
    assert result["corpus"]["chunks_embedded"] > 0
    assert result["corpus"]["sentences_embedded"] > result["corpus"]["chunks_embedded"]
    assert result["end_to_end"]["texts_per_s"] > result["end_to_end"]["chunks_per_s"] > 0
    assert set(result["raw_encode"]["texts_per_s"]) == {"bfloat16", "float32", "peer", "chosen"}
    for ratio in result["ratios"].values():
        assert 0 < ratio < 100
    assert 0.99 <= result["cosine_bf16_vs_fp32"]["min"] <= 1.0 + 1e-5
    assert set(result["query_encode_ms"]) == {"bfloat16", "float32", "embedder.encode_query"}
    assert result["ask"]["questions"] == 3 and result["ask"]["first_ms"] > 0
    assert result["settings"]["resolved_dtype"] in ("float32", "bfloat16")
    assert result["peer_baseline_fp32_default_env"]["omp_wait_policy"] is None  # peers' default environment
    assert result["end_to_end_over_peer_baseline"] > 0


@pytest.mark.slow
def test_ablations_bench_quick(tmp_path):
    output = tmp_path / "ablations.json"
    run("ablations.py", "scifact", "--limit", "12", "--corpus-limit", "60", "--cache", str(tmp_path / "cache"),
        "--output", str(output))
    result = json.loads(output.read_text())["scifact-train-800-limit12"]
    assert result["queries"] == 12 and result["units"] >= 60
    table = result["ndcg@10"]
    expected = {"recipe", "doc-bm25 0.2", "doc-context 0.1", "neighbours 0.1", "learned (out of fold)", "idf-pool 0.5",
                "idf-pool 0.5 + doc-bm25 0.2", "recipe on the learned folds"}
    assert expected <= set(table)
    assert all(0.0 <= value <= 1.0 for value in table.values())
    assert table["recipe"] > 0.3  # the judged documents are in this small corpus: the recipe finds most of them


def test_non_prose_share():
    from bench.ablations import non_prose_share

    address = "Acting Minister\nRoman VASSILENKO\n\nMs. Mary LAWLOR\nSpecial Rapporteur on human rights defenders"
    prose = "The review found no connection between the investigations and her work. Nor was there any threat."
    bullets = "• To promote inclusivity and respect for diversity\n• To protect cultural heritage"
    contents = "I. Organizational matters ........ 3\nII. Reports of States parties …"
    assert non_prose_share(address) == 1.0 and non_prose_share(contents) == 1.0
    assert non_prose_share(prose) == 0.0 and non_prose_share(bullets) == 0.0
    assert 0.0 < non_prose_share(address + "\n\n" + prose) < 1.0
