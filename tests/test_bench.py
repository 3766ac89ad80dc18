"""The benchmarks run (tiny sizes), write their JSON with the expected keys and sane values.

Not timed tests: they only prove that the benches work end to end, and that ``bench/scifact.py`` and
``bench/ablations.py`` measure the product's own pipeline and ``qa.retrieval.Searcher`` (``bench/memory.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder
from qa.answer import ASKED_FACT_BONUS

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "corpora" / "beir_scifact" / "corpus.jsonl"



@pytest.fixture(autouse=True)
def _scifact_is_there():
    assert SCIFACT.exists(), f"the shared SciFact corpus is missing: {SCIFACT} (README, 'Getting the shared data')"


def run(script: str, *args: str, env: dict | None = None) -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})
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


# ---------------------------------------------------------------- SciFact on the product's Searcher

CORPUS = {
    "10": ("Aspirin and *colorectal* cancer", "Aspirin lowers the risk of colorectal cancer. The effect needs years of use."),
    "2": ("", "An abstract without a title_ that mentions insulin. It has two sentences."),
    "31": ("Insulin resistance in muscle", "Insulin resistance starts in muscle. Fat follows later. " * 20),
    "4": ("Copy", "The same content twice."),
    "5": ("Copy", "The same content twice."),
}


def _fake_snapshot(tmp_path, corpus=CORPUS, settings=None, **extra):
    from bench import memory
    from qa.snapshot import PRIMARY

    encoder = FakeEmbedder()
    snapshot, chunk_doc = memory.build_snapshot(corpus, {PRIMARY: encoder, **extra}, settings, cache=tmp_path / "cache")
    return snapshot, chunk_doc, encoder


def test_memory_documents_are_what_qa_eval_indexes(tmp_path):
    """The Markdown of each document is what ``write_beir_docs`` writes, read by the product's loader."""
    from bench import memory
    from qa.evaluation import write_beir_docs
    from qa.loaders import load_document

    write_beir_docs(CORPUS, tmp_path / "docs")
    for doc_id, (title, text) in CORPUS.items():
        assert (tmp_path / "docs" / f"{doc_id}.md").read_text(encoding="utf-8") == memory.beir_markdown(title, text)
    documents, skipped = memory.load_documents(CORPUS)
    assert [d for d, _ in documents] == ["10", "2", "31", "4"]  # path order, as a fresh index numbers them
    assert skipped == {"5": "a duplicate of 4"}  # the same content under two names is indexed once
    for doc_id, document in documents:
        on_disk = load_document(tmp_path / "docs", f"{doc_id}.md")
        assert (document.text, document.title, document.headings) == (on_disk.text, on_disk.title, on_disk.headings)
    assert documents[0][1].title == "Aspirin and colorectal cancer" and "*" not in documents[0][1].text


def test_memory_snapshot_uses_the_product_chunker_and_caches_vectors(tmp_path):
    from bench import memory
    from qa.chunking import ChunkSettings, chunk_document, embedding_text, sentence_units
    from qa.settings import load_settings
    from qa.snapshot import PRIMARY

    other = FakeEmbedder()
    other.name = "other"
    snapshot, chunk_doc, encoder = _fake_snapshot(tmp_path, other=other)
    documents, _ = memory.load_documents(CORPUS)
    chunks = [(d, doc, c) for d, doc in documents for c in chunk_document(doc, ChunkSettings.from_settings(load_settings({})))]
    assert len(chunks) > len(documents)  # the long abstract is cut in several chunks
    assert sorted(chunk_doc) == list(range(1, len(chunks) + 1))
    assert [chunk_doc[i] for i in sorted(chunk_doc)] == [d for d, _, _ in chunks]
    rows = snapshot.chunks(sorted(chunk_doc))
    sentences = snapshot.sentence_vectors(sorted(chunk_doc))
    for chunk_id, (doc_id, document, chunk) in enumerate(chunks, start=1):
        assert (rows[chunk_id].doc, rows[chunk_id].text, rows[chunk_id].start) == (doc_id, chunk.text, chunk.start)
        text = embedding_text(chunk.section, chunk.text, document.title)
        assert np.allclose(snapshot.cosines([chunk_id], encoder.vector(text)), 1.0, atol=1e-6)
        spans, units = sentence_units(chunk.text, document.title)
        assert sentences[chunk_id][0].tolist() == [list(s) for s in spans]
        expected = np.stack([encoder.vector(u) for u in units]).astype(np.float16).astype(np.float32)
        assert np.array_equal(sentences[chunk_id][1], expected)  # float16, as the store keeps them
    assert snapshot.has_dense("other") and snapshot.manifest["bench"]["chunks"] == len(chunks)
    assert snapshot.lexical.search("colorectal aspirin", 1)[0][0] == 1

    again = FakeEmbedder()
    memory.build_snapshot(CORPUS, {PRIMARY: again}, cache=tmp_path / "cache")
    assert again.encoded_texts == []  # read back from the cache


