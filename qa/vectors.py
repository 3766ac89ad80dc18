"""FAISS side of the store: building, updating, searching, saving the vector index.

Vectors are L2-normalised, so inner product is cosine similarity, and FAISS ids are the store's
chunk ids. Three kinds of index (the manifest records which one, as ``vector_index``):

``flat``  exact search (``IndexIDMap2`` over ``IndexFlatIP``), for up to ``ann_threshold`` passages.
``ivf``   approximate search above it: an inverted file (``IndexIVFFlat``, or ``IndexIVFScalarQuantizer``
          with the ``sq8`` codec) whose k-means coarse quantizer is trained on the collection when the
          index is built. It keeps the chunk ids itself, with a hash-table direct map, so
          ``remove_ids``, ``add_with_ids`` and ``reconstruct`` by chunk id all work and an update
          changes the index in place instead of rebuilding it. (``IndexIDMap2`` around an IVF index
          is *not* an option: IVF does not renumber its internal ids after ``remove_ids``, so the
          wrapper returns wrong chunk ids after the first removal.)
``hnsw``  an HNSW graph. Not chosen by default: an HNSW graph cannot remove vectors, so every update
          would rebuild it, and it did worse where measured (1M calibrated vectors, shared 2-core
          machine): HNSW32 with efConstruction 40 built in 236 s and reached recall@10 0.907 / 0.964 /
          0.977 at efSearch 64 / 128 / 256 (0.3–0.8 ms), while IVF with 4,096 lists reached 0.990 at 64
          probes and 0.993 at 103 (3 ms). Still readable and selectable (``Settings.ann_kind``).

The codec (``vector_codec`` in the manifest) is ``float32`` or ``sq8`` (8-bit scalar quantization
with a per-dimension range: 384 bytes per passage instead of 1,536). It applies to the approximate
kinds only; exact indexes stay float32 (they are small by definition). SQLite keeps the float32
embeddings either way, so switching codec or kind never re-encodes.

Choosing the kind (``choose``): ``flat`` up to ``ann_threshold`` passages, the ANN kind above it. An
update keeps the index it has (and updates it in place when the kind allows) unless the choice for
the new count differs, or an IVF index has drifted: its number of lists (``nlist_for``) is sized for a
count that is now 4× off. Going back from ``ivf`` to ``flat`` needs the count to fall under half the
threshold, so a collection that hovers around the threshold does not rebuild on every update.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Before FAISS loads its OpenMP runtime: waiting threads sleep instead of spinning (see qa/embedding.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

EXACT = "flat"
IVF = "ivf"
HNSW = "hnsw"
KINDS = (EXACT, IVF, HNSW)
FLOAT32 = "float32"
SQ8 = "sq8"
CODECS = (FLOAT32, SQ8)

# HNSW (optional kind; see the module docstring).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128

# IVF: lists ≈ 4·√n (a power of two), k-means trained on 40 vectors per list with 10 iterations (FAISS's
# defaults, 256 per list and 25 iterations, took 8 minutes at 1M passages on the shared 2-core machine
# for no recall gain). Lists probed per query: enough to scan about IVF_SCAN vectors. Measured on
# vectors calibrated to real all-MiniLM-L6-v2 embeddings (bench/query.py), recall@10 against exact
# search: 100k passages / 1,024 lists: 128 probes 0.953, 192 0.975, 256 0.984; 1M / 4,096 lists: 64 probes
# 0.990, 128 0.994 (FAISS time 2–5 ms a question at either size).
IVF_MIN_LIST = 64
IVF_TRAIN_PER_LIST = 40
IVF_TRAIN_ITERATIONS = 10
IVF_SCAN = 25_000
IVF_MIN_NPROBE = 32
# A filtered search over at most this many allowed ids scores them exactly (reconstruct + dot product)
# instead of asking the approximate index, which can miss ids in lists it does not probe.
EXACT_FILTER_LIMIT = 50_000
SEED = 1234


@dataclass(frozen=True)
class Policy:
    """How the store picks the vector index: the settings that decide it, as one value."""

    ann_threshold: int = 50_000
    ann_kind: str = IVF
    codec: str = FLOAT32

    @classmethod
    def from_settings(cls, settings) -> "Policy":
        policy = cls(
            int(getattr(settings, "ann_threshold", cls.ann_threshold)),
            str(getattr(settings, "ann_kind", cls.ann_kind)).lower(),
            str(getattr(settings, "vector_codec", cls.codec)).lower(),
        )
        if policy.ann_kind not in (IVF, HNSW):
            raise ValueError(f"Unknown ann_kind '{policy.ann_kind}': use ivf or hnsw.")
        if policy.codec not in CODECS:
            raise ValueError(f"Unknown vector_codec '{policy.codec}': use float32 or sq8.")
        return policy

    def kind_for(self, count: int) -> str:
        return kind_for_size(count, self.ann_threshold, self.ann_kind)

    def codec_for(self, kind: str) -> str:
        return FLOAT32 if kind == EXACT else self.codec


def kind_for_size(count: int, ann_threshold: int, ann_kind: str = IVF) -> str:
    """Exact search up to ``ann_threshold`` passages, the approximate kind above."""
    return ann_kind if count > ann_threshold else EXACT


def nlist_for(count: int) -> int:
    """Number of IVF lists for ``count`` vectors: the power of two nearest to 4·√count.

    Capped so that every list gets at least 39 training vectors (FAISS's minimum); 0 means "too few
    vectors for an inverted file" (``build`` then makes an exact index).
    """
    count = max(count, 1)
    nlist = 2 ** round(math.log2(4 * math.sqrt(count)))
    nlist = min(nlist, 2 ** int(math.log2(max(count // 39, 1))))
    return nlist if nlist >= IVF_MIN_LIST else 0


def nprobe_for(nlist: int, count: int) -> int:
    """Lists probed per question: enough to scan about ``IVF_SCAN`` of ``count`` vectors (see above)."""
    wanted = math.ceil(IVF_SCAN * nlist / max(count, 1))
    return min(nlist, max(IVF_MIN_NPROBE, wanted))


def choose(count: int, policy: Policy, current: faiss.Index | None = None) -> tuple[str, str]:
    """``(kind, codec)`` the index should have for ``count`` passages; keeps ``current`` when it still fits."""
    wanted = policy.kind_for(count)
    if current is not None:
        kind, codec = index_kind(current), index_codec(current)
        if kind == IVF and wanted == EXACT and count > policy.ann_threshold // 2:
            wanted = IVF  # hysteresis: do not flip back and forth around the threshold
        if kind == wanted and codec == policy.codec_for(wanted):
            if kind != IVF or not _drifted(current, count):
                return kind, codec
    return wanted, policy.codec_for(wanted)


def _drifted(index: faiss.Index, count: int) -> bool:
    """Whether an IVF index's number of lists is off by 4× for ``count`` (the count changed ~16×)."""
    nlist = _ivf(index).nlist
    ideal = nlist_for(count)
    return ideal >= 4 * nlist or ideal * 4 <= nlist


def new_index(dimension: int, kind: str = EXACT, codec: str = FLOAT32) -> faiss.Index:
    """An empty index of the given kind (IVF indexes need ``build``: they are trained on the data)."""
    if kind == HNSW:
        if codec == SQ8:
            inner = faiss.IndexHNSWSQ(dimension, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        else:
            inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap2(inner)
    if kind == IVF:
        raise ValueError("an IVF index is trained on its vectors: use vectors.build")
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def _new_ivf(dimension: int, nlist: int, codec: str, count: int) -> faiss.IndexIVF:
    quantizer = faiss.IndexFlatIP(dimension)
    if codec == SQ8:
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    else:
        index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()  # the IVF index owns (and frees) its quantizer
    index.cp.seed = SEED
    index.cp.niter = IVF_TRAIN_ITERATIONS
    index.nprobe = nprobe_for(nlist, count)
    return index


def build(
    ids: np.ndarray, vectors: np.ndarray, dimension: int, kind: str = EXACT, codec: str = FLOAT32
) -> faiss.Index:
    """A new index holding exactly ``ids`` → ``vectors`` (an IVF index is trained on ``vectors`` first)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), dimension)
    if kind == IVF:
        nlist = nlist_for(len(ids))
        if not nlist:  # too few vectors to train lists on: an exact index answers better anyway
            kind = EXACT
        else:
            index = _new_ivf(dimension, nlist, codec, len(ids))
            sample = min(len(ids), nlist * IVF_TRAIN_PER_LIST)
            rows = np.sort(np.random.default_rng(SEED).choice(len(ids), sample, replace=False))
            index.train(vectors[rows])
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            if len(ids):
                index.add_with_ids(vectors, ids)
            return index
    index = new_index(dimension, kind, codec if kind != EXACT else FLOAT32)
    if kind == HNSW and codec == SQ8 and len(ids):
        faiss.downcast_index(index.index).train(vectors)
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index


def _ivf(index: faiss.Index) -> faiss.IndexIVF:
    return faiss.extract_index_ivf(index)


def _inner(index: faiss.Index) -> faiss.Index:
    return faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index


def index_kind(index: faiss.Index) -> str:
    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW):
        return HNSW
    if isinstance(inner, faiss.IndexIVF):
        return IVF
    return EXACT


def index_codec(index: faiss.Index) -> str:
    inner = _inner(index)
    if isinstance(inner, (faiss.IndexIVFScalarQuantizer, faiss.IndexScalarQuantizer, faiss.IndexHNSWSQ)):
        return SQ8
    return FLOAT32


def describe(index: faiss.Index) -> dict:
    """What the manifest records about an index: kind, codec and the search parameters."""
    kind = index_kind(index)
    info = {"kind": kind, "codec": index_codec(index), "count": int(index.ntotal)}
    if kind == IVF:
        ivf = _ivf(index)
        info.update(nlist=int(ivf.nlist), nprobe=int(ivf.nprobe))
    elif kind == HNSW:
        hnsw = _inner(index).hnsw
        info.update(m=HNSW_M, ef_construction=int(hnsw.efConstruction), ef_search=int(hnsw.efSearch))
    return info


def supports_removal(index: faiss.Index) -> bool:
    """Whether ``update`` can change the index in place (exact and IVF; an HNSW graph is rebuilt)."""
    return index_kind(index) in (EXACT, IVF)


def update(index: faiss.Index, remove_ids: np.ndarray, add_ids: np.ndarray, add_vectors: np.ndarray) -> faiss.Index:
    """Remove and add vectors in place (exact and IVF indexes; callers rebuild HNSW instead)."""
    if len(remove_ids):
        remove_ids = np.ascontiguousarray(remove_ids, dtype=np.int64)
        if index_kind(index) == IVF:
            index.remove_ids(faiss.IDSelectorArray(remove_ids))  # the hash-table direct map takes only arrays
        else:
            index.remove_ids(faiss.IDSelectorBatch(remove_ids))
    if len(add_ids):
        index.add_with_ids(
            np.ascontiguousarray(add_vectors, dtype=np.float32), np.ascontiguousarray(add_ids, dtype=np.int64)
        )
    if index_kind(index) == IVF:  # keep scanning about IVF_SCAN vectors a question as the count changes
        ivf = _ivf(index)
        ivf.nprobe = nprobe_for(ivf.nlist, int(ivf.ntotal))
    return index


def ids_of(index: faiss.Index) -> np.ndarray:
    """All chunk ids stored in the index, sorted."""
    if index_kind(index) == IVF:
        ivf = _ivf(index)
        lists = ivf.invlists
        parts = []
        for i in range(ivf.nlist):
            size = lists.list_size(i)
            if size:
                parts.append(faiss.rev_swig_ptr(lists.get_ids(i), size).copy())
        ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return np.sort(ids.astype(np.int64))
    return np.sort(faiss.vector_to_array(index.id_map).astype(np.int64))


@contextmanager
def _one_thread():
    """Search one question on the calling thread only (OpenMP's thread count is per calling thread).

    On the 2-core machine a second OpenMP thread for one question mostly waits for a core that the
    encoder, BM25 or another process holds: exact search over 100k vectors took a median 100 ms with
    two threads and 47 ms with one under load; an IVF search of one question is sequential anyway.
    """
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def search(
    index: faiss.Index, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """Top-k ``(chunk id, cosine)`` for one query vector, best first; ``allowed_ids`` restricts the candidates."""
    if index.ntotal == 0 or k <= 0:
        return []
    with _one_thread():
        return _search(index, query, k, allowed_ids)


def _search(index, query, k, allowed_ids) -> list[tuple[int, float]]:
    query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    k = min(k, index.ntotal)
    kind = index_kind(index)
    if allowed_ids is not None:
        if len(allowed_ids) == 0:
            return []
        allowed_ids = np.ascontiguousarray(allowed_ids, dtype=np.int64)
        if kind != EXACT and len(allowed_ids) <= EXACT_FILTER_LIMIT:
            return _search_subset(index, query, k, allowed_ids)
        selector = faiss.IDSelectorBatch(allowed_ids)
        k = min(k, len(allowed_ids))
        if kind == HNSW:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, k))
        elif kind == IVF:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=_ivf(index).nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, ids = index.search(query, k, params=params)
    else:
        if kind == HNSW:
            _inner(index).hnsw.efSearch = max(HNSW_EF_SEARCH, k)
        scores, ids = index.search(query, k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _search_subset(index: faiss.Index, query: np.ndarray, k: int, allowed_ids: np.ndarray) -> list[tuple[int, float]]:
    """Exact top-k among ``allowed_ids`` (ids the index does not hold are ignored)."""
    allowed_ids = np.unique(allowed_ids)
    try:
        matrix = reconstruct(index, allowed_ids)
    except RuntimeError:  # an id the index does not hold (deleted meanwhile): keep only the held ones
        allowed_ids = allowed_ids[np.isin(allowed_ids, ids_of(index), assume_unique=True)]
        if len(allowed_ids) == 0:
            return []
        matrix = reconstruct(index, allowed_ids)
    scores = matrix @ query[0]
    k = min(k, len(allowed_ids))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    top = top[np.lexsort((allowed_ids[top], -scores[top]))]
    return [(int(allowed_ids[i]), float(scores[i])) for i in top]


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
    """The stored vectors of the given chunk ids, in order (an (n, d) float32 array; decoded for ``sq8``)."""
    if len(ids) == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    return np.ascontiguousarray(index.reconstruct_batch(ids), dtype=np.float32)


def memory_bytes(index: faiss.Index) -> int:
    """Approximate resident size of the index (vectors or codes, ids, id maps, graph links, centroids)."""
    n, d = int(index.ntotal), int(index.d)
    kind, codec = index_kind(index), index_codec(index)
    code = d if codec == SQ8 else 4 * d
    if kind == IVF:
        ivf = _ivf(index)
        # codes + ids in the lists, the hash-table direct map (~2 words a slot at ~50 % load), centroids
        return n * (code + 8) + n * 32 + ivf.nlist * d * 4
    idmap = n * 8 + n * 40  # id_map vector + IndexIDMap2's reverse hash map
    if kind == HNSW:
        hnsw = _inner(index).hnsw
        links = hnsw.neighbors.size() * 4
        return n * code + links + n * 16 + idmap
    return n * code + idmap
