"""HTML loader (BeautifulSoup + lxml): visible text as paragraphs, ``h1``–``h6`` as headings.

Scripts, styles, navigation, page headers and footers, sidebars, forms and templates are dropped. Block
elements (``p``, ``li``, ``blockquote``, ``pre``, table rows, …) become paragraphs; a table row's cells are
joined by " | ". The bytes are decoded with the BOM, the declared charset, UTF-8 or a charset guess.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from ..errors import DocumentError
from ..types import Extracted
from .common import Paragraph, assemble, clean_title, first_symbol, squash
from .text import guess_decode

DROPPED = (
    "script", "style", "nav", "header", "footer", "aside", "noscript", "form", "template",
    "svg", "iframe", "object", "embed", "button", "select", "textarea", "head",
)
BLOCKS = {
    "p", "li", "blockquote", "pre", "dt", "dd", "caption", "figcaption", "address", "div", "section",
    "article", "main", "body", "ul", "ol", "dl", "table", "thead", "tbody", "tfoot", "tr", "figure",
    "details", "summary", "hr", "fieldset", "legend", "center",
}
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
CELLS = {"td", "th"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)


def extract_html(rel: str, data: bytes) -> Extracted:
    """Visible text, headings, title and symbol of an HTML page."""
    markup = decode_html(rel, data)
    soup = BeautifulSoup(markup, "lxml")
    title_tag = soup.find("title")
    page_title = squash(title_tag.get_text(" ")) if title_tag else ""
    symbol_meta = soup.find("meta", attrs={"name": re.compile(r"^(dc\.)?(symbol|identifier)$", re.I)})
    for tag in soup.find_all(list(DROPPED)):
        tag.decompose()
    paragraphs = _paragraphs(soup)
    first_h1 = next((p.text for p in paragraphs if p.level == 1), None)
    title = clean_title(page_title, rel) or clean_title(first_h1, rel)
    symbol = None
    if symbol_meta is not None:
        symbol = first_symbol([symbol_meta.get("content") or ""])
    symbol = symbol or first_symbol(p.text for p in paragraphs[:15])
    extracted = assemble(paragraphs, "html", title=title, symbol=symbol)
    if not extracted.text.strip():
        raise DocumentError(rel, "the HTML page has no visible text")
    return extracted


def decode_html(rel: str, data: bytes) -> str:
    """Bytes → text: BOM, then the ``<meta charset>``, then UTF-8, then a guess."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        name = declared.group(1).decode("ascii", "ignore")
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = guess_decode(data)
        if text is None:
            raise DocumentError(rel, "the HTML file is not valid UTF-8 and declares no usable charset") from None
        return text


def _paragraphs(soup) -> list[Paragraph]:
    """Walk the tree (iteratively: pages can nest deeply), cutting the running text into paragraphs."""
    out: list[Paragraph] = []
    buffer: list[str] = []

    def flush(level=None):
        text = squash("".join(buffer))
        buffer.clear()
        if text:
            out.append(Paragraph([(text, None)], level))

    stack: list[tuple[str, object]] = [("children", soup)]
    while stack:
        action, item = stack.pop()
        if action == "flush":
            flush(item)
        elif action == "text":
            buffer.append(item)
        elif action == "cell":
            if squash("".join(buffer)):
                buffer.append(" | ")
            stack.append(("children", item))
        elif action == "pre":
            flush()
            for block in re.split(r"\n\s*\n", item.get_text()):
                buffer.append(block)
                flush()
        else:  # "children": schedule the children of a tag, first child on top of the stack
            for child in reversed(list(item.children)):
                if isinstance(child, NavigableString):
                    if type(child) is NavigableString:  # not a Comment, CData, Doctype…
                        stack.append(("text", str(child)))
                    continue
                if not isinstance(child, Tag) or isinstance(child, Comment):
                    continue
                name = child.name.lower()
                if name in HEADINGS:
                    stack += [("flush", HEADINGS[name]), ("children", child), ("flush", None)]
                elif name == "pre":
                    stack.append(("pre", child))
                elif name == "br":
                    stack.append(("text", " "))
                elif name in CELLS:
                    stack.append(("cell", child))
                elif name in BLOCKS:
                    stack += [("flush", None), ("children", child), ("flush", None)]
                else:
                    stack.append(("children", child))
    flush()
    return out
