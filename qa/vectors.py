"""FAISS side of the store: building, updating, searching, saving the vector index.

Vectors are L2-normalised, so inner product is cosine similarity. Every index is
wrapped so that FAISS ids are the store's chunk ids (``IndexIDMap2``).
Small collections use exact search (``IndexFlatIP``); above ``ann_threshold``
passages an HNSW graph is used (recorded in the manifest as ``vector_index``).
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

EXACT = "flat"
HNSW = "hnsw"
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def kind_for_size(count: int, ann_threshold: int) -> str:
    """Exact search up to ``ann_threshold`` passages, HNSW above."""
    return HNSW if count > ann_threshold else EXACT


def new_index(dimension: int, kind: str = EXACT) -> faiss.Index:
    """An empty id-mapped index of the given kind."""
    if kind == HNSW:
        inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        inner = faiss.IndexFlatIP(dimension)
    return faiss.IndexIDMap2(inner)


def build(ids: np.ndarray, vectors: np.ndarray, dimension: int, kind: str = EXACT) -> faiss.Index:
    """A new index holding exactly ``ids`` → ``vectors``."""
    index = new_index(dimension, kind)
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))
    return index


def index_kind(index: faiss.Index) -> str:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    return HNSW if isinstance(inner, faiss.IndexHNSW) else EXACT


def supports_removal(index: faiss.Index) -> bool:
    return index_kind(index) == EXACT


def update(index: faiss.Index, remove_ids: np.ndarray, add_ids: np.ndarray, add_vectors: np.ndarray) -> faiss.Index:
    """Remove and add vectors in place (exact indexes only; callers rebuild HNSW instead)."""
    if len(remove_ids):
        index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(remove_ids, dtype=np.int64)))
    if len(add_ids):
        index.add_with_ids(
            np.ascontiguousarray(add_vectors, dtype=np.float32), np.ascontiguousarray(add_ids, dtype=np.int64)
        )
    return index


def ids_of(index: faiss.Index) -> np.ndarray:
    """All ids stored in an id-mapped index, sorted."""
    return np.sort(faiss.vector_to_array(index.id_map).astype(np.int64))


def search(
    index: faiss.Index, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """Top-k ``(chunk id, cosine)`` for one query vector, best first; ``allowed_ids`` restricts the candidates."""
    if index.ntotal == 0 or k <= 0:
        return []
    query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    k = min(k, index.ntotal)
    if allowed_ids is not None:
        if len(allowed_ids) == 0:
            return []
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
        if index_kind(index) == HNSW:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, k))
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, ids = index.search(query, min(k, len(allowed_ids)), params=params)
    else:
        if index_kind(index) == HNSW:
            faiss.downcast_index(index.index).hnsw.efSearch = max(HNSW_EF_SEARCH, k)
        scores, ids = index.search(query, k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def save(index: faiss.Index, path: Path) -> None:
    """Write atomically: a temporary file, fsync, then rename over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(index, str(tmp))
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))


def reconstruct(index: faiss.Index, ids) -> np.ndarray:
    """The stored vectors of the given chunk ids, in order (an (n, d) float32 array)."""
    if len(ids) == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return np.stack([index.reconstruct(int(i)) for i in ids]).astype(np.float32)
