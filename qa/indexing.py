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
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np

from . import embedding as embedding_module
from . import vectors
from .chunking import ChunkSettings, chunk_document, embedding_text, sentence_units, spans_in_embedding_text
from .changes import UNCHANGED, quick_state
from .errors import DocumentError, IndexCorruptError, IndexLockedError, QAError, SettingsError
from .loaders import (
    DEFAULT_READ_TIMEOUT_S, SUPPORTED_EXTENSIONS, content_hash, load_document, read_file, scan_folder, title_after_rename,
)
from .report import Duplicate, Failure, IndexReport, Renamed, UnreadPage
from .retrieval import as_encoders
from .snapshot import PRIMARY
from .manifest import reread_needed
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
# An update that is not a rebuild commits a generation each time this many new passages are embedded, so
# an interrupted first build of a large folder keeps what it had finished (each document all or nothing).
COMMIT_EVERY_PASSAGES = 2_000


class DocsFolderError(QAError):
    """The documents folder does not exist, or it and the index folder overlap."""

    exit_code = EXIT_BAD_INPUT


def check_folders(docs_dir: Path, index_dir: Path) -> None:
    """Refuse a docs folder that does not exist, an index path that is a file, and folders that overlap
    (an index inside the docs folder would be read as documents; docs inside the index could be deleted)."""
    docs_dir, index_dir = Path(docs_dir), Path(index_dir)
    if not docs_dir.is_dir():
        raise DocsFolderError(f"The documents folder {docs_dir} is a file, not a folder." if docs_dir.exists()
                               else f"The documents folder {docs_dir} does not exist.")
    if index_dir.exists() and not index_dir.is_dir():
        raise DocsFolderError(f"The index path {index_dir} is a file, not a folder: choose a folder for the index.")
    docs, index = docs_dir.resolve(), index_dir.resolve()
    if docs == index:
        raise DocsFolderError(f"The index folder {index_dir} is the documents folder: keep the index in a folder of its own.")
    if index.is_relative_to(docs):
        raise DocsFolderError(
            f"The index folder {index_dir} is inside the documents folder {docs_dir}: keep the index outside it."
        )
    if docs.is_relative_to(index):
        raise DocsFolderError(
            f"The documents folder {docs_dir} is inside the index folder {index_dir}: keep the documents outside it."
        )


class IndexWriteError(QAError):
    """The index could not be written (disk full, permissions); it is left as it was."""

    exit_code = EXIT_PARTIAL


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
        store = Store.open(index_dir, settings, check=False, unbuilt_ok=True, migrate=True)
    except IndexCorruptError:
        if not rebuild:
            raise
        _set_aside(index_dir)
        fresh = _fresh_manifest(settings)
        return Store.create(index_dir, fresh), fresh
    if rebuild or store.generation == 0:
        # A rebuild, or a first build that did not finish: install the manifest of these settings.
        return store, _fresh_manifest(settings)
    if reread_needed(store.manifest, expected_manifest(settings)):
        return store, _fresh_manifest(settings)  # every document read again, stored vectors reused (``_update``)
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
    check_folders(docs_dir, index_dir)
    if getattr(settings, "store", ""):
        raise SettingsError("A PostgreSQL store (QA_STORE) is updated through qa.stores.update_index.")
    if hasattr(settings, "with_"):
        settings = settings.with_(index=index_dir)  # where the loaders keep their OCR cache
    with UpdateLock(index_dir, wait=lock_wait):
        store, new_manifest = open_or_create(index_dir, settings, rebuild)
        try:
            store.writable = True
            store.vector_policy = vectors.Policy.from_settings(settings)
            _cleanup(store)
            store.sync_manifest_file()
            # Settings that only add, drop or change the second encoder, or documents read by an older version
            # of the loaders: every document is read again and committed at once like a rebuild, but stored
            # primary and sentence vectors are reused by chunk hash.
            reread = None
            if not rebuild and new_manifest is not None and store.generation > 0:
                reread = reread_needed(store.manifest, new_manifest)
            report = _update(store, docs_dir, settings, rebuild or bool(reread), new_manifest, embedder, progress,
                             after_commit, reread=reread)
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
    found = scan_folder(docs_dir)
    for skipped in found.skipped:  # pipes, sockets, broken or looping links: never opened
        known = skipped.path in stored
        report.skipped.append(Failure(skipped.path, skipped.reason + ("; the previously indexed version is kept" if known else "")))
        if known:
            result.present.add(skipped.path)
            result.staying.add(skipped.path)
    files = found.files
    kept_bytes = 0
    now_ns = time.time_ns()
    timeout = float(getattr(settings, "file_timeout_s", None) or DEFAULT_READ_TIMEOUT_S)
    for i, rel in enumerate(files):
        _notify(progress, "scan", i, len(files))
        path = docs_dir / rel
        known = stored.get(rel)
        try:
            stat = path.stat()
            if quick_state(known, stat.st_size, stat.st_mtime_ns) == UNCHANGED:
                report.unchanged += 1
                result.present.add(rel)
                result.staying.add(rel)
                continue
            data = read_file(path, settings.max_file_bytes, timeout, rel=rel)
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
    report.failed.append(Failure(path, reason + note))


