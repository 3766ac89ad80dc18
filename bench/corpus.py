"""The real documents the benchmarks and end-to-end tests index (seeds/, the shared UN corpus, SciFact
questions), and the percentile the benchmarks report.

Both are copied into a temporary folder given by the caller; the shared data is only read, never
copied into the repository.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UN_DOCS = REPO.parent / "shared" / "corpora" / "un_human_rights_docs"
SCIFACT = REPO.parent / "shared" / "corpora" / "beir_scifact"
_NOT_DOCUMENTS = {"SOURCE.md", "README.md"}


def bundled_seeds() -> list[Path]:
    """The documents the repository bundles in seeds/: the files git tracks there (documents a user uploaded to the
    page, which saves into the folder it serves, are not bundled and would change every figure); every file when
    this is no git checkout."""
    folder = REPO / "seeds"
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "seeds"], cwd=REPO, capture_output=True, check=True,
                                timeout=30).stdout.decode("utf-8").split("\0")
        tracked = {REPO / name for name in listed if name}
    except (OSError, subprocess.SubprocessError):
        tracked = None
    return [path for path in sorted(folder.iterdir()) if path.is_file() and path.name not in _NOT_DOCUMENTS
            and (tracked is None or path in tracked)]


def copy_seeds(target: Path) -> int:
    """Copy the bundled seeds/ documents into ``target``; returns how many."""
    target.mkdir(parents=True, exist_ok=True)
    bundled = bundled_seeds()
    for path in bundled:
        shutil.copy2(path, target / path.name)
    return len(bundled)


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


def scifact_questions(limit: int | None = None) -> list[str]:
    """The texts of SciFact's queries, in file order (the first ``limit``)."""
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as handle:
        questions = [json.loads(line)["text"] for line in handle]
    return questions[:limit] if limit else questions


def pct(values, q):
    """The ``q`` quantile of ``values`` (nearest rank), ``None`` for no values."""
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def save_result(name: str, result: dict) -> Path:
    """Write a benchmark's JSON to bench/results/<name>.json (git-ignored; ``$VERBATIM_BENCH_RESULTS`` names
    another folder); returns the path."""
    import os

    out = Path(os.environ.get("VERBATIM_BENCH_RESULTS") or REPO / "bench" / "results") / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    return out


def pipeline_fingerprint() -> str:
    """A digest of the code that decides what an index holds (loaders, chunking, sentences, encoders, BM25):
    benchmarks key their cached indexes by it, so an index built by older code is never measured as new."""
    import hashlib

    qa_dir = Path(__file__).resolve().parents[1] / "qa"
    digest = hashlib.sha256()
    for path in sorted([*qa_dir.glob("loaders/*.py"), *(qa_dir / name for name in (
            "chunking.py", "sentences.py", "embedding.py", "e5.py", "lexical.py", "language.py", "ocr.py", "schema.py"))]):
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
