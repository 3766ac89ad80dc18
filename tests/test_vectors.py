"""Unit tests for qa/vectors.py (kinds, the switch at the threshold, ANN recall, SQ8, updates) and its
wiring into the store (the kind picked from the chunk count and recorded in the manifest). Fast: random
data and the fake embedder only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa import vectors
from qa.store import Store
from tests.index_helpers import check, make_docs, run_update

D = 384


def clustered(n: int, seed: int = 0, topics: int = 64, noise: float = 0.6) -> np.ndarray:
    """Unit vectors around ``topics`` random centres: neighbourhoods like real embeddings have."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((topics, D)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(0, topics, n)] + noise * rng.standard_normal((n, D)).astype(np.float32) / np.sqrt(D)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[set]:
    scores = q @ x.T
    return [set(ids[np.argsort(-row)[:k]].tolist()) for row in scores]


# ------------------------------------------------------------------ choosing the kind
def test_kind_switches_at_the_threshold():
    assert vectors.kind_for_size(1000, 1000) == vectors.EXACT
    assert vectors.kind_for_size(1001, 1000) == vectors.IVF
    assert vectors.kind_for_size(1001, 1000, vectors.HNSW) == vectors.HNSW
    policy = vectors.Policy(ann_threshold=1000, codec=vectors.SQ8)
    assert vectors.choose(1000, policy) == (vectors.EXACT, vectors.FLOAT32)  # exact indexes stay float32
    assert vectors.choose(5000, policy) == (vectors.IVF, vectors.SQ8)


def test_policy_from_settings_checks_values(settings):
    assert vectors.Policy.from_settings(settings) == vectors.Policy(
        settings.ann_threshold, settings.ann_kind, settings.vector_codec
    )
    with pytest.raises(ValueError):
        vectors.Policy.from_settings(settings.with_(vector_codec="pq"))
    with pytest.raises(ValueError):
        vectors.Policy.from_settings(settings.with_(ann_kind="lsh"))


def test_choose_keeps_the_current_index_with_hysteresis_and_rebuilds_on_drift():
    x = clustered(6000)
    ids = np.arange(len(x), dtype=np.int64)
    ivf = vectors.build(ids, x, D, vectors.IVF)
    policy = vectors.Policy(ann_threshold=4000)
    assert vectors.choose(6000, policy, ivf) == (vectors.IVF, vectors.FLOAT32)
    assert vectors.choose(3000, policy, ivf) == (vectors.IVF, vectors.FLOAT32)  # under the threshold, above half
    assert vectors.choose(1500, policy, ivf) == (vectors.EXACT, vectors.FLOAT32)
    # The lists were sized for 6,000 vectors: at 100× the count they must be rebuilt (same kind, new build).
    assert vectors._drifted(ivf, 600_000) and not vectors._drifted(ivf, 12_000)
    sq8 = vectors.Policy(ann_threshold=4000, codec=vectors.SQ8)
    assert vectors.choose(6000, sq8, ivf) == (vectors.IVF, vectors.SQ8)  # a codec change rebuilds


def test_nlist_is_a_power_of_two_with_enough_training_points():
    assert vectors.nlist_for(1_000_000) == 4096
    assert vectors.nlist_for(100_000) == 1024
    for n in (2600, 5000, 50_000, 300_000):
        nlist = vectors.nlist_for(n)
        assert nlist & (nlist - 1) == 0 and n >= 39 * nlist
    assert vectors.nlist_for(1000) == 0
    index = vectors.build(np.arange(1000), clustered(1000), D, vectors.IVF)  # too few to train: exact
    assert vectors.index_kind(index) == vectors.EXACT


# ------------------------------------------------------------------ ANN quality and codecs
@pytest.mark.parametrize("codec", [vectors.FLOAT32, vectors.SQ8])
def test_ivf_recall_at_10_against_exact(codec, monkeypatch):
    monkeypatch.setattr(vectors, "IVF_SCAN", 1500)  # probe a quarter of the lists, not all of them
    x = clustered(8000, seed=1)
    ids = np.arange(len(x), dtype=np.int64) * 7 + 3
    q = clustered(100, seed=2)
    truth = exact_top(x, ids, q, 10)
    index = vectors.build(ids, x, D, vectors.IVF, codec)
    assert (vectors.index_kind(index), vectors.index_codec(index)) == (vectors.IVF, codec)
    info = vectors.describe(index)
    assert info["nprobe"] * 4 <= info["nlist"]
    found = [{i for i, _ in vectors.search(index, row, 100)[:10]} for row in q]
    recall = np.mean([len(a & b) / 10 for a, b in zip(found, truth)])
    assert recall >= 0.97, recall


def test_sq8_round_trip_is_close_and_smaller(tmp_path):
    x = clustered(6000, seed=3)
    ids = np.arange(len(x), dtype=np.int64) + 100
    sq8 = vectors.build(ids, x, D, vectors.IVF, vectors.SQ8)
    flat = vectors.build(ids, x, D, vectors.IVF, vectors.FLOAT32)
    path = tmp_path / "v.faiss"
    vectors.save(sq8, path)
    loaded = vectors.load(path)
    assert vectors.index_codec(loaded) == vectors.SQ8 and vectors.describe(loaded) == vectors.describe(sq8)
    back = vectors.reconstruct(loaded, ids[:50])
    assert np.abs(back - x[:50]).max() < 0.01
    assert np.min(np.sum(back * x[:50], axis=1)) > 0.999
    assert vectors.memory_bytes(sq8) < 0.4 * vectors.memory_bytes(flat)


