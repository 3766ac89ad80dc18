"""What the index does not reflect yet: the page's cheap check of the docs folder, and the update it runs.

``pending_changes`` compares the folder with the indexed documents (size and mtime, hashing only when
those disagree); ``settle`` remembers files that an update could not index, so that a broken file does
not count as pending on every start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .changes import CHANGED, HASH, NEW, quick_state
from .errors import DocumentError
from .loaders import content_hash, discover, read_file


@dataclass
class Pending:
    """Files in the docs folder that the index does not reflect yet."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.new) + len(self.changed) + len(self.removed)

    def __bool__(self) -> bool:
        return self.count > 0

    def describe(self) -> str:
        bits = []
        for label, items in (("new", self.new), ("changed", self.changed), ("removed", self.removed)):
            if items:
                bits.append(f"{len(items)} {label}")
        return ", ".join(bits) + (" file" if self.count == 1 else " files") if bits else "up to date"


# (path, size, mtime_ns) of files the last update in this process could not read or skipped as duplicates:
# they are not "pending" again until they change, so a broken file does not trigger an update on every start.
_SETTLED: set[tuple[str, str, int, int]] = set()


def _stat(path: Path) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a file, or None if it cannot be read."""
    try:
        st = path.stat()
        return st.st_size, st.st_mtime_ns
    except OSError:
        return None


_HASHES: dict[tuple[str, int, int], str] = {}


def _file_hash(path: Path, size: int, mtime_ns: int) -> str | None:
    key = (str(path), size, mtime_ns)
    if key not in _HASHES:
        try:
            _HASHES[key] = content_hash(read_file(path, max_bytes=size + 1))
        except (OSError, DocumentError):
            return None
        if len(_HASHES) > 10_000:
            _HASHES.clear()
    return _HASHES[key]


def pending_changes(docs_dir: Path, documents) -> Pending:
    """Compare the docs folder with the indexed documents.

    Cheap: size and mtime first; a file whose size matches but whose mtime does not (touched, copied,
    or indexed within the file system's timestamp granularity) is hashed, once per (size, mtime).
    """
    docs_dir = Path(docs_dir)
    pending = Pending()
    if not docs_dir.is_dir():
        return pending
    known = {d.path: d for d in documents}
    present = discover(docs_dir)
    for rel in present:
        stat = _stat(docs_dir / rel)
        if stat is None:
            continue
        if (str(docs_dir), rel, *stat) in _SETTLED:
            continue
        info = known.get(rel)
        state = quick_state(info, *stat)
        if state == NEW:
            pending.new.append(rel)
        elif state == CHANGED or (state == HASH and _file_hash(docs_dir / rel, *stat) != info.content_hash):
            pending.changed.append(rel)
    pending.removed = sorted(set(known) - set(present))
    return pending


def settle(docs_dir: Path, report) -> None:
    """Remember files that the update did not index (failed, skipped, duplicates) so they are not pending forever."""
    docs_dir = Path(docs_dir)
    for item in [*report.failed, *report.skipped, *report.duplicates]:
        stat = _stat(docs_dir / item.doc)
        if stat is not None:
            _SETTLED.add((str(docs_dir), item.doc, *stat))


def update(settings, embedder, progress=None, *, rebuild: bool = False, lock_wait: float = 0.0):
    """``qa.indexing.update_index`` for the app's docs/index folders; remembers unreadable files (see :func:`settle`)."""
    from .stores import update_index

    report = update_index(settings.docs, settings.index, settings, rebuild=rebuild, embedder=embedder,
                          progress=progress, lock_wait=lock_wait)
    settle(settings.docs, report)
    return report
