"""The store of record: SQLite (documents, chunks, embeddings) plus derived FAISS and BM25 files.

Layout of an index folder::

    manifest.json          human-readable copy of the settings the index was built with
    store.sqlite3          documents (extracted text, hash, structure), chunks (offsets, section,
                           pages, chunk hash, float32 embedding), meta (generation, manifest)
    vectors-<G>.faiss      FAISS IndexIDMap2 for generation G (ids = chunk ids)
    lexical-<G>/           BM25 index for generation G (bm25s files, no pickle)
    .lock                  held by the one process that is updating the index

SQLite is the only source of truth. Each committed update bumps the generation
``G`` in the same transaction as the rows it changes, so an interrupted update
leaves the index exactly as it was before or after. The FAISS and BM25 files are
named by generation and written with temp-file-and-rename; when the file for
the current generation is missing, stale or unreadable it is rebuilt from the
stored embeddings and texts without re-encoding anything.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import vectors
from .chunking import embedding_text
from .errors import IndexCorruptError, IndexMismatchError, IndexMissingError, UnknownDocumentError
from .types import Chunk, Document, Heading, PageSpan

FORMAT_VERSION = 1
DB_NAME = "store.sqlite3"
MANIFEST_NAME = "manifest.json"
CHECKED_KEYS = ("format_version", "model", "dimension", "chunking")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT UNIQUE NOT NULL,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    symbol TEXT,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    headings TEXT NOT NULL,
    pages TEXT NOT NULL,
    page_count INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    section TEXT NOT NULL,
    page INTEGER,
    page_end INTEGER,
    page_label TEXT,
    para TEXT,
    chunk_hash TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id, ordinal);
CREATE INDEX IF NOT EXISTS chunks_by_hash ON chunks(chunk_hash);
"""


@dataclass(frozen=True)
class DocumentInfo:
    """What the store knows about an indexed document, without its text."""

    id: int
    path: str
    title: str
    symbol: str | None
    kind: str
    content_hash: str
    page_count: int
    chunk_count: int
    size: int
    mtime_ns: int
    indexed_at: float


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


@dataclass(frozen=True)
class DocumentUpsert:
    """A new or changed document with its chunks and their float32 embeddings (same order)."""

    document: Document
    chunks: tuple[Chunk, ...]
    embeddings: np.ndarray
    size: int = 0
    mtime_ns: int = 0


def build_manifest(settings, dimension: int, dtype: str, vector_index: str = vectors.EXACT) -> dict:
    """The manifest for an index built with these settings."""
    import faiss
    import sentence_transformers

    from . import __version__

    return {
        "format_version": FORMAT_VERSION,
        "model": settings.model_name,
        "dimension": int(dimension),
        "dtype": dtype,
        "chunking": settings.chunk_settings(),
        "vector_index": vector_index,
        "libraries": {
            "verbatim": __version__,
            "faiss": faiss.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "sqlite": sqlite3.sqlite_version,
        },
    }


def expected_manifest(settings, dimension: int = 384) -> dict:
    """Only the keys that must match for an index to be usable with ``settings``."""
    return {
        "format_version": FORMAT_VERSION,
        "model": settings.model_name,
        "dimension": int(dimension),
        "chunking": settings.chunk_settings(),
    }


def _rebuild_hint(directory: Path) -> str:
    return f"Rebuild it with: python -m qa index --rebuild --index {directory}"


def check_manifest(stored: dict, expected: dict, directory: Path) -> None:
    """Raise ``IndexMismatchError`` naming every difference and how to rebuild."""
    differences = []
    for key in CHECKED_KEYS:
        if stored.get(key) != expected.get(key):
            differences.append(f"{key} is {stored.get(key)!r} in the index but {expected.get(key)!r} now")
    if differences:
        raise IndexMismatchError(
            f"The index at {directory} was built with other settings ({'; '.join(differences)}). "
            + _rebuild_hint(directory)
        )


