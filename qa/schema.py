"""The SQLite layout of an index, as ``PRAGMA user_version`` steps, and the checksum of a chunk row.

Step N brings a store from version N-1 to N. Each step only adds (a column, a table), so no step
re-embeds anything; the updater applies them in place, readers never run DDL.

Step 4 adds ``chunks.lang`` and ``documents.lang`` (ISO 639 codes, ``"und"`` when undetermined) and fills
them for the rows already there, inside the step's transaction, from the stored text with the same rule as
``Store.apply`` (:func:`detect_languages`): about 0.1–0.5 ms a chunk, nothing re-embedded. An upgrade that is
interrupted rolls back whole and runs again on the next update.
"""

from __future__ import annotations

import hashlib
import sqlite3

SCHEMA_VERSION = 4

_SCHEMA_V1 = """
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


def _add_columns(conn, table: str, columns: dict[str, str]) -> None:
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns.items():
        if name not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def _migrate_v2(conn) -> None:
    _add_columns(conn, "chunks", {"sentence_spans": "BLOB", "sentence_vectors": "BLOB"})


def _migrate_v3(conn) -> None:
    _add_columns(conn, "chunks", {"checksum": "TEXT"})
    conn.execute(
        "CREATE TABLE IF NOT EXISTS extra_vectors(chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE, "
        "encoder TEXT NOT NULL, vector BLOB NOT NULL, checksum TEXT NOT NULL, PRIMARY KEY(chunk_id, encoder))"
    )
    rows = conn.execute("SELECT id, embedding, sentence_spans, sentence_vectors FROM chunks WHERE checksum IS NULL").fetchall()
    conn.executemany("UPDATE chunks SET checksum=? WHERE id=?", [(row_checksum(*r[1:]), r[0]) for r in rows])


def detect_languages(texts, bare_texts=None) -> tuple[list[str], str]:
    """``(language of each chunk, the document's language)`` from the chunks' texts as BM25 indexes them
    (``chunking.embedding_text``: title, heading, text): each chunk detected on its own (``qa.language.detect``),
    the document's is the dominant one by length, and a chunk that comes out undetermined (a heading, a table
    of numbers) takes the document's.

    The embedding text rather than the bare chunk text, so that BM25 analyses every chunk exactly as it did
    when it detected languages itself: on the bare text, the French letterhead of the English seed reply came
    out French, lost its English title terms and two seeds questions went unanswered. But a chunk whose own text
    (``bare_texts``) has no letter of the script its language is written in is not in that language (an English
    paragraph read with a Chinese document's title came out Chinese): it is detected on its own text."""
    from . import language

    texts = list(texts)
    detected = [language.detect(text) for text in texts]
    document = language.dominant(zip(detected, (len(text) for text in texts)))
    codes = [code if code != language.UNDETERMINED else document for code in detected]
    if bare_texts is not None:
        codes = [code if language.writes_language_script(bare, code) else language.detect(bare, among=language.UN_LANGUAGES)
                 for code, bare in zip(codes, bare_texts)]
    return codes, document


def _migrate_v4(conn) -> None:
    _add_columns(conn, "documents", {"lang": "TEXT NOT NULL DEFAULT 'und'"})
    _add_columns(conn, "chunks", {"lang": "TEXT NOT NULL DEFAULT 'und'"})
    from .chunking import embedding_text

    for doc_id, text, title in conn.execute("SELECT id, text, title FROM documents").fetchall():
        rows = conn.execute("SELECT id, start, end, section FROM chunks WHERE doc_id=? ORDER BY ordinal", (doc_id,)).fetchall()
        languages, document = detect_languages([embedding_text(section, text[start:end], title) for _, start, end, section in rows],
                                               [text[start:end] for _, start, end, _ in rows])
        conn.executemany("UPDATE chunks SET lang=? WHERE id=?", [(code, row[0]) for code, row in zip(languages, rows)])
        conn.execute("UPDATE documents SET lang=? WHERE id=?", (document, doc_id))


def _migrate_v1(conn) -> None:
    for statement in _SCHEMA_V1.split(";"):  # not executescript: it would commit the migration's transaction
        if statement.strip():
            conn.execute(statement)


MIGRATIONS = {1: _migrate_v1, 2: _migrate_v2, 3: _migrate_v3, 4: _migrate_v4}


def row_checksum(*blobs) -> str:
    """A checksum of a chunk row's vector blobs (``verify`` recomputes it to find damaged bytes)."""
    digest = hashlib.blake2b(digest_size=8)
    for blob in blobs:
        digest.update(len(blob or b"").to_bytes(8, "little"))
        digest.update(blob or b"")
    return digest.hexdigest()


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the ``MIGRATIONS`` steps above the store's ``user_version``, each in its own transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for step in sorted(s for s in MIGRATIONS if s > version):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[step](conn)
            conn.execute(f"PRAGMA user_version = {int(step)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
