"""Questions as a hurried typist writes them: one typing slip in one content word, the same every run.

``misspell(question)`` picks a word of five letters or more that is not a stopword (seeded by the question's
own text, so a question always gets the same slip) and makes one of the four slips spelling correctors
model: two neighbouring letters swapped, a letter dropped, a letter doubled, a letter replaced by a
neighbour on a QWERTY keyboard. ``bench/quality.py --typos`` asks every question so.
"""

from __future__ import annotations

import hashlib
import random
import re

from qa.lexical import STOPWORDS
from qa.spelling import NEXT_KEYS

_WORD = re.compile(r"[A-Za-z]{5,}")


def slip(word: str, rng: random.Random) -> str:
    """``word`` with one typing slip inside it (its first letter kept, as people rarely miss that one)."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "neighbour"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:] if word[i] != word[i + 1] else word[:i] + word[i + 1:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    near = sorted(NEXT_KEYS.get(word[i].lower(), word[i].lower()))
    letter = rng.choice(near)
    return word[:i] + (letter.upper() if word[i].isupper() else letter) + word[i + 1:]


def misspell(question: str) -> str:
    """``question`` with one slip in one of its content words of five letters or more (unchanged without one)."""
    rng = random.Random(hashlib.sha256(question.encode("utf-8")).digest())
    words = [m for m in _WORD.finditer(question) if m.group().lower() not in STOPWORDS]
    if not words:
        return question
    m = rng.choice(words)
    return question[:m.start()] + slip(m.group(), rng) + question[m.end():]
