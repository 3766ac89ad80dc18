"""One small settings object; every field can be overridden by a ``QA_*`` environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    docs: Path = REPO_ROOT / "seeds"
    index: Path = REPO_ROOT / "index"
    model_name: str = "sentence-transformers/all-MiniLM-L6-v2"
    # "auto" picks bfloat16 on CPUs with AMX (or a GPU), else float32 (see qa/embedding.py).
    dtype: str = "auto"
    device: str = "cpu"
    # Texts per forward pass when indexing (length-sorted first). Measured on the 2-core machine, float32,
    # 800-character chunks: batch 8 38 chunks/s, 16 33, 32 30, 64 28, 128 25 (bench/ingest.py).
    batch_size: int = 8
    chunk_max_chars: int = 800
    chunk_min_chars: int = 200
    chunk_overlap_chars: int = 200
    max_question_chars: int = 2000
    max_file_bytes: int = 50 * 1024 * 1024
    file_timeout_s: float = 120.0
    top_k: int = 5
    mode: str = "hybrid"
    # Above this many passages the FAISS index switches from exact search to an approximate one
    # (``ann_kind``: "ivf", which updates in place, or "hnsw", which every update rebuilds); see qa/vectors.py.
    ann_threshold: int = 50_000
    ann_kind: str = "ivf"
    # "float32", or "sq8": 8-bit scalar-quantized vectors in the approximate index (4× smaller in RAM).
    vector_codec: str = "float32"
    # Also embed every sentence of every chunk (stored as float16 beside the chunk) and rank hybrid
    # results with the best sentence's score; answer highlights then need no encoding at question time.
    # On seeds/: hit@1 0.875 → 0.900, hit@3 0.950 → 1.000; SciFact test nDCG@10 0.734 → 0.735.
    # Costs about 2.4× the indexing time of chunks alone.
    sentence_vectors: bool = True

    def chunk_settings(self) -> dict:
        """The settings that change how documents are cut; stored in and checked against the manifest."""
        return {
            "max_chars": self.chunk_max_chars,
            "min_chars": self.chunk_min_chars,
            "overlap_chars": self.chunk_overlap_chars,
        }

    def with_(self, **changes) -> "Settings":
        """A copy with the given fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(value: str, current):
    if isinstance(current, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, Path):
        return Path(value).expanduser()
    return value


def load_settings(env: dict | None = None) -> Settings:
    """Defaults overridden by ``QA_DOCS``, ``QA_INDEX``, ``QA_DTYPE``, ``QA_CHUNK_MAX_CHARS``… (``QA_`` + upper-case field)."""
    env = os.environ if env is None else env
    base = Settings()
    changes = {}
    for f in fields(Settings):
        key = "QA_" + f.name.upper()
        if key in env and env[key] != "":
            changes[f.name] = _coerce(env[key], getattr(base, f.name))
    return replace(base, **changes)
