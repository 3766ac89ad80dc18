"""Fusion of ranked lists (qa.fusion) and the BM25 index (qa.lexical): small hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qa import fusion, vectors
from qa.fusion import combine
from qa.sentences import sentence_spans
from qa.lexical import K1, B, LexicalIndex, tokenize, tokenize_query

# ---------------------------------------------------------------- fusion

Z3 = math.sqrt(1.5)  # z-scores of three evenly spaced values are -√1.5, 0, √1.5


def test_zscores_of_evenly_spaced_values():
    assert fusion.zscores([1.0, 2.0, 3.0]) == pytest.approx([-Z3, 0.0, Z3])


def test_zscores_of_constant_single_and_empty_lists():
    assert fusion.zscores([4.0, 4.0]).tolist() == [0.0, 0.0]
    assert fusion.zscores([7.0]).tolist() == [0.0]
    assert fusion.zscores([]).tolist() == []


DENSE = [(1, 0.9), (2, 0.5), (3, 0.1)]  # z: +√1.5, 0, -√1.5
LEXICAL = [(2, 10.0), (4, 4.0)]  # z: +1, -1


def test_combine_gives_missing_ids_the_list_floor():
    # 1: √1.5 + (-1) · 2: 0 + 1 · 3: -√1.5 - 1 · 4: -√1.5 (floor) - 1 → tie 3/4, smaller id first
    fused = fusion.combine([DENSE, LEXICAL], [1.0, 1.0])
    assert [i for i, _ in fused] == [2, 1, 3, 4]
    assert [s for _, s in fused] == pytest.approx([1.0, Z3 - 1, -Z3 - 1, -Z3 - 1])


def test_combine_weights_scale_each_list():
    fused = dict(fusion.combine([DENSE, LEXICAL], [2.0, 0.5]))
    assert fused[1] == pytest.approx(2 * Z3 - 0.5)
    assert fused[2] == pytest.approx(0.5)
    assert fused[4] == pytest.approx(-2 * Z3 - 0.5)


def test_fuse_two_lists_uses_equal_weights():
    assert fusion.fuse(DENSE, LEXICAL) == fusion.combine([DENSE, LEXICAL], [1.0, 1.0])


def test_fuse_with_sentence_scores_uses_the_tuned_weights():
    sentence = [(3, 0.8), (1, 0.6), (2, 0.4), (4, 0.2)]  # z: 3 → +3/√5, 1 → +1/√5, 2 → -1/√5, 4 → -3/√5
    fused = dict(fusion.fuse(DENSE, LEXICAL, sentence))
    wd, wl, ws = fusion.DENSE_WEIGHT, fusion.LEXICAL_WEIGHT, fusion.SENTENCE_WEIGHT
    r5 = math.sqrt(5)
    assert fused[1] == pytest.approx(wd * Z3 - wl + ws / r5)
    assert fused[2] == pytest.approx(wl - ws / r5)
    assert fused[3] == pytest.approx(-wd * Z3 - wl + 3 * ws / r5)
    assert fused[4] == pytest.approx(-wd * Z3 - wl - 3 * ws / r5)


def test_combine_skips_empty_lists_and_handles_all_empty():
    assert fusion.combine([[], []], [1.0, 1.0]) == []
    assert fusion.fuse([], LEXICAL) == [(2, 1.0), (4, -1.0)]
    with pytest.raises(ValueError):
        fusion.combine([DENSE], [1.0, 1.0])


def test_rrf_hand_computed():
    fused = fusion.rrf([[(1, 9.0), (2, 8.0)], [(2, 0.7), (3, 0.6)]], k=60)
    assert [i for i, _ in fused] == [2, 1, 3]
    assert [s for _, s in fused] == pytest.approx([1 / 62 + 1 / 61, 1 / 61, 1 / 62])


def test_max_sentence_scores_takes_each_chunks_best_sentence():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]], dtype=np.float32)
    ranked = fusion.max_sentence_scores(np.array([1.0, 0.0]), vectors, [7, 7, 9, 5])
    assert [i for i, _ in ranked] == [7, 9, 5]
    assert [s for _, s in ranked] == pytest.approx([1.0, 0.6, -1.0])
    assert fusion.max_sentence_scores(np.array([1.0, 0.0]), np.zeros((0, 2)), []) == []


def test_best_per_group_keeps_the_best_chunk_of_each_document():
    doc_of = {10: "a", 11: "a", 20: "b"}.__getitem__
    assert fusion.best_per_group([(11, 0.2), (20, 0.5), (10, 0.9)], doc_of) == [("a", 0.9), ("b", 0.5)]


# ---------------------------------------------------------------- lexical

TEXTS = [
    "The detention of migrants was ruled unlawful.",
    "Migrants detained at the border; the detained were released.",
    "Studies of protein folding in mice.",
    "A study of the mouse genome.",
]
IDS = [100, 200, 300, 2**40]


@pytest.fixture(scope="module")
def index():
    return LexicalIndex.build(TEXTS, IDS)


def bm25(tf: int, df: int, n: int, doc_len: int, avg_len: float) -> float:
    """Lucene BM25 term score as bm25s computes it: idf · tf / (tf + k1 · (1 - b + b · |d| / avgdl))."""
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + K1 * (1 - B + B * doc_len / avg_len))


def test_tokenize_lowercases_drops_stopwords_and_stems():
    assert tokenize("The Detained are RUNNING studies") == ["detain", "run", "studi"]
    assert tokenize_query("a an the of") == []


def test_stemming_matches_inflections_but_not_other_stems(index):
    # Snowball English: detained → detain, detention → detent, mice → mice, mouse → mous
    assert [i for i, _ in index.search("detain", 10)] == [200]
    assert [i for i, _ in index.search("detention", 10)] == [100]
    assert {i for i, _ in index.search("study", 10)} == {300, 2**40}
    assert [i for i, _ in index.search("mice", 10)] == [300]


def test_scores_are_exact_lucene_bm25(index):
    lengths = [len(tokenize(t)) for t in TEXTS]  # [4, 6, 4, 3]
    avg = sum(lengths) / 4
    got = dict(index.search("detained migrants", 10))
    # "detain": tf 2 in doc 200 only; "migrant": tf 1 in docs 100 and 200
    assert got[200] == pytest.approx(bm25(2, 1, 4, lengths[1], avg) + bm25(1, 2, 4, lengths[1], avg), rel=1e-5)
    assert got[100] == pytest.approx(bm25(1, 2, 4, lengths[0], avg), rel=1e-5)
    assert list(got) == [200, 100]


def test_repeated_query_words_weigh_more(index):
    once = dict(index.search("migrants", 10))
    twice = dict(index.search("migrants migrants", 10))
    assert twice[100] == pytest.approx(2 * once[100])


def test_search_respects_k_and_orders_ties_by_id(index):
    ranked = index.search("migrants", 10)
    assert [i for i, _ in ranked] == [100, 200]  # doc 100 is shorter, so it scores higher
    assert index.search("migrants", 1) == ranked[:1]
    assert index.search("migrants", 0) == []


def test_allowed_ids_filter_before_top_k(index):
    assert [i for i, _ in index.search("migrants", 1, allowed_ids={200})] == [200]
    assert index.search("migrants", 5, allowed_ids={300, 2**40}) == []
    assert index.search("migrants", 5, allowed_ids=set()) == []
    assert [i for i, _ in index.search("migrants", 5, allowed_ids={200, 999})] == [200]


def test_unknown_or_stopword_queries_find_nothing(index):
    assert index.search("zebra quantum", 5) == []
    assert index.search("the of and", 5) == []
    assert index.search("", 5) == []


def test_scores_for_fills_in_requested_ids(index):
    full = dict(index.search("detained migrants", 10))
    assert index.scores_for("detained migrants", [200, 300, 100, 12345]) == [
        (100, pytest.approx(full[100])),
        (200, pytest.approx(full[200])),
        (300, 0.0),
    ]
    assert index.scores_for("detained", []) == []


def test_save_load_round_trip_without_pickle(index, tmp_path):
    index.save(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "ids.npy" in names and "vocab.index.json" in names and "params.index.json" in names
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    for name in names:
        if name.endswith(".npy"):
            np.load(tmp_path / name, allow_pickle=False)
    loaded = LexicalIndex.load(tmp_path)
    assert len(loaded) == 4
    assert loaded.ids.dtype == np.int64 and loaded.ids.tolist() == IDS
    for query in ("detained migrants", "study mice", "genome"):
        assert loaded.search(query, 10) == index.search(query, 10)
    assert loaded.search("genome", 3, allowed_ids={2**40}) == [(2**40, pytest.approx(index.search("genome", 1)[0][1]))]


def test_empty_index(tmp_path):
    empty = LexicalIndex.build([], [])
    assert len(empty) == 0
    assert empty.search("anything", 5) == []
    empty.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert len(loaded) == 0 and loaded.search("anything", 5) == []


def test_build_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        LexicalIndex.build(["a text"], [1, 2])


def test_load_of_a_missing_folder_raises(tmp_path):
    with pytest.raises(Exception):
        LexicalIndex.load(tmp_path / "nothing-here")


# ---------------------------------------------------------------- benchmark metric plumbing


def test_beir_metrics_agree_with_hand_computed_ndcg():
    from qa.evaluation import beir_metrics

    # q1: the relevant document is ranked 2nd → nDCG@10 = 1/log2(3), RR = 1/2
    # q2: the relevant document is ranked 1st → 1, RR = 1
    run = {"q1": {"a": 0.9, "b": 0.5}, "q2": {"c": 0.7, "a": 0.1}}
    qrels = {"q1": {"b": 1}, "q2": {"c": 1}}
    got = beir_metrics(qrels, run)
    assert got["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert got["mrr@10"] == pytest.approx(0.75)
    assert got["recall@100"] == pytest.approx(1.0)


def _random_corpus(seed: int = 0, n: int = 60):
    rng = np.random.default_rng(seed)
    words = ["cell", "cells", "protein", "gene", "genes", "mouse", "tumour", "growth", "signal", "immune", "dose"]
    return [" ".join(rng.choice(words, size=rng.integers(1, 15))) for _ in range(n)]


def test_scores_equal_bm25s_own_lucene_index():
    import bm25s

    texts = _random_corpus()
    ours = LexicalIndex.build(texts, list(range(len(texts))))
    reference = bm25s.BM25(k1=K1, b=B, method="lucene")
    reference.index([tokenize(t) for t in texts], show_progress=False)
    for query in ("cell growth", "genes genes immune", "mouse tumour dose signal"):
        expected = reference.get_scores(tokenize(query))
        got = dict(ours.search(query, len(texts)))
        assert {i for i, s in enumerate(expected) if s > 0} == set(got)
        assert [got[i] for i in sorted(got)] == pytest.approx([expected[i] for i in sorted(got)], rel=1e-5)


def test_scores_for_equals_full_search_on_every_id():
    texts = _random_corpus(1)
    ids = [10 * i + 7 for i in range(len(texts))]
    index = LexicalIndex.build(texts, ids)
    full = dict(index.search("protein growth signal signal", len(texts)))
    filled = index.scores_for("protein growth signal signal", ids)
    assert [i for i, _ in filled] == sorted(ids)
    assert [s for _, s in filled] == pytest.approx([full.get(i, 0.0) for i in sorted(ids)], rel=1e-6)


def test_hybrid_search_fills_in_every_signal_and_ranks_by_the_best_sentence(settings, docs_dir, fake_embedder):
    """Product hybrid search: each dense or BM25 candidate gets its cosine, its BM25 score and its best
    sentence's cosine (from the stored sentence vectors), and ``fusion.fuse`` of the three lists ranks them."""
    from qa import fusion as fusion_module
    from qa.indexing import update_index
    from qa.retrieval import Searcher, search
    from qa.snapshot import PRIMARY
    from qa.store import Store
    from conftest import write

    write(docs_dir, "a.md", "# Alpha\n\nThe harbour opened. Ships waited in the harbour while the pilot slept all night long.")
    write(docs_dir, "b.md", "# Beta\n\nThe pilot slept. The harbour opened at dawn.")
    write(docs_dir, "c.md", "# Gamma\n\nNothing here concerns boats at all.")
    update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
    question = "when did the harbour open at dawn"
    with Store.open(settings.index, settings) as store, store.snapshot() as snap:
        query = fake_embedder.encode_query(question)
        searcher = Searcher(snap, fake_embedder)
        shallow = searcher.signals(question, {PRIMARY: query}, depth=1)  # one candidate from each list
        candidates = {c for c, _ in vectors.search(snap.dense_index(), query, 1)} | {c for c, _ in snap.lexical.search(question, 1)}
        assert {c for c, _ in shallow.dense} == {c for c, _ in shallow.lexical} == {c for c, _ in shallow.sentence} == candidates
        signals = searcher.signals(question, {PRIMARY: query}, depth=fusion_module.CANDIDATES)
        candidates = {c for c, _ in signals.dense}
        rows = snap.chunks(sorted(candidates))
        for chunk_id, score in signals.sentence:  # the best of the chunk's sentences, each seen with the title
            row = rows[chunk_id]
            best = max(float(fake_embedder.vector(f"{row.title}\n{row.text[s:e]}") @ query[0]) for s, e in sentence_spans(row.text))
            assert score == pytest.approx(best, abs=2e-3)
        cosines = dict(zip(sorted(candidates), vectors.reconstruct(snap.dense_index(), sorted(candidates)) @ query[0]))
        assert all(score == pytest.approx(float(cosines[c]), abs=1e-6) for c, score in signals.dense)
        expected = fusion_module.fuse(signals.dense, signals.lexical, signals.sentence)
        hits = searcher.search(question, k=3).hits
        assert [h.chunk_id for h in hits] == [c for c, _ in expected[:3]]
        assert all(h.dense == pytest.approx(float(cosines[h.chunk_id]), abs=1e-6) for h in hits)  # hits carry the signals
        passages = search(store, fake_embedder, question, k=3)
        assert [p.chunk_id for p in passages] == [c for c, _ in expected[:3]]
        assert passages[0].doc == "b.md"  # its sentence "The harbour opened at dawn." matches best


