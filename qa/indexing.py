"""Indexing stage: bring the index in line with a docs folder, touching only what changed.

* unchanged files (same size and mtime, or same content hash) are skipped without extraction;
* a changed file is re-extracted and re-chunked, and only chunks whose text changed are
  re-embedded (embeddings are reused by chunk hash);
* a deleted file leaves the store, FAISS and BM25;
* a renamed or moved file with the same content keeps its chunks and embeddings;
* the same content under two names is indexed once and reported as a duplicate (if the other
  name was indexed with other content before, that older content leaves the index);
* a file that cannot be read is reported in ``failed`` and the rest is indexed; if it was indexed
  before, its previous version stays in the index until a readable version replaces it (except with
  ``rebuild``, which starts from an empty store);
* a loader that raises an unexpected exception counts as a file that cannot be read.

One process updates an index at a time (``UpdateLock``); all changes of one run are committed in a
single SQLite transaction, so readers see either the old or the new index, never a mix. An update
that is interrupted (killed, power loss, disk full, an exception) leaves the index as it was before;
temporary files it left are deleted by the next run (see ``qa.store``).

Exit codes of ``python -m qa index`` (``IndexReport.exit_code`` and ``QAError.exit_code``):

====  =====================================================================================
0     the index is up to date
1     partial: some documents failed (see ``failed``); or the index could not be written
      (disk full…), in which case it is left as it was
2     bad input: the documents folder does not exist
3     the index cannot be used: built with other settings (``--rebuild``), unreadable
4     another update of this index is running
====  =====================================================================================
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import embedding as embedding_module
from . import vectors
from .chunking import ChunkSettings, chunk_document, embedding_text, sentence_units
from .errors import DocumentError, IndexCorruptError, IndexLockedError, QAError
from .loaders import content_hash, discover, load_document
from .store import DB_NAME, DocumentUpsert, Store, build_manifest, check_manifest, expected_manifest

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``, called from the updating thread.

Stages, in order: ``scan`` (files looked at / files in the folder), ``load`` (documents read and
chunked / documents to read), ``embed`` (chunks encoded / chunks to encode: only new chunk texts),
``write`` (0/1 then 1/1 around the transaction). A stage with nothing to do is not reported; ``done``
never decreases within a stage and the last call of a stage has ``done == total``.
"""

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_BAD_INPUT = 2
EXIT_INDEX = 3
EXIT_LOCKED = 4

# Files modified this recently are "racy": another write within the file system's timestamp
# granularity could keep size and mtime. They are stored with mtime 0 so the next scan hashes them.
RACY_NS = 2_000_000_000
# Bytes kept in memory between scanning (hashing) and loading; above this, files are read again.
KEEP_BYTES = 256 * 1024 * 1024


class DocsFolderError(QAError):
    """The documents folder does not exist."""

    exit_code = EXIT_BAD_INPUT


class IndexWriteError(QAError):
    """The index could not be written (disk full, permissions); it is left as it was."""

    exit_code = EXIT_PARTIAL


@dataclass
class IndexReport:
    """The outcome of one update, as printed by ``python -m qa index --json``."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    unchanged: int = 0
    failed: list[dict] = field(default_factory=list)
    chunks_embedded: int = 0
    sentences_embedded: int = 0
    chunks_reused: int = 0
    chunks_total: int = 0
    documents_total: int = 0
    generation: int = 0
    seconds: float = 0.0
    rebuild: bool = False

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.renamed)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failed else EXIT_OK


class UpdateLock:
    """An exclusive ``flock`` on ``<index>/.lock``; the kernel drops it if the holder dies, so it never goes stale.

    ``wait`` seconds are spent retrying before ``IndexLockedError`` is raised. The file holds the
    holder's pid while it is held (for the message); its content never decides anything.
    """

    def __init__(self, directory: Path, wait: float = 0.0):
        self.path = Path(directory) / ".lock"
        self.wait = wait
        self._handle = None

    @staticmethod
    def holder(directory: Path) -> int | None:
        """The pid of the process updating the index at ``directory``, or ``None`` (for messages and the app).

        Read from the lock file without touching the lock, so asking never makes an updater fail; a pid
        left behind by a killed holder is ignored because that process no longer exists.
        """
        try:
            text = (Path(directory) / ".lock").read_text().strip()
        except OSError:
            return None
        if not text.isdigit():
            return None
        pid = int(text)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
        return pid

    def __enter__(self) -> "UpdateLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = ""
                    for _ in range(5):  # the holder writes its pid just after taking the lock
                        handle.seek(0)
                        holder = handle.read().strip()
                        if holder:
                            break
                        time.sleep(0.02)
                    handle.close()
                    raise IndexLockedError(
                        f"Another update of the index at {self.path.parent} is running (pid {holder or 'unknown'}); "
                        "try again when it has finished."
                    ) from None
                time.sleep(0.1)
            except BaseException:
                handle.close()
                raise
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            try:
                self._handle.seek(0)
                self._handle.truncate()
            finally:
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
                self._handle.close()
                self._handle = None


@dataclass
class _Candidate:
    path: str
    data: bytes | None
    digest: str
    size: int
    mtime_ns: int


def _notify(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None and total > 0:
        progress(stage, done, total)


def _stable_mtime(mtime_ns: int, now_ns: int) -> int:
    """``mtime_ns``, or 0 when the file changed too recently to trust size+mtime next time."""
    return 0 if now_ns - mtime_ns < RACY_NS else mtime_ns


def _fresh_manifest(settings) -> dict:
    dtype = embedding_module.resolve_dtype(settings.dtype, settings.device)
    return build_manifest(settings, embedding_module.DIMENSION, dtype)


def _set_aside(index_dir: Path) -> None:
    """Move an unreadable store out of the way (kept for inspection) so ``--rebuild`` can start afresh."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        path = index_dir / (DB_NAME + suffix)
        if path.exists():
            os.replace(path, index_dir / f"{DB_NAME}{suffix}.corrupt-{stamp}")


