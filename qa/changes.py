"""One rule for "has this file changed since it was indexed?", used by the indexer and by the page's check.

Size and modification time first; a file whose size is the same but whose time differs (touched, copied,
or indexed within the file system's timestamp granularity: stored with time 0) is compared by content hash.
"""

from __future__ import annotations

NEW, UNCHANGED, CHANGED, HASH = "new", "unchanged", "changed", "hash"


def quick_state(known, size: int, mtime_ns: int) -> str:
    """``new``, ``unchanged``, ``changed``, or ``hash`` when only the content hash can tell."""
    if known is None:
        return NEW
    if known.size != size:
        return CHANGED
    if known.mtime_ns and known.mtime_ns == mtime_ns:
        return UNCHANGED
    return HASH
