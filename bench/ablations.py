"""Ablations behind the hybrid recipe: ideas tried for the retrieval-quality targets, against the recipe.

    .venv/bin/python bench/ablations.py scifact [--split train] [--max-chars 800]
    .venv/bin/python bench/ablations.py questions

``scifact`` searches an in-memory snapshot of the corpus built with the product's pipeline
(``bench/memory.py``: the product's loader, chunker with ``--max-chars`` as ``QA_CHUNK_MAX_CHARS``,
sentence units and encoder) with ``qa.retrieval.Searcher``; a document scores as its best chunk
(``qa.evaluation.doc_run``). It prints nDCG@10 on the split for the recipe (``Searcher.fuse`` of
``Searcher.signals``: dense, BM25 and best-sentence scores over the filled-in top-100 union) and for
each variant computed from the same signals:

* ``doc-bm25 w``: a fourth list, the BM25 score of the chunk's whole document (title + text), weight w;
* ``doc-context l``: plus l × the mean fused score of the document's candidate chunks;
* ``neighbours g``: plus g × the mean fused score of the chunk's 5 nearest chunks of other documents
  (score regularisation by the cluster hypothesis);
* ``learned``: logistic regression over more features (the three z-scores, the second-best sentence,
  the document BM25, ranks, raw scores), trained and scored out of fold (5 folds by query), beside the
  recipe on the same folds.

Dropped when the bench moved onto the product's ``Searcher`` (its own chunker, searcher and model
loading are gone): ``idf-pool a`` (the query vector pooled from its token vectors weighted by idf^a,
alone and with ``doc-bm25 0.2``), which needs the token embeddings and tokenizer of the model that
``qa.embedding.Embedder`` keeps private. Its result (+0.002 on train, no better on test) is recorded
in README.md and the ``qa/fusion.py`` docstring.

``questions`` indexes seeds/ alone, and seeds/ with the UN documents, with the real model, and
prints hit@1 / hit@3 on the answerable questions of tests/data/seeds_questions.jsonl and
un_questions.jsonl for a grid of fusion weights, for question words dropped from the BM25 query, and
for a penalty on non-prose chunks (address blocks, tables of contents, title lists); the lists are
``Searcher.signals`` over the index's ``store.snapshot()``.

Tuning happens on SciFact train only; run ``--split test`` only to confirm. Writes bench/results/ablations.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import memory  # noqa: E402
from bench import scifact as sf  # noqa: E402
from qa import fusion, vectors  # noqa: E402
from qa.evaluation import load_beir  # noqa: E402
from qa.lexical import LexicalIndex  # noqa: E402
from qa.retrieval import Searcher, expand_acronyms  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.snapshot import PRIMARY  # noqa: E402

RESULTS = REPO / "bench" / "results" / "ablations.json"
QUESTION_FILES = {"seeds": REPO / "tests" / "data" / "seeds_questions.jsonl", "un": REPO / "tests" / "data" / "un_questions.jsonl"}
NEIGHBOURS = 5
# Words that make a sentence a question but say nothing about its subject (for the stop-word variant).
QUESTION_WORDS = frozenset(
    "who whom whose what when where why how which does do did is are was were been be has have had can could "
    "would should shall may might must her his him he she its they them their there any about say said tell me".split()
)


# ---------------------------------------------------------------- SciFact


def _zmap(ranked) -> dict[int, float]:
    return dict(zip((i for i, _ in ranked), fusion.zscores([s for _, s in ranked])))


def _pairs(hits) -> list[tuple[int, float]]:
    return [(hit.chunk_id, hit.score) for hit in hits]


def _second_best(snapshot, vector, chunk_ids) -> list[tuple[int, float]]:
    """Each chunk with the cosine of its second-best sentence (its best, for a one-sentence chunk)."""
    stored = snapshot.sentence_vectors(chunk_ids)
    out = []
    for chunk_id in chunk_ids:
        sims = np.sort(stored[chunk_id][1] @ vector.ravel()) if chunk_id in stored else np.zeros(0)
        out.append((chunk_id, float(sims[-2] if len(sims) > 1 else (sims[-1] if len(sims) else 0.0))))
    return out


def _document_bm25(whole_docs, doc_row: dict, chunk_doc: dict, query: str, chunk_ids) -> list[tuple[int, float]]:
    """Each chunk with the BM25 score of its whole document."""
    scores = dict(whole_docs.scores_for(query, sorted({doc_row[chunk_doc[i]] for i in chunk_ids})))
    return [(i, scores.get(doc_row[chunk_doc[i]], 0.0)) for i in chunk_ids]


def _add(ranked, bonus: dict[int, float], weight: float):
    return sorted(((i, s + weight * bonus.get(i, 0.0)) for i, s in ranked), key=lambda x: (-x[1], x[0]))


def _nearest_other_chunks(snapshot, chunk_doc: dict, k: int, block: int = 2048) -> dict[int, np.ndarray]:
    """For each chunk id, the ids of its ``k`` most similar chunks that belong to other documents."""
    ids = snapshot.generation.ids
    matrix = vectors.reconstruct(snapshot.dense_index(), ids)
    docs = np.array([chunk_doc[int(i)] for i in ids])
    out = {}
    for start in range(0, len(ids), block):
        sims = matrix[start : start + block] @ matrix.T
        sims[docs[start : start + block, None] == docs[None, :]] = -np.inf
        nearest = np.argpartition(-sims, k, axis=1)[:, :k]
        out.update({int(ids[start + row]): ids[nearest[row]] for row in range(len(nearest))})
    return out


def run_scifact(args) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    sf.single_threaded()
    corpus, queries, qrels = load_beir(args.data, args.split)
    corpus, qrels = memory.select(corpus, qrels, args.limit, args.corpus_limit)
    query_ids = sorted(qrels)
    settings = load_settings({}).with_(chunk_max_chars=args.max_chars).validate()
    encoder = sf.primary_encoder()
    snapshot, chunk_doc = memory.build_snapshot(corpus, {PRIMARY: encoder}, settings, args.cache)
    searcher = Searcher(snapshot, encoder)
    doc_ids = sorted(set(chunk_doc.values()))
    doc_row = {d: row for row, d in enumerate(doc_ids)}
    whole_docs = LexicalIndex.build([f"{corpus[d][0]} {corpus[d][1]}" for d in doc_ids], list(range(len(doc_ids))))
    neighbours = _nearest_other_chunks(snapshot, chunk_doc, NEIGHBOURS)

    def ndcg(runs, ids):
        return round(memory.evaluate({q: runs[q] for q in ids}, {q: qrels[q] for q in ids})["ndcg@10"], 4)

    t0 = time.perf_counter()
    variants: dict[str, dict] = {}

    def record(name, query_id, ranked):
        variants.setdefault(name, {})[query_id] = memory.doc_run(ranked, chunk_doc)

    feature_rows, labels, groups, owners = [], [], [], []
    for row, query_id in enumerate(query_ids):
        query = expand_acronyms(queries[query_id])  # as Searcher.search does
        vector = encoder.encode_query(query)
        signals = searcher.signals(query, {PRIMARY: vector})
        dense, lexical, sentence = signals.dense, signals.lexical, signals.sentence
        base = _pairs(Searcher.fuse(signals))
        record("recipe", query_id, base)
        ids = [i for i, _ in dense]
        doc_bm25 = _document_bm25(whole_docs, doc_row, chunk_doc, query, ids)
        for w in (0.2, 0.5, 1.0):
            record(f"doc-bm25 {w}", query_id, fusion.combine([*signals.lists(), doc_bm25], (*fusion.weights_for(signals), w)))
        fused = dict(base)
        by_doc: dict[str, list[float]] = {}
        for i, s in base:
            by_doc.setdefault(chunk_doc[i], []).append(s)
        doc_mean = {i: float(np.mean(by_doc[chunk_doc[i]])) for i in fused}
        floor = min(fused.values())
        neighbour_mean = {i: float(np.mean([fused.get(int(n), floor) for n in neighbours[i]])) for i in fused}
        for w in (0.1, 0.3):
            record(f"doc-context {w}", query_id, _add(base, doc_mean, w))
            record(f"neighbours {w}", query_id, _add(base, neighbour_mean, w))
        # features of the learned fusion
        zd, zl, zs = _zmap(dense), _zmap(lexical), _zmap(sentence)
        z2, zdoc = _zmap(_second_best(snapshot, vector, ids)), _zmap(doc_bm25)
        lists = {"d": dense, "l": lexical, "s": sentence}
        rank_of = {n: {i: r for r, (i, _) in enumerate(sorted(lst, key=lambda x: (-x[1], x[0])), 1)} for n, lst in lists.items()}
        raw = {n: dict(lst) for n, lst in lists.items()}
        relevant = {d for d, s in qrels[query_id].items() if s > 0}
        for i in ids:
            feature_rows.append([
                zd[i], zl[i], zs.get(i, 0.0), z2[i], zdoc[i],
                *(1 / (10 + rank_of[n].get(i, len(ids))) for n in "dls"), raw["d"][i], raw["s"].get(i, 0.0),
            ])
            labels.append(chunk_doc[i] in relevant)
            groups.append(row)
            owners.append((query_id, i))
    candidates_s = time.perf_counter() - t0

    X, y, groups = np.asarray(feature_rows), np.asarray(labels), np.asarray(groups)
    learned: dict[str, list] = {}
    folds = min(5, len(query_ids))
    for train, test in GroupKFold(folds).split(X, y, groups):
        if y[train].all() or not y[train].any():
            continue
        model_ = LogisticRegression(C=1.0, max_iter=2000).fit(X[train], y[train])
        for (query_id, chunk_id), score in zip((owners[j] for j in test), model_.decision_function(X[test])):
            learned.setdefault(query_id, []).append((chunk_id, float(score)))
    variants["learned (out of fold)"] = {
        q: memory.doc_run(sorted(r, key=lambda x: (-x[1], x[0])), chunk_doc) for q, r in learned.items()
    }

    table = {name: ndcg(runs, sorted(runs)) for name, runs in variants.items()}
    table["recipe on the learned folds"] = ndcg(variants["recipe"], sorted(variants["learned (out of fold)"]))
    return {
        "split": args.split,
        "queries": len(query_ids),
        "units": len(chunk_doc),
        "max_chars": args.max_chars,
        "candidate_pass_s": round(candidates_s, 1),
        "ndcg@10": table,
    }


# ---------------------------------------------------------------- natural questions

_END = (".", "?", "!", ":", ";", '"', "”", "’", ")", ",")
_BULLET = re.compile(r"^([•\-–*▪●◦]|\(?[a-z0-9]{1,3}[.)])\s")
_LEADER = re.compile(r"(\.\s?){4,}|…|_{4,}")


def non_prose_share(text: str) -> float:
    """Share of a unit's characters on lines that are not prose: short lines without closing
    punctuation (address blocks, headings, title lists) or with leader dots (tables of contents)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    total = sum(len(line) for line in lines) or 1
    return sum(
        len(line)
        for line in lines
        if _LEADER.search(line) or (len(line) < 100 and not line.endswith(_END) and not _BULLET.match(line))
    ) / total


