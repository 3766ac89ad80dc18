"""Fusion of ranked (chunk id, score) lists: z-score convex combination, with an optional sentence signal.

Recipe (what ``qa.retrieval`` should do for hybrid search):

1. ``dense``   = top ``CANDIDATES`` chunks by cosine (query vector · chunk vector);
   ``lexical`` = top ``CANDIDATES`` chunks by BM25 (``qa.lexical.LexicalIndex.search``).
2. *Fill in* the missing scores so that every candidate has every signal: the cosine of
   lexical-only candidates (their chunk vectors, e.g. FAISS ``reconstruct``) and the BM25 score of
   dense-only candidates (``LexicalIndex.scores_for``). Worth +0.005 nDCG@10 on train.
3. ``sentence`` = for each candidate chunk, the best cosine between the query vector and the
   vectors of the chunk's sentences, each encoded as ``title + "\n" + sentence``
   (``max_sentence_scores``). Needs those vectors stored at indexing time. Worth +0.013.
4. ``fuse(dense, lexical, sentence)``: each list becomes z-scores over its own entries, an id
   missing from a list gets that list's lowest z-score, and the weighted sum ranks the union.
5. A document's score is its best chunk's score (``best_per_group``).

Tuning (session 5, sentence vectors pooled from the chunk's own forward pass): dense 0.5, lexical 0.5,
sentence 1.0, the best rounded point on the *dev* split of the natural question sets (``bench/tune.py``; 103
answerable questions about seeds/ and the UN documents, written by someone outside the team, never the test
split) that also gains on SciFact *train*: dev hit@1 0.709 → 0.728 and SciFact train nDCG@10 0.7404 → 0.7464
against session 4's dense 1.0, lexical 0.5, sentence 1.3 (more BM25 helps SciFact, dev wants less: 0.5, 1, 1
gives train 0.7483 but dev 0.641). With e5's list (``WEIGHTS_BESIDE``, session 9): dense 0.3, lexical 1,
sentence 0.6, e5 2; among candidates in several languages (``WEIGHTS_BESIDE_MULTILINGUAL``) dense 0.5, lexical
0.5, sentence 2, e5 2. In an index with documents in other languages, the dense and sentence lists of the
English model leave those chunks out of their z-scores (``combine``'s ``blind``; the multilingual encoder's
z-score stands in).

Session 4 (sentences encoded on their own): dense 1.0, lexical 0.5, sentence 1.3 — dev hit@1 0.621 → 0.699,
hit@3 0.854 → 0.864 against the SciFact-tuned weights (0.3, 1.0, 1.3); test 0.636 → 0.667 and 0.798 → 0.828.

Earlier tuning (sessions 1–3, on the 809 SciFact train queries with ``bench/scifact.py``'s own 1,200-character
chunker, since replaced by the product's pipeline): train BM25 0.697, dense 0.668, RRF 0.718, two-list
z-score hybrid 0.735, this recipe 0.752; test BM25 0.678, dense 0.645, RRF 0.711, two-list 0.727, recipe 0.739.
The findings below come from then.

* z-scores beat min-max (−0.002), median/MAD (−0.003), max-normalisation and weighted RRF
  (k = 5…60: −0.011…−0.018). Depth 100 ≈ 200 (±0.001); 50 loses 0.003.
* Weights: best rounded point of a grid (dense 0…1.2 × sentence 0.2…2.6, lexical fixed at 1);
  the optimum is broad (0.750–0.754 for dense 0.1–0.6, sentence 1.0–1.4). With two lists only,
  equal weights are best.
* Sentence vectors: ``title + sentence`` 0.753 vs the bare sentence 0.747; adding both, windows of
  2–3 sentences, soft-max (log-sum-exp) pooling or max − mean pooling: no further gain.
* Tried and dropped (no gain or a loss on train): RM3 query expansion from BM25 or hybrid feedback
  (−0.002…−0.03), dense Rocchio from dense, hybrid or best-sentence feedback (≤ +0.003),
  sentence-level BM25 (with or without title), BM25 bigrams, a title-only vector, whole-document
  or mean-of-chunk vectors, query-adaptive weights, a second query encoding (lower-cased / without
  stopwords), adding the sentence-search top 100 to the candidates, BM25 title weighting (the title
  repeated once or twice more: −0.003/−0.005 with 800-character chunks).
* Also no gain (``bench/ablations.py scifact``, 800-character units, train 0.744 for this recipe):
  a whole-document BM25 score as a fourth list (+0.003 at weight 0.2 on train, −0.002 on test, and a
  loss with 1,200-character chunks), the mean fused score of the document's other candidates,
  score regularisation by the 5 nearest units of other documents (−0.002…−0.007), a logistic
  regression over ten features trained out of fold (0.7441), query vectors pooled with idf weights
  (+0.002 on train, no better on test), and BM25 tokens of one character or hyphen compounds
  (−0.003 / −0.013 with 1,200-character chunks). On the natural questions (``bench/ablations.py
  questions``) other weights, question words dropped from the BM25 query, and a penalty on non-prose
  passages (address blocks, tables of contents) move hit@1 by at most one question in 40.
* Scoring sentences of only the top M two-list candidates (to save time) costs −0.001 (M = 100),
  −0.003 (50), −0.005 (20–30) on train with 800-character chunks, so every candidate is scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

CANDIDATES = 100
EXTRA_CANDIDATES = 100  # the top candidates a second encoder adds to the union
DENSE_WEIGHT = 0.5
LEXICAL_WEIGHT = 0.5
SENTENCE_WEIGHT = 1.0
WEIGHTS = (DENSE_WEIGHT, LEXICAL_WEIGHT, SENTENCE_WEIGHT)  # of fuse's three lists
# Without the sentence signal (two lists only) equal weights are best.
TWO_LIST_WEIGHTS = (1.0, 1.0)
RRF_K = 60
# Weight of the cosine list of each extra encoder of the index (by encoder key), and the weights of the
# three lists beside it: with e5's list, dense counts for less and the best sentence for more (English dev
# grid: hit@1 0.718 → 0.738, hit@3 0.874 → 0.883; BM25 0.5 rather than 0.25 costs one English dev question
# at hit@3 and gains one at hit@1 on the UDHR in five languages, where BM25 reads each language).
# Session 9 (e5 the default; BM25 now reads the glossary's formal words): re-tuned on the same dev grid
# (bench/tune.py, ranking alone: hit@1 0.748 → 0.777, hit@3 0.884 → 0.922) among the points that also gain on
# SciFact train with e5 (bench/scifact.py --split train --extra e5 --weights …: 0.7474 → 0.7534).
# When most candidates are in a language the primary model does not read (``Signals.foreign``), the weights
# stay those tuned on the UDHR in six languages: there BM25 reads each chunk in its own language, so an English
# question's BM25 z-scores rest on the few English chunks (the English copyright lines heading the French UDHR
# took first place for 8 of 20 English dev questions at BM25 1.0; e5 must decide). An English question on an
# index that also holds other languages mostly has English candidates, and keeps the English weights.
FOREIGN_SHARE = 0.5
EXTRA_WEIGHTS: dict = {"e5": 2.0}
WEIGHTS_BESIDE: dict = {"e5": (0.3, 1.0, 0.6)}
WEIGHTS_BESIDE_MULTILINGUAL: dict = {"e5": (0.5, 0.5, 2.0)}

Ranked = list[tuple[int, float]]


def zscores(scores: Sequence[float]) -> np.ndarray:
    """``(s - mean) / std`` (population std); all zeros when the scores are constant or there is one."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return values
    spread = values.std()
    if spread <= 1e-12:
        return np.zeros_like(values)
    return (values - values.mean()) / spread


