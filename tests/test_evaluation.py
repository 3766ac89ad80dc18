"""``qa eval`` on a tiny BEIR-format fixture with hand-computed metrics, and on a question file."""

from __future__ import annotations

import json
import math

import pytest

from qa.evaluation import beir_metrics, evaluate_beir, evaluate_questions, load_beir
from qa.indexing import update_index
from qa.store import Store

from conftest import write


@pytest.fixture
def tiny_beir(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "alpha", "text": "apple banana"},
        {"_id": "d2", "title": "beta", "text": "apple cherry"},
        {"_id": "d3", "title": "gamma", "text": "zebra yak"},
        {"_id": "d4", "title": "delta", "text": "quartz"},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    queries = [{"_id": "q1", "text": "apple banana"}, {"_id": "q2", "text": "zebra"}, {"_id": "q3", "text": "unjudged"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    # CRLF line endings, as in the real BEIR files.
    (folder / "qrels" / "test.tsv").write_bytes(b"query-id\tcorpus-id\tscore\r\nq1\td2\t1\r\nq2\td3\t1\r\n")
    return folder


def test_load_beir_keeps_judged_queries_and_strips_crlf(tiny_beir):
    corpus, queries, qrels = load_beir(tiny_beir, "test")
    assert set(corpus) == {"d1", "d2", "d3", "d4"}
    assert queries == {"q1": "apple banana", "q2": "zebra"}
    assert qrels == {"q1": {"d2": 1}, "q2": {"d3": 1}}


def test_eval_on_tiny_beir_matches_hand_computed_metrics(tiny_beir, settings, fake_embedder):
    result = evaluate_beir(tiny_beir, "test", settings, embedder=fake_embedder, modes=("dense",))
    dense = result["modes"]["dense"]
    # q1: d1 shares both words, d2 one word → the relevant d2 is ranked 2nd; q2: d3 ranked 1st.
    expected_ndcg = (1 / math.log2(3) + 1.0) / 2
    assert dense["ndcg@10"] == pytest.approx(expected_ndcg, abs=1e-4)
    assert dense["mrr@10"] == pytest.approx(0.75, abs=1e-4)
    assert dense["recall@100"] == pytest.approx(1.0)
    assert result["documents"] == 4 and result["queries"] == 2


def test_metric_library_agrees_with_hand_computation():
    qrels = {"q": {"a": 1, "b": 1}}
    run = {"q": {"x": 3.0, "a": 2.0, "y": 1.0}}
    metrics = beir_metrics(qrels, run)
    dcg = 1 / math.log2(3)
    idcg = 1 + 1 / math.log2(3)
    assert metrics["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-6)
    assert metrics["mrr@10"] == pytest.approx(0.5)
    assert metrics["recall@100"] == pytest.approx(0.5)


def test_question_file_metrics(settings, docs_dir, fake_embedder):
    write(docs_dir, "a.md", "The lawyer was denied access to the materials.")
    write(docs_dir, "b.md", "Peaceful assemblies law adopted in 2020.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    store = Store.open(settings.index, settings)
    questions = [
        {"q": "lawyer denied access materials", "gold": ["denied access"]},
        {"q": "peaceful assemblies law", "gold": ["Peaceful assemblies"]},
        {"q": "lawyer", "gold": ["nowhere in the documents"]},
    ]
    result = evaluate_questions(questions, store, fake_embedder, k=2, mode="dense")
    assert result["hit@1"] == pytest.approx(2 / 3, abs=1e-3)
    assert result["hit@3"] == pytest.approx(2 / 3, abs=1e-3)
    assert result["mrr"] == pytest.approx(2 / 3, abs=1e-3)
    assert [m["q"] for m in result["misses"] if "rank" in m] == ["lawyer"]


@pytest.mark.slow
def test_seeds_question_set_with_the_real_model(seeds_index, real_embedder):
    """The team's question set about the bundled reply: the answering passage is nearly always in the top 3,
    no off-topic question is shown as answered and no answerable one as "not found"."""
    from pathlib import Path

    from qa.evaluation import load_questions

    questions = load_questions(Path(__file__).parent / "data" / "seeds_questions.jsonl")
    assert sum(1 for q in questions if not q.get("unanswerable")) >= 30
    with Store.open(seeds_index.index, seeds_index) as store:
        result = evaluate_questions(questions, store, real_embedder, mode="hybrid")
    # measured 0.85 / 0.95 (README); the weights were tuned on other questions (the natural dev split)
    assert result["states"]["off_topic"]["answered"] == 0
    assert result["states"]["answerable"]["not_found"] == 0
    assert result["hit@3"] >= 0.95, result["misses"]
    assert result["hit@1"] >= 0.8, result["misses"]
    assert result["median_top_passage_chars"] <= 1200
