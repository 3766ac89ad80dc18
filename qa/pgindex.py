"""Indexing into a PostgreSQL store: several indexers, on several machines, on one database.

An update has three steps, each safe to run from any number of processes at once:

1. **plan** (one process at a time: the advisory lock ``PLAN_LOCK``): scan the docs folder as
   ``qa.indexing`` does, publish removals and renames at once, and queue each new or changed file in
   ``work`` (a file already queued with the same content is not queued twice).
2. **work**: claim queued files with ``SELECT … FOR UPDATE SKIP LOCKED``, extract, chunk and embed them,
   and write their rows *staged* (``generation`` NULL, invisible to readers) in the same transaction
   that marks them ``staged``. A worker killed mid-batch holds its claims only in a transaction the
   server rolls back when its connection drops: the files go back to ``todo`` for another worker, and
   nothing half-written stays.
3. **publish** (the advisory lock ``PUBLISH_LOCK``): one transaction makes every staged document live,
   removes the versions they replace, logs the chunk ids that left, bumps the generation and notifies
   the app servers. A worker publishes after each ``COMMIT_EVERY_PASSAGES`` passages it staged and
   when the queue is empty.

A ``--rebuild`` runs in one process and one publish (``indexing._update`` over ``PgStore.apply``), so
the previous index stays whole until the new one is complete.

The docs folder can be a shared mount. The plan step trusts the folder it sees: a file missing there
is removed from the index. Machines that may see a different file list run workers only
(``verbatim index --worker``), which claim and publish but never plan; a worker that cannot read a
queued file records it as failed.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from . import indexing
from .errors import DocumentError, IndexLockedError
from .manifest import check_manifest, expected_manifest, reread_needed
from .indexing import COMMIT_EVERY_PASSAGES, _Candidate, _embed_batch, _fail, _load, _notify, _plan, _scan
from .chunking import ChunkSettings
from .pgstore import PLAN_LOCK, PgStore, connect, insert_document, redact, remove_documents
from .report import Duplicate, IndexReport, Renamed, UnreadPage
from .retrieval import as_encoders

# Files claimed in one transaction by a worker (the batch a killed worker gives back).
CLAIM_FILES = 4


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def open_or_create(settings, rebuild: bool = False) -> tuple[PgStore, dict | None]:
    """The store at ``settings.store`` for writing (schema migrated); the manifest to install, if any (a
    rebuild, or settings that only change the second encoder: see ``qa.indexing.update_index``)."""

    url = settings.store
    store = PgStore.open(url, settings, check=False, unbuilt_ok=True, migrate=True)
    try:
        fresh = indexing._fresh_manifest(settings)
        if rebuild:
            return store, fresh
        if not isinstance(store.manifest, dict):
            store.close()
            return PgStore.create(url, fresh), None
        if store.generation > 0 and reread_needed(store.manifest, expected_manifest(settings)):
            return store, fresh
        check_manifest(store.manifest, expected_manifest(settings), redact(url))
    except BaseException:
        store.close()
        raise
    return store, None


class _PlanLock:
    """The session advisory lock of the plan step (released by the server if the holder dies)."""

    def __init__(self, store: PgStore, wait: float):
        self.raw, self.wait = store._conn.raw, wait

    def __enter__(self):
        deadline = time.monotonic() + self.wait
        while not self.raw.execute("SELECT pg_try_advisory_lock(%s)", (PLAN_LOCK,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise IndexLockedError("Another process is planning an update of this store; try again shortly.")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.raw.execute("SELECT pg_advisory_unlock(%s)", (PLAN_LOCK,))


def update_shared(
    docs_dir: Path, settings, *, rebuild: bool = False, embedder=None, progress=None, lock_wait: float = 0.0,
    after_commit=None, plan: bool = True, worker: str | None = None,
) -> IndexReport:
    """Bring the PostgreSQL store of ``settings.store`` in line with ``docs_dir`` (see the module docstring)."""
    started = time.perf_counter()
    docs_dir = Path(docs_dir)
    if not docs_dir.is_dir():
        raise indexing.DocsFolderError(f"The documents folder {docs_dir} is a file, not a folder." if docs_dir.exists()
                                        else f"The documents folder {docs_dir} does not exist.")
    store, new_manifest = open_or_create(settings, rebuild)
    try:
        store.writable = True
        if rebuild or new_manifest is not None:  # a rebuild, or a re-read with the stored vectors reused
            reread = None if rebuild else reread_needed(store.manifest, new_manifest)
            with _PlanLock(store, lock_wait):
                report = indexing._update(store, docs_dir, settings, True, new_manifest, embedder, progress, after_commit,
                                          reread=reread)
        else:
            report = IndexReport()
            if plan:
                with _PlanLock(store, max(lock_wait, 60.0)):
                    plan_update(store, docs_dir, settings, report, progress)
            encoders = {} if embedder is None else as_encoders(embedder)
            work(store, docs_dir, settings, report, encoders, progress, worker or worker_name(), after_commit)
            if store.generation == 0:  # a first build with nothing to index still builds an (empty) index
                store.apply([], [], [], after_commit=after_commit)
            report.generation = store.generation
            report.chunks_total = store.chunk_count()
            report.documents_total = len(store.documents())
    finally:
        store.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def plan_update(store: PgStore, docs_dir: Path, settings, report: IndexReport, progress=None) -> int:
    """Scan, publish removals and renames, queue new and changed files; returns how many files were queued."""
    stored = {d.path: d for d in store.documents()}
    scan = _scan(docs_dir, settings, stored, report, progress)
    planned = _plan(scan, stored, report)
    store.touch(scan.touched)
    if planned.removed or planned.renamed:
        store.apply([], sorted(planned.removed), planned.renamed)
    report.removed = sorted(planned.removed)
    report.renamed = [Renamed(old, new) for old, new, _, _ in planned.renamed]
    raw = store._conn.raw
    queued = 0
    with raw.transaction():
        waiting = {(path, digest) for path, digest in raw.execute(
            "SELECT path, digest FROM verbatim.work WHERE state IN ('todo', 'staged')")}
        # A file another indexer published since the scan read the documents is live already: not queued again.
        candidates = [scan.candidates[paths[0]].path for paths in planned.to_load]
        waiting |= set(raw.execute("SELECT path, content_hash FROM verbatim.documents WHERE path = ANY(%s)",
                                   (candidates,)).fetchall())
        now = time.time()
        for paths in planned.to_load:
            first = scan.candidates[paths[0]]
            if (first.path, first.digest) in waiting:
                continue
            # An older queued version of the same file is superseded by this one.
            raw.execute("UPDATE verbatim.work SET state='superseded', finished_at=%s WHERE path=%s AND state='todo'",
                        (now, first.path))
            raw.execute(
                "INSERT INTO verbatim.work(path, paths, digest, size, mtime_ns, created_at) VALUES(%s,%s,%s,%s,%s,%s)",
                (first.path, json.dumps(paths), first.digest, first.size, first.mtime_ns, now),
            )
            queued += 1
    return queued


def work(store: PgStore, docs_dir: Path, settings, report: IndexReport, encoders: dict, progress, worker: str,
         after_commit=None) -> None:
    """Claim, embed and stage queued files until none is left, publishing as it goes; then publish."""
    chunk_settings = ChunkSettings.from_settings(settings)
    claim_conn = connect(store.url)  # the claims' own transactions
    try:
        staged_passages = 0
        counter = {"done": 0, "total": claim_conn.execute(
            "SELECT COUNT(*) FROM verbatim.work WHERE state='todo'").fetchone()[0]}
        while True:
            with claim_conn.transaction():
                rows = claim_conn.execute(
                    "SELECT id, paths, digest, size, mtime_ns FROM verbatim.work WHERE state='todo' ORDER BY id "
                    "LIMIT %s FOR UPDATE SKIP LOCKED", (CLAIM_FILES,)
                ).fetchall()
                if not rows:
                    break
                staged_passages += _stage(store, claim_conn, docs_dir, settings, chunk_settings, rows, report,
                                          encoders, progress, worker, counter)
            if staged_passages >= COMMIT_EVERY_PASSAGES:
                publish(store, after_commit, progress)
                staged_passages = 0
        publish(store, after_commit, progress)
    finally:
        claim_conn.close()
    report.added.sort()
    report.changed.sort()
    report.duplicates.sort(key=lambda d: d.doc)


def _stage(store, conn, docs_dir, settings, chunk_settings, rows, report, encoders, progress, worker, counter) -> int:
    """Load, embed and write staged rows for the claimed ``rows`` (inside the claim transaction)."""
    claimed = [path for _, paths_json, *_ in rows for path in json.loads(paths_json)]
    stored = {r[0] for r in conn.execute("SELECT path FROM verbatim.documents WHERE path = ANY(%s)", (claimed,))}
    loaded, by_work = [], {}
    now = time.time()
    counter["total"] = max(counter["total"], counter["done"] + len(rows))  # files queued by a later plan
    for work_id, paths_json, digest, size, mtime_ns in rows:
        _notify(progress, "load", counter["done"], counter["total"])
        counter["done"] += 1
        paths = json.loads(paths_json)
        reasons = []
        for j, path in enumerate(paths):
            candidate = _Candidate(path, None, digest, size, mtime_ns)
            try:
                document, chunks = _load(docs_dir, candidate, settings, chunk_settings, progress)
                if document.content_hash != digest:
                    raise DocumentError(path, "the file changed after it was queued; the next update queues it again")
            except DocumentError as exc:
                _fail(report, path, exc.reason, path in stored)
                reasons.append(f"{path}: {exc.reason}")
                continue
            report.unread_pages.extend(UnreadPage(path, note.page, note.reason) for note in document.unread_pages)
            report.duplicates.extend(Duplicate(other, path) for other in paths[j + 1 :])
            loaded.append((candidate, document, chunks))
            by_work[path] = work_id
            break
        else:
            conn.execute("UPDATE verbatim.work SET state='failed', worker=%s, reason=%s, finished_at=%s WHERE id=%s",
                         (worker, "; ".join(reasons)[:2000], now, work_id))
    _notify(progress, "load", counter["done"], counter["total"])
    passages = 0
    if loaded:
        upserts = _embed_batch(store, store.manifest, loaded, settings, False, encoders, progress, report)
        _notify(progress, "write", 0, 1)
        for upsert in upserts:
            path = upsert.document.path
            insert_document(conn, upsert, store.manifest, None, by_work[path], now)
            conn.execute("UPDATE verbatim.work SET state='staged', worker=%s, finished_at=%s WHERE id=%s",
                         (worker, now, by_work[path]))
            (report.changed if path in stored else report.added).append(path)
            passages += len(upsert.chunks)
        _notify(progress, "write", 1, 1)
    return passages


def publish(store: PgStore, after_commit=None, progress=None) -> int | None:
    """Make every staged document live in one generation; returns it (None if nothing was staged)."""
    raw = store._conn.raw
    with store._lock:
        with raw.transaction():
            number = store.begin_publish(raw)
            staged = raw.execute(
                "SELECT w.id, d.path FROM verbatim.work w JOIN verbatim.documents_all d ON d.work_id = w.id "
                "WHERE w.state='staged' AND d.generation IS NULL ORDER BY w.id FOR UPDATE OF w"
            ).fetchall()
            # Staged without rows (cannot happen through _stage; repaired rather than left hanging). One statement:
            # another indexer's claim that commits meanwhile is seen whole (state and rows) or not at all.
            raw.execute("UPDATE verbatim.work w SET state='todo' WHERE state='staged' AND NOT EXISTS "
                        "(SELECT 1 FROM verbatim.documents_all d WHERE d.work_id = w.id AND d.generation IS NULL)")
            if not staged:
                return None
            removed_ids: list[int] = []
            now = time.time()
            for work_id, path in staged:  # in queue order: a later version of a file replaces an earlier one
                removed_ids += remove_documents(raw, [path])
                # chunks first, while their document is still staged (the index on staged documents finds it)
                raw.execute("UPDATE verbatim.chunks_all SET generation=%s WHERE doc_id IN "
                            "(SELECT id FROM verbatim.documents_all WHERE work_id=%s AND generation IS NULL)",
                            (number, work_id))
                raw.execute("UPDATE verbatim.documents_all SET generation=%s, indexed_at=%s WHERE work_id=%s "
                            "AND generation IS NULL", (number, now, work_id))
            raw.execute("UPDATE verbatim.work SET state='done', finished_at=%s WHERE id = ANY(%s)",
                        (now, [w for w, _ in staged]))
            store.finish_publish(raw, number, removed_ids)
        if after_commit is not None:
            after_commit()
        return number


def queue_state(store: PgStore) -> dict[str, int]:
    """``{state: files}`` of the work queue (``todo``, ``staged``, ``done``, ``failed``, ``superseded``)."""
    with store._read() as reads:
        return dict(reads.conn.execute("SELECT state, COUNT(*) FROM work GROUP BY state").fetchall())
