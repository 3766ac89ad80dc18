"""The store of record on PostgreSQL (``QA_STORE=postgresql://…``): one index shared by a team.

Everything lives in the schema ``verbatim`` of the database the URL names:

    meta             generation, manifest, schema version, oldest generation of the change log
    documents_all    documents, live (``generation`` set) or staged by an indexer (``generation`` NULL)
    chunks_all       chunk rows with their float32 embedding and float16 sentence vectors
    extra_all        a second encoder's chunk vectors
    documents, chunks, extra_vectors
                     views of the live rows: what ``qa.rows.Reads`` queries, exactly as on SQLite
    removed_chunks   chunk ids each generation removed: how an app server follows generations
    work             the queue of documents to index, claimed with ``FOR UPDATE SKIP LOCKED`` (``qa.pgindex``)

The FAISS and BM25 structures are never stored: each app server builds them in memory from the rows,
then follows new generations by applying only the chunks added and removed since (``_catch_up``).
A question reads one ``REPEATABLE READ`` transaction, so the rows and the structures are of one
committed generation. A generation is published by one transaction that holds the advisory lock
``PUBLISH_LOCK`` and sends ``NOTIFY verbatim_generation``.

Credentials come from the URL (``QA_STORE``) or libpq's own sources (``~/.pgpass``, ``PGPASSWORD``) and
never appear in a message: ``redact`` shows a URL without its password. All values are query
parameters. An app server needs only ``SELECT`` on the schema (see the README for the grants).
"""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from . import vectors
from .chunking import embedding_text
from .errors import IndexCorruptError, IndexMismatchError, IndexMissingError, StoreConnectionError
from .manifest import check_manifest, expected_manifest
from .lexical import TermCounts
from .rows import Reads
from .schema import row_checksum
from .snapshot import PRIMARY, Generation, Snapshot
from .store import DocumentUpsert, Store, _headings_json, _pages_json, chunk_rows

SCHEMA_NAME = "verbatim"
PG_SCHEMA_VERSION = 1
# Advisory lock keys (64-bit): one update plan at a time, one publish at a time, one migration at a time.
PLAN_LOCK = 0x5645524241540001
PUBLISH_LOCK = 0x5645524241540002
MIGRATE_LOCK = 0x5645524241540003
CHANNEL = "verbatim_generation"
# Idle read connections an app server keeps open for the next questions.
IDLE_READERS = 8
# Generations whose removed chunk ids are kept for app servers catching up; one further behind reloads.
LOG_GENERATIONS = 1000

