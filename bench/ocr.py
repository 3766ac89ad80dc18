"""OCR of scanned documents: accuracy against the original text layer, seconds per page, time to index.

Usage: ``.venv/bin/python bench/ocr.py [--pages N] [--docs association,A_80] [--index-pages 10] [--no-index]``
(``--docs``: only the PDFs whose name contains one of the strings) — makes degraded scans of the UN PDFs
in ``../shared/corpora/un_human_rights_docs/`` (``scanned_copy``: each page rendered at 200 dpi in grey, turned
0.7°, blurred, with noise, through JPEG quality 60, written back as an image-only PDF; nothing is kept), reads
each with Verbatim's PDF loader and compares the text with the loader's text of the original, per document:

* character accuracy: characters of the original matched in order (difflib), whitespace ignored, / its length;
  curly and straight quotes, the kinds of dash and "…"/"..." count as the same (``typography``);
* word recall: of the original's words (a multiset; case kept, the punctuation around a word and
  ``typography`` not), the share the OCR text has;
* the original is read from the same pages as the scan (a PDF of the first ``--pages``), so that running
  headers are judged on the same pages in both;
* seconds per page (one page at a time, the threads the loader gives onnxruntime);
* the time to index a ``--index-pages``-page scanned reply with ``qa.indexing.update_index`` (target < 2 min).

Prints the figures and writes ``bench/results/ocr.json``. ``write_scanned_folder(src, dst)`` makes scanned
copies of every PDF of a folder (other files are copied as they are), for asking question sets of them.
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pypdfium2  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from bench.corpus import UN_DOCS, save_result  # noqa: E402

SCAN_DPI = 200


def degrade(image: Image.Image, seed: int = 0) -> Image.Image:
    """An office scan of a clean grey page: 0.7° skew, blur, noise, JPEG quality 60."""
    rng = np.random.default_rng(seed)
    image = image.convert("L").rotate(0.7, resample=Image.BICUBIC, expand=True, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 12, (image.height, image.width))
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=60)
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def render(data: bytes, pages=None, dpi: int = SCAN_DPI) -> list[Image.Image]:
    """Pages (1-based numbers; all when None) of a PDF as grey images."""
    pdf = pypdfium2.PdfDocument(data)
    try:
        numbers = pages or range(1, len(pdf) + 1)
        return [pdf[n - 1].render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for n in numbers]
    finally:
        pdf.close()


def image_pdf(images: list[Image.Image], dpi: int = SCAN_DPI) -> bytes:
    """An image-only PDF (no text layer), one page per image."""
    images = [image.copy() for image in images]  # Pillow keeps appended images on the first one's state
    buffer = io.BytesIO()
    # fixed dates: the same scan is the same file, so the index's OCR cache (by content hash) finds it again
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=float(dpi),
                   creationDate=time.gmtime(0), modDate=time.gmtime(0))
    return buffer.getvalue()


def scanned_copy(data: bytes, pages=None, seed: int = 0) -> bytes:
    """A degraded image-only copy of a PDF (of ``pages``, 1-based, or all of them)."""
    return image_pdf([degrade(image, seed + i) for i, image in enumerate(render(data, pages))])


def write_scanned_folder(source: Path, target: Path) -> list[str]:
    """Copy ``source`` to ``target`` with every PDF replaced by its scanned copy (same name); returns the PDFs."""
    scanned = []
    for path in sorted(Path(source).rglob("*")):
        if not path.is_file():
            continue
        out = Path(target) / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".pdf":
            out.write_bytes(scanned_copy(path.read_bytes()))
            scanned.append(str(path.relative_to(source)))
        else:
            shutil.copyfile(path, out)
    return scanned


# ---------------------------------------------------------------------------------------------- measures


_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."})


def typography(text: str) -> str:
    """Curly quotes as straight ones, en and em dashes as hyphens, an ellipsis as three full stops: the model
    reads a short dash in a range ("April–2 May") as a hyphen and a typeset ellipsis as dots, and search
    splits words at all of them, so these are typography, not misread characters."""
    return text.translate(_TYPOGRAPHY)


def char_accuracy(reference: str, ocr: str) -> float:
    """Characters of ``reference`` matched in order in ``ocr`` (whitespace ignored, ``typography`` folded),
    as a share."""
    a, b = re.sub(r"\s+", "", typography(reference)), re.sub(r"\s+", "", typography(ocr))
    if not a:
        return 1.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(a)


def words(text: str) -> list[str]:
    """Whitespace-separated words without the punctuation around them (case kept, ``typography`` folded)."""
    tokens = (token.strip(".,;:!?()[]\"'-*•") for token in typography(text).split())
    return [token for token in tokens if token]


def word_recall(reference: str, ocr: str) -> float:
    """The share of ``reference``'s words (a multiset) that ``ocr`` has: a lost space loses two words."""
    want, have = Counter(words(reference)), Counter(words(ocr))
    total = sum(want.values())
    return sum(min(n, have[w]) for w, n in want.items()) / total if total else 1.0


def page_texts(extracted) -> dict[int, str]:
    """The extracted text of each page."""
    texts: dict[int, list[str]] = {}
    for span in extracted.pages:
        texts.setdefault(span.number, []).append(extracted.text[span.start : span.end])
    return {n: " ".join(parts) for n, parts in texts.items()}


