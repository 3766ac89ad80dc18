"""What kind of fact an English question asks for (a date, an amount of money, a count) and whether a sentence
gives one: a sentence that gives it is favoured when the answer's sentences are picked (``qa.answer``).

"What fine was Ms. Smailova ordered to pay?" matched "But the court did not find Ms. Smailova guilty." better
than "She was ordered to pay a total amount of 560,000 tenge …" under MiniLM, and the quote read as an acquittal.
"""

from __future__ import annotations

import re

_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
_THE = r"(?:(?:is|was|were|are)\s+the\s+)?"  # "what was the fine", "what is the date of the decision"
_DATE_QUESTION = re.compile(
    r"\bwhen\s+(?:did|was|were|is|are|will|does|do|has|have|had|exactly)\b|"
    rf"\b(?:what|which|on\s+what|on\s+which|in\s+what|in\s+which)\s+{_THE}(?:date|day|year|years|month)\b|"
    r"\b(?:since|until|till|by)\s+when\b|\bhow\s+long\s+ago\b", re.I)
_AMOUNT_QUESTION = re.compile(
    rf"\bhow\s+much\b|\bwhat\s+{_THE}(?:fine|amount|sum|penalty|compensation|damages|fee|fees|salary|budget|price|"
    r"cost)\b", re.I)
_COUNT_QUESTION = re.compile(
    rf"\bhow\s+(?:many|old|long|often)\b|\bwhat\s+{_THE}(?:number|percentage|proportion|share|age)\b|"
    r"\bat\s+what\s+age\b", re.I)

_YEAR = r"\b(?:1[89]\d\d|20\d\d)s?\b"
_FULL_DATE = (rf"\b\d{{1,2}}\s+(?:{_MONTHS})\.?(?:\s+\d{{4}})?\b|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?"
              rf"(?:\s+\d{{4}})?\b|\b(?:{_MONTHS})\s+\d{{4}}\b|\b\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}}\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b")
_DATE = re.compile(rf"{_FULL_DATE}|{_YEAR}")
# What a count or an amount leaves out as a date: full dates, and years after a word that says so ("in 2019");
# "fined 2000 euros" and "about 2000 people" keep their number.
_DATE_IN_COUNTS = re.compile(
    rf"{_FULL_DATE}|\b(?:in|since|by|until|till|from|between|before|after|during|year|years|early|late|mid)[\s-]+{_YEAR}"
    rf"(?:\s*(?:–|-|and|to)\s*{_YEAR})?", re.I)
_CURRENCY = re.compile(
    r"[$€£¥₸₽]|\b(?:USD|EUR|GBP|CHF|KZT|RUB|tenge|dollars?|euros?|pounds?|francs?|roubles?|rubles?|yuan|"
    r"monthly\s+calculation\s+indices|MCI)\b", re.I)
# Not "one", "once", "half", "third": "no one", "Once the complaint…", "the third periodic report".
_NUMBER = re.compile(
    r"\d|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|"
    r"billion|dozen|twice)\b", re.I)
# Numbers that name something rather than count it: "article 17 (1)", "articles 2 and 16", "§ 5", "resolution 24/5",
# "A/80/44".
_REFERENCE = re.compile(
    r"(?:\b(?:articles?|arts?\.|paragraphs?|paras?\.|resolutions?|rules?|sections?|chapters?|parts?|annex|No\.|"
    r"nos?\.)|§)\s*\d+[\w./-]*(?:\s*\(\w+\))*(?:\s*(?:,|and|to|–|-)\s*\d+[\w./-]*(?:\s*\(\w+\))*)*|\S*\d\S*/\S*", re.I)
_LARGE_NUMBER = re.compile(r"\b\d{1,3}(?:,\d{3})+\b|\b\d+(?:[.,]\d+)?\s*(?:thousand|million|billion)\b", re.I)


def asked_fact(question: str) -> str | None:
    """``"date"``, ``"amount"`` or ``"count"`` when the question asks for one (in that order), else None."""
    asks = (("date", _DATE_QUESTION), ("amount", _AMOUNT_QUESTION), ("count", _COUNT_QUESTION))
    return next((kind for kind, pattern in asks if pattern.search(question)), None)


def gives_fact(sentence: str, kind: str) -> bool:
    """Whether a sentence holds the kind of fact ``asked_fact`` named: a date or year; a number beside a currency,
    or a large one (560,000; 2 million); a number that is not part of a date or of a reference (article 28,
    A/80/44)."""
    if kind == "date":
        return bool(_DATE.search(sentence))
    undated = _REFERENCE.sub(" ", _DATE_IN_COUNTS.sub(" ", sentence))
    if kind == "amount":
        return bool(_LARGE_NUMBER.search(undated)) or (bool(_NUMBER.search(undated)) and bool(_CURRENCY.search(undated)))
    if kind == "count":
        return bool(_NUMBER.search(undated))
    raise ValueError(f"unknown kind of fact {kind!r}")
