"""OCR of image-only PDF pages and of pictures in Word documents: image → words with boxes (in points).

The engine is PyPI's ``rapidocr`` with the PP-OCRv6 detection and recognition models its wheel ships (Latin
letters, digits and Chinese), run by ``onnxruntime`` on the CPU, without the angle classifier (it turned whole
lines upside down on scanned letters). Nothing is downloaded: a missing model file is an error.

* ``render_page`` rasterises one PDF page with pypdfium2 (grey, ``DPI``).
* Every line the detector finds is contrast-stretched before recognition (``stretch_contrast``): light-grey
  type in boxes and sidebars is read as the model reads black type.
* ``read_image`` runs the engine once and returns an ``OcrPage``: the words of every line it read, in the
  page's coordinates (points, y down) with the scan's skew taken out, so that ``pdf.py`` can treat them as
  the words of a text layer (running headers, columns, paragraphs), and the page's mean confidence; or, for a
  page it could not read, the reason (``status`` "blank" or "unreadable").
* OCR gives no font, so every line's weight is measured in the image (``stroke_width``): the width of its
  strokes relative to its type size, kept with its words (``OcrWord.stroke``); ``pdf.py`` takes a line
  whose strokes are much wider than the document's usual ones as bold, as it takes a bold font.
* ``mend_misread_letters``: in light-grey condensed type the model reads a as o ("ossociation", "legol") and t as
  f ("entifies"); a word of a line read with less than full confidence is set right when the same word with
  a for o (t for f) is common in the document and the word itself is not.
* ``ocr_image_bytes`` reads an image file's bytes (a scanned page pasted into a Word document) the same way.
* ``OcrCache`` keeps every page read, by the file's content hash and ``ENGINE_KEY``, in the index folder, so
  an unchanged file is never read twice (also across ``--rebuild``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import statistics
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import DocumentError

DPI = 200
MAX_SIDE_PX = 4000  # a poster-sized page is rendered smaller rather than at DPI
MIN_LINE_SCORE = 0.5  # lines read with less confidence are dropped (stamps, signatures, noise)
ALGORITHM = 4  # bump when the words made from the engine's output change, to ignore older cache entries
# 2: line crops contrast-stretched before recognition (CONTRAST); "Il", "Ill", "IlI" read as Roman numerals
# 3: every word carries its line's stroke width relative to its type size (``stroke_width``, for bold)
CONTRAST = (2.0, 98.0)  # percentiles of a line crop's grey levels stretched to black and white
MIN_CONTRAST = 10  # a crop whose grey levels span less than this is left as it is (no text, only noise)
KNOWN_SCRIPTS = "Latin letters, digits and Chinese"
MEND_BELOW = 0.99  # lines read with at least this confidence are never mended (``mend_misread_letters``)
MEND_MIN_COUNT = 3  # the word with a for o (t for f) must occur this often in the document …
MEND_RATIO = 3  # … and this many times as often as the word read
STROKE_MARGIN_PX = 2  # the blurred edge of a stroke counted with it, on either side of its ink run
MIN_STROKE_RUNS = 20  # a line crossed by fewer ink runs (a dot, a dash) has no stroke width worth measuring


class OcrUnavailableError(DocumentError):
    """The OCR engine or its bundled model cannot be loaded."""


@dataclass(frozen=True)
class OcrWord:
    """A word read by OCR: its box in points (y grows downwards), the confidence of its line and the stroke
    width of its line relative to its type size (``stroke_width``; None when it could not be measured)."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    confidence: float
    stroke: float | None = None


@dataclass(frozen=True)
class OcrPage:
    """One page read by OCR. ``status``: "ok", "blank" (no text found) or "unreadable" (text found but not
    read); ``confidence`` is the mean recognition confidence of the lines kept (None when none was)."""

    number: int
    width: float
    height: float
    words: tuple[OcrWord, ...] = ()
    confidence: float | None = None
    status: str = "ok"
    seconds: float = 0.0

    @property
    def reason(self) -> str:
        if self.status == "blank":
            return "no text was found on the scanned page (blank, or a picture)"
        if self.status == "unreadable":
            return ("the scanned page's text could not be read (handwriting, a photo, or a script the OCR model "
                    f"does not know: it reads {KNOWN_SCRIPTS})")
        return ""

    def to_json(self) -> dict:
        data = asdict(self)
        data["words"] = [[w.text, w.x0, w.x1, w.top, w.bottom, w.confidence, w.stroke] for w in self.words]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "OcrPage":
        words = tuple(OcrWord(*w) for w in data["words"])
        return cls(data["number"], data["width"], data["height"], words, data["confidence"], data["status"],
                   data.get("seconds", 0.0))