def test_memory_doc_run_scores_a_document_by_its_best_chunk():
    from bench import memory
    from qa.retrieval import Hit

    chunk_doc = {1: "d0", 2: "d0", 3: "d1", 4: "d2"}
    assert memory.doc_run([Hit(2, 0.9), Hit(3, 0.8), Hit(1, 0.5)], chunk_doc) == {"d0": 3.0, "d1": 2.0}
    assert memory.doc_run([(3, 0.8), (2, 0.5), (4, 0.1)], chunk_doc, depth=2) == {"d1": 3.0, "d0": 2.0}


def test_scifact_modes_are_the_product_search(tmp_path):
    """The bench's hybrid is ``Searcher.search``; its other modes are computed from the same snapshot."""
    from bench import scifact
    from qa import fusion
    from qa.retrieval import Searcher
    from qa.settings import load_settings

    snapshot, chunk_doc, encoder = _fake_snapshot(tmp_path)
    searcher = Searcher(snapshot, encoder)
    for question in ("Does aspirin prevent colorectal cancer?", "Where does insulin resistance start?"):
        ranked, seconds = scifact.rank_all(searcher, question, k=50, weights=fusion.WEIGHTS)
        assert set(ranked) == set(seconds) == set(scifact.mode_names(weights=fusion.WEIGHTS))
        for mode in ("hybrid", "dense", "bm25"):
            assert ranked[mode] == list(Searcher(snapshot, FakeEmbedder()).search(question, 50, mode=mode).hits)
        assert [(h.chunk_id, h.score) for h in ranked[scifact.weights_name(fusion.WEIGHTS)]] == [
            (h.chunk_id, h.score) for h in ranked["hybrid"]]
        assert {c for c, _ in ranked["rrf"]} == {c for c, _ in ranked["hybrid-2"]} == {h.chunk_id for h in ranked["hybrid"]}

    # without sentence vectors the product's hybrid is the two filled-in lists
    no_sentences = load_settings({}).with_(sentence_vectors=False)
    snapshot, _, encoder = _fake_snapshot(tmp_path, settings=no_sentences)
    ranked, _ = scifact.rank_all(Searcher(snapshot, encoder), "aspirin and cancer", k=50)
    assert [(h.chunk_id, h.score) for h in ranked["hybrid-2 filled"]] == [(h.chunk_id, h.score) for h in ranked["hybrid"]]


@pytest.mark.slow
def test_scifact_bench_quick(tmp_path):
    output = tmp_path / "scifact.json"
    run("scifact.py", "--limit", "6", "--corpus-limit", "40", "--cache", str(tmp_path / "cache"), "--output", str(output))
    result = json.loads(output.read_text())["test-limit6-corpus40"]
    assert result["queries"] == 6 and result["documents"] >= 40 and result["chunks"] >= result["documents"]
    assert result["sentences"] > result["chunks"] and result["k"] == 200
    rows = {row["system"]: row for row in result["rows"]}
    assert set(rows) == {"bm25", "dense", "rrf", "hybrid-2", "hybrid-2 filled", "hybrid"}
    for row in rows.values():
        assert all(0.0 <= row[metric] <= 1.0 for metric in ("ndcg@10", "recall@100", "mrr@10"))
        assert row["ms_per_query"] >= row["search_ms"] >= 0
    assert rows["hybrid"]["ndcg@10"] > 0.3  # the judged documents are in this small corpus


