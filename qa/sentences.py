"""Sentence boundaries for legal and UN prose, as character spans, in the UN's six languages.

Hand-written on purpose: the maintained splitters either need downloaded data
(NLTK punkt) or are too slow for a million passages (pysbd). The rules know the
abbreviations this genre is full of ("art. 64 (9)", "Ms. Smailova", "No. 409",
"i.e.", "H.E. Mr.") and never split inside a numbered paragraph marker ("12.").

Other languages: Chinese and Japanese full stops (。！？) end a sentence with no space after them; the Arabic
question mark (؟) ends one like "?", and the Arabic comma and semicolon (، ؛) after a full stop keep the
sentence going like "," does; French closing guillemets stay with their sentence ("… fin. » Puis");
the abbreviations of French, Spanish and Russian legal text ("al.", "p. ex.", "núm.", "párr.", "EE.UU.",
"ст.", "т.е.", "гг.") do not end one. The rules are the same whatever the text's language: none of them
changes where an English text is split.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof st no nos art arts para paras p pp e.g i.e etc vs v cf inc ltd co jr sr h.e
    rev vol vols fig figs approx gen gov sec secs ch chap ed eds op cit ibid al res doc docs
    jan feb mar apr jun jul aug sep sept oct nov dec u.n u.s u.k mt ft cap add corr sess suppl annex
    """.split()
    # French: alinéa, paragraphe, chapitre, numéro, suivant(s), Maître, Messieurs, Madame, Mademoiselle, exemple
    + """
    al alin paragr chap n° nº éd env ex mme mmes mlle mlles mm me mes ss suiv
    """.split()
    # Spanish: artículo(s), número(s), párrafo(s), página(s), apartado, inciso, capítulo, señor(a)(es), usted
    + """
    artículo núm nros nro párr párrs pág págs apdo inc cap sr sra sres sras srta dra ud uds ej p.ej ee.uu
    """.split()
    # Russian: статья, год/город (years), пункт(ы), часть, глава, то есть, и так далее, и тому подобное,
    # смотри, страница, тысяча, миллион, миллиард, рубль, имени, другие, прочие, редакция, выпуск, том
    + """
    ст гг пп ч гл т.е т.д т.п т.к т.н см стр тыс млн млрд руб им др пр ред вып т и.о напр прим рис
    """.split()
)

# A period/question/exclamation mark (Arabic ؟ too), optional closing quotes or brackets (a French closing
# guillemet may follow a space), then white space; or a CJK full stop, question or exclamation mark, which
# needs no space after it.
_CLOSERS = "\"'”’)\]»"
_END = re.compile(rf"[.!?…؟]+(?:[{_CLOSERS}]|[ \u00a0\u202f]»)*(?=\s)|[。！？]+[{_CLOSERS}”」』）》]*")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A line that opens a numbered or lettered item ("2. The members…", "(b) Any…") starts a sentence even when the line
# before it has no full stop (article 17 (1) of the Convention against Torture ends "…legal experience").
_LIST_ITEM = re.compile(r"(?<=\n)[ \t]*(?:(\d{1,3})\.|\((\d{1,3}|[a-z]{1,4})\))[ \t]+(?=[A-Z])")
_ROMAN_ITEMS = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii")


def _continues_a_list(text: str, block_start: int, item: re.Match) -> bool:
    """Whether a line's item marker opens a list (1., (a), (i)) or follows the item before it on an earlier line of
    the block (2. after 1.): a wrapped line that begins with a number ("raised in 2010 to\n18. The…") does not."""
    number, inner = item.group(1), item.group(2)
    marker = number or inner
    if marker.isdigit():
        previous, form = (str(int(marker) - 1) if int(marker) > 1 else None), ("{}." if number else "({})")
    elif marker in _ROMAN_ITEMS:
        at = _ROMAN_ITEMS.index(marker)
        previous, form = (_ROMAN_ITEMS[at - 1] if at else None), "({})"
        if marker in ("v", "x") and f"({chr(ord(marker) - 1)})" in text[block_start:item.start()]:
            previous = chr(ord(marker) - 1)  # (v) after (u): letters, not roman numerals
    else:
        previous, form = (chr(ord(marker) - 1) if len(marker) == 1 and marker > "a" else None), "({})"
    if previous is None:
        return True
    return re.search(rf"(?:^|\n)[ \t]*{re.escape(form.format(previous))}[ \t]", text[block_start:item.start()]) is not None
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?…]*[\"'”’)\]]*$")


