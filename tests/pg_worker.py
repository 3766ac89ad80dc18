"""A process for tests/test_pg.py: an indexer or an app server on a PostgreSQL store, with the fake embedder.

    python tests/pg_worker.py index URL DOCS CACHE [--slow SECONDS] [--worker-only]
    python tests/pg_worker.py serve URL GENERATION QUESTION

``index`` prints ``ready``, waits for a line on stdin, runs one update and prints the report as JSON;
``--slow`` sleeps that long in every batch it encodes, after printing ``batch``, so that a kill lands
mid-batch. ``serve`` opens the store as an app server, waits until it reaches ``GENERATION`` and prints the
best passage's document for ``QUESTION`` with the generation it was answered from, as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from conftest import FakeEmbedder  # noqa: E402

from qa.settings import load_settings  # noqa: E402


class SlowEmbedder(FakeEmbedder):
    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def encode(self, texts, batch_size=None, show_progress=False):
        print("batch", flush=True)  # a test can kill the process during the sleep that follows
        time.sleep(self.seconds)
        return super().encode(texts, batch_size, show_progress)


def index(argv: list[str]) -> int:
    from qa.pgindex import update_shared

    url, docs, cache = argv[0], Path(argv[1]), Path(argv[2])
    slow = float(argv[argv.index("--slow") + 1]) if "--slow" in argv else 0.0
    settings = load_settings({}).with_(docs=docs, index=cache, store=url, second_encoder="")  # the fake embedder only
    embedder = SlowEmbedder(slow) if slow else FakeEmbedder()
    print("ready", flush=True)
    sys.stdin.readline()
    report = update_shared(docs, settings, embedder=embedder, plan="--worker-only" not in argv)
    print(json.dumps(report.to_json()), flush=True)
    return 0


def serve(argv: list[str]) -> int:
    from qa.retrieval import search
    from qa.stores import open_store

    url, wanted, question = argv[0], int(argv[1]), argv[2]
    settings = load_settings({}).with_(store=url, second_encoder="")
    embedder = FakeEmbedder()
    deadline = time.monotonic() + 60
    with open_store(settings) as store:
        print("ready", flush=True)
        while True:
            with store.snapshot() as snap:
                if snap.number >= wanted:
                    hits = search(store, embedder, question, k=1)
                    print(json.dumps({"generation": snap.number, "doc": hits[0].doc if hits else None,
                                      "catch_ups": store.catch_ups, "full_loads": store.full_loads}), flush=True)
                    return 0
            if time.monotonic() > deadline:
                print(json.dumps({"error": "timeout"}), flush=True)
                return 1
            time.sleep(0.05)


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    sys.exit(index(rest) if command == "index" else serve(rest))
