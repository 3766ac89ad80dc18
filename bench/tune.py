"""Fusion weights tuned on the dev split of the natural question sets (never on test).

    .venv/bin/python bench/tune.py                         # grid over the weights of the index's lists
    QA_SECOND_ENCODER=intfloat/multilingual-e5-small .venv/bin/python bench/tune.py

Computes each dev question's signals once with the product's ``Searcher`` (over the indexes that
bench/quality.py keeps in /tmp/verbatim-quality/), then ranks the candidates with every weight vector of
a grid (``Searcher.fuse``) and scores hit@1, hit@3 and MRR against the gold passages. Prints the best
points and the current weights' figures; writes bench/results/tune.json.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import save_result  # noqa: E402
from bench.quality import SETS, corpus_index, in_split  # noqa: E402
from qa import fusion  # noqa: E402
from qa.encoders import encoders_for  # noqa: E402
from qa.evaluation import answers, is_unanswerable, load_questions  # noqa: E402
from qa.followup import contextualize  # noqa: E402
from qa.retrieval import Searcher, expand_acronyms  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.store import Store  # noqa: E402

GRID = {
    "dense": (0.0, 0.3, 0.6, 1.0),
    "lexical": (0.5, 1.0),
    "sentence": (0.6, 1.0, 1.3, 1.8),
    "extra": (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
}


def collect(split: str, settings, encoders) -> list:
    """``(signals, gold rows of candidates…)`` per answerable question of the split."""
    items = []
    for name, (corpus, path) in SETS["natural"].items():
        rows = [r for r in load_questions(path) if in_split(r, split) and not is_unanswerable(r)]
        with Store.open(corpus_index(corpus, settings, encoders), settings) as store, store.snapshot() as snap:
            searcher = Searcher(snap, encoders)
            for row in rows:
                query = expand_acronyms(contextualize(" ".join(row["q"].split()), None))
                signals = searcher.signals(query, searcher.query_vectors(query))
                candidates = snap.chunks([c for c, _ in signals.dense])
                good = {c for c, chunk in candidates.items() if answers(chunk, row)}
                items.append((signals, good))
    return items


def grid_points(extra: bool):
    """The weight vectors of ``GRID``: (dense, lexical, sentence[, extra encoder])."""
    for d, l, s, e in itertools.product(GRID["dense"], GRID["lexical"], GRID["sentence"], GRID["extra"] if extra else (None,)):
        yield (d, l, s) + ((e,) if extra else ())


def score(items, weights) -> dict:
    hit1 = hit3 = rr = 0.0
    for signals, good in items:
        ranked = [h.chunk_id for h in Searcher.fuse(signals, weights)[:5]]
        rank = next((i + 1 for i, c in enumerate(ranked) if c in good), None)
        hit1 += rank == 1
        hit3 += rank is not None and rank <= 3
        rr += 1 / rank if rank else 0
    n = max(len(items), 1)
    return {"hit@1": round(hit1 / n, 4), "hit@3": round(hit3 / n, 4), "mrr": round(rr / n, 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev",), default="dev")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    settings = load_settings()
    encoders = encoders_for(settings)
    items = collect(args.split, settings, encoders)
    extra = bool(items and items[0][0].extra)
    current = fusion.weights_for(items[0][0]) if items else ()
    rows = []
    for weights in grid_points(extra):
        rows.append({"weights": weights, **score(items, weights)})
    rows.sort(key=lambda r: (-(r["hit@1"] + r["hit@3"]), -r["mrr"]))
    result = {"questions": len(items), "current": {"weights": current, **score(items, current)}, "best": rows[: args.top]}
    print(f"{len(items)} answerable dev questions; current weights {current}: {result['current']}")
    for row in rows[: args.top]:
        print(f"  {row['weights']}: hit@1 {row['hit@1']:.3f} hit@3 {row['hit@3']:.3f} MRR {row['mrr']:.3f}")
    save_result("tune", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
