"""Gold passages of tests/data/multilingual.jsonl, copied from the UDHR files (see MULTILINGUAL.md).

Standalone, standard library only. Run from the repository root:

    python tests/data/multilingual_gold.py            # check: every row's gold equals the article's lines
    python tests/data/multilingual_gold.py 1 2 6      # print the gold of these articles, as JSON, per language

For each document the gold of an article is every non-empty line between its heading and the next heading
(or the end of the file), stripped of surrounding white space; in the English Markdown the item numbering
("1.  ") is stripped too. Nothing is retyped: each gold string is a slice of the file's text.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "corpora"
DOCS = {
    "en": "udhr/udhr.en.md",
    "fr": "un_multilingual/fr/udhr_fra.txt",
    "es": "un_multilingual/es/udhr_spa.txt",
    "ru": "un_multilingual/ru/udhr_rus.txt",
    "ar": "un_multilingual/ar/udhr_arb.txt",
    "zh": "un_multilingual/zh/udhr_cmn_hans.txt",
}
QUESTIONS = REPO / "tests" / "data" / "multilingual.jsonl"

_ZH_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _zh_number(text: str) -> int:
    """Chinese numerals 1–99: 九, 十九, 二十, 二十三."""
    if "十" not in text:
        return _ZH_DIGITS[text]
    tens, _, units = text.partition("十")
    return (_ZH_DIGITS[tens] if tens else 1) * 10 + (_ZH_DIGITS[units] if units else 0)


def _heading(line: str) -> int | None:
    """The article number if ``line`` is an article heading, else None."""
    s = line.strip()
    if m := re.fullmatch(r"###\s+Article\s+(\d+)", s):  # English Markdown
        return int(m.group(1))
    if s == "Article premier":
        return 1
    if m := re.fullmatch(r"(?:Article|Artículo|Статья|المادة) (\d+)", s):
        return int(m.group(1))
    if m := re.fullmatch(r"第([一二三四五六七八九十]{1,3})条", s):
        return _zh_number(m.group(1))
    return None


def path(doc: str) -> Path:
    return SHARED / ("un_human_rights_docs/" + doc if doc.startswith("udhr/") else doc)


def articles(lang: str) -> dict[int, list[str]]:
    """Article number → its non-empty lines, in the document of ``lang``."""
    text = path(DOCS[lang]).read_text(encoding="utf-8")
    out: dict[int, list[str]] = {}
    current = None
    for line in text.splitlines():
        number = _heading(line)
        if number is not None:
            current = number
            out[current] = []
        elif current is not None and line.strip():
            s = line.strip()
            if lang == "en":
                s = re.sub(r"^\d+\.\s+", "", s)
            out[current].append(s)
    assert sorted(out) == list(range(1, 31)), (lang, sorted(out))
    for number, lines in out.items():
        assert lines and all(g in text for g in lines), (lang, number)
    return out


def gold() -> dict[str, dict[int, list[str]]]:
    return {lang: articles(lang) for lang in DOCS}


def main(argv: list[str]) -> int:
    table = gold()
    if argv:
        for number in map(int, argv):
            print(json.dumps({lang: table[lang][number] for lang in DOCS}, ensure_ascii=False))
        return 0
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [r["id"] for r in rows if r["doc"] != DOCS[r["lang"]] or r["gold"] != table[r["lang"]][r["article"]]]
    print(f"{len(rows)} rows, {len({r['article'] for r in rows})} articles, {len(bad)} with other gold: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
