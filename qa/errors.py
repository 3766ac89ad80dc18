"""Typed errors. Library code raises these; only the CLI and the app turn them into messages."""

from __future__ import annotations


class QAError(Exception):
    """Base class: ``str(error)`` is a complete, user-facing sentence."""

    exit_code = 1


class DocumentError(QAError):
    """A document cannot be read: corrupt, empty, binary, undecodable, unsupported, too large."""

    def __init__(self, doc: str, reason: str):
        super().__init__(f"{doc}: {reason}")
        self.doc = doc
        self.reason = reason


class SettingsError(QAError):
    """A ``QA_*`` environment variable or option with a value that cannot be used."""

    exit_code = 2


class UnsafePathError(QAError):
    """A file name that would escape its folder (``../``, absolute paths, NUL bytes)."""

    exit_code = 2


class UnknownDocumentError(QAError):
    """A document name that is not in the index."""

    exit_code = 2


class InvalidQuestionError(QAError):
    """An empty or absurdly long question."""

    exit_code = 2


class IndexMissingError(QAError):
    """No index at the given folder."""

    exit_code = 3


class IndexMismatchError(QAError):
    """The index on disk was built with other settings or by another format version."""

    exit_code = 3


class IndexCorruptError(QAError):
    """The index on disk cannot be read."""

    exit_code = 3


class IndexLockedError(QAError):
    """Another process is updating the index."""

    exit_code = 4


class ModelMissingError(QAError):
    """The packaged embedding model is not installed."""

    exit_code = 5


class UnknownLanguageError(QAError):
    """A language filter (``--lang``, the page's language choice) naming an unknown code or no indexed document."""

    exit_code = 2


class StoreConnectionError(QAError):
    """The PostgreSQL store cannot be reached or used (the message never holds a password)."""

    exit_code = 3
