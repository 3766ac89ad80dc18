"""The store of record: SQLite (documents, chunks, embeddings), with the derived files of ``qa.snapshot``.

Layout of an index folder::

    manifest.json          human-readable copy of the settings the index was built with
    store.sqlite3          documents (extracted text, hash, structure, language), chunks (offsets, section,
                           pages, chunk hash, float32 embedding, sentence spans and float16 sentence vectors,
                           a checksum of the three, language), extra_vectors (a second encoder's chunk vectors),
                           meta (generation, manifest)
    vectors-<G>.faiss      FAISS index of generation G (ids = chunk ids); vectors-<key>-<G>.faiss per extra encoder
    lexical-<G>/           BM25 index of generation G (bm25s files, no pickle)
    .lock                  held by the one process that is updating the index

Languages (ISO 639 codes, ``"und"`` when undetermined) are detected once, when ``apply`` writes a document
(``schema.detect_languages``: per chunk, on the text BM25 indexes; an undetermined chunk takes the
document's dominant language), or by
the schema step that added them; BM25 is always built from the stored ones.

SQLite is the only source of truth. Each committed update bumps the generation ``G`` in the same
transaction as the rows it changes, and writes the derived files of ``G`` before its commit (temp name,
fsync, rename), so a committed generation always has its files, and an update that dies leaves the
previous generation as it was (the files it wrote are deleted by the next update).

Readers take a ``snapshot()``: one SQLite read transaction on a connection of their own thread, plus the
in-memory structures of the same generation (loaded from its files once per generation, or rebuilt from
the stored embeddings and texts if a file is missing or disagrees, never re-encoded). A question reads
everything through one snapshot. Schema changes are ``PRAGMA user_version`` steps that the updater
applies in place; readers never run DDL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from . import vectors
from .chunking import embedding_text
from .errors import IndexCorruptError, IndexMismatchError, IndexMissingError, UnknownDocumentError
from .manifest import (  # noqa: F401 - re-exported for callers of the store
    CHECKED_KEYS, FORMAT_VERSION, MANIFEST_NAME, build_manifest, check_manifest, expected_manifest, rebuild_hint,
    write_json_atomically,
)
from .rows import DocumentInfo, Reads, documents_in_languages
from . import schema
from .schema import _SCHEMA_V1, SCHEMA_VERSION, row_checksum  # noqa: F401
from .snapshot import PRIMARY, Generation, GenerationFiles, Snapshot, StoredChunk, hold, open_generations, release
from .types import Chunk, Document

DB_NAME = "store.sqlite3"


@dataclass(frozen=True)
class DocumentUpsert:
    """A new or changed document with its chunks and their float32 embeddings (same order)."""

    document: Document
    chunks: tuple[Chunk, ...]
    embeddings: np.ndarray
    size: int = 0
    mtime_ns: int = 0
    # Per chunk (same order): (spans relative to the chunk as an (n, 2) int array, (n, d) vectors), or None.
    sentences: tuple | None = None
    # {encoder key: (n_chunks, d) matrix} for the extra encoders of the manifest.
    extra: dict | None = None


def _sentence_blobs(sentence_set, chunk: Chunk, dimension: int, path: str) -> tuple[bytes, bytes]:
    """Blobs for a chunk's sentences: int32 (n, 2) spans relative to the chunk and float16 (n, d) vectors."""
    spans, matrix = sentence_set
    spans = np.ascontiguousarray(spans, dtype=np.int32).reshape(-1, 2)
    matrix = np.ascontiguousarray(matrix, dtype=np.float16).reshape(-1, dimension)
    length = chunk.end - chunk.start
    if len(spans) != len(matrix) or (len(spans) and (spans.min() < 0 or spans.max() > length or (spans[:, 1] <= spans[:, 0]).any())):
        raise ValueError(f"{path}: sentence spans or vectors of chunk {chunk.ordinal} do not fit the chunk")
    return spans.tobytes(), matrix.tobytes()


def _headings_json(headings) -> str:
    return json.dumps([[h.start, h.end, h.level, h.title] for h in headings], ensure_ascii=False)


def _pages_json(pages) -> str:
    """``[start, end, number, label]`` per page, with the OCR confidence fifth for a page read by OCR."""
    return json.dumps(
        [[p.start, p.end, p.number, p.label] + ([p.ocr] if getattr(p, "ocr", None) is not None else []) for p in pages],
        ensure_ascii=False,
    )


