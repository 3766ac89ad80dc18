"""Names typed in Latin letters, asked of replies in other languages and scripts (``qa.names``).

The five short replies of ``tests/data/foreign_replies/`` (Spanish, Russian, Arabic, Chinese, French; written for
this by a helper session) are indexed together with the seed reply, the English UDHR and ICCPR and the UDHR in
five more languages (``../shared/corpora/``), and the 50 English questions of ``tests/data/names_questions.jsonl``
are asked (``tests/data/NAMES_QUESTIONS.md``): hit@1 / hit@3 for the answering paragraph of the right reply, by kind
(questions that name someone or something, questions that do not), and the answer states, with names read across
scripts and without, in the same run.

    .venv/bin/python bench/names.py
    .venv/bin/python bench/names.py --quotes    # the quotes of the questions asking for a date, an amount or a count

``--quotes``: for the answerable questions that ask for a date, an amount or a count (``qa.asked_fact``) and whose
first passage is the answering paragraph, whether a quoted sentence, and a mark of the first passage, holds the
answer (``answer_contains``), with the favour given to sentences that give such a fact in passages the English model
cannot read (``qa.answer.FOREIGN_ASKED_FACT_BONUS``) at 0 and at a few values, in one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import REPO, UN_DOCS, copy_seeds  # noqa: E402

MULTILINGUAL = REPO.parent / "shared" / "corpora" / "un_multilingual"
REPLIES = REPO / "tests" / "data" / "foreign_replies"
QUESTIONS = REPO / "tests" / "data" / "names_questions.jsonl"


def build(folder: Path):
    from qa.indexing import update_index
    from qa.settings import load_settings

    docs = folder / "docs"
    copy_seeds(docs)
    for path in sorted(REPLIES.iterdir()):
        shutil.copy2(path, docs / path.name)
    for name in ("udhr/udhr.en.md", "iccpr/iccpr_and_optional_protocol.en.md"):
        shutil.copy2(UN_DOCS / name, docs / Path(name).name)
    for path in sorted(MULTILINGUAL.glob("*/*.txt")):
        shutil.copy2(path, docs / path.name)
    settings = load_settings({}).with_(docs=docs, index=folder / "index")
    report = update_index(docs, settings.index, settings)
    assert not report.failed, report.failed
    return settings


def measure(store, encoders, questions, label: str) -> dict:
    from qa.answer import ask

    by_kind: dict = {}
    for q in questions:
        answer = ask(store, encoders, q["question"], k=5)
        row = by_kind.setdefault(q["kind"], {"questions": 0, "hit@1": 0, "hit@3": 0, "states": {}})
        row["questions"] += 1
        row["states"][answer.status] = row["states"].get(answer.status, 0) + 1
        if q["doc"] is not None:
            rank = next((p.rank for p in answer.passages if p.doc == q["doc"] and q["answer_contains"] in p.text), None)
            row["hit@1"] += rank == 1
            row["hit@3"] += rank is not None and rank <= 3
    for kind, row in by_kind.items():
        shown = f"hit@1 {row['hit@1']}/{row['questions']}  hit@3 {row['hit@3']}/{row['questions']}  " if kind != "unanswerable" else ""
        print(f"{label:<14} {kind:<13} {shown}states {json.dumps(row['states'], sort_keys=True)}")
    return by_kind


def measure_quotes(store, encoders, questions, bonuses=(0.0, 0.01, 0.03, 0.05, 0.1)) -> dict:
    """Per foreign bonus: of the questions asking for a fact whose first passage answers, how many have the answer
    in a quoted sentence and in a mark of the first passage."""
    from qa import answer as answer_module
    from qa.asked_fact import asked_fact

    asking = [q for q in questions if q["doc"] is not None and asked_fact(q["question"])]
    chosen, result, texts = answer_module.FOREIGN_ASKED_FACT_BONUS, {}, {}
    try:
        for bonus in bonuses:
            answer_module.FOREIGN_ASKED_FACT_BONUS = bonus
            counts = {"asking": len(asking), "first_right": 0, "quote_holds": 0, "mark_holds": 0}
            for q in asking:
                answer = answer_module.ask(store, encoders, q["question"], k=5)
                first = answer.passages[0] if answer.passages else None
                if first is None or first.doc != q["doc"] or q["answer_contains"] not in first.text:
                    continue
                if q["doc"] not in texts:
                    texts[q["doc"]] = store.document(q["doc"]).text
                at = texts[q["doc"]].find(q["answer_contains"], first.start)
                gold = (at, at + len(q["answer_contains"]))
                counts["first_right"] += 1
                counts["quote_holds"] += any(s.doc == q["doc"] and s.start < gold[1] and gold[0] < s.end for s in answer.sentences)
                counts["mark_holds"] += any(a < gold[1] and gold[0] < b for a, b in first.highlights)
            result[bonus] = counts
            print(json.dumps({"foreign_asked_fact_bonus": bonus, **counts}))
    finally:
        answer_module.FOREIGN_ASKED_FACT_BONUS = chosen
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="build the index in this folder (kept) instead of a temporary one")
    parser.add_argument("--quotes", action="store_true", help="only the quotes of the questions asking for a fact")
    args = parser.parse_args()
    from qa import names
    from qa.encoders import embedder_for
    from qa.store import Store

    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="verbatim-names-") as tmp:
        folder = args.keep or Path(tmp)
        settings = build(folder)
        encoders = embedder_for(settings)
        with Store.open(settings.index, settings) as store:
            if args.quotes:
                measure_quotes(store, encoders, questions)
                return
            measure(store, encoders, questions, "names read")
            names.asked_names = lambda question, held=None: ()
            measure(store, encoders, questions, "without")


if __name__ == "__main__":
    main()