def open_or_create(index_dir: Path, settings, rebuild: bool = False) -> tuple[Store, dict | None]:
    """Open the index for writing; returns the store and the manifest to install (new index or rebuild).

    Call with the ``UpdateLock`` held. With ``rebuild`` an unreadable store is set aside and a new one made.
    A manifest is returned whenever the index has never been committed, so the first update always commits.
    """
    index_dir = Path(index_dir)
    if not Store.exists(index_dir):  # no store, or one whose first build never committed: start afresh
        fresh = _fresh_manifest(settings)
        return Store.create(index_dir, fresh), fresh
    try:
        store = Store.open(index_dir, settings, check=False, unbuilt_ok=True)
    except IndexCorruptError:
        if not rebuild:
            raise
        _set_aside(index_dir)
        fresh = _fresh_manifest(settings)
        return Store.create(index_dir, fresh), fresh
    if rebuild or store.generation == 0:
        # A rebuild, or a first build that did not finish: install the manifest of these settings.
        return store, _fresh_manifest(settings)
    try:
        check_manifest(store.manifest, expected_manifest(settings), index_dir)
    except QAError:
        store.close()
        raise
    return store, None


def update_index(
    docs_dir: Path,
    index_dir: Path,
    settings,
    *,
    rebuild: bool = False,
    embedder=None,
    progress: Progress | None = None,
    lock_wait: float = 0.0,
    after_commit=None,
) -> IndexReport:
    """Bring ``index_dir`` in line with ``docs_dir``; see the module docstring.

    Raises ``DocsFolderError`` (exit 2), ``IndexMismatchError``/``IndexCorruptError`` (3),
    ``IndexLockedError`` (4) or ``IndexWriteError`` (1, the index is left as it was).
    """
    started = time.perf_counter()
    docs_dir, index_dir = Path(docs_dir), Path(index_dir)
    if not docs_dir.is_dir():
        raise DocsFolderError(f"The documents folder {docs_dir} does not exist.")
    with UpdateLock(index_dir, wait=lock_wait):
        store, new_manifest = open_or_create(index_dir, settings, rebuild)
        try:
            store.writable = True
            store.vector_policy = vectors.Policy.from_settings(settings)
            _cleanup(store)
            store.sync_manifest_file()
            report = _update(store, docs_dir, settings, rebuild, new_manifest, embedder, progress, after_commit)
        finally:
            store.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _cleanup(store: Store) -> None:
    try:
        store.cleanup()
    except OSError:
        pass


def _write_error(store: Store, exc: OSError) -> IndexWriteError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "the disk is full"
    try:
        generation = store.generation
    except Exception:
        generation = "?"
    return IndexWriteError(
        f"Could not write the index at {store.directory} ({reason}). It still answers from its last "
        f"committed state (generation {generation}); run the update again once the problem is fixed."
    )


@dataclass
class _Scan:
    candidates: dict[str, _Candidate] = field(default_factory=dict)  # new or changed files, by path
    staying: set[str] = field(default_factory=set)  # stored paths that stay as they are (unchanged or unreadable)
    present: set[str] = field(default_factory=set)  # every path in the folder now
    touched: list[tuple[str, int, int]] = field(default_factory=list)  # (path, size, mtime) of same-content files


