"""BM25 over chunks, built on ``bm25s`` with an English Snowball stemmer and stopword list.

The index is a ``bm25s.BM25`` score matrix (CSC: one column per term, one row per chunk) plus
an ``ids.npy`` array mapping rows to int64 chunk ids. Saved with bm25s's own json/npy files
(``allow_pickle=False``); nothing is pickled.

Building streams the texts into compact term-count arrays and computes the Lucene BM25 matrix
vectorised (same formulas as ``bm25s.BM25(method="lucene").index``, without its per-document
Python lists), so ~1M chunks fit in a few GB. Not the public ``BM25.index``: its per-document lists
do not fit a 1M-passage index in memory; the two private scorer functions it uses are imported
instead, and a test checks the matrix against ``BM25.index``'s own (``test_scores_equal_bm25s_own_lucene_index``). Queries can also be scored with per-term weights
(``search_weighted``), e.g. for query-expansion terms with smaller weights.
"""

from __future__ import annotations

import json
from array import array
import pathlib
import re
from collections import Counter
from collections.abc import Iterable

import bm25s
import numpy as np
import Stemmer
from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

# BEIR SciFact train, 1,200-char chunks: Snowball stemming +0.03 nDCG@10, stopwords ±0.001; k1/b
# barely matter alone (0.689–0.700); in the hybrid, k1 0.6–1.2 × b 0.1–0.55 all give 0.746–0.749
# against 0.744 for the bm25s default 1.5/0.75. 0.9/0.4 (Anserini's BEIR setting) sits mid-plateau.
# bm25+, bm25l, atire and robertson scored like lucene (±0.003).
K1 = 0.9
B = 0.4
METHOD = "lucene"

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN)
IDS_FILE = "ids.npy"
FORMAT_FILE = "lexical.json"
FORMAT_VERSION = 1

