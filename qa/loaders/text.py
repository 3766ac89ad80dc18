"""Plain text and Markdown loaders.

Markdown markup is stripped at load time, so the extracted text reads like the
document and every quote is an exact substring of it:

* YAML front matter is removed; its ``title:`` and ``symbol:`` become the document's title and symbol.
* ``#`` heading markers, ``**bold**``/``*italic*``/``__bold__`` markers, inline code backticks and
  backslash escapes (``\\_`` → ``_``) are removed; ``[text](url)`` and ``![alt](url)`` keep only their text.
* A paragraph that is a single bold line (``**On the fourth point of the request**``) is a heading,
  as is every ``#`` line.
* Trailing spaces (Markdown hard breaks) are dropped, runs of blank lines become one blank line.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import DocumentError
from ..types import Extracted, Heading
from .common import structure_heading_level

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*\n", re.S)
# "## Title"; also "####Title" without the space (common in converted treaties) for two or more
# hashes, so that a hashtag such as "#NeMolchi.KZ" at the start of a line stays text.
_ATX_HEADING = re.compile(r"^(#{1,6})(?:[ \t]+|(?<=##)(?=[^#\s]))(.*?)[ \t]*#*[ \t]*$")
# "[text](url)" and "![alt](url)". As in CommonMark, the link text may hold balanced brackets (so an image
# inside a link is one match) and the destination may hold balanced parentheses ("…/a_(b)"), escaped ones
# ("\\)") or be written "<…>". Atomic groups keep failed matches linear.
_LINK_TEXT = r"((?>\\.|[^\[\]\\\n]|\[(?>\\.|[^\[\]\\\n])*\])*)"
_PARENS = r"(?>\\.|[^()\\\n])*"
for _ in range(3):  # up to three levels of nested parentheses in a destination
    _PARENS = r"(?>\\.|[^()\\\n]|\(" + _PARENS + r"\))*"
_DESTINATION = r"\(\s*(?:<[^<>\n]*>(?>[^()\n]|\(" + _PARENS + r"\))*|" + _PARENS + r")\)"
_IMAGE_OR_LINK = re.compile(r"!?\[" + _LINK_TEXT + r"\]" + _DESTINATION)
# Paragraphs have no blank lines, so emphasis may span the lines of one paragraph (re.S).
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.S)
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", re.S)
_ITALIC_UNDERSCORE = re.compile(r"(?<![\w\\])_(?=[^\s_])(.+?)(?<=[^\s_\\])_(?!\w)", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~<>\"'])")
_YEAR = re.compile(r"\b\d{4}\b")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def decode_text(data: bytes, doc: str) -> str:
    """Decode the bytes of a text file: BOMs first, then UTF-8, then a charset guess; binary is refused."""
    if not data.strip():
        raise DocumentError(doc, "the file is empty")
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return _check_textual(data.decode(encoding), doc)
            except UnicodeDecodeError as exc:
                raise DocumentError(doc, f"not valid {encoding} text ({exc.reason} at byte {exc.start})") from None
    if b"\x00" in data:  # NUL bytes are valid UTF-8, so UTF-16 without a BOM must be caught first
        wide = _utf16_without_bom(data)
        if wide is None:
            raise DocumentError(doc, "binary content, not text (NUL bytes)")
        return _check_textual(wide, doc)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = guess_decode(data)
        if text is None:
            raise DocumentError(
                doc, f"not valid UTF-8 text ({exc.reason} at byte {exc.start}) and no other encoding fits"
            ) from None
    return _check_textual(text, doc)


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a byte order mark: NUL bytes on one side of every pair (mostly ASCII text)."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    pairs = len(sample) // 2
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    if odd_nuls >= 0.3 * pairs and even_nuls <= 0.02 * pairs:
        encoding = "utf-16-le"
    elif even_nuls >= 0.3 * pairs and odd_nuls <= 0.02 * pairs:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = data[: len(data) // 2 * 2].decode(encoding)
    except UnicodeDecodeError:
        return None
    # Real text has word breaks; NUL-padded binary decodes to one long run of symbols.
    sample_text = text[:2000]
    breaks = sum(1 for ch in sample_text if ch.isspace() or ch in ".,;:!?-")
    return text if breaks >= max(1, len(sample_text) // 40) else None


# Legacy encodings of the UN's languages tried besides charset_normalizer's guesses, which misread short Western
# European text as Central European ("Café crème" → "Café crčme", "à Genève" → "ŕ Genčve") and miss KOI8-R.
_LEGACY = ("cp1252", "cp1251", "koi8_r", "cp1256")
# Non-ASCII characters other than letters that real text holds.
_TEXT_SIGNS = frozenset("“”‘’„‚–—…«»°§€£¥©®™•·¡¿ºª×÷¶†‡‰‹›\u00a0\u202f\u00ad")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
SCORED_CHARS = 200_000  # of a decoding, enough to judge it


def _script(ch: str) -> str:
    return unicodedata.name(ch, "?").split(" ", 1)[0]  # "LATIN", "CYRILLIC", "GREEK", "ARABIC", "CJK", …


def _misreadings(text: str) -> int:
    """Signs that ``text`` was decoded with the wrong encoding: a non-ASCII character that is neither a letter nor
    a sign text uses ("Gr÷▀e"), a letter next to one of another script, and a capital right after a small letter
    within a word ("GenŔve": cp1252 read as cp852; "рТБЧБ": KOI8-R read as cp1251)."""
    sample = text[:SCORED_CHARS]
    bad = 0
    for match in _NON_ASCII.finditer(sample):
        i, ch = match.start(), match.group()
        if not ch.isalpha():
            bad += ch not in _TEXT_SIGNS and not ch.isspace()
            continue
        for left, right in ((sample[i - 1] if i else "", ch), (ch, sample[i + 1] if i + 1 < len(sample) else "")):
            if left.isalpha() and right.isalpha() and (right is ch or ord(right) < 128):  # each pair once
                bad += _script(left) != _script(right)
                bad += left.islower() and right.isupper()
    return bad


def _western(text: str) -> bool:
    """Few letters outside ASCII, as in French, Spanish or German (not Russian or Greek read as cp1252)."""
    letters = [ch for ch in text[:SCORED_CHARS] if ch.isalpha()]
    return sum(ord(ch) >= 128 for ch in letters) <= 0.3 * len(letters)


def guess_decode(data: bytes) -> str | None:
    """Text that is not UTF-8: the decoding with the fewest signs of a misreading (``_misreadings``) among
    charset_normalizer's guesses and the legacy encodings of the UN's languages; on a tie Windows-1252 when it
    reads as Western European text, else charset_normalizer's order. None when nothing fits."""
    from charset_normalizer import from_bytes

    mostly = utf8_with_strays(data)
    if mostly is not None:
        return mostly
    candidates = {match.encoding: str(match) for match in from_bytes(data)}
    for encoding in _LEGACY:
        if encoding not in candidates:
            try:
                candidates[encoding] = data.decode(encoding)
            except UnicodeDecodeError:
                pass
    if not candidates:
        return None
    order = {encoding: i for i, encoding in enumerate(candidates)}
    best = min(candidates.items(), key=lambda item: (
        _misreadings(item[1]), not (item[0] == "cp1252" and _western(item[1])), order[item[0]]))
    return best[1]