def test_known_acronyms_are_expanded_once_and_unknown_ones_left_alone():
    from qa.retrieval import expand_acronyms

    assert expand_acronyms("Does the ICCPR protect honour?") == (
        "Does the ICCPR protect honour? (International Covenant on Civil and Political Rights)"
    )
    assert expand_acronyms("What do NGOs say?").endswith("(non-governmental organizations)")
    spelled = "Is the ICCPR, the International Covenant on Civil and Political Rights, cited?"
    assert expand_acronyms(spelled) == spelled  # the name is already there
    assert expand_acronyms(expand_acronyms("ICCPR and UDHR")) == expand_acronyms("ICCPR and UDHR")
    assert expand_acronyms("Is it OK in the US? iccpr") == "Is it OK in the US? iccpr"  # unknown, or not written as one


def test_acronyms_of_french_spanish_and_russian_are_expanded_in_the_questions_language():
    from qa.retrieval import expand_acronyms

    assert expand_acronyms("Que dit le PIDCP sur la liberté d'expression ?").endswith(
        "(Pacte international relatif aux droits civils et politiques)")
    assert expand_acronyms("¿Qué dice la DUDH sobre la tortura?").endswith("(Declaración Universal de Derechos Humanos)")
    assert expand_acronyms("Что говорится во ВДПЧ о пытках?").endswith("(Всеобщая декларация прав человека)")
    assert expand_acronyms("art. 19 DUDH") == ("art. 19 DUDH (Déclaration universelle des droits de l'homme; "
                                               "Declaración Universal de Derechos Humanos)")  # language undetermined
    assert expand_acronyms("What does the DUDH say?") != "What does the DUDH say?"
    assert expand_acronyms("Que dit le CAT ?").endswith("(Convention against Torture; Committee against Torture)")