def engine_version() -> str:
    from importlib.metadata import version

    return f"rapidocr {version('rapidocr')}, onnxruntime {version('onnxruntime')}"


def engine_key() -> str:
    """What a cached page depends on: engine and model versions, the rendering and this module's word rules."""
    text = f"{engine_version()}|dpi={DPI}|min_score={MIN_LINE_SCORE}|contrast={CONTRAST}|algorithm={ALGORITHM}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def threads_for(settings) -> int:
    """OCR threads for these settings: ``ocr_threads``, or every core this process may use when it is 0."""
    return int(getattr(settings, "ocr_threads", 0) or cores())


def cores() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------- the engine

_ENGINES: dict[int, object] = {}


def load_engine(threads: int):
    """The rapidocr engine with ``threads`` onnxruntime intra-op threads (one per process and thread count)."""
    if threads in _ENGINES:
        return _ENGINES[threads]
    try:
        import cv2

        cv2.setNumThreads(1)  # OpenCV's own pool only resizes here; it fought onnxruntime's for the 2 cores
        from rapidocr import RapidOCR
        import rapidocr
    except ImportError as exc:
        raise OcrUnavailableError("OCR", f"the OCR engine cannot be loaded ({exc}); install requirements.txt") from None
    models = Path(rapidocr.__file__).parent / "models"
    missing = [name for name in ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx") if not (models / name).is_file()]
    if missing:  # rapidocr would try to download them: never at run time
        raise OcrUnavailableError("OCR", f"the OCR model files are missing ({', '.join(missing)}); reinstall rapidocr==3.10.0")
    params = {
        "Global.use_cls": False,
        "Global.text_score": 0.0,  # every line comes back with its score; MIN_LINE_SCORE is applied here
        "Global.log_level": "error",
        "Global.return_word_box": True,
        "EngineConfig.onnxruntime.intra_op_num_threads": int(threads),
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    _ENGINES[threads] = _stretching(RapidOCR)(params=params)
    return _ENGINES[threads]


def _stretching(engine_class):
    """rapidocr's engine with every line crop contrast-stretched before recognition (detection, word boxes
    and everything else as rapidocr does them)."""

    class StretchingEngine(engine_class):
        def recognize_txt(self, img):
            return super().recognize_txt([stretch_contrast(crop) for crop in img])

    return StretchingEngine


def stretch_contrast(crop):
    """A line crop (grey or RGB uint8) with the grey levels between its ``CONTRAST`` percentiles stretched to
    0–255: light-grey type read after blur and JPEG turned its a into o ("ossociation"); stretched, the model
    reads it much as black type. Measured on degraded scans (``bench/ocr.py``): word recall of the UN
    association fact sheet 95.8 → 96.1 %, of A/80/44 (10 pages) 98.9 → 99.3 %, no document lower."""
    import numpy as np

    grey = crop[..., 0] if crop.ndim == 3 else crop
    low, high = np.percentile(grey, CONTRAST)
    if high - low < MIN_CONTRAST:
        return crop
    stretched = np.clip((crop.astype(np.float32) - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(stretched)


def render_page(pdf, index: int):
    """Page ``index`` (0-based) of an open ``pypdfium2.PdfDocument`` as a grey uint8 array, and px per point."""
    page = pdf[index]
    width, height = page.get_size()
    scale = min(DPI / 72.0, MAX_SIDE_PX / max(width, height, 1.0))
    bitmap = page.render(scale=scale, grayscale=True)
    array = bitmap.to_numpy()
    if array.ndim == 3:
        array = array[:, :, 0]
    return array.copy(), scale


def open_pdf(rel: str, data: bytes):
    import pypdfium2

    try:
        return pypdfium2.PdfDocument(data)
    except Exception as exc:  # noqa: BLE001 - pdfium's errors for damaged files
        raise DocumentError(rel, f"the PDF's pages cannot be rendered for OCR ({type(exc).__name__}: {exc})") from None


def ocr_pdf_page(pdf, number: int, threads: int = 1) -> OcrPage:
    """Render and read page ``number`` (1-based) of an open PDF."""
    import time

    started = time.perf_counter()
    image, scale = render_page(pdf, number - 1)
    return replace(read_image(image, scale, number, threads), seconds=round(time.perf_counter() - started, 3))


def read_image(image, scale: float, number: int = 1, threads: int = 1) -> OcrPage:
    """OCR a grey image (``scale`` pixels per point) as page ``number``."""
    import numpy as np

    rgb = np.ascontiguousarray(np.stack([image] * 3, axis=-1)) if image.ndim == 2 else image
    result = load_engine(threads)(rgb)
    height_px, width_px = image.shape[:2]
    grey = image if image.ndim == 2 else image[..., 0]
    lines = [replace(line, stroke=stroke_width(grey, line.quad)) for line in raw_lines(result)]
    return page_from_lines(lines, scale, number, width_px / scale, height_px / scale)


def stroke_width(grey, quad) -> float | None:
    """The width in pixels of a line's strokes: the line's box (``quad``, clockwise from top left) cut out
    straight, its grey levels stretched as for recognition (``CONTRAST``), then the median, over the ink runs
    that its rows cross, of the ink in each run with ``STROKE_MARGIN_PX`` either side (darkness 0–1 summed,
    so blur, which spreads a stroke without adding ink, changes it little). Most runs cross upright stems, so
    a bold line measures about 1.3–1.7 times a regular line of its size; None for a crop with no contrast
    or fewer than ``MIN_STROKE_RUNS`` runs."""
    import cv2
    import numpy as np

    corners = np.asarray(quad[:4], dtype=np.float32)
    width = int(round(max(np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[2] - corners[3]))))
    height = int(round(max(np.linalg.norm(corners[3] - corners[0]), np.linalg.norm(corners[2] - corners[1]))))
    if width < 4 or height < 4:
        return None
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    crop = cv2.warpPerspective(np.ascontiguousarray(grey), cv2.getPerspectiveTransform(corners, target),
                               (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    crop = crop.astype(np.float32)
    low, high = np.percentile(crop, CONTRAST)
    if high - low < MIN_CONTRAST:
        return None
    dark = np.clip((high - crop) / (high - low), 0.0, 1.0)
    ink = np.zeros((height, width + 2), dtype=np.int8)
    ink[:, 1:-1] = dark > 0.5
    edges = np.diff(ink, axis=1)
    rows, starts = np.nonzero(edges == 1)  # row by row, left to right: the n-th start pairs with the n-th end
    ends = np.nonzero(edges == -1)[1]
    if len(starts) < MIN_STROKE_RUNS:
        return None
    summed = np.zeros((height, width + 1), dtype=np.float64)
    summed[:, 1:] = np.cumsum(dark, axis=1)
    left = np.clip(starts - STROKE_MARGIN_PX, 0, width)
    right = np.clip(ends + STROKE_MARGIN_PX, 0, width)
    return round(float(np.median(summed[rows, right] - summed[rows, left])), 3)


MIN_IMAGE_SIDE_PX = 24  # smaller pictures (bullets, icons, rules) hold no line of text worth reading


def image_from_bytes(data: bytes):
    """An image file's bytes (PNG, JPEG, TIFF, … as pasted into a Word document) as a grey uint8 array and its
    pixels per point (from the DPI it records, else ``DPI``); None when Pillow cannot decode it or it is too
    small to hold a line of text."""
    import numpy as np
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened)
            dpi = opened.info.get("dpi", (DPI, DPI))[0] or DPI
            if image.mode in ("RGBA", "LA", "P"):  # a transparent background is white paper, not black
                rgba = image.convert("RGBA")
                image = Image.new("RGBA", rgba.size, "white")
                image.alpha_composite(rgba)
            image = image.convert("L")
    except Exception:  # noqa: BLE001 - Pillow's errors for undecodable or unknown images (EMF, WMF, SVG)
        return None
    if min(image.size) < MIN_IMAGE_SIDE_PX:
        return None
    scale = float(dpi) / 72.0
    if max(image.size) > MAX_SIDE_PX:
        factor = MAX_SIDE_PX / max(image.size)
        image = image.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor))))
        scale *= factor
    return np.asarray(image, dtype=np.uint8).copy(), scale