def _load(docs_dir: Path, candidate: _Candidate, settings, chunk_settings, progress=None):
    """``(document, chunks)`` for a candidate; raises ``DocumentError`` with a reason for anything that fails."""
    try:
        document = load_document(docs_dir, candidate.path, settings, data=candidate.data, progress=progress)
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


@dataclass
class _Plan:
    """What an update will do, decided from the scan before anything is read or embedded."""

    renamed: list[tuple] = field(default_factory=list)  # (old, new, size, mtime_ns)
    removed: set[str] = field(default_factory=set)
    to_load: list[list[str]] = field(default_factory=list)  # groups of files with the same new content


def _plan(scan: _Scan, stored: dict, report: IndexReport) -> _Plan:
    """Renames, removals, duplicates and the files to load, from the scan and what is stored."""
    plan = _Plan()
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

    for digest, paths in groups.items():
        if digest in held:
            _duplicates(report, plan, stored, paths, held[digest])
            continue
        olds = vanished_by_hash.get(digest)
        target = next((p for p in paths if p not in stored), None)
        # A renamed or moved file keeps its chunks and embeddings, unless its title came from its name, or it is read
        # by another loader now (notes.txt → notes.html): then it is read again, as a fresh build would.
        if olds and target is not None and _same_loader(olds[0], target) and \
                title_after_rename(stored[olds[0]].title, olds[0], target) == stored[olds[0]].title:
            old = olds.pop(0)
            del vanished[old]
            candidate = candidates[target]
            plan.renamed.append((old, target, candidate.size, candidate.mtime_ns))
            held[digest] = target
            _duplicates(report, plan, stored, [p for p in paths if p != target], target)
            continue
        plan.to_load.append(paths)
    plan.removed.update(vanished)
    # Smallest files first: the update commits every COMMIT_EVERY_PASSAGES passages, so a folder's small documents
    # become searchable before a large one is embedded (a 5 MB text file, minutes of embedding, held back the others).
    plan.to_load.sort(key=lambda paths: (candidates[paths[0]].size, paths[0]))
    return plan


def _same_loader(old: str, new: str) -> bool:
    """Whether two names of the same content are read by the same loader (by extension: ``.md`` and ``.markdown``
    are, ``.txt`` and ``.html`` are not)."""
    kinds = [SUPPORTED_EXTENSIONS.get(PurePosixPath(path).suffix.lower()) for path in (old, new)]
    return kinds[0] == kinds[1]


def _duplicates(report: IndexReport, plan: _Plan, stored: dict, paths, original: str) -> None:
    for path in paths:
        report.duplicates.append(Duplicate(path, original))
        if path in stored:  # it was indexed with other content, which is gone from the folder now
            plan.removed.add(path)


def _batches(docs_dir, scan: _Scan, plan: _Plan, stored: dict, settings, report: IndexReport, progress, limit: float):
    """Load and chunk the files to load, yielding lists of ``(candidate, document, chunks)`` of about
    ``limit`` passages; of several files with the same new content, the first that loads is indexed."""
    chunk_settings = ChunkSettings.from_settings(settings)
    batch, passages = [], 0
    for i, paths in enumerate(plan.to_load):
        _notify(progress, "load", i, len(plan.to_load))
        for j, path in enumerate(paths):
            try:
                document, chunks = _load(docs_dir, scan.candidates[path], settings, chunk_settings, progress)
            except DocumentError as exc:
                _fail(report, path, exc.reason, path in stored)
                continue
            report.unread_pages.extend(UnreadPage(path, note.page, note.reason) for note in document.unread_pages)
            batch.append((scan.candidates[path], document, chunks))
            passages += len(chunks)
            _duplicates(report, plan, stored, paths[j + 1 :], path)
            break
        if passages >= limit:
            yield batch
            batch, passages = [], 0
    _notify(progress, "load", len(plan.to_load), len(plan.to_load))
    if batch:
        yield batch


