"""Do the answer's quotes and marks hold the answer? Natural (or blind) questions whose first passage answers.

    .venv/bin/python bench/quotes.py                    # natural sets, dev split (what ASKED_FACT_BONUS was chosen on)
    .venv/bin/python bench/quotes.py --split test
    .venv/bin/python bench/quotes.py --sets blind --split all

For each answerable question: is the first passage right (it holds a gold string), does a quoted sentence overlap
the gold text in its document, does a marked sentence of the first passage overlap it. Run twice in one process,
without and with the favour given to sentences holding the asked date, amount or count (``qa.answer.
ASKED_FACT_BONUS``), over the indexes ``bench/quality.py`` keeps in /tmp/verbatim-quality.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.quality import SETS, corpus_index  # noqa: E402
from qa import answer as answer_module  # noqa: E402
from qa.encoders import encoders_for  # noqa: E402
from qa.evaluation import answers, is_unanswerable, load_questions  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.store import Store  # noqa: E402

SET_NAMES = {"natural": ("natural_seeds", "natural_un"), "blind": ("blind_seeds", "blind_un")}


def gold_spans(text: str, gold: list[str]) -> list[tuple[int, int]]:
    """Where each gold string is in a document's text (white space matched loosely)."""
    spans = []
    for g in gold:
        pattern = r"\s+".join(re.escape(word) for word in g.split())
        spans += [(m.start(), m.end()) for m in re.finditer(pattern, text)]
    return spans


def _overlaps(start: int, end: int, spans) -> bool:
    return any(start < b and a < end for a, b in spans)


def measure(questions: list[tuple[str, dict]], stores: dict, encoders) -> dict:
    counts = {"answerable": 0, "first_right": 0, "quote_holds_gold": 0, "mark_holds_gold": 0}
    for corpus, row in questions:
        store = stores[corpus]
        answer = answer_module.ask(store, encoders, row["q"], k=5)
        counts["answerable"] += 1
        if not answer.passages or not answers(answer.passages[0], row):
            continue
        first = answer.passages[0]
        golds: dict[str, list] = {}

        def gold_in(doc: str):
            if doc not in golds:
                golds[doc] = gold_spans(store.document(doc).text, row["gold"])
            return golds[doc]

        counts["first_right"] += 1
        counts["quote_holds_gold"] += any(_overlaps(s.start, s.end, gold_in(s.doc)) for s in answer.sentences)
        counts["mark_holds_gold"] += any(_overlaps(a, b, gold_in(first.doc)) for a, b in first.highlights)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--sets", choices=tuple(SET_NAMES), default="natural")
    parser.add_argument("--corpora", default="seeds,un", help="ask only the sets about these corpora")
    args = parser.parse_args(argv)
    settings = load_settings({})
    encoders = encoders_for(settings)
    all_sets = {name: spec for group in SETS.values() for name, spec in group.items()}
    questions, stores = [], {}
    for name in SET_NAMES[args.sets]:
        corpus, path = all_sets[name]
        if corpus not in args.corpora.split(","):
            continue
        if corpus not in stores:
            stores[corpus] = Store.open(corpus_index(corpus, settings, encoders), settings)
        questions += [(corpus, row) for row in load_questions(path)
                      if (args.split == "all" or row.get("split") == args.split) and not is_unanswerable(row)]
    chosen = answer_module.ASKED_FACT_BONUS
    try:
        for bonus in (0.0, chosen):
            answer_module.ASKED_FACT_BONUS = bonus
            print(json.dumps({"sets": args.sets, "split": args.split, "asked_fact_bonus": bonus,
                              **measure(questions, stores, encoders)}))
    finally:
        answer_module.ASKED_FACT_BONUS = chosen
        for store in stores.values():
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