def test_scifact_extra_encoder_flag_fails_clearly_without_it(monkeypatch):
    from bench import scifact

    monkeypatch.setitem(sys.modules, "qa.e5", None)  # as if the module were not there
    with pytest.raises(SystemExit, match="--extra e5 needs qa.e5.load_e5"):
        scifact.extra_encoder("e5")


@pytest.mark.slow
def test_ablations_bench_quick(tmp_path):
    output = tmp_path / "ablations.json"
    run("ablations.py", "scifact", "--limit", "12", "--corpus-limit", "60", "--cache", str(tmp_path / "cache"),
        "--output", str(output))
    result = json.loads(output.read_text())["scifact-train-800-limit12"]
    assert result["queries"] == 12 and result["units"] >= 60
    table = result["ndcg@10"]
    expected = {"recipe", "doc-bm25 0.2", "doc-context 0.1", "neighbours 0.1", "learned (out of fold)",
                "recipe on the learned folds"}
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


def test_scanned_passages_are_judged_by_the_original_text_at_the_same_place():
    from bench.quality import offset_map
    from qa.types import Document, PageSpan

    page1, page2 = "The right to form an association is protected.", "Restrictions must be necessary in law."
    original = Document("a.pdf", page1 + "\n\n" + page2, "A", "h1",
                        pages=(PageSpan(0, len(page1), 1), PageSpan(len(page1) + 2, len(page1) + 2 + len(page2), 2)))
    read1, read2 = "The right to form on ossociation is protected.", "Restrictions must be necessory in law."
    scanned = Document("a.pdf", read1 + "\n" + read2, "A", "h2",
                       pages=(PageSpan(0, len(read1), 1, ocr=0.9), PageSpan(len(read1) + 1, len(read1) + 1 + len(read2), 2, ocr=0.9)))
    to_original = offset_map(original, scanned)
    start = scanned.text.index("Restrictions")
    assert original.text[to_original(start):to_original(len(scanned.text) - 1) + 1] == page2
    word = scanned.text.index("ossociation")
    assert original.text[to_original(word):to_original(word + len("ossociation") - 1) + 1] == "association"
    assert to_original(0) == 0


def test_the_answered_bound_keeps_unanswerable_questions_and_wrong_first_passages_out():
    from bench.quality import calibrate_first
    from qa.types import Answer, Passage

    def answer(first: str, lead: float, top: float, status: str = "uncertain") -> Answer:
        passages = tuple(Passage(rank, 1.0, rank, "a.md", "A", "", 0, len(text), text)
                         for rank, text in enumerate((first, "something else entirely"), start=1))
        return Answer("q", passages, status=status, signals={"lead": lead, "top": top})

    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(60):  # the answer first, standing out more or less
        pairs.append(({"q": "q", "gold": ["the answer"]}, answer("Here is the answer.", *rng.uniform([0.5, 1.5], [3.0, 4.0]))))
    for _ in range(20):  # the answer second: the first passage leads less
        pairs.append(({"q": "q", "gold": ["the answer"]}, answer("Not this one.", *rng.uniform([0.0, 0.5], [1.0, 2.0]))))
    for _ in range(20):  # unanswerable
        pairs.append(({"q": "q", "unanswerable": True, "kind": "near_topic"}, answer("On the topic.", *rng.uniform([0.0, 0.5], [1.2, 2.2]))))
    fitted = calibrate_first(pairs)
    (w_lead, w_top), bias, bound = fitted["weights"], fitted["bias"], fitted["answered_at"]
    assert w_lead > 0 and w_top > 0 and fitted["cross_validated_auc"] > 0.9 and bound is not None
    p = [1 / (1 + np.exp(-(bias + w_lead * a.signals["lead"] + w_top * a.signals["top"]))) for _, a in pairs]
    answered = [i for i, value in enumerate(p) if value >= bound]
    assert sum(1 for i in answered if i >= 80) <= 2  # at most 10 % of the unanswerable questions
    assert sum(1 for i in answered if i < 60) >= 0.9 * len(answered)  # the answer first for 90 % of the answered