@dataclass(frozen=True)
class ChunkRow:
    """What a store writes for one chunk of a ``DocumentUpsert``, checked (``chunk_rows``)."""

    chunk: Chunk
    lang: str
    vector: np.ndarray  # float32, the primary encoder's
    blobs: tuple  # (embedding, sentence spans or None, sentence vectors or None)
    checksum: str
    extra: dict  # {encoder key: float32 vector} of the other encoders


def chunk_rows(upsert: DocumentUpsert, dimension: int, keys: dict) -> tuple[str, list[ChunkRow]]:
    """``(document language, rows)`` of an upsert, for either store; ``keys`` is ``{encoder key: dimension}``.

    Raises ``ValueError`` naming the document when the vectors or sentence sets do not fit its chunks.
    Languages are detected here, on the text BM25 indexes (``schema.detect_languages``)."""
    doc, count = upsert.document, len(upsert.chunks)
    if count != len(upsert.embeddings):
        raise ValueError(f"{doc.path}: {count} chunks but {len(upsert.embeddings)} embeddings")
    extra = upsert.extra or {}
    for key in keys:
        if key != PRIMARY and (key not in extra or len(extra[key]) != count):
            raise ValueError(f"{doc.path}: the '{key}' vectors are missing or do not match the chunks")
    sentences = upsert.sentences or (None,) * count
    if len(sentences) != count:
        raise ValueError(f"{doc.path}: {count} chunks but {len(sentences)} sentence sets")
    languages, document_language = schema.detect_languages(
        [embedding_text(chunk.section, chunk.text, doc.title) for chunk in upsert.chunks],
        [chunk.text for chunk in upsert.chunks],
    )
    rows = []
    for i, (chunk, vector, sentence_set, lang) in enumerate(zip(upsert.chunks, upsert.embeddings, sentences, languages)):
        vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != dimension:
            raise ValueError(f"{doc.path}: an embedding has {vector.shape[0]} dimensions, not {dimension}")
        spans_blob = matrix_blob = None
        if sentence_set is not None:
            spans_blob, matrix_blob = _sentence_blobs(sentence_set, chunk, dimension, doc.path)
        blob = vector.tobytes()
        others = {}
        for key, dim in keys.items():
            if key == PRIMARY:
                continue
            others[key] = np.ascontiguousarray(extra[key][i], dtype=np.float32).reshape(-1)
            if others[key].shape[0] != dim:
                raise ValueError(f"{doc.path}: a '{key}' vector has {others[key].shape[0]} dimensions, not {dim}")
        rows.append(ChunkRow(chunk, lang, vector, (blob, spans_blob, matrix_blob),
                             row_checksum(blob, spans_blob, matrix_blob), others))
    return document_language, rows


class _Moved(Exception):
    """The generation a reader started on was replaced while it loaded its files: start again on the new one."""


