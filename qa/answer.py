"""Answer stage: passages → highlighted answer sentences, a short extractive answer, and "not found".

Every sentence is a span of the document's extracted text, so what is quoted is
exactly what the document says.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import replace
from functools import lru_cache

import numpy as np

from . import vectors
from .retrieval import check_question, expand_acronyms, search
from .sentences import sentence_spans
from .types import Answer, AnswerSentence, Passage

# Logistic model for "the documents answer this" over (best sentence cosine, best passage cosine,
# query-word coverage); fitted by bench/quality.py --calibrate on tests/data/*_questions.jsonl.
# Sentence cosines differ with their source, so there is one fit per kind of index: stored sentence
# vectors ("title\nsentence", the default) and, for indexes built with QA_SENTENCE_VECTORS=0, bare
# sentences encoded at question time (fitted in session 1 with the two-list hybrid).
CONFIDENCE_WEIGHTS = (2.537, 4.116, 4.528)
CONFIDENCE_BIAS = -5.486
CONFIDENCE_WEIGHTS_BARE_SENTENCES = (5.503, 2.842, 2.339)
CONFIDENCE_BIAS_BARE_SENTENCES = -5.272
MAX_ANSWER_SENTENCES = 3
MIN_SENTENCE_CHARS = 25

_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|what of|and what|then)\b|\b(she|he|her|his|they|them|their|it|its|this|that|these|those)\b",
    re.I,
)


_SENTENCE_CACHE: dict[tuple[int, str], np.ndarray] = {}
_SENTENCE_CACHE_SIZE = 50_000


def encode_cached(embedder, texts: list[str]) -> np.ndarray:
    """Embed sentences, reusing vectors of sentences seen in earlier questions (bounded cache)."""
    dimension = getattr(embedder, "dimension", 384)
    if not texts:
        return np.zeros((0, dimension), dtype=np.float32)
    key = id(embedder)
    missing = list(dict.fromkeys(t for t in texts if (key, t) not in _SENTENCE_CACHE))
    if missing:
        if len(_SENTENCE_CACHE) + len(missing) > _SENTENCE_CACHE_SIZE:
            _SENTENCE_CACHE.clear()
        for text, vector in zip(missing, embedder.encode(missing)):
            _SENTENCE_CACHE[(key, text)] = vector
    return np.stack([_SENTENCE_CACHE[(key, t)] for t in texts])


def contextualize(question: str, history: list[str] | None) -> str:
    """Make a follow-up question self-contained by prefixing the previous question when it leans on it."""
    if not history:
        return question
    previous = history[-1]
    words = question.split()
    if len(words) <= 6 or _FOLLOW_UP.search(question):
        return f"{previous} {question}"
    return question


def _sentences_of(passage: Passage) -> list[tuple[int, int]]:
    """Absolute sentence spans inside a passage (offsets into the document's extracted text)."""
    spans = sentence_spans(passage.text)
    return [(passage.start + s, passage.start + e) for s, e in spans]


def _sentence_vectors(store, embedder, passages: list[Passage]) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """``(passage index, absolute start, end)`` of every sentence of the passages, and their vectors:
    the ones stored with the index when it has them, else encoded now (and cached)."""
    stored = store.sentence_vectors([p.chunk_id for p in passages])  # {} for an index built without them
    flat, parts = [], []
    for i, passage in enumerate(passages):
        if passage.chunk_id in stored:
            spans, matrix = stored[passage.chunk_id]
            flat += [(i, passage.start + int(s), passage.start + int(e)) for s, e in spans]
            parts.append(matrix)
        else:  # an index built without sentence vectors (or a chunk replaced since it was retrieved)
            spans = _sentences_of(passage)
            flat += [(i, s, e) for s, e in spans]
            texts = [passage.text[s - passage.start : e - passage.start] for s, e in spans]
            parts.append(encode_cached(embedder, texts))
    matrix = np.concatenate(parts) if parts else np.zeros((0, int(store.manifest["dimension"])), dtype=np.float32)
    return flat, matrix


# Words that frame a question rather than say what it is about.
_FILLER = frozenset(
    "say says said tell told mention mentioned describe explain know happen happened regard regarding concern "
    "concerning please anything someone something what which who whom whose how when where why did does do done "
    "was were is are am be been being has have had any there here about also would could should can may might "
    "will shall much many get got give given make made".split()
)


@lru_cache(maxsize=1)
def _filler_stems() -> frozenset:
    from .lexical import tokenize

    return frozenset(t for word in _FILLER for t in tokenize(word))


def query_coverage(query: str, texts: list[str]) -> float:
    """Share of the question's content words (stemmed, stopwords removed) found in the best passage."""
    from .lexical import tokenize

    wanted = set(tokenize(query)) - _filler_stems()
    if not wanted:
        return 0.0
    return max((len(wanted & set(tokenize(text))) / len(wanted) for text in texts), default=0.0)


def confidence(sentence: float, passage: float, coverage: float, stored_sentences: bool = True) -> float:
    """A probability-like score in [0, 1] that the documents answer the question (logistic model)."""
    weights, bias = (
        (CONFIDENCE_WEIGHTS, CONFIDENCE_BIAS)
        if stored_sentences
        else (CONFIDENCE_WEIGHTS_BARE_SENTENCES, CONFIDENCE_BIAS_BARE_SENTENCES)
    )
    z = bias + weights[0] * sentence + weights[1] * passage + weights[2] * coverage
    return 1.0 / (1.0 + math.exp(-z))


def ask(
    store,
    embedder,
    question: str,
    k: int = 5,
    docs: list[str] | None = None,
    mode: str = "hybrid",
    history: list[str] | None = None,
    max_question_chars: int = 2000,
) -> Answer:
    """Retrieve passages for a question, highlight the sentences that answer it and decide if it is answered."""
    started = time.perf_counter()
    question = check_question(question, max_question_chars)
    query = expand_acronyms(contextualize(question, history))
    timings: dict = {}
    query_vector = embedder.encode_query(query) if mode != "bm25" else None
    passages = search(store, embedder, query, k=k, docs=docs, mode=mode, query_vector=query_vector, timings=timings)
    if not passages:
        return Answer(question, (), (), False, 0.0, mode, timings)
    if query_vector is None:
        query_vector = embedder.encode_query(query)

    t0 = time.perf_counter()
    flat, matrix = _sentence_vectors(store, embedder, passages)
    sentence_scores = matrix @ query_vector[0] if len(flat) else np.zeros(0)
    passage_scores = vectors.reconstruct(store.vector_index(), [p.chunk_id for p in passages]) @ query_vector[0]
    timings["sentences_ms"] = (time.perf_counter() - t0) * 1000

    highlighted = []
    for i, passage in enumerate(passages):
        scored = [(float(sentence_scores[j]), s, e) for j, (pi, s, e) in enumerate(flat) if pi == i]
        scored = [x for x in scored if x[2] - x[1] >= MIN_SENTENCE_CHARS] or scored
        scored.sort(key=lambda x: (-x[0], x[1]))  # ties: the earlier sentence
        keep = []
        if scored:
            best = scored[0][0]
            keep = [(s, e) for score, s, e in scored[:2] if score >= best - 0.05]
        highlighted.append(replace(passage, highlights=tuple(sorted(keep))))

    # Ties (a sentence shared by two overlapping passages) go to the higher-ranked passage, so its marker
    # points at the first card that shows it.
    ranked_sentences = sorted(
        ((float(sentence_scores[j]), pi, s, e) for j, (pi, s, e) in enumerate(flat) if e - s >= MIN_SENTENCE_CHARS),
        key=lambda x: (-x[0], x[1], x[2]),
    )
    best_sentence = ranked_sentences[0][0] if ranked_sentences else 0.0
    chosen = []
    seen = set()
    for score, pi, s, e in ranked_sentences:
        if len(chosen) == MAX_ANSWER_SENTENCES or score < best_sentence - 0.08:
            break
        passage = passages[pi]
        if (passage.doc, s, e) in seen:  # overlapping chunks share sentences
            continue
        seen.add((passage.doc, s, e))
        chosen.append(AnswerSentence(passage.text[s - passage.start : e - passage.start], passage.doc, s, e, passage.rank))
    signals = {
        "sentence": best_sentence,
        "passage": float(passage_scores.max()),
        "coverage": query_coverage(query, [p.text for p in passages[:3]]),
    }
    conf = confidence(**signals, stored_sentences=bool(store.manifest.get("sentence_vectors")))
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    cosines = {p.chunk_id: float(c) for p, c in zip(passages, passage_scores)}
    return Answer(question, tuple(highlighted), tuple(chosen), conf >= 0.5, round(conf, 4), mode, timings, signals, cosines)


def answer_to_json(answer: Answer) -> dict:
    """The ``ask --json`` object."""
    return {
        "question": answer.question,
        "mode": answer.mode,
        "answerable": answer.answerable,
        "confidence": answer.confidence,
        "answer": [
            {"text": s.text, "doc": s.doc, "start": s.start, "end": s.end, "passage_rank": s.passage_rank}
            for s in answer.sentences
        ],
        "passages": [
            {
                "rank": p.rank,
                "score": round(p.score, 6),
                "doc": p.doc,
                "title": p.title,
                "symbol": p.symbol,
                "section": p.section,
                "para": p.para,
                "page": p.page,
                "page_end": p.page_end,
                "page_label": p.page_label,
                "start": p.start,
                "end": p.end,
                "text": p.text,
                "highlights": [list(h) for h in p.highlights],
            }
            for p in answer.passages
        ],
    }