@contextlib.contextmanager
def _question_words_dropped():
    from qa import lexical

    original = lexical.tokenize_query
    lexical.tokenize_query = lambda q: original(" ".join(w for w in lexical.TOKEN_PATTERN.findall(q.lower()) if w not in QUESTION_WORDS))
    try:
        yield
    finally:
        lexical.tokenize_query = original


def _question_signals(store, embedder, questions):
    """Per question: the lists hybrid search fuses (``Searcher.signals`` over one snapshot of the index, the
    question as ``Searcher.search`` reads it), the candidates that contain a gold answer, and each
    candidate's non-prose share."""
    from qa.evaluation import _contains

    rows = []
    with store.snapshot() as snap:
        searcher = Searcher(snap, embedder)
        for question in questions:
            text = expand_acronyms(" ".join(question["q"].split()))
            signals = searcher.signals(text, searcher.query_vectors(text))
            chunks = snap.chunks([i for i, _ in signals.dense])
            good = {i for i, c in chunks.items() if _contains(c.text, question["gold"])}
            prose = {i: non_prose_share(c.text) for i, c in chunks.items()}
            rows.append((signals.lists(), good, prose))
    return rows


def _hits(rows, weights, penalty: float = 0.0) -> tuple[int, int]:
    hit1 = hit3 = 0
    for lists, good, non_prose in rows:
        ranked = fusion.combine(list(lists), weights)
        if penalty:
            ranked = _add(ranked, non_prose, -penalty)
        rank = next((r for r, (i, _) in enumerate(ranked, 1) if i in good), None)
        hit1 += rank == 1
        hit3 += rank is not None and rank <= 3
    return hit1, hit3


