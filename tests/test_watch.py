"""``python -m qa index --watch``: the index follows the folder; bursts are debounced; signals stop it cleanly.

In-process tests run ``qa.watch.watch`` in a thread with the fake embedder and a stop event; the
subprocess tests run the real command (SIGINT) and a watcher whose update is in progress (SIGTERM).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa.errors import IndexMissingError
from qa.indexing import DocsFolderError, UpdateLock
from qa.retrieval import search
from qa.store import Store
from qa.watch import watch

from conftest import write

REPO = Path(__file__).resolve().parents[1]
QUIET = 0.3


class Lines(io.TextIOBase):
    """A thread-safe stdout stand-in that keeps the JSON lines written by the watcher."""

    def __init__(self):
        self._lock = threading.Lock()
        self._buffer = ""
        self.events: list[dict] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            *lines, self._buffer = self._buffer.split("\n")
            self.events.extend(json.loads(line) for line in lines if line.strip())
        return len(text)

    def updates(self) -> list[dict]:
        with self._lock:
            return [e for e in self.events if e["event"] == "update"]


class Watcher:
    def __init__(self, settings, embedder):
        self.settings = settings
        self.out = Lines()
        self.stop = threading.Event()
        self.code = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.embedder = embedder

    def _run(self):
        self.code = watch(self.settings, as_json=True, embedder=self.embedder, stop=self.stop, out=self.out, quiet=QUIET)

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: self.out.updates(), "the initial update")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def wait_for(condition, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except IndexMissingError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _docs(settings) -> dict[str, str]:
    with Store.open(settings.index, settings) as store:
        return {d.path: d.content_hash for d in store.documents()}


def _top(settings, embedder, question, mode="bm25"):
    with Store.open(settings.index, settings) as store:
        hits = search(store, embedder, question, k=1, mode=mode)
    return hits[0] if hits else None


def _top_text(settings, embedder, question) -> str:
    hit = _top(settings, embedder, question)
    return hit.text if hit else ""


def test_the_index_follows_the_folder(settings, docs_dir, fake_embedder):
    write(docs_dir, "start.md", "# Start\n\nThe first document.")
    with Watcher(settings, fake_embedder) as watcher:
        assert watcher.out.events[0]["event"] == "watching"
        assert watcher.out.updates()[0]["added"] == ["start.md"]

        # The heading is not the file's name: a title that could come from the name is re-read on a rename.
        write(docs_dir, "sub/new.md", "# Okapi minutes\n\nThe okapi commission met in Geneva.")
        wait_for(lambda: "sub/new.md" in _docs(settings), "a new file")
        for mode in ("dense", "bm25", "hybrid"):
            assert _top(settings, fake_embedder, "okapi commission", mode).doc == "sub/new.md"

        write(docs_dir, "sub/new.md", "# Okapi minutes\n\nThe okapi commission adjourned to the narwhal session.")
        wait_for(lambda: "narwhal" in _top_text(settings, fake_embedder, "narwhal session"), "a change")

        os.replace(docs_dir / "sub/new.md", docs_dir / "renamed.md")
        wait_for(lambda: "renamed.md" in _docs(settings) and "sub/new.md" not in _docs(settings), "a rename")
        wait_for(  # the log line follows the commit
            lambda: any(u["renamed"] == [{"from": "sub/new.md", "to": "renamed.md"}] for u in watcher.out.updates()),
            "the rename's log line",
        )

        (docs_dir / "renamed.md").unlink()
        wait_for(lambda: set(_docs(settings)) == {"start.md"}, "a deletion")
        assert "okapi" not in _top_text(settings, fake_embedder, "okapi narwhal")

        (docs_dir / "broken.md").write_bytes(b"%PDF-1.4 not text")
        wait_for(lambda: any(u["failed"] for u in watcher.out.updates()), "a failed document")
        with Store.open(settings.index, settings) as store:
            store.verify(strict=True)
    assert watcher.code == 0
    assert watcher.out.events[-1] == {**watcher.out.events[-1], "event": "stopped", "reason": "stop"}
    assert UpdateLock.holder(settings.index) is None


def test_bursts_are_debounced_and_ignored_files_trigger_nothing(settings, docs_dir, fake_embedder):
    with Watcher(settings, fake_embedder) as watcher:
        for i in range(15):  # a burst: one update (two at most, if it straddles a quiet period)
            write(docs_dir, f"burst{i:02d}.md", f"# Burst {i}\n\nDocument number {i} of the burst.")
            time.sleep(0.01)
        wait_for(lambda: sum(len(u["added"]) for u in watcher.out.updates()) == 15, "the burst")
        time.sleep(QUIET * 3)
        burst_updates = len(watcher.out.updates()) - 1
        assert 1 <= burst_updates <= 2

        for name in (".hidden.md", "notes.md.swp", "draft.tmp", "backup.md~", "#auto.md#", "image.png", ".git/x.md"):
            path = docs_dir / name
            path.parent.mkdir(exist_ok=True)
            path.write_text("ignored")
        time.sleep(QUIET * 4)
        assert len(watcher.out.updates()) - 1 == burst_updates  # nothing ran for ignored names
    assert len(_docs(settings)) == 15


def test_an_index_inside_the_docs_folder_is_refused(tmp_path, fake_embedder):
    """It would be read as documents (``qa.indexing.check_folders``): the watcher does not start."""
    from qa.settings import load_settings

    docs = tmp_path / "docs"
    settings = load_settings({}).with_(docs=docs, index=docs / "the-index")
    write(docs, "a.md", "# A\n\nText.")
    out = Lines()
    with pytest.raises(DocsFolderError, match="inside the documents folder"):
        watch(settings, as_json=True, embedder=fake_embedder, stop=threading.Event(), out=out)
    assert not out.events and not (docs / "the-index").exists()


def _env(settings) -> dict:
    env = dict(os.environ, QA_DOCS=str(settings.docs), QA_INDEX=str(settings.index), PYTHONPATH=str(REPO))
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _read_event(process, event: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        record = json.loads(line)
        if record["event"] == event:
            return record
    raise AssertionError(f"no {event} event")


def test_the_cli_watcher_stops_cleanly_on_sigint(settings, docs_dir):
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "index", "--watch", "--json"], cwd=REPO, env=_env(settings),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _read_event(process, "watching")
        assert _read_event(process, "update")["generation"] == 1
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["event"] == "stopped"
    assert UpdateLock.holder(settings.index) is None


SLOW_WATCHER = """
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
from conftest import FakeEmbedder
from qa.settings import load_settings
from qa.watch import watch

class Slow(FakeEmbedder):
    def encode(self, texts, batch_size=None, show_progress=False):
        print('{"event": "encoding"}', flush=True)
        time.sleep(30)
        return super().encode(texts)

sys.exit(watch(load_settings(), as_json=True, embedder=Slow()))
"""


def test_sigterm_during_an_update_abandons_it_and_exits_0(settings, docs_dir, fake_embedder):
    from index_helpers import run_update, state

    write(docs_dir, "a.md", "# A\n\nIndexed before.")
    run_update(settings, fake_embedder)
    before = state(settings)
    write(docs_dir, "b.md", "# B\n\nWill never be indexed: the watcher is stopped while it is encoded.")
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_WATCHER, str(REPO)], cwd=REPO, env=_env(settings),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _read_event(process, "encoding")
        assert UpdateLock.holder(settings.index) == process.pid
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {**json.loads(out.strip().splitlines()[-1]), "event": "stopped", "reason": "SIGTERM"}
    assert UpdateLock.holder(settings.index) is None
    assert state(settings) == before  # the abandoned update changed nothing
