"""One committed generation of an index, as a reader sees it.

A ``Generation`` holds the derived structures of generation G, immutable once built: the FAISS index
per encoder (ids = chunk ids), the BM25 index and, for small indexes, every chunk's sentence vectors.
``GenerationFiles`` names, loads, writes and cleans up their files in the index folder
(``vectors-<G>.faiss``, ``vectors-<encoder>-<G>.faiss`` for a second encoder, ``lexical-<G>/``).

A ``Snapshot`` is what one question reads: a ``Generation`` plus the store's rows *at the same
generation* (``Records``: a SQLite read transaction for an index on disk, plain dicts for an index
built in memory by a benchmark). Everything a question reads, from the first FAISS search to the last
chunk row, comes from the one snapshot, so an update committing meanwhile cannot mix two generations.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from . import translations, vectors

PRIMARY = "primary"  # the key of the chunk vectors of the index's first encoder


@dataclass(frozen=True)
class StoredChunk:
    """A chunk row joined with its document's citation data."""

    id: int
    doc: str
    title: str
    symbol: str | None
    ordinal: int
    start: int
    end: int
    section: str
    page: int | None
    page_end: int | None
    page_label: str | None
    para: str | None
    text: str
    lang: str = "und"  # the chunk's language (ISO 639 code), "und" when undetermined


@dataclass(frozen=True, eq=False)
class Generation:
    """The derived, read-only structures of one committed generation."""

    number: int
    manifest: dict
    ids: np.ndarray
    dense: dict  # {encoder key: FAISS index}; PRIMARY is always there
    lexical: object  # qa.lexical.LexicalIndex
    sentences: dict | None = None  # {chunk id: (spans (n, 2), float32 vectors (n, d))}, or None when not kept
    memo: dict = field(default_factory=dict, repr=False)  # structures derived on first use (``Snapshot.translations``)

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])


class Records(Protocol):
    """The rows of one generation that a question needs (see ``StoreRecords`` and ``MemoryRecords``)."""

    def chunks(self, ids) -> dict[int, StoredChunk]: ...

    def chunk_texts(self, ids) -> dict[int, str]: ...

    def sections_containing(self, needles) -> dict[int, str]: ...

    def sentence_vectors(self, ids) -> dict[int, tuple[np.ndarray, np.ndarray]]: ...

    def chunk_ids_for_docs(self, names) -> np.ndarray: ...

    def chunk_languages(self, ids) -> dict[int, str]: ...

    def chunk_documents(self, ids) -> dict[int, object]: ...

    def languages(self) -> dict[str, int]: ...

    def ocr_pages(self, paths) -> dict[str, dict[int, float]]: ...


@dataclass
class MemoryRecords:
    """Rows held in memory (benchmarks, tests): chunk rows, sentence vectors and languages by chunk id.

    A chunk's language is ``languages[id]``, else its row's ``lang``, else ``"und"`` (nothing is detected here).
    """

    rows: dict[int, StoredChunk] = field(default_factory=dict)
    sentences: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    languages_by_id: dict[int, str] = field(default_factory=dict)

    def _language(self, chunk_id: int) -> str:
        if chunk_id in self.languages_by_id:
            return self.languages_by_id[chunk_id]
        row = self.rows.get(chunk_id)
        return row.lang if row is not None else "und"

    def chunk_languages(self, ids) -> dict[int, str]:
        return {int(i): self._language(int(i)) for i in ids}

    def chunk_documents(self, ids) -> dict[int, str]:
        return {int(i): self.rows[int(i)].doc for i in ids if int(i) in self.rows}

    def ocr_pages(self, paths) -> dict[str, dict[int, float]]:
        return {}  # rows in memory carry no page maps

    def languages(self) -> dict[str, int]:
        counts = Counter(self._language(i) for i in set(self.rows) | set(self.languages_by_id))
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def chunks(self, ids) -> dict[int, StoredChunk]:
        return {int(i): self.rows[int(i)] for i in ids if int(i) in self.rows}

    def chunk_texts(self, ids) -> dict[int, str]:
        return {int(i): self.rows[int(i)].text for i in ids if int(i) in self.rows}

    def sections_containing(self, needles) -> dict[int, str]:
        needles = [n for n in needles if n]
        return {i: row.section for i, row in self.rows.items() if row.section and any(n in row.section for n in needles)}

    def sentence_vectors(self, ids) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        return {int(i): self.sentences[int(i)] for i in ids if int(i) in self.sentences}

    def chunk_ids_for_docs(self, names) -> np.ndarray:
        wanted = set(names)
        return np.array(sorted(i for i, row in self.rows.items() if row.doc in wanted), dtype=np.int64)


