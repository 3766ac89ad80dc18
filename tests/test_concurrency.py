"""Concurrency: one updater at a time, no stale locks, readers answer throughout an update.

* a second updater is refused with "another update … (pid N)" (exit code 4), or waits with ``lock_wait``;
* a SIGKILLed lock holder leaves no stale lock (flock is released by the kernel);
* two updater processes started at the same moment: one updates, the other is refused;
* a reader keeps answering from the last committed generation while an update's transaction is
  open, and sees the new generation as soon as it is committed, without reopening;
* a reader thread querying in a loop during a series of updates never fails and every answer comes
  from one committed state, never a mix.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa.errors import IndexLockedError
from qa.indexing import EXIT_LOCKED, UpdateLock
from qa.retrieval import search
from qa.snapshot import GenerationFiles
from qa.store import Store

from conftest import write
from index_helpers import check, make_docs, paragraph, question, run_update, sectioned_doc, state

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("crash_worker.py")

HOLD_LOCK = """
import sys
from qa.indexing import UpdateLock
with UpdateLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _holder(index_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(index_dir)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_updater_is_refused_with_the_holders_pid(settings, docs_dir, fake_embedder, monkeypatch, capsys):
    make_docs(docs_dir, 2, seed=1)
    run_update(settings, fake_embedder)
    holder = _holder(settings.index)
    try:
        assert UpdateLock.holder(settings.index) == holder.pid
        with pytest.raises(IndexLockedError) as info:
            run_update(settings, fake_embedder)
        message = str(info.value)
        assert "another update" in message.lower() and f"pid {holder.pid}" in message
        assert info.value.exit_code == EXIT_LOCKED == 4

        import qa.encoders
        from qa.cli import main

        monkeypatch.setattr(qa.encoders, "embedder_for", lambda s: fake_embedder)
        assert main(["index", "--docs", str(docs_dir), "--index", str(settings.index)]) == 4
        assert f"pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.communicate("\n", timeout=10)
    assert UpdateLock.holder(settings.index) is None
    assert run_update(settings, fake_embedder).unchanged == 2


def test_lock_wait_waits_for_the_other_update(settings, docs_dir, fake_embedder):
    make_docs(docs_dir, 2, seed=1)
    lock = UpdateLock(settings.index).__enter__()  # another holder (a separate open file: flock conflicts)
    timer = threading.Timer(0.6, lock.__exit__, args=(None, None, None))
    timer.start()
    started = time.monotonic()
    report = run_update(settings, fake_embedder, lock_wait=10)
    assert time.monotonic() - started >= 0.5 and report.added == ["doc000.md", "doc001.md"]
    timer.join()


def test_a_killed_holder_leaves_no_stale_lock(settings, docs_dir, fake_embedder):
    make_docs(docs_dir, 2, seed=1)
    holder = _holder(settings.index)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert (settings.index / ".lock").read_text().strip() == str(holder.pid)  # the pid stays, the lock does not
    assert UpdateLock.holder(settings.index) is None
    report = run_update(settings, fake_embedder)  # no waiting, no manual cleanup
    assert report.added == ["doc000.md", "doc001.md"]


def test_two_updaters_started_together(settings, docs_dir, fake_embedder):
    make_docs(docs_dir, 20, seed=2)
    args = [sys.executable, str(WORKER), str(docs_dir), str(settings.index), "--slow", "0.3"]
    workers = [subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        results.append((worker.returncode, json.loads(out.strip().splitlines()[-1])))
    codes = sorted(code for code, _ in results)
    assert codes == [0, 4], results
    refused = next(summary for code, summary in results if code == 4)
    assert "another update" in refused["error"].lower()
    assert state(settings)[0] == 1 and check(settings)["documents"] == 20


def _docs_of(hits) -> set[str]:
    return {h.doc for h in hits}


def test_a_reader_answers_from_the_committed_index_during_an_update(settings, docs_dir, fake_embedder, monkeypatch):
    write(docs_dir, "alpha.md", "# Alpha\n\nThe pangolin hearing was postponed.")
    write(docs_dir, "other.md", "# Other\n\nSomething unrelated.")
    run_update(settings, fake_embedder)
    reader = Store.open(settings.index, settings)
    assert _docs_of(search(reader, fake_embedder, "pangolin hearing", k=1, mode="bm25")) == {"alpha.md"}

    (docs_dir / "alpha.md").unlink()
    write(docs_dir, "beta.md", "# Beta\n\nThe pangolin hearing resumed with the tapir delegation.")
    seen_during = {}
    real_write = GenerationFiles._write_lexical

    def write_and_look(self, index, generation):
        real_write(self, index, generation)
        # The updater's transaction is open (rows inserted, files written, not committed).
        seen_during["generation"] = reader.generation
        with Store.open(settings.index, settings) as fresh:  # a reader that opens now sees the old state too
            seen_during["fresh"] = (fresh.generation, [d.path for d in fresh.documents()])
        seen_during["docs"] = {
            mode: _docs_of(search(reader, fake_embedder, "pangolin hearing tapir", k=5, mode=mode))
            for mode in ("dense", "bm25", "hybrid")
        }

    monkeypatch.setattr(GenerationFiles, "_write_lexical", write_and_look)
    report = run_update(settings, fake_embedder)
    assert seen_during["generation"] == 1 and report.generation == 2
    assert seen_during["fresh"] == (1, ["alpha.md", "other.md"])
    for mode, docs in seen_during["docs"].items():
        assert "beta.md" not in docs and "alpha.md" in docs, mode
    # Committed: the same open reader switches to the new generation on its next query.
    assert reader.generation == 2
    for mode in ("dense", "bm25", "hybrid"):
        docs = _docs_of(search(reader, fake_embedder, "pangolin hearing tapir", k=5, mode=mode))
        assert "beta.md" in docs and "alpha.md" not in docs, mode
    reader.verify(strict=True)
    reader.close()


def test_a_reader_thread_never_sees_a_mix(settings, docs_dir, fake_embedder):
    import random

    rng = random.Random(3)
    make_docs(docs_dir, 25, seed=4)
    run_update(settings, fake_embedder)
    states = {}  # generation → {(doc, chunk text)}

    def record():
        with Store.open(settings.index, settings) as store:
            states[store.generation] = {(c.doc, c.text) for d in store.documents() for c in store.document_chunks(d.path)}

    record()
    stop = threading.Event()
    answers, errors = [], []

    def read():
        reader = Store.open(settings.index, settings)
        try:
            i = 0
            while not stop.is_set():
                mode = ("dense", "bm25", "hybrid")[i % 3]
                marker = f"doc{i % 25}s{i % 3}"
                try:
                    hits = search(reader, fake_embedder, question(marker) + " " + question("moving"), k=5, mode=mode)
                    answers.append({(h.doc, h.text) for h in hits})
                except Exception as exc:  # noqa: BLE001 - any failure is a test failure
                    errors.append(repr(exc))
                i += 1
        finally:
            reader.close()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for step in range(8):
            # Each update deletes one document, adds one, rewrites one paragraph of another.
            victims = sorted(p.name for p in docs_dir.iterdir())
            (docs_dir / rng.choice(victims)).unlink()
            write(docs_dir, f"moving{step}.md", sectioned_doc("Moving", [paragraph(rng, "moving"), paragraph(rng, f"m{step}")]))
            target = rng.choice(sorted(p.name for p in docs_dir.iterdir()))
            write(docs_dir, target, sectioned_doc(target, [paragraph(rng, "moving"), paragraph(rng, f"edit{step}")]))
            run_update(settings, fake_embedder)
            record()
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors[:3]
    assert len(answers) > 20
    for answer in answers:
        assert any(answer <= chunks for chunks in states.values()), "an answer mixes two generations"