def ocr_image_bytes(data: bytes, threads: int = 1, folder: Path | None = None) -> OcrPage | None:
    """OCR an image file's bytes as one page, cached in ``folder`` by the image's sha256 like a PDF's pages
    (None when the bytes are not an image worth reading)."""
    import time

    cache = OcrCache(folder, hashlib.sha256(data).hexdigest())
    cached = cache.get(1)
    if cached is not None:
        return cached
    decoded = image_from_bytes(data)
    if decoded is None:
        return None
    started = time.perf_counter()
    page = replace(read_image(decoded[0], decoded[1], 1, threads), seconds=round(time.perf_counter() - started, 3))
    cache.put(page)
    return page


# ------------------------------------------------------------------------------------- engine output → words


@dataclass(frozen=True)
class RawLine:
    """One line the engine read: its quadrilateral (pixels, clockwise from top left), text, score, the
    words it found with their axis-aligned boxes ``(text, x0, x1)`` in pixels, and the width of its strokes
    in pixels (``stroke_width``; None when not measured)."""

    quad: tuple[tuple[float, float], ...]
    text: str
    score: float
    words: tuple[tuple[str, float, float], ...] = field(default=())
    stroke: float | None = None


def raw_lines(result) -> list[RawLine]:
    """The engine's lines with their words; words are spread over the line when the engine gave no boxes."""
    boxes, texts, scores = getattr(result, "boxes", None), getattr(result, "txts", None), getattr(result, "scores", None)
    if boxes is None or texts is None:
        return []
    word_results = list(getattr(result, "word_results", ()) or ())
    aligned = len(word_results) == len(texts)
    lines = []
    for i, (quad, text, score) in enumerate(zip(boxes, texts, scores)):
        quad = tuple((float(x), float(y)) for x, y in quad)
        text = unglued(str(text))
        words = _engine_words(word_results[i], text) if aligned else None
        lines.append(RawLine(quad, text, float(score), words or _spread_words(quad, text)))
    return lines


