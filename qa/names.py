"""Names typed in Latin letters, found in passages of other languages and scripts.

A government replies in its own language, and a lawyer asks in English: "When was Khalid al-Omari arrested?" of a
reply that writes "خالد العمري", "Wang Ming" for "王明", "Petrova" for "Петрова". Neither model reads a name across
scripts, and BM25 analyses each passage in its own language. A name of the question (a run of capitalised words
that are no common English words) is compared with a candidate passage of another language by its consonant
skeleton: both are transliterated to Latin letters (anyascii: Cyrillic letter by letter, Arabic consonants,
Chinese pinyin syllables), lower-cased, and stripped of vowels, of the letters transliterations write for long
vowels ("y", "w") and of doubled letters, so "Khalid al-Omari" and "خالد العمري" both read "khldlmr", "Petrova"
and "Петровой" both "ptrv". The name matches where its skeleton runs from the start of a word of the passage to the
end of one. Skeletons shorter than ``MIN_SKELETON`` letters ("Li", "Omar") are too common to tell anything.
"""

from __future__ import annotations

import re
from functools import lru_cache

from anyascii import anyascii

from .language import UNDETERMINED, script_of
from .lexical import index_terms
from .spelling import zipf

MIN_SKELETON = 4
COMMON_ENGLISH_ZIPF = 4.5  # "March", "Court", "State" are words, not names; "Khalid" 3.1, "Petrova" 1.9
# Weighted-mean z-scores added to a passage of another language that writes a name of the question, as
# ``articles.BONUS`` for an article asked for by number (chosen on the 40 questions of tests/data/names_questions.jsonl:
# README, *Names across scripts*), but the passage is not put first for it.
BONUS = 2.0

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")  # "al-Omari" is two words: a particle and a name
_PARTICLES = frozenset({"al", "el", "bin", "ibn", "abu", "bint", "de", "del", "da", "van", "von", "der", "le", "la"})
_DROPPED = re.compile(r"[^a-z]|[aeiouyw]")
_DOUBLED = re.compile(r"(.)\1+")
_LATIN_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def skeleton(text: str) -> str:
    """The consonant skeleton of a word or name in any script: "Khalid al-Omari" → "khldlmr"."""
    return _DOUBLED.sub(r"\1", _DROPPED.sub("", anyascii(text).lower()))


def _common(word: str) -> bool:
    return (zipf(word, "en") or 0.0) >= COMMON_ENGLISH_ZIPF


def asked_names(question: str, held=None) -> tuple[str, ...]:
    """The skeletons of the names in ``question`` typed in Latin letters: runs of capitalised words (particles such as
    "al" or "bin" may join them) that are no common English words and no acronyms; with ``held`` (``word -> bool``:
    the passages in the question's language hold it), not a run whose every word is held ("Universal Declaration",
    "Special Rapporteur": words the question's language writes, not names another script must be searched for)."""
    runs: list[list[str]] = []
    current: list[str] = []
    for match in _WORD.finditer(question):
        word = match.group()
        latin = anyascii(word)[:1] == word[:1]  # "Dupré" is, "Петрова" is not: written as the passage is
        capitalised = word[:1].isupper() and not (word.isupper() and len(word) <= 6) and latin
        if capitalised and not _common(word.lower()):
            current.append(word)
        elif current and word.lower() in _PARTICLES:
            current.append(word)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    names = []
    for run in runs:
        while run and run[-1].lower() in _PARTICLES:
            run = run[:-1]
        if held is not None and all(held(word) for word in run if word.lower() not in _PARTICLES):
            continue
        # a name of two words in either order: "Wang Ming" and "Ming Wang", "Petrova Anna"
        for words in (run, run[::-1]) if len(run) == 2 else (run,):
            name = skeleton(" ".join(words))
            if len(name) >= MIN_SKELETON and name not in names:
                names.append(name)
    return tuple(names)


@lru_cache(maxsize=4096)
def _skeleton_with_bounds(text: str) -> tuple[str, frozenset[int]]:
    """A passage's skeleton and the positions in it where a word starts or ends."""
    pieces, bounds, length = [], {0}, 0
    for word in _LATIN_WORD.findall(anyascii(text)):  # Chinese comes as "WangMingXianSheng": a word a syllable
        piece = skeleton(word)
        if piece:
            pieces.append(piece)
            length += len(piece)
            bounds.add(length)
    return "".join(pieces), frozenset(bounds)


def names_in(text: str, names: tuple[str, ...]) -> bool:
    """Whether ``text`` writes one of the ``names`` (skeletons), from the start of a word to the end of one."""
    whole, bounds = _skeleton_with_bounds(text)
    for name in names:
        start = whole.find(name)
        while start >= 0:
            if start in bounds and start + len(name) in bounds:
                return True
            start = whole.find(name, start + 1)
    return False


def chunks_naming(snapshot, question: str, chunk_ids, asked_in: str, languages: dict | None = None) -> set[int]:
    """Those of ``chunk_ids`` whose text writes a name of ``question`` where BM25 cannot match it: in another language
    than ``asked_in`` (BM25 reads a question in its own language only), or, for a question whose language is
    undetermined (read in every language), in another script. ``languages``: the chunks' languages, when the caller
    has read them already."""
    languages = snapshot.chunk_languages(chunk_ids) if languages is None else languages
    if asked_in == UNDETERMINED:
        other = [c for c in chunk_ids if script_of(languages.get(c)) != "LATIN"]
    else:
        other = [c for c in chunk_ids if languages.get(c, asked_in) != asked_in]
    if not other:  # an index in the question's language: nothing to read
        return set()
    vocabulary, frequencies = snapshot.lexical.vocabulary()

    def held(word: str) -> bool:  # as the question's language analyses it (a Chinese question's Latin words too)
        terms = [vocabulary.get(term) for term in index_terms(word, asked_in)]
        return bool(terms) and all(term is not None and frequencies[term] > 0 for term in terms)

    names = asked_names(question, held)
    if not names:
        return set()
    rows = snapshot.chunks(other)
    return {c for c in other if c in rows and names_in(rows[c].text, names)}
