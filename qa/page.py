"""The one module of ``qa`` that imports Streamlit: what the page keeps per process (model, open index).

Everything else the page needs is plain Python in other modules (``render``, ``uploads``, ``pending``,
``conversation``, ``progress``, ``reporting``), so that the library, the CLI and the tests never load
Streamlit.
"""

from __future__ import annotations

import gc
from pathlib import Path

import streamlit as st


def current_settings():
    """Settings from the environment (``QA_DOCS``, ``QA_INDEX``, ``QA_MODE``…)."""
    from .settings import load_settings

    return load_settings()


@st.cache_resource(show_spinner="Loading the language model (only on the first start)…")
def load_embedder(dtype: str, device: str, batch_size: int):
    """The embedding model, loaded once per process."""
    from .embedding import load_embedder as _load
    from .spelling import load_word_lists

    embedder = _load(dtype, device, batch_size)
    load_word_lists()  # what spelling reads: the first question with a typing slip need not wait for it
    settle_heap()
    return embedder


def settle_heap() -> None:
    """Move everything alive now (torch, transformers, the model: about 500 000 objects) out of the garbage
    collector's reach, so that a full collection only walks what was made since.

    Streamlit runs ``gc.collect(2)`` after every script run (``runner.postScriptGC``), holding the GIL; over the
    whole heap of a process with torch loaded that took 0.22 s on the 2-core machine, for every question of
    every session, while no other session's script or message could run (bench/concurrency.py: 28 % of the
    server's samples with 8 sessions asking at once). Objects frozen here are still freed by reference
    counting; only cycles among them would stay, and they are the long-lived model and modules.
    """
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def load_store(index: str, model_name: str, chunking: tuple, _settings=None):
    """The open index, once per process and folder (or PostgreSQL store). It notices new generations by itself
    (per query); a PostgreSQL store applies only the chunks that changed."""
    from .stores import open_store

    return open_store(_settings)


def store_for(settings):
    """The cached store for ``settings.index`` or ``settings.store`` (keyed on where it is and the settings that must match)."""
    where = settings.store or str(Path(settings.index).resolve())
    return load_store(where, settings.model_name, tuple(sorted(settings.chunk_settings().items())), _settings=settings)


def forget_store(settings) -> None:
    """Drop the cached store (after a rebuild, or when it could not be opened)."""
    load_store.clear()