def _is_boundary(text: str, end: int, limit: int) -> bool:
    """Is ``text[:end]`` (ending in sentence punctuation) the end of a sentence?"""
    nxt = end
    while nxt < limit and text[nxt].isspace():
        nxt += 1
    if nxt >= limit:
        return False
    following = text[nxt]
    if following.islower() or following in ",;:)]،؛":
        return False
    if text[end - 1] != ".":
        return True
    match = _WORD_BEFORE.search(text, max(0, end - 40), end)
    if not match:
        return True
    word = match.group(1).rstrip(".")
    lowered = word.lower()
    if lowered in ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isalpha():  # initials: "N.A. applied", "J. Smith"
        return False
    if re.fullmatch(r"(?:[^\W\d_]\.)+[^\W\d_]", word):  # "U.N", "e.g", "т.е" forms
        return False
    line_start = text.rfind("\n", 0, match.start()) + 1
    if text[line_start:match.start()].strip() == "" and re.fullmatch(r"\d{1,3}|[IVXLC]{1,6}|[a-z]", word):
        return False  # "12. The Committee" — a paragraph number, not a sentence
    return True


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into sentences; spans exclude surrounding white space and cover every word."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _blocks(text, start, end):
        cursor = block_start
        cuts = [m.end() for m in _END.finditer(text, block_start, block_end) if _is_boundary(text, m.end(), block_end)]
        cuts += [m.start() for m in _LIST_ITEM.finditer(text, block_start, block_end)
                 if _continues_a_list(text, block_start, m)]
        for cut in sorted(set(cuts)):
            if cut > cursor:
                _append(spans, text, cursor, cut)
                cursor = cut
        _append(spans, text, cursor, block_end)
    return spans


def _blocks(text: str, start: int, end: int):
    cursor = start
    for match in _PARAGRAPH_BREAK.finditer(text, start, end):
        yield cursor, match.start()
        cursor = match.end()
    yield cursor, end


def _append(spans: list, text: str, s: int, e: int) -> None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e > s:
        spans.append((s, e))


_LEADER = re.compile(r"(\.\s?){4,}|…{2,}|\.{2,}\s*\d+\s*$|\s{3,}\d+\s*$", re.M)
_TERMINAL = re.compile(r"[.!?;:…。！？؟؛；：]['\"”’)\]»」』）]*\s*$")
_LETTERS = re.compile(r"[^\W\d_]+")
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A Chinese or Japanese character says about as much as three letters of a European language.
_CJK_WEIGHT = 3
_DIGIT = re.compile(r"\d")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)


# An outline marker opening a heading: "D.", "IV.", "3.2." (not a list item's "(b)").
_OUTLINE = re.compile(r"^(?:[A-Z]|[IVXLC]+|\d+(?:\.\d+)*)\.\s+\S")


def is_prose(text: str) -> bool:
    """Whether a sentence reads as prose that can be quoted as an answer.

    Not prose: table-of-contents lines (leader dots, a page number at the end), letterheads and
    headings in capitals or title case, address and signature blocks (several short lines without
    closing punctuation), salutations, dates and reference numbers (few words, mostly digits), copyright notices,
    a link with a few words (a footnote's "Available at https://...").
    """
    text = text.strip()
    if not text or _LEADER.search(text) or "©" in text:  # a copyright notice is no answer
        return False
    if _URL.search(text) and len(_LETTERS.findall(_URL.sub(" ", text))) < 6:
        return False  # a link with a few words: a footnote's "4 Available at https://..."
    size = len(text) + (_CJK_WEIGHT - 1) * len(_CJK_CHAR.findall(text))  # length as if written in letters
    words = _LETTERS.findall(text)
    cased = [w for w in words if w[0].isupper() or w[0].islower()]
    ends = bool(_TERMINAL.search(text))
    if len(cased) >= 3:
        lower = sum(w[0].islower() for w in cased)
        # A long sentence that ends like one may be mostly names (a list of States or of cases); a one-line sentence
        # that ends like one may be short and full of names and dates ("The Government released Mr. Petrov on
        # 1 July 2024."), where a heading or a letterhead has no full stop.
        one_line = "\n" not in text
        share = 0.1 if ends and len(cased) >= 12 else 0.2 if ends and one_line else 0.3
        if len(cased) < 4 or lower < 2 or lower < share * len(cased):
            return False
    elif size < 12:
        return False
    if len(_DIGIT.findall(text)) > 0.3 * size:  # a Chinese date ("2024年3月1日") in a short sentence is no number line
        return False
    if not ends:
        if _OUTLINE.match(text) and size < 120:
            return False  # a numbered heading: "D. Oral report of the Chair to the General Assembly"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and max(len(line) for line in lines) < 90:
            return False  # an address, signature or letterhead block
        if len(cased) < 8 and size < 60:
            return False  # a heading or caption
    return True


_WHOLE_LOWER_START = frozenset("e.g. i.e. de del della di du da van von der den al el la le ibn bin".split())


def cut_before(text: str) -> str:
    """``"… "`` for a quote that starts inside a sentence (a lower-case first word: its passage was cut in the middle
    of a long sentence), else ``""``: shown before the quote, which stays the document's exact text. A first word
    with a capital inside ("iPhone"), an "e.g." or a name's particle ("de Souza", "al-Hassan") starts a whole one."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    word = re.split(r"[-’']", first, maxsplit=1)[0]
    return "… " if word[:1].islower() and word.islower() and word not in _WHOLE_LOWER_START else ""