def _first_documents(settings, docs_dir, embedder, documents: dict[str, str], questions: list[tuple[str, str]]):
    """Index ``documents`` ({name: text}) and return the first passage's document for each (question, mode)."""
    from qa.indexing import update_index
    from qa.retrieval import search
    from qa.store import Store
    from conftest import write

    for name, text in documents.items():
        write(docs_dir, name, text)
    update_index(docs_dir, settings.index, settings, embedder=embedder)
    with Store.open(settings.index, settings) as store:
        return [search(store, embedder, question, k=1, mode=mode)[0].doc for question, mode in questions]


def test_an_acronym_question_finds_the_passage_that_spells_the_name_out(settings, docs_dir, fake_embedder):
    first = _first_documents(settings, docs_dir, fake_embedder, {
        "a.md": "# Reply\n\nUnder article 17 of the International Covenant on Civil and Political Rights, honour is protected.",
        "b.md": "# Other\n\nThe government replied about the defamation cases and the courts.",
    }, [("ICCPR", "bm25"), ("defamation under the ICCPR", "hybrid")])
    assert first == ["a.md", "a.md"]


def test_a_sentence_shared_by_overlapping_chunks_is_shown_and_quoted_once(settings, docs_dir, fake_embedder):
    from qa.answer import ask
    from qa.indexing import update_index
    from qa.store import Store
    from conftest import write

    filler = [f"Filler sentence number {i} talks about weather and crops in the valley." for i in range(30)]
    shared = "The quokka tribunal heard the petition on Monday."
    checked = False
    for position in range(4, 20):  # move the sentence until it is the one-sentence overlap of two chunks
        write(docs_dir, "a.md", "# Report\n\n" + " ".join(filler[:position] + [shared] + filler[position:]))
        update_index(docs_dir, settings.index, settings, embedder=fake_embedder)
        with Store.open(settings.index, settings) as store:
            if sum(shared in c.text for c in store.document_chunks("a.md")) != 2:
                continue
            result = ask(store, fake_embedder, "quokka tribunal petition Monday", k=5)
        # the two chunks are one passage (``retrieval.join_neighbours``), and the sentence is quoted once, from it
        holders = [p for p in result.passages if shared in p.text]
        assert len(holders) == 1 and len(holders[0].parts) >= 2
        assert [s.text for s in result.sentences].count(shared) == 1
        first = result.sentences[0]
        assert first.text == shared and first.passage_rank == holders[0].rank
        checked = True
        break
    assert checked, "no position made the sentence part of an overlap"