def _scan(docs_dir: Path, settings, stored: dict, report: IndexReport, progress) -> _Scan:
    """Stat (and, where size or mtime changed, read and hash) every file; unchanged files are skipped."""
    result = _Scan()
    files = discover(docs_dir)
    kept_bytes = 0
    now_ns = time.time_ns()
    for i, rel in enumerate(files):
        _notify(progress, "scan", i, len(files))
        path = docs_dir / rel
        known = stored.get(rel)
        try:
            stat = path.stat()
            if known and known.mtime_ns and known.size == stat.st_size and known.mtime_ns == stat.st_mtime_ns:
                report.unchanged += 1
                result.present.add(rel)
                result.staying.add(rel)
                continue
            if stat.st_size > settings.max_file_bytes:
                limit = settings.max_file_bytes / 1e6
                raise DocumentError(rel, f"the file is too large ({stat.st_size / 1e6:.0f} MB; the limit is {limit:.0f} MB)")
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # deleted while we looked: gone
        except (DocumentError, OSError) as exc:
            reason = exc.reason if isinstance(exc, DocumentError) else f"cannot read the file ({exc.strerror or exc})"
            _fail(report, rel, reason, known is not None)
            result.present.add(rel)
            if known is not None:
                result.staying.add(rel)
            continue
        result.present.add(rel)
        digest = content_hash(data)
        if known and known.content_hash == digest:
            report.unchanged += 1
            result.staying.add(rel)
            result.touched.append((rel, stat.st_size, _stable_mtime(stat.st_mtime_ns, now_ns)))
            continue
        if kept_bytes + len(data) > KEEP_BYTES:
            data = None  # read again when loading
        else:
            kept_bytes += len(data)
        result.candidates[rel] = _Candidate(rel, data, digest, stat.st_size, _stable_mtime(stat.st_mtime_ns, now_ns))
    _notify(progress, "scan", len(files), len(files))
    return result


def _fail(report: IndexReport, path: str, reason: str, kept: bool) -> None:
    note = "; the previously indexed version is kept" if kept else ""
    report.failed.append({"doc": path, "error": reason + note})


def _load(docs_dir: Path, candidate: _Candidate, settings, chunk_settings):
    """``(document, chunks)`` for a candidate; raises ``DocumentError`` with a reason for anything that fails."""
    try:
        document = load_document(docs_dir, candidate.path, settings, data=candidate.data)
        chunks = chunk_document(document, chunk_settings)
    except DocumentError:
        raise
    except Exception as exc:  # a loader bug or a parser crash must not stop the other documents
        raise DocumentError(candidate.path, f"the file could not be read ({type(exc).__name__}: {exc})") from exc
    finally:
        candidate.data = None
    if not chunks:
        raise DocumentError(candidate.path, "no text could be extracted")
    return document, chunks


