"""Loading stage: a file in the docs folder → a ``Document`` with clean extracted text.

The format is chosen by content as well as by extension; a file whose content
contradicts its extension is refused with a reason instead of being parsed as
something it is not.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import DocumentError, UnsafePathError
from ..paths import safe_relative_path
from ..types import Document, Extracted
from .text import heading_may_be_title, load_markdown, load_text

TEXT_EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown"}
OTHER_EXTENSIONS = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"}
SUPPORTED_EXTENSIONS = {**TEXT_EXTENSIONS, **OTHER_EXTENSIONS}

# Editor swap files, lock files, partial downloads and OS droppings are never documents.
_IGNORED = re.compile(
    r"(^\.|^~\$|~$|\.swp$|\.swo$|\.swx$|\.tmp$|\.temp$|\.part$|\.crdownload$|\.bak$|^#.*#$|^Thumbs\.db$|^desktop\.ini$)",
    re.I,
)


# A folder's own README and SOURCE notes are about the documents, not documents.
NOT_DOCUMENTS = ("readme.md", "source.md")


def is_ignored_name(name: str) -> bool:
    """Hidden files, editor swap files and temporary files are not documents."""
    return bool(_IGNORED.search(name))


def is_document_name(filename: str) -> bool:
    """Whether a file of this name is read as a document: not hidden or temporary, not a README.md or SOURCE.md,
    and of a supported type (``scan_folder`` leaves the others out without a word)."""
    return (not is_ignored_name(filename) and filename.lower() not in NOT_DOCUMENTS
            and Path(filename).suffix.lower() in SUPPORTED_EXTENSIONS)


def is_folder_read(name: str) -> bool:
    """Whether ``scan_folder`` looks inside a sub-folder of this name (not a hidden one, not ``__pycache__``)."""
    return not is_ignored_name(name) and name != "__pycache__"


@dataclass(frozen=True)
class Skipped:
    """A file in the docs folder that is not indexed, and why: ``reason`` is a user-facing phrase
    ("a named pipe (FIFO), not a regular file") that reads after "PATH is ..." or "PATH: ..."."""

    path: str
    reason: str


@dataclass(frozen=True)
class Discovery:
    """What ``scan_folder`` found: the candidate documents (relative POSIX paths, sorted) and the entries
    that look like documents but cannot be read as files (special files, bad links), with a reason each."""

    files: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()


def _kind_of(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def _realpath(path: str) -> str:
    """The path with every link resolved; ``OSError`` (``ELOOP``, ``ENOENT``, …) when it cannot be."""
    try:
        return os.path.realpath(path, strict=True)
    except RuntimeError:  # older Pythons report a loop this way
        raise OSError(errno.ELOOP, "Symlink loop", path) from None


def _is_inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _skip_reason(full: str, real_root: str | None) -> str | None:
    """Why the entry ``full`` (found by walking the folder) cannot be indexed; None for a regular file."""
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        raise  # deleted while we looked: the caller drops it without a word
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISLNK(info.st_mode):
        kind = _kind_of(info.st_mode)
        return None if kind is None else f"{kind}, not a regular file"
    try:
        target = _realpath(full)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "a broken link (the file it points to does not exist)"
        return f"a link that cannot be followed ({exc.strerror or exc})"
    if real_root is None or not _is_inside(target, real_root):
        return "a link to a file outside the documents folder"
    try:
        info = os.stat(target)
    except OSError as exc:
        return f"a link that cannot be followed ({exc.strerror or exc})"
    kind = _kind_of(info.st_mode)
    return None if kind is None else f"a link to {kind}, not a regular file"


def entry_skip_reason(full: str, rel: str, real_root: str | None) -> str | None:
    """Why the folder entry ``full`` (``rel`` inside the documents folder, whose real path is ``real_root``) is not
    indexed: not a regular file inside the folder, or a name that cannot be used; None when it can be indexed."""
    try:
        reason = _skip_reason(full, real_root)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - one odd entry must never stop the scan
        reason = f"cannot be read ({type(exc).__name__}: {exc})"
    if reason is None:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            reason = "the file name is not valid UTF-8; rename the file"
    if reason is None:
        try:
            safe_relative_path(rel)
        except UnsafePathError:
            # "report\..\wombat.txt", "\notes.txt", "C:notes.txt": files of the folder on Linux, but names that
            # read as paths outside it, which no question or command could name (qa.paths)
            reason = ("its name reads as a path outside the folder (a drive letter, a leading backslash or '..' "
                      "between backslashes); rename the file")
    return reason


def _printable(rel: str) -> str:
    """A path for messages: bytes that are not UTF-8 (kept by Python as surrogates) shown as \ufffd."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def scan_folder(root: Path) -> Discovery:
    """Every candidate document under ``root``, and every entry skipped for a reason; never raises for an entry.

    Hidden and temporary names, ``README.md``/``SOURCE.md`` and unsupported extensions are ignored without
    a word, as they are not meant to be documents. Everything else that has a document's name but cannot be
    read safely as a regular file inside the folder is listed in ``skipped`` with a reason: named pipes,
    sockets and devices (reading them blocks or never ends), links to them, broken links, link loops, links
    that lead outside the documents folder, names that are not valid UTF-8 or read as paths outside the folder
    (``report\\..\\x.txt``) and sub-folders that cannot be listed.
    """
    root = Path(root)
    try:
        real_root: str | None = _realpath(os.fspath(root))
    except OSError:
        real_root = None  # the folder itself is missing or a bad link: os.walk finds nothing either
    files: list[str] = []
    skipped: list[Skipped] = []

    def unreadable_folder(exc: OSError) -> None:
        where = getattr(exc, "filename", None)
        if where is None or os.path.abspath(where) == os.path.abspath(root):
            return  # the folder itself: the caller checks that it exists
        try:
            rel = Path(where).relative_to(root).as_posix()
        except ValueError:
            return
        skipped.append(Skipped(_printable(rel), f"a folder that cannot be read ({exc.strerror or exc})"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_folder):
        dirnames[:] = sorted(d for d in dirnames if is_folder_read(d))
        for name in dirnames:  # os.walk does not enter linked folders: say so rather than index nothing of them
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                rel = _printable(Path(full).relative_to(root).as_posix())
                try:
                    target = _realpath(full)
                    inside = real_root is not None and _is_inside(target, real_root)
                except OSError:
                    inside = False
                where = "inside" if inside else "outside"
                skipped.append(Skipped(rel, f"a link to a folder {where} the documents folder (links to folders are "
                                            "not followed: move or copy the folder in)"))
        for filename in filenames:
            if not is_document_name(filename):
                continue
            full = os.path.join(dirpath, filename)
            rel = Path(full).relative_to(root).as_posix()
            try:
                reason = entry_skip_reason(full, rel, real_root)
            except FileNotFoundError:
                continue  # deleted while we looked
            if reason is None:
                files.append(rel)
            else:
                skipped.append(Skipped(_printable(rel), reason))
    return Discovery(files=tuple(sorted(files)), skipped=tuple(sorted(skipped, key=lambda s: s.path)))


def discover(root: Path) -> list[str]:
    """All candidate document files under ``root`` (relative POSIX paths, sorted): ``scan_folder(root).files``."""
    return list(scan_folder(root).files)


DEFAULT_READ_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


def _read_chunk(fd: int, size: int) -> bytes:
    """One ``read(2)``; a separate function so tests can make it slow."""
    return os.read(fd, size)


def _open_flags() -> int:
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, name, 0)
    return flags