_DDL_V1 = """
CREATE SCHEMA IF NOT EXISTS verbatim;
CREATE TABLE verbatim.meta(key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE verbatim.documents_all(
    id bigserial PRIMARY KEY, path text NOT NULL, content_hash text NOT NULL, title text NOT NULL, symbol text,
    kind text NOT NULL, text text NOT NULL, headings text NOT NULL, pages text NOT NULL, page_count integer NOT NULL,
    chunk_count integer NOT NULL, size bigint NOT NULL DEFAULT 0, mtime_ns bigint NOT NULL DEFAULT 0,
    indexed_at double precision NOT NULL, lang text NOT NULL DEFAULT 'und', generation bigint, work_id bigint);
-- uncompressed: a passage's text is a substr() of its document's, read without decompressing the whole document
ALTER TABLE verbatim.documents_all ALTER COLUMN text SET STORAGE EXTERNAL;
CREATE UNIQUE INDEX documents_live_path ON verbatim.documents_all(path) WHERE generation IS NOT NULL;
CREATE INDEX documents_staged ON verbatim.documents_all(work_id) WHERE generation IS NULL;
CREATE TABLE verbatim.chunks_all(
    id bigserial PRIMARY KEY, doc_id bigint NOT NULL REFERENCES verbatim.documents_all(id) ON DELETE CASCADE,
    ordinal integer NOT NULL, start integer NOT NULL, "end" integer NOT NULL, section text NOT NULL, page integer,
    page_end integer, page_label text, para text, chunk_hash text NOT NULL, embedding bytea NOT NULL,
    sentence_spans bytea, sentence_vectors bytea, checksum text, lang text NOT NULL DEFAULT 'und', generation bigint);
CREATE INDEX chunks_by_doc ON verbatim.chunks_all(doc_id, ordinal);
CREATE INDEX chunks_by_hash ON verbatim.chunks_all(chunk_hash);
CREATE INDEX chunks_by_generation ON verbatim.chunks_all(generation);
CREATE TABLE verbatim.extra_all(
    chunk_id bigint NOT NULL REFERENCES verbatim.chunks_all(id) ON DELETE CASCADE, encoder text NOT NULL,
    vector bytea NOT NULL, checksum text NOT NULL, PRIMARY KEY(chunk_id, encoder));
CREATE VIEW verbatim.documents AS
    SELECT id, path, content_hash, title, symbol, kind, text, headings, pages, page_count, chunk_count, size, mtime_ns,
           indexed_at, lang, generation FROM verbatim.documents_all WHERE generation IS NOT NULL;
CREATE VIEW verbatim.chunks AS
    SELECT id, doc_id, ordinal, start, "end", section, page, page_end, page_label, para, chunk_hash, embedding,
           sentence_spans, sentence_vectors, checksum, lang, generation FROM verbatim.chunks_all WHERE generation IS NOT NULL;
CREATE VIEW verbatim.extra_vectors AS
    SELECT e.chunk_id, e.encoder, e.vector, e.checksum FROM verbatim.extra_all e
    JOIN verbatim.chunks_all c ON c.id = e.chunk_id WHERE c.generation IS NOT NULL;
CREATE TABLE verbatim.removed_chunks(generation bigint NOT NULL, chunk_id bigint NOT NULL);
CREATE INDEX removed_by_generation ON verbatim.removed_chunks(generation);
CREATE TABLE verbatim.work(
    id bigserial PRIMARY KEY, path text NOT NULL, paths text NOT NULL, digest text NOT NULL, size bigint NOT NULL,
    mtime_ns bigint NOT NULL, state text NOT NULL DEFAULT 'todo', worker text, reason text,
    created_at double precision NOT NULL, finished_at double precision);
CREATE INDEX work_todo ON verbatim.work(id) WHERE state = 'todo';
CREATE INDEX work_staged ON verbatim.work(id) WHERE state = 'staged';
CREATE INDEX work_todo_path ON verbatim.work(path) WHERE state = 'todo';
INSERT INTO verbatim.meta(key, value) VALUES ('generation', '0'), ('log_from', '1');
"""
MIGRATIONS = {1: _DDL_V1}

_END = re.compile(r'(?<![\w"])end(?![\w"])')


@lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    """SQLite-style SQL of ``qa.rows`` for psycopg: ``%`` escaped, ``?`` → ``%s``, the column ``end`` quoted."""
    return _END.sub('"end"', sql.replace("%", "%%").replace("?", "%s"))


def _psycopg():
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is in requirements.txt
        raise StoreConnectionError(
            "A PostgreSQL store needs the psycopg package: pip install 'psycopg[binary]'") from exc
    return psycopg


def redact(url: str) -> str:
    """The URL without its password (and without any query parameter that could carry one)."""
    match = re.match(r"^(postgres(?:ql)?://)(?:([^:@/]*)(?::[^@/]*)?@)?([^/?]*)(/[^?]*)?", url or "")
    if not match:
        return "postgresql://…"
    scheme, user, host, path = match.groups()
    return f"{scheme}{user + '@' if user else ''}{host}{path or ''}"


def url_password(url: str) -> str | None:
    match = re.match(r"^postgres(?:ql)?://[^:@/]*:([^@/]*)@", url or "")
    if match and match.group(1):
        return match.group(1)
    found = re.search(r"[?&]password=([^&]*)", url or "")
    return found.group(1) if found else None


def _scrub(message: str, url: str) -> str:
    """A driver message with the URL's password (if it ever appeared) replaced."""
    message = str(message).strip().splitlines()[0] if str(message).strip() else "unknown error"
    secret = url_password(url)
    if secret:
        from urllib.parse import unquote

        for form in {secret, unquote(secret)}:
            message = message.replace(form, "***")
    return message


