"""Words in quotes: a question's quoted phrases, and the passages that contain them as typed.

A lawyer who puts "access to case materials" in quotes wants the passages with those words, in that order.
``Searcher.search`` then ranks only the passages that hold every quoted phrase (found through the BM25
postings of its words, then checked against the passage's own text); when none does, it searches as usual and
says so. Matching ignores case and what stands between the words (spaces, line breaks, hyphens, punctuation:
"case-materials" and a phrase broken over two lines of a PDF both match); words are whole words ("case
material" does not match "case materials").
"""

from __future__ import annotations

import re

import numpy as np

from .lexical import UNACCENTED, CJK_CHARACTER

# Opening quote → closing quote. Single quotes are left alone: they are apostrophes as often as quotes.
QUOTES = {'"': '"', "“": "”", "„": "“", "«": "»", "「": "」", "『": "』"}
_QUOTED = re.compile("|".join(f"{re.escape(o)}([^{re.escape(c)}{re.escape(o)}]*){re.escape(c)}" for o, c in QUOTES.items()))
_WORD = re.compile(r"\w+")
_CJK = re.compile(CJK_CHARACTER)


def quoted(question: str) -> tuple[str, ...]:
    """The phrases ``question`` puts in double quotes (straight, curly, „low“, «guillemets», 「corner」), in order,
    each once, with their spaces tidied; quotes with no word between them are ignored."""
    phrases: list[str] = []
    for match in _QUOTED.finditer(question):
        phrase = " ".join(next(g for g in match.groups() if g is not None).split())
        if _WORD.search(phrase) and phrase.casefold() not in (p.casefold() for p in phrases):
            phrases.append(phrase)
    return tuple(phrases)


def pattern(phrase: str) -> re.Pattern:
    """The phrase's words in order, whole words, whatever stands between them, case ignored; a letter typed
    without an accent also matches it with one ("Policia" matches "Policía", "Ковалевой" "Ковалёвой"), a letter
    typed with one only itself."""
    words = _WORD.findall(phrase)
    body = r"[\W_]+".join("".join(_letter(ch) for ch in word) for word in words)
    before = "" if _CJK.match(words[0][0]) else r"(?<!\w)"
    after = "" if _CJK.match(words[-1][-1]) else r"(?!\w)"
    return re.compile(before + body + after, re.IGNORECASE)


def _accented_forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for accented, plain in UNACCENTED.items():
        forms[plain] = forms.get(plain, plain) + accented
    return forms


_ACCENTED = _accented_forms()
# combining accents after a letter (text in decomposed form: "e" + "\u0301")
_COMBINING = "[\u0300-\u036f]*"


def _letter(ch: str) -> str:
    forms = _ACCENTED.get(ch) or _ACCENTED.get(ch.lower())
    return f"[{re.escape(forms + forms.upper())}]{_COMBINING}" if forms else re.escape(ch)


def spans(text: str, phrase: str) -> list[tuple[int, int]]:
    """Where ``phrase`` occurs in ``text``: ``(start, end)`` offsets, ``text[start:end]`` the words as written."""
    return [m.span() for m in pattern(phrase).finditer(text)]


def _matches_all(patterns, text: str) -> bool:
    return all(p.search(text) for p in patterns)


def chunks_containing(snapshot, phrases, allowed=None) -> np.ndarray | None:
    """The ids of the chunks (among ``allowed``, if given) whose text holds every phrase, ascending; ``None`` when no
    phrase has a word the index keeps (stopwords only: "to be"), so the chunks cannot be narrowed down."""
    candidates = None
    for phrase in phrases:
        ids = snapshot.lexical.ids_with_every_term(phrase, unaccented=True)
        if ids is not None:
            candidates = ids if candidates is None else np.intersect1d(candidates, ids)
    if candidates is None:
        return None
    if allowed is not None:
        candidates = np.intersect1d(candidates, np.asarray(allowed, dtype=np.int64))
    texts = snapshot.chunk_texts(candidates.tolist()) if len(candidates) else {}
    patterns = [pattern(phrase) for phrase in phrases]
    return np.array(sorted(i for i, text in texts.items() if _matches_all(patterns, text)), dtype=np.int64)
