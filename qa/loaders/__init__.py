"""Loading stage: a file in the docs folder → a ``Document`` with clean extracted text.

The format is chosen by content as well as by extension; a file whose content
contradicts its extension is refused with a reason instead of being parsed as
something it is not.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath

from ..errors import DocumentError, UnsafePathError
from ..types import Document, Extracted
from .text import load_markdown, load_text

TEXT_EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown"}
OTHER_EXTENSIONS = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"}
SUPPORTED_EXTENSIONS = {**TEXT_EXTENSIONS, **OTHER_EXTENSIONS}

# Editor swap files, lock files, partial downloads and OS droppings are never documents.
_IGNORED = re.compile(
    r"(^\.|^~\$|~$|\.swp$|\.swo$|\.swx$|\.tmp$|\.temp$|\.part$|\.crdownload$|\.bak$|^#.*#$|^Thumbs\.db$|^desktop\.ini$)",
    re.I,
)


def is_ignored_name(name: str) -> bool:
    """Hidden files, editor swap files and temporary files are not documents."""
    return bool(_IGNORED.search(name))


def safe_relative_path(name: str) -> str:
    """Check a document name given by a user: relative, inside its folder, no ``..``; returns it normalised."""
    if not name or "\x00" in name:
        raise UnsafePathError("Document names must be non-empty and contain no NUL bytes.")
    posix = name.replace("\\", "/")
    pure = PurePosixPath(posix)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", posix):
        raise UnsafePathError(f"'{name}' is an absolute path; give a path relative to the docs folder.")
    if any(part == ".." for part in pure.parts):
        raise UnsafePathError(f"'{name}' points outside the docs folder ('..' is not allowed).")
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise UnsafePathError(f"'{name}' is not a file name.")
    return "/".join(parts)


def discover(root: Path) -> list[str]:
    """All candidate document files under ``root`` (relative POSIX paths, sorted), skipping ignored names."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_ignored_name(d) and d != "__pycache__")
        for filename in filenames:
            if is_ignored_name(filename) or filename.lower() in ("readme.md", "source.md"):
                continue
            if Path(filename).suffix.lower() not in SUPPORTED_EXTENSIONS:
                continue
            full = Path(dirpath) / filename
            if full.is_symlink() and not full.resolve().is_relative_to(root.resolve()):
                continue
            found.append(full.relative_to(root).as_posix())
    return sorted(found)


def sniff_kind(rel: str, head: bytes) -> str:
    """Decide the format from the first bytes and the extension; raise if they contradict each other."""
    ext = PurePosixPath(rel).suffix.lower()
    expected = SUPPORTED_EXTENSIONS.get(ext)
    if expected is None:
        raise DocumentError(rel, f"unsupported file type '{ext or '(none)'}'; supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))}")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        actual = "pdf"
    elif head.startswith(b"PK\x03\x04"):
        actual = "zip"
    elif stripped.startswith((b"<!doctype html", b"<html")):
        actual = "html"
    else:
        actual = None
    if expected == "pdf" and actual != "pdf":
        raise DocumentError(rel, "not a PDF: the file does not start with a PDF header (corrupt or mislabelled)")
    if expected == "docx":
        if actual != "zip":
            raise DocumentError(rel, "not a Word document: a .docx file must be a zip archive")
        return "docx"
    if expected in ("text", "markdown") and actual in ("pdf", "zip"):
        raise DocumentError(rel, f"binary content, not text (the file is really a {'PDF' if actual == 'pdf' else 'zip archive'})")
    return expected


def _pretty_name(rel: str) -> str:
    stem = PurePosixPath(rel).stem
    words = re.sub(r"[_\-]+", " ", stem).strip()
    return words[:1].upper() + words[1:] if words else rel


def extract(rel: str, data: bytes, settings=None) -> Extracted:
    """Extract clean text and structure from the bytes of one file."""
    kind = sniff_kind(rel, data[:2048])
    if kind == "text":
        return load_text(data, rel)
    if kind == "markdown":
        return load_markdown(data, rel)
    from . import formats

    return formats.extract(kind, rel, data, settings)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_document(root: Path, rel: str, settings=None, data: bytes | None = None) -> Document:
    """Read, check and extract one document under ``root``; raises ``DocumentError`` with a specific reason."""
    rel = safe_relative_path(rel)
    path = Path(root) / rel
    max_bytes = getattr(settings, "max_file_bytes", 50 * 1024 * 1024)
    if data is None:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise DocumentError(rel, f"cannot read the file ({exc.strerror})") from None
        if size > max_bytes:
            raise DocumentError(rel, f"the file is too large ({size / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB)")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DocumentError(rel, f"cannot read the file ({exc.strerror})") from None
    if len(data) == 0:
        raise DocumentError(rel, "the file is empty")
    extracted = extract(rel, data, settings)
    if not extracted.text.strip():
        raise DocumentError(rel, "no text could be extracted")
    title = extracted.title or (extracted.headings[0].title if extracted.headings else None) or _pretty_name(rel)
    return Document(
        path=rel,
        text=extracted.text,
        title=title.strip(),
        content_hash=content_hash(data),
        headings=extracted.headings,
        pages=extracted.pages,
        symbol=extracted.symbol,
        kind=extracted.kind,
    )