def connect(url: str, *, autocommit: bool = True):
    """A psycopg connection to ``url`` with ``search_path`` on the Verbatim schema; errors name the server, never the password."""
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10, application_name="verbatim")
    except psycopg.Error as exc:
        raise StoreConnectionError(f"Cannot connect to the PostgreSQL store {redact(url)}: {_scrub(exc, url)}") from None
    conn.execute(f"SET search_path TO {SCHEMA_NAME}")
    return conn


class _Connection:
    """A psycopg connection that runs the SQLite-style SQL of ``qa.rows`` (and of ``Store._verify_rows``)."""

    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql: str, params=()):
        return self.raw.execute(_translate(sql), tuple(params))

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE


def _schema_version(conn) -> int:
    present = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA_NAME}.meta",)
    ).fetchone()[0]
    if not present:
        return 0
    row = conn.execute("SELECT value FROM verbatim.meta WHERE key='schema'").fetchone()
    return int(row[0]) if row else 1


def migrate_schema(conn) -> None:
    """Bring the schema up to ``PG_SCHEMA_VERSION``, one transaction per step, under an advisory lock."""
    for step in sorted(MIGRATIONS):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            if _schema_version(conn) >= step:
                continue
            conn.execute(MIGRATIONS[step])
            conn.execute(
                "INSERT INTO verbatim.meta(key, value) VALUES('schema', %s) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(step),)
            )


