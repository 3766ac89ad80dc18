"""Typing slips in questions: a word the index does not hold, read as the word of the documents it was meant to be.

A word of the question is a slip when its term (``qa.lexical``'s analysis) is not in the index and its language
hardly uses it (wordfreq's Zipf frequency below ``COMMON_ZIPF``: "Interpol", "book" and "wether" are words;
"Kazahstan", "governmnet" and "comittee" are not). It is read as the closest word one slip away — a letter
dropped, doubled, swapped with its neighbour, or replaced by a key next to it or, for a vowel, by another vowel
(optimal string alignment distance 1; 2 for words of ``SLIP_TWO_FROM`` letters or more) — with the same first
letter, among the words the index holds: the language's ``SURFACE_WORDS`` commonest words whose stem is an index
term, when ten times as common as the word typed ("uncultured" is not "cultured"), and the index's names (terms
that are no stem of a common word: "smailova"), when the word typed is no word at all. Never respelled: words with
a digit, capitals inside a word that is not all capitals ("dLNs"), all-capital words of up to ``ACRONYM_UP_TO``
letters ("CRPD", "OPCAT"), words in quotes, words shorter than ``SLIP_ONE_FROM`` and CJK text. What it gains is measured by ``bench/quality.py --typos`` and
``--sets typos`` (README, *Typing slips*).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from .language import letter_script, script_of
from .lexical import CJK, ENGLISH, TOKEN_PATTERN, analysed_words, stem, without_arabic_marks, word_terms
from .phrases import quoted

SLIP_ONE_FROM = 4
SLIP_TWO_FROM = 10
ACRONYM_UP_TO = 6
SURFACE_WORDS = 100_000
MORE_COMMON_BY = 1.0  # Zipf units: ten times as common
COMMON_ZIPF = 2.5  # about once in 300,000 words: "extradite" 2.6 and "quorum" 3.1 are words, "harrassment" 2.2 not

_DIGIT = re.compile(r"\d")
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_VOWELS = frozenset("aeiou")
# each letter's neighbours on a QWERTY keyboard (bench/typos.py makes its slips with them too)
NEXT_KEYS = {
    key: {_KEYBOARD[r][c + d] for d in (-1, 1) if 0 <= c + d < len(_KEYBOARD[r])}
    | {_KEYBOARD[o][c] for o in (r - 1, r + 1) if 0 <= o < 3 and c < len(_KEYBOARD[o])}
    for r, row in enumerate(_KEYBOARD) for c, key in enumerate(row)
}


def load_word_lists(languages: Iterable[str] = (ENGLISH,)) -> None:
    """Load the word lists respelling reads (about 1 s for English), so that a server's first question does not
    wait for them."""
    for language in languages:
        zipf("the", language)
        _surface_words(language)


@lru_cache(maxsize=4096)
def zipf(word: str, language: str) -> float | None:
    """wordfreq's Zipf frequency of ``word`` in ``language`` (0 for a word it never saw), None for a language it has
    no list for."""
    import wordfreq

    try:
        return wordfreq.zipf_frequency(word, language)
    except LookupError:
        return None


@lru_cache(maxsize=None)
def _surface_words(analyzer: str) -> tuple[tuple[str, str], ...]:
    """(word, its index term) for wordfreq's SURFACE_WORDS commonest words of the language, commonest first; none
    for a language wordfreq has no list for."""
    import wordfreq

    try:
        words = [w for w in wordfreq.top_n_list(analyzer, SURFACE_WORDS) if TOKEN_PATTERN.fullmatch(w)]
    except LookupError:
        return ()
    return tuple(zip(words, word_terms(words, analyzer)))


def _plausible(typed: str, meant: str) -> bool:
    """False only when ``typed`` replaces one letter of ``meant`` by a consonant key not next to it on a QWERTY
    keyboard ("caning" for "caring"); a vowel for a vowel is how words are misspelt by ear ("emergancy",
    "protocal"); any other slip, and letters off that keyboard, pass."""
    if len(typed) != len(meant):
        return True
    differ = [(a, b) for a, b in zip(typed, meant) if a != b]
    if len(differ) != 1:
        return True
    a, b = differ[0]
    return a not in NEXT_KEYS or b not in NEXT_KEYS or a in NEXT_KEYS[b] or (a in _VOWELS and b in _VOWELS)


class Speller:
    """The words one index holds, by language, length and first letter, for ``respell``. One per index generation;
    a language's words are gathered on the first slip in that language (about 0.3 s for the UN documents in English,
    1 s a language with wordfreq's list), so that a question without slips costs nothing."""

    def __init__(self, vocab: dict[str, int], document_frequencies: np.ndarray):
        self._vocab = vocab
        self._df = np.asarray(document_frequencies)
        self._buckets: dict[tuple[str, int, str], tuple[list, list]] = {}  # (analyser, length, first letter)
        self._gathered: set[str] = set()
        self._gathering = threading.Lock()

    def _gather(self, analyzer: str) -> None:
        if analyzer in self._gathered or analyzer in CJK:
            return
        with self._gathering:
            if analyzer not in self._gathered:
                self._add_language(analyzer)
                self._gathered.add(analyzer)

    def holds(self, term: str) -> bool:
        """Whether some passage of the index holds ``term``."""
        i = self._vocab.get(term)
        return i is not None and self._df[i] > 0

    def _add_language(self, analyzer: str) -> None:
        buckets = self._buckets
        common_stems = set()
        for rank, (word, term) in enumerate(_surface_words(analyzer)):
            common_stems.add(term)
            if self.holds(term):
                words, orders = buckets.setdefault((analyzer, len(word), word[0]), ([], []))
                words.append(word), orders.append(rank)
        # names: the index's terms that are no stem of a common word ("elig"), commonest first
        prefix = "" if analyzer == ENGLISH else analyzer + ":"
        df = self._df.tolist()
        for term, i in self._vocab.items():
            if df[i] and term not in common_stems and (term.startswith(prefix) if prefix else ":" not in term[:4]) \
                    and not _DIGIT.search(term):
                word = term[len(prefix):]
                words, orders = buckets.setdefault((analyzer, len(word), word[0]), ([], []))
                words.append(word), orders.append(SURFACE_WORDS + 1_000_000_000 - df[i])

    def closest(self, word: str, analyzer: str) -> str | None:
        """The word of the index one slip from ``word`` (two for long words), with its first letter: the commonest at
        the least distance."""
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        self._gather(analyzer)
        slips = 2 if len(word) >= SLIP_TWO_FROM else 1
        # a name is a term stemming leaves whole, and only a word stemming leaves whole can be one misspelt: else the
        # term is the stem of a longer word ("leukemogenesi" for "leuekmogenesis"), no word to put in a question
        names_too = stem(word, analyzer) == word
        best = None  # (distance, order of preference, word)
        for length in range(len(word) - slips, len(word) + slips + 1):
            words, orders = self._buckets.get((analyzer, length, word[0]), ((), ()))
            for candidate, distance, i in process.extract(word, words, scorer=OSA.distance, score_cutoff=slips, limit=None):
                name = orders[i] >= SURFACE_WORDS
                if _plausible(word, candidate) and (not name or (names_too and stem(candidate, analyzer) == candidate)):
                    best = min(best or (distance, orders[i], candidate), (distance, orders[i], candidate))
        return None if best is None else best[2]

    def respell(self, query: str, analyzers: Iterable[str]) -> tuple[str, dict[str, str]]:
        """``query`` with each slip replaced by the word it was meant to be, and {typed: meant}."""
        analyzers = [a for a in analyzers if a not in CJK]
        skipped = {w.lower() for w in TOKEN_PATTERN.findall(query)
                   if (w.isupper() and len(w) <= ACRONYM_UP_TO) or (not w.isupper() and any(ch.isupper() for ch in w[1:]))}
        skipped.update(w.lower() for phrase in quoted(query) for w in TOKEN_PATTERN.findall(phrase))
        # A word that the index holds, or that one of the question's languages commonly uses, is no slip in any of
        # them ("tortured" is not French "torture" when the index also holds French).
        candidates: dict[str, list[tuple[str, float]]] = {}
        for analyzer in analyzers:
            for word, term in analysed_words(query, analyzer):
                if word in skipped or len(word) < SLIP_ONE_FROM or _DIGIT.search(word):
                    continue
                if self.holds(term):
                    skipped.add(word)
                    continue
                if letter_script(word) != script_of(analyzer):  # a Latin name is no Russian slip
                    continue
                typed_zipf = zipf(word, analyzer)
                if typed_zipf is not None and typed_zipf >= COMMON_ZIPF:
                    skipped.add(word)
                elif typed_zipf is not None:  # None: the language has no word list
                    candidates.setdefault(word, []).append((analyzer, typed_zipf))
        meant: dict[str, str] = {}
        for word, readings in candidates.items():
            for analyzer, typed_zipf in readings:
                if word in skipped or word in meant:
                    break
                surface = self.closest(word, analyzer)
                if surface is None:
                    continue
                # as a commoner word only ("uncultured" is not "cultured"), as a name of the index only when the word
                # typed is no word at all ("Smailva", not "Karimov" for "Karimova")
                surface_zipf = zipf(surface, analyzer)
                if (surface_zipf - typed_zipf >= MORE_COMMON_BY) if surface_zipf else typed_zipf == 0:
                    meant[word] = surface
        if not meant:
            return query, {}
        typed: dict[str, str] = {}

        def replace(match: re.Match) -> str:
            word = match.group()
            surface = meant.get(word.lower())
            if surface is None:
                return word
            surface = surface.upper() if word.isupper() else surface.capitalize() if word[:1].isupper() else surface
            typed[word] = surface
            return surface

        # Arabic words are matched as analysed, without their vowel marks
        text = without_arabic_marks(query) if "ar" in analyzers else query
        return TOKEN_PATTERN.sub(replace, text), typed


