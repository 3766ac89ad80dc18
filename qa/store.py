"""The store of record: SQLite (documents, chunks, embeddings) plus derived FAISS and BM25 files.

Layout of an index folder::

    manifest.json          human-readable copy of the settings the index was built with
    store.sqlite3          documents (extracted text, hash, structure), chunks (offsets, section,
                           pages, chunk hash, float32 embedding, and the chunk's sentence spans
                           with their float16 embeddings), meta (generation, manifest)
    vectors-<G>.faiss      FAISS IndexIDMap2 for generation G (ids = chunk ids)
    lexical-<G>/           BM25 index for generation G (bm25s files, no pickle)
    .lock                  held by the one process that is updating the index

SQLite is the only source of truth. Each committed update bumps the generation
``G`` in the same transaction as the rows it changes, so an interrupted update
leaves the index exactly as it was before or after.

The FAISS and BM25 files are named by generation. ``apply`` writes the files of the
new generation *inside* its transaction, just before the commit (temp file or
folder, fsync, rename, fsync of the folder). So:

* a process that dies, or an update that fails (disk full, an exception), before the
  commit leaves the previous generation and its files untouched; the files it wrote
  for the uncommitted generation are deleted by the next update (``cleanup``);
* once a generation is committed its files are already on disk, so readers never
  wait for them;
* if the file of the current generation is missing, unreadable or disagrees with the
  store anyway (deleted by hand, a damaged disk), ``vector_index``/``lexical_index``
  rebuild it from the stored embeddings and texts without re-encoding anything (and
  the updater writes it back on its next run).

Readers check the generation on every query (``vector_index``/``lexical_index``) and
switch to the new files once a new generation is committed. ``snapshot()`` holds one
SQLite read transaction so that several reads see the same committed generation.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
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
from .types import Chunk, Document, Heading, PageSpan

FORMAT_VERSION = 2  # 2: sentence spans and vectors stored with each chunk
DB_NAME = "store.sqlite3"
MANIFEST_NAME = "manifest.json"
CHECKED_KEYS = ("format_version", "model", "dimension", "chunking", "sentence_vectors")

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
    embedding BLOB NOT NULL,
    sentence_spans BLOB,
    sentence_vectors BLOB
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
    # Per chunk (same order): (spans relative to the chunk as an (n, 2) int array, (n, d) vectors), or None.
    sentences: tuple | None = None


def _distribution_version(name: str) -> str | None:
    """An installed package's version without importing it (importing sentence-transformers takes seconds)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def build_manifest(settings, dimension: int, dtype: str, vector_index: str = vectors.EXACT) -> dict:
    """The manifest for an index built with these settings.

    ``vector_index`` (``flat``/``ivf``/``hnsw``), ``vector_codec`` (``float32``/``sq8``) and
    ``vector_params`` describe the FAISS index actually built: ``Store.apply`` picks the kind from the
    chunk count (``vectors.choose``) and rewrites these keys, in the same transaction, when it changes.
    """
    from . import __version__

    return {
        "format_version": FORMAT_VERSION,
        "model": settings.model_name,
        "dimension": int(dimension),
        "dtype": dtype,
        "chunking": settings.chunk_settings(),
        "vector_index": vector_index,
        "vector_codec": vectors.FLOAT32,
        "vector_params": {},
        "sentence_vectors": bool(settings.sentence_vectors),
        "libraries": {
            "verbatim": __version__,
            "faiss": faiss.__version__,
            "sentence_transformers": _distribution_version("sentence-transformers"),
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
        "sentence_vectors": bool(settings.sentence_vectors),
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


def _fsync_dir(directory: Path) -> None:
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


def _remove(path: Path) -> None:
    """Delete a file or folder if it is there (best effort)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _write_json_atomically(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _lexical_ids(index) -> np.ndarray | None:
    """The sorted chunk ids of a ``LexicalIndex`` (``None`` if it does not expose them)."""
    ids = getattr(index, "ids", None)
    if ids is None:
        ids = getattr(index, "_ids", None)
    if ids is None:
        return None
    return np.sort(np.asarray(ids, dtype=np.int64))


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
        self._sentences: dict | None = None
        self._sentences_generation = -1
        # Up to this many passages, every chunk's sentence vectors are kept in memory (float32, about 6–9 kB
        # a passage) instead of being read from SQLite for each question (2 ms of a 15 ms budget at 10k).
        self.sentence_cache_passages = 20_000
        # Only the process holding the update lock writes derived files; readers rebuild in memory.
        self.writable = False
        # How ``apply`` picks the FAISS index kind from the chunk count (the updater sets it from Settings).
        self.vector_policy = vectors.Policy()

    # ----------------------------------------------------------------- opening
    @classmethod
    def exists(cls, directory: Path) -> bool:
        """Whether an index has been built at ``directory``.

        A store whose first build has not committed yet (generation 0, or not even a manifest) does not
        count; an unreadable one does (``open`` then explains what is wrong).
        """
        path = Path(directory) / DB_NAME
        if not path.exists():
            return False
        return not cls._blank(path)

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
        cls, directory: Path, settings, *, dimension: int = 384, check: bool = True, unbuilt_ok: bool = False
    ) -> "Store":
        """Open an existing index; raises ``IndexMissingError`` / ``IndexMismatchError`` / ``IndexCorruptError``.

        An index whose first build has not committed (generation 0) counts as missing unless ``unbuilt_ok``.
        """
        directory = Path(directory)
        if not (directory / DB_NAME).exists():
            raise IndexMissingError(
                f"No index at {directory}. Build it with: python -m qa index --index {directory} --docs DOCS_FOLDER"
            )
        try:
            conn = cls._connect(directory)
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"The index at {directory} cannot be read ({exc}). " + _rebuild_hint(directory)) from None
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
            manifest = json.loads(row[0]) if row is not None else None
        except (sqlite3.DatabaseError, ValueError) as exc:
            conn.close()
            raise IndexCorruptError(f"The index at {directory} cannot be read ({exc}). " + _rebuild_hint(directory)) from None
        if not isinstance(manifest, dict):
            conn.close()
            raise IndexCorruptError(f"The index at {directory} has no manifest. " + _rebuild_hint(directory))
        if cls._read_generation(conn) == 0 and not unbuilt_ok:
            # Generation 0 is the empty shell ``create`` makes; the first update commits generation 1.
            conn.close()
            raise IndexMissingError(
                f"The index at {directory} has not been built yet (its first build is running or did not finish). "
                f"Build it with: python -m qa index --index {directory} --docs DOCS_FOLDER"
            )
        if check:
            try:
                check_manifest(manifest, expected_manifest(settings, dimension), directory)
            except IndexMismatchError:
                conn.close()
                raise
        return cls(directory, conn, manifest)

    @classmethod
    def create(cls, directory: Path, manifest: dict) -> "Store":
        """Create an empty index at generation 0 (or reset the manifest of an existing one inside a transaction).

        ``open`` refuses generation 0 as not built yet: the first ``apply`` commits generation 1, so a first
        build that dies half-way leaves "no index", as before it started.
        """
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
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
            for column in ("sentence_spans", "sentence_vectors"):  # an index of format 1, about to be rebuilt
                if column not in columns:
                    conn.execute(f"ALTER TABLE chunks ADD COLUMN {column} BLOB")
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write_manifest_file(self) -> None:
        _write_json_atomically(self.directory / MANIFEST_NAME, self.manifest)

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

    @contextmanager
    def snapshot(self):
        """Hold one SQLite read transaction: every read inside sees the same committed generation.

        Reentrant; blocks other threads using this ``Store`` while held (keep it short). Wrap a whole
        query (``vector_index``, ``lexical_index``, ``chunks``) in it to read one generation throughout.
        """
        with self._lock:
            if self._conn.in_transaction:
                yield self
                return
            self._conn.execute("BEGIN")
            try:
                yield self
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    # ----------------------------------------------------------------- reading
    @property
    def generation(self) -> int:
        """The committed generation (inside ``apply``'s transaction: the one being written)."""
        with self._lock:
            return self._read_generation(self._conn)

    @staticmethod
    def _read_generation(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
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
        with self.snapshot():
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

    def sentences_by_hash(self, hashes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Stored sentence spans and vectors for chunk hashes already in the store (reused, not re-encoded)."""
        with self._lock:
            return self._sentences_by("chunk_hash", list(set(hashes)))

    def sentence_vectors(self, ids) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{chunk id: (spans relative to the chunk (n, 2), float32 vectors (n, d))}`` for chunks that have them.

        Small indexes (``sentence_cache_passages``) keep them all in memory, per generation."""
        ids = [int(i) for i in ids]
        with self.snapshot():
            if not self.manifest.get("sentence_vectors"):
                return {}
            generation = self.generation
            if self._sentences_generation != generation:  # (``None`` for this generation: too large to keep)
                everything = None
                if self.chunk_count() <= self.sentence_cache_passages:
                    rows = self._conn.execute(
                        "SELECT id, sentence_spans, sentence_vectors FROM chunks WHERE sentence_spans IS NOT NULL"
                    )
                    everything = {key: self._decode_sentences(spans, matrix) for key, spans, matrix in rows}
                self._sentences, self._sentences_generation = everything, generation
            if self._sentences is not None:
                return {i: self._sentences[i] for i in ids if i in self._sentences}
            return self._sentences_by("id", ids)

    def _sentences_by(self, column: str, keys: list) -> dict:
        found = {}
        for offset in range(0, len(keys), 900):
            batch = keys[offset : offset + 900]
            for key, spans, matrix in self._conn.execute(
                f"SELECT {column}, sentence_spans, sentence_vectors FROM chunks "
                f"WHERE sentence_spans IS NOT NULL AND {column} IN ({','.join('?' * len(batch))})",
                batch,
            ):
                found[key] = self._decode_sentences(spans, matrix)
        return found

    def _decode_sentences(self, spans: bytes, matrix: bytes) -> tuple[np.ndarray, np.ndarray]:
        dimension = int(self.manifest["dimension"])
        spans = np.frombuffer(spans, dtype=np.int32).reshape(-1, 2)
        # float32 in memory: converting float16 costs more than the whole dot product (0.4 ms a question)
        return spans, np.frombuffer(matrix, dtype=np.float16).reshape(-1, dimension).astype(np.float32)

    def all_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` for every chunk, ordered by id."""
        dimension = int(self.manifest["dimension"])
        with self.snapshot():
            rows = self._conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.empty((len(rows), dimension), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            matrix[i] = np.frombuffer(blob, dtype=np.float32)
        return ids, matrix

    def lexical_corpus(self) -> tuple[list[int], list[str]]:
        """``(ids, texts)`` that the BM25 index is built from: what ``chunking.embedding_text`` gives each chunk."""
        ids, texts = [], []
        with self.snapshot():
            docs = self._conn.execute("SELECT id, text, title FROM documents ORDER BY id").fetchall()
            for doc_id, text, title in docs:
                for chunk_id, start, end, section in self._conn.execute(
                    "SELECT id, start, end, section FROM chunks WHERE doc_id=? ORDER BY ordinal", (doc_id,)
                ):
                    ids.append(chunk_id)
                    texts.append(embedding_text(section, text[start:end], title))
        return ids, texts

    # ------------------------------------------------------- derived indexes
    def _vectors_path(self, generation: int) -> Path:
        return self.directory / f"vectors-{generation}.faiss"

    def _lexical_path(self, generation: int) -> Path:
        return self.directory / f"lexical-{generation}"

    def vector_index(self):
        """The FAISS index for the current generation: loaded from disk, or rebuilt from stored embeddings.

        Checked against the store's chunk ids; cached until the generation changes. Never re-encodes.
        """
        with self.snapshot():
            generation = self.generation
            if self._vector_index is not None and self._vector_generation == generation:
                return self._vector_index
            index = self._load_vectors(generation, self.chunk_ids())
            if index is None:
                index = self._build_vector_index()
                if self.writable:
                    try:
                        self._write_vectors(index, generation)
                    except OSError:
                        pass  # the in-memory index answers; ``repair`` reports the error
            self._vector_index, self._vector_generation = index, generation
            return index

    def _load_vectors(self, generation: int, ids: np.ndarray):
        """The FAISS file of ``generation`` if it is there, readable and holds exactly ``ids``; else ``None``."""
        path = self._vectors_path(generation)
        if not path.is_file():
            return None
        try:
            index = vectors.load(path)
        except Exception:
            return None
        if index.d != int(self.manifest["dimension"]) or not np.array_equal(vectors.ids_of(index), ids):
            return None
        return index

    def _build_vector_index(self, manifest: dict | None = None, kind: str | None = None, codec: str | None = None):
        """A FAISS index over every stored embedding, of the kind the manifest records (or the one given)."""
        manifest = manifest or self.manifest
        ids, matrix = self.all_embeddings()
        kind = kind or manifest.get("vector_index", vectors.EXACT)
        codec = codec or manifest.get("vector_codec", vectors.FLOAT32)
        return vectors.build(ids, matrix, int(manifest["dimension"]), kind, codec)

    def lexical_index(self):
        """The BM25 index for the current generation: loaded from disk, or rebuilt from stored texts."""
        with self.snapshot():
            generation = self.generation
            if self._lexical is not None and self._lexical_generation == generation:
                return self._lexical
            index = self._load_lexical(generation, self.chunk_ids())
            if index is None:
                index = self._build_lexical_index()
                if self.writable:
                    try:
                        self._write_lexical(index, generation)
                    except OSError:
                        pass
            self._lexical, self._lexical_generation = index, generation
            return index

    def _load_lexical(self, generation: int, ids: np.ndarray):
        from .lexical import LexicalIndex

        path = self._lexical_path(generation)
        if not path.is_dir():
            return None
        try:
            index = LexicalIndex.load(path)
        except Exception:
            return None
        stored = _lexical_ids(index)
        if stored is None:
            return index if len(index) == len(ids) else None
        return index if np.array_equal(stored, ids) else None

    def _build_lexical_index(self):
        from .lexical import LexicalIndex

        ids, texts = self.lexical_corpus()
        return LexicalIndex.build(texts, ids)

    def _write_vectors(self, index, generation: int) -> None:
        vectors.save(index, self._vectors_path(generation))
        _fsync_dir(self.directory)

    def _write_lexical(self, index, generation: int) -> None:
        final = self._lexical_path(generation)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        index.save(tmp)
        for child in tmp.iterdir():
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        _fsync_dir(tmp)
        # A folder cannot be renamed over a non-empty one: move the old one aside first. A crash in
        # between leaves no folder for this generation, which is rebuilt from the store on next use.
        if final.exists():
            old = final.with_name(final.name + ".old.tmp")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(self.directory)

    # Kept for callers of the previous name.
    def _save_lexical(self, index, generation: int) -> None:
        self._write_lexical(index, generation)

    def repair(self) -> dict:
        """Make sure the files of the current generation exist and agree with the store (updater only).

        Rebuilds a missing, unreadable or stale file from stored embeddings/texts (no re-encoding) and
        writes it; raises ``OSError`` if it cannot be written (the index still answers from memory).
        Returns ``{"vectors": "ok"|"rebuilt", "lexical": "ok"|"rebuilt"}``.
        """
        result = {}
        with self.snapshot():
            generation = self.generation
            ids = self.chunk_ids()
            index = self._load_vectors(generation, ids)
            result["vectors"] = "ok" if index is not None else "rebuilt"
            if index is None:
                index = self._build_vector_index()
                self._write_vectors(index, generation)
            self._vector_index, self._vector_generation = index, generation
            lexical = self._load_lexical(generation, ids)
            result["lexical"] = "ok" if lexical is not None else "rebuilt"
            if lexical is None:
                lexical = self._build_lexical_index()
                self._write_lexical(lexical, generation)
            self._lexical, self._lexical_generation = lexical, generation
        return result

    def _may_write(self) -> bool:
        return self.writable

    # ----------------------------------------------------------------- writing
    def cleanup(self) -> None:
        """Remove temporary files and derived files of other generations (call with the update lock held).

        Files of a generation above the current one are what an update that died before its commit left.
        """
        generation = self.generation
        keep = {self._vectors_path(generation).name, self._lexical_path(generation).name}
        for child in list(self.directory.iterdir()):
            name = child.name
            stale_tmp = name.endswith(".tmp")
            derived = name.startswith(("vectors-", "lexical-"))
            if stale_tmp or (derived and name not in keep):
                _remove(child)

    def touch(self, items) -> None:
        """Record new ``(path, size, mtime_ns)`` for documents whose content did not change.

        Not a new generation: nothing that is searched changes, only what the next scan compares with.
        """
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

        ``renamed`` holds ``(old, new)`` or ``(old, new, size, mtime_ns)`` tuples. ``replace_all`` empties
        the store first (a rebuild). The FAISS and BM25 files of the new generation are written before
        the commit (see the module docstring): if anything fails before the commit, the transaction is
        rolled back, those files are deleted and the index stays at the previous generation.
        ``after_commit`` (a test hook) is called right after the commit, before the cleanup of old files.
        """
        now = time.time()
        with self._lock:
            old_index = self.vector_index() if not replace_all and self.chunk_count() else None
            target_manifest = manifest if manifest is not None else self.manifest
            removed_chunk_ids: list[int] = []
            added: list[tuple[int, np.ndarray]] = []
            conn = self._conn
            generation = None
            conn.execute("BEGIN IMMEDIATE")
            try:
                if replace_all:
                    removed_chunk_ids = [r[0] for r in conn.execute("SELECT id FROM chunks")]
                    conn.execute("DELETE FROM chunks")
                    conn.execute("DELETE FROM documents")
                if manifest is not None:
                    conn.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps(manifest),))
                for item in renamed:
                    old, new = item[0], item[1]
                    if len(item) >= 4:
                        conn.execute(
                            "UPDATE documents SET path=?, size=?, mtime_ns=?, indexed_at=? WHERE path=?",
                            (new, item[2], item[3], now, old),
                        )
                    else:
                        conn.execute("UPDATE documents SET path=?, indexed_at=? WHERE path=?", (new, now, old))
                for path in list(removed) + [u.document.path for u in upserts]:
                    row = conn.execute("SELECT id FROM documents WHERE path=?", (path,)).fetchone()
                    if row is None:
                        continue
                    removed_chunk_ids.extend(r[0] for r in conn.execute("SELECT id FROM chunks WHERE doc_id=?", row))
                    conn.execute("DELETE FROM chunks WHERE doc_id=?", row)
                    conn.execute("DELETE FROM documents WHERE id=?", row)
                dimension = int(target_manifest["dimension"])
                for upsert in upserts:
                    doc = upsert.document
                    if len(upsert.chunks) != len(upsert.embeddings):
                        raise ValueError(f"{doc.path}: {len(upsert.chunks)} chunks but {len(upsert.embeddings)} embeddings")
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
                    sentences = upsert.sentences or (None,) * len(upsert.chunks)
                    if len(sentences) != len(upsert.chunks):
                        raise ValueError(f"{doc.path}: {len(upsert.chunks)} chunks but {len(sentences)} sentence sets")
                    for chunk, vector, sentence_set in zip(upsert.chunks, upsert.embeddings, sentences):
                        vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
                        if vector.shape[0] != dimension:
                            raise ValueError(f"{doc.path}: an embedding has {vector.shape[0]} dimensions, not {dimension}")
                        spans_blob = matrix_blob = None
                        if sentence_set is not None:
                            spans_blob, matrix_blob = _sentence_blobs(sentence_set, chunk, dimension, doc.path)
                        cursor = conn.execute(
                            "INSERT INTO chunks(doc_id, ordinal, start, end, section, page, page_end, page_label, "
                            "para, chunk_hash, embedding, sentence_spans, sentence_vectors) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            (
                                doc_id, chunk.ordinal, chunk.start, chunk.end, chunk.section, chunk.page,
                                chunk.page_end, chunk.page_label, chunk.para, chunk.chunk_hash, vector.tobytes(),
                                spans_blob, matrix_blob,
                            ),
                        )
                        added.append((cursor.lastrowid, vector))
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
                generation = self.generation  # this transaction's (not yet committed) generation
                # Derived files of the new generation, from the rows this transaction sees, before the commit.
                index = self._next_vector_index(old_index, removed_chunk_ids, added, target_manifest)
                recorded = self._with_vector_index(target_manifest, index)
                if recorded != target_manifest:  # the kind changed with the count: record it in this transaction
                    conn.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps(recorded),))
                    manifest = target_manifest = recorded
                lexical = self._build_lexical_index()
                self._write_vectors(index, generation)
                self._write_lexical(lexical, generation)
                conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                if generation is not None and self._committed_generation() != generation:
                    for path in (self._vectors_path(generation), self._lexical_path(generation)):
                        _remove(path)
                        _remove(path.with_name(path.name + ".tmp"))
                raise
            self._vector_index, self._vector_generation = index, generation
            self._lexical, self._lexical_generation = lexical, generation
            if manifest is not None:
                self.manifest = manifest
                self.sync_manifest_file()
            if after_commit is not None:
                after_commit()
            try:
                self.cleanup()
            except OSError:
                pass
            return generation

    def _committed_generation(self) -> int | None:
        try:
            return self.generation
        except sqlite3.Error:
            return None

    @staticmethod
    def _with_vector_index(manifest: dict, index) -> dict:
        """``manifest`` with the ``vector_*`` keys describing ``index``."""
        info = vectors.describe(index)
        params = {k: v for k, v in info.items() if k not in ("kind", "codec", "count")}
        recorded = dict(manifest)
        recorded.update(vector_index=info["kind"], vector_codec=info["codec"], vector_params=params)
        return recorded

    def _next_vector_index(self, old_index, removed_ids: list[int], added: list[tuple[int, np.ndarray]], manifest: dict):
        """The FAISS index after this update.

        The kind and codec come from the chunk count and ``vector_policy`` (``vectors.choose``). An exact
        or IVF index of the right kind is updated in place (on a copy: the cached index keeps serving
        until the commit); anything else (an HNSW graph, a change of kind or codec, an IVF index whose
        lists no longer suit the count) is built afresh from the stored embeddings, never re-encoded.
        """
        dimension = int(manifest["dimension"])
        ids = self.chunk_ids()
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
        return self._build_vector_index(manifest, kind, codec)

    def verify(self, strict: bool = False) -> dict:
        """Check that FAISS and BM25 agree with the store; returns counts (raises ``IndexCorruptError`` if not).

        ``files`` in the result says whether the files of the current generation are ``ok``, ``missing``
        or ``stale`` (a reader then answers from an index rebuilt in memory); ``strict`` raises unless
        both are ``ok``.
        """
        dimension = int(self.manifest["dimension"])
        with self.snapshot():
            generation = self.generation
            ids = self.chunk_ids()
            index = self.vector_index()
            faiss_ids = vectors.ids_of(index)
            if not np.array_equal(faiss_ids, ids):
                raise IndexCorruptError(f"FAISS ids ({len(faiss_ids)}) disagree with the store ({len(ids)}).")
            lexical = self.lexical_index()
            lexical_ids = _lexical_ids(lexical)
            if len(lexical) != len(ids) or (lexical_ids is not None and not np.array_equal(lexical_ids, ids)):
                raise IndexCorruptError(f"BM25 rows ({len(lexical)}) disagree with the store ({len(ids)}).")
            conn = self._conn
            docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            bad = conn.execute(
                "SELECT COUNT(*) FROM documents d WHERE chunk_count != (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id)"
            ).fetchone()[0]
            if bad:
                raise IndexCorruptError(f"{bad} documents have a chunk count that disagrees with their chunks.")
            bad = conn.execute("SELECT COUNT(*) FROM chunks WHERE length(embedding) != ?", (4 * dimension,)).fetchone()[0]
            if bad:
                raise IndexCorruptError(f"{bad} chunks have an embedding of the wrong size.")
            bad = conn.execute(
                "SELECT COUNT(*) FROM chunks WHERE (sentence_spans IS NULL) != (sentence_vectors IS NULL) "
                "OR length(sentence_vectors) * 4 != length(sentence_spans) * ?",
                (dimension,),
            ).fetchone()[0]
            if self.manifest.get("sentence_vectors"):
                bad += conn.execute("SELECT COUNT(*) FROM chunks WHERE sentence_spans IS NULL").fetchone()[0]
            if bad:
                raise IndexCorruptError(f"{bad} chunks have missing or mis-sized sentence vectors.")
            bad = conn.execute(
                "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE c.start < 0 OR c.end <= c.start OR c.end > length(d.text)"
            ).fetchone()[0]
            if bad:
                raise IndexCorruptError(f"{bad} chunks have offsets outside their document's text.")
            files = {
                "vectors": self._file_state(self._load_vectors(generation, ids), self._vectors_path(generation)),
                "lexical": self._file_state(self._load_lexical(generation, ids), self._lexical_path(generation)),
            }
        if strict and set(files.values()) != {"ok"}:
            raise IndexCorruptError(f"The derived files of generation {generation} are not in order: {files}.")
        return {
            "documents": docs,
            "chunks": len(ids),
            "faiss": int(index.ntotal),
            "lexical": len(lexical),
            "generation": generation,
            "files": files,
        }

    @staticmethod
    def _file_state(loaded, path: Path) -> str:
        if loaded is not None:
            return "ok"
        return "stale" if path.exists() else "missing"
