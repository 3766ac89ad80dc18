"""Ablations behind the hybrid recipe: ideas tried for the retrieval-quality targets, against the recipe.

    .venv/bin/python bench/ablations.py scifact [--split train] [--max-chars 800]
    .venv/bin/python bench/ablations.py questions

``scifact`` uses the units, cached encodings and searcher of ``bench/scifact.py`` (a document scores
as its best unit) and prints nDCG@10 on the split for the recipe (``qa.fusion.fuse`` of dense, BM25
and best-sentence scores over the filled-in top-100 union) and for each variant:

* ``doc-bm25 w``: a fourth list, the BM25 score of the unit's whole document (title + text), weight w;
* ``doc-context l``: plus l × the mean fused score of the document's candidate units;
* ``neighbours g``: plus g × the mean fused score of the unit's 5 nearest units of other documents
  (score regularisation by the cluster hypothesis);
* ``learned``: logistic regression over more features (the three z-scores, the second-best sentence,
  the document BM25, ranks, raw scores), trained and scored out of fold (5 folds by query), beside the
  recipe on the same folds;
* ``idf-pool a``: the query vector pooled from its token vectors weighted by idf^a (word-piece
  document frequencies of the units) instead of the plain mean, for both dense and sentence scores;
  and the two best changes on train together.

``questions`` indexes seeds/ alone, and seeds/ with the UN documents, with the real model, and
prints hit@1 / hit@3 on the answerable questions of tests/data/seeds_questions.jsonl and
un_questions.jsonl for a grid of fusion weights, for question words dropped from the BM25 query, and
for a penalty on non-prose units (address blocks, tables of contents, title lists).

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

from bench import scifact as sf  # noqa: E402
from qa import fusion  # noqa: E402
from qa.lexical import LexicalIndex  # noqa: E402

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


def _second_best(searcher, vector, unit_ids) -> list[tuple[int, float]]:
    out = []
    for unit in unit_ids:
        sims = np.sort(searcher.sentence_vectors[searcher.unit_sentences[unit]] @ vector)
        out.append((unit, float(sims[-2] if len(sims) > 1 else sims[-1])))
    return out


def _document_bm25(whole_docs, unit_doc, query: str, unit_ids) -> list[tuple[int, float]]:
    """Each unit with the BM25 score of its whole document."""
    scores = dict(whole_docs.scores_for(query, sorted({int(unit_doc[i]) for i in unit_ids})))
    return [(i, scores.get(int(unit_doc[i]), 0.0)) for i in unit_ids]


def _add(ranked, bonus: dict[int, float], weight: float):
    return sorted(((i, s + weight * bonus.get(i, 0.0)) for i, s in ranked), key=lambda x: (-x[1], x[0]))


def _nearest_other_units(vectors: np.ndarray, unit_doc: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    """For each unit, its ``k`` most similar units that belong to other documents."""
    out = np.empty((len(vectors), k), dtype=np.int64)
    for start in range(0, len(vectors), block):
        sims = vectors[start : start + block] @ vectors.T
        sims[unit_doc[start : start + block, None] == unit_doc[None, :]] = -np.inf
        out[start : start + block] = np.argpartition(-sims, k, axis=1)[:, :k]
    return out


def _idf_pooled(model, queries: list[str], unit_texts: list[str], alpha: float) -> np.ndarray:
    tokenizer = model.tokenizer
    df = np.zeros(tokenizer.vocab_size)
    for text in unit_texts:
        df[list(set(tokenizer(text, add_special_tokens=False, truncation=True, max_length=256)["input_ids"]))] += 1
    idf = np.log((len(unit_texts) - df + 0.5) / (df + 0.5) + 1)
    tokens = model.encode(queries, output_value="token_embeddings", convert_to_numpy=False, batch_size=64)
    out = []
    for vectors, text in zip(tokens, queries):
        ids = np.array(tokenizer(text, truncation=True, max_length=256)["input_ids"])
        weights = idf[ids] ** alpha
        weights[0] = weights[-1] = weights[1:-1].mean()  # [CLS] and [SEP] as an average token
        pooled = (weights[:, None] * vectors.float().numpy()).sum(0) / weights.sum()
        out.append(pooled / np.linalg.norm(pooled))
    return np.asarray(out, dtype=np.float32)


def run_scifact(args) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    sf.single_threaded()
    documents, queries, qrels = sf.load_beir(args.data, args.split)
    query_ids = sorted(qrels)[: args.limit] if args.limit else sorted(qrels)
    if args.corpus_limit:  # a small corpus for a quick check: the judged documents plus the first others
        keep = {d for q in query_ids for d in qrels[q]}
        keep |= set(list(documents)[: args.corpus_limit])
        documents = {d: v for d, v in documents.items() if d in keep}
    qrels = {q: {d: s for d, s in qrels[q].items() if d in documents} for q in query_ids}
    corpus = [{"_id": d, "title": t, "text": x} for d, (t, x) in documents.items()]
    doc_ids = [d["_id"] for d in corpus]
    model = sf.load_model()
    texts, unit_doc, sentences, unit_sentences = sf.make_units(corpus, args.max_chars)
    units = sf.encode_cached(lambda: model, texts, args.cache, "units")
    sentence_vectors = sf.encode_cached(lambda: model, sentences, args.cache, "sentences")
    query_texts = [queries[q] for q in query_ids]
    query_vectors = sf.encode_cached(lambda: model, query_texts, args.cache, "queries")
    searcher = sf.Searcher(units, LexicalIndex.build(texts, list(range(len(texts)))), sentence_vectors, unit_sentences)
    whole_docs = LexicalIndex.build([f"{d['title']} {d['text']}" for d in corpus], list(range(len(corpus))))
    neighbours = _nearest_other_units(units, unit_doc, NEIGHBOURS)

    def doc_run(ranked):
        return sf.to_doc_run(ranked, unit_doc, doc_ids)

    def ndcg(runs, ids):
        return round(sf.evaluate({q: runs[q] for q in ids}, {q: qrels[q] for q in ids})["ndcg@10"], 4)

    t0 = time.perf_counter()
    variants: dict[str, dict] = {}

    def record(name, query_id, ranked):
        variants.setdefault(name, {})[query_id] = doc_run(ranked)

    feature_rows, labels, groups, owners = [], [], [], []
    for row, (query_id, query, vector) in enumerate(zip(query_ids, query_texts, query_vectors)):
        dense, lexical, sentence = searcher.signals(query, vector)
        base = fusion.fuse(dense, lexical, sentence)
        record("recipe", query_id, base)
        ids = [i for i, _ in dense]
        doc_bm25 = _document_bm25(whole_docs, unit_doc, query, ids)
        for w in (0.2, 0.5, 1.0):
            record(f"doc-bm25 {w}", query_id, fusion.combine([dense, lexical, sentence, doc_bm25], (*fusion.WEIGHTS, w)))
        fused = dict(base)
        by_doc: dict[int, list[float]] = {}
        for i, s in base:
            by_doc.setdefault(int(unit_doc[i]), []).append(s)
        doc_mean = {i: float(np.mean(by_doc[int(unit_doc[i])])) for i in fused}
        floor = min(fused.values())
        neighbour_mean = {i: float(np.mean([fused.get(int(n), floor) for n in neighbours[i]])) for i in fused}
        for w in (0.1, 0.3):
            record(f"doc-context {w}", query_id, _add(base, doc_mean, w))
            record(f"neighbours {w}", query_id, _add(base, neighbour_mean, w))
        # features of the learned fusion
        zd, zl, zs = _zmap(dense), _zmap(lexical), _zmap(sentence)
        z2, zdoc = _zmap(_second_best(searcher, vector, ids)), _zmap(doc_bm25)
        rank_of = {name: {i: r for r, (i, _) in enumerate(lst, 1)} for name, lst in (("d", dense), ("l", lexical), ("s", sentence))}
        raw = {name: dict(lst) for name, lst in (("d", dense), ("l", lexical), ("s", sentence))}
        relevant = {d for d, s in qrels[query_id].items() if s > 0}
        for i in ids:
            feature_rows.append([zd[i], zl[i], zs[i], z2[i], zdoc[i], *(1 / (10 + rank_of[n][i]) for n in "dls"), raw["d"][i], raw["s"][i]])
            labels.append(doc_ids[unit_doc[i]] in relevant)
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
        for (query_id, unit), score in zip((owners[j] for j in test), model_.decision_function(X[test])):
            learned.setdefault(query_id, []).append((unit, float(score)))
    variants["learned (out of fold)"] = {q: doc_run(sorted(r, key=lambda x: (-x[1], x[0]))) for q, r in learned.items()}

    for alpha in (0.5, 1.0):
        pooled = _idf_pooled(model, query_texts, texts, alpha)
        for query_id, query, vector in zip(query_ids, query_texts, pooled):
            dense, lexical, sentence = searcher.signals(query, vector)
            record(f"idf-pool {alpha}", query_id, fusion.fuse(dense, lexical, sentence))
            if alpha == 0.5:  # the two best single changes on train, together
                doc_bm25 = _document_bm25(whole_docs, unit_doc, query, [i for i, _ in dense])
                record("idf-pool 0.5 + doc-bm25 0.2", query_id, fusion.combine([dense, lexical, sentence, doc_bm25], (*fusion.WEIGHTS, 0.2)))

    table = {name: ndcg(runs, sorted(runs)) for name, runs in variants.items()}
    table["recipe on the learned folds"] = ndcg(variants["recipe"], sorted(variants["learned (out of fold)"]))
    return {
        "split": args.split,
        "queries": len(query_ids),
        "units": len(texts),
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
    """Per question: the three lists hybrid search fuses (as ``qa.retrieval.search`` builds them), the
    candidates that contain a gold answer, and each candidate's non-prose share."""
    from qa import retrieval
    from qa.evaluation import _contains

    rows = []
    for question in questions:
        text = retrieval.expand_acronyms(" ".join(question["q"].split()))
        dense, lexical, vector = retrieval.candidate_lists(store, embedder, text, fusion.CANDIDATES)
        lists = retrieval.sentence_signals(store, text, vector, dense, lexical)
        chunks = store.chunks([i for i, _ in lists[0]])
        good = {i for i, c in chunks.items() if _contains(c.text, question["gold"])}
        prose = {i: non_prose_share(c.text) for i, c in chunks.items()}
        rows.append((lists, good, prose))
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
    from qa.embedding import embedder_for
    from qa.evaluation import load_questions
    from qa.indexing import update_index
    from qa.settings import load_settings
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
    parser.add_argument("--max-chars", type=int, default=800, help="unit size (bench/scifact.py's chunker)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N queries (sorted by id)")
    parser.add_argument("--corpus-limit", type=int, default=0, help="only the judged documents and the first N others")
    parser.add_argument("--data", type=Path, default=sf.DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=sf.DEFAULT_CACHE)
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