def test_the_near_topic_check_sets_are_dev_only_and_kept_out_of_the_totals():
    from bench.quality import SETS, TOTALLED
    from qa.evaluation import load_questions

    data = REPO / "tests" / "data"
    natural = {row["q"] for name in ("natural_seeds", "natural_un") for row in load_questions(data / f"{name}.jsonl")}
    ids = []
    for name, corpus in (("near_topic_seeds", "seeds"), ("near_topic_un", "un")):
        assert SETS["natural"][name][0] == corpus and name not in TOTALLED  # totals and --calibrate skip them
        rows = load_questions(data / f"{name}.jsonl")
        assert rows and all(row["kind"] == "near_topic" and row["split"] == "dev" and row["q"] not in natural for row in rows)
        assert all((REPO.parent / "shared" / "corpora" / "un_human_rights_docs" / row["doc"]).is_file()
                   for row in rows if corpus == "un")
        ids += [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == 50


@pytest.mark.parametrize("group, count", [("blind", 70), ("typos", 50)])
def test_the_blind_sets_quote_their_documents_and_are_never_tuned_on(group, count):
    import re

    from bench.quality import SETS, TOTALLED, in_split
    from qa.evaluation import load_questions
    from qa.loaders import load_document

    roots = {"seeds": REPO / "seeds", "un": REPO.parent / "shared" / "corpora" / "un_human_rights_docs"}
    documents, ids = {}, []
    for name, (corpus, path) in SETS[group].items():
        assert name in TOTALLED
        rows = load_questions(path)
        # split "blind": never in the dev split that --calibrate and bench/tune.py fit on, nor in test
        assert rows and all(row["split"] == "blind" and not in_split(row, "dev") and not in_split(row, "test") for row in rows)
        for row in rows:
            if row["doc"] not in documents:
                documents[row["doc"]] = load_document(roots[corpus], row["doc"])
            document = documents[row["doc"]]
            for gold in row["gold"]:
                found = re.search(r"\s+".join(map(re.escape, gold.split())), document.text)
                assert found, (row["id"], gold)
                if document.pages:  # a PDF: the page given is the page the gold text is on
                    assert row["page"] == next(p.number for p in document.pages if p.start <= found.start() < p.end), row["id"]
            # the typing mistakes listed are in the question as asked
            assert all(typo in row["q"] for typo in row.get("typos", ())) and (group != "typos" or row["typos"]), row["id"]
            ids.append(row["id"])
    assert len(ids) == len(set(ids)) == count


@pytest.mark.slow
def test_quality_bench_on_the_seed_sets(tmp_path):
    env = {"VERBATIM_BENCH_RESULTS": str(tmp_path), "VERBATIM_QUALITY_CACHE": str(tmp_path / "cache")}
    run("quality.py", "--split", "test", "--corpora", "seeds", "--sets", "all", "--langchain", env=env)
    result = json.loads((tmp_path / "quality-test.json").read_text())
    assert set(result) >= {"natural_seeds", "seeds_questions", "natural_total"} and "natural_un" not in result
    natural = result["natural_seeds"]["hybrid"]
    asked = sum(sum(states.values()) for states in natural["states"].values())
    assert asked == natural["questions"] and natural["answerable"] == natural["states"]["answerable"]["answered"] + \
        natural["states"]["answerable"]["uncertain"] + natural["states"]["answerable"]["not_found"]
    assert 0 <= natural["hit@1"] <= natural["hit@3"] <= 1
    assert result["natural_seeds"]["langchain"]["answerable"] == natural["answerable"]
    total = result["natural_total"]
    assert 0 <= total["answered_first_right"] <= 1 and 0 <= total["answerable_answered"] <= 1
    # bench/quotes.py over the same index: the same first passages, then whether quotes and marks hold the gold text
    done = subprocess.run([sys.executable, str(REPO / "bench" / "quotes.py"), "--split", "test", "--corpora", "seeds"],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    without, with_bonus = (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    assert (without["asked_fact_bonus"], with_bonus["asked_fact_bonus"]) == (0.0, ASKED_FACT_BONUS)
    for counts in (without, with_bonus):
        assert counts["answerable"] == natural["answerable"]
        assert counts["first_right"] == round(natural["hit@1"] * natural["answerable"])
        assert 0 < counts["quote_holds_gold"] <= counts["first_right"] and 0 < counts["mark_holds_gold"] <= counts["first_right"]


@pytest.mark.slow
def test_cost_and_ask_benches_quick(tmp_path):
    env = {"VERBATIM_BENCH_RESULTS": str(tmp_path)}
    run("cost.py", "--docs", "4", "--rounds", "1", "--variants", "passages", env=env)
    cost = json.loads((tmp_path / "cost.json").read_text())
    assert [row["pipeline"] for row in cost["rows"]] == ["langchain default", "passages"]
    assert all(row["median_s"] > 0 and row["passages"] > 0 for row in cost["rows"])
    run("ask.py", "--rounds", "1", "--questions", "3", env=env)
    ask = json.loads((tmp_path / "ask.json").read_text())
    assert ask["working tree"]["asks"] == 3 and ask["working tree"]["p50_ms"] > 0


def test_the_ceiling_counts_each_list_the_oracle_and_the_fused_recall():
    from bench.ceiling import figures
    from qa.retrieval import Signals

    # Question 1: BM25 alone puts the answer (chunk 2) first, the dense lists put chunk 1 first.
    first = Signals(dense=[(1, 0.9), (2, 0.5), (3, 0.1)], lexical=[(1, 1.0), (2, 9.0), (3, 0.0)],
                    sentence=[(1, 0.8), (2, 0.4), (3, 0.2)])
    # Question 2: no list puts the answer (chunk 3) first; it is last in every list.
    second = Signals(dense=[(1, 0.9), (2, 0.5), (3, 0.1)], lexical=[(1, 5.0), (2, 4.0), (3, 1.0)],
                     sentence=[(1, 0.8), (2, 0.6), (3, 0.2)])
    result = figures([(first, {2}), (second, {3})], (1.0, 1.0, 1.0))
    assert result["lists"]["bm25"] == {"hit@1": 0.5, "hit@3": 1.0}
    assert result["lists"]["dense"] == {"hit@1": 0.0, "hit@3": 1.0}
    assert result["any_list_first"] == 0.5
    assert result["fused"]["hit@1"] == 0.0  # two lists against one keep chunk 1 first
    assert result["fused_recall"]["3"] == 1.0 and result["fused_recall"]["all"] == 1.0


def test_the_bundled_seeds_leave_out_what_a_user_uploaded_into_the_folder():
    """The page saves uploads into the folder it serves, the repository's seeds/ when started as the README says:
    the tests and benchmarks must still read only the bundled documents."""
    from bench.corpus import bundled_seeds

    uploaded = REPO / "seeds" / "zz_uploaded_by_a_user_during_the_tests.txt"
    uploaded.write_text("A note a user uploaded through the page.\n", encoding="utf-8")
    try:
        names = [path.name for path in bundled_seeds()]
    finally:
        uploaded.unlink()
    assert "kazakhstan-reply-AL-KAZ-1-2024.md" in names and uploaded.name not in names
