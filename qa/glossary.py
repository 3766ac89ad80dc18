"""Everyday words → the documents' formal words: a question is searched with the treaty wording of what it
says in plain words added ("strip me of my citizenship" → "deprived nationality arbitrarily").

The list (``glossary.tsv``, "everyday phrase<TAB>formal words") was written from the treaty and fact-sheet texts
and general knowledge of human-rights law, by someone who had not seen any question set. An everyday phrase
matches when all its words (English analysis: stopwords dropped, Snowball stems) are in the question, those of a
phrase of several words within a few words of each other ("strip me of my citizenship" matches "strip
citizenship").
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .lexical import ENGLISH, tokenize

GLOSSARY_FILE = Path(__file__).with_name("glossary.tsv")
WINDOW_SLACK = 3  # words a phrase of n words may spread over beyond its own n


@lru_cache(maxsize=1)
def _entries() -> tuple[tuple[tuple[str, ...], str], ...]:
    entries = []
    for line in GLOSSARY_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        phrase, formal = line.split("\t")
        stems = tuple(tokenize(phrase, ENGLISH))
        if stems:
            entries.append((stems, formal.strip()))
    return tuple(entries)


def _matches(stems: tuple[str, ...], tokens: list[str]) -> bool:
    positions = [[i for i, t in enumerate(tokens) if t == stem] for stem in stems]
    if not all(positions):
        return False
    if len(stems) == 1:
        return True
    span = len(stems) + WINDOW_SLACK
    starts = sorted({p for places in positions for p in places})  # in any order: "citizenship they can strip"
    return any(all(any(start <= p < start + span for p in places) for places in positions) for start in starts)


def formal_words(question: str) -> list[str]:
    """The formal wordings of the everyday phrases in ``question`` (each once, in the list's order)."""
    tokens = tokenize(question, ENGLISH)
    found = []
    for stems, formal in _entries():
        if formal not in found and _matches(stems, tokens):
            found.append(formal)
    return found


def expand(question: str) -> str:
    """``question`` with the formal wordings of its everyday phrases appended."""
    words = formal_words(question)
    return question if not words else f"{question} ({'; '.join(words)})"
