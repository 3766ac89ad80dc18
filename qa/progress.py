"""Progress of an index update, for people: ``update_index(progress=…)`` calls ``progress(stage, done, total)``.

Two displays share the stage names: :class:`ProgressReporter` (one overall bar for the page) and
:func:`progress_printer` (tqdm bars on stderr for the command line and the watcher).
"""

from __future__ import annotations

import sys
import time
from typing import Callable

# stage -> (label, start and end of the stage on one overall 0–1 bar)
STAGES = {
    "scan": ("Looking for documents", 0.00, 0.05),
    "load": ("Reading documents", 0.05, 0.30),
    # A scanned PDF's pages, read by OCR while its document is loaded: the bar stays where "load" left it.
    "ocr": ("Reading scanned pages (OCR)", None, None),
    "embed": ("Embedding passages and sentences", 0.30, 0.95),
    "write": ("Saving the index", 0.95, 1.00),
}
# What a stage's ``done``/``total`` count. The embedding stage counts every text the model encodes: each new
# passage and, with sentence vectors (the default), each of its sentences; the update's summary counts both
# apart ("12 passages embedded with 40 sentences").
UNITS = {"scan": "files", "load": "documents", "embed": "passages and sentences", "ocr": "pages"}


def stage_label(stage: str) -> str:
    return STAGES[stage][0] if stage in STAGES else stage.capitalize()


def stage_text(stage: str, done: int, total: int) -> str:
    """``Embedding passages and sentences: 120 of 480`` (``Saving the index…`` for a stage without a count)."""
    label = stage_label(stage)
    if not total or stage == "write":
        return f"{label}…"
    unit = UNITS.get(stage)
    return f"{label}: {done:,} of {total:,}" if unit is None or unit in label.lower() else f"{label}: {done:,} of {total:,} {unit}"


class ProgressReporter:
    """Turns ``progress(stage, done, total)`` into one overall bar with a label.

    ``sink(fraction, text)`` is called at most every ``interval`` seconds (and on every stage change),
    so that a folder of thousands of files does not flood the page with updates.
    """

    def __init__(self, sink: Callable[[float, str], None], interval: float = 0.1, clock=time.monotonic):
        self.sink = sink
        self.interval = interval
        self.clock = clock
        self._last = -1e9
        self._stage = None
        self._fraction = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        _, lo, hi = STAGES.get(stage, (None, 0.0, 1.0))
        now = self.clock()
        final = total == 0 or done >= total
        if stage == self._stage and not final and now - self._last < self.interval:
            return
        self._stage, self._last = stage, now
        if lo is None:  # a stage inside another one (OCR while loading): the bar keeps its place
            self.sink(self._fraction, stage_text(stage, done, total))
            return
        fraction = lo + (hi - lo) * (done / total if total else 1.0)
        self._fraction = min(max(fraction, 0.0), 1.0)
        text = stage_text(stage, done, total)
        self.sink(self._fraction, text)


def _tqdm_unit(stage: str) -> str:
    unit = UNITS.get(stage, "")
    return "" if not unit or unit in stage_label(stage).lower() else f" {unit}"


def progress_printer(enabled: bool = True, file=None):
    """A ``progress(stage, done, total)`` callback that draws one tqdm bar per stage on ``file`` (stderr);
    None when not ``enabled`` (so that ``update_index`` skips the calls)."""
    if not enabled:
        return None
    from tqdm import tqdm

    file = file or sys.stderr
    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            if total == 0:
                return
            bar = bars[stage] = tqdm(total=total, desc=stage_label(stage), unit=_tqdm_unit(stage),
                                     leave=False, file=file)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            if stage == "ocr":  # one bar per scanned document
                del bars[stage]

    return progress
