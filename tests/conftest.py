"""Shared fixtures: a deterministic fake embedder, temporary docs/index folders, the real model."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.corpus import copy_seeds  # noqa: F401  (the bundled seed documents, for the tests that copy them)

pytest_plugins = ["pg_fixtures"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SHARED = REPO.parent / "shared"
UN_DOCS = SHARED / "corpora" / "un_human_rights_docs"
SCIFACT = SHARED / "corpora" / "beir_scifact"
MULTILINGUAL = SHARED / "corpora" / "un_multilingual"
SEED_DOC = "kazakhstan-reply-AL-KAZ-1-2024.md"


class FakeEmbedder:
    """Bag of lower-cased words hashed into 384 dimensions, L2-normalised.

    Deterministic and instant: two texts are similar exactly as far as they share words,
    so tests can state exact rankings.
    """

    name = "fake"
    dimension = 384
    dtype = "float32"

    def __init__(self):
        self.encoded_texts: list[str] = []

    @staticmethod
    def vector(text: str) -> np.ndarray:
        v = np.zeros(384, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % 384
            v[bucket] += 1.0
        norm = np.linalg.norm(v)
        if norm == 0:
            v[0] = 1.0
            norm = 1.0
        return v / norm

    def encode(self, texts, batch_size=None, show_progress=False):
        self.encoded_texts.extend(texts)
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self.vector(t) for t in texts])

    def encode_query(self, text):
        return self.vector(text).reshape(1, -1)


@pytest.fixture
def fake_embedder():
    return FakeEmbedder()


@pytest.fixture
def settings(tmp_path):
    from qa.settings import load_settings

    # No second encoder: most tests index with the fake embedder; those about e5 ask for it.
    return load_settings({}).with_(docs=tmp_path / "docs", index=tmp_path / "index", second_encoder="")


@pytest.fixture
def docs_dir(settings):
    settings.docs.mkdir(parents=True, exist_ok=True)
    return settings.docs


@pytest.fixture
def seeds_copy(tmp_path):
    """A private copy of the bundled seeds/ folder."""
    target = tmp_path / "seeds"
    copy_seeds(target)
    return target


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2 model; fails loudly (never downloads) if it is missing."""
    from qa.embedding import load_embedder, model_path

    model_path()  # raises ModelMissingError with install instructions
    return load_embedder("auto", "cpu", 32)


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory, real_embedder):
    """seeds/ indexed once with the real model, shared read-only by the end-to-end tests."""
    from qa.indexing import update_index
    from qa.settings import load_settings

    root = tmp_path_factory.mktemp("seeds_index")
    docs = root / "docs"
    copy_seeds(docs)
    settings = load_settings({}).with_(docs=docs, index=root / "index")
    report = update_index(docs, settings.index, settings, embedder=real_embedder)
    assert not report.failed
    return settings


@pytest.fixture
def app_env(tmp_path, seeds_index, monkeypatch):
    """QA_DOCS / QA_INDEX pointing at private copies of the indexed seeds (copy2 keeps mtimes: index up to date)."""
    docs, index = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(seeds_index.docs, docs)
    shutil.copytree(seeds_index.index, index, ignore=shutil.ignore_patterns(".lock"))
    monkeypatch.setenv("QA_DOCS", str(docs))
    monkeypatch.setenv("QA_INDEX", str(index))
    return docs, index


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