def _update(store, docs_dir, settings, rebuild, new_manifest, embedder, progress, after_commit) -> IndexReport:
    report = IndexReport(rebuild=rebuild)
    stored = {} if rebuild else {d.path: d for d in store.documents()}
    scan = _scan(docs_dir, settings, stored, report, progress)
    candidates = scan.candidates

    # Content that stays indexed as it is: nothing to do for another file with the same content.
    held: dict[str, str] = {}
    for path in sorted(scan.staying):
        held.setdefault(stored[path].content_hash, path)
    vanished = {p: d for p, d in stored.items() if p not in scan.present}
    vanished_by_hash: dict[str, list[str]] = {}
    for path in sorted(vanished):
        vanished_by_hash.setdefault(vanished[path].content_hash, []).append(path)

    groups: dict[str, list[str]] = {}  # new content → the files that have it, in path order
    for path in sorted(candidates):
        groups.setdefault(candidates[path].digest, []).append(path)

    renamed: list[tuple[str, str, int, int]] = []
    removed: set[str] = set()
    to_load: list[list[str]] = []

    def duplicates(paths, original):
        for path in paths:
            report.duplicates.append({"doc": path, "same_as": original})
            if path in stored:  # it was indexed with other content, which is gone from the folder now
                removed.add(path)

    for digest, paths in groups.items():
        if digest in held:
            duplicates(paths, held[digest])
            continue
        olds = vanished_by_hash.get(digest)
        target = next((p for p in paths if p not in stored), None)
        if olds and target is not None:
            # A renamed or moved file: the stored document takes the new path, keeping chunks and embeddings.
            old = olds.pop(0)
            del vanished[old]
            candidate = candidates[target]
            renamed.append((old, target, candidate.size, candidate.mtime_ns))
            held[digest] = target
            duplicates([p for p in paths if p != target], target)
            continue
        to_load.append(paths)

    # Load and chunk; of several files with the same new content, the first that loads is indexed.
    chunk_settings = ChunkSettings.from_settings(settings)
    loaded = []
    for i, paths in enumerate(to_load):
        _notify(progress, "load", i, len(to_load))
        for j, path in enumerate(paths):
            try:
                document, chunks = _load(docs_dir, candidates[path], settings, chunk_settings)
            except DocumentError as exc:
                _fail(report, path, exc.reason, path in stored)
                continue
            loaded.append((candidates[path], document, chunks))
            duplicates(paths[j + 1 :], path)
            break
    _notify(progress, "load", len(to_load), len(to_load))
    removed.update(vanished)

    # Embed only chunks whose text is new.
    all_chunks = [(document.title, c) for _, document, chunks in loaded for c in chunks]
    known = {} if rebuild else store.embeddings_by_hash({c.chunk_hash for _, c in all_chunks})
    missing = {}
    for title, chunk in all_chunks:
        if chunk.chunk_hash not in known and chunk.chunk_hash not in missing:
            missing[chunk.chunk_hash] = embedding_text(chunk.section, chunk.text, title)
    # With sentence vectors on, each new chunk's sentences are encoded too (in the same length-sorted pass).
    known_sentences: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sentence_spans: dict[str, list[tuple[int, int]]] = {}
    if settings.sentence_vectors:
        known_sentences = {} if rebuild else store.sentences_by_hash({c.chunk_hash for _, c in all_chunks})
        for title, chunk in all_chunks:
            if chunk.chunk_hash not in known_sentences and chunk.chunk_hash not in sentence_spans:
                spans, texts = sentence_units(chunk.text, title)
                sentence_spans[chunk.chunk_hash] = spans
                missing.update({(chunk.chunk_hash, i): text for i, text in enumerate(texts)})
    if missing:
        if embedder is None:
            embedder = embedding_module.embedder_for(settings)
        known.update(_encode(embedder, missing, settings.batch_size, progress))
    dimension = embedding_module.DIMENSION if embedder is None else embedder.dimension
    for chunk_hash, spans in sentence_spans.items():
        matrix = np.array([known[(chunk_hash, i)] for i in range(len(spans))], dtype=np.float32).reshape(len(spans), dimension)
        known_sentences[chunk_hash] = (np.array(spans, dtype=np.int32).reshape(-1, 2), matrix)
    report.sentences_embedded = sum(len(spans) for spans in sentence_spans.values())
    report.chunks_embedded = len(missing) - report.sentences_embedded
    report.chunks_reused = len(all_chunks) - report.chunks_embedded

    upserts = []
    for candidate, document, chunks in loaded:
        matrix = np.array([known[c.chunk_hash] for c in chunks], dtype=np.float32).reshape(len(chunks), -1)
        sentences = tuple(known_sentences[c.chunk_hash] for c in chunks) if settings.sentence_vectors else None
        upserts.append(DocumentUpsert(document, tuple(chunks), matrix, candidate.size, candidate.mtime_ns, sentences))
        (report.changed if candidate.path in stored else report.added).append(candidate.path)

    try:
        store.touch(scan.touched)
        if upserts or removed or renamed or rebuild or new_manifest is not None:
            _notify(progress, "write", 0, 1)
            store.apply(
                upserts, sorted(removed), renamed, manifest=new_manifest, replace_all=rebuild, after_commit=after_commit
            )
            _notify(progress, "write", 1, 1)
        else:
            store.repair()  # a missing or stale FAISS/BM25 file is rebuilt from the store, not re-encoded
            _cleanup(store)
    except OSError as exc:
        raise _write_error(store, exc) from exc
    report.removed = sorted(removed)
    report.renamed = [{"from": old, "to": new} for old, new, _, _ in renamed]
    report.added.sort()
    report.changed.sort()
    report.duplicates.sort(key=lambda d: d["doc"])
    report.chunks_total = store.chunk_count()
    report.documents_total = len(store.documents())
    report.generation = store.generation
    return report


def _encode(embedder, texts_by_hash: dict, batch_size: int, progress) -> dict:
    """Encode in length-sorted slices so progress can be reported and padding stays small."""
    items = sorted(texts_by_hash.items(), key=lambda kv: len(kv[1]))
    result = {}
    step = max(batch_size * 8, 64)
    for offset in range(0, len(items), step):
        _notify(progress, "embed", offset, len(items))
        part = items[offset : offset + step]
        matrix = embedder.encode([t for _, t in part], batch_size=batch_size)
        result.update({h: v for (h, _), v in zip(part, matrix)})
    _notify(progress, "embed", len(items), len(items))
    return result
