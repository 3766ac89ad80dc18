"""Queries over one SQLite connection of a store: documents, chunk rows, vectors, the BM25 corpus.

Inside one read transaction they all see one committed generation: a ``Snapshot``'s records.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .chunking import embedding_text
from .errors import UnknownDocumentError, UnknownLanguageError
from .paths import safe_relative_path
from .snapshot import PRIMARY, StoredChunk
from .types import Document, Heading, PageSpan


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
    lang: str = "und"  # the document's dominant language (ISO 639 code), "und" when undetermined


def _listing(paths: list[str], most: int = 10) -> str:
    """Document paths for a message: the first ``most``, then "…"."""
    return ", ".join(paths[:most]) + (" …" if len(paths) > most else "")


class Reads:
    """Queries over one SQLite connection (inside a read transaction, they all see one generation)."""

    _CHUNK_COLUMNS = (
        "c.id, d.path, d.title, d.symbol, c.ordinal, c.start, c.end, c.section, c.page, c.page_end, "
        "c.page_label, c.para, substr(d.text, c.start + 1, c.end - c.start), c.lang"
    )

    def __init__(self, conn: sqlite3.Connection, dimension: int):
        self.conn = conn
        self.dimension = dimension

    def generation(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def manifest(self) -> dict | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
        return json.loads(row[0]) if row is not None else None

    def chunk_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def chunk_ids(self) -> np.ndarray:
        rows = self.conn.execute("SELECT id FROM chunks ORDER BY id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def documents(self) -> list[DocumentInfo]:
        rows = self.conn.execute(
            "SELECT id, path, title, symbol, kind, content_hash, page_count, chunk_count, size, mtime_ns, indexed_at, lang "
            "FROM documents ORDER BY path"
        ).fetchall()
        return [DocumentInfo(*row) for row in rows]

    def unknown_message(self, path: str) -> str:
        return f"'{path}' is not in the index. Indexed documents: {_listing([d.path for d in self.documents()]) or '(none)'}"

    def resolve_docs(self, names) -> list[str]:
        """Map user-given document names (paths, or unique file names) to indexed paths; unknown names raise."""
        known = [d.path for d in self.documents()]
        resolved = []
        for name in names:
            name = safe_relative_path(name)  # "../x" and "/etc/x" refused as in `verbatim text`; "./a.txt" is "a.txt"
            if name not in known and name.replace("\\", "/") in known:
                name = name.replace("\\", "/")  # "sub\\a.txt" typed as on Windows
            if name in known:
                resolved.append(name)
                continue
            matches = [p for p in known if p.rsplit("/", 1)[-1] == name or p.rsplit("/", 1)[-1].rsplit(".", 1)[0] == name]
            if len(matches) > 1:
                raise UnknownDocumentError(f"'{name}' could be any of {len(matches)} indexed documents: "
                                           f"{_listing(matches)}; give its path.")
            if not matches:
                raise UnknownDocumentError(self.unknown_message(name))
            resolved.append(matches[0])
        return resolved

    def document(self, path: str) -> Document:
        row = self.conn.execute(
            "SELECT path, text, title, content_hash, headings, pages, symbol, kind FROM documents WHERE path=?", (path,)
        ).fetchone()
        if row is None:
            raise UnknownDocumentError(self.unknown_message(path))
        return Document(
            path=row[0], text=row[1], title=row[2], content_hash=row[3],
            headings=tuple(Heading(*h) for h in json.loads(row[4])),
            pages=tuple(PageSpan(*p) for p in json.loads(row[5])), symbol=row[6], kind=row[7],
        )

    def _in_batches(self, sql: str, keys, before=()) -> list:
        """The rows of ``sql`` for every key, asked 900 keys at a time (SQLite's limit on parameters): ``{keys}`` in
        ``sql`` stands for a batch's placeholders, ``before`` for parameters ahead of them."""
        keys = list(keys)
        rows: list = []
        for offset in range(0, len(keys), 900):
            batch = keys[offset : offset + 900]
            rows += self.conn.execute(sql.format(keys=",".join("?" * len(batch))), [*before, *batch]).fetchall()
        return rows

    def chunks(self, ids) -> dict[int, StoredChunk]:
        """Chunk rows by id (ids not in the store are simply absent)."""
        rows = self._in_batches(f"SELECT {self._CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
                                "WHERE c.id IN ({keys})", [int(i) for i in ids])
        return {row[0]: StoredChunk(*row) for row in rows}

    def chunk_texts(self, ids) -> dict[int, str]:
        """Chunk texts by id, each document's text read once: for many chunks, far cheaper than ``chunks`` (whose
        ``substr`` walks the document's text from its start for every chunk)."""
        spans = self._in_batches("SELECT c.id, c.doc_id, c.start, c.end FROM chunks c WHERE c.id IN ({keys})",
                                 [int(i) for i in ids])
        texts = dict(self._in_batches("SELECT id, text FROM documents WHERE id IN ({keys})",
                                      sorted({doc_id for _, doc_id, _, _ in spans})))
        return {chunk_id: texts[doc_id][start:end] for chunk_id, doc_id, start, end in spans}

    def sections_containing(self, needles) -> dict[int, str]:
        """``{chunk id: section}`` of the chunks whose section path contains one of ``needles`` (a scan of the
        chunks' sections: milliseconds for ten thousand chunks)."""
        needles = [n for n in needles if n]
        if not needles:
            return {}
        escaped = [n.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for n in needles]
        where = " OR ".join("section LIKE ? ESCAPE '\\'" for _ in escaped)
        return dict(self.conn.execute(f"SELECT id, section FROM chunks WHERE {where}", [f"%{n}%" for n in escaped]).fetchall())

    def ocr_pages(self, paths) -> dict[str, dict[int, float]]:
        """``{path: {page: mean OCR confidence}}`` for those documents that have pages read by OCR."""
        paths = sorted(set(paths))
        if not paths:
            return {}
        rows = self.conn.execute(
            f"SELECT path, pages FROM documents WHERE path IN ({','.join('?' * len(paths))}) AND pages LIKE '%.%'", paths
        ).fetchall()
        found = {path: {p[2]: p[4] for p in json.loads(pages) if len(p) > 4 and p[4] is not None} for path, pages in rows}
        return {path: marks for path, marks in found.items() if marks}

    def document_chunks(self, path: str) -> list[StoredChunk]:
        rows = self.conn.execute(
            f"SELECT {self._CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE d.path = ? ORDER BY c.ordinal", (path,),
        ).fetchall()
        return [StoredChunk(*row) for row in rows]

    def neighbours(self, chunk_id: int, before: int = 1, after: int = 1) -> list[StoredChunk]:
        row = self.conn.execute("SELECT doc_id, ordinal FROM chunks WHERE id=?", (int(chunk_id),)).fetchone()
        if row is None:
            return []
        rows = self.conn.execute(
            f"SELECT {self._CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.doc_id = ? AND c.ordinal BETWEEN ? AND ? ORDER BY c.ordinal",
            (row[0], row[1] - before, row[1] + after),
        ).fetchall()
        return [StoredChunk(*r) for r in rows]

    def chunk_ids_for_paths(self, paths) -> np.ndarray:
        paths = list(paths)
        rows = self.conn.execute(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.path IN ({','.join('?' * len(paths))})",
            paths,
        ).fetchall()
        return np.array(sorted(r[0] for r in rows), dtype=np.int64)

    def chunk_ids_for_docs(self, names) -> np.ndarray:
        """Chunk ids of the named documents (names as a user gives them; unknown names raise)."""
        return self.chunk_ids_for_paths(self.resolve_docs(names))

    def _decode_sentences(self, spans: bytes, matrix: bytes) -> tuple[np.ndarray, np.ndarray]:
        spans = np.frombuffer(spans, dtype=np.int32).reshape(-1, 2)
        # float32 in memory: converting float16 costs more than the whole dot product (0.4 ms a question)
        return spans, np.frombuffer(matrix, dtype=np.float16).reshape(-1, self.dimension).astype(np.float32)

    def sentences_by(self, column: str, keys) -> dict:
        rows = self._in_batches(f"SELECT {column}, sentence_spans, sentence_vectors FROM chunks "
                                f"WHERE sentence_spans IS NOT NULL AND {column} IN ({{keys}})", keys)
        return {key: self._decode_sentences(spans, matrix) for key, spans, matrix in rows}

    def sentence_vectors(self, ids) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        return self.sentences_by("id", [int(i) for i in ids])

    def all_sentence_vectors(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        rows = self.conn.execute("SELECT id, sentence_spans, sentence_vectors FROM chunks WHERE sentence_spans IS NOT NULL")
        return {key: self._decode_sentences(spans, matrix) for key, spans, matrix in rows}

    def embeddings_by_hash(self, hashes) -> dict[str, np.ndarray]:
        rows = self._in_batches("SELECT chunk_hash, embedding FROM chunks WHERE chunk_hash IN ({keys})", set(hashes))
        return {chunk_hash: np.frombuffer(blob, dtype=np.float32) for chunk_hash, blob in rows}

    def extra_by_hash(self, key: str, hashes) -> dict[str, np.ndarray]:
        rows = self._in_batches("SELECT c.chunk_hash, e.vector FROM chunks c JOIN extra_vectors e ON e.chunk_id = c.id "
                                "WHERE e.encoder = ? AND c.chunk_hash IN ({keys})", set(hashes), before=[key])
        return {chunk_hash: np.frombuffer(blob, dtype=np.float32) for chunk_hash, blob in rows}

    def embeddings(self, key: str = PRIMARY, dimension: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` of every chunk for one encoder, ordered by id."""
        if key == PRIMARY:
            rows = self.conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT chunk_id, vector FROM extra_vectors WHERE encoder=? ORDER BY chunk_id", (key,)
            ).fetchall()
        dimension = dimension or self.dimension
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.empty((len(rows), dimension), dtype=np.float32)
        for i, (_, blob) in enumerate(rows):
            matrix[i] = np.frombuffer(blob, dtype=np.float32)
        return ids, matrix

    def lexical_corpus(self) -> tuple[list[int], list[str]]:
        """``(ids, texts)`` that the BM25 index is built from: what ``chunking.embedding_text`` gives each chunk."""
        ids, texts, _ = self.lexical_rows()
        return ids, texts

    def lexical_rows(self) -> tuple[list[int], list[str], list[str]]:
        """``(ids, texts, languages)``: the BM25 corpus with each chunk's stored language (never re-detected)."""
        ids, texts, languages = [], [], []
        docs = self.conn.execute("SELECT id, text, title FROM documents ORDER BY id").fetchall()
        for doc_id, text, title in docs:
            for chunk_id, start, end, section, lang in self.conn.execute(
                "SELECT id, start, end, section, lang FROM chunks WHERE doc_id=? ORDER BY ordinal", (doc_id,)
            ):
                ids.append(chunk_id)
                texts.append(embedding_text(section, text[start:end], title))
                languages.append(lang)
        return ids, texts, languages

    def chunk_languages(self, ids) -> dict[int, str]:
        """``{chunk id: language code}`` (ids not in the store are absent)."""
        return dict(self._in_batches("SELECT id, lang FROM chunks WHERE id IN ({keys})", [int(i) for i in ids]))

    def chunk_documents(self, ids) -> dict[int, int]:
        """``{chunk id: its document's row id}`` (ids not in the store are absent)."""
        return dict(self._in_batches("SELECT id, doc_id FROM chunks WHERE id IN ({keys})", [int(i) for i in ids]))

    def languages(self) -> dict[str, int]:
        """``{language code: number of chunks}``, most chunks first."""
        rows = self.conn.execute("SELECT lang, COUNT(*) FROM chunks GROUP BY lang ORDER BY COUNT(*) DESC, lang").fetchall()
        return dict(rows)


# ------------------------------------------------------------------------------------------ languages

UNDETERMINED = "und"
# English names of the UN's six official languages (the page and the CLI stay in English); other codes show as they are.
LANGUAGE_NAMES = {"ar": "Arabic", "zh": "Chinese", "en": "English", "fr": "French", "ru": "Russian", "es": "Spanish",
                  UNDETERMINED: "Undetermined"}
# Scripts written right to left (ISO 639-1 codes).
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "yi", "ug", "sd", "dv", "ku", "ckb"})
_CODE = re.compile(r"^[a-z]{2,3}$")


@lru_cache(maxsize=256)
def language_name(code: str | None) -> str:
    """"French" for ``fr``, "German" for ``de`` (langcodes' English names), the code itself for one it cannot name."""
    code = code or UNDETERMINED
    if code in LANGUAGE_NAMES or not _CODE.match(code):
        return LANGUAGE_NAMES.get(code, code)
    import langcodes

    try:
        name = langcodes.Language.get(code).display_name()
    except (LookupError, ValueError, ImportError):
        return code
    return code if name.startswith("Unknown language") else name


def language_label(code: str) -> str:
    """"French (fr)"; just the code for a language without an English name here."""
    name = language_name(code)
    return f"{name} ({code})" if name != code else code


@lru_cache(maxsize=1)
def _known_codes() -> frozenset:
    """Every code ``qa.language.detect`` can answer (the detector's languages, macrolanguages folded)."""
    from . import language

    codes = {language._MACRO.get(code, code) for code in language._identifier().nb_classes}
    return frozenset(codes | set(language.UN_LANGUAGES) | {UNDETERMINED})


def parse_languages(values) -> tuple[str, ...]:
    """``["fr,es", "ru"]`` → ``("fr", "es", "ru")``: codes, language tags ("zh-CN", "zh-Hans": zh) or names ("French",
    "german", "français"), lower-cased, duplicates dropped; what it cannot read is kept as typed, to be refused."""
    codes: list[str] = []
    for value in values or ():
        for part in re.split(r"[,\s]+", str(value)):
            part = part.strip().lower()
            if part:
                code = _language_code(part)
                if code not in codes:
                    codes.append(code)
    return tuple(codes)


@lru_cache(maxsize=256)
def _language_code(part: str) -> str:
    from . import language

    names = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}
    if part in names or _CODE.match(part):
        return names.get(part, part)
    import langcodes

    try:
        tag = part.replace("_", "-")
        found = langcodes.Language.get(tag) if langcodes.tag_is_valid(tag) else langcodes.find(part)
    except (LookupError, ValueError, ImportError):
        return part
    code = language._MACRO.get(found.language, found.language)
    return code if code in _known_codes() else part  # a language no document can be in is refused as typed


def documents_in_languages(documents, codes, within=None) -> list[str]:
    """Paths of the ``documents`` (``DocumentInfo``) in any of the languages ``codes`` (``parse_languages``
    accepts names too), restricted to the paths ``within`` when given. Raises ``UnknownLanguageError`` for no
    code, an unknown code, a language no document is in, or no document of ``within`` in those languages."""
    codes = parse_languages(codes)
    counts = Counter(d.lang for d in documents)
    present = ", ".join(f"{language_label(c)}: {n} document{'s' if n != 1 else ''}" for c, n in sorted(counts.items()))
    present = f" The index has: {present}." if present else " The index is empty."
    if not codes:
        raise UnknownLanguageError("No language given: use a code such as fr or es." + present)
    for code in codes:
        if not _CODE.match(code) or code not in counts and code not in _known_codes():
            shown = code if len(code) <= 40 else code[:40] + "…"
            raise UnknownLanguageError(f"Unknown language '{shown}': use an ISO 639-1 code such as fr or es." + present)
    missing = [code for code in codes if not counts.get(code)]
    if missing:
        raise UnknownLanguageError(f"No document in the index is in {' or '.join(map(language_label, missing))}." + present)
    paths = sorted(d.path for d in documents if d.lang in codes)
    if within is not None:
        wanted = set(within)
        paths = [path for path in paths if path in wanted]
        if not paths:
            raise UnknownLanguageError(
                f"None of the chosen documents is in {' or '.join(map(language_label, codes))}."
            )
    return paths
