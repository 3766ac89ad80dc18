"""How an index update is told to people: one wording of an ``IndexReport`` for every front end.

:func:`headline` says what changed in one line; :func:`lines` gives the details as ``(level, text)``
pairs (level ``info``, ``warning`` or ``error``), the last one the index's totals. The page shows the
headline as a status label and the lines as captions, warnings and errors; ``python -m qa index``
prints the headline and the lines indented under it (:func:`as_text`); the watcher logs both on one
line (:func:`as_log_line`). The text is plain: Markdown-escape it before handing it to Streamlit.
"""

from __future__ import annotations

import time

INFO, WARNING, ERROR = "info", "warning", "error"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def headline(report) -> str:
    """One line: what changed (``Index updated: 2 added, 1 failed``), or that nothing did."""
    changes = [f"{len(items):,} {label}" for label, items in (
        ("added", report.added), ("changed", report.changed), ("removed", report.removed), ("renamed", report.renamed),
    ) if items]
    problems = [f"{len(items):,} {label}" for label, items in (("failed", report.failed), ("skipped", report.skipped)) if items]
    if changes:
        reread = report.reread
        if reread == "second encoder":
            return "Index re-read for its new second encoder (stored vectors reused): " + ", ".join(changes + problems)
        if reread == "extraction":
            return ("Index re-read with this version's document reading (stored vectors reused): "
                    + ", ".join(changes + problems))
        return ("Index rebuilt: " if report.rebuild else "Index updated: ") + ", ".join(changes + problems)
    if problems:
        return "Nothing changed in the index: " + ", ".join(problems)
    if not report.documents_total:
        return "The index is empty: the documents folder holds no document to read"
    return "The index is up to date: nothing changed"


def totals(report) -> str:
    """The state of the index after the update, and what the update cost."""
    return (
        f"{_count(report.documents_total, 'document')}, {_count(report.chunks_total, 'passage')} in the index "
        f"({report.unchanged:,} unchanged, {_count(report.chunks_embedded, 'passage')} embedded with "
        f"{_count(report.sentences_embedded, 'sentence')}, {report.chunks_reused:,} reused; "
        f"generation {report.generation}, {report.seconds:.1f} s)"
    )


def shown(name: str) -> str:
    """A file name on one line: control characters (a newline in a name) written as escapes ("a\\nb.txt")."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in name)


def lines(report) -> list[tuple[str, str]]:
    """``(level, text)`` lines describing the update; the last one is :func:`totals`."""
    out = []
    for label, items in (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed)):
        if items:
            out.append((INFO, f"{label}: " + ", ".join(map(shown, items))))
    for r in report.renamed:
        out.append((INFO, f"Renamed: {shown(r.old)} → {shown(r.new)}"))
    for d in report.duplicates:
        out.append((WARNING, f"Not indexed twice: {shown(d.doc)} has the same content as {shown(d.same_as)}"))
    for s in report.skipped:
        out.append((WARNING, f"Skipped {shown(s.doc)}: {s.error}"))
    for f in report.failed:
        out.append((ERROR, f"Could not index {shown(f.doc)}: {f.error}"))
    unread: dict[str, list] = {}
    for u in report.unread_pages:
        unread.setdefault(u.doc, []).append(u)
    for doc, pages in unread.items():
        detail = "; ".join(f"page {u.page}: {u.reason}" for u in pages)
        out.append((WARNING, f"Scanned pages of {shown(doc)} that could not be read (the rest is indexed): {detail}"))
    out.append((INFO, totals(report)))
    return out


def as_text(report) -> str:
    """The headline and the lines indented under it (``python -m qa index``)."""
    return "\n".join([headline(report), *(f"  {text}" for _, text in lines(report))])


def as_log_line(report, stamp: str | None = None) -> str:
    """``[HH:MM:SS] headline — line | line | …`` (one line per update of the watcher)."""
    stamp = stamp or time.strftime("%H:%M:%S")
    return f"[{stamp}] {headline(report)} — " + " | ".join(text for _, text in lines(report))
