"""The real documents the benchmarks and end-to-end tests index: seeds/ and the shared UN corpus.

Both are copied into a temporary folder given by the caller; the shared data is only read, never
copied into the repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UN_DOCS = REPO.parent / "shared" / "corpora" / "un_human_rights_docs"
_NOT_DOCUMENTS = {"SOURCE.md", "README.md"}


def copy_seeds(target: Path) -> int:
    """Copy the bundled seeds/ documents into ``target``; returns how many."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted((REPO / "seeds").iterdir()):
        if path.is_file() and path.name not in _NOT_DOCUMENTS:
            shutil.copy2(path, target / path.name)
            count += 1
    return count


def copy_un_docs(target: Path) -> dict[str, int]:
    """Copy the UN PDFs and Markdown files into ``target`` (keeping their sub-folders)."""
    counts = {"un_markdown": 0, "un_pdf": 0}
    for path in sorted(UN_DOCS.rglob("*")):
        if path.is_file() and path.suffix.lower() in (".md", ".pdf") and path.name not in _NOT_DOCUMENTS:
            destination = target / path.relative_to(UN_DOCS)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            counts["un_pdf" if path.suffix.lower() == ".pdf" else "un_markdown"] += 1
    return counts
