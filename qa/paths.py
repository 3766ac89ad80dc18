"""Document names given by users, checked before any file or index row is looked up."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from .errors import UnsafePathError


def safe_relative_path(name: str) -> str:
    """Check a document name given by a user: relative, inside its folder, no ``..``; returns it normalised ("./a.txt"
    is "a.txt"). A backslash counts as a separator for the checks ("..\\x" is refused) but stays in the name: on
    Linux "report\\2024.txt" is one file, not "2024.txt" in a folder "report"."""
    if not name or "\x00" in name:
        raise UnsafePathError("Document names must be non-empty and contain no NUL bytes.")
    posix = name.replace("\\", "/")
    pure = PurePosixPath(posix)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", posix):
        raise UnsafePathError(f"'{name}' is an absolute path; give a path relative to the docs folder.")
    if any(part == ".." for part in pure.parts):
        raise UnsafePathError(f"'{name}' points outside the docs folder ('..' is not allowed).")
    if not [p for p in pure.parts if p not in ("", ".")]:
        raise UnsafePathError(f"'{name}' is not a file name.")
    return "/".join(p for p in PurePosixPath(name).parts if p not in ("", "."))