def _encoder(encoders: dict, key: str, settings):
    """The encoder of ``key``, loaded from the settings when the caller did not give one."""
    if key not in encoders:
        from . import encoders as registry

        encoders[key] = (
            registry.load(settings.model_name, settings) if key == PRIMARY else registry.load(settings.second_encoder, settings)
        )
    return encoders[key]


def _embed_batch(store, manifest: dict, loaded, settings, rebuild, encoders: dict, progress, report):
    """``DocumentUpsert``s for loaded documents: only chunk texts not already stored are encoded."""
    all_chunks = [(document.title, c) for _, document, chunks in loaded for c in chunks]
    hashes = {c.chunk_hash for _, c in all_chunks}
    known = {} if rebuild else store.embeddings_by_hash(hashes)
    missing = {}
    for title, chunk in all_chunks:
        if chunk.chunk_hash not in known and chunk.chunk_hash not in missing:
            missing[chunk.chunk_hash] = embedding_text(chunk.section, chunk.text, title)
    # With sentence vectors on, each new chunk's sentences get vectors too: pooled from the chunk's own
    # forward pass where the model allows it, else encoded on their own in the same length-sorted pass.
    known_sentences: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sentence_spans: dict[str, list[tuple[int, int]]] = {}
    bodies: dict[str, str] = {}  # the chunk text the spans point into
    if settings.sentence_vectors:
        known_sentences = {} if rebuild else store.sentences_by_hash(hashes)
        for title, chunk in all_chunks:
            if chunk.chunk_hash not in known_sentences and chunk.chunk_hash not in sentence_spans:
                spans, texts = sentence_units(chunk.text, title)
                sentence_spans[chunk.chunk_hash], bodies[chunk.chunk_hash] = spans, chunk.text
                missing.update({(chunk.chunk_hash, i): text for i, text in enumerate(texts)})
    chunks_embedded = sum(isinstance(key, str) for key in missing)
    if missing:
        primary = _encoder(encoders, PRIMARY, settings)
        if sentence_spans and hasattr(primary, "encode_with_sentences"):
            known.update(_encode_pooled(primary, missing, sentence_spans, bodies, settings.batch_size, progress))
        if missing:
            known.update(_encode(primary, missing, settings.batch_size, progress))
    dimension = encoders[PRIMARY].dimension if PRIMARY in encoders else embedding_module.DIMENSION
    for chunk_hash, spans in sentence_spans.items():
        matrix = np.array([known[(chunk_hash, i)] for i in range(len(spans))], dtype=np.float32).reshape(len(spans), dimension)
        known_sentences[chunk_hash] = (np.array(spans, dtype=np.int32).reshape(-1, 2), matrix)
    sentences_embedded = sum(len(spans) for spans in sentence_spans.values())
    extra = {}
    for key in manifest.get("extra_encoders") or {}:  # a second encoder: chunk vectors only
        vectors_by_hash = {} if rebuild else store.extra_by_hash(key, hashes)
        texts = {c.chunk_hash: embedding_text(c.section, c.text, t) for t, c in all_chunks if c.chunk_hash not in vectors_by_hash}
        if texts:
            vectors_by_hash.update(_encode(_encoder(encoders, key, settings), texts, settings.batch_size, progress))
        extra[key] = vectors_by_hash
    report.sentences_embedded += sentences_embedded
    report.chunks_embedded += chunks_embedded
    report.chunks_reused += len(all_chunks) - chunks_embedded
    upserts = []
    for candidate, document, chunks in loaded:
        matrix = np.array([known[c.chunk_hash] for c in chunks], dtype=np.float32).reshape(len(chunks), -1)
        sentences = tuple(known_sentences[c.chunk_hash] for c in chunks) if settings.sentence_vectors else None
        others = {key: np.array([by_hash[c.chunk_hash] for c in chunks], dtype=np.float32) for key, by_hash in extra.items()}
        upserts.append(DocumentUpsert(document, tuple(chunks), matrix, candidate.size, candidate.mtime_ns, sentences, others))
    return upserts