class Snapshot:
    """One question's view of one committed generation: search structures and rows that agree."""

    def __init__(self, generation: Generation, records: Records):
        self.generation = generation
        self.records = records

    @classmethod
    def in_memory(
        cls, ids, matrix: np.ndarray, texts: list[str], *, rows: dict | None = None, sentences: dict | None = None,
        extra_dense: dict | None = None, manifest: dict | None = None, languages=None,
    ) -> "Snapshot":
        """A snapshot over arrays (no files, no SQLite): what benchmarks tune the product's search on.

        ``texts[i]`` is what BM25 indexes for ``ids[i]``; ``extra_dense`` maps an encoder key to its
        ``(n, d)`` matrix in the same order; ``sentences`` maps a chunk id to ``(spans, vectors)``;
        ``languages[i]`` is the language of ``texts[i]`` (``Store.lexical_rows`` gives the stored ones);
        without it each text's language is detected (``qa.language.detect``, no "und" → document rule).
        """
        from . import language
        from .lexical import LexicalIndex

        texts = list(texts)
        if languages is None:
            languages = [language.detect(text) for text in texts]
        languages = [str(code) for code in languages]
        if len(languages) != len(texts):
            raise ValueError("texts and languages must have the same length")

        ids = np.asarray(ids, dtype=np.int64)
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        dense = {PRIMARY: vectors.build(ids, matrix, matrix.shape[1])}
        for key, other in (extra_dense or {}).items():
            other = np.ascontiguousarray(other, dtype=np.float32)
            dense[key] = vectors.build(ids, other, other.shape[1])
        manifest = dict(manifest or {})
        manifest.setdefault("dimension", int(matrix.shape[1]))
        manifest.setdefault("sentence_vectors", bool(sentences))
        lexical = LexicalIndex.build(texts, ids.tolist(), languages=languages)
        generation = Generation(1, manifest, np.sort(ids), dense, lexical, dict(sentences or {}))
        return cls(generation, MemoryRecords(dict(rows or {}), languages_by_id=dict(zip(ids.tolist(), languages))))

    # -------------------------------------------------------------- structures
    @property
    def number(self) -> int:
        return self.generation.number

    @property
    def manifest(self) -> dict:
        return self.generation.manifest

    @property
    def lexical(self):
        return self.generation.lexical

    def dense_index(self, key: str = PRIMARY):
        return self.generation.dense[key]

    def has_dense(self, key: str) -> bool:
        return key in self.generation.dense

    def dense_search(self, query_vector: np.ndarray, depth: int, allowed=None, key: str = PRIMARY):
        return vectors.search(self.generation.dense[key], query_vector, depth, allowed)

    def cosines(self, ids, query_vector: np.ndarray, key: str = PRIMARY) -> np.ndarray:
        """Cosine of each chunk id (in the order given) with the query vector."""
        return vectors.reconstruct(self.generation.dense[key], list(ids)) @ np.asarray(query_vector).reshape(-1)

    def translations(self, key: str):
        """The ``qa.translations.Table`` of encoder ``key``'s vectors, built on first use and kept with the
        generation; ``None`` for an index in one language. BM25's row counts per language tell that without
        reading a row (a language without an analyser of its own counts as English there, and is not pooled)."""
        memo = self.generation.memo
        if key not in memo:
            several = sum(rows >= translations.MIN_ROWS for rows in self.lexical.languages.values()) >= 2
            memo[key] = (translations.table(self.generation.dense[key], self.records.chunk_languages,
                                            self.records.chunk_documents)
                         if several else None)
        return memo[key]

    # -------------------------------------------------------------------- rows
    def chunks(self, ids) -> dict[int, StoredChunk]:
        return self.records.chunks(ids)

    def chunk_texts(self, ids) -> dict[int, str]:
        """``{chunk id: text}``, for many chunks at once (``chunks`` gives whole rows)."""
        return self.records.chunk_texts(ids)

    def sections_containing(self, needles) -> dict[int, str]:
        """``{chunk id: section path}`` of the chunks whose section path contains one of ``needles``."""
        return self.records.sections_containing(needles)

    def sentence_vectors(self, ids) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        if not self.manifest.get("sentence_vectors"):
            return {}
        cached = self.generation.sentences
        if cached is not None:
            return {int(i): cached[int(i)] for i in ids if int(i) in cached}
        return self.records.sentence_vectors(ids)

    def chunk_ids_for_docs(self, names) -> np.ndarray:
        return self.records.chunk_ids_for_docs(names)

    def chunk_languages(self, ids) -> dict[int, str]:
        """``{chunk id: language code}`` as stored (``"und"``: undetermined); ids not in this generation are absent
        (in memory: ``"und"``)."""
        return self.records.chunk_languages(ids)

    def languages(self) -> dict[str, int]:
        """``{language code: number of chunks}`` in this generation, most chunks first."""
        return self.records.languages()

    def ocr_pages(self, paths) -> dict[str, dict[int, float]]:
        """``{document: {page: mean OCR confidence}}`` of the documents' scanned pages (none in memory)."""
        return self.records.ocr_pages(paths)


# ------------------------------------------------------------------ files
_NAME = re.compile(r"^(vectors|lexical)(?:-([a-z0-9]+))?-(\d+)(\.faiss)?(\.tmp|\.old\.tmp)?$")
# What bm25s and LexicalIndex.save write into a lexical-<G> folder: a folder holding anything else is
# not ours and is never deleted.
_LEXICAL_FILES = re.compile(r"^(params\.index\.json|vocab\.index\.json|data\.csc\.index\.npy|indices\.csc\.index\.npy|"
                            r"indptr\.csc\.index\.npy|nonoccurrence_array\.index\.npy|ids\.npy|lexical\.json)$")

