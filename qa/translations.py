"""A passage's translations in the index, and the second encoder's cosines pooled over them.

UN texts come in six languages, and a folder often holds the same text in several of them. The multilingual
encoder reads each copy, and each reading is a noisy judge of the question; the copies together are a better one.
A passage's translation in another language is its nearest passage there under that encoder, when their cosine
reaches ``LINKED_AT``. Each translation's cosine with the question is first put on the scale of the passage's own
language for this question (the mean and spread of the question's best cosines in each language: a French
question meets English passages at lower cosines than French ones), then averaged with the passage's own.

Only fusion reads the pooled cosines; a hit keeps its own cosine, which "not found" and the page read. An index in
one language, or a passage without translations, is ranked exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import vectors

LINKED_AT = 0.85  # second-encoder cosine from which the nearest passage in another language is a translation
POOLED = 20  # the candidates pooled: the best under the second encoder
SCALE_DEPTH = 50  # a language's scale for one question: its best cosines with the question, this many
MIN_ROWS = 10  # a language with fewer passages neither is pooled nor lends translations
UNDETERMINED = "und"


@dataclass(frozen=True, eq=False)
class Table:
    """One generation's second-encoder vectors, grouped by language (the languages with ``MIN_ROWS`` passages)."""

    ids: np.ndarray  # the chunk id of each row
    matrix: np.ndarray  # (n, d) float32
    row_of: dict  # {chunk id: row}
    language: np.ndarray  # each row's language code
    groups: dict  # {language: row numbers}


def table(index, chunk_languages) -> Table | None:
    """The ``Table`` of one FAISS index, or ``None`` when fewer than two languages have ``MIN_ROWS`` passages.
    ``chunk_languages(ids)`` gives ``{chunk id: language}``."""
    ids = vectors.ids_of(index)
    by_id = chunk_languages([int(i) for i in ids])
    language = np.array([by_id.get(int(i), UNDETERMINED) for i in ids])
    codes, counts = np.unique(language, return_counts=True)
    kept = [str(code) for code, count in zip(codes, counts) if code != UNDETERMINED and count >= MIN_ROWS]
    if len(kept) < 2:
        return None
    return Table(ids, vectors.reconstruct(index, ids), {int(i): n for n, i in enumerate(ids)}, language,
                 {code: np.flatnonzero(language == code) for code in kept})


def linked(table: Table, chunk_ids) -> dict[int, dict[str, int]]:
    """``{chunk id: {language: chunk id of its translation there}}`` for those of ``chunk_ids`` the table holds;
    a chunk without translations maps to ``{}``."""
    chosen = [(int(c), table.row_of[int(c)]) for c in chunk_ids
              if int(c) in table.row_of and str(table.language[table.row_of[int(c)]]) in table.groups]
    if not chosen:
        return {}
    similar = table.matrix[[row for _, row in chosen]] @ table.matrix.T
    result = {}
    for (chunk_id, row), sims in zip(chosen, similar):
        own = str(table.language[row])
        result[chunk_id] = {}
        for code, rows in table.groups.items():
            nearest = rows[int(np.argmax(sims[rows]))]
            if code != own and sims[nearest] >= LINKED_AT:
                result[chunk_id][code] = int(table.ids[nearest])
    return result


def pooled(table: Table, query_vector, scores) -> dict[int, float]:
    """``{chunk id: pooled cosine}`` for those of the ``POOLED`` best ``scores`` (``[(chunk id, cosine)]``) that
    have translations; the others are left out."""
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    cosines = table.matrix @ query
    scale = {}
    for code, rows in table.groups.items():
        best = np.sort(cosines[rows])[-SCALE_DEPTH:]
        scale[code] = (float(best.mean()), max(float(best.std()), 1e-3))
    best_first = sorted(scores, key=lambda item: (-item[1], item[0]))[:POOLED]
    result = {}
    for chunk_id, others in linked(table, [c for c, _ in best_first]).items():
        if not others:
            continue
        row = table.row_of[chunk_id]
        mean, spread = scale[str(table.language[row])]
        readings = [float(cosines[row])]
        for code, other in others.items():
            other_mean, other_spread = scale[code]
            readings.append(mean + spread * (float(cosines[table.row_of[other]]) - other_mean) / other_spread)
        result[chunk_id] = sum(readings) / len(readings)
    return result