def _update(store, docs_dir, settings, rebuild, new_manifest, embedder, progress, after_commit,
            reread: str | None = None) -> IndexReport:
    """``reread`` (``reread_needed``'s reason): a rebuild that takes the stored vectors of chunks whose hash it finds."""
    reuse = reread is not None
    report = IndexReport(rebuild=rebuild and not reuse, reread=reread)
    encoders = {} if embedder is None else as_encoders(embedder)
    manifest = new_manifest if new_manifest is not None else store.manifest  # a new one is installed by the first batch
    stored = {} if rebuild else {d.path: d for d in store.documents()}
    read_before = {d.path for d in store.documents()} if reuse else set(stored)  # counted as changed, not added
    scan = _scan(docs_dir, settings, stored, report, progress)
    plan = _plan(scan, stored, report)
    # A rebuild commits once, so that the previous index stays whole until the new one is complete.
    limit = float("inf") if rebuild else COMMIT_EVERY_PASSAGES
    first = True
    try:
        store.touch(scan.touched)
        for loaded in _batches(docs_dir, scan, plan, stored, settings, report, progress, limit):
            upserts = _embed_batch(store, manifest, loaded, settings, rebuild and not reuse, encoders, progress, report)
            _apply(store, upserts, plan if first else None, new_manifest if first else None, rebuild, after_commit, progress)
            for candidate, _, _ in loaded:
                (report.changed if candidate.path in read_before else report.added).append(candidate.path)
            first = False
        if first and (plan.removed or plan.renamed or rebuild or new_manifest is not None):
            _apply(store, [], plan, new_manifest, rebuild, after_commit, progress)
        elif first:
            store.repair()  # a missing or stale FAISS/BM25 file is rebuilt from the store, not re-encoded
            _cleanup(store)
    except OSError as exc:
        raise _write_error(store, exc) from exc
    report.removed = sorted(plan.removed)
    report.renamed = [Renamed(old, new) for old, new, _, _ in plan.renamed]
    report.added.sort()
    report.changed.sort()
    report.duplicates.sort(key=lambda d: d.doc)
    report.chunks_total = store.chunk_count()
    report.documents_total = len(store.documents())
    report.generation = store.generation
    return report


def _apply(store, upserts, plan: _Plan | None, manifest, rebuild, after_commit, progress) -> None:
    """Commit one generation; the first of an update also carries its removals, renames and manifest."""
    _notify(progress, "write", 0, 1)
    store.apply(
        upserts, sorted(plan.removed) if plan else [], plan.renamed if plan else [], manifest=manifest,
        replace_all=rebuild and plan is not None, after_commit=after_commit,
    )
    _notify(progress, "write", 1, 1)


def _encode_pooled(embedder, missing: dict, sentence_spans: dict, bodies: dict, batch_size: int, progress) -> dict:
    """Vectors of the new chunks whose sentences need vectors too, both from one forward pass per chunk
    (``Embedder.encode_with_sentences``). Removes what it encoded from ``missing``; a sentence past the
    model's window stays there, to be encoded on its own. Progress counts texts, as ``_encode`` does."""
    hashes = sorted((h for h in sentence_spans if h in missing), key=lambda h: len(missing[h]))
    total = len(missing)
    result = {}
    step = max(batch_size * 8, 64)
    for offset in range(0, len(hashes), step):
        _notify(progress, "embed", total - len(missing), total)
        part = hashes[offset : offset + step]
        texts = [missing[h] for h in part]
        spans = [spans_in_embedding_text(sentence_spans[h], bodies[h], t) for h, t in zip(part, texts)]
        pooled = embedder.encode_with_sentences(texts, spans, batch_size=batch_size)
        if pooled is None:
            return result
        matrix, sentences = pooled
        for h, vector, rows in zip(part, matrix, sentences):
            result[h] = vector
            del missing[h]
            for i, row in enumerate(rows):
                if not np.isnan(row[0]):
                    result[(h, i)] = row
                    del missing[(h, i)]
    if missing:  # sentences past the window: few, encoded on their own
        result.update(_encode(embedder, missing, batch_size, None))
        missing.clear()
    _notify(progress, "embed", total, total)
    return result


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