class PgStore(Store):
    """An index whose store of record is PostgreSQL; the same reading API as ``Store``.

    Thread-safe: each thread reads through a connection of its own. ``apply`` publishes one generation
    (the single-process path, used by a rebuild); ``qa.pgindex`` stages and publishes with several indexers.
    """

    def __init__(self, url: str, conn, manifest: dict):  # noqa: super().__init__ is for folders
        self.url = url
        self.directory = redact(url)  # what messages show
        self._conn = _Connection(conn)
        self.manifest = manifest
        self._lock = threading.RLock()
        self._generation_lock = threading.Lock()
        self._current: Generation | None = None
        self._term_counts = TermCounts()  # the current generation's BM25 term counts, for catching up
        self._local = threading.local()
        self._readers: list = []
        self._closed = False
        self.sentence_cache_passages = 20_000
        self.writable = False
        self.vector_policy = vectors.Policy()
        self.catch_ups = 0  # generations followed incrementally (tests and benchmarks look)
        self.full_loads = 0

    # ----------------------------------------------------------------- opening
    @classmethod
    def exists(cls, url: str) -> bool:
        """Whether a store with a committed generation is at ``url``."""
        conn = connect(url)
        try:
            if _schema_version(conn) == 0:
                return False
            row = conn.execute("SELECT value FROM verbatim.meta WHERE key='generation'").fetchone()
            return bool(row) and int(row[0]) > 0
        finally:
            conn.close()

    @staticmethod
    def needs_upgrade(url) -> bool:
        conn = connect(url)
        try:
            return 0 < _schema_version(conn) < PG_SCHEMA_VERSION
        finally:
            conn.close()

    @classmethod
    def open(cls, url: str, settings, *, dimension: int = 384, check: bool = True, unbuilt_ok: bool = False,
             migrate: bool = False, extra_encoders=None) -> "PgStore":
        conn = connect(url)
        try:
            if migrate:
                migrate_schema(conn)
            version = _schema_version(conn)
            if version == 0:
                raise IndexMissingError(
                    f"No index in the PostgreSQL store {redact(url)}. Build it with: "
                    "QA_STORE=… verbatim index --docs DOCS_FOLDER"
                )
            if version < PG_SCHEMA_VERSION:
                raise IndexMismatchError(
                    f"The store {redact(url)} has an older schema ({version}, now {PG_SCHEMA_VERSION}); "
                    "an update upgrades it in place: QA_STORE=… verbatim index"
                )
            if version > PG_SCHEMA_VERSION:
                raise IndexMismatchError(
                    f"The store {redact(url)} was written by a newer version of Verbatim (schema {version})."
                )
            reads = Reads(_Connection(conn), dimension)
            manifest = reads.manifest()
            if not isinstance(manifest, dict):
                if not unbuilt_ok:
                    raise IndexMissingError(f"The store {redact(url)} has not been built yet. Build it with: "
                                            "QA_STORE=… verbatim index --docs DOCS_FOLDER")
            elif reads.generation() == 0 and not unbuilt_ok:
                raise IndexMissingError(
                    f"The store {redact(url)} has not been built yet (its first build is running or did not finish)."
                )
            if check and isinstance(manifest, dict):
                check_manifest(manifest, expected_manifest(settings, dimension, extra_encoders), redact(url))
        except BaseException:
            conn.close()
            raise
        store = cls(url, conn, manifest)
        store.vector_policy = vectors.Policy.from_settings(settings)
        return store

    @classmethod
    def create(cls, url: str, manifest: dict) -> "PgStore":
        """Create the schema (if needed) and install ``manifest``; generation stays where it is (0 when new)."""
        conn = connect(url)
        try:
            migrate_schema(conn)
            conn.execute(
                "INSERT INTO verbatim.meta(key, value) VALUES('manifest', %s) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (json.dumps(manifest),)
            )
        except BaseException:
            conn.close()
            raise
        return cls(url, conn, manifest)

    def _borrow(self) -> _Connection:
        """An idle read connection, or a new one: each question holds one only while it reads (the page runs
        every session in threads of its own, so connections per thread would pile up)."""
        with self._lock:
            if self._closed:
                raise IndexCorruptError(f"The store {self.directory} is closed.")
            while self._readers:
                conn = self._readers.pop()
                if not (conn.raw.closed or conn.raw.broken):
                    return conn
        return _Connection(connect(self.url))

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            if not self._closed and not (conn.raw.closed or conn.raw.broken) and len(self._readers) < IDLE_READERS:
                self._readers.append(conn)
                return
        try:
            conn.raw.close()
        except Exception:
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._readers + [self._conn]:
                try:
                    conn.raw.close()
                except Exception:
                    pass
            self._readers.clear()

    def write_manifest_file(self) -> None:
        pass  # the manifest lives in the database only

    def sync_manifest_file(self) -> None:
        pass

    # ----------------------------------------------------------------- reading
    @contextmanager
    def _read(self):
        """``Reads`` inside one read-only REPEATABLE READ transaction on a borrowed connection (reentrant
        within a thread: a nested read joins the open transaction)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield Reads(conn, self.dimension)
            return
        psycopg = _psycopg()
        conn = self._borrow()
        try:
            conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        except psycopg.OperationalError:  # an idle connection the server dropped (a restart): take a fresh one
            self._give_back(conn)
            conn = _Connection(connect(self.url))
            conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._local.conn = conn
        try:
            try:
                yield Reads(conn, self.dimension)
            finally:
                if conn.in_transaction and not conn.raw.broken:
                    conn.raw.execute("ROLLBACK")  # read only: nothing to keep
        except psycopg.OperationalError as exc:  # the server went away or restarted: say so, without the password
            raise StoreConnectionError(
                f"Lost the connection to the PostgreSQL store {self.directory}: {_scrub(exc, self.url)}"
            ) from None
        finally:
            self._local.conn = None
            self._give_back(conn)

    @contextmanager
    def snapshot(self):
        current = getattr(self._local, "snapshot", None)
        if current is not None:
            yield current
            return
        for _ in range(10):
            with self._read() as reads:
                number, current = reads.generation(), self._current
                if current is not None and number < current.number:
                    continue  # began before a commit another thread has caught up with: read the newer one
                snap = Snapshot(self._generation(number, reads), reads)
                self._local.snapshot = snap
                try:
                    yield snap
                finally:
                    self._local.snapshot = None
                return
        raise IndexCorruptError(f"The store {self.directory} keeps changing; try again.")

    def _generation(self, number: int, reads: Reads) -> Generation:
        with self._generation_lock:
            current = self._current
            if current is not None and current.number == number:
                return current
            manifest = reads.manifest()
            if current is not None and number > current.number and self._can_catch_up(reads, current, manifest):
                generation, counts = self._catch_up(reads, current, number, manifest)
                self.catch_ups += 1
            else:
                generation, counts = self._full_load(number, manifest, reads)
                self.full_loads += 1
            if current is None or number > current.number:
                self._current, self._term_counts, self.manifest = generation, counts, manifest
            return generation

    def _full_load(self, number: int, manifest: dict, reads: Reads) -> tuple[Generation, TermCounts]:
        ids = reads.chunk_ids()
        # The FAISS kind follows the passage count and this server's settings (exact up to ``ann_threshold``).
        kind, codec = vectors.choose(len(ids), self.vector_policy)
        dense = {key: self._build_dense(reads, manifest, key, dim, kind, codec)
                 for key, dim in self._encoder_dimensions(manifest).items()}
        chunk_ids, texts, languages = reads.lexical_rows()
        counts = TermCounts().with_texts(chunk_ids, texts, languages)
        sentences = self._kept_sentences(reads, manifest, len(ids))
        return Generation(number, manifest, ids, dense, counts.index(), sentences), counts

    def _can_catch_up(self, reads: Reads, current: Generation, manifest: dict) -> bool:
        def settled(m: dict) -> dict:  # what the rows mean; the FAISS kind is this server's own choice
            return {k: v for k, v in m.items() if not k.startswith("vector_")}

        if settled(manifest) != settled(current.manifest):
            return False
        row = reads.conn.execute("SELECT value FROM meta WHERE key='log_from'").fetchone()
        return row is not None and int(row[0]) <= current.number + 1 and len(self._term_counts) == len(current.ids)

    def _catch_up(self, reads: Reads, current: Generation, number: int, manifest: dict) -> tuple[Generation, TermCounts]:
        """Generation ``number`` from ``current`` and the chunks added and removed since: no full reload."""
        conn = reads.conn
        removed = np.array(
            [r[0] for r in conn.execute("SELECT chunk_id FROM removed_chunks WHERE generation > ? AND generation <= ?",
                                        (current.number, number))],
            dtype=np.int64,
        )
        rows = conn.execute(
            "SELECT c.id, c.embedding, c.section, substr(d.text, c.start + 1, c.end - c.start), d.title, c.lang "
            "FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.generation > ? ORDER BY c.id",
            (current.number,),
        ).fetchall()
        added_ids = np.array([r[0] for r in rows], dtype=np.int64)
        dims = self._encoder_dimensions(manifest)
        added = {PRIMARY: np.array([np.frombuffer(r[1], dtype=np.float32) for r in rows], dtype=np.float32).reshape(len(rows), dims[PRIMARY])}
        for key, dim in dims.items():
            if key == PRIMARY:
                continue
            found = dict(conn.execute(
                "SELECT chunk_id, vector FROM extra_vectors WHERE encoder = ? AND chunk_id IN "
                "(SELECT id FROM chunks WHERE generation > ?)", (key, current.number)
            ).fetchall())
            added[key] = np.array([np.frombuffer(found[i], dtype=np.float32) for i in added_ids.tolist()],
                                  dtype=np.float32).reshape(len(rows), dim)
        ids = reads.chunk_ids()
        dense = {}
        for key, dim in dims.items():
            old = current.dense.get(key)
            index = None
            if old is not None and vectors.supports_removal(old):
                kind, codec = vectors.choose(len(ids), self.vector_policy, old)
                if (vectors.index_kind(old), vectors.index_codec(old)) == (kind, codec):
                    import faiss

                    index = faiss.clone_index(old)
                    vectors.update(index, removed, added_ids, added[key])
                    if not np.array_equal(vectors.ids_of(index), ids):
                        index = None
            if index is None:
                kind, codec = vectors.choose(len(ids), self.vector_policy, old)
                index = self._build_dense(reads, manifest, key, dim, kind, codec)
            dense[key] = index
        # BM25: only the new chunks are tokenised; the matrix is recomputed from every row's term counts.
        counts = self._term_counts.without(removed).with_texts(
            added_ids.tolist(), [embedding_text(section, text, title) for _, _, section, text, title, _ in rows],
            [r[5] for r in rows],
        )
        if len(counts) != len(ids):  # the log and the rows disagree: reload from the rows
            return self._full_load(number, manifest, reads)
        gone = set(removed.tolist())
        if current.sentences is not None and manifest.get("sentence_vectors") and len(ids) <= self.sentence_cache_passages:
            sentences = {i: v for i, v in current.sentences.items() if i not in gone}
            sentences.update(reads.sentence_vectors(added_ids.tolist()))
        else:
            sentences = self._kept_sentences(reads, manifest, len(ids))
        return Generation(number, manifest, ids, dense, counts.index(), sentences), counts

    # ----------------------------------------------------------------- writing
    def cleanup(self) -> list[str]:
        return []  # no derived files: app servers hold their structures in memory

    def repair(self) -> dict:
        return {"vectors": "ok", "lexical": "ok"}

    def touch(self, items) -> None:
        items = list(items)
        if not items:
            return
        with self._lock, self._conn.raw.transaction():
            self._conn.raw.cursor().executemany(
                "UPDATE verbatim.documents_all SET size=%s, mtime_ns=%s WHERE path=%s AND generation IS NOT NULL",
                [(s, m, p) for p, s, m in items],
            )

    def apply(self, upserts, removed, renamed, manifest=None, replace_all=False, after_commit=None) -> int:
        """Publish one generation with these changes in one transaction (see ``Store.apply``)."""
        target = manifest if manifest is not None else self.manifest
        with self._lock:
            raw = self._conn.raw
            with raw.transaction():
                number = self.begin_publish(raw)
                removed_ids = []
                if replace_all:
                    removed_ids = [r[0] for r in raw.execute("SELECT id FROM verbatim.chunks")]
                    raw.execute("DELETE FROM verbatim.documents_all WHERE generation IS NOT NULL")
                if manifest is not None:
                    raw.execute("UPDATE verbatim.meta SET value=%s WHERE key='manifest'", (json.dumps(manifest),))
                now = time.time()
                for item in renamed:
                    old, new, size, mtime_ns = item[:4]
                    title = item[4] if len(item) > 4 else None
                    raw.execute(
                        "UPDATE verbatim.documents_all SET path=%s, size=%s, mtime_ns=%s, indexed_at=%s, "
                        "title=COALESCE(%s, title) WHERE path=%s AND generation IS NOT NULL",
                        (new, size, mtime_ns, now, title, old),
                    )
                removed_ids += remove_documents(raw, list(removed) + [u.document.path for u in upserts])
                for upsert in upserts:
                    insert_document(raw, upsert, target, number, None, now)
                self.finish_publish(raw, number, removed_ids)
            if after_commit is not None:
                after_commit()
            self.manifest = target
            return number

    @staticmethod
    def begin_publish(raw) -> int:
        """Take the publish lock (inside a transaction) and return the number of the generation being written."""
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
        row = raw.execute("SELECT value FROM verbatim.meta WHERE key='generation'").fetchone()
        return int(row[0]) + 1

    @staticmethod
    def finish_publish(raw, number: int, removed_ids) -> None:
        """Log the removed chunks, bump the generation and notify app servers (still inside the transaction)."""
        if removed_ids:
            with raw.cursor().copy("COPY verbatim.removed_chunks(generation, chunk_id) FROM STDIN") as copy:
                for chunk_id in removed_ids:
                    copy.write_row((number, int(chunk_id)))
        raw.execute("UPDATE verbatim.meta SET value=%s WHERE key='generation'", (str(number),))
        if number > LOG_GENERATIONS:
            oldest = number - LOG_GENERATIONS + 1
            raw.execute("DELETE FROM verbatim.removed_chunks WHERE generation < %s", (oldest,))
            raw.execute("UPDATE verbatim.meta SET value=%s WHERE key='log_from'", (str(oldest),))
        raw.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(number)))

    def verify(self, strict: bool = False) -> dict:
        """Check that the in-memory FAISS and BM25 agree with the rows and every row is intact."""
        with self.snapshot() as snap:
            reads = snap.records
            ids = snap.generation.ids
            if not np.array_equal(reads.chunk_ids(), ids):
                raise IndexCorruptError("The passages changed inside one snapshot.")
            for key, index in snap.generation.dense.items():
                if not np.array_equal(vectors.ids_of(index), ids):
                    raise IndexCorruptError(f"FAISS ids ({key}) disagree with the store ({len(ids)}).")
            if len(snap.lexical) != len(ids) or not np.array_equal(np.sort(snap.lexical.ids), ids):
                raise IndexCorruptError(f"BM25 rows ({len(snap.lexical)}) disagree with the store ({len(ids)}).")
            docs = Store._verify_rows(reads.conn, snap.manifest)
            return {"documents": docs, "chunks": len(ids), "faiss": int(snap.dense_index().ntotal),
                    "lexical": len(snap.lexical), "generation": snap.number, "files": {"vectors": "ok", "lexical": "ok"}}


def remove_documents(raw, paths) -> list[int]:
    """Delete the live documents at ``paths`` (inside a publish); returns the chunk ids that left."""
    paths = sorted(set(paths))
    if not paths:
        return []
    rows = raw.execute(
        "SELECT c.id FROM verbatim.chunks_all c JOIN verbatim.documents_all d ON d.id = c.doc_id "
        "WHERE d.generation IS NOT NULL AND d.path = ANY(%s)", (paths,)
    ).fetchall()
    raw.execute("DELETE FROM verbatim.documents_all WHERE generation IS NOT NULL AND path = ANY(%s)", (paths,))
    return [r[0] for r in rows]


def insert_document(raw, upsert: DocumentUpsert, manifest: dict, generation: int | None, work_id: int | None,
                    now: float) -> int:
    """Write a document and its chunks, live at ``generation`` or staged (``generation`` None) for ``work_id``."""
    doc = upsert.document
    if "\x00" in doc.text:
        raise ValueError(f"{doc.path}: the text holds NUL characters, which PostgreSQL text cannot store")
    document_language, rows = chunk_rows(upsert, int(manifest["dimension"]), Store._encoder_dimensions(manifest))
    doc_id = raw.execute(
        "INSERT INTO verbatim.documents_all(path, content_hash, title, symbol, kind, text, headings, pages, page_count, "
        "chunk_count, size, mtime_ns, indexed_at, lang, generation, work_id) "
        "VALUES(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
        (doc.path, doc.content_hash, doc.title, doc.symbol, doc.kind, doc.text, _headings_json(doc.headings),
         _pages_json(doc.pages), len(doc.pages), len(rows), upsert.size, upsert.mtime_ns, now,
         document_language, generation, work_id),
    ).fetchone()[0]
    chunk_ids = [r[0] for r in raw.execute(
        "SELECT nextval('verbatim.chunks_all_id_seq') FROM generate_series(1, %s)", (len(rows),)
    ).fetchall()] if rows else []
    extra_rows = []
    with raw.cursor().copy(
        'COPY verbatim.chunks_all(id, doc_id, ordinal, start, "end", section, page, page_end, page_label, para, '
        "chunk_hash, embedding, sentence_spans, sentence_vectors, checksum, lang, generation) FROM STDIN"
    ) as copy:
        for chunk_id, row in zip(chunk_ids, rows):
            chunk = row.chunk
            copy.write_row((
                chunk_id, doc_id, chunk.ordinal, chunk.start, chunk.end, chunk.section, chunk.page, chunk.page_end,
                chunk.page_label, chunk.para, chunk.chunk_hash, *row.blobs, row.checksum, row.lang, generation,
            ))
            extra_rows += [(chunk_id, key, v.tobytes(), row_checksum(v.tobytes())) for key, v in row.extra.items()]
    if extra_rows:
        with raw.cursor().copy("COPY verbatim.extra_all(chunk_id, encoder, vector, checksum) FROM STDIN") as copy:
            for row in extra_rows:
                copy.write_row(row)
    return doc_id
