"""Helpers shared by the incremental-indexing, crash, concurrency and watch tests."""

from __future__ import annotations

import random
from pathlib import Path

from qa.stores import update_index
from qa.store import Store
from qa.stores import open_store

SYLLABLES = "ka lo mi nu pe ra si to vu ze ba do fi gu he ji ko la me no".split()


def pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def paragraph(rng: random.Random, marker: str, words: int = 70) -> str:
    """A paragraph of made-up words with the unique words ``<marker>x``, ``<marker>y``, ``<marker>z``.

    Made-up words keep the fake embedder's bag-of-words vectors nearly orthogonal between paragraphs,
    so ``question(marker)`` finds this paragraph first in dense, BM25 and hybrid search.
    """
    body = [pseudo_word(rng) for _ in range(words)]
    for suffix in "xyz":
        body.insert(rng.randrange(len(body) + 1), marker + suffix)
    sentences = [" ".join(body[i : i + 12]) for i in range(0, len(body), 12)]
    return " ".join(sentence[:1].upper() + sentence[1:] + "." for sentence in sentences)


def question(marker: str) -> str:
    """The words only the paragraph written with ``marker`` contains."""
    return f"{marker}x {marker}y {marker}z"


def sectioned_doc(title: str, paragraphs: list[str]) -> str:
    """Markdown with one ``##`` section per paragraph: each section is exactly one chunk."""
    parts = [f"# {title}"]
    for i, text in enumerate(paragraphs, start=1):
        parts.append(f"## Section {i}")
        parts.append(text)
    return "\n\n".join(parts) + "\n"


def make_docs(folder: Path, count: int, seed: int, sections: int = 3, prefix: str = "doc") -> dict[str, str]:
    """Write ``count`` sectioned Markdown documents; returns {name: text}. Section j of doc i has marker ``<prefix><i>s<j>``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i in range(count):
        name = f"{prefix}{i:03d}.md"
        text = sectioned_doc(f"Document {prefix} {i}", [paragraph(rng, f"{prefix}{i}s{j}") for j in range(sections)])
        (folder / name).write_text(text, encoding="utf-8")
        written[name] = text
    return written


def run_update(settings, embedder, **kwargs):
    return update_index(settings.docs, settings.index, settings, embedder=embedder, **kwargs)


def state(settings) -> tuple:
    """What a reader sees: generation and sorted (path, content hash, chunk count) of every document."""
    with open_store(settings) as store:
        return store.generation, tuple((d.path, d.content_hash, d.chunk_count) for d in store.documents())


def check(settings, strict: bool = True) -> dict:
    """Open the index as a reader and verify that FAISS, BM25 and the store agree."""
    with open_store(settings) as store:
        return store.verify(strict=strict)


def leftovers(index_dir: Path) -> list[str]:
    """Temporary files, and derived files other than the current generation's (which must both exist)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{Path(index_dir) / 'store.sqlite3'}?mode=ro", uri=True)
    try:
        generation = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
    finally:
        conn.close()
    expected = {f"vectors-{generation}.faiss", f"lexical-{generation}"}
    names = {p.name for p in Path(index_dir).iterdir()}
    extra = [n for n in names if n.endswith(".tmp") or (n.startswith(("vectors-", "lexical-")) and n not in expected)]
    return sorted(extra) + sorted(f"missing {n}" for n in expected - names)


def leftovers_of(settings) -> list[str]:
    """``leftovers`` of the index folder; for a PostgreSQL store, staged rows and queued files left behind."""
    if not getattr(settings, "store", ""):
        return leftovers(settings.index)
    from qa.pgstore import connect

    conn = connect(settings.store)
    try:
        staged = [f"staged document {p}" for (p,) in conn.execute("SELECT path FROM documents_all WHERE generation IS NULL")]
        queued = [f"{state} work item {p}" for p, state in conn.execute(
            "SELECT path, state FROM work WHERE state IN ('todo', 'staged')")]
        return staged + queued
    finally:
        conn.close()
