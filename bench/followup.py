"""Fit the follow-up model of ``qa.followup`` (is a question read with the previous one?) and measure it.

    .venv/bin/python bench/followup.py            # cross-validation by conversation set, per C and threshold
    .venv/bin/python bench/followup.py --write    # fit on all of them and write qa/followup_model.json
    .venv/bin/python bench/followup.py --holdout  # the held-out conversations, counted once (only the total)
    .venv/bin/python bench/followup.py --blind    # the blind set of session 17, never fitted on (its total)

The rules (``qa.followup.refers_back``) decide first; a second question they leave standing alone is read with the
first one only when a logistic model over the question's MiniLM query vector (384), its cosine with the previous
question's and its cosine with the vector of both read together (``qa.followup.read_together``, the text searched for
a follow-up) gives it at least ``threshold`` (``threshold_definite`` for a question with a definite noun phrase that
names nothing; never for one that names something: ``qa.followup.model_threshold``). The model (scikit-learn, L2,
``C``) is fitted on ``tests/data/conversations*.jsonl`` except the held-out and blind sets. ``C`` and the thresholds
are chosen by leave-one-set-out cross-validation: each set was written by a different helper, so a model is always
scored on a writer it has not seen (shuffled folds mix one writer's phrasings across folds and overstate it: 0.923 there
against 0.825 on a new writer's set in session 8). The rules were written on these same sets, so their part is
in-sample.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa import followup  # noqa: E402

DATA = REPO / "tests" / "data"
HOLDOUT = "conversations_holdout.jsonl"
BLIND = "conversations_blind17.jsonl"  # written blind in session 17, for measuring only (session 13's is fitted on since)
C_GRID = (1, 3, 10, 30)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)  # 1.01: the rules alone
# The best leave-one-set-out accuracy: 0.977 (session 8; rules alone 0.973); with session 9's set 0.968 (0.964);
# session 13, the model never overriding a question that names something and 0.7 for a definite noun phrase: 0.975.
# Session 14, the cosine with both questions read together added: 0.991 (C 10, 0.9, 0.6; 849 of 857 against 836;
# at C 3 and the session-13 thresholds 0.981). Also tried in session 14 and dropped (within 0.977–0.982 at their
# best, no better with the joined cosine): the cosine of the question's definite noun phrase or of its content
# words with the previous question, the best cosine of the question with each content word of the previous one,
# stemmed word overlap, the number of content words; letting the model read questions that name something at
# 0.9–0.98 (no gain).
# Session 17: session 13's blind set fitted on too (977 conversations): 0.984 at the chosen point (C 3: 0.985).
C_CHOSEN, THRESHOLD_CHOSEN, DEFINITE_CHOSEN = 10, 0.9, 0.6


def conversations(holdout: bool = False, blind: bool = False) -> list[dict]:
    """The written conversations the model is fitted on (or the held-out ones, or the blind ones), each with
    ``set``: the name of its file."""
    if holdout or blind:
        files = [DATA / (HOLDOUT if holdout else BLIND)]
    else:
        files = sorted(p for p in DATA.glob("conversations*.jsonl") if p.name not in (HOLDOUT, BLIND))
    return [{**json.loads(line), "set": path.name}
            for path in files for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def features(rows: list[dict], encoder) -> np.ndarray:
    """What ``qa.followup.follow_up_probability`` reads: the question's vector, its cosine with the previous
    question's, its cosine with that of both read together."""
    questions = np.vstack([encoder.encode_query(row["turns"][1]) for row in rows])
    previous = np.vstack([encoder.encode_query(row["turns"][0]) for row in rows])
    joined = np.vstack([encoder.encode_query(followup.read_together(*row["turns"][::-1])) for row in rows])
    return np.hstack([questions, (questions * previous).sum(axis=1, keepdims=True),
                      (questions * joined).sum(axis=1, keepdims=True)])


def main(argv=None) -> int:
    from sklearn.linear_model import LogisticRegression

    from qa.embedding import load_embedder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {followup.MODEL_FILE.relative_to(REPO)}")
    parser.add_argument("--holdout", action="store_true", help="count the held-out conversations right (once)")
    parser.add_argument("--blind", action="store_true", help="count the blind conversations of session 17 right")
    args = parser.parse_args(argv)

    encoder = load_embedder("auto", "cpu", 32)
    rows = conversations()
    X, y = features(rows, encoder), np.array([row["follow_up"] for row in rows], dtype=int)
    sets = np.array([row["set"] for row in rows])
    rules = np.array([followup.refers_back(row["turns"][1]) for row in rows])

    # Each question's kind (qa.followup.question_kind), read once: names something (never read with the previous
    # one), a definite noun phrase (the ``definite`` threshold), or neither.
    kinds = np.array([followup.question_kind(row["turns"][1]) for row in rows])
    named, definite_np = kinds == "named", kinds == "definite"

    def bounds(threshold: float, definite: float) -> np.ndarray:
        return np.where(named, np.inf, np.where(definite_np, definite, threshold))

    print(f"{len(rows)} written conversations ({y.sum()} follow-ups) in {len(np.unique(sets))} sets; "
          f"rules alone (written on them): {(rules == y).mean():.3f}")
    for c in C_GRID:
        probability = np.zeros(len(y))
        for name in np.unique(sets):
            held = sets == name
            model = LogisticRegression(C=c, max_iter=5000).fit(X[~held], y[~held])
            probability[held] = model.predict_proba(X[held])[:, 1]
        for threshold in THRESHOLDS:
            for definite in (threshold, *(t for t in THRESHOLDS if t < threshold)):
                predicted = rules | (probability >= bounds(threshold, definite))
                per_set = " ".join(f"{(predicted[sets == n] == y[sets == n]).mean():.3f}" for n in np.unique(sets))
                chosen = "  (chosen)" if (c, threshold, definite) == (C_CHOSEN, THRESHOLD_CHOSEN, DEFINITE_CHOSEN) else ""
                print(f"C {c:>3} threshold {threshold:.2f} definite {definite:.2f}: {(predicted == y).mean():.3f}  "
                      f"per set {per_set}{chosen}")
    model = LogisticRegression(C=C_CHOSEN, max_iter=5000).fit(X, y)
    if args.write:
        followup.MODEL_FILE.write_text(json.dumps({
            "model": encoder.name, "dimension": int(encoder.dimension),
            "features": "question query vector, then its cosine with the previous question's, then its cosine with "
                        "the vector of both read together (qa.followup.read_together)",
            "C": C_CHOSEN, "threshold": THRESHOLD_CHOSEN, "threshold_definite": DEFINITE_CHOSEN,
            "trained_on": sorted(set(sets.tolist())),
            "weights": [round(float(w), 6) for w in model.coef_[0]], "bias": round(float(model.intercept_[0]), 6),
        }, indent=1) + "\n", encoding="utf-8")
        followup._model.cache_clear()
        print(f"wrote {followup.MODEL_FILE}")
    for name, wanted in (("held-out", args.holdout), ("blind", args.blind)):
        if wanted:
            held = conversations(holdout=name == "held-out", blind=name == "blind")
            right = sum(followup.needs_previous(row["turns"][1], row["turns"][0], encoder) == row["follow_up"] for row in held)
            rules_right = sum(followup.refers_back(row["turns"][1]) == row["follow_up"] for row in held)
            print(f"{name} conversations: {right} of {len(held)} right (rules alone: {rules_right})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
