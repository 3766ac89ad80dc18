"""Questions that name an article by number ("What does article 14 of the ICCPR say?"): is the article first?

    .venv/bin/python bench/articles.py                 # dev split (odd-numbered articles' questions: what is tuned on)
    .venv/bin/python bench/articles.py --split test    # even-numbered articles: what the README reports
    .venv/bin/python bench/articles.py --off           # without qa.articles, for comparison
    .venv/bin/python bench/articles.py --languages     # the Universal Declaration by article, in its six languages
    .venv/bin/python bench/articles.py --citations     # the articles of Kazakh law the bundled reply cites

For every article of the three treaties of the shared UN corpus (the Universal Declaration, the ICCPR and the
Convention against Torture: 116 articles), one question in one of the ways people ask for an article (seeded: the
wording and the treaty's name, full or short, vary), asked of the whole UN corpus index (``bench/quality.py``'s
cached one). A question is right at rank r when the r-th passage is under that treaty's "Article N" heading (in its
Markdown or PDF text, or the copy of the Covenant in Fact Sheet 15). ``--languages``: "What does article N of the
Universal Declaration say?" in English, French, Spanish, Russian, Arabic and Chinese for its 30 articles, asked of
``bench/multilingual.py``'s index of the Declaration in those six languages; right when the passage is under article
N in the question's language. Writes bench/results/articles-<split>.json.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpus import save_result  # noqa: E402

TREATIES = {
    "udhr": {"docs": ("udhr/",), "articles": 30,
             "names": ("Universal Declaration of Human Rights", "UDHR", "Universal Declaration")},
    "iccpr": {"docs": ("iccpr/", "ohchr_fact_sheet_15_human_rights_committee/"), "articles": 53,
              "names": ("ICCPR", "International Covenant on Civil and Political Rights", "Covenant on Civil and Political Rights")},
    "cat": {"docs": ("cat/",), "articles": 33,
            "names": ("Convention against Torture", "CAT", "UN Convention against Torture")},
}
TEMPLATES = (
    "What does article {n} of the {name} say?",
    "{name} article {n}",
    "what is article {n} of the {name} about",
    "{name} art. {n}",
    "Quote article {n} of the {name}.",
    "What does the {name} provide in article {n}?",
)


# The same question in the six languages, about the Universal Declaration in that language (``--languages``).
IN_LANGUAGES = {
    "en": ("udhr/", "What does article {n} of the Universal Declaration of Human Rights say?"),
    "fr": ("un_multilingual/fr/", "Que dit l'article {n} de la Déclaration universelle des droits de l'homme ?"),
    "es": ("un_multilingual/es/", "¿Qué dice el artículo {n} de la Declaración Universal de Derechos Humanos?"),
    "ru": ("un_multilingual/ru/", "Что говорится в статье {n} Всеобщей декларации прав человека?"),
    "ar": ("un_multilingual/ar/", "ماذا تنص المادة {n} من الإعلان العالمي لحقوق الإنسان؟"),
    "zh": ("un_multilingual/zh/", "《世界人权宣言》第{cn}条是怎么规定的？"),
}


def questions_in_languages() -> list[dict]:
    from qa.articles import chinese_numeral

    return [{"q": template.format(n=n, cn=chinese_numeral(n)), "lang": lang, "docs": (prefix,), "article": n,
             "split": "dev" if n % 2 else "test"}
            for lang, (prefix, template) in IN_LANGUAGES.items() for n in range(1, 31)]


CITED_TEMPLATES = (
    "What does article {n} of the {code} say?",
    "{code} art. {n}",
    "what is article {n} of the {code} about",
)


def questions_citing(seed: int = 15) -> list[dict]:
    """For every article number the bundled reply cites in its text ("(Code of Criminal Procedure, art. 201)"), one
    question asking for it: right when the passage cites that article (``--citations``; the reply holds no law's text,
    so the passage citing it is the best it can give)."""
    from qa.articles import referenced

    rng = random.Random(seed)
    text = next((REPO / "seeds").glob("*.md")).read_text(encoding="utf-8")
    codes = ("Criminal Code", "Code of Criminal Procedure", "Kazakh Criminal Code")
    return [{"q": rng.choice(CITED_TEMPLATES).format(n=n, code=rng.choice(codes)), "article": n, "split": "all",
             "cited": True}
            for n in sorted(set(referenced(text)))]


def questions(seed: int = 15) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for key, treaty in TREATIES.items():
        for n in range(1, treaty["articles"] + 1):
            q = rng.choice(TEMPLATES).format(n=n, name=rng.choice(treaty["names"]))
            rows.append({"q": q, "treaty": key, "article": n, "split": "dev" if n % 2 else "test"})
    return rows


def right(passage, row: dict) -> bool:
    from qa.articles import heading_number, referenced

    if row.get("cited"):
        return row["article"] in referenced(passage.text)
    docs = row["docs"] if "docs" in row else TREATIES[row["treaty"]]["docs"]
    return heading_number(passage.section) == row["article"] and passage.doc.startswith(docs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--bonus", type=float, help="qa.articles.BONUS to use")
    parser.add_argument("--off", action="store_true", help="without qa.articles (no article number is read)")
    parser.add_argument("--languages", action="store_true",
                        help="the Universal Declaration asked for by article in its six languages (bench/multilingual.py's index)")
    parser.add_argument("--citations", action="store_true",
                        help="the articles the bundled reply cites in its text, asked of an index of seeds/")
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args(argv)
    from bench.quality import corpus_index
    from qa import articles
    from qa.answer import ask
    from qa.encoders import encoders_for
    from qa.settings import load_settings
    from qa.store import Store

    if args.bonus is not None:
        articles.BONUS = args.bonus
    if args.off:
        articles.chunks_of = lambda *args, **kwargs: set()
    settings = load_settings()
    encoders = encoders_for(settings)
    if args.citations:
        index = corpus_index("seeds", settings, encoders)
        rows = questions_citing()
    elif args.languages:
        from bench.multilingual import build_index

        index = build_index(settings, encoders, mixed=False)
        rows = questions_in_languages()
    else:
        index = corpus_index("un", settings, encoders)
        rows = questions()
    rows = [row for row in rows if args.split == "all" or row["split"] in (args.split, "all")]
    hits: dict = {}
    misses = []
    with Store.open(index, settings) as store:
        for row in rows:
            answer = ask(store, encoders, row["q"])
            passages = answer.passages
            rank = next((p.rank for p in passages if right(p, row)), None)
            cell = hits.setdefault(row.get("lang", "all"), {"n": 0, 1: 0, 3: 0, "answered": 0, "not_found": 0})
            cell["n"] += 1
            cell["answered"] += answer.status == "answered"
            cell["not_found"] += answer.status == "not_found"
            for cut in (1, 3):
                cell[cut] += rank is not None and rank <= cut
            if rank != 1:
                misses.append({"q": row["q"], "rank": rank, "first": f"{passages[0].doc} › {passages[0].section}" if passages else None})
    result = {"split": args.split, "bonus": None if args.off else articles.BONUS, "misses": misses,
              "cells": {key: {"questions": c["n"], "hit@1": round(c[1] / c["n"], 3), "hit@3": round(c[3] / c["n"], 3),
                              "answered": c["answered"], "not_found": c["not_found"]}
                        for key, c in hits.items()}}
    for key, cell in result["cells"].items():
        print(f"articles {args.split} {key}: {cell['questions']} questions, {'off' if args.off else f'bonus {articles.BONUS}'}: "
              f"hit@1 {cell['hit@1']:.3f} hit@3 {cell['hit@3']:.3f}; answered {cell['answered']}, "
              f"\"not found\" {cell['not_found']}")
    if args.misses:
        for miss in misses:
            print(f"  rank {miss['rank']}: {miss['q']}  → {miss['first']}")
    kind = "-languages" if args.languages else "-citations" if args.citations else ""
    print("saved", save_result(f"articles-{args.split}{kind}", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