def _write_json_atomically(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _headings_json(headings) -> str:
    return json.dumps([[h.start, h.end, h.level, h.title] for h in headings], ensure_ascii=False)


def _pages_json(pages) -> str:
    return json.dumps([[p.start, p.end, p.number, p.label] for p in pages], ensure_ascii=False)


class Store:
    """One open index folder. Safe to share between threads; one writer process at a time (see ``indexing``)."""

    def __init__(self, directory: Path, conn: sqlite3.Connection, manifest: dict):
        self.directory = Path(directory)
        self._conn = conn
        self.manifest = manifest
        self._lock = threading.RLock()
        self._vector_index = None
        self._vector_generation = -1
        self._lexical = None
        self._lexical_generation = -1
        # Only the process holding the update lock writes derived files; readers rebuild in memory.
        self.writable = False

    # ----------------------------------------------------------------- opening
    @classmethod
    def exists(cls, directory: Path) -> bool:
        return (Path(directory) / DB_NAME).exists()

    @classmethod
    def open(cls, directory: Path, settings, *, dimension: int = 384, check: bool = True) -> "Store":
        """Open an existing index; raises ``IndexMissingError`` / ``IndexMismatchError`` / ``IndexCorruptError``."""
        directory = Path(directory)
        if not cls.exists(directory):
            raise IndexMissingError(
                f"No index at {directory}. Build it with: python -m qa index --index {directory} --docs DOCS_FOLDER"
            )
        conn = cls._connect(directory)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexCorruptError(f"The index at {directory} cannot be read ({exc}). " + _rebuild_hint(directory)) from None
        if row is None:
            conn.close()
            raise IndexCorruptError(f"The index at {directory} has no manifest. " + _rebuild_hint(directory))
        manifest = json.loads(row[0])
        if check:
            try:
                check_manifest(manifest, expected_manifest(settings, dimension), directory)
            except IndexMismatchError:
                conn.close()
                raise
        return cls(directory, conn, manifest)

    @classmethod
    def create(cls, directory: Path, manifest: dict) -> "Store":
        """Create an empty index (or reset the manifest of an existing one inside a transaction)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        conn = cls._connect(directory)
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
    def _connect(directory: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(directory / DB_NAME, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def write_manifest_file(self) -> None:
        _write_json_atomically(self.directory / MANIFEST_NAME, self.manifest)

    # ----------------------------------------------------------------- reading
    @property
    def generation(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def chunk_count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def chunk_ids(self) -> np.ndarray:
        with self._lock:
            rows = self._conn.execute("SELECT id FROM chunks ORDER BY id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def documents(self) -> list[DocumentInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, path, title, symbol, kind, content_hash, page_count, chunk_count, size, mtime_ns, indexed_at "
                "FROM documents ORDER BY path"
            ).fetchall()
        return [DocumentInfo(*row) for row in rows]

    def document_info(self, path: str) -> DocumentInfo:
        for info in self.documents():
            if info.path == path:
                return info
        raise UnknownDocumentError(self._unknown_message(path))

    def _unknown_message(self, path: str) -> str:
        known = [d.path for d in self.documents()]
        listing = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
        return f"'{path}' is not in the index. Indexed documents: {listing or '(none)'}"

    def resolve_docs(self, names) -> list[str]:
        """Map user-given document names (paths, or unique file names) to indexed paths; unknown names raise."""
        known = [d.path for d in self.documents()]
        resolved = []
        for name in names:
            name = name.replace("\\", "/").strip("/")
            if name in known:
                resolved.append(name)
                continue
            matches = [p for p in known if p.rsplit("/", 1)[-1] == name or p.rsplit("/", 1)[-1].rsplit(".", 1)[0] == name]
            if len(matches) != 1:
                raise UnknownDocumentError(self._unknown_message(name))
            resolved.append(matches[0])
        return resolved

    def document(self, path: str) -> Document:
        """The stored document with its extracted text (what all offsets refer to)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT path, text, title, content_hash, headings, pages, symbol, kind FROM documents WHERE path=?",
                (path,),
            ).fetchone()
        if row is None:
            raise UnknownDocumentError(self._unknown_message(path))
        return Document(
            path=row[0],
            text=row[1],
            title=row[2],
            content_hash=row[3],
            headings=tuple(Heading(*h) for h in json.loads(row[4])),
            pages=tuple(PageSpan(*p) for p in json.loads(row[5])),
            symbol=row[6],
            kind=row[7],
        )

    _CHUNK_COLUMNS = (
        "c.id, d.path, d.title, d.symbol, c.ordinal, c.start, c.end, c.section, c.page, c.page_end, "
        "c.page_label, c.para, substr(d.text, c.start + 1, c.end - c.start)"
    )

    def chunks(self, ids) -> dict[int, StoredChunk]:
        """Chunk rows by id (ids no longer in the store are simply absent)."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        result = {}
        with self._lock:
            for offset in range(0, len(ids), 900):
                batch = ids[offset : offset + 900]
                rows = self._conn.execute(
                    f"SELECT {self._CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
                    f"WHERE c.id IN ({','.join('?' * len(batch))})",
                    batch,
                ).fetchall()
                result.update({row[0]: StoredChunk(*row) for row in rows})
        return result

    def document_chunks(self, path: str) -> list[StoredChunk]:
        """All chunks of one document in reading order."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {self._CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE d.path = ? ORDER BY c.ordinal",
                (path,),
            ).fetchall()
        return [StoredChunk(*row) for row in rows]

    def neighbours(self, chunk_id: int, before: int = 1, after: int = 1) -> list[StoredChunk]:
        """The chunk with up to ``before``/``after`` neighbours from the same document, in order."""
        with self._lock:
            row = self._conn.execute("SELECT doc_id, ordinal FROM chunks WHERE id=?", (int(chunk_id),)).fetchone()
            if row is None:
                return []
            rows = self._conn.execute(
                f"SELECT {self._CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE c.doc_id = ? AND c.ordinal BETWEEN ? AND ? ORDER BY c.ordinal",
                (row[0], row[1] - before, row[1] + after),
            ).fetchall()
        return [StoredChunk(*r) for r in rows]

    def chunk_ids_for_docs(self, paths) -> np.ndarray:
        paths = list(paths)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.path IN ({','.join('?' * len(paths))})",
                paths,
            ).fetchall()
        return np.array(sorted(r[0] for r in rows), dtype=np.int64)

    def embeddings_by_hash(self, hashes) -> dict[str, np.ndarray]:
        """Stored embeddings for chunk hashes already in the store (reused instead of re-encoding)."""
        hashes = list(set(hashes))
        found = {}
        with self._lock:
            for offset in range(0, len(hashes), 900):
                batch = hashes[offset : offset + 900]
                for chunk_hash, blob in self._conn.execute(
                    f"SELECT chunk_hash, embedding FROM chunks WHERE chunk_hash IN ({','.join('?' * len(batch))})", batch
                ):
                    found[chunk_hash] = np.frombuffer(blob, dtype=np.float32)
        return found

    def all_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` for every chunk, ordered by id."""
        dimension = int(self.manifest["dimension"])
        with self._lock:
            rows = self._conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.empty((len(rows), dimension), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            matrix[i] = np.frombuffer(blob, dtype=np.float32)
        return ids, matrix

    def lexical_corpus(self) -> tuple[list[int], list[str]]:
        """``(ids, texts)`` that the BM25 index is built from: each chunk's section heading and text."""
        ids, texts = [], []
        with self._lock:
            docs = self._conn.execute("SELECT id, text FROM documents").fetchall()
            for doc_id, text in docs:
                for chunk_id, start, end, section in self._conn.execute(
                    "SELECT id, start, end, section FROM chunks WHERE doc_id=? ORDER BY ordinal", (doc_id,)
                ):
                    ids.append(chunk_id)
                    texts.append(embedding_text(section, text[start:end]))
        return ids, texts

    # ------------------------------------------------------- derived indexes
    def _vectors_path(self, generation: int) -> Path:
        return self.directory / f"vectors-{generation}.faiss"

    def _lexical_path(self, generation: int) -> Path:
        return self.directory / f"lexical-{generation}"

    def vector_index(self):
        """The FAISS index for the current generation: loaded from disk, or rebuilt from stored embeddings."""
        with self._lock:
            generation = self.generation
            if self._vector_index is not None and self._vector_generation == generation:
                return self._vector_index
            index = None
            path = self._vectors_path(generation)
            self._wait_for_writer(path)
            if path.exists():
                try:
                    index = vectors.load(path)
                except Exception:
                    index = None
            if index is None or not np.array_equal(vectors.ids_of(index), self.chunk_ids()):
                index = self._build_vector_index()
                if self._may_write():
                    vectors.save(index, path)
            self._vector_index, self._vector_generation = index, generation
            return index

    def _build_vector_index(self):
        ids, matrix = self.all_embeddings()
        kind = self.manifest.get("vector_index", vectors.EXACT)
        return vectors.build(ids, matrix, int(self.manifest["dimension"]), kind)

    def lexical_index(self):
        """The BM25 index for the current generation: loaded from disk, or rebuilt from stored texts."""
        from .lexical import LexicalIndex

        with self._lock:
            generation = self.generation
            if self._lexical is not None and self._lexical_generation == generation:
                return self._lexical
            index = None
            path = self._lexical_path(generation)
            self._wait_for_writer(path)
            if path.exists():
                try:
                    index = LexicalIndex.load(path)
                except Exception:
                    index = None
            if index is None or len(index) != self.chunk_count():
                ids, texts = self.lexical_corpus()
                index = LexicalIndex.build(texts, ids)
                if self._may_write():
                    self._save_lexical(index, generation)
            self._lexical, self._lexical_generation = index, generation
            return index

    def _save_lexical(self, index, generation: int) -> None:
        final = self._lexical_path(generation)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        index.save(tmp)
        for child in tmp.iterdir():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)

    def _may_write(self) -> bool:
        return self.writable

    def _wait_for_writer(self, path: Path, seconds: float = 3.0) -> None:
        """A reader that sees a new generation gives the writer a moment to finish writing its files."""
        deadline = time.monotonic() + seconds
        while not self.writable and not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    # ----------------------------------------------------------------- writing
    def cleanup(self) -> None:
        """Remove temporary files and derived files of older generations (call with the update lock held)."""
        generation = self.generation
        for child in self.directory.iterdir():
            name = child.name
            stale_tmp = name.endswith(".tmp")
            old_vectors = name.startswith("vectors-") and name != self._vectors_path(generation).name
            old_lexical = name.startswith("lexical-") and name != self._lexical_path(generation).name
            if stale_tmp or old_vectors or old_lexical:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)

    def apply(
        self,
        upserts: list[DocumentUpsert],
        removed: list[str],
        renamed: list[tuple[str, str]],
        manifest: dict | None = None,
        replace_all: bool = False,
        after_commit=None,
    ) -> int:
        """Apply one update in a single transaction, then refresh the derived indexes; returns the new generation.

        ``replace_all`` empties the store first (a rebuild). ``after_commit`` is a test hook called between
        the SQLite commit and the derived-file writes.
        """
        now = time.time()
        with self._lock:
            old_vector_index = self.vector_index() if not replace_all and self.chunk_count() else None
            removed_chunk_ids: list[int] = []
            added: list[tuple[int, np.ndarray]] = []
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                if replace_all:
                    removed_chunk_ids = [r[0] for r in conn.execute("SELECT id FROM chunks")]
                    conn.execute("DELETE FROM chunks")
                    conn.execute("DELETE FROM documents")
                if manifest is not None:
                    conn.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps(manifest),))
                for old, new in renamed:
                    conn.execute("UPDATE documents SET path=?, indexed_at=? WHERE path=?", (new, now, old))
                for path in list(removed) + [u.document.path for u in upserts]:
                    row = conn.execute("SELECT id FROM documents WHERE path=?", (path,)).fetchone()
                    if row is None:
                        continue
                    removed_chunk_ids.extend(r[0] for r in conn.execute("SELECT id FROM chunks WHERE doc_id=?", row))
                    conn.execute("DELETE FROM chunks WHERE doc_id=?", row)
                    conn.execute("DELETE FROM documents WHERE id=?", row)
                for upsert in upserts:
                    doc = upsert.document
                    cursor = conn.execute(
                        "INSERT INTO documents(path, content_hash, title, symbol, kind, text, headings, pages, "
                        "page_count, chunk_count, size, mtime_ns, indexed_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            doc.path, doc.content_hash, doc.title, doc.symbol, doc.kind, doc.text,
                            _headings_json(doc.headings), _pages_json(doc.pages), len(doc.pages),
                            len(upsert.chunks), upsert.size, upsert.mtime_ns, now,
                        ),
                    )
                    doc_id = cursor.lastrowid
                    for chunk, vector in zip(upsert.chunks, upsert.embeddings):
                        vector = np.ascontiguousarray(vector, dtype=np.float32)
                        cursor = conn.execute(
                            "INSERT INTO chunks(doc_id, ordinal, start, end, section, page, page_end, page_label, "
                            "para, chunk_hash, embedding) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                            (
                                doc_id, chunk.ordinal, chunk.start, chunk.end, chunk.section, chunk.page,
                                chunk.page_end, chunk.page_label, chunk.para, chunk.chunk_hash, vector.tobytes(),
                            ),
                        )
                        added.append((cursor.lastrowid, vector))
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if manifest is not None:
                self.manifest = manifest
                self.write_manifest_file()
            if after_commit is not None:
                after_commit()
            self._refresh_derived(old_vector_index, removed_chunk_ids, added)
            return self.generation

    def _refresh_derived(self, old_index, removed_ids: list[int], added: list[tuple[int, np.ndarray]]) -> None:
        generation = self.generation
        wanted_kind = self.manifest.get("vector_index", vectors.EXACT)
        if old_index is not None and vectors.supports_removal(old_index) and wanted_kind == vectors.EXACT:
            add_ids = np.array([a[0] for a in added], dtype=np.int64)
            add_vectors = np.array([a[1] for a in added], dtype=np.float32).reshape(len(added), -1)
            index = vectors.update(old_index, np.array(removed_ids, dtype=np.int64), add_ids, add_vectors)
        else:
            index = self._build_vector_index()
        vectors.save(index, self._vectors_path(generation))
        self._vector_index, self._vector_generation = index, generation
        self._lexical = None
        self.lexical_index()
        self.cleanup()

    def verify(self) -> dict:
        """Check that FAISS and BM25 agree with the store; returns counts (raises ``IndexCorruptError`` if not)."""
        ids = self.chunk_ids()
        index = self.vector_index()
        faiss_ids = vectors.ids_of(index)
        if not np.array_equal(faiss_ids, ids):
            raise IndexCorruptError(f"FAISS ids ({len(faiss_ids)}) disagree with the store ({len(ids)}).")
        with self._lock:
            docs = self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            bad = self._conn.execute(
                "SELECT COUNT(*) FROM documents d WHERE chunk_count != (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id)"
            ).fetchone()[0]
        if bad:
            raise IndexCorruptError(f"{bad} documents have a chunk count that disagrees with their chunks.")
        return {"documents": docs, "chunks": len(ids), "faiss": int(index.ntotal), "generation": self.generation}