# The model drops a narrow space between a number and a capitalised word ("16March 2024") and after a short
# lower-case word before one ("inOctober"): both are put back. Left alone: "3rd", "A/80/67", "NeMolchi", "iPhone".
_GLUED = re.compile(r"(\b\d+|\b(?:in|on|of|at|by|to|the|and|for|from|since|until|with))(?=[A-Z][a-z]{2,})")


def unglued(text: str) -> str:
    """An OCR line with the spaces the model dropped put back ("on 16March 2024" → "on 16 March 2024")."""
    return _GLUED.sub(r"\1 ", text)


def _engine_words(items, text: str):
    """``(text, x0, x1)`` of the engine's word boxes when they spell the line's text, else None."""
    words = []
    for item in items:
        if len(item) < 3 or item[2] is None:
            return None
        xs = [float(p[0]) for p in item[2]]
        words.append((str(item[0]), min(xs), max(xs)))
    if "".join(w for w, _, _ in words).replace(" ", "") != text.replace(" ", ""):
        return None
    return _merge_chars(words, text)


def _merge_chars(words, text: str):
    """Single characters (Chinese, or mixed lines) joined into the space-separated words of ``text``."""
    tokens = text.split()
    if len(words) == len(tokens):
        return tuple(words)
    merged, i = [], 0
    for token in tokens:
        taken, x0, x1 = "", math.inf, -math.inf
        while i < len(words) and len(taken) < len(token):
            piece = words[i][0].strip()
            taken += piece
            x0, x1 = min(x0, words[i][1]), max(x1, words[i][2])
            i += 1
        if taken != token:
            return None
        merged.append((token, x0, x1))
    return tuple(merged)


def _spread_words(quad, text: str):
    """Word boxes in proportion to their characters along the line (the engine gave none)."""
    x0 = min(x for x, _ in quad)
    x1 = max(x for x, _ in quad)
    per_char = (x1 - x0) / max(len(text), 1)
    words, pos = [], 0
    for token in text.split(" "):
        if token:
            words.append((token, x0 + pos * per_char, x0 + (pos + len(token)) * per_char))
        pos += len(token) + 1
    return tuple(words)


_ROMAN_MISREAD = re.compile(r"(\(?)(I[Il]{1,3})((?:\.\d+)*\.?[,;:)]?)")
_SENTENCE_END = re.compile(r"[.!?:;\"\u00bb\u201d]$")


