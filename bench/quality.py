"""Answer quality on the documents users ask about, and the "not found" calibration.

    .venv/bin/python bench/quality.py            # seeds/ + UN documents, both question sets
    .venv/bin/python bench/quality.py --sweep    # also print accuracy of "not found" per threshold
    .venv/bin/python bench/quality.py --calibrate  # fit the "not found" logistic model (prints constants)

Indexes seeds/ together with ../shared/corpora/un_human_rights_docs/ (copied to a temporary
folder, never into the repository) with the real model, asks every question in
tests/data/seeds_questions.jsonl and tests/data/un_questions.jsonl, and prints hit@1, hit@3,
MRR, "not found" accuracy and the median passage length per mode. Writes bench/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa.embedding import embedder_for  # noqa: E402
from qa.evaluation import evaluate_questions, load_questions  # noqa: E402
from qa.indexing import update_index  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.store import Store  # noqa: E402
from bench.corpus import copy_seeds, copy_un_docs  # noqa: E402

QUESTION_SETS = {"seeds": REPO / "tests" / "data" / "seeds_questions.jsonl", "un": REPO / "tests" / "data" / "un_questions.jsonl"}


def build_corpus(target: Path) -> None:
    copy_seeds(target / "seeds")
    copy_un_docs(target / "un")


def calibrate(rows) -> dict:
    """Fit the logistic model of ``qa.answer.confidence``; leave-one-out accuracy says how well it generalises."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneOut, cross_val_score

    keys = ("sentence", "passage", "coverage")
    X = np.array([[signals[k] for k in keys] for _, _, signals in rows])
    y = np.array([answerable for _, answerable, _ in rows], dtype=int)
    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=1000)
    loo = cross_val_score(model, X, y, cv=LeaveOneOut()).mean()
    model.fit(X, y)
    return {
        "weights": [round(float(w), 3) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 3),
        "training_accuracy": round(float(model.score(X, y)), 4),
        "leave_one_out_accuracy": round(float(loo), 4),
        "questions": len(rows),
        "answerable": int(y.sum()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="hybrid,dense,bm25")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "quality.json"))
    args = parser.parse_args(argv)
    if (args.sweep or args.calibrate) and "hybrid" not in args.modes.split(","):
        parser.error("--sweep and --calibrate use the hybrid answers: keep hybrid in --modes")
    settings = load_settings()
    embedder = embedder_for(settings)
    results = {}
    with tempfile.TemporaryDirectory(prefix="qa-quality-") as tmp:
        docs, index = Path(tmp) / "docs", Path(tmp) / "index"
        build_corpus(docs)
        report = update_index(docs, index, settings, embedder=embedder)
        results["corpus"] = {"documents": report.documents_total, "chunks": report.chunks_total, "failed": report.failed}
        store = Store.open(index, settings)
        try:
            signals = []  # (confidence, answerable, signals) of every hybrid answer, for the sweep and calibration
            for name, path in QUESTION_SETS.items():
                questions = load_questions(path)
                results[name] = {
                    mode: evaluate_questions(questions, store, embedder, mode=mode, signals=signals if mode == "hybrid" else None)
                    for mode in args.modes.split(",")
                }
            if args.sweep or args.calibrate:
                sweep = []
                for threshold in [x / 100 for x in range(5, 100, 5)]:
                    correct = sum((conf >= threshold) == answerable for conf, answerable, _ in signals)
                    sweep.append({"threshold": threshold, "accuracy": round(correct / len(signals), 4)})
                results["confidence_sweep"] = sweep
                if args.calibrate:
                    results["calibration"] = calibrate(signals)
                    print("calibration:", json.dumps(results["calibration"]))
        finally:
            store.close()
    print(f"corpus: {results['corpus']['documents']} documents, {results['corpus']['chunks']} chunks")
    print(f"{'set':6} {'mode':7} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {'not-found acc':>14} {'median chars':>13} {'ms/q':>7}")
    for name in QUESTION_SETS:
        for mode, m in results[name].items():
            print(f"{name:6} {mode:7} {m['hit@1']:6.3f} {m['hit@3']:6.3f} {m['mrr']:6.3f} {m['not_found_accuracy']:14.3f} "
                  f"{m['median_top_passage_chars']:13.0f} {m['ms_per_question_p50']:7.0f}")
        for miss in results[name].get("hybrid", {}).get("misses", []):
            print(f"   miss ({name}, hybrid): {json.dumps(miss)}")
    for row in results.get("confidence_sweep", []):
        print(f"   threshold {row['threshold']:.2f}: not-found accuracy {row['accuracy']:.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
