"""Indexing stage: bring the index in line with a docs folder, touching only what changed.

* unchanged files (same size and mtime, or same content hash) are skipped without extraction;
* a changed file is re-extracted and re-chunked, and only chunks whose text changed are
  re-embedded (embeddings are reused by chunk hash);
* a deleted file leaves the store, FAISS and BM25;
* a renamed or moved file with the same content keeps its chunks and embeddings;
* the same content under two names is indexed once and reported as a duplicate;
* a file that cannot be read is reported in ``failed`` and the rest is indexed; if it was indexed
  before, its previous version stays in the index until a readable version replaces it.

One process updates an index at a time (``UpdateLock``); all changes of one run are committed in a
single SQLite transaction, so readers see either the old or the new index, never a mix.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import embedding as embedding_module
from .chunking import ChunkSettings, chunk_document, embedding_text
from .errors import DocumentError, IndexLockedError, QAError
from .loaders import content_hash, discover, load_document
from .store import DocumentUpsert, Store, build_manifest, check_manifest, expected_manifest

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)`` with stage in ``scan``, ``load``, ``embed``, ``write``."""

EXIT_OK = 0
EXIT_PARTIAL = 1


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
    chunks_reused: int = 0
    chunks_total: int = 0
    documents_total: int = 0
    generation: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.renamed)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failed else EXIT_OK


class UpdateLock:
    """An exclusive ``flock`` on ``<index>/.lock``; the kernel drops it if the holder dies, so it never goes stale."""

    def __init__(self, directory: Path, wait: float = 0.0):
        self.path = Path(directory) / ".lock"
        self.wait = wait
        self._handle = None

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
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    handle.close()
                    raise IndexLockedError(
                        f"Another update of the index at {self.path.parent} is running (pid {holder}); "
                        "try again when it has finished."
                    ) from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


@dataclass
class _Candidate:
    path: str
    data: bytes
    digest: str
    size: int
    mtime_ns: int


