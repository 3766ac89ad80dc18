"""Citation labels a lawyer can paste into a memo."""

from __future__ import annotations


def page_label(page: int | None, page_end: int | None, printed: str | None = None) -> str:
    """``p. 8``, ``pp. 8–9`` or ``""``; a printed page label comes first, with the page in the file after it
    (``p. 10 (PDF p. 16)``; a range when the label is a number: ``pp. 10–11 (PDF pp. 16–17)``)."""
    if page is None:
        return ""
    if page_end is not None and page_end != page:
        if printed and printed.isdigit() and printed != str(page):
            return f"pp. {printed}–{int(printed) + page_end - page} (PDF pp. {page}–{page_end})"
        return f"pp. {page}–{page_end}"
    if printed and printed != str(page):
        return f"p. {printed} (PDF p. {page})"
    return f"p. {page}"


def section_label(section: str) -> str:
    """The innermost heading of a section path."""
    return section.rsplit(" > ", 1)[-1] if section else ""


def citation(passage) -> str:
    """``Title (Symbol), 'Section', para. 12, p. 8`` with the parts that are known."""
    title = passage.title
    symbol = getattr(passage, "symbol", None)
    if symbol and symbol not in title:
        title = f"{title} ({symbol})"
    parts = [title]
    section = section_label(passage.section)
    if section:
        parts.append(f"‘{section}’")
    para = getattr(passage, "para", None)
    if para:
        parts.append(f"paras. {para}" if "–" in para else f"para. {para}")
    pages = page_label(passage.page, getattr(passage, "page_end", None), getattr(passage, "page_label", None))
    if pages:
        parts.append(pages)
    return ", ".join(parts)