def _refuse_special(rel: str, mode: int) -> None:
    kind = _kind_of(mode)
    if kind is not None:
        raise DocumentError(rel, f"{kind}, not a regular file")


def megabytes(size: int) -> str:
    """A size as the uploader and ``QA_MAX_FILE_BYTES``' default count it: 2**20 bytes a megabyte ("50 MB")."""
    value = size / 2**20
    return f"{value:.0f} MB" if value >= 10 or value == int(value) else f"{value:.1f} MB"


def _too_large(rel: str, size: int, max_bytes: int) -> DocumentError:
    shown = megabytes(size) if size >= 2**20 else f"{size} bytes"
    return DocumentError(rel, f"the file is too large ({shown}; the limit is {megabytes(max_bytes)})")


def read_file(path: Path, max_bytes: int, timeout: float = DEFAULT_READ_TIMEOUT_S, rel: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, read safely; ``DocumentError`` (named ``rel``) with a reason otherwise.

    * Never blocks on a special file: the file is opened with ``O_NONBLOCK`` (so opening a named pipe with no
      writer returns at once) and the *opened descriptor* is checked with ``fstat``: anything but a regular
      file (pipe, socket, device, folder) is refused, also when it was swapped in after the folder was scanned.
    * Refuses a file larger than ``max_bytes`` (by its size, and again while reading a file that grows).
    * Reads within ``timeout`` seconds (a stalled network or FUSE mount): the open and the reads run in a
      helper thread that owns the descriptor; after the time limit the caller gets ``DocumentError`` at once,
      and the thread stops and closes the file as soon as the stalled system call returns.
    """
    path = Path(path)
    rel = rel if rel is not None else path.name
    outcome: dict = {}
    cancelled = threading.Event()
    done = threading.Event()

    def work() -> None:
        fd = None
        try:
            fd = os.open(path, _open_flags())
            info = os.fstat(fd)
            _refuse_special(rel, info.st_mode)
            if info.st_size > max_bytes:
                raise _too_large(rel, info.st_size, max_bytes)
            parts: list[bytes] = []
            total = 0
            while not cancelled.is_set():
                try:
                    chunk = _read_chunk(fd, min(_CHUNK, max_bytes + 1 - total))
                except BlockingIOError:  # only special files do this, and they were refused above
                    raise DocumentError(rel, "the file cannot be read without waiting; it is not a regular file") from None
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    raise _too_large(rel, total, max_bytes)
            outcome["data"] = b"".join(parts)
        except DocumentError as exc:
            outcome["error"] = exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                reason = "a symbolic link loop"
            elif exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket, or a device with nothing behind it
                reason = "a special file, not a regular file"
            elif isinstance(exc, IsADirectoryError):
                reason = "a folder, not a regular file"
            else:
                reason = f"cannot read the file ({exc.strerror or exc})"
            outcome["error"] = DocumentError(rel, reason)
            outcome["os_error"] = exc
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, never lost in the thread
            outcome["error"] = DocumentError(rel, f"cannot read the file ({type(exc).__name__}: {exc})")
        finally:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
            done.set()

    worker = threading.Thread(target=work, name=f"read {rel}", daemon=True)
    worker.start()
    if not done.wait(max(0.0, float(timeout))):
        cancelled.set()
        raise DocumentError(rel, f"reading the file took longer than {timeout:g} s")
    worker.join()
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(outcome.get("os_error"), FileNotFoundError):
            raise outcome["os_error"]  # gone: callers treat a vanished file as deleted, not as unreadable
        raise error
    return outcome["data"]


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


def fallback_title(rel: str) -> str:
    """The title of a document that names none itself, made from its file name (a pure function of ``rel``):
    ``"reports/annual_report-2024.md"`` → ``"Annual report 2024"``."""
    stem = PurePosixPath(rel).stem
    words = re.sub(r"[_\-]+", " ", stem).strip()
    return words[:1].upper() + words[1:] if words else rel




def content_title(extracted: Extracted) -> str | None:
    """The title a document gives itself (metadata or front matter, else its first heading when that can be a
    title: ``heading_may_be_title``); None when it has none, so that its title is ``fallback_title(path)`` and has
    to change when the file is renamed."""
    first = extracted.headings[0] if extracted.headings else None
    heading = first.title if first and heading_may_be_title(extracted.text, first) else None
    for candidate in (extracted.title, heading):
        if candidate and candidate.strip():
            return candidate.strip()
    return None


def title_after_rename(title: str, old_rel: str, new_rel: str, from_name: bool | None = None) -> str:
    """The title of a stored document moved from ``old_rel`` to ``new_rel`` without re-extracting it.

    ``from_name`` says whether ``title`` was made from the file name (``content_title`` was None); pass it
    when the index records it. Without it, a title equal to ``fallback_title(old_rel)`` is taken to come
    from the name (a document whose own title happens to read exactly like its file name is renamed too).
    """
    if from_name is None:
        from_name = title == fallback_title(old_rel)
    return fallback_title(new_rel) if from_name else title


def extract(rel: str, data: bytes, settings=None, progress=None) -> Extracted:
    """Extract clean text and structure from the bytes of one file; ``progress(stage, done, total)`` hears of
    the scanned pages OCR reads."""
    kind = sniff_kind(rel, data[:2048])
    if kind == "text":
        return load_text(data, rel)
    if kind == "markdown":
        return load_markdown(data, rel)
    from . import formats

    return formats.extract(kind, rel, data, settings, progress)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_document(root: Path, rel: str, settings=None, data: bytes | None = None, progress=None) -> Document:
    """Read, check and extract one document under ``root``; raises ``DocumentError`` with a specific reason."""
    rel = safe_relative_path(rel)
    path = Path(root) / rel
    max_bytes = getattr(settings, "max_file_bytes", 50 * 1024 * 1024)
    if data is None:
        timeout = float(getattr(settings, "read_timeout_s", None) or DEFAULT_READ_TIMEOUT_S)
        try:
            data = read_file(path, max_bytes, timeout, rel=rel)
        except OSError as exc:  # FileNotFoundError: deleted since it was found
            raise DocumentError(rel, f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) == 0:
        raise DocumentError(rel, "the file is empty")
    extracted = extract(rel, data, settings, progress)
    if not extracted.text.strip():
        raise DocumentError(rel, "no text could be extracted")
    title = content_title(extracted) or fallback_title(rel)
    return Document(
        path=rel,
        text=extracted.text,
        title=title,
        content_hash=content_hash(data),
        headings=extracted.headings,
        pages=extracted.pages,
        symbol=extracted.symbol,
        kind=extracted.kind,
        unread_pages=extracted.unread_pages,
    )