def test_not_found_uses_the_calibration_of_the_indexs_sentence_vectors(settings, docs_dir, fake_embedder):
    import math

    from qa import answer as answer_module
    from qa.indexing import update_index
    from qa.store import Store
    from conftest import write

    write(docs_dir, "a.md", "# Report\n\nThe harbour opened at dawn. The pilot slept.")
    for stored, (_, weights, bias, _, _) in (
        (True, answer_module.CONFIDENCE["stored"]),
        (False, answer_module.CONFIDENCE["bare"]),
    ):
        these = settings.with_(sentence_vectors=stored)
        update_index(docs_dir, these.index, these, embedder=fake_embedder, rebuild=True)
        with Store.open(these.index, these) as store:
            result = answer_module.ask(store, fake_embedder, "when did the harbour open", k=1)
        signals = result.signals
        z = bias + weights[0] * signals["sentence"] + weights[1] * signals["passage"] + weights[2] * signals["coverage"]
        assert result.confidence == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-4)


def test_ids_a_list_cannot_judge_get_its_mean_and_stay_out_of_its_z_scores():
    english = [(1, 0.9), (2, 0.5), (3, 0.1), (4, 0.95)]  # 4: a French chunk, scored by an English model
    second = [(1, 0.2), (2, 0.2), (3, 0.2), (4, 0.9)]
    plain = dict(combine([english, second], [1.0, 1.0]))
    blind = dict(combine([english, second], [1.0, 1.0], blind=[{4}, None]))
    judged = dict(combine([[(1, 0.9), (2, 0.5), (3, 0.1)]], [1.0]))
    for chunk_id in (1, 2, 3):  # the English list's z-scores are those of its English chunks alone
        assert math.isclose(blind[chunk_id] - dict(combine([second], [1.0]))[chunk_id], judged[chunk_id])
    assert math.isclose(blind[4], dict(combine([second], [1.0]))[4])  # 0 from the English list
    assert plain[4] > blind[4]


