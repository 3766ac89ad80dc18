"""The manifest of an index: what it was built with, checked on every open with a message that says how to rebuild."""

from __future__ import annotations

import importlib.metadata
import json
import os
import sqlite3
from pathlib import Path

import faiss

from . import vectors
from .errors import IndexMismatchError
from .snapshot import fsync_dir

FORMAT_VERSION = 2  # what the stored vectors mean: 2 = sentence spans and vectors stored with each chunk
MANIFEST_NAME = "manifest.json"
CHECKED_KEYS = ("format_version", "model", "dimension", "chunking", "sentence_vectors", "extra_encoders")
# How documents are read into text, sections, pages and passages. Raise it whenever a loader or the chunker
# changes what a document gives: the next update reads every document again (stored vectors reused by chunk
# hash). Not checked on open: an index read the old way still answers until then. 1 = no key (before session 18);
# 3 (session 19): structural and answer headings are no titles, a passage's language is read from its own text
# when it has no letter of the script its document's title gave it; 4 (session 20): a numbered item that goes on a
# list starts a sentence, a passage across a restart of the printed page numbering stores both ends' labels;
# 5 (session 21): OCR puts back the space it drops between a number or a short word and a capitalised word.
EXTRACTION_VERSION = 5


def _distribution_version(name: str) -> str | None:
    """An installed package's version without importing it (importing sentence-transformers takes seconds)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def expected_manifest(settings, dimension: int = 384, extra_encoders=None) -> dict:
    """Only the keys that must match for an index to be usable with ``settings``."""
    from .encoders import extra_encoders as settings_extra

    return {
        "format_version": FORMAT_VERSION,
        "model": settings.model_name,
        "dimension": int(dimension),
        "chunking": settings.chunk_settings(),
        "sentence_vectors": bool(settings.sentence_vectors),
        "extra_encoders": dict(settings_extra(settings, dimension) if extra_encoders is None else extra_encoders),
    }


def build_manifest(settings, dimension: int, dtype: str, vector_index: str = vectors.EXACT, extra_encoders=None) -> dict:
    """The manifest for an index built with these settings: ``expected_manifest`` plus what was built.

    ``vector_index``, ``vector_codec`` and ``vector_params`` describe the FAISS index actually built:
    ``Store.apply`` picks the kind from the chunk count (``vectors.choose``) and rewrites these keys, in
    the same transaction, when it changes. ``extra_encoders`` maps a key to ``{"model", "dimension"}``.
    """
    from . import __version__

    return {
        **expected_manifest(settings, dimension, extra_encoders),
        "extraction": EXTRACTION_VERSION,
        "dtype": dtype,
        "vector_index": vector_index,
        "vector_codec": vectors.FLOAT32,
        "vector_params": {},
        "libraries": {
            "verbatim": __version__,
            "faiss": faiss.__version__,
            "sentence_transformers": _distribution_version("sentence-transformers"),
            "sqlite": sqlite3.sqlite_version,
        },
    }


def rebuild_hint(directory: Path) -> str:
    if str(directory).startswith(("postgresql://", "postgres://")):  # a PostgreSQL store (shown without password)
        return "Rebuild it with: QA_STORE=… verbatim index --rebuild"
    return f"Rebuild it with: verbatim index --rebuild --index {directory}"


def encoders_only_differ(stored: dict, expected: dict) -> bool:
    """True when the index and the settings differ only in their second encoder (added, removed or another):
    ``update_index`` then re-reads the documents and encodes with the second encoder only, reusing every
    stored primary vector, instead of asking for ``--rebuild``."""
    if (stored.get("extra_encoders") or {}) == (expected.get("extra_encoders") or {}):
        return False
    return all(stored.get(key) == expected.get(key) for key in CHECKED_KEYS if key != "extra_encoders")


def stale_extraction(stored: dict) -> bool:
    """True when the index's documents were read by another version of the loaders or the chunker."""
    return stored.get("extraction", 1) != EXTRACTION_VERSION


def reread_needed(stored: dict, expected: dict) -> str | None:
    """Why every document must be read again while the stored vectors stay usable: ``"second encoder"``
    (``encoders_only_differ``), ``"extraction"`` (``stale_extraction``, all else matching), or None."""
    if encoders_only_differ(stored, expected):
        return "second encoder"
    if stale_extraction(stored) and not _differences(stored, expected):
        return "extraction"
    return None


def check_manifest(stored: dict, expected: dict, directory: Path) -> None:
    """Raise ``IndexMismatchError`` naming every difference and how to rebuild."""
    if encoders_only_differ(stored, expected):
        have, want = stored.get("extra_encoders") or {}, expected.get("extra_encoders") or {}
        raise IndexMismatchError(
            f"The index at {directory} has the second encoder {_models(have)} but the settings ask for "
            f"{_models(want)}. Update it with: {_update_command(directory)} (its passages and their other "
            "vectors are kept; only the second encoder's vectors are computed), or set QA_SECOND_ENCODER to match."
        )
    differences = _differences(stored, expected)
    if differences:
        raise IndexMismatchError(
            f"The index at {directory} was built with other settings ({'; '.join(differences)}). "
            + rebuild_hint(directory)
        )


def _differences(stored: dict, expected: dict) -> list[str]:
    differences = []
    for key in CHECKED_KEYS:
        have, want = stored.get(key), expected.get(key)
        if key == "extra_encoders":
            have, want = have or {}, want or {}
        if have != want:
            differences.append(f"{key} is {have!r} in the index but {want!r} now")
    return differences


def _update_command(directory) -> str:
    if str(directory).startswith(("postgresql://", "postgres://")):
        return "QA_STORE=… verbatim index"
    return f"verbatim index --index {directory}"


def _models(extra: dict) -> str:
    return ", ".join(repr(info.get("model")) for info in extra.values()) or "none"


def write_json_atomically(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