def run_questions(args) -> dict:
    from qa.encoders import embedder_for
    from qa.evaluation import load_questions
    from qa.indexing import update_index
    from qa.store import Store
    from bench.corpus import copy_seeds, copy_un_docs

    settings = load_settings()
    embedder = embedder_for(settings)
    questions = {name: [q for q in load_questions(path) if not q.get("unanswerable")] for name, path in QUESTION_FILES.items()}
    out: dict = {"weights": {}, "non_prose_penalty": {}}
    with tempfile.TemporaryDirectory(prefix="qa-ablations-") as tmp:
        seeds_docs, mixed_docs = Path(tmp) / "seeds", Path(tmp) / "mixed"
        copy_seeds(seeds_docs)
        copy_seeds(mixed_docs / "seeds")
        copy_un_docs(mixed_docs / "un")
        sets, dropped = {}, {}
        for docs, question_sets in ((seeds_docs, {"seeds alone": "seeds"}), (mixed_docs, {"seeds+UN: seeds": "seeds", "seeds+UN: UN": "un"})):
            index = Path(tmp) / f"index-{docs.name}"
            update_index(docs, index, settings, embedder=embedder)
            with Store.open(index, settings) as store:
                for name, qset in question_sets.items():
                    sets[name] = _question_signals(store, embedder, questions[qset])
                    with _question_words_dropped():
                        dropped[name] = _question_signals(store, embedder, questions[qset])
    out["question_words_dropped"] = {
        "kept": {name: _hits(rows, fusion.WEIGHTS) for name, rows in sets.items()},
        "dropped": {name: _hits(rows, fusion.WEIGHTS) for name, rows in dropped.items()},
    }
    for dense_w in (0.0, 0.3, 0.6, 1.0):
        for sentence_w in (0.6, 1.0, 1.3, 2.0):
            out["weights"][f"dense {dense_w} sentence {sentence_w}"] = {name: _hits(rows, (dense_w, 1.0, sentence_w)) for name, rows in sets.items()}
    for penalty in (0.0, 1.0, 2.0, 5.0):
        out["non_prose_penalty"][str(penalty)] = {name: _hits(rows, fusion.WEIGHTS, penalty) for name, rows in sets.items()}
    out["questions"] = {name: len(rows) for name, rows in sets.items()}
    return out


