"""A passage's translations in the index, and the second encoder's cosines pooled over them.

UN texts come in six languages, and a folder often holds the same text in several of them. The multilingual
encoder reads each copy, and each reading is a noisy judge of the question; the copies together are a better one.
A passage's translation in another language is its nearest passage there under that encoder when the passage is
in turn that one's nearest in its own language, their cosine reaches ``LINKED_AT``, and their documents translate
each other (``AGREEING``): a treaty's article on the same right as a declaration's is not its translation. Each
translation's cosine with the question is first put on the scale of the passage's own language for this question
(the mean and spread of the question's best cosines in each language: a French question meets English passages
at lower cosines than French ones), then averaged with the passage's own.

Only fusion reads the pooled cosines; a hit keeps its own cosine, which "not found" and the page read. An index in
one language, or a passage without translations, is ranked exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import vectors

LINKED_AT = 0.85  # second-encoder cosine from which the nearest passage in another language is a translation
POOLED = 20  # the candidates pooled: the best under the second encoder
SCALE_DEPTH = 50  # a language's scale for one question: its best cosines with the question, this many
MIN_ROWS = 10  # a language with fewer passages neither is pooled nor lends translations
# Two documents translate each other when this share of the smaller one's passages are linked both ways: each UDHR
# pair in six languages 0.76–1.0; the ICCPR fact sheet against a UDHR (similar articles) at most 0.46.
AGREEING = 0.6
SAMPLED = 16  # passages of a document (evenly spread) that decide whether another translates it
UNDETERMINED = "und"


@dataclass(frozen=True, eq=False)
class Table:
    """One generation's second-encoder vectors, grouped by language (the languages with ``MIN_ROWS`` passages).
    Rows are ordered by language, so that each language's vectors are one slice of the matrix (a view, not a copy)."""

    ids: np.ndarray  # the chunk id of each row
    matrix: np.ndarray  # (n, d) float32
    row_of: dict  # {chunk id: row}
    language: np.ndarray  # each row's language code
    groups: dict  # {language: slice of its rows}
    document: np.ndarray  # each row's document (any key that tells documents apart)
    rows_of: dict  # {document: its row numbers}
    agree: dict = field(default_factory=dict)  # {(document, document, language): whether they translate each other}
    links: dict = field(default_factory=dict)  # {chunk id: {language: chunk id}}: ``linked``'s answers, kept


def table(index, chunk_languages, chunk_documents) -> Table | None:
    """The ``Table`` of one FAISS index, or ``None`` when fewer than two languages have ``MIN_ROWS`` passages.
    ``chunk_languages(ids)`` gives ``{chunk id: language}``, ``chunk_documents(ids)`` ``{chunk id: document}``
    (a chunk it leaves out counts as one document per language)."""
    ids = vectors.ids_of(index)
    by_id = chunk_languages([int(i) for i in ids])
    language = np.array([by_id.get(int(i), UNDETERMINED) for i in ids])
    codes, counts = np.unique(language, return_counts=True)
    kept = [str(code) for code, count in zip(codes, counts) if code != UNDETERMINED and count >= MIN_ROWS]
    if len(kept) < 2:
        return None
    order = np.argsort(language, kind="stable")
    ids, language = ids[order], language[order]
    docs = chunk_documents([int(i) for i in ids])
    document = np.array([str(docs.get(int(i), f"\0{code}")) for i, code in zip(ids, language)], dtype=object)
    rows_of: dict = {}
    for row, doc in enumerate(document):
        rows_of.setdefault(doc, []).append(row)
    groups = {code: slice(int(np.searchsorted(language, code, "left")), int(np.searchsorted(language, code, "right")))
              for code in kept}
    return Table(ids, vectors.reconstruct(index, ids), {int(i): n for n, i in enumerate(ids)}, language, groups,
                 document, {doc: np.array(rows) for doc, rows in rows_of.items()})


def _nearest_both_ways(table: Table, row: int, sims: np.ndarray, code: str) -> int | None:
    """The row in language ``code`` nearest to ``row`` (``sims``: its cosines with every row) when ``row`` is in
    turn that one's nearest in its own language and their cosine reaches ``LINKED_AT``; else ``None``."""
    rows = table.groups[code]
    nearest = rows.start + int(np.argmax(sims[rows]))
    if sims[nearest] < LINKED_AT:
        return None
    own = table.groups[str(table.language[row])]
    return nearest if own.start + int(np.argmax(table.matrix[own] @ table.matrix[nearest])) == row else None


def _translate_each_other(table: Table, document, other, code: str) -> bool:
    """Whether ``other``'s passages in ``code`` translate ``document``: at least ``AGREEING`` of the smaller one's
    passages (of at most ``SAMPLED`` of ``document``'s) are linked both ways, each to a passage of the other (one
    passage on the same right as another document's is not a translation of it). Kept with the table."""
    key = (document, other, code)
    if key not in table.agree:
        theirs = int(np.count_nonzero(table.language[table.rows_of[other]] == code))
        mine = table.rows_of[document]
        mine = mine[np.linspace(0, len(mine) - 1, min(len(mine), SAMPLED)).astype(int)]  # bounded cost
        both = 0
        for own in {str(table.language[r]) for r in mine} & set(table.groups) - {code}:
            rows = mine[table.language[mine] == own]
            targets, own_rows = table.groups[code], table.groups[own]
            sims = table.matrix[rows] @ table.matrix[targets].T
            nearest = targets.start + np.argmax(sims, axis=1)
            back = own_rows.start + np.argmax(table.matrix[nearest] @ table.matrix[own_rows].T, axis=1)
            both += int(np.count_nonzero((sims.max(axis=1) >= LINKED_AT) & (back == rows)
                                         & (table.document[nearest] == other)))
        table.agree[key] = both >= max(2, AGREEING * min(len(mine), theirs))
    return table.agree[key]


def linked(table: Table, chunk_ids) -> dict[int, dict[str, int]]:
    """``{chunk id: {language: chunk id of its translation there}}`` for those of ``chunk_ids`` the table holds;
    a chunk without translations maps to ``{}``. Each chunk's links are worked out once and kept with the table (a
    question pools its candidates', then shows its passages')."""
    chosen = [int(c) for c in chunk_ids
              if int(c) in table.row_of and str(table.language[table.row_of[int(c)]]) in table.groups]
    new = [c for c in dict.fromkeys(chosen) if c not in table.links]
    if new:
        similar = table.matrix[[table.row_of[c] for c in new]] @ table.matrix.T
        for chunk_id, sims in zip(new, similar):
            row = table.row_of[chunk_id]
            own = str(table.language[row])
            found = {}
            for code in table.groups:
                match = None if code == own else _nearest_both_ways(table, row, sims, code)
                if match is not None and _translate_each_other(table, table.document[row], table.document[match], code):
                    found[code] = int(table.ids[match])
            table.links[chunk_id] = found
    return {c: table.links[c] for c in chosen}


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