_stemmer = Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens of two or more characters, English stopwords removed, Snowball-stemmed."""
    words = [w for w in TOKEN_PATTERN.findall(text.lower()) if w not in STOPWORDS]
    return _stemmer.stemWords(words)


def tokenize_query(query: str) -> list[str]:
    """Query tokens: the same analysis as documents (repeated words kept, so they weigh more)."""
    return tokenize(query)


def _bm25_matrix(cols: np.ndarray, tfs: np.ndarray, terms_per_row: np.ndarray, n_terms: int):
    """CSC arrays (data, indices, indptr) of Lucene BM25 term scores.

    ``cols``/``tfs`` hold each row's distinct term ids and their counts, row after row;
    ``terms_per_row[r]`` says how many of them belong to row ``r``. Within a column, rows ascend.
    """
    n_rows = len(terms_per_row)
    rows = np.repeat(np.arange(n_rows, dtype=np.int32), terms_per_row)
    row_lengths = np.bincount(rows, weights=tfs, minlength=n_rows).astype(np.float32)
    doc_freqs = np.bincount(cols, minlength=n_terms)
    idf = np.vectorize(_select_idf_scorer(METHOD), otypes=[np.float64])(np.maximum(doc_freqs, 1), n_rows)
    avg_length = float(row_lengths.mean()) if n_rows else 1.0
    data = _select_tfc_scorer(METHOD)(tfs.astype(np.float32), row_lengths[rows], np.float32(avg_length), K1, B, None)
    data *= idf.astype(np.float32)[cols]
    order = np.argsort(cols, kind="stable")  # rows were appended in order, so they stay ascending
    del cols
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(doc_freqs, out=indptr[1:])
    return data.astype(np.float32, copy=False)[order], rows[order], indptr


class LexicalIndex:
    """BM25 index over chunk texts; rows are addressed by int64 chunk ids."""

    def __init__(self, retriever: bm25s.BM25, ids: np.ndarray):
        self._bm25 = retriever
        self._ids = np.asarray(ids, dtype=np.int64)
        self._row_of = None

    @classmethod
    def build(cls, texts: list[str], ids: list[int]) -> "LexicalIndex":
        """Tokenise ``texts`` and build the BM25 score matrix; ``ids[i]`` is the chunk id of ``texts[i]``."""
        if len(texts) != len(ids):
            raise ValueError("texts and ids must have the same length")
        vocab: dict[str, int] = {}
        cols, tfs, terms_per_row = array("i"), array("i"), array("i")  # compact while streaming
        for text in texts:
            counts = Counter(vocab.setdefault(token, len(vocab)) for token in tokenize(text))
            cols.extend(counts.keys())
            tfs.extend(counts.values())
            terms_per_row.append(len(counts))
        data, indices, indptr = _bm25_matrix(
            np.frombuffer(cols, dtype=np.int32) if cols else np.zeros(0, np.int32),
            np.frombuffer(tfs, dtype=np.int32) if tfs else np.zeros(0, np.int32),
            np.frombuffer(terms_per_row, dtype=np.int32) if terms_per_row else np.zeros(0, np.int32),
            len(vocab),
        )
        retriever = bm25s.BM25(k1=K1, b=B, method=METHOD)
        retriever.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(texts)}
        retriever.vocab_dict = vocab
        retriever.unique_token_ids_set = set(vocab.values())
        retriever.nonoccurrence_array = None
        return cls(retriever, np.asarray(ids, dtype=np.int64))

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """Chunk ids in row order (int64)."""
        return self._ids

    def term_weights(self, query: str) -> dict[int, float]:
        """Known query terms as {term id: count}."""
        counts = Counter(self._bm25.vocab_dict.get(t) for t in tokenize_query(query))
        counts.pop(None, None)
        return {t: float(c) for t, c in counts.items()}

    def scores(self, weights: dict[int, float]) -> np.ndarray:
        """BM25 score of every row for weighted term ids."""
        s = self._bm25.scores
        out = np.zeros(s["num_docs"], dtype=np.float32)
        for term, w in weights.items():
            lo, hi = s["indptr"][term], s["indptr"][term + 1]
            out[s["indices"][lo:hi]] += np.float32(w) * s["data"][lo:hi]
        return out

    def _rows_of(self, allowed_ids: Iterable[int]) -> np.ndarray:
        """Row numbers of the given chunk ids (unknown ids are ignored)."""
        if self._row_of is None:
            order = np.argsort(self._ids, kind="stable")
            self._row_of = (self._ids[order], order)
        sorted_ids, order = self._row_of
        wanted = np.fromiter(allowed_ids, np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
        return order[pos[sorted_ids[pos] == wanted]]

    def search_weighted(
        self, weights: dict[int, float], k: int, allowed_ids: set[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, score) for weighted term ids, best first; only rows with a positive score."""
        if not weights or k <= 0 or len(self) == 0:
            return []
        scores = self.scores(weights)
        if allowed_ids is None:
            candidates = np.flatnonzero(scores > 0)
        else:
            rows = self._rows_of(allowed_ids)
            candidates = rows[scores[rows] > 0]
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        candidates = candidates[np.lexsort((self._ids[candidates], -scores[candidates]))]
        return [(int(self._ids[r]), float(scores[r])) for r in candidates]

    def search(self, query: str, k: int, allowed_ids: set[int] | None = None) -> list[tuple[int, float]]:
        """Top ``k`` chunks for ``query`` as (chunk id, BM25 score), best first (ties: smaller id first)."""
        if len(self) == 0:
            return []
        return self.search_weighted(self.term_weights(query), k, allowed_ids)

    def scores_for(self, query: str, ids: Iterable[int]) -> list[tuple[int, float]]:
        """BM25 scores of the given chunk ids (0.0 when no query term occurs; unknown ids left out), in id order.

        Costs a binary search per (query term, id), not a pass over the postings, so it is cheap for
        filling in the scores of the few candidates that dense search found and BM25 did not.
        """
        wanted = sorted(set(int(i) for i in ids))
        if not wanted or len(self) == 0:
            return []
        rows = np.sort(self._rows_of(wanted))
        totals = np.zeros(len(rows), dtype=np.float32)
        s = self._bm25.scores
        for term, weight in self.term_weights(query).items():
            lo, hi = int(s["indptr"][term]), int(s["indptr"][term + 1])
            postings = s["indices"][lo:hi]  # rows containing the term, ascending
            pos = np.minimum(np.searchsorted(postings, rows), max(hi - lo - 1, 0))
            hit = (postings[pos] == rows) if hi > lo else np.zeros(len(rows), dtype=bool)
            totals[hit] += np.float32(weight) * s["data"][lo + pos[hit]]
        return sorted((int(self._ids[r]), float(t)) for r, t in zip(rows, totals))

    def save(self, directory: pathlib.Path) -> None:
        """Write bm25s's files plus ``ids.npy`` and a small format file into ``directory``."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._bm25.save(directory, allow_pickle=False, show_progress=False)
        np.save(directory / IDS_FILE, self._ids, allow_pickle=False)
        (directory / FORMAT_FILE).write_text(
            json.dumps({"version": FORMAT_VERSION, "tokenizer": "snowball-english+bm25s-en-stopwords"})
        )

    @classmethod
    def load(cls, directory: pathlib.Path) -> "LexicalIndex":
        """Read an index written by :meth:`save`."""
        directory = pathlib.Path(directory)
        retriever = bm25s.BM25.load(directory, load_corpus=False, allow_pickle=False)
        ids = np.load(directory / IDS_FILE, allow_pickle=False)
        return cls(retriever, ids)
