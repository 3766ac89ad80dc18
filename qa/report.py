"""The outcome of one index update, as typed records (what ``python -m qa index --json`` prints)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

EXIT_OK = 0
EXIT_PARTIAL = 1


@dataclass(frozen=True)
class Failure:
    """A file that could not be indexed (or was skipped), with the reason in words."""

    doc: str
    error: str


@dataclass(frozen=True)
class Renamed:
    """A stored document found under a new name with the same content (its embeddings are kept)."""

    old: str
    new: str


@dataclass(frozen=True)
class Duplicate:
    """A file whose content is already indexed under another name."""

    doc: str
    same_as: str


@dataclass(frozen=True)
class UnreadPage:
    """A scanned page whose text could not be read (blank, a photo, a script the OCR model does not know);
    the rest of its document is indexed."""

    doc: str
    page: int
    reason: str


@dataclass
class IndexReport:
    """What one update did. ``failed`` holds files that could not be read; ``skipped`` holds entries of
    the folder that are not regular files (pipes, sockets, broken or looping links)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[Renamed] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    unchanged: int = 0
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Failure] = field(default_factory=list)
    unread_pages: list[UnreadPage] = field(default_factory=list)
    chunks_embedded: int = 0
    sentences_embedded: int = 0
    chunks_reused: int = 0
    chunks_total: int = 0
    documents_total: int = 0
    generation: int = 0
    seconds: float = 0.0
    rebuild: bool = False
    reread: str | None = None  # why every document was read again with stored vectors reused: "second encoder", "extraction"

    @property
    def second_encoder_changed(self) -> bool:
        """Every passage re-read for a new (or no) second encoder."""
        return self.reread == "second encoder"

    def to_json(self) -> dict:
        data = asdict(self)
        data["second_encoder_changed"] = self.second_encoder_changed
        data["renamed"] = [{"from": r.old, "to": r.new} for r in self.renamed]
        return data

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.renamed)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failed else EXIT_OK