def roman_numerals(tokens: list[str]) -> list[str]:
    """The words of one line with Roman numerals misread as I and l set right: the model reads the II and
    III of "Part II", "Box III.3" as "Il", "Ill", "IlI", "IIl". A word of only I and l that starts with I and
    has an l is a numeral when it is no word of any language ("IlI", "IIl") or is followed by ".3"; "Il" and
    "Ill" are words too (French and Italian "Il", English "Ill"), so they are numerals only after a word of the
    same line that does not end a sentence ("Part Ill", not "Il a déclaré" nor "Ill health" at a line's start)."""
    out = list(tokens)
    for i, token in enumerate(tokens):
        match = _ROMAN_MISREAD.fullmatch(token)
        if not match or "l" not in match.group(2):
            continue
        numeral, tail = match.group(2), match.group(3)
        ambiguous = numeral in ("Il", "Ill") and not re.match(r"\.\d", tail)
        if ambiguous and (i == 0 or _SENTENCE_END.search(tokens[i - 1])):
            continue
        out[i] = match.group(1) + numeral.replace("l", "I") + tail
    return out


def skew(lines: list[RawLine]) -> float:
    """The page's skew angle (radians) from the top edges of its long lines; 0 when there are none."""
    angles = []
    for line in lines:
        (ax, ay), (bx, by) = line.quad[0], line.quad[1]
        height = abs(line.quad[3][1] - line.quad[0][1]) or 1.0
        if bx - ax > 4 * height:
            angles.append(math.atan2(by - ay, bx - ax))
    return statistics.median(angles) if angles else 0.0