def test_a_blind_list_can_take_another_lists_judgement_of_what_it_cannot_read():
    english = [(1, 0.9), (2, 0.5), (3, 0.1), (4, 0.95)]  # 4: a French chunk
    lexical = [(1, 1.0), (2, 2.0), (3, 3.0), (4, 0.0)]  # the question's words are not in 4 at all
    fused = dict(combine([english, lexical], [1.0, 1.0], blind=[{4}, None], stand_in=1))
    z_lexical = dict(zip([1, 2, 3, 4], fusion.zscores([1.0, 2.0, 3.0, 0.0])))
    assert math.isclose(fused[4], 2 * z_lexical[4])  # its BM25 z-score stands in for the English model's
    assert fused[4] < min(fused[1], fused[2], fused[3])


def test_a_list_blind_to_every_candidate_still_weighs_through_its_stand_in():
    """Searching a Spanish document alone, the English model judges no candidate: its lists still count (the
    stand-in's z-scores with their weight), exactly as when one English chunk is among the candidates, so a
    score's scale does not depend on whether such a chunk happens to be there (session 19: the Spanish, Russian,
    Arabic and Chinese first passages stood out half as far as the French ones, never "answered")."""
    english = [(1, 0.9), (2, 0.1), (3, 0.5)]
    lexical = [(1, 1.0), (2, 3.0), (3, 2.0)]
    e5 = [(1, 0.9), (2, 0.1), (3, 0.5)]
    fused = dict(combine([english, lexical, e5], [1.0, 1.0, 1.0], blind=[{1, 2, 3}, None, None], stand_in=2))
    z_e5 = dict(zip([1, 2, 3], fusion.zscores([0.9, 0.1, 0.5])))
    z_lexical = dict(zip([1, 2, 3], fusion.zscores([1.0, 3.0, 2.0])))
    for chunk_id in (1, 2, 3):
        assert math.isclose(fused[chunk_id], 2 * z_e5[chunk_id] + z_lexical[chunk_id])
    assert max(fused, key=fused.get) == 1  # the list judging through e5 outweighs BM25's preference for 2


