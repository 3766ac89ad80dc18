"""PDF extraction speed and correctness on the shared UN corpus.

Usage: ``.venv/bin/python bench/extract.py`` — prints one row per PDF (pages, seconds, pages/s, probe
sentences found on their stated page) and writes ``bench/results/extract.json``.
The time is the full ``formats.extract`` path (forked child process with the time limit), best of 3 runs.
"""

from __future__ import annotations

import io
import json
import platform
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pypdf import PdfReader  # noqa: E402

from qa.loaders import formats  # noqa: E402
from qa.settings import Settings  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpora" / "un_human_rights_docs"
RESULTS = REPO / "bench" / "results" / "extract.json"
PROBE = re.compile(r'"([^"]+)"\s*→\s*pages?\s+(\d+(?:\s*,\s*\d+)*)')
RUNS = 3


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def probes_of(pdf: Path) -> list[tuple[str, list[int]]]:
    """Probe sentences from the SOURCE.md beside ``pdf`` (its own "## file" section when there is one)."""
    source = (pdf.parent / "SOURCE.md").read_text(encoding="utf-8")
    sections = re.split(r"\n(?=## )", source)
    section = next((s for s in sections if s.startswith(f"## {pdf.name}")), source)
    return [(squash(text), [int(n) for n in pages.split(",")]) for text, pages in PROBE.findall(section)]


def probe_results(extracted, probes) -> list[dict]:
    """For each probe: found anywhere, and found within the text of each stated page."""
    whole = squash(extracted.text)
    rows = []
    for probe, pages in probes:
        on_page = {}
        for number in pages:
            page_text = " ".join(extracted.text[s.start:s.end] for s in extracted.pages if s.number == number)
            on_page[number] = probe in squash(page_text)
        rows.append({"probe": probe, "found": probe in whole, "pages": on_page, "ok": all(on_page.values())})
    return rows


def measure(pdf: Path) -> dict:
    data = pdf.read_bytes()
    settings = Settings()
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        extracted = formats.extract("pdf", pdf.name, data, settings)
        best = min(best, time.perf_counter() - started)
    page_count = len(PdfReader(io.BytesIO(data)).pages)
    probes = probe_results(extracted, probes_of(pdf))
    return {
        "file": pdf.name,
        "pages": page_count,
        "chars": len(extracted.text),
        "headings": len(extracted.headings),
        "seconds": round(best, 3),
        "pages_per_s": round(page_count / best, 1),
        "probes_ok": sum(p["ok"] for p in probes),
        "probes": probes,
        "symbol": extracted.symbol,
        "title": extracted.title,
    }


def main() -> int:
    if not CORPUS.is_dir():
        print(f"corpus not found: {CORPUS}", file=sys.stderr)
        return 1
    rows = [measure(pdf) for pdf in sorted(CORPUS.glob("*/*.pdf"), key=lambda p: p.name.lower())]
    print(f"{'file':<72} {'pages':>5} {'s':>6} {'pages/s':>8}  probes on page")
    for row in rows:
        print(
            f"{row['file']:<72} {row['pages']:>5} {row['seconds']:>6.2f} {row['pages_per_s']:>8.1f}  "
            f"{row['probes_ok']}/{len(row['probes'])}"
        )
    total_pages = sum(r["pages"] for r in rows)
    total_s = sum(r["seconds"] for r in rows)
    print(f"{'total':<72} {total_pages:>5} {total_s:>6.2f} {total_pages / total_s:>8.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "runs": RUNS, "files": rows},
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0 if all(r["probes_ok"] == len(r["probes"]) for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
