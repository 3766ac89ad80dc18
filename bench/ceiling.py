"""How far the product's signals can go: per-list ranking, an oracle over the lists, and fused candidate recall.

    .venv/bin/python bench/ceiling.py --split dev|test      # natural sets (needs bench/quality.py's indexes)
    .venv/bin/python bench/ceiling.py --split test --multilingual   # own-language questions, UDHR in six languages

For each answerable question of the split, the product's ``Searcher`` computes the signals once (dense MiniLM,
BM25, best sentence, e5 cosine; every candidate scored in each list, ~100–300 chunks), as ``bench/tune.py`` does.
Printed, at the chunk level (before neighbours are joined and copies dropped, so a little below the product's
hit@k), each as a share of the split's answerable questions:

* each list alone: a passage that answers ranked first / in the first three when the candidates are ordered by
  that list's score;
* ``any list first``: an oracle that picks, for each question, a list that ranks an answer first: the most a
  per-question choice of list could reach;
* the current fusion, and the best fixed weights of ``bench/tune.py``'s grid *chosen on this split itself* (on
  test, the most any fixed weighting of these lists could reach there; never a tuning step);
* fused recall: an answer among the first 3, 5, 10, 30 fused candidates, and among all of them: what a perfect
  re-ranker of that many candidates could reach.

``--multilingual``: the questions of ``tests/data/multilingual.jsonl`` asked in the document's own language (not
English), each asked of its document as ``bench/multilingual.py`` does (its index), per language.

Writes bench/results/ceiling-<split>[-multilingual].json. Diagnosis only: nothing here is used to choose the product's settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import save_result  # noqa: E402
from bench.tune import collect, grid_points, score  # noqa: E402
from qa import fusion  # noqa: E402
from qa.encoders import encoders_for  # noqa: E402
from qa.retrieval import Searcher  # noqa: E402
from qa.settings import load_settings  # noqa: E402

RECALL_DEPTHS = (3, 5, 10, 30)


def rank_of_answer(ranked_ids, good) -> int | None:
    return next((i + 1 for i, chunk_id in enumerate(ranked_ids) if chunk_id in good), None)


def list_ranks(signals, good) -> dict:
    """{list name: rank of the first answering chunk when the candidates are ordered by that list alone}."""
    named = {"dense": signals.dense, "bm25": signals.lexical}
    if signals.sentence:
        named["sentence"] = signals.sentence
    named.update({key: signals.pooled.get(key, scores) for key, scores in signals.extra.items()})
    return {name: rank_of_answer([c for c, _ in sorted(scores, key=lambda cs: (-cs[1], cs[0]))], good)
            for name, scores in named.items()}


def figures(items, weights) -> dict:
    """Per-list hit@1/hit@3, the oracle over lists, the fusion with ``weights`` and its recall at depth."""
    n = max(len(items), 1)
    per_list: dict = {}
    oracle = fused1 = fused3 = 0
    recall = dict.fromkeys((*RECALL_DEPTHS, "all"), 0)
    for signals, good in items:
        ranks = list_ranks(signals, good)
        for name, rank in ranks.items():
            row = per_list.setdefault(name, [0, 0])
            row[0] += rank == 1
            row[1] += rank is not None and rank <= 3
        oracle += any(rank == 1 for rank in ranks.values())
        rank = rank_of_answer([hit.chunk_id for hit in Searcher.fuse(signals, weights)], good)
        fused1 += rank == 1
        fused3 += rank is not None and rank <= 3
        for depth in RECALL_DEPTHS:
            recall[depth] += rank is not None and rank <= depth
        recall["all"] += rank is not None
    return {
        "questions": len(items),
        "lists": {name: {"hit@1": round(a / n, 3), "hit@3": round(b / n, 3)} for name, (a, b) in per_list.items()},
        "any_list_first": round(oracle / n, 3),
        "fused": {"weights": list(weights), "hit@1": round(fused1 / n, 3), "hit@3": round(fused3 / n, 3)},
        "fused_recall": {str(depth): round(count / n, 3) for depth, count in recall.items()},
    }


def best_fixed_weights(items) -> tuple:
    """The grid point of ``bench/tune.py`` with the most hit@1 + hit@3 on ``items`` (chunk level)."""
    best, best_key = None, None
    for weights in grid_points(bool(items and items[0][0].extra)):
        result = score(items, weights)
        key = (result["hit@1"] + result["hit@3"], result["hit@1"])
        if best_key is None or key > best_key:
            best, best_key = weights, key
    return best


def collect_own_language(split: str, settings, encoders) -> dict:
    """{language: [(signals, gold chunk ids)]} for the multilingual questions asked in their document's language."""
    from bench import multilingual
    from qa.evaluation import load_questions
    from qa.retrieval import expand_acronyms
    from qa.store import Store

    rows = [r for r in load_questions(multilingual.QUESTIONS) if r["split"] == split and r["q_lang"] == r["lang"] != "en"]
    by_language: dict = {}
    with Store.open(multilingual.build_index(settings, encoders, mixed=False), settings) as store, store.snapshot() as snap:
        searcher = Searcher(snap, encoders)
        for row in rows:
            query = expand_acronyms(" ".join(row["q"].split()))
            allowed = snap.chunk_ids_for_docs([row["doc"]])
            signals = searcher.signals(query, searcher.query_vectors(query), allowed=allowed)
            candidates = snap.chunks([c for c, _ in signals.dense])
            good = {c for c, chunk in candidates.items() if multilingual.contains(chunk.text, row["gold"])}
            by_language.setdefault(row["lang"], []).append((signals, good))
    return by_language


def report(label: str, items) -> dict:
    current = figures(items, fusion.weights_for(items[0][0]))
    hindsight = figures(items, best_fixed_weights(items))
    print(f"{current['questions']} answerable {label} questions (chunk level, before joining neighbours)")
    for name, row in current["lists"].items():
        print(f"  {name:>9} alone: hit@1 {row['hit@1']:.3f}  hit@3 {row['hit@3']:.3f}")
    print(f"  any list first (oracle over the lists): {current['any_list_first']:.3f}")
    for label, result in (("current fusion", current), ("best grid weights on these questions themselves", hindsight)):
        fused = result["fused"]
        print(f"  {label} {tuple(fused['weights'])}: hit@1 {fused['hit@1']:.3f}  hit@3 {fused['hit@3']:.3f}")
    recall = current["fused_recall"]
    print("  an answer among the first N fused candidates: "
          + ", ".join(f"N={depth} {value:.3f}" for depth, value in recall.items()))
    return {"current": current, "best_on_split": hindsight}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--multilingual", action="store_true", help="own-language questions on the UDHR in six languages")
    args = parser.parse_args(argv)
    settings = load_settings()
    encoders = encoders_for(settings)
    if args.multilingual:
        groups = collect_own_language(args.split, settings, encoders)
        result = {lang: report(f"{args.split} {lang}->{lang}", items) for lang, items in sorted(groups.items())}
        save_result(f"ceiling-{args.split}-multilingual", result)
        return 0
    items = collect(args.split, settings, encoders)
    if not items:
        raise SystemExit("no answerable questions in this split")
    save_result(f"ceiling-{args.split}", report(args.split, items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