class Store:
    """One open index folder. Safe to share between threads; one writer process at a time (see ``indexing``)."""

    def __init__(self, directory: Path, conn: sqlite3.Connection, manifest: dict):
        self.directory = Path(directory)
        self.files = GenerationFiles(self.directory)
        self._conn = conn  # the writer's connection (and the one ``close`` closes)
        self.manifest = manifest
        self._lock = threading.RLock()  # guards the writer connection
        self._generation_lock = threading.Lock()
        self._current: Generation | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        # Up to this many passages, every chunk's sentence vectors are kept in memory with the generation
        # (float32, about 6–9 kB a passage) instead of being read from SQLite for each question.
        self.sentence_cache_passages = 20_000
        # Only the process holding the update lock writes derived files; readers rebuild in memory.
        self.writable = False
        # How ``apply`` picks the FAISS index kind from the chunk count (the updater sets it from Settings).
        self.vector_policy = vectors.Policy()

    # ----------------------------------------------------------------- opening
    @classmethod
    def exists(cls, directory: Path) -> bool:
        """Whether an index has been built at ``directory`` (a first build that never committed does not count)."""
        path = Path(directory) / DB_NAME
        if not path.is_file():
            return False
        return not cls._blank(path)

    @staticmethod
    def needs_upgrade(directory: Path) -> bool:
        """Whether the index at ``directory`` has an older schema that an update upgrades in place (read-only look)."""
        path = Path(directory) / DB_NAME
        if not path.is_file():
            return False
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error:
            return False
        try:
            return 0 < conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION
        except sqlite3.Error:
            return False
        finally:
            conn.close()

    @staticmethod
    def _blank(path: Path) -> bool:
        """True for a store file that no update has committed to (read-only look; False if unreadable)."""
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error:
            return False
        try:
            rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('manifest', 'generation')").fetchall())
            if "manifest" not in rows:
                return conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 0
            return int(rows.get("generation", 0)) == 0
        except (sqlite3.Error, ValueError):
            return False
        finally:
            conn.close()

    @classmethod
    def open(
        cls, directory: Path, settings, *, dimension: int = 384, check: bool = True, unbuilt_ok: bool = False,
        migrate: bool = False, extra_encoders=None,
    ) -> "Store":
        """Open an existing index; raises ``IndexMissingError`` / ``IndexMismatchError`` / ``IndexCorruptError``.

        An index whose first build has not committed (generation 0) counts as missing unless ``unbuilt_ok``.
        ``migrate`` (the updater, with the update lock held) brings an older schema up to date in place.
        """
        directory = Path(directory)
        if not (directory / DB_NAME).is_file():
            raise IndexMissingError(
                f"No index at {directory}. Build it with: verbatim index --index {directory} --docs DOCS_FOLDER"
            )
        try:
            conn = cls._connect(directory, migrate=migrate)
            manifest = Reads(conn, dimension).manifest()
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise IndexCorruptError(f"The index at {directory} cannot be read ({exc}). " + rebuild_hint(directory)) from None
        try:
            if not isinstance(manifest, dict):
                raise IndexCorruptError(f"The index at {directory} has no manifest. " + rebuild_hint(directory))
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                raise IndexMismatchError(
                    f"The index at {directory} was written by an older version of Verbatim (schema {version}, now "
                    f"{SCHEMA_VERSION}). Update it in place, without re-embedding: verbatim index --index {directory}"
                )
            if version > SCHEMA_VERSION:
                raise IndexMismatchError(
                    f"The index at {directory} was written by a newer version of Verbatim (schema {version}). "
                    + rebuild_hint(directory)
                )
            if Reads(conn, dimension).generation() == 0 and not unbuilt_ok:
                raise IndexMissingError(
                    f"The index at {directory} has not been built yet (its first build is running or did not finish). "
                    f"Build it with: verbatim index --index {directory} --docs DOCS_FOLDER"
                )
            if check:
                check_manifest(manifest, expected_manifest(settings, dimension, extra_encoders), directory)
        except BaseException:
            conn.close()
            raise
        return cls(directory, conn, manifest)

    @classmethod
    def create(cls, directory: Path, manifest: dict) -> "Store":
        """Create an empty index at generation 0 (or reset the manifest of an existing one inside a transaction).

        ``open`` refuses generation 0 as not built yet: the first ``apply`` commits generation 1, so a first
        build that dies before its first commit leaves "no index", as before it started.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        conn = cls._connect(directory, migrate=True)
        with conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES('manifest', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (json.dumps(manifest),),
            )
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('generation', '0')")
        store = cls(directory, conn, manifest)
        store.write_manifest_file()
        return store

    @staticmethod
    def _connect(directory: Path, migrate: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(directory / DB_NAME, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            if migrate:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                schema.migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (no DDL; ``synchronous`` matters only to writers)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise IndexCorruptError(f"The index at {self.directory} is closed.")
            conn = sqlite3.connect(self.directory / DB_NAME, isolation_level=None, timeout=30, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._readers:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._readers.clear()
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write_manifest_file(self) -> None:
        write_json_atomically(self.directory / MANIFEST_NAME, self.manifest)

    def sync_manifest_file(self) -> None:
        """Rewrite ``manifest.json`` if it is missing or differs from the manifest in SQLite (best effort)."""
        path = self.directory / MANIFEST_NAME
        try:
            if json.loads(path.read_text(encoding="utf-8")) == self.manifest:
                return
        except (OSError, ValueError):
            pass
        try:
            self.write_manifest_file()
        except OSError:
            pass

    # ----------------------------------------------------------------- reading
    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    @contextmanager
    def _read(self):
        """``Reads`` inside one read transaction on this thread's connection (reentrant)."""
        conn = self._reader()
        if conn.in_transaction:
            yield Reads(conn, self.dimension)
            return
        conn.execute("BEGIN")
        try:
            yield Reads(conn, self.dimension)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    @contextmanager
    def snapshot(self):
        """The committed generation as one ``Snapshot``: every read inside sees that generation.

        Reentrant within a thread. Its files stay on disk while it is open (``cleanup`` skips them).
        """
        current = getattr(self._local, "snapshot", None)
        if current is not None:
            yield current
            return
        for _ in range(10):
            with self._read() as reads:
                number = reads.generation()
                try:
                    generation = self._generation(number, reads)
                except _Moved:
                    continue
                snap = Snapshot(generation, reads)
                hold(self.directory, number)
                self._local.snapshot = snap
                try:
                    yield snap
                finally:
                    self._local.snapshot = None
                    release(self.directory, number)
                return
        raise IndexCorruptError(f"The index at {self.directory} keeps changing; try again.")

    def _generation(self, number: int, reads: Reads) -> Generation:
        """The structures of generation ``number``: cached, loaded from its files, or rebuilt from the rows."""
        with self._generation_lock:
            current = self._current
            if current is not None and current.number == number:
                return current
            manifest = reads.manifest()
            generation = self._load_generation(number, manifest, reads)
            if current is None or number > current.number:
                self._current = generation
                self.manifest = manifest
            return generation

    def _load_generation(self, number: int, manifest: dict, reads: Reads) -> Generation:
        ids = reads.chunk_ids()
        dense, missing = {}, False
        for key, dim in self._encoder_dimensions(manifest).items():
            dense[key] = self.files.load_dense(number, key, ids, dim)
            missing |= dense[key] is None
        lexical = self.files.load_lexical(number, ids)
        missing |= lexical is None
        if missing and self._committed_generation() not in (number, None):
            raise _Moved()  # its files were cleaned up after a newer commit: read the newer generation
        if missing:
            for key, dim in self._encoder_dimensions(manifest).items():
                if dense[key] is None:
                    dense[key] = self._build_dense(reads, manifest, key, dim)
            if lexical is None:
                lexical = self._build_lexical(reads)
            if self.writable:
                try:
                    self.files.write(number, dense, lexical)
                except OSError:
                    pass  # the in-memory index answers; ``repair`` reports the error
        return Generation(number, manifest, ids, dense, lexical, self._kept_sentences(reads, manifest, len(ids)))

    def _kept_sentences(self, reads: Reads, manifest: dict, count: int) -> dict | None:
        """Every chunk's sentence vectors, for a generation small enough to keep them in memory; else ``None``."""
        if manifest.get("sentence_vectors") and count <= self.sentence_cache_passages:
            return reads.all_sentence_vectors()
        return None

    @staticmethod
    def _encoder_dimensions(manifest: dict) -> dict[str, int]:
        extra = {key: int(info["dimension"]) for key, info in (manifest.get("extra_encoders") or {}).items()}
        return {PRIMARY: int(manifest["dimension"]), **extra}

    def _committed_generation(self) -> int | None:
        """The committed generation, read outside any open transaction (``None`` if unreadable)."""
        try:
            conn = sqlite3.connect(f"file:{self.directory / DB_NAME}?mode=ro", uri=True, timeout=10)
            try:
                return Reads(conn, self.dimension).generation()
            finally:
                conn.close()
        except sqlite3.Error:
            return None

    def _build_dense(self, reads: Reads, manifest: dict, key: str = PRIMARY, dimension: int | None = None, kind=None, codec=None):
        ids, matrix = reads.embeddings(key, dimension or int(manifest["dimension"]))
        kind = kind or manifest.get("vector_index", vectors.EXACT)
        codec = codec or manifest.get("vector_codec", vectors.FLOAT32)
        return vectors.build(ids, matrix, matrix.shape[1], kind, codec)

    @staticmethod
    def _build_lexical(reads: Reads):
        from .lexical import LexicalIndex

        ids, texts, languages = reads.lexical_rows()
        return LexicalIndex.build(texts, ids, languages=languages)

    @property
    def generation(self) -> int:
        """The committed generation."""
        with self._read() as reads:
            return reads.generation()

    def chunk_count(self) -> int:
        with self._read() as reads:
            return reads.chunk_count()

    def chunk_ids(self) -> np.ndarray:
        with self._read() as reads:
            return reads.chunk_ids()

    def documents(self) -> list[DocumentInfo]:
        with self._read() as reads:
            return reads.documents()

    def document_info(self, path: str) -> DocumentInfo:
        with self._read() as reads:
            for info in reads.documents():
                if info.path == path:
                    return info
            raise UnknownDocumentError(reads.unknown_message(path))

    def resolve_docs(self, names) -> list[str]:
        with self._read() as reads:
            return reads.resolve_docs(names)

    def document(self, path: str) -> Document:
        """The stored document with its extracted text (what all offsets refer to)."""
        with self._read() as reads:
            return reads.document(path)

    def chunks(self, ids) -> dict[int, StoredChunk]:
        with self._read() as reads:
            return reads.chunks(ids)

    def document_chunks(self, path: str) -> list[StoredChunk]:
        with self._read() as reads:
            return reads.document_chunks(path)

    def neighbours(self, chunk_id: int, before: int = 1, after: int = 1) -> list[StoredChunk]:
        """The chunk with up to ``before``/``after`` neighbours from the same document, in order."""
        with self._read() as reads:
            return reads.neighbours(chunk_id, before, after)

    def chunk_ids_for_docs(self, paths) -> np.ndarray:
        with self._read() as reads:
            return reads.chunk_ids_for_paths(paths)

    def embeddings_by_hash(self, hashes) -> dict[str, np.ndarray]:
        """Stored embeddings for chunk hashes already in the store (reused instead of re-encoding)."""
        with self._read() as reads:
            return reads.embeddings_by_hash(hashes)

    def extra_by_hash(self, key: str, hashes) -> dict[str, np.ndarray]:
        """Stored vectors of an extra encoder for chunk hashes already in the store."""
        with self._read() as reads:
            return reads.extra_by_hash(key, hashes)

    def sentences_by_hash(self, hashes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Stored sentence spans and vectors for chunk hashes already in the store (reused, not re-encoded)."""
        with self._read() as reads:
            return reads.sentences_by("chunk_hash", set(hashes))

    def sentence_vectors(self, ids) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{chunk id: (spans relative to the chunk (n, 2), float32 vectors (n, d))}`` for chunks that have them."""
        with self.snapshot() as snap:
            return snap.sentence_vectors(ids)

    def all_embeddings(self, key: str = PRIMARY) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` for every chunk, ordered by id."""
        with self._read() as reads:
            dims = self._encoder_dimensions(self.manifest)
            return reads.embeddings(key, dims.get(key))

    def lexical_corpus(self) -> tuple[list[int], list[str]]:
        with self._read() as reads:
            return reads.lexical_corpus()

    def lexical_rows(self) -> tuple[list[int], list[str], list[str]]:
        """``(ids, texts, languages)`` that BM25 is built from (``Snapshot.in_memory(..., languages=)`` takes them)."""
        with self._read() as reads:
            return reads.lexical_rows()

    def chunk_languages(self, ids) -> dict[int, str]:
        """``{chunk id: language code}`` of the chunks still in the index."""
        with self._read() as reads:
            return reads.chunk_languages(ids)

    def languages(self) -> dict[str, int]:
        """``{language code: chunks}`` of the committed generation."""
        with self._read() as reads:
            return reads.languages()

    def documents_in_languages(self, codes, within=None) -> list[str]:
        """Paths of the documents in any of the languages ``codes`` (see ``rows.documents_in_languages``)."""
        return documents_in_languages(self.documents(), codes, within)

    def vector_index(self, key: str = PRIMARY):
        """The FAISS index of the committed generation (for tools and tests; questions use ``snapshot``)."""
        with self.snapshot() as snap:
            return snap.dense_index(key)

    def lexical_index(self):
        """The BM25 index of the committed generation (for tools and tests; questions use ``snapshot``)."""
        with self.snapshot() as snap:
            return snap.lexical

    # ----------------------------------------------------------------- writing
    def cleanup(self) -> list[str]:
        """Delete this store's derived files of generations no longer needed (call with the update lock held).

        Keeps the committed generation and any generation an open snapshot of this process reads.
        """
        deleted = self.files.cleanup(self.generation, keep=open_generations(self.directory))
        leftover = self.directory / (MANIFEST_NAME + ".tmp")  # what a write of manifest.json that died left
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink()
            deleted.append(leftover.name)
        return deleted

    def touch(self, items) -> None:
        """Record new ``(path, size, mtime_ns)`` for documents whose content did not change (not a new generation)."""
        items = list(items)
        if not items:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "UPDATE documents SET size=?, mtime_ns=? WHERE path=?", [(s, m, p) for p, s, m in items]
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def apply(
        self,
        upserts: list[DocumentUpsert],
        removed: list[str],
        renamed: list[tuple],
        manifest: dict | None = None,
        replace_all: bool = False,
        after_commit=None,
    ) -> int:
        """Apply one update in a single transaction and return the new generation.

        ``renamed`` holds ``(old, new, size, mtime_ns[, title])`` tuples. ``replace_all`` empties the store
        first (a rebuild). The FAISS and BM25 files of the new generation are written before the commit:
        if anything fails before it, the transaction is rolled back, those files are deleted and the index
        stays at the previous generation. ``after_commit`` (a test hook) runs right after the commit.
        """
        now = time.time()
        with self._lock:
            old = None
            if not replace_all and self.chunk_count():
                with self.snapshot() as snap:
                    old = snap.generation
            target = manifest if manifest is not None else self.manifest
            conn = self._conn
            number = None
            keys = tuple(self._encoder_dimensions(target))
            conn.execute("BEGIN IMMEDIATE")
            try:
                removed_ids, added = self._write_rows(conn, upserts, removed, renamed, manifest, replace_all, target, now)
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
                reads = Reads(conn, int(target["dimension"]))
                number = reads.generation()
                generation, target = self._next_generation(reads, number, old, removed_ids, added, target)
                if target != (manifest if manifest is not None else self.manifest):
                    conn.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps(target),))
                self.files.write(number, generation.dense, generation.lexical)
                conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                if number is not None and self._committed_generation() != number:
                    self.files.discard(number, keys)
                raise
            with self._generation_lock:
                self._current = generation
            self.manifest = target
            self.sync_manifest_file()
            if after_commit is not None:
                after_commit()
            try:
                self.cleanup()
            except OSError:
                pass
            return number

    def _write_rows(self, conn, upserts, removed, renamed, manifest, replace_all, target, now):
        """The row changes of ``apply``; returns (removed chunk ids, {key: [(chunk id, vector)]} added)."""
        removed_ids: list[int] = []
        keys = self._encoder_dimensions(target)
        added: dict[str, list[tuple[int, np.ndarray]]] = {key: [] for key in keys}
        if replace_all:
            removed_ids = [r[0] for r in conn.execute("SELECT id FROM chunks")]
            conn.execute("DELETE FROM chunks")
            conn.execute("DELETE FROM documents")
        if manifest is not None:
            conn.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps(manifest),))
        for item in renamed:
            old, new, size, mtime_ns = item[:4]
            title = item[4] if len(item) > 4 else None
            conn.execute(
                "UPDATE documents SET path=?, size=?, mtime_ns=?, indexed_at=?, title=COALESCE(?, title) WHERE path=?",
                (new, size, mtime_ns, now, title, old),
            )
        for path in list(removed) + [u.document.path for u in upserts]:
            row = conn.execute("SELECT id FROM documents WHERE path=?", (path,)).fetchone()
            if row is None:
                continue
            removed_ids.extend(r[0] for r in conn.execute("SELECT id FROM chunks WHERE doc_id=?", row))
            conn.execute("DELETE FROM chunks WHERE doc_id=?", row)
            conn.execute("DELETE FROM documents WHERE id=?", row)
        dimension = int(target["dimension"])
        for upsert in upserts:
            for chunk_id, vectors_by_key in self._insert_document(conn, upsert, dimension, keys, now):
                for key, vector in vectors_by_key.items():
                    added[key].append((chunk_id, vector))
        return removed_ids, added

    @staticmethod
    def _insert_document(conn, upsert: DocumentUpsert, dimension: int, keys: dict, now: float):
        doc = upsert.document
        document_language, rows = chunk_rows(upsert, dimension, keys)
        cursor = conn.execute(
            "INSERT INTO documents(path, content_hash, title, symbol, kind, text, headings, pages, "
            "page_count, chunk_count, size, mtime_ns, indexed_at, lang) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                doc.path, doc.content_hash, doc.title, doc.symbol, doc.kind, doc.text,
                _headings_json(doc.headings), _pages_json(doc.pages), len(doc.pages),
                len(upsert.chunks), upsert.size, upsert.mtime_ns, now, document_language,
            ),
        )
        doc_id = cursor.lastrowid
        inserted = []
        for row in rows:
            chunk = row.chunk
            cursor = conn.execute(
                "INSERT INTO chunks(doc_id, ordinal, start, end, section, page, page_end, page_label, para, chunk_hash, "
                "embedding, sentence_spans, sentence_vectors, checksum, lang) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    doc_id, chunk.ordinal, chunk.start, chunk.end, chunk.section, chunk.page, chunk.page_end,
                    chunk.page_label, chunk.para, chunk.chunk_hash, *row.blobs, row.checksum, row.lang,
                ),
            )
            chunk_id = cursor.lastrowid
            for key, other in row.extra.items():
                conn.execute(
                    "INSERT INTO extra_vectors(chunk_id, encoder, vector, checksum) VALUES(?,?,?,?)",
                    (chunk_id, key, other.tobytes(), row_checksum(other.tobytes())),
                )
            inserted.append((chunk_id, {PRIMARY: row.vector, **row.extra}))
        return inserted

    def _next_generation(self, reads: Reads, number: int, old: Generation | None, removed_ids, added, manifest):
        """The structures of the generation being written (from the rows this transaction sees) and the
        manifest with the ``vector_*`` keys describing the primary FAISS index actually built."""
        ids = reads.chunk_ids()
        dense = {}
        for key, dimension in self._encoder_dimensions(manifest).items():
            dense[key] = self._next_dense(reads, ids, old, key, dimension, removed_ids, added.get(key, []), manifest)
        recorded = self._with_vector_index(manifest, dense[PRIMARY])
        generation = Generation(number, recorded, ids, dense, self._build_lexical(reads),
                                self._kept_sentences(reads, manifest, len(ids)))
        return generation, recorded

    @staticmethod
    def _with_vector_index(manifest: dict, index) -> dict:
        """``manifest`` with the ``vector_*`` keys describing ``index``."""
        info = vectors.describe(index)
        params = {k: v for k, v in info.items() if k not in ("kind", "codec", "count")}
        recorded = dict(manifest)
        recorded.update(vector_index=info["kind"], vector_codec=info["codec"], vector_params=params)
        return recorded

    def _next_dense(self, reads, ids, old, key, dimension, removed_ids, added, manifest):
        """The FAISS index of one encoder after this update.

        The kind and codec come from the chunk count and ``vector_policy`` (``vectors.choose``). An exact
        or IVF index of the right kind is updated in place (on a copy: the old generation keeps serving
        until the commit); anything else is built afresh from the stored embeddings, never re-encoded.
        """
        old_index = old.dense.get(key) if old is not None else None
        kind, codec = vectors.choose(len(ids), self.vector_policy, old_index)
        if (
            old_index is not None
            and vectors.supports_removal(old_index)
            and (vectors.index_kind(old_index), vectors.index_codec(old_index)) == (kind, codec)
        ):
            index = faiss.clone_index(old_index)
            add_ids = np.fromiter((a[0] for a in added), dtype=np.int64, count=len(added))
            add_vectors = np.array([a[1] for a in added], dtype=np.float32).reshape(len(added), dimension)
            vectors.update(index, np.array(removed_ids, dtype=np.int64), add_ids, add_vectors)
            if np.array_equal(vectors.ids_of(index), ids):
                return index
        return self._build_dense(reads, manifest, key, dimension, kind, codec)

    def repair(self) -> dict:
        """Make sure the files of the current generation exist and agree with the store (updater only).

        Rebuilds a missing, unreadable or stale file from stored embeddings/texts (no re-encoding) and
        writes it; raises ``OSError`` if it cannot be written. Returns ``{"vectors": "ok"|"rebuilt", "lexical": …}``.
        """
        with self._read() as reads:
            number, manifest, ids = reads.generation(), reads.manifest(), reads.chunk_ids()
            dims = self._encoder_dimensions(manifest)
            dense = {key: self.files.load_dense(number, key, ids, dim) for key, dim in dims.items()}
            lexical = self.files.load_lexical(number, ids)
            result = {
                "vectors": "ok" if all(v is not None for v in dense.values()) else "rebuilt",
                "lexical": "ok" if lexical is not None else "rebuilt",
            }
            if "rebuilt" in result.values():
                dense = {key: index if index is not None else self._build_dense(reads, manifest, key, dims[key])
                         for key, index in dense.items()}
                lexical = lexical if lexical is not None else self._build_lexical(reads)
                self.files.write(number, dense, lexical)
        return result

    def verify(self, strict: bool = False) -> dict:
        """Check that FAISS, BM25 and every chunk row agree with the store; returns counts.

        Raises ``IndexCorruptError`` on a disagreement or a damaged row (a vector blob whose checksum no
        longer matches). ``files`` says whether the files of the current generation are ``ok``, ``missing``
        or ``stale`` (a reader then answers from an index rebuilt in memory); ``strict`` raises unless both are ``ok``.
        """
        with self.snapshot() as snap:
            reads = snap.records
            generation, ids = snap.number, snap.generation.ids
            if not np.array_equal(reads.chunk_ids(), ids):
                raise IndexCorruptError("The passages changed inside one snapshot.")
            for key, index in snap.generation.dense.items():
                faiss_ids = vectors.ids_of(index)
                if not np.array_equal(faiss_ids, ids):
                    raise IndexCorruptError(f"FAISS ids ({len(faiss_ids)}, {key}) disagree with the store ({len(ids)}).")
            lexical = snap.lexical
            if len(lexical) != len(ids) or not np.array_equal(np.sort(lexical.ids), ids):
                raise IndexCorruptError(f"BM25 rows ({len(lexical)}) disagree with the store ({len(ids)}).")
            docs = self._verify_rows(reads.conn, snap.manifest)
            dims = self._encoder_dimensions(snap.manifest)
            files = {
                "vectors": self._file_state(
                    all(self.files.load_dense(generation, k, ids, d) is not None for k, d in dims.items()),
                    self.files.vectors_path(generation),
                ),
                "lexical": self._file_state(self.files.load_lexical(generation, ids) is not None,
                                            self.files.lexical_path(generation)),
            }
            faiss_count = int(snap.dense_index().ntotal)
        if strict and set(files.values()) != {"ok"}:
            raise IndexCorruptError(f"The derived files of generation {generation} are not in order: {files}.")
        return {"documents": docs, "chunks": len(ids), "faiss": faiss_count, "lexical": len(lexical),
                "generation": generation, "files": files}

    @staticmethod
    def _verify_rows(conn, manifest: dict) -> int:
        dimension = int(manifest["dimension"])
        docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        checks = [
            ("SELECT COUNT(*) FROM documents d WHERE chunk_count != (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id)",
             (), "documents have a chunk count that disagrees with their chunks"),
            ("SELECT COUNT(*) FROM chunks WHERE length(embedding) != ?", (4 * dimension,), "chunks have an embedding of the wrong size"),
            ("SELECT COUNT(*) FROM chunks WHERE (sentence_spans IS NULL) != (sentence_vectors IS NULL) "
             "OR length(sentence_vectors) * 4 != length(sentence_spans) * ?" + (
                 " OR sentence_spans IS NULL" if manifest.get("sentence_vectors") else ""),
             (dimension,), "chunks have missing or mis-sized sentence vectors"),
            ("SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.doc_id "
             "WHERE c.start < 0 OR c.end <= c.start OR c.end > length(d.text)", (), "chunks have offsets outside their document's text"),
        ]
        for key in manifest.get("extra_encoders") or {}:
            checks.append(("SELECT COUNT(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM extra_vectors e "
                           "WHERE e.chunk_id = c.id AND e.encoder = ?)", (key,), f"chunks have no '{key}' vector"))
        for sql, params, problem in checks:
            bad = conn.execute(sql, params).fetchone()[0]
            if bad:
                raise IndexCorruptError(f"{bad} {problem}.")
        damaged = [
            chunk_id
            for chunk_id, checksum, *blobs in conn.execute(
                "SELECT id, checksum, embedding, sentence_spans, sentence_vectors FROM chunks"
            )
            if checksum is not None and checksum != row_checksum(*blobs)
        ]
        damaged += [
            chunk_id
            for chunk_id, checksum, blob in conn.execute("SELECT chunk_id, checksum, vector FROM extra_vectors")
            if checksum != row_checksum(blob)
        ]
        if damaged:
            raise IndexCorruptError(
                f"{len(damaged)} chunk rows are damaged (their vectors no longer match their checksums; first: "
                f"chunk {damaged[0]}). Rebuild the index: verbatim index --rebuild"
            )
        return docs

    @staticmethod
    def _file_state(loaded: bool, path: Path) -> str:
        if loaded:
            return "ok"
        return "stale" if path.exists() else "missing"

