"""What kind of fact a question asks for (a date, an amount of money, a count; English, French, Spanish and Russian
questions) and whether a sentence gives one (in those languages, and Chinese and Arabic dates and digits): a
sentence that gives it is favoured when the answer's sentences are picked (``qa.answer``).

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
    r"\b(?:since|until|till|by)\s+when\b|\bhow\s+long\s+ago\b|"
    # French, Spanish, Russian: "quand", "quelle date", "en quelle année", "cuándo", "qué fecha", "когда", "какого числа"
    r"\bquand\b|\b(?:quelle|à\s+quelle|quelle\s+est\s+la)\s+date\b|\ben\s+quelle\s+année\b|\bcu[aá]ndo\b|\b(?:qu[eé]|cu[aá]l\s+es\s+la)\s+fecha\b|"
    r"\ben\s+qu[eé]\s+a[nñ]o\b|\bкогда\b|\bкакого\s+числа\b|\bв\s+каком\s+году\b|\bкакой\s+датой\b", re.I)
_AMOUNT_QUESTION = re.compile(
    rf"\bhow\s+much\b|\bwhat\s+{_THE}(?:fine|amount|sum|penalty|compensation|damages|fee|fees|salary|budget|price|"
    r"cost)\b|"
    r"\bquel(?:le)?\s+(?:est\s+(?:l[ea]\s+|l['’]))?(?:montant|amende|somme|indemnité)\b|\bcu[aá]nto\s+(?:dinero|pag|cost)|"
    r"\bqu[eé]\s+(?:multa|monto|cantidad\s+de\s+dinero|indemnizaci[oó]n|fianza)\b|\bde\s+cu[aá]nto\b|"
    r"\bкак(?:ой|ую|ого)\s+(?:штраф|сумм|размер)|\bсколько\s+(?:денег|стоит|заплат|рубл|тенге)", re.I)
_COUNT_QUESTION = re.compile(
    rf"\bhow\s+(?:many|old|long|often)\b|\bwhat\s+{_THE}(?:number|percentage|proportion|share|age)\b|"
    r"\bat\s+what\s+age\b|\bcombien\b|\bcu[aá]nt[oa]s\b|\bсколько\b", re.I)

# A year, also before a Chinese or Japanese date's "年" (2024年1月8日), where no word boundary is
_YEAR = r"\b(?:1[89]\d\d|20\d\d)(?:s?\b|(?=年))"
_FOREIGN_MONTHS = ("janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|"
                   "decembre|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|"
                   "diciembre|январ[яь]|феврал[яь]|марта?|апрел[яь]|ма[яй]|июн[яь]|июл[яь]|августа?|сентябр[яь]|"
                   "октябр[яь]|ноябр[яь]|декабр[яь]")
_FULL_DATE = (rf"\b\d{{1,2}}(?:er)?\s+(?:de\s+)?(?:{_FOREIGN_MONTHS})\b(?:\s+(?:de\s+)?\d{{4}})?|\d{{4}}年\d{{1,2}}月(?:\d{{1,2}}日)?|"
              rf"\b\d{{1,2}}\s+(?:{_MONTHS})\.?(?:\s+\d{{4}})?\b|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?"
              rf"(?:\s+\d{{4}})?\b|\b(?:{_MONTHS})\s+\d{{4}}\b|\b\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}}\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b")
_DATE = re.compile(rf"{_FULL_DATE}|{_YEAR}")
# What a count or an amount leaves out as a date: full dates, and years after a word that says so ("in 2019");
# "fined 2000 euros" and "about 2000 people" keep their number.
_DATE_IN_COUNTS = re.compile(
    rf"{_FULL_DATE}|\b(?:in|since|by|until|till|from|between|before|after|during|year|years|early|late|mid)[\s-]+{_YEAR}"
    rf"(?:\s*(?:–|-|and|to)\s*{_YEAR})?", re.I)
_CURRENCY = re.compile(
    r"[$€£¥₸₽]|\b(?:USD|EUR|GBP|CHF|KZT|RUB|tenge|dollars?|euros?|pounds?|francs?|roubles?|rubles?|yuan|"
    r"monthly\s+calculation\s+indices|MCI|pesos?|d[oó]lares|soles|тенге|рубл\w*|долларов|евро)\b|元|دينار|درهم|ريال|جنيه",
    re.I)
# Not "one", "once", "half", "third": "no one", "Once the complaint…", "the third periodic report".
_NUMBER = re.compile(
    r"\d|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|"
    r"billion|dozen|twice|"
    r"deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt|trente|cent|mille|"
    r"dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|doce|quince|veinte|treinta|cien|mil|"
    r"дв[аеу]х?|тр[иеё]х?|четыр\w*|пят[иь]|шест[иь]|сем[иь]|восьм\w*|девят[иь]|десят[иь]|сто|тысяч\w*)\b|"
    r"[两二三四五六七八九十百千万][次个名人天年月日周小项条件]", re.I)
# Numbers that name something rather than count it: "article 17 (1)", "articles 2 and 16", "§ 5", "resolution 24/5",
# "A/80/44".
_REFERENCE = re.compile(
    r"(?:\b(?:articles?|arts?\.|paragraphs?|paras?\.|resolutions?|rules?|sections?|chapters?|parts?|annex|No\.|"
    r"nos?\.)|§)\s*\d+[\w./-]*(?:\s*\(\w+\))*(?:\s*(?:,|and|to|–|-)\s*\d+[\w./-]*(?:\s*\(\w+\))*)*|\S*\d\S*/\S*", re.I)
# 560,000; 120 000 and 15.000 (thousands set off by a space or a full stop, as French, Spanish and Russian write them)
_LARGE_NUMBER = re.compile(r"\b\d{1,3}(?:,\d{3})+\b|\b\d{1,3}(?:[ \u00a0\u202f.]\d{3})+\b(?![.,]\d)|"
                           r"\b\d+(?:[.,]\d+)?\s*(?:thousand|million|billion|millions?|millones|миллион\w*)\b", re.I)


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
