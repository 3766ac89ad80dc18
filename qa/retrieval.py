"""Retrieval stage: a question → ranked ``Passage``s (dense, BM25 or hybrid)."""

from __future__ import annotations

import re
import time

import numpy as np

from . import fusion, vectors
from .errors import InvalidQuestionError
from .types import Passage

MODES = ("hybrid", "dense", "bm25")


# Acronyms that people who work with UN human-rights documents type, while the documents often spell
# the name out ("article 17 of the International Covenant on Civil and Political Rights"). A question
# using one is searched with the full name added (dense and BM25 alike).
ACRONYMS = {
    "ICCPR": "International Covenant on Civil and Political Rights",
    "ICESCR": "International Covenant on Economic, Social and Cultural Rights",
    "UDHR": "Universal Declaration of Human Rights",
    "CEDAW": "Convention on the Elimination of All Forms of Discrimination against Women",
    "CERD": "International Convention on the Elimination of All Forms of Racial Discrimination",
    "CRC": "Convention on the Rights of the Child",
    "CRPD": "Convention on the Rights of Persons with Disabilities",
    "CED": "International Convention for the Protection of All Persons from Enforced Disappearance",
    "CMW": "International Convention on the Protection of the Rights of All Migrant Workers",
    "CAT": "Convention against Torture; Committee against Torture",
    "OPCAT": "Optional Protocol to the Convention against Torture",
    "OHCHR": "Office of the United Nations High Commissioner for Human Rights",
    "HRC": "Human Rights Council; Human Rights Committee",
    "UPR": "Universal Periodic Review",
    "NHRI": "national human rights institution",
    "HRD": "human rights defender",
    "HRDS": "human rights defenders",
    "NGO": "non-governmental organization",
    "NGOS": "non-governmental organizations",
    "UNGA": "United Nations General Assembly",
    "ECOSOC": "Economic and Social Council",
    "UNHCR": "United Nations High Commissioner for Refugees",
    "SR": "Special Rapporteur",
    "WGAD": "Working Group on Arbitrary Detention",
}
_ACRONYM = re.compile(r"\b[A-Z]{2,7}s?\b")


def expand_acronyms(question: str) -> str:
    """The question with the full name of each known acronym appended (once; a name already in it is not repeated)."""
    additions = []
    lowered = question.lower()
    for match in _ACRONYM.finditer(question):
        name = ACRONYMS.get(match.group(0).upper())
        if name and name.lower() not in lowered and name not in additions:
            additions.append(name)
    return question if not additions else f"{question} ({'; '.join(additions)})"


def check_question(question: str, max_chars: int) -> str:
    """Strip a question and refuse empty or absurdly long ones."""
    if question is None or not question.strip():
        raise InvalidQuestionError("The question is empty: type a question about the documents.")
    question = " ".join(question.split())
    if len(question) > max_chars:
        raise InvalidQuestionError(
            f"The question is too long ({len(question):,} characters; the limit is {max_chars:,}). "
            "Ask about one thing at a time."
        )
    return question


def search(
    store,
    embedder,
    question: str,
    k: int = 5,
    docs: list[str] | None = None,
    mode: str = "hybrid",
    query_vector: np.ndarray | None = None,
    timings: dict | None = None,
) -> list[Passage]:
    """Top-k passages for ``question``; ``docs`` restricts the search to those indexed documents."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode '{mode}': use one of {', '.join(MODES)}.")
    timings = {} if timings is None else timings
    question = expand_acronyms(question)
    allowed = None
    if docs:
        allowed = store.chunk_ids_for_docs(store.resolve_docs(docs))
    dense, lexical, query_vector = candidate_lists(
        store, embedder, question, max(fusion.CANDIDATES, k), mode, allowed, query_vector, timings
    )
    t0 = time.perf_counter()
    if mode == "dense":
        ranked = dense
    elif mode == "bm25":
        ranked = lexical
    elif store.manifest.get("sentence_vectors"):
        ranked = fusion.fuse(*sentence_signals(store, question, query_vector, dense, lexical))
    else:
        ranked = fusion.fuse(dense, lexical)
    timings["fusion_ms"] = (time.perf_counter() - t0) * 1000
    return to_passages(store, ranked[:k])


def candidate_lists(store, embedder, question: str, depth: int, mode: str = "hybrid", allowed=None,
                    query_vector: np.ndarray | None = None, timings: dict | None = None):
    """``(dense, lexical, query_vector)``: the top ``depth`` (chunk id, score) by cosine and by BM25
    (each only if ``mode`` uses it), among ``allowed`` chunk ids if given; the question as given."""
    timings = {} if timings is None else timings
    dense: list[tuple[int, float]] = []
    lexical: list[tuple[int, float]] = []
    if mode in ("dense", "hybrid"):
        t0 = time.perf_counter()
        if query_vector is None:
            query_vector = embedder.encode_query(question)
        t1 = time.perf_counter()
        dense = vectors.search(store.vector_index(), query_vector, depth, allowed)
        t2 = time.perf_counter()
        timings["encode_ms"] = (t1 - t0) * 1000
        timings["faiss_ms"] = (t2 - t1) * 1000
    if mode in ("bm25", "hybrid"):
        t0 = time.perf_counter()
        lexical = store.lexical_index().search(question, depth, set(allowed.tolist()) if allowed is not None else None)
        timings["bm25_ms"] = (time.perf_counter() - t0) * 1000
    return dense, lexical, query_vector


def sentence_signals(store, question: str, query_vector: np.ndarray, dense, lexical):
    """The three lists of ``fusion.fuse`` over the union of dense and BM25 candidates (see qa/fusion.py):
    every candidate gets its cosine, its BM25 score and its best sentence's cosine."""
    filled_dense, filled_lexical = fusion.fill_in(
        dense,
        lexical,
        lambda ids: vectors.reconstruct(store.vector_index(), ids) @ query_vector.reshape(-1),
        lambda ids: dict(store.lexical_index().scores_for(question, ids)),
    )
    stored = store.sentence_vectors(sorted(chunk_id for chunk_id, _ in filled_dense))
    owners = [chunk_id for chunk_id, (spans, _) in stored.items() for _ in range(len(spans))]
    matrix = np.concatenate([m for _, m in stored.values()]) if owners else np.zeros((0, query_vector.size), np.float32)
    sentence = fusion.max_sentence_scores(query_vector, matrix, owners)
    return filled_dense, filled_lexical, sentence


def to_passages(store, ranked: list[tuple[int, float]]) -> list[Passage]:
    """Join ranked chunk ids with their stored text and citation data (ids deleted meanwhile are dropped)."""
    rows = store.chunks([chunk_id for chunk_id, _ in ranked])
    passages = []
    for chunk_id, score in ranked:
        row = rows.get(chunk_id)
        if row is None:
            continue
        passages.append(
            Passage(
                rank=len(passages) + 1,
                score=float(score),
                chunk_id=chunk_id,
                doc=row.doc,
                title=row.title,
                section=row.section,
                start=row.start,
                end=row.end,
                text=row.text,
                page=row.page,
                page_end=row.page_end,
                page_label=row.page_label,
                para=row.para,
                symbol=row.symbol,
            )
        )
    return passages