_BUILDING = threading.Lock()
_SPELLERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # LexicalIndex → Speller


def respell(index, query: str) -> tuple[str, dict[str, str]]:
    """``query`` with each typing slip read as the word of a ``qa.lexical.LexicalIndex`` it was meant to be
    ("governmnet" → "government", "Smailva" → "Smailova"), and {typed: meant}."""
    if len(index) == 0:
        return query, {}
    return speller_for(index).respell(query, index.query_analyzers(query))


def own_slips(respelled: dict[str, str], question: str) -> dict[str, str]:
    """Those of ``respelled`` typed in ``question`` itself (not in a previous question it was read with)."""
    words = set(TOKEN_PATTERN.findall(question)) | set(TOKEN_PATTERN.findall(without_arabic_marks(question)))
    return {typed: meant for typed, meant in respelled.items() if typed in words}


def speller_for(index) -> Speller:
    """The ``Speller`` of a ``qa.lexical.LexicalIndex`` (one generation's), built once: other threads wait for it
    rather than build it again; it goes with its index."""
    speller = _SPELLERS.get(index)
    if speller is None:
        with _BUILDING:
            speller = _SPELLERS.get(index)
            if speller is None:
                vocab, document_frequencies = index.vocabulary()
                speller = _SPELLERS[index] = Speller(vocab, document_frequencies)
    return speller