def print_result(result: dict) -> None:
    if "ndcg@10" in result:
        print(f"SciFact {result['split']}: {result['queries']} queries, {result['units']} units of at most {result['max_chars']} characters")
        for name, value in result["ndcg@10"].items():
            print(f"  {name:<30} nDCG@10 {value:.4f}")
        return
    sets = list(result["questions"])
    print("hit@1 / hit@3 (answerable questions: " + ", ".join(f"{n} {c}" for n, c in result["questions"].items()) + ")")
    print(f"  {'variant':<34}" + "".join(f"{n:>18}" for n in sets))
    for group in ("weights", "question_words_dropped", "non_prose_penalty"):
        for variant, cells in result[group].items():
            label = variant if group == "weights" else f"{group.replace('_', ' ')} {variant}"
            print(f"  {label:<34}" + "".join(f"{cells[n][0]:>13}/{cells[n][1]:<4}" for n in sets))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("scifact", "questions"))
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--max-chars", type=int, default=800, help="chunk size (the product's chunker, as QA_CHUNK_MAX_CHARS)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N queries (sorted by id)")
    parser.add_argument("--corpus-limit", type=int, default=0, help="only the judged documents and the first N others")
    parser.add_argument("--data", type=Path, default=sf.DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=memory.CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run_scifact(args) if args.part == "scifact" else run_questions(args)
    print_result(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.output.read_text()) if args.output.exists() else {}
    key = f"scifact-{args.split}-{args.max_chars}" + (f"-limit{args.limit}" if args.limit else "") if args.part == "scifact" else "questions"
    existing[key] = result
    args.output.write_text(json.dumps(existing, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