_HIGH_BYTES = bytes(range(0x80, 0x100))
STRAYS_AT_MOST = 1.0  # stray bytes per well-formed UTF-8 non-ASCII byte (a file in another encoding has next to none)


def utf8_with_strays(data: bytes) -> str | None:
    """UTF-8 text with a few stray bytes of a legacy encoding (a Windows-1252 "’" pasted into a UTF-8 file): each
    stray byte read as Windows-1252 (Latin-1 where that has no character), the rest as UTF-8. None when the bytes are
    not mostly well-formed UTF-8 (then the whole file is in another encoding): read whole, one stray byte had made
    "détention" "d√©tention"."""
    parts, strays, position = [], 0, 0
    non_ascii = len(data) - len(data.translate(None, _HIGH_BYTES))
    while True:
        try:
            parts.append(data[position:].decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            parts.append(data[position : position + exc.start].decode("utf-8"))
            for byte in data[position + exc.start : position + exc.end]:
                parts.append(bytes([byte]).decode("cp1252", errors="ignore") or bytes([byte]).decode("latin-1"))
            strays += exc.end - exc.start
            if strays > STRAYS_AT_MOST * max(non_ascii - strays, 0):
                return None
            position += exc.end
    return "".join(parts)


def _check_textual(text: str, doc: str) -> str:
    if "\x00" in text:
        raise DocumentError(doc, "binary content, not text (NUL bytes)")
    sample = text[:20000]
    control = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Co", "Cs") and ch not in "\n\r\t\f")
    if control > max(8, len(sample) // 50):
        raise DocumentError(doc, "binary content, not text (too many control characters)")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    if not text.strip():
        raise DocumentError(doc, "the file has no text")
    return text


def _normalise_blocks(lines: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


# Markdown written into a .txt file (the reply in ../shared/seeds/ is one: "**MISSION PERMANENTE…**", "####"
# headings, "\_"): lines that are "#" headings (with a space: "#NeMolchi.KZ" is a hashtag), bold spans, escapes.
_MARKDOWN_HEADING_LINE = re.compile(r"^#{1,6}[ \t]+\S", re.M)
_MARKDOWN_BOLD = re.compile(r"\*\*[^*\n]+\*\*")
_MARKDOWN_ESCAPE = re.compile(r"\\[_*#\[\]]")


def looks_like_markdown(text: str) -> bool:
    """Whether a text file is written in Markdown: two of its signs, or three of one kind."""
    counts = [len(pattern.findall(text, 0, 200_000)) for pattern in (_MARKDOWN_HEADING_LINE, _MARKDOWN_BOLD, _MARKDOWN_ESCAPE)]
    return sum(1 for n in counts if n) >= 2 or max(counts) >= 3


def load_text(data: bytes, doc: str) -> Extracted:
    """A plain text file: paragraphs separated by blank lines. A line that opens a paragraph and is only a
    legal text's structural heading ("Article 9", "Статья 9", "第九条", "PART II", "Preamble") is a heading
    paragraph of its own; the first line is then the title when it comes before the first heading and is
    short, as in a treaty's plain text ("Universal Declaration of Human Rights - French"). A text file written
    in Markdown (``looks_like_markdown``) is read as Markdown."""
    text = decode_text(data, doc)
    if looks_like_markdown(text):
        return load_markdown(data, doc)
    paragraphs: list[str] = []
    headings: list[Heading] = []
    offset = 0
    for block in _normalise_blocks(text.split("\n")):
        level = structure_heading_level(block[0])
        parts = [block[:1], block[1:]] if level is not None else [block]
        for i, part in enumerate(p for p in parts if p):
            paragraph = "\n".join(part)
            if paragraphs:
                offset += 2  # the "\n\n" before it
            if i == 0 and level is not None:
                start = offset + len(paragraph) - len(paragraph.lstrip())
                headings.append(Heading(start, start + len(paragraph.strip()), level, paragraph.strip()))
            paragraphs.append(paragraph)
            offset += len(paragraph)
    clean = "\n\n".join(paragraphs)
    title = None
    first_line = clean.lstrip().split("\n", 1)[0].strip()
    if first_line and len(first_line) <= 150 and (
        (headings and clean.index(first_line) < headings[0].start)
        # no headings: a first paragraph of one short line that ends no sentence ("Reply of the Government of …")
        or (not headings and len(paragraphs) > 1 and "\n" not in paragraphs[0].strip()
            and not first_line.endswith(_SENTENCE_ENDS))
    ):
        title = first_line
    return Extracted(text=clean, headings=tuple(headings), title=title, kind="text")


_SENTENCE_ENDS = (".", "!", "?", ";", ",", ":", "…", "。", "！", "？", "؟", "،", "؛")


def strip_inline(line: str) -> str:
    """Remove inline Markdown markup from a line or a paragraph, keeping the words."""
    line = _HTML_COMMENT.sub("", line)
    for _ in range(3):  # a link around an image: "[![alt](img)](url)" → "alt"
        stripped = _IMAGE_OR_LINK.sub(r"\1", line)
        if stripped == line:
            break
        line = stripped
    line = _CODE.sub(r"\1", line)
    for _ in range(2):  # nested **_x_**
        line = _BOLD.sub(r"\2", line)
        line = _ITALIC_STAR.sub(r"\1", line)
        line = _ITALIC_UNDERSCORE.sub(r"\1", line)
    line = line.replace("**", "")
    line = _ESCAPE.sub(r"\1", line)
    return "\n".join(part.rstrip() for part in line.split("\n"))


def _front_matter(raw: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(raw)
    if not match:
        return {}, raw
    meta = {}
    for line in match.group(1).split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, raw[match.end():]


def _is_bold_heading(block: list[str]) -> str | None:
    if len(block) != 1:
        return None
    line = block[0].strip()
    if not (line.startswith("**") and line.endswith("**") and len(line) > 4) or "**" in line[2:-2]:
        return None
    title = strip_inline(line).strip()
    words = [w for w in title.split() if any(c.isalpha() for c in w)]
    if len(title) > 120 or len(words) < 2 or title.endswith((",", ";", ":")) or _YEAR.search(title):
        return None
    return title


# Text before a document's first heading that still lets it be the title ("Eightieth session" before a report's).
TITLE_HEADING_WITHIN = 500


def heading_may_be_title(text: str, heading: Heading) -> bool:
    """Whether a document's first heading can be its title: no longer text comes before it (the seed reply's first
    heading, "On the first point of the request", follows a letterhead and a letter: a section), and it is no
    structural or answer heading ("Article 1", "Réponse à la question 1": every reply laid out so would carry the
    same title)."""
    return len(text[: heading.start].strip()) <= TITLE_HEADING_WITHIN and structure_heading_level(heading.title) is None


def _title_from_headings(text: str, headings: list[Heading]) -> str | None:
    """The first heading, joined with the next one when the title is split over two heading lines
    ("Convention" / "against torture and other cruel…"); None when the document has no heading, or when its first
    heading cannot be its title (``heading_may_be_title``)."""
    if not headings or not heading_may_be_title(text, headings[0]):
        return None
    first = headings[0]
    title = first.title
    if len(headings) > 1:
        second = headings[1]
        adjacent = not text[first.end : second.start].strip()
        if adjacent and second.title[:1].islower():
            title = f"{title} {second.title}"
    return title


def load_markdown(data: bytes, doc: str) -> Extracted:
    """A Markdown file: markup stripped, ``#`` lines and bold-only lines recorded as headings."""
    raw = decode_text(data, doc)
    meta, body = _front_matter(raw)
    lines = body.split("\n")
    atx_levels = [len(m.group(1)) for m in map(_ATX_HEADING.match, lines) if m]
    bold_level = min(atx_levels) if atx_levels else 1

    pieces: list[str] = []
    headings: list[Heading] = []
    offset = 0
    first_heading_title = None

    def emit(block_text: str, heading_level: int | None, title: str | None = None):
        nonlocal offset, first_heading_title
        if not block_text.strip():
            return
        if pieces:
            pieces.append("\n\n")
            offset += 2
        if heading_level is not None:
            headings.append(Heading(offset, offset + len(block_text), heading_level, title or block_text))
            first_heading_title = first_heading_title or (title or block_text)
        pieces.append(block_text)
        offset += len(block_text)

    def emit_paragraph(paragraph: list[str]) -> None:
        bold_title = _is_bold_heading(paragraph)
        if bold_title:
            emit(bold_title, bold_level, bold_title)
        else:
            cleaned = strip_inline("\n".join(paragraph)).split("\n")
            emit("\n".join(c for c in cleaned if c.strip()), None)

    for block in _normalise_blocks(lines):
        paragraph: list[str] = []
        for line in block:
            m = _ATX_HEADING.match(line)
            if m:
                if paragraph:  # a paragraph straight before a heading line, no blank line between
                    emit_paragraph(paragraph)
                    paragraph = []
                title = " ".join(strip_inline(m.group(2)).split())
                emit(title, len(m.group(1)), title)
            else:
                paragraph.append(line)
        if paragraph:
            emit_paragraph(paragraph)

    text = "".join(pieces)
    if not text.strip():
        raise DocumentError(doc, "the file has no text")
    return Extracted(
        text=text,
        headings=tuple(headings),
        title=meta.get("title") or _title_from_headings(text, headings),
        symbol=meta.get("symbol") or None,
        kind="markdown",
    )
