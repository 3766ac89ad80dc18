"""One small settings object; every field can be overridden by a ``QA_*`` environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import SettingsError

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    docs: Path = REPO_ROOT / "seeds"
    index: Path = REPO_ROOT / "index"
    # "" keeps the index in ``index`` (SQLite + FAISS + BM25 files); a ``postgresql://`` URL makes that database the
    # store of record for a team (qa/pgstore.py); ``index`` then only holds local caches (OCR results).
    store: str = ""
    # The primary encoder (chunk vectors, sentence vectors, the dense list) and an optional second one
    # whose chunk vectors are scored for every hybrid candidate (see qa/encoders.py for the packaged models).
    model_name: str = "sentence-transformers/all-MiniLM-L6-v2"
    # multilingual-e5-small by default (cross-lingual search; indexing about 2× LangChain's time, bench/cost.py);
    # QA_SECOND_ENCODER=none turns it off.
    second_encoder: str = "intfloat/multilingual-e5-small"
    # torch threads of an e5 question (its passages use every core): see bench/encoders.py.
    e5_threads: int = 1
    # "auto" picks bfloat16 where it is measured faster: MiniLM on CPUs with AMX (or a GPU), e5 also on
    # AVX512-BF16 ones; else float32 (see qa/embedding.py, qa/e5.py).
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
    # Scanned PDF pages (qa/ocr.py): OCR threads (0 = the cores this process may use) and the time each page
    # adds to the file's extraction limit.
    ocr_threads: int = 0
    ocr_page_timeout_s: float = 60.0
    top_k: int = 5
    mode: str = "hybrid"
    # Above this many passages the FAISS index switches from exact search to an approximate one
    # (``ann_kind``: "ivf", which updates in place, or "hnsw", which every update rebuilds); see qa/vectors.py.
    ann_threshold: int = 50_000
    ann_kind: str = "ivf"
    # "float32", or "sq8": 8-bit scalar-quantized vectors in the approximate index (4× smaller in RAM).
    vector_codec: str = "float32"
    # Also give every sentence of every chunk a vector (stored as float16 beside the chunk) and rank hybrid
    # results with the best sentence's score; answer highlights then need no encoding at question time. The
    # vectors are pooled from the chunk's own forward pass (qa/embedding.py), so they cost little indexing time.
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

    def validate(self) -> "Settings":
        """Raise ``SettingsError`` naming the first setting that cannot be used; return ``self``."""
        choices = {
            "mode": ("hybrid", "dense", "bm25"),
            "dtype": ("auto", "float32", "fp32", "bfloat16", "bf16"),
            "ann_kind": ("ivf", "hnsw"),
            "vector_codec": ("float32", "sq8"),
        }
        from .encoders import check_model

        check_model(self.model_name)
        for name, allowed in choices.items():
            if str(getattr(self, name)).lower() not in allowed:
                raise SettingsError(f"{_name(name)} is '{getattr(self, name)}'; use one of: {', '.join(allowed)}.")
        for name in ("batch_size", "chunk_max_chars", "chunk_min_chars", "max_question_chars", "max_file_bytes",
                     "top_k", "ann_threshold", "file_timeout_s", "e5_threads", "ocr_page_timeout_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{_name(name)} is {getattr(self, name)}; it must be a positive number.")
        if self.store and not self.store.startswith(("postgresql://", "postgres://")):
            raise SettingsError(f"{_name('store')} must be empty or a postgresql:// URL.")
        if self.ocr_threads < 0:
            raise SettingsError(f"{_name('ocr_threads')} is {self.ocr_threads}; use 0 (every core) or a positive number.")
        if self.chunk_overlap_chars < 0:
            raise SettingsError(f"{_name('chunk_overlap_chars')} is {self.chunk_overlap_chars}; it cannot be negative.")
        if self.chunk_min_chars > self.chunk_max_chars or self.chunk_overlap_chars >= self.chunk_max_chars:
            raise SettingsError(
                f"The chunk settings do not fit together (max {self.chunk_max_chars}, min {self.chunk_min_chars}, "
                f"overlap {self.chunk_overlap_chars} characters): min and overlap must stay below max."
            )
        if self.top_k > 100:
            raise SettingsError(f"{_name('top_k')} is {self.top_k}; ask for at most 100 passages.")
        return self


def _name(field_name: str) -> str:
    return f"QA_{field_name.upper()}"


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_OFF = {"none", "off", "no", "0", "false"}  # QA_SECOND_ENCODER values meaning no second encoder


def _coerce(name: str, value: str, current):
    text = value.strip()
    try:
        if isinstance(current, bool):
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError
            return text.lower() in _TRUE
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
    except ValueError:
        kind = "yes or no (1/0)" if isinstance(current, bool) else "a whole number" if isinstance(current, int) else "a number"
        raise SettingsError(f"{_name(name)}={value!r} is not {kind}.") from None
    if isinstance(current, Path):
        return Path(text).expanduser()
    if name == "second_encoder" and text.lower() in _OFF:
        return ""
    return text


def load_settings(env: dict | None = None) -> Settings:
    """Defaults overridden by ``QA_DOCS``, ``QA_INDEX``, ``QA_DTYPE``, ``QA_CHUNK_MAX_CHARS``… (``QA_`` + upper-case field)."""
    env = os.environ if env is None else env
    base = Settings()
    changes = {}
    for f in fields(Settings):
        key = "QA_" + f.name.upper()
        if key in env and env[key] != "":
            changes[f.name] = _coerce(f.name, env[key], getattr(base, f.name))
    return replace(base, **changes).validate()
