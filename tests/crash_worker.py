"""A process for tests/test_crash.py to kill: one index update with the fake embedder.

    python tests/crash_worker.py DOCS INDEX [--rebuild] [--slow SECONDS]

Prints ``ready`` once imported, waits for a line on stdin, runs ``update_index`` and prints the
report as JSON (or ``{"error", "exit_code"}`` for a ``QAError``, exiting with its code). ``--slow`` sleeps that long around each step that writes (the FAISS file, the BM25
folder, right after the commit) so that random kill times land in those windows more often.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from conftest import FakeEmbedder  # noqa: E402

from qa import vectors  # noqa: E402
from qa.errors import QAError  # noqa: E402
from qa.indexing import update_index  # noqa: E402
from qa.settings import load_settings  # noqa: E402
from qa.snapshot import GenerationFiles  # noqa: E402


def _slowed(function, seconds):
    def wrapper(*args, **kwargs):
        time.sleep(seconds)
        result = function(*args, **kwargs)
        time.sleep(seconds)
        return result

    return wrapper


def main(argv: list[str]) -> int:
    docs, index = Path(argv[0]), Path(argv[1])
    rebuild = "--rebuild" in argv
    slow = float(argv[argv.index("--slow") + 1]) if "--slow" in argv else 0.0
    after_commit = None
    if slow:
        vectors.save = _slowed(vectors.save, slow)
        GenerationFiles._write_lexical = _slowed(GenerationFiles._write_lexical, slow)
        after_commit = lambda: time.sleep(slow)  # noqa: E731
    settings = load_settings({}).with_(docs=docs, index=index, second_encoder="")  # the fake embedder only
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        report = update_index(docs, index, settings, rebuild=rebuild, embedder=FakeEmbedder(), after_commit=after_commit)
    except QAError as exc:
        print(json.dumps({"error": str(exc), "exit_code": exc.exit_code}), flush=True)
        return exc.exit_code
    print(json.dumps(report.to_json()), flush=True)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
