"""Article numbers: "What does article 14 of the ICCPR say?" is asked of the treaties' article 14.

A question that names articles by number ("article 14", "art. 9", "articles 20 and 21", "artículo 5", "статья 5",
"المادة 5", "第十四条") raises, in hybrid search, the passages under an "Article N" heading of those numbers
(``Searcher.search``: every one of them is a candidate, its fused score gains ``BONUS`` weighted-mean z-scores, and
the best of them is put first if it is not, its score kept so that it does not read as standing out). A passage is under article N when the last heading of its section is "Article N" (with or without a
title after it), in any of the six UN languages. Which treaty's article comes first is left to the rest of the
question ("of the ICCPR", "of the Convention against Torture"), through the title every passage is read with.
"""

from __future__ import annotations

import re

# Words for "article" before a number in a question, in the six languages (and Portuguese).
_ASKED = re.compile(
    r"(?<!\w)(?:articles?|arts?\.?|artículos?|artigos?|стать[яиеюй]|статей|المادة|المادتين|المواد)\s*"
    r"(\d{1,3}(?:\s*\(\w{1,4}\))*(?:\s*(?:,|&|and|or|et|ou|y|o|e|и|или|و)\s*\d{1,3}(?:\s*\(\w{1,4}\))*)*)(?!\w)",
    re.IGNORECASE,
)
# "The first article" in words, as lawyers write article 1 ("article premier", "artículo primero", "статья первая" in
# any case, "المادة الأولى"); other ordinals in words are not read.
_ASKED_FIRST = re.compile(
    r"(?<!\w)(?:article\s+(?:premier|1er)|artículo\s+primero|стать[яиеюй]\s+перв(?:ая|ой|ую)|"
    r"перв(?:ая|ой|ую)\s+стать[яиеюй]|المادة\s+الأولى)(?!\w)",
    re.IGNORECASE,
)
_ZH_NUMBER = "[0-9一二三四五六七八九十百零〇两兩]+"  # digits or Chinese numerals
_ASKED_ZH = re.compile(rf"第\s*({_ZH_NUMBER})\s*[条條]")  # simplified or traditional
_HEADING = re.compile(r"\s*(?:article|art\.?|artículo|artigo|статья|المادة)\s+(\d{1,3}(?!\d)|premier|1er)", re.IGNORECASE)
_HEADING_ZH = re.compile(rf"\s*第\s*({_ZH_NUMBER})\s*[条條]")
_ARTICLE_WORDS = ("article", "art", "artículo", "статья", "статьи", "المادة")
_CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}

# Chosen on the dev half of bench/articles.py's questions and the natural dev split (README, *Article numbers*):
# 1 leaves a third of the articles asked for below the first passage, 2.5 and 3 push passages that answer a question
# merely mentioning an article ("How many states accept complaints under article 22?") out of the first three.
BONUS = 2.0


def chinese_number(text: str) -> int | None:
    """14 for "十四" (or "14"), 122 for "一百二十二"; None for what is no number."""
    if text.isdigit():
        return int(text)
    total, digit = 0, None
    for ch in text:
        if ch in _CHINESE_DIGITS:
            digit = _CHINESE_DIGITS[ch]
        elif ch in "十百":
            total += (1 if digit is None else digit) * (10 if ch == "十" else 100)
            digit = None
        else:
            return None
    return total + (digit or 0)


def referenced(question: str) -> tuple[int, ...]:
    """The article numbers ``question`` names, in order, each once."""
    numbers: list[int] = []
    for match in _ASKED.finditer(question):
        numbers += [int(n) for n in re.findall(r"(?<![\w(])\d{1,3}(?!\d)", match.group(1))]
    numbers += [1 for _ in _ASKED_FIRST.finditer(question)]
    for match in _ASKED_ZH.finditer(question):
        number = chinese_number(match.group(1))
        if number is not None:
            numbers.append(number)
    return tuple(dict.fromkeys(n for n in numbers if n > 0))


def heading_number(section: str) -> int | None:
    """N when the last heading of ``section`` ("Part III > Article 14") is article N; else None."""
    last = section.rsplit(" > ", 1)[-1] if section else ""
    match = _HEADING.match(last)
    if match:
        return int(match.group(1)) if match.group(1).isdigit() else 1  # French: "Article premier", "Article 1er"
    match = _HEADING_ZH.match(last)
    return chinese_number(match.group(1)) if match else None


def chinese_numeral(number: int) -> str:
    """"十四" for 14, "一百二十二" for 122 (how Chinese UN texts number their articles)."""
    digits = "零一二三四五六七八九"
    hundreds, rest = divmod(number, 100)
    tens, ones = divmod(rest, 10)
    out = digits[hundreds] + "百" if hundreds else ""
    if tens:
        out += ("" if tens == 1 and not hundreds else digits[tens]) + "十"
    elif hundreds and ones:
        out += "零"
    return out + (digits[ones] if ones else "")


def chunks_of(snapshot, numbers, allowed=None, language: str | None = None) -> set[int]:
    """The ids of the chunks (among ``allowed``, if given) under the heading of one of these articles, or, when no
    chunk is, those whose text cites one ("(Code of Criminal Procedure, art. 201)", "arts. 64, 294 and 296": a
    government's reply cites the articles of its laws, which the documents do not hold); only those in ``language``
    (the question's) when some are: the Declaration in six languages has six articles 5, and a reader asking in
    English wants the English one."""
    needles = [str(n) for n in numbers] + [chinese_numeral(n) for n in numbers] + (["premier", "1er"] if 1 in numbers else [])
    sections = snapshot.sections_containing(needles)
    wanted = set(numbers)
    found = {chunk_id for chunk_id, section in sections.items() if heading_number(section) in wanted}
    if allowed is not None:
        found &= {int(i) for i in allowed}
    if not found:
        found = _citing(snapshot, wanted, allowed)
    if language and found:
        own = {chunk_id for chunk_id, code in snapshot.chunk_languages(found).items() if code == language}
        found = own or found
    return found


def _citing(snapshot, numbers: set[int], allowed=None) -> set[int]:
    """The chunks whose text cites one of ``numbers`` as an article, found through the BM25 postings of the number (of
    the words for "article" for a one-digit one, which BM25 does not keep)."""
    candidates: set[int] = set()
    for number in numbers:
        words = [str(number)] if number >= 10 else list(_ARTICLE_WORDS)
        for word in words:
            ids = snapshot.lexical.ids_with_every_term(word)
            candidates.update(() if ids is None else (int(i) for i in ids))
    if allowed is not None:
        candidates &= {int(i) for i in allowed}
    texts = snapshot.chunk_texts(sorted(candidates)) if candidates else {}
    return {chunk_id for chunk_id, text in texts.items() if numbers & set(referenced(text))}