def page_subset(data: bytes, numbers: list[int]) -> bytes:
    """A PDF of ``numbers`` (1-based) of ``data``'s pages, text layer kept."""
    source, target = pypdfium2.PdfDocument(data), pypdfium2.PdfDocument.new()
    try:
        target.import_pages(source, [n - 1 for n in numbers])
        buffer = io.BytesIO()
        target.save(buffer)
        return buffer.getvalue()
    finally:
        target.close()
        source.close()


def measure_document(path: Path, pages: int | None) -> dict:
    """The reference is what the loader reads from the same pages of the original (with ``--pages 4``, a
    4-page PDF): which lines are running headers depends on the pages there are, and only the OCR is measured."""
    from qa.loaders.formats import extract_in_process

    data = path.read_bytes()
    count = len(pypdfium2.PdfDocument(data))
    numbers = list(range(1, min(count, pages or count) + 1))
    original = extract_in_process("pdf", path.name, data if len(numbers) == count else page_subset(data, numbers))
    scan = scanned_copy(data, numbers)
    seconds = []
    started = time.perf_counter()
    read = extract_in_process("pdf", path.name, scan, progress=lambda stage, done, total: seconds.append(time.perf_counter()))
    elapsed = time.perf_counter() - started
    reference_pages, ocr_pages = page_texts(original), page_texts(read)
    reference = " ".join(reference_pages.get(n, "") for n in numbers)
    ocr = " ".join(ocr_pages.get(n, "") for n in numbers)
    confidences = [p.ocr for p in read.pages if p.ocr is not None]
    return {
        "doc": path.name,
        "pages": len(numbers),
        "char_accuracy": round(char_accuracy(reference, ocr), 4),
        "word_recall": round(word_recall(reference, ocr), 4),
        "seconds_per_page": round(elapsed / len(numbers), 2),
        "mean_confidence": round(sum(confidences) / len(confidences), 4) if confidences else None,
        "unread_pages": [n.page for n in read.unread_pages],
    }


def index_time(pages: int) -> dict:
    """Seconds to index a ``pages``-page scanned reply (the Italian note verbale, pages repeated) from scratch."""
    from qa.indexing import update_index
    from qa.settings import load_settings

    data = (UN_DOCS / "a_80_44_report_committee_against_torture" / "A_80_44.en.pdf").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        docs, index = Path(tmp) / "docs", Path(tmp) / "index"
        docs.mkdir()
        (docs / "scanned_reply.pdf").write_bytes(scanned_copy(data, list(range(1, pages + 1))))
        settings = load_settings({}).with_(docs=docs, index=index)
        started = time.perf_counter()
        report = update_index(docs, index, settings)
        first = time.perf_counter() - started
        started = time.perf_counter()
        update_index(docs, index, settings, rebuild=True)
        again = time.perf_counter() - started
    return {"pages": pages, "index_seconds": round(first, 1), "rebuild_seconds_cached": round(again, 1),
            "failed": [f.error for f in report.failed], "chunks": report.chunks_total}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=None, help="OCR at most this many pages of each document")
    parser.add_argument("--index-pages", type=int, default=10)
    parser.add_argument("--no-index", action="store_true", help="skip the indexing time")
    parser.add_argument("--docs", default="", help="only the PDFs whose file name contains one of these "
                                                   "comma-separated strings (case ignored), e.g. association,A_80")
    args = parser.parse_args(argv)
    from qa import ocr

    rows = []
    print(f"OCR engine: {ocr.engine_version()}; {ocr.cores()} cores; scans at {SCAN_DPI} dpi, degraded")
    print(f"{'document':58} {'pages':>5} {'chars':>7} {'words':>7} {'s/page':>7} {'conf':>6}")
    wanted = [w.lower() for w in args.docs.split(",") if w]
    for path in sorted(UN_DOCS.rglob("*.pdf")):
        if wanted and not any(w in path.name.lower() for w in wanted):
            continue
        row = measure_document(path, args.pages)
        rows.append(row)
        print(f"{row['doc'][:58]:58} {row['pages']:>5} {row['char_accuracy']:>7.2%} {row['word_recall']:>7.2%} "
              f"{row['seconds_per_page']:>7.1f} {row['mean_confidence'] or 0:>6.3f}")
    if not rows:
        parser.error(f"no UN PDF's name contains any of {args.docs!r}")
    result = {"engine": ocr.engine_version(), "cores": ocr.cores(), "documents": rows,
              "min_char_accuracy": min(r["char_accuracy"] for r in rows),
              "min_word_recall": min(r["word_recall"] for r in rows),
              "mean_seconds_per_page": round(sum(r["seconds_per_page"] * r["pages"] for r in rows)
                                             / sum(r["pages"] for r in rows), 2)}
    print(f"lowest: chars {result['min_char_accuracy']:.2%}, words {result['min_word_recall']:.2%} "
          f"(targets 98%, 97%); {result['mean_seconds_per_page']} s/page")
    if not args.no_index:
        result["index"] = index_time(args.index_pages)
        print(f"indexing a {args.index_pages}-page scanned reply: {result['index']['index_seconds']} s "
              f"(target < 120 s); again with --rebuild (OCR cached): {result['index']['rebuild_seconds_cached']} s")
    print(f"saved {save_result('ocr', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