def page_from_lines(lines: list[RawLine], scale: float, number: int, width: float, height: float) -> OcrPage:
    """Words of the lines read well enough, deskewed and in points; the page's status and mean confidence."""
    kept = [l for l in lines if l.score >= MIN_LINE_SCORE and any(c.isalnum() for c in l.text)]
    if not lines:
        return OcrPage(number, width, height, status="blank")
    kept_chars = sum(len(l.text) for l in kept)
    all_chars = sum(len(l.text) for l in lines)
    if kept_chars < 10 or kept_chars < 0.5 * all_chars:
        return OcrPage(number, width, height, status="unreadable")
    angle = skew(kept)
    cos, sin = math.cos(angle), math.sin(angle)
    heights = [_quad_height(line.quad) for line in kept]
    body = statistics.median(heights)

    def straight(x: float, y: float) -> tuple[float, float]:  # rotate by -angle: lines become horizontal
        return (x * cos + y * sin) / scale, (-x * sin + y * cos) / scale

    words = []
    for line, height_px in zip(kept, heights):
        size_px = type_height(height_px, body)  # the stroke width is relative to the type size
        stroke = round(line.stroke / size_px, 4) if line.stroke and size_px > 0 else None
        texts = roman_numerals([text for text, _, _ in line.words])
        (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = line.quad[:4]
        top = (straight(tlx, tly)[1] + straight(trx, try_)[1]) / 2
        bottom = (straight(blx, bly)[1] + straight(brx, bry)[1]) / 2
        left_mid, right_mid = ((tlx + blx) / 2, (tly + bly) / 2), ((trx + brx) / 2, (try_ + bry) / 2)
        span = (right_mid[0] - left_mid[0]) or 1.0
        for text, (_, x0, x1) in zip(texts, line.words):
            middle = (x0 + x1) / 2
            y = left_mid[1] + (right_mid[1] - left_mid[1]) * (middle - left_mid[0]) / span
            centre = straight(middle, y)[0]
            half = (x1 - x0) / scale / 2
            words.append(OcrWord(text, centre - half, centre + half, top, bottom, round(line.score, 4), stroke))
    weights = [len(l.text) for l in kept]
    confidence = sum(l.score * w for l, w in zip(kept, weights)) / sum(weights)
    return OcrPage(number, width, height, tuple(words), round(confidence, 4), "ok")


def type_height(height: float, body: float) -> float:
    """A line's type height: the page's body line height for lines within 20 % of it (line heights vary with
    ascenders and descenders, type sizes do not), else the line's own height."""
    return body if abs(height - body) <= 0.2 * body else height


def _quad_height(quad) -> float:
    """The height of a line's quadrilateral (pixels): the mean length of its left and right edges."""
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = quad[:4]
    return (math.hypot(blx - tlx, bly - tly) + math.hypot(brx - trx, bry - try_)) / 2


_LETTERS = re.compile(r"[^\W\d_]+")
_MISREAD = {"o": "a", "O": "A", "f": "t"}  # what the model reads in light condensed type → what was printed


def mend_misread_letters(pages: list[OcrPage], known=()) -> list[OcrPage]:
    """``pages`` (one document's) with the letters the model misreads in light condensed type set right (a
    read as o, t as f: ``_MISREAD``): a run of 3 or more letters of a line read with confidence under
    ``MEND_BELOW`` becomes the same run with one or more of those letters swapped back when that spelling
    occurs at least ``MEND_MIN_COUNT`` times in the document (its OCR'd words and ``known``, the words of its
    text layer; case ignored) and ``MEND_RATIO`` times as often as the run read ("legol" once, "legal" 4
    times; "poro" → "para"; "entifies" → "entities"; "Humon" → "Human", as "human" is common; "some" on a
    0.999 line, or "form" in a document that has "farm", is left alone). Only letters change, one for one,
    so every box stays as it was. On degraded scans of the UN PDFs (``bench/ocr.py``): 22 words mended in
    the association fact sheet, all rightly; none in the other five documents."""
    counts: dict[str, int] = {}
    for text in [w.text for page in pages for w in page.words] + list(known):
        for run in _LETTERS.findall(text):
            counts[run.lower()] = counts.get(run.lower(), 0) + 1  # "Humon" is mended by "human rights"

    def mended(match) -> str:
        run = match.group(0)
        spots = [i for i, ch in enumerate(run) if ch in _MISREAD]
        if len(run) < 3 or not spots or len(spots) > 6:
            return run
        best, best_count = run, 0
        for chosen in range(1, 1 << len(spots)):
            letters = list(run)
            for bit, i in enumerate(spots):
                if chosen >> bit & 1:
                    letters[i] = _MISREAD[letters[i]]
            spelling = "".join(letters)
            found = counts.get(spelling.lower(), 0)
            if found > best_count:
                best, best_count = spelling, found
        if best_count >= MEND_MIN_COUNT and best_count >= MEND_RATIO * counts.get(run.lower(), 0):
            return best
        return run

    out = []
    for page in pages:
        words = tuple(replace(w, text=_LETTERS.sub(mended, w.text)) if w.confidence < MEND_BELOW else w
                      for w in page.words)
        out.append(replace(page, words=words) if words != page.words else page)
    return out


# ---------------------------------------------------------------------------------------------- the cache


class OcrCache:
    """Pages read by OCR, one JSON file per PDF content: ``<folder>/<sha256>-<engine key>.json``, rewritten
    atomically (temporary file, fsync, rename) after every page, so a file cut short by the time limit
    resumes where it stopped. A cache that cannot be read or written is simply not used."""

    def __init__(self, folder: Path | None, content: str, key: str | None = None):
        self.path = Path(folder) / f"{content}-{key or engine_key()}.json" if folder else None
        self.pages: dict[int, OcrPage] = {}
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.pages = {int(n): OcrPage.from_json(p) for n, p in data["pages"].items()}
            except (OSError, ValueError, KeyError, TypeError):
                self.pages = {}

    def get(self, number: int) -> OcrPage | None:
        return self.pages.get(number)

    def put(self, page: OcrPage) -> None:
        self.pages[page.number] = page
        if self.path is None:
            return
        data = {"engine": engine_version(), "pages": {str(n): p.to_json() for n, p in sorted(self.pages.items())}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, ensure_ascii=False)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            pass  # a read-only index folder: OCR again next time rather than fail


def cache_folder(settings) -> Path | None:
    """Where OCR results are kept: ``ocr/`` in the index folder of ``settings``; None without settings or when
    that folder holds no index (a loader called on its own writes nothing)."""
    from .store import DB_NAME

    index = getattr(settings, "index", None)
    if not index or not (Path(index) / DB_NAME).exists():
        return None
    return Path(index) / "ocr"


# ----------------------------------------------------------------------------------------- passage marks


def page_marks(pages) -> dict[int, float]:
    """``{page number: mean OCR confidence}`` of a document's OCR'd pages (from its ``PageSpan``s)."""
    return {p.number: p.ocr for p in pages if getattr(p, "ocr", None) is not None}


def passage_mark(marks: dict[int, float], page: int | None, page_end: int | None) -> tuple[bool, float | None]:
    """``(ocr, confidence)`` of a passage on pages ``page``…``page_end``: the lowest confidence of its OCR'd pages."""
    if page is None or not marks:
        return False, None
    found = [marks[n] for n in range(page, (page_end or page) + 1) if n in marks]
    return (True, min(found)) if found else (False, None)