def test_the_multilingual_encoder_judges_foreign_chunks_for_the_english_lists():
    """Chunks 3 and 4 are French: MiniLM's dense and sentence lists cannot judge them, so e5's z-score stands in
    for theirs, not BM25's (which favours 3, whose few words match the question's by chance)."""
    from qa.retrieval import Searcher, Signals

    dense = [(1, 0.80), (2, 0.60), (3, 0.90), (4, 0.10)]
    lexical = [(1, 3.0), (2, 2.0), (3, 5.0), (4, 0.5)]
    sentence = [(1, 0.70), (2, 0.50), (3, 0.90), (4, 0.10)]
    e5 = [(1, 0.80), (2, 0.78), (3, 0.70), (4, 0.90)]
    signals = Signals(dense, lexical, sentence, {"e5": e5}, frozenset({3, 4}))
    weights = (0.5, 0.5, 2.0, 2.0)
    hits = Searcher.fuse(signals, weights)
    ranked, fused = [hit.chunk_id for hit in hits], {hit.chunk_id: hit.score for hit in hits}
    assert ranked.index(4) < ranked.index(3)
    z_e5 = dict(zip([1, 2, 3, 4], fusion.zscores([s for _, s in e5])))
    z_bm25 = dict(zip([1, 2, 3, 4], fusion.zscores([s for _, s in lexical])))
    assert math.isclose(fused[4], (0.5 + 2.0 + 2.0) * z_e5[4] + 0.5 * z_bm25[4])