def combine(ranked_lists: Sequence[Ranked], weights: Sequence[float], blind: Sequence | None = None,
            stand_in: int | None = None) -> Ranked:
    """Weighted sum of per-list z-scores over the union of ids, best first (ties: smaller id first).

    An id absent from a list gets that list's lowest z-score; an empty list contributes nothing.
    ``blind[i]``, if given, holds ids that list ``i`` cannot judge (chunks in a language its model does
    not read): they are left out of that list's z-scores and get, in it, their z-score in list ``stand_in``
    (0, the list's mean, without one).
    """
    if len(ranked_lists) != len(weights):
        raise ValueError("one weight per list")
    blind = list(blind) if blind is not None else [None] * len(ranked_lists)
    columns = []
    for r, w, unjudged in zip(ranked_lists, weights, blind):
        if unjudged:
            r = [(c, v) for c, v in r if c not in unjudged]
        if r or unjudged:  # a list that judges no candidate still counts, through the stand-in's z-scores
            columns.append((np.fromiter((c for c, _ in r), np.int64, len(r)), np.fromiter((v for _, v in r), np.float64, len(r)),
                            w, unjudged))
    every = [list_ids for list_ids, _, _, _ in columns] + [np.fromiter(u, np.int64) for u in blind if u]
    if not columns:
        return []
    ids = np.unique(np.concatenate(every))
    total = np.zeros(len(ids))
    substitute = np.zeros(len(ids))
    if stand_in is not None and ranked_lists[stand_in] and not blind[stand_in]:
        stand_ids = np.fromiter((c for c, _ in ranked_lists[stand_in]), np.int64)
        z = zscores([v for _, v in ranked_lists[stand_in]])
        substitute[:] = z.min()
        substitute[np.searchsorted(ids, stand_ids)] = z
    for list_ids, scores, weight, unjudged in columns:
        z = zscores(scores)
        column = np.full(len(ids), z.min() if z.size else 0.0)
        if unjudged:
            where = np.isin(ids, np.fromiter(unjudged, np.int64))
            column[where] = substitute[where]
        column[np.searchsorted(ids, list_ids)] = z
        total += weight * column
    order = np.lexsort((ids, -total))
    return [(int(ids[i]), float(total[i])) for i in order]