# Generations with an open snapshot in this process, by index folder: their files are kept.
_OPEN: Counter = Counter()
_OPEN_LOCK = threading.Lock()


def hold(directory: Path, number: int) -> None:
    with _OPEN_LOCK:
        _OPEN[(str(Path(directory).resolve()), number)] += 1


def release(directory: Path, number: int) -> None:
    with _OPEN_LOCK:
        key = (str(Path(directory).resolve()), number)
        _OPEN[key] -= 1
        if _OPEN[key] <= 0:
            del _OPEN[key]


def open_generations(directory: Path) -> set[int]:
    root = str(Path(directory).resolve())
    with _OPEN_LOCK:
        return {number for (folder, number) in _OPEN if folder == root}


def fsync_dir(directory: Path) -> None:
    """Make renames inside ``directory`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _load_checked(path: Path, load, agrees):
    """``load(path)`` if the path exists, loads and ``agrees`` with the store; else ``None`` (rebuilt by the caller)."""
    if not path.exists():
        return None
    try:
        loaded = load(path)
    except Exception:  # noqa: BLE001 - a damaged derived file is rebuilt from the store
        return None
    return loaded if agrees(loaded) else None


class GenerationFiles:
    """The derived files of one index folder."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def vectors_path(self, number: int, key: str = PRIMARY) -> Path:
        infix = "" if key == PRIMARY else f"-{key}"
        return self.directory / f"vectors{infix}-{number}.faiss"

    def lexical_path(self, number: int) -> Path:
        return self.directory / f"lexical-{number}"

    def paths(self, number: int, keys=(PRIMARY,)) -> list[Path]:
        return [self.vectors_path(number, key) for key in keys] + [self.lexical_path(number)]

    def load_dense(self, number: int, key: str, ids: np.ndarray, dimension: int):
        """The FAISS file of ``number`` if it is there, readable and holds exactly ``ids``; else ``None``."""
        return _load_checked(
            self.vectors_path(number, key), vectors.load,
            lambda index: index.d == dimension and np.array_equal(vectors.ids_of(index), ids),
        )

    def load_lexical(self, number: int, ids: np.ndarray):
        """The BM25 folder of ``number`` if it is there, readable and holds exactly ``ids``; else ``None``."""
        from .lexical import LexicalIndex

        return _load_checked(self.lexical_path(number), LexicalIndex.load, lambda index: np.array_equal(np.sort(index.ids), ids))

    def write(self, number: int, dense: dict, lexical) -> None:
        """Write every structure of generation ``number`` (temp name, fsync, rename, fsync of the folder)."""
        for key, index in dense.items():
            vectors.save(index, self.vectors_path(number, key))
        self._write_lexical(lexical, number)
        fsync_dir(self.directory)

    def _write_lexical(self, index, number: int) -> None:
        final = self.lexical_path(number)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        index.save(tmp)
        for child in tmp.iterdir():
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        fsync_dir(tmp)
        # A folder cannot be renamed over a non-empty one: move the old one aside first. A crash in
        # between leaves no folder for this generation, which is rebuilt from the store on next use.
        if final.exists():
            old = final.with_name(final.name + ".old.tmp")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)

    def discard(self, number: int, keys=(PRIMARY,)) -> None:
        """Delete the files of a generation that never committed (and their temp files)."""
        for path in self.paths(number, keys):
            for candidate in (path, path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old.tmp")):
                self._remove_ours(candidate)

    def cleanup(self, current: int, keep=()) -> list[str]:
        """Delete derived files of other generations than ``current`` and ``keep``; returns the names deleted.

        Only names this class writes are considered (``vectors[-key]-<G>.faiss``, ``lexical-<G>``, their
        ``.tmp``/``.old.tmp`` forms) and only for generations the store can have written (1 … current + 1:
        ``current + 1`` is what an update that died before its commit leaves). A ``lexical-<G>`` folder
        holding any file BM25 does not write is not ours and stays.
        """
        keep = set(keep) | {current}
        deleted = []
        for child in list(self.directory.iterdir()):
            match = _NAME.match(child.name)
            if not match:
                continue
            kind, number, suffix = match.group(1), int(match.group(3)), match.group(5)
            if (kind == "vectors") != bool(match.group(4)):
                continue  # "vectors-3" without .faiss, or "lexical-3.faiss": not ours
            if not 1 <= number <= current + 1:
                continue
            if number in keep and not suffix:
                continue
            if self._remove_ours(child):
                deleted.append(child.name)
        return deleted

    @staticmethod
    def _remove_ours(path: Path) -> bool:
        try:
            if path.is_symlink():
                return False
            if path.is_dir():
                if any(not (c.is_file() and _LEXICAL_FILES.match(c.name)) for c in path.iterdir()):
                    return False
                shutil.rmtree(path)
                return True
            if path.is_file():
                path.unlink()
                return True
        except OSError:
            pass
        return False
