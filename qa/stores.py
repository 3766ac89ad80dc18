"""Which store an index lives in: the index folder (``qa.store``) or a team's PostgreSQL store (``qa.pgstore``).

``QA_STORE`` (``Settings.store``) picks PostgreSQL; the functions here are what the CLI, the page and the
watcher call, so that neither store's module needs to know about the other.
"""

from __future__ import annotations

from pathlib import Path

from .store import Store


def uses_postgres(settings) -> bool:
    """Whether ``settings`` name a PostgreSQL store of record (``QA_STORE``) rather than the index folder."""
    return bool(getattr(settings, "store", ""))


def open_store(settings, **kwargs) -> Store:
    """The index of ``settings``: the PostgreSQL store of ``settings.store`` if set, else the folder ``settings.index``."""
    if uses_postgres(settings):
        from .pgstore import PgStore

        return PgStore.open(settings.store, settings, **kwargs)
    return Store.open(settings.index, settings, **kwargs)


def store_exists(settings) -> bool:
    if uses_postgres(settings):
        from .pgstore import PgStore

        return PgStore.exists(settings.store)
    return Store.exists(settings.index)


def store_needs_upgrade(settings) -> bool:
    if uses_postgres(settings):
        from .pgstore import PgStore

        return PgStore.needs_upgrade(settings.store)
    return Store.needs_upgrade(settings.index)


def index_location(settings) -> str:
    """Where the index of ``settings`` is, for messages: the folder, or the PostgreSQL URL without its password."""
    if uses_postgres(settings):
        from .pgstore import redact

        return redact(settings.store)
    return str(settings.index)


def update_index(docs_dir: Path, index_dir: Path, settings, **kwargs):
    """``qa.indexing.update_index`` for the folder, ``qa.pgindex.update_shared`` for a PostgreSQL store
    (``index_dir`` then only holds local caches such as OCR results)."""
    if uses_postgres(settings):
        from .indexing import check_folders
        from .pgindex import update_shared

        check_folders(docs_dir, index_dir)
        return update_shared(Path(docs_dir), settings.with_(index=Path(index_dir)), **kwargs)
    from . import indexing

    return indexing.update_index(docs_dir, index_dir, settings, **kwargs)