# ------------------------------------------------------------------ updates
@pytest.mark.parametrize("kind", [vectors.EXACT, vectors.IVF])
def test_remove_and_add_in_place_keep_ids_right(kind):
    x = clustered(6000, seed=4)
    ids = np.arange(len(x), dtype=np.int64) * 3 + 5
    index = vectors.build(ids, x, D, kind)
    assert vectors.supports_removal(index)
    gone = ids[::2]
    new_ids = np.array([10**9, 10**9 + 1], dtype=np.int64)
    new_x = clustered(2, seed=5)
    vectors.update(index, gone, new_ids, new_x)
    expected = np.sort(np.concatenate([ids[1::2], new_ids]))
    assert np.array_equal(vectors.ids_of(index), expected)
    # Every kept vector is found under its own id (an IDMap2 around IVF fails exactly this after a removal).
    for row in (1, 3, 2999):
        assert vectors.search(index, x[row], 1)[0][0] == ids[row]
    assert vectors.search(index, new_x[1], 1)[0][0] == new_ids[1]
    assert np.allclose(vectors.reconstruct(index, [ids[3], new_ids[0]]), [x[3], new_x[0]], atol=1e-6)
    vectors.update(index, np.array([123456789], dtype=np.int64), np.zeros(0, np.int64), np.zeros((0, D)))  # unknown id


def test_hnsw_is_rebuilt_not_updated():
    x = clustered(500, seed=6)
    index = vectors.build(np.arange(500), x, D, vectors.HNSW)
    assert vectors.index_kind(index) == vectors.HNSW and not vectors.supports_removal(index)


@pytest.mark.parametrize("kind", [vectors.EXACT, vectors.IVF, vectors.HNSW])
def test_filtered_search_returns_only_allowed_ids_exactly(kind):
    x = clustered(3000, seed=7)
    ids = np.arange(len(x), dtype=np.int64) + 1
    index = vectors.build(ids, x, D, kind)
    allowed = ids[100:140]
    hits = vectors.search(index, x[120], 10, allowed)
    assert len(hits) == 10 and {i for i, _ in hits} <= set(allowed.tolist())
    scores = x[100:140] @ x[120]
    assert [i for i, _ in hits] == (ids[100:140][np.argsort(-scores, kind="stable")][:10]).tolist()
    assert vectors.search(index, x[0], 5, np.array([], dtype=np.int64)) == []


# ------------------------------------------------------------------ the store picks and records the kind
def _manifest(settings) -> dict:
    with Store.open(settings.index, settings) as store:
        in_db = store.manifest
        verified = store.verify(strict=True)
        kind = vectors.index_kind(store.vector_index())
    on_disk = json.loads((settings.index / "manifest.json").read_text())
    assert on_disk == in_db
    return {"kind": kind, "manifest": in_db, "verified": verified}


def test_store_switches_kind_at_the_threshold_and_records_it(settings, docs_dir, fake_embedder):
    settings = settings.with_(ann_threshold=100)
    make_docs(docs_dir, 20, seed=1)
    run_update(settings, fake_embedder)
    state = _manifest(settings)
    assert state["verified"]["chunks"] <= 100
    assert state["kind"] == vectors.EXACT and state["manifest"]["vector_index"] == vectors.EXACT
    # Over the threshold, but too few chunks to train IVF lists on (nlist_for(n) == 0): the store
    # records the exact index it actually built.
    make_docs(docs_dir, 40, seed=1)
    run_update(settings, fake_embedder)
    state = _manifest(settings)
    assert state["verified"]["chunks"] > 100 and vectors.nlist_for(state["verified"]["chunks"]) == 0
    assert state["manifest"]["vector_index"] == vectors.EXACT


def test_store_builds_updates_and_records_ivf(settings, docs_dir, fake_embedder, monkeypatch):
    # Lower the minimum list count so that a few thousand fake chunks make a real IVF index.
    monkeypatch.setattr(vectors, "IVF_MIN_LIST", 8)
    settings = settings.with_(ann_threshold=500, vector_codec="sq8")
    make_docs(docs_dir, 200, seed=2)
    run_update(settings, fake_embedder)
    state = _manifest(settings)
    count = state["verified"]["chunks"]
    assert count > 500 and state["kind"] == vectors.IVF
    manifest = state["manifest"]
    assert manifest["vector_index"] == vectors.IVF and manifest["vector_codec"] == vectors.SQ8
    nlist = vectors.nlist_for(count)
    assert manifest["vector_params"] == {"nlist": nlist, "nprobe": vectors.nprobe_for(nlist, count)}
    assert state["verified"]["faiss"] == count
    # An update removes and adds in place (same trained lists) and stays consistent with the store.
    (docs_dir / "doc000.md").unlink()
    make_docs(docs_dir, 1, seed=9, prefix="extra")
    run_update(settings, fake_embedder)
    state = _manifest(settings)
    assert state["kind"] == vectors.IVF and state["verified"]["faiss"] == count
    # The codec setting changes back: the next update rebuilds with float32 and records it.
    (docs_dir / "doc001.md").unlink()
    run_update(settings.with_(vector_codec="float32"), fake_embedder)
    assert _manifest(settings)["manifest"]["vector_codec"] == vectors.FLOAT32
    # Falling under half the threshold goes back to exact search.
    for i in range(2, 160):
        (docs_dir / f"doc{i:03d}.md").unlink()
    run_update(settings, fake_embedder)
    state = _manifest(settings)
    assert state["kind"] == vectors.EXACT and state["manifest"]["vector_params"] == {}
    check(settings)