def test_term_counts_updated_in_place_score_as_a_fresh_build():
    """What an app server on a PostgreSQL store does for a new generation: drop removed rows, tokenise only
    the new ones, recompute the matrix. It must score every question as a build from scratch would."""
    from qa.lexical import LexicalIndex, TermCounts

    texts = {1: "The lawyer was denied access to the case materials.", 2: "Peaceful assemblies in Almaty.",
             3: "Le droit de réunion pacifique est reconnu.", 4: "Detention of the blogger was extended.",
             5: "人人有权享有和平集会和结社的自由。"}
    languages = {1: "en", 2: "en", 3: "fr", 4: "en", 5: "zh"}
    old = TermCounts().with_texts([1, 2, 3], [texts[i] for i in (1, 2, 3)], [languages[i] for i in (1, 2, 3)])
    before = old.index()
    new = old.without([2]).with_texts([4, 5], [texts[4], texts[5]], [languages[4], languages[5]])
    fresh = LexicalIndex.build([texts[i] for i in (1, 3, 4, 5)], [1, 3, 4, 5], languages=[languages[i] for i in (1, 3, 4, 5)])
    assert new.index().search("Almaty", 5) == fresh.search("Almaty", 5) == []  # only in the removed row
    for query in ("lawyer denied access", "blogger detention extended", "réunion pacifique", "和平集会"):
        got, want = sorted(new.index().search(query, 5)), sorted(fresh.search(query, 5))
        assert [c for c, _ in got] == [c for c, _ in want] and got
        assert [s for _, s in got] == pytest.approx([s for _, s in want])
    assert new.index().languages == fresh.languages == {"en": 2, "fr": 1, "zh": 1}
    # the index of the older counts is untouched by the newer ones (readers of the old generation)
    assert [c for c, _ in before.search("Almaty", 5)] == [2] and len(before) == 3
    assert before.search("blogger", 5) == []


def test_everyday_phrases_bring_the_treaty_wording_to_bm25():
    from qa.glossary import expand, formal_words

    assert "deprived nationality arbitrarily" in formal_words("Can the government just strip me of my citizenship?")
    assert formal_words("Does the ICCPR protect against double jeopardy?") == ["tried punished again finally convicted acquitted"]
    assert "deprived nationality arbitrarily" in formal_words("my citizenship - can they strip it?")  # either order
    # the words of a phrase must stand near each other, and all of them be there
    assert "deprived nationality arbitrarily" not in formal_words(
        "Can a strip search be ordered by the police, and what happens to the person's papers, residence or citizenship?")
    assert formal_words("Who founded the foundation?") == []
    assert expand("Who founded the foundation?") == "Who founded the foundation?"


def test_the_glossary_file_is_well_formed():
    from qa.glossary import GLOSSARY_FILE

    phrases = []
    for line in GLOSSARY_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            phrase, formal = line.split("\t")  # exactly one tab
            assert phrase.strip() and formal.strip() and phrase == phrase.lower(), line
            assert phrase.strip() != formal.strip(), line
            phrases.append(phrase.strip())
    assert len(phrases) == len(set(phrases)) >= 150


def test_a_question_in_everyday_words_finds_the_formal_passage_by_bm25(settings, docs_dir, fake_embedder):
    first = _first_documents(settings, docs_dir, fake_embedder, {
        "a.md": "# Article 15\n\nNo one shall be arbitrarily deprived of his nationality.",
        "b.md": "# Other\n\nThe government may strip the assets of a company that breaks the law.",
    }, [("can they strip my citizenship", "bm25")])
    assert first == ["a.md"]


def test_weights_beside_e5_depend_on_whether_the_candidates_mix_languages():
    """Candidates mostly in English: the English-tuned weights (BM25 counts fully); mostly in other languages:
    the multilingual ones, where an English question's BM25 rests on the few English chunks."""
    from qa import fusion
    from qa.retrieval import Signals

    lists = dict(dense=[(i, 0.5) for i in range(4)], lexical=[(1, 2.0)], sentence=[(1, 0.4)], extra={"e5": [(1, 0.8)]})
    english = fusion.weights_for(Signals(**lists))
    some_foreign = fusion.weights_for(Signals(**lists, foreign=frozenset({1, 2})))  # half: still English
    mostly_foreign = fusion.weights_for(Signals(**lists, foreign=frozenset({1, 2, 3})))
    assert english == some_foreign == (*fusion.WEIGHTS_BESIDE["e5"], fusion.EXTRA_WEIGHTS["e5"])
    assert mostly_foreign == (*fusion.WEIGHTS_BESIDE_MULTILINGUAL["e5"], fusion.EXTRA_WEIGHTS["e5"])
    assert english[1] > mostly_foreign[1]  # BM25
