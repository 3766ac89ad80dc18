"""Citation labels a lawyer can paste into a memo."""

from __future__ import annotations


def page_label(page: int | None, page_end: int | None, printed: str | None = None) -> str:
    """``p. 8``, ``pp. 8–9`` or ``""``; a printed page label comes first, with the page in the file after it
    (``p. 10 (PDF p. 16)``; ranges ``pp. 10–11 (PDF pp. 16–17)``, ``pp. iii–iv (PDF pp. 5–6)``)."""
    if page is None:
        return ""
    if page_end is not None and page_end != page:
        if not printed or printed == str(page):
            return f"pp. {page}–{page_end}"
        if "–" in printed:  # both ends' labels, where the printed numbering restarts (qa.chunking)
            return f"pp. {printed} (PDF pp. {page}–{page_end})"
        last = later_label(printed, page_end - page)
        # a front-matter range (printed iii–iv) never reads as printed pages 5–6; an unknown kind of label: "ff."
        printed_range = f"pp. {printed}–{last}" if last else f"pp. {printed} ff."
        return f"{printed_range} (PDF pp. {page}–{page_end})"
    if printed and printed != str(page):
        return f"p. {printed} (PDF p. {page})"
    return f"p. {page}"


_ROMAN = (("m", 1000), ("cm", 900), ("d", 500), ("cd", 400), ("c", 100), ("xc", 90), ("l", 50), ("xl", 40),
          ("x", 10), ("ix", 9), ("v", 5), ("iv", 4), ("i", 1))


def _roman(number: int) -> str:
    out = ""
    for letters, value in _ROMAN:
        while number >= value:
            out, number = out + letters, number - value
    return out


_ROMAN_VALUES = {_roman(n): n for n in range(1, 400)}  # front matter rarely runs past a few dozen pages


def later_label(printed: str, pages_on: int) -> str | None:
    """The printed label ``pages_on`` pages after ``printed``: arabic or lower/upper-case roman; else None."""
    if printed.isdecimal():
        return str(int(printed) + pages_on)
    value = _ROMAN_VALUES.get(printed.lower())
    if value is None:
        return None
    later = _roman(value + pages_on)
    return later.upper() if printed.isupper() else later


def last_label(page: int | None, page_end: int | None, label: str | None) -> str | None:
    """The printed label of a passage's last page, from its ``page_label`` (``range_label``'s form or the first's)."""
    if not label or page is None:
        return None
    if "–" in label:
        return label.rsplit("–", 1)[1]
    return later_label(label, (page_end or page) - page)


def range_label(page: int | None, label: str | None, page_end: int | None, end_label: str | None) -> str | None:
    """The ``page_label`` of a passage from ``page`` (printed ``label``) to ``page_end`` (printed ``end_label``): the
    first page's label, or both ends' ("iv–1") where the printed numbering does not simply go on (a restart)."""
    if label and end_label and page_end != page and later_label(label, page_end - page) != end_label:
        return f"{label.split('–')[0]}–{end_label}"
    return label


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
    if section and " ".join(section.split()).casefold() != " ".join(passage.title.split()).casefold():
        parts.append(f"‘{section}’")  # not the title again (a document whose first heading gave it its title)
    para = getattr(passage, "para", None)
    if para:
        parts.append(f"paras. {para}" if "–" in para else f"para. {para}")
    pages = page_label(passage.page, getattr(passage, "page_end", None), getattr(passage, "page_label", None))
    if pages:
        parts.append(pages)
    return ", ".join(parts)
