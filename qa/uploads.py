"""Saving uploaded files into the documents folder: safe names, no overwrites, duplicates and bad files refused."""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import DocumentError
from .loaders import (
    NOT_DOCUMENTS, SUPPORTED_EXTENSIONS, content_hash, discover, is_ignored_name, megabytes, read_file, sniff_kind,
)
from .loaders.text import decode_text
from .reporting import shown

_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])$", re.I)
MAX_NAME_CHARS = 120


class UploadRejected(ValueError):
    """An uploaded file that cannot be saved; ``str()`` is the reason."""


def allowed_types() -> list[str]:
    """Extensions for ``st.file_uploader(type=…)``: what the loaders support, without the dot."""
    return sorted(ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS)


def sanitize_filename(name: str) -> str:
    """A safe file name for an upload: last path component only, no odd characters, a supported extension.

    ``../../etc/passwd.md`` → ``passwd.md``; ``C:\\Users\\x\\Reply <final>.PDF`` → ``Reply _final.pdf``.
    Raises ``UploadRejected`` for unsupported types or names with nothing left.
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]  # drops directories, "..", absolute paths and drive prefixes
    name = re.sub(r"^[A-Za-z]:", "", name)
    cleaned = []
    for ch in name:
        category = unicodedata.category(ch)
        if ch in "\t\n\r" or category[0] == "Z":  # tabs, line breaks, odd spaces → a plain space
            cleaned.append(" ")
        elif category[0] == "C":  # other control and format characters (NUL, bidi overrides…) vanish
            continue
        elif ch.isalnum() or ch in " ._-()," or category[0] == "M":
            cleaned.append(ch)
        else:
            cleaned.append("_")
    name = re.sub(r"\s+", " ", "".join(cleaned)).strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        raise UploadRejected(f"'{name or '(no name)'}' has no file extension; supported: {', '.join(allowed_types())}")
    ext = "." + ext.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise UploadRejected(f"'{ext}' files are not supported; supported: {', '.join(allowed_types())}")
    stem = re.sub(r"_{2,}", "_", stem).strip(" .-_")[:MAX_NAME_CHARS].strip(" .-_") or "document"
    if _WINDOWS_RESERVED.match(stem):
        stem = f"{stem}_"
    if f"{stem}.md".lower() in NOT_DOCUMENTS:
        stem = f"{stem} (document)"
    final = stem + ext
    if is_ignored_name(final):
        final = "document " + final
    return final


@dataclass
class UploadOutcome:
    """What happened to one uploaded file."""

    name: str
    status: str  # "saved", "duplicate" or "rejected"
    saved_as: str | None = None
    same_as: str | None = None
    reason: str | None = None

    def message(self) -> str:
        """A plain-text sentence for the page (Markdown-escape before display)."""
        name = shown(self.name)
        if self.status == "saved":
            renamed = f" as {self.saved_as}" if self.saved_as != self.name else ""
            return f"Saved {name}{renamed}."
        if self.status == "duplicate":
            return f"{name} is already there (same content as {shown(self.same_as or '')}); not saved again."
        return f"{name} was not saved: {self.reason}"



def _free_name(docs_dir: Path, name: str) -> str:
    if not (docs_dir / name).exists():
        return name
    stem, ext = os.path.splitext(name)
    n = 2
    while (docs_dir / f"{stem} ({n}){ext}").exists():
        n += 1
    return f"{stem} ({n}){ext}"


def _write_new(docs_dir: Path, name: str, data: bytes) -> str:
    """Write ``data`` to a new file (never overwriting): hidden temp file, fsync, then link/rename into place."""
    tmp = docs_dir / f".upload-{uuid.uuid4().hex}.tmp"
    with open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        for _ in range(1000):
            final = _free_name(docs_dir, name)
            target = docs_dir / final
            try:
                os.link(tmp, target)
                return final
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: reserve the name, then rename over it
                try:
                    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    continue
                os.close(fd)
                os.replace(tmp, target)
                return final
        raise UploadRejected("no free file name")
    finally:
        tmp.unlink(missing_ok=True)


def save_uploads(files, docs_dir: Path, indexed=(), max_bytes: int = 50 * 1024 * 1024) -> list[UploadOutcome]:
    """Save uploaded ``(name, data)`` pairs into ``docs_dir``.

    * names are sanitised (:func:`sanitize_filename`); an existing file is never overwritten (``name (2).md``);
    * empty, too large, unsupported or mislabelled files (a PDF named ``.md``) are rejected with a reason;
    * content already indexed (``DocumentInfo.content_hash``), already in the folder, or uploaded twice
      in the same batch is reported as a duplicate and not written again.
    """
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    root = docs_dir.resolve()
    known = {d.content_hash: d.path for d in indexed}
    folder_sizes: dict[int, list[str]] | None = None
    folder_hashes: dict[str, str] = {}
    outcomes = []
    for original, data in files:
        original = str(original or "")
        data = bytes(data)
        try:
            name = sanitize_filename(original)
            if not data:
                raise UploadRejected("the file is empty")
            if len(data) > max_bytes:
                raise UploadRejected(f"the file is too large ({megabytes(len(data))}; the limit is {megabytes(max_bytes)})")
            try:
                if sniff_kind(name, data[:2048]) in ("text", "markdown", "html"):
                    decode_text(data, name)  # binary or undecodable text: refused now, not by every later update
            except DocumentError as exc:
                raise UploadRejected(exc.reason) from None
        except UploadRejected as exc:
            outcomes.append(UploadOutcome(original, "rejected", reason=str(exc)))
            continue
        digest = content_hash(data)
        same = known.get(digest)
        if same is None:
            if folder_sizes is None:  # only files of the same size can have the same content
                folder_sizes = {}
                for rel in discover(docs_dir):
                    try:
                        size = (docs_dir / rel).stat().st_size
                    except OSError:
                        continue
                    folder_sizes.setdefault(size, []).append(rel)
            for rel in folder_sizes.get(len(data), []):
                if rel not in folder_hashes:
                    try:
                        folder_hashes[rel] = content_hash(read_file(docs_dir / rel, max_bytes, rel=rel))
                    except (OSError, DocumentError):
                        folder_hashes[rel] = ""
                if folder_hashes[rel] == digest:
                    same = rel
                    break
        if same is not None:
            outcomes.append(UploadOutcome(original, "duplicate", same_as=same))
            continue
        try:
            saved = _write_new(docs_dir, name, data)
        except (UploadRejected, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            outcomes.append(UploadOutcome(original, "rejected", reason=f"cannot write the file ({reason})"))
            continue
        assert (docs_dir / saved).resolve().parent == root
        known[digest] = saved
        if folder_sizes is not None:
            folder_sizes.setdefault(len(data), []).append(saved)
            folder_hashes[saved] = digest
        outcomes.append(UploadOutcome(original, "saved", saved_as=saved))
    return outcomes
