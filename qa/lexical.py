"""BM25 over chunks, built on ``bm25s`` with an English Snowball stemmer and stopword list.

The index is a ``bm25s.BM25`` score matrix (CSC: one column per term, one row per chunk) plus
an ``ids.npy`` array mapping rows to int64 chunk ids. Saved with bm25s's own json/npy files
(``allow_pickle=False``); nothing is pickled.

Queries are scored with per-term weights (``search_weighted``) so that pseudo-relevance
feedback terms can be added with smaller weights than the original query terms.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections import Counter

import bm25s
import numpy as np
import Stemmer
from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

# Tuned on BEIR SciFact train (see qa/fusion.py and bench/scifact.py).
K1 = 1.2
B = 0.75
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


def _bm25_matrix(token_counts: list[tuple[np.ndarray, np.ndarray]], n_terms: int):
    """CSC arrays (data, indices, indptr) of BM25 term scores from per-chunk (term ids, counts)."""
    n_docs = len(token_counts)
    doc_lens = np.array([int(c.sum()) for _, c in token_counts], dtype=np.float64)
    rows = np.repeat(np.arange(n_docs, dtype=np.int32), [len(t) for t, _ in token_counts])
    cols = np.concatenate([t for t, _ in token_counts]) if n_docs else np.zeros(0, np.int32)
    tfs = np.concatenate([c for _, c in token_counts]).astype(np.float32) if n_docs else np.zeros(0, np.float32)
    doc_freqs = np.bincount(cols, minlength=n_terms)
    idf_of = np.vectorize(_select_idf_scorer(METHOD), otypes=[np.float64])
    idf = idf_of(np.maximum(doc_freqs, 1), n_docs).astype(np.float32) if n_terms else np.zeros(0, np.float32)
    avg_len = doc_lens.mean() if n_docs else 1.0
    tfc = _select_tfc_scorer(METHOD)(tfs, doc_lens[rows].astype(np.float32), avg_len, K1, B, None)
    data = (idf[cols] * tfc).astype(np.float32)
    order = np.lexsort((rows, cols))
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(doc_freqs, out=indptr[1:])
    return data[order], rows[order], indptr


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
        token_counts = []
        for text in texts:
            counts = Counter(vocab.setdefault(tok, len(vocab)) for tok in tokenize(text))
            token_counts.append(
                (np.fromiter(counts.keys(), np.int32, len(counts)), np.fromiter(counts.values(), np.int32, len(counts)))
            )
        data, indices, indptr = _bm25_matrix(token_counts, len(vocab))
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

    def _rows_of(self, allowed_ids: set[int]) -> np.ndarray:
        """Row numbers of the given chunk ids (unknown ids are ignored)."""
        if self._row_of is None:
            order = np.argsort(self._ids, kind="stable")
            self._row_of = (self._ids[order], order)
        sorted_ids, order = self._row_of
        wanted = np.fromiter(allowed_ids, np.int64, len(allowed_ids))
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