def fill_in(dense: Ranked, lexical: Ranked, cosines_of, bm25_of, also=()) -> tuple[Ranked, Ranked]:
    """Step 2 of the recipe: give every candidate of either list (and the ids in ``also``) a score in both.

    ``cosines_of(ids)`` returns the cosines of candidates missing from ``dense`` (an array in the order
    given), ``bm25_of(ids)`` a ``{chunk id: BM25 score}`` of those missing from ``lexical`` (a missing id scores 0).
    """
    dense_ids = {chunk_id for chunk_id, _ in dense}
    lexical_ids = {chunk_id for chunk_id, _ in lexical}
    every = dense_ids | lexical_ids | set(also)
    need_cosine, need_bm25 = sorted(every - dense_ids), sorted(every - lexical_ids)
    filled_dense = list(dense)
    if need_cosine:
        filled_dense += [(chunk_id, float(c)) for chunk_id, c in zip(need_cosine, cosines_of(need_cosine))]
    filled_lexical = list(lexical)
    if need_bm25:
        scored = bm25_of(need_bm25)
        filled_lexical += [(chunk_id, float(scored.get(chunk_id, 0.0))) for chunk_id in need_bm25]
    return filled_dense, filled_lexical


def fuse(dense: Ranked, lexical: Ranked, sentence: Ranked | None = None) -> Ranked:
    """The tuned hybrid: z-score fusion of dense, BM25 and (if given) best-sentence scores."""
    if sentence is None:
        return combine([dense, lexical], TWO_LIST_WEIGHTS)
    return combine([dense, lexical, sentence], WEIGHTS)


def weights_for(signals) -> tuple:
    """The weights of ``combine`` for the lists of a ``retrieval.Signals`` (in ``Signals.lists`` order)."""
    base = WEIGHTS if signals.sentence else TWO_LIST_WEIGHTS
    if signals.sentence and len(signals.extra) == 1 and next(iter(signals.extra)) in WEIGHTS_BESIDE:
        mostly_foreign = len(signals.foreign) > FOREIGN_SHARE * max(len(signals.dense), 1)
        base = (WEIGHTS_BESIDE_MULTILINGUAL if mostly_foreign else WEIGHTS_BESIDE)[next(iter(signals.extra))]
    return tuple(base) + tuple(EXTRA_WEIGHTS.get(key, 1.0) for key in signals.extra)


def rrf(ranked_lists: Sequence[Ranked], k: int = RRF_K) -> Ranked:
    """Reciprocal-rank fusion ``Σ 1 / (k + rank)`` (1-based ranks), best first (ties: smaller id first)."""
    scores: dict[int, float] = {}
    for ranked in ranked_lists:
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def max_sentence_scores(
    query_vector: np.ndarray, sentence_vectors: np.ndarray, sentence_chunk_ids: Sequence[int]
) -> Ranked:
    """For each chunk, the best dot product between the query and one of its sentence vectors, best first.

    ``sentence_vectors[i]`` belongs to chunk ``sentence_chunk_ids[i]``; vectors are L2-normalised.
    """
    owners = np.asarray(sentence_chunk_ids, dtype=np.int64)
    if owners.size == 0:
        return []
    sims = np.asarray(sentence_vectors, dtype=np.float32) @ np.asarray(query_vector, dtype=np.float32).ravel()
    by_owner = np.argsort(owners, kind="stable")
    owners, sims = owners[by_owner], sims[by_owner]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    chunk_ids, best = owners[starts], np.maximum.reduceat(sims, starts)
    order = np.lexsort((chunk_ids, -best))
    return [(int(chunk_ids[i]), float(best[i])) for i in order]


def best_per_group(ranked: Iterable[tuple[int, float]], group_of) -> list[tuple[object, float]]:
    """Collapse chunk scores to one score per group (e.g. document): the best chunk's, best first."""
    best: dict[object, float] = {}
    for chunk_id, score in ranked:
        group = group_of(chunk_id)
        if group not in best or score > best[group]:
            best[group] = score
    return sorted(best.items(), key=lambda kv: -kv[1])