def _notify(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def open_or_create(index_dir: Path, settings, rebuild: bool = False) -> tuple[Store, dict | None]:
    """Open the index for writing; returns the store and the manifest to install (on create or rebuild)."""
    dtype = embedding_module.resolve_dtype(settings.dtype, settings.device)
    fresh = build_manifest(settings, embedding_module.DIMENSION, dtype)
    if not Store.exists(index_dir):
        return Store.create(index_dir, fresh), None
    store = Store.open(index_dir, settings, check=False)
    if rebuild:
        return store, fresh
    try:
        check_manifest(store.manifest, expected_manifest(settings), Path(index_dir))
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
    """Bring ``index_dir`` in line with ``docs_dir``; see the module docstring."""
    started = time.perf_counter()
    docs_dir, index_dir = Path(docs_dir), Path(index_dir)
    if not docs_dir.is_dir():
        raise QAError(f"The documents folder {docs_dir} does not exist.")
    with UpdateLock(index_dir, wait=lock_wait):
        store, new_manifest = open_or_create(index_dir, settings, rebuild)
        try:
            store.writable = True
            store.cleanup()
            report = _update(store, docs_dir, settings, rebuild, new_manifest, embedder, progress, after_commit)
        finally:
            store.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _scan(store: Store, docs_dir: Path, settings, rebuild: bool, report: IndexReport, progress) -> tuple[list[_Candidate], dict]:
    """Find files that need loading; unchanged files are counted and skipped."""
    stored = {} if rebuild else {d.path: d for d in store.documents()}
    files = discover(docs_dir)
    candidates = []
    for i, rel in enumerate(files):
        _notify(progress, "scan", i, len(files))
        path = docs_dir / rel
        try:
            stat = path.stat()
            known = stored.get(rel)
            if known and known.size == stat.st_size and known.mtime_ns == stat.st_mtime_ns:
                report.unchanged += 1
                continue
            if stat.st_size > settings.max_file_bytes:
                limit = settings.max_file_bytes / 1e6
                raise DocumentError(rel, f"the file is too large ({stat.st_size / 1e6:.0f} MB; the limit is {limit:.0f} MB)")
            data = path.read_bytes()
        except DocumentError as exc:
            report.failed.append({"doc": rel, "error": exc.reason})
            continue
        except OSError as exc:
            report.failed.append({"doc": rel, "error": f"cannot read the file ({exc.strerror})"})
            continue
        digest = content_hash(data)
        if known and known.content_hash == digest:
            report.unchanged += 1
            continue
        candidates.append(_Candidate(rel, data, digest, stat.st_size, stat.st_mtime_ns))
    _notify(progress, "scan", len(files), len(files))
    present = set(files)
    return candidates, {p: d for p, d in stored.items() if p not in present}


def _update(store, docs_dir, settings, rebuild, new_manifest, embedder, progress, after_commit) -> IndexReport:
    report = IndexReport()
    candidates, vanished = _scan(store, docs_dir, settings, rebuild, report, progress)
    stored_paths = {} if rebuild else {d.path: d for d in store.documents()}

    # Renames: new content that equals a vanished document's content keeps its chunks.
    renamed: list[tuple[str, str]] = []
    vanished_by_hash = {d.content_hash: p for p, d in vanished.items()}
    remaining = []
    for candidate in candidates:
        old = vanished_by_hash.pop(candidate.digest, None)
        if old is not None and candidate.path not in stored_paths:
            renamed.append((old, candidate.path))
            del vanished[old]
        else:
            remaining.append(candidate)
    removed = sorted(vanished)

    # Duplicates: content already indexed under another (still present) name is not indexed twice.
    indexed_hashes = {d.content_hash: p for p, d in stored_paths.items() if p not in vanished}
    for old, new in renamed:
        indexed_hashes[stored_paths[old].content_hash] = new
    to_load = []
    for candidate in remaining:
        original = indexed_hashes.get(candidate.digest)
        if original is not None and original != candidate.path:
            report.duplicates.append({"doc": candidate.path, "same_as": original})
            continue
        indexed_hashes[candidate.digest] = candidate.path
        to_load.append(candidate)

    # Load and chunk.
    chunk_settings = ChunkSettings.from_settings(settings)
    loaded = []
    for i, candidate in enumerate(to_load):
        _notify(progress, "load", i, len(to_load))
        try:
            document = load_document(docs_dir, candidate.path, settings, data=candidate.data)
        except DocumentError as exc:
            note = "; the previously indexed version is kept" if candidate.path in stored_paths else ""
            report.failed.append({"doc": candidate.path, "error": exc.reason + note})
            indexed_hashes.pop(candidate.digest, None)
            continue
        loaded.append((candidate, document, chunk_document(document, chunk_settings)))
    _notify(progress, "load", len(to_load), len(to_load))

    # Embed only chunks whose text is new.
    all_chunks = [c for _, _, chunks in loaded for c in chunks]
    known = {} if rebuild else store.embeddings_by_hash({c.chunk_hash for c in all_chunks})
    missing = {}
    for chunk in all_chunks:
        if chunk.chunk_hash not in known and chunk.chunk_hash not in missing:
            missing[chunk.chunk_hash] = embedding_text(chunk.section, chunk.text)
    if missing:
        if embedder is None:
            embedder = embedding_module.embedder_for(settings)
        known.update(_encode(embedder, missing, settings.batch_size, progress))
    report.chunks_embedded = len(missing)
    report.chunks_reused = len(all_chunks) - len(missing)

    upserts = []
    for candidate, document, chunks in loaded:
        matrix = np.array([known[c.chunk_hash] for c in chunks], dtype=np.float32).reshape(len(chunks), -1)
        upserts.append(DocumentUpsert(document, tuple(chunks), matrix, candidate.size, candidate.mtime_ns))
        (report.changed if candidate.path in stored_paths else report.added).append(candidate.path)

    if upserts or removed or renamed or rebuild:
        _notify(progress, "write", 0, 1)
        store.apply(upserts, removed, renamed, manifest=new_manifest, replace_all=rebuild, after_commit=after_commit)
        _notify(progress, "write", 1, 1)
    else:
        store.vector_index()  # repairs a missing or stale FAISS file without re-encoding
        store.lexical_index()
        store.cleanup()
    report.removed = removed
    report.renamed = [{"from": old, "to": new} for old, new in renamed]
    report.added.sort()
    report.changed.sort()
    report.chunks_total = store.chunk_count()
    report.documents_total = len(store.documents())
    report.generation = store.generation
    return report


def _encode(embedder, texts_by_hash: dict[str, str], batch_size: int, progress) -> dict[str, np.ndarray]:
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
